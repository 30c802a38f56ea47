/*
 * lmech/core.h: status codes, the caller-owned error record, the allocation hook, the seeded RNG,
 * thread settings and build information. Every other module depends on this one.
 *
 * Errors. Every public function except getters and `_free` returns an `lm_status` (LM_OK = 0) and
 * takes an optional `lm_err *err` last. On failure the code and a message naming the file, key,
 * value or shape that was wrong are written to `*err` (when err is not NULL); outputs are left
 * unchanged and no half-built object escapes. The library never prints, exits or aborts on user
 * input.
 *
 * RNG. lmech uses xoshiro256** (Blackman & Vigna 2018), seeded through splitmix64. Independent
 * streams (initialisation, data subsets, shuffling, probes) are derived from one user seed and a
 * stream id, so adding a new consumer of randomness never shifts the others. Normals come from the
 * Box–Muller transform on 53-bit uniforms (both values used). The generator is defined bit for bit
 * here, so a config and a seed give the same numbers on every platform.
 */
#ifndef LMECH_CORE_H
#define LMECH_CORE_H

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A double NaN (C's NAN is a float; this avoids -Wdouble-promotion at every use). */
#define LM_NAN ((double) NAN)
#define LM_INF ((double) INFINITY)

/* ---------------------------------------------------------------- status and errors */

typedef enum lm_status {
    LM_OK = 0,
    LM_EINVAL,       /* an argument or config value is invalid                        */
    LM_ENOMEM,       /* an allocation failed                                          */
    LM_EIO,          /* a file could not be opened, read or written (disk full, ...)  */
    LM_EFORMAT,      /* a file is malformed or truncated                              */
    LM_ESHAPE,       /* shapes do not match                                           */
    LM_ERANGE,       /* a value is out of its allowed range                           */
    LM_ENOTFOUND,    /* a named thing (run, key, tensor) does not exist               */
    LM_EDB,          /* the run database refused an operation                         */
    LM_ENUMERIC,     /* NaN or Inf where a finite number is required                  */
    LM_EUNSUPPORTED, /* valid, but not supported by this build or this combination    */
    LM_ELIMIT,       /* a resource bound (e.g. --max-memory) would be exceeded        */
    LM_EINTERNAL     /* a broken invariant inside lmech: a bug, please report it      */
} lm_status;

#define LM_ERR_MSG_LEN 256

/* Caller-owned error record (like jansson's json_error_t). Zero-initialise it or pass NULL. */
typedef struct lm_err {
    lm_status code;
    char msg[LM_ERR_MSG_LEN]; /* one line, names the file/key/value/shape that was wrong */
    const char *src_file;     /* lmech source file and line that raised it (for bug reports) */
    int src_line;
} lm_err;

/* A short constant name for a status ("invalid argument", ...). Never NULL. */
const char *lm_status_str(lm_status code);

/* Records `code` and the printf-style message into *err (when err is not NULL) and returns code.
 * Use through LM_FAIL so every error passes through one breakpoint. */
lm_status lm_err_set(lm_err *err, lm_status code, const char *src_file, int src_line,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Prefixes an existing message with more context ("config.json: " + msg). */
void lm_err_prefix(lm_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears the record to LM_OK and an empty message. */
void lm_err_clear(lm_err *err);

#define LM_FAIL(err, code, ...) return lm_err_set((err), (code), __FILE__, __LINE__, __VA_ARGS__)
#define LM_TRY(expr)                                                                               \
    do {                                                                                           \
        lm_status lm__st = (expr);                                                                 \
        if (lm__st != LM_OK)                                                                       \
            return lm__st;                                                                         \
    } while (0)

/* ---------------------------------------------------------------- allocation */

/* The allocation hook (Lua's idea): every allocation in lmech goes through these functions, so
 * tests can count allocations or fail the k-th one. `ud` is passed back unchanged. */
typedef struct lm_allocator {
    void *(*alloc)(void *ud, size_t size);
    void (*release)(void *ud, void *ptr);
    void *ud;
} lm_allocator;

/* Installs `a` (NULL restores the default malloc/free). Not thread-safe: call before other work. */
void lm_set_allocator(const lm_allocator *a);

/* Allocates `size` bytes aligned to 64 bytes (a cache line and an AVX-512 vector), or NULL.
 * lm_calloc zeroes; both count in lm_alloc_count(). lm_free(NULL) is a no-op. */
void *lm_malloc(size_t size);
void *lm_calloc(size_t count, size_t size);
void lm_free(void *ptr);
/* Number of successful lm_malloc/lm_calloc calls since start-up (for "no allocation per step"). */
uint64_t lm_alloc_count(void);

/* ---------------------------------------------------------------- dtype */

typedef enum lm_dtype { LM_F64 = 0, LM_F32 = 1 } lm_dtype;
size_t lm_dtype_size(lm_dtype dt);
const char *lm_dtype_name(lm_dtype dt); /* "float64" / "float32" */

/* ---------------------------------------------------------------- arrays */

/* Element types of arrays read from or written to files (IDX, .npy, safetensors). */
typedef enum lm_elt {
    LM_ELT_U8 = 0,
    LM_ELT_I8,
    LM_ELT_I16,
    LM_ELT_I32,
    LM_ELT_I64,
    LM_ELT_F32,
    LM_ELT_F64
} lm_elt;

#define LM_MAX_DIMS 8

/* A growable string: appends into an lm_malloc'ed, always NUL-terminated buffer p (len bytes in
 * use). Out of memory (or a format error) sets oom and ignores every later append, so a writer
 * checks once at the end. Zero-initialise it ({0}); free p with lm_free. Used for the canonical
 * config, the report's HTML and the gnuplot scripts. */
typedef struct lm_sb {
    char *p;
    size_t len, cap;
    int oom;
} lm_sb;
void lm_sb_put(lm_sb *b, const char *s, size_t len);
void lm_sb_puts(lm_sb *b, const char *s);
void lm_sb_printf(lm_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A dense, C-ordered (row-major) n-d array that owns its data (allocated with lm_malloc).
 * Data are in native (little-endian) byte order after loading. */
typedef struct lm_array {
    lm_elt elt;
    size_t ndim;
    size_t shape[LM_MAX_DIMS];
    size_t count; /* product of shape (1 for ndim = 0) */
    void *data;
} lm_array;

size_t lm_elt_size(lm_elt elt);
const char *lm_elt_name(lm_elt elt); /* "uint8", "int32", "float64", ... */

/* Allocates an array of the given shape, zero-filled. Fails with LM_ERANGE on size overflow. */
lm_status lm_array_new(lm_elt elt, size_t ndim, const size_t *shape, lm_array **out, lm_err *err);
void lm_array_free(lm_array *a);
/* Element i (flat index) converted to double. No bounds check: i < a->count. */
double lm_array_get(const lm_array *a, size_t i);

/* ---------------------------------------------------------------- RNG */

typedef struct lm_rng {
    uint64_t s[4];
    double spare; /* second Box–Muller normal, valid when has_spare */
    int has_spare;
} lm_rng;

/* Well-known stream ids; any other uint64 may be used too. */
enum {
    LM_STREAM_INIT = 1,    /* parameter initialisation        */
    LM_STREAM_DATA = 2,    /* synthetic data and subsets      */
    LM_STREAM_SHUFFLE = 3, /* minibatch order                 */
    LM_STREAM_PROBE = 4    /* random probes (Hutchinson, ...) */
};

/* Seeds the generator for (seed, stream): splitmix64 over seed ^ (stream * golden ratio). */
void lm_rng_seed(lm_rng *rng, uint64_t seed, uint64_t stream);
uint64_t lm_rng_u64(lm_rng *rng);
double lm_rng_uniform(lm_rng *rng);                    /* [0, 1), 53 random bits            */
double lm_rng_normal(lm_rng *rng);                     /* N(0, 1), Box–Muller               */
uint64_t lm_rng_below(lm_rng *rng, uint64_t n);        /* uniform in [0, n), unbiased; n > 0 */
void lm_rng_shuffle(lm_rng *rng, size_t *a, size_t n); /* Fisher–Yates             */

/* A Haar-random matrix with orthonormal columns, q [rows, cols] row-major (1 <= cols <= rows):
 * a Gaussian rows x cols draw (row-major order, rows*cols normals from rng), its thin QR
 * (LAPACKE dgeqrf + dorgqr), and each column's sign flipped where R's diagonal is negative, so
 * the law is exactly Haar (Mezzadri 2007). Errors: LM_EINVAL for cols = 0 or cols > rows,
 * LM_ENOMEM, LM_ENUMERIC when LAPACK fails. */
lm_status lm_rng_orthonormal(lm_rng *rng, size_t rows, size_t cols, double *q, lm_err *err);

/* ---------------------------------------------------------------- threads and build info */

/* Sets the BLAS (OpenBLAS) thread count. n = 0 means all cores. Returns LM_EINVAL if n > 1024. */
lm_status lm_threads_set(int n, lm_err *err);
int lm_threads_get(void); /* the configured count */

/* Called before each BLAS call of `macs` multiply-adds: calls smaller than LM_BLAS_PAR_MACS run
 * on one thread, larger ones on the configured count. OpenBLAS's own threads synchronise with
 * sched_yield spins that cost more than they save on the GEMMs of small training steps (measured
 * in bench/README.md: 784-256-256-10, batch 32 ran 1.2x faster on one thread than on two).
 * The choice depends only on the shapes, so results stay deterministic. */
#define LM_BLAS_PAR_MACS 8e6
void lm_blas_threads_for(double macs);
/* hold = 1: the calling thread's lm_blas_threads_for calls become no-ops until hold = 0 (a
 * thread-local flag; OpenBLAS is not touched). For data-parallel teams (lm_mlp_team): the owner
 * calls lm_blas_threads_for(0) (one BLAS thread) and holds before waking its workers, and the
 * workers hold for their whole life, so openblas_set_num_threads never runs concurrently with a
 * GEMM or with itself. */
void lm_blas_threads_hold(int hold);
int lm_cores(void); /* online CPU count */

const char *lm_version(void);   /* "0.1.0"                                      */
const char *lm_blas_info(void); /* e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... Cooperlake" */
double lm_now(void);            /* monotonic seconds                            */

/* Library start-up: turns GSL's aborting error handler off. Idempotent; called by every _new. */
void lm_init(void);

#ifdef __cplusplus
}
#endif
#endif
