/*
 * fit_io.c: where scaling-law data come from (a CSV file, or a sweep in the run database) and
 * the figure of a fit (lmech/fit.h).
 */
#include "lmech/fit.h"

#include "lmech/io.h"

#include "core/internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- CSV */

/* Splits line (modified in place) at commas into at most cap trimmed fields (surrounding double
 * quotes removed); returns the field count (cap + 1 when there are more). */
static size_t split_csv(char *line, char **f, size_t cap) {
    size_t k = 0;
    char *p = line;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        char *end = p + strlen(p);
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            *--end = '\0';
        if (end - p >= 2 && p[0] == '"' && end[-1] == '"') {
            end[-1] = '\0';
            p++;
        }
        if (k == cap)
            return cap + 1;
        f[k++] = p;
        if (!comma)
            return k;
        p = comma + 1;
    }
}

#define CSV_MAX_FIELDS 256

lm_status lm_fit_read_csv(const char *path, size_t k, const char *const *names, double **cols,
                          size_t *n_out, lm_err *err) {
    if (!path || !names || !cols || !n_out || k == 0 || k > CSV_MAX_FIELDS)
        LM_FAIL(err, LM_EINVAL, "read csv: bad arguments");
    FILE *fp = fopen(path, "r");
    if (!fp)
        LM_FAIL(err, LM_EIO, "%s: cannot open: %s", path, strerror(errno));
    lm_status st = LM_OK;
    char *line = NULL;
    size_t lcap = 0, lineno = 0, n = 0, cap = 0, nh = 0;
    ssize_t len;
    char *hdr[CSV_MAX_FIELDS], *fld[CSV_MAX_FIELDS];
    size_t idx[CSV_MAX_FIELDS];
    char *header = NULL;
    double *data = NULL;
    while (st == LM_OK && (len = getline(&line, &lcap, fp)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        const char *q = line;
        while (*q == ' ' || *q == '\t' || *q == '\r')
            q++;
        if (*q == '\0' || *q == '#')
            continue;
        if (!header) {
            header = lm_malloc((size_t) len + 1);
            if (!header) {
                st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
                break;
            }
            memcpy(header, line, (size_t) len + 1);
            nh = split_csv(header, hdr, CSV_MAX_FIELDS);
            if (nh > CSV_MAX_FIELDS) {
                st = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__,
                                "%s: line %zu: more than %d columns", path, lineno, CSV_MAX_FIELDS);
                break;
            }
            for (size_t j = 0; j < k && st == LM_OK; j++) {
                idx[j] = nh;
                for (size_t c = 0; c < nh; c++)
                    if (strcmp(hdr[c], names[j]) == 0)
                        idx[j] = c;
                if (idx[j] == nh) {
                    char have[160] = "";
                    size_t hl = 0;
                    for (size_t c = 0; c < nh && hl + 4 < sizeof have; c++)
                        hl += (size_t) snprintf(have + hl, sizeof have - hl, "%s\"%s\"",
                                                c ? ", " : "", hdr[c]);
                    st = lm_err_set(err, LM_ENOTFOUND, __FILE__, __LINE__,
                                    "%s: line %zu (header): no column \"%s\" (columns: %s)", path,
                                    lineno, names[j], have);
                }
            }
            continue;
        }
        const size_t nf = split_csv(line, fld, CSV_MAX_FIELDS);
        if (nf != nh) {
            st = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__,
                            "%s: line %zu: %zu fields, the header has %zu", path, lineno,
                            nf > CSV_MAX_FIELDS ? (size_t) CSV_MAX_FIELDS : nf, nh);
            break;
        }
        if (n == cap) {
            const size_t ncap = cap ? 2 * cap : 64;
            double *nd = lm_malloc(ncap * k * sizeof *nd);
            if (!nd) {
                st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
                break;
            }
            for (size_t j = 0; j < k && data; j++)
                memcpy(nd + j * ncap, data + j * cap, n * sizeof *nd);
            lm_free(data);
            data = nd;
            cap = ncap;
        }
        for (size_t j = 0; j < k && st == LM_OK; j++) {
            const char *txt = fld[idx[j]];
            char *end = NULL;
            errno = 0;
            const double v = strtod(txt, &end);
            if (end == txt || *end != '\0')
                st = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__,
                                "%s: line %zu, column \"%s\": \"%s\" is not a number", path, lineno,
                                names[j], txt);
            else if (!isfinite(v) || !(v > 0))
                st = lm_err_set(err, isfinite(v) ? LM_ERANGE : LM_ENUMERIC, __FILE__, __LINE__,
                                "%s: line %zu, column \"%s\": %s (scaling-law data must be "
                                "finite and > 0)",
                                path, lineno, names[j], txt);
            else
                data[j * cap + n] = v;
        }
        n++;
    }
    if (st == LM_OK && ferror(fp))
        st = lm_err_set(err, LM_EIO, __FILE__, __LINE__, "%s: read error", path);
    fclose(fp);
    free(line);
    lm_free(header);
    if (st == LM_OK && !header)
        st = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__, "%s: empty (no header row)", path);
    if (st == LM_OK && n == 0)
        st = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__, "%s: a header and no data rows", path);
    if (st != LM_OK) {
        lm_free(data);
        return st;
    }
    /* compact the columns to a stride of n */
    double *out = lm_malloc(n * k * sizeof *out);
    if (!out) {
        lm_free(data);
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory", path);
    }
    for (size_t j = 0; j < k; j++)
        memcpy(out + j * n, data + j * cap, n * sizeof *out);
    lm_free(data);
    *cols = out;
    *n_out = n;
    return LM_OK;
}

