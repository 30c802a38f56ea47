/*
 * exp_deep_linear_depth.c: a depth-3 linear network, aligned and balanced, against the mode ODE,
 * and the power-law dependence of its half-times on the initial scale (science.md §1 (b); Saxe,
 * McClelland, Ganguli 2014, arXiv 1312.6120; Arora, Cohen, Hu, Luo 2019, arXiv 1905.13655).
 *
 * Theory. With N balanced aligned layers each mode evolves on its own,
 *     du/dt = N u^{2-2/N} (s - u),  u(0) = u0 = a0^N,
 * integrated by lm_dln_modes (GSL rk8pd, 1e-12), and the half-time is the separable integral
 *     t_half = int_{u0}^{s/2} du / (N u^{2-2/N} (s - u))     (lm_dln_half_time, GSL quadrature).
 * For N = 3 split 1/(s - u) = 1/s + u/(s(s - u)):
 *     s t_half = u0^{-1/3} - (s/2)^{-1/3} + (1/3) s^{-1/3} int_0^{1/2} x^{-1/3}/(1-x) dx +
 * O(u0^{2/3}) = u0^{-1/3} - c s^{-1/3},   c = 2^{1/3} - 0.42 = 0.84, so t_half ~ u0^{-1/3} / s =
 * u0^{-(N-2)/N} / ((N-2) s), science.md's form. Its sentence "s·t½ matched 1/(s·u0^{1/3}) within
 * 5%" cannot be right: the left side is dimensionless in u0 and s, the right side has s in the
 * denominator; the derivation gives s t_half ~ u0^{-1/3}. We claim that (correct) form through the
 * EXACT integral: measured t_half against lm_dln_half_time within 5 %; the asymptotic ratio s
 * t_half u0^{1/3} (0.93-0.97 at a0 = 0.05, from the integral) is a reported figure.
 *
 * Scaling with u0 (a0 in {0.05, 0.1, 0.2}, u0 = a0^3 from 1.25e-4 to 8e-3, 1.8 decades): the
 * slope of log t_half against log u0, per mode. Written before measuring:
 *  - against the exact integral's slope (lm_dln_half_time at the same u0): within +-0.02. GD
 *    shifts time by a relative ~eta N s^{2-2/N} <= 0.026, nearly the same at every a0, so it
 *    cancels in the slope; a 1 % differential shift moves the slope by 0.01/ln 64 = 0.0024.
 *  - against -(N-2)/N = -1/3: within +-0.08. The asymptotic form drops c s^{-1/3} u0^{1/3}
 *    relative to 1, which at a0 <= 0.2 steepens the exact slope to between -0.357 (s = 3) and
 *    -0.398 (s = 0.25) (computed from lm_dln_half_time before any run); 0.08 covers that 0.065.
 *
 * Setup: d_in = 8, d_out = 6, widths [8, 16, 16, 6], s = (3, 2, 1, 0.5, 0.25), eta = 2e-3
 * (science.md §1 (b)), P = 8; t_end = 100, 50, 20 for a0 = 0.05, 0.1, 0.2 (past every mode's
 * half-time: 74.6, 34.5, 14.3 for s = 0.25), modes recorded every 25 steps (dt = 0.05).
 * Precondition eta lambda_max = eta 3 s_max^{4/3} = 0.026 < 0.2. Seeds (U, V, R): 8 full,
 * 3 quick. Claim (b): max_t |u - u_ODE| / s <= 0.03 at a0 = 0.05 (science.md [C]: 0.015).
 */
#include "exp/internal.h"

#include "lmech/theory.h"

#include <stdio.h>
#include <string.h>

