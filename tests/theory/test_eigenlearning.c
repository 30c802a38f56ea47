/*
 * test_eigenlearning.c: the eigenframework of lmech/theory.h (src/theory/eigenlearning.c) against
 * independent references: an mpmath computation at 50 digits (eigenlearning_ref.h, written by
 * tests/fixtures/make_eigenlearning_ref.py), hand-derived cases (one eigenvalue: a quadratic for
 * kappa; a flat spectrum: kappa = lambda (m - n) / n), the conservation law sum L_i = n at ridge
 * 0, Bordelon et al.'s form, and the empirical spectrum of a circulant Gram matrix (Fourier
 * modes, eigenvalues known); then every error path.
 */
#include "lm_test.h"

#include "eigenlearning_ref.h"
#include "lmech/theory.h"

static int rel_ok(double a, double b, double rtol) {
    return lm_close(a, b, rtol, 1e-300);
}

Test(eigenlearning, matches_mpmath_reference) {
    for (size_t c = 0; c < sizeof REF_CASES / sizeof *REF_CASES; c++) {
        const ref_case *r = &REF_CASES[c];
        const ref_spectrum *s = &REF_SPECTRA[r->spectrum];
        double L[256];
        lm_eigenlearn o;
        lm_err err = {0};
        cr_assert_eq(lm_eigenlearning(s->m, s->lambda, s->v, r->n, r->ridge, r->noise, &o, L, &err),
                     LM_OK, "case %zu: %s", c, err.msg);
        cr_expect(rel_ok(o.kappa, r->kappa, 1e-11), "case %zu kappa %.17g vs %.17g", c, o.kappa,
                  r->kappa);
        cr_expect(rel_ok(o.sum_l, r->sum_l, 1e-11), "case %zu sum L %.17g vs %.17g", c, o.sum_l,
                  r->sum_l);
        cr_expect(rel_ok(o.e0, r->e0, 1e-10), "case %zu E0 %.17g vs %.17g", c, o.e0, r->e0);
        cr_expect(rel_ok(o.test_mse, r->test, 1e-10), "case %zu test %.17g vs %.17g", c, o.test_mse,
                  r->test);
        if (r->train == 0)
            cr_expect_eq(o.train_mse, 0.0, "case %zu train %g at ridge 0", c, o.train_mse);
        else
            cr_expect(rel_ok(o.train_mse, r->train, 1e-10), "case %zu train %.17g vs %.17g", c,
                      o.train_mse, r->train);
        cr_expect(rel_ok(L[0], r->l_first, 1e-11), "case %zu L_0", c);
        cr_expect(rel_ok(L[s->m - 1], r->l_last, 1e-10), "case %zu L_last %.17g vs %.17g", c,
                  L[s->m - 1], r->l_last);
        cr_expect_eq(o.n, r->n);
        cr_expect_eq(o.ridge, r->ridge);
        cr_expect_eq(o.noise, r->noise);
    }
}

/* One eigenvalue: lambda / (lambda + kappa) + delta / kappa = n is the quadratic
 * n kappa^2 + (n lambda - lambda - delta) kappa - delta lambda = 0 (positive root). */
Test(eigenlearning, one_eigenvalue_closed_form) {
    const double lam = 0.37, v = -1.3, eps2 = 0.02;
    const double ns[] = {0.25, 0.9, 1, 3, 40}, ds[] = {1e-4, 0.05, 1, 30};
    for (size_t a = 0; a < 5; a++)
        for (size_t b = 0; b < 4; b++) {
            const double n = ns[a], d = ds[b];
            const double B = n * lam - lam - d;
            const double kappa = (-B + sqrt(B * B + 4 * n * d * lam)) / (2 * n);
            const double L = lam / (lam + kappa), e0 = n / (n - L * L);
            const double test = e0 * ((1 - L) * (1 - L) * v * v + eps2);
            const double q = d / (n * kappa);
            lm_eigenlearn o;
            double Lo;
            lm_err err = {0};
            cr_assert_eq(lm_eigenlearning(1, &lam, &v, n, d, eps2, &o, &Lo, &err), LM_OK, "%s",
                         err.msg);
            cr_expect(rel_ok(o.kappa, kappa, 1e-12), "n %g d %g: kappa %.17g vs %.17g", n, d,
                      o.kappa, kappa);
            cr_expect(rel_ok(Lo, L, 1e-12));
            cr_expect(rel_ok(o.e0, e0, 1e-12));
            cr_expect(rel_ok(o.test_mse, test, 1e-12));
            cr_expect(rel_ok(o.train_mse, q * q * test, 1e-11));
        }
}

