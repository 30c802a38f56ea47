/*
 * runner.c: executes an experiment: plan -> train (or reuse) every run (the worker pool,
 * pool.c) -> analyse from the store -> record the invocation and its claims. Also the plan
 * builder and reading a finished run back (its config and final parameters) for analyses.
 */
#include "exp/internal.h"
#include "lmech/exp.h"

#include "lmech/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- plans */

lm_status lm_exp_plan_add(lm_exp_plan *p, const char *label, const char *base_json, size_t n_sets,
                          const char *const *sets, lm_err *err) {
    if (p->n == LM_EXP_MAX_RUNS)
        LM_FAIL(err, LM_ELIMIT, "an experiment plan holds at most %d runs", LM_EXP_MAX_RUNS);
    lm_config *c;
    lm_status st = lm_config_parse(base_json, strlen(base_json), label, n_sets, sets, &c, err);
    if (st != LM_OK)
        return st;
    size_t len = strlen(c->json);
    char *copy = lm_malloc(len + 1);
    if (!copy) {
        lm_config_free(c);
        LM_FAIL(err, LM_ENOMEM, "out of memory for a planned config");
    }
    memcpy(copy, c->json, len + 1);
    lm_config_free(c);
    p->config[p->n] = copy;
    snprintf(p->label[p->n], sizeof p->label[0], "%s", label);
    p->n++;
    return LM_OK;
}

void lm_exp_plan_clear(lm_exp_plan *p) {
    for (size_t i = 0; i < p->n; i++)
        lm_free(p->config[i]);
    p->n = 0;
}

/* ---------------------------------------------------------------- reading runs back */

void lm__exp_checkpoint_path(const char *dir, int64_t run, char *out, size_t n) {
    snprintf(out, n, "%s/run-%lld.safetensors", dir, (long long) run);
}

lm_status lm__exp_load_config(const lm_exp_ctx *ctx, int64_t run, lm_config **cfg, lm_err *err) {
    lm_run_info info;
    memset(&info, 0, sizeof info);
    LM_TRY(lm_store_get_run(ctx->store, run, &info, err));
    char name[64];
    snprintf(name, sizeof name, "run %lld config", (long long) run);
    lm_status st = lm_config_parse(info.config, strlen(info.config), name, 0, NULL, cfg, err);
    lm_run_info_clear(&info);
    return st;
}

lm_status lm_exp_load_run(const lm_exp_ctx *ctx, int64_t run, lm_config **cfg, double **theta,
                          lm_err *err) {
    lm_config *c = NULL;
    LM_TRY(lm__exp_load_config(ctx, run, &c, err));
    lm_status st = LM_OK;
    lm_mlp *m = NULL;
    double *t = NULL;
    char path[LM_PATH_MAX + 64];
    lm__exp_checkpoint_path(ctx->artifact_dir, run, path, sizeof path);
    st = lm_mlp_new(&c->model, &m, err);
    if (st == LM_OK && !(t = lm_malloc(m->n_params * sizeof *t)))
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    if (st == LM_OK)
        st = lm_mlp_load(m, path, t, err);
    lm_mlp_free(m);
    if (st != LM_OK) {
        lm_free(t);
        lm_config_free(c);
        return st;
    }
    *cfg = c;
    *theta = t;
    return LM_OK;
}

void lm__exp_net_free(lm__exp_net *net) {
    lm_config_free(net->cfg);
    lm_free(net->theta);
    lm_dataset_free(net->train);
    lm_dataset_free(net->test);
    lm_mlp_free(net->m);
    memset(net, 0, sizeof *net);
}

lm_status lm__exp_net_open(const lm_exp_ctx *ctx, int64_t run, int want_test, lm__exp_net *net,
                           lm_err *err) {
    memset(net, 0, sizeof *net);
    lm_status st = lm_exp_load_run(ctx, run, &net->cfg, &net->theta, err);
    if (st == LM_OK)
        st = lm_data_load(&net->cfg->data, net->cfg->seed, &net->train,
                          want_test ? &net->test : NULL, err);
    if (st == LM_OK)
        st = lm_mlp_new(&net->cfg->model, &net->m, err);
    if (st != LM_OK)
        lm__exp_net_free(net);
    return st;
}

/* ---------------------------------------------------------------- the registry */

const lm_experiment *lm_experiment_find(const char *name) {
    for (const lm_experiment *const *e = lm_experiments(); *e; e++)
        if (strcmp((*e)->name, name) == 0)
            return *e;
    return NULL;
}

