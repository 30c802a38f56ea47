/*
 * obs_performance.c: the performance layer: loss and accuracy on the whole training and test
 * sets, evaluated in chunks of the observer workspace: float64 runs in float64, float32 runs in
 * float32 (the network the run trains, as PyTorch would report it; the float64 evaluation of the
 * same weights cost a float32 sweep of small runs a fifth of its time). Accuracy is NaN for
 * regression sets with several outputs (no classes to compare). A data-parallel run splits each
 * set over its ranks and sums (lm_reducer).
 */
#include "observe/internal.h"

#include <math.h>

static lm_status eval_rows(const lm_obs_ctx *c, int test, const lm_dataset *ds, size_t lo,
                           double *loss, double *acc, lm_err *err) {
    const lm_obs_f32 *f = c->f32;
    if (!f)
        return lm_eval_dataset(c->m, c->ws, c->ws_n, c->cfg->loss, c->theta, ds, loss, acc, err);
    const size_t d = c->m->d_in, k = c->m->d_out;
    return lm_eval_dataset_f32(
        c->m, f->ws, c->ws_n, c->cfg->loss, f->theta, (test ? f->test_x : f->train_x) + lo * d,
        (test ? f->test_y : f->train_y) + lo * k, ds, f->out, loss, acc, err);
}

/* Data-parallel runs (c->reduce): each rank evaluates its contiguous slice of the set, and the
 * sums over ranks of [loss x weight, weight, hits] give the whole set's loss and accuracy. */
static lm_status eval(const lm_obs_ctx *c, int test, double *loss, double *acc, lm_err *err) {
    const lm_dataset *ds = test ? c->test : c->train;
    if (!c->reduce)
        return eval_rows(c, test, ds, 0, loss, acc, err);
    const size_t k = c->m->d_out;
    size_t lo, hi;
    lm_train_slice(c->reduce, ds->n, &lo, &hi);
    lm_dataset part = *ds;
    part.n = hi - lo;
    part.x = ds->x + lo * ds->d;
    part.y = ds->y + lo * k;
    if (ds->labels)
        part.labels = ds->labels + lo * ds->positions;
    double b[3] = {0.0, 0.0, 0.0}, l, a;
    if (part.n > 0) {
        LM_TRY(eval_rows(c, test, &part, lo, &l, &a, err));
        const double w = lm_loss_weight(c->cfg->loss, part.y, part.n, k);
        b[0] = l * w;
        b[1] = w;
        b[2] = isnan(a) ? 0.0 : a * (double) part.n;
    }
    LM_TRY(c->reduce->sum(c->reduce->ud, b, 3, err));
    *loss = b[1] > 0 ? b[0] / b[1] : 0.0;
    *acc = (k == 1 || ds->labels) ? b[2] / (double) ds->n : LM_NAN;
    return LM_OK;
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
