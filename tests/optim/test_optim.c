/*
 * Tests for src/optim: each update rule against a hand-computed reference on a few parameters,
 * schedules, per-segment multipliers, and that a training step (model + optimizer) allocates
 * nothing after the first.
 */
#include "lm_test.h"
#include "lmech/model.h"
#include "lmech/optim.h"

#include <string.h>

static lm_optim *make(lm_opt_kind kind, double lr, double mom, double wd, size_t p,
                      const double *mult, size_t nseg, const size_t *seg) {
    lm_optim_spec s = lm_optim_spec_default();
    s.kind = kind;
    s.lr = lr;
    s.momentum = mom;
    s.weight_decay = wd;
    lm_optim *o;
    lm_err err = {0};
    cr_assert_eq(lm_optim_new(&s, p, LM_F64, nseg, seg, mult, 100, &o, &err), LM_OK, "%s", err.msg);
    return o;
}

Test(optim, sgd_momentum_nesterov_match_reference) {
    const size_t seg[] = {0, 2, 3};
    const double mult[] = {1.0, 0.5};
    const double g[3] = {0.3, -1.7, 2.385};
    for (int kind = LM_OPT_SGD; kind <= LM_OPT_NESTEROV; kind++) {
        lm_optim *o =
            make((lm_opt_kind) kind, 0.1, kind == LM_OPT_SGD ? 0.0 : 0.9, 0.01, 3, mult, 2, seg);
        double th[3] = {1.0, -2.0, 0.5}, ref[3] = {1.0, -2.0, 0.5}, v[3] = {0};
        for (int step = 0; step < 3; step++) {
            lm_optim_step(o, th, g, (size_t) step, NULL);
            for (int i = 0; i < 3; i++) {
                double lr = 0.1 * (i < 2 ? 1.0 : 0.5), gi = g[i] + 0.01 * ref[i];
                if (kind == LM_OPT_SGD)
                    ref[i] -= lr * gi;
                else if (kind == LM_OPT_MOMENTUM) {
                    v[i] = 0.9 * v[i] + gi;
                    ref[i] -= lr * v[i];
                } else {
                    v[i] = 0.9 * v[i] + gi;
                    ref[i] -= lr * (gi + 0.9 * v[i]);
                }
            }
        }
        for (int i = 0; i < 3; i++) /* same operations in the same order: exact */
            cr_assert_float_eq(th[i], ref[i], 1e-15, "kind %d param %d", kind, i);
        lm_optim_free(o);
    }
    LM_CHECK_LEAKS();
}

Test(optim, adam_and_adamw_match_reference) {
    const size_t seg[] = {0, 2};
    const double mult[] = {1.0};
    for (int kind = LM_OPT_ADAM; kind <= LM_OPT_ADAMW; kind++) {
        lm_optim *o = make((lm_opt_kind) kind, 1e-2, 0, 0.1, 2, mult, 1, seg);
        double th[2] = {0.7, -0.2}, ref[2] = {0.7, -0.2}, m[2] = {0}, v[2] = {0};
        for (int t = 1; t <= 4; t++) {
            double g[2] = {0.5 * t, -0.25};
            lm_optim_step(o, th, g, (size_t) t - 1, NULL);
            for (int i = 0; i < 2; i++) {
                double gi = kind == LM_OPT_ADAM ? g[i] + 0.1 * ref[i] : g[i];
                m[i] = 0.9 * m[i] + 0.1 * gi;
                v[i] = 0.999 * v[i] + 0.001 * gi * gi;
                if (kind == LM_OPT_ADAMW)
                    ref[i] -= 1e-2 * 0.1 * ref[i];
                double mh = m[i] / (1 - pow(0.9, t)), vh = v[i] / (1 - pow(0.999, t));
                ref[i] -= 1e-2 * mh / (sqrt(vh) + 1e-8);
            }
        }
        /* reference uses divisions where the kernel multiplies by reciprocals: a few ulps */
        for (int i = 0; i < 2; i++)
            cr_assert(lm_close(th[i], ref[i], 1e-13, 1e-15), "%g vs %g", th[i], ref[i]);
        double P[2];
        cr_assert_eq(lm_optim_adam_precond(o, P, NULL), LM_OK);
        cr_assert(P[0] > 0 && P[1] > 0);
        lm_optim_free(o);
    }
    LM_CHECK_LEAKS();
}

