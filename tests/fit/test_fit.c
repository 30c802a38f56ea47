/* test_fit.c: scaling-law fits (lmech/fit.h): the objective and its gradient against finite
 * differences, exact recovery on noiseless data, the identifiability flag, the compute-optimal
 * allocation against a direct minimisation, bad input, CSV reading. */
#include "lm_test.h"

#include "lmech/fit.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_min.h>

/* The contract data: N in logspace(6, 9, 4) x D in logspace(8, 11, 4),
 * L = 1.7 + 400/N^0.34 + 410/D^0.28. */
static size_t contract_data(double *N, double *D, double *L) {
    size_t n = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++, n++) {
            N[n] = pow(10.0, 6 + i);
            D[n] = pow(10.0, 8 + j);
            L[n] = 1.7 + 400 / pow(N[n], 0.34) + 410 / pow(D[n], 0.28);
        }
    return n;
}

Test(fit, objective_gradient_matches_finite_differences) {
    double N[16], D[16], L[16];
    const size_t n = contract_data(N, D, L);
    /* noisy-ish targets so that residuals fall on both sides of delta: a larger delta puts some
     * inside (quadratic branch), the rest beyond (linear branch) */
    for (size_t i = 0; i < n; i++)
        L[i] *= 1 + 0.01 * sin((double) i * 1.7);
    const double xs[2][5] = {{6.0, 6.2, 0.5, 0.34, 0.28}, {3.0, 9.0, -0.5, 0.2, 0.5}};
    const double deltas[2] = {1e-3, 1e-2};
    for (int q = 0; q < 2; q++)
        for (int dq = 0; dq < 2; dq++) {
            double g[5], x[5];
            memcpy(x, xs[q], sizeof x);
            lm_fit_objective(LM_FIT_CHINCHILLA, deltas[dq], n, N, D, L, NULL, x, g);
            for (int j = 0; j < 5; j++) {
                /* central differences, h = 1e-6: truncation O(h^2 f''') ~ 1e-12, rounding
                 * ~1e-16 * f / h ~ 1e-12 for f ~ 0.1; the Huber kink sits at |r| = delta, away
                 * from these points unless a residual is within h * |dr/dx| ~ 2e-5 of it */
                const double h = 1e-6;
                double xp[5], xm[5];
                memcpy(xp, x, sizeof x);
                memcpy(xm, x, sizeof x);
                xp[j] += h;
                xm[j] -= h;
                const double fp =
                    lm_fit_objective(LM_FIT_CHINCHILLA, deltas[dq], n, N, D, L, NULL, xp, NULL);
                const double fm =
                    lm_fit_objective(LM_FIT_CHINCHILLA, deltas[dq], n, N, D, L, NULL, xm, NULL);
                const double fd = (fp - fm) / (2 * h);
                cr_assert(lm_close(g[j], fd, 1e-5, 1e-7), "x%d, delta %g, param %d: %.10g vs %.10g",
                          q, deltas[dq], j, g[j], fd);
            }
        }
    /* the power law's three coordinates, and weights (the bootstrap's multiplicities) */
    double w[16];
    for (size_t i = 0; i < n; i++)
        w[i] = (double) (i % 3);
    const double xp3[3] = {5.0, 0.4, 0.3};
    double g[3];
    lm_fit_objective(LM_FIT_POWER, 1e-3, n, N, NULL, L, w, xp3, g);
    for (int j = 0; j < 3; j++) {
        const double h = 1e-6;
        double a[3], b[3];
        memcpy(a, xp3, sizeof a);
        memcpy(b, xp3, sizeof b);
        a[j] += h;
        b[j] -= h;
        const double fd = (lm_fit_objective(LM_FIT_POWER, 1e-3, n, N, NULL, L, w, a, NULL) -
                           lm_fit_objective(LM_FIT_POWER, 1e-3, n, N, NULL, L, w, b, NULL)) /
                          (2 * h);
        cr_assert(lm_close(g[j], fd, 1e-5, 1e-7), "power param %d: %.10g vs %.10g", j, g[j], fd);
    }
}

