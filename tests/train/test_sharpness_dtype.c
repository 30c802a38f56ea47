/*
 * Tests for sharpness_dtype: a float32 run's sharpness observer takes float32 Hessian-vector
 * products ("auto"), float64 ones when asked, and a float64 run float32 ones when asked; layer-
 * graph models alike. The metric sharpness_hvp_bits says which. The sharpness itself
 * agrees across dtypes to 1e-3 relative: the training trajectory does not depend on the observer,
 * so both runs measure at the same parameters, each by Lanczos to relative residual 1e-3, whose
 * eigenvalue error is ~residual^2 lambda / gap (science.md §4), well below 1e-3 on this net, and
 * the float32 products add ~1e-6 (tests/model/test_hvp_f32.c).
 */
#include "lmech/config.h"
#include "lmech/io.h"
#include "lmech/store.h"
#include "lmech/train.h"
#include "train_helpers.h"

#include <string.h>
#include <unistd.h>

static const char *TEACHER =
    "{\"seed\": 4, \"data\": {\"source\": \"teacher\", \"dim\": 8, \"outputs\": 2, "
    "\"teacher_width\": 16, \"train_size\": 200, \"test_size\": 50}, "
    "\"model\": {\"widths\": [8, 32, 32, 2], \"activation\": \"tanh\"}, \"loss\": \"mse\", "
    "\"optimizer\": {\"name\": \"sgd\", \"lr\": 0.2}, \"steps\": 100, \"eval_every\": 50, "
    "\"sharpness_every\": 50, \"threads\": 1}";

static const char *GRAPH =
    "{\"seed\": 4, \"data\": {\"source\": \"teacher\", \"dim\": 8, \"outputs\": 2, "
    "\"teacher_width\": 16, \"train_size\": 200, \"test_size\": 50}, "
    "\"model\": {\"input_shape\": [8], \"layers\": [{\"type\": \"linear\", \"out\": 32}, "
    "{\"type\": \"tanh\"}, {\"type\": \"residual\", \"body\": [{\"type\": \"layernorm\"}, "
    "{\"type\": \"linear\", \"out\": 32}, {\"type\": \"gelu\"}]}, "
    "{\"type\": \"linear\", \"out\": 2}]}, \"loss\": \"mse\", "
    "\"optimizer\": {\"name\": \"sgd\", \"lr\": 0.2}, \"steps\": 100, \"eval_every\": 50, "
    "\"sharpness_every\": 50, \"threads\": 1}";

