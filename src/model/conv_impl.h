/*
 * conv_impl.h: the conv2d layer's products (layer_conv.c), written once and compiled per dtype.
 * Include after defining T, SFX(name) and GEMM, with conv_geom (layer_conv.c) in scope.
 *
 * Layout (one example): x [C, H, W], y [O, Ho, Wo], the weight [O, C, k, k] seen as the matrix
 * Wm [O, K] with K = C*k*k (row r = (c*k + ki)*k + kj). A chunk of nc examples is unfolded into
 * the column matrix col [K, nc*P] (P = Ho*Wo; column i*P + oh*Wo + ow holds the receptive field
 * of output pixel (oh, ow) of example i, zeros where it overhangs the padding), so the whole
 * chunk is ONE GEMM: Y [O, nc*P] = wm Wm col. Y's rows hold channel o of every example in turn,
 * so y (NCHW) is Y with its [nc, P] blocks regrouped: nc*O copies of P numbers; for nc = 1 Y is
 * y's own layout, and the GEMM reads and writes y (and gy) in place.
 *
 *   conv_fwd      y (= or +=) wm conv(Wm, x) + bm b
 *   conv_grad_w   gW (= or +=) wm sum_i gy_i col_i^T;  gb (= or +=) bm sum gy   (sums in double)
 *   conv_grad_x   gx (= or +=) wm col2im(Wm^T gy)  (two weights: Wm^T gy + Vm^T ry)
 *   conv_grad_gap backward's gW, gb and gx in one pass (gap layout only)
 * Every call walks the batch in chunks of g->nc examples so the scratch stays bounded. With
 * g->gap (layer_conv.c) the gradients run in the gap layout: col [K, gap_cols(nc)] from
 * im2col_gap, gy through gap_from, gx through col2im_gap; the forward always uses im2col.
 */
#include <cblas.h>
#include <stddef.h>
#include <string.h>

/* d[0..len) = s[0..len) for the short rows of a feature map (14-28 numbers): blocks of 8
 * through a local copy (one vector load and store each; the copy makes them safe whatever the
 * compiler assumes about d and s), the last block overlapping the one before when len is not a
 * multiple of 8 (a copy may write an element twice). A plain loop of 14 runs scalar under
 * AVX-512 (its vectors hold 16 floats). */
static inline void SFX(copy_row)(T *d, const T *s, size_t len) {
    T t[8];
    if (len < 8) {
        for (size_t j = 0; j < len; j++)
            d[j] = s[j];
        return;
    }
    for (size_t j = 0;; j += 8) {
        if (j + 8 > len)
            j = len - 8;
        for (size_t u = 0; u < 8; u++)
            t[u] = s[j + u];
        for (size_t u = 0; u < 8; u++)
            d[j + u] = t[u];
        if (j + 8 == len)
            break;
    }
}

/* d[0..len) += s[0..len): blocks of 8, then of 4, through local copies as copy_row (an add
 * cannot overlap blocks). */
static inline void SFX(add_row)(T *d, const T *s, size_t len) {
    T a[8], b[8];
    size_t j = 0;
    for (; j + 8 <= len; j += 8) {
        for (size_t u = 0; u < 8; u++)
            a[u] = d[j + u], b[u] = s[j + u];
        for (size_t u = 0; u < 8; u++)
            d[j + u] = a[u] + b[u];
    }
    if (j + 4 <= len) {
        for (size_t u = 0; u < 4; u++)
            a[u] = d[j + u], b[u] = s[j + u];
        for (size_t u = 0; u < 4; u++)
            d[j + u] = a[u] + b[u];
        j += 4;
    }
    for (; j < len; j++)
        d[j] += s[j];
}

/* col [K, nc*P] = the receptive fields of nc examples x [nc, C*H*W]. Each input plane is first
 * copied into the middle of pad [Hp, Wp] (zero borders: the padding), so every tap (ki, kj) of
 * output pixel (oh, ow) reads pad[(oh*s + ki)*Wp + ow*s + kj] with no bounds test: rows of the
 * maps here are short (14-28 numbers), and per-row bounds and zero fills cost more than the
 * copies. */
