/*
 * Tests for the conv2d layer (src/model/layer_conv.c): the forward pass against a direct
 * seven-loop convolution (float64 and float32, every stride/padding/kernel combination the
 * shape rule allows here); gradient, JVP and exact HVP against finite differences
 * (graph_check.h) with and without bias, strides, paddings, kernels, parameterizations, losses
 * and inside a residual block; batches spanning several im2col chunks against one example at a
 * time; tensor names and shapes; build errors.
 */
#include "layer_check.h"

static lm_layer_spec conv(size_t out, size_t k, size_t s, size_t p, int bias) {
    lm_layer_spec l = {
        .type = LM_LAYER_CONV2D, .out = out, .kernel = k, .stride = s, .padding = p, .bias = bias};
    return l;
}

/* The reference: y[i,o,oh,ow] = bm b[o] + wm sum_{c,ki,kj} W[o,c,ki,kj] x[i,c,ih,iw],
 * ih = oh*s + ki - p, iw = ow*s + kj - p, zero outside the image. */
static void naive_conv(const double *x, const double *W, const double *b, double wm, double bm,
                       double *y, size_t n, size_t C, size_t H, size_t Wd, size_t O, size_t k,
                       size_t s, size_t p) {
    const size_t Ho = (H + 2 * p - k) / s + 1, Wo = (Wd + 2 * p - k) / s + 1;
    for (size_t i = 0; i < n; i++)
        for (size_t o = 0; o < O; o++)
            for (size_t oh = 0; oh < Ho; oh++)
                for (size_t ow = 0; ow < Wo; ow++) {
                    double acc = 0;
                    for (size_t c = 0; c < C; c++)
                        for (size_t ki = 0; ki < k; ki++)
                            for (size_t kj = 0; kj < k; kj++) {
                                const long ih = (long) (oh * s + ki) - (long) p,
                                           iw = (long) (ow * s + kj) - (long) p;
                                if (ih < 0 || iw < 0 || ih >= (long) H || iw >= (long) Wd)
                                    continue;
                                acc += W[((o * C + c) * k + ki) * k + kj] *
                                       x[((i * C + c) * H + (size_t) ih) * Wd + (size_t) iw];
                            }
                    y[((i * O + o) * Ho + oh) * Wo + ow] = wm * acc + (b ? bm * b[o] : 0.0);
                }
}

/* One conv layer on [C, H, W] against the reference in float64 (1e-13: the same sums in another
 * order) and float32 (1e-5: float32 rounding of sums of <= 125 terms). */
static void check_forward(size_t C, size_t H, size_t Wd, size_t O, size_t k, size_t s, size_t p,
                          int bias, lm_param prm, size_t n) {
    const size_t shape[] = {C, H, Wd};
    lm_layer_spec ls[] = {conv(O, k, s, p, bias)};
    lm_mlp_spec sp = gc_spec(ls, 1, shape, 3, prm);
    lm_mlp *m;
    lm_mlp_ws *ws, *w32;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&sp, &m, &err), LM_OK, "%s", err.msg);
    const size_t Ho = (H + 2 * p - k) / s + 1, Wo = (Wd + 2 * p - k) / s + 1;
    cr_assert_eq(m->d_out, O * Ho * Wo);
    cr_assert_eq(m->n_params, O * C * k * k + (bias ? O : 0));
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F64, &ws, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F32, &w32, &err), LM_OK, "%s", err.msg);
    const size_t P = m->n_params, d = m->d_in, q = m->d_out;
    double *th = malloc(P * sizeof *th), *x = malloc(n * d * sizeof *x);
    double *y = malloc(n * q * sizeof *y), *yr = malloc(n * q * sizeof *yr);
    float *t32 = malloc(P * sizeof *t32), *x32 = malloc(n * d * sizeof *x32),
          *y32 = malloc(n * q * sizeof *y32);
    lm_mlp_init(m, 5, th, NULL);
    lm_rng r;
    lm_rng_seed(&r, 17, 0);
    for (size_t i = 0; i < P; i++)
        th[i] += 0.1 * lm_rng_normal(&r); /* biases off zero */
    for (size_t i = 0; i < n * d; i++)
        x[i] = 2.385 * lm_rng_normal(&r);
    for (size_t i = 0; i < P; i++)
        t32[i] = (float) th[i];
    for (size_t i = 0; i < n * d; i++)
        x32[i] = (float) x[i];
    cr_assert_eq(lm_mlp_forward(m, ws, th, x, n, y, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_forward_f32(m, w32, t32, x32, n, y32, &err), LM_OK, "%s", err.msg);
    naive_conv(x, th, bias ? th + O * C * k * k : NULL, m->layer[0].w_scale, m->layer[0].b_scale,
               yr, n, C, H, Wd, O, k, s, p);
    double *y32d = malloc(n * q * sizeof *y32d);
    for (size_t i = 0; i < n * q; i++)
        y32d[i] = (double) y32[i];
    cr_assert(gc_rel_err(y, yr, n * q) < 1e-13, "[%zu,%zu,%zu] O %zu k %zu s %zu p %zu: %.3g", C, H,
              Wd, O, k, s, p, gc_rel_err(y, yr, n * q));
    cr_assert(gc_rel_err(y32d, yr, n * q) < 1e-5, "f32 k %zu s %zu p %zu: %.3g", k, s, p,
              gc_rel_err(y32d, yr, n * q));
    free(th), free(x), free(y), free(yr), free(t32), free(x32), free(y32), free(y32d);
    lm_mlp_ws_free(ws);
    lm_mlp_ws_free(w32);
    lm_mlp_free(m);
}

