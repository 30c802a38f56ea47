/*
 * test_cka_seeds.c: cka-seeds' analysis on hand-made representations (no training): pairs of
 * 4-layer "nets" whose layer l is an independent Gaussian matrix X_l (200 x 16), the second seed's
 * a rotation of the first's plus 10 % noise. There every claim passes; each is then put where the
 * theory says it must fail:
 *   - the second seed's rows shuffled (representations of different inputs): the diagonal CKA
 *     drops to the permutation null's level and each hidden layer's claim fails;
 *   - the second seed's layers in reverse order: no layer is identified, the claim fails.
 */
#include "exp_fixture.h"

#include <cblas.h>

#define lm__exp_cka_seeds lm__exp_cka_seeds_under_test
#include "exp/exp_cka_seeds.c"

#define TN     200
#define TP     16
#define TL     4
#define TPAIRS 3

enum { SAME, SHUFFLED, REVERSED };

/* One pair: a's layers X_l, b's X_{l'} Q + 0.1 Z with l' = l (REVERSED: L + 1 - l), rows of b
 * permuted when SHUFFLED. */
static void make_pair(uint64_t seed, int how, lm__exp_reps *a, lm__exp_reps *b) {
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    lm_rng g;
    lm_rng_seed(&g, seed, 11);
    double *Q = malloc(TP * TP * sizeof *Q);
    size_t perm[TN];
    for (size_t i = 0; i < TN; i++)
        perm[i] = i;
    if (how == SHUFFLED)
        lm_rng_shuffle(&g, perm, TN);
    a->n = b->n = TN;
    a->L = b->L = TL;
    for (size_t l = 1; l <= TL; l++) {
        a->width[l] = b->width[l] = TP;
        a->h[l] = lm_malloc(TN * TP * sizeof(double));
        b->h[l] = lm_malloc(TN * TP * sizeof(double));
        for (size_t i = 0; i < TN * TP; i++)
            a->h[l][i] = lm_rng_normal(&g);
    }
    lm_err err = {0};
    for (size_t l = 1; l <= TL; l++) {
        const size_t src = how == REVERSED ? TL + 1 - l : l;
        cr_assert_eq(lm_rng_orthonormal(&g, TP, TP, Q, &err), LM_OK, "%s", err.msg);
        double *y = b->h[l];
        for (size_t i = 0; i < TN; i++)
            cblas_dgemv(CblasRowMajor, CblasTrans, TP, TP, 1.0, Q, TP, a->h[src] + perm[i] * TP, 1,
                        0.0, y + i * TP, 1);
        for (size_t i = 0; i < TN * TP; i++)
            y[i] += 0.1 * lm_rng_normal(&g);
    }
    free(Q);
}

static void run_analysis(lm_fx *f, int how) {
    pair_stats ps[TPAIRS];
    const double acc[2] = {0.5, 0.5};
    lm_err err = {0};
    for (size_t j = 0; j < TPAIRS; j++) {
        lm__exp_reps a, b;
        make_pair(j + 1, how, &a, &b);
        cr_assert_eq(pair_measure(&a, &b, 19, &ps[j], &err), LM_OK, "%s", err.msg);
        lm__exp_reps_free(&a);
        lm__exp_reps_free(&b);
    }
    const int64_t runs[1] = {1};
    cr_assert_eq(judge_pairs(f->ctx, TPAIRS, ps, acc, 2, runs, 1, &err), LM_OK, "%s", err.msg);
}

static lm_verdict verdict(const lm_fx *f, const char *name) {
    const lm_claim *c = lm_fx_claim(f, name);
    cr_log_info("%s: %g +- %g (%s)", c->name, c->measured, c->uncertainty, c->detail);
    return c->verdict;
}

static const char *const DIAG[3] = {"cross-seed CKA, layer 1", "cross-seed CKA, layer 2",
                                    "cross-seed CKA, layer 3"};

Test(cka_seeds, rotated_layers_pass_every_claim) {
    lm_fx f;
    lm_fx_open(&f, "cka-seeds-same", 1);
    run_analysis(&f, SAME);
    for (size_t l = 0; l < 3; l++)
        cr_assert_eq(verdict(&f, DIAG[l]), LM_VERDICT_PASS, "%s", DIAG[l]);
    cr_assert_eq(verdict(&f, "layer identification"), LM_VERDICT_PASS);
    const lm_claim *c = lm_fx_claim(&f, "null p95 of cross-seed CKA, layer 1");
    cr_assert(c->measured > 0 && c->measured < 0.3, "%g", c->measured);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(cka_seeds, shuffled_rows_fail_the_diagonal) {
    lm_fx f;
    lm_fx_open(&f, "cka-seeds-shuffled", 1);
    run_analysis(&f, SHUFFLED);
    for (size_t l = 0; l < 3; l++)
        cr_assert_eq(verdict(&f, DIAG[l]), LM_VERDICT_FAIL, "%s", DIAG[l]);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(cka_seeds, reversed_layers_fail_identification) {
    lm_fx f;
    lm_fx_open(&f, "cka-seeds-reversed", 1);
    run_analysis(&f, REVERSED);
    cr_assert_eq(verdict(&f, "layer identification"), LM_VERDICT_FAIL);
    cr_assert_eq(lm_fx_claim(&f, "layer identification")->measured, 0.0);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(cka_seeds, bad_input_is_refused_with_its_reason) {
    lm_fx f;
    lm_fx_open(&f, "cka-seeds-bad", 1);
    lm_err err = {0};
    lm__exp_reps r;
    cr_assert_eq(lm__exp_reps_load(f.ctx, -1, 0, &r, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "run -1"), "%s", err.msg);
    cr_assert_null(r.h[1]);
    const double v[1] = {0.5};
    cr_assert_eq(lm__exp_figure_matrix(f.ctx, "m", "t", "x", "y", 0, 1, NULL, NULL, v, 0, 1, &err),
                 LM_EINVAL);
    cr_assert(strstr(err.msg, "0 x 1"), "%s", err.msg);
    /* a pair whose nets differ in depth */
    lm__exp_reps a, b;
    make_pair(1, SAME, &a, &b);
    b.L = 3;
    pair_stats ps;
    cr_assert_eq(pair_measure(&a, &b, 0, &ps, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "4 and 3 layers"), "%s", err.msg);
    b.L = 4;
    lm__exp_reps_free(&a);
    lm__exp_reps_free(&b);
    cr_assert_eq(judge_pairs(f.ctx, 0, &ps, NULL, 0, NULL, 0, &err), LM_EINVAL);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}
