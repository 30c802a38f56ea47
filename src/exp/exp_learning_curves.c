/*
 * exp_learning_curves.c: kernel regression's learning curves against the eigenframework
 * (science.md §8(a), (c); Simon, Dickens, Karkada, DeWeese, arXiv 2110.03922; Bordelon, Canatar,
 * Pehlevan 2020, arXiv 2002.02561).
 *
 * Theory (lm_eigenlearning, src/theory/eigenlearning.c). For a kernel with eigenvalues lambda_i
 * under the data measure and a target f* = sum_i v_i phi_i, KRR on n samples with ridge delta
 * (applied as (K_n + delta I)^-1) has, in expectation over the draw of the samples,
 *     kappa:  sum_i lambda_i / (lambda_i + kappa) + delta / kappa = n,
 *     test MSE = E0 sum_i (kappa / (lambda_i + kappa))^2 v_i^2,  E0 = n / (n - sum_i L_i^2),
 *     train MSE = (delta / (n kappa))^2 test MSE             (noiseless targets here).
 *
 * (a) Synthetic power-law features (data source `powerlaw`, science.md §7): x_j ~ N(0, j^-a) for
 * j = 1..M, y = w*.x with lambda_j w*_j^2 = j^-b, a = 1.5, b = 1.6. The linear kernel
 * K(x, x') = x.x' has exactly the eigenvalues lambda_j = j^-a (eigenfunctions x_j / sqrt(lambda_j))
 * and the target coefficients v_j^2 = j^-b, so the prediction is written from (M, a, b) in the
 * run's config before any data are read: the same truncated spectrum the data have.
 *
 * The runs: nothing is trained. Each trial is one run of one full-batch step at learning rate 0
 * (as in ntk-convergence): its config records the data (source, M, a, b, sizes) and its seed, and
 * the analysis regenerates the run's training pool and test set from the config (lm_data_load),
 * forms the linear-kernel Gram matrix of [pool; test], and measures KRR's learning curve on it
 * (lm_krr_curve: one training set per n drawn from the pool, one eigendecomposition per training
 * set reused over the three ridges). Each trial has its own pool and test set, so the spread over
 * trials carries both the training-set and the test-set randomness.
 *
 * Claims (full): for each ridge delta in {0, 0.1, 1} and each n >= 50, empirical / predicted test
 * MSE (the mean over trials divided by the prediction, u = 2 SE over trials) within [0.95, 1.05];
 * for delta > 0 the train MSE likewise within [0.90, 1.10] (science.md §8(a), [C]: <= 2.4 %).
 * n = 25 and the ridge-0 train MSE (0 by interpolation) are reported figures. science.md asks
 * 20 trials per n; at 20 trials the trial-to-trial spread of KRR's test error (~15 % per trial)
 * gives u ~ 6 % at n = 50, wider than the tolerance, so the full variant runs 200 trials (u ~ 2 %
 * at n = 50) to decide each claim. Quick: M = 1000, pool 200, 400 test points, n in {50, 100,
 * 200}, 150 trials, the same claims.
 *
 * (b) NTK-KRR on Fashion-MNIST-196 (science.md §8(c)): the analytic NTK (lm_kernel_analytic,
 * depth 1) of a 2-layer ReLU network (NTP, sw2 = 2, sb2 = 0.05), parity target +-1, ridge 0. The
 * prediction comes from a separate spectrum run (a random subset of N = 5000 training images,
 * seed 1000): lm_kernel_spectrum of its Gram / N gives lambda_i and v_i, and lm_eigenlearning the
 * test MSE at each n. Each trial run is a random 2000-image pool of the training split and 1000
 * random t10k images; lm_krr_curve measures the test MSE at n in {100, 200, 500, 1000, 2000}; 20
 * trials. Claim per n: empirical / predicted within [0.90, 1.10] (uncalibrated in science.md), u =
 * 2 SE over trials. Quick: N = 1000, pool 400, 500 test images, n in {200, 400}, 6 trials. Both
 * fail beyond n ~ 200 (docs/experiments/learning-curves.md: the finite spectrum sample).
 */
#include "exp/internal.h"

#include "lmech/kernel.h"
#include "lmech/theory.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

