/*
 * lmech/data.h: datasets. Readers for IDX (gzipped or not) and .npy files, subsets, pooling,
 * normalisation, targets, and synthetic sets.
 *
 * A dataset is x [n, d] and y [n, k] in float64, row-major, plus the class labels when the data
 * have classes. Everything is validated at load time (shapes, counts, NaN/Inf), so the trainer
 * never sees a malformed set.
 *
 * Sources:
 *   fashion-mnist, mnist   IDX files in dir: train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte,
 *                          t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (gzipped or not).
 *   npy                    x, y (and test_x, test_y) .npy files; y may be a 1-d integer label
 *                          vector (converted by `targets`) or a 2-d float matrix (used as is).
 *   teacher                x ~ N(0, I_dim); y = a random teacher network (teacher_width hidden tanh
 *                          units, or linear when teacher_width = 0) with `outputs` outputs, plus
 *                          N(0, noise^2) label noise.
 *   powerlaw               Gaussian features x_j ~ N(0, j^-a) for j = 1..dim, target y = w*.x +
 *                          noise with lambda_j (w*_j)^2 = j^-b (science.md §7): a = `alpha`,
 *                          b = `beta`.
 *   circle                 train_size points on the unit circle, x = (cos t, sin t), t on a
 *                          uniform grid (subset "first") or uniform at random ("random"); target
 *                          sum over `frequencies` of cos(k t) (science.md §8).
 *   modadd                 all p^2 pairs (a, b) of Z_p, x = [onehot(a), onehot(b)] (d = 2p),
 *                          class (a + b) mod p; a seeded split puts train_frac of the pairs in the
 *                          training set and the rest in the test set.
 *   matrix-completion      (science.md §1(d), Arora et al. 2019) M* = U V^T, U and V dim x rank
 *                          with N(0, 1) entries, scaled so that the RMS entry is 1; Omega a seeded
 *                          random set of round(observed dim^2) entries. Train: x = I_dim (dim
 *                          rows), y = M*^T with the unobserved entries NaN, so that a linear
 *                          network's output on row j, column j of its end-to-end matrix P, meets
 *                          column j of M* (the output matrix F = P^T is fitted to M*^T). Test: the
 *                          same x with the full M*^T. Only loss mse_observed reads NaN targets;
 *                          the config refuses this source with any other loss.
 *   linear-modes           the deep-linear-network task of Saxe et al. 2014 (science.md §1): P =
 *                          train_size inputs of dim = d_in whitened EXACTLY, (1/P) X^T X = I
 *                          (a Gaussian draw, its thin QR X = Q R, then X = sqrt(P) Q: needs
 *                          P >= d_in), and targets y = M x with M = U diag(s) V^T [outputs x dim],
 *                          s = `singular_values` (r of them, positive, r <= min(dim, outputs)),
 *                          U [outputs x r] and V [dim x r] Haar-random orthonormal columns; so
 *                          Sigma^yx = (1/P) Y^T X = M exactly (to rounding). The test set draws
 *                          x ~ N(0, I) (not whitened) with the same map. noise must be 0.
 *                          lm_data_linear_modes gives U and V.
 *   text                   the bytes of the file `path` as tokens (vocab 256): windows of
 *                          context + 1 bytes starting every `stride` bytes (default stride =
 *                          context), x = bytes[s .. s+T) and every-position targets
 *                          bytes[s+1 .. s+T+1) (T = context). The first round((1 - test_frac) W)
 *                          of the file's W windows train, the rest test (test_frac default 0.1);
 *                          train_size / test_size / subset then pick from each part as for npy.
 *
 * Token sets (transformers): text, modadd with encoding "tokens", npy with encoding "tokens".
 * x [n, T] holds token ids 0..vocab-1 as doubles (d = T). Targets are one-hot over the whole
 * vocabulary V: for last-position prediction y [n, V] (positions = 1, k = V); for
 * every-position prediction y [n, T V] with position t's one-hot at y[i T V + t V ..]
 * (positions = T, k = T V), so y viewed as [n T, V] is row-major per (example, position) and
 * accuracy is lm_accuracy(f, y, n positions, k / positions). labels [n positions] follow the
 * same order; n_classes = V. normalize must be none (or default) and targets onehot.
 *   modadd tokens          x = [a, b, p]: three tokens, the third the "=" token id p, so the
 *                          vocabulary is p + 1 and d = 3; the class (a + b) mod p at the last
 *                          position, one-hot over V = p + 1 classes (n_classes = p + 1; class p,
 *                          the "=" token, never occurs as a target: the head predicts over the
 *                          whole vocabulary, as in Power et al. 2022 and Nanda et al. 2023).
 *                          Same split and pair order as the one-hot encoding (same streams).
 *   npy tokens             x an INTEGER array [n, T] of ids; y an integer array [n] (last
 *                          position) or [n, T] (every position, positions = T). test_x/test_y
 *                          alike (same T, same kind of y). vocab = `vocab` when given (every id
 *                          of x and y must be below it), else 1 + the largest id of x and y over
 *                          train and test (at most 65536).
 *   vocab                  0 = inferred; otherwise checked: modadd tokens need p + 1, text 256.
 *   memory                 a set whose one-hot targets (train + test) would pass
 *                          LM_DATA_MAX_TARGET_BYTES is refused with the numbers.
 *
 * Order of the transforms: subset, then pooling, then normalisation, then targets.
 *
 * Defaults, resolved at load time:
 *   normalize  LM_NORM_DEFAULT is scale01 for fashion-mnist and mnist and none for every other
 *              source (npy included). scale01 divides by 255 whatever the source; standardize
 *              takes per-feature mean and population std from the (subset, pooled) training set
 *              and applies them to train and test; constant features are only centred (to 0);
 *              sphere rescales every row (train and test) to ||x||^2 = d; standardize_sphere
              does standardize and then sphere (raw pixels are all positive, which gives the
              kernel a dominant constant mode; centring them first removes it).
 *   sizes      train_size / test_size = LM_ALL: every example of the file (IDX, npy); 1000 train
 *              and 1000 test examples for teacher, powerlaw and linear-modes; 256 train (the grid)
 and 1000 test
 *              for circle; the whole split for modadd (round(train_frac p^2) pairs and the rest).
 *              dim rows (train, and the full matrix for test) for matrix-completion, whose
 *              train_size / test_size may only be all (or test_size 0: no test set).
 *              A count larger than what exists is an error naming the key and both numbers.
 *   subset     first: the first n rows in file order; random: the first n of a permutation drawn
 *              from the seed. For circle, first = the uniform grid t_i = 2 pi i / n, random =
 *              uniform angles; teacher/powerlaw draws are random either way; modadd subsets are
 *              taken from the (already random) split and each split is returned in pair order.
 *   targets    class data (IDX, npy integer labels, modadd): onehot / pm1 (k = n_classes),
 *              parity / index (k = 1). Regression data (teacher, powerlaw, circle, npy float y)
 *              ignore `targets`. IDX sets have 10 classes; npy labels give n_classes = 1 + the
 *              largest label in train and test (labels must be in 0..65535).
 *   npy y      1-d integer: class labels; 1-d float: one regression target (k = 1); 2-d [n, k]:
 *              targets used as is (labels NULL, n_classes 0).
 *   noise      label noise N(0, noise^2) is added to train and test targets of teacher, powerlaw
 *              and circle (one normal per output is always drawn, so x does not depend on noise).
 *
 * Randomness: every draw comes from lm_rng streams of `seed`: LM_STREAM_DATA for the training
 * set (random subsets, synthetic inputs and noise), stream (LM_STREAM_DATA << 16 | 1) for the test
 * set and (LM_STREAM_DATA << 16 | 2) for what both share (teacher weights, power-law signs, the
 * modadd split, linear-modes' U and V). A spec and a seed give the same data bit for bit.
 */
