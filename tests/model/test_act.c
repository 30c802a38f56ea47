/*
 * Tests for src/model/act.c, the one definition of every activation: phi' and phi'' against
 * central finite differences of phi and phi' (h = 1e-5: truncation ~h^2 |phi'''| / 6 ~ 1e-11,
 * rounding ~eps / h ~ 1e-11, so 1e-7 relative leaves four orders of margin); finite values at
 * |z| = 800, where the naive sigmoid, softplus and GELU forms overflow or cancel; and the model's
 * forward pass (with its own relu and tanh loops) equal to lm_act_phi layer by layer for every
 * activation, in float64; and the float32 loops (with their own relu, tanh and GELU kernels)
 * giving the float64 outputs and gradient to float32 precision for every activation.
 */
#include "lm_test.h"
#include "lmech/model.h"

#include <math.h>
#include <string.h>

static const lm_act ACTS[] = {LM_ACT_IDENTITY, LM_ACT_RELU,    LM_ACT_TANH,     LM_ACT_ERF,
                              LM_ACT_GELU,     LM_ACT_SIGMOID, LM_ACT_SOFTPLUS, LM_ACT_QUADRATIC};
#define N_ACTS (sizeof ACTS / sizeof *ACTS)

Test(act, derivatives_against_finite_differences) {
    const double h = 1e-5;
    for (size_t k = 0; k < N_ACTS; k++) {
        const lm_act a = ACTS[k];
        for (double z = -3.1; z < 3.2; z += 0.37) { /* never within h of relu's kink */
            const double d1 = lm_act_dphi(a, z, lm_act_phi(a, z));
            const double fd1 = (lm_act_phi(a, z + h) - lm_act_phi(a, z - h)) / (2 * h);
            cr_assert(fabs(d1 - fd1) <= 1e-7 * fmax(1.0, fabs(d1)), "%s phi'(%g) = %.12g, fd %.12g",
                      lm_act_name(a), z, d1, fd1);
            const double d2 = lm_act_d2phi(a, z, lm_act_phi(a, z));
            const double fd2 = (lm_act_dphi(a, z + h, lm_act_phi(a, z + h)) -
                                lm_act_dphi(a, z - h, lm_act_phi(a, z - h))) /
                               (2 * h);
            cr_assert(fabs(d2 - fd2) <= 1e-7 * fmax(1.0, fabs(d2)),
                      "%s phi''(%g) = %.12g, fd %.12g", lm_act_name(a), z, d2, fd2);
        }
    }
}

Test(act, finite_far_out) {
    for (size_t k = 0; k < N_ACTS; k++)
        for (double z = -800; z <= 800; z += 1600) {
            const double p = lm_act_phi(ACTS[k], z);
            cr_assert(isfinite(p) && isfinite(lm_act_dphi(ACTS[k], z, p)) &&
                          isfinite(lm_act_d2phi(ACTS[k], z, p)),
                      "%s at %g", lm_act_name(ACTS[k]), z);
        }
    cr_assert_eq(lm_act_phi(LM_ACT_GELU, -40), 0.0);     /* -40 Phi(-40) underflows to 0 */
    cr_assert_eq(lm_act_phi(LM_ACT_SIGMOID, -800), 0.0); /* not NaN */
    cr_assert_eq(lm_act_phi(LM_ACT_SOFTPLUS, 800), 800.0);
    /* GELU's erfc form keeps relative accuracy where 1 + erf(z / sqrt 2) cancels: at z = -8,
     * z Phi(z) = -8 * 6.22096057427178e-16 */
    cr_assert(fabs(lm_act_phi(LM_ACT_GELU, -8) / (-8 * 6.22096057427178e-16) - 1) < 1e-12);
}

/* The forward pass's hidden activations equal lm_act_phi of its pre-activations, recomputed
 * here from the first layer: a 1-hidden-layer net, h = phi(W x + b). */
Test(act, forward_pass_uses_the_definition) {
    for (size_t k = 0; k < N_ACTS; k++) {
        lm_mlp_spec s = lm_mlp_spec_default();
        s.n_widths = 3;
        s.widths[0] = 5, s.widths[1] = 7, s.widths[2] = 2;
        s.act = ACTS[k];
        s.sb2 = 0.5;
        lm_mlp *m;
        lm_mlp_ws *ws;
        lm_err err = {0};
        cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s", err.msg);
        cr_assert_eq(lm_mlp_ws_new(m, 4, LM_F64, &ws, &err), LM_OK, "%s", err.msg);
        double *theta = malloc(m->n_params * sizeof *theta), x[20], h[28];
        cr_assert_eq(lm_mlp_init(m, 3, theta, &err), LM_OK, "%s", err.msg);
        for (size_t i = 0; i < 20; i++)
            x[i] = 2.5 * sin(1.7 * (double) i + 0.3);
        cr_assert_eq(lm_mlp_features(m, ws, theta, x, 4, 1, h, &err), LM_OK, "%s", err.msg);
        const lm_layer_info *li = &m->layer[0];
        for (size_t i = 0; i < 4; i++)
            for (size_t j = 0; j < 7; j++) {
                double z = li->b_scale * theta[li->b_off + j];
                for (size_t c = 0; c < 5; c++)
                    z += li->w_scale * theta[li->w_off + j * 5 + c] * x[i * 5 + c];
                const double want = lm_act_phi(ACTS[k], z), got = h[i * 7 + j];
                cr_assert(fabs(got - want) <= 1e-14 * fmax(1.0, fabs(want)), "%s: %.17g vs %.17g",
                          lm_act_name(ACTS[k]), got, want);
            }
        free(theta);
        lm_mlp_ws_free(ws);
        lm_mlp_free(m);
    }
}

