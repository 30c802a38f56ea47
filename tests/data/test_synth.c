/* Tests for the synthetic sources (src/data/synth.c) and for the spec defaults and enum names
 * (src/data/data.c). */
#include "lm_test.h"
#include "lmech/data.h"

#include <string.h>

#define PI 3.14159265358979323846

static lm_dataset *load_train(const lm_data_spec *s, uint64_t seed) {
    lm_dataset *tr = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(s, seed, &tr, NULL, &err), LM_OK, "%s", err.msg);
    return tr;
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

/* ---------------------------------------------------------------- spec and names */

Test(data, spec_default_and_names_round_trip) {
    lm_data_spec s = lm_data_spec_default();
    cr_assert_eq(s.source, LM_DATA_FASHION_MNIST);
    cr_assert_eq(s.train_size, LM_ALL);
    cr_assert_eq(s.pool, 1);
    cr_assert_eq(s.n_freq, 4);
    cr_assert_eq(s.frequencies[3], 8);
    cr_assert_eq(s.modulus, 97);
    lm_err err = {0};
    for (int i = 0; i <= LM_DATA_MODADD; i++) {
        lm_data_source v;
        cr_assert_eq(lm_data_source_parse(lm_data_source_name((lm_data_source) i), &v, &err),
                     LM_OK);
        cr_assert_eq((int) v, i);
    }
    for (int i = 0; i <= LM_NORM_SPHERE; i++) {
        lm_normalize v;
        cr_assert_eq(lm_normalize_parse(lm_normalize_name((lm_normalize) i), &v, &err), LM_OK);
        cr_assert_eq((int) v, i);
    }
    for (int i = 0; i <= LM_TARGETS_INDEX; i++) {
        lm_targets v;
        cr_assert_eq(lm_targets_parse(lm_targets_name((lm_targets) i), &v, &err), LM_OK);
        cr_assert_eq((int) v, i);
    }
    for (int i = 0; i <= LM_SUBSET_RANDOM; i++) {
        lm_subset v;
        cr_assert_eq(lm_subset_parse(lm_subset_name((lm_subset) i), &v, &err), LM_OK);
        cr_assert_eq((int) v, i);
    }
    lm_data_source v;
    cr_assert_eq(lm_data_source_parse("cifar", &v, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "\"cifar\""), "%s", err.msg);
    lm_targets t;
    cr_assert_eq(lm_targets_parse("softmax", &t, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "softmax"), "%s", err.msg);
    cr_assert_str_eq(lm_subset_name((lm_subset) 9), "unknown");
}

/* ---------------------------------------------------------------- synthetic sources */

static lm_data_spec synth(lm_data_source src) {
    lm_data_spec s = lm_data_spec_default();
    s.source = src;
    return s;
}

static void same_sets(const lm_dataset *a, const lm_dataset *b) {
    cr_assert_eq(a->n, b->n);
    cr_assert_eq(a->d, b->d);
    cr_assert_eq(a->k, b->k);
    cr_assert_eq(memcmp(a->x, b->x, a->n * a->d * sizeof(double)), 0);
    cr_assert_eq(memcmp(a->y, b->y, a->n * a->k * sizeof(double)), 0);
}

