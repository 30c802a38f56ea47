/*
 * Tests for model.center_output in src/train/train.c: the run trains F(w) - F(w_0) as F against
 * the targets y + F(w_0). Checked: the recorded initial losses are those of zero outputs, a
 * centred run is bitwise the uncentred run on shifted targets (so its gradient at step 0 is
 * that of the shifted targets), the borrowed datasets are not written, the float32 path, the
 * evaluation helper, divergence, and the refusal of loss ce.
 */
#include "lmech/config.h"
#include "lmech/train.h"
#include "train_helpers.h"

#include <string.h>

/* tanh teacher with 2 outputs: F(w_0) is nonzero on every row, so centring changes the loss */
static const char *TEACHER =
    "{\"seed\": 4, \"data\": {\"source\": \"teacher\", \"dim\": 8, \"outputs\": 2, "
    "\"teacher_width\": 16, \"train_size\": 200, \"test_size\": 100}, "
    "\"model\": {\"widths\": [8, 32, 2], \"activation\": \"tanh\", \"output_multiplier\": 3, "
    "\"center_output\": true}, \"loss\": \"mse\", "
    "\"optimizer\": {\"name\": \"sgd\", \"lr\": 0.05}, \"steps\": 5, \"eval_every\": 5, "
    "\"threads\": 1}";

/* mse of zero outputs: (1/(2n)) sum_i ||y_i||^2 */
static double zero_loss(const lm_dataset *ds) {
    double s = 0;
    for (size_t i = 0; i < ds->n * ds->k; i++)
        s += ds->y[i] * ds->y[i];
    return s / (2.0 * (double) ds->n);
}

typedef struct first_losses {
    double train, test;
} first_losses;

static int collect(void *ud, int64_t step, const char *name, double value) {
    first_losses *f = ud;
    if (step == 0 && strcmp(name, "train_loss") == 0)
        f->train = value;
    if (step == 0 && strcmp(name, "test_loss") == 0)
        f->test = value;
    return 0;
}

static first_losses recorded_start(const lm_config *c, const char *tag) {
    char db[256];
    lm_tmp_path(db, sizeof db, tag);
    unlink(db);
    lm_store *s;
    lm_err err = {0};
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    lm_train_opts o = {0};
    o.store = s;
    lm_train_result r;
    cr_assert_eq(lm_train_run(c, &o, &r, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(r.status, LM_RUN_FINISHED);
    first_losses f = {LM_NAN, LM_NAN};
    cr_assert_eq(lm_store_get_metrics(s, r.run_id, collect, &f, &err), LM_OK, "%s", err.msg);
    lm_store_close(s);
    unlink(db);
    return f;
}

Test(center_output, initial_loss_is_that_of_zero_outputs) {
    lm_config *c = cfg_from(TEACHER, 0, NULL);
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&c->data, c->seed, &tr, &te, &err), LM_OK, "%s", err.msg);
    const first_losses f = recorded_start(c, "center0.db");
    /* (y + F_0) - F_0 differs from y by at most one rounding of |y| + |F_0| = O(1) per entry,
     * ~1e-16 relative: 1e-13 leaves room and still fails on any real offset */
    cr_assert(lm_close(f.train, zero_loss(tr), 1e-13, 0), "%.17g vs %.17g", f.train, zero_loss(tr));
    cr_assert(lm_close(f.test, zero_loss(te), 1e-13, 0), "%.17g vs %.17g", f.test, zero_loss(te));
    /* the same run uncentred starts elsewhere: the check above can fail */
    const char *off[] = {"model.center_output=false"};
    lm_config *u = cfg_from(TEACHER, 1, off);
    const first_losses g = recorded_start(u, "center0u.db");
    cr_assert(fabs(g.train - zero_loss(tr)) > 1e-3 * zero_loss(tr), "%g vs %g", g.train,
              zero_loss(tr));
    double l, gn;
    size_t p;
    cr_assert_eq(lm_train_eval(c, NULL, &l, &gn, &p, &err), LM_OK, "%s", err.msg);
    cr_assert(lm_close(l, zero_loss(tr), 1e-13, 0), "eval: %.17g vs %.17g", l, zero_loss(tr));
    lm_dataset_free(tr);
    lm_dataset_free(te);
    lm_config_free(c);
    lm_config_free(u);
    LM_CHECK_LEAKS();
}