/* lm_mlp_features_layers (one forward pass, several layers) gives bitwise what lm_mlp_features
 * gives layer by layer, across workspace chunks (n = 7 rows, a workspace of 3). */
Test(act, features_layers_equal_one_at_a_time) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = 4;
    s.widths[0] = 4, s.widths[1] = 6, s.widths[2] = 5, s.widths[3] = 3;
    s.act = LM_ACT_TANH;
    lm_mlp *m;
    lm_mlp_ws *ws;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_ws_new(m, 3, LM_F64, &ws, &err), LM_OK, "%s", err.msg);
    double *theta = malloc(m->n_params * sizeof *theta), x[28];
    cr_assert_eq(lm_mlp_init(m, 1, theta, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < 28; i++)
        x[i] = cos(0.9 * (double) i);
    double all[4][7 * 6], one[7 * 6];
    double *h[4] = {all[0], all[1], NULL, all[3]}; /* layer 2 skipped */
    cr_assert_eq(lm_mlp_features_layers(m, ws, theta, x, 7, h, &err), LM_OK, "%s", err.msg);
    for (size_t l = 0; l < 4; l++) {
        if (!h[l])
            continue;
        cr_assert_eq(lm_mlp_features(m, ws, theta, x, 7, l, one, &err), LM_OK, "%s", err.msg);
        cr_assert_eq(memcmp(one, h[l], 7 * lm_mlp_layer_width(m, l) * sizeof(double)), 0,
                     "layer %zu", l);
    }
    free(theta);
    lm_mlp_ws_free(ws);
    lm_mlp_free(m);
}

/* The float32 forward and backward loops (relu, tanh, GELU have their own: vmath's vector
 * kernels) against the float64 path on the same float-rounded parameters and inputs, for every
 * activation: outputs to 1e-5 and the gradient to 1e-4 relative (float32 GEMM sums of ~10 terms,
 * ~1e-6; a wrong phi or phi' in a float32 loop is off by O(1)). 9 examples: the kernels' tails. */
Test(act, float32_loops_match_float64) {
    enum { N = 9, DI = 5, DH = 11, DO = 3 };
    for (size_t k = 0; k < N_ACTS; k++) {
        lm_mlp_spec s = lm_mlp_spec_default();
        s.n_widths = 3;
        s.widths[0] = DI, s.widths[1] = DH, s.widths[2] = DO;
        s.act = ACTS[k];
        s.sb2 = 0.5;
        lm_mlp *m;
        lm_mlp_ws *ws, *ws32;
        lm_err err = {0};
        cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s", err.msg);
        cr_assert_eq(lm_mlp_ws_new(m, N, LM_F64, &ws, &err), LM_OK, "%s", err.msg);
        cr_assert_eq(lm_mlp_ws_new(m, N, LM_F32, &ws32, &err), LM_OK, "%s", err.msg);
        const size_t p = m->n_params;
        double *th = malloc(p * sizeof *th), *g = malloc(p * sizeof *g), x[N * DI], y[N * DO];
        double f[N * DO];
        float *th32 = malloc(p * sizeof *th32), *g32 = malloc(p * sizeof *g32), x32[N * DI];
        float y32[N * DO], f32[N * DO];
        cr_assert_eq(lm_mlp_init(m, 4, th, &err), LM_OK, "%s", err.msg);
        for (size_t i = 0; i < p; i++) /* float-rounded parameters in both paths */
            th[i] = (double) (th32[i] = (float) (2.0 * th[i]));
        for (size_t i = 0; i < N * DI; i++)
            x[i] = (double) (x32[i] = (float) (2.5 * sin(1.3 * (double) i + 0.2)));
        for (size_t i = 0; i < N * DO; i++)
            y[i] = (double) (y32[i] = (float) cos(0.7 * (double) i));
        double l64, l32;
        cr_assert_eq(lm_mlp_loss_grad(m, ws, LM_LOSS_MSE, th, x, y, N, &l64, g, f, &err), LM_OK,
                     "%s", err.msg);
        cr_assert_eq(
            lm_mlp_loss_grad_f32(m, ws32, LM_LOSS_MSE, th32, x32, y32, N, &l32, g32, f32, &err),
            LM_OK, "%s", err.msg);
        for (size_t i = 0; i < N * DO; i++)
            cr_assert(lm_close((double) f32[i], f[i], 1e-5, 1e-6), "%s: f[%zu] %.9g vs %.9g",
                      lm_act_name(ACTS[k]), i, (double) f32[i], f[i]);
        double num = 0, den = 0;
        for (size_t i = 0; i < p; i++) {
            num += ((double) g32[i] - g[i]) * ((double) g32[i] - g[i]);
            den += g[i] * g[i];
        }
        cr_assert(sqrt(num / den) < 1e-4, "%s: float32 gradient rel err %g", lm_act_name(ACTS[k]),
                  sqrt(num / den));
        free(th), free(g), free(th32), free(g32);
        lm_mlp_ws_free(ws);
        lm_mlp_ws_free(ws32);
        lm_mlp_free(m);
    }
}
