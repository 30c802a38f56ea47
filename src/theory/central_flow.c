/*
 * central_flow.c: the one-eigenvalue central flow (see lmech/theory.h for the equations).
 *
 * Workload per step: one gradient, the top eigenpair by Lanczos warm-started from the previous
 * eigenvector (relative residual 1e-4: a few Hessian-vector products), and on the edge two more
 * gradients for grad S. For the eos network (p ~ 17k, n = 1000) that is ~10 gradient-equivalents
 * per step.
 */
#include "lmech/theory.h"

#include "lmech/curv.h"

#include <cblas.h>
#include <string.h>

#define CF_FD_EPS       1e-3 /* e in the central difference for grad S: truncation O(e^2 |d^4 L|) */
#define CF_LANCZOS_TOL  1e-4
#define CF_LANCZOS_ITER 80

void lm_cf_trace_free(lm_cf_trace *t) {
    if (!t)
        return;
    lm_free(t->loss);
    lm_free(t->lbar);
    lm_free(t->sigma2);
    lm_free(t->sharp);
    memset(t, 0, sizeof *t);
}

typedef struct cf {
    const lm_mlp *m;
    lm_loss loss;
    const lm_dataset *d;
    lm_mlp_ws *ws;
    lm_curv_ws *cws;
    size_t p, iter; /* iter: Lanczos steps, CF_LANCZOS_ITER but at most p */
    double *w, *g, *gp, *gm, *gs, *u, *tmp;
} cf;

static lm_status grad_at(cf *c, const double *w, double *g, double *lv, lm_err *err) {
    return lm_mlp_loss_grad(c->m, c->ws, c->loss, w, c->d->x, c->d->y, c->d->n, lv, g, NULL, err);
}

static lm_status top_pair(cf *c, int warm, double *S, lm_err *err) {
    LM_TRY(
        lm_mlp_hvp_prepare(c->m, c->ws, c->loss, c->w, c->d->x, c->d->y, c->d->n, NULL, NULL, err));
    lm_curv_mlp op = {c->m, c->ws, 0};
    lm_curv_lanczos_opts o = lm_curv_lanczos_opts_default();
    o.tol = CF_LANCZOS_TOL;
    o.max_iter = c->iter;
    o.seed = 5;
    if (warm) {
        o.n_start = 1;
        o.start = c->u;
    }
    LM_TRY(lm_curv_lanczos(lm_curv_mlp_apply, &op, c->p, &o, c->cws, S, c->tmp, NULL, NULL, err));
    memcpy(c->u, c->tmp, c->p * sizeof *c->u);
    return LM_OK;
}

lm_status lm_central_flow(const lm_mlp *m, lm_loss loss, const lm_dataset *train,
                          const double *theta0, double eta, size_t steps, double *theta_out,
                          lm_cf_trace *trace, lm_err *err) {
    if (!(eta > 0) || steps == 0)
        LM_FAIL(err, LM_EINVAL, "central flow: eta = %g and steps = %zu must be positive", eta,
                steps);
    memset(trace, 0, sizeof *trace);
    trace->active_from = -1;
    cf c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.loss = loss;
    c.d = train;
    c.p = m->n_params;
    /* a Krylov space of a p x p matrix stops at p dimensions (a model with p < 80 parameters) */
    c.iter = c.p < CF_LANCZOS_ITER ? c.p : CF_LANCZOS_ITER;
    const size_t p = c.p, n = steps + 1;
    lm_status st = lm_mlp_ws_new(m, train->n, LM_F64, &c.ws, err);
    if (st == LM_OK)
        st = lm_curv_ws_new(p, c.iter, &c.cws, err);
    double *buf = st == LM_OK ? lm_malloc(8 * p * sizeof(double)) : NULL;
    trace->loss = lm_malloc(n * sizeof(double));
    trace->lbar = lm_malloc(n * sizeof(double));
    trace->sigma2 = lm_malloc(n * sizeof(double));
    trace->sharp = lm_malloc(n * sizeof(double));
    if (st == LM_OK && (!buf || !trace->loss || !trace->lbar || !trace->sigma2 || !trace->sharp))
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory (p = %zu)", p);
    if (st == LM_OK) {
        c.w = buf;
        c.g = buf + p;
        c.gp = buf + 2 * p;
        c.gm = buf + 3 * p;
        c.gs = buf + 4 * p;
        c.u = buf + 5 * p;
        c.tmp = buf + 6 * p; /* 2p: Lanczos writes one vector; room for safety */
        memcpy(c.w, theta0, p * sizeof *c.w);
    }
    const double edge = 2.0 / eta;
    int active = 0;
    for (size_t t = 0; st == LM_OK && t < n; t++) {
        double L, S, Lp, Lm;
        st = grad_at(&c, c.w, c.g, &L, err);
        if (st == LM_OK)
            st = top_pair(&c, t > 0, &S, err);
        if (st != LM_OK)
            break;
        double s2 = 0.0;
        if (!active && S >= edge) {
            active = 1;
            trace->active_from = (long) t;
        }
        if (active) {
            /* grad S by the second central difference of grad L along u */
            for (size_t i = 0; i < p; i++)
                c.tmp[i] = c.w[i] + CF_FD_EPS * c.u[i];
            st = grad_at(&c, c.tmp, c.gp, &Lp, err);
            for (size_t i = 0; st == LM_OK && i < p; i++)
                c.tmp[i] = c.w[i] - CF_FD_EPS * c.u[i];
            if (st == LM_OK)
                st = grad_at(&c, c.tmp, c.gm, &Lm, err);
            if (st != LM_OK)
                break;
            for (size_t i = 0; i < p; i++)
                c.gs[i] = (c.gp[i] + c.gm[i] - 2.0 * c.g[i]) / (CF_FD_EPS * CF_FD_EPS);
            const double gs2 = cblas_ddot((int) p, c.gs, 1, c.gs, 1);
            const double gl = cblas_ddot((int) p, c.gs, 1, c.g, 1);
            if (gs2 > 0 && t + 1 < n) {
                s2 = fmax(0.0, -2.0 * gl / gs2);
                /* dw = -eta (g + s2/2 grad S), plus a Newton step back to S = 2/eta */
                const double back = (S - edge) / gs2;
                for (size_t i = 0; i < p; i++)
                    c.w[i] -= eta * (c.g[i] + 0.5 * s2 * c.gs[i]) + back * c.gs[i];
            } else if (t + 1 < n) {
                cblas_daxpy((int) p, -eta, c.g, 1, c.w, 1);
            }
            if (gs2 > 0 && t + 1 == n)
                s2 = fmax(0.0, -2.0 * gl / gs2);
        } else if (t + 1 < n) {
            cblas_daxpy((int) p, -eta, c.g, 1, c.w, 1);
        }
        trace->loss[t] = L;
        trace->sigma2[t] = s2;
        trace->lbar[t] = L + s2 / eta;
        trace->sharp[t] = S;
        trace->n = t + 1;
        if (!isfinite(L)) {
            st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__,
                            "central flow: the loss became %g at step %zu", L, t);
            break;
        }
    }
    if (st == LM_OK && theta_out)
        memcpy(theta_out, c.w, p * sizeof *c.w);
    lm_free(buf);
    lm_mlp_ws_free(c.ws);
    lm_curv_ws_free(c.cws);
    if (st != LM_OK)
        lm_cf_trace_free(trace);
    return st;
}
