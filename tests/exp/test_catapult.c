/*
 * test_catapult.c: the catapult analysis (src/exp/exp_catapult.c) on hand-filled stores. A loss
 * that grows over several steps and falls passes; the negative control, a loss that rises within
 * noise on one step with the precondition met, fails "loss spikes" (the old rule, max over t of
 * L(t+1)/L(t) >= 1, passed it); a start below 2/eta leaves the claims inconclusive.
 */
#include "lm_test.h"

#include "exp_fixture.h"

#define NL 201 /* steps 0..200 */
#define NS 41  /* sharpness every 5 steps */

static const char *cfg = "{\"name\": \"catapult\"}";

/* one seed: S(0) = s0, then S at 26 from step 10 (eta = 0.08: 2/eta = 25); the loss falls from
 * 0.5, and with spike > 1 grows by that factor over steps 3..7 before falling to 0.1 */
static void seed_series(lm_fx *f, int64_t run, double s0, double spike, int wobble) {
    int64_t st[NS];
    double s[NS], l[NL];
    for (int k = 0; k < NS; k++) {
        st[k] = 5 * k;
        s[k] = k == 0 ? s0 : k == 1 ? 0.5 * (s0 + 26.0) : 26.0;
    }
    for (int t = 0; t < NL; t++)
        l[t] = 0.1 + 0.4 * exp(-t / 10.0);
    if (spike > 1)
        for (int t = 4; t <= 7; t++)
            l[t] = l[3] * pow(spike, (t - 3) / 4.0);
    if (wobble) /* a rise of 0.5 % on one step: rounding-size, not a catapult */
        l[10] = l[9] * 1.005;
    lm_fx_series(f, run, "sharpness", NS, st, s);
    lm_fx_series(f, run, "train_loss", NL, NULL, l);
}

static void fill(lm_fx *f, double s0, double spike, int wobble) {
    char lb[64];
    for (int s = 0; s < 4; s++) {
        snprintf(lb, sizeof lb, "eta=0.08 seed=%d", s);
        seed_series(f, lm_fx_run(f, lb, cfg), s0 + s, spike * (1 + 0.1 * s), wobble);
    }
    for (int s = 0; s < 4; s++) {
        snprintf(lb, sizeof lb, "control eta=0.02 seed=%d", s);
        seed_series(f, lm_fx_run(f, lb, cfg), s0 + s, 1.0, 0);
    }
}

/* the rule the old analysis applied: the largest one-step growth over t < 100 */
static double old_rule(const double *l, size_t n) {
    double r = 0;
    for (size_t t = 1; t < n && t <= 100; t++)
        r = fmax(r, l[t] / l[t - 1]);
    return r;
}

Test(catapult, a_multi_step_spike_passes) {
    lm_fx f;
    lm_fx_open(&f, "catapult", 0);
    fill(&f, 38.0, 2.5, 0);
    lm_err err = {0};
    cr_assert_eq(lm__exp_catapult.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    const char *names[] = {"loss spikes", "then falls", "lands", "no spike"};
    for (size_t i = 0; i < 4; i++) {
        const lm_claim *c = lm_fx_claim(&f, names[i]);
        cr_assert_eq(c->verdict, LM_VERDICT_PASS, "%s: %g +- %g %s", c->name, c->measured,
                     c->uncertainty, c->detail);
    }
    const lm_claim *p = lm_fx_claim(&f, "precondition");
    cr_assert_eq(p->verdict, LM_VERDICT_REPORTED);
    cr_assert_float_eq(p->measured, 38.0 * 0.04, 1e-12);
    lm_fx_close(&f);
}

Test(catapult, a_one_step_rise_within_noise_fails) {
    lm_fx f;
    lm_fx_open(&f, "catapult-neg", 0);
    fill(&f, 38.0, 1.0, 1); /* precondition met, no spike, one 0.5 % wobble */
    lm_err err = {0};
    cr_assert_eq(lm__exp_catapult.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    const lm_claim *c = lm_fx_claim(&f, "loss spikes");
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%g +- %g %s", c->measured, c->uncertainty,
                 c->detail);
    cr_assert_eq(lm_fx_claim(&f, "precondition")->detail[0] != 0, 1);
    /* the old rule passed the same series: max L(t+1)/L(t) = 1.005 >= 1 */
    double *l = NULL;
    size_t n = 0;
    cr_assert_eq(lm_exp_series_alloc(f.ctx, f.ctx->run[0], "train_loss", NULL, &l, &n, &err),
                 LM_OK);
    cr_assert(old_rule(l, n) >= 1.0, "%g", old_rule(l, n));
    lm_free(l);
    lm_fx_close(&f);
}

Test(catapult, a_stable_start_leaves_the_claims_inconclusive) {
    lm_fx f;
    lm_fx_open(&f, "catapult-stable", 0);
    fill(&f, 20.0, 2.5, 0); /* S(0) eta/2 = 0.8-0.92: no catapult can happen */
    lm_err err = {0};
    cr_assert_eq(lm__exp_catapult.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    const lm_claim *c = lm_fx_claim(&f, "loss spikes");
    cr_assert_eq(c->verdict, LM_VERDICT_INCONCLUSIVE);
    cr_assert(strstr(c->detail, "precondition"), "%s", c->detail);
    lm_fx_close(&f);
}

Test(catapult, an_empty_store_is_inconclusive) {
    lm_fx f;
    lm_fx_open(&f, "catapult-empty", 0);
    for (int s = 0; s < 4; s++)
        lm_fx_run(&f, "eta=0.08 seed=0", cfg);
    for (int s = 0; s < 4; s++)
        lm_fx_run(&f, "control eta=0.02 seed=0", cfg);
    lm_err err = {0};
    cr_assert_eq(lm__exp_catapult.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < f.ctx->n_claims; i++)
        cr_assert_neq(f.ctx->claims[i].verdict, LM_VERDICT_PASS, "%s", f.ctx->claims[i].name);
    lm_fx_close(&f);
}
