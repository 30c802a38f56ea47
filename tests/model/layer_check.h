/*
 * layer_check.h: one layer's calls (src/model/layer.h) checked alone, on a node built by hand:
 * the parts of the contract a whole-model check (graph_check.h) cannot reach when the layer
 * sits right after the data (its input gradient, input tangent and R{gx} are then never formed,
 * as for a pool on the input image while no parameterised image layer precedes it).
 *
 * With L(th, x) = <gy, f(th, x)> and random directions (vth, dx) and rgy, against central
 * differences in float64 (h = 1e-5 per unit of direction: truncation ~h^2 and rounding ~1e-16/h
 * are ~1e-10 relative, so the 1e-7 bound keeps three orders of margin and still catches any
 * wrong factor):
 *   forward   against the caller's reference (exact up to summation order: 1e-13);
 *   backward  gth and gx element by element;
 *   jvp       dy against (f(th + h vth, x + h dx) - f(th - h vth, x - h dx)) / 2h, and with vth
 *             NULL / dx NULL equal to zero directions;
 *   rbackward (hth, rgx) against the difference of backward at (th +- h vth, x +- h dx,
 *             gy +- h rgy); hth independent of whether rgx is asked for;
 *   gx_acc    backward and rbackward add into gx when asked (and overwrite otherwise);
 *   float32   forward, backward, jvp and rbackward against float64 (1e-5: float32 rounding ~6e-8
 *             per operation through sums of at most a hundred terms, done in double, with
 *             margin), and rbackward_f32's accumulation into rgx.
 */
#ifndef LM_TEST_LAYER_CHECK_H
#define LM_TEST_LAYER_CHECK_H

#include "graph_check.h"
#include "model/layer.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct lc_node {
    lm__node nd;
    double *scr;
    size_t n;
} lc_node;

/* Builds a node of type ops and spec ls on input shape [c, h, w] (a sequence [1, T, d] when seq)
 * for batches of n; returns the build status (err filled). */
static inline lm_status lc_build_seq(lc_node *ln, const lm__layer_ops *ops, const lm_layer_spec *ls,
                                     const size_t shape[3], size_t n, int seq, lm_err *err) {
    memset(ln, 0, sizeof *ln);
    lm__node *nd = &ln->nd;
    nd->seq = seq;
    nd->ops = ops;
    nd->spec = *ls;
    snprintf(nd->where, sizeof nd->where, "model.layers[0]");
    memcpy(nd->in_shape, shape, 3 * sizeof *shape);
    nd->in_size = shape[0] * shape[1] * shape[2];
    nd->w_mul = nd->b_mul = 1.0;
    nd->skip_buf = SIZE_MAX;
    lm_status st = nd->ops->build(nd, err);
    if (st != LM_OK)
        return st;
    nd->out_size = nd->out_shape[0] * nd->out_shape[1] * nd->out_shape[2];
    nd->n_p = lm__toff(nd, nd->n_tensors);
    ln->n = n;
    ln->scr = calloc(nd->scratch_per_ex * n + nd->scratch_fixed + 1, sizeof(double));
    return LM_OK;
}

static inline lm_status lc_build(lc_node *ln, const lm__layer_ops *ops, const lm_layer_spec *ls,
                                 const size_t shape[3], size_t n, lm_err *err) {
    return lc_build_seq(ln, ops, ls, shape, n, 0, err);
}

static inline void lc_free(lc_node *ln) {
    free(ln->scr);
}

static inline double lc_dot(const double *a, const double *b, size_t cnt) {
    double s = 0.0;
    for (size_t i = 0; i < cnt; i++)
        s += a[i] * b[i];
    return s;
}

/* <gy, f(th, x)> */
static inline double lc_loss(const lc_node *ln, const double *th, const double *x, const double *gy,
                             double *y) {
    ln->nd.ops->forward_f64(&ln->nd, th, x, y, ln->n, ln->scr);
    return lc_dot(gy, y, ln->n * ln->nd.out_size);
}

/* Checks ln at (th, x) (th [n_p], x [n, in]); yref (may be NULL) is the expected forward output.
 * rng draws the directions. */
