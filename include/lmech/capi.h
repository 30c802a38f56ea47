/*
 * lmech/capi.h: flat entry points for foreign-function callers (the Python package's ctypes
 * binding, python/lmech/). Nothing here computes: every function calls the library's own
 * modules (train, store, model, curv, kernel) and packs the result as JSON text or plain arrays,
 * so that a caller needs neither a compiler nor mirrors of the library's larger structs.
 *
 * Conventions. Every function except getters and `_free` returns an lm_status and fills the
 * caller's lm_err (may be NULL) with the message naming what was wrong; outputs are untouched on
 * failure. JSON text returned through `char **out_json` is owned by the caller and freed with
 * lm_capi_string_free; arrays returned through `double **` and `int64_t **` are lm_malloc'ed and
 * freed with lm_free. Configs are passed as JSON text (the schema of docs/config.md), parsed by
 * lm_config_parse as `lmech train` parses its file. Numbers that are not finite are written as
 * JSON null (as the CLI's --json output).
 */
#ifndef LMECH_CAPI_H
#define LMECH_CAPI_H

#include "lmech/core.h"
#include "lmech/data.h"
#include "lmech/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Frees JSON text returned by an lm_capi_* function. NULL is a no-op. */
void lm_capi_string_free(char *s);

/* sizeof of a public struct by name ("lm_err", "lm_dataset", "lm_sim_opts", "lm_sim_result",
 * "lm_kernel_spec", "lm_wspec_opts", "lm_wspec", "lm_wspec_file", "lm_fit_opts",
 * "lm_fit_result"), or 0 for another name: a binding that mirrors a struct checks its layout's
 * size against the library it loaded. */
size_t lm_capi_sizeof(const char *type);

/* ---------------------------------------------------------------- training */

/* Trains the config once (lm_train_run), recording the run in the database at db (created if
 * needed). init (NULL: the seeded initialisation) is a safetensors checkpoint to start from;
 * save (NULL: none) receives the final parameters and is recorded as the run's checkpoint
 * artifact (not for a diverged run). stop (may be NULL) is lm_train_opts.stop: another thread
 * sets *stop non-zero to end the run `interrupted` (recorded, as the CLI's Ctrl-C).
 * *out_json = the object `lmech train --json` prints: {"run_id", "status", "steps", "wall_s",
 * "final": {"train_loss", "train_acc", "test_loss", "test_acc"}, ["diverged_step"],
 * ["message"], "db"}. Errors: the config's (LM_EFORMAT, LM_EINVAL, LM_ERANGE naming the key),
 * the data's, the database's, LM_ENOMEM. */
lm_status lm_capi_train(const char *config_json, const char *db, const char *init, const char *save,
                        volatile int *stop, char **out_json, lm_err *err);

/* ---------------------------------------------------------------- the run database */

/* Every run of the store, oldest first, as a JSON array of objects {"id", "hash", "status",
 * "seed", "created", "finished", "wall_s", "steps", "diverged_step", "threads",
 * "lmech_version", "blas", "host", "message"} (finished and wall_s null while running,
 * diverged_step -1 unless diverged). */
lm_status lm_capi_runs(lm_store *s, char **out_json, lm_err *err);

/* The canonical config JSON of run (LM_ENOTFOUND naming the id when there is none). */
lm_status lm_capi_run_config(lm_store *s, int64_t run, char **out_json, lm_err *err);

/* Every metric row of run in step order (lm_store_get_metrics): *n rows of steps [n], values [n]
 * (NaN where the database holds NULL) and which [n] (the row's index into *names_json, a JSON
 * array of the distinct metric names in order of first appearance). LM_ENOTFOUND for an unknown
 * run. A run without metrics gives n = 0, "[]" and NULL arrays. */
lm_status lm_capi_metrics(lm_store *s, int64_t run, char **names_json, size_t *n, int64_t **steps,
                          double **values, int64_t **which, lm_err *err);

/* The claims of the newest invocation of experiment (NULL: of every experiment, each its newest
 * invocation), as a JSON array of objects {"experiment", "invocation", "name", "predicted",
 * "predicted_value", "measured", "uncertainty", "tolerance", "tolerance_value", "lo", "hi",
 * "reason", "verdict", "detail", "runs"}. LM_ENOTFOUND when the named experiment was never run
 * in this database. */
lm_status lm_capi_claims(lm_store *s, const char *experiment, char **out_json, lm_err *err);

/* ---------------------------------------------------------------- a model and its parameters */

/* A config's network with one parameter vector and a float64 workspace that grows to the
 * largest batch seen. Calls on one handle must not run concurrently. */
typedef struct lm_capi_model lm_capi_model;

/* Builds the network of config_json with the parameters of the safetensors checkpoint (the
 * layout `lmech train --save` writes; NULL: the config's seeded initialisation,
 * lm_train_init_params), and sets the BLAS threads to the config's train.threads. */
