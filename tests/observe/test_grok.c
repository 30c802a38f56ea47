/* test_grok.c: the grok observables (obs_grok.c) on Gromov's analytic solution of modular
 * addition (Gromov 2023, arXiv 2301.02679, eqs. for a 2-layer MLP with quadratic activation on
 * concatenated one-hots): hidden unit j with frequency k_j and phases (phi1, phi2) has
 *   W_1[j, a] = cos(2 pi k a / p + phi1),  W_1[j, p + b] = cos(2 pi k b / p + phi2),
 *   W_2[q, j] = cos(2 pi k q / p + phi1 + phi2).
 * With (x + y)^2 the output is sum_j of products of cosines; the term cos(2 pi k (a + b - q)/p)
 * carries no phase, every other term carries one of phi1 + phi2, phi1 - phi2, 2 phi1, 2 phi2,
 * 2 (phi1 + phi2), 3 phi1 + phi2, ... Taking, for each frequency, the 9 units with phases on the
 * grid {0, 2pi/3, 4pi/3}^2 averages all of those to zero exactly (their e^{i n phi} sums vanish
 * for n = 1, 2 mod 3... and n = 3 never pairs with q alone), leaving
 *   f_q(a, b) = (9/2) sum_k cos(2 pi k (a + b - q) / p),
 * which is largest exactly at q = a + b mod p for any nonempty set of frequencies (p prime: k
 * is invertible). So 5 frequencies give 100 % accuracy with embeddings that use only those 5:
 * fourier_sparsity = 1. Checked through the real forward pass (lm_mlp_forward).
 * Negative controls: all 15 frequencies (accuracy 100 %, sparsity 5/15, yet the per-unit
 * sparsity 1: each unit has one frequency), random weights
 * (sparsity well below 1), and the wrong output phase phi1 - phi2 (accuracy far below 100 %). */
#include "lm_test.h"

#include "lmech/model.h"
#include "observe/internal.h"

#define P  31
#define PI 3.14159265358979323846

/* Builds the network (quadratic, no biases, widths [2P, 9 nk, P]) with frequencies ks[0..nk);
 * wrong = 1 uses phi1 - phi2 in W_2. Returns the accuracy over all P^2 pairs; *sparsity and
 * *erank of W_1 through the observer's functions. */
static double gromov(const size_t *ks, size_t nk, int wrong, double *sparsity, double *unit) {
    lm_mlp_spec sp = lm_mlp_spec_default();
    sp.n_widths = 3;
    sp.widths[0] = 2 * P;
    sp.widths[1] = 9 * nk;
    sp.widths[2] = P;
    sp.act = LM_ACT_QUADRATIC;
    sp.bias = 0;
    lm_mlp *m;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&sp, &m, &err), LM_OK, "%s", err.msg);
    double *theta = calloc(m->n_params, sizeof *theta);
    const lm_layer_info *l1 = &m->layer[0], *l2 = &m->layer[1];
    const double tau = 2 * PI / P;
    size_t j = 0;
    for (size_t f = 0; f < nk; f++)
        for (int i1 = 0; i1 < 3; i1++)
            for (int i2 = 0; i2 < 3; i2++, j++) {
                const double k = (double) ks[f], p1 = 2 * PI * i1 / 3, p2 = 2 * PI * i2 / 3;
                for (size_t t = 0; t < P; t++) {
                    theta[l1->w_off + j * 2 * P + t] = cos(tau * k * (double) t + p1) / l1->w_mul;
                    theta[l1->w_off + j * 2 * P + P + t] =
                        cos(tau * k * (double) t + p2) / l1->w_mul;
                }
                for (size_t q = 0; q < P; q++)
                    theta[l2->w_off + q * l2->d_in + j] =
                        cos(tau * k * (double) q + (wrong ? p1 - p2 : p1 + p2)) / (l2->w_scale);
            }
    double *x = calloc(P * P * 2 * P, sizeof *x), *out = malloc(P * P * P * sizeof *out);
    for (size_t a = 0; a < P; a++)
        for (size_t b = 0; b < P; b++) {
            x[(a * P + b) * 2 * P + a] = 1;
            x[(a * P + b) * 2 * P + P + b] = 1;
        }
    lm_mlp_ws *ws;
    cr_assert_eq(lm_mlp_ws_new(m, P * P, LM_F64, &ws, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_forward(m, ws, theta, x, P * P, out, &err), LM_OK, "%s", err.msg);
    size_t right = 0;
    for (size_t a = 0; a < P; a++)
        for (size_t b = 0; b < P; b++) {
            const double *o = out + (a * P + b) * P;
            size_t best = 0;
            for (size_t q = 1; q < P; q++)
                if (o[q] > o[best])
                    best = q;
            right += best == (a + b) % P;
        }
    const lm__fourier_layout lay = {l1->d_out, 2, 2 * P, P, 1}; /* W_1 [hidden, 2P] */
    cr_assert_eq(lm__obs_fourier_sparsity(theta + l1->w_off, &lay, P, 5, sparsity, unit, &err),
                 LM_OK, "%s", err.msg);
    lm_mlp_ws_free(ws);
    free(x);
    free(out);
    free(theta);
    lm_mlp_free(m);
    return (double) right / (P * P);
}

