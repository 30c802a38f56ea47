/*
 * test_alloc_fail.c: allocation-failure injection across the library (docs/reliability.md).
 *
 * For k = 1, 2, ... the k-th allocation of a body of work fails (Lua's failnext; every later one
 * succeeds, so the cleanup paths run with memory available), until k passes the body's count of
 * allocations. The count covers three allocators, installed before anything else runs:
 *   lm    lm_set_allocator: every lm_malloc/lm_calloc of lmech itself;
 *   json  jansson's allocations (lm__json_set_malloc): config, experiment file, safetensors header;
 *   sql   SQLite's SQLITE_CONFIG_MALLOC: the run database (open, statements, commits).
 * A failed lm allocation must give an error (LM_ENOMEM where lmech saw it). A failed jansson or
 * SQLite allocation must give an error with a message, or be absorbed by the library that saw it
 * (SQLite recovers from some, e.g. its lookaside and cache), in which case the body's result is
 * checked as on the clean run. Leaks are caught by LeakSanitizer at the end of each test
 * (LM_CHECK_LEAKS, the sanitizer build). The training body also checks the database after each
 * case: PRAGMA integrity_check ok, each run row finished or failed, every recorded evaluation
 * whole (one transaction each) and no metrics past the run's recorded steps.
 *
 * Each body prints one line "alloc-fail: NAME: N cases (lm a, json b, sql c; ENOMEM e, other o,
 * absorbed s)" on stderr: the counts of docs/reliability.md.
 */
#include "lm_test.h"

#include "core/internal.h"
#include "exp/exp_fixture.h"
#include "lmech/config.h"
#include "lmech/curv.h"
#include "lmech/data.h"
#include "lmech/exp.h"
#include "lmech/io.h"
#include "lmech/model.h"
#include "lmech/optim.h"
#include "lmech/store.h"
#include "lmech/theory.h"
#include "lmech/train.h"
#include "lmech/weights.h"

#include <execinfo.h>
#include <jansson.h>
#include <sqlite3.h>
#include <zlib.h>

/* ---------------------------------------------------------------- the failing allocators */

enum { SRC_LM = 1, SRC_JSON = 2, SRC_SQL = 4, SRC_ALL = 7 };

static long g_fail_at; /* the allocation to fail (1-based); 0: none */
static long g_calls;   /* allocations counted since the case began */
static unsigned g_arm; /* the sources counted (SRC_*); 0: nothing is counted */
static unsigned g_hit; /* the source whose allocation was failed in this case */
static int g_sql_hooked;

static int should_fail(unsigned src) {
    if (!(g_arm & src))
        return 0;
    if (++g_calls == g_fail_at) {
        g_hit = src;
        if (getenv("AF_TRACE")) {
            void *bt[24];
            fprintf(stderr, "--- fail %ld src %u\n", g_fail_at, src);
            backtrace_symbols_fd(bt, backtrace(bt, 24), 2);
        }
        return 1;
    }
    return 0;
}

static void *lm_hook_alloc(void *ud, size_t size) {
    (void) ud;
    if (should_fail(SRC_LM))
        return NULL;
    void *p = NULL;
    return posix_memalign(&p, 64, size ? size : 1) == 0 ? p : NULL;
}

static void lm_hook_free(void *ud, void *p) {
    (void) ud;
    free(p);
}

static void *json_hook_alloc(size_t size) {
    return should_fail(SRC_JSON) ? NULL : malloc(size);
}

/* SQLite asks for the size of its allocations: a 16-byte header holds it. */
static void *sql_malloc(int n) {
    if (n <= 0 || should_fail(SRC_SQL))
        return NULL;
    uint64_t *p = malloc((size_t) n + 16);
    if (!p)
        return NULL;
    p[0] = (uint64_t) n;
    return p + 2;
}

static void sql_free(void *q) {
    if (q)
        free((uint64_t *) q - 2);
}

static int sql_size(void *q) {
    return q ? (int) ((uint64_t *) q - 2)[0] : 0;
}

static void *sql_realloc(void *q, int n) {
    if (n <= 0 || should_fail(SRC_SQL))
        return NULL;
    uint64_t *p = realloc((uint64_t *) q - 2, (size_t) n + 16);
    if (!p)
        return NULL;
    p[0] = (uint64_t) n;
    return p + 2;
}

