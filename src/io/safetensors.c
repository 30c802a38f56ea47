/*
 * safetensors.c: reads and writes the safetensors format (Hugging Face), the checkpoint format
 * lmech shares with PyTorch.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON
 *   {"__metadata__": {"k": "v"}, "name": {"dtype": "F64", "shape": [2, 3],
 *    "data_offsets": [begin, end]}, ...}
 * (padded with spaces to a multiple of 8 bytes by writers), then the data section; offsets are
 * relative to its start. Files come from outside (downloaded checkpoints, the fuzzer), so the
 * reader validates everything before it allocates tensor storage: the header length against the
 * file and a 100 MB cap, every field's type, the dtype, offsets inside the data, sizes equal to
 * shape x dtype size, and no two tensors sharing bytes. The workload is a handful of tensors per
 * file (2 per layer), so linear scans and one sort are all the data structure needed.
 */
#include "core/internal.h"
#include "io/internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reference implementation refuses headers above 100 MB (safetensors' MAX_HEADER_SIZE):
 * larger ones are either corrupt or a denial-of-service attempt on the JSON parser. */
#define MAX_HEADER_BYTES 100000000u
/* Writers pad the header with spaces to this multiple so the data section starts aligned. */
#define HEADER_ALIGN 8

static const struct {
    const char *name;
    lm_elt elt;
} dtypes[] = {{"F64", LM_ELT_F64}, {"F32", LM_ELT_F32}, {"I64", LM_ELT_I64}, {"I32", LM_ELT_I32},
              {"I16", LM_ELT_I16}, {"I8", LM_ELT_I8},   {"U8", LM_ELT_U8}};

/* Valid safetensors dtypes lmech does not read: refused as unsupported, not as malformed. */
static const char *const unsupported_dtypes[] = {"BOOL",    "F16",     "BF16",    "U16",     "U32",
                                                 "U64",     "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4",
                                                 "F6_E2M3", "F6_E3M2", "C64"};

static const char *dtype_name(lm_elt elt) {
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].elt == elt)
            return dtypes[i].name;
    return NULL;
}

void lm__fmt_shape(char *buf, size_t cap, size_t ndim, const size_t *shape) {
    size_t pos = 0;
    int k = snprintf(buf, cap, "[");
    for (size_t i = 0; i < ndim && k >= 0 && (pos += (size_t) k) < cap; i++)
        k = snprintf(buf + pos, cap - pos, i ? ", %zu" : "%zu", shape[i]);
    if (k >= 0 && (pos += (size_t) k) < cap)
        snprintf(buf + pos, cap - pos, "]");
}

/* ---------------------------------------------------------------- reading */

/* One header entry, validated before any tensor storage is allocated. */
typedef struct entry {
    const char *key; /* borrowed from the JSON tree */
    lm_elt elt;
    size_t ndim, shape[LM_MAX_DIMS];
    size_t count;
    size_t begin, end;
} entry;

