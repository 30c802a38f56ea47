/*
 * train.c: the training loop. One run = one config trained once, recorded in the store.
 *
 * Workload: thousands to millions of small steps (batch 32-1024, widths 64-4096), so a step is
 * gather -> forward/backward -> optimizer, with every buffer allocated before the first step
 * (a step allocates nothing; tests/train checks it). Observers run every eval_every steps on a
 * float64 view of the parameters (and the performance observer of a float32 run on its float32
 * parameters and sets, lm_obs_f32); their metrics are written in one transaction per evaluation,
 * so a killed run leaves whole evaluations behind and is found `interrupted`.
 *
 * model.center_output (science.md §3's h = alpha (f(w) - f(w_0))) is a target shift: for the mse
 * losses L(F - F_0, y) = L(F, y + F_0), so the run computes F_0 = F(w_0) once on the training and
 * test inputs (one forward pass each, in the run's dtype) and trains and observes against
 * y + F_0. The shifted targets live in views owned by the run (x and labels shared with the
 * loaded or borrowed sets, which are never written). The parameters and checkpoints are the
 * plain ones: F(w) - F(w_0) must be formed by whoever evaluates them.
 */
#include "lmech/train.h"

#include "lmech/optim.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- the metric sink */

#define SINK_ROWS 512 /* metrics per evaluation: 3 per layer + a handful; room for later ones */
#define SINK_NAME 48

struct lm_obs_sink {
    size_t n;
    int64_t step;
    lm_metric rows[SINK_ROWS];
    char names[SINK_ROWS][SINK_NAME];
};

lm_status lm_obs_emit(lm_obs_sink *sink, const char *name, double value, lm_err *err) {
    if (sink->n == SINK_ROWS)
        LM_FAIL(err, LM_ELIMIT, "more than %d metrics in one evaluation (at \"%s\")", SINK_ROWS,
                name);
    if (strlen(name) >= SINK_NAME)
        LM_FAIL(err, LM_EINVAL, "metric name \"%s\" is longer than %d characters", name,
                SINK_NAME - 1);
    snprintf(sink->names[sink->n], SINK_NAME, "%s", name);
    sink->rows[sink->n] = (lm_metric){sink->step, sink->names[sink->n], value};
    sink->n++;
    return LM_OK;
}

static int sink_has(const lm_obs_sink *sink, const char *name) {
    for (size_t i = 0; i < sink->n; i++)
        if (strcmp(sink->names[i], name) == 0)
            return 1;
    return 0;
}

static double sink_get(const lm_obs_sink *sink, const char *name) {
    for (size_t i = 0; i < sink->n; i++)
        if (strcmp(sink->names[i], name) == 0)
            return sink->rows[i].value;
    return LM_NAN;
}

/* ---------------------------------------------------------------- evaluation helpers */

lm_status lm_eval_dataset(const lm_mlp *m, lm_mlp_ws *ws, size_t ws_n, lm_loss loss,
                          const double *theta, const lm_dataset *ds, double *loss_out,
                          double *acc_out, lm_err *err) {
    double total = 0.0, hits = 0.0, wsum = 0.0;
    const size_t k = m->d_out, P = m->positions; /* P positions: the accuracy over all of them */
    for (size_t lo = 0; lo < ds->n; lo += ws_n) {
        const size_t c = ds->n - lo < ws_n ? ds->n - lo : ws_n;
        double v;
        LM_TRY(lm_mlp_loss_grad(m, ws, loss, theta, ds->x + lo * ds->d, ds->y + lo * k, c, &v, NULL,
                                NULL, err));
        /* every loss is a mean over its normaliser (loss.h: lm_loss_weight), so chunk means
         * combine with the chunks' weights (c examples, or c's observed targets) */
        const double w = lm_loss_weight(loss, ds->y + lo * k, c, k);
        total += v * w;
        wsum += w;
        hits += lm_accuracy(lm_mlp_ws_output(ws), ds->y + lo * k, c * P, k / P) * (double) c;
    }
    *loss_out = wsum > 0 ? total / wsum : 0.0;
    /* accuracy needs classes (k > 1 with labels) or signs (k = 1) */
    *acc_out = (k == 1 || ds->labels) ? hits / (double) ds->n : LM_NAN;
    return LM_OK;
}

lm_status lm_eval_dataset_f32(const lm_mlp *m, lm_mlp_ws *ws, size_t ws_n, lm_loss loss,
                              const float *theta, const float *x, const float *y,
                              const lm_dataset *ds, float *out, double *loss_out, double *acc_out,
                              lm_err *err) {
    double total = 0.0, hits = 0.0, wsum = 0.0;
    const size_t k = m->d_out, P = m->positions; /* P positions: the accuracy over all of them */
    for (size_t lo = 0; lo < ds->n; lo += ws_n) {
        const size_t c = ds->n - lo < ws_n ? ds->n - lo : ws_n;
        double v;
        LM_TRY(lm_mlp_loss_grad_f32(m, ws, loss, theta, x + lo * ds->d, y + lo * k, c, &v, NULL,
                                    out, err));
        const double w = lm_loss_weight_f32(loss, y + lo * k, c, k);
        total += v * w;
        wsum += w;
        hits += lm_accuracy_f32(out, y + lo * k, c * P, k / P) * (double) c;
    }
    *loss_out = wsum > 0 ? total / wsum : 0.0;
    *acc_out = (k == 1 || ds->labels) ? hits / (double) ds->n : LM_NAN;
    return LM_OK;
}

