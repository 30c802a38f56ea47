/* cfg_helpers.h: helpers shared by the config tests (header only, included by each test file). */
#ifndef CFG_HELPERS_H
#define CFG_HELPERS_H

#include "lm_test.h"
#include "lmech/config.h"

#include <string.h>

/* The smallest valid config: Fashion-MNIST defaults, a linear 784 -> 10 model. */
#define MIN_CFG "{\"model\": {\"widths\": [784, 10]}}"

static inline lm_status cfg_parse(const char *json, size_t n_sets, const char *const *sets,
                                  lm_config **out, lm_err *err) {
    return lm_config_parse(json, strlen(json), "cfg.json", n_sets, sets, out, err);
}

/* Parses json (with sets) and expects it to succeed. */
static inline lm_config *cfg_ok(const char *json, size_t n_sets, const char *const *sets) {
    lm_config *c = NULL;
    lm_err err = {0};
    lm_status st = cfg_parse(json, n_sets, sets, &c, &err);
    cr_assert_eq(st, LM_OK, "expected success, got %d: %s", st, err.msg);
    cr_assert_not_null(c);
    return c;
}

/* Parses json (with sets), expects `code` and exactly the message `msg`, and *out untouched. */
static inline void cfg_fails(const char *json, size_t n_sets, const char *const *sets,
                             lm_status code, const char *msg) {
    lm_config *sentinel = (lm_config *) &sentinel, *c = sentinel;
    lm_err err = {0};
    lm_status st = cfg_parse(json, n_sets, sets, &c, &err);
    cr_assert_eq(st, code, "expected code %d, got %d: %s", code, st, err.msg);
    cr_assert_eq(err.code, code);
    cr_assert_str_eq(err.msg, msg);
    cr_assert_eq(c, sentinel, "output written on failure");
}

#endif
