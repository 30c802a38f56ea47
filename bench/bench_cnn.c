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
#include "bench_util.h"
#include "lmech/data.h"

#include <string.h>

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
    if (lm_mlp_new(&s, &m, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    /* GEMM multiply-adds of a step: forward, weight gradient and (not for the first layer, whose
     * input is the data) input gradient of each conv and of the linear layer */
    const double c1 = 16.0 * 9 * 784, c2 = 32.0 * 144 * 196, l3 = 10.0 * 1568;
    bench_train b = {.m = m,
                     .X = X,
                     .Y = Y,
                     .n = n,
                     .B = B,
                     .os = lm_optim_spec_default(),
                     .seconds = seconds,
                     .gemm_mac = (double) B * (2 * c1 + 3 * c2 + 3 * l3),
                     .data = synthetic ? "synthetic" : "fashion-mnist"};
    b.os.lr = 0.05;
    const int rc = bench_train_run(&b);
    lm_mlp_free(m);
    if (train)
        lm_dataset_free(train);
    if (test)
        lm_dataset_free(test);
    free(X), free(Y);
    return rc;
}
