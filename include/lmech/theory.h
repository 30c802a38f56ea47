/*
 * lmech/theory.h: the theory's predictions as code. First: the one-eigenvalue central flow of
 * gradient descent at the edge of stability (Cohen, Damian, Talwalkar, Kolter, Lee, ICLR 2025,
 * arXiv 2410.24206; science.md §4).
 *
 * Central flow with one critical eigenvalue (S = lambda_max(H), u its unit eigenvector):
 *   while S < 2/eta:   dw/dt = -eta grad L                      (gradient flow)
 *   once S = 2/eta:    dw/dt = -eta (grad L + (sigma^2 / 2) grad S),
 *                      sigma^2 = max(0, -2 <grad S, grad L> / ||grad S||^2),
 * i.e. the gradient projected orthogonally to grad S, so S stays at 2/eta. It predicts GD's
 * time-averaged loss L_bar = L(w) + sigma^2 / eta (the oscillation along u of variance sigma^2
 * costs (1/2) sigma^2 S = sigma^2 / eta). grad S = d^2/de^2 grad L(w + e u) at e = 0, taken by the
 * central difference (grad L(w + e u) + grad L(w - e u) - 2 grad L(w)) / e^2 with e = 1e-3.
 * The one-eigenvalue reduction and L_bar are derived in science.md, not taken from the paper's
 * code (which solves a semidefinite complementarity problem over several eigenvalues with cvxpy).
 */
#ifndef LMECH_THEORY_H
#define LMECH_THEORY_H

#include "lmech/data.h"
#include "lmech/loss.h"
#include "lmech/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lm_cf_trace {
    size_t n;         /* steps recorded (= steps + 1, from step 0)                       */
    double *loss;     /* [n] L(w_t) along the flow                                         */
    double *lbar;     /* [n] predicted time-averaged GD loss L + sigma^2 / eta             */
    double *sigma2;   /* [n] sigma^2 (0 before the edge)                                   */
    double *sharp;    /* [n] S(w_t)                                                        */
    long active_from; /* first step on the edge (S reached 2/eta), -1 if never           */
} lm_cf_trace;

/* Integrates the central flow for `steps` steps of flow time eta each (Euler, one step per GD
 * step, with a Newton correction along grad S that holds S at 2/eta against the Euler drift),
 * from theta0 (not modified) on the full training set. theta_out [p] receives the final point.
 * The trace arrays are allocated here (lm_cf_trace_free). */
lm_status lm_central_flow(const lm_mlp *m, lm_loss loss, const lm_dataset *train,
                          const double *theta0, double eta, size_t steps, double *theta_out,
                          lm_cf_trace *trace, lm_err *err);
void lm_cf_trace_free(lm_cf_trace *t);

/* ---------------------------------------------------------------- deep linear networks
 * (src/theory/deep_linear.c; science.md §1; Saxe, McClelland, Ganguli 2014, arXiv 1312.6120)
 *
 * A depth-N linear network W_N ... W_1 trained by gradient flow on whitened inputs with
 * Sigma^yx = U diag(s) V^T, from the aligned, balanced initialisation (every W_i's singular values
 * a0 on the task's modes, so each mode starts at u0 = a0^N): each mode u = u_k^T W_N...W_1 v_k
 * evolves on its own,
 *     du/dt = N u^{2 - 2/N} (s - u)          (flow time t = eta * step),
 * which for N = 2 is the logistic u(t) = s e^{2st} / (e^{2st} - 1 + s/u0). */

/* The two-layer closed form u(t) (t >= 0, s > 0, u0 > 0). */
double lm_dln_u2(double s, double u0, double t);

/* The flow time at which a mode reaches s/2 from u0 (0 < u0 < s/2; else NaN with LM_ERANGE):
 * depth 2 exactly, ln((s - u0)/u0) / (2s); any depth >= 1 by the separable integral
 * t = int_{u0}^{s/2} du / (N u^{2-2/N} (s - u)) (GSL adaptive quadrature). */
lm_status lm_dln_half_time(unsigned depth, double s, double u0, double *t_half, lm_err *err);

/* Each mode's u at times t [n_t] (finite, >= 0, any order): u [n_modes * n_t], row k for s[k].
 * Depth 2 by the closed form; other depths by GSL's ODE driver (rk8pd, relative and absolute
 * error 1e-12) from u0 at t = 0. t_half [n_modes] (optional) receives lm_dln_half_time (NaN for a
 * mode with u0 >= s/2). Errors: LM_EINVAL naming the bad input (depth 0, s <= 0, u0 <= 0, a time
 * < 0 or non-finite), LM_ENUMERIC when the integrator fails. */
