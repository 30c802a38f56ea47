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
/* strand 5, universality: representations (science.md §9) */
extern const lm_experiment lm__exp_cka_invariance;
extern const lm_experiment lm__exp_cka_seeds;
extern const lm_experiment lm__exp_cka_width;
extern const lm_experiment lm__exp_knn_alignment;
extern const lm_experiment lm__exp_four_layers;
extern const lm_experiment lm__exp_neural_collapse;
extern const lm_experiment lm__exp_weight_spectra;
extern const lm_experiment lm__exp_grokking;
extern const lm_experiment lm__exp_eos_cnn;
extern const lm_experiment lm__exp_cka_architectures;
extern const lm_experiment lm__exp_grokking_gpt;
extern const lm_experiment lm__exp_eos_gpt;
extern const lm_experiment lm__exp_mup_coordcheck_gpt;
extern const lm_experiment lm__exp_mup_transfer_gpt;

/* The muP analyses (mup_analysis.c; science.md §5), shared by the MLP and transformer versions
 * of mup-coordcheck and mup-transfer: each experiment describes its sweep and plans its runs in
 * the order the index function gives (SP is p = 0, muP p = 1).
 *
 * A coordinate check: SP and muP runs at widths width[0..n_w) (the slopes fit [fit_lo..n_w)),
 * seeds 0..n_s-1, each recording act_delta_rms.<metric[l]> (the features observer) at steps
 * 1..LM__CC_STEPS for the analysed layers l = 0..n_layer-1, of which the last is the output
 * (the logits) and the others the hidden layers; the hidden-layer claim covers steps
 * hidden_t0 + 1 .. LM__CC_STEPS (0: every step; 1 with muP's zero readout, under which no
 * gradient reaches the hidden layers at step 1, so h_1 = h_0 exactly at every width). Its three
 * claims, and a figure fig_name. */
#define LM__CC_MAX_W 6
#define LM__CC_MAX_S 4
#define LM__CC_MAX_L 10
#define LM__CC_STEPS 5
typedef struct lm__exp_cc {
    const char *fig_name, *fig_title;
    const char *width_name; /* "n", "d_model": in the details, the predictions and the axis */
    size_t n_w, fit_lo, n_s;
    size_t width[LM__CC_MAX_W];
    size_t hidden_t0;
    size_t n_layer;
    size_t metric[LM__CC_MAX_L];
    const char *lname[LM__CC_MAX_L];
    double sp_slope[LM__CC_MAX_L]; /* the SP law line the figure draws beside each layer */
} lm__exp_cc;
/* Plan order: parameterization, seed, width. */
size_t lm__exp_cc_index(const lm__exp_cc *s, size_t p, size_t r, size_t w);
lm_status lm__exp_cc_analyse(lm_exp_ctx *ctx, const lm__exp_cc *s, lm_err *err);

/* A learning-rate transfer sweep: SP and muP runs at widths width[0..n_w) (base = width[0]),
 * each on its grid log2lr[p][0..n_lr) of Adam rates, seeds 0..n_s-1, `steps` steps, scored by
 * the mean train_loss recorded in the last `window` steps. Its three claims, two reported
 * drifts, and figures <fig_prefix>-eta, <fig_prefix>-sp, <fig_prefix>-mup. */
#define LM__TR_MAX_W  5
#define LM__TR_MAX_LR 8
#define LM__TR_MAX_S  4
typedef struct lm__exp_tr {
    const char *fig_prefix;
    const char *width_name;
    size_t n_w, n_lr, n_s, steps, window, base;
    size_t width[LM__TR_MAX_W];
    double log2lr[2][LM__TR_MAX_LR];
} lm__exp_tr;
/* Plan order: seed, parameterization, width, rate. */
size_t lm__exp_tr_index(const lm__exp_tr *s, size_t p, size_t w, size_t k, size_t r);
lm_status lm__exp_tr_analyse(lm_exp_ctx *ctx, const lm__exp_tr *s, lm_err *err);

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

