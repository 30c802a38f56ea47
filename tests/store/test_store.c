/* Tests for src/store in one process: schema, run lifecycle, NaN handling, exports, errors. */
#include "lm_test.h"
#include "lmech/store.h"

#include <jansson.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A fresh database path for this test process, with any leftovers (and WAL files) removed. */
static void fresh_db(char *buf, size_t n, const char *name) {
    lm_tmp_path(buf, n, name);
    char side[600];
    unlink(buf);
    snprintf(side, sizeof side, "%s-wal", buf);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", buf);
    unlink(side);
}

static void remove_db(const char *path) {
    char side[600];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static int64_t query_int(lm_store *s, const char *sql) {
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(lm_store_db(s), sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(lm_store_db(s)));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void exec_sql(lm_store *s, const char *sql) {
    cr_assert_eq(sqlite3_exec(lm_store_db(s), sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(lm_store_db(s)));
}

static const char *k_config = "{\"model\": {\"width\": 64, \"act\": \"relu\"}, \"lr\": 0.1}";
static const char *k_hash = "3f2a9c0e5b7d1f4a3f2a9c0e5b7d1f4a3f2a9c0e5b7d1f4a3f2a9c0e5b7d1f4a";

Test(store, schema_created_and_reopened) {
    char path[512];
    fresh_db(path, sizeof path, "schema.db");
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(query_int(s, "PRAGMA user_version"), 4);
    cr_assert_eq(query_int(s, "PRAGMA foreign_keys"), 1);
    cr_assert_eq(query_int(s, "PRAGMA synchronous"), 1); /* 1 = NORMAL */
    cr_assert_eq(query_int(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name "
                              "IN ('runs', 'metrics', 'artifacts')"),
                 3);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                              "sql LIKE '%metrics(run, step)%'"),
                 1);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                              "sql LIKE '%runs(hash)%'"),
                 1);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(lm_store_db(s), "PRAGMA journal_mode", -1, &st, NULL);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *) sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    int64_t id = 0;
    cr_assert_eq(lm_store_run_begin(s, k_config, k_hash, 7, 1, &id, &err), LM_OK, "%s", err.msg);
    lm_store_close(s);

    s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(query_int(s, "PRAGMA user_version"), 4);
    lm_run_info info = {0};
    cr_assert_eq(lm_store_get_run(s, id, &info, &err), LM_OK, "%s", err.msg);
    cr_assert_str_eq(info.status, "running"); /* our own run: not reaped */
    lm_run_info_clear(&info);
    lm_store_close(s);
    remove_db(path);
    LM_CHECK_LEAKS();
}

typedef struct rows {
    int n;
    int64_t step[64];
    char name[64][16];
    double value[64];
} rows;

static int collect(void *ud, int64_t step, const char *name, double value) {
    rows *r = ud;
    if (r->n < 64) {
        r->step[r->n] = step;
        snprintf(r->name[r->n], sizeof r->name[0], "%s", name);
        r->value[r->n] = value;
    }
    r->n++;
    return 0;
}

static int count_runs(void *ud, const lm_run_info *info) {
    int *n = ud;
    cr_assert_not_null(info->config);
    (*n)++;
    return *n == 2; /* stop after the second run */
}

