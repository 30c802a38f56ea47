/*
 * claims.c: experiment invocations, the runs they used, and their claims (schema version 2).
 * Claims are written once per invocation, so these statements are prepared per call rather than
 * cached: the workload is a handful of rows per experiment, not thousands per second.
 */
#include "store/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const k_verdicts[] = {"pass", "fail", "inconclusive", "reported"};

const char *lm_verdict_name(lm_verdict v) {
    return (unsigned) v <= LM_VERDICT_REPORTED ? k_verdicts[v] : "unknown";
}

int lm_verdict_parse(const char *name) {
    for (int i = 0; name && i <= (int) LM_VERDICT_REPORTED; i++)
        if (strcmp(name, k_verdicts[i]) == 0)
            return i;
    return -1;
}

/* Prepares sql; on failure records the error naming `what`. */
static lm_status prepare(lm_store *s, const char *sql, sqlite3_stmt **st, const char *what,
                         lm_err *err) {
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK)
        LM__DB_FAIL(s, err, rc, "%s", what);
    return LM_OK;
}

static void bind_num(sqlite3_stmt *st, int i, double v) {
    if (isfinite(v))
        sqlite3_bind_double(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static double col_num(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? LM_NAN : sqlite3_column_double(st, i);
}

/* Runs a one-row write statement inside its own BEGIN IMMEDIATE transaction. */
static lm_status write_one(lm_store *s, sqlite3_stmt *st, const char *what, lm_err *err) {
    lm_status code = lm__txn_begin(s, what, err);
    if (code != LM_OK) {
        sqlite3_finalize(st);
        return code;
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "%s", what);
        sqlite3_finalize(st);
        lm__txn_rollback(s);
        return code;
    }
    sqlite3_finalize(st);
    return lm__txn_commit(s, what, err);
}

lm_status lm_store_exp_begin(lm_store *s, const char *name, int quick, int64_t *exp_id,
                             lm_err *err) {
    if (!s || !name || !name[0] || !exp_id)
        LM_FAIL(err, LM_EINVAL, "lm_store_exp_begin: store, name or exp_id missing");
    sqlite3_stmt *st;
    LM_TRY(prepare(s,
                   "INSERT INTO experiments(name, quick, status, created, lmech_version, host, pid)"
                   " VALUES (?, ?, 'running', ?, ?, ?, ?)",
                   &st, "starting an experiment", err));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, quick ? 1 : 0);
    sqlite3_bind_double(st, 3, lm__unix_now());
    sqlite3_bind_text(st, 4, lm_version(), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, s->host, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (int64_t) getpid());
    LM_TRY(write_one(s, st, "starting an experiment", err));
    *exp_id = sqlite3_last_insert_rowid(s->db);
    return LM_OK;
}

lm_status lm_store_exp_add_run(lm_store *s, int64_t exp_id, int64_t run, const char *label,
                               lm_err *err) {
    LM_TRY(lm__run_check(s, run, err));
    sqlite3_stmt *st;
    LM_TRY(prepare(s, "INSERT INTO experiment_runs(experiment, run, label) VALUES (?, ?, ?)", &st,
                   "linking a run to an experiment", err));
    sqlite3_bind_int64(st, 1, exp_id);
    sqlite3_bind_int64(st, 2, run);
    sqlite3_bind_text(st, 3, label ? label : "", -1, SQLITE_TRANSIENT);
    return write_one(s, st, "linking a run to an experiment", err);
}

