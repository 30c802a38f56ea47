/*
 * deep_linear.c: what the deep-linear-network experiments share (exp_deep_linear_modes.c,
 * exp_deep_linear_depth.c, exp_saddle_to_saddle.c; science.md §1): reading a run's mode
 * trajectories u_k(t) (the mode observer's mode.k, obs_modes.c) on the flow-time axis
 * t = eta * step, and the first crossing of a level by interpolation between records, with an
 * estimate of the interpolation's own error.
 */
#include "exp/internal.h"

#include <string.h>

void lm__exp_dln_free(lm__exp_dln_run *r) {
    lm_free(r->t);
    lm_free(r->u);
    memset(r, 0, sizeof *r);
}

lm_status lm__exp_dln_read(const lm_exp_ctx *ctx, int64_t run, lm__exp_dln_run *out, lm_err *err) {
    memset(out, 0, sizeof *out);
    lm_run_info info;
    memset(&info, 0, sizeof info);
    LM_TRY(lm_store_get_run(ctx->store, run, &info, err));
    char name[64];
    snprintf(name, sizeof name, "run %lld config", (long long) run);
    lm_config *c = NULL;
    lm_status st = lm_config_parse(info.config, strlen(info.config), name, 0, NULL, &c, err);
    lm_run_info_clear(&info);
    if (st != LM_OK)
        return st;
    if (c->data.source != LM_DATA_LINEAR_MODES || c->optim.kind != LM_OPT_SGD ||
        c->optim.momentum != 0.0 || c->optim.schedule != LM_SCHED_CONSTANT) {
        lm_config_free(c);
        LM_FAIL(err, LM_EINVAL,
                "run %lld: a deep-linear experiment needs linear-modes data and plain GD "
                "(sgd, no momentum, constant rate)",
                (long long) run);
    }
    out->r = c->data.n_sv;
    memcpy(out->s, c->data.singular_values, out->r * sizeof *out->s);
    out->lr = c->optim.lr;
    out->depth = c->model.n_widths - 1;
    out->a0 = c->model.init == LM_INIT_ALIGNED ? c->model.a0 : LM_NAN;
    out->u0 = c->model.init == LM_INIT_ALIGNED ? pow(c->model.a0, (double) out->depth) : LM_NAN;
    out->sw2 = c->model.sw2;
    lm_config_free(c);
    int64_t *steps = NULL;
    double *v = NULL;
    size_t n = 0;
    for (size_t k = 0; k < out->r; k++) {
        snprintf(name, sizeof name, "mode.%zu", k + 1);
        size_t nk = 0;
        st = lm_exp_series_alloc(ctx, run, name, k ? NULL : &steps, &v, &nk, err);
        if (st != LM_OK)
            break;
        if (k == 0) {
            n = nk;
            out->n = n;
            out->t = lm_malloc((n ? n : 1) * sizeof *out->t);
            out->u = lm_malloc((n ? n : 1) * out->r * sizeof *out->u);
            if (!out->t || !out->u) {
                st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                                "out of memory for run %lld's modes", (long long) run);
                break;
            }
            for (size_t i = 0; i < n; i++)
                out->t[i] = out->lr * (double) steps[i];
        }
        if (nk != n) {
            st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                            "run %lld: %s has %zu records, mode.1 %zu", (long long) run, name, nk,
                            n);
            break;
        }
        memcpy(out->u + k * n, v, n * sizeof *v);
        lm_free(v);
        v = NULL;
    }
    lm_free(steps);
    lm_free(v);
    if (st != LM_OK)
        lm__exp_dln_free(out);
    return st;
}

