/*
 * synth.c: the synthetic sources (data.h): a random teacher network, Gaussian power-law features
 * (science.md §7), points on the circle with a multi-frequency target (§8) and modular addition
 * (§11), a low-rank matrix with a random set of observed entries (§1(d)), and the whitened
 * linear-modes task of deep linear networks (§1).
 *
 * Determinism: every number comes from lm_rng streams derived from the user seed (internal.h):
 * the TASK stream draws what train and test share (teacher weights, power-law signs, the modadd
 * split), LM_STREAM_DATA the training examples and LM__STREAM_DATA_TEST the test examples. Each
 * example draws its inputs and then one noise normal per output, always (even at noise 0), so the
 * inputs do not change when only the noise level does. Sets of up to ~1e5 x 1e3 are built in one
 * pass; nothing here is on a hot path.
 */
#include "internal.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Documented defaults (data.h) for train_size / test_size = LM_ALL. */
#define SYNTH_TRAIN_DEFAULT  1000 /* teacher, powerlaw                               */
#define CIRCLE_TRAIN_DEFAULT 256  /* science.md §8: 256 grid points on the circle     */
#define SYNTH_TEST_DEFAULT   1000 /* teacher, powerlaw, circle: 1000 fresh examples   */
/* modadd x is p^2 x 2p doubles (16 p^3 bytes): p = 512 is 2 GiB, a generous ceiling. */
#define MODADD_MAX_P 512

static const double two_pi = 6.283185307179586476925;

typedef struct task {
    const lm_data_spec *spec;
    double *w;    /* teacher: [outputs, dim] (linear) or [width, dim]; powerlaw: w* [dim] */
    double *a;    /* teacher readout [outputs, width]                                     */
    double *h;    /* teacher hidden scratch [width]                                        */
    double *sdev; /* powerlaw: sqrt(lambda_j) [dim]                                        */
} task;

static void task_free(task *t) {
    lm_free(t->w);
    lm_free(t->a);
    lm_free(t->h);
    lm_free(t->sdev);
}

static lm_status task_new(task *t, const lm_data_spec *spec, uint64_t seed, lm_err *err) {
    memset(t, 0, sizeof *t);
    t->spec = spec;
    lm_rng rng;
    lm_rng_seed(&rng, seed, LM__STREAM_DATA_TASK);
    const size_t dim = spec->dim, out = spec->outputs, width = spec->teacher_width;
    if (spec->source == LM_DATA_TEACHER) {
        const size_t rows = width ? width : out;
        if (rows > SIZE_MAX / dim || (width && out > SIZE_MAX / width))
            LM_FAIL(err, LM_ERANGE, "teacher of width %zu, dim %zu, outputs %zu is too large",
                    width, dim, out);
        t->w = lm_calloc(rows * dim, sizeof(double));
        t->a = width ? lm_calloc(out * width, sizeof(double)) : NULL;
        t->h = width ? lm_calloc(width, sizeof(double)) : NULL;
        if (!t->w || (width && (!t->a || !t->h))) {
            task_free(t);
            LM_FAIL(err, LM_ENOMEM, "out of memory for a teacher of width %zu, dim %zu", width,
                    dim);
        }
        for (size_t i = 0; i < rows * dim; i++)
            t->w[i] = lm_rng_normal(&rng);
        for (size_t i = 0; width && i < out * width; i++)
            t->a[i] = lm_rng_normal(&rng);
    } else if (spec->source == LM_DATA_POWERLAW) {
        t->w = lm_calloc(dim, sizeof(double));
        t->sdev = lm_calloc(dim, sizeof(double));
        if (!t->w || !t->sdev) {
            task_free(t);
            LM_FAIL(err, LM_ENOMEM, "out of memory for %zu power-law features", dim);
        }
        /* lambda_j = j^-a and lambda_j w*_j^2 = j^-b, so |w*_j| = j^((a - b) / 2). */
        for (size_t j = 0; j < dim; j++) {
            const double jj = (double) (j + 1);
            t->sdev[j] = pow(jj, -0.5 * spec->alpha);
            const double sign = lm_rng_below(&rng, 2) ? 1.0 : -1.0;
            t->w[j] = sign * pow(jj, 0.5 * (spec->alpha - spec->beta));
        }
    }
    return LM_OK;
}

