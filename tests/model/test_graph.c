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
