/*
 * store.c: opening the run database (WAL, busy timeout, schema migrations), translating SQLite
 * errors, transactions, and reaping runs whose process died.
 *
 * Workload: a sweep starts a handful to a few hundred training processes on one host, each of
 * which opens the database once, inserts a run, appends a batch of metric rows every few steps
 * (hundreds to tens of thousands of small write transactions) and ends the run. Writers never
 * wait for each other for long: WAL lets readers proceed during a write, synchronous=NORMAL
 * makes a commit an append to the WAL without an fsync, and BEGIN IMMEDIATE takes the write lock
 * up front so the busy timeout applies (a deferred BEGIN that reads first gets SQLITE_BUSY at
 * once when it tries to write; stack.md §6). All statements are prepared once, in lm_store_open.
 *
 * Dead runs: a run records host, pid and the process start time (field 22 of /proc/<pid>/stat,
 * in clock ticks since boot). A `running` run of this host whose process is gone, a zombie, or
 * a different process that reused the pid (other start time) is marked `interrupted`.
 */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* 10 s: longer than any single write transaction lmech makes (a metrics batch commits in well
 * under a millisecond), short enough that a wedged writer surfaces as an error, not a hang. */
#define BUSY_TIMEOUT_MS 10000

/* Setting journal_mode=WAL on a fresh file needs an exclusive lock for a moment, and SQLite
 * 3.40 answers SQLITE_BUSY there without consulting the busy handler: 8 processes opening one
 * fresh file at once, 50 times, got "database is locked" in 10 of 400 opens. So the open-time
 * statements retry on SQLITE_BUSY for about as long as the busy timeout: 1000 tries of 10 ms
 * (with the retry: 0 of 400 failed). */
#define OPEN_RETRIES     1000
#define OPEN_RETRY_SLEEP 10000000L /* ns */

