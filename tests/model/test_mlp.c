/*
 * Tests for src/model: the gradient, JVP and HVP of every activation, parameterization and loss
 * against finite differences in float64; HVP symmetry; float32 against float64; layouts and
 * parameterization tables.
 *
 * Finite-difference tolerances: a central difference with step h has truncation error
 * ~h^2 |f'''|/6 and rounding error ~eps |f| / h. With h = 1e-5 (relative to the direction's
 * norm) both are ~1e-10 for these O(1) losses, so 1e-6 relative error on whole vectors leaves
 * four orders of margin and would still catch any missing factor or sign. ReLU's kink: a
 * pre-activation within h of 0 would flip; with Gaussian inputs and weights that has
 * probability ~1e-5 per unit, and the seeds below were checked to avoid it.
 */
#include "lm_test.h"
#include "lmech/model.h"

#include <string.h>

typedef struct net {
    lm_mlp *m;
    lm_mlp_ws *ws;
    double *theta, *x, *y;
    size_t n;
} net;

static void net_make(net *t, const size_t *widths, size_t nw, lm_act act, int bias, lm_param prm,
                     lm_loss loss, size_t n, uint64_t seed) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = nw;
    memcpy(s.widths, widths, nw * sizeof *widths);
    s.act = act;
    s.bias = bias;
    s.param = prm;
    s.sb2 = 0.3; /* non-zero so biases start away from 0 and their gradients are exercised */
    s.output_multiplier = 1.7;
    if (prm == LM_PARAM_MUP)
        s.base_width = 3;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &t->m, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_ws_new(t->m, n, LM_F64, &t->ws, &err), LM_OK, "%s", err.msg);
    t->theta = malloc(t->m->n_params * sizeof(double));
    cr_assert_eq(lm_mlp_init(t->m, seed, t->theta, &err), LM_OK);
    t->n = n;
    const size_t d = widths[0], k = widths[nw - 1];
    t->x = malloc(n * d * sizeof(double));
    t->y = calloc(n * k, sizeof(double));
    lm_rng r;
    lm_rng_seed(&r, seed + 100, 0);
    for (size_t i = 0; i < n * d; i++)
        t->x[i] = 1.3 * lm_rng_normal(&r);
    for (size_t i = 0; i < n; i++) {
        if (loss == LM_LOSS_CE)
            t->y[i * k + lm_rng_below(&r, k)] = 1.0;
        else
            for (size_t j = 0; j < k; j++)
                t->y[i * k + j] = lm_rng_normal(&r);
    }
}

static void net_free(net *t) {
    lm_mlp_ws_free(t->ws);
    lm_mlp_free(t->m);
    free(t->theta);
    free(t->x);
    free(t->y);
}

static double loss_at(net *t, lm_loss loss, const double *th) {
    double v;
    cr_assert_eq(lm_mlp_loss_grad(t->m, t->ws, loss, th, t->x, t->y, t->n, &v, NULL, NULL, NULL),
                 LM_OK);
    return v;
}

static double rel_err(const double *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / (den > 1e-300 ? den : 1e-300));
}

