/* Tests for the token-sequence sets (src/data/tokens.c, modadd's token encoding in synth.c): the
 * exact windows of a text file, modadd tokens against the one-hot encoding's split, .npy token
 * arrays with last- and every-position targets, the y layout the accuracy helpers read, and every
 * refusal with the words it must use. Fixtures are written by the tests into /tmp. */
#include "lm_test.h"
#include "lmech/data.h"
#include "lmech/io.h"
#include "lmech/loss.h"

#include <string.h>

/* A byte file of len bytes: byte i = (37 i + 11) mod 256, so every byte value differs from its
 * neighbours and high bytes (> 127) occur: a signed-char bug would show. */
static void write_text(const char *path, size_t len) {
    uint8_t *b = malloc(len ? len : 1);
    cr_assert_not_null(b);
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t) ((37 * i + 11) % 256);
    lm_err err = {0};
    cr_assert_eq(lm_file_write_atomic(path, b, len, &err), LM_OK, "%s", err.msg);
    free(b);
}

static uint8_t text_byte(size_t i) {
    return (uint8_t) ((37 * i + 11) % 256);
}

static lm_data_spec text_spec(const char *path, size_t T, size_t stride, double test_frac) {
    lm_data_spec s = lm_data_spec_default();
    s.source = LM_DATA_TEXT;
    snprintf(s.path, sizeof s.path, "%s", path);
    s.context = T;
    s.stride = stride;
    s.test_frac = test_frac;
    return s;
}

/* Loads spec, expects code and a message containing every one of the NULL-ended parts. */
static void load_fails(const lm_data_spec *s, lm_status code, const char *const *parts) {
    lm_dataset *tr = (lm_dataset *) &tr, *te = NULL;
    lm_err err = {0};
    lm_status st = lm_data_load(s, 1, &tr, &te, &err);
    cr_assert_eq(st, code, "expected code %d, got %d: %s", code, st, err.msg);
    for (size_t i = 0; parts[i]; i++)
        cr_assert(strstr(err.msg, parts[i]), "message \"%s\" lacks \"%s\"", err.msg, parts[i]);
    cr_assert_eq(tr, (lm_dataset *) &tr, "output written on failure");
}

/* Checks that y [n, P V] is the one-hot of labels [n P] (data.h's layout), that argmax of each
 * (example, position) row gives the label, and that lm_accuracy reads it as the convention says:
 * with (n P, V), y against itself is 1, and moving one position's 1 costs exactly 1 / (n P). */
static void check_layout(const lm_dataset *ds, size_t P, size_t V) {
    cr_assert_eq(ds->positions, P);
    cr_assert_eq(ds->n_classes, V);
    cr_assert_eq(ds->k, P * V);
    for (size_t i = 0; i < ds->n; i++)
        for (size_t t = 0; t < P; t++) {
            const double *row = ds->y + i * P * V + t * V;
            const int32_t c = ds->labels[i * P + t];
            cr_assert(c >= 0 && (size_t) c < V);
            for (size_t j = 0; j < V; j++)
                cr_assert_eq(row[j], (size_t) c == j ? 1.0 : 0.0, "row %zu position %zu class %zu",
                             i, t, j);
        }
    const size_t rows = ds->n * P;
    cr_assert_eq(lm_accuracy(ds->y, ds->y, rows, V), 1.0);
    double *f = malloc(ds->n * ds->k * sizeof *f);
    cr_assert_not_null(f);
    memcpy(f, ds->y, ds->n * ds->k * sizeof *f);
    /* the last position of the first example now predicts another class */
    double *last = f + (P - 1) * V;
    const size_t c = (size_t) ds->labels[P - 1];
    last[c] = 0.0;
    last[(c + 1) % V] = 1.0;
    cr_assert(lm_close(lm_accuracy(f, ds->y, rows, V), 1.0 - 1.0 / (double) rows, 1e-15, 0.0));
    free(f);
}

/* ---------------------------------------------------------------- text */

/* 30 bytes, T = 4, stride 3: W = (30 - 5) / 3 + 1 = 9 windows; test_frac 0.25 gives
 * round(6.75) = 7 training windows (starts 0, 3, ..., 18) and 2 test windows (21, 24). */