lm_status lm_dln_modes(unsigned depth, size_t n_modes, const double *s, double u0, size_t n_t,
                       const double *t, double *u, double *t_half, lm_err *err);

/* ---------------------------------------------------------------- gradient noise scale
 * McCandlish, Kaplan, Amodei 2018 (arXiv 1812.06162; science.md §6). With g_i the gradient of the
 * loss on example i at theta and G = (1/n) sum_i g_i the full-batch gradient over n examples,
 * Sigma = (1/n) sum_i (g_i - G)(g_i - G)^T is the per-example covariance (population
 * normalisation), and a minibatch of B examples drawn uniformly WITH replacement has
 *     E |G_B|^2 = |G|^2 + tr(Sigma) / B.
 * The simple noise scale is B_simple = tr(Sigma) / |G|^2: the batch size at which the noise in
 * G_B equals the signal. McCandlish's trade-off S(B) = S_min (1 + B_crit / B) predicts the
 * steps to a target loss, with B_crit ~ B_noise ~ B_simple up to an order of magnitude.
 */

typedef struct lm_noise_stats {
    size_t n;        /* examples used                                           */
    double loss;     /* mean loss over them                                     */
    double g2;       /* |G|^2                                                   */
    double tr_sigma; /* tr(Sigma) = (1/n) sum_i |g_i - G|^2                     */
    double b_simple; /* tr_sigma / g2 (Inf when G = 0)                          */
} lm_noise_stats;

/* Exact statistics from per-example gradients: G from one full-batch gradient over the n rows of
 * x [n, d_in], y [n, d_out], then tr(Sigma) as the mean of |g_i - G|^2 over a loop of single-row
 * gradients (no cancellation against |G|^2). float64; cost ~ 2n example-gradients. theta is not
 * modified. LM_EINVAL for n = 0 or NULL arrays; LM_ENUMERIC for a non-finite gradient. On failure
 * *out is unchanged. */
lm_status lm_noise_exact(const lm_mlp *m, lm_loss loss, const double *theta, const double *x,
                         const double *y, size_t n, lm_noise_stats *out, lm_err *err);

typedef struct lm_noise_twobatch {
    size_t pairs, b_small, b_big;
    double g2, g2_se;             /* mean of the per-pair |G|^2 estimates, its standard error */
    double tr_sigma, tr_sigma_se; /* mean of the per-pair tr(Sigma) estimates, likewise        */
    double b_simple;              /* tr_sigma / g2: the means divided, not a mean of ratios    */
    double b_simple_se;           /* delta-method standard error of that ratio                 */
} lm_noise_twobatch;

/* The two-batch estimator (McCandlish App. A.1) over `pairs` batch pairs. Pair k draws b_big row
 * indices uniformly with replacement (stream LM_STREAM_PROBE of seed, so a seed gives the same
 * pairs every time); the small batch is its first b_small rows (one data-parallel worker's share
 * of the big batch). From the two minibatch gradients
 *     |G|^2   ~ (b_big |G_big|^2 - b_small |G_small|^2) / (b_big - b_small)
 *     tr Sigma ~ (|G_small|^2 - |G_big|^2) / (1/b_small - 1/b_big)
 * are unbiased for each pair; they are averaged separately over the pairs and then divided.
 * Standard error of the ratio R = mean(S) / mean(G) by the delta method:
 *     se(R)^2 = (var(S) - 2 R cov(S, G) + R^2 var(G)) / (pairs mean(G)^2)
 * with the sample (n - 1) variances over pairs. Needs 1 <= b_small < b_big and pairs >= 2.
 * On failure *out is unchanged. */
lm_status lm_noise_two_batch(const lm_mlp *m, lm_loss loss, const double *theta, const double *x,
                             const double *y, size_t n, size_t b_small, size_t b_big, size_t pairs,
                             uint64_t seed, lm_noise_twobatch *out, lm_err *err);

typedef struct lm_hyperbola_fit {
    double s_min;  /* a: the steps at infinite batch                    */
    double b_crit; /* b / a                                             */
    double a, b;   /* S = a + b / B                                     */
    double r2;     /* 1 - SS_res / SS_tot of S (1 when both are zero)   */
} lm_hyperbola_fit;