/* Full-batch gradient over ds in chunks; grad overwritten. */
static lm_status eval_grad(const lm_mlp *m, lm_mlp_ws *ws, size_t ws_n, lm_loss loss,
                           const double *theta, const lm_dataset *ds, double *grad, double *tmp,
                           double *loss_out, lm_err *err) {
    const size_t p = m->n_params, k = m->d_out;
    memset(grad, 0, p * sizeof *grad);
    double total = 0.0;
    const double wsum = lm_loss_weight(loss, ds->y, ds->n, k);
    for (size_t lo = 0; lo < ds->n; lo += ws_n) {
        const size_t c = ds->n - lo < ws_n ? ds->n - lo : ws_n;
        double v;
        LM_TRY(lm_mlp_loss_grad(m, ws, loss, theta, ds->x + lo * ds->d, ds->y + lo * k, c, &v, tmp,
                                NULL, err));
        /* chunk c's share of the full-batch mean (loss.h: lm_loss_weight) */
        const double w = wsum > 0 ? lm_loss_weight(loss, ds->y + lo * k, c, k) / wsum : 0.0;
        cblas_daxpy((int) p, w, tmp, 1, grad, 1);
        total += v * w;
    }
    *loss_out = total;
    return LM_OK;
}

static lm_status check_shapes(const lm_config *cfg, const lm_mlp *m, const lm_dataset *ds,
                              lm_err *err) {
    /* what the model's input and output sizes are called in the config */
    char in_key[40] = "model.input_shape (its product)", out_key[40] = "model.layers' output";
    if (lm_mlp_is_chain(m)) {
        snprintf(in_key, sizeof in_key, "model.widths[0]");
        snprintf(out_key, sizeof out_key, "model.widths[%zu]", m->n_layers);
    }
    if (ds->d != m->d_in)
        LM_FAIL(err, LM_ESHAPE, "%s = %zu, but the data have %zu features per example", in_key,
                m->d_in, ds->d);
    if (ds->k != m->d_out && !ds->labels) /* regression targets: y is used as it is */
        LM_FAIL(err, LM_ESHAPE, "%s = %zu, but the data's targets have %zu columns", out_key,
                m->d_out, ds->k);
    if (m->spec.arch == LM_ARCH_GPT && ds->k != m->d_out) {
        const lm_gpt_spec *g = &m->spec.gpt;
        LM_FAIL(err, LM_ESHAPE,
                "model.vocab %zu with model.predict \"%s\" gives %zu outputs per example, but "
                "the data have %zu (%zu position%s of %zu classes)%s",
                g->vocab, g->every > 0 ? "every" : "last", m->d_out, ds->k, ds->positions,
                ds->positions == 1 ? "" : "s", ds->positions ? ds->k / ds->positions : ds->k,
                ds->positions > 1 && g->every <= 0   ? ": set model.predict \"every\""
                : ds->positions == 1 && g->every > 0 ? ": set model.predict \"last\""
                                                     : "");
    }
    if (ds->k != m->d_out)
        LM_FAIL(err, LM_ESHAPE, "%s = %zu, but the data (targets \"%s\") have %zu outputs", out_key,
                m->d_out, lm_targets_name(cfg->data.targets), ds->k);
    return LM_OK;
}

/* ---------------------------------------------------------------- the run */

typedef struct run {
    const lm_config *cfg;
    const lm_train_opts *opts;
    lm_dataset *train, *test; /* what training and observers use: a loaded, borrowed or
                                 centred set (read-only here) */
    lm_dataset *loaded_train, *loaded_test; /* loaded from cfg->data by the run: freed with it */
    lm_dataset ctrain, ctest;               /* centred views: x, labels of the source, y owned */
    lm_mlp *m;
    lm_mlp_team *team;                 /* training step: data-parallel loss+gradient   */
    void *obs_state[LM_MAX_OBSERVERS]; /* observers' state across calls */
    lm_mlp_ws *ws_obs;                 /* float64 observer workspace (chunk examples) */
    size_t obs_n;
    lm_optim *opt;
    double *theta, *theta0, *grad, *scratch; /* float64 [p] */
    float *theta32, *grad32, *out32;         /* float32 parameters, gradient, outputs    */
    const lm_dataset_f32 *tr32, *te32;       /* train/test in float32 (float32 runs)     */
    lm_dataset_f32 *own32[2];                /* the copies this run made (else borrowed) */
    lm_mlp_ws *ws_obs32;                     /* float32 observer workspace (obs_n)       */
    lm_obs_f32 f32view;                      /* what observers see of a float32 run      */
    void *bx, *by;                           /* minibatch buffers (dtype)                */
    size_t *perm;
    size_t *seg_off;
    double *lr_mult;
    lm_obs_sink *sink;
    double *red; /* data-parallel runs: [p + 3] the sum over ranks (gradient, loss, weight, stop) */
    int64_t run_id;
} run;