/* The pieces of the pool that the MPI pool (pool_mpi.c) shares (pool.c).
 *
 * Data loaded once for the runs that have the same (the canonical "data" object plus the seed
 * where the data depend on it): lm__exp_shared_load loads json's (NULL: none; never fails, a
 * failure leaves train NULL and each run loads its own); lm__exp_shared_fits says whether json's
 * runs can use sh. */
typedef struct lm__exp_shared {
    char key[8192]; /* the data key of the loaded config ("" when nothing is shared) */
    lm_dataset *train, *test;
    lm_dataset_f32 *train32, *test32; /* their float32 copies when the first run is float32 */
} lm__exp_shared;
lm__exp_shared *lm__exp_shared_load(const char *json);
int lm__exp_shared_fits(const lm__exp_shared *sh, const char *json);
void lm__exp_shared_free(lm__exp_shared *sh);

/* Trains planned config json (canonical JSON) into store s with `threads` BLAS threads, using
 * sh's data when they fit (sh may be NULL). Returns the run id in s (-1: not recorded). When the
 * run finished, out holds its model and final parameters (the caller saves them; free with
 * lm__exp_trained_clear), else out is empty. */
typedef struct lm__exp_trained {
    int finished;
    lm_mlp *m;
    double *theta; /* [m->n_params] */
} lm__exp_trained;
int64_t lm__exp_train_one(lm_store *s, const char *json, int threads, const lm__exp_shared *sh,
                          volatile int *stop, lm__exp_trained *out);
void lm__exp_trained_clear(lm__exp_trained *t);

/* Labels ctx's runs, hashes every planned config into hashes[i], reuses the finished runs
 * (ctx->run, res->n_reused) and lists the rest in todo[0..*n_todo): the first step of both pools
 * (pool.c). */
lm_status lm__exp_plan_todo(lm_store *s, const char *dir, const lm_exp_plan *plan, lm_exp_ctx *ctx,
                            lm_exp_result *res, char (*hashes)[65], size_t *todo, size_t *n_todo,
                            lm_err *err);
/* The run an experiment can reuse for config hash `hash`: the newest finished one whose
 * checkpoint is in dir, else the newest diverged one; *id = -1 when there is none. */
lm_status lm__exp_find_reusable(lm_store *s, const char *dir, const char *hash, int64_t *id,
                                lm_err *err);
/* Picks the next run to train among todo[*next..n_todo), taking its run lock and reusing runs
 * that another invocation finished meanwhile (pool.c has the details). 1: a run at
 * todo[*next]; 0: every remaining run is held by another live process (or none is left). */
int lm__exp_pick_next(lm_store *s, const char *dir, char (*hashes)[65], size_t *todo, size_t *next,
                      size_t n_todo, lm_exp_ctx *ctx, lm_exp_result *res, size_t *done,
                      const lm_exp_opts *opts, const char *name);

/* Trains (or reuses) every run of plan over MPI ranks (pool_mpi.c; `lmech exp --mpi`), on rank
 * 0, the database's only writer: ranks 1..R-1 train the runs into private in-memory stores and
 * send them back (lm_exp_mpi_serve); with R = 1 rank 0 trains them itself the same way. Fills
 * ctx and res as lm__exp_pool_train does. */
lm_status lm__exp_pool_mpi_train(const char *name, const lm_exp_opts *opts, lm_store *s,
                                 const char *dir, const lm_exp_plan *plan, lm_exp_ctx *ctx,
                                 lm_exp_result *res, lm_err *err);

/* Runs e's analysis on ctx (analyse_with or analyse). Its statistics helpers (below) report a
 * failed allocation as a NaN statistic, which a claim would record as "inconclusive"; so when
 * any lm_malloc failed during the analysis, its claims are discarded (n_claims = 0) and the
 * result is LM_ENOMEM: an out-of-memory never passes for missing data (claim.c). */
lm_status lm__exp_analyse(const lm_experiment *e, lm_exp_ctx *ctx, lm_err *err);

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

/* What one run's sharpness and loss series show about the edge of stability (exp_eos.c;
 * science.md §4), NaN where it could not be measured; thr = 2/eta. */
