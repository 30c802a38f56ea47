/*
 * exp_cka_architectures.c: do a CNN and an MLP trained on the same data learn similar
 * representations, layer by layer? The paper's universality question (Kornblith, Norouzi, Lee,
 * Hinton 2019, arXiv 1905.00414, §6: linear CKA finds corresponding layers across architectures;
 * science.md §9), asked with issue 14's representation tools.
 *
 * Setup: the MLP is the §9 similarity run (repr_runs.c: 196-w-w-w-10 ReLU, w = 256, on the first
 * 2000 FMNIST-196 images, SGD momentum 0.9, lr 0.05, weight decay 5e-4, batch 128, 300 epochs,
 * CE); the CNN (repr_runs.c, SIM_CNN_BASE) sees the same images as [1, 14, 14] and trains the same
 * way: conv 8 - relu - avgpool - conv 16 - relu - avgpool - flatten - linear 128 - relu - linear
 * 10. Five pairs j = 0..4: the CNN of seed 2j against the MLP of seed 2j + 1 (different seeds, so
 * the pair shares no minibatch order; the MLPs are cka-seeds' odd seeds, reused by a database
 * that ran it). Representations on the first 1000 test images, flattened: the CNN's two conv
 * blocks (after pooling), its penultimate layer and logits, against the MLP's three hidden layers
 * and logits; a 4 x 4 matrix of linear CKA per pair, trained and at initialisation (theta_0).
 *
 * Claims, written before the first measurement. science.md §9 states no CKA level for different
 * architectures (its 0.8 is for the same architecture across seeds), so only signs are claimed,
 * against the two baselines §9 says to report beside any similarity (a row-permutation null;
 * the untrained networks, since random ReLU nets keep the input's structure):
 *   - penultimate layers above the null: CKA(CNN penultimate, MLP hidden 3) - the null's 95th
 *     percentile (99 row permutations) > 0 (mean over pairs, 2 SE);
 *   - penultimate layers more alike than at init: CKA trained - CKA at theta_0 > 0;
 *   - logits above the null, and more alike than at init (the same two differences).
 * Reported: the mean trained and untrained matrices (figures), the penultimate and logit CKA
 * values, how many CNN layers find their most similar MLP layer at the same depth (and which),
 * the test accuracies.
 *
 * Quick: 1000 images and 40 epochs, MLP width 128 (the cka-seeds quick runs); the same claims.
 * Workload (full): 10 runs of ~15 s each (81 s with --jobs 2 on a quiet machine), then
 * 5 x 2 x 16 linear CKAs of 1000-row matrices (up to 784 columns) and 5 x 2 nulls of 99
 * permutations.
 */
#include "exp/internal.h"

#include "lmech/repr.h"

#include <stdio.h>
#include <string.h>

#define N_PAIRS 5
#define N_L     4 /* layers compared per network */
#define NULL_N  99

typedef struct design {
    size_t n_pairs;
    size_t cnn[N_L], mlp[N_L]; /* representation layers compared (the last two: penultimate and
                                  logits) */
} design;

static design design_for(void) {
    return (design){N_PAIRS, LM__SIM_CNN_LAYERS, {1, 2, 3, 4}};
}

static const char *const CNN_NAMES[N_L] = {"conv block 1", "conv block 2", "CNN penultimate",
                                           "CNN logits"};
static const char *const MLP_NAMES[N_L] = {"hidden 1", "hidden 2", "hidden 3", "MLP logits"};

static lm_status plan(int quick, lm_exp_plan *p, lm_err *err) {
    const design d = design_for();
    const size_t width = quick ? LM__SIM_QUICK_WIDTH : LM__SIM_WIDTH;
    for (size_t j = 0; j < d.n_pairs; j++) {
        LM_TRY(lm__exp_sim_plan_add_cnn(p, quick, 2 * j, err));
        LM_TRY(lm__exp_sim_plan_add(p, quick, width, 2 * j + 1, err));
    }
    return LM_OK;
}

typedef struct arch_stats {
    size_t n_pairs;
    double M[N_PAIRS][N_L][N_L];  /* trained: [pair][cnn layer][mlp layer] */
    double M0[N_PAIRS][N_L][N_L]; /* at theta_0 */
    double p95[N_PAIRS][2];       /* the null's 95th percentile: penultimate, logits */
    double acc[N_PAIRS][2];       /* test accuracy: CNN, MLP */
} arch_stats;

