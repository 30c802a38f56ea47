/*
 * tokens.c: token-sequence sets for transformers (data.h, "Token sets"): the text source (the
 * bytes of a file as tokens, next-token prediction at every position) and .npy token arrays
 * (last-position or every-position targets), plus the rules every token set obeys. modadd's
 * token encoding lives with modadd in synth.c (same split, same pair order).
 *
 * Layout, shared by all token sets: x [n, T] holds token ids as doubles; labels [n P] and the
 * one-hot targets y [n, P V] are position-major within an example (P = positions: 1 for
 * last-position sets, T for every-position ones), so y seen as [n P, V] has one row per
 * (example, position) and lm__fill_targets fills it like any class set.
 *
 * Workload: the targets dominate, n P V doubles (a 1 MB text at context 64 and stride 64 gives
 * 16384 windows of 64 x 256 one-hot rows: 2 GiB), which is why LM_DATA_MAX_TARGET_BYTES bounds
 * them before anything is allocated. Windows are copied straight from the file's bytes.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Text tokens are bytes. */
#define TEXT_VOCAB 256
/* An inferred npy vocabulary is 1 + the largest id; 65536 bounds it (as NPY_MAX_CLASSES bounds
 * npy labels in data.c), so that one stray huge id cannot ask for gigabytes of one-hot rows. */
#define TOKEN_MAX_INFERRED_VOCAB 65536

lm_status lm__check_tokens_spec(const lm_data_spec *spec, lm_err *err) {
    const char *src = lm_data_source_name(spec->source);
    if ((unsigned) spec->encoding > LM_ENCODING_TOKENS)
        LM_FAIL(err, LM_EINVAL, "data.encoding %d is not an encoding", (int) spec->encoding);
    if (spec->encoding == LM_ENCODING_TOKENS && spec->source != LM_DATA_MODADD &&
        spec->source != LM_DATA_NPY && spec->source != LM_DATA_TEXT)
        LM_FAIL(err, LM_EINVAL,
                "data.encoding \"tokens\" is for modadd and npy (text is always tokens), but "
                "data.source is \"%s\"",
                src);
    if (!lm_data_is_tokens(spec)) {
        if (spec->vocab)
            LM_FAIL(err, LM_EINVAL,
                    "data.vocab = %zu is given, but data \"%s\" is not a token set (vocab is for "
                    "text, and for modadd and npy with data.encoding \"tokens\")",
                    spec->vocab, src);
        return LM_OK;
    }
    if (spec->normalize != LM_NORM_DEFAULT && spec->normalize != LM_NORM_NONE)
        LM_FAIL(err, LM_EINVAL,
                "data.normalize \"%s\": token ids are not features, a token set needs \"none\"",
                lm_normalize_name(spec->normalize));
    if (spec->targets != LM_TARGETS_ONEHOT)
        LM_FAIL(err, LM_EINVAL,
                "data.targets \"%s\": a token set needs \"onehot\" (targets over the vocabulary)",
                lm_targets_name(spec->targets));
    if (spec->pool != 1)
        LM_FAIL(err, LM_EINVAL, "data.pool = %zu, but a token set is not images", spec->pool);
    if (spec->vocab > (size_t) INT32_MAX)
        LM_FAIL(err, LM_ERANGE, "data.vocab = %zu; at most %d token ids", spec->vocab, INT32_MAX);
    if (spec->source == LM_DATA_MODADD && spec->vocab && spec->vocab != spec->modulus + 1)
        LM_FAIL(err, LM_EINVAL,
                "data.vocab = %zu, but modadd tokens have vocab modulus + 1 = %zu (the residues "
                "0..%zu and the \"=\" token)",
                spec->vocab, spec->modulus + 1, spec->modulus - 1);
    if (spec->source == LM_DATA_TEXT) {
        if (spec->vocab && spec->vocab != TEXT_VOCAB)
            LM_FAIL(err, LM_EINVAL, "data.vocab = %zu, but text tokens are bytes: vocab %d",
                    spec->vocab, TEXT_VOCAB);
        if (spec->context == 0)
            LM_FAIL(err, LM_EINVAL, "data.context = 0; a window needs at least 1 token");
        if (!spec->path[0])
            LM_FAIL(err, LM_EINVAL,
                    "text data need data.path (the file whose bytes are the tokens)");
        if (!(spec->test_frac >= 0.0 && spec->test_frac < 1.0))
            LM_FAIL(err, LM_EINVAL, "data.test_frac = %g; use a value in [0, 1)", spec->test_frac);
    }
    return LM_OK;
}

