/*
 * test_mup_gpt.c: the analyses of mup-coordcheck-gpt and mup-transfer-gpt (mup_analysis.c, shared
 * with the MLP experiments) on hand-filled stores (exp_fixture.h): every planned run gets the
 * metrics the analysis reads, made from the law the theory predicts or, for the negative
 * controls, the law of the other parameterization, with a small seed-to-seed spread. The runs
 * follow the experiment's own plan (its labels), so the tests follow the plan's sizes.
 */
#include "lm_test.h"

#include "exp/internal.h"
#include "exp_fixture.h"

/* The planned run's config, parsed (free with lm_config_free). */
static lm_config *parse(const char *json) {
    lm_config *cfg = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(json, strlen(json), "plan", 0, NULL, &cfg, &err), LM_OK, "%s",
                 err.msg);
    return cfg;
}

/* A small deterministic spread over seeds and widths, in [-1, 1]. */
static double jitter(size_t seed, size_t n, double x) {
    return sin(1.7 * (double) seed + 0.37 * (double) n + 2.3 * x);
}

/* ---------------------------------------------------------------- mup-coordcheck-gpt */

#define GPT_LAYERS 7 /* emb, b0.attn, b0, b1.attn, b1, ln_f, logits */

/* The slope of RMS(h_t - h_0) against d_model of layer l at step t (1-based). */
typedef double (*slope_fn)(int mup, size_t l, size_t t);

/* SP as the pilots measured it: the embedding flat, every block and the logits ~ d^1. */
static double slope_sp(int mup, size_t l, size_t t) {
    (void) mup;
    (void) t;
    return l == 0 ? -0.05 : 0.85 + 0.02 * (double) l;
}
static double slope_law(int mup, size_t l, size_t t) {
    (void) t;
    return mup ? 0.01 * (double) l - 0.03 : slope_sp(0, l, t);
}