/* One pair: c, m trained; c0, m0 the same nets at theta_0. */
static lm_status measure_pair(const design *d, size_t j, const lm__exp_reps *c,
                              const lm__exp_reps *m, const lm__exp_reps *c0, const lm__exp_reps *m0,
                              arch_stats *as, lm_err *err) {
    const lm__exp_reps *all[4] = {c, m, c0, m0};
    for (size_t k = 0; k < 4; k++) {
        const size_t *want = k % 2 ? d->mlp : d->cnn;
        if (all[k]->n != c->n || all[k]->L < want[N_L - 1])
            LM_FAIL(err, LM_EINVAL,
                    "cka-architectures: pair %zu's %s has %zu layers and %zu inputs (needs layer "
                    "%zu and %zu inputs)",
                    j, k % 2 ? "MLP" : "CNN", all[k]->L, all[k]->n, want[N_L - 1], c->n);
    }
    for (size_t a = 0; a < N_L; a++)
        for (size_t b = 0; b < N_L; b++) {
            const size_t la = d->cnn[a], lb = d->mlp[b];
            /* the null for the penultimate pair and the logits pair (the last two diagonals) */
            const int diag = a == b && a >= N_L - 2;
            const lm_sim_opts o = {.null_n = diag ? NULL_N : 0, .seed = 1 + a};
            lm_sim_result r;
            LM_TRY(lm_similarity(LM_SIM_LINEAR_CKA, c->h[la], c->n, c->width[la], m->h[lb],
                                 m->width[lb], &o, &r, err));
            as->M[j][a][b] = r.value;
            if (diag)
                as->p95[j][a - (N_L - 2)] = r.has_null ? r.null_p95 : LM_NAN;
            LM_TRY(lm_similarity(LM_SIM_LINEAR_CKA, c0->h[la], c0->n, c0->width[la], m0->h[lb],
                                 m0->width[lb], NULL, &r, err));
            as->M0[j][a][b] = r.value;
        }
    as->acc[j][0] = c->accuracy;
    as->acc[j][1] = m->accuracy;
    return LM_OK;
}

/* A sign claim on per-pair differences v[j] (> 0 predicted). */
static void judge_sign(lm_exp_ctx *ctx, const arch_stats *as, const double *v, const char *name,
                       const char *pred, const char *reason, const char *what, const int64_t *runs,
                       size_t nr) {
    double m, u;
    lm__exp_mean_u(as->n_pairs, v, &m, &u);
    char det[400], from[96];
    int k = snprintf(det, sizeof det, "%s per pair:", what);
    for (size_t j = 0; j < as->n_pairs && k > 0 && (size_t) k < sizeof det; j++)
        k += snprintf(det + k, sizeof det - (size_t) k, "%s %.4f", j ? "," : "", v[j]);
    snprintf(from, sizeof from, "2 SE of the mean over %zu (CNN, MLP) seed pairs", as->n_pairs);
    lm_exp_judge(ctx, &(lm_claim_spec){.name = name,
                                       .predicted = pred,
                                       .predicted_value = LM_NAN,
                                       .measured = m,
                                       .uncertainty = u,
                                       .uncertainty_from = from,
                                       .n_seeds = as->n_pairs,
                                       .lo = 0,
                                       .hi = LM_INF,
                                       .tolerance = "difference > 0",
                                       .tolerance_value = 0,
                                       .reason = reason,
                                       .detail = det,
                                       .n_runs = nr,
                                       .runs = runs});
}

static void report(lm_exp_ctx *ctx, const char *name, const char *reason, size_t n, const double *v,
                   const char *det, const int64_t *runs, size_t nr) {
    double m, u;
    lm__exp_mean_u(n, v, &m, &u);
    lm_exp_judge(ctx, &(lm_claim_spec){.name = name,
                                       .predicted = "no prediction (science.md §9 states no "
                                                    "level across architectures)",
                                       .predicted_value = LM_NAN,
                                       .measured = m,
                                       .uncertainty = u,
                                       .uncertainty_from = "2 SE of the mean over the pairs",
                                       .n_seeds = n,
                                       .lo = -LM_INF,
                                       .hi = LM_INF,
                                       .tolerance_value = LM_NAN,
                                       .reason = reason,
                                       .detail = det,
                                       .reported = 1,
                                       .n_runs = nr,
                                       .runs = runs});
}

