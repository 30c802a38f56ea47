/*
 * noise_scale.c: the gradient noise scale of McCandlish, Kaplan, Amodei 2018 (arXiv 1812.06162;
 * equations in lmech/theory.h and science.md §6): exact per-example statistics, the two-batch
 * estimator that needs only minibatch gradients, and the least-squares fit of the steps-batch
 * hyperbola S(B) = S_min (1 + B_crit / B).
 *
 * Why: the batch-size experiment (src/exp/exp_batch_size.c) checks the estimator against the
 * exact value and the fitted B_crit against B_simple. Workload there: 196-128-128-10 (43k
 * parameters) on 10k examples, i.e. 20k single-row gradients for the exact statistics and 200
 * pairs of (32, 512)-row gradients for the estimator: a few seconds each on one core.
 */
#include "lmech/theory.h"

#include <string.h>

static double dot(const double *a, const double *b, size_t p) {
    double s = 0;
    for (size_t j = 0; j < p; j++)
        s += a[j] * b[j];
    return s;
}

static int all_finite(const double *a, size_t p) {
    for (size_t j = 0; j < p; j++)
        if (!isfinite(a[j]))
            return 0;
    return 1;
}

static lm_status check_args(const lm_mlp *m, const double *theta, const double *x, const double *y,
                            size_t n, const char *fn, lm_err *err) {
    if (!m || !theta || !x || !y)
        LM_FAIL(err, LM_EINVAL, "%s: model, theta, x and y must not be NULL", fn);
    if (n == 0)
        LM_FAIL(err, LM_EINVAL, "%s: n = 0 examples: need at least one", fn);
    return LM_OK;
}

lm_status lm_noise_exact(const lm_mlp *m, lm_loss loss, const double *theta, const double *x,
                         const double *y, size_t n, lm_noise_stats *out, lm_err *err) {
    LM_TRY(check_args(m, theta, x, y, n, "lm_noise_exact", err));
    if (!out)
        LM_FAIL(err, LM_EINVAL, "lm_noise_exact: out must not be NULL");
    const size_t p = m->n_params, din = m->d_in, dout = m->d_out;
    /* the full-batch pass runs in chunks so the workspace stays small for large n */
    const size_t chunk = n < 1024 ? n : 1024;
    lm_mlp_ws *ws = NULL;
    LM_TRY(lm_mlp_ws_new(m, chunk, LM_F64, &ws, err));
    double *G = lm_calloc(p, sizeof *G), *g = lm_malloc(p * sizeof *g);
    if (!G || !g) {
        lm_free(G);
        lm_free(g);
        lm_mlp_ws_free(ws);
        LM_FAIL(err, LM_ENOMEM, "lm_noise_exact: out of memory for 2 x %zu parameters", p);
    }
    lm_status st = LM_OK;
    double lsum = 0;
    for (size_t i0 = 0; st == LM_OK && i0 < n; i0 += chunk) {
        const size_t c = n - i0 < chunk ? n - i0 : chunk;
        double l = 0;
        st = lm_mlp_loss_grad(m, ws, loss, theta, x + i0 * din, y + i0 * dout, c, &l, g, NULL, err);
        const double w = (double) c / (double) n;
        for (size_t j = 0; st == LM_OK && j < p; j++)
            G[j] += w * g[j];
        lsum += w * l;
    }
    if (st == LM_OK && !all_finite(G, p))
        st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__,
                        "lm_noise_exact: the mean gradient over %zu examples is not finite", n);
    double tr = 0;
    for (size_t i = 0; st == LM_OK && i < n; i++) {
        st = lm_mlp_loss_grad(m, ws, loss, theta, x + i * din, y + i * dout, 1, NULL, g, NULL, err);
        double d2 = 0;
        for (size_t j = 0; st == LM_OK && j < p; j++) {
            const double d = g[j] - G[j];
            d2 += d * d;
        }
        if (st == LM_OK && !isfinite(d2))
            st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__,
                            "lm_noise_exact: the gradient of example %zu is not finite", i);
        tr += d2;
    }
    if (st == LM_OK) {
        const double g2 = dot(G, G, p);
        out->n = n;
        out->loss = lsum;
        out->g2 = g2;
        out->tr_sigma = tr / (double) n;
        out->b_simple = out->tr_sigma / g2;
    }
    lm_free(G);
    lm_free(g);
    lm_mlp_ws_free(ws);
    return st;
}

