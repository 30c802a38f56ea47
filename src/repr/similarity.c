/*
 * similarity.c: representation similarity metrics (include/lmech/repr.h): linear, RBF and
 * debiased CKA, mutual k-NN, CCA and SVCCA, with a row-permutation null.
 */
#include "lmech/repr.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const NAMES[] = {"linear_cka", "rbf_cka", "debiased_cka",
                                    "mknn",       "cca",     "svcca"};
#define N_METRICS (sizeof NAMES / sizeof NAMES[0])

const char *lm_sim_metric_name(lm_sim_metric m) {
    return (unsigned) m < N_METRICS ? NAMES[m] : "unknown";
}

lm_status lm_sim_metric_parse(const char *name, lm_sim_metric *out, lm_err *err) {
    for (size_t i = 0; name && i < N_METRICS; i++)
        if (strcmp(name, NAMES[i]) == 0) {
            *out = (lm_sim_metric) i;
            return LM_OK;
        }
    LM_FAIL(err, LM_EINVAL,
            "unknown metric \"%s\" (known: linear_cka, rbf_cka, debiased_cka, mknn, cca, svcca)",
            name ? name : "(null)");
}

/* Column-centred copy of X [n, p] into C, checking finiteness and constant columns. */
static lm_status centre(const char *side, const double *X, size_t n, size_t p, double *C,
                        lm_err *err) {
    size_t live = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++)
            if (!isfinite(X[i * p + j]))
                LM_FAIL(err, LM_ENUMERIC, "%s: non-finite value %g at row %zu, column %zu", side,
                        X[i * p + j], i, j);
    for (size_t j = 0; j < p; j++) {
        double m = 0, lo = X[j], hi = X[j];
        for (size_t i = 0; i < n; i++) {
            m += X[i * p + j];
            lo = fmin(lo, X[i * p + j]);
            hi = fmax(hi, X[i * p + j]);
        }
        m /= (double) n;
        for (size_t i = 0; i < n; i++)
            C[i * p + j] = hi > lo ? X[i * p + j] - m : 0.0; /* a constant column: exactly 0 */
        live += hi > lo;
    }
    if (!live)
        LM_FAIL(err, LM_EINVAL, "%s: every one of its %zu columns is constant over the %zu rows",
                side, p, n);
    return LM_OK;
}

static double fro2(const double *a, size_t len) {
    double s = 0;
    for (size_t i = 0; i < len; i++)
        s += a[i] * a[i];
    return s;
}

/* ---------------------------------------------------------------- linear CKA (feature space) */

typedef struct lin_state {
    double *Ac, *Bp, *cross;
    double nA, nB; /* ||A_c^T A_c||_F, ||B_c^T B_c||_F */
} lin_state;

static double lin_value(const lin_state *s, const double *Bc, size_t n, size_t p, size_t q) {
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) q, (int) p, (int) n, 1.0, Bc,
                (int) q, s->Ac, (int) p, 0.0, s->cross, (int) p);
    return fro2(s->cross, p * q) / (s->nA * s->nB);
}

/* ||C^T C||_F from the upper triangle of C^T C (dsyrk: half the multiply-adds of a GEMM). */
static double gram_norm(const double *C, size_t n, size_t p, double *G) {
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int) p, (int) n, 1.0, C, (int) p, 0.0, G,
                (int) p);
    double d = 0, off = 0;
    for (size_t i = 0; i < p; i++) {
        d += G[i * p + i] * G[i * p + i];
        for (size_t j = i + 1; j < p; j++)
            off += G[i * p + j] * G[i * p + j];
    }
    return sqrt(d + 2 * off);
}

/* ---------------------------------------------------------------- kernel forms (n x n) */

static void linear_gram(const double *C, size_t n, size_t p, double *K) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) n, (int) n, (int) p, 1.0, C, (int) p,
                C, (int) p, 0.0, K, (int) n);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

