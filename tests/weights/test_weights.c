/* test_weights.c: weight spectra (lmech/weights.h): the MP CDF's normalisation, sigma^2
 * recovered on a Gaussian matrix without spikes and without a power law, planted spikes found
 * above the bulk edge, a Pareto tail's exponent recovered within its SE band (and the wrong
 * exponent 1 + beta rejected), bad input. */
#include "lm_test.h"

#include "lmech/weights.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>

static gsl_rng *rng_new(unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    return r;
}

Test(weights, mp_cdf_is_a_cdf) {
    const double q = 2.5, s2 = 0.7, a = s2 * pow(1 - sqrt(1 / q), 2),
                 b = s2 * pow(1 + sqrt(1 / q), 2);
    cr_assert_eq(lm_wspec_mp_cdf(a * 0.99, q, s2), 0);
    cr_assert_eq(lm_wspec_mp_cdf(b * 1.01, q, s2), 1);
    cr_assert_float_eq(lm_wspec_mp_cdf(b * (1 - 1e-12), q, s2), 1, 1e-6);
    /* the mean of MP is sigma^2: int x dF = b - int F dx over [a, b], by the trapezoid rule */
    double intF = 0;
    const int K = 4000;
    for (int i = 0; i < K; i++) {
        const double x0 = a + (b - a) * i / K, x1 = a + (b - a) * (i + 1) / K;
        intF += 0.5 * (lm_wspec_mp_cdf(x0, q, s2) + lm_wspec_mp_cdf(x1, q, s2)) * (x1 - x0);
    }
    cr_assert_float_eq(b - intF, s2, 1e-4 * s2, "MP mean %g != sigma^2 %g", b - intF, s2);
    cr_assert(isnan(lm_wspec_mp_cdf(1, 0.5, 1)));
}

