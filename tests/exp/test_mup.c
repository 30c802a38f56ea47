/*
 * test_mup.c: the analyses of mup-transfer and mup-coordcheck on hand-filled stores
 * (exp_fixture.h): every planned run gets the metrics the analysis reads, made from the law the
 * theory predicts (or, for the negative controls, the law of the other parameterization), with
 * a small seed-to-seed spread. The runs follow the experiment's own plan (its labels), so the
 * tests follow the plan's sizes.
 */
#include "lm_test.h"

#include "exp/internal.h"
#include "exp_fixture.h"

/* "steps": N of a canonical config. */
static size_t config_steps(const char *json) {
    const char *p = strstr(json, "\"steps\":");
    cr_assert_not_null(p);
    return (size_t) strtoul(p + 8, NULL, 10);
}

/* A small deterministic spread over seeds and widths, in [-1, 1]. */
static double jitter(size_t seed, size_t n, double x) {
    return sin(1.7 * (double) seed + 0.37 * (double) n + 2.3 * x);
}

/* ---------------------------------------------------------------- mup-transfer */

/* The score of a run (mean train CE at the end) as the test wants it: a parabola in log2 eta
 * with its vertex at opt(n), its floor at floor(n), and a 0.2 % spread over seeds. */
typedef double (*opt_fn)(int mup, size_t n);

static double opt_sp(int mup, size_t n) {
    (void) mup;
    return -7.5 - 0.6 * log2((double) n / 64.0); /* the prototype's drift */
}
static double opt_law(int mup, size_t n) {
    return mup ? -7.3 + 0.05 * log2((double) n / 64.0) : opt_sp(0, n);
}

/* Fills every planned run of mup-transfer (quick or not); opt gives each width's eta*;
 * edge_w: the muP width whose curve has its minimum beyond the grid's top (0: none). */
