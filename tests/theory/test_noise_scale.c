/*
 * Tests for src/theory/noise_scale.c: the exact noise statistics against a brute-force oracle
 * (every per-example gradient stored, covariance summed explicitly), the two-batch estimator
 * against the exact value within its own standard error, the hyperbola fit on synthetic data,
 * and the error paths.
 */
#include "lm_test.h"
#include "lmech/theory.h"

#include <string.h>

typedef struct tiny {
    lm_mlp *m;
    double *theta, *x, *y;
    size_t n, d, k;
} tiny;

/* 5-7-3 tanh with biases, cross-entropy on n random points with random one-hot labels */
static void tiny_make(tiny *t, size_t n) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = 3;
    s.widths[0] = 5;
    s.widths[1] = 7;
    s.widths[2] = 3;
    s.act = LM_ACT_TANH;
    s.sb2 = 0.2;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &t->m, &err), LM_OK, "%s", err.msg);
    t->theta = malloc(t->m->n_params * sizeof(double));
    cr_assert_eq(lm_mlp_init(t->m, 3, t->theta, &err), LM_OK);
    t->n = n;
    t->d = 5;
    t->k = 3;
    t->x = malloc(n * t->d * sizeof(double));
    t->y = calloc(n * t->k, sizeof(double));
    lm_rng r;
    lm_rng_seed(&r, 11, 0);
    for (size_t i = 0; i < n * t->d; i++)
        t->x[i] = lm_rng_normal(&r);
    for (size_t i = 0; i < n; i++)
        t->y[i * t->k + lm_rng_below(&r, t->k)] = 1.0;
}

static void tiny_free(tiny *t) {
    lm_mlp_free(t->m);
    free(t->theta);
    free(t->x);
    free(t->y);
}

Test(noise_scale, exact_matches_brute_force) {
    tiny t;
    tiny_make(&t, 40);
    const size_t p = t.m->n_params;
    lm_err err = {0};
    lm_mlp_ws *ws = NULL;
    cr_assert_eq(lm_mlp_ws_new(t.m, 1, LM_F64, &ws, &err), LM_OK);
    double *g = malloc(t.n * p * sizeof(double)), *G = calloc(p, sizeof(double));
    double lsum = 0;
    for (size_t i = 0; i < t.n; i++) {
        double l;
        cr_assert_eq(lm_mlp_loss_grad(t.m, ws, LM_LOSS_CE, t.theta, t.x + i * t.d, t.y + i * t.k, 1,
                                      &l, g + i * p, NULL, &err),
                     LM_OK);
        lsum += l;
        for (size_t j = 0; j < p; j++)
            G[j] += g[i * p + j] / (double) t.n;
    }
    /* tr(Sigma) as the trace of the explicit covariance matrix's diagonal: sum_j Var_i(g_ij) */
    double g2 = 0, tr = 0;
    for (size_t j = 0; j < p; j++) {
        g2 += G[j] * G[j];
        double v = 0;
        for (size_t i = 0; i < t.n; i++)
            v += (g[i * p + j] - G[j]) * (g[i * p + j] - G[j]);
        tr += v / (double) t.n;
    }
    lm_noise_stats st;
    cr_assert_eq(lm_noise_exact(t.m, LM_LOSS_CE, t.theta, t.x, t.y, t.n, &st, &err), LM_OK, "%s",
                 err.msg);
    /* the same sums in another order: agreement to rounding (1e-12 relative on O(1) sums) */
    cr_assert_eq(st.n, t.n);
    cr_assert(lm_close(st.loss, lsum / (double) t.n, 1e-12, 1e-12), "%g %g", st.loss, lsum);
    cr_assert(lm_close(st.g2, g2, 1e-12, 1e-14), "%g %g", st.g2, g2);
    cr_assert(lm_close(st.tr_sigma, tr, 1e-12, 1e-14), "%g %g", st.tr_sigma, tr);
    cr_assert(lm_close(st.b_simple, tr / g2, 1e-11, 1e-14));
    /* the identity E|G_B|^2 = |G|^2 + tr(Sigma)/B at B = 1: the mean of |g_i|^2 */
    double m2 = 0;
    for (size_t i = 0; i < t.n * p; i++)
        m2 += g[i] * g[i] / (double) t.n;
    cr_assert(lm_close(m2, g2 + tr, 1e-12, 1e-14));
    free(g);
    free(G);
    lm_mlp_ws_free(ws);
    tiny_free(&t);
    LM_CHECK_LEAKS();
}

