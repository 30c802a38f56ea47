/*
 * trace.c: stochastic estimates of the whole spectrum: Hutchinson's trace, stochastic Lanczos
 * quadrature (SLQ) and its broadened density, and the Wasserstein-1 distance used to judge SLQ
 * against an exact spectrum.
 *
 * Why these: tr H and the spectral density summarise the millions of eigenvalues that Lanczos
 * never resolves. Hutchinson with Rademacher probes has variance (2/m)(||H||_F^2 - sum H_ii^2)
 * (the smallest among i.i.d. probes with unit variance entries); SLQ (Ubaru, Chen & Saad 2017)
 * approximates the spectral measure of q^T f(H) q by m-point Gauss quadrature from m Lanczos
 * steps: nodes = Ritz values theta_j, weights = squared first components of T's eigenvectors.
 * The broadening follows PyHessian (Yao et al. 2020, density_generate): Gaussians of variance
 * 1e-5 * max(1, range) on a 10^4-point grid, renormalised to unit mass.
 *
 * Workload: 10 probes x 80-100 steps for a density, 100-1000 probes for a trace; the products
 * dominate, everything here is O(p m^2) at most.
 */
#include "curv/internal.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* PyHessian's density_generate defaults: sigma_squared = 1e-5 (scaled by max(1, range)) and an
 * `overhead` of 0.01 added beyond the extreme mean nodes, so the grid covers their tails. */
#define SLQ_SIGMA2   1e-5
#define SLQ_OVERHEAD 0.01
#define TWO_PI       6.28318530717958647692

lm_status lm_curv_hutchinson(lm_linop_fn op, void *ud, size_t p, size_t n_probes, uint64_t seed,
                             lm_curv_ws *ws, double *estimate, double *stderr_out, double *samples,
                             lm_err *err) {
    if (!op || !ws || !estimate || !stderr_out)
        LM_FAIL(err, LM_EINVAL, "lm_curv_hutchinson: op, ws, estimate, stderr must not be NULL");
    if (ws->p != p)
        LM_FAIL(err, LM_EINVAL, "lm_curv_hutchinson: workspace made for p = %zu, operator has %zu",
                ws->p, p);
    if (n_probes < 2)
        LM_FAIL(err, LM_EINVAL, "lm_curv_hutchinson: %zu probes; a standard error needs at least 2",
                n_probes);
    lm_rng rng;
    lm_rng_seed(&rng, seed, LM_STREAM_PROBE);
    /* Welford's running mean and sum of squared deviations: no cancellation when the trace is
     * large beside its spread. */
    double mean = 0, m2 = 0;
    for (size_t i = 0; i < n_probes; i++) {
        lm__rademacher(&rng, ws->y, p);
        LM_TRY(op(ud, ws->y, ws->hy, err));
        double s = cblas_ddot((int) p, ws->y, 1, ws->hy, 1);
        if (!isfinite(s))
            LM_FAIL(err, LM_ENUMERIC, "Hutchinson probe %zu: z^T H z is not finite", i);
        if (samples)
            samples[i] = s;
        double delta = s - mean;
        mean += delta / (double) (i + 1);
        m2 += delta * (s - mean);
    }
    *estimate = mean;
    *stderr_out = sqrt(m2 / (double) (n_probes - 1) / (double) n_probes);
    return LM_OK;
}

lm_status lm_curv_slq(lm_linop_fn op, void *ud, size_t p, size_t n_probes, size_t m, uint64_t seed,
                      lm_curv_ws *ws, double *nodes, double *weights, double *trace, lm_err *err) {
    if (!op || !ws || !nodes || !weights)
        LM_FAIL(err, LM_EINVAL, "lm_curv_slq: op, ws, nodes and weights must not be NULL");
    if (ws->p != p)
        LM_FAIL(err, LM_EINVAL, "lm_curv_slq: workspace made for p = %zu, operator has %zu", ws->p,
                p);
    if (n_probes == 0)
        LM_FAIL(err, LM_EINVAL, "lm_curv_slq: 0 probes");
    if (m == 0 || m > ws->cap)
        LM_FAIL(err, LM_EINVAL,
                "lm_curv_slq: m = %zu Lanczos steps (must be 1 to %zu, the "
                "workspace's capacity)",
                m, ws->cap);
    lm_rng rng;
    lm_rng_seed(&rng, seed, LM_STREAM_PROBE);
    double tr = 0;
    const double inv_sqrt_p = 1.0 / sqrt((double) p);
    for (size_t r = 0; r < n_probes; r++) {
        lm__rademacher(&rng, ws->Q, p);
        cblas_dscal((int) p, inv_sqrt_p, ws->Q, 1);
        size_t j = 0;
        int broke = 0;
        while (j < m && !broke) {
            LM_TRY(lm__lanczos_step(op, ud, ws, j, &broke, err));
            j++;
        }
        LM_TRY(lm__tridiag_eig(ws, j, err));
        double *nd = nodes + r * m, *wt = weights + r * m, s = 0;
        for (size_t i = 0; i < j; i++) {
            double z0 = ws->z[i * j];
            nd[i] = ws->d[i];
            wt[i] = z0 * z0;
            s += wt[i] * nd[i];
        }
        for (size_t i = j; i < m; i++) {
            nd[i] = ws->d[j - 1];
            wt[i] = 0;
        }
        tr += s;
    }
    if (trace)
        *trace = (double) p * tr / (double) n_probes;
    return LM_OK;
}

