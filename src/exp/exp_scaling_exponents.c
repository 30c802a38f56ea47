/*
 * exp_scaling_exponents.c: scaling exponents predicted from spectra (science.md §7, "Exponents
 * predicted from spectra"; Spigler, Geiger, Wyart 2020; Bordelon, Canatar, Pehlevan 2020; Bordelon,
 * Atanasov, Pehlevan 2024). Gaussian features x_j ~ N(0, lambda_j), lambda_j = j^-a, and a linear
 * target y = w*.x with v_j^2 = lambda_j w*_j^2 = j^-b (the `powerlaw` data source, j = 1..M). From
 * (a, b) alone, before any run is read (predict(), called first in analyse):
 *
 *   data   (P samples, min-norm / ridge -> 0 regression)  E ~ P^-(b-1)  if b < 2a + 1, else P^-2a
 *   time   (gradient flow, ample data)                    L ~ t^-(b-1)/a
 *   size   (N Gaussian random features, infinite data)    L ~ N^-min(b-1, a)
 *
 * The size law: the best linear fit on F = G x (G [N, M] Gaussian) with infinite data leaves the
 * part of v = Lambda^1/2 w* outside the span of N Gaussian vectors of covariance Lambda, whose
 * deterministic equivalent is sum_j kappa v_j^2 / (lambda_j + kappa) with
 * sum_j lambda_j / (lambda_j + kappa) = N, so kappa ~ N^-a and the error ~ N^-(b-1) while
 * b < a + 1 (science.md's N^-(b-1)), N^-a beyond (one power of (1 - L_j), not two as in the data
 * law). For the first pair both read -0.6; the second pair (b > 2a + 1 > a + 1) tests the
 * saturation (docs/experiments/scaling-exponents.md).
 *
 * Pairs: (a, b) = (1.5, 1.6), science.md's, and (1.5, 6.0), b > 2a + 1 = 4 (data law P^-3).
 *
 * The data curve. One run per (P, trial): a powerlaw set of P samples in M = c_data P dimensions
 * (trial = the seed). M grows with P: science.md asks M >> P, and with a fixed M the curve bends
 * as P nears M (science.md [C]: M = 3000 gave a local slope -0.82 for -0.6 at P <= 800); with
 * M = c P the truncated spectrum is self-similar, so the exponent is exact and only the constant
 * depends on c (the eigenframework on these spectra: slope -0.591 over P = 25..800 at c = 4, 20
 * and 100 alike). Per run: the min-norm interpolator w = X^T (X X^T)^-1 y (ridge 0; dsyrk +
 * dposv) and its population error E = sum_j lambda_j (w_j - w*_j)^2, exact for Gaussian x, with
 * lambda and w* from lm_data_powerlaw_truth (no test-set noise). The eigenframework
 * (lm_eigenlearning, ridge 0, the same truncated spectrum: lambda_j, v_j for j <= M, n = P) is the
 * curve the measured one is compared with. More trials at small P, where E fluctuates most:
 * trials(P) = t_big * P_max / P, capped.
 *
 * The time curve (pair 1). lmech's trainer: a [M, 1] linear network without bias, readout zero
 * (w_0 = 0), full-batch GD on mse (1/(2n)) sum (f - y)^2 with eta = 0.15 on P = 2000 (quick
 * 1000) samples, M = 4000 (quick 1000); flow time t = eta step; the recorded test_loss on 1000
 * fresh samples (half the population MSE). Precondition eta lambda_max(H) < 0.2 (the recorded
 * sharpness at step 0). The truncation costs: the flow curve of the truncated spectrum,
 * (1/2) sum_{j <= M} v_j^2 e^{-2 lambda_j t}, bends as t^{1/a} nears M (heavy target tail,
 * b - 1 = 0.6); its slope over the fit range is recorded as a reported figure (-0.42 at M = 4000
 * over t = 10..316, -0.43 at M = 1000 over t = 3.16..100). Flow time 1e5 (science.md) would need
 * M ~ 1e5 and as many samples: 2 cores do t <= 316.
 *
 * The model-size curve. One run per (N, trial) holds the config (M = c_size N dimensions, the
 * seed); G [N, M] ~ N(0, 1) is drawn from stream LM_STREAM_PROBE of the seed, and the population
 * best fit of y on F = G x is solved exactly: B = G Lambda^1/2, u = (B B^T)^-1 B v, error
 * |v - B^T u|^2 (infinite data: "ample" taken to its limit).
 *
 * Exponents: the least-squares slope of log(mean over trials) against log P (N, t) over the last
 * 1.5 decades of each sweep, u from a bootstrap over trials stratified by P
 * (lm__exp_loglog_slope_u); tolerance +-0.1 (science.md §7). The eigenframework claim: max over P
 * >= 50 of |mean E / E_theory - 1| <= 0.05, u from the same stratified bootstrap.
 *
 * The runs of the data and size curves are recorded, not trained (lr 0, one step, like
 * ntk-convergence): the store keeps their configs and seeds, and analyse regenerates the data.
 */
#include "exp/internal.h"

#include "lmech/theory.h"

#include <cblas.h>
#include <lapacke.h>
#include <stdio.h>
#include <string.h>

