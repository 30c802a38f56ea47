/*
 * dense_impl.h: the dense layer's products, written once and compiled per dtype: the MLP's
 * kernels (mlp_impl.h, mlp_f64.c) and the layer graph's linear layer (layer_linear.c) both call
 * them. Include after defining T, SFX(name) and GEMM. Row-major; W is [d_out, d_in]
 * (nn.Linear's layout), so z = x W^T:
 *   forward      y = wm x W^T + bm 1 b^T (+ y when beta = 1)
 *   grad_params  gW = wm gy^T x,  gb = bm sum_i gy[i, :]   (the sums in double)
 *   grad_input   gx = wm gy W (+ gx when beta = 1)
 */
#include <cblas.h>
#include <stddef.h>

/* y [n, d_out] = beta y + wm x W^T (+ bm b broadcast over rows when b is not NULL). */
static inline void SFX(dense_forward)(const T *W, const T *b, double wm, double bm, const T *x,
                                      T *y, size_t n, size_t d_in, size_t d_out, int beta) {
    if (b) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d_out; j++)
                y[i * d_out + j] = (beta ? y[i * d_out + j] : (T) 0) + (T) bm * b[j];
        beta = 1;
    }
    const int nd = (int) d_out, ni = (int) d_in;
    lm_blas_threads_for((double) ((int) n) * (double) (nd) * (double) (ni));
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int) n, nd, ni, (T) wm, x, ni, W, ni, (T) beta,
         y, nd);
}

/* gW [d_out, d_in] = beta gW + wm gy^T x; gb [d_out] (when not NULL) = beta gb + bm colsum(gy),
 * the column sums accumulated in double in acc [d_out] (n may be a whole training set). */
static inline void SFX(dense_grad_params)(const T *gy, const T *x, double wm, double bm, T *gW,
                                          T *gb, size_t n, size_t d_in, size_t d_out, int beta,
                                          double *acc) {
    const int nd = (int) d_out, ni = (int) d_in;
    lm_blas_threads_for((double) (nd) * (double) (ni) * (double) ((int) n));
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, nd, ni, (int) n, (T) wm, gy, nd, x, ni, (T) beta,
         gW, ni);
    if (gb) {
        for (size_t j = 0; j < d_out; j++)
            acc[j] = 0.0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d_out; j++)
                acc[j] += (double) gy[i * d_out + j];
        for (size_t j = 0; j < d_out; j++)
            gb[j] = (T) ((beta ? (double) gb[j] : 0.0) + bm * acc[j]);
    }
}

/* gx [n, d_in] = beta gx + wm gy W. */
static inline void SFX(dense_grad_input)(const T *gy, const T *W, double wm, T *gx, size_t n,
                                         size_t d_in, size_t d_out, int beta) {
    const int nd = (int) d_out, ni = (int) d_in;
    lm_blas_threads_for((double) ((int) n) * (double) (ni) * (double) (nd));
    GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) n, ni, nd, (T) wm, gy, nd, W, ni,
         (T) beta, gx, ni);
}
