/*
 * op.c: operators for the curvature routines: the model's exact Hessian (R-operator) and the
 * diagonally preconditioned Hessian P^{-1/2} H P^{-1/2} whose top eigenvalue is Adam's
 * preconditioned sharpness (Cohen et al. 2022, "adaptive edge of stability"; science.md §4).
 *
 * Workload: one call per Hessian-vector product; the wrapper adds 2 p multiplications to a
 * product that costs ~1.5 gradients (the float32 one: 2 p conversions).
 */
#include "curv/internal.h"

#include <math.h>

lm_status lm_curv_mlp_apply(void *ud, const double *v, double *out, lm_err *err) {
    lm_curv_mlp *a = ud;
    LM_TRY(lm_mlp_hvp_apply(a->m, a->ws, v, out, err));
    a->n_ops++;
    return LM_OK;
}

lm_status lm_curv_mlp_apply_f32(void *ud, const double *v, double *out, lm_err *err) {
    lm_curv_mlp_f32 *a = ud;
    const size_t p = a->m->n_params;
    for (size_t i = 0; i < p; i++)
        a->v32[i] = (float) v[i];
    LM_TRY(lm_mlp_hvp_apply_f32(a->m, a->ws, a->v32, a->hv32, err));
    for (size_t i = 0; i < p; i++)
        out[i] = (double) a->hv32[i];
    a->n_ops++;
    return LM_OK;
}

lm_status lm_curv_precond_init(lm_curv_precond *pc, lm_linop_fn op, void *ud, size_t p,
                               const double *P, double *scratch, lm_err *err) {
    if (!pc || !op || !P || !scratch || p == 0)
        LM_FAIL(err, LM_EINVAL, "lm_curv_precond_init: NULL argument or p = 0");
    for (size_t i = 0; i < p; i++)
        if (!(P[i] > 0) || !isfinite(P[i]))
            LM_FAIL(err, LM_EINVAL,
                    "preconditioner entry P[%zu] = %g: it must be finite and positive", i, P[i]);
    for (size_t i = 0; i < p; i++)
        scratch[i] = 1.0 / sqrt(P[i]);
    pc->op = op;
    pc->ud = ud;
    pc->p = p;
    pc->d = scratch;
    pc->tmp = scratch + p;
    return LM_OK;
}

lm_status lm_curv_precond_apply(void *ud, const double *v, double *out, lm_err *err) {
    lm_curv_precond *pc = ud;
    for (size_t i = 0; i < pc->p; i++)
        pc->tmp[i] = pc->d[i] * v[i];
    LM_TRY(pc->op(pc->ud, pc->tmp, out, err));
    for (size_t i = 0; i < pc->p; i++)
        out[i] *= pc->d[i];
    return LM_OK;
}