static void check_derivatives(lm_act act, int bias, lm_param prm, lm_loss loss) {
    static const size_t widths[] = {5, 7, 6, 3};
    net t;
    net_make(&t, widths, 4, act, bias, prm, loss, 9, 11);
    const size_t p = t.m->n_params, nk = t.n * 3;
    double *g = malloc(p * sizeof(double)), *gfd = malloc(p * sizeof(double));
    double *th = malloc(p * sizeof(double)), *v = malloc(p * sizeof(double));
    double *hv = malloc(p * sizeof(double)), *hfd = malloc(p * sizeof(double));
    double *gp = malloc(p * sizeof(double)), *gm = malloc(p * sizeof(double));
    double *jv = malloc(nk * sizeof(double)), *fp = malloc(nk * sizeof(double)),
           *fm = malloc(nk * sizeof(double)), *jfd = malloc(nk * sizeof(double));
    double L0;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_loss_grad(t.m, t.ws, loss, t.theta, t.x, t.y, t.n, &L0, g, NULL, &err),
                 LM_OK);
    const double h = 1e-5;
    for (size_t i = 0; i < p; i++) {
        memcpy(th, t.theta, p * sizeof(double));
        th[i] += h;
        double lp = loss_at(&t, loss, th);
        th[i] -= 2 * h;
        double lm = loss_at(&t, loss, th);
        gfd[i] = (lp - lm) / (2 * h);
    }
    cr_assert(rel_err(g, gfd, p) < 1e-6, "%s/%s/%s bias=%d: gradient rel err %.3g",
              lm_act_name(act), lm_param_name(prm), lm_loss_name(loss), bias, rel_err(g, gfd, p));

    lm_rng r;
    lm_rng_seed(&r, 5, 0);
    double vn = 0;
    for (size_t i = 0; i < p; i++) {
        v[i] = lm_rng_normal(&r);
        vn += v[i] * v[i];
    }
    const double hh = 1e-5 / sqrt(vn); /* science.md §4: eps = 1e-5/||v|| */
    cr_assert_eq(lm_mlp_hvp_prepare(t.m, t.ws, loss, t.theta, t.x, t.y, t.n, NULL, NULL, &err),
                 LM_OK);
    cr_assert_eq(lm_mlp_hvp_apply(t.m, t.ws, v, hv, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < p; i++)
        th[i] = t.theta[i] + hh * v[i];
    lm_mlp_loss_grad(t.m, t.ws, loss, th, t.x, t.y, t.n, NULL, gp, fp, NULL);
    for (size_t i = 0; i < p; i++)
        th[i] = t.theta[i] - hh * v[i];
    lm_mlp_loss_grad(t.m, t.ws, loss, th, t.x, t.y, t.n, NULL, gm, fm, NULL);
    for (size_t i = 0; i < p; i++)
        hfd[i] = (gp[i] - gm[i]) / (2 * hh);
    for (size_t i = 0; i < nk; i++)
        jfd[i] = (fp[i] - fm[i]) / (2 * hh);
    cr_assert(rel_err(hv, hfd, p) < 1e-6, "%s/%s/%s bias=%d: HVP rel err %.3g", lm_act_name(act),
              lm_param_name(prm), lm_loss_name(loss), bias, rel_err(hv, hfd, p));
    cr_assert_eq(lm_mlp_jvp(t.m, t.ws, t.theta, t.x, t.n, v, jv, &err), LM_OK);
    cr_assert(rel_err(jv, jfd, nk) < 1e-6, "%s: JVP rel err %.3g", lm_act_name(act),
              rel_err(jv, jfd, nk));

    /* VJP with u = dL/df reproduces the gradient exactly (same kernels, same order). */
    double *u = malloc(nk * sizeof(double)), *f = malloc(nk * sizeof(double));
    lm_mlp_forward(t.m, t.ws, t.theta, t.x, t.n, f, NULL);
    double dummy;
    lm_loss_eval(loss, f, t.y, t.n, 3, &dummy, u, NULL);
    cr_assert_eq(lm_mlp_vjp(t.m, t.ws, t.theta, t.x, t.n, u, gp, &err), LM_OK);
    cr_assert(rel_err(gp, g, p) < 1e-14);

    /* Symmetry <u, H v> = <v, H u>: exact up to rounding (1e-10 allows ~1e6 ulps of sums). */
    double *w = malloc(p * sizeof(double)), *hw = malloc(p * sizeof(double));
    for (size_t i = 0; i < p; i++)
        w[i] = lm_rng_normal(&r);
    lm_mlp_hvp_prepare(t.m, t.ws, loss, t.theta, t.x, t.y, t.n, NULL, NULL, NULL);
    lm_mlp_hvp_apply(t.m, t.ws, v, hv, NULL);
    lm_mlp_hvp_apply(t.m, t.ws, w, hw, NULL);
    double a = 0, b = 0;
    for (size_t i = 0; i < p; i++) {
        a += w[i] * hv[i];
        b += v[i] * hw[i];
    }
    cr_assert(lm_close(a, b, 1e-10, 1e-12), "symmetry %.17g vs %.17g", a, b);
    free(u);
    free(f);
    free(w);
    free(hw);
    free(g);
    free(gfd);
    free(th);
    free(v);
    free(hv);
    free(hfd);
    free(gp);
    free(gm);
    free(jv);
    free(fp);
    free(fm);
    free(jfd);
    net_free(&t);
}