/* The authors' gram_rbf(x, threshold = 0.8): sq distances, median over all n^2 entries. */
static lm_status rbf_gram(const double *C, size_t n, size_t p, double *K, lm_err *err) {
    linear_gram(C, n, p, K);
    double *d = lm_malloc(n * n * sizeof *d), *sq = lm_malloc(n * sizeof *sq);
    if (!d || !sq) {
        lm_free(d), lm_free(sq);
        LM_FAIL(err, LM_ENOMEM, "rbf_cka: out of memory for %zu x %zu distances", n, n);
    }
    for (size_t i = 0; i < n; i++)
        sq[i] = K[i * n + i];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            K[i * n + j] = fmax(0.0, sq[i] + sq[j] - 2 * K[i * n + j]);
    memcpy(d, K, n * n * sizeof *d);
    qsort(d, n * n, sizeof *d, cmp_double);
    size_t m = n * n;
    double med = m % 2 ? d[m / 2] : 0.5 * (d[m / 2 - 1] + d[m / 2]);
    lm_free(d), lm_free(sq);
    if (!(med > 0))
        LM_FAIL(err, LM_EINVAL,
                "rbf_cka: the median squared pairwise distance is 0 (more than half the rows are "
                "identical): no bandwidth");
    double s2 = 0.8 * 0.8 * med;
    for (size_t i = 0; i < n * n; i++)
        K[i] = exp(-K[i] / (2 * s2));
    return LM_OK;
}

static void centre_gram(double *K, size_t n) {
    double *r = lm_malloc(n * sizeof *r), t = 0;
    for (size_t i = 0; i < n; i++) {
        r[i] = 0;
        for (size_t j = 0; j < n; j++)
            r[i] += K[i * n + j];
        r[i] /= (double) n;
        t += r[i];
    }
    t /= (double) n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            K[i * n + j] += t - r[i] - r[j];
    lm_free(r);
}

/* <K, L[perm]>_F for symmetric K, L (perm NULL: identity). */
static double dot_perm(const double *K, const double *L, const size_t *perm, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pi = perm ? perm[i] : i;
        for (size_t j = 0; j < n; j++)
            s += K[i * n + j] * L[pi * n + (perm ? perm[j] : j)];
    }
    return s;
}

/* Unbiased HSIC of two zero-diagonal Grams, L indexed through perm (NULL: identity). */
static double hsic_u(const double *K, const double *L, const size_t *perm, size_t n, double *tmp) {
    double tr = 0, sK = 0, sL = 0, kl = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pi = perm ? perm[i] : i;
        double rk = 0, rl = 0;
        for (size_t j = 0; j < n; j++) {
            size_t pj = perm ? perm[j] : j;
            double lij = L[pi * n + pj];
            tr += K[i * n + j] * lij;
            rk += K[i * n + j];
            rl += lij;
        }
        sK += rk;
        sL += rl;
        tmp[i] = rl;
    }
    for (size_t i = 0; i < n; i++) { /* 1' K L 1 = sum_i (K 1)_i (L 1)_i */
        double rk = 0;
        for (size_t j = 0; j < n; j++)
            rk += K[i * n + j];
        kl += rk * tmp[i];
    }
    double dn = (double) n;
    return (tr + sK * sL / ((dn - 1) * (dn - 2)) - 2.0 / (dn - 2) * kl) / (dn * (dn - 3));
}

/* ---------------------------------------------------------------- mutual k-NN */

typedef struct nb {
    double s;
    size_t j;
} nb;
static int cmp_nb(const void *a, const void *b) {
    const nb *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? 1 : -1;
    return (x->j > y->j) - (x->j < y->j);
}

