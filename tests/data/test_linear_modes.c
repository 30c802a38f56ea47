/* Tests for the linear-modes source (src/data/synth.c) and lm_data_linear_modes: exact
 * whitening, Sigma^yx = U diag(s) V^T recovered from the data, the test set's map, seeded
 * reproducibility, and clear errors for bad specs. */
#include "lm_test.h"
#include "lmech/data.h"

#include <string.h>

static lm_data_spec spec(size_t d, size_t k, size_t p) {
    lm_data_spec s = lm_data_spec_default();
    s.source = LM_DATA_LINEAR_MODES;
    s.dim = d;
    s.outputs = k;
    s.train_size = p;
    s.test_size = 50;
    const double sv[] = {3, 2, 1, 0.5, 0.25};
    s.n_sv = 5;
    memcpy(s.singular_values, sv, sizeof sv);
    return s;
}

/* (1/P) A^T B for A [n, a], B [n, b] into out [a, b] */
static void cross(const double *A, const double *B, size_t n, size_t a, size_t b, double *out) {
    for (size_t i = 0; i < a; i++)
        for (size_t j = 0; j < b; j++) {
            double z = 0;
            for (size_t r = 0; r < n; r++)
                z += A[r * a + i] * B[r * b + j];
            out[i * b + j] = z / (double) n;
        }
}

Test(linear_modes, whitened_exactly_and_sigma_yx_recovered) {
    const size_t P_list[] = {8, 200};
    for (size_t q = 0; q < 2; q++) {
        lm_data_spec s = spec(8, 6, P_list[q]);
        lm_dataset *tr = NULL, *te = NULL;
        lm_err err = {0};
        cr_assert_eq(lm_data_load(&s, 3, &tr, &te, &err), LM_OK, "%s", err.msg);
        cr_assert_eq(tr->n, P_list[q]);
        cr_assert_eq(tr->d, 8);
        cr_assert_eq(tr->k, 6);
        cr_assert_not_null(te);
        cr_assert_eq(te->n, 50);
        double xx[64], yx[48], U[30], V[40];
        cross(tr->x, tr->x, tr->n, 8, 8, xx);
        for (size_t i = 0; i < 8; i++)
            for (size_t j = 0; j < 8; j++)
                cr_assert(fabs(xx[i * 8 + j] - (i == j)) < 1e-12, "(1/P)X^TX[%zu,%zu] = %.3e", i, j,
                          xx[i * 8 + j]);
        cross(tr->y, tr->x, tr->n, 6, 8, yx);
        cr_assert_eq(lm_data_linear_modes(&s, 3, U, V, &err), LM_OK, "%s", err.msg);
        for (size_t i = 0; i < 6; i++)
            for (size_t j = 0; j < 8; j++) {
                double m = 0;
                for (size_t r = 0; r < 5; r++)
                    m += U[i * 5 + r] * s.singular_values[r] * V[j * 5 + r];
                cr_assert(fabs(yx[i * 8 + j] - m) < 1e-12, "Sigma^yx[%zu,%zu] %.15g vs %.15g", i, j,
                          yx[i * 8 + j], m);
            }
        /* U, V orthonormal columns */
        for (size_t a = 0; a < 5; a++)
            for (size_t b = 0; b < 5; b++) {
                double uu = 0, vv = 0;
                for (size_t i = 0; i < 6; i++)
                    uu += U[i * 5 + a] * U[i * 5 + b];
                for (size_t j = 0; j < 8; j++)
                    vv += V[j * 5 + a] * V[j * 5 + b];
                cr_assert(fabs(uu - (a == b)) < 1e-13 && fabs(vv - (a == b)) < 1e-13);
            }
        /* the test set: the same map y = M x on unwhitened inputs */
        for (size_t r = 0; r < te->n; r++)
            for (size_t i = 0; i < 6; i++) {
                double y = 0;
                for (size_t j = 0; j < 8; j++) {
                    double m = 0;
                    for (size_t a = 0; a < 5; a++)
                        m += U[i * 5 + a] * s.singular_values[a] * V[j * 5 + a];
                    y += m * te->x[r * 8 + j];
                }
                cr_assert(fabs(te->y[r * 6 + i] - y) < 1e-12);
            }
        /* the test inputs are NOT whitened: far from the identity at n = 50 */
        double tx[64], dev = 0;
        cross(te->x, te->x, te->n, 8, 8, tx);
        for (size_t i = 0; i < 64; i++)
            dev = fmax(dev, fabs(tx[i] - (i % 9 == 0)));
        cr_assert(dev > 0.05, "test inputs look whitened (%g)", dev);
        lm_dataset_free(tr);
        lm_dataset_free(te);
    }
}