lm_status lm_store_exp_end(lm_store *s, int64_t exp_id, const char *status, size_t n,
                           const lm_claim *claims, lm_err *err) {
    static const char *const ok[] = {"finished", "failed", "interrupted"};
    int valid = 0;
    for (size_t i = 0; i < 3; i++)
        valid |= status && strcmp(status, ok[i]) == 0;
    if (!valid)
        LM_FAIL(err, LM_EINVAL, "%s: experiment status \"%s\" (finished, failed, interrupted)",
                s->path, status ? status : "(null)");
    for (size_t i = 0; i < n; i++)
        if ((unsigned) claims[i].verdict > LM_VERDICT_REPORTED ||
            claims[i].n_runs > LM_CLAIM_MAX_RUNS || !claims[i].name[0])
            LM_FAIL(err, LM_EINVAL, "%s: claim %zu (\"%s\") is malformed", s->path, i,
                    claims[i].name);
    sqlite3_stmt *ins = NULL, *link = NULL, *upd = NULL;
    lm_status code = prepare(s,
                             "INSERT INTO claims(experiment, name, predicted, predicted_value, "
                             "measured, uncertainty, tolerance, tolerance_value, reason, verdict, "
                             "detail, created, lo, hi) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                             &ins, "recording claims", err);
    if (code == LM_OK)
        code = prepare(s, "INSERT INTO claim_runs(claim, run) VALUES (?, ?)", &link,
                       "recording claims", err);
    if (code == LM_OK)
        code = prepare(s, "UPDATE experiments SET status = ?, finished = ? WHERE id = ?", &upd,
                       "ending an experiment", err);
    if (code == LM_OK)
        code = lm__txn_begin(s, "recording claims", err);
    if (code != LM_OK) {
        sqlite3_finalize(ins);
        sqlite3_finalize(link);
        sqlite3_finalize(upd);
        return code;
    }
    const double now = lm__unix_now();
    int rc = SQLITE_DONE;
    for (size_t i = 0; i < n && rc == SQLITE_DONE; i++) {
        const lm_claim *c = &claims[i];
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, exp_id);
        sqlite3_bind_text(ins, 2, c->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, c->predicted, -1, SQLITE_STATIC);
        bind_num(ins, 4, c->predicted_value);
        bind_num(ins, 5, c->measured);
        bind_num(ins, 6, c->uncertainty);
        sqlite3_bind_text(ins, 7, c->tolerance, -1, SQLITE_STATIC);
        bind_num(ins, 8, c->tolerance_value);
        sqlite3_bind_text(ins, 9, c->reason, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 10, lm_verdict_name(c->verdict), -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 11, c->detail, -1, SQLITE_STATIC);
        sqlite3_bind_double(ins, 12, now);
        bind_num(ins, 13, c->lo); /* +-inf (an open side) is stored as NULL */
        bind_num(ins, 14, c->hi);
        rc = sqlite3_step(ins);
        const int64_t cid = sqlite3_last_insert_rowid(s->db);
        for (size_t r = 0; r < c->n_runs && rc == SQLITE_DONE; r++) {
            sqlite3_reset(link);
            sqlite3_bind_int64(link, 1, cid);
            sqlite3_bind_int64(link, 2, c->runs[r]);
            rc = sqlite3_step(link);
        }
    }
    if (rc == SQLITE_DONE) {
        sqlite3_bind_text(upd, 1, status, -1, SQLITE_STATIC);
        sqlite3_bind_double(upd, 2, now);
        sqlite3_bind_int64(upd, 3, exp_id);
        rc = sqlite3_step(upd);
    }
    if (rc != SQLITE_DONE)
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "recording claims");
    sqlite3_finalize(ins);
    sqlite3_finalize(link);
    sqlite3_finalize(upd);
    if (code != LM_OK) {
        lm__txn_rollback(s);
        return code;
    }
    return lm__txn_commit(s, "recording claims", err);
}

lm_status lm_store_exp_latest(lm_store *s, const char *name, int64_t *exp_id, lm_err *err) {
    sqlite3_stmt *st;
    LM_TRY(prepare(s,
                   "SELECT id FROM experiments WHERE name = ? "
                   "ORDER BY status = 'finished' DESC, id DESC LIMIT 1",
                   &st, "finding an experiment", err));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    *exp_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        LM__DB_FAIL(s, err, rc, "finding experiment %s", name);
    return LM_OK;
}

static void exp_from_row(sqlite3_stmt *st, lm_exp_info *info) {
    memset(info, 0, sizeof *info);
    info->id = sqlite3_column_int64(st, 0);
    lm__copy_str(info->name, sizeof info->name, (const char *) sqlite3_column_text(st, 1));
    info->quick = sqlite3_column_int(st, 2);
    lm__copy_str(info->status, sizeof info->status, (const char *) sqlite3_column_text(st, 3));
    info->created = col_num(st, 4);
    info->finished = col_num(st, 5);
}

#define EXP_COLUMNS "id, name, quick, status, created, finished"

