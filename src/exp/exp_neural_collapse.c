/*
 * exp_neural_collapse.c: neural collapse in the terminal phase of training (science.md §9
 * "Collapse run"; Papyan, Han, Donoho 2020, arXiv 2008.08186).
 *
 * Theory. Trained past zero training error, the penultimate features of a classifier collapse:
 * (NC1) within-class variability vanishes relative to the between-class one, tr(Sigma_W
 * Sigma_B^+)/C -> 0; (NC2) the centred class means become equinorm and equiangular (a simplex
 * ETF); (NC3) the classifier's rows align with them, ||W/||W|| - M/||M|| ||^2 -> 0; (NC4) the
 * network's decision becomes the nearest-class-mean rule. Definitions: lm_neural_collapse
 * (include/lmech/repr.h, docs/representations.md), recorded by the `repr` observer.
 *
 * Setup (science.md §9 [C]): 196-256-256-256-10 ReLU on 500 FMNIST-196 examples (a seeded random
 * subset), full-batch GD with heavy-ball momentum 0.9, eta = 0.05, coupled weight decay 1e-3,
 * cross-entropy, 6000 steps; train accuracy and the NC metrics every 20 steps; 8 seeds (the seed
 * draws the subset and the init). Quick: 100 examples, width 128, 4000 steps, 8 seeds.
 *
 * Claims (science.md §9 "Pass", collapse), per seed from the first recorded step with 100 %
 * train accuracy (t100; NC is recorded at every accuracy eval) to the last record, then the seed
 * mean +- 2 SE:
 *   NC1(t100)/NC1(end) >= 2, NC3(t100)/NC3(end) >= 2, NC4(end) <= 0.01, equinorm(end) <= 0.15.
 * Precondition: every seed reached 100 % train accuracy before its last step (otherwise there is
 * no terminal phase and the claims are inconclusive). Reported: equiangularity at t100 and at the
 * end (science.md: report only, collapse is partial at this scale), NC1 at t100 and at the end,
 * t100 itself.
 */
#include "exp/internal.h"

#include <stdio.h>
#include <string.h>

static const char *BASE =
    "{\"name\": \"neural-collapse\", \"seed\": 0,"
    " \"data\": {\"source\": \"fashion-mnist\", \"train_size\": 500, \"test_size\": 0,"
    "  \"subset\": \"random\", \"pool\": 2, \"normalize\": \"standardize\"},"
    " \"model\": {\"widths\": [196, 256, 256, 256, 10], \"activation\": \"relu\"},"
    " \"loss\": \"ce\", \"optimizer\": {\"name\": \"sgd\", \"lr\": 0.05, \"momentum\": 0.9,"
    "  \"weight_decay\": 0.001},"
    " \"batch_size\": 0, \"steps\": 6000, \"eval_every\": 20, \"repr_every\": 20,"
    " \"probe_size\": 128, \"threads\": 1}";

#define MAX_SEEDS 8
#define FALL      2.0  /* NC1 and NC3 fall at least 2x (science.md §9) */
#define NC4_MAX   0.01 /* NC4 at the end */
#define EQN_MAX   0.15 /* equinorm at the end */
#define FIG_PTS   60   /* points per curve in the figure */

static lm_status plan(int quick, lm_exp_plan *p, lm_err *err) {
    const size_t ns = 8;
    char sd[32], label[64];
    for (size_t s = 0; s < ns; s++) {
        snprintf(sd, sizeof sd, "seed=%zu", s);
        snprintf(label, sizeof label, "%s seed=%zu", quick ? "quick" : "full", s);
        if (quick) {
            /* probe_size only sizes the observer's cka_init batch, not the claims */
            const char *sets[] = {sd, "data.train_size=100", "model.widths=[196,128,128,128,10]",
                                  "steps=4000", "probe_size=32"};
            LM_TRY(lm_exp_plan_add(p, label, BASE, 5, sets, err));
        } else {
            const char *sets[] = {sd};
            LM_TRY(lm_exp_plan_add(p, label, BASE, 1, sets, err));
        }
    }
    return LM_OK;
}

/* The NC series of one run, on the steps of its nc1 records. */
enum { S_NC1, S_EQN, S_EQA, S_NC3, S_NC4, N_SER };
static const char *const SER[N_SER] = {"nc1", "nc2_equinorm", "nc2_equiangular", "nc3", "nc4"};

