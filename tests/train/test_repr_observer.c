/*
 * Tests for src/observe/obs_repr.c through lm_train_run: cka_init.l is 1 at step 0 and below 1
 * after training; the NC names appear only for one-hot targets (a modadd classification) and not
 * for +-1 targets of the same data (negative control), a regression, or a one-layer net; the
 * final NC values equal lm_neural_collapse on lm_mlp_features of the final parameters with the
 * applied classifier (w_scale x W_L, b_scale x b_L).
 */
#include "lmech/config.h"
#include "lmech/data.h"
#include "lmech/repr.h"
#include "lmech/train.h"
#include "train_helpers.h"

#include <math.h>
#include <string.h>

/* modadd p = 5: 20 of the 25 pairs, 5 classes; 3 layers */
static const char *MODADD =
    "{\"seed\": 2, \"data\": {\"source\": \"modadd\", \"modulus\": 5, \"train_frac\": 0.8}, "
    "\"model\": {\"widths\": [10, 24, 24, 5], \"activation\": \"relu\"}, \"loss\": \"ce\", "
    "\"optimizer\": {\"name\": \"sgd\", \"lr\": 0.5, \"momentum\": 0.9}, \"steps\": 150, "
    "\"eval_every\": 50, \"repr_every\": 50, \"probe_size\": 12, \"threads\": 1}";

static metrics *train(const lm_config *c, double *theta_final) {
    char db[256];
    lm_tmp_path(db, sizeof db, "repr.db");
    unlink(db);
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

static const char *const NC[6] = {"nc1", "nc2_equinorm", "nc2_equinorm_w", "nc2_equiangular",
                                  "nc3", "nc4"};

Test(repr_observer, cka_and_collapse_on_one_hot_classes) {
    lm_config *c = cfg_from(MODADD, 0, NULL);
    lm_mlp *mlp;
    cr_assert_eq(lm_mlp_new(&c->model, &mlp, NULL), LM_OK);
    double *theta = malloc(mlp->n_params * sizeof(double));
    metrics *m = train(c, theta);
    for (size_t l = 1; l <= 3; l++) {
        char name[32];
        snprintf(name, sizeof name, "cka_init.%zu", l);
        cr_assert(fabs(metrics_get(m, 0, name) - 1) < 1e-12, "%s at 0: %g", name,
                  metrics_get(m, 0, name));
        cr_assert(metrics_has(m, 50, name) && metrics_has(m, 100, name));
        cr_assert(metrics_get(m, 150, name) < 0.999, "%s at 150: %g", name,
                  metrics_get(m, 150, name));
    }
    for (int k = 0; k < 6; k++)
        cr_assert(isfinite(metrics_get(m, 0, NC[k])) && isfinite(metrics_get(m, 150, NC[k])), "%s",
                  NC[k]);

    /* the final values: lm_neural_collapse of the penultimate features of theta_final */
    lm_dataset *tr;
    cr_assert_eq(lm_data_load(&c->data, c->seed, &tr, NULL, NULL), LM_OK);
    const size_t n = tr->n, p = lm_mlp_layer_width(mlp, 2), C = 5;
    double *h = malloc(n * p * sizeof(double)), W[5 * 24], b[5];
    size_t labels[25];
    lm_mlp_ws *ws;
    cr_assert_eq(lm_mlp_ws_new(mlp, n, LM_F64, &ws, NULL), LM_OK);
    cr_assert_eq(lm_mlp_features(mlp, ws, theta, tr->x, n, 2, h, NULL), LM_OK);
    const lm_layer_info *li = &mlp->layer[2];
    for (size_t i = 0; i < C * p; i++)
        W[i] = li->w_scale * theta[li->w_off + i];
    for (size_t j = 0; j < C; j++)
        b[j] = li->b_scale * theta[li->b_off + j];
    for (size_t i = 0; i < n; i++)
        labels[i] = (size_t) tr->labels[i];
    lm_nc nc;
    lm_err err = {0};
    cr_assert_eq(lm_neural_collapse(h, n, p, labels, C, W, b, &nc, &err), LM_OK, "%s", err.msg);
    const double want[6] = {nc.nc1, nc.nc2_equinorm, nc.nc2_equinorm_w, nc.nc2_equiangular,
                            nc.nc3, nc.nc4};
    for (int k = 0; k < 6; k++)
        cr_assert(fabs(metrics_get(m, 150, NC[k]) - want[k]) <= 1e-9 * (1 + fabs(want[k])),
                  "%s: %g vs %g", NC[k], metrics_get(m, 150, NC[k]), want[k]);
    /* training separated the classes: the classifier agrees with the nearest class mean */
    cr_assert(nc.nc4 <= metrics_get(m, 0, "nc4"), "nc4 %g at the end, %g at 0", nc.nc4,
              metrics_get(m, 0, "nc4"));
    lm_mlp_ws_free(ws);
    free(h);
    lm_dataset_free(tr);
    free(m);
    free(theta);
    lm_mlp_free(mlp);
    lm_config_free(c);
}

/* negative controls: +-1 targets of the same classes, a regression, one layer: no NC names */
Test(repr_observer, no_collapse_names_without_one_hot_targets) {
    const char *const pm1[] = {"data.targets=\"pm1\"", "loss=\"mse\""};
    const char *const one[] = {"model.widths=[10,5]"};
    const char *const teacher[] = {"data.source=\"teacher\"", "data.dim=10",      "data.outputs=5",
                                   "data.train_size=30",      "data.test_size=0", "loss=\"mse\"",
                                   "optimizer.lr=0.05"};
    struct {
        const char *const *sets;
        size_t n;
        size_t layers;
    } cases[3] = {{pm1, 2, 3}, {one, 1, 1}, {teacher, 7, 3}};
    for (int k = 0; k < 3; k++) {
        lm_config *c = cfg_from(MODADD, cases[k].n, cases[k].sets);
        metrics *m = train(c, NULL);
        for (size_t l = 1; l <= cases[k].layers; l++) {
            char name[32];
            snprintf(name, sizeof name, "cka_init.%zu", l);
            cr_assert(fabs(metrics_get(m, 0, name) - 1) < 1e-12, "case %d: %s", k, name);
        }
        for (int j = 0; j < 6; j++)
            cr_assert(!metrics_has(m, 0, NC[j]) && !metrics_has(m, 150, NC[j]),
                      "case %d: %s recorded", k, NC[j]);
        free(m);
        lm_config_free(c);
    }
}
