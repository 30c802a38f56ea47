/*
 * Tests for the layer graph (src/model/graph.c): a model.layers chain of linear and activation
 * layers equals the model.widths MLP it spells; every activation, loss and parameterization
 * through the graph against finite differences (graph_check.h); residual blocks (the input's
 * gradient accumulated from two paths); names, layout and errors.
 */
#include "graph_check.h"

Test(graph, chain_equals_widths_mlp) {
    /* 5 -> 7 -> tanh -> 3 as model.layers and as model.widths: the same draws, outputs and
     * gradients to rounding (the same kernels: dense_impl.h, act_vec_impl.h) */
    lm_mlp_spec a = lm_mlp_spec_default();
    a.n_widths = 3;
    a.widths[0] = 5, a.widths[1] = 7, a.widths[2] = 3;
    a.act = LM_ACT_TANH;
    lm_layer_spec ls[] = {gc_linear(7), gc_act(LM_ACT_TANH), gc_linear(3)};
    const size_t shape[] = {5};
    lm_mlp_spec b = gc_spec(ls, 3, shape, 1, LM_PARAM_SP);
    b.sb2 = 0.0;
    lm_mlp *ma, *mb;
    lm_mlp_ws *wa, *wb;
    cr_assert_eq(lm_mlp_new(&a, &ma, NULL), LM_OK);
    cr_assert_eq(lm_mlp_new(&b, &mb, NULL), LM_OK);
    cr_assert_eq(ma->n_params, mb->n_params);
    cr_assert_eq(mb->n_layers, 2);
    cr_assert_str_eq(mb->tensor[2].name, "layers.2.weight");
    cr_assert_eq(mb->n_repr, 3);
    cr_assert_eq(lm_mlp_layer_width(mb, 2), 7);
    lm_mlp_ws_new(ma, 4, LM_F64, &wa, NULL);
    lm_mlp_ws_new(mb, 4, LM_F64, &wb, NULL);
    double ta[128], tb[128], x[20], y[12], fa[12], fb[12], ga[128], gb[128];
    lm_mlp_init(ma, 3, ta, NULL);
    lm_mlp_init(mb, 3, tb, NULL);
    for (size_t i = 0; i < ma->n_params; i++)
        cr_assert_eq(ta[i], tb[i], "theta[%zu] %g vs %g", i, ta[i], tb[i]);
    for (int i = 0; i < 20; i++)
        x[i] = sin(i + 1.0);
    for (int i = 0; i < 12; i++)
        y[i] = cos(i + 2.0);
    double la, lb;
    lm_mlp_loss_grad(ma, wa, LM_LOSS_MSE, ta, x, y, 4, &la, ga, fa, NULL);
    lm_mlp_loss_grad(mb, wb, LM_LOSS_MSE, tb, x, y, 4, &lb, gb, fb, NULL);
    cr_assert_eq(la, lb);
    for (size_t i = 0; i < ma->n_params; i++)
        cr_assert_eq(ga[i], gb[i], "grad[%zu]", i);
    lm_mlp_ws_free(wa);
    lm_mlp_ws_free(wb);
    lm_mlp_free(ma);
    lm_mlp_free(mb);
    LM_CHECK_LEAKS();
}

Test(graph, derivatives_every_activation_loss_param) {
    const size_t shape[] = {4};
    for (int a = LM_ACT_IDENTITY; a <= LM_ACT_QUADRATIC; a++) {
        lm_layer_spec ls[] = {gc_linear(6), gc_act((lm_act) a), gc_linear(5), gc_act((lm_act) a),
                              gc_linear(3)};
        lm_mlp_spec s = gc_spec(ls, 5, shape, 1, LM_PARAM_SP);
        gc_check(&s, LM_LOSS_MSE, 5, 7, lm_act_name((lm_act) a));
    }
    for (int p = LM_PARAM_SP; p <= LM_PARAM_MUP; p++)
        for (int l = 0; l <= LM_LOSS_CE; l++) {
            lm_layer_spec ls[] = {gc_linear(6), gc_act(LM_ACT_GELU), gc_linear(3)};
            lm_mlp_spec s = gc_spec(ls, 3, shape, 1, (lm_param) p);
            s.output_multiplier = 1.7;
            gc_check(&s, (lm_loss) l, 5, 9, lm_param_name((lm_param) p));
        }
    LM_CHECK_LEAKS();
}

