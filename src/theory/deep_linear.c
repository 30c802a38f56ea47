/*
 * deep_linear.c: the learning dynamics of deep linear networks on whitened data (Saxe,
 * McClelland, Ganguli 2014, arXiv 1312.6120; science.md §1; formulas in lmech/theory.h).
 *
 * With the aligned, balanced initialisation every task mode u_k = u_k^T W_N ... W_1 v_k moves on
 * its own under gradient flow of L = (1/2P) sum ||y - W x||^2:
 *     du/dt = N u^{2 - 2/N} (s - u).
 * Derivation (science.md §1, checked here): balanced layers keep equal singular values a on the
 * mode, u = a^N; each layer's singular value obeys da/dt = a^{N-1} (s - a^N) (the mode's share of
 * W_{i+1}^T (Sigma^yx - W) W_{i-1}^T), so du/dt = N a^{N-1} da/dt = N a^{2N-2} (s - u)
 * = N u^{2-2/N} (s - u). For N = 2 this is the logistic du/dt = 2u(s - u), solved in closed form,
 * written here in the overflow-free form
 *     u(t) = s / (1 + (s/u0 - 1) e^{-2st})   (= s e^{2st} / (e^{2st} - 1 + s/u0)).
 * The half-time is the separable integral t = int_{u0}^{s/2} du / (N u^{2-2/N} (s - u)), taken in
 * x = ln u (du = u dx), where the integrand u^{2/N-1} / (N (s - u)) is smooth and bounded: GSL's
 * adaptive Gauss-Kronrod (qag, 61 points). N = 2 gives ln((s - u0)/u0) / (2s) exactly.
 * For N >= 3 and u0 -> 0 the integral is u0^{-(N-2)/N} / ((N-2) s) + O(1/s) (the integrand near
 * u0 is u^{-(2-2/N)} / (N s)): the power-law dependence on the initial scale that sharpens the
 * stages at depth.
 */
#include "lmech/theory.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_odeiv2.h>

#include <stdlib.h> /* qsort */

#define QUAD_LIMIT 1000
#define ODE_TOL    1e-12

double lm_dln_u2(double s, double u0, double t) {
    return s / (1.0 + (s / u0 - 1.0) * exp(-2.0 * s * t));
}

typedef struct mode_par {
    double s, n; /* singular value, depth */
} mode_par;

/* The half-time integrand in x = ln u: u^{2/N - 1} / (N (s - u)). */
static double half_integrand(double x, void *p) {
    const mode_par *m = p;
    double u = exp(x);
    return pow(u, 2.0 / m->n - 1.0) / (m->n * (m->s - u));
}

static lm_status check_mode(unsigned depth, double s, double u0, lm_err *err) {
    if (depth == 0)
        LM_FAIL(err, LM_EINVAL, "deep linear: depth 0: need at least one layer");
    if (!(s > 0) || !isfinite(s))
        LM_FAIL(err, LM_EINVAL, "deep linear: singular value s = %g: must be finite and > 0", s);
    if (!(u0 > 0) || !isfinite(u0))
        LM_FAIL(err, LM_EINVAL, "deep linear: u0 = %g: must be finite and > 0", u0);
    return LM_OK;
}

lm_status lm_dln_half_time(unsigned depth, double s, double u0, double *t_half, lm_err *err) {
    LM_TRY(check_mode(depth, s, u0, err));
    if (!t_half)
        LM_FAIL(err, LM_EINVAL, "lm_dln_half_time: t_half must not be NULL");
    if (!(u0 < 0.5 * s)) {
        *t_half = LM_NAN;
        LM_FAIL(err, LM_ERANGE,
                "deep linear: u0 = %g is not below s/2 = %g: the mode starts past its half-way "
                "point, so it has no half-time",
                u0, 0.5 * s);
    }
    if (depth == 2) {
        *t_half = log((s - u0) / u0) / (2.0 * s);
        return LM_OK;
    }
    gsl_integration_workspace *ws = gsl_integration_workspace_alloc(QUAD_LIMIT);
    if (!ws)
        LM_FAIL(err, LM_ENOMEM, "deep linear: out of memory for the quadrature workspace");
    mode_par par = {s, (double) depth};
    gsl_function f = {half_integrand, &par};
    double val, abserr;
    int rc = gsl_integration_qag(&f, log(u0), log(0.5 * s), 0.0, 1e-12, QUAD_LIMIT,
                                 GSL_INTEG_GAUSS61, ws, &val, &abserr);
    gsl_integration_workspace_free(ws);
    if (rc != GSL_SUCCESS && !(abserr <= 1e-9 * fabs(val)))
        LM_FAIL(err, LM_ENUMERIC,
                "deep linear: half-time quadrature (depth %u, s = %g, u0 = %g) failed: %s "
                "(estimate %g, error %g)",
                depth, s, u0, gsl_strerror(rc), val, abserr);
    *t_half = val;
    return LM_OK;
}

