/*
 * Tests for src/observe/obs_features.c through lm_train_run: the probe-batch features
 * (act_rms.l, act_delta_rms.l, fchange.l) against an independent plain-loop forward pass, their
 * values at step 0, the interval (probe_every), the probe size, and the distance to the
 * linearised model: exactly 0 (up to rounding) for a one-layer (linear-in-theta) model, clearly
 * non-zero for a deep linear network, whose output is not linear in its parameters.
 */
#include "lmech/config.h"
#include "lmech/data.h"
#include "lmech/train.h"
#include "train_helpers.h"

#include <string.h>

/* 8 inputs, 2 outputs, 200 examples; the probe batch is the first 50 */
static const char *TEACHER =
    "{\"seed\": 3, \"data\": {\"source\": \"teacher\", \"dim\": 8, \"outputs\": 2, "
    "\"teacher_width\": 16, \"train_size\": 200, \"test_size\": 0}, "
    "\"model\": {\"widths\": [8, 12, 12, 2], \"activation\": \"tanh\"}, \"loss\": \"mse\", "
    "\"optimizer\": {\"name\": \"sgd\", \"lr\": 0.3}, \"steps\": 40, \"eval_every\": 20, "
    "\"probe_every\": 10, \"probe_size\": 50, \"threads\": 1}";

/* The value of metric name at step; fails the test when it was not recorded. */
static double get(const metrics *m, int64_t step, const char *name) {
    cr_assert(metrics_has(m, step, name), "metric %s at step %lld not recorded", name,
              (long long) step);
    return metrics_get(m, step, name);
}

