/*
 * test_claim.c: the verdict rule of science.md §0 (src/exp/claim.c), the uncertainty helpers
 * over seeds (src/exp/stats.c) and the printing of m +- u (lm_report_fmt_measure).
 */
#include "lm_test.h"

#include "exp/internal.h"
#include "exp_fixture.h"
#include "lmech/report.h"

static lm_exp_ctx *new_ctx(void) {
    lm_exp_ctx *c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    return c;
}

Test(claim, the_three_way_rule) {
    /* inside, outside and across each edge of [1, 2] */
    cr_assert_eq(lm_exp_verdict(1.5, 0.1, 1, 2), LM_VERDICT_PASS);
    cr_assert_eq(lm_exp_verdict(1.5, 0.5, 1, 2), LM_VERDICT_PASS, "touching both edges is inside");
    cr_assert_eq(lm_exp_verdict(2.5, 0.1, 1, 2), LM_VERDICT_FAIL);
    cr_assert_eq(lm_exp_verdict(0.5, 0.1, 1, 2), LM_VERDICT_FAIL);
    cr_assert_eq(lm_exp_verdict(1.95, 0.1, 1, 2), LM_VERDICT_INCONCLUSIVE);
    cr_assert_eq(lm_exp_verdict(1.05, 0.1, 1, 2), LM_VERDICT_INCONCLUSIVE);
    cr_assert_eq(lm_exp_verdict(0.95, 0.1, 1, 2), LM_VERDICT_INCONCLUSIVE);
    cr_assert_eq(lm_exp_verdict(1.5, 1.0, 1, 2), LM_VERDICT_INCONCLUSIVE, "wider than the band");
    /* an open side; an exact value (u = 0) on the edge is inside */
    cr_assert_eq(lm_exp_verdict(1.2, 0, 1.2, LM_INF), LM_VERDICT_PASS);
    cr_assert_eq(lm_exp_verdict(1e300, 1e299, 1.2, LM_INF), LM_VERDICT_PASS);
    cr_assert_eq(lm_exp_verdict(-3, 0.5, -LM_INF, -1), LM_VERDICT_PASS);
    /* nothing measured, or no uncertainty, decides nothing */
    cr_assert_eq(lm_exp_verdict(LM_NAN, 0.1, 1, 2), LM_VERDICT_INCONCLUSIVE);
    cr_assert_eq(lm_exp_verdict(1.5, LM_NAN, 1, 2), LM_VERDICT_INCONCLUSIVE);
    cr_assert_eq(lm_exp_verdict(1.5, -0.1, 1, 2), LM_VERDICT_INCONCLUSIVE);
    cr_assert_eq(lm_exp_verdict(LM_INF, 0, 1, LM_INF), LM_VERDICT_INCONCLUSIVE);
}

