/*
 * fit.c: scaling-law fits (lmech/fit.h, docs/fit.md). The objective (summed Huber of log-sum-exp
 * residuals) and its analytic gradient, GSL's BFGS from the science.md §7 grid on a small
 * thread pool, the bootstrap, the identifiability check and the compute-optimal allocation.
 */
#include "lmech/fit.h"

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_multimin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIM       5
#define BOOT_STARTS   4    /* distinct local optima a bootstrap refit starts from      */
#define OPT_DISTINCT  1e-3 /* optima closer than this in every coordinate are the same */
#define BOOT_STREAM   0xb0075ull
#define BFGS_STEP     0.1  /* bfgs2's first trial step along the search direction      */
#define BFGS_LINE_TOL 0.1  /* bfgs2's line-search tolerance (GSL's recommended value)   */
#define MAX_RESTARTS  3    /* steepest-descent restarts after a stalled line search     */
#define MAX_CYCLES    8    /* BFGS + Newton cycles per start                            */
#define NEWTON_GATE   1e-2 /* BFGS hands over to the Newton polish below this gradient  */
#define BOOT_GATE     1e30 /* bootstrap refits start at an optimum: Newton at once      */
#define NEWTON_MAX    30   /* Newton steps                                              */
#define NEWTON_HALVINGS                                                                            \
    12 /* step halvings: a Newton step cut below 1/4096 means we are                               \
        * not in Newton's basin; the start is reported stalled      */

const char *lm_fit_law_name(lm_fit_law law) {
    return law == LM_FIT_POWER ? "power" : "chinchilla";
}

lm_status lm_fit_law_parse(const char *name, lm_fit_law *law, lm_err *err) {
    if (name && strcmp(name, "chinchilla") == 0)
        *law = LM_FIT_CHINCHILLA;
    else if (name && strcmp(name, "power") == 0)
        *law = LM_FIT_POWER;
    else
        LM_FAIL(err, LM_EINVAL, "unknown law \"%s\" (chinchilla or power)", name ? name : "");
    return LM_OK;
}

static size_t law_dim(lm_fit_law law) {
    return law == LM_FIT_POWER ? 3 : 5;
}

/* ---------------------------------------------------------------- the objective */

/* The data in log space, with optional per-point weights (bootstrap multiplicities). */
typedef struct problem {
    lm_fit_law law;
    double delta;
    size_t n;
    const double *lN, *lD, *lL; /* lN and lD centred: log N_i - cN, log D_i - cD        */
    double cN, cD;
    const double *w;
    double tol;  /* the gradient-norm target (in x)                        */
    double gate; /* BFGS hands over to the Newton polish below this norm   */
} problem;

/* The optimiser works in centred coordinates y = (a', b', e, alpha, beta), a' = a - alpha cN,
 * b' = b - beta cD (cN, cD the mean log N and log D): the same objective, but without the
 * near-collinearity of a and alpha (log N ~ 15..25 makes dr/da and dr/dalpha almost parallel,
 * J^T J's condition number ~1e6 instead of ~1e2), which made BFGS crawl. x <-> y and the
 * gradient: df/dalpha|_x = df/dalpha|_y - cN df/da'. */
static void to_y(const problem *p, const double *x, double *y) {
    if (p->law == LM_FIT_CHINCHILLA) {
        y[0] = x[0] - x[3] * p->cN;
        y[1] = x[1] - x[4] * p->cD;
        y[2] = x[2];
        y[3] = x[3];
        y[4] = x[4];
    } else {
        y[0] = x[0] - x[2] * p->cN;
        y[1] = x[1];
        y[2] = x[2];
    }
}
static void to_x(const problem *p, const double *y, double *x) {
    if (p->law == LM_FIT_CHINCHILLA) {
        x[0] = y[0] + y[3] * p->cN;
        x[1] = y[1] + y[4] * p->cD;
        x[2] = y[2];
        x[3] = y[3];
        x[4] = y[4];
    } else {
        x[0] = y[0] + y[2] * p->cN;
        x[1] = y[1];
        x[2] = y[2];
    }
}
static void grad_to_x(const problem *p, const double *gy, double *gx) {
    if (p->law == LM_FIT_CHINCHILLA) {
        gx[0] = gy[0];
        gx[1] = gy[1];
        gx[2] = gy[2];
        gx[3] = gy[3] - p->cN * gy[0];
        gx[4] = gy[4] - p->cD * gy[1];
    } else {
        gx[0] = gy[0];
        gx[1] = gy[1];
        gx[2] = gy[2] - p->cN * gy[0];
    }
}

/* Summed Huber of r_i = LSE(a - alpha lN_i, b - beta lD_i, e) - lL_i and its gradient (g may be
 * NULL). Huber_d(r) = r^2/2 for |r| <= d, d (|r| - d/2) beyond; its derivative clamps r to
 * [-d, d]. dLSE/dt_k is the softmax weight of term k. In centred coordinates y. */
/* exp and log four at a time: glibc's vector math library where available (as
 * src/model/vmath.c does for tanh; within 4 ulp), else libm. Every point goes through the same
 * routine, so a point's value never depends on its position. */
#if defined(LM_HAVE_LIBMVEC) && defined(__AVX2__)
#include <immintrin.h>
__m256d _ZGVdN4v_exp(__m256d x);
__m256d _ZGVdN4v_log(__m256d x);
static inline void exp4(double *v) {
    _mm256_storeu_pd(v, _ZGVdN4v_exp(_mm256_loadu_pd(v)));
}
static inline void log4(double *v) {
    _mm256_storeu_pd(v, _ZGVdN4v_log(_mm256_loadu_pd(v)));
}
#else
static inline void exp4(double *v) {
    for (int k = 0; k < 4; k++)
        v[k] = exp(v[k]);
}
static inline void log4(double *v) {
    for (int k = 0; k < 4; k++)
        v[k] = log(v[k]);
}
#endif

