/*
 * test_noise_observer.c: the gradient-noise observer (src/observe/obs_noise.c) inside
 * lm_train_run. The recorded noise_scale, grad_var_trace and grad_sq at the last step must equal
 * a brute-force computation on the final parameters: every per-example gradient by central finite
 * differences of the loss of that one example (lm_mlp_loss_grad without a gradient: the loss
 * only), G their mean, tr Sigma = (1/n) sum_i |g_i - G|^2, over the probe batch (the first
 * probe_size training examples, not the whole set). A 5-7-3 tanh network (smooth: no kinks for
 * the differences) with mse; 62 parameters.
 * Tolerance 1e-6 relative: the central difference's error is ~h^2 |f'''| ~ 1e-10 with h = 1e-5
 * plus rounding ~eps |l| / h ~ 1e-11 per component, and the statistics are sums of squares of
 * ~60 such components.
 */
#include "train_helpers.h"

#include "lmech/store.h"
#include "lmech/train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *CFG =
    "{\"seed\": 5, \"data\": {\"source\": \"teacher\", \"dim\": 5, \"outputs\": 3, "
    "\"train_size\": 40, \"test_size\": 0}, "
    "\"model\": {\"widths\": [5, 7, 3], \"activation\": \"tanh\"}, \"loss\": \"mse\", "
    "\"optimizer\": {\"name\": \"sgd\", \"lr\": 0.05}, \"batch_size\": 8, \"steps\": 30, "
    "\"eval_every\": 10, \"noise_every\": 10, \"probe_size\": 17, \"threads\": 1}";

typedef struct rec {
    int64_t last;
    double scale, var, sq;
    size_t n_steps; /* records of noise_scale */
} rec;

static int collect(void *ud, int64_t step, const char *name, double value) {
    rec *r = ud;
    if (strcmp(name, "noise_scale") == 0)
        r->n_steps++;
    if (step != r->last)
        return 0;
    if (strcmp(name, "noise_scale") == 0)
        r->scale = value;
    else if (strcmp(name, "grad_var_trace") == 0)
        r->var = value;
    else if (strcmp(name, "grad_sq") == 0)
        r->sq = value;
    return 0;
}

/* Brute force over the first n examples of ds at theta: *var = tr Sigma, *sq = |G|^2. */
static void brute(const lm_mlp *m, lm_loss loss, const double *theta, const lm_dataset *ds,
                  size_t n, double *var, double *sq) {
    const size_t p = m->n_params;
    lm_mlp_ws *ws = NULL;
    cr_assert_eq(lm_mlp_ws_new(m, 1, LM_F64, &ws, NULL), LM_OK);
    double *g = calloc(n * p, sizeof *g), *G = calloc(p, sizeof *G), *t = malloc(p * sizeof *t);
    memcpy(t, theta, p * sizeof *t);
    const double h = 1e-5;
    for (size_t i = 0; i < n; i++) {
        const double *x = ds->x + i * ds->d, *y = ds->y + i * ds->k;
        for (size_t j = 0; j < p; j++) {
            double lp, lm;
            t[j] = theta[j] + h;
            cr_assert_eq(lm_mlp_loss_grad(m, ws, loss, t, x, y, 1, &lp, NULL, NULL, NULL), LM_OK);
            t[j] = theta[j] - h;
            cr_assert_eq(lm_mlp_loss_grad(m, ws, loss, t, x, y, 1, &lm, NULL, NULL, NULL), LM_OK);
            t[j] = theta[j];
            g[i * p + j] = (lp - lm) / (2 * h);
            G[j] += g[i * p + j] / (double) n;
        }
    }
    double v = 0, s = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++)
            v += (g[i * p + j] - G[j]) * (g[i * p + j] - G[j]);
    for (size_t j = 0; j < p; j++)
        s += G[j] * G[j];
    *var = v / (double) n;
    *sq = s;
    free(g);
    free(G);
    free(t);
    lm_mlp_ws_free(ws);
}

static int rel_close(double a, double b, double tol) {
    return fabs(a - b) <= tol * fabs(b);
}

Test(noise_observer, matches_brute_force_on_the_probe_batch, .timeout = 60) {
    lm_err err = {0};
    char db[256];
    lm_tmp_path(db, sizeof db, "noise_obs.db");
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    lm_config *cfg = cfg_from(CFG, 0, NULL);
    lm_mlp *m = NULL;
    cr_assert_eq(lm_mlp_new(&cfg->model, &m, NULL), LM_OK);
    double *theta = malloc(m->n_params * sizeof *theta);
    lm_train_opts o = {0};
    o.store = s;
    o.theta_final = theta;
    lm_train_result res;
    cr_assert_eq(lm_train_run(cfg, &o, &res, &err), LM_OK, "%s", err.msg);
    rec r = {30, LM_NAN, LM_NAN, LM_NAN, 0};
    cr_assert_eq(lm_store_get_metrics(s, res.run_id, collect, &r, &err), LM_OK);
    cr_assert_eq(r.n_steps, 4, "noise_scale at steps 0, 10, 20, 30: %zu records", r.n_steps);

    lm_dataset *train = NULL;
    cr_assert_eq(lm_data_load(&cfg->data, cfg->seed, &train, NULL, &err), LM_OK, "%s", err.msg);
    double var, sq;
    brute(m, cfg->loss, theta, train, 17, &var, &sq);
    cr_assert(var > 0 && sq > 0);
    cr_assert(rel_close(r.var, var, 1e-6), "grad_var_trace %.12g, brute force %.12g", r.var, var);
    cr_assert(rel_close(r.sq, sq, 1e-6), "grad_sq %.12g, brute force %.12g", r.sq, sq);
    cr_assert(rel_close(r.scale, var / sq, 1e-6), "noise_scale %.12g, brute force %.12g", r.scale,
              var / sq);
    /* the probe batch, not the whole set: the statistics of all 40 examples differ */
    double var_all, sq_all;
    brute(m, cfg->loss, theta, train, 40, &var_all, &sq_all);
    cr_assert(!rel_close(r.scale, var_all / sq_all, 1e-3),
              "noise_scale %.12g equals the whole set's %.12g: the probe batch was not used",
              r.scale, var_all / sq_all);

    lm_dataset_free(train);
    free(theta);
    lm_mlp_free(m);
    lm_config_free(cfg);
    lm_store_close(s);
    unlink(db);
    LM_CHECK_LEAKS();
}

/* noise_every = 0 (the default) records nothing. */
Test(noise_observer, off_by_default, .timeout = 60) {
    lm_err err = {0};
    char db[256];
    lm_tmp_path(db, sizeof db, "noise_obs_off.db");
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    const char *sets[] = {"noise_every=0"};
    lm_config *cfg = cfg_from(CFG, 1, sets);
    lm_train_opts o = {0};
    o.store = s;
    lm_train_result res;
    cr_assert_eq(lm_train_run(cfg, &o, &res, &err), LM_OK, "%s", err.msg);
    rec r = {30, LM_NAN, LM_NAN, LM_NAN, 0};
    cr_assert_eq(lm_store_get_metrics(s, res.run_id, collect, &r, &err), LM_OK);
    cr_assert_eq(r.n_steps, 0);
    lm_config_free(cfg);
    lm_store_close(s);
    unlink(db);
    LM_CHECK_LEAKS();
}
