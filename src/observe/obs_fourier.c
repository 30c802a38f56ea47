/*
 * obs_fourier.c: spectral bias on the circle (science.md §8). For the `circle` data source, every
 * eval_every steps, the training residual r = f(x_i) - y_i (one output) is projected on each
 * target frequency k of data.frequencies:
 *   fourier.<k>   sqrt(c_k / n) ||P_k r||,   c_k = 2 (k > 0), 1 (k = 0),
 * P_k the orthogonal projection on span{cos(k t_i), sin(k t_i)} over the n training angles
 * t_i = atan2(x_i2, x_i1). On the uniform grid (subset "first") the two vectors are orthogonal
 * with squared norm n/2 each, so a residual A cos(k t + phi) gives exactly A: fourier.k is the
 * amplitude of frequency k in the residual. On random angles the projection is taken with the
 * 2 x 2 Gram matrix of the two vectors (a sine vector that vanishes, k = 0 or the grid's
 * Nyquist frequency, is left out). Linearised GD with the mse loss (1/(2n)) ||f - y||^2 shrinks
 * the amplitude of a Fourier eigenmode of the (circulant) NTK Gram matrix by (1 - eta lambda_k)
 * per step, lambda_k the eigenvalue of Theta/n (exp_spectral_bias.c).
 *
 * Other data sources: the observer never runs (its interval is 0). Cost per call: one forward pass
 * over the training set and O(n) per frequency.
 */
#include "observe/internal.h"

#include <math.h>
#include <stdio.h>

static size_t every(const lm_config *cfg) {
    return cfg->data.source == LM_DATA_CIRCLE ? cfg->train.eval_every : 0;
}

static void release(void *state) {
    lm_free(state);
}

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    const lm_dataset *tr = c->train;
    const size_t n = tr->n, k = tr->k;
    if (tr->d != 2 || k != 1)
        LM_FAIL(err, LM_EINVAL,
                "fourier: the circle data must have 2 inputs and 1 output, got %zu and %zu", tr->d,
                k);
    double *f = *c->state;
    if (!f) {
        f = lm_malloc(n * sizeof *f);
        if (!f)
            LM_FAIL(err, LM_ENOMEM, "fourier: out of memory for %zu outputs", n);
        *c->state = f;
    }
    for (size_t i = 0; i < n; i += c->ws_n) {
        const size_t cnt = n - i < c->ws_n ? n - i : c->ws_n;
        LM_TRY(lm_mlp_forward(c->m, c->ws, c->theta, tr->x + i * 2, cnt, f + i, err));
    }
    const lm_data_spec *ds = &c->cfg->data;
    for (size_t q = 0; q < ds->n_freq; q++) {
        const double kk = (double) ds->frequencies[q];
        double cc = 0, ss = 0, cs = 0, cr = 0, sr = 0;
        for (size_t i = 0; i < n; i++) {
            const double t = atan2(tr->x[2 * i + 1], tr->x[2 * i]);
            const double r = f[i] - tr->y[i], co = cos(kk * t), si = sin(kk * t);
            cc += co * co;
            ss += si * si;
            cs += co * si;
            cr += co * r;
            sr += si * r;
        }
        /* ||P r||^2 = b^T G^{-1} b with G the Gram of (cos, sin) and b their products with r; a
         * (numerically) vanishing sine vector leaves the one-dimensional projection on cos */
        double p2;
        const double det = cc * ss - cs * cs;
        if (ss <= 1e-12 * cc || det <= 1e-12 * cc * ss)
            p2 = cc > 0 ? cr * cr / cc : 0.0;
        else
            p2 = (ss * cr * cr - 2 * cs * cr * sr + cc * sr * sr) / det;
        const double amp = sqrt(fmax(p2, 0.0) * (kk > 0 ? 2.0 : 1.0) / (double) n);
        char name[32];
        snprintf(name, sizeof name, "fourier.%d", ds->frequencies[q]);
        LM_TRY(lm_obs_emit(sink, name, amp, err));
    }
    return LM_OK;
}

const lm_observer lm__obs_fourier = {
    "fourier", "circle data: amplitude of each target frequency k in the training residual",
    observe, every, release};
