/*
 * Tests for the sequence layers (layer_embed.c: embedding, last) and the per-position linear and
 * layer norm on sequences [1, T, d]: derivatives by graph_check.h for every parameterization and
 * both prediction modes (at the last position, and at every position: n*T rows of the loss),
 * forward values against plain loops, the token check, and shape errors.
 */
#include "graph_check.h"
#include "model/graph.h"

#include <stdlib.h>

static const lm_param params[] = {LM_PARAM_SP, LM_PARAM_NTP, LM_PARAM_MUP};

/* embedding(V, d) [residual: layernorm, linear(2d), tanh, linear(d)] layernorm [last] linear(V) */
static lm_mlp_spec seq_spec(size_t len, size_t vocab, size_t d, int every, lm_param prm) {
    lm_layer_spec ls[16];
    size_t n = 0;
    ls[n++] = gc_embedding(vocab, d);
    ls[n++] = gc_residual(4);
    ls[n++] = gc_layernorm();
    ls[n++] = gc_linear(2 * d);
    ls[n++] = gc_act(LM_ACT_TANH);
    ls[n++] = gc_linear(d);
    ls[n++] = gc_layernorm();
    if (!every)
        ls[n++] = gc_last();
    ls[n++] = gc_linear(vocab);
    const size_t shape[] = {len};
    return gc_spec(ls, n, shape, 1, prm);
}

Test(seq, derivatives_every_parameterization_and_mode) {
    for (size_t p = 0; p < 3; p++)
        for (int every = 0; every < 2; every++)
            for (size_t len = 1; len <= 4; len += 3) {
                char what[96];
                snprintf(what, sizeof what, "%s every=%d T=%zu", lm_param_name(params[p]), every,
                         len);
                lm_mlp_spec s = seq_spec(len, 5, 3, every, params[p]);
                gc_check(&s, LM_LOSS_CE, 3, 11 + p, what);
                gc_check(&s, LM_LOSS_MSE, 2, 17 + p, what);
            }
}

Test(seq, shapes_positions_and_names) {
    lm_mlp *m = NULL;
    lm_err err = {0};
    lm_mlp_spec s = seq_spec(4, 7, 3, 1, LM_PARAM_SP);
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(m->d_in, 4);
    cr_assert_eq(m->d_out, 4 * 7);
    cr_assert_eq(m->positions, 4);
    cr_assert_str_eq(m->tensor[0].name, "layers.0.tok_emb.weight");
    cr_assert_str_eq(m->tensor[1].name, "layers.0.pos_emb.weight");
    cr_assert_eq(m->tensor[0].shape[0], 7);
    cr_assert_eq(m->tensor[0].shape[1], 3);
    cr_assert_eq(m->tensor[1].shape[0], 4);
    /* the per-position linear's weight is [out, d], not [out, T*d] */
    cr_assert_str_eq(m->tensor[4].name, "layers.1.body.1.weight");
    cr_assert_eq(m->tensor[4].shape[0], 6);
    cr_assert_eq(m->tensor[4].shape[1], 3);
    lm_mlp_free(m);
    s = seq_spec(4, 7, 3, 0, LM_PARAM_SP);
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(m->d_out, 7);
    cr_assert_eq(m->positions, 1);
    lm_mlp_free(m);
    LM_CHECK_LEAKS();
}

/* The forward pass against plain loops: embedding + per-position linear (no residual). */
Test(seq, forward_matches_loops) {
    const size_t len = 3, V = 5, d = 2, o = 4, n = 2;
    lm_layer_spec ls[] = {gc_embedding(V, d), gc_linear(o)};
    const size_t shape[] = {len};
    lm_mlp_spec s = gc_spec(ls, 2, shape, 1, LM_PARAM_SP);
    lm_mlp *m = NULL;
    lm_mlp_ws *ws = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F64, &ws, &err), LM_OK);
    double *th = malloc(m->n_params * sizeof *th), f[2 * 3 * 4];
    lm_mlp_init(m, 3, th, NULL);
    for (size_t i = 0; i < m->n_params; i++)
        th[i] += 0.1 * (double) i;
    const double x[] = {4, 0, 2, 1, 1, 3};
    cr_assert_eq(lm_mlp_forward(m, ws, th, x, n, f, &err), LM_OK, "%s", err.msg);
    const double *tok = th, *pos = th + V * d, *W = pos + len * d, *b = W + o * d;
    for (size_t e = 0; e < n; e++)
        for (size_t t = 0; t < len; t++)
            for (size_t j = 0; j < o; j++) {
                double ref = b[j];
                for (size_t c = 0; c < d; c++)
                    ref += W[j * d + c] * (tok[(size_t) x[e * len + t] * d + c] + pos[t * d + c]);
                cr_assert(lm_close(f[(e * len + t) * o + j], ref, 1e-14, 1e-14));
            }
    /* token ids are checked: not an integer, negative, too large */
    const double bad[][6] = {{4, 0, 2.5, 1, 1, 3}, {4, 0, 2, -1, 1, 3}, {4, 0, 2, 1, 5, 3}};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(lm_mlp_forward(m, ws, th, bad[i], n, f, &err), LM_EINVAL);
        cr_assert(strstr(err.msg, "not a token id") && strstr(err.msg, "0 to 4"), "%s", err.msg);
    }
    free(th);
    lm_mlp_ws_free(ws);
    lm_mlp_free(m);
    LM_CHECK_LEAKS();
}

Test(seq, errors_name_the_layer) {
    lm_mlp *m = NULL;
    lm_err err = {0};
    const size_t img[] = {1, 4, 4}, tok[] = {4};
    /* an embedding after another layer */
    lm_layer_spec a[] = {gc_flatten(), gc_embedding(5, 2), gc_linear(3)};
    lm_mlp_spec s = gc_spec(a, 3, img, 3, LM_PARAM_SP);
    cr_assert_neq(lm_mlp_new(&s, &m, &err), LM_OK);
    cr_assert(strstr(err.msg, "model.layers[1]") && strstr(err.msg, "embedding"), "%s", err.msg);
    /* last on a non-sequence */
    lm_layer_spec b[] = {gc_flatten(), gc_last(), gc_linear(3)};
    s = gc_spec(b, 3, img, 3, LM_PARAM_SP);
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_ESHAPE);
    cr_assert(strstr(err.msg, "model.layers[1] (last)"), "%s", err.msg);
    /* images still need a flatten before linear */
    lm_layer_spec c[] = {gc_linear(3)};
    s = gc_spec(c, 1, img, 3, LM_PARAM_SP);
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_ESHAPE);
    /* vocab 0 */
    lm_layer_spec e[] = {gc_embedding(0, 2), gc_linear(3)};
    s = gc_spec(e, 2, tok, 1, LM_PARAM_SP);
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "vocab"), "%s", err.msg);
    LM_CHECK_LEAKS();
}