/* One example of a regression source: fills x (d) and y (k) from rng. */
static void draw_example(const task *t, lm_rng *rng, size_t i, size_t n, int grid, double *x,
                         double *y) {
    const lm_data_spec *s = t->spec;
    switch (s->source) {
    case LM_DATA_TEACHER: {
        const size_t dim = s->dim, width = s->teacher_width;
        const double in_scale = 1.0 / sqrt((double) dim);
        for (size_t j = 0; j < dim; j++)
            x[j] = lm_rng_normal(rng);
        if (width) {
            for (size_t u = 0; u < width; u++) {
                double z = 0.0;
                for (size_t j = 0; j < dim; j++)
                    z += t->w[u * dim + j] * x[j];
                t->h[u] = tanh(z * in_scale);
            }
            const double out_scale = 1.0 / sqrt((double) width);
            for (size_t o = 0; o < s->outputs; o++) {
                double z = 0.0;
                for (size_t u = 0; u < width; u++)
                    z += t->a[o * width + u] * t->h[u];
                y[o] = z * out_scale;
            }
        } else {
            for (size_t o = 0; o < s->outputs; o++) {
                double z = 0.0;
                for (size_t j = 0; j < dim; j++)
                    z += t->w[o * dim + j] * x[j];
                y[o] = z * in_scale;
            }
        }
        break;
    }
    case LM_DATA_POWERLAW: {
        double z = 0.0;
        for (size_t j = 0; j < s->dim; j++) {
            x[j] = t->sdev[j] * lm_rng_normal(rng);
            z += t->w[j] * x[j];
        }
        y[0] = z;
        break;
    }
    default: { /* circle */
        const double th = grid ? two_pi * (double) i / (double) n : two_pi * lm_rng_uniform(rng);
        x[0] = cos(th);
        x[1] = sin(th);
        double z = 0.0;
        for (size_t f = 0; f < s->n_freq; f++)
            z += cos((double) s->frequencies[f] * th);
        y[0] = z;
        break;
    }
    }
    for (size_t o = 0; o < (s->source == LM_DATA_TEACHER ? s->outputs : 1); o++)
        y[o] += s->noise * lm_rng_normal(rng);
}

static lm_status regression_set(const task *t, size_t n, uint64_t seed, uint64_t stream, int grid,
                                lm_dataset **out, lm_err *err) {
    const lm_data_spec *s = t->spec;
    const size_t d = s->source == LM_DATA_CIRCLE ? 2 : s->dim;
    const size_t k = s->source == LM_DATA_TEACHER ? s->outputs : 1;
    lm_dataset *ds = NULL;
    LM_TRY(lm_dataset_new(n, d, k, 0, &ds, err));
    lm_rng rng;
    lm_rng_seed(&rng, seed, stream);
    for (size_t i = 0; i < n; i++)
        draw_example(t, &rng, i, n, grid, ds->x + i * d, ds->y + i * k);
    *out = ds;
    return LM_OK;
}

static lm_status check_synth_spec(const lm_data_spec *s, lm_err *err) {
    const char *src = lm_data_source_name(s->source);
    if (!isfinite(s->noise) || s->noise < 0.0)
        LM_FAIL(err, LM_EINVAL, "%s: noise = %g; use a finite value >= 0", src, s->noise);
    if (s->source == LM_DATA_TEACHER || s->source == LM_DATA_POWERLAW) {
        if (s->dim == 0)
            LM_FAIL(err, LM_EINVAL, "%s: dim = 0; use dim >= 1", src);
    }
    if (s->source == LM_DATA_TEACHER && s->outputs == 0)
        LM_FAIL(err, LM_EINVAL, "teacher: outputs = 0; use outputs >= 1");
    if (s->source == LM_DATA_POWERLAW && (!isfinite(s->alpha) || !isfinite(s->beta)))
        LM_FAIL(err, LM_EINVAL, "powerlaw: alpha = %g, beta = %g; both must be finite", s->alpha,
                s->beta);
    if (s->source == LM_DATA_CIRCLE && (s->n_freq == 0 || s->n_freq > 16))
        LM_FAIL(err, LM_EINVAL, "circle: n_freq = %zu; use 1 to 16 frequencies", s->n_freq);
    if (s->source == LM_DATA_MODADD) {
        if (s->modulus < 2 || s->modulus > MODADD_MAX_P)
            LM_FAIL(err, LM_EINVAL, "modadd: modulus = %zu; use 2 to %d", s->modulus, MODADD_MAX_P);
        if (!(s->train_frac > 0.0 && s->train_frac <= 1.0))
            LM_FAIL(err, LM_EINVAL, "modadd: train_frac = %g; use a value in (0, 1]",
                    s->train_frac);
    }
    return LM_OK;
}

