/*
 * lmech/curv.h: curvature of the loss from Hessian-vector products.
 *
 * Every routine here works on a symmetric linear operator given as a callback, v -> H v over
 * dimension p, not on a model: the model module's exact R-operator (lm_mlp_hvp_apply) is one
 * such operator (see lm_curv_mlp below), Adam's preconditioned Hessian P^{-1/2} H P^{-1/2} is
 * another (lm_curv_precond), and tests use explicit matrices.
 *
 *   Lanczos       top-k or bottom-k eigenpairs, full reorthogonalisation, residual stopping rule
 *   Hutchinson    tr H ~ (1/m) sum z^T H z, Rademacher z, with its standard error
 *   SLQ           stochastic Lanczos quadrature: spectral density (PyHessian's convention)
 *   dense         the whole Hessian by p products, and its spectrum by LAPACK (ground truth)
 *
 * Workspace. All the Lanczos-type routines (and Hutchinson) take an lm_curv_ws made for one
 * dimension p and a maximum number of Lanczos steps: it holds the Lanczos basis
 * [(max_iter + 1) x p] doubles plus O(max_iter^2) for the projected eigenproblem, so nothing is
 * allocated per product. A workspace serves one call at a time.
 *
 * Counting. Each routine reports how many times it applied the operator (n_ops); for the model
 * operator this is the number of Hessian-vector products ("hvps").
 *
 * References: Lanczos with full reorthogonalisation (Golub & Van Loan, Matrix Computations,
 * 4th ed., §10.1); Hutchinson (1990), variance (2/m)(||H||_F^2 - sum H_ii^2) for Rademacher
 * probes; SLQ (Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019; PyHessian, Yao et al.
 * 2020 for the broadening convention). shared/science.md §4.
 */
#ifndef LMECH_CURV_H
#define LMECH_CURV_H

#include "lmech/core.h"
#include "lmech/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A symmetric linear operator: out [p] (overwritten) = H v, v [p]. ud is passed back unchanged.
 * Returns LM_OK or an error (which the calling routine passes on unchanged). */
typedef lm_status (*lm_linop_fn)(void *ud, const double *v, double *out, lm_err *err);

/* Matrix size up to which the dense route is the intended ground truth: p = 5000 needs 200 MB
 * and a few seconds of LAPACK on one core; callers may pass a larger max_p to lm_curv_dense. */
#define LM_CURV_DENSE_MAX_P 5000

/* ---------------------------------------------------------------- workspace */

typedef struct lm_curv_ws lm_curv_ws;

/* A workspace for dimension p and up to max_iter Lanczos steps (1 <= max_iter <= p). Allocates
 * (max_iter + 4) * p + 2 max_iter^2 + O(max_iter) doubles; LM_ENOMEM / LM_ERANGE when that is
 * impossible. */
lm_status lm_curv_ws_new(size_t p, size_t max_iter, lm_curv_ws **out, lm_err *err);
void lm_curv_ws_free(lm_curv_ws *ws);
/* Bytes lm_curv_ws_new would allocate for (p, max_iter) (for memory limits); SIZE_MAX on
 * overflow. */
size_t lm_curv_ws_bytes(size_t p, size_t max_iter);

/* ---------------------------------------------------------------- Lanczos */

typedef enum lm_curv_which {
    LM_CURV_LARGEST = 0, /* largest algebraic eigenvalues, returned in descending order  */
    LM_CURV_SMALLEST     /* smallest algebraic eigenvalues, returned in ascending order   */
} lm_curv_which;

typedef struct lm_curv_lanczos_opts {
    size_t k;            /* number of eigenpairs (default 1), 1 <= k <= max_iter            */
    lm_curv_which which; /* default LM_CURV_LARGEST                                         */
    double tol;          /* relative residual ||Hv - lv|| / |l| required of every pair
                            (default 1e-6)                                                  */
    size_t max_iter;     /* Lanczos steps at most; 0 = the workspace's capacity (default)   */
    uint64_t seed;       /* random start vector from (seed, LM_STREAM_PROBE) when n_start
                            is 0 (default 0)                                                */
    size_t n_start;      /* warm start: number of start vectors (default 0)                 */
    const double *start; /* [n_start, p], borrowed; the start is the sum of the vectors
                            each scaled to unit norm (so several tracked eigenvectors all
                            contribute, whatever their signs; Lanczos then finds the whole
                            span quickly since it is nearly invariant)                      */
} lm_curv_lanczos_opts;

lm_curv_lanczos_opts lm_curv_lanczos_opts_default(void);

