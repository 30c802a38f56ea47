/* Tests for src/io/checkpoint.c: MLP save/load round trips (F64 bit-exact, F32 to float
 * rounding), the PyTorch layout on disk, and every refusal: missing, extra, mis-shaped, wrongly
 * typed and non-finite tensors, with theta unchanged each time. */
#include "lm_test.h"
#include "lmech/io.h"
#include "lmech/model.h"

#include <float.h>
#include <string.h>

static lm_mlp *model(size_t n_widths, const size_t *widths, int bias) {
    lm_mlp_spec s = lm_mlp_spec_default();
    s.n_widths = n_widths;
    for (size_t i = 0; i < n_widths; i++)
        s.widths[i] = widths[i];
    s.bias = bias;
    s.act = LM_ACT_TANH;
    lm_mlp *m = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s", err.msg);
    return m;
}

/* theta with "high entropy" values (not 1, 2, 3: those hide swapped or offset copies). */
static double *theta_of(const lm_mlp *m, uint64_t seed) {
    double *t = lm_malloc(m->n_params * sizeof *t);
    cr_assert(t);
    lm_rng r;
    lm_rng_seed(&r, seed, 0);
    for (size_t i = 0; i < m->n_params; i++)
        t[i] = 2.385 * lm_rng_normal(&r);
    return t;
}

