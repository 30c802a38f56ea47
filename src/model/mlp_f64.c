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
#include "model/internal.h"

#define T         double
#define SFX(name) name##_f64
#define GEMM      cblas_dgemm
#define VTANH     lm__tanh_f64
#include "model/mlp_impl.h"

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
    const double *out = forward_f64(m, ws, theta, x, n);
    if (f)
        memcpy(f, out, n * m->d_out * sizeof *f);
    return LM_OK;
}

const double *lm_mlp_ws_activation(const lm_mlp_ws *ws, size_t l) {
    if (!ws || ws->dt != LM_F64 || l < 1 || l > ws->m->n_layers)
        return NULL;
    return (const double *) ws->a[l - 1];
}

size_t lm_mlp_layer_width(const lm_mlp *m, size_t l) {
    return l == 0 ? m->d_in : l <= m->n_layers ? m->layer[l - 1].d_out : 0;
}

lm_status lm_mlp_features_layers(const lm_mlp *m, lm_mlp_ws *ws, const double *theta,
                                 const double *x, size_t n, double *const *h, lm_err *err) {
    if (n == 0)
        LM_FAIL(err, LM_ESHAPE, "features of 0 inputs");
    if (h[0])
        memcpy(h[0], x, n * m->d_in * sizeof *x);
    int hidden = 0;
    for (size_t l = 1; l <= m->n_layers; l++)
        hidden |= h[l] != NULL;
    if (!hidden)
        return LM_OK;
    LM_TRY(check(m, ws, 1, err));
    for (size_t lo = 0; lo < n; lo += ws->n_max) {
        const size_t cnt = n - lo < ws->n_max ? n - lo : ws->n_max;
        LM_TRY(lm_mlp_forward(m, ws, theta, x + lo * m->d_in, cnt, NULL, err));
        for (size_t l = 1; l <= m->n_layers; l++)
            if (h[l]) {
                const size_t w = m->layer[l - 1].d_out;
                memcpy(h[l] + lo * w, ws->a[l - 1], cnt * w * sizeof *h[l]);
            }
    }
    return LM_OK;
}

lm_status lm_mlp_features(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *x,
                          size_t n, size_t layer, double *h, lm_err *err) {
    if (layer > m->n_layers)
        LM_FAIL(err, LM_EINVAL, "layer %zu: the network has layers 0 (inputs) to %zu (outputs)",
                layer, m->n_layers);
    double *hs[LM_MAX_LAYERS + 1] = {0};
    hs[layer] = h;
    return lm_mlp_features_layers(m, ws, theta, x, n, hs, err);
}

lm_status lm_mlp_loss_grad(const lm_mlp *m, lm_mlp_ws *ws, lm_loss loss, const double *theta,
                           const double *x, const double *y, size_t n, double *loss_out,
                           double *grad, double *f, lm_err *err) {
    LM_TRY(check(m, ws, n, err));
    ws->prepared = 0;
    const double *out = forward_f64(m, ws, theta, x, n);
    double v = 0.0;
    LM_TRY(lm_loss_eval(loss, out, y, n, m->d_out, &v, grad ? ws->df : NULL, err));
    if (loss_out)
        *loss_out = v;
    if (f)
        memcpy(f, out, n * m->d_out * sizeof *f);
    if (grad)
        backward_f64(m, ws, theta, x, grad, 0);
    return LM_OK;
}

lm_status lm_mlp_vjp(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *x, size_t n,
                     const double *u, double *g, lm_err *err) {
    LM_TRY(check(m, ws, n, err));
    ws->prepared = 0;
    forward_f64(m, ws, theta, x, n);
    memcpy(ws->df, u, n * m->d_out * sizeof *u);
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
        const int nd = (int) li->d_out, ni = (int) li->d_in;
        double *rz = ws->rz[l];
        double beta = 0.0;
        if (m->spec.bias) {
            const double *vb = v + li->b_off;
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < li->d_out; j++)
                    rz[i * li->d_out + j] = bm * vb[j];
            beta = 1.0;
        }
        const double *prev = l == 0 ? x : ws->a[l - 1];
        lm_blas_threads_for((double) ((int) n) * (double) (nd) * (double) (ni));
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) n, nd, ni, wm, prev, ni,
                    v + li->w_off, ni, beta, rz, nd);
        if (l > 0) {
            lm_blas_threads_for((double) ((int) n) * (double) (nd) * (double) (ni));
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) n, nd, ni, wm, ws->ra[l - 1],
                        ni, theta + li->w_off, ni, 1.0, rz, nd);
        }
        if (!last && ws->ra[l] != rz) {
            const double *z = ws->z[l], *a = ws->a[l];
            double *ra = ws->ra[l];
            if (m->spec.act == LM_ACT_RELU) /* the hot path: phi' = [z > 0] */
                for (size_t i = 0; i < n * li->d_out; i++)
                    ra[i] = z[i] > 0 ? rz[i] : 0.0;
            else
                for (size_t i = 0; i < n * li->d_out; i++)
                    ra[i] = lm__act_dphi(m->spec.act, z[i], a[i]) * rz[i];
        }
    }
}