Test(conv, forward_matches_direct_convolution) {
    const size_t ks[] = {1, 3, 5};
    for (size_t a = 0; a < 3; a++)
        for (size_t s = 1; s <= 3; s++)
            for (size_t p = 0; p <= 2; p++)
                if (7 + 2 * p >= ks[a])
                    check_forward(3, 7, 6, 4, ks[a], s, p, (int) ((a + s + p) % 2), LM_PARAM_SP, 3);
    check_forward(2, 5, 5, 3, 3, 1, 1, 1, LM_PARAM_NTP, 2); /* w_mul, b_mul != 1 */
    check_forward(1, 1, 1, 2, 3, 1, 1, 1, LM_PARAM_SP, 2);  /* one pixel, all padding around */
    check_forward(5, 1, 1, 3, 1, 1, 0, 1, LM_PARAM_SP, 2);  /* features [5, 1, 1], k = 1 */
    LM_CHECK_LEAKS();
}

Test(conv, derivatives_bias_stride_padding_kernel) {
    const size_t shape[] = {2, 6, 5};
    const size_t ks[] = {1, 3, 5}, ps[] = {0, 1, 2};
    for (size_t a = 0; a < 3; a++)
        for (size_t s = 1; s <= 2; s++) {
            const size_t p = ps[(a + s) % 3];
            lm_layer_spec ls[] = {conv(3, ks[a], s, p, (int) ((a + s) % 2)), gc_flatten(),
                                  gc_linear(2)};
            lm_mlp_spec sp = gc_spec(ls, 3, shape, 3, LM_PARAM_SP);
            char what[64];
            snprintf(what, sizeof what, "conv k %zu s %zu p %zu", ks[a], s, p);
            gc_check(&sp, LM_LOSS_MSE, 3, 21 + a + s, what);
        }
    LM_CHECK_LEAKS();
}

Test(conv, two_convs_every_param_and_loss) {
    /* conv 2->3 k3 p1, relu, conv 3->2 k3 (stride 1 with mse, 2 with ce), tanh, flatten,
     * linear: the second conv's input gradient and R{gx} feed the first (the dx terms of
     * rbackward) */
    const size_t shape[] = {2, 7, 6};
    const lm_param prms[] = {LM_PARAM_SP, LM_PARAM_NTP, LM_PARAM_MUP};
    for (int a = 0; a < 3; a++)
        for (int l = 0; l < 2; l++) {
            lm_layer_spec ls[] = {
                conv(3, 3, 1, 1, -1), gc_act(LM_ACT_RELU), conv(2, 3, (size_t) (1 + l), 0, -1),
                gc_act(LM_ACT_TANH),  gc_flatten(),        gc_linear(3)};
            lm_mlp_spec sp = gc_spec(ls, 6, shape, 3, prms[a]);
            char what[64];
            snprintf(what, sizeof what, "two convs, %s, %s", lm_param_name(prms[a]),
                     l ? "ce" : "mse");
            gc_check(&sp, l ? LM_LOSS_CE : LM_LOSS_MSE, 4, 31 + (uint64_t) (2 * a + l), what);
        }
    LM_CHECK_LEAKS();
}