static lm_status knn_sets(const char *side, const double *X, size_t n, size_t p, size_t k,
                          size_t *idx, lm_err *err) {
    double *U = lm_malloc(n * p * sizeof *U), *S = lm_malloc(n * n * sizeof *S);
    nb *row = lm_malloc(n * sizeof *row);
    if (!U || !S || !row) {
        lm_free(U), lm_free(S), lm_free(row);
        LM_FAIL(err, LM_ENOMEM, "mknn: out of memory for n = %zu", n);
    }
    for (size_t i = 0; i < n; i++) {
        double nr = sqrt(fro2(X + i * p, p));
        if (!(nr > 0)) {
            lm_free(U), lm_free(S), lm_free(row);
            LM_FAIL(err, LM_EINVAL, "mknn: %s row %zu is zero: no cosine similarity", side, i);
        }
        for (size_t j = 0; j < p; j++)
            U[i * p + j] = X[i * p + j] / nr;
    }
    linear_gram(U, n, p, S);
    /* The k best of each row (similarity descending, index ascending on ties: the order of
     * cmp_nb) by one pass that keeps them sorted in row[0..k-1]: O(n k) at worst, O(n) typically,
     * where a full sort per row was O(n log n) and dominated the metric. */
    for (size_t i = 0; i < n; i++) {
        size_t m = 0;
        for (size_t j = 0; j < n; j++) {
            if (j == i)
                continue;
            const nb c = {S[i * n + j], j};
            if (m == k && !(c.s > row[k - 1].s)) /* j ascending: a tie with the k-th loses */
                continue;
            size_t t = m < k ? m++ : k - 1;
            while (t > 0 && cmp_nb(&c, &row[t - 1]) < 0) {
                row[t] = row[t - 1];
                t--;
            }
            row[t] = c;
        }
        for (size_t t = 0; t < k; t++)
            idx[i * k + t] = row[t].j;
    }
    lm_free(U), lm_free(S), lm_free(row);
    return LM_OK;
}

/* Mean overlap; B's row i is original row perm[i] (NULL: identity), so its neighbours are
 * perm^-1 of the original neighbours of perm[i]. */
static double knn_overlap(const size_t *NA, const size_t *NB, const size_t *perm, const size_t *inv,
                          size_t n, size_t k, unsigned char *mark) {
    double tot = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t t = 0; t < k; t++)
            mark[NA[i * k + t]] = 1;
        size_t pi = perm ? perm[i] : i, c = 0;
        for (size_t t = 0; t < k; t++) {
            size_t j = NB[pi * k + t];
            c += mark[inv ? inv[j] : j];
        }
        for (size_t t = 0; t < k; t++)
            mark[NA[i * k + t]] = 0;
        tot += (double) c / (double) k;
    }
    return tot / (double) n;
}

/* ---------------------------------------------------------------- CCA / SVCCA */

/* Orthonormal basis U [n, r] of the column space of C [n, p] (thin SVD); keep: r = rank, or the
 * directions explaining >= 99 % of sum sigma^2 when svcca. U has room for n x min(n, p). */
static lm_status basis(const char *side, const double *C, size_t n, size_t p, int svcca, double *U,
                       size_t *r, lm_err *err) {
    size_t m = n < p ? n : p;
    double *a = lm_malloc(n * p * sizeof *a), *s = lm_malloc(m * sizeof *s),
           *sup = lm_malloc(m * sizeof *sup);
    if (!a || !s || !sup) {
        lm_free(a), lm_free(s), lm_free(sup);
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory for its SVD", side);
    }
    memcpy(a, C, n * p * sizeof *a);
    lapack_int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'S', 'N', (lapack_int) n, (lapack_int) p, a,
                                     (lapack_int) p, s, U, (lapack_int) m, NULL, 1, sup);
    lm_free(a), lm_free(sup);
    if (info != 0) {
        lm_free(s);
        LM_FAIL(err, LM_ENUMERIC, "%s: the SVD did not converge (LAPACK info %d)", side,
                (int) info);
    }
    size_t k = 0;
    while (k < m && s[k] > 1e-10 * s[0])
        k++;
    if (svcca) {
        double tot = 0, cum = 0;
        for (size_t i = 0; i < k; i++)
            tot += s[i] * s[i];
        size_t j = 0;
        while (j < k && cum < 0.99 * tot)
            cum += s[j] * s[j], j++;
        k = j;
    }
    lm_free(s);
    /* compact the kept k columns of U [n, m] into [n, k] */
    for (size_t i = 0; i < n; i++)
        memmove(U + i * k, U + i * m, k * sizeof *U);
    *r = k;
    return LM_OK;
}

