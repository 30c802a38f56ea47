/*
 * export.c: writes one run as CSV (a step x metric table) or JSON (run info, config, metric
 * series, artifacts), for plotting tools and notebooks.
 *
 * Workload: a run has up to a few million metric rows over a few dozen names. CSV streams the
 * rows twice (once to learn the column names in first-seen order, once to write the table), so
 * its memory is one row of values. JSON builds the whole document with jansson, so its memory
 * is proportional to the run; that is the price of emitting one well-formed object. Both read
 * inside one read transaction, so concurrent writers cannot change the run between passes.
 */
#include "core/internal.h"
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- CSV */

typedef struct name_list {
    char **names;
    size_t n, cap;
    size_t hint; /* rows usually repeat the same name order: try the successor of the last hit */
} name_list;

static void names_free(name_list *l) {
    for (size_t i = 0; i < l->n; i++)
        lm_free(l->names[i]);
    lm_free(l->names);
}

/* Index of name in the list, or l->n when absent. */
static size_t names_find(name_list *l, const char *name) {
    for (size_t k = 0; k < l->n; k++) {
        size_t i = (l->hint + k) % l->n;
        if (strcmp(l->names[i], name) == 0) {
            l->hint = i + 1;
            return i;
        }
    }
    return l->n;
}

static int names_add(name_list *l, const char *name) {
    if (l->n == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 16;
        char **nn = lm_malloc(ncap * sizeof *nn);
        if (!nn)
            return -1;
        if (l->n)
            memcpy(nn, l->names, l->n * sizeof *nn);
        lm_free(l->names);
        l->names = nn;
        l->cap = ncap;
    }
    size_t len = strlen(name);
    char *copy = lm_malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, name, len + 1);
    l->names[l->n++] = copy;
    return 0;
}

/* Writes a CSV field, quoted (RFC 4180) when it holds a comma, quote or line break. */
static int csv_field(FILE *out, const char *s) {
    if (!strpbrk(s, ",\"\r\n"))
        return fputs(s, out) < 0 ? -1 : 0;
    if (fputc('"', out) == EOF)
        return -1;
    for (; *s; s++)
        if ((*s == '"' && fputc('"', out) == EOF) || fputc(*s, out) == EOF)
            return -1;
    return fputc('"', out) == EOF ? -1 : 0;
}

/* One CSV row: the step, then each value (%.17g round-trips a double), "nan" for a value stored
 * as NULL (recorded, but not finite) and an empty cell for a metric not recorded at this step. */
static int csv_row(FILE *out, int64_t step, size_t n, const double *v, const unsigned char *have) {
    if (fprintf(out, "%lld", (long long) step) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int r;
        if (!have[i])
            r = fputc(',', out) == EOF ? -1 : 0;
        else if (isnan(v[i]))
            r = fputs(",nan", out);
        else
            r = fprintf(out, ",%.17g", v[i]);
        if (r < 0)
            return -1;
    }
    return fputc('\n', out) == EOF ? -1 : 0;
}

static lm_status write_fail(lm_store *s, int64_t run, const char *fmt_name, lm_err *err) {
    LM_FAIL(err, LM_EIO, "%s: writing the %s export of run %lld failed: %s", s->path, fmt_name,
            (long long) run, errno ? strerror(errno) : "write error");
}

static lm_status export_csv(lm_store *s, int64_t run, FILE *out, lm_err *err) {
    sqlite3_stmt *st = lm__stmt_get(s, LM__ST_METRIC_LIST, err);
    if (!st)
        return LM_EINVAL;
    name_list names = {0};
    double *vals = NULL;
    unsigned char *have = NULL;
    lm_status code = LM_OK;

    /* Pass 1: the column names, in first-seen order. */
    int rc = sqlite3_bind_int64(st, 1, run);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *) sqlite3_column_text(st, 1);
        if (name && names_find(&names, name) == names.n && names_add(&names, name) != 0) {
            code = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                              "%s: out of memory exporting run %lld", s->path, (long long) run);
            break;
        }
    }
    if (code == LM_OK && rc != SQLITE_DONE)
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "reading metrics of run %lld",
                           (long long) run);
    sqlite3_reset(st);

    if (code == LM_OK) {
        vals = lm_calloc(names.n + 1, sizeof *vals);
        have = lm_calloc(names.n + 1, 1);
        if (!vals || !have)
            code = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                              "%s: out of memory exporting run %lld", s->path, (long long) run);
    }
    if (code == LM_OK) {
        errno = 0;
        int bad = fputs("step", out) < 0;
        for (size_t i = 0; i < names.n && !bad; i++)
            bad = fputc(',', out) == EOF || csv_field(out, names.names[i]) != 0;
        if (bad || fputc('\n', out) == EOF)
            code = write_fail(s, run, "csv", err);
    }

    /* Pass 2: one row per step. Rows come ordered by step, then insertion; a metric written
     * twice at one step keeps its last value. */
    int64_t cur = 0;
    int pending = 0;
    while (code == LM_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t step = sqlite3_column_int64(st, 0);
        const char *name = (const char *) sqlite3_column_text(st, 1);
        if (pending && step != cur) {
            if (csv_row(out, cur, names.n, vals, have) != 0)
                code = write_fail(s, run, "csv", err);
            memset(have, 0, names.n);
        }
        cur = step;
        pending = 1;
        size_t i = name ? names_find(&names, name) : names.n;
        if (i < names.n) {
            vals[i] = sqlite3_column_type(st, 2) == SQLITE_NULL ? (double) NAN
                                                                : sqlite3_column_double(st, 2);
            have[i] = 1;
        }
    }
    if (code == LM_OK && rc != SQLITE_DONE)
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "reading metrics of run %lld",
                           (long long) run);
    if (code == LM_OK && pending && csv_row(out, cur, names.n, vals, have) != 0)
        code = write_fail(s, run, "csv", err);
    lm__stmt_done(st);
    names_free(&names);
    lm_free(vals);
    lm_free(have);
    return code;
}