static const char *BASE_A =
    "{\"name\": \"learning-curves\", \"seed\": 0,"
    " \"data\": {\"source\": \"powerlaw\", \"dim\": 2000, \"alpha\": 1.5, \"beta\": 1.6,"
    "  \"train_size\": 800, \"test_size\": 500, \"noise\": 0},"
    " \"model\": {\"widths\": [2000, 1], \"bias\": false},"
    " \"loss\": \"mse\", \"optimizer\": {\"name\": \"sgd\", \"lr\": 0},"
    " \"batch_size\": 0, \"steps\": 1, \"eval_every\": 1, \"threads\": 1}";

static const char *BASE_B =
    "{\"name\": \"learning-curves\", \"seed\": 0,"
    " \"data\": {\"source\": \"fashion-mnist\", \"train_size\": 2000, \"test_size\": 1000,"
    "  \"subset\": \"random\", \"pool\": 2, \"normalize\": \"standardize_sphere\","
    "  \"targets\": \"parity\"},"
    " \"model\": {\"widths\": [196, 512, 1], \"activation\": \"relu\", \"bias\": true,"
    "  \"parameterization\": \"ntp\", \"sw2\": 2, \"sb2\": 0.05},"
    " \"loss\": \"mse\", \"optimizer\": {\"name\": \"sgd\", \"lr\": 0},"
    " \"batch_size\": 0, \"steps\": 1, \"eval_every\": 1, \"threads\": 1}";

#define MAX_N      8
#define MAX_TRIALS 256
#define N_RIDGE    3
#define TOL_TEST   0.05 /* science.md §8(a) */
#define TOL_TRAIN  0.10 /* science.md §8(a) */
#define N_CURVE    40   /* points of the drawn theory curve */

static const double RIDGE[N_RIDGE] = {0.0, 0.1, 1.0};

/* The (a) sweep: M features, pool and test sizes, the n list, trials. theory_alpha/beta: the
 * spectrum the prediction is written from (NaN: the config's; tests pass a wrong one). */
typedef struct design_a {
    size_t dim, pool, test, nn, trials;
    size_t n[MAX_N];
    double theory_alpha, theory_beta;
} design_a;

static design_a design_a_for(int quick) {
    if (quick)
        return (design_a){1000, 200, 400, 3, 150, {50, 100, 200}, LM_NAN, LM_NAN};
    return (design_a){2000, 800, 500, 6, 200, {25, 50, 100, 200, 400, 800}, LM_NAN, LM_NAN};
}

static lm_status plan_a(const design_a *d, lm_exp_plan *p, lm_err *err) {
    char sd[48], sw[48], sp[48], st[48], ss[32], label[96];
    snprintf(sd, sizeof sd, "data.dim=%zu", d->dim);
    snprintf(sw, sizeof sw, "model.widths=[%zu, 1]", d->dim);
    snprintf(sp, sizeof sp, "data.train_size=%zu", d->pool);
    snprintf(st, sizeof st, "data.test_size=%zu", d->test);
    for (size_t t = 0; t < d->trials; t++) {
        snprintf(ss, sizeof ss, "seed=%zu", t);
        snprintf(label, sizeof label, "powerlaw M=%zu trial=%zu", d->dim, t);
        const char *sets[] = {sd, sw, sp, st, ss};
        LM_TRY(lm_exp_plan_add(p, label, BASE_A, 5, sets, err));
    }
    return LM_OK;
}

/* The (b) sweep: the spectrum run's sample size (its seed SPEC_SEED), each trial's pool and test
 * sizes (seeds 0..trials-1), the n list. flat_target (tests only): predict for a target with the
 * same power spread evenly over the modes, i.e. from the wrong target spectrum. */
#define SPEC_SEED 1000
typedef struct design_b {
    size_t spec, pool, test, nn, trials;
    size_t n[MAX_N];
    int flat_target;
} design_b;

static design_b design_b_for(int quick) {
    if (quick)
        return (design_b){1000, 400, 500, 2, 6, {200, 400}, 0};
    return (design_b){5000, 2000, 1000, 5, 20, {100, 200, 500, 1000, 2000}, 0};
}

