/*
 * core.c: errors, the allocation hook, dtype helpers, thread settings and build information.
 * Nothing here is on a hot path except lm_malloc's counter, which is one relaxed atomic add.
 */
/* madvise(MADV_HUGEPAGE) is a Linux extension: the only one this file uses */
#define _DEFAULT_SOURCE
#include "lmech/core.h"

#include "core/internal.h"

#include <cblas.h>
#include <gsl/gsl_errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef LM_VERSION_STRING
#define LM_VERSION_STRING "0.1.0"
#endif

/* ---------------------------------------------------------------- errors */

const char *lm_status_str(lm_status code) {
    switch (code) {
    case LM_OK:
        return "ok";
    case LM_EINVAL:
        return "invalid argument";
    case LM_ENOMEM:
        return "out of memory";
    case LM_EIO:
        return "input/output error";
    case LM_EFORMAT:
        return "malformed file";
    case LM_ESHAPE:
        return "shape mismatch";
    case LM_ERANGE:
        return "value out of range";
    case LM_ENOTFOUND:
        return "not found";
    case LM_EDB:
        return "database error";
    case LM_ENUMERIC:
        return "non-finite number";
    case LM_EUNSUPPORTED:
        return "unsupported";
    case LM_ELIMIT:
        return "resource limit exceeded";
    case LM_EINTERNAL:
        return "internal error";
    }
    return "unknown status";
}

lm_status lm_err_set(lm_err *err, lm_status code, const char *src_file, int src_line,
                     const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
        err->src_file = src_file;
        err->src_line = src_line;
    }
    return code;
}

void lm_err_prefix(lm_err *err, const char *fmt, ...) {
    if (!err)
        return;
    char pre[LM_ERR_MSG_LEN], old[LM_ERR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t np = strlen(pre);
    if (np >= sizeof err->msg)
        np = sizeof err->msg - 1;
    memcpy(err->msg, pre, np);
    size_t room = sizeof err->msg - 1 - np, no = strnlen(old, sizeof old - 1);
    if (no > room)
        no = room;
    memcpy(err->msg + np, old, no);
    err->msg[np + no] = '\0';
}

void lm_err_clear(lm_err *err) {
    if (err) {
        err->code = LM_OK;
        err->msg[0] = '\0';
        err->src_file = NULL;
        err->src_line = 0;
    }
}

/* ---------------------------------------------------------------- allocation */

/* Buffers of at least this size (datasets, workspaces of wide layers) are 2 MiB-aligned and
 * advised to use transparent huge pages: first-touch page faults cost ~25 % of a 4096-example
 * run's CPU time in this VM (perf: pvm_irq_enable), and a huge page takes one fault instead of
 * 512. Without THP support the advice is ignored. */
#define HUGE_MIN  ((size_t) 4 << 20)
#define HUGE_PAGE ((size_t) 2 << 20)

static void *default_alloc(void *ud, size_t size) {
    (void) ud;
    void *p = NULL;
    if (size >= HUGE_MIN) {
        if (posix_memalign(&p, HUGE_PAGE, size) != 0)
            return NULL;
#ifdef MADV_HUGEPAGE
        (void) madvise(p, (size + 4095) & ~(size_t) 4095, MADV_HUGEPAGE);
#endif
        return p;
    }
    /* 64-byte alignment: a cache line, and whole AVX-512 vectors for the elementwise kernels. */
    if (posix_memalign(&p, 64, size ? size : 64) != 0)
        return NULL;
    return p;
}

static void default_release(void *ud, void *ptr) {
    (void) ud;
    free(ptr);
}

static lm_allocator g_alloc = {default_alloc, default_release, NULL};
static atomic_uint_fast64_t g_alloc_count;
static atomic_uint_fast64_t g_alloc_failures;

void lm_set_allocator(const lm_allocator *a) {
    if (a)
        g_alloc = *a;
    else
        g_alloc = (lm_allocator){default_alloc, default_release, NULL};
}

void *lm_malloc(size_t size) {
    void *p = g_alloc.alloc(g_alloc.ud, size);
    atomic_fetch_add_explicit(p ? &g_alloc_count : &g_alloc_failures, 1, memory_order_relaxed);
    return p;
}

void *lm_calloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) {
        atomic_fetch_add_explicit(&g_alloc_failures, 1, memory_order_relaxed);
        return NULL;
    }
    void *p = lm_malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void lm_free(void *ptr) {
    if (ptr)
        g_alloc.release(g_alloc.ud, ptr);
}

uint64_t lm_alloc_count(void) {
    return (uint64_t) atomic_load_explicit(&g_alloc_count, memory_order_relaxed);
}

uint64_t lm__alloc_failures(void) {
    return (uint64_t) atomic_load_explicit(&g_alloc_failures, memory_order_relaxed);
}

/* ---------------------------------------------------------------- dtype */

