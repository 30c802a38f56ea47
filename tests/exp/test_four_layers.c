/*
 * test_four_layers.c: the four-layers analysis (src/exp/exp_four_layers.c) on hand-filled
 * stores. A synthetic run that sharpens to 2/eta and hovers there while its loss falls
 * non-monotonically passes the five edge-of-stability claims, reports the other layers (NC1's
 * fall 0.5 -> 0.1 after the fit at step 600, alpha 6 -> 4) and writes the four-panel figure.
 * Negative controls, where the theory says each claim must fail: a sharpness that stops at 0.8
 * of 2/eta (the edge claim fails; the hover claims cannot be measured: inconclusive); one that
 * settles at 1.2 of 2/eta (in the band never, median above 1.10: both fail); a loss that falls
 * monotonically and then stays flat after t* (no rising intervals, no halving: both fail).
 * Without nc1 records NC1 is reported as not recorded.
 */
#include "lm_test.h"

#include "exp_fixture.h"

#include <unistd.h>

#define NS 101 /* steps 0, 20, ..., 2000 */

static const char *cfg =
    "{\"name\": \"four-layers\", \"data\": {\"pool\": 2}, \"model\": {\"widths\": [196, 64, 64, "
    "10], \"activation\": \"tanh\"}, \"optimizer\": {\"name\": \"sgd\", \"lr\": 0.1}, "
    "\"batch_size\": 0}";

typedef struct shape {
    double top;   /* S / thr where the rise ends and S then hovers (1: the edge) */
    int gf_loss;  /* the loss falls monotonically until step 600 and is flat after */
    int with_nc1; /* nc1 recorded */
} shape;

/* One seed: S catapults from 1.9 thr to 0.8 thr by step 100, rises linearly to top thr at step
 * 600 and then oscillates within 3 % of it; the loss falls as exp(-t/1000), every third interval
 * rising 5 % (or, gf_loss, falls monotonically to step 600 and stays); train accuracy 0.9 -> 1
 * at step 600; NC1 (every 100 steps) 0.5 until step 600, then falling 5x by step 2000; alpha.1,
 * alpha.2 from 6 to 4 (+ 0.1 seed). */
static void fill_run(lm_fx *f, const char *label, const shape *sh, int seed) {
    const double thr = 20.0;
    const int64_t r = lm_fx_run(f, label, cfg);
    int64_t st[NS], st100[21];
    double s[NS], l[NS], acc[NS], nc[21], a[21], sp[21];
    for (int k = 0; k < NS; k++) {
        const double t = 20.0 * k;
        st[k] = 20 * k;
        if (t < 100)
            s[k] = thr * (1.9 - 1.1 * t / 100.0);
        else if (t < 600)
            s[k] = thr * (0.8 + (sh->top - 0.8) * (t - 100) / 500.0);
        else
            s[k] = sh->top * thr * (1.0 + 0.03 * sin(0.7 * k + seed));
        if (sh->gf_loss)
            l[k] = 0.2 * exp(-fmin(t, 600.0) / 1000.0);
        else
            l[k] = 0.2 * exp(-t / 1000.0) * (k % 3 == 0 ? 1.05 : 1.0);
        acc[k] = t >= 600 ? 1.0 : 0.9;
    }
    for (int k = 0; k < 21; k++) {
        const double t = 100.0 * k;
        st100[k] = 100 * k;
        nc[k] = t > 600 ? 0.5 * exp(-log(5.0) * (t - 600) / 1400.0) : 0.5;
        a[k] = 6.0 - 2.0 * t / 2000.0 + 0.1 * seed;
        sp[k] = t > 500 ? 2 : 0;
    }
    lm_fx_series(f, r, "sharpness", NS, st, s);
    lm_fx_series(f, r, "train_loss", NS, st, l);
    lm_fx_series(f, r, "train_acc", NS, st, acc);
    lm_fx_series(f, r, "alpha.1", 21, st100, a);
    lm_fx_series(f, r, "alpha.2", 21, st100, a);
    lm_fx_series(f, r, "spikes.1", 21, st100, sp);
    if (sh->with_nc1)
        lm_fx_series(f, r, "nc1", 21, st100, nc);
}

