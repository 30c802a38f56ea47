/*
 * test_kernel_predict.c: the kernel predictions of lmech/theory.h (src/theory/kernel_predict.c)
 * against independent computations: the NNGP posterior against a naive Gauss–Jordan solve, the
 * training dynamics against explicit GD on a linear model f = X W (whose exact NTK is X X^T,
 * per output), gradient flow against GD at small rates, t -> inf against kernel regression, the
 * expected loss over initialisations against a Monte Carlo average, and every error path.
 */
#include "lm_test.h"

#include "lmech/theory.h"

#include <string.h>

/* A "high entropy" random matrix (GSL's advice: no round numbers that hide missing factors). */
static void fill(double *a, size_t count, uint64_t seed, double scale) {
    lm_rng r;
    lm_rng_seed(&r, seed, 77);
    for (size_t i = 0; i < count; i++)
        a[i] = scale * lm_rng_normal(&r);
}

/* C [r, c] = A [r, q] B^T (B [c, q]), naive. */
static void abt(const double *a, const double *b, size_t r, size_t c, size_t q, double *out) {
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < c; j++) {
            double s = 0;
            for (size_t l = 0; l < q; l++)
                s += a[i * q + l] * b[j * q + l];
            out[i * c + j] = s;
        }
}

/* Solves A X = B in place (A [n, n] destroyed, B [n, k] becomes X) by Gauss–Jordan with partial
 * pivoting: the naive reference for the Cholesky path. */
static void gj_solve(double *a, double *b, size_t n, size_t k) {
    for (size_t c = 0; c < n; c++) {
        size_t piv = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[piv * n + c]))
                piv = r;
        for (size_t j = 0; j < n; j++) {
            double t = a[c * n + j];
            a[c * n + j] = a[piv * n + j];
            a[piv * n + j] = t;
        }
        for (size_t j = 0; j < k; j++) {
            double t = b[c * k + j];
            b[c * k + j] = b[piv * k + j];
            b[piv * k + j] = t;
        }
        for (size_t r = 0; r < n; r++) {
            if (r == c)
                continue;
            const double f = a[r * n + c] / a[c * n + c];
            for (size_t j = 0; j < n; j++)
                a[r * n + j] -= f * a[c * n + j];
            for (size_t j = 0; j < k; j++)
                b[r * k + j] -= f * b[c * k + j];
        }
    }
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < k; j++)
            b[r * k + j] /= a[r * n + r];
}

