/*
 * runs.c: writing and reading runs, metric rows and artifacts.
 *
 * Workload: a training process calls lm_store_put_metrics every few steps with a batch of a few
 * to a few dozen rows; each batch is one BEGIN IMMEDIATE transaction through cached statements,
 * so a batch costs one WAL append and no statement compilation. Readers (list, get, export) are
 * rare and read whole runs. Every write either commits whole or is rolled back.
 */
#include "core/internal.h"
#include "internal.h"

#include <jansson.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#define BIND(expr)                                                                                 \
    do {                                                                                           \
        if (rc == SQLITE_OK)                                                                       \
            rc = (expr);                                                                           \
    } while (0)

/* Binds a double, or NULL when it is NaN or Inf (SQLite would turn NaN into NULL anyway and Inf
 * into a value other tools do not read back). */
static int bind_real(sqlite3_stmt *st, int i, double v) {
    return isfinite(v) ? sqlite3_bind_double(st, i, v) : sqlite3_bind_null(st, i);
}

static double col_real(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? (double) NAN : sqlite3_column_double(st, i);
}

static int64_t col_int(sqlite3_stmt *st, int i, int64_t if_null) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? if_null : sqlite3_column_int64(st, i);
}

static lm_status check_metrics(lm_store *s, size_t n, const lm_metric *m, lm_err *err) {
    if (n > 0 && !m)
        LM_FAIL(err, LM_EINVAL, "%s: %zu metric rows but the array is NULL", s->path, n);
    for (size_t i = 0; i < n; i++)
        if (!m[i].name || !m[i].name[0])
            LM_FAIL(err, LM_EINVAL, "%s: metric row %zu (step %lld) has no name", s->path, i,
                    (long long) m[i].step);
    return LM_OK;
}

/* Inserts n metric rows inside the caller's transaction. */
static lm_status insert_metrics(lm_store *s, int64_t run, size_t n, const lm_metric *m,
                                lm_err *err) {
    sqlite3_stmt *st = s->st[LM__ST_METRIC_INSERT];
    for (size_t i = 0; i < n; i++) {
        int rc = sqlite3_bind_int64(st, 1, run);
        BIND(sqlite3_bind_int64(st, 2, m[i].step));
        BIND(sqlite3_bind_text(st, 3, m[i].name, -1, SQLITE_STATIC));
        BIND(bind_real(st, 4, m[i].value));
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
            lm_status code;
            if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
                code = lm_err_set(err, LM_ENOTFOUND, __FILE__, __LINE__,
                                  "%s: run %lld not found (writing metric \"%s\")", s->path,
                                  (long long) run, m[i].name);
            else
                code =
                    lm__db_fail(s, err, rc, __FILE__, __LINE__,
                                "writing metric \"%.40s\" of run %lld", m[i].name, (long long) run);
            lm__stmt_done(st);
            return code;
        }
        lm__stmt_done(st);
    }
    return LM_OK;
}

