/*
 * lmech/exp.h: falsifiable experiments. An experiment is a named recipe with two functions:
 *
 *   plan     the runs it needs (configs as JSON text, each with a label), in a full or a
 *            --quick variant;
 *   analyse  reads the finished runs back from the store (never in-memory state) and judges
 *            claims (lm_exp_judge): prediction, measurement with the half-width of its 95 %
 *            interval, tolerance interval, the reason for the tolerance, and a verdict pass /
 *            fail / inconclusive by the rule of science.md §0 (lm_exp_verdict); numbers without
 *            a prediction written before they were seen are reported figures (no verdict).
 *
 * lm_exp_run executes the plan (in parallel processes; a run whose canonical config already has
 * a finished run in the store is reused, so an interrupted sweep resumes where it stopped), saves
 * every run's final parameters as a safetensors artifact beside the database, analyses, and
 * records the invocation, its runs and its claims in the store (schema in store.h).
 *
 * Adding an experiment: write src/exp/exp_<name>.c defining `const lm_experiment lm__exp_<name>`
 * and add one line to the registry in src/exp/registry.c.
 */
#ifndef LMECH_EXP_H
#define LMECH_EXP_H

#include "lmech/config.h"
#include "lmech/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LM_EXP_MAX_RUNS   512
#define LM_EXP_MAX_CLAIMS 96

typedef struct lm_exp_plan {
    size_t n;
    char *config[LM_EXP_MAX_RUNS]; /* JSON text, lm_malloc'ed (lm_exp_plan_add copies) */
    char label[LM_EXP_MAX_RUNS][96];
} lm_exp_plan;

/* Appends a run: base JSON text plus "KEY=VALUE" overrides (the --set syntax), validated and
 * stored as canonical JSON. */
lm_status lm_exp_plan_add(lm_exp_plan *p, const char *label, const char *base_json, size_t n_sets,
                          const char *const *sets, lm_err *err);
void lm_exp_plan_clear(lm_exp_plan *p);

/* What analyse sees: the invocation's runs (in plan order) and a claim list to fill. */
typedef struct lm_exp_ctx {
    lm_store *store;
    int64_t exp_id;
    int quick;
    size_t n_runs;
    int64_t run[LM_EXP_MAX_RUNS];
    const char *label[LM_EXP_MAX_RUNS];
    const char *artifact_dir; /* checkpoints: <artifact_dir>/run-<id>.safetensors */
    size_t n_claims;
    lm_claim claims[LM_EXP_MAX_CLAIMS];
} lm_exp_ctx;

/* The verdict rule (science.md §0) on a measurement m with the half-width u of its 95 %
 * interval and the tolerance interval [lo, hi] (either side may be +-inf): pass when
 * lo <= m - u and m + u <= hi, fail when m + u < lo or m - u > hi, inconclusive when the interval
 * straddles an edge, m is not finite, or u is not a finite number >= 0. */
lm_verdict lm_exp_verdict(double m, double u, double lo, double hi);

/* A claim, filled by name (designated initialisers; unset numbers must be given, so pass LM_NAN
 * where there is none) and judged by lm_exp_judge. */
typedef struct lm_claim_spec {
    const char *name;
    const char *predicted;  /* the prediction in words and numbers, written before the run */
    double predicted_value; /* in the units of `measured` (a ratio claim predicts the ratio) */
    double measured;        /* NaN: the measurement could not be made (inconclusive) */
    double uncertainty;     /* half-width of the 95 % interval; 0 only for an exact number */
    const char *uncertainty_from; /* how u was obtained ("2 SE over 4 seeds", "bootstrap 95 %
                                   * over 3 seeds", "exact", "u = 0: a maximum over runs"):
                                   * written into the detail; required unless reported */
    size_t n_seeds;               /* the independent replicates behind u (the power estimate);
                                   * 0 when u is not a spread over replicates */
    double lo, hi;                /* the tolerance interval (+-LM_INF: open) */
    const char *tolerance;        /* the tolerance in words ("ratio >= 1.2") */
    double tolerance_value;       /* the number in that sentence (NaN: none) */
    const char *reason;           /* why this tolerance (or, for a reported figure, why no claim) */
    const char *detail;           /* what was measured (may be NULL) */
    int reported;                 /* a reported figure: measured and stored, no verdict */
    const char *unmet;            /* a precondition that did not hold (NULL: none): the claim is
                                   * inconclusive and the detail says why */
    size_t n_runs; /* the runs it was judged on (copied; at most LM_CLAIM_MAX_RUNS) */
    const int64_t *runs;
} lm_claim_spec;