static void run_free(run *r) {
    /* observers first: their state (e.g. the features observer's workspace) may read the model */
    const lm_observer *const *obs = lm_observers();
    for (size_t i = 0; i < LM_MAX_OBSERVERS && obs[i]; i++)
        if (obs[i]->release && r->obs_state[i])
            obs[i]->release(r->obs_state[i]);
    lm_dataset_free(r->loaded_train);
    lm_dataset_free(r->loaded_test);
    lm_free(r->ctrain.y);
    lm_free(r->ctest.y);
    lm_mlp_team_free(r->team);
    lm_mlp_ws_free(r->ws_obs);
    lm_optim_free(r->opt);
    lm_mlp_free(r->m);
    lm_free(r->theta);
    lm_free(r->theta0);
    lm_free(r->grad);
    lm_free(r->scratch);
    lm_free(r->theta32);
    lm_free(r->grad32);
    lm_dataset_f32_free(r->own32[0]);
    lm_dataset_f32_free(r->own32[1]);
    lm_free(r->out32);
    lm_mlp_ws_free(r->ws_obs32);
    lm_free(r->bx);
    lm_free(r->by);
    lm_free(r->perm);
    lm_free(r->seg_off);
    lm_free(r->lr_mult);
    lm_free(r->sink);
    lm_free(r->red);
}

/* The interval of observer o for this run (0: never). */
static size_t obs_interval(const run *r, const lm_observer *o) {
    if (o->every)
        return o->every(r->cfg);
    return r->cfg->train.eval_every;
}

/* Runs the observers due at `step` (all of them when `all`) and writes their metrics in one
 * transaction. *ran (optional) tells whether any ran. */
static lm_status observe(run *r, size_t step, int all, double batch_loss, double grad_norm,
                         int *ran, lm_err *err) {
    const lm_observer *const *obs = lm_observers();
    int due[LM_MAX_OBSERVERS] = {0}, any = 0;
    for (size_t i = 0; i < LM_MAX_OBSERVERS && obs[i]; i++) {
        const size_t every = obs_interval(r, obs[i]);
        due[i] = every > 0 && (all || step % every == 0);
        any |= due[i];
    }
    if (ran)
        *ran = any;
    if (!any)
        return LM_OK;
    r->sink->n = 0;
    const size_t p = r->m->n_params;
    if (r->cfg->train.dtype == LM_F32)
        for (size_t i = 0; i < p; i++)
            r->theta[i] = (double) r->theta32[i];
    lm_obs_ctx ctx = {r->cfg,         r->m,
                      r->train,       r->test,
                      r->theta,       r->theta0,
                      step,           batch_loss,
                      grad_norm,      lm_optim_lr(r->opt, step),
                      r->ws_obs,      r->obs_n,
                      r->scratch,     r->opt,
                      NULL,           r->cfg->train.dtype == LM_F32 ? &r->f32view : NULL,
                      r->opts->reduce};
    r->sink->step = (int64_t) step;
    for (size_t i = 0; i < LM_MAX_OBSERVERS && obs[i]; i++) {
        if (!due[i])
            continue;
        ctx.state = &r->obs_state[i];
        lm_status st = obs[i]->observe(&ctx, r->sink, err);
        if (st != LM_OK) {
            lm_err_prefix(err, "observer %s at step %zu: ", obs[i]->name, step);
            return st;
        }
    }
    if (r->opts->store)
        LM_TRY(lm_store_put_metrics(r->opts->store, r->run_id, r->sink->n, r->sink->rows, err));
    return LM_OK;
}

/* model.center_output needs a loss of F - y (the config refuses the rest; this guards configs
 * built in code). */
static lm_status check_center(const lm_config *cfg, lm_err *err) {
    if (cfg->center_output && cfg->loss != LM_LOSS_MSE && cfg->loss != LM_LOSS_MSE_MEAN &&
        cfg->loss != LM_LOSS_MSE_OBSERVED)
        LM_FAIL(err, LM_EINVAL,
                "model.center_output = true needs loss \"mse\", \"mse_mean\" or \"mse_observed\", "
                "got loss \"%s\" "
                "(the output is centred by shifting the targets)",
                lm_loss_name(cfg->loss));
    return LM_OK;
}

/* F(theta) on every row of ds, added into y [n, k] (y += F), in chunks of r->obs_n rows, in
 * dtype dt: float32 runs evaluate in float32 (ws32, x32 [obs_n d], f32 [obs_n k] given) so that
 * F_0 is the output the run itself starts from. */
static lm_status add_outputs(run *r, lm_dtype dt, const double *theta, const float *theta32,
                             const lm_dataset *ds, lm_mlp_ws *ws32, float *x32, float *f32,
                             double *y, lm_err *err) {
    const size_t d = r->m->d_in, k = r->m->d_out;
    for (size_t lo = 0; lo < ds->n; lo += r->obs_n) {
        const size_t c = ds->n - lo < r->obs_n ? ds->n - lo : r->obs_n;
        if (dt == LM_F32) {
            for (size_t i = 0; i < c * d; i++)
                x32[i] = (float) ds->x[lo * d + i];
            LM_TRY(lm_mlp_forward_f32(r->m, ws32, theta32, x32, c, f32, err));
            for (size_t i = 0; i < c * k; i++)
                y[lo * k + i] += (double) f32[i];
        } else {
            LM_TRY(lm_mlp_forward(r->m, r->ws_obs, theta, ds->x + lo * d, c, NULL, err));
            const double *f = lm_mlp_ws_output(r->ws_obs);
            for (size_t i = 0; i < c * k; i++)
                y[lo * k + i] += f[i];
        }
    }
    return LM_OK;
}

