/*
 * bench_entk.c: the empirical NTK (lm_kernel_empirical) of a 784-W-W-W-1 ReLU MLP in the NTK
 * parameterisation (sw2 = 2, sb2 = 0.05) on the first 256 Fashion-MNIST training images
 * (pixels/255), float64: wall time (best of 3 calls) and this process's peak RSS (getrusage
 * ru_maxrss). Issue 5's benchmark; bench/torch_entk.py is the PyTorch side.
 *
 *   bench_entk DIR W [MAX_BYTES]
 *
 * DIR holds x.npy (written by torch_entk.py). When DIR/torch.json is for width W, the network is
 * DIR/net.safetensors (the same weights PyTorch used) and the kernel is compared with
 * DIR/torch_ntk.npy (relative Frobenius distance) and the timings set side by side; otherwise the
 * weights are lmech's seeded initialisation (seed 0). MAX_BYTES bounds the work memory (bytes or
 * with K/M/G; default none). Prints one JSON line.
 */
#include "lmech/data.h"
#include "lmech/io.h"
#include "lmech/kernel.h"
#include "lmech/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define N 256

static long rss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static size_t parse_bytes(const char *s) {
    char *end;
    double v = strtod(s, &end);
    double mul = *end == 'K' ? 1024.0 : *end == 'M' ? 1048576.0 : *end == 'G' ? 1073741824.0 : 1;
    return (size_t) (v * mul);
}

/* The number after "key": in a small JSON file, or NaN. */
static double json_num(const char *path, const char *key) {
    FILE *f = fopen(path, "r");
    if (!f)
        return LM_NAN;
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(buf, pat);
    return p ? strtod(p + strlen(pat), NULL) : LM_NAN;
}

static lm_status load_matrix(const char *path, size_t rows, size_t cols, double *out, lm_err *err) {
    lm_array *a;
    LM_TRY(lm_npy_read(path, &a, err));
    lm_status st = LM_OK;
    if (a->ndim != 2 || a->shape[0] != rows || a->shape[1] != cols)
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__, "%s: expected [%zu, %zu]", path, rows,
                        cols);
    else
        for (size_t i = 0; i < rows * cols; i++)
            out[i] = lm_array_get(a, i);
    lm_array_free(a);
    return st;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_entk DIR W [MAX_BYTES]\n");
        return 2;
    }
    const char *dir = argv[1];
    const size_t W = (size_t) atol(argv[2]);
    const size_t bound = argc > 3 ? parse_bytes(argv[3]) : 0;
    lm_err err = {0};
    lm_threads_set(getenv("LM_THREADS") ? atoi(getenv("LM_THREADS")) : 2, &err);
    char path[1024];
    snprintf(path, sizeof path, "%s/torch.json", dir);
    const int compare = json_num(path, "width") == (double) W;
    const double torch_wall = json_num(path, "wall_s"), torch_rss = json_num(path, "rss_kib");

    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = 5;
    const size_t widths[5] = {784, W, W, W, 1};
    memcpy(s.widths, widths, sizeof widths);
    s.act = LM_ACT_RELU;
    s.param = LM_PARAM_NTP;
    s.sw2 = 2.0;
    s.sb2 = 0.05;
    lm_mlp *m;
    if (lm_mlp_new(&s, &m, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double *theta = malloc(m->n_params * sizeof *theta), *x = malloc(N * 784 * sizeof *x);
    double *ntk = malloc(N * N * sizeof *ntk), *ref = compare ? malloc(N * N * sizeof *ref) : NULL;
    lm_status st;
    if (compare) {
        snprintf(path, sizeof path, "%s/net.safetensors", dir);
        st = lm_mlp_load(m, path, theta, &err);
    } else {
        st = lm_mlp_init(m, 0, theta, &err);
    }
    snprintf(path, sizeof path, "%s/x.npy", dir);
    if (st == LM_OK)
        st = load_matrix(path, N, 784, x, &err);
    snprintf(path, sizeof path, "%s/torch_ntk.npy", dir);
    if (st == LM_OK && compare)
        st = load_matrix(path, N, N, ref, &err);
    size_t chunk = 0;
    const size_t bytes = lm_kernel_empirical_plan(m, N, 0, bound, &chunk);
    double best = LM_INF;
    for (int rep = 0; st == LM_OK && rep < 3; rep++) {
        double t0 = lm_now();
        st = lm_kernel_empirical(m, theta, x, N, NULL, bound, ntk, NULL, &err);
        double t = lm_now() - t0;
        best = t < best ? t : best;
    }
    if (st != LM_OK) {
        fprintf(stderr, "bench_entk: %s\n", err.msg);
        return 1;
    }
    const long rss = rss_kib();
    printf("{\"width\":%zu,\"n\":%d,\"params\":%zu,\"lmech_wall_s\":%.4g,\"lmech_rss_mib\":%.1f,"
           "\"work_bytes\":%zu,\"bound\":%zu,\"chunk\":%zu",
           W, N, m->n_params, best, (double) rss / 1024.0, bytes, bound, chunk);
    if (compare) {
        double d = 0, r2 = 0;
        for (size_t i = 0; i < N * N; i++) {
            d += (ntk[i] - ref[i]) * (ntk[i] - ref[i]);
            r2 += ref[i] * ref[i];
        }
        printf(",\"torch_wall_s\":%.4g,\"torch_rss_mib\":%.1f,\"speedup\":%.1f,\"rss_ratio\":%.1f,"
               "\"rel_fro_vs_torch\":%.3g",
               torch_wall, torch_rss / 1024.0, torch_wall / best, torch_rss / (double) rss,
               sqrt(d / r2));
    }
    printf("}\n");
    free(theta);
    free(x);
    free(ntk);
    free(ref);
    lm_mlp_free(m);
    return 0;
}
