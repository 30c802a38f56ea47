/*
 * test_cka_architectures.c: cka-architectures' analysis on hand-made "networks" (no training),
 * and its plan. A CNN and an MLP are stand-ins with 4 representation layers each: every layer a
 * random isometric embedding of a signal (150 x 6) plus noise. Trained pairs share the signal of
 * their penultimate layers and logits and the untrained pairs do not: every claim passes. The
 * negative control swaps them (the untrained pairs share a signal, the trained ones are
 * independent): the trained CKA sits inside its permutation null and below the untrained pair,
 * so every claim fails.
 */
#include "exp_fixture.h"

#define lm__exp_cka_architectures lm__exp_cka_architectures_under_test
#include "exp/exp_cka_architectures.c"

#define TN 150
#define TS 6

/* layer l of a net: S_l embedded in w columns plus noise; own == NULL draws a private signal */
static void make_net(const double *shared, size_t w, uint64_t seed, lm__exp_reps *r) {
    memset(r, 0, sizeof *r);
    lm_rng g;
    lm_rng_seed(&g, seed, 17);
    r->n = TN;
    r->L = N_L;
    r->accuracy = 0.5;
    double own[TN * TS];
    for (size_t l = 1; l <= r->L; l++) {
        r->width[l] = w;
        r->h[l] = lm_malloc(TN * w * sizeof(double));
        double Q[32 * TS];
        lm_err err = {0};
        cr_assert_eq(lm_rng_orthonormal(&g, w, TS, Q, &err), LM_OK, "%s", err.msg);
        /* the last two layers carry the shared signal when given; the first two never do */
        const double *s = own;
        if (shared && l >= N_L - 1)
            s = shared + (l - (N_L - 1)) * TN * TS;
        else
            for (size_t i = 0; i < TN * TS; i++)
                own[i] = lm_rng_normal(&g);
        for (size_t i = 0; i < TN; i++)
            for (size_t j = 0; j < w; j++) {
                double v = 0;
                for (size_t k = 0; k < TS; k++)
                    v += s[i * TS + k] * Q[j * TS + k];
                r->h[l][i * w + j] = v + 0.3 * sqrt((double) TS / (double) w) * lm_rng_normal(&g);
            }
    }
}

static void run_analysis(lm_fx *f, int swapped) {
    const design d = {N_PAIRS, {1, 2, 3, 4}, {1, 2, 3, 4}};
    arch_stats *as = calloc(1, sizeof *as);
    cr_assert_not_null(as);
    double *S = malloc(2 * TN * TS * sizeof *S);
    cr_assert_not_null(S);
    lm_err err = {0};
    for (size_t j = 0; j < N_PAIRS; j++) {
        lm_rng g;
        lm_rng_seed(&g, 5 + j, 19);
        for (size_t i = 0; i < 2 * TN * TS; i++)
            S[i] = lm_rng_normal(&g);
        lm__exp_reps c, m, c0, m0;
        make_net(swapped ? NULL : S, 24, 100 + j, &c);
        make_net(swapped ? NULL : S, 32, 200 + j, &m);
        make_net(swapped ? S : NULL, 24, 300 + j, &c0);
        make_net(swapped ? S : NULL, 32, 400 + j, &m0);
        cr_assert_eq(measure_pair(&d, j, &c, &m, &c0, &m0, as, &err), LM_OK, "%s", err.msg);
        as->n_pairs = j + 1;
        lm__exp_reps_free(&c);
        lm__exp_reps_free(&m);
        lm__exp_reps_free(&c0);
        lm__exp_reps_free(&m0);
    }
    const int64_t runs[1] = {1};
    judge(f->ctx, as, runs, 1);
    cr_assert_eq(figures(f->ctx, as, &err), LM_OK, "%s", err.msg);
    free(S);
    free(as);
}

static const char *const CLAIMS[4] = {
    "penultimate layers above the permutation null", "penultimate layers more alike than at init",
    "logits above the permutation null", "logits more alike than at init"};

static lm_verdict verdict(const lm_fx *f, const char *name) {
    const lm_claim *c = lm_fx_claim(f, name);
    cr_log_info("%s: %g +- %g (%s)", c->name, c->measured, c->uncertainty, c->detail);
    return c->verdict;
}

Test(cka_architectures, shared_trained_signal_passes) {
    lm_fx f;
    lm_fx_open(&f, "cka-arch-pass", 1);
    run_analysis(&f, 0);
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(verdict(&f, CLAIMS[i]), LM_VERDICT_PASS, "%s", CLAIMS[i]);
    cr_assert_eq(verdict(&f, "CKA of the penultimate layers"), LM_VERDICT_REPORTED);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(cka_architectures, independent_trained_nets_fail) {
    lm_fx f;
    lm_fx_open(&f, "cka-arch-fail", 1);
    run_analysis(&f, 1);
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(verdict(&f, CLAIMS[i]), LM_VERDICT_FAIL, "%s", CLAIMS[i]);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(cka_architectures, plans_cnn_and_mlp_pairs_on_the_same_data) {
    lm_err err = {0};
    for (int quick = 0; quick <= 1; quick++) {
        lm_exp_plan p = {0};
        cr_assert_eq(plan(quick, &p, &err), LM_OK, "%s", err.msg);
        cr_assert_eq(p.n, 2u * N_PAIRS);
        for (size_t i = 0; i < p.n; i++) {
            lm_config *c;
            cr_assert_eq(
                lm_config_parse(p.config[i], strlen(p.config[i]), "plan", 0, NULL, &c, &err), LM_OK,
                "%s", err.msg);
            lm_mlp *m;
            cr_assert_eq(lm_mlp_new(&c->model, &m, &err), LM_OK, "%s", err.msg);
            /* even entries the CNN (seed 2j), odd the MLP (seed 2j + 1): different seeds */
            cr_assert_eq(lm_mlp_is_chain(m), (int) (i % 2), "%s", p.label[i]);
            cr_assert_eq(c->seed, (uint64_t) i, "%s", p.label[i]);
            cr_assert_eq(m->d_in, 196u);
            if (i % 2 == 0) {
                const design d = design_for();
                cr_assert_eq(m->n_repr, d.cnn[N_L - 1], "the logits are the last layer");
                cr_assert_eq(lm_mlp_layer_width(m, d.cnn[N_L - 2]), 128u, "penultimate");
            }
            lm_mlp_free(m);
            lm_config_free(c);
        }
        /* the CNN and the MLP see the same data: equal canonical "data" objects */
        const char *a = strstr(p.config[0], "\"data\""), *b = strstr(p.config[1], "\"data\"");
        cr_assert(a && b);
        const size_t la = (size_t) (strchr(a, '}') - a), lb = (size_t) (strchr(b, '}') - b);
        cr_assert(la == lb && memcmp(a, b, la) == 0, "%.*s\n%.*s", (int) la, a, (int) lb, b);
        lm_exp_plan_clear(&p);
    }
}
