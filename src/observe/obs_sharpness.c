/*
 * obs_sharpness.c: the training process's curvature: the sharpness S = lambda_max(H) of the
 * full-batch training loss every `sharpness_every` steps, by Lanczos on exact R-operator
 * Hessian-vector products, warm-started from the previous top eigenvector so that a tracked
 * estimate costs a few products instead of the 20-30 of a cold solve. For Adam-type optimizers
 * it also records the preconditioned sharpness lambda_max(P^-1/2 H P^-1/2) with Adam's
 * P = (1 - b1^t) diag(sqrt(v_hat) + eps) (science.md §4, adaptive edge of stability).
 *
 * Records: sharpness, sharpness_resid (verified relative residual), sharpness_hvps, and
 * precond_sharpness (Adam). And each against its stability threshold, 1 at the edge, so that
 * one claim can judge a sweep over learning rates (docs/observables.md):
 *   sharpness_ratio          (S + wd) / ((2 + 2 mu) / lr)          SGD (mu = 0), heavy ball
 *                            (S + wd) / ((2 + 2 mu) / (lr (1 + 2 mu)))   Nesterov
 *   precond_sharpness_ratio  S_P / ((2 + 2 b1) / ((1 - b1) lr))    Adam, AdamW without decay
 * with lr the step's scheduled rate times the (uniform) segment multiplier. The quadratic model
 * x' = x - lr (S + wd) x, with heavy-ball or Nesterov momentum mu, is stable below those
 * thresholds (Cohen et al. 2021, App.; Adam's: Cohen et al. 2022, science.md §4); coupled weight
 * decay adds wd to every curvature. With per-layer rates (muP, layer_lr) there is no single
 * threshold, and the ratios are not recorded. The relative residual asked of Lanczos is 1e-3: for a
 * symmetric matrix the eigenvalue error is at most the residual, and in practice ~residual^2 *
 * lambda / gap, far below the 10 % bands the edge-of-stability claims judge.
 *
 * Dtype (`sharpness_dtype`). A float32 run (a model.widths network or a model.layers graph alike)
 * takes its products in float32 (lm_mlp_hvp_apply_f32 on the run's own float32 parameters and data;
 * Lanczos itself stays in double, each vector rounded to float32 per product): the GEMMs are about
 * twice as fast, and the products' relative error (~1e-6) is far below the residual 1e-3 asked of
 * Lanczos. "float64" forces float64 products (the parameters widened per measurement);
 * "float32" asks for float32 products in a float64 run too (the data rounded once, the
 * parameters per measurement). For a layer graph the float32 products are every layer's float32
 * jvp and rbackward (layer.h), relative error ~1e-6 against float64 (tests/model/graph_check.h).
 * The metric sharpness_hvp_bits records which: 32 or 64.
 *
 * Data-parallel runs (ctx->reduce). Each rank prepares the R-operator on its contiguous slice of
 * the training set, and the operator Lanczos sees is the sum over ranks of (w_r / W) H_r v, w_r
 * the slice's weight in the full-batch mean (lm_loss_weight): the full-batch H v, the same bits on
 * every rank, so every rank's Lanczos takes the same steps and finds the same sharpness.
 */
#include "observe/internal.h"

#include "lmech/curv.h"
#include "lmech/optim.h"

#include <string.h>

#define SHARPNESS_TOL  1e-3
#define SHARPNESS_ITER 60

typedef struct sharp_state {
    lm_mlp_ws *ws;           /* float64, or float32 when f32 */
    int f32;                 /* products in float32 (lm_curv_mlp_f32)                          */
    float *theta32;          /* float64 runs with float32 products: theta's copy    */
    lm_dataset_f32 *train32; /* and the training set's                              */
    float *v32, *hv32;       /* [p] each: the float32 operator's vectors            */
    lm_curv_ws *cws;
    size_t iter;                  /* Lanczos steps: SHARPNESS_ITER, at most p            */
    double *vec, *pvec, *scratch; /* last top eigenvectors (plain, preconditioned); [2p] */
    double *P, *pscratch;         /* Adam's preconditioner [p], its operator's scratch [2p] */
    int have_vec, have_pvec;
} sharp_state;

/* The full-batch Hessian as a sum over ranks: out = sum_r scale_r H_r v (H_r on rank r's slice;
 * a rank with an empty slice adds zeros). */
typedef struct dist_op {
    lm_linop_fn op;
    void *ud;
    double scale; /* w_r / W */
    int empty;
    size_t p;
    const lm_reducer *red;
} dist_op;

