/*
 * analytic.c: the infinite-width NNGP and NTK of an MLP (include/lmech/kernel.h), in the ntp
 * parameterisation (lm_kernel_analytic) and in sp, ntp and mup at a given width
 * (lm_kernel_analytic_spec): one recursion whose per-layer coefficients say which.
 *
 * Why: the kernels are the reference the finite-width experiments of issue 5 are measured
 * against (science.md §2), and kernel regression / gradient-flow predictions start from them.
 * Workload: n up to ~10^4 inputs (an n x n float64 kernel, 800 MB at n = 10^4), depth 1..10.
 * The input Gram matrix is one BLAS dsyrk; then every pair of the upper triangle runs the layer
 * recursion in scalars (no n x n scratch besides the outputs), split over threads by rows. The
 * diagonal runs the 1-d variance recursion, so e.g. relu's diagonal is exactly k -> sw2 k/2 + sb2.
 */
#include "lmech/kernel.h"

#include <cblas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 1000 /* far beyond any experiment; bounds the diagonal table (depth * n) */
#define MAX_NODES 1000 /* GSL's Golub-Welsch Hermite rule; references in the tests use 800 */
/* Product-rule sizes used inside lm_kernel_analytic (see pick()). */
#define N_RULES 9
static const size_t RULE_NODES[N_RULES] = {
    LM_KERNEL_QUAD_NODES, 60, 80, 120, 160, 240, 320, 480, 640};
/* Variances above VMAX_GH use the graded rule (graded_nodes) instead of Gauss-Hermite. */
#define VMAX_GH     8.0
#define GL_NODES    16
#define GRADED_MAX  (200 * GL_NODES) /* nodes of the graded rule: at most 172 panels (see there) */
#define MAX_THREADS 64
#define ROW_CHUNK                                                                                  \
    8 /* rows handed out at a time: rows cost n - i pairs, so small chunks balance                 \
       */

#define INV_PI       0.318309886183790671537767526745 /* 1/pi */
#define INV_2PI      0.159154943091895335768883763373 /* 1/(2 pi) */
#define SQRT_2       1.41421356237309504880168872421
#define INV_SQRT_PI  0.564189583547756286948079451561 /* 1/sqrt(pi) */
#define INV_SQRT_2PI 0.398942280401432677939946059934 /* 1/sqrt(2 pi) */
#define PI           3.14159265358979323846264338328

/* ---------------------------------------------------------------- activations */

/* phi and phi' at x: the model's own definitions (lm_act_phi, lm_act_dphi; src/model/act.c), so
 * the analytic kernels are those of the network lmech trains. */
static void phi2(lm_act a, double x, double *p, double *dp) {
    *p = lm_act_phi(a, x);
    *dp = lm_act_dphi(a, x, *p);
}

static int has_closed_form(lm_act a) {
    return a == LM_ACT_IDENTITY || a == LM_ACT_RELU || a == LM_ACT_ERF || a == LM_ACT_QUADRATIC;
}

/* ---------------------------------------------------------------- Gauss–Hermite rule */

/* Nodes z and weights w of E[f(Z)] ~ sum w_i f(z_i) for Z ~ N(0, 1): GSL's rule integrates
 * against e^{-x^2}, so z = sqrt(2) x and w = w_gsl / sqrt(pi). */
typedef struct rule {
    size_t n;
    double z[MAX_NODES], w[MAX_NODES];
} rule;

static lm_status rule_make(size_t nodes, rule *r, lm_err *err) {
    if (nodes < 1 || nodes > MAX_NODES)
        LM_FAIL(err, LM_EINVAL, "quadrature nodes = %zu: must be between 1 and %d", nodes,
                MAX_NODES);
    lm_init();
    gsl_integration_fixed_workspace *ws =
        gsl_integration_fixed_alloc(gsl_integration_fixed_hermite, nodes, 0, 1, 0, 0);
    if (!ws)
        LM_FAIL(err, LM_ENOMEM, "GSL Gauss-Hermite rule with %zu nodes could not be built", nodes);
    const double *x = gsl_integration_fixed_nodes(ws), *w = gsl_integration_fixed_weights(ws);
    r->n = nodes;
    for (size_t i = 0; i < nodes; i++) {
        r->z[i] = SQRT_2 * x[i];
        r->w[i] = w[i] * INV_SQRT_PI;
    }
    gsl_integration_fixed_free(ws);
    return LM_OK;
}

/* The rules of RULE_NODES, on the heap (~80 kB), then (rs[N_RULES]) the GL_NODES-point
 * Gauss-Legendre rule on [-1, 1] of the graded rule (graded_nodes). */
