/*
 * Tests for the deep-linear-network pieces outside src/theory: the linear-modes config keys and
 * model.init "aligned" (src/config), lm_mlp_init_aligned (src/model) through
 * lm_train_init_params, and the mode observer (src/observe/obs_modes.c) through lm_train_run:
 * each mode starts at a0^N, the net is balanced, multipliers are accounted for, the recorded
 * two-layer trajectory follows the closed form, and other runs record no mode.
 */
#include "lmech/config.h"
#include "lmech/data.h"
#include "lmech/model.h"
#include "lmech/store.h"
#include "lmech/theory.h"
#include "lmech/train.h"
#include "train_helpers.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *DLN =
    "{\"seed\": 2, \"data\": {\"source\": \"linear-modes\", \"dim\": 8, \"outputs\": 6, "
    "\"train_size\": 8, \"test_size\": 0, \"singular_values\": [3, 2, 1, 0.5, 0.25]}, "
    "\"model\": {\"widths\": [8, 16, 6], \"activation\": \"identity\", \"bias\": false, "
    "\"init\": \"aligned\", \"a0\": 0.01}, \"loss\": \"mse\", "
    "\"optimizer\": {\"name\": \"sgd\", \"lr\": 0.001}, \"batch_size\": 0, \"steps\": 4000, "
    "\"eval_every\": 200, \"threads\": 1}";

static void cfg_refused(size_t n, const char *const *sets, const char *p1, const char *p2) {
    lm_config *c = NULL;
    lm_err err = {0};
    const lm_status st = lm_config_parse(DLN, strlen(DLN), "dln.json", n, sets, &c, &err);
    cr_assert(st == LM_EINVAL || st == LM_ERANGE, "accepted (%d): %s", st, n ? sets[0] : "");
    cr_assert(strstr(err.msg, p1), "'%s' not in: %s", p1, err.msg);
    if (p2)
        cr_assert(strstr(err.msg, p2), "'%s' not in: %s", p2, err.msg);
}

Test(deep_linear_config, keys_parse_and_canonical_json_only_when_used) {
    lm_config *c = cfg_from(DLN, 0, NULL);
    cr_assert_eq(c->data.source, LM_DATA_LINEAR_MODES);
    cr_assert_eq(c->data.n_sv, 5);
    cr_assert_eq(c->data.singular_values[4], 0.25);
    cr_assert_eq(c->model.init, LM_INIT_ALIGNED);
    cr_assert_eq(c->model.a0, 0.01);
    cr_assert(strstr(c->json, "\"singular_values\":[3.0,2.0,1.0,0.5,0.25]"), "%s", c->json);
    cr_assert(strstr(c->json, "\"init\":\"aligned\",\"a0\":0.01"), "%s", c->json);
    /* the canonical JSON parses back to itself */
    lm_config *d = cfg_from(c->json, 0, NULL);
    cr_assert_str_eq(c->json, d->json);
    cr_assert_str_eq(c->hash, d->hash);
    /* random init: neither key is written, so every earlier run's hash stands */
    const char *rnd[] = {"model.init=\"random\"", "model.a0=0"};
    lm_config *e = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(DLN, strlen(DLN), "dln.json", 2, rnd, &e, &err), LM_ERANGE);
    cr_assert(strstr(err.msg, "model.a0"), "%s", err.msg); /* a0 given with random init */
    const char *rnd2[] = {"model={\"widths\": [8, 16, 6], \"activation\": \"identity\", \"bias\": "
                          "false, \"init\": \"random\"}"};
    e = cfg_from(DLN, 1, rnd2);
    cr_assert_null(strstr(e->json, "\"init\""), "%s", e->json);
    cr_assert_null(strstr(e->json, "\"a0\""), "%s", e->json);
    const char *teach = "{\"data\": {\"source\": \"teacher\", \"dim\": 4}, \"model\": {\"widths\": "
                        "[4, 1]}}";
    lm_config *t = cfg_from(teach, 0, NULL);
    cr_assert_null(strstr(t->json, "singular_values"), "%s", t->json);
    lm_config_free(c);
    lm_config_free(d);
    lm_config_free(e);
    lm_config_free(t);
}

