/*
 * conv_impl.h: the conv2d layer's products (layer_conv.c), written once and compiled per dtype.
 * Include after defining T, SFX(name) and GEMM, with conv_geom (layer_conv.c) in scope.
 *
 * Layout (one example): x [C, H, W], y [O, Ho, Wo], the weight [O, C, k, k] seen as the matrix
 * Wm [O, K] with K = C*k*k (row r = (c*k + ki)*k + kj). A chunk of nc examples is unfolded into
 * the column matrix col [K, nc*P] (P = Ho*Wo; column i*P + oh*Wo + ow holds the receptive field
 * of output pixel (oh, ow) of example i, zeros where it overhangs the padding), so the whole
 * chunk is ONE GEMM: Y [O, nc*P] = wm Wm col. Y's rows hold channel o of every example in turn,
 * so y (NCHW) is Y with its [nc, P] blocks regrouped: nc*O copies of P numbers.
 *
 *   conv_fwd      y (= or +=) wm conv(Wm, x) + bm b
 *   conv_grad_w   gW (= or +=) wm sum_i gy_i col_i^T;  gb (= or +=) bm sum gy   (sums in double)
 *   conv_grad_x   gx (= or +=) wm col2im(Wm^T gy)  (two weights: Wm^T gy + Vm^T ry)
 * Every call walks the batch in chunks of g->nc examples so the scratch stays bounded.
 */
#include <cblas.h>
#include <stddef.h>
#include <string.h>

/* col [K, nc*P] = the receptive fields of nc examples x [nc, C*H*W]. */
static void SFX(im2col)(const conv_geom *g, const T *x, size_t nc, T *col) {
    const size_t ldc = nc * g->P, hw = g->H * g->W, chw = g->C * hw;
    for (size_t c = 0; c < g->C; c++)
        for (size_t ki = 0; ki < g->k; ki++)
            for (size_t kj = 0; kj < g->k; kj++) {
                T *dst = col + ((c * g->k + ki) * g->k + kj) * ldc;
                size_t lo, hi;
                conv_range(g, kj, &lo, &hi);
                const ptrdiff_t off = (ptrdiff_t) kj - (ptrdiff_t) g->p;
                for (size_t i = 0; i < nc; i++) {
                    const T *xc = x + i * chw + c * hw;
                    for (size_t oh = 0; oh < g->Ho; oh++, dst += g->Wo) {
                        const ptrdiff_t ih = (ptrdiff_t) (oh * g->s + ki) - (ptrdiff_t) g->p;
                        if (ih < 0 || ih >= (ptrdiff_t) g->H || lo >= hi) {
                            memset(dst, 0, g->Wo * sizeof *dst);
                            continue;
                        }
                        const T *row = xc + (size_t) ih * g->W;
                        for (size_t ow = 0; ow < lo; ow++)
                            dst[ow] = 0;
                        if (g->s == 1)
                            memcpy(dst + lo, row + (ptrdiff_t) lo + off, (hi - lo) * sizeof *dst);
                        else
                            for (size_t ow = lo; ow < hi; ow++)
                                dst[ow] = row[(ptrdiff_t) (ow * g->s) + off];
                        for (size_t ow = hi; ow < g->Wo; ow++)
                            dst[ow] = 0;
                    }
                }
            }
}

/* gx [nc, C*H*W] += the adjoint of im2col applied to gcol [K, nc*P] (overlapping receptive
 * fields add up). */
static void SFX(col2im)(const conv_geom *g, const T *gcol, size_t nc, T *gx) {
    const size_t ldc = nc * g->P, hw = g->H * g->W, chw = g->C * hw;
    for (size_t c = 0; c < g->C; c++)
        for (size_t ki = 0; ki < g->k; ki++)
            for (size_t kj = 0; kj < g->k; kj++) {
                const T *src = gcol + ((c * g->k + ki) * g->k + kj) * ldc;
                size_t lo, hi;
                conv_range(g, kj, &lo, &hi);
                const ptrdiff_t off = (ptrdiff_t) kj - (ptrdiff_t) g->p;
                for (size_t i = 0; i < nc; i++) {
                    T *xc = gx + i * chw + c * hw;
                    for (size_t oh = 0; oh < g->Ho; oh++, src += g->Wo) {
                        const ptrdiff_t ih = (ptrdiff_t) (oh * g->s + ki) - (ptrdiff_t) g->p;
                        if (ih < 0 || ih >= (ptrdiff_t) g->H)
                            continue;
                        T *row = xc + (size_t) ih * g->W;
                        if (g->s == 1)
                            for (size_t ow = lo; ow < hi; ow++)
                                row[(ptrdiff_t) ow + off] += src[ow];
                        else
                            for (size_t ow = lo; ow < hi; ow++)
                                row[(ptrdiff_t) (ow * g->s) + off] += src[ow];
                    }
                }
            }
}

/* Y [O, nc*P] (the GEMM's layout) from y [nc, O*P] (NCHW), and back with an optional bias. */
static void SFX(gather)(const conv_geom *g, const T *y, size_t nc, T *Y) {
    const size_t P = g->P, ld = nc * P;
    for (size_t i = 0; i < nc; i++)
        for (size_t o = 0; o < g->O; o++)
            memcpy(Y + o * ld + i * P, y + (i * g->O + o) * P, P * sizeof *Y);
}