static lm_status rules_make(rule **out, lm_err *err) {
    rule *rs = lm_malloc((N_RULES + 1) * sizeof *rs);
    if (!rs)
        LM_FAIL(err, LM_ENOMEM, "Gauss-Hermite rules: %zu bytes", (N_RULES + 1) * sizeof *rs);
    for (size_t i = 0; i < N_RULES; i++) {
        lm_status st = rule_make(RULE_NODES[i], &rs[i], err);
        if (st) {
            lm_free(rs);
            return st;
        }
    }
    gsl_integration_fixed_workspace *ws =
        gsl_integration_fixed_alloc(gsl_integration_fixed_legendre, GL_NODES, -1, 1, 0, 0);
    if (!ws) {
        lm_free(rs);
        LM_FAIL(err, LM_ENOMEM, "GSL Gauss-Legendre rule with %d nodes could not be built",
                GL_NODES);
    }
    rs[N_RULES].n = GL_NODES;
    memcpy(rs[N_RULES].z, gsl_integration_fixed_nodes(ws), GL_NODES * sizeof(double));
    memcpy(rs[N_RULES].w, gsl_integration_fixed_weights(ws), GL_NODES * sizeof(double));
    gsl_integration_fixed_free(ws);
    *out = rs;
    return LM_OK;
}

/* E[phi(u)phi(v)], E[phi'(u)phi'(v)] with (u, v) = C z, C the Cholesky factor of the 2x2
 * covariance (a zero variance gives a zero column). */
static void quad2(const rule *r, lm_act a, double k11, double k12, double k22, double *ep,
                  double *ed) {
    double l11 = sqrt(k11 > 0 ? k11 : 0), l21 = 0, l22;
    if (l11 > 0)
        l21 = k12 / l11;
    double r22 = k22 - l21 * l21;
    l22 = sqrt(r22 > 0 ? r22 : 0);
    double sp = 0, sd = 0;
    for (size_t i = 0; i < r->n; i++) {
        double pu, du, ip = 0, id = 0, c = l21 * r->z[i];
        phi2(a, l11 * r->z[i], &pu, &du);
        for (size_t j = 0; j < r->n; j++) {
            double pv, dv;
            phi2(a, c + l22 * r->z[j], &pv, &dv);
            ip += r->w[j] * pv;
            id += r->w[j] * dv;
        }
        sp += r->w[i] * pu * ip;
        sd += r->w[i] * du * id;
    }
    *ep = sp;
    *ed = sd;
}

static void quad1(const rule *r, lm_act a, double k, double *ep, double *ed) {
    double s = sqrt(k > 0 ? k : 0), sp = 0, sd = 0;
    for (size_t i = 0; i < r->n; i++) {
        double p, q;
        phi2(a, s * r->z[i], &p, &q);
        sp += r->w[i] * p * p;
        sd += r->w[i] * q * q;
    }
    *ep = sp;
    *ed = sd;
}

/* ---------------------------------------------------------------- large variances */

/* Nodes x and weights w (the Gaussian density included) of E[f(X)], X ~ N(m, s^2), for the
 * smooth activations at large s, where Gauss-Hermite fails: f(x) changes on a scale of 1 near
 * x = 0 (tanh's poles at +-i pi/2), which the Hermite nodes, spaced ~s/sqrt(nodes), do not
 * resolve. Measured against a converged reference: tanh with sw2 = 25 (variance ~21) was off by
 * 2e-3 in the NTK, gelu and softplus at variances 1e3-1e7 by 1e-2.
 *
 * Composite Gauss-Legendre (GL_NODES points per panel) on [m - 9s, m + 9s] (the tail beyond 9
 * standard deviations weighs < 1e-17 even against x^2), with panels graded towards x = 0: a
 * panel is half as wide as its end nearest 0 is far from it, at least fl = max(1/4, 1e-13 s)
 * (closer to 0 than 1e-13 s the density is too thin to matter at 1e-13) and at most s (so the
 * Gaussian is resolved). Per side: 2 floor panels, log(s/fl)/log(1.5) <= 74 graded ones and 8 of
 * width s: at most 172 panels, within GRADED_MAX. */
static size_t graded_nodes(const rule *gl, double m, double s, double *x, double *w) {
    const double lo = m - 9 * s, hi = m + 9 * s, fl = fmax(0.25, 1e-13 * s);
    const double c = INV_SQRT_2PI / s;
    size_t cnt = 0;
    for (double a = lo; a < hi && cnt + GL_NODES <= GRADED_MAX;) {
        double wd = a >= 0 ? 0.5 * a : -a / 3; /* a < 0: half of |a + wd| */
        wd = wd < fl ? fl : wd > s ? s : wd;
        const double b = a + wd < hi ? a + wd : hi, mid = 0.5 * (a + b), half = 0.5 * (b - a);
        for (size_t q = 0; q < GL_NODES; q++) {
            const double xq = mid + half * gl->z[q], t = (xq - m) / s;
            x[cnt] = xq;
            w[cnt++] = half * gl->w[q] * c * exp(-0.5 * t * t);
        }
        a = b;
    }
    return cnt;
}

/* Nodes of E[f(X)], X ~ N(m, s^2): Gauss-Hermite (the variance-dependent rule, pick) up to
 * variance VMAX_GH, else graded_nodes. */
