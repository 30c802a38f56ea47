/*
 * bench_krr.c: kernel regression's learning curve on N points, both sides (issue 13,
 * "Performance"; docs/theory.md "The eigenframework"):
 *   theory     one eigendecomposition of the N-point Gram (lm_kernel_spectrum), then the
 *              eigenframework at every (n, ridge) of the curve (lm_eigenlearning, O(N) each);
 *   empirical  lm_krr_curve with all ridges in one call (one dsyevd per training set, reused over
 *              the ridges) against one call per ridge (a dsyevd per training set and ridge).
 * Data: power-law features (a = 1.5, b = 1.6, D = 2000) with the linear kernel; the first 80 % of
 * the rows are the pool, the rest the test set.
 *
 * Usage: bench_krr [N] [THREADS]   (default N = 4000, 1 thread)
 */
#include "lmech/theory.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#define D       2000
#define N_RIDGE 3
#define N_N     6

int main(int argc, char **argv) {
    const size_t N = argc > 1 ? (size_t) strtoul(argv[1], NULL, 10) : 4000;
    const int threads = argc > 2 ? atoi(argv[2]) : 1;
    lm_threads_set(threads, NULL);
    const size_t pool = N * 4 / 5;
    double *x = malloc(N * D * sizeof *x), *y = malloc(N * sizeof *y);
    double *K = malloc(N * N * sizeof *K), *lam = malloc(N * sizeof *lam),
           *v = malloc(N * sizeof *v);
    if (!x || !y || !K || !lam || !v)
        return 1;
    lm_rng r;
    lm_rng_seed(&r, 1, LM_STREAM_DATA);
    for (size_t i = 0; i < N; i++) {
        double s = 0;
        for (size_t j = 0; j < D; j++) {
            x[i * D + j] = pow((double) (j + 1), -0.75) * lm_rng_normal(&r);
            s += x[i * D + j] * pow((double) (j + 1), 0.5 * (1.5 - 1.6));
        }
        y[i] = s;
    }
    double t0 = lm_now();
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int) N, D, 1.0, x, D, 0.0, K, (int) N);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < i; j++)
            K[i * N + j] = K[j * N + i];
    const double t_gram = lm_now() - t0;

    lm_err err = {0};
    size_t m = 0;
    t0 = lm_now();
    if (lm_kernel_spectrum(K, N, y, 1, lam, v, &m, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const double t_spec = lm_now() - t0;
    const double ridge[N_RIDGE] = {0, 0.1, 1};
    size_t nl[N_N];
    for (size_t i = 0; i < N_N; i++)
        nl[i] = pool >> (N_N - 1 - i);
    t0 = lm_now();
    size_t evals = 0;
    for (size_t q = 0; q < N_RIDGE; q++)
        for (size_t i = 0; i < N_N; i++) {
            lm_eigenlearn o;
            if (nl[i] < m &&
                lm_eigenlearning(m, lam, v, (double) nl[i], ridge[q], 0, &o, NULL, &err) == LM_OK)
                evals++;
        }
    const double t_theory = lm_now() - t0;

    double *te = malloc(N_RIDGE * N_N * sizeof *te), *tr = malloc(N_RIDGE * N_N * sizeof *tr);
    t0 = lm_now();
    if (lm_krr_curve(K, N, pool, y, 1, N_N, nl, 1, N_RIDGE, ridge, 7, te, tr, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const double t_once = lm_now() - t0;
    t0 = lm_now();
    for (size_t q = 0; q < N_RIDGE; q++)
        if (lm_krr_curve(K, N, pool, y, 1, N_N, nl, 1, 1, &ridge[q], 7, te, tr, &err) != LM_OK)
            return 1;
    const double t_per = lm_now() - t0;
    printf("N = %zu (pool %zu, %zu test), D = %d, %d BLAS thread(s)\n", N, pool, N - pool, D,
           threads);
    printf("  Gram (dsyrk)                                   %8.2f s\n", t_gram);
    printf("  theory: lm_kernel_spectrum (one dsyevd of N)   %8.2f s\n", t_spec);
    printf("  theory: %zu (n, ridge) predictions              %8.4f s\n", evals, t_theory);
    printf("  empirical: n up to %zu, 3 ridges in one call    %8.2f s\n", pool, t_once);
    printf("  empirical: the same, one call per ridge         %8.2f s  (%.2fx)\n", t_per,
           t_per / t_once);
    free(x);
    free(y);
    free(K);
    free(lam);
    free(v);
    free(te);
    free(tr);
    return 0;
}
