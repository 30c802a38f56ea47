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

#include "model/act_impl.h"

#include <math.h>
#include <string.h>

/* phi applied elementwise: a = phi(z). identity, relu and tanh (vmath's vector tanh) are the hot
 * paths and keep their own loops; every other activation is lm__act_phi (act_impl.h, behind
 * lm_act_phi), the one definition (tests/model/test_act.c checks the loops against it). */
static void SFX(act_forward)(lm_act act, const T *z, T *a, size_t cnt) {
    switch (act) {
    case LM_ACT_IDENTITY:
        if (a != z)
            memcpy(a, z, cnt * sizeof(T));
        break;
    case LM_ACT_RELU:
        for (size_t i = 0; i < cnt; i++)
            a[i] = z[i] > 0 ? z[i] : (T) 0;
        break;
    case LM_ACT_TANH:
        VTANH(z, a, cnt);
        break;
    default:
        for (size_t i = 0; i < cnt; i++)
            a[i] = (T) lm__act_phi(act, (double) z[i]);
        break;
    }
}

/* out = g (.) phi'(z); out may alias g. The same split: relu and tanh loops, else lm__act_dphi. */
static void SFX(act_backward)(lm_act act, const T *z, const T *a, const T *g, T *out, size_t cnt) {
    switch (act) {
    case LM_ACT_IDENTITY:
        if (out != g)
            memcpy(out, g, cnt * sizeof(T));
        break;
    case LM_ACT_RELU:
        for (size_t i = 0; i < cnt; i++)
            out[i] = z[i] > 0 ? g[i] : (T) 0;
        break;
    case LM_ACT_TANH:
        for (size_t i = 0; i < cnt; i++)
            out[i] = g[i] * ((T) 1 - a[i] * a[i]);
        break;
    default:
        for (size_t i = 0; i < cnt; i++)
            out[i] = (T) ((double) g[i] * lm__act_dphi(act, (double) z[i], (double) a[i]));
        break;
    }
}

/* Forward pass over n examples: fills ws->z[l], ws->a[l]; returns the output pointer. */
static const T *SFX(forward)(const lm_mlp *m, lm_mlp_ws *ws, const T *theta, const T *x, size_t n) {
    const size_t L = m->n_layers;
    const T *in = x;
    for (size_t l = 0; l < L; l++) {
        const lm_layer_info *li = &m->layer[l];
        const int last = l + 1 == L;
        const double wm = li->w_scale, bm = li->b_scale;
        T *z = ws->z[l];
        const T *W = theta + li->w_off;
        const int nd = (int) li->d_out, ni = (int) li->d_in;
        T beta = 0;
        if (m->spec.bias) {
            const T *b = theta + li->b_off;
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < li->d_out; j++)
                    z[i * li->d_out + j] = (T) bm * b[j];
            beta = 1;
        }
        lm_blas_threads_for((double) ((int) n) * (double) (nd) * (double) (ni));
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int) n, nd, ni, (T) wm, in, ni, W, ni, beta,
             z, nd);
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
        const int nd = (int) li->d_out, ni = (int) li->d_in;
        lm_blas_threads_for((double) (nd) * (double) (ni) * (double) ((int) n));
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, nd, ni, (int) n, (T) wm, delta, nd, prev, ni,
             (T) 0, grad + li->w_off, ni);
        if (m->spec.bias) {
            /* column sums in double: n may be a whole training set */
            T *gb = grad + li->b_off;
            double *acc = ws->colsum;
            for (size_t j = 0; j < li->d_out; j++)
                acc[j] = 0.0;
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < li->d_out; j++)
                    acc[j] += (double) delta[i * li->d_out + j];
            for (size_t j = 0; j < li->d_out; j++)
                gb[j] = (T) (bm * acc[j]);
        }
        if (l == 0)
            break;
        T *g = keep_signals ? ws->g[l - 1] : ws->delta[l - 1];
        lm_blas_threads_for((double) ((int) n) * (double) (ni) * (double) (nd));
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) n, ni, nd, (T) wm, delta, nd,
             theta + li->w_off, ni, (T) 0, g, ni);
        SFX(act_backward)
        (m->spec.act, ws->z[l - 1], ws->a[l - 1], g, ws->delta[l - 1], n * li->d_in);
        delta = ws->delta[l - 1];
    }
}
