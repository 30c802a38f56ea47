/*
 * Tests of every layer's calls alone (layer_check.h) for the layer types whose own test files
 * check them only inside whole models: linear (features and a sequence, with and without bias,
 * with a forward multiplier), every activation, flatten, conv2d (both of its gradient layouts),
 * last; each against central differences in float64 and its float32 forward, backward, jvp and
 * rbackward against float64. The embedding reads token ids (no input derivative to difference),
 * so its float32 jvp and rbackward are checked against its float64 ones directly (those are
 * checked against finite differences in every gpt model of test_seq.c and test_attn.c).
 */
#include "layer_check.h"

#include <math.h>

/* lc_check on a node of ops/ls built on shape (seq: a sequence) with forward multipliers w_mul,
 * b_mul, at random parameters and inputs. */
static void check_layer(const lm__layer_ops *ops, lm_layer_spec ls, const size_t shape[3], int seq,
                        double w_mul, double b_mul, lm_rng *r, const char *what) {
    const size_t n = 3;
    lc_node ln;
    lm_err err = {0};
    /* built as lc_build_seq does, with the bias flag graph.c resolves before build */
    memset(&ln, 0, sizeof ln);
    lm__node *nd = &ln.nd;
    nd->ops = ops;
    nd->spec = ls;
    nd->seq = seq;
    nd->has_bias = ls.bias > 0;
    snprintf(nd->where, sizeof nd->where, "model.layers[0]");
    memcpy(nd->in_shape, shape, 3 * sizeof *shape);
    nd->in_size = shape[0] * shape[1] * shape[2];
    nd->skip_buf = SIZE_MAX;
    cr_assert_eq(ops->build(nd, &err), LM_OK, "%s: %s", what, err.msg);
    nd->out_size = nd->out_shape[0] * nd->out_shape[1] * nd->out_shape[2];
    nd->n_p = lm__toff(nd, nd->n_tensors);
    nd->w_mul = w_mul;
    nd->b_mul = b_mul;
    ln.n = n;
    ln.scr = calloc(nd->scratch_per_ex * n + nd->scratch_fixed + 1, sizeof(double));
    const size_t p = nd->n_p, ni = n * nd->in_size;
    double *th = malloc((p ? p : 1) * sizeof(double)), *x = malloc(ni * sizeof(double));
    for (size_t i = 0; i < p; i++)
        th[i] = 0.6 * lm_rng_normal(r);
    for (size_t i = 0; i < ni; i++)
        x[i] = 1.1 * lm_rng_normal(r);
    lc_check(&ln, p ? th : NULL, x, NULL, r, what);
    free(th);
    free(x);
    lc_free(&ln);
}

Test(layer_f32, every_layer_alone) {
    lm_rng r;
    lm_rng_seed(&r, 61, 0);
    char what[96];
    /* linear: features, with and without bias, multipliers away from 1; on a sequence */
    for (int b = 0; b <= 1; b++) {
        lm_layer_spec ls = {.type = LM_LAYER_LINEAR, .out = 4, .bias = b};
        const size_t f[3] = {5, 1, 1}, sq[3] = {1, 3, 5};
        snprintf(what, sizeof what, "linear bias=%d", b);
        check_layer(&lm__layer_linear, ls, f, 0, 0.7, 1.3, &r, what);
        snprintf(what, sizeof what, "linear on a sequence bias=%d", b);
        check_layer(&lm__layer_linear, ls, sq, 1, 1.0, 1.0, &r, what);
    }
    /* every activation, on an image-shaped input */
    for (int a = 0; a <= LM_ACT_QUADRATIC; a++) {
        lm_layer_spec ls = {.type = LM_LAYER_ACT, .act = (lm_act) a, .bias = -1};
        const size_t sh[3] = {2, 3, 4};
        snprintf(what, sizeof what, "activation %s", lm_act_name((lm_act) a));
        check_layer(&lm__layer_act, ls, sh, 0, 1.0, 1.0, &r, what);
    }
    {
        lm_layer_spec ls = {.type = LM_LAYER_FLATTEN, .bias = -1};
        const size_t sh[3] = {2, 3, 3};
        check_layer(&lm__layer_flatten, ls, sh, 0, 1.0, 1.0, &r, "flatten");
    }
    /* conv2d: the gap layout (stride 1, K > O + C), im2col (stride 2), a 1x1 kernel */
    {
        const size_t k[] = {3, 3, 1}, s[] = {1, 2, 1}, pd[] = {1, 0, 0}, o[] = {2, 3, 4};
        for (size_t c = 0; c < 3; c++) {
            lm_layer_spec ls = {.type = LM_LAYER_CONV2D,
                                .out = o[c],
                                .kernel = k[c],
                                .stride = s[c],
                                .padding = pd[c],
                                .bias = 1};
            const size_t sh[3] = {3, 6, 5};
            snprintf(what, sizeof what, "conv2d k=%zu s=%zu p=%zu", k[c], s[c], pd[c]);
            check_layer(&lm__layer_conv2d, ls, sh, 0, 0.8, 1.2, &r, what);
        }
    }
    {
        lm_layer_spec ls = {.type = LM_LAYER_LAST, .bias = -1};
        const size_t sh[3] = {1, 4, 3};
        check_layer(&lm__layer_last, ls, sh, 1, 1.0, 1.0, &r, "last");
    }
}