static lm_status plan_b(const design_b *d, lm_exp_plan *p, lm_err *err) {
    char sp[48], st[48], ss[32], label[96];
    snprintf(sp, sizeof sp, "data.train_size=%zu", d->spec);
    snprintf(ss, sizeof ss, "seed=%d", SPEC_SEED);
    snprintf(label, sizeof label, "fmnist NTK spectrum N=%zu", d->spec);
    const char *sets0[] = {sp, "data.test_size=0", ss};
    LM_TRY(lm_exp_plan_add(p, label, BASE_B, 3, sets0, err));
    snprintf(sp, sizeof sp, "data.train_size=%zu", d->pool);
    snprintf(st, sizeof st, "data.test_size=%zu", d->test);
    for (size_t t = 0; t < d->trials; t++) {
        snprintf(ss, sizeof ss, "seed=%zu", t);
        snprintf(label, sizeof label, "fmnist NTK-KRR trial=%zu", t);
        const char *sets[] = {sp, st, ss};
        LM_TRY(lm_exp_plan_add(p, label, BASE_B, 3, sets, err));
    }
    return LM_OK;
}

static lm_status plan(int quick, lm_exp_plan *p, lm_err *err) {
    const design_a a = design_a_for(quick);
    const design_b b = design_b_for(quick);
    LM_TRY(plan_a(&a, p, err));
    return plan_b(&b, p, err);
}

/* ---------------------------------------------------------------- (a) analysis */

/* One trial: the test and train MSE [N_RIDGE][nn] of KRR with the linear kernel on run's data. */
static lm_status trial_a(const lm_exp_ctx *ctx, const design_a *d, int64_t run, double *te,
                         double *tr, lm_err *err) {
    lm_config *cfg = NULL;
    LM_TRY(lm__exp_load_config(ctx, run, &cfg, err));
    lm_dataset *train = NULL, *test = NULL;
    lm_status st = lm_data_load(&cfg->data, cfg->seed, &train, &test, err);
    const size_t np = st == LM_OK ? train->n : 0, nt = test ? test->n : 0, N = np + nt;
    const size_t dim = st == LM_OK ? train->d : 0;
    if (st == LM_OK && (cfg->data.source != LM_DATA_POWERLAW || nt == 0 || train->k != 1))
        st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                        "learning-curves: run %lld is not a powerlaw run with a test set",
                        (long long) run);
    double *z = NULL, *K = NULL, *y = NULL;
    if (st == LM_OK && (!(z = lm_malloc(N * dim * sizeof *z)) ||
                        !(K = lm_malloc(N * N * sizeof *K)) || !(y = lm_malloc(N * sizeof *y))))
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                        "learning-curves: out of memory for a %zu x %zu Gram", N, N);
    if (st == LM_OK) {
        memcpy(z, train->x, np * dim * sizeof *z);
        memcpy(z + np * dim, test->x, nt * dim * sizeof *z);
        memcpy(y, train->y, np * sizeof *y);
        memcpy(y + np, test->y, nt * sizeof *y);
        /* the linear kernel K = Z Z^T (upper triangle by dsyrk, mirrored) */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int) N, (int) dim, 1.0, z, (int) dim,
                    0.0, K, (int) N);
        for (size_t i = 0; i < N; i++)
            for (size_t j = 0; j < i; j++)
                K[i * N + j] = K[j * N + i];
        st = lm_krr_curve(K, N, np, y, 1, d->nn, d->n, 1, N_RIDGE, RIDGE, cfg->seed, te, tr, err);
    }
    lm_free(z);
    lm_free(K);
    lm_free(y);
    lm_dataset_free(train);
    lm_dataset_free(test);
    lm_config_free(cfg);
    return st;
}

/* The prediction for n samples at ridge r from the truncated power law (dim, a, b). */
static lm_status theory_a(size_t dim, double a, double b, double n, double ridge, double *test,
                          double *train, lm_err *err) {
    double *lam = lm_malloc(dim * sizeof *lam), *v = lm_malloc(dim * sizeof *v);
    if (!lam || !v) {
        lm_free(lam);
        lm_free(v);
        LM_FAIL(err, LM_ENOMEM, "learning-curves: out of memory for %zu eigenvalues", dim);
    }
    for (size_t j = 0; j < dim; j++) {
        lam[j] = pow((double) (j + 1), -a);
        v[j] = pow((double) (j + 1), -0.5 * b);
    }
    lm_eigenlearn o;
    const lm_status st = lm_eigenlearning(dim, lam, v, n, ridge, 0.0, &o, NULL, err);
    if (st == LM_OK) {
        *test = o.test_mse;
        *train = o.train_mse;
    }
    lm_free(lam);
    lm_free(v);
    return st;
}

