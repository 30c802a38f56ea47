/*
 * exp_mup_transfer.c: learning-rate transfer under muP (Yang et al. 2022, TP-V; science.md §5
 * "LR transfer"). 196-n-n-10 ReLU networks on 10k Fashion-MNIST-196 images, cross-entropy, Adam,
 * batch 128, 300 steps, in SP and in muP (base width 64), each on an 8-point log2 grid of learning
 * rates. The score of a run is its mean training loss over the last 50 steps: the full
 * training-set cross-entropy recorded every 25 steps (eval_every), averaged over steps 250, 275
 * and 300 (a 10k-example evaluation is ~20x a minibatch step at width 1024, so evaluating every
 * step would multiply the sweep's cost by ~5; three full-set evaluations are less noisy than 50
 * minibatch losses). eta* is the vertex of the least-squares parabola in log2 eta through the
 * (up to 5) grid points around the best one; a best point at the grid edge, or a non-convex fit,
 * leaves eta* unmeasured (the claims are then inconclusive). Diverged runs have no score.
 *
 * Pass (science.md §5): muP's range of log2 eta* over the widths <= 1.0; SP's shift
 * log2 eta*(n_min) - log2 eta*(n_max) >= 1.5 over 16x width; muP's loss at eta* does not
 * increase with width by more than 1 % between neighbouring widths.
 * Workload: 2 x 5 widths x 8 rates = 80 runs (the largest 1.26M parameters); quick: widths
 * 64-256, 5 rates 1.5 octaves apart, 4000 examples, 150 steps (30 runs).
 */
#include "exp/internal.h"

#include <stdio.h>
#include <string.h>

static const char *BASE =
    "{\"name\": \"mup-transfer\", \"seed\": 0, \"data\": {\"source\": \"fashion-mnist\","
    "  \"train_size\": 10000, \"test_size\": 0, \"pool\": 2, \"normalize\": \"standardize\"},"
    " \"model\": {\"widths\": [196, 64, 64, 10], \"activation\": \"relu\", \"base_width\": 64},"
    " \"loss\": \"ce\", \"optimizer\": {\"name\": \"adam\", \"lr\": 0.001}, \"batch_size\": 128,"
    " \"steps\": 300, \"eval_every\": 25, \"threads\": 1}";

#define N_PARAM 2
#define MAX_W   5
#define MAX_LR  8
#define WINDOW  50 /* the score averages the last WINDOW steps (science.md §5) */

static const char *PARAMS[N_PARAM] = {"sp", "mup"};
static const size_t WIDTHS[MAX_W] = {64, 128, 256, 512, 1024};

typedef struct sweep {
    size_t n_w, n_lr, steps, train;
    double log2lr[MAX_LR];
} sweep;

static sweep sizes(int quick) {
    sweep s;
    memset(&s, 0, sizeof s);
    if (quick) {
        s.n_w = 3;
        s.n_lr = 5;
        s.steps = 150;
        s.train = 4000;
        for (size_t i = 0; i < s.n_lr; i++)
            s.log2lr[i] = -11.0 + 1.5 * (double) i; /* -11 .. -5 */
    } else {
        s.n_w = 5;
        s.n_lr = 8;
        s.steps = 300;
        s.train = 10000;
        /* science.md's prototype: SP eta* from 2^-7.6 (n = 64) to 2^-10 (n = 1024), muP
         * 2^-7.6 .. 2^-7.1: -12 .. -5 keeps every expected eta* two points from the edges */
        for (size_t i = 0; i < s.n_lr; i++)
            s.log2lr[i] = -12.0 + (double) i;
    }
    return s;
}

/* Plan order: parameterization, width, rate. */
static size_t idx(const sweep *s, size_t p, size_t w, size_t k) {
    return (p * s->n_w + w) * s->n_lr + k;
}

static lm_status plan(int quick, lm_exp_plan *pl, lm_err *err) {
    const sweep s = sizes(quick);
    for (size_t p = 0; p < N_PARAM; p++)
        for (size_t w = 0; w < s.n_w; w++)
            for (size_t k = 0; k < s.n_lr; k++) {
                char widths[64], param[48], lr[48], steps[32], train[48], label[96];
                snprintf(widths, sizeof widths, "model.widths=[196, %zu, %zu, 10]", WIDTHS[w],
                         WIDTHS[w]);
                snprintf(param, sizeof param, "model.parameterization=\"%s\"", PARAMS[p]);
                snprintf(lr, sizeof lr, "optimizer.lr=%.17g", exp2(s.log2lr[k]));
                snprintf(steps, sizeof steps, "steps=%zu", s.steps);
                snprintf(train, sizeof train, "data.train_size=%zu", s.train);
                snprintf(label, sizeof label, "%s n=%zu log2lr=%g", PARAMS[p], WIDTHS[w],
                         s.log2lr[k]);
                const char *sets[] = {widths, param, lr, steps, train};
                LM_TRY(lm_exp_plan_add(pl, label, BASE, 5, sets, err));
            }
    return LM_OK;
}

