/* Tests for optimizer.schedule.warmup_start: parsed into the spec, range-checked with the key's
 * path, reachable by --set, and written into the canonical JSON only when set (so the hashes of
 * runs made before the key existed are unchanged). */
#include "cfg_helpers.h"

#define WARM_CFG                                                                                   \
    "{\"model\": {\"widths\": [784, 10]}, \"optimizer\": {\"schedule\": {\"name\": \"warmup\", "   \
    "\"warmup_steps\": 10, \"warmup_start\": 0.125}}}"

Test(config, warmup_start_parsed_and_canonical) {
    lm_config *c = cfg_ok(WARM_CFG, 0, NULL);
    cr_assert_eq(c->optim.warmup_start, 0.125);
    cr_assert_not_null(strstr(c->json, "\"warmup_start\":0.125"), "%s", c->json);
    lm_config_free(c);
    c = cfg_ok(MIN_CFG, 0, NULL);
    cr_assert_eq(c->optim.warmup_start, 0.0);
    cr_assert_null(strstr(c->json, "warmup_start"), "%s", c->json);
    lm_config_free(c);
    const char *sets[] = {"optimizer.schedule.warmup_start=0.5"};
    c = cfg_ok(WARM_CFG, 1, sets);
    cr_assert_eq(c->optim.warmup_start, 0.5);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(config, warmup_start_out_of_range) {
    const char *sets[] = {"optimizer.schedule.warmup_start=1.5"};
    lm_config *c = NULL;
    lm_err err = {0};
    cr_assert_neq(cfg_parse(WARM_CFG, 1, sets, &c, &err), LM_OK);
    cr_assert_not_null(strstr(err.msg, "optimizer.schedule.warmup_start"), "%s", err.msg);
    cr_assert_null(c);
    LM_CHECK_LEAKS();
}
