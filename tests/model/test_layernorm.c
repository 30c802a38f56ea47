/*
 * Tests for layer normalisation (src/model/layer_norm.c), nn.LayerNorm(d, eps): the forward pass
 * against the definition; the layer's calls alone against finite differences (layer_check.h:
 * the R-operator's second-order terms through mu, sigma and gamma are exactly what the R{gx}
 * and R{gth} checks there see); models with layer norm in and after a residual block through
 * graph_check.h for every parameterization and both losses; names, initial values, errors.
 */
#include "layer_check.h"

#include <math.h>

static lm_layer_spec layernorm(double eps) {
    lm_layer_spec l = {.type = LM_LAYER_LAYERNORM, .eps = eps, .bias = -1};
    return l;
}

/* y = gamma (.) (x - mean(x)) / sqrt(var(x) + eps) + beta per row, var biased (PyTorch). */
static void ref_layernorm(const double *x, const double *gam, const double *beta, double *y,
                          size_t n, size_t d, double eps) {
    for (size_t e = 0; e < n; e++) {
        const double *xr = x + e * d;
        double mu = 0.0, var = 0.0;
        for (size_t i = 0; i < d; i++)
            mu += xr[i] / (double) d;
        for (size_t i = 0; i < d; i++)
            var += (xr[i] - mu) * (xr[i] - mu) / (double) d;
        for (size_t i = 0; i < d; i++)
            y[e * d + i] = gam[i] * (xr[i] - mu) / sqrt(var + eps) + beta[i];
    }
}

Test(layernorm, layer_calls_against_finite_differences) {
    /* d = 1 (xhat = 0: the output is beta), 2, 3, 7 and 12; eps the default (0) and a large one
     * (where the eps inside sigma matters to every derivative); inputs off-centre and scaled.
     * Not d = 2 with a tiny eps: xhat = +-(x1 - x2) / sqrt((x1 - x2)^2 + 4 eps) is then +-1 to
     * O(eps), so gx is O(eps) and a finite difference of the O(1) loss cannot resolve it. */
    const size_t cases_d[] = {1, 1, 2, 3, 3, 7, 7, 12, 12};
    const double cases_eps[] = {0.0, 0.7, 0.7, 0.0, 0.7, 0.0, 0.7, 0.0, 0.7};
    const size_t n = 3;
    lm_rng r;
    lm_rng_seed(&r, 41, 0);
    for (size_t a = 0; a < sizeof cases_d / sizeof cases_d[0]; a++) {
        const size_t d = cases_d[a], shape[] = {d, 1, 1};
        lm_layer_spec ls = layernorm(cases_eps[a]);
        lc_node ln;
        lm_err err = {0};
        cr_assert_eq(lc_build(&ln, &lm__layer_layernorm, &ls, shape, n, &err), LM_OK, "%s",
                     err.msg);
        cr_assert_eq(ln.nd.n_p, 2 * d);
        cr_assert_eq(ln.nd.kind[0], LM_TENSOR_GAIN);
        cr_assert_eq(ln.nd.kind[1], LM_TENSOR_BIAS);
        cr_assert_eq(ln.nd.fan_in, 0);
        const double eps = cases_eps[a] > 0 ? cases_eps[a] : 1e-5;
        cr_assert_eq(ln.nd.spec.eps, eps);
        double *th = malloc(2 * d * sizeof(double)), *x = malloc(n * d * sizeof(double)),
               *yref = malloc(n * d * sizeof(double));
        for (size_t i = 0; i < d; i++) {
            th[i] = 1.0 + 0.4 * lm_rng_normal(&r);
            th[d + i] = 0.3 * lm_rng_normal(&r);
        }
        for (size_t i = 0; i < n * d; i++)
            x[i] = 0.8 + 1.7 * lm_rng_normal(&r);
        ref_layernorm(x, th, th + d, yref, n, d, eps);
        char what[64];
        snprintf(what, sizeof what, "layernorm d=%zu eps=%g", d, eps);
        lc_check(&ln, th, x, yref, &r, what);
        free(th);
        free(x);
        free(yref);
        lc_free(&ln);
    }
    LM_CHECK_LEAKS();
}

Test(layernorm, residual_model_against_finite_differences) {
    /* linear(6), residual[layernorm, linear(6), gelu, linear(6)], layernorm, linear(3): a
     * pre-norm residual block (the transformer's) and a final norm */
    const size_t shape[] = {4};
    lm_layer_spec ls[] = {gc_linear(6),        gc_residual(4), layernorm(0), gc_linear(6),
                          gc_act(LM_ACT_GELU), gc_linear(6),   layernorm(0), gc_linear(3)};
    for (int p = LM_PARAM_SP; p <= LM_PARAM_MUP; p++)
        for (int l = 0; l <= LM_LOSS_CE; l++) {
            lm_mlp_spec s = gc_spec(ls, 8, shape, 1, (lm_param) p);
            char what[64];
            snprintf(what, sizeof what, "layernorm residual %s %s", lm_param_name((lm_param) p),
                     l ? "ce" : "mse");
            gc_check(&s, (lm_loss) l, 5, (uint64_t) (60 + 2 * p + l), what);
        }
    LM_CHECK_LEAKS();
}

