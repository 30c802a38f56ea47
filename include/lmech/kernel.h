/*
 * lmech/kernel.h: infinite-width kernels of multilayer perceptrons, and the empirical NTK of a
 * finite one (lm_kernel_empirical, at the end).
 *
 * The analytic NNGP kernel Sigma and neural tangent kernel Theta of an MLP in the NTK
 * parameterisation (model.h's ntp: weight multiplier sqrt(sw2/fan_in), bias multiplier
 * sqrt(sb2)) with `depth` hidden layers of activation phi and one linear readout
 * (shared/science.md §2; Jacot et al. 2018, Lee et al. 2018, Arora et al. 2019):
 *     Sigma^1 = sw2 * x.x' / d + sb2,  Theta^1 = Sigma^1,
 *     Sigma^{l+1} = sw2 * E[phi(u) phi(v)] + sb2,  Sigmadot^{l+1} = sw2 * E[phi'(u) phi'(v)],
 *     Theta^{l+1} = Sigma^{l+1} + Sigmadot^{l+1} * Theta^l,
 * with (u, v) ~ N(0, Sigma^l on {x, x'}), for l = 1..depth; the result is Sigma^{depth+1} and
 * Theta^{depth+1}, the kernels of one output. depth = 0 is the readout alone (Sigma^1).
 *
 * The Gaussian expectations are closed forms for identity, relu (arc-cosine, Cho & Saul 2009),
 * erf (arcsine, Williams 1997) and quadratic; the other smooth activations (tanh, gelu, sigmoid,
 * softplus) use a two-dimensional Gauss–Hermite product rule on the Cholesky factor of the 2x2
 * covariance, with LM_KERNEL_QUAD_NODES nodes per axis at variances up to 2/3 and more above
 * (at least 80 x the larger variance, up to 640 nodes), since the rule's accuracy falls as
 * the variance grows (1e-8 relative up to variance 8; docs/kernels.md).
 */
#ifndef LMECH_KERNEL_H
#define LMECH_KERNEL_H

#include "lmech/core.h"
#include "lmech/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Smallest number of nodes per axis of the Gauss–Hermite rule: at unit variance 40 x 40 agrees
 * with erf's closed form to ~1e-12 (science.md §2, measured 8.8e-13) at 1600 evaluations of phi
 * and phi' per pair. */
#define LM_KERNEL_QUAD_NODES 40

/* The analytic kernels on the rows of X [n, d] (row-major, finite): nngp and ntk [n, n]
 * (either may be NULL, not both) are overwritten with Sigma^{depth+1} and Theta^{depth+1}.
 * Exactly symmetric. sw2 > 0 and sb2 >= 0 finite; depth <= 1000. Runs on lm_threads_get()
 * threads; the result does not depend on the thread count. Memory: the outputs plus O(n*depth).
 * On failure the outputs are unchanged. */
lm_status lm_kernel_analytic(const double *X, size_t n, size_t d, size_t depth, lm_act act,
                             double sw2, double sb2, double *nngp, double *ntk, lm_err *err);

/* The two Gaussian expectations of one layer, E[phi(u) phi(v)] and E[phi'(u) phi'(v)] for
 * (u, v) ~ N(0, [[k11, k12], [k12, k22]]), by the method lm_kernel_analytic uses for `act`
 * (closed form where there is one, else the variance-dependent quadrature rule). The covariance
 * must be positive semi-definite up to rounding (k11, k22 >= 0, k12^2 <= k11 k22 (1 + 1e-12));
 * LM_EINVAL naming the values otherwise. */
lm_status lm_kernel_expect(lm_act act, double k11, double k12, double k22, double *e_phi,
                           double *e_dphi, lm_err *err);

/* The same by the Gauss–Hermite product rule with `nodes` nodes per axis (1..1000), for any
 * activation: the reference the closed forms are tested against. relu's kink makes the rule
 * converge slowly (~5e-3 at 40 nodes), and every activation needs more nodes as the variances
 * grow. */
