/*
 * obs_repr.c: the representation observables (science.md §9; docs/observables.md), every
 * train.repr_every steps:
 *   cka_init.l       l = 1..L: linear CKA (lm_similarity) between layer l's representations of
 *                    the probe batch (the first min(probe_size, n_train) training examples) at
 *                    theta and at theta0; 1 at step 0. NaN while a side is constant over the
 *                    probe batch (e.g. a zero readout at init), where CKA is undefined, or
 *                    not finite (a diverged run).
 *   nc1, nc2_equinorm, nc2_equinorm_w, nc2_equiangular, nc3, nc4
 *                    neural collapse (lm_neural_collapse) of the penultimate layer L-1 over the
 *                    first min(n_train, NC_CAP) training examples, with the classifier the
 *                    network applies: W = w_scale x W_L, b = b_scale x b_L. Only when L >= 2 and
 *                    the training targets are one-hot classes (d_out >= 2, every target row has
 *                    one 1 and zeros elsewhere): otherwise no NC names are emitted. When a class
 *                    has no example among those rows, or the features or weights are not finite
 *                    (a diverging run), the six values are NaN. Under model.center_output the
 *                    observers see the shifted targets y + F(w_0) (train.h), which are not
 *                    one-hot, so no NC is emitted: the applied classifier is then not W h + b.
 * Representations come from lm_mlp_features (the network's one forward pass). The theta0
 * features of the probe batch are computed at the first call and kept in the state.
 * Workload per call: one forward pass over the probe batch and one over the NC rows, L CKAs (p x p
 * products), one p x p eigendecomposition (p the penultimate width).
 */
#include "lmech/repr.h"
#include "observe/internal.h"

#include <math.h>
#include <stdio.h>

#define NC_CAP 5000 /* rows of the training set used for neural collapse */

typedef struct repr_state {
    size_t n;                  /* probe rows */
    size_t off[LM_MAX_LAYERS]; /* offset of layer l+1's block [n, width] in h0 */
    double *h0;                /* theta0 features of layers 1..L */
    double *h;                 /* [total]: every layer's representations at theta */
    int onehot;                /* targets are one-hot classes (and L >= 2) */
    size_t n_nc;               /* rows for NC */
    size_t *labels;            /* [n_nc] */
    double *hp;                /* [n_nc, penultimate width] */
    double *w, *b;             /* [C, p], [C] the applied classifier */
} repr_state;

static void release(void *state) {
    repr_state *s = state;
    if (!s)
        return;
    lm_free(s->h0);
    lm_free(s->h);
    lm_free(s->labels);
    lm_free(s->hp);
    lm_free(s->w);
    lm_free(s->b);
    lm_free(s);
}

static size_t every(const lm_config *cfg) {
    return cfg->train.repr_every;
}

/* 1 when every row of y [n, k] is one-hot (one 1, zeros elsewhere); labels receive the 1's. */
static int onehot_labels(const double *y, size_t n, size_t k, size_t *labels) {
    if (k < 2)
        return 0;
    for (size_t i = 0; i < n; i++) {
        size_t ones = 0;
        for (size_t j = 0; j < k; j++) {
            const double v = y[i * k + j];
            if (v == 1.0) {
                ones++;
                labels[i] = j;
            } else if (v != 0.0) {
                return 0;
            }
        }
        if (ones != 1)
            return 0;
    }
    return 1;
}

/* Neural collapse reads the readout (W, b) acting on the penultimate representation layer: the
 * dense chain's last layer, or a layer graph whose last entry is linear. */
static int linear_readout(const lm_mlp *m) {
    const lm_mlp_spec *s = &m->spec;
    return !m->graph ||
           (s->n_layer_specs > 0 && s->layers[s->n_layer_specs - 1].type == LM_LAYER_LINEAR &&
            m->n_layers > 0);
}

static int readout_bias(const lm_mlp *m) {
    for (size_t t = 0; t < m->n_tensors; t++)
        if (m->tensor[t].dense == m->n_layers - 1 && m->tensor[t].kind == LM_TENSOR_BIAS)
            return 1;
    return 0;
}

/* Layers 1..L of the probe batch at theta into buf (layer l at s->off[l - 1]): one forward pass. */
static lm_status layers_at(const lm_obs_ctx *c, const repr_state *s, const double *theta,
                           double *buf, lm_err *err) {
    double *h[LM_MAX_LAYERS + 1] = {0};
    for (size_t l = 1; l <= c->m->n_repr; l++)
        h[l] = buf + s->off[l - 1];
    return lm_mlp_features_layers(c->m, c->ws, theta, c->train->x, s->n, h, err);
}

