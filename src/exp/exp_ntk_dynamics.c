/*
 * exp_ntk_dynamics.c: wide networks train like their NTK (science.md §2; Jacot et al. 2018,
 * Lee et al. 2019 arXiv 1902.06720, Neural Tangents' gradient_descent_mse). An ensemble of wide
 * NTK-parameterised ReLU networks (3 hidden layers, sw2 = 2, sb2 = 0.05) is trained by full-batch
 * GD with MSE on +-1 parity targets of FMNIST-49 images rescaled to ||x||^2 = d. The prediction
 * is the closed form of GD under the analytic NTK Theta (lm_kernel_analytic, lm_kpred_*):
 *     mu_t(x*) = Theta(x*, X) V diag((1 - (1 - eta lambda_i / n)^t) / lambda_i) V^T Y,
 * the mean over initialisations of the trained network's output.
 *
 * Loss convention: lmech's "mse" is L = 1/(2n) sum_i ||f_i - y_i||^2 (docs/config.md, Losses;
 * src/loss/loss.c scales by 1/n), so the function-space rate is eta Theta / n: norm = n. With one
 * output (parity targets) this equals Neural Tangents' 1/(2nk) convention.
 *
 * Learning rate: plan() computes lambda_max of the analytic Theta on the training inputs and sets
 * eta = 0.5 n / lambda_max rounded down to 4 significant digits (the data are the first n images,
 * the same for every seed), so eta lambda_max / n <= 0.5 as science.md §2 asks; analyse()
 * recomputes it and records the check as a claim.
 *
 * Claims (analyse reads only the store: final checkpoints, the train_loss series, the configs):
 *   1. rel L2 of the ensemble-mean test output at the final step against mu_T <= 0.10
 *      (science.md §2);
 *   2. each network against its own linearised prediction (the same closed form from its own
 *      f0 instead of 0): mean rel L2 <= 0.10, which separates the kernel's accuracy from the
 *      ensemble noise;
 *   3. the ensemble's residual noise ||mean - mu|| / rms ||f_s - mu|| ~ 1/sqrt(S) (0.25 at S = 16);
 *   4. the mean training-loss curve against E L_t = (||D_t V^T Y||^2 + sum_i d_i^2 v_i^T K v_i)/2n
 *      (K the NNGP kernel: f0 ~ N(0, K)) at every recorded step, max relative error <= 0.20;
 *   5. the mean test-loss curve against its expectation (mu_t's error plus the NNGP variance of
 *      f0(x*) - P_t f0(X), P_t = Theta(x*, X) Theta^-1 (I - D_t)): the intermediate-time check of
 *      the test predictions, since only losses are recorded during training; <= 0.20;
 *   6. the rate precondition eta lambda_max / n <= 0.5.
 * Workload: the full variant trains 16 networks of 8.5 M parameters for 200 steps on 128 images;
 * analyse runs 16 forward passes and two 384-point analytic kernels (seconds).
 */
#include "exp/internal.h"