/* ---------------------------------------------------------------- modadd */

static int cmp_size(const void *a, const void *b) {
    const size_t x = *(const size_t *) a, y = *(const size_t *) b;
    return (x > y) - (x < y);
}

/* Pairs pairs[0..n) (index a * p + b), sorted, as one-hot x = [onehot(a), onehot(b)], or with
 * encoding tokens as the token ids x = [a, b, p] (p is the "=" token). The token set's classes
 * span the whole vocabulary, p + 1, although class p never occurs: a transformer's head
 * predicts over every token (Power et al. 2022, Nanda et al. 2023), so k = V = p + 1. */
static lm_status modadd_set(const lm_data_spec *s, size_t *pairs, size_t n, lm_dataset **out,
                            lm_err *err) {
    const size_t p = s->modulus;
    const int tokens = s->encoding == LM_ENCODING_TOKENS;
    const size_t d = tokens ? 3 : 2 * p, classes = tokens ? p + 1 : p;
    lm_dataset *ds = NULL;
    LM_TRY(lm_dataset_new(n, d, lm__targets_width(s->targets, classes), 1, &ds, err));
    qsort(pairs, n, sizeof *pairs, cmp_size);
    for (size_t i = 0; i < n; i++) {
        const size_t a = pairs[i] / p, b = pairs[i] % p;
        if (tokens) {
            ds->x[i * 3] = (double) a;
            ds->x[i * 3 + 1] = (double) b;
            ds->x[i * 3 + 2] = (double) p;
        } else {
            ds->x[i * 2 * p + a] = 1.0;
            ds->x[i * 2 * p + p + b] = 1.0;
        }
        ds->labels[i] = (int32_t) ((a + b) % p);
    }
    ds->n_classes = classes;
    lm__fill_targets(ds, s->targets);
    *out = ds;
    return LM_OK;
}

static lm_status modadd_load(const lm_data_spec *s, uint64_t seed, lm_dataset **tr, lm_dataset **te,
                             lm_err *err) {
    const size_t p = s->modulus, total = p * p;
    const size_t n_split = (size_t) floor(s->train_frac * (double) total + 0.5);
    if (n_split == 0)
        LM_FAIL(err, LM_EINVAL, "modadd: train_frac = %g leaves no training pair of %zu",
                s->train_frac, total);
    size_t n_tr = n_split, n_te = total - n_split;
    if (s->train_size != LM_ALL) {
        if (s->train_size > n_split)
            LM_FAIL(err, LM_ERANGE,
                    "train_size = %zu, but the modadd split has only %zu training pairs",
                    s->train_size, n_split);
        n_tr = s->train_size;
    }
    if (!te || s->test_size == 0) {
        n_te = 0;
    } else if (s->test_size != LM_ALL) {
        if (s->test_size > n_te)
            LM_FAIL(err, LM_ERANGE, "test_size = %zu, but the modadd split has only %zu test pairs",
                    s->test_size, total - n_split);
        n_te = s->test_size;
    }
    size_t *perm = lm_calloc(total, sizeof *perm);
    if (!perm)
        LM_FAIL(err, LM_ENOMEM, "out of memory splitting %zu modadd pairs", total);
    for (size_t i = 0; i < total; i++)
        perm[i] = i;
    lm_rng rng;
    lm_rng_seed(&rng, seed, LM__STREAM_DATA_TASK);
    lm_rng_shuffle(&rng, perm, total);
    lm_status st = modadd_set(s, perm, n_tr, tr, err);
    if (st == LM_OK && n_te > 0) {
        st = modadd_set(s, perm + n_split, n_te, te, err);
        if (st != LM_OK) {
            lm_dataset_free(*tr);
            *tr = NULL;
        }
    }
    lm_free(perm);
    return st;
}

