/* Internal to src/exp: the experiments the registry lists, and figure helpers. */
#ifndef LM_EXP_INTERNAL_H
#define LM_EXP_INTERNAL_H

#include "lmech/exp.h"

#include "lmech/data.h"
#include "lmech/model.h"

#include <math.h>

extern const lm_experiment lm__exp_curvature_check;
extern const lm_experiment lm__exp_eos;
extern const lm_experiment lm__exp_catapult;
extern const lm_experiment lm__exp_aeos;
extern const lm_experiment lm__exp_central_flow;
extern const lm_experiment lm__exp_batch_size;
extern const lm_experiment lm__exp_ntk_dynamics;
extern const lm_experiment lm__exp_mup_coordcheck;
extern const lm_experiment lm__exp_mup_transfer;
extern const lm_experiment lm__exp_ntk_convergence;
extern const lm_experiment lm__exp_lazy_rich;
extern const lm_experiment lm__exp_matrix_completion;
extern const lm_experiment lm__exp_deep_linear_modes;
extern const lm_experiment lm__exp_deep_linear_depth;
extern const lm_experiment lm__exp_saddle_to_saddle;
extern const lm_experiment lm__exp_spectral_bias;
extern const lm_experiment lm__exp_learning_curves;
extern const lm_experiment lm__exp_fit_recovery;
extern const lm_experiment lm__exp_scaling_exponents;
extern const lm_experiment lm__exp_exponent_prediction;
extern const lm_experiment lm__exp_weight_spectra;
extern const lm_experiment lm__exp_grokking;

/* weight-spectra's pieces (exp_weight_spectra.c), exposed for its negative controls: a random
 * n x m matrix (Gaussian, or heavy = 1: symmetric Pareto entries of tail index 1.5); part (a)'s
 * three Marchenko-Pastur claims over `draws` such matrices; part (b)'s claims per hidden layer
 * from per-seed spectra ([ns][nl] row-major: trained alpha and spikes; [n0][nl]: initial alpha
 * over n0 initialisations). */
void lm__ws_random_matrix(int heavy, size_t n, size_t m, uint64_t seed, uint64_t stream, double *w);
lm_status lm__ws_mp_claims(lm_exp_ctx *ctx, int heavy, size_t n, size_t m, size_t draws,
                           uint64_t seed, lm_err *err);
void lm__ws_trained_claims(lm_exp_ctx *ctx, size_t ns, size_t n0, size_t nl, const double *alpha_t,
                           const double *alpha_0, const double *spikes_t, const int64_t *runs);

/* fit-recovery's design (exp_fit_recovery.c), exposed for its negative controls: nN x nD points
 * on log10 ranges lN, lD, reps replicates, boot bootstrap resamples, log-normal noise, an offset
 * shared by each model size's runs, and the exponents the data are drawn with. */
typedef struct lm__fit_design {
    size_t nN, nD;
    double lN[2], lD[2];
    size_t reps, boot;
    double noise, shared, alpha, beta;
} lm__fit_design;
lm__fit_design lm__fit_recovery_design(int quick);
lm_status lm__fit_recovery_analyse(lm_exp_ctx *ctx, const lm__fit_design *d, lm_err *err);

/* Least-squares line y = a + b x over the pairs where both are finite (stats.c): *slope = b (NaN
 * with fewer than 2 pairs or constant x), *se (optional) its standard error (NaN with fewer than
 * 3 pairs). Returns the number of pairs used. */
size_t lm__exp_fit_slope(size_t n, const double *x, const double *y, double *slope, double *se);
static inline double lm__exp_slope(size_t n, const double *x, const double *y) {
    double b;
    lm__exp_fit_slope(n, x, y, &b, NULL);
    return b;
}

/* Run `run`'s config alone, parsed from the store (runner.c; lm_exp_load_run without the
 * checkpoint): for analyses that regenerate a run's data or kernel from its config. */
lm_status lm__exp_load_config(const lm_exp_ctx *ctx, int64_t run, lm_config **cfg, lm_err *err);

/* <dir>/run-<id>.safetensors: where a run's final parameters are saved (runner.c). */
void lm__exp_checkpoint_path(const char *dir, int64_t run, char *out, size_t n);

/* Trains (or reuses) every run of plan with opts->jobs worker processes (pool.c): fills
 * ctx->run[i] with plan run i's id (-1: failed), and res's n_reused, n_failed, n_done and
 * interrupted (opts->stop). dir is the artifact directory; name is shown in progress. */
