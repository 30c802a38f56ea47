/*
 * Tests of the aeos analysis (src/exp/exp_aeos.c) on hand-filled stores: the per-seed reductions
 * and the mean with 2 SE over seeds, and negative controls where the theory says a claim must
 * fail: the same Adam series judged against the threshold of plain GD / Adam with b1 = 0 (2/eta,
 * 19x below Adam's (2 + 2 b1) / ((1 - b1) eta) at b1 = 0.9) and against b1 = 0.99's (10.5x above).
 */
#include "exp_fixture.h"

#define NS 4
#define NM 150 /* measurements per seed, every 20 steps */

/* Adam's preconditioned sharpness over its threshold at b1 = 0.9: 50 measurements climbing from
 * 0.5 to 0.94, then 100 on the edge: 1.0, except the first j of every 10, at 1.3 (out of the band
 * [0.85, 1.15]). The fraction in band is 1 - j/10 exactly. */
static void adam_series(size_t j, int64_t *st, double *r) {
    for (size_t k = 0; k < NM; k++) {
        st[k] = (int64_t) (20 * k);
        r[k] = k < 50 ? 0.5 + 0.44 * (double) k / 49.0 : (k - 50) % 10 < j ? 1.3 : 1.0;
    }
}

static const size_t out_of_band[NS] = {0, 1, 2, 1}; /* fractions 1, 0.9, 0.8, 0.9 */

/* scale: the factor that turns the b1 = 0.9 ratio into the ratio to another threshold */
static void fill(lm_fx *f, double scale) {
    int64_t st[NM];
    double r[NM];
    for (size_t s = 0; s < NS; s++) {
        char label[32];
        snprintf(label, sizeof label, "adam seed=%zu", s);
        const int64_t run = lm_fx_run(f, label, lm__exp_eos_base);
        adam_series(out_of_band[s], st, r);
        for (size_t k = 0; k < NM; k++)
            r[k] *= scale;
        lm_fx_series(f, run, "precond_sharpness_ratio", NM, st, r);
    }
}

Test(aeos, analysis_over_seeds) {
    lm_fx f;
    lm_fx_open(&f, "aeos", 0);
    fill(&f, 1.0);
    lm_err err = {0};
    cr_assert_eq(lm__exp_aeos.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    /* max per seed: 1.0, 1.3, 1.3, 1.3: mean 1.225, sd 0.15, u = 2 sd / 2 = 0.15 */
    const lm_claim *c = lm_fx_claim(&f, "reaches");
    cr_assert_float_eq(c->measured, 1.225, 1e-12);
    cr_assert_float_eq(c->uncertainty, 0.15, 1e-12);
    cr_assert_float_eq(c->predicted_value, 1.0, 0, "a ratio claim predicts the ratio, 1");
    cr_assert_eq(c->verdict, LM_VERDICT_PASS);
    cr_assert_eq(c->n_runs, (size_t) NS);
    /* fractions 1, 0.9, 0.8, 0.9: mean 0.9, u = 2 sqrt(0.02/3) / 2 */
    c = lm_fx_claim(&f, "equilibrates");
    cr_assert_float_eq(c->measured, 0.9, 1e-12);
    cr_assert_float_eq(c->uncertainty, sqrt(0.02 / 3.0), 1e-12);
    cr_assert_float_eq(c->predicted_value, 1.0, 0);
    cr_assert_eq(c->verdict, LM_VERDICT_PASS);
    cr_assert(strstr(c->detail, "seed 2: max 1.300, 100 of 150 measurements from step 1000 on, "
                                "80.0 % in band"),
              "%s", c->detail);
    c = lm_fx_claim(&f, "median ratio");
    cr_assert_eq(c->verdict, LM_VERDICT_REPORTED);
    cr_assert_float_eq(c->measured, 1.0, 1e-12);
    lm_fx_close(&f);
}

/* Negative control: Adam at the edge judged against b1 = 0's threshold 2/eta (what plain GD would
 * predict): the ratio sits at 19, far above the band, so it does not equilibrate there. */
Test(aeos, control_gd_threshold_fails) {
    lm_fx f;
    lm_fx_open(&f, "aeos-gd", 0);
    fill(&f, (2.0 + 2.0 * 0.9) / (1.0 - 0.9) / 2.0); /* 38 / 2 = 19 */
    lm_err err = {0};
    cr_assert_eq(lm__exp_aeos.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    const lm_claim *c = lm_fx_claim(&f, "equilibrates");
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "measured %g +- %g", c->measured, c->uncertainty);
    cr_assert_float_eq(c->measured, 0.0, 0);
    lm_fx_close(&f);
}

/* Negative control: against b1 = 0.99's threshold (2 + 1.98) / (0.01 eta) = 398/eta the ratio
 * never passes 1.3 x 38/398 = 0.12: it does not reach the edge. */
Test(aeos, control_b1_099_threshold_fails) {
    lm_fx f;
    lm_fx_open(&f, "aeos-b099", 0);
    fill(&f, 38.0 / 398.0);
    lm_err err = {0};
    cr_assert_eq(lm__exp_aeos.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    const lm_claim *c = lm_fx_claim(&f, "reaches");
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "measured %g +- %g", c->measured, c->uncertainty);
    /* no seed reaches the edge: no fraction to judge */
    cr_assert_eq(lm_fx_claim(&f, "equilibrates")->verdict, LM_VERDICT_INCONCLUSIVE);
    lm_fx_close(&f);
}

/* Runs without a single measurement (the observer off) decide nothing. */
Test(aeos, empty_series_is_inconclusive) {
    lm_fx f;
    lm_fx_open(&f, "aeos-empty", 0);
    for (size_t s = 0; s < NS; s++)
        lm_fx_run(&f, "adam", lm__exp_eos_base);
    lm_err err = {0};
    cr_assert_eq(lm__exp_aeos.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_fx_claim(&f, "reaches")->verdict, LM_VERDICT_INCONCLUSIVE);
    cr_assert_eq(lm_fx_claim(&f, "equilibrates")->verdict, LM_VERDICT_INCONCLUSIVE);
    lm_fx_close(&f);
}