static const char *BASE =
    "{\"name\": \"deep-linear-depth\", \"seed\": 0,"
    " \"data\": {\"source\": \"linear-modes\", \"dim\": 8, \"outputs\": 6, \"train_size\": 8,"
    "  \"test_size\": 0, \"singular_values\": [3, 2, 1, 0.5, 0.25]},"
    " \"model\": {\"widths\": [8, 16, 16, 6], \"activation\": \"identity\", \"bias\": false,"
    "  \"init\": \"aligned\", \"a0\": 0.05},"
    " \"loss\": \"mse\", \"optimizer\": {\"name\": \"sgd\", \"lr\": 0.002},"
    " \"batch_size\": 0, \"steps\": 50000, \"eval_every\": 25, \"threads\": 1}";

#define N_A0      3
#define MAX_SEEDS 16
#define MAX_R     LM_DATA_MAX_MODES
static const double A0[N_A0] = {0.05, 0.1, 0.2};
static const size_t STEPS[N_A0] = {50000, 25000, 10000};
#define TOL_TRAJ  0.03 /* science.md §1 (b)                          */
#define TOL_THALF 0.05 /* science.md §1 (b), on the exact integral  */
#define TOL_SLOPE 0.02 /* slope against the exact integral's slope  */
#define TOL_THIRD 0.08 /* slope against -1/3 (see the header)       */

static size_t n_seeds(int quick) {
    return quick ? 3 : 8;
}

static lm_status plan(int quick, lm_exp_plan *p, lm_err *err) {
    char sa[48], ss[32], sd[32], label[64];
    for (size_t a = 0; a < N_A0; a++)
        for (size_t s = 0; s < n_seeds(quick); s++) {
            snprintf(sa, sizeof sa, "model.a0=%g", A0[a]);
            snprintf(ss, sizeof ss, "steps=%zu", STEPS[a]);
            snprintf(sd, sizeof sd, "seed=%zu", s);
            snprintf(label, sizeof label, "depth 3 a0=%g seed=%zu", A0[a], s);
            const char *sets[] = {sa, ss, sd};
            LM_TRY(lm_exp_plan_add(p, label, BASE, 3, sets, err));
        }
    return LM_OK;
}

/* What one run gives. */
typedef struct one {
    double dev;                     /* max_t,k |u - u_ode| / s                   */
    double th[MAX_R], th_ex[MAX_R]; /* measured and exact half-times          */
    double interp;                  /* max_k relative interpolation error       */
} one;

static lm_status measure(const lm__exp_dln_run *d, one *o, double **traj, lm_err *err) {
    const size_t n = d->n, r = d->r;
    double *u = lm_malloc(n * r * sizeof *u);
    if (!u)
        LM_FAIL(err, LM_ENOMEM, "out of memory for the ODE solution");
    lm_status st = lm_dln_modes((unsigned) d->depth, r, d->s, d->u0, n, d->t, u, o->th_ex, err);
    if (st != LM_OK) {
        lm_free(u);
        return st;
    }
    o->dev = 0.0;
    o->interp = 0.0;
    for (size_t k = 0; k < r; k++) {
        for (size_t j = 0; j < n; j++) {
            const double e = fabs(d->u[k * n + j] - u[k * n + j]) / d->s[k];
            o->dev = isfinite(e) ? fmax(o->dev, e) : LM_INF;
        }
        double ei = LM_NAN;
        o->th[k] = lm__exp_dln_crossing(n, d->t, d->u + k * n, d->s[k] / 2, &ei);
        if (isfinite(ei))
            o->interp = fmax(o->interp, ei / o->th_ex[k]);
    }
    if (traj)
        *traj = u;
    else
        lm_free(u);
    return LM_OK;
}

