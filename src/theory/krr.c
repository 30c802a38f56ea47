/*
 * krr.c: the empirical learning curve of kernel ridge regression (lmech/theory.h, science.md §8),
 * the measurement the eigenframework (eigenlearning.c) predicts.
 *
 * One eigendecomposition per training set, reused over every ridge: with the training Gram
 * K_nn = U diag(s) U^T (LAPACKE dsyevd) and c = U^T y, the ridge-delta fit is
 *     alpha = U diag(g) c,  g_j = 1 / (s_j + delta)   (ridge 0: 1 / s_j on the numerical range
 *                                                      s_j > n eps s_max, 0 on its null space),
 * its test predictions K_tn alpha = (K_tn U) diag(g) c, with B = K_tn U formed once, and, U being
 * orthonormal, its training residual y - K_nn alpha = U diag(1 - s_j g_j) c, whose squared norm is
 * sum_j (1 - s_j g_j)^2 |c_j|^2. So a training set costs one O(n^3) dsyevd and one O(m n^2)
 * product, and each ridge O(m n k) more.
 *
 * Draws: a single lm_rng (seed, LM_STREAM_DATA) draws the training sets in the order of n_list,
 * then trials; each is a partial Fisher-Yates shuffle of the identity over the pool, so the draw
 * of (n, t) depends on the seed and on the draws before it, never on the ridges.
 */
#include "lmech/theory.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <string.h>

#define KRR_SYM_TOL 1e-10 /* as kernel_predict.c */

static lm_status krr_check(const double *K, size_t N, size_t n_pool, const double *y, size_t k,
                           size_t n_n, const size_t *n_list, size_t trials, size_t n_ridge,
                           const double *ridge, int want_test, lm_err *err) {
    static const char who[] = "krr curve";
    if (!K || !y || !n_list || !ridge)
        LM_FAIL(err, LM_EINVAL, "%s: K, y, n_list and ridge are required (NULL given)", who);
    if (N == 0 || k == 0 || n_n == 0 || trials == 0 || n_ridge == 0)
        LM_FAIL(err, LM_EINVAL,
                "%s: empty shape (N = %zu, k = %zu, %zu sizes, %zu trials, %zu ridges)", who, N, k,
                n_n, trials, n_ridge);
    if (N > (size_t) INT32_MAX)
        LM_FAIL(err, LM_EINVAL, "%s: N = %zu exceeds LAPACK's index range", who, N);
    if (n_pool == 0 || n_pool > N)
        LM_FAIL(err, LM_EINVAL, "%s: training pool of %zu rows; use 1..N = %zu", who, n_pool, N);
    if (want_test && n_pool == N)
        LM_FAIL(err, LM_EINVAL,
                "%s: the pool takes all N = %zu rows, so there is no test set for test_mse", who,
                N);
    for (size_t i = 0; i < n_n; i++)
        if (n_list[i] == 0 || n_list[i] > n_pool)
            LM_FAIL(err, LM_EINVAL, "%s: n_list[%zu] = %zu; each n must be in 1..n_pool = %zu", who,
                    i, n_list[i], n_pool);
    for (size_t r = 0; r < n_ridge; r++)
        if (!isfinite(ridge[r]) || ridge[r] < 0)
            LM_FAIL(err, LM_EINVAL, "%s: ridge[%zu] = %g; each ridge must be finite and >= 0", who,
                    r, ridge[r]);
    double mx = 0;
    for (size_t i = 0; i < N * N; i++) {
        if (!isfinite(K[i]))
            LM_FAIL(err, LM_ENUMERIC, "%s: K[%zu,%zu] is %g (NaN/Inf)", who, i / N, i % N, K[i]);
        mx = fmax(mx, fabs(K[i]));
    }
    for (size_t i = 0; i < N * k; i++)
        if (!isfinite(y[i]))
            LM_FAIL(err, LM_ENUMERIC, "%s: y[%zu,%zu] is %g (NaN/Inf)", who, i / k, i % k, y[i]);
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++)
            if (fabs(K[i * N + j] - K[j * N + i]) > KRR_SYM_TOL * mx)
                LM_FAIL(err, LM_EINVAL,
                        "%s: K is not symmetric: [%zu,%zu] = %.17g but [%zu,%zu] = %.17g", who, i,
                        j, K[i * N + j], j, i, K[j * N + i]);
    return LM_OK;
}

typedef struct krr_work {
    size_t *idx;            /* [n_pool] the pool's rows, the first n drawn           */
    double *knn, *s;        /* [n_max^2] K_nn then U; [n_max] its eigenvalues        */
    double *ktn, *b;        /* [m, n_max] K(test, drawn rows); B = K_tn U            */
    double *yn, *c, *g, *f; /* [n_max, k] y of the drawn rows; c = U^T y; [n_max]; [m, k] */
    double *coef;           /* [n_max, k] diag(g) c                                  */
} krr_work;

static void krr_work_free(krr_work *w) {
    lm_free(w->idx);
    lm_free(w->knn);
    lm_free(w->s);
    lm_free(w->ktn);
    lm_free(w->b);
    lm_free(w->yn);
    lm_free(w->c);
    lm_free(w->g);
    lm_free(w->f);
    lm_free(w->coef);
}