static lm_status dist_apply(void *ud, const double *v, double *out, lm_err *err) {
    const dist_op *d = ud;
    if (d->empty) {
        memset(out, 0, d->p * sizeof *out);
    } else {
        LM_TRY(d->op(d->ud, v, out, err));
        for (size_t i = 0; i < d->p; i++)
            out[i] *= d->scale;
    }
    return d->red->sum(d->red->ud, out, d->p, err);
}

static void release(void *state) {
    sharp_state *s = state;
    if (!s)
        return;
    lm_mlp_ws_free(s->ws);
    lm_free(s->theta32);
    lm_dataset_f32_free(s->train32);
    lm_free(s->v32);
    lm_free(s->hv32);
    lm_curv_ws_free(s->cws);
    lm_free(s->vec);
    lm_free(s->pvec);
    lm_free(s->scratch);
    lm_free(s->P);
    lm_free(s->pscratch);
    lm_free(s);
}

static size_t every(const lm_config *cfg) {
    return cfg->train.sharpness_every;
}

static lm_status top(lm_linop_fn op, void *ud, size_t p, sharp_state *s, double *vec, int *have,
                     double *lambda, double *resid, size_t *ops, lm_err *err) {
    lm_curv_lanczos_opts o = lm_curv_lanczos_opts_default();
    o.tol = SHARPNESS_TOL;
    o.max_iter = s->iter;
    o.seed = 11;
    if (*have) {
        o.n_start = 1;
        o.start = vec;
    }
    lm_curv_lanczos_info info = {0};
    double lam, res;
    lm_status st = lm_curv_lanczos(op, ud, p, &o, s->cws, &lam, s->scratch, &res, &info, err);
    if (st == LM_ENUMERIC) {
        /* The Hessian-vector products overflowed: the run is blowing up (its loss turns
         * non-finite soon after, which ends it as diverged). A measurement that cannot be made
         * is recorded as nan, not an error that would fail the run; the next one starts cold. */
        *have = 0;
        *lambda = *resid = LM_NAN;
        *ops = info.n_ops;
        lm_err_clear(err);
        return LM_OK;
    }
    if (st != LM_OK)
        return st;
    memcpy(vec, s->scratch, p * sizeof *vec);
    *have = 1;
    *lambda = lam;
    *resid = res;
    *ops = info.n_ops;
    return LM_OK;
}

/* The learning rate of this step when every parameter segment has the same one (NaN otherwise):
 * the schedule's rate times the model's segment multiplier and the user's layer_lr. */