static int sql_roundup(int n) {
    return (n + 7) & ~7;
}

static int sql_init(void *ud) {
    (void) ud;
    return SQLITE_OK;
}

static void sql_shutdown(void *ud) {
    (void) ud;
}

/* Installs the three hooks (SQLite's only before SQLite is first used in this process: Criterion
 * runs each test in a fresh child, so this is the first thing it does). */
static void hooks_install(void) {
    static const sqlite3_mem_methods mem = {sql_malloc,  sql_free, sql_realloc,  sql_size,
                                            sql_roundup, sql_init, sql_shutdown, NULL};
    if (!g_sql_hooked) {
        cr_assert_eq(sqlite3_config(SQLITE_CONFIG_MALLOC, &mem), SQLITE_OK,
                     "SQLite was initialised before the test installed its allocator");
        g_sql_hooked = 1;
    }
    lm_set_allocator(&(lm_allocator){lm_hook_alloc, lm_hook_free, NULL});
    lm__json_set_malloc(json_hook_alloc);
}

/* ---------------------------------------------------------------- the driver */

typedef lm_status (*body_fn)(void *ud, lm_err *err);

typedef struct tally {
    long cases, by_src[3], enomem, other, absorbed;
    char first_other[sizeof(lm_err){0}.msg];
} tally;

static int src_index(unsigned src) {
    return src == SRC_LM ? 0 : src == SRC_JSON ? 1 : 2;
}

/* Runs body once clean (it must succeed), then with its k-th allocation failing for every k up
 * to its count (at most max_cases; a body with more is an error, so the bound is never silent).
 * check (may be NULL) runs, unarmed, after every case, with the case's status. */
static tally fail_each(const char *name, unsigned sources, long max_cases, body_fn body,
                       void (*check)(void *ud, lm_status st), void *ud) {
    tally t = {0};
    lm_err err = {0};
    g_arm = 0;
    lm_status st = body(ud, &err);
    cr_assert_eq(st, LM_OK, "%s: the clean run failed: %s", name, err.msg);
    if (check)
        check(ud, st);
    for (long k = 1;; k++) {
        cr_assert_leq(k, max_cases, "%s: more than %ld allocations", name, max_cases);
        memset(&err, 0, sizeof err);
        g_calls = 0;
        g_hit = 0;
        g_fail_at = k;
        g_arm = sources;
        st = body(ud, &err);
        g_arm = 0;
        g_fail_at = 0;
        if (check)
            check(ud, st);
        if (!g_hit) {
            cr_assert_eq(st, LM_OK, "%s: no allocation failed at k = %ld, yet: %s", name, k,
                         err.msg);
            break;
        }
        t.cases++;
        t.by_src[src_index(g_hit)]++;
        if (st == LM_OK) {
            /* only another library may recover from its own allocation failing */
            cr_assert_neq(g_hit, SRC_LM, "%s: lm allocation %ld failed and was not reported", name,
                          k);
            t.absorbed++;
            if (getenv("AF_TRACE"))
                fprintf(stderr, "--- absorbed %ld (source %u)\n", k, g_hit);
        } else {
            cr_assert(err.msg[0], "%s: allocation %ld failed with status %d and no message", name,
                      k, (int) st);
            if (st == LM_ENOMEM)
                t.enomem++;
            else if (t.other++ == 0)
                snprintf(t.first_other, sizeof t.first_other, "%s", err.msg);
            if (g_hit == SRC_LM)
                cr_assert_eq(st, LM_ENOMEM, "%s: lm allocation %ld failed: got %d: %s", name, k,
                             (int) st, err.msg);
        }
    }
    fprintf(stderr,
            "alloc-fail: %s: %ld cases (lm %ld, json %ld, sql %ld; ENOMEM %ld, other %ld, "
            "absorbed %ld)%s%s\n",
            name, t.cases, t.by_src[0], t.by_src[1], t.by_src[2], t.enomem, t.other, t.absorbed,
            t.other ? "; first other: " : "", t.first_other);
    cr_assert_gt(t.cases, 0, "%s: allocated nothing", name);
    return t;
}