lm_status lm_store_run_begin(lm_store *s, const char *config_json, const char *hash, uint64_t seed,
                             int threads, int64_t *run_id, lm_err *err) {
    if (!s || !run_id)
        LM_FAIL(err, LM_EINVAL, "lm_store_run_begin: store or run_id is NULL");
    /* 64 characters: a hex SHA-256, the longest hash lm_run_info.hash holds. */
    if (!hash || !hash[0] || strlen(hash) > 64)
        LM_FAIL(err, LM_EINVAL, "%s: run hash \"%.70s\" must have 1 to 64 characters", s->path,
                hash ? hash : "(null)");
    if (!config_json)
        LM_FAIL(err, LM_EINVAL, "%s: run config is NULL", s->path);
    json_error_t je;
    int oom = 0;
    json_t *cfg = lm__json_loadb(config_json, strlen(config_json), 0, &je, &oom);
    int is_object = json_is_object(cfg);
    json_decref(cfg);
    if (oom)
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory reading the run config", s->path);
    if (!cfg)
        LM_FAIL(err, LM_EINVAL, "%s: run config is not valid JSON: %d:%d: %s", s->path, je.line,
                je.column, je.text);
    if (!is_object)
        LM_FAIL(err, LM_EINVAL, "%s: run config is JSON but not an object", s->path);

    char start[32];
    lm__own_start(start, sizeof start);
    LM_TRY(lm__txn_begin(s, "beginning a run", err));
    sqlite3_stmt *st = s->st[LM__ST_RUN_INSERT];
    int rc = sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    BIND(sqlite3_bind_text(st, 2, config_json, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_int64(st, 3, (int64_t) seed)); /* bit pattern kept; read back as uint64 */
    BIND(sqlite3_bind_double(st, 4, lm__unix_now()));
    BIND(sqlite3_bind_text(st, 5, lm_version(), -1, SQLITE_STATIC));
    BIND(sqlite3_bind_text(st, 6, lm_blas_info(), -1, SQLITE_STATIC));
    BIND(sqlite3_bind_int(st, 7, threads));
    BIND(sqlite3_bind_text(st, 8, s->host, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_int64(st, 9, (int64_t) getpid()));
    BIND(start[0] ? sqlite3_bind_text(st, 10, start, -1, SQLITE_STATIC)
                  : sqlite3_bind_null(st, 10));
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        lm_status code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "beginning a run");
        lm__stmt_done(st);
        lm__txn_rollback(s);
        return code;
    }
    lm__stmt_done(st);
    int64_t id = sqlite3_last_insert_rowid(s->db);
    LM_TRY(lm__txn_commit(s, "beginning a run", err));
    *run_id = id;
    return LM_OK;
}

lm_status lm_store_put_metrics(lm_store *s, int64_t run, size_t n, const lm_metric *m,
                               lm_err *err) {
    if (!s)
        LM_FAIL(err, LM_EINVAL, "lm_store_put_metrics: store is NULL");
    LM_TRY(check_metrics(s, n, m, err));
    if (n == 0)
        return LM_OK;
    LM_TRY(lm__txn_begin(s, "writing metrics", err));
    lm_status st = insert_metrics(s, run, n, m, err);
    if (st != LM_OK) {
        lm__txn_rollback(s);
        return st;
    }
    return lm__txn_commit(s, "writing metrics", err);
}

lm_status lm_store_run_end(lm_store *s, int64_t run, lm_run_status status, int64_t steps,
                           double wall_s, int64_t diverged_step, const char *message, size_t n,
                           const lm_metric *m, lm_err *err) {
    if (!s)
        LM_FAIL(err, LM_EINVAL, "lm_store_run_end: store is NULL");
    if (status <= LM_RUN_RUNNING || status > LM_RUN_INTERRUPTED)
        LM_FAIL(err, LM_EINVAL, "%s: run %lld cannot end with status %d (%s)", s->path,
                (long long) run, (int) status, lm_run_status_name(status));
    LM_TRY(check_metrics(s, n, m, err));

    LM_TRY(lm__txn_begin(s, "ending a run", err));
    sqlite3_stmt *st = s->st[LM__ST_RUN_END];
    int rc = sqlite3_bind_int64(st, 1, run);
    BIND(sqlite3_bind_text(st, 2, lm_run_status_name(status), -1, SQLITE_STATIC));
    BIND(sqlite3_bind_double(st, 3, lm__unix_now()));
    BIND(bind_real(st, 4, wall_s));
    BIND(steps >= 0 ? sqlite3_bind_int64(st, 5, steps) : sqlite3_bind_null(st, 5));
    BIND(diverged_step >= 0 ? sqlite3_bind_int64(st, 6, diverged_step) : sqlite3_bind_null(st, 6));
    BIND(message ? sqlite3_bind_text(st, 7, message, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 7));
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    lm_status code = LM_OK;
    if (rc != SQLITE_DONE)
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "ending run %lld", (long long) run);
    else if (sqlite3_changes(s->db) != 1)
        code = lm_err_set(err, LM_ENOTFOUND, __FILE__, __LINE__, "%s: run %lld not found", s->path,
                          (long long) run);
    lm__stmt_done(st);
    if (code == LM_OK)
        code = insert_metrics(s, run, n, m, err);
    if (code != LM_OK) {
        lm__txn_rollback(s);
        return code;
    }
    return lm__txn_commit(s, "ending a run", err);
}

