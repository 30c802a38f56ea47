/*
 * exp_fixture.h: a hand-filled run database for testing an experiment's analysis without
 * training (negative controls: series written where the theory says a claim must fail).
 *
 *   lm_fx f;
 *   lm_fx_open(&f, "eos", 0);                         a fresh store and an invocation
 *   int64_t r = lm_fx_run(&f, "eta=0.1 seed=0", cfg); a finished run with a config (JSON text)
 *   lm_fx_series(&f, r, "sharpness", n, steps, v);    its records of one metric
 *   cr_assert_eq(lm__exp_eos.analyse(f.ctx, &err), LM_OK);
 *   const lm_claim *c = lm_fx_claim(&f, "progressive sharpening");
 *   lm_fx_close(&f);
 *
 * Runs are added to f.ctx in the order of the calls, as lm_exp_run would add a plan's runs.
 * A label is kept in f (the ctx points at it).
 */
#ifndef LM_EXP_FIXTURE_H
#define LM_EXP_FIXTURE_H

#include "lm_test.h"

#include "exp/internal.h"
#include "lmech/store.h"

#include <sys/stat.h>

typedef struct lm_fx {
    char db[256], art[300];
    lm_store *s;
    lm_exp_ctx *ctx;
    char labels[LM_EXP_MAX_RUNS][96];
} lm_fx;

static inline void lm_fx_open(lm_fx *f, const char *name, int quick) {
    memset(f, 0, sizeof *f);
    char file[96];
    snprintf(file, sizeof file, "fx-%s.db", name);
    lm_tmp_path(f->db, sizeof f->db, file);
    snprintf(f->art, sizeof f->art, "%s.artifacts", f->db);
    mkdir(f->art, 0777);
    lm_err err = {0};
    cr_assert_eq(lm_store_open(f->db, &f->s, &err), LM_OK, "%s", err.msg);
    f->ctx = calloc(1, sizeof *f->ctx);
    cr_assert_not_null(f->ctx);
    f->ctx->store = f->s;
    f->ctx->quick = quick;
    f->ctx->artifact_dir = f->art;
    cr_assert_eq(lm_store_exp_begin(f->s, name, quick, &f->ctx->exp_id, &err), LM_OK, "%s",
                 err.msg);
}

/* A finished run (status finished, `steps` steps) with config_json as its config. */
static inline int64_t lm_fx_run(lm_fx *f, const char *label, const char *config_json) {
    lm_err err = {0};
    char hash[32];
    snprintf(hash, sizeof hash, "fx%zu", f->ctx->n_runs);
    int64_t r;
    cr_assert_eq(lm_store_run_begin(f->s, config_json, hash, 0, 1, &r, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_store_run_end(f->s, r, LM_RUN_FINISHED, 0, 0.0, -1, NULL, 0, NULL, &err), LM_OK,
                 "%s", err.msg);
    cr_assert_eq(lm_store_exp_add_run(f->s, f->ctx->exp_id, r, label, &err), LM_OK, "%s", err.msg);
    const size_t i = f->ctx->n_runs++;
    snprintf(f->labels[i], sizeof f->labels[i], "%s", label);
    f->ctx->run[i] = r;
    f->ctx->label[i] = f->labels[i];
    return r;
}

/* n records of metric `name`; steps NULL: 0, 1, 2, ... */
static inline void lm_fx_series(lm_fx *f, int64_t run, const char *name, size_t n,
                                const int64_t *steps, const double *v) {
    lm_metric *m = calloc(n ? n : 1, sizeof *m);
    cr_assert_not_null(m);
    for (size_t i = 0; i < n; i++) {
        m[i].step = steps ? steps[i] : (int64_t) i;
        m[i].name = name;
        m[i].value = v[i];
    }
    lm_err err = {0};
    cr_assert_eq(lm_store_put_metrics(f->s, run, n, m, &err), LM_OK, "%s", err.msg);
    free(m);
}

/* The first claim whose name contains `part` (fails the test when there is none). */
static inline const lm_claim *lm_fx_claim(const lm_fx *f, const char *part) {
    for (size_t i = 0; i < f->ctx->n_claims; i++)
        if (strstr(f->ctx->claims[i].name, part))
            return &f->ctx->claims[i];
    cr_assert_fail("no claim named like \"%s\" among %zu", part, f->ctx->n_claims);
    return NULL;
}

static inline void lm_fx_close(lm_fx *f) {
    lm_store_close(f->s);
    free(f->ctx);
    char side[300];
    unlink(f->db);
    snprintf(side, sizeof side, "%s-wal", f->db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", f->db);
    unlink(side);
    /* figures an analysis wrote: <art>/exp-<id>/ (left for inspection when a test fails) */
}

#endif