typedef struct lm_curv_lanczos_info {
    size_t iters;  /* Lanczos steps taken (= products spent on the Krylov basis)       */
    size_t n_ops;  /* operator applications in all: iters + verification products      */
    int converged; /* 1 when every returned pair meets tol; 0 when max_iter ran out     */
} lm_curv_lanczos_info;

/* The relative residual of an eigenpair as every routine here reports it (see "Residuals"
 * below): rnorm = ||H y - theta y|| over max(|theta|, sqrt(eps) hnorm), hnorm an estimate of
 * ||H||; 0 / 0 = 0 (the zero operator's exact pairs), x / 0 = inf. */
double lm_curv_rel_resid(double rnorm, double theta, double hnorm);

/* k extreme eigenpairs of the operator by Lanczos with full reorthogonalisation (every new
 * basis vector is orthogonalised twice against all previous ones: classical Gram-Schmidt
 * applied twice, by two GEMVs over the basis, whose coefficients give T = Q^T H Q).
 *
 * Residuals. A pair's relative residual is ||H y - theta y|| / max(|theta|, sqrt(eps) ||H||)
 * (||H|| estimated by the largest |Ritz value|): |theta| itself, except for eigenvalues that
 * are zero to the precision of the products (a PSD Hessian of rank < p, dead units, the zero
 * operator), whose residual is rounding that no |theta| could divide; 0 / 0 counts as 0.
 *
 * Stopping rule. After j steps the Ritz pairs (theta_i, y_i = Q s_i) of T_j satisfy
 * H y_i - theta_i y_i = (the pending basis directions) (T[pending, 1..j] s_i) exactly in exact
 * arithmetic, so that norm estimates the residual. When the estimate is <= tol for all k
 * wanted pairs, each Ritz vector is formed and its residual VERIFIED with one extra product
 * (k products); if rounding made a verified residual miss tol, the iteration continues with an
 * estimate threshold ten times tighter. The returned residuals are always the verified ones
 * (k more products when a run stops at max_iter).
 *
 * Repeated eigenvalues. One start vector spans one vector of each eigenspace, so plain Lanczos
 * returns a k-fold eigenvalue once and then the next distinct ones, all with small residuals.
 * For k >= 2, unless the run spanned the whole space, a check run from a random vector
 * orthogonal to the k Ritz vectors looks for a Ritz value of the deflated operator beyond the
 * k-th (to residual sqrt(tol): a Ritz value's error is ~residual^2 / gap); if it finds one, the
 * solve is repeated from a block of k start vectors (the k-1 best Ritz vectors and the new
 * direction), which converges in a few block steps, and checked again. The check usually costs
 * 40-90 % more products than the first solve (970-parameter test net: top-3 24 -> 34,
 * smallest-2 29 -> 54); max_iter bounds each run, info->iters counts
 * the steps of all of them.
 *
 * If the Krylov space becomes invariant (beta ~ 0) before k pairs are found, the iteration
 * continues from a fresh random vector orthogonal to the basis. Like every Krylov method it
 * cannot see an eigenvector exactly orthogonal to the start vector; a random start has that
 * property with probability 0.
 *
 * evals [k] (descending for LARGEST, ascending for SMALLEST), evecs [k, p] row-major (unit norm;
 * may be NULL), resid [k] (may be NULL), info (may be NULL) are written only on success.
 * Not converging within max_iter is a result (info->converged = 0), not an error.
 * Errors: LM_EINVAL (k, tol, max_iter, a zero start vector, a workspace of another p),
 * LM_ENUMERIC (the operator produced NaN/Inf), or the operator's own error. */
lm_status lm_curv_lanczos(lm_linop_fn op, void *ud, size_t p, const lm_curv_lanczos_opts *opts,
                          lm_curv_ws *ws, double *evals, double *evecs, double *resid,
                          lm_curv_lanczos_info *info, lm_err *err);

/* ---------------------------------------------------------------- trace and density */

/* Hutchinson's estimator tr H ~ (1/m) sum_i z_i^T H z_i over m = n_probes >= 2 Rademacher
 * probes z_i (entries +-1 from (seed, LM_STREAM_PROBE)). *estimate is the mean, *stderr_out the
 * standard error s / sqrt(m) with s the sample standard deviation (m - 1 in the denominator).
 * samples [n_probes] (may be NULL) receives each z_i^T H z_i. Uses two vectors of ws. m products.
 */
lm_status lm_curv_hutchinson(lm_linop_fn op, void *ud, size_t p, size_t n_probes, uint64_t seed,
                             lm_curv_ws *ws, double *estimate, double *stderr_out, double *samples,
                             lm_err *err);