/* ---------------------------------------------------------------- fixtures */

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static void write_text(const char *path, const char *text) {
    write_file(path, text, strlen(text));
}

static const char *k_cfg_json =
    "{\"seed\": 3, \"data\": {\"source\": \"teacher\", \"dim\": 4, \"outputs\": 2, "
    "\"teacher_width\": 8, \"train_size\": 24, \"test_size\": 8}, "
    "\"model\": {\"widths\": [4, 8, 2], \"activation\": \"tanh\"}, \"loss\": \"mse\", "
    "\"optimizer\": {\"name\": \"sgd\", \"lr\": 0.1}, \"steps\": 6, \"eval_every\": 3, "
    "\"threads\": 1}";

static lm_config *parse_cfg(const char *json) {
    lm_config *c = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_config_parse(json, strlen(json), "cfg", 0, NULL, &c, &err), LM_OK, "%s",
                 err.msg);
    return c;
}

/* ---------------------------------------------------------------- loaders */

typedef struct file_ud {
    char path[256];
    char ref[16384]; /* the clean run's result, which every later success must equal */
} file_ud;

/* The first call (the clean run) records got; later calls compare with it. */
static void same_as_clean(file_ud *f, const char *got) {
    if (!f->ref[0]) {
        cr_assert_lt(strlen(got), sizeof f->ref);
        snprintf(f->ref, sizeof f->ref, "%s", got);
    } else
        cr_assert_str_eq(
            got, f->ref,
            "a success after a failed allocation differs from the clean run:\n%s\nvs the clean\n%s",
            got, f->ref);
}

static lm_status body_idx(void *ud, lm_err *err) {
    lm_array *a = NULL;
    LM_TRY(lm_idx_read(((file_ud *) ud)->path, &a, err));
    const int ok = a->count == 8 && ((uint8_t *) a->data)[7] == 7;
    lm_array_free(a);
    cr_assert(ok, "idx read back wrong");
    return LM_OK;
}

Test(alloc_fail, idx_plain_and_gzipped) {
    hooks_install();
    const uint8_t idx[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 2, 3, 4, 5, 6, 7};
    static file_ud f;
    memset(&f, 0, sizeof f);
    lm_tmp_path(f.path, sizeof f.path, "af.idx");
    write_file(f.path, idx, sizeof idx);
    fail_each("idx", SRC_ALL, 100, body_idx, NULL, &f);
    unlink(f.path);
    lm_tmp_path(f.path, sizeof f.path, "af.idx.gz");
    gzFile z = gzopen(f.path, "wb");
    cr_assert_not_null(z);
    cr_assert_eq(gzwrite(z, idx, sizeof idx), (int) sizeof idx);
    cr_assert_eq(gzclose(z), Z_OK);
    fail_each("idx.gz", SRC_ALL, 100, body_idx, NULL, &f);
    unlink(f.path);
    lm_set_allocator(NULL);
    LM_CHECK_LEAKS();
}

static lm_status body_npy(void *ud, lm_err *err) {
    lm_array *a = NULL;
    LM_TRY(lm_npy_read(((file_ud *) ud)->path, &a, err));
    const int ok = a->count == 6 && ((double *) a->data)[5] == 5.5;
    lm_array_free(a);
    cr_assert(ok, "npy read back wrong");
    return LM_OK;
}

static lm_array *small_array(void) {
    lm_array *a = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_array_new(LM_ELT_F64, 2, (size_t[]){2, 3}, &a, &err), LM_OK, "%s", err.msg);
    for (size_t i = 0; i < 6; i++)
        ((double *) a->data)[i] = (double) i + 0.5;
    return a;
}

Test(alloc_fail, npy) {
    hooks_install();
    static file_ud f;
    memset(&f, 0, sizeof f);
    lm_tmp_path(f.path, sizeof f.path, "af.npy");
    lm_array *a = small_array();
    lm_err err = {0};
    cr_assert_eq(lm_npy_write(f.path, a, &err), LM_OK, "%s", err.msg);
    lm_array_free(a);
    fail_each("npy", SRC_ALL, 100, body_npy, NULL, &f);
    unlink(f.path);
    lm_set_allocator(NULL);
    LM_CHECK_LEAKS();
}

