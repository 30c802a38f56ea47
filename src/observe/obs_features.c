/*
 * obs_features.c: the representation layer on a fixed probe batch (science.md §3 "feature
 * change", §5 "coordinate check"). Every probe_every steps, on the first min(probe_size, n_train)
 * training examples, for every layer l = 0..L-1 (the hidden post-activations h_l; the last index
 * is the network output f):
 *   act_rms.l        RMS(h_t)                       (root mean square over examples and units)
 *   act_delta_rms.l  RMS(h_t - h_0)
 *   fchange.l        ||h_t - h_0||_F / ||h_0||_F    (NaN when h_0 = 0, e.g. a zero readout)
 * and the distance to the linearised model f_lin = f_0 + J(theta_0)(theta_t - theta_0), from one
 * Jacobian-vector product at theta_0 per call:
 *   lin_dist         RMS(f_t - f_lin)
 *   lin_dist_rel     ||f_t - f_lin||_F / ||f_t - f_0||_F   (NaN while f_t = f_0, e.g. step 0)
 *
 * The activations are the model's own forward pass (lm_mlp_forward, read back with
 * lm_mlp_ws_activation): there is one forward pass in lmech. h_0 and f_0 are computed at the
 * first call from ctx->theta0 and kept in the observer state.
 *
 * Workload: one forward pass and one JVP over the probe batch per call (~3x a forward), plus
 * n_probe * sum(widths) doubles of state (8 MB for 256 probes of a 196-2048-2048-10 net).
 */
#include "observe/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct feat_state {
    size_t n;                  /* probe examples */
    size_t off[LM_MAX_LAYERS]; /* offset of layer l's [n, d_out] block in h0 / h */
    size_t total;              /* sum of n * d_out over layers */
    double *h0, *h;            /* [total]: activations at theta0 and at theta */
    double *flin;              /* [n, d_out]: J(theta0)(theta - theta0) */
    lm_mlp_ws *ws;             /* float64 workspace of n examples for the JVP */
} feat_state;

static void release(void *state) {
    feat_state *s = state;
    if (!s)
        return;
    lm_free(s->h0);
    lm_free(s->h);
    lm_free(s->flin);
    lm_mlp_ws_free(s->ws);
    lm_free(s);
}

static size_t every(const lm_config *cfg) {
    return cfg->train.probe_every;
}

/* h [total] = every layer's post-activations (the output last) of theta on x [n, d_in]: one pass of
 * the model's own forward (lm_mlp_forward), each layer's activations copied out of the workspace.
 */
static lm_status forward_all(const lm_mlp *m, feat_state *s, const double *theta, const double *x,
                             double *h, lm_err *err) {
    LM_TRY(lm_mlp_forward(m, s->ws, theta, x, s->n, NULL, err));
    for (size_t l = 0; l < m->n_repr; l++)
        memcpy(h + s->off[l], lm_mlp_ws_activation(s->ws, l + 1),
               s->n * lm_mlp_layer_width(m, l + 1) * sizeof *h);
    return LM_OK;
}

static lm_status setup(const lm_obs_ctx *c, feat_state **out, lm_err *err) {
    const lm_mlp *m = c->m;
    feat_state *s = lm_calloc(1, sizeof *s);
    if (!s)
        LM_FAIL(err, LM_ENOMEM, "out of memory for the features observer");
    *c->state = s; /* released by the training loop, also on failure below */
    const size_t n_train = c->train->n, want = c->cfg->train.probe_size;
    s->n = want < n_train ? want : n_train;
    for (size_t l = 0; l < m->n_repr; l++) {
        s->off[l] = s->total;
        s->total += s->n * lm_mlp_layer_width(m, l + 1);
    }
    s->h0 = lm_malloc(s->total * sizeof(double));
    s->h = lm_malloc(s->total * sizeof(double));
    s->flin = lm_malloc(s->n * m->d_out * sizeof(double));
    if (!s->h0 || !s->h || !s->flin)
        LM_FAIL(err, LM_ENOMEM, "out of memory for the features observer (%zu probes, %zu values)",
                s->n, s->total);
    LM_TRY(lm_mlp_ws_new(m, s->n, LM_F64, &s->ws, err));
    LM_TRY(forward_all(m, s, c->theta0, c->train->x, s->h0, err));
    *out = s;
    return LM_OK;
}

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    const lm_mlp *m = c->m;
    const size_t L = m->n_repr, p = m->n_params;
    feat_state *s = *c->state;
    if (!s)
        LM_TRY(setup(c, &s, err));
    LM_TRY(forward_all(m, s, c->theta, c->train->x, s->h, err));
    char name[48];
    for (size_t l = 0; l < L; l++) {
        const size_t cnt = s->n * lm_mlp_layer_width(m, l + 1);
        const double *h = s->h + s->off[l], *h0 = s->h0 + s->off[l];
        double ss = 0.0, sd = 0.0, s0 = 0.0;
        for (size_t i = 0; i < cnt; i++) {
            const double d = h[i] - h0[i];
            ss += h[i] * h[i];
            sd += d * d;
            s0 += h0[i] * h0[i];
        }
        snprintf(name, sizeof name, "act_rms.%zu", l);
        LM_TRY(lm_obs_emit(sink, name, sqrt(ss / (double) cnt), err));
        snprintf(name, sizeof name, "act_delta_rms.%zu", l);
        LM_TRY(lm_obs_emit(sink, name, sqrt(sd / (double) cnt), err));
        snprintf(name, sizeof name, "fchange.%zu", l);
        LM_TRY(lm_obs_emit(sink, name, s0 > 0 ? sqrt(sd / s0) : LM_NAN, err));
    }
    /* f_lin - f_0 = J(theta0) (theta - theta0) */
    double *v = c->scratch;
    for (size_t i = 0; i < p; i++)
        v[i] = c->theta[i] - c->theta0[i];
    LM_TRY(lm_mlp_jvp(m, s->ws, c->theta0, c->train->x, s->n, v, s->flin, err));
    const size_t cnt = s->n * m->d_out;
    const double *f = s->h + s->off[L - 1], *f0 = s->h0 + s->off[L - 1];
    double sl = 0.0, sc = 0.0;
    for (size_t i = 0; i < cnt; i++) {
        const double dt = f[i] - f0[i], dl = dt - s->flin[i];
        sl += dl * dl;
        sc += dt * dt;
    }
    LM_TRY(lm_obs_emit(sink, "lin_dist", sqrt(sl / (double) cnt), err));
    LM_TRY(lm_obs_emit(sink, "lin_dist_rel", sc > 0 ? sqrt(sl / sc) : LM_NAN, err));
    return LM_OK;
}

const lm_observer lm__obs_features = {
    "features",
    "act_rms.l, act_delta_rms.l, fchange.l (probe-batch features, output last), lin_dist, "
    "lin_dist_rel (distance to the linearised model); every probe_every steps",
    observe,
    every,
    release,
};
