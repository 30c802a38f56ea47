/*
 * lmech/loss.h: losses on network outputs and their derivatives, and accuracy.
 *
 *   mse      L = (1/(2n))  sum_i ||f_i - y_i||^2   (sum over outputs, mean over examples;
 *                                                   Cohen et al.'s EoS convention)
 *   mse_mean L = (1/(2nk)) sum_i ||f_i - y_i||^2   (Neural Tangents' convention)
 *   ce       L = (1/n) sum_i -sum_j y_ij log softmax(f_i)_j   (y one-hot, or any distribution)
 *   mse_observed
 *            L = (1/(2m)) sum_{(i,j) observed} (f_ij - y_ij)^2, a NaN target y_ij meaning
 *            "unobserved" and m the number of observed targets in the batch (0 observed: L = 0,
 *            zero gradient). NaN targets contribute nothing to the value, the gradient or the
 *            Hessian. The matrix-completion loss of science.md §1(d) (Arora et al. 2019); on
 *            targets without NaN it equals mse_mean. Only the matrix-completion data source
 *            makes NaN targets (every file reader refuses them).
 *
 * Shapes: f, y, df [n, k] row-major. Sums over examples accumulate in double.
 */
#ifndef LMECH_LOSS_H
#define LMECH_LOSS_H

#include "lmech/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lm_loss {
    LM_LOSS_MSE = 0,
    LM_LOSS_MSE_MEAN,
    LM_LOSS_CE,
    LM_LOSS_MSE_OBSERVED
} lm_loss;

/* "mse", "mse_mean", "ce", "mse_observed" */
lm_status lm_loss_parse(const char *s, lm_loss *out, lm_err *err);
const char *lm_loss_name(lm_loss l);

/* *value = L(f, y); df (optional, overwritten) = dL/df. */
lm_status lm_loss_eval(lm_loss loss, const double *f, const double *y, size_t n, size_t k,
                       double *value, double *df, lm_err *err);
lm_status lm_loss_eval_f32(lm_loss loss, const float *f, const float *y, size_t n, size_t k,
                           double *value, float *df, lm_err *err);

/* The weight of a batch in a mean over batches: every loss is a mean over its normaliser, n
 * examples (mse, mse_mean, ce) or the observed targets (mse_observed), so the loss of a set cut
 * into chunks c is sum_c w_c L_c / sum_c w_c, and likewise its gradient. */
double lm_loss_weight(lm_loss loss, const double *y, size_t n, size_t k);
double lm_loss_weight_f32(lm_loss loss, const float *y, size_t n, size_t k);

/* Second-order R-operator of the loss: r (overwritten) = (d^2 L/df^2) rf, for rf [n, k]. y, the
 * targets [n, k], is read by mse_observed only (which entries are observed); the others may pass
 * NULL. */
void lm_loss_hess_apply(lm_loss loss, const double *f, const double *y, size_t n, size_t k,
                        const double *rf, double *r);

/* Accuracy: for k > 1 the fraction of rows whose argmax(f) equals argmax(y); for k = 1 the
 * fraction with sign(f) == sign(y) (+-1 and parity targets). */
double lm_accuracy(const double *f, const double *y, size_t n, size_t k);
double lm_accuracy_f32(const float *f, const float *y, size_t n, size_t k);

#ifdef __cplusplus
}
#endif
#endif