static double objective(const problem *p, const double *x, double *g) {
    const double d = p->delta;
    double f = 0;
    const int two = p->law == LM_FIT_CHINCHILLA;
    const double a = x[0], b = two ? x[1] : 0, e = two ? x[2] : x[1];
    const double al = two ? x[3] : x[2], be = two ? x[4] : 0;
    double ga = 0, gb = 0, ge = 0, gal = 0, gbe = 0;
    for (size_t i0 = 0; i0 < p->n; i0 += 4) {
        const size_t cnt = p->n - i0 < 4 ? p->n - i0 : 4;
        double t1[4] = {0}, t2[4] = {0}, m[4] = {0}, e1[4] = {0}, e2[4] = {0}, e3[4] = {0},
               ls[4] = {1, 1, 1, 1};
        for (size_t k = 0; k < cnt; k++) {
            const size_t i = i0 + k;
            t1[k] = a - al * p->lN[i];
            t2[k] = two ? b - be * p->lD[i] : -LM_INF;
            m[k] = fmax(t1[k], fmax(t2[k], e));
            e1[k] = t1[k] - m[k];
            e2[k] = two ? t2[k] - m[k] : 0;
            e3[k] = e - m[k];
        }
        exp4(e1);
        if (two)
            exp4(e2);
        exp4(e3);
        for (size_t k = 0; k < cnt; k++) {
            if (!two)
                e2[k] = 0;
            ls[k] = e1[k] + e2[k] + e3[k];
        }
        double sum[4];
        memcpy(sum, ls, sizeof sum);
        log4(ls);
        for (size_t k = 0; k < cnt; k++) {
            const size_t i = i0 + k;
            const double wi = p->w ? p->w[i] : 1.0;
            if (wi == 0)
                continue;
            const double r = m[k] + ls[k] - p->lL[i];
            const double ar = fabs(r);
            double h, dr;
            if (ar <= d) {
                h = 0.5 * r * r;
                dr = r;
            } else {
                h = d * (ar - 0.5 * d);
                dr = r > 0 ? d : -d;
            }
            f += wi * h;
            if (g) {
                const double c = wi * dr / sum[k];
                ga += c * e1[k];
                gb += c * e2[k];
                ge += c * e3[k];
                gal -= c * e1[k] * p->lN[i];
                gbe -= c * e2[k] * (two ? p->lD[i] : 0);
            }
        }
    }
    if (g) {
        if (two) {
            g[0] = ga;
            g[1] = gb;
            g[2] = ge;
            g[3] = gal;
            g[4] = gbe;
        } else {
            g[0] = ga;
            g[1] = ge;
            g[2] = gal;
        }
    }
    return f;
}

/* Fills logs[3n] (centred log N, log D, and log L) and the centres of p. */
static void make_problem(lm_fit_law law, double delta, size_t n, const double *N, const double *D,
                         const double *L, const double *w, double *logs, problem *p) {
    double sN = 0, sD = 0;
    for (size_t i = 0; i < n; i++) {
        logs[i] = log(N[i]);
        logs[n + i] = law == LM_FIT_CHINCHILLA ? log(D[i]) : 0;
        logs[2 * n + i] = log(L[i]);
        sN += logs[i];
        sD += logs[n + i];
    }
    const double cN = n ? sN / (double) n : 0, cD = n ? sD / (double) n : 0;
    for (size_t i = 0; i < n; i++) {
        logs[i] -= cN;
        logs[n + i] -= cD;
    }
    *p = (problem){law, delta,           n,          logs, logs + n, logs + 2 * n, cN, cD,
                   w,   LM_FIT_GRAD_TOL, NEWTON_GATE};
}

double lm_fit_objective(lm_fit_law law, double delta, size_t n, const double *N, const double *D,
                        const double *L, const double *w, const double *x, double *g) {
    double *buf = lm_malloc(3 * (n ? n : 1) * sizeof *buf);
    if (!buf)
        return LM_NAN;
    problem p;
    make_problem(law, delta > 0 ? delta : LM_FIT_DELTA, n, N, D, L, w, buf, &p);
    double y[MAX_DIM], gy[MAX_DIM];
    to_y(&p, x, y);
    const double f = objective(&p, y, g ? gy : NULL);
    if (g)
        grad_to_x(&p, gy, g);
    lm_free(buf);
    return f;
}

static double vnorm(const double *g, size_t k) {
    double s = 0;
    for (size_t i = 0; i < k; i++)
        s += g[i] * g[i];
    return sqrt(s);
}

/* The exact Hessian of the objective in y (k x k, row-major): per point
 * w [h''(r) J J^T + h'(r) M^T (diag(pi) - pi pi^T) M], with pi the softmax weights of the three
 * terms, M = dt/dy (t1 = a' - alpha lN, t2 = b' - beta lD, t3 = e) and J = M^T pi = dr/dy;
 * h'' = 1 inside delta, 0 beyond. Used for the Newton polish after BFGS. */
