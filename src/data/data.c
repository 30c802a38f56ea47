/*
 * data.c: the dataset type, the spec defaults and enum names, and lm_data_load for the file
 * sources (IDX image sets and .npy), with the transforms every source shares: subsets, average
 * pooling, normalisation and label-to-target conversion.
 *
 * Workload: Fashion-MNIST in full is 60000 x 784 uint8 pixels turned into 376 MB of float64, once
 * per run; the conversion is a typed loop per row (no per-element dispatch), pooling goes through
 * one row of scratch. Everything a trainer relies on (shapes, counts, label range, finiteness) is
 * checked here, against the whole file, before a dataset is returned.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Integer labels in .npy files become one-hot rows of width max + 1: 65536 classes bound that
 * width (and keep a stray huge label from asking for gigabytes). */
#define NPY_MAX_CLASSES 65536
/* The IDX image sets have ten classes. */
#define IDX_CLASSES 10

/* ---------------------------------------------------------------- spec, enum names */

lm_data_spec lm_data_spec_default(void) {
    lm_data_spec s;
    memset(&s, 0, sizeof s);
    s.source = LM_DATA_FASHION_MNIST;
    s.train_size = LM_ALL;
    s.test_size = LM_ALL;
    s.subset = LM_SUBSET_FIRST;
    s.pool = 1;
    s.normalize = LM_NORM_DEFAULT;
    s.targets = LM_TARGETS_ONEHOT;
    s.dim = 16;
    s.outputs = 1;
    s.teacher_width = 0;
    s.noise = 0.0;
    s.alpha = 1.5; /* science.md §7: (a, b) = (1.5, 1.6) */
    s.beta = 1.6;
    s.n_freq = 4; /* science.md §8: frequencies {1, 2, 4, 8} */
    s.frequencies[0] = 1;
    s.frequencies[1] = 2;
    s.frequencies[2] = 4;
    s.frequencies[3] = 8;
    s.modulus = 97; /* science.md §11 */
    s.train_frac = 0.5;
    s.rank = 3; /* science.md §1(d): 30 x 30, rank 3, 30 % observed */
    s.observed = 0.3;
    s.encoding = LM_ENCODING_ONEHOT;
    s.context = 64; /* a character-level model's usual window */
    s.stride = 0;   /* = context: windows that do not overlap */
    s.test_frac = 0.1;
    s.vocab = 0;
    return s;
}

static const char *source_names[] = {"fashion-mnist", "mnist",  "npy",    "teacher",
                                     "powerlaw",      "circle", "modadd", "matrix-completion",
                                     "linear-modes",  "text"};
static const char *normalize_names[] = {"default",     "none",   "scale01",
                                        "standardize", "sphere", "standardize_sphere"};
static const char *targets_names[] = {"onehot", "pm1", "parity", "index"};
static const char *subset_names[] = {"first", "random"};
static const char *encoding_names[] = {"onehot", "tokens"};

static int lookup(const char *s, const char *const *names, size_t n, int *out) {
    if (!s)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (int) i;
            return 1;
        }
    return 0;
}

lm_status lm_data_source_parse(const char *s, lm_data_source *out, lm_err *err) {
    int v;
    if (!out || !lookup(s, source_names, sizeof source_names / sizeof *source_names, &v))
        LM_FAIL(err, LM_EINVAL,
                "unknown data source \"%s\" (fashion-mnist, mnist, npy, teacher, powerlaw, "
                "circle, modadd, matrix-completion, linear-modes, text)",
                s ? s : "(null)");
    *out = (lm_data_source) v;
    return LM_OK;
}

lm_status lm_normalize_parse(const char *s, lm_normalize *out, lm_err *err) {
    int v;
    if (!out || !lookup(s, normalize_names, 6, &v))
        LM_FAIL(err, LM_EINVAL,
                "unknown normalize \"%s\" (default, none, scale01, standardize, sphere, "
                "standardize_sphere)",
                s ? s : "(null)");
    *out = (lm_normalize) v;
    return LM_OK;
}

lm_status lm_targets_parse(const char *s, lm_targets *out, lm_err *err) {
    int v;
    if (!out || !lookup(s, targets_names, 4, &v))
        LM_FAIL(err, LM_EINVAL, "unknown targets \"%s\" (onehot, pm1, parity, index)",
                s ? s : "(null)");
    *out = (lm_targets) v;
    return LM_OK;
}

