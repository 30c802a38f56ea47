/*
 * test_ce.c: the softmax cross-entropy of src/loss/loss.c (its exps through vmath's vector exp):
 * a value known in closed form; value and gradient against a scalar libm reference and central
 * finite differences, with rows longer than the kernel's 64-logit chunk and not a multiple of it,
 * soft targets and logits of +-1000 (finite, no overflow); float32 against the same reference
 * rounded to float.
 */
#include "lm_test.h"
#include "lmech/loss.h"

#include <math.h>
#include <string.h>

enum { N = 4, K = 130 }; /* 130 = 64 + 64 + 2: two full chunks and a tail */

/* logits: spread over +-30, row 3 at +-1000; targets: one-hot rows 0, 1, soft rows 2 (sum 1)
 * and 3 (sum 0.5) */
static void make(double *f, double *y) {
    memset(y, 0, N * K * sizeof *y);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < K; j++)
            f[i * K + j] = (i == 3 ? 1000.0 : 30.0) * sin(0.91 * (double) (i * K + j) + 0.4);
    y[0 * K + 7] = 1, y[1 * K + 129] = 1;
    y[2 * K + 3] = 0.25, y[2 * K + 70] = 0.75;
    y[3 * K + 0] = 0.2, y[3 * K + 128] = 0.3;
}

/* the reference, one scalar libm exp per logit: L = (1/n) sum_i [ysum_i lse_i - sum_j y_ij f_ij],
 * dL/df_ij = (ysum_i softmax_ij - y_ij) / n */
static double reference(const double *f, const double *y, double *df) {
    double total = 0;
    for (size_t i = 0; i < N; i++) {
        const double *fi = f + i * K, *yi = y + i * K;
        double mx = fi[0], se = 0, ysum = 0, yf = 0;
        for (size_t j = 1; j < K; j++)
            mx = fmax(mx, fi[j]);
        for (size_t j = 0; j < K; j++) {
            se += exp(fi[j] - mx);
            ysum += yi[j];
            yf += yi[j] * fi[j];
        }
        const double lse = mx + log(se);
        total += ysum * lse - yf;
        for (size_t j = 0; j < K; j++)
            df[i * K + j] = (ysum * exp(fi[j] - lse) - yi[j]) / N;
    }
    return total / N;
}

Test(ce, closed_form) {
    /* f = (0, ln 3), target class 0: p_0 = 1/4, L = ln 4, dL/df = (1/4 - 1, 3/4) */
    const double f[2] = {0.0, log(3.0)}, y[2] = {1.0, 0.0};
    double v, df[2];
    lm_err err = {0};
    cr_assert_eq(lm_loss_eval(LM_LOSS_CE, f, y, 1, 2, &v, df, &err), LM_OK, "%s", err.msg);
    cr_assert(lm_close(v, log(4.0), 1e-15, 0), "%.17g", v);
    cr_assert(lm_close(df[0], -0.75, 1e-15, 0) && lm_close(df[1], 0.75, 1e-15, 0), "%g %g", df[0],
              df[1]);
}

Test(ce, float64_against_reference_and_finite_differences) {
    static double f[N * K], y[N * K], df[N * K], want[N * K];
    make(f, y);
    double v;
    lm_err err = {0};
    cr_assert_eq(lm_loss_eval(LM_LOSS_CE, f, y, N, K, &v, df, &err), LM_OK, "%s", err.msg);
    const double vr = reference(f, y, want);
    cr_assert(isfinite(v) && lm_close(v, vr, 1e-14, 0), "value %.17g, reference %.17g", v, vr);
    for (size_t i = 0; i < N * K; i++)
        cr_assert(lm_close(df[i], want[i], 1e-13, 1e-300), "df[%zu] %.17g vs %.17g", i, df[i],
                  want[i]);
    /* finite differences on the three moderate rows alone (values ~30; h = 1e-5: truncation
     * ~h^2 / 6 ~ 2e-11, rounding ~30 eps / h ~ 1e-9) */
    const double h = 1e-5;
    cr_assert_eq(lm_loss_eval(LM_LOSS_CE, f, y, 3, K, &v, df, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < 3 * K; i += 7) {
        double vp, vm;
        const double f0 = f[i];
        f[i] = f0 + h;
        lm_loss_eval(LM_LOSS_CE, f, y, 3, K, &vp, NULL, NULL);
        f[i] = f0 - h;
        lm_loss_eval(LM_LOSS_CE, f, y, 3, K, &vm, NULL, NULL);
        f[i] = f0;
        cr_assert(fabs((vp - vm) / (2 * h) - df[i]) < 1e-8, "logit %zu: fd %.12g, df %.12g", i,
                  (vp - vm) / (2 * h), df[i]);
    }
}

Test(ce, float32_is_the_reference_rounded) {
    static double f[N * K], y[N * K], want[N * K];
    static float f32[N * K], y32[N * K], df32[N * K];
    make(f, y);
    for (size_t i = 0; i < N * K; i++) { /* the same float-rounded inputs in the reference */
        f[i] = (double) (f32[i] = (float) f[i]);
        y[i] = (double) (y32[i] = (float) y[i]);
    }
    double v;
    lm_err err = {0};
    cr_assert_eq(lm_loss_eval_f32(LM_LOSS_CE, f32, y32, N, K, &v, df32, &err), LM_OK, "%s",
                 err.msg);
    const double vr = reference(f, y, want);
    cr_assert(lm_close(v, vr, 1e-14, 0), "value %.17g, reference %.17g", v, vr);
    for (size_t i = 0; i < N * K; i++) {
        const float w = (float) want[i];
        const double ulp = (double) nextafterf(fabsf(w), INFINITY) - (double) fabsf(w);
        cr_assert(fabs((double) df32[i] - (double) w) <= ulp, "df[%zu] %.9g vs %.9g", i,
                  (double) df32[i], (double) w);
    }
}

/* The Hessian's R-operator, r = (1/n) (diag(p) - p p^T) rf per row (one-hot and unit-sum rows
 * 0..2), against central differences of the gradient along rf, and in place (r aliasing rf). */
Test(ce, hess_apply_against_finite_differences_and_in_place) {
    static double f[N * K], y[N * K], rf[N * K], r[N * K], fp[N * K], fm[N * K], gp[N * K],
        gm[N * K];
    make(f, y);
    for (size_t i = 0; i < 3 * K; i++)
        rf[i] = cos(1.1 * (double) i);
    lm_loss_hess_apply(LM_LOSS_CE, f, y, 3, K, rf, r);
    const double h = 1e-6; /* error ~h^2 + eps / h ~ 1e-10 of the entries' scale */
    for (size_t i = 0; i < 3 * K; i++) {
        fp[i] = f[i] + h * rf[i];
        fm[i] = f[i] - h * rf[i];
    }
    double v;
    lm_loss_eval(LM_LOSS_CE, fp, y, 3, K, &v, gp, NULL);
    lm_loss_eval(LM_LOSS_CE, fm, y, 3, K, &v, gm, NULL);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < 3 * K; i++) {
        worst = fmax(worst, fabs((gp[i] - gm[i]) / (2 * h) - r[i]));
        scale = fmax(scale, fabs(r[i]));
    }
    cr_assert(scale > 1e-3 && worst < 1e-7 * scale, "fd off by %g (scale %g)", worst, scale);
    lm_loss_hess_apply(LM_LOSS_CE, f, y, 3, K, rf, rf);
    cr_assert(memcmp(rf, r, 3 * K * sizeof *r) == 0, "in place differs");
}
