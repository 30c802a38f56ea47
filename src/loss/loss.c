/*
 * loss.c: mse, mse_mean, mse_observed and softmax cross-entropy, their first derivatives and the
 * R-operator of their second derivative, in float64 and float32 (sums over examples in double).
 * mse_observed skips NaN targets (unobserved entries, the matrix-completion source) in the
 * value, the gradient and the Hessian alike. The cross-entropy's exps go through vmath's vector
 * exp (model/internal.h).
 */
#include "lmech/loss.h"
#include "model/internal.h"

#include <math.h>
#include <string.h>

static const char *loss_names[] = {"mse", "mse_mean", "ce", "mse_observed"};

lm_status lm_loss_parse(const char *s, lm_loss *out, lm_err *err) {
    for (size_t i = 0; i <= LM_LOSS_MSE_OBSERVED; i++)
        if (strcmp(s, loss_names[i]) == 0) {
            *out = (lm_loss) i;
            return LM_OK;
        }
    LM_FAIL(err, LM_EINVAL, "unknown loss \"%s\" (mse, mse_mean, ce, mse_observed)", s);
}

const char *lm_loss_name(lm_loss l) {
    return (unsigned) l <= LM_LOSS_MSE_OBSERVED ? loss_names[l] : "unknown";
}

/* The number of observed (non-NaN) targets among y[0..cnt), written once for both dtypes. */
#define OBSERVED_COUNT(NAME, T)                                                                    \
    static double NAME(const T *y, size_t cnt) {                                                   \
        size_t m = 0;                                                                              \
        for (size_t i = 0; i < cnt; i++)                                                           \
            m += isnan((double) y[i]) ? 0u : 1u;                                                   \
        return (double) m;                                                                         \
    }

OBSERVED_COUNT(loss_f64_observed, double)
OBSERVED_COUNT(loss_f32_observed, float)

/* exp of a row of logits shifted by -c, CE_CHUNK at a time into a double buffer, through vmath's
 * vector exp (libmvec, 4 ulp of double; src/model/vmath.c): the float32 transformer's
 * cross-entropy over 32 x 64 rows of 256 logits spent ~4 % of a training step in scalar exp. */
#define CE_CHUNK 64

/* The loss kernel, written once for both dtypes. Cross-entropy per row i, with m the row's
 * maximum, s = sum_j exp(f_j - m) and ysum = sum_j y_j:
 *   L_i = ysum (m + log s) - sum_j y_j f_j = ysum log s - sum_j y_j (f_j - m),
 *   dL_i / df_j = ysum exp(f_j - m - log s) - y_j   (softmax times ysum, minus the target),
 * each divided by n. */
#define LOSS_KERNEL(NAME, T)                                                                       \
    static double NAME(lm_loss loss, const T *f, const T *y, size_t n, size_t k, T *df) {          \
        double total = 0.0;                                                                        \
        if (loss == LM_LOSS_CE) {                                                                  \
            const double inv_n = 1.0 / (double) n;                                                 \
            double e[CE_CHUNK];                                                                    \
            for (size_t i = 0; i < n; i++) {                                                       \
                const T *fi = f + i * k, *yi = y + i * k;                                          \
                double mx = (double) fi[0], se = 0.0, ysum = 0.0, yf = 0.0;                        \
                for (size_t j = 1; j < k; j++)                                                     \
                    mx = (double) fi[j] > mx ? (double) fi[j] : mx;                                \
                for (size_t j0 = 0; j0 < k; j0 += CE_CHUNK) {                                      \
                    const size_t c = k - j0 < CE_CHUNK ? k - j0 : CE_CHUNK;                        \
                    for (size_t j = 0; j < c; j++)                                                 \
                        e[j] = (double) fi[j0 + j] - mx;                                           \
                    lm__exp_f64(e, e, c);                                                          \
                    for (size_t j = 0; j < c; j++)                                                 \
                        se += e[j];                                                                \
                }                                                                                  \
                for (size_t j = 0; j < k; j++) {                                                   \
                    ysum += (double) yi[j];                                                        \
                    yf += (double) yi[j] * ((double) fi[j] - mx);                                  \
                }                                                                                  \
                const double lse = log(se);                                                        \
                total += ysum * lse - yf;                                                          \
                if (df)                                                                            \
                    for (size_t j0 = 0; j0 < k; j0 += CE_CHUNK) {                                  \
                        const size_t c = k - j0 < CE_CHUNK ? k - j0 : CE_CHUNK;                    \
                        for (size_t j = 0; j < c; j++)                                             \
                            e[j] = (double) fi[j0 + j] - mx - lse;                                 \
                        lm__exp_f64(e, e, c);                                                      \
                        for (size_t j = 0; j < c; j++)                                             \
                            df[i * k + j0 + j] =                                                   \
                                (T) (inv_n * (ysum * e[j] - (double) yi[j0 + j]));                 \
                    }                                                                              \
            }                                                                                      \
            return total * inv_n;                                                                  \
        }                                                                                          \
        if (loss == LM_LOSS_MSE_OBSERVED) {                                                        \
            const double m = NAME##_observed(y, n * k);                                            \
            const double inv_m = m > 0 ? 1.0 / m : 0.0;                                            \
            for (size_t i = 0; i < n * k; i++) {                                                   \
                const double r = isnan((double) y[i]) ? 0.0 : (double) f[i] - (double) y[i];       \
                total += r * r;                                                                    \
                if (df)                                                                            \
                    df[i] = (T) (inv_m * r);                                                       \
            }                                                                                      \
            return 0.5 * inv_m * total;                                                            \
        }                                                                                          \
        const double scale =                                                                       \
            loss == LM_LOSS_MSE ? 1.0 / (double) n : 1.0 / ((double) n * (double) k);              \
        for (size_t i = 0; i < n * k; i++) {                                                       \
            const double r = (double) f[i] - (double) y[i];                                        \
            total += r * r;                                                                        \
            if (df)                                                                                \
                df[i] = (T) (scale * r);                                                           \
        }                                                                                          \
        return 0.5 * scale * total;                                                                \
    }

