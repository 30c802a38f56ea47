/*
 * mlp_f64.c: the float64 kernels: forward, gradient, JVP, VJP and the exact Hessian-vector
 * product by the R-operator (Pearlmutter 1994).
 *
 * R-operator derivation (R{.} = d/dr .(theta + r v) at r = 0, v = (VW_l, Vb_l)):
 *   R-forward   Rz_l = wm_l (Ra_{l-1} W_l^T + a_{l-1} VW_l^T) + bm_l 1 Vb_l^T,  Ra_0 = 0 (x fixed)
 *               Ra_l = phi'(z_l) (.) Rz_l,   Rf = Rz_L
 *   loss        Rdelta_L = (d^2 L/df^2) Rf
 *   R-backward  (Hv)_W_l = wm_l (Rdelta_l^T a_{l-1} + delta_l^T Ra_{l-1})
 *               (Hv)_b_l = bm_l sum_i Rdelta_l[i, :]
 *               Rg_{l-1} = wm_l (Rdelta_l W_l + delta_l VW_l)
 *               Rdelta_{l-1} = Rg_{l-1} (.) phi'(z_{l-1}) + g_{l-1} (.) phi''(z_{l-1}) (.) Rz_{l-1}
 * With the forward and backward state cached by hvp_prepare, one product costs the GEMMs above:
 * about 1.5x a gradient's GEMM work for a 784-512-512-10 network (the first layer's
 * input-side products vanish because Ra_0 = 0).
 */
#include "model/act_impl.h"
#include "model/graph.h"
#include "model/internal.h"

#define T         double
#define SFX(name) name##_f64
#define GEMM      cblas_dgemm
#define VTANH     lm__tanh_f64
#include "model/mlp_impl.h"

/* The forward pass of either kind of model. */
static const double *fwd(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *x,
                         size_t n) {
    return m->graph ? lm__graph_forward_f64(m, ws, theta, x, n) : forward_f64(m, ws, theta, x, n);
}

static lm_status check(const lm_mlp *m, lm_mlp_ws *ws, size_t n, lm_err *err) {
    if (!ws || ws->m != m || ws->dt != LM_F64)
        LM_FAIL(err, LM_EINVAL, "workspace was not made for this model in float64");
    if (n == 0 || n > ws->n_max)
        LM_FAIL(err, LM_ESHAPE, "batch of %zu examples; the workspace holds 1 to %zu", n,
                ws->n_max);
    return LM_OK;
}

lm_status lm_mlp_forward(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *x,
                         size_t n, double *f, lm_err *err) {
    LM_TRY(check(m, ws, n, err));
    ws->prepared = 0;
    const double *out = fwd(m, ws, theta, x, n);
    if (f)
        memcpy(f, out, n * m->d_out * sizeof *f);
    return LM_OK;
}

const double *lm_mlp_ws_activation(const lm_mlp_ws *ws, size_t l) {
    if (!ws || ws->dt != LM_F64 || l < 1 || l > ws->m->n_repr)
        return NULL;
    if (ws->m->graph)
        return (const double *) ws->val[ws->m->graph->repr_buf[l]];
    return (const double *) ws->a[l - 1];
}

size_t lm_mlp_layer_width(const lm_mlp *m, size_t l) {
    if (l > m->n_repr)
        return 0;
    if (m->graph)
        return m->graph->buf_size[m->graph->repr_buf[l]];
    return l == 0 ? m->d_in : m->layer[l - 1].d_out;
}

