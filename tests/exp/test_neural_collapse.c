/*
 * Tests of the neural-collapse analysis (src/exp/exp_neural_collapse.c) on hand-filled stores:
 * collapsing series pass with the exact per-seed reductions (from the first record with 100 %
 * train accuracy, not from step 0) and the mean +- 2 SE over seeds; negative controls: series
 * that stop collapsing at 100 % accuracy (NC1 and NC3 flat, NC4 and equinorm high) fail every
 * claim, and runs that never reach 100 % train accuracy leave every claim inconclusive (the
 * precondition). Also the plan: seeds, sizes, and NC recorded at every accuracy eval.
 */
#include "exp_fixture.h"

#define NS 3
#define NR 11 /* records at steps 0, 20, ..., 200; 100 % accuracy from step 60 (record 3) */

static const char *CFG = "{\"name\": \"neural-collapse fixture\"}";

/* one seed's series: before record 3 NC1 is large (2.0, 1.6, 1.2), from record 3 it goes
 * linearly from a to b; the other measures likewise from their t100 value to their end value */
static void lin(double *v, double pre, double a, double b) {
    for (size_t k = 0; k < NR; k++)
        v[k] = k < 3 ? pre - 0.4 * (double) k : a + (b - a) * (double) (k - 3) / (double) (NR - 4);
}

typedef struct seed_spec {
    double acc_max; /* the accuracy reached from record 3 on */
    double nc1_end, nc3_end, nc4_end, eqn_end;
} seed_spec;

static void fill(lm_fx *f, const seed_spec *sp) {
    int64_t st[NR];
    double v[NR];
    for (size_t k = 0; k < NR; k++)
        st[k] = (int64_t) (20 * k);
    for (size_t s = 0; s < NS; s++) {
        char label[32];
        snprintf(label, sizeof label, "seed=%zu", s);
        const int64_t r = lm_fx_run(f, label, CFG);
        for (size_t k = 0; k < NR; k++)
            v[k] = k < 3 ? 0.3 * (double) k : sp[s].acc_max;
        lm_fx_series(f, r, "train_acc", NR, st, v);
        lin(v, 2.0, 0.6, sp[s].nc1_end);
        lm_fx_series(f, r, "nc1", NR, st, v);
        lin(v, 2.0, 0.8, sp[s].nc3_end);
        lm_fx_series(f, r, "nc3", NR, st, v);
        lin(v, 0.9, 0.05, sp[s].nc4_end);
        lm_fx_series(f, r, "nc4", NR, st, v);
        lin(v, 0.9, 0.2, sp[s].eqn_end);
        lm_fx_series(f, r, "nc2_equinorm", NR, st, v);
        lin(v, 0.9, 0.45, 0.3);
        lm_fx_series(f, r, "nc2_equiangular", NR, st, v);
    }
}

static double mean3(double a, double b, double c) {
    return (a + b + c) / 3;
}
static double u3(double a, double b, double c) {
    const double m = mean3(a, b, c);
    return 2 * sqrt(((a - m) * (a - m) + (b - m) * (b - m) + (c - m) * (c - m)) / 2 / 3);
}

