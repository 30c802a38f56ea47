/*
 * exp_cka_width.c: representations across widths (science.md §9; Kornblith, Norouzi, Lee, Hinton
 * 2019, arXiv 1905.00414, §6.2 and Fig. 6: "CKA between layers of networks of increasing width
 * converges": the similarity of the w and 2w networks' corresponding layers grows with w, and
 * wide networks are similar to each other).
 *
 * Setup: the similarity run of §9 (repr_runs.c) at hidden widths 64, 128, 256, 512, seeds 0 and 1
 * each (the width-256 runs are cka-seeds' first pair). For each hidden layer l, the matrix
 * M_l[i][j] = linear CKA(layer l of width_i seed 0, layer l of width_j seed 1) on the first 1000
 * test images. Cross-width pairs always come from different seeds: the same seed at two widths
 * shares its first layer's first rows at initialisation (one init stream, the same fan-in), a
 * similarity the training did not make.
 *
 * Claims, written before the first measurement from Kornblith et al. 2019:
 *   - the two widest nets are similar: CKA(256, 512), averaged over the hidden layers, >= 0.8
 *     (the §9 threshold for same-width seeds; the two orderings (256 s0, 512 s1) and
 *     (256 s1, 512 s0) give 2 SE);
 *   - similarity between widths w and 2w grows with w: CKA(256, 512) - CKA(64, 128) > 0 (the
 *     same two orderings).
 * Reported: the cross-seed CKA at equal widths (the matrices' diagonals), one pair per width.
 *
 * Quick: the same widths with 1000 images and 40 epochs. Workload (full): 8 runs (the 512 ones
 * ~100 s each), then 3 x 16 linear CKAs of up to 1000 x 512 matrices.
 */
#include "exp/internal.h"

#include "lmech/repr.h"

#include <stdio.h>
#include <string.h>

#define MAX_W   8
#define N_SEEDS 2
#define N_HID   3 /* hidden layers of the similarity run */

typedef struct design {
    size_t nw;
    size_t width[MAX_W];
} design;

static design design_for(int quick) {
    (void) quick;
    return (design){4, {64, 128, 256, 512}};
}

static lm_status plan(int quick, lm_exp_plan *p, lm_err *err) {
    const design d = design_for(quick);
    for (size_t i = 0; i < d.nw; i++)
        for (size_t s = 0; s < N_SEEDS; s++)
            LM_TRY(lm__exp_sim_plan_add(p, quick, d.width[i], s, err));
    return LM_OK;
}

/* M[l][i][j] = CKA(hidden layer l+1 of width i seed 0, of width j seed 1) */
typedef struct width_stats {
    size_t nw;
    double M[N_HID][MAX_W][MAX_W];
    double mean[MAX_W][MAX_W]; /* over the hidden layers */
} width_stats;

/* r0[i], r1[i]: width i's seed 0 and seed 1 representations */
static lm_status measure(size_t nw, const lm__exp_reps *r0, const lm__exp_reps *r1, width_stats *ws,
                         lm_err *err) {
    memset(ws, 0, sizeof *ws);
    ws->nw = nw;
    for (size_t i = 0; i < nw; i++)
        if (r0[i].L != N_HID + 1 || r1[i].L != N_HID + 1 || r0[i].n != r0[0].n ||
            r1[i].n != r0[0].n)
            LM_FAIL(err, LM_EINVAL,
                    "cka-width: width %zu's nets have %zu and %zu layers and %zu, %zu inputs "
                    "(expected %d layers, %zu inputs)",
                    i, r0[i].L, r1[i].L, r0[i].n, r1[i].n, N_HID + 1, r0[0].n);
    for (size_t l = 0; l < N_HID; l++)
        for (size_t i = 0; i < nw; i++)
            for (size_t j = 0; j < nw; j++) {
                lm_sim_result r;
                LM_TRY(lm_similarity(LM_SIM_LINEAR_CKA, r0[i].h[l + 1], r0[i].n, r0[i].width[l + 1],
                                     r1[j].h[l + 1], r1[j].width[l + 1], NULL, &r, err));
                ws->M[l][i][j] = r.value;
                ws->mean[i][j] += r.value / N_HID;
            }
    return LM_OK;
}

