/* Tests for lm_config_parse / lm_config_load: defaults, every key read into its spec field, and
 * every class of error with its exact message (unknown key with suggestion, wrong type with the
 * key path and array index, out of range, syntax error with line and column, missing file,
 * missing required keys), plus the all-or-nothing guarantee under failed allocations. */
#include "cfg_helpers.h"

#include <math.h>

Test(config, defaults_filled) {
    lm_config *c = cfg_ok(MIN_CFG, 0, NULL);
    cr_assert_eq(c->seed, 0);
    cr_assert_eq(c->data.source, LM_DATA_FASHION_MNIST);
    cr_assert_str_eq(c->data.dir, "/usr/share/datasets/fashion-mnist");
    cr_assert_str_eq(c->data.x, "");
    cr_assert_eq(c->data.train_size, LM_ALL);
    cr_assert_eq(c->data.test_size, LM_ALL);
    cr_assert_eq(c->data.subset, LM_SUBSET_FIRST);
    cr_assert_eq(c->data.pool, 1);
    cr_assert_eq(c->data.normalize, LM_NORM_DEFAULT);
    cr_assert_eq(c->data.targets, LM_TARGETS_ONEHOT);
    cr_assert_eq(c->data.dim, 16);
    cr_assert_eq(c->data.outputs, 1);
    cr_assert_eq(c->data.teacher_width, 0);
    cr_assert_eq(c->data.noise, 0.0);
    cr_assert_eq(c->data.alpha, 1.5);
    cr_assert_eq(c->data.beta, 1.6);
    cr_assert_eq(c->data.n_freq, 4);
    cr_assert_eq(c->data.frequencies[3], 8);
    cr_assert_eq(c->data.modulus, 97);
    cr_assert_eq(c->data.train_frac, 0.5);
    cr_assert_eq(c->model.n_widths, 2);
    cr_assert_eq(c->model.widths[0], 784);
    cr_assert_eq(c->model.widths[1], 10);
    cr_assert_eq(c->model.act, LM_ACT_RELU);
    cr_assert_eq(c->model.bias, 1);
    cr_assert_eq(c->model.param, LM_PARAM_SP);
    cr_assert_eq(c->model.base_width, 0);
    cr_assert_eq(c->model.output_multiplier, 1.0);
    cr_assert_eq(c->model.sw2, 1.0);
    cr_assert_eq(c->model.sb2, 0.0);
    cr_assert_eq(c->loss, LM_LOSS_MSE);
    cr_assert_eq(c->optim.kind, LM_OPT_SGD);
    cr_assert_eq(c->optim.lr, 0.1);
    cr_assert_eq(c->optim.momentum, 0.0);
    cr_assert_eq(c->optim.beta1, 0.9);
    cr_assert_eq(c->optim.beta2, 0.999);
    cr_assert_eq(c->optim.eps, 1e-8);
    cr_assert_eq(c->optim.weight_decay, 0.0);
    cr_assert_eq(c->optim.schedule, LM_SCHED_CONSTANT);
    cr_assert_eq(c->optim.warmup_steps, 0);
    cr_assert_eq(c->optim.final_lr_frac, 0.0);
    cr_assert_eq(c->optim.n_layer_lr, 0);
    cr_assert_eq(c->train.steps, 100);
    cr_assert_eq(c->train.epochs, 0);
    cr_assert_eq(c->train.batch_size, 0);
    cr_assert_eq(c->train.eval_every, 100);
    cr_assert_eq(c->train.dtype, LM_F64);
    cr_assert_eq(c->train.threads, 0);
    cr_assert_eq(c->train.sharpness_every, 0);
    cr_assert_str_eq(c->name, "");
    cr_assert_str_eq(c->notes, "");
    cr_assert_eq(strlen(c->hash), 64);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

/* The canonical JSON of the defaults, spelled out: the format is a contract with the run
 * database (changing it changes every run's hash). */
Test(config, canonical_of_defaults) {
    lm_config *c = cfg_ok(MIN_CFG, 0, NULL);
    const char *want =
        "{\"seed\":0,\"data\":{\"source\":\"fashion-mnist\",\"dir\":\"/usr/share/datasets/"
        "fashion-mnist\",\"x\":\"\",\"y\":\"\",\"test_x\":\"\",\"test_y\":\"\",\"train_size\":"
        "\"all\",\"test_size\":\"all\",\"subset\":\"first\",\"pool\":1,\"normalize\":\"scale01\","
        "\"targets\":\"onehot\",\"dim\":16,\"outputs\":1,\"teacher_width\":0,\"noise\":0.0,"
        "\"alpha\":1.5,\"beta\":1.6,\"frequencies\":[1,2,4,8],\"modulus\":97,\"train_frac\":0.5},"
        "\"model\":{\"widths\":[784,10],\"activation\":\"relu\",\"bias\":true,"
        "\"parameterization\":\"sp\",\"base_width\":0,\"output_multiplier\":1.0,\"sw2\":1.0,"
        "\"sb2\":0.0,\"readout_zero\":false},\"loss\":\"mse\",\"optimizer\":{\"name\":\"sgd\","
        "\"lr\":0.1,\"momentum\":"
        "0.0,\"betas\":[0.9,0.999],\"eps\":1e-08,\"weight_decay\":0.0,\"schedule\":{\"name\":"
        "\"constant\",\"warmup_steps\":0,\"final_lr_frac\":0.0},\"layer_lr\":[1.0]},"
        "\"batch_size\":0,\"steps\":100,\"eval_every\":100,\"dtype\":\"float64\",\"threads\":0,"
        "\"sharpness_every\":0,\"probe_every\":0,\"probe_size\":256,\"repr_every\":0,\"weights_"
        "every\":0,\"noise_every\":0,\"name\":\"\",\"notes\":\"\"}";
    cr_assert_str_eq(c->json, want);
    char hex[65];
    lm_sha256_hex(c->json, strlen(c->json), hex);
    cr_assert_str_eq(c->hash, hex);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

/* model.center_output is part of the run's identity when true; false (the default) is not
 * written, so the hashes of runs made before the key existed stand. */
Test(config, center_output_in_canonical_json_and_hash) {
    const char *on[] = {"model.center_output=true"}, *off[] = {"model.center_output=false"};
    lm_config *a = cfg_ok(MIN_CFG, 0, NULL), *b = cfg_ok(MIN_CFG, 1, on),
              *c = cfg_ok(MIN_CFG, 1, off);
    cr_assert_eq(a->center_output, 0);
    cr_assert_eq(b->center_output, 1);
    cr_assert(strstr(a->json, "center_output") == NULL, "%s", a->json);
    cr_assert_str_eq(a->json, c->json);
    cr_assert(strstr(b->json, "\"readout_zero\":false,\"center_output\":true}") != NULL, "%s",
              b->json);
    lm_config *e = cfg_ok(b->json, 0, NULL); /* the canonical JSON parses back to itself */
    cr_assert_str_eq(e->json, b->json);
    lm_config_free(e);
    cr_assert_str_neq(a->hash, b->hash);
    cr_assert_str_eq(a->hash, c->hash); /* false is the default */
    const char *bad[] = {"model.center_output=1"};
    lm_config *d = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(MIN_CFG, strlen(MIN_CFG), "min.json", 1, bad, &d, &err),
                 LM_EINVAL);
    cr_assert(strstr(err.msg, "model.center_output") != NULL, "%s", err.msg);
    lm_config_free(a);
    lm_config_free(b);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(config, every_key_read) {
    const char *json =
        "{\"seed\": 12345, \"name\": \"run one\", \"notes\": \"multi\\nline\","
        " \"data\": {\"source\": \"teacher\", \"train_size\": 500, \"test_size\": 0,"
        "  \"subset\": \"random\", \"normalize\": \"standardize\", \"targets\": \"pm1\","
        "  \"dim\": 8, \"outputs\": 3, \"teacher_width\": 5, \"noise\": 0.25, \"alpha\": 2.5,"
        "  \"beta\": 0.75, \"frequencies\": [3, 0, 9], \"modulus\": 11, \"train_frac\": 0.3,"
        "  \"pool\": 4, \"dir\": \"/d\"},"
        " \"model\": {\"widths\": [8, 6, 3], \"activation\": \"tanh\", \"bias\": false,"
        "  \"parameterization\": \"mup\", \"base_width\": 4, \"output_multiplier\": -0.5,"
        "  \"sw2\": 2.0, \"sb2\": 0.125},"
        " \"loss\": \"mse_mean\","
        " \"optimizer\": {\"name\": \"adamw\", \"lr\": 0.003, \"momentum\": 0.5,"
        "  \"betas\": [0.8, 0.95], \"eps\": 1e-6, \"weight_decay\": 0.01,"
        "  \"schedule\": {\"name\": \"cosine\", \"warmup_steps\": 7, \"final_lr_frac\": 1},"
        "  \"layer_lr\": [2, 0.5]},"
        " \"batch_size\": 32, \"epochs\": 4, \"eval_every\": 9, \"dtype\": \"float32\","
        " \"threads\": 3, \"sharpness_every\": 17}";
    lm_config *c = cfg_ok(json, 0, NULL);
    cr_assert_eq(c->seed, 12345);
    cr_assert_str_eq(c->name, "run one");
    cr_assert_str_eq(c->notes, "multi\nline");
    cr_assert_eq(c->data.source, LM_DATA_TEACHER);
    cr_assert_str_eq(c->data.dir, "/d");
    cr_assert_eq(c->data.train_size, 500);
    cr_assert_eq(c->data.test_size, 0);
    cr_assert_eq(c->data.subset, LM_SUBSET_RANDOM);
    cr_assert_eq(c->data.pool, 4);
    cr_assert_eq(c->data.normalize, LM_NORM_STANDARDIZE);
    cr_assert_eq(c->data.targets, LM_TARGETS_PM1);
    cr_assert_eq(c->data.dim, 8);
    cr_assert_eq(c->data.outputs, 3);
    cr_assert_eq(c->data.teacher_width, 5);
    cr_assert_eq(c->data.noise, 0.25);
    cr_assert_eq(c->data.alpha, 2.5);
    cr_assert_eq(c->data.beta, 0.75);
    cr_assert_eq(c->data.n_freq, 3);
    cr_assert_eq(c->data.frequencies[0], 3);
    cr_assert_eq(c->data.frequencies[1], 0);
    cr_assert_eq(c->data.frequencies[2], 9);
    cr_assert_eq(c->data.modulus, 11);
    cr_assert_eq(c->data.train_frac, 0.3);
    cr_assert_eq(c->model.n_widths, 3);
    cr_assert_eq(c->model.widths[1], 6);
    cr_assert_eq(c->model.act, LM_ACT_TANH);
    cr_assert_eq(c->model.bias, 0);
    cr_assert_eq(c->model.param, LM_PARAM_MUP);
    cr_assert_eq(c->model.base_width, 4);
    cr_assert_eq(c->model.output_multiplier, -0.5);
    cr_assert_eq(c->model.sw2, 2.0);
    cr_assert_eq(c->model.sb2, 0.125);
    cr_assert_eq(c->loss, LM_LOSS_MSE_MEAN);
    cr_assert_eq(c->optim.kind, LM_OPT_ADAMW);
    cr_assert_eq(c->optim.lr, 0.003);
    cr_assert_eq(c->optim.momentum, 0.5);
    cr_assert_eq(c->optim.beta1, 0.8);
    cr_assert_eq(c->optim.beta2, 0.95);
    cr_assert_eq(c->optim.eps, 1e-6);
    cr_assert_eq(c->optim.weight_decay, 0.01);
    cr_assert_eq(c->optim.schedule, LM_SCHED_COSINE);
    cr_assert_eq(c->optim.warmup_steps, 7);
    cr_assert_eq(c->optim.final_lr_frac, 1.0);
    cr_assert_eq(c->optim.n_layer_lr, 2);
    cr_assert_eq(c->optim.layer_lr[0], 2.0);
    cr_assert_eq(c->optim.layer_lr[1], 0.5);
    cr_assert_eq(c->train.steps, 0);
    cr_assert_eq(c->train.epochs, 4);
    cr_assert_eq(c->train.batch_size, 32);
    cr_assert_eq(c->train.eval_every, 9);
    cr_assert_eq(c->train.dtype, LM_F32);
    cr_assert_eq(c->train.threads, 3);
    cr_assert_eq(c->train.sharpness_every, 17);
    cr_assert(strstr(c->json, "\"epochs\":4") && !strstr(c->json, "\"steps\""));
    cr_assert(strstr(c->json, "\"notes\":\"multi\\nline\""));
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(config, momentum_default_depends_on_name) {
    lm_config *c = cfg_ok("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"name\": "
                          "\"nesterov\"}}",
                          0, NULL);
    cr_assert_eq(c->optim.momentum, 0.9);
    lm_config_free(c);
    c = cfg_ok("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"name\": \"momentum\", "
               "\"momentum\": 0}}",
               0, NULL);
    cr_assert_eq(c->optim.momentum, 0.0);
    lm_config_free(c);
    c = cfg_ok("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"name\": \"adam\"}}", 0,
               NULL);
    cr_assert_eq(c->optim.momentum, 0.0);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(config, integral_reals_count_as_integers) {
    lm_config *c = cfg_ok("{\"model\": {\"widths\": [784.0, 3e1, 10]}, \"steps\": 2.0}", 0, NULL);
    cr_assert_eq(c->model.widths[1], 30);
    cr_assert_eq(c->train.steps, 2);
    lm_config_free(c);
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"steps\": 2.5}", 0, NULL, LM_EINVAL,
              "cfg.json: steps: expected a positive integer, got 2.5");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"seed\": 1e300}", 0, NULL, LM_EINVAL,
              "cfg.json: seed: expected an integer >= 0, got 1e+300");
    LM_CHECK_LEAKS();
}

Test(config, aliases_and_schedule_string) {
    lm_config *c = cfg_ok("{\"model\": {\"widths\": [784, 10], \"activation\": \"linear\"},"
                          " \"optimizer\": {\"schedule\": \"warmup\"}}",
                          0, NULL);
    cr_assert_eq(c->model.act, LM_ACT_IDENTITY);
    cr_assert_eq(c->optim.schedule, LM_SCHED_WARMUP);
    cr_assert(strstr(c->json, "\"activation\":\"identity\""));
    cr_assert(strstr(c->json, "\"schedule\":{\"name\":\"warmup\",\"warmup_steps\":0,"));
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(config, unknown_keys) {
    cfg_fails("{\"sede\": 1, \"model\": {\"widths\": [784, 10]}}", 0, NULL, LM_EINVAL,
              "cfg.json: unknown key \"sede\" at top level (did you mean \"seed\"?)");
    cfg_fails("{\"model\": {\"widht\": [784, 10]}}", 0, NULL, LM_EINVAL,
              "cfg.json: unknown key \"model.widht\" (did you mean \"widths\"?)");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"schedule\": {\"warmup\": "
              "3}}}",
              0, NULL, LM_EINVAL, "cfg.json: unknown key \"optimizer.schedule.warmup\"");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"data\": {\"trainsize\": 3}}", 0, NULL,
              LM_EINVAL, "cfg.json: unknown key \"data.trainsize\" (did you mean \"train_size\"?)");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"completely_different\": 3}", 0, NULL,
              LM_EINVAL, "cfg.json: unknown key \"completely_different\" at top level");
    /* messages stay one line: control characters are replaced, long keys are cut */
    cfg_fails("{\"a\\nb\": 1}", 0, NULL, LM_EINVAL, "cfg.json: unknown key \"a?b\" at top level");
    cfg_fails("{\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\": 1}",
              0, NULL, LM_EINVAL,
              "cfg.json: unknown key "
              "\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\" at top level");
    LM_CHECK_LEAKS();
}

