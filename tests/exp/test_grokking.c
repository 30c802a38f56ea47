/* test_grokking.c: grokking's analysis (exp_grokking.c) on hand-filled stores. A textbook
 * grokking store (train 100 % at step 100, test 95 % at step 1000, the norm halving and the
 * Fourier sparsity quadrupling in between, the wd = 0 control stuck at 10 % test accuracy) passes
 * all four claims; a store without a delay (test follows train), with a flat norm and flat
 * sparsity, and a control that generalises as fast, fails all four. */
#include "exp_fixture.h"

static const char *CFG1 =
    "{\"data\": {\"source\": \"modadd\", \"modulus\": 59, \"train_frac\": 0.5},"
    " \"model\": {\"widths\": [118, 128, 59], \"activation\": \"quadratic\"},"
    " \"loss\": \"ce\", \"optimizer\": {\"name\": \"adamw\", \"lr\": 0.001, \"weight_decay\": 1.0},"
    " \"steps\": 2000, \"eval_every\": 20}";
static const char *CFG0 =
    "{\"data\": {\"source\": \"modadd\", \"modulus\": 59, \"train_frac\": 0.5},"
    " \"model\": {\"widths\": [118, 128, 59], \"activation\": \"quadratic\"},"
    " \"loss\": \"ce\", \"optimizer\": {\"name\": \"adamw\", \"lr\": 0.001, \"weight_decay\": 0},"
    " \"steps\": 2000, \"eval_every\": 20}";

#define NR 101 /* records at steps 0, 20, ..., 2000 */

/* One run: train reaches 1 at t_tr, test reaches test_max at t_te (linear ramps, jitter j),
 * the norm goes from 1 to norm_end between them, the sparsity from 0.2 to sp_end. */
static void add_run(lm_fx *f, const char *label, const char *cfg, double t_tr, double t_te,
                    double test_max, double norm_end, double sp_end, double j) {
    const int64_t r = lm_fx_run(f, label, cfg);
    int64_t st[NR];
    double tr[NR], te[NR], nm[NR], sp[NR];
    for (size_t i = 0; i < NR; i++) {
        const double t = 20.0 * (double) i;
        st[i] = (int64_t) t;
        tr[i] = fmin(1.0, t / (t_tr + j));
        const double x = fmin(1.0, fmax(0.0, (t - t_tr) / (t_te + j - t_tr)));
        te[i] = 0.02 + (test_max - 0.02) * x;
        nm[i] = 100.0 * (1.0 + (norm_end - 1.0) * x);
        sp[i] = 0.2 + (sp_end - 0.2) * x;
    }
    lm_fx_series(f, r, "train_acc", NR, st, tr);
    lm_fx_series(f, r, "test_acc", NR, st, te);
    lm_fx_series(f, r, "param_norm", NR, st, nm);
    lm_fx_series(f, r, "fourier_sparsity", NR, st, sp);
    for (size_t i = 0; i < NR; i++)
        sp[i] = fmin(1.0, 1.5 * sp[i]);
    lm_fx_series(f, r, "fourier_sparsity_unit", NR, st, sp);
}

Test(grokking, textbook_grokking_passes) {
    lm_fx f;
    lm_fx_open(&f, "grok-yes", 0);
    for (int s = 0; s < 3; s++)
        add_run(&f, "wd=1", CFG1, 100, 1000, 1.0, 0.5, 0.8, 20.0 * s);
    for (int s = 0; s < 3; s++)
        add_run(&f, "wd=0", CFG0, 100, 2000, 0.1, 1.2, 0.25, 20.0 * s);
    lm_err err = {0};
    cr_assert_eq(lm__exp_grokking.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < f.ctx->n_claims; i++)
        if (!strstr(f.ctx->claims[i].name, "per-unit"))
            cr_assert_eq(f.ctx->claims[i].verdict, LM_VERDICT_PASS, "%s: %g +- %g",
                         f.ctx->claims[i].name, f.ctx->claims[i].measured,
                         f.ctx->claims[i].uncertainty);
    cr_assert_eq(f.ctx->n_claims, 5);
    const lm_claim *u = lm_fx_claim(&f, "per-unit");
    cr_assert_eq(u->verdict, LM_VERDICT_REPORTED);
    cr_assert(u->measured > 2, "per-unit rise %g", u->measured);
    lm_fx_close(&f);
}

Test(grokking, no_delay_flat_norm_and_fast_control_fail) {
    lm_fx f;
    lm_fx_open(&f, "grok-no", 0);
    /* test 95 % right after train 99 %: t_test / t_train ~ 1.3 */
    for (int s = 0; s < 3; s++)
        add_run(&f, "wd=1", CFG1, 300, 400, 1.0, 1.0, 0.21, 20.0 * s);
    /* the control reaches 95 % with the same delay */
    for (int s = 0; s < 3; s++)
        add_run(&f, "wd=0", CFG0, 300, 400, 1.0, 1.0, 0.21, 20.0 * s);
    lm_err err = {0};
    cr_assert_eq(lm__exp_grokking.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(f.ctx->n_claims, 5);
    for (size_t i = 0; i < f.ctx->n_claims; i++)
        if (!strstr(f.ctx->claims[i].name, "per-unit"))
            cr_assert_eq(f.ctx->claims[i].verdict, LM_VERDICT_FAIL, "%s: %g +- %g",
                         f.ctx->claims[i].name, f.ctx->claims[i].measured,
                         f.ctx->claims[i].uncertainty);
    lm_fx_close(&f);
}

Test(grokking, missing_metric_is_an_error_naming_it) {
    lm_fx f;
    lm_fx_open(&f, "grok-missing", 0);
    const int64_t r = lm_fx_run(&f, "wd=1", CFG1);
    const int64_t st[2] = {0, 20};
    const double v[2] = {0.1, 0.2};
    lm_fx_series(&f, r, "train_acc", 2, st, v);
    lm_fx_series(&f, r, "test_acc", 2, st, v);
    lm_err err = {0};
    cr_assert_neq(lm__exp_grokking.analyse(f.ctx, &err), LM_OK);
    cr_assert(strstr(err.msg, "param_norm"), "%s", err.msg);
    lm_fx_close(&f);
}
