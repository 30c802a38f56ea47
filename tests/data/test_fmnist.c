/* Tests for lm_data_load on the installed Fashion-MNIST files and on small IDX sets written here:
 * subsets, pooling, normalisation, targets and the errors (src/data/data.c). The real files are
 * inflated once per load (~0.5 s), so loads are kept few. */
#include "lm_test.h"
#include "lmech/data.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define PI 3.14159265358979323846

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

static lm_dataset *load_train(const lm_data_spec *s, uint64_t seed) {
    lm_dataset *tr = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(s, seed, &tr, NULL, &err), LM_OK, "%s", err.msg);
    return tr;
}

static lm_data_spec fmnist(size_t n) {
    lm_data_spec s = lm_data_spec_default();
    s.train_size = n;
    s.test_size = 0;
    return s;
}

/* ---------------------------------------------------------------- Fashion-MNIST */

Test(fmnist, first_100_scale01_and_test_set) {
    lm_data_spec s = fmnist(100);
    s.test_size = 50;
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(tr->n, 100);
    cr_assert_eq(tr->d, 784);
    cr_assert_eq(tr->k, 10);
    cr_assert_eq(tr->n_classes, 10);
    cr_assert_eq(te->n, 50);
    /* The first training image of Fashion-MNIST is an ankle boot (class 9); the first test image
     * too (both checked with zcat | od on the installed files). */
    cr_assert_eq(tr->labels[0], 9);
    cr_assert_eq(te->labels[0], 9);
    double lo = 1, hi = 0;
    for (size_t i = 0; i < tr->n * tr->d; i++) {
        lo = fmin(lo, tr->x[i]);
        hi = fmax(hi, tr->x[i]);
    }
    cr_assert(lo >= 0.0 && hi <= 1.0, "scale01 range [%g, %g]", lo, hi);
    cr_assert_eq(lo, 0.0);
    cr_assert_eq(hi, 1.0); /* some pixel is 255 in 100 images */
    for (size_t i = 0; i < tr->n; i++) {
        cr_assert(tr->labels[i] >= 0 && tr->labels[i] < 10);
        double sum = 0;
        for (size_t j = 0; j < 10; j++)
            sum += tr->y[i * 10 + j];
        cr_assert_eq(sum, 1.0);
        cr_assert_eq(tr->y[i * 10 + (size_t) tr->labels[i]], 1.0);
    }
    lm_dataset_free(tr);
    lm_dataset_free(te);
    LM_CHECK_LEAKS();
}

Test(fmnist, pooling_averages_source_pixels_before_scaling) {
    lm_data_spec s = fmnist(6);
    s.normalize = LM_NORM_NONE;
    lm_dataset *full = load_train(&s, 1);
    for (size_t p = 2; p <= 4; p *= 2) {
        /* pool 2 with the default scale01, pool 4 raw: pooling comes first in both. */
        s.pool = p;
        s.normalize = p == 2 ? LM_NORM_DEFAULT : LM_NORM_NONE;
        const double scale = p == 2 ? 255.0 : 1.0;
        lm_dataset *pooled = load_train(&s, 1);
        const size_t w = 28 / p;
        cr_assert_eq(pooled->d, w * w);
        for (size_t i = 0; i < 6; i++)
            for (size_t r = 0; r < w; r++)
                for (size_t c = 0; c < w; c++) {
                    double sum = 0;
                    for (size_t dr = 0; dr < p; dr++)
                        for (size_t dc = 0; dc < p; dc++)
                            sum += full->x[i * 784 + (r * p + dr) * 28 + c * p + dc];
                    /* Sums of at most 16 integers <= 255 times a power-of-two reciprocal are
                     * exact, and the division by 255 is the same single rounding: equal. */
                    cr_assert_eq(pooled->x[i * pooled->d + r * w + c],
                                 sum / (double) (p * p) / scale);
                }
        lm_dataset_free(pooled);
    }
    lm_dataset_free(full);
    LM_CHECK_LEAKS();
}

