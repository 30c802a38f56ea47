/*
 * cmd_theory.c: `lmech theory SUBCOMMAND ...`, a theory's prediction without training anything.
 * Each subcommand lives in its own cmd_theory_<name>.c and is listed once in the table below.
 */
#include "cli.h"

#include <string.h>

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommand;

static const subcommand subcommands[] = {
    {"deep-linear", cmd_theory_deep_linear,
     "deep linear networks: each mode's u(t) and half-time (Saxe et al. 2014; science.md §1)"},
    {"eigenlearning", cmd_theory_eigenlearning,
     "kernel regression's learning curve from a spectrum (Simon et al.; science.md §8)"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: lmech theory SUBCOMMAND [ARGS]\n\nsubcommands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof *subcommands; i++)
        fprintf(out, "  %-14s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\nRun `lmech theory SUBCOMMAND --help` for its options.\n");
}

int cmd_theory(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof *subcommands; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "lmech theory: unknown subcommand \"%s\"\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