/* Adds a claim to ctx and judges it by lm_exp_verdict; the detail gets the measured text, how u
 * was obtained, and for an inconclusive claim why, with a power estimate (about how many seeds
 * would decide it, from the measured spread) where the interval straddles an edge. A judged
 * claim whose finite measurement has no finite u >= 0 or no uncertainty_from is inconclusive
 * ("no uncertainty: a bug in the analysis"), never a pass. Returns the stored claim (for extra
 * detail) or NULL when ctx holds LM_EXP_MAX_CLAIMS already. */
lm_claim *lm_exp_judge(lm_exp_ctx *ctx, const lm_claim_spec *spec);

/* A checked precondition: NULL when `met`, else `why` (static text) for lm_claim_spec.unmet.
 * The precondition itself is recorded as a reported figure named "precondition: <name>" with
 * the checked value, so the report shows it either way. */
const char *lm_exp_precondition(lm_exp_ctx *ctx, const char *name, int met, double value,
                                const char *statement, const char *why);

/* Loads run `run`'s config (from the store) and final parameters (the checkpoint artifact).
 * *cfg and *theta are owned by the caller (lm_config_free, lm_free). */
lm_status lm_exp_load_run(const lm_exp_ctx *ctx, int64_t run, lm_config **cfg, double **theta,
                          lm_err *err);

/* Reads metric `name` of run in step order (one indexed SQL query) into steps (may be NULL) and
 * values, at most cap records; *n = the number read. A run with more than cap records is an
 * error (LM_ELIMIT) naming the run, the metric, the total and cap: nothing is dropped silently. */
lm_status lm_exp_series(const lm_exp_ctx *ctx, int64_t run, const char *name, size_t cap,
                        int64_t *steps, double *values, size_t *n, lm_err *err);
/* The same, into arrays sized to the series (lm_malloc'ed, owned by the caller; *steps may be
 * requested as NULL). An absent metric gives n = 0 and NULL arrays. */
lm_status lm_exp_series_alloc(const lm_exp_ctx *ctx, int64_t run, const char *name, int64_t **steps,
                              double **values, size_t *n, lm_err *err);

typedef struct lm_experiment {
    const char *name;
    const char *summary; /* one line for `lmech exp --list` */
    const char *quick;   /* what --quick changes, one line */
    lm_status (*plan)(int quick, lm_exp_plan *plan, lm_err *err);
    lm_status (*analyse)(lm_exp_ctx *ctx, lm_err *err);
    /* Experiments defined by data (lm_exp_file_load) set these instead of plan and analyse: they
     * receive the experiment itself, whose `data` holds the parsed definition. */
    lm_status (*plan_with)(const struct lm_experiment *e, int quick, lm_exp_plan *plan,
                           lm_err *err);
    lm_status (*analyse_with)(const struct lm_experiment *e, lm_exp_ctx *ctx, lm_err *err);
    const void *data;
} lm_experiment;

/* An experiment defined by a JSON file (docs/experiments.md; examples/experiments/): a base run
 * configuration (inline, or a path relative to the file's directory), overrides, a sweep (the
 * Cartesian product of value lists), a quick variant, and claims judged from the recorded
 * metrics (a reduced value in a range, or a log-log slope against a swept number). Parsed
 * strictly: errors name the file and the key. Free with lm_exp_file_free. lm_exp_file_parse
 * parses text named `origin`, resolving a base path against `dir` ("" or NULL: the current
 * directory). */
lm_status lm_exp_file_load(const char *path, lm_experiment **out, lm_err *err);
lm_status lm_exp_file_parse(const char *text, size_t len, const char *origin, const char *dir,
                            lm_experiment **out, lm_err *err);