Test(store, run_lifecycle_reads_back) {
    char path[512];
    fresh_db(path, sizeof path, "life.db");
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);

    int64_t id = 0;
    const uint64_t seed = 0xfedcba9876543210u; /* above INT64_MAX: stored as its bit pattern */
    cr_assert_eq(lm_store_run_begin(s, k_config, k_hash, seed, 3, &id, &err), LM_OK, "%s", err.msg);
    /* Steps written out of order across batches: reading orders by step, then insertion. */
    lm_metric b1[] = {{10, "loss", 2.385}, {10, "acc", 0.125}};
    lm_metric b2[] = {{0, "loss", 3.75}, {20, "loss", 1.0625}};
    cr_assert_eq(lm_store_put_metrics(s, id, 2, b1, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_store_put_metrics(s, id, 2, b2, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_store_put_metrics(s, id, 0, NULL, &err), LM_OK, "%s", err.msg);

    lm_run_info info = {0};
    cr_assert_eq(lm_store_get_run(s, id, &info, &err), LM_OK, "%s", err.msg);
    cr_assert_str_eq(info.status, "running");
    cr_assert(isnan(info.finished) && isnan(info.wall_s));
    cr_assert_eq(info.steps, -1);
    lm_run_info_clear(&info);
    int64_t found = 0;
    cr_assert_eq(lm_store_find_hash(s, k_hash, &found, &err), LM_OK);
    cr_assert_eq(found, -1, "a running run is not a cache hit");

    lm_metric fin[] = {{20, "test_loss", 1.5}};
    cr_assert_eq(lm_store_run_end(s, id, LM_RUN_FINISHED, 20, 1.25, -1, "done", 1, fin, &err),
                 LM_OK, "%s", err.msg);
    cr_assert_eq(lm_store_put_artifact(s, id, "weights", "safetensors", "/tmp/w.safetensors", &err),
                 LM_OK, "%s", err.msg);

    cr_assert_eq(lm_store_get_run(s, id, &info, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(info.id, id);
    cr_assert_str_eq(info.hash, k_hash);
    cr_assert_str_eq(info.status, "finished");
    cr_assert_eq(info.seed, seed);
    cr_assert_eq(info.threads, 3);
    cr_assert_eq(info.steps, 20);
    cr_assert_eq(info.diverged_step, -1);
    cr_assert_eq(info.wall_s, 1.25);
    cr_assert(info.created > 1.5e9 && info.finished >= info.created);
    cr_assert_str_eq(info.message, "done");
    cr_assert_str_eq(info.lmech_version, lm_version());
    cr_assert_eq(strncmp(info.blas, lm_blas_info(), sizeof info.blas - 1), 0);
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    cr_assert_str_eq(info.host, host);
    cr_assert_str_eq(info.config, k_config);
    lm_run_info_clear(&info);
    cr_assert_null(info.config);
    cr_assert_eq(query_int(s, "SELECT pid FROM runs"), (int64_t) getpid());
    cr_assert_eq(query_int(s, "SELECT length(pid_start) > 0 FROM runs"), 1);

    rows r = {0};
    cr_assert_eq(lm_store_get_metrics(s, id, collect, &r, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(r.n, 5);
    const int64_t want_step[] = {0, 10, 10, 20, 20};
    const char *want_name[] = {"loss", "loss", "acc", "loss", "test_loss"};
    const double want_value[] = {3.75, 2.385, 0.125, 1.0625, 1.5};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(r.step[i], want_step[i], "row %d", i);
        cr_assert_str_eq(r.name[i], want_name[i], "row %d", i);
        cr_assert_eq(r.value[i], want_value[i], "row %d: stored exactly", i);
    }

    /* find_hash: the newest finished run with the hash. */
    cr_assert_eq(lm_store_find_hash(s, k_hash, &found, &err), LM_OK);
    cr_assert_eq(found, id);
    int64_t id2 = 0, id3 = 0;
    cr_assert_eq(lm_store_run_begin(s, k_config, k_hash, 1, 1, &id2, &err), LM_OK);
    cr_assert_eq(lm_store_run_end(s, id2, LM_RUN_FINISHED, 5, 0.5, -1, NULL, 0, NULL, &err), LM_OK);
    cr_assert_eq(lm_store_run_begin(s, k_config, k_hash, 2, 1, &id3, &err), LM_OK);
    cr_assert_eq(lm_store_run_end(s, id3, LM_RUN_DIVERGED, 5, 0.5, 3, "loss is NaN", 0, NULL, &err),
                 LM_OK);
    cr_assert_eq(lm_store_find_hash(s, k_hash, &found, &err), LM_OK);
    cr_assert_eq(found, id2, "diverged runs are not cache hits");
    cr_assert_eq(lm_store_find_diverged(s, k_hash, &found, &err), LM_OK);
    cr_assert_eq(found, id3, "but they are found as results");
    cr_assert_eq(lm_store_find_hash(s, "other", &found, &err), LM_OK);
    cr_assert_eq(found, -1);
    cr_assert_eq(lm_store_get_run(s, id3, &info, &err), LM_OK);
    cr_assert_str_eq(info.status, "diverged");
    cr_assert_eq(info.diverged_step, 3);
    cr_assert_str_eq(info.message, "loss is NaN");
    lm_run_info_clear(&info);

    int n_runs = 0;
    cr_assert_eq(lm_store_list_runs(s, count_runs, &n_runs, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(n_runs, 2, "the walk stops when the callback returns non-zero");

    lm_store_close(s);
    remove_db(path);
    LM_CHECK_LEAKS();
}

Test(store, nan_and_inf_stored_as_null) {
    char path[512];
    fresh_db(path, sizeof path, "nan.db");
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    int64_t id = 0;
    cr_assert_eq(lm_store_run_begin(s, k_config, k_hash, 1, 1, &id, &err), LM_OK);
    lm_metric m[] = {{0, "loss", (double) NAN},
                     {1, "loss", (double) INFINITY},
                     {2, "loss", -(double) INFINITY},
                     {3, "loss", 1.5}};
    cr_assert_eq(lm_store_put_metrics(s, id, 4, m, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM metrics WHERE value IS NULL"), 3);
    rows r = {0};
    cr_assert_eq(lm_store_get_metrics(s, id, collect, &r, &err), LM_OK);
    cr_assert_eq(r.n, 4);
    cr_assert(isnan(r.value[0]) && isnan(r.value[1]) && isnan(r.value[2]));
    cr_assert_eq(r.value[3], 1.5);
    /* A non-finite wall time is stored as NULL too. */
    cr_assert_eq(lm_store_run_end(s, id, LM_RUN_FAILED, 4, (double) NAN, -1, NULL, 0, NULL, &err),
                 LM_OK);
    lm_run_info info = {0};
    cr_assert_eq(lm_store_get_run(s, id, &info, &err), LM_OK);
    cr_assert(isnan(info.wall_s));
    cr_assert_str_eq(info.message, "");
    lm_run_info_clear(&info);
    lm_store_close(s);
    remove_db(path);
    LM_CHECK_LEAKS();
}

/* Runs an export into a memory buffer; returns the text (free()) or NULL with *st set. */
static char *export_text(lm_store *s, int64_t id, const char *fmt, lm_status *st, lm_err *err) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    *st = lm_store_export(s, id, fmt, f, err);
    fclose(f);
    if (*st != LM_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* A run with a metric missing at some steps, a NaN, and a name that needs CSV quoting. */
static int64_t export_fixture(lm_store *s) {
    lm_err err = {0};
    int64_t id = 0;
    cr_assert_eq(lm_store_run_begin(s, k_config, k_hash, 42, 2, &id, &err), LM_OK, "%s", err.msg);
    lm_metric m[] = {{0, "loss", 0.5}, {0, "acc", 0.1},       {1, "loss", 0.25},
                     {2, "acc", 0.3},  {2, "lr,\"x\"", 1e-3}, {3, "loss", (double) NAN}};
    cr_assert_eq(lm_store_put_metrics(s, id, 6, m, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_store_put_artifact(s, id, "loss curve", "png", "/tmp/loss.png", &err), LM_OK);
    return id;
}

Test(store, export_csv) {
    char path[512];
    fresh_db(path, sizeof path, "csv.db");
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    int64_t id = export_fixture(s);
    lm_status st;
    char *csv = export_text(s, id, "csv", &st, &err);
    cr_assert_eq(st, LM_OK, "%s", err.msg);
    /* %.17g: 0.1 prints as 0.10000000000000001, so the text round-trips to the same double. */
    cr_assert_str_eq(csv, "step,loss,acc,\"lr,\"\"x\"\"\"\n"
                          "0,0.5,0.10000000000000001,\n"
                          "1,0.25,,\n"
                          "2,,0.29999999999999999,0.001\n"
                          "3,nan,,\n");
    free(csv);

    /* A run without metrics: just the header. */
    int64_t empty = 0;
    cr_assert_eq(lm_store_run_begin(s, k_config, k_hash, 1, 1, &empty, &err), LM_OK);
    csv = export_text(s, empty, "csv", &st, &err);
    cr_assert_eq(st, LM_OK, "%s", err.msg);
    cr_assert_str_eq(csv, "step\n");
    free(csv);
    lm_store_close(s);
    remove_db(path);
    LM_CHECK_LEAKS();
}

Test(store, export_json) {
    char path[512];
    fresh_db(path, sizeof path, "json.db");
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    int64_t id = export_fixture(s);
    lm_status st;
    char *text = export_text(s, id, "json", &st, &err);
    cr_assert_eq(st, LM_OK, "%s", err.msg);
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    cr_assert_not_null(root, "export is not JSON: %s\n%s", je.text, text);
    free(text);

    json_t *run = json_object_get(root, "run");
    cr_assert(json_is_object(run));
    cr_assert_eq(json_integer_value(json_object_get(run, "id")), id);
    cr_assert_str_eq(json_string_value(json_object_get(run, "hash")), k_hash);
    cr_assert_str_eq(json_string_value(json_object_get(run, "status")), "running");
    cr_assert_eq(json_integer_value(json_object_get(run, "seed")), 42);
    cr_assert_eq(json_integer_value(json_object_get(run, "threads")), 2);
    cr_assert(json_is_null(json_object_get(run, "finished")), "running: finished is null");
    cr_assert(json_is_null(json_object_get(run, "steps")));
    cr_assert(json_is_real(json_object_get(run, "created")));
    cr_assert_str_eq(json_string_value(json_object_get(run, "lmech_version")), lm_version());
    cr_assert_not_null(json_object_get(run, "blas"));
    cr_assert_not_null(json_object_get(run, "host"));
    json_t *cfg = json_object_get(run, "config");
    cr_assert(json_is_object(cfg), "config is embedded as an object, not a string");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(cfg, "model"), "width")), 64);
    cr_assert_eq(json_real_value(json_object_get(cfg, "lr")), 0.1);

    json_t *metrics = json_object_get(root, "metrics");
    cr_assert_eq(json_object_size(metrics), 3);
    json_t *loss = json_object_get(metrics, "loss");
    cr_assert_eq(json_array_size(loss), 3);
    cr_assert_eq(json_integer_value(json_array_get(json_array_get(loss, 1), 0)), 1);
    cr_assert_eq(json_real_value(json_array_get(json_array_get(loss, 1), 1)), 0.25);
    cr_assert(json_is_null(json_array_get(json_array_get(loss, 2), 1)), "NaN exports as null");
    json_t *acc = json_object_get(metrics, "acc");
    cr_assert_eq(json_real_value(json_array_get(json_array_get(acc, 0), 1)), 0.1,
                 "17 digits round-trip");
    cr_assert_not_null(json_object_get(metrics, "lr,\"x\""));

    json_t *arts = json_object_get(root, "artifacts");
    cr_assert_eq(json_array_size(arts), 1);
    json_t *a = json_array_get(arts, 0);
    cr_assert_str_eq(json_string_value(json_object_get(a, "name")), "loss curve");
    cr_assert_str_eq(json_string_value(json_object_get(a, "kind")), "png");
    cr_assert_str_eq(json_string_value(json_object_get(a, "path")), "/tmp/loss.png");
    json_decref(root);

    /* After the end: finished, wall_s, steps are numbers; diverged_step stays null. */
    cr_assert_eq(lm_store_run_end(s, id, LM_RUN_FINISHED, 4, 0.75, -1, NULL, 0, NULL, &err), LM_OK);
    text = export_text(s, id, "json", &st, &err);
    cr_assert_eq(st, LM_OK, "%s", err.msg);
    root = json_loads(text, 0, &je);
    free(text);
    run = json_object_get(root, "run");
    cr_assert(json_is_real(json_object_get(run, "finished")));
    cr_assert_eq(json_real_value(json_object_get(run, "wall_s")), 0.75);
    cr_assert_eq(json_integer_value(json_object_get(run, "steps")), 4);
    cr_assert(json_is_null(json_object_get(run, "diverged_step")));
    json_decref(root);

    /* A seed above INT64_MAX is written exactly, as a decimal string. */
    int64_t big = 0;
    cr_assert_eq(lm_store_run_begin(s, k_config, k_hash, UINT64_MAX, 1, &big, &err), LM_OK);
    text = export_text(s, big, "json", &st, &err);
    cr_assert_eq(st, LM_OK, "%s", err.msg);
    root = json_loads(text, 0, &je);
    free(text);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(root, "run"), "seed")),
                     "18446744073709551615");
    json_decref(root);
    lm_store_close(s);
    remove_db(path);
    LM_CHECK_LEAKS();
}

Test(store, export_errors_name_format_and_run) {
    char path[512];
    fresh_db(path, sizeof path, "experr.db");
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    int64_t id = export_fixture(s);
    lm_status st;
    cr_assert_null(export_text(s, id, "xml", &st, &err));
    cr_assert_eq(st, LM_EINVAL);
    cr_assert(strstr(err.msg, "\"xml\""), "%s", err.msg);
    cr_assert_null(export_text(s, 9876, "csv", &st, &err));
    cr_assert_eq(st, LM_ENOTFOUND);
    cr_assert(strstr(err.msg, "run 9876 not found") && strstr(err.msg, path), "%s", err.msg);
    cr_assert_null(export_text(s, 9876, "json", &st, &err));
    cr_assert_eq(st, LM_ENOTFOUND);
    cr_assert(strstr(err.msg, "9876"), "%s", err.msg);
    /* The store is usable afterwards (no transaction left open). */
    lm_metric m = {9, "loss", 0.5};
    cr_assert_eq(lm_store_put_metrics(s, id, 1, &m, &err), LM_OK, "%s", err.msg);
    lm_store_close(s);
    remove_db(path);
    LM_CHECK_LEAKS();
}

Test(store, not_a_database_is_a_clear_error) {
    char path[512];
    fresh_db(path, sizeof path, "runs.db");
    const char *text = "step,loss\n0,2.5\n1,1.25\nthis is a CSV file, not a database at all; "
                       "lmech must refuse it and leave it untouched.\n";
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    lm_err err = {0};
    lm_store *s = (lm_store *) &err; /* must stay unchanged on failure */
    cr_assert_eq(lm_store_open(path, &s, &err), LM_EFORMAT, "%s", err.msg);
    cr_assert_eq(s, (lm_store *) &err);
    char want[600];
    snprintf(want, sizeof want, "%s: file is not a database", path);
    cr_assert_str_eq(err.msg, want);
    char back[512] = "";
    f = fopen(path, "r");
    size_t got = fread(back, 1, sizeof back - 1, f);
    fclose(f);
    back[got] = '\0';
    cr_assert_str_eq(back, text, "the file was modified");

    /* A file shorter than SQLite's 100-byte header. */
    f = fopen(path, "w");
    fputs("hello", f);
    fclose(f);
    lm_status st = lm_store_open(path, &s, &err);
    cr_assert_neq(st, LM_OK);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
    remove_db(path);
    LM_CHECK_LEAKS();
}

Test(store, missing_directory_names_the_path) {
    char dir[512], path[600];
    lm_tmp_path(dir, sizeof dir, "no-such-dir");
    snprintf(path, sizeof path, "%s/sub/runs.db", dir);
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_EIO, "%s", err.msg);
    cr_assert_null(s);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
    cr_assert(strstr(err.msg, "No such file or directory"), "%s", err.msg);
    cr_assert_eq(lm_store_open("", &s, &err), LM_EINVAL);
    LM_CHECK_LEAKS();
}

Test(store, newer_or_foreign_database_refused) {
    char path[512];
    fresh_db(path, sizeof path, "newer.db");
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    exec_sql(s, "PRAGMA user_version = 99");
    lm_store_close(s);
    s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_EUNSUPPORTED, "%s", err.msg);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "99"), "%s", err.msg);
    cr_assert_null(s);
    remove_db(path);

    /* A SQLite database of some other program. */
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "CREATE TABLE songs(title TEXT)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    cr_assert_eq(lm_store_open(path, &s, &err), LM_EFORMAT, "%s", err.msg);
    cr_assert(strstr(err.msg, "not an lmech run database") && strstr(err.msg, path), "%s", err.msg);
    remove_db(path);
    LM_CHECK_LEAKS();
}

