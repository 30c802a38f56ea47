/*
 * capi.c: the flat entry points of include/lmech/capi.h, for the Python package's ctypes binding.
 *
 * Glue only: each function validates its arguments, calls the library (lm_train_run,
 * lm_store_*, lm_mlp_*, lm_curv_*, lm_kernel_empirical) and packs what comes back as JSON text
 * (jansson) or flat arrays, so that a caller mirrors no struct beyond lm_err. The workload is a
 * Python session: one handle per model, calls of whole batches, nothing per example.
 */
#include "lmech/capi.h"
#include "lmech/config.h"
#include "lmech/curv.h"
#include "lmech/fit.h"
#include "lmech/io.h"
#include "lmech/kernel.h"
#include "lmech/repr.h"
#include "lmech/train.h"
#include "lmech/weights.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void lm_capi_string_free(char *s) {
    free(s);
}

size_t lm_capi_sizeof(const char *type) {
    static const struct {
        const char *name;
        size_t size;
    } sizes[] = {
        {"lm_err", sizeof(lm_err)},
        {"lm_dataset", sizeof(lm_dataset)},
        {"lm_sim_opts", sizeof(lm_sim_opts)},
        {"lm_sim_result", sizeof(lm_sim_result)},
        {"lm_kernel_spec", sizeof(lm_kernel_spec)},
        {"lm_wspec_opts", sizeof(lm_wspec_opts)},
        {"lm_wspec", sizeof(lm_wspec)},
        {"lm_wspec_file", sizeof(lm_wspec_file)},
        {"lm_fit_opts", sizeof(lm_fit_opts)},
        {"lm_fit_result", sizeof(lm_fit_result)},
    };
    for (size_t i = 0; type && i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(type, sizes[i].name) == 0)
            return sizes[i].size;
    return 0;
}

/* ---------------------------------------------------------------- JSON helpers */

static json_t *num(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *num_array(const double *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, num(v[i]));
    return a;
}

/* Dumps j into *out and releases j; LM_ENOMEM when j (or its text) could not be made. */
static lm_status dump(json_t *j, char **out, lm_err *err) {
    char *s =
        j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    if (!s)
        LM_FAIL(err, LM_ENOMEM, "out of memory for the JSON result");
    *out = s;
    return LM_OK;
}

static lm_status need(const void *p, const char *what, lm_err *err) {
    if (!p)
        LM_FAIL(err, LM_EINVAL, "%s is NULL", what);
    return LM_OK;
}

static lm_status parse_config(const char *config_json, lm_config **cfg, lm_err *err) {
    LM_TRY(need(config_json, "the config", err));
    return lm_config_parse(config_json, strlen(config_json), "<config>", 0, NULL, cfg, err);
}

/* ---------------------------------------------------------------- training */

