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

/* Output columns per block of the average pool's loops: the window taps (a, b) run outside a
 * block of outputs, so the inner loop walks 16 outputs at once (vector code) where one window
 * at a time ran scalar (avgpool was a third of a small CNN's training step). Each output still
 * sums its taps in the same order (a, then b) and divides, and each input of the backward pass
 * still receives its terms in (oi, oj) order: the results are the same bit for bit. (Measured on
 * the CNN of bench/cnn.sh: forward + backward of 64 images 9.5 -> 8.7 ms CPU.) */
#define POOL_BLOCK 16

static inline void SFX(avgpool_fwd)(const pool_geom *g, const T *x, T *y, size_t n) {
    const double div = (double) (g->k * g->k);
    for (size_t p = 0; p < n * g->c; p++) {
        const T *xp = x + p * g->h * g->w;
        T *yp = y + p * g->ho * g->wo;
        for (size_t oi = 0; oi < g->ho; oi++)
            for (size_t o0 = 0; o0 < g->wo; o0 += POOL_BLOCK) {
                const size_t nb = g->wo - o0 < POOL_BLOCK ? g->wo - o0 : POOL_BLOCK;
                if (g->s == 2 && g->k == 2) {
                    /* the default 2x2 pool in registers: the taps in the same order, from the
                     * same 0.0 (so -0.0 inputs still give +0.0) */
                    const T *r0 = xp + oi * 2 * g->w + o0 * 2, *r1 = r0 + g->w;
                    for (size_t t = 0; t < nb; t++) {
                        double u = 0.0;
                        u += (double) r0[2 * t];
                        u += (double) r0[2 * t + 1];
                        u += (double) r1[2 * t];
                        u += (double) r1[2 * t + 1];
                        yp[oi * g->wo + o0 + t] = (T) (u / div);
                    }
                    continue;
                }
                double sum[POOL_BLOCK] = {0};
                for (size_t a = 0; a < g->k; a++)
                    for (size_t b = 0; b < g->k; b++) {
                        const T *r = xp + (oi * g->s + a) * g->w + o0 * g->s + b;
                        for (size_t t = 0; t < nb; t++)
                            sum[t] += (double) r[t * g->s];
                    }
                for (size_t t = 0; t < nb; t++)
                    yp[oi * g->wo + o0 + t] = (T) (sum[t] / div);
            }
    }
}

static inline void SFX(avgpool_bwd)(const pool_geom *g, const T *gy, T *gx, size_t n, int acc) {
    const double div = (double) (g->k * g->k);
    /* 2x2 windows covering the whole plane write every input once: no zeroing pass (0 + v, as
     * the add into zeros did, so -0.0 still comes out +0.0) */
    const int tiled = g->s == 2 && g->k == 2;
    const int cover = tiled && !acc && g->ho * 2 == g->h && g->wo * 2 == g->w;
    if (!acc && !cover)
        memset(gx, 0, n * g->c * g->h * g->w * sizeof *gx);
    for (size_t p = 0; p < n * g->c; p++) {
        T *gp = gx + p * g->h * g->w;
        const T *gyp = gy + p * g->ho * g->wo;
        for (size_t oi = 0; oi < g->ho; oi++)
            for (size_t o0 = 0; o0 < g->wo; o0 += POOL_BLOCK) {
                const size_t nb = g->wo - o0 < POOL_BLOCK ? g->wo - o0 : POOL_BLOCK;
                T v[POOL_BLOCK];
                for (size_t t = 0; t < nb; t++)
                    v[t] = (T) ((double) gyp[oi * g->wo + o0 + t] / div);
                if (tiled) {
                    /* the default 2x2 pool: windows tile the rows, each input gets one term;
                     * constant strides let the adds vectorise */
                    for (size_t a = 0; a < 2; a++) {
                        T *r = gp + (oi * 2 + a) * g->w + o0 * 2;
                        if (cover)
                            for (size_t t = 0; t < nb; t++) {
                                r[2 * t] = (T) 0 + v[t];
                                r[2 * t + 1] = (T) 0 + v[t];
                            }
                        else
                            for (size_t t = 0; t < nb; t++) {
                                r[2 * t] += v[t];
                                r[2 * t + 1] += v[t];
                            }
                    }
                    continue;
                }
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
