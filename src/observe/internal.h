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

#endif
