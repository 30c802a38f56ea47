/*
 * exp_central_flow.c: the one-eigenvalue central flow beside GD (science.md §4, Cohen et al.
 * ICLR 2025). Starting point: the EoS network after its 200-step catapult at eta = 0.1 (the same
 * run as `catapult`, reused when present), where the sharpness is below 2/eta and sharpens back
 * to it. From there, in float64 on the full training set: GD at eta (the measurement), gradient
 * flow (Euler, eta/4 substeps) and the central flow (src/theory/central_flow.c, the prediction).
 *
 * Claims (science.md §4, marked uncalibrated there):
 *   - over the EoS phase (from the step the flow reaches the edge), the mean relative gap between
 *     GD's 20-step moving-average loss and the flow's predicted time-averaged loss is <= 0.10;
 *   - at the end, ||w_GD - w_CF|| <= 0.25 ||w_GD - w_GF||: the central flow tracks GD far better
 *     than gradient flow does.
 */
#include "exp/internal.h"

#include "lmech/theory.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

static lm_status plan(int quick, lm_exp_plan *p, lm_err *err) {
    (void) quick;
    /* exactly the catapult experiment's first run, so one experiment reuses the other's */
    const char *a[] = {"optimizer.lr=0.1", "steps=200", "eval_every=1", "sharpness_every=5",
                       "name=\"catapult\""};
    return lm_exp_plan_add(p, "eta=0.1, after the catapult", lm__exp_eos_base, 5, a, err);
}

#define ETA    0.1
#define WINDOW 20 /* science.md §4: GD's loss is averaged over 20 steps */

typedef struct cfstate {
    lm__exp_net net; /* the starting run: config, theta_0 (after the catapult), data, model */
    double *gd, *gf, *cf, *g, *lgd, *lgf, *fig;
    lm_mlp_ws *ws;
    lm_cf_trace tr;
} cfstate;

