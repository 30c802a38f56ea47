/* Loads the PyTorch-made fixtures of tests/fixtures/ (make_fixture.py): the checkpoints go into
 * lm_mlp models with lm_mlp_load, spot values are compared with the numbers the script printed,
 * and lmech's writers reproduce the Python writer's and numpy's files byte for byte. */
#include "lm_test.h"
#include "lmech/io.h"
#include "lmech/model.h"

#include <string.h>

#define FIX(name) LM_SOURCE_DIR "/tests/fixtures/" name

static lm_mlp *model(size_t n_widths, const size_t *widths, int bias, lm_act act) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = n_widths;
    for (size_t i = 0; i < n_widths; i++)
        s.widths[i] = widths[i];
    s.bias = bias;
    s.act = act;
    s.param = LM_PARAM_SP;
    lm_mlp *m = NULL;
    cr_assert_eq(lm_mlp_new(&s, &m, NULL), LM_OK);
    return m;
}

static void expect_same_file(const char *a, const char *b) {
    uint8_t *x, *y;
    size_t nx, ny;
    cr_assert_eq(lm_file_read(a, &x, &nx, NULL), LM_OK);
    cr_assert_eq(lm_file_read(b, &y, &ny, NULL), LM_OK);
    cr_assert_eq(nx, ny, "%s has %zu bytes, %s %zu", a, nx, b, ny);
    for (size_t i = 0; i < nx; i++)
        cr_assert_eq(x[i], y[i], "%s and %s differ at byte %zu", a, b, i);
    lm_free(x);
    lm_free(y);
}

/* Loads a fixture checkpoint, checks two printed weights (exact: Python's repr round-trips a
 * double), re-saves it as F64 and checks the reload is bit-exact. */