static void swap_bytes(void *data, size_t count, size_t esz) {
    uint8_t *p = data;
    for (size_t i = 0; i < count; i++, p += esz)
        for (size_t a = 0, b = esz - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* A JSON integer in [0, SIZE_MAX], or -1. */
static int json_size(const json_t *v, size_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (size_t) json_integer_value(v);
    return 0;
}

static lm_status parse_entry(const char *name, const char *key, json_t *v, size_t data_len,
                             entry *e, lm_err *err) {
    e->key = key;
    if (!json_is_object(v))
        LM_FAIL(err, LM_EFORMAT, "%s: tensor '%s': header entry is not an object", name, key);
    const char *field;
    json_t *fv;
    json_object_foreach(v, field, fv) {
        if (strcmp(field, "dtype") != 0 && strcmp(field, "shape") != 0 &&
            strcmp(field, "data_offsets") != 0)
            LM_FAIL(err, LM_EFORMAT, "%s: tensor '%s': unexpected field \"%s\"", name, key, field);
    }

    json_t *dt = json_object_get(v, "dtype");
    if (!json_is_string(dt))
        LM_FAIL(err, LM_EFORMAT, "%s: tensor '%s': \"dtype\" is missing or not a string", name,
                key);
    const char *ds = json_string_value(dt);
    size_t i;
    for (i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (strcmp(ds, dtypes[i].name) == 0)
            break;
    if (i == sizeof dtypes / sizeof *dtypes) {
        for (size_t j = 0; j < sizeof unsupported_dtypes / sizeof *unsupported_dtypes; j++)
            if (strcmp(ds, unsupported_dtypes[j]) == 0)
                LM_FAIL(err, LM_EUNSUPPORTED,
                        "%s: unsupported dtype %s for tensor '%s' (lmech reads F64 F32 I64 I32 "
                        "I16 I8 U8)",
                        name, ds, key);
        LM_FAIL(err, LM_EFORMAT, "%s: tensor '%s': unknown dtype \"%.32s\"", name, key, ds);
    }
    e->elt = dtypes[i].elt;

    json_t *sh = json_object_get(v, "shape");
    if (!json_is_array(sh))
        LM_FAIL(err, LM_EFORMAT, "%s: tensor '%s': \"shape\" is missing or not an array", name,
                key);
    e->ndim = json_array_size(sh);
    if (e->ndim > LM_MAX_DIMS)
        LM_FAIL(err, LM_EUNSUPPORTED, "%s: tensor '%s' has %zu dimensions, lmech supports %d", name,
                key, e->ndim, LM_MAX_DIMS);
    int empty = 0;
    for (size_t d = 0; d < e->ndim; d++) {
        if (json_size(json_array_get(sh, d), &e->shape[d]) != 0)
            LM_FAIL(err, LM_EFORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer",
                    name, key, d);
        empty |= e->shape[d] == 0;
    }
    const size_t esz = lm_elt_size(e->elt);
    size_t count = 1;
    int overflow = 0;
    for (size_t d = 0; d < e->ndim && !empty && !overflow; d++) {
        if (count > SIZE_MAX / esz / e->shape[d])
            overflow = 1;
        else
            count *= e->shape[d];
    }
    if (empty)
        count = 0;
    e->count = count;

    json_t *off = json_object_get(v, "data_offsets");
    if (!json_is_array(off) || json_array_size(off) != 2 ||
        json_size(json_array_get(off, 0), &e->begin) != 0 ||
        json_size(json_array_get(off, 1), &e->end) != 0)
        LM_FAIL(err, LM_EFORMAT,
                "%s: tensor '%s': \"data_offsets\" must be [begin, end] with non-negative integers",
                name, key);
    if (e->begin > e->end)
        LM_FAIL(err, LM_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] end before they begin",
                name, key, e->begin, e->end);
    if (e->end > data_len)
        LM_FAIL(err, LM_EFORMAT,
                "%s: tensor '%s': data_offsets [%zu, %zu] run past the data section (%zu bytes)",
                name, key, e->begin, e->end, data_len);
    char sbuf[200];
    lm__fmt_shape(sbuf, sizeof sbuf, e->ndim, e->shape);
    if (overflow)
        LM_FAIL(err, LM_EFORMAT, "%s: tensor '%s': shape %s overflows the address space", name, key,
                sbuf);
    if (e->end - e->begin != count * esz)
        LM_FAIL(err, LM_EFORMAT,
                "%s: tensor '%s': data_offsets [%zu, %zu] hold %zu bytes, but shape %s of %s needs "
                "%zu",
                name, key, e->begin, e->end, e->end - e->begin, sbuf, dtypes[i].name, count * esz);
    return LM_OK;
}

static int cmp_entry_ptr(const void *a, const void *b) {
    const entry *x = *(const entry *const *) a, *y = *(const entry *const *) b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

void lm_safetensors_free(lm_safetensors *st) {
    if (!st)
        return;
    for (size_t i = 0; i < st->n; i++) {
        if (st->names)
            lm_free(st->names[i]);
        if (st->tensors)
            lm_array_free(st->tensors[i]);
    }
    for (size_t i = 0; i < st->n_meta; i++) {
        if (st->meta_keys)
            lm_free(st->meta_keys[i]);
        if (st->meta_values)
            lm_free(st->meta_values[i]);
    }
    lm_free(st->names);
    lm_free(st->tensors);
    lm_free(st->meta_keys);
    lm_free(st->meta_values);
    lm_free(st);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = lm_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Validates the metadata object and counts its entries. */
static lm_status check_metadata(const char *name, json_t *meta, size_t *n_meta, lm_err *err) {
    if (!json_is_object(meta))
        LM_FAIL(err, LM_EFORMAT, "%s: \"__metadata__\" is not an object", name);
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v))
            LM_FAIL(err, LM_EFORMAT, "%s: __metadata__ key '%s' is not a string", name, k);
    }
    *n_meta = json_object_size(meta);
    return LM_OK;
}

/* Builds the result from validated entries; everything or nothing. */
static lm_status build(const char *name, const entry *ents, size_t n, json_t *meta,
                       const uint8_t *data, lm_safetensors **out, lm_err *err) {
    lm_safetensors *st = lm_calloc(1, sizeof *st);
    if (!st)
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory", name);
    const size_t n_meta = meta ? json_object_size(meta) : 0;
    st->names = lm_calloc(n ? n : 1, sizeof *st->names);
    st->tensors = lm_calloc(n ? n : 1, sizeof *st->tensors);
    st->meta_keys = lm_calloc(n_meta ? n_meta : 1, sizeof *st->meta_keys);
    st->meta_values = lm_calloc(n_meta ? n_meta : 1, sizeof *st->meta_values);
    if (!st->names || !st->tensors || !st->meta_keys || !st->meta_values) {
        lm_safetensors_free(st);
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory", name);
    }
    st->n = n;
    st->n_meta = n_meta;
    lm_status rc = LM_OK;
    for (size_t i = 0; i < n && rc == LM_OK; i++) {
        const entry *e = &ents[i];
        st->names[i] = dup_str(e->key);
        if (!st->names[i]) {
            rc = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "%s: out of memory", name);
            break;
        }
        rc = lm_array_new(e->elt, e->ndim, e->shape, &st->tensors[i], err);
        if (rc != LM_OK) {
            lm_err_prefix(err, "%s: tensor '%s': ", name, e->key);
            break;
        }
        const size_t esz = lm_elt_size(e->elt);
        if (e->count) {
            memcpy(st->tensors[i]->data, data + e->begin, e->count * esz);
            if (esz > 1 && !lm__host_is_le())
                swap_bytes(st->tensors[i]->data, e->count, esz);
        }
    }
    if (rc == LM_OK && meta) {
        const char *k;
        json_t *v;
        size_t j = 0;
        json_object_foreach(meta, k, v) {
            st->meta_keys[j] = dup_str(k);
            st->meta_values[j] = dup_str(json_string_value(v));
            if (!st->meta_keys[j] || !st->meta_values[j]) {
                rc = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "%s: out of memory", name);
                break;
            }
            j++;
        }
    }
    if (rc != LM_OK) {
        lm_safetensors_free(st);
        return rc;
    }
    *out = st;
    return LM_OK;
}

