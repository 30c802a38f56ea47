/*
 * exp_ntk_convergence.c: the empirical kernels of a finite network converge to the infinite-width
 * NNGP and NTK (science.md §2; Jacot et al. 2018, Lee et al. 2019, Hanin & Nica 2019). For an MLP
 * in the NTK parameterisation with 3 hidden layers of width n, at initialisation, the relative
 * Frobenius error ||Theta_n - Theta||_F / ||Theta||_F of the empirical NTK against
 * lm_kernel_analytic falls like n^{-1/2}; so does the empirical NNGP's.
 *
 * Setup (science.md §2): widths [49, n, n, n, 1], NTP; ReLU (sw2 = 2, sb2 = 0.05) and erf
 * (sw2 = 1.5, sb2 = 0.05); the first 32 Fashion-MNIST training images pooled 4x4 (49 inputs)
 * and rescaled to ||x||^2 = d; one output (parity targets: only the output count matters here).
 * Full: n = 64 .. 2048 (powers of 2), 16 seeds; quick: the same widths with 3 seeds (science.md
 * §0's minimum for a width law). Each slope carries u from a bootstrap over seeds
 * (lm__exp_slope_u), each n = 2048 error 2 SE over seeds. 16 seeds at full size: the ReLU
 * kernels' per-seed errors scatter like |Z| (one dominant kernel mode fluctuates), and 4 seeds
 * left the ReLU claims straddling their edges; the power estimate asked for ~12.
 *
 * The runs: the kernels are properties of the initialisation, so nothing is trained. Each run is
 * one full-batch step at learning rate 0 (the smallest legal training: steps >= 1, lr >= 0), so
 * its saved checkpoint IS the initialisation theta_0 = lm_mlp_init(seed) -- analyse checks that
 * bit for bit and calls a run whose checkpoint differs inconclusive. That keeps the usual
 * contract (configs and seeds recorded in the store, claims linked to their runs, analyse reads
 * only the store) at the price of a checkpoint per run (68 MB at n = 2048) and the weight-change
 * observer's SVDs at steps 0 and 1 (a few seconds per run at n = 2048).
 *
 * The empirical NNGP is the readout layer's term of lm_kernel_empirical's layer_ntk: with one
 * output, backpropagated signal D_L = 1 and NTP's readout multipliers w_scale = alpha
 * sqrt(sw2 / n), b_scale = alpha sqrt(sb2) (alpha = output_multiplier = 1 here), that term is
 *     sw2 * a_L(x) . a_L(x') / n + sb2,
 * with a_L the last hidden layer's activations: exactly the finite-width estimate of
 * Sigma^{L+1} = sw2 E[phi(u) phi(v)] + sb2 (the bias term included), which lm_kernel_analytic
 * returns as `nngp` for depth = 3. (With alpha != 1 both sides would carry alpha^2; this
 * experiment keeps alpha = 1.)
 *
 * Workload (full): 48 runs (2 activations x 6 widths x 4 seeds), dominated by the n = 2048 runs'
 * initialisation, checkpoint and SVDs; the analysis is one empirical NTK of 32 inputs per run.
 */
#include "exp/internal.h"

#include "lmech/kernel.h"

#include <stdio.h>
#include <string.h>

static const char *BASE =
    "{\"name\": \"ntk-convergence\", \"seed\": 0,"
    " \"data\": {\"source\": \"fashion-mnist\", \"train_size\": 32, \"test_size\": 0,"
    "  \"pool\": 4, \"normalize\": \"sphere\", \"targets\": \"parity\"},"
    " \"model\": {\"widths\": [49, 64, 64, 64, 1], \"activation\": \"relu\", \"bias\": true,"
    "  \"parameterization\": \"ntp\", \"sw2\": 2, \"sb2\": 0.05},"
    " \"loss\": \"mse\", \"optimizer\": {\"name\": \"sgd\", \"lr\": 0},"
    " \"batch_size\": 0, \"steps\": 1, \"eval_every\": 1, \"threads\": 1}";

#define DEPTH 3 /* hidden layers (science.md §2) */
#define N_ACT 2
#define MAX_W 8
#define MAX_S 16

static const char *const ACT[N_ACT] = {"relu", "erf"};
static const double ACT_SW2[N_ACT] = {2.0, 1.5};
#define SB2 0.05

