/* cmd_report.c: `lmech report [--db FILE] [--out DIR] [EXPERIMENT|RUN]...`: writes DIR/index.html
 * and renders every figure with gnuplot.
 *
 * A figure is rendered when gnuplot exits 0 AND wrote both NAME.png and NAME.svg whole (the PNG
 * ends with its IEND chunk, the SVG with </svg>: gnuplot exits 0 on a full disk, leaving a
 * truncated image, which is then removed; the old ones are removed first, so a stale image never
 * passes for a new one). The page is written
 * under a temporary name and becomes DIR/index.html only once every figure rendered: when one
 * fails, lmech report names the script, shows gnuplot's output, exits 1 and leaves no
 * index.html (the scripts and data stay in DIR/figures to debug by hand). gnuplot runs by
 * fork/exec in DIR/figures (no shell, so no quoting of DIR). */
#include "cli.h"
#include "lmech/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *USAGE = "lmech report [--db FILE] [--out DIR] [EXPERIMENT|RUN]...";

/* Runs `gnuplot SCRIPT` in dir, its stdout and stderr (the first n - 1 bytes) into out; returns
 * its exit status (127: gnuplot could not be started, 126: dir could not be entered, -1: it did
 * not exit normally). */
static int render(const char *dir, const char *script, char *out, size_t n) {
    out[0] = '\0';
    int fd[2];
    if (pipe(fd) != 0) {
        snprintf(out, n, "cannot create a pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(NULL);
    const pid_t pid = fork();
    if (pid < 0) {
        snprintf(out, n, "cannot fork: %s\n", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], STDOUT_FILENO);
        dup2(fd[1], STDERR_FILENO);
        close(fd[1]);
        if (chdir(dir) != 0) {
            fprintf(stderr, "cannot enter %s: %s\n", dir, strerror(errno));
            _exit(126);
        }
        execlp("gnuplot", "gnuplot", script, (char *) NULL);
        fprintf(stderr, "cannot run gnuplot: %s\n", strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    char buf[4096];
    ssize_t k;
    while ((k = read(fd[0], buf, sizeof buf)) != 0) {
        if (k < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (ssize_t i = 0; i < k && len + 1 < n; i++)
            out[len++] = buf[i];
    }
    out[len] = '\0';
    close(fd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The last up to n bytes of the regular file path into buf; their count, or -1. */
static long file_tail(const char *path, unsigned char *buf, long n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    long got = -1;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        const long k = st.st_size < n ? (long) st.st_size : n;
        if (fseek(f, -k, SEEK_END) == 0 && fread(buf, 1, (size_t) k, f) == (size_t) k)
            got = k;
    }
    fclose(f);
    return got;
}

/* 1 when path is a whole PNG: it ends with the IEND chunk (length 0, "IEND", its CRC). gnuplot
 * exits 0 when its output cannot be written (a full disk leaves a truncated image), so a figure
 * is only accepted complete. */
static int complete_png(const char *path) {
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    unsigned char t[12];
    return file_tail(path, t, 12) == 12 && memcmp(t, iend, 12) == 0;
}

/* 1 when path is a whole SVG: "</svg>" closes it, followed by white space only. */
static int complete_svg(const char *path) {
    unsigned char t[64];
    long k = file_tail(path, t, (long) sizeof t);
    while (k > 0 && (t[k - 1] == '\n' || t[k - 1] == '\r' || t[k - 1] == ' '))
        k--;
    return k >= 6 && memcmp(t + k - 6, "</svg>", 6) == 0;
}

/* Renders figure `script` (NAME.gp) in dir; 0, or after printing why to stderr gnuplot's exit
 * status (127: no gnuplot), or -1. */
static int render_figure(const char *dir, const char *script) {
    char base[256], png[4096 + 300], svg[4096 + 300], msg[2048];
    const size_t len = strlen(script);
    snprintf(base, sizeof base, "%.*s", (int) (len > 3 ? len - 3 : len), script);
    snprintf(png, sizeof png, "%s/%s.png", dir, base);
    snprintf(svg, sizeof svg, "%s/%s.svg", dir, base);
    unlink(png);
    unlink(svg);
    const int status = render(dir, script, msg, sizeof msg);
    const size_t ml = strlen(msg);
    const char *nl = ml && msg[ml - 1] != '\n' ? "\n" : "";
    if (status != 0) {
        fprintf(stderr, "lmech report: error: gnuplot %s/%s %s %d%s\n%s%s", dir, script,
                status < 0 ? "failed" : "exited with", status,
                status == 127 ? " (is gnuplot installed?)" : "", msg, nl);
        return status;
    }
    if (!complete_png(png) || !complete_svg(svg)) {
        /* a truncated image (disk full) is removed: no half-written figure stays behind */
        unlink(png);
        unlink(svg);
        fprintf(stderr,
                "lmech report: error: gnuplot %s/%s exited 0 but did not write %s.png and %s.svg "
                "whole (missing or truncated: is the disk full?)\n%s%s",
                dir, script, base, base, msg, nl);
        return -1;
    }
    return 0;
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
    /* the page waits under another name until its figures exist */
    char dir[4096], page[4096], partial[4096 + 32];
    snprintf(dir, sizeof dir, "%s/figures", out);
    snprintf(page, sizeof page, "%s/index.html", out);
    snprintf(partial, sizeof partial, "%s/index.html.partial", out);
    if (rename(page, partial) != 0) {
        fprintf(stderr, "lmech report: error: %s: cannot rename to %s: %s\n", page, partial,
                strerror(errno));
        free(figs);
        return CLI_FAIL;
    }
    size_t failed = 0;
    for (size_t i = 0; i < figs->n; i++) {
        const int r = render_figure(dir, figs->name[i]);
        failed += r != 0;
        if (r == 127)
            break; /* no gnuplot at all: one message is enough */
    }
    if (failed) {
        unlink(partial);
        fprintf(stderr,
                "lmech report: error: %zu of %zu figures failed to render; no %s/index.html was "
                "written (the scripts and data are in %s)\n",
                failed, figs->n, out, dir);
        free(figs);
        return CLI_FAIL;
    }
    if (rename(partial, page) != 0) {
        fprintf(stderr, "lmech report: error: %s: cannot rename to %s: %s\n", partial, page,
                strerror(errno));
        free(figs);
        return CLI_FAIL;
    }
    printf("wrote %s/index.html (%zu figures); open it in a browser: file://%s%s/index.html\n", out,
           figs->n, out[0] == '/' ? "" : "$PWD/", out);
    free(figs);
    return CLI_OK;
}
