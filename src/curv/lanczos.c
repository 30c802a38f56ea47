/*
 * lanczos.c: the curvature workspace and Lanczos with full reorthogonalisation for the extreme
 * eigenpairs of a symmetric operator (Golub & Van Loan, Matrix Computations, §10.1), in its block
 * form (§10.3.6) when a repeated eigenvalue has to be resolved.
 *
 * Why full reorthogonalisation: the Hessians we meet have a few outliers and a bulk of millions
 * of tiny eigenvalues; plain three-term Lanczos loses orthogonality as soon as the top Ritz value
 * converges and then produces ghost copies of it. Reorthogonalising against the whole basis costs
 * 4 p j flops at step j (two GEMVs, twice), which is small beside one Hessian-vector product
 * (for a 784-512-512-10 network on 2000 examples one product is ~8e9 flops, j <= 100 steps).
 * Every step keeps its Gram-Schmidt coefficients, i.e. the projection Q^T H Q itself, so the
 * Rayleigh-Ritz step is the same for one start vector (tridiagonal up to rounding) and a block.
 *
 * Why blocks, sometimes: a single start vector sees one vector of each eigenspace, so it cannot
 * return an eigenvalue twice; Hessians with symmetries (linear networks, dead units, the zero
 * eigenvalues of an overparameterised net) have exact repeats. A cheap check run decides whether
 * a second block solve is needed (lm_curv_lanczos).
 *
 * Workload: sharpness every 10-25 training steps (warm-started, k = 1, a handful of steps), top-k
 * spectra (k <= 20, 20-100 steps), SLQ probes (m = 80-100 steps each, trace.c).
 */
#include "curv/internal.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* beta_j below this fraction of ||T|| is a breakdown (the Krylov space is invariant to rounding):
 * the reorthogonalised w is then ~1e3 ulps of ||T|| and no longer a meaningful direction. */
#define BREAKDOWN_REL 1e-12
/* A restart vector whose norm after orthogonalisation falls below this fraction is rounding
 * only: the basis already spans the whole space. */
#define EXHAUSTED_REL 1e-8
/* Steps below this check convergence every step; later ones every j/16 steps (the tridiagonal
 * eigenproblem costs O(j^2)-O(j^3), a Hessian product does not grow with j), so at most ~6% of
 * products are spent beyond the step at which the rule was first met. */
#define CHECK_EVERY_BELOW 64

size_t lm_curv_ws_bytes(size_t p, size_t max_iter) {
    if (p == 0 || max_iter == 0 || max_iter > SIZE_MAX / 8 / max_iter ||
        p > SIZE_MAX / 8 / (max_iter + 4))
        return SIZE_MAX;
    if (max_iter > SIZE_MAX / 16 / (max_iter + 1))
        return SIZE_MAX;
    size_t n = (max_iter + 4) * p + max_iter * (2 * max_iter + 1) + 9 * max_iter + 1;
    if (n > SIZE_MAX / sizeof(double))
        return SIZE_MAX;
    return n * sizeof(double);
}

lm_status lm_curv_ws_new(size_t p, size_t max_iter, lm_curv_ws **out, lm_err *err) {
    lm_init();
    if (!out)
        LM_FAIL(err, LM_EINVAL, "lm_curv_ws_new: out is NULL");
    if (p == 0 || p > INT_MAX)
        LM_FAIL(err, LM_EINVAL, "lm_curv_ws_new: dimension p = %zu (must be 1 to %d)", p, INT_MAX);
    if (max_iter == 0 || max_iter > p)
        LM_FAIL(err, LM_EINVAL, "lm_curv_ws_new: max_iter = %zu (must be 1 to p = %zu)", max_iter,
                p);
    size_t bytes = lm_curv_ws_bytes(p, max_iter);
    if (bytes == SIZE_MAX)
        LM_FAIL(err, LM_ERANGE, "lm_curv_ws_new: %zu x %zu Lanczos basis overflows size_t",
                max_iter + 1, p);
    lm_curv_ws *ws = lm_calloc(1, sizeof *ws);
    double *buf = lm_malloc(bytes);
    if (!ws || !buf) {
        lm_free(ws);
        lm_free(buf);
        LM_FAIL(err, LM_ENOMEM, "lm_curv_ws_new: out of memory for a %zu x %zu Lanczos basis",
                max_iter + 1, p);
    }
    const size_t c = max_iter;
    ws->p = p;
    ws->cap = c;
    ws->Q = buf;
    ws->w = ws->Q + (c + 1) * p;
    ws->y = ws->w + p;
    ws->hy = ws->y + p;
    ws->alpha = ws->hy + p;
    ws->beta = ws->alpha + c;
    ws->d = ws->beta + c;
    ws->e = ws->d + c;
    ws->res = ws->e + c;
    ws->lval = ws->res + c;
    ws->lres = ws->lval + c;
    ws->h = ws->lres + c;
    ws->z = ws->h + c + 1;
    ws->T = ws->z + c * c;
    *out = ws;
    return LM_OK;
}

