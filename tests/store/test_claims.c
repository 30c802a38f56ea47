/* Tests for src/store/claims.c: experiment invocations, their runs and claims. */
#include "lm_test.h"
#include "lmech/store.h"

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
    c[0].n_runs = 2;
    c[0].runs[0] = r1;
    c[0].runs[1] = r2;
    snprintf(c[1].name, sizeof c[1].name, "control");
    c[1].measured = LM_NAN;
    c[1].predicted_value = LM_NAN;
    c[1].uncertainty = LM_NAN;
    c[1].tolerance_value = LM_NAN;
    c[1].verdict = LM_VERDICT_INCONCLUSIVE;
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
