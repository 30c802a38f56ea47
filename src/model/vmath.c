/*
 * vmath.c: the functions that profiling found on the critical path (tanh; exp, in the attention
 * layer's softmax and the cross-entropy; GELU and its derivative in float32), evaluated four
 * (float64) or eight (float32) at a time by glibc's vector math library (libmvec, glibc >= 2.35,
 * documented to within 4 ulp). On the `eos` network (196-64-64-10 tanh, 1000 examples, float64)
 * scalar tanh (glibc's expm1-based tanh) was 40 % of a training run's cycles (perf); on the small
 * transformer (bench/gpt.sh, float32, one thread) GELU's scalar erfc and exp were ~29 %.
 *
 * Every element goes through the same vector routine, the tail via a zero-padded vector, so a
 * value's result never depends on its position in the array: batches split across threads or
 * evaluated one row at a time give bitwise the same activations. Without libmvec or AVX2 the
 * scalar libm functions are used.
 */
#include "model/act_impl.h"
#include "model/internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

#if defined(LM_HAVE_LIBMVEC) && defined(__AVX2__)
#include <immintrin.h>

/* libmvec's AVX2 variants (x86_64 vector function ABI names). */
__m256d _ZGVdN4v_tanh(__m256d x);
__m256 _ZGVdN8v_tanhf(__m256 x);
__m256d _ZGVdN4v_exp(__m256d x);
__m256 _ZGVdN8v_expf(__m256 x);
__m256d _ZGVdN4v_erfc(__m256d x);

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

/* GELU in float32 (act_impl.h's definitions, evaluated in double lanes): four floats widened to
 * double, the same expressions as lm__act_phi / lm__act_dphi with libmvec's double erfc and exp
 * (4 ulp of double), rounded to float once at the end; so the result is act_impl.h's double value
 * rounded to float, off by at most an ulp of float where that value lies within a few ulp of
 * double from a rounding boundary (tests/model/test_vmath.c). Double lanes cost about what
 * libmvec's float erfcf does, and keep the argument -z / sqrt 2 exact enough: in float its
 * rounding would be amplified by erfc's condition number (~2 x^2, 18 at z = -4.2).
 *   gelu:  a = (z / 2) erfc(-z / sqrt 2)
 *   grad:  out = g (erfc(-z / sqrt 2) / 2 + z exp(-z^2 / 2) / sqrt(2 pi))   (phi', act_impl.h) */
static inline __m256d gelu_pd(__m256d z) {
    const __m256d e = _ZGVdN4v_erfc(_mm256_mul_pd(z, _mm256_set1_pd(-INV_SQRT_2)));
    return _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(0.5), z), e);
}

/* phi'(z) = Phi(z) + z exp(-z^2 / 2) / sqrt(2 pi), with Phi(z) = erfc(-z / sqrt 2) / 2 read off
 * the forward output as a / z where a = fl(z Phi(z)) is a normal float (z != 0, no underflow):
 * that saves the erfc (half the backward's cost) at a relative error 2^-24 in Phi, the
 * rounding of a; lanes with a zero, subnormal or NaN take erfc. */
static inline __m256d gelu_dphi_pd(__m256d z, __m256d a) {
    const __m256d normal = _mm256_cmp_pd(_mm256_andnot_pd(_mm256_set1_pd(-0.0), a),
                                         _mm256_set1_pd((double) FLT_MIN), _CMP_GE_OQ);
    __m256d phi = _mm256_div_pd(a, z);
    if (_mm256_movemask_pd(normal) != 0xf) {
        const __m256d e = _ZGVdN4v_erfc(_mm256_mul_pd(z, _mm256_set1_pd(-INV_SQRT_2)));
        phi = _mm256_blendv_pd(_mm256_mul_pd(_mm256_set1_pd(0.5), e), phi, normal);
    }
    const __m256d q = _ZGVdN4v_exp(_mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(-0.5), z), z));
    return _mm256_add_pd(phi, _mm256_mul_pd(_mm256_mul_pd(z, _mm256_set1_pd(INV_SQRT_2PI)), q));
}

void lm__gelu_f32(const float *z, float *a, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(a + i, _mm256_cvtpd_ps(gelu_pd(_mm256_cvtps_pd(_mm_loadu_ps(z + i)))));
    if (i < n) {
        float buf[4] = {0};
        memcpy(buf, z + i, (n - i) * sizeof *buf);
        _mm_storeu_ps(buf, _mm256_cvtpd_ps(gelu_pd(_mm256_cvtps_pd(_mm_loadu_ps(buf)))));
        memcpy(a + i, buf, (n - i) * sizeof *buf);
    }
}

void lm__gelu_grad_f32(const float *z, const float *a, const float *g, float *out, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d d = gelu_dphi_pd(_mm256_cvtps_pd(_mm_loadu_ps(z + i)),
                                       _mm256_cvtps_pd(_mm_loadu_ps(a + i)));
        const __m256d gd = _mm256_cvtps_pd(_mm_loadu_ps(g + i));
        _mm_storeu_ps(out + i, _mm256_cvtpd_ps(_mm256_mul_pd(gd, d)));
    }
    if (i < n) {
        float zb[4] = {0}, ab[4] = {0}, gb[4] = {0};
        memcpy(zb, z + i, (n - i) * sizeof *zb);
        memcpy(ab, a + i, (n - i) * sizeof *ab);
        memcpy(gb, g + i, (n - i) * sizeof *gb);
        const __m256d d =
            gelu_dphi_pd(_mm256_cvtps_pd(_mm_loadu_ps(zb)), _mm256_cvtps_pd(_mm_loadu_ps(ab)));
        _mm_storeu_ps(gb, _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(gb)), d)));
        memcpy(out + i, gb, (n - i) * sizeof *gb);
    }
}

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

void lm__gelu_f32(const float *z, float *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        a[i] = (float) lm__act_phi(LM_ACT_GELU, (double) z[i]);
}

void lm__gelu_grad_f32(const float *z, const float *a, const float *g, float *out, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = (float) ((double) g[i] * lm__act_dphi(LM_ACT_GELU, (double) z[i], (double) a[i]));
}

#endif
