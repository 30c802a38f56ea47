/*
 * test_krr.c: the empirical KRR learning curve of lmech/theory.h (src/theory/krr.c) against a
 * direct Cholesky solve (lm_kpred_posterior, a separate code path), interpolation at ridge 0, the
 * pseudo-inverse on duplicated rows, the draws' independence of the ridges, and bad input.
 */
#include "lm_test.h"

#include "lmech/theory.h"

/* A linear-kernel pool: x [N, D] Gaussian with decaying scales, y = x . w + small noise, K = x x^T
 * (plus a constant when c > 0, to make the Gram full rank beyond D). */
static void pool(size_t N, size_t D, double *K, double *y, uint64_t seed) {
    lm_rng r;
    lm_rng_seed(&r, seed, 5);
    double *x = malloc(N * D * sizeof *x);
    for (size_t i = 0; i < N * D; i++)
        x[i] = pow((double) (i % D + 1), -0.75) * lm_rng_normal(&r);
    for (size_t i = 0; i < N; i++) {
        double s = 0;
        for (size_t j = 0; j < D; j++)
            s += x[i * D + j] * pow((double) (j + 1), -0.3);
        y[i] = s + 0.1 * lm_rng_normal(&r);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++) {
            double s = 0;
            for (size_t q = 0; q < D; q++)
                s += x[i * D + q] * x[j * D + q];
            K[i * N + j] = s;
        }
    free(x);
}

static double mse(const double *f, const double *y, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (f[i] - y[i]) * (f[i] - y[i]);
    return s / (double) n;
}

/* n = n_pool: the training set is the whole pool (its order does not change the fit), so the
 * curve's numbers must equal a direct Cholesky solve of (K_pp + delta I) alpha = y_p. */
Test(krr, matches_cholesky) {
    enum { N = 70, P = 40, D = 60, T = N - P };
    static double K[N * N], y[N], kp[P * P], kc[T * P], ktr[P * P], mean[T], mtr[P];
    pool(N, D, K, y, 11);
    for (size_t i = 0; i < P; i++)
        for (size_t j = 0; j < P; j++)
            kp[i * P + j] = K[i * N + j];
    for (size_t i = 0; i < T; i++)
        for (size_t j = 0; j < P; j++)
            kc[i * P + j] = K[(P + i) * N + j];
    memcpy(ktr, kp, sizeof kp);
    const double ridges[3] = {1e-3, 0.5, 4.0};
    const size_t nl = P;
    double te[3], tr[3];
    lm_err err = {0};
    cr_assert_eq(lm_krr_curve(K, N, P, y, 1, 1, &nl, 1, 3, ridges, 7, te, tr, &err), LM_OK, "%s",
                 err.msg);
    for (size_t r = 0; r < 3; r++) {
        cr_assert_eq(lm_kpred_posterior(kp, kc, NULL, y, P, T, 1, ridges[r], mean, NULL, &err),
                     LM_OK, "%s", err.msg);
        cr_assert_eq(lm_kpred_posterior(kp, ktr, NULL, y, P, P, 1, ridges[r], mtr, NULL, &err),
                     LM_OK, "%s", err.msg);
        const double want_te = mse(mean, y + P, T), want_tr = mse(mtr, y, P);
        cr_expect(lm_close(te[r], want_te, 1e-8, 1e-300), "ridge %g test %.17g vs %.17g", ridges[r],
                  te[r], want_te);
        cr_expect(lm_close(tr[r], want_tr, 1e-7, 1e-14), "ridge %g train %.17g vs %.17g", ridges[r],
                  tr[r], want_tr);
    }
}

/* Ridge 0 with a full-rank training Gram (D > n): the fit interpolates the training rows. */
Test(krr, ridge0_interpolates) {
    enum { N = 60, D = 80 };
    static double K[N * N], y[N];
    pool(N, D, K, y, 12);
    const size_t nl[3] = {5, 20, 40};
    const double ridge = 0;
    double te[3 * 4], tr[3 * 4], ymean = 0;
    for (size_t i = 0; i < N; i++)
        ymean += y[i] * y[i] / N;
    lm_err err = {0};
    cr_assert_eq(lm_krr_curve(K, N, 45, y, 1, 3, nl, 4, 1, &ridge, 3, te, tr, &err), LM_OK, "%s",
                 err.msg);
    for (size_t i = 0; i < 12; i++) {
        cr_expect(tr[i] < 1e-16 * ymean, "train MSE %g at ridge 0", tr[i]);
        cr_expect(isfinite(te[i]) && te[i] > 0);
    }
    /* more data, less test error (averaged over the 4 trials) */
    double a = 0, b = 0;
    for (size_t t = 0; t < 4; t++) {
        a += te[0 * 4 + t];
        b += te[2 * 4 + t];
    }
    cr_expect(b < a, "test MSE at n = 40 (%g) should be below n = 5 (%g)", b / 4, a / 4);
}

/* Duplicated inputs with different targets at ridge 0: the pseudo-inverse leaves the duplicates'
 * disagreement as training residual: rows x and x with targets +1 and -1 (and nothing else)
 * give a fit of 0 there, train MSE 1. */