Test(fmnist, standardize_uses_training_statistics) {
    lm_data_spec s = fmnist(500);
    s.normalize = LM_NORM_STANDARDIZE;
    s.pool = 2;
    s.test_size = 200;
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_OK, "%s", err.msg);
    size_t constant = 0;
    double test_mean_dev = 0;
    for (size_t j = 0; j < tr->d; j++) {
        double m = 0, v = 0, tm = 0;
        for (size_t i = 0; i < tr->n; i++)
            m += tr->x[i * tr->d + j];
        m /= (double) tr->n;
        for (size_t i = 0; i < tr->n; i++)
            v += (tr->x[i * tr->d + j] - m) * (tr->x[i * tr->d + j] - m);
        v /= (double) tr->n;
        for (size_t i = 0; i < te->n; i++)
            tm += te->x[i * te->d + j];
        test_mean_dev += fabs(tm / (double) te->n);
        /* Values are O(10) after scaling; summing 500 of them leaves rounding of order
         * 500 * 1e-16 * 10 = 5e-13, so 1e-11 is a safe bound for an exact-zero mean. */
        cr_assert(fabs(m) < 1e-11, "column %zu mean %g", j, m);
        if (v == 0.0)
            constant++; /* a pixel that is 0 in all 500 images: centred only */
        else
            cr_assert(fabs(v - 1.0) < 1e-11, "column %zu variance %g", j, v);
    }
    cr_assert(constant < tr->d / 4);
    /* The test set uses the training statistics, so its column means are not all zero. */
    cr_assert(test_mean_dev > 1e-3);
    lm_dataset_free(tr);
    lm_dataset_free(te);
    LM_CHECK_LEAKS();
}

