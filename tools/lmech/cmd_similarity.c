/* cmd_similarity.c: PLACEHOLDER while issue 14 is built (a helper replaces this file). */
#include "cli.h"

int cmd_similarity(int argc, char **argv) {
    (void) argc;
    fprintf(stderr, "lmech: %s is not built yet\n", argv[0]);
    return CLI_FAIL;
}
