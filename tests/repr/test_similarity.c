/* test_similarity.c: representation similarity (lmech/repr.h): invariances of CKA (orthogonal
 * maps and scaling) and CCA (invertible maps) with a negative control (CKA is not invariant to a
 * general linear map), debiased against biased CKA on independent features, the permutation
 * null, constant columns, bad input. The NumPy reference is tests/cli/test_similarity.sh. */
#include "lm_test.h"

#include "lmech/repr.h"

static void gauss(lm_rng *r, double *x, size_t len) {
    for (size_t i = 0; i < len; i++)
        x[i] = lm_rng_normal(r);
}

static double sim(lm_sim_metric m, const double *A, size_t n, size_t p, const double *B, size_t q) {
    lm_sim_result r;
    lm_err err = {0};
    lm_status st = lm_similarity(m, A, n, p, B, q, NULL, &r, &err);
    cr_assert_eq(st, LM_OK, "%s: %s", lm_sim_metric_name(m), err.msg);
    return r.value;
}

/* Y = c X M for X [n, p], M [p, p]. */
static void map(const double *X, size_t n, size_t p, const double *M, double c, double *Y) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++) {
            double s = 0;
            for (size_t t = 0; t < p; t++)
                s += X[i * p + t] * M[t * p + j];
            Y[i * p + j] = c * s;
        }
}

Test(similarity, cka_invariant_to_orthogonal_and_scale) {
    enum { n = 40, p = 6 };
    lm_rng r;
    lm_rng_seed(&r, 1, 0);
    double X[n * p], Q[p * p], Y[n * p];
    gauss(&r, X, n * p);
    for (size_t j = 0; j < p; j++) /* an anisotropic X, so the control below can fail */
        for (size_t i = 0; i < n; i++)
            X[i * p + j] *= (double) (j + 1);
    cr_assert_eq(lm_rng_orthonormal(&r, p, p, Q, NULL), LM_OK);
    map(X, n, p, Q, 3.7, Y);
    cr_assert(fabs(sim(LM_SIM_LINEAR_CKA, X, n, p, Y, p) - 1) < 1e-12);
    cr_assert(fabs(sim(LM_SIM_RBF_CKA, X, n, p, Y, p) - 1) < 1e-12);
    cr_assert(fabs(sim(LM_SIM_DEBIASED_CKA, X, n, p, Y, p) - 1) < 1e-12);
    /* negative control: a general invertible map changes CKA but not CCA */
    double M[p * p];
    gauss(&r, M, p * p);
    map(X, n, p, M, 1.0, Y);
    double lin = sim(LM_SIM_LINEAR_CKA, X, n, p, Y, p);
    cr_assert(lin < 0.99, "linear CKA %g should not be invariant to a general map", lin);
    cr_assert(fabs(sim(LM_SIM_CCA, X, n, p, Y, p) - 1) < 1e-12);
    cr_assert(fabs(sim(LM_SIM_SVCCA, X, n, p, Y, p) - 1) < 1e-12);
    /* mutual k-NN: identical representations agree fully */
    cr_assert(fabs(sim(LM_SIM_MKNN, X, n, p, X, p) - 1) < 1e-15);
}

Test(similarity, debiased_cka_near_zero_on_independent_features) {
    enum { n = 32, p = 10, draws = 40 };
    lm_rng r;
    lm_rng_seed(&r, 2, 0);
    double A[n * p], B[n * p], s = 0, s2 = 0, lin = 0;
    for (int d = 0; d < draws; d++) {
        gauss(&r, A, n * p);
        gauss(&r, B, n * p);
        double v = sim(LM_SIM_DEBIASED_CKA, A, n, p, B, p);
        s += v, s2 += v * v;
        lin += sim(LM_SIM_LINEAR_CKA, A, n, p, B, p) / draws;
    }
    double mean = s / draws, se = sqrt((s2 / draws - mean * mean) / (draws - 1));
    cr_assert(fabs(mean) < 3 * se + 1e-3, "debiased CKA mean %g, SE %g", mean, se);
    cr_assert(lin > 0.15, "biased linear CKA %g should be clearly positive at n = 32", lin);
    cr_assert(lin > mean + 10 * se, "biased %g vs debiased %g +- %g", lin, mean, se);
}

