/*
 * Tests for the data-parallel team (src/model/team.c): its loss and gradient against the
 * single-workspace lm_mlp_loss_grad(_f32) for every loss (mse_observed with NaN targets spread
 * unevenly over the parts: the parts weigh by their observed targets, lm_loss_weight), both dtypes,
 * thread counts 2..4 and batch sizes that do not divide evenly (including fewer rows than threads);
 * bitwise determinism; no allocation per call; clean failure at every allocation; the error paths.
 *
 * Tolerance. The team forms each part's gradient as a sum over its own rows, then combines
 * the parts as sum_t (n_t/n) g_t in double; the reference sums all n rows inside one GEMM. The
 * two are different roundings of the same exact sum: each entry differs by at most about
 * n * u * sum_i |term_i| (u = 2^-24 in float32, 2^-53 in float64; n <= 301 here), and the
 * forward pass of a row may also round differently when OpenBLAS blocks a different row count,
 * which the smooth network carries to the gradient with O(1) gain. Normwise, that is
 * ||g_team - g_ref|| / ||g_ref|| <= ~1e2 u times the ratio sum|terms| / |sum| (O(1)-O(10) for
 * these random data). We allow 3e-4 in float32 (~5000 u) and 1e-11 in float64 (~45000 u):
 * generous for rounding, yet a wrong weight n_t/n (an error >= 1/301 ~ 3e-3) or a missing or
 * doubled part (error ~0.3 and more) fails by orders of magnitude.
 */
#include "lm_test.h"
#include "lmech/model.h"

#include <string.h>

/* the team splits batches of at least 64 rows per thread (team.c), so batches reach 4 x 64 */
#define N_MAX 301

typedef struct net {
    lm_mlp *m;
    size_t p, d, k;
    double *theta, *x, *y;      /* float64 data            */
    float *theta32, *x32, *y32; /* the same, rounded */
} net;

static void net_make(net *t, lm_loss loss, uint64_t seed) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = 4;
    s.widths[0] = 13;
    s.widths[1] = 16;
    s.widths[2] = 9;
    s.widths[3] = 5;
    s.act = LM_ACT_TANH;
    s.sb2 = 0.3; /* biases away from 0, so their gradients are exercised */
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &t->m, &err), LM_OK, "%s", err.msg);
    t->p = t->m->n_params;
    t->d = 13;
    t->k = 5;
    t->theta = malloc(t->p * sizeof(double));
    cr_assert_eq(lm_mlp_init(t->m, seed, t->theta, &err), LM_OK);
    t->x = malloc(N_MAX * t->d * sizeof(double));
    t->y = calloc(N_MAX * t->k, sizeof(double));
    lm_rng r;
    lm_rng_seed(&r, seed + 100, 0);
    for (size_t i = 0; i < N_MAX * t->d; i++)
        t->x[i] = 1.3 * lm_rng_normal(&r);
    for (size_t i = 0; i < N_MAX; i++) {
        if (loss == LM_LOSS_CE)
            t->y[i * t->k + lm_rng_below(&r, t->k)] = 1.0;
        else
            for (size_t j = 0; j < t->k; j++)
                t->y[i * t->k + j] = lm_rng_normal(&r);
    }
    /* mse_observed: NaN (unobserved) targets, dense in the first third of the rows and sparse
     * after it, so that weighing the parts by their rows instead of their observed targets
     * would be wrong by tens of percent */
    if (loss == LM_LOSS_MSE_OBSERVED)
        for (size_t i = 0; i < N_MAX * t->k; i++)
            if (lm_rng_uniform(&r) < (i < N_MAX * t->k / 3 ? 0.8 : 0.2))
                t->y[i] = LM_NAN;
    t->theta32 = malloc(t->p * sizeof(float));
    t->x32 = malloc(N_MAX * t->d * sizeof(float));
    t->y32 = malloc(N_MAX * t->k * sizeof(float));
    for (size_t i = 0; i < t->p; i++)
        t->theta32[i] = (float) t->theta[i];
    for (size_t i = 0; i < N_MAX * t->d; i++)
        t->x32[i] = (float) t->x[i];
    for (size_t i = 0; i < N_MAX * t->k; i++)
        t->y32[i] = (float) t->y[i];
}

static void net_free(net *t) {
    lm_mlp_free(t->m);
    free(t->theta);
    free(t->x);
    free(t->y);
    free(t->theta32);
    free(t->x32);
    free(t->y32);
}