Test(tokens, text_exact_windows) {
    char path[256];
    lm_tmp_path(path, sizeof path, "text-exact");
    write_text(path, 30);
    lm_data_spec s = text_spec(path, 4, 3, 0.25);
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(tr->n, 7);
    cr_assert_eq(te->n, 2);
    cr_assert_eq(tr->d, 4);
    lm_dataset *sets[2] = {tr, te};
    const size_t first[2] = {0, 7};
    for (int k = 0; k < 2; k++) {
        check_layout(sets[k], 4, 256);
        for (size_t i = 0; i < sets[k]->n; i++) {
            const size_t s0 = (first[k] + i) * 3;
            for (size_t t = 0; t < 4; t++) {
                cr_assert_eq(sets[k]->x[i * 4 + t], (double) text_byte(s0 + t));
                cr_assert_eq(sets[k]->labels[i * 4 + t], (int32_t) text_byte(s0 + t + 1));
            }
        }
    }
    /* the float32 copy keeps the layout */
    lm_dataset_f32 *f32 = NULL;
    cr_assert_eq(lm_dataset_to_f32(tr, &f32, &err), LM_OK, "%s", err.msg);
    cr_assert(f32->positions == 4 && f32->k == 4 * 256 && f32->d == 4);
    cr_assert_eq(f32->y[2 * 1024 + 3 * 256 + (size_t) tr->labels[2 * 4 + 3]], 1.0f);
    lm_dataset_f32_free(f32);
    lm_dataset_free(tr);
    lm_dataset_free(te);
    /* default stride = context: W = (30 - 5) / 4 + 1 = 7, test_frac 0 keeps all 7 for training
     * and builds no test set */
    s = text_spec(path, 4, 0, 0.0);
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(tr->n, 7);
    cr_assert_null(te);
    for (size_t i = 0; i < 7; i++)
        for (size_t t = 0; t < 4; t++)
            cr_assert_eq(tr->x[i * 4 + t], (double) text_byte(4 * i + t));
    lm_dataset_free(tr);
    unlink(path);
    LM_CHECK_LEAKS();
}

/* A random subset of 5 of the 7 training windows: distinct training windows (none from the test
 * part), and the same choice for the same seed. */