Test(deep_linear_config, bad_keys_refused_with_clear_messages) {
    const char *s1[] = {"data.singular_values=[3, 2, 1, 0.5, 0.25, 0.1, 0.05]"};
    cfg_refused(1, s1, "data.singular_values", "at most 6");
    const char *s2[] = {"data.singular_values=[3, 0, 1]"};
    cfg_refused(1, s2, "data.singular_values[1]", "> 0");
    const char *s3[] = {"data.train_size=7"};
    cfg_refused(1, s3, "data.train_size", "P >= d_in");
    const char *s4[] = {"model.activation=\"relu\""};
    cfg_refused(1, s4, "model.activation", "identity");
    const char *s5[] = {"model.bias=true"};
    cfg_refused(1, s5, "model.bias", "couple");
    const char *s6[] = {"model.widths=[8, 4, 6]"};
    cfg_refused(1, s6, "hidden width 4", "r = 5");
    const char *s7[] = {"data.source=\"teacher\"", "data.singular_values=[1]"};
    cfg_refused(2, s7, "data.singular_values", "only \"linear-modes\"");
    const char *s8[] = {"model.init=\"aligned\"", "model.a0=-1"};
    cfg_refused(2, s8, "model.a0", "> 0");
    const char *s9[] = {"model.init=\"alinged\""};
    cfg_refused(1, s9, "model.init", "did you mean \"aligned\"");
    /* aligned without linear-modes data */
    const char *teach = "{\"data\": {\"source\": \"teacher\", \"dim\": 4}, \"model\": {\"widths\": "
                        "[4, 1], \"init\": \"aligned\", \"a0\": 0.1, \"bias\": false}}";
    lm_config *c = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(teach, strlen(teach), "t.json", 0, NULL, &c, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "needs data.source \"linear-modes\""), "%s", err.msg);
    const char *noa0 = "{\"data\": {\"source\": \"linear-modes\", \"dim\": 4, \"outputs\": 2, "
                       "\"singular_values\": [1]}, \"model\": {\"widths\": [4, 2], \"init\": "
                       "\"aligned\", \"bias\": false}}";
    cr_assert_eq(lm_config_parse(noa0, strlen(noa0), "t.json", 0, NULL, &c, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "missing required key \"model.a0\""), "%s", err.msg);
}

/* The effective end-to-end map and per-layer effective matrices of theta. */
static void effective(const lm_mlp *m, const double *theta, double *M) {
    const size_t d = m->d_in;
    double p[64 * 64], q[64 * 64];
    for (size_t i = 0; i < d * d; i++)
        p[i] = (i % (d + 1)) == 0;
    for (size_t l = 0; l < m->n_layers; l++) {
        const lm_layer_info *li = &m->layer[l];
        for (size_t i = 0; i < li->d_out; i++)
            for (size_t j = 0; j < d; j++) {
                double z = 0;
                for (size_t a = 0; a < li->d_in; a++)
                    z += li->w_scale * theta[li->w_off + i * li->d_in + a] * p[a * d + j];
                q[i * d + j] = z;
            }
        memcpy(p, q, li->d_out * d * sizeof *p);
    }
    memcpy(M, p, m->d_out * d * sizeof *M);
}