size_t lm_dtype_size(lm_dtype dt) {
    return dt == LM_F32 ? sizeof(float) : sizeof(double);
}

const char *lm_dtype_name(lm_dtype dt) {
    return dt == LM_F32 ? "float32" : "float64";
}

/* ---------------------------------------------------------------- threads, build info */

static int g_threads_cfg = 0, g_threads_now = 0; /* configured; currently set in OpenBLAS */
/* Set by lm_blas_threads_hold: this thread's lm_blas_threads_for calls do nothing. Thread-local so
 * the workers of a data-parallel team (src/model/team.c) never touch the two globals above or
 * call openblas_set_num_threads while the owning thread may. */
static _Thread_local int tl_hold;

/* OpenBLAS's pthread build starts (cores - 1) worker threads when it is loaded, and again in
 * openblas_set_num_threads after a fork; an idle worker spins on sched_yield for ~2^28 cycles
 * before it sleeps. One-thread runs never hand it work, so for them the spin is pure waste: a
 * 0.2 s run of the 32-run sweep (bench/sweep.sh) burnt 0.37 CPU-s instead of 0.20, and in a
 * parallel sweep the spinning worker of one run steals its core from the other run. This
 * internal OpenBLAS function (exported by its pthread builds, absent from OpenMP ones, hence weak)
 * joins the workers; a later openblas_set_num_threads(n > 1) starts them again. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

lm_status lm_threads_set(int n, lm_err *err) {
    if (n < 0 || n > 1024)
        LM_FAIL(err, LM_EINVAL, "threads = %d: must be between 0 (all cores) and 1024", n);
    if (n == 0)
        n = lm_cores();
    /* already one thread (a child forked from a one-thread parent): setting it again would make
     * OpenBLAS start its workers only for the shutdown below to join them */
    if (n != 1 || openblas_get_num_threads() != 1)
        openblas_set_num_threads(n);
    if (n == 1 && blas_thread_shutdown_)
        blas_thread_shutdown_();
    g_threads_cfg = g_threads_now = n;
    return LM_OK;
}

int lm_threads_get(void) {
    return g_threads_cfg ? g_threads_cfg : openblas_get_num_threads();
}

void lm_blas_threads_for(double macs) {
    if (tl_hold)
        return;
    if (!g_threads_cfg)
        g_threads_cfg = g_threads_now = openblas_get_num_threads();
    int want = macs < LM_BLAS_PAR_MACS ? 1 : g_threads_cfg;
    if (want != g_threads_now) {
        openblas_set_num_threads(want);
        g_threads_now = want;
    }
}

void lm_blas_threads_hold(int hold) {
    tl_hold = hold != 0;
}

int lm_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int) n : 1;
}

const char *lm_version(void) {
    return LM_VERSION_STRING;
}

const char *lm_blas_info(void) {
    static char buf[160];
    if (!buf[0]) {
        const char *cfg = openblas_get_config();
        snprintf(buf, sizeof buf, "%s", cfg ? cfg : "unknown BLAS");
    }
    return buf;
}

double lm_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

/* ---------------------------------------------------------------- jansson's allocations */

/* jansson allocates through json_alloc, which counts failures with lm_malloc's: jansson absorbs
 * some failures silently (its lexer drops a character when its buffer cannot grow, so
 * "0.050000000000000003" parses as 0.05000000000000003), so a parse is only trusted when no
 * allocation failed during it (lm__json_loadb). Tests replace g_json_malloc to inject failures. */
static void *(*_Atomic g_json_malloc)(size_t) = malloc;

static void *json_alloc(size_t size) {
    void *p = g_json_malloc(size);
    if (!p)
        atomic_fetch_add_explicit(&g_alloc_failures, 1, memory_order_relaxed);
    return p;
}

static void json_release(void *p) {
    free(p);
}

void lm__json_set_malloc(void *(*fn)(size_t)) {
    lm_init();
    g_json_malloc = fn ? fn : malloc;
}

json_t *lm__json_loadb(const char *text, size_t len, size_t flags, json_error_t *je, int *oom) {
    lm_init();
    const uint64_t failed0 = lm__alloc_failures();
    json_t *root = json_loadb(text, len, flags, je);
    *oom = lm__alloc_failures() != failed0 ||
           (!root && json_error_code(je) == json_error_out_of_memory);
    if (*oom) {
        json_decref(root);
        return NULL;
    }
    return root;
}

char *lm__json_dumps(const json_t *j, size_t flags) {
    lm_init();
    const uint64_t failed0 = lm__alloc_failures();
    char *s = json_dumps(j, flags);
    if (s && lm__alloc_failures() != failed0) {
        free(s);
        return NULL;
    }
    return s;
}

void lm_init(void) {
    static atomic_int done;
    if (!atomic_exchange(&done, 1)) {
        gsl_set_error_handler_off();
        json_set_alloc_funcs(json_alloc, json_release);
    }
}
