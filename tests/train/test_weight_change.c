/*
 * test_weight_change.c: the weight-change observer (src/observe/obs_weight_change.c) inside
 * lm_train_run. Layers whose smaller side exceeds 256 take the Lanczos path for the spectral
 * norm; the recorded wchange_spec and wchange_fro at the last step must equal a dense LAPACK
 * SVD and a plain Frobenius norm of the final weights (1e-8 relative where Lanczos is used: it
 * stops at a relative residual of 1e-10 on sigma^2, and the recorded value is a ratio of two such
 * norms; 1e-12 where the Gram matrix's top eigenvalue is computed by LAPACK).
 */
#include "lm_test.h"
#include "lmech/config.h"
#include "lmech/store.h"
#include "lmech/train.h"

#include <lapacke.h>
#include <math.h>
#include <string.h>

static const char *CFG =
    "{\"seed\": 3, \"data\": {\"source\": \"teacher\", \"dim\": 6, \"outputs\": 1, "
    "\"train_size\": 64, \"test_size\": 0}, "
    "\"model\": {\"widths\": [6, 300, 280, 1], \"activation\": \"relu\"}, \"loss\": \"mse\", "
    "\"optimizer\": {\"name\": \"sgd\", \"lr\": 0.05}, \"steps\": 20, \"eval_every\": 10, "
    "\"threads\": 1}";

typedef struct rec {
    double spec[3], fro[3];
    int64_t last;
} rec;

static int collect(void *ud, int64_t step, const char *name, double value) {
    rec *r = ud;
    unsigned l;
    if (step == r->last && sscanf(name, "wchange_spec.%u", &l) == 1 && l < 3)
        r->spec[l] = value;
    if (step == r->last && sscanf(name, "wchange_fro.%u", &l) == 1 && l < 3)
        r->fro[l] = value;
    return 0;
}

static double dense_norm2(const double *a, size_t rows, size_t cols) {
    const size_t k = rows < cols ? rows : cols;
    double *c = malloc(rows * cols * sizeof *c), *s = malloc(k * sizeof *s);
    memcpy(c, a, rows * cols * sizeof *c);
    cr_assert_eq(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (lapack_int) rows, (lapack_int) cols, c,
                                (lapack_int) cols, s, NULL, (lapack_int) rows, NULL,
                                (lapack_int) cols),
                 0);
    const double r = s[0];
    free(c);
    free(s);
    return r;
}

/* A run of the config text `cfg` recorded in a fresh database `db_name`: its model, initial and
 * final parameters, and the weight-change metrics at step `last`. */
typedef struct trained {
    char db[256];
    lm_store *s;
    lm_config *cfg;
    lm_mlp *m;
    double *theta, *theta0;
    rec r;
} trained;