/* The score of run: mean train_loss over the recorded steps in [steps - WINDOW, steps]; NaN when
 * the run failed, diverged or stopped before its last step. */
static lm_status score(const lm_exp_ctx *ctx, int64_t run, size_t steps, double *out, lm_err *err) {
    int64_t st[64];
    double v[64];
    size_t n = 0;
    *out = LM_NAN;
    if (run <= 0)
        return LM_OK;
    LM_TRY(lm_exp_series(ctx, run, "train_loss", 64, st, v, &n, err));
    if (n == 0 || st[n - 1] != (int64_t) steps)
        return LM_OK;
    double sum = 0;
    size_t cnt = 0;
    for (size_t k = 0; k < n; k++)
        if (st[k] >= (int64_t) (steps - WINDOW)) {
            sum += v[k];
            cnt++;
        }
    *out = cnt > 0 && isfinite(sum) ? sum / (double) cnt : LM_NAN;
    return LM_OK;
}

/* eta* from the scores y over the grid x: the vertex of the least-squares parabola through the
 * finite points among the 5 around the best; *at (the parabola's value there). NaN when the best
 * is at the grid edge, fewer than 3 points are finite, or the parabola opens downward. */
static void vertex(size_t n, const double *x, const double *y, double *opt, double *at) {
    *opt = *at = LM_NAN;
    size_t best = n;
    for (size_t i = 0; i < n; i++)
        if (isfinite(y[i]) && (best == n || y[i] < y[best]))
            best = i;
    if (best == n || best == 0 || best + 1 == n)
        return;
    const size_t lo = best >= 2 ? best - 2 : 0, hi = best + 2 < n ? best + 2 : n - 1;
    /* normal equations of y = c0 + c1 u + c2 u^2 with u = x - x[best] */
    double S[5] = {0}, T[3] = {0};
    size_t cnt = 0;
    for (size_t i = lo; i <= hi; i++) {
        if (!isfinite(y[i]))
            continue;
        const double u = x[i] - x[best];
        double pw = 1;
        for (int k = 0; k < 5; k++) {
            S[k] += pw;
            if (k < 3)
                T[k] += pw * y[i];
            pw *= u;
        }
        cnt++;
    }
    if (cnt < 3)
        return;
    double A[3][4] = {{S[0], S[1], S[2], T[0]}, {S[1], S[2], S[3], T[1]}, {S[2], S[3], S[4], T[2]}};
    for (int c = 0; c < 3; c++) { /* Gauss-Jordan with partial pivoting */
        int piv = c;
        for (int r = c + 1; r < 3; r++)
            if (fabs(A[r][c]) > fabs(A[piv][c]))
                piv = r;
        if (A[piv][c] == 0)
            return;
        for (int k = 0; k < 4; k++) {
            const double tmp = A[c][k];
            A[c][k] = A[piv][k];
            A[piv][k] = tmp;
        }
        for (int r = 0; r < 3; r++) {
            if (r == c)
                continue;
            const double f = A[r][c] / A[c][c];
            for (int k = c; k < 4; k++)
                A[r][k] -= f * A[c][k];
        }
    }
    const double c0 = A[0][3] / A[0][0], c1 = A[1][3] / A[1][1], c2 = A[2][3] / A[2][2];
    if (!(c2 > 0))
        return;
    const double u = -c1 / (2 * c2);
    *opt = x[best] + u;
    *at = c0 + c1 * u + c2 * u * u;
}