static void fill_transfer(lm_fx *f, int quick, opt_fn opt, size_t edge_w) {
    lm_exp_plan pl;
    memset(&pl, 0, sizeof pl);
    lm_err err = {0};
    cr_assert_eq(lm__exp_mup_transfer.plan(quick, &pl, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < pl.n; i++) {
        char p[8];
        size_t n = 0, seed = 0;
        double lr = 0;
        cr_assert(sscanf(pl.label[i], "%7s n=%zu log2lr=%lf seed=%zu", p, &n, &lr, &seed) >= 3,
                  "%s", pl.label[i]);
        const int mup = strcmp(p, "mup") == 0;
        const size_t steps = config_steps(pl.config[i]);
        const double floor_ = 0.35 - 0.01 * log2((double) n / 16.0);
        const double c = mup && n == edge_w ? 0.0 : opt(mup, n);
        const double y = floor_ + 0.04 * (lr - c) * (lr - c) + 0.0007 * jitter(seed, n, lr);
        const int64_t st[3] = {(int64_t) steps - 50, (int64_t) steps - 25, (int64_t) steps};
        const double v[3] = {y, y, y};
        const int64_t r = lm_fx_run(f, pl.label[i], pl.config[i]);
        lm_fx_series(f, r, "train_loss", 3, st, v);
    }
    lm_exp_plan_clear(&pl);
}

static void analyse_transfer(lm_fx *f) {
    lm_err err = {0};
    cr_assert_eq(lm__exp_mup_transfer.analyse(f->ctx, &err), LM_OK, "%s", err.msg);
}

Test(mup_transfer, the_theory_passes_with_intervals) {
    lm_fx f;
    lm_fx_open(&f, "mup-transfer", 0);
    fill_transfer(&f, 0, opt_law, 0);
    analyse_transfer(&f);
    const char *names[] = {"muP: optimal LR transfers", "SP: optimal LR shifts",
                           "muP: wider is better"};
    for (size_t i = 0; i < 3; i++) {
        const lm_claim *c = lm_fx_claim(&f, names[i]);
        cr_assert_eq(c->verdict, LM_VERDICT_PASS, "%s: %s", c->name, c->detail);
        cr_assert(isfinite(c->uncertainty) && c->uncertainty > 0, "%s: u = %g", c->name,
                  c->uncertainty);
        cr_assert(strstr(c->detail, "bootstrap 95 % over 4 seeds"), "%s", c->detail);
        cr_assert(c->n_runs > 0);
    }
    const lm_claim *sp = lm_fx_claim(&f, "SP: optimal LR shifts");
    cr_assert(fabs(sp->measured - 2.4) < 0.1, "SP shift %g", sp->measured);
    lm_fx_close(&f);
}

/* The negative control of science.md §5: the muP transfer claim asserted on an SP sweep (the
 * muP runs hold SP's scores, eta* falling 0.6 octave per octave of width) must fail. */
Test(mup_transfer, negative_control_muP_claim_on_an_SP_sweep_fails) {
    lm_fx f;
    lm_fx_open(&f, "mup-transfer-neg", 0);
    fill_transfer(&f, 0, opt_sp, 0);
    analyse_transfer(&f);
    const lm_claim *c = lm_fx_claim(&f, "muP: optimal LR transfers");
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%s", c->detail);
    cr_assert(c->measured - c->uncertainty > 1.0, "range %g +- %g", c->measured, c->uncertainty);
    lm_fx_close(&f);
}

/* The defect: one width whose eta* cannot be measured (its best rate at the grid edge) used to
 * be dropped by fmin/fmax, so the range passed over the other widths. It decides nothing now. */
Test(mup_transfer, an_unmeasured_width_makes_the_claims_inconclusive) {
    lm_fx f;
    lm_fx_open(&f, "mup-transfer-nan", 0);
    fill_transfer(&f, 0, opt_law, 128);
    analyse_transfer(&f);
    const lm_claim *c = lm_fx_claim(&f, "muP: optimal LR transfers");
    cr_assert_eq(c->verdict, LM_VERDICT_INCONCLUSIVE, "%s", c->detail);
    cr_assert(isnan(c->measured), "measured %g", c->measured);
    cr_assert(strstr(c->detail, "n = 128"), "%s", c->detail);
    c = lm_fx_claim(&f, "muP: wider is better");
    cr_assert_eq(c->verdict, LM_VERDICT_INCONCLUSIVE, "%s", c->detail);
    /* SP's widths are all measured: its claim stands */
    c = lm_fx_claim(&f, "SP: optimal LR shifts");
    cr_assert_eq(c->verdict, LM_VERDICT_PASS, "%s", c->detail);
    lm_fx_close(&f);
}

Test(mup_transfer, the_quick_plan_keeps_the_minimum_design) {
    lm_exp_plan pl;
    memset(&pl, 0, sizeof pl);
    lm_err err = {0};
    cr_assert_eq(lm__exp_mup_transfer.plan(1, &pl, &err), LM_OK, "%s", err.msg);
    size_t wmin = SIZE_MAX, wmax = 0, smax = 0, widths = 0, last = 0;
    for (size_t i = 0; i < pl.n; i++) {
        char p[8];
        size_t n = 0, seed = 0;
        double lr = 0;
        cr_assert_eq(sscanf(pl.label[i], "%7s n=%zu log2lr=%lf seed=%zu", p, &n, &lr, &seed), 4);
        wmin = n < wmin ? n : wmin;
        wmax = n > wmax ? n : wmax;
        smax = seed > smax ? seed : smax;
        if (seed == 0 && strcmp(p, "sp") == 0 && n != last) {
            widths++;
            last = n;
        }
    }
    cr_assert(widths >= 4 && wmax >= 16 * wmin, "%zu widths %zu..%zu", widths, wmin, wmax);
    cr_assert(smax + 1 >= 3, "%zu seeds", smax + 1);
    lm_exp_plan_clear(&pl);
}

/* ---------------------------------------------------------------- mup-coordcheck */

/* RMS(h_t - h_0) of layer l at step t of a run: (n / 64)^slope with a 1 % seed spread. */
typedef double (*slope_fn)(int mup, size_t l, size_t t);

static double slope_sp(int mup, size_t l, size_t t) {
    (void) mup;
    const double f[5] = {1.38, 1.37, 1.21, 1.06, 0.89}, h2[5] = {0.82, 0.71, 0.57, 0.47, 0.37};
    return l == 2 ? f[t - 1] : l == 1 ? h2[t - 1] : -0.1;
}
static double slope_law(int mup, size_t l, size_t t) {
    return mup ? 0.01 * (double) l : slope_sp(0, l, t);
}

static void fill_coordcheck(lm_fx *f, int quick, slope_fn slope) {
    lm_exp_plan pl;
    memset(&pl, 0, sizeof pl);
    lm_err err = {0};
    cr_assert_eq(lm__exp_mup_coordcheck.plan(quick, &pl, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < pl.n; i++) {
        char p[8];
        size_t n = 0, seed = 0;
        cr_assert_eq(sscanf(pl.label[i], "%7s n=%zu seed=%zu", p, &n, &seed), 3, "%s", pl.label[i]);
        const int mup = strcmp(p, "mup") == 0;
        const int64_t r = lm_fx_run(f, pl.label[i], pl.config[i]);
        for (size_t l = 0; l < 3; l++) {
            int64_t st[5];
            double v[5];
            for (size_t t = 1; t <= 5; t++) {
                st[t - 1] = (int64_t) t;
                v[t - 1] = (1.0 + 0.3 * (double) l) * pow((double) n / 64.0, slope(mup, l, t)) *
                           (1.0 + 0.01 * jitter(seed, n, (double) (l * 5 + t)));
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
    cr_assert_eq(lm__exp_mup_coordcheck.analyse(f->ctx, &err), LM_OK, "%s", err.msg);
}

Test(mup_coordcheck, the_theory_passes_with_intervals) {
    for (int quick = 0; quick <= 1; quick++) {
        lm_fx f;
        lm_fx_open(&f, "mup-coordcheck", quick);
        fill_coordcheck(&f, quick, slope_law);
        analyse_coordcheck(&f);
        cr_assert_eq(f.ctx->n_claims, 3);
        for (size_t i = 0; i < f.ctx->n_claims; i++) {
            const lm_claim *c = &f.ctx->claims[i];
            cr_assert_eq(c->verdict, LM_VERDICT_PASS, "quick %d %s: %s", quick, c->name, c->detail);
            cr_assert(isfinite(c->uncertainty) && c->uncertainty > 0, "%s", c->name);
            cr_assert(strstr(c->detail, "bootstrap 95 % over 3 seeds"), "%s", c->detail);
        }
        const lm_claim *sp = lm_fx_claim(&f, "SP: logit updates");
        cr_assert(fabs(sp->measured - 0.89) < 0.02, "SP lowest slope %g", sp->measured);
        lm_fx_close(&f);
    }
}

/* The negative control: the muP flatness claims asserted on SP activations must fail. */
Test(mup_coordcheck, negative_control_muP_claims_on_SP_activations_fail) {
    lm_fx f;
    lm_fx_open(&f, "mup-coordcheck-neg", 0);
    fill_coordcheck(&f, 0, slope_sp);
    analyse_coordcheck(&f);
    const lm_claim *c = lm_fx_claim(&f, "muP: updates width-independent (t = 3-5)");
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%s", c->detail);
    cr_assert(fabs(c->measured - 1.21) < 0.03, "worst |slope| %g", c->measured);
    c = lm_fx_claim(&f, "muP: hidden updates");
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%s", c->detail);
    lm_fx_close(&f);
}

/* A width with no records: the slopes over the widths cannot be measured. */
Test(mup_coordcheck, a_missing_width_is_inconclusive) {
    lm_fx f;
    lm_fx_open(&f, "mup-coordcheck-nan", 0);
    fill_coordcheck(&f, 0, slope_law);
    /* forget the runs of muP seed 1 (the analysis sees them as failed) */
    for (size_t i = 0; i < f.ctx->n_runs; i++)
        if (strstr(f.ctx->label[i], "mup n=512 seed=1"))
            f.ctx->run[i] = -1;
    analyse_coordcheck(&f);
    const lm_claim *c = lm_fx_claim(&f, "muP: updates width-independent (t = 3-5)");
    cr_assert_eq(c->verdict, LM_VERDICT_INCONCLUSIVE, "%s", c->detail);
    lm_fx_close(&f);
}
