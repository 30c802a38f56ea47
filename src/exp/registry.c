/*
 * registry.c: the table of experiments. To add one, write src/exp/exp_<name>.c defining
 * `const lm_experiment lm__exp_<name>`, declare it in src/exp/internal.h, and add one line here.
 */
#include "exp/internal.h"

static const lm_experiment *const registry[] = {
    /* strand 3, simple laws: edge of stability and curvature (science.md §4) */
    &lm__exp_eos,             /* edge of stability                           */
    &lm__exp_aeos,            /* adaptive edge of stability (Adam)           */
    &lm__exp_catapult,        /* catapult                                    */
    &lm__exp_central_flow,    /* central flow against GD                     */
    &lm__exp_curvature_check, /* curvature tools against the exact spectrum  */
    &lm__exp_eos_cnn,         /* edge of stability for a CNN                 */
    /* strand 2, tractable limits: infinite width (§2, §3) */
    &lm__exp_ntk_convergence, /* empirical kernels converge to the limit     */
    &lm__exp_ntk_dynamics,    /* NTK closed form against wide networks       */
    &lm__exp_lazy_rich,       /* lazy versus rich training                   */
    /* strand 4, theories of hyperparameters (§5, §6) */
    &lm__exp_mup_coordcheck,     /* muP coordinate check                        */
    &lm__exp_mup_transfer,       /* muP learning-rate transfer                  */
    &lm__exp_mup_coordcheck_gpt, /* muP coordinate check on a transformer   */
    &lm__exp_mup_transfer_gpt,   /* muP learning-rate transfer on a transformer */
    &lm__exp_batch_size,         /* batch size and gradient noise scale         */
    /* strand 1, solvable settings: deep linear networks (§1) */
    &lm__exp_deep_linear_modes, /* two-layer linear net against the closed form  */
    &lm__exp_deep_linear_depth, /* depth 3 against the ODE; u0^{-1/3} half-times */
    &lm__exp_saddle_to_saddle,  /* small random init: modes learned one by one   */
    &lm__exp_matrix_completion, /* low-rank bias of deep matrix factorisation    */
    /* strand 3, simple laws: kernel learning curves and scaling laws (§7, §8) */
    &lm__exp_learning_curves,     /* KRR learning curves against the eigenframework */
    &lm__exp_spectral_bias,       /* Fourier modes learned in order of NTK eigenvalue */
    &lm__exp_fit_recovery,        /* the scaling-law fitter recovers a known law     */
    &lm__exp_scaling_exponents,   /* exponents in P, N and t predicted from (a, b) */
    &lm__exp_exponent_prediction, /* FMNIST: the data exponent predicted before training */
    /* strand 5, universality: representations (§9) */
    &lm__exp_cka_invariance,    /* CKA's invariances; debiased against biased    */
    &lm__exp_cka_seeds,         /* cross-seed CKA layer by layer                 */
    &lm__exp_knn_alignment,     /* mutual k-NN of penultimate layers across seeds */
    &lm__exp_cka_width,         /* representations across widths                 */
    &lm__exp_neural_collapse,   /* §9: penultimate-layer collapse past 100 % train accuracy */
    &lm__exp_cka_architectures, /* a CNN against an MLP, layer by layer            */
    /* strand 5 and the weights layer (§10, §11) */
    &lm__exp_weight_spectra, /* random matrices follow MP; trained layers get a tail */
    &lm__exp_grokking,       /* modular addition: late generalisation with weight decay */
    &lm__exp_grokking_gpt,   /* the same on a one-block transformer: embeddings go Fourier */
    &lm__exp_eos_gpt,        /* the edge of stability for a small transformer            */
    /* the four layers of one network (issue 14) */
    &lm__exp_four_layers, /* one run: performance, training process, representations, weights */
    NULL,
};

const lm_experiment *const *lm_experiments(void) {
    return registry;
}
