/*
 * layer_attn.c: the parameter-free core of causal multi-head self-attention. The qkv and output
 * projections are linear layers acting per position on either side; this layer maps one
 * example's [1, T, 3d] (position t: q = x[t*3d + 0..d), k = x[t*3d + d..2d), v = x[t*3d + 2d..3d),
 * head h using columns h*dh .. h*dh + dh of each, dh = d / H) to [1, T, d] with
 *   per head:  S = s Q K^T (T x T),  P = softmax of each row over the keys j <= i (causal),
 *              O = P V,  y[t*d + h*dh + c] = O[t, c].
 * This is PyTorch's q, k, v = qkv.split(d, -1), each .view(B, T, H, dh).transpose(1, 2),
 * F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=s), transposed back and viewed as
 * [B, T, d]. s = spec.scale when > 0, else 1/sqrt(dh) (resolved into nd->spec.scale by build).
 *
 * Workload: the GPT of issue 16 (d 128, 4 heads, T 64, batch 32) runs n*H = 128 heads of seven
 * T x T x dh products each per training step (two forward, five backward); every product is a
 * cblas GEMM on the head's columns of x (leading dimension 3d) and y (d), so nothing is copied,
 * split into causal row blocks (attn_impl.h). Measured there on one core of the shared build
 * machine: float32 forward ~1.3 ms and backward ~2.8 ms per layer; float64 forward 2.3, backward
 * 4.6, jvp 4.5, rbackward 9.3 ms. The layer is stateless: backward, jvp and rbackward recompute P
 * from x (one more GEMM and T^2/2 exps per head) in the node's scratch, 4 T^2 doubles (the float32
 * calls use it as float storage: 2 T^2 for forward and backward, 4 T^2 floats for rbackward).
 *
 * Derivatives (one example and head; rowsum(A)_i = Sum_j A_ij; (.) elementwise; masked entries
 * have P_ij = 0, so every formula below gives them 0 and they are never read).
 *   Softmax: P_ij = exp(S_ij) / Sum_k exp(S_ik), so dP_ij/dS_ik = P_ij (delta_jk - P_ik), a
 *   symmetric Jacobian J_i = diag(p_i) - p_i p_i^T; J_i a = p_i (.) (a - <p_i, a>) serves both the
 *   VJP (dS from dP) and the JVP (P-dot from S-dot): attn_softmax_jvp.
 *   backward, given dO = gy:
 *     O = P V        =>  dV = P^T dO,  dP = dO V^T
 *     P = sm(S)      =>  dS = P (.) (dP - rowsum(P (.) dP))
 *     S = s Q K^T    =>  dQ = s dS K,  dK = s dS^T Q.
 *   jvp along (Q', K', V') = dx's blocks:
 *     S' = s (Q' K^T + Q K'^T),  P' = P (.) (S' - rowsum(P (.) S')),  O' = P' V + P V'.
 *   rbackward: R{} of each backward output along dx with R{dO} = rgy. Write
 *   g = dP - r, r = rowsum(P (.) dP), so dS = P (.) g; then
 *     R{dP} = R{dO} V^T + dO V'^T
 *     R{r}  = rowsum(P' (.) dP + P (.) R{dP})
 *     R{dS} = P' (.) g + P (.) (R{dP} - R{r})       (the first term and P' (.) dP inside R{r}
 *                                                     are the softmax's second-order terms)
 *     R{dV} = P'^T dO + P^T R{dO}
 *     R{dQ} = s (R{dS} K + dS K'),  R{dK} = s (R{dS}^T Q + dS^T Q').
 *   Applying backward to rgy alone gives the terms with R{dO}; the others (P' V-coupling, dO V'^T,
 *   the P' terms in R{dS}, dS K', dS^T Q') are the second-order ones. Checked against finite
 *   differences in tests/model/test_attn.c. The per-head kernels of all four passes are
 * attn_impl.h's, compiled for double and float.
 */
