/*
 * test_empirical_graph.c: the empirical NTK of layer-graph models (lm_kernel_empirical's
 * Jacobian-block path). A dense chain spelled as model.layers (linear / act / linear) against
 * the same network as model.widths (the Gram path) to 1e-12, with per-segment rates and per-layer
 * terms, in sp and mup; a residual network against J diag(lr) J^T with J from central finite
 * differences of the outputs; chunks under a memory bound; and the errors.
 */
#include "empirical_graph_check.h"

/* 4 -> 6 -> act -> 5 -> act -> 3 as model.widths (a) and as model.layers (b). */
static void chain_pair(lm_act act, lm_param prm, lm_mlp **a, lm_mlp **b) {
    lm_mlp_spec sa = lm_mlp_spec_default();
    sa.n_widths = 4;
    sa.widths[0] = 4, sa.widths[1] = 6, sa.widths[2] = 5, sa.widths[3] = 3;
    sa.act = act;
    sa.param = prm;
    sa.sw2 = 1.7;
    sa.sb2 = 0.3;
    sa.output_multiplier = 0.7;
    sa.base_width = prm == LM_PARAM_MUP ? 2 : 0;
    lm_layer_spec ls[] = {gc_linear(6), gc_act(act), gc_linear(5), gc_act(act), gc_linear(3)};
    const size_t shape[] = {4};
    lm_mlp_spec sb = gc_spec(ls, 5, shape, 1, prm);
    sb.sw2 = sa.sw2;
    sb.sb2 = sa.sb2;
    sb.output_multiplier = sa.output_multiplier;
    sb.base_width = sa.base_width;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&sa, a, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_new(&sb, b, &err), LM_OK, "%s", err.msg);
    cr_assert(lm_mlp_is_chain(*a) && !lm_mlp_is_chain(*b));
    cr_assert_eq((*a)->n_params, (*b)->n_params);
    cr_assert_eq(lm_mlp_n_segments(*a), lm_mlp_n_segments(*b)); /* W_l, b_l = the tensors */
}

Test(empirical_graph, chain_as_layers_equals_gram_path) {
    const lm_act acts[] = {LM_ACT_RELU, LM_ACT_TANH, LM_ACT_GELU};
    const lm_param prms[] = {LM_PARAM_SP, LM_PARAM_MUP};
    for (size_t ai = 0; ai < 3; ai++)
        for (size_t pi = 0; pi < 2; pi++) {
            lm_mlp *ma, *mb;
            chain_pair(acts[ai], prms[pi], &ma, &mb);
            const size_t n = 5, k = 3, nk = n * k, L = ma->n_layers, p = ma->n_params;
            cr_assert_eq(mb->n_layers, L);
            double *theta = malloc(p * 8), X[20];
            cr_assert_eq(lm_mlp_init(ma, 11, theta, NULL), LM_OK);
            for (size_t l = 0; l < L; l++) /* every bias away from 0 */
                fill(theta + ma->layer[l].b_off, ma->layer[l].d_out, 50 + l, 0.5);
            fill(X, 20, 4, 1.0);
            /* the optimizer's per-segment SGD rates (mup's differ per segment), from each model's
             * own lm_mlp_segments: the kernel of the same training dynamics */
            size_t seg_a[LM_MAX_TENSORS + 1], seg_b[LM_MAX_TENSORS + 1];
            double lr_a[LM_MAX_TENSORS], lr_b[LM_MAX_TENSORS];
            lm_mlp_segments(ma, 0, seg_a, lr_a);
            lm_mlp_segments(mb, 0, seg_b, lr_b);
            double *ka = malloc(nk * nk * 8), *kb = malloc(nk * nk * 8);
            double *la = malloc(L * nk * nk * 8), *lb = malloc(L * nk * nk * 8);
            double *kc = malloc(nk * nk * 8);
            lm_err err = {0};
            for (int w = 0; w < 2; w++) {
                const double *ra = w ? lr_a : NULL, *rb = w ? lr_b : NULL;
                cr_assert_eq(lm_kernel_empirical(ma, theta, X, n, ra, 0, ka, la, &err), LM_OK, "%s",
                             err.msg);
                cr_assert_eq(lm_kernel_empirical(mb, theta, X, n, rb, 0, kb, lb, &err), LM_OK, "%s",
                             err.msg);
                const char *an = lm_act_name(acts[ai]), *pn = lm_param_name(prms[pi]);
                double e = rel_fro(kb, ka, nk * nk);
                cr_assert(e < 1e-12, "%s %s rates %d: graph path vs Gram path %g", an, pn, w, e);
                for (size_t l = 0; l < L; l++) {
                    e = rel_fro(lb + l * nk * nk, la + l * nk * nk, nk * nk);
                    cr_assert(e < 1e-12, "%s %s rates %d: layer %zu %g", an, pn, w, l, e);
                    assert_symmetric(lb + l * nk * nk, nk);
                }
                assert_symmetric(kb, nk);
                /* chunks of 2 inputs under the bound that plan gives: the same kernel */
                size_t c = 0;
                const size_t bound =
                    lm_kernel_empirical_plan(mb, n, 0, lm_kernel_empirical_bytes(mb, n, 0) - 1, &c);
                cr_assert(c >= 1 && c < n && bound > 0, "chunk %zu", c);
                cr_assert_eq(lm_kernel_empirical(mb, theta, X, n, rb, bound, kc, NULL, &err), LM_OK,
                             "%s", err.msg);
                e = rel_fro(kc, ka, nk * nk);
                cr_assert(e < 1e-12, "%s %s chunks of %zu: %g", an, pn, c, e);
                assert_symmetric(kc, nk);
            }
            free(theta);
            free(ka);
            free(kb);
            free(la);
            free(lb);
            free(kc);
            lm_mlp_free(ma);
            lm_mlp_free(mb);
        }
    LM_CHECK_LEAKS();
}