/* Fits S(B) = S_min (1 + B_crit / B) by ordinary least squares of S on 1/B over n >= 3 points
 * (S = a + b/B, S_min = a, B_crit = b/a). B must be positive and not all equal, every value
 * finite. LM_EINVAL naming the bad point otherwise; on failure *out is unchanged. */
lm_status lm_noise_fit_hyperbola(size_t n, const double *batch, const double *steps,
                                 lm_hyperbola_fit *out, lm_err *err);
/* ---------------------------------------------------------------- kernel predictions
 * (src/theory/kernel_predict.c; docs/theory.md; science.md §2)
 *
 * Closed-form predictions of infinite-width networks from their kernels: the NNGP posterior
 * (kernel ridge regression) and the mean output of MSE training under a fixed kernel Theta (the
 * NTK), after Neural Tangents' `predict.gradient_descent_mse`. All arrays are row-major float64.
 * Dimension names: n training points, m test points, k outputs (each output trains on its own,
 * with the same kernel). */

/* The posterior of a GP with kernel K and noise variance s2 >= 0, equivalently kernel ridge
 * regression with ridge s2:
 *     mean [m, k] = K(x*, X) (K(X, X) + s2 I)^{-1} Y,
 *     var  [m]    = k(x*, x*) - K(x*, X) (K(X, X) + s2 I)^{-1} K(X, x*)   (clamped at 0).
 * k_train [n, n] (symmetric), k_cross [m, n] = K(x*, X), y [n, k]; k_diag [m] = k(x*, x*) is
 * needed only for var (var may be NULL; mean may be NULL when var is wanted). By Cholesky
 * (LAPACKE dpotrf/dpotrs/dtrtrs). Errors: LM_ESHAPE for a zero size; LM_EINVAL for s2 < 0 or
 * non-finite, an asymmetric k_train, or k_train + s2 I that is not positive definite (the
 * message names it and suggests a ridge s2 > 0); LM_ENUMERIC for NaN/Inf in an input (named).
 * On failure the outputs are unchanged. */
lm_status lm_kpred_posterior(const double *k_train, const double *k_cross, const double *k_diag,
                             const double *y, size_t n, size_t m, size_t k, double s2, double *mean,
                             double *var, lm_err *err);

/* How a training run's prediction evolves in time. */
typedef enum lm_kpred_mode {
    LM_KPRED_FLOW = 0, /* gradient flow: decay e^{-eta lambda t / norm}                       */
    LM_KPRED_GD        /* discrete full-batch GD: decay (1 - eta lambda / norm)^t, t in steps */
} lm_kpred_mode;

/* The loss normalisation `norm` of L = (1 / (2 norm)) sum_{i,j} (f_ij - y_ij)^2, which fixes the
 * time scale of training (the function-space rate is eta Theta / norm):
 *     LM_LOSS_MSE_MEAN (Neural Tangents, science.md §0):  norm = n k
 *     LM_LOSS_MSE      (lmech's "mse", summed over outputs, Cohen et al.): norm = n
 * and the plain sum L = (1/2) sum (f - y)^2 is norm = 1. The value for an lmech loss: */
double lm_kpred_norm_for_loss(lm_loss loss, size_t n, size_t k);

typedef struct lm_kpred_spec {
    lm_kpred_mode mode; /* LM_KPRED_FLOW (default) or LM_KPRED_GD                         */
    double eta;         /* learning rate, > 0 (default 1)                                  */
    double norm;        /* loss normalisation, > 0; 0 (default) = n k, the mean convention */
} lm_kpred_spec;

lm_kpred_spec lm_kpred_spec_default(void);

/* A prepared prediction: the eigendecomposition Theta(X, X) = V diag(lambda) V^T (LAPACKE
 * dsyevd, once) and the projections that make each later time cost O((n + m) n k). */
typedef struct lm_kpred lm_kpred;