#ifndef LMECH_DATA_H
#define LMECH_DATA_H

#include "lmech/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LM_PATH_MAX       1024
#define LM_ALL            ((size_t) -1) /* "every example" for train_size / test_size */
#define LM_DATA_MAX_MODES 16            /* linear-modes: at most 16 singular values    */

typedef enum lm_data_source {
    LM_DATA_FASHION_MNIST = 0,
    LM_DATA_MNIST,
    LM_DATA_NPY,
    LM_DATA_TEACHER,
    LM_DATA_POWERLAW,
    LM_DATA_CIRCLE,
    LM_DATA_MODADD,
    LM_DATA_MATRIX_COMPLETION,
    LM_DATA_LINEAR_MODES, /* deep linear networks (science.md §1) */
    LM_DATA_TEXT          /* bytes of a file as tokens, next-token prediction */
} lm_data_source;

/* How a class source's inputs are written: one-hot vectors (today's modadd, npy) or token ids
 * for a sequence model (modadd and npy; text is always tokens). */
typedef enum lm_encoding { LM_ENCODING_ONEHOT = 0, LM_ENCODING_TOKENS } lm_encoding;

/* Token sets materialise one-hot targets: n * positions * vocab doubles. A set (train and test
 * together) whose targets would pass this many bytes is refused with the numbers (4 GiB: the
 * windows of a 1 MB text at context 64 and stride 64 fit; use train_size/test_size or a larger
 * stride for bigger files). */