static const rule *pick(const rule *rs, double kmax);
static size_t normal_nodes(const rule *rs, double m, double s, double *x, double *w) {
    if (s * s <= VMAX_GH) {
        const rule *r = pick(rs, s * s);
        for (size_t i = 0; i < r->n; i++) {
            x[i] = m + s * r->z[i];
            w[i] = r->w[i];
        }
        return r->n;
    }
    return graded_nodes(&rs[N_RULES], m, s, x, w);
}

/* E[phi(u)phi(v)], E[phi'(u)phi'(v)] when a variance exceeds VMAX_GH: u on its nodes, then v
 * given u, N(beta u, tau^2) with beta = k12/k11 and tau^2 = k22 - k12^2/k11, on its own. */
static void graded2(const rule *rs, lm_act a, double k11, double k12, double k22, double *ep,
                    double *ed) {
    double xu[GRADED_MAX], wu[GRADED_MAX], xv[GRADED_MAX], wv[GRADED_MAX];
    const double beta = k11 > 0 ? k12 / k11 : 0, r22 = k22 - beta * k12;
    const double tau = sqrt(r22 > 0 ? r22 : 0);
    const size_t nu = normal_nodes(rs, 0, sqrt(k11 > 0 ? k11 : 0), xu, wu);
    double sp = 0, sd = 0;
    for (size_t i = 0; i < nu; i++) {
        double pu, du, ip = 0, id = 0;
        phi2(a, xu[i], &pu, &du);
        const size_t nv = normal_nodes(rs, beta * xu[i], tau, xv, wv);
        for (size_t j = 0; j < nv; j++) {
            double pv, dv;
            phi2(a, xv[j], &pv, &dv);
            ip += wv[j] * pv;
            id += wv[j] * dv;
        }
        sp += wu[i] * pu * ip;
        sd += wu[i] * du * id;
    }
    *ep = sp;
    *ed = sd;
}

static void graded1(const rule *rs, lm_act a, double k, double *ep, double *ed) {
    double x[GRADED_MAX], w[GRADED_MAX], sp = 0, sd = 0;
    const size_t n = normal_nodes(rs, 0, sqrt(k), x, w);
    for (size_t i = 0; i < n; i++) {
        double p, q;
        phi2(a, x[i], &p, &q);
        sp += w[i] * p * p;
        sd += w[i] * q * q;
    }
    *ep = sp;
    *ed = sd;
}

/* ---------------------------------------------------------------- closed forms */

/* sqrt(a b - c^2) (clamped at 0) for a, b >= 0 without overflow: a and b are scaled by powers of
 * two (exact) so that both products are O(1); where a b - c^2 does not overflow the result is
 * the plain formula's to the bit. Without it, inputs of norm 1e80 (variances ~1e160) gave relu a
 * NaN (inf - inf) and erf a correlation of 0 (c / sqrt(inf)). */
static double sqrt_det(double a, double c, double b) {
    if (!(a > 0) || !(b > 0))
        return 0;
    int ea, eb;
    frexp(a, &ea);
    frexp(b, &eb);
    const int f = (ea + eb) / 2; /* a 2^-ea and b 2^-(2f-ea) are in [1/4, 2) */
    const double sa = ldexp(a, -ea), sb = ldexp(b, ea - 2 * f), sc = ldexp(c, -f);
    const double r = sa * sb - sc * sc;
    return ldexp(sqrt(r > 0 ? r : 0), f);
}

/* Off-diagonal pair. relu: theta = atan2(sqrt(k11 k22 - k12^2), k12) (science.md §2 Numerics:
 * arccos is ill-conditioned near +-1), and sqrt(k11 k22) sin(theta) = s, sqrt(k11 k22) cos(theta)
 * = k12, so E[phi phi] = (s + (pi - theta) k12) / (2 pi) needs no sin or cos. */
/* The rule for variances up to kmax: Gauss–Hermite on phi(sigma z) loses accuracy as sigma grows
 * (tanh's poles at z = i pi / (2 sigma) approach the real axis), and the nodes needed grow like
 * sigma^2. Measured (relative, against 800 nodes): erf at variance 1 is good to 9e-13 with 40
 * nodes, at variance 2 only to 1.4e-8 and at 4 to 2e-5; tanh at variance 1 to 1e-7 with 40 nodes
 * and 3e-11 with 80, at variance 2 (correlation 0.99) to 1e-7 with 120. Taking >= 80 * kmax
 * nodes (at least 40) keeps both within science.md 1e-8
 * (tests/kernel: tanh, gelu, sigmoid, softplus up to variance 7); past kmax = 8 the largest
 * rule is used and the accuracy degrades (docs/kernels.md). Cost: nodes^2 evaluations per pair. */
static const rule *pick(const rule *rs, double kmax) {
    for (size_t i = 0; i < N_RULES; i++)
        if ((double) rs[i].n >= 80 * kmax || i == N_RULES - 1)
            return &rs[i];
    return &rs[N_RULES - 1];
}

