/*
 * The PyTorch transformer fixtures (tests/fixtures/make_graph_fixture.py, lmech_torch.py's GPT
 * and sequence modules) against lmech in float64, to 1e-10 relative (issue 16's bar):
 *   gpt2     model.arch "gpt": vocab 11, context 5, d_model 8, 2 heads, 2 blocks, mlp_ratio 4,
 *            predicting at every position (55 outputs per example, losses over n*5 rows)
 *   gptlast  model.arch "gpt": vocab 7, context 4, d_model 8, 2 heads, 1 block, mlp_ratio 2,
 *            predicting at the last position, mup with base_width 4 (attention multiplier
 *            sqrt(2)/4, not SP's 1/2), output_multiplier 0.5 and embed_multiplier 2
 *   gptntp   model.arch "gpt": vocab 6, context 3, d_model 6, 3 heads, 1 block, mlp_ratio 3,
 *            every position, ntp with sw2 2 and sb2 0.5 (forward multipliers sqrt(2/fan_in)
 *            on every weight, sqrt(2) on the embeddings, sqrt(0.5) on every bias)
 *   gptseq   the generic types in model.layers: embedding, residual[layernorm, linear,
 *            attention (3 heads, scale 0.4), linear], residual[linear (no bias), tanh, linear],
 *            layernorm (eps 1e-3), last, linear
 * Each model is built twice, from lm_mlp_spec written here and from the fixture's JSON through
 * lm_config_parse, and its parameters are PyTorch's state_dict read by lm_mlp_load. Checked:
 * outputs, the mse, mse_mean and ce losses and gradients, the HVP of mse and of ce, the JVP.
 * The other way: a checkpoint lmech writes loads into lmech_torch's module with
 * load_state_dict(strict=True) and gives lmech's outputs (check_torch_load.py; skipped when
 * /usr/bin/python3 has no torch); a checkpoint with a misnamed or misshapen tensor is refused
 * by lm_mlp_load naming the tensor.
 */
#include "lm_test.h"
#include "lmech/config.h"
#include "lmech/data.h"
#include "lmech/io.h"
#include "lmech/model.h"

#include <string.h>
#include <sys/wait.h>

#define FIX LM_SOURCE_DIR "/tests/fixtures/"
#define TOL 1e-10

static lm_layer_spec layer(lm_layer_type t) {
    lm_layer_spec l = {.type = t, .bias = -1, .eps = 1e-5};
    return l;
}
static lm_layer_spec linear(size_t out, int bias) {
    lm_layer_spec l = layer(LM_LAYER_LINEAR);
    l.out = out;
    l.bias = bias;
    return l;
}

static lm_mlp_spec gpt(size_t vocab, size_t context, size_t d, size_t heads, size_t blocks,
                       size_t ratio, int every) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.arch = LM_ARCH_GPT;
    s.gpt.vocab = vocab;
    s.gpt.context = context;
    s.gpt.d_model = d;
    s.gpt.heads = heads;
    s.gpt.blocks = blocks;
    s.gpt.mlp_ratio = ratio;
    s.gpt.every = every;
    return s;
}

/* The models of make_graph_fixture.py, spelled as lm_mlp_spec. */
static lm_mlp_spec spec_of(const char *name) {
    if (strcmp(name, "gpt2") == 0)
        return gpt(11, 5, 8, 2, 2, 4, 1);
    if (strcmp(name, "gptlast") == 0) {
        lm_mlp_spec s = gpt(7, 4, 8, 2, 1, 2, 0);
        s.param = LM_PARAM_MUP;
        s.base_width = 4;
        s.output_multiplier = 0.5;
        s.embed_multiplier = 2.0;
        return s;
    }
    if (strcmp(name, "gptntp") == 0) {
        lm_mlp_spec s = gpt(6, 3, 6, 3, 1, 3, 1);
        s.param = LM_PARAM_NTP;
        s.sw2 = 2.0;
        s.sb2 = 0.5;
        return s;
    }
    cr_assert_str_eq(name, "gptseq");
    lm_mlp_spec s = lm_mlp_spec_default();
    lm_layer_spec ls[] = {layer(LM_LAYER_EMBEDDING),
                          layer(LM_LAYER_RESIDUAL),
                          layer(LM_LAYER_LAYERNORM),
                          linear(18, -1),
                          layer(LM_LAYER_ATTENTION),
                          linear(6, -1),
                          layer(LM_LAYER_RESIDUAL),
                          linear(12, 0),
                          layer(LM_LAYER_ACT),
                          linear(6, -1),
                          layer(LM_LAYER_LAYERNORM),
                          layer(LM_LAYER_LAST),
                          linear(5, -1)};
    ls[0].vocab = 7, ls[0].out = 6;
    ls[1].body_len = 4;
    ls[4].heads = 3, ls[4].scale = 0.4;
    ls[6].body_len = 3;
    ls[8].act = LM_ACT_TANH;
    ls[10].eps = 1e-3;
    memcpy(s.layers, ls, sizeof ls);
    s.n_layer_specs = sizeof ls / sizeof *ls;
    s.n_input_shape = 1;
    s.input_shape[0] = 4;
    return s;
}