lm_status lm_krr_curve(const double *K, size_t N, size_t n_pool, const double *y, size_t k,
                       size_t n_n, const size_t *n_list, size_t trials, size_t n_ridge,
                       const double *ridge, uint64_t seed, double *test_mse, double *train_mse,
                       lm_err *err) {
    LM_TRY(
        krr_check(K, N, n_pool, y, k, n_n, n_list, trials, n_ridge, ridge, test_mse != NULL, err));
    const size_t m = N - n_pool; /* test rows */
    size_t n_max = 0;
    for (size_t i = 0; i < n_n; i++)
        n_max = n_list[i] > n_max ? n_list[i] : n_max;
    krr_work w = {
        .idx = lm_malloc(n_pool * sizeof *w.idx),
        .knn = lm_malloc(n_max * n_max * sizeof(double)),
        .s = lm_malloc(n_max * sizeof(double)),
        .ktn = m ? lm_malloc(m * n_max * sizeof(double)) : NULL,
        .b = m ? lm_malloc(m * n_max * sizeof(double)) : NULL,
        .yn = lm_malloc(n_max * k * sizeof(double)),
        .c = lm_malloc(n_max * k * sizeof(double)),
        .g = lm_malloc(n_max * sizeof(double)),
        .f = m ? lm_malloc(m * k * sizeof(double)) : NULL,
        .coef = lm_malloc(n_max * k * sizeof(double)),
    };
    if (!w.idx || !w.knn || !w.s || (m && (!w.ktn || !w.b || !w.f)) || !w.yn || !w.c || !w.g ||
        !w.coef) {
        krr_work_free(&w);
        LM_FAIL(err, LM_ENOMEM, "krr curve: out of memory (n up to %zu, %zu test rows)", n_max, m);
    }
    const int do_test = test_mse != NULL && m > 0;
    const double *yt = y + n_pool * k;
    lm_rng rng;
    lm_rng_seed(&rng, seed, LM_STREAM_DATA);
    lm_status st = LM_OK;
    for (size_t i = 0; st == LM_OK && i < n_n; i++) {
        const size_t n = n_list[i];
        for (size_t t = 0; st == LM_OK && t < trials; t++) {
            for (size_t j = 0; j < n_pool; j++)
                w.idx[j] = j;
            for (size_t j = 0; j < n; j++) { /* partial Fisher-Yates */
                const size_t r = j + (size_t) lm_rng_below(&rng, (uint64_t) (n_pool - j));
                const size_t tmp = w.idx[j];
                w.idx[j] = w.idx[r];
                w.idx[r] = tmp;
            }
            for (size_t a = 0; a < n; a++) {
                const size_t ra = w.idx[a];
                for (size_t b = 0; b < n; b++)
                    w.knn[a * n + b] = K[ra * N + w.idx[b]];
                memcpy(w.yn + a * k, y + ra * k, k * sizeof(double));
            }
            const lapack_int nn = (lapack_int) n;
            const lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', nn, w.knn, nn, w.s);
            if (info != 0) {
                st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__,
                                "krr curve: dsyevd failed (info %d) on the training Gram of n = "
                                "%zu, trial %zu",
                                (int) info, n, t);
                break;
            }
            /* c = U^T y_n */
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) n, (int) k, (int) n, 1.0,
                        w.knn, (int) n, w.yn, (int) k, 0.0, w.c, (int) k);
            if (do_test) {
                for (size_t a = 0; a < m; a++)
                    for (size_t b = 0; b < n; b++)
                        w.ktn[a * n + b] = K[(n_pool + a) * N + w.idx[b]];
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) m, (int) n, (int) n,
                            1.0, w.ktn, (int) n, w.knn, (int) n, 0.0, w.b, (int) n);
            }
            const double smax = w.s[n - 1], cut = (double) n * DBL_EPSILON * fmax(smax, 0);
            for (size_t r = 0; r < n_ridge; r++) {
                const double d = ridge[r];
                double res = 0;
                for (size_t j = 0; j < n; j++) {
                    const double sj = fmax(w.s[j], 0.0);
                    w.g[j] = d > 0 ? 1.0 / (sj + d) : (w.s[j] > cut ? 1.0 / w.s[j] : 0.0);
                    const double keep = 1.0 - sj * w.g[j];
                    for (size_t o = 0; o < k; o++) {
                        w.coef[j * k + o] = w.g[j] * w.c[j * k + o];
                        res += keep * keep * w.c[j * k + o] * w.c[j * k + o];
                    }
                }
                const size_t at = (r * n_n + i) * trials + t;
                if (train_mse)
                    train_mse[at] = res / (double) (n * k);
                if (do_test) {
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) m, (int) k,
                                (int) n, 1.0, w.b, (int) n, w.coef, (int) k, 0.0, w.f, (int) k);
                    double e = 0;
                    for (size_t q = 0; q < m * k; q++)
                        e += (w.f[q] - yt[q]) * (w.f[q] - yt[q]);
                    test_mse[at] = e / (double) (m * k);
                }
            }
        }
    }
    krr_work_free(&w);
    return st;
}