static lm_status setup(const lm_obs_ctx *c, repr_state **out, lm_err *err) {
    const lm_mlp *m = c->m;
    const size_t L = m->n_repr;
    repr_state *s = lm_calloc(1, sizeof *s);
    if (!s)
        LM_FAIL(err, LM_ENOMEM, "out of memory for the repr observer");
    *c->state = s; /* released by the training loop, also on failure below */
    const size_t n_train = c->train->n, want = c->cfg->train.probe_size;
    s->n = want < n_train ? want : n_train;
    size_t total = 0;
    for (size_t l = 1; l <= L; l++) {
        const size_t w = lm_mlp_layer_width(m, l);
        s->off[l - 1] = total;
        total += s->n * w;
    }
    s->h0 = lm_malloc(total * sizeof(double));
    s->h = lm_malloc(total * sizeof(double));
    if (!s->h0 || !s->h)
        LM_FAIL(err, LM_ENOMEM, "out of memory for the repr observer (%zu probes, %zu values)",
                s->n, total);
    LM_TRY(layers_at(c, s, c->theta0, s->h0, err));
    if (L >= 2 && linear_readout(m)) {
        const size_t C = m->d_out, p = lm_mlp_layer_width(m, L - 1);
        s->n_nc = n_train < NC_CAP ? n_train : NC_CAP;
        s->labels = lm_malloc(n_train * sizeof(size_t));
        if (!s->labels)
            LM_FAIL(err, LM_ENOMEM, "out of memory for the repr observer's %zu labels", n_train);
        s->onehot = c->train->k == C && onehot_labels(c->train->y, n_train, C, s->labels);
        if (s->onehot) {
            s->hp = lm_malloc(s->n_nc * p * sizeof(double));
            s->w = lm_malloc(C * p * sizeof(double));
            s->b = lm_malloc(C * sizeof(double));
            if (!s->hp || !s->w || !s->b)
                LM_FAIL(err, LM_ENOMEM,
                        "out of memory for the repr observer's neural collapse (%zu x %zu)",
                        s->n_nc, p);
        }
    }
    *out = s;
    return LM_OK;
}

static lm_status emit_nc(const lm_obs_ctx *c, repr_state *s, lm_obs_sink *sink, lm_err *err) {
    const lm_mlp *m = c->m;
    const size_t L = m->n_repr, C = m->d_out, p = lm_mlp_layer_width(m, L - 1);
    const lm_layer_info *li = &m->layer[m->n_layers - 1];
    const int has_b = readout_bias(m);
    LM_TRY(lm_mlp_features(m, c->ws, c->theta, c->train->x, s->n_nc, L - 1, s->hp, err));
    for (size_t i = 0; i < C * p; i++)
        s->w[i] = li->w_scale * c->theta[li->w_off + i];
    for (size_t j = 0; j < C; j++)
        s->b[j] = has_b ? li->b_scale * c->theta[li->b_off + j] : 0.0;
    lm_nc nc = {LM_NAN, LM_NAN, LM_NAN, LM_NAN, LM_NAN, LM_NAN};
    int empty = 0;
    for (size_t k = 0; k < C && !empty; k++) {
        int seen = 0;
        for (size_t i = 0; i < s->n_nc && !seen; i++)
            seen = s->labels[i] == k;
        empty = !seen;
    }
    if (!empty) {
        /* non-finite features or weights (a diverging run): NaN, as for cka_init */
        lm_err e2 = {0};
        const lm_status st =
            lm_neural_collapse(s->hp, s->n_nc, p, s->labels, C, s->w, s->b, &nc, &e2);
        if (st == LM_ENUMERIC)
            nc = (lm_nc){LM_NAN, LM_NAN, LM_NAN, LM_NAN, LM_NAN, LM_NAN};
        else if (st != LM_OK)
            LM_FAIL(err, st, "repr observer: %s", e2.msg);
    }
    LM_TRY(lm_obs_emit(sink, "nc1", nc.nc1, err));
    LM_TRY(lm_obs_emit(sink, "nc2_equinorm", nc.nc2_equinorm, err));
    LM_TRY(lm_obs_emit(sink, "nc2_equinorm_w", nc.nc2_equinorm_w, err));
    LM_TRY(lm_obs_emit(sink, "nc2_equiangular", nc.nc2_equiangular, err));
    LM_TRY(lm_obs_emit(sink, "nc3", nc.nc3, err));
    return lm_obs_emit(sink, "nc4", nc.nc4, err);
}

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    const lm_mlp *m = c->m;
    repr_state *s = *c->state;
    if (!s)
        LM_TRY(setup(c, &s, err));
    char name[48];
    LM_TRY(layers_at(c, s, c->theta, s->h, err));
    for (size_t l = 1; l <= m->n_repr; l++) {
        const size_t w = lm_mlp_layer_width(m, l);
        lm_sim_result r;
        lm_err e2 = {0};
        double v = LM_NAN;
        /* a side constant over the probe batch (CKA undefined) is refused: NaN, not an error */
        const lm_status st = lm_similarity(LM_SIM_LINEAR_CKA, s->h + s->off[l - 1], s->n, w,
                                           s->h0 + s->off[l - 1], w, NULL, &r, &e2);
        if (st == LM_OK)
            v = r.value;
        else if (st != LM_EINVAL && st != LM_ENUMERIC) /* not a degenerate or diverged side */
            LM_FAIL(err, st, "repr observer, cka_init.%zu: %s", l, e2.msg);
        snprintf(name, sizeof name, "cka_init.%zu", l);
        LM_TRY(lm_obs_emit(sink, name, v, err));
    }
    if (s->onehot)
        LM_TRY(emit_nc(c, s, sink, err));
    return LM_OK;
}

const lm_observer lm__obs_repr = {
    "repr",
    "cka_init.l (linear CKA of layer l to its init on the probe batch); nc1, nc2_equinorm, "
    "nc2_equinorm_w, nc2_equiangular, nc3, nc4 (neural collapse of the penultimate layer, one-hot "
    "targets only); every repr_every steps",
    observe,
    every,
    release,
};
