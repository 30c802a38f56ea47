/*
 * lmech/fit.h: scaling-law fits (docs/fit.md).
 *
 *   chinchilla  L = E + A / N^alpha + B / D^beta   (Hoffmann et al. 2022, Approach 3)
 *   power       L = E + A / N^alpha                 (one size variable)
 *
 * Both are fitted in Hoffmann et al.'s parameterisation x = (a, b, e, alpha, beta) with
 * (A, B, E) = (e^a, e^b, e^e), by minimising the SUM over points of
 *
 *     Huber_delta( LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i ),   delta = 1e-3,
 *
 * with analytic gradients and GSL's BFGS (gsl_multimin_fdfminimizer_vector_bfgs2) from every
 * point of the grid of science.md §7 (alpha, beta in {0, 0.5, .., 2}; e in {-1, -0.5, .., 1};
 * a, b in {0, 5, .., 25}: 4,500 starts; power: 150), each run to a gradient norm < 1e-10 (or
 * until the line search makes no progress, or the iteration cap). The summed (not averaged)
 * objective and the tight gradient test are the fix Besiroglu et al. (2024) identified.
 *
 * Bootstrap: K resamples of the points with replacement (seeded lm_rng streams, one per
 * resample, so the result does not depend on the thread count); each resample is refitted from
 * the full fit's optimum and the distinct local optima the grid found (not the whole grid:
 * bench/README.md measures both). Percentile intervals (95 % and 80 %) per parameter.
 *
 * Identifiability: the Gauss-Newton matrix J^T J of the log residuals at the optimum (the
 * Hessian of the objective where the residuals lie inside delta) gives the local standard
 * errors of alpha and beta with the residual scale; when either 2-SE half-width exceeds the
 * exponent itself (LM_FIT_SEP_REL) or |corr(alpha, beta)| > LM_FIT_CORR_TOL the result says the
 * data cannot separate the exponents (identifiable = 0 and a message) instead of a confident
 * number.
 */
#ifndef LMECH_FIT_H
#define LMECH_FIT_H

#include "lmech/core.h"
#include "lmech/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lm_fit_law { LM_FIT_CHINCHILLA = 0, LM_FIT_POWER = 1 } lm_fit_law;

const char *lm_fit_law_name(lm_fit_law law); /* "chinchilla", "power" */
/* The law named `name` into *law; LM_EINVAL naming it otherwise. */
lm_status lm_fit_law_parse(const char *name, lm_fit_law *law, lm_err *err);

/* Indices of the natural parameters in lm_fit_result's arrays. */
enum { LM_FIT_E = 0, LM_FIT_A, LM_FIT_B, LM_FIT_ALPHA, LM_FIT_BETA, LM_FIT_NPAR };

#define LM_FIT_DELTA                 1e-3 /* Huber delta (Hoffmann et al. 2022)                             */
#define LM_FIT_GRAD_TOL              1e-10
#define LM_FIT_MAX_ITER              1000
#define LM_FIT_MIN_POINTS_CHINCHILLA 6 /* more points than the 5 parameters */
#define LM_FIT_MIN_POINTS_POWER      4
/* Identifiability thresholds (docs/fit.md). The exponents are "not separated" when the local
 * 95 % half-width 2 SE of alpha or beta exceeds the exponent itself (LM_FIT_SEP_REL = 1: the
 * data cannot tell it from 0 or from twice its value; a null direction of J^T J gives SE = Inf),
 * or when alpha and beta are correlated beyond LM_FIT_CORR_TOL (they move together: the data fix
 * one combination, not each; regular N x D grids give |corr| < 0.01, N and D tied together
 * give > 0.999). */
#define LM_FIT_SEP_REL  1.0
#define LM_FIT_CORR_TOL 0.99

typedef struct lm_fit_opts {
    lm_fit_law law;
    double delta;       /* 0: LM_FIT_DELTA                                  */
    double grad_tol;    /* 0: LM_FIT_GRAD_TOL                               */
    int max_iter;       /* per start; 0: LM_FIT_MAX_ITER                     */
    size_t bootstrap;   /* resamples (0: none)                              */
    uint64_t seed;      /* the bootstrap's seed                             */
    int threads;        /* worker threads; 0: lm_cores()                     */
    int boot_full_grid; /* refit every resample from the whole grid (slow)  */
    int keep_boot;      /* keep the resamples' parameters in res->boot      */
} lm_fit_opts;