Test(noise_scale, two_batch_converges_to_exact) {
    tiny t;
    tiny_make(&t, 64);
    lm_err err = {0};
    lm_noise_stats ex;
    cr_assert_eq(lm_noise_exact(t.m, LM_LOSS_CE, t.theta, t.x, t.y, t.n, &ex, &err), LM_OK);
    lm_noise_twobatch tb, tb2;
    cr_assert_eq(
        lm_noise_two_batch(t.m, LM_LOSS_CE, t.theta, t.x, t.y, t.n, 4, 32, 4000, 9, &tb, &err),
        LM_OK, "%s", err.msg);
    cr_assert_eq(tb.pairs, 4000);
    cr_assert(tb.b_simple_se > 0 && tb.b_simple_se < 0.2 * ex.b_simple, "se %g", tb.b_simple_se);
    /* each estimate is unbiased (batches with replacement) and the mean of 4000 pairs is close
     * to Gaussian: 4 standard errors bound a deviation with probability 0.99994; the ratio's
     * O(1/pairs) bias is far below its standard error */
    cr_assert(fabs(tb.tr_sigma - ex.tr_sigma) <= 4 * tb.tr_sigma_se, "tr %g vs %g +- %g",
              tb.tr_sigma, ex.tr_sigma, tb.tr_sigma_se);
    cr_assert(fabs(tb.g2 - ex.g2) <= 4 * tb.g2_se, "g2 %g vs %g +- %g", tb.g2, ex.g2, tb.g2_se);
    cr_assert(fabs(tb.b_simple - ex.b_simple) <= 4 * tb.b_simple_se, "B %g vs %g +- %g",
              tb.b_simple, ex.b_simple, tb.b_simple_se);
    /* the standard error is honest: more pairs shrink it like 1/sqrt(pairs) (within 30 % for
     * the sampling noise of a standard-deviation estimate from 250 vs 4000 pairs) */
    cr_assert_eq(
        lm_noise_two_batch(t.m, LM_LOSS_CE, t.theta, t.x, t.y, t.n, 4, 32, 250, 9, &tb2, &err),
        LM_OK);
    const double r = tb2.b_simple_se / tb.b_simple_se;
    cr_assert(r > 4 * 0.7 && r < 4 * 1.3, "se ratio %g (expected ~4)", r);
    /* same seed, same pairs */
    lm_noise_twobatch tb3;
    cr_assert_eq(
        lm_noise_two_batch(t.m, LM_LOSS_CE, t.theta, t.x, t.y, t.n, 4, 32, 250, 9, &tb3, &err),
        LM_OK);
    cr_assert_eq(tb3.b_simple, tb2.b_simple);
    tiny_free(&t);
    LM_CHECK_LEAKS();
}

Test(noise_scale, hyperbola_exact_recovery) {
    const double B[] = {8, 16, 32, 64, 128, 256, 512, 1024};
    double S[8];
    for (int i = 0; i < 8; i++)
        S[i] = 50.0 * (1.0 + 150.0 / B[i]);
    lm_hyperbola_fit f;
    lm_err err = {0};
    cr_assert_eq(lm_noise_fit_hyperbola(8, B, S, &f, &err), LM_OK, "%s", err.msg);
    /* exact data: recovery to rounding of a 2x2 solve on O(1e3) numbers */
    cr_assert(lm_close(f.s_min, 50.0, 1e-10, 1e-10), "%g", f.s_min);
    cr_assert(lm_close(f.b_crit, 150.0, 1e-10, 1e-10), "%g", f.b_crit);
    cr_assert(lm_close(f.a, 50.0, 1e-10, 1e-10) && lm_close(f.b, 7500.0, 1e-10, 1e-10));
    cr_assert(lm_close(f.r2, 1.0, 1e-12, 1e-12), "%g", f.r2);
    /* noise lowers R^2 below 1, and a wrong shape (S ~ 1/sqrt(B)) fits worse than the truth */
    double Sn[8], Sw[8];
    for (int i = 0; i < 8; i++) {
        Sn[i] = S[i] * (1.0 + (i % 2 ? 0.05 : -0.05));
        Sw[i] = 3000.0 / sqrt(B[i]);
    }
    lm_hyperbola_fit fn, fw;
    cr_assert_eq(lm_noise_fit_hyperbola(8, B, Sn, &fn, &err), LM_OK);
    cr_assert_eq(lm_noise_fit_hyperbola(8, B, Sw, &fw, &err), LM_OK);
    cr_assert(fn.r2 < 1.0 && fn.r2 > 0.95, "%g", fn.r2);
    cr_assert(fw.r2 < 0.95, "wrong shape R^2 %g", fw.r2);
    /* constant S: b = 0, zero residual and zero spread: R^2 defined as 1 */
    const double C[3] = {7, 7, 7};
    cr_assert_eq(lm_noise_fit_hyperbola(3, B, C, &f, &err), LM_OK);
    cr_assert(f.b == 0 && f.a == 7 && f.r2 == 1.0);
    LM_CHECK_LEAKS();
}