Test(config, wrong_types_name_the_path) {
    cfg_fails("{\"model\": {\"widths\": [784, \"a\", 10]}}", 0, NULL, LM_EINVAL,
              "cfg.json: model.widths[1]: expected a positive integer, got string \"a\"");
    cfg_fails("{\"model\": {\"widths\": 784}}", 0, NULL, LM_EINVAL,
              "cfg.json: model.widths: expected an array of 2 to 33 positive integers, got 784");
    cfg_fails("{\"model\": [784, 10]}", 0, NULL, LM_EINVAL,
              "cfg.json: model: expected an object, got an array");
    cfg_fails("{\"model\": {\"widths\": [784, 10], \"bias\": 1}}", 0, NULL, LM_EINVAL,
              "cfg.json: model.bias: expected true or false, got 1");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"lr\": \"fast\"}}", 0, NULL,
              LM_EINVAL, "cfg.json: optimizer.lr: expected a number >= 0, got string \"fast\"");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"betas\": [0.9, null]}}", 0,
              NULL, LM_EINVAL,
              "cfg.json: optimizer.betas[1]: expected a number in [0, 1), got null");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"schedule\": 3}}", 0, NULL,
              LM_EINVAL,
              "cfg.json: optimizer.schedule: expected a schedule name or an object {\"name\", "
              "\"warmup_steps\", \"final_lr_frac\"}, got 3");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"data\": {\"train_size\": \"most\"}}", 0, NULL,
              LM_EINVAL,
              "cfg.json: data.train_size: expected a positive integer or \"all\", got string "
              "\"most\"");
    /* a long string value is cut at 40 bytes, at a UTF-8 character boundary */
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"loss\": "
              "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
              "\xc3\xa9\xc3\xa9"
              "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9xx\xc3\xa9\xc3\xa9\"}",
              0, NULL, LM_EINVAL,
              "cfg.json: loss: expected one of \"mse\", \"mse_mean\", \"ce\", \"mse_observed\", "
              "got string "
              "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
              "\xc3\xa9\xc3\xa9\xc3\xa9"
              "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9xx...\"");
    /* "x" and 20 two-byte characters: byte 40 is the middle of the 20th, which is dropped */
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"loss\": "
              "\"x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
              "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}",
              0, NULL, LM_EINVAL,
              "cfg.json: loss: expected one of \"mse\", \"mse_mean\", \"ce\", \"mse_observed\", "
              "got string "
              "\"x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
              "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...\"");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"name\": 5}", 0, NULL, LM_EINVAL,
              "cfg.json: name: expected a string, got 5");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"data\": {\"x\": true}}", 0, NULL, LM_EINVAL,
              "cfg.json: data.x: expected a string, got true");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"data\": {\"frequencies\": [1, \"2\"]}}", 0,
              NULL, LM_EINVAL,
              "cfg.json: data.frequencies[1]: expected an integer in [0, 2147483647], got string "
              "\"2\"");
    LM_CHECK_LEAKS();
}