lm_status lm_capi_train(const char *config_json, const char *db, const char *init, const char *save,
                        volatile int *stop, char **out_json, lm_err *err) {
    LM_TRY(need(db, "the database path", err));
    LM_TRY(need(out_json, "out_json", err));
    lm_config *cfg = NULL;
    LM_TRY(parse_config(config_json, &cfg, err));
    lm_mlp *m = NULL;
    lm_store *store = NULL;
    double *theta0 = NULL, *theta1 = NULL;
    lm_train_result res;
    lm_status st = lm_mlp_new(&cfg->model, &m, err);
    if (st == LM_OK && init) {
        if (!(theta0 = lm_malloc(m->n_params * sizeof *theta0)))
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
        else
            st = lm_mlp_load(m, init, theta0, err);
    }
    if (st == LM_OK && save && !(theta1 = lm_malloc(m->n_params * sizeof *theta1)))
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    if (st == LM_OK)
        st = lm_store_open(db, &store, err);
    if (st == LM_OK) {
        lm_train_opts opts = {0};
        opts.store = store;
        opts.theta_init = theta0;
        opts.theta_final = theta1;
        opts.stop = stop;
        st = lm_train_run(cfg, &opts, &res, err);
    }
    /* as `lmech train --save`: a diverged run's parameters are not finite and are not saved */
    if (st == LM_OK && save && res.status != LM_RUN_DIVERGED) {
        st = lm_mlp_save(m, theta1, cfg->train.dtype, save, err);
        if (st == LM_OK)
            st = lm_store_put_artifact(store, res.run_id, "checkpoint", "safetensors", save, err);
    }
    if (st == LM_OK) {
        json_t *fin = json_object();
        json_object_set_new(fin, "train_loss", num(res.train_loss));
        json_object_set_new(fin, "train_acc", num(res.train_acc));
        json_object_set_new(fin, "test_loss", num(res.test_loss));
        json_object_set_new(fin, "test_acc", num(res.test_acc));
        json_t *j = json_object();
        json_object_set_new(j, "run_id", json_integer(res.run_id));
        json_object_set_new(j, "status", json_string(lm_run_status_name(res.status)));
        json_object_set_new(j, "steps", json_integer((json_int_t) res.steps));
        json_object_set_new(j, "wall_s", json_real(res.wall_s));
        json_object_set_new(j, "final", fin);
        if (res.diverged_step >= 0)
            json_object_set_new(j, "diverged_step", json_integer(res.diverged_step));
        if (res.message[0])
            json_object_set_new(j, "message", json_string(res.message));
        json_object_set_new(j, "db", json_string(db));
        st = dump(j, out_json, err);
    }
    lm_store_close(store);
    lm_mlp_free(m);
    lm_free(theta0);
    lm_free(theta1);
    lm_config_free(cfg);
    return st;
}

/* ---------------------------------------------------------------- the run database */

static int run_row(void *ud, const lm_run_info *r) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "hash", json_string(r->hash));
    json_object_set_new(o, "status", json_string(r->status));
    json_object_set_new(o, "seed", json_integer((json_int_t) r->seed));
    json_object_set_new(o, "created", num(r->created));
    json_object_set_new(o, "finished", num(r->finished));
    json_object_set_new(o, "wall_s", num(r->wall_s));
    json_object_set_new(o, "steps", json_integer(r->steps));
    json_object_set_new(o, "diverged_step", json_integer(r->diverged_step));
    json_object_set_new(o, "threads", json_integer(r->threads));
    json_object_set_new(o, "lmech_version", json_string(r->lmech_version));
    json_object_set_new(o, "blas", json_string(r->blas));
    json_object_set_new(o, "host", json_string(r->host));
    json_object_set_new(o, "message", json_string(r->message));
    json_array_append_new((json_t *) ud, o);
    return 0;
}

lm_status lm_capi_runs(lm_store *s, char **out_json, lm_err *err) {
    LM_TRY(need(s, "the store", err));
    LM_TRY(need(out_json, "out_json", err));
    json_t *a = json_array();
    if (!a)
        LM_FAIL(err, LM_ENOMEM, "out of memory");
    lm_status st = lm_store_list_runs(s, run_row, a, err);
    if (st != LM_OK) {
        json_decref(a);
        return st;
    }
    return dump(a, out_json, err);
}

lm_status lm_capi_run_config(lm_store *s, int64_t run, char **out_json, lm_err *err) {
    LM_TRY(need(s, "the store", err));
    LM_TRY(need(out_json, "out_json", err));
    lm_run_info info;
    memset(&info, 0, sizeof info);
    LM_TRY(lm_store_get_run(s, run, &info, err));
    char *copy = info.config ? malloc(strlen(info.config) + 1) : NULL;
    if (copy)
        strcpy(copy, info.config);
    lm_run_info_clear(&info);
    if (!copy)
        LM_FAIL(err, LM_ENOMEM, "out of memory for the config of run %lld", (long long) run);
    *out_json = copy;
    return LM_OK;
}

/* The rows of one run's metrics, grown by doubling; names in order of first appearance. */
typedef struct rows {
    size_t n, cap;
    int64_t *steps, *which;
    double *values;
    json_t *names; /* array of strings */
    json_t *index; /* name -> position in names */
    int oom;
} rows;

static int grow(void **p, size_t n, size_t elt) {
    void *q = lm_malloc(n * elt);
    if (!q)
        return 0;
    if (*p)
        memcpy(q, *p, (n / 2) * elt);
    lm_free(*p);
    *p = q;
    return 1;
}