Test(fmnist, random_subsets_are_seeded) {
    lm_data_spec s = fmnist(200);
    s.subset = LM_SUBSET_RANDOM;
    s.normalize = LM_NORM_NONE;
    lm_dataset *a = load_train(&s, 11), *b = load_train(&s, 11), *c = load_train(&s, 12);
    cr_assert_eq(memcmp(a->x, b->x, 200 * 784 * sizeof(double)), 0);
    cr_assert_eq(memcmp(a->labels, b->labels, 200 * sizeof(int32_t)), 0);
    cr_assert_neq(memcmp(a->x, c->x, 200 * 784 * sizeof(double)), 0);
    size_t same = 0;
    for (size_t i = 0; i < 200; i++)
        same += a->labels[i] == c->labels[i];
    /* Independent draws agree on a label with probability 1/10: 200 draws give 20 +- 4.2, so
     * 60 would be a 9-sigma event. */
    cr_assert(same < 60, "%zu of 200 labels equal across seeds", same);
    lm_dataset_free(a);
    lm_dataset_free(b);
    lm_dataset_free(c);
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

Test(fmnist, errors_name_key_file_and_counts) {
    lm_data_spec s = fmnist(70000);
    load_fails(&s, LM_ERANGE, "train_size = 70000", "only 60000");
    s = fmnist(10);
    snprintf(s.dir, sizeof s.dir, "/nonexistent-lmech");
    load_fails(&s, LM_ENOTFOUND, "/nonexistent-lmech/train-images-idx3-ubyte.gz", NULL);
    s.dir[0] = '\0';
    s.source = LM_DATA_MNIST; /* not installed here: the error names where it looked */
    lm_dataset *tr = NULL;
    lm_err err = {0};
    if (lm_data_load(&s, 1, &tr, NULL, &err) == LM_OK)
        lm_dataset_free(tr);
    else
        cr_assert(strstr(err.msg, "/usr/share/datasets/mnist/train-images-idx3-ubyte"), "%s",
                  err.msg);
    s = fmnist(10);
    s.pool = 3;
    load_fails(&s, LM_EINVAL, "pool = 3", NULL);
    s.pool = 1;
    s.train_size = 0;
    load_fails(&s, LM_EINVAL, "train_size = 0", NULL);
    LM_CHECK_LEAKS();
}

Test(fmnist, idx_files_in_a_dir_raw_or_gz_and_count_checks) {
    /* A tiny IDX set in a temp dir: raw (not gzipped) files are found too, and the label count
     * and range are checked. */
    char dir[256], path[512];
    lm_tmp_path(dir, sizeof dir, "idxdir");
    cr_assert_eq(mkdir(dir, 0700) == 0 || errno == EEXIST, 1);
    const char *names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                            "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    uint8_t img[4 + 12 + 3 * 16], lab[4 + 4 + 3];
    memcpy(img, (uint8_t[]){0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4}, 16);
    for (int i = 0; i < 48; i++)
        img[16 + i] = (uint8_t) (i * 5);
    memcpy(lab, (uint8_t[]){0, 0, 8, 1, 0, 0, 0, 3, 2, 7, 4}, 11);
    for (int f = 0; f < 4; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        FILE *fp = fopen(path, "wb");
        cr_assert(fp);
        fwrite(f % 2 ? lab : img, 1, f % 2 ? sizeof lab : sizeof img, fp);
        fclose(fp);
    }
    lm_data_spec s = lm_data_spec_default();
    snprintf(s.dir, sizeof s.dir, "%s", dir);
    s.pool = 4;
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(tr->n, 3);
    cr_assert_eq(tr->d, 1);
    cr_assert_eq(tr->labels[1], 7);
    /* image 0 holds 0, 5, ..., 75: mean 37.5, then / 255 */
    cr_assert(lm_close(tr->x[0], 37.5 / 255.0, 1e-15, 0));
    lm_dataset_free(tr);
    lm_dataset_free(te);
    /* Target conversions (labels 2, 7, 4). */
    static const int32_t want_labels[3] = {2, 7, 4};
    lm_targets kinds[4] = {LM_TARGETS_ONEHOT, LM_TARGETS_PM1, LM_TARGETS_PARITY, LM_TARGETS_INDEX};
    for (int t = 0; t < 4; t++) {
        s.targets = kinds[t];
        lm_dataset *ds = NULL;
        cr_assert_eq(lm_data_load(&s, 1, &ds, NULL, &err), LM_OK, "%s", err.msg);
        const int wide = kinds[t] == LM_TARGETS_ONEHOT || kinds[t] == LM_TARGETS_PM1;
        cr_assert_eq(ds->k, wide ? 10u : 1u);
        cr_assert_eq(ds->n_classes, 10);
        for (size_t i = 0; i < ds->n; i++) {
            const int32_t l = ds->labels[i];
            cr_assert_eq(l, want_labels[i]);
            if (wide)
                for (size_t j = 0; j < 10; j++)
                    cr_assert_eq(ds->y[i * 10 + j], (int32_t) j == l             ? 1.0
                                                    : kinds[t] == LM_TARGETS_PM1 ? -1.0
                                                                                 : 0.0);
            else if (kinds[t] == LM_TARGETS_PARITY)
                cr_assert_eq(ds->y[i], l % 2 == 0 ? 1.0 : -1.0);
            else
                cr_assert_eq(ds->y[i], (double) l);
        }
        lm_dataset_free(ds);
    }
    s.targets = LM_TARGETS_ONEHOT;
    s.test_size = 4;
    load_fails(&s, LM_ERANGE, "test_size = 4", "t10k-images-idx3-ubyte has only 3");
    s.test_size = LM_ALL;
    /* Label count differs from image count. */
    lab[7] = 2;
    snprintf(path, sizeof path, "%s/%s", dir, names[1]);
    FILE *fp = fopen(path, "wb");
    fwrite(lab, 1, sizeof lab - 1, fp);
    fclose(fp);
    load_fails(&s, LM_ESHAPE, "has 3 images but", "has 2 labels");
    /* Label out of range. */
    lab[7] = 3;
    lab[10] = 10;
    fp = fopen(path, "wb");
    fwrite(lab, 1, sizeof lab, fp);
    fclose(fp);
    load_fails(&s, LM_ERANGE, "label 10 at row 2", names[1]);
    for (int f = 0; f < 4; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        remove(path);
    }
    rmdir(dir);
    LM_CHECK_LEAKS();
}

Test(fmnist, sphere_rescales_every_row_to_norm_sqrt_d) {
    lm_data_spec s = fmnist(64);
    s.normalize = LM_NORM_SPHERE;
    s.pool = 4;
    s.test_size = 16;
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(tr->d, 49);
    lm_dataset *sets[2] = {tr, te};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < sets[k]->n; i++) {
            double ss = 0;
            for (size_t j = 0; j < sets[k]->d; j++)
                ss += sets[k]->x[i * sets[k]->d + j] * sets[k]->x[i * sets[k]->d + j];
            /* 49 squares summed after one scaling: rounding ~1e-15 relative */
            cr_assert(fabs(ss - 49.0) < 1e-12, "set %d row %zu: ||x||^2 = %.17g", k, i, ss);
        }
    lm_dataset_free(tr);
    lm_dataset_free(te);
    LM_CHECK_LEAKS();
}