Test(empirical_graph, residual_network_against_finite_differences) {
    /* linear(5) tanh residual[linear(5) gelu linear(5)] residual[linear(5) tanh linear(5)]
     * linear(2) on [3]: skips feed the same buffer twice, four dense layers */
    const lm_layer_spec ls[] = {gc_linear(5),   gc_act(LM_ACT_TANH), gc_residual(3),
                                gc_linear(5),   gc_act(LM_ACT_GELU), gc_linear(5),
                                gc_residual(3), gc_linear(5),        gc_act(LM_ACT_TANH),
                                gc_linear(5),   gc_linear(2)};
    const size_t shape[] = {3};
    check_fd(ls, sizeof ls / sizeof *ls, shape, 1, LM_PARAM_SP, "residual sp");
    check_fd(ls, sizeof ls / sizeof *ls, shape, 1, LM_PARAM_MUP, "residual mup");
    LM_CHECK_LEAKS();
}

Test(empirical_graph, flatten_of_an_image_input) {
    /* [2, 2, 3] flattened to 12 features, then an MLP with a residual block */
    const lm_layer_spec ls[] = {gc_flatten(),   gc_linear(4), gc_act(LM_ACT_RELU),
                                gc_residual(2), gc_linear(4), gc_act(LM_ACT_SIGMOID),
                                gc_linear(3)};
    const size_t shape[] = {2, 2, 3};
    check_fd(ls, sizeof ls / sizeof *ls, shape, 3, LM_PARAM_NTP, "flatten ntp");
    LM_CHECK_LEAKS();
}

Test(empirical_graph, pools_and_layernorm_against_finite_differences) {
    /* [2, 4, 4] -> avgpool2d(2) -> maxpool2d(2, stride 1) -> flatten (2) -> linear(5) ->
     * layernorm -> gelu -> linear(3): the layer norm's gain and bias count with linear(5)'s term
     * (lm_mlp_segment_layer), so the two dense-layer terms still sum to the kernel */
    const lm_layer_spec ls[] = {{.type = LM_LAYER_AVGPOOL2D, .kernel = 2, .stride = 2, .bias = -1},
                                {.type = LM_LAYER_MAXPOOL2D, .kernel = 2, .stride = 1, .bias = -1},
                                gc_flatten(),
                                gc_linear(5),
                                {.type = LM_LAYER_LAYERNORM, .eps = 1e-5, .bias = -1},
                                gc_act(LM_ACT_GELU),
                                gc_linear(3)};
    const size_t shape[] = {2, 4, 4};
    check_fd(ls, sizeof ls / sizeof *ls, shape, 3, LM_PARAM_MUP, "pools layernorm mup");
    LM_CHECK_LEAKS();
}

Test(empirical_graph, memory_plan_and_errors_name_the_tensor) {
    const lm_layer_spec ls[] = {gc_linear(4), gc_act(LM_ACT_TANH), gc_linear(2)};
    const size_t shape[] = {3};
    lm_mlp_spec s = gc_spec(ls, 3, shape, 1, LM_PARAM_SP);
    lm_mlp *m;
    cr_assert_eq(lm_mlp_new(&s, &m, NULL), LM_OK);
    const size_t n = 6, k = 2, p = m->n_params; /* 3*4 + 4 + 4*2 + 2 = 26 */
    cr_assert_eq(p, 26);
    /* 8 (s c k p + k): one set for one chunk of all n, two below */
    cr_assert_eq(lm_kernel_empirical_bytes(m, n, 0), 8 * (n * k * p + k));
    cr_assert_eq(lm_kernel_empirical_bytes(m, n, 1), 8 * (n * k * p + k));
    size_t c = 0;
    cr_assert_eq(lm_kernel_empirical_plan(m, n, 0, 8 * (2 * 2 * k * p + k), &c),
                 8 * (2 * 2 * k * p + k));
    cr_assert_eq(c, 2);
    double theta[26], X[18], ntk[144], lr[4] = {1, 1, -1, 1};
    cr_assert_eq(lm_mlp_init(m, 1, theta, NULL), LM_OK);
    fill(X, 18, 2, 1.0);
    for (size_t i = 0; i < 144; i++)
        ntk[i] = 42.0;
    lm_err err = {0};
    const size_t need = 8 * (2 * k * p + k);
    cr_assert_eq(lm_kernel_empirical(m, theta, X, n, NULL, need - 1, ntk, NULL, &err), LM_EINVAL);
    char want[64];
    snprintf(want, sizeof want, "need at least %zu bytes", need);
    cr_assert(strstr(err.msg, want) && strstr(err.msg, "linear(4) tanh linear(2)"), "%s", err.msg);
    cr_assert_eq(lm_kernel_empirical(m, theta, X, n, lr, 0, ntk, NULL, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "seg_lr[2]") && strstr(err.msg, "layers.2.weight"), "%s", err.msg);
    for (size_t i = 0; i < 144; i++)
        cr_assert_eq(ntk[i], 42.0, "output changed on failure");
    lm_mlp_free(m);
    LM_CHECK_LEAKS();
}
