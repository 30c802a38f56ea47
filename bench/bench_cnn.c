/*
 * bench_cnn.c: lmech's side of the CNN benchmark (bench/cnn.sh runs PyTorch's side,
 * bench/torch_cnn.py, in the same session). The small CNN of issue 15, built with
 * lm_mlp_spec.layers:
 *   conv 1->16 3x3 pad 1, relu, avgpool 2, conv 16->32 3x3 pad 1, relu, avgpool 2, flatten,
 *   linear 1568->10
 * trained in float32 with cross-entropy and plain SGD (lr 0.05) on Fashion-MNIST minibatches
 * sliced contiguously from a once-shuffled copy of the 60000 training images (pixels/255), or on
 * synthetic images (N(0,1) pixels, random labels; "data":"synthetic") when the dataset is
 * absent. The loss and gradient run through lm_mlp_team with LM_THREADS threads (default 2), as
 * `lmech train` does.
 *
 *   bench_cnn BATCH SECONDS   ->  one JSON line
 *
 * Also: the sgemm peak of this run (best call of a square 1024 GEMM), the GEMM work of a step
 * (below) as GFLOP/s, the allocations made by training steps after the first (must be 0), and
 * one float64 HVP (lm_mlp_hvp_apply after lm_mlp_hvp_prepare) against one float64 loss and
 * gradient (lm_mlp_loss_grad) on one batch of BATCH images, median of 7 calls each, and the
 * process CPU time per training step (all threads; on a machine shared with other work it is
 * steadier than the wall clock).
 */
#include "lmech/data.h"
#include "lmech/loss.h"
#include "lmech/model.h"
#include "lmech/optim.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double sgemm_peak(void) {
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

