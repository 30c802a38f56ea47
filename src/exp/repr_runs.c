/*
 * repr_runs.c: the similarity run of science.md §9 and the representations read back from it,
 * shared by the experiments cka-invariance, cka-seeds, cka-width and knn-alignment.
 *
 * The run: 196-w-w-w-10 ReLU (w = 256 at the documented size) on the first 2000 Fashion-MNIST
 * training images pooled 2x2 and standardised (FMNIST-196), CE, SGD with momentum 0.9, lr 0.05,
 * weight decay 5e-4, batch 128, 300 epochs; the first 1000 test images are the inputs whose
 * representations are compared. Subsets are the FIRST images (not seeded permutations) so that
 * every seed trains on the same data and is probed on the same inputs: the seed changes only the
 * initialisation and the minibatch order, which is what a cross-seed comparison asks. The quick
 * size is 1000 training images and 40 epochs. The experiments plan identical configs, so a
 * database that ran one of them reuses its runs for the others (runner.c).
 *
 * cka-architectures adds a CNN trained the same way on the same data (SIM_CNN_BASE).
 *
 * Representations come from THE forward pass (lm_mlp_features) at the run's final checkpoint or,
 * for the untrained baseline, at theta_0 rebuilt from the config (lm_train_init_params).
 */
#include "exp/internal.h"

#include "lmech/loss.h"
#include "lmech/train.h"

#include <stdio.h>
#include <string.h>

/* The data, loss and optimiser of the similarity run, shared by the MLP and the CNN (below). */
#define SIM_COMMON                                                                                 \
    " \"data\": {\"source\": \"fashion-mnist\", \"train_size\": 2000, \"test_size\": 1000,"        \
    "  \"subset\": \"first\", \"pool\": 2, \"normalize\": \"standardize\"},"                       \
    " \"loss\": \"ce\", \"optimizer\": {\"name\": \"sgd\", \"lr\": 0.05, \"momentum\": 0.9,"       \
    "  \"weight_decay\": 0.0005},"                                                                 \
    " \"batch_size\": 128, \"epochs\": 300, \"eval_every\": 500, \"threads\": 1}"

static const char *SIM_BASE =
    "{\"name\": \"similarity-run\", \"seed\": 0,"
    " \"model\": {\"widths\": [196, 256, 256, 256, 10], \"activation\": \"relu\"}," SIM_COMMON;

/* The CNN of cka-architectures on the same data, the images as [1, 14, 14]: two conv blocks
 * (conv 3x3 pad 1, relu, 2x2 average pooling: [8,7,7] then [16,3,3]), a dense hidden layer of
 * 128 and the logits; representation layers (lm_mlp_features) 3, 6, 9, 10 are the blocks'
 * outputs, the penultimate layer and the logits (LM__SIM_CNN_LAYERS). */
static const char *SIM_CNN_BASE =
    "{\"name\": \"similarity-cnn\", \"seed\": 0,"
    " \"model\": {\"input_shape\": [1, 14, 14], \"layers\": ["
    "  {\"type\": \"conv2d\", \"out\": 8, \"kernel\": 3, \"padding\": 1}, {\"type\": \"relu\"},"
    "  {\"type\": \"avgpool2d\", \"kernel\": 2},"
    "  {\"type\": \"conv2d\", \"out\": 16, \"kernel\": 3, \"padding\": 1}, {\"type\": \"relu\"},"
    "  {\"type\": \"avgpool2d\", \"kernel\": 2}, {\"type\": \"flatten\"},"
    "  {\"type\": \"linear\", \"out\": 128}, {\"type\": \"relu\"},"
    "  {\"type\": \"linear\", \"out\": 10}]}," SIM_COMMON;

lm_status lm__exp_sim_plan_add_cnn(lm_exp_plan *p, int quick, size_t seed, lm_err *err) {
    char label[96], sd[32], sn[48], se[32];
    snprintf(sd, sizeof sd, "seed=%zu", seed);
    snprintf(sn, sizeof sn, "data.train_size=%d", quick ? LM__SIM_QUICK_TRAIN : LM__SIM_TRAIN);
    snprintf(se, sizeof se, "epochs=%d", quick ? LM__SIM_QUICK_EPOCHS : LM__SIM_EPOCHS);
    snprintf(label, sizeof label, "cnn seed=%zu", seed);
    const char *sets[] = {sd, sn, se};
    return lm_exp_plan_add(p, label, SIM_CNN_BASE, 3, sets, err);
}