lm_status lm_subset_parse(const char *s, lm_subset *out, lm_err *err) {
    int v;
    if (!out || !lookup(s, subset_names, 2, &v))
        LM_FAIL(err, LM_EINVAL, "unknown subset \"%s\" (first, random)", s ? s : "(null)");
    *out = (lm_subset) v;
    return LM_OK;
}

lm_status lm_encoding_parse(const char *s, lm_encoding *out, lm_err *err) {
    int v;
    if (!out || !lookup(s, encoding_names, 2, &v))
        LM_FAIL(err, LM_EINVAL, "unknown encoding \"%s\" (onehot, tokens)", s ? s : "(null)");
    *out = (lm_encoding) v;
    return LM_OK;
}

const char *lm_data_source_name(lm_data_source s) {
    return (unsigned) s <= LM_DATA_TEXT ? source_names[s] : "unknown";
}
const char *lm_encoding_name(lm_encoding e) {
    return (unsigned) e <= LM_ENCODING_TOKENS ? encoding_names[e] : "unknown";
}

int lm_data_is_tokens(const lm_data_spec *spec) {
    return spec->source == LM_DATA_TEXT ||
           ((spec->source == LM_DATA_MODADD || spec->source == LM_DATA_NPY) &&
            spec->encoding == LM_ENCODING_TOKENS);
}
const char *lm_normalize_name(lm_normalize s) {
    return (unsigned) s <= LM_NORM_STANDARDIZE_SPHERE ? normalize_names[s] : "unknown";
}
const char *lm_targets_name(lm_targets s) {
    return (unsigned) s <= LM_TARGETS_INDEX ? targets_names[s] : "unknown";
}
const char *lm_subset_name(lm_subset s) {
    return (unsigned) s <= LM_SUBSET_RANDOM ? subset_names[s] : "unknown";
}

/* ---------------------------------------------------------------- the dataset */

lm_status lm_dataset_new(size_t n, size_t d, size_t k, int with_labels, lm_dataset **out,
                         lm_err *err) {
    if (!out)
        LM_FAIL(err, LM_EINVAL, "lm_dataset_new needs an output");
    const size_t cap = SIZE_MAX / sizeof(double);
    if ((d && n > cap / d) || (k && n > cap / k))
        LM_FAIL(err, LM_ERANGE, "dataset %zu x %zu (targets %zu) overflows the address space", n, d,
                k);
    lm_dataset *ds = lm_calloc(1, sizeof *ds);
    if (!ds)
        LM_FAIL(err, LM_ENOMEM, "out of memory allocating a dataset");
    ds->x = lm_calloc(n && d ? n * d : 1, sizeof(double));
    ds->y = lm_calloc(n && k ? n * k : 1, sizeof(double));
    ds->labels = with_labels ? lm_calloc(n ? n : 1, sizeof(int32_t)) : NULL;
    if (!ds->x || !ds->y || (with_labels && !ds->labels)) {
        lm_dataset_free(ds);
        LM_FAIL(err, LM_ENOMEM, "out of memory allocating a %zu x %zu dataset (%zu targets)", n, d,
                k);
    }
    ds->n = n;
    ds->d = d;
    ds->k = k;
    ds->positions = 1;
    *out = ds;
    return LM_OK;
}

void lm_dataset_free(lm_dataset *ds) {
    if (!ds)
        return;
    lm_free(ds->x);
    lm_free(ds->y);
    lm_free(ds->labels);
    lm_free(ds);
}

lm_status lm_dataset_to_f32(const lm_dataset *ds, lm_dataset_f32 **out, lm_err *err) {
    const size_t nx = ds->n * ds->d, ny = ds->n * ds->k;
    lm_dataset_f32 *c = lm_calloc(1, sizeof *c);
    if (c) {
        c->x = lm_malloc((nx ? nx : 1) * sizeof *c->x);
        c->y = lm_malloc((ny ? ny : 1) * sizeof *c->y);
    }
    if (!c || !c->x || !c->y) {
        lm_dataset_f32_free(c);
        LM_FAIL(err, LM_ENOMEM, "out of memory for a float32 copy of %zu x %zu examples", ds->n,
                ds->d);
    }
    c->n = ds->n;
    c->d = ds->d;
    c->k = ds->k;
    c->positions = ds->positions ? ds->positions : 1; /* sets built by hand may leave it 0 */
    for (size_t i = 0; i < nx; i++)
        c->x[i] = (float) ds->x[i];
    for (size_t i = 0; i < ny; i++)
        c->y[i] = (float) ds->y[i];
    *out = c;
    return LM_OK;
}

