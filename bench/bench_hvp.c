/*
 * bench_hvp.c: the cost of one exact Hessian-vector product in gradient evaluations, with the
 * forward and backward state at the evaluation point kept between products (as Lanczos allows).
 * Issue 4's setting: 784-512-512-10 tanh, the first 2000 Fashion-MNIST training images
 * (pixels/255), float64, mse. Prints one JSON line: median gradient time, median HVP time, ratio.
 * DTYPE f32 times the float32 R-operator (lm_mlp_hvp_apply_f32) against the float32 gradient;
 * WIDTH sets the hidden width (200: bench/eos_f32.sh's network).
 *
 *   bench_hvp [REPS] [f64|f32] [WIDTH]
 */
#include "lmech/data.h"
#include "lmech/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 7;
    const int f32 = argc > 2 && strcmp(argv[2], "f32") == 0;
    const size_t width = argc > 3 ? (size_t) atoi(argv[3]) : 512;
    if (reps < 1 || reps > 99 || width < 1)
        return 2;
    lm_err err = {0};
    lm_threads_set(getenv("LM_THREADS") ? atoi(getenv("LM_THREADS")) : 2, &err);
    lm_data_spec ds = lm_data_spec_default();
    ds.train_size = 2000;
    ds.test_size = 0;
    lm_dataset *train, *test;
    if (lm_data_load(&ds, 0, &train, &test, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = 4;
    s.widths[0] = 784;
    s.widths[1] = width;
    s.widths[2] = width;
    s.widths[3] = 10;
    s.act = LM_ACT_TANH;
    lm_mlp *m;
    lm_mlp_ws *ws;
    if (lm_mlp_new(&s, &m, &err) != LM_OK ||
        lm_mlp_ws_new(m, 2000, f32 ? LM_F32 : LM_F64, &ws, &err) != LM_OK)
        return 1;
    const size_t p = m->n_params;
    double *theta = malloc(p * 8), *g = malloc(p * 8), *v = malloc(p * 8), *hv = malloc(p * 8);
    lm_mlp_init(m, 0, theta, &err);
    lm_rng r;
    lm_rng_seed(&r, 1, LM_STREAM_PROBE);
    for (size_t i = 0; i < p; i++)
        v[i] = lm_rng_normal(&r);
    float *theta32 = malloc(p * 4), *g32 = malloc(p * 4), *v32 = malloc(p * 4),
          *hv32 = malloc(p * 4), *x32 = malloc(2000 * 784 * 4), *y32 = malloc(2000 * 10 * 4);
    for (size_t i = 0; i < p; i++) {
        theta32[i] = (float) theta[i];
        v32[i] = (float) v[i];
    }
    for (size_t i = 0; i < 2000 * 784; i++)
        x32[i] = (float) train->x[i];
    for (size_t i = 0; i < 2000 * 10; i++)
        y32[i] = (float) train->y[i];
    double tg[99], th[99], loss;
    for (int k = 0; k <= reps; k++) { /* k = 0 is the warm-up */
        double t = lm_now();
        if (f32)
            lm_mlp_loss_grad_f32(m, ws, LM_LOSS_MSE, theta32, x32, y32, 2000, &loss, g32, NULL,
                                 NULL);
        else
            lm_mlp_loss_grad(m, ws, LM_LOSS_MSE, theta, train->x, train->y, 2000, &loss, g, NULL,
                             NULL);
        if (k)
            tg[k - 1] = lm_now() - t;
    }
    if (f32)
        lm_mlp_hvp_prepare_f32(m, ws, LM_LOSS_MSE, theta32, x32, y32, 2000, NULL, NULL, NULL);
    else
        lm_mlp_hvp_prepare(m, ws, LM_LOSS_MSE, theta, train->x, train->y, 2000, NULL, NULL, NULL);
    for (int k = 0; k <= reps; k++) {
        double t = lm_now();
        if (f32)
            lm_mlp_hvp_apply_f32(m, ws, v32, hv32, NULL);
        else
            lm_mlp_hvp_apply(m, ws, v, hv, NULL);
        if (k)
            th[k - 1] = lm_now() - t;
    }
    qsort(tg, (size_t) reps, sizeof *tg, cmp);
    qsort(th, (size_t) reps, sizeof *th, cmp);
    /* the minimum too: on a shared machine it is the steadier figure (preemption only adds) */
    printf("{\"impl\":\"lmech\",\"dtype\":\"%s\",\"params\":%zu,\"grad_ms\":%.2f,"
           "\"hvp_ms\":%.2f,\"hvp_over_grad\":%.3f,\"grad_min_ms\":%.2f,\"hvp_min_ms\":%.2f,"
           "\"min_hvp_over_grad\":%.3f}\n",
           f32 ? "float32" : "float64", p, 1e3 * tg[reps / 2], 1e3 * th[reps / 2],
           th[reps / 2] / tg[reps / 2], 1e3 * tg[0], 1e3 * th[0], th[0] / tg[0]);
    free(theta);
    free(g);
    free(v);
    free(hv);
    free(theta32);
    free(g32);
    free(v32);
    free(hv32);
    free(x32);
    free(y32);
    lm_mlp_ws_free(ws);
    lm_mlp_free(m);
    lm_dataset_free(train);
    return 0;
}
