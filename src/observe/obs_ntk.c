/*
 * obs_ntk.c: how the empirical neural tangent kernel moves during training (science.md §3, lazy
 * versus rich). Every probe_every steps, on the probe batch (the first min(probe_size, 128, n)
 * training examples: the kernel is nk x nk, so 128 examples of 10 outputs are already 13 MB per
 * matrix), it computes Theta_t = lm_kernel_empirical with the optimizer's per-segment learning-rate
 * multipliers (lm_train_segment_rates: the SGD or Adam table by cfg->optim times the user's
 * layer_lr, exactly what the optimizer applies): the kernel that drives the run's
 * own dynamics, so a muP run measures its muP kernel. Theta_0 and its layer terms come from theta0
 * at the first call and stay in the observer's state.
 *
 * Records:
 *   ntk_change          ||Theta_t - Theta_0||_F / ||Theta_0||_F
 *   ntk_change.l        the same for layer l's term (l = 0 .. L-1: the dense layers, linear and
 *                       conv2d, of a layer graph; lm_kernel_empirical's layer_ntk)
 *   ntk_align           y^T K y / (||K||_F ||y||^2), K = Theta_t, y the probe targets as one
 *                       vector of nk entries (example-major, like the kernel's index)
 *   ntk_align_centered  the same for H K H and H y, H = I - 1 1^T / (nk) (Cortes et al. 2012)
 *   ntk_align.l         ntk_align of layer l's term alone (its weight and bias segments)
 *   ntk_share.l         layer l's share of the kernel's trace, tr(Theta_t^l) / tr(Theta_t)
 * The alignment of a sum is not the sum of alignments: with muP's rates the input layer can hold
 * almost all of the trace (x.x' carries d), so ntk_align follows that layer while the others
 * align; the per-layer records show which layer moved.
 * Alignment lies in [-1, 1] by Cauchy–Schwarz (K is positive semi-definite, so in fact [0, 1]).
 * Workload: 2 + 2 L kernels of nk x nk kept (Theta_0, Theta_t and their layer terms), at most
 * NTK_BUDGET bytes: a model with many outputs per example observes fewer probe examples, and one
 * whose single example's kernels exceed it (a transformer predicting 256 bytes at each of 16+
 * positions: 4096 outputs) records nothing (`lmech kernel --empirical` bounds its work by
 * --max-memory instead and computes such kernels block by block).
 */
#include "observe/internal.h"

#include "lmech/kernel.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define PROBE_MAX  128                 /* examples; bounds the nk x nk kernels kept (see above) */
#define NTK_BUDGET (256.0 * 1048576.0) /* bytes of kernels kept; the probe shrinks to fit */

typedef struct ntk_state {
    size_t n, nk;
    double lr[LM_MAX_TENSORS]; /* per segment (lm_mlp_n_segments: a graph's tensors) */
    double *k0, *l0;           /* Theta_0 [nk, nk], its layer terms [L][nk][nk] */
    double *k, *l;             /* Theta_t, likewise */
} ntk_state;

static void release(void *state) {
    ntk_state *s = state;
    if (!s)
        return;
    lm_free(s->k0);
    lm_free(s->l0);
    lm_free(s->k);
    lm_free(s->l);
    lm_free(s);
}

static size_t every(const lm_config *cfg) {
    return cfg->train.probe_every;
}

static double fro(const double *a, size_t cnt) {
    double s = 0;
    for (size_t i = 0; i < cnt; i++)
        s += a[i] * a[i];
    return sqrt(s);
}

static double rel_change(const double *a, const double *a0, size_t cnt) {
    double d = 0, s = 0;
    for (size_t i = 0; i < cnt; i++) {
        d += (a[i] - a0[i]) * (a[i] - a0[i]);
        s += a0[i] * a0[i];
    }
    return s > 0 ? sqrt(d / s) : LM_NAN;
}

/* y^T K y / (||K||_F ||y||^2); NaN when either norm is 0. */
static double align(const double *K, const double *y, size_t nk, double kf) {
    double q = 0, yy = 0;
    for (size_t i = 0; i < nk; i++) {
        double r = 0;
        for (size_t j = 0; j < nk; j++)
            r += K[i * nk + j] * y[j];
        q += y[i] * r;
        yy += y[i] * y[i];
    }
    return kf > 0 && yy > 0 ? q / (kf * yy) : LM_NAN;
}

/* Centered alignment: Kc = H K H (row and column means removed), yc = H y. Overwrites K. */
static double align_centered(double *K, const double *y, double *yc, size_t nk) {
    double ym = 0, gm = 0;
    for (size_t i = 0; i < nk; i++)
        ym += y[i];
    ym /= (double) nk;
    for (size_t i = 0; i < nk; i++)
        yc[i] = y[i] - ym;
    /* K symmetric: row means are column means */
    double *rm = yc + nk;
    for (size_t i = 0; i < nk; i++) {
        double s = 0;
        for (size_t j = 0; j < nk; j++)
            s += K[i * nk + j];
        rm[i] = s / (double) nk;
        gm += s;
    }
    gm /= (double) nk * (double) nk;
    for (size_t i = 0; i < nk; i++)
        for (size_t j = 0; j < nk; j++)
            K[i * nk + j] += gm - rm[i] - rm[j];
    return align(K, yc, nk, fro(K, nk * nk));
}