static void judge(lm_exp_ctx *ctx, const design *d, const width_stats *ws, const int64_t *runs,
                  size_t nr) {
    const size_t a = d->nw - 2, b = d->nw - 1; /* the two widest */
    double v[2] = {ws->mean[a][b], ws->mean[b][a]}, m, u;
    char det[512], pred[256];
    snprintf(det, sizeof det,
             "mean over hidden layers: (w%zu s0, w%zu s1) %.4f, (w%zu s1, w%zu s0) %.4f; per "
             "layer (first ordering): %.4f %.4f %.4f",
             d->width[a], d->width[b], v[0], d->width[a], d->width[b], v[1], ws->M[0][a][b],
             ws->M[1][a][b], ws->M[2][a][b]);
    snprintf(pred, sizeof pred,
             "wide nets learn similar representations: linear CKA between widths %zu and %zu "
             "(hidden layers, different seeds) >= 0.8",
             d->width[a], d->width[b]);
    lm__exp_mean_u(2, v, &m, &u);
    lm_exp_judge(ctx, &(lm_claim_spec){
                          .name = "CKA between the two widest nets",
                          .predicted = pred,
                          .predicted_value = 0.8,
                          .measured = m,
                          .uncertainty = u,
                          .uncertainty_from = "2 SE over the 2 seed orderings of the width pair",
                          .n_seeds = 2,
                          .lo = 0.8,
                          .hi = LM_INF,
                          .tolerance = "CKA >= 0.8",
                          .tolerance_value = 0.8,
                          .reason = "Kornblith et al. 2019 Fig. 6: cross-width CKA of wide nets "
                                    "approaches the cross-seed level; 0.8 is science.md §9's "
                                    "threshold for cross-seed CKA of hidden layers",
                          .detail = det,
                          .n_runs = nr,
                          .runs = runs,
                      });
    double g[2] = {ws->mean[a][b] - ws->mean[0][1], ws->mean[b][a] - ws->mean[1][0]};
    snprintf(det, sizeof det, "CKA(w, 2w) mean over hidden layers, ordering (w s0, 2w s1):");
    int k = (int) strlen(det);
    for (size_t i = 0; i + 1 < d->nw && k > 0 && (size_t) k < sizeof det; i++)
        k += snprintf(det + k, sizeof det - (size_t) k, " %zu-%zu %.4f", d->width[i],
                      d->width[i + 1], ws->mean[i][i + 1]);
    if (k > 0 && (size_t) k < sizeof det)
        k += snprintf(det + k, sizeof det - (size_t) k, "; ordering (w s1, 2w s0):");
    for (size_t i = 0; i + 1 < d->nw && k > 0 && (size_t) k < sizeof det; i++)
        k += snprintf(det + k, sizeof det - (size_t) k, " %.4f", ws->mean[i + 1][i]);
    snprintf(pred, sizeof pred,
             "similarity between widths w and 2w grows with w: CKA(%zu, %zu) - CKA(%zu, %zu) > 0",
             d->width[a], d->width[b], d->width[0], d->width[1]);
    lm__exp_mean_u(2, g, &m, &u);
    lm_exp_judge(ctx, &(lm_claim_spec){
                          .name = "CKA(w, 2w) grows with w",
                          .predicted = pred,
                          .predicted_value = LM_NAN,
                          .measured = m,
                          .uncertainty = u,
                          .uncertainty_from = "2 SE over the 2 seed orderings of each width pair",
                          .n_seeds = 2,
                          .lo = 0,
                          .hi = LM_INF,
                          .tolerance = "difference > 0",
                          .tolerance_value = 0,
                          .reason = "Kornblith et al. 2019 §6.2: representations converge as "
                                    "width grows; only the sign is predicted",
                          .detail = det,
                          .n_runs = nr,
                          .runs = runs,
                      });
    for (size_t i = 0; i < d->nw; i++) {
        char name[96];
        snprintf(name, sizeof name, "cross-seed CKA at width %zu", d->width[i]);
        snprintf(det, sizeof det, "hidden layers 1..3: %.4f %.4f %.4f (one seed pair)",
                 ws->M[0][i][i], ws->M[1][i][i], ws->M[2][i][i]);
        lm_exp_judge(ctx, &(lm_claim_spec){
                              .name = name,
                              .predicted = "no prediction (one seed pair per width)",
                              .predicted_value = LM_NAN,
                              .measured = ws->mean[i][i],
                              .uncertainty = LM_NAN,
                              .lo = -LM_INF,
                              .hi = LM_INF,
                              .tolerance_value = LM_NAN,
                              .reason = "the same-width reference for the cross-width values "
                                        "(mean over hidden layers)",
                              .detail = det,
                              .reported = 1,
                              .n_runs = nr,
                              .runs = runs,
                          });
    }
}

