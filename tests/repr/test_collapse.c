/* test_collapse.c: neural collapse (lm_neural_collapse, lmech/repr.h): exactly collapsed features
 * (simplex-ETF class means, no within-class spread, W = M, also with a global offset) give zero
 * on every measure; random features (the negative control) give a large NC1 and far-from-zero
 * NC2/NC3; a small hand-written case matches the NumPy reference tests/fixtures/nc_reference.py;
 * W or b NULL; bad input is refused with a message naming the problem. */
#include "lm_test.h"

#include "lmech/repr.h"

#include <math.h>

/* C = 4 simplex-ETF means of scale 3 in p = 6 (first 4 coordinates), 5 rows each, plus offset g;
 * W = M, b = -W g (so that the logits of row h are M m_c). */
static void collapsed(double *H, size_t *labels, double *W, double *b, const double *g) {
    const size_t C = 4, p = 6, per = 5;
    const double s = 3.0 * sqrt((double) C / (double) (C - 1));
    for (size_t c = 0; c < C; c++) {
        for (size_t j = 0; j < p; j++)
            W[c * p + j] = j < C ? s * ((j == c) - 1.0 / (double) C) : 0.0;
        b[c] = 0;
        for (size_t j = 0; j < p; j++)
            b[c] -= W[c * p + j] * g[j];
        for (size_t r = 0; r < per; r++) {
            labels[c * per + r] = c;
            for (size_t j = 0; j < p; j++)
                H[(c * per + r) * p + j] = W[c * p + j] + g[j];
        }
    }
}

Test(collapse, exact_collapse_is_zero) {
    double H[20 * 6], W[4 * 6], b[4];
    size_t labels[20];
    const double zero[6] = {0}, g[6] = {0.7, -1.2, 2.5, 0.3, -0.4, 1.9};
    for (int k = 0; k < 2; k++) {
        collapsed(H, labels, W, b, k ? g : zero);
        lm_nc nc;
        lm_err err = {0};
        cr_assert_eq(lm_neural_collapse(H, 20, 6, labels, 4, W, b, &nc, &err), LM_OK, "%s",
                     err.msg);
        cr_assert(fabs(nc.nc1) < 1e-12, "nc1 %g", nc.nc1);
        cr_assert(fabs(nc.nc2_equinorm) < 1e-12, "equinorm %g", nc.nc2_equinorm);
        cr_assert(fabs(nc.nc2_equinorm_w) < 1e-12, "equinorm_w %g", nc.nc2_equinorm_w);
        cr_assert(fabs(nc.nc2_equiangular) < 1e-12, "equiangular %g", nc.nc2_equiangular);
        cr_assert(fabs(nc.nc3) < 1e-12, "nc3 %g", nc.nc3);
        cr_assert_eq(nc.nc4, 0.0);
    }
}

/* negative control: Gaussian features with random labels are not collapsed */
Test(collapse, random_features_are_not_collapsed) {
    enum { N = 400, P = 10, C = 4 };
    static double H[N * P], W[C * P];
    size_t labels[N];
    lm_rng r;
    lm_rng_seed(&r, 11, 0);
    for (size_t i = 0; i < N * P; i++)
        H[i] = lm_rng_normal(&r);
    for (size_t i = 0; i < C * P; i++)
        W[i] = lm_rng_normal(&r);
    for (size_t i = 0; i < N; i++)
        labels[i] = i % C;
    lm_nc nc;
    lm_err err = {0};
    cr_assert_eq(lm_neural_collapse(H, N, P, labels, C, W, NULL, &nc, &err), LM_OK, "%s", err.msg);
    /* Sigma_W ~ I, Sigma_B ~ I/100 on C-1 directions: tr(Sigma_W Sigma_B^+)/C ~ 3 x 100 / 4 */
    cr_assert(nc.nc1 > 10, "nc1 %g", nc.nc1);
    cr_assert(nc.nc3 > 0.5, "nc3 %g", nc.nc3); /* W unrelated to M: ~2 */
    cr_assert(nc.nc4 > 0.3, "nc4 %g", nc.nc4); /* chance agreement is 1/4 */
    cr_assert(nc.nc2_equiangular > 0.05, "%g", nc.nc2_equiangular);
}