static lm_status body_safetensors(void *ud, lm_err *err) {
    lm_safetensors *st = NULL;
    LM_TRY(lm_safetensors_read(((file_ud *) ud)->path, &st, err));
    const lm_array *b = lm_safetensors_get(st, "b");
    const int ok = st->n == 2 && b && b->count == 6 && st->n_meta == 1;
    lm_safetensors_free(st);
    cr_assert(ok, "safetensors read back wrong");
    return LM_OK;
}

static lm_status body_wspec(void *ud, lm_err *err) {
    lm_wspec_file *w = NULL;
    lm_wspec_opts o = {0};
    LM_TRY(lm_wspec_file_read(((file_ud *) ud)->path, &o, &w, err));
    lm_wspec_file_free(w);
    return LM_OK;
}

Test(alloc_fail, safetensors_and_weight_spectra) {
    hooks_install();
    static file_ud f;
    memset(&f, 0, sizeof f);
    lm_tmp_path(f.path, sizeof f.path, "af.safetensors");
    lm_array *a = small_array(), *b = small_array();
    lm_err err = {0};
    const char *names[] = {"a", "b"}, *mk[] = {"format"}, *mv[] = {"pt"};
    cr_assert_eq(
        lm_safetensors_write(f.path, 2, names, (const lm_array *[]){a, b}, 1, mk, mv, &err), LM_OK,
        "%s", err.msg);
    lm_array_free(a);
    lm_array_free(b);
    fail_each("safetensors", SRC_ALL, 200, body_safetensors, NULL, &f);
    fail_each("weights (lm_wspec_file_read)", SRC_ALL, 400, body_wspec, NULL, &f);
    unlink(f.path);
    lm_set_allocator(NULL);
    LM_CHECK_LEAKS();
}

static lm_status body_config(void *ud, lm_err *err) {
    lm_config *c = NULL;
    const char *sets[] = {"optimizer.lr=0.05", "model.activation=\"relu\""};
    LM_TRY(lm_config_load(((file_ud *) ud)->path, 2, sets, &c, err));
    const int ok = c->optim.lr == 0.05 && strlen(c->hash) == 64;
    if (ok)
        same_as_clean(ud, c->json);
    lm_config_free(c);
    cr_assert(ok, "config read back wrong");
    return LM_OK;
}

Test(alloc_fail, config) {
    hooks_install();
    static file_ud f;
    memset(&f, 0, sizeof f);
    lm_tmp_path(f.path, sizeof f.path, "af-cfg.json");
    write_text(f.path, k_cfg_json);
    fail_each("config (lm_config_load + 2 --set)", SRC_ALL, 2000, body_config, NULL, &f);
    unlink(f.path);
    lm_set_allocator(NULL);
    LM_CHECK_LEAKS();
}

static lm_status body_expfile(void *ud, lm_err *err) {
    lm_experiment *e = NULL;
    LM_TRY(lm_exp_file_load(((file_ud *) ud)->path, &e, err));
    lm_exp_plan *p = calloc(1, sizeof *p);
    cr_assert_not_null(p);
    lm_status st = e->plan_with(e, 0, p, err);
    const size_t n = p->n;
    if (st == LM_OK) {
        /* the planned configs, in order, must be the clean run's */
        static char all[16384];
        all[0] = '\0';
        for (size_t i = 0; i < n; i++) {
            cr_assert_lt(strlen(all) + strlen(p->config[i]) + 2, sizeof all);
            strcat(all, p->config[i]);
            strcat(all, "\n");
        }
        same_as_clean(ud, all);
    }
    lm_exp_plan_clear(p);
    free(p);
    lm_exp_file_free(e);
    if (st == LM_OK)
        cr_assert_eq(n, 4, "planned %zu runs", n);
    return st;
}

