/*
 * test_learning_curves_fmnist.c: the negative control of learning-curves (b) (science.md §8(c))
 * on a hand-filled store of small Fashion-MNIST runs (a 300-image spectrum run and 4 trials of
 * 150 + 150 images; the analysis regenerates every run's data and NTK from its config): the
 * prediction from the wrong target spectrum (the target's power spread evenly over the kernel's
 * modes, i.e. a target the kernel is not aligned with) must FAIL every claim; with the target's
 * own coefficients the measured / predicted ratios are far closer to 1. Skipped without
 * Fashion-MNIST.
 */
#include "exp_fixture.h"

#include <unistd.h>

#define lm__exp_learning_curves lm__exp_learning_curves_under_test
#include "exp/exp_learning_curves.c"

static void fill(lm_fx *f, const design_b *d) {
    lm_exp_plan *p = calloc(1, sizeof *p);
    lm_err err = {0};
    cr_assert_eq(plan_b(d, p, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < p->n; i++)
        lm_fx_run(f, p->label[i], p->config[i]);
    lm_exp_plan_clear(p);
    free(p);
}

Test(learning_curves_fmnist, wrong_target_spectrum_fails) {
    if (access("/usr/share/datasets/fashion-mnist", R_OK) != 0)
        cr_skip_test("fashion-mnist not installed");
    const design_b wrong = {300, 150, 150, 2, 4, {50, 100}, 1};
    const design_b right = {300, 150, 150, 2, 4, {50, 100}, 0};
    lm_fx f;
    lm_fx_open(&f, "lc-fmnist-wrong", 0);
    fill(&f, &wrong);
    lm_err err = {0};
    cr_assert_eq(analyse_b(f.ctx, &wrong, 0, &err), LM_OK, "%s", err.msg);
    double bad[2];
    for (size_t i = 0; i < 2; i++) {
        char name[64];
        snprintf(name, sizeof name, "test MSE n=%zu", wrong.n[i]);
        const lm_claim *c = lm_fx_claim(&f, name);
        cr_expect_eq(c->verdict, LM_VERDICT_FAIL, "%s: %g +- %g", c->name, c->measured,
                     c->uncertainty);
        bad[i] = c->measured;
    }
    lm_fx_close(&f);
    lm_fx_open(&f, "lc-fmnist-right", 0);
    fill(&f, &right);
    cr_assert_eq(analyse_b(f.ctx, &right, 0, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < 2; i++) {
        char name[64];
        snprintf(name, sizeof name, "test MSE n=%zu", right.n[i]);
        const lm_claim *c = lm_fx_claim(&f, name);
        cr_expect(fabs(log(c->measured)) < 0.5 * fabs(log(bad[i])),
                  "%s: own spectrum %g against the wrong one's %g", c->name, c->measured, bad[i]);
    }
    lm_fx_close(&f);
}