static double uniform_lr(const lm_obs_ctx *c) {
    size_t seg[LM_MAX_TENSORS + 1];
    double rate[LM_MAX_TENSORS];
    const size_t n_seg = lm_train_segment_rates(c->cfg, c->m, seg, rate);
    double first = LM_NAN;
    for (size_t i = 0; i < n_seg; i++) {
        if (seg[i + 1] == seg[i])
            continue; /* an empty segment (no biases) has no rate */
        const double r = rate[i];
        if (isnan(first))
            first = r;
        else if (r != first)
            return LM_NAN;
    }
    return first * c->lr;
}

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    const size_t p = c->m->n_params;
    sharp_state *s = *c->state;
    if (!s) {
        s = lm_calloc(1, sizeof *s);
        if (!s)
            LM_FAIL(err, LM_ENOMEM, "out of memory for the sharpness observer");
        *c->state = s;
        const lm_sharp_dtype sd = c->cfg->train.sharpness_dtype;
        s->f32 = sd == LM_SHARP_F32 || (sd == LM_SHARP_AUTO && c->f32 != NULL);
        size_t lo, hi; /* a data-parallel rank's slice (the whole set otherwise) */
        lm_train_slice(c->reduce, c->train->n, &lo, &hi);
        LM_TRY(lm_mlp_ws_new(c->m, hi > lo ? hi - lo : 1, s->f32 ? LM_F32 : LM_F64, &s->ws, err));
        if (s->f32) {
            s->v32 = lm_malloc(p * sizeof(float));
            s->hv32 = lm_malloc(p * sizeof(float));
            if (!s->v32 || !s->hv32)
                LM_FAIL(err, LM_ENOMEM, "out of memory for the sharpness observer (p = %zu)", p);
        }
        if (s->f32 && !c->f32) { /* a float64 run asking for float32 products */
            s->theta32 = lm_malloc(p * sizeof(float));
            if (!s->theta32)
                LM_FAIL(err, LM_ENOMEM, "out of memory for a float32 copy of theta (p = %zu)", p);
            LM_TRY(lm_dataset_to_f32(c->train, &s->train32, err));
        }
        /* a Krylov space of a p x p matrix stops at p dimensions (a tiny model: p < 60) */
        s->iter = p < SHARPNESS_ITER ? p : SHARPNESS_ITER;
        LM_TRY(lm_curv_ws_new(p, s->iter, &s->cws, err));
        s->vec = lm_malloc(p * sizeof(double));
        s->pvec = lm_malloc(p * sizeof(double));
        s->scratch = lm_malloc(2 * p * sizeof(double));
        s->P = lm_malloc(p * sizeof(double));
        s->pscratch = lm_malloc(2 * p * sizeof(double));
        if (!s->vec || !s->pvec || !s->scratch || !s->P || !s->pscratch)
            LM_FAIL(err, LM_ENOMEM, "out of memory for the sharpness observer (p = %zu)", p);
    }
    lm_curv_mlp op = {c->m, s->ws, 0};
    lm_curv_mlp_f32 op32 = {c->m, s->ws, s->v32, s->hv32, 0};
    lm_linop_fn hess = lm_curv_mlp_apply;
    void *ud = &op;
    size_t lo, hi;
    lm_train_slice(c->reduce, c->train->n, &lo, &hi);
    const size_t d = c->m->d_in, k = c->m->d_out, n = hi - lo;
    if (n == 0) {
        /* an empty slice: this rank only adds zeros to the sum (dist_apply) */
    } else if (s->f32) {
        const float *th = c->f32 ? c->f32->theta : s->theta32;
        const float *x = c->f32 ? c->f32->train_x : s->train32->x;
        const float *y = c->f32 ? c->f32->train_y : s->train32->y;
        if (!c->f32)
            for (size_t i = 0; i < p; i++)
                s->theta32[i] = (float) c->theta[i];
        LM_TRY(lm_mlp_hvp_prepare_f32(c->m, s->ws, c->cfg->loss, th, x + lo * d, y + lo * k, n,
                                      NULL, NULL, err));
    } else {
        LM_TRY(lm_mlp_hvp_prepare(c->m, s->ws, c->cfg->loss, c->theta, c->train->x + lo * d,
                                  c->train->y + lo * k, n, NULL, NULL, err));
    }
    if (s->f32) {
        hess = lm_curv_mlp_apply_f32;
        ud = &op32;
    }
    dist_op dop = {hess, ud, 0.0, n == 0, p, c->reduce};
    if (c->reduce) {
        const double W = lm_loss_weight(c->cfg->loss, c->train->y, c->train->n, k);
        const double w = n ? lm_loss_weight(c->cfg->loss, c->train->y + lo * k, n, k) : 0.0;
        dop.scale = W > 0 ? w / W : 0.0;
        hess = dist_apply;
        ud = &dop;
    }
    double lam, res;
    size_t ops;
    LM_TRY(top(hess, ud, p, s, s->vec, &s->have_vec, &lam, &res, &ops, err));
    LM_TRY(lm_obs_emit(sink, "sharpness", lam, err));
    LM_TRY(lm_obs_emit(sink, "sharpness_resid", res, err));
    LM_TRY(lm_obs_emit(sink, "sharpness_hvps", (double) ops, err));
    LM_TRY(lm_obs_emit(sink, "sharpness_hvp_bits", s->f32 ? 32.0 : 64.0, err));
    const lm_optim_spec *o = &c->cfg->optim;
    const double lr = uniform_lr(c);
    if (!isnan(lr) && !lm_opt_is_adam(o->kind)) {
        const double mu = o->momentum; /* sgd with momentum > 0 is heavy ball */
        const double nest = o->kind == LM_OPT_NESTEROV ? 1.0 + 2.0 * mu : 1.0;
        LM_TRY(lm_obs_emit(sink, "sharpness_ratio",
                           (lam + o->weight_decay) * lr * nest / (2.0 + 2.0 * mu), err));
    }
    if (c->opt && lm_opt_is_adam(c->cfg->optim.kind) && c->step > 0) {
        LM_TRY(lm_optim_adam_precond(c->opt, s->P, err));
        lm_curv_precond pc;
        LM_TRY(lm_curv_precond_init(&pc, hess, ud, p, s->P, s->pscratch, err));
        LM_TRY(
            top(lm_curv_precond_apply, &pc, p, s, s->pvec, &s->have_pvec, &lam, &res, &ops, err));
        LM_TRY(lm_obs_emit(sink, "precond_sharpness", lam, err));
        if (!isnan(lr) && o->weight_decay == 0)
            LM_TRY(lm_obs_emit(sink, "precond_sharpness_ratio",
                               lam * (1.0 - o->beta1) * lr / (2.0 + 2.0 * o->beta1), err));
    }
    return LM_OK;
}

const lm_observer lm__obs_sharpness = {
    "sharpness",
    "sharpness (lambda_max of the full-batch Hessian), precond_sharpness for Adam; every "
    "sharpness_every steps",
    observe,
    every,
    release,
};