Test(optim, schedules) {
    lm_optim_spec s = lm_optim_spec_default();
    s.lr = 1.0;
    s.schedule = LM_SCHED_COSINE;
    s.warmup_steps = 10;
    s.final_lr_frac = 0.1;
    const size_t seg[] = {0, 1};
    const double mult[] = {1};
    lm_optim *o;
    cr_assert_eq(lm_optim_new(&s, 1, LM_F64, 1, seg, mult, 110, &o, NULL), LM_OK);
    cr_assert_float_eq(lm_optim_lr(o, 0), 0.1, 1e-15);
    cr_assert_float_eq(lm_optim_lr(o, 9), 1.0, 1e-15);
    cr_assert_float_eq(lm_optim_lr(o, 10), 1.0, 1e-15);
    cr_assert_float_eq(lm_optim_lr(o, 60), 0.55, 1e-12); /* halfway: 0.1 + 0.9 / 2 */
    cr_assert_float_eq(lm_optim_lr(o, 110), 0.1, 1e-12);
    lm_optim_free(o);
    /* Goyal et al.'s warmup from the small-batch rate: k = 8 ramps 1/8 -> 1 */
    s.schedule = LM_SCHED_WARMUP;
    s.warmup_start = 0.125;
    cr_assert_eq(lm_optim_new(&s, 1, LM_F64, 1, seg, mult, 110, &o, NULL), LM_OK);
    cr_assert_float_eq(lm_optim_lr(o, 0), 0.125 + 0.875 * 0.1, 1e-15);
    cr_assert_float_eq(lm_optim_lr(o, 4), 0.125 + 0.875 * 0.5, 1e-15);
    cr_assert_float_eq(lm_optim_lr(o, 9), 1.0, 1e-15);
    cr_assert_float_eq(lm_optim_lr(o, 50), 1.0, 1e-15);
    lm_optim_free(o);
    s.warmup_start = 0;
    lm_err err = {0};
    s.momentum = 1.0;
    cr_assert_eq(lm_optim_new(&s, 1, LM_F64, 1, seg, mult, 110, &o, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "momentum") != NULL);
    LM_CHECK_LEAKS();
}

Test(optim, training_step_allocates_nothing) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = 4;
    size_t w[] = {30, 64, 64, 10};
    memcpy(s.widths, w, sizeof w);
    lm_mlp *m;
    lm_mlp_ws *ws, *ws32;
    cr_assert_eq(lm_mlp_new(&s, &m, NULL), LM_OK);
    cr_assert_eq(lm_mlp_ws_new(m, 32, LM_F64, &ws, NULL), LM_OK);
    cr_assert_eq(lm_mlp_ws_new(m, 32, LM_F32, &ws32, NULL), LM_OK);
    const size_t p = m->n_params;
    double *th = calloc(p, 8), *g = calloc(p, 8), *hv = calloc(p, 8), *x = calloc(32 * 30, 8),
           *y = calloc(32 * 10, 8);
    float *th32 = calloc(p, 4), *g32 = calloc(p, 4), *x32 = calloc(32 * 30, 4),
          *y32 = calloc(32 * 10, 4);
    lm_mlp_init(m, 1, th, NULL);
    size_t seg[7];
    double mult[6];
    lm_mlp_segments(m, 1, seg, mult);
    lm_optim_spec os = lm_optim_spec_default();
    os.kind = LM_OPT_ADAM;
    lm_optim *o, *o32;
    cr_assert_eq(lm_optim_new(&os, p, LM_F64, 6, seg, mult, 10, &o, NULL), LM_OK);
    cr_assert_eq(lm_optim_new(&os, p, LM_F32, 6, seg, mult, 10, &o32, NULL), LM_OK);
    double loss;
    lm_mlp_loss_grad(m, ws, LM_LOSS_CE, th, x, y, 32, &loss, g, NULL, NULL);
    lm_optim_step(o, th, g, 0, NULL);
    const uint64_t before = lm_alloc_count();
    for (size_t step = 1; step < 10; step++) {
        lm_mlp_loss_grad(m, ws, LM_LOSS_CE, th, x, y, 32, &loss, g, NULL, NULL);
        lm_optim_step(o, th, g, step, NULL);
        lm_mlp_loss_grad_f32(m, ws32, LM_LOSS_CE, th32, x32, y32, 32, &loss, g32, NULL, NULL);
        lm_optim_step(o32, th32, g32, step, NULL);
        lm_mlp_hvp_prepare(m, ws, LM_LOSS_CE, th, x, y, 32, NULL, NULL, NULL);
        lm_mlp_hvp_apply(m, ws, g, hv, NULL);
    }
    cr_assert_eq(lm_alloc_count(), before, "steps after the first allocated %llu times",
                 (unsigned long long) (lm_alloc_count() - before));
    lm_optim_free(o);
    lm_optim_free(o32);
    lm_mlp_ws_free(ws);
    lm_mlp_ws_free(ws32);
    lm_mlp_free(m);
    free(th);
    free(g);
    free(hv);
    free(x);
    free(y);
    free(th32);
    free(g32);
    free(x32);
    free(y32);
    LM_CHECK_LEAKS();
}
