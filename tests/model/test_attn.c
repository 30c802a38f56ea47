/*
 * Tests for the causal multi-head self-attention core (src/model/layer_attn.c): the forward pass
 * against a naive reference written here (plain loops, an explicit masked softmax), the layer's
 * calls alone against finite differences (layer_check.h: backward, jvp, rbackward with its
 * softmax second-order terms, gx_acc both ways, float32 against float64) over sequence lengths,
 * head counts, head widths and scales; causality; through graph_check.h, a model with attention
 * between a conv2d (which makes the layer's input move with the parameters) and a linear readout,
 * and two-block model.arch "gpt" transformers; build errors.
 */
#include "layer_check.h"

#include <math.h>

static lm_layer_spec attention(size_t heads, double scale) {
    lm_layer_spec l = {.type = LM_LAYER_ATTENTION, .heads = heads, .scale = scale, .bias = -1};
    return l;
}

/* y [n, len, d] from x [n, len, 3d]: per example, head and query i,
 * y_i = Sum_{j <= i} softmax_j(s q_i . k_j) v_j, straight from the definition. */
static void ref_attention(const double *x, double *y, size_t n, size_t len, size_t d, size_t heads,
                          double s) {
    const size_t dh = d / heads;
    double w[128];
    for (size_t e = 0; e < n; e++)
        for (size_t h = 0; h < heads; h++)
            for (size_t i = 0; i < len; i++) {
                const double *q = x + (e * len + i) * 3 * d + h * dh;
                double m = -(double) INFINITY, z = 0.0;
                for (size_t j = 0; j <= i; j++) {
                    const double *k = x + (e * len + j) * 3 * d + d + h * dh;
                    double dot = 0.0;
                    for (size_t c = 0; c < dh; c++)
                        dot += q[c] * k[c];
                    w[j] = s * dot;
                    m = fmax(m, w[j]);
                }
                for (size_t j = 0; j <= i; j++) {
                    w[j] = exp(w[j] - m);
                    z += w[j];
                }
                for (size_t c = 0; c < dh; c++) {
                    double o = 0.0;
                    for (size_t j = 0; j <= i; j++)
                        o += w[j] / z * x[(e * len + j) * 3 * d + 2 * d + h * dh + c];
                    y[(e * len + i) * d + h * dh + c] = o;
                }
            }
}

Test(attention, layer_calls_against_finite_differences) {
    /* every (T, H) of T = 1, 2, 5, 7 and H = 1, 2, 3, each with head widths dh = 1..4 and the
     * scale alternating between the default 1/sqrt(dh) and explicit ones (a large one sharpens
     * the softmax so P is far from uniform); T = 1 is the degenerate P = 1, where every
     * derivative through the scores vanishes */
    const size_t lens[] = {1, 2, 5, 7}, n = 3;
    const double scales[] = {0.0, 1.7, 0.0, 0.45};
    lm_rng r;
    lm_rng_seed(&r, 16, 0);
    for (size_t a = 0; a < 4; a++)
        for (size_t heads = 1; heads <= 3; heads++)
            for (size_t dh = 1; dh <= 4; dh++) {
                const size_t len = lens[a], d = heads * dh, shape[] = {1, len, 3 * d};
                const double scale = scales[(a + heads + dh) % 4];
                lm_layer_spec ls = attention(heads, scale);
                lc_node ln;
                lm_err err = {0};
                cr_assert_eq(lc_build(&ln, &lm__layer_attention, &ls, shape, n, &err), LM_OK, "%s",
                             err.msg);
                cr_assert_eq(ln.nd.n_p, 0);
                cr_assert_eq(ln.nd.fan_in, 0);
                cr_assert_eq(ln.nd.out_shape[0], 1);
                cr_assert_eq(ln.nd.out_shape[1], len);
                cr_assert_eq(ln.nd.out_shape[2], d);
                const double s = scale > 0 ? scale : 1.0 / sqrt((double) dh);
                cr_assert_eq(ln.nd.spec.scale, s);
                const size_t ni = n * len * 3 * d, no = n * len * d;
                double *x = malloc(ni * sizeof(double)), *yref = malloc(no * sizeof(double));
                for (size_t i = 0; i < ni; i++)
                    x[i] = 0.3 + 0.9 * lm_rng_normal(&r);
                ref_attention(x, yref, n, len, d, heads, s);
                char what[80];
                snprintf(what, sizeof what, "attention T=%zu H=%zu dh=%zu s=%g", len, heads, dh, s);
                lc_check(&ln, NULL, x, yref, &r, what);
                free(x);
                free(yref);
                lc_free(&ln);
            }
    /* sequences longer than the kernels' row block (16 positions): T = 16 (one whole block),
     * 21 (a partial second block) and 37 (three blocks), where the skipped upper blocks and the
     * block-diagonal boundaries are exercised; n = 1 and small d keep the finite differences
     * cheap */
    const size_t long_lens[] = {16, 21, 37};
    for (size_t a = 0; a < 3; a++) {
        const size_t len = long_lens[a], heads = 2, dh = 1 + a, d = heads * dh,
                     shape[] = {1, len, 3 * d};
        const double scale = a == 1 ? 0.9 : 0.0;
        lm_layer_spec ls = attention(heads, scale);
        lc_node ln;
        lm_err err = {0};
        cr_assert_eq(lc_build(&ln, &lm__layer_attention, &ls, shape, 1, &err), LM_OK, "%s",
                     err.msg);
        const double s = scale > 0 ? scale : 1.0 / sqrt((double) dh);
        const size_t ni = len * 3 * d, no = len * d;
        double *x = malloc(ni * sizeof(double)), *yref = malloc(no * sizeof(double));
        for (size_t i = 0; i < ni; i++)
            x[i] = -0.2 + 1.1 * lm_rng_normal(&r);
        ref_attention(x, yref, 1, len, d, heads, s);
        char what[80];
        snprintf(what, sizeof what, "attention T=%zu H=%zu dh=%zu s=%g", len, heads, dh, s);
        lc_check(&ln, NULL, x, yref, &r, what);
        free(x);
        free(yref);
        lc_free(&ln);
    }
    LM_CHECK_LEAKS();
}