Test(config, enum_values_listed_with_suggestion) {
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"name\": \"adamm\"}}", 0, NULL,
              LM_EINVAL,
              "cfg.json: optimizer.name: expected one of \"sgd\", \"momentum\", \"nesterov\", "
              "\"adam\", \"adamw\", got string \"adamm\" (did you mean \"adam\"?)");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"data\": {\"source\": \"cifar10\"}}", 0, NULL,
              LM_EINVAL,
              "cfg.json: data.source: expected one of \"fashion-mnist\", \"mnist\", \"npy\", "
              "\"teacher\", \"powerlaw\", \"circle\", \"modadd\", \"matrix-completion\", "
              "\"linear-modes\", \"text\", got string \"cifar10\"");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"loss\": \"xe\"}", 0, NULL, LM_EINVAL,
              "cfg.json: loss: expected one of \"mse\", \"mse_mean\", \"ce\", \"mse_observed\", "
              "got string \"xe\" "
              "(did you mean \"ce\"?)");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"dtype\": \"float16\"}", 0, NULL, LM_EINVAL,
              "cfg.json: dtype: expected one of \"float64\", \"float32\", got string \"float16\" "
              "(did you mean \"float64\"?)");
    cfg_fails("{\"model\": {\"widths\": [784, 10], \"activation\": \"Relu\"}}", 0, NULL, LM_EINVAL,
              "cfg.json: model.activation: expected one of \"identity\", \"relu\", \"tanh\", "
              "\"erf\", \"gelu\", \"sigmoid\", \"softplus\", \"quadratic\", got string \"Relu\" "
              "(did you mean \"relu\"?)");
    LM_CHECK_LEAKS();
}