Test(neural_collapse, collapsing_series_pass) {
    const seed_spec sp[NS] = {
        {1.0, 0.2, 0.30, 0.0, 0.10}, {1.0, 0.2, 0.32, 0.002, 0.11}, {1.0, 0.24, 0.28, 0.0, 0.12}};
    lm_fx f;
    lm_fx_open(&f, "neural-collapse", 0);
    fill(&f, sp);
    lm_err err = {0};
    cr_assert_eq(lm__exp_neural_collapse.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    const lm_claim *c = lm_fx_claim(&f, "NC1 falls");
    /* from record 3 (0.6), not from step 0 (2.0): ratios 3, 3, 2.5 */
    cr_assert_float_eq(c->measured, mean3(3, 3, 2.5), 1e-12);
    cr_assert_float_eq(c->uncertainty, u3(3, 3, 2.5), 1e-12);
    cr_assert_eq(c->verdict, LM_VERDICT_PASS, "%s", c->detail);
    cr_assert_eq(c->n_runs, (size_t) NS);
    c = lm_fx_claim(&f, "NC3 falls");
    cr_assert_float_eq(c->measured, mean3(0.8 / 0.30, 0.8 / 0.32, 0.8 / 0.28), 1e-12);
    cr_assert_eq(c->verdict, LM_VERDICT_PASS, "%s", c->detail);
    c = lm_fx_claim(&f, "NC4 at the end");
    cr_assert_float_eq(c->measured, mean3(0, 0.002, 0), 1e-15);
    cr_assert_float_eq(c->uncertainty, u3(0, 0.002, 0), 1e-15);
    cr_assert_eq(c->verdict, LM_VERDICT_PASS, "%s", c->detail);
    c = lm_fx_claim(&f, "equinorm at the end");
    cr_assert_float_eq(c->measured, 0.11, 1e-12);
    cr_assert_eq(c->verdict, LM_VERDICT_PASS, "%s", c->detail);
    c = lm_fx_claim(&f, "equiangularity at the end");
    cr_assert_eq(c->verdict, LM_VERDICT_REPORTED);
    cr_assert_float_eq(c->measured, 0.3, 1e-12);
    c = lm_fx_claim(&f, "first 100 % train accuracy step");
    cr_assert_float_eq(c->measured, 60, 0);
    c = lm_fx_claim(&f, "precondition: 100 % train accuracy");
    cr_assert(strstr(c->detail, "holds"), "%s", c->detail);
    lm_fx_close(&f);
}

/* negative control: no further collapse after 100 % accuracy */
Test(neural_collapse, no_collapse_fails) {
    const seed_spec sp[NS] = {
        {1.0, 0.6, 0.8, 0.05, 0.20}, {1.0, 0.55, 0.75, 0.06, 0.21}, {1.0, 0.62, 0.82, 0.05, 0.19}};
    lm_fx f;
    lm_fx_open(&f, "neural-collapse-flat", 0);
    fill(&f, sp);
    lm_err err = {0};
    cr_assert_eq(lm__exp_neural_collapse.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    const char *names[4] = {"NC1 falls", "NC3 falls", "NC4 at the end", "equinorm at the end"};
    for (int k = 0; k < 4; k++) {
        const lm_claim *c = lm_fx_claim(&f, names[k]);
        cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%s: %s", names[k], c->detail);
    }
    lm_fx_close(&f);
}

/* negative control: 100 % train accuracy never reached -> no terminal phase, inconclusive */
Test(neural_collapse, no_terminal_phase_is_inconclusive) {
    const seed_spec sp[NS] = {
        {0.95, 0.2, 0.3, 0.0, 0.1}, {1.0, 0.2, 0.3, 0.0, 0.1}, {1.0, 0.2, 0.3, 0.0, 0.1}};
    lm_fx f;
    lm_fx_open(&f, "neural-collapse-acc", 0);
    fill(&f, sp);
    lm_err err = {0};
    cr_assert_eq(lm__exp_neural_collapse.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    const char *names[4] = {"NC1 falls", "NC3 falls", "NC4 at the end", "equinorm at the end"};
    for (int k = 0; k < 4; k++) {
        const lm_claim *c = lm_fx_claim(&f, names[k]);
        cr_assert_eq(c->verdict, LM_VERDICT_INCONCLUSIVE, "%s: %s", names[k], c->detail);
        cr_assert(strstr(c->detail, "100 % train accuracy"), "%s", c->detail);
    }
    lm_fx_close(&f);
}

/* a run without NC records (repr_every 0, or regression targets) is an error naming the run */
Test(neural_collapse, missing_series_is_an_error) {
    lm_fx f;
    lm_fx_open(&f, "neural-collapse-missing", 0);
    const int64_t r = lm_fx_run(&f, "seed=0", CFG);
    const double acc[2] = {0.5, 1.0};
    lm_fx_series(&f, r, "train_acc", 2, NULL, acc);
    lm_err err = {0};
    cr_assert_neq(lm__exp_neural_collapse.analyse(f.ctx, &err), LM_OK);
    cr_assert(strstr(err.msg, "no nc1 records"), "%s", err.msg);
    lm_fx_close(&f);
}

Test(neural_collapse, plan) {
    for (int quick = 0; quick < 2; quick++) {
        lm_exp_plan p = {0};
        lm_err err = {0};
        cr_assert_eq(lm__exp_neural_collapse.plan(quick, &p, &err), LM_OK, "%s", err.msg);
        cr_assert_eq(p.n, 8u);
        for (size_t i = 0; i < p.n; i++) {
            const char *c = p.config[i];
            cr_assert(strstr(c, "\"repr_every\":20") && strstr(c, "\"eval_every\":20"), "%s", c);
            cr_assert(strstr(c, quick ? "[196,128,128,128,10]" : "[196,256,256,256,10]"), "%s", c);
            cr_assert(strstr(c, quick ? "\"steps\":4000" : "\"steps\":6000"), "%s", c);
            cr_assert(strstr(c, "\"weight_decay\":0.001") && strstr(c, "\"momentum\":0.9"), "%s",
                      c);
        }
        lm_exp_plan_clear(&p);
    }
}