typedef struct lm_fit_result {
    lm_fit_law law;
    size_t n_points;
    double par[LM_FIT_NPAR]; /* E, A, B, alpha, beta (B, beta NaN for power)                 */
    double x[5];             /* the optimiser's coordinates: (a, b, e, alpha, beta), or
                              * (a, e, alpha) for power                                      */
    double objective;        /* the summed Huber objective at the optimum                    */
    double grad_norm;        /* its gradient norm                                            */
    size_t starts;           /* grid starts                                                  */
    size_t converged;        /* starts that reached grad_norm < grad_tol                     */
    size_t stalled;          /* starts whose line search stopped making progress first       */
    size_t capped;           /* starts that hit max_iter                                     */
    int max_iter, iter_best; /* the cap, and the iterations of the best start               */
    size_t n_optima;         /* distinct local optima found (the bootstrap's starts)        */
    /* bootstrap */
    size_t n_boot, boot_failed; /* resamples, and those whose refit failed (left out)        */
    size_t boot_converged;      /* resamples whose best refit reached grad_tol              */
    double ci95[LM_FIT_NPAR][2], ci80[LM_FIT_NPAR][2]; /* percentile intervals (NaN: none)  */
    double *boot; /* [n_boot][LM_FIT_NPAR] when keep_boot (NaN rows: failed)   */
    /* identifiability (docs/fit.md) */
    int identifiable;       /* 0: the data cannot separate the exponents                    */
    double sigma;           /* residual scale used for the SEs: max(RMS log residual, delta) */
    double se[LM_FIT_NPAR]; /* local standard errors (Gauss-Newton; Inf where singular)    */
    double corr_ab;         /* corr(alpha, beta) (NaN for power)                           */
    double cond;            /* condition number of J^T J                                   */
    char message[256];      /* why not identifiable, or "" */
    double wall_s, boot_wall_s;
} lm_fit_result;

/* Fits law to n points (N_i, D_i, L_i); D is ignored (may be NULL) for power. Every value must
 * be finite and positive; n >= LM_FIT_MIN_POINTS_*. Errors name the point and the column.
 * *res is overwritten; free with lm_fit_result_clear. */
lm_status lm_fit(const lm_fit_opts *opts, size_t n, const double *N, const double *D,
                 const double *L, lm_fit_result *res, lm_err *err);
void lm_fit_result_clear(lm_fit_result *res);

/* The objective at x (law's coordinates) with optional per-point weights w (NULL: 1) and its
 * gradient (g may be NULL): what the optimiser minimises, exposed for tests. */
double lm_fit_objective(lm_fit_law law, double delta, size_t n, const double *N, const double *D,
                        const double *L, const double *w, const double *x, double *g);

/* The law at (N, D) with natural parameters par (LM_FIT_NPAR). */
double lm_fit_predict(lm_fit_law law, const double *par, double N, double D);

/* Compute-optimal allocation for C = 6 N D under L = E + A/N^alpha + B/D^beta:
 * G = (alpha A / (beta B))^{1/(alpha+beta)}, N_opt = G (C/6)^{beta/(alpha+beta)},
 * D_opt = (C/6)^{alpha/(alpha+beta)} / G. LM_EINVAL for non-positive or non-finite inputs. */
lm_status lm_fit_compute_optimal(const double *par, double C, double *n_opt, double *d_opt,
                                 lm_err *err);

/* Reads columns `names[0..k)` of a CSV file with a header row into *cols (one lm_malloc'ed
 * block: column j is (*cols)[j * n ..]); *n = the data rows. Blank lines and lines starting
 * with '#' are skipped. Errors name the file, the line and the column. */
lm_status lm_fit_read_csv(const char *path, size_t k, const char *const *names, double **cols,
                          size_t *n, lm_err *err);

/* Reads a sweep from a run database: the runs of the newest invocation of experiment `exp`
 * (finished runs only; others are counted in *skipped), for each the final value of `metric`
 * (its last recorded step) and the values of the config keys keys[0..k) (paths like
 * "data.train_size" or "model.widths[1]"). Column 0..k-1 are the keys, column k the metric
 * ((k + 1) columns in one lm_malloc'ed block as lm_fit_read_csv); *runs (optional) the run ids.
 * Errors name the experiment, the run and the key. */
lm_status lm_fit_read_store(lm_store *s, const char *exp, const char *metric, size_t k,
                            const char *const *keys, double **cols, size_t *n, int64_t **runs,
                            size_t *skipped, lm_err *err);

/* Writes DIR/NAME.tsv and DIR/NAME.gp (a gnuplot script rendering NAME.png and NAME.svg):
 * the data against the fitted law with the bootstrap's 95 % band (res->boot, when kept), one
 * curve per distinct D (chinchilla) over N; with C > 0 a second panel, the compute-optimal
 * frontier N_opt(C), D_opt(C) with their bootstrap band and C marked. *path (optional) gets
 * the script's path. */
lm_status lm_fit_figure(const char *dir, const char *name, const lm_fit_result *res, size_t n,
                        const double *N, const double *D, const double *L, double C, char *path,
                        size_t path_len, lm_err *err);

#ifdef __cplusplus
}
#endif
#endif
