/*
 * test_matrix_completion.c: the matrix-completion analysis (src/exp/exp_matrix_completion.c) on
 * hand-filled stores in the quick layout (depths 1, 2, 3 x inits 1e-1, 1e-2 x 4 seeds, plan
 * order depth, init, seed).
 *
 *   - Negative control: every depth behaves like depth 1 (plain gradient descent on P, which
 *     leaves the unobserved entries at their init: error ~ 1, P of full effective rank). The
 *     low-rank claims at depth 3 must fail, and so must "error falls with depth".
 *   - The same analysis on values like the measured ones passes every claim.
 */
#include "lm_test.h"

#include "exp/internal.h"
#include "exp_fixture.h"

#define NS 4
#define NI 2

static const char *CFG = "{\"name\": \"fixture\"}";

typedef double (*value_fn)(size_t depth, size_t init, size_t seed);

static void fill(lm_fx *f, value_fn err_of, value_fn erank_of) {
    const int64_t step = 30000;
    for (size_t a = 0; a < 3; a++)
        for (size_t i = 0; i < NI; i++)
            for (size_t s = 0; s < NS; s++) {
                char label[64];
                snprintf(label, sizeof label, "depth=%zu init=%zu seed=%zu", a + 1, i, s);
                const int64_t r = lm_fx_run(f, label, CFG);
                const double e = err_of(a + 1, i, s), er = erank_of(a + 1, i, s), t = 2.9;
                lm_fx_series(f, r, "completion_error", 1, &step, &e);
                lm_fx_series(f, r, "erank", 1, &step, &er);
                lm_fx_series(f, r, "erank_target", 1, &step, &t);
            }
}

/* depth 1 everywhere: error 1 (a hair worse when "deeper"), effective rank ~ 20 */
static double e_shallow(size_t depth, size_t init, size_t seed) {
    (void) init;
    return 1.0 + 0.001 * (double) seed + 0.002 * (double) depth;
}
static double er_shallow(size_t depth, size_t init, size_t seed) {
    (void) depth;
    (void) init;
    return 20.0 + 0.1 * (double) seed;
}

/* like the measurements: depth 1 ~ 1, depth 2 ~ 0.5 (0.8 at init 1e-1), depth 3 ~ 0.01 (0.6) */
static double e_measured(size_t depth, size_t init, size_t seed) {
    const double j = 0.01 * (double) seed;
    if (depth == 1)
        return 1.0 + 0.001 * (double) seed;
    if (depth == 2)
        return (init == 0 ? 0.8 : 0.5) + j;
    return (init == 0 ? 0.6 : 0.01) + 0.1 * j;
}
static double er_measured(size_t depth, size_t init, size_t seed) {
    (void) init;
    return depth == 3 ? 2.9 + 0.01 * (double) seed : 10.0;
}

static lm_verdict verdict_of(const lm_fx *f, const char *name) {
    return lm_fx_claim(f, name)->verdict;
}

Test(matrix_completion_exp, depth_1_in_every_slot_fails_the_low_rank_claims) {
    lm_fx f;
    lm_fx_open(&f, "mc-neg", 1);
    fill(&f, e_shallow, er_shallow);
    lm_err err = {0};
    cr_assert_eq(lm__exp_matrix_completion.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(verdict_of(&f, "depth 3 init 0.01: unobserved error"), LM_VERDICT_FAIL);
    cr_assert_eq(verdict_of(&f, "depth 3 init 0.01: effective rank"), LM_VERDICT_FAIL);
    cr_assert_eq(verdict_of(&f, "init 0.01: error falls from depth 2 to 3"), LM_VERDICT_FAIL);
    cr_assert_eq(verdict_of(&f, "init 0.01: error falls from depth 1 to 2"), LM_VERDICT_FAIL);
    /* the depth-1 claim itself holds: the unobserved entries never moved */
    cr_assert_eq(verdict_of(&f, "depth 1 init 0.01: unobserved error"), LM_VERDICT_PASS);
    lm_fx_close(&f);
}

Test(matrix_completion_exp, measured_like_values_pass_every_claim) {
    lm_fx f;
    lm_fx_open(&f, "mc-pos", 1);
    fill(&f, e_measured, er_measured);
    lm_err err = {0};
    cr_assert_eq(lm__exp_matrix_completion.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(f.ctx->n_claims, 8);
    for (size_t i = 0; i < f.ctx->n_claims; i++) {
        const lm_claim *c = &f.ctx->claims[i];
        cr_assert_eq(c->verdict, LM_VERDICT_PASS, "%s: %s", c->name, c->detail);
        cr_assert(c->n_runs >= NS, "%s has %zu runs", c->name, c->n_runs);
    }
    lm_fx_close(&f);
}

/* A missing seed leaves the claims on that cell inconclusive, never a pass. */
Test(matrix_completion_exp, a_failed_run_makes_its_claims_inconclusive) {
    lm_fx f;
    lm_fx_open(&f, "mc-miss", 1);
    fill(&f, e_measured, er_measured);
    f.ctx->run[(2 * NI + 1) * NS + 0] = -1; /* depth 3, init 1e-2, seed 0 failed */
    lm_err err = {0};
    cr_assert_eq(lm__exp_matrix_completion.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(verdict_of(&f, "depth 3 init 0.01: unobserved error"), LM_VERDICT_INCONCLUSIVE);
    cr_assert_eq(verdict_of(&f, "depth 1 init 0.01: unobserved error"), LM_VERDICT_PASS);
    lm_fx_close(&f);
}
