/*
 * bench_gpt.c: lmech's side of the transformer benchmark (bench/gpt.sh runs PyTorch's side,
 * bench/torch_gpt.py, in the same session). The small transformer of issue 16: model.arch "gpt"
 * with vocab 256 (bytes), context 64, d_model 128, 4 heads, 2 blocks, MLP ratio 4, predicting
 * the next byte at every position, trained in float32 with cross-entropy and Adam (lr 3e-4) on
 * minibatches of 32 windows of 65 bytes of /usr/share/common-licenses/GPL-3 (stride 64, the
 * windows shuffled once), or on random bytes ("data":"synthetic") when the file is absent.
 * The loss and gradient run through lm_mlp_team with LM_THREADS threads (default 2), as
 * `lmech train` does.
 *
 *   bench_gpt BATCH SECONDS   ->  one JSON line
 *
 * Also: the sgemm peak of this run, the GEMM work of a step as GFLOP/s, the allocations made by
 * training steps after the first (must be 0), one float64 HVP against one float64 loss and
 * gradient on one batch (median of 7 calls each), and the process CPU time per step.
 */
#include "bench_util.h"
#include "lmech/loss.h"
#include "lmech/model.h"
#include "lmech/optim.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define CTX   64
#define VOCAB 256

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s BATCH SECONDS\n", argv[0]);
        return 2;
    }
    const size_t B = (size_t) atol(argv[1]);
    const double seconds = atof(argv[2]);
    lm_err err = {0};
    lm_threads_set(getenv("LM_THREADS") ? atoi(getenv("LM_THREADS")) : 2, &err);
    /* the text as bytes: windows of CTX + 1 at stride CTX */
    unsigned char *text = NULL;
    size_t len = 0;
    int synthetic = 0;
    FILE *fp = fopen("/usr/share/common-licenses/GPL-3", "rb");
    if (fp) {
        text = malloc(1 << 20);
        len = fread(text, 1, 1 << 20, fp);
        fclose(fp);
    }
    lm_rng r;
    lm_rng_seed(&r, 1, 0);
    if (len < 64 * (CTX + 1)) {
        synthetic = 1;
        len = 1 << 16;
        free(text);
        text = malloc(len);
        for (size_t i = 0; i < len; i++)
            text[i] = (unsigned char) lm_rng_below(&r, VOCAB);
    }
    const size_t n = (len - 1) / CTX, d = CTX, k = (size_t) CTX * VOCAB;
    size_t *perm = malloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    lm_rng_shuffle(&r, perm, n);
    float *X = malloc(n * d * sizeof *X), *Y = calloc(n * k, sizeof *Y);
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < CTX; t++) {
            const size_t s = perm[i] * CTX + t;
            X[i * d + t] = (float) text[s];
            Y[i * k + t * VOCAB + text[s + 1]] = 1.0f;
        }
    lm_mlp_spec s = lm_mlp_spec_default();
    s.arch = LM_ARCH_GPT;
    s.gpt = (lm_gpt_spec){.vocab = VOCAB,
                          .context = CTX,
                          .d_model = 128,
                          .heads = 4,
                          .blocks = 2,
                          .mlp_ratio = 4,
                          .every = 1};
    lm_mlp *m;
    lm_mlp_team *team;
    if (lm_mlp_new(&s, &m, &err) != LM_OK ||
        lm_mlp_team_new(m, B, LM_F32, lm_threads_get(), &team, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const size_t p = m->n_params;
    double *th64 = malloc(p * sizeof *th64);
    lm_mlp_init(m, 0, th64, &err);
    float *theta = malloc(p * sizeof *theta), *grad = malloc(p * sizeof *grad);
    for (size_t i = 0; i < p; i++)
        theta[i] = (float) th64[i];
    const size_t nseg = lm_mlp_n_segments(m);
    size_t *seg = malloc((nseg + 1) * sizeof *seg);
    double *mult = malloc(nseg * sizeof *mult);
    lm_mlp_segments(m, 1, seg, mult);
    lm_optim_spec os = lm_optim_spec_default();
    os.kind = LM_OPT_ADAM;
    os.lr = 3e-4;
    lm_optim *opt;
    if (lm_optim_new(&os, p, LM_F32, nseg, seg, mult, 0, &opt, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const size_t nb = n / B;
    size_t step = 0;
    double loss = 0;
#define STEP()                                                                                     \
    do {                                                                                           \
        size_t b = step % nb;                                                                      \
        if (lm_mlp_team_loss_grad(team, LM_LOSS_CE, theta, X + b * B * d, Y + b * B * k, B, &loss, \
                                  grad, &err) != LM_OK) {                                          \
            fprintf(stderr, "%s\n", err.msg);                                                      \
            return 1;                                                                              \
        }                                                                                          \
        lm_optim_step(opt, theta, grad, step, NULL);                                               \
        step++;                                                                                    \
    } while (0)
    double tw = lm_now();
    while (step < 3 || lm_now() - tw < 0.2)
        STEP();
    const uint64_t allocs0 = lm_alloc_count();
    double rates[3];
    size_t steps_rep = 0;
    const size_t step0 = step;
    const clock_t cpu0 = clock();
    for (int rep = 0; rep < 3; rep++) {
        double t = lm_now();
        size_t s0 = step;
        while (lm_now() - t < seconds / 3.0 || step - s0 < 3)
            STEP();
        rates[rep] = (double) (step - s0) / (lm_now() - t);
        steps_rep = step - s0;
    }
    const double cpu_ms =
        1e3 * (double) (clock() - cpu0) / CLOCKS_PER_SEC / (double) (step - step0);
    const uint64_t allocs = lm_alloc_count() - allocs0;
    const double med = bench_median(rates, 3);
    /* GEMM multiply-adds of a step per token: each block's qkv, proj, fc and mlp.proj (12 d^2)
     * and its attention (S = Q K^T and P V over the T keys: 2 T d, counted in full although
     * half is masked), the head (d V); the backward pass twice the forward's, except the
     * embedding (no GEMM) */
    const double dm = 128.0, blocks = 2.0;
    const double fwd = blocks * (12.0 * dm * dm + 2.0 * CTX * dm) + dm * VOCAB;
    const double gflops = med * 2.0 * 3.0 * fwd * (double) (B * CTX) / 1e9;
    /* float64: one gradient against one HVP on one batch */
    lm_mlp_ws *ws;
    if (lm_mlp_ws_new(m, B, LM_F64, &ws, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double *x64 = malloc(B * d * sizeof *x64), *y64 = malloc(B * k * sizeof *y64),
           *g64 = malloc(p * sizeof *g64), *v = malloc(p * sizeof *v), *hv = malloc(p * sizeof *hv);
    for (size_t i = 0; i < B * d; i++)
        x64[i] = (double) X[i];
    for (size_t i = 0; i < B * k; i++)
        y64[i] = (double) Y[i];
    for (size_t i = 0; i < p; i++)
        v[i] = lm_rng_normal(&r);
    double tg[7], th[7], l64;
    for (int rep = 0; rep < 8; rep++) { /* the first of each is a warm-up */
        double t = lm_now();
        lm_mlp_loss_grad(m, ws, LM_LOSS_CE, th64, x64, y64, B, &l64, g64, NULL, NULL);
        t = lm_now() - t;
        if (rep)
            tg[rep - 1] = t;
    }
    lm_mlp_hvp_prepare(m, ws, LM_LOSS_CE, th64, x64, y64, B, NULL, NULL, NULL);
    for (int rep = 0; rep < 8; rep++) {
        double t = lm_now();
        lm_mlp_hvp_apply(m, ws, v, hv, NULL);
        t = lm_now() - t;
        if (rep)
            th[rep - 1] = t;
    }
    const double grad_s = bench_median(tg, 7), hvp_s = bench_median(th, 7);
    const double peak = bench_sgemm_peak();
    printf("{\"impl\":\"lmech\",\"batch\":%zu,\"data\":\"%s\",\"params\":%zu,\"steps_per_s\":%.3f,"
           "\"gemm_gflops\":%.2f,\"sgemm_peak_gflops\":%.2f,\"steps_timed\":%zu,\"loss\":%.5f,"
           "\"allocs_after_first_step\":%llu,\"f64_grad_s\":%.6f,\"f64_hvp_s\":%.6f,"
           "\"hvp_over_grad\":%.3f,\"threads\":%d,\"cpu_ms_per_step\":%.2f}\n",
           B, synthetic ? "synthetic" : "GPL-3", p, med, gflops, peak, steps_rep, loss,
           (unsigned long long) allocs, grad_s, hvp_s, hvp_s / grad_s, lm_threads_get(), cpu_ms);
    lm_mlp_ws_free(ws);
    lm_mlp_team_free(team);
    lm_optim_free(opt);
    lm_mlp_free(m);
    free(text), free(perm), free(X), free(Y), free(th64), free(theta), free(grad), free(seg);
    free(mult), free(x64), free(y64), free(g64), free(v), free(hv);
    return 0;
}