static void train_and_collect(trained *t, const char *cfg, const char *db_name, int64_t last) {
    lm_err err = {0};
    lm_tmp_path(t->db, sizeof t->db, db_name);
    cr_assert_eq(lm_store_open(t->db, &t->s, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_config_parse(cfg, strlen(cfg), "t.json", 0, NULL, &t->cfg, &err), LM_OK, "%s",
                 err.msg);
    cr_assert_eq(lm_mlp_new(&t->cfg->model, &t->m, NULL), LM_OK);
    t->theta = malloc(t->m->n_params * sizeof *t->theta);
    t->theta0 = malloc(t->m->n_params * sizeof *t->theta0);
    cr_assert_eq(lm_mlp_init(t->m, t->cfg->seed, t->theta0, &err), LM_OK);
    lm_train_opts o = {0};
    o.store = t->s;
    o.theta_final = t->theta;
    lm_train_result res;
    cr_assert_eq(lm_train_run(t->cfg, &o, &res, &err), LM_OK, "%s", err.msg);
    t->r = (rec){{LM_NAN, LM_NAN, LM_NAN}, {LM_NAN, LM_NAN, LM_NAN}, last};
    cr_assert_eq(lm_store_get_metrics(t->s, res.run_id, collect, &t->r, &err), LM_OK);
}

static void trained_free(trained *t) {
    free(t->theta);
    free(t->theta0);
    lm_mlp_free(t->m);
    lm_config_free(t->cfg);
    lm_store_close(t->s);
    unlink(t->db);
}

Test(weight_change, lanczos_spectral_norms_match_lapack, .timeout = 60) {
    trained t;
    train_and_collect(&t, CFG, "wchange.db", 20);
    const lm_mlp *m = t.m;
    const double *theta = t.theta, *theta0 = t.theta0;
    const rec r = t.r;
    for (size_t l = 0; l < 3; l++) {
        const lm_layer_info *li = &m->layer[l];
        const size_t cnt = li->d_in * li->d_out;
        double *d = malloc(cnt * sizeof *d);
        double fd = 0, f0 = 0;
        for (size_t i = 0; i < cnt; i++) {
            d[i] = theta[li->w_off + i] - theta0[li->w_off + i];
            fd += d[i] * d[i];
            f0 += theta0[li->w_off + i] * theta0[li->w_off + i];
        }
        const double want = dense_norm2(d, li->d_out, li->d_in) /
                            dense_norm2(theta0 + li->w_off, li->d_out, li->d_in);
        cr_assert(want > 0, "layer %zu did not move", l);
        /* layers with a side <= 256 use the Gram matrix's top eigenvalue (dsyevr: relative error
         * ~eps in sigma^2, and a ratio of two norms), the others Lanczos (1e-10 on sigma^2) */
        const double tol = (li->d_in < li->d_out ? li->d_in : li->d_out) <= 256 ? 1e-12 : 1e-8;
        cr_assert(fabs(r.spec[l] - want) <= tol * want, "layer %zu: spec %.15g vs LAPACK %.15g", l,
                  r.spec[l], want);
        cr_assert(fabs(r.fro[l] - sqrt(fd / f0)) <= 1e-12 * sqrt(fd / f0), "layer %zu fro", l);
        free(d);
    }
    trained_free(&t);
    LM_CHECK_LEAKS();
}

/* A run that blows up: GD at rate 2 on a small ReLU net drives the weight changes to ~1e209-1e231
 * (then every unit is dead and nothing moves). Their Gram matrices would overflow to inf, and
 * LAPACK's dsyevr was handed them with a one-element W it may use as work space: it returned 0
 * or nan, and in a sweep (batch-size, lr 1.6 at B = 1024) it smashed the stack. The observer
 * must record the right spectral norms, computed from A / ||A||_F (1e-12 relative to a dense SVD
 * of the same scaled matrix). */
static const char *BLOWUP =
    "{\"seed\": 1, \"data\": {\"source\": \"teacher\", \"dim\": 6, \"outputs\": 1, "
    "\"train_size\": 64, \"test_size\": 0}, "
    "\"model\": {\"widths\": [6, 40, 30, 1], \"activation\": \"relu\"}, \"loss\": \"mse\", "
    "\"optimizer\": {\"name\": \"sgd\", \"lr\": 2}, \"steps\": 60, \"eval_every\": 1, "
    "\"threads\": 1}";

Test(weight_change, huge_changes_of_a_blown_up_run, .timeout = 60) {
    trained t;
    train_and_collect(&t, BLOWUP, "wchange_blowup.db", 60);
    const lm_mlp *m = t.m;
    const double *theta = t.theta, *theta0 = t.theta0;
    const rec r = t.r;
    int huge = 0;
    for (size_t l = 0; l < 3; l++) {
        const lm_layer_info *li = &m->layer[l];
        const size_t cnt = li->d_in * li->d_out;
        double *d = malloc(cnt * sizeof *d), fd = 0;
        for (size_t i = 0; i < cnt; i++)
            fd = fmax(fd, fabs(theta[li->w_off + i] - theta0[li->w_off + i]));
        for (size_t i = 0; i < cnt; i++)
            d[i] = (theta[li->w_off + i] - theta0[li->w_off + i]) / fd;
        huge += fd > 1e160;
        const double want = fd * dense_norm2(d, li->d_out, li->d_in) /
                            dense_norm2(theta0 + li->w_off, li->d_out, li->d_in);
        cr_assert(isfinite(want), "layer %zu: the reference overflowed", l);
        cr_assert(fabs(r.spec[l] - want) <= 1e-12 * want, "layer %zu: spec %.15g vs LAPACK %.15g",
                  l, r.spec[l], want);
        free(d);
    }
    cr_assert(huge >= 2,
              "the run no longer reaches changes above 1e160 (%d layers): the test "
              "needs a new rate",
              huge);
    trained_free(&t);
    LM_CHECK_LEAKS();
}