/* A view of src with targets y + F(theta) (src itself is not written). */
static lm_status center_set(run *r, lm_dtype dt, const double *theta, const float *theta32,
                            const lm_dataset *src, lm_dataset *view, lm_mlp_ws *ws32, float *x32,
                            float *f32, lm_err *err) {
    const size_t cnt = src->n * src->k;
    *view = *src;
    view->y = lm_malloc((cnt ? cnt : 1) * sizeof *view->y);
    if (!view->y)
        LM_FAIL(err, LM_ENOMEM, "out of memory for %zu centred targets", cnt);
    memcpy(view->y, src->y, cnt * sizeof *view->y);
    return add_outputs(r, dt, theta, theta32, src, ws32, x32, f32, view->y, err);
}

/* model.center_output: train and test become views with targets y + F(w_0). */
static lm_status center(run *r, const double *theta0, lm_dtype dt, lm_err *err) {
    const size_t p = r->m->n_params, d = r->m->d_in, k = r->m->d_out;
    lm_mlp_ws *ws32 = NULL;
    float *theta32 = NULL, *x32 = NULL, *f32 = NULL;
    lm_status st = LM_OK;
    if (dt == LM_F32) {
        st = lm_mlp_ws_new(r->m, r->obs_n, LM_F32, &ws32, err);
        theta32 = lm_malloc(p * sizeof *theta32);
        x32 = lm_malloc(r->obs_n * d * sizeof *x32);
        f32 = lm_malloc(r->obs_n * k * sizeof *f32);
        if (st == LM_OK && (!theta32 || !x32 || !f32))
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                            "out of memory for the float32 initial outputs (%zu parameters)", p);
        for (size_t i = 0; st == LM_OK && i < p; i++)
            theta32[i] = (float) theta0[i];
    }
    if (st == LM_OK)
        st = center_set(r, dt, theta0, theta32, r->train, &r->ctrain, ws32, x32, f32, err);
    if (st == LM_OK && r->test)
        st = center_set(r, dt, theta0, theta32, r->test, &r->ctest, ws32, x32, f32, err);
    if (st == LM_OK) {
        r->train = &r->ctrain;
        if (r->test)
            r->test = &r->ctest;
    }
    lm_mlp_ws_free(ws32);
    lm_free(theta32);
    lm_free(x32);
    lm_free(f32);
    return st;
}

size_t lm_train_segment_rates(const lm_config *cfg, const lm_mlp *m, size_t *seg_off,
                              double *rate) {
    const lm_optim_spec *o = &cfg->optim;
    lm_mlp_segments(m, lm_opt_is_adam(o->kind), seg_off, rate);
    const size_t n = lm_mlp_n_segments(m);
    for (size_t i = 0; i < n; i++) {
        const size_t l = lm_mlp_segment_layer(m, i);
        rate[i] *= o->n_layer_lr > l ? o->layer_lr[l] : 1.0;
    }
    return n;
}

lm_status lm_train_init_params(const lm_config *cfg, const lm_mlp *m, double *theta, lm_err *err) {
    if (cfg->model.init != LM_INIT_ALIGNED)
        return lm_mlp_init(m, cfg->seed, theta, err);
    const lm_data_spec *d = &cfg->data;
    const size_t r = d->n_sv;
    const size_t nu = d->outputs * r, nv = d->dim * r;
    double *U = lm_malloc((nu > 0 ? nu : 1) * sizeof *U);
    double *V = lm_malloc((nv > 0 ? nv : 1) * sizeof *V);
    lm_status st = U && V ? LM_OK
                          : lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                                       "out of memory for the task's modes");
    if (st == LM_OK)
        st = lm_data_linear_modes(d, cfg->seed, U, V, err);
    if (st == LM_OK && (d->outputs != m->d_out || d->dim != m->d_in))
        st = lm_err_set(
            err, LM_EINVAL, __FILE__, __LINE__,
            "model.init \"aligned\": the network maps %zu -> %zu but the data %zu -> %zu", m->d_in,
            m->d_out, d->dim, d->outputs);
    if (st == LM_OK)
        st = lm_mlp_init_aligned(m, cfg->seed, r, U, V, cfg->model.a0, theta, err);
    lm_free(U);
    lm_free(V);
    return st;
}