static void run_metrics(const char *text, size_t n_sets, const char *const *sets, metrics *out) {
    char db[256];
    lm_tmp_path(db, sizeof db, "sdt.db");
    lm_store *s;
    lm_err err = {0};
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    lm_config *c = cfg_from(text, n_sets, sets);
    lm_train_opts o = {0};
    o.store = s;
    lm_train_result r;
    cr_assert_eq(lm_train_run(c, &o, &r, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(r.status, LM_RUN_FINISHED, "%s", r.message);
    memset(out, 0, sizeof *out);
    cr_assert_eq(lm_store_get_metrics(s, r.run_id, metrics_collect, out, &err), LM_OK);
    lm_store_close(s);
    lm_config_free(c);
    unlink(db);
}

Test(sharpness_dtype, float32_products_match_float64, .timeout = 60) {
    static metrics a, b, c, d;
    const char *f32_auto[] = {"dtype=\"float32\""};
    const char *f32_f64[] = {"dtype=\"float32\"", "sharpness_dtype=\"float64\""};
    const char *f64_f32[] = {"sharpness_dtype=\"float32\""};
    run_metrics(TEACHER, 1, f32_auto, &a);
    run_metrics(TEACHER, 2, f32_f64, &b);
    run_metrics(TEACHER, 1, f64_f32, &c);
    run_metrics(TEACHER, 0, NULL, &d);
    for (int64_t st = 0; st <= 100; st += 50) {
        cr_assert_eq(metrics_get(&a, st, "sharpness_hvp_bits"), 32.0);
        cr_assert_eq(metrics_get(&b, st, "sharpness_hvp_bits"), 64.0);
        cr_assert_eq(metrics_get(&c, st, "sharpness_hvp_bits"), 32.0);
        cr_assert_eq(metrics_get(&d, st, "sharpness_hvp_bits"), 64.0);
        const double s32 = metrics_get(&a, st, "sharpness"), s64 = metrics_get(&b, st, "sharpness");
        cr_assert(isfinite(s64) && s64 > 0, "step %lld", (long long) st);
        cr_assert(fabs(s32 - s64) <= 1e-3 * s64, "step %lld: float32 run %.10g vs %.10g",
                  (long long) st, s32, s64);
        /* the float64 run with float32 products: its parameters rounded per measurement */
        const double c32 = metrics_get(&c, st, "sharpness"), c64 = metrics_get(&d, st, "sharpness");
        cr_assert(fabs(c32 - c64) <= 1e-3 * c64, "step %lld: float64 run %.10g vs %.10g",
                  (long long) st, c32, c64);
        /* the training itself is the observer's business only: losses bitwise equal */
        cr_assert_eq(metrics_get(&a, st, "train_loss"), metrics_get(&b, st, "train_loss"));
        cr_assert_eq(metrics_get(&c, st, "train_loss"), metrics_get(&d, st, "train_loss"));
    }
}

/* A layer graph (a residual block with layer norm) as the chain: a float32 run takes float32
 * products by default (every layer's float32 jvp and rbackward), float64 when asked, and the
 * two sharpnesses agree to 1e-3 (the reasoning at the top). */
Test(sharpness_dtype, layer_graph_float32_products, .timeout = 30) {
    static metrics a, b;
    const char *f32[] = {"dtype=\"float32\""};
    const char *f64p[] = {"dtype=\"float32\"", "sharpness_dtype=\"float64\""};
    run_metrics(GRAPH, 1, f32, &a);
    run_metrics(GRAPH, 2, f64p, &b);
    for (int64_t st = 0; st <= 100; st += 50) {
        cr_assert_eq(metrics_get(&a, st, "sharpness_hvp_bits"), 32.0);
        cr_assert_eq(metrics_get(&b, st, "sharpness_hvp_bits"), 64.0);
        const double s32 = metrics_get(&a, st, "sharpness"), s64 = metrics_get(&b, st, "sharpness");
        cr_assert(isfinite(s64) && s64 > 0, "step %lld", (long long) st);
        cr_assert(fabs(s32 - s64) <= 1e-3 * s64, "step %lld: float32 products %.10g vs %.10g",
                  (long long) st, s32, s64);
        cr_assert_eq(metrics_get(&a, st, "train_loss"), metrics_get(&b, st, "train_loss"));
    }
}

/* The key: "auto" is the default and is not written into the canonical config (run hashes of
 * configs from before the key stand); the other values are; anything else names the key. */
Test(sharpness_dtype, config_key) {
    const char *sets_auto[] = {"sharpness_dtype=\"auto\""};
    const char *sets_f32[] = {"sharpness_dtype=\"float32\""};
    const char *sets_f64[] = {"sharpness_dtype=\"float64\""};
    lm_config *plain = cfg_from(TEACHER, 0, NULL), *a = cfg_from(TEACHER, 1, sets_auto);
    lm_config *f = cfg_from(TEACHER, 1, sets_f32), *g = cfg_from(TEACHER, 1, sets_f64);
    cr_assert_eq(plain->train.sharpness_dtype, LM_SHARP_AUTO);
    cr_assert_eq(a->train.sharpness_dtype, LM_SHARP_AUTO);
    cr_assert_eq(f->train.sharpness_dtype, LM_SHARP_F32);
    cr_assert_eq(g->train.sharpness_dtype, LM_SHARP_F64);
    cr_assert_str_eq(plain->json, a->json);
    cr_assert_str_eq(plain->hash, a->hash);
    cr_assert(strstr(plain->json, "sharpness_dtype") == NULL);
    cr_assert(strstr(f->json, "\"sharpness_dtype\":\"float32\"") != NULL, "%s", f->json);
    cr_assert(strstr(g->json, "\"sharpness_dtype\":\"float64\"") != NULL, "%s", g->json);
    cr_assert_str_neq(plain->hash, f->hash);
    cr_assert_str_neq(f->hash, g->hash);
    /* the canonical JSON parses back to the same config */
    lm_config *back = cfg_from(f->json, 0, NULL);
    cr_assert_eq(back->train.sharpness_dtype, LM_SHARP_F32);
    cr_assert_str_eq(back->hash, f->hash);
    lm_config_free(back);
    const char *bad[] = {"sharpness_dtype=\"float16\""};
    lm_config *c;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(TEACHER, strlen(TEACHER), "t.json", 1, bad, &c, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "sharpness_dtype") && strstr(err.msg, "float16"), "%s", err.msg);
    lm_config_free(plain);
    lm_config_free(a);
    lm_config_free(f);
    lm_config_free(g);
}