static void judge(lm_exp_ctx *ctx, const arch_stats *as, const int64_t *runs, size_t nr) {
    const size_t np = as->n_pairs, P = N_L - 2, Lg = N_L - 1;
    double v[N_PAIRS] = {0}, w[N_PAIRS] = {0};
    static const char *null_reason =
        "science.md §9: report a row-permutation null beside a similarity; a CKA above the "
        "null's 95th percentile is one the inputs' pairing makes, not the feature dimensions "
        "(only the sign is predicted: §9 states no CKA level across architectures)";
    static const char *init_reason =
        "science.md §9: random ReLU nets keep the input's structure, so always compare with the "
        "untrained pair; universality (Kornblith et al. 2019 §6) predicts training makes the "
        "architectures' representations more alike (only the sign is predicted)";
    for (size_t j = 0; j < np; j++) {
        v[j] = as->M[j][P][P] - as->p95[j][0];
        w[j] = as->M[j][P][P] - as->M0[j][P][P];
    }
    judge_sign(ctx, as, v, "penultimate layers above the permutation null",
               "CKA(CNN penultimate, MLP hidden 3) exceeds the 95th percentile of its row-"
               "permutation null",
               null_reason, "CKA - null p95", runs, nr);
    judge_sign(ctx, as, w, "penultimate layers more alike than at init",
               "CKA(CNN penultimate, MLP hidden 3) trained exceeds the same pair at theta_0",
               init_reason, "CKA trained - CKA at init", runs, nr);
    for (size_t j = 0; j < np; j++) {
        v[j] = as->M[j][Lg][Lg] - as->p95[j][1];
        w[j] = as->M[j][Lg][Lg] - as->M0[j][Lg][Lg];
    }
    judge_sign(ctx, as, v, "logits above the permutation null",
               "CKA(CNN logits, MLP logits) exceeds the 95th percentile of its row-permutation "
               "null",
               null_reason, "CKA - null p95", runs, nr);
    judge_sign(ctx, as, w, "logits more alike than at init",
               "CKA(CNN logits, MLP logits) trained exceeds the same pair at theta_0", init_reason,
               "CKA trained - CKA at init", runs, nr);
    /* reported: the values themselves, each CNN layer's best MLP layer, the accuracies */
    char det[400];
    for (size_t q = P; q <= Lg; q++) {
        double t[N_PAIRS], z[N_PAIRS], m0, u0;
        for (size_t j = 0; j < np; j++) {
            t[j] = as->M[j][q][q];
            z[j] = as->M0[j][q][q];
        }
        lm__exp_mean_u(np, z, &m0, &u0);
        snprintf(det, sizeof det,
                 "%s against %s, trained; at init %.4f +- %.4f, null p95 of "
                 "pair 0 %.4f",
                 CNN_NAMES[q], MLP_NAMES[q], m0, u0, as->p95[0][q - P]);
        report(ctx, q == P ? "CKA of the penultimate layers" : "CKA of the logits",
               "the similarity behind the sign claims", np, t, det, runs, nr);
    }
    /* the layer correspondence: per pair, how many CNN layers find their best MLP layer at the
     * same depth (conv block 1 -> hidden 1, ..., logits -> logits) */
    double same[N_PAIRS];
    int k = snprintf(det, sizeof det, "best MLP layer per CNN layer (mean trained matrix):");
    for (size_t a = 0; a < N_L && k > 0 && (size_t) k < sizeof det; a++) {
        size_t best = 0;
        double bm = -LM_INF;
        for (size_t b = 0; b < N_L; b++) {
            double s = 0;
            for (size_t j = 0; j < np; j++)
                s += as->M[j][a][b] / (double) np;
            if (s > bm) {
                bm = s;
                best = b;
            }
        }
        k += snprintf(det + k, sizeof det - (size_t) k, "%s %s -> %s (%.3f)", a ? ";" : "",
                      CNN_NAMES[a], MLP_NAMES[best], bm);
    }
    for (size_t j = 0; j < np; j++) {
        same[j] = 0;
        for (size_t a = 0; a < N_L; a++) {
            size_t best = 0;
            for (size_t b = 1; b < N_L; b++)
                best = as->M[j][a][b] > as->M[j][a][best] ? b : best;
            same[j] += best == a;
        }
    }
    report(ctx, "CNN layers matched at the same depth",
           "how many of the 4 CNN layers have their most similar MLP layer at the same depth "
           "(Kornblith et al. 2019 §6 identify layers this way within an architecture)",
           np, same, det, runs, nr);
    double ac[N_PAIRS], am[N_PAIRS];
    for (size_t j = 0; j < np; j++) {
        ac[j] = as->acc[j][0];
        am[j] = as->acc[j][1];
    }
    report(ctx, "CNN test accuracy", "the CNN's, beside the MLP's", np, ac,
           "on the first 1000 test images, per CNN seed", runs, nr);
    report(ctx, "MLP test accuracy", "the MLP's, beside the CNN's", np, am,
           "on the first 1000 test images, per MLP seed", runs, nr);
}

