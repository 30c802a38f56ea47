/*
 * mse_observed through the engine on the matrix-completion source: a deep linear network
 * (identity activation, no bias) on x = I.
 *
 *   - lm_eval_dataset in chunks of 1, 5 and 12 rows gives the loss of the whole set: chunks
 *     weigh by their observed targets (lm_loss_weight), not by their rows -- the chunks here
 *     hold unequal numbers of observed entries, so row weights would be visibly wrong.
 *   - The exact Hessian-vector product (R-operator, lm_mlp_hvp_apply) matches central
 *     differences of the gradient: unobserved targets enter the curvature no more than the
 *     gradient.
 */
#include "lm_test.h"
#include "lmech/data.h"
#include "lmech/model.h"
#include "lmech/train.h"

#include <math.h>

#define DIM 12

typedef struct fx {
    lm_dataset *tr, *te;
    lm_mlp *m;
    double *theta;
} fx;

static void fx_make(fx *f) {
    lm_data_spec s = lm_data_spec_default();
    s.source = LM_DATA_MATRIX_COMPLETION;
    s.dim = DIM;
    s.rank = 2;
    s.observed = 0.3;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 5, &f->tr, &f->te, &err), LM_OK, "%s", err.msg);
    lm_mlp_spec ms = lm_mlp_spec_default();
    ms.n_widths = 4;
    for (size_t i = 0; i < 4; i++)
        ms.widths[i] = DIM;
    ms.act = LM_ACT_IDENTITY;
    ms.bias = 0;
    ms.sw2 = 0.5;
    cr_assert_eq(lm_mlp_new(&ms, &f->m, &err), LM_OK, "%s", err.msg);
    f->theta = malloc(f->m->n_params * sizeof(double));
    cr_assert_eq(lm_mlp_init(f->m, 3, f->theta, &err), LM_OK, "%s", err.msg);
}

static void fx_free(fx *f) {
    lm_dataset_free(f->tr);
    lm_dataset_free(f->te);
    lm_mlp_free(f->m);
    free(f->theta);
}

Test(observed_loss, chunked_evaluation_weighs_chunks_by_observed_targets) {
    fx f;
    fx_make(&f);
    lm_err err = {0};
    lm_mlp_ws *ws;
    cr_assert_eq(lm_mlp_ws_new(f.m, DIM, LM_F64, &ws, &err), LM_OK, "%s", err.msg);
    /* the reference: one batch of all rows */
    double ref, v, acc;
    cr_assert_eq(lm_mlp_loss_grad(f.m, ws, LM_LOSS_MSE_OBSERVED, f.theta, f.tr->x, f.tr->y, DIM,
                                  &ref, NULL, NULL, &err),
                 LM_OK, "%s", err.msg);
    /* rows weighed equally would give the mean of the per-row losses instead */
    double row_mean = 0.0;
    for (size_t i = 0; i < DIM; i++) {
        cr_assert_eq(lm_mlp_loss_grad(f.m, ws, LM_LOSS_MSE_OBSERVED, f.theta, f.tr->x + i * DIM,
                                      f.tr->y + i * DIM, 1, &v, NULL, NULL, &err),
                     LM_OK);
        row_mean += v / DIM;
    }
    cr_assert(fabs(row_mean - ref) > 1e-3 * ref, "rows too even for the test: %g vs %g", row_mean,
              ref);
    static const size_t chunks[] = {1, 5, DIM};
    for (size_t c = 0; c < 3; c++) {
        cr_assert_eq(lm_eval_dataset(f.m, ws, chunks[c], LM_LOSS_MSE_OBSERVED, f.theta, f.tr, &v,
                                     &acc, &err),
                     LM_OK, "%s", err.msg);
        cr_assert(fabs(v - ref) < 1e-13 * ref, "chunks of %zu: %.17g vs %.17g", chunks[c], v, ref);
        cr_assert(isnan(acc));
    }
    /* the test set is complete: mse_observed there is mse_mean */
    double vm;
    cr_assert_eq(lm_eval_dataset(f.m, ws, 5, LM_LOSS_MSE_OBSERVED, f.theta, f.te, &v, &acc, &err),
                 LM_OK);
    cr_assert_eq(lm_eval_dataset(f.m, ws, 5, LM_LOSS_MSE_MEAN, f.theta, f.te, &vm, &acc, &err),
                 LM_OK);
    cr_assert(fabs(v - vm) < 1e-14 * vm, "%.17g vs %.17g", v, vm);
    lm_mlp_ws_free(ws);
    fx_free(&f);
    LM_CHECK_LEAKS();
}

Test(observed_loss, hessian_vector_product_matches_differences_of_the_gradient) {
    fx f;
    fx_make(&f);
    const size_t p = f.m->n_params;
    lm_err err = {0};
    lm_mlp_ws *ws, *ws2;
    cr_assert_eq(lm_mlp_ws_new(f.m, DIM, LM_F64, &ws, &err), LM_OK);
    cr_assert_eq(lm_mlp_ws_new(f.m, DIM, LM_F64, &ws2, &err), LM_OK);
    double *v = malloc(p * sizeof(double)), *hv = malloc(p * sizeof(double));
    double *tp = malloc(p * sizeof(double)), *tm = malloc(p * sizeof(double));
    double *gp = malloc(p * sizeof(double)), *gm = malloc(p * sizeof(double));
    lm_rng r;
    lm_rng_seed(&r, 11, 0);
    for (size_t i = 0; i < p; i++)
        v[i] = lm_rng_normal(&r);
    cr_assert_eq(lm_mlp_hvp_prepare(f.m, ws, LM_LOSS_MSE_OBSERVED, f.theta, f.tr->x, f.tr->y, DIM,
                                    NULL, NULL, &err),
                 LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_hvp_apply(f.m, ws, v, hv, &err), LM_OK, "%s", err.msg);
    const double h = 1e-5;
    for (size_t i = 0; i < p; i++) {
        tp[i] = f.theta[i] + h * v[i];
        tm[i] = f.theta[i] - h * v[i];
    }
    lm_mlp_loss_grad(f.m, ws2, LM_LOSS_MSE_OBSERVED, tp, f.tr->x, f.tr->y, DIM, NULL, gp, NULL,
                     &err);
    lm_mlp_loss_grad(f.m, ws2, LM_LOSS_MSE_OBSERVED, tm, f.tr->x, f.tr->y, DIM, NULL, gm, NULL,
                     &err);
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < p; i++) {
        const double fd = (gp[i] - gm[i]) / (2 * h);
        num += (fd - hv[i]) * (fd - hv[i]);
        den += hv[i] * hv[i];
    }
    cr_assert(den > 0 && sqrt(num / den) < 1e-6, "HVP vs differences: rel err %g", sqrt(num / den));
    free(v);
    free(hv);
    free(tp);
    free(tm);
    free(gp);
    free(gm);
    lm_mlp_ws_free(ws);
    lm_mlp_ws_free(ws2);
    fx_free(&f);
    LM_CHECK_LEAKS();
}
