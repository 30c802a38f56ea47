/* bench_repr.c: the representation and weight-spectrum kernels at the sizes of issue 14's
 * "Performance" paragraph, for bench/repr.sh (which runs the NumPy peer, bench/numpy_repr.py, on
 * the same arrays in the same session).
 *
 *   bench_repr DIR [REPS]
 *
 * Draws (seed 0) and writes to DIR, as .npy:
 *   A [10000, 1024], B = A R / sqrt(1024) + 0.5 G [10000, 1024]  (R, G Gaussian): linear CKA, with
 *       and without a 20-permutation null (the null reuses the centred Gram matrices);
 *   A2, B2 = the first 2000 rows of A, B restricted to 256 columns: debiased CKA (n x n kernels)
 *       and mutual k-NN (k = 10);
 *   W [4096, 1024] Gaussian: the weight spectrum (SVD, Marchenko-Pastur fit, power law).
 * Times each call REPS times (default 3) and prints one JSON line: the median wall seconds and the
 * values (the peer checks it computes the same numbers). */
#include "lmech/repr.h"
#include "lmech/weights.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lmech/io.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec + 1e-9 * (double) t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    const double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static void save(const char *dir, const char *name, const double *x, size_t r, size_t c) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    lm_array a = {LM_ELT_F64, 2, {r, c}, r * c, (void *) x};
    lm_err err = {0};
    if (lm_npy_write(path, &a, &err) != LM_OK) {
        fprintf(stderr, "bench_repr: %s\n", err.msg);
        exit(1);
    }
}

#define REPS_MAX 15

typedef struct timing {
    double t[REPS_MAX];
    double value;
} timing;

static double median(timing *t, int reps) {
    qsort(t->t, (size_t) reps, sizeof(double), cmp);
    return t->t[reps / 2];
}

static void sim(lm_sim_metric m, const double *A, size_t n, size_t p, const double *B, size_t q,
                size_t null_n, int reps, timing *out) {
    lm_sim_opts o = {.k = 10, .null_n = null_n, .seed = 0};
    for (int r = 0; r < reps; r++) {
        lm_sim_result res;
        lm_err err = {0};
        const double t0 = now();
        if (lm_similarity(m, A, n, p, B, q, &o, &res, &err) != LM_OK) {
            fprintf(stderr, "bench_repr: %s\n", err.msg);
            exit(1);
        }
        out->t[r] = now() - t0;
        out->value = res.value;
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_repr DIR [REPS]\n");
        return 2;
    }
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    reps = reps < 1 ? 1 : reps > REPS_MAX ? REPS_MAX : reps;
    const size_t n = 10000, p = 1024, n2 = 2000, p2 = 256, wr = 4096, wc = 1024;
    double *A = malloc(n * p * sizeof *A), *B = malloc(n * p * sizeof *B),
           *R = malloc(p * p * sizeof *R), *A2 = malloc(n2 * p2 * sizeof *A2),
           *B2 = malloc(n2 * p2 * sizeof *B2), *W = malloc(wr * wc * sizeof *W);
    if (!A || !B || !R || !A2 || !B2 || !W) {
        fprintf(stderr, "bench_repr: out of memory\n");
        return 1;
    }
    lm_rng g;
    lm_rng_seed(&g, 0, LM_STREAM_DATA);
    for (size_t i = 0; i < n * p; i++)
        A[i] = lm_rng_normal(&g);
    for (size_t i = 0; i < p * p; i++)
        R[i] = lm_rng_normal(&g) / 32.0;
    for (size_t i = 0; i < n * p; i++)
        B[i] = 0.5 * lm_rng_normal(&g);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) n, (int) p, (int) p, 1.0, A,
                (int) p, R, (int) p, 1.0, B, (int) p);
    for (size_t i = 0; i < n2; i++)
        for (size_t j = 0; j < p2; j++) {
            A2[i * p2 + j] = A[i * p + j];
            B2[i * p2 + j] = B[i * p + j];
        }
    for (size_t i = 0; i < wr * wc; i++)
        W[i] = lm_rng_normal(&g);
    save(argv[1], "A", A, n, p);
    save(argv[1], "B", B, n, p);
    save(argv[1], "A2", A2, n2, p2);
    save(argv[1], "B2", B2, n2, p2);
    save(argv[1], "W", W, wr, wc);

    timing lin, lin_null, deb, knn, ws;
    sim(LM_SIM_LINEAR_CKA, A, n, p, B, p, 0, reps, &lin);
    sim(LM_SIM_LINEAR_CKA, A, n, p, B, p, 20, reps, &lin_null);
    sim(LM_SIM_DEBIASED_CKA, A2, n2, p2, B2, p2, 0, reps, &deb);
    sim(LM_SIM_MKNN, A2, n2, p2, B2, p2, 0, reps, &knn);
    for (int r = 0; r < reps; r++) {
        lm_wspec s;
        lm_err err = {0};
        const double t0 = now();
        if (lm_wspec_compute(W, wr, wc, NULL, &s, &err) != LM_OK) {
            fprintf(stderr, "bench_repr: %s\n", err.msg);
            return 1;
        }
        ws.t[r] = now() - t0;
        ws.value = s.alpha;
        lm_wspec_free(&s);
    }
    printf("{\"linear_cka_s\": %.6g, \"linear_cka\": %.17g, \"linear_cka_null20_s\": %.6g, "
           "\"debiased_cka_s\": %.6g, \"debiased_cka\": %.17g, \"mknn_s\": %.6g, \"mknn\": %.17g, "
           "\"weights_s\": %.6g, \"alpha\": %.17g}\n",
           median(&lin, reps), lin.value, median(&lin_null, reps), median(&deb, reps), deb.value,
           median(&knn, reps), knn.value, median(&ws, reps), ws.value);
    free(A), free(B), free(R), free(A2), free(B2), free(W);
    return 0;
}