static int metric_row(void *ud, int64_t step, const char *name, double value) {
    rows *r = ud;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 256;
        if (!grow((void **) &r->steps, cap, sizeof(int64_t)) ||
            !grow((void **) &r->which, cap, sizeof(int64_t)) ||
            !grow((void **) &r->values, cap, sizeof(double))) {
            r->oom = 1;
            return 1;
        }
        r->cap = cap;
    }
    json_t *at = json_object_get(r->index, name);
    json_int_t k;
    if (at)
        k = json_integer_value(at);
    else {
        k = (json_int_t) json_array_size(r->names);
        if (json_array_append_new(r->names, json_string(name)) ||
            json_object_set_new(r->index, name, json_integer(k))) {
            r->oom = 1;
            return 1;
        }
    }
    r->steps[r->n] = step;
    r->which[r->n] = (int64_t) k;
    r->values[r->n] = value;
    r->n++;
    return 0;
}

lm_status lm_capi_metrics(lm_store *s, int64_t run, char **names_json, size_t *n, int64_t **steps,
                          double **values, int64_t **which, lm_err *err) {
    LM_TRY(need(s, "the store", err));
    if (!names_json || !n || !steps || !values || !which)
        LM_FAIL(err, LM_EINVAL, "lm_capi_metrics: an output pointer is NULL");
    rows r = {0};
    r.names = json_array();
    r.index = json_object();
    lm_status st = r.names && r.index ? lm_store_get_metrics(s, run, metric_row, &r, err)
                                      : lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "OOM");
    if (st == LM_OK && r.oom)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                        "out of memory reading the metrics of run %lld", (long long) run);
    json_decref(r.index);
    char *names = NULL;
    if (st == LM_OK)
        st = dump(r.names, &names, err);
    else
        json_decref(r.names);
    if (st != LM_OK) {
        lm_free(r.steps);
        lm_free(r.values);
        lm_free(r.which);
        return st;
    }
    *names_json = names;
    *n = r.n;
    *steps = r.steps;
    *values = r.values;
    *which = r.which;
    return LM_OK;
}

typedef struct claims_ctx {
    json_t *out;
    const char *experiment;
    int64_t invocation;
} claims_ctx;

static int claim_row(void *ud, const lm_claim *c) {
    claims_ctx *x = ud;
    json_t *o = json_object();
    json_object_set_new(o, "experiment", json_string(x->experiment));
    json_object_set_new(o, "invocation", json_integer(x->invocation));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "predicted", json_string(c->predicted));
    json_object_set_new(o, "predicted_value", num(c->predicted_value));
    json_object_set_new(o, "measured", num(c->measured));
    json_object_set_new(o, "uncertainty", num(c->uncertainty));
    json_object_set_new(o, "tolerance", json_string(c->tolerance));
    json_object_set_new(o, "tolerance_value", num(c->tolerance_value));
    json_object_set_new(o, "lo", num(c->lo));
    json_object_set_new(o, "hi", num(c->hi));
    json_object_set_new(o, "reason", json_string(c->reason));
    json_object_set_new(o, "verdict", json_string(lm_verdict_name(c->verdict)));
    json_object_set_new(o, "detail", json_string(c->detail));
    json_t *runs = json_array();
    for (size_t i = 0; i < c->n_runs; i++)
        json_array_append_new(runs, json_integer(c->runs[i]));
    json_object_set_new(o, "runs", runs);
    json_array_append_new(x->out, o);
    return 0;
}

static int exp_name(void *ud, const lm_exp_info *info) {
    json_t *names = ud;
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v) {
        if (strcmp(json_string_value(v), info->name) == 0)
            return 0;
    }
    json_array_append_new(names, json_string(info->name));
    return 0;
}

static lm_status claims_of(lm_store *s, const char *name, json_t *out, lm_err *err) {
    int64_t id;
    LM_TRY(lm_store_exp_latest(s, name, &id, err));
    if (id < 0)
        LM_FAIL(err, LM_ENOTFOUND, "no experiment \"%s\" in this database", name);
    claims_ctx x = {out, name, id};
    return lm_store_exp_claims(s, id, claim_row, &x, err);
}

