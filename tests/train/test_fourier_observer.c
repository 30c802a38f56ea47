/*
 * Tests for src/observe/obs_fourier.c through lm_train_run: on the uniform circle grid, fourier.k
 * against a plain discrete Fourier transform of the residual (amplitude sqrt(a_k^2 + b_k^2),
 * a_k = (2/n) sum r_i cos(k t_i), b_k likewise with sin), at step 0 and after training; on random
 * angles with a model that is exactly of frequency 1 (a linear map of (cos t, sin t), no bias),
 * fourier.1 = sqrt(2/n) ||r|| (the whole residual lies in the frequency-1 plane); and no fourier
 * metrics for another data source.
 */
#include "lmech/config.h"
#include "lmech/data.h"
#include "lmech/train.h"
#include "train_helpers.h"

#include <string.h>

static const char *GRID =
    "{\"seed\": 5, \"data\": {\"source\": \"circle\", \"train_size\": 64, \"test_size\": 0,"
    " \"frequencies\": [1, 2, 5]},"
    " \"model\": {\"widths\": [2, 32, 1], \"activation\": \"relu\", \"bias\": true,"
    "  \"parameterization\": \"ntp\", \"sw2\": 2, \"sb2\": 0.1},"
    " \"loss\": \"mse\", \"optimizer\": {\"name\": \"sgd\", \"lr\": 0.3}, \"steps\": 20,"
    " \"eval_every\": 10, \"threads\": 1}";

static metrics *train(const lm_config *c, double *theta_final) {
    char db[256];
    lm_tmp_path(db, sizeof db, "fourier.db");
    lm_store *s;
    lm_err err = {0};
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    lm_train_opts o = {0};
    o.store = s;
    o.theta_final = theta_final;
    lm_train_result r;
    cr_assert_eq(lm_train_run(c, &o, &r, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(r.status, LM_RUN_FINISHED, "%s", r.message);
    metrics *m = calloc(1, sizeof *m);
    cr_assert_eq(lm_store_get_metrics(s, r.run_id, metrics_collect, m, &err), LM_OK, "%s", err.msg);
    lm_store_close(s);
    unlink(db);
    return m;
}

/* The residual f(theta, x) - y of every training row. */
static void residual(const lm_config *c, const lm_mlp *mlp, const double *theta,
                     const lm_dataset *tr, double *r) {
    lm_mlp_ws *ws;
    cr_assert_eq(lm_mlp_ws_new(mlp, tr->n, LM_F64, &ws, NULL), LM_OK);
    cr_assert_eq(lm_mlp_forward(mlp, ws, theta, tr->x, tr->n, r, NULL), LM_OK);
    for (size_t i = 0; i < tr->n; i++)
        r[i] -= tr->y[i];
    lm_mlp_ws_free(ws);
    (void) c;
}

Test(fourier, grid_matches_plain_dft) {
    lm_config *c = cfg_from(GRID, 0, NULL);
    lm_mlp *mlp;
    cr_assert_eq(lm_mlp_new(&c->model, &mlp, NULL), LM_OK);
    double *theta = malloc(mlp->n_params * sizeof *theta), *theta0 = malloc(mlp->n_params * 8);
    metrics *m = train(c, theta);
    cr_assert_eq(lm_mlp_init(mlp, c->seed, theta0, NULL), LM_OK);
    lm_dataset *tr;
    cr_assert_eq(lm_data_load(&c->data, c->seed, &tr, NULL, NULL), LM_OK);
    const size_t n = tr->n;
    double r[64];
    const int freq[3] = {1, 2, 5};
    for (int pass = 0; pass < 2; pass++) {
        residual(c, mlp, pass ? theta : theta0, tr, r);
        for (size_t q = 0; q < 3; q++) {
            double a = 0, b = 0;
            for (size_t i = 0; i < n; i++) {
                const double t = 6.283185307179586 * (double) i / (double) n;
                a += 2.0 / (double) n * r[i] * cos(freq[q] * t);
                b += 2.0 / (double) n * r[i] * sin(freq[q] * t);
            }
            char name[32];
            snprintf(name, sizeof name, "fourier.%d", freq[q]);
            const double got = metrics_get(m, pass ? 20 : 0, name);
            cr_expect(lm_close(got, sqrt(a * a + b * b), 1e-9, 1e-12),
                      "%s at step %d: %.17g vs DFT %.17g", name, pass ? 20 : 0, got,
                      sqrt(a * a + b * b));
        }
    }
    /* training removes the target's low frequencies first: frequency 1 shrank */
    cr_expect(metrics_get(m, 20, "fourier.1") < metrics_get(m, 0, "fourier.1"));
    cr_expect(isfinite(metrics_get(m, 10, "fourier.2")), "recorded every eval_every");
    free(theta);
    free(theta0);
    lm_dataset_free(tr);
    lm_mlp_free(mlp);
    lm_config_free(c);
    free(m);
}

Test(fourier, random_angles_frequency_one_model) {
    const char *sets[] = {"data.subset=\"random\"", "data.frequencies=[1]", "model.widths=[2, 1]",
                          "model.bias=false", "data.train_size=50"};
    lm_config *c = cfg_from(GRID, 5, sets);
    lm_mlp *mlp;
    cr_assert_eq(lm_mlp_new(&c->model, &mlp, NULL), LM_OK);
    double *theta = malloc(mlp->n_params * sizeof *theta);
    metrics *m = train(c, theta);
    lm_dataset *tr;
    cr_assert_eq(lm_data_load(&c->data, c->seed, &tr, NULL, NULL), LM_OK);
    double r[50], s = 0;
    residual(c, mlp, theta, tr, r);
    for (size_t i = 0; i < 50; i++)
        s += r[i] * r[i];
    cr_expect(lm_close(metrics_get(m, 20, "fourier.1"), sqrt(2.0 / 50 * s), 1e-9, 1e-12),
              "fourier.1 %.17g vs sqrt(2/n)||r|| %.17g", metrics_get(m, 20, "fourier.1"),
              sqrt(2.0 / 50 * s));
    free(theta);
    lm_dataset_free(tr);
    lm_mlp_free(mlp);
    lm_config_free(c);
    free(m);
}

Test(fourier, silent_for_other_sources) {
    const char *text =
        "{\"seed\": 1, \"data\": {\"source\": \"teacher\", \"dim\": 2, \"train_size\": 20,"
        " \"test_size\": 0}, \"model\": {\"widths\": [2, 1]}, \"loss\": \"mse\", \"steps\": 2,"
        " \"eval_every\": 1, \"threads\": 1}";
    lm_config *c = cfg_from(text, 0, NULL);
    metrics *m = train(c, NULL);
    for (size_t i = 0; i < m->n; i++)
        cr_expect(strncmp(m->name[i], "fourier.", 8) != 0, "unexpected %s", m->name[i]);
    cr_expect(m->n > 0);
    lm_config_free(c);
    free(m);
}