/* Prepares the prediction of training with MSE from f0 under the fixed kernel Theta:
 *     f_t(X)  = Y + V D_t V^T (f0(X) - Y),
 *     f_t(x*) = f0(x*) + Theta(x*, X) V G_t V^T (Y - f0(X)),
 * D_t = diag(d_i), G_t = diag((1 - d_i) / lambda_i), d_i = e^{-c lambda_i t} (flow) or
 * (1 - c lambda_i)^t (GD), c = eta / norm; a mode with lambda_i ~ 0 gets its limit
 * (1 - d_i) / lambda_i -> c t. theta_train [n, n] (symmetric), theta_cross [m, n] = Theta(x*, X)
 * (NULL when m = 0), y [n, k]. f0_train [n, k] and f0_test [m, k] are the outputs at
 * initialisation; NULL for both gives the mean over initialisations mu_t (f0 = 0), and one NULL
 * is an error. nngp_train [n, n] (optional, the NNGP kernel K of f0 on X) enables the expected
 * training loss over initialisations in lm_kpred_train_loss. All inputs are copied; nothing is
 * borrowed. For GD, c lambda_max must be below 2 (else LM_ERANGE: GD diverges). Errors:
 * LM_ESHAPE (n or k zero), LM_EINVAL (spec, asymmetric theta_train, one f0 NULL), LM_ENUMERIC
 * (NaN/Inf input, named; dsyevd failed), LM_ENOMEM. *out is NULL on failure. */
lm_status lm_kpred_new(lm_kpred **out, const double *theta_train, const double *theta_cross,
                       const double *y, const double *f0_train, const double *f0_test,
                       const double *nngp_train, size_t n, size_t m, size_t k,
                       const lm_kpred_spec *spec, lm_err *err);
void lm_kpred_free(lm_kpred *kp);

/* The prediction at time t >= 0 (in steps of size eta; real). t = INFINITY gives the limit
 * t -> inf, kernel regression Theta(x*, X) Theta^+ (Y - f0(X)) + f0(x*) with the pseudo-inverse:
 * modes with lambda <= n eps lambda_max are the (numerical) null space, never trained, so their
 * training residual remains (duplicate inputs with different targets) and they add nothing on
 * x*; an eigenvalue below -n eps lambda_max (not PSD) is LM_EINVAL.
 * f_train [n, k] and f_test [m, k] are overwritten (either may be NULL). For GD with some
 * c lambda_i > 1 the decay alternates in sign, so t must be an integer there (LM_EINVAL).
 * Cost O((n + m) n k). */
lm_status lm_kpred_at(const lm_kpred *kp, double t, double *f_train, double *f_test, lm_err *err);

/* The training loss (1 / (2 norm)) ||f_t(X) - Y||^2 at time t, plus, when nngp_train was given
 * and f0 was NULL (the ensemble mean), the expectation over f0 ~ N(0, K) per output:
 *     E L_t = (1 / (2 norm)) (||D_t V^T Y||^2 + k sum_i d_i^2 v_i^T K v_i).
 * Same time rules as lm_kpred_at. Cost O(n k). */
lm_status lm_kpred_train_loss(const lm_kpred *kp, double t, double *loss, lm_err *err);

/* The eigenvalues of Theta(X, X) in ascending order (borrowed, [n]): lambda_max = [n - 1]. */
const double *lm_kpred_eigenvalues(const lm_kpred *kp);

/* ---------------------------------------------------------------- eigenlearning
 * (src/theory/eigenlearning.c; science.md §8; Simon, Dickens, Karkada, DeWeese, arXiv 2110.03922;
 * Bordelon, Canatar, Pehlevan 2020, arXiv 2002.02561)
 *
 * Kernel (ridge) regression on n samples, for a kernel with eigenvalues lambda_i > 0 under the
 * data measure (i = 0..m-1), a target f* = sum_i v_i phi_i, noise variance eps2 on the training
 * targets and a ridge delta >= 0 applied as (K_n + delta I)^{-1}:
 *     kappa solves  sum_i lambda_i / (lambda_i + kappa) + delta / kappa = n,
 *     learnability  L_i = lambda_i / (lambda_i + kappa),
 *     E0 = n / (n - sum_i L_i^2),
 *     test MSE  = E0 (sum_i (1 - L_i)^2 v_i^2 + eps2),
 *     train MSE = (delta / (n kappa))^2 test MSE.
 * Both MSEs are against the noisy targets (the test MSE is the error against f* plus eps2), the
 * expectation over draws of the n training points; the prediction is asymptotically exact as n
 * and the number of modes grow and accurate to a few % already at n ~ 50 (science.md §7-8). */
typedef struct lm_eigenlearn {
    double n, ridge, noise; /* the inputs: samples, delta, eps2                      */
    double kappa;           /* the effective regulariser                             */
    double sum_l;           /* sum_i L_i (= n at delta = 0 when n < m)               */
    double e0;              /* the overfitting coefficient                           */
    double test_mse, train_mse;
} lm_eigenlearn;