/* The case of tests/fixtures/nc_reference.py, whose printed values are embedded below. */
Test(collapse, matches_numpy_reference) {
    const double H[9 * 4] = {1.0,  0.2,  -0.5, 0.3,  1.4,  -0.1, -0.2, 0.0, 0.8,  0.5,  -0.9, 0.6,
                             -0.3, 1.1,  0.4,  -0.2, 0.1,  0.7,  0.9,  0.1, -0.6, 1.5,  0.2,  -0.4,
                             0.2,  -0.8, 0.1,  1.2,  -0.1, -1.3, 0.5,  0.9, 0.5,  -0.4, -0.3, 1.6};
    const size_t labels[9] = {0, 0, 0, 1, 1, 1, 2, 2, 1};
    const double W[3 * 4] = {1.0, 0.1, -0.6, 0.0, -0.2, 1.0, 0.3, -0.3, 0.1, -0.9, 0.2, 1.1};
    const double b[3] = {0.05, -0.1, 1.3};
    lm_nc nc;
    lm_err err = {0};
    cr_assert_eq(lm_neural_collapse(H, 9, 4, labels, 3, W, b, &nc, &err), LM_OK, "%s", err.msg);
    const double want[6] = {0.33859780198798511, 0.13123106962457448, 0.1429993332100086,
                            0.17367595800644811, 0.17162346584926474, 0.22222222222222221};
    const double got[6] = {nc.nc1, nc.nc2_equinorm, nc.nc2_equinorm_w, nc.nc2_equiangular,
                           nc.nc3, nc.nc4};
    for (int k = 0; k < 6; k++)
        cr_assert(fabs(got[k] - want[k]) <= 1e-12 * fabs(want[k]), "measure %d: %.17g vs %.17g", k,
                  got[k], want[k]);
    /* without W: the classifier measures are NaN, the feature ones unchanged */
    cr_assert_eq(lm_neural_collapse(H, 9, 4, labels, 3, NULL, NULL, &nc, &err), LM_OK);
    cr_assert(isnan(nc.nc3) && isnan(nc.nc4) && isnan(nc.nc2_equinorm_w));
    cr_assert(fabs(nc.nc1 - want[0]) <= 1e-12 * want[0]);
    /* without b: the bias of class 2 no longer moves 2 rows into class 2 */
    cr_assert_eq(lm_neural_collapse(H, 9, 4, labels, 3, W, NULL, &nc, &err), LM_OK);
    cr_assert_eq(nc.nc4, 0.0);
}

Test(collapse, bad_input) {
    double H[6 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, W[2 * 2] = {1, 0, 0, 1};
    size_t labels[6] = {0, 1, 0, 1, 0, 1};
    lm_nc nc;
    lm_err err = {0};
    cr_assert_eq(lm_neural_collapse(H, 6, 2, labels, 2, W, NULL, &nc, &err), LM_OK, "%s", err.msg);
    labels[3] = 2;
    cr_assert_eq(lm_neural_collapse(H, 6, 2, labels, 2, W, NULL, &nc, &err), LM_ERANGE);
    cr_assert(strstr(err.msg, "row 3"), "%s", err.msg);
    labels[3] = 1;
    const double W3[3 * 2] = {1, 0, 0, 1, 1, 1}; /* C = 3: W is [3, 2] */
    cr_assert_eq(lm_neural_collapse(H, 6, 2, labels, 3, W3, NULL, &nc, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "class 2"), "%s", err.msg);
    cr_assert_eq(lm_neural_collapse(H, 6, 2, labels, 1, W, NULL, &nc, &err), LM_ESHAPE);
    cr_assert_eq(lm_neural_collapse(H, 0, 2, labels, 2, W, NULL, &nc, &err), LM_ESHAPE);
    H[5] = LM_NAN;
    cr_assert_eq(lm_neural_collapse(H, 6, 2, labels, 2, W, NULL, &nc, &err), LM_ENUMERIC);
    cr_assert(strstr(err.msg, "H") && strstr(err.msg, "row 2, column 1"), "%s", err.msg);
    H[5] = 6;
    W[1] = LM_INF;
    cr_assert_eq(lm_neural_collapse(H, 6, 2, labels, 2, W, NULL, &nc, &err), LM_ENUMERIC);
    cr_assert(strstr(err.msg, "W"), "%s", err.msg);
    /* all class means equal: Sigma_B = 0, nc1 NaN (not an error) */
    double same[4 * 2] = {1, 1, 1, 1, 2, 2, 2, 2};
    size_t l2[4] = {0, 1, 1, 0};
    W[1] = 0;
    cr_assert_eq(lm_neural_collapse(same, 4, 2, l2, 2, W, NULL, &nc, &err), LM_OK, "%s", err.msg);
    cr_assert(isnan(nc.nc1) && isnan(nc.nc2_equinorm) && isnan(nc.nc3));
}
