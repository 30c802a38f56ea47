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

/* Where the token embeddings sit in a weight array w: token t of operand o of unit j is
 * w[j unit_stride + o operand_stride + t token_stride]. A modadd MLP's W_1 [hidden, 2p] (inputs
 * [onehot(a), onehot(b)]) is {hidden, 2, 2p, p, 1}: each unit's row holds both operands' columns;
 * a token table tok_emb [vocab, d] (the embedding of token t is row t, shared by both operands) is
 * {d, 1, 1, 0, d}: each feature is a column. */
typedef struct lm__fourier_layout {
    size_t units, operands;
    size_t unit_stride, operand_stride, token_stride;
} lm__fourier_layout;

/* Fourier sparsity of a modadd network's token embeddings (obs_grok.c): for each unit and operand
 * the embedding over the p tokens (layout lay) is transformed (DFT along the token axis), the
 * power |F_k|^2 of the conjugate pair k, p - k is combined and summed over units and operands
 * into P_k, k = 1..floor(p/2) (the DC term k = 0 is excluded); *sparsity = the sum of the `top`
 * largest P_k over the sum of all (NaN when all vanish); *unit (may be NULL) = the same fraction
 * per unit (its own P_k over its operands), averaged over the units with nonzero power. */
lm_status lm__obs_fourier_sparsity(const double *w, const lm__fourier_layout *lay, size_t p,
                                   size_t top, double *sparsity, double *unit, lm_err *err);

#endif