Test(tokens, text_random_subset) {
    char path[256];
    lm_tmp_path(path, sizeof path, "text-subset");
    write_text(path, 30);
    lm_data_spec s = text_spec(path, 4, 3, 0.25);
    s.subset = LM_SUBSET_RANDOM;
    s.train_size = 5;
    s.test_size = 1;
    lm_dataset *tr = NULL, *te = NULL, *tr2 = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 4, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(tr->n, 5);
    cr_assert_eq(te->n, 1);
    int seen[7] = {0};
    for (size_t i = 0; i < 5; i++) {
        int w = -1;
        for (int c = 0; c < 7 && w < 0; c++)
            if (tr->x[i * 4] == (double) text_byte((size_t) c * 3) &&
                tr->x[i * 4 + 3] == (double) text_byte((size_t) c * 3 + 3))
                w = c;
        cr_assert(w >= 0, "row %zu is no training window", i);
        cr_assert_eq(seen[w]++, 0, "window %d twice", w);
    }
    const double t0 = te->x[0];
    cr_assert(t0 == (double) text_byte(21) || t0 == (double) text_byte(24));
    cr_assert_eq(lm_data_load(&s, 4, &tr2, NULL, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(memcmp(tr->x, tr2->x, 5 * 4 * sizeof(double)), 0);
    lm_dataset_free(tr);
    lm_dataset_free(tr2);
    lm_dataset_free(te);
    unlink(path);
    LM_CHECK_LEAKS();
}

Test(tokens, text_errors) {
    char path[256], missing[256];
    lm_tmp_path(path, sizeof path, "text-short");
    lm_tmp_path(missing, sizeof missing, "text-missing");
    write_text(path, 4);
    lm_data_spec s = text_spec(missing, 4, 0, 0.1);
    load_fails(&s, LM_EIO, (const char *[]){missing, "cannot open", NULL});
    s = text_spec(path, 4, 0, 0.1);
    load_fails(&s, LM_ESHAPE, (const char *[]){path, "4 bytes", "data.context 4 needs 5", NULL});
    s = text_spec(path, 0, 0, 0.1);
    load_fails(&s, LM_EINVAL, (const char *[]){"data.context = 0", NULL});
    s = text_spec("", 4, 0, 0.1);
    load_fails(&s, LM_EINVAL, (const char *[]){"data.path", NULL});
    /* one window (5 bytes, T = 4): test_frac 0.6 rounds the training part to 0 */
    write_text(path, 5);
    s = text_spec(path, 4, 0, 0.6);
    load_fails(&s, LM_EINVAL, (const char *[]){path, "data.test_frac = 0.6", "1 windows", NULL});
    s = text_spec(path, 4, 0, 0.0);
    s.test_size = 1;
    load_fails(&s, LM_ERANGE, (const char *[]){"test_size = 1", "no test window", NULL});
    s = text_spec(path, 4, 0, 0.0);
    s.train_size = 2;
    load_fails(&s, LM_ERANGE, (const char *[]){"train_size = 2", "only 1", NULL});
    /* the rules of every token set */
    s = text_spec(path, 4, 0, 0.0);
    s.normalize = LM_NORM_STANDARDIZE;
    load_fails(&s, LM_EINVAL, (const char *[]){"data.normalize \"standardize\"", "none", NULL});
    s.normalize = LM_NORM_SCALE01;
    load_fails(&s, LM_EINVAL, (const char *[]){"data.normalize \"scale01\"", NULL});
    s.normalize = LM_NORM_SPHERE;
    load_fails(&s, LM_EINVAL, (const char *[]){"data.normalize \"sphere\"", NULL});
    s.normalize = LM_NORM_NONE;
    s.targets = LM_TARGETS_PM1;
    load_fails(&s, LM_EINVAL, (const char *[]){"data.targets \"pm1\"", "onehot", NULL});
    s.targets = LM_TARGETS_ONEHOT;
    s.vocab = 300;
    load_fails(&s, LM_EINVAL, (const char *[]){"data.vocab = 300", "vocab 256", NULL});
    s.vocab = 256;
    lm_dataset *tr = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 1, &tr, NULL, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(tr->n, 1);
    lm_dataset_free(tr);
    unlink(path);
    LM_CHECK_LEAKS();
}

/* The memory ceiling on a text set: 40000 bytes at context 64 and stride 1 are 39936 windows,
 * 39936 x 64 x 256 doubles = 4.875 GiB of one-hot targets, refused before any allocation with
 * the numbers; the same file with train_size and test_size 10 loads. */
Test(tokens, text_memory_ceiling) {
    char path[256];
    lm_tmp_path(path, sizeof path, "text-big");
    write_text(path, 40000);
    lm_data_spec s = text_spec(path, 64, 1, 0.1);
    load_fails(&s, LM_ERANGE,
               (const char *[]){path, "35942 + 3994 examples x 64 positions x vocab 256",
                                "4.88 GiB", "4 GiB ceiling", "data.stride", NULL});
    s.train_size = 10;
    s.test_size = 10;
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert(tr->n == 10 && te->n == 10 && tr->k == 64 * 256);
    /* the first test window starts at byte 35942 (stride 1) */
    cr_assert_eq(te->x[0], (double) text_byte(35942));
    cr_assert_eq(te->labels[63], (int32_t) text_byte(35942 + 64));
    lm_dataset_free(tr);
    lm_dataset_free(te);
    unlink(path);
    LM_CHECK_LEAKS();
}

/* ---------------------------------------------------------------- modadd */

/* The token encoding holds the same pairs, in the same order, as the one-hot encoding. */
Test(tokens, modadd_same_split_as_onehot) {
    lm_data_spec s = lm_data_spec_default();
    s.source = LM_DATA_MODADD;
    s.modulus = 7;
    s.train_frac = 0.4;
    lm_dataset *oh = NULL, *oh_te = NULL, *tk = NULL, *tk_te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 3, &oh, &oh_te, &err), LM_OK, "%s", err.msg);
    s.encoding = LM_ENCODING_TOKENS;
    cr_assert_eq(lm_data_load(&s, 3, &tk, &tk_te, &err), LM_OK, "%s", err.msg);
    lm_dataset *o[2] = {oh, oh_te}, *t[2] = {tk, tk_te};
    cr_assert_eq(tk->n, 20); /* round(0.4 * 49) */
    cr_assert_eq(tk_te->n, 29);
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(t[k]->n, o[k]->n);
        cr_assert_eq(t[k]->d, 3);
        check_layout(t[k], 1, 8);
        for (size_t i = 0; i < t[k]->n; i++) {
            const double *x = o[k]->x + i * 14;
            size_t a = 7, b = 7;
            for (size_t j = 0; j < 7; j++) {
                if (x[j] == 1.0)
                    a = j;
                if (x[7 + j] == 1.0)
                    b = j;
            }
            cr_assert_eq(t[k]->x[i * 3], (double) a);
            cr_assert_eq(t[k]->x[i * 3 + 1], (double) b);
            cr_assert_eq(t[k]->x[i * 3 + 2], 7.0, "the \"=\" token is p");
            cr_assert_eq(t[k]->labels[i], o[k]->labels[i]);
            cr_assert_eq(t[k]->y[i * 8 + 7], 0.0, "class p never occurs");
        }
    }
    lm_dataset_free(oh);
    lm_dataset_free(oh_te);
    lm_dataset_free(tk);
    lm_dataset_free(tk_te);
    s.vocab = 9;
    load_fails(&s, LM_EINVAL, (const char *[]){"data.vocab = 9", "modulus + 1 = 8", NULL});
    s.vocab = 0;
    s.targets = LM_TARGETS_INDEX;
    load_fails(&s, LM_EINVAL, (const char *[]){"data.targets \"index\"", NULL});
    /* vocab and tokens are refused where they mean nothing */
    s = lm_data_spec_default();
    s.source = LM_DATA_TEACHER;
    s.encoding = LM_ENCODING_TOKENS;
    load_fails(&s, LM_EINVAL, (const char *[]){"data.encoding \"tokens\"", "teacher", NULL});
    s.encoding = LM_ENCODING_ONEHOT;
    s.vocab = 5;
    load_fails(&s, LM_EINVAL, (const char *[]){"data.vocab = 5", "not a token set", NULL});
    LM_CHECK_LEAKS();
}