Test(store, invalid_arguments_write_nothing) {
    char path[512];
    fresh_db(path, sizeof path, "args.db");
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    int64_t id = -5;
    cr_assert_eq(lm_store_run_begin(s, "{\"lr\": 0.1,}", k_hash, 1, 1, &id, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "not valid JSON") && strstr(err.msg, path), "%s", err.msg);
    cr_assert_eq(lm_store_run_begin(s, "[1, 2]", k_hash, 1, 1, &id, &err), LM_EINVAL);
    char long_hash[80];
    memset(long_hash, 'a', 65);
    long_hash[65] = '\0';
    cr_assert_eq(lm_store_run_begin(s, k_config, long_hash, 1, 1, &id, &err), LM_EINVAL);
    cr_assert_eq(id, -5, "output unchanged on failure");
    cr_assert_eq(query_int(s, "SELECT count(*) FROM runs"), 0);

    cr_assert_eq(lm_store_run_begin(s, k_config, k_hash, 1, 1, &id, &err), LM_OK);
    /* The third row has no name: the whole batch is refused. */
    lm_metric bad[] = {{0, "loss", 1.0}, {0, "acc", 0.5}, {0, NULL, 0.0}};
    cr_assert_eq(lm_store_put_metrics(s, id, 3, bad, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "row 2"), "%s", err.msg);
    /* A batch for a run that does not exist. */
    cr_assert_eq(lm_store_put_metrics(s, 4242, 2, bad, &err), LM_ENOTFOUND);
    cr_assert(strstr(err.msg, "run 4242 not found"), "%s", err.msg);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM metrics"), 0);
    cr_assert_eq(lm_store_run_end(s, 4242, LM_RUN_FINISHED, 1, 1.0, -1, NULL, 2, bad, &err),
                 LM_ENOTFOUND);
    cr_assert(strstr(err.msg, "4242"), "%s", err.msg);
    cr_assert_eq(lm_store_run_end(s, id, LM_RUN_RUNNING, 1, 1.0, -1, NULL, 0, NULL, &err),
                 LM_EINVAL);
    cr_assert_eq(lm_store_run_end(s, id, LM_RUN_FINISHED, 1, 1.0, -1, NULL, 3, bad, &err),
                 LM_EINVAL);
    cr_assert_eq(lm_store_put_artifact(s, 4242, "w", "npy", "/tmp/w.npy", &err), LM_ENOTFOUND);
    cr_assert(strstr(err.msg, "4242"), "%s", err.msg);
    cr_assert_eq(lm_store_put_artifact(s, id, "w", "npy", NULL, &err), LM_EINVAL);
    lm_run_info info = {0};
    cr_assert_eq(lm_store_get_run(s, 4242, &info, &err), LM_ENOTFOUND);
    cr_assert(strstr(err.msg, "run 4242 not found") && strstr(err.msg, path), "%s", err.msg);
    cr_assert_eq(lm_store_get_metrics(s, 4242, collect, &(rows){0}, &err), LM_ENOTFOUND);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM metrics"), 0);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM artifacts"), 0);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM runs WHERE status = 'running'"), 1);
    cr_assert_str_eq(lm_run_status_name(LM_RUN_INTERRUPTED), "interrupted");
    cr_assert_str_eq(lm_run_status_name((lm_run_status) 17), "unknown");
    lm_store_close(s);
    remove_db(path);
    LM_CHECK_LEAKS();
}

