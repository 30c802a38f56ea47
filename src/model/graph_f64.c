/*
 * graph_f64.c: the layer graph's float64 passes: forward and backward (graph_impl.h), and the
 * R-operator (Pearlmutter 1994) for Jacobian-vector and exact Hessian-vector products.
 *
 *   R-forward   tan[out] = R{val[out]} = the node's JVP along (v's slice, tan[in]); tan of the
 *               input (buffer 0) is zero (the data do not move); an add node sums its tangents.
 *   loss        R{grad[last]} = (d^2 L/df^2) tan[last]
 *   R-backward  nodes in reverse: a layer's rbackward writes (Hv) on its parameters and adds
 *               R{grad[in]} into rgrad[in]; an add node passes rgrad[out] to both inputs.
 * Every second-order term belongs to a layer (layer.h's rbackward): the graph only routes.
 */
#include "model/graph.h"
#include "model/internal.h"

#include <stdint.h>

#define T         double
#define SFX(name) name##_f64
#include "model/graph_impl.h"

const double *lm__graph_forward_f64(const lm_mlp *m, lm_mlp_ws *ws, const double *theta,
                                    const double *x, size_t n) {
    return graph_forward_f64(m, ws, theta, x, n);
}

void lm__graph_backward_f64(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, double *grad) {
    graph_backward_f64(m, ws, theta, grad);
}

void lm__graph_rforward_f64(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *v) {
    const lm__graph *g = m->graph;
    const size_t n = ws->n;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const lm__node *nd = &g->node[i];
        const size_t b = nd->in_buf;
        double *dy = ws->tan[nd->out_buf];
        const double *dx = b ? ws->tan[b] : NULL;
        if (!nd->ops) {
            const double *ds = nd->skip_buf ? ws->tan[nd->skip_buf] : NULL;
            const size_t cnt = n * nd->out_size;
            for (size_t k = 0; k < cnt; k++)
                dy[k] = (dx ? dx[k] : 0.0) + (ds ? ds[k] : 0.0);
            continue;
        }
        nd->ops->jvp_f64(nd, theta + nd->p_off, v ? v + nd->p_off : NULL, ws->val[b], dx,
                         ws->val[nd->out_buf], dy, n, ws->scr);
    }
}

void lm__graph_rbackward_f64(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *v,
                             double *hv) {
    const lm__graph *g = m->graph;
    const size_t n = ws->n;
    memset(ws->has, 0, g->n_buf);
    ws->has[g->n_buf - 1] = 1; /* rgrad[last] = the loss's R-term, written by the caller */
    for (size_t i = g->n_nodes; i-- > 0;) {
        const lm__node *nd = &g->node[i];
        const size_t b = nd->in_buf, o = nd->out_buf;
        const double *rgy = ws->rgrad[o];
        if (!nd->ops) {
            if (b)
                put_f64(ws->rgrad[b], rgy, n * nd->out_size, ws->has[b]);
            if (nd->skip_buf)
                put_f64(ws->rgrad[nd->skip_buf], rgy, n * nd->out_size, ws->has[nd->skip_buf]);
            ws->has[b] = ws->has[nd->skip_buf] = 1;
            continue;
        }
        nd->ops->rbackward_f64(nd, theta + nd->p_off, v + nd->p_off, ws->val[b],
                               b ? ws->tan[b] : NULL, ws->val[o], ws->tan[o], ws->grad[o], rgy,
                               b ? ws->rgrad[b] : NULL, ws->has[b], hv + nd->p_off, n, ws->scr);
        ws->has[b] = 1;
    }
}
