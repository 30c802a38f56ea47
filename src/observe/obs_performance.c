/*
 * obs_performance.c: the performance layer: loss and accuracy on the whole training and test
 * sets, evaluated in chunks of the observer workspace: float64 runs in float64, float32 runs in
 * float32 (the network the run trains, as PyTorch would report it; the float64 evaluation of the
 * same weights cost a float32 sweep of small runs a fifth of its time). Accuracy is NaN for
 * regression sets with several outputs (no classes to compare).
 */
#include "observe/internal.h"

#include <math.h>

static lm_status eval(const lm_obs_ctx *c, int test, double *loss, double *acc, lm_err *err) {
    const lm_dataset *ds = test ? c->test : c->train;
    const lm_obs_f32 *f = c->f32;
    if (!f)
        return lm_eval_dataset(c->m, c->ws, c->ws_n, c->cfg->loss, c->theta, ds, loss, acc, err);
    return lm_eval_dataset_f32(c->m, f->ws, c->ws_n, c->cfg->loss, f->theta,
                               test ? f->test_x : f->train_x, test ? f->test_y : f->train_y, ds,
                               f->out, loss, acc, err);
}

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    double loss, acc;
    LM_TRY(eval(c, 0, &loss, &acc, err));
    LM_TRY(lm_obs_emit(sink, "train_loss", loss, err));
    LM_TRY(lm_obs_emit(sink, "train_acc", acc, err));
    if (c->test) {
        LM_TRY(eval(c, 1, &loss, &acc, err));
        LM_TRY(lm_obs_emit(sink, "test_loss", loss, err));
        LM_TRY(lm_obs_emit(sink, "test_acc", acc, err));
    }
    return LM_OK;
}

const lm_observer lm__obs_performance = {
    "performance", "train_loss, train_acc, test_loss, test_acc on the whole sets", observe, NULL,
    NULL};