void lm_curv_ws_free(lm_curv_ws *ws) {
    if (!ws)
        return;
    lm_free(ws->Q);
    lm_free(ws);
}

void lm__rademacher(lm_rng *rng, double *v, size_t p) {
    for (size_t i = 0; i < p; i += 64) {
        uint64_t bits = lm_rng_u64(rng);
        size_t n = p - i < 64 ? p - i : 64;
        for (size_t b = 0; b < n; b++)
            v[i + b] = (bits >> b) & 1u ? 1.0 : -1.0;
    }
}

/* w -= Q_{0..j}^T (Q_{0..j} w), twice. */
static void orthogonalise(lm_curv_ws *ws, size_t j, double *w) {
    const int rows = (int) (j + 1), p = (int) ws->p;
    for (int pass = 0; pass < 2; pass++) {
        cblas_dgemv(CblasRowMajor, CblasNoTrans, rows, p, 1.0, ws->Q, p, w, 1, 0.0, ws->h, 1);
        cblas_dgemv(CblasRowMajor, CblasTrans, rows, p, -1.0, ws->Q, p, ws->h, 1, 1.0, w, 1);
    }
}

lm_status lm__lanczos_step(lm_linop_fn op, void *ud, lm_curv_ws *ws, size_t j, int *broke,
                           lm_err *err) {
    const size_t p = ws->p;
    const int ip = (int) p;
    double *q = ws->Q + j * p, *w = ws->w;
    LM_TRY(op(ud, q, w, err));
    double a = cblas_ddot(ip, q, 1, w, 1);
    if (!isfinite(a))
        LM_FAIL(err, LM_ENUMERIC, "Lanczos step %zu: the operator returned a non-finite value",
                j + 1);
    cblas_daxpy(ip, -a, q, 1, w, 1);
    if (j > 0)
        cblas_daxpy(ip, -ws->beta[j - 1], q - p, 1, w, 1);
    orthogonalise(ws, j, w);
    double b = cblas_dnrm2(ip, w, 1);
    if (!isfinite(b))
        LM_FAIL(err, LM_ENUMERIC, "Lanczos step %zu: the operator returned a non-finite value",
                j + 1);
    ws->alpha[j] = a;
    double scale = fabs(a) + b + (j > 0 ? ws->beta[j - 1] : 0.0);
    ws->anorm = j == 0 ? scale : fmax(ws->anorm, scale);
    if (b <= BREAKDOWN_REL * ws->anorm) {
        ws->beta[j] = 0.0;
        *broke = 1;
        return LM_OK;
    }
    ws->beta[j] = b;
    double *next = q + p;
    for (size_t i = 0; i < p; i++)
        next[i] = w[i] / b;
    *broke = 0;
    return LM_OK;
}

int lm__lanczos_restart(lm_curv_ws *ws, size_t j, lm_rng *rng) {
    const size_t p = ws->p;
    if (j + 1 >= p)
        return 0;
    double *r = ws->Q + (j + 1) * p;
    lm__rademacher(rng, r, p);
    double n0 = sqrt((double) p);
    orthogonalise(ws, j, r);
    double n1 = cblas_dnrm2((int) p, r, 1);
    if (!(n1 > EXHAUSTED_REL * n0))
        return 0;
    cblas_dscal((int) p, 1.0 / n1, r, 1);
    return 1;
}