lm_status lm_safetensors_parse(const uint8_t *buf, size_t len, const char *name,
                               lm_safetensors **out, lm_err *err) {
    if (!name)
        name = "<memory>";
    if (len < 8)
        LM_FAIL(err, LM_EFORMAT,
                "%s: truncated: %zu bytes, a safetensors file starts with an 8-byte header length",
                name, len);
    uint64_t hl = 0;
    for (int b = 7; b >= 0; b--)
        hl = hl << 8 | buf[b];
    if (hl > MAX_HEADER_BYTES)
        LM_FAIL(err, LM_EFORMAT, "%s: header length %llu exceeds the 100 MB limit (corrupt file?)",
                name, (unsigned long long) hl);
    if (hl > len - 8)
        LM_FAIL(err, LM_EFORMAT, "%s: truncated: header length %llu, but only %zu bytes follow",
                name, (unsigned long long) hl, len - 8);
    const size_t hlen = (size_t) hl;
    json_error_t je;
    int oom = 0;
    json_t *root = lm__json_loadb((const char *) buf + 8, hlen, JSON_REJECT_DUPLICATES, &je, &oom);
    if (oom)
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory parsing the header", name);
    if (!root)
        LM_FAIL(err, LM_EFORMAT, "%s: header is not valid JSON: %s (header byte %d)", name, je.text,
                je.position);
    if (!json_is_object(root)) {
        json_decref(root);
        LM_FAIL(err, LM_EFORMAT, "%s: header is not a JSON object", name);
    }
    const uint8_t *data = buf + 8 + hlen;
    const size_t data_len = len - 8 - hlen;

    lm_status rc = LM_OK;
    json_t *meta = json_object_get(root, "__metadata__");
    size_t n_meta = 0;
    if (meta)
        rc = check_metadata(name, meta, &n_meta, err);
    const size_t n = json_object_size(root) - (meta ? 1 : 0);
    entry *ents = NULL;
    entry **order = NULL;
    if (rc == LM_OK) {
        ents = lm_calloc(n ? n : 1, sizeof *ents);
        order = lm_calloc(n ? n : 1, sizeof *order);
        if (!ents || !order)
            rc = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                            "%s: out of memory for %zu header entries", name, n);
    }
    if (rc == LM_OK) {
        const char *key;
        json_t *v;
        size_t i = 0;
        json_object_foreach(root, key, v) {
            if (strcmp(key, "__metadata__") == 0)
                continue;
            rc = parse_entry(name, key, v, data_len, &ents[i], err);
            if (rc != LM_OK)
                break;
            order[i] = &ents[i];
            i++;
        }
    }
    if (rc == LM_OK) {
        /* No two tensors may share a byte. Empty tensors occupy no bytes and never overlap. */
        qsort(order, n, sizeof *order, cmp_entry_ptr);
        const entry *prev = NULL;
        for (size_t i = 0; i < n; i++) {
            const entry *e = order[i];
            if (e->begin == e->end)
                continue;
            if (prev && e->begin < prev->end) {
                rc = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__,
                                "%s: tensors '%s' [%zu, %zu] and '%s' [%zu, %zu] overlap", name,
                                prev->key, prev->begin, prev->end, e->key, e->begin, e->end);
                break;
            }
            prev = e;
        }
    }
    if (rc == LM_OK)
        rc = build(name, ents, n, meta, data, out, err);
    lm_free(order);
    lm_free(ents);
    json_decref(root);
    return rc;
}