/* The eigenframework's prediction for n samples (real, > 0). lambda [m] (any order, each finite
 * and > 0), v [m] the target's coefficients (not squared; any sign), ridge >= 0, noise (eps2)
 * >= 0. learnability [m] (optional) receives L_i. kappa is found by GSL's Brent root finder on
 * log kappa, bracketed; with ridge 0 a solution needs n < m (else LM_ERANGE: n samples of a rank-m
 * kernel interpolate nothing more; the message says so). Errors: LM_EINVAL naming the bad input
 * (m = 0, a lambda <= 0 or non-finite, n <= 0, ridge or noise < 0). On failure *out is unchanged.
 */
lm_status lm_eigenlearning(size_t m, const double *lambda, const double *v, double n, double ridge,
                           double noise, lm_eigenlearn *out, double *learnability, lm_err *err);

/* Bordelon, Canatar and Pehlevan's form of the same prediction, an independent cross-check:
 *     kappa' = delta + kappa' sum_k lambda_k / (n lambda_k + kappa'),
 *     gamma  = sum_k n lambda_k^2 / (n lambda_k + kappa')^2,
 *     E_g    = (sum_k kappa'^2 v_k^2 / (n lambda_k + kappa')^2 + eps2) / (1 - gamma).
 * Same inputs and errors as lm_eigenlearning; *test_mse = E_g. */
lm_status lm_eigenlearning_bordelon(size_t m, const double *lambda, const double *v, double n,
                                    double ridge, double noise, double *test_mse, lm_err *err);

/* A kernel's spectrum under the empirical measure of N points, for the eigenframework: with
 * K/N = Phi diag(lambda) Phi^T (LAPACKE dsyevd; Phi orthonormal), the eigenfunctions on the
 * points are sqrt(N) Phi, so a target y [N, k] has coefficients v_i = Phi_i^T y / sqrt(N).
 * K [N, N] symmetric (checked), y [N, k] (may be NULL: no coefficients). Writes lambda [N] in
 * descending order and v [N, k] (row i for eigenvalue i; may be NULL); *m_pos = the number of
 * eigenvalues > N eps lambda_max (the rest are the numerical null space, set to 0 in lambda).
 * Errors: LM_ESHAPE (N = 0), LM_EINVAL (asymmetric K, named entry; an eigenvalue below
 * -N eps lambda_max: not PSD), LM_ENUMERIC (NaN/Inf, dsyevd failure), LM_ENOMEM. */
lm_status lm_kernel_spectrum(const double *K, size_t N, const double *y, size_t k, double *lambda,
                             double *v, size_t *m_pos, lm_err *err);

/* The empirical learning curve of kernel ridge regression. K [N, N] is the Gram matrix of a
 * pool whose first n_pool rows are the training pool and the remaining N - n_pool rows the test
 * set; y [N, k]. For each n in n_list [n_n] (1 <= n <= n_pool) and trial t < trials, n training
 * rows are drawn without replacement from the pool (one lm_rng on stream LM_STREAM_DATA of seed
 * draws the sets in the order (n_list[0], trial 0), (n_list[0], trial 1), ...: the draw of (n, t)
 * never depends on the ridges), K_nn is eigendecomposed once and reused for every
 * ridge in ridge [n_ridge] (>= 0; ridge 0 uses the pseudo-inverse on the numerical range), and
 *     test_mse[(r n_n + i) trials + t]  = mean over test rows and outputs of (f - y)^2,
 *     train_mse[(r n_n + i) trials + t] = the same over the n training rows
 * (either output may be NULL; test_mse needs n_pool < N). K is checked finite and symmetric.
 * Errors: LM_EINVAL naming the bad n, ridge or shape; LM_ENUMERIC (NaN/Inf, dsyevd failure);
 * LM_ENOMEM. Cost per training set: one O(n^3) dsyevd and one O((N - n_pool) n^2) product, then
 * O((N - n_pool) n k) per ridge. */
lm_status lm_krr_curve(const double *K, size_t N, size_t n_pool, const double *y, size_t k,
                       size_t n_n, const size_t *n_list, size_t trials, size_t n_ridge,
                       const double *ridge, uint64_t seed, double *test_mse, double *train_mse,
                       lm_err *err);

#ifdef __cplusplus
}
#endif
#endif