lm_status lm__check_target_bytes(size_t n_train, size_t n_test, size_t positions, size_t vocab,
                                 const char *what, lm_err *err) {
    const size_t cap = LM_DATA_MAX_TARGET_BYTES / sizeof(double);
    const double gib = (double) (1u << 30);
    const double want =
        (double) (n_train + n_test) * (double) positions * (double) vocab * (double) sizeof(double);
    /* in elements, by division: positions * vocab may itself pass SIZE_MAX */
    if (positions > cap / vocab || n_train + n_test > cap / (positions * vocab))
        LM_FAIL(err, LM_ERANGE,
                "%s: one-hot targets for %zu + %zu examples x %zu positions x vocab %zu would "
                "take %.2f GiB, above the %.0f GiB ceiling (LM_DATA_MAX_TARGET_BYTES); use "
                "data.train_size / data.test_size%s",
                what, n_train, n_test, positions, vocab, want / gib,
                (double) LM_DATA_MAX_TARGET_BYTES / gib,
                positions > 1 ? ", a larger data.stride or a shorter data.context" : "");
    return LM_OK;
}

/* An empty token set: x [n, T], y [n, P V], labels [n P] (lm_dataset_new gives n labels). */
static lm_status token_set_new(size_t n, size_t T, size_t P, size_t V, lm_dataset **out,
                               lm_err *err) {
    lm_dataset *ds = NULL;
    LM_TRY(lm_dataset_new(n, T, P * V, 0, &ds, err));
    if (!(ds->labels = lm_calloc(n && P ? n * P : 1, sizeof *ds->labels))) {
        lm_dataset_free(ds);
        LM_FAIL(err, LM_ENOMEM, "out of memory for %zu x %zu token labels", n, P);
    }
    *out = ds;
    return LM_OK;
}

/* The targets of a filled token set: labels [n P] to one-hot y [n, P V]. */
static void finish(lm_dataset *ds, size_t positions, size_t vocab) {
    ds->positions = positions;
    ds->n_classes = vocab;
    lm__fill_targets(ds, LM_TARGETS_ONEHOT);
}

/* ---------------------------------------------------------------- text */

/* m of the `avail` windows that start at window `first` (window w covers bytes
 * [w stride, w stride + T + 1)), chosen by subset from stream. */
static lm_status text_split(const uint8_t *buf, size_t first, size_t avail, size_t m, size_t T,
                            size_t stride, const lm_data_spec *spec, uint64_t seed, uint64_t stream,
                            lm_dataset **out, lm_err *err) {
    size_t *idx = NULL;
    LM_TRY(lm__pick_rows(avail, m, spec->subset, seed, stream, &idx, err));
    lm_dataset *ds = NULL;
    lm_status st = token_set_new(m, T, T, TEXT_VOCAB, &ds, err);
    if (st == LM_OK) {
        for (size_t i = 0; i < m; i++) {
            const uint8_t *w = buf + (first + idx[i]) * stride;
            for (size_t t = 0; t < T; t++) {
                ds->x[i * T + t] = (double) w[t];
                ds->labels[i * T + t] = (int32_t) w[t + 1];
            }
        }
        finish(ds, T, TEXT_VOCAB);
        *out = ds;
    }
    lm_free(idx);
    return st;
}

