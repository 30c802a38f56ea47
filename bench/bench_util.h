/*
 * bench_util.h: what the C benchmark drivers of a training step share (bench_cnn.c,
 * bench_gpt.c): the sgemm peak of this run, a median, and the harness that trains a model in
 * float32 through lm_mlp_team (as `lmech train` does) and times it, then times one float64
 * gradient against one float64 HVP, and prints the JSON line bench/cnn.sh and bench/gpt.sh read.
 */
#ifndef LM_BENCH_UTIL_H
#define LM_BENCH_UTIL_H

#include "lmech/core.h"
#include "lmech/loss.h"
#include "lmech/model.h"
#include "lmech/optim.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The best call of a square 1024 sgemm after a warm-up, at the current BLAS thread setting. */
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

/* A training benchmark: model m on n examples X [n, d_in], Y [n, d_out] (float32, in the order
 * the minibatches are sliced), batch B, optimizer os (the model's Adam or SGD rate table). */
typedef struct bench_train {
    const lm_mlp *m;
    const float *X, *Y;
    size_t n, B;
    lm_optim_spec os;
    double seconds;  /* of timed training, in three repeats                          */
    double gemm_mac; /* GEMM multiply-adds of one step (for GFLOP/s)                 */
    const char *data;
} bench_train;

/* Runs the benchmark and prints its JSON line: steps/s (median of 3 repeats after a 0.2 s
 * warm-up), GEMM GFLOP/s, the sgemm peak, the allocations of training steps after the first,
 * the float64 gradient and HVP times on one batch (median of 7 after a warm-up), the process CPU
 * time per step. Returns 0, or 1 with a message on stderr. */
static inline int bench_train_run(const bench_train *b) {
    const lm_mlp *m = b->m;
    const size_t p = m->n_params, d = m->d_in, k = m->d_out, B = b->B, nb = b->n / b->B;
    lm_err err = {0};
    lm_mlp_team *team = NULL;
    lm_optim *opt = NULL;
    lm_mlp_ws *ws = NULL;
    double *th64 = malloc(p * sizeof *th64), *mult = NULL;
    float *theta = malloc(p * sizeof *theta), *grad = malloc(p * sizeof *grad);
    const size_t nseg = lm_mlp_n_segments(m);
    size_t *seg = malloc((nseg + 1) * sizeof *seg);
    mult = malloc(nseg * sizeof *mult);
    double *x64 = malloc(B * d * sizeof *x64), *y64 = malloc(B * k * sizeof *y64),
           *g64 = malloc(p * sizeof *g64), *v = malloc(p * sizeof *v), *hv = malloc(p * sizeof *hv);
    int rc = 1;
    lm_mlp_init(m, 0, th64, &err);
    for (size_t i = 0; i < p; i++)
        theta[i] = (float) th64[i];
    lm_mlp_segments(m, lm_opt_is_adam(b->os.kind), seg, mult);
    if (lm_mlp_team_new(m, B, LM_F32, lm_threads_get(), &team, &err) != LM_OK ||
        lm_optim_new(&b->os, p, LM_F32, nseg, seg, mult, 0, &opt, &err) != LM_OK ||
        lm_mlp_ws_new(m, B, LM_F64, &ws, &err) != LM_OK)
        goto done;
    size_t step = 0;
    double loss = 0;
#define BENCH_STEP()                                                                               \
    do {                                                                                           \
        const size_t bb = step % nb;                                                               \
        if (lm_mlp_team_loss_grad(team, LM_LOSS_CE, theta, b->X + bb * B * d, b->Y + bb * B * k,   \
                                  B, &loss, grad, &err) != LM_OK)                                  \
            goto done;                                                                             \
        lm_optim_step(opt, theta, grad, step, NULL);                                               \
        step++;                                                                                    \
    } while (0)
    const double tw = lm_now();
    while (step < 3 || lm_now() - tw < 0.2)
        BENCH_STEP();
    const uint64_t allocs0 = lm_alloc_count();
    double rates[3];
    size_t steps_rep = 0;
    const size_t step0 = step;
    const clock_t cpu0 = clock();
    for (int rep = 0; rep < 3; rep++) {
        const double t = lm_now();
        const size_t s0 = step;
        while (lm_now() - t < b->seconds / 3.0 || step - s0 < 3)
            BENCH_STEP();
        rates[rep] = (double) (step - s0) / (lm_now() - t);
        steps_rep = step - s0;
    }
#undef BENCH_STEP
    const double cpu_ms =
        1e3 * (double) (clock() - cpu0) / CLOCKS_PER_SEC / (double) (step - step0);
    const uint64_t allocs = lm_alloc_count() - allocs0;
    const double med = bench_median(rates, 3);
    /* float64: one gradient against one HVP on the first batch */
    for (size_t i = 0; i < B * d; i++)
        x64[i] = (double) b->X[i];
    for (size_t i = 0; i < B * k; i++)
        y64[i] = (double) b->Y[i];
    lm_rng r;
    lm_rng_seed(&r, 2, 0);
    for (size_t i = 0; i < p; i++)
        v[i] = lm_rng_normal(&r);
    double tg[7], th[7], l64;
    for (int rep = 0; rep < 8; rep++) { /* the first of each is a warm-up */
        double t = lm_now();
        if (lm_mlp_loss_grad(m, ws, LM_LOSS_CE, th64, x64, y64, B, &l64, g64, NULL, &err) != LM_OK)
            goto done;
        t = lm_now() - t;
        if (rep)
            tg[rep - 1] = t;
    }
    if (lm_mlp_hvp_prepare(m, ws, LM_LOSS_CE, th64, x64, y64, B, NULL, NULL, &err) != LM_OK)
        goto done;
    for (int rep = 0; rep < 8; rep++) {
        double t = lm_now();
        lm_mlp_hvp_apply(m, ws, v, hv, NULL);
        t = lm_now() - t;
        if (rep)
            th[rep - 1] = t;
    }
    const double grad_s = bench_median(tg, 7), hvp_s = bench_median(th, 7);
    const double peak = bench_sgemm_peak();
    printf("{\"impl\":\"lmech\",\"batch\":%zu,\"data\":\"%s\",\"params\":%zu,\"steps_per_s\":%.3f,"
           "\"gemm_gflops\":%.2f,\"sgemm_peak_gflops\":%.2f,\"steps_timed\":%zu,\"loss\":%.5f,"
           "\"allocs_after_first_step\":%llu,\"f64_grad_s\":%.6f,\"f64_hvp_s\":%.6f,"
           "\"hvp_over_grad\":%.3f,\"threads\":%d,\"cpu_ms_per_step\":%.2f}\n",
           B, b->data, p, med, med * 2.0 * b->gemm_mac / 1e9, peak, steps_rep, loss,
           (unsigned long long) allocs, grad_s, hvp_s, hvp_s / grad_s, lm_threads_get(), cpu_ms);
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    lm_mlp_ws_free(ws);
    lm_mlp_team_free(team);
    lm_optim_free(opt);
    free(th64), free(theta), free(grad), free(seg), free(mult);
    free(x64), free(y64), free(g64), free(v), free(hv);
    return rc;
}

#endif