/* ||a - b|| / ||b|| */
static double rel_err(const double *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / (den > 1e-300 ? den : 1e-300));
}

/* Team vs single workspace for one (dtype, loss, threads) over several batch sizes. */
static void check_against_single(lm_dtype dt, lm_loss loss, int nt) {
    /* plain path below 64 rows per thread (including n < threads), then uneven splits */
    static const size_t ns[] = {1, 3, 7, 127, 128, 129, 193, 256, 257, N_MAX};
    net t;
    net_make(&t, loss, 7);
    const int f32 = dt == LM_F32;
    const double tol = f32 ? 3e-4 : 1e-11; /* see the header comment */
    lm_err err = {0};
    lm_mlp_ws *ws;
    lm_mlp_team *team;
    cr_assert_eq(lm_mlp_ws_new(t.m, N_MAX, dt, &ws, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_team_new(t.m, N_MAX, dt, nt, &team, &err), LM_OK, "%s", err.msg);
    double *gr = malloc(t.p * sizeof(double)), *gt = malloc(t.p * sizeof(double));
    float *gr32 = malloc(t.p * sizeof(float)), *gt32 = malloc(t.p * sizeof(float));
    for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
        const size_t n = ns[c];
        double lr = 0, lt = 0;
        if (f32) {
            cr_assert_eq(lm_mlp_loss_grad_f32(t.m, ws, loss, t.theta32, t.x32, t.y32, n, &lr, gr32,
                                              NULL, &err),
                         LM_OK, "%s", err.msg);
            cr_assert_eq(
                lm_mlp_team_loss_grad(team, loss, t.theta32, t.x32, t.y32, n, &lt, gt32, &err),
                LM_OK, "%s", err.msg);
            for (size_t i = 0; i < t.p; i++) {
                gr[i] = (double) gr32[i];
                gt[i] = (double) gt32[i];
            }
        } else {
            cr_assert_eq(lm_mlp_loss_grad(t.m, ws, loss, t.theta, t.x, t.y, n, &lr, gr, NULL, &err),
                         LM_OK, "%s", err.msg);
            cr_assert_eq(lm_mlp_team_loss_grad(team, loss, t.theta, t.x, t.y, n, &lt, gt, &err),
                         LM_OK, "%s", err.msg);
        }
        const double e = rel_err(gt, gr, t.p);
        cr_assert(e < tol, "%s %s threads=%d n=%zu: gradient rel err %.3g", lm_dtype_name(dt),
                  lm_loss_name(loss), nt, n, e);
        cr_assert(lm_close(lt, lr, tol, 1e-300), "%s %s threads=%d n=%zu: loss %.17g vs %.17g",
                  lm_dtype_name(dt), lm_loss_name(loss), nt, n, lt, lr);
    }
    free(gr);
    free(gt);
    free(gr32);
    free(gt32);
    lm_mlp_team_free(team);
    lm_mlp_ws_free(ws);
    net_free(&t);
    LM_CHECK_LEAKS();
}

Test(team, f64_matches_single_workspace_every_loss_and_thread_count) {
    for (int nt = 1; nt <= 4; nt++) {
        check_against_single(LM_F64, LM_LOSS_MSE, nt);
        check_against_single(LM_F64, LM_LOSS_MSE_MEAN, nt);
        check_against_single(LM_F64, LM_LOSS_CE, nt);
        check_against_single(LM_F64, LM_LOSS_MSE_OBSERVED, nt);
    }
}

Test(team, f32_matches_single_workspace_every_loss_and_thread_count) {
    for (int nt = 1; nt <= 4; nt++) {
        check_against_single(LM_F32, LM_LOSS_MSE, nt);
        check_against_single(LM_F32, LM_LOSS_MSE_MEAN, nt);
        check_against_single(LM_F32, LM_LOSS_CE, nt);
        check_against_single(LM_F32, LM_LOSS_MSE_OBSERVED, nt);
    }
}

/* Rows are really split: with 2 threads, the gradient over n rows is the n_t/n-weighted mean
 * of the single-workspace gradients of the two halves (same rows, so only rounding differs). */
