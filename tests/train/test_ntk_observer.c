/*
 * test_ntk_observer.c: the NTK observer (src/observe/obs_ntk.c) inside lm_train_run on a tiny
 * teacher task: ntk_change is exactly 0 at step 0 and grows, alignments lie in [-1, 1], every
 * layer is recorded, the recorded final change equals lm_kernel_empirical recomputed at the
 * final weights with the optimizer's (muP) rates, and probe_every = 0 records nothing.
 */
#include "lm_test.h"
#include "lmech/config.h"
#include "lmech/kernel.h"
#include "lmech/store.h"
#include "lmech/train.h"

#include <string.h>

static const char *TEACHER =
    "{\"seed\": 4, \"data\": {\"source\": \"teacher\", \"dim\": 8, \"outputs\": 2, "
    "\"teacher_width\": 16, \"train_size\": 40, \"test_size\": 10}, "
    "\"model\": {\"widths\": [8, 32, 32, 2], \"activation\": \"tanh\"}, \"loss\": \"mse\", "
    "\"optimizer\": {\"name\": \"sgd\", \"lr\": 0.2}, \"steps\": 200, \"eval_every\": 100, "
    "\"probe_every\": 50, \"probe_size\": 16, \"threads\": 1}";

#define MAX_REC 128
typedef struct rec {
    size_t n;
    int64_t step[MAX_REC];
    char name[MAX_REC][32];
    double value[MAX_REC];
} rec;

static int collect(void *ud, int64_t step, const char *name, double value) {
    rec *r = ud;
    if (strncmp(name, "ntk_", 4) == 0 && r->n < MAX_REC) {
        r->step[r->n] = step;
        snprintf(r->name[r->n], sizeof r->name[r->n], "%s", name);
        r->value[r->n] = value;
        r->n++;
    }
    return 0;
}

static double get(const rec *r, int64_t step, const char *name) {
    for (size_t i = 0; i < r->n; i++)
        if (r->step[i] == step && strcmp(r->name[i], name) == 0)
            return r->value[i];
    cr_assert_fail("no %s at step %lld", name, (long long) step);
    return 0;
}

