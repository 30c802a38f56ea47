/*
 * lmech/train.h: the training loop and its observers.
 *
 * lm_train_run trains one config once: it loads the data, builds and initialises the model (or
 * takes given parameters), runs full-batch GD or minibatch SGD with seeded shuffling for the
 * configured number of steps, calls the observers every eval_every steps (and at step 0 and at
 * the end), and records the run, its metrics and its final status in the store.
 *
 * model.center_output trains F(w) - F(w_0) (w_0 the run's initial parameters) by training F
 * against the shifted targets y + F(w_0) (mse losses only): observers see those shifted
 * targets, and theta_final / checkpoints hold the plain parameters.
 *
 * Divergence is a result: a non-finite loss ends the run with status `diverged` and the step is
 * recorded. A stop request (the CLI's SIGINT/SIGTERM handler sets *stop) ends it `interrupted`.
 * Any error after the run was recorded marks it `failed` with the message.
 *
 * Observers (src/observe/) measure the training state on one time axis. Each is a name and a
 * function that reads an lm_obs_ctx and emits named scalars; adding one is a new file in
 * src/observe/ plus one line in the registry there.
 */
#ifndef LMECH_TRAIN_H
#define LMECH_TRAIN_H

#include "lmech/config.h"
#include "lmech/data.h"
#include "lmech/model.h"
#include "lmech/optim.h"
#include "lmech/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Data-parallel training (`lmech train --mpi`, docs/mpi.md): a run on R processes, each holding
 * a contiguous slice of every minibatch (and of the full batch), whose partial sums are added by
 * `sum`. src/dist/ gives the MPI one (lm_dist_reducer); a test may give any other. With a reducer
 * the loop sums the slices' weighted gradients, losses and stop requests every step, the
 * performance observer its slices' losses and hits, and the sharpness observer its slices'
 * Hessian-vector products, so every rank holds the same parameters and metrics; the other
 * observers see the whole sets (each rank computes the same values). */
typedef struct lm_reducer {
    int rank, size; /* this process in [0, size) */
    /* buf [n] (overwritten) = the sum of every rank's buf, the same bits on every rank and, for
     * a fixed size, on every call; every rank calls it with the same n */
    lm_status (*sum)(void *ud, double *buf, size_t n, lm_err *err);
    void *ud;
} lm_reducer;

/* This rank's slice [*lo, *hi) of n items split in red->size contiguous slices whose sizes differ
 * by at most one (the first n % size slices one longer); [0, n) when red is NULL. */
void lm_train_slice(const lm_reducer *red, size_t n, size_t *lo, size_t *hi);

/* A float32 run's own view, for observers that measure the network the run trains (the
 * performance observer): the live float32 parameters, the sets converted to float32 once, and a
 * float32 workspace of ws_n examples. NULL in float64 runs. */
typedef struct lm_obs_f32 {
    const float *theta;
    const float *train_x, *train_y; /* [n, d], [n, k] */
    const float *test_x, *test_y;   /* NULL without a test set */
    lm_mlp_ws *ws;
    float *out; /* [ws_n, k] scratch for the outputs */
} lm_obs_f32;

/* What an observer sees. Everything is borrowed and read-only. theta and theta0 are float64
 * views (for float32 training, theta is converted before observers run). */
typedef struct lm_obs_ctx {
    const lm_config *cfg;
    const lm_mlp *m;
    const lm_dataset *train, *test; /* test may be NULL */
    const double *theta, *theta0;   /* [n_params] */
    size_t step;
    double batch_loss; /* loss of the last minibatch (NaN at step 0) */
    double grad_norm;  /* ||gradient|| of the last minibatch (NaN at step 0) */
    double lr;         /* scheduled learning rate at this step */
    lm_mlp_ws *ws;     /* float64 workspace of ws_n examples, free for use */
    size_t ws_n;
    double *scratch;          /* [n_params] float64 scratch, free for use */
    const lm_optim *opt;      /* the optimizer (Adam's preconditioner), read-only */
    void **state;             /* this observer's slot for state kept across calls: NULL at first;
                                 allocate with lm_malloc; the observer's release frees it */
    const lm_obs_f32 *f32;    /* float32 runs: their float32 view (else NULL) */
    const lm_reducer *reduce; /* data-parallel runs: the sum over ranks (else NULL) */
} lm_obs_ctx;

/* Emits one scalar. Names are stable identifiers: "train_loss", "wchange_fro.1", ... */
typedef struct lm_obs_sink lm_obs_sink;
lm_status lm_obs_emit(lm_obs_sink *sink, const char *name, double value, lm_err *err);

typedef struct lm_observer {
    const char *name; /* registry name */
    const char *doc;  /* one line: what it records */
    lm_status (*observe)(const lm_obs_ctx *ctx, lm_obs_sink *sink, lm_err *err);
    /* Its interval in steps for this config (0: never); NULL means every eval_every steps. Every
     * observer with a non-zero interval also runs at step 0 and at the last step. */
    size_t (*every)(const lm_config *cfg);
    /* Frees the state the observer kept in *ctx->state (NULL: it keeps none). */
    void (*release)(void *state);
} lm_observer;

