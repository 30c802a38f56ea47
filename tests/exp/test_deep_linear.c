/*
 * test_deep_linear.c: the analyses of deep-linear-modes, deep-linear-depth and saddle-to-saddle
 * (src/exp/exp_deep_linear_*.c, exp_saddle_to_saddle.c) on hand-filled stores whose configs are
 * the experiments' own quick plans. Mode series written from the theory pass; the negative
 * controls, written where the theory says the claims must fail, fail: a two-layer trajectory
 * 10 % too fast, depth-2 dynamics recorded for a depth-3 net (trajectory, half-time and u0
 * scaling all wrong), and a random-init run that learns its modes in INCREASING s with equal
 * half-times' products far apart. The interpolation helper is checked on a known crossing.
 */
#include "lm_test.h"

#include "exp_fixture.h"
#include "lmech/theory.h"

static const double S[5] = {3, 2, 1, 0.5, 0.25};

/* n records every `every` steps of mode.1..5, u_k(t) = fn(k, t), t = lr * step */
static void modes(lm_fx *f, int64_t run, size_t n, size_t every, double lr,
                  double (*fn)(size_t k, double t, const void *ud), const void *ud) {
    int64_t *st = calloc(n, sizeof *st);
    double *v = calloc(n, sizeof *v);
    cr_assert(st && v);
    char name[16];
    for (size_t k = 0; k < 5; k++) {
        for (size_t i = 0; i < n; i++) {
            st[i] = (int64_t) (i * every);
            v[i] = fn(k, lr * (double) st[i], ud);
        }
        snprintf(name, sizeof name, "mode.%zu", k + 1);
        lm_fx_series(f, run, name, n, st, v);
    }
    free(st);
    free(v);
}

static void plan_of(const char *exp, lm_exp_plan *p) {
    memset(p, 0, sizeof *p);
    lm_err err = {0};
    cr_assert_eq(lm_experiment_find(exp)->plan(1, p, &err), LM_OK, "%s", err.msg);
}

/* ---------------------------------------------------------------- deep-linear-modes */

static double two_layer(size_t k, double t, const void *ud) {
    const double rate = *(const double *) ud;
    return lm_dln_u2(S[k], 1e-4, rate * t);
}

static const lm_claim *modes_claim(double rate) {
    static lm_fx f;
    lm_exp_plan p;
    plan_of("deep-linear-modes", &p);
    lm_fx_open(&f, "deep-linear-modes", 1);
    for (size_t i = 0; i < p.n; i++)
        modes(&f, lm_fx_run(&f, p.label[i], p.config[i]), 301, 100, 1e-3, two_layer, &rate);
    lm_exp_plan_clear(&p);
    lm_err err = {0};
    cr_assert_eq(lm__exp_deep_linear_modes.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    static lm_claim c;
    c = *lm_fx_claim(&f, "closed form");
    lm_fx_close(&f);
    return &c;
}

Test(deep_linear_modes, closed_form_passes_and_a_faster_flow_fails) {
    const lm_claim *c = modes_claim(1.0);
    cr_assert_eq(c->verdict, LM_VERDICT_PASS, "%s", c->detail);
    cr_assert(c->measured < 1e-12);
    c = modes_claim(1.1); /* 10 % faster than the flow: far outside 0.01 */
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%g %s", c->measured, c->detail);
    cr_assert(c->measured > 0.05, "%g", c->measured);
}

/* ---------------------------------------------------------------- deep-linear-depth */

typedef struct depth_ud {
    double u0, *u; /* ODE solution [5][n] on the run's grid, or NULL: the two-layer form */
    size_t n, every;
    double lr;
} depth_ud;

static double depth_fn(size_t k, double t, const void *ud) {
    const depth_ud *d = ud;
    if (!d->u)
        return lm_dln_u2(S[k], d->u0, t); /* the wrong (depth-2) dynamics */
    const size_t i = (size_t) llround(t / (d->lr * (double) d->every));
    return d->u[k * d->n + i];
}

static void depth_store(lm_fx *f, int right) {
    lm_exp_plan p;
    plan_of("deep-linear-depth", &p);
    lm_fx_open(f, "deep-linear-depth", 1);
    const double a0[3] = {0.05, 0.1, 0.2};
    const size_t steps[3] = {50000, 25000, 10000}, every = 250;
    for (size_t i = 0; i < p.n; i++) {
        const size_t a = i / 3; /* 3 seeds per a0 in the quick plan */
        const size_t n = steps[a] / every + 1;
        depth_ud d = {pow(a0[a], 3), NULL, n, every, 2e-3};
        double *t = calloc(n, sizeof *t);
        if (right) {
            d.u = calloc(5 * n, sizeof *d.u);
            for (size_t j = 0; j < n; j++)
                t[j] = 2e-3 * (double) (j * every);
            lm_err err = {0};
            cr_assert_eq(lm_dln_modes(3, 5, S, d.u0, n, t, d.u, NULL, &err), LM_OK, "%s", err.msg);
        }
        modes(f, lm_fx_run(f, p.label[i], p.config[i]), n, every, 2e-3, depth_fn, &d);
        free(d.u);
        free(t);
    }
    lm_exp_plan_clear(&p);
    lm_err err = {0};
    cr_assert_eq(lm__exp_deep_linear_depth.analyse(f->ctx, &err), LM_OK, "%s", err.msg);
}

Test(deep_linear_depth, ode_passes_and_depth_two_dynamics_fail) {
    lm_fx f;
    depth_store(&f, 1);
    const char *names[] = {"against the ODE", "against the exact integral",
                           "slope against the exact", "slope -1/3 (s=3)", "slope -1/3 (s=0.25)"};
    for (size_t i = 0; i < 5; i++) {
        const lm_claim *c = lm_fx_claim(&f, names[i]);
        cr_assert_eq(c->verdict, LM_VERDICT_PASS, "%s: %g +- %g %s", c->name, c->measured,
                     c->uncertainty, c->detail);
    }
    lm_fx_close(&f);
    depth_store(&f, 0);
    for (size_t i = 0; i < 5; i++) {
        const lm_claim *c = lm_fx_claim(&f, names[i]);
        cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%s: %g +- %g %s", c->name, c->measured,
                     c->uncertainty, c->detail);
    }
    lm_fx_close(&f);
}

