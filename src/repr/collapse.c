/*
 * collapse.c: neural collapse of features H [n, p] with labels and a linear classifier
 * (include/lmech/repr.h, lm_neural_collapse; Papyan, Han, Donoho 2020, arXiv 2008.08186).
 *
 * The formulas follow the authors' reference code (the "Sw_invSb", "norm_M_CoV", "norm_W_CoV",
 * "cos_M", "W_M_dist" and "NCC_mismatch" measurements): mu_G is the mean of the class means,
 * Sigma_W averages over all n rows, Sigma_B over the C classes, std is the C-1 one, NC3 compares
 * W with the centred means M (rows mu_c - mu_G). One difference: nc1 carries the paper's 1/C
 * (tr(Sigma_W Sigma_B^+)/C, science.md §9); the code records the trace alone.
 *
 * tr(Sigma_W Sigma_B^+) = sum_k (1/lambda_k) v_k^T Sigma_W v_k over the kept eigenpairs of
 * Sigma_B, and v_k^T Sigma_W v_k = (1/n) sum_i ((h_i - mu_{y_i}) . v_k)^2: one n x p x r product
 * of the within-class residuals D with the kept eigenvectors, never Sigma_W itself.
 */
#include "lmech/repr.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

#define EIG_RTOL 1e-10 /* eigenvalues of Sigma_B kept: > EIG_RTOL x the largest */

static lm_status check_finite(const char *what, const double *a, size_t rows, size_t cols,
                              lm_err *err) {
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            if (!isfinite(a[i * cols + j]))
                LM_FAIL(err, LM_ENUMERIC,
                        "neural collapse: %s has the non-finite value %g at row "
                        "%zu, column %zu",
                        what, a[i * cols + j], i, j);
    return LM_OK;
}

/* std (C-1 denominator) / mean of v [C]; NaN when the mean is 0. */
static double cov_ratio(const double *v, size_t C) {
    double m = 0, s = 0;
    for (size_t c = 0; c < C; c++)
        m += v[c];
    m /= (double) C;
    for (size_t c = 0; c < C; c++)
        s += (v[c] - m) * (v[c] - m);
    return m > 0 ? sqrt(s / (double) (C - 1)) / m : LM_NAN;
}

/* nc1 from the residuals D [n, p] and M [C, p]; sb [p, p] and evals [p] are scratch. */
static lm_status nc1_of(const double *D, size_t n, size_t p, const double *M, size_t C, double *sb,
                        double *evals, double *proj, double *out, lm_err *err) {
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int) p, (int) C, 1.0 / (double) C, M,
                (int) p, 0.0, sb, (int) p);
    lapack_int info =
        LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int) p, sb, (lapack_int) p, evals);
    if (info != 0)
        LM_FAIL(err, LM_ENUMERIC,
                "neural collapse: LAPACKE_dsyevd of Sigma_B [%zu x %zu] failed "
                "(info %d)",
                p, p, (int) info);
    const double top = evals[p - 1]; /* ascending order */
    if (!(top > 0)) {
        *out = LM_NAN; /* every class mean equals mu_G */
        return LM_OK;
    }
    size_t first = p; /* kept: first..p-1 */
    while (first > 0 && evals[first - 1] > EIG_RTOL * top)
        first--;
    const size_t r = p - first;
    /* proj [n, r] = D V_kept; V's columns first..p-1 of the row-major eigenvector matrix */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) n, (int) r, (int) p, 1.0, D,
                (int) p, sb + first, (int) p, 0.0, proj, (int) r);
    double tr = 0;
    for (size_t k = 0; k < r; k++) {
        double q = 0;
        for (size_t i = 0; i < n; i++)
            q += proj[i * r + k] * proj[i * r + k];
        tr += q / (double) n / evals[first + k];
    }
    *out = tr / (double) C;
    return LM_OK;
}