static lm_status setup(run *r, lm_err *err) {
    const lm_config *cfg = r->cfg;
    LM_TRY(lm_threads_set(cfg->train.threads, err));
    LM_TRY(check_center(cfg, err));
    if (r->opts->train) { /* the datasets are only read: the cast drops const for the struct */
        r->train = (lm_dataset *) r->opts->train;
        r->test = (lm_dataset *) r->opts->test;
    } else {
        LM_TRY(lm_data_load(&cfg->data, cfg->seed, &r->loaded_train, &r->loaded_test, err));
        r->train = r->loaded_train;
        r->test = r->loaded_test;
    }
    LM_TRY(lm_mlp_new(&cfg->model, &r->m, err));
    LM_TRY(check_shapes(cfg, r->m, r->train, err));
    if (r->test)
        LM_TRY(check_shapes(cfg, r->m, r->test, err));
    const lm_mlp *m = r->m;
    const size_t p = m->n_params, n = r->train->n, d = m->d_in, k = m->d_out;
    const lm_dtype dt = cfg->train.dtype;
    const size_t B =
        (cfg->train.batch_size == 0 || cfg->train.batch_size >= n) ? n : cfg->train.batch_size;
    r->theta = lm_malloc(p * sizeof(double));
    r->theta0 = lm_malloc(p * sizeof(double));
    r->grad = lm_malloc(p * sizeof(double));
    r->scratch = lm_malloc(p * sizeof(double));
    r->perm = lm_malloc(n * sizeof(size_t));
    r->seg_off = lm_malloc((lm_mlp_n_segments(m) + 1) * sizeof(size_t));
    r->lr_mult = lm_malloc((lm_mlp_n_segments(m) + 1) * sizeof(double));
    r->sink = lm_malloc(sizeof *r->sink);
    if (!r->theta || !r->theta0 || !r->grad || !r->scratch || !r->perm || !r->seg_off ||
        !r->lr_mult || !r->sink)
        LM_FAIL(err, LM_ENOMEM, "out of memory for a model of %zu parameters", p);
    if (r->opts->theta_init) {
        for (size_t i = 0; i < p; i++)
            if (!isfinite(r->opts->theta_init[i]))
                LM_FAIL(err, LM_ENUMERIC, "initial parameter %zu is not finite", i);
        memcpy(r->theta, r->opts->theta_init, p * sizeof(double));
    } else {
        LM_TRY(lm_train_init_params(cfg, m, r->theta, err));
    }
    memcpy(r->theta0, r->theta, p * sizeof(double));
    const size_t n_seg = lm_train_segment_rates(cfg, m, r->seg_off, r->lr_mult);
    const size_t total =
        cfg->train.steps ? cfg->train.steps : cfg->train.epochs * (n / B ? n / B : 1);
    LM_TRY(lm_optim_new(&cfg->optim, p, dt, n_seg, r->seg_off, r->lr_mult, total, &r->opt, err));
    /* data-parallel: this rank computes its slice of each batch (at most ceil(B / ranks) rows) */
    const lm_reducer *red = r->opts->reduce;
    size_t Bl = B;
    if (red) {
        if (red->size < 1 || red->rank < 0 || red->rank >= red->size || !red->sum)
            LM_FAIL(err, LM_EINVAL, "data-parallel training: rank %d of %d ranks is not a rank",
                    red->rank, red->size);
        if (B < (size_t) red->size)
            LM_FAIL(err, LM_EINVAL,
                    "data-parallel training over %d ranks needs a batch of at least %d examples "
                    "(one per rank), but the batch has %zu (train.batch_size, or the training "
                    "set's size for full-batch GD)",
                    red->size, red->size, B);
        Bl = B / (size_t) red->size + (B % (size_t) red->size ? 1 : 0);
        r->red = lm_malloc((p + 3) * sizeof(double));
        if (!r->red)
            LM_FAIL(err, LM_ENOMEM, "out of memory for the sum over ranks (%zu parameters)", p);
    }
    LM_TRY(lm_mlp_team_new(m, Bl, dt, lm_threads_get(), &r->team, err));
    size_t nmax = n;
    if (r->test && r->test->n > nmax)
        nmax = r->test->n;
    r->obs_n = nmax < 2048 ? nmax : 2048; /* chunk: large enough for GEMM efficiency */
    LM_TRY(lm_mlp_ws_new(m, r->obs_n, LM_F64, &r->ws_obs, err));
    if (cfg->center_output)
        LM_TRY(center(r, r->theta, dt, err)); /* r->theta is w_0 here */
    const size_t es = lm_dtype_size(dt);
    if (dt == LM_F32) {
        r->theta32 = lm_malloc(p * sizeof(float));
        r->grad32 = lm_malloc(p * sizeof(float));
        r->out32 = lm_malloc(r->obs_n * k * sizeof(float));
        if (!r->theta32 || !r->grad32 || !r->out32)
            LM_FAIL(err, LM_ENOMEM, "out of memory for float32 copies of %zu parameters", p);
        for (size_t i = 0; i < p; i++)
            r->theta32[i] = (float) r->theta[i];
        /* the sets in float32: borrowed when the caller converted them (a sweep does it once),
         * unless the run centred its targets (its sets are then its own views) */
        const lm_train_opts *o = r->opts;
        const int borrow = o->train32 && r->train == o->train && !cfg->center_output;
        r->tr32 = borrow ? o->train32 : NULL;
        r->te32 = borrow && r->test ? o->test32 : NULL;
        if (!r->tr32)
            LM_TRY(lm_dataset_to_f32(r->train, &r->own32[0], err));
        if (r->test && !r->te32)
            LM_TRY(lm_dataset_to_f32(r->test, &r->own32[1], err));
        if (!r->tr32)
            r->tr32 = r->own32[0];
        if (r->test && !r->te32)
            r->te32 = r->own32[1];
        /* the performance observer evaluates a float32 run in float32 */
        LM_TRY(lm_mlp_ws_new(m, r->obs_n, LM_F32, &r->ws_obs32, err));
        r->f32view = (lm_obs_f32){r->theta32,
                                  r->tr32->x,
                                  r->tr32->y,
                                  r->te32 ? r->te32->x : NULL,
                                  r->te32 ? r->te32->y : NULL,
                                  r->ws_obs32,
                                  r->out32};
    }
    if (B < n) {
        r->bx = lm_malloc(Bl * d * es);
        r->by = lm_malloc(Bl * k * es);
        if (!r->bx || !r->by)
            LM_FAIL(err, LM_ENOMEM, "out of memory for a batch of %zu", B);
    }
    return LM_OK;
}

