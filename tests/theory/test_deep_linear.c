/*
 * Tests for src/theory/deep_linear.c: half-times and trajectories against references computed
 * independently with mpmath at 30 digits (mp.quad of the separable integral, mp.odefun of
 * du/dt = N u^{2-2/N} (s - u)), the two-layer closed form against its own ODE, the depth-1
 * solution u = s - (s - u0) e^{-t}, the N >= 3 asymptotics, and the error paths.
 */
#include "lm_test.h"
#include "lmech/theory.h"

/* mpmath, 30 digits: the half-time integral int_{u0}^{s/2} du / (N u^{2-2/N} (s - u)). */
static const struct {
    unsigned n;
    double s, u0, t_half;
} REF[] = {
    {3, 2.0, 1e-3, 4.6613275391365866}, {3, 1.0, 1e-3, 9.1447473066082623},
    {4, 3.0, 1e-4, 16.61483855440392},  {1, 2.0, 0.1, 0.64185388617239478},
    {5, 0.5, 1e-6, 2653.8969783650276}, {2, 3.0, 1e-4, 1.7181532211258985},
};

Test(deep_linear, half_time_against_mpmath) {
    lm_err err = {0};
    for (size_t i = 0; i < sizeof REF / sizeof *REF; i++) {
        double th = LM_NAN;
        cr_assert_eq(lm_dln_half_time(REF[i].n, REF[i].s, REF[i].u0, &th, &err), LM_OK, "%s",
                     err.msg);
        cr_assert(lm_close(th, REF[i].t_half, 1e-11, 0), "N=%u s=%g u0=%g: %.17g vs %.17g",
                  REF[i].n, REF[i].s, REF[i].u0, th, REF[i].t_half);
    }
}

Test(deep_linear, depth3_trajectory_against_mpmath_odefun) {
    /* mp.odefun(lambda t, u: 3 u^(4/3) (2 - u), 0, 1e-3) at t = 1, 2, 4, 6 */
    const double t[4] = {4, 1, 6, 2}; /* any order */
    const double ref[4] = {0.11473735782768378, 0.0019520956479048526, 1.9998921623346577,
                           0.0046193668289869657};
    double u[4], th;
    lm_err err = {0};
    const double s = 2.0;
    cr_assert_eq(lm_dln_modes(3, 1, &s, 1e-3, 4, t, u, &th, &err), LM_OK, "%s", err.msg);
    for (int j = 0; j < 4; j++)
        cr_assert(lm_close(u[j], ref[j], 1e-9, 1e-12), "t=%g: %.17g vs %.17g", t[j], u[j], ref[j]);
    cr_assert(lm_close(th, 4.6613275391365866, 1e-11, 0));
    /* the trajectory passes s/2 at the half-time */
    double uh;
    cr_assert_eq(lm_dln_modes(3, 1, &s, 1e-3, 1, &th, &uh, NULL, &err), LM_OK);
    cr_assert(lm_close(uh, 1.0, 1e-9, 0), "u(t_half) = %.17g", uh);
}

Test(deep_linear, two_layer_closed_form) {
    const double s[3] = {3, 2, 1}, u0 = 1e-4;
    double t[50], u[150], th[3];
    for (int j = 0; j < 50; j++)
        t[j] = 0.2 * j;
    lm_err err = {0};
    cr_assert_eq(lm_dln_modes(2, 3, s, u0, 50, t, u, th, &err), LM_OK, "%s", err.msg);
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(u[k * 50], u0);
        /* s e^{2st} / (e^{2st} - 1 + s/u0), the textbook form, where it does not overflow */
        for (int j = 0; j < 50; j++) {
            double e = exp(2 * s[k] * t[j]);
            cr_assert(lm_close(u[k * 50 + j], s[k] * e / (e - 1 + s[k] / u0), 1e-13, 0));
        }
        cr_assert(lm_close(th[k], log((s[k] - u0) / u0) / (2 * s[k]), 1e-15, 0));
        cr_assert(lm_close(lm_dln_u2(s[k], u0, th[k]), s[k] / 2, 1e-13, 0));
        /* monotone rise to s, no overflow at long times */
        for (int j = 1; j < 50; j++)
            cr_assert(u[k * 50 + j] > u[k * 50 + j - 1] || u[k * 50 + j] == s[k]);
        cr_assert(lm_close(lm_dln_u2(s[k], u0, 1e6), s[k], 1e-15, 0));
    }
    /* learning time ~ 1/s: s t_half = ln((s - u0)/u0) / 2 differs between modes only by
     * ln(s_0/s_2)/2 + O(u0) */
    cr_assert(fabs(s[0] * th[0] - s[2] * th[2] - 0.5 * log(s[0] / s[2])) < 1e-3);
}