void lm_exp_file_free(lm_experiment *e);

/* The registry: NULL-terminated. */
const lm_experiment *const *lm_experiments(void);
const lm_experiment *lm_experiment_find(const char *name);

typedef void (*lm_exp_progress_fn)(void *ud, const char *what, size_t done, size_t total);

typedef struct lm_exp_opts {
    const char *db_path;
    int quick;
    int jobs; /* parallel processes; 0 = the core count */
    lm_exp_progress_fn progress;
    void *progress_ud;
    /* Set non-zero (e.g. by the CLI's SIGINT/SIGTERM handler) to stop: no further run starts,
     * the runs in flight end `interrupted` (their workers get SIGTERM), nothing is analysed, the
     * invocation is recorded `interrupted` and res->interrupted is set. A later invocation
     * reuses the finished runs. NULL: never. */
    volatile int *stop;
} lm_exp_opts;

typedef struct lm_exp_result {
    int64_t exp_id;
    size_t n_runs, n_reused, n_failed;
    size_t n_done;   /* runs trained by this invocation (finished, diverged or failed) */
    int interrupted; /* the stop flag ended it before the analysis */
    lm_exp_ctx *ctx; /* the claims and runs; freed by lm_exp_result_clear */
    double wall_s;
    /* with lm_exp_run_mpi: the ranks, and rank 0's imports of the runs trained here (metric rows
     * inserted, seconds spent in the import transactions, bytes of run images and checkpoints
     * imported) */
    int mpi_ranks;
    size_t mpi_rows;
    double mpi_import_s;
    size_t mpi_bytes;
} lm_exp_result;

/* Runs an experiment end to end (plan, train or reuse, analyse, record). Analysis of a sweep in
 * which some runs failed still happens: claims that need them are inconclusive. */
lm_status lm_exp_run(const lm_experiment *e, const lm_exp_opts *opts, lm_exp_result *res,
                     lm_err *err);
void lm_exp_result_clear(lm_exp_result *res);

/* ---------------------------------------------------------------- sweeps over MPI ranks
 * (issue 17: `mpirun -n R lmech exp NAME --mpi`; pool_mpi.c, docs/mpi.md). Every rank calls
 * lm_exp_mpi_begin; rank 0 then runs lm_exp_run_mpi and the others call
 * lm_exp_mpi_serve, which trains the runs rank 0 sends until rank 0 releases them; every rank
 * ends with lm_exp_mpi_end. Only rank 0 opens the database: a worker needs no shared filesystem
 * (only the data files its runs read, at the same paths). */

/* lm_exp_run with the runs distributed over the MPI ranks instead of forked processes
 * (opts->jobs is ignored), on rank 0 after lm_exp_mpi_begin: rank 0 is the database's only
 * writer, and every run is trained with 1 BLAS thread, so the claims are the same whatever the
 * rank count. res->mpi_* say what rank 0 imported. */
lm_status lm_exp_run_mpi(const lm_experiment *e, const lm_exp_opts *opts, lm_exp_result *res,
                         lm_err *err);
/* Initialises MPI (unless the program has already: then it is left to the program to finalise)
 * and gives this process's rank and the rank count. */
lm_status lm_exp_mpi_begin(int *argc, char ***argv, int *rank, int *size, lm_err *err);
/* A worker rank (rank > 0): trains the runs rank 0 sends, each into a private in-memory store,
 * and sends back its records and final checkpoint, until rank 0 releases it. stop (may be NULL)
 * ends the run in hand `interrupted` (it is still sent back, recorded as such). */
lm_status lm_exp_mpi_serve(volatile int *stop, lm_err *err);
/* Rank 0: releases the workers (they return from lm_exp_mpi_serve). lm_exp_run releases them
 * when its sweep ends; call it on paths that end before lm_exp_run (a bad experiment name).
 * Idempotent. */
void lm_exp_mpi_release(void);
/* Releases the workers (rank 0) and finalises MPI if lm_exp_mpi_begin initialised it. */
void lm_exp_mpi_end(void);

#ifdef __cplusplus
}
#endif
#endif
