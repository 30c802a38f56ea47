/*
 * test_lazy_rich.c: the lazy-rich analysis (src/exp/exp_lazy_rich.c) on hand-filled stores
 * (tests/exp/exp_fixture.h), and the kernel its alignment claims read.
 *
 *   - Negative control: science.md §3's NTP width law asserted on a muP-like sweep (every
 *     relative change flat in n) fails; the same analysis on an NTP-like sweep (n^-1/2) passes.
 *   - The alignment claims read the last hidden layer's feature kernel (the readout term
 *     ntk_align.<L-1>), not the whole NTK: a store whose whole kernel rises while the last layer's
 *     term stays flat passes NTP and fails muP.
 *   - ntk_align.<L-1> recorded by a real run IS the alignment of Phi Phi^T (Phi the last hidden
 *     layer's activations on the probe), computed directly here, at init and after training.
 *
 * The fixture stores use the quick layout (widths 64 .. 1024, 3 seeds, 200 steps); the
 * analysis takes the widths from the layout, so the runs' own networks are small ([8, 16, 16, 1]
 * on teacher data) and their checkpoints are theta_0 with W_1 scaled by 1 + c: a ReLU network
 * without biases then has feature change exactly c in both hidden layers.
 */
#include "lm_test.h"

#include "exp/internal.h"
#include "exp_fixture.h"
#include "lmech/io.h"
#include "lmech/train.h"

#define FX_W0    64
#define FX_NW    5
#define FX_NS    3
#define FX_STEPS 200

#define CFG_FMT                                                                                    \
    "{\"seed\": %zu, \"data\": {\"source\": \"teacher\", \"dim\": 8, \"outputs\": 1, "             \
    "\"teacher_width\": 16, \"train_size\": 16, \"test_size\": 4}, "                               \
    "\"model\": {\"widths\": [8, 16, 16, 1], \"activation\": \"relu\", \"bias\": false, "          \
    "\"parameterization\": \"%s\", \"base_width\": 1}, \"loss\": \"mse\", "                        \
    "\"optimizer\": {\"name\": \"sgd\", \"lr\": 0.05}, \"steps\": %d, \"eval_every\": %d, "        \
    "\"probe_every\": %d, \"probe_size\": 16, \"threads\": 1}"

/* How a hand-filled sweep behaves: every relative change ~ c (n/64)^p with p = `p` (the hidden
 * Frobenius change ~ n^p_hid), and the alignments at the largest width (A of the last layer's
 * term and of the whole kernel, step 0 -> T). */
typedef struct sweep {
    double p, p_hid;
    double last0, lastT, whole0, wholeT;
} sweep;

static void put(lm_fx *f, int64_t run, const char *name, int64_t step, double v) {
    lm_fx_series(f, run, name, 1, &step, &v);
}

