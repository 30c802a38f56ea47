/*
 * gpt.c: model.arch "gpt" (lmech/model.h: lm_gpt_spec): its expansion into the layer list the
 * layer graph runs, and the reference module's tensor names. The module is
 * tests/fixtures/lmech_torch.py's GPT (docs/models.md): nanoGPT's pre-norm block with a fused
 * qkv projection, learned positions, GELU by erf, and a bias-free head.
 */
#include "model/graph.h"
#include "model/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static lm_layer_spec layer(lm_layer_type t) {
    lm_layer_spec l;
    memset(&l, 0, sizeof l);
    l.type = t;
    l.bias = 1;
    return l;
}

static lm_layer_spec linear(size_t out, int bias) {
    lm_layer_spec l = layer(LM_LAYER_LINEAR);
    l.out = out;
    l.bias = bias;
    return l;
}

static lm_layer_spec norm(void) {
    lm_layer_spec l = layer(LM_LAYER_LAYERNORM);
    l.eps = 1e-5;
    return l;
}

lm_status lm_gpt_expand(lm_mlp_spec *s, lm_err *err) {
    const lm_gpt_spec *g = &s->gpt;
    static const char *const names[] = {"vocab", "context", "d_model",
                                        "heads", "blocks",  "mlp_ratio"};
    const size_t vals[] = {g->vocab, g->context, g->d_model, g->heads, g->blocks, g->mlp_ratio};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++)
        if (vals[i] == 0)
            LM_FAIL(err, LM_EINVAL, "model.%s is 0: the gpt architecture needs it positive",
                    names[i]);
    if (g->d_model % g->heads)
        LM_FAIL(err, LM_EINVAL,
                "model.d_model = %zu is not a multiple of model.heads = %zu (each head has "
                "d_model/heads features)",
                g->d_model, g->heads);
    const int every = g->every > 0; /* < 0 (not decided yet) builds the last-position model */
    const size_t per_block = 10, fixed = 3 + (every ? 0 : 1);
    if (g->blocks > (LM_MAX_LAYER_SPECS - fixed) / per_block || 4 * g->blocks + 2 > LM_MAX_LAYERS)
        LM_FAIL(err, LM_ERANGE, "model.blocks = %zu: at most %zu blocks", g->blocks,
                (LM_MAX_LAYER_SPECS - fixed) / per_block);
    const size_t d = g->d_model, dh = d / g->heads;
    double scale = 0.0; /* 1/sqrt(d_head) */
    if (s->param == LM_PARAM_MUP) {
        const double dh0 = s->base_width ? (double) s->base_width / (double) g->heads : (double) dh;
        scale = sqrt(dh0) / (double) dh;
    }
    size_t n = 0;
    lm_layer_spec *L = s->layers;
    L[n] = layer(LM_LAYER_EMBEDDING);
    L[n].vocab = g->vocab;
    L[n++].out = d;
    for (size_t b = 0; b < g->blocks; b++) {
        L[n] = layer(LM_LAYER_RESIDUAL);
        L[n++].body_len = 4;
        L[n++] = norm();
        L[n++] = linear(3 * d, 1);
        L[n] = layer(LM_LAYER_ATTENTION);
        L[n].heads = g->heads;
        L[n++].scale = scale;
        L[n++] = linear(d, 1);
        L[n] = layer(LM_LAYER_RESIDUAL);
        L[n++].body_len = 4;
        L[n++] = norm();
        L[n++] = linear(g->mlp_ratio * d, 1);
        L[n] = layer(LM_LAYER_ACT);
        L[n++].act = LM_ACT_GELU;
        L[n++] = linear(d, 1);
    }
    L[n++] = norm();
    if (!every)
        L[n++] = layer(LM_LAYER_LAST);
    L[n++] = linear(g->vocab, 0);
    s->n_layer_specs = n;
    s->n_input_shape = 1;
    s->input_shape[0] = g->context;
    s->input_shape[1] = s->input_shape[2] = 0;
    s->bias = 1;
    return LM_OK;
}

/* Renames the graph's tensors (made in the expansion's order) to the reference module's. */
lm_status lm__gpt_names(lm_mlp *m, lm_err *err) {
    static const char *const block[] = {"ln1.weight",    "ln1.bias",         "attn.qkv.weight",
                                        "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
                                        "ln2.weight",    "ln2.bias",         "mlp.fc.weight",
                                        "mlp.fc.bias",   "mlp.proj.weight",  "mlp.proj.bias"};
    const size_t nb = m->spec.gpt.blocks, per = sizeof block / sizeof *block;
    if (m->n_tensors != 2 + nb * per + 3)
        LM_FAIL(err, LM_EINVAL, "model.arch \"gpt\": %zu parameter tensors, expected %zu",
                m->n_tensors, 2 + nb * per + 3);
    size_t t = 0;
    snprintf(m->tensor[t++].name, LM_TENSOR_NAME, "tok_emb.weight");
    snprintf(m->tensor[t++].name, LM_TENSOR_NAME, "pos_emb.weight");
    for (size_t b = 0; b < nb; b++)
        for (size_t i = 0; i < per; i++)
            snprintf(m->tensor[t++].name, LM_TENSOR_NAME, "blocks.%zu.%s", b, block[i]);
    snprintf(m->tensor[t++].name, LM_TENSOR_NAME, "ln_f.weight");
    snprintf(m->tensor[t++].name, LM_TENSOR_NAME, "ln_f.bias");
    snprintf(m->tensor[t++].name, LM_TENSOR_NAME, "head.weight");
    return LM_OK;
}