Test(deep_linear, depth1_and_decay_from_above) {
    /* N = 1: du/dt = s - u, u = s - (s - u0) e^{-t}; u0 > s decays to s */
    const double s = 2.0;
    const double t[3] = {0.5, 1.0, 3.0};
    double u[3], th;
    lm_err err = {0};
    cr_assert_eq(lm_dln_modes(1, 1, &s, 0.1, 3, t, u, &th, &err), LM_OK);
    for (int j = 0; j < 3; j++)
        cr_assert(lm_close(u[j], s - (s - 0.1) * exp(-t[j]), 1e-10, 0));
    cr_assert(lm_close(th, log(1.9 / 1.0), 1e-12, 0));
    cr_assert_eq(lm_dln_modes(3, 1, &s, 2.5, 3, t, u, &th, &err), LM_OK);
    cr_assert(isnan(th), "a mode above s/2 has no half-time");
    cr_assert(u[0] < 2.5 && u[2] < u[0] && u[2] > s);
}

Test(deep_linear, asymptotic_half_time_at_depth) {
    /* N >= 3, u0 -> 0: t_half ~ u0^{-(N-2)/N} / ((N - 2) s), the O(1/s) remainder shrinking
     * relative to it */
    lm_err err = {0};
    for (unsigned n = 3; n <= 5; n++) {
        double prev = LM_INF;
        for (double u0 = 1e-6; u0 >= 1e-15; u0 *= 1e-3) {
            double th, a = pow(u0, -((double) n - 2) / n) / ((n - 2) * 1.5);
            cr_assert_eq(lm_dln_half_time(n, 1.5, u0, &th, &err), LM_OK, "%s", err.msg);
            double rel = fabs(th / a - 1);
            cr_assert(rel < prev, "N=%u u0=%g: relative gap %g did not shrink", n, u0, rel);
            prev = rel;
        }
        cr_assert(prev < 0.01, "N=%u: %g", n, prev);
    }
}

Test(deep_linear, errors_name_the_input) {
    lm_err err = {0};
    double th, u, t = 1, s = 1, bad_t = -1;
    cr_assert_eq(lm_dln_half_time(0, 1, 1e-3, &th, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "depth"));
    cr_assert_eq(lm_dln_half_time(2, -1, 1e-3, &th, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "s = -1"), "%s", err.msg);
    cr_assert_eq(lm_dln_half_time(2, 1, 0, &th, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "u0"));
    cr_assert_eq(lm_dln_half_time(2, 1, 0.7, &th, &err), LM_ERANGE);
    cr_assert(isnan(th));
    cr_assert_eq(lm_dln_modes(2, 1, &s, 1e-3, 1, &bad_t, &u, NULL, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "time[0]"), "%s", err.msg);
    double nan_s = LM_NAN;
    cr_assert_eq(lm_dln_modes(3, 1, &nan_s, 1e-3, 1, &t, &u, NULL, &err), LM_EINVAL);
    cr_assert_eq(lm_dln_modes(3, 0, &s, 1e-3, 1, &t, &u, NULL, &err), LM_EINVAL);
    LM_CHECK_LEAKS();
}
