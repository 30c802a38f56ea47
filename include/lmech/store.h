/*
 * lmech/store.h: the run database (SQLite). All SQL in lmech lives in src/store/.
 *
 * Schema (version in `PRAGMA user_version`, migrated forward on open):
 *   runs(id INTEGER PRIMARY KEY, hash TEXT, config TEXT (JSON), seed INTEGER, status TEXT
 *        CHECK(status IN ('running','finished','diverged','failed','interrupted')),
 *        created REAL, finished REAL, wall_s REAL, steps INTEGER, diverged_step INTEGER,
 *        message TEXT, lmech_version TEXT, blas TEXT, threads INTEGER, host TEXT, pid INTEGER,
 *        pid_start TEXT)
 *   metrics(run INTEGER REFERENCES runs(id), step INTEGER, name TEXT, value REAL)
 *   artifacts(run INTEGER REFERENCES runs(id), name TEXT, kind TEXT, path TEXT, created REAL)
 *
 * Concurrency: WAL mode, busy timeout 10 s, every write transaction opened with BEGIN IMMEDIATE
 * (a deferred BEGIN that reads and then writes gets SQLITE_BUSY at once; stack.md §6). Several
 * processes may write to one database; no row is lost.
 *
 * Interrupted runs: a run records its host, pid and the process start time; lm_store_open (and
 * lm_store_reap) marks every `running` run of this host whose process no longer exists (or was
 * replaced by another process with the same pid) as `interrupted`. Metrics are written in
 * transactions, so a killed run is never half-written: it has whole batches of metric rows and
 * its status says it was interrupted.
 */
#ifndef LMECH_STORE_H
#define LMECH_STORE_H

#include "lmech/core.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lm_store lm_store;

typedef enum lm_run_status {
    LM_RUN_RUNNING = 0,
    LM_RUN_FINISHED,
    LM_RUN_DIVERGED,
    LM_RUN_FAILED,
    LM_RUN_INTERRUPTED
} lm_run_status;

const char *lm_run_status_name(lm_run_status s);

typedef struct lm_metric {
    int64_t step;
    const char *name; /* borrowed; copied into the database */
    double value;     /* NaN and Inf are stored as NULL      */
} lm_metric;

typedef struct lm_run_info {
    int64_t id;
    char hash[65];
    char status[16];
    uint64_t seed;
    double created, finished, wall_s; /* unix seconds; finished/wall_s NaN while running */
    int64_t steps, diverged_step;     /* -1 when unknown / not diverged                  */
    int threads;
    char lmech_version[32];
    char blas[160];
    char host[64];
    char message[256];
    char *config; /* JSON, owned by the info: free with lm_run_info_clear */
} lm_run_info;

void lm_run_info_clear(lm_run_info *info);

/* Opens (creating if needed) the database at path, applies the schema and migrations, sets WAL
 * and the busy timeout, and reaps interrupted runs. Errors name the path. */
lm_status lm_store_open(const char *path, lm_store **out, lm_err *err);
void lm_store_close(lm_store *s);

/* Marks dead `running` runs, and experiments, of this host as interrupted; *n_reaped (optional)
 * gets the count of runs. */
lm_status lm_store_reap(lm_store *s, int *n_reaped, lm_err *err);

/* Run locks (table run_locks): an experiment takes the lock of a config hash before a worker
 * trains it and drops it after, so that concurrent invocations on one database train each run
 * once. lm_store_lock_hash sets *got = 1 when this process now holds the lock (it was free, its
 * holder's process had died or its pid was reused, or it was already ours), 0 when another live
 * process holds it (a lock taken on another host is kept: it cannot be checked from here). One
 * BEGIN IMMEDIATE transaction: two processes cannot both get it. lm_store_unlock_hash drops this
 * process's lock of the hash (nothing if it holds none). */
lm_status lm_store_lock_hash(lm_store *s, const char *hash, int *got, lm_err *err);
lm_status lm_store_unlock_hash(lm_store *s, const char *hash, lm_err *err);

/* Inserts a run with status `running`, recording version, BLAS, threads, host and pid. */
lm_status lm_store_run_begin(lm_store *s, const char *config_json, const char *hash, uint64_t seed,
                             int threads, int64_t *run_id, lm_err *err);

/* Appends n metric rows in one transaction. */
lm_status lm_store_put_metrics(lm_store *s, int64_t run, size_t n, const lm_metric *m, lm_err *err);

/* Ends a run: status, steps done, wall time, diverged step (-1 if none) and a message (may be
 * NULL), plus n final metric rows, all in one transaction. */