#include "lmech/kernel.h"
#include "lmech/theory.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sizes. science.md §2 asks for 64-256 training examples, width 2048 and an 8-seed ensemble. The
 * full variant uses 16 seeds and 200 steps, chosen by a power calculation before the run (the
 * "predicted ensemble noise" of claim 1's detail, from the NNGP variance of f_T(x*) - mu_T(x*)):
 * with 8 seeds and 100 steps one net's init noise is 0.357 ||mu_T|| on these points, so the
 * ensemble of 8 carries an RMS noise of 0.126 ||mu_T||, above the 10% tolerance by itself (it
 * measured 0.109 and failed); 16 seeds and 200 steps (0.300 per net: training removes more of the
 * init variance) bring it to 0.075, so the claim tests the kernel rather than the seed count.
 * 128 examples keep one width-2048 run at ~30 s on a free core; the base config also fixes the
 * 256 test images and a loss record every 20 steps.
 * Quick: width 1024 and 64 examples make each run ~16x cheaper (the linearisation error grows
 * ~n^-1/2: 0.081 here). At n = 64, T = 200 one net's noise is 0.356 ||mu_T||, so 20 seeds expect
 * 0.080 (16 seeds: 0.089, too close to the 10% bar to test the kernel; the earlier 4 seeds at
 * width 512 left 0.20 and failed by design). */
#define N_TRAIN_FULL  128
#define N_TRAIN_QUICK 64
#define WIDTH_FULL    2048
#define WIDTH_QUICK   1024
#define SEEDS_FULL    16
#define SEEDS_QUICK   20
#define SEEDS_MAX     (SEEDS_FULL > SEEDS_QUICK ? SEEDS_FULL : SEEDS_QUICK) /* buffers */
#define STEPS_FULL    200
#define STEPS_QUICK   200
#define RATE_FRAC     0.5 /* science.md §2: eta lambda_max(Theta) / n <= 0.5 */
/* the architecture of science.md §2's ReLU setup: 3 hidden layers, sw2 = 2, sb2 = 0.05 */
#define DEPTH 3
#define SW2   2.0
#define SB2   0.05

static const char *base_json =
    "{\"seed\": 0, \"data\": {\"source\": \"fashion-mnist\", \"train_size\": 128,"
    "  \"test_size\": 256, \"pool\": 4, \"normalize\": \"sphere\", \"targets\": \"parity\"},"
    " \"model\": {\"widths\": [49, 2048, 2048, 2048, 1], \"activation\": \"relu\","
    "  \"parameterization\": \"ntp\", \"sw2\": 2, \"sb2\": 0.05},"
    " \"loss\": \"mse\", \"optimizer\": {\"name\": \"sgd\", \"lr\": 1}, \"batch_size\": 0,"
    " \"steps\": 100, \"eval_every\": 20, \"threads\": 1, \"name\": \"ntk-dynamics\"}";

/* Concatenates train and test inputs into xa [(n + m), d]. */
static double *concat_x(const lm_dataset *tr, const lm_dataset *te) {
    const size_t m = te ? te->n : 0, d = tr->d;
    double *xa = lm_malloc((tr->n + m) * d * sizeof *xa);
    if (xa) {
        memcpy(xa, tr->x, tr->n * d * sizeof *xa);
        if (m)
            memcpy(xa + tr->n * d, te->x, m * d * sizeof *xa);
    }
    return xa;
}

/* lambda_max of the analytic NTK on the training inputs of the base config with n examples. */
static lm_status lambda_max_for(size_t n, double *lmax, lm_err *err) {
    char ts[48];
    snprintf(ts, sizeof ts, "data.train_size=%zu", n);
    const char *sets[] = {ts, "data.test_size=0"};
    lm_config *cfg = NULL;
    lm_dataset *tr = NULL;
    double *ntk = NULL, *y = NULL;
    lm_kpred *kp = NULL;
    lm_status st =
        lm_config_parse(base_json, strlen(base_json), "ntk-dynamics", 2, sets, &cfg, err);
    if (st == LM_OK)
        st = lm_data_load(&cfg->data, cfg->seed, &tr, NULL, err);
    if (st == LM_OK) {
        ntk = lm_malloc(tr->n * tr->n * sizeof *ntk);
        y = lm_calloc(tr->n, sizeof *y);
        if (!ntk || !y)
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    }
    if (st == LM_OK)
        st = lm_kernel_analytic(tr->x, tr->n, tr->d, DEPTH, LM_ACT_RELU, SW2, SB2, NULL, ntk, err);
    if (st == LM_OK)
        st = lm_kpred_new(&kp, ntk, NULL, y, NULL, NULL, NULL, tr->n, 0, 1, NULL, err);
    if (st == LM_OK)
        *lmax = lm_kpred_eigenvalues(kp)[tr->n - 1];
    lm_kpred_free(kp);
    lm_free(ntk);
    lm_free(y);
    lm_dataset_free(tr);
    lm_config_free(cfg);
    return st;
}

/* 0.5 n / lambda_max rounded down to 4 significant digits: a stable text for the config hash. */
static double safe_eta(size_t n, double lmax) {
    const double eta = RATE_FRAC * (double) n / lmax;
    const double scale = pow(10.0, floor(log10(eta)) - 3);
    return floor(eta / scale) * scale;
}

static lm_status plan(int quick, lm_exp_plan *p, lm_err *err) {
    const size_t n = quick ? N_TRAIN_QUICK : N_TRAIN_FULL, seeds = quick ? SEEDS_QUICK : SEEDS_FULL;
    const size_t width = quick ? WIDTH_QUICK : WIDTH_FULL;
    double lmax = LM_NAN;
    LM_TRY(lambda_max_for(n, &lmax, err));
    char lr[64], ts[48], steps[32], seed[32], widths[96], label[64];
    snprintf(lr, sizeof lr, "optimizer.lr=%.4g", safe_eta(n, lmax));
    snprintf(ts, sizeof ts, "data.train_size=%zu", n);
    snprintf(steps, sizeof steps, "steps=%d", quick ? STEPS_QUICK : STEPS_FULL);
    snprintf(widths, sizeof widths, "model.widths=[49,%zu,%zu,%zu,1]", width, width, width);
    for (size_t s = 0; s < seeds; s++) {
        snprintf(seed, sizeof seed, "seed=%zu", s);
        snprintf(label, sizeof label, "width %zu seed %zu", width, s);
        const char *sets[] = {lr, ts, steps, widths, seed};
        LM_TRY(lm_exp_plan_add(p, label, base_json, 5, sets, err));
    }
    return LM_OK;
}

/* ------------------------------------------------------------------ analysis */

#define CAP 256

typedef struct state {
    lm_config *cfg0;
    lm_dataset *tr, *te;
    double *xa, *ntk, *nngp, *thtr, *thx, *ktr; /* kernels on train+test, then the blocks */
    double *mu, *mutr, *fs, *pred, *f0tr, *f0te, *ftmp, *fig, *loss_sum;
    double *kcx, *kdg, *eye, *P, *Q, *tl_sum; /* for the test-loss prediction */
    lm_kpred *kp, *kop;                       /* mu_t, and the operator P_t (Y = I) */
    int64_t st[CAP];
    double sv[CAP];
} state;

static void state_free(state *s) {
    lm_config_free(s->cfg0);
    lm_dataset_free(s->tr);
    lm_dataset_free(s->te);
    lm_free(s->xa);
    lm_free(s->ntk);
    lm_free(s->nngp);
    lm_free(s->thtr);
    lm_free(s->thx);
    lm_free(s->ktr);
    lm_free(s->mu);
    lm_free(s->mutr);
    lm_free(s->fs);
    lm_free(s->pred);
    lm_free(s->f0tr);
    lm_free(s->f0te);
    lm_free(s->ftmp);
    lm_free(s->fig);
    lm_free(s->loss_sum);
    lm_free(s->kcx);
    lm_free(s->kdg);
    lm_free(s->eye);
    lm_free(s->P);
    lm_free(s->Q);
    lm_free(s->tl_sum);
    lm_kpred_free(s->kp);
    lm_kpred_free(s->kop);
}

static void link_runs(lm_claim *c, const lm_exp_ctx *ctx) {
    if (!c)
        return;
    c->n_runs = 0;
    for (size_t i = 0; i < ctx->n_runs && c->n_runs < LM_CLAIM_MAX_RUNS; i++)
        if (ctx->run[i] > 0)
            c->runs[c->n_runs++] = ctx->run[i];
}

static double nrm(const double *a, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * a[i];
    return sqrt(s);
}

static double dist(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return sqrt(s);
}

static void inconclusive_all(lm_exp_ctx *ctx, const char *why) {
    static const char *names[] = {"ensemble mean = mu_T",       "each net = its linearisation",
                                  "ensemble noise ~ 1/sqrt(S)", "mean train loss curve",
                                  "mean test loss curve",       "rate in the kernel regime"};
    for (size_t i = 0; i < 6; i++)
        lm_exp_claim(ctx, names[i], "see docs/experiments/ntk-dynamics.md", LM_NAN, LM_NAN, LM_NAN,
                     0.0, 0.0, "-", LM_NAN, why);
}

/* The kernels on train + test and the ensemble-mean prediction (f0 = 0). */
static lm_status setup(state *s, double eta, size_t steps, lm_err *err) {
    const size_t n = s->tr->n, m = s->te->n, na = n + m, d = s->tr->d;
    s->xa = concat_x(s->tr, s->te);
    s->ntk = lm_malloc(na * na * sizeof(double));
    s->nngp = lm_malloc(na * na * sizeof(double));
    s->thtr = lm_malloc(n * n * sizeof(double));
    s->ktr = lm_malloc(n * n * sizeof(double));
    s->thx = lm_malloc(m * n * sizeof(double));
    s->mu = lm_malloc(m * sizeof(double));
    s->mutr = lm_malloc(n * sizeof(double));
    s->fs = lm_calloc(m * SEEDS_MAX, sizeof(double));
    s->pred = lm_malloc(m * sizeof(double));
    s->f0tr = lm_malloc(n * sizeof(double));
    s->f0te = lm_malloc(m * sizeof(double));
    s->ftmp = lm_malloc((n > m ? n : m) * sizeof(double));
    s->loss_sum = lm_calloc(CAP, sizeof(double));
    s->tl_sum = lm_calloc(CAP, sizeof(double));
    s->kcx = lm_malloc(m * n * sizeof(double));
    s->kdg = lm_malloc(m * sizeof(double));
    s->eye = lm_calloc(n * n, sizeof(double));
    s->P = lm_malloc(m * n * sizeof(double));
    s->Q = lm_malloc(m * n * sizeof(double));
    if (!s->tl_sum || !s->kcx || !s->kdg || !s->eye || !s->P || !s->Q)
        LM_FAIL(err, LM_ENOMEM, "ntk-dynamics: out of memory for %zu + %zu points", n, m);
    if (!s->xa || !s->ntk || !s->nngp || !s->thtr || !s->ktr || !s->thx || !s->mu || !s->mutr ||
        !s->fs || !s->pred || !s->f0tr || !s->f0te || !s->ftmp || !s->loss_sum)
        LM_FAIL(err, LM_ENOMEM, "ntk-dynamics: out of memory for %zu + %zu points", n, m);
    LM_TRY(lm_kernel_analytic(s->xa, na, d, DEPTH, LM_ACT_RELU, SW2, SB2, s->nngp, s->ntk, err));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            s->thtr[i * n + j] = s->ntk[i * na + j];
            s->ktr[i * n + j] = s->nngp[i * na + j];
        }
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            s->thx[i * n + j] = s->ntk[(n + i) * na + j];
            s->kcx[i * n + j] = s->nngp[(n + i) * na + j];
        }
        s->kdg[i] = s->nngp[(n + i) * na + n + i];
    }
    for (size_t i = 0; i < n; i++)
        s->eye[i * n + i] = 1.0;
    lm_kpred_spec sp = {LM_KPRED_GD, eta, lm_kpred_norm_for_loss(s->cfg0->loss, n, 1)};
    LM_TRY(lm_kpred_new(&s->kp, s->thtr, s->thx, s->tr->y, NULL, NULL, s->ktr, n, m, 1, &sp, err));
    /* Y = I with the one-output normalisation: the test outputs are the operator
     * P_t = Theta(x*, X) Theta^-1 (I - D_t) [m, n] that maps training targets to test outputs */
    LM_TRY(lm_kpred_new(&s->kop, s->thtr, s->thx, s->eye, NULL, NULL, NULL, n, m, n, &sp, err));
    return lm_kpred_at(s->kp, (double) steps, s->mutr, s->mu, err);
}