Test(alloc_fail, experiment_file) {
    hooks_install();
    static file_ud f;
    memset(&f, 0, sizeof f);
    lm_tmp_path(f.path, sizeof f.path, "af-exp.json");
    char text[4096];
    snprintf(text, sizeof text,
             "{\"experiment\": \"af\", \"summary\": \"allocation failures\", \"base\": %s, "
             "\"sweep\": {\"optimizer.lr\": [0.05, 0.1], \"seed\": [0, 1]}, "
             "\"claims\": [{\"name\": \"learns\", \"metric\": \"train_loss\", "
             "\"where\": {\"optimizer.lr\": 0.1}, \"reduce\": \"max\", \"range\": [null, 10], "
             "\"predicted\": \"below 10\", \"reason\": \"a bound\"}]}",
             k_cfg_json);
    write_text(f.path, text);
    fail_each("experiment file (load + plan)", SRC_ALL, 5000, body_expfile, NULL, &f);
    unlink(f.path);
    lm_set_allocator(NULL);
    LM_CHECK_LEAKS();
}

typedef struct data_ud {
    lm_config *cfg;
} data_ud;

static lm_status body_data(void *ud, lm_err *err) {
    const lm_config *c = ((data_ud *) ud)->cfg;
    lm_dataset *tr = NULL, *te = NULL;
    LM_TRY(lm_data_load(&c->data, c->seed, &tr, &te, err));
    const int ok = tr && tr->n > 0;
    lm_dataset_f32 *f = NULL;
    lm_status st = lm_dataset_to_f32(tr, &f, err);
    lm_dataset_f32_free(f);
    lm_dataset_free(tr);
    lm_dataset_free(te);
    cr_assert(ok, "no training set");
    return st;
}

Test(alloc_fail, data_text_tokens_and_teacher) {
    hooks_install();
    char path[256];
    lm_tmp_path(path, sizeof path, "af-text.txt");
    char text[600];
    for (size_t i = 0; i + 1 < sizeof text; i++)
        text[i] = (char) ('a' + (i * 7 + i / 13) % 26);
    text[sizeof text - 1] = '\0';
    write_text(path, text);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"data\": {\"source\": \"text\", \"path\": \"%s\", \"context\": 16}, "
             "\"model\": {\"arch\": \"gpt\", \"vocab\": 256, \"context\": 16, \"d_model\": 8, "
             "\"heads\": 2, \"blocks\": 1}, "
             "\"loss\": \"ce\", \"steps\": 2}",
             path);
    data_ud d = {parse_cfg(json)};
    fail_each("data: text tokens (lm_data_load + f32)", SRC_ALL, 200, body_data, NULL, &d);
    lm_config_free(d.cfg);
    d.cfg = parse_cfg(k_cfg_json);
    fail_each("data: teacher (lm_data_load + f32)", SRC_ALL, 200, body_data, NULL, &d);
    lm_config_free(d.cfg);
    unlink(path);
    lm_set_allocator(NULL);
    LM_CHECK_LEAKS();
}

/* ---------------------------------------------------------------- every _new */

typedef struct new_ud {
    lm_config *cfg;
    lm_mlp *m;
} new_ud;

static lm_status body_news(void *ud, lm_err *err) {
    new_ud *u = ud;
    lm_status st;
    lm_array *a = NULL;
    LM_TRY(lm_array_new(LM_ELT_F32, 2, (size_t[]){3, 5}, &a, err));
    lm_array_free(a);
    lm_curv_ws *cw = NULL;
    LM_TRY(lm_curv_ws_new(40, 8, &cw, err));
    lm_curv_ws_free(cw);
    lm_dataset *ds = NULL;
    LM_TRY(lm_dataset_new(5, 3, 2, 1, &ds, err));
    lm_dataset_free(ds);
    lm_mlp *m = NULL;
    LM_TRY(lm_mlp_new(&u->cfg->model, &m, err));
    lm_mlp_free(m);
    lm_mlp_ws *ws = NULL;
    LM_TRY(lm_mlp_ws_new(u->m, 7, LM_F64, &ws, err));
    lm_mlp_ws_free(ws);
    LM_TRY(lm_mlp_ws_new(u->m, 7, LM_F32, &ws, err));
    lm_mlp_ws_free(ws);
    lm_mlp_team *team = NULL;
    LM_TRY(lm_mlp_team_new(u->m, 8, LM_F64, 2, &team, err));
    lm_mlp_team_free(team);
    size_t seg_off[LM_MAX_LAYERS * 2 + 1];
    double rate[LM_MAX_LAYERS * 2];
    const size_t n_seg = lm_train_segment_rates(u->cfg, u->m, seg_off, rate);
    lm_optim *o = NULL;
    lm_optim_spec os = u->cfg->optim;
    os.kind = LM_OPT_ADAM;
    LM_TRY(lm_optim_new(&os, u->m->n_params, LM_F64, n_seg, seg_off, rate, 10, &o, err));
    lm_optim_free(o);
    const double th[4] = {2.0, 0.5, 0.5, 1.0}, y[2] = {1.0, -1.0}, cross[2] = {0.3, 0.1};
    lm_kpred *kp = NULL;
    lm_kpred_spec ks = lm_kpred_spec_default();
    st = lm_kpred_new(&kp, th, cross, y, NULL, NULL, NULL, 2, 1, 1, &ks, err);
    lm_kpred_free(kp);
    return st;
}

