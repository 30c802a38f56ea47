/*
 * pool_impl.h: average and max pooling of [C, H, W] examples, written once and compiled per
 * dtype by layer_pool.c. Include after defining T, SFX(name) and the pool_geom struct. A batch of
 * n examples is n*C planes of H*W (NCHW), each pooled alone: window (oi, oj) covers rows
 * oi*s .. oi*s+k-1 and columns oj*s .. oj*s+k-1 of its plane.
 *   avgpool_fwd  y = (window sum, in double) / k^2 (nn.AvgPool2d: padding 0, so the divisor is
 *                always k^2)
 *   avgpool_bwd  gx (overwritten, or added to when acc) = each gy / k^2 spread over its window;
 *                overlapping windows (s < k) add, uncovered inputs (s > k) get 0
 *   max_at       the window's argmax: PyTorch's rule (aten/src/ATen/native/cpu/MaxPoolKernel.cpp
 *                scans the window row-major and takes val when val > maxval || isnan(val)), so
 *                among equal maxima the FIRST in row-major order wins, and a NaN (the last NaN)
 *                wins over every number
 *   maxpool_fwd  y = x[argmax];  maxpool_bwd  gx[argmax] += gy (overwritten first unless acc);
 *   maxpool_jvp  dy = dx[argmax(x)]
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

/* Output columns per block of the average pool's generic loops: the window taps (a, b) run
 * outside a block of outputs, so the inner loop walks 16 outputs at once (vector code) where one
 * window at a time ran scalar. Each output sums its taps in the same order (a, then b) and
 * divides, and each input of the backward pass receives its terms in (oi, oj) order. */
#define POOL_BLOCK 16

/* The mean of a window is its sum (in double) times g->inv when that is exact (k^2 a power of
 * two: multiplying by 2^-j and dividing by 2^j round the same exact quotient, so the results are
 * the same bit for bit, and a multiply costs a fraction of a division), else divided by k^2. */
static inline double SFX(pool_mean)(const pool_geom *g, double sum) {
    return g->inv != 0.0 ? sum * g->inv : sum / (double) (g->k * g->k);
}

/* The default 2x2 stride-2 pool, one output row at a time: the four taps in the generic order
 * (row a, then column b) from the same 0.0 (so -0.0 inputs still give +0.0), times 1/4 (the
 * division, exactly), with no index arithmetic inside the row. Rows of maps here are short (7-14
 * outputs), and a plain loop over them runs mostly scalar (its vector body wants 16), so a row
 * goes in blocks of BL = 8 (or 4 for rows of 4-7) through a local copy, one vector each, the
 * last block overlapping the one before when the row is not a multiple of BL (an output may be
 * written twice, with the same value). Measured: forward of 128 x 16 x 28 x 28 in float32 0.49
 * -> 0.23 ms CPU, of 128 x 32 x 14 x 14 0.38 -> 0.17 ms. */
#define AVGPOOL2(r0, r1, t)                                                                        \
    ((T) (((((0.0 + (double) (r0)[2 * (t)]) + (double) (r0)[2 * (t) + 1]) +                        \
            (double) (r1)[2 * (t)]) +                                                              \
           (double) (r1)[2 * (t) + 1]) *                                                           \
          0.25))

/* yr[0..wo) for wo >= BL in blocks of the constant BL (a constant, so each block is one vector) */
#define AVGPOOL2_BLOCKS(BL)                                                                        \
    for (size_t t0 = 0;; t0 += (BL)) {                                                             \
        if (t0 + (BL) > wo)                                                                        \
            t0 = wo - (BL);                                                                        \
        T o[BL];                                                                                   \
        for (size_t u = 0; u < (BL); u++)                                                          \
            o[u] = AVGPOOL2(r0, r1, t0 + u);                                                       \
        for (size_t u = 0; u < (BL); u++)                                                          \
            yr[t0 + u] = o[u];                                                                     \
        if (t0 + (BL) == wo)                                                                       \
            break;                                                                                 \
    }

static inline void SFX(avgpool2_row)(const T *r0, const T *r1, T *yr, size_t wo) {
    if (wo >= 8) {
        AVGPOOL2_BLOCKS(8)
    } else if (wo >= 4) {
        AVGPOOL2_BLOCKS(4)
    } else {
        for (size_t t = 0; t < wo; t++)
            yr[t] = AVGPOOL2(r0, r1, t);
    }
}
#undef AVGPOOL2_BLOCKS

