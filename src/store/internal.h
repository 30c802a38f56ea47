/*
 * store/internal.h: what the files of the store module share: the lm_store handle with its cached
 * prepared statements, the SQLite-error-to-lm_status translation and the transaction helpers.
 */
#ifndef LM_STORE_INTERNAL_H
#define LM_STORE_INTERNAL_H

#include "lmech/store.h"

#include <sqlite3.h>

/* The schema version this build writes (PRAGMA user_version). Each version adds one migration
 * step in store.c; a database newer than this is refused rather than misread. */
#define LM__STORE_SCHEMA_VERSION 4

/* Every statement lmech runs, prepared once in lm_store_open (SQLITE_PREPARE_PERSISTENT). */
typedef enum lm__stmt {
    LM__ST_BEGIN_IMMEDIATE = 0,
    LM__ST_BEGIN_READ,
    LM__ST_COMMIT,
    LM__ST_ROLLBACK,
    LM__ST_RUN_INSERT,
    LM__ST_RUN_END,
    LM__ST_RUN_GET,
    LM__ST_RUN_LIST,
    LM__ST_RUN_EXISTS,
    LM__ST_RUN_FIND_HASH,
    LM__ST_RUN_FIND_DIVERGED,
    LM__ST_RUN_RUNNING_HERE,
    LM__ST_LOCK_GET,
    LM__ST_LOCK_PUT,
    LM__ST_LOCK_DROP,
    LM__ST_RUN_INTERRUPT,
    LM__ST_METRIC_INSERT,
    LM__ST_METRIC_LIST,
    LM__ST_SERIES,
    LM__ST_ARTIFACT_INSERT,
    LM__ST_ARTIFACT_LIST,
    LM__ST_COUNT
} lm__stmt;

struct lm_store {
    sqlite3 *db;
    char *path; /* as given to lm_store_open, for messages */
    sqlite3_stmt *st[LM__ST_COUNT];
    char host[64]; /* gethostname() at open */
};

/* Columns selected by LM__ST_RUN_GET and LM__ST_RUN_LIST, in this order. */
#define LM__RUN_COLUMNS                                                                            \
    "id, hash, config, seed, status, created, finished, wall_s, steps, diverged_step, message, "   \
    "lmech_version, blas, threads, host"

/* Records a failed SQLite call: maps rc to an lm_status (SQLITE_FULL and SQLITE_IOERR -> LM_EIO
 * "disk full" / "I/O error", SQLITE_NOTADB and SQLITE_CORRUPT -> LM_EFORMAT, SQLITE_NOMEM ->
 * LM_ENOMEM, SQLITE_CANTOPEN -> LM_EIO, the rest -> LM_EDB) and writes "<path>: <what>: <sqlite
 * message>". Call it before anything else touches the connection (ROLLBACK overwrites the
 * message). Returns the code. */
lm_status lm__db_fail(lm_store *s, lm_err *err, int rc, const char *src_file, int src_line,
                      const char *fmt, ...) __attribute__((format(printf, 6, 7)));
#define LM__DB_FAIL(s, err, rc, ...)                                                               \
    return lm__db_fail((s), (err), (rc), __FILE__, __LINE__, __VA_ARGS__)

/* Opens a write transaction with BEGIN IMMEDIATE (waits up to the busy timeout for the lock). */
lm_status lm__txn_begin(lm_store *s, const char *what, lm_err *err);
/* Opens a read transaction (plain BEGIN): several SELECTs then see one snapshot. */
lm_status lm__txn_begin_read(lm_store *s, const char *what, lm_err *err);
/* COMMIT; on failure the transaction is rolled back and the error recorded. */
lm_status lm__txn_commit(lm_store *s, const char *what, lm_err *err);
/* ROLLBACK if a transaction is still open (SQLite may have rolled back itself); never fails. */
void lm__txn_rollback(lm_store *s);

/* A cached statement, reset and unbound, or NULL (with LM_EINVAL recorded) when it is still in
 * use further up the stack (e.g. lm_store_list_runs called from its own callback). */
sqlite3_stmt *lm__stmt_get(lm_store *s, lm__stmt which, lm_err *err);
/* Resets the statement and clears its bindings so it holds no read lock. */
void lm__stmt_done(sqlite3_stmt *st);

/* Current unix time in seconds (CLOCK_REALTIME). */
double lm__unix_now(void);

/* Copies src (NULL = "") into dst[n], truncating; always NUL-terminated. */
void lm__copy_str(char *dst, size_t n, const char *src);

/* LM_OK if the run exists, LM_ENOTFOUND ("<path>: run <id> not found") if not. */
lm_status lm__run_check(lm_store *s, int64_t run, lm_err *err);

/* The start time of this process (field 22 of /proc/self/stat, clock ticks since boot) as text,
 * or "" when procfs is not available. */
void lm__own_start(char *start, size_t n);

/* Fills info from the current row of a statement selecting LM__RUN_COLUMNS. The config is copied
 * with lm_malloc (LM_ENOMEM on failure, info->config left NULL). */
lm_status lm__run_from_row(lm_store *s, sqlite3_stmt *st, lm_run_info *info, lm_err *err);

#endif