lm_status lm_safetensors_read(const char *path, lm_safetensors **out, lm_err *err) {
    uint8_t *buf;
    size_t len;
    LM_TRY(lm_file_read(path, &buf, &len, err));
    lm_status rc = lm_safetensors_parse(buf, len, path, out, err);
    lm_free(buf);
    return rc;
}

const lm_array *lm_safetensors_get(const lm_safetensors *st, const char *name) {
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->names[i], name) == 0)
            return st->tensors[i];
    return NULL;
}

/* ---------------------------------------------------------------- writing */

/* Builds the header object: "__metadata__" first (as the reference writer does), then the
 * tensors in the caller's order with contiguous offsets. NULL with *err set on bad input. */
static json_t *build_header(const char *path, size_t n, const char *const *names,
                            const lm_array *const *tensors, size_t n_meta,
                            const char *const *meta_keys, const char *const *meta_values,
                            lm_status *rc, lm_err *err) {
    json_t *root = json_object();
    if (!root) {
        *rc = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
        return NULL;
    }
    if (n_meta) {
        json_t *meta = json_object();
        if (!meta || json_object_set_new(root, "__metadata__", meta) != 0) {
            *rc = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
            goto fail;
        }
        for (size_t i = 0; i < n_meta; i++) {
            if (!meta_keys[i] || !meta_values[i]) {
                *rc = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                                 "%s: metadata entry %zu has a NULL key or value", path, i);
                goto fail;
            }
            if (json_object_get(meta, meta_keys[i])) {
                *rc = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                                 "%s: metadata key '%s' appears twice", path, meta_keys[i]);
                goto fail;
            }
            json_t *s = json_string(meta_values[i]);
            if (!s || json_object_set_new(meta, meta_keys[i], s) != 0) {
                *rc = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                                 "%s: metadata '%s' is not valid UTF-8", path, meta_keys[i]);
                goto fail;
            }
        }
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const lm_array *a = tensors[i];
        const char *key = names[i];
        const char *dn = a ? dtype_name(a->elt) : NULL;
        if (!key || !a || !dn || a->ndim > LM_MAX_DIMS) {
            *rc = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                             "%s: tensor %zu ('%s') is NULL or has an invalid type or rank", path,
                             i, key ? key : "(null)");
            goto fail;
        }
        if (strcmp(key, "__metadata__") == 0 || json_object_get(root, key)) {
            *rc = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                             "%s: tensor name '%s' is reserved or appears twice", path, key);
            goto fail;
        }
        const size_t bytes = a->count * lm_elt_size(a->elt);
        json_t *e = json_object(), *shape = json_array();
        int bad = !e || !shape || json_object_set_new(e, "dtype", json_string(dn)) != 0;
        for (size_t d = 0; d < a->ndim && !bad; d++)
            bad = json_array_append_new(shape, json_integer((json_int_t) a->shape[d])) != 0;
        if (!bad) {
            bad = json_object_set_new(e, "shape", shape) != 0;
            shape = NULL; /* owned by e now: set_new steals it even when it fails */
        }
        bad = bad || json_object_set_new(
                         e, "data_offsets",
                         json_pack("[I, I]", (json_int_t) off, (json_int_t) (off + bytes))) != 0;
        if (bad) {
            json_decref(shape);
            json_decref(e);
            *rc = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
            goto fail;
        }
        if (json_object_set_new(root, key, e) != 0) {
            *rc = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                             "%s: tensor name '%s' is not valid UTF-8", path, key);
            goto fail;
        }
        off += bytes;
    }
    return root;
