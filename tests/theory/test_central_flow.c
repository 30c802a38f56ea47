/*
 * Tests for src/theory/central_flow.c against models whose central flow is known in closed form.
 *
 * 1. A quadratic, L(w) = 1/2 sum_i lam_i (w_i - w*_i)^2: a linear network f(x) = W x (widths
 *    [3, 1], no bias) on the rows x_i = sqrt(n lam_i) e_i with targets y_i = sqrt(n lam_i) w*_i
 *    under lmech's mse (1/(2n)) sum ||f - y||^2. H = diag(lam) is constant, so S = lam_max and
 *    grad S = 0; with lam_max < 2/eta the flow never reaches the edge and is plain gradient flow,
 *    w_i(t) - w*_i = e^{-eta lam_i t} (w_i(0) - w*_i), integrated by one Euler step per GD step:
 *    w_i(t) - w*_i = (1 - eta lam_i)^t (w_i(0) - w*_i) exactly.
 *
 * 2. A loss whose top eigenvalue depends on w, with a projection that removes one part of the
 *    gradient and keeps another: two independent deep-linear modes. f(x) = W2 W1 x with 2x2
 *    matrices (widths [2, 2, 2], identity, no bias), the rows x_j = sqrt(2) e_j, targets
 *    y_j = sqrt(2) m_j e_j, so L = 1/2 ||W2 W1 - diag(m1, m2)||_F^2. Diagonal, balanced
 *    parameters W1 = diag(a1, a2), W2 = diag(c1, c2), a_i = c_i, stay so under the flow (the
 *    off-diagonal gradient is zero there, and so is grad S's: S is even in them).
 *    On mode i (u_i = a_i^2): L_i = 1/2 (a_i c_i - m_i)^2, with Hessian [[c^2, 2ac - m],
 *    [2ac - m, a^2]]; at a = c its eigenvalues are a^2 +- (2a^2 - m), so for 2a^2 > m the top is
 *    S_i = 3 u_i - m_i along (1, 1)/sqrt 2. By first-order perturbation,
 *    dS/da = v^T (dH/da) v = (0 + 4c + 2a)/2 = 3a, likewise dS/dc: grad S = 3a (1, 1) on mode 1,
 *    zero elsewhere; grad L = (u - m) a (1, 1) on each mode. The off-diagonal parameters
 *    (W1_12, W2_12, W1_21, W2_21) have the Hessian block of offdiag_top below (the Gauss-Newton
 *    part of P_12 = c1 W1_12 + a2 W2_12 and P_21 = a1 W2_21 + c2 W1_21, and the residual terms of
 *    P_11 and P_22), whose eigenvalues stay below u1 + u2 + |u1 - m1| + |u2 - m2| < 2/eta for
 *    the numbers below; S is the largest of S_1, S_2 and that block's top. Hence:
 *      - before the edge, each mode follows the Euler map a <- a - eta (a^2 - m) a;
 *      - once S_1 >= 2/eta, grad L's mode-1 part is parallel to grad S and is projected away:
 *        sigma^2 = -2 <grad S, grad L> / |grad S|^2 = 2 (m1 - u1) / 3, and mode 1 is held at the
 *        edge 3 u1 - m1 = 2/eta, u1* = (m1 + 2/eta) / 3 (the Newton step along grad S is exact
 *        Newton on 3 u - m = 2/eta, and the central difference for grad S is exact for the cubic
 *        grad L), while mode 2, orthogonal to grad S, keeps following its Euler map;
 *      - L_bar = L + sigma^2 / eta = 1/2 (u1* - m1)^2 + 1/2 (u2 - m2)^2 + 2 (m1 - u1*) / (3 eta).
 */
#include "lm_test.h"
#include "lmech/theory.h"

#include <lapacke.h>
#include <string.h>

static lm_mlp *linear_net(size_t n_widths, const size_t *w) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = n_widths;
    for (size_t i = 0; i < n_widths; i++)
        s.widths[i] = w[i];
    s.act = LM_ACT_IDENTITY;
    s.bias = 0;
    lm_mlp *m = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s", err.msg);
    for (size_t l = 0; l < m->n_layers; l++)
        cr_assert_eq(m->layer[l].w_scale, 1.0, "the closed forms assume unscaled weights");
    return m;
}

