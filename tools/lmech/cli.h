/* cli.h: shared helpers of the lmech command line (argument parsing, errors, JSON output). */
#ifndef LM_CLI_H
#define LM_CLI_H

#include "lmech/config.h"
#include "lmech/core.h"
#include "lmech/store.h"

#include <jansson.h>
#include <stdio.h>

#define CLI_DEFAULT_DB "./lmech.db"
#define CLI_MAX_SETS   64
#define CLI_MAX_ARGS   64

/* Exit codes: 0 success (a diverged run is a result, not an error), 1 the command failed,
 * 2 the command line was wrong. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_HELP = 3 /* --help printed: exit 0 */ };

/* Prints "lmech <cmd>: error: <msg>" to stderr and returns CLI_FAIL. */
int cli_fail(const char *cmd, const lm_err *err);
/* Prints a usage error and returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses the value s of option --name as an integer in [lo, hi] into *out (unchanged when s is
 * NULL: the option was not given). Returns 1, or prints cmd's usage error naming the option and
 * the value and returns 0. */
int cli_parse_size(const char *cmd, const char *usage, const char *name, const char *s, size_t lo,
                   size_t hi, size_t *out);

/* Parses a list of finite numbers, "3,2,1", or "START:STOP:COUNT" for COUNT >= 2 evenly spaced
 * values from START to STOP (both included), into out [cap]; *n = the count. Returns 1, or 0 for
 * anything else (empty items, trailing text, NaN or Inf, more than cap values). */
int cli_parse_list(const char *s, double *out, size_t cap, size_t *n);

/* Parses the value s of option --name as a finite number, with a lower bound, into *out
 * (unchanged when s is NULL). Returns 1, or prints cmd's usage error naming the option and the
 * value and returns 0. */
typedef enum cli_bound { CLI_ANY, CLI_NONNEG, CLI_POSITIVE } cli_bound;
int cli_parse_double(const char *cmd, const char *usage, const char *name, const char *s,
                     cli_bound bound, double *out);

/* A memory size: "2G", "512M", "64K" (binary multiples, optionally followed by "i" and "B"), or
 * a bare number of `unit` bytes (the kernel's --max-memory counts bytes, the hessian's MiB).
 * Returns 1 and sets *out, or 0 for anything else (negative, overflowing, trailing text). */
int cli_parse_bytes(const char *s, size_t unit, size_t *out);

/* Writes data (float64, row-major, shape[ndim]) as DIR/NAME.npy (created atomically; DIR is
 * created if missing) and prints "wrote DIR/NAME.npy [shape]" to stderr: how `lmech kernel --out`
 * hands kernels and predictions to numpy (np.load) without a JSON text of n^2 numbers. */
lm_status cli_save_npy(const char *dir, const char *name, const double *data, size_t ndim,
                       const size_t *shape, lm_err *err);

/* Reads path as a 2-d float64 matrix [*n, *p] (a float32 .npy is widened) into a new lm_malloc'ed
 * *X; anything else is refused naming the file, its dimensions and dtype. */
lm_status cli_load_matrix(const char *path, double **X, size_t *n, size_t *p, lm_err *err);

/* JSON to stdout, streamed (no json_t tree: a 10^4 x 10^4 kernel as json_t values would take
 * tens of GB): a number with 17 significant digits, null for NaN or Inf; a row-major
 * [rows, cols] matrix as an array of rows. */
void cli_print_num(double v);
void cli_print_matrix(const double *a, size_t rows, size_t cols);
/* A vector [n] as one JSON array. */
void cli_print_vector(const double *a, size_t n);

/* Installs the SIGINT and SIGTERM handlers of a long command (train, exp) and returns the flag
 * they set, for lm_train_opts.stop / lm_exp_opts.stop: the work in hand ends `interrupted`. */
volatile int *cli_stop_on_signals(void);

/* Prints ,"files":{"NAME":"DIR/NAME.npy",...} for the non-NULL names (JSON-escaped): what a
 * --json object says in place of the arrays that --out wrote. */
void cli_print_npy_files(const char *dir, const char *const *names, size_t n);