Test(config, out_of_range_values) {
    cfg_fails("{\"model\": {\"widths\": [784, -3, 10]}}", 0, NULL, LM_ERANGE,
              "cfg.json: model.widths[1]: expected a positive integer, got -3");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"momentum\": 1.5}}", 0, NULL,
              LM_ERANGE, "cfg.json: optimizer.momentum: expected a number in [0, 1), got 1.5");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"lr\": -0.1}}", 0, NULL,
              LM_ERANGE, "cfg.json: optimizer.lr: expected a number >= 0, got -0.1");
    cfg_fails("{\"model\": {\"widths\": [784, 10], \"output_multiplier\": 0}}", 0, NULL, LM_ERANGE,
              "cfg.json: model.output_multiplier: expected a nonzero number, got 0");
    cfg_fails("{\"model\": {\"widths\": [784, 10], \"sw2\": 0.0}}", 0, NULL, LM_ERANGE,
              "cfg.json: model.sw2: expected a number > 0, got 0.0");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"data\": {\"pool\": 3}}", 0, NULL, LM_ERANGE,
              "cfg.json: data.pool: expected 1, 2 or 4, got 3");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"data\": {\"pool\": 8}}", 0, NULL, LM_ERANGE,
              "cfg.json: data.pool: expected an integer in [1, 4], got 8");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"data\": {\"train_frac\": 1}}", 0, NULL,
              LM_ERANGE, "cfg.json: data.train_frac: expected a number in (0, 1), got 1");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"data\": {\"train_size\": 0}}", 0, NULL,
              LM_ERANGE,
              "cfg.json: data.train_size: expected a positive integer or \"all\", got 0");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"threads\": 5000}", 0, NULL, LM_ERANGE,
              "cfg.json: threads: expected an integer in [0, 1024], got 5000");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"eval_every\": 0}", 0, NULL, LM_ERANGE,
              "cfg.json: eval_every: expected a positive integer, got 0");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"schedule\": {\"name\": "
              "\"cosine\", \"final_lr_frac\": 1.5}}}",
              0, NULL, LM_ERANGE,
              "cfg.json: optimizer.schedule.final_lr_frac: expected a number in [0, 1], got 1.5");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"betas\": [0.9]}}", 0, NULL,
              LM_ERANGE,
              "cfg.json: optimizer.betas: expected an array of 2 numbers in [0, 1), got 1 entries");
    cfg_fails("{\"model\": {\"widths\": [784]}}", 0, NULL, LM_ERANGE,
              "cfg.json: model.widths: expected an array of 2 to 33 positive integers, got 1 "
              "entries");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"data\": {\"frequencies\": "
              "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}}",
              0, NULL, LM_ERANGE,
              "cfg.json: data.frequencies: expected an array of 1 to 16 integers, got 17 entries");
    LM_CHECK_LEAKS();
}

