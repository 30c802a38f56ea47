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

#include <string.h>

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
    if (lm_mlp_new(&s, &m, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    /* GEMM multiply-adds of a step per token: each block's qkv, proj, fc and mlp.proj (12 d^2)
     * and its attention (S = Q K^T and P V over the T keys: 2 T d, counted in full although
     * half is masked), the head (d V); the backward pass twice the forward's, except the
     * embedding (no GEMM) */
    const double dm = 128.0, blocks = 2.0;
    const double fwd = blocks * (12.0 * dm * dm + 2.0 * CTX * dm) + dm * VOCAB;
    bench_train b = {.m = m,
                     .X = X,
                     .Y = Y,
                     .n = n,
                     .B = B,
                     .os = lm_optim_spec_default(),
                     .seconds = seconds,
                     .gemm_mac = 3.0 * fwd * (double) (B * CTX),
                     .data = synthetic ? "synthetic" : "GPL-3"};
    b.os.kind = LM_OPT_ADAM;
    b.os.lr = 3e-4;
    const int rc = bench_train_run(&b);
    lm_mlp_free(m);
    free(text), free(perm), free(X), free(Y);
    return rc;
}