Test(fit, huber_objective_value_by_hand) {
    /* one point, L equal to the law at x plus a known log offset: the objective is
     * Huber(offset) exactly */
    const double x[5] = {log(400.0), log(410.0), log(1.7), 0.34, 0.28};
    double N[6] = {1e6, 1e7, 1e8, 1e9, 1e7, 1e8}, D[6] = {1e8, 1e9, 1e10, 1e11, 1e10, 1e9}, L[6];
    const double off[6] = {0.0005, -0.0005, 0.002, -0.003, 0.0, 0.01};
    double want = 0;
    for (int i = 0; i < 6; i++) {
        L[i] = (1.7 + 400 / pow(N[i], 0.34) + 410 / pow(D[i], 0.28)) * exp(-off[i]);
        const double r = fabs(off[i]);
        want += r <= 1e-3 ? 0.5 * r * r : 1e-3 * (r - 0.5e-3);
    }
    const double f = lm_fit_objective(LM_FIT_CHINCHILLA, 1e-3, 6, N, D, L, NULL, x, NULL);
    cr_assert(lm_close(f, want, 1e-9, 1e-18), "%.12g vs %.12g", f, want);
}

Test(fit, recovers_noiseless_chinchilla_exactly) {
    double N[16], D[16], L[16];
    const size_t n = contract_data(N, D, L);
    lm_fit_opts o = {.law = LM_FIT_CHINCHILLA, .threads = 2};
    lm_fit_result r;
    lm_err e = {0};
    cr_assert_eq(lm_fit(&o, n, N, D, L, &r, &e), LM_OK, "%s", e.msg);
    cr_assert_eq(r.starts, 4500u);
    cr_assert(r.converged > 0 && r.converged <= r.starts);
    cr_assert_eq(r.converged + r.stalled + r.capped <= r.starts, 1);
    cr_assert(r.grad_norm < 1e-10, "best start's gradient norm %g", r.grad_norm);
    /* noiseless: the objective's minimum is 0 and the parameters are the truth to ~1e-6
     * (residuals ~1e-16 in log L; the a/alpha direction has J^T J ~ 1e-6 relative) */
    cr_assert(r.objective < 1e-20, "objective %g", r.objective);
    cr_assert(lm_close(r.par[LM_FIT_E], 1.7, 1e-6, 0), "E %.10g", r.par[LM_FIT_E]);
    cr_assert(lm_close(r.par[LM_FIT_A], 400, 1e-5, 0), "A %.10g", r.par[LM_FIT_A]);
    cr_assert(lm_close(r.par[LM_FIT_B], 410, 1e-5, 0), "B %.10g", r.par[LM_FIT_B]);
    cr_assert(fabs(r.par[LM_FIT_ALPHA] - 0.34) < 1e-7, "alpha %.10g", r.par[LM_FIT_ALPHA]);
    cr_assert(fabs(r.par[LM_FIT_BETA] - 0.28) < 1e-7, "beta %.10g", r.par[LM_FIT_BETA]);
    cr_assert(r.identifiable, "%s", r.message);
    lm_fit_result_clear(&r);
    LM_CHECK_LEAKS();
}

Test(fit, recovers_noiseless_power_law) {
    double N[8], L[8];
    for (int i = 0; i < 8; i++) {
        N[i] = pow(10.0, 3 + 0.5 * i);
        L[i] = 0.5 + 30 / pow(N[i], 0.6);
    }
    lm_fit_opts o = {.law = LM_FIT_POWER, .threads = 1, .bootstrap = 50, .seed = 3};
    lm_fit_result r;
    lm_err e = {0};
    cr_assert_eq(lm_fit(&o, 8, N, NULL, L, &r, &e), LM_OK, "%s", e.msg);
    cr_assert_eq(r.starts, 150u);
    cr_assert(fabs(r.par[LM_FIT_ALPHA] - 0.6) < 1e-7, "alpha %.10g", r.par[LM_FIT_ALPHA]);
    cr_assert(lm_close(r.par[LM_FIT_E], 0.5, 1e-6, 0) && lm_close(r.par[LM_FIT_A], 30, 1e-5, 0));
    cr_assert(isnan(r.par[LM_FIT_B]) && isnan(r.par[LM_FIT_BETA]));
    /* noiseless: every resample has the same optimum, so the interval is a point */
    cr_assert(r.ci95[LM_FIT_ALPHA][0] <= 0.6 + 1e-6 && r.ci95[LM_FIT_ALPHA][1] >= 0.6 - 1e-6);
    cr_assert(r.ci95[LM_FIT_ALPHA][1] - r.ci95[LM_FIT_ALPHA][0] < 1e-5);
    lm_fit_result_clear(&r);
}