/* ---------------------------------------------------------------- JSON */

/* One column of the run row as JSON, by its SQLite type; NULL (absent, running) becomes null. */
static json_t *column_json(sqlite3_stmt *st, int i) {
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return json_integer((json_int_t) sqlite3_column_int64(st, i));
    case SQLITE_FLOAT: {
        double v = sqlite3_column_double(st, i);
        return isfinite(v) ? json_real(v) : json_null();
    }
    case SQLITE_TEXT:
        return json_stringn((const char *) sqlite3_column_text(st, i),
                            (size_t) sqlite3_column_bytes(st, i));
    default:
        return json_null();
    }
}

/* The run object: every column of LM__RUN_COLUMNS except config, then the config parsed. */
static lm_status run_json(lm_store *s, int64_t run, json_t *root, lm_err *err) {
    sqlite3_stmt *st = lm__stmt_get(s, LM__ST_RUN_GET, err);
    if (!st)
        return LM_EINVAL;
    lm_status code = LM_OK;
    json_t *obj = json_object(), *cfg = NULL;
    int rc = sqlite3_bind_int64(st, 1, run);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        code = lm_err_set(err, LM_ENOTFOUND, __FILE__, __LINE__, "%s: run %lld not found", s->path,
                          (long long) run);
    else if (rc != SQLITE_ROW)
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "reading run %lld", (long long) run);
    int bad = !obj;
    for (int i = 0; code == LM_OK && !bad && i < sqlite3_column_count(st); i++) {
        const char *col = sqlite3_column_name(st, i);
        json_t *v;
        if (strcmp(col, "config") == 0) {
            json_error_t je;
            int oom = 0;
            cfg = lm__json_loadb((const char *) sqlite3_column_blob(st, i),
                                 (size_t) sqlite3_column_bytes(st, i), 0, &je, &oom);
            if (oom)
                code = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                                  "%s: run %lld: out of memory reading its config", s->path,
                                  (long long) run);
            else if (!cfg)
                code = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__,
                                  "%s: run %lld: stored config is not valid JSON: %d:%d: %s",
                                  s->path, (long long) run, je.line, je.column, je.text);
            continue;
        }
        const uint64_t failed0 = lm__alloc_failures();
        if (strcmp(col, "seed") == 0 && sqlite3_column_int64(st, i) < 0) {
            /* A seed above INT64_MAX (stored as its bit pattern): JSON integers in jansson are
             * int64, so write it exactly, as a decimal string. */
            char buf[24];
            snprintf(buf, sizeof buf, "%" PRIu64, (uint64_t) sqlite3_column_int64(st, i));
            v = json_string(buf);
        } else {
            v = column_json(st, i);
        }
        if (!v && lm__alloc_failures() != failed0)
            code = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                              "%s: run %lld: out of memory exporting column %s", s->path,
                              (long long) run, col);
        else if (!v && sqlite3_column_type(st, i) == SQLITE_TEXT)
            code = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__,
                              "%s: run %lld: column %s is not valid UTF-8", s->path,
                              (long long) run, col);
        else
            bad = json_object_set_new(obj, col, v) != 0;
    }
    lm__stmt_done(st);
    if (code == LM_OK && !bad) {
        bad = json_object_set_new(obj, "config", cfg) != 0; /* takes cfg, even on failure */
        cfg = NULL;
        if (!bad) {
            bad = json_object_set_new(root, "run", obj) != 0; /* takes obj */
            obj = NULL;
        }
    }
    json_decref(cfg);
    json_decref(obj);
    if (code == LM_OK && bad)
        code = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                          "%s: out of memory exporting run %lld", s->path, (long long) run);
    return code;
}

