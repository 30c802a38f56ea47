/*
 * attn_ops_impl.h: the attention layer's four calls (layer.h's forward, backward, jvp and
 * rbackward) over examples and heads, written once and compiled per dtype by layer_attn.c (T,
 * SFX and its ATTN_DIMS / XQ / XK / XV / YH macros defined); the per-head kernels are
 * attn_impl.h's. The double scratch holds a head's T x T blocks in the dtype T.
 */
#define SCRT(k) ((T *) (void *) scr + (size_t) (k) *len * len)
/* the per-head kernels of this dtype, named so the calls below read (and format) as calls */
#define HEAD_FORWARD   SFX(attn_head_forward)
#define HEAD_BACKWARD  SFX(attn_head_backward)
#define HEAD_JVP       SFX(attn_head_jvp)
#define HEAD_RBACKWARD SFX(attn_head_rbackward)

static void SFX(forward)(const lm__node *nd, const T *th, const T *x, T *y, size_t n, double *scr) {
    ATTN_DIMS;
    (void) th;
    for (size_t e = 0; e < n; e++)
        for (size_t h = 0; h < H; h++)
            HEAD_FORWARD(XQ(x), XK(x), XV(x), YH(y), len, dh, ld, d, s, SCRT(0));
}

static void SFX(backward)(const lm__node *nd, const T *th, const T *x, const T *y, const T *gy,
                          T *gx, int gx_acc, T *gth, size_t n, double *scr) {
    (void) th, (void) y, (void) gth;
    if (!gx)
        return;
    ATTN_DIMS;
    for (size_t e = 0; e < n; e++)
        for (size_t h = 0; h < H; h++)
            HEAD_BACKWARD(XQ(x), XK(x), XV(x), YH(gy), XQ(gx), XK(gx), XV(gx), gx_acc, len, dh, ld,
                          d, s, SCRT(0), SCRT(1));
}

static void SFX(jvp)(const lm__node *nd, const T *th, const T *vth, const T *x, const T *dx,
                     const T *y, T *dy, size_t n, double *scr) {
    (void) th, (void) vth, (void) y;
    if (!dx) {
        memset(dy, 0, n * nd->out_size * sizeof *dy);
        return;
    }
    ATTN_DIMS;
    for (size_t e = 0; e < n; e++)
        for (size_t h = 0; h < H; h++)
            HEAD_JVP(XQ(x), XK(x), XV(x), XQ(dx), XK(dx), XV(dx), YH(dy), len, dh, ld, d, s,
                     SCRT(0), SCRT(1));
}

static void SFX(rbackward)(const lm__node *nd, const T *th, const T *vth, const T *x, const T *dx,
                           const T *y, const T *dy, const T *gy, const T *rgy, T *rgx, int rgx_acc,
                           T *hth, size_t n, double *scr) {
    (void) th, (void) vth, (void) y, (void) dy, (void) hth;
    if (!rgx)
        return;
    ATTN_DIMS;
    for (size_t e = 0; e < n; e++)
        for (size_t h = 0; h < H; h++)
            HEAD_RBACKWARD(XQ(x), XK(x), XV(x), dx ? XQ(dx) : NULL, dx ? XK(dx) : NULL,
                           dx ? XV(dx) : NULL, YH(gy), YH(rgy), XQ(rgx), XK(rgx), XV(rgx), rgx_acc,
                           len, dh, ld, d, s, SCRT(0), SCRT(1), SCRT(2), SCRT(3));
}

#undef SCRT
#undef HEAD_FORWARD
#undef HEAD_BACKWARD
#undef HEAD_JVP
#undef HEAD_RBACKWARD