/* The expected test loss over initialisations at time t (lmech's mse: 1/(2m) sum_j):
 *     E = 1/(2m) sum_j ((mu_t(x_j) - y_j)^2 + Var_j),
 *     Var_j = K(x_j, x_j) - 2 P_j . K(X, x_j) + P_j K(X, X) P_j^T,
 * since f_t(x*) - mu_t(x*) = f0(x*) - P_t f0(X) with f0 ~ N(0, K) (NNGP). Uses s->pred for mu_t.
 * var_sum (may be NULL) receives sum_j Var_j: one net's expected squared distance from mu_t. */
static lm_status pred_test_loss(state *s, double t, double *out, double *var_sum, lm_err *err) {
    const size_t n = s->tr->n, m = s->te->n;
    LM_TRY(lm_kpred_at(s->kp, t, NULL, s->pred, err));
    LM_TRY(lm_kpred_at(s->kop, t, NULL, s->P, err));
    cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, (int) m, (int) n, 1.0, s->ktr, (int) n, s->P,
                (int) n, 0.0, s->Q, (int) n);
    double e = 0, vs = 0;
    for (size_t j = 0; j < m; j++) {
        double cross = 0, quad = 0;
        for (size_t i = 0; i < n; i++) {
            cross += s->P[j * n + i] * s->kcx[j * n + i];
            quad += s->Q[j * n + i] * s->P[j * n + i];
        }
        const double r = s->pred[j] - s->te->y[j];
        const double var = s->kdg[j] - 2 * cross + quad;
        e += r * r + var;
        vs += var;
    }
    *out = e / (2.0 * (double) m);
    if (var_sum)
        *var_sum = vs;
    return LM_OK;
}

