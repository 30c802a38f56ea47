/*
 * eigenlearning.c: the eigenframework of kernel ridge regression (lmech/theory.h, science.md §8;
 * Simon, Dickens, Karkada, DeWeese, arXiv 2110.03922; Bordelon, Canatar, Pehlevan 2020, arXiv
 * 2002.02561), and a kernel's spectrum under the empirical measure of its points.
 *
 * kappa: f(kappa) = sum_i lambda_i / (lambda_i + kappa) + delta / kappa - n falls strictly from
 * f(0+) (= m - n at delta = 0, +inf for delta > 0) to -n as kappa -> inf, so there is one root,
 * and the bracket is written down rather than searched for:
 *   hi = 2 (sum_i lambda_i + delta) / n:  every term is below lambda_i / kappa, so f(hi) <= -n/2;
 *   lo = max(delta / n, lambda_min (m - n) / n) / 2 (the second only when n < m): below delta / n
 *        the ridge term alone exceeds n, below lambda_min (m - n) / n each of the m fractions
 *        exceeds n / m; either way f(lo) > 0.
 * GSL's Brent solver runs on u = log kappa (f(e^u) is smooth and the root may sit anywhere over
 * many decades) to |du| <= 1e-14, i.e. kappa to a relative 1e-14.
 *
 * Bordelon's form solves its own equation for kappa' = n kappa, by bisection on log kappa' from
 * an expanding bracket (a different root finder and a different bracket), then evaluates gamma
 * and E_g by its own formulas: agreement with lm_eigenlearning is a real cross-check.
 */
#include "lmech/theory.h"

#include <cblas.h>
#include <float.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_roots.h>
#include <lapacke.h>
#include <string.h>

#define EL_MAX_ITER 500
#define EL_EPS_U    1e-14 /* absolute tolerance on log kappa (relative on kappa) */

/* Relative asymmetry accepted in a Gram matrix (as kernel_predict.c: float64 symmetric formulas
 * are exactly symmetric, BLAS J J^T products within a few ulps). */
#define SPEC_SYM_TOL 1e-10

static lm_status check_inputs(const char *who, size_t m, const double *lambda, const double *v,
                              double n, double ridge, double noise, lm_err *err) {
    if (m == 0)
        LM_FAIL(err, LM_EINVAL, "%s: no eigenvalues (m = 0)", who);
    if (!lambda || !v)
        LM_FAIL(err, LM_EINVAL, "%s: eigenvalues and coefficients are required (NULL given)", who);
    for (size_t i = 0; i < m; i++) {
        if (!isfinite(lambda[i]) || lambda[i] <= 0)
            LM_FAIL(err, LM_EINVAL,
                    "%s: eigenvalue %zu is %g; every eigenvalue must be finite "
                    "and > 0",
                    who, i, lambda[i]);
        if (!isfinite(v[i]))
            LM_FAIL(err, LM_EINVAL, "%s: coefficient %zu is %g; coefficients must be finite", who,
                    i, v[i]);
    }
    if (!isfinite(n) || n <= 0)
        LM_FAIL(err, LM_EINVAL, "%s: n = %g samples; n must be finite and > 0", who, n);
    if (!isfinite(ridge) || ridge < 0)
        LM_FAIL(err, LM_EINVAL, "%s: ridge = %g; the ridge must be finite and >= 0", who, ridge);
    if (!isfinite(noise) || noise < 0)
        LM_FAIL(err, LM_EINVAL, "%s: noise = %g; the noise variance must be finite and >= 0", who,
                noise);
    if (ridge == 0 && n >= (double) m)
        LM_FAIL(err, LM_ERANGE,
                "%s: n = %g samples with ridge 0 and only m = %zu eigenvalues: the effective "
                "regulariser kappa is 0 (n >= m samples of a rank-m kernel interpolate nothing "
                "more); pass more eigenvalues, fewer samples or a ridge > 0",
                who, n, m);
    return LM_OK;
}

typedef struct el_problem {
    size_t m;
    const double *lambda;
    double n, ridge;
} el_problem;

/* f(e^u) = sum_i lambda_i / (lambda_i + kappa) + delta / kappa - n. */
static double el_f(double u, void *params) {
    const el_problem *p = params;
    const double kappa = exp(u);
    double s = 0;
    for (size_t i = 0; i < p->m; i++)
        s += p->lambda[i] / (p->lambda[i] + kappa);
    return s + p->ridge / kappa - p->n;
}

