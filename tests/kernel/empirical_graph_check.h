/*
 * empirical_graph_check.h: the finite-difference check of lm_kernel_empirical on a layer-graph
 * model (test_empirical_graph.c, test_empirical_cnn.c): J [nk, p] by central differences of the
 * model's outputs, the reference sum_s lr_s J_s J_s^T per dense layer (lm_mlp_segment_layer) and
 * summed, against the kernel whole and in chunks of one input, with and without per-tensor rates.
 */
#ifndef LM_TEST_EMPIRICAL_GRAPH_CHECK_H
#define LM_TEST_EMPIRICAL_GRAPH_CHECK_H

#include "../model/graph_check.h"
#include "lm_test.h"
#include "lmech/kernel.h"
#include "lmech/model.h"

#include <string.h>

static inline void fill(double *x, size_t cnt, uint64_t seed, double scale) {
    lm_rng r;
    lm_rng_seed(&r, seed, LM_STREAM_DATA);
    for (size_t i = 0; i < cnt; i++)
        x[i] = scale * lm_rng_normal(&r);
}

static inline double rel_fro(const double *a, const double *b, size_t cnt) {
    double d = 0, s = 0;
    for (size_t i = 0; i < cnt; i++) {
        d += (a[i] - b[i]) * (a[i] - b[i]);
        s += b[i] * b[i];
    }
    return sqrt(d / s);
}

static inline void assert_symmetric(const double *a, size_t nk) {
    for (size_t i = 0; i < nk; i++)
        for (size_t j = 0; j < i; j++)
            cr_assert(a[i * nk + j] == a[j * nk + i], "not exactly symmetric at (%zu, %zu)", i, j);
}

/* Reference: J [nk, p] by central differences of the outputs, then per dense layer and in all
 * sum_s lr_s J_s J_s^T. ref [nk, nk], lref [L][nk][nk]. */
static inline void fd_reference(const lm_mlp *m, const double *theta, const double *X, size_t n,
                                const double *seg_lr, double *ref, double *lref) {
    const size_t k = m->d_out, nk = n * k, p = m->n_params, L = m->n_layers;
    lm_mlp_ws *ws;
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F64, &ws, NULL), LM_OK);
    double *J = malloc(nk * p * 8), *th = malloc(p * 8), *fp = malloc(nk * 8), *fm = malloc(nk * 8);
    const double h = 1e-5;
    memcpy(th, theta, p * 8);
    for (size_t q = 0; q < p; q++) {
        th[q] = theta[q] + h;
        cr_assert_eq(lm_mlp_forward(m, ws, th, X, n, fp, NULL), LM_OK);
        th[q] = theta[q] - h;
        cr_assert_eq(lm_mlp_forward(m, ws, th, X, n, fm, NULL), LM_OK);
        th[q] = theta[q];
        for (size_t r = 0; r < nk; r++)
            J[r * p + q] = (fp[r] - fm[r]) / (2 * h);
    }
    size_t seg[LM_MAX_TENSORS + 1];
    double lr[LM_MAX_TENSORS];
    lm_mlp_segments(m, 0, seg, lr);
    memset(ref, 0, nk * nk * 8);
    memset(lref, 0, L * nk * nk * 8);
    for (size_t s = 0; s < lm_mlp_n_segments(m); s++) {
        const size_t l = lm_mlp_segment_layer(m, s);
        for (size_t a = 0; a < nk; a++)
            for (size_t b = 0; b < nk; b++) {
                double acc = 0;
                for (size_t q = seg[s]; q < seg[s + 1]; q++)
                    acc += J[a * p + q] * J[b * p + q];
                acc *= seg_lr ? seg_lr[s] : 1.0;
                lref[l * nk * nk + a * nk + b] += acc;
                ref[a * nk + b] += acc;
            }
    }
    free(J);
    free(th);
    free(fp);
    free(fm);
    lm_mlp_ws_free(ws);
}

/* Model ls on shape against the finite-difference reference, with and without rates, whole and
 * in chunks. Central differences at h = 1e-5: truncation ~h^2 f''' and rounding ~1e-16/h, so
 * 1e-7 relative on the kernel leaves margin and still catches any wrong factor or sign. */
static inline void check_fd(const lm_layer_spec *ls, size_t nls, const size_t *shape, size_t ndim,
                            lm_param prm, const char *what) {
    lm_mlp_spec s = gc_spec(ls, nls, shape, ndim, prm);
    lm_mlp *m;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s: %s", what, err.msg);
    const size_t n = 3, k = m->d_out, nk = n * k, L = m->n_layers, p = m->n_params;
    const size_t ns = lm_mlp_n_segments(m);
    double *theta = malloc(p * 8), *X = malloc(n * m->d_in * 8), lr[LM_MAX_TENSORS];
    cr_assert_eq(lm_mlp_init(m, 5, theta, NULL), LM_OK);
    fill(X, n * m->d_in, 6, 1.0);
    for (size_t t = 0; t < ns; t++)
        lr[t] = 0.3 + 0.4 * (double) t;
    double *ref = malloc(nk * nk * 8), *lref = malloc(L * nk * nk * 8);
    double *ntk = malloc(nk * nk * 8), *lay = malloc(L * nk * nk * 8);
    for (int w = 0; w < 2; w++) {
        const double *rates = w ? lr : NULL;
        fd_reference(m, theta, X, n, rates, ref, lref);
        cr_assert_eq(lm_kernel_empirical(m, theta, X, n, rates, 0, ntk, lay, &err), LM_OK, "%s: %s",
                     what, err.msg);
        double e = rel_fro(ntk, ref, nk * nk);
        cr_assert(e < 1e-7, "%s rates %d: relative error %g against finite differences", what, w,
                  e);
        for (size_t l = 0; l < L; l++) {
            e = rel_fro(lay + l * nk * nk, lref + l * nk * nk, nk * nk);
            cr_assert(e < 1e-7, "%s rates %d: dense layer %zu relative error %g", what, w, l, e);
        }
        assert_symmetric(ntk, nk);
        /* chunks of one input */
        size_t c = 0;
        const size_t one = lm_kernel_empirical_plan(m, n, 1, 8 * (2 * k * p + k), &c);
        cr_assert_eq(c, 1, "%s: chunk %zu", what, c);
        cr_assert_eq(one, 8 * (2 * k * p + k));
        cr_assert_eq(lm_kernel_empirical(m, theta, X, n, rates, one, ntk, lay, &err), LM_OK,
                     "%s: %s", what, err.msg);
        e = rel_fro(ntk, ref, nk * nk);
        cr_assert(e < 1e-7, "%s rates %d chunks of 1: %g", what, w, e);
        assert_symmetric(ntk, nk);
        assert_symmetric(lay, nk);
    }
    free(theta);
    free(X);
    free(ref);
    free(lref);
    free(ntk);
    free(lay);
    lm_mlp_free(m);
}

#endif
