/*
 * lmech/repr.h: similarity of two representations A [n, p] and B [n, q] of the same n inputs
 * (rows), float64 row-major. See docs/representations.md.
 *
 * Metrics (value in [0, 1] up to rounding, except debiased CKA which may be slightly negative):
 *   linear_cka    Kornblith, Norouzi, Lee, Hinton 2019 (arXiv 1905.00414), feature-space form on
 *                 column-centred A_c, B_c: ||B_c^T A_c||_F^2 / (||A_c^T A_c||_F ||B_c^T B_c||_F),
 *                 computed with p x q, p x p and q x q BLAS products (never n x n).
 *   rbf_cka       the same paper's kernel CKA: K_ij = exp(-||a_i - a_j||^2 / (2 sigma^2)) with
 *                 sigma^2 = 0.8^2 x the median of the n x n squared distances (diagonal included,
 *                 as in the authors' gram_rbf(x, threshold = 0.8)); CKA = <HKH, HLH>_F /
 *                 (||HKH||_F ||HLH||_F), H = I - 11^T/n.  Needs n >= 2.
 *   debiased_cka  linear kernels K = A_c A_c^T, L = B_c B_c^T and the unbiased HSIC of Song et al.
 *                 2012 (JMLR 13), as used by Nguyen, Raghu, Kornblith 2021 (arXiv 2010.15327):
 *                 with K~, L~ the Grams with zero diagonal,
 *                 HSIC_u = [tr(K~L~) + (1'K~1)(1'L~1)/((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3)),
 *                 CKA_u = HSIC_u(K,L) / sqrt(HSIC_u(K,K) HSIC_u(L,L)). Needs n >= 4. When
 *                 HSIC_u(K,K) HSIC_u(L,L) <= 0 (a side without estimable variance) the value is
 *                 defined as 0 (never NaN).
 *   mknn          mutual k-nearest-neighbour alignment (Huh, Cheung, Wang, Isola 2024, arXiv
 *                 2405.07987): rows L2-normalised, cosine similarity, self excluded, ties broken
 *                 by the lower row index; value = mean_i |N_k^A(i) ∩ N_k^B(i)| / k. Chance is
 *                 k/(n-1). The authors' optional clamp at the 95th percentile of |value| is NOT
 *                 applied. Needs 1 <= k < n; a zero row is refused (no direction).
 *   cca           mean squared canonical correlation (Hotelling 1936; the "R^2_CCA" of Kornblith
 *                 2019): orthonormal bases Q_A, Q_B of the column spaces of A_c, B_c (from thin
 *                 SVDs, directions with singular value > 1e-10 x the largest kept: equal to the QR
 *                 bases for full-rank input), rho_i = singular values of Q_A^T Q_B, value =
 *                 sum rho_i^2 / min(r_A, r_B). Needs n > max(p, q) (otherwise trivially 1).
 *   svcca         Raghu, Gilmer, Yosinski, Sohl-Dickstein 2017 (arXiv 1706.05806): each side
 * reduced to its top singular directions explaining >= 99 % of the variance (sum of sigma^2), then
 * the mean canonical correlation (not squared) of the reduced sides. Needs n >= 3.
 *
 * Input rules (errors name the row and column or the counts): NaN/Inf refused; constant columns
 * are ignored by the CKA, CCA and SVCCA metrics (they contribute nothing after centring); mknn
 * works on the uncentred rows, as the authors' code does, so a constant column there shifts the
 * cosines (centre beforehand if that is not wanted). A side whose columns are all constant is
 * refused by every metric; n too small for the metric is refused.
 *
 * Permutation null (null_n > 0): rows of B permuted (lm_rng, seed, stream 0) null_n times; reports
 * the null mean, its 95th percentile (linear interpolation, numpy's default) and the p-value
 * (1 + #{null >= value}) / (1 + null_n).
 */
#ifndef LMECH_REPR_H
#define LMECH_REPR_H

#include "lmech/core.h"

#include <stddef.h>
#include <stdint.h>

