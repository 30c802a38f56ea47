/*
 * Tests of the central-flow experiment's analysis (src/exp/exp_central_flow.c): the judgement over
 * seeds (mean with 2 SE; seeds without a measurement left out) and a negative control, gradient
 * flow substituted for the central flow, where the weight claim must fail: GD's distance to the
 * substitute is its distance to gradient flow, a ratio of exactly 1 against the claimed <= 0.25.
 * The measurement runs on the two-mode deep-linear model of tests/theory/test_central_flow.c,
 * whose flow reaches the edge at step 1 (GD at eta = 1.05 cannot settle at its minimum, where
 * the sharpness 2 m1 = 2 exceeds 2/eta).
 */
#include "exp_fixture.h"

#include "lmech/theory.h"

lm_status lm__exp_cf_measure(const lm_mlp *m, lm_loss loss, const lm_dataset *d,
                             const double *theta0, double eta, size_t T, int substitute_gf,
                             double *gap, double *ratio, long *active_from, double *fig,
                             lm_err *err);
void lm__exp_cf_judge(lm_exp_ctx *ctx, size_t ns, const double *gap, const double *ratio,
                      const long *active_from, size_t n_runs, const int64_t *runs);

Test(central_flow_exp, judge_over_seeds) {
    lm_fx f;
    lm_fx_open(&f, "central-flow", 0);
    const double gap[4] = {0.04, 0.05, 0.06, 0.05}, ratio[4] = {0.1, 0.2, LM_NAN, 0.15};
    const long from[4] = {10, 20, -1, 5};
    const int64_t runs[4] = {1, 2, 3, 4};
    lm__exp_cf_judge(f.ctx, 4, gap, ratio, from, 4, runs);
    /* gaps: mean 0.05, sd sqrt(0.0002 / 3), u = 2 sd / sqrt(4) */
    const lm_claim *c = lm_fx_claim(&f, "time-averaged loss");
    cr_assert_float_eq(c->measured, 0.05, 1e-12);
    cr_assert_float_eq(c->uncertainty, sqrt(0.0002 / 3.0), 1e-12);
    cr_assert_float_eq(c->predicted_value, 0.0, 0);
    cr_assert_eq(c->verdict, LM_VERDICT_PASS);
    cr_assert_eq(c->n_runs, 4u);
    /* ratios: the seed without one is left out: 0.1, 0.2, 0.15, mean 0.15, u = 2 (0.05 / sqrt 3) */
    c = lm_fx_claim(&f, "tracks GD");
    cr_assert_float_eq(c->measured, 0.15, 1e-12);
    cr_assert_float_eq(c->uncertainty, 2.0 * 0.05 / sqrt(3.0), 1e-12);
    cr_assert_eq(c->verdict, LM_VERDICT_PASS);
    cr_assert(strstr(c->detail, "seed 2: gap 0.0600, weight ratio nan, on the edge from step -1"),
              "%s", c->detail);
    cr_assert(strstr(c->detail, "2 SE over 3 seeds"), "%s", c->detail);
    lm_fx_close(&f);
}

Test(central_flow_exp, no_seed_measured_is_inconclusive) {
    lm_fx f;
    lm_fx_open(&f, "central-flow-nan", 0);
    const double nan4[4] = {LM_NAN, LM_NAN, LM_NAN, LM_NAN};
    const long from[4] = {-1, -1, -1, -1};
    lm__exp_cf_judge(f.ctx, 4, nan4, nan4, from, 0, NULL);
    cr_assert_eq(lm_fx_claim(&f, "time-averaged loss")->verdict, LM_VERDICT_INCONCLUSIVE);
    cr_assert_eq(lm_fx_claim(&f, "tracks GD")->verdict, LM_VERDICT_INCONCLUSIVE);
    lm_fx_close(&f);
}

/* L = 1/2 ||W2 W1 - diag(1, 1/4)||_F^2 on 2x2 linear layers (tests/theory/test_central_flow.c) */
typedef struct modes {
    lm_mlp *m;
    double x[4], y[4];
    lm_dataset d;
} modes;

static void modes_make(modes *o) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = 3;
    s.widths[0] = s.widths[1] = s.widths[2] = 2;
    s.act = LM_ACT_IDENTITY;
    s.bias = 0;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &o->m, &err), LM_OK, "%s", err.msg);
    const double r = sqrt(2.0);
    const double x[4] = {r, 0, 0, r}, y[4] = {r, 0, 0, r * 0.25};
    memcpy(o->x, x, sizeof x);
    memcpy(o->y, y, sizeof y);
    o->d = (lm_dataset){.n = 2, .d = 2, .k = 2, .x = o->x, .y = o->y};
}

static void modes_theta(const modes *o, double u1, double u2, double *w) {
    memset(w, 0, 8 * sizeof *w);
    const size_t o1 = o->m->layer[0].w_off, o2 = o->m->layer[1].w_off;
    w[o1] = w[o2] = sqrt(u1);
    w[o1 + 3] = w[o2 + 3] = sqrt(u2);
}

/* Negative control: gradient flow in place of the central flow cannot track GD better than
 * gradient flow does: the weight claim fails. */
Test(central_flow_exp, control_gradient_flow_substituted_fails) {
    modes o;
    modes_make(&o);
    const double u1[4] = {0.7, 0.72, 0.74, 0.76};
    double gap[4], ratio[4], w[8];
    long from[4];
    lm_err err = {0};
    for (size_t s = 0; s < 4; s++) {
        modes_theta(&o, u1[s], 0.2, w);
        cr_assert_eq(lm__exp_cf_measure(o.m, LM_LOSS_MSE, &o.d, w, 1.05, 60, 1, &gap[s], &ratio[s],
                                        &from[s], NULL, &err),
                     LM_OK, "%s", err.msg);
        cr_assert_float_eq(ratio[s], 1.0, 1e-12, "seed %zu: ratio %.17g", s, ratio[s]);
    }
    lm_fx f;
    lm_fx_open(&f, "central-flow-gf", 0);
    lm__exp_cf_judge(f.ctx, 4, gap, ratio, from, 0, NULL);
    const lm_claim *c = lm_fx_claim(&f, "tracks GD");
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "measured %g +- %g", c->measured, c->uncertainty);
    lm_fx_close(&f);
    lm_mlp_free(o.m);
}

/* The same measurement with the central flow: it reaches the edge at step 1 and every quantity
 * is measured (the claims themselves are about the EoS network, not this model). */
Test(central_flow_exp, measure_with_the_flow) {
    modes o;
    modes_make(&o);
    double w[8], gap, ratio, fig[61 * 5];
    long from;
    lm_err err = {0};
    modes_theta(&o, 0.7, 0.2, w);
    cr_assert_eq(
        lm__exp_cf_measure(o.m, LM_LOSS_MSE, &o.d, w, 1.05, 60, 0, &gap, &ratio, &from, fig, &err),
        LM_OK, "%s", err.msg);
    cr_assert_eq(from, 1);
    cr_assert(isfinite(gap) && gap >= 0, "gap %g", gap);
    cr_assert(isfinite(ratio) && ratio >= 0, "ratio %g", ratio);
    cr_assert_float_eq(fig[0], 0.0, 0);
    cr_assert_float_eq(fig[60 * 5], 60.0, 0);
    lm_mlp_free(o.m);
}
