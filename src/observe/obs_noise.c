/*
 * obs_noise.c: the gradient noise of the training process (McCandlish, Kaplan, Amodei 2018;
 * science.md §6). Every noise_every steps, on the probe batch (the first min(probe_size, n)
 * training examples), the exact per-example statistics of lm_noise_exact (src/theory/
 * noise_scale.c: one formula, one place):
 *   noise_scale     B_simple = tr(Sigma) / |G|^2, the batch size at which a minibatch gradient's
 *                   noise equals its signal (Inf when G = 0)
 *   grad_var_trace  tr(Sigma) = (1/n) sum_i |g_i - G|^2 (population normalisation)
 *   grad_sq         |G|^2, G the mean gradient over the probe batch
 * with g_i the gradient of the run's loss on example i at the current parameters. The probe
 * batch is fixed, so the series is a curve of the training state, not of the sampling.
 * Workload: about 2 n example-gradients per call (n = 256 examples of a 196-256-256-10 MLP:
 * ~0.1 s); lm_noise_exact allocates its own workspace, once per call, outside the step loop.
 */
#include "lmech/theory.h"
#include "observe/internal.h"

static size_t every(const lm_config *cfg) {
    return cfg->train.noise_every;
}

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    const size_t n =
        c->cfg->train.probe_size < c->train->n ? c->cfg->train.probe_size : c->train->n;
    lm_noise_stats s;
    lm_status st =
        lm_noise_exact(c->m, c->cfg->loss, c->theta, c->train->x, c->train->y, n, &s, err);
    if (st == LM_ENUMERIC) {
        /* A non-finite gradient: the run is blowing up, and its loss will end it as diverged.
         * A measurement that cannot be made is recorded as nan, not an error that fails the run
         * (as the sharpness observer does). */
        lm_err_clear(err);
        s.b_simple = s.tr_sigma = s.g2 = LM_NAN;
    } else if (st != LM_OK) {
        return st;
    }
    LM_TRY(lm_obs_emit(sink, "noise_scale", s.b_simple, err));
    LM_TRY(lm_obs_emit(sink, "grad_var_trace", s.tr_sigma, err));
    return lm_obs_emit(sink, "grad_sq", s.g2, err);
}

const lm_observer lm__obs_noise = {
    "noise",
    "noise_scale (B_simple = tr Sigma / |G|^2), grad_var_trace, grad_sq on the probe batch; every "
    "noise_every steps",
    observe,
    every,
    NULL,
};
