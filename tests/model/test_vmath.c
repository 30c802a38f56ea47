/*
 * test_vmath.c: the vectorised tanh and exp of src/model/vmath.c (libmvec where available) against
 * libm's scalar ones, and tanh's position independence (a value's result must not depend on where
 * it sits in the array, or batches split across threads would differ from whole ones).
 */
#include "lm_test.h"
#include "model/internal.h"

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
