/*
 * graph_check.h: the derivative check every layer-graph model passes (test_graph.c and the
 * per-layer tests): gradient, JVP and exact HVP against central differences in float64, VJP
 * against the gradient, HVP symmetry, and float32 (loss, gradient, JVP, HVP) against float64, for
 * a model given by its
 * layer list. Tolerances as tests/model/test_mlp.c (h = 1e-5 relative to the direction's norm:
 * truncation and rounding ~1e-10, so 1e-6 relative on whole vectors keeps four orders of margin
 * and still catches any missing factor or sign).
 */
#ifndef LM_TEST_GRAPH_CHECK_H
#define LM_TEST_GRAPH_CHECK_H

#include "lm_test.h"
#include "lmech/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline double gc_rel_err(const double *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / (den > 1e-300 ? den : 1e-300));
}

/* A spec with the given layers on input_shape (ndim 1 or 3), default scalars otherwise. */
static inline lm_mlp_spec gc_spec(const lm_layer_spec *layers, size_t n_layers, const size_t *shape,
                                  size_t ndim, lm_param prm) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_layer_specs = n_layers;
    memcpy(s.layers, layers, n_layers * sizeof *layers);
    s.n_input_shape = ndim;
    memcpy(s.input_shape, shape, ndim * sizeof *shape);
    s.param = prm;
    s.sb2 = 0.3; /* biases start away from 0 */
    if (prm == LM_PARAM_MUP)
        s.base_width = 2;
    return s;
}