/* Options common to the commands that take a config. */
typedef struct cli_opts {
    const char *config;     /* positional CONFIG.json      */
    const char *positional; /* first positional of other commands (RUN) */
    const char *db;
    const char *init, *save, *format;
    const char *sets[CLI_MAX_SETS];
    size_t n_sets;
    int json, quiet;
    int mpi; /* --mpi (issue 17): train data-parallel over the mpirun ranks */
    /* lmech hessian: raw values, parsed and checked by the command */
    const char *top, *smallest, *method, *tol, *max_iter, *probes, *slq_probes, *slq_steps, *bins,
        *seed, *max_memory;
    int trace, density;
    /* lmech exp / report */
    const char *jobs, *out;
    /* lmech kernel: raw values, parsed and checked by the command */
    const char *inputs, *depth, *activation, *sw2, *sb2, *kind, *param, *width, *base_width;
    int bias, no_bias;
    /* lmech kernel --predict: raw values */
    const char *predict, *targets, *test, *test_targets, *noise, *times, *lr, *loss;
    int gd;
    /* lmech kernel --empirical CONFIG.json */
    const char *empirical;
    int per_layer;
    int quick, list;
    int experiments; /* lmech ls --experiments */
    /* lmech theory deep-linear: raw values (--depth and --time above) */
    const char *s, *u0;
    /* lmech theory eigenlearning: raw values (--noise above) */
    const char *eigenvalues, *coeffs, *kernel, *n, *ridge;
    /* lmech fit: raw values (--seed and --db above) */
    const char *law, *columns, *bootstrap, *compute, *experiment, *metric, *keys;
    /* lmech similarity: raw values (--metric and --seed above) */
    const char *k, *null_n;
    /* lmech features */
    const char *layer;
    /* lmech weights */
    const char *gof;
    const char *args[CLI_MAX_ARGS]; /* further positionals, when "ARGS" is allowed */
    size_t n_args;
} cli_opts;

/* Parses argv[1..] against the flags named in `allowed` (e.g. "db,set,init,save,json").
 * Returns CLI_OK, CLI_HELP after printing the usage for --help, or CLI_USAGE after printing
 * the usage error. Commands return `rc == CLI_HELP ? CLI_OK : rc` when it is not CLI_OK. */
int cli_parse(const char *cmd, const char *usage, int argc, char **argv, const char *allowed,
              cli_opts *o);

/* Opens an EXISTING run database for a read-only command (ls, show, export, report): a missing
 * file is an error naming it, where lm_store_open would create an empty database. */
lm_status cli_store_open_existing(const char *path, lm_store **s, lm_err *err);

/* Loads the checkpoint `path` (--init) into a new lm_malloc'ed theta sized for cfg's model. */
lm_status cli_load_init(const lm_config *cfg, const char *path, double **theta, lm_err *err);

/* Prints a JSON value on one line to stdout, followed by a newline; steals the reference. */
void cli_print_json(json_t *v);
/* A JSON number, or null for NaN / Inf. */
json_t *cli_json_num(double v);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_hessian(int argc, char **argv);
int cmd_exp(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_kernel(int argc, char **argv);
/* `lmech theory SUBCOMMAND` (cmd_theory.c) dispatches to one file per closed form: */
int cmd_theory(int argc, char **argv);
int cmd_theory_deep_linear(int argc, char **argv);   /* cmd_theory_deep_linear.c   */
int cmd_theory_eigenlearning(int argc, char **argv); /* cmd_theory_eigenlearning.c */
int cmd_fit(int argc, char **argv);                  /* cmd_fit.c: scaling-law fits */
int cmd_features(int argc, char **argv);             /* cmd_features.c: a layer's representations */
int cmd_similarity(int argc, char **argv); /* cmd_similarity.c: representation similarity */
int cmd_weights(int argc, char **argv);    /* cmd_weights.c: weight spectra of a checkpoint */
/* `lmech kernel --predict nngp|ntk ...` (cmd_kernel_predict.c): o as parsed by cmd_kernel, ks the
 * analytic kernel's network; returns the exit code. */
struct lm_kernel_spec;
int cmd_kernel_predict(const cli_opts *o, const struct lm_kernel_spec *ks);
extern const char *const cli_kernel_usage; /* `lmech kernel`'s usage text (cmd_kernel.c) */

#endif