static void hessian(const problem *p, const double *y, double *H) {
    const size_t k = law_dim(p->law);
    const int two = p->law == LM_FIT_CHINCHILLA;
    const double d = p->delta;
    memset(H, 0, k * k * sizeof *H);
    for (size_t i = 0; i < p->n; i++) {
        const double wi = p->w ? p->w[i] : 1.0;
        if (wi == 0)
            continue;
        double M[3][MAX_DIM] = {{0}};
        double t[3];
        if (two) {
            t[0] = y[0] - y[3] * p->lN[i];
            t[1] = y[1] - y[4] * p->lD[i];
            t[2] = y[2];
            M[0][0] = 1;
            M[0][3] = -p->lN[i];
            M[1][1] = 1;
            M[1][4] = -p->lD[i];
            M[2][2] = 1;
        } else {
            t[0] = y[0] - y[2] * p->lN[i];
            t[1] = -LM_INF;
            t[2] = y[1];
            M[0][0] = 1;
            M[0][2] = -p->lN[i];
            M[2][1] = 1;
        }
        const double m = fmax(t[0], fmax(t[1], t[2]));
        double pi[3] = {exp(t[0] - m), two ? exp(t[1] - m) : 0, exp(t[2] - m)};
        const double s = pi[0] + pi[1] + pi[2];
        for (int q = 0; q < 3; q++)
            pi[q] /= s;
        const double r = m + log(s) - p->lL[i];
        const double h2 = fabs(r) <= d ? 1.0 : 0.0, h1 = fabs(r) <= d ? r : (r > 0 ? d : -d);
        double J[MAX_DIM] = {0};
        for (size_t a = 0; a < k; a++)
            for (int q = 0; q < 3; q++)
                J[a] += M[q][a] * pi[q];
        for (size_t a = 0; a < k; a++)
            for (size_t b = 0; b < k; b++) {
                /* M^T (diag pi - pi pi^T) M = sum_q pi_q M_qa M_qb - J_a J_b */
                double c = -J[a] * J[b];
                for (int q = 0; q < 3; q++)
                    c += pi[q] * M[q][a] * M[q][b];
                H[a * k + b] += wi * (h2 * J[a] * J[b] + h1 * c);
            }
    }
}

/* Damped Newton from y (in place) until the x-gradient norm is below tol, no step decreases
 * the objective, or NEWTON_MAX steps: the polish that takes BFGS's ~1e-8 to 1e-10 (bfgs2's line
 * search stalls there on this piecewise-quadratic objective). Returns the final gradient norm
 * and the steps taken in *steps; *f is updated. */
static double newton_polish(const problem *p, double *y, double *f, int *steps) {
    const size_t k = law_dim(p->law);
    double g[MAX_DIM], gx[MAX_DIM], H[MAX_DIM * MAX_DIM], d[MAX_DIM], yt[MAX_DIM];
    double gt[MAX_DIM];
    *f = objective(p, y, g);
    grad_to_x(p, g, gx);
    double gn = vnorm(gx, k);
    int it = 0;
    for (; it < NEWTON_MAX && gn >= p->tol && isfinite(*f); it++) {
        hessian(p, y, H);
        double tr = 0;
        for (size_t a = 0; a < k; a++)
            tr += fabs(H[a * k + a]);
        double mu = 0;
        int ok = 0;
        for (int tries = 0; tries < 30 && !ok; tries++) {
            double Hm[MAX_DIM * MAX_DIM];
            memcpy(Hm, H, k * k * sizeof *H);
            for (size_t a = 0; a < k; a++)
                Hm[a * k + a] += mu;
            gsl_matrix_view hv = gsl_matrix_view_array(Hm, k, k);
            gsl_vector_view dv = gsl_vector_view_array(d, k);
            gsl_vector_const_view gv = gsl_vector_const_view_array(g, k);
            if (gsl_linalg_cholesky_decomp1(&hv.matrix) == GSL_SUCCESS &&
                gsl_linalg_cholesky_solve(&hv.matrix, &gv.vector, &dv.vector) == GSL_SUCCESS)
                ok = 1;
            else
                mu = mu > 0 ? 10 * mu : 1e-12 * (tr > 0 ? tr : 1.0);
        }
        if (!ok)
            break;
        double slope = 0;
        for (size_t a = 0; a < k; a++) {
            d[a] = -d[a];
            slope += g[a] * d[a];
        }
        double step = 1, ft = LM_NAN, gnt = LM_NAN;
        int accepted = 0;
        for (int ls = 0; ls < NEWTON_HALVINGS && !accepted; ls++, step *= 0.5) {
            for (size_t a = 0; a < k; a++)
                yt[a] = y[a] + step * d[a];
            ft = objective(p, yt, gt);
            grad_to_x(p, gt, gx);
            gnt = vnorm(gx, k);
            /* Armijo, or (at rounding level in f) a smaller gradient without a larger f */
            accepted = ft <= *f + 1e-4 * step * slope || (ft <= *f + 1e-13 * fabs(*f) && gnt < gn);
        }
        if (!accepted)
            break;
        memcpy(y, yt, k * sizeof *y);
        memcpy(g, gt, k * sizeof *g);
        *f = ft;
        gn = gnt;
    }
    *steps = it;
    return gn;
}

static double gsl_f(const gsl_vector *v, void *ud) {
    return objective(ud, v->data, NULL);
}
static void gsl_df(const gsl_vector *v, void *ud, gsl_vector *g) {
    objective(ud, v->data, g->data);
}
static void gsl_fdf(const gsl_vector *v, void *ud, double *f, gsl_vector *g) {
    *f = objective(ud, v->data, g->data);
}

/* ---------------------------------------------------------------- one start */

enum { START_CONVERGED = 0, START_STALLED, START_CAPPED, START_FAILED };

typedef struct start_out {
    double x[MAX_DIM];
    double f, gnorm;
    int iters, how;
} start_out;

/* BFGS from x0 until the gradient norm is below tol, the line search stops making progress,
 * or max_iter iterations. s is a worker's minimiser of the problem's dimension. */
