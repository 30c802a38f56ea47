/*
 * Tests for the float32 R-operator (mlp_f32.c: lm_mlp_jvp_f32, lm_mlp_hvp_prepare_f32,
 * lm_mlp_hvp_apply_f32) and its curvature operator (lm_curv_mlp_apply_f32).
 *
 * Every check is at one point: theta, x, y drawn in float64 and rounded to float32, the float64
 * reference evaluated at the rounded values widened back, so the two dtypes see the same
 * function and differ only by the rounding of their arithmetic.
 *
 * Tolerances (u = 2^-24 ~ 6e-8, float32's unit roundoff):
 *   against float64 (exact R-operator): each entry of an HVP is a chain of about 3 layers x 2
 *     GEMMs with inner dimensions <= 9 here, each adding a relative error <= d u |A||B| / |AB|
 *     (Higham 3.5); with O(1) cancellation that is ~10-100 u ~ 1e-6 on the whole vector (measured:
 *     at most 2e-7 over the cases below), so 1e-5 (norm-wise relative) leaves an order of
 *     margin and still catches any wrong term, each of which is O(1) of the whole.
 *   against a float32 central difference of the float32 gradient along v: the difference's
 *     truncation error is (h^2/6) |D^3 L[v, v]| and its rounding error ~ c u |g| / h, the
 *     gradient being float32 (c ~ 10-100: its own error); the sum is smallest at
 *     h ~ (3 c u)^(1/3) ~ 1e-2 (relative to ||v|| = 1), where both are ~ (c u)^(2/3) ~ 1e-4
 *     relative to these O(1) quantities (measured: at most 7e-5). 1e-3 keeps an order of margin
 *     and still catches a missing term (which moves the result by O(1)).
 *   sharpness: Lanczos to relative residual 1e-5 on each operator; for a symmetric matrix the
 *     eigenvalue error is below the residual, and the float32 operator differs from the float64
 *     one by ~1e-6 relative (above), so the two top eigenvalues agree to ~1e-5; the issue asks
 *     1e-3.
 */
#include "lm_test.h"
#include "lmech/curv.h"
#include "lmech/model.h"

#include <string.h>

typedef struct net32 {
    lm_mlp *m;
    lm_mlp_ws *ws64, *ws32;
    double *theta, *x, *y; /* float64, at the float32-rounded values */
    float *theta32, *x32, *y32;
    size_t n, p, d, k;
} net32;

static void net_make(net32 *t, const size_t *widths, size_t nw, lm_act act, int bias, lm_param prm,
                     lm_loss loss, size_t n, uint64_t seed) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = nw;
    memcpy(s.widths, widths, nw * sizeof *widths);
    s.act = act;
    s.bias = bias;
    s.param = prm;
    s.sb2 = 0.3;
    s.output_multiplier = 1.7;
    if (prm == LM_PARAM_MUP)
        s.base_width = 3;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &t->m, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_ws_new(t->m, n, LM_F64, &t->ws64, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_ws_new(t->m, n, LM_F32, &t->ws32, &err), LM_OK, "%s", err.msg);
    t->n = n;
    t->p = t->m->n_params;
    t->d = widths[0];
    t->k = widths[nw - 1];
    t->theta = malloc(t->p * sizeof(double));
    t->theta32 = malloc(t->p * sizeof(float));
    cr_assert_eq(lm_mlp_init(t->m, seed, t->theta, &err), LM_OK);
    t->x = malloc(n * t->d * sizeof(double));
    t->y = calloc(n * t->k, sizeof(double));
    t->x32 = malloc(n * t->d * sizeof(float));
    t->y32 = malloc(n * t->k * sizeof(float));
    lm_rng r;
    lm_rng_seed(&r, seed + 100, 0);
    for (size_t i = 0; i < n * t->d; i++)
        t->x[i] = 1.3 * lm_rng_normal(&r);
    for (size_t i = 0; i < n; i++) {
        if (loss == LM_LOSS_CE)
            t->y[i * t->k + lm_rng_below(&r, t->k)] = 1.0;
        else
            for (size_t j = 0; j < t->k; j++)
                t->y[i * t->k + j] = lm_rng_normal(&r);
    }
    for (size_t i = 0; i < t->p; i++)
        t->theta[i] = (double) (t->theta32[i] = (float) t->theta[i]);
    for (size_t i = 0; i < n * t->d; i++)
        t->x[i] = (double) (t->x32[i] = (float) t->x[i]);
    for (size_t i = 0; i < n * t->k; i++)
        t->y[i] = (double) (t->y32[i] = (float) t->y[i]);
}

