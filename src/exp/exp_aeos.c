/*
 * exp_aeos.c: the adaptive edge of stability (Cohen et al. 2022; science.md §4). Full-batch Adam
 * (eta = 1e-3, betas (0.9, 0.999), eps 1e-8) on the EoS network of exp_eos.c, over 4 seeds; every
 * 20 steps the preconditioned sharpness lambda_max(P^-1/2 H P^-1/2) with
 * P = (1 - b1^t) diag(sqrt(v_hat) + eps), recorded against its threshold as
 *     precond_sharpness_ratio = lambda_1(P^-1 H) (1 - b1) eta / (2 + 2 b1)
 * (src/observe/obs_sharpness.c). Prediction: the ratio rises to 1 (38/eta = 38000) and stays there.
 *
 * Claims, each judged on the mean over seeds with 2 standard errors (science.md §0):
 *   - reaches:      the seed's largest ratio >= 0.95;
 *   - equilibrates: of the seed's measurements from the first one at >= 0.95 on, the fraction in
 *                   [0.85, 1.15] >= 0.8 (science.md §4: the band is wider than GD's because the
 *                   preconditioner itself drifts).
 * The median ratio on the edge is a reported figure (no criterion was written for it).
 */
#include "exp/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_SEEDS 4
#define REACH   0.95 /* the edge is reached at 0.95 of the threshold */
#define BAND_LO 0.85
#define BAND_HI 1.15
#define MIN_AFTER                                                                                  \
    5 /* fewer measurements on the edge than this: no fraction (the seed is left out) */

static lm_status plan(int quick, lm_exp_plan *p, lm_err *err) {
    /* quick: the same 4000 Adam steps (Adam reaches the edge at ~1100 and its preconditioned
     * sharpness saws with a ~500-step period: 2000 steps gave 71 % in the band) on a smaller
     * problem, 500 images and 196-32-32-10, with the sharpness every 40 steps */
    for (int s = 0; s < N_SEEDS; s++) {
        char seed[32], label[64];
        snprintf(seed, sizeof seed, "seed=%d", s);
        snprintf(label, sizeof label, "adam eta=1e-3 seed=%d", s);
        const char *full[] = {"optimizer={\"name\": \"adam\", \"lr\": 0.001}", "steps=4000",
                              "sharpness_every=20", "name=\"aeos\"", seed};
        const char *small[] = {"optimizer={\"name\": \"adam\", \"lr\": 0.001}",
                               "steps=4000",
                               "sharpness_every=40",
                               "data.train_size=500",
                               "model.widths=[196, 32, 32, 10]",
                               "name=\"aeos\"",
                               seed};
        LM_TRY(quick ? lm_exp_plan_add(p, label, lm__exp_eos_base, 7, small, err)
                     : lm_exp_plan_add(p, label, lm__exp_eos_base, 5, full, err));
    }
    return LM_OK;
}

/* One seed's series, reduced. */
typedef struct aeos_seed {
    double max, frac, median; /* NaN when not measured */
    size_t n, after;
    int64_t first_step; /* the first measurement at >= REACH, -1: none */
} aeos_seed;

static lm_status reduce_seed(const int64_t *st, double *r, size_t n, aeos_seed *o, lm_err *err) {
    o->n = n;
    o->max = o->frac = o->median = LM_NAN;
    o->after = 0;
    o->first_step = -1;
    size_t first = n, in_band = 0;
    for (size_t k = 0; k < n; k++) {
        o->max = k ? fmax(o->max, r[k]) : r[k];
        if (first == n && r[k] >= REACH)
            first = k;
    }
    for (size_t k = first; k < n; k++)
        in_band += r[k] >= BAND_LO && r[k] <= BAND_HI;
    o->after = n - first;
    if (first < n)
        o->first_step = st[first];
    if (o->after >= MIN_AFTER) {
        o->frac = (double) in_band / (double) o->after;
        double *tail = lm_malloc(o->after * sizeof(double));
        if (!tail)
            return lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
        memcpy(tail, r + first, o->after * sizeof(double));
        o->median = lm__exp_median_sort(tail, o->after);
        lm_free(tail);
    }
    return LM_OK;
}

