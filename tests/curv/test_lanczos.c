/* test_lanczos.c: Lanczos and the dense ground truth on the 970-parameter fixture network, plus
 * explicit matrices for the edge cases (breakdown, a full Krylov space). */
#include "fixture.h"

#include <lmech/optim.h>

/* The exact spectrum has rounding error ~ eps * ||H|| * sqrt(p) ~ 1e-14 relative to lambda_max;
 * Lanczos eigenvalues are accurate to ~ residual^2 / gap once the residual meets tol = 1e-8 below,
 * so 1e-6 relative (science.md §4 Pass) leaves a wide margin and still catches a wrong pair. */
#define EIG_RTOL 1e-6

Test(curv_dense, symmetric_and_vectors) {
    fixture f;
    fx_open(&f);
    fx_dense(&f);
    /* R-operator products are symmetric in exact arithmetic; what remains is rounding of sums over
     * 256 examples and 16 hidden units, ~1e-15 relative; 1e-12 catches a transposed block. */
    cr_assert(f.asym <= 1e-12, "asymmetry %g", f.asym);
    cr_assert(f.asym > 0 || f.asym == 0);
    size_t p = f.p, k = 3;
    double *tmp = lm_malloc(p * p * sizeof(double)), *ev = lm_malloc(p * sizeof(double));
    double *vec = lm_malloc(k * p * sizeof(double)), *hv = lm_malloc(p * sizeof(double));
    memcpy(tmp, f.H, p * p * sizeof(double));
    lm_err err = {0};
    cr_assert_eq(lm_curv_dense_eig(p, tmp, ev, k, vec, &err), LM_OK, "%s", err.msg);
    matop A = {f.H, p, 0};
    for (size_t i = 0; i < k; i++) {
        cr_assert_eq(ev[i], f.evals[i]);
        matop_apply(&A, vec + i * p, hv, NULL);
        double r = 0, n = 0;
        for (size_t c = 0; c < p; c++) {
            double d = hv[c] - ev[i] * vec[i * p + c];
            r += d * d;
            n += vec[i * p + c] * vec[i * p + c];
        }
        /* LAPACK's backward-stable vectors: residual ~ p eps ||H||; 1e-10 relative to the top
         * eigenvalue, which dominates ||H||. */
        cr_assert(sqrt(r) <= 1e-10 * ev[0], "pair %zu residual %g", i, sqrt(r));
        cr_assert(fabs(sqrt(n) - 1) < 1e-12);
    }
    /* the spectrum is descending and the trace equals the sum of the eigenvalues */
    double tr = 0, se = 0;
    for (size_t i = 0; i < p; i++) {
        tr += f.H[i * p + i];
        se += f.evals[i];
        if (i > 0)
            cr_assert(f.evals[i] <= f.evals[i - 1]);
    }
    cr_assert(lm_close(tr, se, 1e-10, f.evals[0]), "trace %g vs sum %g", tr, se);
    lm_free(tmp);
    lm_free(ev);
    lm_free(vec);
    lm_free(hv);
    fx_close(&f);
    LM_CHECK_LEAKS();
}

static void run_lanczos(fixture *f, lm_curv_which which, size_t k, double tol, const double *start,
                        size_t n_start, double *ev, double *vec, double *res,
                        lm_curv_lanczos_info *info) {
    lm_err err = {0};
    lm_curv_ws *ws = NULL;
    cr_assert_eq(lm_curv_ws_new(f->p, 300, &ws, &err), LM_OK, "%s", err.msg);
    lm_curv_lanczos_opts o = lm_curv_lanczos_opts_default();
    o.k = k;
    o.which = which;
    o.tol = tol;
    o.seed = 11;
    o.start = start;
    o.n_start = n_start;
    f->op.n_ops = 0;
    cr_assert_eq(lm_curv_lanczos(lm_curv_mlp_apply, &f->op, f->p, &o, ws, ev, vec, res, info, &err),
                 LM_OK, "%s", err.msg);
    cr_assert_eq(info->n_ops, f->op.n_ops, "n_ops %zu, products made %zu", info->n_ops,
                 f->op.n_ops);
    lm_curv_ws_free(ws);
}

