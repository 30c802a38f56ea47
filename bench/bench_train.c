/*
 * bench_train.c: lmech's side of the training benchmark (bench/train.py runs PyTorch's side in
 * the same session and prints the table). Trains 784-W-W-10 ReLU with cross-entropy and plain
 * SGD (lr 0.1) on Fashion-MNIST minibatches sliced contiguously from a once-shuffled copy of the
 * 60000 training images (pixels/255), like the PyTorch script. The loss and gradient run through
 * lm_mlp_team with LM_THREADS threads (default 2), as `lmech train` does.
 *
 *   bench_train DTYPE WIDTH BATCH SECONDS   ->  one JSON line
 *
 * Also measures the GEMM peak of this run (best call of a square 1024 GEMM in DTYPE, about
 * 0.5 s), so the fraction of peak is against the same machine state. Reports the allocations
 * made by steps after the first (must be 0).
 */
#include "lmech/data.h"
#include "lmech/loss.h"
#include "lmech/model.h"
#include "lmech/optim.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double gemm_peak(int f32) {
    const int n = 1024;
    void *a = malloc((size_t) n * n * 8), *b = malloc((size_t) n * n * 8),
         *c = malloc((size_t) n * n * 8);
    memset(a, 0, (size_t) n * n * 8);
    memset(b, 0, (size_t) n * n * 8);
    double best = 1e30, t_end = lm_now() + 0.5;
    for (int it = 0; it < 3 || lm_now() < t_end; it++) {
        double t = lm_now();
        if (f32)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                        c, n);
        else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n, b, n, 0.0, c,
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

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s float32|float64 WIDTH BATCH SECONDS\n", argv[0]);
        return 2;
    }
    const int f32 = strcmp(argv[1], "float32") == 0;
    const size_t W = (size_t) atol(argv[2]), B = (size_t) atol(argv[3]);
    const double seconds = atof(argv[4]);
    lm_err err = {0};
    lm_threads_set(getenv("LM_THREADS") ? atoi(getenv("LM_THREADS")) : 2, &err);
    lm_data_spec ds = lm_data_spec_default();
    ds.test_size = 0;
    lm_dataset *train, *test;
    if (lm_data_load(&ds, 0, &train, &test, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const size_t n = train->n, d = train->d, k = train->k;
    /* a once-shuffled copy, sliced contiguously */
    size_t *perm = malloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    lm_rng r;
    lm_rng_seed(&r, 1, 0);
    lm_rng_shuffle(&r, perm, n);
    const size_t es = f32 ? 4 : 8;
    char *X = malloc(n * d * es), *Y = malloc(n * k * es);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            double v = train->x[perm[i] * d + j];
            if (f32)
                ((float *) X)[i * d + j] = (float) v;
            else
                ((double *) X)[i * d + j] = v;
        }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < k; j++) {
            double v = train->y[perm[i] * k + j];
            if (f32)
                ((float *) Y)[i * k + j] = (float) v;
            else
                ((double *) Y)[i * k + j] = v;
        }
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = 4;
    s.widths[0] = d;
    s.widths[1] = W;
    s.widths[2] = W;
    s.widths[3] = k;
    lm_mlp *m;
    lm_mlp_team *team;
    lm_mlp_new(&s, &m, &err);
    if (lm_mlp_team_new(m, B, f32 ? LM_F32 : LM_F64, lm_threads_get(), &team, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const size_t p = m->n_params;
    double *th64 = malloc(p * sizeof(double));
    lm_mlp_init(m, 0, th64, &err);
    void *theta = malloc(p * es), *grad = malloc(p * es);
    for (size_t i = 0; i < p; i++) {
        if (f32)
            ((float *) theta)[i] = (float) th64[i];
        else
            ((double *) theta)[i] = th64[i];
    }
    size_t seg[7];
    double mult[6];
    lm_mlp_segments(m, 0, seg, mult);
    lm_optim_spec os = lm_optim_spec_default();
    os.lr = 0.1;
    lm_optim *opt;
    lm_optim_new(&os, p, f32 ? LM_F32 : LM_F64, 6, seg, mult, 0, &opt, &err);
    const size_t nb = n / B;
    size_t step = 0;
    double loss = 0;
#define STEP()                                                                                     \
    do {                                                                                           \
        size_t b = step % nb;                                                                      \
        lm_mlp_team_loss_grad(team, LM_LOSS_CE, theta, X + b * B * d * es, Y + b * B * k * es, B,  \
                              &loss, grad, NULL);                                                  \
        lm_optim_step(opt, theta, grad, step, NULL);                                               \
        step++;                                                                                    \
    } while (0)
    /* warm-up: max(5, a tenth of a second) */
    double tw = lm_now();
    while (step < 5 || lm_now() - tw < 0.1)
        STEP();
    const uint64_t allocs0 = lm_alloc_count();
    /* 3 timed repetitions; the median is reported */
    double rates[3];
    size_t steps_rep = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t = lm_now();
        size_t s0 = step;
        while (lm_now() - t < seconds / 3.0 || step - s0 < 3)
            STEP();
        rates[rep] = (double) (step - s0) / (lm_now() - t);
        steps_rep = step - s0;
    }
    const uint64_t allocs = lm_alloc_count() - allocs0;
    double a = rates[0], b = rates[1], c = rates[2], med;
    med = a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
    const double macs =
        (double) B * (2.0 * (784.0 * (double) W + (double) W * (double) W + 10.0 * (double) W) +
                      ((double) W * (double) W + 10.0 * (double) W));
    const double gflops = med * 2.0 * macs / 1e9;
    const double peak = gemm_peak(f32);
    printf("{\"impl\":\"lmech\",\"dtype\":\"%s\",\"width\":%zu,\"batch\":%zu,\"steps_per_s\":%.3f,"
           "\"gemm_gflops\":%.2f,\"peak_gflops\":%.2f,\"steps_timed\":%zu,\"loss\":%.5f,"
           "\"allocs_after_first_step\":%llu}\n",
           argv[1], W, B, med, gflops, peak, steps_rep, loss, (unsigned long long) allocs);
    lm_mlp_team_free(team);
    return 0;
}
