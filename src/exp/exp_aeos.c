/*
 * exp_aeos.c: the adaptive edge of stability (Cohen et al. 2022; science.md §4). Full-batch Adam
 * (eta = 1e-3, betas (0.9, 0.999), eps 1e-8) on the EoS network of exp_eos.c; every 20 steps the
 * preconditioned sharpness lambda_max(P^-1/2 H P^-1/2) with P = (1 - b1^t) diag(sqrt(v_hat) + eps)
 * (src/observe/obs_sharpness.c). Prediction: it rises to and then equilibrates at
 * (2 + 2 b1) / ((1 - b1) eta) = 38 / eta.
 *
 * Pass (science.md §4): once it first reaches 0.95 of the threshold, at least 80 % of the later
 * measurements lie in [0.85, 1.15] of it (the band is wider than GD's because the
 * preconditioner itself drifts).
 */
#include "exp/internal.h"

#include <stdio.h>
#include <string.h>

static lm_status plan(int quick, lm_exp_plan *p, lm_err *err) {
    /* quick: the same 4000 steps (2000 were too few: Adam reaches the edge at ~1100 and its
     * preconditioned sharpness saws with a ~500-step period, 71 % in the band), with the
     * sharpness measured every 40 steps instead of 20: ~70 measurements after the edge */
    const char *sets[] = {"optimizer={\"name\": \"adam\", \"lr\": 0.001}", "steps=4000",
                          quick ? "sharpness_every=40" : "sharpness_every=20", "name=\"aeos\""};
    return lm_exp_plan_add(p, "adam eta=1e-3", lm__exp_eos_base, 4, sets, err);
}

#define CAP 4096

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    static int64_t st_[CAP];
    static double s[CAP];
    size_t n = 0;
    const int64_t run = ctx->n_runs ? ctx->run[0] : -1;
    if (run > 0)
        LM_TRY(lm_exp_series(ctx, run, "precond_sharpness", CAP, st_, s, &n, err));
    const double eta = 1e-3, b1 = 0.9, thr = (2.0 + 2.0 * b1) / ((1.0 - b1) * eta);
    size_t first = n, in_band = 0, after = 0;
    double smax = 0;
    for (size_t k = 0; k < n; k++) {
        smax = fmax(smax, s[k]);
        if (first == n && s[k] >= 0.95 * thr)
            first = k;
    }
    for (size_t k = first; k < n; k++) {
        after++;
        in_band += s[k] >= 0.85 * thr && s[k] <= 1.15 * thr;
    }
    char pred[192];
    snprintf(pred, sizeof pred, "preconditioned sharpness reaches (2+2b1)/((1-b1) eta) = %g", thr);
    lm_claim *c = lm_exp_claim(ctx, "adam: reaches 38/eta", pred, thr, n ? smax / thr : LM_NAN,
                               LM_NAN, 0.95, LM_INF, "max / threshold >= 0.95", 0.95,
                               "science.md §4 [C]: the prototype reached 38/eta at step ~900 of "
                               "4000; 5 % below allows for 20-step sampling of an oscillation");
    if (c) {
        c->n_runs = 1;
        c->runs[0] = run;
    }
    snprintf(pred, sizeof pred, "then stays at 38/eta = %g: in [0.85, 1.15] x threshold", thr);
    c = lm_exp_claim(ctx, "adam: equilibrates at 38/eta", pred, 1.0,
                     after >= 5 ? (double) in_band / (double) after : LM_NAN, LM_NAN, 0.8, 1.0,
                     "at least 80 % of later measurements in the band", 0.8,
                     "science.md §4 [C]: 92 % within 10 % and 95 % within 15 % in the prototype; "
                     "the band is wider than GD's because Adam's preconditioner drifts");
    if (c) {
        snprintf(c->detail, sizeof c->detail, "%zu measurements after step %lld", after,
                 first < n ? (long long) st_[first] : -1LL);
        c->n_runs = 1;
        c->runs[0] = run;
    }
    return LM_OK;
}

const lm_experiment lm__exp_aeos = {
    .name = "aeos",
    .summary =
        "adaptive edge of stability: full-batch Adam's preconditioned sharpness sits at 38/eta",
    .quick = "the sharpness every 40 instead of 20 of the 4000 Adam steps",
    .plan = plan,
    .analyse = analyse,
};
