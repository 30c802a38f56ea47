/* Tests for src/core: errors, allocator hook, RNG determinism and moments. */
#include "lm_test.h"
#include "lmech/core.h"

#include <string.h>

Test(core, err_records_code_and_message) {
    lm_err err = {0};
    lm_status st = lm_err_set(&err, LM_ESHAPE, "f.c", 3, "x has %d columns", 7);
    cr_assert_eq(st, LM_ESHAPE);
    cr_assert_eq(err.code, LM_ESHAPE);
    cr_assert_str_eq(err.msg, "x has 7 columns");
    lm_err_prefix(&err, "%s: ", "data.npy");
    cr_assert_str_eq(err.msg, "data.npy: x has 7 columns");
    cr_assert_eq(lm_err_set(NULL, LM_EIO, "f.c", 1, "ignored"), LM_EIO);
    cr_assert_str_eq(lm_status_str(LM_OK), "ok");
}

Test(core, rng_is_deterministic_and_streams_differ) {
    lm_rng a, b, c;
    lm_rng_seed(&a, 42, LM_STREAM_INIT);
    lm_rng_seed(&b, 42, LM_STREAM_INIT);
    lm_rng_seed(&c, 42, LM_STREAM_DATA);
    int same_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = lm_rng_u64(&a);
        cr_assert_eq(x, lm_rng_u64(&b));
        same_c += x == lm_rng_u64(&c);
    }
    cr_assert_eq(same_c, 0);
}

Test(core, rng_normal_moments) {
    /* 200k draws: the standard error of the mean is 0.0022 and of the variance 0.0032, so 5
     * standard errors give the tolerances below. */
    lm_rng r;
    lm_rng_seed(&r, 7, 0);
    double s = 0, s2 = 0, s4 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double z = lm_rng_normal(&r);
        s += z;
        s2 += z * z;
        s4 += z * z * z * z;
    }
    cr_assert(fabs(s / n) < 0.011);
    cr_assert(fabs(s2 / n - 1) < 0.016);
    cr_assert(fabs(s4 / n - 3) < 0.06); /* var of z^4 is 96: se 0.022, about 3 se */
}

Test(core, rng_below_and_shuffle) {
    lm_rng r;
    lm_rng_seed(&r, 1, 0);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint64_t v = lm_rng_below(&r, 7);
        cr_assert(v < 7);
        counts[v]++;
    }
    for (int i = 0; i < 7; i++) /* expected 10000, sd 93: 5 sd */
        cr_assert(abs(counts[i] - 10000) < 470, "bucket %d has %d", i, counts[i]);
    size_t a[100];
    for (size_t i = 0; i < 100; i++)
        a[i] = i;
    lm_rng_shuffle(&r, a, 100);
    int seen[100] = {0};
    for (size_t i = 0; i < 100; i++)
        seen[a[i]]++;
    for (int i = 0; i < 100; i++)
        cr_assert_eq(seen[i], 1);
}

static int g_fail_after = -1, g_calls;
static void *failing_alloc(void *ud, size_t size) {
    (void) ud;
    if (g_fail_after >= 0 && g_calls++ >= g_fail_after)
        return NULL;
    return malloc(size);
}
static void plain_free(void *ud, void *p) {
    (void) ud;
    free(p);
}

Test(core, allocator_hook_counts_and_fails) {
    lm_allocator a = {failing_alloc, plain_free, NULL};
    lm_set_allocator(&a);
    g_fail_after = 1;
    g_calls = 0;
    uint64_t before = lm_alloc_count();
    void *p = lm_malloc(16);
    cr_assert_not_null(p);
    cr_assert_null(lm_malloc(16));
    cr_assert_eq(lm_alloc_count(), before + 1);
    lm_free(p);
    lm_set_allocator(NULL);
    void *q = lm_calloc(4, 8);
    cr_assert_not_null(q);
    cr_assert_eq(((uintptr_t) q) % 64, 0);
    cr_assert_null(lm_calloc(SIZE_MAX / 2, 4));
    lm_free(q);
    LM_CHECK_LEAKS();
}

Test(core, threads_and_info) {
    lm_err err = {0};
    cr_assert_eq(lm_threads_set(1, &err), LM_OK);
    cr_assert_eq(lm_threads_get(), 1);
    cr_assert_eq(lm_threads_set(-1, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "-1") != NULL);
    cr_assert(strlen(lm_blas_info()) > 0);
    cr_assert(lm_cores() >= 1);
}