lm_status lm_curv_density(size_t n_probes, size_t m, const double *nodes, const double *weights,
                          size_t n_bins, double sigma2, double *grid, double *values, lm_err *err) {
    if (!nodes || !weights || !grid || !values)
        LM_FAIL(err, LM_EINVAL, "lm_curv_density: NULL array");
    if (n_probes == 0 || m == 0 || n_bins < 2)
        LM_FAIL(err, LM_EINVAL,
                "lm_curv_density: %zu probes x %zu nodes on %zu bins (need >= 1, "
                ">= 1, >= 2)",
                n_probes, m, n_bins);
    double lmax = 0, lmin = 0;
    for (size_t r = 0; r < n_probes; r++) {
        double hi = -(double) INFINITY, lo = (double) INFINITY;
        for (size_t i = 0; i < m; i++) {
            double t = nodes[r * m + i], w = weights[r * m + i];
            if (!isfinite(t) || !isfinite(w) || w < 0)
                LM_FAIL(err, LM_EINVAL, "lm_curv_density: node %zu of probe %zu is (%g, weight %g)",
                        i, r, t, w);
            hi = fmax(hi, t);
            lo = fmin(lo, t);
        }
        lmax += hi;
        lmin += lo;
    }
    lmax = lmax / (double) n_probes + SLQ_OVERHEAD;
    lmin = lmin / (double) n_probes - SLQ_OVERHEAD;
    double s2 = (sigma2 > 0 ? sigma2 : SLQ_SIGMA2) * fmax(1.0, lmax - lmin);
    double dx = (lmax - lmin) / (double) (n_bins - 1);
    const double norm = 1.0 / sqrt(TWO_PI * s2);
    double total = 0;
    for (size_t g = 0; g < n_bins; g++) {
        double t = lmin + (double) g * dx, acc = 0;
        for (size_t k = 0; k < n_probes * m; k++) {
            double u = t - nodes[k];
            if (weights[k] > 0)
                acc += weights[k] * norm * exp(-u * u / (2.0 * s2));
        }
        grid[g] = t;
        values[g] = acc / (double) n_probes;
        total += values[g];
    }
    total *= dx;
    if (!(total > 0))
        LM_FAIL(err, LM_ENUMERIC, "lm_curv_density: the density has no mass on the grid");
    for (size_t g = 0; g < n_bins; g++)
        values[g] /= total;
    return LM_OK;
}

typedef struct wpoint {
    double t, wa, wb;
} wpoint;

static int cmp_wpoint(const void *x, const void *y) {
    double a = ((const wpoint *) x)->t, b = ((const wpoint *) y)->t;
    return (a > b) - (a < b);
}

static lm_status total_weight(size_t n, const double *v, const double *w, const char *name,
                              double *out, lm_err *err) {
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        if (!isfinite(v[i]) || !isfinite(wi) || wi < 0)
            LM_FAIL(err, LM_EINVAL, "lm_curv_w1: %s[%zu] = %g with weight %g", name, i, v[i], wi);
        s += wi;
    }
    if (!(s > 0))
        LM_FAIL(err, LM_EINVAL, "lm_curv_w1: measure %s has total weight %g", name, s);
    *out = s;
    return LM_OK;
}

lm_status lm_curv_w1(size_t n_a, const double *a, const double *wa, size_t n_b, const double *b,
                     const double *wb, double *out, lm_err *err) {
    if (!a || !b || !out || n_a == 0 || n_b == 0)
        LM_FAIL(err, LM_EINVAL, "lm_curv_w1: empty measure");
    double sa, sb;
    LM_TRY(total_weight(n_a, a, wa, "a", &sa, err));
    LM_TRY(total_weight(n_b, b, wb, "b", &sb, err));
    wpoint *pt = lm_malloc((n_a + n_b) * sizeof *pt);
    if (!pt)
        LM_FAIL(err, LM_ENOMEM, "lm_curv_w1: out of memory for %zu points", n_a + n_b);
    for (size_t i = 0; i < n_a; i++)
        pt[i] = (wpoint){a[i], (wa ? wa[i] : 1.0) / sa, 0};
    for (size_t i = 0; i < n_b; i++)
        pt[n_a + i] = (wpoint){b[i], 0, (wb ? wb[i] : 1.0) / sb};
    qsort(pt, n_a + n_b, sizeof *pt, cmp_wpoint);
    double fa = 0, fb = 0, w1 = 0;
    for (size_t i = 0; i + 1 < n_a + n_b; i++) {
        fa += pt[i].wa;
        fb += pt[i].wb;
        w1 += fabs(fa - fb) * (pt[i + 1].t - pt[i].t);
    }
    lm_free(pt);
    *out = w1;
    return LM_OK;
}