lm_status lm_store_exp_get(lm_store *s, int64_t exp_id, lm_exp_info *info, lm_err *err) {
    sqlite3_stmt *st;
    LM_TRY(prepare(s, "SELECT " EXP_COLUMNS " FROM experiments WHERE id = ?", &st,
                   "reading an experiment", err));
    sqlite3_bind_int64(st, 1, exp_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        exp_from_row(st, info);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        LM_FAIL(err, LM_ENOTFOUND, "%s: experiment invocation %lld not found", s->path,
                (long long) exp_id);
    if (rc != SQLITE_ROW)
        LM__DB_FAIL(s, err, rc, "reading experiment %lld", (long long) exp_id);
    return LM_OK;
}

lm_status lm_store_exp_list(lm_store *s, lm_exp_fn fn, void *ud, lm_err *err) {
    sqlite3_stmt *st;
    LM_TRY(prepare(s, "SELECT " EXP_COLUMNS " FROM experiments ORDER BY id", &st,
                   "listing experiments", err));
    int rc;
    lm_exp_info info;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        exp_from_row(st, &info);
        if (fn(ud, &info))
            break;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        LM__DB_FAIL(s, err, rc, "listing experiments");
    return LM_OK;
}

lm_status lm_store_exp_runs(lm_store *s, int64_t exp_id, lm_exp_run_fn fn, void *ud, lm_err *err) {
    sqlite3_stmt *st;
    LM_TRY(prepare(s, "SELECT run, label FROM experiment_runs WHERE experiment = ? ORDER BY rowid",
                   &st, "listing an experiment's runs", err));
    sqlite3_bind_int64(st, 1, exp_id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ud, sqlite3_column_int64(st, 0), (const char *) sqlite3_column_text(st, 1)))
            break;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        LM__DB_FAIL(s, err, rc, "listing the runs of experiment %lld", (long long) exp_id);
    return LM_OK;
}

lm_status lm_store_exp_claims(lm_store *s, int64_t exp_id, lm_claim_fn fn, void *ud, lm_err *err) {
    sqlite3_stmt *st, *rs;
    LM_TRY(prepare(s,
                   "SELECT id, name, predicted, predicted_value, measured, uncertainty, tolerance,"
                   " tolerance_value, reason, verdict, detail, lo, hi FROM claims"
                   " WHERE experiment = ?"
                   " ORDER BY id",
                   &st, "reading claims", err));
    lm_status code = prepare(s, "SELECT run FROM claim_runs WHERE claim = ? ORDER BY rowid", &rs,
                             "reading claims", err);
    if (code != LM_OK) {
        sqlite3_finalize(st);
        return code;
    }
    sqlite3_bind_int64(st, 1, exp_id);
    int rc;
    lm_claim c;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&c, 0, sizeof c);
        lm__copy_str(c.name, sizeof c.name, (const char *) sqlite3_column_text(st, 1));
        lm__copy_str(c.predicted, sizeof c.predicted, (const char *) sqlite3_column_text(st, 2));
        c.predicted_value = col_num(st, 3);
        c.measured = col_num(st, 4);
        c.uncertainty = col_num(st, 5);
        lm__copy_str(c.tolerance, sizeof c.tolerance, (const char *) sqlite3_column_text(st, 6));
        c.tolerance_value = col_num(st, 7);
        lm__copy_str(c.reason, sizeof c.reason, (const char *) sqlite3_column_text(st, 8));
        const char *v = (const char *) sqlite3_column_text(st, 9);
        const int vi = lm_verdict_parse(v);
        c.verdict = vi < 0 ? LM_VERDICT_INCONCLUSIVE : (lm_verdict) vi;
        lm__copy_str(c.detail, sizeof c.detail, (const char *) sqlite3_column_text(st, 10));
        /* NULL is an open side, except for a reported figure (no interval) */
        const int rep = c.verdict == LM_VERDICT_REPORTED;
        c.lo = sqlite3_column_type(st, 11) == SQLITE_NULL ? (rep ? LM_NAN : -LM_INF)
                                                          : sqlite3_column_double(st, 11);
        c.hi = sqlite3_column_type(st, 12) == SQLITE_NULL ? (rep ? LM_NAN : LM_INF)
                                                          : sqlite3_column_double(st, 12);
        sqlite3_reset(rs);
        sqlite3_bind_int64(rs, 1, sqlite3_column_int64(st, 0));
        int r2;
        while ((r2 = sqlite3_step(rs)) == SQLITE_ROW && c.n_runs < LM_CLAIM_MAX_RUNS)
            c.runs[c.n_runs++] = sqlite3_column_int64(rs, 0);
        if (fn(ud, &c))
            break;
    }
    sqlite3_finalize(st);
    sqlite3_finalize(rs);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        LM__DB_FAIL(s, err, rc, "reading the claims of experiment %lld", (long long) exp_id);
    return LM_OK;
}
