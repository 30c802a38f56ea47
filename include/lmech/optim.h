/*
 * lmech/optim.h: optimizers and learning-rate schedules over flat parameter buffers.
 *
 * Update rules (g the gradient, lr_t = schedule(step) * lr * segment multiplier):
 *   sgd       theta -= lr_t (g + wd theta)
 *   momentum  v = mu v + (g + wd theta);  theta -= lr_t v                   (heavy ball, PyTorch)
 *   nesterov  v = mu v + (g + wd theta);  theta -= lr_t (g + wd theta + mu v)      (PyTorch)
 *   adam      g += wd theta; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *             theta -= lr_t (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 *   adamw     as adam without the coupled decay, then theta -= lr_t wd theta (decoupled)
 * "sgd" with momentum > 0 is the heavy-ball rule.
 *
 * Schedules (s = step counted from 0, T = total steps, w = warmup steps):
 *   constant  1
 *   warmup    min(1, (s+1)/w)
 *   cosine    warmup as above, then final + (1-final) * (1 + cos(pi (s-w)/(T-w))) / 2
 */
#ifndef LMECH_OPTIM_H
#define LMECH_OPTIM_H

#include "lmech/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lm_opt_kind {
    LM_OPT_SGD = 0,
    LM_OPT_MOMENTUM,
    LM_OPT_NESTEROV,
    LM_OPT_ADAM,
    LM_OPT_ADAMW
} lm_opt_kind;

typedef enum lm_sched { LM_SCHED_CONSTANT = 0, LM_SCHED_WARMUP, LM_SCHED_COSINE } lm_sched;

typedef struct lm_optim_spec {
    lm_opt_kind kind;     /* default sgd                         */
    double lr;            /* default 0.1                         */
    double momentum;      /* default 0 (0.9 for momentum/nesterov when not given) */
    double beta1, beta2;  /* default 0.9, 0.999                  */
    double eps;           /* default 1e-8                        */
    double weight_decay;  /* default 0                           */
    lm_sched schedule;    /* default constant                    */
    size_t warmup_steps;  /* default 0                           */
    double final_lr_frac; /* cosine floor as a fraction of lr; default 0 */
    double warmup_start;  /* warmup's lr at its start as a fraction of lr; default 0 (Goyal et
                           * al. 2017 ramp from the small-batch rate: 1/k of the scaled one) */
    size_t n_layer_lr;    /* user per-layer multipliers (optional), one per linear layer */
    double layer_lr[64];
} lm_optim_spec;

lm_optim_spec lm_optim_spec_default(void);
lm_status lm_opt_kind_parse(const char *s, lm_opt_kind *out, lm_err *err);
lm_status lm_sched_parse(const char *s, lm_sched *out, lm_err *err);
const char *lm_opt_kind_name(lm_opt_kind k);
const char *lm_sched_name(lm_sched s);
int lm_opt_is_adam(lm_opt_kind k); /* 1 for adam/adamw: selects the model's Adam LR table */

typedef struct lm_optim lm_optim;

/* Creates the optimizer state for p parameters in dtype dt. The parameters are split into
 * n_seg segments [seg_off[i], seg_off[i+1]) with learning-rate multipliers lr_mult[i], applied
 * as given (lm_train_segment_rates gives a run's: the parameterization's multipliers times the
 * user's layer_lr; spec->layer_lr is not read here). total_steps is used by the cosine
 * schedule. */
lm_status lm_optim_new(const lm_optim_spec *spec, size_t p, lm_dtype dt, size_t n_seg,
                       const size_t *seg_off, const double *lr_mult, size_t total_steps,
                       lm_optim **out, lm_err *err);
void lm_optim_free(lm_optim *o);

/* One update of theta (dtype of the optimizer) with gradient grad. step counts from 0. */
lm_status lm_optim_step(lm_optim *o, void *theta, const void *grad, size_t step, lm_err *err);
/* The schedule's learning rate (before segment multipliers) at step. */
double lm_optim_lr(const lm_optim *o, size_t step);
/* Adam's preconditioner diagonal P = (1 - b1^t) (sqrt(v_hat) + eps) after t steps (float64,
 * [p]); LM_EINVAL for non-Adam optimizers. Used for the preconditioned sharpness. */
lm_status lm_optim_adam_precond(const lm_optim *o, double *P, lm_err *err);

#ifdef __cplusplus
}
#endif
#endif
