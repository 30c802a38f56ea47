/* train_helpers.h: what the tests of src/train share. */
#ifndef LM_TRAIN_HELPERS_H
#define LM_TRAIN_HELPERS_H

#include "lm_test.h"
#include "lmech/config.h"

#include <string.h>

/* Parses a config text (with --set style overrides) and asserts that it succeeds. */
static inline lm_config *cfg_from(const char *text, size_t n_sets, const char *const *sets) {
    lm_config *c;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(text, strlen(text), "test.json", n_sets, sets, &c, &err), LM_OK,
                 "%s", err.msg);
    return c;
}

#endif