/* W [N x M] with i.i.d. N(0, s2) entries: MP with sigma^2 = s2, Q = N/M. */
Test(weights, gaussian_matrix_recovers_sigma2_without_spikes_or_power_law) {
    const size_t N = 600, M = 200;
    const double s2 = 0.04;
    gsl_rng *r = rng_new(7);
    double *w = malloc(N * M * sizeof *w);
    for (size_t i = 0; i < N * M; i++)
        w[i] = gsl_ran_gaussian(r, sqrt(s2));
    lm_wspec s;
    lm_err err = {0};
    /* stored as [M, N] (out < in): transposed to N >= M inside */
    cr_assert_eq(lm_wspec_compute(w, M, N, NULL, &s, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(s.n, N);
    cr_assert_eq(s.m, M);
    cr_assert_float_eq(s.mp_q, 3.0, 1e-12);
    cr_assert(fabs(s.mp_sigma2 / s2 - 1) < 0.03, "sigma2 %g vs %g", s.mp_sigma2, s2);
    /* Tracy-Widom: the largest eigenvalue exceeds lambda_+ by O(M^(-2/3)); at most a few */
    cr_assert_leq(s.n_spikes, 3, "spikes %zu (lambda+ %g, max %g)", s.n_spikes, s.mp_lambda_plus,
                  s.eig[M - 1]);
    cr_assert(s.fitted);
    cr_assert(!s.power_law || s.alpha > 4, "alpha %g on a Gaussian matrix", s.alpha);
    /* stable rank and norms agree with the eigenvalues */
    double tr = 0;
    for (size_t i = 0; i < M; i++)
        tr += s.eig[i];
    cr_assert_float_eq(s.stable_rank, tr / s.eig[M - 1], 1e-9 * s.stable_rank);
    cr_assert_float_eq(s.log_spec, 0.5 * log10(s.eig[M - 1] * (double) N), 1e-9);
    lm_wspec_free(&s);
    free(w);
    gsl_rng_free(r);
}

/* W = noise + sum_k theta_k u_k v_k^T with |u| = sqrt(N), |v| = 1 scaled so that the outliers
 * sit well above the edge (BBP: a spike shows when theta^2 / N > sigma^2 / sqrt(Q)). */
Test(weights, planted_rank_two_spikes_are_found) {
    const size_t N = 500, M = 250;
    const double s2 = 1.0;
    gsl_rng *r = rng_new(11);
    double *w = malloc(N * M * sizeof *w), u[2][500], v[2][250];
    for (int k = 0; k < 2; k++) {
        double nv = 0;
        for (size_t i = 0; i < N; i++)
            u[k][i] = gsl_ran_gaussian(r, 1);
        for (size_t j = 0; j < M; j++) {
            v[k][j] = gsl_ran_gaussian(r, 1);
            nv += v[k][j] * v[k][j];
        }
        for (size_t j = 0; j < M; j++)
            v[k][j] /= sqrt(nv);
    }
    const double theta[2] = {4.0, 3.0}; /* theta^2 in units of sigma^2 N... per column: 16, 9 */
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < M; j++)
            w[i * M + j] = gsl_ran_gaussian(r, 1) +
                           sqrt((double) M) *
                               (theta[0] * u[0][i] * v[0][j] + theta[1] * u[1][i] * v[1][j]) /
                               sqrt((double) M);
    lm_wspec s;
    lm_err err = {0};
    cr_assert_eq(lm_wspec_compute(w, N, M, NULL, &s, &err), LM_OK, "%s", err.msg);
    cr_assert(fabs(s.mp_sigma2 / s2 - 1) < 0.05, "sigma2 %g", s.mp_sigma2);
    cr_assert_geq(s.n_spikes, 2, "spikes %zu", s.n_spikes);
    cr_assert_leq(s.n_spikes, 4, "spikes %zu", s.n_spikes);
    /* the two planted ones are far above the edge */
    cr_assert_gt(s.eig[M - 2], 2 * s.mp_lambda_plus, "second %g edge %g", s.eig[M - 2],
                 s.mp_lambda_plus);
    lm_wspec_free(&s);
    free(w);
    gsl_rng_free(r);
}

/* Heavy tail. Singular values sigma drawn from a Pareto law P(sigma > s) = (s / s0)^(-beta).
 * The eigenvalues lambda = sigma^2 / N then satisfy P(lambda > l) = P(sigma > sqrt(N l))
 * = (N l / s0^2)^(-beta/2): a Pareto law with tail index beta/2, i.e. density ~ l^(-alpha)
 * with alpha = 1 + beta/2. W = diag(sigma) padded to [N x M] has exactly these singular
 * values. beta = 3 -> alpha = 2.5. */
Test(weights, pareto_singular_values_give_alpha_within_se) {
    const size_t N = 800, M = 400;
    const double beta = 3, alpha = 1 + beta / 2;
    gsl_rng *r = rng_new(3);
    double *w = calloc(N * M, sizeof *w);
    for (size_t j = 0; j < M; j++)
        w[j * M + j] = gsl_ran_pareto(r, beta, 1.0);
    lm_wspec s;
    lm_err err = {0};
    cr_assert_eq(lm_wspec_compute(w, N, M, NULL, &s, &err), LM_OK, "%s", err.msg);
    cr_assert(s.fitted && s.power_law);
    cr_assert(fabs(s.alpha - alpha) < 2 * s.alpha_se, "alpha %g +- %g (n_tail %zu) vs %g", s.alpha,
              s.alpha_se, s.n_tail, alpha);
    /* negative control: the exponent of the singular values' density, 1 + beta = 4, is not
     * what the ESD shows (it would be, wrongly, without the square in lambda = sigma^2 / N) */
    cr_assert(fabs(s.alpha - (1 + beta)) > 2 * s.alpha_se, "alpha %g +- %g", s.alpha, s.alpha_se);
    cr_assert_float_eq(s.alpha_se, (s.alpha - 1) / sqrt((double) s.n_tail), 1e-12);
    cr_assert_float_eq(s.alpha_weighted, s.alpha * log10(s.eig[M - 1]), 1e-9);
    lm_wspec_free(&s);
    free(w);
    gsl_rng_free(r);
}

Test(weights, too_few_eigenvalues_no_fit_and_bad_input) {
    double w[6 * 4];
    for (int i = 0; i < 24; i++)
        w[i] = sin(i + 1.0);
    lm_wspec s;
    lm_err err = {0};
    cr_assert_eq(lm_wspec_compute(w, 6, 4, NULL, &s, &err), LM_OK, "%s", err.msg);
    cr_assert(!s.fitted && !s.power_law && isnan(s.alpha));
    lm_wspec_free(&s);
    w[5] = LM_NAN;
    cr_assert_eq(lm_wspec_compute(w, 6, 4, NULL, &s, &err), LM_ENUMERIC);
    cr_assert(strstr(err.msg, "entry 5"), "%s", err.msg);
    cr_assert_eq(lm_wspec_compute(w, 0, 4, NULL, &s, &err), LM_ESHAPE);
    lm_wspec_file *f = NULL;
    cr_assert_neq(lm_wspec_file_read("/nonexistent/w.safetensors", NULL, &f, &err), LM_OK);
    cr_assert(strstr(err.msg, "/nonexistent/w.safetensors"), "%s", err.msg);
}