Test(fit, bootstrap_is_seeded_and_thread_count_free) {
    /* the power law (150 starts) keeps this test fast; the grid and bootstrap run through the
     * same thread pool as chinchilla's */
    double N[12], L[12];
    lm_rng rng;
    lm_rng_seed(&rng, 7, LM_STREAM_DATA);
    for (int i = 0; i < 12; i++) {
        N[i] = pow(10.0, 3 + 0.4 * i);
        L[i] = (0.5 + 30 / pow(N[i], 0.6)) * exp(0.02 * lm_rng_normal(&rng));
    }
    lm_fit_result r1, r2, r3;
    lm_err e = {0};
    lm_fit_opts o = {.law = LM_FIT_POWER, .threads = 1, .bootstrap = 200, .seed = 11};
    cr_assert_eq(lm_fit(&o, 12, N, NULL, L, &r1, &e), LM_OK, "%s", e.msg);
    o.threads = 2;
    cr_assert_eq(lm_fit(&o, 12, N, NULL, L, &r2, &e), LM_OK, "%s", e.msg);
    o.seed = 12;
    cr_assert_eq(lm_fit(&o, 12, N, NULL, L, &r3, &e), LM_OK, "%s", e.msg);
    for (int j = 0; j < LM_FIT_NPAR; j++) {
        if (j == LM_FIT_B || j == LM_FIT_BETA)
            continue;
        cr_assert_eq(r1.par[j], r2.par[j], "param %d differs between 1 and 2 threads", j);
        cr_assert_eq(r1.ci95[j][0], r2.ci95[j][0]);
        cr_assert_eq(r1.ci95[j][1], r2.ci95[j][1]);
        /* the 80 % interval lies inside the 95 % one */
        cr_assert(r1.ci80[j][0] >= r1.ci95[j][0] && r1.ci80[j][1] <= r1.ci95[j][1]);
    }
    cr_assert_eq(r1.n_boot, 200u);
    cr_assert(r1.ci95[LM_FIT_ALPHA][0] < r1.ci95[LM_FIT_ALPHA][1], "noisy data: a real interval");
    cr_assert(r1.ci95[LM_FIT_ALPHA][0] != r3.ci95[LM_FIT_ALPHA][0], "another seed, another draw");
    lm_fit_result_clear(&r1);
    lm_fit_result_clear(&r2);
    lm_fit_result_clear(&r3);
}

Test(fit, single_d_value_is_flagged) {
    /* one D: B/D^beta + E is one constant, so beta (and B, E) cannot be fitted */
    double N[10], D[10], L[10];
    for (int i = 0; i < 10; i++) {
        N[i] = pow(10.0, 6 + i / 3.0);
        D[i] = 1e9;
        L[i] = 1.69 + 406.4 / pow(N[i], 0.34) + 410.7 / pow(D[i], 0.28);
    }
    lm_fit_opts o = {.law = LM_FIT_CHINCHILLA, .threads = 2};
    lm_fit_result r;
    lm_err e = {0};
    cr_assert_eq(lm_fit(&o, 10, N, D, L, &r, &e), LM_OK, "%s", e.msg);
    cr_assert_eq(r.identifiable, 0, "a single D must be flagged");
    cr_assert(strstr(r.message, "cannot separate") != NULL, "%s", r.message);
    cr_assert(!(r.se[LM_FIT_BETA] < 1), "se(beta) %g", r.se[LM_FIT_BETA]);
    lm_fit_result_clear(&r);
}