lm_status lm__tridiag_eig(lm_curv_ws *ws, size_t j, lm_err *err) {
    memcpy(ws->d, ws->alpha, j * sizeof(double));
    if (j > 1)
        memcpy(ws->e, ws->beta, (j - 1) * sizeof(double));
    lapack_int info =
        LAPACKE_dstev(LAPACK_COL_MAJOR, 'V', (lapack_int) j, ws->d, ws->e, ws->z, (lapack_int) j);
    if (info != 0)
        LM_FAIL(err, LM_ENUMERIC, "LAPACK dstev failed on the %zu x %zu Lanczos matrix (info %d)",
                j, j, (int) info);
    return LM_OK;
}

/* The scale a residual is measured against: |theta|, but at least sqrt(eps) ||H||. An
 * eigenvalue below that is zero to the precision of the products (a Ritz value of an exact zero
 * comes out as ~eps ||H|| with a residual of a few eps ||H||), so ||Hy - theta y|| / |theta|
 * could never reach any tol there; against sqrt(eps) ||H|| the same residual is ~1e-7. ARPACK
 * floors |theta| at eps^(2/3) for the same reason (unscaled); sqrt(eps) keeps the default 1e-6
 * reachable with a margin of ~10 ulps of rounding in the products. */
#define RESID_FLOOR 1.4901161193847656e-08 /* sqrt(DBL_EPSILON) = 2^-26 */

static double resid_scale(double theta, double hnorm) {
    return fmax(fabs(theta), RESID_FLOOR * hnorm);
}

/* ||r|| / scale, with 0 / 0 = 0 (an exact pair of the zero operator) and x / 0 = inf. */
double lm_curv_rel_resid(double rnorm, double theta, double hnorm) {
    const double scale = resid_scale(theta, hnorm);
    if (scale > 0)
        return rnorm / scale;
    return rnorm > 0 ? (double) INFINITY : 0.0;
}

lm_curv_lanczos_opts lm_curv_lanczos_opts_default(void) {
    lm_curv_lanczos_opts o;
    memset(&o, 0, sizeof o);
    o.k = 1;
    o.which = LM_CURV_LARGEST;
    o.tol = 1e-6;
    return o;
}

/* Column of the eigenvector matrix (s columns, eigenvalues ascending) holding the i-th wanted
 * pair. */
static size_t wanted(lm_curv_which which, size_t s, size_t i) {
    return which == LM_CURV_LARGEST ? s - 1 - i : i;
}

/* Ritz vector of column col of the s x s eigenvector matrix ws->z over rows base..base+s-1 of Q
 * into y. */
static void ritz_vector(lm_curv_ws *ws, size_t base, size_t s, size_t col, double *y) {
    cblas_dgemv(CblasRowMajor, CblasTrans, (int) s, (int) ws->p, 1.0, ws->Q + base * ws->p,
                (int) ws->p, ws->z + col * s, 1, 0.0, y, 1);
}

/* Verified relative residuals of the k wanted pairs of the run at rows 0..s-1 into ws->res;
 * k products. *worst is the largest. */
static lm_status verify(lm_linop_fn op, void *ud, const lm_curv_lanczos_opts *o, lm_curv_ws *ws,
                        size_t s, double hnorm, size_t *n_ops, double *worst, lm_err *err) {
    const int ip = (int) ws->p;
    *worst = 0;
    for (size_t i = 0; i < o->k; i++) {
        size_t col = wanted(o->which, s, i);
        double th = ws->d[col];
        ritz_vector(ws, 0, s, col, ws->y);
        LM_TRY(op(ud, ws->y, ws->hy, err));
        ++*n_ops;
        cblas_daxpy(ip, -th, ws->y, 1, ws->hy, 1);
        double rn = cblas_dnrm2(ip, ws->hy, 1);
        if (!isfinite(rn))
            LM_FAIL(err, LM_ENUMERIC, "Lanczos: the operator returned a non-finite value");
        double r = lm_curv_rel_resid(rn, th, hnorm);
        ws->res[i] = r;
        if (!(r <= *worst))
            *worst = r;
    }
    return LM_OK;
}

