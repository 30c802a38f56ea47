/*
 * test_learning_curves.c: the analysis of learning-curves (science.md §8(a)) on hand-filled
 * stores (exp_fixture.h): runs carry only their configs (small power-law sets: the analysis
 * regenerates each trial's data from its config, so no training is needed).
 *   - the negative control: the prediction written from the wrong spectrum (b = 1.2 instead of
 *     the data's 1.6: more target power in the tail; or a = 3 instead of 1.5) must FAIL the
 *     test-MSE claims;
 *   - with the data's own spectrum no claim fails (30 trials: some may be inconclusive);
 *   - n = 25 is a reported figure, never judged.
 * The experiment's source is included so that its design, plan and analysis are the ones tested.
 */
#include "exp_fixture.h"

#define lm__exp_learning_curves lm__exp_learning_curves_under_test
#include "exp/exp_learning_curves.c"

/* 30 trials of 300 features, pools of 120 and 200 test rows, n = 25, 50, 100 */
static design_a small(double theory_a_, double theory_b) {
    return (design_a){300, 120, 200, 3, 30, {25, 50, 100}, theory_a_, theory_b};
}

static void fill(lm_fx *f, const design_a *d) {
    lm_exp_plan *p = calloc(1, sizeof *p);
    lm_err err = {0};
    cr_assert_eq(plan_a(d, p, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < p->n; i++)
        lm_fx_run(f, p->label[i], p->config[i]);
    lm_exp_plan_clear(p);
    free(p);
}

static size_t count(const lm_fx *f, const char *part, lm_verdict v) {
    size_t k = 0;
    for (size_t i = 0; i < f->ctx->n_claims; i++)
        k += strstr(f->ctx->claims[i].name, part) && f->ctx->claims[i].verdict == v;
    return k;
}

Test(learning_curves, wrong_spectrum_fails) {
    const double wrong[2][2] = {{LM_NAN, 1.2}, {3.0, LM_NAN}};
    for (size_t w = 0; w < 2; w++) {
        lm_fx f;
        lm_fx_open(&f, "lc-wrong", 0);
        const design_a d = small(wrong[w][0], wrong[w][1]);
        fill(&f, &d);
        lm_err err = {0};
        cr_assert_eq(analyse_a(f.ctx, &d, 0, &err), LM_OK, "%s", err.msg);
        /* 3 ridges x n in {50, 100}: every test-MSE claim fails */
        cr_expect_eq(count(&f, "test MSE", LM_VERDICT_FAIL), 6, "wrong spectrum %zu: %zu fail", w,
                     count(&f, "test MSE", LM_VERDICT_FAIL));
        lm_fx_close(&f);
    }
}

Test(learning_curves, own_spectrum_does_not_fail) {
    lm_fx f;
    lm_fx_open(&f, "lc-right", 0);
    const design_a d = small(LM_NAN, LM_NAN);
    fill(&f, &d);
    lm_err err = {0};
    cr_assert_eq(analyse_a(f.ctx, &d, 0, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < f.ctx->n_claims; i++)
        cr_expect_neq(f.ctx->claims[i].verdict, LM_VERDICT_FAIL, "%s: %g (%s)",
                      f.ctx->claims[i].name, f.ctx->claims[i].measured, f.ctx->claims[i].detail);
    cr_expect_eq(lm_fx_claim(&f, "test MSE ridge 0 n=25")->verdict, LM_VERDICT_REPORTED);
    cr_expect_eq(lm_fx_claim(&f, "test MSE ridge 1 n=100")->verdict == LM_VERDICT_PASS ||
                     lm_fx_claim(&f, "test MSE ridge 1 n=100")->verdict == LM_VERDICT_INCONCLUSIVE,
                 1);
    /* the ridge-0 train MSE is 0 by interpolation: no train claim at ridge 0 */
    for (size_t i = 0; i < f.ctx->n_claims; i++)
        cr_expect(!strstr(f.ctx->claims[i].name, "train MSE ridge 0 "), "%s",
                  f.ctx->claims[i].name);
    lm_fx_close(&f);
}
