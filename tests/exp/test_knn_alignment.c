/*
 * test_knn_alignment.c: knn-alignment's analysis on hand-made penultimate layers (no training):
 * the second seed's layer is a rotation of the first's plus 10 % noise (300 inputs, 8 columns):
 * both claims pass. Where they must fail:
 *   - the second seed's rows shuffled (unrelated neighbourhoods): the score is at chance, far
 *     below 20 x chance;
 *   - a collapsed representation (every input on one of two points, as in complete neural
 *     collapse with two classes): neighbour sets are decided by ties, which a row permutation
 *     does not randomise, so the permutation null sits far above 2 x chance.
 */
#include "exp_fixture.h"

#include <cblas.h>

#define lm__exp_knn_alignment lm__exp_knn_alignment_under_test
#include "exp/exp_knn_alignment.c"

#define TN     300
#define TP     8
#define TPAIRS 3

enum { SAME, SHUFFLED, COLLAPSED };

/* 2-layer nets: layer 1 (the penultimate) as described above; layer 2 unused */
static void make_pair(uint64_t seed, int how, lm__exp_reps *a, lm__exp_reps *b) {
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    lm_rng g;
    lm_rng_seed(&g, seed, 13);
    a->n = b->n = TN;
    a->L = b->L = 2;
    for (size_t l = 1; l <= 2; l++) {
        a->width[l] = b->width[l] = TP;
        a->h[l] = lm_malloc(TN * TP * sizeof(double));
        b->h[l] = lm_malloc(TN * TP * sizeof(double));
    }
    double c[2][TP];
    for (size_t k = 0; k < 2 * TP; k++)
        c[k / TP][k % TP] = lm_rng_normal(&g);
    for (size_t i = 0; i < TN; i++)
        for (size_t j = 0; j < TP; j++)
            a->h[1][i * TP + j] = how == COLLAPSED ? c[i % 2][j] : lm_rng_normal(&g);
    size_t perm[TN];
    for (size_t i = 0; i < TN; i++)
        perm[i] = i;
    if (how == SHUFFLED)
        lm_rng_shuffle(&g, perm, TN);
    double Q[TP * TP];
    lm_err err = {0};
    cr_assert_eq(lm_rng_orthonormal(&g, TP, TP, Q, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < TN; i++)
        cblas_dgemv(CblasRowMajor, CblasTrans, TP, TP, 1.0, Q, TP, a->h[1] + perm[i] * TP, 1, 0.0,
                    b->h[1] + i * TP, 1);
    if (how != COLLAPSED)
        for (size_t i = 0; i < TN * TP; i++)
            b->h[1][i] += 0.1 * lm_rng_normal(&g);
    for (size_t i = 0; i < TN * TP; i++)
        a->h[2][i] = b->h[2][i] = 1;
}

static void run_analysis(lm_fx *f, int how) {
    pair_knn pk[TPAIRS];
    lm_err err = {0};
    for (size_t j = 0; j < TPAIRS; j++) {
        lm__exp_reps a, b;
        make_pair(j + 1, how, &a, &b);
        cr_assert_eq(pair_measure(&a, &b, &a, &b, &pk[j], &err), LM_OK, "%s", err.msg);
        lm__exp_reps_free(&a);
        lm__exp_reps_free(&b);
    }
    const int64_t runs[1] = {1};
    judge_pairs(f->ctx, TPAIRS, pk, runs, 1);
}

static lm_verdict verdict(const lm_fx *f, const char *name) {
    const lm_claim *c = lm_fx_claim(f, name);
    cr_log_info("%s: %g +- %g (%s)", c->name, c->measured, c->uncertainty, c->detail);
    return c->verdict;
}

Test(knn_alignment, rotated_neighbourhoods_pass) {
    lm_fx f;
    lm_fx_open(&f, "knn-same", 1);
    run_analysis(&f, SAME);
    cr_assert_eq(verdict(&f, "trained pair mutual k-NN / chance"), LM_VERDICT_PASS);
    cr_assert_eq(verdict(&f, "permutation null p95 / chance"), LM_VERDICT_PASS);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(knn_alignment, shuffled_rows_score_at_chance) {
    lm_fx f;
    lm_fx_open(&f, "knn-shuffled", 1);
    run_analysis(&f, SHUFFLED);
    cr_assert_eq(verdict(&f, "trained pair mutual k-NN / chance"), LM_VERDICT_FAIL);
    cr_assert(lm_fx_claim(&f, "trained pair mutual k-NN / chance")->measured < 3);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(knn_alignment, a_collapsed_representation_fails_the_null) {
    lm_fx f;
    lm_fx_open(&f, "knn-collapsed", 1);
    run_analysis(&f, COLLAPSED);
    cr_assert_eq(verdict(&f, "permutation null p95 / chance"), LM_VERDICT_FAIL);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}