Test(config, missing_and_exclusive_keys) {
    cfg_fails("{}", 0, NULL, LM_EINVAL,
              "cfg.json: missing required key \"model.widths\" (input width first, output width "
              "last), \"model.layers\" or \"model.arch\" (docs/models.md)");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"steps\": 5, \"epochs\": 2}", 0, NULL,
              LM_EINVAL, "cfg.json: \"steps\" and \"epochs\" are both given: give one of them");
    LM_CHECK_LEAKS();
}

Test(config, syntax_errors_give_line_and_column) {
    cfg_fails("{\n  \"seed\": 1,\n  \"model\": {\"widths\": [784 10]}\n}", 0, NULL, LM_EFORMAT,
              "cfg.json:3:29: ']' expected near '10'");
    cfg_fails("", 0, NULL, LM_EFORMAT, "cfg.json:1:0: '[' or '{' expected near end of file");
    cfg_fails("{\"seed\": 1, \"seed\": 2}", 0, NULL, LM_EFORMAT,
              "cfg.json:1:18: duplicate object key near '\"seed\"'");
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"lr\": 1e400}}", 0, NULL,
              LM_EFORMAT, "cfg.json:1:58: real number overflow near '1e400'");
    cfg_fails("[784, 10]", 0, NULL, LM_EINVAL,
              "cfg.json: expected a JSON object at top level, got an array");
    LM_CHECK_LEAKS();
}