lm_status lm_store_run_end(lm_store *s, int64_t run, lm_run_status status, int64_t steps,
                           double wall_s, int64_t diverged_step, const char *message, size_t n,
                           const lm_metric *m, lm_err *err);

lm_status lm_store_put_artifact(lm_store *s, int64_t run, const char *name, const char *kind,
                                const char *path, lm_err *err);

/* Reads one run (LM_ENOTFOUND naming the id if absent). */
lm_status lm_store_get_run(lm_store *s, int64_t run, lm_run_info *info, lm_err *err);
/* The newest finished run with this config hash, or *run_id = -1. */
lm_status lm_store_find_hash(lm_store *s, const char *hash, int64_t *run_id, lm_err *err);
/* The newest diverged run with this config hash, or *run_id = -1. Runs are deterministic, so a
 * diverged run is a result that an experiment reuses rather than repeats. */
lm_status lm_store_find_diverged(lm_store *s, const char *hash, int64_t *run_id, lm_err *err);

/* Calls fn for every run, oldest first; a non-zero return from fn stops the walk. */
typedef int (*lm_run_fn)(void *ud, const lm_run_info *info);
lm_status lm_store_list_runs(lm_store *s, lm_run_fn fn, void *ud, lm_err *err);

/* Calls fn for every metric row of a run, ordered by step then insertion. */
typedef int (*lm_metric_fn)(void *ud, int64_t step, const char *name, double value);
lm_status lm_store_get_metrics(lm_store *s, int64_t run, lm_metric_fn fn, void *ud, lm_err *err);

/* One named series of a run, in step order, read with one indexed query: the first min(cap,
 * total) records go to steps (may be NULL) and values, *n = how many were written, *total = how
 * many the run has (so a caller can tell a truncated read). */
lm_status lm_store_get_series(lm_store *s, int64_t run, const char *name, size_t cap,
                              int64_t *steps, double *values, size_t *n, size_t *total,
                              lm_err *err);

/* Writes a run's metrics to out: csv is one header `step,<name1>,<name2>,...` and one row per
 * step (empty cells where a metric was not recorded); json is one object {"run": {...info,
 * "config": {...}}, "metrics": {"name": [[step, value], ...], ...}, "artifacts": [...]}. */
lm_status lm_store_export(lm_store *s, int64_t run, const char *format, FILE *out, lm_err *err);

/* ---------------------------------------------------------------- experiments and claims */

/* Schema version 2 adds:
 *   experiments(id, name, quick, status, created, finished, lmech_version, host, pid)
 *   experiment_runs(experiment, run, label)
 *   claims(id, experiment, name, predicted, predicted_value, measured, uncertainty, tolerance,
 *          tolerance_value, reason, verdict CHECK IN ('pass','fail','inconclusive'), detail,
 *          created)
 *   claim_runs(claim, run)
 * so any sweep and its verdicts can be queried (and re-judged) in SQL. Version 3 adds
 *   run_locks(hash TEXT PRIMARY KEY, host, pid, pid_start, created)
 * one row per config an experiment is training now (lm_store_lock_hash). Version 4 adds the
 * tolerance interval to claims (columns lo, hi; NULL = open) and the verdict 'reported'. */

/* The verdict rule (science.md §0; lm_exp_verdict in exp.h): with the measurement's 95 %
 * interval [m - u, m + u] and the tolerance interval [lo, hi], pass when the whole interval lies
 * inside, fail when it lies wholly outside, inconclusive when it straddles an edge or nothing
 * could be measured. A reported figure is a measurement without a verdict: a number whose
 * prediction was written after it was seen, or one outside the theory's domain. */
typedef enum lm_verdict {
    LM_VERDICT_PASS = 0,
    LM_VERDICT_FAIL,
    LM_VERDICT_INCONCLUSIVE,
    LM_VERDICT_REPORTED
} lm_verdict;
const char *lm_verdict_name(lm_verdict v); /* "pass", "fail", "inconclusive", "reported" */
/* The verdict named `name`; -1 for an unknown name. */
int lm_verdict_parse(const char *name);

#define LM_CLAIM_MAX_RUNS 128

