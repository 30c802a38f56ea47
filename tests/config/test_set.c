/* Tests for --set KEY=VALUE overrides: dotted paths, JSON values with a string fallback,
 * creation of missing objects, errors naming the --set, and precedence. */
#include "cfg_helpers.h"

Test(set, overrides_and_creates_objects) {
    const char *sets[] = {
        "optimizer.lr=0.01", "model.widths=[196,32,10]", "data.train_size=1000",
        "steps=3",           "data.source=mnist",        "data.pool=2",
        "model.bias=false",  "name=sweep \"a\"",         "optimizer.name=nesterov"};
    lm_config *c = cfg_ok(MIN_CFG, sizeof sets / sizeof *sets, sets);
    cr_assert_eq(c->optim.lr, 0.01);
    cr_assert_eq(c->model.n_widths, 3);
    cr_assert_eq(c->model.widths[1], 32);
    cr_assert_eq(c->data.train_size, 1000);
    cr_assert_eq(c->train.steps, 3);
    cr_assert_eq(c->data.source, LM_DATA_MNIST);
    cr_assert_str_eq(c->data.dir, "/usr/share/datasets/mnist");
    cr_assert_eq(c->data.pool, 2);
    cr_assert_eq(c->model.bias, 0);
    cr_assert_str_eq(c->name, "sweep \"a\"");
    cr_assert_eq(c->optim.kind, LM_OPT_NESTEROV);
    cr_assert_eq(c->optim.momentum, 0.9);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(set, later_wins_and_value_may_be_quoted) {
    const char *sets[] = {"optimizer.lr=0.5", "optimizer.lr=0.25", "notes=\"42\"",
                          "optimizer={\"name\": \"adam\"}"};
    lm_config *c =
        cfg_ok("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"lr\": 1}}", 4, sets);
    /* the last --set replaced the whole optimizer object, so lr is back to its default */
    cr_assert_eq(c->optim.kind, LM_OPT_ADAM);
    cr_assert_eq(c->optim.lr, 0.1);
    cr_assert_str_eq(c->notes, "42");
    lm_config_free(c);
    c = cfg_ok(MIN_CFG, 2, sets);
    cr_assert_eq(c->optim.lr, 0.25);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(set, schedule_string_becomes_object) {
    const char *sets[] = {"optimizer.schedule.warmup_steps=10"};
    lm_config *c = cfg_ok("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"schedule\": "
                          "\"cosine\"}}",
                          1, sets);
    cr_assert_eq(c->optim.schedule, LM_SCHED_COSINE);
    cr_assert_eq(c->optim.warmup_steps, 10);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(set, steps_and_epochs_replace_each_other) {
    const char *to_steps[] = {"steps=7"};
    lm_config *c = cfg_ok("{\"model\": {\"widths\": [784, 10]}, \"epochs\": 3}", 1, to_steps);
    cr_assert_eq(c->train.steps, 7);
    cr_assert_eq(c->train.epochs, 0);
    lm_config_free(c);
    const char *to_epochs[] = {"epochs=2"};
    c = cfg_ok("{\"model\": {\"widths\": [784, 10]}, \"steps\": 3}", 1, to_epochs);
    cr_assert_eq(c->train.steps, 0);
    cr_assert_eq(c->train.epochs, 2);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(set, unknown_keys_refused) {
    const char *a[] = {"optimizer.lrr=1"};
    cfg_fails(MIN_CFG, 1, a, LM_EINVAL,
              "--set optimizer.lrr=1: unknown key \"optimizer.lrr\" (did you mean \"lr\"?)");
    const char *b[] = {"sede=3"};
    cfg_fails(MIN_CFG, 1, b, LM_EINVAL,
              "--set sede=3: unknown key \"sede\" (did you mean \"seed\"?)");
    const char *c[] = {"loss.x=1"};
    cfg_fails(MIN_CFG, 1, c, LM_EINVAL,
              "--set loss.x=1: unknown key \"loss.x\" (\"loss\" has no keys)");
    const char *d[] = {"model..widths=[1,2]"};
    cfg_fails(MIN_CFG, 1, d, LM_EINVAL, "--set model..widths=[1,2]: unknown key \"model..widths\"");
    LM_CHECK_LEAKS();
}

Test(set, malformed) {
    const char *a[] = {"optimizer.lr"};
    cfg_fails(MIN_CFG, 1, a, LM_EINVAL,
              "--set \"optimizer.lr\": expected KEY=VALUE (e.g. optimizer.lr=0.01)");
    const char *b[] = {"=3"};
    cfg_fails(MIN_CFG, 1, b, LM_EINVAL,
              "--set \"=3\": expected KEY=VALUE (e.g. optimizer.lr=0.01)");
    const char *c[] = {"data.dim=3"};
    cfg_fails("{\"data\": 5, \"model\": {\"widths\": [784, 10]}}", 1, c, LM_EINVAL,
              "--set data.dim=3: data is 5 in cfg.json, not an object");
    const char *d[] = {"name=\xff\xfe"};
    cfg_fails(MIN_CFG, 1, d, LM_EINVAL, "--set name=\xff\xfe: the value is not valid UTF-8");
    const char *e[] = {"data.sub\nset=first"};
    cfg_fails(MIN_CFG, 1, e, LM_EINVAL,
              "--set data.sub?set=first: unknown key \"data.sub?set\" (did you mean \"subset\"?)");
    LM_CHECK_LEAKS();
}

Test(set, value_errors_name_the_set) {
    const char *a[] = {"optimizer.lr=abc"};
    cfg_fails(MIN_CFG, 1, a, LM_EINVAL,
              "--set optimizer.lr=abc: optimizer.lr: expected a number >= 0, got string \"abc\"");
    const char *b[] = {"model.widths=[784,0,10]"};
    cfg_fails(MIN_CFG, 1, b, LM_ERANGE,
              "--set model.widths=[784,0,10]: model.widths[1]: expected a positive integer, got 0");
    const char *c[] = {"steps="};
    cfg_fails(MIN_CFG, 1, c, LM_EINVAL,
              "--set steps=: steps: expected a positive integer, got "
              "string \"\"");
    /* an error in a value the file set (not the --set) still names the file */
    const char *d[] = {"optimizer.lr=0.5"};
    cfg_fails("{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"eps\": -1}}", 1, d, LM_ERANGE,
              "cfg.json: optimizer.eps: expected a number >= 0, got -1");
    LM_CHECK_LEAKS();
}

Test(set, model_widths_created_from_nothing) {
    const char *sets[] = {"model.widths=[784,10]"};
    lm_config *c = cfg_ok("{}", 1, sets);
    cr_assert_eq(c->model.widths[0], 784);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}
