/*
 * obs_norms.c: the training process at a glance: the last minibatch's loss and gradient norm,
 * the parameter norm and the scheduled learning rate.
 */
#include "observe/internal.h"

#include <cblas.h>

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    LM_TRY(lm_obs_emit(sink, "batch_loss", c->batch_loss, err));
    LM_TRY(lm_obs_emit(sink, "grad_norm", c->grad_norm, err));
    LM_TRY(lm_obs_emit(sink, "param_norm", cblas_dnrm2((int) c->m->n_params, c->theta, 1), err));
    LM_TRY(lm_obs_emit(sink, "lr", c->lr, err));
    return LM_OK;
}

const lm_observer lm__obs_norms = {
    "norms", "batch_loss, grad_norm (last minibatch), param_norm, lr", observe, NULL, NULL};