Test(alloc_fail, every_new) {
    hooks_install();
    new_ud u = {parse_cfg(k_cfg_json), NULL};
    lm_err err = {0};
    cr_assert_eq(lm_mlp_new(&u.cfg->model, &u.m, &err), LM_OK, "%s", err.msg);
    fail_each("every _new (array, curv_ws, dataset, mlp, mlp_ws x2, mlp_team, optim, kpred)",
              SRC_ALL, 500, body_news, NULL, &u);
    lm_mlp_free(u.m);
    lm_config_free(u.cfg);
    lm_set_allocator(NULL);
    LM_CHECK_LEAKS();
}

/* ---------------------------------------------------------------- a training run with a store */

typedef struct train_ud {
    char db[256];
    lm_store *s; /* open across the cases: the connection must survive each failure */
    lm_config *cfg;
    double ref_loss; /* the clean run's final training loss (0: not yet run) */
    int in_export;   /* the case failed in the export, after the run finished */
    /* the clean run's evaluations: steps and the number of metrics at each */
    size_t n_eval;
    int64_t eval_step[16];
    int64_t eval_count[16];
    int64_t runs_seen;
} train_ud;

static lm_status body_train(void *ud, lm_err *err) {
    train_ud *u = ud;
    lm_store *s = u->s;
    lm_train_opts o = {0};
    o.store = s;
    lm_train_result r;
    lm_status st = lm_train_run(u->cfg, &o, &r, err);
    u->in_export = 0;
    if (st == LM_OK) { /* and read it back as JSON (the config, metrics and artifacts) */
        FILE *f = fopen("/dev/null", "w");
        cr_assert_not_null(f);
        st = lm_store_export(s, r.run_id, "json", f, err);
        fclose(f);
        u->in_export = st != LM_OK;
    }
    if (st == LM_OK) {
        cr_assert_eq(r.status, LM_RUN_FINISHED, "%s", r.message);
        if (u->ref_loss == 0.0)
            u->ref_loss = r.train_loss;
        cr_assert_eq(r.train_loss, u->ref_loss, "a finished run differs from the clean run");
    }
    return st;
}

static int64_t sql_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *q = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW, "%s", sql);
    const int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* The database after a case: intact; the newest run row (if the case made one) finished when the
 * case succeeded, else failed (or absent); its evaluations whole and a prefix of the clean run's.
 */