Test(config, load_from_file_and_missing_file) {
    char path[256];
    lm_tmp_path(path, sizeof path, "cfg.json");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"model\": {\"widths\": [784, 10]},\n \"optimizer\": {\"lr\": 0.5}}\n", f);
    fclose(f);
    lm_config *c = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_config_load(path, 0, NULL, &c, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(c->optim.lr, 0.5);
    lm_config_free(c);

    /* the file name leads syntax errors */
    f = fopen(path, "w");
    fputs("{\"model\": {\"widths\": [784, 10]},\n \"optimizer\": {\"lr\": 0.5,}}\n", f);
    fclose(f);
    c = NULL;
    cr_assert_eq(lm_config_load(path, 0, NULL, &c, &err), LM_EFORMAT);
    char want[512];
    snprintf(want, sizeof want, "%s:2:26: string or '}' expected near '}'", path);
    cr_assert_str_eq(err.msg, want);
    cr_assert_null(c);
    remove(path);

    cr_assert_eq(lm_config_load(path, 0, NULL, &c, &err), LM_EIO);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    cr_assert_str_eq(err.msg, want);
    cr_assert_null(c);

    /* a directory opens but cannot be read */
    cr_assert_eq(lm_config_load("/tmp", 0, NULL, &c, &err), LM_EIO);
    cr_assert_str_eq(err.msg, "/tmp: read error: Is a directory");
    cr_assert_null(c);
    LM_CHECK_LEAKS();
}

