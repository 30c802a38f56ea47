/*
 * core/internal.h: core's internals shared with other modules (not part of the public API).
 */
#ifndef LM_CORE_INTERNAL_H
#define LM_CORE_INTERNAL_H

#include <stdint.h>

/* The number of lm_malloc/lm_calloc calls that returned NULL since start-up. Code whose helpers
 * turn a failed allocation into a NaN statistic (the experiment analyses: lm__exp_analyse)
 * compares it before and after, so that an out-of-memory never passes for missing data. */
uint64_t lm__alloc_failures(void);

#endif