static int ode_rhs(double t, const double y[], double dydt[], void *p) {
    (void) t;
    const mode_par *m = p;
    double u = y[0] > 0 ? y[0] : 0.0; /* u stays positive; guards the power near 0 */
    dydt[0] = m->n * pow(u, 2.0 - 2.0 / m->n) * (m->s - y[0]);
    return GSL_SUCCESS;
}

typedef struct by_time {
    const double *t;
    size_t i;
} by_time;

static int cmp_time(const void *a, const void *b) {
    const by_time *x = a, *y = b;
    return (x->t[x->i] > y->t[y->i]) - (x->t[x->i] < y->t[y->i]);
}

lm_status lm_dln_modes(unsigned depth, size_t n_modes, const double *s, double u0, size_t n_t,
                       const double *t, double *u, double *t_half, lm_err *err) {
    if (n_modes == 0 || !s)
        LM_FAIL(err, LM_EINVAL, "deep linear: no modes (n_modes = 0 or s NULL)");
    if (n_t > 0 && (!t || !u))
        LM_FAIL(err, LM_EINVAL, "deep linear: %zu times but t or u is NULL", n_t);
    for (size_t k = 0; k < n_modes; k++)
        LM_TRY(check_mode(depth, s[k], u0, err));
    for (size_t j = 0; j < n_t; j++)
        if (!(t[j] >= 0) || !isfinite(t[j]))
            LM_FAIL(err, LM_EINVAL, "deep linear: time[%zu] = %g: must be finite and >= 0", j,
                    t[j]);
    by_time *order = NULL;
    if (depth != 2 && n_t > 0) {
        order = lm_malloc(n_t * sizeof *order);
        if (!order)
            LM_FAIL(err, LM_ENOMEM, "deep linear: out of memory for %zu times", n_t);
        for (size_t j = 0; j < n_t; j++)
            order[j] = (by_time){t, j};
        qsort(order, n_t, sizeof *order, cmp_time);
    }
    lm_status st = LM_OK;
    for (size_t k = 0; k < n_modes && st == LM_OK; k++) {
        double *row = u ? u + k * n_t : NULL;
        if (depth == 2) {
            for (size_t j = 0; j < n_t; j++)
                row[j] = lm_dln_u2(s[k], u0, t[j]);
        } else if (n_t > 0) {
            mode_par par = {s[k], (double) depth};
            gsl_odeiv2_system sys = {ode_rhs, NULL, 1, &par};
            /* A first step well below the mode's fastest time scale (~1/(N s)); the driver adapts
             * it to the 1e-12 tolerances. */
            double h0 = 1e-6 / (par.n * s[k] + 1.0);
            gsl_odeiv2_driver *drv =
                gsl_odeiv2_driver_alloc_y_new(&sys, gsl_odeiv2_step_rk8pd, h0, ODE_TOL, ODE_TOL);
            if (!drv) {
                st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                                "deep linear: out of memory for the ODE driver");
                break;
            }
            double tc = 0.0, y[1] = {u0};
            for (size_t j = 0; j < n_t; j++) {
                size_t i = order[j].i;
                if (t[i] > tc) {
                    int rc = gsl_odeiv2_driver_apply(drv, &tc, t[i], y);
                    if (rc != GSL_SUCCESS || !isfinite(y[0])) {
                        st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__,
                                        "deep linear: ODE integration (depth %u, s = %g, u0 = "
                                        "%g) failed at t = %g: %s",
                                        depth, s[k], u0, tc, gsl_strerror(rc));
                        break;
                    }
                }
                row[i] = y[0];
            }
            gsl_odeiv2_driver_free(drv);
        }
        if (st == LM_OK && t_half) {
            if (u0 < 0.5 * s[k])
                st = lm_dln_half_time(depth, s[k], u0, &t_half[k], err);
            else
                t_half[k] = LM_NAN;
        }
    }
    lm_free(order);
    return st;
}