Test(attention, causal) {
    /* changing x at position t (q, k and v) leaves y at every earlier position bitwise unchanged
     * (the masked scores are set to exactly 0) and changes y at t; likewise the input gradient
     * (backward) at positions > t does not see gy at position t... stated the other way: gy at
     * position t reaches gx only at positions <= t */
    const size_t len = 6, heads = 2, dh = 3, d = heads * dh, n = 2, shape[] = {1, len, 3 * d};
    lm_layer_spec ls = attention(heads, 0.0);
    lc_node ln;
    lm_err err = {0};
    cr_assert_eq(lc_build(&ln, &lm__layer_attention, &ls, shape, n, &err), LM_OK, "%s", err.msg);
    const size_t ni = n * len * 3 * d, no = n * len * d;
    double x[2 * 6 * 18], x2[2 * 6 * 18], y[2 * 6 * 6], y2[2 * 6 * 6], gy[2 * 6 * 6],
        gx[2 * 6 * 18];
    lm_rng r;
    lm_rng_seed(&r, 7, 0);
    for (size_t i = 0; i < ni; i++)
        x[i] = lm_rng_normal(&r);
    lm__layer_attention.forward_f64(&ln.nd, NULL, x, y, n, ln.scr);
    for (size_t t = 0; t < len; t++) {
        memcpy(x2, x, sizeof x);
        for (size_t e = 0; e < n; e++)
            for (size_t c = 0; c < 3 * d; c++)
                x2[(e * len + t) * 3 * d + c] += 0.5 + lm_rng_normal(&r);
        lm__layer_attention.forward_f64(&ln.nd, NULL, x2, y2, n, ln.scr);
        for (size_t e = 0; e < n; e++)
            for (size_t i = 0; i < len; i++) {
                double diff = 0.0;
                for (size_t c = 0; c < d; c++)
                    diff += fabs(y2[(e * len + i) * d + c] - y[(e * len + i) * d + c]);
                if (i < t)
                    cr_assert_eq(diff, 0.0, "t=%zu: y at position %zu changed", t, i);
                else if (i == t)
                    cr_assert(diff > 1e-3, "t=%zu: y at position t did not change", t);
            }
        memset(gy, 0, sizeof gy);
        for (size_t e = 0; e < n; e++)
            for (size_t c = 0; c < d; c++)
                gy[(e * len + t) * d + c] = lm_rng_normal(&r);
        lm__layer_attention.backward_f64(&ln.nd, NULL, x, y, gy, gx, 0, NULL, n, ln.scr);
        for (size_t e = 0; e < n; e++)
            for (size_t i = t + 1; i < len; i++)
                for (size_t c = 0; c < 3 * d; c++)
                    cr_assert_eq(gx[(e * len + i) * 3 * d + c], 0.0,
                                 "gy at %zu reached gx at the later position %zu", t, i);
    }
    (void) no;
    lc_free(&ln);
    LM_CHECK_LEAKS();
}