/* ---------------------------------------------------------------- the run database */

/* The number at a key path ("model.widths[1]", "data.train_size") of a JSON config. */
static int json_path_number(json_t *root, const char *path, double *out) {
    json_t *v = root;
    const char *p = path;
    while (v && *p) {
        char seg[128];
        size_t l = strcspn(p, ".[");
        if (l >= sizeof seg)
            return 0;
        if (l > 0) {
            memcpy(seg, p, l);
            seg[l] = '\0';
            v = json_is_object(v) ? json_object_get(v, seg) : NULL;
            p += l;
        }
        while (v && *p == '[') {
            char *end = NULL;
            const long ix = strtol(p + 1, &end, 10);
            if (end == p + 1 || *end != ']' || ix < 0)
                return 0;
            v = json_is_array(v) ? json_array_get(v, (size_t) ix) : NULL;
            p = end + 1;
        }
        if (*p == '.')
            p++;
        else if (*p)
            return 0;
    }
    if (!v || !json_is_number(v))
        return 0;
    *out = json_number_value(v);
    return 1;
}

typedef struct run_list {
    int64_t *id;
    size_t n, cap;
    int oom;
} run_list;

static int collect_run(void *ud, int64_t run, const char *label) {
    (void) label;
    run_list *l = ud;
    if (l->n == l->cap) {
        const size_t nc = l->cap ? 2 * l->cap : 64;
        int64_t *ni = lm_malloc(nc * sizeof *ni);
        if (!ni) {
            l->oom = 1;
            return 1;
        }
        if (l->id)
            memcpy(ni, l->id, l->n * sizeof *ni);
        lm_free(l->id);
        l->id = ni;
        l->cap = nc;
    }
    l->id[l->n++] = run;
    return 0;
}

