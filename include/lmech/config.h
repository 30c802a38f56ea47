/*
 * lmech/config.h: the JSON run configuration, documented key by key in docs/config.md.
 *
 * Parsing is strict: an unknown key, a wrong type or an out-of-range value is refused with its
 * key path ("model.widths[2]: expected a positive integer, got -3"); a JSON syntax error gives
 * the file, line and column. `--set KEY=VALUE` overrides (dotted paths, VALUE parsed as JSON
 * when it parses, else taken as a string) are applied before validation.
 *
 * The canonical JSON (every key, defaults filled in, keys in a fixed order) is what the run
 * database records, and its SHA-256 is the run's identity hash.
 */
#ifndef LMECH_CONFIG_H
#define LMECH_CONFIG_H

#include "lmech/core.h"
#include "lmech/data.h"
#include "lmech/loss.h"
#include "lmech/model.h"
#include "lmech/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The dtype of the sharpness observer's Hessian-vector products (top-level "sharpness_dtype"). */
typedef enum lm_sharp_dtype {
    LM_SHARP_AUTO = 0, /* "auto": the run's dtype where the model has that R-operator: float32
                          runs of model.widths networks use float32, everything else float64 */
    LM_SHARP_F32,      /* "float32" (model.layers networks still use float64: no float32 HVP) */
    LM_SHARP_F64       /* "float64"                                                          */
} lm_sharp_dtype;

typedef struct lm_train_spec {
    size_t steps;           /* optimizer steps; 0 = derive from epochs                    */
    size_t epochs;          /* passes over the training set (used when steps is 0)         */
    size_t batch_size;      /* 0 = full batch (default 0)                                  */
    size_t eval_every;      /* record observables every this many steps (default 100)      */
    lm_dtype dtype;         /* default float64                                             */
    int threads;            /* BLAS threads, 0 = all cores (default 0)                     */
    size_t sharpness_every; /* 0 = off                                                      */
    lm_sharp_dtype sharpness_dtype; /* default auto                                      */
    size_t probe_every;   /* per-layer probe observables every this many steps; 0 = off  */
    size_t probe_size;    /* probe batch: the first probe_size training examples (256)   */
    size_t repr_every;    /* representation observables (CKA to init, neural collapse); 0 = off */
    size_t weights_every; /* weight-spectrum observables (alpha, spikes, stable rank); 0 = off  */
    size_t noise_every;   /* gradient noise scale B_simple on the probe batch; 0 = off          */
} lm_train_spec;

typedef struct lm_config {
    uint64_t seed; /* default 0 */
    lm_data_spec data;
    lm_mlp_spec model;
    /* model.center_output (default 0): the network's output is F(w) - F(w_0), F the usual output
     * (output_multiplier included) and w_0 the run's initial parameters (science.md §3's
     * h = alpha (f(w) - f(w_0))). The trainer realises it as a target shift, exact for the
     * mse losses (src/train/train.c); with loss ce the config is refused. Kept here, not in
     * lm_mlp_spec, because the model itself is unchanged: checkpoints hold plain parameters. */
    int center_output;
    lm_loss loss; /* default mse */
    lm_optim_spec optim;
    lm_train_spec train;
    char *json;    /* canonical JSON, owned           */
    char hash[65]; /* hex SHA-256 of json             */
    char *name;    /* run name ("" when not given), owned; part of the canonical JSON */
    char *notes;   /* free-form notes ("" when not given), owned; likewise           */
} lm_config;

/* Loads path, applies the n_sets "KEY=VALUE" overrides, validates. Errors name the file, and
 * the line and column or the key path; an error in a value that a --set wrote names that --set
 * instead of the file. Codes: LM_EIO (cannot open or read the file), LM_EFORMAT (JSON syntax
 * error, "cfg.json:3:17: ..."), LM_EINVAL (unknown key, wrong type, missing required key,
 * malformed --set, keys that contradict each other), LM_ERANGE (a number out of its range),
 * LM_ENOMEM. On failure *out is untouched. The result is freed with lm_config_free. */
lm_status lm_config_load(const char *path, size_t n_sets, const char *const *sets, lm_config **out,
                         lm_err *err);
/* The same from a buffer of len bytes (no NUL needed); name is used in messages (NULL:
 * "<config>"). */
lm_status lm_config_parse(const char *text, size_t len, const char *name, size_t n_sets,
                          const char *const *sets, lm_config **out, lm_err *err);
void lm_config_free(lm_config *c);

/* Hex SHA-256 of len bytes into hex[65]. */
void lm_sha256_hex(const void *data, size_t len, char hex[65]);

#ifdef __cplusplus
}
#endif
#endif