/* Checks model s on n random examples with loss; what names the case in messages. */
static inline void gc_check(const lm_mlp_spec *s, lm_loss loss, size_t n, uint64_t seed,
                            const char *what) {
    lm_err err = {0};
    lm_mlp *m = NULL;
    lm_mlp_ws *ws = NULL;
    cr_assert_eq(lm_mlp_new(s, &m, &err), LM_OK, "%s: %s", what, err.msg);
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F64, &ws, &err), LM_OK, "%s: %s", what, err.msg);
    const size_t p = m->n_params, d = m->d_in, k = m->d_out, nk = n * k;
    double *theta = malloc(p * sizeof(double)), *x = malloc(n * d * sizeof(double));
    double *y = calloc(nk, sizeof(double));
    cr_assert_eq(lm_mlp_init(m, seed, theta, &err), LM_OK);
    lm_rng r;
    lm_rng_seed(&r, seed + 100, 0);
    for (size_t i = 0; i < p; i++) /* move gains and zero biases off their initial values */
        theta[i] += 0.05 * lm_rng_normal(&r);
    /* token models read ids below the vocabulary; sequence outputs are n*P rows of k/P */
    const size_t vocab = s->arch == LM_ARCH_GPT ? s->gpt.vocab
                         : s->n_layer_specs && s->layers[0].type == LM_LAYER_EMBEDDING
                             ? s->layers[0].vocab
                             : 0;
    const size_t P = m->positions, nr = n * P, kr = k / P;
    for (size_t i = 0; i < n * d; i++)
        x[i] = vocab ? (double) lm_rng_below(&r, vocab) : 1.3 * lm_rng_normal(&r);
    for (size_t i = 0; i < nr; i++) {
        if (loss == LM_LOSS_CE)
            y[i * kr + lm_rng_below(&r, kr)] = 1.0;
        else
            for (size_t j = 0; j < kr; j++)
                y[i * kr + j] = lm_rng_normal(&r);
    }
    double *g = malloc(p * sizeof(double)), *gfd = malloc(p * sizeof(double));
    double *th = malloc(p * sizeof(double)), *v = malloc(p * sizeof(double));
    double *hv = malloc(p * sizeof(double)), *hfd = malloc(p * sizeof(double));
    double *gp = malloc(p * sizeof(double)), *gm = malloc(p * sizeof(double));
    double *jv = malloc(nk * sizeof(double)), *fp = malloc(nk * sizeof(double)),
           *fm = malloc(nk * sizeof(double)), *jfd = malloc(nk * sizeof(double));
    double L0, lp, lmn;
    cr_assert_eq(lm_mlp_loss_grad(m, ws, loss, theta, x, y, n, &L0, g, NULL, &err), LM_OK, "%s",
                 err.msg);
    const double h = 1e-5;
    for (size_t i = 0; i < p; i++) {
        memcpy(th, theta, p * sizeof(double));
        th[i] += h;
        lm_mlp_loss_grad(m, ws, loss, th, x, y, n, &lp, NULL, NULL, NULL);
        th[i] -= 2 * h;
        lm_mlp_loss_grad(m, ws, loss, th, x, y, n, &lmn, NULL, NULL, NULL);
        gfd[i] = (lp - lmn) / (2 * h);
    }
    cr_assert(gc_rel_err(g, gfd, p) < 1e-6, "%s: gradient rel err %.3g", what,
              gc_rel_err(g, gfd, p));
    double vn = 0;
    for (size_t i = 0; i < p; i++) {
        v[i] = lm_rng_normal(&r);
        vn += v[i] * v[i];
    }
    const double hh = 1e-5 / sqrt(vn);
    cr_assert_eq(lm_mlp_hvp_prepare(m, ws, loss, theta, x, y, n, NULL, NULL, &err), LM_OK);
    cr_assert_eq(lm_mlp_hvp_apply(m, ws, v, hv, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < p; i++)
        th[i] = theta[i] + hh * v[i];
    lm_mlp_loss_grad(m, ws, loss, th, x, y, n, NULL, gp, fp, NULL);
    for (size_t i = 0; i < p; i++)
        th[i] = theta[i] - hh * v[i];
    lm_mlp_loss_grad(m, ws, loss, th, x, y, n, NULL, gm, fm, NULL);
    for (size_t i = 0; i < p; i++)
        hfd[i] = (gp[i] - gm[i]) / (2 * hh);
    for (size_t i = 0; i < nk; i++)
        jfd[i] = (fp[i] - fm[i]) / (2 * hh);
    cr_assert(gc_rel_err(hv, hfd, p) < 1e-6, "%s: HVP rel err %.3g", what, gc_rel_err(hv, hfd, p));
    cr_assert_eq(lm_mlp_jvp(m, ws, theta, x, n, v, jv, &err), LM_OK);
    cr_assert(gc_rel_err(jv, jfd, nk) < 1e-6, "%s: JVP rel err %.3g", what,
              gc_rel_err(jv, jfd, nk));
    /* VJP with u = dL/df is the gradient (same kernels, same order) */
    double *u = malloc(nk * sizeof(double)), *f = malloc(nk * sizeof(double)), dummy;
    lm_mlp_forward(m, ws, theta, x, n, f, NULL);
    lm_loss_eval(loss, f, y, nr, kr, &dummy, u, NULL);
    cr_assert_eq(lm_mlp_vjp(m, ws, theta, x, n, u, gp, &err), LM_OK);
    cr_assert(gc_rel_err(gp, g, p) < 1e-14, "%s: VJP", what);
    /* symmetry <w, H v> = <v, H w> */
    for (size_t i = 0; i < p; i++)
        gm[i] = lm_rng_normal(&r);
    lm_mlp_hvp_prepare(m, ws, loss, theta, x, y, n, NULL, NULL, NULL);
    lm_mlp_hvp_apply(m, ws, v, hv, NULL);
    lm_mlp_hvp_apply(m, ws, gm, gp, NULL);
    double a = 0, b = 0;
    for (size_t i = 0; i < p; i++) {
        a += gm[i] * hv[i];
        b += v[i] * gp[i];
    }
    cr_assert(lm_close(a, b, 1e-10, 1e-12), "%s: symmetry %.17g vs %.17g", what, a, b);
    /* float32 against float64: loss, gradient, JVP and HVP, every layer's float32 calls (each
     * layer type has all four; a graph without them would refuse the float32 workspace). 1e-4
     * relative on whole vectors: float32 rounding (u = 6e-8) of sums of O(10-100) terms is
     * ~sqrt(len) u ~ 1e-6 per operation, compounded over the few layers (and, for the JVP and
     * HVP, the tangents' and R-backward's extra products) of these models to ~1e-5 at worst;
     * 1e-4 keeps an order of margin and still catches any wrong term, factor or sign (their
     * effect is O(1) relative). Measured over every model of test_graph, test_conv, test_pool,
     * test_layernorm, test_seq and test_attn (both gpt modes): JVP 5e-8 to 5e-7, HVP 5e-8 to
     * 8e-7 (GC_VERBOSE=1 prints them). The float64 values are the reference: hv, jv hold them. */
    lm_mlp_ws *w32 = NULL;
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F32, &w32, &err), LM_OK, "%s: %s", what, err.msg);
    {
        float *t32 = malloc(p * sizeof(float)), *x32 = malloc(n * d * sizeof(float)),
              *y32 = malloc(nk * sizeof(float)), *g32 = malloc(p * sizeof(float)),
              *v32 = malloc(p * sizeof(float)), *h32 = malloc(p * sizeof(float)),
              *j32 = malloc(nk * sizeof(float));
        for (size_t i = 0; i < p; i++) {
            t32[i] = (float) theta[i];
            v32[i] = (float) v[i];
        }
        for (size_t i = 0; i < n * d; i++)
            x32[i] = (float) x[i];
        for (size_t i = 0; i < nk; i++)
            y32[i] = (float) y[i];
        double l32;
        cr_assert_eq(lm_mlp_loss_grad_f32(m, w32, loss, t32, x32, y32, n, &l32, g32, NULL, &err),
                     LM_OK, "%s: %s", what, err.msg);
        for (size_t i = 0; i < p; i++)
            gp[i] = (double) g32[i];
        cr_assert(lm_close(l32, L0, 1e-4, 1e-6), "%s: float32 loss %.9g vs %.9g", what, l32, L0);
        cr_assert(gc_rel_err(gp, g, p) < 1e-4, "%s: float32 gradient rel err %.3g", what,
                  gc_rel_err(gp, g, p));
        /* the float32 JVP against the float64 one */
        cr_assert_eq(lm_mlp_jvp_f32(m, w32, t32, x32, n, v32, j32, &err), LM_OK, "%s: %s", what,
                     err.msg);
        for (size_t i = 0; i < nk; i++)
            fp[i] = (double) j32[i];
        cr_assert(gc_rel_err(fp, jv, nk) < 1e-4, "%s: float32 JVP rel err %.3g", what,
                  gc_rel_err(fp, jv, nk));
        /* the float32 HVP against the float64 one (hv = H v from the symmetry check), and the
         * gradient hvp_prepare_f32 returns against the float32 training gradient */
        double l32h;
        cr_assert_eq(lm_mlp_hvp_prepare_f32(m, w32, loss, t32, x32, y32, n, &l32h, h32, &err),
                     LM_OK, "%s: %s", what, err.msg);
        cr_assert_eq(l32h, l32, "%s: hvp_prepare_f32's loss", what);
        for (size_t i = 0; i < p; i++)
            cr_assert_eq(h32[i], g32[i], "%s: hvp_prepare_f32's gradient [%zu]", what, i);
        cr_assert_eq(lm_mlp_hvp_apply_f32(m, w32, v32, h32, &err), LM_OK, "%s: %s", what, err.msg);
        for (size_t i = 0; i < p; i++)
            gp[i] = (double) h32[i];
        cr_assert(gc_rel_err(gp, hv, p) < 1e-4, "%s: float32 HVP rel err %.3g", what,
                  gc_rel_err(gp, hv, p));
        if (getenv("GC_VERBOSE"))
            fprintf(stderr, "%s: float32 JVP %.2g HVP %.2g\n", what, gc_rel_err(fp, jv, nk),
                    gc_rel_err(gp, hv, p));
        free(t32);
        free(x32);
        free(y32);
        free(g32);
        free(v32);
        free(h32);
        free(j32);
        lm_mlp_ws_free(w32);
    }
    free(u);
    free(f);
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
    free(theta);
    free(x);
    free(y);
    lm_mlp_ws_free(ws);
    lm_mlp_free(m);
}

