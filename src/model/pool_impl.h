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

static inline void SFX(avgpool_fwd)(const pool_geom *g, const T *x, T *y, size_t n) {
    const double div = (double) (g->k * g->k);
    for (size_t p = 0; p < n * g->c; p++) {
        const T *xp = x + p * g->h * g->w;
        T *yp = y + p * g->ho * g->wo;
        for (size_t oi = 0; oi < g->ho; oi++)
            for (size_t oj = 0; oj < g->wo; oj++) {
                const T *w0 = xp + oi * g->s * g->w + oj * g->s;
                double sum = 0.0;
                for (size_t a = 0; a < g->k; a++)
                    for (size_t b = 0; b < g->k; b++)
                        sum += (double) w0[a * g->w + b];
                yp[oi * g->wo + oj] = (T) (sum / div);
            }
    }
}

static inline void SFX(avgpool_bwd)(const pool_geom *g, const T *gy, T *gx, size_t n, int acc) {
    const double div = (double) (g->k * g->k);
    if (!acc)
        memset(gx, 0, n * g->c * g->h * g->w * sizeof *gx);
    for (size_t p = 0; p < n * g->c; p++) {
        T *gp = gx + p * g->h * g->w;
        const T *gyp = gy + p * g->ho * g->wo;
        for (size_t oi = 0; oi < g->ho; oi++)
            for (size_t oj = 0; oj < g->wo; oj++) {
                T *w0 = gp + oi * g->s * g->w + oj * g->s;
                const T v = (T) ((double) gyp[oi * g->wo + oj] / div);
                for (size_t a = 0; a < g->k; a++)
                    for (size_t b = 0; b < g->k; b++)
                        w0[a * g->w + b] += v;
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