Test(central_flow, quadratic_is_gradient_flow) {
    const double lam[3] = {4.0, 1.5, 0.25}, ws[3] = {0.5, -1.0, 2.0}, w0[3] = {1.0, 1.0, -1.0};
    const double eta = 0.1; /* 2/eta = 20 > lam_max: never on the edge */
    const size_t T = 60, n = 3;
    double x[9] = {0}, y[3];
    for (size_t i = 0; i < n; i++) {
        x[i * 3 + i] = sqrt((double) n * lam[i]);
        y[i] = sqrt((double) n * lam[i]) * ws[i];
    }
    lm_dataset d = {.n = n, .d = 3, .k = 1, .x = x, .y = y};
    lm_mlp *m = linear_net(2, (size_t[]){3, 1});
    double w[3];
    lm_cf_trace tr;
    lm_err err = {0};
    cr_assert_eq(lm_central_flow(m, LM_LOSS_MSE, &d, w0, eta, T, w, &tr, &err), LM_OK, "%s",
                 err.msg);
    cr_assert_eq(tr.n, T + 1);
    cr_assert_eq(tr.active_from, -1);
    for (size_t t = 0; t <= T; t++) {
        double L = 0;
        for (size_t i = 0; i < 3; i++) {
            const double e = pow(1.0 - eta * lam[i], (double) t) * (w0[i] - ws[i]);
            L += 0.5 * lam[i] * e * e;
        }
        cr_assert(lm_close(tr.loss[t], L, 1e-11, 1e-300), "t=%zu: L %.17g, closed form %.17g", t,
                  tr.loss[t], L);
        cr_assert(lm_close(tr.sharp[t], lam[0], 1e-10, 0), "t=%zu: S %.17g", t, tr.sharp[t]);
        cr_assert_eq(tr.sigma2[t], 0.0);
        cr_assert_eq(tr.lbar[t], tr.loss[t]);
    }
    for (size_t i = 0; i < 3; i++) {
        const double e = pow(1.0 - eta * lam[i], (double) T) * (w0[i] - ws[i]);
        cr_assert(lm_close(w[i] - ws[i], e, 1e-11, 1e-3), "w_%zu: %.17g, closed form %.17g", i,
                  w[i] - ws[i], e);
        /* and the continuous flow e^{-eta lam t}: the Euler map's error, t (eta lam)^2 / 2
         * relative, is 0.048 for lam = 4 at t = 60 */
        const double c = exp(-eta * lam[i] * (double) T) * (w0[i] - ws[i]);
        cr_assert(fabs(w[i] - ws[i] - c) <= 0.05 * fabs(c) + 1e-3, "w_%zu vs the flow", i);
    }
    lm_cf_trace_free(&tr);
    lm_mlp_free(m);
    LM_CHECK_LEAKS();
}

/* the top eigenvalue of the off-diagonal parameters' Hessian block at a balanced diagonal point */
static double offdiag_top(double a1, double a2, double m1, double m2) {
    const double r1 = a1 * a1 - m1, r2 = a2 * a2 - m2;
    double h[16] = {a1 * a1, a1 * a2, 0,       r2,      a1 * a2, a2 * a2, r1,      0,
                    0,       r1,      a2 * a2, a2 * a1, r2,      0,       a2 * a1, a1 * a1};
    double ev[4];
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', 4, h, 4, ev), 0);
    return ev[3];
}

/* the Euler map of one balanced mode */
static double mode_step(double a, double m, double eta) {
    return a - eta * (a * a - m) * a;
}

