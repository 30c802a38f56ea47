/*
 * test_cka_width.c: cka-width's analysis on hand-made "nets" at widths 8, 16, 32, 64 (no
 * training). Each hidden layer of a net of width w is a shared signal S_l (150 x 6) mapped to w
 * columns by a random matrix, plus noise of relative size s(w); two seeds draw their own maps and
 * noise. With s falling as w grows (wide nets closer to the shared signal), both claims pass;
 * with s rising they must fail: the widest pair is the least similar, below 0.8, and
 * CKA(w, 2w) falls with w.
 */
#include "exp_fixture.h"

#define lm__exp_cka_width lm__exp_cka_width_under_test
#include "exp/exp_cka_width.c"

#define TN 150
#define TS 6

static const design TD = {4, {8, 16, 32, 64}};

static void make_net(const double *S, size_t w, double noise, uint64_t seed, lm__exp_reps *r) {
    memset(r, 0, sizeof *r);
    lm_rng g;
    lm_rng_seed(&g, seed, 17);
    r->n = TN;
    r->L = N_HID + 1;
    for (size_t l = 1; l <= r->L; l++) {
        r->width[l] = w;
        r->h[l] = lm_malloc(TN * w * sizeof(double));
        double Q[64 * TS]; /* [w, TS], orthonormal columns: an isometric embedding */
        lm_err err = {0};
        cr_assert_eq(lm_rng_orthonormal(&g, w, TS, Q, &err), LM_OK, "%s", err.msg);
        const double *s = S + (l - 1) * TN * TS;
        const double sd = noise * sqrt((double) TS / (double) w); /* noise relative to signal */
        for (size_t i = 0; i < TN; i++)
            for (size_t j = 0; j < w; j++) {
                double v = 0;
                for (size_t k = 0; k < TS; k++)
                    v += s[i * TS + k] * Q[j * TS + k];
                r->h[l][i * w + j] = v + sd * lm_rng_normal(&g);
            }
    }
}

static void run_analysis(lm_fx *f, int rising) {
    double *S = malloc((N_HID + 1) * TN * TS * sizeof *S);
    cr_assert_not_null(S);
    lm_rng g;
    lm_rng_seed(&g, 5, 19);
    for (size_t i = 0; i < (N_HID + 1) * TN * TS; i++)
        S[i] = lm_rng_normal(&g);
    lm__exp_reps r0[4], r1[4];
    for (size_t i = 0; i < TD.nw; i++) {
        const double noise = rising ? 0.3 * (double) (1u << i) : 1.0 / (double) (1u << i);
        make_net(S, TD.width[i], noise, 100 + i, &r0[i]);
        make_net(S, TD.width[i], noise, 200 + i, &r1[i]);
    }
    width_stats *ws = malloc(sizeof *ws);
    lm_err err = {0};
    cr_assert_eq(measure(TD.nw, r0, r1, ws, &err), LM_OK, "%s", err.msg);
    const int64_t runs[1] = {1};
    judge(f->ctx, &TD, ws, runs, 1);
    cr_assert_eq(figures(f->ctx, &TD, ws, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < TD.nw; i++) {
        lm__exp_reps_free(&r0[i]);
        lm__exp_reps_free(&r1[i]);
    }
    free(ws);
    free(S);
}

static lm_verdict verdict(const lm_fx *f, const char *name) {
    const lm_claim *c = lm_fx_claim(f, name);
    cr_log_info("%s: %g +- %g (%s)", c->name, c->measured, c->uncertainty, c->detail);
    return c->verdict;
}

Test(cka_width, converging_widths_pass) {
    lm_fx f;
    lm_fx_open(&f, "cka-width-conv", 1);
    run_analysis(&f, 0);
    cr_assert_eq(verdict(&f, "CKA between the two widest nets"), LM_VERDICT_PASS);
    cr_assert_eq(verdict(&f, "CKA(w, 2w) grows with w"), LM_VERDICT_PASS);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(cka_width, diverging_widths_fail) {
    lm_fx f;
    lm_fx_open(&f, "cka-width-div", 1);
    run_analysis(&f, 1);
    cr_assert_eq(verdict(&f, "CKA between the two widest nets"), LM_VERDICT_FAIL);
    cr_assert_eq(verdict(&f, "CKA(w, 2w) grows with w"), LM_VERDICT_FAIL);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}
