/*
 * bench_cnn_layers.c: where a float32 training step of bench_cnn's CNN spends its time, layer by
 * layer. The network of bench_cnn.c (conv 1->16 3x3 pad 1, relu, avgpool 2, conv 16->32 3x3 pad
 * 1, relu, avgpool 2, flatten, linear 1568->10) is built with lm_mlp_spec.layers; each node's
 * forward_f32 and backward_f32 (layer.h's contract, called directly on the graph's own buffers
 * and scratch) is timed alone on one batch of N(0, 1) images, on one thread, in thread CPU time
 * (steadier than the wall clock on a shared machine): the median of REPS calls after a warm-up.
 *
 *   bench_cnn_layers [BATCH [REPS]]   ->  one line per node, then the totals (ms per batch), then
 *   whole passes: the float32 loss and gradient (a training step without the optimizer) and
 *   the float64 gradient and HVP (bench_cnn's HVP/gradient ratio), same timing
 *
 * Internal: it includes src/model/graph.h (the static library exports the layer tables).
 */
#include "lmech/model.h"
#include "model/graph.h"
#include "model/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static lm_layer_spec layer(lm_layer_type t, size_t out, size_t k, size_t p) {
    lm_layer_spec l = {.type = t, .out = out, .kernel = k, .padding = p, .bias = -1};
    return l;
}

#define MAX_REPS 1000

int main(int argc, char **argv) {
    const size_t B = argc > 1 ? (size_t) atol(argv[1]) : 128;
    int reps = argc > 2 ? atoi(argv[2]) : 41;
    if (B == 0 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "usage: %s [BATCH [REPS (1..%d)]]\n", argv[0], MAX_REPS);
        return 2;
    }
    lm_err err = {0};
    if (lm_threads_set(1, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
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
    lm_mlp_ws *ws;
    if (lm_mlp_new(&s, &m, &err) != LM_OK || lm_mlp_ws_new(m, B, LM_F32, &ws, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const size_t p = m->n_params, d = 784;
    double *th64 = malloc(p * sizeof *th64);
    float *th = malloc(p * sizeof *th), *gth = malloc(p * sizeof *gth);
    float *x = malloc(B * d * sizeof *x);
    lm_rng r;
    lm_rng_seed(&r, 1, 0);
    lm_mlp_init(m, 0, th64, &err);
    for (size_t i = 0; i < p; i++)
        th[i] = (float) th64[i];
    for (size_t i = 0; i < B * d; i++)
        x[i] = (float) lm_rng_normal(&r);
    lm__graph_forward_f32(m, ws, th, x, B);
    const lm__graph *g = m->graph;
    for (size_t b = 1; b < g->n_buf; b++) {
        float *gb = ws->grad[b];
        for (size_t i = 0; i < B * g->buf_size[b]; i++)
            gb[i] = (float) lm_rng_normal(&r);
    }
    static double t[MAX_REPS];
    double tot_f = 0, tot_b = 0;
    printf("batch %zu, one thread, median CPU ms of %d calls\n%-18s %9s %9s\n", B, reps, "node",
           "forward", "backward");
    for (size_t i = 0; i < g->n_nodes; i++) {
        const lm__node *nd = &g->node[i];
        const float *in = ws->val[nd->in_buf];
        float *out = ws->val[nd->out_buf];
        float *gx = nd->in_buf ? ws->grad[nd->in_buf] : NULL;
        double med[2];
        for (int pass = 0; pass < 2; pass++) {
            for (int k = -2; k < reps; k++) {
                const double t0 = cpu_now();
                if (pass == 0)
                    nd->ops->forward_f32(nd, th + nd->p_off, in, out, B, ws->scr);
                else
                    nd->ops->backward_f32(nd, th + nd->p_off, in, out, ws->grad[nd->out_buf], gx, 0,
                                          gth + nd->p_off, B, ws->scr);
                if (k >= 0)
                    t[k] = cpu_now() - t0;
            }
            qsort(t, (size_t) reps, sizeof *t, cmp_d);
            med[pass] = 1e3 * t[reps / 2];
        }
        char name[64];
        snprintf(name, sizeof name, "%zu %s", i, lm_layer_type_name(&nd->spec));
        printf("%-18s %9.3f %9.3f\n", name, med[0], med[1]);
        tot_f += med[0], tot_b += med[1];
    }
    printf("%-18s %9.3f %9.3f   sum %.3f ms\n", "total", tot_f, tot_b, tot_f + tot_b);
    /* whole passes: the float32 loss and gradient (cross-entropy, the training step's work
     * without the optimizer), and in float64 one gradient and one HVP (after hvp_prepare) */
    float *y = calloc(B * 10, sizeof *y);
    double *x64 = malloc(B * d * sizeof *x64), *y64 = calloc(B * 10, sizeof *y64),
           *g64 = malloc(p * sizeof *g64), *v = malloc(p * sizeof *v), *hv = malloc(p * sizeof *hv),
           loss;
    for (size_t i = 0; i < B; i++)
        y[i * 10 + i % 10] = 1.0f, y64[i * 10 + i % 10] = 1.0;
    for (size_t i = 0; i < B * d; i++)
        x64[i] = (double) x[i];
    for (size_t i = 0; i < p; i++)
        v[i] = lm_rng_normal(&r);
    lm_mlp_ws *w64;
    if (lm_mlp_ws_new(m, B, LM_F64, &w64, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double med[3];
    for (int what = 0; what < 3; what++) {
        if (what == 2)
            lm_mlp_hvp_prepare(m, w64, LM_LOSS_CE, th64, x64, y64, B, NULL, NULL, NULL);
        for (int k = -2; k < reps; k++) {
            const double t0 = cpu_now();
            if (what == 0)
                lm_mlp_loss_grad_f32(m, ws, LM_LOSS_CE, th, x, y, B, &loss, gth, NULL, NULL);
            else if (what == 1)
                lm_mlp_loss_grad(m, w64, LM_LOSS_CE, th64, x64, y64, B, &loss, g64, NULL, NULL);
            else
                lm_mlp_hvp_apply(m, w64, v, hv, NULL);
            if (k >= 0)
                t[k] = cpu_now() - t0;
        }
        qsort(t, (size_t) reps, sizeof *t, cmp_d);
        med[what] = 1e3 * t[reps / 2];
    }
    printf("float32 loss+grad %.3f ms;  float64 grad %.3f ms, HVP %.3f ms (HVP/grad %.2f)\n",
           med[0], med[1], med[2], med[2] / med[1]);
    lm_mlp_ws_free(w64);
    free(y), free(x64), free(y64), free(g64), free(v), free(hv);
    lm_mlp_ws_free(ws);
    lm_mlp_free(m);
    free(th64), free(th), free(gth), free(x);
    return 0;
}
