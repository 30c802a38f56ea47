/*
 * test_eos_gpt.c: eos-gpt (src/exp/exp_eos_gpt.c). Its plan builds transformer configs
 * (model.arch "gpt" predicting every next byte of a text file, float64 GD with sharpness, labels
 * the shared analysis groups by); its analysis is eos_analysis.c's, checked here on hand-filled
 * stores: a transformer whose sharpness sharpens to 2/eta and stays there passes every claim; the
 * negative control, one whose sharpness stays flat below the edge (no progressive sharpening),
 * fails "reaches 2/eta" and cannot pass the rest.
 */
#include "lm_test.h"

#include "exp_fixture.h"

#define NS 301 /* steps 0, 20, ..., 6000 */

/* An edge seed at thr: from smin (a fraction of thr) at step 0 a linear rise to thr at step 1500,
 * then S within 3 % of thr; the loss falls as exp(-t/1500), every third interval rising by 5 %.
 * flat: S stays at smin throughout (the negative control). */
static void series(lm_fx *f, int64_t run, double thr, double smin, int seed, int flat) {
    int64_t st[NS];
    double s[NS], l[NS];
    for (int k = 0; k < NS; k++) {
        const double t = 20.0 * k;
        st[k] = 20 * k;
        if (flat)
            s[k] = smin * (1.0 + 0.01 * sin(0.3 * k + seed));
        else if (t < 1500)
            s[k] = smin + (thr - smin) * t / 1500.0;
        else
            s[k] = thr * (1.0 + 0.03 * sin(0.7 * k + seed));
        l[k] = 0.3 * exp(-t / 1500.0) * (k % 3 == 0 ? 1.05 : 1.0);
    }
    lm_fx_series(f, run, "sharpness", NS, st, s);
    lm_fx_series(f, run, "train_loss", NS, st, l);
}

static const double smins[4] = {0.62, 0.66, 0.64, 0.60}; /* S_min / thr */

static void fill(lm_fx *f, int flat) {
    lm_exp_plan p = {0};
    lm_err err = {0};
    cr_assert_eq(lm__exp_eos_gpt.plan(1, &p, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < p.n; i++) {
        const int64_t r = lm_fx_run(f, p.label[i], p.config[i]);
        const double eta = atof(strstr(p.label[i], "eta=") + 4), thr = 2.0 / eta;
        const int ctl = strncmp(p.label[i], "control", 7) == 0;
        series(f, r, thr, smins[i % 4] * thr, (int) i, flat || ctl);
    }
    lm_exp_plan_clear(&p);
}

Test(eos_gpt, plans_transformers_on_text) {
    lm_err err = {0};
    for (int quick = 0; quick <= 1; quick++) {
        lm_exp_plan p = {0};
        cr_assert_eq(lm__exp_eos_gpt.plan(quick, &p, &err), LM_OK, "%s", err.msg);
        cr_assert(p.n >= 8, "at least 4 seeds at an edge rate and a control");
        size_t n_ctl = 0;
        for (size_t i = 0; i < p.n; i++) {
            cr_assert(strstr(p.label[i], "eta="), "%s", p.label[i]);
            n_ctl += strncmp(p.label[i], "control", 7) == 0;
            lm_config *c;
            cr_assert_eq(
                lm_config_parse(p.config[i], strlen(p.config[i]), "plan", 0, NULL, &c, &err), LM_OK,
                "%s", err.msg);
            cr_assert(strstr(c->json, "\"sharpness_every\""), "%s", c->json);
            cr_assert_eq(c->data.source, LM_DATA_TEXT);
            cr_assert_eq(c->optim.kind, LM_OPT_SGD, "full-batch GD");
            cr_assert_eq(c->train.batch_size, 0u, "full batch");
            lm_mlp *m;
            cr_assert_eq(lm_mlp_new(&c->model, &m, &err), LM_OK, "%s", err.msg);
            cr_assert_eq(m->spec.arch, LM_ARCH_GPT, "a transformer");
            cr_assert_eq(m->d_in, c->data.context, "one window of token ids");
            cr_assert_eq(m->positions, c->data.context, "every position predicted");
            cr_assert_eq(m->d_out, 256u * c->data.context, "byte logits at every position");
            lm_mlp_free(m);
            lm_config_free(c);
        }
        cr_assert_eq(n_ctl, quick ? 4u : 6u, "a control rate with 4 (quick) or 6 seeds");
        lm_exp_plan_clear(&p);
    }
}

Test(eos_gpt, sharpening_to_the_edge_passes) {
    lm_fx f;
    lm_fx_open(&f, "eos-gpt", 1);
    fill(&f, 0);
    lm_err err = {0};
    cr_assert_eq(lm__exp_eos_gpt.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(f.ctx->n_claims, 7);
    for (size_t i = 0; i < f.ctx->n_claims; i++)
        cr_assert_eq(f.ctx->claims[i].verdict, LM_VERDICT_PASS, "%s: %s (%g +- %g)",
                     f.ctx->claims[i].name, f.ctx->claims[i].detail, f.ctx->claims[i].measured,
                     f.ctx->claims[i].uncertainty);
    lm_fx_close(&f);
}

Test(eos_gpt, a_cnn_that_does_not_sharpen_fails) {
    lm_fx f;
    lm_fx_open(&f, "eos-gpt-flat", 1);
    fill(&f, 1);
    lm_err err = {0};
    cr_assert_eq(lm__exp_eos_gpt.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    const lm_claim *c = lm_fx_claim(&f, "reaches 2/eta");
    cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%g +- %g: %s", c->measured, c->uncertainty,
                 c->detail);
    for (size_t i = 0; i < f.ctx->n_claims; i++)
        if (!strstr(f.ctx->claims[i].name, "control"))
            cr_assert_neq(f.ctx->claims[i].verdict, LM_VERDICT_PASS, "%s: %s",
                          f.ctx->claims[i].name, f.ctx->claims[i].detail);
    lm_fx_close(&f);
}
