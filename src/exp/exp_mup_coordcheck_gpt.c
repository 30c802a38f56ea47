/*
 * exp_mup_coordcheck_gpt.c: the muP coordinate check on a transformer (Yang et al. 2022, TP-V;
 * science.md §5 "Coordinate check"), the MLP experiment mup-coordcheck carried to model.arch
 * "gpt". A two-block pre-norm GPT (4 heads, mlp_ratio 4, context 16, predict every position)
 * reads the bytes of /usr/share/common-licenses/GPL-3 (data.source "text": vocab 256, windows of
 * 16 bytes) in SP and in muP (base width = the smallest d_model; with the zero readout TP-V and
 * `mup` advise, so that the readout's decaying init term does not tilt the logits' slope:
 * science.md §5 measured -0.32 at t = 1 on the MLP, and a pilot here -0.26 at t = 3 without it)
 * and takes 5 full-batch Adam steps at 2^-11 with cross-entropy. The features observer records
 * RMS(h_t - h_0) on the training windows after every step for every top-level entry of the expanded
 * layer list: the embedding output (tokens + positions), each block's residual stream after its
 * attention and after its MLP, ln_f, and the logits [T x V per window]. The attention logits
 * themselves sit inside the residual bodies, where the observer does not reach (it reads the
 * top-level representations); their muP scaling shows in the attention sublayer's output.
 *
 * Width: d_model with the number of heads FIXED (4), so d_head = d_model / 4 grows with width.
 * That is the case TP-V's attention rule is about: SP's 1/sqrt(d_head) and muP's 1/d_head
 * scaling (here sqrt(d_head,base)/d_head, equal at the base width) differ only when d_head grows;
 * with d_head fixed and more heads the two would coincide and the check would not test them.
 *
 * Claims (science.md §5 "Pass", the MLP experiment's, one source: mup_analysis.c): the OLS slope
 * of the seed mean of log RMS(h_t - h_0) against log d_model:
 *   muP |slope| <= 0.15 for all analysed layers at t in {3, 4, 5} and for the hidden ones
 *   (all but the logits) at every t = 2..5 (with a zero readout no gradient reaches them at
 *   step 1: h_1 = h_0 exactly, and log 0 has no slope); SP's logit slope >= 0.5 at every t.
 * Each with a percentile bootstrap 95 % interval over 3 seeds.
 * Workload: full: d_model 32, 64, 128, 256, 512 (16x; the base, 32, plotted, not fitted), 128
 * windows (2048 tokens), 3 seeds: 30 runs of 5 steps (the largest 6.6M parameters). Quick:
 * d_model 32 .. 256 (8x, all fitted), 64 windows, 3 seeds: 24 runs.
 * Pilots (2026-12-07): see docs/experiments/mup-coordcheck-gpt.md.
 */
#include "exp/internal.h"

#include <stdio.h>
#include <string.h>

static const char *BASE =
    "{\"name\": \"mup-coordcheck-gpt\", \"data\": {\"source\": \"text\", \"path\": "
    "\"/usr/share/common-licenses/GPL-3\", \"context\": 16, \"train_size\": 128, \"test_size\": 0},"
    " \"model\": {\"arch\": \"gpt\", \"vocab\": 256, \"context\": 16, \"d_model\": 32, \"heads\": "
    "4,"
    " \"blocks\": 2, \"predict\": \"every\", \"base_width\": 32},"
    " \"loss\": \"ce\", \"optimizer\": {\"name\": \"adam\", \"lr\": 0.00048828125}, "
    "\"batch_size\": 0,"
    " \"steps\": 5, \"eval_every\": 5, \"probe_every\": 1, \"probe_size\": 128, \"threads\": 1}";

#define N_PARAM 2
#define BLOCKS  2

static const char *PARAMS[N_PARAM] = {"sp", "mup"};

typedef struct sweep {
    lm__exp_cc cc;
    size_t base, train;
    double log2lr;
} sweep;