static void pair(const rule *r, lm_act a, double k11, double k12, double k22, double *ep,
                 double *ed) {
    switch (a) {
    case LM_ACT_IDENTITY:
        *ep = k12;
        *ed = 1;
        return;
    case LM_ACT_RELU: {
        double s = sqrt_det(k11, k12, k22);
        double t = PI - atan2(s, k12);
        *ep = (s + t * k12) * INV_2PI;
        /* a zero variance means u = 0 exactly, and phi'(0) = 0 (the model's relu): the arc-cosine
         * formula's 1/2 is its limit for a vanishing but nonzero variance, not the value */
        *ed = k11 > 0 && k22 > 0 ? t * INV_2PI : 0;
        return;
    }
    case LM_ACT_ERF: {
        double a1 = 1 + 2 * k11, a2 = 1 + 2 * k22, c = 2 * k12 / sqrt_det(a1, 0, a2);
        c = c > 1 ? 1 : c < -1 ? -1 : c;
        double det = sqrt_det(a1, 2 * k12, a2);
        *ep = 2 * INV_PI * asin(c);
        *ed = 4 * INV_PI / (det > 1 ? det : 1); /* det >= 1 for a PSD covariance */
        return;
    }
    case LM_ACT_QUADRATIC: /* Isserlis: E[u^2 v^2] = k11 k22 + 2 k12^2 */
        *ep = k11 * k22 + 2 * k12 * k12;
        *ed = 4 * k12;
        return;
    default:
        if (k11 > VMAX_GH || k22 > VMAX_GH)
            graded2(r, a, k11, k12, k22, ep, ed);
        else
            quad2(pick(r, k11 > k22 ? k11 : k22), a, k11, k12, k22, ep, ed);
    }
}

/* Diagonal (u = v, variance k): the 1-d maps. */
static void diag(const rule *r, lm_act a, double k, double *ep, double *ed) {
    switch (a) {
    case LM_ACT_IDENTITY:
        *ep = k;
        *ed = 1;
        return;
    case LM_ACT_RELU:
        *ep = 0.5 * k;
        *ed = k > 0 ? 0.5 : 0; /* phi'(0) = 0: see pair() */
        return;
    case LM_ACT_ERF:
        *ep = 2 * INV_PI * asin(2 * k / (1 + 2 * k));
        *ed = 4 * INV_PI / sqrt(1 + 4 * k);
        return;
    case LM_ACT_QUADRATIC:
        *ep = 3 * k * k;
        *ed = 4 * k;
        return;
    default:
        if (k > VMAX_GH)
            graded1(r, a, k, ep, ed);
        else
            quad1(pick(r, k), a, k, ep, ed);
    }
}

/* ---------------------------------------------------------------- public one-layer maps */

static lm_status check_cov(lm_act act, double k11, double k12, double k22, lm_err *err) {
    if ((unsigned) act > (unsigned) LM_ACT_QUADRATIC)
        LM_FAIL(err, LM_EINVAL, "activation %d: unknown", (int) act);
    if (!isfinite(k11) || !isfinite(k12) || !isfinite(k22))
        LM_FAIL(err, LM_ENUMERIC, "covariance [[%g, %g], [%g, %g]]: not finite", k11, k12, k12,
                k22);
    /* 1e-12: rounding of a PSD matrix computed in float64 stays far below this */
    if (k11 < 0 || k22 < 0 || k12 * k12 > k11 * k22 * (1 + 1e-12))
        LM_FAIL(err, LM_EINVAL, "covariance [[%g, %g], [%g, %g]]: not positive semi-definite", k11,
                k12, k12, k22);
    return LM_OK;
}

lm_status lm_kernel_expect(lm_act act, double k11, double k12, double k22, double *e_phi,
                           double *e_dphi, lm_err *err) {
    lm_status st = check_cov(act, k11, k12, k22, err);
    if (st)
        return st;
    rule *r = NULL;
    if (!has_closed_form(act) && (st = rules_make(&r, err)))
        return st;
    pair(r, act, k11, k12, k22, e_phi, e_dphi);
    lm_free(r);
    return LM_OK;
}

lm_status lm_kernel_expect_quad(lm_act act, double k11, double k12, double k22, size_t nodes,
                                double *e_phi, double *e_dphi, lm_err *err) {
    lm_status st = check_cov(act, k11, k12, k22, err);
    if (st)
        return st;
    rule *r = lm_malloc(sizeof *r);
    if (!r)
        LM_FAIL(err, LM_ENOMEM, "Gauss-Hermite rule: %zu bytes", sizeof *r);
    if ((st = rule_make(nodes, r, err))) {
        lm_free(r);
        return st;
    }
    quad2(r, act, k11, k12, k22, e_phi, e_dphi);
    lm_free(r);
    return LM_OK;
}

/* ---------------------------------------------------------------- the n x n kernels */