static lm_status analyse_a(lm_exp_ctx *ctx, const design_a *d, size_t first, lm_err *err) {
    const size_t nn = d->nn, T = d->trials;
    if (nn > MAX_N || T > MAX_TRIALS || first + T > ctx->n_runs)
        LM_FAIL(err, LM_EINVAL,
                "learning-curves: design of %zu sizes x %zu trials does not fit "
                "the %zu runs",
                nn, T, ctx->n_runs);
    /* the prediction, written from the design's spectrum before any run is read */
    lm_config *c0 = NULL;
    int64_t run0 = -1;
    for (size_t t = 0; t < T && run0 < 0; t++)
        run0 = ctx->run[first + t] > 0 ? ctx->run[first + t] : -1;
    if (run0 < 0)
        LM_FAIL(err, LM_EINVAL, "learning-curves: no finished (a) run");
    LM_TRY(lm__exp_load_config(ctx, run0, &c0, err));
    const size_t dim = c0->data.dim;
    const double a = isfinite(d->theory_alpha) ? d->theory_alpha : c0->data.alpha;
    const double b = isfinite(d->theory_beta) ? d->theory_beta : c0->data.beta;
    lm_config_free(c0);
    double th_te[N_RIDGE][MAX_N], th_tr[N_RIDGE][MAX_N];
    for (size_t r = 0; r < N_RIDGE; r++)
        for (size_t i = 0; i < nn; i++)
            LM_TRY(
                theory_a(dim, a, b, (double) d->n[i], RIDGE[r], &th_te[r][i], &th_tr[r][i], err));

    /* the measurements: ratio[r][i][t] of trial t (NaN for a failed run) */
    static double te_r[N_RIDGE][MAX_N][MAX_TRIALS], tr_r[N_RIDGE][MAX_N][MAX_TRIALS];
    static double te_abs[N_RIDGE][MAX_N][MAX_TRIALS];
    int64_t runs[MAX_TRIALS];
    size_t nr = 0;
    for (size_t t = 0; t < T; t++) {
        const int64_t run = ctx->run[first + t];
        double te[N_RIDGE * MAX_N], tr[N_RIDGE * MAX_N];
        for (size_t q = 0; q < N_RIDGE * MAX_N; q++)
            te[q] = tr[q] = LM_NAN;
        if (run > 0) {
            LM_TRY(trial_a(ctx, d, run, te, tr, err));
            runs[nr++] = run;
        }
        for (size_t r = 0; r < N_RIDGE; r++)
            for (size_t i = 0; i < nn; i++) {
                te_abs[r][i][t] = te[r * nn + i];
                te_r[r][i][t] = te[r * nn + i] / th_te[r][i];
                tr_r[r][i][t] = th_tr[r][i] > 0 ? tr[r * nn + i] / th_tr[r][i] : LM_NAN;
            }
    }

    char name[96], pred[256], det[400], from[96];
    snprintf(from, sizeof from, "2 SE over %zu trials (each its own pool and test set)", T);
    const char *reason_te = "science.md §8(a) [C]: the eigenframework on the same truncated "
                            "spectrum matched within 3 % for n >= 50 (8 % at n = 25)";
    const char *reason_tr = "science.md §8(a) [C]: train MSE within 10 % (measured <= 2.4 %)";
    for (size_t r = 0; r < N_RIDGE; r++) {
        for (size_t i = 0; i < nn; i++) {
            const size_t n = d->n[i];
            double m, u;
            const size_t k = lm__exp_mean_u(T, te_r[r][i], &m, &u);
            if (k != T)
                m = u = LM_NAN;
            snprintf(name, sizeof name, "test MSE ridge %g n=%zu", RIDGE[r], n);
            snprintf(pred, sizeof pred,
                     "KRR test MSE = eigenframework's %.5g (M = %zu, a = %g, b = %g, ridge "
                     "%g); empirical / predicted = 1",
                     th_te[r][i], dim, a, b, RIDGE[r]);
            double ma, ua;
            lm__exp_mean_u(T, te_abs[r][i], &ma, &ua);
            snprintf(det, sizeof det, "empirical test MSE %.5g +- %.2g over %zu trials", ma, ua, T);
            lm_exp_judge(ctx, &(lm_claim_spec){
                                  .name = name,
                                  .predicted = pred,
                                  .predicted_value = 1.0,
                                  .measured = m,
                                  .uncertainty = u,
                                  .uncertainty_from = from,
                                  .n_seeds = T,
                                  .lo = 1 - TOL_TEST,
                                  .hi = 1 + TOL_TEST,
                                  .tolerance = "empirical / predicted in [0.95, 1.05]",
                                  .tolerance_value = TOL_TEST,
                                  .reason = n >= 50 ? reason_te
                                                    : "n < 50: outside science.md's claim "
                                                      "(8 % measured at n = 25)",
                                  .detail = det,
                                  .reported = n < 50,
                                  .n_runs = nr,
                                  .runs = runs,
                              });
            if (RIDGE[r] == 0)
                continue;
            const size_t k2 = lm__exp_mean_u(T, tr_r[r][i], &m, &u);
            if (k2 != T)
                m = u = LM_NAN;
            snprintf(name, sizeof name, "train MSE ridge %g n=%zu", RIDGE[r], n);
            snprintf(pred, sizeof pred,
                     "KRR train MSE = (ridge / (n kappa))^2 test MSE = %.5g; empirical / "
                     "predicted = 1",
                     th_tr[r][i]);
            lm_exp_judge(ctx,
                         &(lm_claim_spec){
                             .name = name,
                             .predicted = pred,
                             .predicted_value = 1.0,
                             .measured = m,
                             .uncertainty = u,
                             .uncertainty_from = from,
                             .n_seeds = T,
                             .lo = 1 - TOL_TRAIN,
                             .hi = 1 + TOL_TRAIN,
                             .tolerance = "empirical / predicted in [0.90, 1.10]",
                             .tolerance_value = TOL_TRAIN,
                             .reason = n >= 50 ? reason_tr : "n < 50: outside science.md's claim",
                             .reported = n < 50,
                             .n_runs = nr,
                             .runs = runs,
                         });
        }
    }

    /* figure: the learning curves (trial means +- 2 SE) and the predicted curves */
    double x[MAX_N], y[N_RIDGE][MAX_N], u[N_RIDGE][MAX_N];
    double px[N_CURVE], py[N_RIDGE][N_CURVE];
    const double lo = log((double) d->n[0] * 0.8), hi = log((double) d->n[nn - 1] * 1.25);
    for (size_t j = 0; j < N_CURVE; j++)
        px[j] = exp(lo + (hi - lo) * (double) j / (N_CURVE - 1));
    lm__exp_fig_series fs[N_RIDGE];
    char lab[N_RIDGE][48], plab[N_RIDGE][64];
    for (size_t r = 0; r < N_RIDGE; r++) {
        for (size_t i = 0; i < nn; i++) {
            x[i] = (double) d->n[i];
            lm__exp_mean_u(T, te_abs[r][i], &y[r][i], &u[r][i]);
        }
        for (size_t j = 0; j < N_CURVE; j++) {
            double trash;
            if (theory_a(dim, a, b, px[j], RIDGE[r], &py[r][j], &trash, NULL) != LM_OK)
                py[r][j] = LM_NAN;
        }
        snprintf(lab[r], sizeof lab[r], "KRR, ridge %g", RIDGE[r]);
        snprintf(plab[r], sizeof plab[r], "eigenframework, ridge %g", RIDGE[r]);
        fs[r] = (lm__exp_fig_series){lab[r], nn, x, y[r], u[r], plab[r], N_CURVE, px, py[r]};
    }
    char title[160];
    snprintf(title, sizeof title,
             "Power-law features (M = %zu, a = %g, b = %g), linear-kernel KRR: trial means +- "
             "2 SE (%zu trials) against the eigenframework",
             dim, a, b, T);
    return lm__exp_figure_law(ctx, "learning-curves-powerlaw", title, "training samples n",
                              "test MSE", 1, 1, N_RIDGE, fs, err);
}