static void net_free(net32 *t) {
    lm_mlp_ws_free(t->ws64);
    lm_mlp_ws_free(t->ws32);
    lm_mlp_free(t->m);
    free(t->theta);
    free(t->x);
    free(t->y);
    free(t->theta32);
    free(t->x32);
    free(t->y32);
}

/* ||a - b|| / ||b|| with a in float32 */
static double rel_err32(const float *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / (den > 1e-300 ? den : 1e-300));
}

static void check_f32(lm_act act, int bias, lm_param prm, lm_loss loss) {
    static const size_t widths[] = {5, 7, 6, 3};
    net32 t;
    net_make(&t, widths, 4, act, bias, prm, loss, 9, 11);
    const size_t p = t.p, nk = t.n * t.k;
    double *v = malloc(p * sizeof(double)), *hv = malloc(p * sizeof(double));
    double *jv = malloc(nk * sizeof(double)), *hfd = malloc(p * sizeof(double));
    float *v32 = malloc(p * sizeof(float)), *hv32 = malloc(p * sizeof(float));
    float *jv32 = malloc(nk * sizeof(float)), *th = malloc(p * sizeof(float));
    float *gp = malloc(p * sizeof(float)), *gm = malloc(p * sizeof(float));
    float *g32 = malloc(p * sizeof(float)), *gref = malloc(p * sizeof(float));
    lm_rng r;
    lm_rng_seed(&r, 5, 0);
    double vn = 0;
    for (size_t i = 0; i < p; i++) {
        v32[i] = (float) lm_rng_normal(&r);
        v[i] = (double) v32[i];
        vn += v[i] * v[i];
    }
    lm_err err = {0};
    const char *what = lm_act_name(act);
    /* the float64 reference */
    cr_assert_eq(lm_mlp_hvp_prepare(t.m, t.ws64, loss, t.theta, t.x, t.y, t.n, NULL, NULL, &err),
                 LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_hvp_apply(t.m, t.ws64, v, hv, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_jvp(t.m, t.ws64, t.theta, t.x, t.n, v, jv, &err), LM_OK);

    /* float32: the prepare's gradient and loss are loss_grad_f32's, bitwise (the same kernels) */
    double l32 = 0, lref = 0;
    cr_assert_eq(
        lm_mlp_hvp_prepare_f32(t.m, t.ws32, loss, t.theta32, t.x32, t.y32, t.n, &l32, g32, &err),
        LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_hvp_apply_f32(t.m, t.ws32, v32, hv32, &err), LM_OK, "%s", err.msg);
    const double e64 = rel_err32(hv32, hv, p);
    cr_assert(e64 < 1e-5, "%s/%s/%s bias=%d: float32 HVP vs float64 rel err %.3g", what,
              lm_param_name(prm), lm_loss_name(loss), bias, e64);
    /* a second product on the same state gives the same bits */
    float *again = malloc(p * sizeof(float));
    cr_assert_eq(lm_mlp_hvp_apply_f32(t.m, t.ws32, v32, again, &err), LM_OK);
    cr_assert_eq(memcmp(again, hv32, p * sizeof(float)), 0);
    free(again);

    /* the float32 central difference of the float32 gradient along v, h = 1e-2 / ||v|| */
    const double h = 1e-2 / sqrt(vn);
    for (size_t i = 0; i < p; i++)
        th[i] = (float) ((double) t.theta32[i] + h * v[i]);
    cr_assert_eq(
        lm_mlp_loss_grad_f32(t.m, t.ws32, loss, th, t.x32, t.y32, t.n, NULL, gp, NULL, &err),
        LM_OK);
    for (size_t i = 0; i < p; i++)
        th[i] = (float) ((double) t.theta32[i] - h * v[i]);
    cr_assert_eq(
        lm_mlp_loss_grad_f32(t.m, t.ws32, loss, th, t.x32, t.y32, t.n, NULL, gm, NULL, &err),
        LM_OK);
    double num = 0, den = 0;
    for (size_t i = 0; i < p; i++)
        hfd[i] = ((double) gp[i] - (double) gm[i]) / (2 * h);
    for (size_t i = 0; i < p; i++) {
        num += ((double) hv32[i] - hfd[i]) * ((double) hv32[i] - hfd[i]);
        den += hfd[i] * hfd[i];
    }
    const double efd = sqrt(num / den);
    cr_assert(efd < 1e-3, "%s/%s/%s bias=%d: float32 HVP vs float32 FD rel err %.3g", what,
              lm_param_name(prm), lm_loss_name(loss), bias, efd);

    cr_assert_eq(lm_mlp_loss_grad_f32(t.m, t.ws32, loss, t.theta32, t.x32, t.y32, t.n, &lref, gref,
                                      NULL, &err),
                 LM_OK);
    cr_assert_eq(memcmp(g32, gref, p * sizeof(float)), 0, "%s: prepare's gradient", what);
    cr_assert_eq(l32, lref);

    cr_assert_eq(lm_mlp_jvp_f32(t.m, t.ws32, t.theta32, t.x32, t.n, v32, jv32, &err), LM_OK, "%s",
                 err.msg);
    cr_assert(rel_err32(jv32, jv, nk) < 1e-4, "%s: float32 JVP rel err %.3g", what,
              rel_err32(jv32, jv, nk));
    /* a forward pass (here the JVP's) invalidates the prepared state */
    cr_assert_eq(lm_mlp_hvp_apply_f32(t.m, t.ws32, v32, hv32, &err), LM_EINVAL);

    free(v);
    free(hv);
    free(jv);
    free(hfd);
    free(v32);
    free(hv32);
    free(jv32);
    free(th);
    free(gp);
    free(gm);
    free(g32);
    free(gref);
    net_free(&t);
}

Test(hvp_f32, every_activation) {
    for (int a = 0; a <= LM_ACT_QUADRATIC; a++)
        check_f32((lm_act) a, 1, LM_PARAM_SP, LM_LOSS_MSE);
}

Test(hvp_f32, every_loss_and_parameterization) {
    const lm_loss losses[] = {LM_LOSS_MSE, LM_LOSS_MSE_MEAN, LM_LOSS_CE};
    for (size_t i = 0; i < 3; i++)
        for (int p = 0; p <= LM_PARAM_MUP; p++)
            check_f32(LM_ACT_TANH, (int) (i + (size_t) p) % 2, (lm_param) p, losses[i]);
    check_f32(LM_ACT_GELU, 0, LM_PARAM_NTP, LM_LOSS_CE);
}

/* The top eigenvalue by Lanczos on float32 products against float64 products (see the top). */
Test(hvp_f32, sharpness_matches_float64) {
    static const size_t widths[] = {10, 32, 32, 3};
    const lm_loss losses[] = {LM_LOSS_MSE, LM_LOSS_CE};
    for (size_t li = 0; li < 2; li++) {
        net32 t;
        net_make(&t, widths, 4, LM_ACT_TANH, 1, LM_PARAM_SP, losses[li], 64, 3);
        lm_err err = {0};
        lm_curv_ws *cws;
        cr_assert_eq(lm_curv_ws_new(t.p, 80, &cws, &err), LM_OK);
        cr_assert_eq(
            lm_mlp_hvp_prepare(t.m, t.ws64, losses[li], t.theta, t.x, t.y, t.n, NULL, NULL, &err),
            LM_OK);
        cr_assert_eq(lm_mlp_hvp_prepare_f32(t.m, t.ws32, losses[li], t.theta32, t.x32, t.y32, t.n,
                                            NULL, NULL, &err),
                     LM_OK);
        lm_curv_lanczos_opts o = lm_curv_lanczos_opts_default();
        o.tol = 1e-5;
        double l64, l32, r64, r32;
        lm_curv_lanczos_info i64, i32;
        lm_curv_mlp op = {t.m, t.ws64, 0};
        cr_assert_eq(
            lm_curv_lanczos(lm_curv_mlp_apply, &op, t.p, &o, cws, &l64, NULL, &r64, &i64, &err),
            LM_OK, "%s", err.msg);
        float *v32 = malloc(t.p * sizeof(float)), *hv32 = malloc(t.p * sizeof(float));
        lm_curv_mlp_f32 op32 = {t.m, t.ws32, v32, hv32, 0};
        cr_assert_eq(lm_curv_lanczos(lm_curv_mlp_apply_f32, &op32, t.p, &o, cws, &l32, NULL, &r32,
                                     &i32, &err),
                     LM_OK, "%s", err.msg);
        cr_assert(i64.converged && i32.converged, "residuals %.3g %.3g", r64, r32);
        cr_assert_eq(op32.n_ops, i32.n_ops);
        cr_assert(l64 > 0);
        cr_assert(fabs(l32 - l64) <= 1e-3 * l64, "%s: sharpness %.10g (float32) vs %.10g",
                  lm_loss_name(losses[li]), l32, l64);
        free(v32);
        free(hv32);
        lm_curv_ws_free(cws);
        net_free(&t);
    }
}

Test(hvp_f32, errors) {
    static const size_t widths[] = {3, 4, 2};
    net32 t;
    net_make(&t, widths, 3, LM_ACT_TANH, 1, LM_PARAM_SP, LM_LOSS_MSE, 4, 1);
    float v[32] = {0}, hv[32];
    lm_err err = {0};
    /* not prepared; a float64 workspace; a batch beyond the workspace */
    cr_assert_eq(lm_mlp_hvp_apply_f32(t.m, t.ws32, v, hv, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "prepare") != NULL, "%s", err.msg);
    cr_assert_eq(lm_mlp_hvp_prepare_f32(t.m, t.ws64, LM_LOSS_MSE, t.theta32, t.x32, t.y32, t.n,
                                        NULL, NULL, &err),
                 LM_EINVAL);
    cr_assert_eq(lm_mlp_hvp_prepare_f32(t.m, t.ws32, LM_LOSS_MSE, t.theta32, t.x32, t.y32, 5, NULL,
                                        NULL, &err),
                 LM_ESHAPE);
    /* a float64 prepare does not make a float32 workspace ready, nor the reverse */
    cr_assert_eq(lm_mlp_hvp_prepare_f32(t.m, t.ws32, LM_LOSS_MSE, t.theta32, t.x32, t.y32, t.n,
                                        NULL, NULL, &err),
                 LM_OK);
    double vd[32] = {0}, hvd[32];
    cr_assert_eq(lm_mlp_hvp_apply(t.m, t.ws32, vd, hvd, &err), LM_EINVAL);
    net_free(&t);

    /* a layer-graph model (embedding, last, linear: it reads token ids) refuses the same bad
     * calls, and ids outside its vocabulary (its float32 products are checked against float64
     * in tests/model/graph_check.h) */
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_layer_specs = 3;
    s.layers[0].type = LM_LAYER_EMBEDDING;
    s.layers[0].vocab = 5;
    s.layers[0].out = 4;
    s.layers[0].bias = -1;
    s.layers[1].type = LM_LAYER_LAST;
    s.layers[1].bias = -1;
    s.layers[2].type = LM_LAYER_LINEAR;
    s.layers[2].out = 2;
    s.layers[2].bias = 1;
    s.n_input_shape = 1;
    s.input_shape[0] = 3;
    lm_mlp *g;
    lm_mlp_ws *gws, *gws64;
    cr_assert_eq(lm_mlp_new(&s, &g, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_ws_new(g, 4, LM_F32, &gws, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_ws_new(g, 4, LM_F64, &gws64, &err), LM_OK, "%s", err.msg);
    float th[64] = {0}, x[12] = {0}, y[8] = {0}, gv[64] = {0}, ghv[64];
    cr_assert(g->n_params <= 64);
    cr_assert_eq(lm_mlp_hvp_apply_f32(g, gws, gv, ghv, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "prepare") != NULL, "%s", err.msg);
    cr_assert_eq(lm_mlp_hvp_prepare_f32(g, gws64, LM_LOSS_MSE, th, x, y, 4, NULL, NULL, &err),
                 LM_EINVAL);
    cr_assert_eq(lm_mlp_hvp_prepare_f32(g, gws, LM_LOSS_MSE, th, x, y, 5, NULL, NULL, &err),
                 LM_ESHAPE);
    x[7] = 5.0f; /* row 2, position 1: not a token id */
    cr_assert_eq(lm_mlp_hvp_prepare_f32(g, gws, LM_LOSS_MSE, th, x, y, 4, NULL, NULL, &err),
                 LM_EINVAL);
    cr_assert(strstr(err.msg, "row 2, position 1"), "%s", err.msg);
    cr_assert_eq(lm_mlp_jvp_f32(g, gws, th, x, 4, gv, ghv, &err), LM_EINVAL);
    x[7] = 4.0f;
    cr_assert_eq(lm_mlp_hvp_prepare_f32(g, gws, LM_LOSS_MSE, th, x, y, 4, NULL, NULL, &err), LM_OK,
                 "%s", err.msg);
    cr_assert_eq(lm_mlp_hvp_apply_f32(g, gws, gv, ghv, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_jvp_f32(g, gws, th, x, 4, gv, ghv, &err), LM_OK, "%s", err.msg);
    /* a JVP in between unprepares the workspace, as the chain's */
    cr_assert_eq(lm_mlp_hvp_apply_f32(g, gws, gv, ghv, &err), LM_EINVAL);
    lm_mlp_ws_free(gws64);
    lm_mlp_ws_free(gws);
    lm_mlp_free(g);
}
