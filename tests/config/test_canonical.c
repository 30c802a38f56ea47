/* Tests for the canonical JSON and the run hash: equivalent inputs (any key order, spacing,
 * defaults spelled out or not, 1 or 1.0) give identical bytes; any changed value changes them;
 * the canonical JSON parses back to itself; the shipped examples parse. */
#include "cfg_helpers.h"

static void same(const char *a, const char *b) {
    lm_config *ca = cfg_ok(a, 0, NULL), *cb = cfg_ok(b, 0, NULL);
    cr_assert_str_eq(ca->json, cb->json);
    cr_assert_str_eq(ca->hash, cb->hash);
    lm_config_free(ca);
    lm_config_free(cb);
}

static void differ(const char *a, const char *b) {
    lm_config *ca = cfg_ok(a, 0, NULL), *cb = cfg_ok(b, 0, NULL);
    cr_assert_str_neq(ca->json, cb->json);
    cr_assert_str_neq(ca->hash, cb->hash);
    lm_config_free(ca);
    lm_config_free(cb);
}

Test(canonical, equivalent_inputs_hash_alike) {
    same(MIN_CFG, "{\n\t\"loss\" : \"mse\",\n  \"model\": {\"bias\": true, \"widths\": [784.0, "
                  "10]},\n  \"seed\": 0,\n  \"optimizer\": {\"lr\": 1e-1, \"schedule\": "
                  "\"constant\", \"layer_lr\": [1.0], \"betas\": [0.90, 0.999]},\n  \"data\": "
                  "{\"dir\": \"/usr/share/datasets/fashion-mnist\", \"train_size\": \"all\", "
                  "\"normalize\": \"scale01\"},\n  \"steps\": 100, \"name\": \"\"\n}\n");
    /* momentum's name-dependent default and an explicit 0.9 are the same run */
    same("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"name\": \"momentum\"}}",
         "{\"optimizer\": {\"momentum\": 0.9, \"name\": \"momentum\"}, \"model\": {\"widths\": "
         "[784, 10]}}");
    /* "schedule": "cosine" and its object form */
    same(
        "{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"schedule\": \"cosine\"}}",
        "{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"schedule\": {\"name\": \"cosine\", "
        "\"warmup_steps\": 0}}}");
    /* -0.0 and 0.0 */
    same("{\"model\": {\"widths\": [784, 10], \"sb2\": -0.0}}", MIN_CFG);
    LM_CHECK_LEAKS();
}

Test(canonical, changed_values_hash_differently) {
    differ(MIN_CFG, "{\"model\": {\"widths\": [784, 10]}, \"seed\": 1}");
    differ(MIN_CFG, "{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"lr\": "
                    "0.10000000000000002}}");
    differ(MIN_CFG, "{\"model\": {\"widths\": [784, 10]}, \"name\": \"x\"}");
    differ(MIN_CFG, "{\"model\": {\"widths\": [784, 10]}, \"epochs\": 100}");
    differ(MIN_CFG, "{\"model\": {\"widths\": [784, 10]}, \"data\": {\"test_size\": 100}}");
    LM_CHECK_LEAKS();
}

Test(canonical, reals_in_shortest_round_trip_form) {
    lm_config *c = cfg_ok("{\"model\": {\"widths\": [784, 10], \"sw2\": 2, \"output_multiplier\": "
                          "0.30000000000000004}, \"optimizer\": {\"lr\": 1e-3, \"eps\": 1e-12}}",
                          0, NULL);
    cr_assert(strstr(c->json, "\"sw2\":2.0,"), "%s", c->json);
    cr_assert(strstr(c->json, "\"output_multiplier\":0.30000000000000004,"), "%s", c->json);
    cr_assert(strstr(c->json, "\"lr\":0.001,"), "%s", c->json);
    cr_assert(strstr(c->json, "\"eps\":1e-12,"), "%s", c->json);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

/* parse(canonical(x)) has the canonical JSON canonical(x): the recorded JSON is itself a valid
 * config for the same run. */
static void fixed_point(const char *json) {
    lm_config *a = cfg_ok(json, 0, NULL);
    lm_config *b = cfg_ok(a->json, 0, NULL);
    cr_assert_str_eq(a->json, b->json);
    cr_assert_str_eq(a->hash, b->hash);
    lm_config_free(a);
    lm_config_free(b);
}

Test(canonical, parses_back_to_itself) {
    fixed_point(MIN_CFG);
    fixed_point("{\"model\": {\"widths\": [8, 6, 3], \"activation\": \"tanh\"}, \"data\": "
                "{\"source\": \"teacher\", \"dim\": 8, \"outputs\": 3, \"noise\": 0.1}, "
                "\"optimizer\": {\"name\": \"adamw\", \"layer_lr\": [0.5, 2], \"schedule\": "
                "{\"name\": \"cosine\", \"warmup_steps\": 5, \"final_lr_frac\": 0.1}}, \"epochs\": "
                "3, \"name\": \"tab\\there\\u0001\", \"notes\": \"\\\"quoted\\\\\"}");
    fixed_point("{\"model\": {\"widths\": [5, 3]}, \"data\": {\"source\": \"npy\", \"x\": "
                "\"a.npy\", \"y\": \"b.npy\", \"test_x\": \"c.npy\", \"test_y\": \"d.npy\"}}");
    LM_CHECK_LEAKS();
}

Test(canonical, examples_parse) {
    const char *names[] = {"fmnist_mlp", "eos_small", "synthetic_teacher", "modadd", "npy_example"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/examples/%s.json", LM_SOURCE_DIR, names[i]);
        lm_config *c = NULL;
        lm_err err = {0};
        cr_assert_eq(lm_config_load(path, 0, NULL, &c, &err), LM_OK, "%s", err.msg);
        lm_config *d = cfg_ok(c->json, 0, NULL);
        cr_assert_str_eq(c->hash, d->hash);
        if (i == 0) { /* the demo: 784-256-256-10 relu, ce, momentum 0.9, lr 0.05, 128, 5 */
            cr_assert_eq(c->model.n_widths, 4);
            cr_assert_eq(c->loss, LM_LOSS_CE);
            cr_assert_eq(c->optim.kind, LM_OPT_MOMENTUM);
            cr_assert_eq(c->optim.momentum, 0.9);
            cr_assert_eq(c->optim.lr, 0.05);
            cr_assert_eq(c->train.batch_size, 128);
            cr_assert_eq(c->train.epochs, 5);
        }
        lm_config_free(c);
        lm_config_free(d);
    }
    LM_CHECK_LEAKS();
}