void lm_dataset_f32_free(lm_dataset_f32 *ds) {
    if (!ds)
        return;
    lm_free(ds->x);
    lm_free(ds->y);
    lm_free(ds);
}

size_t lm__targets_width(lm_targets t, size_t n_classes) {
    return t == LM_TARGETS_ONEHOT || t == LM_TARGETS_PM1 ? n_classes : 1;
}

void lm__fill_targets(lm_dataset *ds, lm_targets t) {
    /* every (example, position) is one row of width k / positions (data.h's layout) */
    const size_t k = ds->k / ds->positions, rows = ds->n * ds->positions;
    for (size_t i = 0; i < rows; i++) {
        const int32_t c = ds->labels[i];
        double *y = ds->y + i * k;
        switch (t) {
        case LM_TARGETS_ONEHOT:
            for (size_t j = 0; j < k; j++)
                y[j] = (size_t) c == j ? 1.0 : 0.0;
            break;
        case LM_TARGETS_PM1:
            for (size_t j = 0; j < k; j++)
                y[j] = (size_t) c == j ? 1.0 : -1.0;
            break;
        case LM_TARGETS_PARITY:
            y[0] = c % 2 == 0 ? 1.0 : -1.0;
            break;
        case LM_TARGETS_INDEX:
            y[0] = (double) c;
            break;
        }
    }
}

/* ---------------------------------------------------------------- shared transforms */

int lm__is_int_elt(lm_elt e) {
    return e == LM_ELT_U8 || e == LM_ELT_I8 || e == LM_ELT_I16 || e == LM_ELT_I32 ||
           e == LM_ELT_I64;
}

/* Elements per row of an array [n, ...] (1 for a 1-d array). */
static size_t row_len(const lm_array *a) {
    size_t r = 1;
    for (size_t i = 1; i < a->ndim; i++)
        r *= a->shape[i];
    return r;
}

#define ROW_CONVERT(T)                                                                             \
    do {                                                                                           \
        const T *s = (const T *) a->data + r * len;                                                \
        for (size_t j = 0; j < len; j++)                                                           \
            dst[j] = (double) s[j];                                                                \
    } while (0)

/* Row r (len elements) of a, converted to double. */
static void row_to_double(const lm_array *a, size_t r, size_t len, double *dst) {
    switch (a->elt) {
    case LM_ELT_U8:
        ROW_CONVERT(uint8_t);
        break;
    case LM_ELT_I8:
        ROW_CONVERT(int8_t);
        break;
    case LM_ELT_I16:
        ROW_CONVERT(int16_t);
        break;
    case LM_ELT_I32:
        ROW_CONVERT(int32_t);
        break;
    case LM_ELT_I64:
        ROW_CONVERT(int64_t);
        break;
    case LM_ELT_F32:
        ROW_CONVERT(float);
        break;
    case LM_ELT_F64:
        ROW_CONVERT(double);
        break;
    }
}

/* Average pooling of an h x w image (row-major) by pool x pool blocks: out is (h/p) x (w/p). */
static void pool_image(const double *img, size_t h, size_t w, size_t p, double *out) {
    const size_t ho = h / p, wo = w / p;
    const double inv = 1.0 / (double) (p * p);
    for (size_t r = 0; r < ho; r++)
        for (size_t c = 0; c < wo; c++) {
            double s = 0.0;
            for (size_t dr = 0; dr < p; dr++)
                for (size_t dc = 0; dc < p; dc++)
                    s += img[(r * p + dr) * w + c * p + dc];
            out[r * wo + c] = s * inv;
        }
}

lm_status lm__pick_rows(size_t n, size_t m, lm_subset subset, uint64_t seed, uint64_t stream,
                        size_t **out, lm_err *err) {
    size_t len = subset == LM_SUBSET_RANDOM ? n : m;
    size_t *idx = lm_malloc((len ? len : 1) * sizeof *idx);
    if (!idx)
        LM_FAIL(err, LM_ENOMEM, "out of memory choosing %zu of %zu examples", m, n);
    for (size_t i = 0; i < len; i++)
        idx[i] = i;
    if (subset == LM_SUBSET_RANDOM) {
        lm_rng rng;
        lm_rng_seed(&rng, seed, stream);
        lm_rng_shuffle(&rng, idx, n);
    }
    *out = idx;
    return LM_OK;
}