/* The same model from the fixture's JSON (the config's "model" object), the fixture's own
 * files as npy data. */
static lm_mlp_spec spec_from_json(const char *name) {
    char path[512], head[1024];
    snprintf(path, sizeof path, FIX "graph_%s.json", name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char model[4096];
    const size_t len = fread(model, 1, sizeof model - 1, f);
    fclose(f);
    cr_assert(len > 0 && len < sizeof model - 1, "%s: %zu bytes", path, len);
    model[len] = 0;
    snprintf(head, sizeof head,
             "{\"data\": {\"source\": \"npy\", \"x\": \"" FIX "graph_%s_x.npy\", \"y\": \"" FIX
             "graph_%s_y.npy\"}, \"model\": ",
             name, name);
    const size_t n = strlen(head) + len + 2;
    char *text = malloc(n + 1);
    snprintf(text, n + 1, "%s%s}", head, model);
    lm_config *c = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(text, strlen(text), path, 0, NULL, &c, &err), LM_OK, "%s",
                 err.msg);
    lm_mlp_spec s = c->model;
    lm_config_free(c);
    free(text);
    return s;
}

static double *load_npy(const char *path, size_t *rows, size_t *cols) {
    lm_array *a;
    lm_err err = {0};
    cr_assert_eq(lm_npy_read(path, &a, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(a->elt, LM_ELT_F64);
    cr_assert_eq(a->ndim, 2);
    *rows = a->shape[0];
    *cols = a->shape[1];
    double *d = malloc(a->count * sizeof(double));
    memcpy(d, a->data, a->count * sizeof(double));
    lm_array_free(a);
    return d;
}

/* Gathers the tensors "<prefix><tensor name>" of st into a theta-layout vector, checking each
 * has the model's PyTorch shape. */
static void gather(const lm_mlp *m, const lm_safetensors *st, const char *prefix, double *out) {
    char name[160];
    for (size_t t = 0; t < m->n_tensors; t++) {
        const lm_tensor_info *ti = &m->tensor[t];
        snprintf(name, sizeof name, "%s%s", prefix, ti->name);
        const lm_array *a = lm_safetensors_get(st, name);
        cr_assert_not_null(a, "missing %s", name);
        cr_assert_eq(a->elt, LM_ELT_F64);
        cr_assert_eq(a->ndim, ti->ndim, "%s: ndim %zu vs %zu", name, a->ndim, ti->ndim);
        for (size_t d = 0; d < ti->ndim; d++)
            cr_assert_eq(a->shape[d], ti->shape[d], "%s: dim %zu", name, d);
        memcpy(out + ti->off, a->data, ti->numel * sizeof(double));
    }
}

static double rel_err(const double *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / den);
}

/* Loads fixture graph_<name> into the model of s and checks every quantity against torch;
 * returns the worst relative error seen. */
static double check_fixture(const char *name, const lm_mlp_spec *s, const char *how) {
    char path[512];
    lm_err err = {0};
    lm_mlp *m = NULL;
    cr_assert_eq(lm_mlp_new(s, &m, &err), LM_OK, "%s (%s): %s", name, how, err.msg);
    const size_t p = m->n_params;
    double *theta = malloc(p * 8), *g = malloc(p * 8), *ref = malloc(p * 8), *v = malloc(p * 8);
    snprintf(path, sizeof path, FIX "graph_%s.safetensors", name);
    cr_assert_eq(lm_mlp_load(m, path, theta, &err), LM_OK, "%s", err.msg);
    size_t n, d, n2, k;
    snprintf(path, sizeof path, FIX "graph_%s_x.npy", name);
    double *x = load_npy(path, &n, &d);
    snprintf(path, sizeof path, FIX "graph_%s_y.npy", name);
    double *y = load_npy(path, &n2, &k);
    cr_assert_eq(n, n2);
    cr_assert_eq(d, m->d_in);
    cr_assert_eq(k, m->d_out);
    lm_safetensors *ex;
    snprintf(path, sizeof path, FIX "graph_%s_expected.safetensors", name);
    cr_assert_eq(lm_safetensors_read(path, &ex, &err), LM_OK, "%s", err.msg);
    lm_mlp_ws *ws;
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F64, &ws, &err), LM_OK, "%s", err.msg);
    double *f = malloc(n * k * 8), worst = 0;
    static const char *losses[] = {"mse", "mse_mean", "ce"};
    const lm_array *tf = lm_safetensors_get(ex, "f");
    cr_assert_not_null(tf);
    cr_assert_eq(tf->count, n * k);
    for (int l = 0; l < 3; l++) {
        double loss;
        cr_assert_eq(lm_mlp_loss_grad(m, ws, (lm_loss) l, theta, x, y, n, &loss, g, f, &err), LM_OK,
                     "%s", err.msg);
        char key[64];
        snprintf(key, sizeof key, "%s.loss", losses[l]);
        const lm_array *lt = lm_safetensors_get(ex, key);
        cr_assert_not_null(lt);
        const double tl = ((const double *) lt->data)[0], el = fabs(loss - tl) / fabs(tl);
        cr_assert(el < TOL, "%s (%s) %s: loss %.17g vs torch %.17g", name, how, losses[l], loss,
                  tl);
        const double ef = rel_err(f, tf->data, n * k);
        cr_assert(ef < TOL, "%s (%s): outputs rel err %.3g", name, how, ef);
        snprintf(key, sizeof key, "%s.", losses[l]);
        gather(m, ex, key, ref);
        const double eg = rel_err(g, ref, p);
        cr_assert(eg < TOL, "%s (%s) %s: gradient rel err %.3g", name, how, losses[l], eg);
        cr_log_info("%s (%s) %s: loss rel err %.2g, gradient %.2g, outputs %.2g", name, how,
                    losses[l], el, eg, ef);
        worst = fmax(worst, fmax(el, fmax(ef, eg)));
    }
    gather(m, ex, "v.", v);
    static const lm_loss hl[] = {LM_LOSS_MSE, LM_LOSS_CE};
    for (int l = 0; l < 2; l++) {
        cr_assert_eq(lm_mlp_hvp_prepare(m, ws, hl[l], theta, x, y, n, NULL, NULL, &err), LM_OK,
                     "%s", err.msg);
        cr_assert_eq(lm_mlp_hvp_apply(m, ws, v, g, &err), LM_OK, "%s", err.msg);
        gather(m, ex, l ? "ce.hvp." : "mse.hvp.", ref);
        const double eh = rel_err(g, ref, p);
        cr_assert(eh < TOL, "%s (%s): %s HVP rel err %.3g", name, how, l ? "ce" : "mse", eh);
        cr_log_info("%s (%s): %s HVP rel err %.2g", name, how, l ? "ce" : "mse", eh);
        worst = fmax(worst, eh);
    }
    cr_assert_eq(lm_mlp_jvp(m, ws, theta, x, n, v, f, &err), LM_OK, "%s", err.msg);
    const lm_array *tj = lm_safetensors_get(ex, "jvp");
    cr_assert_not_null(tj);
    const double ej = rel_err(f, tj->data, n * k);
    cr_assert(ej < TOL, "%s (%s): JVP rel err %.3g", name, how, ej);
    cr_log_info("%s (%s): JVP rel err %.2g", name, how, ej);
    worst = fmax(worst, ej);
    lm_safetensors_free(ex);
    lm_mlp_ws_free(ws);
    lm_mlp_free(m);
    free(theta);
    free(g);
    free(ref);
    free(v);
    free(x);
    free(y);
    free(f);
    return worst;
}