Test(conv, residual_block) {
    /* conv, residual(conv k3 p1, softplus, conv k3 p1), flatten, linear: the block's first conv
     * adds its input gradient into the skip's (gx_acc) */
    const size_t shape[] = {1, 5, 6};
    lm_layer_spec ls[] = {
        conv(2, 3, 1, 1, 1), gc_residual(3), conv(2, 3, 1, 1, 1), gc_act(LM_ACT_SOFTPLUS),
        conv(2, 3, 1, 1, 0), gc_flatten(),   gc_linear(2)};
    lm_mlp_spec sp = gc_spec(ls, 7, shape, 3, LM_PARAM_SP);
    gc_check(&sp, LM_LOSS_MSE, 3, 41, "conv residual");
    gc_check(&sp, LM_LOSS_CE, 3, 42, "conv residual, cross-entropy");
    LM_CHECK_LEAKS();
}

/* The batch's outputs, JVP, VJP and HVP against one example at a time (1e-12: the same
 * products, the chunked GEMMs summing in another order), and the float32 path on the batch. */
static void check_chunks(const lm_layer_spec *ls, size_t nl, const size_t *shape) {
    const size_t n = 13;
    lm_mlp_spec sp = gc_spec(ls, nl, shape, 3, LM_PARAM_SP);
    lm_mlp *m;
    lm_mlp_ws *ws, *w1;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&sp, &m, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F64, &ws, &err), LM_OK);
    cr_assert_eq(lm_mlp_ws_new(m, 1, LM_F64, &w1, &err), LM_OK);
    const size_t p = m->n_params, d = m->d_in, q = m->d_out;
    double *th = malloc(p * sizeof *th), *x = malloc(n * d * sizeof *x),
           *y = malloc(n * q * sizeof *y), *f = malloc(n * q * sizeof *f),
           *f1 = malloc(q * sizeof *f1), *v = malloc(p * sizeof *v),
           *jv = malloc(n * q * sizeof *jv), *g = malloc(p * sizeof *g),
           *g1 = malloc(p * sizeof *g1), *gs = calloc(p, sizeof *gs), *hv = malloc(p * sizeof *hv),
           *hs = calloc(p, sizeof *hs);
    lm_mlp_init(m, 3, th, NULL);
    lm_rng r;
    lm_rng_seed(&r, 4, 0);
    for (size_t i = 0; i < n * d; i++)
        x[i] = lm_rng_normal(&r);
    for (size_t i = 0; i < n * q; i++)
        y[i] = lm_rng_normal(&r);
    for (size_t i = 0; i < p; i++)
        v[i] = lm_rng_normal(&r);
    cr_assert_eq(lm_mlp_forward(m, ws, th, x, n, f, NULL), LM_OK);
    cr_assert_eq(lm_mlp_jvp(m, ws, th, x, n, v, jv, NULL), LM_OK);
    cr_assert_eq(lm_mlp_vjp(m, ws, th, x, n, y, g, NULL), LM_OK);
    cr_assert_eq(lm_mlp_hvp_prepare(m, ws, LM_LOSS_MSE, th, x, y, n, NULL, NULL, NULL), LM_OK);
    cr_assert_eq(lm_mlp_hvp_apply(m, ws, v, hv, NULL), LM_OK);
    for (size_t i = 0; i < n; i++) {
        lm_mlp_forward(m, w1, th, x + i * d, 1, f1, NULL);
        cr_assert(gc_rel_err(f + i * q, f1, q) < 1e-12, "forward example %zu", i);
        lm_mlp_jvp(m, w1, th, x + i * d, 1, v, f1, NULL);
        cr_assert(gc_rel_err(jv + i * q, f1, q) < 1e-12, "jvp example %zu", i);
        lm_mlp_vjp(m, w1, th, x + i * d, 1, y + i * q, g1, NULL);
        for (size_t j = 0; j < p; j++)
            gs[j] += g1[j];
        /* the loss is a mean over examples: H = (1/n) sum_i H_i */
        lm_mlp_hvp_prepare(m, w1, LM_LOSS_MSE, th, x + i * d, y + i * q, 1, NULL, NULL, NULL);
        lm_mlp_hvp_apply(m, w1, v, g1, NULL);
        for (size_t j = 0; j < p; j++)
            hs[j] += g1[j] / (double) n;
    }
    cr_assert(gc_rel_err(g, gs, p) < 1e-12, "vjp %.3g", gc_rel_err(g, gs, p));
    cr_assert(gc_rel_err(hv, hs, p) < 1e-12, "hvp %.3g", gc_rel_err(hv, hs, p));
    /* the float32 path over the same chunks: outputs and the loss gradient against float64
     * (1e-5 and 1e-4: float32 rounding of sums of up to 400 terms, two layers deep) */
    lm_mlp_ws *w32;
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F32, &w32, &err), LM_OK, "%s", err.msg);
    float *t32 = malloc(p * sizeof *t32), *x32 = malloc(n * d * sizeof *x32),
          *y32 = malloc(n * q * sizeof *y32), *f32 = malloc(n * q * sizeof *f32),
          *g32 = malloc(p * sizeof *g32);
    for (size_t i = 0; i < p; i++)
        t32[i] = (float) th[i];
    for (size_t i = 0; i < n * d; i++)
        x32[i] = (float) x[i];
    for (size_t i = 0; i < n * q; i++)
        y32[i] = (float) y[i];
    double l32, l64;
    cr_assert_eq(lm_mlp_loss_grad_f32(m, w32, LM_LOSS_MSE, t32, x32, y32, n, &l32, g32, f32, &err),
                 LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_loss_grad(m, ws, LM_LOSS_MSE, th, x, y, n, &l64, g, NULL, NULL), LM_OK);
    for (size_t i = 0; i < n * q; i++)
        jv[i] = (double) f32[i];
    for (size_t i = 0; i < p; i++)
        g1[i] = (double) g32[i];
    cr_assert(gc_rel_err(jv, f, n * q) < 1e-5, "f32 forward %.3g", gc_rel_err(jv, f, n * q));
    cr_assert(gc_rel_err(g1, g, p) < 1e-4, "f32 gradient %.3g", gc_rel_err(g1, g, p));
    free(t32), free(x32), free(y32), free(f32), free(g32);
    lm_mlp_ws_free(w32);
    free(th), free(x), free(y), free(f), free(f1), free(v), free(jv), free(g), free(g1), free(gs);
    free(hv), free(hs);
    lm_mlp_ws_free(ws);
    lm_mlp_ws_free(w1);
    lm_mlp_free(m);
}