/* The coefficients of one linear layer h in the shared recursion (kernel.h): fw = the effective
 * forward weight variance times fan_in (multiplier^2 x init variance x fan_in), fb = the forward
 * bias variance, cw = lr_W x multiplier_W^2 x fan_in and cb = lr_b x multiplier_b^2, so that
 *     Sigma^h = fw E_h + fb,   Theta^h = cw E_h + cb + fw E'_h Theta^{h-1}
 * with E_1 = x.x'/d (E'_1 = 0) and E_h, E'_h the expectations under Sigma^{h-1}. */
typedef struct coef {
    double fw, fb, cw, cb;
} coef;

/* c[0]: the input layer, c[1]: hidden layers 2..depth, c[2]: the readout (depth >= 1; with depth
 * 0 the one layer is c[0]). From model.h's table (src/model/mlp.c), written in exact algebra
 * rather than through sqrt(sw2/fan_in)^2, so ntp's coefficients are sw2 and sb2 to the bit:
 *   ntp: fw = cw = sw2; fb = sb2, cb = sb2 (1 when sb2 = 0: zero biases with multiplier 1);
 *   sp : fw = sw2, fb = sb2; cw = fan_in (d, then the width), cb = 1;
 *   mup: as sp, but the readout's fw = sw2/m; SGD rates: input W and hidden biases m (cw = m d,
 *        cb = m), hidden W 1 (cw = width), readout W 1/m (cw = width/m), readout bias 1.
 * Without biases fb = cb = 0. m = width/base_width (1 with base_width 0 or depth 0, as
 * mlp.c's width_ratio). */
static void coefs(const lm_kernel_spec *s, size_t d, coef c[3]) {
    const double fb = s->bias ? s->sb2 : 0, b = s->bias ? 1 : 0;
    const double n = (double) s->width, sw2 = s->sw2;
    switch (s->param) {
    case LM_PARAM_NTP: {
        const double cb = s->bias ? (s->sb2 > 0 ? s->sb2 : 1) : 0;
        c[0] = c[1] = c[2] = (coef){sw2, fb, sw2, cb};
        return;
    }
    case LM_PARAM_SP:
        c[0] = (coef){sw2, fb, (double) d, b};
        c[1] = c[2] = (coef){sw2, fb, n, b};
        return;
    case LM_PARAM_MUP: {
        const double m = s->base_width && s->depth ? n / (double) s->base_width : 1;
        c[0] = (coef){sw2, fb, m * (double) d, m * b};
        c[1] = (coef){sw2, fb, n, m * b};
        c[2] = (coef){sw2 / m, fb, n / m, b};
        return;
    }
    }
}

typedef struct job {
    const rule *r;
    lm_act act;
    size_t n, depth;
    coef c[3];
    double inv_d;
    const double *gram; /* upper triangle of X X^T, in nngp or ntk */
    double *dg; /* dg[l*n + i] = Sigma^{l+1}(x_i, x_i), l = 0..depth-1: written by the diagonal
                   pass (one thread), then read-only */
    double *nngp, *ntk;
    atomic_size_t next;
} job;

/* The recursion of the pair (x_i, x_j), g = x_i.x_j: Sigma and Theta of the output. Off the
 * diagonal (i != j) the variances come from the table dg; on it the 1-d maps run and write the
 * table's column i (the hidden layers' variances, read by the pairs of row i). */
static void recurse(const job *jb, double g, size_t i, size_t j, double *sig, double *theta) {
    const size_t L = jb->depth, n = jb->n;
    const coef *c = &jb->c[0];
    double s = c->fw * g * jb->inv_d + c->fb, t = c->cw * g * jb->inv_d + c->cb;
    for (size_t l = 0; l < L; l++) {
        double ep, ed;
        if (i != j) {
            pair(jb->r, jb->act, jb->dg[l * n + i], s, jb->dg[l * n + j], &ep, &ed);
        } else {
            jb->dg[l * n + i] = s;
            diag(jb->r, jb->act, s, &ep, &ed);
        }
        c = &jb->c[l + 1 == L ? 2 : 1];
        s = c->fw * ep + c->fb;
        t = c->cw * ep + c->cb + c->fw * ed * t;
    }
    *sig = s;
    *theta = t;
}

static void rows(job *jb, size_t i0, size_t i1) {
    const size_t n = jb->n;
    for (size_t i = i0; i < i1; i++) {
        for (size_t j = i + 1; j < n; j++) {
            double s, t;
            recurse(jb, jb->gram[i * n + j], i, j, &s, &t);
            if (jb->nngp)
                jb->nngp[i * n + j] = jb->nngp[j * n + i] = s;
            if (jb->ntk)
                jb->ntk[i * n + j] = jb->ntk[j * n + i] = t;
        }
    }
}

static void *worker(void *p) {
    job *jb = p;
    for (;;) {
        size_t i0 = atomic_fetch_add(&jb->next, ROW_CHUNK);
        if (i0 >= jb->n)
            return NULL;
        rows(jb, i0, i0 + ROW_CHUNK < jb->n ? i0 + ROW_CHUNK : jb->n);
    }
}

