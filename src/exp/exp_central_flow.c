/*
 * exp_central_flow.c: the one-eigenvalue central flow beside GD (science.md §4, Cohen et al.
 * ICLR 2025), over 4 seeds. Starting point of each seed: the EoS network after its 200-step
 * catapult at eta = 0.1 (seed 0 is the `catapult` experiment's run, reused when present), where
 * the sharpness is below 2/eta and sharpens back to it. From there, in float64 on the full
 * training set: GD at eta (the measurement), gradient flow (Euler, eta/4 substeps) and the
 * central flow (src/theory/central_flow.c, the prediction).
 *
 * Claims (science.md §4, marked uncalibrated there), each on the mean over seeds with 2 SE:
 *   - over the EoS phase (from the step the flow reaches the edge), the mean relative gap between
 *     GD's 20-step moving-average loss and the flow's predicted time-averaged loss is <= 0.10;
 *   - at the end, ||w_GD - w_CF|| <= 0.25 ||w_GD - w_GF||: the central flow tracks GD far better
 *     than gradient flow does.
 *
 * The measurement of one seed (lm__exp_cf_measure) and the judgement over seeds
 * (lm__exp_cf_judge) are apart so that tests/exp/test_central_flow_exp.c can run them on small
 * problems, and substitute gradient flow for the central flow (a negative control).
 */
#include "exp/internal.h"

#include "lmech/theory.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

#define N_SEEDS 4
#define ETA     0.1
#define WINDOW  20 /* science.md §4: GD's loss is averaged over 20 steps */
#define FIG_COLS                                                                                   \
    5 /* step, GD loss, its 20-step average, the flow's L_bar, gradient flow's loss                \
       */

/* One seed, measured from theta0 over T steps at rate eta (exposed for the tests; no header):
 * *gap = the mean over the EoS phase of |avg_GD - L_bar| / avg_GD (NaN with fewer than 10 steps
 * compared), *ratio = ||w_GD - w_CF|| / ||w_GD - w_GF|| at the end (NaN when the flow never
 * reaches the edge: it is then GD's own Euler map), *active_from = the first step of the flow on
 * the edge (-1: never). fig (NULL or [(T + 1) * FIG_COLS]) gets the curves.
 * substitute_gf: a negative control, gradient flow in place of the central flow (its loss for
 * L_bar, its end point for w_CF, compared from step 0). */
lm_status lm__exp_cf_measure(const lm_mlp *m, lm_loss loss, const lm_dataset *d,
                             const double *theta0, double eta, size_t T, int substitute_gf,
                             double *gap, double *ratio, long *active_from, double *fig,
                             lm_err *err);
/* The claims over ns seeds: per-seed gaps, ratios and active_from, the runs judged on. */
void lm__exp_cf_judge(lm_exp_ctx *ctx, size_t ns, const double *gap, const double *ratio,
                      const long *active_from, size_t n_runs, const int64_t *runs);

static lm_status plan(int quick, lm_exp_plan *p, lm_err *err) {
    /* full: exactly the catapult experiment's first run (for seed 0), so one experiment reuses
     * the other's. quick: 500 images on 196-32-32-10, and the comparison starts 1500 GD steps in
     * instead of 200, where the seeds are at or near the edge. The weight claim needs a long EoS
     * phase (after the catapult, two of four such seeds had not reached the edge 1000 steps
     * later; on 196-64-64-10 a seed with 470 steps on the edge ended at a ratio of 0.39, one with
     * 790 at 0.09), and the loss gap grows as the data shrink (250 images: 0.14 over 4 seeds) */
    for (int s = 0; s < N_SEEDS; s++) {
        char seed[32], label[64];
        snprintf(seed, sizeof seed, "seed=%d", s);
        snprintf(label, sizeof label, "eta=0.1, %s, seed=%d",
                 quick ? "1500 steps in" : "after the catapult", s);
        const char *full[] = {"optimizer.lr=0.1",  "steps=200",         "eval_every=1",
                              "sharpness_every=5", "name=\"catapult\"", seed};
        const char *small[] = {"optimizer.lr=0.1",      "steps=1500",
                               "eval_every=20",         "sharpness_every=20",
                               "data.train_size=500",   "model.widths=[196, 32, 32, 10]",
                               "name=\"central-flow\"", seed};
        LM_TRY(quick ? lm_exp_plan_add(p, label, lm__exp_eos_base, 8, small, err)
                     : lm_exp_plan_add(p, label, lm__exp_eos_base, 6, full, err));
    }
    return LM_OK;
}