Test(linear_modes, seeded_reproducible_and_seed_dependent) {
    lm_data_spec s = spec(8, 6, 16);
    lm_dataset *a = NULL, *b = NULL, *c = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 5, &a, NULL, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_data_load(&s, 5, &b, NULL, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_data_load(&s, 6, &c, NULL, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(memcmp(a->x, b->x, 16 * 8 * sizeof(double)), 0);
    cr_assert_eq(memcmp(a->y, b->y, 16 * 6 * sizeof(double)), 0);
    cr_assert_neq(memcmp(a->y, c->y, 16 * 6 * sizeof(double)), 0);
    double U1[30], V1[40], U2[30], V2[40];
    cr_assert_eq(lm_data_linear_modes(&s, 5, U1, V1, &err), LM_OK);
    cr_assert_eq(lm_data_linear_modes(&s, 6, U2, V2, &err), LM_OK);
    cr_assert_neq(memcmp(U1, U2, sizeof U1), 0);
    /* the modes do not depend on P (shared stream) */
    lm_data_spec s2 = spec(8, 6, 64);
    cr_assert_eq(lm_data_linear_modes(&s2, 5, U2, V2, &err), LM_OK);
    cr_assert_eq(memcmp(U1, U2, sizeof U1), 0);
    cr_assert_eq(memcmp(V1, V2, sizeof V1), 0);
    lm_dataset_free(a);
    lm_dataset_free(b);
    lm_dataset_free(c);
}

static void fails(const lm_data_spec *s, const char *p1, const char *p2) {
    lm_dataset *tr = NULL, *te = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(s, 1, &tr, &te, &err), LM_EINVAL, "got %d: %s", err.code, err.msg);
    cr_assert_null(tr);
    cr_assert(strstr(err.msg, p1), "'%s' not in: %s", p1, err.msg);
    cr_assert(strstr(err.msg, p2), "'%s' not in: %s", p2, err.msg);
}

Test(linear_modes, bad_specs_give_clear_errors) {
    lm_data_spec s = spec(8, 4, 16); /* r = 5 > min(8, 4) */
    fails(&s, "5 singular values", "min(dim 8, outputs 4) = 4");
    s = spec(8, 6, 7);
    fails(&s, "train_size = 7", "P >= d_in");
    s = spec(8, 6, 16);
    s.singular_values[2] = 0.0;
    fails(&s, "singular_values[2] = 0", "> 0");
    s.singular_values[2] = -1.0;
    fails(&s, "singular_values[2] = -1", "> 0");
    s = spec(8, 6, 16);
    s.n_sv = 0;
    fails(&s, "singular_values is missing", "min(dim, outputs) = 6");
    s = spec(8, 6, 16);
    s.noise = 0.1;
    fails(&s, "noise = 0.1", "use 0");
    double U[30], V[40];
    lm_err err = {0};
    s = spec(8, 6, 16);
    s.source = LM_DATA_TEACHER;
    cr_assert_eq(lm_data_linear_modes(&s, 1, U, V, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "teacher"), "%s", err.msg);
    cr_assert_eq(lm_data_source_parse("linear-modes", &s.source, &err), LM_OK);
    cr_assert_eq(s.source, LM_DATA_LINEAR_MODES);
    cr_assert_str_eq(lm_data_source_name(LM_DATA_LINEAR_MODES), "linear-modes");
}

Test(linear_modes, default_train_size_is_1000) {
    lm_data_spec s = spec(8, 6, LM_ALL);
    lm_dataset *tr = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_data_load(&s, 1, &tr, NULL, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(tr->n, 1000);
    lm_dataset_free(tr);
}
