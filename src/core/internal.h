/*
 * core/internal.h: core's internals shared with other modules (not part of the public API).
 */
#ifndef LM_CORE_INTERNAL_H
#define LM_CORE_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

/* The number of allocations that failed since start-up: lm_malloc/lm_calloc and jansson's (which
 * go through core.c's counting wrapper once lm_init has run). Code whose helpers
 * turn a failed allocation into a NaN statistic (the experiment analyses: lm__exp_analyse)
 * compares it before and after, so that an out-of-memory never passes for missing data. */
uint64_t lm__alloc_failures(void);

/* json_loadb, trusted only when no allocation failed during it: otherwise NULL with *oom = 1
 * (the caller reports LM_ENOMEM), even where jansson absorbed the failure and returned a value
 * that differs from the text (core.c). Otherwise as json_loadb (*oom = 0). */
json_t *lm__json_loadb(const char *text, size_t len, size_t flags, json_error_t *je, int *oom);

/* json_dumps (the result is malloc's: free it with free), NULL when any allocation failed during
 * it, even one jansson absorbed (its output may then lack characters). */
char *lm__json_dumps(const json_t *j, size_t flags);

/* Tests: the malloc that jansson's allocations go through (NULL: malloc), to inject failures. */
void lm__json_set_malloc(void *(*fn)(size_t));

#endif