Test(fit, perfectly_correlated_n_and_d_is_flagged) {
    /* D = 20 N (a "tokens per parameter" sweep): the two power laws in one variable can be
     * traded against each other */
    double N[10], D[10], L[10];
    for (int i = 0; i < 10; i++) {
        N[i] = pow(10.0, 6 + i / 3.0);
        D[i] = 20 * N[i];
        L[i] = 1.69 + 406.4 / pow(N[i], 0.34) + 410.7 / pow(D[i], 0.28);
    }
    /* 200 iterations per start: the verdict is about the optimum's curvature, and the
     * degenerate valley makes full convergence of every start slow (keeps the test < 10 s under
     * ASan) */
    lm_fit_opts o = {.law = LM_FIT_CHINCHILLA, .threads = 2, .max_iter = 200};
    lm_fit_result r;
    lm_err e = {0};
    cr_assert_eq(lm_fit(&o, 10, N, D, L, &r, &e), LM_OK, "%s", e.msg);
    cr_assert_eq(r.identifiable, 0, "N and D perfectly correlated must be flagged (se %g %g)",
                 r.se[LM_FIT_ALPHA], r.se[LM_FIT_BETA]);
    cr_assert(strstr(r.message, "cannot separate") != NULL, "%s", r.message);
    lm_fit_result_clear(&r);
}

/* L along C = 6ND as a function of log N, for the direct minimisation */
typedef struct iso {
    double par[LM_FIT_NPAR], C;
} iso;
static double iso_loss(double lnN, void *ud) {
    const iso *s = ud;
    const double N = exp(lnN);
    return lm_fit_predict(LM_FIT_CHINCHILLA, s->par, N, s->C / (6 * N));
}

Test(fit, compute_optimal_matches_direct_minimisation) {
    iso s = {{1.69, 406.4, 410.7, 0.34, 0.28}, 0};
    const double Cs[3] = {1e18, 5.76e23, 1e26};
    for (int q = 0; q < 3; q++) {
        s.C = Cs[q];
        double no, dop;
        lm_err e = {0};
        cr_assert_eq(lm_fit_compute_optimal(s.par, s.C, &no, &dop, &e), LM_OK, "%s", e.msg);
        cr_assert(lm_close(6 * no * dop, s.C, 1e-12, 0), "C = 6 N D");
        /* Brent on log N along the iso-compute line */
        gsl_function F = {iso_loss, &s};
        gsl_min_fminimizer *m = gsl_min_fminimizer_alloc(gsl_min_fminimizer_brent);
        const double lo = log(no) - 5, hi = log(no) + 5;
        gsl_set_error_handler_off();
        cr_assert_eq(gsl_min_fminimizer_set(m, &F, log(no) + 0.7, lo, hi), GSL_SUCCESS);
        for (int it = 0; it < 200; it++) {
            gsl_min_fminimizer_iterate(m);
            if (gsl_min_test_interval(gsl_min_fminimizer_x_lower(m), gsl_min_fminimizer_x_upper(m),
                                      1e-10, 0) == GSL_SUCCESS)
                break;
        }
        const double nbest = exp(gsl_min_fminimizer_x_minimum(m));
        gsl_min_fminimizer_free(m);
        /* the loss is flat at its minimum: log N to ~1e-5 */
        cr_assert(fabs(log(nbest / no)) < 1e-4, "C %g: N_opt %g vs direct %g", s.C, no, nbest);
    }
    /* Hoffmann et al.'s Table 3 scale: C = 5.76e23 gives N_opt ~ 3e10 with the rounded
     * published parameters (the 70B/1.4T Chinchilla came from Approaches 1-2) */
    double no, dop;
    lm_fit_compute_optimal(s.par, 5.76e23, &no, &dop, NULL);
    cr_assert(no > 1e10 && no < 1e11, "N_opt %g", no);
    double bad[LM_FIT_NPAR] = {1.69, 406.4, 410.7, 0.0, 0.28};
    lm_err e = {0};
    cr_assert_eq(lm_fit_compute_optimal(bad, 1e20, &no, &dop, &e), LM_EINVAL);
    cr_assert(strstr(e.msg, "alpha = 0") != NULL, "%s", e.msg);
    cr_assert_eq(lm_fit_compute_optimal(s.par, -1, &no, &dop, &e), LM_EINVAL);
}