typedef enum lm_sim_metric {
    LM_SIM_LINEAR_CKA = 0,
    LM_SIM_RBF_CKA,
    LM_SIM_DEBIASED_CKA,
    LM_SIM_MKNN,
    LM_SIM_CCA,
    LM_SIM_SVCCA
} lm_sim_metric;

/* "linear_cka", "rbf_cka", "debiased_cka", "mknn", "cca", "svcca". */
const char *lm_sim_metric_name(lm_sim_metric m);
/* Parses a metric name; an unknown name is refused with the list of known ones. */
lm_status lm_sim_metric_parse(const char *name, lm_sim_metric *out, lm_err *err);

typedef struct lm_sim_opts {
    size_t k;      /* mknn neighbours; 0 = 10                   */
    size_t null_n; /* permutations of B's rows; 0 = no null     */
    uint64_t seed; /* of the permutations                        */
} lm_sim_opts;

typedef struct lm_sim_result {
    double value;
    size_t n;
    int has_null;
    double null_mean, null_p95, p_value;
} lm_sim_result;

/* The metric m of A [n, p] and B [n, q] (row-major float64), with an optional permutation null.
 * opts may be NULL (k = 10, no null). */
lm_status lm_similarity(lm_sim_metric m, const double *A, size_t n, size_t p, const double *B,
                        size_t q, const lm_sim_opts *opts, lm_sim_result *out, lm_err *err);

/* ---------------------------------------------------------------- neural collapse
 *
 * Papyan, Han, Donoho 2020 (arXiv 2008.08186), measured as in the authors' reference code
 * (science.md §9; docs/representations.md). Features H [n, p] (e.g. penultimate-layer
 * post-activations), labels [n] in 0..C-1, the classifier W [C, p] and bias b [C] that the
 * network applies to H (logits W h + b). With N_c the class counts, mu_c the class means,
 * mu_G = (1/C) sum_c mu_c (the mean of the class means, as the reference code; the paper's
 * global mean for balanced classes) and M [C, p] the rows mu_c - mu_G:
 *   Sigma_W = (1/n) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T,  Sigma_B = (1/C) M^T M,
 *   nc1               tr(Sigma_W Sigma_B^+) / C (the paper's Fig. 6 quantity; the reference
 *                     code records tr(Sigma_W Sigma_B^+) without the 1/C). Sigma_B^+ from
 *                     LAPACKE_dsyevd, keeping eigenvalues > 1e-10 x the largest (the reference
 *                     keeps the top C-1 singular values: the same set whenever Sigma_B has rank
 *                     C-1, as it does unless class means are affinely dependent).
 *   nc2_equinorm      std/mean of ||mu_c - mu_G|| over c (std with C-1, as torch.std)
 *   nc2_equinorm_w    std/mean of the row norms ||w_c||
 *   nc2_equiangular   mean over c != c' of |cos(mu_c - mu_G, mu_c' - mu_G) + 1/(C-1)|
 *   nc3               || W/||W||_F - M/||M||_F ||_F^2
 *   nc4               fraction of rows where argmax_c (W h_i + b)_c differs from
 *                     argmin_c ||h_i - mu_c|| (ties: the lower class index)
 * W NULL: nc2_equinorm_w, nc3 and nc4 are NaN. b NULL: zero bias. Degenerate geometry gives NaN,
 * not an error: nc1 and nc2_equinorm when Sigma_B = 0 (all class means equal), nc2_equiangular
 * when some mu_c = mu_G, nc3 when W = 0, nc2_equinorm_w when every row of W is 0.
 * Errors (naming the row, column or class): n, p = 0 or C < 2 (LM_ESHAPE), a label >= C
 * (LM_ERANGE), a class without rows (LM_EINVAL), NaN/Inf in H, W or b (LM_ENUMERIC).
 * Workload: O(n p^2 + p^3) (one p x p eigendecomposition). */
typedef struct lm_nc {
    double nc1;
    double nc2_equinorm, nc2_equinorm_w, nc2_equiangular;
    double nc3, nc4;
} lm_nc;

lm_status lm_neural_collapse(const double *H, size_t n, size_t p, const size_t *labels, size_t C,
                             const double *W, const double *b, lm_nc *out, lm_err *err);

#endif