#define LM_DATA_MAX_TARGET_BYTES ((size_t) 4 << 30)

typedef enum lm_subset { LM_SUBSET_FIRST = 0, LM_SUBSET_RANDOM } lm_subset;

typedef enum lm_normalize {
    LM_NORM_DEFAULT = 0, /* scale01 for images, none otherwise */
    LM_NORM_NONE,
    LM_NORM_SCALE01,           /* pixels / 255                                              */
    LM_NORM_STANDARDIZE,       /* per feature: (x - mean) / std with the training set's stats;
                                  features with std 0 are only centred                       */
    LM_NORM_SPHERE,            /* per row: x * sqrt(d) / ||x||, so ||x||^2 = d (the kernel
                                  setups of science.md §2-3); all-zero rows stay zero          */
    LM_NORM_STANDARDIZE_SPHERE /* standardize (training-set statistics), then sphere: the
                                  centred inputs of science.md §0 on the sphere of §2-3    */
} lm_normalize;

typedef enum lm_targets {
    LM_TARGETS_ONEHOT = 0, /* k = classes, 1 for the class and 0 elsewhere (default) */
    LM_TARGETS_PM1,        /* k = classes, +1 for the class and -1 elsewhere          */
    LM_TARGETS_PARITY,     /* k = 1, +1 for even class index, -1 for odd             */
    LM_TARGETS_INDEX       /* k = 1, the class index as a number                      */
} lm_targets;

typedef struct lm_data_spec {
    lm_data_source source;
    char dir[LM_PATH_MAX]; /* IDX directory; "" = /usr/share/datasets/fashion-mnist (or
                              /usr/share/datasets/mnist for mnist)                      */
    char x[LM_PATH_MAX], y[LM_PATH_MAX];           /* npy                                */
    char test_x[LM_PATH_MAX], test_y[LM_PATH_MAX]; /* npy, optional                      */
    size_t train_size; /* LM_ALL (default) or a count >= 1                      */
    size_t test_size;  /* LM_ALL (default), or a count; 0 means no test set     */
    lm_subset subset;  /* default first                                          */
    size_t pool;       /* 1 (default), 2 or 4: average pooling of images         */
    lm_normalize normalize;
    lm_targets targets;
    /* synthetic sets */
    size_t dim;           /* input dimension (teacher, powerlaw); default 16        */
    size_t outputs;       /* teacher outputs; default 1                             */
    size_t teacher_width; /* teacher hidden width, 0 = linear; default 0            */
    double noise;         /* label noise std; default 0                             */
    double alpha, beta;   /* powerlaw exponents a, b; default 1.5, 1.6              */
    size_t n_freq;        /* circle frequencies; default {1, 2, 4, 8}               */
    int frequencies[16];
    size_t modulus;    /* modadd p; default 97                                   */
    double train_frac; /* modadd train fraction; default 0.5                     */
    /* matrix-completion (dim is the matrix side) */
    size_t rank;     /* rank of M*; default 3                                    */
    double observed; /* observed fraction of the dim^2 entries; default 0.3      */
    /* linear-modes (deep linear networks): the task's singular values s_1..s_r, r = n_sv */
    size_t n_sv; /* default 0: must be given for linear-modes                  */
    double singular_values[LM_DATA_MAX_MODES];
    /* token sequences (transformers) */
    lm_encoding encoding;   /* modadd, npy: onehot (default) or tokens                   */
    char path[LM_PATH_MAX]; /* text: the file whose bytes are the tokens               */
    size_t context;         /* text: T, tokens per window; default 64                   */
    size_t stride;          /* text: window start step; 0 (default) = context           */
    double test_frac;       /* text: the last test_frac of the windows test; default 0.1 */
    size_t vocab;           /* token sets: 0 (default) = inferred; else checked          */
} lm_data_spec;

lm_data_spec lm_data_spec_default(void);
lm_status lm_data_source_parse(const char *s, lm_data_source *out, lm_err *err);
lm_status lm_normalize_parse(const char *s, lm_normalize *out, lm_err *err);
lm_status lm_targets_parse(const char *s, lm_targets *out, lm_err *err);
lm_status lm_subset_parse(const char *s, lm_subset *out, lm_err *err);
lm_status lm_encoding_parse(const char *s, lm_encoding *out, lm_err *err);
const char *lm_data_source_name(lm_data_source s);
const char *lm_normalize_name(lm_normalize s);
const char *lm_targets_name(lm_targets s);
const char *lm_subset_name(lm_subset s);
const char *lm_encoding_name(lm_encoding e);

/* 1 when spec describes a token set (text, or modadd/npy with encoding tokens). */
int lm_data_is_tokens(const lm_data_spec *spec);