lm_status lm_capi_claims(lm_store *s, const char *experiment, char **out_json, lm_err *err) {
    LM_TRY(need(s, "the store", err));
    LM_TRY(need(out_json, "out_json", err));
    json_t *out = json_array(), *names = json_array();
    lm_status st =
        out && names ? LM_OK : lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    if (st == LM_OK && experiment)
        st = claims_of(s, experiment, out, err);
    else if (st == LM_OK) {
        st = lm_store_exp_list(s, exp_name, names, err);
        size_t i;
        json_t *v;
        json_array_foreach(names, i, v) {
            if (st == LM_OK)
                st = claims_of(s, json_string_value(v), out, err);
        }
    }
    json_decref(names);
    if (st != LM_OK) {
        json_decref(out);
        return st;
    }
    return dump(out, out_json, err);
}

/* ---------------------------------------------------------------- a model */

struct lm_capi_model {
    lm_config *cfg;
    lm_mlp *m;
    double *theta; /* [n_params] */
    double *grad;  /* [n_params] scratch */
    lm_mlp_ws *ws; /* float64, ws_n examples */
    size_t ws_n;
};

lm_status lm_capi_model_load(const char *config_json, const char *safetensors, lm_capi_model **out,
                             lm_err *err) {
    LM_TRY(need(out, "out", err));
    lm_capi_model *h = lm_calloc(1, sizeof *h);
    if (!h)
        LM_FAIL(err, LM_ENOMEM, "out of memory");
    lm_status st = parse_config(config_json, &h->cfg, err);
    if (st == LM_OK)
        st = lm_threads_set(h->cfg->train.threads, err);
    if (st == LM_OK)
        st = lm_mlp_new(&h->cfg->model, &h->m, err);
    if (st == LM_OK && (!(h->theta = lm_malloc(h->m->n_params * sizeof(double))) ||
                        !(h->grad = lm_malloc(h->m->n_params * sizeof(double)))))
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory for %zu parameters",
                        h->m->n_params);
    if (st == LM_OK)
        st = safetensors ? lm_mlp_load(h->m, safetensors, h->theta, err)
                         : lm_train_init_params(h->cfg, h->m, h->theta, err);
    if (st != LM_OK) {
        lm_capi_model_free(h);
        return st;
    }
    *out = h;
    return LM_OK;
}

void lm_capi_model_free(lm_capi_model *h) {
    if (!h)
        return;
    lm_mlp_ws_free(h->ws);
    lm_free(h->theta);
    lm_free(h->grad);
    lm_mlp_free(h->m);
    lm_config_free(h->cfg);
    lm_free(h);
}

size_t lm_capi_model_n_params(const lm_capi_model *h) {
    return h ? h->m->n_params : 0;
}
size_t lm_capi_model_d_in(const lm_capi_model *h) {
    return h ? h->m->d_in : 0;
}
size_t lm_capi_model_d_out(const lm_capi_model *h) {
    return h ? h->m->d_out : 0;
}
size_t lm_capi_model_n_layers(const lm_capi_model *h) {
    return h ? h->m->n_layers : 0;
}
const char *lm_capi_model_config(const lm_capi_model *h) {
    return h ? h->cfg->json : NULL;
}

lm_status lm_capi_model_tensors(const lm_capi_model *h, char **out_json, lm_err *err) {
    LM_TRY(need(h, "the model", err));
    LM_TRY(need(out_json, "out_json", err));
    json_t *a = json_array();
    for (size_t i = 0; a && i < h->m->n_tensors; i++) {
        const lm_tensor_info *t = &h->m->tensor[i];
        json_t *shape = json_array();
        for (size_t d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer((json_int_t) t->shape[d]));
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(t->name));
        json_object_set_new(o, "offset", json_integer((json_int_t) t->off));
        json_object_set_new(o, "shape", shape);
        json_array_append_new(a, o);
    }
    return dump(a, out_json, err);
}

lm_status lm_capi_model_get_params(const lm_capi_model *h, double *theta, lm_err *err) {
    LM_TRY(need(h, "the model", err));
    LM_TRY(need(theta, "theta", err));
    memcpy(theta, h->theta, h->m->n_params * sizeof(double));
    return LM_OK;
}

