/* Tests for the cross-key checks: loss against targets, the model's input and output widths
 * against the data's dimensions (where known before loading), npy's required files, layer_lr's
 * length and the batch size against the training set. */
#include "cfg_helpers.h"

Test(cross, output_width_of_classes) {
    cfg_fails("{\"model\": {\"widths\": [784, 7]}}", 0, NULL, LM_EINVAL,
              "cfg.json: model.widths: last entry is 7 but data \"fashion-mnist\" with targets "
              "\"onehot\" has 10 outputs");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"data\": {\"targets\": \"parity\"}}", 0, NULL,
              LM_EINVAL,
              "cfg.json: model.widths: last entry is 10 but data \"fashion-mnist\" with targets "
              "\"parity\" has 1 output");
    lm_config *c =
        cfg_ok("{\"model\": {\"widths\": [784, 1]}, \"data\": {\"targets\": \"index\"}}", 0, NULL);
    lm_config_free(c);
    cfg_fails("{\"model\": {\"widths\": [22, 10]}, \"data\": {\"source\": \"modadd\", \"modulus\": "
              "11}}",
              0, NULL, LM_EINVAL,
              "cfg.json: model.widths: last entry is 10 but data \"modadd\" with targets "
              "\"onehot\" has 11 outputs");
    LM_CHECK_LEAKS();
}

Test(cross, input_width) {
    cfg_fails("{\"model\": {\"widths\": [700, 10]}, \"data\": {\"pool\": 2}}", 0, NULL, LM_EINVAL,
              "cfg.json: model.widths: first entry is 700 but data \"fashion-mnist\" with pool 2 "
              "has 196 inputs");
    lm_config *c = cfg_ok("{\"model\": {\"widths\": [49, 10]}, \"data\": {\"pool\": 4, "
                          "\"source\": \"mnist\"}}",
                          0, NULL);
    lm_config_free(c);
    cfg_fails("{\"model\": {\"widths\": [97, 97]}, \"data\": {\"source\": \"modadd\"}}", 0, NULL,
              LM_EINVAL,
              "cfg.json: model.widths: first entry is 97 but data \"modadd\" with modulus 97 has "
              "194 inputs");
    cfg_fails("{\"model\": {\"widths\": [3, 1]}, \"data\": {\"source\": \"circle\"}}", 0, NULL,
              LM_EINVAL,
              "cfg.json: model.widths: first entry is 3 but data \"circle\" has 2 inputs");
    cfg_fails("{\"model\": {\"widths\": [16, 8, 2]}, \"data\": {\"source\": \"powerlaw\"}}", 0,
              NULL, LM_EINVAL,
              "cfg.json: model.widths: last entry is 2 but data \"powerlaw\" has 1 output");
    cfg_fails("{\"model\": {\"widths\": [8, 2]}, \"data\": {\"source\": \"teacher\", \"dim\": 8, "
              "\"outputs\": 3}}",
              0, NULL, LM_EINVAL,
              "cfg.json: model.widths: last entry is 2 but data \"teacher\" with outputs 3 has 3 "
              "outputs");
    cfg_fails("{\"model\": {\"widths\": [8, 1]}, \"data\": {\"source\": \"teacher\"}}", 0, NULL,
              LM_EINVAL,
              "cfg.json: model.widths: first entry is 8 but data \"teacher\" with dim 16 has 16 "
              "inputs");
    LM_CHECK_LEAKS();
}

Test(cross, loss_ce_needs_onehot_classes) {
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"loss\": \"ce\", \"data\": {\"targets\": "
              "\"pm1\"}}",
              0, NULL, LM_EINVAL,
              "cfg.json: loss \"ce\" needs data.targets \"onehot\", got \"pm1\"");
    cfg_fails("{\"model\": {\"widths\": [2, 1]}, \"loss\": \"ce\", \"data\": {\"source\": "
              "\"circle\"}}",
              0, NULL, LM_EINVAL,
              "cfg.json: loss \"ce\" needs class labels, but data \"circle\" is a regression set "
              "(use \"mse\" or \"mse_mean\")");
    lm_config *c = cfg_ok("{\"model\": {\"widths\": [784, 10]}, \"loss\": \"ce\"}", 0, NULL);
    cr_assert_eq(c->loss, LM_LOSS_CE);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(cross, npy_files) {
    cfg_fails("{\"model\": {\"widths\": [5, 3]}, \"data\": {\"source\": \"npy\"}}", 0, NULL,
              LM_EINVAL, "cfg.json: missing required key \"data.x\" for data \"npy\"");
    cfg_fails(
        "{\"model\": {\"widths\": [5, 3]}, \"data\": {\"source\": \"npy\", \"x\": \"a.npy\"}}", 0,
        NULL, LM_EINVAL, "cfg.json: missing required key \"data.y\" for data \"npy\"");
    cfg_fails("{\"model\": {\"widths\": [5, 3]}, \"data\": {\"source\": \"npy\", \"x\": \"a.npy\", "
              "\"y\": \"b.npy\", \"test_y\": \"c.npy\"}}",
              0, NULL, LM_EINVAL,
              "cfg.json: data.test_y is given but data.test_x is not: give both test files or "
              "neither");
    /* dimensions of npy data are known only at load time: any widths pass */
    lm_config *c = cfg_ok("{\"model\": {\"widths\": [5, 3]}, \"data\": {\"source\": \"npy\", "
                          "\"x\": \"a.npy\", \"y\": \"b.npy\"}}",
                          0, NULL);
    cr_assert_str_eq(c->data.x, "a.npy");
    cr_assert_str_eq(c->data.dir, "");
    cr_assert_eq(c->data.normalize, LM_NORM_DEFAULT);
    cr_assert(strstr(c->json, "\"normalize\":\"default\""));
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(cross, layer_lr_length_and_batch) {
    cfg_fails("{\"model\": {\"widths\": [784, 32, 10]}, \"optimizer\": {\"layer_lr\": [1]}}", 0,
              NULL, LM_EINVAL,
              "cfg.json: optimizer.layer_lr: expected an array of 2 positive numbers (one per "
              "linear layer), got 1 entries (model.widths has 2 layers)");
    cfg_fails("{\"model\": {\"widths\": [784, 32, 10]}, \"optimizer\": {\"layer_lr\": [1, 0]}}", 0,
              NULL, LM_ERANGE, "cfg.json: optimizer.layer_lr[1]: expected a number > 0, got 0");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"data\": {\"train_size\": 100}, "
              "\"batch_size\": 128}",
              0, NULL, LM_EINVAL,
              "cfg.json: batch_size: 128 is larger than data.train_size 100 (0 means full batch)");
    LM_CHECK_LEAKS();
}