lm_status lm_kernel_expect_quad(lm_act act, double k11, double k12, double k22, size_t nodes,
                                double *e_phi, double *e_dphi, lm_err *err);

/* ---------------------------------------------------------------- empirical NTK */

/* The empirical neural tangent kernel of a finite network m at theta on the rows of X [n, d_in]
 * (float64), for its k = m->d_out outputs f_a:
 *     Theta[(i,a), (j,b)] = sum_l sum_{s in {W_l, b_l}} lr_s <df_a(x_i)/ds, df_b(x_j)/ds>,
 * the tangent kernel of gradient descent whose parameter segment s moves with learning rate
 * eta * lr_s (f_t - f_0 = -eta Theta grad_f L to first order; per-segment rates are muP's).
 * Index (i, a) -> i*k + a (example-major). Computed without any Jacobian: with A_{l-1} [n, d_in]
 * the activations into layer l and D_l [nk, d_out] the backpropagated signals df_a/dz_l of every
 * example and output (the backward pass of k one-hot cotangents per example as one block of nk
 * rows), layer l's term is
 *     Theta_l = lr_W w_scale^2 (D_l D_l^T o (A_{l-1} A_{l-1}^T (x) 1_k 1_k^T)) + lr_b b_scale^2 D_l
 * D_l^T (w_scale, b_scale from lm_layer_info: the forward multipliers with output_multiplier folded
 * into the last layer; the bias term only when the model has biases). The Grams are BLAS
 * dsyrk/dgemm. The last layer's term is the empirical NNGP-type kernel of the readout features
 * (times I_k).
 *
 * seg_lr: NULL (every rate 1: the plain NTK) or [2 * n_layers] rates in lm_mlp_segments' order
 * (W_1, b_1, W_2, b_2, ...: pass its lr_mult to get the kernel of that optimizer's per-layer
 * rates), each finite and >= 0 (bias entries are ignored without biases).
 * ntk [nk, nk] is overwritten; layer_ntk (NULL or [n_layers][nk][nk]) receives each layer's term
 * (ntk is their sum). Both are exactly symmetric.
 * Memory: besides the outputs, one work buffer of lm_kernel_empirical_plan(...) bytes. The inputs
 * are processed in chunks of c examples, the largest c whose plan fits max_bytes (0: no bound, one
 * chunk); when even c = 1 does not fit, LM_EINVAL stating the needed and allowed bytes. Chunks
 * cost recomputation (each pair of chunks reruns its forward and backward passes), not accuracy.
 * Runs BLAS on lm_threads_get() threads. On failure the outputs are unchanged. */
lm_status lm_kernel_empirical(const lm_mlp *m, const double *theta, const double *X, size_t n,
                              const double *seg_lr, size_t max_bytes, double *ntk,
                              double *layer_ntk, lm_err *err);

/* The exact number of bytes lm_kernel_empirical allocates (besides its outputs) for n inputs with
 * no bound (one chunk of n examples); per_layer: whether layer_ntk is given (it then needs no
 * separate Gram scratch). Saturates at SIZE_MAX. With H the sum of the hidden widths, D the
 * largest d_out of any layer, k the outputs, c the chunk size and s = 1 set of buffers when c = n
 * (else 2: the row chunk and the column chunk):
 *   8 * (s * (c H (1 + e) + 2 c k D) + c^2 + (per_layer ? 0 : (c k)^2)),
 * e = 1 when the activation needs its derivative stored (not identity or relu), else 0. */
size_t lm_kernel_empirical_bytes(const lm_mlp *m, size_t n, int per_layer);

/* The plan lm_kernel_empirical picks under max_bytes (0: no bound): returns the bytes it will
 * allocate and sets *chunk (if not NULL) to the examples per chunk; returns 0 (and *chunk = 0)
 * when even chunks of one example exceed max_bytes. */
size_t lm_kernel_empirical_plan(const lm_mlp *m, size_t n, int per_layer, size_t max_bytes,
                                size_t *chunk);

#ifdef __cplusplus
}
#endif
#endif