static const char *BASE =
    "{\"name\": \"scaling-exponents\", \"seed\": 0,"
    " \"data\": {\"source\": \"powerlaw\", \"dim\": 16, \"alpha\": 1.5, \"beta\": 1.6,"
    "  \"train_size\": 16, \"test_size\": 0},"
    " \"model\": {\"widths\": [16, 1], \"activation\": \"identity\", \"bias\": false,"
    "  \"readout_zero\": true},"
    " \"loss\": \"mse\", \"optimizer\": {\"name\": \"sgd\", \"lr\": 0},"
    " \"batch_size\": 0, \"steps\": 1, \"eval_every\": 1, \"threads\": 1}";

#define MAX_PAIR  2
#define MAX_PTS   16
#define MAX_TRIAL 256
#define MAX_TSEED 8
#define T_GRID    13   /* flow-time points: 8 per decade over 1.5 decades */
#define TOL_EXP   0.1  /* science.md §7 */
#define TOL_EF    0.05 /* science.md §7 */
#define P_EF_MIN  50   /* science.md §7 [C]: within 3 % for P >= 50 (8 % at P = 25) */
#define ETA_PRE   0.2  /* science.md §0: compare GD with flow where eta lambda_max < 0.2 */

/* A pair: the data's (a, b), and the (a, b) the prediction is written from (the same, except in
 * the negative controls of tests/exp/test_scaling_exponents.c). */
typedef struct pair {
    double a, b;   /* the data */
    double pa, pb; /* the prediction's */
} pair;

typedef struct design {
    size_t n_pair;
    pair pr[MAX_PAIR];
    /* data: P = p0 << i (i < np), M = c_data[q] P; trials(i) = min(t_cap, t_big[q] (P_max / P)^2)
     * (E's spread falls with P and a trial's cost grows like P^3: the small P are cheap), the
     * eigenframework compared over 50 <= P <= ef_pmax,
     * held by min(trials, d_runs) runs of blocks(i) = trials / runs disjoint P-sample blocks */
    size_t p0, np, c_data[MAX_PAIR], t_big[MAX_PAIR], t_cap, d_runs;
    int ef_claim[MAX_PAIR]; /* the eigenframework comparison is a claim (else reported) */
    size_t ef_pmax;
    /* size: N = n0 << i (i < nn), M = c_size N; n_runs runs of g_per projections each */
    size_t n0, nn, c_size, n_runs, g_per;
    /* time (pair 0): dim, train, test, seeds, eval_every; eta; fit over [t_lo, t_lo 10^1.5] */
    size_t t_dim, t_train, t_test, t_seeds, t_eval;
    double eta, t_lo;
} design;

static design design_for(int quick) {
    design d = {.n_pair = 2,
                .pr = {{1.5, 1.6, 1.5, 1.6}, {1.5, 6.0, 1.5, 6.0}},
                .p0 = 25,
                .np = quick ? 6 : 7,
                .c_data = {quick ? 4 : 10, 4},
                .t_big = {quick ? 10 : 16, quick ? 4 : 8},
                .ef_claim = {1, 0},
                .ef_pmax = quick ? 400 : 1600,
                .t_cap = 252, /* whole blocks of 4 runs within MAX_TRIAL */
                .d_runs = 4,
                .n0 = 16,
                .nn = quick ? 6 : 7,
                .c_size = quick ? 8 : 20,
                .n_runs = 2,
                .g_per = quick ? 8 : 8,
                .t_dim = quick ? 1000 : 4000,
                .t_train = quick ? 1000 : 2000,
                .t_test = 1000,
                .t_seeds = quick ? 3 : 4,
                .t_eval = quick ? 1 : 3,
                .eta = 0.15,
                .t_lo = quick ? 3.16227766 : 10.0};
    return d;
}

/* The predicted exponents, from (a, b) only (science.md §7). */
typedef struct prediction {
    double data, time, size;
    int saturated; /* b >= 2a + 1: the data law is P^-2a */
} prediction;

static prediction predict(double a, double b) {
    prediction p;
    p.saturated = b >= 2 * a + 1;
    p.data = p.saturated ? -2 * a : -(b - 1);
    p.time = -(b - 1) / a;
    p.size = -fmin(b - 1, a);
    return p;
}

static size_t p_at(const design *d, size_t i) {
    return d->p0 << i;
}
static size_t n_at(const design *d, size_t i) {
    return d->n0 << i;
}
static size_t trials_at(const design *d, size_t q, size_t i) {
    const size_t sh = d->np - 1 - i, t = sh < 8 ? d->t_big[q] << (2 * sh) : d->t_cap;
    return t < d->t_cap ? t : d->t_cap; /* rounded up to whole blocks by blocks_at */
}
static size_t runs_at(const design *d, size_t q, size_t i) {
    const size_t t = trials_at(d, q, i);
    return t < d->d_runs ? t : d->d_runs;
}
static size_t blocks_at(const design *d, size_t q, size_t i) {
    const size_t r = runs_at(d, q, i);
    return (trials_at(d, q, i) + r - 1) / r;
}
/* the first sweep index of the last 1.5 decades (a factor 2^5 = 32 >= 10^1.5 = 31.6) */
static size_t fit_from(size_t n) {
    return n > 6 ? n - 6 : 0;
}
static size_t t_steps(const design *d) {
    return (size_t) ceil(d->t_lo * pow(10, 1.5) / d->eta * 1.001);
}

