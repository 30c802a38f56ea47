/* Tests for the matrix-completion source (src/data/synth.c), the mse_observed loss that reads its
 * NaN targets (src/loss/loss.c), and the config rules that tie them (src/config/config.c). */
#include "lm_test.h"
#include "lmech/config.h"
#include "lmech/data.h"
#include "lmech/loss.h"

#include <math.h>
#include <string.h>

static lm_data_spec mc_spec(size_t dim, size_t rank, double observed) {
    lm_data_spec s = lm_data_spec_default();
    s.source = LM_DATA_MATRIX_COMPLETION;
    s.dim = dim;
    s.rank = rank;
    s.observed = observed;
    return s;
}

Test(matrix_completion, train_is_identity_and_observed_entries_of_a_unit_rms_matrix) {
    const lm_data_spec s = mc_spec(30, 3, 0.3);
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 7, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert_not_null(te);
    cr_assert(tr->n == 30 && tr->d == 30 && tr->k == 30 && te->n == 30 && te->k == 30);
    cr_assert_null(tr->labels);
    size_t obs = 0;
    double ss = 0.0;
    for (size_t i = 0; i < 900; i++) {
        cr_assert_eq(tr->x[i], (i / 30 == i % 30) ? 1.0 : 0.0);
        cr_assert_eq(te->x[i], tr->x[i]);
        cr_assert(isfinite(te->y[i]));
        ss += te->y[i] * te->y[i];
        if (!isnan(tr->y[i])) {
            obs++;
            cr_assert_eq(tr->y[i], te->y[i], "observed entry %zu differs from M*", i);
        }
    }
    cr_assert_eq(obs, 270, "round(0.3 * 900) observed, got %zu", obs);
    cr_assert(fabs(sqrt(ss / 900.0) - 1.0) < 1e-12, "RMS entry %g", sqrt(ss / 900.0));
    /* the same seed gives the same set; another seed another M* and Omega */
    lm_dataset *tr2 = NULL, *te2 = NULL;
    cr_assert_eq(lm_data_load(&s, 7, &tr2, &te2, &err), LM_OK, "%s", err.msg);
    cr_assert(memcmp(te->y, te2->y, 900 * sizeof(double)) == 0);
    for (size_t i = 0; i < 900; i++)
        cr_assert_eq(isnan(tr->y[i]), isnan(tr2->y[i]));
    lm_dataset_free(tr2);
    lm_dataset_free(te2);
    cr_assert_eq(lm_data_load(&s, 8, &tr2, &te2, &err), LM_OK, "%s", err.msg);
    cr_assert(te->y[0] != te2->y[0]);
    lm_dataset_free(tr2);
    lm_dataset_free(te2);
    lm_dataset_free(tr);
    lm_dataset_free(te);
}

Test(matrix_completion, bad_specs_are_refused) {
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    lm_data_spec s = mc_spec(10, 11, 0.3);
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "rank = 11"), "%s", err.msg);
    s = mc_spec(10, 2, 0.001);
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "observes none"), "%s", err.msg);
    s = mc_spec(10, 2, 0.5);
    s.train_size = 5;
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "train_size"), "%s", err.msg);
    cr_assert_null(tr);
    cr_assert_null(te);
}

/* mse_observed: value, gradient (central differences) and Hessian skip NaN targets and
 * normalise by the observed count; on complete targets it is mse_mean. */