static void link_runs(const lm_exp_ctx *ctx, const sweep *s, lm_claim *c, size_t p) {
    if (!c)
        return;
    c->n_runs = 0;
    for (size_t w = 0; w < s->n_w; w++)
        for (size_t k = 0; k < s->n_lr && c->n_runs < LM_CLAIM_MAX_RUNS; k++) {
            const size_t i = idx(s, p, w, k);
            if (i < ctx->n_runs && ctx->run[i] > 0)
                c->runs[c->n_runs++] = ctx->run[i];
        }
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    const sweep s = sizes(ctx->quick);
    double sc[N_PARAM][MAX_W][MAX_LR], opt[N_PARAM][MAX_W], at[N_PARAM][MAX_W];
    for (size_t p = 0; p < N_PARAM; p++)
        for (size_t w = 0; w < s.n_w; w++) {
            for (size_t k = 0; k < s.n_lr; k++) {
                const size_t i = idx(&s, p, w, k);
                LM_TRY(score(ctx, i < ctx->n_runs ? ctx->run[i] : -1, s.steps, &sc[p][w][k], err));
            }
            vertex(s.n_lr, s.log2lr, sc[p][w], &opt[p][w], &at[p][w]);
        }
    const double span = log2((double) WIDTHS[s.n_w - 1] / (double) WIDTHS[0]);
    char det[256], pred[192];
    /* muP: eta* stays put */
    double mn = LM_INF, mx = -LM_INF;
    int len = 0;
    for (size_t w = 0; w < s.n_w; w++) {
        mn = fmin(mn, opt[1][w]);
        mx = fmax(mx, opt[1][w]);
        if (isnan(opt[1][w]))
            mn = mx = LM_NAN;
        len += snprintf(det + len, sizeof det - (size_t) len, "%s%.2f",
                        w ? ", " : "log2 eta*: ", opt[1][w]);
    }
    snprintf(pred, sizeof pred, "muP: log2 eta* the same at widths %zu-%zu (%gx)", WIDTHS[0],
             WIDTHS[s.n_w - 1], exp2(span));
    lm_claim *c = lm_exp_claim(ctx, "muP: optimal LR transfers", pred, 0.0, mx - mn, LM_NAN, 0.0,
                               1.0, "range of log2 eta* <= 1.0", 1.0,
                               "science.md §5 [C]: the prototype's muP eta* moved 0.55 octaves "
                               "over 16x width; one octave is the grid spacing, so a range "
                               "below it means the same grid point is optimal up to rounding");
    if (c) {
        snprintf(c->detail, sizeof c->detail, "%s", det);
        link_runs(ctx, &s, c, 1);
    }
    /* SP: eta* drifts down */
    len = 0;
    for (size_t w = 0; w < s.n_w; w++)
        len += snprintf(det + len, sizeof det - (size_t) len, "%s%.2f",
                        w ? ", " : "log2 eta*: ", opt[0][w]);
    const double need = 1.5 * span / 4.0; /* 1.5 octaves over 16x = 4 octaves of width */
    snprintf(pred, sizeof pred,
             "SP: eta* falls with width (prototype: 0.59 octaves of eta per octave of width)");
    char tol[96];
    snprintf(tol, sizeof tol, "log2 eta*(%zu) - log2 eta*(%zu) >= %.2f", WIDTHS[0],
             WIDTHS[s.n_w - 1], need);
    c = lm_exp_claim(ctx, "SP: optimal LR shifts", pred, 0.59 * span, opt[0][0] - opt[0][s.n_w - 1],
                     LM_NAN, need, LM_INF, tol, need,
                     "science.md §5 [C]: SP's eta* fell 2.35 octaves over 16x width in the "
                     "prototype; 1.5 over 16x (0.375 per octave of width, scaled to the quick "
                     "sweep's span) is well above muP's drift and well below SP's");
    if (c) {
        snprintf(c->detail, sizeof c->detail, "%s", det);
        link_runs(ctx, &s, c, 0);
    }
    /* muP: wider is not worse */
    double worst = -LM_INF;
    len = 0;
    for (size_t w = 0; w < s.n_w; w++) {
        if (w > 0)
            worst = fmax(worst, (at[1][w] - at[1][w - 1]) / at[1][w - 1]);
        if (isnan(at[1][w]))
            worst = LM_NAN;
        len += snprintf(det + len, sizeof det - (size_t) len, "%s%.4f",
                        w ? ", " : "L(eta*): ", at[1][w]);
    }
    c = lm_exp_claim(ctx, "muP: wider is better at eta*",
                     "muP: the loss at eta* does not increase with width", 0.0, worst, LM_NAN,
                     -LM_INF, 0.01, "max relative increase between neighbouring widths <= 1 %",
                     0.01,
                     "science.md §5 [C]: the prototype's best loss fell 0.344 -> 0.323 from 64 to "
                     "1024; 1 % is the seed-to-seed noise of a 300-step score");
    if (c) {
        snprintf(c->detail, sizeof c->detail, "%s", det);
        link_runs(ctx, &s, c, 1);
    }
    /* figures: score against log2 eta, one line per width */
    double data[MAX_LR * (MAX_W + 1)];
    char names[MAX_W + 1][24];
    const char *cols[MAX_W + 1];
    snprintf(names[0], sizeof names[0], "log2 lr");
    for (size_t w = 0; w < s.n_w; w++)
        snprintf(names[w + 1], sizeof names[0], "n = %zu", WIDTHS[w]);
    for (size_t w = 0; w <= s.n_w; w++)
        cols[w] = names[w];
    for (size_t p = 0; p < N_PARAM; p++) {
        for (size_t k = 0; k < s.n_lr; k++) {
            data[k * (s.n_w + 1)] = s.log2lr[k];
            for (size_t w = 0; w < s.n_w; w++)
                data[k * (s.n_w + 1) + 1 + w] = sc[p][w][k];
        }
        char name[48], title[96];
        snprintf(name, sizeof name, "mup-transfer-%s", PARAMS[p]);
        snprintf(title, sizeof title, "%s: mean train CE over the last %d steps against the LR",
                 p ? "muP" : "SP", WINDOW);
        LM_TRY(lm__exp_figure_lines(ctx, name, title, "train CE", 1, s.n_w + 1, cols, s.n_lr, data,
                                    err));
    }
    return LM_OK;
}

const lm_experiment lm__exp_mup_transfer = {
    .name = "mup-transfer",
    .summary =
        "muP learning-rate transfer: the optimal Adam LR is width-independent in muP, not in SP",
    .quick =
        "widths 64-256, 5 LRs 1.5 octaves apart, 4000 examples, 150 steps (full: 64-1024, 8 LRs, "
        "10k, 300)",
    .plan = plan,
    .analyse = analyse,
};