static void check_train_db(void *ud, lm_status st) {
    train_ud *u = ud;
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(u->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_str_eq((const char *) sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    const int64_t runs = sql_int(db, "SELECT count(*) FROM runs");
    if (runs == u->runs_seen) { /* the case failed before the run was recorded */
        cr_assert_neq(st, LM_OK);
        sqlite3_close(db);
        return;
    }
    cr_assert_eq(runs, u->runs_seen + 1, "one run row per case");
    u->runs_seen = runs;
    const int64_t id = sql_int(db, "SELECT max(id) FROM runs");
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT status FROM runs WHERE id = %lld", (long long) id);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    char status[32];
    snprintf(status, sizeof status, "%s", (const char *) sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    if (st == LM_OK || u->in_export)
        cr_assert_str_eq(status, "finished");
    else
        cr_assert_str_eq(status, "failed", "run %lld after an error (%d at k = %ld, source %u): %s",
                         (long long) id, st, g_calls, g_hit, status);
    /* evaluations: (step, count) in step order */
    snprintf(sql, sizeof sql,
             "SELECT step, count(*) FROM metrics WHERE run = %lld GROUP BY step ORDER BY step",
             (long long) id);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    size_t n = 0;
    int64_t steps[16], counts[16];
    while (sqlite3_step(q) == SQLITE_ROW) {
        cr_assert_lt(n, 16);
        steps[n] = sqlite3_column_int64(q, 0);
        counts[n] = sqlite3_column_int64(q, 1);
        n++;
    }
    sqlite3_finalize(q);
    snprintf(sql, sizeof sql, "SELECT coalesce(steps, 0) FROM runs WHERE id = %lld",
             (long long) id);
    const int64_t recorded = sql_int(db, sql);
    sqlite3_close(db);
    if (u->n_eval == 0) { /* the clean run: the reference */
        cr_assert_eq(st, LM_OK);
        cr_assert_geq(n, 2, "the clean run recorded %zu evaluations", n);
        u->n_eval = n;
        memcpy(u->eval_step, steps, sizeof steps);
        memcpy(u->eval_count, counts, sizeof counts);
        return;
    }
    if (st == LM_OK || u->in_export)
        cr_assert_eq(n, u->n_eval, "a finished run with %zu of %zu evaluations", n, u->n_eval);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(steps[i], u->eval_step[i], "evaluation %zu at step %lld, expected %lld", i,
                     (long long) steps[i], (long long) u->eval_step[i]);
        cr_assert_eq(counts[i], u->eval_count[i],
                     "evaluation at step %lld half-written: %lld of %lld metrics",
                     (long long) steps[i], (long long) counts[i], (long long) u->eval_count[i]);
        cr_assert_leq(steps[i], recorded > 0 ? recorded : u->eval_step[n - 1],
                      "metrics past the run's %lld recorded steps", (long long) recorded);
    }
}

Test(alloc_fail, training_run_with_store_stays_consistent) {
    hooks_install();
    train_ud u = {0};
    lm_tmp_path(u.db, sizeof u.db, "af-train.db");
    u.cfg = parse_cfg(k_cfg_json);
    lm_err err = {0};
    cr_assert_eq(lm_store_open(u.db, &u.s, &err), LM_OK, "%s", err.msg);
    fail_each("training run (lm_train_run + JSON export, one open store)", SRC_ALL, 20000,
              body_train, check_train_db, &u);
    lm_store_close(u.s);
    lm_config_free(u.cfg);
    lm_set_allocator(NULL);
    unlink(u.db);
    LM_CHECK_LEAKS();
}

static lm_status body_store_open(void *ud, lm_err *err) {
    lm_store *s = NULL;
    LM_TRY(lm_store_open(ud, &s, err));
    lm_run_info info = {0};
    lm_status st = lm_store_get_run(s, 1, &info, err);
    lm_run_info_clear(&info);
    lm_store_close(s);
    return st;
}

Test(alloc_fail, store_open) {
    hooks_install();
    char db[256];
    lm_tmp_path(db, sizeof db, "af-open.db");
    lm_store *s = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    int64_t id = 0;
    cr_assert_eq(lm_store_run_begin(s, "{\"a\": 1}", "h", 0, 1, &id, &err), LM_OK, "%s", err.msg);
    lm_store_close(s);
    fail_each("store open (lm_store_open + get_run + close)", SRC_ALL, 5000, body_store_open, NULL,
              db);
    lm_set_allocator(NULL);
    unlink(db);
    LM_CHECK_LEAKS();
}

/* ---------------------------------------------------------------- an experiment's analysis */

#define NS 61

static lm_status body_analyse(void *ud, lm_err *err) {
    lm_fx *f = ud;
    f->ctx->n_claims = 0;
    LM_TRY(lm__exp_analyse(&lm__exp_eos, f->ctx, err));
    cr_assert_eq(f->ctx->n_claims, 7);
    return LM_OK;
}

Test(alloc_fail, experiment_analysis) {
    hooks_install();
    lm_fx f;
    lm_fx_open(&f, "eos", 0);
    /* eos runs at eta = 0.1 (edge 20) sharpening to the edge, and controls at eta = 0.04 */
    int64_t st[NS];
    double s[NS], l[NS];
    char lb[96];
    for (int seed = 0; seed < 4; seed++) {
        snprintf(lb, sizeof lb, "eta=0.1 seed=%d", seed);
        const int64_t r = lm_fx_run(&f, lb, "{\"name\": \"eos\"}");
        for (int k = 0; k < NS; k++) {
            st[k] = 100 * k;
            s[k] = k < 8 ? 12.0 + k : 20.0 * (1.0 + 0.02 * sin(0.7 * k + seed));
            l[k] = 0.2 * exp(-k / 20.0) * (k % 3 == 0 ? 1.05 : 1.0);
        }
        lm_fx_series(&f, r, "sharpness", NS, st, s);
        lm_fx_series(&f, r, "train_loss", NS, st, l);
    }
    for (int seed = 0; seed < 4; seed++) {
        snprintf(lb, sizeof lb, "control eta=0.04 seed=%d", seed);
        const int64_t r = lm_fx_run(&f, lb, "{\"name\": \"eos\"}");
        for (int k = 0; k < NS; k++)
            s[k] = 20.0 + 0.1 * k;
        lm_fx_series(&f, r, "sharpness", NS, st, s);
    }
    fail_each("experiment analysis (eos analyse on 8 recorded runs)", SRC_ALL, 20000, body_analyse,
              NULL, &f);
    lm_fx_close(&f);
    lm_set_allocator(NULL);
    LM_CHECK_LEAKS();
}

/* An experiment defined by a file: its claims read the runs' configs (JSON) and metrics back. */
typedef struct file_exp_ud {
    lm_fx f;
    lm_experiment *e;
} file_exp_ud;

static lm_status body_file_analyse(void *ud, lm_err *err) {
    file_exp_ud *u = ud;
    u->f.ctx->n_claims = 0;
    LM_TRY(lm__exp_analyse(u->e, u->f.ctx, err));
    cr_assert_eq(u->f.ctx->n_claims, 1);
    cr_assert_eq(u->f.ctx->claims[0].verdict, LM_VERDICT_PASS, "%s", u->f.ctx->claims[0].detail);
    return LM_OK;
}

Test(alloc_fail, experiment_file_analysis) {
    hooks_install();
    static file_exp_ud u;
    memset(&u, 0, sizeof u);
    char text[4096];
    snprintf(text, sizeof text,
             "{\"experiment\": \"af\", \"summary\": \"allocation failures\", \"base\": %s, "
             "\"sweep\": {\"optimizer.lr\": [0.05, 0.1], \"seed\": [0, 1]}, "
             "\"claims\": [{\"name\": \"learns\", \"metric\": \"train_loss\", "
             "\"where\": {\"optimizer.lr\": 0.1}, \"reduce\": \"max\", \"range\": [null, 10], "
             "\"predicted\": \"below 10\", \"reason\": \"a bound\"}]}",
             k_cfg_json);
    lm_err err = {0};
    cr_assert_eq(lm_exp_file_parse(text, strlen(text), "af.json", "/nonexistent", &u.e, &err),
                 LM_OK, "%s", err.msg);
    lm_exp_plan *p = calloc(1, sizeof *p);
    cr_assert_not_null(p);
    cr_assert_eq(u.e->plan_with(u.e, 0, p, &err), LM_OK, "%s", err.msg);
    lm_fx_open(&u.f, "af", 0);
    const double loss[3] = {0.5, 0.25, 0.125};
    for (size_t i = 0; i < p->n; i++)
        lm_fx_series(&u.f, lm_fx_run(&u.f, p->label[i], p->config[i]), "train_loss", 3, NULL, loss);
    lm_exp_plan_clear(p);
    free(p);
    fail_each("experiment analysis (a file experiment's claim on 4 recorded runs)", SRC_ALL, 20000,
              body_file_analyse, NULL, &u);
    lm_fx_close(&u.f);
    lm_exp_file_free(u.e);
    lm_set_allocator(NULL);
    LM_CHECK_LEAKS();
}