lm_status lm__text_load(const lm_data_spec *spec, uint64_t seed, lm_dataset **tr, lm_dataset **te,
                        lm_err *err) {
    const char *path = spec->path;
    const size_t T = spec->context, stride = spec->stride ? spec->stride : T;
    uint8_t *buf = NULL;
    size_t len = 0;
    LM_TRY(lm__file_read(path, &buf, &len, err));
    lm_status st = LM_OK;
    if (len < T + 1) {
        lm_free(buf);
        LM_FAIL(err, LM_ESHAPE,
                "%s: %zu bytes, but one window of data.context %zu needs %zu (the targets are the "
                "next bytes, so context + 1)",
                path, len, T, T + 1);
    }
    const size_t W = (len - T - 1) / stride + 1;
    size_t w_tr = (size_t) floor((1.0 - spec->test_frac) * (double) W + 0.5);
    if (w_tr > W)
        w_tr = W;
    const size_t w_te = W - w_tr;
    size_t m_tr = 0, m_te = 0;
    char what[LM_PATH_MAX + 32];
    if (w_tr == 0)
        st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                        "%s: data.test_frac = %g leaves none of its %zu windows to train on", path,
                        spec->test_frac, W);
    snprintf(what, sizeof what, "%s (training windows)", path);
    if (st == LM_OK)
        st = lm__resolve_count(spec->train_size, w_tr, "train_size", what, &m_tr, err);
    if (st == LM_OK && te && spec->test_size != 0) {
        snprintf(what, sizeof what, "%s (test windows)", path);
        if (w_te > 0)
            st = lm__resolve_count(spec->test_size, w_te, "test_size", what, &m_te, err);
        else if (spec->test_size != LM_ALL)
            st = lm_err_set(err, LM_ERANGE, __FILE__, __LINE__,
                            "test_size = %zu, but data.test_frac = %g leaves no test window of the "
                            "%zu in %s",
                            spec->test_size, spec->test_frac, W, path);
    }
    if (st == LM_OK)
        st = lm__check_target_bytes(m_tr, m_te, T, TEXT_VOCAB, path, err);
    if (st == LM_OK)
        st = text_split(buf, 0, w_tr, m_tr, T, stride, spec, seed, LM_STREAM_DATA, tr, err);
    if (st == LM_OK && m_te > 0) {
        st =
            text_split(buf, w_tr, w_te, m_te, T, stride, spec, seed, LM__STREAM_DATA_TEST, te, err);
        if (st != LM_OK) {
            lm_dataset_free(*tr);
            *tr = NULL;
        }
    }
    lm_free(buf);
    return st;
}

/* ---------------------------------------------------------------- .npy token arrays */

typedef struct tok_pair {
    const char *xp, *yp;
    lm_array *x, *y;
    size_t positions; /* 1: y [n], last position; T: y [n, T], every position */
} tok_pair;

static void tok_pair_free(tok_pair *p) {
    lm_array_free(p->x);
    lm_array_free(p->y);
    p->x = p->y = NULL;
}

/* Every id of a (x or y, named `what` of file path) in 0..limit-1; *max gets the largest. */
static lm_status check_ids(const lm_array *a, const char *path, const char *what, size_t limit,
                           const char *why, size_t *max, lm_err *err) {
    const size_t len = a->ndim == 2 ? a->shape[1] : 1;
    for (size_t i = 0; i < a->count; i++) {
        const double v = lm_array_get(a, i);
        if (v < 0.0 || v >= (double) limit)
            LM_FAIL(err, LM_ERANGE,
                    "%s: %s token id %.0f at row %zu, column %zu is outside 0..%zu (%s)", path,
                    what, v, i / len, i % len, limit - 1, why);
        if ((size_t) v > *max)
            *max = (size_t) v;
    }
    return LM_OK;
}

static lm_status tok_pair_load(tok_pair *p, lm_err *err) {
    char sx[128], sy[128];
    LM_TRY(lm_npy_read(p->xp, &p->x, err));
    lm_status st = lm_npy_read(p->yp, &p->y, err);
    if (st != LM_OK) {
        tok_pair_free(p);
        return st;
    }
    const lm_array *x = p->x, *y = p->y;
    lm__shape_str(sx, sizeof sx, x->ndim, x->shape);
    lm__shape_str(sy, sizeof sy, y->ndim, y->shape);
    if (!lm__is_int_elt(x->elt))
        st = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__,
                        "%s: x is %s with shape %s; data.encoding \"tokens\" needs an integer "
                        "array [n, context] of token ids",
                        p->xp, lm_elt_name(x->elt), sx);
    else if (x->ndim != 2 || x->shape[1] == 0)
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                        "%s: x has shape %s; data.encoding \"tokens\" needs [n, context] with "
                        "context >= 1",
                        p->xp, sx);
    else if (!lm__is_int_elt(y->elt))
        st = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__,
                        "%s: y is %s with shape %s; token targets must be integer ids, [n] (last "
                        "position) or [n, context] (every position)",
                        p->yp, lm_elt_name(y->elt), sy);
    else if (!(y->ndim == 1 || (y->ndim == 2 && y->shape[1] == x->shape[1])))
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                        "%s: y has shape %s; with x %s expected [%zu] (last position) or [%zu, "
                        "%zu] (every position)",
                        p->yp, sy, sx, x->shape[0], x->shape[0], x->shape[1]);
    else if (x->shape[0] != y->shape[0])
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__, "%s has %zu rows but %s has %zu", p->xp,
                        x->shape[0], p->yp, y->shape[0]);
    if (st != LM_OK) {
        tok_pair_free(p);
        return st;
    }
    p->positions = y->ndim == 2 ? x->shape[1] : 1;
    return LM_OK;
}

