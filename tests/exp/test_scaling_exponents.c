/*
 * test_scaling_exponents.c: the scaling-exponents analysis (src/exp/exp_scaling_exponents.c) end
 * to end on a small sweep (lm_exp_run on a temp database), and its negative control:
 *   - the predictions written from the data's own (a, b) = (1.5, 1.6) pass the data, time and
 *     model-size exponent claims;
 *   - the same runs judged against predictions written from a wrong pair (1.5, 3.0) (data
 *     P^-2, time t^-4/3, size N^-1.5) fail all three: the claims can tell a wrong spectrum;
 *   - lm_data_powerlaw_truth gives the lambda and w* that the powerlaw source draws: its
 *     population error formula matches a large test sample.
 * The experiment's source is included so that its parameterised plan and analysis are the ones
 * tested (the registry symbol renamed to keep the library's).
 */
#include "lm_test.h"

#define lm__exp_scaling_exponents lm__exp_scaling_exponents_under_test
#include "exp/exp_scaling_exponents.c"

/* P = 8..256 and N = 16..512 (1.5 decades), M = 4 P (4 N), time to t = 31.6 on M = 200 */
static design small(double pa, double pb) {
    design d = design_for(1);
    d.n_pair = 1;
    d.pr[0] = (pair){1.5, 1.6, pa, pb};
    d.p0 = 8;
    d.np = 6;
    d.c_data[0] = 4;
    d.t_big[0] = 4;
    d.t_cap = 64;
    d.ef_claim[0] = 0;
    d.n0 = 16;
    d.nn = 6;
    d.c_size = 4;
    d.n_runs = 2;
    d.g_per = 8;
    d.t_dim = 200;
    d.t_train = 400;
    d.t_test = 400;
    d.t_seeds = 2;
    d.t_lo = 1.0;
    return d;
}

static design RIGHT, WRONG;

static lm_status plan_small(int quick, lm_exp_plan *p, lm_err *err) {
    (void) quick;
    return plan_design(&RIGHT, p, err); /* the runs do not depend on the prediction */
}
static lm_status analyse_right(lm_exp_ctx *ctx, lm_err *err) {
    return analyse_design(ctx, &RIGHT, err);
}
static lm_status analyse_wrong(lm_exp_ctx *ctx, lm_err *err) {
    return analyse_design(ctx, &WRONG, err);
}

static const lm_claim *find(const lm_exp_ctx *c, const char *name) {
    for (size_t i = 0; i < c->n_claims; i++)
        if (strcmp(c->claims[i].name, name) == 0)
            return &c->claims[i];
    cr_assert_fail("no claim \"%s\" among %zu", name, c->n_claims);
    return NULL;
}

Test(scaling_exponents, right_spectrum_passes_and_wrong_spectrum_fails, .timeout = 240) {
    RIGHT = small(1.5, 1.6);
    WRONG = small(1.5, 3.0);
    char db[256];
    lm_tmp_path(db, sizeof db, "scaling-exponents.db");
    lm_exp_opts o = {db, 1, 2, NULL, NULL, NULL};
    lm_err err = {0};
    lm_experiment e = lm__exp_scaling_exponents_under_test;
    e.plan = plan_small;
    e.analyse = analyse_right;
    lm_exp_result r;
    cr_assert_eq(lm_exp_run(&e, &o, &r, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(r.n_failed, 0);
    const char *names[3] = {"data exponent a=1.5 b=1.6", "time exponent a=1.5 b=1.6",
                            "model-size exponent a=1.5 b=1.6"};
    for (size_t i = 0; i < 3; i++) {
        const lm_claim *c = find(r.ctx, names[i]);
        cr_expect_eq(c->verdict, LM_VERDICT_PASS, "%s: %g +- %g (%s)", c->name, c->measured,
                     c->uncertainty, c->detail);
    }
    lm_exp_result_clear(&r);
    /* the same runs (reused from the store), judged against the wrong pair's prediction */
    e.analyse = analyse_wrong;
    cr_assert_eq(lm_exp_run(&e, &o, &r, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(r.n_reused, r.n_runs);
    for (size_t i = 0; i < 3; i++) {
        const lm_claim *c = find(r.ctx, names[i]);
        cr_expect_eq(c->verdict, LM_VERDICT_FAIL, "%s: %g +- %g against %g", c->name, c->measured,
                     c->uncertainty, c->predicted_value);
    }
    lm_exp_result_clear(&r);
    unlink(db);
}

Test(scaling_exponents, predictions_follow_the_two_branches) {
    const prediction p = predict(1.5, 1.6), q = predict(1.5, 6.0), s = predict(2.0, 2.5);
    cr_expect_float_eq(p.data, -0.6, 1e-12);
    cr_expect_float_eq(p.time, -0.4, 1e-12);
    cr_expect_float_eq(p.size, -0.6, 1e-12);
    cr_expect(!p.saturated);
    cr_expect_float_eq(q.data, -3.0, 1e-12); /* b > 2a + 1: P^-2a */
    cr_expect(q.saturated);
    cr_expect_float_eq(q.size, -1.5, 1e-12); /* b > a + 1: N^-a */
    cr_expect_float_eq(s.size, -1.5, 1e-12); /* b - 1 < a */
}

Test(scaling_exponents, powerlaw_truth_is_the_sources_draw) {
    lm_data_spec sp = lm_data_spec_default();
    sp.source = LM_DATA_POWERLAW;
    sp.dim = 64;
    sp.alpha = 1.3;
    sp.beta = 2.1;
    sp.train_size = 20000;
    sp.test_size = 0;
    lm_err err = {0};
    lm_dataset *tr = NULL;
    cr_assert_eq(lm_data_load(&sp, 7, &tr, NULL, &err), LM_OK, "%s", err.msg);
    double lam[64], w[64];
    cr_assert_eq(lm_data_powerlaw_truth(&sp, 7, lam, w, &err), LM_OK, "%s", err.msg);
    /* y = w* . x exactly (no noise) */
    for (size_t i = 0; i < 50; i++) {
        double z = 0;
        for (size_t j = 0; j < 64; j++)
            z += w[j] * tr->x[i * 64 + j];
        cr_expect_float_eq(tr->y[i], z, 1e-12 * (1 + fabs(z)));
    }
    /* the feature variances: sample variance within 5 % (20000 samples: 2 SE = 2 %) */
    for (size_t j = 0; j < 64; j += 21) {
        double s2 = 0;
        for (size_t i = 0; i < tr->n; i++)
            s2 += tr->x[i * 64 + j] * tr->x[i * 64 + j];
        cr_expect(fabs(s2 / (double) tr->n / lam[j] - 1) < 0.05, "j %zu: %g vs %g", j,
                  s2 / (double) tr->n, lam[j]);
        cr_expect_float_eq(lam[j] * w[j] * w[j], pow((double) (j + 1), -2.1), 1e-12);
    }
    lm_dataset_free(tr);
    sp.source = LM_DATA_TEACHER;
    cr_expect_eq(lm_data_powerlaw_truth(&sp, 7, lam, w, &err), LM_EINVAL);
    cr_expect(strstr(err.msg, "not powerlaw") != NULL, "%s", err.msg);
}