static void check_both(const char *name) {
    lm_mlp_spec s = spec_of(name);
    const double a = check_fixture(name, &s, "lm_mlp_spec");
    s = spec_from_json(name);
    const double b = check_fixture(name, &s, "config JSON");
    cr_log_info("%s: worst relative error vs torch %.2g", name, fmax(a, b));
}

Test(torch_gpt, gpt2_two_blocks_every_position) {
    check_both("gpt2");
    LM_CHECK_LEAKS();
}

Test(torch_gpt, gptlast_mup_scale_output_multiplier_last_position) {
    check_both("gptlast");
    LM_CHECK_LEAKS();
}

Test(torch_gpt, gptntp_ntp_multipliers) {
    check_both("gptntp");
    LM_CHECK_LEAKS();
}

Test(torch_gpt, gptseq_generic_sequence_layers) {
    check_both("gptseq");
    LM_CHECK_LEAKS();
}

/* The GPT's tensor list is the reference module's state_dict: names and shapes in order. */
Test(torch_gpt, names_and_shapes) {
    lm_mlp_spec s = spec_of("gpt2");
    lm_mlp *m = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s", err.msg);
    lm_safetensors *st;
    cr_assert_eq(lm_safetensors_read(FIX "graph_gpt2.safetensors", &st, &err), LM_OK, "%s",
                 err.msg);
    cr_assert_eq(m->n_tensors, st->n);
    cr_assert_eq(m->n_tensors, 29);
    cr_assert_str_eq(m->tensor[0].name, "tok_emb.weight");
    cr_assert_str_eq(m->tensor[4].name, "blocks.0.attn.qkv.weight");
    cr_assert_eq(m->tensor[4].shape[0], 24);
    cr_assert_eq(m->tensor[4].shape[1], 8);
    cr_assert_str_eq(m->tensor[28].name, "head.weight");
    cr_assert_eq(m->positions, 5);
    cr_assert_eq(m->d_out, 55);
    for (size_t t = 0; t < m->n_tensors; t++) {
        const lm_array *a = lm_safetensors_get(st, m->tensor[t].name);
        cr_assert_not_null(a, "torch's state_dict lacks %s", m->tensor[t].name);
        cr_assert_eq(a->ndim, m->tensor[t].ndim, "%s", m->tensor[t].name);
        for (size_t d = 0; d < a->ndim; d++)
            cr_assert_eq(a->shape[d], m->tensor[t].shape[d], "%s dim %zu", m->tensor[t].name, d);
    }
    lm_safetensors_free(st);
    lm_mlp_free(m);
    LM_CHECK_LEAKS();
}