/* A sweep's design: widths w0 << i for i < nw, seeds 0 .. ns-1, and the parameterisation (the
 * analytic kernels are NTP's; tests plan another to show the claims can fail). Full: 64 .. 2048,
 * 4 seeds; quick: the same 6 widths (5 octaves, 32x) with 3 seeds, science.md §0's minimum for a
 * width law. */
typedef struct design {
    size_t w0, nw, ns;
    const char *param;
} design;

static design design_for(int quick) {
    return (design){64, 6, quick ? 3 : 16, "ntp"};
}

static size_t width_at(const design *d, size_t i) {
    return d->w0 << i;
}

static lm_status plan_design(const design *d, lm_exp_plan *p, lm_err *err) {
    char label[96], sw[64], sa[48], s2[48], sd[32], sp[48];
    snprintf(sp, sizeof sp, "model.parameterization=\"%s\"", d->param);
    for (size_t a = 0; a < N_ACT; a++)
        for (size_t i = 0; i < d->nw; i++)
            for (size_t s = 0; s < d->ns; s++) {
                const size_t n = width_at(d, i);
                snprintf(sw, sizeof sw, "model.widths=[49, %zu, %zu, %zu, 1]", n, n, n);
                snprintf(sa, sizeof sa, "model.activation=\"%s\"", ACT[a]);
                snprintf(s2, sizeof s2, "model.sw2=%g", ACT_SW2[a]);
                snprintf(sd, sizeof sd, "seed=%zu", s);
                snprintf(label, sizeof label, "%s n=%zu seed=%zu", ACT[a], n, s);
                const char *sets[] = {sw, sa, s2, sd, sp};
                LM_TRY(lm_exp_plan_add(p, label, BASE, 5, sets, err));
            }
    return LM_OK;
}

static lm_status plan(int quick, lm_exp_plan *p, lm_err *err) {
    const design d = design_for(quick);
    return plan_design(&d, p, err);
}

/* ---------------------------------------------------------------- analysis */

static double rel_fro(const double *a, const double *b, size_t cnt) {
    double d = 0, s = 0;
    for (size_t i = 0; i < cnt; i++) {
        d += (a[i] - b[i]) * (a[i] - b[i]);
        s += b[i] * b[i];
    }
    return s > 0 ? sqrt(d / s) : LM_NAN;
}

/* The errors of one run: NTK and NNGP against the analytic kernels; NaN when the run failed or
 * its checkpoint is not the initialisation. */
static lm_status run_errors(const lm_exp_ctx *ctx, int64_t run, double *e_ntk, double *e_nngp,
                            lm_err *err) {
    *e_ntk = *e_nngp = LM_NAN;
    if (run <= 0)
        return LM_OK;
    lm__exp_net r;
    LM_TRY(lm__exp_net_open(ctx, run, 0, &r, err));
    const lm_mlp *m = r.m;
    const lm_dataset *train = r.train;
    const size_t n = train->n, L = m->n_layers;
    lm_status st = LM_OK;
    double *theta0 = lm_malloc(m->n_params * sizeof *theta0);
    double *k = lm_malloc(n * n * sizeof *k), *kl = lm_malloc(L * n * n * sizeof *kl);
    double *an = lm_malloc(n * n * sizeof *an), *ak = lm_malloc(n * n * sizeof *ak);
    if (!theta0 || !k || !kl || !an || !ak)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                        "ntk-convergence: out of memory for run %lld's kernels", (long long) run);
    if (st == LM_OK)
        st = lm_mlp_init(m, r.cfg->seed, theta0, err);
    /* the analytic kernels describe the model.widths chain only: a run whose config was given
     * model.layers is refused by name rather than compared with a wrong number */
    if (st == LM_OK)
        st = lm_mlp_require_chain(m, "the analytic NTK", err);
    const int at_init = st == LM_OK && memcmp(r.theta, theta0, m->n_params * sizeof *theta0) == 0;
    if (st == LM_OK && at_init)
        st = lm_kernel_empirical(m, r.theta, train->x, n, NULL, 0, k, kl, err);
    if (st == LM_OK && at_init)
        st = lm_kernel_analytic(train->x, n, train->d, m->n_layers - 1, r.cfg->model.act,
                                r.cfg->model.sw2, r.cfg->model.sb2, an, ak, err);
    if (st == LM_OK && at_init) {
        *e_ntk = rel_fro(k, ak, n * n);
        *e_nngp = rel_fro(kl + (L - 1) * n * n, an, n * n);
    }
    lm_free(theta0);
    lm_free(k);
    lm_free(kl);
    lm_free(an);
    lm_free(ak);
    lm__exp_net_free(&r);
    return st;
}

