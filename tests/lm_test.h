/*
 * lm_test.h: shared helpers for the Criterion tests.
 *
 * LM_CHECK_LEAKS(): Criterion forks each test, and a leak reported by LeakSanitizer in the child
 * does not fail it (stack.md), so tests that allocate end with this; it is a no-op outside
 * sanitizer builds.
 */
#ifndef LM_TEST_H
#define LM_TEST_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef LM_SANITIZE
int __lsan_do_recoverable_leak_check(void);
#define LM_CHECK_LEAKS() cr_assert(__lsan_do_recoverable_leak_check() == 0, "memory leaked")
#else
#define LM_CHECK_LEAKS() ((void) 0)
#endif

/* |a - b| <= tol * max(|a|, |b|, floor): relative with an absolute floor for values near 0. */
static inline int lm_close(double a, double b, double rtol, double floor) {
    double s = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    if (s < floor)
        s = floor;
    return fabs(a - b) <= rtol * s;
}

/* A unique temporary path for this test process (tests run in parallel processes). */
static inline void lm_tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "/tmp/lmech-test-%d-%s", (int) getpid(), name);
}

#endif
