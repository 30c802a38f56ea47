/* Tests for the .npy reader (src/data/npy.c) and for lm_data_load on .npy files: every dtype, the
 * header dialects numpy writes, v2/v3 headers, and every refusal with the message it must give. */
#include "lm_test.h"
#include "lmech/data.h"

#include <string.h>

/* Builds a .npy file of format version `major` with the given dict text (padded with spaces and
 * a newline to a multiple of 64, as numpy does) and data. Returns the length. */
static size_t make_npy(uint8_t *buf, int major, const char *dict, const void *data, size_t len) {
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hlen = ((pre + dl + 1 + 63) / 64) * 64 - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t) major;
    buf[7] = 0;
    buf[8] = (uint8_t) hlen;
    buf[9] = (uint8_t) (hlen >> 8);
    if (major != 1) {
        buf[10] = (uint8_t) (hlen >> 16);
        buf[11] = (uint8_t) (hlen >> 24);
    }
    memset(buf + pre, ' ', hlen);
    memcpy(buf + pre, dict, dl);
    buf[pre + hlen - 1] = '\n';
    memcpy(buf + pre + hlen, data, len);
    return pre + hlen + len;
}

static lm_array *parse_ok(const uint8_t *buf, size_t n) {
    lm_array *a = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_npy_parse(buf, n, "t.npy", &a, &err), LM_OK, "%s", err.msg);
    return a;
}

/* np.save of an F-contiguous array (e.g. X.T) writes column-major data with fortran_order True:
 * the reader must give numpy's shape and values in row-major order. */
Test(npy, fortran_order) {
    uint8_t buf[1024];
    /* [[0, 1, 2], [3, 4, 5]] stored column-major, big-endian to cover the swap after the permute */
    double f2[6] = {0, 3, 1, 4, 2, 5};
    size_t n = make_npy(buf, 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", f2,
                        sizeof f2);
    lm_array *a = parse_ok(buf, n);
    cr_assert_eq(a->ndim, 2);
    cr_assert(a->shape[0] == 2 && a->shape[1] == 3);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(((double *) a->data)[i], (double) i, "element %d", i);
    lm_array_free(a);
    /* 3-d int16, value 100 i + 10 j + k at F offset i + 2 j + 6 k */
    int16_t f3[24];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++)
                f3[i + 2 * j + 6 * k] = (int16_t) (100 * i + 10 * j + k);
    n = make_npy(buf, 2, "{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3, 4), }", f3,
                 sizeof f3);
    a = parse_ok(buf, n);
    cr_assert(a->ndim == 3 && a->shape[2] == 4);
    for (int c = 0; c < 24; c++)
        cr_assert_eq(((int16_t *) a->data)[c], 100 * (c / 12) + 10 * (c / 4 % 3) + c % 4,
                     "element %d", c);
    lm_array_free(a);
    /* big-endian float32, column-major */
    uint8_t be[24];
    const float fv[6] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6; i++) {
        uint8_t b[4];
        memcpy(b, &fv[i], 4);
        for (int k = 0; k < 4; k++)
            be[4 * i + k] = b[3 - k];
    }
    n = make_npy(buf, 1, "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3), }", be, 24);
    a = parse_ok(buf, n);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(((float *) a->data)[i], (float) i, "element %d", i);
    lm_array_free(a);
    /* 1-d and empty arrays are the same in either order */
    n = make_npy(buf, 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (0, 3), }", f2, 0);
    a = parse_ok(buf, n);
    cr_assert(a->count == 0);
    lm_array_free(a);
}

