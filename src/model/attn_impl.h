/*
 * attn_impl.h: the causal attention kernels of one (example, head), written once and compiled per
 * dtype (layer_attn.c includes it for double and float). Include after defining T, SFX(name),
 * GEMM (cblas_dgemm / cblas_sgemm) and VEXP (lm__exp_f64 / lm__exp_f32: exp over an array).
 *
 * Operands are row-major blocks inside the layer's buffers, no copies: q, k, v are [len, dh] with
 * row stride ld (3d inside the layer's input), the head's output [len, dh] has row stride ldo (d),
 * and the score matrices P, G are dense [len, len] (row stride len) in the caller's scratch.
 * Row i of P and G holds the keys j <= i; entries j > i are set to exactly 0, so no masked entry
 * is ever read as anything else. Row sums accumulate in double (float32 included).
 */
#include <cblas.h>
#include <stddef.h>

/* Reductions over a row of cnt >= 1 numbers in ATTN_LANES independent lanes, so that the
 * compiler vectorises them without reassociating (no -ffast-math): max, and the sum and the dot
 * product in double. The lanes are combined in a fixed order: results depend only on cnt. */
#ifndef ATTN_LANES
#define ATTN_LANES 8
#endif

static inline T SFX(attn_rowmax)(const T *r, size_t cnt) {
    T m[ATTN_LANES];
    for (size_t u = 0; u < ATTN_LANES; u++)
        m[u] = r[0];
    size_t j = 0;
    for (; j + ATTN_LANES <= cnt; j += ATTN_LANES)
        for (size_t u = 0; u < ATTN_LANES; u++)
            m[u] = r[j + u] > m[u] ? r[j + u] : m[u];
    for (; j < cnt; j++)
        m[0] = r[j] > m[0] ? r[j] : m[0];
    for (size_t u = 1; u < ATTN_LANES; u++)
        m[0] = m[u] > m[0] ? m[u] : m[0];
    return m[0];
}

static inline double SFX(attn_rowsum)(const T *r, size_t cnt) {
    double s[ATTN_LANES] = {0};
    size_t j = 0;
    for (; j + ATTN_LANES <= cnt; j += ATTN_LANES)
        for (size_t u = 0; u < ATTN_LANES; u++)
            s[u] += (double) r[j + u];
    for (; j < cnt; j++)
        s[0] += (double) r[j];
    for (size_t u = 1; u < ATTN_LANES; u++)
        s[0] += s[u];
    return s[0];
}

static inline double SFX(attn_rowdot)(const T *a, const T *b, size_t cnt) {
    double s[ATTN_LANES] = {0};
    size_t j = 0;
    for (; j + ATTN_LANES <= cnt; j += ATTN_LANES)
        for (size_t u = 0; u < ATTN_LANES; u++)
            s[u] += (double) a[j + u] * (double) b[j + u];
    for (; j < cnt; j++)
        s[0] += (double) a[j] * (double) b[j];
    for (size_t u = 1; u < ATTN_LANES; u++)
        s[0] += s[u];
    return s[0];
}

/* Products with the causal [len, len] matrices, by row blocks of ATTN_BLOCK positions: row block
 * [i0, i1) of a causal matrix is nonzero in columns < i1 only, so the blocks right of the diagonal
 * are skipped (at T 64 in blocks of 16, 3/8 of the multiply-adds). Measured at d 128, 4 heads,
 * T 64, batch 32 on one core: blocks of 16 ran the float64 calls ~20 % and the float32 ones ~10 %
 * faster than whole-matrix GEMMs (64), blocks of 32 in between. Matrices read by nn and tn must
 * hold exact zeros above their diagonal (attn_probs and attn_softmax_jvp write them). */
#ifndef ATTN_BLOCK
#define ATTN_BLOCK 16
#endif

/* C [len, len] = alpha A B^T + beta C on the causal blocks (A, B: [len, kd]); the entries of C
 * right of each row block's diagonal block are neither read nor written. */
static inline void SFX(attn_mm_nt)(size_t len, size_t kd, T alpha, const T *A, size_t lda,
                                   const T *B, size_t ldb, T beta, T *C) {
    for (size_t i0 = 0; i0 < len; i0 += ATTN_BLOCK) {
        const size_t i1 = i0 + ATTN_BLOCK < len ? i0 + ATTN_BLOCK : len;
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int) (i1 - i0), (int) i1, (int) kd, alpha,
             A + i0 * lda, (int) lda, B, (int) ldb, beta, C + i0 * len, (int) len);
    }
}

/* C [len, kd] = alpha M X + beta C for a causal M [len, len] (X: [len, kd]). */
static inline void SFX(attn_mm_nn)(size_t len, size_t kd, T alpha, const T *M, const T *X,
                                   size_t ldx, T beta, T *C, size_t ldc) {
    for (size_t i0 = 0; i0 < len; i0 += ATTN_BLOCK) {
        const size_t i1 = i0 + ATTN_BLOCK < len ? i0 + ATTN_BLOCK : len;
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) (i1 - i0), (int) kd, (int) i1, alpha,
             M + i0 * len, (int) len, X, (int) ldx, beta, C + i0 * ldc, (int) ldc);
    }
}

