/*
 * act_impl.h: the definitions behind lm_act_phi, lm_act_dphi and lm_act_d2phi (act.c), as static
 * inline functions so that the model's own loops (mlp_impl.h, mlp_f64.c) inline them and hoist
 * the switch out of their element loops; everything outside src/model calls the public functions.
 * The formulas and the forms chosen are described in act.c.
 */
#ifndef LM_MODEL_ACT_IMPL_H
#define LM_MODEL_ACT_IMPL_H

#include "lmech/model.h"

#include <math.h>

#define INV_SQRT_2   0.70710678118654752440 /* 1/sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143267794 /* 1/sqrt(2 pi) */
#define TWO_SQRT_PI  1.12837916709551257390 /* 2/sqrt(pi) */

static inline double lm__sigmoid(double z) {
    if (z >= 0)
        return 1.0 / (1.0 + exp(-z));
    const double e = exp(z);
    return e / (1.0 + e);
}

static inline double lm__act_phi(lm_act act, double z) {
    switch (act) {
    case LM_ACT_IDENTITY:
        return z;
    case LM_ACT_RELU:
        return z > 0 ? z : 0.0;
    case LM_ACT_TANH:
        return tanh(z);
    case LM_ACT_ERF:
        return erf(z);
    case LM_ACT_GELU:
        return 0.5 * z * erfc(-z * INV_SQRT_2);
    case LM_ACT_SIGMOID:
        return lm__sigmoid(z);
    case LM_ACT_SOFTPLUS:
        return (z > 0 ? z : 0.0) + log1p(exp(-fabs(z)));
    case LM_ACT_QUADRATIC:
        return z * z;
    }
    return 0.0;
}

static inline double lm__act_dphi(lm_act act, double z, double a) {
    switch (act) {
    case LM_ACT_IDENTITY:
        return 1.0;
    case LM_ACT_RELU:
        return z > 0 ? 1.0 : 0.0;
    case LM_ACT_TANH:
        return 1.0 - a * a;
    case LM_ACT_ERF:
        return TWO_SQRT_PI * exp(-z * z);
    case LM_ACT_GELU:
        return 0.5 * erfc(-z * INV_SQRT_2) + z * INV_SQRT_2PI * exp(-0.5 * z * z);
    case LM_ACT_SIGMOID:
        return a * (1.0 - a);
    case LM_ACT_SOFTPLUS:
        return lm__sigmoid(z);
    case LM_ACT_QUADRATIC:
        return 2.0 * z;
    }
    return 0.0;
}

static inline double lm__act_d2phi(lm_act act, double z, double a) {
    switch (act) {
    case LM_ACT_IDENTITY:
    case LM_ACT_RELU:
        return 0.0;
    case LM_ACT_TANH:
        return -2.0 * a * (1.0 - a * a);
    case LM_ACT_ERF:
        return -2.0 * z * TWO_SQRT_PI * exp(-z * z);
    case LM_ACT_GELU:
        return INV_SQRT_2PI * exp(-0.5 * z * z) * (2.0 - z * z);
    case LM_ACT_SIGMOID:
        return a * (1.0 - a) * (1.0 - 2.0 * a);
    case LM_ACT_SOFTPLUS: {
        const double s = lm__sigmoid(z);
        return s * (1.0 - s);
    }
    case LM_ACT_QUADRATIC:
        return 2.0;
    }
    return 0.0;
}

#endif
