/*
 * image.c: a store as bytes, and one run carried from such an image into another store.
 *
 * `mpirun -n R lmech exp ... --mpi` (src/exp/pool_mpi.c) keeps SQLite to one writer: a worker
 * rank trains a run into a private in-memory store (lm_store_open(":memory:")), takes its image
 * (sqlite3_serialize: the database file's bytes, a few kB plus the metric rows) and sends it to
 * rank 0, which imports the run with lm_store_import_run. The image is attached to rank 0's
 * connection as a schema of its own (ATTACH ':memory:', then sqlite3_deserialize into it) and
 * the run, its metric rows and its artifacts are copied by INSERT ... SELECT in one BEGIN
 * IMMEDIATE transaction, together with the artifact that rank 0 places itself (the final
 * checkpoint): a reader sees the whole run or none of it, and a rank 0 killed mid-import leaves
 * the database as it was.
 *
 * The image must come from this build's schema (user_version): rows are copied column by column
 * and a different schema would be misread. It must hold exactly one run (a worker's scratch store
 * holds the run it trained and nothing else).
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define IMPORT_SCHEMA "lm_import"

lm_status lm_store_image(lm_store *s, unsigned char **image, size_t *n, lm_err *err) {
    if (!s || !image || !n)
        LM_FAIL(err, LM_EINVAL, "lm_store_image: store, image and n must not be NULL");
    *image = NULL;
    *n = 0;
    sqlite3_int64 size = 0;
    unsigned char *b = sqlite3_serialize(s->db, "main", &size, 0);
    if (!b || size <= 0) {
        sqlite3_free(b);
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory taking the database image", s->path);
    }
    unsigned char *copy = lm_malloc((size_t) size);
    if (!copy) {
        sqlite3_free(b);
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory for a %lld-byte database image", s->path,
                (long long) size);
    }
    memcpy(copy, b, (size_t) size);
    sqlite3_free(b);
    *image = copy;
    *n = (size_t) size;
    return LM_OK;
}

/* One statement run to completion on s's connection (no rows expected); *changes (optional) gets
 * the rows it changed. id1/id2 bind ?1/?2 when >= 0. */
static lm_status run_sql(lm_store *s, const char *sql, int64_t id1, int64_t id2, const char *what,
                         int64_t *changes, lm_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && id1 >= 0)
        rc = sqlite3_bind_int64(st, 1, id1);
    if (rc == SQLITE_OK && id2 >= 0)
        rc = sqlite3_bind_int64(st, 2, id2);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK) {
        lm_status code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "%s", what);
        sqlite3_finalize(st);
        return code;
    }
    sqlite3_finalize(st);
    if (changes)
        *changes = sqlite3_changes64(s->db);
    return LM_OK;
}

/* The single integer a query returns (-1 when it returns no row). */
static lm_status query_int(lm_store *s, const char *sql, const char *what, int64_t *out,
                           lm_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    *out = -1;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK) {
        lm_status code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "%s", what);
        sqlite3_finalize(st);
        return code;
    }
    sqlite3_finalize(st);
    return LM_OK;
}

