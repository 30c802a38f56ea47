/*
 * kernel_predict.c: closed-form predictions of infinite-width networks from their kernels
 * (lmech/theory.h, science.md §2): the NNGP posterior by Cholesky, and the output of MSE
 * training under a fixed NTK Theta at any time t, gradient flow or discrete GD, after Neural
 * Tangents' `predict.gradient_descent_mse`.
 *
 * Why an eigendecomposition: with Theta = V diag(lambda) V^T every time t is a diagonal
 * scaling, so one dsyevd (O(n^3)) serves a whole time series at O((n + m) n k) per time. The
 * workload of the ntk-dynamics experiment is n = 64..256 training and m <= 1000 test points at
 * ~100 times: the decomposition dominates and takes milliseconds.
 *
 * Small eigenvalues: (1 - d) / lambda is evaluated as c t e1(y) h(c lambda) with y = log(d),
 * e1(y) = expm1(y) / y and h(u) = log1p(-u) / (-u) (both -> 1 at 0), so lambda -> 0 gives the
 * limit c t without cancellation, and a zero or slightly negative (rounded) eigenvalue is fine.
 */
#include "lmech/theory.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <string.h>

/* Relative asymmetry |A_ij - A_ji| / max|A| accepted in a kernel matrix: kernels built in
 * float64 by a symmetric formula are exactly symmetric, and one computed as J J^T by BLAS is
 * symmetric to a few ulps times the reduction length. 1e-10 accepts those and rejects a
 * transposed or wrong matrix. */
#define KPRED_SYM_TOL 1e-10

struct lm_kpred {
    size_t n, m, k;
    lm_kpred_mode mode;
    double c;      /* eta / norm                                   */
    double norm;   /* loss normalisation                           */
    int mean_only; /* f0 = 0 (the mean over initialisations)       */
    double *lam;   /* [n] eigenvalues, ascending                   */
    double *v;     /* [n, n] eigenvectors in columns               */
    double *r;     /* [n, k] V^T (Y - f0(X))                       */
    double *a;     /* [m, n] Theta(x*, X) V                        */
    double *y;     /* [n, k]                                       */
    double *f0tr;  /* [n, k] or NULL                               */
    double *f0te;  /* [m, k] or NULL                               */
    double *q;     /* [n] v_i^T K v_i, or NULL without nngp_train  */
};

double lm_kpred_norm_for_loss(lm_loss loss, size_t n, size_t k) {
    return loss == LM_LOSS_MSE_MEAN ? (double) n * (double) k : (double) n;
}

lm_kpred_spec lm_kpred_spec_default(void) {
    lm_kpred_spec s = {LM_KPRED_FLOW, 1.0, 0.0};
    return s;
}

static lm_status check_finite(const double *a, size_t count, const char *what, lm_err *err) {
    for (size_t i = 0; i < count; i++)
        if (!isfinite(a[i]))
            LM_FAIL(err, LM_ENUMERIC, "%s: element %zu is %g (NaN/Inf)", what, i, a[i]);
    return LM_OK;
}

static lm_status check_sym(const double *a, size_t n, const char *what, lm_err *err) {
    double mx = 0;
    for (size_t i = 0; i < n * n; i++)
        mx = fmax(mx, fabs(a[i]));
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (fabs(a[i * n + j] - a[j * n + i]) > KPRED_SYM_TOL * mx)
                LM_FAIL(err, LM_EINVAL,
                        "%s is not symmetric: [%zu,%zu] = %.17g but [%zu,%zu] = %.17g", what, i, j,
                        a[i * n + j], j, i, a[j * n + i]);
    return LM_OK;
}

/* ------------------------------------------------------------------ NNGP posterior */

