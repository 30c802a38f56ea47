/* cmd_exp.c: `lmech exp NAME|FILE.json [--db FILE] [--quick] [--jobs N] [--json]` and
 * `lmech exp --list`. A positional ending in .json is an experiment file (docs/experiments.md).
 * `mpirun -n R lmech exp NAME|FILE.json --mpi ...` spreads the runs over MPI ranks (docs/mpi.md):
 * rank 0 runs this command, the other ranks train what it sends them. */
#include "cli.h"
#include "lmech/exp.h"
#include "lmech/report.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *USAGE = "lmech exp NAME|FILE.json [--db FILE] [--quick] [--jobs N | --mpi] "
                           "[--json] | lmech exp --list";

/* "  eos: 2/3 runs trained, 0:31 elapsed, about 0:15 left" (ud: the start time, lm_now). The
 * estimate assumes the remaining runs cost what the finished ones did on average. */
static void progress(void *ud, const char *what, size_t done, size_t total) {
    const double el = lm_now() - *(const double *) ud;
    const long e = (long) el,
               left = done ? (long) (el / (double) done * (double) (total - done)) : -1;
    if (left >= 0 && done < total)
        fprintf(stderr, "\r  %s: %zu/%zu runs trained, %ld:%02ld elapsed, about %ld:%02ld left   ",
                what, done, total, e / 60, e % 60, left / 60, left % 60);
    else
        fprintf(stderr, "\r  %s: %zu/%zu runs trained, %ld:%02ld elapsed              ", what, done,
                total, e / 60, e % 60);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static json_t *claim_json(const lm_claim *c) {
    json_t *j = json_object();
    json_object_set_new(j, "name", json_string(c->name));
    json_object_set_new(j, "predicted", json_string(c->predicted));
    json_object_set_new(j, "predicted_value", cli_json_num(c->predicted_value));
    json_object_set_new(j, "measured", cli_json_num(c->measured));
    json_object_set_new(j, "uncertainty", cli_json_num(c->uncertainty));
    json_object_set_new(j, "tolerance", json_string(c->tolerance));
    json_object_set_new(j, "tolerance_value", cli_json_num(c->tolerance_value));
    json_object_set_new(j, "lo", cli_json_num(c->lo)); /* null: an open side (or reported) */
    json_object_set_new(j, "hi", cli_json_num(c->hi));
    json_object_set_new(j, "verdict", json_string(lm_verdict_name(c->verdict)));
    json_object_set_new(j, "reason", json_string(c->reason));
    json_object_set_new(j, "detail", json_string(c->detail));
    json_t *runs = json_array();
    for (size_t i = 0; i < c->n_runs; i++)
        json_array_append_new(runs, json_integer(c->runs[i]));
    json_object_set_new(j, "runs", runs);
    return j;
}

/* The claims table (reported = 0), or the reported figures apart from it ("measured, not
 * claimed"); numbers at the precision their uncertainty supports (the JSON keeps them whole).
 * An inconclusive claim's detail (why, and how many seeds would decide it) follows its row. */
static void print_claims(const lm_exp_ctx *c, int reported) {
    size_t n = 0;
    for (size_t i = 0; i < c->n_claims; i++)
        n += (c->claims[i].verdict == LM_VERDICT_REPORTED) == reported;
    if (!n)
        return;
    if (reported)
        printf("\nmeasured, not claimed (reported figures, no verdict)\n%-32s %-24s %s\n", "figure",
               "measured", "note");
    else
        printf("%-32s %-13s %-24s %-30s %s\n", "claim", "verdict", "measured", "tolerance",
               "prediction");
    for (size_t i = 0; i < c->n_claims; i++) {
        const lm_claim *k = &c->claims[i];
        if ((k->verdict == LM_VERDICT_REPORTED) != reported)
            continue;
        char meas[96];
        lm_report_fmt_measure(k->measured, k->uncertainty, " +- ", meas, sizeof meas);
        if (reported) {
            /* a precondition's note is whether it holds (its detail), a figure's why it is not
             * a claim (its reason) */
            const int pre = strncmp(k->name, "precondition:", 13) == 0;
            printf("%-32s %-24s %s\n", k->name, meas, pre ? k->detail : k->reason);
            continue;
        }
        printf("%-32s %-13s %-24s %-30s %s\n", k->name, lm_verdict_name(k->verdict), meas,
               k->tolerance, k->predicted);
        const char *why =
            k->verdict == LM_VERDICT_INCONCLUSIVE ? strstr(k->detail, "inconclusive") : NULL;
        if (why)
            printf("%-32s   %s\n", "", why);
    }
}

static int exp_main(int argc, char **argv, int mpi) {
    cli_opts o;
    int listing = 0;
    for (int i = 1; i < argc; i++)
        listing |= strcmp(argv[i], "--list") == 0;
    int rc = cli_parse("exp", USAGE, argc, argv,
                       listing ? "db,list,json" : "RUN,db,quick,jobs,json,quiet", &o);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (o.list) {
        for (const lm_experiment *const *e = lm_experiments(); *e; e++)
            printf("%-18s %s\n", (*e)->name, (*e)->summary);
        return CLI_OK;
    }
    lm_experiment *file = NULL;
    const size_t plen = strlen(o.positional);
    if (plen > 5 && strcmp(o.positional + plen - 5, ".json") == 0) {
        lm_err ferr = {0};
        if (lm_exp_file_load(o.positional, &file, &ferr) != LM_OK)
            return cli_fail("exp", &ferr);
    }
    const lm_experiment *e = file ? file : lm_experiment_find(o.positional);
    if (!e) {
        fprintf(stderr, "lmech exp: no experiment \"%s\" (lmech exp --list shows them)\n",
                o.positional);
        return CLI_USAGE;
    }
    int jobs = 0;
    if (o.jobs && mpi) {
        lm_exp_file_free(file);
        return cli_usage("exp", USAGE,
                         "--jobs and --mpi exclude each other (with --mpi the ranks "
                         "are the workers: mpirun -n R)");
    }
    if (o.jobs) {
        char *end;
        long j = strtol(o.jobs, &end, 10);
        if (*end || j < 1 || j > 64) {
            lm_exp_file_free(file);
            return cli_usage("exp", USAGE, "--jobs must be 1 to 64, got \"%s\"", o.jobs);
        }
        jobs = (int) j;
    }
    lm_exp_opts eo = {o.db, o.quick, jobs, NULL, NULL, NULL};
    double t0 = lm_now();
    if (!o.quiet && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO)) { /* a person is watching */
        eo.progress = progress;
        eo.progress_ud = &t0;
    }
    /* Ctrl-C or SIGTERM: the runs in flight end `interrupted`, the invocation is recorded so, and
     * the same command later resumes (finished runs are reused) */
    eo.stop = cli_stop_on_signals();
    lm_exp_result res;
    lm_err err = {0};
    if ((mpi ? lm_exp_run_mpi : lm_exp_run)(e, &eo, &res, &err) != LM_OK) {
        lm_exp_result_clear(&res);
        lm_exp_file_free(file);
        return cli_fail("exp", &err);
    }
    if (res.interrupted) {
        fprintf(stderr,
                "\nlmech exp: %s interrupted after %zu of %zu runs (%zu reused); invocation %lld "
                "recorded as interrupted in %s. Run the same command again to resume: finished "
                "runs are reused.\n",
                e->name, res.n_done, res.n_runs - res.n_reused, res.n_reused,
                (long long) res.exp_id, o.db);
        lm_exp_result_clear(&res);
        lm_exp_file_free(file);
        return 130;
    }
    const lm_exp_ctx *c = res.ctx;
    size_t fails = 0;
    for (size_t i = 0; i < c->n_claims; i++)
        fails += c->claims[i].verdict == LM_VERDICT_FAIL;
    if (o.json) {
        json_t *j = json_object(), *claims = json_array(), *runs = json_array();
        for (size_t i = 0; i < c->n_claims; i++)
            json_array_append_new(claims, claim_json(&c->claims[i]));
        for (size_t i = 0; i < c->n_runs; i++)
            json_array_append_new(runs, c->run[i] > 0 ? json_integer(c->run[i]) : json_null());
        json_object_set_new(j, "experiment", json_string(e->name));
        json_object_set_new(j, "invocation", json_integer(res.exp_id));
        json_object_set_new(j, "quick", json_boolean(o.quick));
        json_object_set_new(j, "claims", claims);
        json_object_set_new(j, "runs", runs);
        json_object_set_new(j, "reused", json_integer((json_int_t) res.n_reused));
        json_object_set_new(j, "failed_runs", json_integer((json_int_t) res.n_failed));
        json_object_set_new(j, "wall_s", json_real(res.wall_s));
        if (mpi) {
            json_t *m = json_object();
            json_object_set_new(m, "ranks", json_integer(res.mpi_ranks));
            json_object_set_new(m, "imported_rows", json_integer((json_int_t) res.mpi_rows));
            json_object_set_new(m, "import_s", json_real(res.mpi_import_s));
            json_object_set_new(m, "imported_bytes", json_integer((json_int_t) res.mpi_bytes));
            json_object_set_new(j, "mpi", m);
        }
        cli_print_json(j);
    } else {
        printf("%s%s: %zu runs (%zu reused, %zu failed) in %.1f s, invocation %lld in %s\n",
               e->name, o.quick ? " (quick)" : "", res.n_runs, res.n_reused, res.n_failed,
               res.wall_s, (long long) res.exp_id, o.db);
        if (mpi)
            printf("over %d MPI ranks: rank 0 imported %zu metric rows in %.3f s\n", res.mpi_ranks,
                   res.mpi_rows, res.mpi_import_s);
        printf("\n");
        print_claims(c, 0);
        print_claims(c, 1);
        printf("\nreasons and details: lmech report --db %s %s\n", o.db, e->name);
    }
    lm_exp_result_clear(&res);
    lm_exp_file_free(file);
    (void) fails; /* a failed claim is a finding, not a failed command */
    return CLI_OK;
}