#include "model/internal.h"
#include "model/layer.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#define T         double
#define SFX(name) name##_f64
#define GEMM      cblas_dgemm
#define VEXP      lm__exp_f64
#include "model/attn_impl.h"
#undef T
#undef SFX
#undef GEMM
#undef VEXP
#define T         float
#define SFX(name) name##_f32
#define GEMM      cblas_sgemm
#define VEXP      lm__exp_f32
#include "model/attn_impl.h"
#undef T
#undef SFX
#undef GEMM
#undef VEXP

static lm_status build(lm__node *nd, lm_err *err) {
    const size_t len = nd->in_shape[1], w = nd->in_shape[2], heads = nd->spec.heads;
    if (nd->in_shape[0] != 1)
        LM_FAIL(err, LM_ESHAPE,
                "%s (attention): its input is [%zu, %zu, %zu]; attention takes a sequence [1, T, "
                "3*d] (the output of a linear layer with out = 3*d_model on a sequence)",
                nd->where, nd->in_shape[0], nd->in_shape[1], nd->in_shape[2]);
    if (w == 0 || w % 3 != 0)
        LM_FAIL(err, LM_ESHAPE,
                "%s (attention): its input has %zu features per position; it must be 3*d (q, k "
                "and v of d features each)",
                nd->where, w);
    const size_t d = w / 3;
    if (heads == 0)
        LM_FAIL(err, LM_EINVAL, "%s (attention): \"heads\" = 0; it must be a positive number",
                nd->where);
    if (d % heads != 0)
        LM_FAIL(err, LM_EINVAL,
                "%s (attention): d = %zu (input %zu = 3*d) is not a multiple of \"heads\" = %zu",
                nd->where, d, w, heads);
    const double s = nd->spec.scale;
    if (!isfinite(s) || s < 0.0)
        LM_FAIL(err, LM_EINVAL,
                "%s (attention): \"scale\" = %g; it must be a finite number > 0 (0 or absent: "
                "1/sqrt(d_head))",
                nd->where, s);
    if (len == 0 || len > (size_t) INT_MAX / len || w > (size_t) INT_MAX)
        LM_FAIL(err, LM_ESHAPE, "%s (attention): a sequence of %zu positions of %zu is too large",
                nd->where, len, w);
    if (s == 0.0)
        nd->spec.scale = 1.0 / sqrt((double) (d / heads));
    nd->out_shape[0] = 1;
    nd->out_shape[1] = len;
    nd->out_shape[2] = d;
    nd->n_tensors = 0;
    nd->fan_in = 0;
    nd->scratch_per_ex = 0;
    nd->scratch_fixed = 4 * len * len; /* P, G, P', R{dP} of one head */
    return LM_OK;
}

/* The dimensions and, per (example e, head h), the head's blocks of x [n, len, 3d] and of an
 * output-shaped buffer [n, len, d]. */
#define ATTN_DIMS                                                                                  \
    const size_t len = nd->in_shape[1], d = nd->out_shape[2], H = nd->spec.heads, dh = d / H,      \
                 ld = 3 * d;                                                                       \
    const double s = nd->spec.scale;                                                               \
    lm_blas_threads_for((double) (ATTN_BLOCK * len * dh)) /* the largest GEMM's multiply-adds */
#define XQ(buf) ((buf) + e * len * ld + h * dh)
#define XK(buf) (XQ(buf) + d)
#define XV(buf) (XQ(buf) + 2 * d)
#define YH(buf) ((buf) + e * len * d + h * dh)

#define T         double
#define SFX(name) name##_f64
#include "model/attn_ops_impl.h"
#undef T
#undef SFX
#define T         float
#define SFX(name) name##_f32
#include "model/attn_ops_impl.h"
#undef T
#undef SFX

const lm__layer_ops lm__layer_attention = {
    .type = LM_LAYER_ATTENTION,
    .build = build,
    .forward_f64 = forward_f64,
    .backward_f64 = backward_f64,
    .jvp_f64 = jvp_f64,
    .rbackward_f64 = rbackward_f64,
    .forward_f32 = forward_f32,
    .backward_f32 = backward_f32,
    .jvp_f32 = jvp_f32,
    .rbackward_f32 = rbackward_f32,
};