Test(npy, every_dtype) {
    uint8_t buf[512];
    const double want[3] = {-2.385, 0.0, 117.0};
    struct {
        const char *descr;
        lm_elt elt;
    } t[] = {{"<f4", LM_ELT_F32}, {"<f8", LM_ELT_F64}, {"|u1", LM_ELT_U8},  {"<i4", LM_ELT_I32},
             {"<i8", LM_ELT_I64}, {"|i1", LM_ELT_I8},  {"<i2", LM_ELT_I16}, {"=f8", LM_ELT_F64}};
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        uint8_t data[24];
        size_t esz = lm_elt_size(t[k].elt);
        double expect[3];
        for (int i = 0; i < 3; i++) {
            double v = t[k].elt == LM_ELT_U8 ? (i == 0 ? 200.0 : want[i]) : want[i];
            if (t[k].elt != LM_ELT_F32 && t[k].elt != LM_ELT_F64)
                v = i == 0 && t[k].elt != LM_ELT_U8 ? -2.0 : v;
            union {
                uint8_t u8;
                int8_t i8;
                int16_t i16;
                int32_t i32;
                int64_t i64;
                float f32;
                double f64;
            } u;
            switch (t[k].elt) {
            case LM_ELT_U8:
                u.u8 = (uint8_t) v;
                break;
            case LM_ELT_I8:
                u.i8 = (int8_t) v;
                break;
            case LM_ELT_I16:
                u.i16 = (int16_t) v;
                break;
            case LM_ELT_I32:
                u.i32 = (int32_t) v;
                break;
            case LM_ELT_I64:
                u.i64 = (int64_t) v;
                break;
            case LM_ELT_F32:
                u.f32 = (float) v;
                v = (double) u.f32;
                break;
            case LM_ELT_F64:
                u.f64 = v;
                break;
            }
            expect[i] = v;
            memcpy(data + (size_t) i * esz, &u, esz);
        }
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (3,), }",
                 t[k].descr);
        size_t n = make_npy(buf, 1, dict, data, 3 * esz);
        lm_array *a = parse_ok(buf, n);
        cr_assert_eq(a->elt, t[k].elt, "%s", t[k].descr);
        cr_assert_eq(a->ndim, 1);
        cr_assert_eq(a->shape[0], 3);
        for (size_t i = 0; i < 3; i++)
            cr_assert_eq(lm_array_get(a, i), expect[i], "%s element %zu: %g", t[k].descr, i,
                         lm_array_get(a, i));
        lm_array_free(a);
    }
    LM_CHECK_LEAKS();
}