/* Brent on [u_lo, u_hi] (f(u_lo) > 0 > f(u_hi)); returns the root in *u. */
static lm_status brent(gsl_function *F, const gsl_root_fsolver_type *type, double u_lo, double u_hi,
                       double *u, const char *who, lm_err *err) {
    gsl_root_fsolver *s = gsl_root_fsolver_alloc(type);
    if (!s)
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory for the root finder", who);
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int rc = gsl_root_fsolver_set(s, F, u_lo, u_hi), it = 0;
    while (rc == GSL_SUCCESS && it++ < EL_MAX_ITER) {
        rc = gsl_root_fsolver_iterate(s);
        if (rc != GSL_SUCCESS)
            break;
        rc = gsl_root_test_interval(gsl_root_fsolver_x_lower(s), gsl_root_fsolver_x_upper(s),
                                    EL_EPS_U, 0);
        if (rc == GSL_SUCCESS)
            break;
        rc = rc == GSL_CONTINUE ? GSL_SUCCESS : rc;
    }
    *u = gsl_root_fsolver_root(s);
    gsl_root_fsolver_free(s);
    gsl_set_error_handler(old);
    if (rc != GSL_SUCCESS || it > EL_MAX_ITER || !isfinite(*u))
        LM_FAIL(err, LM_ENUMERIC,
                "%s: the root finder for kappa failed (%s after %d iterations "
                "on log kappa in [%g, %g])",
                who, gsl_strerror(rc), it, u_lo, u_hi);
    return LM_OK;
}

lm_status lm_eigenlearning(size_t m, const double *lambda, const double *v, double n, double ridge,
                           double noise, lm_eigenlearn *out, double *learnability, lm_err *err) {
    static const char who[] = "eigenlearning";
    LM_TRY(check_inputs(who, m, lambda, v, n, ridge, noise, err));
    if (!out)
        LM_FAIL(err, LM_EINVAL, "%s: out is NULL", who);
    double sum = 0, lmin = LM_INF;
    for (size_t i = 0; i < m; i++) {
        sum += lambda[i];
        lmin = fmin(lmin, lambda[i]);
    }
    const double hi = 2 * (sum + ridge) / n;
    double lo = ridge / n;
    if (n < (double) m)
        lo = fmax(lo, lmin * ((double) m - n) / n);
    lo *= 0.5;
    el_problem prob = {m, lambda, n, ridge};
    gsl_function F = {el_f, &prob};
    double u = 0;
    if (!(lo > 0) || !(el_f(log(lo), &prob) > 0) || !(el_f(log(hi), &prob) < 0))
        LM_FAIL(err, LM_ENUMERIC,
                "%s: no sign change of the kappa equation on [%g, %g] (n = %g, ridge = %g, m = "
                "%zu): the spectrum spans more than double precision resolves",
                who, lo, hi, n, ridge, m);
    LM_TRY(brent(&F, gsl_root_fsolver_brent, log(lo), log(hi), &u, who, err));
    const double kappa = exp(u);
    double sl = 0, sl2 = 0, bias = 0;
    for (size_t i = 0; i < m; i++) {
        const double L = lambda[i] / (lambda[i] + kappa), r = kappa / (lambda[i] + kappa);
        sl += L;
        sl2 += L * L;
        bias += r * r * v[i] * v[i];
    }
    /* sum L^2 < sum L <= n, so the denominator is positive */
    const double e0 = n / (n - sl2);
    const double test = e0 * (bias + noise), q = ridge / (n * kappa);
    for (size_t i = 0; learnability && i < m; i++)
        learnability[i] = lambda[i] / (lambda[i] + kappa);
    *out = (lm_eigenlearn){
        .n = n,
        .ridge = ridge,
        .noise = noise,
        .kappa = kappa,
        .sum_l = sl,
        .e0 = e0,
        .test_mse = test,
        .train_mse = q * q * test,
    };
    return LM_OK;
}

/* ------------------------------------------------------------------ Bordelon et al.'s form */

/* h(w) = 1 - delta / kappa' - sum_k lambda_k / (n lambda_k + kappa'), kappa' = e^w: Bordelon's
 * kappa' = delta + kappa' sum_k lambda_k / (n lambda_k + kappa') divided by kappa'. */
static double bcp_h(double w, void *params) {
    const el_problem *p = params;
    const double kp = exp(w);
    double s = 0;
    for (size_t k = 0; k < p->m; k++)
        s += p->lambda[k] / (p->n * p->lambda[k] + kp);
    return 1 - p->ridge / kp - s;
}

lm_status lm_eigenlearning_bordelon(size_t m, const double *lambda, const double *v, double n,
                                    double ridge, double noise, double *test_mse, lm_err *err) {
    static const char who[] = "eigenlearning (Bordelon)";
    LM_TRY(check_inputs(who, m, lambda, v, n, ridge, noise, err));
    if (!test_mse)
        LM_FAIL(err, LM_EINVAL, "%s: test_mse is NULL", who);
    el_problem prob = {m, lambda, n, ridge};
    /* h rises from below 0 (kappa' -> 0) to 1: expand from 1 by factors of 4 until the signs
     * differ (at most ~1000 expansions span the doubles) */
    double w_lo = 0, w_hi = 0;
    int k = 0;
    while (bcp_h(w_lo, &prob) >= 0 && k++ < 1100)
        w_lo -= log(4.0);
    k = 0;
    while (bcp_h(w_hi, &prob) <= 0 && k++ < 1100)
        w_hi += log(4.0);
    if (!(bcp_h(w_lo, &prob) < 0) || !(bcp_h(w_hi, &prob) > 0))
        LM_FAIL(err, LM_ENUMERIC, "%s: could not bracket kappa' (n = %g, ridge = %g)", who, n,
                ridge);
    gsl_function H = {bcp_h, &prob};
    double w = 0;
    LM_TRY(brent(&H, gsl_root_fsolver_bisection, w_lo, w_hi, &w, who, err));
    const double kp = exp(w);
    double gamma = 0, bias = 0;
    for (size_t i = 0; i < m; i++) {
        const double den = n * lambda[i] + kp;
        gamma += n * lambda[i] * lambda[i] / (den * den);
        bias += kp * kp * v[i] * v[i] / (den * den);
    }
    *test_mse = (bias + noise) / (1 - gamma);
    return LM_OK;
}

