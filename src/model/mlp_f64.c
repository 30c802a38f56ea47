/*
 * mlp_f64.c: the float64 kernels: forward, gradient, JVP, VJP and the exact Hessian-vector
 * product by the R-operator (Pearlmutter 1994).
 *
 * The R-operator's derivation is beside r_forward and r_backward in mlp_impl.h (one source for
 * both dtypes; mlp_f32.c instantiates it in float32). With the forward and backward state cached
 * by hvp_prepare, one product costs the R-operator's GEMMs:
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
    LM_TRY(lm__graph_check_tokens(m, x, n, LM_F64, err));
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
    LM_TRY(lm__graph_check_tokens(m, x, n, LM_F64, err));
    ws->prepared = 0;
    const double *out = fwd(m, ws, theta, x, n);
    double v = 0.0;
    LM_TRY(lm_loss_eval(loss, out, y, n * m->positions, m->d_out / m->positions, &v,
                        grad ? ws->df : NULL, err));
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
    LM_TRY(lm__graph_check_tokens(m, x, n, LM_F64, err));
    ws->prepared = 0;
    fwd(m, ws, theta, x, n);
    memcpy(ws->df, u, n * m->d_out * sizeof *u);
    if (m->graph)
        lm__graph_backward_f64(m, ws, theta, g);
    else
        backward_f64(m, ws, theta, x, g, 0);
    return LM_OK;
}

lm_status lm_mlp_jvp(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *x, size_t n,
                     const double *v, double *df, lm_err *err) {
    LM_TRY(check(m, ws, n, err));
    LM_TRY(lm__graph_check_tokens(m, x, n, LM_F64, err));
    ws->prepared = 0;
    fwd(m, ws, theta, x, n);
    if (m->graph) {
        lm__graph_rforward_f64(m, ws, theta, v);
        memcpy(df, ws->tan[ws->n_buf - 1], n * m->d_out * sizeof *df);
        return LM_OK;
    }
    r_forward_f64(m, ws, theta, x, v);
    memcpy(df, ws->rz[m->n_layers - 1], n * m->d_out * sizeof *df);
    return LM_OK;
}

lm_status lm_mlp_hvp_prepare(const lm_mlp *m, lm_mlp_ws *ws, lm_loss loss, const double *theta,
                             const double *x, const double *y, size_t n, double *loss_out,
                             double *grad, lm_err *err) {
    LM_TRY(check(m, ws, n, err));
    LM_TRY(lm__graph_check_tokens(m, x, n, LM_F64, err));
    ws->prepared = 0;
    const double *out = fwd(m, ws, theta, x, n);
    double v = 0.0;
    LM_TRY(lm_loss_eval(loss, out, y, n * m->positions, m->d_out / m->positions, &v, ws->df, err));
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
        lm_loss_hess_apply(ws->loss, ws->val[last], ws->y, ws->n * m->positions,
                           m->d_out / m->positions, ws->tan[last], ws->rgrad[last]);
        lm__graph_rbackward_f64(m, ws, ws->theta, v, hv);
        return LM_OK;
    }
    const size_t L = m->n_layers;
    r_forward_f64(m, ws, ws->theta, ws->x, v);
    lm_loss_hess_apply(ws->loss, ws->z[L - 1], ws->y, ws->n, m->d_out, ws->rz[L - 1], ws->rdf);
    r_backward_f64(m, ws, ws->theta, ws->x, v, hv);
    return LM_OK;
}
