/*
 * lmech/exp.h: falsifiable experiments. An experiment is a named recipe with two functions:
 *
 *   plan     the runs it needs (configs as JSON text, each with a label), in a full or a
 *            --quick variant;
 *   analyse  reads the finished runs back from the store (never in-memory state) and judges
 *            claims: prediction, measurement with its uncertainty, tolerance, the reason for the
 *            tolerance, and a verdict pass / fail / inconclusive.
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

#define LM_EXP_MAX_RUNS 512

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
    lm_claim claims[64];
} lm_exp_ctx;

/* Adds a claim and judges it: verdict pass when lo <= measured <= hi, fail otherwise,
 * inconclusive when measured is NaN. predicted/tolerance/reason are printf-free strings. */
lm_claim *lm_exp_claim(lm_exp_ctx *ctx, const char *name, const char *predicted,
                       double predicted_value, double measured, double uncertainty, double lo,
                       double hi, const char *tolerance, double tolerance_value,
                       const char *reason);

/* Loads run `run`'s config (from the store) and final parameters (the checkpoint artifact).
 * *cfg and *theta are owned by the caller (lm_config_free, lm_free). */
lm_status lm_exp_load_run(const lm_exp_ctx *ctx, int64_t run, lm_config **cfg, double **theta,
                          lm_err *err);

/* Calls fn for each metric `name` of run, in step order. */
lm_status lm_exp_series(const lm_exp_ctx *ctx, int64_t run, const char *name, size_t cap,
                        int64_t *steps, double *values, size_t *n, lm_err *err);

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
} lm_exp_result;

/* Runs an experiment end to end (plan, train or reuse, analyse, record). Analysis of a sweep in
 * which some runs failed still happens: claims that need them are inconclusive. */
lm_status lm_exp_run(const lm_experiment *e, const lm_exp_opts *opts, lm_exp_result *res,
                     lm_err *err);
void lm_exp_result_clear(lm_exp_result *res);

#ifdef __cplusplus
}
#endif
#endif