Test(config, null_arguments) {
    lm_config *c = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(NULL, 3, "x", 0, NULL, &c, &err), LM_EINVAL);
    cr_assert_eq(lm_config_parse(MIN_CFG, strlen(MIN_CFG), "x", 0, NULL, NULL, &err), LM_EINVAL);
    cr_assert_eq(lm_config_load(NULL, 0, NULL, &c, &err), LM_EINVAL);
    const char *sets[] = {NULL};
    cr_assert_eq(lm_config_parse(MIN_CFG, strlen(MIN_CFG), "x", 1, sets, &c, &err), LM_EINVAL);
    cr_assert_null(c);
    /* a NULL name is reported as <config>; a NULL err is allowed */
    cr_assert_eq(lm_config_parse("{", 1, NULL, 0, NULL, &c, &err), LM_EFORMAT);
    cr_assert(strncmp(err.msg, "<config>:1:", 11) == 0, "%s", err.msg);
    cr_assert_eq(lm_config_parse("{", 1, NULL, 0, NULL, &c, NULL), LM_EFORMAT);
    lm_config_free(NULL);
}

/* Fails the k-th lm_malloc of a parse for every k until the parse succeeds: each failure must be
 * LM_ENOMEM with nothing leaked and the output untouched. (jansson's own allocations do not go
 * through the hook.) */

Test(config, allocation_failures) {
    lm_allocator a = {lm_test_failing_alloc, lm_test_free, NULL};
    int succeeded = 0;
    for (lm_test_fail_at = 1; lm_test_fail_at < 50 && !succeeded; lm_test_fail_at++) {
        lm_test_calls = 0;
        lm_set_allocator(&a);
        lm_config *c = NULL;
        lm_err err = {0};
        lm_status st = cfg_parse(MIN_CFG, 0, NULL, &c, &err);
        lm_set_allocator(NULL);
        if (st == LM_OK) {
            succeeded = 1;
            lm_config_free(c);
        } else {
            cr_assert_eq(st, LM_ENOMEM, "k=%d: %s", lm_test_fail_at, err.msg);
            cr_assert_null(c);
        }
    }
    cr_assert(succeeded && lm_test_fail_at > 2, "at least the config and its JSON are allocated");
    LM_CHECK_LEAKS();
}