lm_status lm__resolve_count(size_t want, size_t avail, const char *key, const char *file,
                            size_t *out, lm_err *err) {
    if (avail == 0)
        LM_FAIL(err, LM_ESHAPE, "%s: no examples", file);
    if (want == LM_ALL) {
        *out = avail;
        return LM_OK;
    }
    if (want > avail)
        LM_FAIL(err, LM_ERANGE, "%s = %zu, but %s has only %zu examples", key, want, file, avail);
    *out = want;
    return LM_OK;
}

/* One split's raw material: inputs x [n, ...] and either integer labels or targets y. */
typedef struct split_src {
    const lm_array *x;
    const int32_t *labels; /* [n], or NULL: then y is used as is         */
    const lm_array *y;     /* [n] or [n, k] regression targets           */
    size_t n_classes;
} split_src;

static lm_status build_split(const split_src *s, size_t m, const lm_data_spec *spec, uint64_t seed,
                             uint64_t stream, lm_dataset **out, lm_err *err) {
    const lm_array *x = s->x;
    const size_t n = x->shape[0], len = row_len(x), p = spec->pool;
    size_t d = len;
    if (p > 1)
        d = (x->shape[1] / p) * (x->shape[2] / p);
    size_t k = s->labels ? lm__targets_width(spec->targets, s->n_classes) : row_len(s->y);
    size_t *idx = NULL;
    LM_TRY(lm__pick_rows(n, m, spec->subset, seed, stream, &idx, err));
    double *scratch = NULL;
    if (p > 1 && !(scratch = lm_malloc(len * sizeof *scratch))) {
        lm_free(idx);
        LM_FAIL(err, LM_ENOMEM, "out of memory pooling a %zu-pixel image", len);
    }
    lm_dataset *ds = NULL;
    lm_status st = lm_dataset_new(m, d, k, s->labels != NULL, &ds, err);
    if (st == LM_OK) {
        for (size_t i = 0; i < m; i++) {
            const size_t r = idx[i];
            if (p > 1) {
                row_to_double(x, r, len, scratch);
                pool_image(scratch, x->shape[1], x->shape[2], p, ds->x + i * d);
            } else {
                row_to_double(x, r, len, ds->x + i * d);
            }
            if (s->labels)
                ds->labels[i] = s->labels[r];
            else
                row_to_double(s->y, r, k, ds->y + i * k);
        }
        if (s->labels) {
            ds->n_classes = s->n_classes;
            lm__fill_targets(ds, spec->targets);
        }
        *out = ds;
    }
    lm_free(scratch);
    lm_free(idx);
    return st;
}

/* Every row of train and test (when present) rescaled to ||x||^2 = d; zero rows stay zero. */
static void sphere(lm_dataset *tr, lm_dataset *te) {
    lm_dataset *sets[2] = {tr, te};
    for (int s = 0; s < 2; s++)
        if (sets[s])
            for (size_t i = 0; i < sets[s]->n; i++) {
                double *r = sets[s]->x + i * sets[s]->d, ss = 0.0;
                for (size_t j = 0; j < sets[s]->d; j++)
                    ss += r[j] * r[j];
                const double f = ss > 0.0 ? sqrt((double) sets[s]->d / ss) : 0.0;
                for (size_t j = 0; j < sets[s]->d; j++)
                    r[j] *= f;
            }
}

/* Per feature (x - mean) / std with the training set's statistics, applied to train and test. */
static lm_status standardize(lm_dataset *tr, lm_dataset *te, lm_err *err) {
    lm_dataset *sets[2] = {tr, te};
    const size_t n = tr->n, d = tr->d;
    double *mean = lm_calloc(d ? d : 1, sizeof *mean), *scale = lm_calloc(d ? d : 1, sizeof *scale);
    if (!mean || !scale) {
        lm_free(mean);
        lm_free(scale);
        LM_FAIL(err, LM_ENOMEM, "out of memory standardising %zu features", d);
    }
    /* Two passes (mean, then squared deviations): exact for constant columns, no cancellation. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            mean[j] += tr->x[i * d + j];
    for (size_t j = 0; j < d; j++)
        mean[j] /= (double) n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            const double c = tr->x[i * d + j] - mean[j];
            scale[j] += c * c;
        }
    for (size_t j = 0; j < d; j++) {
        /* A constant column: its mean may differ from the value by rounding, leaving a variance
         * of order 1e-32 that must not be divided by; test it exactly instead. */
        int constant = 1;
        for (size_t i = 1; i < n && constant; i++)
            constant = tr->x[i * d + j] == tr->x[j];
        if (constant) {
            mean[j] = n ? tr->x[j] : 0.0;
            scale[j] = 1.0;
        } else {
            const double sd = sqrt(scale[j] / (double) n);
            scale[j] = sd > 0.0 ? 1.0 / sd : 1.0;
        }
    }
    for (int s = 0; s < 2; s++)
        if (sets[s])
            for (size_t i = 0; i < sets[s]->n; i++)
                for (size_t j = 0; j < d; j++) {
                    double *v = sets[s]->x + i * d + j;
                    *v = (*v - mean[j]) * scale[j];
                }
    lm_free(mean);
    lm_free(scale);
    return LM_OK;
}

