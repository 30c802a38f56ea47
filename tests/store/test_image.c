/* Tests for src/store/image.c: a run trained into an in-memory store, carried as the store's
 * image into a database file (what `lmech exp --mpi`'s rank 0 does with a worker's run): the
 * record, every metric row (NaN included) and the placed artifact arrive under a new id in one
 * transaction; a failing placement, a foreign schema, a wrong run count or bytes that are no
 * database leave the target as it was and usable. */
#include "lm_test.h"
#include "lmech/store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *k_config = "{\"model\": {\"width\": 8}, \"lr\": 0.1}";
static const char *k_hash = "aa2a9c0e5b7d1f4a3f2a9c0e5b7d1f4a3f2a9c0e5b7d1f4a3f2a9c0e5b7d1f4a";

static int64_t query_int(lm_store *s, const char *sql) {
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(lm_store_db(s), sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(lm_store_db(s)));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* An in-memory store with `runs` runs (each: 3 metric rows, one NaN; ended `status`, or left
 * running when end = 0), as an image. */
static void make_image(int runs, lm_run_status status, int end, unsigned char **image, size_t *n) {
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(":memory:", &s, &err), LM_OK, "%s", err.msg);
    for (int r = 0; r < runs; r++) {
        int64_t id = -1;
        cr_assert_eq(lm_store_run_begin(s, k_config, k_hash, 3, 1, &id, &err), LM_OK, "%s",
                     err.msg);
        const lm_metric m[3] = {
            {0, "train_loss", 2.5}, {1, "train_loss", 1.25}, {1, "test_loss", (double) NAN}};
        cr_assert_eq(lm_store_put_metrics(s, id, 3, m, &err), LM_OK, "%s", err.msg);
        if (end)
            cr_assert_eq(lm_store_run_end(s, id, status, 2, 0.5, -1, NULL, 0, NULL, &err), LM_OK,
                         "%s", err.msg);
    }
    cr_assert_eq(lm_store_image(s, image, n, &err), LM_OK, "%s", err.msg);
    lm_store_close(s);
}

/* A target database that already holds one run (so an imported run gets a new id). */
static lm_store *target(char *path, size_t n, const char *name) {
    lm_tmp_path(path, n, name);
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    int64_t id = -1;
    cr_assert_eq(lm_store_run_begin(s, "{}", k_hash, 0, 1, &id, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_store_run_end(s, id, LM_RUN_FINISHED, 1, 0.1, -1, NULL, 0, NULL, &err), LM_OK,
                 "%s", err.msg);
    return s;
}

static void drop(lm_store *s, const char *path) {
    lm_store_close(s);
    char side[600];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

typedef struct placed {
    char dir[512];
    int fail;
    int64_t seen_id;
} placed;

static lm_status place(void *ud, int64_t id, char *path, size_t cap, lm_err *err) {
    placed *p = ud;
    p->seen_id = id;
    snprintf(path, cap, "%s-run-%lld.bin", p->dir, (long long) id);
    if (p->fail)
        LM_FAIL(err, LM_EIO, "%s: disk full (injected)", path);
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL);
    fputs("checkpoint", f);
    fclose(f);
    return LM_OK;
}

Test(image, run_metrics_and_artifact_arrive_under_a_new_id) {
    unsigned char *img = NULL;
    size_t n = 0;
    make_image(1, LM_RUN_FINISHED, 1, &img, &n);
    char path[512];
    lm_store *s = target(path, sizeof path, "image-a.db");
    placed p = {{0}, 0, -1};
    lm_tmp_path(p.dir, sizeof p.dir, "image-a");
    lm_err err = {0};
    int64_t id = -1;
    size_t rows = 0;
    cr_assert_eq(
        lm_store_import_run(s, img, n, NULL, "final", "safetensors", place, &p, &id, &rows, &err),
        LM_OK, "%s", err.msg);
    cr_assert_eq(id, 2);
    cr_assert_eq(p.seen_id, 2);
    cr_assert_eq(rows, 3);
    lm_run_info info;
    memset(&info, 0, sizeof info);
    cr_assert_eq(lm_store_get_run(s, id, &info, &err), LM_OK, "%s", err.msg);
    cr_assert_str_eq(info.status, "finished");
    cr_assert_str_eq(info.hash, k_hash);
    cr_assert_eq(info.seed, 3);
    cr_assert_eq(info.steps, 2);
    cr_assert_str_eq(info.config, k_config);
    lm_run_info_clear(&info);
    double v[4];
    int64_t steps[4];
    size_t got = 0, total = 0;
    cr_assert_eq(lm_store_get_series(s, id, "train_loss", 4, steps, v, &got, &total, &err), LM_OK,
                 "%s", err.msg);
    cr_assert_eq(got, 2);
    cr_assert(v[0] == 2.5 && v[1] == 1.25 && steps[1] == 1);
    cr_assert_eq(lm_store_get_series(s, id, "test_loss", 4, steps, v, &got, &total, &err), LM_OK,
                 "%s", err.msg);
    cr_assert(got == 1 && isnan(v[0]), "NaN stays NaN");
    cr_assert_eq(query_int(s, "SELECT count(*) FROM artifacts WHERE run = 2 AND name = 'final' "
                              "AND kind = 'safetensors'"),
                 1);
    char file[600];
    snprintf(file, sizeof file, "%s-run-2.bin", p.dir);
    cr_assert_eq(access(file, R_OK), 0, "the placed file exists");
    unlink(file);
    /* the run's config hash is checked when asked: a worker of another build would hash (and so
     * reuse) differently */
    char wrong[65];
    memcpy(wrong, k_hash, sizeof wrong);
    wrong[0] = 'b';
    cr_assert_eq(lm_store_import_run(s, img, n, wrong, NULL, NULL, NULL, NULL, &id, NULL, &err),
                 LM_EFORMAT);
    cr_assert(strstr(err.msg, "config hash") != NULL, "%s", err.msg);
    cr_assert_eq(id, -1);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM runs"), 2);
    cr_assert_eq(lm_store_import_run(s, img, n, k_hash, NULL, NULL, NULL, NULL, &id, NULL, &err),
                 LM_OK, "%s", err.msg);
    cr_assert_eq(id, 3);
    /* nothing left attached: a second import works on the same connection */
    cr_assert_eq(lm_store_import_run(s, img, n, NULL, NULL, NULL, NULL, NULL, &id, NULL, &err),
                 LM_OK, "%s", err.msg);
    cr_assert_eq(id, 4);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM metrics WHERE run = 4"), 3);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM pragma_database_list WHERE name = 'lm_import'"),
                 0);
    lm_free(img);
    drop(s, path);
    LM_CHECK_LEAKS();
}

