/*
 * exp_mup_transfer.c: learning-rate transfer under muP (Yang et al. 2022, TP-V; science.md §5
 * "LR transfer"). 196-n-n-10 ReLU networks on 10k Fashion-MNIST-196 images, cross-entropy, Adam,
 * batch 128, 300 steps, in SP and in muP (base width 64), each on an 8-point log2 grid of learning
 * rates, each run with 4 seeds. The score of a run is its mean training loss over the last 50
 * steps: the full training-set cross-entropy recorded every 25 steps (eval_every), averaged over
 * steps 250, 275 and 300 (a 10k-example evaluation is ~20x a minibatch step at width 1024, so
 * evaluating every step would multiply the sweep's cost by ~5; three full-set evaluations are
 * less noisy than 50 minibatch losses).
 *
 * eta* of a width is the vertex of the least-squares parabola in log2 eta through the (up to 5)
 * grid points around the best one of the seed-mean scores; a best point at the grid edge, or a
 * non-convex fit, leaves eta* unmeasured, and so does a diverged run (its grid point is dropped).
 * Every number a claim uses (eta* per width, its range, SP's shift, muP's loss at eta*) is a
 * statistic of the seeds, and its uncertainty is a percentile bootstrap over the seeds: each
 * resample averages the scores of the resampled seeds and fits the parabolas again. A width
 * whose eta* could not be measured makes every claim over the widths inconclusive (it is named
 * in the detail): a range over fewer widths than the claim names decides nothing.
 *
 * Pass (science.md §5): muP's range of log2 eta* over the widths (16x) <= 1.0; SP's shift
 * log2 eta*(n_min) - log2 eta*(n_max) >= 1.5; muP's loss at eta* does not increase with width by
 * more than 1 % between neighbouring widths.
 * Workload: 2 x 5 widths x 8 rates x 4 seeds = 320 runs (the largest 1.26M parameters). Quick:
 * the minimum design of science.md §0 on smaller networks: 4 widths over 16x (16, 40, 100, 256;
 * base 16), 4 seeds, 6 rates (log2 eta = -10 .. -5 in SP, -9 .. -4 in muP), 2000 examples, 200
 * steps, scores every 10 steps (six evaluations in the window): 192 runs. With 3 seeds, widths
 * 2x apart and 3 evaluations per score the muP claims straddled their edges (docs). The scores,
 * eta*'s parabolas, the bootstrap, the claims and the figures are mup_analysis.c's (shared with
 * mup-transfer-gpt).
 */
#include "exp/internal.h"

#include <stdio.h>
#include <string.h>

static const char *BASE =
    "{\"name\": \"mup-transfer\", \"seed\": 0, \"data\": {\"source\": \"fashion-mnist\","
    "  \"train_size\": 10000, \"test_size\": 0, \"pool\": 2, \"normalize\": \"standardize\"},"
    " \"model\": {\"widths\": [196, 64, 64, 10], \"activation\": \"relu\", \"base_width\": 64},"
    " \"loss\": \"ce\", \"optimizer\": {\"name\": \"adam\", \"lr\": 0.001}, \"batch_size\": 128,"
    " \"steps\": 300, \"eval_every\": 25, \"threads\": 1}";

#define N_PARAM 2

static const char *PARAMS[N_PARAM] = {"sp", "mup"};
static const size_t QUICK_WIDTHS[4] = {16, 40, 100, 256}; /* 16x in steps of ~2.5x */

/* The sweep (mup_analysis.c analyses it) and what only the plan needs. */
typedef struct sweep {
    lm__exp_tr tr;
    size_t train, eval_every;
} sweep;

