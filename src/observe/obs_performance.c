/*
 * obs_performance.c: the performance layer: loss and accuracy on the whole training and test
 * sets (float64, evaluated in chunks of the observer workspace). Accuracy is NaN for regression
 * sets with several outputs (no classes to compare).
 */
#include "observe/internal.h"

#include <math.h>

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    double loss, acc;
    LM_TRY(
        lm_eval_dataset(c->m, c->ws, c->ws_n, c->cfg->loss, c->theta, c->train, &loss, &acc, err));
    LM_TRY(lm_obs_emit(sink, "train_loss", loss, err));
    LM_TRY(lm_obs_emit(sink, "train_acc", acc, err));
    if (c->test) {
        LM_TRY(lm_eval_dataset(c->m, c->ws, c->ws_n, c->cfg->loss, c->theta, c->test, &loss, &acc,
                               err));
        LM_TRY(lm_obs_emit(sink, "test_loss", loss, err));
        LM_TRY(lm_obs_emit(sink, "test_acc", acc, err));
    }
    return LM_OK;
}

const lm_observer lm__obs_performance = {
    "performance", "train_loss, train_acc, test_loss, test_acc on the whole sets", observe, NULL,
    NULL};
