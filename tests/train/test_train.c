/*
 * Tests for src/train and src/observe: the loop on small synthetic and real data; determinism;
 * float32 path; divergence as a result; stop requests; shape errors; recorded metrics.
 */
#include "lmech/config.h"
#include "lmech/io.h"
#include "lmech/train.h"
#include "train_helpers.h"

#include <string.h>

static const char *TEACHER =
    "{\"seed\": 4, \"data\": {\"source\": \"teacher\", \"dim\": 8, \"outputs\": 2, "
    "\"teacher_width\": 16, \"train_size\": 200, \"test_size\": 100}, "
    "\"model\": {\"widths\": [8, 32, 2], \"activation\": \"tanh\"}, \"loss\": \"mse\", "
    "\"optimizer\": {\"name\": \"sgd\", \"lr\": 0.2}, \"steps\": 300, \"eval_every\": 100, "
    "\"threads\": 1}";

Test(train, gd_reduces_loss_and_is_deterministic) {
    lm_config *c = cfg_from(TEACHER, 0, NULL);
    lm_mlp *m;
    cr_assert_eq(lm_mlp_new(&c->model, &m, NULL), LM_OK);
    double *t1 = malloc(m->n_params * 8), *t2 = malloc(m->n_params * 8);
    lm_train_opts o1 = {0}, o2 = {0};
    o1.theta_final = t1;
    o2.theta_final = t2;
    lm_train_result r1, r2;
    lm_err err = {0};
    double l0, g0;
    size_t p;
    cr_assert_eq(lm_train_eval(c, NULL, &l0, &g0, &p, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_train_run(c, &o1, &r1, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_train_run(c, &o2, &r2, &err), LM_OK);
    cr_assert_eq(r1.status, LM_RUN_FINISHED);
    cr_assert_eq(r1.steps, 300);
    cr_assert(r1.train_loss < 0.5 * l0, "loss %g -> %g", l0, r1.train_loss);
    cr_assert(isfinite(r1.test_loss));
    cr_assert_eq(memcmp(t1, t2, m->n_params * 8), 0, "same config and seed must be bitwise equal");
    double l1, g1;
    cr_assert_eq(lm_train_eval(c, t1, &l1, &g1, &p, &err), LM_OK);
    cr_assert(lm_close(l1, r1.train_loss, 1e-13, 0), "%.17g vs %.17g", l1, r1.train_loss);
    free(t1);
    free(t2);
    lm_mlp_free(m);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(train, float32_minibatch_close_to_float64) {
    const char *sets32[] = {"dtype=\"float32\"", "batch_size=20"};
    const char *sets64[] = {"dtype=\"float64\"", "batch_size=20"};
    lm_config *c32 = cfg_from(TEACHER, 2, sets32), *c64 = cfg_from(TEACHER, 2, sets64);
    lm_train_result r32, r64;
    cr_assert_eq(lm_train_run(c32, NULL, &r32, NULL), LM_OK);
    cr_assert_eq(lm_train_run(c64, NULL, &r64, NULL), LM_OK);
    /* the same minibatch order in both precisions; float32 rounding (6e-8) amplified over 300
     * steps of a contracting dynamics stays well below 1e-3 relative */
    cr_assert(lm_close(r32.train_loss, r64.train_loss, 1e-3, 1e-8), "%g vs %g", r32.train_loss,
              r64.train_loss);
    lm_config_free(c32);
    lm_config_free(c64);
    LM_CHECK_LEAKS();
}

/* A float32 run on borrowed float64 sets and their borrowed float32 copies (what a sweep's forked
 * runs get) is bitwise the run that loads and converts its own, and evaluates in float32: its
 * final train loss is the float32 network's, within float32 rounding of the float64 evaluation
 * of the same weights. */
Test(train, float32_borrowed_copies_are_bitwise_the_same_run) {
    const char *sets[] = {"dtype=\"float32\"", "batch_size=20"};
    lm_config *c = cfg_from(TEACHER, 2, sets);
    lm_dataset *tr = NULL, *te = NULL;
    lm_dataset_f32 *tr32 = NULL, *te32 = NULL;
    cr_assert_eq(lm_data_load(&c->data, c->seed, &tr, &te, NULL), LM_OK);
    cr_assert_eq(lm_dataset_to_f32(tr, &tr32, NULL), LM_OK);
    cr_assert_eq(lm_dataset_to_f32(te, &te32, NULL), LM_OK);
    cr_assert_eq(tr32->x[5], (float) tr->x[5]);
    lm_mlp *m;
    cr_assert_eq(lm_mlp_new(&c->model, &m, NULL), LM_OK);
    double *ta = malloc(m->n_params * 8), *tb = malloc(m->n_params * 8);
    lm_train_opts oa = {0}, ob = {0};
    oa.theta_final = ta;
    ob.theta_final = tb;
    ob.train = tr;
    ob.test = te;
    ob.train32 = tr32;
    ob.test32 = te32;
    lm_train_result ra, rb;
    cr_assert_eq(lm_train_run(c, &oa, &ra, NULL), LM_OK);
    cr_assert_eq(lm_train_run(c, &ob, &rb, NULL), LM_OK);
    cr_assert_eq(memcmp(ta, tb, m->n_params * 8), 0);
    cr_assert_eq(ra.train_loss, rb.train_loss);
    cr_assert_eq(ra.test_loss, rb.test_loss);
    lm_mlp_ws *ws;
    cr_assert_eq(lm_mlp_ws_new(m, tr->n, LM_F64, &ws, NULL), LM_OK);
    double l_final, acc;
    cr_assert_eq(lm_eval_dataset(m, ws, tr->n, c->loss, ta, tr, &l_final, &acc, NULL), LM_OK);
    /* float32 forward passes of a 8-32-2 net on 200 rows: relative rounding ~1e-6 */
    cr_assert(lm_close(ra.train_loss, l_final, 1e-5, 1e-9), "%g vs %g", ra.train_loss, l_final);
    lm_mlp_ws_free(ws);
    lm_mlp_free(m);
    free(ta);
    free(tb);
    lm_dataset_f32_free(tr32);
    lm_dataset_f32_free(te32);
    lm_dataset_free(tr);
    lm_dataset_free(te);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(train, divergence_is_a_result) {
    const char *sets[] = {"optimizer.lr=1e4"};
    lm_config *c = cfg_from(TEACHER, 1, sets);
    lm_train_result r;
    lm_err err = {0};
    cr_assert_eq(lm_train_run(c, NULL, &r, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(r.status, LM_RUN_DIVERGED);
    cr_assert(r.diverged_step >= 0 && r.diverged_step < 300);
    cr_assert(strstr(r.message, "step") != NULL);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

/* A run blowing up with every observer on: the Hessian-vector products overflow a step before
 * the loss does (lr 50 on this 6-40-30-2 tanh net: step 58). The sharpness observer must record
 * that it could not measure (nan) rather than fail the run; the run ends diverged. */
Test(train, blow_up_with_every_observer_is_diverged_not_failed) {
    static const char *BLOW =
        "{\"seed\": 1, \"data\": {\"source\": \"teacher\", \"dim\": 6, \"outputs\": 2, "
        "\"train_size\": 64, \"test_size\": 16}, "
        "\"model\": {\"widths\": [6, 40, 30, 2], \"activation\": \"tanh\"}, \"loss\": \"mse\", "
        "\"optimizer\": {\"name\": \"sgd\", \"lr\": 50}, \"steps\": 60, \"eval_every\": 1, "
        "\"threads\": 1, \"sharpness_every\": 1, \"probe_every\": 1, \"probe_size\": 16}";
    lm_config *c = cfg_from(BLOW, 0, NULL);
    lm_train_result r;
    lm_err err = {0};
    cr_assert_eq(lm_train_run(c, NULL, &r, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(r.status, LM_RUN_DIVERGED, "status %d: %s", (int) r.status, r.message);
    cr_assert(r.diverged_step > 30 && r.diverged_step <= 60, "diverged at %lld",
              (long long) r.diverged_step);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(train, stop_flag_interrupts) {
    lm_config *c = cfg_from(TEACHER, 0, NULL);
    volatile int stop = 1;
    lm_train_opts o = {0};
    o.stop = &stop;
    lm_train_result r;
    cr_assert_eq(lm_train_run(c, &o, &r, NULL), LM_OK);
    cr_assert_eq(r.status, LM_RUN_INTERRUPTED);
    cr_assert_eq(r.steps, 0);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(train, shape_mismatch_names_the_key) {
    /* known data dimensions are checked by the config (with the key path) ... */
    const char *sets[] = {"model.widths=[8,32,3]"};
    lm_config *c;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(TEACHER, strlen(TEACHER), "t.json", 1, sets, &c, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "model.widths") != NULL, "%s", err.msg);
    /* ... and the trainer checks again against the loaded data (npy dimensions are only
     * known at load time) */
    char x[256], y[256], text[1024];
    lm_tmp_path(x, sizeof x, "x.npy");
    lm_tmp_path(y, sizeof y, "y.npy");
    size_t sx[2] = {10, 4}, sy[2] = {10, 2};
    lm_array *ax, *ay;
    cr_assert_eq(lm_array_new(LM_ELT_F64, 2, sx, &ax, NULL), LM_OK);
    cr_assert_eq(lm_array_new(LM_ELT_F64, 2, sy, &ay, NULL), LM_OK);
    cr_assert_eq(lm_npy_write(x, ax, NULL), LM_OK);
    cr_assert_eq(lm_npy_write(y, ay, NULL), LM_OK);
    snprintf(text, sizeof text,
             "{\"data\": {\"source\": \"npy\", \"x\": \"%s\", \"y\": \"%s\"}, "
             "\"model\": {\"widths\": [4, 8, 3]}, \"steps\": 2}",
             x, y);
    c = cfg_from(text, 0, NULL);
    lm_train_result r;
    cr_assert_eq(lm_train_run(c, NULL, &r, &err), LM_ESHAPE);
    cr_assert(strstr(err.msg, "model.widths[2]") != NULL, "%s", err.msg);
    lm_config_free(c);
    lm_array_free(ax);
    lm_array_free(ay);
    unlink(x);
    unlink(y);
    LM_CHECK_LEAKS();
}

static int collect(void *ud, int64_t step, const char *name, double value) {
    (void) value;
    int *seen = ud;
    if (step == 300 && strcmp(name, "wchange_spec.1") == 0)
        seen[0]++;
    if (step == 0 && strcmp(name, "train_loss") == 0)
        seen[1]++;
    if (strcmp(name, "grad_norm") == 0)
        seen[2]++;
    return 0;
}

Test(train, records_run_and_observers) {
    char db[256];
    lm_tmp_path(db, sizeof db, "train.db");
    lm_store *s;
    lm_err err = {0};
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    lm_config *c = cfg_from(TEACHER, 0, NULL);
    lm_train_opts o = {0};
    o.store = s;
    lm_train_result r;
    cr_assert_eq(lm_train_run(c, &o, &r, &err), LM_OK, "%s", err.msg);
    lm_run_info info;
    memset(&info, 0, sizeof info);
    cr_assert_eq(lm_store_get_run(s, r.run_id, &info, &err), LM_OK);
    cr_assert_str_eq(info.status, "finished");
    cr_assert_eq(info.steps, 300);
    cr_assert_str_eq(info.hash, c->hash);
    int seen[3] = {0};
    cr_assert_eq(lm_store_get_metrics(s, r.run_id, collect, seen, &err), LM_OK);
    cr_assert_eq(seen[0], 1);
    cr_assert_eq(seen[1], 1);
    cr_assert_eq(seen[2], 4); /* steps 0, 100, 200, 300 */
    lm_run_info_clear(&info);
    lm_store_close(s);
    lm_config_free(c);
    unlink(db);
    LM_CHECK_LEAKS();
}

typedef struct recs {
    size_t n;
    int64_t step[256];
    char name[256][32];
    double value[256];
} recs;

static int keep_rec(void *ud, int64_t step, const char *name, double value) {
    recs *r = ud;
    if (r->n < 256 && (strstr(name, "sharpness") || strcmp(name, "lr") == 0)) {
        r->step[r->n] = step;
        snprintf(r->name[r->n], sizeof r->name[r->n], "%s", name);
        r->value[r->n++] = value;
    }
    return 0;
}

static double rec_at(const recs *r, int64_t step, const char *name) {
    for (size_t i = 0; i < r->n; i++)
        if (r->step[i] == step && strcmp(r->name[i], name) == 0)
            return r->value[i];
    return LM_NAN;
}

/* Trains the teacher task with the sharpness every 50 steps under `sets`; returns its records. */
static void train_sharp(size_t n_sets, const char *const *sets, recs *out) {
    char db[256];
    lm_tmp_path(db, sizeof db, "sharp.db");
    lm_store *s;
    lm_err err = {0};
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    const char *base[16] = {"steps=100", "sharpness_every=50", "eval_every=50"};
    for (size_t i = 0; i < n_sets; i++)
        base[3 + i] = sets[i];
    lm_config *c = cfg_from(TEACHER, 3 + n_sets, base);
    lm_train_opts o = {0};
    o.store = s;
    lm_train_result r;
    cr_assert_eq(lm_train_run(c, &o, &r, &err), LM_OK, "%s", err.msg);
    memset(out, 0, sizeof *out);
    cr_assert_eq(lm_store_get_metrics(s, r.run_id, keep_rec, out, &err), LM_OK);
    lm_store_close(s);
    lm_config_free(c);
    unlink(db);
}

/* sharpness_ratio is S over GD's stability threshold: (S + wd) lr (1 + 2 mu [Nesterov]) /
 * (2 + 2 mu) with the step's scheduled rate; precond_sharpness_ratio is Adam's S_P (1 - b1) lr /
 * (2 + 2 b1); neither is recorded when the layers have different rates (muP). */
Test(train, sharpness_ratio_is_the_sharpness_over_its_threshold, .timeout = 60) {
    const struct {
        const char *sets[3];
        double mu, wd, nest;
        int adam;
    } cases[] = {
        {{"optimizer.lr=0.05", NULL, NULL}, 0, 0, 1, 0},
        {{"optimizer.name=\"momentum\"", "optimizer.lr=0.02", "optimizer.weight_decay=0.01"},
         0.9,
         0.01,
         1,
         0},
        {{"optimizer.name=\"nesterov\"", "optimizer.momentum=0.5",
          "optimizer.schedule.name="
          "\"cosine\""},
         0.5,
         0,
         2,
         0},
        {{"optimizer.name=\"adam\"", "optimizer.lr=0.001", NULL}, 0.9, 0, 1, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t n = 0;
        while (n < 3 && cases[k].sets[n])
            n++;
        recs r;
        train_sharp(n, cases[k].sets, &r);
        for (int64_t st = 0; st <= 100; st += 50) {
            const double S = rec_at(&r, st, "sharpness"), lr = rec_at(&r, st, "lr");
            cr_assert(isfinite(S) && S > 0 && isfinite(lr), "case %zu step %lld", k,
                      (long long) st);
            if (cases[k].adam) {
                cr_assert(isnan(rec_at(&r, st, "sharpness_ratio")), "adam: no GD ratio");
                if (st == 0)
                    continue; /* no preconditioner before the first step */
                const double sp = rec_at(&r, st, "precond_sharpness");
                /* the same formula on the same doubles, in another order: rounding only */
                cr_assert(lm_close(rec_at(&r, st, "precond_sharpness_ratio"),
                                   sp * (1 - 0.9) * lr / (2 + 2 * 0.9), 1e-14, 0),
                          "case %zu step %lld", k, (long long) st);
                continue;
            }
            const double want = (S + cases[k].wd) * lr * cases[k].nest / (2 + 2 * cases[k].mu);
            cr_assert(lm_close(rec_at(&r, st, "sharpness_ratio"), want, 1e-14, 0),
                      "case %zu step %lld: %.17g vs %.17g", k, (long long) st,
                      rec_at(&r, st, "sharpness_ratio"), want);
        }
    }
    const char *mup[] = {"model.parameterization=\"mup\"", "model.base_width=8"};
    recs r;
    train_sharp(2, mup, &r);
    cr_assert(isfinite(rec_at(&r, 50, "sharpness")));
    cr_assert(isnan(rec_at(&r, 50, "sharpness_ratio")), "muP's layers have different rates");
    LM_CHECK_LEAKS();
}

/* optimizer.layer_lr scales each linear layer's rate (lm_train_segment_rates, the one place it is
 * applied): one full-batch SGD step from the same theta_0 moves layer 1 by 0.5x and layer 2 by
 * 3x what the plain run moves it (the gradient at theta_0 is the same); the rates the observers
 * read are the optimizer's (a loop that ignored layer_lr would move both layers 1x and fail). */
Test(train, layer_lr_scales_each_layer) {
    const char *one[] = {"steps=1", "eval_every=1"};
    const char *scaled[] = {"steps=1", "eval_every=1", "optimizer.layer_lr=[0.5,3]"};
    lm_config *c = cfg_from(TEACHER, 2, one), *cs = cfg_from(TEACHER, 3, scaled);
    lm_mlp *m;
    cr_assert_eq(lm_mlp_new(&c->model, &m, NULL), LM_OK);
    const size_t p = m->n_params;
    double *t0 = malloc(p * 8), *t1 = malloc(p * 8), *ts = malloc(p * 8);
    cr_assert_eq(lm_train_init_params(c, m, t0, NULL), LM_OK);
    lm_train_opts o1 = {0}, os = {0};
    o1.theta_final = t1;
    os.theta_final = ts;
    lm_train_result r;
    lm_err err = {0};
    cr_assert_eq(lm_train_run(c, &o1, &r, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_train_run(cs, &os, &r, &err), LM_OK, "%s", err.msg);
    const double want[2] = {0.5, 3.0};
    for (size_t l = 0; l < 2; l++) {
        const lm_layer_info *li = &m->layer[l];
        for (size_t i = li->w_off; i < li->b_off + li->d_out; i++) {
            const double d1 = t1[i] - t0[i], ds = ts[i] - t0[i];
            cr_assert(fabs(ds - want[l] * d1) <= 1e-12 * fabs(d1) + 1e-300,
                      "layer %zu, parameter %zu: %.17g vs %g x %.17g", l + 1, i, ds, want[l], d1);
        }
    }
    size_t seg[5];
    double rate[4], rate1[4];
    cr_assert_eq(lm_train_segment_rates(cs, m, seg, rate), 4);
    cr_assert_eq(lm_train_segment_rates(c, m, seg, rate1), 4);
    for (size_t i = 0; i < 4; i++)
        cr_assert(lm_close(rate[i], want[lm_mlp_segment_layer(m, i)] * rate1[i], 1e-15, 0));
    free(t0), free(t1), free(ts);
    lm_mlp_free(m);
    lm_config_free(c);
    lm_config_free(cs);
    LM_CHECK_LEAKS();
}
