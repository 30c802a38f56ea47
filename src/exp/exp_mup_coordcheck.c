/*
 * exp_mup_coordcheck.c: the muP coordinate check (Yang et al. 2022, TP-V; science.md §5
 * "Coordinate check"). A 196-n-n-10 ReLU network in SP and in muP (base width 64) takes 5
 * full-batch Adam steps at a large rate (2^-6) with cross-entropy on 256 Fashion-MNIST-196
 * images; the features observer (src/observe/obs_features.c) records RMS(h_t - h_0) on those
 * 256 probes after every step for the two hidden layers and the logits. In muP every layer's
 * update is Theta(1) in width, so log RMS(h_t - h_0) against log width is flat; in SP Adam's
 * width-independent per-coordinate steps make the logits' change grow like n.
 *
 * Pass (science.md §5): over widths 128-2048 (the prototype's fit range), the OLS slope of
 * log RMS(h_t - h_0) against log n, averaged over 3 seeds:
 *   muP |slope| <= 0.15 for all layers at t in {3, 4, 5} and for the hidden layers at every t;
 *   SP output slope >= 0.5 at every t.
 * Workload: 2 parameterizations x 6 widths x 3 seeds = 36 runs of 5 steps (the largest,
 * 196-2048-2048-10, has 4.6M parameters); quick: the same widths, 1 seed (no standard error).
 * An earlier quick variant stopped at 1024: its SP logit slope over 128-1024 fell to 0.43 by
 * t = 5 and failed where the full size passes; the 2048 runs are 5 steps each and cheap.
 */
#include "exp/internal.h"

#include <stdio.h>
#include <string.h>

static const char *BASE =
    "{\"name\": \"mup-coordcheck\", \"data\": {\"source\": \"fashion-mnist\", \"train_size\": 256,"
    "  \"test_size\": 0, \"pool\": 2, \"normalize\": \"standardize\"},"
    " \"model\": {\"widths\": [196, 64, 64, 10], \"activation\": \"relu\", \"base_width\": 64},"
    " \"loss\": \"ce\", \"optimizer\": {\"name\": \"adam\", \"lr\": 0.015625}, \"batch_size\": 0,"
    " \"steps\": 5, \"eval_every\": 5, \"probe_every\": 1, \"probe_size\": 256, \"threads\": 1}";

#define N_PARAM 2
#define N_LAYER 3 /* two hidden layers and the output */
#define N_STEP  5
#define MAX_W   6
#define MAX_S   3

static const char *PARAMS[N_PARAM] = {"sp", "mup"};
static const size_t WIDTHS[MAX_W] = {64, 128, 256, 512, 1024, 2048};

/* The sweep: widths WIDTHS[0..n_w), of which slopes use [fit_lo..n_w); seeds 0..n_s-1. */
static void sizes(int quick, size_t *n_w, size_t *fit_lo, size_t *n_s) {
    *n_w = 6;
    *fit_lo = 1; /* 128 and up: 64 is the base width, where SP and muP coincide */
    *n_s = quick ? 1 : 3;
}

/* Plan order: parameterization, seed, width. */
static size_t idx(int quick, size_t p, size_t s, size_t w) {
    size_t n_w, lo, n_s;
    sizes(quick, &n_w, &lo, &n_s);
    return (p * n_s + s) * n_w + w;
}

static lm_status plan(int quick, lm_exp_plan *pl, lm_err *err) {
    size_t n_w, lo, n_s;
    sizes(quick, &n_w, &lo, &n_s);
    for (size_t p = 0; p < N_PARAM; p++)
        for (size_t s = 0; s < n_s; s++)
            for (size_t w = 0; w < n_w; w++) {
                char widths[64], param[48], seed[32], label[96];
                snprintf(widths, sizeof widths, "model.widths=[196, %zu, %zu, 10]", WIDTHS[w],
                         WIDTHS[w]);
                snprintf(param, sizeof param, "model.parameterization=\"%s\"", PARAMS[p]);
                snprintf(seed, sizeof seed, "seed=%zu", s);
                snprintf(label, sizeof label, "%s n=%zu seed=%zu", PARAMS[p], WIDTHS[w], s);
                const char *sets[] = {widths, param, seed};
                LM_TRY(lm_exp_plan_add(pl, label, BASE, 3, sets, err));
            }
    return LM_OK;
}

/* OLS slope of y against x over n points (NaN when any point is not finite). */
static double ols_slope(size_t n, const double *x, const double *y) {
    double b;
    return lm__exp_fit_slope(n, x, y, &b, NULL) == n ? b : LM_NAN;
}