Test(layernorm, graph_layout_init_and_forward) {
    const size_t shape[] = {4}, n = 3;
    lm_layer_spec ls[] = {gc_linear(5), gc_residual(2), layernorm(0.25), gc_linear(5),
                          layernorm(0)};
    lm_mlp_spec s = gc_spec(ls, 5, shape, 1, LM_PARAM_SP);
    lm_mlp *m;
    lm_mlp_ws *ws;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F64, &ws, &err), LM_OK, "%s", err.msg);
    /* state_dict names and kinds: layers.0.{weight,bias}, layers.1.body.0.{weight,bias} (the
     * norm), layers.1.body.1.{weight,bias}, layers.2.{weight,bias} (the final norm) */
    cr_assert_eq(m->n_tensors, 8);
    cr_assert_str_eq(m->tensor[2].name, "layers.1.body.0.weight");
    cr_assert_str_eq(m->tensor[3].name, "layers.1.body.0.bias");
    cr_assert_eq(m->tensor[2].kind, LM_TENSOR_GAIN);
    cr_assert_eq(m->tensor[3].kind, LM_TENSOR_BIAS);
    cr_assert_eq(m->tensor[2].numel, 5);
    cr_assert_str_eq(m->tensor[6].name, "layers.2.weight");
    cr_assert_eq(m->n_layers, 2); /* the norms are not weight layers */
    cr_assert_eq(m->n_params, 4 * 5 + 5 + 2 * 5 + 5 * 5 + 5 + 2 * 5);
    double theta[80], x[12], f[15], h1[15], a[15], b[15], c[15], ref[15];
    cr_assert_eq(lm_mlp_init(m, 8, theta, &err), LM_OK);
    for (size_t t = 0; t < m->n_tensors; t++)
        if (m->tensor[t].dense == SIZE_MAX)
            for (size_t i = 0; i < m->tensor[t].numel; i++)
                cr_assert_eq(theta[m->tensor[t].off + i],
                             m->tensor[t].kind == LM_TENSOR_GAIN ? 1.0 : 0.0, "%s[%zu] at init",
                             m->tensor[t].name, i);
    lm_rng r;
    lm_rng_seed(&r, 9, 0);
    for (size_t i = 0; i < 80; i++)
        theta[i] += 0.2 * lm_rng_normal(&r);
    for (size_t i = 0; i < 12; i++)
        x[i] = lm_rng_normal(&r);
    cr_assert_eq(lm_mlp_forward(m, ws, theta, x, n, f, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_features(m, ws, theta, x, n, 1, h1, &err), LM_OK, "%s", err.msg);
    /* by hand: h1 = W0 x + b0; a = LN_0.25(h1); b = W a + bb; c = h1 + b; f = LN_1e-5(c) */
    const double *W0 = theta, *b0 = theta + 20, *g1 = theta + 25, *be1 = theta + 30,
                 *W1 = theta + 35, *bb = theta + 60, *g2 = theta + 65, *be2 = theta + 70;
    double h[15];
    for (size_t e = 0; e < n; e++)
        for (size_t j = 0; j < 5; j++) {
            h[e * 5 + j] = b0[j];
            for (size_t i = 0; i < 4; i++)
                h[e * 5 + j] += W0[j * 4 + i] * x[e * 4 + i];
        }
    cr_assert(gc_rel_err(h1, h, 15) < 1e-14);
    ref_layernorm(h, g1, be1, a, n, 5, 0.25);
    for (size_t e = 0; e < n; e++)
        for (size_t j = 0; j < 5; j++) {
            b[e * 5 + j] = bb[j];
            for (size_t i = 0; i < 5; i++)
                b[e * 5 + j] += W1[j * 5 + i] * a[e * 5 + i];
            c[e * 5 + j] = h[e * 5 + j] + b[e * 5 + j];
        }
    ref_layernorm(c, g2, be2, ref, n, 5, 1e-5);
    cr_assert(gc_rel_err(f, ref, 15) < 1e-13, "forward rel err %.3g", gc_rel_err(f, ref, 15));
    lm_mlp_ws_free(ws);
    lm_mlp_free(m);
    LM_CHECK_LEAKS();
}

Test(layernorm, errors_name_the_layer) {
    const size_t img[] = {2, 3, 3}, vec[] = {4};
    lm_mlp *m = NULL;
    lm_err err = {0};
    lm_layer_spec ls[] = {layernorm(0), gc_flatten(), gc_linear(2)};
    lm_mlp_spec s = gc_spec(ls, 3, img, 3, LM_PARAM_SP);
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_ESHAPE);
    cr_assert(strstr(err.msg, "model.layers[0]") && strstr(err.msg, "flatten first") &&
                  strstr(err.msg, "[2, 3, 3]"),
              "%s", err.msg);
    /* after flatten it is a feature vector [18] */
    lm_layer_spec ok[] = {gc_flatten(), layernorm(0), gc_linear(2)};
    s = gc_spec(ok, 3, img, 3, LM_PARAM_SP);
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(m->tensor[0].numel, 18);
    lm_mlp_free(m);
    lm_layer_spec neg[] = {gc_linear(3), layernorm(-1e-3)};
    s = gc_spec(neg, 2, vec, 1, LM_PARAM_SP);
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "model.layers[1]") && strstr(err.msg, "eps"), "%s", err.msg);
    s.layers[1].eps = LM_NAN;
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_EINVAL);
    LM_CHECK_LEAKS();
}