static lm_status setup(const lm_obs_ctx *c, ntk_state **out, lm_err *err) {
    const lm_mlp *m = c->m;
    size_t n = c->cfg->train.probe_size;
    if (n > PROBE_MAX)
        n = PROBE_MAX;
    if (n > c->train->n)
        n = c->train->n;
    const size_t L = m->n_layers;
    /* the 2 + 2L kernels of (n k)^2 doubles within NTK_BUDGET: fewer probe examples where the
     * outputs are many (a transformer's logits at every position); none fits: no records */
    while (n > 0 && (double) (2 + 2 * L) * (double) (n * m->d_out) * (double) (n * m->d_out) * 8.0 >
                        NTK_BUDGET)
        n--;
    const size_t nk = n * m->d_out;
    ntk_state *s = lm_calloc(1, sizeof *s);
    if (!s)
        LM_FAIL(err, LM_ENOMEM, "out of memory for the NTK observer");
    *out = s; /* owned by the observer slot from here: release frees it on any failure */
    s->n = n;
    s->nk = nk;
    if (n == 0)
        return LM_OK; /* no probe example fits the budget: nothing to record */
    size_t seg[LM_MAX_TENSORS + 1];
    lm_train_segment_rates(c->cfg, m, seg, s->lr); /* layer_lr included, as the optimizer */
    s->k0 = lm_malloc(nk * nk * sizeof(double));
    s->k = lm_malloc(nk * nk * sizeof(double));
    s->l0 = lm_malloc(L * nk * nk * sizeof(double));
    s->l = lm_malloc(L * nk * nk * sizeof(double));
    if (!s->k0 || !s->k || !s->l0 || !s->l)
        LM_FAIL(err, LM_ENOMEM,
                "out of memory for the NTK observer: %zu kernels of %zu x %zu (probe of %zu "
                "examples x %zu outputs)",
                2 + 2 * L, nk, nk, n, m->d_out);
    return lm_kernel_empirical(m, c->theta0, c->train->x, n, s->lr, 0, s->k0, s->l0, err);
}

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    const lm_mlp *m = c->m;
    ntk_state *s = *c->state;
    if (!s) {
        lm_status st = setup(c, &s, err);
        *c->state = s;
        LM_TRY(st);
    }
    if (s->n == 0)
        return LM_OK;
    const size_t nk = s->nk, nn = nk * nk, L = m->n_layers;
    if (memcmp(c->theta, c->theta0, m->n_params * sizeof *c->theta) == 0) {
        memcpy(s->k, s->k0, nn * sizeof *s->k);
        memcpy(s->l, s->l0, L * nn * sizeof *s->l);
    } else {
        LM_TRY(lm_kernel_empirical(m, c->theta, c->train->x, s->n, s->lr, 0, s->k, s->l, err));
    }
    LM_TRY(lm_obs_emit(sink, "ntk_change", rel_change(s->k, s->k0, nn), err));
    char name[48];
    for (size_t l = 0; l < L; l++) {
        snprintf(name, sizeof name, "ntk_change.%zu", l);
        LM_TRY(lm_obs_emit(sink, name, rel_change(s->l + l * nn, s->l0 + l * nn, nn), err));
    }
    const double *y = c->train->y;
    LM_TRY(lm_obs_emit(sink, "ntk_align", align(s->k, y, nk, fro(s->k, nn)), err));
    double tr = 0;
    for (size_t i = 0; i < nk; i++)
        tr += s->k[i * nk + i];
    for (size_t l = 0; l < L; l++) {
        const double *kl = s->l + l * nn;
        double trl = 0;
        for (size_t i = 0; i < nk; i++)
            trl += kl[i * nk + i];
        snprintf(name, sizeof name, "ntk_align.%zu", l);
        LM_TRY(lm_obs_emit(sink, name, align(kl, y, nk, fro(kl, nn)), err));
        snprintf(name, sizeof name, "ntk_share.%zu", l);
        LM_TRY(lm_obs_emit(sink, name, tr > 0 ? trl / tr : LM_NAN, err));
    }
    /* the centred kernel overwrites s->k (recomputed at the next call); yc and the row means
     * [2 nk] go to the context's [n_params] scratch when it is large enough, else a temporary */
    double *tmp = NULL, *yc = c->scratch;
    if (2 * nk > m->n_params) {
        tmp = lm_malloc(2 * nk * sizeof *tmp);
        if (!tmp)
            LM_FAIL(err, LM_ENOMEM, "out of memory for the NTK observer");
        yc = tmp;
    }
    double ac = align_centered(s->k, y, yc, nk);
    lm_free(tmp);
    LM_TRY(lm_obs_emit(sink, "ntk_align_centered", ac, err));
    return LM_OK;
}

const lm_observer lm__obs_ntk = {
    "ntk",
    "ntk_change, ntk_change.l (relative change of the empirical NTK and of layer l's term from "
    "init), ntk_align, ntk_align_centered (kernel-target alignment), ntk_align.l and ntk_share.l "
    "(layer l's term: its alignment and share of the trace) on the first min(probe_size, 128) "
    "training examples, every probe_every steps; the kernel uses the optimizer's per-layer "
    "learning-rate multipliers (muP runs measure their own kernel)",
    observe,
    every,
    release,
};
