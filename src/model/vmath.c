/*
 * vmath.c: the functions that profiling found on the critical path (tanh; exp, in the attention
 * layer's softmax), evaluated four (float64) or eight (float32) at a time by glibc's vector math
 * library (libmvec, glibc >= 2.35, documented to within 4 ulp). On the `eos` network (196-64-64-10
 * tanh, 1000 examples, float64) scalar tanh (glibc's expm1-based tanh) was 40 % of a training run's
 * cycles (perf).
 *
 * Every element goes through the same vector routine, the tail via a zero-padded vector, so a
 * value's result never depends on its position in the array: batches split across threads or
 * evaluated one row at a time give bitwise the same activations. Without libmvec or AVX2 the
 * scalar libm functions are used.
 */
#include "model/internal.h"

#include <math.h>
#include <string.h>

#if defined(LM_HAVE_LIBMVEC) && defined(__AVX2__)
#include <immintrin.h>

/* libmvec's AVX2 variants (x86_64 vector function ABI names). */
__m256d _ZGVdN4v_tanh(__m256d x);
__m256 _ZGVdN8v_tanhf(__m256 x);
__m256d _ZGVdN4v_exp(__m256d x);
__m256 _ZGVdN8v_expf(__m256 x);

void lm__tanh_f64(const double *z, double *a, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm256_storeu_pd(a + i, _ZGVdN4v_tanh(_mm256_loadu_pd(z + i)));
    if (i < n) {
        double buf[4] = {0.0, 0.0, 0.0, 0.0};
        memcpy(buf, z + i, (n - i) * sizeof *buf);
        _mm256_storeu_pd(buf, _ZGVdN4v_tanh(_mm256_loadu_pd(buf)));
        memcpy(a + i, buf, (n - i) * sizeof *buf);
    }
}

void lm__tanh_f32(const float *z, float *a, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(a + i, _ZGVdN8v_tanhf(_mm256_loadu_ps(z + i)));
    if (i < n) {
        float buf[8] = {0};
        memcpy(buf, z + i, (n - i) * sizeof *buf);
        _mm256_storeu_ps(buf, _ZGVdN8v_tanhf(_mm256_loadu_ps(buf)));
        memcpy(a + i, buf, (n - i) * sizeof *buf);
    }
}

/* One vector routine over an array, the tail through a zero-padded vector (see the top). */
#define VMATH_APPLY(NAME, T, W, LOAD, STORE, FN)                                                   \
    void NAME(const T *z, T *a, size_t n) {                                                        \
        size_t i = 0;                                                                              \
        for (; i + (W) <= n; i += (W))                                                             \
            STORE(a + i, FN(LOAD(z + i)));                                                         \
        if (i < n) {                                                                               \
            T buf[W] = {0};                                                                        \
            memcpy(buf, z + i, (n - i) * sizeof *buf);                                             \
            STORE(buf, FN(LOAD(buf)));                                                             \
            memcpy(a + i, buf, (n - i) * sizeof *buf);                                             \
        }                                                                                          \
    }
VMATH_APPLY(lm__exp_f64, double, 4, _mm256_loadu_pd, _mm256_storeu_pd, _ZGVdN4v_exp)
VMATH_APPLY(lm__exp_f32, float, 8, _mm256_loadu_ps, _mm256_storeu_ps, _ZGVdN8v_expf)

#else

void lm__tanh_f64(const double *z, double *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        a[i] = tanh(z[i]);
}

void lm__tanh_f32(const float *z, float *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        a[i] = tanhf(z[i]);
}

void lm__exp_f64(const double *z, double *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        a[i] = exp(z[i]);
}

void lm__exp_f32(const float *z, float *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        a[i] = expf(z[i]);
}

#endif