lm_kernel_spec lm_kernel_spec_default(void) {
    lm_kernel_spec s;
    memset(&s, 0, sizeof s);
    s.depth = 1;
    s.act = LM_ACT_RELU;
    s.sw2 = 1.0;
    s.sb2 = 0.0;
    s.param = LM_PARAM_NTP;
    s.bias = 1;
    return s;
}

/* ---------------------------------------------------------------- duplicate rows */

/* Rows equal to an earlier row (every entry ==, so -0 equals 0) must get exactly equal kernel
 * rows: x_i = x_j makes K(x_i, .) = K(x_j, .) and the 2 x 2 block [[K_ii, K_ij], [K_ij, K_jj]]
 * exactly singular, which kernel regression relies on (a pseudo-inverse then drops the null
 * mode). Computed pair by pair they are not: the diagonal runs the 1-d maps, the pair the 2-d
 * ones (tanh's Gauss-Hermite 1-d and product rules differ by ~1e-11; relu's arccos turns an ulp
 * into ~1e-8), and the Gram entries come from different BLAS blocks. So the kernel is computed on
 * the u distinct rows and copied out. uid[i] < u is row i's distinct row, numbered in order of
 * first appearance (so uid[i] <= i). */
typedef struct row_key {
    uint64_t h;
    size_t i;
} row_key;

static int row_key_cmp(const void *a, const void *b) {
    const row_key *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static int rows_equal(const double *a, const double *b, size_t d) {
    for (size_t k = 0; k < d; k++)
        if (a[k] != b[k])
            return 0;
    return 1;
}

/* uid [n] (scratch keys [n]); returns u. FNV-1a over each entry's bits, -0 hashed as 0. */
static size_t distinct_rows(const double *X, size_t n, size_t d, row_key *keys, size_t *uid) {
    for (size_t i = 0; i < n; i++) {
        uint64_t h = 1469598103934665603u;
        for (size_t k = 0; k < d; k++) {
            const double v = X[i * d + k] == 0 ? 0.0 : X[i * d + k];
            unsigned char b[sizeof v];
            memcpy(b, &v, sizeof v);
            for (size_t q = 0; q < sizeof v; q++)
                h = (h ^ b[q]) * 1099511628211u;
        }
        keys[i] = (row_key){h, i};
        uid[i] = i; /* first: the index of the earliest equal row */
    }
    qsort(keys, n, sizeof *keys, row_key_cmp);
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n && keys[b].h == keys[a].h; b++) {
            const size_t i = keys[a].i, j = keys[b].i; /* i < j */
            if (uid[j] == j && uid[i] == i && rows_equal(X + i * d, X + j * d, d))
                uid[j] = i;
        }
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        uid[i] = uid[i] == i ? u++ : uid[uid[i]];
    return u;
}

/* K [n, n] from its distinct-row kernel Ku [u, u], stored in K's first u^2 entries: written from
 * the last entry down, each entry reads uid[i] u + uid[j] <= i n + j, which is not yet written. */
static void expand_rows(double *K, size_t n, size_t u, const size_t *uid) {
    for (size_t i = n; i-- > 0;)
        for (size_t j = n; j-- > 0;)
            K[i * n + j] = K[uid[i] * u + uid[j]];
}