lm_status lm_kpred_posterior(const double *k_train, const double *k_cross, const double *k_diag,
                             const double *y, size_t n, size_t m, size_t k, double s2, double *mean,
                             double *var, lm_err *err) {
    if (n == 0 || m == 0 || k == 0)
        LM_FAIL(err, LM_ESHAPE, "posterior: empty shape (n = %zu, m = %zu, k = %zu)", n, m, k);
    if (!k_train || !k_cross || !y || (!mean && !var) || (var && !k_diag))
        LM_FAIL(err, LM_EINVAL,
                "posterior: k_train, k_cross, y, an output, and k_diag for var are required");
    if (!isfinite(s2) || s2 < 0)
        LM_FAIL(err, LM_EINVAL, "posterior: noise variance s2 = %g must be finite and >= 0", s2);
    LM_TRY(check_finite(k_train, n * n, "posterior: k_train", err));
    LM_TRY(check_finite(k_cross, m * n, "posterior: k_cross", err));
    LM_TRY(check_finite(y, n * k, "posterior: y", err));
    if (var)
        LM_TRY(check_finite(k_diag, m, "posterior: k_diag", err));
    LM_TRY(check_sym(k_train, n, "posterior: k_train", err));
    double *l = lm_malloc(n * n * sizeof *l), *alpha = lm_malloc(n * k * sizeof *alpha);
    double *b = var ? lm_malloc(n * m * sizeof *b) : NULL;
    if (!l || !alpha || (var && !b)) {
        lm_free(l);
        lm_free(alpha);
        lm_free(b);
        LM_FAIL(err, LM_ENOMEM, "posterior: out of memory (n = %zu, m = %zu)", n, m);
    }
    memcpy(l, k_train, n * n * sizeof *l);
    for (size_t i = 0; i < n; i++)
        l[i * n + i] += s2;
    const lapack_int N = (lapack_int) n;
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', N, l, N);
    if (info != 0) {
        lm_free(l);
        lm_free(alpha);
        lm_free(b);
        LM_FAIL(err, LM_EINVAL,
                "posterior: k_train + s2 I (s2 = %g) is not positive definite (Cholesky failed "
                "at leading minor %d of %zu); add a ridge s2 > 0",
                s2, (int) info, n);
    }
    memcpy(alpha, y, n * k * sizeof *alpha);
    LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', N, (lapack_int) k, l, N, alpha, (lapack_int) k);
    if (var) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < m; j++)
                b[i * m + j] = k_cross[j * n + i];
        LAPACKE_dtrtrs(LAPACK_ROW_MAJOR, 'L', 'N', 'N', N, (lapack_int) m, l, N, b, (lapack_int) m);
        for (size_t j = 0; j < m; j++) {
            double s = 0;
            for (size_t i = 0; i < n; i++)
                s += b[i * m + j] * b[i * m + j];
            /* rounding can push a variance that is exactly 0 (x* in X, s2 = 0) below zero */
            var[j] = fmax(0.0, k_diag[j] - s);
        }
    }
    if (mean)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) m, (int) k, (int) n, 1.0,
                    k_cross, (int) n, alpha, (int) k, 0.0, mean, (int) k);
    lm_free(l);
    lm_free(alpha);
    lm_free(b);
    return LM_OK;
}

/* ------------------------------------------------------------------ training dynamics */

void lm_kpred_free(lm_kpred *kp) {
    if (!kp)
        return;
    lm_free(kp->lam);
    lm_free(kp->v);
    lm_free(kp->r);
    lm_free(kp->a);
    lm_free(kp->y);
    lm_free(kp->f0tr);
    lm_free(kp->f0te);
    lm_free(kp->q);
    lm_free(kp);
}

const double *lm_kpred_eigenvalues(const lm_kpred *kp) {
    return kp ? kp->lam : NULL;
}