static double median(double *v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

static lm_layer_spec layer(lm_layer_type t, size_t out, size_t k, size_t p) {
    lm_layer_spec l = {.type = t, .out = out, .kernel = k, .padding = p, .bias = -1};
    return l;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s BATCH SECONDS\n", argv[0]);
        return 2;
    }
    const size_t B = (size_t) atol(argv[1]);
    const double seconds = atof(argv[2]);
    lm_err err = {0};
    lm_threads_set(getenv("LM_THREADS") ? atoi(getenv("LM_THREADS")) : 2, &err);
    const size_t d = 784, k = 10;
    size_t n = 60000;
    int synthetic = 0;
    float *X, *Y;
    lm_rng r;
    lm_rng_seed(&r, 1, 0);
    lm_data_spec ds = lm_data_spec_default();
    ds.test_size = 0;
    lm_dataset *train = NULL, *test = NULL;
    if (lm_data_load(&ds, 0, &train, &test, &err) == LM_OK && train->d == d && train->k == k) {
        n = train->n;
        size_t *perm = malloc(n * sizeof *perm);
        for (size_t i = 0; i < n; i++)
            perm[i] = i;
        lm_rng_shuffle(&r, perm, n);
        X = malloc(n * d * sizeof *X);
        Y = malloc(n * k * sizeof *Y);
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < d; j++)
                X[i * d + j] = (float) train->x[perm[i] * d + j];
            for (size_t j = 0; j < k; j++)
                Y[i * k + j] = (float) train->y[perm[i] * k + j];
        }
        free(perm);
    } else {
        synthetic = 1;
        n = 8192;
        X = malloc(n * d * sizeof *X);
        Y = calloc(n * k, sizeof *Y);
        for (size_t i = 0; i < n * d; i++)
            X[i] = (float) lm_rng_normal(&r);
        for (size_t i = 0; i < n; i++)
            Y[i * k + lm_rng_below(&r, k)] = 1.0f;
    }
    lm_mlp_spec s = lm_mlp_spec_default();
    const lm_layer_spec ls[] = {
        layer(LM_LAYER_CONV2D, 16, 3, 1),           {.type = LM_LAYER_ACT, .act = LM_ACT_RELU},
        layer(LM_LAYER_AVGPOOL2D, 0, 2, 0),         layer(LM_LAYER_CONV2D, 32, 3, 1),
        {.type = LM_LAYER_ACT, .act = LM_ACT_RELU}, layer(LM_LAYER_AVGPOOL2D, 0, 2, 0),
        layer(LM_LAYER_FLATTEN, 0, 0, 0),           layer(LM_LAYER_LINEAR, 10, 0, 0)};
    s.n_layer_specs = sizeof ls / sizeof *ls;
    memcpy(s.layers, ls, sizeof ls);
    s.n_input_shape = 3;
    s.input_shape[0] = 1, s.input_shape[1] = 28, s.input_shape[2] = 28;
    lm_mlp *m;
    lm_mlp_team *team;
    if (lm_mlp_new(&s, &m, &err) != LM_OK ||
        lm_mlp_team_new(m, B, LM_F32, lm_threads_get(), &team, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const size_t p = m->n_params;
    double *th64 = malloc(p * sizeof *th64);
    lm_mlp_init(m, 0, th64, &err);
    float *theta = malloc(p * sizeof *theta), *grad = malloc(p * sizeof *grad);
    for (size_t i = 0; i < p; i++)
        theta[i] = (float) th64[i];
    const size_t nseg = lm_mlp_n_segments(m);
    size_t *seg = malloc((nseg + 1) * sizeof *seg);
    double *mult = malloc(nseg * sizeof *mult);
    lm_mlp_segments(m, 0, seg, mult);
    lm_optim_spec os = lm_optim_spec_default();
    os.lr = 0.05;
    lm_optim *opt;
    if (lm_optim_new(&os, p, LM_F32, nseg, seg, mult, 0, &opt, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const size_t nb = n / B;
    size_t step = 0;
    double loss = 0;
#define STEP()                                                                                     \
    do {                                                                                           \
        size_t b = step % nb;                                                                      \
        lm_mlp_team_loss_grad(team, LM_LOSS_CE, theta, X + b * B * d, Y + b * B * k, B, &loss,     \
                              grad, NULL);                                                         \
        lm_optim_step(opt, theta, grad, step, NULL);                                               \
        step++;                                                                                    \
    } while (0)
    double tw = lm_now();
    while (step < 3 || lm_now() - tw < 0.2)
        STEP();
    const uint64_t allocs0 = lm_alloc_count();
    double rates[3];
    size_t steps_rep = 0;
    const size_t step0 = step;
    const clock_t cpu0 = clock();
    for (int rep = 0; rep < 3; rep++) {
        double t = lm_now();
        size_t s0 = step;
        while (lm_now() - t < seconds / 3.0 || step - s0 < 3)
            STEP();
        rates[rep] = (double) (step - s0) / (lm_now() - t);
        steps_rep = step - s0;
    }
    const double cpu_ms =
        1e3 * (double) (clock() - cpu0) / CLOCKS_PER_SEC / (double) (step - step0);
    const uint64_t allocs = lm_alloc_count() - allocs0;
    const double med = median(rates, 3);
    /* GEMM multiply-adds of a step: forward, weight gradient and (not for the first layer, whose
     * input is the data) input gradient of each conv and of the linear layer */
    const double c1 = 16.0 * 9 * 784, c2 = 32.0 * 144 * 196, l3 = 10.0 * 1568;
    const double macs = (double) B * (2 * c1 + 3 * c2 + 3 * l3);
    const double gflops = med * 2.0 * macs / 1e9;
    /* float64: one gradient against one HVP on one batch */
    lm_mlp_ws *ws;
    if (lm_mlp_ws_new(m, B, LM_F64, &ws, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double *x64 = malloc(B * d * sizeof *x64), *y64 = malloc(B * k * sizeof *y64),
           *g64 = malloc(p * sizeof *g64), *v = malloc(p * sizeof *v), *hv = malloc(p * sizeof *hv);
    for (size_t i = 0; i < B * d; i++)
        x64[i] = (double) X[i];
    for (size_t i = 0; i < B * k; i++)
        y64[i] = (double) Y[i];
    for (size_t i = 0; i < p; i++)
        v[i] = lm_rng_normal(&r);
    double tg[7], th[7], l64;
    for (int rep = 0; rep < 8; rep++) { /* the first of each is a warm-up */
        double t = lm_now();
        lm_mlp_loss_grad(m, ws, LM_LOSS_CE, th64, x64, y64, B, &l64, g64, NULL, NULL);
        t = lm_now() - t;
        if (rep)
            tg[rep - 1] = t;
    }
    lm_mlp_hvp_prepare(m, ws, LM_LOSS_CE, th64, x64, y64, B, NULL, NULL, NULL);
    for (int rep = 0; rep < 8; rep++) {
        double t = lm_now();
        lm_mlp_hvp_apply(m, ws, v, hv, NULL);
        t = lm_now() - t;
        if (rep)
            th[rep - 1] = t;
    }
    const double grad_s = median(tg, 7), hvp_s = median(th, 7);
    const double peak = sgemm_peak();
    printf("{\"impl\":\"lmech\",\"batch\":%zu,\"data\":\"%s\",\"params\":%zu,\"steps_per_s\":%.3f,"
           "\"gemm_gflops\":%.2f,\"sgemm_peak_gflops\":%.2f,\"steps_timed\":%zu,\"loss\":%.5f,"
           "\"allocs_after_first_step\":%llu,\"f64_grad_s\":%.6f,\"f64_hvp_s\":%.6f,"
           "\"hvp_over_grad\":%.3f,\"threads\":%d,\"cpu_ms_per_step\":%.2f}\n",
           B, synthetic ? "synthetic" : "fashion-mnist", p, med, gflops, peak, steps_rep, loss,
           (unsigned long long) allocs, grad_s, hvp_s, hvp_s / grad_s, lm_threads_get(), cpu_ms);
    lm_mlp_ws_free(ws);
    lm_mlp_team_free(team);
    lm_optim_free(opt);
    lm_mlp_free(m);
    if (train)
        lm_dataset_free(train);
    if (test)
        lm_dataset_free(test);
    free(X), free(Y), free(th64), free(theta), free(grad), free(seg), free(mult);
    free(x64), free(y64), free(g64), free(v), free(hv);
    return 0;
}
