/*
 * exp_mup_coordcheck.c: the muP coordinate check (Yang et al. 2022, TP-V; science.md §5
 * "Coordinate check"). A 196-n-n-10 ReLU network in SP and in muP (base width 64) takes 5
 * full-batch Adam steps at a large rate (2^-6) with cross-entropy on 256 Fashion-MNIST-196
 * images; the features observer (src/observe/obs_features.c) records RMS(h_t - h_0) on those
 * 256 probes after every step for the two hidden layers and the logits. In muP every layer's
 * update is Theta(1) in width, so log RMS(h_t - h_0) against log width is flat; in SP Adam's
 * width-independent per-coordinate steps make the logits' change grow like n.
 *
 * Pass (science.md §5): over widths 128-2048 (the prototype's fit range), the OLS slope of the
 * seed mean of log RMS(h_t - h_0) against log n:
 *   muP |slope| <= 0.15 for all layers at t in {3, 4, 5} and for the hidden layers at every t;
 *   SP output slope >= 0.5 at every t.
 * Each claim's statistic (the worst |slope| over its layers and steps, or the lowest slope) has
 * a percentile bootstrap 95 % interval over the seeds: each resample refits every slope to the
 * resampled seeds' mean. A width without records makes the claims inconclusive.
 * Workload: 2 parameterizations x 6 widths x 3 seeds = 36 runs of 5 steps (the largest,
 * 196-2048-2048-10, has 4.6M parameters). Quick: 3 seeds and 4 widths over 16x (64, 160, 400,
 * 1024, all fitted), 128 examples and probes, LR 2^-8: 24 runs. The slopes, claims and figure
 * are mup_analysis.c's (shared with mup-coordcheck-gpt). Narrower or lower-rate quick
 * variants were measured (3 seeds): at 2^-6 over 32-1024 SP's logit slope fell to 0.32 by t = 5
 * (the narrow SP nets saturate), at 2^-7 over 32-512 to 0.43; at 2^-8 over 32-512 muP's logit
 * slope at t = 3 was -0.135 +- 0.035 (the readout's init term, larger at narrow widths).
 */
#include "exp/internal.h"

#include <stdio.h>
#include <string.h>

static const char *BASE =
    "{\"name\": \"mup-coordcheck\", \"data\": {\"source\": \"fashion-mnist\", \"train_size\": 256,"
    "  \"test_size\": 0, \"pool\": 2, \"normalize\": \"standardize\"},"
    " \"model\": {\"widths\": [196, 64, 64, 10], \"activation\": \"relu\", \"base_width\": 64},"
    " \"loss\": \"ce\", \"optimizer\": {\"name\": \"adam\", \"lr\": 0.015625}, \"batch_size\": 0,"
    " \"steps\": 5, \"eval_every\": 5, \"probe_every\": 1, \"probe_size\": 256, \"threads\": 1}";

#define N_PARAM 2

static const char *PARAMS[N_PARAM] = {"sp", "mup"};
static const size_t QUICK_WIDTHS[4] = {64, 160, 400, 1024}; /* 16x in steps of 2.5x */

/* The sweep (mup_analysis.c analyses it): two hidden layers and the output, act_delta_rms.0..2;
 * SP's law lines in the figure are the prototype's slopes (h1 0, h2 +0.75, logits +0.9). */
typedef struct sweep {
    lm__exp_cc cc;
    size_t base, train;
    double log2lr;
} sweep;

static sweep sizes(int quick) {
    sweep s;
    memset(&s, 0, sizeof s);
    lm__exp_cc *c = &s.cc;
    *c = (lm__exp_cc){.fig_name = "mup-coordcheck",
                      .fig_title = "RMS(h_5 - h_0) against width (5 Adam steps, geometric mean "
                                   "over seeds)",
                      .width_name = "n",
                      .n_s = 3,
                      .n_layer = 3,
                      .metric = {0, 1, 2},
                      .lname = {"h1", "h2", "f"},
                      .sp_slope = {0.0, 0.75, 0.9}};
    if (quick) {
        c->n_w = 4;
        memcpy(c->width, QUICK_WIDTHS, sizeof QUICK_WIDTHS);
        c->fit_lo = 0; /* all four: science.md §0 asks for >= 4 widths over >= 16x */
        s.base = 64;
        s.train = 128;
        s.log2lr = -8; /* see the header */
    } else {
        c->n_w = 6;
        for (size_t w = 0; w < c->n_w; w++)
            c->width[w] = (size_t) 64 << w; /* 64 .. 2048 */
        c->fit_lo = 1; /* the base width, where SP and muP coincide, is plotted, not fitted */
        s.base = 64;
        s.train = 256;
        s.log2lr = -6;
    }
    return s;
}

static lm_status plan(int quick, lm_exp_plan *pl, lm_err *err) {
    const sweep s = sizes(quick);
    const lm__exp_cc *c = &s.cc;
    for (size_t p = 0; p < N_PARAM; p++)
        for (size_t r = 0; r < c->n_s; r++)
            for (size_t w = 0; w < c->n_w; w++) {
                char widths[64], param[48], base[48], seed[32], train[48], probe[48], lr[48],
                    label[96];
                snprintf(widths, sizeof widths, "model.widths=[196, %zu, %zu, 10]", c->width[w],
                         c->width[w]);
                snprintf(param, sizeof param, "model.parameterization=\"%s\"", PARAMS[p]);
                snprintf(base, sizeof base, "model.base_width=%zu", s.base);
                snprintf(seed, sizeof seed, "seed=%zu", r);
                snprintf(train, sizeof train, "data.train_size=%zu", s.train);
                snprintf(probe, sizeof probe, "probe_size=%zu", s.train);
                snprintf(lr, sizeof lr, "optimizer.lr=%.17g", exp2(s.log2lr));
                snprintf(label, sizeof label, "%s n=%zu seed=%zu", PARAMS[p], c->width[w], r);
                const char *sets[] = {widths, param, base, seed, train, probe, lr};
                /* the analysis finds run (p, r, w) at lm__exp_cc_index(c, p, r, w) */
                LM_TRY(lm_exp_plan_add(pl, label, BASE, 7, sets, err));
            }
    return LM_OK;
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    const sweep s = sizes(ctx->quick);
    return lm__exp_cc_analyse(ctx, &s.cc, err);
}

const lm_experiment lm__exp_mup_coordcheck = {
    .name = "mup-coordcheck",
    .summary =
        "muP coordinate check: per-layer feature updates are width-independent in muP, not in SP",
    .quick =
        "widths 32-1024 (base 32), 128 examples and probes, 3 seeds (full: 64-2048, 256, 3 seeds)",
    .plan = plan,
    .analyse = analyse,
};