Test(central_flow, two_modes_projected_at_the_edge) {
    const double m1 = 1.0, m2 = 0.25, eta = 1.05, edge = 2.0 / eta;
    const double u1s = (m1 + edge) / 3.0; /* mode 1 held at 3 u - m1 = 2/eta */
    const size_t T = 40;
    double x[4] = {sqrt(2.0), 0, 0, sqrt(2.0)}, y[4] = {sqrt(2.0) * m1, 0, 0, sqrt(2.0) * m2};
    lm_dataset d = {.n = 2, .d = 2, .k = 2, .x = x, .y = y};
    lm_mlp *m = linear_net(3, (size_t[]){2, 2, 2});
    cr_assert_eq(m->n_params, 8u);
    const size_t o1 = m->layer[0].w_off, o2 = m->layer[1].w_off;
    double w0[8] = {0};
    /* diagonal entries are 0 and 3 whether W is stored by rows or by columns */
    w0[o1] = w0[o2] = sqrt(0.7);         /* u1(0) = 0.7 */
    w0[o1 + 3] = w0[o2 + 3] = sqrt(0.2); /* u2(0) = 0.2 */
    double w[8];
    lm_cf_trace tr;
    lm_err err = {0};
    cr_assert_eq(lm_central_flow(m, LM_LOSS_MSE, &d, w0, eta, T, w, &tr, &err), LM_OK, "%s",
                 err.msg);
    cr_assert_eq(tr.n, T + 1);
    /* before the edge: both modes on their Euler maps */
    double a1 = sqrt(0.7), a2 = sqrt(0.2);
    long first = -1;
    for (size_t t = 0; t <= T; t++) {
        const double u1 = a1 * a1, u2 = a2 * a2, S1 = u1 + fabs(2 * u1 - m1);
        const double S = fmax(fmax(S1, u2 + fabs(2 * u2 - m2)), offdiag_top(a1, a2, m1, m2));
        if (first < 0 && S1 >= edge)
            first = (long) t;
        if (first < 0) {
            const double L = 0.5 * (u1 - m1) * (u1 - m1) + 0.5 * (u2 - m2) * (u2 - m2);
            cr_assert(lm_close(tr.loss[t], L, 1e-12, 0), "t=%zu: L %.17g, Euler map %.17g", t,
                      tr.loss[t], L);
            cr_assert(lm_close(tr.sharp[t], S, 1e-9, 0), "t=%zu: S %.17g, closed form %.17g", t,
                      tr.sharp[t], S);
            cr_assert_eq(tr.sigma2[t], 0.0);
            a1 = mode_step(a1, m1, eta);
        }
        a2 = mode_step(a2, m2, eta);
    }
    /* S_1 = 1.1 is the top at step 0 and 2.63 at step 1. (Starting lower is no test: the top
     * eigenvector would switch from another invariant subspace of this symmetric model, the
     * antisymmetric direction of mode 1 or the off-diagonal block, to mode 1's symmetric one, and
     * Lanczos warm-started from the old eigenvector cannot leave its invariant subspace.) */
    cr_assert_eq(first, 1);
    cr_assert_eq(tr.active_from, first, "active from %ld, S_1 reaches 2/eta at %ld", tr.active_from,
                 first);
    /* on the edge: mode 1 held at u1*, mode 2 on its Euler map (a2 is now a2(T)) */
    const double u2 = a2 * a2;
    for (size_t i = 0; i < 8; i++) {
        const double want = i == o1 || i == o2 ? sqrt(u1s) : i == o1 + 3 || i == o2 + 3 ? a2 : 0;
        cr_assert(lm_close(w[i], want, 1e-10, 1e-2), "w[%zu] = %.17g, closed form %.17g", i, w[i],
                  want);
    }
    const double s2 = 2.0 * (m1 - u1s) / 3.0;
    const double lbar = 0.5 * (u1s - m1) * (u1s - m1) + 0.5 * (u2 - m2) * (u2 - m2) + s2 / eta;
    cr_assert(lm_close(tr.sharp[T], edge, 1e-9, 0), "S(T) = %.17g, 2/eta = %.17g", tr.sharp[T],
              edge);
    cr_assert(lm_close(tr.sigma2[T], s2, 1e-8, 0), "sigma^2 %.17g, closed form %.17g", tr.sigma2[T],
              s2);
    cr_assert(lm_close(tr.lbar[T], lbar, 1e-9, 0), "L_bar %.17g, closed form %.17g", tr.lbar[T],
              lbar);
    lm_cf_trace_free(&tr);
    lm_mlp_free(m);
    LM_CHECK_LEAKS();
}