Test(krr, ridge0_pseudo_inverse) {
    const double K[9] = {2, 2, 0.5, 2, 2, 0.5, 0.5, 0.5, 1};
    const double y[3] = {1, -1, 0.25};
    const size_t n = 2;
    const double ridge = 0;
    double te, tr;
    lm_err err = {0};
    cr_assert_eq(lm_krr_curve(K, 3, 2, y, 1, 1, &n, 1, 1, &ridge, 1, &te, &tr, &err), LM_OK, "%s",
                 err.msg);
    cr_expect(fabs(tr - 1.0) < 1e-12, "train MSE %.17g", tr);
    cr_expect(fabs(te - 0.0625) < 1e-12, "test MSE %.17g (the fit is 0 at the test row)", te);
}

/* The draws depend on the seed and n_list only: a ridge alone gives bit-identical numbers to the
 * same ridge among others; another seed gives other draws. */
Test(krr, draws_independent_of_ridges) {
    enum { N = 50, D = 30 };
    static double K[N * N], y[N];
    pool(N, D, K, y, 13);
    const size_t nl[2] = {8, 16};
    const double r3[3] = {0.01, 0.1, 1}, r1 = 0.1;
    double te3[3 * 2 * 5], tr3[3 * 2 * 5], te1[2 * 5], tr1[2 * 5], te_o[2 * 5];
    lm_err err = {0};
    cr_assert_eq(lm_krr_curve(K, N, 30, y, 1, 2, nl, 5, 3, r3, 9, te3, tr3, &err), LM_OK);
    cr_assert_eq(lm_krr_curve(K, N, 30, y, 1, 2, nl, 5, 1, &r1, 9, te1, tr1, &err), LM_OK);
    for (size_t i = 0; i < 10; i++) {
        cr_expect_eq(te3[10 + i], te1[i], "test entry %zu", i);
        cr_expect_eq(tr3[10 + i], tr1[i], "train entry %zu", i);
    }
    cr_assert_eq(lm_krr_curve(K, N, 30, y, 1, 2, nl, 5, 1, &r1, 10, te_o, NULL, &err), LM_OK);
    int differ = 0;
    for (size_t i = 0; i < 10; i++)
        differ |= te_o[i] != te1[i];
    cr_expect(differ, "another seed must draw other training sets");
    /* trials of one n differ from each other (distinct draws) */
    cr_expect(te1[0] != te1[1]);
}

Test(krr, bad_inputs) {
    enum { N = 20, D = 10 };
    static double K[N * N], y[N];
    pool(N, D, K, y, 14);
    size_t nl = 5;
    double r = 0.1, te = -1, tr = -1;
    lm_err err = {0};
    cr_expect_eq(lm_krr_curve(K, N, 10, y, 1, 1, &nl, 1, 1, &r, 1, &te, &tr, &err), LM_OK);
    nl = 11;
    cr_expect_eq(lm_krr_curve(K, N, 10, y, 1, 1, &nl, 1, 1, &r, 1, &te, &tr, &err), LM_EINVAL);
    cr_expect(strstr(err.msg, "n_list[0] = 11"), "%s", err.msg);
    nl = 0;
    cr_expect_eq(lm_krr_curve(K, N, 10, y, 1, 1, &nl, 1, 1, &r, 1, &te, &tr, &err), LM_EINVAL);
    nl = 5;
    r = -1;
    cr_expect_eq(lm_krr_curve(K, N, 10, y, 1, 1, &nl, 1, 1, &r, 1, &te, &tr, &err), LM_EINVAL);
    cr_expect(strstr(err.msg, "ridge[0]"), "%s", err.msg);
    r = 0.1;
    cr_expect_eq(lm_krr_curve(K, N, 20, y, 1, 1, &nl, 1, 1, &r, 1, &te, &tr, &err), LM_EINVAL);
    cr_expect(strstr(err.msg, "no test set"), "%s", err.msg);
    cr_expect_eq(lm_krr_curve(K, N, 20, y, 1, 1, &nl, 1, 1, &r, 1, NULL, &tr, &err), LM_OK,
                 "train only needs no test rows: %s", err.msg);
    cr_expect_eq(lm_krr_curve(K, N, 0, y, 1, 1, &nl, 1, 1, &r, 1, &te, &tr, &err), LM_EINVAL);
    cr_expect_eq(lm_krr_curve(K, N, 10, y, 1, 1, &nl, 0, 1, &r, 1, &te, &tr, &err), LM_EINVAL);
    cr_expect_eq(lm_krr_curve(NULL, N, 10, y, 1, 1, &nl, 1, 1, &r, 1, &te, &tr, &err), LM_EINVAL);
    K[2 * N + 5] += 1;
    cr_expect_eq(lm_krr_curve(K, N, 10, y, 1, 1, &nl, 1, 1, &r, 1, &te, &tr, &err), LM_EINVAL);
    cr_expect(strstr(err.msg, "not symmetric"), "%s", err.msg);
    K[2 * N + 5] = LM_NAN;
    cr_expect_eq(lm_krr_curve(K, N, 10, y, 1, 1, &nl, 1, 1, &r, 1, &te, &tr, &err), LM_ENUMERIC);
}