/* Both entry points: validated arguments and the layer coefficients c[3]. */
static lm_status analytic(const double *X, size_t n, size_t d, size_t depth, lm_act act,
                          const coef c[3], double *nngp, double *ntk, lm_err *err) {
    for (size_t k = 0; k < n * d; k++)
        if (!isfinite(X[k]))
            LM_FAIL(err, LM_ENUMERIC, "inputs [%zu, %zu]: entry (%zu, %zu) is %g", n, d, k / d,
                    k % d, X[k]);
    if (n > SIZE_MAX / sizeof(double) / (depth + 3))
        LM_FAIL(err, LM_ERANGE, "depth = %zu with %zu inputs: diagonal table overflows", depth, n);
    lm_status st = LM_OK;
    rule *r = NULL;
    if (!has_closed_form(act) && (st = rules_make(&r, err)))
        return st;
    /* dg: rows 0..depth-1 the hidden variances, rows depth and depth+1 the diagonal of Sigma and
     * Theta (computed before the outputs are touched, so an overflow fails cleanly) */
    double *dg = lm_malloc((depth + 2) * n * sizeof *dg);
    size_t *uid = lm_malloc(n * sizeof *uid);
    row_key *keys = lm_malloc(n * sizeof *keys);
    double *xu = NULL;
    if (!dg || !uid || !keys)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                        "kernel scratch: %zu doubles for %zu inputs at depth %zu", (depth + 4) * n,
                        n, depth);
    size_t u = n;
    if (st == LM_OK && (u = distinct_rows(X, n, d, keys, uid)) < n) {
        if (!(xu = lm_malloc(u * d * sizeof *xu)))
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                            "kernel scratch: %zu distinct of %zu inputs [%zu, %zu]", u, n, n, d);
        for (size_t i = 0, q = 0; st == LM_OK && i < n; i++)
            if (uid[i] == q)
                memcpy(xu + d * q++, X + i * d, d * sizeof *xu);
    }
    const double *xs = xu ? xu : X;
    job jb = {.r = r,
              .act = act,
              .n = u,
              .depth = depth,
              .c = {c[0], c[1], c[2]},
              .inv_d = 1 / (double) d,
              .dg = dg,
              .nngp = nngp,
              .ntk = ntk};
    /* The diagonal first, into dg: |K_ij| <= sqrt(K_ii K_jj) for these PSD kernels, so a finite
     * diagonal means a finite kernel (the closed forms avoid overflowing intermediates). */
    for (size_t i = 0; st == LM_OK && i < u; i++) {
        double *sd = dg + depth * u, *td = dg + (depth + 1) * u;
        recurse(&jb, cblas_ddot((int) d, xs + i * d, 1, xs + i * d, 1), i, i, &sd[i], &td[i]);
        for (size_t l = 0; l <= depth + 1 && st == LM_OK; l++)
            if (!isfinite(dg[l * u + i])) {
                size_t row = 0;
                while (uid[row] != i)
                    row++;
                st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__,
                                "inputs [%zu, %zu]: the kernel of row %zu (|x|^2 = %g) is not "
                                "finite in double precision (%s %g at layer %zu of %zu): rescale "
                                "the inputs or sw2/sb2",
                                n, d, row, cblas_ddot((int) d, xs + i * d, 1, xs + i * d, 1),
                                l < depth    ? "variance"
                                : l == depth ? "nngp"
                                             : "ntk",
                                dg[l * u + i], l < depth ? l + 1 : depth + 1, depth + 1);
            }
    }
    if (st != LM_OK) {
        lm_free(xu);
        lm_free(keys);
        lm_free(uid);
        lm_free(dg);
        lm_free(r);
        return st;
    }

    /* Everything that can fail has been done: the outputs are written from here on. The
     * distinct-row kernel Ku [u, u] occupies the first u^2 entries of each output. */
    double *gram = nngp ? nngp : ntk;
    jb.gram = gram;
    lm_blas_threads_for((double) u * (double) u * (double) d / 2);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int) u, (int) d, 1.0, xs, (int) d, 0.0,
                gram, (int) u);
    for (size_t i = 0; i < u; i++) {
        /* gram[i*u+i] is not read: the pair loop reads only the strict upper triangle */
        if (nngp)
            nngp[i * u + i] = dg[depth * u + i];
        if (ntk)
            ntk[i * u + i] = dg[(depth + 1) * u + i];
    }

    atomic_init(&jb.next, 0);
    int nt = lm_threads_get();
    if (nt < 1)
        nt = 1;
    if (nt > MAX_THREADS)
        nt = MAX_THREADS;
    if ((size_t) nt > u / ROW_CHUNK + 1)
        nt = (int) (u / ROW_CHUNK + 1);
    pthread_t tid[MAX_THREADS];
    int started = 0;
    for (int k = 1; k < nt; k++) {
        if (pthread_create(&tid[started], NULL, worker, &jb) != 0)
            break; /* fewer threads: the calling thread picks up the remaining rows */
        started++;
    }
    worker(&jb);
    for (int k = 0; k < started; k++)
        pthread_join(tid[k], NULL);
    if (u < n) {
        if (nngp)
            expand_rows(nngp, n, u, uid);
        if (ntk)
            expand_rows(ntk, n, u, uid);
    }
    lm_free(xu);
    lm_free(keys);
    lm_free(uid);
    lm_free(dg);
    lm_free(r);
    return LM_OK;
}

/* The checks both entry points share (the name says which one failed). */
static lm_status check_args(const char *fn, const double *X, size_t n, size_t d, size_t depth,
                            lm_act act, double sw2, double sb2, const double *nngp,
                            const double *ntk, lm_err *err) {
    if (!X || (!nngp && !ntk))
        LM_FAIL(err, LM_EINVAL, "%s: X and at least one of nngp, ntk are needed", fn);
    if (n == 0 || d == 0 || n > INT_MAX || d > INT_MAX)
        LM_FAIL(err, LM_ESHAPE, "inputs [%zu, %zu]: need 1..%d rows and columns", n, d, INT_MAX);
    if (n > SIZE_MAX / sizeof(double) / n)
        LM_FAIL(err, LM_ERANGE, "inputs [%zu, %zu]: an %zu x %zu kernel overflows memory", n, d, n,
                n);
    if (depth > MAX_DEPTH)
        LM_FAIL(err, LM_EINVAL, "depth = %zu: must be at most %d", depth, MAX_DEPTH);
    if ((unsigned) act > (unsigned) LM_ACT_QUADRATIC)
        LM_FAIL(err, LM_EINVAL, "activation %d: unknown", (int) act);
    if (!isfinite(sw2) || sw2 <= 0)
        LM_FAIL(err, LM_EINVAL, "sw2 = %g: must be finite and positive", sw2);
    if (!isfinite(sb2) || sb2 < 0)
        LM_FAIL(err, LM_EINVAL, "sb2 = %g: must be finite and non-negative", sb2);
    return LM_OK;
}