/* Schema migrations: k_migrations[v] takes a database from user_version v to v + 1. */
static const char *const k_migrations[LM__STORE_SCHEMA_VERSION] = {
    /* 0 -> 1: runs, metrics, artifacts */
    "CREATE TABLE runs("
    " id INTEGER PRIMARY KEY,"
    " hash TEXT NOT NULL,"
    " config TEXT NOT NULL,"
    " seed INTEGER NOT NULL,"
    " status TEXT NOT NULL"
    "  CHECK(status IN ('running','finished','diverged','failed','interrupted')),"
    " created REAL NOT NULL,"
    " finished REAL,"
    " wall_s REAL,"
    " steps INTEGER,"
    " diverged_step INTEGER,"
    " message TEXT,"
    " lmech_version TEXT,"
    " blas TEXT,"
    " threads INTEGER,"
    " host TEXT,"
    " pid INTEGER,"
    " pid_start TEXT);"
    "CREATE INDEX runs_hash ON runs(hash);"
    "CREATE TABLE metrics("
    " run INTEGER NOT NULL REFERENCES runs(id),"
    " step INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " value REAL);"
    "CREATE INDEX metrics_run_step ON metrics(run, step);"
    "CREATE TABLE artifacts("
    " run INTEGER NOT NULL REFERENCES runs(id),"
    " name TEXT NOT NULL,"
    " kind TEXT,"
    " path TEXT NOT NULL,"
    " created REAL);",
    /* 1 -> 2: experiments (one row per invocation of `lmech exp`), the runs they used, and
     * their claims with the runs each claim was judged on */
    "CREATE TABLE experiments("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " quick INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK(status IN ('running','finished','failed','interrupted')),"
    " created REAL NOT NULL,"
    " finished REAL,"
    " lmech_version TEXT,"
    " host TEXT,"
    " pid INTEGER);"
    "CREATE INDEX experiments_name ON experiments(name, id);"
    "CREATE TABLE experiment_runs("
    " experiment INTEGER NOT NULL REFERENCES experiments(id),"
    " run INTEGER NOT NULL REFERENCES runs(id),"
    " label TEXT);"
    "CREATE INDEX experiment_runs_exp ON experiment_runs(experiment);"
    "CREATE TABLE claims("
    " id INTEGER PRIMARY KEY,"
    " experiment INTEGER NOT NULL REFERENCES experiments(id),"
    " name TEXT NOT NULL,"
    " predicted TEXT NOT NULL,"
    " predicted_value REAL,"
    " measured REAL,"
    " uncertainty REAL,"
    " tolerance TEXT NOT NULL,"
    " tolerance_value REAL,"
    " reason TEXT NOT NULL,"
    " verdict TEXT NOT NULL CHECK(verdict IN ('pass','fail','inconclusive')),"
    " detail TEXT,"
    " created REAL NOT NULL);"
    "CREATE INDEX claims_exp ON claims(experiment);"
    "CREATE TABLE claim_runs("
    " claim INTEGER NOT NULL REFERENCES claims(id),"
    " run INTEGER NOT NULL REFERENCES runs(id));",
    /* 2 -> 3: which process is training a config hash now (one row while an experiment's run
     * is in a worker), so concurrent invocations on one database train each run once */
    "CREATE TABLE run_locks("
    " hash TEXT PRIMARY KEY,"
    " host TEXT NOT NULL,"
    " pid INTEGER NOT NULL,"
    " pid_start TEXT,"
    " created REAL NOT NULL);",
    /* 3 -> 4: claims keep the tolerance interval they were judged against (lo, hi; NULL = open)
     * and may be reported figures (verdict 'reported'). SQLite cannot change a CHECK, so claims
     * and claim_runs are rebuilt (claim_runs first: with foreign keys on, claims can only be
     * dropped once nothing references it); one (run, name, step) index serves series reads. */
    "CREATE TABLE claims_v4("
    " id INTEGER PRIMARY KEY,"
    " experiment INTEGER NOT NULL REFERENCES experiments(id),"
    " name TEXT NOT NULL,"
    " predicted TEXT NOT NULL,"
    " predicted_value REAL,"
    " measured REAL,"
    " uncertainty REAL,"
    " tolerance TEXT NOT NULL,"
    " tolerance_value REAL,"
    " reason TEXT NOT NULL,"
    " verdict TEXT NOT NULL CHECK(verdict IN ('pass','fail','inconclusive','reported')),"
    " detail TEXT,"
    " created REAL NOT NULL,"
    " lo REAL,"
    " hi REAL);"
    "INSERT INTO claims_v4(id, experiment, name, predicted, predicted_value, measured,"
    " uncertainty, tolerance, tolerance_value, reason, verdict, detail, created)"
    " SELECT id, experiment, name, predicted, predicted_value, measured, uncertainty, tolerance,"
    " tolerance_value, reason, verdict, detail, created FROM claims;"
    "CREATE TABLE claim_runs_v4("
    " claim INTEGER NOT NULL REFERENCES claims_v4(id),"
    " run INTEGER NOT NULL REFERENCES runs(id));"
    "INSERT INTO claim_runs_v4(rowid, claim, run) SELECT rowid, claim, run FROM claim_runs;"
    "DROP TABLE claim_runs;"
    "DROP TABLE claims;"
    "ALTER TABLE claims_v4 RENAME TO claims;"
    "ALTER TABLE claim_runs_v4 RENAME TO claim_runs;"
    "CREATE INDEX claims_exp ON claims(experiment);"
    "CREATE INDEX claim_runs_claim ON claim_runs(claim);"
    "CREATE INDEX IF NOT EXISTS metrics_run_name ON metrics(run, name, step);",
};

