/*
 * layer_norm.c: layer normalisation, nn.LayerNorm(d, eps, elementwise_affine=True), over the d
 * features of a [d] ([d, 1, 1]) input, or of every position of a sequence [1, T, d] (each of
 * the T rows normalised alone, as nn.LayerNorm(d) on [B, T, d]); an image [C, H, W] with H*W > 1
 * must be flattened first.
 * Parameters, in order: the gain gamma [d] (kind LM_TENSOR_GAIN, "weight", starts at 1) and the
 * bias beta [d] ("bias", starts at 0); no weight matrix, so nd->fan_in = 0 (graph.c treats both
 * as vector-like). Per example (one row of d features):
 *   mu = mean(x),  var = mean((x - mu)^2) (biased, as PyTorch),  sigma = sqrt(var + eps),
 *   xhat = (x - mu) / sigma,  y = gamma (.) xhat + beta.
 * Every sum is in double; the float32 path converts a row to double, runs the same row kernels
 * and rounds the result (one source per formula).
 *
 * Derivatives (per row; mean() over the d features; Sum_n over the batch).
 *   The one Jacobian everything uses: dsigma/dx_j = (x_j - mu)/(d sigma) = xhat_j/d (eps sits
 *   inside sigma, so this is exact with eps), hence
 *     dxhat_i/dx_j = (delta_ij - 1/d)/sigma - (x_i - mu)/sigma^2 * xhat_j/d
 *                  = (1/sigma) (delta_ij - 1/d - xhat_i xhat_j / d).
 *   backward, with ghat = gamma (.) gy:
 *     g_gamma = Sum_n gy (.) xhat,   g_beta = Sum_n gy,
 *     gx = (dxhat/dx)^T ghat = (1/sigma) (ghat - mean(ghat) - xhat mean(ghat (.) xhat)).
 *   jvp along (vgamma, vbeta, dx):
 *     R{xhat} = (dx - mean(dx) - xhat a)/sigma  with  a = mean(xhat (.) dx),
 *     dy = vgamma (.) xhat + vbeta + gamma (.) R{xhat}.
 *   rbackward: R{} of each backward output along (vgamma, vbeta, dx) with R{gy} = rgy.
 *     R{var} = 2 mean((x - mu)(dx - mean(dx))) = 2 mean((x - mu) dx) = 2 sigma a, so
 *     R{sigma} = R{var}/(2 sigma) = a  and  R{1/sigma} = -a/sigma^2.
 *     R{ghat} = vgamma (.) gy + gamma (.) rgy                   (the gamma-gy coupling)
 *     R{g_gamma} = Sum_n (rgy (.) xhat + gy (.) R{xhat})        (the gamma-xhat coupling)
 *     R{g_beta}  = Sum_n rgy                                    (g_beta is linear in gy)
 *     Write gx = (1/sigma) B with B = ghat - m1 - xhat m2, m1 = mean(ghat),
 *     m2 = mean(ghat (.) xhat); then R{m1} = mean(R{ghat}),
 *     R{m2} = mean(R{ghat} (.) xhat + ghat (.) R{xhat}) and
 *     R{gx} = R{1/sigma} B + (1/sigma) R{B}
 *           = -(a/sigma) gx + (1/sigma) (R{ghat} - R{m1} - R{xhat} m2 - xhat R{m2}).
 *   The second-order terms (beyond applying backward to rgy) are: vgamma (.) gy inside R{ghat}
 *   (parameter-input coupling), gy (.) R{xhat} in R{g_gamma}, and in R{gx} the -(a/sigma) gx,
 *   -R{xhat} m2 and -xhat mean(ghat (.) R{xhat}) terms (curvature through mu and sigma).
 *   Checked against finite differences in tests/model/test_layernorm.c.
 */
#include "model/layer.h"

#include <math.h>
#include <string.h>

#define LN_EPS_DEFAULT 1e-5 /* PyTorch's nn.LayerNorm default */

/* Scratch (doubles, nd->scratch_fixed = LN_SCR * d): rows of d each. */
enum {
    R_X,
    R_GY,
    R_OUT,
    R_XHAT,
    R_GHAT,
    R_RXH,
    R_RGHAT,
    R_GAM,
    R_BETA,
    R_ACCG,
    R_ACCB,
    R_DX, /* float32 R-passes: the row's tangent, R{gy}, the parameter tangents */
    R_RGY,
    R_VGAM,
    R_VBETA,
    R_RGX, /* the R-backward's R{gx} row */
    LN_SCR
};

