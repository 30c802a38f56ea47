/*
 * registry.c: the table of observers. To add an observable, write src/observe/obs_<name>.c
 * defining `const lm_observer lm__obs_<name>` and add one line to the table below.
 */
#include "observe/internal.h"

static const lm_observer *const registry[] = {
    &lm__obs_performance,   /* train/test loss and accuracy      */
    &lm__obs_norms,         /* gradient norm, parameter norm, lr */
    &lm__obs_weight_change, /* per-layer relative weight change  */
    &lm__obs_sharpness,     /* top Hessian eigenvalue (and Adam's preconditioned one) */
    &lm__obs_ntk,           /* empirical NTK change and kernel-target alignment */
    &lm__obs_features,      /* probe-batch features and distance to the linearised model */
    &lm__obs_completion,    /* matrix-completion: unobserved-entry error, effective rank */
    &lm__obs_modes,         /* deep linear networks: the task's modes u_k (linear-modes data) */
    &lm__obs_fourier,       /* circle data: Fourier amplitudes of the training residual */
    &lm__obs_wspec,         /* weight spectra: power-law alpha, spikes, stable rank per layer */
    &lm__obs_noise,         /* gradient noise scale B_simple on the probe batch */
    &lm__obs_repr,          /* representations: CKA to init per layer, neural collapse (nc1..nc4) */
    &lm__obs_grok,          /* modadd: Fourier sparsity and effective rank of W_1 */
    NULL,
};

const lm_observer *const *lm_observers(void) {
    return registry;
}
