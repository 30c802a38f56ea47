/*
 * test_file.c: experiments defined by JSON files (src/exp/file.c): strict parsing with errors
 * naming the file and key, the sweep's run plan, and value and slope claims judged end to end on
 * a small synthetic sweep.
 */
#include "lm_test.h"
#include "lmech/exp.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void parse_fails(const char *text, const char *needle) {
    lm_experiment *e = NULL;
    lm_err err = {0};
    cr_assert_neq(lm_exp_file_parse(text, strlen(text), "t.json", NULL, &e, &err), LM_OK,
                  "accepted: %s", text);
    cr_assert_null(e);
    cr_assert(strstr(err.msg, "t.json"), "message does not name the file: %s", err.msg);
    cr_assert(strstr(err.msg, needle), "message \"%s\" lacks \"%s\"", err.msg, needle);
}

#define BASE                                                                                       \
    "\"base\": {\"data\": {\"source\": \"teacher\", \"dim\": 8, \"train_size\": 64, "              \
    "\"test_size\": 32}, \"model\": {\"widths\": [8, 16, 1], \"parameterization\": \"ntp\"}, "     \
    "\"steps\": 30, \"eval_every\": 10, \"optimizer\": {\"lr\": 0.2}, \"threads\": 1}"

Test(exp_file, rejects_malformed_definitions) {
    parse_fails("{", "t.json:");
    parse_fails("[]", "top level");
    parse_fails("{\"experiment\": \"x\"}", "base");
    parse_fails("{\"experiment\": \"a b\", " BASE "}", "experiment");
    parse_fails("{\"experiment\": \"x\", " BASE ", \"sweeep\": {}}", "unknown key \"sweeep\"");
    parse_fails("{\"experiment\": \"x\", " BASE ", \"sweep\": {\"seed\": []}}", "sweep.seed");
    parse_fails("{\"experiment\": \"x\", " BASE ", \"sweep\": {\"seed\": 3}}", "sweep.seed");
    parse_fails("{\"experiment\": \"x\", " BASE
                ", \"sweep\": {\"seed\": [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,"
                "20,21,22,23,24,25,26,27,28,29,30,31,32], "
                "\"optimizer.lr\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}}",
                "more than 512 runs");
    parse_fails("{\"experiment\": \"x\", " BASE ", \"claims\": [{\"name\": \"c\", \"metric\": "
                "\"train_loss\", \"range\": [0, 1], \"predicted\": \"p\", \"reason\": \"\"}]}",
                "claims[0].reason");
    parse_fails("{\"experiment\": \"x\", " BASE ", \"claims\": [{\"name\": \"c\", \"metric\": "
                "\"train_loss\", \"range\": [2, 1], \"predicted\": \"p\", \"reason\": \"r\"}]}",
                "claims[0].range");
    parse_fails("{\"experiment\": \"x\", " BASE ", \"claims\": [{\"name\": \"c\", \"metric\": "
                "\"train_loss\", \"kind\": \"slope\", \"x\": \"seed\", \"range\": [0, 1], "
                "\"predicted\": \"p\", \"reason\": \"r\"}]}",
                "claims[0].x");
    parse_fails("{\"experiment\": \"x\", " BASE ", \"sweep\": {\"seed\": [0]}, \"claims\": "
                "[{\"name\": \"c\", \"metric\": \"m\", \"where\": {\"optimizer.lr\": 1}, "
                "\"range\": [0, 1], \"predicted\": \"p\", \"reason\": \"r\"}]}",
                "not a swept key");
    parse_fails("{\"experiment\": \"x\", \"base\": \"/nonexistent/base.json\"}",
                "/nonexistent/base.json");
    LM_CHECK_LEAKS();
}

