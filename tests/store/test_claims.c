/* Tests for src/store/claims.c: experiment invocations, their runs and claims. */
#include "lm_test.h"
#include "lmech/store.h"

#include <math.h>
#include <sqlite3.h>
#include <string.h>

static int count_claim(void *ud, const lm_claim *c) {
    lm_claim *out = ud;
    if (strcmp(c->name, "sharpness at 2/eta") == 0)
        out[0] = *c;
    else
        out[1] = *c;
    return 0;
}

static int count_run(void *ud, int64_t run, const char *label) {
    int *n = ud;
    (*n)++;
    cr_assert(run >= 1);
    cr_assert(strncmp(label, "lr=", 3) == 0);
    return 0;
}

Test(claims, round_trip_and_latest) {
    char db[256];
    lm_tmp_path(db, sizeof db, "claims.db");
    lm_store *s;
    lm_err err = {0};
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    int64_t r1, r2, e1, e2;
    cr_assert_eq(lm_store_run_begin(s, "{\"a\":1}", "h1", 1, 1, &r1, &err), LM_OK);
    cr_assert_eq(lm_store_run_begin(s, "{\"a\":2}", "h2", 2, 1, &r2, &err), LM_OK);
    cr_assert_eq(lm_store_exp_begin(s, "eos", 1, &e1, &err), LM_OK);
    cr_assert_eq(lm_store_exp_add_run(s, e1, r1, "lr=0.1", &err), LM_OK);
    cr_assert_eq(lm_store_exp_add_run(s, e1, r2, "lr=0.04", &err), LM_OK);
    cr_assert_eq(lm_store_exp_add_run(s, e1, 999, "lr=1", &err), LM_ENOTFOUND);
    lm_claim c[2];
    memset(c, 0, sizeof c);
    snprintf(c[0].name, sizeof c[0].name, "sharpness at 2/eta");
    snprintf(c[0].predicted, sizeof c[0].predicted, "median S eta/2 = 1");
    c[0].predicted_value = 1.0;
    c[0].measured = 1.012;
    c[0].uncertainty = 0.004;
    snprintf(c[0].tolerance, sizeof c[0].tolerance, "median in [0.97, 1.10]");
    c[0].tolerance_value = LM_NAN;
    snprintf(c[0].reason, sizeof c[0].reason, "science.md section 4");
    c[0].verdict = LM_VERDICT_PASS;
    c[0].lo = 0.97;
    c[0].hi = LM_INF;
    c[0].n_runs = 2;
    c[0].runs[0] = r1;
    c[0].runs[1] = r2;
    snprintf(c[1].name, sizeof c[1].name, "control");
    c[1].measured = LM_NAN;
    c[1].predicted_value = LM_NAN;
    c[1].uncertainty = LM_NAN;
    c[1].tolerance_value = LM_NAN;
    c[1].verdict = LM_VERDICT_INCONCLUSIVE;
    c[1].lo = -LM_INF;
    c[1].hi = 1.0;
    cr_assert_eq(lm_store_exp_end(s, e1, "finished", 2, c, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_store_exp_begin(s, "eos", 0, &e2, &err), LM_OK); /* still running */
    int64_t latest;
    cr_assert_eq(lm_store_exp_latest(s, "eos", &latest, &err), LM_OK);
    cr_assert_eq(latest, e1, "a finished invocation wins over a newer running one");
    cr_assert_eq(lm_store_exp_latest(s, "nope", &latest, &err), LM_OK);
    cr_assert_eq(latest, -1);
    lm_claim got[2];
    memset(got, 0, sizeof got);
    cr_assert_eq(lm_store_exp_claims(s, e1, count_claim, got, &err), LM_OK);
    cr_assert_float_eq(got[0].measured, 1.012, 1e-15);
    cr_assert_eq(got[0].n_runs, 2);
    cr_assert_eq(got[0].runs[1], r2);
    cr_assert_eq(got[0].verdict, LM_VERDICT_PASS);
    cr_assert(isnan(got[1].measured), "NaN measured is stored as NULL and read back as NaN");
    cr_assert_eq(got[1].verdict, LM_VERDICT_INCONCLUSIVE);
    cr_assert(got[0].lo == 0.97 && got[0].hi == LM_INF, "an open side is stored NULL, read inf");
    cr_assert(got[1].lo == -LM_INF && got[1].hi == 1.0);
    int n = 0;
    cr_assert_eq(lm_store_exp_runs(s, e1, count_run, &n, &err), LM_OK);
    cr_assert_eq(n, 2);
    lm_exp_info info;
    cr_assert_eq(lm_store_exp_get(s, e1, &info, &err), LM_OK);
    cr_assert_str_eq(info.status, "finished");
    cr_assert_eq(info.quick, 1);
    cr_assert_eq(lm_store_exp_end(s, e2, "done", 0, NULL, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "done") != NULL);
    cr_assert_eq(lm_store_exp_get(s, 12345, &info, &err), LM_ENOTFOUND);
    lm_store_close(s);
    unlink(db);
    LM_CHECK_LEAKS();
}

static int keep_claim(void *ud, const lm_claim *c) {
    *(lm_claim *) ud = *c;
    return 0;
}

static int64_t one_int(lm_store *s, const char *sql) {
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(lm_store_db(s), sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    const int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

Test(claims, reported_figures_and_the_v3_migration) {
    char db[256];
    lm_tmp_path(db, sizeof db, "claims-v3.db");
    lm_store *s;
    lm_err err = {0};
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    /* a version-3 database: claims without lo/hi, whose CHECK refuses 'reported' */
    cr_assert_eq(sqlite3_exec(lm_store_db(s),
                              "DROP TABLE claim_runs; DROP TABLE claims;"
                              "CREATE TABLE claims(id INTEGER PRIMARY KEY, experiment INTEGER "
                              "NOT NULL REFERENCES experiments(id), name TEXT NOT NULL, predicted "
                              "TEXT NOT NULL, predicted_value REAL, measured REAL, uncertainty "
                              "REAL, tolerance TEXT NOT NULL, tolerance_value REAL, reason TEXT "
                              "NOT NULL, verdict TEXT NOT NULL CHECK(verdict IN ('pass','fail',"
                              "'inconclusive')), detail TEXT, created REAL NOT NULL);"
                              "CREATE TABLE claim_runs(claim INTEGER NOT NULL REFERENCES "
                              "claims(id), run INTEGER NOT NULL REFERENCES runs(id));"
                              "DROP INDEX metrics_run_name;"
                              "INSERT INTO runs(hash, config, seed, status, created) VALUES "
                              "('h', '{}', 0, 'finished', 0);"
                              "INSERT INTO experiments(name, quick, status, created) VALUES "
                              "('old', 0, 'finished', 0);"
                              "INSERT INTO claims(experiment, name, predicted, measured, "
                              "tolerance, reason, verdict, created) VALUES (1, 'kept', 'p', 2.5, "
                              "'t', 'r', 'fail', 0);"
                              "INSERT INTO claim_runs(claim, run) VALUES (1, 1);"
                              "PRAGMA user_version = 3;",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(lm_store_db(s)));
    lm_store_close(s);
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(one_int(s, "PRAGMA user_version"), 4);
    cr_assert_eq(one_int(s, "SELECT count(*) FROM pragma_foreign_key_check"), 0,
                 "no dangling claim_runs");
    lm_claim got;
    memset(&got, 0, sizeof got);
    cr_assert_eq(lm_store_exp_claims(s, 1, keep_claim, &got, &err), LM_OK, "%s", err.msg);
    cr_assert_str_eq(got.name, "kept");
    cr_assert_eq(got.verdict, LM_VERDICT_FAIL);
    cr_assert_eq(got.n_runs, 1, "claim_runs survive the rebuild");
    /* the new verdict is accepted and read back, with no tolerance interval */
    int64_t e;
    cr_assert_eq(lm_store_exp_begin(s, "new", 0, &e, &err), LM_OK);
    lm_claim c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "a reported figure");
    c.measured = 0.13;
    c.uncertainty = 0.02;
    c.predicted_value = c.tolerance_value = c.lo = c.hi = LM_NAN;
    c.verdict = LM_VERDICT_REPORTED;
    cr_assert_eq(lm_store_exp_end(s, e, "finished", 1, &c, &err), LM_OK, "%s", err.msg);
    memset(&got, 0, sizeof got);
    cr_assert_eq(lm_store_exp_claims(s, e, keep_claim, &got, &err), LM_OK);
    cr_assert_eq(got.verdict, LM_VERDICT_REPORTED);
    cr_assert(isnan(got.lo) && isnan(got.hi));
    cr_assert_str_eq(lm_verdict_name(LM_VERDICT_REPORTED), "reported");
    cr_assert_eq(lm_verdict_parse("reported"), LM_VERDICT_REPORTED);
    cr_assert_eq(lm_verdict_parse("passed"), -1);
    lm_store_close(s);
    unlink(db);
    LM_CHECK_LEAKS();
}

Test(claims, one_series_and_its_total) {
    char db[256];
    lm_tmp_path(db, sizeof db, "series.db");
    lm_store *s;
    lm_err err = {0};
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    int64_t r;
    cr_assert_eq(lm_store_run_begin(s, "{}", "h", 0, 1, &r, &err), LM_OK);
    for (int k = 0; k < 7; k++) {
        lm_metric m[2] = {{k * 10, "a", k}, {k * 10, "b", -k}};
        cr_assert_eq(lm_store_put_metrics(s, r, 2, m, &err), LM_OK, "%s", err.msg);
    }
    int64_t st[8];
    double v[8];
    size_t n, total;
    cr_assert_eq(lm_store_get_series(s, r, "b", 8, st, v, &n, &total, &err), LM_OK, "%s", err.msg);
    cr_assert(n == 7 && total == 7 && st[6] == 60 && v[6] == -6.0);
    cr_assert_eq(lm_store_get_series(s, r, "a", 3, st, v, &n, &total, &err), LM_OK);
    cr_assert(n == 3 && total == 7 && v[2] == 2.0, "a short buffer gets the first records and the "
                                                   "total");
    cr_assert_eq(lm_store_get_series(s, r, "zz", 3, st, v, &n, &total, &err), LM_OK);
    cr_assert(n == 0 && total == 0);
    cr_assert_eq(lm_store_get_series(s, 99, "a", 3, st, v, &n, &total, &err), LM_ENOTFOUND);
    lm_store_close(s);
    unlink(db);
    LM_CHECK_LEAKS();
}