/* Attaches image as schema lm_import (a private copy SQLite frees at DETACH). */
static lm_status attach_image(lm_store *s, const void *image, size_t n, lm_err *err) {
    LM_TRY(run_sql(s, "ATTACH ':memory:' AS " IMPORT_SCHEMA, -1, -1, "attaching a run image", NULL,
                   err));
    unsigned char *copy = sqlite3_malloc64(n);
    if (!copy) {
        sqlite3_exec(s->db, "DETACH " IMPORT_SCHEMA, NULL, NULL, NULL);
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory for a %zu-byte run image", s->path, n);
    }
    memcpy(copy, image, n);
    int rc = sqlite3_deserialize(s->db, IMPORT_SCHEMA, copy, (sqlite3_int64) n, (sqlite3_int64) n,
                                 SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
    if (rc != SQLITE_OK) { /* SQLite has freed copy */
        lm_status code =
            lm__db_fail(s, err, rc, __FILE__, __LINE__, "opening a %zu-byte run image", n);
        sqlite3_exec(s->db, "DETACH " IMPORT_SCHEMA, NULL, NULL, NULL);
        return code;
    }
    return LM_OK;
}

lm_status lm_store_import_run(lm_store *s, const void *image, size_t n, const char *hash,
                              const char *art_name, const char *art_kind, lm_store_place_fn place,
                              void *ud, int64_t *new_id, size_t *n_rows, lm_err *err) {
    if (!s || !image || !new_id)
        LM_FAIL(err, LM_EINVAL, "lm_store_import_run: store, image and new_id must not be NULL");
    *new_id = -1;
    if (n_rows)
        *n_rows = 0;
    if (n < 512 || memcmp(image, "SQLite format 3", 16) != 0)
        LM_FAIL(err, LM_EFORMAT, "%s: a %zu-byte run image that is not an SQLite database", s->path,
                n);
    if (place && (!art_name || !art_name[0]))
        LM_FAIL(err, LM_EINVAL, "%s: importing a run: a placed artifact needs a name", s->path);
    LM_TRY(attach_image(s, image, n, err));
    lm_status st = LM_OK;
    int64_t version = -1, n_runs = -1, src = -1;
    st = query_int(s, "PRAGMA " IMPORT_SCHEMA ".user_version", "reading a run image's schema",
                   &version, err);
    if (st == LM_OK && version != LM__STORE_SCHEMA_VERSION)
        st = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__,
                        "%s: a run image of schema version %lld, this build writes %d (ranks "
                        "running different lmech builds?)",
                        s->path, (long long) version, LM__STORE_SCHEMA_VERSION);
    if (st == LM_OK)
        st = query_int(s, "SELECT count(*) FROM " IMPORT_SCHEMA ".runs", "counting an image's runs",
                       &n_runs, err);
    if (st == LM_OK && n_runs != 1)
        st = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__,
                        "%s: a run image holds %lld runs, expected exactly 1", s->path,
                        (long long) n_runs);
    if (st == LM_OK)
        st = query_int(s, "SELECT id FROM " IMPORT_SCHEMA ".runs", "reading an image's run", &src,
                       err);
    if (st == LM_OK && hash) {
        sqlite3_stmt *q = NULL;
        int rc = sqlite3_prepare_v2(s->db, "SELECT hash FROM " IMPORT_SCHEMA ".runs", -1, &q, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
            const unsigned char *h = sqlite3_column_text(q, 0);
            if (!h || strcmp((const char *) h, hash) != 0)
                st = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__,
                                "%s: the imported run has config hash %.64s, expected %.64s (ranks "
                                "running different lmech builds?)",
                                s->path, h ? (const char *) h : "(none)", hash);
        } else {
            st = lm__db_fail(s, err, rc, __FILE__, __LINE__, "reading an image's config hash");
        }
        sqlite3_finalize(q);
    }
    if (st == LM_OK)
        st = lm__txn_begin(s, "importing a run", err);
    char path[4096] = "";
    int placed = 0;
    if (st == LM_OK) {
        int64_t rows = 0, id;
        /* a run still `running` in the image lost its end: it is recorded interrupted */
        st = run_sql(s,
                     "INSERT INTO main.runs(hash, config, seed, status, created, finished, wall_s,"
                     " steps, diverged_step, message, lmech_version, blas, threads, host, pid,"
                     " pid_start) SELECT hash, config, seed,"
                     " CASE status WHEN 'running' THEN 'interrupted' ELSE status END, created,"
                     " finished, wall_s, steps, diverged_step, message, lmech_version, blas,"
                     " threads, host, pid, pid_start FROM " IMPORT_SCHEMA ".runs WHERE id = ?1",
                     src, -1, "importing a run's record", NULL, err);
        id = sqlite3_last_insert_rowid(s->db);
        if (st == LM_OK)
            st = run_sql(s,
                         "INSERT INTO main.metrics(run, step, name, value) SELECT ?2, step, name,"
                         " value FROM " IMPORT_SCHEMA ".metrics WHERE run = ?1 ORDER BY rowid",
                         src, id, "importing a run's metrics", &rows, err);
        if (st == LM_OK)
            st = run_sql(s,
                         "INSERT INTO main.artifacts(run, name, kind, path, created) SELECT ?2,"
                         " name, kind, path, created FROM " IMPORT_SCHEMA ".artifacts WHERE run ="
                         " ?1 ORDER BY rowid",
                         src, id, "importing a run's artifacts", NULL, err);
        if (st == LM_OK && place) {
            st = place(ud, id, path, sizeof path, err);
            placed = st == LM_OK;
        }
        if (st == LM_OK && place) {
            sqlite3_stmt *a = NULL;
            int rc = sqlite3_prepare_v2(s->db,
                                        "INSERT INTO main.artifacts(run, name, kind, path, created)"
                                        " VALUES (?1, ?2, ?3, ?4, ?5)",
                                        -1, &a, NULL);
            if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(a, 1, id);
            if (rc == SQLITE_OK)
                rc = sqlite3_bind_text(a, 2, art_name, -1, SQLITE_STATIC);
            if (rc == SQLITE_OK)
                rc = art_kind ? sqlite3_bind_text(a, 3, art_kind, -1, SQLITE_STATIC)
                              : sqlite3_bind_null(a, 3);
            if (rc == SQLITE_OK)
                rc = sqlite3_bind_text(a, 4, path, -1, SQLITE_STATIC);
            if (rc == SQLITE_OK)
                rc = sqlite3_bind_double(a, 5, lm__unix_now());
            if (rc == SQLITE_OK && (rc = sqlite3_step(a)) == SQLITE_DONE)
                rc = SQLITE_OK;
            if (rc != SQLITE_OK)
                st = lm__db_fail(s, err, rc, __FILE__, __LINE__, "recording artifact \"%.40s\"",
                                 art_name);
            sqlite3_finalize(a);
        }
        if (st == LM_OK)
            st = lm__txn_commit(s, "importing a run", err);
        else
            lm__txn_rollback(s);
        if (st == LM_OK) {
            *new_id = id;
            if (n_rows)
                *n_rows = (size_t) rows;
        } else if (placed) {
            unlink(path); /* the run it belonged to was never committed */
        }
    }
    sqlite3_exec(s->db, "DETACH " IMPORT_SCHEMA, NULL, NULL, NULL);
    return st;
}