lm_status lm_mlp_jvp(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *x, size_t n,
                     const double *v, double *df, lm_err *err) {
    LM_TRY(check(m, ws, n, err));
    ws->prepared = 0;
    forward_f64(m, ws, theta, x, n);
    r_forward(m, ws, theta, x, v);
    memcpy(df, ws->rz[m->n_layers - 1], n * m->d_out * sizeof *df);
    return LM_OK;
}

lm_status lm_mlp_hvp_prepare(const lm_mlp *m, lm_mlp_ws *ws, lm_loss loss, const double *theta,
                             const double *x, const double *y, size_t n, double *loss_out,
                             double *grad, lm_err *err) {
    LM_TRY(check(m, ws, n, err));
    ws->prepared = 0;
    const double *out = forward_f64(m, ws, theta, x, n);
    double v = 0.0;
    LM_TRY(lm_loss_eval(loss, out, y, n, m->d_out, &v, ws->df, err));
    /* the backward pass keeps g_l for the R-backward; the gradient goes to the caller, or to
     * the workspace's scratch when the caller does not want it */
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
    const size_t L = m->n_layers, n = ws->n;
    const double *theta = ws->theta, *x = ws->x;
    r_forward(m, ws, theta, x, v);
    lm_loss_hess_apply(ws->loss, ws->z[L - 1], ws->y, n, m->d_out, ws->rz[L - 1], ws->rdf);
    const double *delta = ws->df, *rdelta = ws->rdf;
    for (size_t l = L; l-- > 0;) {
        const lm_layer_info *li = &m->layer[l];
        const double wm = li->w_scale, bm = li->b_scale;
        const int nd = (int) li->d_out, ni = (int) li->d_in;
        const double *prev = l == 0 ? x : ws->a[l - 1];
        lm_blas_threads_for((double) (nd) * (double) (ni) * (double) ((int) n));
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nd, ni, (int) n, wm, rdelta, nd, prev,
                    ni, 0.0, hv + li->w_off, ni);
        if (l > 0) {
            lm_blas_threads_for((double) (nd) * (double) (ni) * (double) ((int) n));
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nd, ni, (int) n, wm, delta, nd,
                        ws->ra[l - 1], ni, 1.0, hv + li->w_off, ni);
        }
        if (m->spec.bias) {
            double *acc = ws->colsum;
            for (size_t j = 0; j < li->d_out; j++)
                acc[j] = 0.0;
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < li->d_out; j++)
                    acc[j] += rdelta[i * li->d_out + j];
            for (size_t j = 0; j < li->d_out; j++)
                hv[li->b_off + j] = bm * acc[j];
        }
        if (l == 0)
            break;
        double *rg = ws->rg;
        lm_blas_threads_for((double) ((int) n) * (double) (ni) * (double) (nd));
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) n, ni, nd, wm, rdelta, nd,
                    theta + li->w_off, ni, 0.0, rg, ni);
        lm_blas_threads_for((double) ((int) n) * (double) (ni) * (double) (nd));
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) n, ni, nd, wm, delta, nd,
                    v + li->w_off, ni, 1.0, rg, ni);
        const double *z = ws->z[l - 1], *a = ws->a[l - 1], *g = ws->g[l - 1];
        const double *rzp = ws->rz[l - 1];
        double *rd = ws->rdelta[l - 1];
        const lm_act act = m->spec.act;
        const size_t cnt = n * li->d_in;
        if (act == LM_ACT_RELU) {
            for (size_t i = 0; i < cnt; i++)
                rd[i] = z[i] > 0 ? rg[i] : 0.0;
        } else if (act == LM_ACT_IDENTITY) {
            memcpy(rd, rg, cnt * sizeof *rd);
        } else {
            for (size_t i = 0; i < cnt; i++)
                rd[i] = rg[i] * lm__act_dphi(act, z[i], a[i]) +
                        g[i] * lm__act_d2phi(act, z[i], a[i]) * rzp[i];
        }
        delta = ws->delta[l - 1];
        rdelta = rd;
    }
    return LM_OK;
}