/* ---------------------------------------------------------------- (b) analysis */

/* The analytic NTK Gram [n, n] of the rows x [n, d] for cfg's network (depth 1). */
static lm_status ntk_gram(const lm_config *cfg, const double *x, size_t n, size_t d, double **K,
                          lm_err *err) {
    if (cfg->model.n_widths != 3)
        LM_FAIL(err, LM_EINVAL, "learning-curves: the (b) network must have one hidden layer");
    *K = lm_malloc(n * n * sizeof **K);
    if (!*K)
        LM_FAIL(err, LM_ENOMEM, "learning-curves: out of memory for a %zu x %zu NTK", n, n);
    const lm_status st = lm_kernel_analytic(x, n, d, 1, cfg->model.act, cfg->model.sw2,
                                            cfg->model.sb2, NULL, *K, err);
    if (st != LM_OK) {
        lm_free(*K);
        *K = NULL;
    }
    return st;
}

/* The prediction: the spectrum run's NTK Gram / N and its target's coefficients
 * (lm_kernel_spectrum), then the eigenframework at each n (ridge 0). */
static lm_status theory_b(const lm_exp_ctx *ctx, const design_b *d, int64_t run, double *pred,
                          size_t *m_pos, lm_err *err) {
    lm_config *cfg = NULL;
    LM_TRY(lm__exp_load_config(ctx, run, &cfg, err));
    lm_dataset *tr = NULL;
    lm_status st = lm_data_load(&cfg->data, cfg->seed, &tr, NULL, err);
    double *K = NULL, *lam = NULL, *v = NULL;
    const size_t N = st == LM_OK ? tr->n : 0;
    if (st == LM_OK && tr->k != 1)
        st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                        "learning-curves: the (b) target must be one output, got %zu", tr->k);
    if (st == LM_OK)
        st = ntk_gram(cfg, tr->x, N, tr->d, &K, err);
    if (st == LM_OK && (!(lam = lm_malloc(N * sizeof *lam)) || !(v = lm_malloc(N * sizeof *v))))
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "learning-curves: out of memory");
    if (st == LM_OK)
        st = lm_kernel_spectrum(K, N, tr->y, 1, lam, v, m_pos, err);
    if (st == LM_OK && d->flat_target) {
        double p2 = 0;
        for (size_t i = 0; i < *m_pos; i++)
            p2 += v[i] * v[i];
        for (size_t i = 0; i < *m_pos; i++)
            v[i] = sqrt(p2 / (double) *m_pos);
    }
    for (size_t i = 0; st == LM_OK && i < d->nn; i++) {
        lm_eigenlearn o;
        st = lm_eigenlearning(*m_pos, lam, v, (double) d->n[i], 0.0, 0.0, &o, NULL, err);
        pred[i] = st == LM_OK ? o.test_mse : LM_NAN;
    }
    lm_free(K);
    lm_free(lam);
    lm_free(v);
    lm_dataset_free(tr);
    lm_config_free(cfg);
    return st;
}