lm_status lm_capi_model_set_params(lm_capi_model *h, const double *theta, lm_err *err) {
    LM_TRY(need(h, "the model", err));
    LM_TRY(need(theta, "theta", err));
    for (size_t i = 0; i < h->m->n_params; i++)
        if (!isfinite(theta[i]))
            LM_FAIL(err, LM_ENUMERIC, "parameter %zu is %g: parameters must be finite", i,
                    theta[i]);
    memcpy(h->theta, theta, h->m->n_params * sizeof(double));
    return LM_OK;
}

lm_status lm_capi_model_data(const lm_capi_model *h, lm_dataset **train, lm_dataset **test,
                             lm_err *err) {
    LM_TRY(need(h, "the model", err));
    LM_TRY(need(train, "train", err));
    return lm_data_load(&h->cfg->data, h->cfg->seed, train, test, err);
}

/* A workspace for at least n examples (the old one is kept when it is large enough). */
static lm_status ensure_ws(lm_capi_model *h, const void *x, size_t n, lm_err *err) {
    LM_TRY(need(h, "the model", err));
    LM_TRY(need(x, "x", err));
    if (n == 0)
        LM_FAIL(err, LM_ESHAPE, "x has no rows: at least one example is needed");
    if (h->ws && n <= h->ws_n)
        return LM_OK;
    lm_mlp_ws *ws;
    LM_TRY(lm_mlp_ws_new(h->m, n, LM_F64, &ws, err));
    lm_mlp_ws_free(h->ws);
    h->ws = ws;
    h->ws_n = n;
    return LM_OK;
}

lm_status lm_capi_model_forward(lm_capi_model *h, const double *x, size_t n, double *f,
                                lm_err *err) {
    LM_TRY(ensure_ws(h, x, n, err));
    LM_TRY(need(f, "f", err));
    return lm_mlp_forward(h->m, h->ws, h->theta, x, n, f, err);
}

lm_status lm_capi_model_loss_grad(lm_capi_model *h, const double *x, const double *y, size_t n,
                                  double *loss, double *grad, lm_err *err) {
    LM_TRY(ensure_ws(h, x, n, err));
    LM_TRY(need(y, "y", err));
    LM_TRY(need(loss, "loss", err));
    return lm_mlp_loss_grad(h->m, h->ws, h->cfg->loss, h->theta, x, y, n, loss, grad, NULL, err);
}

size_t lm_capi_model_n_repr(const lm_capi_model *h) {
    return h ? h->m->n_repr : 0;
}
size_t lm_capi_model_layer_width(const lm_capi_model *h, size_t layer) {
    return h && layer <= h->m->n_repr ? lm_mlp_layer_width(h->m, layer) : 0;
}

lm_status lm_capi_model_features(lm_capi_model *h, const double *x, size_t n, size_t layer,
                                 double *out, lm_err *err) {
    LM_TRY(ensure_ws(h, x, n, err));
    LM_TRY(need(out, "out", err));
    return lm_mlp_features(h->m, h->ws, h->theta, x, n, layer, out, err);
}

lm_status lm_capi_model_jvp(lm_capi_model *h, const double *x, size_t n, const double *v,
                            double *df, lm_err *err) {
    LM_TRY(ensure_ws(h, x, n, err));
    LM_TRY(need(v, "v", err));
    LM_TRY(need(df, "df", err));
    return lm_mlp_jvp(h->m, h->ws, h->theta, x, n, v, df, err);
}

lm_status lm_capi_model_hvp(lm_capi_model *h, const double *x, const double *y, size_t n,
                            const double *v, double *hv, lm_err *err) {
    LM_TRY(ensure_ws(h, x, n, err));
    LM_TRY(need(y, "y", err));
    LM_TRY(need(v, "v", err));
    LM_TRY(need(hv, "hv", err));
    double loss;
    LM_TRY(lm_mlp_hvp_prepare(h->m, h->ws, h->cfg->loss, h->theta, x, y, n, &loss, NULL, err));
    return lm_mlp_hvp_apply(h->m, h->ws, v, hv, err);
}