/* y + F(w_0) for a copy of ds (the run's own construction: one forward pass of all rows). */
static lm_dataset *shifted(const lm_config *c, const lm_dataset *ds) {
    lm_mlp *m = NULL;
    lm_mlp_ws *ws = NULL;
    lm_dataset *out = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&c->model, &m, &err), LM_OK, "%s", err.msg);
    double *theta = malloc(m->n_params * sizeof *theta), *f = malloc(ds->n * ds->k * sizeof *f);
    cr_assert_eq(lm_mlp_init(m, c->seed, theta, &err), LM_OK);
    cr_assert_eq(lm_mlp_ws_new(m, ds->n, LM_F64, &ws, &err), LM_OK);
    cr_assert_eq(lm_mlp_forward(m, ws, theta, ds->x, ds->n, f, &err), LM_OK);
    cr_assert_eq(lm_dataset_new(ds->n, ds->d, ds->k, 0, &out, &err), LM_OK);
    memcpy(out->x, ds->x, ds->n * ds->d * sizeof *out->x);
    for (size_t i = 0; i < ds->n * ds->k; i++)
        out->y[i] = ds->y[i] + f[i];
    free(theta);
    free(f);
    lm_mlp_ws_free(ws);
    lm_mlp_free(m);
    return out;
}

Test(center_output, equals_uncentred_run_on_shifted_targets_bitwise) {
    const char *one[] = {"steps=1"}, *one_off[] = {"steps=1", "model.center_output=false"};
    const char *five_off[] = {"model.center_output=false"};
    lm_config *c1 = cfg_from(TEACHER, 1, one), *u1 = cfg_from(TEACHER, 2, one_off);
    lm_config *c5 = cfg_from(TEACHER, 0, NULL), *u5 = cfg_from(TEACHER, 1, five_off);
    cr_assert_str_neq(c5->hash, u5->hash);
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&c5->data, c5->seed, &tr, &te, &err), LM_OK, "%s", err.msg);
    const size_t ny = tr->n * tr->k;
    double *y_before = malloc(ny * sizeof *y_before);
    memcpy(y_before, tr->y, ny * sizeof *y_before);
    lm_dataset *str = shifted(c5, tr), *ste = shifted(c5, te);
    lm_mlp *m = NULL;
    cr_assert_eq(lm_mlp_new(&c5->model, &m, &err), LM_OK);
    const size_t p = m->n_params;
    double *a = malloc(p * sizeof *a), *b = malloc(p * sizeof *b), *w0 = malloc(p * sizeof *w0);
    cr_assert_eq(lm_mlp_init(m, c5->seed, w0, &err), LM_OK);
    const lm_config *cc[2] = {c1, c5}, *uu[2] = {u1, u5};
    for (int k = 0; k < 2; k++) {
        lm_train_opts oa = {0}, ob = {0};
        oa.train = tr; /* borrowed: the centred run must not write into it */
        oa.test = te;
        oa.theta_final = a;
        ob.train = str;
        ob.test = ste;
        ob.theta_final = b;
        lm_train_result ra, rb;
        cr_assert_eq(lm_train_run(cc[k], &oa, &ra, &err), LM_OK, "%s", err.msg);
        cr_assert_eq(lm_train_run(uu[k], &ob, &rb, &err), LM_OK, "%s", err.msg);
        /* the same arithmetic on the same numbers: equal bit for bit. After one step of GD,
         * theta_1 = theta_0 - lr g_0, so the step-0 gradients are equal too. */
        cr_assert_eq(memcmp(a, b, p * sizeof *a), 0, "%s: parameters differ",
                     k ? "5 steps" : "1 step");
        cr_assert(memcmp(a, w0, p * sizeof *a) != 0, "the run did not move");
        cr_assert_eq(ra.train_loss, rb.train_loss);
        cr_assert_eq(ra.test_loss, rb.test_loss);
        cr_assert_eq(memcmp(tr->y, y_before, ny * sizeof *y_before), 0,
                     "the borrowed targets were written");
    }
    free(a);
    free(b);
    free(w0);
    free(y_before);
    lm_mlp_free(m);
    lm_dataset_free(tr);
    lm_dataset_free(te);
    lm_dataset_free(str);
    lm_dataset_free(ste);
    lm_config_free(c1);
    lm_config_free(u1);
    lm_config_free(c5);
    lm_config_free(u5);
    LM_CHECK_LEAKS();
}