static const char *const k_sql[LM__ST_COUNT] = {
    [LM__ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [LM__ST_BEGIN_READ] = "BEGIN",
    [LM__ST_COMMIT] = "COMMIT",
    [LM__ST_ROLLBACK] = "ROLLBACK",
    [LM__ST_RUN_INSERT] = "INSERT INTO runs(hash, config, seed, status, created, lmech_version, "
                          "blas, threads, host, pid, pid_start) "
                          "VALUES(?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [LM__ST_RUN_END] = "UPDATE runs SET status = ?2, finished = ?3, wall_s = ?4, steps = ?5, "
                       "diverged_step = ?6, message = ?7 WHERE id = ?1",
    [LM__ST_RUN_GET] = "SELECT " LM__RUN_COLUMNS " FROM runs WHERE id = ?1",
    [LM__ST_RUN_LIST] = "SELECT " LM__RUN_COLUMNS " FROM runs ORDER BY id",
    [LM__ST_RUN_EXISTS] = "SELECT 1 FROM runs WHERE id = ?1",
    [LM__ST_RUN_FIND_HASH] = "SELECT id FROM runs WHERE hash = ?1 AND status = 'finished' "
                             "ORDER BY created DESC, id DESC LIMIT 1",
    [LM__ST_RUN_FIND_DIVERGED] = "SELECT id FROM runs WHERE hash = ?1 AND status = 'diverged' "
                                 "ORDER BY created DESC, id DESC LIMIT 1",
    [LM__ST_RUN_RUNNING_HERE] =
        "SELECT id, pid, pid_start FROM runs WHERE status = 'running' AND host = ?1",
    [LM__ST_LOCK_GET] = "SELECT host, pid, pid_start FROM run_locks WHERE hash = ?1",
    [LM__ST_LOCK_PUT] = "INSERT OR REPLACE INTO run_locks(hash, host, pid, pid_start, created) "
                        "VALUES(?1, ?2, ?3, ?4, ?5)",
    [LM__ST_LOCK_DROP] = "DELETE FROM run_locks WHERE hash = ?1 AND host = ?2 AND pid = ?3",
    [LM__ST_RUN_INTERRUPT] = "UPDATE runs SET status = 'interrupted', message = ?2, finished = ?3 "
                             "WHERE id = ?1 AND status = 'running'",
    [LM__ST_METRIC_INSERT] = "INSERT INTO metrics(run, step, name, value) VALUES(?1, ?2, ?3, ?4)",
    [LM__ST_METRIC_LIST] = "SELECT step, name, value FROM metrics WHERE run = ?1 "
                           "ORDER BY step, rowid",
    [LM__ST_SERIES] = "SELECT step, value FROM metrics WHERE run = ?1 AND name = ?2 "
                      "ORDER BY step, rowid",
    [LM__ST_ARTIFACT_INSERT] =
        "INSERT INTO artifacts(run, name, kind, path, created) VALUES(?1, ?2, ?3, ?4, ?5)",
    [LM__ST_ARTIFACT_LIST] = "SELECT name, kind, path FROM artifacts WHERE run = ?1 ORDER BY rowid",
};

/* ---------------------------------------------------------------- errors and helpers */

lm_status lm__db_fail(lm_store *s, lm_err *err, int rc, const char *src_file, int src_line,
                      const char *fmt, ...) {
    char what[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    const char *path = s->path ? s->path : "(database)";
    /* the operating system's reason (EFBIG, ENOSPC, EROFS, ...) where SQLite kept one */
    const int sys = s->db ? sqlite3_system_errno(s->db) : 0;
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return lm_err_set(err, LM_EIO, src_file, src_line, "%s: disk full while %s (%s%s%s)", path,
                          what, msg, sys ? ": " : "", sys ? strerror(sys) : "");
    case SQLITE_IOERR: {
        /* errno is often gone by now (sys 0): the extended code still says a write failed */
        const int wrote = rc == SQLITE_IOERR_WRITE || rc == SQLITE_IOERR_TRUNCATE ||
                          rc == SQLITE_IOERR_FSYNC || rc == SQLITE_IOERR_SHMSIZE;
        return lm_err_set(err, LM_EIO, src_file, src_line, "%s: I/O error while %s (%s%s%s)%s",
                          path, what, msg, sys ? ": " : "", sys ? strerror(sys) : "",
                          wrote && !sys ? ": a write failed (disk full or file size limit?)" : "");
    }
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return lm_err_set(err, LM_EFORMAT, src_file, src_line, "%s: %s", path, msg);
    case SQLITE_NOMEM:
        return lm_err_set(err, LM_ENOMEM, src_file, src_line, "%s: out of memory while %s", path,
                          what);
    case SQLITE_READONLY:
        return lm_err_set(err, LM_EIO, src_file, src_line,
                          "%s: read-only database (%s while %s); lmech needs the file and its "
                          "folder writable (for the -wal and -shm files), even to read",
                          path, msg, what);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
        return lm_err_set(err, LM_EIO, src_file, src_line, "%s: %s: %s", path, what, msg);
    default:
        return lm_err_set(err, LM_EDB, src_file, src_line, "%s: %s: %s", path, what, msg);
    }
}

void lm__stmt_done(sqlite3_stmt *st) {
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

sqlite3_stmt *lm__stmt_get(lm_store *s, lm__stmt which, lm_err *err) {
    sqlite3_stmt *st = s->st[which];
    if (sqlite3_stmt_busy(st)) {
        lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                   "%s: store called again from inside its own callback (statement in use: %s)",
                   s->path, k_sql[which]);
        return NULL;
    }
    return st;
}

static lm_status step_simple(lm_store *s, lm__stmt which, const char *what, lm_err *err) {
    sqlite3_stmt *st = s->st[which];
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        lm_status code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "%s", what);
        sqlite3_reset(st);
        return code;
    }
    sqlite3_reset(st);
    return LM_OK;
}