Test(synth, teacher_shapes_determinism_and_noise) {
    lm_data_spec s = synth(LM_DATA_TEACHER);
    lm_dataset *a = NULL, *ta = NULL, *b = NULL, *tb = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 5, &a, &ta, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_data_load(&s, 5, &b, &tb, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(a->n, 1000); /* documented defaults */
    cr_assert_eq(ta->n, 1000);
    cr_assert_eq(a->d, 16);
    cr_assert_eq(a->k, 1);
    cr_assert_null(a->labels);
    same_sets(a, b);
    same_sets(ta, tb);
    cr_assert_neq(memcmp(a->x, ta->x, 1000 * 16 * sizeof(double)), 0);
    lm_dataset_free(b);
    lm_dataset_free(tb);
    /* The teacher is shared by train and test, and linear: y = w.x / sqrt(d). Recover w from 16
     * training rows (Gaussian elimination) and predict the test set to rounding accuracy. */
    double A[16][17];
    for (int i = 0; i < 16; i++) {
        for (int j = 0; j < 16; j++)
            A[i][j] = a->x[i * 16 + j];
        A[i][16] = a->y[i];
    }
    for (int c = 0; c < 16; c++) {
        int piv = c;
        for (int r = c + 1; r < 16; r++)
            if (fabs(A[r][c]) > fabs(A[piv][c]))
                piv = r;
        for (int j = 0; j < 17; j++) {
            double t = A[c][j];
            A[c][j] = A[piv][j];
            A[piv][j] = t;
        }
        for (int r = 0; r < 16; r++)
            if (r != c) {
                double f = A[r][c] / A[c][c];
                for (int j = c; j < 17; j++)
                    A[r][j] -= f * A[c][j];
            }
    }
    for (size_t i = 0; i < 50; i++) {
        double pred = 0;
        for (int j = 0; j < 16; j++)
            pred += A[j][16] / A[j][j] * ta->x[i * 16 + (size_t) j];
        /* A well-conditioned 16x16 solve loses a few digits: 1e-8 absolute is far above that
         * and far below any O(1) mismatch. */
        cr_assert(fabs(pred - ta->y[i]) < 1e-8, "row %zu: %g vs %g", i, pred, ta->y[i]);
    }
    /* Noise changes y, never x. */
    s.noise = 0.5;
    cr_assert_eq(lm_data_load(&s, 5, &b, NULL, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(memcmp(a->x, b->x, 1000 * 16 * sizeof(double)), 0);
    double r2 = 0;
    for (size_t i = 0; i < 1000; i++)
        r2 += (b->y[i] - a->y[i]) * (b->y[i] - a->y[i]);
    /* Mean squared noise 0.25: 1000 draws, relative se sqrt(2/1000) = 4.5%; 20% is 4.4 se. */
    cr_assert(fabs(r2 / 1000 - 0.25) < 0.05, "noise variance %g", r2 / 1000);
    lm_dataset_free(b);
    /* Different seed, different data; a tanh teacher with 3 outputs. */
    s.noise = 0;
    s.teacher_width = 8;
    s.outputs = 3;
    s.train_size = 64;
    s.test_size = 0;
    cr_assert_eq(lm_data_load(&s, 6, &b, &tb, &err), LM_OK, "%s", err.msg);
    cr_assert_null(tb);
    cr_assert_eq(b->n, 64);
    cr_assert_eq(b->k, 3);
    cr_assert_neq(memcmp(a->x, b->x, 64 * 16 * sizeof(double)), 0);
    for (size_t i = 0; i < 64 * 3; i++)
        cr_assert(fabs(b->y[i]) <= 8.0 / sqrt(8.0) * 6); /* |a_u| of 8 N(0,1) draws < 6 */
    lm_dataset_free(a);
    lm_dataset_free(ta);
    lm_dataset_free(b);
    LM_CHECK_LEAKS();
}

Test(synth, powerlaw_variances_follow_the_spectrum) {
    lm_data_spec s = synth(LM_DATA_POWERLAW);
    s.dim = 8;
    s.train_size = 20000;
    s.test_size = 10;
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 3, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(te->n, 10);
    double vy = 0, want_vy = 0;
    for (size_t j = 0; j < 8; j++) {
        double v = 0;
        for (size_t i = 0; i < tr->n; i++)
            v += tr->x[i * 8 + j] * tr->x[i * 8 + j];
        v /= (double) tr->n;
        const double lambda = pow((double) (j + 1), -1.5);
        /* E[x^2] = lambda; the sample mean of x^2 over 20000 draws has relative se
         * sqrt(2 / 20000) = 1%, so 5% is 5 se. */
        cr_assert(fabs(v / lambda - 1) < 0.05, "feature %zu: variance %g, want %g", j + 1, v,
                  lambda);
        want_vy += pow((double) (j + 1), -1.6);
    }
    for (size_t i = 0; i < tr->n; i++)
        vy += tr->y[i] * tr->y[i];
    vy /= (double) tr->n;
    /* Var y = sum_j lambda_j w_j^2 = sum_j j^-b; same 5-se bound. */
    cr_assert(fabs(vy / want_vy - 1) < 0.05, "target variance %g, want %g", vy, want_vy);
    lm_dataset_free(tr);
    lm_dataset_free(te);
    LM_CHECK_LEAKS();
}

Test(synth, circle_grid_and_random) {
    lm_data_spec s = synth(LM_DATA_CIRCLE);
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 1, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(tr->n, 256);
    cr_assert_eq(tr->d, 2);
    cr_assert_eq(te->n, 1000);
    for (size_t i = 0; i < 256; i++) {
        const double t = 2 * PI * (double) i / 256;
        cr_assert_eq(tr->x[2 * i], cos(t));
        const double want = cos(t) + cos(2 * t) + cos(4 * t) + cos(8 * t);
        /* cos(k t) at the same angle, summed in the same order: equal to rounding. */
        cr_assert(fabs(tr->y[i] - want) < 1e-12);
    }
    cr_assert_eq(tr->y[0], 4.0);
    for (size_t i = 0; i < te->n; i++) {
        const double r = hypot(te->x[2 * i], te->x[2 * i + 1]);
        cr_assert(fabs(r - 1) < 1e-15);
    }
    lm_dataset_free(tr);
    lm_dataset_free(te);
    s.subset = LM_SUBSET_RANDOM;
    s.n_freq = 1;
    s.frequencies[0] = 3;
    cr_assert_eq(lm_data_load(&s, 1, &tr, NULL, &err), LM_OK, "%s", err.msg);
    const double t1 = atan2(tr->x[3], tr->x[2]);
    cr_assert(fabs(tr->y[1] - cos(3 * t1)) < 1e-12);
    cr_assert(fabs(tr->x[2] - cos(2 * PI / 256)) > 1e-6); /* not the grid */
    lm_dataset_free(tr);
    LM_CHECK_LEAKS();
}

Test(synth, modadd_split_and_labels) {
    lm_data_spec s = synth(LM_DATA_MODADD);
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 9, &tr, &te, &err), LM_OK, "%s", err.msg);
    /* 97^2 = 9409 pairs; half rounded: 4705 train, 4704 test. */
    cr_assert_eq(tr->n, 4705);
    cr_assert_eq(te->n, 4704);
    cr_assert_eq(tr->d, 194);
    cr_assert_eq(tr->k, 97);
    cr_assert_eq(tr->n_classes, 97);
    static unsigned char seen[97 * 97];
    memset(seen, 0, sizeof seen);
    lm_dataset *sets[2] = {tr, te};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < sets[k]->n; i++) {
            const double *x = sets[k]->x + i * 194;
            size_t a = 97, b = 97, ones = 0;
            for (size_t j = 0; j < 194; j++)
                if (x[j] == 1.0) {
                    ones++;
                    if (j < 97)
                        a = j;
                    else
                        b = j - 97;
                }
            cr_assert_eq(ones, 2);
            cr_assert(a < 97 && b < 97);
            cr_assert_eq(sets[k]->labels[i], (int32_t) ((a + b) % 97));
            cr_assert_eq(sets[k]->y[i * 97 + (a + b) % 97], 1.0);
            cr_assert_eq(seen[a * 97 + b], 0, "pair (%zu, %zu) twice", a, b);
            seen[a * 97 + b] = 1;
        }
    /* Deterministic for a seed, different split for another. */
    lm_dataset *tr2 = NULL;
    cr_assert_eq(lm_data_load(&s, 9, &tr2, NULL, &err), LM_OK);
    same_sets(tr, tr2);
    lm_dataset_free(tr2);
    cr_assert_eq(lm_data_load(&s, 10, &tr2, NULL, &err), LM_OK);
    cr_assert_neq(memcmp(tr->x, tr2->x, 4705 * 194 * sizeof(double)), 0);
    lm_dataset_free(tr2);
    lm_dataset_free(tr);
    lm_dataset_free(te);
    /* train_size takes part of the split; parity targets; frac 1 leaves no test set. */
    s.modulus = 7;
    s.train_frac = 1.0;
    s.train_size = 20;
    s.targets = LM_TARGETS_PARITY;
    cr_assert_eq(lm_data_load(&s, 9, &tr, &te, &err), LM_OK, "%s", err.msg);
    cr_assert_null(te);
    cr_assert_eq(tr->n, 20);
    cr_assert_eq(tr->k, 1);
    for (size_t i = 0; i < 20; i++)
        cr_assert_eq(tr->y[i], tr->labels[i] % 2 == 0 ? 1.0 : -1.0);
    lm_dataset_free(tr);
    s.train_size = 50;
    load_fails(&s, LM_ERANGE, "train_size = 50", "49 training pairs");
    LM_CHECK_LEAKS();
}