Test(fit, bad_input_is_refused_with_its_point) {
    double N[16], D[16], L[16];
    const size_t n = contract_data(N, D, L);
    lm_fit_opts o = {.law = LM_FIT_CHINCHILLA, .threads = 1};
    lm_fit_result r;
    lm_err e = {0};
    cr_assert_eq(lm_fit(&o, 5, N, D, L, &r, &e), LM_EINVAL);
    cr_assert(strstr(e.msg, "5 points") != NULL, "%s", e.msg);
    D[3] = 0;
    cr_assert_eq(lm_fit(&o, n, N, D, L, &r, &e), LM_ERANGE);
    cr_assert(strstr(e.msg, "point 3: D = 0") != NULL, "%s", e.msg);
    D[3] = 1e9;
    L[7] = LM_NAN;
    cr_assert_eq(lm_fit(&o, n, N, D, L, &r, &e), LM_ENUMERIC);
    cr_assert(strstr(e.msg, "point 7: L") != NULL, "%s", e.msg);
    L[7] = 2;
    N[0] = -1e6;
    cr_assert_eq(lm_fit(&o, n, N, D, L, &r, &e), LM_ERANGE);
    cr_assert(strstr(e.msg, "point 0: N") != NULL, "%s", e.msg);
    lm_fit_law law;
    cr_assert_eq(lm_fit_law_parse("kaplan", &law, &e), LM_EINVAL);
    cr_assert(strstr(e.msg, "kaplan") != NULL);
}

Test(fit, csv_reader_names_line_and_column) {
    char path[256];
    lm_tmp_path(path, sizeof path, "fit.csv");
    FILE *f = fopen(path, "w");
    fprintf(f, "# a comment\nL, N ,\"D\",extra\n2.5,1e6,1e9,x\n\n2.25,1e7,1e10,y\n");
    fclose(f);
    const char *names[3] = {"N", "D", "L"};
    double *cols = NULL;
    size_t n = 0;
    lm_err e = {0};
    cr_assert_eq(lm_fit_read_csv(path, 3, names, &cols, &n, &e), LM_OK, "%s", e.msg);
    cr_assert_eq(n, 2u);
    cr_assert(cols[0] == 1e6 && cols[1] == 1e7 && cols[2] == 1e9 && cols[3] == 1e10);
    cr_assert(cols[4] == 2.5 && cols[5] == 2.25);
    lm_free(cols);
    const char *missing[2] = {"N", "tokens"};
    cr_assert_eq(lm_fit_read_csv(path, 2, missing, &cols, &n, &e), LM_ENOTFOUND);
    cr_assert(strstr(e.msg, "no column \"tokens\"") != NULL, "%s", e.msg);
    f = fopen(path, "w");
    fprintf(f, "N,D,L\n1e6,1e9,2\n1e7,abc,2\n");
    fclose(f);
    cr_assert_eq(lm_fit_read_csv(path, 3, names, &cols, &n, &e), LM_EFORMAT);
    cr_assert(strstr(e.msg, "line 3, column \"D\": \"abc\"") != NULL, "%s", e.msg);
    f = fopen(path, "w");
    fprintf(f, "N,D,L\n1e6,1e9,-2\n");
    fclose(f);
    cr_assert_eq(lm_fit_read_csv(path, 3, names, &cols, &n, &e), LM_ERANGE);
    cr_assert(strstr(e.msg, "line 2, column \"L\"") != NULL, "%s", e.msg);
    f = fopen(path, "w");
    fprintf(f, "N,D,L\n1e6,1e9\n");
    fclose(f);
    cr_assert_eq(lm_fit_read_csv(path, 3, names, &cols, &n, &e), LM_EFORMAT);
    cr_assert(strstr(e.msg, "line 2: 2 fields") != NULL, "%s", e.msg);
    unlink(path);
    cr_assert_eq(lm_fit_read_csv(path, 3, names, &cols, &n, &e), LM_EIO);
    LM_CHECK_LEAKS();
}