/* ---------------------------------------------------------------- npy */

static void write_npy(const char *path, lm_elt elt, size_t ndim, const size_t *shape,
                      const double *v) {
    lm_array *a = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_array_new(elt, ndim, shape, &a, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < a->count; i++)
        switch (elt) {
        case LM_ELT_I32:
            ((int32_t *) a->data)[i] = (int32_t) v[i];
            break;
        case LM_ELT_I64:
            ((int64_t *) a->data)[i] = (int64_t) v[i];
            break;
        case LM_ELT_U8:
            ((uint8_t *) a->data)[i] = (uint8_t) v[i];
            break;
        case LM_ELT_F64:
            ((double *) a->data)[i] = v[i];
            break;
        default:
            cr_assert_fail("unused element type");
        }
    cr_assert_eq(lm_npy_write(path, a, &err), LM_OK, "%s", err.msg);
    lm_array_free(a);
}

typedef struct npy_files {
    char x[256], y[256], tx[256], ty[256];
} npy_files;

static void npy_paths(npy_files *f) {
    lm_tmp_path(f->x, sizeof f->x, "tok-x.npy");
    lm_tmp_path(f->y, sizeof f->y, "tok-y.npy");
    lm_tmp_path(f->tx, sizeof f->tx, "tok-tx.npy");
    lm_tmp_path(f->ty, sizeof f->ty, "tok-ty.npy");
}

static void npy_unlink(const npy_files *f) {
    unlink(f->x);
    unlink(f->y);
    unlink(f->tx);
    unlink(f->ty);
}

static lm_data_spec npy_spec(const npy_files *f, int with_test) {
    lm_data_spec s = lm_data_spec_default();
    s.source = LM_DATA_NPY;
    s.encoding = LM_ENCODING_TOKENS;
    snprintf(s.x, sizeof s.x, "%s", f->x);
    snprintf(s.y, sizeof s.y, "%s", f->y);
    if (with_test) {
        snprintf(s.test_x, sizeof s.test_x, "%s", f->tx);
        snprintf(s.test_y, sizeof s.test_y, "%s", f->ty);
    }
    return s;
}

/* x [3, 4] int32 ids below 6, y [3] int64 (last position), test x [2, 4] uint8 with id 8 and y
 * [2]: the inferred vocab is 9 (the largest id, 8, is in the test inputs). */