lm_status lm_kernel_analytic(const double *X, size_t n, size_t d, size_t depth, lm_act act,
                             double sw2, double sb2, double *nngp, double *ntk, lm_err *err) {
    LM_TRY(check_args("lm_kernel_analytic", X, n, d, depth, act, sw2, sb2, nngp, ntk, err));
    const coef c = {sw2, sb2, sw2, sb2};
    const coef cs[3] = {c, c, c};
    return analytic(X, n, d, depth, act, cs, nngp, ntk, err);
}

lm_status lm_kernel_analytic_spec(const lm_kernel_spec *s, const double *X, size_t n, size_t d,
                                  double *nngp, double *ntk, lm_err *err) {
    if (!s)
        LM_FAIL(err, LM_EINVAL, "lm_kernel_analytic_spec: spec is NULL");
    LM_TRY(check_args("lm_kernel_analytic_spec", X, n, d, s->depth, s->act, s->sw2, s->sb2, nngp,
                      ntk, err));
    if ((unsigned) s->param > (unsigned) LM_PARAM_MUP)
        LM_FAIL(err, LM_EINVAL, "parameterization %d: unknown (sp, ntp, mup)", (int) s->param);
    if (s->param == LM_PARAM_SP && s->width == 0)
        LM_FAIL(err, LM_EINVAL,
                "width = 0: sp's tangent kernel grows with the width: give the "
                "width");
    if (s->param == LM_PARAM_MUP && s->width == 0)
        LM_FAIL(err, LM_EINVAL,
                "width = 0: mup's kernels depend on the width (through m = width/base_width and "
                "the hidden terms): give the width");
    coef c[3];
    coefs(s, d, c);
    return analytic(X, n, d, s->depth, s->act, c, nngp, ntk, err);
}

lm_status lm_kernel_analytic_blocks(const lm_kernel_spec *s, const double *X, size_t n,
                                    const double *Xs, size_t m, size_t d, lm_kernel_blocks *nngp,
                                    lm_kernel_blocks *ntk, lm_err *err) {
    const int want_k = nngp && nngp->train, want_t = ntk && ntk->train;
    if (!want_k && !want_t)
        LM_FAIL(err, LM_EINVAL, "lm_kernel_analytic_blocks: no kernel asked for (train is NULL)");
    if (!X || (m && !Xs))
        LM_FAIL(err, LM_EINVAL, "lm_kernel_analytic_blocks: X [%zu, %zu] or Xs [%zu, %zu] is NULL",
                n, d, m, d);
    if (n == 0 || d == 0)
        LM_FAIL(err, LM_ESHAPE, "training inputs [%zu, %zu]: need at least one row and column", n,
                d);
    if (m > SIZE_MAX / 2 - n || (n + m) > SIZE_MAX / sizeof(double) / (n + m) ||
        (n + m) > SIZE_MAX / sizeof(double) / d)
        LM_FAIL(err, LM_ERANGE, "%zu training and %zu test inputs: the kernels overflow memory", n,
                m);
    const size_t N = n + m;
    double *xs = lm_malloc(N * d * sizeof *xs);
    double *kk = want_k ? lm_malloc(N * N * sizeof *kk) : NULL;
    double *kt = want_t ? lm_malloc(N * N * sizeof *kt) : NULL;
    lm_status st = LM_OK;
    if (!xs || (want_k && !kk) || (want_t && !kt))
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                        "out of memory for the %zu x %zu kernels of %zu training and %zu test "
                        "inputs (%.3g GB)",
                        N, N, n, m, (double) (want_k + want_t) * (double) N * (double) N * 8e-9);
    if (st == LM_OK) {
        memcpy(xs, X, n * d * sizeof *xs);
        if (m)
            memcpy(xs + n * d, Xs, m * d * sizeof *xs);
        st = lm_kernel_analytic_spec(s, xs, N, d, kk, kt, err);
    }
    for (int kind = 0; st == LM_OK && kind < 2; kind++) {
        const double *K = kind ? kt : kk;
        lm_kernel_blocks *b = kind ? ntk : nngp;
        if (!K)
            continue;
        for (size_t i = 0; i < n; i++)
            memcpy(b->train + i * n, K + i * N, n * sizeof *K);
        for (size_t i = 0; b->cross && i < m; i++)
            memcpy(b->cross + i * n, K + (n + i) * N, n * sizeof *K);
        for (size_t i = 0; b->diag && i < m; i++)
            b->diag[i] = K[(n + i) * N + n + i];
    }
    lm_free(xs);
    lm_free(kk);
    lm_free(kt);
    return st;
}