/* --mpi: every rank starts here; rank 0 runs the command, the others train the runs it sends
 * until it releases them (lm_exp_mpi_serve). The flag is taken out before the options are
 * parsed, so the worker ranks never look at the experiment or the database. */
int cmd_exp(int argc, char **argv) {
    int mpi = 0;
    for (int i = 1; i < argc; i++)
        mpi |= strcmp(argv[i], "--mpi") == 0;
    if (!mpi)
        return exp_main(argc, argv, 0);
    char **rest = calloc((size_t) argc + 1, sizeof *rest);
    if (!rest) {
        fprintf(stderr, "lmech exp: out of memory\n");
        return CLI_FAIL;
    }
    int n = 0;
    for (int i = 0; i < argc; i++)
        if (i == 0 || strcmp(argv[i], "--mpi") != 0)
            rest[n++] = argv[i];
    lm_err err = {0};
    int rank = -1, size = 0, rc;
    if (lm_exp_mpi_begin(NULL, NULL, &rank, &size, &err) != LM_OK) {
        free(rest);
        return cli_fail("exp", &err);
    }
    if (rank == 0) {
        rc = exp_main(n, rest, 1);
    } else {
        rc =
            lm_exp_mpi_serve(cli_stop_on_signals(), &err) == LM_OK ? CLI_OK : cli_fail("exp", &err);
    }
    lm_exp_mpi_end();
    free(rest);
    return rc;
}
