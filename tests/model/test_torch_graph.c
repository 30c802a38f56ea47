/*
 * The PyTorch layer-graph fixtures (tests/fixtures/make_graph_fixture.py, the modules of
 * lmech_torch.py): models built here with lm_mlp_spec.layers, their parameters loaded by
 * lm_mlp_load from PyTorch's state_dict, and lmech's loss, gradient, HVP and JVP against torch
 * autograd in float64:
 *   cnn      conv2d, relu, avgpool2d, conv2d, tanh, maxpool2d, flatten, linear on [1, 8, 8]
 *   resln    linear, residual[layernorm, linear, gelu, linear], layernorm, linear on [5]
 *   resgelu  flatten, linear, residual[linear, gelu, linear, residual[erf, linear]], tanh,
 *            linear on [2, 1, 3]
 *   cnn2     conv2d (stride 2, no bias), gelu, residual[conv2d, softplus], avgpool2d (stride 1),
 *            maxpool2d (3, stride 1), flatten, layernorm (eps 1e-3), linear, sigmoid, linear
 *            on [3, 9, 9]
 * and the other way round: a checkpoint lmech writes loads into lmech_torch.Net with
 * load_state_dict(strict=True) and gives lmech's outputs (check_torch_load.py; skipped when
 * /usr/bin/python3 has no torch).
 *
 * Tolerance 1e-10 relative (the bar): both sides compute the same float64 sums in
 * different orders, ~1e-16 relative per operation, a few hundred operations deep; any
 * difference in a formula (a missing factor, eps placed differently, the wrong padding) is
 * orders of magnitude larger.
 */
#include "lm_test.h"
#include "lmech/data.h"
#include "lmech/io.h"
#include "lmech/model.h"

#include <string.h>
#include <sys/wait.h>

#define FIX LM_SOURCE_DIR "/tests/fixtures/"
#define TOL 1e-10

static lm_layer_spec linear(size_t out, int bias) {
    lm_layer_spec l = {.type = LM_LAYER_LINEAR, .out = out, .bias = bias};
    return l;
}
static lm_layer_spec conv_s(size_t out, size_t k, size_t stride, size_t pad, int bias) {
    lm_layer_spec l = {.type = LM_LAYER_CONV2D,
                       .out = out,
                       .kernel = k,
                       .stride = stride,
                       .padding = pad,
                       .bias = bias};
    return l;
}
static lm_layer_spec conv(size_t out, size_t k, size_t pad) {
    return conv_s(out, k, 1, pad, -1);
}
static lm_layer_spec pool_s(lm_layer_type t, size_t k, size_t stride) {
    lm_layer_spec l = {.type = t, .kernel = k, .stride = stride, .bias = -1};
    return l;
}
static lm_layer_spec pool(lm_layer_type t, size_t k) {
    return pool_s(t, k, k);
}
static lm_layer_spec act(lm_act a) {
    lm_layer_spec l = {.type = LM_LAYER_ACT, .act = a, .bias = -1};
    return l;
}
static lm_layer_spec simple(lm_layer_type t) {
    lm_layer_spec l = {.type = t, .bias = -1, .eps = 1e-5};
    return l;
}
static lm_layer_spec residual(size_t body_len) {
    lm_layer_spec l = {.type = LM_LAYER_RESIDUAL, .body_len = body_len, .bias = -1};
    return l;
}