LOSS_KERNEL(loss_f64, double)
LOSS_KERNEL(loss_f32, float)

static lm_status check_args(lm_loss loss, size_t n, size_t k, lm_err *err) {
    if ((unsigned) loss > LM_LOSS_MSE_OBSERVED)
        LM_FAIL(err, LM_EINVAL, "invalid loss enum %d", (int) loss);
    if (n == 0 || k == 0)
        LM_FAIL(err, LM_ESHAPE, "loss on an empty batch (n = %zu, k = %zu)", n, k);
    return LM_OK;
}

lm_status lm_loss_eval(lm_loss loss, const double *f, const double *y, size_t n, size_t k,
                       double *value, double *df, lm_err *err) {
    LM_TRY(check_args(loss, n, k, err));
    *value = loss_f64(loss, f, y, n, k, df);
    return LM_OK;
}

lm_status lm_loss_eval_f32(lm_loss loss, const float *f, const float *y, size_t n, size_t k,
                           double *value, float *df, lm_err *err) {
    LM_TRY(check_args(loss, n, k, err));
    *value = loss_f32(loss, f, y, n, k, df);
    return LM_OK;
}

double lm_loss_weight(lm_loss loss, const double *y, size_t n, size_t k) {
    return loss == LM_LOSS_MSE_OBSERVED ? loss_f64_observed(y, n * k) : (double) n;
}

double lm_loss_weight_f32(lm_loss loss, const float *y, size_t n, size_t k) {
    return loss == LM_LOSS_MSE_OBSERVED ? loss_f32_observed(y, n * k) : (double) n;
}

void lm_loss_hess_apply(lm_loss loss, const double *f, const double *y, size_t n, size_t k,
                        const double *rf, double *r) {
    if (loss == LM_LOSS_MSE_OBSERVED) {
        const double m = loss_f64_observed(y, n * k), inv_m = m > 0 ? 1.0 / m : 0.0;
        for (size_t i = 0; i < n * k; i++)
            r[i] = isnan(y[i]) ? 0.0 : inv_m * rf[i];
        return;
    }
    if (loss != LM_LOSS_CE) {
        const double scale =
            loss == LM_LOSS_MSE ? 1.0 / (double) n : 1.0 / ((double) n * (double) k);
        for (size_t i = 0; i < n * k; i++)
            r[i] = scale * rf[i];
        return;
    }
    /* CE with targets summing to 1: d^2 L / df^2 = (1/n) (diag(p) - p p^T) per example.
     * (For targets summing to s the Hessian is s times this; training targets are one-hot.) */
    /* p_j = exp(f_j - m) / s as in the loss kernel, CE_CHUNK exps at a time, recomputed in each
     * of the three passes (sum s, pr = p . rf, the product) so that r may alias rf. */
    const double inv_n = 1.0 / (double) n;
    double e[CE_CHUNK];
    for (size_t i = 0; i < n; i++) {
        const double *fi = f + i * k, *ri = rf + i * k;
        double mx = fi[0], se = 0.0, pr = 0.0;
        for (size_t j = 1; j < k; j++)
            mx = fi[j] > mx ? fi[j] : mx;
        for (int pass = 0; pass < 3; pass++)
            for (size_t j0 = 0; j0 < k; j0 += CE_CHUNK) {
                const size_t c = k - j0 < CE_CHUNK ? k - j0 : CE_CHUNK;
                for (size_t j = 0; j < c; j++)
                    e[j] = fi[j0 + j] - mx;
                lm__exp_f64(e, e, c);
                if (pass == 0)
                    for (size_t j = 0; j < c; j++)
                        se += e[j];
                else if (pass == 1)
                    for (size_t j = 0; j < c; j++)
                        pr += e[j] / se * ri[j0 + j];
                else
                    for (size_t j = 0; j < c; j++)
                        r[i * k + j0 + j] = inv_n * e[j] / se * (ri[j0 + j] - pr);
            }
    }
}

#define ACC_KERNEL(NAME, T)                                                                        \
    double NAME(const T *f, const T *y, size_t n, size_t k) {                                      \
        if (n == 0)                                                                                \
            return LM_NAN;                                                                         \
        size_t hits = 0;                                                                           \
        for (size_t i = 0; i < n; i++) {                                                           \
            const T *fi = f + i * k, *yi = y + i * k;                                              \
            if (k == 1) {                                                                          \
                hits += (fi[0] > 0) == (yi[0] > 0);                                                \
                continue;                                                                          \
            }                                                                                      \
            size_t af = 0, ay = 0;                                                                 \
            for (size_t j = 1; j < k; j++) {                                                       \
                if (fi[j] > fi[af])                                                                \
                    af = j;                                                                        \
                if (yi[j] > yi[ay])                                                                \
                    ay = j;                                                                        \
            }                                                                                      \
            hits += af == ay;                                                                      \
        }                                                                                          \
        return (double) hits / (double) n;                                                         \
    }

ACC_KERNEL(lm_accuracy, double)
ACC_KERNEL(lm_accuracy_f32, float)