static inline void lc_check(const lc_node *ln, const double *th_in, const double *x,
                            const double *yref, lm_rng *rng, const char *what) {
    const lm__node *nd = &ln->nd;
    const lm__layer_ops *ops = nd->ops;
    const size_t n = ln->n, p = nd->n_p, ni = n * nd->in_size, no = n * nd->out_size;
    const size_t pa = p ? p : 1;
    double *y = malloc(no * sizeof(double)), *yp = malloc(no * sizeof(double)),
           *ym = malloc(no * sizeof(double)), *gy = malloc(no * sizeof(double)),
           *rgy = malloc(no * sizeof(double)), *dy = malloc(no * sizeof(double)),
           *dfd = malloc(no * sizeof(double)), *dy2 = malloc(no * sizeof(double));
    double *gx = malloc(ni * sizeof(double)), *dx = malloc(ni * sizeof(double)),
           *rgx = malloc(ni * sizeof(double)), *xt = malloc(ni * sizeof(double)),
           *fdx = malloc(ni * sizeof(double)), *gxp = malloc(ni * sizeof(double)),
           *gxm = malloc(ni * sizeof(double)), *zx = calloc(ni, sizeof(double));
    double *gth = malloc(pa * sizeof(double)), *vth = malloc(pa * sizeof(double)),
           *hth = malloc(pa * sizeof(double)), *tt = malloc(pa * sizeof(double)),
           *fdt = malloc(pa * sizeof(double)), *gtp = malloc(pa * sizeof(double)),
           *gtm = malloc(pa * sizeof(double)), *zt = calloc(pa, sizeof(double)),
           *h2 = malloc(pa * sizeof(double)), *th = malloc(pa * sizeof(double));
    for (size_t i = 0; i < p; i++) /* th_in is NULL for a layer without parameters */
        th[i] = th_in[i];
    for (size_t i = 0; i < no; i++) {
        gy[i] = lm_rng_normal(rng);
        rgy[i] = lm_rng_normal(rng);
    }
    for (size_t i = 0; i < ni; i++)
        dx[i] = lm_rng_normal(rng);
    for (size_t i = 0; i < p; i++)
        vth[i] = lm_rng_normal(rng);
    const double h = 1e-5;

    /* forward */
    ops->forward_f64(nd, th, x, y, n, ln->scr);
    if (yref)
        cr_assert(gc_rel_err(y, yref, no) < 1e-13, "%s: forward vs reference rel err %.3g", what,
                  gc_rel_err(y, yref, no));

    /* backward, element by element */
    ops->backward_f64(nd, th, x, y, gy, gx, 0, gth, n, ln->scr);
    for (size_t i = 0; i < ni; i++) {
        memcpy(xt, x, ni * sizeof(double));
        xt[i] = x[i] + h;
        const double lp = lc_loss(ln, th, xt, gy, yp);
        xt[i] = x[i] - h;
        fdx[i] = (lp - lc_loss(ln, th, xt, gy, yp)) / (2 * h);
    }
    cr_assert(gc_rel_err(gx, fdx, ni) < 1e-7, "%s: gx rel err %.3g", what, gc_rel_err(gx, fdx, ni));
    if (p) {
        for (size_t i = 0; i < p; i++) {
            for (size_t j = 0; j < p; j++)
                tt[j] = th[j];
            tt[i] = th[i] + h;
            const double lp = lc_loss(ln, tt, x, gy, yp);
            tt[i] = th[i] - h;
            fdt[i] = (lp - lc_loss(ln, tt, x, gy, yp)) / (2 * h);
        }
        cr_assert(gc_rel_err(gth, fdt, p) < 1e-7, "%s: gth rel err %.3g", what,
                  gc_rel_err(gth, fdt, p));
    }

    /* jvp */
    ops->jvp_f64(nd, th, p ? vth : NULL, x, dx, y, dy, n, ln->scr);
    for (size_t i = 0; i < ni; i++)
        xt[i] = x[i] + h * dx[i];
    for (size_t i = 0; i < p; i++)
        tt[i] = th[i] + h * vth[i];
    ops->forward_f64(nd, tt, xt, yp, n, ln->scr);
    for (size_t i = 0; i < ni; i++)
        xt[i] = x[i] - h * dx[i];
    for (size_t i = 0; i < p; i++)
        tt[i] = th[i] - h * vth[i];
    ops->forward_f64(nd, tt, xt, ym, n, ln->scr);
    for (size_t i = 0; i < no; i++)
        dfd[i] = (yp[i] - ym[i]) / (2 * h);
    cr_assert(gc_rel_err(dy, dfd, no) < 1e-7, "%s: jvp rel err %.3g", what,
              gc_rel_err(dy, dfd, no));
    /* NULL tangents are zero tangents */
    ops->jvp_f64(nd, th, NULL, x, dx, y, dy, n, ln->scr);
    ops->jvp_f64(nd, th, zt, x, dx, y, dy2, n, ln->scr);
    cr_assert(gc_rel_err(dy, dy2, no) < 1e-15, "%s: jvp with vth NULL", what);
    if (p) {
        ops->jvp_f64(nd, th, vth, x, NULL, y, dy, n, ln->scr);
        ops->jvp_f64(nd, th, vth, x, zx, y, dy2, n, ln->scr);
        cr_assert(gc_rel_err(dy, dy2, no) < 1e-15, "%s: jvp with dx NULL", what);
    } else {
        ops->jvp_f64(nd, th, NULL, x, NULL, y, dy, n, ln->scr);
        for (size_t i = 0; i < no; i++)
            cr_assert_eq(dy[i], 0.0, "%s: jvp with no tangent is not 0", what);
    }

    /* rbackward against the difference of backward along (vth, dx, rgy) */
    ops->jvp_f64(nd, th, p ? vth : NULL, x, dx, y, dy, n, ln->scr);
    ops->rbackward_f64(nd, th, vth, x, dx, y, dy, gy, rgy, rgx, 0, hth, n, ln->scr);
    double *gyt = malloc(no * sizeof(double));
    for (int sgn = 1; sgn >= -1; sgn -= 2) {
        for (size_t i = 0; i < ni; i++)
            xt[i] = x[i] + sgn * h * dx[i];
        for (size_t i = 0; i < p; i++)
            tt[i] = th[i] + sgn * h * vth[i];
        for (size_t i = 0; i < no; i++)
            gyt[i] = gy[i] + sgn * h * rgy[i];
        ops->forward_f64(nd, tt, xt, yp, n, ln->scr);
        ops->backward_f64(nd, tt, xt, yp, gyt, sgn > 0 ? gxp : gxm, 0, sgn > 0 ? gtp : gtm, n,
                          ln->scr);
    }
    free(gyt);
    for (size_t i = 0; i < ni; i++)
        fdx[i] = (gxp[i] - gxm[i]) / (2 * h);
    cr_assert(gc_rel_err(rgx, fdx, ni) < 1e-7, "%s: R{gx} rel err %.3g", what,
              gc_rel_err(rgx, fdx, ni));
    if (p) {
        for (size_t i = 0; i < p; i++)
            fdt[i] = (gtp[i] - gtm[i]) / (2 * h);
        cr_assert(gc_rel_err(hth, fdt, p) < 1e-7, "%s: R{gth} rel err %.3g", what,
                  gc_rel_err(hth, fdt, p));
        ops->rbackward_f64(nd, th, vth, x, dx, y, dy, gy, rgy, NULL, 0, h2, n, ln->scr);
        for (size_t i = 0; i < p; i++)
            cr_assert_eq(h2[i], hth[i], "%s: R{gth}[%zu] depends on rgx being asked", what, i);
    }

    /* accumulation into gx and rgx (added term by term onto c <= 7: rounding ~ a few ulps of 10,
     * hence the absolute floor) */
    for (size_t i = 0; i < ni; i++)
        gxp[i] = gxm[i] = 0.75 + (double) (i % 7);
    ops->backward_f64(nd, th, x, y, gy, gxp, 1, gth, n, ln->scr);
    ops->rbackward_f64(nd, th, vth, x, dx, y, dy, gy, rgy, gxm, 1, hth, n, ln->scr);
    for (size_t i = 0; i < ni; i++) {
        const double c = 0.75 + (double) (i % 7);
        cr_assert(lm_close(gxp[i], c + gx[i], 1e-14, 10.0), "%s: gx_acc at %zu", what, i);
        cr_assert(lm_close(gxm[i], c + rgx[i], 1e-14, 10.0), "%s: rgx_acc at %zu", what, i);
    }
    /* overwrite: a stale gx must not leak through */
    for (size_t i = 0; i < ni; i++)
        gxp[i] = 1e3;
    ops->backward_f64(nd, th, x, y, gy, gxp, 0, gth, n, ln->scr);
    cr_assert(gc_rel_err(gxp, gx, ni) < 1e-15, "%s: backward does not overwrite gx", what);

    /* float32 against float64 */
    float *x32 = malloc(ni * sizeof(float)), *t32 = malloc(pa * sizeof(float)),
          *y32 = malloc(no * sizeof(float)), *gy32 = malloc(no * sizeof(float)),
          *gx32 = malloc(ni * sizeof(float)), *gt32 = malloc(pa * sizeof(float));
    for (size_t i = 0; i < ni; i++)
        x32[i] = (float) x[i];
    for (size_t i = 0; i < p; i++)
        t32[i] = (float) th[i];
    for (size_t i = 0; i < no; i++)
        gy32[i] = (float) gy[i];
    ops->forward_f32(nd, t32, x32, y32, n, ln->scr);
    ops->backward_f32(nd, t32, x32, y32, gy32, gx32, 0, gt32, n, ln->scr);
    for (size_t i = 0; i < no; i++)
        yp[i] = (double) y32[i];
    for (size_t i = 0; i < ni; i++)
        gxp[i] = (double) gx32[i];
    cr_assert(gc_rel_err(yp, y, no) < 1e-5, "%s: float32 forward rel err %.3g", what,
              gc_rel_err(yp, y, no));
    cr_assert(gc_rel_err(gxp, gx, ni) < 1e-5, "%s: float32 gx rel err %.3g", what,
              gc_rel_err(gxp, gx, ni));
    if (p) {
        ops->backward_f64(nd, th, x, y, gy, gx, 0, gth, n, ln->scr);
        for (size_t i = 0; i < p; i++)
            gtp[i] = (double) gt32[i];
        cr_assert(gc_rel_err(gtp, gth, p) < 1e-5, "%s: float32 gth rel err %.3g", what,
                  gc_rel_err(gtp, gth, p));
    }
    /* float32 jvp and rbackward against float64 (the same bound and reasoning: the R-passes
     * are the same kind of products and sums; measured 1e-8 to 1e-6), and rbackward_f32's
     * accumulation into rgx */
    {
        float *dx32 = malloc(ni * sizeof(float)), *v32 = malloc(pa * sizeof(float)),
              *dy32 = malloc(no * sizeof(float)), *rgy32 = malloc(no * sizeof(float)),
              *rgx32 = malloc(ni * sizeof(float)), *h32 = malloc(pa * sizeof(float));
        for (size_t i = 0; i < ni; i++)
            dx32[i] = (float) dx[i];
        for (size_t i = 0; i < p; i++)
            v32[i] = (float) vth[i];
        for (size_t i = 0; i < no; i++)
            rgy32[i] = (float) rgy[i];
        ops->jvp_f64(nd, th, p ? vth : NULL, x, dx, y, dy, n, ln->scr);
        ops->rbackward_f64(nd, th, vth, x, dx, y, dy, gy, rgy, rgx, 0, hth, n, ln->scr);
        ops->jvp_f32(nd, t32, p ? v32 : NULL, x32, dx32, y32, dy32, n, ln->scr);
        ops->rbackward_f32(nd, t32, v32, x32, dx32, y32, dy32, gy32, rgy32, rgx32, 0, h32, n,
                           ln->scr);
        for (size_t i = 0; i < no; i++)
            yp[i] = (double) dy32[i];
        for (size_t i = 0; i < ni; i++)
            gxp[i] = (double) rgx32[i];
        cr_assert(gc_rel_err(yp, dy, no) < 1e-5, "%s: float32 jvp rel err %.3g", what,
                  gc_rel_err(yp, dy, no));
        cr_assert(gc_rel_err(gxp, rgx, ni) < 1e-5, "%s: float32 R{gx} rel err %.3g", what,
                  gc_rel_err(gxp, rgx, ni));
        if (p) {
            for (size_t i = 0; i < p; i++)
                gtp[i] = (double) h32[i];
            cr_assert(gc_rel_err(gtp, hth, p) < 1e-5, "%s: float32 R{gth} rel err %.3g", what,
                      gc_rel_err(gtp, hth, p));
        }
        /* no tangent at all: zero */
        ops->jvp_f32(nd, t32, NULL, x32, NULL, y32, dy32, n, ln->scr);
        for (size_t i = 0; i < no; i++)
            cr_assert_eq(dy32[i], 0.0f, "%s: float32 jvp with no tangent is not 0", what);
        /* accumulation: rgx_acc adds onto c (float32 rounding of c + rgx: a few ulps of 10) */
        for (size_t i = 0; i < ni; i++)
            rgx32[i] = (float) (0.75 + (double) (i % 7));
        ops->rbackward_f32(nd, t32, v32, x32, dx32, y32, dy32, gy32, rgy32, rgx32, 1, h32, n,
                           ln->scr);
        ops->jvp_f32(nd, t32, p ? v32 : NULL, x32, dx32, y32, dy32, n, ln->scr);
        for (size_t i = 0; i < ni; i++) {
            const double c = 0.75 + (double) (i % 7);
            cr_assert(fabs((double) rgx32[i] - (c + gxp[i])) <= 1e-5 * (fabs(c) + fabs(gxp[i])),
                      "%s: float32 rgx_acc at %zu: %.9g vs %.9g", what, i, (double) rgx32[i],
                      c + gxp[i]);
        }
        if (getenv("LC_VERBOSE"))
            fprintf(stderr, "%s: float32 jvp %.2g R{gx} %.2g R{gth} %.2g\n", what,
                    gc_rel_err(yp, dy, no), gc_rel_err(gxp, rgx, ni),
                    p ? gc_rel_err(gtp, hth, p) : 0.0);
        free(dx32), free(v32), free(dy32), free(rgy32), free(rgx32), free(h32);
    }
    free(x32), free(t32), free(y32), free(gy32), free(gx32), free(gt32);
    free(y), free(yp), free(ym), free(gy), free(rgy), free(dy), free(dfd), free(dy2);
    free(gx), free(dx), free(rgx), free(xt), free(fdx), free(gxp), free(gxm), free(zx);
    free(gth), free(vth), free(hth), free(tt), free(fdt), free(gtp), free(gtm), free(zt), free(h2),
        free(th);
}

#endif