static double slope3(const double *x, const double *y, size_t n) {
    return lm__exp_slope(n, x, y);
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    /* runs in plan order: a0 major, seeds minor; seeds counted from the runs present */
    const size_t ns = ctx->n_runs / N_A0;
    if (ns == 0 || ns > MAX_SEEDS || ns * N_A0 != ctx->n_runs)
        LM_FAIL(err, LM_EINVAL, "deep-linear-depth: %zu runs is not %d a0 values x seeds",
                ctx->n_runs, N_A0);
    one o[N_A0][MAX_SEEDS];
    int ok[N_A0][MAX_SEEDS] = {{0}};
    double u0[N_A0] = {0}, s[MAX_R] = {0}, eta_lam = 0.0, interp = 0.0;
    size_t r = 0, depth = 0;
    int64_t runs[N_A0 * MAX_SEEDS];
    size_t nr = 0;
    lm__exp_dln_run fig = {0};
    double *fig_ode = NULL;
    lm_status st = LM_OK;
    for (size_t a = 0; a < N_A0 && st == LM_OK; a++)
        for (size_t q = 0; q < ns && st == LM_OK; q++) {
            const int64_t run = ctx->run[a * ns + q];
            if (run <= 0)
                continue;
            lm__exp_dln_run d;
            st = lm__exp_dln_read(ctx, run, &d, err);
            if (st != LM_OK)
                break;
            if (!isfinite(d.u0) || d.n < 3 || d.r > MAX_R) {
                lm__exp_dln_free(&d);
                st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                                "deep-linear-depth: run %lld is not an aligned run with recorded "
                                "modes",
                                (long long) run);
                break;
            }
            double *traj = NULL;
            st = measure(&d, &o[a][q], a == 0 && !fig.t ? &traj : NULL, err);
            if (st == LM_OK) {
                ok[a][q] = 1;
                runs[nr++] = run;
                u0[a] = d.u0;
                r = d.r;
                depth = d.depth;
                memcpy(s, d.s, r * sizeof *s);
                for (size_t k = 0; k < r; k++)
                    eta_lam = fmax(eta_lam, d.lr * lm__exp_dln_lambda_max(d.depth, d.s[k]));
                interp = fmax(interp, o[a][q].interp);
            }
            if (traj) {
                fig = d;
                fig_ode = traj;
            } else {
                lm__exp_dln_free(&d);
            }
        }
    if (st != LM_OK) {
        lm__exp_dln_free(&fig);
        lm_free(fig_ode);
        return st;
    }
    const char *unmet = lm_exp_precondition(
        ctx, "eta lambda_max < 0.2", nr > 0 && eta_lam < 0.2, nr ? eta_lam : LM_NAN,
        "eta * lambda_max(H) < 0.2, lambda_max = N s_max^{2-2/N} (the Hessian's top eigenvalue at "
        "the global minimum along the top mode)",
        "eta lambda_max >= 0.2: GD is not close to gradient flow");
    char detail[700], name[96], pred[256], from[160];
    double v[MAX_SEEDS], m, u;
    size_t nv;
    /* (b) trajectories at a0 = 0.05 against the ODE */
    nv = 0;
    for (size_t q = 0; q < ns; q++)
        if (ok[0][q])
            v[nv++] = o[0][q].dev;
    m = u = LM_NAN;
    lm__exp_mean_u(nv, v, &m, &u);
    int k = snprintf(detail, sizeof detail, "depth %zu, a0 = %g; per seed:", depth, A0[0]);
    for (size_t i = 0; i < nv && k > 0 && (size_t) k < sizeof detail; i++)
        k += snprintf(detail + k, sizeof detail - (size_t) k, " %.5f", v[i]);
    lm_exp_judge(ctx, &(lm_claim_spec){
                          .name = "depth-3 modes against the ODE",
                          .predicted = "each mode follows du/dt = 3 u^{4/3} (s - u) from u0 = a0^3 "
                                       "(GSL rk8pd): max_t |u_k - u_k^ODE| / s_k <= 0.03",
                          .predicted_value = 0.0,
                          .measured = m,
                          .uncertainty = u,
                          .uncertainty_from = "2 SE over seeds of the per-seed maximum over modes "
                                              "and recorded times",
                          .n_seeds = nv,
                          .lo = -LM_INF,
                          .hi = TOL_TRAJ,
                          .tolerance = "max relative deviation <= 0.03",
                          .tolerance_value = TOL_TRAJ,
                          .reason = "science.md §1 (b) [C]: measured 0.015 against RK4; the slack "
                                    "covers GD's discretisation at eta = 2e-3",
                          .detail = detail,
                          .unmet = unmet,
                          .n_runs = nr,
                          .runs = runs,
                      });
    /* half-times at a0 = 0.05 against the exact integral, and the asymptotic ratio (reported) */
    double asym[MAX_SEEDS];
    nv = 0;
    for (size_t q = 0; q < ns; q++)
        if (ok[0][q]) {
            double w = 0.0, wa = 0.0;
            for (size_t kk = 0; kk < r; kk++) {
                w = fmax(w, fabs(o[0][q].th[kk] / o[0][q].th_ex[kk] - 1.0));
                if (!isfinite(o[0][q].th[kk]))
                    w = LM_NAN;
                /* s t_half u0^{1/3}: 1 in the asymptotic form */
                wa = fmax(wa, fabs(s[kk] * o[0][q].th[kk] * cbrt(u0[0]) - 1.0));
            }
            asym[nv] = wa;
            v[nv++] = w;
        }
    m = u = LM_NAN;
    lm__exp_mean_u(nv, v, &m, &u);
    k = snprintf(detail, sizeof detail, "a0 = %g; measured / exact per mode (seed 0):", A0[0]);
    for (size_t kk = 0; kk < r && ok[0][0] && k > 0 && (size_t) k < sizeof detail; kk++)
        k += snprintf(detail + k, sizeof detail - (size_t) k, " s=%g %.4f", s[kk],
                      o[0][0].th[kk] / o[0][0].th_ex[kk]);
    snprintf(from, sizeof from,
             "2 SE over seeds plus the interpolation error at s/2 (%.1e relative)", interp);
    lm_exp_judge(ctx, &(lm_claim_spec){
                          .name = "depth-3 half-times against the exact integral",
                          .predicted = "t_half = int_{u0}^{s/2} du / (3 u^{4/3} (s - u)) "
                                       "(~ u0^{-1/3}/s): max_k |t_half / exact - 1| <= 0.05",
                          .predicted_value = 0.0,
                          .measured = m,
                          .uncertainty = isfinite(u) ? u + interp : u,
                          .uncertainty_from = from,
                          .n_seeds = nv,
                          .lo = -LM_INF,
                          .hi = TOL_THALF,
                          .tolerance = "max relative deviation <= 0.05",
                          .tolerance_value = TOL_THALF,
                          .reason = "science.md §1 (b)'s 5 %, applied to the correct form "
                                    "s t_half ~ u0^{-1/3} through the exact integral (its "
                                    "garbled '1/(s u0^{1/3})' is not the derivation's)",
                          .detail = detail,
                          .unmet = unmet,
                          .n_runs = nr,
                          .runs = runs,
                      });
    m = u = LM_NAN;
    lm__exp_mean_u(nv, asym, &m, &u);
    lm_exp_judge(ctx, &(lm_claim_spec){
                          .name = "asymptotic form s t_half u0^{1/3} = 1",
                          .predicted = "s t_half u0^{1/3} -> 1 as u0 -> 0 (N = 3); at a0 = 0.05 "
                                       "the exact integral gives 0.93-0.97",
                          .predicted_value = 0.0,
                          .measured = m,
                          .uncertainty = isfinite(u) ? u + interp : u,
                          .uncertainty_from = "2 SE over seeds plus the interpolation error",
                          .n_seeds = nv,
                          .lo = -LM_INF,
                          .hi = LM_INF,
                          .tolerance = "none (reported): max_k |s t_half u0^{1/3} - 1|",
                          .tolerance_value = LM_NAN,
                          .reason = "the asymptotic form drops O(u0^{1/3} s^{-1/3}) terms; the "
                                    "claim is made on the exact integral instead",
                          .detail = "max over modes at a0 = 0.05",
                          .reported = 1,
                          .n_runs = nr,
                          .runs = runs,
                      });
    /* slopes of log t_half against log u0, per seed and mode */
    double lx[N_A0], ly[N_A0], lye[N_A0];
    for (size_t a = 0; a < N_A0; a++)
        lx[a] = log(u0[a]);
    double diff[MAX_SEEDS], sl[MAX_R][MAX_SEEDS], slope_ex[MAX_R];
    size_t nd = 0;
    for (size_t kk = 0; kk < r; kk++) {
        for (size_t a = 0; a < N_A0; a++)
            lye[a] = LM_NAN;
        for (size_t a = 0; a < N_A0; a++)
            for (size_t q = 0; q < ns && !isfinite(lye[a]); q++)
                if (ok[a][q])
                    lye[a] = log(o[a][q].th_ex[kk]);
        slope_ex[kk] = slope3(lx, lye, N_A0);
    }
    for (size_t q = 0; q < ns; q++) {
        int all = 1;
        for (size_t a = 0; a < N_A0; a++)
            all &= ok[a][q];
        if (!all)
            continue;
        double w = 0.0;
        for (size_t kk = 0; kk < r; kk++) {
            for (size_t a = 0; a < N_A0; a++)
                ly[a] = log(o[a][q].th[kk]);
            sl[kk][nd] = slope3(lx, ly, N_A0);
            w = isfinite(sl[kk][nd]) ? fmax(w, fabs(sl[kk][nd] - slope_ex[kk])) : LM_NAN;
        }
        diff[nd++] = w;
    }
    /* interpolation: a relative error e in each t_half moves a 3-point slope by at most
     * 2 e / (log u0_max - log u0_min) */
    const double slope_interp = 2.0 * interp / (lx[N_A0 - 1] - lx[0]);
    m = u = LM_NAN;
    lm__exp_mean_u(nd, diff, &m, &u);
    k = snprintf(detail, sizeof detail, "exact slopes:");
    for (size_t kk = 0; kk < r && k > 0 && (size_t) k < sizeof detail; kk++)
        k += snprintf(detail + k, sizeof detail - (size_t) k, " s=%g %.4f", s[kk], slope_ex[kk]);
    snprintf(from, sizeof from, "2 SE over seeds plus %.1e from the interpolation", slope_interp);
    lm_exp_judge(ctx, &(lm_claim_spec){
                          .name = "half-time slope against the exact integral",
                          .predicted = "d log t_half / d log u0 equals the exact integral's slope "
                                       "(-0.357 to -0.398 over a0 in {0.05, 0.1, 0.2}) within 0.02",
                          .predicted_value = 0.0,
                          .measured = m,
                          .uncertainty = isfinite(u) ? u + slope_interp : u,
                          .uncertainty_from = from,
                          .n_seeds = nd,
                          .lo = -LM_INF,
                          .hi = TOL_SLOPE,
                          .tolerance = "max_k |slope - exact slope| <= 0.02",
                          .tolerance_value = TOL_SLOPE,
                          .reason = "GD's relative time shift (~eta N s^{2-2/N} <= 0.026) is "
                                    "nearly equal at every a0 and cancels in the slope; 0.02 is "
                                    "8x the 0.0024 a 1 % differential shift would give",
                          .detail = detail,
                          .unmet = unmet,
                          .n_runs = nr,
                          .runs = runs,
                      });
    for (size_t kk = 0; kk < r; kk++) {
        m = u = LM_NAN;
        lm__exp_mean_u(nd, sl[kk], &m, &u);
        snprintf(name, sizeof name, "half-time slope -1/3 (s=%g)", s[kk]);
        snprintf(pred, sizeof pred,
                 "t_half ~ u0^{-(N-2)/N} / ((N-2) s): slope -1/3 in log u0 at depth 3 (exact "
                 "integral over these a0: %.3f)",
                 slope_ex[kk]);
        lm_exp_judge(ctx, &(lm_claim_spec){
                              .name = name,
                              .predicted = pred,
                              .predicted_value = -1.0 / 3.0,
                              .measured = m,
                              .uncertainty = isfinite(u) ? u + slope_interp : u,
                              .uncertainty_from = from,
                              .n_seeds = nd,
                              .lo = -1.0 / 3.0 - TOL_THIRD,
                              .hi = -1.0 / 3.0 + TOL_THIRD,
                              .tolerance = "slope in -1/3 +- 0.08",
                              .tolerance_value = TOL_THIRD,
                              .reason = "the asymptotic form drops c s^{-1/3} u0^{1/3} (c = 0.84), "
                                        "which steepens the exact slope by up to 0.065 at a0 <= "
                                        "0.2 (computed before measuring); 0.08 covers it",
                              .detail = "slope of log t_half (interpolated at s/2) against log u0 "
                                        "over a0 = 0.05, 0.1, 0.2, per seed",
                              .unmet = unmet,
                              .n_runs = nr,
                              .runs = runs,
                          });
    }
    /* figures */
    if (fig.t && fig_ode)
        st = lm__exp_dln_figure_modes(ctx, "mode-trajectories-depth3",
                                      "depth-3 linear net (aligned, a0 = 0.05, seed 0): modes "
                                      "u_k(t) and the ODE du/dt = 3 u^{4/3} (s - u)",
                                      &fig, fig_ode, "ODE", 0, err);
    lm__exp_dln_free(&fig);
    lm_free(fig_ode);
    if (st != LM_OK || r == 0)
        return st;
    /* half-times against u0, one series per mode, with the exact integral on a grid */
    lm__exp_fig_series fs[MAX_R];
    double y[MAX_R][N_A0], yu[MAX_R][N_A0], px[24], py[MAX_R][24], col[MAX_SEEDS];
    char lab[MAX_R][48], plab[MAX_R][48];
    for (size_t g = 0; g < 24; g++)
        px[g] = exp(lx[0] - 0.2 + (lx[N_A0 - 1] - lx[0] + 0.4) * (double) g / 23.0);
    for (size_t kk = 0; kk < r; kk++) {
        for (size_t a = 0; a < N_A0; a++) {
            size_t c = 0;
            for (size_t q = 0; q < ns; q++)
                if (ok[a][q])
                    col[c++] = o[a][q].th[kk];
            y[kk][a] = yu[kk][a] = LM_NAN;
            lm__exp_mean_u(c, col, &y[kk][a], &yu[kk][a]);
            if (c == 1)
                y[kk][a] = col[0], yu[kk][a] = 0.0;
        }
        for (size_t g = 0; g < 24; g++) {
            lm_err e2 = {0};
            if (lm_dln_half_time((unsigned) depth, s[kk], px[g], &py[kk][g], &e2) != LM_OK)
                py[kk][g] = LM_NAN;
        }
        snprintf(lab[kk], sizeof lab[kk], "s = %g", s[kk]);
        snprintf(plab[kk], sizeof plab[kk], "exact integral s = %g", s[kk]);
        fs[kk] = (lm__exp_fig_series){.label = lab[kk],
                                      .n = N_A0,
                                      .x = u0,
                                      .y = y[kk],
                                      .u = yu[kk],
                                      .pred_label = plab[kk],
                                      .n_pred = 24,
                                      .px = px,
                                      .py = py[kk]};
    }
    return lm__exp_figure_law(ctx, "half-times-vs-u0",
                              "depth-3 linear net: half-times against u0 = a0^3 (slope ~ -1/3)",
                              "u0", "t_half (flow time)", 1, 1, r, fs, err);
}

const lm_experiment lm__exp_deep_linear_depth = {
    .name = "deep-linear-depth",
    .summary = "depth-3 linear net against the mode ODE; half-times ~ u0^{-1/3}/s",
    .quick = "3 seeds (full: 8), same a0 values and lengths",
    .plan = plan,
    .analyse = analyse,
};