/* C [len, kd] = alpha M^T X + beta C for a causal M [len, len]: row block [j0, j1) of M^T is
 * column block [j0, j1) of M, nonzero in rows >= j0 only. */
static inline void SFX(attn_mm_tn)(size_t len, size_t kd, T alpha, const T *M, const T *X,
                                   size_t ldx, T beta, T *C, size_t ldc) {
    for (size_t j0 = 0; j0 < len; j0 += ATTN_BLOCK) {
        const size_t j1 = j0 + ATTN_BLOCK < len ? j0 + ATTN_BLOCK : len;
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int) (j1 - j0), (int) kd, (int) (len - j0),
             alpha, M + j0 * len + j0, (int) len, X + j0 * ldx, (int) ldx, beta, C + j0 * ldc,
             (int) ldc);
    }
}

/* P [len, len] = causal softmax of the scores s q k^T: row i is softmax_j(s q_i . k_j) over
 * j <= i (the row maximum subtracted first; exp by VEXP over the row), 0 for j > i. */
static inline void SFX(attn_probs)(const T *q, const T *k, size_t len, size_t dh, size_t ld,
                                   double s, T *P) {
    SFX(attn_mm_nt)(len, dh, (T) s, q, ld, k, ld, (T) 0, P);
    for (size_t i = 0; i < len; i++) {
        T *row = P + i * len;
        const T m = SFX(attn_rowmax)(row, i + 1);
        for (size_t j = 0; j <= i; j++)
            row[j] -= m;
        VEXP(row, row, i + 1);
        const T inv = (T) (1.0 / SFX(attn_rowsum)(row, i + 1));
        for (size_t j = 0; j <= i; j++)
            row[j] *= inv;
        for (size_t j = i + 1; j < len; j++)
            row[j] = (T) 0;
    }
}

/* G = P (.) (G - rowsum(P (.) G)) over j <= i, 0 for j > i: the softmax's Jacobian-vector
 * product, which is also its transpose (J = diag(p) - p p^T is symmetric): dS from dP in
 * backward, P-dot from S-dot in the JVP. */
static inline void SFX(attn_softmax_jvp)(const T *P, T *G, size_t len) {
    for (size_t i = 0; i < len; i++) {
        const T *p = P + i * len;
        T *g = G + i * len;
        const double r = SFX(attn_rowdot)(p, g, i + 1);
        for (size_t j = 0; j <= i; j++)
            g[j] = (T) ((double) p[j] * ((double) g[j] - r));
        for (size_t j = i + 1; j < len; j++)
            g[j] = (T) 0;
    }
}

/* o [len, dh] (row stride ldo) = P v. */
static inline void SFX(attn_head_forward)(const T *q, const T *k, const T *v, T *o, size_t len,
                                          size_t dh, size_t ld, size_t ldo, double s, T *P) {
    SFX(attn_probs)(q, k, len, dh, ld, s, P);
    SFX(attn_mm_nn)(len, dh, (T) 1, P, v, ld, (T) 0, o, ldo);
}

/* Given go = dL/do (row stride ldo): gq, gk, gv (row stride ld) = dL/dq, dL/dk, dL/dv, added to
 * when acc == 1, overwritten otherwise:
 *   dV = P^T dO,  dP = dO V^T,  dS = P (.) (dP - rowsum(P (.) dP)),  dQ = s dS K,  dK = s dS^T Q.
 * P, G: [len, len] scratch. */
static inline void SFX(attn_head_backward)(const T *q, const T *k, const T *v, const T *go, T *gq,
                                           T *gk, T *gv, int acc, size_t len, size_t dh, size_t ld,
                                           size_t ldo, double s, T *P, T *G) {
    const T beta = acc ? (T) 1 : (T) 0;
    SFX(attn_probs)(q, k, len, dh, ld, s, P);
    SFX(attn_mm_tn)(len, dh, (T) 1, P, go, ldo, beta, gv, ld);
    SFX(attn_mm_nt)(len, dh, (T) 1, go, ldo, v, ld, (T) 0, G);
    SFX(attn_softmax_jvp)(P, G, len);
    SFX(attn_mm_nn)(len, dh, (T) s, G, k, ld, beta, gq, ld);
    SFX(attn_mm_tn)(len, dh, (T) s, G, q, ld, beta, gk, ld);
}

/* Pd = P' = P (.) (S' - rowsum(P (.) S')) with S' = s (Q' K^T + Q K'^T): the probabilities'
 * tangent along the head's (dq, dk). */
static inline void SFX(attn_probs_tangent)(const T *q, const T *k, const T *dq, const T *dk,
                                           const T *P, T *Pd, size_t len, size_t dh, size_t ld,
                                           double s) {
    SFX(attn_mm_nt)(len, dh, (T) s, dq, ld, k, ld, (T) 0, Pd);
    SFX(attn_mm_nt)(len, dh, (T) s, q, ld, dk, ld, (T) 1, Pd);
    SFX(attn_softmax_jvp)(P, Pd, len);
}