/* Writes the fixture's checkpoint with tensor `victim` renamed to new_name (when not NULL) or
 * transposed (a [r, c] tensor stored as [c, r]), and checks lm_mlp_load refuses it with code
 * and a message naming the tensor (and, for a rename, the stray name). */
static void refuses(const char *victim, const char *new_name, lm_status code) {
    lm_err err = {0};
    lm_safetensors *st;
    cr_assert_eq(lm_safetensors_read(FIX "graph_gpt2.safetensors", &st, &err), LM_OK, "%s",
                 err.msg);
    const char *names[64];
    const lm_array *arrs[64];
    lm_array moved;
    int found = 0;
    cr_assert(st->n <= 64);
    for (size_t i = 0; i < st->n; i++) {
        names[i] = st->names[i];
        arrs[i] = st->tensors[i];
        if (strcmp(st->names[i], victim) == 0) {
            found = 1;
            if (new_name)
                names[i] = new_name;
            else {
                moved = *st->tensors[i];
                cr_assert_eq(moved.ndim, 2);
                moved.shape[0] = st->tensors[i]->shape[1];
                moved.shape[1] = st->tensors[i]->shape[0];
                arrs[i] = &moved;
            }
        }
    }
    cr_assert(found, "%s is not in the fixture", victim);
    char path[256];
    lm_tmp_path(path, sizeof path, "gpt_bad.safetensors");
    cr_assert_eq(lm_safetensors_write(path, st->n, names, arrs, 0, NULL, NULL, &err), LM_OK, "%s",
                 err.msg);
    lm_safetensors_free(st);
    lm_mlp_spec s = spec_of("gpt2");
    lm_mlp *m = NULL;
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s", err.msg);
    double *theta = malloc(m->n_params * 8);
    theta[0] = 42.0;
    const lm_status st2 = lm_mlp_load(m, path, theta, &err);
    unlink(path);
    cr_assert_eq(st2, code, "%s: status %d: %s", victim, st2, err.msg);
    cr_assert(strstr(err.msg, victim), "the message does not name %s: %s", victim, err.msg);
    cr_assert_eq(theta[0], 42.0, "theta changed on a refused load");
    free(theta);
    lm_mlp_free(m);
}

Test(torch_gpt, misnamed_or_misshapen_checkpoint_refused) {
    refuses("blocks.1.attn.qkv.weight", "blocks.1.attn.c_attn.weight", LM_ENOTFOUND);
    refuses("head.weight", "lm_head.weight", LM_ENOTFOUND);
    refuses("blocks.0.mlp.fc.weight", NULL, LM_ESHAPE);
    refuses("pos_emb.weight", NULL, LM_ESHAPE);
    LM_CHECK_LEAKS();
}

/* lmech -> PyTorch: lmech draws theta (gains and biases moved off 1 and 0), saves it, and
 * check_torch_load.py loads it into lmech_torch's module (strict) and compares its outputs on
 * token ids x with lmech's (1e-12 relative). Skipped when python3 has no torch (exit 77).
 * perturb > 0 moves one of lmech's outputs by that relative amount, and against = another
 * fixture's JSON loads the checkpoint into that model: either way the script must refuse. */