Test(model, derivatives_every_activation) {
    for (int a = LM_ACT_IDENTITY; a <= LM_ACT_QUADRATIC; a++)
        check_derivatives((lm_act) a, 1, LM_PARAM_SP, LM_LOSS_MSE);
    LM_CHECK_LEAKS();
}

Test(model, derivatives_every_loss_and_parameterization) {
    for (int prm = LM_PARAM_SP; prm <= LM_PARAM_MUP; prm++)
        for (int l = LM_LOSS_MSE; l <= LM_LOSS_CE; l++) {
            check_derivatives(LM_ACT_TANH, 1, (lm_param) prm, (lm_loss) l);
            check_derivatives(LM_ACT_GELU, 0, (lm_param) prm, (lm_loss) l);
        }
    check_derivatives(LM_ACT_RELU, 0, LM_PARAM_NTP, LM_LOSS_CE);
    LM_CHECK_LEAKS();
}

Test(model, deep_linear_network) {
    /* depth-5 identity network: the function is linear in x, so f(2x) = 2 f(x) without bias */
    static const size_t widths[] = {4, 6, 6, 6, 6, 2};
    net t;
    net_make(&t, widths, 6, LM_ACT_IDENTITY, 0, LM_PARAM_SP, LM_LOSS_MSE, 3, 2);
    double f1[6], f2[6];
    lm_mlp_forward(t.m, t.ws, t.theta, t.x, 3, f1, NULL);
    for (size_t i = 0; i < 12; i++)
        t.x[i] *= 2;
    lm_mlp_forward(t.m, t.ws, t.theta, t.x, 3, f2, NULL);
    for (size_t i = 0; i < 6; i++)
        cr_assert(lm_close(f2[i], 2 * f1[i], 1e-13, 1e-13));
    net_free(&t);
    check_derivatives(LM_ACT_IDENTITY, 0, LM_PARAM_NTP, LM_LOSS_MSE_MEAN);
    LM_CHECK_LEAKS();
}

Test(model, float32_matches_float64) {
    static const size_t widths[] = {20, 32, 32, 4};
    net t;
    net_make(&t, widths, 4, LM_ACT_TANH, 1, LM_PARAM_SP, LM_LOSS_CE, 16, 3);
    const size_t p = t.m->n_params;
    lm_mlp_ws *ws32;
    cr_assert_eq(lm_mlp_ws_new(t.m, 16, LM_F32, &ws32, NULL), LM_OK);
    float *th = malloc(p * sizeof(float)), *g32 = malloc(p * sizeof(float));
    float *x = malloc(16 * 20 * sizeof(float)), *y = malloc(16 * 4 * sizeof(float));
    double *g = malloc(p * sizeof(double)), *g32d = malloc(p * sizeof(double));
    for (size_t i = 0; i < p; i++)
        th[i] = (float) t.theta[i];
    for (size_t i = 0; i < 16 * 20; i++)
        x[i] = (float) t.x[i];
    for (size_t i = 0; i < 16 * 4; i++)
        y[i] = (float) t.y[i];
    /* use the float-rounded parameters in float64 too, so only arithmetic precision differs */
    for (size_t i = 0; i < p; i++)
        t.theta[i] = (double) th[i];
    for (size_t i = 0; i < 16 * 20; i++)
        t.x[i] = (double) x[i];
    double l64, l32;
    lm_mlp_loss_grad(t.m, t.ws, LM_LOSS_CE, t.theta, t.x, t.y, 16, &l64, g, NULL, NULL);
    cr_assert_eq(lm_mlp_loss_grad_f32(t.m, ws32, LM_LOSS_CE, th, x, y, 16, &l32, g32, NULL, NULL),
                 LM_OK);
    for (size_t i = 0; i < p; i++)
        g32d[i] = (double) g32[i];
    /* float32 has 6e-8 relative rounding; sums of ~30 terms and tanh give ~1e-6 */
    cr_assert(lm_close(l32, l64, 1e-5, 1e-6), "loss %g vs %g", l32, l64);
    cr_assert(rel_err(g32d, g, p) < 1e-4, "grad rel err %g", rel_err(g32d, g, p));
    lm_mlp_ws_free(ws32);
    free(th);
    free(g32);
    free(x);
    free(y);
    free(g);
    free(g32d);
    net_free(&t);
    LM_CHECK_LEAKS();
}

