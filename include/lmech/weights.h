/*
 * lmech/weights.h: spectra of weight matrices (docs/weights.md; Martin & Mahoney 2021,
 * Clauset, Shalizi & Newman 2009).
 *
 * For a matrix W with N >= M after transposing if needed (WeightWatcher's convention), the
 * empirical spectral density (ESD) is the M eigenvalues of X = W^T W / N, lambda_i = sigma_i^2 / N
 * with sigma_i the singular values of W (LAPACKE dgesdd). Reported per matrix:
 *  - stable rank ||W||_F^2 / ||W||_2^2, log10 ||W||_F and log10 ||W||_2;
 *  - a Marchenko-Pastur fit of the bulk: Q = N / M, sigma^2 fitted by least squares between the
 *    MP CDF and the empirical CDF of the eigenvalues below the (re-fitted) bulk edge,
 *    lambda_+ = sigma^2 (1 + 1/sqrt(Q))^2, spikes = eigenvalues above lambda_+;
 *  - the Clauset-Shalizi-Newman power-law fit of the ESD's tail: alpha, x_min (minimising the
 *    KS distance), KS, n_tail, SE = (alpha - 1)/sqrt(n_tail); no fit under min_eigs eigenvalues,
 *    and alpha > alpha_max is "no power law";
 *  - WeightWatcher's alpha-weighted metric alpha * log10(lambda_max) and log10 sum lambda^alpha;
 *  - optionally (opts.gof_draws > 0) CSN's bootstrap goodness-of-fit p-value ks_p.
 */
#ifndef LMECH_WEIGHTS_H
#define LMECH_WEIGHTS_H

#include "lmech/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lm_wspec_opts {
    size_t min_eigs;   /* no power-law fit below this many eigenvalues (0: 50)          */
    size_t min_tail;   /* smallest tail a candidate x_min may leave (0: 10)             */
    double alpha_max;  /* alpha above this is "no power law" (0: 8, WeightWatcher's)    */
    size_t gof_draws;  /* CSN goodness-of-fit p-value from this many semiparametric bootstrap
                          draws (0: not computed, ks_p = NaN; each draw refits, ~m^2 work) */
    uint64_t gof_seed; /* the bootstrap's seed                                          */
} lm_wspec_opts;

typedef struct lm_wspec {
    size_t rows, cols; /* the matrix as given (a tensor's own shape)                 */
    size_t n, m;       /* N >= M: max and min of rows, cols                          */
    double *eig;       /* [m] eigenvalues of W^T W / N, ascending (lm_malloc'ed)        */
    double stable_rank, log_fro, log_spec;
    /* Marchenko-Pastur */
    double mp_sigma2, mp_q, mp_lambda_plus;
    double mp_ks;    /* KS distance between the whole ESD and the fitted MP law (NaN: no fit) */
    size_t n_spikes; /* the spikes are eig[m - n_spikes .. m-1]                      */
    /* power law (fitted = 0: fewer than min_eigs eigenvalues; the fields are NaN)      */
    int fitted, power_law;
    double alpha, alpha_se, xmin, ks;
    size_t n_tail;
    double alpha_weighted, log_alpha_norm; /* alpha log10(lambda_max), log10 sum lambda^alpha */
    /* Clauset-Shalizi-Newman goodness of fit (their §4.1): the fraction of synthetic data sets
     * (the fitted power law above x_min with probability n_tail/n, else a resampled eigenvalue
     * below x_min), each refitted from scratch (x_min scan included), whose KS is >= the
     * observed KS. p < 0.1 rules the power law out. NaN unless opts->gof_draws > 0. */
    double ks_p;
} lm_wspec;

/* Spectrum of the row-major matrix w [rows x cols] (either orientation). opts may be NULL. */
lm_status lm_wspec_compute(const double *w, size_t rows, size_t cols, const lm_wspec_opts *opts,
                           lm_wspec *out, lm_err *err);
void lm_wspec_free(lm_wspec *s);

/* The fits alone, on given eigenvalues (any order; copied and sorted inside). */
lm_status lm_wspec_mp_fit(const double *eig, size_t m, double q, double *sigma2,
                          double *lambda_plus, size_t *n_spikes, lm_err *err);
lm_status lm_wspec_powerlaw(const double *eig, size_t m, const lm_wspec_opts *opts, lm_wspec *out,
                            lm_err *err);
/* The Marchenko-Pastur CDF at x for ratio q = N/M >= 1 and variance sigma2. */
double lm_wspec_mp_cdf(double x, double q, double sigma2);
/* The KS distance sup |F_emp - F_MP| between eigenvalues eig[0..m) (ascending) and the MP law. */
double lm_wspec_mp_ks(const double *eig, size_t m, double q, double sigma2);

/* Every 2-d tensor of a safetensors file, and every 4-d one (a conv weight [out, in, kh, kw], taken
 * as the matrix [out, in*kh*kw]). Other tensors (biases, gains) are listed in skipped. */
typedef struct lm_wspec_file {
    size_t n;
    char **names;
    lm_wspec *specs;
    size_t n_skipped;
    char **skipped;
} lm_wspec_file;
lm_status lm_wspec_file_read(const char *path, const lm_wspec_opts *opts, lm_wspec_file **out,
                             lm_err *err);
void lm_wspec_file_free(lm_wspec_file *f);

#ifdef __cplusplus
}
#endif
#endif