Test(tokens, npy_last_position) {
    npy_files f;
    npy_paths(&f);
    const double x[12] = {0, 1, 2, 3, 5, 4, 3, 2, 1, 1, 0, 5}, y[3] = {4, 0, 2};
    const double tx[8] = {8, 0, 0, 1, 2, 2, 2, 2}, ty[2] = {3, 1};
    write_npy(f.x, LM_ELT_I32, 2, (size_t[]){3, 4}, x);
    write_npy(f.y, LM_ELT_I64, 1, (size_t[]){3}, y);
    write_npy(f.tx, LM_ELT_U8, 2, (size_t[]){2, 4}, tx);
    write_npy(f.ty, LM_ELT_I32, 1, (size_t[]){2}, ty);
    lm_data_spec s = npy_spec(&f, 1);
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert(tr->n == 3 && tr->d == 4 && te->n == 2 && te->d == 4);
    check_layout(tr, 1, 9);
    check_layout(te, 1, 9);
    for (size_t i = 0; i < 12; i++)
        cr_assert_eq(tr->x[i], x[i]);
    for (size_t i = 0; i < 8; i++)
        cr_assert_eq(te->x[i], tx[i]);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(tr->labels[i], (int32_t) y[i]);
    cr_assert_eq(te->labels[1], 1);
    lm_dataset_free(tr);
    lm_dataset_free(te);
    /* a given vocab wins (and is checked): 12 */
    s.vocab = 12;
    cr_assert_eq(lm_data_load(&s, 1, &tr, NULL, &err), LM_OK, "%s", err.msg);
    check_layout(tr, 1, 12);
    lm_dataset_free(tr);
    /* ... and an id at or above it is refused, naming the file, the value and its place */
    s.vocab = 8;
    load_fails(
        &s, LM_ERANGE,
        (const char *[]){f.tx, "x token id 8 at row 0, column 0", "0..7", "data.vocab", NULL});
    npy_unlink(&f);
    LM_CHECK_LEAKS();
}