Test(noise_scale, errors) {
    lm_err err = {0};
    lm_hyperbola_fit f = {.r2 = -5};
    const double B[] = {8, 16, 32}, S[] = {1, 2, 3};
    cr_assert_eq(lm_noise_fit_hyperbola(2, B, S, &f, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "2 points"), "%s", err.msg);
    const double Bz[] = {8, 0, 32};
    cr_assert_eq(lm_noise_fit_hyperbola(3, Bz, S, &f, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "point 1"), "%s", err.msg);
    const double Sn[] = {1, LM_NAN, 3};
    cr_assert_eq(lm_noise_fit_hyperbola(3, B, Sn, &f, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "point 1") && strstr(err.msg, "nan"), "%s", err.msg);
    const double Be[] = {16, 16, 16};
    cr_assert_eq(lm_noise_fit_hyperbola(3, Be, S, &f, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "equal"), "%s", err.msg);
    cr_assert_eq(f.r2, -5, "output changed on failure");

    tiny t;
    tiny_make(&t, 10);
    lm_noise_stats st = {.n = 99};
    lm_noise_twobatch tb = {.pairs = 99};
    cr_assert_eq(lm_noise_exact(t.m, LM_LOSS_CE, t.theta, t.x, t.y, 0, &st, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "n = 0"), "%s", err.msg);
    cr_assert_eq(lm_noise_exact(t.m, LM_LOSS_CE, NULL, t.x, t.y, 10, &st, &err), LM_EINVAL);
    cr_assert_eq(lm_noise_two_batch(t.m, LM_LOSS_CE, t.theta, t.x, t.y, 10, 8, 8, 10, 1, &tb, &err),
                 LM_EINVAL);
    cr_assert(strstr(err.msg, "small = 8, big = 8"), "%s", err.msg);
    cr_assert_eq(lm_noise_two_batch(t.m, LM_LOSS_CE, t.theta, t.x, t.y, 10, 2, 8, 1, 1, &tb, &err),
                 LM_EINVAL);
    cr_assert(strstr(err.msg, "pairs = 1"), "%s", err.msg);
    /* a non-finite parameter makes every gradient NaN */
    t.theta[0] = LM_NAN;
    cr_assert_eq(lm_noise_exact(t.m, LM_LOSS_CE, t.theta, t.x, t.y, 10, &st, &err), LM_ENUMERIC);
    cr_assert(strstr(err.msg, "not finite"), "%s", err.msg);
    cr_assert_eq(lm_noise_two_batch(t.m, LM_LOSS_CE, t.theta, t.x, t.y, 10, 2, 8, 5, 1, &tb, &err),
                 LM_ENUMERIC);
    cr_assert(strstr(err.msg, "pair 0"), "%s", err.msg);
    cr_assert_eq(st.n, 99, "output changed on failure");
    cr_assert_eq(tb.pairs, 99, "output changed on failure");
    tiny_free(&t);
    LM_CHECK_LEAKS();
}

Test(noise_scale, out_of_memory_leaks_nothing) {
    tiny t;
    tiny_make(&t, 12);
    lm_allocator a = {lm_test_failing_alloc, lm_test_free, NULL};
    lm_set_allocator(&a);
    int exact_ok = 0, tb_ok = 0;
    for (int k = 1; k < 40 && !(exact_ok && tb_ok); k++) {
        lm_noise_stats st;
        lm_noise_twobatch tb;
        lm_test_fail_at = k;
        lm_test_calls = 0;
        lm_status s1 = lm_noise_exact(t.m, LM_LOSS_CE, t.theta, t.x, t.y, t.n, &st, NULL);
        cr_assert(s1 == LM_OK || s1 == LM_ENOMEM);
        exact_ok |= s1 == LM_OK;
        lm_test_calls = 0;
        lm_status s2 =
            lm_noise_two_batch(t.m, LM_LOSS_CE, t.theta, t.x, t.y, t.n, 2, 6, 3, 1, &tb, NULL);
        cr_assert(s2 == LM_OK || s2 == LM_ENOMEM);
        tb_ok |= s2 == LM_OK;
    }
    lm_set_allocator(NULL);
    cr_assert(exact_ok && tb_ok);
    tiny_free(&t);
    LM_CHECK_LEAKS();
}