/* zero_h1: muP's hidden layers do not move at step 1 (the zero readout: RMS(h_1 - h_0) = 0). */
static void fill_coordcheck(lm_fx *f, int quick, slope_fn slope, int zero_h1) {
    lm_exp_plan pl;
    memset(&pl, 0, sizeof pl);
    lm_err err = {0};
    cr_assert_eq(lm__exp_mup_coordcheck_gpt.plan(quick, &pl, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < pl.n; i++) {
        char p[8];
        size_t n = 0, seed = 0;
        cr_assert_eq(sscanf(pl.label[i], "%7s d_model=%zu seed=%zu", p, &n, &seed), 3, "%s",
                     pl.label[i]);
        const int mup = strcmp(p, "mup") == 0;
        lm_config *cfg = parse(pl.config[i]);
        cr_assert_eq(cfg->model.readout_zero, mup, "muP runs (only) have the zero readout: %s",
                     pl.label[i]);
        lm_config_free(cfg);
        const int64_t r = lm_fx_run(f, pl.label[i], pl.config[i]);
        for (size_t l = 0; l < GPT_LAYERS; l++) {
            int64_t st[5];
            double v[5];
            for (size_t t = 1; t <= 5; t++) {
                st[t - 1] = (int64_t) t;
                v[t - 1] = (0.1 + 0.3 * (double) l) * pow((double) n / 32.0, slope(mup, l, t)) *
                           (1.0 + 0.01 * jitter(seed, n, (double) (l * 5 + t)));
                if (zero_h1 && mup && t == 1 && l + 1 < GPT_LAYERS)
                    v[t - 1] = 0.0;
            }
            char name[32];
            snprintf(name, sizeof name, "act_delta_rms.%zu", l);
            lm_fx_series(f, r, name, 5, st, v);
        }
    }
    lm_exp_plan_clear(&pl);
}

static void analyse_coordcheck(lm_fx *f) {
    lm_err err = {0};
    cr_assert_eq(lm__exp_mup_coordcheck_gpt.analyse(f->ctx, &err), LM_OK, "%s", err.msg);
}

Test(mup_coordcheck_gpt, the_theory_passes_with_intervals) {
    for (int quick = 0; quick <= 1; quick++) {
        lm_fx f;
        lm_fx_open(&f, quick ? "mcg-q" : "mcg", quick);
        fill_coordcheck(&f, quick, slope_law, 1);
        analyse_coordcheck(&f);
        cr_assert_eq(f.ctx->n_claims, 3);
        for (size_t i = 0; i < f.ctx->n_claims; i++) {
            const lm_claim *c = &f.ctx->claims[i];
            cr_assert_eq(c->verdict, LM_VERDICT_PASS, "quick %d %s: %s", quick, c->name, c->detail);
            cr_assert(isfinite(c->uncertainty) && c->uncertainty > 0, "%s", c->name);
            cr_assert(strstr(c->detail, "bootstrap 95 % over 3 seeds"), "%s", c->detail);
        }
        /* the hidden claim starts at t = 2 and says why */
        const lm_claim *h = lm_fx_claim(&f, "muP: hidden updates");
        cr_assert(strstr(h->predicted, "t = 2..5"), "%s", h->predicted);
        cr_assert(strstr(h->detail, "zero readout"), "%s", h->detail);
        const lm_claim *sp = lm_fx_claim(&f, "SP: logit updates");
        cr_assert(fabs(sp->measured - 0.97) < 0.02, "SP lowest slope %g", sp->measured);
        cr_assert(strstr(sp->detail, "b1"), "%s", sp->detail);
        lm_fx_close(&f);
    }
}

/* The negative control: the muP flatness claims asserted on SP activations must fail. */
Test(mup_coordcheck_gpt, negative_control_muP_claims_on_SP_activations_fail) {
    lm_fx f;
    lm_fx_open(&f, "mcg-neg", 0);
    fill_coordcheck(&f, 0, slope_sp, 0);
    analyse_coordcheck(&f);
    const lm_claim *c = lm_fx_claim(&f, "muP: updates width-independent (t = 3-5)");
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%s", c->detail);
    cr_assert(fabs(c->measured - 0.97) < 0.03, "worst |slope| %g", c->measured);
    c = lm_fx_claim(&f, "muP: hidden updates");
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%s", c->detail);
    lm_fx_close(&f);
}

/* A width with no records: the slopes over the widths cannot be measured. */
Test(mup_coordcheck_gpt, a_missing_width_is_inconclusive) {
    lm_fx f;
    lm_fx_open(&f, "mcg-nan", 1);
    fill_coordcheck(&f, 1, slope_law, 1);
    for (size_t i = 0; i < f.ctx->n_runs; i++)
        if (strstr(f.ctx->label[i], "mup d_model=128 seed=1"))
            f.ctx->run[i] = -1;
    analyse_coordcheck(&f);
    const lm_claim *c = lm_fx_claim(&f, "muP: updates width-independent (t = 3-5)");
    cr_assert_eq(c->verdict, LM_VERDICT_INCONCLUSIVE, "%s", c->detail);
    lm_fx_close(&f);
}

Test(mup_coordcheck_gpt, the_plan_spans_8x_with_heads_fixed) {
    for (int quick = 0; quick <= 1; quick++) {
        lm_exp_plan pl;
        memset(&pl, 0, sizeof pl);
        lm_err err = {0};
        cr_assert_eq(lm__exp_mup_coordcheck_gpt.plan(quick, &pl, &err), LM_OK, "%s", err.msg);
        size_t wmin = SIZE_MAX, wmax = 0;
        for (size_t i = 0; i < pl.n; i++) {
            char p[8];
            size_t n = 0, seed = 0;
            cr_assert_eq(sscanf(pl.label[i], "%7s d_model=%zu seed=%zu", p, &n, &seed), 3);
            wmin = n < wmin ? n : wmin;
            wmax = n > wmax ? n : wmax;
            /* the whole config parses as a gpt model with 4 heads */
            lm_config *cfg = parse(pl.config[i]);
            cr_assert_eq(cfg->model.gpt.heads, 4);
            cr_assert_eq(cfg->model.gpt.d_model, n);
            lm_config_free(cfg);
        }
        cr_assert(wmax >= 8 * wmin, "%zu..%zu", wmin, wmax);
        lm_exp_plan_clear(&pl);
    }
}

/* ---------------------------------------------------------------- mup-transfer-gpt */

/* The score of a run: a parabola in log2 eta with its vertex at opt(n), a floor falling with
 * width, and a 0.2 % spread over seeds. */
typedef double (*opt_fn)(int mup, size_t n);

static double opt_sp(int mup, size_t n) {
    (void) mup;
    return -5.0 - 0.6 * log2((double) n / 16.0);
}
static double opt_law(int mup, size_t n) {
    return mup ? -5.3 + 0.05 * log2((double) n / 16.0) : opt_sp(0, n);
}

/* Fills every planned run of mup-transfer-gpt; edge_w: the muP width whose curve has its
 * minimum beyond the grid's top (0: none). */
static void fill_transfer(lm_fx *f, int quick, opt_fn opt, size_t edge_w) {
    lm_exp_plan pl;
    memset(&pl, 0, sizeof pl);
    lm_err err = {0};
    cr_assert_eq(lm__exp_mup_transfer_gpt.plan(quick, &pl, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < pl.n; i++) {
        char p[8];
        size_t n = 0, seed = 0;
        double lr = 0;
        cr_assert_eq(sscanf(pl.label[i], "%7s d_model=%zu log2lr=%lf seed=%zu", p, &n, &lr, &seed),
                     4, "%s", pl.label[i]);
        const int mup = strcmp(p, "mup") == 0;
        lm_config *cfg = parse(pl.config[i]);
        const size_t steps = cfg->train.steps;
        lm_config_free(cfg);
        const double floor_ = 2.0 - 0.05 * log2((double) n / 16.0);
        const double c = mup && n == edge_w ? 0.0 : opt(mup, n);
        const double y = floor_ + 0.08 * (lr - c) * (lr - c) + 0.004 * jitter(seed, n, lr);
        const int64_t st[3] = {(int64_t) steps - 40, (int64_t) steps - 20, (int64_t) steps};
        const double v[3] = {y, y, y};
        const int64_t r = lm_fx_run(f, pl.label[i], pl.config[i]);
        lm_fx_series(f, r, "train_loss", 3, st, v);
    }
    lm_exp_plan_clear(&pl);
}

static void analyse_transfer(lm_fx *f) {
    lm_err err = {0};
    cr_assert_eq(lm__exp_mup_transfer_gpt.analyse(f->ctx, &err), LM_OK, "%s", err.msg);
}

Test(mup_transfer_gpt, the_theory_passes_with_intervals) {
    for (int quick = 0; quick <= 1; quick++) {
        lm_fx f;
        lm_fx_open(&f, quick ? "mtg-q" : "mtg", quick);
        fill_transfer(&f, quick, opt_law, 0);
        analyse_transfer(&f);
        const char *names[] = {"muP: optimal LR transfers", "SP: optimal LR shifts",
                               "muP: wider is better"};
        for (size_t i = 0; i < 3; i++) {
            const lm_claim *c = lm_fx_claim(&f, names[i]);
            cr_assert_eq(c->verdict, LM_VERDICT_PASS, "quick %d %s: %s", quick, c->name, c->detail);
            cr_assert(isfinite(c->uncertainty) && c->uncertainty > 0, "%s: u = %g", c->name,
                      c->uncertainty);
            cr_assert(strstr(c->detail, "bootstrap 95 % over 3 seeds"), "%s", c->detail);
            cr_assert(c->n_runs > 0);
        }
        /* 8x: 3 octaves of width, so SP's bar is 1.5 * 3 / 4 and its shift 0.6 * 3 */
        const lm_claim *sp = lm_fx_claim(&f, "SP: optimal LR shifts");
        cr_assert(fabs(sp->measured - 1.8) < 0.1, "SP shift %g", sp->measured);
        cr_assert(fabs(sp->tolerance_value - 1.125) < 1e-12, "%g", sp->tolerance_value);
        cr_assert(strstr(sp->detail, "d_model = "), "%s", sp->detail);
        lm_fx_close(&f);
    }
}

/* The negative control: the muP transfer claim asserted on an SP sweep (the muP runs hold SP's
 * scores, eta* falling 0.6 octave per octave of width) must fail. */
Test(mup_transfer_gpt, negative_control_muP_claim_on_an_SP_sweep_fails) {
    lm_fx f;
    lm_fx_open(&f, "mtg-neg", 1);
    fill_transfer(&f, 1, opt_sp, 0);
    analyse_transfer(&f);
    const lm_claim *c = lm_fx_claim(&f, "muP: optimal LR transfers");
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%s", c->detail);
    cr_assert(c->measured - c->uncertainty > 1.0, "range %g +- %g", c->measured, c->uncertainty);
    lm_fx_close(&f);
}

/* One muP width whose best rate sits at the grid edge: the claims over the widths decide
 * nothing, and say which width. */
Test(mup_transfer_gpt, an_unmeasured_width_makes_the_claims_inconclusive) {
    lm_fx f;
    lm_fx_open(&f, "mtg-nan", 1);
    fill_transfer(&f, 1, opt_law, 64);
    analyse_transfer(&f);
    const lm_claim *c = lm_fx_claim(&f, "muP: optimal LR transfers");
    cr_assert_eq(c->verdict, LM_VERDICT_INCONCLUSIVE, "%s", c->detail);
    cr_assert(strstr(c->detail, "d_model = 64"), "%s", c->detail);
    c = lm_fx_claim(&f, "SP: optimal LR shifts");
    cr_assert_eq(c->verdict, LM_VERDICT_PASS, "%s", c->detail);
    lm_fx_close(&f);
}

Test(mup_transfer_gpt, the_plan_keeps_the_minimum_design) {
    for (int quick = 0; quick <= 1; quick++) {
        lm_exp_plan pl;
        memset(&pl, 0, sizeof pl);
        lm_err err = {0};
        cr_assert_eq(lm__exp_mup_transfer_gpt.plan(quick, &pl, &err), LM_OK, "%s", err.msg);
        size_t wmin = SIZE_MAX, wmax = 0, smax = 0, widths = 0, last = 0;
        for (size_t i = 0; i < pl.n; i++) {
            char p[8];
            size_t n = 0, seed = 0;
            double lr = 0;
            cr_assert_eq(
                sscanf(pl.label[i], "%7s d_model=%zu log2lr=%lf seed=%zu", p, &n, &lr, &seed), 4);
            wmin = n < wmin ? n : wmin;
            wmax = n > wmax ? n : wmax;
            smax = seed > smax ? seed : smax;
            if (seed == 0 && strcmp(p, "sp") == 0 && n != last) {
                widths++;
                last = n;
            }
        }
        cr_assert(widths >= 4 && wmax >= 8 * wmin, "%zu widths %zu..%zu", widths, wmin, wmax);
        cr_assert(smax + 1 >= 3, "%zu seeds", smax + 1);
        lm_exp_plan_clear(&pl);
    }
}
