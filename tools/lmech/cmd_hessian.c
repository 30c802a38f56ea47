/* cmd_hessian.c: `lmech hessian CONFIG.json [--init FILE.safetensors] --top K ...`: eigenvalues,
 * trace and spectral density of the loss Hessian on the configured training set (full batch,
 * float64), at a checkpoint or at the config's seeded initialisation. The products are the model's
 * exact R-operator with the forward/backward state cached once (lm_mlp_hvp_prepare). */
#include "cli.h"
#include "lmech/curv.h"
#include "lmech/data.h"
#include "lmech/io.h"
#include "lmech/train.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "lmech hessian CONFIG.json [--init FILE.safetensors] [--set KEY=VALUE]... [--top K]\n"
    "       [--smallest K] [--method lanczos|dense] [--tol T] [--max-iter N] [--seed S]\n"
    "       [--trace] [--probes N] [--density] [--slq-probes N] [--slq-steps M] [--bins N]\n"
    "       [--max-memory S] [--json]\n"
    "  --top K          largest eigenvalues (default 1)\n"
    "  --smallest K     also the K smallest (default 0)\n"
    "  --method M       lanczos (default) or dense (the whole Hessian + LAPACK; p^2 doubles)\n"
    "  --tol T          relative residual ||Hv - lv|| / |l| required of every pair (1e-6)\n"
    "  --max-iter N     Lanczos steps at most (default 300, fewer if --max-memory demands)\n"
    "  --seed S         seed of the start vector and the probes (default: the config's seed)\n"
    "  --trace          Hutchinson trace with --probes N Rademacher probes (default 100)\n"
    "  --density        SLQ density: --slq-probes (10) x --slq-steps (80) products, --bins "
    "(1000)\n"
    "  --max-memory S   bound on the Lanczos basis or dense matrix: MiB, or a size with\n"
    "                   K, M or G as kernel's (default 1024, i.e. 1G)";

/* An integer option of this command in [lo, hi] (cli_parse_size). */
static int parse_size(const char *name, const char *s, size_t lo, size_t hi, size_t *out) {
    return cli_parse_size("hessian", USAGE, name, s, lo, hi, out);
}

typedef struct job {
    size_t top, smallest, max_iter, probes, slq_probes, slq_steps, bins, max_mb;
    double tol;
    uint64_t seed;
    int dense, trace, density;
} job;

static int parse_job(const cli_opts *o, const lm_config *cfg, job *j) {
    /* the library's defaults (lm_curv_spectrum_opts_default), which the usage text states */
    const lm_curv_spectrum_opts d = lm_curv_spectrum_opts_default();
    j->top = d.top;
    j->smallest = d.smallest;
    j->max_iter = d.max_iter;
    j->probes = d.probes;
    j->slq_probes = d.slq_probes;
    j->slq_steps = d.slq_steps;
    j->bins = d.bins;
    j->max_mb = d.max_mb;
    j->tol = d.tol;
    j->seed = cfg->seed;
    j->trace = o->trace;
    j->density = o->density;
    j->dense = 0;
    size_t seed = (size_t) cfg->seed;
    if (!parse_size("top", o->top, 1, 100000, &j->top) ||
        !parse_size("smallest", o->smallest, 0, 100000, &j->smallest) ||
        !parse_size("max-iter", o->max_iter, 1, 1000000, &j->max_iter) ||
        !parse_size("probes", o->probes, 2, 100000000, &j->probes) ||
        !parse_size("slq-probes", o->slq_probes, 1, 1000000, &j->slq_probes) ||
        !parse_size("slq-steps", o->slq_steps, 1, 100000, &j->slq_steps) ||
        !parse_size("bins", o->bins, 2, 10000000, &j->bins) ||

        !parse_size("seed", o->seed, 0, SIZE_MAX, &seed))
        return 0;
    j->seed = seed;
    size_t bytes = 0;
    if (o->max_memory) {
        if (!cli_parse_bytes(o->max_memory, 1048576, &bytes) || bytes < 1048576) {
            cli_usage("hessian", USAGE,
                      "--max-memory \"%s\": expected a size of at least 1 MiB: a number of MiB, "
                      "or with K, M or G (e.g. 2G)",
                      o->max_memory);
            return 0;
        }
        j->max_mb = bytes / 1048576;
    }
    if (!cli_parse_double("hessian", USAGE, "tol", o->tol, CLI_POSITIVE, &j->tol))
        return 0;
    if (o->method && strcmp(o->method, "dense") == 0)
        j->dense = 1;
    else if (o->method && strcmp(o->method, "lanczos") != 0) {
        cli_usage("hessian", USAGE, "--method \"%s\": expected lanczos or dense", o->method);
        return 0;
    }
    return 1;
}

static json_t *json_array_of(const double *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, cli_json_num(v[i]));
    return a;
}

/* Everything the command computes, freed in one place. */
typedef struct result {
    lm_config *cfg;
    lm_dataset *train;
    lm_mlp *m;
    lm_mlp_ws *mws;
    double *theta, *grad;
    size_t p, hvps;
    double loss, wall;
    lm_curv_spectrum s; /* lm_curv_spectrum_run: eigenvalues, trace, density */
} result;

