/*
 * mlp_impl.h: the MLP's forward and backward kernels, written once and compiled per dtype.
 * Include after defining T (float or double), SFX(name) (appends _f32 / _f64) and GEMM
 * (cblas_sgemm / cblas_dgemm). mlp_f64.c and mlp_f32.c are the two instantiations.
 *
 * Derivation (row-major, n examples; W_l is [d_out, d_in], so z = a W^T):
 *   forward   z_l = wm_l a_{l-1} W_l^T + bm_l 1 b_l^T,  a_l = phi(z_l),  f = z_L
 *             (the output multiplier alpha is folded into wm_L and bm_L)
 *   backward  delta_L = dL/df
 *             dW_l = wm_l delta_l^T a_{l-1}      db_l = bm_l sum_i delta_l[i, :]
 *             g_{l-1} = wm_l delta_l W_l          delta_{l-1} = g_{l-1} (.) phi'(z_{l-1})
 * The first layer's input gradient is never formed (x is data).
 *
 * R-operator (R{.} = d/dr .(theta + r v) at r = 0, v = (VW_l, Vb_l); Pearlmutter 1994):
 *   R-forward   Rz_l = wm_l (Ra_{l-1} W_l^T + a_{l-1} VW_l^T) + bm_l 1 Vb_l^T,  Ra_0 = 0 (x fixed)
 *               Ra_l = phi'(z_l) (.) Rz_l,   Rf = Rz_L
 *   loss        Rdelta_L = (d^2 L/df^2) Rf          (the caller's: lm_loss_hess_apply)
 *   R-backward  (Hv)_W_l = wm_l (Rdelta_l^T a_{l-1} + delta_l^T Ra_{l-1})
 *               (Hv)_b_l = bm_l sum_i Rdelta_l[i, :]
 *               Rg_{l-1} = wm_l (Rdelta_l W_l + delta_l VW_l)
 *               Rdelta_{l-1} = Rg_{l-1} (.) phi'(z_{l-1}) + g_{l-1} (.) phi''(z_{l-1}) (.) Rz_{l-1}
 * each line the product rule applied to the forward or backward line above it (the loss's second
 * derivative enters once, at the output; phi'' enters where delta = g (.) phi'(z) is
 * differentiated along z). The first layer's Ra_0 = 0 drops its input-side products.
 */

#include "model/act_vec_impl.h"
#include "model/dense_impl.h"

#include <math.h>
#include <string.h>

/* Forward pass over n examples: fills ws->z[l], ws->a[l]; returns the output pointer. */
static const T *SFX(forward)(const lm_mlp *m, lm_mlp_ws *ws, const T *theta, const T *x, size_t n) {
    const size_t L = m->n_layers;
    const T *in = x;
    for (size_t l = 0; l < L; l++) {
        const lm_layer_info *li = &m->layer[l];
        const int last = l + 1 == L;
        const double wm = li->w_scale, bm = li->b_scale;
        T *z = ws->z[l];
        SFX(dense_forward)
        (theta + li->w_off, m->spec.bias ? theta + li->b_off : NULL, wm, bm, in, z, n, li->d_in,
         li->d_out, 0);
        if (!last)
            SFX(act_forward)(m->spec.act, z, ws->a[l], n * li->d_out);
        in = ws->a[l];
    }
    ws->n = n;
    return ws->a[L - 1];
}

/* Backward pass from ws->df (dL/df, [n, d_out]) after forward: grad (overwritten). When
 * keep_signals is set, the pre-activation-derivative signals g_l are kept in ws->g[l] for the
 * R-operator; otherwise they are formed in place in ws->delta[l]. */