Test(claim, judge_records_the_interval_and_a_power_estimate) {
    lm_exp_ctx *ctx = new_ctx();
    const int64_t runs[3] = {4, 5, 6};
    /* m = 1.25 +- 0.1 over 4 seeds against >= 1.2: straddles; d = 0.05, so ~4 (0.1/0.05)^2 = 16 */
    lm_claim *c = lm_exp_judge(ctx, &(lm_claim_spec){.name = "sharpening",
                                                     .predicted = "ratio >= 1.2",
                                                     .predicted_value = 1.2,
                                                     .measured = 1.25,
                                                     .uncertainty = 0.1,
                                                     .uncertainty_from = "2 SE over 4 seeds",
                                                     .n_seeds = 4,
                                                     .lo = 1.2,
                                                     .hi = LM_INF,
                                                     .tolerance = "ratio >= 1.2",
                                                     .tolerance_value = 1.2,
                                                     .reason = "r",
                                                     .n_runs = 3,
                                                     .runs = runs});
    cr_assert_not_null(c);
    cr_assert_eq(c->verdict, LM_VERDICT_INCONCLUSIVE);
    cr_assert(c->lo == 1.2 && isinf(c->hi));
    cr_assert(c->n_runs == 3 && c->runs[2] == 6);
    cr_assert(strstr(c->detail, "2 SE over 4 seeds"), "%s", c->detail);
    cr_assert(strstr(c->detail, "about 16 seeds (now 4)"), "%s", c->detail);
    /* a deterministic number straddling: the precision that would decide it */
    c = lm_exp_judge(ctx, &(lm_claim_spec){.name = "d",
                                           .measured = 0.98,
                                           .uncertainty = 0.04,
                                           .uncertainty_from = "numerical error bound",
                                           .lo = -LM_INF,
                                           .hi = 1.0,
                                           .predicted_value = LM_NAN,
                                           .tolerance_value = LM_NAN});
    cr_assert_eq(c->verdict, LM_VERDICT_INCONCLUSIVE);
    cr_assert(strstr(c->detail, "as precise"), "%s", c->detail);
    /* a finite measurement without an uncertainty is never judged */
    c = lm_exp_judge(ctx, &(lm_claim_spec){.name = "no u",
                                           .measured = 1.5,
                                           .uncertainty = LM_NAN,
                                           .uncertainty_from = "x",
                                           .lo = 1,
                                           .hi = 2});
    cr_assert_eq(c->verdict, LM_VERDICT_INCONCLUSIVE);
    cr_assert(strstr(c->detail, "no uncertainty"), "%s", c->detail);
    c = lm_exp_judge(
        ctx, &(lm_claim_spec){
                 .name = "no source", .measured = 1.5, .uncertainty = 0.1, .lo = 1, .hi = 2});
    cr_assert_eq(c->verdict, LM_VERDICT_INCONCLUSIVE, "u without how it was obtained");
    /* pass and fail */
    c = lm_exp_judge(ctx, &(lm_claim_spec){.name = "p",
                                           .measured = 1.5,
                                           .uncertainty = 0.1,
                                           .uncertainty_from = "2 SE over 3 seeds",
                                           .n_seeds = 3,
                                           .lo = 1,
                                           .hi = 2});
    cr_assert_eq(c->verdict, LM_VERDICT_PASS);
    c = lm_exp_judge(ctx, &(lm_claim_spec){.name = "f",
                                           .measured = 3,
                                           .uncertainty = 0.1,
                                           .uncertainty_from = "2 SE over 3 seeds",
                                           .n_seeds = 3,
                                           .lo = 1,
                                           .hi = 2});
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL);
    /* a reported figure has no verdict and no interval */
    c = lm_exp_judge(ctx, &(lm_claim_spec){.name = "rep",
                                           .measured = 0.13,
                                           .uncertainty = 0.02,
                                           .uncertainty_from = "bootstrap",
                                           .reported = 1,
                                           .lo = 0,
                                           .hi = 1});
    cr_assert_eq(c->verdict, LM_VERDICT_REPORTED);
    cr_assert(isnan(c->lo) && isnan(c->hi));
    cr_assert_eq(ctx->n_claims, 7);
    free(ctx);
}

Test(claim, a_failed_precondition_makes_its_claims_inconclusive) {
    lm_exp_ctx *ctx = new_ctx();
    const char *ok = lm_exp_precondition(ctx, "kernel regime", 1, 0.3, "eta lambda/(nk) <= 0.5",
                                         "the rate is outside the kernel regime");
    cr_assert_null(ok);
    const char *bad = lm_exp_precondition(ctx, "starts unstable", 0, 0.7, "S(0) eta/2 > 1",
                                          "S(0) eta/2 = 0.7 < 1: no catapult to observe");
    cr_assert_not_null(bad);
    cr_assert_eq(ctx->n_claims, 2);
    cr_assert_eq(ctx->claims[0].verdict, LM_VERDICT_REPORTED);
    cr_assert_str_eq(ctx->claims[1].name, "precondition: starts unstable");
    cr_assert(strstr(ctx->claims[1].detail, "does NOT hold"), "%s", ctx->claims[1].detail);
    /* a measurement that would pass is still inconclusive when its precondition failed */
    lm_claim *c = lm_exp_judge(ctx, &(lm_claim_spec){.name = "spikes",
                                                     .measured = 5,
                                                     .uncertainty = 0.1,
                                                     .uncertainty_from = "exact",
                                                     .lo = 1,
                                                     .hi = LM_INF,
                                                     .unmet = bad});
    cr_assert_eq(c->verdict, LM_VERDICT_INCONCLUSIVE);
    cr_assert(strstr(c->detail, "no catapult to observe"), "%s", c->detail);
    free(ctx);
}

