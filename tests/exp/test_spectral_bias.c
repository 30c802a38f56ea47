/*
 * test_spectral_bias.c: the analysis of spectral-bias (science.md §8(b)) on hand-filled stores
 * (exp_fixture.h): runs with the quick variant's configs and fourier.k series written by hand.
 *   - each mode decaying exactly as (1 - eta lambda_k)^t with lambda_k from the analytic NTK:
 *     every half-time claim and the order claim pass;
 *   - the decay of the wrong spectrum (frequencies 2 and 8 trading eigenvalues): the order claim
 *     and those two half-time claims fail (the negative control);
 *   - a network that left the kernel regime (ntk_change 0.3): the claims are inconclusive;
 *   - a mode that never halves: its half-time is bounded below by the last step; inconclusive
 *     while that bound is inside the tolerance, a fail once it is beyond (never a pass).
 * The experiment's source is included so that its design, plan and analysis are the ones tested.
 */
#include "exp_fixture.h"

#define lm__exp_spectral_bias lm__exp_spectral_bias_under_test
#include "exp/exp_spectral_bias.c"

/* Writes ns runs of design d whose fourier.k decay at rates lam_used[k] (per step factor
 * 1 - eta lam), with a seed-dependent initial amplitude and a 0.5 % wobble, plus ntk_change. */
static void fill(lm_fx *f, const design *d, const double *lam_used, double eta, double ntk_move,
                 int never_halve_k8, size_t T) {
    lm_exp_plan *p = calloc(1, sizeof *p);
    lm_err err = {0};
    cr_assert_eq(plan_design(d, p, &err), LM_OK, "%s", err.msg);
    int64_t *steps = malloc(T * sizeof *steps);
    double *v = malloc(T * sizeof *v);
    for (size_t s = 0; s < p->n; s++) {
        const int64_t r = lm_fx_run(f, p->label[s], p->config[s]);
        for (size_t q = 0; q < N_FREQ; q++) {
            const double a0 = 1.0 + 0.3 * (double) s + 0.1 * (double) q;
            const double rate = never_halve_k8 && q == 3 ? 1e-5 : lam_used[q];
            for (size_t t = 0; t < T; t++) {
                steps[t] = (int64_t) (t * 4); /* every 4 steps: interpolation is exercised */
                v[t] = a0 * pow(1 - eta * rate, (double) steps[t]) *
                       (1 + 0.005 * sin(0.7 * (double) t + (double) s));
            }
            char name[32];
            snprintf(name, sizeof name, "fourier.%d", FREQ[q]);
            lm_fx_series(f, r, name, T, steps, v);
        }
        const int64_t last = (int64_t) d->steps;
        const int64_t st2[2] = {0, last};
        const double mv[2] = {0, ntk_move};
        lm_fx_series(f, r, "ntk_change", 2, st2, mv);
    }
    lm_exp_plan_clear(p);
    free(p);
    free(steps);
    free(v);
}

/* The true lambda_k (from the analysis' own prediction on the first run). */
static prediction truth(lm_fx *f) {
    prediction pr;
    lm_err err = {0};
    cr_assert_eq(predict(f->ctx, f->ctx->run[0], &pr, &err), LM_OK, "%s", err.msg);
    return pr;
}

/* A design whose slowest predicted mode halves within the 1600 steps the fixture writes. */
static const design D = {1024, 3, 1200, 1.5};

Test(spectral_bias, exact_decay_passes) {
    lm_fx f;
    lm_fx_open(&f, "sb-pass", 1);
    /* first a run to read the prediction, then the fixture runs at those rates */
    lm_exp_plan *p = calloc(1, sizeof *p);
    lm_err err = {0};
    cr_assert_eq(plan_design(&D, p, &err), LM_OK);
    lm_fx_run(&f, "probe", p->config[0]);
    const prediction pr = truth(&f);
    lm_fx_close(&f);
    lm_exp_plan_clear(p);
    free(p);
    cr_assert(pr.circ_err < 1e-12, "circulant %g", pr.circ_err);
    cr_assert(pr.lam[0] > pr.lam[1] && pr.lam[1] > pr.lam[2] && pr.lam[2] > pr.lam[3]);
    cr_assert(pr.t_half[3] < 1500, "the fixture must reach the slowest half-time: %g",
              pr.t_half[3]);

    lm_fx_open(&f, "sb-pass", 1);
    fill(&f, &D, pr.lam, D.lr, 0.02, 0, 400);
    cr_assert_eq(analyse_design(f.ctx, &D, &err), LM_OK, "%s", err.msg);
    for (size_t q = 0; q < N_FREQ; q++) {
        char name[64];
        snprintf(name, sizeof name, "frequency %d half-decay", FREQ[q]);
        const lm_claim *c = lm_fx_claim(&f, name);
        cr_expect_eq(c->verdict, LM_VERDICT_PASS, "%s: %s", c->name, c->detail);
        cr_expect(fabs(c->measured - 1) < 0.02, "%s measured %g", c->name, c->measured);
    }
    const lm_claim *o = lm_fx_claim(&f, "learned in order");
    cr_expect_eq(o->verdict, LM_VERDICT_PASS, "%s", o->detail);
    lm_fx_close(&f);
}

