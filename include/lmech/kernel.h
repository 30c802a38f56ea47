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
 * These describe the dense chain of model.widths only: code that derives an analytic kernel from
 * a configured network (lm_mlp) refuses a layer graph with lm_mlp_require_chain ("the analytic
 * NTK needs a model.widths network ...; this model is conv2d(16) relu ..."), while the empirical
 * NTK below works for every model.
 *
 * The Gaussian expectations are closed forms for identity, relu (arc-cosine, Cho & Saul 2009),
 * erf (arcsine, Williams 1997) and quadratic; the other smooth activations (tanh, gelu, sigmoid,
 * softplus) use a two-dimensional Gauss–Hermite product rule on the Cholesky factor of the 2x2
 * covariance, with LM_KERNEL_QUAD_NODES nodes per axis at variances up to 2/3 and more above
 * (at least 80 x the larger variance, up to 640 nodes), since the rule's accuracy falls as
 * the variance grows (1e-8 relative up to variance 8); above variance 8, a composite
 * Gauss-Legendre rule graded towards 0 (docs/kernels.md: 2e-9 or better up to variance 1e7).
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
 * Exactly symmetric; equal rows of X get exactly equal kernel rows. sw2 > 0 and sb2 >= 0
 * finite; depth <= 1000. Runs on lm_threads_get() threads; the result does not depend on the
 * thread count. Memory: the outputs plus O(n*depth) (and a copy of the distinct rows when X has
 * duplicates). LM_ENUMERIC naming the row when the kernel is not finite in double precision (X or
 * sw2 too large). On failure the outputs are unchanged. */
lm_status lm_kernel_analytic(const double *X, size_t n, size_t d, size_t depth, lm_act act,
                             double sw2, double sb2, double *nngp, double *ntk, lm_err *err);

/* The network an analytic kernel describes: `depth` hidden layers of `width` units and activation
 * act, one linear readout (one output), in model.h's parameterisation `param` with its sw2, sb2,
 * bias and base_width (the fields of lm_mlp_spec of that name mean the same here). Defaults
 * (lm_kernel_spec_default): depth 1, relu, sw2 1, sb2 0, ntp, width 0, base_width 0, bias 1. */
typedef struct lm_kernel_spec {
    size_t depth;      /* hidden layers, 0..1000 (0: the readout alone)                         */
    lm_act act;        /* hidden activation                                                     */
    double sw2, sb2;   /* weight variance scale (> 0) and bias variance (>= 0)                  */
    lm_param param;    /* sp, ntp or mup                                                        */
    size_t width;      /* hidden width n: required (> 0) for sp and mup, ignored by ntp          */
    size_t base_width; /* mup's base width: m = width / base_width (0: m = 1); ignored otherwise */
    int bias;          /* 1: every layer has a bias, as lm_mlp_spec.bias (zero-initialised when
                          sb2 = 0, but trained: it adds to the tangent kernel); 0: none (sb2 is
                          then ignored, as by the model)                                          */
} lm_kernel_spec;

lm_kernel_spec lm_kernel_spec_default(void);

/* The kernels of the network s at initialisation, to leading order in the width, on the rows of
 * X [n, d]: nngp [n, n] = the output covariance over initialisations and ntk [n, n] = the tangent
 * kernel of gradient descent with the parameterisation's SGD learning-rate multipliers
 * (lm_mlp_segments' lr_mult: the kernel lm_kernel_empirical computes with seg_lr = lr_mult), i.e.
 * f_t - f_0 = -eta ntk grad_f L to first order at t = 0. Either output may be NULL, not both.
 *
 * In every parameterisation the forward pass at init has the ntp distribution, except that mup's
 * readout weights have variance sw2/(fan_in m) (m = width/base_width). With E_1 = x.x'/d, E_h =
 * E[phi(u)phi(v)] and E'_h = E[phi'(u)phi'(v)] under Sigma^{h-1} (h = 2..depth+1):
 *     Sigma^h = fw_h E_h + fb_h,
 *     Theta^h = cw_h E_h + cb_h + fw_h E'_h Theta^{h-1},   Theta^1 = cw_1 E_1 + cb_1,
 * with fw_h = sw2 (sw2/m for mup's readout), fb_h = sb2, cw_h = lr_W,h w_mul_h^2 fan_in_h and
 * cb_h = lr_b,h b_mul_h^2 (fb = cb = 0 without biases); the outputs are Sigma^{depth+1} and
 * Theta^{depth+1}. So:
 *   ntp: cw = sw2, cb = sb2 (1 if sb2 = 0 with biases): lm_kernel_analytic's kernels, to the bit
 *        when bias = (sb2 > 0);
 *   sp : cw = fan_in (d, then width), cb = 1: the NNGP is ntp's, the NTK grows like the width;
 *   mup: cw = m d, width, width/m (input, hidden, readout), cb = m (hidden biases), 1 (readout):
 *        a finite NTK as width -> infinity at fixed base_width, and an NNGP
 *        sw2 E_{depth+1}/m + sb2 (-> sb2: the output at init vanishes). This is the INITIAL
 *        tangent kernel only: in mup training moves it by O(1) (rich regime).
 * With depth 0 (the readout alone) mup is sp (the model's m is 1 for one layer).
 * LM_EINVAL for width 0 with sp or mup (naming the width), an unknown param, or the arguments
 * lm_kernel_analytic rejects; base_width > width is allowed (m < 1, as in the model). Memory,
 * threads, symmetry and failure behaviour as lm_kernel_analytic. */
lm_status lm_kernel_analytic_spec(const lm_kernel_spec *s, const double *X, size_t n, size_t d,
                                  double *nngp, double *ntk, lm_err *err);

/* The blocks of one kernel that a prediction needs: train [n, n] = K(X, X), cross [m, n] =
 * K(x*, X) and diag [m] = k(x*, x*). A NULL train skips the kind; cross and diag may be NULL. */
typedef struct lm_kernel_blocks {
    double *train, *cross, *diag;
} lm_kernel_blocks;

/* The analytic kernels of the network s between training rows X [n, d] and test rows Xs [m, d]
 * (m = 0 and Xs = NULL allowed): the blocks of the NNGP and of the NTK (either pointer may be
 * NULL, or have a NULL train, not both). Every entry depends only on its two rows, so the
 * blocks equal lm_kernel_analytic_spec on [X; Xs] to the bit: that is how they are computed,
 * with (n + m)^2 doubles per kind of transient memory. Errors as lm_kernel_analytic_spec, the
 * shapes named; LM_ENOMEM for the stacked kernels. On failure the outputs are unchanged. */
lm_status lm_kernel_analytic_blocks(const lm_kernel_spec *s, const double *X, size_t n,
                                    const double *Xs, size_t m, size_t d, lm_kernel_blocks *nngp,
                                    lm_kernel_blocks *ntk, lm_err *err);

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
 *     Theta[(i,a), (j,b)] = sum_s lr_s <df_a(x_i)/ds, df_b(x_j)/ds>
 * over the parameter segments s of lm_mlp_segments (the chain's W_l, b_l; a layer graph's
 * tensors), the tangent kernel of gradient descent whose segment s moves with learning rate
 * eta * lr_s (f_t - f_0 = -eta Theta grad_f L to first order; per-segment rates are muP's).
 * Index (i, a) -> i*k + a (example-major).
 *
 * Layer graphs (model.layers): one block of the Jacobian at a time, chunks of c examples whose
 * rows J_i [k, p] come from k one-example VJPs (lm_mlp_vjp, u = e_a), scaled by sqrt(lr_s) per
 * segment; block (I, J) = J_I J_J^T (dgemm, dsyrk on the diagonal). layer_ntk's term l is that
 * of dense layer l (m->layer[l], a linear or conv2d layer: its weight and bias tensors; a layer
 * norm's gain and bias go with the dense layer before it, lm_mlp_segment_layer), so the terms
 * still sum to ntk. The plan is the two Jacobian blocks: 8 (s c k p + k) bytes, s as below;
 * besides it, a model workspace of one example (lm_mlp_ws_new(m, 1, LM_F64)).
 *
 * The dense chain (model.widths) is computed without any Jacobian: with A_{l-1} [n, d_in]
 * the activations into layer l and D_l [nk, d_out] the backpropagated signals df_a/dz_l of every
 * example and output (the backward pass of k one-hot cotangents per example as one block of nk
 * rows), layer l's term is
 *     Theta_l = lr_W w_scale^2 (D_l D_l^T o (A_{l-1} A_{l-1}^T (x) 1_k 1_k^T)) + lr_b b_scale^2 D_l
 * D_l^T (w_scale, b_scale from lm_layer_info: the forward multipliers with output_multiplier folded
 * into the last layer; the bias term only when the model has biases). The Grams are BLAS
 * dsyrk/dgemm. The last layer's term is the empirical NNGP-type kernel of the readout features
 * (times I_k).
 *
 * seg_lr: NULL (every rate 1: the plain NTK) or [lm_mlp_n_segments(m)] rates in lm_mlp_segments'
 * order (the chain's W_1, b_1, W_2, b_2, ...; a graph's tensors: pass its lr_mult to get the
 * kernel of that optimizer's per-layer rates), each finite and >= 0 (bias entries are ignored
 * without biases).
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

/* The exact number of bytes lm_kernel_empirical allocates in its work buffer (besides its outputs)
 * for n inputs with no bound (one chunk of n examples); per_layer: whether layer_ntk is given
 * (the chain then needs no separate Gram scratch). Saturates at SIZE_MAX. With H the sum of the
 * hidden widths, D the largest d_out of any layer, k the outputs, c the chunk size and s = 1 set
 * of buffers when c = n (else 2: the row chunk and the column chunk), the dense chain's is
 *   8 * (s * (c H (1 + e) + 2 c k D) + c^2 + (per_layer ? 0 : (c k)^2)),
 * e = 1 when the activation's derivative is stored (not identity or relu), else 0; a
 * layer graph's with p parameters is 8 * (s c k p + k) (its Jacobian blocks). */
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