/* One trial: NTK-KRR (ridge 0) on the run's pool, test MSE on its test set at each n. */
static lm_status trial_b(const lm_exp_ctx *ctx, const design_b *d, int64_t run, double *te,
                         lm_err *err) {
    lm_config *cfg = NULL;
    LM_TRY(lm__exp_load_config(ctx, run, &cfg, err));
    lm_dataset *train = NULL, *test = NULL;
    lm_status st = lm_data_load(&cfg->data, cfg->seed, &train, &test, err);
    const size_t np = st == LM_OK ? train->n : 0, nt = test ? test->n : 0, N = np + nt;
    const size_t dd = st == LM_OK ? train->d : 0;
    if (st == LM_OK && (nt == 0 || train->k != 1))
        st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                        "learning-curves: (b) run %lld needs a test set and one output",
                        (long long) run);
    double *x = NULL, *y = NULL, *K = NULL;
    if (st == LM_OK && (!(x = lm_malloc(N * dd * sizeof *x)) || !(y = lm_malloc(N * sizeof *y))))
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "learning-curves: out of memory");
    if (st == LM_OK) {
        memcpy(x, train->x, np * dd * sizeof *x);
        memcpy(x + np * dd, test->x, nt * dd * sizeof *x);
        memcpy(y, train->y, np * sizeof *y);
        memcpy(y + np, test->y, nt * sizeof *y);
        st = ntk_gram(cfg, x, N, dd, &K, err);
    }
    const double ridge0 = 0.0;
    if (st == LM_OK)
        st = lm_krr_curve(K, N, np, y, 1, d->nn, d->n, 1, 1, &ridge0, cfg->seed, te, NULL, err);
    lm_free(x);
    lm_free(y);
    lm_free(K);
    lm_dataset_free(train);
    lm_dataset_free(test);
    lm_config_free(cfg);
    return st;
}