static lm_status build(lm__node *nd, lm_err *err) {
    if (!nd->seq && (nd->in_shape[1] != 1 || nd->in_shape[2] != 1))
        LM_FAIL(err, LM_ESHAPE,
                "%s (layernorm): its input is [%zu, %zu, %zu]; layer norm normalises a feature "
                "vector [d]: flatten first (put a {\"type\": \"flatten\"} before it)",
                nd->where, nd->in_shape[0], nd->in_shape[1], nd->in_shape[2]);
    const double eps = nd->spec.eps;
    if (!isfinite(eps) || eps < 0.0)
        LM_FAIL(err, LM_EINVAL,
                "%s (layernorm): \"eps\" = %g; it must be a finite number > 0 (0 or absent: "
                "1e-5)",
                nd->where, eps);
    if (eps == 0.0)
        nd->spec.eps = LN_EPS_DEFAULT;
    const size_t d = nd->seq ? nd->in_shape[2] : nd->in_shape[0];
    nd->rows = nd->seq ? nd->in_shape[1] : 1; /* a sequence: every position is normalised */
    memcpy(nd->out_shape, nd->in_shape, sizeof nd->out_shape);
    nd->n_tensors = 2;
    nd->kind[0] = LM_TENSOR_GAIN;
    nd->kind[1] = LM_TENSOR_BIAS;
    nd->tndim[0] = nd->tndim[1] = 1;
    nd->tshape[0][0] = nd->tshape[1][0] = d;
    nd->fan_in = 0;
    nd->scratch_fixed = LN_SCR * d;
    return LM_OK;
}

/* ---------------------------------------------------------------- row kernels (double) */

/* mu and 1/sigma of one row, two passes. */
static void row_stats(const double *x, size_t d, double eps, double *mu, double *rs) {
    double s = 0.0;
    for (size_t i = 0; i < d; i++)
        s += x[i];
    const double m = s / (double) d;
    double v = 0.0;
    for (size_t i = 0; i < d; i++)
        v += (x[i] - m) * (x[i] - m);
    *mu = m;
    *rs = 1.0 / sqrt(v / (double) d + eps);
}

/* xh = xhat of row x; returns 1/sigma. */
static double row_xhat(const double *x, size_t d, double eps, double *xh) {
    double mu, rs;
    row_stats(x, d, eps, &mu, &rs);
    for (size_t i = 0; i < d; i++)
        xh[i] = (x[i] - mu) * rs;
    return rs;
}

/* y = gamma (.) xhat + beta. */
static void row_forward(const double *x, const double *gam, const double *beta, double *y, size_t d,
                        double eps, double *xh) {
    row_xhat(x, d, eps, xh);
    for (size_t i = 0; i < d; i++)
        y[i] = gam[i] * xh[i] + beta[i];
}

/* gx = (1/sigma)(ghat - m1 - xhat m2); accg += gy (.) xhat, accb += gy. xh, gh: rows of scratch
 * (left holding xhat and ghat). */
static void row_backward(const double *x, const double *gy, const double *gam, double *gx,
                         double *accg, double *accb, size_t d, double eps, double *xh, double *gh) {
    const double rs = row_xhat(x, d, eps, xh);
    double m1 = 0.0, m2 = 0.0;
    for (size_t i = 0; i < d; i++) {
        gh[i] = gam[i] * gy[i];
        m1 += gh[i];
        m2 += gh[i] * xh[i];
        accg[i] += gy[i] * xh[i];
        accb[i] += gy[i];
    }
    m1 /= (double) d;
    m2 /= (double) d;
    for (size_t i = 0; i < d; i++)
        gx[i] = rs * (gh[i] - m1 - xh[i] * m2);
}

/* R{xhat} = (dx - mean(dx) - xhat a)/sigma into rxh; returns a = mean(xhat (.) dx) = R{sigma}.
 * dx NULL: zero. */
static double row_rxhat(const double *xh, const double *dx, double rs, size_t d, double *rxh) {
    if (!dx) {
        memset(rxh, 0, d * sizeof *rxh);
        return 0.0;
    }
    double md = 0.0, a = 0.0;
    for (size_t i = 0; i < d; i++) {
        md += dx[i];
        a += xh[i] * dx[i];
    }
    md /= (double) d;
    a /= (double) d;
    for (size_t i = 0; i < d; i++)
        rxh[i] = rs * (dx[i] - md - xh[i] * a);
    return a;
}

/* dy = vgamma (.) xhat + vbeta + gamma (.) R{xhat} for one row (vgam, vbeta NULL: no parameter
 * tangent; dx NULL: the input does not move). xh, rxh: rows of scratch. */
static void row_jvp(const double *x, const double *dx, const double *gam, const double *vgam,
                    const double *vbeta, double *dy, size_t d, double eps, double *xh,
                    double *rxh) {
    const double rs = row_xhat(x, d, eps, xh);
    row_rxhat(xh, dx, rs, d, rxh);
    for (size_t i = 0; i < d; i++)
        dy[i] = gam[i] * rxh[i] + (vgam ? vgam[i] * xh[i] + vbeta[i] : 0.0);
}

