/*
 * test_vmath.c: the vectorised tanh and exp of src/model/vmath.c (libmvec where available) against
 * libm's scalar ones, the float32 GELU kernels against act_impl.h's definition, and position
 * independence (a value's result must not depend on where it sits in the array, or batches split
 * across threads would differ from whole ones).
 */
#include "lm_test.h"
#include "lmech/model.h"
#include "model/internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ulp distance between two finite doubles of the same sign */
static double ulps(double a, double b) {
    if (a == b)
        return 0;
    return fabs(a - b) / (nextafter(fabs(b), LM_INF) - fabs(b));
}

Test(vmath, tanh_within_4_ulp_of_libm) {
    enum { N = 20003 }; /* not a multiple of 4 or 8: the tail path runs */
    static double z[N], a[N];
    static float zf[N], af[N];
    for (size_t i = 0; i < N; i++) {
        /* -30 .. 30 with dense coverage near 0, where tanh(x) ~ x is easy to get wrong */
        const double t = -1.0 + 2.0 * (double) i / (N - 1);
        z[i] = 30.0 * t * t * t;
        zf[i] = (float) z[i];
    }
    lm__tanh_f64(z, a, N);
    lm__tanh_f32(zf, af, N);
    double worst = 0, worstf = 0;
    for (size_t i = 0; i < N; i++) {
        worst = fmax(worst, ulps(a[i], tanh(z[i])));
        /* float: compare with the double result rounded to float */
        const float want = (float) tanh((double) zf[i]);
        if (af[i] != want)
            worstf = fmax(worstf,
                          fabs((double) af[i] - (double) want) /
                              ((double) nextafterf(fabsf(want), INFINITY) - (double) fabsf(want)));
    }
    /* glibc documents libmvec's functions to within 4 ulp */
    cr_assert(worst <= 4, "float64 tanh off by %g ulp", worst);
    cr_assert(worstf <= 4, "float32 tanh off by %g ulp", worstf);
    double zero = 0.0, out = 1.0;
    lm__tanh_f64(&zero, &out, 1);
    cr_assert_eq(out, 0.0);
}

Test(vmath, result_does_not_depend_on_position) {
    double z[13], whole[13], one[1];
    for (size_t i = 0; i < 13; i++)
        z[i] = 0.37 * (double) i - 2.1;
    lm__tanh_f64(z, whole, 13);
    for (size_t i = 0; i < 13; i++) {
        lm__tanh_f64(z + i, one, 1);
        cr_assert_eq(one[0], whole[i], "element %zu: alone %.17g, in the array %.17g", i, one[0],
                     whole[i]);
    }
    double inplace[13];
    memcpy(inplace, z, sizeof z);
    lm__tanh_f64(inplace, inplace, 13);
    cr_assert(memcmp(inplace, whole, sizeof whole) == 0, "in place differs");
}

Test(vmath, exp_within_4_ulp_of_libm) {
    /* the attention softmax's range: scores minus the row maximum, -100 .. 0, and a little above
     * (exp(x) for x in -100 .. 5, dense near 0); in place, as the softmax calls it */
    enum { N = 20003 }; /* not a multiple of 4 or 8: the tail path runs */
    static double z[N], a[N];
    static float zf[N], af[N];
    for (size_t i = 0; i < N; i++) {
        const double t = (double) i / (N - 1);
        z[i] = 5.0 - 105.0 * t * t;
        zf[i] = (float) z[i];
    }
    memcpy(a, z, sizeof z);
    memcpy(af, zf, sizeof zf);
    lm__exp_f64(a, a, N);
    lm__exp_f32(af, af, N);
    double worst = 0, worstf = 0;
    for (size_t i = 0; i < N; i++) {
        worst = fmax(worst, ulps(a[i], exp(z[i])));
        const float want = (float) exp((double) zf[i]);
        if (af[i] != want)
            worstf = fmax(worstf,
                          fabs((double) af[i] - (double) want) /
                              ((double) nextafterf(fabsf(want), INFINITY) - (double) fabsf(want)));
    }
    cr_assert(worst <= 4, "float64 exp off by %g ulp", worst);
    cr_assert(worstf <= 4, "float32 exp off by %g ulp", worstf);
    double zero = 0.0, out = 0.0;
    lm__exp_f64(&zero, &out, 1);
    cr_assert_eq(out, 1.0);
}

/* float distance in ulps (of the wanted value) */
static double ulps_f(float got, float want) {
    if (got == want)
        return 0;
    return fabs((double) got - (double) want) /
           ((double) nextafterf(fabsf(want), INFINITY) - (double) fabsf(want));
}