lm_status lm_kpred_new(lm_kpred **out, const double *theta_train, const double *theta_cross,
                       const double *y, const double *f0_train, const double *f0_test,
                       const double *nngp_train, size_t n, size_t m, size_t k,
                       const lm_kpred_spec *spec, lm_err *err) {
    *out = NULL;
    const lm_kpred_spec sp = spec ? *spec : lm_kpred_spec_default();
    if (n == 0 || k == 0)
        LM_FAIL(err, LM_ESHAPE, "kpred: empty shape (n = %zu, k = %zu)", n, k);
    if (!theta_train || !y || (m > 0 && !theta_cross))
        LM_FAIL(err, LM_EINVAL, "kpred: theta_train, y and (for m = %zu > 0) theta_cross needed",
                m);
    if (m > 0 && (f0_train == NULL) != (f0_test == NULL))
        LM_FAIL(err, LM_EINVAL,
                "kpred: f0_train and f0_test must both be given or both be NULL (the mean)");
    if (sp.mode != LM_KPRED_FLOW && sp.mode != LM_KPRED_GD)
        LM_FAIL(err, LM_EINVAL, "kpred: invalid mode %d", (int) sp.mode);
    if (!isfinite(sp.eta) || sp.eta <= 0)
        LM_FAIL(err, LM_EINVAL, "kpred: learning rate eta = %g must be finite and > 0", sp.eta);
    if (!isfinite(sp.norm) || sp.norm < 0)
        LM_FAIL(err, LM_EINVAL, "kpred: loss normalisation norm = %g must be finite and >= 0",
                sp.norm);
    LM_TRY(check_finite(theta_train, n * n, "kpred: theta_train", err));
    if (m > 0)
        LM_TRY(check_finite(theta_cross, m * n, "kpred: theta_cross", err));
    LM_TRY(check_finite(y, n * k, "kpred: y", err));
    if (f0_train)
        LM_TRY(check_finite(f0_train, n * k, "kpred: f0_train", err));
    if (f0_test && m > 0)
        LM_TRY(check_finite(f0_test, m * k, "kpred: f0_test", err));
    if (nngp_train) {
        LM_TRY(check_finite(nngp_train, n * n, "kpred: nngp_train", err));
        LM_TRY(check_sym(nngp_train, n, "kpred: nngp_train", err));
    }
    LM_TRY(check_sym(theta_train, n, "kpred: theta_train", err));

    lm_kpred *kp = lm_calloc(1, sizeof *kp);
    if (!kp)
        LM_FAIL(err, LM_ENOMEM, "kpred: out of memory");
    kp->n = n;
    kp->m = m;
    kp->k = k;
    kp->mode = sp.mode;
    kp->norm = sp.norm > 0 ? sp.norm : (double) n * (double) k;
    kp->c = sp.eta / kp->norm;
    kp->mean_only = f0_train == NULL;
    kp->lam = lm_malloc(n * sizeof(double));
    kp->v = lm_malloc(n * n * sizeof(double));
    kp->r = lm_malloc(n * k * sizeof(double));
    kp->y = lm_malloc(n * k * sizeof(double));
    kp->a = m > 0 ? lm_malloc(m * n * sizeof(double)) : NULL;
    kp->f0tr = f0_train ? lm_malloc(n * k * sizeof(double)) : NULL;
    kp->f0te = f0_train && m > 0 ? lm_malloc(m * k * sizeof(double)) : NULL;
    kp->q = nngp_train ? lm_malloc(n * sizeof(double)) : NULL;
    double *tmp = lm_malloc(n * (n > k ? n : k) * sizeof(double));
    if (!kp->lam || !kp->v || !kp->r || !kp->y || (m > 0 && !kp->a) || (f0_train && !kp->f0tr) ||
        (f0_train && m > 0 && !kp->f0te) || (nngp_train && !kp->q) || !tmp) {
        lm_free(tmp);
        lm_kpred_free(kp);
        LM_FAIL(err, LM_ENOMEM, "kpred: out of memory (n = %zu, m = %zu, k = %zu)", n, m, k);
    }
    memcpy(kp->v, theta_train, n * n * sizeof(double));
    const lapack_int info =
        LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int) n, kp->v, (lapack_int) n, kp->lam);
    if (info != 0) {
        lm_free(tmp);
        lm_kpred_free(kp);
        LM_FAIL(err, info < 0 ? LM_EINTERNAL : LM_ENUMERIC,
                "kpred: eigendecomposition of theta_train (%zu x %zu) failed (dsyevd info %d)", n,
                n, (int) info);
    }
    const double lmax = kp->lam[n - 1];
    if (sp.mode == LM_KPRED_GD && kp->c * lmax >= 2) {
        lm_free(tmp);
        const double norm = kp->norm;
        lm_kpred_free(kp);
        LM_FAIL(err, LM_ERANGE,
                "kpred: GD diverges: eta lambda_max / norm = %g * %g / %g = %g >= 2", sp.eta, lmax,
                norm, sp.eta * lmax / norm);
    }
    memcpy(kp->y, y, n * k * sizeof(double));
    for (size_t i = 0; i < n * k; i++)
        tmp[i] = y[i] - (f0_train ? f0_train[i] : 0.0);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) n, (int) k, (int) n, 1.0, kp->v,
                (int) n, tmp, (int) k, 0.0, kp->r, (int) k);
    if (m > 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) m, (int) n, (int) n, 1.0,
                    theta_cross, (int) n, kp->v, (int) n, 0.0, kp->a, (int) n);
    if (f0_train) {
        memcpy(kp->f0tr, f0_train, n * k * sizeof(double));
        if (m > 0)
            memcpy(kp->f0te, f0_test, m * k * sizeof(double));
    }
    if (nngp_train) {
        /* q_i = v_i^T K v_i: tmp = K V, then column dots */
        cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, (int) n, (int) n, 1.0, nngp_train,
                    (int) n, kp->v, (int) n, 0.0, tmp, (int) n);
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t j = 0; j < n; j++)
                s += kp->v[j * n + i] * tmp[j * n + i];
            kp->q[i] = s;
        }
    }
    lm_free(tmp);
    *out = kp;
    return LM_OK;
}

/* expm1(y) / y, 1 at y = 0 */
static double e1(double y) {
    return y == 0 ? 1.0 : expm1(y) / y;
}

/* log1p(-u) / (-u), 1 at u = 0 (u < 1) */
static double h(double u) {
    return u == 0 ? 1.0 : log1p(-u) / (-u);
}

