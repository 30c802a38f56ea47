/*
 * test_cka_invariance.c: the claims of cka-invariance on a hand-made representation (Gaussian X,
 * 300 x 12; no training), and each turned to where the theory says it must fail:
 *   - general Gaussian maps in place of orthogonal ones: CKA(X, cXM) != 1, so the three
 *     invariance claims fail;
 *   - an orthogonal "general map" (condition number 1): CKA(X, XA) = 1, so the claim that a
 *     general map moves CKA below 1 - 1e-3 fails;
 *   - correlated features (rho = 0.5): the debiased CKA is far from 0 and its claim fails;
 *   - the biased-CKA claim judged on the debiased values (mean ~ 0) does not pass.
 */
#include "exp_fixture.h"

#define lm__exp_cka_invariance lm__exp_cka_invariance_under_test
#include "exp/exp_cka_invariance.c"

static double *gaussian(size_t n, size_t p, uint64_t seed) {
    double *x = malloc(n * p * sizeof *x);
    cr_assert_not_null(x);
    lm_rng g;
    lm_rng_seed(&g, seed, 7);
    for (size_t i = 0; i < n * p; i++)
        x[i] = lm_rng_normal(&g);
    return x;
}

static const lm_claim *claim(const lm_fx *f, const char *name) {
    for (size_t i = 0; i < f->ctx->n_claims; i++)
        if (strcmp(f->ctx->claims[i].name, name) == 0)
            return &f->ctx->claims[i];
    cr_assert_fail("no claim \"%s\"", name);
    return NULL;
}

static void judge_on(lm_fx *f, const design *d) {
    double *X = gaussian(300, 12, 3);
    lm_err err = {0};
    const int64_t runs[1] = {1};
    cr_assert_eq(judge_all(f->ctx, d, X, 300, 12, runs, 1, &err), LM_OK, "%s", err.msg);
    free(X);
}

static const char *const INV[3] = {"linear_cka(X, cXQ) = 1", "rbf_cka(X, cXQ) = 1",
                                   "debiased_cka(X, cXQ) = 1"};

Test(cka_invariance, the_claims_pass_in_the_theorys_setting) {
    lm_fx f;
    lm_fx_open(&f, "cka-inv-ok", 1);
    const design d = design_for(1);
    judge_on(&f, &d);
    for (size_t i = 0; i < f.ctx->n_claims; i++) {
        const lm_claim *c = &f.ctx->claims[i];
        cr_assert_eq(c->verdict, LM_VERDICT_PASS, "%s: %g +- %g (%s)", c->name, c->measured,
                     c->uncertainty, c->detail);
        cr_assert(isfinite(c->uncertainty) && c->uncertainty > 0, "%s", c->name);
    }
    cr_assert_eq(f.ctx->n_claims, 6);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(cka_invariance, general_maps_fail_the_invariance_claims) {
    lm_fx f;
    lm_fx_open(&f, "cka-inv-general", 1);
    design d = design_for(1);
    d.general = 1;
    judge_on(&f, &d);
    for (size_t i = 0; i < 3; i++) {
        const lm_claim *c = claim(&f, INV[i]);
        cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%s: %g +- %g (%s)", c->name, c->measured,
                     c->uncertainty, c->detail);
        cr_assert(c->measured > 1e-3, "%s: %g", c->name, c->measured);
    }
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(cka_invariance, an_orthogonal_general_map_fails_the_negative_control) {
    lm_fx f;
    lm_fx_open(&f, "cka-inv-orth", 1);
    design d = design_for(1);
    d.logcon = 0; /* A = U V^T: orthogonal, so CKA(X, XA) = 1 */
    judge_on(&f, &d);
    const lm_claim *c = claim(&f, "linear_cka(X, XA) < 1 for a general map A");
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%g +- %g", c->measured, c->uncertainty);
    cr_assert(fabs(c->measured - 1) < 1e-12, "%.17g", c->measured);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(cka_invariance, dependent_features_fail_the_debiased_claim) {
    lm_fx f;
    lm_fx_open(&f, "cka-inv-dep", 1);
    design d = design_for(1);
    d.rho = 0.5;
    judge_on(&f, &d);
    const lm_claim *c = claim(&f, "debiased CKA of independent features ~ 0");
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%g +- %g", c->measured, c->uncertainty);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(cka_invariance, the_positive_bias_claim_does_not_pass_on_an_unbiased_estimator) {
    lm_fx f;
    lm_fx_open(&f, "cka-inv-bias", 1);
    const design d = design_for(1);
    double deb[G_DRAWS], bia[G_DRAWS];
    lm_err err = {0};
    cr_assert_eq(gaussian_draws(&d, deb, bia, &err), LM_OK, "%s", err.msg);
    const int64_t runs[1] = {1};
    judge_bias(f.ctx, deb, deb, runs, 1); /* the debiased values where the biased belong */
    const lm_claim *c = claim(&f, "biased linear CKA of independent features > 0");
    cr_assert_neq(c->verdict, LM_VERDICT_PASS, "%g +- %g", c->measured, c->uncertainty);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}