/* ---------------------------------------------------------------- plan */

static lm_status add_run(lm_exp_plan *p, const char *label, const pair *pr, size_t dim,
                         size_t train, size_t seed, const char *notes, size_t n_extra,
                         const char *const *extra, lm_err *err) {
    char s_seed[48], s_dim[48], s_a[48], s_b[48], s_tr[48], s_w[64], s_notes[128];
    snprintf(s_seed, sizeof s_seed, "seed=%zu", seed);
    snprintf(s_dim, sizeof s_dim, "data.dim=%zu", dim);
    snprintf(s_a, sizeof s_a, "data.alpha=%g", pr->a);
    snprintf(s_b, sizeof s_b, "data.beta=%g", pr->b);
    snprintf(s_tr, sizeof s_tr, "data.train_size=%zu", train);
    snprintf(s_w, sizeof s_w, "model.widths=[%zu, 1]", dim);
    snprintf(s_notes, sizeof s_notes, "notes=\"%s\"", notes);
    const char *sets[16] = {s_seed, s_dim, s_a, s_b, s_tr, s_w, s_notes};
    size_t n = 7;
    for (size_t i = 0; i < n_extra && n < 16; i++)
        sets[n++] = extra[i];
    return lm_exp_plan_add(p, label, BASE, n, sets, err);
}

static lm_status plan_design(const design *d, lm_exp_plan *p, lm_err *err) {
    char label[96], notes[96];
    for (size_t q = 0; q < d->n_pair; q++) {
        const pair *pr = &d->pr[q];
        for (size_t i = 0; i < d->np; i++)
            for (size_t t = 0; t < runs_at(d, q, i); t++) {
                const size_t P = p_at(d, i), nb = blocks_at(d, q, i);
                snprintf(label, sizeof label, "data a=%g b=%g P=%zu seed=%zu", pr->a, pr->b, P, t);
                snprintf(notes, sizeof notes,
                         "data curve: min-norm regression on %zu blocks of P = %zu", nb, P);
                LM_TRY(add_run(p, label, pr, d->c_data[q] * P, nb * P, t, notes, 0, NULL, err));
            }
        for (size_t i = 0; i < d->nn; i++)
            for (size_t t = 0; t < d->n_runs; t++) {
                const size_t N = n_at(d, i);
                snprintf(label, sizeof label, "size a=%g b=%g N=%zu seed=%zu", pr->a, pr->b, N, t);
                snprintf(notes, sizeof notes,
                         "size curve: %zu draws of N = %zu Gaussian random features (stream "
                         "probe)",
                         d->g_per, N);
                LM_TRY(add_run(p, label, pr, d->c_size * N, 1, t, notes, 0, NULL, err));
            }
    }
    /* the time curve, pair 0 */
    char s_lr[48], s_steps[48], s_eval[48], s_sharp[48], s_test[48];
    const size_t steps = t_steps(d);
    snprintf(s_lr, sizeof s_lr, "optimizer.lr=%g", d->eta);
    snprintf(s_steps, sizeof s_steps, "steps=%zu", steps);
    snprintf(s_eval, sizeof s_eval, "eval_every=%zu", d->t_eval);
    snprintf(s_sharp, sizeof s_sharp, "sharpness_every=%zu", steps);
    snprintf(s_test, sizeof s_test, "data.test_size=%zu", d->t_test);
    const char *extra[] = {s_lr, s_steps, s_eval, s_sharp, s_test};
    for (size_t s = 0; s < d->t_seeds; s++) {
        snprintf(label, sizeof label, "time a=%g b=%g seed=%zu", d->pr[0].a, d->pr[0].b, s);
        LM_TRY(add_run(p, label, &d->pr[0], d->t_dim, d->t_train, s,
                       "time curve: full-batch GD of a linear model", 5, extra, err));
    }
    return LM_OK;
}

static lm_status plan(int quick, lm_exp_plan *p, lm_err *err) {
    const design d = design_for(quick);
    return plan_design(&d, p, err);
}

/* ---------------------------------------------------------------- measurements */

/* The population errors of the min-norm interpolators of run's training set cut into nb
 * disjoint blocks of P rows (independent samples: e[nb]), and the eigenframework's prediction for
 * the same truncated spectrum (NaN where the run is missing or a K is singular). */
