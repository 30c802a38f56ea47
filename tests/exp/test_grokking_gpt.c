/* test_grokking_gpt.c: grokking-gpt (src/exp/exp_grokking_gpt.c). Its plan builds transformer
 * configs (model.arch "gpt" predicting at the last position on modadd tokens, AdamW with weight
 * decay 1 and the control 0); its analysis is grok_analysis.c's, checked here on hand-filled
 * stores with the plan's own configs: a textbook store (train 100 % at step 300, test 95 % near
 * step 2000, the norm halving and the embeddings' Fourier sparsity tripling in between, the
 * control stuck at 10 %) passes all four claims; the negative control, a transformer that
 * generalises right after memorising (no delay), with a flat norm and flat sparsity and a control
 * as fast, fails all four. */
#include "exp_fixture.h"

#define NR 61 /* records at steps 0, 50, ..., 3000 */

/* One run: train reaches 1 at t_tr, test reaches test_max at t_te (linear ramps, jitter j),
 * the norm goes from 1 to norm_end between them, the sparsity from 0.3 to sp_end. */
static void add_run(lm_fx *f, const char *label, const char *cfg, double t_tr, double t_te,
                    double test_max, double norm_end, double sp_end, double j) {
    const int64_t r = lm_fx_run(f, label, cfg);
    int64_t st[NR];
    double tr[NR], te[NR], nm[NR], sp[NR];
    for (size_t i = 0; i < NR; i++) {
        const double t = 50.0 * (double) i;
        st[i] = (int64_t) t;
        tr[i] = fmin(1.0, t / (t_tr + j));
        const double x = fmin(1.0, fmax(0.0, (t - t_tr) / (t_te + j - t_tr)));
        te[i] = 0.03 + (test_max - 0.03) * x;
        nm[i] = 40.0 * (1.0 + (norm_end - 1.0) * x);
        sp[i] = 0.3 + (sp_end - 0.3) * x;
    }
    lm_fx_series(f, r, "train_acc", NR, st, tr);
    lm_fx_series(f, r, "test_acc", NR, st, te);
    lm_fx_series(f, r, "param_norm", NR, st, nm);
    lm_fx_series(f, r, "fourier_sparsity", NR, st, sp);
    lm_fx_series(f, r, "fourier_sparsity_unit", NR, st, sp);
}

/* Fills a store from the full plan: wd = 1 runs get (t_tr, t_te, 1.0, norm1, sp1), the controls
 * (t_tr, t_te0, test0, norm0, 0.3). */
static void fill(lm_fx *f, double t_te, double norm1, double sp1, double t_te0, double test0) {
    lm_exp_plan p = {0};
    lm_err err = {0};
    cr_assert_eq(lm__exp_grokking_gpt.plan(0, &p, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < p.n; i++) {
        const int ctl = strncmp(p.label[i], "wd=0", 4) == 0;
        const double j = 20.0 * (double) (i % 3);
        if (ctl)
            add_run(f, p.label[i], p.config[i], 300, t_te0, test0, 1.0, 0.3, j);
        else
            add_run(f, p.label[i], p.config[i], 300, t_te, 1.0, norm1, sp1, j);
    }
    lm_exp_plan_clear(&p);
}

Test(grokking_gpt, plans_transformers_on_modadd_tokens) {
    lm_err err = {0};
    for (int quick = 0; quick <= 1; quick++) {
        lm_exp_plan p = {0};
        cr_assert_eq(lm__exp_grokking_gpt.plan(quick, &p, &err), LM_OK, "%s", err.msg);
        cr_assert(p.n >= 4, "at least 2 seeds per arm");
        size_t n_ctl = 0;
        for (size_t i = 0; i < p.n; i++) {
            lm_config *c;
            cr_assert_eq(
                lm_config_parse(p.config[i], strlen(p.config[i]), "plan", 0, NULL, &c, &err), LM_OK,
                "%s", err.msg);
            n_ctl += c->optim.weight_decay == 0;
            cr_assert_eq(c->data.source, LM_DATA_MODADD);
            cr_assert_eq(c->data.encoding, LM_ENCODING_TOKENS);
            lm_mlp *m;
            cr_assert_eq(lm_mlp_new(&c->model, &m, &err), LM_OK, "%s", err.msg);
            cr_assert_eq(m->spec.layers[0].type, LM_LAYER_EMBEDDING, "a token embedding first");
            cr_assert_str_eq(m->tensor[0].name, "tok_emb.weight");
            cr_assert_eq(m->tensor[0].shape[0], c->data.modulus + 1, "vocab p + 1");
            cr_assert_eq(m->d_in, 3u, "three tokens a, b, =");
            cr_assert_eq(m->d_out, c->data.modulus + 1, "logits over the vocabulary");
            cr_assert_eq(m->positions, 1u, "predicted at the last position");
            lm_mlp_free(m);
            lm_config_free(c);
        }
        cr_assert_eq(2 * n_ctl, p.n, "as many controls (wd 0) as wd 1 runs");
        lm_exp_plan_clear(&p);
    }
}

Test(grokking_gpt, textbook_grokking_passes) {
    lm_fx f;
    lm_fx_open(&f, "grok-gpt-yes", 0);
    fill(&f, 2000, 0.5, 0.9, 3000, 0.1);
    lm_err err = {0};
    cr_assert_eq(lm__exp_grokking_gpt.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(f.ctx->n_claims, 5);
    for (size_t i = 0; i < f.ctx->n_claims; i++)
        if (!strstr(f.ctx->claims[i].name, "per-unit"))
            cr_assert_eq(f.ctx->claims[i].verdict, LM_VERDICT_PASS, "%s: %g +- %g (%s)",
                         f.ctx->claims[i].name, f.ctx->claims[i].measured,
                         f.ctx->claims[i].uncertainty, f.ctx->claims[i].detail);
    cr_assert_eq(lm_fx_claim(&f, "per-unit")->verdict, LM_VERDICT_REPORTED);
    lm_fx_close(&f);
}

Test(grokking_gpt, no_delay_flat_norm_and_fast_control_fail) {
    lm_fx f;
    lm_fx_open(&f, "grok-gpt-no", 0);
    /* test 95 % right after train 99 %; the control reaches it as fast */
    fill(&f, 700, 1.0, 0.31, 700, 1.0);
    lm_err err = {0};
    cr_assert_eq(lm__exp_grokking_gpt.analyse(f.ctx, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(f.ctx->n_claims, 5);
    for (size_t i = 0; i < f.ctx->n_claims; i++)
        if (!strstr(f.ctx->claims[i].name, "per-unit"))
            cr_assert_eq(f.ctx->claims[i].verdict, LM_VERDICT_FAIL, "%s: %g +- %g (%s)",
                         f.ctx->claims[i].name, f.ctx->claims[i].measured,
                         f.ctx->claims[i].uncertainty, f.ctx->claims[i].detail);
    lm_fx_close(&f);
}