Test(checkpoint, f64_round_trip_is_bit_exact_and_layout_is_pytorchs) {
    const size_t w[] = {12, 7, 5, 3};
    lm_mlp *m = model(4, w, 1);
    double *t = theta_of(m, 1), *u = lm_calloc(m->n_params, sizeof *u);
    char path[256];
    lm_tmp_path(path, sizeof path, "m64.safetensors");
    lm_err err = {0};
    cr_assert_eq(lm_mlp_save(m, t, LM_F64, path, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_load(m, path, u, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(memcmp(t, u, m->n_params * sizeof *t), 0);

    lm_safetensors *st = NULL;
    cr_assert_eq(lm_safetensors_read(path, &st, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(st->n, 6);
    const char *names[] = {"layers.0.weight", "layers.0.bias",   "layers.1.weight",
                           "layers.1.bias",   "layers.2.weight", "layers.2.bias"};
    for (size_t i = 0; i < 6; i++)
        cr_assert_str_eq(st->names[i], names[i]);
    /* layers.1.weight is [d_out=5, d_in=7]; its (row 3, column 6) entry is theta[w_off + 3*7+6] */
    const lm_array *w1 = lm_safetensors_get(st, "layers.1.weight");
    cr_assert_eq(w1->elt, LM_ELT_F64);
    cr_assert_eq(w1->ndim, 2);
    cr_assert_eq(w1->shape[0], 5);
    cr_assert_eq(w1->shape[1], 7);
    cr_assert_eq(lm_array_get(w1, 3 * 7 + 6), t[m->layer[1].w_off + 3 * 7 + 6]);
    const lm_array *b2 = lm_safetensors_get(st, "layers.2.bias");
    cr_assert_eq(b2->ndim, 1);
    cr_assert_eq(b2->shape[0], 3);
    cr_assert_eq(lm_array_get(b2, 2), t[m->layer[2].b_off + 2]);
    const char *want_meta[][2] = {{"format", "pt"},
                                  {"parameterization", "sp"},
                                  {"activation", "tanh"},
                                  {"widths", "12,7,5,3"},
                                  {"bias", "true"},
                                  {"weight_multipliers", "1,1,1"},
                                  {"lmech_version", lm_version()}};
    for (size_t k = 0; k < sizeof want_meta / sizeof *want_meta; k++) {
        size_t j = 0;
        while (j < st->n_meta && strcmp(st->meta_keys[j], want_meta[k][0]) != 0)
            j++;
        cr_assert(j < st->n_meta, "metadata %s missing", want_meta[k][0]);
        cr_assert_str_eq(st->meta_values[j], want_meta[k][1]);
    }
    lm_safetensors_free(st);
    lm_free(t);
    lm_free(u);
    lm_mlp_free(m);
    unlink(path);
    LM_CHECK_LEAKS();
}

Test(checkpoint, f32_round_trip_within_float_rounding) {
    const size_t w[] = {6, 9, 4};
    lm_mlp *m = model(3, w, 0);
    double *t = theta_of(m, 2), *u = lm_calloc(m->n_params, sizeof *u);
    char path[256];
    lm_tmp_path(path, sizeof path, "m32.safetensors");
    lm_err err = {0};
    cr_assert_eq(lm_mlp_save(m, t, LM_F32, path, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_load(m, path, u, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < m->n_params; i++) {
        /* round-to-nearest float32: relative error at most 2^-24 = FLT_EPSILON / 2 */
        cr_assert(fabs(u[i] - t[i]) <= 0.5 * (double) FLT_EPSILON * fabs(t[i]), "%zu: %.17g %.17g",
                  i, u[i], t[i]);
        cr_assert_eq(u[i], (double) (float) t[i]);
    }
    lm_safetensors *st = NULL;
    cr_assert_eq(lm_safetensors_read(path, &st, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(st->n, 2); /* no bias tensors */
    cr_assert_eq(st->tensors[0]->elt, LM_ELT_F32);
    lm_safetensors_free(st);
    lm_free(t);
    lm_free(u);
    lm_mlp_free(m);
    unlink(path);
    LM_CHECK_LEAKS();
}

/* Writes tensors (F64 unless stated) built from a shape list into path. */
static void write_tensors(const char *path, size_t n, const char *const *names,
                          const size_t (*shapes)[2], const size_t *ndims, lm_elt elt) {
    lm_array *a[8];
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(lm_array_new(elt, ndims[i], shapes[i], &a[i], NULL), LM_OK);
        if (elt == LM_ELT_F64)
            for (size_t j = 0; j < a[i]->count; j++)
                ((double *) a[i]->data)[j] = 0.25 * (double) j - 1.0;
    }
    lm_err err = {0};
    cr_assert_eq(
        lm_safetensors_write(path, n, names, (const lm_array *const *) a, 0, NULL, NULL, &err),
        LM_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        lm_array_free(a[i]);
}

/* Loads path into model m and expects failure `code` with `msg` in the message and theta
 * unchanged. */
static void expect_load_fail(const lm_mlp *m, const char *path, lm_status code, const char *msg) {
    double *t = theta_of(m, 9), *keep = lm_malloc(m->n_params * sizeof *keep);
    memcpy(keep, t, m->n_params * sizeof *t);
    lm_err err = {0};
    cr_assert_eq(lm_mlp_load(m, path, t, &err), code, "got: %s", err.msg);
    cr_assert(strstr(err.msg, msg), "message \"%s\" lacks \"%s\"", err.msg, msg);
    cr_assert(strstr(err.msg, path), "message does not name the file: %s", err.msg);
    cr_assert_eq(memcmp(t, keep, m->n_params * sizeof *t), 0, "theta changed on failure");
    lm_free(t);
    lm_free(keep);
}

Test(checkpoint, refuses_wrong_shapes_missing_and_extra_tensors) {
    const size_t w[] = {16, 10, 4}; /* layers.0.weight [10, 16], layers.1.weight [4, 10] */
    lm_mlp *m = model(3, w, 1);
    char path[256];
    lm_tmp_path(path, sizeof path, "bad.safetensors");
    const size_t nd[] = {2, 1, 2, 1, 2};

    {
        const char *names[] = {"layers.0.weight", "layers.0.bias", "layers.1.weight",
                               "layers.1.bias"};
        const size_t shapes[][2] = {{10, 16}, {10, 0}, {4, 32}, {4, 0}};
        write_tensors(path, 4, names, shapes, nd, LM_ELT_F64);
        expect_load_fail(m, path, LM_ESHAPE,
                         ": layers.1.weight has shape [4, 32], the model expects [4, 10]");
    }
    {
        const char *names[] = {"layers.0.weight", "layers.0.bias", "layers.1.weight",
                               "layers.1.bias"};
        const size_t shapes[][2] = {{10, 16}, {10, 1}, {4, 10}, {4, 0}};
        const size_t nd2[] = {2, 2, 2, 1};
        write_tensors(path, 4, names, shapes, nd2, LM_ELT_F64);
        expect_load_fail(m, path, LM_ESHAPE,
                         "layers.0.bias has shape [10, 1], the model expects [10]");
    }
    {
        const char *names[] = {"layers.0.weight", "layers.0.bias", "layers.1.weight"};
        const size_t shapes[][2] = {{10, 16}, {10, 0}, {4, 10}};
        write_tensors(path, 3, names, shapes, nd, LM_ELT_F64);
        expect_load_fail(m, path, LM_ENOTFOUND, "missing tensor layers.1.bias");
    }
    {
        const char *names[] = {"layers.0.weight", "layers.0.bias", "layers.1.weight",
                               "layers.1.bias", "layers.2.weight"};
        const size_t shapes[][2] = {{10, 16}, {10, 0}, {4, 10}, {4, 0}, {3, 4}};
        write_tensors(path, 5, names, shapes, nd, LM_ELT_F64);
        expect_load_fail(m, path, LM_EFORMAT, "unexpected tensor 'layers.2.weight'");
    }
    {
        const char *names[] = {"layers.0.weight", "layers.0.bias", "optimizer.step",
                               "layers.1.weight", "layers.1.bias"};
        const size_t shapes[][2] = {{10, 16}, {10, 0}, {1, 0}, {4, 10}, {4, 0}};
        const size_t nd3[] = {2, 1, 1, 2, 1};
        write_tensors(path, 5, names, shapes, nd3, LM_ELT_F64);
        expect_load_fail(m, path, LM_EFORMAT, "unexpected tensor 'optimizer.step'");
    }
    {
        const char *names[] = {"layers.0.weight", "layers.0.bias", "layers.1.weight",
                               "layers.1.bias"};
        const size_t shapes[][2] = {{10, 16}, {10, 0}, {4, 10}, {4, 0}};
        write_tensors(path, 4, names, shapes, nd, LM_ELT_I32);
        expect_load_fail(m, path, LM_EFORMAT, "layers.0.weight has element type int32");
    }
    {
        /* a model without biases refuses a checkpoint with them */
        lm_mlp *nb = model(3, w, 0);
        const char *names[] = {"layers.0.weight", "layers.0.bias", "layers.1.weight",
                               "layers.1.bias"};
        const size_t shapes[][2] = {{10, 16}, {10, 0}, {4, 10}, {4, 0}};
        write_tensors(path, 4, names, shapes, nd, LM_ELT_F64);
        expect_load_fail(nb, path, LM_EFORMAT, "unexpected tensor 'layers.0.bias'");
        lm_mlp_free(nb);
    }
    expect_load_fail(m, "/nonexistent-lmech/m.safetensors", LM_EIO, "cannot open");
    lm_mlp_free(m);
    unlink(path);
    LM_CHECK_LEAKS();
}

Test(checkpoint, refuses_nan_and_inf_naming_tensor_and_index) {
    const size_t w[] = {3, 2};
    lm_mlp *m = model(2, w, 1);
    char path[256];
    lm_tmp_path(path, sizeof path, "nan.safetensors");
    double *t = theta_of(m, 3);
    lm_err err = {0};

    /* save refuses too: a checkpoint that cannot be loaded back is not written */
    t[m->layer[0].b_off + 1] = LM_NAN;
    cr_assert_eq(lm_mlp_save(m, t, LM_F64, path, &err), LM_ENUMERIC);
    cr_assert(strstr(err.msg, "layers.0.bias[1]"), "%s", err.msg);
    cr_assert_eq(access(path, F_OK), -1);
    t[m->layer[0].b_off + 1] = 1e300;
    cr_assert_eq(lm_mlp_save(m, t, LM_F32, path, &err), LM_ERANGE);
    cr_assert(strstr(err.msg, "layers.0.bias[1]") && strstr(err.msg, "float32"), "%s", err.msg);
    cr_assert_eq(lm_mlp_save(m, t, LM_F64, path, &err), LM_OK, "%s", err.msg); /* fits F64 */

    /* a file with a NaN written by someone else */
    const size_t sw[] = {2, 3}, sb[] = {2};
    lm_array *W = NULL, *B = NULL;
    cr_assert_eq(lm_array_new(LM_ELT_F32, 2, sw, &W, NULL), LM_OK);
    cr_assert_eq(lm_array_new(LM_ELT_F64, 1, sb, &B, NULL), LM_OK);
    ((float *) W->data)[4] = NAN;
    const lm_array *arr[] = {W, B};
    const char *names[] = {"layers.0.weight", "layers.0.bias"};
    cr_assert_eq(lm_safetensors_write(path, 2, names, arr, 0, NULL, NULL, &err), LM_OK);
    expect_load_fail(m, path, LM_ENUMERIC, "layers.0.weight[4] (flat index) is NaN");
    ((float *) W->data)[4] = 0.0f;
    ((double *) B->data)[1] = -LM_INF;
    cr_assert_eq(lm_safetensors_write(path, 2, names, arr, 0, NULL, NULL, &err), LM_OK);
    expect_load_fail(m, path, LM_ENUMERIC, "layers.0.bias[1] (flat index) is infinite");

    /* mixed F32/F64 tensors are fine once finite */
    ((double *) B->data)[1] = 0.5;
    cr_assert_eq(lm_safetensors_write(path, 2, names, arr, 0, NULL, NULL, &err), LM_OK);
    cr_assert_eq(lm_mlp_load(m, path, t, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(t[m->layer[0].b_off + 1], 0.5);

    lm_array_free(W);
    lm_array_free(B);
    lm_free(t);
    lm_mlp_free(m);
    unlink(path);
    LM_CHECK_LEAKS();
}

static int g_budget;
static void *failing_alloc(void *ud, size_t size) {
    (void) ud;
    if (g_budget-- <= 0)
        return NULL;
    void *p = NULL;
    return posix_memalign(&p, 64, size ? size : 64) == 0 ? p : NULL;
}
static void plain_release(void *ud, void *p) {
    (void) ud;
    free(p);
}

Test(checkpoint, save_and_load_fail_cleanly_at_every_allocation) {
    const size_t w[] = {4, 3, 2};
    lm_mlp *m = model(3, w, 1);
    double *t = theta_of(m, 4), *u = lm_calloc(m->n_params, sizeof *u);
    char path[256];
    lm_tmp_path(path, sizeof path, "oom.safetensors");
    const lm_allocator hook = {failing_alloc, plain_release, NULL};
    int k;
    for (k = 0; k < 200; k++) {
        g_budget = k;
        lm_set_allocator(&hook);
        lm_err err = {0};
        lm_status rc = lm_mlp_save(m, t, LM_F32, path, &err);
        if (rc == LM_OK)
            rc = lm_mlp_load(m, path, u, &err);
        lm_set_allocator(NULL);
        if (rc == LM_OK)
            break;
        cr_assert_eq(rc, LM_ENOMEM, "allocation %d: %s", k, err.msg);
        cr_assert(strstr(err.msg, path), "%s", err.msg);
        for (size_t i = 0; i < m->n_params; i++)
            cr_assert_eq(u[i], 0.0, "theta changed on failure");
    }
    cr_assert(k > 3 && k < 200, "save+load needed %d allocations", k);
    for (size_t i = 0; i < m->n_params; i++)
        cr_assert_eq(u[i], (double) (float) t[i]);
    lm_free(t);
    lm_free(u);
    lm_mlp_free(m);
    unlink(path);
    LM_CHECK_LEAKS();
}

/* ---------------------------------------------------------------- layer-graph models */

static lm_layer_spec ls_of(lm_layer_type t, size_t out, int bias) {
    lm_layer_spec l = {.type = t, .out = out, .bias = bias, .eps = 1e-5};
    return l;
}

/* [2, 1, 3]: flatten, linear(6, no bias), residual[tanh, linear(6)], gelu, linear(3) */
static lm_mlp *graph_model(void) {
    lm_mlp_spec s = lm_mlp_spec_default();
    const lm_layer_spec ls[] = {ls_of(LM_LAYER_FLATTEN, 0, -1),  ls_of(LM_LAYER_LINEAR, 6, 0),
                                ls_of(LM_LAYER_RESIDUAL, 0, -1), ls_of(LM_LAYER_ACT, 0, -1),
                                ls_of(LM_LAYER_LINEAR, 6, -1),   ls_of(LM_LAYER_ACT, 0, -1),
                                ls_of(LM_LAYER_LINEAR, 3, -1)};
    memcpy(s.layers, ls, sizeof ls);
    s.layers[2].body_len = 2;
    s.layers[3].act = LM_ACT_TANH;
    s.layers[5].act = LM_ACT_GELU;
    s.n_layer_specs = 7;
    s.n_input_shape = 3;
    s.input_shape[0] = 2, s.input_shape[1] = 1, s.input_shape[2] = 3;
    lm_mlp *m = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s", err.msg);
    return m;
}

Test(checkpoint, graph_round_trip_names_shapes_and_metadata) {
    lm_mlp *m = graph_model();
    double *t = theta_of(m, 5), *u = lm_calloc(m->n_params, sizeof *u);
    char path[256];
    lm_tmp_path(path, sizeof path, "g64.safetensors");
    lm_err err = {0};
    cr_assert_eq(lm_mlp_save(m, t, LM_F64, path, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_load(m, path, u, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(memcmp(t, u, m->n_params * sizeof *t), 0);

    lm_safetensors *st = NULL;
    cr_assert_eq(lm_safetensors_read(path, &st, &err), LM_OK, "%s", err.msg);
    /* nn.Sequential's numbering: parameter-free entries keep their index */
    const char *names[] = {"layers.1.weight", "layers.2.body.1.weight", "layers.2.body.1.bias",
                           "layers.4.weight", "layers.4.bias"};
    const size_t shapes[][2] = {{6, 6}, {6, 6}, {6, 0}, {3, 6}, {3, 0}};
    cr_assert_eq(st->n, 5);
    size_t off = 0;
    for (size_t i = 0; i < 5; i++) {
        cr_assert_str_eq(st->names[i], names[i]);
        const lm_array *a = st->tensors[i];
        cr_assert_eq(a->ndim, shapes[i][1] ? 2 : 1, "%s", names[i]);
        cr_assert_eq(a->shape[0], shapes[i][0]);
        if (shapes[i][1])
            cr_assert_eq(a->shape[1], shapes[i][1]);
        /* each tensor is the next slice of theta, row-major */
        for (size_t j = 0; j < a->count; j++)
            cr_assert_eq(lm_array_get(a, j), t[off + j], "%s[%zu]", names[i], j);
        off += a->count;
    }
    cr_assert_eq(off, m->n_params);
    const char *want_meta[][2] = {{"format", "pt"},
                                  {"parameterization", "sp"},
                                  {"input_shape", "2,1,3"},
                                  {"model", "flatten linear(6) residual tanh linear(6) gelu "
                                            "linear(3) on [2, 1, 3]"},
                                  {"weight_multipliers", "1,1,1"},
                                  {"dtype", "float64"}};
    for (size_t k = 0; k < sizeof want_meta / sizeof *want_meta; k++) {
        size_t j = 0;
        while (j < st->n_meta && strcmp(st->meta_keys[j], want_meta[k][0]) != 0)
            j++;
        cr_assert(j < st->n_meta, "metadata %s missing", want_meta[k][0]);
        cr_assert_str_eq(st->meta_values[j], want_meta[k][1]);
    }
    for (size_t j = 0; j < st->n_meta; j++) /* the chain's keys do not apply */
        cr_assert(strcmp(st->meta_keys[j], "widths") && strcmp(st->meta_keys[j], "activation"),
                  "%s", st->meta_keys[j]);
    lm_safetensors_free(st);

    /* F32 too */
    cr_assert_eq(lm_mlp_save(m, t, LM_F32, path, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_load(m, path, u, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < m->n_params; i++)
        cr_assert_eq(u[i], (double) (float) t[i]);
    lm_free(t);
    lm_free(u);
    lm_mlp_free(m);
    unlink(path);
    LM_CHECK_LEAKS();
}

Test(checkpoint, graph_refusals_name_the_tensor) {
    lm_mlp *m = graph_model();
    char path[256];
    lm_tmp_path(path, sizeof path, "gbad.safetensors");
    const size_t nd[] = {2, 2, 1, 2, 1};
    {
        /* the body's weight transposed-shaped wrong */
        const char *names[] = {"layers.1.weight", "layers.2.body.1.weight", "layers.2.body.1.bias",
                               "layers.4.weight", "layers.4.bias"};
        const size_t shapes[][2] = {{6, 6}, {6, 5}, {6, 0}, {3, 6}, {3, 0}};
        write_tensors(path, 5, names, shapes, nd, LM_ELT_F64);
        expect_load_fail(m, path, LM_ESHAPE,
                         "layers.2.body.1.weight has shape [6, 5], the model expects [6, 6]");
    }
    {
        /* the body numbered as a flat list (layers.3.weight instead of layers.2.body.1.weight) */
        const char *names[] = {"layers.1.weight", "layers.3.weight", "layers.3.bias",
                               "layers.4.weight", "layers.4.bias"};
        const size_t shapes[][2] = {{6, 6}, {6, 6}, {6, 0}, {3, 6}, {3, 0}};
        write_tensors(path, 5, names, shapes, nd, LM_ELT_F64);
        expect_load_fail(m, path, LM_ENOTFOUND, "missing tensor layers.2.body.1.weight");
        expect_load_fail(m, path, LM_ENOTFOUND,
                         "has 5 tensors, layers.1.weight [6, 6] to "
                         "layers.4.bias [3]");
    }
    {
        /* an extra bias on the bias-free linear */
        const char *names[] = {"layers.1.weight",      "layers.1.bias",   "layers.2.body.1.weight",
                               "layers.2.body.1.bias", "layers.4.weight", "layers.4.bias"};
        const size_t shapes[][2] = {{6, 6}, {6, 0}, {6, 6}, {6, 0}, {3, 6}, {3, 0}};
        const size_t nd2[] = {2, 1, 2, 1, 2, 1};
        write_tensors(path, 6, names, shapes, nd2, LM_ELT_F64);
        expect_load_fail(m, path, LM_EFORMAT, "unexpected tensor 'layers.1.bias'");
    }
    {
        /* NaN in a body tensor, named with its flat index */
        const char *names[] = {"layers.1.weight", "layers.2.body.1.weight", "layers.2.body.1.bias",
                               "layers.4.weight", "layers.4.bias"};
        const size_t shapes[][2] = {{6, 6}, {6, 6}, {6, 0}, {3, 6}, {3, 0}};
        lm_array *a[5];
        for (size_t i = 0; i < 5; i++)
            cr_assert_eq(lm_array_new(LM_ELT_F32, nd[i], shapes[i], &a[i], NULL), LM_OK);
        ((float *) a[2]->data)[4] = NAN;
        lm_err err = {0};
        cr_assert_eq(
            lm_safetensors_write(path, 5, names, (const lm_array *const *) a, 0, NULL, NULL, &err),
            LM_OK, "%s", err.msg);
        for (size_t i = 0; i < 5; i++)
            lm_array_free(a[i]);
        expect_load_fail(m, path, LM_ENUMERIC, "layers.2.body.1.bias[4] (flat index) is NaN");
    }
    {
        /* save refuses a non-finite body tensor */
        double *t = theta_of(m, 6);
        t[m->tensor[1].off + 7] = LM_INF;
        lm_err err = {0};
        cr_assert_eq(lm_mlp_save(m, t, LM_F64, path, &err), LM_ENUMERIC);
        cr_assert(strstr(err.msg, "layers.2.body.1.weight[7]"), "%s", err.msg);
        lm_free(t);
    }
    {
        /* an MLP checkpoint (layers.0.weight, ...) is not this model's */
        const size_t w[] = {6, 6, 6}; /* layers.1.weight [6, 6] matches by chance */
        lm_mlp *mlp = model(3, w, 1);
        double *t = theta_of(mlp, 7);
        lm_err err = {0};
        cr_assert_eq(lm_mlp_save(mlp, t, LM_F64, path, &err), LM_OK, "%s", err.msg);
        expect_load_fail(m, path, LM_ENOTFOUND, "missing tensor layers.2.body.1.weight");
        lm_free(t);
        lm_mlp_free(mlp);
    }
    lm_mlp_free(m);
    unlink(path);
    LM_CHECK_LEAKS();
}

/* conv2d weights are 4-D [out, in, kh, kw] (nn.Conv2d's), layer norm's weight and bias [d];
 * the common mistake of a flattened [out, in*kh*kw] conv weight is named. */
Test(checkpoint, graph_conv_and_layernorm_tensors) {
    lm_mlp_spec s = lm_mlp_spec_default();
    lm_layer_spec ls[] = {ls_of(LM_LAYER_CONV2D, 4, -1), ls_of(LM_LAYER_ACT, 0, -1),
                          ls_of(LM_LAYER_FLATTEN, 0, -1), ls_of(LM_LAYER_LAYERNORM, 0, -1),
                          ls_of(LM_LAYER_LINEAR, 2, -1)};
    ls[0].kernel = 3, ls[0].stride = 1, ls[0].padding = 1;
    ls[1].act = LM_ACT_RELU;
    memcpy(s.layers, ls, sizeof ls);
    s.n_layer_specs = 5;
    s.n_input_shape = 3;
    s.input_shape[0] = 3, s.input_shape[1] = 5, s.input_shape[2] = 5;
    lm_mlp *m = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&s, &m, &err), LM_OK, "%s", err.msg);
    double *t = theta_of(m, 8), *u = lm_calloc(m->n_params, sizeof *u);
    char path[256];
    lm_tmp_path(path, sizeof path, "gconv.safetensors");
    cr_assert_eq(lm_mlp_save(m, t, LM_F64, path, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_mlp_load(m, path, u, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(memcmp(t, u, m->n_params * sizeof *t), 0);
    lm_safetensors *st = NULL;
    cr_assert_eq(lm_safetensors_read(path, &st, &err), LM_OK, "%s", err.msg);
    const lm_array *w = lm_safetensors_get(st, "layers.0.weight");
    cr_assert_not_null(w);
    cr_assert_eq(w->ndim, 4);
    cr_assert(w->shape[0] == 4 && w->shape[1] == 3 && w->shape[2] == 3 && w->shape[3] == 3);
    /* weight[o, c, i, j] is theta[w_off + ((o*3 + c)*3 + i)*3 + j] */
    cr_assert_eq(lm_array_get(w, ((2 * 3 + 1) * 3 + 2) * 3 + 0),
                 t[m->layer[0].w_off + ((2 * 3 + 1) * 3 + 2) * 3 + 0]);
    const lm_array *g = lm_safetensors_get(st, "layers.3.weight"),
                   *b = lm_safetensors_get(st, "layers.3.bias");
    cr_assert(g && b);
    cr_assert(g->ndim == 1 && g->shape[0] == 100 && b->ndim == 1 && b->shape[0] == 100);
    lm_safetensors_free(st);

    /* the conv weight flattened to [4, 27] */
    const char *names[] = {"layers.0.weight", "layers.0.bias",   "layers.3.weight",
                           "layers.3.bias",   "layers.4.weight", "layers.4.bias"};
    const size_t shapes[][2] = {{4, 27}, {4, 0}, {100, 0}, {100, 0}, {2, 100}, {2, 0}};
    const size_t nd[] = {2, 1, 1, 1, 2, 1};
    write_tensors(path, 6, names, shapes, nd, LM_ELT_F64);
    expect_load_fail(m, path, LM_ESHAPE,
                     "layers.0.weight has shape [4, 27], the model expects [4, 3, 3, 3] (a conv2d "
                     "weight is [out, in, kh, kw]");
    lm_free(t);
    lm_free(u);
    lm_mlp_free(m);
    unlink(path);
    LM_CHECK_LEAKS();
}