/* ---------------------------------------------------------------- matrix-completion */

/* Matrix sides above this are certainly mistakes: the set holds 3 dim^2 doubles, and deep
 * factorisations of dim x dim layers are meant for small matrices (science.md §1(d): 30). */
#define MC_MAX_DIM 4096

/* M* = U V^T (U, V dim x rank, N(0, 1) entries) scaled to RMS entry 1, and Omega the first
 * round(observed dim^2) entries of a permutation, both from the TASK stream (train and test share
 * them). Train: x = I, y = M*^T with unobserved entries NaN; test: x = I, y = M*^T. */
static lm_status mc_load(const lm_data_spec *s, uint64_t seed, lm_dataset **tr, lm_dataset **te,
                         lm_err *err) {
    const size_t n = s->dim, r = s->rank, nn = n * n;
    if (n == 0 || n > MC_MAX_DIM)
        LM_FAIL(err, LM_EINVAL, "matrix-completion: dim = %zu; use 1 to %d", n, MC_MAX_DIM);
    if (r == 0 || r > n)
        LM_FAIL(err, LM_EINVAL, "matrix-completion: rank = %zu; use 1 to dim = %zu", r, n);
    if (!(s->observed > 0.0 && s->observed <= 1.0))
        LM_FAIL(err, LM_EINVAL, "matrix-completion: observed = %g; use a fraction in (0, 1]",
                s->observed);
    if (s->train_size != LM_ALL || (s->test_size != LM_ALL && s->test_size != 0))
        LM_FAIL(err, LM_EINVAL,
                "matrix-completion: train_size and test_size must be all (dim = %zu rows, x = I)"
                " or test_size 0",
                n);
    const size_t n_obs = (size_t) floor(s->observed * (double) nn + 0.5);
    if (n_obs == 0)
        LM_FAIL(err, LM_EINVAL, "matrix-completion: observed = %g of %zu entries observes none",
                s->observed, nn);
    double *uv = lm_calloc(2 * n * r + nn, sizeof *uv);
    size_t *perm = lm_calloc(nn, sizeof *perm);
    if (!uv || !perm) {
        lm_free(uv);
        lm_free(perm);
        LM_FAIL(err, LM_ENOMEM, "out of memory for a %zu x %zu matrix-completion task", n, n);
    }
    double *u = uv, *v = uv + n * r, *mstar = uv + 2 * n * r;
    lm_rng rng;
    lm_rng_seed(&rng, seed, LM__STREAM_DATA_TASK);
    for (size_t i = 0; i < 2 * n * r; i++)
        uv[i] = lm_rng_normal(&rng);
    double ss = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double z = 0.0;
            for (size_t q = 0; q < r; q++)
                z += u[i * r + q] * v[j * r + q];
            mstar[i * n + j] = z;
            ss += z * z;
        }
    const double scale = ss > 0 ? sqrt((double) nn / ss) : 1.0;
    for (size_t i = 0; i < nn; i++)
        perm[i] = i;
    lm_rng_shuffle(&rng, perm, nn);
    lm_status st = lm_dataset_new(n, n, n, 0, tr, err);
    if (st == LM_OK && te && s->test_size != 0) {
        st = lm_dataset_new(n, n, n, 0, te, err);
        if (st != LM_OK) {
            lm_dataset_free(*tr);
            *tr = NULL;
        }
    }
    if (st == LM_OK) {
        lm_dataset *a = *tr, *b = te && s->test_size != 0 ? *te : NULL;
        /* row j holds column j of M* (the network's output on e_j is column j of P) */
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < n; i++) {
                a->x[j * n + i] = i == j;
                a->y[j * n + i] = LM_NAN;
                if (b) {
                    b->x[j * n + i] = i == j;
                    b->y[j * n + i] = scale * mstar[i * n + j];
                }
            }
        for (size_t e = 0; e < n_obs; e++) {
            const size_t i = perm[e] / n, j = perm[e] % n; /* entry (i, j) of M* */
            a->y[j * n + i] = scale * mstar[i * n + j];
        }
    }
    lm_free(uv);
    lm_free(perm);
    return st;
}

