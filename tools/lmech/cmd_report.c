/* cmd_report.c: `lmech report [--db FILE] [--out DIR] [EXPERIMENT|RUN]...`: writes DIR/index.html
 * and renders every figure with gnuplot, checking its exit status. */
#include "cli.h"
#include "lmech/report.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const char *USAGE = "lmech report [--db FILE] [--out DIR] [EXPERIMENT|RUN]...";

/* Runs `gnuplot NAME.gp` in dir; returns its exit status (127 when gnuplot is missing). */
static int render(const char *dir, const char *script, char *errbuf, size_t n) {
    char cmd[4096 + 256];
    snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot '%s' 2>&1", dir, script);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(errbuf, n, "cannot start gnuplot");
        return -1;
    }
    size_t len = 0;
    int ch;
    while ((ch = fgetc(p)) != EOF)
        if (len + 1 < n)
            errbuf[len++] = (char) ch;
    errbuf[len] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int cmd_report(int argc, char **argv) {
    cli_opts o;
    int rc = cli_parse("report", USAGE, argc, argv, "ARGS,db,out", &o);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    const char *out = o.out ? o.out : "report";
    lm_err err = {0};
    lm_store *s;
    if (cli_store_open_existing(o.db, &s, &err) != LM_OK)
        return cli_fail("report", &err);
    lm_report_figs *figs = malloc(sizeof *figs);
    char *artifacts = malloc(strlen(o.db) + 16);
    if (!figs || !artifacts) {
        free(figs);
        free(artifacts);
        lm_store_close(s);
        fprintf(stderr, "lmech report: out of memory\n");
        return CLI_FAIL;
    }
    sprintf(artifacts, "%s.artifacts", o.db);
    lm_status st = lm_report_write(s, artifacts, out, o.n_args, o.args, figs, &err);
    lm_store_close(s);
    free(artifacts);
    if (st != LM_OK) {
        free(figs);
        return cli_fail("report", &err);
    }
    char dir[4096], msg[2048];
    snprintf(dir, sizeof dir, "%s/figures", out);
    for (size_t i = 0; i < figs->n; i++) {
        int status = render(dir, figs->name[i], msg, sizeof msg);
        if (status != 0) {
            fprintf(stderr, "lmech report: error: gnuplot %s/%s exited with %d%s\n%s", dir,
                    figs->name[i], status, status == 127 ? " (is gnuplot installed?)" : "", msg);
            free(figs);
            return CLI_FAIL;
        }
    }
    printf("wrote %s/index.html (%zu figures); open it in a browser: file://%s%s/index.html\n", out,
           figs->n, out[0] == '/' ? "" : "$PWD/", out);
    free(figs);
    return CLI_OK;
}