Test(team, gradient_is_the_weighted_mean_of_the_parts) {
    net t;
    net_make(&t, LM_LOSS_MSE, 3);
    lm_err err = {0};
    lm_mlp_ws *ws;
    lm_mlp_team *team;
    cr_assert_eq(lm_mlp_ws_new(t.m, N_MAX, LM_F64, &ws, &err), LM_OK);
    cr_assert_eq(lm_mlp_team_new(t.m, N_MAX, LM_F64, 2, &team, &err), LM_OK);
    double *g0 = malloc(t.p * sizeof(double)), *g1 = malloc(t.p * sizeof(double)),
           *gt = malloc(t.p * sizeof(double));
    const size_t n = 129, n0 = 65, n1 = 64; /* the first part takes the extra row */
    cr_assert_eq(
        lm_mlp_loss_grad(t.m, ws, LM_LOSS_MSE, t.theta, t.x, t.y, n0, NULL, g0, NULL, &err), LM_OK);
    cr_assert_eq(lm_mlp_loss_grad(t.m, ws, LM_LOSS_MSE, t.theta, t.x + n0 * t.d, t.y + n0 * t.k, n1,
                                  NULL, g1, NULL, &err),
                 LM_OK);
    cr_assert_eq(lm_mlp_team_loss_grad(team, LM_LOSS_MSE, t.theta, t.x, t.y, n, NULL, gt, &err),
                 LM_OK);
    /* the team does this arithmetic on the same part gradients; only a fused multiply-add
     * (a compiler may contract one) can change the last bit: 1 ulp of |a| + |b| */
    for (size_t i = 0; i < t.p; i++) {
        const double a = (double) n0 / (double) n * g0[i], b = (double) n1 / (double) n * g1[i];
        cr_assert(fabs(gt[i] - (a + b)) <= 0x1p-52 * (fabs(a) + fabs(b)),
                  "entry %zu: %.17g vs %.17g", i, gt[i], a + b);
    }
    free(g0);
    free(g1);
    free(gt);
    lm_mlp_team_free(team);
    lm_mlp_ws_free(ws);
    net_free(&t);
    LM_CHECK_LEAKS();
}

static void check_deterministic(lm_dtype dt, int nt) {
    net t;
    net_make(&t, LM_LOSS_CE, 5);
    lm_err err = {0};
    lm_mlp_team *team;
    cr_assert_eq(lm_mlp_team_new(t.m, N_MAX, dt, nt, &team, &err), LM_OK);
    const size_t es = lm_dtype_size(dt);
    void *g1 = malloc(t.p * es), *g2 = malloc(t.p * es);
    const void *th = dt == LM_F32 ? (const void *) t.theta32 : (const void *) t.theta;
    const void *x = dt == LM_F32 ? (const void *) t.x32 : (const void *) t.x;
    const void *y = dt == LM_F32 ? (const void *) t.y32 : (const void *) t.y;
    for (size_t n = 1; n <= N_MAX; n += 20) {
        double l1, l2;
        cr_assert_eq(lm_mlp_team_loss_grad(team, LM_LOSS_CE, th, x, y, n, &l1, g1, &err), LM_OK);
        /* another call in between, so stale state would show */
        cr_assert_eq(lm_mlp_team_loss_grad(team, LM_LOSS_CE, th, x, y, N_MAX, NULL, g2, &err),
                     LM_OK);
        cr_assert_eq(lm_mlp_team_loss_grad(team, LM_LOSS_CE, th, x, y, n, &l2, g2, &err), LM_OK);
        cr_assert_eq(memcmp(g1, g2, t.p * es), 0, "%s threads=%d n=%zu: gradients differ",
                     lm_dtype_name(dt), nt, n);
        cr_assert_eq(memcmp(&l1, &l2, sizeof l1), 0, "n=%zu: losses differ", n);
    }
    free(g1);
    free(g2);
    lm_mlp_team_free(team);
    net_free(&t);
}

Test(team, bitwise_deterministic) {
    for (int nt = 2; nt <= 3; nt++) {
        check_deterministic(LM_F64, nt);
        check_deterministic(LM_F32, nt);
    }
    LM_CHECK_LEAKS();
}