static void result_free(result *r) {
    lm_free(r->theta);
    lm_free(r->grad);
    lm_curv_spectrum_clear(&r->s);
    lm_mlp_ws_free(r->mws);
    lm_mlp_free(r->m);
    lm_dataset_free(r->train);
}

static lm_status alloc_doubles(double **out, size_t n, lm_err *err) {
    *out = lm_malloc((n ? n : 1) * sizeof(double));
    if (!*out)
        LM_FAIL(err, LM_ENOMEM, "out of memory for %zu numbers", n);
    return LM_OK;
}

static lm_status compute(const cli_opts *o, const job *j, result *r, lm_err *err) {
    lm_config *cfg = r->cfg;
    LM_TRY(lm_threads_set(cfg->train.threads, err));
    lm_data_spec ds = cfg->data;
    ds.test_size = 0; /* the Hessian is of the training loss */
    lm_dataset *test = NULL;
    LM_TRY(lm_data_load(&ds, cfg->seed, &r->train, &test, err));
    lm_dataset_free(test);
    LM_TRY(lm_mlp_new(&cfg->model, &r->m, err));
    if (r->train->d != r->m->d_in || r->train->k != r->m->d_out)
        LM_FAIL(err, LM_ESHAPE,
                "%s: the data have %zu inputs and %zu targets, model.widths says %zu -> %zu",
                o->config, r->train->d, r->train->k, r->m->d_in, r->m->d_out);
    r->p = r->m->n_params;
    LM_TRY(alloc_doubles(&r->theta, r->p, err));
    LM_TRY(alloc_doubles(&r->grad, r->p, err));
    if (o->init)
        LM_TRY(lm_mlp_load(r->m, o->init, r->theta, err));
    else
        LM_TRY(lm_train_init_params(cfg, r->m, r->theta, err));
    LM_TRY(lm_mlp_ws_new(r->m, r->train->n, LM_F64, &r->mws, err));
    if (cfg->center_output) {
        /* The trained loss is L(F(w) - F(w_0), y) = L(F(w), y + F(w_0)) with w_0 the seeded
         * init (train.h): the same target shift as training and lmech eval, in float64.
         * r->grad holds w_0 until the HVP preparation overwrites it with the gradient. */
        double *f0 = lm_malloc(r->train->n * r->train->k * sizeof *f0);
        if (!f0)
            LM_FAIL(err, LM_ENOMEM, "out of memory for the initial outputs (%zu x %zu)",
                    r->train->n, r->train->k);
        lm_status st = lm_train_init_params(cfg, r->m, r->grad, err);
        if (st == LM_OK)
            st = lm_mlp_forward(r->m, r->mws, r->grad, r->train->x, r->train->n, f0, err);
        for (size_t i = 0; st == LM_OK && i < r->train->n * r->train->k; i++)
            r->train->y[i] += f0[i];
        lm_free(f0);
        LM_TRY(st);
    }
    double t0 = lm_now();
    LM_TRY(lm_mlp_hvp_prepare(r->m, r->mws, cfg->loss, r->theta, r->train->x, r->train->y,
                              r->train->n, &r->loss, r->grad, err));
    if (!isfinite(r->loss))
        LM_FAIL(err, LM_ENUMERIC,
                "the loss at %s is %g: its Hessian is not defined (parameters too large?)",
                o->init ? o->init : "the seeded initialisation", r->loss);
    lm_curv_mlp op = {r->m, r->mws, 0};
    lm_curv_spectrum_opts so = lm_curv_spectrum_opts_default();
    so.top = j->top;
    so.smallest = j->smallest;
    so.dense = j->dense;
    so.tol = j->tol;
    so.max_iter = j->max_iter;
    so.seed = j->seed;
    so.trace = j->trace;
    so.probes = j->probes;
    so.density = j->density;
    so.slq_probes = j->slq_probes;
    so.slq_steps = j->slq_steps;
    so.bins = j->bins;
    so.max_mb = j->max_mb;
    lm_status st = lm_curv_spectrum_run(lm_curv_mlp_apply, &op, r->p, &so, &r->s, err);
    r->hvps = op.n_ops;
    r->wall = lm_now() - t0;
    return st;
}

