/* curv/internal.h: the workspace layout and the Lanczos step shared by lanczos.c and trace.c. */
#ifndef LM_CURV_INTERNAL_H
#define LM_CURV_INTERNAL_H

#include "lmech/curv.h"

struct lm_curv_ws {
    size_t p, cap; /* dimension, most Lanczos steps                               */
    double *Q;     /* [cap + 1, p] Lanczos basis, row j = q_j                     */
    double *w;     /* [p] the new direction H q_j                                 */
    double *y;     /* [p] a Ritz vector or a probe                                */
    double *hy;    /* [p] H y                                                     */
    double *alpha; /* [cap] diagonal of T                                         */
    double *beta;  /* [cap] beta[j] couples q_j and q_{j+1}                       */
    double *d, *e; /* [cap] copies handed to LAPACK (it overwrites them)          */
    double *z;     /* [cap * cap] eigenvectors of T, column-major                 */
    double *T;     /* [cap, cap + 1] block Lanczos: column j = Q^T H q_j, i.e. the
                      Gram-Schmidt coefficients of step j against rows 0..cap      */
    double *h;     /* [cap + 1] Gram-Schmidt coefficients                         */
    double *res;   /* [cap] verified residuals                                    */
    double *lval;  /* [cap] the k returned eigenvalues while a check chain runs   */
    double *lres;  /* [cap] their verified relative residuals                     */
    double anorm;  /* running estimate of ||T||, the scale for breakdown          */
};

/* One Lanczos step from q_j (row j of Q, unit norm, orthogonal to rows < j): w = H q_j,
 * alpha[j], then w is orthogonalised against rows 0..j twice (CGS2) and beta[j] = ||w||. When
 * beta[j] is above the breakdown level, row j+1 = w / beta[j] and *broke = 0; otherwise
 * beta[j] = 0, row j+1 is not set and *broke = 1. Errors: the operator's, or LM_ENUMERIC. */
lm_status lm__lanczos_step(lm_linop_fn op, void *ud, lm_curv_ws *ws, size_t j, int *broke,
                           lm_err *err);

/* After a breakdown at step j: fills row j+1 with a random unit vector orthogonal to rows 0..j
 * (twice orthogonalised). Returns 0 when the rows already span the whole space. */
int lm__lanczos_restart(lm_curv_ws *ws, size_t j, lm_rng *rng);

/* Eigen-decomposition of the leading j x j block of T into ws->d (ascending eigenvalues) and
 * ws->z (column i = eigenvector i). LM_ENUMERIC if LAPACK's dstev fails. */
lm_status lm__tridiag_eig(lm_curv_ws *ws, size_t j, lm_err *err);

/* Fills v [p] with independent Rademacher entries +-1 (one random bit each). */
void lm__rademacher(lm_rng *rng, double *v, size_t p);

#endif