Test(curv_lanczos, top3_against_lapack) {
    fixture f;
    fx_open(&f);
    fx_dense(&f);
    double ev[3], res[3], vec[3 * 970];
    lm_curv_lanczos_info info;
    run_lanczos(&f, LM_CURV_LARGEST, 3, 1e-8, NULL, 0, ev, vec, res, &info);
    cr_assert(info.converged);
    for (int i = 0; i < 3; i++) {
        cr_assert(lm_close(ev[i], f.evals[i], EIG_RTOL, 0), "lambda_%d %.15g vs exact %.15g", i,
                  ev[i], f.evals[i]);
        cr_assert(res[i] <= 1e-8, "residual %g", res[i]);
    }
    cr_log_info("top-3 %g %g %g in %zu steps, %zu products", ev[0], ev[1], ev[2], info.iters,
                info.n_ops);
    fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(curv_lanczos, default_tolerance_meets_rule) {
    fixture f;
    fx_open(&f);
    fx_dense(&f);
    double ev[1], res[1];
    lm_curv_lanczos_info info;
    run_lanczos(&f, LM_CURV_LARGEST, 1, 1e-6, NULL, 0, ev, NULL, res, &info);
    cr_assert(info.converged);
    cr_assert(res[0] <= 1e-6);
    /* Ritz value error <= residual^2 * lambda / gap: far below the 1e-6 residual itself */
    cr_assert(lm_close(ev[0], f.evals[0], 1e-8, 0), "%.15g vs %.15g", ev[0], f.evals[0]);
    /* the verification spends exactly one extra product for k = 1 (or a few more when the first
     * verification missed); no product is uncounted */
    cr_assert(info.n_ops >= info.iters + 1 && info.n_ops <= info.iters + 3);
    fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(curv_lanczos, smallest_against_lapack) {
    fixture f;
    fx_open(&f);
    fx_dense(&f);
    double ev[2], res[2];
    lm_curv_lanczos_info info;
    run_lanczos(&f, LM_CURV_SMALLEST, 2, 1e-6, NULL, 0, ev, NULL, res, &info);
    cr_log_info("smallest %g %g (exact %g %g) in %zu steps, converged %d", ev[0], ev[1],
                f.evals[f.p - 1], f.evals[f.p - 2], info.iters, info.converged);
    cr_assert(info.converged);
    for (int i = 0; i < 2; i++) {
        cr_assert(ev[i] < 0, "the smallest eigenvalues of this Hessian are negative");
        cr_assert(lm_close(ev[i], f.evals[f.p - 1 - (size_t) i], EIG_RTOL, 0),
                  "lambda_min+%d %.15g vs exact %.15g", i, ev[i], f.evals[f.p - 1 - (size_t) i]);
    }
    fx_close(&f);
    LM_CHECK_LEAKS();
}

/* Tracking sharpness during training: the previous top eigenvector is a good start at the next
 * point. Lanczos' angle error after j steps is bounded by tan(angle(q0, u1)) / T_{j-1}(1 + 2 g),
 * g the relative gap (Golub & Van Loan Thm 10.1.2). Cold, tan(angle) ~ sqrt(p) ~ 31; warm, it is
 * ~ ||dH|| / gap. The saving is the log of their ratio divided by the log of the per-step
 * Chebyshev factor (~2 here, g ~ 0.14), so it is a few steps at tol 1e-6, where the rule itself
 * needs ~log(1e6)/log 2 steps, and most of the solve at tol 1e-3 (eigenvalue error ~ residual^2
 * lambda / gap ~ 1e-5 relative, the accuracy sharpness tracking needs): there the warm start
 * converges in at most half the cold products. The step between the two points is 0.01/lambda,
 * a GD step at 1/200 of the stability limit 2/lambda (a few steps of a small-rate run). */
Test(curv_lanczos, warm_start_is_cheaper) {
    fixture f;
    fx_open(&f);
    double ev[1], res[1], u[970];
    lm_curv_lanczos_info info0, cold, warm, cold3, warm3;
    run_lanczos(&f, LM_CURV_LARGEST, 1, 1e-6, NULL, 0, ev, u, res, &info0);
    cr_assert(info0.converged);
    double eta = 0.01 / ev[0];
    for (size_t i = 0; i < f.p; i++)
        f.theta[i] -= eta * f.grad[i];
    fx_prepare(&f);
    double ev_c[1], ev_w[1], ev_c3[1], ev_w3[1];
    run_lanczos(&f, LM_CURV_LARGEST, 1, 1e-6, NULL, 0, ev_c, NULL, res, &cold);
    run_lanczos(&f, LM_CURV_LARGEST, 1, 1e-6, u, 1, ev_w, NULL, res, &warm);
    run_lanczos(&f, LM_CURV_LARGEST, 1, 1e-3, NULL, 0, ev_c3, NULL, res, &cold3);
    run_lanczos(&f, LM_CURV_LARGEST, 1, 1e-3, u, 1, ev_w3, NULL, res, &warm3);
    cr_log_info("tol 1e-6: cold %zu, warm %zu products; tol 1e-3: cold %zu, warm %zu "
                "(lambda %g -> %.10g, warm at 1e-3 %.10g)",
                cold.n_ops, warm.n_ops, cold3.n_ops, warm3.n_ops, ev[0], ev_c[0], ev_w3[0]);
    cr_assert(cold.converged && warm.converged && cold3.converged && warm3.converged);
    cr_assert(lm_close(ev_c[0], ev_w[0], 1e-9, 0), "same eigenvalue: %.15g vs %.15g", ev_c[0],
              ev_w[0]);
    cr_assert(lm_close(ev_c[0], ev_w3[0], 1e-5, 0), "%.15g vs %.15g", ev_c[0], ev_w3[0]);
    cr_assert(warm.n_ops < cold.n_ops, "warm %zu, cold %zu", warm.n_ops, cold.n_ops);
    cr_assert(2 * warm3.n_ops <= cold3.n_ops, "warm %zu, cold %zu", warm3.n_ops, cold3.n_ops);
    fx_close(&f);
    LM_CHECK_LEAKS();
}

/* Adam's preconditioned Hessian against the explicit matrix D H D, D = P^{-1/2}. */
Test(curv_precond, against_explicit_matrix) {
    fixture f;
    fx_open(&f);
    fx_dense(&f);
    size_t p = f.p;
    double *P = lm_malloc(p * sizeof(double)), *scr = lm_malloc(2 * p * sizeof(double));
    double *A = lm_malloc(p * p * sizeof(double)), *B = lm_malloc(p * p * sizeof(double));
    double *ev = lm_malloc(p * sizeof(double));
    lm_rng rng;
    lm_rng_seed(&rng, 5, 99);
    for (size_t i = 0; i < p; i++) /* a spread of ~e^{+-2}, like Adam's sqrt(v) + eps */
        P[i] = exp(lm_rng_normal(&rng));
    lm_err err = {0};
    lm_curv_precond pc;
    cr_assert_eq(lm_curv_precond_init(&pc, lm_curv_mlp_apply, &f.op, p, P, scr, &err), LM_OK);
    double asym;
    cr_assert_eq(lm_curv_dense(lm_curv_precond_apply, &pc, p, p, A, &asym, &err), LM_OK, "%s",
                 err.msg);
    double amax = 0, dmax = 0;
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < p; j++) {
            double want = f.H[i * p + j] / sqrt(P[i] * P[j]);
            amax = fmax(amax, fabs(want));
            dmax = fmax(dmax, fabs(A[i * p + j] - want));
        }
    /* the same products scaled twice: rounding only */
    cr_assert(dmax <= 1e-12 * amax, "max deviation %g of %g", dmax, amax);
    memcpy(B, A, p * p * sizeof(double));
    cr_assert_eq(lm_curv_dense_eig(p, B, ev, 0, NULL, &err), LM_OK);
    lm_curv_ws *ws = NULL;
    cr_assert_eq(lm_curv_ws_new(p, 200, &ws, &err), LM_OK);
    lm_curv_lanczos_opts o = lm_curv_lanczos_opts_default();
    o.k = 2;
    double top[2], res[2];
    lm_curv_lanczos_info info;
    cr_assert_eq(
        lm_curv_lanczos(lm_curv_precond_apply, &pc, p, &o, ws, top, NULL, res, &info, &err), LM_OK,
        "%s", err.msg);
    cr_assert(info.converged);
    for (int i = 0; i < 2; i++)
        cr_assert(lm_close(top[i], ev[i], EIG_RTOL, 0), "%.15g vs %.15g", top[i], ev[i]);
    /* a non-positive entry is refused with its index */
    P[17] = 0;
    cr_assert_eq(lm_curv_precond_init(&pc, lm_curv_mlp_apply, &f.op, p, P, scr, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "P[17]"), "%s", err.msg);
    lm_curv_ws_free(ws);
    lm_free(P);
    lm_free(scr);
    lm_free(A);
    lm_free(B);
    lm_free(ev);
    fx_close(&f);
    LM_CHECK_LEAKS();
}

/* A diagonal matrix with high-entropy eigenvalues: a start vector that is an eigenvector breaks
 * down after one step; Lanczos must restart and still find the true top pair. */
Test(curv_lanczos, breakdown_restarts) {
    enum { P = 40 };
    double A[P * P] = {0}, e0[P] = {0};
    for (int i = 0; i < P; i++)
        A[i * P + i] = 0.37 * i - 3.1 + 0.011 * i * i;
    e0[5] = 2.385; /* eigenvector of a middle eigenvalue */
    matop op = {A, P, 0};
    lm_err err = {0};
    lm_curv_ws *ws = NULL;
    cr_assert_eq(lm_curv_ws_new(P, P, &ws, &err), LM_OK);
    lm_curv_lanczos_opts o = lm_curv_lanczos_opts_default();
    o.k = 2;
    o.start = e0;
    o.n_start = 1;
    o.tol = 1e-10;
    double ev[2], res[2];
    lm_curv_lanczos_info info;
    cr_assert_eq(lm_curv_lanczos(matop_apply, &op, P, &o, ws, ev, NULL, res, &info, &err), LM_OK,
                 "%s", err.msg);
    double top = 0.37 * (P - 1) - 3.1 + 0.011 * (P - 1) * (P - 1);
    double second = 0.37 * (P - 2) - 3.1 + 0.011 * (P - 2) * (P - 2);
    cr_assert(info.converged);
    /* exact arithmetic would give them exactly; rounding of a 40x40 problem is ~1e-14 */
    cr_assert(lm_close(ev[0], top, 1e-12, 1), "%.15g vs %.15g", ev[0], top);
    cr_assert(lm_close(ev[1], second, 1e-12, 1), "%.15g vs %.15g", ev[1], second);
    /* smallest, with k = p: the whole space, ending by exhaustion */
    o.k = P;
    o.which = LM_CURV_SMALLEST;
    o.n_start = 0;
    double all[P], rall[P];
    cr_assert_eq(lm_curv_lanczos(matop_apply, &op, P, &o, ws, all, NULL, rall, &info, &err), LM_OK,
                 "%s", err.msg);
    cr_assert_eq(info.iters, P);
    for (int i = 0; i < P; i++)
        cr_assert(lm_close(all[i], 0.37 * i - 3.1 + 0.011 * i * i, 1e-12, 1), "eig %d: %.15g", i,
                  all[i]);
    lm_curv_ws_free(ws);
    LM_CHECK_LEAKS();
}

/* A = V diag(lambda) V^T with V = I - 2 v v^T / ||v||^2 (a Householder reflector: orthogonal and
 * dense, so the eigenvectors are not the unit vectors and every product rounds). */
static void reflected(size_t p, const double *lambda, double *A) {
    double v[64], vv = 0;
    cr_assert(p <= 64);
    for (size_t i = 0; i < p; i++) {
        v[i] = sin(1.7 * (double) i + 0.3) + 0.05 * (double) i;
        vv += v[i] * v[i];
    }
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < p; j++) {
            double s = 0;
            for (size_t l = 0; l < p; l++) {
                double vil = (i == l) - 2 * v[i] * v[l] / vv, vjl = (j == l) - 2 * v[j] * v[l] / vv;
                s += vil * lambda[l] * vjl;
            }
            A[i * p + j] = s;
        }
}