/* Normalisation of train (statistics) and test (same statistics). */
static lm_status apply_normalize(lm_dataset *tr, lm_dataset *te, lm_normalize norm, lm_err *err) {
    if (norm == LM_NORM_SCALE01) {
        lm_dataset *sets[2] = {tr, te};
        for (int s = 0; s < 2; s++)
            if (sets[s])
                for (size_t i = 0; i < sets[s]->n * sets[s]->d; i++)
                    sets[s]->x[i] /= 255.0;
    } else if (norm == LM_NORM_SPHERE) {
        sphere(tr, te);
    } else if (norm == LM_NORM_STANDARDIZE) {
        LM_TRY(standardize(tr, te, err));
    } else if (norm == LM_NORM_STANDARDIZE_SPHERE) {
        LM_TRY(standardize(tr, te, err));
        sphere(tr, te);
    }
    return LM_OK;
}

/* Integer labels [n] to int32, each in [0, limit). max_label gets the largest. */
static lm_status labels_from(const lm_array *a, const char *path, size_t limit, int32_t **out,
                             size_t *max_label, lm_err *err) {
    if (!lm__is_int_elt(a->elt) || a->ndim != 1)
        LM_FAIL(err, LM_EFORMAT, "%s: labels must be a 1-d integer array, got %s with %zu dims",
                path, lm_elt_name(a->elt), a->ndim);
    int32_t *lab = lm_malloc((a->count ? a->count : 1) * sizeof *lab);
    if (!lab)
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory for %zu labels", path, a->count);
    size_t mx = 0;
    for (size_t i = 0; i < a->count; i++) {
        const double v = lm_array_get(a, i);
        if (v < 0.0 || v >= (double) limit) {
            lm_free(lab);
            LM_FAIL(err, LM_ERANGE, "%s: label %.0f at row %zu is outside 0..%zu", path, v, i,
                    limit - 1);
        }
        lab[i] = (int32_t) v;
        if ((size_t) lab[i] > mx)
            mx = (size_t) lab[i];
    }
    *out = lab;
    *max_label = mx;
    return LM_OK;
}

static lm_status check_finite(const lm_array *a, const char *path, lm_err *err) {
    if (a->elt != LM_ELT_F32 && a->elt != LM_ELT_F64)
        return LM_OK;
    const size_t len = row_len(a);
    for (size_t i = 0; i < a->count; i++) {
        const double v = lm_array_get(a, i);
        if (!isfinite(v))
            LM_FAIL(err, LM_ENUMERIC, "%s: %s at row %zu, column %zu", path,
                    isnan(v) ? "NaN"
                    : v > 0  ? "Inf"
                             : "-Inf",
                    len ? i / len : 0, len ? i % len : 0);
    }
    return LM_OK;
}

static lm_status check_pool(const lm_array *x, size_t pool, const char *path, lm_err *err) {
    if (pool <= 1)
        return LM_OK;
    char shp[128];
    lm__shape_str(shp, sizeof shp, x->ndim, x->shape);
    if (x->ndim != 3)
        LM_FAIL(err, LM_ESHAPE, "pool %zu needs images [n, h, w]; %s has shape %s", pool, path,
                shp);
    if (x->shape[1] % pool || x->shape[2] % pool)
        LM_FAIL(err, LM_ESHAPE, "pool %zu does not divide the %zux%zu images of %s", pool,
                x->shape[1], x->shape[2], path);
    return LM_OK;
}

/* ---------------------------------------------------------------- IDX image sets */

