/*
 * lmech/theory.h: the theory's predictions as code. First: the one-eigenvalue central flow of
 * gradient descent at the edge of stability (Cohen, Damian, Talwalkar, Kolter, Lee, ICLR 2025,
 * arXiv 2410.24206; science.md §4).
 *
 * Central flow with one critical eigenvalue (S = lambda_max(H), u its unit eigenvector):
 *   while S < 2/eta:   dw/dt = -eta grad L                      (gradient flow)
 *   once S = 2/eta:    dw/dt = -eta (grad L + (sigma^2 / 2) grad S),
 *                      sigma^2 = max(0, -2 <grad S, grad L> / ||grad S||^2),
 * i.e. the gradient projected orthogonally to grad S, so S stays at 2/eta. It predicts GD's
 * time-averaged loss L_bar = L(w) + sigma^2 / eta (the oscillation along u of variance sigma^2
 * costs (1/2) sigma^2 S = sigma^2 / eta). grad S = d^2/de^2 grad L(w + e u) at e = 0, taken by the
 * central difference (grad L(w + e u) + grad L(w - e u) - 2 grad L(w)) / e^2 with e = 1e-3.
 * The one-eigenvalue reduction and L_bar are derived in science.md, not taken from the paper's
 * code (which solves a semidefinite complementarity problem over several eigenvalues with cvxpy).
 */
#ifndef LMECH_THEORY_H
#define LMECH_THEORY_H

#include "lmech/data.h"
#include "lmech/loss.h"
#include "lmech/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lm_cf_trace {
    size_t n;         /* steps recorded (= steps + 1, from step 0)                       */
    double *loss;     /* [n] L(w_t) along the flow                                         */
    double *lbar;     /* [n] predicted time-averaged GD loss L + sigma^2 / eta             */
    double *sigma2;   /* [n] sigma^2 (0 before the edge)                                   */
    double *sharp;    /* [n] S(w_t)                                                        */
    long active_from; /* first step on the edge (S reached 2/eta), -1 if never           */
} lm_cf_trace;

/* Integrates the central flow for `steps` steps of flow time eta each (Euler, one step per GD
 * step, with a Newton correction along grad S that holds S at 2/eta against the Euler drift),
 * from theta0 (not modified) on the full training set. theta_out [p] receives the final point.
 * The trace arrays are allocated here (lm_cf_trace_free). */
lm_status lm_central_flow(const lm_mlp *m, lm_loss loss, const lm_dataset *train,
                          const double *theta0, double eta, size_t steps, double *theta_out,
                          lm_cf_trace *trace, lm_err *err);
void lm_cf_trace_free(lm_cf_trace *t);

#ifdef __cplusplus
}
#endif
#endif