Test(deep_linear_init, aligned_balanced_every_depth_and_parameterization) {
    const char *widths[] = {"model.widths=[8, 6]", "model.widths=[8, 16, 6]",
                            "model.widths=[8, 16, 12, 6]", "model.widths=[8, 5, 7, 9, 6]"};
    const char *params[] = {"model.parameterization=\"sp\"", "model.parameterization=\"ntp\""};
    const char *mults[] = {"model.output_multiplier=1", "model.output_multiplier=2.5"};
    for (size_t w = 0; w < 4; w++)
        for (size_t p = 0; p < 2; p++) {
            const char *sets[] = {widths[w], params[p], mults[p]};
            lm_config *c = cfg_from(DLN, 3, sets);
            lm_mlp *m = NULL;
            lm_err err = {0};
            cr_assert_eq(lm_mlp_new(&c->model, &m, &err), LM_OK, "%s", err.msg);
            double *theta = calloc(m->n_params, sizeof *theta);
            cr_assert_eq(lm_train_init_params(c, m, theta, &err), LM_OK, "%s", err.msg);
            double U[30], V[40], M[48];
            cr_assert_eq(lm_data_linear_modes(&c->data, c->seed, U, V, &err), LM_OK);
            effective(m, theta, M);
            const double u0 = pow(0.01, (double) m->n_layers);
            for (size_t i = 0; i < 6; i++)
                for (size_t j = 0; j < 8; j++) {
                    double e = 0;
                    for (size_t a = 0; a < 5; a++)
                        e += u0 * U[i * 5 + a] * V[j * 5 + a];
                    cr_assert(fabs(M[i * 8 + j] - e) < 1e-14 * u0 + 1e-300,
                              "depth %zu param %zu: M[%zu,%zu] %.6e vs %.6e", m->n_layers, p, i, j,
                              M[i * 8 + j], e);
                }
            /* balanced: W_{l+1}^T W_{l+1} = W_l W_l^T (effective matrices) */
            for (size_t l = 0; l + 1 < m->n_layers; l++) {
                const lm_layer_info *a = &m->layer[l], *b = &m->layer[l + 1];
                const size_t h = a->d_out;
                for (size_t i = 0; i < h; i++)
                    for (size_t j = 0; j < h; j++) {
                        double x = 0, y = 0;
                        for (size_t o = 0; o < b->d_out; o++)
                            x += b->w_scale * theta[b->w_off + o * h + i] * b->w_scale *
                                 theta[b->w_off + o * h + j];
                        for (size_t k = 0; k < a->d_in; k++)
                            y += a->w_scale * theta[a->w_off + i * a->d_in + k] * a->w_scale *
                                 theta[a->w_off + j * a->d_in + k];
                        cr_assert(fabs(x - y) < 1e-15, "unbalanced at layer %zu", l);
                    }
            }
            free(theta);
            lm_mlp_free(m);
            lm_config_free(c);
        }
}

Test(deep_linear_init, refuses_what_it_cannot_align) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = 3;
    s.widths[0] = 8;
    s.widths[1] = 3;
    s.widths[2] = 6;
    s.bias = 0;
    s.act = LM_ACT_IDENTITY;
    lm_mlp *m = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK);
    double U[30] = {0}, V[40] = {0}, theta[100];
    cr_assert_eq(lm_mlp_init_aligned(m, 1, 5, U, V, 0.1, theta, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "hidden width 3"), "%s", err.msg);
    cr_assert_eq(lm_mlp_init_aligned(m, 1, 2, U, V, 0.0, theta, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "a0"), "%s", err.msg);
    cr_assert_eq(lm_mlp_init_aligned(m, 1, 7, U, V, 0.1, theta, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "rank r = 7"), "%s", err.msg);
    lm_mlp_free(m);
    s.act = LM_ACT_TANH;
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK);
    cr_assert_eq(lm_mlp_init_aligned(m, 1, 2, U, V, 0.1, theta, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "identity"), "%s", err.msg);
    lm_mlp_free(m);
}

/* ---------------------------------------------------------------- the mode observer */

typedef struct modes {
    size_t n[6];
    int64_t step[6][64];
    double v[6][64]; /* mode.1..5, mode_offdiag */
    int other;       /* any "mode" metric outside those */
} modes;