/* dir/name.gz, else dir/name; the error names both when neither exists. */
static lm_status find_idx(const char *dir, const char *name, char *path, size_t n, lm_err *err) {
    struct stat st;
    int w = snprintf(path, n, "%s/%s.gz", dir, name);
    if (w < 0 || (size_t) w >= n)
        LM_FAIL(err, LM_EINVAL, "data dir \"%s\" is too long", dir);
    if (stat(path, &st) == 0)
        return LM_OK;
    snprintf(path, n, "%s/%s", dir, name);
    if (stat(path, &st) == 0)
        return LM_OK;
    LM_FAIL(err, LM_ENOTFOUND,
            "%s/%s.gz: not found (nor %s uncompressed); is the dataset installed?", dir, name,
            name);
}

typedef struct idx_pair {
    char img_path[LM_PATH_MAX + 64], lab_path[LM_PATH_MAX + 64];
    lm_array *img;
    int32_t *labels;
    size_t file_rows; /* examples in the files (img holds a prefix when fewer were needed) */
} idx_pair;

static void idx_pair_free(idx_pair *p) {
    lm_array_free(p->img);
    lm_free(p->labels);
    p->img = NULL;
    p->labels = NULL;
}

/* Loads images and labels; only the first max_rows of each when that is all the split needs
 * (subset "first" with a count): a 4096-example run then inflates 3 MB instead of 47 MB. */
static lm_status idx_pair_load(const char *dir, const char *img, const char *lab, size_t max_rows,
                               idx_pair *p, lm_err *err) {
    lm_array *la = NULL;
    size_t mx = 0, lab_rows = 0;
    LM_TRY(find_idx(dir, img, p->img_path, sizeof p->img_path, err));
    LM_TRY(find_idx(dir, lab, p->lab_path, sizeof p->lab_path, err));
    LM_TRY(lm__idx_read_prefix(p->img_path, max_rows, &p->img, &p->file_rows, err));
    lm_status st = LM_OK;
    if (p->img->ndim != 3) {
        char shp[128];
        lm__shape_str(shp, sizeof shp, p->img->ndim, p->img->shape);
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                        "%s: images have shape %s, expected [n, h, w]", p->img_path, shp);
    }
    if (st == LM_OK)
        st = lm__idx_read_prefix(p->lab_path, max_rows, &la, &lab_rows, err);
    if (st == LM_OK)
        st = labels_from(la, p->lab_path, IDX_CLASSES, &p->labels, &mx, err);
    if (st == LM_OK && lab_rows != p->file_rows)
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                        "%s has %zu images but %s has %zu labels", p->img_path, p->file_rows,
                        p->lab_path, lab_rows);
    lm_array_free(la);
    if (st != LM_OK)
        idx_pair_free(p);
    return st;
}

static lm_status load_idx_source(const lm_data_spec *spec, uint64_t seed, lm_dataset **tr,
                                 lm_dataset **te, lm_err *err) {
    const char *dir = spec->dir[0]                    ? spec->dir
                      : spec->source == LM_DATA_MNIST ? "/usr/share/datasets/mnist"
                                                      : "/usr/share/datasets/fashion-mnist";
    idx_pair p = {0};
    size_t m = 0;
    const int first = spec->subset == LM_SUBSET_FIRST;
    LM_TRY(idx_pair_load(dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                         first ? spec->train_size : SIZE_MAX, &p, err));
    lm_status st = check_pool(p.img, spec->pool, p.img_path, err);
    if (st == LM_OK)
        st = lm__resolve_count(spec->train_size, p.file_rows, "train_size", p.img_path, &m, err);
    split_src s = {p.img, p.labels, NULL, IDX_CLASSES};
    if (st == LM_OK)
        st = build_split(&s, m, spec, seed, LM_STREAM_DATA, tr, err);
    idx_pair_free(&p);
    if (st != LM_OK || !te || spec->test_size == 0)
        return st;
    st = idx_pair_load(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                       first ? spec->test_size : SIZE_MAX, &p, err);
    if (st == LM_OK)
        st = check_pool(p.img, spec->pool, p.img_path, err);
    if (st == LM_OK)
        st = lm__resolve_count(spec->test_size, p.file_rows, "test_size", p.img_path, &m, err);
    s.x = p.img;
    s.labels = p.labels;
    if (st == LM_OK)
        st = build_split(&s, m, spec, seed, LM__STREAM_DATA_TEST, te, err);
    idx_pair_free(&p);
    if (st != LM_OK) {
        lm_dataset_free(*tr);
        *tr = NULL;
    }
    return st;
}

/* ---------------------------------------------------------------- .npy sets */

typedef struct npy_pair {
    const char *xp, *yp;
    lm_array *x, *y;
    int32_t *labels;
    size_t max_label;
} npy_pair;

