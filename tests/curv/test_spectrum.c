/* test_spectrum.c: lm_curv_spectrum_run (the report of `lmech hessian` and lmech.hessian) on a
 * diagonal operator with known eigenvalues 1..p (scaled by 0.37, high entropy): Lanczos and the
 * dense route find the same top and bottom eigenvalues, the dense trace is exact, the density
 * integrates to 1, and bad options fail with the output untouched. */
#include "lm_test.h"
#include "lmech/curv.h"

#define P 40

static lm_status diag_apply(void *ud, const double *v, double *out, lm_err *err) {
    (void) ud;
    (void) err;
    for (size_t i = 0; i < P; i++)
        out[i] = 0.37 * (double) (i + 1) * v[i];
    return LM_OK;
}

Test(curv_spectrum, lanczos_and_dense_agree_with_the_known_spectrum) {
    for (int dense = 0; dense <= 1; dense++) {
        lm_err err = {0};
        lm_curv_spectrum_opts o = lm_curv_spectrum_opts_default();
        o.top = 3;
        o.smallest = 2;
        o.dense = dense;
        o.tol = 1e-10;
        o.trace = 1;
        o.probes = 400;
        o.density = 1;
        o.bins = 200;
        o.seed = 11;
        lm_curv_spectrum s;
        cr_assert_eq(lm_curv_spectrum_run(diag_apply, NULL, P, &o, &s, &err), LM_OK, "%s", err.msg);
        for (size_t i = 0; i < 3; i++) /* tol 1e-10 residual: eigenvalues to ~1e-12 */
            cr_assert(lm_close(s.evals[i], 0.37 * (double) (P - i), 1e-9, 0), "dense %d: %g", dense,
                      s.evals[i]);
        for (size_t i = 0; i < 2; i++)
            cr_assert(lm_close(s.small[i], 0.37 * (double) (i + 1), 1e-9, 0), "%g", s.small[i]);
        cr_assert(s.converged);
        const double tr = 0.37 * P * (P + 1) / 2.0;
        if (dense) /* the diagonal summed: exact to rounding */
            cr_assert(lm_close(s.trace, tr, 1e-14, 0) && s.trace_se == 0 && s.iters == 0);
        else /* Hutchinson of a diagonal matrix with Rademacher probes has zero variance */
            cr_assert(lm_close(s.trace, tr, 1e-12, 0), "%g vs %g", s.trace, tr);
        double mass = 0, dx = s.grid[1] - s.grid[0];
        for (size_t i = 0; i < o.bins; i++)
            mass += s.values[i] * dx;
        cr_assert(fabs(mass - 1) < 0.02, "density mass %g", mass); /* a Riemann sum on 200 bins */
        lm_curv_spectrum_clear(&s);
    }
    LM_CHECK_LEAKS();
}

Test(curv_spectrum, bad_options_leave_the_output_untouched) {
    lm_curv_spectrum_opts o = lm_curv_spectrum_opts_default();
    lm_curv_spectrum s, before;
    memset(&s, 0x5a, sizeof s);
    before = s;
    lm_err err = {0};
    o.top = 0;
    cr_assert_eq(lm_curv_spectrum_run(diag_apply, NULL, P, &o, &s, &err), LM_EINVAL);
    o.top = P + 1;
    cr_assert_eq(lm_curv_spectrum_run(diag_apply, NULL, P, &o, &s, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "40 parameters"), "%s", err.msg);
    o.top = 5;
    o.max_iter = 3;
    cr_assert_eq(lm_curv_spectrum_run(diag_apply, NULL, P, &o, &s, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "more eigenpairs than the 3 Lanczos steps"), "%s", err.msg);
    o.max_iter = 0;
    o.dense = 1;
    o.max_mb = 0; /* below any matrix */
    cr_assert_eq(lm_curv_spectrum_run(diag_apply, NULL, P, &o, &s, &err), LM_ELIMIT);
    o = lm_curv_spectrum_opts_default();
    o.tol = LM_NAN;
    cr_assert_eq(lm_curv_spectrum_run(diag_apply, NULL, P, &o, &s, &err), LM_EINVAL);
    cr_assert_eq(memcmp(&s, &before, sizeof s), 0, "the output changed on failure");
    LM_CHECK_LEAKS();
}