Test(spectral_bias, wrong_spectrum_fails) {
    lm_fx f;
    lm_fx_open(&f, "sb-fail", 1);
    lm_exp_plan *p = calloc(1, sizeof *p);
    lm_err err = {0};
    cr_assert_eq(plan_design(&D, p, &err), LM_OK);
    lm_fx_run(&f, "probe", p->config[0]);
    const prediction pr = truth(&f);
    lm_fx_close(&f);
    lm_exp_plan_clear(p);
    free(p);
    double wrong[N_FREQ] = {pr.lam[0], pr.lam[3], pr.lam[2], pr.lam[1]};
    lm_fx_open(&f, "sb-fail", 1);
    fill(&f, &D, wrong, D.lr, 0.02, 0, 400);
    cr_assert_eq(analyse_design(f.ctx, &D, &err), LM_OK, "%s", err.msg);
    cr_expect_eq(lm_fx_claim(&f, "learned in order")->verdict, LM_VERDICT_FAIL);
    cr_expect_eq(lm_fx_claim(&f, "frequency 2 half-decay")->verdict, LM_VERDICT_FAIL);
    cr_expect_eq(lm_fx_claim(&f, "frequency 8 half-decay")->verdict, LM_VERDICT_FAIL);
    cr_expect_eq(lm_fx_claim(&f, "frequency 1 half-decay")->verdict, LM_VERDICT_PASS);
    lm_fx_close(&f);
}

Test(spectral_bias, outside_the_kernel_regime_is_inconclusive) {
    lm_fx f;
    lm_fx_open(&f, "sb-rich", 1);
    lm_exp_plan *p = calloc(1, sizeof *p);
    lm_err err = {0};
    cr_assert_eq(plan_design(&D, p, &err), LM_OK);
    lm_fx_run(&f, "probe", p->config[0]);
    const prediction pr = truth(&f);
    lm_fx_close(&f);
    lm_exp_plan_clear(p);
    free(p);
    lm_fx_open(&f, "sb-rich", 1);
    fill(&f, &D, pr.lam, D.lr, 0.3, 1, 400);
    cr_assert_eq(analyse_design(f.ctx, &D, &err), LM_OK, "%s", err.msg);
    cr_expect_eq(lm_fx_claim(&f, "frequency 1 half-decay")->verdict, LM_VERDICT_INCONCLUSIVE);
    cr_expect_eq(lm_fx_claim(&f, "learned in order")->verdict, LM_VERDICT_INCONCLUSIVE);
    lm_fx_close(&f);
    /* in the regime, a mode that never halves within 1.1 x its predicted half-time: its
     * half-time is only bounded below by a value inside the tolerance, so inconclusive, never a
     * pass; still the slowest mode, so the order holds */
    const size_t short_t = (size_t) (1.1 * pr.t_half[3] / 4);
    lm_fx_open(&f, "sb-never", 1);
    fill(&f, &D, pr.lam, D.lr, 0.02, 1, short_t);
    cr_assert_eq(analyse_design(f.ctx, &D, &err), LM_OK, "%s", err.msg);
    const lm_claim *c = lm_fx_claim(&f, "frequency 8 half-decay");
    cr_expect_eq(c->verdict, LM_VERDICT_INCONCLUSIVE, "%s", c->detail);
    cr_expect_eq(lm_fx_claim(&f, "learned in order")->verdict, LM_VERDICT_PASS);
    cr_expect_eq(lm_fx_claim(&f, "frequency 4 half-decay")->verdict, LM_VERDICT_PASS);
    lm_fx_close(&f);
    /* ... and never within 6 x: the lower bound alone is outside the tolerance, a fail */
    lm_fx_open(&f, "sb-never-long", 1);
    fill(&f, &D, pr.lam, D.lr, 0.02, 1, 400);
    cr_assert_eq(analyse_design(f.ctx, &D, &err), LM_OK, "%s", err.msg);
    c = lm_fx_claim(&f, "frequency 8 half-decay");
    cr_expect_eq(c->verdict, LM_VERDICT_FAIL, "%s", c->detail);
    cr_expect(c->measured > 6, "lower bound %g", c->measured);
    lm_fx_close(&f);
}