/* Canonical correlations rho (min(rA, rB)) of bases UA [n, rA], UB [n, rB] with B's rows through
 * perm; returns mean rho^2 (squared) or mean rho. */
static lm_status cca_value(const double *UA, size_t rA, const double *UB, size_t rB,
                           const size_t *perm, size_t n, int squared, double *out, lm_err *err) {
    double *Bp = lm_malloc(n * rB * sizeof *Bp), *M = lm_malloc(rA * rB * sizeof *M);
    size_t m = rA < rB ? rA : rB;
    double *s = lm_malloc(m * sizeof *s), *sup = lm_malloc(m * sizeof *sup);
    if (!Bp || !M || !s || !sup) {
        lm_free(Bp), lm_free(M), lm_free(s), lm_free(sup);
        LM_FAIL(err, LM_ENOMEM, "cca: out of memory");
    }
    for (size_t i = 0; i < n; i++)
        memcpy(Bp + i * rB, UB + (perm ? perm[i] : i) * rB, rB * sizeof *Bp);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) rA, (int) rB, (int) n, 1.0, UA,
                (int) rA, Bp, (int) rB, 0.0, M, (int) rB);
    lapack_int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', (lapack_int) rA, (lapack_int) rB,
                                     M, (lapack_int) rB, s, NULL, 1, NULL, 1, sup);
    double v = 0;
    for (size_t i = 0; i < m; i++) {
        double rho = fmin(1.0, s[i]);
        v += squared ? rho * rho : rho;
    }
    lm_free(Bp), lm_free(M), lm_free(s), lm_free(sup);
    if (info != 0)
        LM_FAIL(err, LM_ENUMERIC, "cca: the SVD of Q_A^T Q_B did not converge (info %d)",
                (int) info);
    *out = v / (double) m;
    return LM_OK;
}

/* ---------------------------------------------------------------- driver */

static double quantile(double *v, size_t n, double q) {
    qsort(v, n, sizeof *v, cmp_double);
    double h = q * (double) (n - 1);
    size_t lo = (size_t) floor(h);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (h - (double) lo) * (v[hi] - v[lo]);
}

static lm_status check_n(lm_sim_metric m, size_t n, size_t p, size_t q, size_t k, lm_err *err) {
    size_t need = m == LM_SIM_DEBIASED_CKA ? 4 : m == LM_SIM_SVCCA ? 3 : 2;
    if (n < need)
        LM_FAIL(err, LM_EINVAL, "%s needs n >= %zu rows, got n = %zu", lm_sim_metric_name(m), need,
                n);
    if (m == LM_SIM_MKNN && (k < 1 || k >= n))
        LM_FAIL(err, LM_EINVAL, "mknn needs 1 <= k < n, got k = %zu with n = %zu", k, n);
    if (m == LM_SIM_CCA && n <= (p > q ? p : q))
        LM_FAIL(err, LM_EINVAL,
                "cca needs n > max(p, q) (otherwise the canonical correlations are trivially 1), "
                "got n = %zu, p = %zu, q = %zu",
                n, p, q);
    return LM_OK;
}

typedef struct work {
    double *Ac, *Bc, *K, *L, *UA, *UB, *null, *tmp;
    size_t *perm, *inv, *NA, *NB;
    unsigned char *mark;
    double *G;
} work;

static void work_free(work *w) {
    lm_free(w->Ac), lm_free(w->Bc), lm_free(w->K), lm_free(w->L), lm_free(w->UA);
    lm_free(w->UB), lm_free(w->null), lm_free(w->tmp), lm_free(w->perm), lm_free(w->inv);
    lm_free(w->NA), lm_free(w->NB), lm_free(w->mark), lm_free(w->G);
}

