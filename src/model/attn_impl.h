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

/* P [len, len] = causal softmax of the scores s q k^T: row i is softmax_j(s q_i . k_j) over
 * j <= i (the row maximum subtracted first; exp by VEXP over the row), 0 for j > i. */
static inline void SFX(attn_probs)(const T *q, const T *k, size_t len, size_t dh, size_t ld,
                                   double s, T *P) {
    const int nl = (int) len;
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, nl, nl, (int) dh, (T) s, q, (int) ld, k, (int) ld,
         (T) 0, P, nl);
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
    const int nl = (int) len, nh = (int) dh;
    SFX(attn_probs)(q, k, len, dh, ld, s, P);
    GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, nl, nh, nl, (T) 1, P, nl, v, (int) ld, (T) 0, o,
         (int) ldo);
}

/* Given go = dL/do (row stride ldo): gq, gk, gv (row stride ld) = dL/dq, dL/dk, dL/dv, added to
 * when acc == 1, overwritten otherwise:
 *   dV = P^T dO,  dP = dO V^T,  dS = P (.) (dP - rowsum(P (.) dP)),  dQ = s dS K,  dK = s dS^T Q.
 * P, G: [len, len] scratch. */
static inline void SFX(attn_head_backward)(const T *q, const T *k, const T *v, const T *go, T *gq,
                                           T *gk, T *gv, int acc, size_t len, size_t dh, size_t ld,
                                           size_t ldo, double s, T *P, T *G) {
    const int nl = (int) len, nh = (int) dh, l3 = (int) ld, lo = (int) ldo;
    const T beta = acc ? (T) 1 : (T) 0;
    SFX(attn_probs)(q, k, len, dh, ld, s, P);
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, nl, nh, nl, (T) 1, P, nl, go, lo, beta, gv, l3);
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, nl, nl, nh, (T) 1, go, lo, v, l3, (T) 0, G, nl);
    SFX(attn_softmax_jvp)(P, G, len);
    GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, nl, nh, nl, (T) s, G, nl, k, l3, beta, gq, l3);
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, nl, nh, nl, (T) s, G, nl, q, l3, beta, gk, l3);
}