/* Repeated extreme eigenvalues (a linear network's Hessian is I_k (x) X^T X / n: every
 * eigenvalue k times). A Krylov space holds one vector per eigenspace, so plain Lanczos returned
 * top-4 = 9.31, 9.31, 7.25, 4.75 (the second copy born of rounding, the third never) with
 * residuals < 1e-8 for the spectrum 9.31 x 3, 7.25, ...; smallest-2 likewise missed the copy of
 * -6.06. The check runs must find every copy. */
Test(curv_lanczos, repeated_eigenvalues) {
    enum { P = 50 };
    double lambda[P], A[P * P];
    for (size_t i = 0; i < P; i++) /* high-entropy bulk in [-2.1, 4.9) */
        lambda[i] = -2.1 + 7.0 * fmod(0.618034 * (double) (i + 1), 1.0);
    lambda[7] = lambda[19] = lambda[33] = 9.3125; /* top, three times      */
    lambda[2] = lambda[41] = -6.0625;             /* bottom, twice         */
    lambda[11] = 7.25;                            /* gaps that converge    */
    lambda[27] = -4.5;                            /* well before p steps   */
    reflected(P, lambda, A);
    double sorted[P];
    memcpy(sorted, lambda, sizeof sorted);
    for (size_t i = 0; i < P; i++) /* descending */
        for (size_t j = i + 1; j < P; j++)
            if (sorted[j] > sorted[i]) {
                double t = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = t;
            }
    matop op = {A, P, 0};
    lm_err err = {0};
    lm_curv_ws *ws = NULL;
    cr_assert_eq(lm_curv_ws_new(P, 40, &ws, &err), LM_OK);
    lm_curv_lanczos_opts o = lm_curv_lanczos_opts_default();
    o.k = 4;
    o.tol = 1e-8;
    double ev[4], res[4], vec[4 * P];
    lm_curv_lanczos_info info;
    cr_assert_eq(lm_curv_lanczos(matop_apply, &op, P, &o, ws, ev, vec, res, &info, &err), LM_OK,
                 "%s", err.msg);
    cr_log_info("top-4 %.10g %.10g %.10g %.10g in %zu steps, %zu products", ev[0], ev[1], ev[2],
                ev[3], info.iters, info.n_ops);
    cr_assert(info.converged);
    /* residual 1e-8: each eigenvalue within ~1e-8 * 9.3 of the truth (Kahan's bound) */
    for (int i = 0; i < 4; i++) {
        cr_assert(lm_close(ev[i], sorted[i], 1e-7, 0), "lambda_%d %.15g vs %.15g", i, ev[i],
                  sorted[i]);
        cr_assert(res[i] <= 1e-8, "residual %d: %g", i, res[i]);
    }
    /* the three copies' vectors are orthonormal: they span the eigenspace */
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            double d = 0;
            for (size_t c = 0; c < P; c++)
                d += vec[a * P + (int) c] * vec[b * P + (int) c];
            cr_assert(fabs(d - (a == b)) <= 1e-8, "<v%d, v%d> = %g", a, b, d);
        }
    o.which = LM_CURV_SMALLEST;
    o.k = 2;
    cr_assert_eq(lm_curv_lanczos(matop_apply, &op, P, &o, ws, ev, NULL, res, &info, &err), LM_OK,
                 "%s", err.msg);
    cr_assert(info.converged);
    for (int i = 0; i < 2; i++)
        cr_assert(lm_close(ev[i], sorted[P - 1 - i], 1e-7, 0), "lambda_min+%d %.15g vs %.15g", i,
                  ev[i], sorted[P - 1 - i]);
    lm_curv_ws_free(ws);
    LM_CHECK_LEAKS();
}