static void run_start(gsl_multimin_fdfminimizer *s, const problem *p, const double *x0, double tol,
                      int max_iter, start_out *out) {
    const size_t k = law_dim(p->law);
    gsl_multimin_function_fdf fdf = {gsl_f, gsl_df, gsl_fdf, k, (void *) p};
    double y0[MAX_DIM], gx[MAX_DIM];
    to_y(p, x0, y0);
    gsl_vector_view yv = gsl_vector_view_array(y0, k);
    out->how = START_FAILED;
    out->iters = 0;
    out->f = out->gnorm = LM_NAN;
    if (gsl_multimin_fdfminimizer_set(s, &fdf, &yv.vector, BFGS_STEP, BFGS_LINE_TOL) != GSL_SUCCESS)
        return;
    int how = START_CAPPED, it = 0;
    grad_to_x(p, s->gradient->data, gx);
    double gn = vnorm(gx, k);
    const double gate = fmax(tol, p->gate);
    double y[MAX_DIM], f = s->f;
    memcpy(y, s->x->data, k * sizeof *y);
    /* cycles of BFGS (down to the gate) and Newton (down to tol); a cycle that lowers f but
     * does not converge restarts BFGS where Newton stopped (BFGS's line search and Newton's
     * both stall in the kinked, all-residuals-beyond-delta regions far from an optimum, but
     * rarely at the same point) */
    for (int cycle = 0; cycle < MAX_CYCLES && isfinite(f) && gn >= tol && it < max_iter; cycle++) {
        const double f_start = f;
        if (cycle > 0) {
            gsl_vector_view v = gsl_vector_view_array(y, k);
            if (gsl_multimin_fdfminimizer_set(s, &fdf, &v.vector, BFGS_STEP, BFGS_LINE_TOL) !=
                GSL_SUCCESS)
                break;
        }
        int restarts = 0;
        while (isfinite(s->f) && gn >= gate && it < max_iter) {
            it++;
            if (gsl_multimin_fdfminimizer_iterate(s) != GSL_SUCCESS) {
                /* no progress: restart from steepest descent a few times (BFGS's curvature
                 * estimate may be stale after a residual crossed delta) */
                if (restarts++ < MAX_RESTARTS &&
                    gsl_multimin_fdfminimizer_restart(s) == GSL_SUCCESS)
                    continue;
                break;
            }
            grad_to_x(p, s->gradient->data, gx);
            gn = vnorm(gx, k);
        }
        if (s->f <= f) {
            f = s->f;
            memcpy(y, s->x->data, k * sizeof *y);
        }
        if (isfinite(f) && gn >= tol && it < max_iter) {
            int steps = 0;
            gn = newton_polish(p, y, &f, &steps);
            it += steps;
        }
        how = gn < tol ? START_CONVERGED : START_STALLED;
        if (!(f < f_start - 1e-9 * fabs(f_start)))
            break; /* this cycle made no progress */
    }
    if (gn < tol)
        how = START_CONVERGED;
    else if (it >= max_iter)
        how = START_CAPPED;
    if (!isfinite(f) || !isfinite(gn))
        how = START_FAILED;
    to_x(p, y, out->x);
    out->f = f;
    out->gnorm = gn;
    out->iters = it;
    out->how = how;
}

/* ---------------------------------------------------------------- a small thread pool */

typedef struct pool_job pool_job;
typedef void (*task_fn)(pool_job *job, size_t task, gsl_multimin_fdfminimizer *s, double *scratch);
struct pool_job {
    size_t n_tasks;
    atomic_size_t next;
    atomic_int failed; /* a worker could not allocate */
    task_fn fn;
    size_t dim, scratch_len;
    void *ud;
};

static void *pool_worker(void *arg) {
    pool_job *job = arg;
    gsl_multimin_fdfminimizer *s =
        gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, job->dim);
    double *scratch = job->scratch_len ? lm_malloc(job->scratch_len * sizeof *scratch) : NULL;
    if (!s || (job->scratch_len && !scratch)) {
        atomic_store(&job->failed, 1);
    } else {
        for (;;) {
            const size_t t = atomic_fetch_add(&job->next, 1);
            if (t >= job->n_tasks)
                break;
            job->fn(job, t, s, scratch);
        }
    }
    lm_free(scratch);
    if (s)
        gsl_multimin_fdfminimizer_free(s);
    return NULL;
}

/* Runs fn over tasks 0..n-1 on `threads` threads (the caller being one of them). Each task's
 * output depends only on its index, so the result is the same for every thread count. */