lm_status lm_capi_model_ntk(lm_capi_model *h, const double *x, size_t n, size_t max_bytes,
                            double *ntk, double *layer_ntk, lm_err *err) {
    LM_TRY(need(h, "the model", err));
    LM_TRY(need(x, "x", err));
    LM_TRY(need(ntk, "ntk", err));
    return lm_kernel_empirical(h->m, h->theta, x, n, NULL, max_bytes, ntk, layer_ntk, err);
}

/* ---------------------------------------------------------------- Hessian */

/* One unsigned option of the JSON object o in [lo, hi]. */
static lm_status opt_size(json_t *o, const char *key, size_t lo, size_t hi, size_t *out,
                          lm_err *err) {
    json_t *v = json_object_get(o, key);
    if (!v)
        return LM_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (size_t) json_integer_value(v) < lo ||
        (size_t) json_integer_value(v) > hi)
        LM_FAIL(err, LM_EINVAL, "hessian option \"%s\": expected an integer in [%zu, %zu]", key, lo,
                hi);
    *out = (size_t) json_integer_value(v);
    return LM_OK;
}

static lm_status opt_bool(json_t *o, const char *key, int *out, lm_err *err) {
    json_t *v = json_object_get(o, key);
    if (!v)
        return LM_OK;
    if (!json_is_boolean(v))
        LM_FAIL(err, LM_EINVAL, "hessian option \"%s\": expected true or false", key);
    *out = json_is_true(v);
    return LM_OK;
}

/* The options of `lmech hessian` (its flags' bounds) from a JSON object into *h, whose defaults
 * are lm_curv_spectrum_opts_default's and the config's seed. */
static lm_status parse_hess_opts(json_t *o, lm_curv_spectrum_opts *h, lm_err *err) {
    static const char *const known[] = {
        "top",    "smallest", "method", "tol",        "max_iter",  "seed",         "trace",
        "probes", "density",  "bins",   "slq_probes", "slq_steps", "max_memory_mb"};
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok)
            LM_FAIL(err, LM_EINVAL,
                    "unknown hessian option \"%s\" (known: top, smallest, method, tol, max_iter, "
                    "seed, trace, probes, density, slq_probes, slq_steps, bins, max_memory_mb)",
                    key);
    }
    size_t seed = (size_t) h->seed;
    LM_TRY(opt_size(o, "top", 1, 100000, &h->top, err));
    LM_TRY(opt_size(o, "smallest", 0, 100000, &h->smallest, err));
    LM_TRY(opt_size(o, "max_iter", 1, 1000000, &h->max_iter, err));
    LM_TRY(opt_size(o, "probes", 2, 100000000, &h->probes, err));
    LM_TRY(opt_size(o, "slq_probes", 1, 1000000, &h->slq_probes, err));
    LM_TRY(opt_size(o, "slq_steps", 1, 100000, &h->slq_steps, err));
    LM_TRY(opt_size(o, "bins", 2, 10000000, &h->bins, err));
    LM_TRY(opt_size(o, "max_memory_mb", 1, (size_t) 1 << 30, &h->max_mb, err));
    LM_TRY(opt_size(o, "seed", 0, SIZE_MAX, &seed, err));
    LM_TRY(opt_bool(o, "trace", &h->trace, err));
    LM_TRY(opt_bool(o, "density", &h->density, err));
    h->seed = seed;
    json_t *tol = json_object_get(o, "tol");
    if (tol) {
        if (!json_is_number(tol) || !(json_number_value(tol) > 0) ||
            !isfinite(json_number_value(tol)))
            LM_FAIL(err, LM_EINVAL, "hessian option \"tol\": expected a positive number");
        h->tol = json_number_value(tol);
    }
    json_t *method = json_object_get(o, "method");
    if (method) {
        const char *m = json_string_value(method);
        if (!m || (strcmp(m, "dense") != 0 && strcmp(m, "lanczos") != 0))
            LM_FAIL(err, LM_EINVAL, "hessian option \"method\": expected \"lanczos\" or \"dense\"");
        h->dense = strcmp(m, "dense") == 0;
    }
    return LM_OK;
}

