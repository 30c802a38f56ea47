/*
 * fixture.h: the small network the curvature tests share: 49-16-10 tanh (p = 970) at its seeded
 * initialisation, on the first 256 Fashion-MNIST training images pooled 4x4 (pixels / 255),
 * one-hot targets, summed-class MSE (science.md §4 asks for a <= 5k-parameter network; this one
 * keeps the dense LAPACK ground truth well under a second). The Hessian comes from the model's
 * exact R-operator; the dense matrix and its spectrum are computed once per test.
 */
#ifndef LM_CURV_FIXTURE_H
#define LM_CURV_FIXTURE_H

#include "lm_test.h"
#include "lmech/config.h"
#include "lmech/curv.h"
#include "lmech/data.h"

#include <string.h>

typedef struct fixture {
    lm_config *cfg;
    lm_dataset *train;
    lm_mlp *m;
    lm_mlp_ws *ws;
    double *theta, *grad;
    size_t p;
    lm_curv_mlp op;
    double *H;     /* [p, p] dense Hessian (symmetrised), NULL until fx_dense */
    double *evals; /* [p] exact eigenvalues, descending */
    double asym;
} fixture;

static const char FX_CONFIG[] =
    "{\"seed\": 3, \"data\": {\"source\": \"fashion-mnist\", \"train_size\": 256, "
    "\"test_size\": 0, \"pool\": 4}, \"model\": {\"widths\": [49, 16, 10], "
    "\"activation\": \"tanh\"}, \"loss\": \"mse\", \"optimizer\": {\"name\": \"sgd\", "
    "\"lr\": 0.1}, \"steps\": 1}";

/* Prepares the HVP at theta (the fixture's own buffer, which the caller may have changed). */
static inline void fx_prepare(fixture *f) {
    lm_err err = {0};
    double loss;
    cr_assert_eq(lm_mlp_hvp_prepare(f->m, f->ws, f->cfg->loss, f->theta, f->train->x, f->train->y,
                                    f->train->n, &loss, f->grad, &err),
                 LM_OK, "%s", err.msg);
}

static inline void fx_open(fixture *f) {
    memset(f, 0, sizeof *f);
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(FX_CONFIG, strlen(FX_CONFIG), "fx.json", 0, NULL, &f->cfg, &err),
                 LM_OK, "%s", err.msg);
    lm_dataset *test = NULL;
    cr_assert_eq(lm_data_load(&f->cfg->data, f->cfg->seed, &f->train, &test, &err), LM_OK, "%s",
                 err.msg);
    lm_dataset_free(test);
    cr_assert_eq(lm_mlp_new(&f->cfg->model, &f->m, &err), LM_OK, "%s", err.msg);
    f->p = f->m->n_params;
    cr_assert_eq(f->p, 970);
    f->theta = lm_malloc(f->p * sizeof(double));
    f->grad = lm_malloc(f->p * sizeof(double));
    cr_assert(f->theta && f->grad);
    cr_assert_eq(lm_mlp_init(f->m, f->cfg->seed, f->theta, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_ws_new(f->m, f->train->n, LM_F64, &f->ws, &err), LM_OK, "%s", err.msg);
    fx_prepare(f);
    f->op = (lm_curv_mlp){f->m, f->ws, 0};
}

/* Dense Hessian and all its eigenvalues (descending). */
static inline void fx_dense(fixture *f) {
    lm_err err = {0};
    size_t p = f->p;
    f->H = lm_malloc(p * p * sizeof(double));
    f->evals = lm_malloc(p * sizeof(double));
    double *tmp = lm_malloc(p * p * sizeof(double));
    cr_assert(f->H && f->evals && tmp);
    cr_assert_eq(
        lm_curv_dense(lm_curv_mlp_apply, &f->op, p, LM_CURV_DENSE_MAX_P, f->H, &f->asym, &err),
        LM_OK, "%s", err.msg);
    memcpy(tmp, f->H, p * p * sizeof(double));
    cr_assert_eq(lm_curv_dense_eig(p, tmp, f->evals, 0, NULL, &err), LM_OK, "%s", err.msg);
    lm_free(tmp);
}

static inline void fx_close(fixture *f) {
    lm_free(f->H);
    lm_free(f->evals);
    lm_free(f->theta);
    lm_free(f->grad);
    lm_mlp_ws_free(f->ws);
    lm_mlp_free(f->m);
    lm_dataset_free(f->train);
    lm_config_free(f->cfg);
}

/* An explicit dense symmetric matrix as an operator (row-major [p, p]). */
typedef struct matop {
    const double *A;
    size_t p;
    size_t calls;
} matop;

static inline lm_status matop_apply(void *ud, const double *v, double *out, lm_err *err) {
    (void) err;
    matop *a = ud;
    for (size_t i = 0; i < a->p; i++) {
        double s = 0;
        for (size_t j = 0; j < a->p; j++)
            s += a->A[i * a->p + j] * v[j];
        out[i] = s;
    }
    a->calls++;
    return LM_OK;
}

#endif