static int collect(void *ud, int64_t step, const char *name, double value) {
    modes *m = ud;
    int k = -1;
    if (strcmp(name, "mode_offdiag") == 0)
        k = 5;
    else if (strncmp(name, "mode.", 5) == 0 && name[5] >= '1' && name[5] <= '5' && !name[6])
        k = name[5] - '1';
    else if (strncmp(name, "mode", 4) == 0)
        m->other = 1;
    if (k >= 0 && m->n[k] < 64) {
        m->step[k][m->n[k]] = step;
        m->v[k][m->n[k]++] = value;
    }
    return 0;
}

static modes run_modes(const lm_config *c, const char *tag) {
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
    modes m;
    memset(&m, 0, sizeof m);
    cr_assert_eq(lm_store_get_metrics(s, r.run_id, collect, &m, &err), LM_OK, "%s", err.msg);
    lm_store_close(s);
    unlink(db);
    return m;
}

Test(mode_observer, two_layer_trajectory_follows_the_closed_form) {
    lm_config *c = cfg_from(DLN, 0, NULL);
    const modes m = run_modes(c, "dln-modes.db");
    const double s[5] = {3, 2, 1, 0.5, 0.25};
    for (size_t k = 0; k < 5; k++) {
        cr_assert_eq(m.n[k], 21, "mode.%zu has %zu records", k + 1, m.n[k]);
        cr_assert(fabs(m.v[k][0] - 1e-4) < 1e-16, "u0 of mode %zu = %.17g", k + 1, m.v[k][0]);
        double dev = 0;
        for (size_t i = 0; i < m.n[k]; i++) {
            const double t = 1e-3 * (double) m.step[k][i];
            dev = fmax(dev, fabs(m.v[k][i] - lm_dln_u2(s[k], 1e-4, t)) / s[k]);
        }
        /* GD with eta s = 0.003 against the flow: ~0.003 (science.md §1 (a) allows 0.01) */
        cr_assert(dev < 0.005, "mode %zu: max deviation %g", k + 1, dev);
        cr_assert(dev > 0 || k > 0);
    }
    /* the modes stay decoupled: nothing outside the diagonal */
    for (size_t i = 0; i < m.n[5]; i++)
        cr_assert(m.v[5][i] < 1e-12, "offdiag %g at step %lld", m.v[5][i],
                  (long long) m.step[5][i]);
    /* a random init is not aligned: offdiag is O(init) and the modes do not start at a0^2 */
    static const char RND_MODEL[] = "model={\"widths\": [8, 16, 6], \"activation\": "
                                    "\"identity\", \"bias\": false, \"sw2\": 0.01}";
    const char *rnd[] = {RND_MODEL, "steps=10", "eval_every=10"};
    lm_config *r = cfg_from(DLN, 3, rnd);
    const modes q = run_modes(r, "dln-modes-rnd.db");
    cr_assert_eq(q.n[0], 2);
    cr_assert(q.v[5][0] > 1e-3, "random init offdiag %g", q.v[5][0]);
    lm_config_free(c);
    lm_config_free(r);
}

Test(mode_observer, silent_for_other_sources_and_nonlinear_nets) {
    const char *teach =
        "{\"data\": {\"source\": \"teacher\", \"dim\": 4, \"train_size\": 16, \"test_size\": 0}, "
        "\"model\": {\"widths\": [4, 8, 1], \"activation\": \"identity\"}, \"steps\": 2, "
        "\"eval_every\": 1, \"threads\": 1}";
    lm_config *c = cfg_from(teach, 0, NULL);
    modes m = run_modes(c, "dln-silent1.db");
    cr_assert(m.n[0] == 0 && m.n[5] == 0 && !m.other);
    static const char RELU_MODEL[] =
        "model={\"widths\": [8, 16, 6], \"activation\": \"relu\", \"bias\": false}";
    const char *relu[] = {RELU_MODEL, "steps=2", "eval_every=1"};
    lm_config *d = cfg_from(DLN, 3, relu);
    m = run_modes(d, "dln-silent2.db");
    cr_assert(m.n[0] == 0 && m.n[5] == 0 && !m.other);
    lm_config_free(c);
    lm_config_free(d);
}