fail:
    json_decref(root);
    return NULL;
}

lm_status lm_safetensors_write(const char *path, size_t n, const char *const *names,
                               const lm_array *const *tensors, size_t n_meta,
                               const char *const *meta_keys, const char *const *meta_values,
                               lm_err *err) {
    lm_status rc = LM_OK;
    json_t *root = build_header(path, n, names, tensors, n_meta, meta_keys, meta_values, &rc, err);
    if (!root)
        return rc;
    char *js = lm__json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!js)
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory serialising the header", path);
    const size_t jn = strlen(js);
    const size_t hl = (jn + HEADER_ALIGN - 1) / HEADER_ALIGN * HEADER_ALIGN;
    uint8_t *hdr = lm_malloc(8 + hl);
    if (!hdr) {
        free(js); /* jansson allocates with malloc */
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory for a %zu-byte header", path, hl);
    }
    for (int b = 0; b < 8; b++)
        hdr[b] = (uint8_t) ((uint64_t) hl >> (8 * b));
    memcpy(hdr + 8, js, jn);
    memset(hdr + 8 + jn, ' ', hl - jn);
    free(js);

    lm__afile af;
    rc = lm__afile_open(&af, path, err);
    if (rc == LM_OK) {
        rc = lm__afile_write(&af, hdr, 8 + hl, err);
        for (size_t i = 0; i < n && rc == LM_OK; i++)
            rc = lm__afile_write_le(&af, tensors[i]->data, tensors[i]->count,
                                    lm_elt_size(tensors[i]->elt), err);
        rc = rc == LM_OK ? lm__afile_commit(&af, err) : lm__afile_abort(&af);
    }
    lm_free(hdr);
    return rc;
}