typedef struct cc {
    /* log RMS(h_t - h_0) [param][seed][width][layer][step-1] */
    double logd[N_PARAM][MAX_S][MAX_W][N_LAYER][N_STEP];
    /* slope mean and standard error over seeds [param][layer][step-1] */
    double slope[N_PARAM][N_LAYER][N_STEP], se[N_PARAM][N_LAYER][N_STEP];
} cc;

static lm_status measure(lm_exp_ctx *ctx, cc *d, lm_err *err) {
    size_t n_w, lo, n_s;
    sizes(ctx->quick, &n_w, &lo, &n_s);
    int64_t st[16];
    double v[16];
    char name[48];
    for (size_t p = 0; p < N_PARAM; p++)
        for (size_t s = 0; s < n_s; s++)
            for (size_t w = 0; w < n_w; w++) {
                const size_t i = idx(ctx->quick, p, s, w);
                const int64_t run = i < ctx->n_runs ? ctx->run[i] : -1;
                for (size_t l = 0; l < N_LAYER; l++) {
                    for (size_t t = 0; t < N_STEP; t++)
                        d->logd[p][s][w][l][t] = LM_NAN;
                    size_t n = 0;
                    snprintf(name, sizeof name, "act_delta_rms.%zu", l);
                    if (run > 0)
                        LM_TRY(lm_exp_series(ctx, run, name, 16, st, v, &n, err));
                    for (size_t k = 0; k < n; k++)
                        if (st[k] >= 1 && st[k] <= N_STEP && v[k] > 0)
                            d->logd[p][s][w][l][st[k] - 1] = log(v[k]);
                }
            }
    double x[MAX_W], y[MAX_W], sl[MAX_S];
    for (size_t w = lo; w < n_w; w++)
        x[w - lo] = log((double) WIDTHS[w]);
    for (size_t p = 0; p < N_PARAM; p++)
        for (size_t l = 0; l < N_LAYER; l++)
            for (size_t t = 0; t < N_STEP; t++) {
                double m = 0, q = 0;
                for (size_t s = 0; s < n_s; s++) {
                    for (size_t w = lo; w < n_w; w++)
                        y[w - lo] = d->logd[p][s][w][l][t];
                    sl[s] = ols_slope(n_w - lo, x, y);
                    m += sl[s];
                }
                m /= (double) n_s;
                for (size_t s = 0; s < n_s; s++)
                    q += (sl[s] - m) * (sl[s] - m);
                d->slope[p][l][t] = m;
                d->se[p][l][t] = n_s > 1 ? sqrt(q / (double) (n_s - 1) / (double) n_s) : LM_NAN;
            }
    return LM_OK;
}

/* The largest muP |slope| over layers [l0, l1) and steps t0..N_STEP-1 (0-based), its standard
 * error and where; NaN as soon as one slope could not be measured. */
static void worst_abs(const cc *d, size_t l0, size_t l1, size_t t0, double *worst, double *se,
                      size_t *wl, size_t *wt) {
    *worst = 0;
    *se = LM_NAN;
    *wl = *wt = 0;
    for (size_t l = l0; l < l1; l++)
        for (size_t t = t0; t < N_STEP; t++) {
            const double a = fabs(d->slope[1][l][t]);
            if (isnan(a) || a > *worst) {
                *worst = a;
                *se = d->se[1][l][t];
                *wl = l;
                *wt = t;
                if (isnan(a))
                    return;
            }
        }
}