typedef struct nc_run {
    size_t n;         /* records of nc1 */
    int64_t *step;    /* [n] */
    double *v[N_SER]; /* [n] each, on step */
    int64_t t100;     /* first accuracy record at 1 (-1: never) */
    size_t i100;      /* index of the first NC record at or after t100 */
} nc_run;

static void nc_free(nc_run *r) {
    lm_free(r->step);
    for (size_t k = 0; k < N_SER; k++)
        lm_free(r->v[k]);
    memset(r, 0, sizeof *r);
}

static lm_status nc_read(const lm_exp_ctx *ctx, int64_t run, nc_run *r, lm_err *err) {
    memset(r, 0, sizeof *r);
    r->t100 = -1;
    int64_t *st = NULL, *sa = NULL;
    double *acc = NULL;
    size_t na = 0;
    lm_status s = lm_exp_series_alloc(ctx, run, "train_acc", &sa, &acc, &na, err);
    for (size_t k = 0; k < N_SER && s == LM_OK; k++) {
        size_t n = 0;
        s = lm_exp_series_alloc(ctx, run, SER[k], k ? &st : &r->step, &r->v[k], &n, err);
        if (s == LM_OK && k == 0)
            r->n = n;
        if (s == LM_OK && k > 0) {
            if (n != r->n || (n && memcmp(st, r->step, n * sizeof *st) != 0))
                s = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                               "neural-collapse: run %lld records %s at other steps than nc1 "
                               "(%zu against %zu records)",
                               (long long) run, SER[k], n, r->n);
            lm_free(st);
            st = NULL;
        }
    }
    if (s == LM_OK && r->n == 0)
        s = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                       "neural-collapse: run %lld has no nc1 records (repr_every 0, or targets "
                       "that are not one-hot classes)",
                       (long long) run);
    for (size_t i = 0; s == LM_OK && i < na && r->t100 < 0; i++)
        if (acc[i] >= 1.0)
            r->t100 = sa[i];
    r->i100 = r->n;
    for (size_t i = 0; s == LM_OK && r->t100 >= 0 && i < r->n && r->i100 == r->n; i++)
        if (r->step[i] >= r->t100)
            r->i100 = i;
    lm_free(sa);
    lm_free(acc);
    if (s != LM_OK)
        nc_free(r);
    return s;
}

/* "label: value per seed" into detail. */
static void per_seed(char *detail, size_t cap, const char *head, size_t n, const double *v) {
    int k = snprintf(detail, cap, "%s per seed:", head);
    for (size_t i = 0; i < n && k > 0 && (size_t) k < cap; i++)
        k += snprintf(detail + k, cap - (size_t) k, " %.4g", v[i]);
}