static void SFX(backward)(const lm_mlp *m, lm_mlp_ws *ws, const T *theta, const T *x, T *grad,
                          int keep_signals) {
    const size_t L = m->n_layers, n = ws->n;
    const T *delta = ws->df;
    for (size_t l = L; l-- > 0;) {
        const lm_layer_info *li = &m->layer[l];
        const double wm = li->w_scale, bm = li->b_scale;
        const T *prev = l == 0 ? x : ws->a[l - 1];
        SFX(dense_grad_params)
        (delta, prev, wm, bm, grad + li->w_off, m->spec.bias ? grad + li->b_off : NULL, n, li->d_in,
         li->d_out, 0, ws->colsum);
        if (l == 0)
            break;
        T *g = keep_signals ? ws->g[l - 1] : ws->delta[l - 1];
        SFX(dense_grad_input)(delta, theta + li->w_off, wm, g, n, li->d_in, li->d_out, 0);
        SFX(act_backward)
        (m->spec.act, ws->z[l - 1], ws->a[l - 1], g, ws->delta[l - 1], n * li->d_in);
        delta = ws->delta[l - 1];
    }
}

/* R-forward pass along v after a forward pass at theta: fills ws->rz[l], ws->ra[l]; the
 * R-outputs Rf are ws->rz[L-1]. */
static void SFX(r_forward)(const lm_mlp *m, lm_mlp_ws *ws, const T *theta, const T *x, const T *v) {
    const size_t L = m->n_layers, n = ws->n;
    for (size_t l = 0; l < L; l++) {
        const lm_layer_info *li = &m->layer[l];
        const int last = l + 1 == L;
        const double wm = li->w_scale, bm = li->b_scale;
        T *rz = ws->rz[l];
        const T *prev = l == 0 ? x : (const T *) ws->a[l - 1];
        SFX(dense_forward)
        (v + li->w_off, m->spec.bias ? v + li->b_off : NULL, wm, bm, prev, rz, n, li->d_in,
         li->d_out, 0);
        if (l > 0)
            SFX(dense_forward)
        (theta + li->w_off, NULL, wm, 0.0, ws->ra[l - 1], rz, n, li->d_in, li->d_out, 1);
        if (!last && ws->ra[l] != rz)
            SFX(act_rforward)(m->spec.act, ws->z[l], ws->a[l], rz, ws->ra[l], n * li->d_out);
    }
}

/* R-backward pass: hv (overwritten) = H v from ws->rdf = R{dL/df} (the loss's second-order step,
 * done by the caller), after the forward pass, a backward pass that kept the signals
 * (keep_signals = 1: ws->delta, ws->g) and r_forward along v. */
static void SFX(r_backward)(const lm_mlp *m, lm_mlp_ws *ws, const T *theta, const T *x, const T *v,
                            T *hv) {
    const size_t L = m->n_layers, n = ws->n;
    const T *delta = ws->df, *rdelta = ws->rdf;
    for (size_t l = L; l-- > 0;) {
        const lm_layer_info *li = &m->layer[l];
        const double wm = li->w_scale, bm = li->b_scale;
        const T *prev = l == 0 ? x : (const T *) ws->a[l - 1];
        SFX(dense_grad_params)
        (rdelta, prev, wm, bm, hv + li->w_off, m->spec.bias ? hv + li->b_off : NULL, n, li->d_in,
         li->d_out, 0, ws->colsum);
        if (l > 0)
            SFX(dense_grad_params)
        (delta, ws->ra[l - 1], wm, 0.0, hv + li->w_off, NULL, n, li->d_in, li->d_out, 1, NULL);
        if (l == 0)
            break;
        T *rg = ws->rg;
        SFX(dense_grad_input)(rdelta, theta + li->w_off, wm, rg, n, li->d_in, li->d_out, 0);
        SFX(dense_grad_input)(delta, v + li->w_off, wm, rg, n, li->d_in, li->d_out, 1);
        T *rd = ws->rdelta[l - 1];
        SFX(act_rbackward)
        (m->spec.act, ws->z[l - 1], ws->a[l - 1], ws->g[l - 1], rg, ws->rz[l - 1], rd,
         n * li->d_in);
        delta = ws->delta[l - 1];
        rdelta = rd;
    }
}