double lm__exp_dln_crossing(size_t n, const double *t, const double *u, double level,
                            double *err_est) {
    if (err_est)
        *err_est = LM_NAN;
    for (size_t i = 1; i < n; i++) {
        if (!(u[i - 1] < level && u[i] >= level))
            continue;
        const double tl = t[i - 1] + (t[i] - t[i - 1]) * (level - u[i - 1]) / (u[i] - u[i - 1]);
        if (err_est) {
            /* the quadratic through three records around the crossing, solved for the level;
             * its distance to the linear crossing estimates the linear one's error */
            const size_t j = i + 1 < n ? i - 1 : (i >= 2 ? i - 2 : i - 1);
            double e = LM_NAN;
            if (j + 2 < n) {
                const double t0 = t[j], t1 = t[j + 1], t2 = t[j + 2];
                const double u0 = u[j], u1 = u[j + 1], u2 = u[j + 2];
                /* Newton on the Lagrange quadratic from the linear estimate */
                double x = tl;
                for (int it = 0; it < 20; it++) {
                    const double l0 = (x - t1) * (x - t2) / ((t0 - t1) * (t0 - t2));
                    const double l1 = (x - t0) * (x - t2) / ((t1 - t0) * (t1 - t2));
                    const double l2 = (x - t0) * (x - t1) / ((t2 - t0) * (t2 - t1));
                    const double d0 = ((x - t1) + (x - t2)) / ((t0 - t1) * (t0 - t2));
                    const double d1 = ((x - t0) + (x - t2)) / ((t1 - t0) * (t1 - t2));
                    const double d2 = ((x - t0) + (x - t1)) / ((t2 - t0) * (t2 - t1));
                    const double f = u0 * l0 + u1 * l1 + u2 * l2 - level;
                    const double df = u0 * d0 + u1 * d1 + u2 * d2;
                    if (!(fabs(df) > 0))
                        break;
                    x -= f / df;
                }
                e = isfinite(x) && fabs(x - tl) <= t[j + 2] - t[j] ? fabs(x - tl) : t[i] - t[i - 1];
            }
            *err_est = isfinite(e) ? e : t[i] - t[i - 1];
        }
        return tl;
    }
    return LM_NAN;
}

double lm__exp_dln_lambda_max(size_t depth, double s_max) {
    const double n = (double) depth;
    return n * pow(s_max, 2.0 - 2.0 / n);
}

lm_status lm__exp_dln_figure_modes(const lm_exp_ctx *ctx, const char *name, const char *title,
                                   const lm__exp_dln_run *d, const double *theory,
                                   const char *theory_label, int normalise, lm_err *err) {
    const size_t r = d->r, n = d->n;
    if (r == 0 || n == 0)
        return LM_OK;
    /* about 60 markers per mode; the theory on every record */
    const size_t every = n > 60 ? n / 60 : 1, nm = (n + every - 1) / every;
    double *buf = lm_malloc((r * (2 * nm + n) + n) * sizeof *buf);
    if (!buf)
        LM_FAIL(err, LM_ENOMEM, "out of memory for figure %s", name);
    double *mx = buf, *my = buf + r * nm, *py = buf + 2 * r * nm, *px = py + r * n;
    lm__exp_fig_series fs[LM_DATA_MAX_MODES];
    char lab[LM_DATA_MAX_MODES][48], plab[LM_DATA_MAX_MODES][64];
    for (size_t j = 0; j < n; j++)
        px[j] = d->t[j];
    for (size_t k = 0; k < r; k++) {
        const double sc = normalise ? 1.0 / d->s[k] : 1.0;
        for (size_t i = 0; i < nm; i++) {
            mx[k * nm + i] = d->t[i * every];
            my[k * nm + i] = sc * d->u[k * n + i * every];
        }
        for (size_t j = 0; theory && j < n; j++)
            py[k * n + j] = sc * theory[k * n + j];
        snprintf(lab[k], sizeof lab[k], "u_%zu%s (s = %g)", k + 1, normalise ? " / s" : "",
                 d->s[k]);
        snprintf(plab[k], sizeof plab[k], "%s, s = %g", theory_label ? theory_label : "theory",
                 d->s[k]);
        fs[k] = (lm__exp_fig_series){.label = lab[k],
                                     .n = nm,
                                     .x = mx + k * nm,
                                     .y = my + k * nm,
                                     .u = NULL,
                                     .pred_label = plab[k],
                                     .n_pred = theory ? n : 0,
                                     .px = px,
                                     .py = py + k * n};
    }
    lm_status st = lm__exp_figure_law(ctx, name, title, "flow time t = eta step",
                                      normalise ? "u_k / s_k" : "u_k", 0, 0, r, fs, err);
    lm_free(buf);
    return st;
}
