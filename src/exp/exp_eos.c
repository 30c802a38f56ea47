/*
 * exp_eos.c: the edge of stability (Cohen et al. 2021; science.md §4). Full-batch GD on
 * 196-64-64-10 tanh, 1000 Fashion-MNIST images pooled 2x2 and standardised, summed-class mse
 * (Cohen's convention), sharpness every 20 steps from warm-started Lanczos. Predictions: the
 * sharpness rises (progressive sharpening) until it reaches 2/eta, then hovers there while the
 * loss keeps falling, non-monotonically; a control rate whose 2/eta lies above the sharpening
 * never reaches it. Also: `catapult` (exp_catapult.c) uses the same network.
 *
 * Pass criteria (science.md §4, "EoS"): t* = the first measurement after step 100 with
 * S >= 0.95 * 2/eta exists; S(t*)/S(100) >= 1.2; at least 80 % of later measurements have
 * S eta/2 in [0.9, 1.1], with median in [0.97, 1.10]; at least 10 % of 20-step intervals rise,
 * yet L_end <= 0.5 L(t*). Control: max S eta/2 < 1.
 */
#include "exp/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *lm__exp_eos_base =
    "{\"seed\": 0, \"data\": {\"source\": \"fashion-mnist\", \"train_size\": 1000,"
    "  \"test_size\": 0, \"pool\": 2, \"normalize\": \"standardize\"},"
    " \"model\": {\"widths\": [196, 64, 64, 10], \"activation\": \"tanh\"},"
    " \"loss\": \"mse\", \"optimizer\": {\"name\": \"sgd\", \"lr\": 0.1}, \"batch_size\": 0,"
    " \"steps\": 6000, \"eval_every\": 20, \"sharpness_every\": 20, \"threads\": 1}";