Test(synth, invalid_specs_are_refused) {
    lm_data_spec s = synth(LM_DATA_MODADD);
    s.modulus = 1;
    load_fails(&s, LM_EINVAL, "modulus = 1", NULL);
    s = synth(LM_DATA_MODADD);
    s.train_frac = 0;
    load_fails(&s, LM_EINVAL, "train_frac", NULL);
    s = synth(LM_DATA_TEACHER);
    s.pool = 2;
    load_fails(&s, LM_EINVAL, "not images", NULL);
    s = synth(LM_DATA_TEACHER);
    s.noise = LM_NAN;
    load_fails(&s, LM_EINVAL, "noise", NULL);
    s = synth(LM_DATA_POWERLAW);
    s.dim = 0;
    load_fails(&s, LM_EINVAL, "dim = 0", NULL);
    s = synth(LM_DATA_CIRCLE);
    s.n_freq = 17;
    load_fails(&s, LM_EINVAL, "n_freq = 17", NULL);
    s.n_freq = 4;
    s.normalize = (lm_normalize) 42;
    load_fails(&s, LM_EINVAL, "normalize 42", NULL);
    LM_CHECK_LEAKS();
}

Test(synth, standardize_applies_to_synthetic_sets) {
    lm_data_spec s = synth(LM_DATA_POWERLAW);
    s.normalize = LM_NORM_STANDARDIZE;
    s.train_size = 300;
    lm_dataset *tr = load_train(&s, 2);
    for (size_t j = 0; j < tr->d; j++) {
        double m = 0;
        for (size_t i = 0; i < tr->n; i++)
            m += tr->x[i * tr->d + j];
        cr_assert(fabs(m / 300) < 1e-14, "column %zu mean %g", j, m / 300); /* O(1) values */
    }
    lm_dataset_free(tr);
    LM_CHECK_LEAKS();
}