static lm_status pool_run(pool_job *job, int threads, lm_err *err) {
    atomic_init(&job->next, 0);
    atomic_init(&job->failed, 0);
    size_t nt = threads > 0 ? (size_t) threads : (size_t) lm_cores();
    if (nt < 1)
        nt = 1;
    if (nt > job->n_tasks)
        nt = job->n_tasks ? job->n_tasks : 1;
    if (nt > 64)
        nt = 64;
    pthread_t tid[64];
    size_t started = 0;
    for (size_t i = 1; i < nt; i++) {
        if (pthread_create(&tid[started], NULL, pool_worker, job) != 0)
            break; /* fewer threads: the others take the tasks */
        started++;
    }
    pool_worker(job);
    for (size_t i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    /* a worker that could not allocate took no task; the others took them all unless every
     * worker failed */
    if (atomic_load(&job->failed) && atomic_load(&job->next) < job->n_tasks)
        LM_FAIL(err, LM_ENOMEM, "fit: out of memory for the minimisers");
    return LM_OK;
}

/* ---------------------------------------------------------------- the grid */

/* science.md §7: alpha, beta in {0, 0.5, .., 2}; e in {-1, -0.5, .., 1}; a, b in {0, 5, .., 25}.
 * Fills starts[count][dim] (when not NULL) and returns the count. */
static size_t grid_starts(lm_fit_law law, double *starts) {
    size_t c = 0;
    if (law == LM_FIT_CHINCHILLA) {
        for (int ia = 0; ia < 6; ia++)
            for (int ib = 0; ib < 6; ib++)
                for (int ie = 0; ie < 5; ie++)
                    for (int ial = 0; ial < 5; ial++)
                        for (int ibe = 0; ibe < 5; ibe++, c++)
                            if (starts) {
                                double *x = starts + c * 5;
                                x[0] = 5.0 * ia;
                                x[1] = 5.0 * ib;
                                x[2] = -1.0 + 0.5 * ie;
                                x[3] = 0.5 * ial;
                                x[4] = 0.5 * ibe;
                            }
    } else {
        for (int ia = 0; ia < 6; ia++)
            for (int ie = 0; ie < 5; ie++)
                for (int ial = 0; ial < 5; ial++, c++)
                    if (starts) {
                        double *x = starts + c * 3;
                        x[0] = 5.0 * ia;
                        x[1] = -1.0 + 0.5 * ie;
                        x[2] = 0.5 * ial;
                    }
    }
    return c;
}

typedef struct grid_ud {
    const problem *p;
    const double *starts;
    double tol;
    int max_iter;
    start_out *out;
} grid_ud;

static void grid_task(pool_job *job, size_t t, gsl_multimin_fdfminimizer *s, double *scratch) {
    (void) scratch;
    const grid_ud *u = job->ud;
    run_start(s, u->p, u->starts + t * job->dim, u->tol, u->max_iter, &u->out[t]);
}

/* The index of the best start (lowest finite objective, ties: lowest index); n if none. A
 * converged start whose objective is within 1e-8 relative (1e-20 absolute: an exact fit) of the
 * lowest is preferred to a stalled one: the same optimum, with its gradient test passed. */
static size_t best_of(const start_out *o, size_t n) {
    size_t b = n, c = n;
    for (size_t i = 0; i < n; i++) {
        if (o[i].how == START_FAILED || !isfinite(o[i].f))
            continue;
        if (b == n || o[i].f < o[b].f)
            b = i;
        if (o[i].how == START_CONVERGED && (c == n || o[i].f < o[c].f))
            c = i;
    }
    if (b < n && c < n && o[c].f <= o[b].f + 1e-8 * fabs(o[b].f) + 1e-20)
        return c;
    return b;
}

/* ---------------------------------------------------------------- the bootstrap */

typedef struct boot_ud {
    const problem *base; /* the full data; weights come per resample */
    const double *starts;
    size_t n_starts;
    double tol;
    int max_iter;
    uint64_t seed;
    double *par; /* [n_boot][LM_FIT_NPAR] */
    int *conv;   /* per resample: its best refit reached tol */
    int full_grid;
} boot_ud;

static void natural(lm_fit_law law, const double *x, double *par) {
    if (law == LM_FIT_CHINCHILLA) {
        par[LM_FIT_A] = exp(x[0]);
        par[LM_FIT_B] = exp(x[1]);
        par[LM_FIT_E] = exp(x[2]);
        par[LM_FIT_ALPHA] = x[3];
        par[LM_FIT_BETA] = x[4];
    } else {
        par[LM_FIT_A] = exp(x[0]);
        par[LM_FIT_E] = exp(x[1]);
        par[LM_FIT_ALPHA] = x[2];
        par[LM_FIT_B] = par[LM_FIT_BETA] = LM_NAN;
    }
}

static void boot_task(pool_job *job, size_t t, gsl_multimin_fdfminimizer *s, double *w) {
    const boot_ud *u = job->ud;
    const size_t n = u->base->n;
    lm_rng rng;
    lm_rng_seed(&rng, u->seed, BOOT_STREAM + t);
    memset(w, 0, n * sizeof *w);
    for (size_t i = 0; i < n; i++)
        w[lm_rng_below(&rng, n)] += 1.0;
    problem p = *u->base;
    p.w = w;
    if (!u->full_grid)
        p.gate = BOOT_GATE;
    start_out best = {.how = START_FAILED, .f = LM_NAN}, o;
    for (size_t k = 0; k < u->n_starts; k++) {
        run_start(s, &p, u->starts + k * job->dim, u->tol, u->max_iter, &o);
        if (o.how != START_FAILED && isfinite(o.f) && (best.how == START_FAILED || o.f < best.f))
            best = o;
    }
    double *par = u->par + t * LM_FIT_NPAR;
    if (best.how == START_FAILED) {
        for (int j = 0; j < LM_FIT_NPAR; j++)
            par[j] = LM_NAN;
        u->conv[t] = 0;
        return;
    }
    natural(u->base->law, best.x, par);
    u->conv[t] = best.how == START_CONVERGED;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of sorted v[0..k) by linear interpolation (Hyndman & Fan type 7). */
static double quantile(const double *v, size_t k, double q) {
    if (k == 0)
        return LM_NAN;
    const double h = (double) (k - 1) * q;
    const size_t lo = (size_t) floor(h);
    const size_t hi = lo + 1 < k ? lo + 1 : lo;
    return v[lo] + (h - (double) lo) * (v[hi] - v[lo]);
}

/* ---------------------------------------------------------------- identifiability */

/* Gauss-Newton matrix J^T J of the log residuals at x (J_i = dr_i/dx), the residual scale and
 * the local standard errors; sets res's identifiability fields. */
static lm_status identify(const problem *p, const double *x, lm_fit_result *res, lm_err *err) {
    const size_t k = law_dim(p->law), n = p->n;
    const int two = p->law == LM_FIT_CHINCHILLA;
    double H[MAX_DIM * MAX_DIM] = {0}, ss = 0;
    double y[MAX_DIM];
    to_y(p, x, y);
    for (size_t i = 0; i < n; i++) {
        const double t1 = y[0] - (two ? y[3] : y[2]) * p->lN[i];
        const double t2 = two ? y[1] - y[4] * p->lD[i] : -LM_INF, t3 = two ? y[2] : y[1];
        const double m = fmax(t1, fmax(t2, t3));
        const double e1 = exp(t1 - m), e2 = two ? exp(t2 - m) : 0, e3 = exp(t3 - m);
        const double s = e1 + e2 + e3;
        const double r = m + log(s) - p->lL[i];
        ss += r * r;
        /* J in Hoffmann's coordinates x: dr/dalpha = -w1 log N_i (uncentred) */
        const double lN = p->lN[i] + p->cN, lD = p->lD[i] + p->cD;
        double J[MAX_DIM];
        if (two) {
            J[0] = e1 / s;
            J[1] = e2 / s;
            J[2] = e3 / s;
            J[3] = -e1 / s * lN;
            J[4] = -e2 / s * lD;
        } else {
            J[0] = e1 / s;
            J[1] = e3 / s;
            J[2] = -e1 / s * lN;
        }
        for (size_t a = 0; a < k; a++)
            for (size_t b = 0; b < k; b++)
                H[a * k + b] += J[a] * J[b];
    }
    const double dof = n > k ? (double) (n - k) : 1.0;
    res->sigma = fmax(sqrt(ss / dof), p->delta);
    gsl_matrix_view hv = gsl_matrix_view_array(H, k, k);
    gsl_vector *ev = gsl_vector_alloc(k);
    gsl_matrix *V = gsl_matrix_alloc(k, k);
    gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc(k);
    if (!ev || !V || !ws) {
        gsl_vector_free(ev);
        gsl_matrix_free(V);
        gsl_eigen_symmv_free(ws);
        LM_FAIL(err, LM_ENOMEM, "fit: out of memory for the identifiability check");
    }
    const int rc = gsl_eigen_symmv(&hv.matrix, ev, V, ws);
    double lmax = 0, lmin = LM_INF;
    for (size_t j = 0; j < k; j++) {
        lmax = fmax(lmax, gsl_vector_get(ev, j));
        lmin = fmin(lmin, gsl_vector_get(ev, j));
    }
    res->cond = lmin > 0 ? lmax / lmin : LM_INF;
    /* covariance sigma^2 (J^T J)^+; an eigenvalue below lmax * 1e-13 (double rounding of a
     * 5x5 Gram matrix of entries up to ~(log N)^2 ~ 600) is a null direction: any parameter
     * it touches has an infinite standard error */
    double C[MAX_DIM * MAX_DIM] = {0};
    int null_touch[MAX_DIM] = {0};
    for (size_t j = 0; j < k; j++) {
        const double l = gsl_vector_get(ev, j);
        for (size_t a = 0; a < k; a++) {
            const double va = gsl_matrix_get(V, a, j);
            if (!(l > lmax * 1e-13)) {
                if (fabs(va) > 1e-6)
                    null_touch[a] = 1;
                continue;
            }
            for (size_t b = 0; b < k; b++)
                C[a * k + b] += res->sigma * res->sigma * va * gsl_matrix_get(V, b, j) / l;
        }
    }
    gsl_vector_free(ev);
    gsl_matrix_free(V);
    gsl_eigen_symmv_free(ws);
    if (rc != GSL_SUCCESS || !(lmax > 0))
        for (size_t a = 0; a < k; a++)
            null_touch[a] = 1;
    double se[MAX_DIM];
    for (size_t a = 0; a < k; a++)
        se[a] = null_touch[a] ? LM_INF : sqrt(C[a * k + a]);
    /* to the natural parameters: A = e^a, so se(A) = A se(a) (delta method) */
    for (int j = 0; j < LM_FIT_NPAR; j++)
        res->se[j] = LM_NAN;
    if (two) {
        res->se[LM_FIT_A] = res->par[LM_FIT_A] * se[0];
        res->se[LM_FIT_B] = res->par[LM_FIT_B] * se[1];
        res->se[LM_FIT_E] = res->par[LM_FIT_E] * se[2];
        res->se[LM_FIT_ALPHA] = se[3];
        res->se[LM_FIT_BETA] = se[4];
        res->corr_ab = null_touch[3] || null_touch[4]
                           ? LM_NAN
                           : C[3 * k + 4] / sqrt(C[3 * k + 3] * C[4 * k + 4]);
    } else {
        res->se[LM_FIT_A] = res->par[LM_FIT_A] * se[0];
        res->se[LM_FIT_E] = res->par[LM_FIT_E] * se[1];
        res->se[LM_FIT_ALPHA] = se[2];
        res->corr_ab = LM_NAN;
    }
    const double ua = 2 * res->se[LM_FIT_ALPHA], ub = two ? 2 * res->se[LM_FIT_BETA] : 0;
    res->identifiable = 1;
    res->message[0] = '\0';
    const double ea = fabs(res->par[LM_FIT_ALPHA]), eb = two ? fabs(res->par[LM_FIT_BETA]) : 1;
    if (!(ua <= LM_FIT_SEP_REL * ea) || !(ub <= LM_FIT_SEP_REL * eb)) {
        res->identifiable = 0;
        if (two)
            snprintf(res->message, sizeof res->message,
                     "the data cannot separate the exponents: 2 SE of alpha = %.3g (alpha = "
                     "%.3g), of beta = %.3g (beta = %.3g): an interval wider than the exponent; "
                     "J^T J condition number %.3g",
                     ua, ea, ub, eb, res->cond);
        else
            snprintf(res->message, sizeof res->message,
                     "the data cannot determine the exponent: 2 SE of alpha = %.3g, wider than "
                     "alpha = %.3g; J^T J condition number %.3g",
                     ua, ea, res->cond);
    } else if (two && fabs(res->corr_ab) > LM_FIT_CORR_TOL) {
        res->identifiable = 0;
        snprintf(res->message, sizeof res->message,
                 "the data cannot separate the exponents: corr(alpha, beta) = %.6f (|corr| > "
                 "%.2f: the data fix a combination of alpha and beta, not each)",
                 res->corr_ab, LM_FIT_CORR_TOL);
    }
    return LM_OK;
}

/* ---------------------------------------------------------------- the fit */

static lm_status check_input(lm_fit_law law, size_t n, const double *N, const double *D,
                             const double *L, lm_err *err) {
    const size_t need =
        law == LM_FIT_CHINCHILLA ? LM_FIT_MIN_POINTS_CHINCHILLA : LM_FIT_MIN_POINTS_POWER;
    if (n < need)
        LM_FAIL(err, LM_EINVAL, "fit %s: %zu points, at least %zu needed", lm_fit_law_name(law), n,
                need);
    if (!N || !L || (law == LM_FIT_CHINCHILLA && !D))
        LM_FAIL(err, LM_EINVAL, "fit %s: a column is missing (NULL)", lm_fit_law_name(law));
    for (size_t i = 0; i < n; i++) {
        const char *bad = NULL;
        double v = 0;
        if (!(isfinite(N[i]) && N[i] > 0))
            bad = "N", v = N[i];
        else if (law == LM_FIT_CHINCHILLA && !(isfinite(D[i]) && D[i] > 0))
            bad = "D", v = D[i];
        else if (!(isfinite(L[i]) && L[i] > 0))
            bad = "L", v = L[i];
        if (bad)
            LM_FAIL(err, isfinite(v) ? LM_ERANGE : LM_ENUMERIC,
                    "fit %s: point %zu: %s = %g (must be finite and > 0)", lm_fit_law_name(law), i,
                    bad, v);
    }
    return LM_OK;
}

void lm_fit_result_clear(lm_fit_result *res) {
    if (!res)
        return;
    lm_free(res->boot);
    memset(res, 0, sizeof *res);
}

static void ci_of(double *col, size_t k, double q_lo, double q_hi, double *out) {
    out[0] = quantile(col, k, q_lo);
    out[1] = quantile(col, k, q_hi);
}

lm_status lm_fit(const lm_fit_opts *opts_in, size_t n, const double *N, const double *D,
                 const double *L, lm_fit_result *res, lm_err *err) {
    lm_init();
    if (!res || !opts_in)
        LM_FAIL(err, LM_EINVAL, "fit: opts and res must not be NULL");
    memset(res, 0, sizeof *res);
    lm_fit_opts o = *opts_in;
    if (o.law != LM_FIT_CHINCHILLA && o.law != LM_FIT_POWER)
        LM_FAIL(err, LM_EINVAL, "fit: unknown law %d", (int) o.law);
    if (o.delta == 0)
        o.delta = LM_FIT_DELTA;
    if (o.grad_tol == 0)
        o.grad_tol = LM_FIT_GRAD_TOL;
    if (o.max_iter == 0)
        o.max_iter = LM_FIT_MAX_ITER;
    if (!(o.delta > 0) || !(o.grad_tol > 0) || o.max_iter < 0)
        LM_FAIL(err, LM_EINVAL, "fit: delta %g, grad_tol %g and max_iter %d must be positive",
                o.delta, o.grad_tol, o.max_iter);
    if (o.bootstrap > 1000000)
        LM_FAIL(err, LM_ERANGE, "fit: %zu bootstrap resamples (at most 1000000)", o.bootstrap);
    LM_TRY(check_input(o.law, n, N, D, L, err));
    const double t0 = lm_now();
    const size_t dim = law_dim(o.law), ns = grid_starts(o.law, NULL);
    double *logs = lm_malloc(3 * n * sizeof *logs);
    double *starts = lm_malloc(ns * dim * sizeof *starts);
    start_out *out = lm_malloc(ns * sizeof *out);
    if (!logs || !starts || !out) {
        lm_free(logs);
        lm_free(starts);
        lm_free(out);
        LM_FAIL(err, LM_ENOMEM, "fit: out of memory for %zu points and %zu starts", n, ns);
    }
    grid_starts(o.law, starts);
    problem p;
    make_problem(o.law, o.delta, n, N, D, L, NULL, logs, &p);
    p.tol = o.grad_tol;
    grid_ud gu = {&p, starts, o.grad_tol, o.max_iter, out};
    pool_job job = {.n_tasks = ns, .fn = grid_task, .dim = dim, .ud = &gu};
    lm_status st = pool_run(&job, o.threads, err);
    size_t b = ns;
    if (st == LM_OK) {
        b = best_of(out, ns);
        if (b == ns)
            st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__,
                            "fit %s: no start gave a finite objective", lm_fit_law_name(o.law));
    }
    if (st == LM_OK) {
        res->law = o.law;
        res->n_points = n;
        res->starts = ns;
        res->max_iter = o.max_iter;
        for (size_t i = 0; i < ns; i++) {
            res->converged += out[i].how == START_CONVERGED;
            res->stalled += out[i].how == START_STALLED;
            res->capped += out[i].how == START_CAPPED;
        }
        memcpy(res->x, out[b].x, dim * sizeof(double));
        for (size_t j = dim; j < 5; j++)
            res->x[j] = LM_NAN;
        natural(o.law, out[b].x, res->par);
        res->objective = out[b].f;
        res->grad_norm = out[b].gnorm;
        res->iter_best = out[b].iters;
        st = identify(&p, out[b].x, res, err);
    }
    /* the distinct local optima, best first: the bootstrap's starts */
    double *opt = NULL;
    size_t n_opt = 0;
    if (st == LM_OK) {
        size_t *ord = lm_malloc(ns * sizeof *ord);
        opt = lm_malloc(BOOT_STARTS * dim * sizeof *opt);
        if (!ord || !opt)
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "fit: out of memory");
        for (size_t i = 0; st == LM_OK && i < ns; i++)
            ord[i] = i;
        /* selection by objective (ns is small; ties by index keep it deterministic) */
        for (size_t r = 0; st == LM_OK && r < ns && n_opt < BOOT_STARTS; r++) {
            size_t m = r;
            for (size_t i = r + 1; i < ns; i++) {
                const start_out *a = &out[ord[i]], *c = &out[ord[m]];
                const int ai = a->how != START_FAILED && isfinite(a->f);
                const int ci = c->how != START_FAILED && isfinite(c->f);
                if (ai && (!ci || a->f < c->f))
                    m = i;
            }
            const size_t t = ord[m];
            ord[m] = ord[r];
            ord[r] = t;
            if (out[t].how == START_FAILED || !isfinite(out[t].f))
                break;
            int same = 0;
            for (size_t q = 0; q < n_opt && !same; q++) {
                double dmax = 0;
                for (size_t j = 0; j < dim; j++)
                    dmax = fmax(dmax, fabs(opt[q * dim + j] - out[t].x[j]));
                same = dmax < OPT_DISTINCT;
            }
            /* only optima within 10 % of the best objective: a resample moves the objective
             * by O(its noise), so a basin much higher than the best cannot become the lowest,
             * and refits from far-off degenerate optima were most of the bootstrap's time */
            if (out[t].f > out[b].f * 1.1 + 1e-20)
                break;
            if (!same)
                memcpy(opt + (n_opt++) * dim, out[t].x, dim * sizeof(double));
        }
        lm_free(ord);
        res->n_optima = n_opt;
    }
    res->wall_s = lm_now() - t0;
    for (int j = 0; j < LM_FIT_NPAR; j++)
        res->ci95[j][0] = res->ci95[j][1] = res->ci80[j][0] = res->ci80[j][1] = LM_NAN;
    if (st == LM_OK && o.bootstrap > 0) {
        const double tb = lm_now();
        const size_t K = o.bootstrap;
        double *par = lm_malloc(K * LM_FIT_NPAR * sizeof *par);
        int *conv = lm_calloc(K, sizeof *conv);
        double *col = lm_malloc(K * sizeof *col);
        if (!par || !conv || !col)
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                            "fit: out of memory for %zu bootstrap resamples", K);
        if (st == LM_OK) {
            boot_ud bu = {&p,
                          o.boot_full_grid ? starts : opt,
                          o.boot_full_grid ? ns : n_opt,
                          o.grad_tol,
                          o.max_iter,
                          o.seed,
                          par,
                          conv,
                          o.boot_full_grid};
            pool_job bj = {.n_tasks = K, .fn = boot_task, .dim = dim, .scratch_len = n, .ud = &bu};
            st = pool_run(&bj, o.threads, err);
        }
        if (st == LM_OK) {
            res->n_boot = K;
            for (size_t r = 0; r < K; r++) {
                res->boot_failed += isfinite(par[r * LM_FIT_NPAR + LM_FIT_ALPHA]) ? 0u : 1u;
                res->boot_converged += (size_t) conv[r];
            }
            for (size_t j = 0; j < LM_FIT_NPAR; j++) {
                size_t k = 0;
                for (size_t r = 0; r < K; r++)
                    if (isfinite(par[r * LM_FIT_NPAR + j]))
                        col[k++] = par[r * LM_FIT_NPAR + j];
                qsort(col, k, sizeof *col, cmp_double);
                ci_of(col, k, 0.025, 0.975, res->ci95[j]);
                ci_of(col, k, 0.10, 0.90, res->ci80[j]);
            }
            if (o.keep_boot) {
                res->boot = par;
                par = NULL;
            }
        }
        lm_free(par);
        lm_free(conv);
        lm_free(col);
        res->boot_wall_s = lm_now() - tb;
    }
    lm_free(opt);
    lm_free(logs);
    lm_free(starts);
    lm_free(out);
    if (st != LM_OK)
        lm_fit_result_clear(res);
    return st;
}