lm_status lm_mlp_features_layers(const lm_mlp *m, lm_mlp_ws *ws, const double *theta,
                                 const double *x, size_t n, double *const *h, lm_err *err) {
    if (n == 0)
        LM_FAIL(err, LM_ESHAPE, "features of 0 inputs");
    if (h[0])
        memcpy(h[0], x, n * m->d_in * sizeof *x);
    int hidden = 0;
    for (size_t l = 1; l <= m->n_repr; l++)
        hidden |= h[l] != NULL;
    if (!hidden)
        return LM_OK;
    LM_TRY(check(m, ws, 1, err));
    for (size_t lo = 0; lo < n; lo += ws->n_max) {
        const size_t cnt = n - lo < ws->n_max ? n - lo : ws->n_max;
        LM_TRY(lm_mlp_forward(m, ws, theta, x + lo * m->d_in, cnt, NULL, err));
        for (size_t l = 1; l <= m->n_repr; l++)
            if (h[l]) {
                const size_t w = lm_mlp_layer_width(m, l);
                memcpy(h[l] + lo * w, lm_mlp_ws_activation(ws, l), cnt * w * sizeof *h[l]);
            }
    }
    return LM_OK;
}

lm_status lm_mlp_features(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *x,
                          size_t n, size_t layer, double *h, lm_err *err) {
    if (layer > m->n_repr)
        LM_FAIL(err, LM_EINVAL, "layer %zu: the network has layers 0 (inputs) to %zu (outputs)",
                layer, m->n_repr);
    double *hs[LM_MAX_LAYERS + 1] = {0};
    hs[layer] = h;
    return lm_mlp_features_layers(m, ws, theta, x, n, hs, err);
}

lm_status lm_mlp_loss_grad(const lm_mlp *m, lm_mlp_ws *ws, lm_loss loss, const double *theta,
                           const double *x, const double *y, size_t n, double *loss_out,
                           double *grad, double *f, lm_err *err) {
    LM_TRY(check(m, ws, n, err));
    ws->prepared = 0;
    const double *out = fwd(m, ws, theta, x, n);
    double v = 0.0;
    LM_TRY(lm_loss_eval(loss, out, y, n, m->d_out, &v, grad ? ws->df : NULL, err));
    if (loss_out)
        *loss_out = v;
    if (f)
        memcpy(f, out, n * m->d_out * sizeof *f);
    if (grad && m->graph)
        lm__graph_backward_f64(m, ws, theta, grad);
    else if (grad)
        backward_f64(m, ws, theta, x, grad, 0);
    return LM_OK;
}

lm_status lm_mlp_vjp(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *x, size_t n,
                     const double *u, double *g, lm_err *err) {
    LM_TRY(check(m, ws, n, err));
    ws->prepared = 0;
    fwd(m, ws, theta, x, n);
    memcpy(ws->df, u, n * m->d_out * sizeof *u);
    if (m->graph)
        lm__graph_backward_f64(m, ws, theta, g);
    else
        backward_f64(m, ws, theta, x, g, 0);
    return LM_OK;
}

/* R-forward pass along v after a forward pass at theta: fills rz[l], ra[l]. */
static void r_forward(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *x,
                      const double *v) {
    const size_t L = m->n_layers, n = ws->n;
    for (size_t l = 0; l < L; l++) {
        const lm_layer_info *li = &m->layer[l];
        const int last = l + 1 == L;
        const double wm = li->w_scale, bm = li->b_scale;
        double *rz = ws->rz[l];
        const double *prev = l == 0 ? x : ws->a[l - 1];
        dense_forward_f64(v + li->w_off, m->spec.bias ? v + li->b_off : NULL, wm, bm, prev, rz, n,
                          li->d_in, li->d_out, 0);
        if (l > 0)
            dense_forward_f64(theta + li->w_off, NULL, wm, 0.0, ws->ra[l - 1], rz, n, li->d_in,
                              li->d_out, 1);
        if (!last && ws->ra[l] != rz)
            act_rforward_f64(m->spec.act, ws->z[l], ws->a[l], rz, ws->ra[l], n * li->d_out);
    }
}