/* Trains cfg with a temporary store and returns its metrics (heap) and final theta (heap). */
static metrics *train(const lm_config *c, double **theta_final, size_t p) {
    char db[256];
    lm_tmp_path(db, sizeof db, "features.db");
    unlink(db);
    lm_store *s;
    lm_err err = {0};
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    lm_train_opts o = {0};
    o.store = s;
    if (theta_final) {
        *theta_final = malloc(p * sizeof(double));
        o.theta_final = *theta_final;
    }
    lm_train_result r;
    cr_assert_eq(lm_train_run(c, &o, &r, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(r.status, LM_RUN_FINISHED, "%s", r.message);
    metrics *m = calloc(1, sizeof *m);
    cr_assert_eq(lm_store_get_metrics(s, r.run_id, metrics_collect, m, &err), LM_OK, "%s", err.msg);
    lm_store_close(s);
    unlink(db);
    return m;
}

/* Plain-loop forward pass of a tanh MLP with biases in sp (multipliers 1): every layer's
 * post-activations of the n examples x, output last, into h[l] [n, widths[l+1]]. */
static void ref_forward(const lm_mlp *mlp, const double *theta, const double *x, size_t n,
                        double **h) {
    for (size_t l = 0; l < mlp->n_layers; l++) {
        const lm_layer_info *li = &mlp->layer[l];
        for (size_t i = 0; i < n; i++)
            for (size_t o = 0; o < li->d_out; o++) {
                double z = theta[li->b_off + o];
                for (size_t k = 0; k < li->d_in; k++) {
                    const double a = l ? h[l - 1][i * li->d_in + k] : x[i * li->d_in + k];
                    z += theta[li->w_off + o * li->d_in + k] * a;
                }
                h[l][i * li->d_out + o] = l + 1 < mlp->n_layers ? tanh(z) : z;
            }
    }
}

Test(features, matches_a_plain_forward_pass) {
    lm_config *c = cfg_from(TEACHER, 0, NULL);
    lm_mlp *mlp;
    cr_assert_eq(lm_mlp_new(&c->model, &mlp, NULL), LM_OK);
    const size_t p = mlp->n_params, L = mlp->n_layers, n = 50;
    double *theta;
    metrics *m = train(c, &theta, p);
    double *theta0 = malloc(p * sizeof(double));
    cr_assert_eq(lm_mlp_init(mlp, c->seed, theta0, NULL), LM_OK);
    lm_dataset *tr;
    cr_assert_eq(lm_data_load(&c->data, c->seed, &tr, NULL, NULL), LM_OK);
    double *h[3], *h0[3];
    for (size_t l = 0; l < L; l++) {
        h[l] = malloc(n * mlp->layer[l].d_out * sizeof(double));
        h0[l] = malloc(n * mlp->layer[l].d_out * sizeof(double));
    }
    ref_forward(mlp, theta, tr->x, n, h);
    ref_forward(mlp, theta0, tr->x, n, h0);
    char name[48];
    for (size_t l = 0; l < L; l++) {
        const size_t cnt = n * mlp->layer[l].d_out;
        double ss = 0, sd = 0, s0 = 0;
        for (size_t i = 0; i < cnt; i++) {
            ss += h[l][i] * h[l][i];
            sd += (h[l][i] - h0[l][i]) * (h[l][i] - h0[l][i]);
            s0 += h0[l][i] * h0[l][i];
        }
        /* the same sums in another order (BLAS against plain loops): rounding ~1e-15 relative;
         * 1e-10 leaves margin and still catches any wrong multiplier, bias or probe row */
        snprintf(name, sizeof name, "act_rms.%zu", l);
        cr_assert(lm_close(get(m, 40, name), sqrt(ss / (double) cnt), 1e-10, 0), "%s", name);
        snprintf(name, sizeof name, "act_delta_rms.%zu", l);
        cr_assert(lm_close(get(m, 40, name), sqrt(sd / (double) cnt), 1e-10, 0), "%s", name);
        cr_assert(get(m, 40, name) > 1e-3, "%s: training moved the features", name);
        snprintf(name, sizeof name, "fchange.%zu", l);
        cr_assert(lm_close(get(m, 40, name), sqrt(sd / s0), 1e-10, 0), "%s", name);
        /* step 0: RMS of the initial features, no change */
        snprintf(name, sizeof name, "act_rms.%zu", l);
        cr_assert(lm_close(get(m, 0, name), sqrt(s0 / (double) cnt), 1e-10, 0), "%s", name);
        snprintf(name, sizeof name, "act_delta_rms.%zu", l);
        cr_assert_eq(get(m, 0, name), 0.0);
        snprintf(name, sizeof name, "fchange.%zu", l);
        cr_assert_eq(get(m, 0, name), 0.0);
    }
    cr_assert_eq(get(m, 0, "lin_dist"), 0.0);
    cr_assert(isnan(get(m, 0, "lin_dist_rel")), "0/0 at step 0");
    /* a tanh network is not linear in theta: the trained net has left its linearisation */
    cr_assert(get(m, 40, "lin_dist_rel") > 1e-4);
    /* probe_every = 10: steps 0, 10, 20, 30, 40; never between */
    for (int64_t t = 0; t <= 40; t += 10)
        cr_assert(metrics_has(m, t, "fchange.2"), "step %lld", (long long) t);
    cr_assert(!metrics_has(m, 5, "fchange.2") && !metrics_has(m, 15, "lin_dist"));
    for (size_t l = 0; l < L; l++) {
        free(h[l]);
        free(h0[l]);
    }
    lm_dataset_free(tr);
    free(theta);
    free(theta0);
    free(m);
    lm_mlp_free(mlp);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(features, probe_batch_is_capped_by_the_training_set) {
    /* probe_size 500 > 200 examples: the probe batch is the whole training set; the output's
     * act_rms at step 0 is then the RMS of lm_mlp_forward over all 200 */
    const char *sets[] = {"probe_size=500",
                          "steps=5",
                          "probe_every=5",
                          "model.activation=\"relu\"",
                          "model.parameterization=\"ntp\"",
                          "model.sb2=0.5",
                          "model.output_multiplier=3"};
    lm_config *c = cfg_from(TEACHER, 7, sets);
    lm_mlp *mlp;
    cr_assert_eq(lm_mlp_new(&c->model, &mlp, NULL), LM_OK);
    metrics *m = train(c, NULL, 0);
    double *theta0 = malloc(mlp->n_params * sizeof(double)), *f = malloc(200 * 2 * sizeof(double));
    cr_assert_eq(lm_mlp_init(mlp, c->seed, theta0, NULL), LM_OK);
    lm_dataset *tr;
    cr_assert_eq(lm_data_load(&c->data, c->seed, &tr, NULL, NULL), LM_OK);
    lm_mlp_ws *ws;
    cr_assert_eq(lm_mlp_ws_new(mlp, 200, LM_F64, &ws, NULL), LM_OK);
    cr_assert_eq(lm_mlp_forward(mlp, ws, theta0, tr->x, 200, f, NULL), LM_OK);
    double ss = 0;
    for (size_t i = 0; i < 400; i++)
        ss += f[i] * f[i];
    /* ntp multipliers, biases, alpha and relu in the observer's own forward against the model's:
     * rounding only */
    cr_assert(lm_close(get(m, 0, "act_rms.2"), sqrt(ss / 400.0), 1e-10, 0), "%g vs %g",
              get(m, 0, "act_rms.2"), sqrt(ss / 400.0));
    lm_mlp_ws_free(ws);
    lm_dataset_free(tr);
    free(theta0);
    free(f);
    free(m);
    lm_mlp_free(mlp);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(features, off_when_probe_every_is_zero) {
    const char *sets[] = {"probe_every=0"};
    lm_config *c = cfg_from(TEACHER, 1, sets);
    metrics *m = train(c, NULL, 0);
    for (size_t i = 0; i < m->n; i++)
        cr_assert(strncmp(m->name[i], "act_", 4) != 0 && strncmp(m->name[i], "lin_", 4) != 0,
                  "%s recorded", m->name[i]);
    cr_assert(m->n > 0, "the other observers still ran");
    free(m);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(features, linearisation_exact_for_one_layer_not_for_deep_linear) {
    /* f = W x + b is linear in theta: f_t = f_lin exactly, so lin_dist is rounding (~1e-16 of
     * the output change). A deep linear network f = W3 W2 W1 x is a product of its parameters:
     * after 40 GD steps its distance to the linearisation is of the order of the change squared */
    const char *one[] = {"model.widths=[8, 2]"};
    const char *deep[] = {"model.widths=[8, 12, 12, 2]", "model.activation=\"identity\""};
    lm_config *c1 = cfg_from(TEACHER, 1, one), *c3 = cfg_from(TEACHER, 2, deep);
    metrics *m1 = train(c1, NULL, 0), *m3 = train(c3, NULL, 0);
    for (int64_t t = 10; t <= 40; t += 10) {
        /* 1e-12: rounding of a 10-term GEMM against a JVP, each ~1e-16 relative per operation */
        cr_assert(get(m1, t, "lin_dist_rel") < 1e-12, "one layer, step %lld: %g", (long long) t,
                  get(m1, t, "lin_dist_rel"));
        cr_assert(get(m1, t, "act_delta_rms.0") > 1e-3, "the one-layer model did move");
        /* 1e-3: rounding would be ~1e-15, so anything above 1e-3 is the product structure */
        cr_assert(get(m3, t, "lin_dist_rel") > 1e-3, "deep linear, step %lld: %g", (long long) t,
                  get(m3, t, "lin_dist_rel"));
        cr_assert(get(m3, t, "lin_dist") > 0);
    }
    free(m1);
    free(m3);
    lm_config_free(c1);
    lm_config_free(c3);
    LM_CHECK_LEAKS();
}
