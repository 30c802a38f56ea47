/* test_weights_tail.c: the Clauset-Shalizi-Newman fit of lm_wspec_compute against matrices with
 * a KNOWN tail exponent. W = U diag(sqrt(N lambda)) V^T with U [N x M], V [M x M] Haar-orthonormal
 * (lm_rng_orthonormal) and lambda_i i.i.d. Pareto with density ~ lambda^-alpha above 1, i.e.
 * P(lambda > x) = x^-(alpha - 1), drawn as lambda = u^(-1/(alpha - 1)): the ESD of W^T W / N is
 * exactly {lambda_i}, so the fit must recover alpha. Probed over alpha = 2..5, several draws each;
 * the CSN SE (alpha - 1)/sqrt(n_tail) must cover the truth about as a 2-SE band should. Also
 * CSN's bootstrap goodness-of-fit p-value (lm_wspec_opts.gof_draws). */
#include "lm_test.h"

#include "lmech/weights.h"

#include <cblas.h>
#include <stdlib.h>

/* W [n x m] with ESD {lam} (m values): U diag(sqrt(n lam)) V^T. */
static void planted(size_t n, size_t m, const double *lam, uint64_t seed, double *w) {
    lm_rng g;
    lm_rng_seed(&g, seed, 77);
    double *u = malloc(n * m * sizeof *u), *v = malloc(m * m * sizeof *v);
    lm_err err = {0};
    cr_assert_eq(lm_rng_orthonormal(&g, n, m, u, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_rng_orthonormal(&g, m, m, v, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++)
            u[i * m + j] *= sqrt((double) n * lam[j]);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) n, (int) m, (int) m, 1.0, u, (int) m,
                v, (int) m, 0.0, w, (int) m);
    free(u);
    free(v);
}

static void pareto(size_t m, double alpha, uint64_t seed, double *lam) {
    lm_rng g;
    lm_rng_seed(&g, seed, 78);
    for (size_t j = 0; j < m; j++)
        lam[j] = pow(1.0 - lm_rng_uniform(&g), -1.0 / (alpha - 1.0));
}

Test(weights_tail, known_exponent_recovered_within_se) {
    const size_t N = 400, M = 200, DRAWS = 6;
    const double alphas[] = {2.0, 3.0, 4.0, 5.0};
    double *w = malloc(N * M * sizeof *w), lam[200];
    size_t covered = 0, total = 0;
    for (size_t a = 0; a < 4; a++) {
        double mean_z = 0;
        for (size_t d = 0; d < DRAWS; d++) {
            pareto(M, alphas[a], 100 * a + d, lam);
            planted(N, M, lam, 100 * a + d, w);
            lm_wspec s;
            lm_err err = {0};
            cr_assert_eq(lm_wspec_compute(w, N, M, NULL, &s, &err), LM_OK, "%s", err.msg);
            cr_assert(s.fitted);
            const double z = (s.alpha - alphas[a]) / s.alpha_se;
            mean_z += z / (double) DRAWS;
            covered += fabs(z) < 2;
            total++;
            /* every single fit lands within 3 SE */
            cr_assert(fabs(z) < 3, "alpha %g: fitted %g +- %g (n_tail %zu, xmin %g)", alphas[a],
                      s.alpha, s.alpha_se, s.n_tail, s.xmin);
            lm_wspec_free(&s);
        }
        /* no systematic bias: the mean z over the draws within 2/sqrt(DRAWS) * 1.5 */
        cr_assert(fabs(mean_z) < 3 / sqrt((double) DRAWS), "alpha %g: mean z %g", alphas[a],
                  mean_z);
    }
    /* a 2-SE band covers ~95 %: at least 20 of 24 */
    cr_assert_geq(covered, 20, "2-SE coverage %zu / %zu", covered, total);
    free(w);
}

/* CSN's goodness-of-fit p-value (opts.gof_draws): a planted Pareto ESD is not ruled out
 * (p >= 0.1 for every alpha), an exponential ESD is (p < 0.1). Off by default (NaN). */
Test(weights_tail, gof_pvalue_keeps_pareto_and_rejects_exponential) {
    const size_t N = 400, M = 200;
    double *w = malloc(N * M * sizeof *w), lam[200];
    lm_wspec_opts o = {.gof_draws = 100, .gof_seed = 9};
    lm_err err = {0};
    lm_wspec s;
    for (size_t a = 0; a < 3; a++) {
        const double alpha = 2.0 + (double) a;
        pareto(M, alpha, 500 + a, lam);
        planted(N, M, lam, 500 + a, w);
        cr_assert_eq(lm_wspec_compute(w, N, M, &o, &s, &err), LM_OK, "%s", err.msg);
        cr_assert(s.ks_p >= 0.1, "Pareto alpha %g: p = %g", alpha, s.ks_p);
        lm_wspec_free(&s);
    }
    /* exponential eigenvalues 1 + Exp(1): light-tailed */
    lm_rng g;
    lm_rng_seed(&g, 4, 0);
    for (size_t j = 0; j < M; j++)
        lam[j] = 1.0 - log(1.0 - lm_rng_uniform(&g));
    planted(N, M, lam, 600, w);
    cr_assert_eq(lm_wspec_compute(w, N, M, &o, &s, &err), LM_OK, "%s", err.msg);
    cr_assert(s.ks_p < 0.1, "exponential: alpha %g, p = %g", s.alpha, s.ks_p);
    lm_wspec_free(&s);
    /* a Gaussian matrix (an MP bulk, no power law): CSN fits alpha = 5.7 on a 37-point tail,
     * inside WeightWatcher's [2, 6], but the p-value (0.02 for this draw) rules it out */
    lm_rng_seed(&g, 5, 0);
    for (size_t i = 0; i < N * M; i++)
        w[i] = lm_rng_normal(&g);
    cr_assert_eq(lm_wspec_compute(w, N, M, &o, &s, &err), LM_OK, "%s", err.msg);
    lm_wspec_free(&s);
    cr_assert_eq(lm_wspec_compute(w, N, M, NULL, &s, &err), LM_OK, "%s", err.msg);
    cr_assert(isnan(s.ks_p));
    lm_wspec_free(&s);
    free(w);
}