/* Links every run of parameterization p to the claim (at most LM_CLAIM_MAX_RUNS). */
static void link_runs(const lm_exp_ctx *ctx, lm_claim *c, size_t p) {
    size_t n_w, lo, n_s;
    sizes(ctx->quick, &n_w, &lo, &n_s);
    if (!c)
        return;
    c->n_runs = 0;
    for (size_t s = 0; s < n_s; s++)
        for (size_t w = 0; w < n_w && c->n_runs < LM_CLAIM_MAX_RUNS; w++) {
            const size_t i = idx(ctx->quick, p, s, w);
            if (i < ctx->n_runs && ctx->run[i] > 0)
                c->runs[c->n_runs++] = ctx->run[i];
        }
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    cc *d = lm_malloc(sizeof *d);
    if (!d)
        LM_FAIL(err, LM_ENOMEM, "out of memory");
    lm_status st = measure(ctx, d, err);
    if (st != LM_OK) {
        lm_free(d);
        return st;
    }
    size_t n_w, lo, n_s;
    sizes(ctx->quick, &n_w, &lo, &n_s);
    const char *lname[N_LAYER] = {"h1", "h2", "f"};
    /* muP: all layers at t = 3..5 */
    double worst, worst_se;
    size_t wl, wt;
    worst_abs(d, 0, N_LAYER, 2, &worst, &worst_se, &wl, &wt);
    const char *reason =
        "science.md §5 [C] and §0: the NumPy prototype's muP slopes were within +-0.09 for "
        "t >= 3; 0.15 is the width-law tolerance of §0 (finite-width curvature and seed noise)";
    lm_claim *c =
        lm_exp_claim(ctx, "muP: updates width-independent (t = 3-5)",
                     "muP: RMS(h_t - h_0) ~ n^0 for h1, h2 and the logits at t = 3, 4, 5", 0.0,
                     worst, worst_se, 0.0, 0.15, "max |slope| <= 0.15", 0.15, reason);
    if (c) {
        snprintf(c->detail, sizeof c->detail,
                 "worst: %s at t = %zu, slope %+.3f; widths %zu-%zu, mean of %zu seeds", lname[wl],
                 wt + 1, d->slope[1][wl][wt], WIDTHS[lo], WIDTHS[n_w - 1], n_s);
        link_runs(ctx, c, 1);
    }
    /* muP: hidden layers at every t */
    worst_abs(d, 0, N_LAYER - 1, 0, &worst, &worst_se, &wl, &wt);
    c = lm_exp_claim(ctx, "muP: hidden updates width-independent (all t)",
                     "muP: RMS(h_t - h_0) ~ n^0 for h1 and h2 at every t = 1..5", 0.0, worst,
                     worst_se, 0.0, 0.15, "max |slope| <= 0.15", 0.15,
                     "science.md §5: the hidden layers' updates are Theta(1) from the first step; "
                     "only the logits carry a decaying init term (slope -0.32 at t = 1 in the "
                     "prototype); 0.15 is the width-law tolerance of §0");
    if (c) {
        snprintf(c->detail, sizeof c->detail, "worst: %s at t = %zu, slope %+.3f", lname[wl],
                 wt + 1, d->slope[1][wl][wt]);
        link_runs(ctx, c, 1);
    }
    /* SP: the logits' change grows with width */
    double lowest = LM_INF, lowest_se = LM_NAN;
    wt = 0;
    for (size_t t = 0; t < N_STEP; t++) {
        const double a = d->slope[0][N_LAYER - 1][t];
        if (isnan(a) || a < lowest) {
            lowest = a;
            lowest_se = d->se[0][N_LAYER - 1][t];
            wt = t;
            if (isnan(a))
                break;
        }
    }
    c = lm_exp_claim(ctx, "SP: logit updates blow up with width",
                     "SP with Adam: RMS(f_t - f_0) grows with n (slope +0.9 to +1.4 in the "
                     "prototype) at every t = 1..5",
                     1.0, lowest, lowest_se, 0.5, LM_INF, "min over t of the slope >= 0.5", 0.5,
                     "science.md §5 [C]: Adam's updates are O(1) per coordinate, so the readout "
                     "change sums n aligned terms; 0.5 sits well below the measured +0.9 and well "
                     "above muP's 0, so it separates the two");
    if (c) {
        snprintf(c->detail, sizeof c->detail,
                 "lowest at t = %zu; SP slopes h1/h2/f at t = 5: %+.2f %+.2f %+.2f", wt + 1,
                 d->slope[0][0][4], d->slope[0][1][4], d->slope[0][2][4]);
        link_runs(ctx, c, 0);
    }
    /* the figure: RMS(h_5 - h_0) against width, geometric mean over seeds */
    double data[MAX_W * 7];
    for (size_t w = 0; w < n_w; w++) {
        data[w * 7] = log2((double) WIDTHS[w]);
        for (size_t p = 0; p < N_PARAM; p++)
            for (size_t l = 0; l < N_LAYER; l++) {
                double m = 0;
                for (size_t s = 0; s < n_s; s++)
                    m += d->logd[p][s][w][l][N_STEP - 1];
                data[w * 7 + 1 + p * N_LAYER + l] = exp(m / (double) n_s);
            }
    }
    const char *cols[] = {"log2 width", "SP h1",  "SP h2",     "SP logits",
                          "muP h1",     "muP h2", "muP logits"};
    st = lm__exp_figure_lines(ctx, "mup-coordcheck", "RMS(h_5 - h_0) against width (5 Adam steps)",
                              "RMS(h_5 - h_0)", 1, 7, cols, n_w, data, err);
    lm_free(d);
    return st;
}

const lm_experiment lm__exp_mup_coordcheck = {
    .name = "mup-coordcheck",
    .summary =
        "muP coordinate check: per-layer feature updates are width-independent in muP, not in SP",
    .quick = "widths 64-2048, 1 seed (full: 3 seeds)",
    .plan = plan,
    .analyse = analyse,
};
