/*
 * obs_wspec.c: the final-weights layer of a network over training (science.md §10;
 * docs/weights.md). Every weights_every steps, for every layer l = 1..L, the spectrum of the stored
 * weight matrix W_l [d_out, d_in] (the tensor a checkpoint holds, so the numbers are the ones
 * `lmech weights` gives on the run's checkpoint) by lm_wspec_compute:
 *   alpha.l         Clauset-Shalizi-Newman power-law exponent of the ESD's tail (NaN: fewer than
 *                   50 eigenvalues, WeightWatcher's minimum)
 *   alpha_stderr.l  its standard error (alpha - 1)/sqrt(n_tail)
 *   spikes.l        eigenvalues above the fitted Marchenko-Pastur bulk edge lambda_+
 *   stable_rank.l   ||W||_F^2 / ||W||_2^2
 *   log_norm.l      log10 ||W||_F
 * Workload: one SVD (dgesdd) of each weight matrix per call, e.g. ~0.1 s for 196-256-256-256-10.
 */
#include "lmech/weights.h"
#include "observe/internal.h"

#include <stdio.h>

static size_t every(const lm_config *cfg) {
    return cfg->train.weights_every;
}

static lm_status emit_l(lm_obs_sink *sink, const char *what, size_t l, double v, lm_err *err) {
    char name[48];
    snprintf(name, sizeof name, "%s.%zu", what, l);
    return lm_obs_emit(sink, name, v, err);
}

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    for (size_t l = 1; l <= c->m->n_layers; l++) {
        const lm_layer_info *li = &c->m->layer[l - 1];
        lm_wspec s;
        LM_TRY(lm_wspec_compute(c->theta + li->w_off, li->d_out, li->d_in, NULL, &s, err));
        lm_status st = emit_l(sink, "alpha", l, s.fitted ? s.alpha : LM_NAN, err);
        if (st == LM_OK)
            st = emit_l(sink, "alpha_stderr", l, s.fitted ? s.alpha_se : LM_NAN, err);
        if (st == LM_OK)
            st = emit_l(sink, "spikes", l, (double) s.n_spikes, err);
        if (st == LM_OK)
            st = emit_l(sink, "stable_rank", l, s.stable_rank, err);
        if (st == LM_OK)
            st = emit_l(sink, "log_norm", l, s.log_fro, err);
        lm_wspec_free(&s);
        LM_TRY(st);
    }
    return LM_OK;
}

const lm_observer lm__obs_wspec = {
    "wspec", "alpha.l, alpha_stderr.l, spikes.l, stable_rank.l, log_norm.l every weights_every",
    observe, every, NULL};
