/*
 * main.c: the lmech command line. Each subcommand lives in its own cmd_*.c file and is listed
 * once in the table below; the CLI only parses arguments and calls the library.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"train", cmd_train, "train a network from a JSON config and record the run"},
    {"eval", cmd_eval, "loss and gradient norm of a checkpoint on the configured training set"},
    {"ls", cmd_ls, "list the runs in a database"},
    {"show", cmd_show, "show one run: config, status, final metrics"},
    {"export", cmd_export, "export one run's metrics as csv or json"},
    {"hessian", cmd_hessian, "Hessian eigenvalues, trace and spectral density at a checkpoint"},
    {"exp", cmd_exp, "run a falsifiable experiment: runs, claims, verdicts (--list)"},
    {"kernel", cmd_kernel, "analytic NNGP and NTK of an MLP on the rows of an .npy file"},
    {"theory", cmd_theory, "a theory's prediction: deep-linear modes, eigenlearning curves"},
    {"fit", cmd_fit, "fit a scaling law (chinchilla, power) to a CSV or a sweep, with intervals"},
    {"features", cmd_features, "a layer's representations of given inputs, as .npy"},
    {"similarity", cmd_similarity,
     "similarity of two representations (CKA, mutual k-NN, CCA), with a permutation null"},
    {"weights", cmd_weights, "weight spectra of a checkpoint: ESD, Marchenko-Pastur, power law"},
    {"report", cmd_report, "write an HTML report of experiments and runs, with figures"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: lmech COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-10s %s\n\nRun `lmech COMMAND --help` for a command's options.\n", "version",
            "print the version, BLAS and core count");
}

int main(int argc, char **argv) {
    lm_init();
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "version") == 0 || strcmp(name, "--version") == 0) {
        printf("lmech %s\nBLAS: %s\ncores: %d\n", lm_version(), lm_blas_info(), lm_cores());
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "lmech: unknown command \"%s\"\n", name);
    usage(stderr);
    return CLI_USAGE;
}