lm_status lm_capi_model_load(const char *config_json, const char *safetensors, lm_capi_model **out,
                             lm_err *err);
void lm_capi_model_free(lm_capi_model *h);

/* Getters: parameter count, inputs and outputs per example, dense (linear/conv2d) layers. */
size_t lm_capi_model_n_params(const lm_capi_model *h);
size_t lm_capi_model_d_in(const lm_capi_model *h);
size_t lm_capi_model_d_out(const lm_capi_model *h);
size_t lm_capi_model_n_layers(const lm_capi_model *h);
/* The canonical JSON of the model's config (borrowed; lives as long as the handle). */
const char *lm_capi_model_config(const lm_capi_model *h);

/* The named parameter tensors in theta's order, as a JSON array of {"name", "offset", "shape"}
 * (PyTorch's state_dict names and shapes: the checkpoint's tensors). */
lm_status lm_capi_model_tensors(const lm_capi_model *h, char **out_json, lm_err *err);

/* Copies the parameters out to theta [n_params], or in from theta [n_params] (finite values;
 * LM_ENUMERIC naming the index otherwise). */
lm_status lm_capi_model_get_params(const lm_capi_model *h, double *theta, lm_err *err);
lm_status lm_capi_model_set_params(lm_capi_model *h, const double *theta, lm_err *err);

/* The config's data sets (lm_data_load with the config's seed): *train, and *test (NULL when the
 * config has no test set). Free each with lm_dataset_free. */
lm_status lm_capi_model_data(const lm_capi_model *h, lm_dataset **train, lm_dataset **test,
                             lm_err *err);

/* The network and its derivatives at the handle's parameters on x [n, d_in], y [n, d_out]
 * (row-major float64, n >= 1), with the config's loss: the outputs f [n, d_out]; the mean loss
 * and its gradient grad [n_params] (may be NULL); the Jacobian-vector product df [n, d_out] =
 * J v for v [n_params]; the exact Hessian-vector product hv [n_params] = H v of the loss
 * (the R-operator, lm_mlp_hvp_prepare + lm_mlp_hvp_apply). Outputs are overwritten. */
lm_status lm_capi_model_forward(lm_capi_model *h, const double *x, size_t n, double *f,
                                lm_err *err);
lm_status lm_capi_model_loss_grad(lm_capi_model *h, const double *x, const double *y, size_t n,
                                  double *loss, double *grad, lm_err *err);
/* Representation layer `layer`'s features h [n, lm_capi_model_layer_width(h, layer)] of x (as
 * `lmech features`, lm_mlp_features): layer 0 the inputs, 1 .. n_repr - 1 the hidden
 * post-activations, n_repr the outputs. LM_EINVAL naming the layer when it is above n_repr. */
size_t lm_capi_model_n_repr(const lm_capi_model *h);
size_t lm_capi_model_layer_width(const lm_capi_model *h, size_t layer);
lm_status lm_capi_model_features(lm_capi_model *h, const double *x, size_t n, size_t layer,
                                 double *out, lm_err *err);
lm_status lm_capi_model_jvp(lm_capi_model *h, const double *x, size_t n, const double *v,
                            double *df, lm_err *err);
lm_status lm_capi_model_hvp(lm_capi_model *h, const double *x, const double *y, size_t n,
                            const double *v, double *hv, lm_err *err);

/* The Hessian report of the loss at the handle's parameters on (x, y): lm_curv_spectrum_run
 * (curv.h) on the model's R-operator, with the options of `lmech hessian` as a JSON object (NULL
 * or "{}": defaults): "top", "smallest", "method" ("lanczos" or "dense"), "tol", "max_iter",
 * "seed" (default: the config's), "trace", "probes", "density", "slq_probes", "slq_steps",
 * "bins", "max_memory_mb". *out_json has the keys of `lmech hessian --json`. An unknown option or
 * a value out of range is LM_EINVAL naming it; a non-finite loss is LM_ENUMERIC. */
lm_status lm_capi_model_hessian(lm_capi_model *h, const double *x, const double *y, size_t n,
                                const char *opts_json, char **out_json, lm_err *err);

/* The empirical NTK (lm_kernel_empirical, every learning rate 1, as `lmech kernel --empirical`)
 * of the handle's network on x [n, d_in]: ntk [n k, n k] (k = d_out, index i*k + a) and, when
 * layer_ntk is not NULL, each dense layer's term [n_layers, n k, n k]. max_bytes bounds the work
 * buffer (0: none). */
lm_status lm_capi_model_ntk(lm_capi_model *h, const double *x, size_t n, size_t max_bytes,
                            double *ntk, double *layer_ntk, lm_err *err);

#ifdef __cplusplus
}
#endif
#endif
