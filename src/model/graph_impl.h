/*
 * graph_impl.h: the layer graph's passes, written once and compiled per dtype (graph_f64.c,
 * graph_f32.c). Include after defining T (float or double) and SFX(name).
 *
 *   forward   val[out] = layer(val[in]) node by node; an add node (a residual block's end)
 *             val[out] = val[in] + val[skip].
 *   backward  from grad[last] = dL/df, nodes in reverse: a layer's VJP writes its parameters'
 *             gradient and adds into grad[in] (overwrites it when nothing wrote it yet); an add
 *             node passes grad[out] to both grad[in] and grad[skip]. The input's gradient
 *             (buffer 0, the data) is never formed.
 * and the R-operator (Pearlmutter 1994) for Jacobian-vector and exact Hessian-vector products:
 *   R-forward   tan[out] = R{val[out]} = the node's JVP along (v's slice, tan[in]); tan of the
 *               input (buffer 0) is zero (the data do not move); an add node sums its tangents.
 *   loss        R{grad[last]} = (d^2 L/df^2) tan[last] (the caller: mlp_f64.c, mlp_f32.c)
 *   R-backward  nodes in reverse: a layer's rbackward writes (Hv) on its parameters and adds
 *               R{grad[in]} into rgrad[in]; an add node passes rgrad[out] to both inputs.
 * Every second-order term belongs to a layer (layer.h's rbackward): the graph only routes.
 */
#include "model/put_impl.h"

#include <string.h>

static const T *SFX(graph_forward)(const lm_mlp *m, lm_mlp_ws *ws, const T *theta, const T *x,
                                   size_t n) {
    const lm__graph *g = m->graph;
    ws->val[0] = (void *) (uintptr_t) x;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const lm__node *nd = &g->node[i];
        const T *in = ws->val[nd->in_buf];
        T *out = ws->val[nd->out_buf];
        if (!nd->ops) {
            const T *skip = ws->val[nd->skip_buf];
            for (size_t k = 0; k < n * nd->out_size; k++)
                out[k] = in[k] + skip[k];
        } else {
            nd->ops->SFX(forward)(nd, theta + nd->p_off, in, out, n, ws->scr);
        }
    }
    ws->n = n;
    return ws->val[g->n_buf - 1];
}

/* After graph_forward and with ws->df (= grad[last]) holding dL/df: grad (overwritten). */
static void SFX(graph_backward)(const lm_mlp *m, lm_mlp_ws *ws, const T *theta, T *grad) {
    const lm__graph *g = m->graph;
    const size_t n = ws->n;
    memset(ws->has, 0, g->n_buf);
    ws->has[g->n_buf - 1] = 1;
    for (size_t i = g->n_nodes; i-- > 0;) {
        const lm__node *nd = &g->node[i];
        const T *gy = ws->grad[nd->out_buf];
        const size_t b = nd->in_buf;
        if (!nd->ops) {
            if (b)
                SFX(put)(ws->grad[b], gy, n * nd->out_size, ws->has[b]);
            if (nd->skip_buf)
                SFX(put)(ws->grad[nd->skip_buf], gy, n * nd->out_size, ws->has[nd->skip_buf]);
            ws->has[b] = ws->has[nd->skip_buf] = 1;
            continue;
        }
        nd->ops->SFX(backward)(nd, theta + nd->p_off, ws->val[b], ws->val[nd->out_buf], gy,
                               b ? (T *) ws->grad[b] : NULL, ws->has[b], grad + nd->p_off, n,
                               ws->scr);
        ws->has[b] = 1;
    }
}

/* After graph_forward: tan[b] for every buffer b >= 1 along v (NULL: no parameter tangent). */
static void SFX(graph_rforward)(const lm_mlp *m, lm_mlp_ws *ws, const T *theta, const T *v) {
    const lm__graph *g = m->graph;
    const size_t n = ws->n;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const lm__node *nd = &g->node[i];
        const size_t b = nd->in_buf;
        T *dy = ws->tan[nd->out_buf];
        const T *dx = b ? ws->tan[b] : NULL;
        if (!nd->ops) {
            const T *ds = nd->skip_buf ? ws->tan[nd->skip_buf] : NULL;
            const size_t cnt = n * nd->out_size;
            for (size_t k = 0; k < cnt; k++)
                dy[k] = (dx ? dx[k] : (T) 0) + (ds ? ds[k] : (T) 0);
            continue;
        }
        nd->ops->SFX(jvp)(nd, theta + nd->p_off, v ? v + nd->p_off : NULL, ws->val[b], dx,
                          ws->val[nd->out_buf], dy, n, ws->scr);
    }
}

/* After graph_backward and graph_rforward along v, with rgrad[last] holding the loss's R-term:
 * hv (overwritten) = H v. */
static void SFX(graph_rbackward)(const lm_mlp *m, lm_mlp_ws *ws, const T *theta, const T *v,
                                 T *hv) {
    const lm__graph *g = m->graph;
    const size_t n = ws->n;
    memset(ws->has, 0, g->n_buf);
    ws->has[g->n_buf - 1] = 1; /* rgrad[last] = the loss's R-term, written by the caller */
    for (size_t i = g->n_nodes; i-- > 0;) {
        const lm__node *nd = &g->node[i];
        const size_t b = nd->in_buf, o = nd->out_buf;
        const T *rgy = ws->rgrad[o];
        if (!nd->ops) {
            if (b)
                SFX(put)(ws->rgrad[b], rgy, n * nd->out_size, ws->has[b]);
            if (nd->skip_buf)
                SFX(put)(ws->rgrad[nd->skip_buf], rgy, n * nd->out_size, ws->has[nd->skip_buf]);
            ws->has[b] = ws->has[nd->skip_buf] = 1;
            continue;
        }
        nd->ops->SFX(rbackward)(nd, theta + nd->p_off, v + nd->p_off, ws->val[b],
                                b ? (const T *) ws->tan[b] : NULL, ws->val[o], ws->tan[o],
                                ws->grad[o], rgy, b ? (T *) ws->rgrad[b] : NULL, ws->has[b],
                                hv + nd->p_off, n, ws->scr);
        ws->has[b] = 1;
    }
}