/* Zero eigenvalues (a PSD Hessian of rank < p: the Gauss-Newton part at an interpolating point,
 * dead ReLU units). A Ritz value of an exact zero is ~eps ||H|| with a residual of a few
 * eps ||H||, so ||Hv - lv|| / |l| ~ 100 never met tol: --smallest on such a Hessian ran to
 * max_iter and reported converged = 0; the zero operator gave residual NaN and converged = 0.
 * Residuals are now measured against max(|l|, sqrt(eps) ||H||). */
Test(curv_lanczos, zero_eigenvalues_converge) {
    enum { P = 40 };
    double lambda[P], A[P * P];
    for (size_t i = 0; i < P; i++) /* rank 30: ten exact zeros, the rest in (0.5, 3.6) */
        lambda[i] = i < 10 ? 0.0 : 0.5 + 3.1 * fmod(0.754877 * (double) i, 1.0);
    reflected(P, lambda, A);
    matop op = {A, P, 0};
    lm_err err = {0};
    lm_curv_ws *ws = NULL;
    cr_assert_eq(lm_curv_ws_new(P, P, &ws, &err), LM_OK);
    lm_curv_lanczos_opts o = lm_curv_lanczos_opts_default();
    o.which = LM_CURV_SMALLEST;
    o.k = 3;
    double ev[3], res[3];
    lm_curv_lanczos_info info;
    cr_assert_eq(lm_curv_lanczos(matop_apply, &op, P, &o, ws, ev, NULL, res, &info, &err), LM_OK,
                 "%s", err.msg);
    cr_log_info("smallest %g %g %g, residuals %g %g %g, %zu steps", ev[0], ev[1], ev[2], res[0],
                res[1], res[2], info.iters);
    cr_assert(info.converged);
    for (int i = 0; i < 3; i++) {
        /* zero to rounding: a few eps * ||H|| (||H|| < 3.6) */
        cr_assert(fabs(ev[i]) <= 1e-13, "lambda_min+%d = %g", i, ev[i]);
        cr_assert(res[i] <= 1e-6, "residual %g", res[i]);
    }
    /* the zero operator: every pair is exact (residual 0 / 0 counts as 0) */
    double Z[P * P] = {0};
    matop zop = {Z, P, 0};
    o.which = LM_CURV_LARGEST;
    o.k = 2;
    cr_assert_eq(lm_curv_lanczos(matop_apply, &zop, P, &o, ws, ev, NULL, res, &info, &err), LM_OK,
                 "%s", err.msg);
    cr_assert(info.converged);
    cr_assert(ev[0] == 0 && ev[1] == 0 && res[0] == 0 && res[1] == 0, "%g %g %g %g", ev[0], ev[1],
              res[0], res[1]);
    lm_curv_ws_free(ws);
    LM_CHECK_LEAKS();
}