/* standardize_sphere is standardize (training statistics, applied to the test set too) and then
 * every row rescaled to ||x||^2 = d: compared row by row with a plain standardize load. */
Test(fmnist, standardize_sphere_is_standardize_then_sphere) {
    lm_normalize v = LM_NORM_DEFAULT;
    lm_err err = {0};
    cr_assert_eq(lm_normalize_parse("standardize_sphere", &v, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(v, LM_NORM_STANDARDIZE_SPHERE);
    cr_assert_str_eq(lm_normalize_name(LM_NORM_STANDARDIZE_SPHERE), "standardize_sphere");
    lm_data_spec s = fmnist(64);
    s.pool = 4;
    s.test_size = 16;
    s.normalize = LM_NORM_STANDARDIZE;
    lm_dataset *st = NULL, *ste = NULL, *ss = NULL, *sse = NULL;
    cr_assert_eq(lm_data_load(&s, 1, &st, &ste, &err), LM_OK, "%s", err.msg);
    s.normalize = LM_NORM_STANDARDIZE_SPHERE;
    cr_assert_eq(lm_data_load(&s, 1, &ss, &sse, &err), LM_OK, "%s", err.msg);
    lm_dataset *a[2] = {st, ste}, *b[2] = {ss, sse};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < a[k]->n; i++) {
            const double *ra = a[k]->x + i * a[k]->d, *rb = b[k]->x + i * b[k]->d;
            double na = 0, nb = 0;
            for (size_t j = 0; j < a[k]->d; j++) {
                na += ra[j] * ra[j];
                nb += rb[j] * rb[j];
            }
            /* 49 squares after one scaling: rounding ~1e-15 relative */
            cr_assert(fabs(nb - 49.0) < 1e-12, "set %d row %zu: ||x||^2 = %.17g", k, i, nb);
            const double f = sqrt(49.0 / na);
            for (size_t j = 0; j < a[k]->d; j++)
                /* the same two operations in the same order: equal up to one rounding each */
                cr_assert(fabs(rb[j] - ra[j] * f) <= 1e-13 * (1 + fabs(rb[j])),
                          "set %d row %zu col %zu: %.17g vs %.17g", k, i, j, rb[j], ra[j] * f);
        }
    /* centred training features: the column sums of the sphered rows are no longer exactly 0,
     * but far smaller than for raw (all-positive) pixels, whose column means are ~ +1 */
    double worst = 0;
    for (size_t j = 0; j < ss->d; j++) {
        double m = 0;
        for (size_t i = 0; i < ss->n; i++)
            m += ss->x[i * ss->d + j] / (double) ss->n;
        worst = fmax(worst, fabs(m));
    }
    cr_assert(worst < 0.5, "largest column mean %g", worst);
    lm_dataset_free(st);
    lm_dataset_free(ste);
    lm_dataset_free(ss);
    lm_dataset_free(sse);
    LM_CHECK_LEAKS();
}

/* subset "first" with a count inflates only that prefix of the gzip files: the rows must be the
 * same as those of a larger prefix and of the whole file (random subset reads everything). */
Test(fmnist, prefix_read_equals_full_read) {
    lm_data_spec s = fmnist(64);
    s.test_size = 32;
    lm_dataset *a = NULL, *at = NULL, *b = NULL, *bt = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 1, &a, &at, &err), LM_OK, "%s", err.msg);
    s.train_size = LM_ALL;
    s.test_size = LM_ALL;
    cr_assert_eq(lm_data_load(&s, 1, &b, &bt, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(b->n, 60000);
    cr_assert_eq(bt->n, 10000);
    cr_assert(memcmp(a->x, b->x, 64 * a->d * sizeof *a->x) == 0, "train rows differ");
    cr_assert(memcmp(a->y, b->y, 64 * a->k * sizeof *a->y) == 0, "train targets differ");
    cr_assert(memcmp(at->x, bt->x, 32 * at->d * sizeof *at->x) == 0, "test rows differ");
    lm_dataset_free(a);
    lm_dataset_free(at);
    lm_dataset_free(b);
    lm_dataset_free(bt);
    s.train_size = 60001; /* more than the file has: the header's count names it */
    s.test_size = 0;
    cr_assert_eq(lm_data_load(&s, 1, &a, NULL, &err), LM_ERANGE);
    cr_assert(strstr(err.msg, "60001") && strstr(err.msg, "60000"), "%s", err.msg);
    LM_CHECK_LEAKS();
}