Test(matrix_completion, mse_observed_skips_nan_targets) {
    const size_t n = 3, k = 4;
    double f[12], y[12], df[12], r[12], rf[12];
    for (size_t i = 0; i < n * k; i++) {
        f[i] = 0.3 * (double) i - 1.0;
        y[i] = (i % 3 == 1) ? LM_NAN : 0.5 * (double) (i % 5);
        rf[i] = 1.0 + (double) i;
    }
    double v, want = 0.0, m = 0.0;
    for (size_t i = 0; i < n * k; i++)
        if (!isnan(y[i])) {
            want += (f[i] - y[i]) * (f[i] - y[i]);
            m += 1.0;
        }
    want /= 2.0 * m;
    lm_err err = {0};
    cr_assert_eq(lm_loss_eval(LM_LOSS_MSE_OBSERVED, f, y, n, k, &v, df, &err), LM_OK);
    cr_assert(fabs(v - want) < 1e-15, "%g vs %g", v, want);
    cr_assert_eq(lm_loss_weight(LM_LOSS_MSE_OBSERVED, y, n, k), m);
    cr_assert_eq(lm_loss_weight(LM_LOSS_MSE, y, n, k), (double) n);
    for (size_t i = 0; i < n * k; i++) {
        const double h = 1e-6, f0 = f[i];
        double vp, vm;
        f[i] = f0 + h;
        lm_loss_eval(LM_LOSS_MSE_OBSERVED, f, y, n, k, &vp, NULL, &err);
        f[i] = f0 - h;
        lm_loss_eval(LM_LOSS_MSE_OBSERVED, f, y, n, k, &vm, NULL, &err);
        f[i] = f0;
        cr_assert(fabs((vp - vm) / (2 * h) - df[i]) < 1e-8, "entry %zu: %g vs %g", i,
                  (vp - vm) / (2 * h), df[i]);
        if (isnan(y[i]))
            cr_assert_eq(df[i], 0.0);
    }
    lm_loss_hess_apply(LM_LOSS_MSE_OBSERVED, f, y, n, k, rf, r);
    for (size_t i = 0; i < n * k; i++)
        cr_assert(fabs(r[i] - (isnan(y[i]) ? 0.0 : rf[i] / m)) < 1e-15);
    /* float32 agrees */
    float f32[12], y32[12], df32[12];
    for (size_t i = 0; i < n * k; i++) {
        f32[i] = (float) f[i];
        y32[i] = (float) y[i];
    }
    double v32;
    cr_assert_eq(lm_loss_eval_f32(LM_LOSS_MSE_OBSERVED, f32, y32, n, k, &v32, df32, &err), LM_OK);
    cr_assert(fabs(v32 - want) < 1e-6 * fabs(want));
    /* complete targets: mse_observed is mse_mean */
    for (size_t i = 0; i < n * k; i++)
        y[i] = 0.1 * (double) i;
    double vo, vmean;
    lm_loss_eval(LM_LOSS_MSE_OBSERVED, f, y, n, k, &vo, NULL, &err);
    lm_loss_eval(LM_LOSS_MSE_MEAN, f, y, n, k, &vmean, NULL, &err);
    cr_assert(fabs(vo - vmean) < 1e-15);
    /* nothing observed: zero loss and gradient */
    for (size_t i = 0; i < n * k; i++)
        y[i] = LM_NAN;
    cr_assert_eq(lm_loss_eval(LM_LOSS_MSE_OBSERVED, f, y, n, k, &vo, df, &err), LM_OK);
    cr_assert_eq(vo, 0.0);
    for (size_t i = 0; i < n * k; i++)
        cr_assert_eq(df[i], 0.0);
    lm_loss l;
    cr_assert_eq(lm_loss_parse("mse_observed", &l, &err), LM_OK);
    cr_assert_eq(l, LM_LOSS_MSE_OBSERVED);
    cr_assert_str_eq(lm_loss_name(l), "mse_observed");
}

static const char *CFG =
    "{\"data\": {\"source\": \"matrix-completion\", \"dim\": 6, \"rank\": 2},"
    " \"model\": {\"widths\": [6, 6, 6], \"activation\": \"identity\", \"bias\": false},"
    " \"loss\": \"mse_observed\", \"optimizer\": {\"name\": \"sgd\", \"lr\": 1}, \"steps\": 1}";

static void cfg_fails(const char *set, const char *part) {
    lm_config *c = NULL;
    lm_err err = {0};
    const char *sets[] = {set};
    cr_assert_neq(lm_config_parse(CFG, strlen(CFG), "mc.json", 1, sets, &c, &err), LM_OK,
                  "accepted %s", set);
    cr_assert_null(c);
    cr_assert(strstr(err.msg, part), "'%s' not in: %s", part, err.msg);
}

Test(matrix_completion, config_ties_the_source_to_mse_observed) {
    lm_config *c = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(CFG, strlen(CFG), "mc.json", 0, NULL, &c, &err), LM_OK, "%s",
                 err.msg);
    cr_assert_eq(c->data.rank, 2);
    cr_assert_eq(c->data.observed, 0.3);
    cr_assert(strstr(c->json, "\"rank\":2") && strstr(c->json, "\"observed\":0.3"), "%s", c->json);
    lm_config_free(c);
    cfg_fails("loss=\"mse\"", "mse_observed");
    cfg_fails("data.rank=7", "data.rank");
    cfg_fails("data.observed=0", "data.observed");
    cfg_fails("model.widths=[6, 5]", "model.widths");
    cfg_fails("data.normalize=\"standardize\"", "normalize");
    cfg_fails("data.train_size=3", "train_size");
}

/* Other sources' canonical text does not carry the new keys (their hashes are unchanged). */
Test(matrix_completion, other_configs_keep_their_canonical_text) {
    static const char *T = "{\"data\": {\"source\": \"teacher\", \"dim\": 4}, \"model\": "
                           "{\"widths\": [4, 1]}, \"steps\": 1}";
    lm_config *c = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(T, strlen(T), "t.json", 0, NULL, &c, &err), LM_OK, "%s", err.msg);
    cr_assert_null(strstr(c->json, "\"rank\""));
    cr_assert_null(strstr(c->json, "\"observed\""));
    lm_config_free(c);
}