Test(attention, float32_matches_float64_on_a_long_sequence) {
    /* the GPT's head shape at a context of 70 (dh 8, 4 heads, batch 2; five row blocks of the
     * kernels, the last partial): float32 forward and backward against float64 (1e-5 relative:
     * float32 rounding ~6e-8 through dot products of 8 terms and softmax sums of at most 70, the
     * sums in double) */
    const size_t len = 70, heads = 4, dh = 8, d = heads * dh, n = 2, shape[] = {1, len, 3 * d};
    lm_layer_spec ls = attention(heads, 0.0);
    lc_node ln;
    lm_err err = {0};
    cr_assert_eq(lc_build(&ln, &lm__layer_attention, &ls, shape, n, &err), LM_OK, "%s", err.msg);
    const size_t ni = n * len * 3 * d, no = n * len * d;
    double *x = malloc(ni * sizeof(double)), *y = malloc(no * sizeof(double)),
           *yref = malloc(no * sizeof(double)), *gy = malloc(no * sizeof(double)),
           *gx = malloc(ni * sizeof(double)), *a = malloc(ni * sizeof(double));
    float *x32 = malloc(ni * sizeof(float)), *y32 = malloc(no * sizeof(float)),
          *gy32 = malloc(no * sizeof(float)), *gx32 = malloc(ni * sizeof(float));
    lm_rng r;
    lm_rng_seed(&r, 24, 0);
    for (size_t i = 0; i < ni; i++) {
        x[i] = 1.1 * lm_rng_normal(&r);
        x32[i] = (float) x[i];
    }
    for (size_t i = 0; i < no; i++) {
        gy[i] = lm_rng_normal(&r);
        gy32[i] = (float) gy[i];
    }
    for (size_t i = 0; i < ni; i++)
        x[i] = (double) x32[i];
    for (size_t i = 0; i < no; i++)
        gy[i] = (double) gy32[i];
    ref_attention(x, yref, n, len, d, heads, 1.0 / sqrt((double) dh));
    lm__layer_attention.forward_f64(&ln.nd, NULL, x, y, n, ln.scr);
    cr_assert(gc_rel_err(y, yref, no) < 1e-13, "forward vs reference rel err %.3g",
              gc_rel_err(y, yref, no));
    lm__layer_attention.backward_f64(&ln.nd, NULL, x, y, gy, gx, 0, NULL, n, ln.scr);
    lm__layer_attention.forward_f32(&ln.nd, NULL, x32, y32, n, ln.scr);
    lm__layer_attention.backward_f32(&ln.nd, NULL, x32, y32, gy32, gx32, 0, NULL, n, ln.scr);
    for (size_t i = 0; i < no; i++)
        yref[i] = (double) y32[i];
    for (size_t i = 0; i < ni; i++)
        a[i] = (double) gx32[i];
    cr_assert(gc_rel_err(yref, y, no) < 1e-5, "float32 forward rel err %.3g",
              gc_rel_err(yref, y, no));
    cr_assert(gc_rel_err(a, gx, ni) < 1e-5, "float32 gx rel err %.3g", gc_rel_err(a, gx, ni));
    /* and accumulating */
    for (size_t i = 0; i < ni; i++)
        gx32[i] = 0.25f;
    lm__layer_attention.backward_f32(&ln.nd, NULL, x32, y32, gy32, gx32, 1, NULL, n, ln.scr);
    for (size_t i = 0; i < ni; i++)
        a[i] = (double) gx32[i] - 0.25;
    cr_assert(gc_rel_err(a, gx, ni) < 1e-5, "float32 gx_acc rel err %.3g", gc_rel_err(a, gx, ni));
    free(x), free(y), free(yref), free(gy), free(gx), free(a);
    free(x32), free(y32), free(gy32), free(gx32);
    lc_free(&ln);
    LM_CHECK_LEAKS();
}