static lm_status data_error(const lm_exp_ctx *ctx, int64_t run, size_t P, size_t nb, double *e,
                            double *e_ef, lm_err *err) {
    for (size_t t = 0; t < nb; t++)
        e[t] = LM_NAN;
    *e_ef = LM_NAN;
    if (run <= 0)
        return LM_OK;
    lm_config *cfg = NULL;
    LM_TRY(lm__exp_load_config(ctx, run, &cfg, err));
    lm_dataset *tr = NULL;
    lm_status st = lm_data_load(&cfg->data, cfg->seed, &tr, NULL, err);
    const size_t M = st == LM_OK ? tr->d : 0;
    if (st == LM_OK && (tr->n != P * nb || P >= M))
        st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                        "scaling-exponents: run %lld has %zu samples in %zu dimensions; the "
                        "design expects %zu blocks of %zu in more than %zu",
                        (long long) run, tr->n, M, nb, P, P);
    double *lam = NULL, *w = NULL, *k = NULL, *al = NULL, *wh = NULL;
    if (st == LM_OK) {
        lam = lm_malloc(M * sizeof *lam);
        w = lm_malloc(M * sizeof *w);
        wh = lm_malloc(M * sizeof *wh);
        k = lm_malloc(P * P * sizeof *k);
        al = lm_malloc(P * sizeof *al);
        if (!lam || !w || !wh || !k || !al)
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                            "scaling-exponents: out of memory for run %lld (P = %zu, M = %zu)",
                            (long long) run, P, M);
    }
    if (st == LM_OK)
        st = lm_data_powerlaw_truth(&cfg->data, cfg->seed, lam, w, err);
    for (size_t t = 0; t < nb && st == LM_OK; t++) {
        const int ip = (int) P, im = (int) M;
        const double *x = tr->x + t * P * M;
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, ip, im, 1.0, x, im, 0.0, k, ip);
        memcpy(al, tr->y + t * P, P * sizeof *al);
        if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', ip, 1, k, ip, al, 1) != 0)
            continue; /* singular: NaN */
        cblas_dgemv(CblasRowMajor, CblasTrans, ip, im, 1.0, x, im, al, 1, 0.0, wh, 1);
        double s = 0;
        for (size_t j = 0; j < M; j++)
            s += lam[j] * (wh[j] - w[j]) * (wh[j] - w[j]);
        e[t] = s;
    }
    if (st == LM_OK) {
        for (size_t j = 0; j < M; j++) /* the target's coefficients v_j = sqrt(lambda_j) w*_j */
            wh[j] = sqrt(lam[j]) * w[j];
        lm_eigenlearn el;
        st = lm_eigenlearning(M, lam, wh, (double) P, 0.0, 0.0, &el, NULL, err);
        if (st == LM_OK)
            *e_ef = el.test_mse;
    }
    lm_free(lam);
    lm_free(w);
    lm_free(wh);
    lm_free(k);
    lm_free(al);
    lm_dataset_free(tr);
    lm_config_free(cfg);
    return st;
}

/* The population errors of the best linear fit on N Gaussian random features of run's spectrum,
 * for ng projections G drawn one after another from stream LM_STREAM_PROBE of the seed: e[ng]. */
static lm_status size_error(const lm_exp_ctx *ctx, int64_t run, size_t N, size_t ng, double *e,
                            lm_err *err) {
    for (size_t g = 0; g < ng; g++)
        e[g] = LM_NAN;
    if (run <= 0)
        return LM_OK;
    lm_config *cfg = NULL;
    LM_TRY(lm__exp_load_config(ctx, run, &cfg, err));
    const size_t M = cfg->data.dim;
    lm_status st = LM_OK;
    if (N >= M)
        st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                        "scaling-exponents: run %lld has M = %zu <= N = %zu features",
                        (long long) run, M, N);
    double *lam = lm_malloc(M * sizeof *lam), *v = lm_malloc(M * sizeof *v);
    double *r = lm_malloc(M * sizeof *r), *b = lm_malloc(N * M * sizeof *b);
    double *s = lm_malloc(N * N * sizeof *s), *u = lm_malloc(N * sizeof *u);
    if (st == LM_OK && (!lam || !v || !r || !b || !s || !u))
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                        "scaling-exponents: out of memory for run %lld (N = %zu, M = %zu)",
                        (long long) run, N, M);
    if (st == LM_OK)
        st = lm_data_powerlaw_truth(&cfg->data, cfg->seed, lam, v, err);
    lm_rng rng;
    lm_rng_seed(&rng, cfg->seed, LM_STREAM_PROBE);
    for (size_t j = 0; st == LM_OK && j < M; j++) {
        lam[j] = sqrt(lam[j]); /* now lambda_j^1/2 */
        v[j] *= lam[j];        /* v_j = lambda_j^1/2 w*_j */
    }
    for (size_t g = 0; g < ng && st == LM_OK; g++) {
        for (size_t i = 0; i < N; i++)
            for (size_t j = 0; j < M; j++)
                b[i * M + j] = lm_rng_normal(&rng) * lam[j];
        const int in = (int) N, im = (int) M;
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, in, im, 1.0, b, im, 0.0, s, in);
        cblas_dgemv(CblasRowMajor, CblasNoTrans, in, im, 1.0, b, im, v, 1, 0.0, u, 1);
        if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', in, 1, s, in, u, 1) != 0)
            continue;
        memcpy(r, v, M * sizeof *r);
        cblas_dgemv(CblasRowMajor, CblasTrans, in, im, -1.0, b, im, u, 1, 1.0, r, 1);
        e[g] = cblas_ddot(im, r, 1, r, 1);
    }
    lm_free(lam);
    lm_free(v);
    lm_free(r);
    lm_free(b);
    lm_free(s);
    lm_free(u);
    lm_config_free(cfg);
    return st;
}

