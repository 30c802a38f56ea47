/*
 * act_vec_impl.h: the activations over arrays, written once and compiled per dtype: the MLP's
 * kernels (mlp_impl.h, mlp_f64.c) and the layer graph's activation layer (layer_act.c) call
 * them. Include after defining T, SFX(name) and VTANH. Each element is act_impl.h's phi, phi',
 * phi'' (the one definition), except the hot loops of identity, relu and tanh, and GELU's in
 * float32 (vmath's lm__gelu_f32 / lm__gelu_grad_f32: the same double expressions in vector lanes;
 * the transformer's MLPs made scalar erfc and exp ~29 % of its float32 training step).
 */
#ifndef SFX
#error "define T, SFX and VTANH before including act_vec_impl.h"
#endif
#include "model/act_impl.h"
#include "model/internal.h"

#include <string.h>

/* GELU elementwise: float32 arrays go to vmath's vector kernels (picked by _Generic on the
 * element type), float64 ones stay on the scalar definition (libm's erfc, < 1 ulp), so the
 * float64 path is exactly act_impl.h's. */
static inline void SFX(gelu_forward)(const T *z, T *a, size_t cnt) {
    for (size_t i = 0; i < cnt; i++)
        a[i] = (T) lm__act_phi(LM_ACT_GELU, (double) z[i]);
}

static inline void SFX(gelu_backward)(const T *z, const T *a, const T *g, T *out, size_t cnt) {
    for (size_t i = 0; i < cnt; i++)
        out[i] = (T) ((double) g[i] * lm__act_dphi(LM_ACT_GELU, (double) z[i], (double) a[i]));
}

#define ACT_GELU_FORWARD(z, a, cnt)                                                                \
    _Generic((z), const float * : lm__gelu_f32, default : SFX(gelu_forward))(z, a, cnt)
#define ACT_GELU_BACKWARD(z, a, g, out, cnt)                                                       \
    _Generic((z), const float *: lm__gelu_grad_f32, default: SFX(gelu_backward))(z, a, g, out, cnt)

/* phi applied elementwise: a = phi(z). identity, relu, tanh (vmath's vector tanh) and GELU (above)
 * are the hot paths and keep their own loops; every other activation is lm__act_phi (act_impl.h,
 * behind lm_act_phi), the one definition (tests/model/test_act.c checks the loops against it). */
static inline void SFX(act_forward)(lm_act act, const T *z, T *a, size_t cnt) {
    switch (act) {
    case LM_ACT_IDENTITY:
        if (a != z)
            memcpy(a, z, cnt * sizeof(T));
        break;
    case LM_ACT_RELU:
        for (size_t i = 0; i < cnt; i++)
            a[i] = z[i] > 0 ? z[i] : (T) 0;
        break;
    case LM_ACT_TANH:
        VTANH(z, a, cnt);
        break;
    case LM_ACT_GELU:
        ACT_GELU_FORWARD(z, a, cnt);
        break;
    default:
        for (size_t i = 0; i < cnt; i++)
            a[i] = (T) lm__act_phi(act, (double) z[i]);
        break;
    }
}

/* out = g (.) phi'(z); out may alias g. The same split: relu, tanh and GELU, else lm__act_dphi. */
static inline void SFX(act_backward)(lm_act act, const T *z, const T *a, const T *g, T *out,
                                     size_t cnt) {
    switch (act) {
    case LM_ACT_IDENTITY:
        if (out != g)
            memcpy(out, g, cnt * sizeof(T));
        break;
    case LM_ACT_RELU:
        for (size_t i = 0; i < cnt; i++)
            out[i] = z[i] > 0 ? g[i] : (T) 0;
        break;
    case LM_ACT_TANH:
        for (size_t i = 0; i < cnt; i++)
            out[i] = g[i] * ((T) 1 - a[i] * a[i]);
        break;
    case LM_ACT_GELU:
        ACT_GELU_BACKWARD(z, a, g, out, cnt);
        break;
    default:
        for (size_t i = 0; i < cnt; i++)
            out[i] = (T) ((double) g[i] * lm__act_dphi(act, (double) z[i], (double) a[i]));
        break;
    }
}

/* The R-operator of a = phi(z) (float64, and float32 R-passes): ra = phi'(z) (.) rz. */
static inline void SFX(act_rforward)(lm_act act, const T *z, const T *a, const T *rz, T *ra,
                                     size_t cnt) {
    if (act == LM_ACT_RELU) /* the hot path: phi' = [z > 0] */
        for (size_t i = 0; i < cnt; i++)
            ra[i] = z[i] > 0 ? rz[i] : (T) 0;
    else if (act == LM_ACT_IDENTITY)
        memcpy(ra, rz, cnt * sizeof *ra);
    else if (act == LM_ACT_GELU) /* phi'(z) (.) rz is the backward's product, with rz for g */
        ACT_GELU_BACKWARD(z, a, rz, ra, cnt);
    else
        for (size_t i = 0; i < cnt; i++)
            ra[i] = (T) (lm__act_dphi(act, (double) z[i], (double) a[i]) * (double) rz[i]);
}

/* R{gz} for gz = ga (.) phi'(z): rgz = rga (.) phi'(z) + ga (.) phi''(z) (.) rz. */
static inline void SFX(act_rbackward)(lm_act act, const T *z, const T *a, const T *ga, const T *rga,
                                      const T *rz, T *rgz, size_t cnt) {
    if (act == LM_ACT_RELU) {
        for (size_t i = 0; i < cnt; i++)
            rgz[i] = z[i] > 0 ? rga[i] : (T) 0;
    } else if (act == LM_ACT_IDENTITY) {
        memcpy(rgz, rga, cnt * sizeof *rgz);
    } else {
        for (size_t i = 0; i < cnt; i++)
            rgz[i] = (T) ((double) rga[i] * lm__act_dphi(act, (double) z[i], (double) a[i]) +
                          (double) ga[i] * lm__act_d2phi(act, (double) z[i], (double) a[i]) *
                              (double) rz[i]);
    }
}