lm_status lm_mlp_jvp(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *x, size_t n,
                     const double *v, double *df, lm_err *err) {
    LM_TRY(check(m, ws, n, err));
    ws->prepared = 0;
    fwd(m, ws, theta, x, n);
    if (m->graph) {
        lm__graph_rforward_f64(m, ws, theta, v);
        memcpy(df, ws->tan[ws->n_buf - 1], n * m->d_out * sizeof *df);
        return LM_OK;
    }
    r_forward(m, ws, theta, x, v);
    memcpy(df, ws->rz[m->n_layers - 1], n * m->d_out * sizeof *df);
    return LM_OK;
}

lm_status lm_mlp_hvp_prepare(const lm_mlp *m, lm_mlp_ws *ws, lm_loss loss, const double *theta,
                             const double *x, const double *y, size_t n, double *loss_out,
                             double *grad, lm_err *err) {
    LM_TRY(check(m, ws, n, err));
    ws->prepared = 0;
    const double *out = fwd(m, ws, theta, x, n);
    double v = 0.0;
    LM_TRY(lm_loss_eval(loss, out, y, n, m->d_out, &v, ws->df, err));
    /* the backward pass keeps g_l for the R-backward; the gradient goes to the caller, or to
     * the workspace's scratch when the caller does not want it */
    if (m->graph)
        lm__graph_backward_f64(m, ws, theta, grad ? grad : ws->gscratch);
    else
        backward_f64(m, ws, theta, x, grad ? grad : ws->gscratch, 1);
    if (loss_out)
        *loss_out = v;
    ws->loss = loss;
    ws->theta = theta;
    ws->x = x;
    ws->y = y;
    ws->prepared = 1;
    return LM_OK;
}

lm_status lm_mlp_hvp_apply(const lm_mlp *m, lm_mlp_ws *ws, const double *v, double *hv,
                           lm_err *err) {
    if (!ws || ws->m != m || ws->dt != LM_F64 || !ws->prepared)
        LM_FAIL(err, LM_EINVAL, "lm_mlp_hvp_apply: call lm_mlp_hvp_prepare first");
    if (m->graph) {
        const size_t last = ws->n_buf - 1;
        lm__graph_rforward_f64(m, ws, ws->theta, v);
        lm_loss_hess_apply(ws->loss, ws->val[last], ws->y, ws->n, m->d_out, ws->tan[last],
                           ws->rgrad[last]);
        lm__graph_rbackward_f64(m, ws, ws->theta, v, hv);
        return LM_OK;
    }
    const size_t L = m->n_layers, n = ws->n;
    const double *theta = ws->theta, *x = ws->x;
    r_forward(m, ws, theta, x, v);
    lm_loss_hess_apply(ws->loss, ws->z[L - 1], ws->y, n, m->d_out, ws->rz[L - 1], ws->rdf);
    const double *delta = ws->df, *rdelta = ws->rdf;
    for (size_t l = L; l-- > 0;) {
        const lm_layer_info *li = &m->layer[l];
        const double wm = li->w_scale, bm = li->b_scale;
        const double *prev = l == 0 ? x : ws->a[l - 1];
        dense_grad_params_f64(rdelta, prev, wm, bm, hv + li->w_off,
                              m->spec.bias ? hv + li->b_off : NULL, n, li->d_in, li->d_out, 0,
                              ws->colsum);
        if (l > 0)
            dense_grad_params_f64(delta, ws->ra[l - 1], wm, 0.0, hv + li->w_off, NULL, n, li->d_in,
                                  li->d_out, 1, NULL);
        if (l == 0)
            break;
        double *rg = ws->rg;
        dense_grad_input_f64(rdelta, theta + li->w_off, wm, rg, n, li->d_in, li->d_out, 0);
        dense_grad_input_f64(delta, v + li->w_off, wm, rg, n, li->d_in, li->d_out, 1);
        double *rd = ws->rdelta[l - 1];
        act_rbackward_f64(m->spec.act, ws->z[l - 1], ws->a[l - 1], ws->g[l - 1], rg, ws->rz[l - 1],
                          rd, n * li->d_in);
        delta = ws->delta[l - 1];
        rdelta = rd;
    }
    return LM_OK;
}
