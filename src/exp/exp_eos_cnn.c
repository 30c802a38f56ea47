/*
 * exp_eos_cnn.c: the edge of stability for a convolutional network (Cohen, Kaur, Li, Kolter,
 * Talwalkar 2021, arXiv 2103.00065, §3 and Appendix: progressive sharpening and the edge of
 * stability appear for CNNs as for MLPs; science.md §4). The claims, measures and tolerances are
 * the eos experiment's, from one source (eos_analysis.c): only the network differs.
 *
 * Setup (full): a small tanh CNN on 1000 Fashion-MNIST training images pooled 2x2 to [1, 14, 14]
 * and standardised (science.md §0), a seeded random subset per seed:
 *   conv2d 8 3x3 pad 1 - tanh - avgpool 2 - conv2d 16 3x3 pad 1 - tanh - avgpool 2 - flatten
 *   - linear 10                                  ([1,14,14] -> [8,7,7] -> [16,3,3] -> 144 -> 10)
 * summed-class mse (Cohen's convention, science.md §0), full-batch GD, sharpness (float64,
 * warm-started Lanczos) every 20 steps. Rates: an edge rate eta_e and a control eta_c whose 2/eta
 * lies above the sharpening the network reaches in the run's budget (as eos's 0.04).
 *
 * Predictions, written from the theory before the runs (science.md §4 "EoS", judged per seed and
 * then over seeds, eos_analysis.c): at eta_e the sharpness reaches 0.95 * 2/eta after step 100
 * (t*), having risen >= 1.2x from its post-catapult minimum; from t* on >= 80 % of measurements
 * have S eta/2 in [0.9, 1.1] with median in [0.97, 1.10]; >= 10 % of the 20-step loss intervals
 * rise, yet L_end <= 0.5 L(t*). At eta_c: S eta/2 < 1 throughout.
 *
 * Quick: FMNIST-49 (4x4 pooling, [1, 7, 7]), 250 images, conv2d 8 3x3 pad 1 - tanh - avgpool 2 -
 * flatten - linear 10 ([8,3,3] -> 72 -> 10); the same claims at the quick rates.
 */
#include "exp/internal.h"

#include <stdio.h>

/* The full network: two conv blocks on FMNIST-196 as images. */
static const char *BASE =
    "{\"name\": \"eos-cnn\", \"seed\": 0,"
    " \"data\": {\"source\": \"fashion-mnist\", \"train_size\": 1000, \"test_size\": 0,"
    "  \"subset\": \"random\", \"pool\": 2, \"normalize\": \"standardize\"},"
    " \"model\": {\"input_shape\": [1, 14, 14], \"layers\": ["
    "  {\"type\": \"conv2d\", \"out\": 8, \"kernel\": 3, \"padding\": 1}, {\"type\": \"tanh\"},"
    "  {\"type\": \"avgpool2d\", \"kernel\": 2},"
    "  {\"type\": \"conv2d\", \"out\": 16, \"kernel\": 3, \"padding\": 1}, {\"type\": \"tanh\"},"
    "  {\"type\": \"avgpool2d\", \"kernel\": 2},"
    "  {\"type\": \"flatten\"}, {\"type\": \"linear\", \"out\": 10}]},"
    " \"loss\": \"mse\", \"optimizer\": {\"name\": \"sgd\", \"lr\": 0.1}, \"batch_size\": 0,"
    " \"steps\": 6000, \"eval_every\": 20, \"sharpness_every\": 20, \"threads\": 1}";

/* The quick network: one conv block on FMNIST-49 as images. */
static const char *QBASE =
    "{\"name\": \"eos-cnn\", \"seed\": 0,"
    " \"data\": {\"source\": \"fashion-mnist\", \"train_size\": 250, \"test_size\": 0,"
    "  \"subset\": \"random\", \"pool\": 4, \"normalize\": \"standardize\"},"
    " \"model\": {\"input_shape\": [1, 7, 7], \"layers\": ["
    "  {\"type\": \"conv2d\", \"out\": 8, \"kernel\": 3, \"padding\": 1}, {\"type\": \"tanh\"},"
    "  {\"type\": \"avgpool2d\", \"kernel\": 2},"
    "  {\"type\": \"flatten\"}, {\"type\": \"linear\", \"out\": 10}]},"
    " \"loss\": \"mse\", \"optimizer\": {\"name\": \"sgd\", \"lr\": 0.1}, \"batch_size\": 0,"
    " \"steps\": 3000, \"eval_every\": 20, \"sharpness_every\": 20, \"threads\": 1}";

/* Seeds per rate: science.md §4 (decided 2026-12-06) asks for at least 4. */
#define N_SEEDS 4

typedef struct design {
    const char *base;
    size_t n_rates;
    const char *rate[3];
    int steps[3]; /* the last rate is the control */
} design;

static design design_for(int quick) {
    if (quick)
        return (design){QBASE, 2, {"0.2", "0.05"}, {3000, 3000}};
    return (design){BASE, 2, {"0.2", "0.05"}, {6000, 6000}};
}

static lm_status plan(int quick, lm_exp_plan *p, lm_err *err) {
    const design d = design_for(quick);
    char lr[64], seed[32], steps[32], label[96];
    for (size_t r = 0; r < d.n_rates; r++) {
        const int ctl = r + 1 == d.n_rates;
        snprintf(lr, sizeof lr, "optimizer.lr=%s", d.rate[r]);
        snprintf(steps, sizeof steps, "steps=%d", d.steps[r]);
        for (int s = 0; s < N_SEEDS; s++) {
            snprintf(seed, sizeof seed, "seed=%d", s);
            snprintf(label, sizeof label, "%seta=%s seed=%d", ctl ? "control " : "", d.rate[r], s);
            const char *sets[] = {lr, seed, steps};
            LM_TRY(lm_exp_plan_add(p, label, d.base, 3, sets, err));
        }
    }
    return LM_OK;
}

static lm_status analyse(lm_exp_ctx *ctx, lm_err *err) {
    return lm__exp_eos_analyse(ctx, "eos-cnn-sharpness",
                               "CNN sharpness against 2/eta (mean of seeds)", err);
}

const lm_experiment lm__exp_eos_cnn = {
    .name = "eos-cnn",
    .summary = "edge of stability for a CNN: full-batch GD sharpens to 2/eta and stays there; a "
               "control never does",
    .quick = "one conv block on 250 FMNIST-49 images ([1,7,7]), 4 seeds per rate (full: two conv "
             "blocks on 1000 FMNIST-196 images, [1,14,14])",
    .plan = plan,
    .analyse = analyse,
};
