/*
 * The PyTorch fixtures (tests/fixtures/make_fixture.py): lmech's loss, gradient, HVP and JVP on
 * models and data written by PyTorch, against torch autograd in float64.
 *
 * Tolerance 1e-10 relative (the bar): both sides compute the same float64 sums in
 * different orders, which moves results by ~1e-15 relative per operation; a few hundred
 * operations deep stays far below 1e-12, so 1e-10 catches any real difference.
 */
#include "lm_test.h"
#include "lmech/data.h"
#include "lmech/io.h"
#include "lmech/model.h"

#include <string.h>

#define FIX LM_SOURCE_DIR "/tests/fixtures/"

static double *load_npy(const char *path, size_t *rows, size_t *cols) {
    lm_array *a;
    lm_err err = {0};
    cr_assert_eq(lm_npy_read(path, &a, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(a->elt, LM_ELT_F64);
    *rows = a->shape[0];
    *cols = a->shape[1];
    double *d = malloc(a->count * sizeof(double));
    memcpy(d, a->data, a->count * sizeof(double));
    lm_array_free(a);
    return d;
}

/* Gathers the tensors "<prefix>layers.{i}.weight/bias" into a flat theta-layout vector. */
static void gather(const lm_mlp *m, const lm_safetensors *st, const char *prefix, double *out) {
    char name[96];
    for (size_t l = 0; l < m->n_layers; l++) {
        const lm_layer_info *li = &m->layer[l];
        snprintf(name, sizeof name, "%slayers.%zu.weight", prefix, l);
        const lm_array *w = lm_safetensors_get(st, name);
        cr_assert_not_null(w, "missing %s", name);
        cr_assert_eq(w->count, li->d_in * li->d_out);
        memcpy(out + li->w_off, w->data, w->count * sizeof(double));
        if (m->spec.bias) {
            snprintf(name, sizeof name, "%slayers.%zu.bias", prefix, l);
            const lm_array *b = lm_safetensors_get(st, name);
            cr_assert_not_null(b, "missing %s", name);
            memcpy(out + li->b_off, b->data, b->count * sizeof(double));
        }
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

static void check_fixture(const char *model_file, const char *expected_file, const char *x_file,
                          const char *y_file, const size_t *widths, size_t nw, lm_act act,
                          int bias) {
    lm_err err = {0};
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = nw;
    memcpy(s.widths, widths, nw * sizeof *widths);
    s.act = act;
    s.bias = bias;
    lm_mlp *m;
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK);
    const size_t p = m->n_params;
    double *theta = malloc(p * 8), *g = malloc(p * 8), *ref = malloc(p * 8), *v = malloc(p * 8);
    cr_assert_eq(lm_mlp_load(m, model_file, theta, &err), LM_OK, "%s", err.msg);
    size_t n, d, n2, k;
    double *x = load_npy(x_file, &n, &d), *y = load_npy(y_file, &n2, &k);
    cr_assert_eq(n, n2);
    cr_assert_eq(d, widths[0]);
    lm_safetensors *ex;
    cr_assert_eq(lm_safetensors_read(expected_file, &ex, &err), LM_OK, "%s", err.msg);
    lm_mlp_ws *ws;
    cr_assert_eq(lm_mlp_ws_new(m, n, LM_F64, &ws, &err), LM_OK);
    double *f = malloc(n * k * 8);
    static const char *names[] = {"mse", "mse_mean", "ce"};
    for (int l = 0; l < 3; l++) {
        double loss;
        cr_assert_eq(lm_mlp_loss_grad(m, ws, (lm_loss) l, theta, x, y, n, &loss, g, f, &err),
                     LM_OK);
        char key[64];
        snprintf(key, sizeof key, "%s.loss", names[l]);
        const lm_array *lt = lm_safetensors_get(ex, key);
        cr_assert_not_null(lt);
        const double tl = ((const double *) lt->data)[0];
        cr_assert(lm_close(loss, tl, 1e-10, 0), "%s: loss %.17g vs torch %.17g", names[l], loss,
                  tl);
        snprintf(key, sizeof key, "%s.", names[l]);
        gather(m, ex, key, ref);
        cr_assert(rel_err(g, ref, p) < 1e-10, "%s: gradient rel err %.3g", names[l],
                  rel_err(g, ref, p));
        const lm_array *tf = lm_safetensors_get(ex, "f");
        cr_assert(rel_err(f, tf->data, n * k) < 1e-12);
    }
    gather(m, ex, "v.", v);
    cr_assert_eq(lm_mlp_hvp_prepare(m, ws, LM_LOSS_MSE, theta, x, y, n, NULL, NULL, &err), LM_OK);
    cr_assert_eq(lm_mlp_hvp_apply(m, ws, v, g, &err), LM_OK);
    gather(m, ex, "mse.hvp.", ref);
    cr_assert(rel_err(g, ref, p) < 1e-10, "HVP rel err %.3g", rel_err(g, ref, p));
    cr_assert_eq(lm_mlp_jvp(m, ws, theta, x, n, v, f, &err), LM_OK);
    const lm_array *tj = lm_safetensors_get(ex, "jvp");
    cr_assert(rel_err(f, tj->data, n * k) < 1e-10, "JVP rel err %.3g", rel_err(f, tj->data, n * k));
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

Test(torch_fixture, tanh_with_bias) {
    static const size_t w[] = {12, 7, 5, 3};
    check_fixture(FIX "mlp_tanh.safetensors", FIX "mlp_expected.safetensors", FIX "mlp_x.npy",
                  FIX "mlp_y.npy", w, 4, LM_ACT_TANH, 1);
    LM_CHECK_LEAKS();
}

Test(torch_fixture, relu_without_bias) {
    static const size_t w[] = {6, 9, 4};
    check_fixture(FIX "mlp_relu_nobias.safetensors", FIX "mlp_relu_nobias_expected.safetensors",
                  FIX "mlp_relu_x.npy", FIX "mlp_relu_y.npy", w, 3, LM_ACT_RELU, 0);
    LM_CHECK_LEAKS();
}