Test(graph, residual_blocks) {
    /* linear, residual(tanh, linear, residual(softplus, linear)), linear: nested blocks, the
     * skip and the body both carrying gradient and curvature */
    const size_t shape[] = {4};
    lm_layer_spec ls[] = {gc_linear(6), gc_residual(5),     gc_act(LM_ACT_TANH),
                          gc_linear(6), gc_residual(2),     gc_act(LM_ACT_SOFTPLUS),
                          gc_linear(6), gc_act(LM_ACT_ERF), gc_linear(2)};
    lm_mlp_spec s = gc_spec(ls, 9, shape, 1, LM_PARAM_SP);
    gc_check(&s, LM_LOSS_MSE, 5, 11, "nested residual");
    gc_check(&s, LM_LOSS_CE, 5, 12, "nested residual, cross-entropy");
    lm_mlp *m;
    cr_assert_eq(lm_mlp_new(&s, &m, NULL), LM_OK);
    cr_assert_str_eq(m->tensor[2].name, "layers.1.body.1.weight");
    cr_assert_str_eq(m->tensor[4].name, "layers.1.body.2.body.1.weight");
    cr_assert_str_eq(m->tensor[6].name, "layers.3.weight");
    cr_assert_eq(m->n_repr, 4);
    lm_mlp_free(m);
    LM_CHECK_LEAKS();
}

Test(graph, errors_name_the_layer) {
    const size_t shape3[] = {1, 4, 4}, shape1[] = {4};
    lm_layer_spec ls[] = {gc_linear(3)};
    lm_mlp_spec s = gc_spec(ls, 1, shape3, 3, LM_PARAM_SP);
    lm_mlp *m = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_ESHAPE);
    cr_assert(strstr(err.msg, "model.layers[0]") && strstr(err.msg, "flatten"), "%s", err.msg);
    lm_layer_spec bad[] = {gc_linear(3), gc_residual(1), gc_linear(5), gc_linear(2)};
    s = gc_spec(bad, 4, shape1, 1, LM_PARAM_SP);
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_ESHAPE);
    cr_assert(strstr(err.msg, "model.layers[1]") && strstr(err.msg, "same shape"), "%s", err.msg);
    s = gc_spec(ls, 1, shape1, 1, LM_PARAM_SP);
    s.init = LM_INIT_ALIGNED;
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_EINVAL);
    LM_CHECK_LEAKS();
}