Test(similarity, permutation_null) {
    enum { n = 50, p = 4 };
    lm_rng r;
    lm_rng_seed(&r, 3, 0);
    double A[n * p], B[n * p], C[n * p];
    gauss(&r, A, n * p);
    gauss(&r, C, n * p);
    for (size_t i = 0; i < n * p; i++)
        B[i] = A[i] + 0.5 * C[i];
    lm_sim_opts o = {.k = 5, .null_n = 99, .seed = 9};
    for (int m = 0; m <= LM_SIM_SVCCA; m++) {
        lm_sim_result rel, ind;
        lm_err err = {0};
        cr_assert_eq(lm_similarity((lm_sim_metric) m, A, n, p, B, p, &o, &rel, &err), LM_OK, "%s",
                     err.msg);
        cr_assert_eq(lm_similarity((lm_sim_metric) m, A, n, p, C, p, &o, &ind, &err), LM_OK, "%s",
                     err.msg);
        cr_assert(rel.has_null && rel.p_value == 0.01, "%s related p = %g",
                  lm_sim_metric_name((lm_sim_metric) m), rel.p_value);
        cr_assert(ind.p_value > 0.05, "%s independent p = %g",
                  lm_sim_metric_name((lm_sim_metric) m), ind.p_value);
        cr_assert(rel.null_p95 >= rel.null_mean && rel.null_p95 < rel.value);
    }
}

Test(similarity, constant_columns_ignored_all_constant_refused) {
    enum { n = 20 };
    lm_rng r;
    lm_rng_seed(&r, 4, 0);
    double A[n * 3], A2[n * 2], B[n * 2];
    gauss(&r, B, n * 2);
    for (size_t i = 0; i < n; i++) {
        A2[i * 2] = A[i * 3] = lm_rng_normal(&r);
        A2[i * 2 + 1] = A[i * 3 + 2] = lm_rng_normal(&r);
        A[i * 3 + 1] = 5.0;
    }
    for (int m = 0; m <= LM_SIM_SVCCA; m++)
        if (m != LM_SIM_MKNN) /* mknn works on uncentred rows (cosine): documented in repr.h */
            cr_assert(fabs(sim((lm_sim_metric) m, A, n, 3, B, 2) -
                           sim((lm_sim_metric) m, A2, n, 2, B, 2)) < 1e-12,
                      "%s", lm_sim_metric_name((lm_sim_metric) m));
    for (size_t i = 0; i < n; i++)
        A[i * 3] = A[i * 3 + 2] = -1.0;
    lm_sim_result res;
    lm_err err = {0};
    cr_assert_eq(lm_similarity(LM_SIM_LINEAR_CKA, A, n, 3, B, 2, NULL, &res, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "A: every one of its 3 columns is constant"), "%s", err.msg);
}

Test(similarity, bad_input) {
    double A[5 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1}, B[5 * 2] = {2, 1, 4, 3, 6, 5, 8, 7, 1, 0};
    lm_sim_result res;
    lm_err err = {0};
    lm_sim_opts o = {.k = 5};
    cr_assert_eq(lm_similarity(LM_SIM_MKNN, A, 5, 2, B, 2, &o, &res, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "k = 5 with n = 5"), "%s", err.msg);
    cr_assert_eq(lm_similarity(LM_SIM_DEBIASED_CKA, A, 3, 2, B, 2, NULL, &res, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "n >= 4"), "%s", err.msg);
    cr_assert_eq(lm_similarity(LM_SIM_CCA, A, 2, 2, B, 2, NULL, &res, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "n > max(p, q)"), "%s", err.msg);
    B[7] = LM_NAN;
    cr_assert_eq(lm_similarity(LM_SIM_LINEAR_CKA, A, 5, 2, B, 2, NULL, &res, &err), LM_ENUMERIC);
    cr_assert(strstr(err.msg, "B: non-finite value nan at row 3, column 1"), "%s", err.msg);
    lm_sim_metric m;
    cr_assert_eq(lm_sim_metric_parse("cka", &m, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "\"cka\""), "%s", err.msg);
    cr_assert_eq(lm_sim_metric_parse("svcca", &m, &err), LM_OK);
    cr_assert_eq(m, LM_SIM_SVCCA);
    LM_CHECK_LEAKS();
}