Test(image, failed_placement_records_nothing) {
    unsigned char *img = NULL;
    size_t n = 0;
    make_image(1, LM_RUN_FINISHED, 1, &img, &n);
    char path[512];
    lm_store *s = target(path, sizeof path, "image-b.db");
    placed p = {{0}, 1, -1};
    lm_tmp_path(p.dir, sizeof p.dir, "image-b");
    lm_err err = {0};
    int64_t id = 99;
    cr_assert_eq(
        lm_store_import_run(s, img, n, NULL, "final", "safetensors", place, &p, &id, NULL, &err),
        LM_EIO);
    cr_assert(strstr(err.msg, "disk full (injected)") != NULL, "%s", err.msg);
    cr_assert_eq(id, -1);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM runs"), 1);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM metrics"), 0);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM artifacts"), 0);
    p.fail = 0;
    cr_assert_eq(
        lm_store_import_run(s, img, n, NULL, "final", "safetensors", place, &p, &id, NULL, &err),
        LM_OK, "%s", err.msg);
    cr_assert_eq(id, 2, "the id of the rolled-back run is used again");
    char file[600];
    snprintf(file, sizeof file, "%s-run-2.bin", p.dir);
    unlink(file);
    lm_free(img);
    drop(s, path);
}

Test(image, a_running_run_arrives_interrupted) {
    unsigned char *img = NULL;
    size_t n = 0;
    make_image(1, LM_RUN_FINISHED, 0, &img, &n);
    char path[512];
    lm_store *s = target(path, sizeof path, "image-c.db");
    lm_err err = {0};
    int64_t id = -1;
    cr_assert_eq(lm_store_import_run(s, img, n, NULL, NULL, NULL, NULL, NULL, &id, NULL, &err),
                 LM_OK, "%s", err.msg);
    cr_assert_eq(query_int(s, "SELECT status = 'interrupted' FROM runs WHERE id = 2"), 1);
    lm_free(img);
    drop(s, path);
}

Test(image, foreign_images_are_refused_and_leave_the_store_usable) {
    char path[512];
    lm_store *s = target(path, sizeof path, "image-d.db");
    lm_err err = {0};
    int64_t id = -1;
    /* not a database */
    unsigned char junk[1024];
    memset(junk, 'x', sizeof junk);
    cr_assert_eq(
        lm_store_import_run(s, junk, sizeof junk, NULL, NULL, NULL, NULL, NULL, &id, NULL, &err),
        LM_EFORMAT);
    cr_assert(strstr(err.msg, "not an SQLite database") != NULL, "%s", err.msg);
    /* two runs */
    unsigned char *img = NULL;
    size_t n = 0;
    make_image(2, LM_RUN_FINISHED, 1, &img, &n);
    cr_assert_eq(lm_store_import_run(s, img, n, NULL, NULL, NULL, NULL, NULL, &id, NULL, &err),
                 LM_EFORMAT);
    cr_assert(strstr(err.msg, "holds 2 runs") != NULL, "%s", err.msg);
    lm_free(img);
    /* another schema version */
    lm_store *m = NULL;
    cr_assert_eq(lm_store_open(":memory:", &m, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(sqlite3_exec(lm_store_db(m), "PRAGMA user_version = 99", NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(lm_store_image(m, &img, &n, &err), LM_OK, "%s", err.msg);
    lm_store_close(m);
    cr_assert_eq(lm_store_import_run(s, img, n, NULL, NULL, NULL, NULL, NULL, &id, NULL, &err),
                 LM_EFORMAT);
    cr_assert(strstr(err.msg, "schema version 99") != NULL, "%s", err.msg);
    lm_free(img);
    /* a truncated image */
    make_image(1, LM_RUN_FINISHED, 1, &img, &n);
    cr_assert_neq(lm_store_import_run(s, img, n / 2, NULL, NULL, NULL, NULL, NULL, &id, NULL, &err),
                  LM_OK);
    cr_assert_eq(id, -1);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM runs"), 1);
    /* and the store still imports a good one */
    cr_assert_eq(lm_store_import_run(s, img, n, NULL, NULL, NULL, NULL, NULL, &id, NULL, &err),
                 LM_OK, "%s", err.msg);
    cr_assert_eq(id, 2);
    cr_assert_eq(query_int(s, "SELECT count(*) FROM pragma_database_list WHERE name = 'lm_import'"),
                 0);
    cr_assert_eq(lm_store_import_run(NULL, img, n, NULL, NULL, NULL, NULL, NULL, &id, NULL, &err),
                 LM_EINVAL);
    lm_free(img);
    drop(s, path);
}