/* The embedding's float32 jvp and rbackward against its float64 ones (1e-5 as layer_check.h:
 * they are sums of at most n*T table rows, one rounding each). */
Test(layer_f32, embedding) {
    lm_rng r;
    lm_rng_seed(&r, 62, 0);
    const size_t n = 4, len = 5, vocab = 7, d = 3, shape[3] = {len, 1, 1};
    lm_layer_spec ls = {.type = LM_LAYER_EMBEDDING, .vocab = vocab, .out = d, .bias = -1};
    lc_node ln;
    lm_err err = {0};
    cr_assert_eq(lc_build(&ln, &lm__layer_embedding, &ls, shape, n, &err), LM_OK, "%s", err.msg);
    ln.nd.w_mul = 0.9;
    const lm__layer_ops *ops = ln.nd.ops;
    const size_t p = ln.nd.n_p, ni = n * len, no = n * len * d;
    cr_assert_eq(p, (vocab + len) * d);
    double *th = malloc(p * sizeof(double)), *v = malloc(p * sizeof(double)),
           *x = malloc(ni * sizeof(double)), *y = malloc(no * sizeof(double)),
           *dy = malloc(no * sizeof(double)), *gy = malloc(no * sizeof(double)),
           *rgy = malloc(no * sizeof(double)), *h = malloc(p * sizeof(double)),
           *c = malloc((p > no ? p : no) * sizeof(double));
    float *t32 = malloc(p * sizeof(float)), *v32 = malloc(p * sizeof(float)),
          *x32 = malloc(ni * sizeof(float)), *y32 = malloc(no * sizeof(float)),
          *dy32 = malloc(no * sizeof(float)), *gy32 = malloc(no * sizeof(float)),
          *rgy32 = malloc(no * sizeof(float)), *h32 = malloc(p * sizeof(float));
    for (size_t i = 0; i < p; i++) {
        th[i] = lm_rng_normal(&r);
        v[i] = lm_rng_normal(&r);
        t32[i] = (float) th[i];
        v32[i] = (float) v[i];
    }
    for (size_t i = 0; i < ni; i++) {
        x[i] = (double) lm_rng_below(&r, vocab);
        x32[i] = (float) x[i];
    }
    for (size_t i = 0; i < no; i++) {
        gy[i] = lm_rng_normal(&r);
        rgy[i] = lm_rng_normal(&r);
        gy32[i] = (float) gy[i];
        rgy32[i] = (float) rgy[i];
    }
    ops->forward_f64(&ln.nd, th, x, y, n, ln.scr);
    ops->forward_f32(&ln.nd, t32, x32, y32, n, ln.scr);
    ops->jvp_f64(&ln.nd, th, v, x, NULL, y, dy, n, ln.scr);
    ops->jvp_f32(&ln.nd, t32, v32, x32, NULL, y32, dy32, n, ln.scr);
    for (size_t i = 0; i < no; i++)
        c[i] = (double) dy32[i];
    cr_assert(gc_rel_err(c, dy, no) < 1e-5, "embedding float32 jvp rel err %.3g",
              gc_rel_err(c, dy, no));
    ops->rbackward_f64(&ln.nd, th, v, x, NULL, y, dy, gy, rgy, NULL, 0, h, n, ln.scr);
    ops->rbackward_f32(&ln.nd, t32, v32, x32, NULL, y32, dy32, gy32, rgy32, NULL, 0, h32, n,
                       ln.scr);
    for (size_t i = 0; i < p; i++)
        c[i] = (double) h32[i];
    cr_assert(gc_rel_err(c, h, p) < 1e-5, "embedding float32 R{gth} rel err %.3g",
              gc_rel_err(c, h, p));
    /* the embedding is linear in its tables: R{g_tables} is backward applied to rgy */
    ops->backward_f64(&ln.nd, th, x, y, rgy, NULL, 0, c, n, ln.scr);
    cr_assert(gc_rel_err(h, c, p) < 1e-15, "embedding R{gth} is not backward(rgy)");
    ops->jvp_f32(&ln.nd, t32, NULL, x32, NULL, y32, dy32, n, ln.scr);
    for (size_t i = 0; i < no; i++)
        cr_assert_eq(dy32[i], 0.0f, "embedding float32 jvp with no tangent");
    free(th), free(v), free(x), free(y), free(dy), free(gy), free(rgy), free(h), free(c);
    free(t32), free(v32), free(x32), free(y32), free(dy32), free(gy32), free(rgy32), free(h32);
    lc_free(&ln);
}