static void SFX(im2col)(const conv_geom *g, const T *x, size_t nc, T *col, T *pad) {
    const size_t ldc = nc * g->P, hw = g->H * g->W, chw = g->C * hw, Wp = g->Wp;
    const size_t Ho = g->Ho, Wo = g->Wo, s = g->s;
    if (g->p)
        memset(pad, 0, g->Hp * Wp * sizeof *pad);
    for (size_t i = 0; i < nc; i++)
        for (size_t c = 0; c < g->C; c++) {
            const T *xc = x + i * chw + c * hw, *base = xc;
            if (g->p) {
                for (size_t h = 0; h < g->H; h++)
                    SFX(copy_row)(pad + (h + g->p) * Wp + g->p, xc + h * g->W, g->W);
                base = pad;
            }
            for (size_t ki = 0; ki < g->k; ki++)
                for (size_t kj = 0; kj < g->k; kj++) {
                    T *dst = col + ((c * g->k + ki) * g->k + kj) * ldc + i * g->P;
                    const T *src = base + ki * Wp + kj;
                    if (s == 1)
                        for (size_t oh = 0; oh < Ho; oh++)
                            SFX(copy_row)(dst + oh * Wo, src + oh * Wp, Wo);
                    else
                        for (size_t oh = 0; oh < Ho; oh++)
                            for (size_t ow = 0; ow < Wo; ow++)
                                dst[oh * Wo + ow] = src[oh * s * Wp + ow * s];
                }
        }
}

/* gx [nc, C*H*W] (= when acc == 0, += when 1) the adjoint of im2col applied to gcol [K, nc*P]:
 * each plane's taps are added into pad (overlapping receptive fields add up), whose middle is
 * then gx's plane (the border, the padding, is dropped). */
static void SFX(col2im)(const conv_geom *g, const T *gcol, size_t nc, T *gx, int acc, T *pad) {
    const size_t ldc = nc * g->P, hw = g->H * g->W, chw = g->C * hw, Wp = g->Wp;
    const size_t Ho = g->Ho, Wo = g->Wo, s = g->s;
    for (size_t i = 0; i < nc; i++)
        for (size_t c = 0; c < g->C; c++) {
            memset(pad, 0, g->Hp * Wp * sizeof *pad);
            for (size_t ki = 0; ki < g->k; ki++)
                for (size_t kj = 0; kj < g->k; kj++) {
                    const T *src = gcol + ((c * g->k + ki) * g->k + kj) * ldc + i * g->P;
                    T *dst = pad + ki * Wp + kj;
                    if (s == 1)
                        for (size_t oh = 0; oh < Ho; oh++)
                            SFX(add_row)(dst + oh * Wp, src + oh * Wo, Wo);
                    else
                        for (size_t oh = 0; oh < Ho; oh++)
                            for (size_t ow = 0; ow < Wo; ow++)
                                dst[oh * s * Wp + ow * s] += src[oh * Wo + ow];
                }
            T *xc = gx + i * chw + c * hw;
            for (size_t h = 0; h < g->H; h++) {
                const T *r = pad + (h + g->p) * Wp + g->p;
                T *d = xc + h * g->W;
                if (acc)
                    SFX(add_row)(d, r, g->W);
                else
                    SFX(copy_row)(d, r, g->W);
            }
        }
}

/* ---------------------------------------------------------------- the gap layout (stride 1)
 * layer_conv.c describes it (gap_cols, gap_len): col [K, Nc] with Nc = gap_cols(nc) columns, one
 * run per channel in xg (C runs of gap_len(nc) numbers). */

/* col [K, Nc] from nc examples x [nc, C*H*W]: each channel's rows copied into its zeroed run,
 * then each row of col is one copy of Nc numbers from the run, shifted by ki*G + kj. */
static void SFX(im2col_gap)(const conv_geom *g, const T *x, size_t nc, T *col, T *xg) {
    const size_t L = gap_len(g, nc), Nc = gap_cols(g, nc), hw = g->H * g->W;
    const size_t base = g->p * g->G + g->p;
    memset(xg, 0, g->C * L * sizeof *xg);
    for (size_t i = 0; i < nc; i++)
        for (size_t c = 0; c < g->C; c++)
            for (size_t h = 0; h < g->H; h++)
                SFX(copy_row)
    (xg + c * L + base + (i * g->R + h) * g->G, x + (i * g->C + c) * hw + h * g->W, g->W);
    for (size_t c = 0; c < g->C; c++)
        for (size_t ki = 0; ki < g->k; ki++)
            for (size_t kj = 0; kj < g->k; kj++)
                memcpy(col + ((c * g->k + ki) * g->k + kj) * Nc, xg + c * L + ki * g->G + kj,
                       Nc * sizeof *col);
}

