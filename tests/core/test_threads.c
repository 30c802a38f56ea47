/*
 * Tests for lm_threads_set's thread handling: OpenBLAS's pthread build keeps worker threads that
 * spin on sched_yield for ~0.1 s whenever they exist without work, so asking for one thread must
 * leave the process without them (a sweep's one-thread runs otherwise burnt twice their CPU time,
 * bench/README.md). Counted from /proc/self/task.
 */
#include "lm_test.h"
#include "lmech/core.h"

#include <dirent.h>
#include <string.h>

static int count_threads(void) {
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d, "no /proc/self/task");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

Test(threads, one_thread_leaves_no_blas_workers) {
    /* the OpenMP build of OpenBLAS has no workers of this kind to join */
    if (!strstr(lm_blas_info(), "OpenBLAS") || strstr(lm_blas_info(), "OPENMP"))
        cr_skip_test("not OpenBLAS's pthread build: %s", lm_blas_info());
    cr_assert_eq(lm_threads_set(1, NULL), LM_OK);
    const int base = count_threads();
    cr_assert_eq(lm_threads_set(2, NULL), LM_OK);
    const int two = count_threads();
    cr_assert_eq(lm_threads_set(1, NULL), LM_OK);
    const int back = count_threads();
    /* two BLAS threads are the caller plus one worker */
    cr_assert_eq(two, base + 1, "threads: %d with one BLAS thread, %d with two", base, two);
    cr_assert_eq(back, base, "one BLAS thread again: %d threads, %d before", back, base);
    cr_assert_eq(lm_threads_get(), 1);
    /* asking again changes nothing (a forked child of a one-thread parent) */
    cr_assert_eq(lm_threads_set(1, NULL), LM_OK);
    cr_assert_eq(count_threads(), base);
}