void lm_train_slice(const lm_reducer *red, size_t n, size_t *lo, size_t *hi) {
    if (!red || red->size <= 1) {
        *lo = 0;
        *hi = n;
        return;
    }
    const size_t R = (size_t) red->size, q = (size_t) red->rank;
    const size_t base = n / R, rem = n % R;
    *lo = q * base + (q < rem ? q : rem);
    *hi = *lo + base + (q < rem ? 1 : 0);
}

/* Data-parallel step: this rank's slice of c rows (targets Y) gave the mean loss *loss and the
 * mean gradient in r->grad / r->grad32 over its normaliser w (loss.h: lm_loss_weight); the sum
 * over ranks of [w g, w loss, w, stop] makes them the batch's mean gradient and loss on every
 * rank, and *stop whether any rank was asked to stop. */
static lm_status reduce_step(run *r, const void *Y, size_t c, double *loss, int *stop,
                             lm_err *err) {
    const lm_reducer *red = r->opts->reduce;
    const size_t p = r->m->n_params, k = r->m->d_out;
    const int f32 = r->cfg->train.dtype == LM_F32;
    const double w =
        f32 ? lm_loss_weight_f32(r->cfg->loss, Y, c, k) : lm_loss_weight(r->cfg->loss, Y, c, k);
    double *b = r->red;
    if (w > 0) {
        if (f32)
            for (size_t i = 0; i < p; i++)
                b[i] = w * (double) r->grad32[i];
        else
            for (size_t i = 0; i < p; i++)
                b[i] = w * r->grad[i];
        b[p] = w * *loss;
    } else { /* no observed target in this slice: it adds nothing */
        memset(b, 0, (p + 1) * sizeof *b);
    }
    b[p + 1] = w;
    b[p + 2] = r->opts->stop && *r->opts->stop ? 1.0 : 0.0;
    LM_TRY(red->sum(red->ud, b, p + 3, err));
    const double W = b[p + 1];
    if (W > 0) {
        if (f32)
            for (size_t i = 0; i < p; i++)
                r->grad32[i] = (float) (b[i] / W);
        else
            for (size_t i = 0; i < p; i++)
                r->grad[i] = b[i] / W;
        *loss = b[p] / W;
    }
    *stop = b[p + 2] > 0;
    return LM_OK;
}

/* Copies the rows perm[lo..lo+B) of the training set into the batch buffers. */
static void gather(run *r, size_t lo, size_t B) {
    const size_t d = r->m->d_in, k = r->m->d_out;
    if (r->cfg->train.dtype == LM_F32) {
        float *bx = r->bx, *by = r->by;
        for (size_t i = 0; i < B; i++) {
            const size_t s = r->perm[lo + i];
            memcpy(bx + i * d, r->tr32->x + s * d, d * sizeof(float));
            memcpy(by + i * k, r->tr32->y + s * k, k * sizeof(float));
        }
    } else {
        double *bx = r->bx, *by = r->by;
        for (size_t i = 0; i < B; i++) {
            const size_t s = r->perm[lo + i];
            memcpy(bx + i * d, r->train->x + s * d, d * sizeof(double));
            memcpy(by + i * k, r->train->y + s * k, k * sizeof(double));
        }
    }
}