static sweep sizes(int quick) {
    sweep s;
    memset(&s, 0, sizeof s);
    lm__exp_tr *t = &s.tr;
    t->fig_prefix = "mup-transfer";
    t->width_name = "n";
    t->window = 50; /* the score averages the last 50 steps (science.md §5) */
    if (quick) {
        t->n_w = 4;
        memcpy(t->width, QUICK_WIDTHS, sizeof QUICK_WIDTHS);
        s.eval_every = 10; /* six evaluations in the window: a 2000-example score is noisy */
        t->base = 16;
        t->n_lr = 6;
        t->n_s = 4;
        t->steps = 200;
        s.train = 2000;
        /* measured at this size (1 seed, log2 eta = -11 .. -4): SP eta* 2^-6.1 (n = 16) ..
         * 2^-8.1 (n = 256), muP 2^-6.1 .. 2^-5.5; each grid keeps them >= 1.5 octaves from its
         * edges: SP -10 .. -5, muP -9 .. -4 */
        for (size_t i = 0; i < t->n_lr; i++) {
            t->log2lr[0][i] = -10.0 + (double) i;
            t->log2lr[1][i] = -9.0 + (double) i;
        }
    } else {
        t->n_w = 5;
        for (size_t w = 0; w < t->n_w; w++)
            t->width[w] = (size_t) 64 << w; /* 64 .. 1024 */
        s.eval_every = 25;
        t->base = 64;
        t->n_lr = 8;
        t->n_s = 4;
        t->steps = 300;
        s.train = 10000;
        /* science.md's prototype: SP eta* from 2^-7.6 (n = 64) to 2^-10 (n = 1024), muP
         * 2^-7.6 .. 2^-7.1: -12 .. -5 keeps every expected eta* two points from the edges */
        for (size_t i = 0; i < t->n_lr; i++)
            t->log2lr[0][i] = t->log2lr[1][i] = -12.0 + (double) i;
    }
    return s;
}

/* Plan order: seed, parameterization, width, rate (the seeds finish one after another), the
 * order lm__exp_tr_index gives. */
static lm_status plan(int quick, lm_exp_plan *pl, lm_err *err) {
    const sweep s = sizes(quick);
    const lm__exp_tr *t = &s.tr;
    for (size_t r = 0; r < t->n_s; r++)
        for (size_t p = 0; p < N_PARAM; p++)
            for (size_t w = 0; w < t->n_w; w++)
                for (size_t k = 0; k < t->n_lr; k++) {
                    char widths[64], param[48], base[48], lr[48], steps[32], train[48], seed[32],
                        every[32], label[96];
                    snprintf(widths, sizeof widths, "model.widths=[196, %zu, %zu, 10]", t->width[w],
                             t->width[w]);
                    snprintf(param, sizeof param, "model.parameterization=\"%s\"", PARAMS[p]);
                    snprintf(base, sizeof base, "model.base_width=%zu", t->base);
                    snprintf(lr, sizeof lr, "optimizer.lr=%.17g", exp2(t->log2lr[p][k]));
                    snprintf(steps, sizeof steps, "steps=%zu", t->steps);
                    snprintf(train, sizeof train, "data.train_size=%zu", s.train);
                    snprintf(seed, sizeof seed, "seed=%zu", r);
                    snprintf(every, sizeof every, "eval_every=%zu", s.eval_every);
                    snprintf(label, sizeof label, "%s n=%zu log2lr=%g seed=%zu", PARAMS[p],
                             t->width[w], t->log2lr[p][k], r);
                    const char *sets[] = {widths, param, base, lr, steps, train, seed, every};
                    LM_TRY(lm_exp_plan_add(pl, label, BASE, 8, sets, err));
                }
    return LM_OK;
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    const sweep s = sizes(ctx->quick);
    return lm__exp_tr_analyse(ctx, &s.tr, err);
}

const lm_experiment lm__exp_mup_transfer = {
    .name = "mup-transfer",
    .summary =
        "muP learning-rate transfer: the optimal Adam LR is width-independent in muP, not in SP",
    .quick = "widths 16-256 (base 16), 6 LRs, 2000 examples, 200 steps, 4 seeds (full: 64-1024, "
             "8 LRs, 10k, 300 steps, 4 seeds)",
    .plan = plan,
    .analyse = analyse,
};
