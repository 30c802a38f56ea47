/*
 * bench_util.h: what the C benchmark drivers share: the sgemm peak of this run (best call of a
 * square 1024 GEMM after a warm-up, at the current BLAS thread setting) and a median.
 */
#ifndef LM_BENCH_UTIL_H
#define LM_BENCH_UTIL_H

#include "lmech/core.h"

#include <cblas.h>
#include <stdlib.h>

static inline double bench_sgemm_peak(void) {
    const int n = 1024;
    float *a = calloc((size_t) n * n, 4), *b = calloc((size_t) n * n, 4),
          *c = calloc((size_t) n * n, 4);
    double best = 1e30, t_end = lm_now() + 0.5;
    for (int it = 0; it < 3 || lm_now() < t_end; it++) {
        double t = lm_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                    n);
        t = lm_now() - t;
        if (it > 0 && t < best)
            best = t;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * n * (double) n * n / best / 1e9;
}

/* The median of v[0..n) (sorts v). */
static inline double bench_median(double *v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

#endif