Test(graph, steps_after_the_first_allocate_nothing) {
    /* a CNN with a residual block holding layer norm: loss and gradient in float64 and float32,
     * and HVPs, allocate nothing once the workspaces exist */
    const size_t shape[] = {1, 8, 8};
    lm_layer_spec ls[] = {
        {.type = LM_LAYER_CONV2D, .out = 4, .kernel = 3, .padding = 1, .bias = -1},
        gc_act(LM_ACT_RELU),
        {.type = LM_LAYER_AVGPOOL2D, .kernel = 2, .bias = -1},
        {.type = LM_LAYER_MAXPOOL2D, .kernel = 2, .bias = -1},
        gc_flatten(),
        gc_linear(8),
        gc_residual(3),
        {.type = LM_LAYER_LAYERNORM, .eps = 1e-5, .bias = -1},
        gc_linear(8),
        gc_act(LM_ACT_GELU),
        gc_linear(3)};
    lm_mlp_spec s = gc_spec(ls, 11, shape, 3, LM_PARAM_SP);
    lm_mlp *m;
    lm_mlp_ws *ws, *ws32;
    cr_assert_eq(lm_mlp_new(&s, &m, NULL), LM_OK);
    cr_assert_eq(lm_mlp_ws_new(m, 16, LM_F64, &ws, NULL), LM_OK);
    cr_assert_eq(lm_mlp_ws_new(m, 16, LM_F32, &ws32, NULL), LM_OK);
    const size_t p = m->n_params;
    double *th = calloc(p, 8), *g = calloc(p, 8), *hv = calloc(p, 8), *x = calloc(16 * 64, 8),
           *y = calloc(16 * 3, 8);
    float *th32 = calloc(p, 4), *g32 = calloc(p, 4), *x32 = calloc(16 * 64, 4),
          *y32 = calloc(16 * 3, 4);
    lm_mlp_init(m, 1, th, NULL);
    for (size_t i = 0; i < p; i++)
        th32[i] = (float) th[i];
    for (size_t i = 0; i < 16 * 64; i++)
        x32[i] = (float) (x[i] = sin((double) i));
    double loss;
    lm_mlp_loss_grad(m, ws, LM_LOSS_MSE, th, x, y, 16, &loss, g, NULL, NULL);
    lm_mlp_loss_grad_f32(m, ws32, LM_LOSS_MSE, th32, x32, y32, 16, &loss, g32, NULL, NULL);
    const uint64_t before = lm_alloc_count();
    for (int step = 0; step < 5; step++) {
        lm_mlp_loss_grad(m, ws, LM_LOSS_MSE, th, x, y, 16, &loss, g, NULL, NULL);
        lm_mlp_loss_grad_f32(m, ws32, LM_LOSS_MSE, th32, x32, y32, 16, &loss, g32, NULL, NULL);
        lm_mlp_hvp_prepare(m, ws, LM_LOSS_MSE, th, x, y, 16, NULL, NULL, NULL);
        lm_mlp_hvp_apply(m, ws, g, hv, NULL);
        lm_mlp_jvp(m, ws, th, x, 16, g, y, NULL);
    }
    cr_assert_eq(lm_alloc_count(), before, "calls after the first allocated %llu times",
                 (unsigned long long) (lm_alloc_count() - before));
    lm_mlp_ws_free(ws);
    lm_mlp_ws_free(ws32);
    lm_mlp_free(m);
    free(th);
    free(g);
    free(hv);
    free(x);
    free(y);
    free(th32);
    free(g32);
    free(x32);
    free(y32);
    LM_CHECK_LEAKS();
}

/* Float32 Hessian-vector products of a layer graph: the R-state (tangent buffers, the loss's
 * double-precision step) is allocated once, on the first float32 hvp_prepare (a float32 training
 * workspace does not carry it), and every later prepare, apply and JVP allocates nothing; on a
 * CNN (conv, pools, residual layer norm) and a gpt predicting at every position. */