typedef struct lm__eos_seed {
    double reach;   /* max over steps > 100 of S / thr */
    double ratio;   /* S(t*) / S_min */
    double band;    /* fraction of measurements from t* on with S / thr in [0.9, 1.1] */
    double median;  /* their median S / thr */
    double rises;   /* fraction of loss intervals from t* on that rise */
    double fall;    /* L_end / L(t*) */
    double ctl_max; /* max over all measurements of S / thr (the control's measure) */
    int64_t tstar, tc, tmin;
    double s_star, s_min;
    size_t n_after;
} lm__eos_seed;

/* The per-run measures of the sharpness series (st, s: ns records) and the loss series (lt, l:
 * nl records) at GD rate eta into *o (exp_eos.c; the definitions of t*, t_c and S_min are in its
 * header comment). scratch holds ns doubles. Shared by eos and four-layers: one definition of
 * "hovers at 2/eta". */
void lm__exp_eos_measure(double eta, size_t ns, const int64_t *st, const double *s, size_t nl,
                         const int64_t *lt, const double *l, double *scratch, lm__eos_seed *o);
/* The EoS claims of science.md §4 on runs labelled "eta=<rate> seed=<s>" and
 * "control eta=<rate> seed=<s>" (eos_analysis.c), and the seed-mean sharpness figure. */
lm_status lm__exp_eos_analyse(lm_exp_ctx *ctx, const char *fig_name, const char *fig_title,
                              lm_err *err);

/* The edge-of-stability designs of eos-cnn and eos-gpt: n_train examples (data.train_size),
 * n_seeds seeds at each of n_rates learning rates (the last is the control), steps per rate. */
typedef struct lm__eos_design {
    size_t n_train, n_rates, n_seeds;
    const char *rate[2];
    int steps[2];
} lm__eos_design;
/* Plans d's runs of the config base, labelled "eta=R seed=S" ("control eta=..." for the last
 * rate) (eos_analysis.c). */
lm_status lm__exp_eos_plan(const lm__eos_design *d, const char *base, lm_exp_plan *p, lm_err *err);

/* The grokking claims of science.md §11 (grok_analysis.c) on runs grouped by weight decay (> 0:
 * the arm, 0: the control), recording train_acc, test_acc, param_norm and fourier_sparsity; the
 * seed-0 figure fig_name (accuracy, norm, sparsity and the control's test accuracy). Shared by
 * grokking and grokking-gpt. */
lm_status lm__exp_grok_analyse(lm_exp_ctx *ctx, const char *fig_name, const char *fig_title,
                               lm_err *err);

/* Text for a gnuplot single-quoted string in buf [n] (figures.c): a quote is doubled ('' is
 * gnuplot's escape), a line break (which would end the command) becomes a space; returns buf. */
const char *lm__exp_gp_text(const char *s, char *buf, size_t n);

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

/* A figure of np stacked panels sharing the x axis [x0, x1] (figures_panels.c): each panel a
 * left axis and an optional right one (y2), linear or log, its series lines, dashed lines or
 * points (NaN points are gaps), its key outside the data. A panel with nothing plottable on its
 * left axis shows `note` (or "not recorded") instead. Written like lm__exp_figure_lines
 * (<name>.tsv with one index block per series, <name>.gp rendering <name>.png and .svg). */
enum { LM__PANEL_LINE, LM__PANEL_DASHED, LM__PANEL_POINTS };
typedef struct lm__exp_panel_series {
    const char *label;
    size_t n;
    const double *x, *y;
    int y2;    /* on the right axis */
    int style; /* LM__PANEL_LINE, _DASHED, _POINTS */
    int color; /* palette index; -1: the series' index in its panel */
} lm__exp_panel_series;
typedef struct lm__exp_panel {
    const char *title; /* shown inside the panel, top left */
    const char *ylabel, *y2label;
    int logy, logy2;
    double ymin, ymax; /* NaN: autoscale */
    const char *note;  /* a remark in the panel's corner (NULL: none) */
    size_t ns;
    const lm__exp_panel_series *s;
} lm__exp_panel;
lm_status lm__exp_figure_panels(const lm_exp_ctx *ctx, const char *name, const char *title,
                                const char *xlabel, double x0, double x1, size_t np,
                                const lm__exp_panel *p, lm_err *err);

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

