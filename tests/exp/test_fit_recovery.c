/* test_fit_recovery.c: negative controls of the fit-recovery experiment (src/exp/
 * exp_fit_recovery.c). Its analysis draws synthetic replicates from the seed of its one recorded
 * run, so each control is a hand-made store with that run and a design outside the claims'
 * domain, analysed on few small replicates (16 points each: a test stays within seconds):
 *   - too few model sizes (two, 12 % apart): the fitter flags the fits, the claims are not
 *     passed (the precondition fails);
 *   - data drawn with alpha = 0.40, beta = 0.20 (0.2 % noise): the +-0.02 recovery claims fail,
 *     and so do the coverage claims (narrow intervals around the data's exponents miss 0.34 and
 *     0.28 in every replicate).
 * (A control with noise shared by each model size's runs was tried: with 4 model sizes the point
 * bootstrap, which can drop a whole size, still covered the truth in 3 of 3 replicates, so it is
 * not a control.) */
#include "exp_fixture.h"

static const char *CARRIER = "{\"seed\": 0, \"notes\": \"fit-recovery seed carrier\"}";

static lm__fit_design small(void) {
    lm__fit_design d = lm__fit_recovery_design(1);
    d.nN = 4;
    d.nD = 4;
    d.reps = 3;
    d.boot = 40;
    return d;
}

Test(fit_recovery, too_few_model_sizes_is_flagged) {
    lm_fx f;
    lm_fx_open(&f, "fit-recovery", 1);
    lm_fx_run(&f, "seed carrier", CARRIER);
    lm__fit_design d = small();
    d.nN = 2;
    d.nD = 8;
    d.lN[0] = 8;
    d.lN[1] = 8.05;
    d.reps = 2;
    lm_err err = {0};
    cr_assert_eq(lm__fit_recovery_analyse(f.ctx, &d, &err), LM_OK, "%s", err.msg);
    const lm_claim *pre = lm_fx_claim(&f, "precondition: fits identifiable");
    cr_assert(pre->measured >= 1, "flagged %g", pre->measured);
    const char *names[] = {"alpha-hat", "beta-hat", "coverage (alpha)", "coverage (beta)"};
    for (int i = 0; i < 4; i++) {
        const lm_claim *c = lm_fx_claim(&f, names[i]);
        cr_assert_neq(c->verdict, LM_VERDICT_PASS, "%s passed on an unidentifiable design",
                      c->name);
    }
    lm_fx_close(&f);
}

Test(fit_recovery, wrong_exponents_fail_recovery) {
    lm_fx f;
    lm_fx_open(&f, "fit-recovery", 1);
    lm_fx_run(&f, "seed carrier", CARRIER);
    lm__fit_design d = small();
    d.noise = 0.002;
    d.alpha = 0.40;
    d.beta = 0.20;
    lm_err err = {0};
    cr_assert_eq(lm__fit_recovery_analyse(f.ctx, &d, &err), LM_OK, "%s", err.msg);
    const lm_claim *a = lm_fx_claim(&f, "alpha-hat");
    const lm_claim *b = lm_fx_claim(&f, "beta-hat");
    cr_assert_eq(a->verdict, LM_VERDICT_FAIL, "alpha %g +- %g", a->measured, a->uncertainty);
    cr_assert_eq(b->verdict, LM_VERDICT_FAIL, "beta %g +- %g", b->measured, b->uncertainty);
    cr_assert(fabs(a->measured - 0.40) < 0.01, "the fitter still finds the data's alpha: %g",
              a->measured);
    const lm_claim *ca = lm_fx_claim(&f, "coverage (alpha)");
    const lm_claim *cb = lm_fx_claim(&f, "coverage (beta)");
    cr_assert_eq(ca->verdict, LM_VERDICT_FAIL, "coverage %g: %s", ca->measured, ca->detail);
    cr_assert_eq(cb->verdict, LM_VERDICT_FAIL, "coverage %g: %s", cb->measured, cb->detail);
    lm_fx_close(&f);
}