/* The seed-mean ratio at each measured step with 2 SE over the seeds that have it, beside the
 * predicted ratio 1. */
static lm_status figure(lm_exp_ctx *ctx, size_t ns, int64_t *const *st, double *const *r,
                        const size_t *n, lm_err *err) {
    size_t len = 0;
    for (size_t s = 0; s < ns; s++)
        len = n[s] > len ? n[s] : len;
    if (len == 0)
        return LM_OK;
    double *x = lm_malloc(len * sizeof(double)), *y = lm_malloc(len * sizeof(double));
    double *u = lm_malloc(len * sizeof(double)), *one = lm_malloc(len * sizeof(double));
    lm_status status = LM_OK;
    if (!x || !y || !u || !one)
        status = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    for (size_t k = 0; status == LM_OK && k < len; k++) {
        double v[N_SEEDS];
        x[k] = LM_NAN;
        for (size_t s = 0; s < ns; s++) {
            v[s] = k < n[s] ? r[s][k] : LM_NAN;
            if (k < n[s])
                x[k] = (double) st[s][k];
        }
        lm__exp_mean_u(ns, v, &y[k], &u[k]);
        one[k] = 1.0;
    }
    if (status == LM_OK) {
        char label[96];
        snprintf(label, sizeof label, "measured: mean over %zu seeds, 2 SE", ns);
        const lm__exp_fig_series se = {
            .label = label,
            .n = len,
            .x = x,
            .y = y,
            .u = u,
            .pred_label = "predicted: lambda_1(P^-1 H) = (2 + 2 b1) / ((1 - b1) eta), ratio 1",
            .n_pred = len,
            .px = x,
            .py = one};
        status = lm__exp_figure_law(
            ctx, "aeos", "Adam: the preconditioned sharpness against its threshold (eta = 1e-3)",
            "step", "lambda_1(P^-1 H) (1 - b1) eta / (2 + 2 b1)", 0, 0, 1, &se, err);
    }
    lm_free(x);
    lm_free(y);
    lm_free(u);
    lm_free(one);
    return status;
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    const size_t ns = ctx->n_runs < N_SEEDS ? ctx->n_runs : N_SEEDS;
    int64_t *st[N_SEEDS] = {0}, runs[N_SEEDS];
    double *r[N_SEEDS] = {0}, mx[N_SEEDS], fr[N_SEEDS], md[N_SEEDS];
    size_t n[N_SEEDS] = {0}, nr = 0;
    aeos_seed o[N_SEEDS];
    lm_status status = LM_OK;
    for (size_t s = 0; s < ns && status == LM_OK; s++) {
        memset(&o[s], 0, sizeof o[s]);
        mx[s] = fr[s] = md[s] = LM_NAN;
        o[s].max = o[s].frac = o[s].median = LM_NAN;
        o[s].first_step = -1;
        if (ctx->run[s] <= 0)
            continue; /* a failed run: its seed is left out */
        runs[nr++] = ctx->run[s];
        status = lm_exp_series_alloc(ctx, ctx->run[s], "precond_sharpness_ratio", &st[s], &r[s],
                                     &n[s], err);
        if (status == LM_OK)
            status = reduce_seed(st[s], r[s], n[s], &o[s], err);
        mx[s] = o[s].max;
        fr[s] = o[s].frac;
        md[s] = o[s].median;
    }
    if (status == LM_OK) {
        char detail[512], from[64];
        size_t len = 0;
        for (size_t s = 0; s < ns && len < sizeof detail; s++)
            len += (size_t) snprintf(detail + len, sizeof detail - len,
                                     "%sseed %zu: max %.3f, %zu of %zu measurements from step "
                                     "%lld on, %.1f %% in band, median %.3f",
                                     s ? "; " : "per seed: ", s, o[s].max, o[s].after, o[s].n,
                                     (long long) o[s].first_step, 100 * o[s].frac, o[s].median);
        double m, u;
        size_t k = lm__exp_mean_u(ns, mx, &m, &u);
        snprintf(from, sizeof from, "2 SE over %zu seeds", k);
        lm_exp_judge(ctx, &(lm_claim_spec){
                              .name = "adam: reaches 38/eta",
                              .predicted = "the preconditioned sharpness reaches the threshold "
                                           "(2 + 2 b1) / ((1 - b1) eta) = 38000: ratio 1",
                              .predicted_value = 1.0,
                              .measured = m,
                              .uncertainty = u,
                              .uncertainty_from = from,
                              .n_seeds = k,
                              .lo = REACH,
                              .hi = LM_INF,
                              .tolerance = "largest ratio >= 0.95 (mean over seeds)",
                              .tolerance_value = REACH,
                              .reason = "science.md §4 [C]: the prototype reached 38/eta at step "
                                        "~900 of 4000; 5 % below allows for sampling an "
                                        "oscillation every 20 steps",
                              .detail = detail,
                              .n_runs = nr,
                              .runs = runs,
                          });
        k = lm__exp_mean_u(ns, fr, &m, &u);
        snprintf(from, sizeof from, "2 SE over %zu seeds", k);
        lm_exp_judge(ctx, &(lm_claim_spec){
                              .name = "adam: equilibrates at 38/eta",
                              .predicted = "then stays at the threshold: ratio 1, every later "
                                           "measurement in [0.85, 1.15]",
                              .predicted_value = 1.0,
                              .measured = m,
                              .uncertainty = u,
                              .uncertainty_from = from,
                              .n_seeds = k,
                              .lo = 0.8,
                              .hi = LM_INF, /* a fraction cannot pass 1; m + u may */
                              .tolerance = "fraction in [0.85, 1.15] after reaching 0.95 >= 0.8 "
                                           "(mean over seeds)",
                              .tolerance_value = 0.8,
                              .reason = "science.md §4 [C]: 92 % within 10 % and 95 % within 15 % "
                                        "in the prototype; the band is wider than GD's because "
                                        "Adam's preconditioner drifts",
                              .detail = detail,
                              .n_runs = nr,
                              .runs = runs,
                          });
        k = lm__exp_mean_u(ns, md, &m, &u);
        snprintf(from, sizeof from, "2 SE over %zu seeds", k);
        lm_exp_judge(ctx, &(lm_claim_spec){
                              .name = "adam: median ratio on the edge",
                              .predicted = "ratio 1 (no criterion written: reported)",
                              .predicted_value = 1.0,
                              .measured = m,
                              .uncertainty = u,
                              .uncertainty_from = from,
                              .n_seeds = k,
                              .lo = LM_NAN,
                              .hi = LM_NAN,
                              .tolerance_value = LM_NAN,
                              .reason = "science.md §4 states the AEoS criterion as the fraction "
                                        "in band only; the median shows where in the band Adam "
                                        "sits",
                              .detail = detail,
                              .reported = 1,
                              .n_runs = nr,
                              .runs = runs,
                          });
        status = figure(ctx, ns, st, r, n, err);
    }
    for (size_t s = 0; s < ns; s++) {
        lm_free(st[s]);
        lm_free(r[s]);
    }
    return status;
}

const lm_experiment lm__exp_aeos = {
    .name = "aeos",
    .summary = "adaptive edge of stability: full-batch Adam's preconditioned sharpness sits at "
               "38/eta (4 seeds)",
    .quick = "500 images, 196-32-32-10, the sharpness every 40 of the 4000 Adam steps (4 seeds)",
    .plan = plan,
    .analyse = analyse,
};