/* A flat spectrum of m equal eigenvalues at ridge 0: kappa = lambda (m - n) / n, L = n / m,
 * E0 = m / (m - n), test = (m - n) / m sum v^2 + m / (m - n) eps2. */
Test(eigenlearning, flat_spectrum) {
    enum { M = 64 };
    double lam[M], v[M], sv2 = 0;
    for (size_t i = 0; i < M; i++) {
        lam[i] = 0.015625;
        v[i] = sin(1.0 + (double) i);
        sv2 += v[i] * v[i];
    }
    const double ns[] = {1, 13.5, 32, 63};
    for (size_t a = 0; a < 4; a++) {
        const double n = ns[a], eps2 = 0.1;
        lm_eigenlearn o;
        double L[M];
        lm_err err = {0};
        cr_assert_eq(lm_eigenlearning(M, lam, v, n, 0, eps2, &o, L, &err), LM_OK, "%s", err.msg);
        cr_expect(rel_ok(o.kappa, lam[0] * (M - n) / n, 1e-12), "n %g kappa %.17g", n, o.kappa);
        for (size_t i = 0; i < M; i++)
            cr_expect(rel_ok(L[i], n / M, 1e-12));
        cr_expect(rel_ok(o.e0, M / (M - n), 1e-12));
        cr_expect(rel_ok(o.test_mse, (M - n) / M * sv2 + M / (M - n) * eps2, 1e-12),
                  "n %g test %.17g", n, o.test_mse);
        cr_expect_eq(o.train_mse, 0.0);
    }
}

/* Conservation: sum_i L_i = n at ridge 0 (and < n with a ridge), for a power law over six
 * decades and non-integer n. */
Test(eigenlearning, conservation_law) {
    enum { M = 2000 };
    static double lam[M], v[M], L[M];
    for (size_t i = 0; i < M; i++) {
        lam[i] = pow((double) (i + 1), -1.8);
        v[i] = pow((double) (i + 1), -0.7);
    }
    const double ns[] = {0.5, 3, 77.7, 1000, 1999};
    for (size_t a = 0; a < 5; a++) {
        lm_eigenlearn o;
        lm_err err = {0};
        cr_assert_eq(lm_eigenlearning(M, lam, v, ns[a], 0, 0, &o, L, &err), LM_OK, "%s", err.msg);
        double s = 0;
        for (size_t i = 0; i < M; i++)
            s += L[i];
        cr_expect(rel_ok(s, ns[a], 1e-10), "n %g: sum L = %.17g", ns[a], s);
        cr_expect(rel_ok(o.sum_l, s, 1e-13));
        cr_assert_eq(lm_eigenlearning(M, lam, v, ns[a], 0.3, 0, &o, L, &err), LM_OK, "%s", err.msg);
        cr_expect(o.sum_l < ns[a], "ridge 0.3: sum L %.17g must be below n %g", o.sum_l, ns[a]);
        /* with the ridge the equation reads sum L + delta / kappa = n */
        cr_expect(rel_ok(o.sum_l + 0.3 / o.kappa, ns[a], 1e-10));
    }
}

/* Bordelon, Canatar and Pehlevan's form (its own equation for kappa' = n kappa, bisection) gives
 * the same test MSE to 1e-10. */
Test(eigenlearning, bordelon_agrees) {
    lm_rng r;
    lm_rng_seed(&r, 4242, 9);
    for (size_t rep = 0; rep < 40; rep++) {
        const size_t m = 1 + (size_t) lm_rng_below(&r, 300);
        double lam[300], v[300];
        for (size_t i = 0; i < m; i++) {
            lam[i] = exp(-12 * lm_rng_uniform(&r));
            v[i] = lm_rng_normal(&r);
        }
        const double ridge = rep % 3 == 0 ? 0.0 : exp(-8 + 10 * lm_rng_uniform(&r));
        const double n = ridge == 0 ? (double) m * (0.05 + 0.9 * lm_rng_uniform(&r))
                                    : exp(8 * lm_rng_uniform(&r));
        const double noise = rep % 2 ? 0.0 : lm_rng_uniform(&r);
        lm_eigenlearn o;
        double eg;
        lm_err err = {0};
        cr_assert_eq(lm_eigenlearning(m, lam, v, n, ridge, noise, &o, NULL, &err), LM_OK, "%s",
                     err.msg);
        cr_assert_eq(lm_eigenlearning_bordelon(m, lam, v, n, ridge, noise, &eg, &err), LM_OK, "%s",
                     err.msg);
        cr_expect(rel_ok(eg, o.test_mse, 1e-10), "rep %zu (m %zu n %g ridge %g): %.17g vs %.17g",
                  rep, m, n, ridge, eg, o.test_mse);
    }
}