/* ------------------------------------------------------------------ empirical spectrum */

lm_status lm_kernel_spectrum(const double *K, size_t N, const double *y, size_t k, double *lambda,
                             double *v, size_t *m_pos, lm_err *err) {
    static const char who[] = "kernel spectrum";
    if (N == 0)
        LM_FAIL(err, LM_ESHAPE, "%s: empty Gram matrix (N = 0)", who);
    if (!K || !lambda || (v && (!y || k == 0)))
        LM_FAIL(err, LM_EINVAL, "%s: K and lambda are required, and y with k >= 1 for v", who);
    if (N > (size_t) INT32_MAX)
        LM_FAIL(err, LM_ESHAPE, "%s: N = %zu exceeds LAPACK's index range", who, N);
    double mx = 0;
    for (size_t i = 0; i < N * N; i++) {
        if (!isfinite(K[i]))
            LM_FAIL(err, LM_ENUMERIC, "%s: K[%zu,%zu] is %g (NaN/Inf)", who, i / N, i % N, K[i]);
        mx = fmax(mx, fabs(K[i]));
    }
    for (size_t i = 0; y && i < N * k; i++)
        if (!isfinite(y[i]))
            LM_FAIL(err, LM_ENUMERIC, "%s: y[%zu,%zu] is %g (NaN/Inf)", who, i / k, i % k, y[i]);
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++)
            if (fabs(K[i * N + j] - K[j * N + i]) > SPEC_SYM_TOL * mx)
                LM_FAIL(err, LM_EINVAL,
                        "%s: K is not symmetric: [%zu,%zu] = %.17g but [%zu,%zu] = %.17g", who, i,
                        j, K[i * N + j], j, i, K[j * N + i]);
    double *a = lm_malloc(N * N * sizeof *a), *w = lm_malloc(N * sizeof *w);
    if (!a || !w) {
        lm_free(a);
        lm_free(w);
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory for a %zu x %zu eigendecomposition", who, N, N);
    }
    const double inv = 1.0 / (double) N;
    for (size_t i = 0; i < N * N; i++)
        a[i] = K[i] * inv;
    const lapack_int nn = (lapack_int) N;
    const lapack_int info =
        LAPACKE_dsyevd(LAPACK_ROW_MAJOR, v ? 'V' : 'N', 'U', nn, a, nn, w); /* ascending */
    if (info != 0) {
        lm_free(a);
        lm_free(w);
        LM_FAIL(err, LM_ENUMERIC, "%s: dsyevd failed (info %d) on the %zu x %zu Gram matrix", who,
                (int) info, N, N);
    }
    const double lmax = w[N - 1], floor_ = (double) N * DBL_EPSILON * fmax(lmax, 0);
    if (w[0] < -floor_) {
        const double w0 = w[0];
        lm_free(a);
        lm_free(w);
        LM_FAIL(err, LM_EINVAL,
                "%s: K is not positive semi-definite: eigenvalue %.6g of K/N below -N eps "
                "lambda_max = %.3g",
                who, w0, -floor_);
    }
    size_t pos = 0;
    for (size_t i = 0; i < N; i++) {
        const double l = w[N - 1 - i];
        lambda[i] = l > floor_ ? l : 0.0;
        pos += l > floor_;
    }
    if (v) {
        /* v_i = Phi_i^T y / sqrt(N), Phi_i = column N - 1 - i of a (descending order): one
         * product a^T y (ascending order) reversed into v */
        double *t = lm_malloc(N * k * sizeof *t);
        if (!t) {
            lm_free(a);
            lm_free(w);
            LM_FAIL(err, LM_ENOMEM, "%s: out of memory for %zu x %zu coefficients", who, N, k);
        }
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) N, (int) k, (int) N,
                    1.0 / sqrt((double) N), a, (int) N, y, (int) k, 0.0, t, (int) k);
        for (size_t i = 0; i < N; i++)
            memcpy(v + i * k, t + (N - 1 - i) * k, k * sizeof *v);
        lm_free(t);
    }
    if (m_pos)
        *m_pos = pos;
    lm_free(a);
    lm_free(w);
    return LM_OK;
}
