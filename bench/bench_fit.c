/* bench_fit.c: lmech's scaling-law fitter at the performance target: the full
 * 4,500-start grid with 1,000 bootstrap resamples on 250 points (issue 13, "Performance").
 *
 *   bench_fit OUT.csv [THREADS] [REPS]
 *
 * Draws 250 synthetic Chinchilla points (N in logspace(6, 10, 25) x D in logspace(8, 12, 10),
 * E = 1.69, A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28, 2 % log-normal noise, seed 0),
 * writes them to OUT.csv (for the scipy peer, bench/scipy_fit.py, in the same session), and
 * times lm_fit REPS times (default 3): the grid and the bootstrap separately, median of the
 * repetitions, and the process CPU time (the machine is shared: wall times move with the load,
 * CPU time much less). One JSON line on stdout. */
#include "lmech/fit.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NN 25
#define ND 10

static int cmp(const void *a, const void *b) {
    const double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_fit OUT.csv [THREADS] [REPS]\n");
        return 2;
    }
    const int threads = argc > 2 ? atoi(argv[2]) : 0;
    const int reps = argc > 3 ? atoi(argv[3]) : 3;
    static double N[NN * ND], D[NN * ND], L[NN * ND];
    lm_rng g;
    lm_rng_seed(&g, 0, LM_STREAM_DATA);
    size_t n = 0;
    for (int i = 0; i < NN; i++)
        for (int j = 0; j < ND; j++, n++) {
            N[n] = pow(10.0, 6 + 4.0 * i / (NN - 1));
            D[n] = pow(10.0, 8 + 4.0 * j / (ND - 1));
            L[n] = (1.69 + 406.4 * pow(N[n], -0.34) + 410.7 * pow(D[n], -0.28)) *
                   exp(0.02 * lm_rng_normal(&g));
        }
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fprintf(f, "N,D,L\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%.17g,%.17g,%.17g\n", N[i], D[i], L[i]);
    fclose(f);
    double tg[16], tb[16], tc[16];
    lm_fit_result r = {0};
    for (int k = 0; k < reps && k < 16; k++) {
        lm_fit_result_clear(&r);
        lm_fit_opts o = {
            .law = LM_FIT_CHINCHILLA, .bootstrap = 1000, .seed = 0, .threads = threads};
        lm_err e = {0};
        const clock_t c0 = clock();
        const lm_status st = lm_fit(&o, n, N, D, L, &r, &e);
        tc[k] = (double) (clock() - c0) / CLOCKS_PER_SEC;
        if (st != LM_OK) {
            fprintf(stderr, "bench_fit: %s\n", e.msg);
            return 1;
        }
        tg[k] = r.wall_s;
        tb[k] = r.boot_wall_s;
        fprintf(stderr, "rep %d: grid %.3f s, bootstrap %.3f s (wall); process CPU %.3f s\n", k,
                tg[k], tb[k], tc[k]);
    }
    const int m = reps < 16 ? reps : 16;
    qsort(tg, (size_t) m, sizeof *tg, cmp);
    qsort(tb, (size_t) m, sizeof *tb, cmp);
    qsort(tc, (size_t) m, sizeof *tc, cmp);
    printf("{\"impl\":\"lmech\",\"points\":%zu,\"starts\":%zu,\"converged\":%zu,\"bootstrap\":%zu,"
           "\"threads\":%d,\"grid_s\":%.4f,\"boot_s\":%.4f,\"total_s\":%.4f,\"objective\":%.17g,"
           "\"cpu_s\":%.4f,\"alpha\":%.6f,\"beta\":%.6f,\"E\":%.6f,\"ci95_alpha\":[%.6f,%.6f]}\n",
           n, r.starts, r.converged, r.n_boot, threads ? threads : lm_cores(), tg[m / 2], tb[m / 2],
           tg[m / 2] + tb[m / 2], r.objective, tc[m / 2], r.par[LM_FIT_ALPHA], r.par[LM_FIT_BETA],
           r.par[LM_FIT_E], r.ci95[LM_FIT_ALPHA][0], r.ci95[LM_FIT_ALPHA][1]);
    lm_fit_result_clear(&r);
    return 0;
}