/* gx [nc, C*H*W] (= when acc == 0, += when 1) the adjoint of im2col_gap applied to gcol [K, Nc]:
 * each row of gcol added into its channel's zeroed run as one run (shifted by ki*G + kj), then
 * the image pixels of the run are gx's. The gap columns of gcol must hold zeros (they are
 * W^T times the zero gap columns of gap_from), since a run's shifted rows put them on pixels
 * too. */
static void SFX(col2im_gap)(const conv_geom *g, const T *gcol, size_t nc, T *gx, int acc, T *xg) {
    const size_t L = gap_len(g, nc), Nc = gap_cols(g, nc), hw = g->H * g->W;
    const size_t base = g->p * g->G + g->p;
    memset(xg, 0, g->C * L * sizeof *xg);
    for (size_t c = 0; c < g->C; c++)
        for (size_t ki = 0; ki < g->k; ki++)
            for (size_t kj = 0; kj < g->k; kj++) {
                const T *src = gcol + ((c * g->k + ki) * g->k + kj) * Nc;
                T *dst = xg + c * L + ki * g->G + kj;
                for (size_t j = 0; j < Nc; j++)
                    dst[j] += src[j];
            }
    for (size_t i = 0; i < nc; i++)
        for (size_t c = 0; c < g->C; c++)
            for (size_t h = 0; h < g->H; h++) {
                const T *r = xg + c * L + base + (i * g->R + h) * g->G;
                T *d = gx + (i * g->C + c) * hw + h * g->W;
                if (acc)
                    SFX(add_row)(d, r, g->W);
                else
                    SFX(copy_row)(d, r, g->W);
            }
}

/* Y [O, Nc] (gap layout, zeros in the gap columns) from y [nc, O*P] (NCHW). */
static void SFX(gap_from)(const conv_geom *g, const T *y, size_t nc, T *Y) {
    const size_t Nc = gap_cols(g, nc);
    memset(Y, 0, g->O * Nc * sizeof *Y);
    for (size_t i = 0; i < nc; i++)
        for (size_t o = 0; o < g->O; o++)
            for (size_t oh = 0; oh < g->Ho; oh++)
                SFX(copy_row)
    (Y + o * Nc + (i * g->R + oh) * g->G, y + (i * g->O + o) * g->P + oh * g->Wo, g->Wo);
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

/* sum of r[0..len) in double: eight interleaved partial sums (a fixed order, so the result is
 * reproducible) that the compiler keeps in one vector register, where one running sum would
 * wait on each addition's latency. */
static inline double SFX(sum_d)(const T *r, size_t len) {
    double acc[8] = {0};
    size_t q = 0;
    for (; q + 8 <= len; q += 8)
        for (size_t j = 0; j < 8; j++)
            acc[j] += (double) r[q + j];
    double s = 0.0;
    for (; q < len; q++)
        s += (double) r[q];
    for (size_t j = 0; j < 8; j++)
        s += acc[j];
    return s;
}

/* The buffers inside scr, after the bias sums' O doubles: pad [padsz] (one padded plane, or the
 * gap layout's C runs), then one chunk's col [K*ncol], Y [O*ncol], gcol [K*ncol] (ncol = nc*P,
 * or gap_cols(nc)), then gWT [K*O] (conv_grad_gap's transposed weight gradient; layer_conv.c's
 * build() declares the size). */
#define CONV_PAD(g, scr)  ((T *) (void *) ((scr) + (g)->O))
#define CONV_COL(g, scr)  (CONV_PAD(g, scr) + (g)->padsz)
#define CONV_Y(g, scr)    (CONV_COL(g, scr) + (g)->K * (g)->ncol)
#define CONV_GCOL(g, scr) (CONV_Y(g, scr) + (g)->O * (g)->ncol)
#define CONV_GWT(g, scr)  (CONV_GCOL(g, scr) + (g)->K * (g)->ncol)

/* y [n, O*P] = (acc ? y : 0) + wm conv(Wm, x) + bm b (b may be NULL). */
static void SFX(conv_fwd)(const conv_geom *g, const T *Wm, const T *b, double wm, double bm,
                          const T *x, T *y, size_t n, int acc, double *scr) {
    T *col = CONV_COL(g, scr), *Y = CONV_Y(g, scr);
    const size_t in = g->C * g->H * g->W, out = g->O * g->P;
    for (size_t i0 = 0; i0 < n; i0 += g->nc) {
        const size_t nc = n - i0 < g->nc ? n - i0 : g->nc, cols = nc * g->P;
        SFX(im2col)(g, x + i0 * in, nc, col, CONV_PAD(g, scr));
        lm_blas_threads_for((double) g->O * (double) g->K * (double) cols);
        if (nc > 1) {
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) g->O, (int) cols, (int) g->K,
                 (T) wm, Wm, (int) g->K, col, (int) cols, (T) 0, Y, (int) cols);
            SFX(scatter)(g, Y, b, bm, nc, y + i0 * out, acc);
            continue;
        }
        /* one example: Y's layout is y's, so the GEMM writes y (after the bias) directly */
        T *yi = y + i0 * out;
        int beta = acc;
        if (b) {
            for (size_t o = 0; o < g->O; o++) {
                const T bo = (T) bm * b[o];
                T *r = yi + o * g->P;
                if (acc)
                    for (size_t q = 0; q < g->P; q++)
                        r[q] += bo;
                else
                    for (size_t q = 0; q < g->P; q++)
                        r[q] = (T) 0 + bo;
            }
            beta = 1;
        }
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) g->O, (int) cols, (int) g->K, (T) wm,
             Wm, (int) g->K, col, (int) cols, (T) beta, yi, (int) cols);
    }
}