Test(attention, model_against_finite_differences) {
    /* input [2, T, 3d] images -> conv2d(1 channel, 3x3, padding 1): a parameterised [1, T, 3d]
     * sequence, so the attention's input moves with theta and its gx, jvp and R{gx} all enter
     * the gradient, JVP and HVP; -> attention -> flatten -> linear(3) */
    const size_t len = 4, d = 4, shape[] = {2, len, 3 * d};
    lm_layer_spec conv = {
        .type = LM_LAYER_CONV2D, .out = 1, .kernel = 3, .stride = 1, .padding = 1, .bias = -1};
    for (size_t heads = 1; heads <= 2; heads++) {
        lm_layer_spec ls[] = {conv, attention(heads, heads == 1 ? 0.0 : 0.8), gc_flatten(),
                              gc_linear(3)};
        for (int l = 0; l < 2; l++) {
            lm_mlp_spec sp = gc_spec(ls, 4, shape, 3, LM_PARAM_SP);
            char what[64];
            snprintf(what, sizeof what, "conv-attention-linear H=%zu %s", heads, l ? "ce" : "mse");
            gc_check(&sp, l ? LM_LOSS_CE : LM_LOSS_MSE, 3, 61 + heads, what);
        }
    }
    LM_CHECK_LEAKS();
}

Test(attention, errors_name_the_layer) {
    struct {
        size_t shape[3], heads;
        double scale;
        lm_status st;
        const char *a, *b;
    } cases[] = {
        {{1, 4, 10}, 1, 0.0, LM_ESHAPE, "10 features", "3*d"},           /* 3d not divisible by 3 */
        {{1, 4, 12}, 0, 0.0, LM_EINVAL, "\"heads\" = 0", ""},            /* no heads */
        {{1, 4, 12}, 3, 0.0, LM_EINVAL, "d = 4", "\"heads\" = 3"},       /* d % heads != 0 */
        {{2, 4, 12}, 1, 0.0, LM_ESHAPE, "[2, 4, 12]", "[1, T, 3*d]"},    /* not a sequence */
        {{1, 4, 12}, 2, -1.0, LM_EINVAL, "\"scale\" = -1", ""},          /* negative scale */
        {{1, 4, 12}, 2, (double) NAN, LM_EINVAL, "\"scale\" = nan", ""}, /* not a number */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lm_layer_spec ls = attention(cases[c].heads, cases[c].scale);
        lc_node ln;
        lm_err err = {0};
        cr_assert_eq(lc_build(&ln, &lm__layer_attention, &ls, cases[c].shape, 1, &err), cases[c].st,
                     "case %zu: %s", c, err.msg);
        cr_assert(strstr(err.msg, "model.layers[0]") && strstr(err.msg, "attention") &&
                      strstr(err.msg, cases[c].a) && strstr(err.msg, cases[c].b),
                  "case %zu: %s", c, err.msg);
    }
    /* through the graph: a linear layer's flat output is no sequence */
    const size_t shape[] = {6};
    lm_layer_spec ls[] = {gc_linear(6), attention(1, 0.0)};
    lm_mlp_spec sp = gc_spec(ls, 2, shape, 1, LM_PARAM_SP);
    lm_mlp *m = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&sp, &m, &err), LM_ESHAPE, "%s", err.msg);
    cr_assert(strstr(err.msg, "model.layers[1]") && strstr(err.msg, "attention"), "%s", err.msg);
    LM_CHECK_LEAKS();
}

Test(attention, gpt_against_finite_differences) {
    /* model.arch "gpt" (2 pre-norm blocks, d_model 6, 2 or 3 heads, context 5, vocab 7): the
     * layer inside its residual blocks, between the per-position qkv and output projections,
     * with layer norms before it; gradient, JVP, HVP and float32 through graph_check.h, for sp
     * and mup (its 1/d_head scale), predicting at the last position and at every one */
    const size_t shape[] = {5};
    const lm_layer_spec none[] = {gc_linear(1)}; /* the architecture writes the layer list */
    for (size_t heads = 2; heads <= 3; heads++)
        for (int prm = 0; prm < 2; prm++)
            for (int every = 0; every < 2; every++) {
                lm_mlp_spec s = gc_spec(none, 0, shape, 1, prm ? LM_PARAM_MUP : LM_PARAM_SP);
                s.arch = LM_ARCH_GPT;
                s.gpt.vocab = 7;
                s.gpt.context = 5;
                s.gpt.d_model = 6;
                s.gpt.heads = heads;
                s.gpt.blocks = 2;
                s.gpt.mlp_ratio = 2;
                s.gpt.every = every;
                char what[64];
                snprintf(what, sizeof what, "gpt H=%zu %s %s", heads, prm ? "mup" : "sp",
                         every ? "every" : "last");
                gc_check(&s, LM_LOSS_CE, 3, 71 + heads + (uint64_t) (2 * prm + every), what);
            }
    LM_CHECK_LEAKS();
}