Test(eigenlearning, bad_inputs) {
    const double lam[3] = {1, 0.5, 0.25}, v[3] = {1, 1, 1};
    lm_eigenlearn o = {.kappa = 123};
    lm_err err = {0};
    cr_expect_eq(lm_eigenlearning(0, lam, v, 1, 0, 0, &o, NULL, &err), LM_EINVAL);
    cr_expect(strstr(err.msg, "m = 0"), "%s", err.msg);
    const double bad[3] = {1, 0, 0.25};
    cr_expect_eq(lm_eigenlearning(3, bad, v, 1, 0, 0, &o, NULL, &err), LM_EINVAL);
    cr_expect(strstr(err.msg, "eigenvalue 1"), "%s", err.msg);
    const double neg[3] = {1, -0.5, 0.25};
    cr_expect_eq(lm_eigenlearning(3, neg, v, 1, 0, 0, &o, NULL, &err), LM_EINVAL);
    const double nan_[3] = {1, 0.5, LM_NAN};
    cr_expect_eq(lm_eigenlearning(3, nan_, v, 1, 0, 0, &o, NULL, &err), LM_EINVAL);
    cr_expect_eq(lm_eigenlearning(3, lam, nan_, 1, 0, 0, &o, NULL, &err), LM_EINVAL);
    cr_expect(strstr(err.msg, "coefficient 2"), "%s", err.msg);
    cr_expect_eq(lm_eigenlearning(3, lam, v, 0, 0, 0, &o, NULL, &err), LM_EINVAL);
    cr_expect(strstr(err.msg, "n = 0"), "%s", err.msg);
    cr_expect_eq(lm_eigenlearning(3, lam, v, -2, 0.1, 0, &o, NULL, &err), LM_EINVAL);
    cr_expect_eq(lm_eigenlearning(3, lam, v, 1, -0.1, 0, &o, NULL, &err), LM_EINVAL);
    cr_expect(strstr(err.msg, "ridge"), "%s", err.msg);
    cr_expect_eq(lm_eigenlearning(3, lam, v, 1, 0, -1, &o, NULL, &err), LM_EINVAL);
    cr_expect(strstr(err.msg, "noise"), "%s", err.msg);
    cr_expect_eq(lm_eigenlearning(3, lam, v, 1, LM_INF, 0, &o, NULL, &err), LM_EINVAL);
    cr_expect_eq(lm_eigenlearning(3, NULL, v, 1, 0, 0, &o, NULL, &err), LM_EINVAL);
    cr_expect_eq(lm_eigenlearning(3, lam, v, 1, 0, 0, NULL, NULL, &err), LM_EINVAL);
    /* ridge 0 needs n < m */
    cr_expect_eq(lm_eigenlearning(3, lam, v, 3, 0, 0, &o, NULL, &err), LM_ERANGE);
    cr_expect(strstr(err.msg, "ridge"), "%s", err.msg);
    cr_expect_eq(lm_eigenlearning(3, lam, v, 5, 0, 0, &o, NULL, &err), LM_ERANGE);
    double eg = 7;
    cr_expect_eq(lm_eigenlearning_bordelon(3, lam, v, 5, 0, 0, &eg, &err), LM_ERANGE);
    cr_expect_eq(lm_eigenlearning_bordelon(3, bad, v, 1, 0, 0, &eg, &err), LM_EINVAL);
    cr_expect_eq(lm_eigenlearning_bordelon(3, lam, v, 1, 0, 0, NULL, &err), LM_EINVAL);
    cr_expect_eq(eg, 7.0, "unchanged on failure");
    cr_expect_eq(o.kappa, 123.0, "unchanged on failure");
    /* with a ridge any n works */
    cr_expect_eq(lm_eigenlearning(3, lam, v, 1e6, 1e-3, 0, &o, NULL, &err), LM_OK, "%s", err.msg);
}

/* ------------------------------------------------------------------ empirical spectrum */

/* A circulant Gram on N grid points, K_ij = c0 + sum_f c_f cos(f (t_i - t_j)): K/N has
 * eigenvalue c0 on the constant and c_f / 2 twice (cos and sin of frequency f), 0 elsewhere. */
#define CN 48
static void circulant(double *K, double *y) {
    const double c0 = 0.7, c[3] = {2.0, 0.5, 0.125};
    const int f[3] = {1, 3, 5};
    for (size_t i = 0; i < CN; i++) {
        const double ti = 6.283185307179586 * (double) i / CN;
        y[2 * i] = cos(3 * ti);           /* all power in frequency 3 */
        y[2 * i + 1] = 0.5 + sin(5 * ti); /* constant and frequency 5 */
        for (size_t j = 0; j < CN; j++) {
            const double tj = 6.283185307179586 * (double) j / CN;
            double k = c0;
            for (size_t q = 0; q < 3; q++)
                k += c[q] * cos(f[q] * (ti - tj));
            K[i * CN + j] = k;
        }
    }
}

