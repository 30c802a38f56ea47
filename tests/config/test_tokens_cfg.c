/* Config tests for the token-sequence keys (data.encoding, path, context, stride, test_frac,
 * vocab): parsing, the token-set rules named by key, the data's widths, and the canonical JSON
 * (new keys only where used, so earlier hashes stand). */
#include "cfg_helpers.h"

#define MODADD_TOK "\"data\": {\"source\": \"modadd\", \"modulus\": 11, \"encoding\": \"tokens\""
#define TEXT_SRC   "\"data\": {\"source\": \"text\", \"path\": \"/tmp/t.txt\""

Test(tokens_cfg, modadd_tokens_widths_and_canonical) {
    lm_config *c = cfg_ok("{\"model\": {\"widths\": [3, 16, 12]}, " MODADD_TOK "}}", 0, NULL);
    cr_assert_eq(c->data.encoding, LM_ENCODING_TOKENS);
    cr_assert(strstr(c->json, "\"train_frac\":0.5,\"encoding\":\"tokens\",\"vocab\":12}"), "%s",
              c->json);
    lm_config_free(c);
    cfg_fails("{\"model\": {\"widths\": [22, 11]}, " MODADD_TOK "}}", 0, NULL, LM_EINVAL,
              "cfg.json: model.widths: first entry is 22 but data \"modadd\" with modulus 11 has "
              "3 inputs");
    cfg_fails("{\"model\": {\"widths\": [3, 11]}, " MODADD_TOK "}}", 0, NULL, LM_EINVAL,
              "cfg.json: model.widths: last entry is 11 but data \"modadd\" with targets "
              "\"onehot\" has 12 outputs");
    cfg_fails("{\"model\": {\"widths\": [3, 12]}, " MODADD_TOK ", \"vocab\": 11}}", 0, NULL,
              LM_EINVAL,
              "cfg.json: data.vocab: is 11, but modadd tokens have vocab modulus + 1 = 12 (the "
              "residues and the \"=\" token)");
    cfg_fails("{\"model\": {\"widths\": [3, 1]}, " MODADD_TOK ", \"targets\": \"index\"}}", 0, NULL,
              LM_EINVAL,
              "cfg.json: data.targets: is \"index\", but a token set needs \"onehot\" (targets "
              "over the vocabulary)");
    /* the one-hot encoding's canonical text has no new key */
    c = cfg_ok("{\"model\": {\"widths\": [22, 11]}, \"data\": {\"source\": \"modadd\", "
               "\"modulus\": 11}}",
               0, NULL);
    cr_assert_null(strstr(c->json, "encoding"));
    cr_assert_null(strstr(c->json, "vocab"));
    lm_config_free(c);
}

Test(tokens_cfg, text_keys) {
    lm_config *c = cfg_ok("{\"model\": {\"widths\": [8, 2048]}, " TEXT_SRC
                          ", \"context\": 8, \"test_frac\": 0}}",
                          0, NULL);
    cr_assert_eq(c->data.source, LM_DATA_TEXT);
    cr_assert_eq(c->data.context, 8);
    cr_assert_eq(c->data.test_frac, 0.0);
    cr_assert(strstr(c->json, "\"path\":\"/tmp/t.txt\",\"context\":8,\"stride\":8,"
                              "\"test_frac\":0.0,\"vocab\":256}"),
              "%s", c->json);
    lm_config_free(c);
    cfg_fails("{\"model\": {\"widths\": [64, 16384]}, \"data\": {\"source\": \"text\"}}", 0, NULL,
              LM_EINVAL, "cfg.json: missing required key \"data.path\" for data \"text\"");
    cfg_fails("{\"model\": {\"widths\": [64, 256]}, " TEXT_SRC "}}", 0, NULL, LM_EINVAL,
              "cfg.json: model.widths: last entry is 256 but data \"text\" with context 64 (x 256 "
              "bytes) has 16384 outputs");
    cfg_fails("{\"model\": {\"widths\": [64, 16384]}, " TEXT_SRC ", \"normalize\": \"sphere\"}}", 0,
              NULL, LM_EINVAL,
              "cfg.json: data.normalize: is \"sphere\", but token ids are not features: a token "
              "set needs \"none\"");
    cfg_fails("{\"model\": {\"widths\": [64, 16384]}, " TEXT_SRC ", \"vocab\": 300}}", 0, NULL,
              LM_EINVAL, "cfg.json: data.vocab: is 300, but text tokens are bytes: vocab 256");
    cfg_fails("{\"model\": {\"widths\": [64, 16384]}, " TEXT_SRC ", \"test_frac\": 1}}", 0, NULL,
              LM_ERANGE, "cfg.json: data.test_frac: expected a number in [0, 1), got 1");
    cfg_fails("{\"model\": {\"widths\": [64, 16384]}, " TEXT_SRC ", \"context\": 0}}", 0, NULL,
              LM_ERANGE, "cfg.json: data.context: expected a positive integer, got 0");
}

Test(tokens_cfg, refused_elsewhere) {
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"data\": {\"vocab\": 10}}", 0, NULL, LM_EINVAL,
              "cfg.json: data.vocab: is given, but data \"fashion-mnist\" is not a token set "
              "(text, or modadd/npy with data.encoding \"tokens\")");
    cfg_fails("{\"model\": {\"widths\": [16, 1]}, \"data\": {\"source\": \"teacher\", "
              "\"encoding\": \"tokens\"}}",
              0, NULL, LM_EINVAL,
              "cfg.json: data.encoding: \"tokens\" is for modadd and npy (text is always "
              "tokens), but data.source is \"teacher\"");
    cfg_fails(
        "{\"model\": {\"widths\": [16, 1]}, \"data\": {\"encoding\": \"bytes\"}}", 0, NULL,
        LM_EINVAL,
        "cfg.json: data.encoding: expected one of \"onehot\", \"tokens\", got string \"bytes\"");
}