Test(npy, bool_and_big_endian_are_read) {
    uint8_t buf[256], b[4] = {1, 0, 0, 1};
    size_t n = make_npy(buf, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }", b, 4);
    lm_array *a = parse_ok(buf, n);
    cr_assert_eq(a->elt, LM_ELT_U8);
    cr_assert_eq(memcmp(a->data, b, 4), 0);
    lm_array_free(a);
    /* '>f8' is byte-swapped on load: 1.5 is 3F F8 00 .. 00 in big-endian. */
    uint8_t be[16] = {0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0xC0, 0x02, 0, 0, 0, 0, 0, 0};
    n = make_npy(buf, 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", be, 16);
    a = parse_ok(buf, n);
    cr_assert_eq(lm_array_get(a, 0), 1.5);
    cr_assert_eq(lm_array_get(a, 1), -2.25);
    lm_array_free(a);
    uint8_t bi[4] = {0x01, 0x02, 0x03, 0x04};
    n = make_npy(buf, 1, "{'descr': '>i4', 'fortran_order': False, 'shape': (1,), }", bi, 4);
    a = parse_ok(buf, n);
    cr_assert_eq(lm_array_get(a, 0), (double) 0x01020304);
    lm_array_free(a);
    LM_CHECK_LEAKS();
}

Test(npy, header_dialects_and_versions) {
    uint8_t buf[512];
    double v[6] = {1, 2, 3, 4, 5, 6.5};
    const char *dicts[] = {
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
        "{\"shape\":(2,3),\"descr\":\"<f8\",\"fortran_order\":False}",
        "{ 'fortran_order' : False ,\n 'shape' : ( 2 , 3 , ) , 'descr' : '<f8' }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L), }",
    };
    for (int major = 1; major <= 3; major++)
        for (size_t k = 0; k < 4; k++) {
            size_t n = make_npy(buf, major, dicts[k], v, sizeof v);
            lm_array *a = parse_ok(buf, n);
            cr_assert_eq(a->ndim, 2, "v%d dict %zu", major, k);
            cr_assert_eq(a->shape[0], 2);
            cr_assert_eq(a->shape[1], 3);
            cr_assert_eq(memcmp(a->data, v, sizeof v), 0);
            lm_array_free(a);
        }
    /* 0-d array "()" holds one element. */
    size_t n = make_npy(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", v, 8);
    lm_array *a = parse_ok(buf, n);
    cr_assert_eq(a->ndim, 0);
    cr_assert_eq(a->count, 1);
    cr_assert_eq(lm_array_get(a, 0), 1.0);
    lm_array_free(a);
    /* An empty array (0 rows) is valid. */
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", v, 0);
    a = parse_ok(buf, n);
    cr_assert_eq(a->count, 0);
    lm_array_free(a);
    LM_CHECK_LEAKS();
}

static void expect_fail(const uint8_t *buf, size_t n, lm_status code, const char *part) {
    lm_array *a = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_npy_parse(buf, n, "bad.npy", &a, &err), code, "got %d: %s", err.code, err.msg);
    cr_assert_null(a);
    cr_assert(strstr(err.msg, "bad.npy"), "message does not name the file: %s", err.msg);
    cr_assert(strstr(err.msg, part), "'%s' not in: %s", part, err.msg);
}

Test(npy, malformed_inputs_are_refused) {
    uint8_t buf[512];
    float v[6] = {1, 2, 3, 4, 5, 6};
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    size_t n = make_npy(buf, 1, ok, v, sizeof v);
    expect_fail(buf, n - 4, LM_EFORMAT,
                "truncated: header says 2x3 float32 (24 bytes of data), file has 20");
    buf[n] = 0;
    expect_fail(buf, n + 2, LM_EFORMAT, "2 trailing bytes after the 24 bytes");
    expect_fail(buf, 40, LM_EFORMAT, "truncated npy header");
    expect_fail((const uint8_t *) "\x93NUMPX\x01\x00\x10\x00", 10, LM_EFORMAT, "bad magic");
    expect_fail(buf, 5, LM_EFORMAT, "bad magic");
    buf[6] = 4;
    expect_fail(buf, n, LM_EUNSUPPORTED, "version 4.0");
    struct {
        const char *dict;
        lm_status code;
        const char *part;
    } bad[] = {
        {"{'descr': '<u4', 'fortran_order': False, 'shape': (2, 3), }", LM_EUNSUPPORTED,
         "dtype '<u4' is not supported"},
        {"{'descr': '|f4', 'fortran_order': False, 'shape': (2, 3), }", LM_EUNSUPPORTED,
         "dtype '|f4'"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3), }", LM_EUNSUPPORTED,
         "structured"},
        {"{'descr': '<f4', 'shape': (2, 3), }", LM_EFORMAT, "lacks 'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", LM_EFORMAT,
         "unknown key 'x'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", LM_EFORMAT,
         "'descr' given twice"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", LM_EFORMAT,
         "other than sizes"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", LM_EFORMAT,
         "more than 8 dimensions"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", LM_EFORMAT, "malformed"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
         LM_EFORMAT, "overflows"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16)}",
         LM_EFORMAT, "overflows"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000)}", LM_EFORMAT,
         "truncated"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }", LM_EFORMAT, "True/False"},
        {"['descr', '<f4']", LM_EFORMAT, "not a dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } x", LM_EFORMAT,
         "after the dict"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        n = make_npy(buf, 1, bad[k].dict, v, sizeof v);
        expect_fail(buf, n, bad[k].code, bad[k].part);
    }
    LM_CHECK_LEAKS();
}

/* ---------------------------------------------------------------- lm_data_load on .npy */

static void write_npy(const char *path, const char *descr, const char *shape, const void *data,
                      size_t len) {
    static uint8_t buf[1 << 16];
    char dict[160];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
             shape);
    size_t n = make_npy(buf, 1, dict, data, len);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
}

typedef struct files {
    char x[256], y[256], tx[256], ty[256];
} files;

static void tmp_files(files *f) {
    lm_tmp_path(f->x, sizeof f->x, "x.npy");
    lm_tmp_path(f->y, sizeof f->y, "y.npy");
    lm_tmp_path(f->tx, sizeof f->tx, "tx.npy");
    lm_tmp_path(f->ty, sizeof f->ty, "ty.npy");
}

static void rm_files(const files *f) {
    remove(f->x);
    remove(f->y);
    remove(f->tx);
    remove(f->ty);
}

static lm_data_spec npy_spec(const files *f, int with_test) {
    lm_data_spec s = lm_data_spec_default();
    s.source = LM_DATA_NPY;
    snprintf(s.x, sizeof s.x, "%s", f->x);
    snprintf(s.y, sizeof s.y, "%s", f->y);
    if (with_test) {
        snprintf(s.test_x, sizeof s.test_x, "%s", f->tx);
        snprintf(s.test_y, sizeof s.test_y, "%s", f->ty);
    }
    return s;
}