/* Stochastic Lanczos quadrature. For each of n_probes Rademacher probes q = z / sqrt(p) (from
 * (seed, LM_STREAM_PROBE)), runs m Lanczos steps with full reorthogonalisation (m <= the
 * workspace's capacity, m <= p) and diagonalises T = S diag(theta) S^T: the quadrature nodes are
 * theta_j and the weights S_{1j}^2 (they sum to 1 per probe). nodes and weights are
 * [n_probes, m] row-major; a probe whose Krylov space became invariant after m' < m steps pads
 * its row with weight 0 (node = its last node). *trace (may be NULL) receives
 * p * mean over probes of sum_j w_j theta_j, an estimate of tr H. n_probes * m products. */
lm_status lm_curv_slq(lm_linop_fn op, void *ud, size_t p, size_t n_probes, size_t m, uint64_t seed,
                      lm_curv_ws *ws, double *nodes, double *weights, double *trace, lm_err *err);

/* The SLQ spectral density on a grid, as PyHessian's density_generate: lambda_max (lambda_min) is
 * the mean over probes of the largest (smallest) node plus (minus) 0.01; grid [n_bins] is
 * linspace(lambda_min, lambda_max, n_bins); each node contributes weight * N(t; theta, s2) with
 * variance s2 = sigma2 * max(1, lambda_max - lambda_min) (sigma2 <= 0 means PyHessian's 1e-5);
 * values [n_bins] is the mean over probes, normalised so sum(values) * (grid[1] - grid[0]) = 1.
 * n_bins >= 2. Nothing is allocated. */
lm_status lm_curv_density(size_t n_probes, size_t m, const double *nodes, const double *weights,
                          size_t n_bins, double sigma2, double *grid, double *values, lm_err *err);

/* Wasserstein-1 distance between two discrete measures on the real line, sum_i wa_i delta(a_i)
 * and sum_j wb_j delta(b_j) (weights >= 0, each set normalised to total 1 here; NULL weights
 * mean uniform): W1 = integral |F_a(t) - F_b(t)| dt. Allocates and frees two index arrays. */
lm_status lm_curv_w1(size_t n_a, const double *a, const double *wa, size_t n_b, const double *b,
                     const double *wb, double *out, lm_err *err);

/* ---------------------------------------------------------------- dense ground truth */

/* The full matrix H [p, p] row-major by p products with the unit vectors (row j = H e_j).
 * *asym (may be NULL) receives max_ij |H_ij - H_ji| / max_ij |H_ij| before H is replaced by its
 * symmetric part (H + H^T) / 2. Refuses p > max_p with LM_ELIMIT (pass LM_CURV_DENSE_MAX_P for
 * the default, or a larger bound to force it). Allocates one vector of p doubles. On failure
 * the contents of H are unspecified (it is the output buffer of p^2 doubles, so not copying it
 * is the point), nothing leaks. */
lm_status lm_curv_dense(lm_linop_fn op, void *ud, size_t p, size_t max_p, double *H, double *asym,
                        lm_err *err);

/* All eigenvalues of the symmetric H [p, p] (destroyed: it holds the Householder reflectors on
 * return), descending, into evals [p] (may be NULL), and the eigenvectors of the k largest into
 * evecs [k, p] row-major (k = 0 or evecs NULL: none). One tridiagonal reduction (LAPACK dsytrd,
 * as dsyevd does), then dsterf for the eigenvalues and dstemr + dormtr for the k vectors, so
 * memory beyond H is O(p k). Allocates O(p) scratch. LM_ENUMERIC when LAPACK fails. */
lm_status lm_curv_dense_eig(size_t p, double *H, double *evals, size_t k, double *evecs,
                            lm_err *err);

/* ---------------------------------------------------------------- operators */

/* The preconditioned operator v -> P^{-1/2} H P^{-1/2} v for a positive diagonal P [p] (Adam's:
 * lm_optim_adam_precond). Its top eigenvalue is the preconditioned sharpness. */
typedef struct lm_curv_precond {
    lm_linop_fn op; /* the wrapped H                        */
    void *ud;
    size_t p;
    double *d;   /* [p] P^{-1/2}, computed by _init (caller's scratch) */
    double *tmp; /* [p] scratch (caller's)                            */
} lm_curv_precond;

/* Fills pc; scratch [2p] is the caller's and must outlive pc. LM_EINVAL when some P_i is not
 * finite and positive (names the index). */
lm_status lm_curv_precond_init(lm_curv_precond *pc, lm_linop_fn op, void *ud, size_t p,
                               const double *P, double *scratch, lm_err *err);
/* lm_linop_fn for an lm_curv_precond passed as ud. */
lm_status lm_curv_precond_apply(void *ud, const double *v, double *out, lm_err *err);