static void npy_pair_free(npy_pair *p) {
    lm_array_free(p->x);
    lm_array_free(p->y);
    lm_free(p->labels);
    p->x = p->y = NULL;
    p->labels = NULL;
}

static lm_status npy_pair_load(npy_pair *p, size_t pool, lm_err *err) {
    char shp[128];
    LM_TRY(lm_npy_read(p->xp, &p->x, err));
    lm_status st = lm_npy_read(p->yp, &p->y, err);
    lm__shape_str(shp, sizeof shp, p->x->ndim, p->x->shape);
    if (st == LM_OK && (p->x->ndim == 0 || row_len(p->x) == 0))
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                        "%s: x has shape %s; expected [n, d, ...] with d >= 1", p->xp, shp);
    if (st == LM_OK && (p->y->ndim == 0 || p->y->ndim > 2 || row_len(p->y) == 0)) {
        lm__shape_str(shp, sizeof shp, p->y->ndim, p->y->shape);
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                        "%s: y has shape %s; expected labels [n] or targets [n, k]", p->yp, shp);
    }
    if (st == LM_OK && p->x->shape[0] != p->y->shape[0])
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__, "%s has %zu rows but %s has %zu", p->xp,
                        p->x->shape[0], p->yp, p->y->shape[0]);
    if (st == LM_OK)
        st = check_pool(p->x, pool, p->xp, err);
    if (st == LM_OK)
        st = check_finite(p->x, p->xp, err);
    if (st == LM_OK)
        st = check_finite(p->y, p->yp, err);
    if (st == LM_OK && p->y->ndim == 1 && lm__is_int_elt(p->y->elt))
        st = labels_from(p->y, p->yp, NPY_MAX_CLASSES, &p->labels, &p->max_label, err);
    if (st != LM_OK)
        npy_pair_free(p);
    return st;
}

static lm_status load_npy_source(const lm_data_spec *spec, uint64_t seed, lm_dataset **tr,
                                 lm_dataset **te, lm_err *err) {
    if (!spec->x[0] || !spec->y[0])
        LM_FAIL(err, LM_EINVAL, "npy data need both x and y (x = \"%s\", y = \"%s\")", spec->x,
                spec->y);
    if (!spec->test_x[0] != !spec->test_y[0])
        LM_FAIL(err, LM_EINVAL, "test_x and test_y go together: %s is set but %s is not",
                spec->test_x[0] ? "test_x" : "test_y", spec->test_x[0] ? "test_y" : "test_x");
    const int want_test = te && spec->test_size != 0;
    if (want_test && !spec->test_x[0] && spec->test_size != LM_ALL)
        LM_FAIL(err, LM_EINVAL, "test_size = %zu, but no test_x/test_y files are given",
                spec->test_size);
    npy_pair a = {spec->x, spec->y, NULL, NULL, NULL, 0};
    npy_pair b = {spec->test_x, spec->test_y, NULL, NULL, NULL, 0};
    LM_TRY(npy_pair_load(&a, spec->pool, err));
    lm_status st = LM_OK;
    const int have_test = want_test && spec->test_x[0];
    if (have_test) {
        st = npy_pair_load(&b, spec->pool, err);
        if (st == LM_OK &&
            (a.x->ndim != b.x->ndim ||
             memcmp(a.x->shape + 1, b.x->shape + 1, (a.x->ndim - 1) * sizeof(size_t)) != 0)) {
            char s1[128], s2[128];
            lm__shape_str(s1, sizeof s1, a.x->ndim - 1, a.x->shape + 1);
            lm__shape_str(s2, sizeof s2, b.x->ndim - 1, b.x->shape + 1);
            st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                            "rows of %s are %s but rows of %s are %s", a.xp, s1, b.xp, s2);
        }
        if (st == LM_OK && (!a.labels != !b.labels || (!a.labels && row_len(a.y) != row_len(b.y))))
            st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                            "%s and %s hold different kinds of targets (%s %zu-d vs %s %zu-d)",
                            a.yp, b.yp, lm_elt_name(a.y->elt), a.y->ndim, lm_elt_name(b.y->elt),
                            b.y->ndim);
    }
    size_t n_classes = a.labels ? a.max_label + 1 : 0;
    if (have_test && b.labels && b.max_label + 1 > n_classes)
        n_classes = b.max_label + 1;
    size_t m = 0;
    if (st == LM_OK)
        st = lm__resolve_count(spec->train_size, a.x->shape[0], "train_size", a.xp, &m, err);
    split_src s = {a.x, a.labels, a.y, n_classes};
    if (st == LM_OK)
        st = build_split(&s, m, spec, seed, LM_STREAM_DATA, tr, err);
    if (st == LM_OK && have_test) {
        st = lm__resolve_count(spec->test_size, b.x->shape[0], "test_size", b.xp, &m, err);
        split_src t = {b.x, b.labels, b.y, n_classes};
        if (st == LM_OK)
            st = build_split(&t, m, spec, seed, LM__STREAM_DATA_TEST, te, err);
        if (st != LM_OK) {
            lm_dataset_free(*tr);
            *tr = NULL;
        }
    }
    npy_pair_free(&a);
    npy_pair_free(&b);
    return st;
}