#define LM_MAX_OBSERVERS 32

/* The registry: a NULL-terminated table of every observer (src/observe/registry.c). */
const lm_observer *const *lm_observers(void);

/* Loss and accuracy of theta on a whole dataset, in chunks of ws_n examples (float64). */
lm_status lm_eval_dataset(const lm_mlp *m, lm_mlp_ws *ws, size_t ws_n, lm_loss loss,
                          const double *theta, const lm_dataset *ds, double *loss_out,
                          double *acc_out, lm_err *err);

/* The same in float32 (ws made with LM_F32, out [ws_n, k] scratch): x [ds->n, d] and y [ds->n, k]
 * are ds's rows in float32; ds gives n, k and whether there are labels. Sums accumulate in
 * double. */
lm_status lm_eval_dataset_f32(const lm_mlp *m, lm_mlp_ws *ws, size_t ws_n, lm_loss loss,
                              const float *theta, const float *x, const float *y,
                              const lm_dataset *ds, float *out, double *loss_out, double *acc_out,
                              lm_err *err);

/* Progress callback: called about every 1% of the run and at the end. */
typedef void (*lm_progress_fn)(void *ud, size_t step, size_t total, double loss, double elapsed);

typedef struct lm_train_opts {
    lm_store *store;          /* may be NULL: nothing is recorded                */
    const double *theta_init; /* [n_params] start here instead of the seeded init */
    double *theta_final;      /* [n_params] receives the final parameters, or NULL */
    lm_progress_fn progress;
    void *progress_ud;
    volatile int *stop; /* set non-zero to stop the run (status interrupted) */
    /* Preloaded data (borrowed, read-only), or NULL: loaded from cfg->data. The caller vouches
     * that it is what lm_data_load(&cfg->data, cfg->seed) gives (a sweep's runs share one load). */
    const lm_dataset *train, *test;
    /* Their float32 copies (lm_dataset_to_f32; borrowed, optional, only with train/test): a
     * float32 run uses them instead of converting its own (a sweep converts once). */
    const lm_dataset_f32 *train32, *test32;
    /* Data-parallel training over reduce->size ranks (NULL: one process). Every rank calls
     * lm_train_run with the same config; each computes its slice and the sums make the ranks
     * agree. Give the store to one rank only. */
    const lm_reducer *reduce;
} lm_train_opts;

typedef struct lm_train_result {
    int64_t run_id; /* -1 without a store */
    lm_run_status status;
    size_t steps; /* optimizer steps taken */
    double wall_s;
    double train_loss, train_acc, test_loss, test_acc; /* final; NaN when not measured */
    int64_t diverged_step;                             /* -1 unless diverged          */
    char message[256];
    int setup_failed; /* the run failed before its first step; with a reducer, every rank then
                         returned (the ranks agree on it), so none waits in a sum */
} lm_train_result;

/* Trains cfg once. Returns LM_OK whenever the run reached an end status (finished, diverged,
 * interrupted) and fills *res; returns an error (and marks the run failed when it had been
 * recorded) when it could not run: data, shapes, memory, database. */
lm_status lm_train_run(const lm_config *cfg, const lm_train_opts *opts, lm_train_result *res,
                       lm_err *err);

/* The run's initial parameters theta [m->n_params] for cfg (m = lm_mlp_new(&cfg->model)):
 * lm_mlp_init for model.init "random"; for "aligned", lm_mlp_init_aligned with the modes U, V of
 * cfg's linear-modes data (lm_data_linear_modes, the same seed) and model.a0. Every place that
 * rebuilds a run's theta_0 from its config goes through here. */
lm_status lm_train_init_params(const lm_config *cfg, const lm_mlp *m, double *theta, lm_err *err);

/* The run's per-segment learning-rate multipliers: seg_off [lm_mlp_n_segments(m) + 1] and
 * rate [lm_mlp_n_segments(m)] = the parameterization's multiplier (lm_mlp_segments, the SGD or
 * the Adam table by cfg's optimizer) times the user's optimizer.layer_lr of the segment's layer
 * (lm_mlp_segment_layer). The one place layer_lr is applied: the optimizer, the sharpness
 * observer's rate and the NTK observer's kernel all use it. Returns the number of segments. */
size_t lm_train_segment_rates(const lm_config *cfg, const lm_mlp *m, size_t *seg_off, double *rate);

/* Loads the data and model of cfg and evaluates loss and gradient norm on the training set
 * (full batch, float64) at theta (or the seeded init when theta is NULL). With
 * model.center_output the output is F(theta) - F(w_0), w_0 the seeded init. */
lm_status lm_train_eval(const lm_config *cfg, const double *theta, double *loss, double *grad_norm,
                        size_t *n_params, lm_err *err);

#ifdef __cplusplus
}
#endif
#endif