typedef struct lm_dataset {
    size_t n, d, k;
    double *x;        /* [n, d]                                                   */
    double *y;        /* [n, k]                                                   */
    int32_t *labels;  /* [n * positions] class indices, or NULL (regression sets) */
    size_t n_classes; /* 0 for regression sets                                    */
    size_t positions; /* predicted positions per example: 1 (every source but the
                         every-position token sets), T for those; k = positions *
                         (k per position). lm_dataset_new sets 1.                  */
} lm_dataset;

/* Loads the training set and, unless test_size is 0 (or the source has no test split and none
 * was given), the test set (*test is NULL then). test may be NULL: no test set is built. seed
 * drives random subsets and synthetic sets (stream LM_STREAM_DATA). Errors name the file and what
 * is wrong (missing, truncated, wrong magic, wrong dtype, shape mismatch between x and y, NaN/Inf
 * at row r column c, ...). */
lm_status lm_data_load(const lm_data_spec *spec, uint64_t seed, lm_dataset **train,
                       lm_dataset **test, lm_err *err);
void lm_dataset_free(lm_dataset *ds);

/* linear-modes: the task's modes for spec and seed, exactly those lm_data_load's sets are built
 * from: U [outputs, r] and V [dim, r] row-major (r = spec->n_sv), orthonormal columns, column k
 * for singular_values[k]. Sigma^yx = U diag(s) V^T. Errors (LM_EINVAL) name the bad key: another
 * source, r = 0 or r > min(dim, outputs), s_k not finite and > 0. */
lm_status lm_data_linear_modes(const lm_data_spec *spec, uint64_t seed, double *U, double *V,
                               lm_err *err);

/* A dataset's inputs and targets in float32, for float32 training: x [n, d], y [n, k]. */
typedef struct lm_dataset_f32 {
    size_t n, d, k;
    float *x, *y;
    size_t positions; /* the source set's positions (lm_dataset), 1 when that was 0 */
} lm_dataset_f32;

/* Rounds ds's x and y to float32 into a new *out (unchanged on failure: LM_ENOMEM). */
lm_status lm_dataset_to_f32(const lm_dataset *ds, lm_dataset_f32 **out, lm_err *err);
void lm_dataset_f32_free(lm_dataset_f32 *ds);

/* Allocates an empty dataset of the given shape (labels when with_labels). */
lm_status lm_dataset_new(size_t n, size_t d, size_t k, int with_labels, lm_dataset **out,
                         lm_err *err);

/* The population truth of the powerlaw source (science.md §7) for a spec and a seed: lambda [dim]
 * receives the feature variances lambda_j = j^-alpha and w [dim] the target weights w*_j, signs
 * included, exactly as lm_data_load draws them for the same spec and seed (one shared draw, so
 * the two agree bit for bit). With x ~ N(0, diag(lambda)) the population MSE of a linear
 * predictor u is then sum_j lambda_j (u_j - w*_j)^2 + noise^2, computable without a test set.
 * Either output may be NULL. Errors: LM_EINVAL when spec->source is not powerlaw or the spec is
 * invalid (named), LM_ENOMEM. On failure the outputs are unchanged. */
lm_status lm_data_powerlaw_truth(const lm_data_spec *spec, uint64_t seed, double *lambda, double *w,
                                 lm_err *err);

/* ---------------------------------------------------------------- file readers */

/* IDX (LeCun's MNIST format): magic 0x0000TTDD big-endian, T the type (0x08 u8, 0x09 i8,
 * 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64), D the number of dimensions, then D big-endian u32
 * sizes and the data. Gzipped files are recognised by their magic bytes. The returned array is
 * in native byte order. The payload must match the header exactly (missing and trailing bytes
 * are refused); a header claiming more than the input can hold is refused before allocating.
 * `name` (may be NULL) only labels error messages. */
lm_status lm_idx_read(const char *path, lm_array **out, lm_err *err);
lm_status lm_idx_parse(const uint8_t *buf, size_t len, const char *name, lm_array **out,
                       lm_err *err);

/* NumPy .npy v1/v2/v3: dtypes <f4 <f8 |u1 <i4 <i8 (and |i1 <i2 <u1, |b1 read as uint8), C order
 * only (fortran_order True is refused). '<', '=' (taken as little-endian) and, for one-byte types,
 * '|' are read as is; big-endian '>' data are byte-swapped to native order. The data length must
 * match the header exactly. `name` (may be NULL) only labels error messages. */
lm_status lm_npy_read(const char *path, lm_array **out, lm_err *err);
lm_status lm_npy_parse(const uint8_t *buf, size_t len, const char *name, lm_array **out,
                       lm_err *err);

#ifdef __cplusplus
}
#endif
#endif
