/* cmd_weights.c: PLACEHOLDER while issue 14 is built (a helper replaces this file). */
#include "cli.h"

int cmd_weights(int argc, char **argv) {
    (void) argc;
    fprintf(stderr, "lmech: %s is not built yet\n", argv[0]);
    return CLI_FAIL;
}