static lm_status plan(int quick, lm_exp_plan *p, lm_err *err) {
    /* full: two EoS rates and the control, 6000 steps (science.md's setup); quick: one EoS rate
     * for 3000 steps and the control for 1000 (it cannot reach 2/eta = 50 from S ~ 15-36) */
    const char *rates[] = {"0.1", "0.08"};
    char lr[64], steps[32];
    const size_t n_eos = quick ? 1 : 2;
    for (size_t i = 0; i < n_eos; i++) {
        snprintf(lr, sizeof lr, "optimizer.lr=%s", rates[i]);
        snprintf(steps, sizeof steps, "steps=%d", quick ? 3000 : 6000);
        const char *sets[] = {lr, steps, "name=\"eos\""};
        char label[64];
        snprintf(label, sizeof label, "eta=%s", rates[i]);
        LM_TRY(lm_exp_plan_add(p, label, lm__exp_eos_base, 3, sets, err));
    }
    snprintf(steps, sizeof steps, "steps=%d", quick ? 1000 : 6000);
    const char *sets[] = {"optimizer.lr=0.04", steps, "name=\"eos\""};
    return lm_exp_plan_add(p, "control eta=0.04", lm__exp_eos_base, 3, sets, err);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

#define CAP 4096

typedef struct series2 {
    int64_t st[CAP], lt[CAP];
    double s[CAP], l[CAP];
    size_t ns, nl;
} series2;

static void link_run(lm_claim *c, int64_t run) {
    if (c) {
        c->n_runs = 1;
        c->runs[0] = run;
    }
}

static lm_status judge_eos(lm_exp_ctx *ctx, size_t i, double eta, series2 *d, lm_err *err) {
    const int64_t run = ctx->run[i];
    char name[96], pred[192];
    const double thr = 2.0 / eta;
    LM_TRY(lm_exp_series(ctx, run, "sharpness", CAP, d->st, d->s, &d->ns, err));
    LM_TRY(lm_exp_series(ctx, run, "train_loss", CAP, d->lt, d->l, &d->nl, err));
    /* S(100) and t* */
    size_t i100 = d->ns, istar = d->ns;
    for (size_t k = 0; k < d->ns; k++) {
        if (i100 == d->ns && d->st[k] >= 100)
            i100 = k;
        if (istar == d->ns && d->st[k] > 100 && d->s[k] >= 0.95 * thr)
            istar = k;
    }
    double smax = 0;
    for (size_t k = i100; k < d->ns; k++)
        smax = fmax(smax, d->s[k]);
    snprintf(name, sizeof name, "eta=%g: reaches 2/eta", eta);
    snprintf(pred, sizeof pred, "sharpness rises to 2/eta = %g (max S eta/2 >= 0.95)", thr);
    link_run(lm_exp_claim(ctx, name, pred, 1.0, i100 < d->ns ? smax / thr : LM_NAN, LM_NAN, 0.95,
                          LM_INF, "max after step 100 of S eta/2 >= 0.95", 0.95,
                          "science.md §4: t* is the first measurement after step 100 with "
                          "S >= 0.95 * 2/eta; 5 % below 2/eta allows for the 20-step sampling "
                          "of an oscillating sharpness"),
             run);
    const int have = istar < d->ns && i100 < d->ns;
    snprintf(name, sizeof name, "eta=%g: progressive sharpening", eta);
    lm_claim *ps = lm_exp_claim(
        ctx, name, "S(t*) / S(100) >= 1.2 (sharpness rises before the edge)", LM_NAN,
        have ? d->s[istar] / d->s[i100] : LM_NAN, LM_NAN, 1.2, LM_INF, "ratio >= 1.2", 1.2,
        "science.md §4 [C]: after the catapult S(100) ~ 14-17 and the edge "
        "is 20, so a real rise is >= 1.2; smaller ratios would mean the run "
        "started at the edge rather than sharpened to it");
    if (ps && have) {
        /* context for the verdict (docs/experiments/eos.md): S(t*) is ~0.95-1.0 2/eta by
         * construction, so the ratio mostly says where the catapult landed; the rise itself runs
         * from the post-catapult minimum to the peak before the first drop */
        size_t kmin = i100, kpk = istar;
        for (size_t k = i100; k <= istar; k++)
            kmin = d->s[k] < d->s[kmin] ? k : kmin;
        while (kpk + 1 < d->ns && d->s[kpk + 1] >= d->s[kpk])
            kpk++;
        snprintf(ps->detail, sizeof ps->detail,
                 "S(100) = %.4g; t* = step %lld, S(t*) = %.4g; post-catapult minimum %.4g at step "
                 "%lld; peak before the first drop %.4g at step %lld (%.3gx the minimum)",
                 d->s[i100], (long long) d->st[istar], d->s[istar], d->s[kmin],
                 (long long) d->st[kmin], d->s[kpk], (long long) d->st[kpk],
                 d->s[kpk] / d->s[kmin]);
    }
    link_run(ps, run);
    /* the band after t* */
    double ratio[CAP];
    size_t n_after = 0, in_band = 0;
    for (size_t k = have ? istar : d->ns; k < d->ns; k++) {
        ratio[n_after] = d->s[k] / thr;
        in_band += ratio[n_after] >= 0.9 && ratio[n_after] <= 1.1;
        n_after++;
    }
    snprintf(name, sizeof name, "eta=%g: sharpness at 2/eta", eta);
    snprintf(pred, sizeof pred, "after t*, S eta/2 stays in [0.9, 1.1] (S ~ %g)", thr);
    link_run(lm_exp_claim(ctx, name, pred, 1.0,
                          n_after >= 5 ? (double) in_band / (double) n_after : LM_NAN, LM_NAN, 0.8,
                          1.0, "at least 80 % of the measurements in the band", 0.8,
                          "science.md §4 [C]: the NumPy prototype had 98.5 % in [0.9, 1.1]; 80 % "
                          "leaves room for excursions after the catapult and at rare spikes"),
             run);
    double median = LM_NAN;
    if (n_after >= 5) {
        qsort(ratio, n_after, sizeof *ratio, cmp_double);
        median =
            n_after % 2 ? ratio[n_after / 2] : 0.5 * (ratio[n_after / 2 - 1] + ratio[n_after / 2]);
    }
    snprintf(name, sizeof name, "eta=%g: median at 2/eta", eta);
    lm_claim *c = lm_exp_claim(ctx, name, "median of S eta/2 after t* = 1", 1.0, median, LM_NAN,
                               0.97, 1.10, "median in [0.97, 1.10]", 0.1,
                               "science.md §4 [C]: measured mean 1.009; GD sits at or just above "
                               "2/eta, hence the asymmetric band");
    if (c)
        snprintf(c->detail, sizeof c->detail, "%zu measurements after t* = step %lld", n_after,
                 have ? (long long) d->st[istar] : -1LL);
    link_run(c, run);
    /* the loss: non-monotone, yet falling */
    size_t il = d->nl, rises = 0, intervals = 0;
    for (size_t k = 0; k < d->nl; k++)
        if (have && il == d->nl && d->lt[k] >= d->st[istar])
            il = k;
    for (size_t k = il + 1; k < d->nl; k++) {
        intervals++;
        rises += d->l[k] > d->l[k - 1];
    }
    snprintf(name, sizeof name, "eta=%g: non-monotone loss", eta);
    link_run(lm_exp_claim(ctx, name, "the loss rises in some 20-step intervals after t*", LM_NAN,
                          intervals >= 5 ? (double) rises / (double) intervals : LM_NAN, LM_NAN,
                          0.1, 1.0, "at least 10 % of intervals rise", 0.1,
                          "science.md §4 [C]: 40 % rose in the prototype; gradient flow would "
                          "give 0 %, so 10 % separates the regimes with margin"),
             run);
    snprintf(name, sizeof name, "eta=%g: loss still falls", eta);
    link_run(lm_exp_claim(ctx, name, "L_end <= 0.5 L(t*): training progresses at the edge", 0.5,
                          il < d->nl ? d->l[d->nl - 1] / d->l[il] : LM_NAN, LM_NAN, 0.0, 0.5,
                          "ratio <= 0.5", 0.5,
                          "science.md §4 [C]: the loss fell 0.097 -> 0.014 in the prototype's "
                          "6000 steps; halving is the weakest statement that it keeps falling"),
             run);
    return LM_OK;
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    series2 *d = lm_malloc(sizeof *d);
    if (!d)
        LM_FAIL(err, LM_ENOMEM, "out of memory");
    lm_status st = LM_OK;
    const size_t n = ctx->n_runs;
    for (size_t i = 0; st == LM_OK && i + 1 < n; i++) {
        double eta = atof(ctx->label[i] + 4); /* "eta=0.1" */
        if (ctx->run[i] <= 0) {
            lm_exp_claim(ctx, "reaches 2/eta", "sharpness reaches 2/eta", 1.0, LM_NAN, LM_NAN, 0, 0,
                         "", LM_NAN, "the run failed: nothing to measure");
            continue;
        }
        st = judge_eos(ctx, i, eta, d, err);
    }
    if (st == LM_OK && n > 0) {
        const int64_t run = ctx->run[n - 1];
        double smax = LM_NAN;
        if (run > 0) {
            st = lm_exp_series(ctx, run, "sharpness", CAP, d->st, d->s, &d->ns, err);
            smax = 0;
            for (size_t k = 0; st == LM_OK && k < d->ns; k++)
                smax = fmax(smax, d->s[k]);
        }
        const double thr = 2.0 / 0.04;
        lm_claim *c = lm_exp_claim(
            ctx, "control eta=0.04: below 2/eta", "max S eta/2 < 1: 2/eta = 50 is never reached",
            1.0, smax / thr, LM_NAN, 0.0, 1.0 - 1e-12, "max S eta/2 < 1", 1.0,
            "science.md §4 [C]: at eta = 0.04 the sharpness climbed 20 -> 36 in 6000 steps, "
            "below 50; reaching it would contradict the sharpening rate seen at eta = 0.1");
        link_run(c, run);
    }
    lm_free(d);
    return st;
}

const lm_experiment lm__exp_eos = {
    .name = "eos",
    .summary =
        "edge of stability: full-batch GD sharpens to 2/eta and stays there; a control never does",
    .quick = "one EoS rate for 3000 steps, control for 1000 (full: eta 0.1 and 0.08, 6000 steps)",
    .plan = plan,
    .analyse = analyse,
};