/* ---------------------------------------------------------------- representations (§9)
 * (repr_runs.c, figures_matrix.c; exp_cka_invariance.c, exp_cka_seeds.c, exp_cka_width.c,
 * exp_knn_alignment.c) */

/* The similarity run's sizes (science.md §9): full and quick training-set sizes and epochs. */
#define LM__SIM_TRAIN        2000
#define LM__SIM_EPOCHS       300
#define LM__SIM_QUICK_TRAIN  1000
#define LM__SIM_QUICK_EPOCHS 40
/* cka-seeds and knn-alignment: seeds 2j and 2j + 1 form independent pair j (LM__SIM_SEEDS / 2
 * pairs), at hidden width LM__SIM_WIDTH (quick: LM__SIM_QUICK_WIDTH) */
#define LM__SIM_SEEDS       10
#define LM__SIM_WIDTH       256
#define LM__SIM_QUICK_WIDTH 128

/* Adds the similarity run of science.md §9 (196-w-w-w-10 ReLU, FMNIST-196, SGD momentum 0.9,
 * lr 0.05, weight decay 5e-4, batch 128, CE; the first 2000 training and 1000 test images, 300
 * epochs; quick: 1000 images, 40 epochs) at hidden width `width` and `seed`, labelled
 * "width=W seed=S". Identical configs in several experiments are trained once per database. */
lm_status lm__exp_sim_plan_add(lm_exp_plan *p, int quick, size_t width, size_t seed, lm_err *err);
/* The CNN trained as the similarity run (same data, loss, optimiser, epochs), label
 * "cnn seed=<s>"; its representation layers LM__SIM_CNN_LAYERS are the two conv blocks' outputs,
 * the penultimate layer and the logits (repr_runs.c). */
lm_status lm__exp_sim_plan_add_cnn(lm_exp_plan *p, int quick, size_t seed, lm_err *err);
#define LM__SIM_CNN_LAYERS                                                                         \
    { 3, 6, 9, 10 }
/* The seed-pair design cka-seeds and knn-alignment share (so their runs are trained once): seeds
 * 0 .. 2 * pairs - 1 at the (quick) similarity width; pair i is seeds (2i, 2i + 1). */
typedef struct lm__exp_sim_pairs {
    size_t width, pairs;
} lm__exp_sim_pairs;
lm__exp_sim_pairs lm__exp_sim_pairs_for(int quick);
lm_status lm__exp_sim_plan_pairs(int quick, lm_exp_plan *p, lm_err *err);

/* A run's representations of its test inputs: h[l] [n, width[l]] for l = 0 (the inputs) .. L
 * (the outputs), by lm_mlp_features at the final checkpoint, or at theta_0 (lm_train_init_params)
 * when at_init; accuracy = the test accuracy of those parameters (NaN without class labels). */
typedef struct lm__exp_reps {
    size_t n, L;
    size_t width[LM_MAX_LAYERS + 1];
    double *h[LM_MAX_LAYERS + 1];
    double accuracy;
} lm__exp_reps;
/* Fills *r for run (it must have a test set of >= 4 inputs); on failure *r is empty. */
lm_status lm__exp_reps_load(const lm_exp_ctx *ctx, int64_t run, int at_init, lm__exp_reps *r,
                            lm_err *err);
void lm__exp_reps_free(lm__exp_reps *r);

/* A heatmap figure of a rows x cols matrix v (row-major), drawn with gnuplot's "with image" and
 * each cell's value printed on it; row_names / col_names label the ticks (NULL: 1, 2, ...); the
 * colour range is [vmin, vmax], or, when vmin >= vmax (e.g. NaN), [the minimum rounded down to a
 * tenth, 1] (CKA-like values).
 * Written like lm__exp_figure_lines (<name>.tsv, <name>.gp, a "figure" artifact). */
lm_status lm__exp_figure_matrix(const lm_exp_ctx *ctx, const char *name, const char *title,
                                const char *xlabel, const char *ylabel, size_t rows, size_t cols,
                                const char *const *row_names, const char *const *col_names,
                                const double *v, double vmin, double vmax, lm_err *err);

#endif
