/*
 * rng.c: xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2018)
 * seeded by splitmix64. Defined bit for bit here so results do not depend on the C library.
 */
#include "lmech/core.h"

#include <lapacke.h>
#include <limits.h>
#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

void lm_rng_seed(lm_rng *rng, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0x9e3779b97f4a7c15ULL);
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
    rng->has_spare = 0;
    rng->spare = 0.0;
}

uint64_t lm_rng_u64(lm_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double lm_rng_uniform(lm_rng *rng) {
    return (double) (lm_rng_u64(rng) >> 11) * 0x1.0p-53;
}

double lm_rng_normal(lm_rng *rng) {
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare;
    }
    double u1 = lm_rng_uniform(rng), u2 = lm_rng_uniform(rng);
    /* 1 - u1 lies in (0, 1], so the log is finite. */
    double r = sqrt(-2.0 * log(1.0 - u1));
    double th = 6.283185307179586476925 * u2;
    rng->spare = r * sin(th);
    rng->has_spare = 1;
    return r * cos(th);
}

uint64_t lm_rng_below(lm_rng *rng, uint64_t n) {
    /* Lemire's multiply-shift with rejection: unbiased for every n > 0. */
    uint64_t x = lm_rng_u64(rng);
    __uint128_t m = (__uint128_t) x * n;
    uint64_t l = (uint64_t) m;
    if (l < n) {
        uint64_t t = (0 - n) % n;
        while (l < t) {
            x = lm_rng_u64(rng);
            m = (__uint128_t) x * n;
            l = (uint64_t) m;
        }
    }
    return (uint64_t) (m >> 64);
}

void lm_rng_shuffle(lm_rng *rng, size_t *a, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t) lm_rng_below(rng, i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Gram-Schmidt would do, but LAPACK's Householder QR keeps the columns orthonormal to rounding
 * whatever the draw. */
lm_status lm_rng_orthonormal(lm_rng *rng, size_t rows, size_t cols, double *q, lm_err *err) {
    if (!rng || !q || cols == 0 || cols > rows)
        LM_FAIL(err, LM_EINVAL,
                "orthonormal matrix %zu x %zu: need 1 <= columns <= rows and an output", rows,
                cols);
    if (rows > (size_t) INT_MAX / cols)
        LM_FAIL(err, LM_ERANGE, "orthonormal matrix %zu x %zu is too large", rows, cols);
    for (size_t i = 0; i < rows * cols; i++)
        q[i] = lm_rng_normal(rng);
    double *tau = lm_malloc(cols * sizeof *tau), *diag = lm_malloc(cols * sizeof *diag);
    if (!tau || !diag) {
        lm_free(tau);
        lm_free(diag);
        LM_FAIL(err, LM_ENOMEM, "out of memory for a %zu x %zu QR", rows, cols);
    }
    const lapack_int m = (lapack_int) rows, n = (lapack_int) cols;
    lapack_int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, m, n, q, n, tau);
    for (size_t j = 0; info == 0 && j < cols; j++)
        diag[j] = q[j * cols + j];
    if (info == 0)
        info = LAPACKE_dorgqr(LAPACK_ROW_MAJOR, m, n, n, q, n, tau);
    for (size_t j = 0; info == 0 && j < cols; j++)
        if (diag[j] < 0.0)
            for (size_t i = 0; i < rows; i++)
                q[i * cols + j] = -q[i * cols + j];
    lm_free(tau);
    lm_free(diag);
    if (info != 0)
        LM_FAIL(err, LM_ENUMERIC, "QR of a %zu x %zu Gaussian matrix failed (LAPACK info %d)", rows,
                cols, (int) info);
    return LM_OK;
}