static inline void SFX(avgpool2_fwd)(const pool_geom *g, const T *x, T *y, size_t n) {
    const size_t h = g->h, w = g->w, ho = g->ho, wo = g->wo;
    for (size_t p = 0; p < n * g->c; p++)
        for (size_t oi = 0; oi < ho; oi++) {
            const T *r0 = x + p * h * w + oi * 2 * w;
            SFX(avgpool2_row)(r0, r0 + w, y + (p * ho + oi) * wo, wo);
        }
}
#undef AVGPOOL2

static inline void SFX(avgpool_fwd)(const pool_geom *g, const T *x, T *y, size_t n) {
    if (g->s == 2 && g->k == 2) {
        SFX(avgpool2_fwd)(g, x, y, n);
        return;
    }
    for (size_t p = 0; p < n * g->c; p++) {
        const T *xp = x + p * g->h * g->w;
        T *yp = y + p * g->ho * g->wo;
        for (size_t oi = 0; oi < g->ho; oi++)
            for (size_t o0 = 0; o0 < g->wo; o0 += POOL_BLOCK) {
                const size_t nb = g->wo - o0 < POOL_BLOCK ? g->wo - o0 : POOL_BLOCK;
                double sum[POOL_BLOCK] = {0};
                for (size_t a = 0; a < g->k; a++)
                    for (size_t b = 0; b < g->k; b++) {
                        const T *r = xp + (oi * g->s + a) * g->w + o0 * g->s + b;
                        for (size_t t = 0; t < nb; t++)
                            sum[t] += (double) r[t * g->s];
                    }
                for (size_t t = 0; t < nb; t++)
                    yp[oi * g->wo + o0 + t] = (T) SFX(pool_mean)(g, sum[t]);
            }
    }
}

/* One output row of the covering 2x2 backward: r0, r1 [2 wo] = 0 + gy / 4 each, in blocks as
 * avgpool2_row (an overlapped block writes the same values again). */
#define AVGPOOL2_BWD_BLOCKS(BL)                                                                    \
    for (size_t t0 = 0;; t0 += (BL)) {                                                             \
        if (t0 + (BL) > wo)                                                                        \
            t0 = wo - (BL);                                                                        \
        T o[2 * (BL)];                                                                             \
        for (size_t u = 0; u < (BL); u++)                                                          \
            o[2 * u] = o[2 * u + 1] = (T) 0 + (T) ((double) gr[t0 + u] * 0.25);                    \
        for (size_t u = 0; u < 2 * (BL); u++)                                                      \
            r0[2 * t0 + u] = o[u];                                                                 \
        for (size_t u = 0; u < 2 * (BL); u++)                                                      \
            r1[2 * t0 + u] = o[u];                                                                 \
        if (t0 + (BL) == wo)                                                                       \
            break;                                                                                 \
    }

static inline void SFX(avgpool2_bwd_row)(const T *gr, T *r0, T *r1, size_t wo) {
    if (wo >= 8) {
        AVGPOOL2_BWD_BLOCKS(8)
    } else if (wo >= 4) {
        AVGPOOL2_BWD_BLOCKS(4)
    } else {
        for (size_t t = 0; t < wo; t++) {
            const T v = (T) ((double) gr[t] * 0.25);
            r0[2 * t] = r0[2 * t + 1] = r1[2 * t] = r1[2 * t + 1] = (T) 0 + v;
        }
    }
}
#undef AVGPOOL2_BWD_BLOCKS

/* The 2x2 stride-2 backward: windows tile the rows, so each input gets one term, gy / 4 (as the
 * generic loop's division, exactly). When the windows cover the whole plane (even H and W) and
 * nothing is to be added to, every input is written once (0 + v, as the add into zeros did, so
 * -0.0 still comes out +0.0) and no zeroing pass is needed, in blocks as the forward (measured:
 * 128 x 16 x 28 x 28, float32, 0.40 -> 0.23 ms CPU; 128 x 32 x 14 x 14 0.35 -> 0.16 ms). */