Test(store, disk_full_is_eio_and_never_half_written) {
    char path[512];
    fresh_db(path, sizeof path, "full.db");
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    int64_t id = 0;
    cr_assert_eq(lm_store_run_begin(s, k_config, k_hash, 1, 1, &id, &err), LM_OK);
    /* Cap the file a few pages above its current size: the "disk" fills after some batches. */
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld",
             (long long) query_int(s, "PRAGMA page_count") + 4);
    exec_sql(s, sql);
    enum { BATCH = 50 };
    lm_metric m[BATCH];
    char names[BATCH][24];
    for (int i = 0; i < BATCH; i++) {
        snprintf(names[i], sizeof names[i], "metric_%02d", i);
        m[i] = (lm_metric){0, names[i], 0.25 * i};
    }
    lm_status st = LM_OK;
    int batches = 0;
    for (; batches < 1000 && st == LM_OK; batches++) {
        for (int i = 0; i < BATCH; i++)
            m[i].step = batches;
        st = lm_store_put_metrics(s, id, BATCH, m, &err);
    }
    cr_assert_eq(st, LM_EIO, "the cap was never hit (%d batches): %s", batches, err.msg);
    cr_assert(strstr(err.msg, "disk full") && strstr(err.msg, path), "%s", err.msg);
    int64_t rows_in = query_int(s, "SELECT count(*) FROM metrics");
    cr_assert_eq(rows_in % BATCH, 0, "%lld rows: a batch was half-written", (long long) rows_in);
    cr_assert_eq(rows_in, (int64_t) (batches - 1) * BATCH);

    /* Ending the run while the disk is full changes nothing: still running, no final rows. */
    st = lm_store_run_end(s, id, LM_RUN_FINISHED, 10, 1.0, -1, "done", BATCH, m, &err);
    cr_assert_eq(st, LM_EIO, "%s", err.msg);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM metrics"), rows_in);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM runs WHERE status = 'running'"), 1);

    exec_sql(s, "PRAGMA max_page_count = 1000000");
    cr_assert_eq(lm_store_run_end(s, id, LM_RUN_FINISHED, 10, 1.0, -1, "done", BATCH, m, &err),
                 LM_OK, "%s", err.msg);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM metrics"), rows_in + BATCH);
    lm_store_close(s);
    remove_db(path);
    LM_CHECK_LEAKS();
}

