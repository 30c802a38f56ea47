/*
 * fuzz_cli.c: the command-line argument parser (tools/lmech/cli.c). The input is split at NUL
 * bytes into argv strings and parsed against every flag set the commands use. Usage errors print
 * to stderr (run libFuzzer with -close_fd_mask=3 to silence them); nothing may crash or read out of
 * bounds.
 */
#include "cli.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *) "cmd";
    for (size_t i = 0; i <= size && argc < 63;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    static const char *const sets[] = {"CONFIG,db,set,init,save,json,quiet", "CONFIG,set,init,json",
                                       "db", "RUN,db", "RUN,db,format"};
    for (size_t s = 0; s < sizeof sets / sizeof *sets; s++) {
        cli_opts o;
        cli_parse("fuzz", "usage", argc, argv, sets[s], &o);
    }
    free(buf);
    return 0;
}