static void cf_free(cfstate *s) {
    lm__exp_net_free(&s->net);
    lm_free(s->gd);
    lm_free(s->gf);
    lm_free(s->cf);
    lm_free(s->g);
    lm_free(s->lgd);
    lm_free(s->lgf);
    lm_free(s->fig);
    lm_mlp_ws_free(s->ws);
    lm_cf_trace_free(&s->tr);
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    const size_t T = ctx->quick ? 1000 : 2000;
    cfstate s;
    memset(&s, 0, sizeof s);
    if (ctx->n_runs == 0 || ctx->run[0] <= 0) {
        lm_exp_claim(ctx, "time-averaged loss", "GD's averaged loss = the central flow's L_bar",
                     LM_NAN, LM_NAN, LM_NAN, 0, 0.1, "mean relative gap <= 0.10", 0.1,
                     "the starting run failed: nothing to measure");
        return LM_OK;
    }
    lm_status st = lm__exp_net_open(ctx, ctx->run[0], 0, &s.net, err);
    if (st == LM_OK)
        st = lm_mlp_ws_new(s.net.m, s.net.train->n, LM_F64, &s.ws, err);
    const size_t p = s.net.m ? s.net.m->n_params : 0;
    if (st == LM_OK) {
        s.gd = lm_malloc(p * sizeof(double));
        s.gf = lm_malloc(p * sizeof(double));
        s.cf = lm_malloc(p * sizeof(double));
        s.g = lm_malloc(p * sizeof(double));
        s.lgd = lm_malloc((T + 1) * sizeof(double));
        s.lgf = lm_malloc((T + 1) * sizeof(double));
        s.fig = lm_malloc((T + 1) * 5 * sizeof(double));
        if (!s.gd || !s.gf || !s.cf || !s.g || !s.lgd || !s.lgf || !s.fig)
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    }
    if (st == LM_OK) {
        memcpy(s.gd, s.net.theta, p * sizeof(double));
        memcpy(s.gf, s.net.theta, p * sizeof(double));
    }
    const lm_dataset *d = s.net.train;
    /* GD (the measurement) and gradient flow (Euler with eta/4 substeps) */
    for (size_t t = 0; st == LM_OK && t <= T; t++) {
        st = lm_mlp_loss_grad(s.net.m, s.ws, s.net.cfg->loss, s.gd, d->x, d->y, d->n, &s.lgd[t],
                              s.g, NULL, err);
        if (st == LM_OK && t < T)
            cblas_daxpy((int) p, -ETA, s.g, 1, s.gd, 1);
        for (int sub = 0; st == LM_OK && sub < 4; sub++) {
            double l;
            st = lm_mlp_loss_grad(s.net.m, s.ws, s.net.cfg->loss, s.gf, d->x, d->y, d->n, &l, s.g,
                                  NULL, err);
            if (sub == 0)
                s.lgf[t] = l;
            if (st == LM_OK && t < T)
                cblas_daxpy((int) p, -ETA / 4, s.g, 1, s.gf, 1);
            if (t == T)
                break;
        }
    }
    if (st == LM_OK)
        st = lm_central_flow(s.net.m, s.net.cfg->loss, d, s.net.theta, ETA, T, s.cf, &s.tr, err);
    if (st != LM_OK) {
        cf_free(&s);
        return st;
    }
    /* GD's 20-step moving average against the flow's L_bar over the EoS phase */
    const long from = s.tr.active_from;
    double gap = 0;
    size_t cnt = 0;
    for (size_t t = 0; t <= T; t++) {
        double avg = LM_NAN;
        if (t >= WINDOW / 2 && t + WINDOW / 2 <= T) {
            avg = 0;
            for (size_t k = t - WINDOW / 2; k < t + WINDOW / 2; k++)
                avg += s.lgd[k];
            avg /= WINDOW;
            if (from >= 0 && (long) t >= from) {
                gap += fabs(avg - s.tr.lbar[t]) / avg;
                cnt++;
            }
        }
        double *row = s.fig + t * 5;
        row[0] = (double) t;
        row[1] = s.lgd[t];
        row[2] = avg;
        row[3] = s.tr.lbar[t];
        row[4] = s.lgf[t];
    }
    const double mean_gap = cnt >= 10 ? gap / (double) cnt : LM_NAN;
    char pred[192];
    snprintf(pred, sizeof pred, "GD's 20-step average loss = central flow's L + sigma^2/eta");
    lm_claim *c = lm_exp_claim(
        ctx, "time-averaged loss", pred, 0.0, mean_gap, LM_NAN, 0.0, 0.10,
        "mean relative gap <= 0.10 over the EoS phase", 0.10,
        "science.md §4 sets 0.10 and marks it uncalibrated; a 20-step average of a period-2 "
        "oscillation with drifting amplitude leaves a few percent of ripple, and the Euler "
        "integration at one step per GD step adds O(eta) drift");
    if (c) {
        snprintf(c->detail, sizeof c->detail,
                 "%zu steps compared, the flow reached 2/eta at step %ld (of %zu after the "
                 "200-step catapult)",
                 cnt, from, T);
        c->n_runs = 1;
        c->runs[0] = ctx->run[0];
    }
    for (size_t i = 0; i < p; i++) {
        s.g[i] = s.gd[i] - s.cf[i];
        s.cf[i] = s.gd[i] - s.gf[i];
    }
    const double dcf = cblas_dnrm2((int) p, s.g, 1), dgf = cblas_dnrm2((int) p, s.cf, 1);
    c = lm_exp_claim(ctx, "tracks GD", "||w_GD - w_CF|| <= 0.25 ||w_GD - w_GF|| at the end", 0.0,
                     dgf > 0 ? dcf / dgf : LM_NAN, LM_NAN, 0.0, 0.25, "ratio <= 0.25", 0.25,
                     "science.md §4 (uncalibrated): the central flow should explain most of GD's "
                     "departure from gradient flow; a quarter leaves room for the oscillation "
                     "along the top eigenvector, which the flow averages out");
    if (c) {
        snprintf(c->detail, sizeof c->detail, "||GD - CF|| = %.4g, ||GD - GF|| = %.4g", dcf, dgf);
        c->n_runs = 1;
        c->runs[0] = ctx->run[0];
    }
    static const char *cols[] = {"step after the catapult", "GD loss", "GD 20-step average",
                                 "central flow L + sigma^2/eta", "gradient flow loss"};
    st = lm__exp_figure_lines(ctx, "central-flow", "GD against its central flow (eta = 0.1)",
                              "train loss", 1, 5, cols, T + 1, s.fig, err);
    cf_free(&s);
    return st;
}

const lm_experiment lm__exp_central_flow = {
    .name = "central-flow",
    .summary =
        "central flow: GD's time-averaged loss at the edge of stability predicted by the flow",
    .quick = "1000 instead of 2000 steps after the catapult",
    .plan = plan,
    .analyse = analyse,
};
