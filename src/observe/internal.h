/* Internal to src/observe: the observers the registry lists. */
#ifndef LM_OBSERVE_INTERNAL_H
#define LM_OBSERVE_INTERNAL_H

#include "lmech/train.h"

extern const lm_observer lm__obs_performance;
extern const lm_observer lm__obs_norms;
extern const lm_observer lm__obs_weight_change;
extern const lm_observer lm__obs_sharpness;
extern const lm_observer lm__obs_ntk;
extern const lm_observer lm__obs_features;
extern const lm_observer lm__obs_completion;
extern const lm_observer lm__obs_modes;
extern const lm_observer lm__obs_fourier;
extern const lm_observer lm__obs_wspec;
extern const lm_observer lm__obs_noise;
extern const lm_observer lm__obs_repr;
extern const lm_observer lm__obs_grok;

/* The effective rank exp(-sum_i p_i ln p_i), p_i = s_i / sum_j s_j, of singular values s [n]
 * (Roy & Vetterli 2007; obs_completion.c); NaN when they sum to 0. */
double lm__obs_effective_rank(const double *s, size_t n);

/* Fourier sparsity of a modadd network's first layer (obs_grok.c): w1 [hidden, 2p] row-major (the
 * stored W_1, inputs [onehot(a), onehot(b)]); for each hidden unit and operand the embedding
 * column over the p tokens is transformed (DFT along the token axis), the power |F_k|^2 of the
 * conjugate pair k, p - k is combined and summed over units and both operands into P_k,
 * k = 1..floor(p/2) (the DC term k = 0 is excluded); *sparsity = the sum of the `top` largest
 * P_k over the sum of all (NaN when all vanish); *unit (may be NULL) = the same fraction per
 * hidden unit (its own P_k over both operands), averaged over the units with nonzero power. */
lm_status lm__obs_fourier_sparsity(const double *w1, size_t hidden, size_t p, size_t top,
                                   double *sparsity, double *unit, lm_err *err);

#endif