lm_status lm_noise_two_batch(const lm_mlp *m, lm_loss loss, const double *theta, const double *x,
                             const double *y, size_t n, size_t b_small, size_t b_big, size_t pairs,
                             uint64_t seed, lm_noise_twobatch *out, lm_err *err) {
    LM_TRY(check_args(m, theta, x, y, n, "lm_noise_two_batch", err));
    if (!out)
        LM_FAIL(err, LM_EINVAL, "lm_noise_two_batch: out must not be NULL");
    if (b_small < 1 || b_big <= b_small)
        LM_FAIL(err, LM_EINVAL,
                "lm_noise_two_batch: batch sizes small = %zu, big = %zu: need 1 <= small < big",
                b_small, b_big);
    if (pairs < 2)
        LM_FAIL(err, LM_EINVAL,
                "lm_noise_two_batch: pairs = %zu: need at least 2 for a standard error", pairs);
    const size_t p = m->n_params, din = m->d_in, dout = m->d_out, rest = b_big - b_small;
    lm_mlp_ws *ws = NULL;
    LM_TRY(lm_mlp_ws_new(m, b_big, LM_F64, &ws, err));
    double *gs = lm_malloc(p * sizeof *gs), *gr = lm_malloc(p * sizeof *gr);
    double *bx = lm_malloc(b_big * din * sizeof *bx), *by = lm_malloc(b_big * dout * sizeof *by);
    double *S = lm_malloc(pairs * sizeof *S), *Gv = lm_malloc(pairs * sizeof *Gv);
    lm_status st = LM_OK;
    if (!gs || !gr || !bx || !by || !S || !Gv)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                        "lm_noise_two_batch: out of memory (p = %zu, b_big = %zu)", p, b_big);
    lm_rng rng;
    lm_rng_seed(&rng, seed, LM_STREAM_PROBE);
    const double fs = (double) b_small, fb = (double) b_big;
    for (size_t k = 0; st == LM_OK && k < pairs; k++) {
        for (size_t r = 0; r < b_big; r++) {
            const size_t i = (size_t) lm_rng_below(&rng, n);
            memcpy(bx + r * din, x + i * din, din * sizeof *bx);
            memcpy(by + r * dout, y + i * dout, dout * sizeof *by);
        }
        st = lm_mlp_loss_grad(m, ws, loss, theta, bx, by, b_small, NULL, gs, NULL, err);
        if (st == LM_OK)
            st = lm_mlp_loss_grad(m, ws, loss, theta, bx + b_small * din, by + b_small * dout, rest,
                                  NULL, gr, NULL, err);
        if (st != LM_OK)
            break;
        /* G_big = (b_small G_small + rest G_rest) / b_big, formed in place in gr */
        double s2 = 0, b2 = 0;
        for (size_t j = 0; j < p; j++) {
            gr[j] = (fs * gs[j] + (double) rest * gr[j]) / fb;
            s2 += gs[j] * gs[j];
            b2 += gr[j] * gr[j];
        }
        if (!isfinite(s2) || !isfinite(b2)) {
            st =
                lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__,
                           "lm_noise_two_batch: a minibatch gradient of pair %zu is not finite", k);
            break;
        }
        Gv[k] = (fb * b2 - fs * s2) / (fb - fs);
        S[k] = (s2 - b2) / (1.0 / fs - 1.0 / fb);
    }
    if (st == LM_OK) {
        const double K = (double) pairs;
        double ms = 0, mg = 0;
        for (size_t k = 0; k < pairs; k++) {
            ms += S[k];
            mg += Gv[k];
        }
        ms /= K;
        mg /= K;
        double vs = 0, vg = 0, cv = 0;
        for (size_t k = 0; k < pairs; k++) {
            vs += (S[k] - ms) * (S[k] - ms);
            vg += (Gv[k] - mg) * (Gv[k] - mg);
            cv += (S[k] - ms) * (Gv[k] - mg);
        }
        vs /= K - 1;
        vg /= K - 1;
        cv /= K - 1;
        const double R = ms / mg;
        const double var_r = (vs - 2 * R * cv + R * R * vg) / (K * mg * mg);
        out->pairs = pairs;
        out->b_small = b_small;
        out->b_big = b_big;
        out->g2 = mg;
        out->g2_se = sqrt(vg / K);
        out->tr_sigma = ms;
        out->tr_sigma_se = sqrt(vs / K);
        out->b_simple = R;
        out->b_simple_se = sqrt(fmax(var_r, 0.0));
    }
    lm_free(gs);
    lm_free(gr);
    lm_free(bx);
    lm_free(by);
    lm_free(S);
    lm_free(Gv);
    lm_mlp_ws_free(ws);
    return st;
}

lm_status lm_noise_fit_hyperbola(size_t n, const double *batch, const double *steps,
                                 lm_hyperbola_fit *out, lm_err *err) {
    if (!batch || !steps || !out)
        LM_FAIL(err, LM_EINVAL, "lm_noise_fit_hyperbola: batch, steps and out must not be NULL");
    if (n < 3)
        LM_FAIL(err, LM_EINVAL,
                "lm_noise_fit_hyperbola: %zu points: need at least 3 (2 parameters and a residual)",
                n);
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(batch[i] > 0) || !isfinite(batch[i]))
            LM_FAIL(err, LM_EINVAL,
                    "lm_noise_fit_hyperbola: point %zu: batch size %g is not a "
                    "finite positive number",
                    i, batch[i]);
        if (!isfinite(steps[i]))
            LM_FAIL(err, LM_EINVAL,
                    "lm_noise_fit_hyperbola: point %zu (B = %g): steps %g is not "
                    "finite",
                    i, batch[i], steps[i]);
        mx += 1.0 / batch[i];
        my += steps[i];
    }
    mx /= (double) n;
    my /= (double) n;
    double sxx = 0, sxy = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        const double dx = 1.0 / batch[i] - mx, dy = steps[i] - my;
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if (!(sxx > 0))
        LM_FAIL(err, LM_EINVAL,
                "lm_noise_fit_hyperbola: all %zu batch sizes are equal (B = %g): "
                "the slope in 1/B is undetermined",
                n, batch[0]);
    const double b = sxy / sxx, a = my - b * mx;
    double ssr = 0;
    for (size_t i = 0; i < n; i++) {
        const double r = steps[i] - (a + b / batch[i]);
        ssr += r * r;
    }
    out->a = a;
    out->b = b;
    out->s_min = a;
    out->b_crit = b / a;
    out->r2 = syy > 0 ? 1.0 - ssr / syy : (ssr > 0 ? LM_NAN : 1.0);
    return LM_OK;
}