Test(kernel_spectrum, circulant_fourier) {
    static double K[CN * CN], y[CN * 2], lam[CN], v[CN * 2];
    circulant(K, y);
    size_t mpos = 0;
    lm_err err = {0};
    cr_assert_eq(lm_kernel_spectrum(K, CN, y, 2, lam, v, &mpos, &err), LM_OK, "%s", err.msg);
    const double want[7] = {1.0, 1.0, 0.7, 0.25, 0.25, 0.0625, 0.0625};
    cr_expect_eq(mpos, 7);
    for (size_t i = 0; i < 7; i++)
        cr_expect(fabs(lam[i] - want[i]) < 1e-13, "lambda_%zu = %.17g, want %g", i, lam[i],
                  want[i]);
    for (size_t i = 7; i < CN; i++)
        cr_expect_eq(lam[i], 0.0, "null space eigenvalue %zu = %g", i, lam[i]);
    /* y0 = cos 3t: power 1/2 in the lambda = 0.25 pair, none elsewhere; y1 = 0.5 + sin 5t:
     * v = +-0.5 on the constant (lambda 0.7) and power 1/2 in the 0.0625 pair */
    double p3 = v[3 * 2] * v[3 * 2] + v[4 * 2] * v[4 * 2], p5 = 0, other = 0;
    for (size_t i = 5; i < 7; i++)
        p5 += v[i * 2 + 1] * v[i * 2 + 1];
    for (size_t i = 0; i < CN; i++)
        if (i != 3 && i != 4)
            other += v[i * 2] * v[i * 2];
    cr_expect(fabs(p3 - 0.5) < 1e-12, "power of cos 3t %.17g", p3);
    cr_expect(other < 1e-24, "cos 3t leaks %g", other);
    cr_expect(fabs(fabs(v[2 * 2 + 1]) - 0.5) < 1e-12, "constant coefficient %g", v[5]);
    cr_expect(fabs(p5 - 0.5) < 1e-12, "power of sin 5t %.17g", p5);
    /* Parseval: sum_i v_i^2 = ||y||^2 / N */
    double sv = 0, sy = 0;
    for (size_t i = 0; i < CN; i++) {
        sv += v[i * 2 + 1] * v[i * 2 + 1];
        sy += y[i * 2 + 1] * y[i * 2 + 1] / CN;
    }
    cr_expect(fabs(sv - sy) < 1e-12);
    /* eigenvalues alone (y NULL) */
    double lam2[CN];
    cr_assert_eq(lm_kernel_spectrum(K, CN, NULL, 0, lam2, NULL, NULL, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < CN; i++)
        cr_expect(fabs(lam2[i] - lam[i]) < 1e-13);
}

Test(kernel_spectrum, bad_inputs) {
    static double K[CN * CN], y[CN * 2], lam[CN], v[CN * 2];
    circulant(K, y);
    lm_err err = {0};
    cr_expect_eq(lm_kernel_spectrum(K, 0, y, 2, lam, v, NULL, &err), LM_ESHAPE);
    cr_expect_eq(lm_kernel_spectrum(K, CN, NULL, 2, lam, v, NULL, &err), LM_EINVAL);
    K[3 * CN + 7] += 1e-3;
    cr_expect_eq(lm_kernel_spectrum(K, CN, y, 2, lam, v, NULL, &err), LM_EINVAL);
    cr_expect(strstr(err.msg, "not symmetric") && strstr(err.msg, "[3,7]"), "%s", err.msg);
    K[3 * CN + 7] = LM_NAN;
    cr_expect_eq(lm_kernel_spectrum(K, CN, y, 2, lam, v, NULL, &err), LM_ENUMERIC);
    circulant(K, y);
    for (size_t i = 0; i < CN; i++)
        K[i * CN + i] -= 1.0; /* shifts every eigenvalue of K/N by -1/N: not PSD */
    cr_expect_eq(lm_kernel_spectrum(K, CN, y, 2, lam, v, NULL, &err), LM_EINVAL);
    cr_expect(strstr(err.msg, "positive semi-definite"), "%s", err.msg);
    circulant(K, y);
    y[5] = LM_INF;
    cr_expect_eq(lm_kernel_spectrum(K, CN, y, 2, lam, v, NULL, &err), LM_ENUMERIC);
}