/* The float32 GELU kernels evaluate act_impl.h's double expressions in vector lanes and round
 * once. The forward must give lm_act_phi rounded to float, off by at most one ulp (a double value
 * within libmvec's 4 ulp of a float rounding boundary), over -16 .. 16: the left tail (z Phi(z)
 * down to the subnormals, where 1 + erf cancels), dense around 0, and saturation. The gradient
 * reads Phi(z) off the forward output as a / z, so it carries a's rounding, 2^-24 Phi(z), besides
 * its own: |out - fl(g phi'(z))| <= ulp + 2^-24 |g| Phi(z); lanes where a is zero or subnormal
 * (z = 0, z < -13.3, |z| < 2^-125) take erfc instead and must be within an ulp. */
Test(vmath, gelu_f32_is_the_double_definition_rounded) {
    enum { N = 20003 }; /* not a multiple of 4: the tail path runs */
    static float z[N], a[N], g[N], d[N], inplace[N];
    for (size_t i = 0; i < N; i++) {
        const double t = -1.0 + 2.0 * (double) i / (N - 1);
        z[i] = (float) (16.0 * t * t * t);
        g[i] = (float) (1.0 + 0.5 * sin(0.37 * (double) i)); /* the incoming gradient */
    }
    z[1] = 0.0f, z[2] = 1e-38f, z[3] = -1e-38f; /* a = 0 or subnormal: the erfc lanes */
    lm__gelu_f32(z, a, N);
    lm__gelu_grad_f32(z, a, g, d, N);
    double worst = 0, worstd = 0, worst_fallback = 0;
    size_t exact = 0;
    for (size_t i = 0; i < N; i++) {
        const double zd = (double) z[i], phi_cdf = 0.5 * erfc(-zd / sqrt(2.0));
        const float want = (float) lm_act_phi(LM_ACT_GELU, zd);
        const float wantd =
            (float) ((double) g[i] * lm_act_dphi(LM_ACT_GELU, zd, lm_act_phi(LM_ACT_GELU, zd)));
        worst = fmax(worst, ulps_f(a[i], want));
        exact += a[i] == want;
        if (fabsf(a[i]) < FLT_MIN) {
            worst_fallback = fmax(worst_fallback, ulps_f(d[i], wantd));
            continue;
        }
        const double ulp = (double) nextafterf(fabsf(wantd), INFINITY) - (double) fabsf(wantd);
        const double bound = ulp + 0x1p-24 * fabs((double) g[i]) * phi_cdf;
        worstd = fmax(worstd, fabs((double) d[i] - (double) wantd) / bound);
    }
    cr_assert(worst <= 1, "float32 GELU off by %g ulp", worst);
    cr_assert(exact >= N - N / 100, "only %zu of %d bitwise equal", exact, N);
    cr_assert(worstd <= 1, "float32 GELU gradient at %g of its bound", worstd);
    cr_assert(worst_fallback <= 1, "float32 GELU gradient (erfc lanes) off by %g ulp",
              worst_fallback);
    cr_assert_eq(d[1], 0.5f * g[1], "phi'(0) = 1/2");
    /* the tail: -16 Phi(-16) ~ -1e-56 underflows to -0; at -8 the erfc form keeps its digits */
    float far[3] = {-16.0f, -8.0f, 0.0f}, out[3];
    lm__gelu_f32(far, out, 3);
    cr_assert_eq(out[0], 0.0f);
    cr_assert(fabs((double) out[1] / (-8 * 6.22096057427178e-16) - 1) < 1e-7, "%g",
              (double) out[1]);
    cr_assert_eq(out[2], 0.0f);
    /* position independence and aliasing (a = z, out = g in place), as the layers call them */
    float one[1];
    for (size_t i = 0; i < 13; i++) {
        lm__gelu_f32(z + 5000 + i, one, 1);
        cr_assert_eq(one[0], a[5000 + i], "element %zu alone", i);
        lm__gelu_grad_f32(z + 5000 + i, a + 5000 + i, g + 5000 + i, one, 1);
        cr_assert_eq(one[0], d[5000 + i], "gradient element %zu alone", i);
    }
    memcpy(inplace, z, sizeof z);
    lm__gelu_f32(inplace, inplace, N);
    cr_assert(memcmp(inplace, a, sizeof a) == 0, "GELU in place differs");
    memcpy(inplace, g, sizeof g);
    lm__gelu_grad_f32(z, a, inplace, inplace, N);
    cr_assert(memcmp(inplace, d, sizeof d) == 0, "GELU gradient in place differs");
}