/* ---------------------------------------------------------------- predictions */

double lm_fit_predict(lm_fit_law law, const double *par, double N, double D) {
    double l = par[LM_FIT_E] + par[LM_FIT_A] * pow(N, -par[LM_FIT_ALPHA]);
    if (law == LM_FIT_CHINCHILLA)
        l += par[LM_FIT_B] * pow(D, -par[LM_FIT_BETA]);
    return l;
}

lm_status lm_fit_compute_optimal(const double *par, double C, double *n_opt, double *d_opt,
                                 lm_err *err) {
    const double A = par[LM_FIT_A], B = par[LM_FIT_B];
    const double al = par[LM_FIT_ALPHA], be = par[LM_FIT_BETA];
    if (!(isfinite(C) && C > 0))
        LM_FAIL(err, LM_EINVAL, "compute-optimal: C = %g (must be finite and > 0)", C);
    if (!(A > 0 && B > 0 && al > 0 && be > 0 && isfinite(A) && isfinite(B) && isfinite(al) &&
          isfinite(be)))
        LM_FAIL(err, LM_EINVAL,
                "compute-optimal: needs A, B, alpha, beta finite and > 0 (A = %g, B = %g, "
                "alpha = %g, beta = %g)",
                A, B, al, be);
    /* in logs: G spans many decades for extreme exponents */
    const double s = al + be;
    const double lG = (log(al * A) - log(be * B)) / s, lc = log(C / 6.0);
    *n_opt = exp(lG + be / s * lc);
    *d_opt = exp(al / s * lc - lG);
    return LM_OK;
}