/* Layer-spec shorthands. */
static inline lm_layer_spec gc_linear(size_t out) {
    lm_layer_spec l = {.type = LM_LAYER_LINEAR, .out = out, .bias = -1};
    return l;
}
static inline lm_layer_spec gc_act(lm_act a) {
    lm_layer_spec l = {.type = LM_LAYER_ACT, .act = a, .bias = -1};
    return l;
}
static inline lm_layer_spec gc_flatten(void) {
    lm_layer_spec l = {.type = LM_LAYER_FLATTEN, .bias = -1};
    return l;
}
static inline lm_layer_spec gc_embedding(size_t vocab, size_t out) {
    lm_layer_spec l = {.type = LM_LAYER_EMBEDDING, .vocab = vocab, .out = out, .bias = -1};
    return l;
}
static inline lm_layer_spec gc_layernorm(void) {
    lm_layer_spec l = {.type = LM_LAYER_LAYERNORM, .eps = 1e-5, .bias = -1};
    return l;
}
static inline lm_layer_spec gc_last(void) {
    lm_layer_spec l = {.type = LM_LAYER_LAST, .bias = -1};
    return l;
}
static inline lm_layer_spec gc_residual(size_t body_len) {
    lm_layer_spec l = {.type = LM_LAYER_RESIDUAL, .body_len = body_len, .bias = -1};
    return l;
}

#endif