static lm_status figures(lm_exp_ctx *ctx, const design *d, const width_stats *ws, lm_err *err) {
    char names[MAX_W][32];
    const char *nm[MAX_W];
    for (size_t i = 0; i < d->nw; i++) {
        snprintf(names[i], sizeof names[i], "%zu", d->width[i]);
        nm[i] = names[i];
    }
    double v[MAX_W * MAX_W];
    for (size_t l = 0; l < N_HID; l++) {
        for (size_t i = 0; i < d->nw; i++)
            for (size_t j = 0; j < d->nw; j++)
                v[i * d->nw + j] = ws->M[l][i][j];
        char name[48], title[160];
        snprintf(name, sizeof name, "cka-width-layer%zu", l + 1);
        snprintf(title, sizeof title,
                 "Linear CKA of hidden layer %zu across widths (seed 0 rows, seed 1 columns)",
                 l + 1);
        LM_TRY(lm__exp_figure_matrix(ctx, name, title, "width (seed 1)", "width (seed 0)", d->nw,
                                     d->nw, nm, nm, v, LM_NAN, LM_NAN, err));
    }
    /* CKA(w, 2w) and the same-width CKA against w, averaged over layers and orderings */
    double data[MAX_W * 3];
    for (size_t i = 0; i < d->nw; i++) {
        data[i * 3 + 0] = (double) d->width[i];
        data[i * 3 + 1] = ws->mean[i][i];
        data[i * 3 + 2] = i + 1 < d->nw ? 0.5 * (ws->mean[i][i + 1] + ws->mean[i + 1][i]) : LM_NAN;
    }
    static const char *const cols[3] = {"width w", "CKA(w, w), different seeds",
                                        "CKA(w, 2w), different seeds"};
    return lm__exp_figure_lines(ctx, "cka-width-trend",
                                "Cross-seed linear CKA against width (mean over hidden layers)",
                                "linear CKA", 0, 3, cols, d->nw, data, err);
}

static lm_status analyse_design(lm_exp_ctx *ctx, const design *d, lm_err *err) {
    lm__exp_reps r0[MAX_W], r1[MAX_W];
    memset(r0, 0, sizeof r0);
    memset(r1, 0, sizeof r1);
    int64_t runs[MAX_W * N_SEEDS];
    size_t nr = 0;
    lm_status st = LM_OK;
    for (size_t i = 0; st == LM_OK && i < d->nw; i++) {
        const size_t q0 = i * N_SEEDS, q1 = q0 + 1;
        if (q1 >= ctx->n_runs || ctx->run[q0] <= 0 || ctx->run[q1] <= 0)
            st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                            "cka-width: a run of width %zu did not finish", d->width[i]);
        if (st == LM_OK)
            st = lm__exp_reps_load(ctx, ctx->run[q0], 0, &r0[i], err);
        if (st == LM_OK)
            st = lm__exp_reps_load(ctx, ctx->run[q1], 0, &r1[i], err);
        if (st == LM_OK) {
            runs[nr++] = ctx->run[q0];
            runs[nr++] = ctx->run[q1];
        }
    }
    width_stats *ws = st == LM_OK ? lm_malloc(sizeof *ws) : NULL;
    if (st == LM_OK && !ws)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "cka-width: out of memory");
    if (st == LM_OK)
        st = measure(d->nw, r0, r1, ws, err);
    for (size_t i = 0; i < d->nw; i++) {
        lm__exp_reps_free(&r0[i]);
        lm__exp_reps_free(&r1[i]);
    }
    if (st == LM_OK) {
        judge(ctx, d, ws, runs, nr);
        st = figures(ctx, d, ws, err);
    }
    lm_free(ws);
    return st;
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    const design d = design_for(ctx->quick);
    return analyse_design(ctx, &d, err);
}

const lm_experiment lm__exp_cka_width = {
    .name = "cka-width",
    .summary = "representations across widths 64..512: wide nets similar to each other, "
               "CKA(w, 2w) growing with w",
    .quick = "1000 images and 40 epochs (full: 2000 images, 300 epochs)",
    .plan = plan,
    .analyse = analyse,
};