static lm_status start_vector(const lm_curv_lanczos_opts *o, lm_curv_ws *ws, lm_rng *rng,
                              lm_err *err) {
    const size_t p = ws->p;
    double *q = ws->Q;
    if (o->n_start == 0) {
        for (size_t i = 0; i < p; i++)
            q[i] = lm_rng_normal(rng);
    } else {
        memset(q, 0, p * sizeof *q);
        for (size_t s = 0; s < o->n_start; s++) {
            const double *v = o->start + s * p;
            double n = cblas_dnrm2((int) p, v, 1);
            if (!(n > 0) || !isfinite(n))
                LM_FAIL(err, LM_EINVAL, "Lanczos: start vector %zu has norm %g", s, n);
            cblas_daxpy((int) p, 1.0 / n, v, 1, q, 1);
        }
    }
    double n = cblas_dnrm2((int) p, q, 1);
    if (!(n > 0) || !isfinite(n))
        LM_FAIL(err, LM_EINVAL, "Lanczos: the start vectors sum to a vector of norm %g", n);
    cblas_dscal((int) p, 1.0 / n, q, 1);
    return LM_OK;
}

/* One step on row a: w = H q_a, orthogonalised twice against all `rows` rows, the coefficients
 * Q^T H q_a into column a of T (zero below row `rows`: a row appended later is orthogonal to
 * H q_a, which lies in the span of the rows it saw), and w / ||w|| appended as a new row unless
 * ||w|| is at the breakdown level or the workspace is full. */
static lm_status block_step(lm_linop_fn op, void *ud, lm_curv_ws *ws, size_t a, size_t *rows,
                            lm_err *err) {
    const size_t p = ws->p, c = ws->cap, n = *rows;
    const int ip = (int) p;
    double *w = ws->w, *t = ws->T + a * (c + 1);
    LM_TRY(op(ud, ws->Q + a * p, w, err));
    double wn = cblas_dnrm2(ip, w, 1);
    if (!isfinite(wn))
        LM_FAIL(err, LM_ENUMERIC, "Lanczos step %zu: the operator returned a non-finite value",
                a + 1);
    memset(t, 0, (c + 1) * sizeof *t);
    for (int pass = 0; pass < 2; pass++) {
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int) n, ip, 1.0, ws->Q, ip, w, 1, 0.0, ws->h, 1);
        cblas_dgemv(CblasRowMajor, CblasTrans, (int) n, ip, -1.0, ws->Q, ip, ws->h, 1, 1.0, w, 1);
        cblas_daxpy((int) n, 1.0, ws->h, 1, t, 1);
    }
    double b = cblas_dnrm2(ip, w, 1);
    ws->anorm = fmax(ws->anorm, wn);
    if (b <= BREAKDOWN_REL * ws->anorm || n > c)
        return LM_OK;
    t[n] = b;
    cblas_dcopy(ip, w, 1, ws->Q + n * p, 1);
    cblas_dscal(ip, 1.0 / b, ws->Q + n * p, 1);
    *rows = n + 1;
    return LM_OK;
}

/* Eigen-decomposition of the projection Q_S^T H Q_S over the s rows S = base..base+s-1 (that
 * block of T, symmetrised) into ws->d (ascending) and ws->z (column i = eigenvector i). */
static lm_status block_eig(lm_curv_ws *ws, size_t base, size_t s, lm_err *err) {
    const size_t c1 = ws->cap + 1;
    const double *T = ws->T + base + base * c1;
    for (size_t a = 0; a < s; a++)
        for (size_t b = 0; b < s; b++)
            ws->z[a + b * s] = 0.5 * (T[a + b * c1] + T[b + a * c1]);
    lapack_int info =
        LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int) s, ws->z, (lapack_int) s, ws->d);
    if (info != 0)
        LM_FAIL(err, LM_ENUMERIC, "LAPACK dsyev failed on the %zu x %zu Lanczos matrix (info %d)",
                s, s, (int) info);
    return LM_OK;
}