/* ---------------------------------------------------------------- allocation failures */

Test(store, allocation_failures_are_enomem_without_leaks) {
    char path[512];
    fresh_db(path, sizeof path, "oom.db");
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    int64_t id = export_fixture(s);
    lm_store_close(s);

    lm_allocator a = {lm_test_failing_alloc, lm_test_free, NULL};
    lm_set_allocator(&a);
    int saw_fail = 0;
    for (lm_test_fail_at = 1;; lm_test_fail_at++) {
        lm_test_calls = 0;
        s = NULL;
        lm_status st = lm_store_open(path, &s, &err);
        if (st == LM_OK) {
            lm_run_info info = {0};
            st = lm_store_get_run(s, id, &info, &err);
            lm_run_info_clear(&info);
        }
        if (st == LM_OK) {
            FILE *f = fopen("/dev/null", "w");
            st = lm_store_export(s, id, "csv", f, &err);
            fclose(f);
        }
        lm_store_close(s);
        if (lm_test_calls < lm_test_fail_at) {
            cr_assert_eq(st, LM_OK, "%s", err.msg);
            break;
        }
        cr_assert_eq(st, LM_ENOMEM, "allocation %d failed: got %s", lm_test_fail_at, err.msg);
        saw_fail++;
    }
    lm_set_allocator(NULL);
    cr_assert_geq(saw_fail, 4, "open, get_run and export allocate at least 4 times");
    remove_db(path);
    LM_CHECK_LEAKS();
}