lm_status lm__txn_begin(lm_store *s, const char *what, lm_err *err) {
    /* A database file deleted or replaced while open (its folder removed mid-run) still takes
     * writes, into an inode nobody can reach: every write transaction first checks that the path
     * still names the file we have open (one stat), so the loss is reported, not silent. */
    int moved = 0;
    if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved)
        LM_FAIL(err, LM_EIO,
                "%s: the database file was deleted or replaced while open (was its folder "
                "removed?); refusing to go on %s: nothing written since can be found",
                s->path, what);
    return step_simple(s, LM__ST_BEGIN_IMMEDIATE, what, err);
}

lm_status lm__txn_begin_read(lm_store *s, const char *what, lm_err *err) {
    return step_simple(s, LM__ST_BEGIN_READ, what, err);
}

lm_status lm__txn_commit(lm_store *s, const char *what, lm_err *err) {
    lm_status st = step_simple(s, LM__ST_COMMIT, what, err);
    if (st != LM_OK)
        lm__txn_rollback(s);
    return st;
}

void lm__txn_rollback(lm_store *s) {
    /* After SQLITE_FULL, SQLITE_IOERR or SQLITE_NOMEM SQLite may already have rolled the
     * transaction back; a second ROLLBACK would only fail. */
    if (!sqlite3_get_autocommit(s->db)) {
        sqlite3_step(s->st[LM__ST_ROLLBACK]);
        sqlite3_reset(s->st[LM__ST_ROLLBACK]);
    }
}

double lm__unix_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