/* ---------------------------------------------------------------- analysis */

typedef struct curve {
    size_t n;            /* points */
    double x[MAX_PTS];   /* P or N */
    size_t cnt[MAX_PTS]; /* trials per point */
    double e[MAX_PTS * MAX_TRIAL];
    double mean[MAX_PTS], u[MAX_PTS], law[MAX_PTS];
    double ef[MAX_PTS]; /* the eigenframework (data curve) */
    double slope, slope_u;
    int64_t runs[MAX_PTS * MAX_TRIAL];
    size_t n_runs;
} curve;

/* the slope over the points [i0, n) of c, u stratified over trials */
static void curve_slope(curve *c, size_t i0, uint64_t seed) {
    double x[MAX_PTS * MAX_TRIAL], y[MAX_PTS * MAX_TRIAL];
    size_t m = 0;
    int complete = 1;
    for (size_t i = 0; i < c->n; i++) {
        double col[MAX_TRIAL];
        for (size_t t = 0; t < c->cnt[i]; t++)
            col[t] = c->e[i * MAX_TRIAL + t];
        const size_t k = lm__exp_mean_u(c->cnt[i], col, &c->mean[i], &c->u[i]);
        if (k != c->cnt[i]) /* a missing trial would bias the mean */
            c->mean[i] = c->u[i] = LM_NAN;
        complete &= isfinite(c->mean[i]) || c->cnt[i] == 1;
        if (c->cnt[i] == 1)
            c->mean[i] = c->e[i * MAX_TRIAL], c->u[i] = LM_NAN;
        for (size_t t = 0; i >= i0 && t < c->cnt[i]; t++) {
            x[m] = c->x[i];
            y[m++] = c->e[i * MAX_TRIAL + t];
        }
    }
    c->slope = c->slope_u = LM_NAN;
    int seeds;
    if (complete)
        lm__exp_loglog_slope_u(m, x, y, seed, &c->slope, &c->slope_u, &seeds);
}

static void judge_exponent(lm_exp_ctx *ctx, const char *what, const pair *pr, double pred,
                           const char *law, const curve *c, size_t i0, const char *unit,
                           const char *extra, const char *unmet) {
    char name[96], ptxt[320], det[512], from[128];
    snprintf(name, sizeof name, "%s exponent a=%g b=%g", what, pr->a, pr->b);
    snprintf(ptxt, sizeof ptxt,
             "%s, written from (a, b) = (%g, %g) before any run was read: slope %.4g of log %s "
             "against log %s",
             law, pr->pa, pr->pb, pred, what, unit);
    int k = snprintf(det, sizeof det, "fit over %s = %g..%g (%zu points); means:", unit, c->x[i0],
                     c->x[c->n - 1], c->n - i0);
    for (size_t i = 0; i < c->n && k > 0 && (size_t) k < sizeof det; i++)
        k += snprintf(det + k, sizeof det - (size_t) k, " %g:%.4g", c->x[i], c->mean[i]);
    if (extra && k > 0 && (size_t) k < sizeof det)
        snprintf(det + k, sizeof det - (size_t) k, "; %s", extra);
    size_t tr = 0;
    for (size_t i = 0; i < c->n; i++)
        tr = c->cnt[i] > tr ? c->cnt[i] : tr;
    snprintf(from, sizeof from,
             "bootstrap 95 %% over trials (stratified by %s, up to %zu per point) of the log-log "
             "slope of the trial means",
             unit, tr);
    lm_exp_judge(ctx, &(lm_claim_spec){
                          .name = name,
                          .predicted = ptxt,
                          .predicted_value = pred,
                          .measured = c->slope,
                          .uncertainty = c->slope_u,
                          .uncertainty_from = from,
                          .n_seeds = tr,
                          .lo = pred - TOL_EXP,
                          .hi = pred + TOL_EXP,
                          .tolerance = "slope within +-0.1 of the prediction over the last 1.5 "
                                       "decades",
                          .tolerance_value = TOL_EXP,
                          .reason = "science.md §7 [C]: asymptotic slopes within +-0.1 over the "
                                    "last 1.5 decades; the finite sweep's curvature (computed "
                                    "from the eigenframework before the runs: <= 0.04) and the "
                                    "trial noise fit inside",
                          .detail = det,
                          .unmet = unmet,
                          .n_runs = c->n_runs,
                          .runs = c->runs,
                      });
}

/* The time curve: the seeds' test_loss at T_GRID log-spaced flow times (the recorded step
 * nearest to each), and the largest recorded sharpness. */
