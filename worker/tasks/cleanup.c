/* worker/tasks/cleanup.c - celeriac.cleanup: the retention of finished work.
 * The scheduler runs it daily (periodic_tasks row 'celeriac.cleanup'). Its
 * deletes commit with its own result, like any task's writes. */
#include "worker/tasks/tasks.h"

#include <stdio.h>
#include <stdlib.h>

#define RETENTION_MAX_DAYS 36500

/* Run one DELETE with the retention as $1 (days) and $2 (own id); the rows
 * deleted, or -1 with the task failed. */
static long
delete_old(struct task_ctx *t, const char *sql, const char *days)
{
    const char *params[] = {days, t->msg->id};
    PGresult *res = task_sql(t, sql, 2, params);
    long n;

    if (res == NULL)
        return -1;
    n = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return n;
}

int
task_celeriac_cleanup(struct task_ctx *t)
{
    static const char *const params[] = {"retention_days"};
    const cJSON *v;
    double days = 7;
    char text[32];
    long tasks, revocations;

    if (task_bind_args(t, params, 1) != TASK_OK)
        return TASK_FAILED;
    v = task_arg(t, 0, "retention_days");
    if (v != NULL && task_arg_number(t, 0, "retention_days", &days) != TASK_OK)
        return TASK_FAILED;
    if (!(days >= 0 && days <= RETENTION_MAX_DAYS))
        return task_fail(t, "ValueError", "retention_days must be between 0 and %d",
                         RETENTION_MAX_DAYS);
    snprintf(text, sizeof text, "%.6f", days);
    /* Finished tasks only; their log lines go with them (ON DELETE CASCADE).
     * Outputs that reference a task (articles, files) follow its row when
     * their tables exist: each issue adds its own statement here. */
    tasks = delete_old(t,
                       "DELETE FROM tasks WHERE state IN ('SUCCESS', 'FAILURE', 'REVOKED')"
                       " AND finished_at < now() - $1::float8 * interval '1 day'"
                       " AND id <> $2::uuid",
                       text);
    if (tasks < 0)
        return TASK_FAILED;
    revocations = delete_old(t,
                             "DELETE FROM revocations"
                             " WHERE created_at < now() - $1::float8 * interval '1 day'"
                             " AND task_id <> $2::uuid",
                             text);
    if (revocations < 0)
        return TASK_FAILED;
    task_log(t, "deleted %ld finished tasks and %ld revocations older than %g days", tasks,
             revocations, days);
    t->result = cJSON_CreateObject();
    cJSON_AddNumberToObject(t->result, "tasks", (double)tasks);
    cJSON_AddNumberToObject(t->result, "revocations", (double)revocations);
    cJSON_AddNumberToObject(t->result, "retention_days", days);
    return TASK_OK;
}
