/*
 * lmech/kernel.h: infinite-width kernels of multilayer perceptrons.
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

#ifdef __cplusplus
}
#endif
#endif