Test(exp_file, plans_the_cartesian_product_with_quick_overrides) {
    const char *text = "{\"experiment\": \"grid\", " BASE
                       ", \"set\": {\"steps\": 20}, \"sweep\": {\"optimizer.lr\": [0.1, 0.2], "
                       "\"seed\": [0, 1, 2]}, \"quick\": {\"note\": \"one seed\", \"sweep\": "
                       "{\"seed\": [5]}, \"set\": {\"steps\": 5}}}";
    lm_experiment *e = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_exp_file_parse(text, strlen(text), "t.json", NULL, &e, &err), LM_OK, "%s",
                 err.msg);
    cr_assert_str_eq(e->name, "grid");
    cr_assert_str_eq(e->quick, "one seed");
    lm_exp_plan p = {0};
    cr_assert_eq(e->plan_with(e, 0, &p, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(p.n, 6);
    cr_assert_str_eq(p.label[0], "optimizer.lr=0.1 seed=0");
    cr_assert(strstr(p.config[5], "\"seed\":2") && strstr(p.config[5], "\"lr\":0.2"), "%s",
              p.config[5]);
    cr_assert(strstr(p.config[5], "\"steps\":20"), "%s", p.config[5]);
    lm_exp_plan_clear(&p);
    cr_assert_eq(e->plan_with(e, 1, &p, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(p.n, 2);
    cr_assert(strstr(p.config[1], "\"seed\":5") && strstr(p.config[1], "\"steps\":5"), "%s",
              p.config[1]);
    lm_exp_plan_clear(&p);
    lm_exp_file_free(e);
    LM_CHECK_LEAKS();
}

typedef struct got {
    size_t n;
    lm_claim c[8];
} got;

static int keep(void *ud, const lm_claim *c) {
    got *g = ud;
    if (g->n < 8)
        g->c[g->n++] = *c;
    return 0;
}

/* Parses an experiment text and runs it (full variant, one job) on database db. */
static void run_file(const char *text, const char *db, lm_experiment **e, lm_exp_result *r) {
    lm_err err = {0};
    cr_assert_eq(lm_exp_file_parse(text, strlen(text), "t.json", NULL, e, &err), LM_OK, "%s",
                 err.msg);
    lm_exp_opts o = {db, 0, 1, NULL, NULL, NULL};
    cr_assert_eq(lm_exp_run(*e, &o, r, &err), LM_OK, "%s", err.msg);
}

/* Width sweep of an NTP network under GD: the relative Frobenius change of the readout falls
 * with width (lazy training; science.md §3 gives n^-1/2), and the loss falls. The slope claim's
 * range is wide on purpose: this tests the judging machinery, not the law. */
Test(exp_file, judges_value_and_slope_claims_from_the_store, .timeout = 60) {
    char db[256];
    lm_tmp_path(db, sizeof db, "expfile.db");
    const char *text =
        "{\"experiment\": \"widths\", " BASE
        ", \"sweep\": {\"model.widths\": [[8, 32, 1], [8, 128, 1], [8, 512, 1]], \"seed\": [0, "
        "1]}, \"claims\": [{\"name\": \"lazy\", \"kind\": \"slope\", \"metric\": "
        "\"wchange_fro.1\", \"x\": \"model.widths[1]\", \"range\": [-1.0, -0.2], \"predicted\": "
        "\"n^-1/2\", \"reason\": \"machinery test\"}, {\"name\": \"learns\", \"metric\": "
        "\"train_loss\", \"reduce\": \"max\", \"where\": {\"seed\": 1}, \"range\": [0, 100], "
        "\"predicted\": \"finite\", \"reason\": \"machinery test\"}, {\"name\": \"missing\", "
        "\"metric\": \"no_such_metric\", \"range\": [0, 1], \"predicted\": \"-\", \"reason\": "
        "\"an unrecorded metric is inconclusive\"}]}";
    lm_experiment *e = NULL;
    lm_exp_result r;
    run_file(text, db, &e, &r);
    lm_err err = {0};
    cr_assert_eq(r.n_runs, 6);
    cr_assert_eq(r.n_failed, 0);
    const lm_exp_ctx *c = r.ctx;
    cr_assert_eq(c->n_claims, 3);
    cr_assert_eq(c->claims[0].verdict, LM_VERDICT_PASS, "slope %g +- %g", c->claims[0].measured,
                 c->claims[0].uncertainty);
    cr_assert(isfinite(c->claims[0].uncertainty));
    cr_assert_eq(c->claims[0].n_runs, 6);
    cr_assert_eq(c->claims[1].verdict, LM_VERDICT_PASS);
    cr_assert_eq(c->claims[1].n_runs, 3, "where seed = 1 selects one run per width");
    cr_assert_eq(c->claims[2].verdict, LM_VERDICT_INCONCLUSIVE);
    cr_assert(strstr(c->claims[2].detail, "no_such_metric"), "%s", c->claims[2].detail);
    const int64_t id = r.exp_id;
    lm_exp_result_clear(&r);
    /* the claims are rows in the store */
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    got g = {0};
    cr_assert_eq(lm_store_exp_claims(s, id, keep, &g, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(g.n, 3);
    cr_assert_str_eq(g.c[0].name, "lazy");
    lm_store_close(s);
    lm_exp_file_free(e);
    LM_CHECK_LEAKS();
}

Test(exp_file, rejects_bad_per_run_statistics) {
#define CLAIM(extra)                                                                               \
    "{\"experiment\": \"x\", " BASE                                                                \
    ", \"claims\": [{\"name\": \"c\", \"metric\": \"train_loss\", "                                \
    "\"range\": [0, 1], \"predicted\": \"p\", \"reason\": \"r\", " extra "}]}"
    parse_fails(CLAIM("\"stat\": \"mode\""), "claims[0].stat");
    parse_fails(CLAIM("\"stat\": \"frac_in\""), "needs a band");
    parse_fails(CLAIM("\"band\": [0, 1]"), "only stat \"frac_in\" takes a band");
    parse_fails(CLAIM("\"stat\": \"frac_in\", \"band\": [1, 0]"), "claims[0].band");
    parse_fails(CLAIM("\"from\": 10, \"window\": 3"), "not both");
    parse_fails(CLAIM("\"from\": -1"), "claims[0].from");
    parse_fails(CLAIM("\"from\": 20, \"step\": 10"), "from must not lie after step");
#undef CLAIM
    LM_CHECK_LEAKS();
}

typedef struct series {
    size_t n;
    int64_t step[64];
    double v[64];
} series;

static int keep_loss(void *ud, int64_t step, const char *name, double value) {
    series *s = ud;
    if (strcmp(name, "train_loss") == 0 && s->n < 64) {
        s->step[s->n] = step;
        s->v[s->n++] = value;
    }
    return 0;
}

/* Per-run statistics over a run's records (stat, from, window, band), each recomputed here from
 * the store's train_loss series of the one run: records every 5 steps, 0 .. 40. */
Test(exp_file, judges_per_run_statistics_over_records, .timeout = 60) {
    char db[256];
    lm_tmp_path(db, sizeof db, "expfile_stat.db");
    const char *text =
        "{\"experiment\": \"stats\", " BASE ", \"set\": {\"steps\": 40, \"eval_every\": 5}, "
        "\"claims\": ["
        "{\"name\": \"max from 10\", \"metric\": \"train_loss\", \"stat\": \"max\", \"from\": 10, "
        "\"range\": [null, null], \"predicted\": \"-\", \"reason\": \"r\"},"
        "{\"name\": \"median to 30\", \"metric\": \"train_loss\", \"stat\": \"median\", \"from\": "
        "0, \"step\": 30, \"range\": [null, null], \"predicted\": \"-\", \"reason\": \"r\"},"
        "{\"name\": \"min of last 3\", \"metric\": \"train_loss\", \"stat\": \"min\", \"window\": "
        "3, \"range\": [null, null], \"predicted\": \"-\", \"reason\": \"r\"},"
        "{\"name\": \"frac in band\", \"metric\": \"train_loss\", \"stat\": \"frac_in\", \"band\": "
        "[0.4, 0.7], \"from\": 5, \"range\": [null, null], \"predicted\": \"-\", \"reason\": "
        "\"r\"},"
        "{\"name\": \"frac all\", \"metric\": \"train_loss\", \"stat\": \"frac_in\", \"band\": "
        "[0, null], \"from\": 0, \"range\": [1, 1], \"uncertainty\": 0, \"predicted\": \"-\", "
        "\"reason\": \"r\"}]}";
    lm_experiment *e = NULL;
    lm_exp_result r;
    run_file(text, db, &e, &r);
    lm_err err = {0};
    cr_assert_eq(r.n_runs, 1);
    const lm_exp_ctx *c = r.ctx;
    cr_assert_eq(c->n_claims, 5);
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    series L = {0};
    cr_assert_eq(lm_store_get_metrics(s, c->run[0], keep_loss, &L, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(L.n, 9, "records at 0, 5, ..., 40: %zu", L.n);
    double mx = -1, mn = 1e300, in = 0, sorted[9];
    size_t n30 = 0;
    for (size_t i = 0; i < L.n; i++) {
        if (L.step[i] >= 10)
            mx = fmax(mx, L.v[i]);
        if (i >= L.n - 3)
            mn = fmin(mn, L.v[i]);
        if (L.step[i] >= 5)
            in += L.v[i] >= 0.4 && L.v[i] <= 0.7;
        if (L.step[i] <= 30)
            sorted[n30++] = L.v[i];
    }
    for (size_t i = 1; i < n30; i++) /* insertion sort of 7 values */
        for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            const double t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    cr_assert_eq(n30, 7);
    /* the same doubles selected and compared: exact */
    cr_assert_eq(c->claims[0].measured, mx, "%.17g vs %.17g", c->claims[0].measured, mx);
    cr_assert_eq(c->claims[1].measured, sorted[3]);
    cr_assert_eq(c->claims[2].measured, mn);
    cr_assert_eq(c->claims[3].measured, in / 8.0, "%g of 8 records after step 5", in);
    cr_assert(in > 0 && in < 8, "the band must split the records (%g of 8)", in);
    cr_assert_eq(c->claims[4].verdict, LM_VERDICT_PASS);
    cr_assert(strstr(c->claims[3].detail, "frac_in [0.4, 0.7] of train_loss from step 5"), "%s",
              c->claims[3].detail);
    lm_store_close(s);
    lm_exp_result_clear(&r);
    lm_exp_file_free(e);
    LM_CHECK_LEAKS();
}

/* The verdict rule on an experiment file (science.md §0): four seeds' final losses, their mean
 * with 2 standard errors; claims written to land inside, outside and across a tolerance edge,
 * then the median (bootstrap), the min (u = 0, said so) and a reported figure. */
Test(exp_file, mean_over_seeds_inside_outside_and_across_an_edge, .timeout = 120) {
    char db[256];
    lm_tmp_path(db, sizeof db, "expfile_u.db");
#define SEEDS ", \"sweep\": {\"seed\": [0, 1, 2, 3]}"
    const char *first = "{\"experiment\": \"u\", " BASE SEEDS
                        ", \"claims\": [{\"name\": \"m\", \"metric\": \"train_loss\", \"range\": "
                        "[null, null], \"predicted\": \"-\", \"reason\": \"r\"}]}";
    lm_experiment *e = NULL;
    lm_exp_result r;
    run_file(first, db, &e, &r);
    const lm_claim *c0 = &r.ctx->claims[0];
    cr_assert_eq(c0->verdict, LM_VERDICT_PASS, "an open range holds any interval");
    const double m = c0->measured, u = c0->uncertainty;
    /* recompute m and u from the four runs' final loss */
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    double v[4], sum = 0, ss = 0;
    for (size_t i = 0; i < 4; i++) {
        series L = {0};
        cr_assert_eq(lm_store_get_metrics(s, r.ctx->run[i], keep_loss, &L, &err), LM_OK);
        v[i] = L.v[L.n - 1];
        sum += v[i];
    }
    for (size_t i = 0; i < 4; i++)
        ss += (v[i] - sum / 4) * (v[i] - sum / 4);
    lm_store_close(s);
    cr_assert(fabs(m - sum / 4) <= 1e-15 * m, "%.17g vs %.17g", m, sum / 4);
    cr_assert(fabs(u - 2 * sqrt(ss / 3 / 4)) <= 1e-12 * u && u > 0, "u = %g", u);
    cr_assert(strstr(c0->detail, "2 standard errors of the mean over 4 runs"), "%s", c0->detail);
    lm_exp_result_clear(&r);
    lm_exp_file_free(e);
    /* the same runs (reused), judged against ranges placed around the measurement */
    char text[4096];
    snprintf(text, sizeof text,
             "{\"experiment\": \"u\", " BASE SEEDS ", \"claims\": ["
             "{\"name\": \"inside\", \"metric\": \"train_loss\", \"range\": [%.17g, %.17g], "
             "\"predicted\": \"-\", \"reason\": \"r\"},"
             "{\"name\": \"outside\", \"metric\": \"train_loss\", \"range\": [%.17g, null], "
             "\"predicted\": \"-\", \"reason\": \"r\"},"
             "{\"name\": \"across\", \"metric\": \"train_loss\", \"range\": [%.17g, null], "
             "\"predicted\": \"-\", \"reason\": \"r\"},"
             "{\"name\": \"median\", \"metric\": \"train_loss\", \"reduce\": \"median\", "
             "\"range\": [0, null], \"predicted\": \"-\", \"reason\": \"r\"},"
             "{\"name\": \"min\", \"metric\": \"train_loss\", \"reduce\": \"min\", \"range\": "
             "[0, null], \"uncertainty\": 1e-9, \"predicted\": \"-\", \"reason\": \"r\"},"
             "{\"name\": \"figure\", \"metric\": \"train_loss\", \"reported\": true, "
             "\"predicted\": \"-\", \"reason\": \"measured after the fact\"}]}",
             m - 1.5 * u, m + 1.5 * u, m + 1.5 * u, m - 0.5 * u);
    run_file(text, db, &e, &r);
    cr_assert_eq(r.n_reused, 4, "the runs are reused");
    const lm_exp_ctx *c = r.ctx;
    cr_assert_eq(c->n_claims, 6);
    cr_assert_eq(c->claims[0].verdict, LM_VERDICT_PASS);
    cr_assert_eq(c->claims[1].verdict, LM_VERDICT_FAIL);
    cr_assert_eq(c->claims[2].verdict, LM_VERDICT_INCONCLUSIVE);
    /* the edge is 0.5 u away: (u / 0.5 u)^2 = 4 times the 4 seeds */
    cr_assert(strstr(c->claims[2].detail, "about 16 seeds (now 4)"), "%s", c->claims[2].detail);
    cr_assert(isfinite(c->claims[3].uncertainty) && c->claims[3].uncertainty > 0);
    cr_assert(strstr(c->claims[3].detail, "bootstrap"), "%s", c->claims[3].detail);
    cr_assert_eq(c->claims[4].uncertainty, 1e-9, "a min: u = 0 plus the stated error");
    cr_assert(strstr(c->claims[4].detail, "extreme"), "%s", c->claims[4].detail);
    cr_assert_eq(c->claims[5].verdict, LM_VERDICT_REPORTED);
    cr_assert(isfinite(c->claims[5].measured) && isnan(c->claims[5].lo));
    lm_exp_result_clear(&r);
    lm_exp_file_free(e);
    /* one run has no spread: a mean over it is undecided, unless its error is stated */
    const char *one = "{\"experiment\": \"one\", " BASE
                      ", \"claims\": [{\"name\": \"a\", \"metric\": \"train_loss\", \"range\": "
                      "[0, null], \"predicted\": \"-\", \"reason\": \"r\"}, {\"name\": \"b\", "
                      "\"metric\": \"train_loss\", \"range\": [0, null], \"uncertainty\": 0, "
                      "\"predicted\": \"-\", \"reason\": \"r\"}]}";
    run_file(one, db, &e, &r);
    cr_assert_eq(r.ctx->claims[0].verdict, LM_VERDICT_INCONCLUSIVE);
    cr_assert(strstr(r.ctx->claims[0].detail, "one run has no spread"), "%s",
              r.ctx->claims[0].detail);
    cr_assert_eq(r.ctx->claims[1].verdict, LM_VERDICT_PASS);
    lm_exp_result_clear(&r);
    lm_exp_file_free(e);
#undef SEEDS
    LM_CHECK_LEAKS();
}

Test(exp_file, rejects_bad_uncertainty_and_reported_keys) {
#define CLAIM(extra)                                                                               \
    "{\"experiment\": \"x\", " BASE ", \"sweep\": {\"model.widths\": [[8, 4, 1], [8, 8, 1]]}, "    \
    "\"claims\": [{\"name\": \"c\", \"metric\": \"train_loss\", \"predicted\": \"p\", "            \
    "\"reason\": \"r\", " extra "}]}"
    parse_fails(CLAIM("\"range\": [0, 1], \"uncertainty\": -1"), "claims[0].uncertainty");
    parse_fails(CLAIM("\"range\": [0, 1], \"uncertainty\": \"small\""), "claims[0].uncertainty");
    parse_fails(CLAIM("\"range\": [0, 1], \"kind\": \"slope\", \"x\": \"model.widths[1]\", "
                      "\"uncertainty\": 0.1"),
                "only value claims");
    parse_fails(CLAIM("\"reported\": true, \"range\": [0, 1]"), "no tolerance");
    parse_fails(CLAIM("\"reported\": 1"), "claims[0].reported");
    parse_fails(CLAIM("\"reported\": false"), "claims[0].range");
#undef CLAIM
    LM_CHECK_LEAKS();
}