/* gb [O] (= when beta == 0, += when 1) bm times the sum of gy over examples and pixels, summed
 * in double in scr[0..O). */
static void SFX(conv_grad_b)(const conv_geom *g, const T *gy, double bm, T *gb, size_t n, int beta,
                             double *scr) {
    for (size_t o = 0; o < g->O; o++)
        scr[o] = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t o = 0; o < g->O; o++)
            scr[o] += SFX(sum_d)(gy + (i * g->O + o) * g->P, g->P);
    for (size_t o = 0; o < g->O; o++)
        gb[o] = (T) ((beta ? (double) gb[o] : 0.0) + bm * scr[o]);
}

/* gW [O, K] (= when beta == 0, += when 1) wm sum_i gy_i col(x)_i^T and, when gb is not NULL,
 * gb [O] (same beta) bm sum of gy over examples and pixels (in double in scr[0..O)). */
static void SFX(conv_grad_w)(const conv_geom *g, const T *gy, const T *x, double wm, double bm,
                             T *gW, T *gb, size_t n, int beta, double *scr) {
    T *col = CONV_COL(g, scr), *Y = CONV_Y(g, scr);
    const size_t in = g->C * g->H * g->W, out = g->O * g->P;
    for (size_t i0 = 0; i0 < n; i0 += g->nc) {
        const size_t nc = n - i0 < g->nc ? n - i0 : g->nc, cols = nc * g->P;
        if (g->gap) {
            const size_t Nc = gap_cols(g, nc);
            SFX(im2col_gap)(g, x + i0 * in, nc, col, CONV_PAD(g, scr));
            SFX(gap_from)(g, gy + i0 * out, nc, Y);
            lm_blas_threads_for((double) g->O * (double) g->K * (double) Nc);
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int) g->O, (int) g->K, (int) Nc, (T) wm,
                 Y, (int) Nc, col, (int) Nc, (T) (beta || i0 > 0), gW, (int) g->K);
            continue;
        }
        SFX(im2col)(g, x + i0 * in, nc, col, CONV_PAD(g, scr));
        const T *gY = gy + i0 * out; /* one example: already in Y's layout */
        if (nc > 1) {
            SFX(gather)(g, gY, nc, Y);
            gY = Y;
        }
        lm_blas_threads_for((double) g->O * (double) g->K * (double) cols);
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int) g->O, (int) g->K, (int) cols, (T) wm,
             gY, (int) cols, col, (int) cols, (T) (beta || i0 > 0), gW, (int) g->K);
    }
    if (gb)
        SFX(conv_grad_b)(g, gy, bm, gb, n, beta, scr);
}

/* gx [n, C*H*W] (= when acc == 0, += when 1) wm col2im(Wm^T gy + Vm^T ry): the input gradient
 * of one or (with Vm, ry not NULL) two convolutions of the same input. */
