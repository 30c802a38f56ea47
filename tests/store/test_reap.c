/*
 * test_reap.c: experiments of a dead process are reaped like runs (docs/reliability.md). An
 * experiment row begun by a child process that then exits without ending it (as `lmech exp`
 * killed, or one whose end could not be recorded on a full disk) is 'interrupted' after the next
 * open; one of a live process, and one whose pid is unknown, stay 'running'.
 */
#include "lm_test.h"

#include "lmech/store.h"

#include <sqlite3.h>
#include <sys/wait.h>

static int64_t exp_status_is(lm_store *s, int64_t id, const char *status) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT status = '%s' FROM experiments WHERE id = %lld", status,
             (long long) id);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(lm_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "no experiment %lld", (long long) id);
    const int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

Test(reap, experiments_of_dead_processes_are_interrupted) {
    char path[512];
    lm_tmp_path(path, sizeof path, "reap.db");
    lm_err err = {0};
    lm_store *s = NULL;
    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    int64_t mine = 0, unknown = 0;
    cr_assert_eq(lm_store_exp_begin(s, "live", 1, &mine, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_store_exp_begin(s, "no pid", 1, &unknown, &err), LM_OK, "%s", err.msg);
    char sql[96];
    snprintf(sql, sizeof sql, "UPDATE experiments SET pid = NULL WHERE id = %lld",
             (long long) unknown);
    cr_assert_eq(sqlite3_exec(lm_store_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
    lm_store_close(s);

    /* a child begins an experiment and exits without ending it */
    const pid_t kid = fork();
    cr_assert_geq(kid, 0);
    if (kid == 0) {
        lm_store *c = NULL;
        int64_t id = 0;
        if (lm_store_open(path, &c, NULL) != LM_OK || lm_store_exp_begin(c, "dead", 1, &id, NULL))
            _exit(1);
        lm_store_close(c);
        _exit(0);
    }
    int status = 0;
    cr_assert_eq(waitpid(kid, &status, 0), kid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    cr_assert_eq(lm_store_open(path, &s, &err), LM_OK, "%s", err.msg);
    const int64_t dead = mine + 2;
    cr_assert(exp_status_is(s, dead, "interrupted"), "the dead process's experiment");
    cr_assert(exp_status_is(s, mine, "running"), "this live process's experiment");
    cr_assert(exp_status_is(s, unknown, "running"), "no pid: never reaped on a guess");
    cr_assert_eq(lm_store_exp_end(s, mine, "finished", 0, NULL, &err), LM_OK, "%s", err.msg);
    lm_store_close(s);
    unlink(path);
    LM_CHECK_LEAKS();
}