lm_status lm_fit_read_store(lm_store *s, const char *exp, const char *metric, size_t k,
                            const char *const *keys, double **cols, size_t *n_out, int64_t **runs,
                            size_t *skipped, lm_err *err) {
    if (!s || !exp || !metric || !cols || !n_out || (k && !keys))
        LM_FAIL(err, LM_EINVAL, "read sweep: bad arguments");
    int64_t eid = -1;
    LM_TRY(lm_store_exp_latest(s, exp, &eid, err));
    if (eid < 0)
        LM_FAIL(err, LM_ENOTFOUND, "experiment \"%s\": no invocation in the database", exp);
    run_list rl = {0};
    lm_status st = lm_store_exp_runs(s, eid, collect_run, &rl, err);
    if (st == LM_OK && rl.oom)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory listing runs");
    if (st == LM_OK && rl.n == 0)
        st = lm_err_set(err, LM_ENOTFOUND, __FILE__, __LINE__,
                        "experiment \"%s\" (invocation %lld): no runs", exp, (long long) eid);
    double *data = NULL, *series = NULL;
    int64_t *ids = NULL;
    size_t n = 0, skip = 0;
    if (st == LM_OK) {
        data = lm_malloc(rl.n * (k + 1) * sizeof *data);
        ids = lm_malloc(rl.n * sizeof *ids);
        if (!data || !ids)
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory for a sweep");
    }
    for (size_t r = 0; st == LM_OK && r < rl.n; r++) {
        lm_run_info info = {0};
        st = lm_store_get_run(s, rl.id[r], &info, err);
        if (st != LM_OK)
            break;
        if (strcmp(info.status, "finished") != 0) {
            skip++;
            lm_run_info_clear(&info);
            continue;
        }
        json_error_t je;
        int oom = 0;
        json_t *cfg =
            info.config ? lm__json_loadb(info.config, strlen(info.config), 0, &je, &oom) : NULL;
        if (oom)
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                            "experiment \"%s\", run %lld: out of memory reading its config", exp,
                            (long long) rl.id[r]);
        for (size_t j = 0; j < k && st == LM_OK; j++)
            if (!cfg || !json_path_number(cfg, keys[j], &data[j * rl.n + n]))
                st = lm_err_set(err, LM_ENOTFOUND, __FILE__, __LINE__,
                                "experiment \"%s\", run %lld: config key \"%s\" is not a number "
                                "(a path like data.train_size or model.widths[1])",
                                exp, (long long) rl.id[r], keys[j]);
        json_decref(cfg);
        lm_run_info_clear(&info);
        size_t got = 0, total = 0;
        if (st == LM_OK)
            st = lm_store_get_series(s, rl.id[r], metric, 0, NULL, NULL, &got, &total, err);
        if (st == LM_OK && total == 0)
            st = lm_err_set(err, LM_ENOTFOUND, __FILE__, __LINE__,
                            "experiment \"%s\", run %lld: no metric \"%s\"", exp,
                            (long long) rl.id[r], metric);
        if (st == LM_OK) {
            lm_free(series);
            series = lm_malloc(total * sizeof *series);
            if (!series)
                st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
        }
        if (st == LM_OK)
            st = lm_store_get_series(s, rl.id[r], metric, total, NULL, series, &got, &total, err);
        if (st == LM_OK) {
            data[k * rl.n + n] = got ? series[got - 1] : LM_NAN;
            ids[n++] = rl.id[r];
        }
    }
    lm_free(series);
    lm_free(rl.id);
    if (st == LM_OK && n == 0)
        st = lm_err_set(err, LM_ENOTFOUND, __FILE__, __LINE__,
                        "experiment \"%s\": no finished runs (%zu skipped)", exp, skip);
    if (st != LM_OK) {
        lm_free(data);
        lm_free(ids);
        return st;
    }
    /* compact to a column stride of n */
    double *out = lm_malloc(n * (k + 1) * sizeof *out);
    if (!out) {
        lm_free(data);
        lm_free(ids);
        LM_FAIL(err, LM_ENOMEM, "out of memory for a sweep");
    }
    for (size_t j = 0; j <= k; j++)
        memcpy(out + j * n, data + j * rl.n, n * sizeof *out);
    lm_free(data);
    *cols = out;
    *n_out = n;
    if (skipped)
        *skipped = skip;
    if (runs)
        *runs = ids;
    else
        lm_free(ids);
    return LM_OK;
}

/* ---------------------------------------------------------------- the figure */