/* One kernel of one activation: e[s][i], the error of seed s at width i (NaN: not measured). */
typedef struct series {
    const char *act, *kname;
    double e[MAX_S][MAX_W];
    double mean[MAX_W], u[MAX_W]; /* over seeds, u = 2 SE (NaN where a seed is missing) */
    double law[MAX_W];            /* the n^-1/2 line through the means */
    double slope, slope_u;
} series;

/* Judges the slope and the widest width's error of one series; runs are the claims' runs. */
static void judge_series(lm_exp_ctx *ctx, const design *d, series *sr, const int64_t *runs,
                         size_t n_runs) {
    const size_t nw = d->nw, ns = d->ns;
    double lx[MAX_W] = {0}, ly[MAX_S * MAX_W] = {0}, col[MAX_S] = {0};
    int complete = 1;
    for (size_t i = 0; i < nw; i++) {
        lx[i] = log((double) width_at(d, i));
        for (size_t s = 0; s < ns; s++) {
            col[s] = sr->e[s][i];
            ly[s * nw + i] = log(sr->e[s][i]);
        }
        /* a width with a missing seed would bias the mean: the claims are inconclusive */
        const size_t k = lm__exp_mean_u(ns, col, &sr->mean[i], &sr->u[i]);
        if (k != ns)
            sr->mean[i] = sr->u[i] = LM_NAN;
        complete &= isfinite(sr->mean[i]);
    }
    sr->slope = sr->slope_u = LM_NAN;
    if (complete)
        lm__exp_slope_u(nw, lx, ns, ly, 0x5e1f5u, &sr->slope, &sr->slope_u);
    double wx[MAX_W];
    for (size_t i = 0; i < nw; i++)
        wx[i] = (double) width_at(d, i);
    lm__exp_law_line(nw, wx, sr->mean, -0.5, sr->law);

    char name[96], pred[192], det[400], from[96];
    int k = snprintf(det, sizeof det, "seed-mean error:");
    for (size_t i = 0; i < nw && k > 0 && (size_t) k < sizeof det; i++)
        k += snprintf(det + k, sizeof det - (size_t) k, " n=%zu %.4f", width_at(d, i), sr->mean[i]);
    snprintf(name, sizeof name, "%s %s error slope", sr->act, sr->kname);
    snprintf(pred, sizeof pred,
             "log ||K_n - K||_F / ||K||_F against log n has slope -1/2 (%s %s, NTP, 3 hidden "
             "layers)",
             sr->act, sr->kname);
    snprintf(from, sizeof from, "bootstrap 95 %% over %zu seeds of the seed-mean log-log slope",
             ns);
    lm_exp_judge(ctx, &(lm_claim_spec){
                          .name = name,
                          .predicted = pred,
                          .predicted_value = -0.5,
                          .measured = sr->slope,
                          .uncertainty = sr->slope_u,
                          .uncertainty_from = from,
                          .n_seeds = ns,
                          .lo = -0.65,
                          .hi = -0.35,
                          .tolerance = "slope in [-0.65, -0.35]",
                          .tolerance_value = 0.15,
                          .reason = "science.md §2 [C]: finite-width fluctuations of the kernels "
                                    "are O(n^{-1/2}) (Hanin & Nica 2019); +-0.15 admits the "
                                    "depth/width correction of the constant and seed noise "
                                    "(measured -0.55 ReLU, -0.43 erf)",
                          .detail = det,
                          .n_runs = n_runs,
                          .runs = runs,
                      });
    /* the error at the widest width (2048 in both variants): the seed mean +- 2 SE */
    const size_t wmax = width_at(d, nw - 1);
    snprintf(name, sizeof name, "%s %s error at n=%zu", sr->act, sr->kname, wmax);
    snprintf(pred, sizeof pred, "relative Frobenius error <= 0.10 at width %zu", wmax);
    snprintf(from, sizeof from, "2 SE over %zu seeds", ns);
    k = snprintf(det, sizeof det, "per seed at n = %zu:", wmax);
    for (size_t s = 0; s < ns && k > 0 && (size_t) k < sizeof det; s++)
        k += snprintf(det + k, sizeof det - (size_t) k, " %.4f", sr->e[s][nw - 1]);
    lm_exp_judge(ctx, &(lm_claim_spec){
                          .name = name,
                          .predicted = pred,
                          .predicted_value = 0.10,
                          .measured = sr->mean[nw - 1],
                          .uncertainty = sr->u[nw - 1],
                          .uncertainty_from = from,
                          .n_seeds = ns,
                          .lo = -LM_INF,
                          .hi = 0.10,
                          .tolerance = "error <= 0.10",
                          .tolerance_value = 0.10,
                          .reason = "science.md §2 [C]: measured 0.061 (ReLU) and 0.065 (erf) at "
                                    "n = 2048 with 4 seeds; 0.10 leaves room for seed noise while "
                                    "still demanding convergence",
                          .detail = det,
                          .n_runs = n_runs,
                          .runs = runs,
                      });
}

