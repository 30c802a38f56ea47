/*
 * exp_mup_transfer_gpt.c: learning-rate transfer under muP on a transformer (Yang et al. 2022,
 * TP-V; science.md §5 "LR transfer"), the MLP experiment mup-transfer carried to model.arch
 * "gpt". A one-block pre-norm GPT (4 heads, mlp_ratio 4, predict every position) learns the
 * next byte of /usr/share/common-licenses/GPL-3 (data.source "text": vocab 256) with Adam and
 * minibatches, in SP and in muP (base width = the smallest d_model), on a log2 grid of learning
 * rates, each run with several seeds (initialisation and batch order). The width is d_model with
 * the number of heads fixed, so d_head grows and muP's 1/d_head attention scaling is exercised
 * (exp_mup_coordcheck_gpt.c says why).
 *
 * Score, eta* and claims are the MLP experiment's (one source: mup_analysis.c): the mean
 * training-set cross-entropy recorded in the last `window` steps; eta* the vertex of the parabola
 * in log2 eta through the 5 grid points around the best seed-mean score; bootstrap 95 % over the
 * seeds. Pass (science.md §5): muP's range of log2 eta* <= 1.0; SP's shift
 * log2 eta*(d_min) - log2 eta*(d_max) >= 0.375 per octave of width (1.125 over 8x, 1.5 over 16x);
 * muP's loss at eta* not increasing by more than 1 % between neighbouring widths.
 * Workload and sizes: see sizes() and docs/experiments/mup-transfer-gpt.md (pilots first).
 */
#include "exp/internal.h"

#include <stdio.h>
#include <string.h>

static const char *BASE =
    "{\"name\": \"mup-transfer-gpt\", \"seed\": 0, \"data\": {\"source\": \"text\", \"path\": "
    "\"/usr/share/common-licenses/GPL-3\", \"context\": 16, \"train_size\": 256, \"test_size\": 0},"
    " \"model\": {\"arch\": \"gpt\", \"vocab\": 256, \"context\": 16, \"d_model\": 32, \"heads\": "
    "4,"
    " \"blocks\": 1, \"predict\": \"every\", \"base_width\": 32},"
    " \"loss\": \"ce\", \"optimizer\": {\"name\": \"adam\", \"lr\": 0.001}, \"batch_size\": 16,"
    " \"steps\": 150, \"eval_every\": 10, \"threads\": 1}";

#define N_PARAM 2

static const char *PARAMS[N_PARAM] = {"sp", "mup"};

typedef struct sweep {
    lm__exp_tr tr;
    size_t train, eval_every, context, blocks;
} sweep;

static sweep sizes(int quick) {
    sweep s;
    memset(&s, 0, sizeof s);
    lm__exp_tr *t = &s.tr;
    t->fig_prefix = "mup-transfer-gpt";
    t->width_name = "d_model";
    t->n_w = 4;
    t->n_s = 3;
    t->n_lr = 7;
    t->window = 50;
    s.blocks = 1;
    if (quick) {
        for (size_t w = 0; w < t->n_w; w++)
            t->width[w] = (size_t) 16 << w; /* 16 .. 128 (8x) */
        t->steps = 150;
        s.eval_every = 10; /* five evaluations in the window */
        s.train = 256;
        s.context = 8;
        /* pilot (1 seed, log2 eta = -12 .. -3): SP eta* 2^-5.5 (d 16) .. 2^-8.4 (d 128), muP
         * 2^-5.4 .. 2^-5.3; each grid keeps them >= 1.5 octaves from its edges */
        for (size_t i = 0; i < t->n_lr; i++) {
            t->log2lr[0][i] = -10.0 + (double) i; /* -10 .. -4 */
            t->log2lr[1][i] = -8.0 + (double) i;  /* -8 .. -2 */
        }
    } else {
        for (size_t w = 0; w < t->n_w; w++)
            t->width[w] = (size_t) 32 << w; /* 32 .. 256 (8x) */
        t->steps = 200;
        s.eval_every = 20; /* three evaluations in the window (150, 200]: 160, 180, 200 */
        s.train = 256;
        s.context = 16;
        for (size_t i = 0; i < t->n_lr; i++) {
            t->log2lr[0][i] = -11.0 + (double) i; /* -11 .. -5 */
            t->log2lr[1][i] = -8.0 + (double) i;  /* -8 .. -2 */
        }
    }
    t->base = t->width[0];
    return s;
}

/* Plan order: seed, parameterization, width, rate (lm__exp_tr_index). */
static lm_status plan(int quick, lm_exp_plan *pl, lm_err *err) {
    const sweep s = sizes(quick);
    const lm__exp_tr *t = &s.tr;
    for (size_t r = 0; r < t->n_s; r++)
        for (size_t p = 0; p < N_PARAM; p++)
            for (size_t w = 0; w < t->n_w; w++)
                for (size_t k = 0; k < t->n_lr; k++) {
                    char width[48], param[48], base[48], lr[48], steps[32], train[48], seed[32],
                        every[32], ctx1[48], ctx2[48], blocks[48], label[96];
                    snprintf(width, sizeof width, "model.d_model=%zu", t->width[w]);
                    snprintf(param, sizeof param, "model.parameterization=\"%s\"", PARAMS[p]);
                    snprintf(base, sizeof base, "model.base_width=%zu", t->base);
                    snprintf(lr, sizeof lr, "optimizer.lr=%.17g", exp2(t->log2lr[p][k]));
                    snprintf(steps, sizeof steps, "steps=%zu", t->steps);
                    snprintf(train, sizeof train, "data.train_size=%zu", s.train);
                    snprintf(seed, sizeof seed, "seed=%zu", r);
                    snprintf(every, sizeof every, "eval_every=%zu", s.eval_every);
                    snprintf(ctx1, sizeof ctx1, "data.context=%zu", s.context);
                    snprintf(ctx2, sizeof ctx2, "model.context=%zu", s.context);
                    snprintf(blocks, sizeof blocks, "model.blocks=%zu", s.blocks);
                    snprintf(label, sizeof label, "%s d_model=%zu log2lr=%g seed=%zu", PARAMS[p],
                             t->width[w], t->log2lr[p][k], r);
                    const char *sets[] = {width, param, base, lr,   steps, train,
                                          seed,  every, ctx1, ctx2, blocks};
                    LM_TRY(lm_exp_plan_add(pl, label, BASE, 11, sets, err));
                }
    return LM_OK;
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    const sweep s = sizes(ctx->quick);
    return lm__exp_tr_analyse(ctx, &s.tr, err);
}

const lm_experiment lm__exp_mup_transfer_gpt = {
    .name = "mup-transfer-gpt",
    .summary = "muP learning-rate transfer on a transformer: the optimal Adam LR stays put "
               "across d_model in muP and drifts in SP",
    .quick = "d_model 16-128 (4 heads, base 16), 1 block, context 8, 256 windows, 7 LRs, 150 "
             "steps, 3 seeds (full: 32-256, context 16, 200 steps)",
    .plan = plan,
    .analyse = analyse,
};