/* The object of `lmech hessian --json` (tools/lmech/cmd_hessian.c) from the report. */
static json_t *hess_json(const lm_curv_spectrum_opts *j, const lm_curv_spectrum *r, size_t p,
                         size_t n, double loss, size_t hvps, double wall) {
    json_t *js = json_object();
    json_object_set_new(js, "method", json_string(j->dense ? "dense" : "lanczos"));
    json_object_set_new(js, "n_params", json_integer((json_int_t) p));
    json_object_set_new(js, "n_examples", json_integer((json_int_t) n));
    json_object_set_new(js, "loss", num(loss));
    json_object_set_new(js, "eigenvalues", num_array(r->evals, j->top));
    json_object_set_new(js, "residuals", num_array(r->res, j->top));
    json_object_set_new(js, "tol", num(j->tol));
    json_object_set_new(js, "converged", json_boolean(r->converged));
    if (!j->dense)
        json_object_set_new(js, "iterations", json_integer((json_int_t) r->iters));
    if (j->smallest) {
        json_t *s = json_object();
        json_object_set_new(s, "eigenvalues", num_array(r->small, j->smallest));
        if (r->small_res)
            json_object_set_new(s, "residuals", num_array(r->small_res, j->smallest));
        json_object_set_new(js, "smallest", s);
    }
    json_object_set_new(js, "hvps", json_integer((json_int_t) hvps));
    json_object_set_new(js, "wall_s", num(wall));
    if (j->trace) {
        json_t *t = json_object();
        json_object_set_new(t, "estimate", num(r->trace));
        json_object_set_new(t, "stderr", num(r->trace_se));
        json_object_set_new(t, "probes", json_integer((json_int_t) (j->dense ? 0 : j->probes)));
        json_object_set_new(t, "exact", json_boolean(j->dense));
        json_object_set_new(js, "trace", t);
    }
    if (j->density) {
        json_t *d = json_object();
        json_object_set_new(d, "grid", num_array(r->grid, j->bins));
        json_object_set_new(d, "values", num_array(r->values, j->bins));
        if (!j->dense) {
            size_t m = j->slq_probes * r->slq_steps;
            json_object_set_new(d, "probes", json_integer((json_int_t) j->slq_probes));
            json_object_set_new(d, "steps", json_integer((json_int_t) r->slq_steps));
            json_object_set_new(d, "nodes", num_array(r->nodes, m));
            json_object_set_new(d, "weights", num_array(r->weights, m));
            json_object_set_new(d, "trace_estimate", num(r->slq_trace));
        }
        json_object_set_new(js, "density", d);
    }
    return js;
}

lm_status lm_capi_model_hessian(lm_capi_model *h, const double *x, const double *y, size_t n,
                                const char *opts_json, char **out_json, lm_err *err) {
    LM_TRY(ensure_ws(h, x, n, err));
    LM_TRY(need(y, "y", err));
    LM_TRY(need(out_json, "out_json", err));
    lm_curv_spectrum_opts so = lm_curv_spectrum_opts_default();
    so.seed = h->cfg->seed; /* as the CLI: --seed defaults to the config's */
    if (opts_json) {
        json_error_t je;
        json_t *o = json_loads(opts_json, 0, &je);
        if (!o || !json_is_object(o)) {
            json_decref(o);
            LM_FAIL(err, LM_EINVAL, "hessian options: expected a JSON object (%s)",
                    o ? "got another value" : je.text);
        }
        lm_status st = parse_hess_opts(o, &so, err);
        json_decref(o);
        LM_TRY(st);
    }
    double loss, t0 = lm_now();
    LM_TRY(lm_mlp_hvp_prepare(h->m, h->ws, h->cfg->loss, h->theta, x, y, n, &loss, NULL, err));
    if (!isfinite(loss))
        LM_FAIL(err, LM_ENUMERIC, "the loss is %g: its Hessian is not defined", loss);
    lm_curv_mlp op = {h->m, h->ws, 0};
    lm_curv_spectrum r;
    LM_TRY(lm_curv_spectrum_run(lm_curv_mlp_apply, &op, h->m->n_params, &so, &r, err));
    json_t *js = hess_json(&so, &r, h->m->n_params, n, loss, op.n_ops, lm_now() - t0);
    lm_curv_spectrum_clear(&r);
    return dump(js, out_json, err);
}