static lm_status loop(run *r, lm_train_result *res, lm_err *err) {
    const lm_config *cfg = r->cfg;
    const lm_train_opts *opts = r->opts;
    const size_t p = r->m->n_params, n = r->train->n;
    const size_t B = r->bx ? cfg->train.batch_size : n;
    const lm_reducer *red = opts->reduce;
    size_t slo, shi; /* this rank's rows [slo, shi) of each batch (all of them without ranks) */
    lm_train_slice(red, B, &slo, &shi);
    const size_t Bl = shi - slo;
    const size_t total =
        cfg->train.steps ? cfg->train.steps : cfg->train.epochs * (n / B ? n / B : 1);
    const int f32 = cfg->train.dtype == LM_F32;
    lm_rng shuf;
    lm_rng_seed(&shuf, cfg->seed, LM_STREAM_SHUFFLE);
    for (size_t i = 0; i < n; i++)
        r->perm[i] = i;
    size_t pos = n; /* forces a shuffle before the first minibatch */
    const double t0 = lm_now();
    double batch_loss = LM_NAN, gnorm = LM_NAN;
    size_t last_obs = (size_t) -1;
    LM_TRY(observe(r, 0, 1, LM_NAN, LM_NAN, NULL, err));
    last_obs = 0;
    const size_t tick = total / 100 ? total / 100 : 1;
    size_t step = 0;
    res->status = LM_RUN_FINISHED;
    for (; step < total; step++) {
        if (!red && opts->stop && *opts->stop) { /* ranks agree on stopping in reduce_step */
            res->status = LM_RUN_INTERRUPTED;
            snprintf(res->message, sizeof res->message, "stopped by a signal at step %zu", step);
            break;
        }
        const void *X, *Y;
        if (r->bx) {
            if (pos + B > n) { /* new epoch: reshuffle, drop the incomplete tail */
                lm_rng_shuffle(&shuf, r->perm, n);
                pos = 0;
            }
            gather(r, pos + slo, Bl); /* the same global batch, this rank's slice of it */
            pos += B;
            X = r->bx;
            Y = r->by;
        } else {
            const size_t d = r->m->d_in, k = r->m->d_out;
            X = f32 ? (const void *) (r->tr32->x + slo * d)
                    : (const void *) (r->train->x + slo * d);
            Y = f32 ? (const void *) (r->tr32->y + slo * k)
                    : (const void *) (r->train->y + slo * k);
        }
        const double prev_loss = batch_loss;
        if (f32)
            LM_TRY(lm_mlp_team_loss_grad(r->team, cfg->loss, r->theta32, X, Y, Bl, &batch_loss,
                                         r->grad32, err));
        else
            LM_TRY(lm_mlp_team_loss_grad(r->team, cfg->loss, r->theta, X, Y, Bl, &batch_loss,
                                         r->grad, err));
        if (red) {
            int stop = 0;
            LM_TRY(reduce_step(r, Y, Bl, &batch_loss, &stop, err));
            if (stop) {
                batch_loss = prev_loss; /* this step is not taken */
                res->status = LM_RUN_INTERRUPTED;
                snprintf(res->message, sizeof res->message, "stopped by a signal at step %zu",
                         step);
                break;
            }
        }
        if (f32) {
            /* float32 squares accumulated in float64 by BLAS (a serial loop here was 10 % of a
             * small run: one dependent add per parameter per step) */
            gnorm = sqrt(cblas_dsdot((int) p, r->grad32, 1, r->grad32, 1));
        } else {
            gnorm = cblas_dnrm2((int) p, r->grad, 1);
        }
        if (!isfinite(batch_loss) || !isfinite(gnorm)) {
            res->status = LM_RUN_DIVERGED;
            res->diverged_step = (int64_t) step;
            if (isfinite(batch_loss)) /* float32 overflow: the loss sums in double */
                snprintf(res->message, sizeof res->message,
                         "gradient norm became %g at step %zu (loss %g, learning rate %g)", gnorm,
                         step, batch_loss, lm_optim_lr(r->opt, step));
            else
                snprintf(res->message, sizeof res->message,
                         "loss became %g at step %zu (learning rate %g)", batch_loss, step,
                         lm_optim_lr(r->opt, step));
            break;
        }
        LM_TRY(lm_optim_step(r->opt, f32 ? (void *) r->theta32 : (void *) r->theta,
                             f32 ? (const void *) r->grad32 : (const void *) r->grad, step, err));
        const size_t done = step + 1;
        int ran = 0;
        LM_TRY(observe(r, done, done == total, batch_loss, gnorm, &ran, err));
        if (ran) {
            last_obs = done;
            if (sink_has(r->sink, "train_loss") && !isfinite(sink_get(r->sink, "train_loss"))) {
                res->status = LM_RUN_DIVERGED;
                res->diverged_step = (int64_t) done;
                snprintf(res->message, sizeof res->message,
                         "training loss became non-finite by step %zu", done);
                step = done;
                break;
            }
        }
        if (opts->progress && (done % tick == 0 || done == total))
            opts->progress(opts->progress_ud, done, total, batch_loss, lm_now() - t0);
    }
    res->steps = step;
    if (res->status == LM_RUN_INTERRUPTED && last_obs != step)
        LM_TRY(observe(r, step, 1, batch_loss, gnorm, NULL, err));
    res->train_loss = sink_get(r->sink, "train_loss");
    res->train_acc = sink_get(r->sink, "train_acc");
    res->test_loss = sink_get(r->sink, "test_loss");
    res->test_acc = sink_get(r->sink, "test_acc");
    if (res->status == LM_RUN_DIVERGED)
        res->train_loss = res->train_acc = res->test_loss = res->test_acc = LM_NAN;
    return LM_OK;
}

/* Every rank says whether its setup succeeded (st); a rank whose setup succeeded while another's
 * failed fails too, naming how many did. */
static lm_status agree_setup(const lm_reducer *red, lm_status st, lm_train_result *res,
                             lm_err *err) {
    double failed = st != LM_OK ? 1.0 : 0.0;
    lm_err sum_err = {0};
    lm_status rs = red->sum(red->ud, &failed, 1, &sum_err);
    if (st != LM_OK)
        return st;
    if (rs != LM_OK) {
        if (err)
            *err = sum_err;
        return rs;
    }
    if (failed > 0) {
        res->setup_failed = 1;
        LM_FAIL(err, LM_EINVAL,
                "%.0f of %d ranks could not start the run (their own messages say why)", failed,
                red->size);
    }
    return LM_OK;
}