/* The largest relative gap between the ensemble's mean loss sum[k] / cnt at the recorded steps
 * and its predicted expectation (test: the test loss, else the train loss), and the step where
 * it is largest. */
static lm_status curve_error(state *s, int test, const int64_t *steps, size_t n, const double *sum,
                             size_t cnt, double *worst, int64_t *at, lm_err *err) {
    double w = 0;
    for (size_t k = 0; k < n; k++) {
        double pl;
        if (test)
            LM_TRY(pred_test_loss(s, (double) steps[k], &pl, NULL, err));
        else
            LM_TRY(lm_kpred_train_loss(s->kp, (double) steps[k], &pl, err));
        const double e = fabs(sum[k] / (double) cnt - pl) / pl;
        if (e >= w) {
            w = e;
            *at = steps[k];
        }
    }
    *worst = w;
    return LM_OK;
}

/* One network: its final test outputs into fs, its linearised prediction's relative error
 * (from its own f0) into *lin_err. */
static lm_status one_net(const lm_exp_ctx *ctx, state *s, int64_t run, double eta, size_t steps,
                         double *fs, double *lin_err, lm_err *err) {
    lm_config *cfg = NULL;
    double *theta = NULL, *theta0 = NULL;
    lm_mlp *m = NULL;
    lm_mlp_ws *ws = NULL;
    lm_kpred *kp = NULL;
    const size_t n = s->tr->n, mt = s->te->n;
    lm_status st = lm_exp_load_run(ctx, run, &cfg, &theta, err);
    if (st == LM_OK)
        st = lm_mlp_new(&cfg->model, &m, err);
    if (st == LM_OK)
        st = lm_mlp_ws_new(m, n > mt ? n : mt, LM_F64, &ws, err);
    if (st == LM_OK) {
        theta0 = lm_malloc(m->n_params * sizeof *theta0);
        if (!theta0)
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    }
    if (st == LM_OK)
        st = lm_mlp_forward(m, ws, theta, s->te->x, mt, fs, err);
    if (st == LM_OK)
        st = lm_mlp_init(m, cfg->seed, theta0, err);
    if (st == LM_OK)
        st = lm_mlp_forward(m, ws, theta0, s->tr->x, n, s->f0tr, err);
    if (st == LM_OK)
        st = lm_mlp_forward(m, ws, theta0, s->te->x, mt, s->f0te, err);
    if (st == LM_OK) {
        lm_kpred_spec sp = {LM_KPRED_GD, eta, lm_kpred_norm_for_loss(cfg->loss, n, 1)};
        st = lm_kpred_new(&kp, s->thtr, s->thx, s->tr->y, s->f0tr, s->f0te, NULL, n, mt, 1, &sp,
                          err);
    }
    if (st == LM_OK)
        st = lm_kpred_at(kp, (double) steps, NULL, s->pred, err);
    if (st == LM_OK)
        *lin_err = dist(fs, s->pred, mt) / nrm(s->pred, mt);
    lm_kpred_free(kp);
    lm_mlp_ws_free(ws);
    lm_mlp_free(m);
    lm_free(theta0);
    lm_free(theta);
    lm_config_free(cfg);
    return st;
}