lm_status lm_store_put_artifact(lm_store *s, int64_t run, const char *name, const char *kind,
                                const char *path, lm_err *err) {
    if (!s)
        LM_FAIL(err, LM_EINVAL, "lm_store_put_artifact: store is NULL");
    if (!name || !name[0] || !path || !path[0])
        LM_FAIL(err, LM_EINVAL, "%s: artifact of run %lld needs a name and a path", s->path,
                (long long) run);
    LM_TRY(lm__txn_begin(s, "recording an artifact", err));
    sqlite3_stmt *st = s->st[LM__ST_ARTIFACT_INSERT];
    int rc = sqlite3_bind_int64(st, 1, run);
    BIND(sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC));
    BIND(kind ? sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 3));
    BIND(sqlite3_bind_text(st, 4, path, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_double(st, 5, lm__unix_now()));
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    lm_status code = LM_OK;
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        code = lm_err_set(err, LM_ENOTFOUND, __FILE__, __LINE__,
                          "%s: run %lld not found (recording artifact \"%s\")", s->path,
                          (long long) run, name);
    else if (rc != SQLITE_DONE)
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "recording artifact \"%.40s\"", name);
    lm__stmt_done(st);
    if (code != LM_OK) {
        lm__txn_rollback(s);
        return code;
    }
    return lm__txn_commit(s, "recording an artifact", err);
}

/* ---------------------------------------------------------------- reading */

void lm_run_info_clear(lm_run_info *info) {
    if (!info)
        return;
    lm_free(info->config);
    memset(info, 0, sizeof *info);
}

lm_status lm__run_from_row(lm_store *s, sqlite3_stmt *st, lm_run_info *info, lm_err *err) {
    memset(info, 0, sizeof *info);
    info->id = sqlite3_column_int64(st, 0);
    lm__copy_str(info->hash, sizeof info->hash, (const char *) sqlite3_column_text(st, 1));
    info->seed = (uint64_t) sqlite3_column_int64(st, 3);
    lm__copy_str(info->status, sizeof info->status, (const char *) sqlite3_column_text(st, 4));
    info->created = col_real(st, 5);
    info->finished = col_real(st, 6);
    info->wall_s = col_real(st, 7);
    info->steps = col_int(st, 8, -1);
    info->diverged_step = col_int(st, 9, -1);
    lm__copy_str(info->message, sizeof info->message, (const char *) sqlite3_column_text(st, 10));
    lm__copy_str(info->lmech_version, sizeof info->lmech_version,
                 (const char *) sqlite3_column_text(st, 11));
    lm__copy_str(info->blas, sizeof info->blas, (const char *) sqlite3_column_text(st, 12));
    info->threads = (int) col_int(st, 13, 0);
    lm__copy_str(info->host, sizeof info->host, (const char *) sqlite3_column_text(st, 14));

    const char *cfg = (const char *) sqlite3_column_text(st, 2);
    size_t len = (size_t) sqlite3_column_bytes(st, 2);
    if (!cfg && sqlite3_errcode(s->db) == SQLITE_NOMEM)
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory reading run %lld", s->path,
                (long long) info->id);
    info->config = lm_malloc(len + 1);
    if (!info->config)
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory reading the config of run %lld (%zu bytes)",
                s->path, (long long) info->id, len);
    if (len)
        memcpy(info->config, cfg, len);
    info->config[len] = '\0';
    return LM_OK;
}

lm_status lm__run_check(lm_store *s, int64_t run, lm_err *err) {
    sqlite3_stmt *st = lm__stmt_get(s, LM__ST_RUN_EXISTS, err);
    if (!st)
        return LM_EINVAL;
    int rc = sqlite3_bind_int64(st, 1, run);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    lm_status code = LM_OK;
    if (rc == SQLITE_DONE)
        code = lm_err_set(err, LM_ENOTFOUND, __FILE__, __LINE__, "%s: run %lld not found", s->path,
                          (long long) run);
    else if (rc != SQLITE_ROW)
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "reading run %lld", (long long) run);
    lm__stmt_done(st);
    return code;
}