Test(config, model_layers) {
    /* a residual network on pooled Fashion-MNIST images: parsed, nested bodies inlined */
    lm_config *c =
        cfg_ok("{\"data\": {\"pool\": 2}, \"model\": {\"input_shape\": [1, 14, 14], "
               "\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"linear\", \"out\": 8}, "
               "{\"type\": \"residual\", \"body\": [{\"type\": \"gelu\"}, {\"type\": "
               "\"linear\", \"out\": 8, \"bias\": false}]}, {\"type\": \"layernorm\", "
               "\"eps\": 1e-6}, {\"type\": \"linear\", \"out\": 10}]}}",
               0, NULL);
    cr_assert_eq(c->model.n_layer_specs, 7);
    cr_assert_eq(c->model.layers[2].type, LM_LAYER_RESIDUAL);
    cr_assert_eq(c->model.layers[2].body_len, 2);
    cr_assert_eq(c->model.layers[3].act, LM_ACT_GELU);
    cr_assert_eq(c->model.layers[4].bias, 0);
    cr_assert_eq(c->model.layers[5].eps, 1e-6);
    cr_assert_eq(c->model.input_shape[2], 14);
    lm_config_free(c);
    /* --set into the layer list: a width sweep of a layer-graph model */
    const char *sets[] = {"model.layers[1].out=16", "model.layers[2].body[1].out=16",
                          "model.layers[4]={\"type\": \"linear\", \"out\": 10, \"bias\": false}"};
    c = cfg_ok("{\"data\": {\"pool\": 2}, \"model\": {\"input_shape\": [1, 14, 14], "
               "\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"linear\", \"out\": 8}, "
               "{\"type\": \"residual\", \"body\": [{\"type\": \"gelu\"}, {\"type\": "
               "\"linear\", \"out\": 8}]}, {\"type\": \"tanh\"}, {\"type\": \"linear\", \"out\": "
               "10}]}}",
               3, sets);
    cr_assert_eq(c->model.layers[1].out, 16);
    cr_assert_eq(c->model.layers[4].out, 16);
    cr_assert_eq(c->model.layers[6].bias, 0);
    lm_config_free(c);
    const char *bad_set[] = {"model.layers[7].out=3"};
    cfg_fails("{\"model\": {\"input_shape\": [784], \"layers\": [{\"type\": \"linear\", "
              "\"out\": 10}]}}",
              1, bad_set, LM_EINVAL,
              "--set model.layers[7].out=3: layers has 1 entries in cfg.json; index 7 is out of "
              "range");
    /* errors name the layer's path */
    cfg_fails("{\"model\": {\"input_shape\": [784], \"layers\": [{\"type\": \"linear\", "
              "\"outs\": 10}]}}",
              0, NULL, LM_EINVAL,
              "cfg.json: model.layers[0].outs: unknown key (did you mean \"out\"?) (a layer has "
              "type, out, kernel, stride, padding, bias, eps, body, vocab, heads, scale)");
    cfg_fails("{\"model\": {\"input_shape\": [784], \"layers\": [{\"type\": \"relu\", "
              "\"out\": 10}]}}",
              0, NULL, LM_EINVAL,
              "cfg.json: model.layers[0].out: does not apply to a \"relu\" layer");
    cfg_fails(
        "{\"model\": {\"input_shape\": [784], \"layers\": [{\"type\": \"conv\"}]}}", 0, NULL,
        LM_EINVAL,
        "cfg.json: model.layers[0].type: unknown layer type \"conv\" (linear, conv2d, "
        "avgpool2d, maxpool2d, flatten, residual, layernorm, embedding, attention, last, or an "
        "activation: identity, relu, tanh, erf, gelu, sigmoid, softplus, quadratic)");
    cfg_fails("{\"model\": {\"layers\": [{\"type\": \"linear\", \"out\": 10}]}}", 0, NULL,
              LM_EINVAL,
              "cfg.json: missing required key \"model.input_shape\" with model.layers ([d] for "
              "features, [C, H, W] for images)");
    cfg_fails("{\"model\": {\"input_shape\": [1, 28, 28], \"layers\": [{\"type\": \"linear\", "
              "\"out\": 10}]}}",
              0, NULL, LM_ESHAPE,
              "cfg.json: model.layers[0] (linear): its input is [1, 28, 28]; a linear layer takes "
              "features: put a {\"type\": \"flatten\"} before it");
    cfg_fails("{\"model\": {\"input_shape\": [784], \"layers\": [{\"type\": \"linear\", "
              "\"out\": 7}]}}",
              0, NULL, LM_EINVAL,
              "cfg.json: model.layers: the last layer gives 7 outputs but data \"fashion-mnist\" "
              "with targets \"onehot\" has 10");
    cfg_fails("{\"model\": {\"widths\": [784, 10], \"input_shape\": [784], \"layers\": "
              "[{\"type\": \"linear\", \"out\": 10}]}}",
              0, NULL, LM_EINVAL,
              "cfg.json: model.widths: and model.layers are both given: give one (widths is the "
              "MLP shorthand)");
    LM_CHECK_LEAKS();
}