static inline void SFX(avgpool2_bwd)(const pool_geom *g, const T *gy, T *gx, size_t n, int acc) {
    const size_t h = g->h, w = g->w, ho = g->ho, wo = g->wo;
    const int cover = !acc && ho * 2 == h && wo * 2 == w;
    if (!acc && !cover)
        memset(gx, 0, n * g->c * h * w * sizeof *gx);
    for (size_t p = 0; p < n * g->c; p++)
        for (size_t oi = 0; oi < ho; oi++) {
            T *r0 = gx + p * h * w + oi * 2 * w, *r1 = r0 + w;
            const T *gr = gy + (p * ho + oi) * wo;
            if (cover)
                SFX(avgpool2_bwd_row)(gr, r0, r1, wo);
            else
                for (size_t t = 0; t < wo; t++) {
                    const T v = (T) ((double) gr[t] * 0.25);
                    r0[2 * t] += v;
                    r0[2 * t + 1] += v;
                    r1[2 * t] += v;
                    r1[2 * t + 1] += v;
                }
        }
}

static inline void SFX(avgpool_bwd)(const pool_geom *g, const T *gy, T *gx, size_t n, int acc) {
    if (g->s == 2 && g->k == 2) {
        SFX(avgpool2_bwd)(g, gy, gx, n, acc);
        return;
    }
    if (!acc)
        memset(gx, 0, n * g->c * g->h * g->w * sizeof *gx);
    for (size_t p = 0; p < n * g->c; p++) {
        T *gp = gx + p * g->h * g->w;
        const T *gyp = gy + p * g->ho * g->wo;
        for (size_t oi = 0; oi < g->ho; oi++)
            for (size_t o0 = 0; o0 < g->wo; o0 += POOL_BLOCK) {
                const size_t nb = g->wo - o0 < POOL_BLOCK ? g->wo - o0 : POOL_BLOCK;
                T v[POOL_BLOCK];
                for (size_t t = 0; t < nb; t++)
                    v[t] = (T) SFX(pool_mean)(g, (double) gyp[oi * g->wo + o0 + t]);
                for (size_t a = 0; a < g->k; a++) {
                    T *r = gp + (oi * g->s + a) * g->w + o0 * g->s;
                    for (size_t t = 0; t < nb; t++)
                        for (size_t b = 0; b < g->k; b++)
                            r[t * g->s + b] += v[t];
                }
            }
    }
}

/* Index inside the plane xp of window (oi, oj)'s maximum (PyTorch's tie and NaN rule). */
static inline size_t SFX(max_at)(const pool_geom *g, const T *xp, size_t oi, size_t oj) {
    size_t best = oi * g->s * g->w + oj * g->s;
    T m = xp[best];
    for (size_t a = 0; a < g->k; a++)
        for (size_t b = 0; b < g->k; b++) {
            const size_t idx = (oi * g->s + a) * g->w + oj * g->s + b;
            const T v = xp[idx];
            if (v > m || isnan(v)) {
                m = v;
                best = idx;
            }
        }
    return best;
}

static inline void SFX(maxpool_fwd)(const pool_geom *g, const T *x, T *y, size_t n) {
    for (size_t p = 0; p < n * g->c; p++) {
        const T *xp = x + p * g->h * g->w;
        T *yp = y + p * g->ho * g->wo;
        for (size_t oi = 0; oi < g->ho; oi++)
            for (size_t oj = 0; oj < g->wo; oj++)
                yp[oi * g->wo + oj] = xp[SFX(max_at)(g, xp, oi, oj)];
    }
}

static inline void SFX(maxpool_bwd)(const pool_geom *g, const T *x, const T *gy, T *gx, size_t n,
                                    int acc) {
    if (!acc)
        memset(gx, 0, n * g->c * g->h * g->w * sizeof *gx);
    for (size_t p = 0; p < n * g->c; p++) {
        const T *xp = x + p * g->h * g->w;
        const T *gyp = gy + p * g->ho * g->wo;
        T *gp = gx + p * g->h * g->w;
        for (size_t oi = 0; oi < g->ho; oi++)
            for (size_t oj = 0; oj < g->wo; oj++)
                gp[SFX(max_at)(g, xp, oi, oj)] += gyp[oi * g->wo + oj];
    }
}

static inline void SFX(maxpool_jvp)(const pool_geom *g, const T *x, const T *dx, T *dy, size_t n) {
    for (size_t p = 0; p < n * g->c; p++) {
        const T *xp = x + p * g->h * g->w, *dxp = dx + p * g->h * g->w;
        T *dyp = dy + p * g->ho * g->wo;
        for (size_t oi = 0; oi < g->ho; oi++)
            for (size_t oj = 0; oj < g->wo; oj++)
                dyp[oi * g->wo + oj] = dxp[SFX(max_at)(g, xp, oi, oj)];
    }
}