Test(grok, gromov_solution_with_5_frequencies_is_exact_and_fourier_sparse) {
    const size_t ks[5] = {1, 4, 7, 11, 13};
    double sp, su;
    const double acc = gromov(ks, 5, 0, &sp, &su);
    cr_assert_eq(acc, 1.0, "accuracy %g", acc);
    cr_assert(fabs(sp - 1.0) < 1e-9, "fourier_sparsity %.15g", sp);
    cr_assert(fabs(su - 1.0) < 1e-9, "fourier_sparsity_unit %.15g", su);
}

Test(grok, all_frequencies_exact_but_not_sparse) {
    size_t ks[15];
    for (size_t k = 0; k < 15; k++)
        ks[k] = k + 1;
    double sp, su;
    cr_assert_eq(gromov(ks, 15, 0, &sp, &su), 1.0);
    /* equal power in each of the 15 frequencies: the top 5 hold a third; yet every unit has
     * one frequency, so the per-unit fraction is 1 */
    cr_assert(fabs(sp - 5.0 / 15.0) < 1e-9, "fourier_sparsity %.15g", sp);
    cr_assert(fabs(su - 1.0) < 1e-9, "fourier_sparsity_unit %.15g", su);
}

Test(grok, wrong_output_phase_fails) {
    const size_t ks[5] = {1, 4, 7, 11, 13};
    double sp, su;
    const double acc = gromov(ks, 5, 1, &sp, &su);
    cr_assert_lt(acc, 0.5, "accuracy %g with phi1 - phi2", acc);
    cr_assert(fabs(sp - 1.0) < 1e-9); /* W_1 unchanged */
}

Test(grok, random_weights_are_not_sparse_and_erank) {
    lm_rng g;
    lm_rng_seed(&g, 3, 0);
    const size_t h = 64;
    double *w = malloc(h * 2 * P * sizeof *w), sp, su;
    for (size_t i = 0; i < h * 2 * P; i++)
        w[i] = lm_rng_normal(&g);
    lm_err err = {0};
    const lm__fourier_layout lay = {h, 2, 2 * P, P, 1};
    cr_assert_eq(lm__obs_fourier_sparsity(w, &lay, P, 5, &sp, &su, &err), LM_OK, "%s", err.msg);
    /* 5 of 15 frequencies with chi-square fluctuations: near 1/3, far from 1; per unit the
     * fluctuations are larger (4 degrees of freedom per frequency), still far from 1 */
    cr_assert(sp > 0.3 && sp < 0.5, "random fourier_sparsity %g", sp);
    cr_assert(su > sp && su < 0.75, "random fourier_sparsity_unit %g", su);
    cr_assert_eq(lm__obs_fourier_sparsity(w, &lay, 1, 5, &sp, NULL, &err), LM_EINVAL);
    free(w);
    /* effective rank: k equal singular values give k; one nonzero gives 1 */
    const double s4[4] = {2, 2, 2, 2}, s1[3] = {5, 0, 0}, s0[2] = {0, 0};
    cr_assert_float_eq(lm__obs_effective_rank(s4, 4), 4.0, 1e-12);
    cr_assert_float_eq(lm__obs_effective_rank(s1, 3), 1.0, 1e-12);
    cr_assert(isnan(lm__obs_effective_rank(s0, 2)));
}