static void run_analysis(lm_fx *f, const char *db, const shape *sh) {
    lm_fx_open(f, db, 1);
    char lb[32];
    for (int s = 0; s < 4; s++) {
        snprintf(lb, sizeof lb, "seed=%d", s);
        fill_run(f, lb, sh, s);
    }
    lm_err err = {0};
    cr_assert_eq(lm__exp_four_layers.analyse(f->ctx, &err), LM_OK, "%s", err.msg);
}

static void expect(const lm_fx *f, const char *name, lm_verdict v) {
    const lm_claim *c = lm_fx_claim(f, name);
    cr_assert_eq(c->verdict, v, "%s: verdict %d, expected %d: %s (%g +- %g)", c->name,
                 (int) c->verdict, (int) v, c->detail, c->measured, c->uncertainty);
}

Test(four_layers, synthetic_run_passes_and_draws_four_panels) {
    lm_fx f;
    run_analysis(&f, "four-layers", &(shape){1.0, 0, 1});
    size_t judged = 0;
    for (size_t i = 0; i < f.ctx->n_claims; i++) {
        const lm_claim *c = &f.ctx->claims[i];
        if (c->verdict == LM_VERDICT_REPORTED)
            continue;
        judged++;
        cr_assert_eq(c->verdict, LM_VERDICT_PASS, "%s: %s (%g +- %g)", c->name, c->detail,
                     c->measured, c->uncertainty);
        cr_assert_eq(c->n_runs, 4, "%s", c->name);
    }
    cr_assert_eq(judged, 5, "the 5 edge-of-stability claims: %zu judged", judged);
    const lm_claim *c = lm_fx_claim(&f, "NC1(t100)/NC1(end)");
    cr_assert_eq(c->verdict, LM_VERDICT_REPORTED);
    cr_assert_float_eq(c->measured, 5.0, 1e-9, "NC1(600)/NC1(2000) = 5, got %g", c->measured);
    /* alpha is reported: 6 -> 4 per layer (plus 0.1 seed), init minus end = 2 */
    c = lm_fx_claim(&f, "layer 1: alpha(init) - alpha(end)");
    cr_assert_eq(c->verdict, LM_VERDICT_REPORTED);
    cr_assert_float_eq(c->measured, 2.0, 1e-9);
    char gp[600];
    snprintf(gp, sizeof gp, "%s/exp-%lld/four-layers.gp", f.art, (long long) f.ctx->exp_id);
    cr_assert_eq(access(gp, R_OK), 0, "no figure at %s", gp);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

/* Negative control: the sharpness stops at 0.8 of 2/eta. */
Test(four_layers, sharpness_below_the_edge_fails) {
    lm_fx f;
    run_analysis(&f, "four-layers-below", &(shape){0.8, 0, 1});
    expect(&f, "sharpness reaches 2/eta", LM_VERDICT_FAIL);
    /* no t*: nothing after it to measure */
    expect(&f, "sharpness hovers", LM_VERDICT_INCONCLUSIVE);
    expect(&f, "median sharpness", LM_VERDICT_INCONCLUSIVE);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

/* Negative control: the sharpness settles 20 % above 2/eta (GD would diverge there). */
Test(four_layers, sharpness_above_the_band_fails) {
    lm_fx f;
    run_analysis(&f, "four-layers-above", &(shape){1.2, 0, 1});
    expect(&f, "sharpness reaches 2/eta", LM_VERDICT_PASS);
    expect(&f, "sharpness hovers", LM_VERDICT_FAIL);
    expect(&f, "median sharpness", LM_VERDICT_FAIL);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

/* Negative control: a gradient-flow-like loss, monotone and then flat after t*. */
Test(four_layers, monotone_flat_loss_fails) {
    lm_fx f;
    run_analysis(&f, "four-layers-flat", &(shape){1.0, 1, 1});
    expect(&f, "non-monotone loss", LM_VERDICT_FAIL);
    expect(&f, "loss still falls", LM_VERDICT_FAIL);
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}

/* Without nc1 records NC1 is reported as not recorded (no number). */
Test(four_layers, collapse_not_recorded) {
    lm_fx f;
    run_analysis(&f, "four-layers-nonc", &(shape){1.0, 0, 0});
    const lm_claim *c = lm_fx_claim(&f, "NC1(t100)/NC1(end)");
    cr_assert_eq(c->verdict, LM_VERDICT_REPORTED);
    cr_assert(strstr(c->reason, "not recorded"), "%s", c->reason);
    cr_assert(isnan(c->measured));
    lm_fx_close(&f);
    LM_CHECK_LEAKS();
}