static lm_status npy_tok_split(const tok_pair *p, size_t vocab, size_t m, const lm_data_spec *spec,
                               uint64_t seed, uint64_t stream, lm_dataset **out, lm_err *err) {
    const size_t n = p->x->shape[0], T = p->x->shape[1], P = p->positions;
    size_t *idx = NULL;
    LM_TRY(lm__pick_rows(n, m, spec->subset, seed, stream, &idx, err));
    lm_dataset *ds = NULL;
    lm_status st = token_set_new(m, T, P, vocab, &ds, err);
    if (st == LM_OK) {
        for (size_t i = 0; i < m; i++) {
            const size_t r = idx[i];
            for (size_t t = 0; t < T; t++)
                ds->x[i * T + t] = lm_array_get(p->x, r * T + t);
            for (size_t q = 0; q < P; q++)
                ds->labels[i * P + q] = (int32_t) lm_array_get(p->y, r * P + q);
        }
        finish(ds, P, vocab);
        *out = ds;
    }
    lm_free(idx);
    return st;
}

lm_status lm__npy_tokens_load(const lm_data_spec *spec, uint64_t seed, lm_dataset **tr,
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
    const int have_test = want_test && spec->test_x[0];
    tok_pair a = {spec->x, spec->y, NULL, NULL, 0}, b = {spec->test_x, spec->test_y, NULL, NULL, 0};
    LM_TRY(tok_pair_load(&a, err));
    lm_status st = have_test ? tok_pair_load(&b, err) : LM_OK;
    if (st == LM_OK && have_test && b.x->shape[1] != a.x->shape[1])
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                        "%s has context %zu but %s has context %zu", a.xp, a.x->shape[1], b.xp,
                        b.x->shape[1]);
    if (st == LM_OK && have_test && b.positions != a.positions)
        st = lm_err_set(
            err, LM_ESHAPE, __FILE__, __LINE__, "%s holds %s targets but %s holds %s targets", a.yp,
            a.positions == 1 ? "last-position [n]" : "every-position [n, context]", b.yp,
            b.positions == 1 ? "last-position [n]" : "every-position [n, context]");
    /* ids: below data.vocab when given, else below the inferred-vocabulary bound */
    const size_t limit = spec->vocab ? spec->vocab : TOKEN_MAX_INFERRED_VOCAB;
    const char *why = spec->vocab ? "data.vocab" : "an inferred vocab allows 65536 ids";
    size_t mx = 0;
    if (st == LM_OK)
        st = check_ids(a.x, a.xp, "x", limit, why, &mx, err);
    if (st == LM_OK)
        st = check_ids(a.y, a.yp, "y", limit, why, &mx, err);
    if (st == LM_OK && have_test)
        st = check_ids(b.x, b.xp, "x", limit, why, &mx, err);
    if (st == LM_OK && have_test)
        st = check_ids(b.y, b.yp, "y", limit, why, &mx, err);
    const size_t vocab = spec->vocab ? spec->vocab : mx + 1;
    size_t m_tr = 0, m_te = 0;
    if (st == LM_OK)
        st = lm__resolve_count(spec->train_size, a.x->shape[0], "train_size", a.xp, &m_tr, err);
    if (st == LM_OK && have_test)
        st = lm__resolve_count(spec->test_size, b.x->shape[0], "test_size", b.xp, &m_te, err);
    if (st == LM_OK)
        st = lm__check_target_bytes(m_tr, m_te, a.positions, vocab, a.yp, err);
    if (st == LM_OK)
        st = npy_tok_split(&a, vocab, m_tr, spec, seed, LM_STREAM_DATA, tr, err);
    if (st == LM_OK && have_test) {
        st = npy_tok_split(&b, vocab, m_te, spec, seed, LM__STREAM_DATA_TEST, te, err);
        if (st != LM_OK) {
            lm_dataset_free(*tr);
            *tr = NULL;
        }
    }
    tok_pair_free(&a);
    tok_pair_free(&b);
    return st;
}