lm_status lm_train_run(const lm_config *cfg, const lm_train_opts *opts, lm_train_result *res,
                       lm_err *err) {
    static const lm_train_opts none = {0};
    if (!opts)
        opts = &none;
    memset(res, 0, sizeof *res);
    res->run_id = -1;
    res->diverged_step = -1;
    res->train_loss = res->train_acc = res->test_loss = res->test_acc = LM_NAN;
    lm_init();
    run r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    r.opts = opts;
    r.run_id = -1;
    const double t0 = lm_now();
    lm_status st = setup(&r, err);
    if (st == LM_OK && opts->store) {
        st = lm_store_run_begin(opts->store, cfg->json, cfg->hash, cfg->seed, lm_threads_get(),
                                &r.run_id, err);
        res->run_id = r.run_id;
    }
    if (st != LM_OK)
        res->setup_failed = 1;
    if (opts->reduce) /* the ranks agree before the first sum of the loop, so none waits alone */
        st = agree_setup(opts->reduce, st, res, err);
    if (st == LM_OK)
        st = loop(&r, res, err);
    res->wall_s = lm_now() - t0;
    if (st == LM_OK && opts->theta_final) {
        if (cfg->train.dtype == LM_F32)
            for (size_t i = 0; i < r.m->n_params; i++)
                r.theta[i] = (double) r.theta32[i];
        memcpy(opts->theta_final, r.theta, r.m->n_params * sizeof(double));
    }
    if (opts->store && r.run_id >= 0) {
        lm_err end_err = {0};
        lm_status es;
        if (st == LM_OK)
            es = lm_store_run_end(opts->store, r.run_id, res->status, (int64_t) res->steps,
                                  res->wall_s, res->diverged_step,
                                  res->message[0] ? res->message : NULL, 0, NULL, &end_err);
        else
            es = lm_store_run_end(opts->store, r.run_id, LM_RUN_FAILED, (int64_t) res->steps,
                                  res->wall_s, -1, err ? err->msg : "failed", 0, NULL, &end_err);
        if (st == LM_OK && es != LM_OK) {
            if (err)
                *err = end_err;
            st = es;
            /* the end could not be recorded (out of memory, disk full): mark the run failed
             * rather than leave it 'running' (best effort; the error above stands) */
            lm_err fail_err = {0};
            (void) lm_store_run_end(opts->store, r.run_id, LM_RUN_FAILED, (int64_t) res->steps,
                                    res->wall_s, -1, end_err.msg, 0, NULL, &fail_err);
        }
    }
    if (st != LM_OK)
        res->status = LM_RUN_FAILED;
    run_free(&r);
    return st;
}

lm_status lm_train_eval(const lm_config *cfg, const double *theta, double *loss, double *grad_norm,
                        size_t *n_params, lm_err *err) {
    lm_init();
    run r;
    memset(&r, 0, sizeof r);
    lm_status st = lm_threads_set(cfg->train.threads, err);
    if (st == LM_OK)
        st = check_center(cfg, err);
    if (st == LM_OK)
        st = lm_data_load(&cfg->data, cfg->seed, &r.loaded_train, &r.loaded_test, err);
    r.train = r.loaded_train;
    r.test = r.loaded_test;
    if (st == LM_OK)
        st = lm_mlp_new(&cfg->model, &r.m, err);
    if (st == LM_OK)
        st = check_shapes(cfg, r.m, r.train, err);
    if (st == LM_OK) {
        const size_t p = r.m->n_params;
        r.obs_n = r.train->n < 2048 ? r.train->n : 2048;
        r.theta = lm_malloc(p * sizeof(double));
        r.grad = lm_malloc(p * sizeof(double));
        r.scratch = lm_malloc(p * sizeof(double));
        if (!r.theta || !r.grad || !r.scratch)
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory for %zu parameters",
                            p);
        else if (theta)
            memcpy(r.theta, theta, p * sizeof(double));
        else
            st = lm_train_init_params(cfg, r.m, r.theta, err);
        if (st == LM_OK)
            st = lm_mlp_ws_new(r.m, r.obs_n, LM_F64, &r.ws_obs, err);
        if (st == LM_OK && cfg->center_output) { /* w_0 = the seeded init, F_0 in float64 */
            r.theta0 = lm_malloc(p * sizeof(double));
            st = r.theta0 ? lm_train_init_params(cfg, r.m, r.theta0, err)
                          : lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                                       "out of memory for %zu parameters", p);
            if (st == LM_OK)
                st = center(&r, r.theta0, LM_F64, err);
        }
        if (st == LM_OK)
            st = eval_grad(r.m, r.ws_obs, r.obs_n, cfg->loss, r.theta, r.train, r.grad, r.scratch,
                           loss, err);
        if (st == LM_OK) {
            *grad_norm = cblas_dnrm2((int) p, r.grad, 1);
            *n_params = p;
        }
    }
    r.opts = NULL;
    run_free(&r);
    return st;
}