static void SFX(conv_grad_x)(const conv_geom *g, const T *Wm, const T *gy, const T *Vm, const T *ry,
                             double wm, T *gx, size_t n, int acc, double *scr) {
    T *Y = CONV_Y(g, scr), *gcol = CONV_GCOL(g, scr);
    const size_t in = g->C * g->H * g->W, out = g->O * g->P;
    for (size_t i0 = 0; i0 < n; i0 += g->nc) {
        const size_t nc = n - i0 < g->nc ? n - i0 : g->nc, cols = nc * g->P;
        if (g->gap) {
            const size_t Nc = gap_cols(g, nc);
            lm_blas_threads_for((double) g->O * (double) g->K * (double) Nc);
            SFX(gap_from)(g, gy + i0 * out, nc, Y);
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int) g->K, (int) Nc, (int) g->O, (T) wm,
                 Wm, (int) g->K, Y, (int) Nc, (T) 0, gcol, (int) Nc);
            if (Vm && ry) {
                SFX(gap_from)(g, ry + i0 * out, nc, Y);
                GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int) g->K, (int) Nc, (int) g->O,
                     (T) wm, Vm, (int) g->K, Y, (int) Nc, (T) 1, gcol, (int) Nc);
            }
            SFX(col2im_gap)(g, gcol, nc, gx + i0 * in, acc, CONV_PAD(g, scr));
            continue;
        }
        lm_blas_threads_for((double) g->O * (double) g->K * (double) cols);
        const T *gY = gy + i0 * out; /* one example: already in Y's layout */
        if (nc > 1) {
            SFX(gather)(g, gY, nc, Y);
            gY = Y;
        }
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int) g->K, (int) cols, (int) g->O, (T) wm,
             Wm, (int) g->K, gY, (int) cols, (T) 0, gcol, (int) cols);
        if (Vm && ry) {
            const T *rY = ry + i0 * out;
            if (nc > 1) {
                SFX(gather)(g, rY, nc, Y);
                rY = Y;
            }
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int) g->K, (int) cols, (int) g->O,
                 (T) wm, Vm, (int) g->K, rY, (int) cols, (T) 1, gcol, (int) cols);
        }
        SFX(col2im)(g, gcol, nc, gx + i0 * in, acc, CONV_PAD(g, scr));
    }
}

/* The whole backward of a gap-layout conv (g->gap) in one pass over the chunks, the products of
 * conv_grad_w and conv_grad_x: gW, gb (overwritten; gb may be NULL) and gx (= when acc == 0,
 * += when 1), gy's gap-layout copy made once per chunk for both GEMMs. The weight gradient is
 * summed transposed, gW^T [K, O] = wm sum col Y^T, and transposed once at the end: OpenBLAS runs
 * that [K, O] = [K, Nc] [Nc, O] product faster than [O, K] = [O, Nc] [Nc, K] (measured, the 16 ->
 * 32 conv of bench/cnn.sh, batch 128, float32: 3.3 -> 2.9 ms). */
static void SFX(conv_grad_gap)(const conv_geom *g, const T *Wm, const T *gy, const T *x, double wm,
                               double bm, T *gW, T *gb, T *gx, size_t n, int acc, double *scr) {
    T *col = CONV_COL(g, scr), *Y = CONV_Y(g, scr), *gcol = CONV_GCOL(g, scr),
      *gWT = CONV_GWT(g, scr);
    const size_t in = g->C * g->H * g->W, out = g->O * g->P;
    for (size_t i0 = 0; i0 < n; i0 += g->nc) {
        const size_t nc = n - i0 < g->nc ? n - i0 : g->nc, Nc = gap_cols(g, nc);
        SFX(im2col_gap)(g, x + i0 * in, nc, col, CONV_PAD(g, scr));
        SFX(gap_from)(g, gy + i0 * out, nc, Y);
        lm_blas_threads_for((double) g->O * (double) g->K * (double) Nc);
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int) g->K, (int) g->O, (int) Nc, (T) wm, col,
             (int) Nc, Y, (int) Nc, (T) (i0 > 0), gWT, (int) g->O);
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int) g->K, (int) Nc, (int) g->O, (T) wm, Wm,
             (int) g->K, Y, (int) Nc, (T) 0, gcol, (int) Nc);
        SFX(col2im_gap)(g, gcol, nc, gx + i0 * in, acc, CONV_PAD(g, scr));
    }
    for (size_t o = 0; o < g->O; o++)
        for (size_t r = 0; r < g->K; r++)
            gW[o * g->K + r] = gWT[r * g->O + o];
    if (gb)
        SFX(conv_grad_b)(g, gy, bm, gb, n, 0, scr);
}

#undef CONV_GWT
#undef CONV_PAD
#undef CONV_COL
#undef CONV_Y
#undef CONV_GCOL