/* y [2, 3]: every position, positions = 3, k = 3 V; subset and train_size apply. */
Test(tokens, npy_every_position) {
    npy_files f;
    npy_paths(&f);
    const double x[6] = {1, 2, 3, 3, 2, 1}, y[6] = {2, 3, 4, 2, 1, 0};
    write_npy(f.x, LM_ELT_I64, 2, (size_t[]){2, 3}, x);
    write_npy(f.y, LM_ELT_I32, 2, (size_t[]){2, 3}, y);
    lm_data_spec s = npy_spec(&f, 0);
    lm_dataset *tr = NULL, *te = (lm_dataset *) &te;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert_null(te);
    cr_assert(tr->n == 2 && tr->d == 3);
    check_layout(tr, 3, 5);
    /* position t's one-hot at y[i T V + t V ..] */
    cr_assert_eq(tr->y[1 * 15 + 2 * 5 + 0], 1.0);
    cr_assert_eq(tr->y[0 * 15 + 1 * 5 + 3], 1.0);
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(tr->labels[i], (int32_t) y[i]);
    lm_dataset_free(tr);
    s.train_size = 1;
    s.subset = LM_SUBSET_FIRST;
    cr_assert_eq(lm_data_load(&s, 1, &tr, NULL, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(tr->n, 1);
    cr_assert_eq(tr->labels[2], 4);
    lm_dataset_free(tr);
    npy_unlink(&f);
    LM_CHECK_LEAKS();
}

Test(tokens, npy_errors) {
    npy_files f;
    npy_paths(&f);
    const double x[6] = {1, 2, 3, 3, 2, 1}, y[2] = {2, 3}, neg[6] = {1, 2, 3, 3, -1, 1};
    const double fx[6] = {1, 2, 3, 3, 2, 1.5};
    write_npy(f.y, LM_ELT_I32, 1, (size_t[]){2}, y);
    /* a negative id */
    write_npy(f.x, LM_ELT_I32, 2, (size_t[]){2, 3}, neg);
    lm_data_spec s = npy_spec(&f, 0);
    load_fails(&s, LM_ERANGE, (const char *[]){f.x, "token id -1 at row 1, column 1", NULL});
    /* float x */
    write_npy(f.x, LM_ELT_F64, 2, (size_t[]){2, 3}, fx);
    load_fails(&s, LM_EFORMAT, (const char *[]){f.x, "float64", "2x3", "integer", NULL});
    /* x not [n, T] */
    write_npy(f.x, LM_ELT_I32, 1, (size_t[]){6}, x);
    load_fails(&s, LM_ESHAPE, (const char *[]){f.x, "shape 6", "[n, context]", NULL});
    /* y neither [n] nor [n, T] */
    write_npy(f.x, LM_ELT_I32, 2, (size_t[]){2, 3}, x);
    write_npy(f.y, LM_ELT_I32, 2, (size_t[]){2, 1}, y);
    load_fails(&s, LM_ESHAPE, (const char *[]){f.y, "2x1", "[2] (last position)", NULL});
    /* float y */
    write_npy(f.y, LM_ELT_F64, 1, (size_t[]){2}, y);
    load_fails(&s, LM_EFORMAT, (const char *[]){f.y, "float64", "integer ids", NULL});
    /* rows differ */
    write_npy(f.y, LM_ELT_I32, 1, (size_t[]){1}, y);
    load_fails(&s, LM_ESHAPE, (const char *[]){"has 2 rows", "has 1", NULL});
    /* test context differs from training context */
    write_npy(f.y, LM_ELT_I32, 1, (size_t[]){2}, y);
    write_npy(f.tx, LM_ELT_I32, 2, (size_t[]){3, 2}, x);
    write_npy(f.ty, LM_ELT_I32, 1, (size_t[]){3}, x);
    s = npy_spec(&f, 1);
    load_fails(&s, LM_ESHAPE, (const char *[]){"context 3", "context 2", NULL});
    /* truncated file: the npy reader's own message, naming the file */
    uint8_t *buf = NULL;
    size_t len = 0;
    lm_err err = {0};
    cr_assert_eq(lm_file_read(f.x, &buf, &len, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_file_write_atomic(f.x, buf, len - 5, &err), LM_OK, "%s", err.msg);
    lm_free(buf);
    s = npy_spec(&f, 0);
    load_fails(&s, LM_EFORMAT, (const char *[]){f.x, "truncated", NULL});
    /* normalisation and pooling make no sense on ids */
    write_npy(f.x, LM_ELT_I32, 2, (size_t[]){2, 3}, x);
    s.normalize = LM_NORM_STANDARDIZE_SPHERE;
    load_fails(&s, LM_EINVAL, (const char *[]){"data.normalize", NULL});
    s.normalize = LM_NORM_NONE;
    s.pool = 2;
    load_fails(&s, LM_EINVAL, (const char *[]){"data.pool = 2", NULL});
    /* the memory ceiling: one example of one position over 2^30 classes is 8 GiB of targets */
    s.pool = 1;
    s.vocab = (size_t) 1 << 30;
    load_fails(&s, LM_ERANGE,
               (const char *[]){"2 + 0 examples x 1 positions x vocab 1073741824", "16.00 GiB",
                                "4 GiB ceiling", NULL});
    npy_unlink(&f);
    LM_CHECK_LEAKS();
}

/* ---------------------------------------------------------------- out of memory */

/* Failing the k-th allocation of a text load and of an npy token load (train and test) gives
 * LM_ENOMEM, no output and no leak, until k passes the loads' allocations. */
static void oom_loop(const lm_data_spec *s) {
    lm_allocator fail = {lm_test_failing_alloc, lm_test_free, NULL};
    lm_set_allocator(&fail);
    int ok = 0;
    for (lm_test_fail_at = 1; lm_test_fail_at < 100 && !ok; lm_test_fail_at++) {
        lm_test_calls = 0;
        lm_dataset *tr = NULL, *te = NULL;
        lm_err err = {0};
        lm_status st = lm_data_load(s, 3, &tr, &te, &err);
        if (st == LM_OK) {
            ok = 1;
            lm_dataset_free(tr);
            lm_dataset_free(te);
        } else {
            cr_assert_eq(st, LM_ENOMEM, "allocation %d: %s", lm_test_fail_at, err.msg);
            cr_assert_null(tr);
            cr_assert_null(te);
        }
    }
    lm_set_allocator(NULL);
    cr_assert(ok);
}

Test(tokens, out_of_memory) {
    char path[256];
    lm_tmp_path(path, sizeof path, "text-oom");
    write_text(path, 40);
    lm_data_spec s = text_spec(path, 4, 3, 0.25);
    s.subset = LM_SUBSET_RANDOM;
    oom_loop(&s);
    unlink(path);
    npy_files f;
    npy_paths(&f);
    const double x[6] = {1, 2, 3, 3, 2, 1};
    write_npy(f.x, LM_ELT_I32, 2, (size_t[]){2, 3}, x);
    write_npy(f.y, LM_ELT_I32, 2, (size_t[]){2, 3}, x);
    write_npy(f.tx, LM_ELT_I32, 2, (size_t[]){2, 3}, x);
    write_npy(f.ty, LM_ELT_I32, 2, (size_t[]){2, 3}, x);
    lm_data_spec t = npy_spec(&f, 1);
    t.subset = LM_SUBSET_RANDOM;
    oom_loop(&t);
    npy_unlink(&f);
    LM_CHECK_LEAKS();
}