Test(npy_load, integer_labels_become_targets) {
    files f;
    tmp_files(&f);
    /* x [4, 2, 2] float32 images, y int64 labels with max 3 in train and 4 in test. */
    float x[16], tx[8];
    for (int i = 0; i < 16; i++)
        x[i] = (float) i * 0.5f;
    for (int i = 0; i < 8; i++)
        tx[i] = (float) -i;
    int64_t y[4] = {3, 0, 2, 1}, ty[2] = {4, 0};
    write_npy(f.x, "<f4", "(4, 2, 2)", x, sizeof x);
    write_npy(f.y, "<i8", "(4,)", y, sizeof y);
    write_npy(f.tx, "<f4", "(2, 2, 2)", tx, sizeof tx);
    write_npy(f.ty, "<i8", "(2,)", ty, sizeof ty);
    lm_data_spec s = npy_spec(&f, 1);
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(tr->n, 4);
    cr_assert_eq(tr->d, 4);
    cr_assert_eq(tr->n_classes, 5); /* max label over train and test, plus one */
    cr_assert_eq(tr->k, 5);
    cr_assert_eq(te->k, 5);
    cr_assert_eq(tr->x[5], 2.5); /* normalize default for npy is none */
    cr_assert_eq(tr->labels[0], 3);
    cr_assert_eq(tr->y[0 * 5 + 3], 1.0);
    cr_assert_eq(tr->y[0 * 5 + 2], 0.0);
    cr_assert_eq(te->labels[0], 4);
    cr_assert_eq(te->x[7], -7.0);
    lm_dataset_free(tr);
    lm_dataset_free(te);
    /* pool 2 on [n, 2, 2] images: one pixel, the mean of four. */
    s.pool = 2;
    s.targets = LM_TARGETS_PARITY;
    cr_assert_eq(lm_data_load(&s, 1, &tr, NULL, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(tr->d, 1);
    cr_assert_eq(tr->k, 1);
    cr_assert_eq(tr->x[1], (2.0 + 2.5 + 3.0 + 3.5) / 4);
    cr_assert_eq(tr->y[0], -1.0); /* label 3 is odd  */
    cr_assert_eq(tr->y[1], 1.0);  /* label 0 is even */
    lm_dataset_free(tr);
    rm_files(&f);
    LM_CHECK_LEAKS();
}

Test(npy_load, float_targets_are_used_as_is) {
    files f;
    tmp_files(&f);
    double x[6] = {1, 2, 3, 4, 5, 6}, y[6] = {0.5, -1, 2, 3.25, -4, 5};
    write_npy(f.x, "<f8", "(3, 2)", x, sizeof x);
    write_npy(f.y, "<f8", "(3, 2)", y, sizeof y);
    lm_data_spec s = npy_spec(&f, 0);
    s.normalize = LM_NORM_STANDARDIZE;
    lm_dataset *tr = NULL, *te = (lm_dataset *) (uintptr_t) 1;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert_null(te); /* no test files: no test set */
    cr_assert_null(tr->labels);
    cr_assert_eq(tr->n_classes, 0);
    cr_assert_eq(tr->k, 2);
    cr_assert_eq(memcmp(tr->y, y, sizeof y), 0);
    /* Column 0 is 1, 3, 5: mean 3, population std sqrt(8/3). */
    cr_assert(lm_close(tr->x[0], -2.0 / sqrt(8.0 / 3.0), 1e-15, 1e-15));
    lm_dataset_free(tr);
    /* 1-d float y is a regression target with k = 1. */
    write_npy(f.y, "<f8", "(3,)", y, 24);
    cr_assert_eq(lm_data_load(&s, 1, &tr, NULL, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(tr->k, 1);
    cr_assert_eq(tr->y[2], 2.0);
    lm_dataset_free(tr);
    rm_files(&f);
    LM_CHECK_LEAKS();
}

static void load_fails(const lm_data_spec *s, lm_status code, const char *p1, const char *p2) {
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(s, 1, &tr, &te, &err), code, "got %d: %s", err.code, err.msg);
    cr_assert_null(tr);
    cr_assert_null(te);
    cr_assert(strstr(err.msg, p1), "'%s' not in: %s", p1, err.msg);
    if (p2)
        cr_assert(strstr(err.msg, p2), "'%s' not in: %s", p2, err.msg);
}

Test(npy_load, nan_inf_and_shape_errors_name_file_row_column) {
    files f;
    tmp_files(&f);
    double x[8] = {1, 2, 3, 4, 5, LM_NAN, 7, 8}, y[4] = {0, 1, 0, 1};
    int32_t lab[4] = {0, 1, 0, 1};
    write_npy(f.x, "<f8", "(4, 2)", x, sizeof x);
    write_npy(f.y, "<i4", "(4,)", lab, sizeof lab);
    lm_data_spec s = npy_spec(&f, 0);
    load_fails(&s, LM_ENUMERIC, f.x, "NaN at row 2, column 1");
    x[5] = 5;
    write_npy(f.x, "<f8", "(4, 2)", x, sizeof x);
    y[3] = -LM_INF;
    write_npy(f.y, "<f8", "(4, 1)", y, sizeof y);
    load_fails(&s, LM_ENUMERIC, f.y, "-Inf at row 3, column 0");
    write_npy(f.y, "<i4", "(3,)", lab, 12);
    load_fails(&s, LM_ESHAPE, f.x, f.y);
    lab[2] = -1;
    write_npy(f.y, "<i4", "(4,)", lab, sizeof lab);
    load_fails(&s, LM_ERANGE, "label -1 at row 2", f.y);
    lab[2] = 0;
    write_npy(f.y, "<i4", "(4,)", lab, sizeof lab);
    s.train_size = 5;
    load_fails(&s, LM_ERANGE, "train_size = 5", "only 4");
    s.train_size = LM_ALL;
    s.pool = 2;
    load_fails(&s, LM_ESHAPE, "pool 2 needs images", f.x);
    s.pool = 1;
    /* test files: both or neither; test rows must match train rows. */
    snprintf(s.test_x, sizeof s.test_x, "%s", f.tx);
    load_fails(&s, LM_EINVAL, "test_x and test_y go together", NULL);
    snprintf(s.test_y, sizeof s.test_y, "%s", f.ty);
    write_npy(f.tx, "<f8", "(2, 3)", x, 48);
    write_npy(f.ty, "<i4", "(2,)", lab, 8);
    load_fails(&s, LM_ESHAPE, f.tx, "rows of");
    write_npy(f.tx, "<f8", "(2, 2)", x, 32);
    write_npy(f.ty, "<f8", "(2, 1)", y, 16);
    load_fails(&s, LM_ESHAPE, "different kinds of targets", f.ty);
    remove(f.tx);
    load_fails(&s, LM_EIO, f.tx, NULL);
    s.test_x[0] = s.test_y[0] = '\0';
    s.test_size = 10;
    load_fails(&s, LM_EINVAL, "test_size = 10", NULL);
    rm_files(&f);
    LM_CHECK_LEAKS();
}

Test(npy_load, out_of_memory_at_every_allocation_is_clean) {
    files f;
    tmp_files(&f);
    float x[12] = {0};
    uint8_t lab[3] = {2, 0, 1};
    write_npy(f.x, "<f4", "(3, 2, 2)", x, sizeof x);
    write_npy(f.y, "|u1", "(3,)", lab, 3);
    write_npy(f.tx, "<f4", "(3, 2, 2)", x, sizeof x);
    write_npy(f.ty, "|u1", "(3,)", lab, 3);
    lm_data_spec s = npy_spec(&f, 1);
    s.pool = 2;
    s.normalize = LM_NORM_STANDARDIZE;
    s.subset = LM_SUBSET_RANDOM;
    lm_allocator al = {lm_test_failing_alloc, lm_test_free, NULL};
    lm_set_allocator(&al);
    int ok = 0;
    for (lm_test_fail_at = 1; lm_test_fail_at < 100 && !ok; lm_test_fail_at++) {
        lm_test_calls = 0;
        lm_dataset *tr = NULL, *te = NULL;
        lm_err err = {0};
        lm_status st = lm_data_load(&s, 3, &tr, &te, &err);
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
    rm_files(&f);
    LM_CHECK_LEAKS();
}
