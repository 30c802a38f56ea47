/* train_helpers.h: what the tests of src/train share. */
#ifndef LM_TRAIN_HELPERS_H
#define LM_TRAIN_HELPERS_H

#include "lm_test.h"
#include "lmech/config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Parses a config text (with --set style overrides) and asserts that it succeeds. */
static inline lm_config *cfg_from(const char *text, size_t n_sets, const char *const *sets) {
    lm_config *c;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(text, strlen(text), "test.json", n_sets, sets, &c, &err), LM_OK,
                 "%s", err.msg);
    return c;
}

/* Every metric a run recorded, read back with lm_store_get_metrics(s, run, metrics_collect, m):
 * the observer tests look their values up by step and name. Records beyond METRICS_CAP, or with
 * names of 32 characters or more, are not kept. */
#define METRICS_CAP 2048

typedef struct metrics {
    size_t n;
    int64_t step[METRICS_CAP];
    char name[METRICS_CAP][32];
    double value[METRICS_CAP];
} metrics;

static inline int metrics_collect(void *ud, int64_t step, const char *name, double value) {
    metrics *m = ud;
    if (m->n < METRICS_CAP && strlen(name) < 32) {
        m->step[m->n] = step;
        snprintf(m->name[m->n], 32, "%s", name);
        m->value[m->n] = value;
        m->n++;
    }
    return 0;
}

/* Whether metric name was recorded at step. */
static inline int metrics_has(const metrics *m, int64_t step, const char *name) {
    for (size_t i = 0; i < m->n; i++)
        if (m->step[i] == step && strcmp(m->name[i], name) == 0)
            return 1;
    return 0;
}

/* Its value (NaN when it was not recorded). */
static inline double metrics_get(const metrics *m, int64_t step, const char *name) {
    for (size_t i = 0; i < m->n; i++)
        if (m->step[i] == step && strcmp(m->name[i], name) == 0)
            return m->value[i];
    return LM_NAN;
}

#endif