static void SFX(scatter)(const conv_geom *g, const T *Y, const T *b, double bm, size_t nc, T *y,
                         int acc) {
    const size_t P = g->P, ld = nc * P;
    for (size_t i = 0; i < nc; i++)
        for (size_t o = 0; o < g->O; o++) {
            const T *src = Y + o * ld + i * P;
            T *dst = y + (i * g->O + o) * P;
            const T bo = b ? (T) bm * b[o] : (T) 0;
            if (acc)
                for (size_t q = 0; q < P; q++)
                    dst[q] += src[q] + bo;
            else
                for (size_t q = 0; q < P; q++)
                    dst[q] = src[q] + bo;
        }
}

/* The chunk buffers inside scr: col [K*nc*P], Y [O*nc*P], gcol [K*nc*P], after the bias sums'
 * O doubles (layer_conv.c's build() declares the size). */
#define CONV_COL(g, scr)  ((T *) (void *) ((scr) + (g)->O))
#define CONV_Y(g, scr)    (CONV_COL(g, scr) + (g)->K * (g)->nc * (g)->P)
#define CONV_GCOL(g, scr) (CONV_Y(g, scr) + (g)->O * (g)->nc * (g)->P)

/* y [n, O*P] = (acc ? y : 0) + wm conv(Wm, x) + bm b (b may be NULL). */
static void SFX(conv_fwd)(const conv_geom *g, const T *Wm, const T *b, double wm, double bm,
                          const T *x, T *y, size_t n, int acc, double *scr) {
    T *col = CONV_COL(g, scr), *Y = CONV_Y(g, scr);
    const size_t in = g->C * g->H * g->W, out = g->O * g->P;
    for (size_t i0 = 0; i0 < n; i0 += g->nc) {
        const size_t nc = n - i0 < g->nc ? n - i0 : g->nc, cols = nc * g->P;
        SFX(im2col)(g, x + i0 * in, nc, col);
        lm_blas_threads_for((double) g->O * (double) g->K * (double) cols);
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) g->O, (int) cols, (int) g->K, (T) wm,
             Wm, (int) g->K, col, (int) cols, (T) 0, Y, (int) cols);
        SFX(scatter)(g, Y, b, bm, nc, y + i0 * out, acc);
    }
}

/* gW [O, K] (= when beta == 0, += when 1) wm sum_i gy_i col(x)_i^T and, when gb is not NULL,
 * gb [O] (same beta) bm sum of gy over examples and pixels (in double in scr[0..O)). */
static void SFX(conv_grad_w)(const conv_geom *g, const T *gy, const T *x, double wm, double bm,
                             T *gW, T *gb, size_t n, int beta, double *scr) {
    T *col = CONV_COL(g, scr), *Y = CONV_Y(g, scr);
    const size_t in = g->C * g->H * g->W, out = g->O * g->P;
    for (size_t i0 = 0; i0 < n; i0 += g->nc) {
        const size_t nc = n - i0 < g->nc ? n - i0 : g->nc, cols = nc * g->P;
        SFX(im2col)(g, x + i0 * in, nc, col);
        SFX(gather)(g, gy + i0 * out, nc, Y);
        lm_blas_threads_for((double) g->O * (double) g->K * (double) cols);
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int) g->O, (int) g->K, (int) cols, (T) wm, Y,
             (int) cols, col, (int) cols, (T) (beta || i0 > 0), gW, (int) g->K);
    }
    if (gb) {
        for (size_t o = 0; o < g->O; o++)
            scr[o] = 0.0;
        for (size_t i = 0; i < n; i++)
            for (size_t o = 0; o < g->O; o++) {
                const T *r = gy + (i * g->O + o) * g->P;
                double s = 0.0;
                for (size_t q = 0; q < g->P; q++)
                    s += (double) r[q];
                scr[o] += s;
            }
        for (size_t o = 0; o < g->O; o++)
            gb[o] = (T) ((beta ? (double) gb[o] : 0.0) + bm * scr[o]);
    }
}

/* gx [n, C*H*W] (= when acc == 0, += when 1) wm col2im(Wm^T gy + Vm^T ry): the input gradient
 * of one or (with Vm, ry not NULL) two convolutions of the same input. */
static void SFX(conv_grad_x)(const conv_geom *g, const T *Wm, const T *gy, const T *Vm, const T *ry,
                             double wm, T *gx, size_t n, int acc, double *scr) {
    T *Y = CONV_Y(g, scr), *gcol = CONV_GCOL(g, scr);
    const size_t in = g->C * g->H * g->W, out = g->O * g->P;
    if (!acc)
        memset(gx, 0, n * in * sizeof *gx);
    for (size_t i0 = 0; i0 < n; i0 += g->nc) {
        const size_t nc = n - i0 < g->nc ? n - i0 : g->nc, cols = nc * g->P;
        lm_blas_threads_for((double) g->O * (double) g->K * (double) cols);
        SFX(gather)(g, gy + i0 * out, nc, Y);
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int) g->K, (int) cols, (int) g->O, (T) wm,
             Wm, (int) g->K, Y, (int) cols, (T) 0, gcol, (int) cols);
        if (Vm && ry) {
            SFX(gather)(g, ry + i0 * out, nc, Y);
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int) g->K, (int) cols, (int) g->O,
                 (T) wm, Vm, (int) g->K, Y, (int) cols, (T) 1, gcol, (int) cols);
        }
        SFX(col2im)(g, gcol, nc, gx + i0 * in);
    }
}

#undef CONV_COL
#undef CONV_Y
#undef CONV_GCOL