/* a lies beyond b in the wanted order (above for LARGEST, below for SMALLEST) by more than tol
 * relative to each: a smaller difference is a tie at the accuracy asked for. */
static int beyond(const lm_curv_lanczos_opts *o, double a, double b, double hnorm) {
    double gap = o->which == LM_CURV_LARGEST ? a - b : b - a;
    return gap > o->tol * (resid_scale(a, hnorm) + resid_scale(b, hnorm));
}

/* What one run ended with. */
typedef struct run_out {
    size_t s;      /* steps (products on basis rows) taken                          */
    int exhausted; /* the rows span the whole space                                 */
    int converged; /* the wanted pairs meet tol (a check run: its estimate does)    */
    int found;     /* a check run: its Ritz value lies beyond *bar                  */
} run_out;

/* A block Lanczos run over rows base.. of Q, whose rows base..rows_in-1 hold the start block
 * (orthonormal, and orthogonal to the rows < base, which it is kept orthogonal to: the
 * operator deflated of them). A row whose product adds no new direction (breakdown) is followed
 * by a random one. The Rayleigh-Ritz pairs of the processed rows have the residual
 * H y - theta y = sum over the pending rows r of (T[r, S] s) q_r (exact in exact arithmetic),
 * so the stopping estimate needs no product.
 *
 * Plain (bar NULL, base 0): until the k wanted pairs' verified residuals meet tol or `limit`
 * steps are spent; the pairs are in ws->d / ws->z, the residuals in ws->res.
 * Check (bar = the k-th returned eigenvalue): one wanted pair, no verification; stops as soon
 * as its Ritz value lies beyond *bar (found) or its estimated residual meets sqrt(tol): a Ritz
 * value is accurate to ~residual^2 / gap (Parlett, The Symmetric Eigenvalue Problem, §11.7), so
 * that decides "beyond by more than tol" without converging the vector. */
static lm_status block_run(lm_linop_fn op, void *ud, const lm_curv_lanczos_opts *o, lm_curv_ws *ws,
                           size_t base, size_t rows_in, size_t limit, const double *bar,
                           lm_rng *rng, double *hnorm, size_t *n_ops, run_out *out, lm_err *err) {
    const size_t c1 = ws->cap + 1, want = bar ? 1 : o->k;
    const double tol = bar ? sqrt(o->tol) : o->tol;
    size_t rows = rows_in, s = 0, verified_at = 0;
    double factor = 1.0, worst = 0;
    int converged = 0, exhausted = 0, found = 0, decided = 0;
    ws->anorm = 0;
    while (s < limit) {
        if (base + s == rows) { /* nothing pending: the space is invariant */
            if (!lm__lanczos_restart(ws, rows - 1, rng)) {
                exhausted = 1;
                break;
            }
            rows++;
        }
        if (rows > ws->cap && rows < ws->p)
            break; /* no row left for the next direction: the workspace's limit */
        LM_TRY(block_step(op, ud, ws, base + s, &rows, err));
        ++*n_ops;
        s++;
        if (s < want)
            continue;
        int due = s < CHECK_EVERY_BELOW || s % (s / 16) == 0 || s == limit;
        if (!due)
            continue;
        LM_TRY(block_eig(ws, base, s, err));
        *hnorm = fmax(*hnorm, fmax(fabs(ws->d[0]), fabs(ws->d[s - 1])));
        int ok = 1;
        for (size_t i = 0; i < want && ok; i++) {
            size_t col = wanted(o->which, s, i);
            double est = 0;
            for (size_t r = base + s; r < rows; r++) {
                double x = cblas_ddot((int) s, ws->T + r + base * c1, (int) c1, ws->z + col * s, 1);
                est += x * x;
            }
            ok = sqrt(est) <= factor * tol * resid_scale(ws->d[col], *hnorm);
        }
        if (bar) {
            found = beyond(o, ws->d[wanted(o->which, s, 0)], *bar, *hnorm);
            if (found || ok) {
                converged = ok;
                decided = 1;
                break;
            }
            continue;
        }
        if (!ok)
            continue;
        LM_TRY(verify(op, ud, o, ws, s, *hnorm, n_ops, &worst, err));
        verified_at = s;
        if (worst <= tol) {
            converged = 1;
            break;
        }
        factor *= 0.1;
    }
    if (base + s == rows && rows == ws->p)
        exhausted = 1;                  /* every row processed, and they span the space */
    if (s >= want && bar && !decided) { /* out of steps or space: decide on the last pairs */
        LM_TRY(block_eig(ws, base, s, err));
        found = beyond(o, ws->d[wanted(o->which, s, 0)], *bar, *hnorm);
        converged = exhausted;
    } else if (s >= want && !bar && verified_at != s) { /* residuals of the final Ritz pairs */
        LM_TRY(block_eig(ws, base, s, err));
        *hnorm = fmax(*hnorm, fmax(fabs(ws->d[0]), fabs(ws->d[s - 1])));
        LM_TRY(verify(op, ud, o, ws, s, *hnorm, n_ops, &worst, err));
        converged = worst <= tol;
    }
    out->s = s;
    out->exhausted = exhausted;
    out->converged = converged;
    out->found = found;
    return LM_OK;
}