/* The claims of a sweep planned by plan_design(d) (runs in plan order). */
static lm_status analyse_design(lm_exp_ctx *ctx, const design *d, lm_err *err) {
    const size_t nw = d->nw, ns = d->ns;
    if (nw > MAX_W || ns > MAX_S)
        LM_FAIL(err, LM_EINVAL, "ntk-convergence: %zu widths x %zu seeds exceed %d x %d", nw, ns,
                MAX_W, MAX_S);
    series sr[2 * N_ACT];
    for (size_t a = 0; a < N_ACT; a++) {
        series *sk = &sr[2 * a], *sg = &sr[2 * a + 1];
        *sk = (series){.act = ACT[a], .kname = "NTK"};
        *sg = (series){.act = ACT[a], .kname = "NNGP"};
        int64_t runs[MAX_W * MAX_S];
        size_t nr = 0;
        for (size_t i = 0; i < nw; i++)
            for (size_t s = 0; s < ns; s++) {
                const size_t r = (a * nw + i) * ns + s;
                const int64_t run = r < ctx->n_runs ? ctx->run[r] : -1;
                if (run > 0)
                    runs[nr++] = run;
                LM_TRY(run_errors(ctx, run, &sk->e[s][i], &sg->e[s][i], err));
            }
        judge_series(ctx, d, sk, runs, nr);
        judge_series(ctx, d, sg, runs, nr);
    }
    /* the figure: each series' seed means with 2 SE bars, and the n^-1/2 law through them */
    double x[MAX_W];
    for (size_t i = 0; i < nw; i++)
        x[i] = (double) width_at(d, i);
    char labels[2 * N_ACT][48], plabels[2 * N_ACT][48];
    lm__exp_fig_series fs[2 * N_ACT];
    for (size_t q = 0; q < 2 * N_ACT; q++) {
        snprintf(labels[q], sizeof labels[q], "%s %s", sr[q].act, sr[q].kname);
        snprintf(plabels[q], sizeof plabels[q], "n^-1/2 (%s %s)", sr[q].act, sr[q].kname);
        fs[q] = (lm__exp_fig_series){
            .label = labels[q],
            .n = nw,
            .x = x,
            .y = sr[q].mean,
            .u = sr[q].u,
            .pred_label = plabels[q],
            .n_pred = nw,
            .px = x,
            .py = sr[q].law,
        };
    }
    return lm__exp_figure_law(ctx, "kernel-error-vs-width",
                              "Empirical kernels against the infinite-width limit (NTP, 3 hidden "
                              "layers, 32 FMNIST inputs): seed means +- 2 SE, n^-1/2 through each",
                              "width n", "relative Frobenius error", 1, 1, 2 * N_ACT, fs, err);
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    const design d = design_for(ctx->quick);
    return analyse_design(ctx, &d, err);
}

const lm_experiment lm__exp_ntk_convergence = {
    .name = "ntk-convergence",
    .summary = "empirical NTK and NNGP at init converge to the analytic kernels like n^{-1/2}",
    .quick = "widths 64..2048 with 3 seeds (full: 4 seeds)",
    .plan = plan,
    .analyse = analyse,
};