static void load_fixture(const char *path, lm_mlp *m, double w00, size_t last_row, size_t last_col,
                         double w_last) {
    double *t = lm_calloc(m->n_params, sizeof *t), *u = lm_calloc(m->n_params, sizeof *u);
    lm_err err = {0};
    cr_assert_eq(lm_mlp_load(m, path, t, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(t[m->layer[0].w_off], w00);
    cr_assert_eq(t[m->layer[0].w_off + last_row * m->layer[0].d_in + last_col], w_last);
    char out[256];
    lm_tmp_path(out, sizeof out, "resaved.safetensors");
    cr_assert_eq(lm_mlp_save(m, t, LM_F64, out, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_load(m, out, u, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(memcmp(t, u, m->n_params * sizeof *t), 0);
    unlink(out);
    lm_free(t);
    lm_free(u);
}

Test(fixture, tanh_checkpoint_loads) {
    const size_t w[] = {12, 7, 5, 3};
    lm_mlp *m = model(4, w, 1, LM_ACT_TANH);
    cr_assert_eq(m->n_params, 149);
    /* printed by make_fixture.py */
    load_fixture(FIX("mlp_tanh.safetensors"), m, -0.015583525484938568, 6, 11,
                 -0.06790970186520866);
    lm_mlp_free(m);
    LM_CHECK_LEAKS();
}

Test(fixture, relu_nobias_checkpoint_loads) {
    const size_t w[] = {6, 9, 4};
    lm_mlp *m = model(3, w, 0, LM_ACT_RELU);
    load_fixture(FIX("mlp_relu_nobias.safetensors"), m, -0.11006567598743319, 8, 5,
                 -0.29214448867740983);
    lm_mlp_free(m);
    LM_CHECK_LEAKS();
}

Test(fixture, checkpoint_into_the_wrong_model_is_refused) {
    const size_t w[] = {12, 7, 5, 4};
    lm_mlp *m = model(4, w, 1, LM_ACT_TANH);
    double *t = lm_calloc(m->n_params, sizeof *t);
    lm_err err = {0};
    cr_assert_eq(lm_mlp_load(m, FIX("mlp_tanh.safetensors"), t, &err), LM_ESHAPE);
    cr_assert(strstr(err.msg, "mlp_tanh.safetensors: layers.2.weight has shape [3, 5], the model "
                              "expects [4, 5]"),
              "%s", err.msg);
    lm_free(t);
    lm_mlp_free(m);
    LM_CHECK_LEAKS();
}

Test(fixture, safetensors_writer_reproduces_the_python_writer) {
    const char *files[] = {FIX("mlp_tanh.safetensors"), FIX("mlp_relu_nobias.safetensors"),
                           FIX("mlp_expected.safetensors"),
                           FIX("mlp_relu_nobias_expected.safetensors")};
    char out[256];
    lm_tmp_path(out, sizeof out, "copy.safetensors");
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        lm_safetensors *st = NULL;
        lm_err err = {0};
        cr_assert_eq(lm_safetensors_read(files[f], &st, &err), LM_OK, "%s", err.msg);
        cr_assert_eq(lm_safetensors_write(out, st->n, (const char *const *) st->names,
                                          (const lm_array *const *) st->tensors, st->n_meta,
                                          (const char *const *) st->meta_keys,
                                          (const char *const *) st->meta_values, &err),
                     LM_OK, "%s", err.msg);
        expect_same_file(files[f], out);
        lm_safetensors_free(st);
    }
    unlink(out);
    LM_CHECK_LEAKS();
}

Test(fixture, expected_tensors_are_all_there) {
    lm_safetensors *st = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_safetensors_read(FIX("mlp_expected.safetensors"), &st, &err), LM_OK, "%s",
                 err.msg);
    const char *losses[] = {"mse", "mse_mean", "ce"};
    /* printed by make_fixture.py */
    const double values[] = {0.7366898323694551, 0.245563277456485, 1.2397350599436898};
    char name[64];
    for (int l = 0; l < 3; l++) {
        snprintf(name, sizeof name, "%s.loss", losses[l]);
        const lm_array *a = lm_safetensors_get(st, name);
        cr_assert(a && a->ndim == 1 && a->shape[0] == 1, "%s", name);
        cr_assert_eq(lm_array_get(a, 0), values[l]);
        for (int i = 0; i < 3; i++) {
            snprintf(name, sizeof name, "%s.layers.%d.weight", losses[l], i);
            cr_assert(lm_safetensors_get(st, name), "%s missing", name);
            snprintf(name, sizeof name, "%s.layers.%d.bias", losses[l], i);
            cr_assert(lm_safetensors_get(st, name), "%s missing", name);
        }
    }
    const char *others[] = {"f", "jvp", "v.layers.0.weight", "mse.hvp.layers.2.bias"};
    for (int i = 0; i < 4; i++)
        cr_assert(lm_safetensors_get(st, others[i]), "%s missing", others[i]);
    const lm_array *f = lm_safetensors_get(st, "f");
    cr_assert(f->ndim == 2 && f->shape[0] == 20 && f->shape[1] == 3);
    lm_safetensors_free(st);
    LM_CHECK_LEAKS();
}

/* numpy's float64 .npy: reproduce the file from its data with lm_npy_write. */
Test(fixture, npy_writer_reproduces_numpy) {
    const struct {
        const char *path;
        size_t rows, cols;
    } files[] = {
        {FIX("mlp_x.npy"), 20, 12}, {FIX("mlp_y.npy"), 20, 3}, {FIX("mlp_relu_x.npy"), 16, 6}};
    char out[256];
    lm_tmp_path(out, sizeof out, "copy.npy");
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        uint8_t *buf;
        size_t len;
        cr_assert_eq(lm_file_read(files[f].path, &buf, &len, NULL), LM_OK);
        const size_t shape[] = {files[f].rows, files[f].cols}, bytes = shape[0] * shape[1] * 8;
        cr_assert(len > bytes);
        lm_array *a = NULL;
        cr_assert_eq(lm_array_new(LM_ELT_F64, 2, shape, &a, NULL), LM_OK);
        memcpy(a->data, buf + len - bytes, bytes);
        cr_assert_eq(lm_npy_write(out, a, NULL), LM_OK);
        expect_same_file(files[f].path, out);
        lm_array_free(a);
        lm_free(buf);
    }
    unlink(out);
    LM_CHECK_LEAKS();
}