/* The model's Hessian as an operator: ud is an lm_curv_mlp whose workspace has been prepared
 * with lm_mlp_hvp_prepare at the evaluation point (the caller's job, once). Both pointers are
 * borrowed. n_ops counts the products made through it. */
typedef struct lm_curv_mlp {
    const lm_mlp *m;
    lm_mlp_ws *ws;
    size_t n_ops;
} lm_curv_mlp;

/* lm_linop_fn calling lm_mlp_hvp_apply for an lm_curv_mlp passed as ud. */
lm_status lm_curv_mlp_apply(void *ud, const double *v, double *out, lm_err *err);

/* The same in float32 (lm_mlp_hvp_apply_f32; the workspace prepared with
 * lm_mlp_hvp_prepare_f32): each product rounds v to float32 into v32, applies the float32
 * R-operator into hv32 and widens it back, so the routines above run in double on float32
 * products. v32 and hv32 [p] are the caller's scratch. */
typedef struct lm_curv_mlp_f32 {
    const lm_mlp *m;
    lm_mlp_ws *ws;
    float *v32, *hv32;
    size_t n_ops;
} lm_curv_mlp_f32;

/* lm_linop_fn calling lm_mlp_hvp_apply_f32 for an lm_curv_mlp_f32 passed as ud. */
lm_status lm_curv_mlp_apply_f32(void *ud, const double *v, double *out, lm_err *err);

/* ---------------------------------------------------------------- one Hessian report */

/* What `lmech hessian` computes (and lmech.hessian in Python), from any symmetric operator of
 * dimension p: the `top` largest (and `smallest` smallest) eigenvalues with their relative
 * residuals, Hutchinson's trace, the SLQ density; or, dense = 1, all of them from the dense
 * matrix by LAPACK (exact trace; the density broadens the exact spectrum). Defaults
 * (lm_curv_spectrum_opts_default): top 1, smallest 0, Lanczos, tol 1e-6, max_iter 0 (300 steps,
 * fewer when max_mb demands), seed 0, no trace (probes 100), no density (slq_probes 10,
 * slq_steps 80 capped at p, bins 1000), max_mb 1024. */
typedef struct lm_curv_spectrum_opts {
    size_t top, smallest;
    int dense;       /* 1: dense matrix + LAPACK (p^2 doubles); 0: Lanczos              */
    double tol;      /* relative residual required of every Lanczos pair                 */
    size_t max_iter; /* Lanczos steps at most; 0: 300 or what max_mb allows               */
    uint64_t seed;   /* start vector and probes                                           */
    int trace;       /* Hutchinson with `probes` Rademacher probes (>= 2)                 */
    size_t probes;
    int density; /* SLQ: slq_probes x slq_steps products, broadened on `bins` points      */
    size_t slq_probes, slq_steps, bins;
    size_t max_mb; /* bound on the Lanczos basis or the dense matrix, MiB                */
} lm_curv_spectrum_opts;

lm_curv_spectrum_opts lm_curv_spectrum_opts_default(void);

/* The report; arrays lm_malloc'ed, freed by lm_curv_spectrum_clear. */
typedef struct lm_curv_spectrum {
    double *evals, *res;       /* [top] descending, and their relative residuals           */
    double *small, *small_res; /* [smallest] ascending (small_res NULL on the dense route) */
    double *grid, *values;     /* [bins] the density (with density)                        */
    double *nodes, *weights;   /* Lanczos density: [slq_probes * slq_steps] SLQ nodes and
                                  weights; dense density: weights [p] (1/p each)            */
    size_t iters;              /* Lanczos steps taken (0 on the dense route)                */
    size_t slq_steps;          /* the SLQ steps used: slq_steps capped at the basis         */
    int converged;             /* every pair met tol (always 1 on the dense route)          */
    double trace, trace_se;    /* Hutchinson's estimate and standard error (dense: exact, 0) */
    double slq_trace;          /* SLQ's trace estimate                                      */
} lm_curv_spectrum;

/* Runs the report on op. Errors (naming the values): top = 0, top or smallest above p or above
 * the Lanczos steps allowed (LM_EINVAL), a basis or dense matrix above max_mb (LM_ELIMIT), the
 * operator's own errors, LM_ENOMEM. On failure *out is untouched. */
lm_status lm_curv_spectrum_run(lm_linop_fn op, void *ud, size_t p,
                               const lm_curv_spectrum_opts *opts, lm_curv_spectrum *out,
                               lm_err *err);
void lm_curv_spectrum_clear(lm_curv_spectrum *s);

#ifdef __cplusplus
}
#endif
#endif