typedef struct keyed {
    double key;
    size_t idx;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    const double x = ((const keyed *) a)->key, y = ((const keyed *) b)->key;
    return (x > y) - (x < y);
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    state s;
    memset(&s, 0, sizeof s);
    size_t first = ctx->n_runs;
    for (size_t i = 0; i < ctx->n_runs; i++)
        if (ctx->run[i] > 0) {
            first = i;
            break;
        }
    if (first == ctx->n_runs) {
        inconclusive_all(ctx, "every run failed: nothing to measure");
        return LM_OK;
    }
    double *th_unused = NULL;
    lm_status st = lm_exp_load_run(ctx, ctx->run[first], &s.cfg0, &th_unused, err);
    lm_free(th_unused);
    if (st == LM_OK)
        st = lm_data_load(&s.cfg0->data, s.cfg0->seed, &s.tr, &s.te, err);
    if (st == LM_OK && (!s.te || s.tr->k != 1))
        st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                        "ntk-dynamics: needs a test set and one output (parity targets)");
    if (st != LM_OK) {
        state_free(&s);
        return st;
    }
    const double eta = s.cfg0->optim.lr;
    const size_t steps = s.cfg0->train.steps, n = s.tr->n, m = s.te->n;
    const size_t width = s.cfg0->model.widths[1];
    st = setup(&s, eta, steps, err);
    if (st != LM_OK) {
        state_free(&s);
        return st;
    }
    const double norm = lm_kpred_norm_for_loss(s.cfg0->loss, n, 1);
    const double lmax = lm_kpred_eigenvalues(s.kp)[n - 1];

    /* the networks */
    size_t S = 0, n_missing = 0;
    char why[200] = "";
    double lin_sum = 0, lin_max = 0;
    size_t n_loss = 0, loss_cnt = 0;
    int64_t loss_steps[CAP];
    for (size_t r = 0; r < ctx->n_runs && S < SEEDS_MAX; r++) {
        if (ctx->run[r] <= 0) {
            n_missing++;
            continue;
        }
        double le = LM_NAN;
        st = one_net(ctx, &s, ctx->run[r], eta, steps, s.fs + S * m, &le, err);
        if (st != LM_OK) {
            /* a run without a usable checkpoint (diverged, NaN outputs) makes the claims that
             * need every net inconclusive; its message goes into the claims' detail */
            snprintf(why, sizeof why, "run %lld unusable: %.150s", (long long) ctx->run[r],
                     err ? err->msg : "error");
            lm_err_clear(err);
            st = LM_OK;
            n_missing++;
            continue;
        }
        lin_sum += le;
        lin_max = fmax(lin_max, le);
        size_t ns = 0;
        st = lm_exp_series(ctx, ctx->run[r], "train_loss", CAP, s.st, s.sv, &ns, err);
        if (st != LM_OK) {
            state_free(&s);
            return st;
        }
        if (loss_cnt == 0) {
            n_loss = ns;
            memcpy(loss_steps, s.st, ns * sizeof *s.st);
        }
        size_t nt = 0;
        if (ns == n_loss) {
            for (size_t k = 0; k < ns; k++)
                s.loss_sum[k] += s.sv[k];
            st = lm_exp_series(ctx, ctx->run[r], "test_loss", CAP, s.st, s.sv, &nt, err);
            if (st != LM_OK) {
                state_free(&s);
                return st;
            }
            for (size_t k = 0; k < nt && k < n_loss; k++)
                s.tl_sum[k] += s.sv[k];
            loss_cnt += nt == n_loss;
        }
        S++;
    }
    const size_t expected = ctx->quick ? SEEDS_QUICK : SEEDS_FULL;
    const int complete = S == expected && n_missing == 0;

    /* 1. ensemble mean against mu_T */
    double *fbar = s.ftmp; /* [m] */
    double var_sum = 0, dev2 = 0;
    for (size_t j = 0; j < m; j++) {
        double a = 0, a2 = 0;
        for (size_t q = 0; q < S; q++) {
            const double v = s.fs[q * m + j];
            a += v;
            a2 += v * v;
            dev2 += (v - s.mu[j]) * (v - s.mu[j]);
        }
        fbar[j] = a / (double) S;
        if (S > 1)
            var_sum += (a2 - a * a / (double) S) / (double) (S - 1);
    }
    const double mu_norm = nrm(s.mu, m);
    /* the power calculation: the ensemble's expected RMS noise sqrt(sum_j Var_j(T) / S) */
    double var_T = LM_NAN, loss_T = LM_NAN;
    st = pred_test_loss(&s, (double) steps, &loss_T, &var_T, err);
    if (st != LM_OK) {
        state_free(&s);
        return st;
    }
    const double noise_pred = sqrt(var_T / (double) expected) / mu_norm;
    const double rel = complete ? dist(fbar, s.mu, m) / mu_norm : LM_NAN;
    const double rel_se = S > 1 ? sqrt(var_sum / (double) S) / mu_norm : LM_NAN;
    char pred[192], tol[96];
    snprintf(pred, sizeof pred,
             "mean over %zu nets of f_T(x*) = mu_T(x*) = Theta(x*,X) Theta^-1 (I - (1 - eta "
             "Theta/n)^T) Y, T = %zu",
             expected, steps);
    lm_claim *c = lm_exp_claim(
        ctx, "ensemble mean = mu_T", pred, 0.0, rel, rel_se, 0.0, 0.10,
        "relative L2 over the test set <= 0.10", 0.10,
        "science.md §2: at width 2048 the empirical NTK is within ~6% of the analytic one and "
        "moves O(1/width) in training; the seed count is chosen so that the ensemble's expected "
        "init noise (detail) stays well below 10%. Uncertainty: the standard error of the "
        "ensemble mean (seed spread / sqrt S)");
    if (c) {
        snprintf(c->detail, sizeof c->detail,
                 "%zu nets of width %zu, n = %zu train, %zu test points, eta = %g, T = %zu; "
                 "||mu_T|| = %.4g, ||mean - mu_T|| = %.4g; predicted ensemble noise (NNGP) "
                 "%.3f, one net's %.3f",
                 S, width, n, m, eta, steps, mu_norm, dist(fbar, s.mu, m), noise_pred,
                 noise_pred * sqrt((double) expected));
        if (!complete)
            snprintf(c->detail, sizeof c->detail, "%zu of %zu nets usable; %.200s", S, expected,
                     why[0] ? why : "runs failed");
        link_runs(c, ctx);
    }

    /* 2. each net against its own linearised prediction */
    const double lin = complete ? lin_sum / (double) S : LM_NAN;
    snprintf(pred, sizeof pred,
             "f_T(x*) = f_0(x*) + Theta(x*,X) Theta^-1 (I - (1 - eta Theta/n)^T)(Y - f_0(X)) "
             "per net");
    c = lm_exp_claim(ctx, "each net = its linearisation", pred, 0.0, lin, LM_NAN, 0.0, 0.10,
                     "mean relative L2 over nets <= 0.10", 0.10,
                     "the same kernel error as claim 1 without the ensemble noise (each net's "
                     "own f_0 is put in the formula); the empirical NTK's ~6% deviation at width "
                     "2048 (science.md §2) enters the prediction once");
    if (c) {
        snprintf(c->detail, sizeof c->detail, "worst net %.4g, mean %.4g over %zu nets", lin_max,
                 lin_sum / (double) (S ? S : 1), S);
        link_runs(c, ctx);
    }

    /* 3. residual ensemble noise */
    const double noise =
        complete && dev2 > 0 ? dist(fbar, s.mu, m) / sqrt(dev2 / (double) S) : LM_NAN;
    snprintf(pred, sizeof pred, "||mean - mu_T|| / rms_s ||f_s - mu_T|| = 1/sqrt(%zu) = %.3f",
             expected, 1.0 / sqrt((double) expected));
    snprintf(tol, sizeof tol, "within [0.5, 1.5] x 1/sqrt(%zu)", expected);
    const double inv = 1.0 / sqrt((double) expected);
    c = lm_exp_claim(ctx, "ensemble noise ~ 1/sqrt(S)", pred, inv, noise, LM_NAN, 0.5 * inv,
                     1.5 * inv, tol, 0.5,
                     "independent zero-mean deviations average down as 1/sqrt(S) (science.md §2: "
                     "~0.35 of one net's at S = 8); the deviation at the test points is dominated "
                     "by a few kernel modes, so the ratio of two norms over S nets still scatters "
                     "by tens of percent, and a finite-width bias (not averaged away) pushes it "
                     "up");
    if (c)
        link_runs(c, ctx);

    /* 4. mean training-loss curve */
    const int curves = complete && loss_cnt == S && n_loss > 0;
    double worst = LM_NAN;
    int64_t worst_step = -1;
    if (curves)
        st = curve_error(&s, 0, loss_steps, n_loss, s.loss_sum, loss_cnt, &worst, &worst_step, err);
    if (st != LM_OK) {
        state_free(&s);
        return st;
    }
    c = lm_exp_claim(
        ctx, "mean train loss curve",
        "E L_t = (||D_t V^T Y||^2 + sum_i d_i^2 v_i^T K v_i) / 2n, d_i = (1 - eta lambda_i/n)^t, "
        "K = NNGP",
        0.0, worst, LM_NAN, 0.0, 0.20, "max relative error over the recorded steps <= 0.20", 0.20,
        "not in science.md (our own): the loss is quadratic in the outputs, so the ~6% kernel "
        "error and the O(1/width) kernel motion enter roughly twice, and S seeds estimate the "
        "init-variance term to ~1/sqrt(S) of its spread");
    if (c) {
        snprintf(c->detail, sizeof c->detail, "worst at step %lld of %zu recorded steps",
                 (long long) worst_step, n_loss);
        link_runs(c, ctx);
    }

    /* 4b. mean test-loss curve */
    double worst_t = LM_NAN;
    int64_t worst_t_step = -1;
    if (curves)
        st = curve_error(&s, 1, loss_steps, n_loss, s.tl_sum, loss_cnt, &worst_t, &worst_t_step,
                         err);
    if (st != LM_OK) {
        state_free(&s);
        return st;
    }
    c = lm_exp_claim(ctx, "mean test loss curve",
                     "E L_test(t) = mean_j ((mu_t(x_j) - y_j)^2 + Var_j(t)) / 2, Var from the "
                     "NNGP through P_t = Theta(x*,X) Theta^-1 (I - D_t)",
                     0.0, worst_t, LM_NAN, 0.0, 0.20,
                     "max relative error over the recorded steps <= 0.20", 0.20,
                     "the intermediate-time check of the test predictions (only losses are "
                     "recorded during training); same reasons as the train-loss curve");
    if (c) {
        snprintf(c->detail, sizeof c->detail, "worst at step %lld of %zu recorded steps",
                 (long long) worst_t_step, n_loss);
        link_runs(c, ctx);
    }

    /* 5. the rate precondition */
    const double frac = eta * lmax / norm;
    snprintf(pred, sizeof pred, "eta lambda_max(Theta) / n = %g * %.5g / %g <= 0.5", eta, lmax,
             norm);
    c = lm_exp_claim(ctx, "rate in the kernel regime", pred, RATE_FRAC, frac, LM_NAN, 0.0,
                     RATE_FRAC, "<= 0.5", RATE_FRAC,
                     "science.md §2's setup: far below the GD stability edge 2, so the closed "
                     "form applies and the network stays near its linearisation");
    if (c)
        link_runs(c, ctx);

    /* figures: the loss curve, and the test outputs sorted by mu_T */
    if (n_loss > 0 && loss_cnt > 0) {
        s.fig = lm_malloc(n_loss * 6 * sizeof(double));
        if (!s.fig) {
            state_free(&s);
            LM_FAIL(err, LM_ENOMEM, "out of memory");
        }
        for (size_t k = 0; k < n_loss && st == LM_OK; k++) {
            double *row = s.fig + k * 6;
            row[0] = (double) loss_steps[k];
            row[1] = s.loss_sum[k] / (double) loss_cnt;
            row[4] = s.tl_sum[k] / (double) loss_cnt;
            st = pred_test_loss(&s, row[0], &row[5], NULL, err);
            if (st == LM_OK)
                st = lm_kpred_train_loss(s.kp, row[0], &row[2], err);
            if (st == LM_OK)
                st = lm_kpred_at(s.kp, row[0], s.mutr, NULL, err);
            if (st == LM_OK) {
                const double dmu = dist(s.mutr, s.tr->y, n);
                row[3] = dmu * dmu / (2 * norm);
            }
        }
        static const char *cols[] = {"step",
                                     "measured mean train loss",
                                     "predicted E L_t (NTK, NNGP init variance)",
                                     "predicted loss of mu_t alone",
                                     "measured mean test loss",
                                     "predicted E test loss"};
        if (st == LM_OK)
            st =
                lm__exp_figure_lines(ctx, "ntk-dynamics-loss",
                                     "Ensemble-mean train and test loss against the NTK prediction",
                                     "loss", 1, 6, cols, n_loss, s.fig, err);
        lm_free(s.fig);
        s.fig = NULL;
    }
    if (st == LM_OK && S > 0) {
        keyed *idx = lm_malloc(m * sizeof *idx);
        s.fig = lm_malloc(m * 4 * sizeof(double));
        if (!idx || !s.fig) {
            lm_free(idx);
            state_free(&s);
            LM_FAIL(err, LM_ENOMEM, "out of memory");
        }
        for (size_t j = 0; j < m; j++) {
            idx[j].key = s.mu[j];
            idx[j].idx = j;
        }
        qsort(idx, m, sizeof *idx, cmp_keyed);
        for (size_t j = 0; j < m; j++) {
            double *row = s.fig + j * 4;
            const size_t q = idx[j].idx;
            row[0] = (double) j;
            row[1] = s.mu[q];
            row[2] = fbar[q];
            row[3] = s.fs[q];
        }
        lm_free(idx);
        static const char *cols[] = {"test point (sorted by mu_T)", "predicted mu_T",
                                     "ensemble mean", "one net (seed 0)"};
        st = lm__exp_figure_lines(ctx, "ntk-dynamics-outputs",
                                  "Test outputs at the final step: NTK prediction and networks",
                                  "output f_T(x*)", 0, 4, cols, m, s.fig, err);
    }
    state_free(&s);
    return st;
}

const lm_experiment lm__exp_ntk_dynamics = {
    .name = "ntk-dynamics",
    .summary =
        "NTK dynamics: wide ReLU nets trained by GD follow the analytic NTK's closed form mu_t",
    .quick = "width 1024, 20 seeds, 64 training points, 200 steps (the same criteria; expected "
             "ensemble noise 0.080 against the 10% bar, the full variant's 0.075)",
    .plan = plan,
    .analyse = analyse,
};