static void zero_diag(double *K, size_t n) {
    for (size_t i = 0; i < n; i++)
        K[i * n + i] = 0;
}

static lm_status run(lm_sim_metric m, const double *A, size_t n, size_t p, const double *B,
                     size_t q, size_t k, size_t null_n, uint64_t seed, lm_sim_result *out, work *w,
                     lm_err *err) {
    size_t pq = p > q ? p : q;
    w->Ac = lm_malloc(n * p * sizeof(double));
    w->Bc = lm_malloc(n * q * sizeof(double));
    w->perm = lm_malloc(n * sizeof(size_t));
    w->inv = lm_malloc(n * sizeof(size_t));
    w->tmp = lm_malloc(n * sizeof(double));
    w->null = lm_malloc((null_n ? null_n : 1) * sizeof(double));
    if (!w->Ac || !w->Bc || !w->perm || !w->inv || !w->tmp || !w->null)
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory for n = %zu, p = %zu, q = %zu",
                lm_sim_metric_name(m), n, p, q);
    LM_TRY(centre("A", A, n, p, w->Ac, err));
    LM_TRY(centre("B", B, n, q, w->Bc, err));
    int kern = m == LM_SIM_RBF_CKA || m == LM_SIM_DEBIASED_CKA;
    if (kern) {
        w->K = lm_malloc(n * n * sizeof(double));
        w->L = lm_malloc(n * n * sizeof(double));
        if (!w->K || !w->L)
            LM_FAIL(err, LM_ENOMEM, "%s: out of memory for two %zu x %zu Grams",
                    lm_sim_metric_name(m), n, n);
    }
    lin_state ls = {0};
    double kk = 0, ll = 0; /* kernel self-terms */
    size_t rA = 0, rB = 0;
    switch (m) {
    case LM_SIM_LINEAR_CKA:
        w->G = lm_malloc((pq * pq + p * q + (null_n ? n * q : 0)) * sizeof(double));
        if (!w->G)
            LM_FAIL(err, LM_ENOMEM, "linear_cka: out of memory for %zu x %zu Grams", pq, pq);
        ls.Ac = w->Ac;
        ls.cross = w->G + pq * pq;
        ls.Bp = w->G + pq * pq + p * q;
        ls.nA = gram_norm(w->Ac, n, p, w->G);
        ls.nB = gram_norm(w->Bc, n, q, w->G);
        break;
    case LM_SIM_RBF_CKA:
        LM_TRY(rbf_gram(w->Ac, n, p, w->K, err));
        LM_TRY(rbf_gram(w->Bc, n, q, w->L, err));
        centre_gram(w->K, n);
        centre_gram(w->L, n);
        kk = sqrt(fro2(w->K, n * n));
        ll = sqrt(fro2(w->L, n * n));
        break;
    case LM_SIM_DEBIASED_CKA:
        linear_gram(w->Ac, n, p, w->K);
        linear_gram(w->Bc, n, q, w->L);
        zero_diag(w->K, n);
        zero_diag(w->L, n);
        kk = hsic_u(w->K, w->K, NULL, n, w->tmp);
        ll = hsic_u(w->L, w->L, NULL, n, w->tmp);
        break;
    case LM_SIM_MKNN:
        w->NA = lm_malloc(n * k * sizeof(size_t));
        w->NB = lm_malloc(n * k * sizeof(size_t));
        w->mark = lm_calloc(n, 1);
        if (!w->NA || !w->NB || !w->mark)
            LM_FAIL(err, LM_ENOMEM, "mknn: out of memory for n = %zu, k = %zu", n, k);
        LM_TRY(knn_sets("A", A, n, p, k, w->NA, err));
        LM_TRY(knn_sets("B", B, n, q, k, w->NB, err));
        break;
    case LM_SIM_CCA:
    case LM_SIM_SVCCA:
        w->UA = lm_malloc(n * (n < p ? n : p) * sizeof(double));
        w->UB = lm_malloc(n * (n < q ? n : q) * sizeof(double));
        if (!w->UA || !w->UB)
            LM_FAIL(err, LM_ENOMEM, "%s: out of memory", lm_sim_metric_name(m));
        LM_TRY(basis("A", w->Ac, n, p, m == LM_SIM_SVCCA, w->UA, &rA, err));
        LM_TRY(basis("B", w->Bc, n, q, m == LM_SIM_SVCCA, w->UB, &rB, err));
        break;
    default:
        LM_FAIL(err, LM_EINVAL, "unknown metric %d", (int) m);
    }

    lm_rng rng;
    lm_rng_seed(&rng, seed, 0);
    for (size_t it = 0; it <= null_n; it++) {
        const size_t *perm = NULL, *inv = NULL;
        if (it > 0) {
            for (size_t i = 0; i < n; i++)
                w->perm[i] = i;
            lm_rng_shuffle(&rng, w->perm, n);
            for (size_t i = 0; i < n; i++)
                w->inv[w->perm[i]] = i;
            perm = w->perm;
            inv = w->inv;
        }
        double v = 0;
        switch (m) {
        case LM_SIM_LINEAR_CKA: {
            const double *Bc = w->Bc;
            if (perm) { /* only B_c^T A_c changes: permute B_c's rows into the reused buffer */
                for (size_t i = 0; i < n; i++)
                    memcpy(ls.Bp + i * q, w->Bc + perm[i] * q, q * sizeof *ls.Bp);
                Bc = ls.Bp;
            }
            v = lin_value(&ls, Bc, n, p, q);
            break;
        }
        case LM_SIM_RBF_CKA:
            v = dot_perm(w->K, w->L, perm, n) / (kk * ll);
            break;
        case LM_SIM_DEBIASED_CKA:
            v = kk * ll > 0 ? hsic_u(w->K, w->L, perm, n, w->tmp) / sqrt(kk * ll) : 0.0;
            break;
        case LM_SIM_MKNN:
            v = knn_overlap(w->NA, w->NB, perm, inv, n, k, w->mark);
            break;
        default:
            LM_TRY(cca_value(w->UA, rA, w->UB, rB, perm, n, m == LM_SIM_CCA, &v, err));
        }
        if (it == 0)
            out->value = v;
        else
            w->null[it - 1] = v;
    }
    out->n = n;
    out->has_null = null_n > 0;
    out->null_mean = out->null_p95 = out->p_value = LM_NAN;
    if (null_n) {
        double s = 0;
        size_t ge = 0;
        for (size_t i = 0; i < null_n; i++) {
            s += w->null[i];
            ge += w->null[i] >= out->value;
        }
        out->null_mean = s / (double) null_n;
        out->p_value = (1.0 + (double) ge) / (1.0 + (double) null_n);
        out->null_p95 = quantile(w->null, null_n, 0.95);
    }
    return LM_OK;
}

lm_status lm_similarity(lm_sim_metric m, const double *A, size_t n, size_t p, const double *B,
                        size_t q, const lm_sim_opts *opts, lm_sim_result *out, lm_err *err) {
    if (!A || !B || !out)
        LM_FAIL(err, LM_EINVAL, "lm_similarity: NULL argument");
    if ((unsigned) m >= N_METRICS)
        LM_FAIL(err, LM_EINVAL, "unknown metric %d", (int) m);
    if (p == 0 || q == 0)
        LM_FAIL(err, LM_ESHAPE, "%s: A has %zu columns and B %zu: both need at least one",
                lm_sim_metric_name(m), p, q);
    size_t k = opts && opts->k ? opts->k : 10;
    LM_TRY(check_n(m, n, p, q, k, err));
    work w = {0};
    lm_status st =
        run(m, A, n, p, B, q, k, opts ? opts->null_n : 0, opts ? opts->seed : 0, out, &w, err);
    work_free(&w);
    return st;
}