Test(center_output, float32_starts_from_zero_outputs) {
    const char *sets[] = {"dtype=\"float32\"", "batch_size=20"};
    lm_config *c = cfg_from(TEACHER, 2, sets);
    lm_dataset *tr = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&c->data, c->seed, &tr, NULL, &err), LM_OK, "%s", err.msg);
    const first_losses f = recorded_start(c, "center32.db");
    /* F_0 in float32, targets (float)(y + F_0): one float32 rounding (6e-8) of O(1) numbers per
     * entry, and the observers read the float32 targets' float64 sums: 1e-6 relative */
    cr_assert(lm_close(f.train, zero_loss(tr), 1e-6, 0), "%.17g vs %.17g", f.train, zero_loss(tr));
    lm_dataset_free(tr);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(center_output, divergence_is_still_a_result) {
    const char *sets[] = {"optimizer.lr=1e4", "steps=300"};
    lm_config *c = cfg_from(TEACHER, 2, sets);
    lm_train_result r;
    lm_err err = {0};
    cr_assert_eq(lm_train_run(c, NULL, &r, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(r.status, LM_RUN_DIVERGED);
    cr_assert(r.diverged_step >= 0 && r.diverged_step < 300);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

/* The config refuses center_output with ce; a config built in code is refused by the run. */
Test(center_output, cross_entropy_is_refused) {
    const char *ce = "{\"data\": {\"source\": \"modadd\", \"modulus\": 5}, "
                     "\"model\": {\"widths\": [10, 8, 5], \"center_output\": true}, "
                     "\"loss\": \"ce\", \"steps\": 2}";
    lm_config *c = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(ce, strlen(ce), "ce.json", 0, NULL, &c, &err), LM_EINVAL);
    cr_assert_null(c);
    cr_assert(strstr(err.msg, "ce.json") && strstr(err.msg, "model.center_output") &&
                  strstr(err.msg, "\"ce\""),
              "%s", err.msg);
    c = cfg_from(TEACHER, 0, NULL);
    c->loss = LM_LOSS_CE;
    lm_train_result r;
    memset(&err, 0, sizeof err);
    cr_assert_eq(lm_train_run(c, NULL, &r, &err), LM_EINVAL);
    cr_assert_eq(r.status, LM_RUN_FAILED);
    cr_assert(strstr(err.msg, "model.center_output") && strstr(err.msg, "\"ce\""), "%s", err.msg);
    double l, g;
    size_t p;
    memset(&err, 0, sizeof err);
    cr_assert_eq(lm_train_eval(c, NULL, &l, &g, &p, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "model.center_output") != NULL, "%s", err.msg);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

/* Out of memory at every allocation of a centred float32 run (the centring buffers included):
 * LM_ENOMEM, nothing leaked. */
Test(center_output, out_of_memory_everywhere) {
    const char *sets[] = {"dtype=\"float32\"", "steps=1"};
    lm_config *c = cfg_from(TEACHER, 2, sets);
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&c->data, c->seed, &tr, &te, &err), LM_OK, "%s", err.msg);
    lm_train_opts o = {0};
    o.train = tr;
    o.test = te;
    lm_set_allocator(&(lm_allocator){lm_test_failing_alloc, lm_test_free, NULL});
    int k = 1, ok = 0;
    for (; k < 500 && !ok; k++) { /* a run makes ~50 allocations; 500 bounds a runaway loop */
        lm_test_fail_at = k;
        lm_test_calls = 0;
        lm_train_result r;
        lm_status st = lm_train_run(c, &o, &r, &err);
        ok = st == LM_OK;
        if (!ok)
            cr_assert_eq(st, LM_ENOMEM, "allocation %d: %s", k, err.msg);
    }
    lm_set_allocator(NULL);
    cr_assert(ok, "never succeeded");
    cr_assert(k > 10, "only %d allocations", k);
    lm_dataset_free(tr);
    lm_dataset_free(te);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}