/* The analysed layers are the top-level entries of the expansion (lm_gpt_expand, predict
 * every): 0 the embedding, 2b + 1 block b after attention, 2b + 2 block b after its MLP, then
 * ln_f and the head; act_delta_rms.<entry>. SP's guide lines in the figure: the embedding's
 * update is width-independent (its Adam rate is eta in both), every d x d layer's update sums
 * d aligned terms (slope 1). */
static sweep sizes(int quick) {
    sweep s;
    memset(&s, 0, sizeof s);
    lm__exp_cc *c = &s.cc;
    *c = (lm__exp_cc){.fig_name = "mup-coordcheck-gpt",
                      .fig_title = "GPT: RMS(h_5 - h_0) against d_model (5 Adam steps, 4 heads, "
                                   "geometric mean over seeds)",
                      .width_name = "d_model",
                      .n_s = 3,
                      .n_layer = 2 * BLOCKS + 3,
                      .metric = {0, 1, 2, 3, 4, 5, 6},
                      .lname = {"emb", "b0.attn", "b0", "b1.attn", "b1", "ln_f", "logits"},
                      .sp_slope = {0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0}};
    s.base = 32;
    s.log2lr = -11;   /* pilots: at 2^-9 SP's logits saturate by t = 4 (docs) */
    c->hidden_t0 = 1; /* muP's zero readout: h_1 = h_0 */
    if (quick) {
        c->n_w = 4;
        for (size_t w = 0; w < c->n_w; w++)
            c->width[w] = (size_t) 32 << w; /* 32 .. 256 */
        c->fit_lo = 0;                      /* all four: the brief's >= 8x */
        s.train = 64;
    } else {
        c->n_w = 5;
        for (size_t w = 0; w < c->n_w; w++)
            c->width[w] = (size_t) 32 << w; /* 32 .. 512 */
        c->fit_lo = 1; /* the base width, where SP and muP coincide, is plotted, not fitted */
        s.train = 128;
    }
    return s;
}

static lm_status plan(int quick, lm_exp_plan *pl, lm_err *err) {
    const sweep s = sizes(quick);
    const lm__exp_cc *c = &s.cc;
    for (size_t p = 0; p < N_PARAM; p++)
        for (size_t r = 0; r < c->n_s; r++)
            for (size_t w = 0; w < c->n_w; w++) {
                char width[48], param[48], base[48], seed[32], train[48], probe[48], lr[48],
                    zero[48], label[96];
                snprintf(width, sizeof width, "model.d_model=%zu", c->width[w]);
                snprintf(param, sizeof param, "model.parameterization=\"%s\"", PARAMS[p]);
                snprintf(base, sizeof base, "model.base_width=%zu", s.base);
                snprintf(seed, sizeof seed, "seed=%zu", r);
                snprintf(train, sizeof train, "data.train_size=%zu", s.train);
                snprintf(probe, sizeof probe, "probe_size=%zu", s.train);
                snprintf(lr, sizeof lr, "optimizer.lr=%.17g", exp2(s.log2lr));
                snprintf(label, sizeof label, "%s d_model=%zu seed=%zu", PARAMS[p], c->width[w], r);
                /* muP with the zero readout TP-V and `mup` advise; SP as it is */
                snprintf(zero, sizeof zero, "model.readout_zero=%s", p ? "true" : "false");
                const char *sets[] = {width, param, base, seed, train, probe, lr, zero};
                /* the analysis finds run (p, r, w) at lm__exp_cc_index(c, p, r, w) */
                LM_TRY(lm_exp_plan_add(pl, label, BASE, 8, sets, err));
            }
    return LM_OK;
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    const sweep s = sizes(ctx->quick);
    return lm__exp_cc_analyse(ctx, &s.cc, err);
}

const lm_experiment lm__exp_mup_coordcheck_gpt = {
    .name = "mup-coordcheck-gpt",
    .summary = "muP coordinate check on a transformer: per-block updates are width-independent "
               "in muP, the logits' grow with d_model in SP",
    .quick = "d_model 32-256 (4 heads, base 32), 64 windows of 16 bytes, 3 seeds (full: 32-512, "
             "128 windows, 3 seeds)",
    .plan = plan,
    .analyse = analyse,
};