static double max_abs_diff(const double *a, const double *b, size_t count) {
    double m = 0;
    for (size_t i = 0; i < count; i++)
        m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

/* ------------------------------------------------------------------ posterior */

#define PN 10
#define PM 7
#define PD 14
#define PK 3

Test(kpred, posterior_matches_direct_solve) {
    double x[PN * PD], xs[PM * PD], y[PN * PK], k[PN * PN], kc[PM * PN], kd[PM];
    fill(x, PN * PD, 1, 0.37);
    fill(xs, PM * PD, 2, 0.41);
    fill(y, PN * PK, 3, 1.3);
    abt(x, x, PN, PN, PD, k);
    abt(xs, x, PM, PN, PD, kc);
    for (size_t j = 0; j < PM; j++) {
        double s = 0;
        for (size_t l = 0; l < PD; l++)
            s += xs[j * PD + l] * xs[j * PD + l];
        kd[j] = s + 0.05; /* a nugget on the test diagonal only: var must carry it through */
    }
    const double s2 = 0.173;
    double mean[PM * PK], var[PM];
    cr_assert_eq(lm_kpred_posterior(k, kc, kd, y, PN, PM, PK, s2, mean, var, NULL), LM_OK);
    /* reference: alpha = (K + s2 I)^{-1} Y and W = (K + s2 I)^{-1} K(X, x*) by Gauss–Jordan */
    double a[PN * PN], alpha[PN * PK], w[PN * PM];
    memcpy(a, k, sizeof a);
    for (size_t i = 0; i < PN; i++)
        a[i * PN + i] += s2;
    memcpy(alpha, y, sizeof alpha);
    gj_solve(a, alpha, PN, PK);
    memcpy(a, k, sizeof a);
    for (size_t i = 0; i < PN; i++)
        a[i * PN + i] += s2;
    for (size_t i = 0; i < PN; i++)
        for (size_t j = 0; j < PM; j++)
            w[i * PM + j] = kc[j * PN + i];
    gj_solve(a, w, PN, PM);
    for (size_t j = 0; j < PM; j++) {
        for (size_t c = 0; c < PK; c++) {
            double s = 0;
            for (size_t i = 0; i < PN; i++)
                s += kc[j * PN + i] * alpha[i * PK + c];
            /* both are backward-stable solves of a system with condition number ~1e2: agreement
             * to ~1e-13 relative; 1e-10 leaves margin and still catches any formula error */
            cr_assert(lm_close(mean[j * PK + c], s, 1e-10, 1e-10), "mean[%zu,%zu] %.17g vs %.17g",
                      j, c, mean[j * PK + c], s);
        }
        double s = 0;
        for (size_t i = 0; i < PN; i++)
            s += kc[j * PN + i] * w[i * PM + j];
        cr_assert(lm_close(var[j], kd[j] - s, 1e-10, 1e-10), "var[%zu] %.17g vs %.17g", j, var[j],
                  kd[j] - s);
        cr_assert(var[j] >= 0 && var[j] <= kd[j]);
    }
    /* mean alone (var NULL, k_diag NULL) gives the same mean */
    double mean2[PM * PK];
    cr_assert_eq(lm_kpred_posterior(k, kc, NULL, y, PN, PM, PK, s2, mean2, NULL, NULL), LM_OK);
    cr_assert(max_abs_diff(mean, mean2, PM * PK) == 0);
    LM_CHECK_LEAKS();
}

Test(kpred, posterior_interpolates_and_variance_nonnegative) {
    /* test points = training points, s2 = 0: the mean interpolates Y and the variance is 0
     * (clamped at 0 where rounding makes it slightly negative) */
    double x[PN * PD], y[PN], k[PN * PN], kd[PN], mean[PN], var[PN];
    fill(x, PN * PD, 4, 0.5);
    fill(y, PN, 5, 1.0);
    abt(x, x, PN, PN, PD, k);
    for (size_t i = 0; i < PN; i++)
        kd[i] = k[i * PN + i];
    cr_assert_eq(lm_kpred_posterior(k, k, kd, y, PN, PN, 1, 0.0, mean, var, NULL), LM_OK);
    for (size_t i = 0; i < PN; i++) {
        /* K has condition number ~1e2 (PD = 14 > PN = 10 random features): 1e-10 is generous */
        cr_assert(fabs(mean[i] - y[i]) < 1e-10, "mean[%zu] = %.17g, y = %.17g", i, mean[i], y[i]);
        cr_assert(var[i] >= 0 && var[i] < 1e-10 * kd[i], "var[%zu] = %g", i, var[i]);
    }
    LM_CHECK_LEAKS();
}

Test(kpred, posterior_errors) {
    double x[PN * 4], y[PN], k[PN * PN], kd[PN], mean[PN], var[PN];
    fill(x, PN * 4, 6, 1.0);
    fill(y, PN, 7, 1.0);
    abt(x, x, PN, PN, 4, k); /* rank 4 < 10: singular */
    for (size_t i = 0; i < PN; i++)
        kd[i] = k[i * PN + i];
    for (size_t i = 0; i < PN; i++)
        mean[i] = var[i] = -7.5;
    lm_err e = {0};
    cr_assert_eq(lm_kpred_posterior(k, k, kd, y, PN, PN, 1, 0.0, mean, var, &e), LM_EINVAL);
    cr_assert(strstr(e.msg, "not positive definite") && strstr(e.msg, "ridge"), "%s", e.msg);
    for (size_t i = 0; i < PN; i++)
        cr_assert(mean[i] == -7.5 && var[i] == -7.5, "outputs changed on failure");
    /* a ridge cures it */
    cr_assert_eq(lm_kpred_posterior(k, k, kd, y, PN, PN, 1, 1e-3, mean, var, &e), LM_OK);
    cr_assert_eq(lm_kpred_posterior(k, k, kd, y, PN, PN, 1, -1e-3, mean, var, &e), LM_EINVAL);
    cr_assert(strstr(e.msg, "s2"), "%s", e.msg);
    cr_assert_eq(lm_kpred_posterior(k, k, kd, y, PN, PN, 1, LM_NAN, mean, var, &e), LM_EINVAL);
    cr_assert_eq(lm_kpred_posterior(k, k, kd, y, 0, PN, 1, 0.1, mean, var, &e), LM_ESHAPE);
    cr_assert_eq(lm_kpred_posterior(k, k, NULL, y, PN, PN, 1, 0.1, mean, var, &e), LM_EINVAL);
    y[3] = LM_NAN;
    cr_assert_eq(lm_kpred_posterior(k, k, kd, y, PN, PN, 1, 0.1, mean, var, &e), LM_ENUMERIC);
    cr_assert(strstr(e.msg, "posterior: y") && strstr(e.msg, "element 3"), "%s", e.msg);
    y[3] = 0.25;
    k[1] += 1e-3; /* k[0][1] != k[1][0] */
    cr_assert_eq(lm_kpred_posterior(k, k, kd, y, PN, PN, 1, 0.1, mean, var, &e), LM_EINVAL);
    cr_assert(strstr(e.msg, "k_train is not symmetric"), "%s", e.msg);
    LM_CHECK_LEAKS();
}

/* ------------------------------------------------------------------ dynamics vs explicit GD */

/* Linear model f(x) = x W, W [d, k]. L = (1/(2 norm)) ||X W - Y||^2, grad = X^T (X W - Y) / norm.
 * Its NTK per output is exactly X X^T, so kernel GD is exact, not an approximation. */
#define LN 12
#define LD 8 /* LD < LN: Theta = X X^T has LN - LD zero eigenvalues (the lambda ~ 0 modes) */
#define LM 5
#define LK 2

typedef struct linprob {
    double x[LN * LD], xs[LM * LD], y[LN * LK], w0[LD * LK];
    double th[LN * LN], thc[LM * LN], f0[LN * LK], f0s[LM * LK];
} linprob;

static void lin_setup(linprob *p, uint64_t seed) {
    fill(p->x, LN * LD, seed, 0.61);
    fill(p->xs, LM * LD, seed + 1, 0.53);
    fill(p->y, LN * LK, seed + 2, 1.1);
    fill(p->w0, LD * LK, seed + 3, 0.7);
    abt(p->x, p->x, LN, LN, LD, p->th);
    abt(p->xs, p->x, LM, LN, LD, p->thc);
    for (size_t i = 0; i < LN; i++)
        for (size_t c = 0; c < LK; c++) {
            double s = 0;
            for (size_t l = 0; l < LD; l++)
                s += p->x[i * LD + l] * p->w0[l * LK + c];
            p->f0[i * LK + c] = s;
        }
    for (size_t i = 0; i < LM; i++)
        for (size_t c = 0; c < LK; c++) {
            double s = 0;
            for (size_t l = 0; l < LD; l++)
                s += p->xs[i * LD + l] * p->w0[l * LK + c];
            p->f0s[i * LK + c] = s;
        }
}

/* `steps` explicit GD steps from w0; outputs on train and test. */
static void lin_gd(const linprob *p, double eta, double norm, size_t steps, double *ftr,
                   double *fte) {
    double w[LD * LK], r[LN * LK];
    memcpy(w, p->w0, sizeof w);
    for (size_t s = 0; s <= steps; s++) {
        for (size_t i = 0; i < LN; i++)
            for (size_t c = 0; c < LK; c++) {
                double f = 0;
                for (size_t l = 0; l < LD; l++)
                    f += p->x[i * LD + l] * w[l * LK + c];
                ftr[i * LK + c] = f;
                r[i * LK + c] = f - p->y[i * LK + c];
            }
        if (s == steps)
            break;
        for (size_t l = 0; l < LD; l++)
            for (size_t c = 0; c < LK; c++) {
                double g = 0;
                for (size_t i = 0; i < LN; i++)
                    g += p->x[i * LD + l] * r[i * LK + c];
                w[l * LK + c] -= eta * g / norm;
            }
    }
    for (size_t i = 0; i < LM; i++)
        for (size_t c = 0; c < LK; c++) {
            double f = 0;
            for (size_t l = 0; l < LD; l++)
                f += p->xs[i * LD + l] * w[l * LK + c];
            fte[i * LK + c] = f;
        }
}

static double lambda_max(const double *th, size_t n) {
    lm_kpred *kp = NULL;
    double y[LN] = {0};
    cr_assert_eq(lm_kpred_new(&kp, th, NULL, y, NULL, NULL, NULL, n, 0, 1, NULL, NULL), LM_OK);
    const double l = lm_kpred_eigenvalues(kp)[n - 1];
    lm_kpred_free(kp);
    return l;
}

/* GD at rate `frac` = eta lambda_max / norm under the given normalisation, at several times. */
static void check_gd_exact(double frac, double norm, uint64_t seed) {
    linprob p;
    lin_setup(&p, seed);
    const double eta = frac * norm / lambda_max(p.th, LN);
    lm_kpred_spec sp = {LM_KPRED_GD, eta, norm};
    lm_kpred *kp = NULL;
    cr_assert_eq(lm_kpred_new(&kp, p.th, p.thc, p.y, p.f0, p.f0s, NULL, LN, LM, LK, &sp, NULL),
                 LM_OK);
    const size_t times[] = {0, 1, 10, 37};
    for (size_t ti = 0; ti < 4; ti++) {
        double ftr[LN * LK], fte[LM * LK], gtr[LN * LK], gte[LM * LK];
        lin_gd(&p, eta, norm, times[ti], gtr, gte);
        cr_assert_eq(lm_kpred_at(kp, (double) times[ti], ftr, fte, NULL), LM_OK);
        /* exact in exact arithmetic; rounding of 37 explicit steps and of the eigendecomposition
         * is ~1e-14 on outputs of size ~1: 1e-10 is the brief's bar */
        cr_assert(max_abs_diff(ftr, gtr, LN * LK) < 1e-10, "frac %g norm %g t %zu: train %g", frac,
                  norm, times[ti], max_abs_diff(ftr, gtr, LN * LK));
        cr_assert(max_abs_diff(fte, gte, LM * LK) < 1e-10, "frac %g norm %g t %zu: test %g", frac,
                  norm, times[ti], max_abs_diff(fte, gte, LM * LK));
        double l, r = 0;
        cr_assert_eq(lm_kpred_train_loss(kp, (double) times[ti], &l, NULL), LM_OK);
        for (size_t i = 0; i < LN * LK; i++)
            r += (gtr[i] - p.y[i]) * (gtr[i] - p.y[i]);
        cr_assert(lm_close(l, r / (2 * norm), 1e-10, 1e-14), "loss %.17g vs %.17g", l,
                  r / (2 * norm));
    }
    lm_kpred_free(kp);
}

Test(kpred, gd_matches_explicit_linear_gd) {
    check_gd_exact(0.5, (double) LN * LK, 11); /* mse_mean, the brief's rate */
    check_gd_exact(0.5, (double) LN, 12);      /* lmech's mse                */
    check_gd_exact(0.9, 1.0, 13);              /* plain sum                  */
    check_gd_exact(1.7, (double) LN * LK, 14); /* 1 < c lambda < 2: alternating top mode */
    cr_assert(lm_kpred_norm_for_loss(LM_LOSS_MSE, LN, LK) == (double) LN);
    cr_assert(lm_kpred_norm_for_loss(LM_LOSS_MSE_MEAN, LN, LK) == (double) (LN * LK));
    LM_CHECK_LEAKS();
}

Test(kpred, flow_is_the_small_rate_limit_of_gd) {
    /* at fixed flow time tau = eta t, GD differs from the flow by O(eta): halving eta halves it */
    linprob p;
    lin_setup(&p, 21);
    const double norm = (double) LN * LK, lmax = lambda_max(p.th, LN), tau = 3.7 * norm / lmax;
    double err[2];
    for (int h = 0; h < 2; h++) {
        const double eta = (h ? 0.01 : 0.02) * norm / lmax;
        const double t = round(tau / eta);
        lm_kpred_spec gd = {LM_KPRED_GD, eta, norm}, gf = {LM_KPRED_FLOW, eta, norm};
        lm_kpred *a = NULL, *b = NULL;
        cr_assert_eq(lm_kpred_new(&a, p.th, p.thc, p.y, p.f0, p.f0s, NULL, LN, LM, LK, &gd, NULL),
                     LM_OK);
        cr_assert_eq(lm_kpred_new(&b, p.th, p.thc, p.y, p.f0, p.f0s, NULL, LN, LM, LK, &gf, NULL),
                     LM_OK);
        double fa[LM * LK], fb[LM * LK];
        cr_assert_eq(lm_kpred_at(a, t, NULL, fa, NULL), LM_OK);
        cr_assert_eq(lm_kpred_at(b, t, NULL, fb, NULL), LM_OK);
        err[h] = max_abs_diff(fa, fb, LM * LK);
        lm_kpred_free(a);
        lm_kpred_free(b);
    }
    /* first order in eta: the ratio is 2 up to O(eta) corrections (eta lambda_max / norm is
     * 0.02 and 0.01 here, so within a few percent); [1.8, 2.2] */
    cr_assert(err[0] > 0 && err[1] > 0 && err[0] / err[1] > 1.8 && err[0] / err[1] < 2.2,
              "GD - GF: %g at eta, %g at eta/2", err[0], err[1]);
    cr_assert(err[0] < 0.05, "GD far from GF at a small rate: %g", err[0]);
    LM_CHECK_LEAKS();
}

Test(kpred, infinite_time_is_kernel_regression) {
    double x[PN * PD], xs[PM * PD], y[PN * PK], th[PN * PN], thc[PM * PN];
    fill(x, PN * PD, 31, 0.37);
    fill(xs, PM * PD, 32, 0.41);
    fill(y, PN * PK, 33, 1.3);
    abt(x, x, PN, PN, PD, th); /* PD > PN: positive definite */
    abt(xs, x, PM, PN, PD, thc);
    double mean[PM * PK], f[PM * PK], ftr[PN * PK], flate[PM * PK];
    cr_assert_eq(lm_kpred_posterior(th, thc, NULL, y, PN, PM, PK, 0.0, mean, NULL, NULL), LM_OK);
    for (int mode = 0; mode < 2; mode++) {
        lm_kpred_spec sp = {mode ? LM_KPRED_GD : LM_KPRED_FLOW, 1.0, 0.0};
        lm_kpred *kp = NULL;
        cr_assert_eq(lm_kpred_new(&kp, th, thc, y, NULL, NULL, NULL, PN, PM, PK, &sp, NULL), LM_OK);
        cr_assert_eq(lm_kpred_at(kp, LM_INF, ftr, f, NULL), LM_OK);
        /* eigendecomposition against Cholesky, condition ~1e2: 1e-10 */
        cr_assert(max_abs_diff(f, mean, PM * PK) < 1e-10, "t = inf: %g",
                  max_abs_diff(f, mean, PM * PK));
        cr_assert(max_abs_diff(ftr, y, PN * PK) < 1e-10);
        /* a long finite time approaches it: every mode decayed by e^{-lambda_min c t} < 1e-30 */
        const double lmin = lm_kpred_eigenvalues(kp)[0], t = 70.0 * PN * PK / lmin;
        cr_assert_eq(lm_kpred_at(kp, t, NULL, flate, NULL), LM_OK);
        cr_assert(max_abs_diff(flate, mean, PM * PK) < 1e-10, "t = %g: %g", t,
                  max_abs_diff(flate, mean, PM * PK));
        lm_kpred_free(kp);
    }
    LM_CHECK_LEAKS();
}

Test(kpred, zero_eigenvalues_have_their_limit) {
    /* Theta = X X^T with LD < LN has zero modes; gradient flow's test prediction at tiny t is
     * f0 + c t Theta(x*, X)(Y - f0) to first order, with no 0/0 anywhere */
    linprob p;
    lin_setup(&p, 41);
    lm_kpred_spec sp = {LM_KPRED_FLOW, 0.9, 0.0};
    lm_kpred *kp = NULL;
    cr_assert_eq(lm_kpred_new(&kp, p.th, p.thc, p.y, p.f0, p.f0s, NULL, LN, LM, LK, &sp, NULL),
                 LM_OK);
    cr_assert(fabs(lm_kpred_eigenvalues(kp)[0]) < 1e-12, "expected a zero mode");
    const double t = 1e-7, c = 0.9 / (LN * LK);
    double f[LM * LK], ref[LM * LK];
    cr_assert_eq(lm_kpred_at(kp, t, NULL, f, NULL), LM_OK);
    for (size_t j = 0; j < LM; j++)
        for (size_t o = 0; o < LK; o++) {
            double s = 0;
            for (size_t i = 0; i < LN; i++)
                s += p.thc[j * LN + i] * (p.y[i * LK + o] - p.f0[i * LK + o]);
            ref[j * LK + o] = p.f0s[j * LK + o] + c * t * s;
        }
    for (size_t i = 0; i < LM * LK; i++)
        cr_assert(isfinite(f[i]));
    /* the second-order term is (c t)^2 |Theta^2| ~ 1e-16: 1e-13 */
    cr_assert(max_abs_diff(f, ref, LM * LK) < 1e-13, "%g", max_abs_diff(f, ref, LM * LK));
    /* t = inf on a singular kernel is the limit t -> inf: the pseudo-inverse. The null modes keep
     * their training residual (so the loss stays positive), the others are fit; a long finite
     * time (every non-null mode decayed by e^{-70}) gives the same outputs and loss */
    const double *lam = lm_kpred_eigenvalues(kp);
    size_t first = 0;
    while (first < LN && lam[first] <= LN * 2.3e-16 * lam[LN - 1])
        first++;
    cr_assert(first > 0 && first < LN, "expected zero and positive modes (%zu)", first);
    const double tl = 70.0 / (c * lam[first]);
    double finf[LM * LK], flong[LM * LK], trinf[LN * LK], trlong[LN * LK], linf, llong;
    cr_assert_eq(lm_kpred_at(kp, LM_INF, trinf, finf, NULL), LM_OK);
    cr_assert_eq(lm_kpred_at(kp, tl, trlong, flong, NULL), LM_OK);
    cr_assert_eq(lm_kpred_train_loss(kp, LM_INF, &linf, NULL), LM_OK);
    cr_assert_eq(lm_kpred_train_loss(kp, tl, &llong, NULL), LM_OK);
    cr_assert(max_abs_diff(finf, flong, LM * LK) < 1e-9, "%g", max_abs_diff(finf, flong, LM * LK));
    cr_assert(max_abs_diff(trinf, trlong, LN * LK) < 1e-9);
    cr_assert(linf > 1e-6 && fabs(linf - llong) <= 1e-9 * linf, "loss %g vs %g", linf, llong);
    lm_kpred_free(kp);
    LM_CHECK_LEAKS();
}

Test(kpred, expected_loss_over_initialisations) {
    /* f0 = X W0 with W0 ~ N(0, 1): f0 ~ N(0, K) per output with K = X X^T = Theta. The mean of
     * the explicit-GD training loss over S draws must match lm_kpred_train_loss with nngp = K. */
    linprob p;
    lin_setup(&p, 51);
    const double norm = (double) LN * LK, eta = 0.5 * norm / lambda_max(p.th, LN);
    const size_t steps = 6, S = 4000;
    lm_kpred_spec sp = {LM_KPRED_GD, eta, norm};
    lm_kpred *kp = NULL;
    cr_assert_eq(lm_kpred_new(&kp, p.th, p.thc, p.y, NULL, NULL, p.th, LN, LM, LK, &sp, NULL),
                 LM_OK);
    double pred;
    cr_assert_eq(lm_kpred_train_loss(kp, (double) steps, &pred, NULL), LM_OK);
    double sum = 0, sum2 = 0;
    lm_rng r;
    lm_rng_seed(&r, 52, 9);
    for (size_t s = 0; s < S; s++) {
        for (size_t i = 0; i < LD * LK; i++)
            p.w0[i] = lm_rng_normal(&r);
        double ftr[LN * LK], fte[LM * LK], l = 0;
        lin_gd(&p, eta, norm, steps, ftr, fte);
        for (size_t i = 0; i < LN * LK; i++)
            l += (ftr[i] - p.y[i]) * (ftr[i] - p.y[i]);
        l /= 2 * norm;
        sum += l;
        sum2 += l * l;
    }
    const double mean = sum / (double) S, se = sqrt((sum2 / (double) S - mean * mean) / (double) S);
    /* Monte Carlo: 4 standard errors (a false alarm ~6e-5 per run; the draws are seeded, so the
     * outcome is fixed) */
    cr_assert(fabs(mean - pred) < 4 * se, "MC %g +- %g, predicted %g", mean, se, pred);
    /* and the Y-only part is smaller: the init variance adds a positive amount */
    lm_kpred *k2 = NULL;
    double pred_y;
    cr_assert_eq(lm_kpred_new(&k2, p.th, p.thc, p.y, NULL, NULL, NULL, LN, LM, LK, &sp, NULL),
                 LM_OK);
    cr_assert_eq(lm_kpred_train_loss(k2, (double) steps, &pred_y, NULL), LM_OK);
    cr_assert(pred_y < pred && pred_y > 0);
    lm_kpred_free(k2);
    lm_kpred_free(kp);
    LM_CHECK_LEAKS();
}

Test(kpred, errors) {
    linprob p;
    lin_setup(&p, 61);
    const double norm = (double) LN * LK, lmax = lambda_max(p.th, LN);
    lm_err e = {0};
    lm_kpred *kp = (lm_kpred *) &e; /* must be set to NULL on failure */
    lm_kpred_spec sp = {LM_KPRED_GD, 2.5 * norm / lmax, norm};
    cr_assert_eq(lm_kpred_new(&kp, p.th, p.thc, p.y, NULL, NULL, NULL, LN, LM, LK, &sp, &e),
                 LM_ERANGE);
    cr_assert(kp == NULL);
    cr_assert(strstr(e.msg, "GD diverges"), "%s", e.msg);
    sp.eta = -1;
    cr_assert_eq(lm_kpred_new(&kp, p.th, p.thc, p.y, NULL, NULL, NULL, LN, LM, LK, &sp, &e),
                 LM_EINVAL);
    cr_assert(strstr(e.msg, "eta"), "%s", e.msg);
    sp.eta = 0.1;
    sp.norm = LM_NAN;
    cr_assert_eq(lm_kpred_new(&kp, p.th, p.thc, p.y, NULL, NULL, NULL, LN, LM, LK, &sp, &e),
                 LM_EINVAL);
    sp.norm = norm;
    sp.mode = (lm_kpred_mode) 7;
    cr_assert_eq(lm_kpred_new(&kp, p.th, p.thc, p.y, NULL, NULL, NULL, LN, LM, LK, &sp, &e),
                 LM_EINVAL);
    sp.mode = LM_KPRED_GD;
    cr_assert_eq(lm_kpred_new(&kp, p.th, p.thc, p.y, p.f0, NULL, NULL, LN, LM, LK, &sp, &e),
                 LM_EINVAL);
    cr_assert(strstr(e.msg, "f0_train and f0_test"), "%s", e.msg);
    cr_assert_eq(lm_kpred_new(&kp, p.th, p.thc, p.y, NULL, NULL, NULL, 0, LM, LK, &sp, &e),
                 LM_ESHAPE);
    cr_assert_eq(lm_kpred_new(&kp, p.th, NULL, p.y, NULL, NULL, NULL, LN, LM, LK, &sp, &e),
                 LM_EINVAL);
    p.thc[7] = LM_INF;
    cr_assert_eq(lm_kpred_new(&kp, p.th, p.thc, p.y, NULL, NULL, NULL, LN, LM, LK, &sp, &e),
                 LM_ENUMERIC);
    cr_assert(strstr(e.msg, "theta_cross") && strstr(e.msg, "element 7"), "%s", e.msg);
    p.thc[7] = 0.3;
    p.th[LN + 2] += 1e-3;
    cr_assert_eq(lm_kpred_new(&kp, p.th, p.thc, p.y, NULL, NULL, NULL, LN, LM, LK, &sp, &e),
                 LM_EINVAL);
    cr_assert(strstr(e.msg, "theta_train is not symmetric"), "%s", e.msg);
    p.th[LN + 2] -= 1e-3;
    /* time rules: t < 0, NaN; GD with c lambda > 1 needs integer t */
    sp.eta = 1.5 * norm / lmax;
    cr_assert_eq(lm_kpred_new(&kp, p.th, p.thc, p.y, NULL, NULL, NULL, LN, LM, LK, &sp, &e), LM_OK);
    double f[LM * LK], l;
    for (size_t i = 0; i < LM * LK; i++)
        f[i] = 2.25;
    cr_assert_eq(lm_kpred_at(kp, -1.0, NULL, f, &e), LM_EINVAL);
    cr_assert_eq(lm_kpred_at(kp, LM_NAN, NULL, f, &e), LM_EINVAL);
    cr_assert_eq(lm_kpred_at(kp, 2.5, NULL, f, &e), LM_EINVAL);
    cr_assert(strstr(e.msg, "integer"), "%s", e.msg);
    cr_assert_eq(lm_kpred_train_loss(kp, 2.5, &l, &e), LM_EINVAL);
    for (size_t i = 0; i < LM * LK; i++)
        cr_assert(f[i] == 2.25, "output changed on failure");
    cr_assert_eq(lm_kpred_at(kp, 3.0, NULL, f, &e), LM_OK);
    lm_kpred_free(kp);
    lm_kpred_free(NULL);
    cr_assert(lm_kpred_eigenvalues(NULL) == NULL);
    LM_CHECK_LEAKS();
}

Test(kpred, out_of_memory) {
    linprob p;
    lin_setup(&p, 71);
    lm_allocator a = {lm_test_failing_alloc, lm_test_free, NULL};
    lm_set_allocator(&a);
    int ok_new = 0, ok_post = 0;
    for (int k = 1; k < 40 && !(ok_new && ok_post); k++) {
        lm_kpred *kp = NULL;
        lm_test_fail_at = k;
        lm_test_calls = 0;
        lm_status st =
            lm_kpred_new(&kp, p.th, p.thc, p.y, p.f0, p.f0s, p.th, LN, LM, LK, NULL, NULL);
        cr_assert(st == LM_OK || st == LM_ENOMEM);
        if (st == LM_OK) {
            ok_new = 1;
            lm_kpred_free(kp);
        } else {
            cr_assert(kp == NULL);
        }
        double mean[LM * LK], var[LM], kd[LM] = {1, 1, 1, 1, 1};
        lm_test_fail_at = k;
        lm_test_calls = 0;
        st = lm_kpred_posterior(p.th, p.thc, kd, p.y, LN, LM, LK, 0.5, mean, var, NULL);
        cr_assert(st == LM_OK || st == LM_ENOMEM);
        ok_post |= st == LM_OK;
    }
    lm_set_allocator(NULL);
    cr_assert(ok_new && ok_post);
    LM_CHECK_LEAKS();
}