/* A claim: the theory's prediction beside the measurement, the tolerance and why. */
typedef struct lm_claim {
    char name[96];
    char predicted[192];    /* the prediction, in words and numbers ("S -> 2/eta = 20")      */
    double predicted_value; /* the predicted number, NaN for a law without one               */
    double measured;        /* NaN when the measurement could not be made                     */
    double uncertainty;     /* half-width of the measurement's 95 % interval (2 standard
                             * errors over seeds, a bootstrap interval, or a numerical error
                             * bound; 0 only for an exact computation); NaN when not measured */
    char tolerance[96];     /* in words ("within 10 % relative")                              */
    double tolerance_value; /* the number in that sentence, NaN if none                       */
    double lo, hi;          /* the tolerance interval the verdict was judged against (+-inf:
                             * open); NaN for a reported figure                               */
    char reason[384];       /* why this tolerance                                             */
    lm_verdict verdict;
    char detail[640]; /* what was measured, how u was obtained, and for an inconclusive
                       * claim why (with a power estimate where it straddles an edge)    */
    size_t n_runs;
    int64_t runs[LM_CLAIM_MAX_RUNS]; /* the runs the claim was judged on */
} lm_claim;

typedef struct lm_exp_info {
    int64_t id;
    char name[64];
    int quick;
    char status[16];
    double created, finished;
} lm_exp_info;

/* Starts an experiment invocation (status running). */
lm_status lm_store_exp_begin(lm_store *s, const char *name, int quick, int64_t *exp_id,
                             lm_err *err);
/* Links a run to an invocation under a label ("lr=0.1 seed=2"). */
lm_status lm_store_exp_add_run(lm_store *s, int64_t exp_id, int64_t run, const char *label,
                               lm_err *err);
/* Writes the claims and the final status ("finished", "failed", "interrupted") in one
 * transaction. */
lm_status lm_store_exp_end(lm_store *s, int64_t exp_id, const char *status, size_t n,
                           const lm_claim *claims, lm_err *err);
/* The newest invocation of an experiment (finished ones first), or *exp_id = -1. */
lm_status lm_store_exp_latest(lm_store *s, const char *name, int64_t *exp_id, lm_err *err);
lm_status lm_store_exp_get(lm_store *s, int64_t exp_id, lm_exp_info *info, lm_err *err);
/* Every invocation, oldest first; a non-zero return from fn stops. */
typedef int (*lm_exp_fn)(void *ud, const lm_exp_info *info);
lm_status lm_store_exp_list(lm_store *s, lm_exp_fn fn, void *ud, lm_err *err);
/* The runs of an invocation with their labels, in insertion order. */
typedef int (*lm_exp_run_fn)(void *ud, int64_t run, const char *label);
lm_status lm_store_exp_runs(lm_store *s, int64_t exp_id, lm_exp_run_fn fn, void *ud, lm_err *err);
/* The claims of an invocation, in insertion order. */
typedef int (*lm_claim_fn)(void *ud, const lm_claim *claim);
lm_status lm_store_exp_claims(lm_store *s, int64_t exp_id, lm_claim_fn fn, void *ud, lm_err *err);

/* ---------------------------------------------------------------- run images (issue 17: --mpi)
 * A store as bytes, and one run carried from such an image into another store (image.c): a
 * worker rank of `lmech exp --mpi` trains into lm_store_open(":memory:") and sends the image;
 * rank 0, the database's only writer, imports the run. */

/* The database's bytes (sqlite3_serialize of the main schema) in *image (lm_malloc'ed, the
 * caller frees with lm_free), *n bytes. */
lm_status lm_store_image(lm_store *s, unsigned char **image, size_t *n, lm_err *err);

/* Writes an artifact of the imported run new_id (its id in the importing store) and puts its
 * path in path[cap]; a non-LM_OK return rolls the import back. */
typedef lm_status (*lm_store_place_fn)(void *ud, int64_t new_id, char *path, size_t cap,
                                       lm_err *err);

/* Copies the one run of image (from lm_store_image on a store of this schema version; refused
 * otherwise, LM_EFORMAT) into s under a new id (*new_id): its record (a run still `running` is
 * recorded `interrupted`), metric rows (*n_rows, optional, gets their count) and artifacts, and,
 * when place is not NULL, the artifact art_name/art_kind that place writes, all in one
 * transaction: on any failure nothing is recorded and the placed file is removed. hash (NULL: any)
 * is the config hash the run must have (LM_EFORMAT otherwise). */
lm_status lm_store_import_run(lm_store *s, const void *image, size_t n, const char *hash,
                              const char *art_name, const char *art_kind, lm_store_place_fn place,
                              void *ud, int64_t *new_id, size_t *n_rows, lm_err *err);

/* The underlying handle, for modules that add their own tables through store (claims). */
struct sqlite3 *lm_store_db(lm_store *s);

#ifdef __cplusplus
}
#endif
#endif