Test(conv, chunks_equal_one_example_at_a_time) {
    /* At layer_conv.c's chunk size (2^15 column-buffer elements): [8, 32, 32] -> conv 16 k3 p1
     * -> tanh -> conv 4 k5 s2 p2 runs one example per chunk (the GEMM writing y directly);
     * [2, 16, 16] -> conv 4 k3 p1 -> softplus -> conv 3 k3 s2 p1 runs chunks of 3 examples at
     * its first conv (3+3+3+3+1: batched GEMMs, regrouped, and a one-example chunk) and of 6
     * at its second (6+6+1). */
    const size_t big[] = {8, 32, 32}, small[] = {2, 16, 16};
    lm_layer_spec a[] = {conv(16, 3, 1, 1, 1), gc_act(LM_ACT_TANH), conv(4, 5, 2, 2, 1)};
    lm_layer_spec b[] = {conv(4, 3, 1, 1, 1), gc_act(LM_ACT_SOFTPLUS), conv(3, 3, 2, 1, 1)};
    check_chunks(a, 3, big);
    check_chunks(b, 3, small);
    LM_CHECK_LEAKS();
}

Test(conv, names_shapes_and_fan_in) {
    /* the small CNN head: conv 1->16 3x3 pad 1 on 28x28 */
    const size_t shape[] = {1, 28, 28};
    lm_layer_spec ls[] = {conv(16, 3, 0, 1, -1), gc_act(LM_ACT_RELU), conv(32, 3, 2, 1, 0),
                          gc_flatten(), gc_linear(10)};
    lm_mlp_spec sp = gc_spec(ls, 5, shape, 3, LM_PARAM_NTP);
    lm_mlp *m;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&sp, &m, &err), LM_OK, "%s", err.msg);
    cr_assert_str_eq(m->tensor[0].name, "layers.0.weight");
    cr_assert_eq(m->tensor[0].ndim, 4);
    cr_assert_eq(m->tensor[0].shape[0], 16);
    cr_assert_eq(m->tensor[0].shape[1], 1);
    cr_assert_eq(m->tensor[0].shape[2], 3);
    cr_assert_eq(m->tensor[0].shape[3], 3);
    cr_assert_str_eq(m->tensor[1].name, "layers.0.bias");
    cr_assert_eq(m->tensor[1].shape[0], 16);
    cr_assert_str_eq(m->tensor[2].name, "layers.2.weight"); /* no bias: bias = 0 */
    cr_assert_str_eq(m->tensor[3].name, "layers.4.weight");
    cr_assert_eq(m->n_layers, 3);
    /* stride 2, pad 1 on 28: (28 + 2 - 3)/2 + 1 = 14 */
    cr_assert_eq(lm_mlp_layer_width(m, 3), 32 * 14 * 14);
    cr_assert_eq(m->n_params, 16 * 9 + 16 + 32 * 16 * 9 + 10 * 32 * 14 * 14 + 10);
    /* NTP: the multiplier is 1/sqrt(fan-in), the fan-in counting the receptive field */
    cr_assert(lm_close(m->layer[0].w_scale, 1.0 / 3.0, 1e-15, 0), "%g", m->layer[0].w_scale);
    cr_assert(lm_close(m->layer[1].w_scale, 1.0 / 12.0, 1e-15, 0), "%g", m->layer[1].w_scale);
    lm_mlp_free(m);
    LM_CHECK_LEAKS();
}