/* The models of make_graph_fixture.py, spelled as lm_mlp_spec.layers (sp, biases by default). */
static lm_mlp_spec spec_of(const char *name) {
    lm_mlp_spec s = lm_mlp_spec_default();
    if (strcmp(name, "cnn") == 0) {
        const lm_layer_spec ls[] = {conv(4, 3, 1),
                                    act(LM_ACT_RELU),
                                    pool(LM_LAYER_AVGPOOL2D, 2),
                                    conv(6, 3, 1),
                                    act(LM_ACT_TANH),
                                    pool(LM_LAYER_MAXPOOL2D, 2),
                                    simple(LM_LAYER_FLATTEN),
                                    linear(3, -1)};
        memcpy(s.layers, ls, sizeof ls);
        s.n_layer_specs = sizeof ls / sizeof *ls;
        s.n_input_shape = 3;
        s.input_shape[0] = 1, s.input_shape[1] = 8, s.input_shape[2] = 8;
    } else if (strcmp(name, "resln") == 0) {
        const lm_layer_spec ls[] = {
            linear(6, -1),    residual(4),   simple(LM_LAYER_LAYERNORM), linear(6, -1),
            act(LM_ACT_GELU), linear(6, -1), simple(LM_LAYER_LAYERNORM), linear(3, -1)};
        memcpy(s.layers, ls, sizeof ls);
        s.n_layer_specs = sizeof ls / sizeof *ls;
        s.n_input_shape = 1;
        s.input_shape[0] = 5;
    } else if (strcmp(name, "cnn2") == 0) {
        lm_layer_spec ls[] = {conv_s(5, 3, 2, 1, 0),
                              act(LM_ACT_GELU),
                              residual(2),
                              conv(5, 3, 1),
                              act(LM_ACT_SOFTPLUS),
                              pool_s(LM_LAYER_AVGPOOL2D, 2, 1),
                              pool_s(LM_LAYER_MAXPOOL2D, 3, 1),
                              simple(LM_LAYER_FLATTEN),
                              simple(LM_LAYER_LAYERNORM),
                              linear(7, -1),
                              act(LM_ACT_SIGMOID),
                              linear(4, -1)};
        ls[8].eps = 1e-3;
        memcpy(s.layers, ls, sizeof ls);
        s.n_layer_specs = sizeof ls / sizeof *ls;
        s.n_input_shape = 3;
        s.input_shape[0] = 3, s.input_shape[1] = 9, s.input_shape[2] = 9;
    } else {
        cr_assert_str_eq(name, "resgelu");
        const lm_layer_spec ls[] = {simple(LM_LAYER_FLATTEN),
                                    linear(6, 0),
                                    residual(6),
                                    linear(6, -1),
                                    act(LM_ACT_GELU),
                                    linear(6, -1),
                                    residual(2),
                                    act(LM_ACT_ERF),
                                    linear(6, -1),
                                    act(LM_ACT_TANH),
                                    linear(3, -1)};
        memcpy(s.layers, ls, sizeof ls);
        s.n_layer_specs = sizeof ls / sizeof *ls;
        s.n_input_shape = 3;
        s.input_shape[0] = 2, s.input_shape[1] = 1, s.input_shape[2] = 3;
    }
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

/* Gathers the tensors "<prefix><tensor name>" of expected into a theta-layout vector, checking
 * each has the model's PyTorch shape. */
static void gather(const lm_mlp *m, const lm_safetensors *st, const char *prefix, double *out) {
    char name[128];
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

/* Loads fixture graph_<name> and checks loss, gradient (three losses), HVP and JVP. */
static void check_fixture(const char *name) {
    char path[512];
    lm_err err = {0};
    lm_mlp_spec s = spec_of(name);
    lm_mlp *m = NULL;
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s: %s", name, err.msg);
    cr_assert(!lm_mlp_is_chain(m));
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
    double *f = malloc(n * k * 8);
    static const char *losses[] = {"mse", "mse_mean", "ce"};
    const lm_array *tf = lm_safetensors_get(ex, "f");
    cr_assert_not_null(tf);
    for (int l = 0; l < 3; l++) {
        double loss;
        cr_assert_eq(lm_mlp_loss_grad(m, ws, (lm_loss) l, theta, x, y, n, &loss, g, f, &err), LM_OK,
                     "%s", err.msg);
        char key[64];
        snprintf(key, sizeof key, "%s.loss", losses[l]);
        const lm_array *lt = lm_safetensors_get(ex, key);
        cr_assert_not_null(lt);
        const double tl = ((const double *) lt->data)[0];
        cr_assert(lm_close(loss, tl, TOL, 0), "%s %s: loss %.17g vs torch %.17g", name, losses[l],
                  loss, tl);
        const double ef = rel_err(f, tf->data, n * k);
        cr_assert(ef < TOL, "%s: outputs rel err %.3g", name, ef);
        snprintf(key, sizeof key, "%s.", losses[l]);
        gather(m, ex, key, ref);
        const double eg = rel_err(g, ref, p);
        cr_assert(eg < TOL, "%s %s: gradient rel err %.3g", name, losses[l], eg);
        cr_log_info("%s %s: loss rel err %.2g, gradient rel err %.2g, outputs %.2g", name,
                    losses[l], fabs(loss - tl) / fabs(tl), eg, ef);
    }
    gather(m, ex, "v.", v);
    cr_assert_eq(lm_mlp_hvp_prepare(m, ws, LM_LOSS_MSE, theta, x, y, n, NULL, NULL, &err), LM_OK,
                 "%s", err.msg);
    cr_assert_eq(lm_mlp_hvp_apply(m, ws, v, g, &err), LM_OK, "%s", err.msg);
    gather(m, ex, "mse.hvp.", ref);
    const double eh = rel_err(g, ref, p);
    cr_assert(eh < TOL, "%s: HVP rel err %.3g", name, eh);
    cr_assert_eq(lm_mlp_jvp(m, ws, theta, x, n, v, f, &err), LM_OK, "%s", err.msg);
    const lm_array *tj = lm_safetensors_get(ex, "jvp");
    cr_assert_not_null(tj);
    const double ej = rel_err(f, tj->data, n * k);
    cr_assert(ej < TOL, "%s: JVP rel err %.3g", name, ej);
    cr_log_info("%s: HVP rel err %.2g, JVP rel err %.2g", name, eh, ej);
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
}

Test(torch_graph, resgelu_nested_residual_blocks) {
    check_fixture("resgelu");
    LM_CHECK_LEAKS();
}

Test(torch_graph, resln_residual_layernorm_gelu) {
    check_fixture("resln");
    LM_CHECK_LEAKS();
}

Test(torch_graph, cnn_conv_pools) {
    check_fixture("cnn");
    LM_CHECK_LEAKS();
}

Test(torch_graph, cnn2_strides_no_bias_conv_residual_layernorm) {
    check_fixture("cnn2");
    LM_CHECK_LEAKS();
}

/* lmech -> PyTorch: lmech draws theta (gains and biases moved off 1 and 0), saves it, and
 * check_torch_load.py loads it into lmech_torch.Net (strict) and compares the outputs on x with
 * lmech's (1e-12 relative). Skipped when python3 has no torch (exit 77). perturb > 0 moves one
 * of lmech's outputs by that relative amount, and the script must then refuse (exit 1). */
static void check_torch_round_trip(const char *name, lm_dtype dt, double perturb) {
    lm_err err = {0};
    lm_mlp_spec s = spec_of(name);
    lm_mlp *m = NULL;
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s: %s", name, err.msg);
    const size_t p = m->n_params, n = 4, d = m->d_in, k = m->d_out;
    double *theta = malloc(p * 8), *x = malloc(n * d * 8), *f = malloc(n * k * 8);
    cr_assert_eq(lm_mlp_init(m, 17, theta, &err), LM_OK);
    lm_rng r;
    lm_rng_seed(&r, 18, 0);
    for (size_t i = 0; i < p; i++)
        theta[i] += 0.1 * lm_rng_normal(&r);
    if (dt == LM_F32) /* the file holds theta rounded to float32: compare those outputs */
        for (size_t i = 0; i < p; i++)
            theta[i] = (double) (float) theta[i];
    for (size_t i = 0; i < n * d; i++)
        x[i] = lm_rng_normal(&r);
    lm_mlp_ws *ws;
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F64, &ws, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_forward(m, ws, theta, x, n, f, &err), LM_OK, "%s", err.msg);
    f[n * k / 2] *= 1.0 + perturb; /* perturb > 0: the comparison must refuse */
    char ck[256], xp[256], fp[256], cmd[1200];
    lm_tmp_path(ck, sizeof ck, "rt.safetensors");
    lm_tmp_path(xp, sizeof xp, "rt_x.npy");
    lm_tmp_path(fp, sizeof fp, "rt_f.npy");
    cr_assert_eq(lm_mlp_save(m, theta, dt, ck, &err), LM_OK, "%s", err.msg);
    const size_t sx[] = {n, d}, sf[] = {n, k};
    lm_array ax = {
        .elt = LM_ELT_F64, .ndim = 2, .shape = {sx[0], sx[1]}, .count = n * d, .data = x};
    lm_array af = {
        .elt = LM_ELT_F64, .ndim = 2, .shape = {sf[0], sf[1]}, .count = n * k, .data = f};
    cr_assert_eq(lm_npy_write(xp, &ax, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_npy_write(fp, &af, &err), LM_OK, "%s", err.msg);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 " FIX "check_torch_load.py %s --model " FIX
             "graph_%s.json --x %s --f %s",
             ck, name, xp, fp);
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
    if (perturb > 0.0)
        cr_assert_eq(WEXITSTATUS(rc), 1, "%s: outputs off by %g passed: %s", name, perturb, cmd);
    else
        cr_assert_eq(WEXITSTATUS(rc), 0, "%s: %s failed (exit %d)", name, cmd, WEXITSTATUS(rc));
}

Test(torch_graph, lmech_checkpoint_loads_into_torch_resgelu) {
    check_torch_round_trip("resgelu", LM_F64, 0.0);
    check_torch_round_trip("resgelu", LM_F64, 1e-10); /* the check itself can fail */
    LM_CHECK_LEAKS();
}

Test(torch_graph, lmech_checkpoint_loads_into_torch_resln) {
    check_torch_round_trip("resln", LM_F32, 0.0);
    LM_CHECK_LEAKS();
}

Test(torch_graph, lmech_checkpoint_loads_into_torch_cnn2) {
    check_torch_round_trip("cnn2", LM_F32, 0.0);
    LM_CHECK_LEAKS();
}