/* Run locks: held by this process (taking it again is a no-op), refused to another live process,
 * free again after unlock, and taken over from a process that has exited (a stale row); a v2
 * database gains the table by migration. */
Test(store, run_locks) {
    char path[512];
    fresh_db(path, sizeof path, "locks.db");
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    int got = -1;
    cr_assert_eq(lm_store_lock_hash(s, k_hash, &got, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(got, 1);
    cr_assert_eq(lm_store_lock_hash(s, k_hash, &got, &err), LM_OK);
    cr_assert_eq(got, 1, "our own lock");
    /* another live process: refused while we hold it, granted after we unlock */
    int go[2], tried[2]; /* parent -> child "unlocked", child -> parent "first try done" */
    cr_assert_eq(pipe(go), 0);
    cr_assert_eq(pipe(tried), 0);
    pid_t kid = fork();
    if (kid == 0) {
        lm_store *c = NULL;
        int g1 = -1, g2 = -1;
        char b;
        if (lm_store_open(path, &c, NULL) != LM_OK)
            _exit(10);
        lm_store_lock_hash(c, k_hash, &g1, NULL);
        if (write(tried[1], "x", 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(11);
        lm_store_lock_hash(c, k_hash, &g2, NULL);
        lm_store_close(c);
        _exit(g1 == 0 && g2 == 1 ? 0 : 12);
    }
    char b;
    cr_assert_eq(read(tried[0], &b, 1), 1);
    cr_assert_eq(lm_store_unlock_hash(s, k_hash, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(write(go[1], "x", 1), 1);
    int status = 0;
    cr_assert_eq(waitpid(kid, &status, 0), kid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: exit %d", WEXITSTATUS(status));
    close(go[0]);
    close(go[1]);
    close(tried[0]);
    close(tried[1]);
    /* the child exited holding it: stale, so ours to take */
    cr_assert_eq(query_int(s, "SELECT count(*) FROM run_locks"), 1);
    cr_assert_eq(lm_store_lock_hash(s, k_hash, &got, &err), LM_OK);
    cr_assert_eq(got, 1, "a dead process's lock is taken over");
    cr_assert_eq(lm_store_unlock_hash(s, k_hash, &err), LM_OK);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM run_locks"), 0);
    /* a database at version 2 (before run locks) migrates */
    exec_sql(s, "DROP TABLE run_locks; PRAGMA user_version = 2");
    lm_store_close(s);
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(query_int(s, "PRAGMA user_version"), 4);
    cr_assert_eq(lm_store_lock_hash(s, k_hash, &got, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(got, 1);
    lm_store_close(s);
    remove_db(path);
    LM_CHECK_LEAKS();
}