Test(claim, mean_median_and_slope_uncertainties) {
    const double x[5] = {1, 2, 3, 4, LM_NAN};
    double m, u;
    cr_assert_eq(lm__exp_mean_u(5, x, &m, &u), 4);
    /* sd of 1..4 = sqrt(5/3); 2 SE = 2 sqrt(5/3)/2 */
    cr_assert(fabs(m - 2.5) < 1e-15 && fabs(u - sqrt(5.0 / 3.0)) < 1e-14, "%g %g", m, u);
    cr_assert_eq(lm__exp_mean_u(1, x, &m, &u), 1);
    cr_assert(m == 1 && isnan(u), "one value has no spread");
    /* the median with a bootstrap interval: deterministic in the seed, covering the data */
    const double y[7] = {3, 1, 4, 1, 5, 9, 2};
    double md, um, md2, um2;
    cr_assert_eq(lm__exp_median_u(7, y, 1, &md, &um), 7);
    lm__exp_median_u(7, y, 1, &md2, &um2);
    cr_assert(md == 3 && um == um2 && um > 0 && um <= 6, "%g %g", md, um);
    /* slope of y = 2 log x + seed offset + noise: exact 2 for noiseless seeds, u = 0 */
    const double lx[4] = {0, 1, 2, 3};
    double ys[3 * 4];
    for (int s = 0; s < 3; s++)
        for (int j = 0; j < 4; j++)
            ys[s * 4 + j] = 2 * lx[j] + s;
    double b, ub;
    cr_assert_eq(lm__exp_slope_u(4, lx, 3, ys, 7, &b, &ub), 4);
    cr_assert(fabs(b - 2) < 1e-14 && ub < 1e-12, "%g %g", b, ub);
    /* seeds that disagree on the slope (1, 2, 3): mean 2, and an interval that shows it */
    for (int s = 0; s < 3; s++)
        for (int j = 0; j < 4; j++)
            ys[s * 4 + j] = (1 + s) * lx[j];
    lm__exp_slope_u(4, lx, 3, ys, 7, &b, &ub);
    cr_assert(fabs(b - 2) < 1e-14 && ub > 0.3 && ub <= 1.0 + 1e-12, "%g %g", b, ub);
}

static void fmt_is(double m, double u, const char *want) {
    char buf[96];
    lm_report_fmt_measure(m, u, " +- ", buf, sizeof buf);
    cr_assert_str_eq(buf, want, "(%g, %g)", m, u);
}

Test(claim, numbers_at_the_precision_their_uncertainty_supports) {
    fmt_is(-0.48837, 0.0979457, "-0.49 +- 0.10");
    fmt_is(1.01834, 0.0123, "1.018 +- 0.012");
    fmt_is(1.01834, 0.05, "1.02 +- 0.05");
    fmt_is(20.31, 0.4, "20.3 +- 0.4");
    fmt_is(12345.6, 340, "12350 +- 340");
    fmt_is(1.23e-7, 5e-9, "(1.23 +- 0.05)e-07");
    fmt_is(0.25, 0, "0.25 +- 0");
    fmt_is(0.123456789, LM_NAN, "0.123457");
    fmt_is(LM_NAN, 0.1, "n/a");
}

Test(claim, a_series_longer_than_its_buffer_is_an_error_not_a_truncation) {
    lm_fx f;
    lm_fx_open(&f, "series", 0);
    const int64_t r = lm_fx_run(&f, "one", "{}");
    double v[10];
    for (int i = 0; i < 10; i++)
        v[i] = i;
    lm_fx_series(&f, r, "sharpness", 10, NULL, v);
    lm_fx_series(&f, r, "train_loss", 3, NULL, v);
    int64_t st[10];
    double got[10];
    size_t n = 0;
    lm_err err = {0};
    cr_assert_eq(lm_exp_series(f.ctx, r, "sharpness", 10, st, got, &n, &err), LM_OK, "%s", err.msg);
    cr_assert(n == 10 && got[9] == 9.0 && st[9] == 9);
    cr_assert_eq(lm_exp_series(f.ctx, r, "sharpness", 4, st, got, &n, &err), LM_ELIMIT);
    cr_assert(strstr(err.msg, "sharpness") && strstr(err.msg, "10") && strstr(err.msg, "4"), "%s",
              err.msg);
    double *all = NULL;
    int64_t *steps = NULL;
    cr_assert_eq(lm_exp_series_alloc(f.ctx, r, "train_loss", &steps, &all, &n, &err), LM_OK);
    cr_assert(n == 3 && all[2] == 2.0 && steps[2] == 2);
    lm_free(all);
    lm_free(steps);
    cr_assert_eq(lm_exp_series_alloc(f.ctx, r, "absent", NULL, &all, &n, &err), LM_OK);
    cr_assert(n == 0 && all == NULL);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}