/* Trains text (with `sets`) into a fresh store; fills the ntk_* records and the final theta. */
static void run_cfg(const char *text, size_t n_sets, const char *const *sets, rec *r,
                    double **theta, lm_config **cfg) {
    char db[256];
    lm_tmp_path(db, sizeof db, "ntkobs.db");
    lm_store *s;
    lm_err err = {0};
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_config_parse(text, strlen(text), "t.json", n_sets, sets, cfg, &err), LM_OK,
                 "%s", err.msg);
    lm_mlp *m;
    cr_assert_eq(lm_mlp_new(&(*cfg)->model, &m, NULL), LM_OK);
    *theta = malloc(m->n_params * sizeof **theta);
    lm_mlp_free(m);
    lm_train_opts o = {0};
    o.store = s;
    o.theta_final = *theta;
    lm_train_result res;
    cr_assert_eq(lm_train_run(*cfg, &o, &res, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(res.status, LM_RUN_FINISHED, "%s", res.message);
    memset(r, 0, sizeof *r);
    cr_assert_eq(lm_store_get_metrics(s, res.run_id, collect, r, &err), LM_OK);
    lm_store_close(s);
    unlink(db);
}

static void run(size_t n_sets, const char *const *sets, rec *r, double **theta, lm_config **cfg) {
    run_cfg(TEACHER, n_sets, sets, r, theta, cfg);
}

Test(ntk_observer, zero_at_init_grows_alignment_bounded) {
    rec r;
    double *theta;
    lm_config *c;
    run(0, NULL, &r, &theta, &c);
    /* 5 probes (0, 50, ..., 200) x (ntk_change, 3 layer changes, 2 alignments, 3 layer
     * alignments, 3 layer shares) */
    cr_assert_eq(r.n, 5 * 12, "%zu records", r.n);
    cr_assert_eq(get(&r, 0, "ntk_change"), 0.0);
    for (size_t l = 0; l < 3; l++) {
        char name[32];
        snprintf(name, sizeof name, "ntk_change.%zu", l);
        cr_assert_eq(get(&r, 0, name), 0.0);
        cr_assert(get(&r, 200, name) > 0.0);
    }
    double prev = 0;
    for (int64_t s = 50; s <= 200; s += 50) {
        double v = get(&r, s, "ntk_change");
        /* training moves the kernel; GD on this contracting task keeps moving it steadily */
        cr_assert(v > prev, "ntk_change %g at step %lld after %g", v, (long long) s, prev);
        prev = v;
    }
    for (size_t i = 0; i < r.n; i++)
        if (strncmp(r.name[i], "ntk_align", 9) == 0)
            cr_assert(r.value[i] >= -1.0 && r.value[i] <= 1.0 && isfinite(r.value[i]),
                      "%s = %g at step %lld", r.name[i], r.value[i], (long long) r.step[i]);
    for (int64_t s = 0; s <= 200; s += 50) {
        double sum = 0;
        for (size_t l = 0; l < 3; l++) {
            char name[32];
            snprintf(name, sizeof name, "ntk_share.%zu", l);
            const double v = get(&r, s, name);
            cr_assert(v > 0.0 && v < 1.0, "%s = %g at step %lld", name, v, (long long) s);
            sum += v;
        }
        /* the layer terms sum to the kernel: shares of one trace, summed in another order */
        cr_assert(lm_close(sum, 1.0, 1e-12, 0), "shares sum to %.17g at step %lld", sum,
                  (long long) s);
    }
    free(theta);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

/* The recorded final value is the kernel with muP's SGD rates, recomputed here. */
Test(ntk_observer, mup_final_change_matches_direct_kernel) {
    const char *sets[] = {"model.parameterization=\"mup\"", "model.base_width=8"};
    rec r;
    double *theta;
    lm_config *c;
    run(2, sets, &r, &theta, &c);
    lm_mlp *m;
    lm_dataset *train;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&c->model, &m, NULL), LM_OK);
    cr_assert_eq(lm_data_load(&c->data, c->seed, &train, NULL, &err), LM_OK, "%s", err.msg);
    double *theta0 = malloc(m->n_params * 8);
    cr_assert_eq(lm_mlp_init(m, c->seed, theta0, NULL), LM_OK);
    size_t seg[2 * LM_MAX_LAYERS + 1];
    double lr[2 * LM_MAX_LAYERS];
    lm_mlp_segments(m, 0, seg, lr);
    const size_t nk = 16 * 2;
    double *k0 = malloc(nk * nk * 8), *k1 = malloc(nk * nk * 8), *kp = malloc(nk * nk * 8);
    double *kl = malloc(3 * nk * nk * 8);
    cr_assert_eq(lm_kernel_empirical(m, theta0, train->x, 16, lr, 0, k0, NULL, &err), LM_OK);
    cr_assert_eq(lm_kernel_empirical(m, theta, train->x, 16, lr, 0, k1, kl, &err), LM_OK);
    /* layer l's alignment y^T K_l y / (||K_l||_F ||y||^2) and trace share, recomputed */
    double tr = 0;
    for (size_t i = 0; i < nk; i++)
        tr += k1[i * nk + i];
    for (size_t l = 0; l < 3; l++) {
        const double *K = kl + l * nk * nk, *y = train->y;
        double q = 0, yy = 0, f = 0, t = 0;
        for (size_t i = 0; i < nk; i++) {
            for (size_t j = 0; j < nk; j++) {
                q += y[i] * K[i * nk + j] * y[j];
                f += K[i * nk + j] * K[i * nk + j];
            }
            yy += y[i] * y[i];
            t += K[i * nk + i];
        }
        char name[32];
        snprintf(name, sizeof name, "ntk_align.%zu", l);
        /* the same products summed in another order: rounding only */
        cr_assert(lm_close(get(&r, 200, name), q / (sqrt(f) * yy), 1e-10, 0), "%s", name);
        snprintf(name, sizeof name, "ntk_share.%zu", l);
        cr_assert(lm_close(get(&r, 200, name), t / tr, 1e-12, 0), "%s", name);
    }
    free(kl);
    cr_assert_eq(lm_kernel_empirical(m, theta, train->x, 16, NULL, 0, kp, NULL, &err), LM_OK);
    double d = 0, s = 0, dp = 0;
    for (size_t i = 0; i < nk * nk; i++) {
        d += (k1[i] - k0[i]) * (k1[i] - k0[i]);
        dp += (kp[i] - k1[i]) * (kp[i] - k1[i]);
        s += k0[i] * k0[i];
    }
    const double want = sqrt(d / s), got = get(&r, 200, "ntk_change");
    /* identical computation on identical inputs: only the store's float64 round trip */
    cr_assert(lm_close(got, want, 1e-12, 0), "recorded %.17g, direct %.17g", got, want);
    cr_assert(sqrt(dp) > 1e-3 * sqrt(s), "muP rates must change the kernel");
    free(theta0);
    free(k0);
    free(k1);
    free(kp);
    free(theta);
    lm_dataset_free(train);
    lm_mlp_free(m);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(ntk_observer, off_when_probe_every_is_zero_and_adam_runs) {
    const char *off[] = {"probe_every=0"};
    rec r;
    double *theta;
    lm_config *c;
    run(1, off, &r, &theta, &c);
    cr_assert_eq(r.n, 0);
    free(theta);
    lm_config_free(c);
    const char *adam[] = {"optimizer.name=\"adam\"", "optimizer.lr=0.01",
                          "model.parameterization=\"mup\"", "model.base_width=8"};
    run(4, adam, &r, &theta, &c);
    cr_assert_eq(r.n, 60);
    cr_assert(get(&r, 200, "ntk_change") > 0);
    free(theta);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

/* A layer graph (residual block, layer norm) in muP: one term per dense layer (the layer norm's
 * parameters in the term of the linear layer before it), shares summing to 1, and the recorded
 * final change equal to lm_kernel_empirical recomputed with the graph's per-tensor SGD rates. */
Test(ntk_observer, layer_graph_per_dense_layer_terms) {
    static const char *GRAPH =
        "{\"seed\": 4, \"data\": {\"source\": \"teacher\", \"dim\": 8, \"outputs\": 2, "
        "\"teacher_width\": 16, \"train_size\": 40, \"test_size\": 10}, "
        "\"model\": {\"input_shape\": [8], \"parameterization\": \"mup\", \"base_width\": 8, "
        "\"layers\": [{\"type\": \"linear\", \"out\": 16}, {\"type\": \"tanh\"}, "
        "{\"type\": \"residual\", \"body\": [{\"type\": \"linear\", \"out\": 16}, "
        "{\"type\": \"gelu\"}, {\"type\": \"linear\", \"out\": 16}]}, {\"type\": \"layernorm\"}, "
        "{\"type\": \"linear\", \"out\": 2}]}, \"loss\": \"mse\", "
        "\"optimizer\": {\"name\": \"sgd\", \"lr\": 0.1}, \"steps\": 100, \"eval_every\": 100, "
        "\"probe_every\": 50, \"probe_size\": 16, \"threads\": 1}";
    rec r;
    double *theta;
    lm_config *c;
    run_cfg(GRAPH, 0, NULL, &r, &theta, &c);
    /* 3 probes x (ntk_change, 2 alignments, 4 x (layer change, alignment, share)) */
    cr_assert_eq(r.n, 3 * 15, "%zu records", r.n);
    cr_assert_eq(get(&r, 0, "ntk_change"), 0.0);
    for (int64_t st = 0; st <= 100; st += 50) {
        double sum = 0;
        for (size_t l = 0; l < 4; l++) {
            char name[32];
            snprintf(name, sizeof name, "ntk_share.%zu", l);
            sum += get(&r, st, name);
        }
        cr_assert(lm_close(sum, 1.0, 1e-12, 0), "shares sum to %.17g at step %lld", sum,
                  (long long) st);
    }
    lm_mlp *m;
    lm_dataset *train;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&c->model, &m, NULL), LM_OK);
    cr_assert(!lm_mlp_is_chain(m) && m->n_layers == 4);
    cr_assert_eq(lm_data_load(&c->data, c->seed, &train, NULL, &err), LM_OK, "%s", err.msg);
    double *theta0 = malloc(m->n_params * 8);
    cr_assert_eq(lm_mlp_init(m, c->seed, theta0, NULL), LM_OK);
    size_t seg[LM_MAX_TENSORS + 1];
    double lr[LM_MAX_TENSORS];
    lm_mlp_segments(m, 0, seg, lr);
    const size_t nk = 16 * 2;
    double *k0 = malloc(nk * nk * 8), *k1 = malloc(nk * nk * 8);
    cr_assert_eq(lm_kernel_empirical(m, theta0, train->x, 16, lr, 0, k0, NULL, &err), LM_OK);
    cr_assert_eq(lm_kernel_empirical(m, theta, train->x, 16, lr, 0, k1, NULL, &err), LM_OK);
    double d = 0, s = 0;
    for (size_t i = 0; i < nk * nk; i++) {
        d += (k1[i] - k0[i]) * (k1[i] - k0[i]);
        s += k0[i] * k0[i];
    }
    const double want = sqrt(d / s), got = get(&r, 100, "ntk_change");
    cr_assert(want > 0 && lm_close(got, want, 1e-12, 0), "recorded %.17g, direct %.17g", got, want);
    free(theta0);
    free(k0);
    free(k1);
    free(theta);
    lm_dataset_free(train);
    lm_mlp_free(m);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}