Test(team, loss_only_without_gradient) {
    net t;
    net_make(&t, LM_LOSS_MSE, 2);
    lm_err err = {0};
    lm_mlp_ws *ws;
    lm_mlp_team *team;
    cr_assert_eq(lm_mlp_ws_new(t.m, N_MAX, LM_F64, &ws, &err), LM_OK);
    cr_assert_eq(lm_mlp_team_new(t.m, N_MAX, LM_F64, 3, &team, &err), LM_OK);
    double lr, lt;
    cr_assert_eq(
        lm_mlp_loss_grad(t.m, ws, LM_LOSS_MSE, t.theta, t.x, t.y, 200, &lr, NULL, NULL, &err),
        LM_OK);
    cr_assert_eq(lm_mlp_team_loss_grad(team, LM_LOSS_MSE, t.theta, t.x, t.y, 200, &lt, NULL, &err),
                 LM_OK);
    cr_assert(lm_close(lt, lr, 1e-11, 1e-300), "%.17g vs %.17g", lt, lr); /* as above */
    lm_mlp_team_free(team);
    lm_mlp_ws_free(ws);
    net_free(&t);
    LM_CHECK_LEAKS();
}

Test(team, no_allocation_after_the_first_call) {
    net t;
    net_make(&t, LM_LOSS_CE, 4);
    lm_err err = {0};
    lm_mlp_team *team;
    cr_assert_eq(lm_mlp_team_new(t.m, N_MAX, LM_F32, 2, &team, &err), LM_OK);
    float *g = malloc(t.p * sizeof(float));
    double l;
    cr_assert_eq(
        lm_mlp_team_loss_grad(team, LM_LOSS_CE, t.theta32, t.x32, t.y32, N_MAX, &l, g, &err),
        LM_OK);
    const uint64_t before = lm_alloc_count();
    for (size_t n = 1; n <= N_MAX; n += 3)
        cr_assert_eq(
            lm_mlp_team_loss_grad(team, LM_LOSS_CE, t.theta32, t.x32, t.y32, n, &l, g, &err),
            LM_OK);
    cr_assert_eq(lm_alloc_count(), before, "calls allocated %llu times",
                 (unsigned long long) (lm_alloc_count() - before));
    free(g);
    lm_mlp_team_free(team);
    net_free(&t);
    LM_CHECK_LEAKS();
}

Test(team, free_without_calls) {
    net t;
    net_make(&t, LM_LOSS_MSE, 1);
    for (int nt = 1; nt <= 8; nt++) {
        lm_mlp_team *team = NULL;
        cr_assert_eq(lm_mlp_team_new(t.m, 5, nt % 2 ? LM_F32 : LM_F64, nt, &team, NULL), LM_OK);
        lm_mlp_team_free(team);
    }
    lm_mlp_team_free(NULL);
    net_free(&t);
    LM_CHECK_LEAKS();
}

Test(team, error_paths_leave_outputs_unchanged) {
    net t;
    net_make(&t, LM_LOSS_MSE, 1);
    lm_err err = {0};
    lm_mlp_team *team = NULL, *none = (lm_mlp_team *) &err; /* must stay untouched */
    lm_mlp_team *keep = none;
    cr_assert_eq(lm_mlp_team_new(t.m, 0, LM_F64, 2, &keep, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "0 examples"), "%s", err.msg);
    cr_assert_eq(lm_mlp_team_new(t.m, 4, LM_F64, 0, &keep, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "0 threads"), "%s", err.msg);
    cr_assert_eq(lm_mlp_team_new(t.m, 4, LM_F64, 65, &keep, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "65 threads"), "%s", err.msg);
    cr_assert_eq(lm_mlp_team_new(t.m, 4, (lm_dtype) 7, 2, &keep, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "dtype 7"), "%s", err.msg);
    cr_assert_eq(lm_mlp_team_new(NULL, 4, LM_F64, 2, &keep, &err), LM_EINVAL);
    cr_assert_eq(keep, none);

    cr_assert_eq(lm_mlp_team_new(t.m, 200, LM_F64, 2, &team, &err), LM_OK);
    double *g = malloc(t.p * sizeof(double));
    for (size_t i = 0; i < t.p; i++)
        g[i] = 42.0;
    double l = 42.0;
    cr_assert_eq(lm_mlp_team_loss_grad(team, LM_LOSS_MSE, t.theta, t.x, t.y, 201, &l, g, &err),
                 LM_ESHAPE);
    cr_assert(strstr(err.msg, "batch of 201 examples; the team holds 1 to 200"), "%s", err.msg);
    cr_assert_eq(lm_mlp_team_loss_grad(team, LM_LOSS_MSE, t.theta, t.x, t.y, 0, &l, g, &err),
                 LM_ESHAPE);
    cr_assert(strstr(err.msg, "batch of 0 examples"), "%s", err.msg);
    cr_assert_eq(lm_mlp_team_loss_grad(team, (lm_loss) 9, t.theta, t.x, t.y, 4, &l, g, &err),
                 LM_EINVAL);
    cr_assert(strstr(err.msg, "loss enum 9"), "%s", err.msg);
    cr_assert_eq(lm_mlp_team_loss_grad(NULL, LM_LOSS_MSE, t.theta, t.x, t.y, 4, &l, g, &err),
                 LM_EINVAL);
    cr_assert(l == 42.0);
    for (size_t i = 0; i < t.p; i++)
        cr_assert(g[i] == 42.0, "grad[%zu] written on failure", i);
    /* still usable after the failures */
    cr_assert_eq(lm_mlp_team_loss_grad(team, LM_LOSS_MSE, t.theta, t.x, t.y, 200, &l, g, &err),
                 LM_OK);
    cr_assert(isfinite(l) && l != 42.0);
    free(g);
    lm_mlp_team_free(team);
    net_free(&t);
    LM_CHECK_LEAKS();
}