/* ---------------------------------------------------------------- linear-modes */
/* Deep linear networks (science.md §1; Saxe et al. 2014): whitened inputs and Sigma^yx =
 * U diag(s) V^T. The TASK stream draws U then V (lm_data_linear_modes, so observers and the
 * aligned initialisation see the very same modes), LM_STREAM_DATA the training inputs (a
 * Gaussian P x d_in draw whose thin QR gives X = sqrt(P) Q, so (1/P) X^T X = Q^T Q = I to
 * rounding) and the TEST stream plain Gaussian test inputs. Targets are y = M x for both sets,
 * M = U diag(s) V^T, so (1/P) Y^T X = M (1/P) X^T X = M. */

static lm_status linear_modes_check(const lm_data_spec *s, lm_err *err) {
    if (s->source != LM_DATA_LINEAR_MODES)
        LM_FAIL(err, LM_EINVAL, "data source \"%s\" has no linear modes (use \"linear-modes\")",
                lm_data_source_name(s->source));
    const size_t cap = s->dim < s->outputs ? s->dim : s->outputs;
    if (s->dim == 0 || s->outputs == 0)
        LM_FAIL(err, LM_EINVAL, "linear-modes: dim = %zu, outputs = %zu; both must be >= 1", s->dim,
                s->outputs);
    if (s->n_sv == 0)
        LM_FAIL(err, LM_EINVAL,
                "linear-modes: data.singular_values is missing; give 1 to min(dim, outputs) = "
                "%zu positive numbers",
                cap);
    if (s->n_sv > cap || s->n_sv > LM_DATA_MAX_MODES)
        LM_FAIL(err, LM_EINVAL,
                "linear-modes: %zu singular values, but a rank of at most min(dim %zu, outputs "
                "%zu) = %zu (and %d) is possible",
                s->n_sv, s->dim, s->outputs, cap, LM_DATA_MAX_MODES);
    for (size_t k = 0; k < s->n_sv; k++)
        if (!isfinite(s->singular_values[k]) || !(s->singular_values[k] > 0.0))
            LM_FAIL(err, LM_EINVAL,
                    "linear-modes: data.singular_values[%zu] = %g; use a finite number > 0", k,
                    s->singular_values[k]);
    if (s->noise != 0.0)
        LM_FAIL(err, LM_EINVAL,
                "linear-modes: noise = %g; use 0 (label noise would break Sigma^yx = U S V^T)",
                s->noise);
    return LM_OK;
}

lm_status lm_data_linear_modes(const lm_data_spec *spec, uint64_t seed, double *U, double *V,
                               lm_err *err) {
    if (!spec || !U || !V)
        LM_FAIL(err, LM_EINVAL, "lm_data_linear_modes needs a spec and U, V outputs");
    LM_TRY(linear_modes_check(spec, err));
    lm_rng rng;
    lm_rng_seed(&rng, seed, LM__STREAM_DATA_TASK);
    LM_TRY(lm_rng_orthonormal(&rng, spec->outputs, spec->n_sv, U, err));
    return lm_rng_orthonormal(&rng, spec->dim, spec->n_sv, V, err);
}