/* d_i (decay of mode i) and g_i = (1 - d_i) / lambda_i at time t into d[n], g[n]. */
static lm_status decay(const lm_kpred *kp, double t, double *d, double *g, lm_err *err) {
    if (isnan(t) || t < 0)
        LM_FAIL(err, LM_EINVAL, "kpred: time t = %g must be >= 0", t);
    const double c = kp->c;
    const int integer_t = isfinite(t) && t == floor(t);
    /* t -> inf: a mode with lambda > 0 is fit (d = 0, g = 1/lambda); a mode of the null space is
     * never trained (d = 1: its residual stays, e.g. duplicated inputs with different targets)
     * and Theta(x*, X) vanishes on it for a PSD kernel (g = 0): the limit is kernel regression
     * with the pseudo-inverse. "Null" is numerical: lambda <= n eps lambda_max, numpy's
     * matrix_rank rule (rounding leaves ~1e-17 lambda_max where the exact value is 0). */
    const double lam_max = kp->n ? kp->lam[kp->n - 1] : 0.0;
    const double null_tol = (double) kp->n * DBL_EPSILON * (lam_max > 0 ? lam_max : 0.0);
    for (size_t i = 0; i < kp->n; i++) {
        const double lam = kp->lam[i], u = c * lam;
        if (isinf(t)) {
            if (lam < -null_tol)
                LM_FAIL(err, LM_EINVAL,
                        "kpred: t = inf: theta_train is not positive semi-definite (eigenvalue "
                        "%zu is %g, below -%g)",
                        i, lam, null_tol);
            const int null = lam <= null_tol;
            d[i] = null ? 1.0 : 0.0;
            g[i] = null ? 0.0 : 1.0 / lam;
            continue;
        }
        if (kp->mode == LM_KPRED_FLOW) {
            const double y = -u * t;
            d[i] = exp(y);
            g[i] = c * t * e1(y);
        } else if (u < 1) {
            const double y = t * log1p(-u);
            d[i] = exp(y);
            g[i] = c * t * e1(y) * h(u);
        } else {
            /* 1 <= u < 2 (checked in new): 1 - u in (-1, 0], a sign that alternates per step */
            if (!integer_t)
                LM_FAIL(err, LM_EINVAL,
                        "kpred: GD time t = %g must be an integer: eta lambda_%zu / norm = %g > 1 "
                        "makes the decay (1 - %g)^t alternate in sign",
                        t, i, u, u);
            d[i] = pow(1 - u, t);
            g[i] = (1 - d[i]) / lam;
        }
    }
    return LM_OK;
}

lm_status lm_kpred_at(const lm_kpred *kp, double t, double *f_train, double *f_test, lm_err *err) {
    const size_t n = kp->n, m = kp->m, k = kp->k;
    double *d = lm_malloc((2 * n + n * k) * sizeof *d);
    if (!d)
        LM_FAIL(err, LM_ENOMEM, "kpred: out of memory");
    double *g = d + n, *w = d + 2 * n;
    const lm_status st = decay(kp, t, d, g, err);
    if (st != LM_OK) {
        lm_free(d);
        return st;
    }
    if (f_train) {
        /* f_t(X) = Y - V D R */
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < k; j++)
                w[i * k + j] = d[i] * kp->r[i * k + j];
        memcpy(f_train, kp->y, n * k * sizeof(double));
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) n, (int) k, (int) n, -1.0,
                    kp->v, (int) n, w, (int) k, 1.0, f_train, (int) k);
    }
    if (f_test && m > 0) {
        /* f_t(x*) = f0(x*) + A G R */
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < k; j++)
                w[i * k + j] = g[i] * kp->r[i * k + j];
        if (kp->f0te)
            memcpy(f_test, kp->f0te, m * k * sizeof(double));
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) m, (int) k, (int) n, 1.0,
                    kp->a, (int) n, w, (int) k, kp->f0te ? 1.0 : 0.0, f_test, (int) k);
    }
    lm_free(d);
    return LM_OK;
}

lm_status lm_kpred_train_loss(const lm_kpred *kp, double t, double *loss, lm_err *err) {
    const size_t n = kp->n, k = kp->k;
    double *d = lm_malloc(2 * n * sizeof *d);
    if (!d)
        LM_FAIL(err, LM_ENOMEM, "kpred: out of memory");
    const lm_status st = decay(kp, t, d, d + n, err);
    if (st != LM_OK) {
        lm_free(d);
        return st;
    }
    double s = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < k; j++)
            s += d[i] * d[i] * kp->r[i * k + j] * kp->r[i * k + j];
    if (kp->q && kp->mean_only)
        for (size_t i = 0; i < n; i++)
            s += (double) k * d[i] * d[i] * kp->q[i];
    lm_free(d);
    *loss = s / (2 * kp->norm);
    return LM_OK;
}