lm_status lm__exp_sim_plan_add(lm_exp_plan *p, int quick, size_t width, size_t seed, lm_err *err) {
    char label[96], sw[96], sd[32], sn[48], se[32];
    snprintf(sw, sizeof sw, "model.widths=[196, %zu, %zu, %zu, 10]", width, width, width);
    snprintf(sd, sizeof sd, "seed=%zu", seed);
    snprintf(sn, sizeof sn, "data.train_size=%d", quick ? LM__SIM_QUICK_TRAIN : LM__SIM_TRAIN);
    snprintf(se, sizeof se, "epochs=%d", quick ? LM__SIM_QUICK_EPOCHS : LM__SIM_EPOCHS);
    snprintf(label, sizeof label, "width=%zu seed=%zu", width, seed);
    const char *sets[] = {sw, sd, sn, se};
    return lm_exp_plan_add(p, label, SIM_BASE, 4, sets, err);
}

void lm__exp_reps_free(lm__exp_reps *r) {
    for (size_t l = 0; l <= LM_MAX_LAYERS; l++)
        lm_free(r->h[l]);
    memset(r, 0, sizeof *r);
}

lm_status lm__exp_reps_load(const lm_exp_ctx *ctx, int64_t run, int at_init, lm__exp_reps *r,
                            lm_err *err) {
    memset(r, 0, sizeof *r);
    if (run <= 0)
        LM_FAIL(err, LM_EINVAL, "representations: run %lld did not finish", (long long) run);
    lm__exp_net net;
    LM_TRY(lm__exp_net_open(ctx, run, 1, &net, err));
    lm_status st = LM_OK;
    if (!net.test || net.test->n < 4)
        st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                        "representations: run %lld has %zu test inputs (needs >= 4)",
                        (long long) run, net.test ? net.test->n : 0);
    double *theta = net.theta;
    double *theta0 = NULL;
    if (st == LM_OK && at_init) {
        theta0 = lm_malloc(net.m->n_params * sizeof *theta0);
        st = theta0 ? lm_train_init_params(net.cfg, net.m, theta0, err)
                    : lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                                 "representations: out of memory for run %lld's theta_0",
                                 (long long) run);
        theta = theta0;
    }
    lm_mlp_ws *ws = NULL;
    if (st == LM_OK)
        st = lm_mlp_ws_new(net.m, 256, LM_F64, &ws, err);
    if (st == LM_OK) {
        r->n = net.test->n;
        r->L = net.m->n_repr; /* layers 0 .. n_repr: every node's output of a graph model */
        r->accuracy = LM_NAN;
    }
    for (size_t l = 0; st == LM_OK && l <= r->L; l++) {
        r->width[l] = lm_mlp_layer_width(net.m, l);
        r->h[l] = lm_malloc(r->n * r->width[l] * sizeof *r->h[l]);
        if (!r->h[l])
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                            "representations: out of memory for run %lld's layer %zu",
                            (long long) run, l);
    }
    if (st == LM_OK) /* every layer from one forward pass */
        st = lm_mlp_features_layers(net.m, ws, theta, net.test->x, r->n, r->h, err);
    /* test accuracy from the outputs (one-hot targets of the classification set) */
    if (st == LM_OK && net.test->labels && net.test->k == r->width[r->L])
        r->accuracy = lm_accuracy(r->h[r->L], net.test->y, r->n, net.test->k);
    lm_mlp_ws_free(ws);
    lm_free(theta0);
    lm__exp_net_free(&net);
    if (st != LM_OK)
        lm__exp_reps_free(r);
    return st;
}

lm__exp_sim_pairs lm__exp_sim_pairs_for(int quick) {
    return (lm__exp_sim_pairs){quick ? LM__SIM_QUICK_WIDTH : LM__SIM_WIDTH, LM__SIM_SEEDS / 2};
}

lm_status lm__exp_sim_plan_pairs(int quick, lm_exp_plan *p, lm_err *err) {
    const lm__exp_sim_pairs d = lm__exp_sim_pairs_for(quick);
    for (size_t s = 0; s < 2 * d.pairs; s++)
        LM_TRY(lm__exp_sim_plan_add(p, quick, d.width, s, err));
    return LM_OK;
}
