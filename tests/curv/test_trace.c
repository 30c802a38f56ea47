/* test_trace.c: Hutchinson's trace and stochastic Lanczos quadrature against the exact spectrum of
 * the fixture network (science.md §4 Pass), and the Wasserstein-1 helper. */
#include "fixture.h"

Test(curv_hutchinson, within_4_stderr_of_exact) {
    fixture f;
    fx_open(&f);
    fx_dense(&f);
    double tr = 0;
    for (size_t i = 0; i < f.p; i++)
        tr += f.H[i * f.p + i];
    lm_err err = {0};
    lm_curv_ws *ws = NULL;
    cr_assert_eq(lm_curv_ws_new(f.p, 1, &ws, &err), LM_OK);
    double est, se;
    f.op.n_ops = 0;
    cr_assert_eq(
        lm_curv_hutchinson(lm_curv_mlp_apply, &f.op, f.p, 1000, 7, ws, &est, &se, NULL, &err),
        LM_OK, "%s", err.msg);
    cr_assert_eq(f.op.n_ops, 1000);
    /* the theoretical standard error, sqrt((2/m)(||H||_F^2 - sum H_ii^2)), checks the reported one
     * (a sample estimate from 1000 draws: within 20% with overwhelming probability) */
    double off = 0;
    for (size_t i = 0; i < f.p; i++)
        for (size_t j = 0; j < f.p; j++)
            if (i != j)
                off += f.H[i * f.p + j] * f.H[i * f.p + j];
    double se_theory = sqrt(2.0 * off / 1000.0);
    cr_log_info("trace %g, estimate %g +- %g (theory %g)", tr, est, se, se_theory);
    cr_assert(fabs(est - tr) <= 4 * se, "estimate %g, exact %g, stderr %g", est, tr, se);
    cr_assert(fabs(se / se_theory - 1) < 0.2, "stderr %g vs theory %g", se, se_theory);
    lm_curv_ws_free(ws);
    fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(curv_slq, density_close_to_exact_spectrum) {
    fixture f;
    fx_open(&f);
    fx_dense(&f);
    enum { PROBES = 10, M = 80, BINS = 10000 };
    lm_err err = {0};
    lm_curv_ws *ws = NULL;
    cr_assert_eq(lm_curv_ws_new(f.p, M, &ws, &err), LM_OK);
    double *nodes = lm_malloc(PROBES * M * sizeof(double));
    double *w = lm_malloc(PROBES * M * sizeof(double));
    double *grid = lm_malloc(BINS * sizeof(double)), *val = lm_malloc(BINS * sizeof(double));
    double tr_slq;
    f.op.n_ops = 0;
    cr_assert_eq(
        lm_curv_slq(lm_curv_mlp_apply, &f.op, f.p, PROBES, M, 3, ws, nodes, w, &tr_slq, &err),
        LM_OK, "%s", err.msg);
    cr_assert_eq(f.op.n_ops, PROBES * M);
    for (int r = 0; r < PROBES; r++) { /* Gauss weights of a unit probe sum to 1 */
        double s = 0;
        for (int i = 0; i < M; i++)
            s += w[r * M + i];
        cr_assert(fabs(s - 1) < 1e-12, "probe %d weights sum to %.17g", r, s);
    }
    cr_assert_eq(lm_curv_density(PROBES, M, nodes, w, BINS, 0, grid, val, &err), LM_OK, "%s",
                 err.msg);
    double dx = grid[1] - grid[0], mass = 0;
    for (int g = 0; g < BINS; g++)
        mass += val[g] * dx;
    cr_assert(fabs(mass - 1) < 1e-12);
    double range = f.evals[0] - f.evals[f.p - 1];
    double w1_grid, w1_nodes;
    for (int g = 0; g < BINS; g++)
        val[g] *= dx; /* the grid density as a discrete measure */
    cr_assert_eq(lm_curv_w1(BINS, grid, val, f.p, f.evals, NULL, &w1_grid, &err), LM_OK);
    cr_assert_eq(lm_curv_w1(PROBES * M, nodes, w, f.p, f.evals, NULL, &w1_nodes, &err), LM_OK);
    cr_log_info("W1 grid %g, nodes %g, range %g; trace SLQ %g", w1_grid, w1_nodes, range, tr_slq);
    /* science.md §4 Pass: W1 <= 2% of the spectral range */
    cr_assert(w1_grid <= 0.02 * range, "W1 %g > 2%% of range %g", w1_grid, range);
    cr_assert(w1_nodes <= 0.02 * range, "W1 %g > 2%% of range %g", w1_nodes, range);
    /* p * sum w theta is a 10-probe Hutchinson estimate (each probe gives z^T H z exactly, since
     * m = 80 steps integrate a linear function exactly); its error is ~ sqrt(2/10) ||offdiag||_F:
     * 6 such standard errors. */
    double tr = 0, off = 0;
    for (size_t i = 0; i < f.p; i++)
        for (size_t j = 0; j < f.p; j++) {
            if (i == j)
                tr += f.H[i * f.p + i];
            else
                off += f.H[i * f.p + j] * f.H[i * f.p + j];
        }
    cr_assert(fabs(tr_slq - tr) <= 6 * sqrt(2 * off / PROBES), "SLQ trace %g vs %g", tr_slq, tr);
    lm_free(nodes);
    lm_free(w);
    lm_free(grid);
    lm_free(val);
    lm_curv_ws_free(ws);
    fx_close(&f);
    LM_CHECK_LEAKS();
}

Test(curv_w1, known_distances) {
    double a[] = {0.0}, b[] = {1.0}, c[] = {0.0, 2.0}, d[] = {0.5, 0.5, 3.0};
    double wc[] = {3.0, 1.0}, w1;
    lm_err err = {0};
    cr_assert_eq(lm_curv_w1(1, a, NULL, 1, b, NULL, &w1, &err), LM_OK);
    cr_assert_float_eq(w1, 1.0, 1e-15);
    /* c = 0.75 delta_0 + 0.25 delta_2 vs d = 2/3 delta_0.5 + 1/3 delta_3:
     * F_c - F_d on [0, .5) = .75, [.5, 2) = .75 - .6667, [2, 3) = 1 - .6667 */
    cr_assert_eq(lm_curv_w1(2, c, wc, 3, d, NULL, &w1, &err), LM_OK);
    double want = 0.75 * 0.5 + (0.75 - 2.0 / 3) * 1.5 + (1.0 / 3) * 1.0;
    cr_assert_float_eq(w1, want, 1e-14);
    double bad[] = {LM_NAN};
    cr_assert_eq(lm_curv_w1(1, bad, NULL, 1, b, NULL, &w1, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "a[0]"), "%s", err.msg);
    cr_assert_eq(lm_curv_w1(0, a, NULL, 1, b, NULL, &w1, &err), LM_EINVAL);
    LM_CHECK_LEAKS();
}