void lm__copy_str(char *dst, size_t n, const char *src) {
    if (!src)
        src = "";
    size_t len = strnlen(src, n - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

const char *lm_run_status_name(lm_run_status s) {
    static const char *const names[] = {"running", "finished", "diverged", "failed", "interrupted"};
    return (unsigned) s <= LM_RUN_INTERRUPTED ? names[s] : "unknown";
}

struct sqlite3 *lm_store_db(lm_store *s) {
    return s ? s->db : NULL;
}

/* ---------------------------------------------------------------- open */

static void sleep_retry(void) {
    struct timespec ts = {0, OPEN_RETRY_SLEEP};
    nanosleep(&ts, NULL);
}

/* Runs one statement (a PRAGMA, BEGIN, a migration script) through sqlite3_exec, retrying on
 * SQLITE_BUSY as explained at OPEN_RETRIES; used only while opening, before the cached
 * statements exist. */
static lm_status exec_open(lm_store *s, const char *sql, const char *what, lm_err *err) {
    int rc = SQLITE_OK;
    for (int i = 0; i < OPEN_RETRIES; i++) {
        rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if ((rc & 0xff) != SQLITE_BUSY)
            break;
        sleep_retry();
    }
    if (rc != SQLITE_OK)
        LM__DB_FAIL(s, err, rc, "%s", what);
    return LM_OK;
}

/* Reads the first row of a query, retrying on SQLITE_BUSY. value (may be NULL) receives every
 * column as an integer, value[c] for column c; text (may be NULL) the text of column 0, up to
 * n - 1 characters. */
static lm_status query_one(lm_store *s, const char *sql, const char *what, int64_t *value,
                           char *text, size_t n, lm_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_OK;
    for (int i = 0; i < OPEN_RETRIES; i++) {
        rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
            if (rc == SQLITE_ROW) {
                for (int c = 0; value && c < sqlite3_column_count(st); c++)
                    value[c] = sqlite3_column_int64(st, c);
                if (text)
                    lm__copy_str(text, n, (const char *) sqlite3_column_text(st, 0));
                rc = SQLITE_OK;
            } else if (rc == SQLITE_DONE) {
                rc = SQLITE_OK; /* no row: leave the outputs as they are */
            }
        }
        if ((rc & 0xff) != SQLITE_BUSY)
            break;
        sqlite3_finalize(st);
        st = NULL;
        sleep_retry();
    }
    if (rc != SQLITE_OK) {
        lm_status code = lm__db_fail(s, err, rc, __FILE__, __LINE__, "%s", what);
        sqlite3_finalize(st);
        return code;
    }
    sqlite3_finalize(st);
    return LM_OK;
}

/* Explains SQLITE_CANTOPEN: a missing or unwritable directory is the usual cause. */
static lm_status fail_cantopen(lm_store *s, int rc, lm_err *err) {
    char dir[4096];
    const char *slash = strrchr(s->path, '/');
    if (!slash)
        lm__copy_str(dir, sizeof dir, ".");
    else if (slash == s->path)
        lm__copy_str(dir, sizeof dir, "/");
    else {
        size_t len = (size_t) (slash - s->path);
        if (len >= sizeof dir)
            len = sizeof dir - 1;
        memcpy(dir, s->path, len);
        dir[len] = '\0';
    }
    struct stat sb;
    if (stat(dir, &sb) != 0)
        LM_FAIL(err, LM_EIO, "%s: cannot open or create the database: directory %s: %s", s->path,
                dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        LM_FAIL(err, LM_EIO, "%s: cannot open or create the database: %s is not a directory",
                s->path, dir);
    int sys = s->db ? sqlite3_system_errno(s->db) : 0;
    LM_FAIL(err, LM_EIO, "%s: %s%s%s", s->path, sqlite3_errstr(rc), sys ? ": " : "",
            sys ? strerror(sys) : "");
}

/* The schema version and the number of tables, in one statement (so in one snapshot: read
 * separately, another process's migration could commit in between). */
#define SCHEMA_SQL                                                                                 \
    "SELECT user_version, (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "           \
    "name NOT LIKE 'sqlite_%') FROM pragma_user_version"

/* Reads the schema version into *version, refusing a database from a newer lmech or another
 * program's (tables, but version 0). */
static lm_status read_schema(lm_store *s, int64_t *version, lm_err *err) {
    int64_t v[2] = {0, 0};
    LM_TRY(query_one(s, SCHEMA_SQL, "reading the schema version", v, NULL, 0, err));
    if (v[0] > LM__STORE_SCHEMA_VERSION || v[0] < 0)
        LM_FAIL(err, LM_EUNSUPPORTED,
                "%s: schema version %lld is newer than this lmech %s understands (%d); upgrade "
                "lmech",
                s->path, (long long) v[0], lm_version(), LM__STORE_SCHEMA_VERSION);
    if (v[0] == 0 && v[1] > 0)
        LM_FAIL(err, LM_EFORMAT,
                "%s: not an lmech run database (it has %lld tables but no lmech schema version)",
                s->path, (long long) v[1]);
    *version = v[0];
    return LM_OK;
}

/* Reads the schema version before anything is changed: a file that is not a database fails here
 * with SQLITE_NOTADB ("file is not a database"), and another program's database or one from a
 * newer lmech is refused before it is switched to WAL. */
static lm_status probe(lm_store *s, lm_err *err) {
    int64_t version;
    return read_schema(s, &version, err);
}

/* Brings the schema to LM__STORE_SCHEMA_VERSION. The check and the migration steps run in one
 * BEGIN IMMEDIATE transaction, so of several processes opening a fresh file at once exactly one
 * creates the tables and the others see user_version already set. */
static lm_status migrate(lm_store *s, lm_err *err) {
    int64_t version = 0;
    LM_TRY(read_schema(s, &version, err));
    if (version == LM__STORE_SCHEMA_VERSION)
        return LM_OK;

    LM_TRY(exec_open(s, "BEGIN IMMEDIATE", "locking the database to create the schema", err));
    /* Again, under the write lock: another process may have migrated meanwhile. */
    lm_status st = read_schema(s, &version, err);
    for (int64_t v = version; st == LM_OK && v < LM__STORE_SCHEMA_VERSION; v++) {
        char what[64];
        snprintf(what, sizeof what, "migrating the schema to version %lld", (long long) v + 1);
        st = exec_open(s, k_migrations[v], what, err);
    }
    if (st == LM_OK && version < LM__STORE_SCHEMA_VERSION) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", LM__STORE_SCHEMA_VERSION);
        st = exec_open(s, sql, "setting the schema version", err);
    }
    if (st == LM_OK)
        st = exec_open(s, "COMMIT", "committing the schema", err);
    if (st != LM_OK && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

static lm_status configure(lm_store *s, lm_err *err) {
    char mode[16] = "";
    LM_TRY(query_one(s, "PRAGMA journal_mode = WAL", "setting WAL journal mode", NULL, mode,
                     sizeof mode, err));
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
        LM_FAIL(err, LM_EDB,
                "%s: cannot use WAL journal mode (got \"%s\"); WAL needs a local filesystem "
                "with shared memory",
                s->path, mode);
    LM_TRY(exec_open(s, "PRAGMA synchronous = NORMAL", "setting synchronous = NORMAL", err));
    LM_TRY(exec_open(s, "PRAGMA foreign_keys = ON", "enabling foreign keys", err));
    return LM_OK;
}

static lm_status prepare_all(lm_store *s, lm_err *err) {
    for (int i = 0; i < LM__ST_COUNT; i++) {
        int rc =
            sqlite3_prepare_v3(s->db, k_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK)
            LM__DB_FAIL(s, err, rc, "preparing \"%.60s\"", k_sql[i]);
    }
    return LM_OK;
}

lm_status lm_store_open(const char *path, lm_store **out, lm_err *err) {
    if (!path || !path[0])
        LM_FAIL(err, LM_EINVAL, "store: empty database path");
    if (!out)
        LM_FAIL(err, LM_EINVAL, "%s: lm_store_open: out is NULL", path);
    lm_store *s = lm_calloc(1, sizeof *s);
    size_t len = strlen(path);
    char *copy = lm_malloc(len + 1);
    if (!s || !copy) {
        lm_free(s);
        lm_free(copy);
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory opening the database", path);
    }
    memcpy(copy, path, len + 1);
    s->path = copy;

    lm_status st = LM_OK;
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        st = (rc & 0xff) == SQLITE_CANTOPEN
                 ? fail_cantopen(s, rc, err)
                 : lm__db_fail(s, err, rc, __FILE__, __LINE__, "opening the database");
        goto fail;
    }
    rc = sqlite3_extended_result_codes(s->db, 1);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if (rc != SQLITE_OK) {
        st = lm__db_fail(s, err, rc, __FILE__, __LINE__, "configuring the connection");
        goto fail;
    }
    if (gethostname(s->host, sizeof s->host) != 0)
        lm__copy_str(s->host, sizeof s->host, "unknown");
    s->host[sizeof s->host - 1] = '\0';

    st = probe(s, err);
    if (st == LM_OK)
        st = configure(s, err);
    if (st == LM_OK)
        st = migrate(s, err);
    if (st == LM_OK)
        st = prepare_all(s, err);
    if (st == LM_OK)
        st = lm_store_reap(s, NULL, err);
    if (st != LM_OK)
        goto fail;
    *out = s;
    return LM_OK;
fail:
    lm_store_close(s);
    return st;
}

void lm_store_close(lm_store *s) {
    if (!s)
        return;
    for (int i = 0; i < LM__ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db); /* NULL-safe; every statement is finalized, so it cannot be busy */
    lm_free(s->path);
    lm_free(s);
}

/* ---------------------------------------------------------------- reaping */

/* Reads /proc/<pid>/stat. Returns 1 and fills state (field 3) and start (field 22, process start
 * time in clock ticks since boot) when the process exists, 0 when it does not, -1 when this
 * cannot be told (no procfs, unreadable, unparsable). */
static int proc_stat(long long pid, char *state, char *start, size_t n) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%lld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT && access("/proc/self/stat", R_OK) == 0 ? 0 : -1;
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = '\0';
    /* Field 2 (comm) is in parentheses and may itself hold spaces and ')': parse after the last
     * ')'. Then field 3 is the state and field 22 the start time. */
    const char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    for (int field = 3; field <= 22; field++) {
        while (*p == ' ')
            p++;
        const char *q = p;
        while (*q && *q != ' ' && *q != '\n')
            q++;
        if (q == p)
            return -1;
        if (field == 3)
            *state = *p;
        if (field == 22) {
            size_t len = (size_t) (q - p);
            if (len >= n)
                return -1;
            memcpy(start, p, len);
            start[len] = '\0';
        }
        p = q;
    }
    return 1;
}

void lm__own_start(char *start, size_t n) {
    char state;
    if (proc_stat((long long) getpid(), &state, start, n) != 1)
        start[0] = '\0';
}

/* 1 if the process that began a run (pid, recorded start time) is still alive. */
static int run_process_alive(long long pid, const char *recorded_start) {
    char state = '?', start[32];
    if (pid <= 0)
        return 1; /* no pid recorded: cannot tell, never reap on a guess */
    int r = proc_stat(pid, &state, start, sizeof start);
    if (r < 0) /* no procfs: existence only (pid reuse goes unnoticed) */
        return !(kill((pid_t) pid, 0) != 0 && errno == ESRCH);
    if (r == 0)
        return 0;
    if (state == 'Z' || state == 'X') /* exited, waiting to be collected by its parent */
        return 0;
    if (recorded_start && recorded_start[0] && strcmp(recorded_start, start) != 0)
        return 0; /* the pid was reused by another process */
    return 1;
}

lm_status lm_store_lock_hash(lm_store *s, const char *hash, int *got, lm_err *err) {
    if (!s || !hash || !got)
        LM_FAIL(err, LM_EINVAL, "lm_store_lock_hash: NULL argument");
    *got = 0;
    LM_TRY(lm__txn_begin(s, "taking a run lock", err));
    sqlite3_stmt *st = lm__stmt_get(s, LM__ST_LOCK_GET, err);
    if (!st) {
        lm__txn_rollback(s);
        return LM_EINVAL;
    }
    int rc = sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
    int held = 0;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *host = (const char *) sqlite3_column_text(st, 0);
        const long long pid = sqlite3_column_int64(st, 1);
        /* held while its process lives; a lock of another host cannot be checked: kept */
        held = !host || strcmp(host, s->host) != 0 ||
               (pid != (long long) getpid() &&
                run_process_alive(pid, (const char *) sqlite3_column_text(st, 2)));
        rc = SQLITE_DONE;
    }
    lm__stmt_done(st);
    lm_status status = LM_OK;
    if (rc != SQLITE_DONE)
        status = lm__db_fail(s, err, rc, __FILE__, __LINE__, "reading a run lock");
    if (status == LM_OK && !held) {
        char start[32];
        lm__own_start(start, sizeof start);
        st = lm__stmt_get(s, LM__ST_LOCK_PUT, err);
        if (!st) {
            status = LM_EINVAL;
        } else {
            rc = sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
            if (rc == SQLITE_OK)
                rc = sqlite3_bind_text(st, 2, s->host, -1, SQLITE_STATIC);
            if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(st, 3, (sqlite3_int64) getpid());
            if (rc == SQLITE_OK)
                rc = sqlite3_bind_text(st, 4, start, -1, SQLITE_TRANSIENT);
            if (rc == SQLITE_OK)
                rc = sqlite3_bind_double(st, 5, lm__unix_now());
            if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
            if (rc != SQLITE_DONE)
                status = lm__db_fail(s, err, rc, __FILE__, __LINE__, "writing a run lock");
            lm__stmt_done(st);
        }
    }
    if (status == LM_OK)
        status = lm__txn_commit(s, "taking a run lock", err);
    else
        lm__txn_rollback(s);
    if (status == LM_OK)
        *got = !held;
    return status;
}