/* The JVP of one head along (dq, dk, dv): o' [len, dh] (row stride ldo) = P' V + P V'.
 * P, Pd: [len, len] scratch. */
static inline void SFX(attn_head_jvp)(const T *q, const T *k, const T *v, const T *dq, const T *dk,
                                      const T *dv, T *od, size_t len, size_t dh, size_t ld,
                                      size_t ldo, double s, T *P, T *Pd) {
    SFX(attn_probs)(q, k, len, dh, ld, s, P);
    SFX(attn_probs_tangent)(q, k, dq, dk, P, Pd, len, dh, ld, s);
    SFX(attn_mm_nn)(len, dh, (T) 1, Pd, v, ld, (T) 0, od, ldo);
    SFX(attn_mm_nn)(len, dh, (T) 1, P, dv, ld, (T) 1, od, ldo);
}

/* Row by row over the causal part, g = dP - r, r = rowsum(P (.) dP) (in double):
 *   R <- R{dS} = P' (.) g + P (.) (R{dP} - R{r}),  R{r} = rowsum(P' (.) dP + P (.) R{dP}),
 *   G <- dS = P (.) g;
 * on entry G = dP and R = R{dP}; Pd = P' (NULL: zero). Zeros above the diagonal on exit. */
static inline void SFX(attn_softmax_rvjp)(const T *P, const T *Pd, T *G, T *R, size_t len) {
    for (size_t i = 0; i < len; i++) {
        const T *p = P + i * len, *pd = Pd ? Pd + i * len : NULL;
        T *gr = G + i * len, *rr = R + i * len;
        const double r = SFX(attn_rowdot)(p, gr, i + 1);
        const double rsum =
            SFX(attn_rowdot)(p, rr, i + 1) + (pd ? SFX(attn_rowdot)(pd, gr, i + 1) : 0.0);
        for (size_t j = 0; j <= i; j++) {
            double v = (double) p[j] * ((double) rr[j] - rsum);
            if (pd)
                v += (double) pd[j] * ((double) gr[j] - r);
            rr[j] = (T) v;
        }
        for (size_t j = 0; j <= i; j++)
            gr[j] = (T) ((double) p[j] * ((double) gr[j] - r));
        for (size_t j = i + 1; j < len; j++)
            rr[j] = gr[j] = (T) 0;
    }
}

/* The R-backward of one head (layer_attn.c's derivation) along (dq, dk, dv) (all NULL: the
 * input does not move) with R{dO} = rgo: rq, rk, rv (row stride ld) = R{dQ}, R{dK}, R{dV}, added
 * to when acc == 1, overwritten otherwise. P, G, Pd, R: [len, len] scratch. */
static inline void SFX(attn_head_rbackward)(const T *q, const T *k, const T *v, const T *dq,
                                            const T *dk, const T *dv, const T *go, const T *rgo,
                                            T *rq, T *rk, T *rv, int acc, size_t len, size_t dh,
                                            size_t ld, size_t ldo, double s, T *P, T *G, T *Pd,
                                            T *R) {
    const T beta = acc ? (T) 1 : (T) 0, ts = (T) s;
    SFX(attn_probs)(q, k, len, dh, ld, s, P);
    if (dq)
        SFX(attn_probs_tangent)(q, k, dq, dk, P, Pd, len, dh, ld, s);
    /* G = dP = dO V^T;  R = R{dP} = R{dO} V^T + dO V'^T */
    SFX(attn_mm_nt)(len, dh, (T) 1, go, ldo, v, ld, (T) 0, G);
    SFX(attn_mm_nt)(len, dh, (T) 1, rgo, ldo, v, ld, (T) 0, R);
    if (dq)
        SFX(attn_mm_nt)(len, dh, (T) 1, go, ldo, dv, ld, (T) 1, R);
    SFX(attn_softmax_rvjp)(P, dq ? Pd : NULL, G, R, len);
    /* R{dV} = P'^T dO + P^T R{dO} */
    SFX(attn_mm_tn)(len, dh, (T) 1, P, rgo, ldo, beta, rv, ld);
    if (dq)
        SFX(attn_mm_tn)(len, dh, (T) 1, Pd, go, ldo, (T) 1, rv, ld);
    /* R{dQ} = s (R{dS} K + dS K'),  R{dK} = s (R{dS}^T Q + dS^T Q') */
    SFX(attn_mm_nn)(len, dh, ts, R, k, ld, beta, rq, ld);
    SFX(attn_mm_tn)(len, dh, ts, R, q, ld, beta, rk, ld);
    if (dq) {
        SFX(attn_mm_nn)(len, dh, ts, G, dk, ld, (T) 1, rq, ld);
        SFX(attn_mm_tn)(len, dh, ts, G, dq, ld, (T) 1, rk, ld);
    }
}