Test(team, out_of_memory_at_every_allocation_is_clean) {
    net t;
    net_make(&t, LM_LOSS_MSE, 1);
    lm_allocator al = {lm_test_failing_alloc, lm_test_free, NULL};
    lm_set_allocator(&al);
    int ok = 0;
    for (lm_test_fail_at = 1; lm_test_fail_at < 40 && !ok; lm_test_fail_at++) {
        lm_test_calls = 0;
        lm_mlp_team *team = NULL;
        lm_err err = {0};
        lm_status st = lm_mlp_team_new(t.m, 200, LM_F32, 3, &team, &err);
        if (st == LM_OK) {
            ok = 1;
            float *g = malloc(t.p * sizeof(float));
            cr_assert_eq(lm_mlp_team_loss_grad(team, LM_LOSS_MSE, t.theta32, t.x32, t.y32, 200,
                                               NULL, g, &err),
                         LM_OK, "%s", err.msg);
            free(g);
            lm_mlp_team_free(team);
        } else {
            cr_assert_eq(st, LM_ENOMEM, "allocation %d: %s", lm_test_fail_at, err.msg);
            cr_assert_null(team);
        }
    }
    lm_set_allocator(NULL);
    cr_assert(ok, "never succeeded");
    net_free(&t);
    LM_CHECK_LEAKS();
}

/* A model whose gradient exceeds the team's limit (8 MiB; here 784-1024-1024-10 in float64,
 * 14.9 MB) runs the plain single-workspace path: bitwise the same as lm_mlp_loss_grad. */
Test(team, large_model_runs_the_plain_path) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = 4;
    s.widths[0] = 784;
    s.widths[1] = 1024;
    s.widths[2] = 1024;
    s.widths[3] = 10;
    lm_mlp *m;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK);
    const size_t p = m->n_params, n = 5;
    double *th = malloc(p * sizeof(double)), *x = malloc(n * 784 * sizeof(double)),
           *y = calloc(n * 10, sizeof(double)), *g1 = malloc(p * sizeof(double)),
           *g2 = malloc(p * sizeof(double));
    cr_assert_eq(lm_mlp_init(m, 3, th, &err), LM_OK);
    for (size_t i = 0; i < n * 784; i++)
        x[i] = (double) (i % 17) / 17.0;
    for (size_t i = 0; i < n; i++)
        y[i * 10 + i % 10] = 1.0;
    lm_mlp_ws *ws;
    lm_mlp_team *team;
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F64, &ws, &err), LM_OK);
    cr_assert_eq(lm_mlp_team_new(m, n, LM_F64, 2, &team, &err), LM_OK);
    double l1, l2;
    cr_assert_eq(lm_mlp_loss_grad(m, ws, LM_LOSS_CE, th, x, y, n, &l1, g1, NULL, &err), LM_OK);
    cr_assert_eq(lm_mlp_team_loss_grad(team, LM_LOSS_CE, th, x, y, n, &l2, g2, &err), LM_OK);
    cr_assert_eq(memcmp(g1, g2, p * sizeof(double)), 0, "plain path differs from the reference");
    cr_assert_eq(memcmp(&l1, &l2, sizeof l1), 0);
    lm_mlp_team_free(team);
    lm_mlp_ws_free(ws);
    lm_mlp_free(m);
    free(th);
    free(x);
    free(y);
    free(g1);
    free(g2);
    LM_CHECK_LEAKS();
}