lm_status lm__exp_cf_measure(const lm_mlp *m, lm_loss loss, const lm_dataset *d,
                             const double *theta0, double eta, size_t T, int substitute_gf,
                             double *gap, double *ratio, long *active_from, double *fig,
                             lm_err *err) {
    const size_t p = m->n_params;
    *gap = *ratio = LM_NAN;
    *active_from = -1;
    lm_mlp_ws *ws = NULL;
    lm_cf_trace tr;
    memset(&tr, 0, sizeof tr);
    double *gd = lm_malloc(p * sizeof(double)), *gf = lm_malloc(p * sizeof(double));
    double *cf = lm_malloc(p * sizeof(double)), *g = lm_malloc(p * sizeof(double));
    double *lgd = lm_malloc((T + 1) * sizeof(double)), *lgf = lm_malloc((T + 1) * sizeof(double));
    lm_status st = lm_mlp_ws_new(m, d->n, LM_F64, &ws, err);
    if (st == LM_OK && (!gd || !gf || !cf || !g || !lgd || !lgf))
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    if (st == LM_OK) {
        memcpy(gd, theta0, p * sizeof(double));
        memcpy(gf, theta0, p * sizeof(double));
    }
    /* GD (the measurement) and gradient flow (Euler with eta/4 substeps) */
    for (size_t t = 0; st == LM_OK && t <= T; t++) {
        st = lm_mlp_loss_grad(m, ws, loss, gd, d->x, d->y, d->n, &lgd[t], g, NULL, err);
        if (st == LM_OK && t < T)
            cblas_daxpy((int) p, -eta, g, 1, gd, 1);
        for (int sub = 0; st == LM_OK && sub < 4; sub++) {
            double l;
            st = lm_mlp_loss_grad(m, ws, loss, gf, d->x, d->y, d->n, &l, g, NULL, err);
            if (sub == 0)
                lgf[t] = l;
            if (t == T)
                break;
            if (st == LM_OK)
                cblas_daxpy((int) p, -eta / 4, g, 1, gf, 1);
        }
    }
    const double *lbar = lgf, *wcf = gf;
    long from = 0;
    if (st == LM_OK && !substitute_gf) {
        st = lm_central_flow(m, loss, d, theta0, eta, T, cf, &tr, err);
        lbar = tr.lbar;
        wcf = cf;
        from = tr.active_from;
    }
    if (st == LM_OK) {
        /* GD's 20-step moving average against the flow's L_bar over the EoS phase */
        double sum = 0;
        size_t cnt = 0;
        for (size_t t = 0; t <= T; t++) {
            double avg = LM_NAN;
            if (t >= WINDOW / 2 && t + WINDOW / 2 <= T) {
                avg = 0;
                for (size_t k = t - WINDOW / 2; k < t + WINDOW / 2; k++)
                    avg += lgd[k];
                avg /= WINDOW;
                if (from >= 0 && (long) t >= from) {
                    sum += fabs(avg - lbar[t]) / avg;
                    cnt++;
                }
            }
            if (fig) {
                double *row = fig + t * FIG_COLS;
                row[0] = (double) t;
                row[1] = lgd[t];
                row[2] = avg;
                row[3] = lbar[t];
                row[4] = lgf[t];
            }
        }
        *gap = cnt >= 10 ? sum / (double) cnt : LM_NAN;
        *active_from = from;
        double dcf = 0, dgf = 0;
        for (size_t i = 0; i < p; i++) {
            dcf += (gd[i] - wcf[i]) * (gd[i] - wcf[i]);
            dgf += (gd[i] - gf[i]) * (gd[i] - gf[i]);
        }
        /* a flow that never reaches the edge is GD's own Euler map: nothing to compare */
        *ratio = from >= 0 && dgf > 0 ? sqrt(dcf / dgf) : LM_NAN;
    }
    lm_free(gd);
    lm_free(gf);
    lm_free(cf);
    lm_free(g);
    lm_free(lgd);
    lm_free(lgf);
    lm_mlp_ws_free(ws);
    lm_cf_trace_free(&tr);
    return st;
}

void lm__exp_cf_judge(lm_exp_ctx *ctx, size_t ns, const double *gap, const double *ratio,
                      const long *active_from, size_t n_runs, const int64_t *runs) {
    char detail[512], from[64];
    size_t len = 0;
    for (size_t s = 0; s < ns && len < sizeof detail; s++)
        len += (size_t) snprintf(detail + len, sizeof detail - len,
                                 "%sseed %zu: gap %.4f, weight ratio %.4f, on the edge from step "
                                 "%ld",
                                 s ? "; " : "per seed: ", s, gap[s], ratio[s], active_from[s]);
    double m, u;
    size_t k = lm__exp_mean_u(ns, gap, &m, &u);
    snprintf(from, sizeof from, "2 SE over %zu seeds", k);
    lm_exp_judge(ctx,
                 &(lm_claim_spec){
                     .name = "time-averaged loss",
                     .predicted = "GD's 20-step average loss = the central flow's L + sigma^2/eta: "
                                  "relative gap 0",
                     .predicted_value = 0.0,
                     .measured = m,
                     .uncertainty = u,
                     .uncertainty_from = from,
                     .n_seeds = k,
                     .lo = 0.0,
                     .hi = 0.10,
                     .tolerance = "mean relative gap <= 0.10 over the EoS phase (mean over seeds)",
                     .tolerance_value = 0.10,
                     .reason = "science.md §4 sets 0.10 and marks it uncalibrated; a 20-step "
                               "average of a period-2 oscillation with drifting amplitude leaves a "
                               "few percent of ripple, and the Euler integration at one step per "
                               "GD step adds O(eta) drift",
                     .detail = detail,
                     .n_runs = n_runs,
                     .runs = runs,
                 });
    k = lm__exp_mean_u(ns, ratio, &m, &u);
    snprintf(from, sizeof from, "2 SE over %zu seeds", k);
    lm_exp_judge(ctx, &(lm_claim_spec){
                          .name = "tracks GD",
                          .predicted = "||w_GD - w_CF|| << ||w_GD - w_GF|| at the end: ratio 0",
                          .predicted_value = 0.0,
                          .measured = m,
                          .uncertainty = u,
                          .uncertainty_from = from,
                          .n_seeds = k,
                          .lo = 0.0,
                          .hi = 0.25,
                          .tolerance = "ratio <= 0.25 (mean over seeds)",
                          .tolerance_value = 0.25,
                          .reason = "science.md §4 (uncalibrated): the central flow should explain "
                                    "most of GD's departure from gradient flow; a quarter leaves "
                                    "room for the oscillation along the top eigenvector, which the "
                                    "flow averages out",
                          .detail = detail,
                          .n_runs = n_runs,
                          .runs = runs,
                      });
}

