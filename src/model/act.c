/*
 * act.c: the one definition of every activation: phi(z), phi'(z) and phi''(z) at a point
 * (lmech/model.h). The model's kernels (mlp_impl.h, mlp_f64.c's R-operator), the empirical
 * kernel and the analytic kernels' quadrature all evaluate these; mlp_impl.h keeps vectorised
 * loops only for identity, relu and tanh (the same formulas; tests/model/test_act.c checks
 * that the forward pass equals lm_act_phi for every activation).
 *
 * Forms chosen for accuracy over the whole real line:
 *   gelu      z Phi(z) = z erfc(-z/sqrt 2)/2 (no cancellation in 1 + erf for z << 0)
 *             phi'  = Phi(z) + z pdf(z),   phi'' = pdf(z) (2 - z^2)
 *   sigmoid   1/(1 + e^-z) for z >= 0, e^z/(1 + e^z) below (no overflow)
 *             phi'  = a (1 - a),           phi'' = a (1 - a)(1 - 2a)
 *   softplus  max(z, 0) + log1p(e^-|z|);   phi' = sigmoid(z),  phi'' = s (1 - s)
 *   tanh      phi' = 1 - a^2,              phi'' = -2 a (1 - a^2)
 *   erf       phi' = 2/sqrt(pi) e^{-z^2},  phi'' = -2 z phi'
 *   quadratic z^2, 2z, 2;  relu max(z, 0), [z > 0], 0;  identity z, 1, 0
 * with a = phi(z) passed in where the derivative is cheaper from it.
 */
#include "model/act_impl.h"

double lm_act_phi(lm_act act, double z) {
    return lm__act_phi(act, z);
}

double lm_act_dphi(lm_act act, double z, double a) {
    return lm__act_dphi(act, z, a);
}

double lm_act_d2phi(lm_act act, double z, double a) {
    return lm__act_d2phi(act, z, a);
}