/* lm_exp_run and lm_exp_run_mpi: mpi picks the pool that trains the runs */
static lm_status exp_run(const lm_experiment *e, const lm_exp_opts *opts, int mpi,
                         lm_exp_result *res, lm_err *err) {
    memset(res, 0, sizeof *res);
    res->exp_id = -1;
    const double t0 = lm_now();
    lm_exp_plan *plan = lm_calloc(1, sizeof *plan);
    lm_exp_ctx *ctx = lm_calloc(1, sizeof *ctx);
    /* artifacts are recorded by absolute path, so `lmech report` and lm_exp_load_run find them
     * from any working directory */
    char cwd[LM_PATH_MAX];
    const int rel = opts->db_path[0] != '/' && getcwd(cwd, sizeof cwd) != NULL;
    char *dir = lm_malloc((rel ? strlen(cwd) + 1 : 0) + strlen(opts->db_path) + 16);
    if (!plan || !ctx || !dir) {
        lm_free(plan);
        lm_free(ctx);
        lm_free(dir);
        LM_FAIL(err, LM_ENOMEM, "out of memory starting experiment %s", e->name);
    }
    if (rel)
        sprintf(dir, "%s/%s.artifacts", cwd, opts->db_path);
    else
        sprintf(dir, "%s.artifacts", opts->db_path);
    lm_status st = LM_OK;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        st = lm_err_set(err, LM_EIO, __FILE__, __LINE__, "%s: cannot create: %s", dir,
                        strerror(errno));
    lm_store *s = NULL;
    if (st == LM_OK)
        st = lm_store_open(opts->db_path, &s, err);
    if (st == LM_OK)
        st = e->plan_with ? e->plan_with(e, opts->quick, plan, err)
                          : e->plan(opts->quick, plan, err);
    if (st == LM_OK)
        st = lm_store_exp_begin(s, e->name, opts->quick, &ctx->exp_id, err);
    ctx->store = s;
    ctx->quick = opts->quick;
    ctx->artifact_dir = dir;
    ctx->n_runs = plan->n;
    res->exp_id = ctx->exp_id;
    res->ctx = ctx;
    res->n_runs = plan->n;
    if (st == LM_OK)
        st = mpi ? lm__exp_pool_mpi_train(e->name, opts, s, dir, plan, ctx, res, err)
                 : lm__exp_pool_train(e->name, opts, s, dir, plan, ctx, res, err);
    for (size_t i = 0; st == LM_OK && i < ctx->n_runs; i++)
        if (ctx->run[i] > 0)
            st = lm_store_exp_add_run(s, ctx->exp_id, ctx->run[i], ctx->label[i], err);
    if (st == LM_OK && !res->interrupted) {
        st = lm__exp_analyse(e, ctx, err);
        if (st != LM_OK)
            lm_err_prefix(err, "analysing %s: ", e->name);
    }
    if (s && ctx->exp_id > 0) {
        lm_err end_err = {0};
        const char *how = st != LM_OK ? "failed" : res->interrupted ? "interrupted" : "finished";
        lm_status es = lm_store_exp_end(s, ctx->exp_id, how,
                                        st == LM_OK && !res->interrupted ? ctx->n_claims : 0,
                                        ctx->claims, &end_err);
        if (st == LM_OK && es != LM_OK) {
            st = es;
            if (err)
                *err = end_err;
        }
    }
    /* the labels point into the plan: keep them valid for the caller */
    for (size_t i = 0; i < ctx->n_runs; i++)
        ctx->label[i] = NULL;
    lm_exp_plan_clear(plan);
    lm_free(plan);
    lm_store_close(s);
    ctx->store = NULL;
    res->wall_s = lm_now() - t0;
    return st;
}

lm_status lm_exp_run(const lm_experiment *e, const lm_exp_opts *opts, lm_exp_result *res,
                     lm_err *err) {
    return exp_run(e, opts, 0, res, err);
}

lm_status lm_exp_run_mpi(const lm_experiment *e, const lm_exp_opts *opts, lm_exp_result *res,
                         lm_err *err) {
    return exp_run(e, opts, 1, res, err);
}

void lm_exp_result_clear(lm_exp_result *res) {
    if (res->ctx) {
        lm_free((void *) res->ctx->artifact_dir);
        lm_free(res->ctx);
    }
    res->ctx = NULL;
}