static void check_torch_round_trip(const char *name, lm_dtype dt, double perturb,
                                   const char *against) {
    lm_err err = {0};
    lm_mlp_spec s = spec_of(name);
    lm_mlp *m = NULL;
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s: %s", name, err.msg);
    const size_t p = m->n_params, n = 3, d = m->d_in, k = m->d_out;
    const size_t vocab = s.arch == LM_ARCH_GPT ? s.gpt.vocab : s.layers[0].vocab;
    double *theta = malloc(p * 8), *x = malloc(n * d * 8), *f = malloc(n * k * 8);
    cr_assert_eq(lm_mlp_init(m, 23, theta, &err), LM_OK);
    lm_rng r;
    lm_rng_seed(&r, 24, 0);
    for (size_t i = 0; i < p; i++)
        theta[i] += 0.1 * lm_rng_normal(&r);
    if (dt == LM_F32) /* the file holds theta rounded to float32: compare those outputs */
        for (size_t i = 0; i < p; i++)
            theta[i] = (double) (float) theta[i];
    for (size_t i = 0; i < n * d; i++)
        x[i] = (double) lm_rng_below(&r, vocab);
    lm_mlp_ws *ws;
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F64, &ws, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_forward(m, ws, theta, x, n, f, &err), LM_OK, "%s", err.msg);
    f[n * k / 2] *= 1.0 + perturb;
    char ck[256], xp[256], fp[256], cmd[1200];
    lm_tmp_path(ck, sizeof ck, "gpt_rt.safetensors");
    lm_tmp_path(xp, sizeof xp, "gpt_rt_x.npy");
    lm_tmp_path(fp, sizeof fp, "gpt_rt_f.npy");
    cr_assert_eq(lm_mlp_save(m, theta, dt, ck, &err), LM_OK, "%s", err.msg);
    lm_array ax = {.elt = LM_ELT_F64, .ndim = 2, .shape = {n, d}, .count = n * d, .data = x};
    lm_array af = {.elt = LM_ELT_F64, .ndim = 2, .shape = {n, k}, .count = n * k, .data = f};
    cr_assert_eq(lm_npy_write(xp, &ax, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_npy_write(fp, &af, &err), LM_OK, "%s", err.msg);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 " FIX "check_torch_load.py %s --model " FIX
             "graph_%s.json --x %s --f %s%s",
             ck, against ? against : name, xp, fp, against ? " 2>/dev/null" : "");
    const int rc = system(cmd);
    unlink(ck);
    unlink(xp);
    unlink(fp);
    lm_mlp_ws_free(ws);
    lm_mlp_free(m);
    free(theta);
    free(x);
    free(f);
    cr_assert(rc != -1 && WIFEXITED(rc), "%s: could not run python3", name);
    if (WEXITSTATUS(rc) == 77)
        cr_skip_test("python3 has no torch: lmech -> PyTorch round trip not checked");
    if (perturb > 0.0 || against)
        cr_assert_eq(WEXITSTATUS(rc), 1, "%s: a wrong checkpoint or output passed: %s", name, cmd);
    else
        cr_assert_eq(WEXITSTATUS(rc), 0, "%s: %s failed (exit %d)", name, cmd, WEXITSTATUS(rc));
}

Test(torch_gpt, lmech_checkpoint_loads_into_torch_gpt2) {
    check_torch_round_trip("gpt2", LM_F64, 0.0, NULL);
    LM_CHECK_LEAKS();
}

Test(torch_gpt, torch_check_refuses_outputs_off_by_1e10) {
    check_torch_round_trip("gpt2", LM_F64, 1e-10, NULL); /* the check itself can fail */
    LM_CHECK_LEAKS();
}

Test(torch_gpt, torch_refuses_a_checkpoint_of_another_gpt) {
    check_torch_round_trip("gptlast", LM_F64, 0.0, "gpt2"); /* 1 block into 2: strict refuses */
    LM_CHECK_LEAKS();
}

Test(torch_gpt, lmech_checkpoint_loads_into_torch_gptlast_f32) {
    check_torch_round_trip("gptlast", LM_F32, 0.0, NULL);
    LM_CHECK_LEAKS();
}

Test(torch_gpt, lmech_checkpoint_loads_into_torch_gptseq) {
    check_torch_round_trip("gptseq", LM_F64, 0.0, NULL);
    LM_CHECK_LEAKS();
}