lm_status lm_store_unlock_hash(lm_store *s, const char *hash, lm_err *err) {
    if (!s || !hash)
        LM_FAIL(err, LM_EINVAL, "lm_store_unlock_hash: NULL argument");
    sqlite3_stmt *st = lm__stmt_get(s, LM__ST_LOCK_DROP, err);
    if (!st)
        return LM_EINVAL;
    int rc = sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, s->host, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, (sqlite3_int64) getpid());
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    lm_status status = LM_OK;
    if (rc != SQLITE_DONE)
        status = lm__db_fail(s, err, rc, __FILE__, __LINE__, "dropping a run lock");
    lm__stmt_done(st);
    return status;
}

/* Experiments whose `lmech exp` process on this host has died (killed, or its end could not be
 * recorded on a full disk) are marked 'interrupted', as runs are below. No start time is recorded
 * for an experiment, so a reused pid keeps it 'running': never reaped on a guess. */
static lm_status reap_experiments(lm_store *s, lm_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT id, pid FROM experiments WHERE status = 'running' AND "
                                "host = ?1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return lm__db_fail(s, err, rc, __FILE__, __LINE__, "looking for interrupted experiments");
    int64_t dead[64];
    size_t n_dead = 0;
    rc = sqlite3_bind_text(st, 1, s->host, -1, SQLITE_STATIC);
    /* at most 64 a pass: the rest are found by the next open */
    while (rc == SQLITE_OK && n_dead < 64 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!run_process_alive(sqlite3_column_int64(st, 1), NULL))
            dead[n_dead++] = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK && rc != SQLITE_DONE)
        return lm__db_fail(s, err, rc, __FILE__, __LINE__, "looking for interrupted experiments");
    if (n_dead == 0)
        return LM_OK;
    LM_TRY(lm__txn_begin(s, "marking interrupted experiments", err));
    rc = sqlite3_prepare_v2(s->db,
                            "UPDATE experiments SET status = 'interrupted', finished = ?2 "
                            "WHERE id = ?1 AND status = 'running'",
                            -1, &st, NULL);
    const double now = lm__unix_now();
    for (size_t i = 0; rc == SQLITE_OK && i < n_dead; i++) {
        rc = sqlite3_bind_int64(st, 1, dead[i]);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_double(st, 2, now);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_DONE)
            rc = sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        lm_status code =
            lm__db_fail(s, err, rc, __FILE__, __LINE__, "marking interrupted experiments");
        lm__txn_rollback(s);
        return code;
    }
    return lm__txn_commit(s, "marking interrupted experiments", err);
}