/* ---------------------------------------------------------------- float64 */

#define LN_DIMS                                                                                    \
    const size_t d = nd->tshape[0][0];                                                             \
    const double eps = nd->spec.eps;                                                               \
    n *= nd->rows
#define ROW(k) (scr + (size_t) (k) *d)

/* One row of the R-backward (the derivation at the top): haccg += R{g_gamma}, haccb +=
 * R{g_beta}; rgx (when not NULL) = R{gx} (overwritten). vgam NULL: no parameter tangent. scr:
 * the node's scratch (rows R_XHAT, R_GHAT, R_RXH, R_RGHAT, R_OUT used). */
static void row_rbackward(const double *x, const double *dx, const double *gyr, const double *rgyr,
                          const double *gam, const double *vgam, double *rgx, double *haccg,
                          double *haccb, size_t d, double eps, double *scr) {
    double *xh = ROW(R_XHAT), *gh = ROW(R_GHAT), *rxh = ROW(R_RXH), *rgh = ROW(R_RGHAT);
    double *gxr = ROW(R_OUT);
    const double rs = row_xhat(x, d, eps, xh);
    const double a = row_rxhat(xh, dx, rs, d, rxh);
    double m1 = 0.0, m2 = 0.0, rm1 = 0.0, rm2 = 0.0;
    for (size_t i = 0; i < d; i++) {
        gh[i] = gam[i] * gyr[i];
        rgh[i] = gam[i] * rgyr[i] + (vgam ? vgam[i] * gyr[i] : 0.0);
        m1 += gh[i];
        m2 += gh[i] * xh[i];
        rm1 += rgh[i];
        rm2 += rgh[i] * xh[i] + gh[i] * rxh[i];
        haccg[i] += rgyr[i] * xh[i] + gyr[i] * rxh[i];
        haccb[i] += rgyr[i];
    }
    if (!rgx)
        return;
    m1 /= (double) d;
    m2 /= (double) d;
    rm1 /= (double) d;
    rm2 /= (double) d;
    for (size_t i = 0; i < d; i++) {
        gxr[i] = rs * (gh[i] - m1 - xh[i] * m2);
        rgx[i] = -a * rs * gxr[i] + rs * (rgh[i] - rm1 - rxh[i] * m2 - xh[i] * rm2);
    }
}

static void forward_f64(const lm__node *nd, const double *th, const double *x, double *y, size_t n,
                        double *scr) {
    LN_DIMS;
    for (size_t e = 0; e < n; e++)
        row_forward(x + e * d, th, th + d, y + e * d, d, eps, ROW(R_XHAT));
}

static void backward_f64(const lm__node *nd, const double *th, const double *x, const double *y,
                         const double *gy, double *gx, int gx_acc, double *gth, size_t n,
                         double *scr) {
    LN_DIMS;
    (void) y;
    memset(gth, 0, 2 * d * sizeof *gth);
    double *out = ROW(R_OUT);
    for (size_t e = 0; e < n; e++) {
        row_backward(x + e * d, gy + e * d, th, out, gth, gth + d, d, eps, ROW(R_XHAT),
                     ROW(R_GHAT));
        if (gx) {
            double *g = gx + e * d;
            for (size_t i = 0; i < d; i++)
                g[i] = gx_acc ? g[i] + out[i] : out[i];
        }
    }
}

static void jvp_f64(const lm__node *nd, const double *th, const double *vth, const double *x,
                    const double *dx, const double *y, double *dy, size_t n, double *scr) {
    LN_DIMS;
    (void) y;
    for (size_t e = 0; e < n; e++)
        row_jvp(x + e * d, dx ? dx + e * d : NULL, th, vth, vth ? vth + d : NULL, dy + e * d, d,
                eps, ROW(R_XHAT), ROW(R_RXH));
}

static void rbackward_f64(const lm__node *nd, const double *th, const double *vth, const double *x,
                          const double *dx, const double *y, const double *dy, const double *gy,
                          const double *rgy, double *rgx, int rgx_acc, double *hth, size_t n,
                          double *scr) {
    LN_DIMS;
    (void) y;
    (void) dy;
    double *out = ROW(R_RGX);
    memset(hth, 0, 2 * d * sizeof *hth);
    for (size_t e = 0; e < n; e++) {
        row_rbackward(x + e * d, dx ? dx + e * d : NULL, gy + e * d, rgy + e * d, th, vth,
                      rgx ? out : NULL, hth, hth + d, d, eps, scr);
        if (rgx) {
            double *r = rgx + e * d;
            for (size_t i = 0; i < d; i++)
                r[i] = rgx_acc ? r[i] + out[i] : out[i];
        }
    }
}

/* ---------------------------------------------------------------- float32 (rows in double) */