static lm_status time_curve(lm_exp_ctx *ctx, const design *d, size_t first, curve *c, double *sharp,
                            lm_err *err) {
    memset(c, 0, sizeof *c);
    *sharp = LM_NAN;
    double smax = -LM_INF;
    c->n = T_GRID;
    for (size_t g = 0; g < T_GRID; g++) {
        c->x[g] = LM_NAN;
        c->cnt[g] = d->t_seeds;
    }
    for (size_t s = 0; s < d->t_seeds; s++) {
        const size_t r = first + s;
        const int64_t run = r < ctx->n_runs ? ctx->run[r] : -1;
        for (size_t g = 0; g < T_GRID; g++)
            c->e[g * MAX_TRIAL + s] = LM_NAN;
        if (run <= 0) {
            smax = LM_NAN;
            continue;
        }
        c->runs[c->n_runs++] = run;
        int64_t *st = NULL;
        double *v = NULL, *sv = NULL;
        size_t n = 0, ns = 0;
        LM_TRY(lm_exp_series_alloc(ctx, run, "test_loss", &st, &v, &n, err));
        for (size_t g = 0; g < T_GRID && n > 0; g++) {
            const double want = d->t_lo * pow(10, (double) g / 8) / d->eta;
            size_t best = 0;
            for (size_t i = 1; i < n; i++)
                if (fabs((double) st[i] - want) < fabs((double) st[best] - want))
                    best = i;
            c->x[g] = d->eta * (double) st[best];
            c->e[g * MAX_TRIAL + s] = v[best];
        }
        lm_free(st);
        lm_free(v);
        lm_status rc = lm_exp_series_alloc(ctx, run, "sharpness", NULL, &sv, &ns, err);
        if (rc != LM_OK)
            return rc;
        for (size_t i = 0; i < ns; i++)
            smax = fmax(smax, sv[i]);
        if (!ns)
            smax = LM_NAN;
        lm_free(sv);
    }
    *sharp = smax;
    return LM_OK;
}

/* The flow curve of the truncated spectrum (1/2) sum_j v_j^2 e^{-2 lambda_j t} at c's times, and
 * its log-log slope (the truncation's bias, before any training). */
static lm_status flow_slope(const design *d, double *py, double *slope, lm_err *err) {
    lm_data_spec sp = lm_data_spec_default();
    sp.source = LM_DATA_POWERLAW;
    sp.dim = d->t_dim;
    sp.alpha = d->pr[0].a;
    sp.beta = d->pr[0].b;
    const size_t M = d->t_dim;
    double *lam = lm_malloc(M * sizeof *lam), *w = lm_malloc(M * sizeof *w);
    lm_status st = lam && w ? lm_data_powerlaw_truth(&sp, 0, lam, w, err)
                            : lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    double lx[T_GRID], ly[T_GRID];
    for (size_t g = 0; g < T_GRID && st == LM_OK; g++) {
        const double t = d->t_lo * pow(10, (double) g / 8);
        double s = 0;
        for (size_t j = 0; j < M; j++)
            s += 0.5 * lam[j] * w[j] * w[j] * exp(-2 * lam[j] * t);
        py[g] = s;
        lx[g] = log(t);
        ly[g] = log(s);
    }
    *slope = st == LM_OK ? lm__exp_slope(T_GRID, lx, ly) : LM_NAN;
    lm_free(lam);
    lm_free(w);
    return st;
}