lm_status lm_store_reap(lm_store *s, int *n_reaped, lm_err *err) {
    if (!s)
        LM_FAIL(err, LM_EINVAL, "lm_store_reap: store is NULL");
    /* First a read-only pass (no write lock on an open with nothing to reap), collecting the
     * runs whose process is dead. */
    sqlite3_stmt *st = lm__stmt_get(s, LM__ST_RUN_RUNNING_HERE, err);
    if (!st)
        return LM_EINVAL;
    int64_t *dead = NULL, *pids = NULL;
    size_t n_dead = 0, cap = 0;
    lm_status status = LM_OK;
    int rc = sqlite3_bind_text(st, 1, s->host, -1, SQLITE_STATIC);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long pid = sqlite3_column_int64(st, 1);
        const char *start = (const char *) sqlite3_column_text(st, 2);
        if (run_process_alive(pid, start))
            continue;
        if (n_dead == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            int64_t *nd = lm_malloc(ncap * sizeof *nd), *np = lm_malloc(ncap * sizeof *np);
            if (!nd || !np) {
                lm_free(nd);
                lm_free(np);
                status = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                                    "%s: out of memory reaping interrupted runs", s->path);
                break;
            }
            if (n_dead) {
                memcpy(nd, dead, n_dead * sizeof *nd);
                memcpy(np, pids, n_dead * sizeof *np);
            }
            lm_free(dead);
            lm_free(pids);
            dead = nd;
            pids = np;
            cap = ncap;
        }
        dead[n_dead] = sqlite3_column_int64(st, 0);
        pids[n_dead] = pid;
        n_dead++;
    }
    if (status == LM_OK && rc != SQLITE_DONE)
        status = lm__db_fail(s, err, rc, __FILE__, __LINE__, "looking for interrupted runs");
    lm__stmt_done(st);

    int n = 0;
    if (status == LM_OK && n_dead > 0) {
        status = lm__txn_begin(s, "marking interrupted runs", err);
        sqlite3_stmt *up = s->st[LM__ST_RUN_INTERRUPT];
        double now = lm__unix_now();
        for (size_t i = 0; status == LM_OK && i < n_dead; i++) {
            char msg[96];
            snprintf(msg, sizeof msg, "process %lld ended without finishing the run",
                     (long long) pids[i]);
            rc = sqlite3_bind_int64(up, 1, dead[i]);
            if (rc == SQLITE_OK)
                rc = sqlite3_bind_text(up, 2, msg, -1, SQLITE_TRANSIENT);
            if (rc == SQLITE_OK)
                rc = sqlite3_bind_double(up, 3, now);
            if (rc == SQLITE_OK)
                rc = sqlite3_step(up);
            if (rc != SQLITE_DONE)
                status = lm__db_fail(s, err, rc, __FILE__, __LINE__, "marking run %lld interrupted",
                                     (long long) dead[i]);
            else
                n += sqlite3_changes(s->db);
            lm__stmt_done(up);
        }
        if (status == LM_OK)
            status = lm__txn_commit(s, "marking interrupted runs", err);
        else
            lm__txn_rollback(s);
    }
    lm_free(dead);
    lm_free(pids);
    if (status == LM_OK)
        status = reap_experiments(s, err);
    if (status == LM_OK && n_reaped)
        *n_reaped = n;
    return status;
}