Test(model, parameterization_tables) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = 4;
    size_t w[] = {10, 256, 256, 3};
    memcpy(s.widths, w, sizeof w);
    s.param = LM_PARAM_MUP;
    s.base_width = 64; /* m = 4 */
    lm_mlp *m;
    cr_assert_eq(lm_mlp_new(&s, &m, NULL), LM_OK);
    cr_assert_eq(m->n_params, 10 * 256 + 256 + 256 * 256 + 256 + 256 * 3 + 3);
    /* science.md §5: muP SGD LR input*m, hidden 1, readout 1/m; Adam input 1, hidden 1/m,
     * readout 1/m; readout init var 1/(fan_in m) */
    cr_assert_float_eq(m->layer[0].lr_sgd_w, 4.0, 1e-15);
    cr_assert_float_eq(m->layer[1].lr_sgd_w, 1.0, 1e-15);
    cr_assert_float_eq(m->layer[2].lr_sgd_w, 0.25, 1e-15);
    cr_assert_float_eq(m->layer[0].lr_adam_w, 1.0, 1e-15);
    cr_assert_float_eq(m->layer[1].lr_adam_w, 0.25, 1e-15);
    cr_assert_float_eq(m->layer[2].lr_adam_w, 0.25, 1e-15);
    cr_assert_float_eq(m->layer[2].w_std, sqrt(1.0 / (256.0 * 4.0)), 1e-15);
    cr_assert_float_eq(m->layer[1].lr_sgd_b, 4.0, 1e-15);
    lm_mlp_free(m);
    s.param = LM_PARAM_NTP;
    cr_assert_eq(lm_mlp_new(&s, &m, NULL), LM_OK);
    cr_assert_float_eq(m->layer[1].w_mul, 1.0 / 16.0, 1e-15);
    cr_assert_float_eq(m->layer[1].w_std, 1.0, 1e-15);
    lm_mlp_free(m);
    lm_err err = {0};
    s.widths[2] = 0;
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "widths[2]") != NULL, "%s", err.msg);
    LM_CHECK_LEAKS();
}

Test(model, workspace_bounds) {
    static const size_t widths[] = {3, 4, 2};
    net t;
    net_make(&t, widths, 3, LM_ACT_RELU, 1, LM_PARAM_SP, LM_LOSS_MSE, 2, 1);
    lm_err err = {0};
    double f[10];
    cr_assert_eq(lm_mlp_forward(t.m, t.ws, t.theta, t.x, 3, f, &err), LM_ESHAPE);
    cr_assert(strstr(err.msg, "3 examples") != NULL, "%s", err.msg);
    double v[100] = {0}, hv[100];
    cr_assert_eq(lm_mlp_hvp_apply(t.m, t.ws, v, hv, &err), LM_EINVAL);
    net_free(&t);
    LM_CHECK_LEAKS();
}

Test(model, readout_zero_zeroes_only_the_readout) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = 4;
    s.widths[0] = 5, s.widths[1] = 7, s.widths[2] = 6, s.widths[3] = 3;
    s.sb2 = 0.5; /* random biases, so the readout bias must be zeroed too */
    lm_err err = {0};
    lm_mlp *a = NULL, *b = NULL;
    cr_assert_eq(lm_mlp_new(&s, &a, &err), LM_OK, "%s", err.msg);
    s.readout_zero = 1;
    cr_assert_eq(lm_mlp_new(&s, &b, &err), LM_OK, "%s", err.msg);
    double *ta = lm_malloc(a->n_params * sizeof *ta), *tb = lm_malloc(b->n_params * sizeof *tb);
    cr_assert_eq(lm_mlp_init(a, 11, ta, &err), LM_OK);
    cr_assert_eq(lm_mlp_init(b, 11, tb, &err), LM_OK);
    const size_t r = b->layer[2].w_off;
    for (size_t i = 0; i < r; i++)
        cr_assert_eq(ta[i], tb[i], "hidden parameter %zu differs", i);
    int readout_nonzero = 0;
    for (size_t i = r; i < b->n_params; i++) {
        cr_assert_eq(tb[i], 0.0, "readout parameter %zu = %g", i, tb[i]);
        readout_nonzero |= ta[i] != 0.0;
    }
    cr_assert(readout_nonzero, "the default readout is random");
    lm_free(ta);
    lm_free(tb);
    lm_mlp_free(a);
    lm_mlp_free(b);
    LM_CHECK_LEAKS();
}