static lm_status analyse_design(lm_exp_ctx *ctx, const design *d, lm_err *err) {
    if (d->n_pair > MAX_PAIR || d->np > MAX_PTS || d->nn > MAX_PTS ||
        d->t_cap + d->d_runs > MAX_TRIAL + 1 || d->n_runs * d->g_per > MAX_TRIAL ||
        d->t_seeds > MAX_TSEED)
        LM_FAIL(err, LM_EINVAL, "scaling-exponents: the design exceeds the analysis's arrays");
    /* the predictions, from (a, b) alone: nothing has been read yet */
    prediction pred[MAX_PAIR];
    for (size_t q = 0; q < d->n_pair; q++)
        pred[q] = predict(d->pr[q].pa, d->pr[q].pb);

    size_t r = 0; /* plan order */
    curve *dc = lm_calloc(2 * MAX_PAIR + 1, sizeof *dc);
    if (!dc)
        LM_FAIL(err, LM_ENOMEM, "scaling-exponents: out of memory");
    curve *sc = dc + MAX_PAIR, *tc = dc + 2 * MAX_PAIR;
    lm_status st = LM_OK;
    lm__exp_fig_series fd[2 * MAX_PAIR], fs[MAX_PAIR];
    char lab[5 * MAX_PAIR][96];
    for (size_t q = 0; q < d->n_pair && st == LM_OK; q++) {
        const pair *pr = &d->pr[q];
        curve *c = &dc[q];
        c->n = d->np;
        for (size_t i = 0; i < d->np && st == LM_OK; i++) {
            const size_t nb = blocks_at(d, q, i);
            c->x[i] = (double) p_at(d, i);
            c->cnt[i] = runs_at(d, q, i) * nb;
            c->ef[i] = LM_NAN;
            for (size_t t = 0; t < runs_at(d, q, i) && st == LM_OK; t++, r++) {
                const int64_t run = r < ctx->n_runs ? ctx->run[r] : -1;
                if (run > 0)
                    c->runs[c->n_runs++] = run;
                double ef;
                st = data_error(ctx, run, p_at(d, i), nb, &c->e[i * MAX_TRIAL + t * nb], &ef, err);
                if (isfinite(ef))
                    c->ef[i] = ef;
            }
        }
        curve *s = &sc[q];
        s->n = d->nn;
        for (size_t i = 0; i < d->nn && st == LM_OK; i++) {
            s->x[i] = (double) n_at(d, i);
            s->cnt[i] = d->n_runs * d->g_per;
            for (size_t t = 0; t < d->n_runs && st == LM_OK; t++, r++) {
                const int64_t run = r < ctx->n_runs ? ctx->run[r] : -1;
                if (run > 0)
                    s->runs[s->n_runs++] = run;
                st = size_error(ctx, run, n_at(d, i), d->g_per, &s->e[i * MAX_TRIAL + t * d->g_per],
                                err);
            }
        }
        if (st != LM_OK)
            break;
        const size_t i0 = fit_from(d->np), j0 = fit_from(d->nn);
        curve_slope(c, i0, 0xda7au + q);
        curve_slope(s, j0, 0x517eu + q);
        char law[160];
        snprintf(law, sizeof law,
                 pred[q].saturated ? "E ~ P^-2a (b >= 2a + 1: the ridgeless KRR rate saturates)"
                                   : "E ~ P^-(b-1) (b < 2a + 1)");
        judge_exponent(ctx, "data", pr, pred[q].data, law, c, i0, "P", NULL, NULL);
        /* the eigenframework against the measured curve, P >= 50 */
        size_t e0 = 0, e1 = c->n;
        while (e0 < c->n && c->x[e0] < P_EF_MIN)
            e0++;
        while (e1 > e0 && c->x[e1 - 1] > (double) d->ef_pmax)
            e1--;
        double dev, dev_u;
        lm__exp_max_rel_dev_u(e1 - e0, c->cnt + e0, MAX_TRIAL, c->e + e0 * MAX_TRIAL, c->ef + e0,
                              0xef05u + q, &dev, &dev_u);
        char name[96], det[512];
        snprintf(name, sizeof name, "eigenframework vs data curve a=%g b=%g", pr->a, pr->b);
        int k =
            snprintf(det, sizeof det, "compared over P = %g..%g; measured / eigenframework at P =",
                     e0 < c->n ? c->x[e0] : LM_NAN, e1 > 0 ? c->x[e1 - 1] : LM_NAN);
        for (size_t i = 0; i < c->n && k > 0 && (size_t) k < sizeof det; i++)
            k += snprintf(det + k, sizeof det - (size_t) k, " %g:%.4f", c->x[i],
                          c->mean[i] / c->ef[i]);
        lm_exp_judge(ctx, &(lm_claim_spec){
                              .name = name,
                              .predicted = "the eigenframework (science.md §8, ridge 0, the same "
                                           "truncated spectrum j <= M = c P) gives the mean "
                                           "population error of min-norm regression",
                              .predicted_value = 0,
                              .measured = dev,
                              .uncertainty = dev_u,
                              .uncertainty_from = "bootstrap 95 % of the statistic over trials, "
                                                  "stratified by P",
                              .n_seeds = c->cnt[c->n - 1],
                              .lo = -LM_INF,
                              .hi = TOL_EF,
                              .tolerance = "max over the P >= 50 of |E / E_theory - 1| <= 0.05",
                              .tolerance_value = TOL_EF,
                              .reason = d->ef_claim[q]
                                            ? "science.md §7 [C]: within 3 % for P >= 50 (8 % at "
                                              "P = 25) on (a, b) = (1.5, 1.6); the eigenframework "
                                              "is exact only as P, M -> inf"
                                            : "no calibrated tolerance for this pair: science.md's "
                                              "5 % was calibrated on (1.5, 1.6) only, so the "
                                              "comparison is shown, not judged",
                              .detail = det,
                              .reported = !d->ef_claim[q],
                              .n_runs = c->n_runs,
                              .runs = c->runs,
                          });
        snprintf(law, sizeof law,
                 "L ~ N^-min(b-1, a) (population best fit on N Gaussian random features)");
        judge_exponent(ctx, "model-size", pr, pred[q].size, law, s, j0, "N", NULL, NULL);
        lm__exp_law_line(c->n - i0, c->x + i0, c->mean + i0, pred[q].data, c->law + i0);
        lm__exp_law_line(s->n - j0, s->x + j0, s->mean + j0, pred[q].size, s->law + j0);
        snprintf(lab[4 * q], sizeof lab[0], "min-norm, a=%g b=%g", pr->a, pr->b);
        snprintf(lab[4 * q + 1], sizeof lab[0], "P^%.3g (predicted)", pred[q].data);
        snprintf(lab[4 * q + 2], sizeof lab[0], "eigenframework, a=%g b=%g", pr->a, pr->b);
        snprintf(lab[4 * q + 3], sizeof lab[0], "N^%.3g (predicted)", pred[q].size);
        fd[2 * q] = (lm__exp_fig_series){.label = lab[4 * q],
                                         .n = c->n,
                                         .x = c->x,
                                         .y = c->mean,
                                         .u = c->u,
                                         .pred_label = lab[4 * q + 1],
                                         .n_pred = c->n - i0,
                                         .px = c->x + i0,
                                         .py = c->law + i0};
        fd[2 * q + 1] =
            (lm__exp_fig_series){.label = lab[4 * q + 2], .n = c->n, .x = c->x, .y = c->ef};
        snprintf(lab[4 * MAX_PAIR + q], sizeof lab[0], "random features, a=%g b=%g", pr->a, pr->b);
        fs[q] = (lm__exp_fig_series){.label = lab[4 * MAX_PAIR + q],
                                     .n = s->n,
                                     .x = s->x,
                                     .y = s->mean,
                                     .u = s->u,
                                     .pred_label = lab[4 * q + 3],
                                     .n_pred = s->n - j0,
                                     .px = s->x + j0,
                                     .py = s->law + j0};
    }
    if (st == LM_OK)
        st = lm__exp_figure_law(ctx, "data-curve",
                                "Min-norm regression on power-law features (M = c P): trial "
                                "means +- 2 SE, the eigenframework, the predicted slopes",
                                "samples P", "population MSE", 1, 1, 2 * d->n_pair, fd, err);
    if (st == LM_OK)
        st = lm__exp_figure_law(ctx, "model-size-curve",
                                "Best fit on N Gaussian random features (infinite data, "
                                "M = c N): trial means +- 2 SE, the predicted slopes",
                                "random features N", "population MSE", 1, 1, d->n_pair, fs, err);
    /* the time curve, pair 0 */
    double sharp = LM_NAN, fslope = LM_NAN, fpy[T_GRID], gx[T_GRID];
    for (size_t g = 0; g < T_GRID; g++)
        gx[g] = d->t_lo * pow(10, (double) g / 8);
    if (st == LM_OK)
        st = time_curve(ctx, d, r, tc, &sharp, err);
    if (st == LM_OK)
        st = flow_slope(d, fpy, &fslope, err);
    if (st == LM_OK) {
        curve_slope(tc, 0, 0x7153u);
        char ex[160], txt[200];
        snprintf(ex, sizeof ex,
                 "flow on the truncated spectrum (M = %zu) over the same times: "
                 "slope %.4f",
                 d->t_dim, fslope);
        snprintf(txt, sizeof txt, "eta * max sharpness = %.4g < %g (GD tracks gradient flow)",
                 d->eta * sharp, ETA_PRE);
        const char *unmet = lm_exp_precondition(
            ctx, "GD close to flow", isfinite(sharp) && d->eta * sharp < ETA_PRE, d->eta * sharp,
            txt, "eta * lambda_max >= 0.2 (or not recorded): GD is not close to gradient flow");
        lm_claim_spec rep = {
            .name = "truncated-flow slope (time curve)",
            .predicted = "gradient flow on the truncated spectrum j <= M over the fit range: the "
                         "bias that the finite M puts into the time exponent",
            .predicted_value = predict(d->pr[0].a, d->pr[0].b).time,
            .measured = fslope,
            .uncertainty = 0,
            .uncertainty_from = "exact (a sum over the spectrum)",
            .lo = -LM_INF,
            .hi = LM_INF,
            .tolerance = "none (reported)",
            .tolerance_value = LM_NAN,
            .reason = "a property of the setup's M, computed not measured: shown beside the "
                      "measured exponent",
            .detail = ex,
            .reported = 1,
        };
        lm_exp_judge(ctx, &rep);
        judge_exponent(ctx, "time", &d->pr[0], pred[0].time,
                       "L ~ t^-(b-1)/a (gradient flow, ample data)", tc, 0, "t", ex, unmet);
        lm__exp_law_line(tc->n, tc->x, tc->mean, pred[0].time, tc->law);
        char l0[96], l1[96], l2[96];
        snprintf(l0, sizeof l0, "GD test loss, a=%g b=%g", d->pr[0].a, d->pr[0].b);
        snprintf(l1, sizeof l1, "t^%.3g (predicted)", pred[0].time);
        snprintf(l2, sizeof l2, "flow, truncated spectrum M=%zu", d->t_dim);
        lm__exp_fig_series ft[2] = {{.label = l0,
                                     .n = tc->n,
                                     .x = tc->x,
                                     .y = tc->mean,
                                     .u = tc->u,
                                     .pred_label = l1,
                                     .n_pred = tc->n,
                                     .px = tc->x,
                                     .py = tc->law},
                                    {.label = l2, .n = T_GRID, .x = gx, .y = fpy}};
        st = lm__exp_figure_law(ctx, "time-curve",
                                "Full-batch GD of a linear model on power-law features: seed "
                                "means +- 2 SE, the predicted slope, the truncated flow",
                                "flow time t = eta step", "test loss (half MSE)", 1, 1, 2, ft, err);
    }
    lm_free(dc);
    return st;
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    const design d = design_for(ctx->quick);
    return analyse_design(ctx, &d, err);
}

const lm_experiment lm__exp_scaling_exponents = {
    .name = "scaling-exponents",
    .summary = "data, time and model-size exponents predicted from (a, b) before any run, "
               "measured over 1.5 decades; the eigenframework against the data curve",
    .quick = "P 25..800 (M = 8P, 4-16 trials), N 16..512, time to t = 100 at M = 1000 (full: "
             "P to 1600 at M = 20P, N to 1024, t to 316 at M = 4000)",
    .plan = plan,
    .analyse = analyse,
};