/* GD's 20-step average (seed mean, 2 SE, every 10th step) beside the flow's L_bar (seed mean) */
static lm_status figure(lm_exp_ctx *ctx, size_t ns, double *const *fig, size_t T, lm_err *err) {
    const size_t every = 10, n = T / every + 1;
    double *x = lm_malloc(n * sizeof(double)), *y = lm_malloc(n * sizeof(double));
    double *u = lm_malloc(n * sizeof(double)), *py = lm_malloc(n * sizeof(double));
    lm_status st = LM_OK;
    if (!x || !y || !u || !py)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    size_t k = 0;
    for (size_t t = 0; st == LM_OK && t <= T; t += every) {
        double a[N_SEEDS], b[N_SEEDS], bu;
        for (size_t s = 0; s < ns; s++) {
            a[s] = fig[s] ? fig[s][t * FIG_COLS + 2] : LM_NAN;
            b[s] = fig[s] ? fig[s][t * FIG_COLS + 3] : LM_NAN;
        }
        x[k] = (double) t;
        lm__exp_mean_u(ns, a, &y[k], &u[k]);
        lm__exp_mean_u(ns, b, &py[k], &bu);
        k++;
    }
    if (st == LM_OK) {
        char label[96];
        snprintf(label, sizeof label, "GD 20-step average loss: mean over %zu seeds, 2 SE", ns);
        const lm__exp_fig_series se = {.label = label,
                                       .n = k,
                                       .x = x,
                                       .y = y,
                                       .u = u,
                                       .pred_label =
                                           "central flow L + sigma^2/eta (mean over seeds)",
                                       .n_pred = k,
                                       .px = x,
                                       .py = py};
        st = lm__exp_figure_law(ctx, "central-flow", "GD against its central flow (eta = 0.1)",
                                "step from the starting run", "train loss", 0, 1, 1, &se, err);
    }
    lm_free(x);
    lm_free(y);
    lm_free(u);
    lm_free(py);
    return st;
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    const size_t T = ctx->quick ? 1000 : 2000;
    const size_t ns = ctx->n_runs < N_SEEDS ? ctx->n_runs : N_SEEDS;
    double gap[N_SEEDS], ratio[N_SEEDS], *fig[N_SEEDS] = {0};
    long from[N_SEEDS];
    int64_t runs[N_SEEDS];
    size_t nr = 0;
    lm_status st = LM_OK;
    for (size_t s = 0; s < ns && st == LM_OK; s++) {
        gap[s] = ratio[s] = LM_NAN;
        from[s] = -1;
        if (ctx->run[s] <= 0)
            continue; /* the starting run failed: the seed is left out */
        runs[nr++] = ctx->run[s];
        lm__exp_net net;
        st = lm__exp_net_open(ctx, ctx->run[s], 0, &net, err);
        if (st == LM_OK && !(fig[s] = lm_malloc((T + 1) * FIG_COLS * sizeof(double))))
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
        if (st == LM_OK)
            st = lm__exp_cf_measure(net.m, net.cfg->loss, net.train, net.theta, ETA, T, 0, &gap[s],
                                    &ratio[s], &from[s], fig[s], err);
        lm__exp_net_free(&net);
    }
    if (st == LM_OK) {
        lm__exp_cf_judge(ctx, ns, gap, ratio, from, nr, runs);
        st = figure(ctx, ns, fig, T, err);
    }
    for (size_t s = 0; s < ns; s++)
        lm_free(fig[s]);
    return st;
}

const lm_experiment lm__exp_central_flow = {
    .name = "central-flow",
    .summary = "central flow: GD's time-averaged loss at the edge of stability predicted by the "
               "flow (4 seeds)",
    .quick = "500 images, 196-32-32-10, from 1500 GD steps in (not 200), 1000 instead of 2000 "
             "steps compared (4 seeds)",
    .plan = plan,
    .analyse = analyse,
};