lm_status lm_store_get_run(lm_store *s, int64_t run, lm_run_info *info, lm_err *err) {
    if (!s || !info)
        LM_FAIL(err, LM_EINVAL, "lm_store_get_run: store or info is NULL");
    sqlite3_stmt *st = lm__stmt_get(s, LM__ST_RUN_GET, err);
    if (!st)
        return LM_EINVAL;
    lm_run_info tmp;
    lm_status code = LM_OK;
    int rc = sqlite3_bind_int64(st, 1, run);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        code = lm__run_from_row(s, st, &tmp, err);
    else if (rc == SQLITE_DONE)
        code = lm_err_set(err, LM_ENOTFOUND, __FILE__, __LINE__, "%s: run %lld not found", s->path,
                          (long long) run);
    else
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "reading run %lld", (long long) run);
    lm__stmt_done(st);
    if (code == LM_OK)
        *info = tmp;
    return code;
}

static lm_status find_by(lm_store *s, lm__stmt which, const char *hash, int64_t *run_id,
                         lm_err *err) {
    if (!s || !hash || !run_id)
        LM_FAIL(err, LM_EINVAL, "lm_store_find_hash: store, hash or run_id is NULL");
    sqlite3_stmt *st = lm__stmt_get(s, which, err);
    if (!st)
        return LM_EINVAL;
    int64_t id = -1;
    lm_status code = LM_OK;
    int rc = sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "looking up hash %.64s", hash);
    lm__stmt_done(st);
    if (code == LM_OK)
        *run_id = id;
    return code;
}

lm_status lm_store_find_hash(lm_store *s, const char *hash, int64_t *run_id, lm_err *err) {
    return find_by(s, LM__ST_RUN_FIND_HASH, hash, run_id, err);
}

lm_status lm_store_find_diverged(lm_store *s, const char *hash, int64_t *run_id, lm_err *err) {
    return find_by(s, LM__ST_RUN_FIND_DIVERGED, hash, run_id, err);
}

lm_status lm_store_list_runs(lm_store *s, lm_run_fn fn, void *ud, lm_err *err) {
    if (!s || !fn)
        LM_FAIL(err, LM_EINVAL, "lm_store_list_runs: store or callback is NULL");
    sqlite3_stmt *st = lm__stmt_get(s, LM__ST_RUN_LIST, err);
    if (!st)
        return LM_EINVAL;
    lm_status code = LM_OK;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lm_run_info info;
        code = lm__run_from_row(s, st, &info, err);
        if (code != LM_OK)
            break;
        int stop = fn(ud, &info);
        lm_run_info_clear(&info);
        if (stop)
            break;
    }
    if (code == LM_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "listing runs");
    lm__stmt_done(st);
    return code;
}

lm_status lm_store_get_series(lm_store *s, int64_t run, const char *name, size_t cap,
                              int64_t *steps, double *values, size_t *n, size_t *total,
                              lm_err *err) {
    if (!s || !name || !n || !total || (cap && !values))
        LM_FAIL(err, LM_EINVAL, "lm_store_get_series: store, name, values or counts missing");
    *n = *total = 0;
    LM_TRY(lm__run_check(s, run, err));
    sqlite3_stmt *st = lm__stmt_get(s, LM__ST_SERIES, err);
    if (!st)
        return LM_EINVAL;
    int rc = sqlite3_bind_int64(st, 1, run);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n < cap) {
            if (steps)
                steps[*n] = sqlite3_column_int64(st, 0);
            values[*n] = col_real(st, 1);
            (*n)++;
        }
        (*total)++;
    }
    lm_status code = LM_OK;
    if (rc != SQLITE_DONE)
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "reading metric \"%s\" of run %lld",
                           name, (long long) run);
    lm__stmt_done(st);
    return code;
}

lm_status lm_store_get_metrics(lm_store *s, int64_t run, lm_metric_fn fn, void *ud, lm_err *err) {
    if (!s || !fn)
        LM_FAIL(err, LM_EINVAL, "lm_store_get_metrics: store or callback is NULL");
    LM_TRY(lm__run_check(s, run, err));
    lm_status code = LM_OK;
    sqlite3_stmt *st = lm__stmt_get(s, LM__ST_METRIC_LIST, err);
    if (!st)
        return LM_EINVAL;
    int rc = sqlite3_bind_int64(st, 1, run);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *) sqlite3_column_text(st, 1);
        if (fn(ud, sqlite3_column_int64(st, 0), name ? name : "", col_real(st, 2))) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "reading metrics of run %lld",
                           (long long) run);
    lm__stmt_done(st);
    return code;
}