static void load_f32(double *dst, const float *src, size_t cnt) {
    for (size_t i = 0; i < cnt; i++)
        dst[i] = (double) src[i];
}

static void forward_f32(const lm__node *nd, const float *th, const float *x, float *y, size_t n,
                        double *scr) {
    LN_DIMS;
    double *xr = ROW(R_X), *out = ROW(R_OUT), *gam = ROW(R_GAM), *beta = ROW(R_BETA);
    load_f32(gam, th, d);
    load_f32(beta, th + d, d);
    for (size_t e = 0; e < n; e++) {
        load_f32(xr, x + e * d, d);
        row_forward(xr, gam, beta, out, d, eps, ROW(R_XHAT));
        for (size_t i = 0; i < d; i++)
            y[e * d + i] = (float) out[i];
    }
}

static void backward_f32(const lm__node *nd, const float *th, const float *x, const float *y,
                         const float *gy, float *gx, int gx_acc, float *gth, size_t n,
                         double *scr) {
    LN_DIMS;
    (void) y;
    double *xr = ROW(R_X), *gyr = ROW(R_GY), *out = ROW(R_OUT), *gam = ROW(R_GAM);
    double *accg = ROW(R_ACCG), *accb = ROW(R_ACCB);
    load_f32(gam, th, d);
    memset(accg, 0, 2 * d * sizeof *accg); /* R_ACCG, R_ACCB are adjacent */
    for (size_t e = 0; e < n; e++) {
        load_f32(xr, x + e * d, d);
        load_f32(gyr, gy + e * d, d);
        row_backward(xr, gyr, gam, out, accg, accb, d, eps, ROW(R_XHAT), ROW(R_GHAT));
        if (gx) {
            float *g = gx + e * d;
            for (size_t i = 0; i < d; i++)
                g[i] = gx_acc ? (float) ((double) g[i] + out[i]) : (float) out[i];
        }
    }
    for (size_t i = 0; i < d; i++) {
        gth[i] = (float) accg[i];
        gth[d + i] = (float) accb[i];
    }
}

static void jvp_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                    const float *dx, const float *y, float *dy, size_t n, double *scr) {
    LN_DIMS;
    (void) y;
    double *xr = ROW(R_X), *dxr = ROW(R_DX), *out = ROW(R_OUT), *gam = ROW(R_GAM);
    double *vgam = ROW(R_VGAM), *vbeta = ROW(R_VBETA);
    load_f32(gam, th, d);
    if (vth) {
        load_f32(vgam, vth, d);
        load_f32(vbeta, vth + d, d);
    }
    for (size_t e = 0; e < n; e++) {
        load_f32(xr, x + e * d, d);
        if (dx)
            load_f32(dxr, dx + e * d, d);
        row_jvp(xr, dx ? dxr : NULL, gam, vth ? vgam : NULL, vth ? vbeta : NULL, out, d, eps,
                ROW(R_XHAT), ROW(R_RXH));
        for (size_t i = 0; i < d; i++)
            dy[e * d + i] = (float) out[i];
    }
}

static void rbackward_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                          const float *dx, const float *y, const float *dy, const float *gy,
                          const float *rgy, float *rgx, int rgx_acc, float *hth, size_t n,
                          double *scr) {
    LN_DIMS;
    (void) y;
    (void) dy;
    double *xr = ROW(R_X), *dxr = ROW(R_DX), *gyr = ROW(R_GY), *rgyr = ROW(R_RGY);
    double *gam = ROW(R_GAM), *vgam = ROW(R_VGAM), *out = ROW(R_RGX);
    double *accg = ROW(R_ACCG), *accb = ROW(R_ACCB);
    load_f32(gam, th, d);
    if (vth)
        load_f32(vgam, vth, d);
    memset(accg, 0, 2 * d * sizeof *accg); /* R_ACCG, R_ACCB are adjacent */
    for (size_t e = 0; e < n; e++) {
        load_f32(xr, x + e * d, d);
        if (dx)
            load_f32(dxr, dx + e * d, d);
        load_f32(gyr, gy + e * d, d);
        load_f32(rgyr, rgy + e * d, d);
        row_rbackward(xr, dx ? dxr : NULL, gyr, rgyr, gam, vth ? vgam : NULL, rgx ? out : NULL,
                      accg, accb, d, eps, scr);
        if (rgx) {
            float *r = rgx + e * d;
            for (size_t i = 0; i < d; i++)
                r[i] = rgx_acc ? (float) ((double) r[i] + out[i]) : (float) out[i];
        }
    }
    for (size_t i = 0; i < d; i++) {
        hth[i] = (float) accg[i];
        hth[d + i] = (float) accb[i];
    }
}

const lm__layer_ops lm__layer_layernorm = {
    .type = LM_LAYER_LAYERNORM,
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