/* Rows 0..k-1 of Q become the Ritz vectors of the k wanted pairs of the run over rows 0..s-1
 * (in wanted order), computed in place block of columns by block of columns through the 3p
 * contiguous scratch doubles at ws->w (w, y, hy): column c of the new rows depends only on
 * column c of the old ones. */
static void lock_ritz(lm_curv_ws *ws, lm_curv_which which, size_t s, size_t k) {
    const size_t p = ws->p, nb = 3 * p / k; /* >= 3: k <= cap <= p */
    double *tmp = ws->w;                    /* [k, nb] */
    for (size_t c0 = 0; c0 < p; c0 += nb) {
        size_t n = p - c0 < nb ? p - c0 : nb;
        for (size_t i = 0; i < k; i++)
            cblas_dgemv(CblasRowMajor, CblasTrans, (int) s, (int) n, 1.0, ws->Q + c0, (int) p,
                        ws->z + wanted(which, s, i) * s, 1, 0.0, tmp + i * n, 1);
        for (size_t i = 0; i < k; i++)
            memcpy(ws->Q + i * p + c0, tmp + i * n, n * sizeof *tmp);
    }
}

lm_status lm_curv_lanczos(lm_linop_fn op, void *ud, size_t p, const lm_curv_lanczos_opts *opts,
                          lm_curv_ws *ws, double *evals, double *evecs, double *resid,
                          lm_curv_lanczos_info *info, lm_err *err) {
    if (!op || !opts || !ws || !evals)
        LM_FAIL(err, LM_EINVAL, "lm_curv_lanczos: op, opts, ws and evals must not be NULL");
    const lm_curv_lanczos_opts *o = opts;
    if (ws->p != p)
        LM_FAIL(err, LM_EINVAL, "lm_curv_lanczos: workspace made for p = %zu, operator has p = %zu",
                ws->p, p);
    size_t max_iter = o->max_iter ? o->max_iter : ws->cap;
    if (max_iter > ws->cap)
        LM_FAIL(err, LM_EINVAL, "lm_curv_lanczos: max_iter = %zu exceeds the workspace's %zu",
                max_iter, ws->cap);
    const size_t k = o->k;
    if (k == 0 || k > max_iter)
        LM_FAIL(err, LM_EINVAL, "lm_curv_lanczos: k = %zu eigenpairs (must be 1 to max_iter = %zu)",
                k, max_iter);
    if (!(o->tol > 0) || !isfinite(o->tol))
        LM_FAIL(err, LM_EINVAL, "lm_curv_lanczos: tol = %g (must be finite and > 0)", o->tol);
    if (o->which != LM_CURV_LARGEST && o->which != LM_CURV_SMALLEST)
        LM_FAIL(err, LM_EINVAL, "lm_curv_lanczos: unknown which = %d", (int) o->which);
    if (o->n_start > 0 && !o->start)
        LM_FAIL(err, LM_EINVAL, "lm_curv_lanczos: n_start = %zu but start is NULL", o->n_start);

    lm_rng rng;
    lm_rng_seed(&rng, o->seed, LM_STREAM_PROBE);
    LM_TRY(start_vector(o, ws, &rng, err));
    size_t rows = 1, iters = 0, n_ops = 0;
    double hnorm = 0;
    int converged = 0;
    /* Repeated eigenvalues. A Krylov space holds one vector of each eigenspace (the start
     * vector's projection), so a repeated eigenvalue shows up once and the pairs after it are
     * the next distinct ones, each with a tiny residual: top-4 of a spectrum 3, 3, 3, 1, ...
     * would come out 3, 1, ... . So for k >= 2, unless the run exhausted the space, a check run
     * from a random vector orthogonal to the k Ritz vectors (the deflated operator) looks for a
     * Ritz value beyond the k-th. When it finds one, its vector replaces the k-th in a block of
     * k start vectors and the solve is repeated (a block Krylov space holds k vectors of each
     * eigenspace, and the warm block converges in a few block steps); at most k times, each
     * adding one missed copy. With k = 1 nothing can be missed. */
    for (size_t round = 0;; round++) {
        run_out r;
        LM_TRY(block_run(op, ud, o, ws, 0, rows, max_iter, NULL, &rng, &hnorm, &n_ops, &r, err));
        iters += r.s;
        if (r.s < k) /* the block filled the workspace before k steps */
            LM_FAIL(err, LM_ELIMIT,
                    "lm_curv_lanczos: only %zu steps fit in the workspace of %zu beside a block of "
                    "%zu vectors; k = %zu needs more",
                    r.s, ws->cap, rows, k);
        converged = r.converged;
        for (size_t i = 0; i < k; i++) {
            ws->lval[i] = ws->d[wanted(o->which, r.s, i)];
            ws->lres[i] = ws->res[i];
        }
        lock_ritz(ws, o->which, r.s, k);
        if (k == 1 || r.exhausted)
            break;
        size_t limit = ws->cap - k < max_iter ? ws->cap - k : max_iter;
        if (limit == 0) { /* no room beside the k vectors: the pairs cannot be checked */
            converged = 0;
            break;
        }
        if (!lm__lanczos_restart(ws, k - 1, &rng))
            break; /* the k vectors span the whole space */
        run_out c;
        LM_TRY(block_run(op, ud, o, ws, k, k + 1, limit, &ws->lval[k - 1], &rng, &hnorm, &n_ops, &c,
                         err));
        iters += c.s;
        if (!c.found) {
            converged = converged && c.converged;
            break;
        }
        if (round == k) { /* more missed copies than k: cannot happen short of rounding */
            converged = 0;
            break;
        }
        /* the missed direction u replaces the k-th vector: start block = y_1..y_{k-1}, u */
        double *u = ws->Q + (k - 1) * p;
        ritz_vector(ws, k, c.s, wanted(o->which, c.s, 0), u);
        for (int pass = 0; pass < 2; pass++) {
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int) (k - 1), (int) p, 1.0, ws->Q, (int) p, u,
                        1, 0.0, ws->h, 1);
            cblas_dgemv(CblasRowMajor, CblasTrans, (int) (k - 1), (int) p, -1.0, ws->Q, (int) p,
                        ws->h, 1, 1.0, u, 1);
        }
        cblas_dscal((int) p, 1.0 / cblas_dnrm2((int) p, u, 1), u, 1);
        rows = k;
    }
    for (size_t i = 0; i < k; i++) {
        evals[i] = ws->lval[i];
        if (resid)
            resid[i] = ws->lres[i];
        if (evecs)
            memcpy(evecs + i * p, ws->Q + i * p, p * sizeof *evecs);
    }
    if (info) {
        info->iters = iters;
        info->n_ops = n_ops;
        info->converged = converged;
    }
    return LM_OK;
}