/* A token table tok_emb [V, d] (row t the embedding of token t, V = P + 1 with the "=" token in
 * the last row) read through the embedding layout {d, 1, 1, 0, d}: feature j carries
 * 0.4 + cos(2 pi k_{j mod 5} t / P + 0.7 j) (a DC offset, excluded, and one of 5 frequencies:
 * 3, 3, 2, 2, 2 features each), so the top 5 hold all the power (sparsity 1, per unit 1) whatever
 * the "=" row holds, and the top 3 hold 8/12 of it; the same numbers laid out as the MLP's
 * operand-0 columns of a [d, 2P] matrix (operand 1 zero) give the same fractions, so the two
 * layouts read one FFT. Negative control: random rows are not sparse. */
Test(grok, token_table_rows_are_read_along_the_token_axis) {
    const size_t d = 12, V = P + 1, ks[5] = {2, 3, 8, 9, 14};
    double *emb = calloc(V * d, sizeof *emb), *w1 = calloc(d * 2 * P, sizeof *w1);
    lm_rng g;
    lm_rng_seed(&g, 5, 0);
    for (size_t j = 0; j < d; j++) {
        emb[P * d + j] = 3.0 * lm_rng_normal(&g); /* the "=" row: not a residue, never read */
        for (size_t t = 0; t < P; t++) {
            const double v = 0.4 + cos(2 * PI * (double) (ks[j % 5] * t) / P + 0.7 * (double) j);
            emb[t * d + j] = v;
            w1[j * 2 * P + t] = v;
        }
    }
    const lm__fourier_layout le = {d, 1, 1, 0, d}, lw = {d, 2, 2 * P, P, 1};
    double sp, su, sw, suw;
    lm_err err = {0};
    cr_assert_eq(lm__obs_fourier_sparsity(emb, &le, P, 5, &sp, &su, &err), LM_OK, "%s", err.msg);
    cr_assert(fabs(sp - 1.0) < 1e-12, "embedding fourier_sparsity %.15g", sp);
    cr_assert(fabs(su - 1.0) < 1e-12, "embedding fourier_sparsity_unit %.15g", su);
    cr_assert_eq(lm__obs_fourier_sparsity(w1, &lw, P, 5, &sw, &suw, &err), LM_OK, "%s", err.msg);
    cr_assert(fabs(sw - sp) < 1e-12 && fabs(suw - su) < 1e-12, "%g %g vs %g %g", sw, suw, sp, su);
    /* the top 3 frequencies carry 3 + 3 + 2 of the 12 unit-amplitude features' power */
    cr_assert_eq(lm__obs_fourier_sparsity(emb, &le, P, 3, &sp, NULL, &err), LM_OK, "%s", err.msg);
    cr_assert(fabs(sp - 8.0 / 12.0) < 1e-12, "top-3 fraction %.15g", sp);
    for (size_t i = 0; i < V * d; i++)
        emb[i] = lm_rng_normal(&g);
    cr_assert_eq(lm__obs_fourier_sparsity(emb, &le, P, 5, &sp, &su, &err), LM_OK, "%s", err.msg);
    cr_assert(sp < 0.6 && su < 0.8, "random rows: %g, %g", sp, su);
    free(emb);
    free(w1);
}