static void f32_hvp_allocates_once(const lm_mlp_spec *s, size_t d_in, size_t vocab,
                                   const char *what) {
    const size_t n = 6;
    lm_mlp *m;
    lm_mlp_ws *ws32;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(s, &m, &err), LM_OK, "%s: %s", what, err.msg);
    cr_assert_eq(m->d_in, d_in, "%s", what);
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F32, &ws32, &err), LM_OK, "%s: %s", what, err.msg);
    const size_t p = m->n_params, k = m->d_out;
    double *th = calloc(p, 8);
    float *th32 = calloc(p, 4), *v32 = calloc(p, 4), *hv32 = calloc(p, 4), *g32 = calloc(p, 4),
          *x32 = calloc(n * d_in, 4), *y32 = calloc(n * k, 4), *jv32 = calloc(n * k, 4);
    lm_mlp_init(m, 3, th, NULL);
    for (size_t i = 0; i < p; i++) {
        th32[i] = (float) th[i];
        v32[i] = (float) cos((double) i);
    }
    for (size_t i = 0; i < n * d_in; i++)
        x32[i] = vocab ? (float) (i % vocab) : (float) sin((double) i);
    const size_t rows = n * m->positions, kr = k / m->positions;
    for (size_t i = 0; i < rows; i++)
        y32[i * kr + i % kr] = 1.0f;
    double loss;
    cr_assert_eq(
        lm_mlp_loss_grad_f32(m, ws32, LM_LOSS_CE, th32, x32, y32, n, &loss, g32, NULL, &err), LM_OK,
        "%s: %s", what, err.msg);
    uint64_t before = lm_alloc_count();
    cr_assert_eq(lm_mlp_hvp_prepare_f32(m, ws32, LM_LOSS_CE, th32, x32, y32, n, NULL, NULL, &err),
                 LM_OK, "%s: %s", what, err.msg);
    cr_assert_eq(lm_alloc_count(), before + 1, "%s: the first float32 prepare allocated %llu times",
                 what, (unsigned long long) (lm_alloc_count() - before));
    cr_assert_eq(lm_mlp_hvp_apply_f32(m, ws32, v32, hv32, &err), LM_OK, "%s: %s", what, err.msg);
    before = lm_alloc_count();
    for (int step = 0; step < 3; step++) {
        lm_mlp_loss_grad_f32(m, ws32, LM_LOSS_CE, th32, x32, y32, n, &loss, g32, NULL, NULL);
        cr_assert_eq(
            lm_mlp_hvp_prepare_f32(m, ws32, LM_LOSS_CE, th32, x32, y32, n, NULL, g32, &err), LM_OK,
            "%s: %s", what, err.msg);
        cr_assert_eq(lm_mlp_hvp_apply_f32(m, ws32, v32, hv32, &err), LM_OK, "%s: %s", what,
                     err.msg);
        cr_assert_eq(lm_mlp_hvp_apply_f32(m, ws32, g32, hv32, &err), LM_OK, "%s: %s", what,
                     err.msg);
        cr_assert_eq(lm_mlp_jvp_f32(m, ws32, th32, x32, n, v32, jv32, &err), LM_OK, "%s: %s", what,
                     err.msg);
    }
    cr_assert_eq(lm_alloc_count(), before, "%s: float32 HVPs after the first allocated %llu times",
                 what, (unsigned long long) (lm_alloc_count() - before));
    double hn = 0.0;
    for (size_t i = 0; i < p; i++)
        hn += (double) hv32[i] * (double) hv32[i];
    cr_assert(isfinite(hn) && hn > 0.0, "%s: H g = 0", what);
    lm_mlp_ws_free(ws32);
    lm_mlp_free(m);
    free(th);
    free(th32);
    free(v32);
    free(hv32);
    free(g32);
    free(x32);
    free(y32);
    free(jv32);
}

Test(graph, float32_hvps_after_the_first_allocate_nothing) {
    const size_t shape[] = {1, 8, 8};
    lm_layer_spec ls[] = {
        {.type = LM_LAYER_CONV2D, .out = 4, .kernel = 3, .padding = 1, .bias = -1},
        gc_act(LM_ACT_RELU),
        {.type = LM_LAYER_AVGPOOL2D, .kernel = 2, .bias = -1},
        {.type = LM_LAYER_MAXPOOL2D, .kernel = 2, .bias = -1},
        gc_flatten(),
        gc_linear(8),
        gc_residual(3),
        {.type = LM_LAYER_LAYERNORM, .eps = 1e-5, .bias = -1},
        gc_linear(8),
        gc_act(LM_ACT_GELU),
        gc_linear(3)};
    lm_mlp_spec s = gc_spec(ls, 11, shape, 3, LM_PARAM_SP);
    f32_hvp_allocates_once(&s, 64, 0, "cnn");
    const size_t none_shape[] = {5};
    const lm_layer_spec none[] = {gc_linear(1)}; /* the architecture writes the layer list */
    lm_mlp_spec g = gc_spec(none, 0, none_shape, 1, LM_PARAM_MUP);
    g.arch = LM_ARCH_GPT;
    g.gpt.vocab = 7;
    g.gpt.context = 5;
    g.gpt.d_model = 6;
    g.gpt.heads = 2;
    g.gpt.blocks = 2;
    g.gpt.mlp_ratio = 2;
    g.gpt.every = 1;
    f32_hvp_allocates_once(&g, 5, 7, "gpt");
    LM_CHECK_LEAKS();
}