lm_status lm_neural_collapse(const double *H, size_t n, size_t p, const size_t *labels, size_t C,
                             const double *W, const double *b, lm_nc *out, lm_err *err) {
    if (!H || !labels || !out)
        LM_FAIL(err, LM_EINVAL, "neural collapse: H, labels and out must not be NULL");
    if (n == 0 || p == 0)
        LM_FAIL(err, LM_ESHAPE, "neural collapse: features H [%zu, %zu] are empty", n, p);
    if (C < 2)
        LM_FAIL(err, LM_ESHAPE, "neural collapse: needs at least 2 classes, got C = %zu", C);
    for (size_t i = 0; i < n; i++)
        if (labels[i] >= C)
            LM_FAIL(err, LM_ERANGE, "neural collapse: label %zu of row %zu is not below C = %zu",
                    labels[i], i, C);
    LM_TRY(check_finite("H", H, n, p, err));
    if (W)
        LM_TRY(check_finite("W", W, C, p, err));
    if (b)
        LM_TRY(check_finite("b", b, 1, C, err));

    double *mu = lm_calloc(C * p, sizeof(double)); /* class means, then M */
    double *cnt = lm_calloc(C, sizeof(double));
    double *D = lm_malloc(n * p * sizeof(double));
    double *sb = lm_malloc(p * p * sizeof(double));
    double *evals = lm_malloc(p * sizeof(double));
    double *proj = lm_malloc(n * p * sizeof(double));
    double *nrm = lm_malloc(C * sizeof(double));
    double *muG = lm_calloc(p, sizeof(double));
    lm_status st = LM_OK;
    if (!mu || !cnt || !D || !sb || !evals || !proj || !nrm || !muG) {
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                        "neural collapse: out of memory for n = %zu, p = %zu, C = %zu", n, p, C);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        cnt[labels[i]] += 1;
        for (size_t j = 0; j < p; j++)
            mu[labels[i] * p + j] += H[i * p + j];
    }
    for (size_t c = 0; c < C; c++) {
        if (cnt[c] == 0) {
            st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                            "neural collapse: class %zu of %zu has no rows among the %zu", c, C, n);
            goto done;
        }
        for (size_t j = 0; j < p; j++)
            mu[c * p + j] /= cnt[c];
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++)
            D[i * p + j] = H[i * p + j] - mu[labels[i] * p + j];

    /* NC4 needs the uncentred means: nearest class mean of every row */
    out->nc4 = LM_NAN;
    if (W) {
        size_t disagree = 0;
        for (size_t i = 0; i < n; i++) {
            const double *h = H + i * p;
            size_t best_f = 0, best_d = 0;
            double top_f = -LM_INF, top_d = LM_INF;
            for (size_t c = 0; c < C; c++) {
                double f = b ? b[c] : 0.0, d = 0;
                for (size_t j = 0; j < p; j++) {
                    f += W[c * p + j] * h[j];
                    d += (h[j] - mu[c * p + j]) * (h[j] - mu[c * p + j]);
                }
                if (f > top_f) {
                    top_f = f;
                    best_f = c;
                }
                if (d < top_d) {
                    top_d = d;
                    best_d = c;
                }
            }
            disagree += best_f != best_d;
        }
        out->nc4 = (double) disagree / (double) n;
    }

    /* M = mu - mu_G */
    for (size_t c = 0; c < C; c++)
        for (size_t j = 0; j < p; j++)
            muG[j] += mu[c * p + j] / (double) C;
    double mfro2 = 0;
    for (size_t c = 0; c < C; c++) {
        double s = 0;
        for (size_t j = 0; j < p; j++) {
            mu[c * p + j] -= muG[j];
            s += mu[c * p + j] * mu[c * p + j];
        }
        nrm[c] = sqrt(s);
        mfro2 += s;
    }
    const double *M = mu;

    st = nc1_of(D, n, p, M, C, sb, evals, proj, &out->nc1, err);
    if (st != LM_OK)
        goto done;
    out->nc2_equinorm = mfro2 > 0 ? cov_ratio(nrm, C) : LM_NAN;

    /* equiangularity of the centred means */
    int zero_row = 0;
    for (size_t c = 0; c < C; c++)
        zero_row |= !(nrm[c] > 0);
    if (zero_row) {
        out->nc2_equiangular = LM_NAN;
    } else {
        double s = 0;
        for (size_t c = 0; c < C; c++)
            for (size_t d = 0; d < C; d++)
                if (c != d) {
                    const double cs =
                        cblas_ddot((int) p, M + c * p, 1, M + d * p, 1) / (nrm[c] * nrm[d]);
                    s += fabs(cs + 1.0 / (double) (C - 1));
                }
        out->nc2_equiangular = s / (double) (C * (C - 1));
    }

    out->nc2_equinorm_w = out->nc3 = LM_NAN;
    if (W) {
        double wfro2 = 0;
        for (size_t c = 0; c < C; c++) {
            const double s = cblas_ddot((int) p, W + c * p, 1, W + c * p, 1);
            nrm[c] = sqrt(s);
            wfro2 += s;
        }
        out->nc2_equinorm_w = cov_ratio(nrm, C);
        if (wfro2 > 0 && mfro2 > 0) {
            const double sw = 1.0 / sqrt(wfro2), sm = 1.0 / sqrt(mfro2);
            double s = 0;
            for (size_t i = 0; i < C * p; i++) {
                const double d = W[i] * sw - M[i] * sm;
                s += d * d;
            }
            out->nc3 = s;
        }
    }
done:
    lm_free(mu);
    lm_free(cnt);
    lm_free(D);
    lm_free(sb);
    lm_free(evals);
    lm_free(proj);
    lm_free(nrm);
    lm_free(muG);
    return st;
}