static lm_status analyse_b(lm_exp_ctx *ctx, const design_b *d, size_t first, lm_err *err) {
    const size_t nn = d->nn, T = d->trials;
    if (nn > MAX_N || T > MAX_TRIALS || first + 1 + T > ctx->n_runs)
        LM_FAIL(err, LM_EINVAL,
                "learning-curves: (b) design of %zu trials does not fit the %zu "
                "runs",
                T, ctx->n_runs);
    const int64_t spec_run = ctx->run[first];
    double pred[MAX_N];
    size_t m_pos = 0;
    for (size_t i = 0; i < nn; i++)
        pred[i] = LM_NAN;
    if (spec_run > 0)
        LM_TRY(theory_b(ctx, d, spec_run, pred, &m_pos, err));
    static double ratio[MAX_N][MAX_TRIALS], abs_[MAX_N][MAX_TRIALS];
    int64_t runs[MAX_TRIALS + 1];
    size_t nr = 0;
    if (spec_run > 0)
        runs[nr++] = spec_run;
    for (size_t t = 0; t < T; t++) {
        const int64_t run = ctx->run[first + 1 + t];
        double te[MAX_N];
        for (size_t i = 0; i < nn; i++)
            te[i] = LM_NAN;
        if (run > 0) {
            LM_TRY(trial_b(ctx, d, run, te, err));
            runs[nr++] = run;
        }
        for (size_t i = 0; i < nn; i++) {
            abs_[i][t] = te[i];
            ratio[i][t] = te[i] / pred[i];
        }
    }
    char name[96], pred_s[256], det[400], from[96];
    snprintf(from, sizeof from, "2 SE over %zu trials (each its own pool and test set)", T);
    double x[MAX_N], y[MAX_N], u[MAX_N];
    for (size_t i = 0; i < nn; i++) {
        double m, uu;
        const size_t k = lm__exp_mean_u(T, ratio[i], &m, &uu);
        if (k != T)
            m = uu = LM_NAN;
        x[i] = (double) d->n[i];
        lm__exp_mean_u(T, abs_[i], &y[i], &u[i]);
        snprintf(name, sizeof name, "FMNIST NTK-KRR test MSE n=%zu", d->n[i]);
        snprintf(pred_s, sizeof pred_s,
                 "test MSE = eigenframework's %.5g from the NTK spectrum of %zu FMNIST-196 images "
                 "(Gram / %zu, %zu modes), ridge 0; empirical / predicted = 1",
                 pred[i], d->spec, d->spec, m_pos);
        snprintf(det, sizeof det,
                 "empirical test MSE %.4g +- %.2g (parity target +-1, %zu test images of t10k per "
                 "trial)",
                 y[i], u[i], d->test);
        lm_exp_judge(ctx, &(lm_claim_spec){
                              .name = name,
                              .predicted = pred_s,
                              .predicted_value = 1.0,
                              .measured = m,
                              .uncertainty = uu,
                              .uncertainty_from = from,
                              .n_seeds = T,
                              .lo = 0.9,
                              .hi = 1.1,
                              .tolerance = "empirical / predicted in [0.90, 1.10]",
                              .tolerance_value = 0.1,
                              .reason = "science.md §8(c), uncalibrated: 10 % kept as written",
                              .detail = det,
                              .n_runs = nr,
                              .runs = runs,
                          });
    }
    lm__exp_fig_series fs = {"NTK-KRR on FMNIST-196 (trial means +- 2 SE)", nn, x, y,   u,
                             "eigenframework from the NTK spectrum",        nn, x, pred};
    char title[160];
    snprintf(title, sizeof title,
             "FMNIST-196 parity, analytic NTK of a 2-layer ReLU net, ridge 0: KRR against the "
             "eigenframework (spectrum of %zu images)",
             d->spec);
    return lm__exp_figure_law(ctx, "learning-curves-fmnist-ntk", title, "training samples n",
                              "test MSE", 1, 1, 1, &fs, err);
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    const design_a a = design_a_for(ctx->quick);
    const design_b b = design_b_for(ctx->quick);
    LM_TRY(analyse_a(ctx, &a, 0, err));
    return analyse_b(ctx, &b, a.trials, err);
}

const lm_experiment lm__exp_learning_curves = {
    .name = "learning-curves",
    .summary = "KRR learning curves (power-law features; the NTK on FMNIST) against the "
               "eigenframework's prediction",
    .quick = "power law M = 1000, n = 50..200, 150 trials; FMNIST spectrum of 1000 images, n = "
             "200, 400, 6 trials (full: M = 2000, n = 25..800, 200 trials; 5000 images, n = "
             "100..2000, 20 trials)",
    .plan = plan,
    .analyse = analyse,
};