lm_status lm__exp_pool_train(const char *name, const lm_exp_opts *opts, lm_store *s,
                             const char *dir, const lm_exp_plan *plan, lm_exp_ctx *ctx,
                             lm_exp_result *res, lm_err *err);

/* Uncertainty over seeds (stats.c), each the half-width u of a 95 % interval; NaN entries are
 * left out and the count of those used is returned.
 *   mean_u    the mean with u = 2 standard errors (NaN with fewer than 2 values);
 *   median_u  the median with a percentile bootstrap over the values (LM__EXP_BOOT resamples,
 *             seeded: the same data give the same u), u = the larger distance to an end;
 *   slope_u   the least-squares slope of the seed-mean of y ([ns][nx] row-major, e.g. log
 *             observables) against x, with u from a bootstrap over seeds (ns >= 2), or 2 standard
 *             errors of the fit for one seed;
 *   bootstrap the percentile 95 % interval [lo, hi] of any statistic of n replicates: stat gets
 *             a resample as n indices; returns -1 when over 5 % of resamples give NaN. */
#define LM__EXP_BOOT 2000
/* The median of x[0..k) (k >= 1), sorting x in place (stats.c). */
double lm__exp_median_sort(double *x, size_t k);
typedef double (*lm__exp_stat_fn)(void *ud, const size_t *idx, size_t n);
size_t lm__exp_mean_u(size_t n, const double *x, double *mean, double *u);
size_t lm__exp_median_u(size_t n, const double *x, uint64_t seed, double *median, double *u);
size_t lm__exp_slope_u(size_t nx, const double *x, size_t ns, const double *y, uint64_t seed,
                       double *slope, double *u);
int lm__exp_bootstrap(size_t n, lm__exp_stat_fn stat, void *ud, uint64_t seed, double *lo,
                      double *hi);
/* The slope of log(mean y over the points sharing an x) against log(x), for n points (x_i, y_i)
 * of which several may share an x (seeds): u from a stratified bootstrap (each x's runs
 * resampled among themselves; *seeds = 1), or, when every x has one run, 2 standard errors of the
 * fit (*seeds = 0). NaN when an x's mean is not positive. Returns the number of distinct x. */
size_t lm__exp_loglog_slope_u(size_t n, const double *x, const double *y, uint64_t seed,
                              double *slope, double *u, int *seeds);

/* The largest relative deviation max_i |mean_t x[i stride + t] / ref[i] - 1| over `rows` rows of
 * cnt[i] replicates each (a measured curve against a predicted one), with u from a bootstrap of
 * the replicates stratified by row (each row's resampled among themselves; stats.c): the larger
 * distance from *dev to the ends of its percentile 95 % interval. NaN when a row's mean or ref is
 * not finite. */
void lm__exp_max_rel_dev_u(size_t rows, const size_t *cnt, size_t stride, const double *x,
                           const double *ref, uint64_t seed, double *dev, double *u);

/* A finished run read back for analysis: its config, final parameters, data and network. */
typedef struct lm__exp_net {
    lm_config *cfg;
    double *theta;            /* the run's final checkpoint [m->n_params] */
    lm_dataset *train, *test; /* test only when asked for and configured, else NULL */
    lm_mlp *m;
} lm__exp_net;

/* Fills *net for run (lm_exp_load_run, lm_data_load, lm_mlp_new); want_test: also load the test
 * set. On failure *net is left empty (all NULL) and nothing leaks. Free with lm__exp_net_free. */
lm_status lm__exp_net_open(const lm_exp_ctx *ctx, int64_t run, int want_test, lm__exp_net *net,
                           lm_err *err);
void lm__exp_net_free(lm__exp_net *net);

/* The EoS network and data (exp_eos.c), shared with exp_catapult.c. */
extern const char *lm__exp_eos_base;

/* Writes <artifact_dir>/exp-<id>/<name>.tsv (exact eigenvalue histogram and a density on a
 * grid) and <name>.gp (a gnuplot script that renders <name>.png and <name>.svg beside itself),
 * and records the script as a "figure" artifact of the invocation's first run. */
lm_status lm__exp_figure_spectrum(const lm_exp_ctx *ctx, const char *name, size_t p,
                                  const double *evals, size_t n_grid, const double *grid,
                                  const double *density, lm_err *err);