static void print_json(const job *j, const result *r) {
    json_t *js = json_object();
    json_object_set_new(js, "method", json_string(j->dense ? "dense" : "lanczos"));
    json_object_set_new(js, "n_params", json_integer((json_int_t) r->p));
    json_object_set_new(js, "n_examples", json_integer((json_int_t) r->train->n));
    json_object_set_new(js, "loss", cli_json_num(r->loss));
    json_object_set_new(js, "eigenvalues", json_array_of(r->s.evals, j->top));
    json_object_set_new(js, "residuals", json_array_of(r->s.res, j->top));
    json_object_set_new(js, "tol", cli_json_num(j->tol));
    json_object_set_new(js, "converged", json_boolean(r->s.converged));
    if (!j->dense)
        json_object_set_new(js, "iterations", json_integer((json_int_t) r->s.iters));
    if (j->smallest) {
        json_t *s = json_object();
        json_object_set_new(s, "eigenvalues", json_array_of(r->s.small, j->smallest));
        if (r->s.small_res)
            json_object_set_new(s, "residuals", json_array_of(r->s.small_res, j->smallest));
        json_object_set_new(js, "smallest", s);
    }
    json_object_set_new(js, "hvps", json_integer((json_int_t) r->hvps));
    json_object_set_new(js, "wall_s", cli_json_num(r->wall));
    if (j->trace) {
        json_t *t = json_object();
        json_object_set_new(t, "estimate", cli_json_num(r->s.trace));
        json_object_set_new(t, "stderr", cli_json_num(r->s.trace_se));
        json_object_set_new(t, "probes", json_integer((json_int_t) (j->dense ? 0 : j->probes)));
        json_object_set_new(t, "exact", json_boolean(j->dense));
        json_object_set_new(js, "trace", t);
    }
    if (j->density) {
        json_t *d = json_object();
        json_object_set_new(d, "grid", json_array_of(r->s.grid, j->bins));
        json_object_set_new(d, "values", json_array_of(r->s.values, j->bins));
        if (!j->dense) {
            size_t n = j->slq_probes * r->s.slq_steps;
            json_object_set_new(d, "probes", json_integer((json_int_t) j->slq_probes));
            json_object_set_new(d, "steps", json_integer((json_int_t) r->s.slq_steps));
            json_object_set_new(d, "nodes", json_array_of(r->s.nodes, n));
            json_object_set_new(d, "weights", json_array_of(r->s.weights, n));
            json_object_set_new(d, "trace_estimate", cli_json_num(r->s.slq_trace));
        }
        json_object_set_new(js, "density", d);
    }
    cli_print_json(js);
}

static void print_text(const job *j, const result *r) {
    printf("Hessian of the %s loss %.10g: p = %zu parameters, n = %zu examples, %s\n",
           lm_loss_name(r->cfg->loss), r->loss, r->p, r->train->n,
           j->dense ? "dense + LAPACK" : "Lanczos");
    printf("top %zu eigenvalues (relative residual ||Hv - lv|| / |l|):\n", j->top);
    for (size_t i = 0; i < j->top; i++)
        printf("  %3zu  %+.12e  %.2e\n", i + 1, r->s.evals[i], r->s.res[i]);
    if (j->smallest) {
        printf("smallest %zu eigenvalues:\n", j->smallest);
        for (size_t i = 0; i < j->smallest; i++) {
            printf("  %3zu  %+.12e", i + 1, r->s.small[i]);
            if (r->s.small_res)
                printf("  %.2e", r->s.small_res[i]);
            printf("\n");
        }
    }
    if (j->trace) {
        if (j->dense)
            printf("trace  %.10g (exact)\n", r->s.trace);
        else
            printf("trace  %.6g +- %.2g (Hutchinson, %zu probes)\n", r->s.trace, r->s.trace_se,
                   j->probes);
    }
    if (j->density) {
        size_t imax = 0;
        for (size_t i = 1; i < j->bins; i++)
            if (r->s.values[i] > r->s.values[imax])
                imax = i;
        printf("density  %zu bins on [%.6g, %.6g], mode at %.6g", j->bins, r->s.grid[0],
               r->s.grid[j->bins - 1], r->s.grid[imax]);
        if (!j->dense)
            printf("; SLQ %zu probes x %zu steps, trace %.6g", j->slq_probes, r->s.slq_steps,
                   r->s.slq_trace);
        printf(" (--json for the values)\n");
    }
    printf("%zu Hessian-vector products, %.3f s%s\n", r->hvps, r->wall,
           r->s.converged ? "" : "  (NOT converged to --tol)");
}

int cmd_hessian(int argc, char **argv) {
    cli_opts o;
    int rc = cli_parse("hessian", USAGE, argc, argv,
                       "CONFIG,set,init,json,top,smallest,method,tol,max-iter,seed,trace,probes,"
                       "density,slq-probes,slq-steps,bins,max-memory",
                       &o);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    lm_err err = {0};
    result r;
    memset(&r, 0, sizeof r);
    job j;
    if (lm_config_load(o.config, o.n_sets, o.sets, &r.cfg, &err) != LM_OK) {
        cli_fail("hessian", &err);
        return CLI_FAIL;
    }
    if (!parse_job(&o, r.cfg, &j)) {
        lm_config_free(r.cfg);
        return CLI_USAGE;
    }
    rc = CLI_OK;
    if (compute(&o, &j, &r, &err) != LM_OK)
        rc = cli_fail("hessian", &err);
    else {
        if (o.json)
            print_json(&j, &r);
        else
            print_text(&j, &r);
        if (!r.s.converged)
            fprintf(stderr,
                    "lmech hessian: warning: not every pair reached --tol %g within %zu Lanczos "
                    "steps; the residuals say how far (raise --max-iter)\n",
                    j.tol, r.s.iters);
    }
    result_free(&r);
    lm_config_free(r.cfg);
    return rc;
}
