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