/* ---------------------------------------------------------------- saddle-to-saddle */

/* logistic rises with t_half,k = C / s_k (in order) or C / s_{4-k} (reversed, and then
 * s_k t_half,k spreads over a factor 12) */
static double saddle_fn(size_t k, double t, const void *ud) {
    const int reversed = *(const int *) ud;
    const double th = 30.0 * (reversed ? 1.0 / S[4 - k] : 1.0 / S[k]) / 12.0;
    return S[k] / (1.0 + exp(-2.0 * S[k] * (t - th)));
}

Test(saddle_to_saddle, ordered_rises_pass_and_reversed_ones_fail) {
    for (int reversed = 0; reversed < 2; reversed++) {
        lm_exp_plan p;
        plan_of("saddle-to-saddle", &p);
        lm_fx f;
        lm_fx_open(&f, "saddle-to-saddle", 1);
        for (size_t i = 0; i < p.n; i++)
            modes(&f, lm_fx_run(&f, p.label[i], p.config[i]), 801, 5, 0.01, saddle_fn, &reversed);
        lm_exp_plan_clear(&p);
        lm_err err = {0};
        cr_assert_eq(lm__exp_saddle_to_saddle.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
        const lm_verdict want = reversed ? LM_VERDICT_FAIL : LM_VERDICT_PASS;
        const char *names[] = {"ordered by s (std 0.001)", "ordered by s (std 0.0001)",
                               "spread (std 0.001)", "spread (std 0.0001)"};
        for (size_t q = 0; q < 4; q++) {
            const lm_claim *c = lm_fx_claim(&f, names[q]);
            cr_assert_eq(c->verdict, want, "%s: %g +- %g", c->name, c->measured, c->uncertainty);
        }
        lm_fx_close(&f);
    }
}

Test(deep_linear_helpers, crossing_interpolates_and_estimates_its_error) {
    double t[200], u[200], e = 0;
    for (size_t i = 0; i < 200; i++) {
        t[i] = 0.05 * (double) i;
        u[i] = lm_dln_u2(3.0, 1e-4, t[i]);
    }
    double exact = 0;
    lm_err err = {0};
    cr_assert_eq(lm_dln_half_time(2, 3.0, 1e-4, &exact, &err), LM_OK);
    const double th = lm__exp_dln_crossing(200, t, u, 1.5, &e);
    cr_assert(fabs(th - exact) < 0.05, "%g vs %g", th, exact);
    /* the estimate bounds the actual error (to a factor 3) and is not absurdly loose */
    cr_assert(fabs(th - exact) <= 3 * e + 1e-12 && e < 0.05, "err %g, estimate %g",
              fabs(th - exact), e);
    cr_assert(isnan(lm__exp_dln_crossing(200, t, u, 3.5, NULL))); /* never reached */
}