static int cmp_dbl(const void *a, const void *b) {
    const double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

/* The 2.5 % and 97.5 % points of v[0..k) (sorted in place). */
static void band(double *v, size_t k, double *lo, double *hi) {
    size_t m = 0;
    for (size_t i = 0; i < k; i++)
        if (isfinite(v[i]))
            v[m++] = v[i];
    if (m == 0) {
        *lo = *hi = LM_NAN;
        return;
    }
    qsort(v, m, sizeof *v, cmp_dbl);
    *lo = v[(size_t) floor(0.025 * (double) (m - 1))];
    *hi = v[(size_t) ceil(0.975 * (double) (m - 1))];
}

#define FIG_GRID   80
#define FIG_CURVES 6

lm_status lm_fit_figure(const char *dir, const char *name, const lm_fit_result *res, size_t n,
                        const double *N, const double *D, const double *L, double C, char *path_out,
                        size_t path_len, lm_err *err) {
    if (!dir || !name || !res || !N || !L || n == 0)
        LM_FAIL(err, LM_EINVAL, "fit figure: bad arguments");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        LM_FAIL(err, LM_EIO, "%s: cannot create: %s", dir, strerror(errno));
    const int two = res->law == LM_FIT_CHINCHILLA && D;
    const int frontier = two && C > 0 && isfinite(C);
    const size_t K = res->boot ? res->n_boot : 0;
    double nmin = LM_INF, nmax = 0;
    for (size_t i = 0; i < n; i++) {
        nmin = fmin(nmin, N[i]);
        nmax = fmax(nmax, N[i]);
    }
    /* the curves: one per distinct D (chinchilla; at most FIG_CURVES, spread over the sorted
     * distinct values), one for power */
    double dv[FIG_CURVES] = {0};
    size_t nc = 1;
    double *ds = NULL, *tmp = lm_malloc((K ? K : 1) * sizeof *tmp);
    if (two) {
        ds = lm_malloc(n * sizeof *ds);
        if (!ds || !tmp) {
            lm_free(ds);
            lm_free(tmp);
            LM_FAIL(err, LM_ENOMEM, "fit figure: out of memory");
        }
        memcpy(ds, D, n * sizeof *ds);
        qsort(ds, n, sizeof *ds, cmp_dbl);
        size_t u = 0;
        for (size_t i = 0; i < n; i++)
            if (i == 0 || ds[i] != ds[u - 1])
                ds[u++] = ds[i];
        nc = u < FIG_CURVES ? u : FIG_CURVES;
        for (size_t c = 0; c < nc; c++)
            dv[c] = ds[nc > 1 ? c * (u - 1) / (nc - 1) : 0];
        lm_free(ds);
    } else if (!tmp) {
        LM_FAIL(err, LM_ENOMEM, "fit figure: out of memory");
    }
    lm_sb t = {0}, g = {0};
    lm_sb_printf(&t,
                 "# %s: index 0 the data (N D L); then per curve the law over N at fixed D "
                 "(N L lo95 hi95)%s\n",
                 name,
                 frontier ? "; last the compute-optimal frontier (C N_opt lo hi D_opt lo hi)" : "");
    for (size_t i = 0; i < n; i++)
        lm_sb_printf(&t, "%.10g\t%.10g\t%.10g\n", N[i], two ? D[i] : 0.0, L[i]);
    const double l0 = log(nmin / 2), l1 = log(nmax * 2);
    for (size_t c = 0; c < nc; c++) {
        lm_sb_printf(&t, "\n\n# law at D = %.6g\n", dv[c]);
        for (size_t q = 0; q < FIG_GRID; q++) {
            const double x = exp(l0 + (l1 - l0) * (double) q / (FIG_GRID - 1));
            double lo = LM_NAN, hi = LM_NAN;
            for (size_t r = 0; r < K; r++)
                tmp[r] = lm_fit_predict(res->law, res->boot + r * LM_FIT_NPAR, x, dv[c]);
            if (K)
                band(tmp, K, &lo, &hi);
            lm_sb_printf(&t, "%.10g\t%.10g\t%.10g\t%.10g\n", x,
                         lm_fit_predict(res->law, res->par, x, dv[c]), lo, hi);
        }
    }
    if (frontier) {
        lm_sb_printf(&t, "\n\n# compute-optimal frontier for C = 6ND\n");
        for (size_t q = 0; q < FIG_GRID; q++) {
            const double c = C * pow(10.0, -3.0 + 6.0 * (double) q / (FIG_GRID - 1));
            double no = LM_NAN, dop = LM_NAN, nlo = LM_NAN, nhi = LM_NAN, dlo = LM_NAN,
                   dhi = LM_NAN;
            lm_fit_compute_optimal(res->par, c, &no, &dop, NULL);
            if (K) {
                double *t2 = lm_malloc(K * sizeof *t2);
                if (t2) {
                    for (size_t r = 0; r < K; r++) {
                        tmp[r] = t2[r] = LM_NAN;
                        lm_fit_compute_optimal(res->boot + r * LM_FIT_NPAR, c, &tmp[r], &t2[r],
                                               NULL);
                    }
                    band(tmp, K, &nlo, &nhi);
                    band(t2, K, &dlo, &dhi);
                    lm_free(t2);
                }
            }
            lm_sb_printf(&t, "%.10g\t%.10g\t%.10g\t%.10g\t%.10g\t%.10g\t%.10g\n", c, no, nlo, nhi,
                         dop, dlo, dhi);
        }
    }
    lm_free(tmp);
    /* the script */
    lm_sb_printf(&g,
                 "# lmech figure: the fitted %s law against the data%s.\n"
                 "# Re-render: gnuplot %s.gp (in this directory) writes %s.png and %s.svg.\n"
                 "set terminal pngcairo size %d,560 font ',11'\nset output '%s.png'\n"
                 "set datafile separator '\\t'\nset grid\nset key top right box\n",
                 lm_fit_law_name(res->law), frontier ? " and the compute-optimal frontier" : "",
                 name, name, name, frontier ? 1400 : 960, name);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            lm_sb_printf(&g,
                         "set terminal svg size %d,560 dynamic font ',11'\nset output '%s.svg'\n",
                         frontier ? 1400 : 960, name);
        if (frontier)
            lm_sb_printf(&g, "set multiplot layout 1,2\n");
        lm_sb_printf(&g,
                     "set logscale x\nset logscale y\nset xlabel 'N'\nset ylabel 'loss L'\n"
                     "set title '%s: E = %.4g, A = %.4g, α = %.4g",
                     lm_fit_law_name(res->law), res->par[LM_FIT_E], res->par[LM_FIT_A],
                     res->par[LM_FIT_ALPHA]);
        if (two)
            lm_sb_printf(&g, ", B = %.4g, β = %.4g", res->par[LM_FIT_B], res->par[LM_FIT_BETA]);
        lm_sb_printf(&g,
                     "%s'\nplot '%s.tsv' index 0 using 1:3 with points pt 7 ps 0.6 lc rgb "
                     "'#555555' title 'data'",
                     K ? " (95 % band)" : "", name);
        for (size_t c = 0; c < nc; c++) {
            if (K)
                lm_sb_printf(&g,
                             ", \\\n     '%s.tsv' index %zu using 1:3:4 with filledcurves lc %zu "
                             "fs transparent solid 0.2 notitle",
                             name, c + 1, c + 1);
            if (two)
                lm_sb_printf(&g,
                             ", \\\n     '%s.tsv' index %zu using 1:2 with lines lc %zu lw 2 "
                             "title 'D = %.3g'",
                             name, c + 1, c + 1, dv[c]);
            else
                lm_sb_printf(&g,
                             ", \\\n     '%s.tsv' index %zu using 1:2 with lines lc %zu lw 2 "
                             "title 'fit'",
                             name, c + 1, c + 1);
        }
        lm_sb_printf(&g, "\n");
        if (frontier) {
            const size_t fi = nc + 1;
            lm_sb_printf(
                &g,
                "set xlabel 'compute C = 6ND'\nset ylabel 'N_{opt}, D_{opt}'\n"
                "set title 'compute-optimal allocation (C = %.3g marked)'\n"
                "set arrow 1 from %.10g, graph 0 to %.10g, graph 1 nohead dt 3\n"
                "plot '%s.tsv' index %zu using 1:3:4 with filledcurves lc 1 fs transparent "
                "solid 0.2 notitle, \\\n     '' index %zu using 1:2 with lines lc 1 lw 2 "
                "title 'N_{opt}', \\\n     '' index %zu using 1:6:7 with filledcurves lc "
                "2 fs transparent solid 0.2 notitle, \\\n     '' index %zu using 1:5 with "
                "lines lc 2 lw 2 title 'D_{opt}'\nunset arrow 1\nunset multiplot\n",
                C, C, C, name, fi, fi, fi, fi);
        }
    }
    lm_status st = LM_OK;
    char path[4096 + 256];
    if (t.oom || g.oom)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "fit figure: out of memory");
    if (st == LM_OK) {
        snprintf(path, sizeof path, "%s/%s.tsv", dir, name);
        st = lm_file_write_atomic(path, t.p, t.len, err);
    }
    if (st == LM_OK) {
        snprintf(path, sizeof path, "%s/%s.gp", dir, name);
        st = lm_file_write_atomic(path, g.p, g.len, err);
    }
    if (st == LM_OK && path_out && path_len)
        snprintf(path_out, path_len, "%s", path);
    lm_free(t.p);
    lm_free(g.p);
    return st;
}