static lm_status metrics_json(lm_store *s, int64_t run, json_t *root, lm_err *err) {
    sqlite3_stmt *st = lm__stmt_get(s, LM__ST_METRIC_LIST, err);
    if (!st)
        return LM_EINVAL;
    lm_status code = LM_OK;
    json_t *obj = json_object();
    int bad = !obj || json_object_set_new(root, "metrics", obj) != 0;
    int rc = sqlite3_bind_int64(st, 1, run);
    while (!bad && (rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *) sqlite3_column_text(st, 1);
        if (!name)
            continue;
        json_t *series = json_object_get(obj, name);
        if (!series) {
            const uint64_t failed0 = lm__alloc_failures();
            series = json_array();
            if (json_object_set_new(obj, name, series) != 0) {
                if (series && lm__alloc_failures() == failed0)
                    code = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__,
                                      "%s: run %lld: metric name is not valid UTF-8", s->path,
                                      (long long) run);
                bad = 1;
                break;
            }
        }
        json_t *pt = json_array();
        bad = !pt || json_array_append_new(series, pt) != 0 ||
              json_array_append_new(pt, json_integer((json_int_t) sqlite3_column_int64(st, 0))) !=
                  0 ||
              json_array_append_new(pt, column_json(st, 2)) != 0;
    }
    if (code == LM_OK && bad)
        code = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                          "%s: out of memory exporting run %lld", s->path, (long long) run);
    else if (code == LM_OK && rc != SQLITE_DONE)
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "reading metrics of run %lld",
                           (long long) run);
    lm__stmt_done(st);
    return code;
}

static lm_status artifacts_json(lm_store *s, int64_t run, json_t *root, lm_err *err) {
    sqlite3_stmt *st = lm__stmt_get(s, LM__ST_ARTIFACT_LIST, err);
    if (!st)
        return LM_EINVAL;
    lm_status code = LM_OK;
    const uint64_t failed0 = lm__alloc_failures();
    json_t *arr = json_array();
    int bad = !arr || json_object_set_new(root, "artifacts", arr) != 0;
    int rc = sqlite3_bind_int64(st, 1, run);
    while (!bad && (rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *a = json_object();
        bad = !a || json_array_append_new(arr, a) != 0 ||
              json_object_set_new(a, "name", column_json(st, 0)) != 0 ||
              json_object_set_new(a, "kind", column_json(st, 1)) != 0 ||
              json_object_set_new(a, "path", column_json(st, 2)) != 0;
    }
    if (bad && lm__alloc_failures() != failed0)
        code = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                          "%s: out of memory exporting the artifacts of run %lld", s->path,
                          (long long) run);
    else if (bad)
        code = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__,
                          "%s: run %lld: cannot export an artifact (not UTF-8)", s->path,
                          (long long) run);
    else if (rc != SQLITE_DONE)
        code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "reading artifacts of run %lld",
                           (long long) run);
    lm__stmt_done(st);
    return code;
}

static lm_status export_json(lm_store *s, int64_t run, FILE *out, lm_err *err) {
    json_t *root = json_object();
    if (!root)
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory exporting run %lld", s->path, (long long) run);
    lm_status code = run_json(s, run, root, err);
    if (code == LM_OK)
        code = metrics_json(s, run, root, err);
    if (code == LM_OK)
        code = artifacts_json(s, run, root, err);
    if (code == LM_OK) {
        errno = 0;
        /* 17 significant digits: every double round-trips. An allocation that failed inside
         * jansson may have dropped characters silently: the output is then not trusted. */
        const uint64_t failed0 = lm__alloc_failures();
        const int wrote =
            json_dumpf(root, out, JSON_REAL_PRECISION(17)) == 0 && fputc('\n', out) != EOF;
        if (lm__alloc_failures() != failed0)
            code = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                              "%s: out of memory exporting run %lld (the output is incomplete)",
                              s->path, (long long) run);
        else if (!wrote)
            code = write_fail(s, run, "json", err);
    }
    json_decref(root);
    return code;
}

/* ---------------------------------------------------------------- entry point */

lm_status lm_store_export(lm_store *s, int64_t run, const char *format, FILE *out, lm_err *err) {
    if (!s || !out)
        LM_FAIL(err, LM_EINVAL, "lm_store_export: store or output is NULL");
    int csv = format && strcmp(format, "csv") == 0;
    if (!csv && !(format && strcmp(format, "json") == 0))
        LM_FAIL(err, LM_EINVAL, "unknown export format \"%s\" (csv, json)",
                format ? format : "(null)");

    LM_TRY(lm__txn_begin_read(s, "exporting a run", err));
    lm_status code = LM_OK;
    if (csv) {
        /* CSV needs the run only to exist; JSON reads it whole in run_json. */
        code = lm__run_check(s, run, err);
        if (code == LM_OK)
            code = export_csv(s, run, out, err);
    } else {
        code = export_json(s, run, out, err);
    }
    if (code != LM_OK) {
        lm__txn_rollback(s);
        return code;
    }
    LM_TRY(lm__txn_commit(s, "exporting a run", err));
    if (fflush(out) != 0)
        return write_fail(s, run, csv ? "csv" : "json", err);
    return LM_OK;
}
