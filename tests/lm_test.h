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
#include <string.h>
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
    /* a file left by an earlier test process with the same pid (tests do not all clean up, and
     * pids are reused) must not leak into this one: an old database would be reused */
    unlink(buf);
    const size_t len = strlen(buf);
    char *side = malloc(len + 5);
    if (side) {
        memcpy(side, buf, len);
        memcpy(side + len, "-wal", 5);
        unlink(side);
        memcpy(side + len, "-shm", 5);
        unlink(side);
        free(side);
    }
}

/* An allocator that fails the lm_test_fail_at-th allocation counted in lm_test_calls (Lua's
 * failnext): install {lm_test_failing_alloc, lm_test_free, NULL} with lm_set_allocator, then for
 * k = 1, 2, ... set lm_test_fail_at = k, lm_test_calls = 0 and call the code under test, which
 * must return LM_ENOMEM without leaking until k exceeds its allocations. */
static int lm_test_fail_at, lm_test_calls;
__attribute__((unused)) static void *lm_test_failing_alloc(void *ud, size_t size) {
    (void) ud;
    if (++lm_test_calls == lm_test_fail_at)
        return NULL;
    void *p = NULL;
    return posix_memalign(&p, 64, size ? size : 1) == 0 ? p : NULL;
}
__attribute__((unused)) static void lm_test_free(void *ud, void *p) {
    (void) ud;
    free(p);
}

#endif
