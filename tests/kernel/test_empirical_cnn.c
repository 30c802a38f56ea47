/*
 * test_empirical_cnn.c: the empirical NTK of a small CNN with a residual block (conv2d layers,
 * src/model/layer_conv.c) against J diag(lr) J^T with J from central finite differences of the
 * outputs, per dense (linear or conv2d) layer and summed, whole and in chunks of one input
 * (check_fd in empirical_graph_check.h).
 */
#include "empirical_graph_check.h"

static lm_layer_spec conv(size_t out, size_t k, size_t s, size_t p) {
    lm_layer_spec l = {
        .type = LM_LAYER_CONV2D, .out = out, .kernel = k, .stride = s, .padding = p, .bias = -1};
    return l;
}

Test(empirical_cnn, conv_residual_against_finite_differences) {
    /* [2, 5, 5] -> conv2d(3, 3, pad 1) tanh residual[conv2d(3, 3, pad 1) gelu] conv2d(2, 2,
     * stride 2) avgpool2d(2) flatten linear(3): four dense layers, three of them convolutions */
    const lm_layer_spec ls[] = {conv(3, 3, 1, 1),
                                gc_act(LM_ACT_TANH),
                                gc_residual(2),
                                conv(3, 3, 1, 1),
                                gc_act(LM_ACT_GELU),
                                conv(2, 2, 2, 0),
                                {.type = LM_LAYER_AVGPOOL2D, .kernel = 2, .stride = 2, .bias = -1},
                                gc_flatten(),
                                gc_linear(3)};
    const size_t shape[] = {2, 5, 5};
    check_fd(ls, sizeof ls / sizeof *ls, shape, 3, LM_PARAM_SP, "cnn sp");
    check_fd(ls, sizeof ls / sizeof *ls, shape, 3, LM_PARAM_MUP, "cnn mup");
    LM_CHECK_LEAKS();
}