static lm_status figure(lm_exp_ctx *ctx, size_t nr, const nc_run *r, const double *t100,
                        lm_err *err) {
    size_t n = r[0].n;
    for (size_t s = 1; s < nr; s++)
        n = r[s].n < n ? r[s].n : n;
    /* records 1..n-1 (step 0 has no place on the log step axis), about FIG_PTS of them spaced
     * evenly in log step */
    if (n < 2)
        return LM_OK;
    size_t idx[FIG_PTS + 1], np = 0;
    const double lmax = log((double) (n - 1));
    for (size_t j = 0; j <= FIG_PTS; j++) {
        const size_t i = (size_t) llround(exp(lmax * (double) j / FIG_PTS));
        if (i >= 1 && i < n && (np == 0 || i > idx[np - 1]))
            idx[np++] = i;
    }
    const size_t fig[4] = {S_NC1, S_EQN, S_NC3, S_NC4};
    const char *lab[4] = {"NC1 tr(S_W S_B^+)/C", "NC2 equinorm", "NC3 ||W - M||^2",
                          "NC4 classifier vs nearest mean"};
    double *buf = lm_malloc((3 * 4 * np + nr) * sizeof(double));
    if (!buf)
        LM_FAIL(err, LM_ENOMEM, "out of memory for the neural-collapse figure");
    double *x = buf, *y = x + 4 * np, *u = y + 4 * np, *tmp = u + 4 * np;
    lm__exp_fig_series fs[5];
    for (size_t k = 0; k < 4; k++) {
        for (size_t j = 0; j < np; j++) {
            const size_t i = idx[j];
            x[k * np + j] = (double) r[0].step[i];
            for (size_t s = 0; s < nr; s++)
                tmp[s] = r[s].v[fig[k]][i];
            lm__exp_mean_u(nr, tmp, &y[k * np + j], &u[k * np + j]);
            if (!isfinite(u[k * np + j]))
                u[k * np + j] = 0;
        }
        fs[k] = (lm__exp_fig_series){
            .label = lab[k], .n = np, .x = x + k * np, .y = y + k * np, .u = u + k * np};
    }
    /* the first 100 %-accuracy step (seed mean) as a vertical dashed line */
    double m100 = LM_NAN, u100 = LM_NAN, lo = LM_INF, hi = 0;
    lm__exp_mean_u(nr, t100, &m100, &u100);
    for (size_t i = 0; i < 4 * np; i++)
        if (y[i] > 0 && isfinite(y[i])) {
            lo = fmin(lo, y[i]);
            hi = fmax(hi, y[i]);
        }
    const double px[2] = {m100, m100}, py[2] = {lo, hi};
    fs[4] = (lm__exp_fig_series){.label = "",
                                 .n = 0,
                                 .pred_label = "first 100 % train accuracy (seed mean)",
                                 .n_pred = isfinite(m100) && hi > 0 ? 2 : 0,
                                 .px = px,
                                 .py = py};
    const lm_status st = lm__exp_figure_law(
        ctx, "collapse", "neural collapse of the penultimate layer (seed mean +- 2 SE)", "step",
        "NC measure", 1, 1, 5, fs, err);
    lm_free(buf);
    return st;
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    nc_run r[MAX_SEEDS];
    int64_t runs[MAX_SEEDS];
    size_t nr = 0;
    lm_status st = LM_OK;
    for (size_t i = 0; i < ctx->n_runs && nr < MAX_SEEDS && st == LM_OK; i++) {
        if (ctx->run[i] <= 0)
            continue;
        st = nc_read(ctx, ctx->run[i], &r[nr], err);
        if (st == LM_OK)
            runs[nr++] = ctx->run[i];
    }
    if (st != LM_OK) {
        for (size_t s = 0; s < nr; s++)
            nc_free(&r[s]);
        return st;
    }
    double r1[MAX_SEEDS], r3[MAX_SEEDS], nc4[MAX_SEEDS], eqn[MAX_SEEDS], eqa0[MAX_SEEDS],
        eqa1[MAX_SEEDS], n1a[MAX_SEEDS], n1b[MAX_SEEDS], t100[MAX_SEEDS];
    size_t reached = 0;
    for (size_t s = 0; s < nr; s++) {
        const nc_run *q = &r[s];
        const size_t e = q->n - 1, a = q->i100;
        const int ok = a < e; /* a terminal phase of at least one record */
        reached += ok ? 1u : 0u;
        t100[s] = q->t100 >= 0 ? (double) q->t100 : LM_NAN;
        r1[s] = ok ? q->v[S_NC1][a] / q->v[S_NC1][e] : LM_NAN;
        r3[s] = ok ? q->v[S_NC3][a] / q->v[S_NC3][e] : LM_NAN;
        n1a[s] = ok ? q->v[S_NC1][a] : LM_NAN;
        n1b[s] = q->v[S_NC1][e];
        nc4[s] = q->v[S_NC4][e];
        eqn[s] = q->v[S_EQN][e];
        eqa0[s] = ok ? q->v[S_EQA][a] : LM_NAN;
        eqa1[s] = q->v[S_EQA][e];
    }
    const char *unmet = lm_exp_precondition(
        ctx, "100 % train accuracy", nr > 0 && reached == nr, (double) reached,
        "every seed reaches 100 % train accuracy before its last step (value: the seeds that do)",
        "a seed never reached 100 % train accuracy before its last step: no terminal phase");
    char detail[600], det2[300];
    double m, u;
    const struct {
        const char *name, *pred, *tol, *reason;
        const double *v;
        double pv, lo, hi, tv;
        const char *what;
    } cl[4] = {
        {"NC1 falls from the first 100 % accuracy to the end",
         "within-class variability collapses (Papyan 2020): NC1 = tr(S_W S_B^+)/C falls >= 2x "
         "from the first 100 %-train-accuracy step to the end",
         "NC1(t100) / NC1(end) >= 2",
         "science.md §9 [C]: the prototype measured 0.47 -> 0.22 (2.1x) at this size; collapse "
         "is partial in an MLP on 500 examples, so 2x is the bar",
         r1, FALL, FALL, LM_INF, FALL, "NC1(t100)/NC1(end)"},
        {"NC3 falls from the first 100 % accuracy to the end",
         "the classifier aligns with the centred class means: NC3 = ||W/||W|| - M/||M|| ||^2 "
         "falls >= 2x from the first 100 %-train-accuracy step to the end",
         "NC3(t100) / NC3(end) >= 2",
         "science.md §9 [C]: the prototype measured 0.74 -> 0.26 (2.8x) at this size", r3, FALL,
         FALL, LM_INF, FALL, "NC3(t100)/NC3(end)"},
        {"NC4 at the end",
         "the network decides as the nearest class mean: NC4 (disagreement rate) <= 0.01 at the "
         "end",
         "NC4(end) <= 0.01",
         "science.md §9 [C]: the prototype reached 0 from 0.078; 0.01 allows 5 of 500 examples",
         nc4, 0.0, -LM_INF, NC4_MAX, NC4_MAX, "NC4(end)"},
        {"equinorm at the end",
         "the centred class means become equinorm: std/mean of ||mu_c - mu_G|| <= 0.15 at the "
         "end",
         "equinorm(end) <= 0.15",
         "science.md §9 [C]: the prototype measured 0.18 -> 0.12; 0.15 is its bar", eqn, 0.0,
         -LM_INF, EQN_MAX, EQN_MAX, "equinorm(end)"},
    };
    for (size_t k = 0; k < 4; k++) {
        lm__exp_mean_u(nr, cl[k].v, &m, &u);
        per_seed(detail, sizeof detail, cl[k].what, nr, cl[k].v);
        lm_exp_judge(ctx, &(lm_claim_spec){
                              .name = cl[k].name,
                              .predicted = cl[k].pred,
                              .predicted_value = cl[k].pv,
                              .measured = m,
                              .uncertainty = u,
                              .uncertainty_from = "2 SE over seeds",
                              .n_seeds = nr,
                              .lo = cl[k].lo,
                              .hi = cl[k].hi,
                              .tolerance = cl[k].tol,
                              .tolerance_value = cl[k].tv,
                              .reason = cl[k].reason,
                              .detail = detail,
                              .unmet = unmet,
                              .n_runs = nr,
                              .runs = runs,
                          });
    }
    /* reported figures */
    const struct {
        const char *name, *pred, *what;
        const double *v;
    } rep[5] = {
        {"equiangularity at the first 100 % accuracy",
         "mean |cos(mu_c - mu_G, mu_c' - mu_G) + 1/(C-1)| (0 for a simplex ETF)",
         "equiangular(t100)", eqa0},
        {"equiangularity at the end", "as above, at the last record", "equiangular(end)", eqa1},
        {"NC1 at the first 100 % accuracy", "tr(S_W S_B^+)/C", "NC1(t100)", n1a},
        {"NC1 at the end", "tr(S_W S_B^+)/C", "NC1(end)", n1b},
        {"first 100 % train accuracy step", "the step of the first accuracy record at 1", "t100",
         t100},
    };
    for (size_t k = 0; k < 5; k++) {
        lm__exp_mean_u(nr, rep[k].v, &m, &u);
        per_seed(det2, sizeof det2, rep[k].what, nr, rep[k].v);
        lm_exp_judge(ctx, &(lm_claim_spec){
                              .name = rep[k].name,
                              .predicted = rep[k].pred,
                              .predicted_value = LM_NAN,
                              .measured = m,
                              .uncertainty = u,
                              .uncertainty_from = "2 SE over seeds",
                              .n_seeds = nr,
                              .lo = -LM_INF,
                              .hi = LM_INF,
                              .tolerance = "none (reported)",
                              .tolerance_value = LM_NAN,
                              .reason = "science.md §9: equiangularity is report only (collapse "
                                        "is partial at this scale; strong collapse needs conv "
                                        "nets); the NC1 values and t100 give the claims' context",
                              .detail = det2,
                              .reported = 1,
                              .n_runs = nr,
                              .runs = runs,
                          });
    }
    if (nr > 0)
        st = figure(ctx, nr, r, t100, err);
    for (size_t s = 0; s < nr; s++)
        nc_free(&r[s]);
    return st;
}

const lm_experiment lm__exp_neural_collapse = {
    .name = "neural-collapse",
    .summary = "MLP on FMNIST-196 past 100 % train accuracy: NC1 and NC3 fall >= 2x, NC4 and "
               "equinorm small (Papyan 2020)",
    .quick = "100 examples, width 128, 4000 steps (full: 500, 256, 6000); 8 seeds in both",
    .plan = plan,
    .analyse = analyse,
};