/* One finished run: config, metrics, and a checkpoint with feature change c. */
static void fx_width_run(lm_fx *f, const char *param, size_t i, size_t s, const sweep *w) {
    char cfg[1024], label[96];
    snprintf(cfg, sizeof cfg, CFG_FMT, s, param, FX_STEPS, FX_STEPS, FX_STEPS);
    const double n = (double) (FX_W0 << i);
    snprintf(label, sizeof label, "%s n=%g seed=%zu", param, n, s);
    const int64_t r = lm_fx_run(f, label, cfg);
    const double jit = 1 + 0.03 * (double) s, c = 0.1 * pow(n / 64, w->p) * jit;
    char name[32];
    for (size_t l = 0; l < 3; l++) {
        snprintf(name, sizeof name, "wchange_fro.%zu", l);
        put(f, r, name, FX_STEPS, l == 1 ? 0.05 * pow(n / 64, w->p_hid) * jit : c);
        snprintf(name, sizeof name, "wchange_spec.%zu", l);
        put(f, r, name, FX_STEPS, c);
        snprintf(name, sizeof name, "ntk_share.%zu", l);
        put(f, r, name, 0, 1.0 / 3);
        put(f, r, name, FX_STEPS, 1.0 / 3);
        snprintf(name, sizeof name, "ntk_align.%zu", l);
        put(f, r, name, 0, l == 2 ? w->last0 : w->whole0);
        put(f, r, name, FX_STEPS, l == 2 ? w->lastT + 0.001 * (double) s : w->wholeT);
    }
    put(f, r, "ntk_change", FX_STEPS, c);
    put(f, r, "ntk_align", 0, w->whole0);
    put(f, r, "ntk_align", FX_STEPS, w->wholeT);
    put(f, r, "ntk_align_centered", 0, w->whole0);
    put(f, r, "ntk_align_centered", FX_STEPS, w->wholeT);
    /* the checkpoint: theta_0 with W_1 scaled by 1 + c */
    lm_config *conf;
    lm_mlp *m;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(cfg, strlen(cfg), "fx", 0, NULL, &conf, &err), LM_OK, "%s",
                 err.msg);
    cr_assert_eq(lm_mlp_new(&conf->model, &m, &err), LM_OK, "%s", err.msg);
    double *theta = malloc(m->n_params * sizeof *theta);
    cr_assert_not_null(theta);
    cr_assert_eq(lm_mlp_init(m, conf->seed, theta, &err), LM_OK, "%s", err.msg);
    const lm_layer_info *l1 = &m->layer[0];
    for (size_t k = 0; k < l1->d_in * l1->d_out; k++)
        theta[l1->w_off + k] *= 1 + c;
    char path[400];
    snprintf(path, sizeof path, "%s/run-%lld.safetensors", f->art, (long long) r);
    cr_assert_eq(lm_mlp_save(m, theta, LM_F64, path, &err), LM_OK, "%s", err.msg);
    free(theta);
    lm_mlp_free(m);
    lm_config_free(conf);
}

/* A quick-layout store: the NTP slots filled like `ntp`, the muP slots like `mup` (no alpha
 * runs: those claims are inconclusive and not looked at), analysed. */
static void fx_sweep(lm_fx *f, const char *tag, const sweep *ntp, const sweep *mup) {
    lm_fx_open(f, tag, 1);
    for (size_t a = 0; a < 2; a++)
        for (size_t i = 0; i < FX_NW; i++)
            for (size_t s = 0; s < FX_NS; s++)
                fx_width_run(f, a ? "mup" : "ntp", i, s, a ? mup : ntp);
    lm_err err = {0};
    cr_assert_eq(lm__exp_lazy_rich.analyse(f->ctx, &err), LM_OK, "%s", err.msg);
}

static const sweep MUP_LIKE = {0, -0.5, 0.08, 0.45, 0.25, 0.27};
static const sweep NTP_LIKE = {-0.5, -1.0, 0.08, 0.081, 0.15, 0.151};

Test(lazy_rich, ntp_law_on_a_mup_sweep_fails) {
    lm_fx f;
    fx_sweep(&f, "lazyrich-neg", &MUP_LIKE, &MUP_LIKE);
    const char *obs[] = {"ntp feature change h1 slope", "ntp feature change h2 slope",
                         "ntp spectral change W1 slope", "ntp NTK change slope",
                         "ntp Frobenius change W2 (hidden) slope"};
    for (size_t k = 0; k < sizeof obs / sizeof *obs; k++) {
        const lm_claim *c = lm_fx_claim(&f, obs[k]);
        cr_assert_eq(c->verdict, LM_VERDICT_FAIL, "%s: %g +- %g (%s)", c->name, c->measured,
                     c->uncertainty, c->detail);
        cr_assert(isfinite(c->uncertainty) && c->uncertainty >= 0, "%s", c->name);
    }
    /* the feature change read from the checkpoints is c: flat in n */
    const lm_claim *h1 = lm_fx_claim(&f, "ntp feature change h1 slope");
    cr_assert(fabs(h1->measured) < 1e-6, "%g", h1->measured);
    /* the same data pass muP's laws */
    const char *mup[] = {"mup feature change h1 slope", "mup feature change h2 slope",
                         "mup NTK change slope", "mup Frobenius change W2 (hidden) slope"};
    for (size_t k = 0; k < sizeof mup / sizeof *mup; k++) {
        const lm_claim *c = lm_fx_claim(&f, mup[k]);
        cr_assert_eq(c->verdict, LM_VERDICT_PASS, "%s: %g +- %g (%s)", c->name, c->measured,
                     c->uncertainty, c->detail);
    }
    lm_fx_close(&f);
}