Test(conv, build_errors_name_the_layer) {
    const size_t shape[] = {2, 4, 4}, feat[] = {6};
    lm_mlp *m = NULL;
    lm_err err = {0};
    struct {
        lm_layer_spec l;
        lm_status code;
        const char *says;
    } cases[] = {
        {conv(3, 0, 1, 0, 1), LM_EINVAL, "kernel"},
        {conv(0, 3, 1, 0, 1), LM_EINVAL, "out"},
        {conv(3, 7, 1, 1, 1), LM_ESHAPE, "larger than its padded input"},
        {conv(3, 3, 1, (size_t) 1 << 20, 1), LM_ERANGE, "padding"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        lm_mlp_spec sp = gc_spec(&cases[c].l, 1, shape, 3, LM_PARAM_SP);
        cr_assert_eq(lm_mlp_new(&sp, &m, &err), cases[c].code, "case %zu: %s", c, err.msg);
        cr_assert(m == NULL);
        cr_assert(strstr(err.msg, "model.layers[0]") && strstr(err.msg, "conv2d") &&
                      strstr(err.msg, cases[c].says),
                  "case %zu: %s", c, err.msg);
    }
    /* features [6] = [6, 1, 1]: a 1x1 conv fits, a 3x3 one does not without padding */
    lm_layer_spec k1[] = {conv(2, 1, 1, 0, 1)}, k3[] = {gc_linear(4), conv(2, 3, 1, 0, 1)};
    lm_mlp_spec sp = gc_spec(k1, 1, feat, 1, LM_PARAM_SP);
    cr_assert_eq(lm_mlp_new(&sp, &m, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(m->d_out, 2);
    lm_mlp_free(m);
    m = NULL;
    sp = gc_spec(k3, 2, feat, 1, LM_PARAM_SP);
    cr_assert_eq(lm_mlp_new(&sp, &m, &err), LM_ESHAPE);
    cr_assert(strstr(err.msg, "model.layers[1]") && strstr(err.msg, "kernel 3"), "%s", err.msg);
    LM_CHECK_LEAKS();
}

/* The stride-1 gap layout of the gradients (conv_impl.h: im2col_gap, col2im_gap, gap_from,
 * conv_grad_gap; taken when K = C*k*k > O + C) against the definitions loop by loop, every
 * product of the layer contract in both dtypes: y (im2col, in the gap layout's buffers), gW, gb,
 * gx (overwritten and accumulated), the JVP and R{gx} (float64: conv_grad_w / conv_grad_x with
 * two weights). Paddings 0 .. k-1, kernels 1, 2, 3, 5,
 * odd and even sizes, and batches of 9 spanning full and partial chunks of several examples. */
static void check_gap(size_t C, size_t H, size_t Wd, size_t O, size_t k, size_t p) {
    const size_t n = 9, shape[] = {C, H, Wd}, Ho = H + 2 * p - k + 1, Wo = Wd + 2 * p - k + 1;
    lm_layer_spec ls = conv(O, k, 1, p, 1);
    lc_node ln;
    lm_err err = {0};
    cr_assert_eq(lc_build(&ln, &lm__layer_conv2d, &ls, shape, n, &err), LM_OK, "%s", err.msg);
    ln.nd.w_mul = 0.7, ln.nd.b_mul = 1.3;
    ln.nd.has_bias = 1; /* graph.c resolves it; the bias then follows the weight in theta */
    const size_t ni = n * C * H * Wd, no = n * O * Ho * Wo, nw = O * C * k * k, np = nw + O;
    double *x = malloc(ni * sizeof *x), *th = malloc(np * sizeof *th),
           *gy = malloc(no * sizeof *gy);
    double *y = malloc(no * sizeof *y), *yr = malloc(no * sizeof *yr),
           *gx = malloc(ni * sizeof *gx), *gxr = calloc(ni, sizeof *gxr),
           *gt = malloc(np * sizeof *gt), *gtr = calloc(np, sizeof *gtr);
    lm_rng r;
    lm_rng_seed(&r, 40 + k * 7 + p, 0);
    for (size_t i = 0; i < ni; i++)
        x[i] = lm_rng_normal(&r);
    for (size_t i = 0; i < np; i++)
        th[i] = lm_rng_normal(&r);
    for (size_t i = 0; i < no; i++)
        gy[i] = lm_rng_normal(&r);
    naive_conv(x, th, th + nw, 0.7, 1.3, yr, n, C, H, Wd, O, k, 1, p);
    for (size_t i = 0; i < n; i++)
        for (size_t o = 0; o < O; o++)
            for (size_t oh = 0; oh < Ho; oh++)
                for (size_t ow = 0; ow < Wo; ow++) {
                    const double g = gy[((i * O + o) * Ho + oh) * Wo + ow];
                    gtr[nw + o] += 1.3 * g;
                    for (size_t c = 0; c < C; c++)
                        for (size_t ki = 0; ki < k; ki++)
                            for (size_t kj = 0; kj < k; kj++) {
                                const long ih = (long) (oh + ki) - (long) p,
                                           iw = (long) (ow + kj) - (long) p;
                                if (ih < 0 || iw < 0 || ih >= (long) H || iw >= (long) Wd)
                                    continue;
                                const size_t xi =
                                                 ((i * C + c) * H + (size_t) ih) * Wd + (size_t) iw,
                                             wi = ((o * C + c) * k + ki) * k + kj;
                                gtr[wi] += 0.7 * g * x[xi];
                                gxr[xi] += 0.7 * g * th[wi];
                            }
                }
    char what[80];
    snprintf(what, sizeof what, "gap layout [%zu, %zu, %zu] O %zu k %zu p %zu", C, H, Wd, O, k, p);
    const lm__layer_ops *ops = ln.nd.ops;
    ops->forward_f64(&ln.nd, th, x, y, n, ln.scr);
    cr_assert(gc_rel_err(y, yr, no) < 1e-14, "%s: y %.3g", what, gc_rel_err(y, yr, no));
    for (int acc = 0; acc < 2; acc++) {
        for (size_t i = 0; i < ni; i++)
            gx[i] = acc ? 0.5 * (double) (i % 3) : 1e3;
        ops->backward_f64(&ln.nd, th, x, y, gy, gx, acc, gt, n, ln.scr);
        for (size_t i = 0; i < ni && acc; i++)
            gx[i] -= 0.5 * (double) (i % 3);
        cr_assert(gc_rel_err(gx, gxr, ni) < 1e-14, "%s: gx (acc %d) %.3g", what, acc,
                  gc_rel_err(gx, gxr, ni));
        cr_assert(gc_rel_err(gt, gtr, np) < 1e-14, "%s: gW, gb %.3g", what,
                  gc_rel_err(gt, gtr, np));
    }
    /* the JVP in dx alone is the forward of dx without the bias; R{gx} with vth = th and
     * rgy = 0 is gx again (conv_grad_x's second weight) */
    double *dy = malloc(no * sizeof *dy), *zero = calloc(no, sizeof *zero),
           *ht = malloc(np * sizeof *ht);
    ops->jvp_f64(&ln.nd, th, NULL, x, x, y, dy, n, ln.scr);
    for (size_t i = 0; i < no; i++)
        dy[i] += 1.3 * th[nw + (i / (Ho * Wo)) % O];
    cr_assert(gc_rel_err(dy, yr, no) < 1e-14, "%s: jvp %.3g", what, gc_rel_err(dy, yr, no));
    ops->rbackward_f64(&ln.nd, th, th, x, NULL, y, dy, gy, zero, gx, 0, ht, n, ln.scr);
    cr_assert(gc_rel_err(gx, gxr, ni) < 1e-14, "%s: R{gx} %.3g", what, gc_rel_err(gx, gxr, ni));
    /* float32 */
    float *x32 = malloc(ni * sizeof *x32), *t32 = malloc(np * sizeof *t32),
          *gy32 = malloc(no * sizeof *gy32), *y32 = malloc(no * sizeof *y32),
          *gx32 = malloc(ni * sizeof *gx32), *gt32 = malloc(np * sizeof *gt32);
    for (size_t i = 0; i < ni; i++)
        x32[i] = (float) x[i];
    for (size_t i = 0; i < np; i++)
        t32[i] = (float) th[i];
    for (size_t i = 0; i < no; i++)
        gy32[i] = (float) gy[i];
    ops->forward_f32(&ln.nd, t32, x32, y32, n, ln.scr);
    for (size_t i = 0; i < no; i++)
        y[i] = (double) y32[i];
    cr_assert(gc_rel_err(y, yr, no) < 1e-5, "%s: float32 y %.3g", what, gc_rel_err(y, yr, no));
    for (int acc = 0; acc < 2; acc++) {
        for (size_t i = 0; i < ni; i++)
            gx32[i] = acc ? (float) (i % 3) : 1e3f;
        ops->backward_f32(&ln.nd, t32, x32, y32, gy32, gx32, acc, gt32, n, ln.scr);
        for (size_t i = 0; i < ni; i++)
            gx[i] = (double) gx32[i] - (acc ? (double) (i % 3) : 0.0);
        for (size_t i = 0; i < np; i++)
            gt[i] = (double) gt32[i];
        cr_assert(gc_rel_err(gx, gxr, ni) < 1e-5, "%s: float32 gx (acc %d) %.3g", what, acc,
                  gc_rel_err(gx, gxr, ni));
        cr_assert(gc_rel_err(gt, gtr, np) < 1e-5, "%s: float32 gW, gb %.3g", what,
                  gc_rel_err(gt, gtr, np));
    }
    free(x), free(th), free(gy), free(y), free(yr), free(gx), free(gxr), free(gt), free(gtr);
    free(dy), free(zero), free(ht);
    free(x32), free(t32), free(gy32), free(y32), free(gx32), free(gt32);
    lc_free(&ln);
}

Test(conv, stride1_gap_layout_against_definition) {
    check_gap(3, 9, 7, 4, 3, 1);     /* "same" 3x3, odd sizes */
    check_gap(3, 8, 8, 4, 3, 0);     /* no padding: gaps of 0, Wo < W */
    check_gap(2, 6, 9, 3, 3, 2);     /* padding k - 1: Ho > H */
    check_gap(2, 10, 7, 5, 5, 2);    /* 5x5 */
    check_gap(4, 5, 6, 3, 2, 1);     /* even kernel */
    check_gap(16, 14, 14, 32, 3, 1); /* the benchmark CNN's second conv */
    LM_CHECK_LEAKS();
}
