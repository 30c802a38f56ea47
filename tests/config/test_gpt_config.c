/* Tests for model.arch "gpt" in the config: the keys read into lm_gpt_spec and expanded into the
 * layer list (lm_gpt_expand), the canonical JSON holding the architecture's keys rather than the
 * expansion (and parsing back to itself), and each error with its exact message naming the key:
 * a required key missing, d_model not a multiple of heads, keys of the other model kinds
 * beside arch, arch keys without arch, a bad predict, model.bias false. */
#include "cfg_helpers.h"

/* npy data: their sizes are known only when loaded, so the cross checks leave the model be */
#define DATA     "\"data\": {\"source\": \"npy\", \"x\": \"x.npy\", \"y\": \"y.npy\"}"
#define GPT_KEYS "\"arch\": \"gpt\", \"vocab\": 11, \"context\": 5, \"heads\": 2, \"blocks\": 2"
#define GPT(extra)                                                                                 \
    "{" DATA ", \"model\": {" GPT_KEYS ", \"d_model\": 8" extra "}, \"loss\": \"ce\"}"

Test(gpt_config, keys_read_and_expanded) {
    lm_config *c = cfg_ok(GPT(", \"predict\": \"every\""), 0, NULL);
    const lm_mlp_spec *m = &c->model;
    cr_assert_eq(m->arch, LM_ARCH_GPT);
    cr_assert_eq(m->gpt.vocab, 11);
    cr_assert_eq(m->gpt.context, 5);
    cr_assert_eq(m->gpt.d_model, 8);
    cr_assert_eq(m->gpt.heads, 2);
    cr_assert_eq(m->gpt.blocks, 2);
    cr_assert_eq(m->gpt.mlp_ratio, 4); /* the default */
    cr_assert_eq(m->gpt.every, 1);
    /* embedding, 2 x (residual + 4, residual + 4), layernorm, linear: no "last" */
    cr_assert_eq(m->n_layer_specs, 1 + 2 * 10 + 2);
    cr_assert_eq(m->layers[0].type, LM_LAYER_EMBEDDING);
    cr_assert_eq(m->layers[4].type, LM_LAYER_ATTENTION);
    cr_assert_eq(m->layers[4].heads, 2);
    cr_assert_eq(m->layers[4].scale, 0.0); /* sp: 1/sqrt(d_head), resolved by the layer */
    cr_assert_eq(m->layers[8].out, 32);
    cr_assert_eq(m->layers[22].type, LM_LAYER_LINEAR);
    cr_assert_eq(m->layers[22].out, 11);
    cr_assert_eq(m->layers[22].bias, 0);
    cr_assert_eq(m->n_input_shape, 1);
    cr_assert_eq(m->input_shape[0], 5);
    lm_config_free(c);
    /* predict "last" (the default) ends with last, linear; mup sets the attention multiplier
     * sqrt(d_head,base)/d_head, d_head,base = base_width/heads */
    c = cfg_ok(GPT(", \"mlp_ratio\": 2, \"parameterization\": \"mup\", \"base_width\": 4"), 0,
               NULL);
    m = &c->model;
    cr_assert_eq(m->gpt.every, 0);
    cr_assert_eq(m->gpt.mlp_ratio, 2);
    cr_assert_eq(m->n_layer_specs, 1 + 2 * 10 + 3);
    cr_assert_eq(m->layers[22].type, LM_LAYER_LAST);
    cr_assert_eq(m->layers[8].out, 16);
    cr_assert(lm_close(m->layers[4].scale, sqrt(2.0) / 4.0, 1e-15, 0), "%g", m->layers[4].scale);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

/* model.predict defaults from the data: every position for text, the last otherwise */
Test(gpt_config, predict_defaults_from_the_data) {
    lm_config *c = cfg_ok("{\"data\": {\"source\": \"text\", \"path\": \"/nonexistent\", "
                          "\"context\": 5}, \"model\": {\"arch\": \"gpt\", \"vocab\": 256, "
                          "\"context\": 5, \"heads\": 2, \"blocks\": 1, \"d_model\": 8}, "
                          "\"loss\": \"ce\"}",
                          0, NULL);
    cr_assert_eq(c->model.gpt.every, 1);
    cr_assert(strstr(c->json, "\"predict\":\"every\"") != NULL, "%s", c->json);
    cr_assert_neq(c->model.layers[c->model.n_layer_specs - 2].type, LM_LAYER_LAST);
    lm_config_free(c);
    c = cfg_ok(GPT(""), 0, NULL);
    cr_assert_eq(c->model.gpt.every, 0);
    cr_assert_eq(c->model.layers[c->model.n_layer_specs - 2].type, LM_LAYER_LAST);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(gpt_config, canonical_json_has_the_arch_keys) {
    lm_config *a = cfg_ok(GPT(""), 0, NULL);
    cr_assert(strstr(a->json,
                     "\"model\":{\"arch\":\"gpt\",\"vocab\":11,\"context\":5,\"d_model\":8,"
                     "\"heads\":2,\"blocks\":2,\"mlp_ratio\":4,\"predict\":\"last\",") != NULL,
              "%s", a->json);
    cr_assert(strstr(a->json, "\"layers\"") == NULL, "the expansion leaked: %s", a->json);
    cr_assert(strstr(a->json, "\"input_shape\"") == NULL, "%s", a->json);
    cr_assert(strstr(a->json, "\"widths\"") == NULL, "%s", a->json);
    /* the canonical JSON parses back to itself */
    lm_config *b = cfg_ok(a->json, 0, NULL);
    cr_assert_str_eq(b->json, a->json);
    cr_assert_str_eq(b->hash, a->hash);
    /* defaults spelled out are the same run; any architecture key changes it */
    lm_config *c = cfg_ok(GPT(", \"mlp_ratio\": 4, \"predict\": \"last\""), 0, NULL);
    cr_assert_str_eq(c->hash, a->hash);
    const char *sets[] = {"model.heads=4", "model.predict=every", "model.mlp_ratio=2",
                          "model.blocks=1"};
    for (size_t i = 0; i < 4; i++) {
        lm_config *d = cfg_ok(GPT(""), 1, sets + i);
        cr_assert_str_neq(d->hash, a->hash, "%s", sets[i]);
        lm_config_free(d);
    }
    lm_config_free(a);
    lm_config_free(b);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(gpt_config, errors_name_the_key) {
    cfg_fails("{" DATA ", \"model\": {" GPT_KEYS "}}", 0, NULL, LM_EINVAL,
              "cfg.json: missing required key \"model.d_model\" with model.arch \"gpt\"");
    cfg_fails(GPT(""), 1, (const char *[]){"model.heads=3"}, LM_EINVAL,
              "cfg.json: model.d_model = 8 is not a multiple of model.heads = 3 (each head has "
              "d_model/heads features)");
    cfg_fails(GPT(", \"widths\": [5, 11]"), 0, NULL, LM_EINVAL,
              "cfg.json: model.widths: does not apply with model.arch \"gpt\" (its layers are "
              "the architecture's: vocab, context, d_model, heads, blocks, mlp_ratio, predict)");
    cfg_fails(GPT(", \"layers\": [{\"type\": \"linear\", \"out\": 3}]"), 0, NULL, LM_EINVAL,
              "cfg.json: model.layers: does not apply with model.arch \"gpt\" (its layers are "
              "the architecture's: vocab, context, d_model, heads, blocks, mlp_ratio, predict)");
    cfg_fails(GPT(", \"predict\": \"bogus\""), 0, NULL, LM_EINVAL,
              "cfg.json: model.predict: expected one of \"last\", \"every\", got string \"bogus\"");
    cfg_fails(GPT(", \"bias\": false"), 0, NULL, LM_EINVAL,
              "cfg.json: model.bias: does not apply with model.arch \"gpt\" (its linear layers "
              "have biases, the head none)");
    cfg_fails(GPT(""), 1, (const char *[]){"model.blocks=0"}, LM_ERANGE,
              "--set model.blocks=0: model.blocks: expected a positive integer, got 0");
    cfg_fails("{" DATA ", \"model\": {\"arch\": \"gtp\", \"vocab\": 3}}", 0, NULL, LM_EINVAL,
              "cfg.json: model.arch: expected one of \"gpt\", got string \"gtp\" (did you mean "
              "\"gpt\"?)");
    cfg_fails("{" DATA ", \"model\": {\"widths\": [5, 11], \"heads\": 2}}", 0, NULL, LM_EINVAL,
              "cfg.json: model.heads: applies only with model.arch \"gpt\"");
    LM_CHECK_LEAKS();
}