Test(lazy_rich, ntp_law_on_an_ntp_sweep_passes) {
    lm_fx f;
    fx_sweep(&f, "lazyrich-pos", &NTP_LIKE, &MUP_LIKE);
    const lm_claim *h1 = lm_fx_claim(&f, "ntp feature change h1 slope");
    cr_assert_eq(h1->verdict, LM_VERDICT_PASS, "%g +- %g", h1->measured, h1->uncertainty);
    cr_assert(fabs(h1->measured + 0.5) < 1e-6, "%g", h1->measured);
    cr_assert_eq(lm_fx_claim(&f, "ntp NTK change slope")->verdict, LM_VERDICT_FAIL,
                 "the NTK change's law is n^-1, this sweep's n^-1/2");
    cr_assert_eq(lm_fx_claim(&f, "ntp Frobenius change W2 (hidden) slope")->verdict,
                 LM_VERDICT_PASS);
    /* the width laws are linked to the 15 runs of their parameterisation */
    cr_assert_eq(h1->n_runs, FX_NW * FX_NS);
    lm_fx_close(&f);
}

Test(lazy_rich, alignment_claims_read_the_last_hidden_layer) {
    /* NTP: the last layer's term flat (+0.001..0.003), the whole kernel rising by 0.3 (would
     * fail); muP: the last layer's term rising by +0.02 only, the whole kernel by +0.35 (would
     * pass). */
    const sweep ntp = {-0.5, -1.0, 0.08, 0.081, 0.15, 0.45};
    const sweep mup = {0, -0.5, 0.08, 0.10, 0.25, 0.60};
    lm_fx f;
    fx_sweep(&f, "lazyrich-align", &ntp, &mup);
    const lm_claim *cn = lm_fx_claim(&f, "ntp alignment change (last hidden layer) at n=1024");
    cr_assert_eq(cn->verdict, LM_VERDICT_PASS, "%g +- %g: %s", cn->measured, cn->uncertainty,
                 cn->detail);
    cr_assert(fabs(cn->measured - 0.002) < 1e-9, "%g", cn->measured);
    cr_assert(cn->uncertainty > 0, "2 SE over the seeds' spread");
    const lm_claim *cm = lm_fx_claim(&f, "mup alignment change (last hidden layer) at n=1024");
    cr_assert_eq(cm->verdict, LM_VERDICT_FAIL, "%g +- %g: %s", cm->measured, cm->uncertainty,
                 cm->detail);
    cr_assert(fabs(cm->measured - 0.021) < 1e-9, "%g", cm->measured);
    cr_assert_eq(cm->n_runs, FX_NS, "judged on the largest width's seeds");
    /* the whole kernel is a reported figure with its own number */
    const lm_claim *w = lm_fx_claim(&f, "mup whole NTK alignment change (rate-weighted)");
    cr_assert_eq(w->verdict, LM_VERDICT_REPORTED);
    cr_assert(fabs(w->measured - 0.35) < 1e-9, "%g", w->measured);
    const lm_claim *wp = lm_fx_claim(&f, "ntp whole NTK alignment change (plain J J^T)");
    cr_assert_eq(wp->verdict, LM_VERDICT_REPORTED);
    cr_assert(isfinite(wp->measured), "computed from the checkpoints");
    lm_fx_close(&f);
}

/* ---------------------------------------------------------------- the kernel behind the claim */

#define MAX_REC 64
typedef struct rec {
    size_t n;
    int64_t step[MAX_REC];
    double value[MAX_REC];
} rec;

static int collect_last(void *ud, int64_t step, const char *name, double value) {
    rec *r = ud;
    if (strcmp(name, "ntk_align.2") == 0 && r->n < MAX_REC) {
        r->step[r->n] = step;
        r->value[r->n++] = value;
    }
    return 0;
}

/* The alignment y^T K y / (||K||_F ||y||^2) of K = Phi Phi^T, Phi the last hidden layer's ReLU
 * activations of the first n rows of x: computed directly. */