static lm_status figures(lm_exp_ctx *ctx, const arch_stats *as, lm_err *err) {
    double v[N_L * N_L], v0[N_L * N_L];
    for (size_t a = 0; a < N_L; a++)
        for (size_t b = 0; b < N_L; b++) {
            double s = 0, s0 = 0;
            for (size_t j = 0; j < as->n_pairs; j++) {
                s += as->M[j][a][b];
                s0 += as->M0[j][a][b];
            }
            v[a * N_L + b] = s / (double) as->n_pairs;
            v0[a * N_L + b] = s0 / (double) as->n_pairs;
        }
    LM_TRY(lm__exp_figure_matrix(ctx, "cka-architectures-trained",
                                 "Linear CKA, trained CNN (rows) against trained MLP (columns), "
                                 "mean over seed pairs",
                                 "MLP layer", "CNN layer", N_L, N_L, CNN_NAMES, MLP_NAMES, v, 0, 1,
                                 err));
    return lm__exp_figure_matrix(ctx, "cka-architectures-init",
                                 "Linear CKA at initialisation, CNN (rows) against MLP (columns), "
                                 "mean over seed pairs",
                                 "MLP layer", "CNN layer", N_L, N_L, CNN_NAMES, MLP_NAMES, v0, 0, 1,
                                 err);
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    const design d = design_for();
    arch_stats *as = lm_malloc(sizeof *as);
    if (!as)
        LM_FAIL(err, LM_ENOMEM, "cka-architectures: out of memory");
    memset(as, 0, sizeof *as);
    int64_t runs[2 * N_PAIRS];
    size_t nr = 0;
    lm_status st = LM_OK;
    for (size_t j = 0; st == LM_OK && j < d.n_pairs; j++) {
        const size_t qc = 2 * j, qm = qc + 1;
        if (qm >= ctx->n_runs || ctx->run[qc] <= 0 || ctx->run[qm] <= 0) {
            st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                            "cka-architectures: a run of pair %zu did not finish", j);
            break;
        }
        lm__exp_reps r[4];
        memset(r, 0, sizeof r);
        for (size_t k = 0; st == LM_OK && k < 4; k++)
            st = lm__exp_reps_load(ctx, ctx->run[k % 2 ? qm : qc], k >= 2, &r[k], err);
        if (st == LM_OK)
            st = measure_pair(&d, j, &r[0], &r[1], &r[2], &r[3], as, err);
        for (size_t k = 0; k < 4; k++)
            lm__exp_reps_free(&r[k]);
        runs[nr++] = ctx->run[qc];
        runs[nr++] = ctx->run[qm];
        as->n_pairs = j + 1;
    }
    if (st == LM_OK) {
        judge(ctx, as, runs, nr);
        st = figures(ctx, as, err);
    }
    lm_free(as);
    return st;
}

const lm_experiment lm__exp_cka_architectures = {
    .name = "cka-architectures",
    .summary = "a CNN against an MLP trained on the same data: linear CKA layer by layer, above "
               "the permutation null and the untrained pair",
    .quick = "1000 images and 40 epochs, MLP width 128 (full: 2000 images, 300 epochs, width 256)",
    .plan = plan,
    .analyse = analyse,
};