static lm_status linear_modes_load(const lm_data_spec *s, uint64_t seed, lm_dataset **tr,
                                   lm_dataset **te, lm_err *err) {
    LM_TRY(linear_modes_check(s, err));
    const size_t d = s->dim, k = s->outputs, r = s->n_sv;
    const size_t n_tr = s->train_size != LM_ALL ? s->train_size : SYNTH_TRAIN_DEFAULT;
    const size_t n_te = !te || s->test_size == 0 ? 0
                        : s->test_size == LM_ALL ? SYNTH_TEST_DEFAULT
                                                 : s->test_size;
    if (n_tr < d)
        LM_FAIL(err, LM_EINVAL,
                "linear-modes: train_size = %zu is below dim = %zu; whitened inputs, "
                "(1/P) X^T X = I, need P >= d_in",
                n_tr, d);
    double *U = lm_malloc(k * r * sizeof *U), *V = lm_malloc(d * r * sizeof *V);
    double *M = lm_calloc(k * d, sizeof *M);
    lm_dataset *a = NULL, *b = NULL;
    lm_status st = U && V && M ? LM_OK
                               : lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                                            "out of memory for a %zu x %zu linear-modes map", k, d);
    if (st == LM_OK)
        st = lm_data_linear_modes(s, seed, U, V, err);
    if (st == LM_OK) /* M = U diag(s) V^T */
        for (size_t o = 0; o < k; o++)
            for (size_t j = 0; j < d; j++) {
                double z = 0.0;
                for (size_t q = 0; q < r; q++)
                    z += U[o * r + q] * s->singular_values[q] * V[j * r + q];
                M[o * d + j] = z;
            }
    if (st == LM_OK)
        st = lm_dataset_new(n_tr, d, k, 0, &a, err);
    if (st == LM_OK) {
        lm_rng rng;
        lm_rng_seed(&rng, seed, LM_STREAM_DATA);
        st = lm_rng_orthonormal(&rng, n_tr, d, a->x, err);
        const double scale = sqrt((double) n_tr);
        for (size_t i = 0; st == LM_OK && i < n_tr * d; i++)
            a->x[i] *= scale;
    }
    if (st == LM_OK && n_te > 0) {
        st = lm_dataset_new(n_te, d, k, 0, &b, err);
        lm_rng rng;
        lm_rng_seed(&rng, seed, LM__STREAM_DATA_TEST);
        for (size_t i = 0; st == LM_OK && i < n_te * d; i++)
            b->x[i] = lm_rng_normal(&rng);
    }
    /* Y = X M^T for both sets */
    lm_dataset *sets[2] = {a, b};
    for (size_t q = 0; st == LM_OK && q < 2; q++)
        if (sets[q])
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) sets[q]->n, (int) k, (int) d,
                        1.0, sets[q]->x, (int) d, M, (int) d, 0.0, sets[q]->y, (int) k);
    lm_free(U);
    lm_free(V);
    lm_free(M);
    if (st != LM_OK) {
        lm_dataset_free(a);
        lm_dataset_free(b);
        return st;
    }
    *tr = a;
    if (te)
        *te = b;
    return LM_OK;
}

/* ---------------------------------------------------------------- entry */

lm_status lm__synth_load(const lm_data_spec *spec, uint64_t seed, lm_dataset **train,
                         lm_dataset **test, lm_err *err) {
    LM_TRY(check_synth_spec(spec, err));
    if (spec->source == LM_DATA_LINEAR_MODES)
        return linear_modes_load(spec, seed, train, test, err);
    if (spec->source == LM_DATA_MODADD)
        return modadd_load(spec, seed, train, test, err);
    if (spec->source == LM_DATA_MATRIX_COMPLETION)
        return mc_load(spec, seed, train, test, err);
    const int circle = spec->source == LM_DATA_CIRCLE;
    const size_t n_tr = spec->train_size != LM_ALL ? spec->train_size
                        : circle                   ? CIRCLE_TRAIN_DEFAULT
                                                   : SYNTH_TRAIN_DEFAULT;
    const size_t n_te = !test || spec->test_size == 0 ? 0
                        : spec->test_size == LM_ALL   ? SYNTH_TEST_DEFAULT
                                                      : spec->test_size;
    task t;
    LM_TRY(task_new(&t, spec, seed, err));
    const int grid = circle && spec->subset == LM_SUBSET_FIRST;
    lm_status st = regression_set(&t, n_tr, seed, LM_STREAM_DATA, grid, train, err);
    if (st == LM_OK && n_te > 0) {
        st = regression_set(&t, n_te, seed, LM__STREAM_DATA_TEST, 0, test, err);
        if (st != LM_OK) {
            lm_dataset_free(*train);
            *train = NULL;
        }
    }
    task_free(&t);
    return st;
}

lm_status lm_data_powerlaw_truth(const lm_data_spec *spec, uint64_t seed, double *lambda, double *w,
                                 lm_err *err) {
    if (!spec || spec->source != LM_DATA_POWERLAW)
        LM_FAIL(err, LM_EINVAL, "lm_data_powerlaw_truth: data source is %s, not powerlaw",
                spec ? lm_data_source_name(spec->source) : "NULL");
    LM_TRY(check_synth_spec(spec, err));
    task t;
    LM_TRY(task_new(&t, spec, seed, err));
    for (size_t j = 0; j < spec->dim; j++) {
        if (lambda)
            lambda[j] = t.sdev[j] * t.sdev[j];
        if (w)
            w[j] = t.w[j];
    }
    task_free(&t);
    return LM_OK;
}