static double phi_align(const lm_mlp *m, const double *theta, const double *x, const double *y,
                        size_t n) {
    const double *a = x;
    double *buf[2] = {NULL, NULL};
    size_t d = m->d_in;
    for (size_t l = 0; l + 1 < m->n_layers; l++) {
        const lm_layer_info *li = &m->layer[l];
        buf[l % 2] = realloc(buf[l % 2], n * li->d_out * sizeof(double));
        double *z = buf[l % 2];
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < li->d_out; j++) {
                double s = 0;
                for (size_t k = 0; k < li->d_in; k++)
                    s += theta[li->w_off + j * li->d_in + k] * a[i * li->d_in + k];
                s *= li->w_mul;
                z[i * li->d_out + j] = s > 0 ? s : 0;
            }
        a = z;
        d = li->d_out;
    }
    double q = 0, yy = 0, kf = 0;
    for (size_t i = 0; i < n; i++) {
        yy += y[i] * y[i];
        for (size_t j = 0; j < n; j++) {
            double k = 0;
            for (size_t c = 0; c < d; c++)
                k += a[i * d + c] * a[j * d + c];
            q += y[i] * k * y[j];
            kf += k * k;
        }
    }
    free(buf[0]);
    free(buf[1]);
    return q / (sqrt(kf) * yy);
}

Test(lazy_rich, ntk_align_of_the_readout_term_is_the_feature_kernel) {
    /* a muP run: per-layer rates eta n, eta, eta / n, so the whole kernel is not Phi Phi^T, but
     * its readout term is (lr_W w_scale^2 Phi Phi^T) */
    char cfg[1024], db[256];
    snprintf(cfg, sizeof cfg, CFG_FMT, (size_t) 3, "mup", 40, 40, 40);
    lm_tmp_path(db, sizeof db, "lazyrich-phi.db");
    lm_err err = {0};
    lm_store *s;
    lm_config *c;
    lm_mlp *m;
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    const char *sets[] = {"model.widths=[8, 24, 20, 1]", "optimizer.lr=0.02"};
    cr_assert_eq(lm_config_parse(cfg, strlen(cfg), "t", 2, sets, &c, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_new(&c->model, &m, &err), LM_OK, "%s", err.msg);
    double *th0 = malloc(m->n_params * sizeof *th0), *thT = malloc(m->n_params * sizeof *thT);
    cr_assert(th0 && thT);
    cr_assert_eq(lm_mlp_init(m, c->seed, th0, &err), LM_OK);
    lm_train_opts o = {0};
    o.store = s;
    o.theta_final = thT;
    lm_train_result res;
    cr_assert_eq(lm_train_run(c, &o, &res, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(res.status, LM_RUN_FINISHED, "%s", res.message);
    rec r = {0};
    cr_assert_eq(lm_store_get_metrics(s, res.run_id, collect_last, &r, &err), LM_OK);
    lm_dataset *train;
    cr_assert_eq(lm_data_load(&c->data, c->seed, &train, NULL, &err), LM_OK, "%s", err.msg);
    const double a0 = phi_align(m, th0, train->x, train->y, 16);
    const double aT = phi_align(m, thT, train->x, train->y, 16);
    cr_assert(fabs(aT - a0) > 1e-4, "the run moved its features (%g -> %g)", a0, aT);
    int seen0 = 0, seenT = 0;
    for (size_t k = 0; k < r.n; k++) {
        if (r.step[k] == 0) {
            cr_assert(lm_close(r.value[k], a0, 1e-9, 1e-12), "step 0: %.15g vs %.15g", r.value[k],
                      a0);
            seen0 = 1;
        }
        if (r.step[k] == 40) {
            cr_assert(lm_close(r.value[k], aT, 1e-9, 1e-12), "step T: %.15g vs %.15g", r.value[k],
                      aT);
            seenT = 1;
        }
    }
    cr_assert(seen0 && seenT, "ntk_align.2 recorded at 0 and T (%zu records)", r.n);
    lm_dataset_free(train);
    free(th0);
    free(thT);
    lm_mlp_free(m);
    lm_config_free(c);
    lm_store_close(s);
    unlink(db);
}