/* ---------------------------------------------------------------- lm_data_load */

static lm_status check_spec(const lm_data_spec *spec, lm_err *err) {
    if ((unsigned) spec->source > LM_DATA_TEXT)
        LM_FAIL(err, LM_EINVAL, "data source %d is not a source", (int) spec->source);
    if ((unsigned) spec->subset > LM_SUBSET_RANDOM)
        LM_FAIL(err, LM_EINVAL, "subset %d is not a subset rule", (int) spec->subset);
    if ((unsigned) spec->normalize > LM_NORM_STANDARDIZE_SPHERE)
        LM_FAIL(err, LM_EINVAL, "normalize %d is not a normalisation", (int) spec->normalize);
    if ((unsigned) spec->targets > LM_TARGETS_INDEX)
        LM_FAIL(err, LM_EINVAL, "targets %d is not a target kind", (int) spec->targets);
    if (spec->pool != 1 && spec->pool != 2 && spec->pool != 4)
        LM_FAIL(err, LM_EINVAL, "pool = %zu; use 1, 2 or 4", spec->pool);
    if (spec->train_size == 0)
        LM_FAIL(err, LM_EINVAL, "train_size = 0; use a count >= 1 or all");
    const int image = spec->source == LM_DATA_FASHION_MNIST || spec->source == LM_DATA_MNIST;
    if (spec->pool != 1 && !image && spec->source != LM_DATA_NPY)
        LM_FAIL(err, LM_EINVAL, "pool = %zu, but %s data are not images", spec->pool,
                lm_data_source_name(spec->source));
    const size_t max_path = LM_PATH_MAX;
    if (strnlen(spec->dir, max_path) == max_path || strnlen(spec->x, max_path) == max_path ||
        strnlen(spec->y, max_path) == max_path || strnlen(spec->test_x, max_path) == max_path ||
        strnlen(spec->test_y, max_path) == max_path || strnlen(spec->path, max_path) == max_path)
        LM_FAIL(err, LM_EINVAL, "a data path is not NUL-terminated within %d bytes", LM_PATH_MAX);
    return lm__check_tokens_spec(spec, err);
}

lm_status lm_data_load(const lm_data_spec *spec, uint64_t seed, lm_dataset **train,
                       lm_dataset **test, lm_err *err) {
    if (!spec || !train)
        LM_FAIL(err, LM_EINVAL, "lm_data_load needs a spec and a train output");
    LM_TRY(check_spec(spec, err));
    lm_dataset *tr = NULL, *te = NULL;
    lm_status st;
    lm_normalize norm = spec->normalize;
    switch (spec->source) {
    case LM_DATA_FASHION_MNIST:
    case LM_DATA_MNIST:
        if (norm == LM_NORM_DEFAULT)
            norm = LM_NORM_SCALE01;
        st = load_idx_source(spec, seed, &tr, test ? &te : NULL, err);
        break;
    case LM_DATA_NPY:
        if (spec->encoding == LM_ENCODING_TOKENS)
            st = lm__npy_tokens_load(spec, seed, &tr, test ? &te : NULL, err);
        else
            st = load_npy_source(spec, seed, &tr, test ? &te : NULL, err);
        break;
    case LM_DATA_TEXT:
        st = lm__text_load(spec, seed, &tr, test ? &te : NULL, err);
        break;
    default:
        st = lm__synth_load(spec, seed, &tr, test ? &te : NULL, err);
        break;
    }
    if (st == LM_OK)
        st = apply_normalize(tr, te, norm, err);
    if (st != LM_OK) {
        lm_dataset_free(tr);
        lm_dataset_free(te);
        return st;
    }
    *train = tr;
    if (test)
        *test = te;
    return LM_OK;
}