/* A line figure: data [n, ncols] row-major (column 0 is x), one line per further column named by
 * cols[1..ncols-1]; written like lm__exp_figure_spectrum. */
lm_status lm__exp_figure_lines(const lm_exp_ctx *ctx, const char *name, const char *title,
                               const char *ylabel, int logy, size_t ncols, const char *const *cols,
                               size_t n, const double *data, lm_err *err);

/* A prediction-beside-measurement figure (science.md: "shows prediction beside measurement"):
 * each series is measured points with their 95 % error bars (u may be NULL: no bars) drawn as
 * markers joined by a thin line, and its predicted law (px, py; n_pred = 0: none) as a dashed
 * line of the same colour. Written like lm__exp_figure_lines (<name>.tsv with one gnuplot index
 * block per points / prediction, <name>.gp). */
typedef struct lm__exp_fig_series {
    const char *label; /* legend of the measured points */
    size_t n;
    const double *x, *y, *u;
    const char *pred_label; /* legend of the prediction ("n^-1/2 (NTP)") */
    size_t n_pred;
    const double *px, *py;
} lm__exp_fig_series;
lm_status lm__exp_figure_law(const lm_exp_ctx *ctx, const char *name, const char *title,
                             const char *xlabel, const char *ylabel, int logx, int logy, size_t ns,
                             const lm__exp_fig_series *s, lm_err *err);

/* The predicted power law y = C x^p drawn through measured points: C is the geometric mean of
 * y / x^p over the positive finite pairs (the law fixes the slope, the data its height); py[i]
 * is the law at x[i]. */
void lm__exp_law_line(size_t n, const double *x, const double *y, double p, double *py);

/* ---------------------------------------------------------------- deep linear networks
 * (deep_linear.c; exp_deep_linear_modes.c, exp_deep_linear_depth.c, exp_saddle_to_saddle.c) */

/* One run's mode trajectories, read from the store: its config's task (s_k), GD rate, depth and
 * initial u0 = a0^N (NaN for a random init), and mode.k on the flow-time axis t = lr * step. */
typedef struct lm__exp_dln_run {
    size_t r;                    /* modes                                  */
    double s[LM_DATA_MAX_MODES]; /* data.singular_values                   */
    double lr, a0, u0, sw2;      /* eta; a0 and a0^depth (NaN: random init) */
    size_t depth;                /* linear layers N                        */
    size_t n;                    /* records                                */
    double *t;                   /* [n] flow times                         */
    double *u;                   /* [r][n]: u[k * n + i] = mode k+1 at t[i] */
} lm__exp_dln_run;

/* Fills *out for run (config from the store: linear-modes data and plain constant-rate GD, else
 * LM_EINVAL naming the run); free with lm__exp_dln_free. */
lm_status lm__exp_dln_read(const lm_exp_ctx *ctx, int64_t run, lm__exp_dln_run *out, lm_err *err);
void lm__exp_dln_free(lm__exp_dln_run *r);

/* The first time the sampled u (n records at increasing times t) reaches level, by linear
 * interpolation between the two bracketing records (NaN: never reached). *err_est (optional)
 * gets |linear - quadratic| crossing (the quadratic through three records around it), an
 * estimate of the linear interpolation's error (the record spacing when no quadratic fits). */
double lm__exp_dln_crossing(size_t n, const double *t, const double *u, double level,
                            double *err_est);

/* The Hessian's top eigenvalue at the global minimum of a balanced deep linear net on whitened
 * data, along the top mode: with u = a^N and L = (s - u)^2 / 2 per mode, H = grad u grad u^T
 * there (the residual vanishes), whose eigenvalue is N a^{2(N-1)} = N s^{2 - 2/N}. The flow
 * comparison's precondition is eta * this < 0.2 (science.md §0). */
double lm__exp_dln_lambda_max(size_t depth, double s_max);

/* A figure of run d's mode trajectories (markers, ~60 per mode) with theory [r][n] on d's record
 * times (dashed, same colour; NULL: none), u_k / s_k when normalise. */
lm_status lm__exp_dln_figure_modes(const lm_exp_ctx *ctx, const char *name, const char *title,
                                   const lm__exp_dln_run *d, const double *theory,
                                   const char *theory_label, int normalise, lm_err *err);

#endif
