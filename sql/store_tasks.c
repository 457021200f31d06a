/* sql/store_tasks.c - the tasks and task_logs tables. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/celery.h"
#include "common/json.h"
#include "common/log.h"

/* Appended to a CTE named t returning (id, state, name): tell LISTENers. */
#define NOTIFY_FROM_T                                                                              \
    " SELECT pg_notify('task_state', json_build_object('id', id, 'state', state, 'name', name)"   \
    "::text) FROM t"

#define FINAL_STATES "('SUCCESS', 'FAILURE', 'REVOKED')"

/* The same, for a progress mark (RECEIVED, STARTED): the commit does not wait
 * for the WAL flush. set_config(..., true) lasts for this transaction only. */
#define NOTIFY_FROM_T_ASYNC                                                                        \
    " SELECT pg_notify('task_state', json_build_object('id', id, 'state', state, 'name', name)"   \
    "::text), set_config('synchronous_commit', 'off', true) FROM t"

static const char *const states[] = {"PENDING", "RECEIVED", "STARTED", "RETRY",
                                     "SUCCESS", "FAILURE",  "REVOKED"};

bool
store_state_valid(const char *state)
{
    for (size_t i = 0; state != NULL && i < sizeof states / sizeof states[0]; i++)
        if (strcmp(state, states[i]) == 0)
            return true;
    return false;
}

bool
store_state_final(const char *state)
{
    return state != NULL && (strcmp(state, "SUCCESS") == 0 || strcmp(state, "FAILURE") == 0 ||
                             strcmp(state, "REVOKED") == 0);
}

int
store_task_create(PGconn *db, const char *id, const char *name, const char *queue,
                  const char *args_json, const char *kwargs_json, const char *origin,
                  char *err, size_t errlen)
{
    static const char sql[] =
        "WITH t AS (INSERT INTO tasks (id, name, queue, args, kwargs, origin)"
        " VALUES ($1::uuid, $2, $3, $4::jsonb, $5::jsonb, $6) RETURNING id, state, name)"
        NOTIFY_FROM_T;
    const char *params[] = {id, name, queue, args_json, kwargs_json, origin};
    int rc;
    PGresult *res = store_exec(db, "insert task", sql, 6, params, PGRES_TUPLES_OK, &rc);

    if (res == NULL)
        snprintf(err, errlen, rc == STORE_BAD_DATA ? "the database refused the task's values"
                                                   : "the database is unavailable");
    PQclear(res);
    return rc;
}

int
store_task_forget_pending(PGconn *db, const char *id)
{
    const char *params[] = {id};
    int rc;
    PGresult *res = store_exec(db, "forget pending task",
                               "DELETE FROM tasks WHERE id = $1::uuid AND state = 'PENDING'", 1,
                               params, PGRES_COMMAND_OK, &rc);

    PQclear(res);
    return rc;
}

/* Run a query returning one row with one JSON text column and parse it. */
static cJSON *
query_json(PGconn *db, const char *what, const char *sql, int n, const char *const *params,
           int *rc)
{
    PGresult *res = store_exec(db, what, sql, n, params, PGRES_TUPLES_OK, rc);
    cJSON *v = NULL;

    if (res == NULL)
        return NULL;
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        *rc = STORE_NOT_FOUND;
    } else {
        v = cJSON_Parse(PQgetvalue(res, 0, 0));
        if (v == NULL)
            *rc = STORE_ERR;
    }
    PQclear(res);
    return v;
}

cJSON *
store_task_get(PGconn *db, const char *id, int *rc)
{
    const char *params[] = {id};

    return query_json(db, "get task", "SELECT row_to_json(t)::text FROM tasks t WHERE id = $1::uuid",
                      1, params, rc);
}

cJSON *
store_task_list(PGconn *db, const char *state, const char *name, int limit, int *rc)
{
    static const char sql[] =
        "SELECT coalesce(json_agg(row_to_json(t) ORDER BY t.created_at DESC, t.id DESC), '[]')::text"
        " FROM (SELECT * FROM tasks WHERE ($1::text IS NULL OR state = $1)"
        " AND ($2::text IS NULL OR name = $2)"
        " ORDER BY created_at DESC, id DESC LIMIT $3::int) t";
    char lim[16];
    const char *params[] = {state, name, lim};

    snprintf(lim, sizeof lim, "%d", limit);
    return query_json(db, "list tasks", sql, 3, params, rc);
}

cJSON *
store_task_logs(PGconn *db, const char *id, int *rc)
{
    static const char sql[] =
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM tasks WHERE id = $1::uuid) THEN"
        " (SELECT coalesce(json_agg(json_build_object('id', id, 'logged_at', logged_at,"
        " 'level', level, 'message', message) ORDER BY id), '[]')::text"
        " FROM task_logs WHERE task_id = $1::uuid) END";
    const char *params[] = {id};

    return query_json(db, "task logs", sql, 1, params, rc);
}

int
store_task_receive(PGconn *db, const struct celery_msg *m, const char *queue, const char *worker)
{
    static const char sql[] =
        "WITH t AS (INSERT INTO tasks (id, name, queue, args, kwargs, state, retries, worker,"
        " origin, received_at)"
        " VALUES ($1::uuid, $2, $3, $4::jsonb, $5::jsonb, 'RECEIVED', $6::int, $7, $8, now())"
        " ON CONFLICT (id) DO UPDATE SET state = 'RECEIVED', retries = EXCLUDED.retries,"
        " worker = EXCLUDED.worker, received_at = now()"
        " WHERE tasks.state NOT IN " FINAL_STATES " RETURNING id, state, name)"
        NOTIFY_FROM_T_ASYNC;
    char *args = json_print(m->args), *kwargs = json_print(m->kwargs);
    char retries[16];
    const char *params[] = {m->id, m->task, queue, args ? args : "[]", kwargs ? kwargs : "{}",
                            retries, worker, m->origin};
    PGresult *res;
    int rc;

    snprintf(retries, sizeof retries, "%d", m->retries);
    res = store_exec(db, "receive task", sql, 8, params, PGRES_TUPLES_OK, &rc);
    if (res != NULL)
        rc = PQntuples(res) == 1 ? 1 : 0;
    PQclear(res);
    cJSON_free(args);
    cJSON_free(kwargs);
    return rc;
}

int
store_task_start(PGconn *db, const char *id)
{
    static const char sql[] = "WITH t AS (UPDATE tasks SET state = 'STARTED', started_at = now()"
                              " WHERE id = $1::uuid AND state NOT IN " FINAL_STATES
                              " RETURNING id, state, name)" NOTIFY_FROM_T_ASYNC;
    const char *params[] = {id};
    int rc;
    PGresult *res = store_exec(db, "start task", sql, 1, params, PGRES_TUPLES_OK, &rc);

    PQclear(res);
    return rc;
}

static char *
logs_json(const struct store_log_line *logs, int nlogs)
{
    cJSON *arr = cJSON_CreateArray();
    char *text;

    for (int i = 0; arr != NULL && i < nlogs; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "level", logs[i].level);
        cJSON_AddStringToObject(o, "message", logs[i].message);
        cJSON_AddStringToObject(o, "at", logs[i].at);
        cJSON_AddItemToArray(arr, o);
    }
    text = json_print(arr);
    cJSON_Delete(arr);
    return text;
}

int
store_task_finish(PGconn *db, const struct celery_msg *m, const char *queue, const char *worker,
                  const char *state, const char *result_json, const char *error,
                  const struct store_log_line *logs, int nlogs)
{
    /* One statement, so the state, the result and the log lines commit
     * together; an upsert, so a RECEIVED row lost in a crash does not matter.
     * The log lines' CTE reads from t so that their foreign key finds the row. */
    static const char sql[] =
        "WITH t AS (INSERT INTO tasks (id, name, queue, args, kwargs, state, result, error,"
        " retries, worker, origin, received_at, finished_at)"
        " VALUES ($1::uuid, $2, $3, $4::jsonb, $5::jsonb, $6, $7::jsonb, $8, $9::int, $10,"
        " $11, now(), now())"
        " ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, result = EXCLUDED.result,"
        " error = EXCLUDED.error, worker = EXCLUDED.worker, finished_at = now()"
        " RETURNING id, state, name),"
        " l AS (INSERT INTO task_logs (task_id, level, message, logged_at)"
        " SELECT t.id, x.level, x.message, x.at FROM t, jsonb_to_recordset($12::jsonb)"
        " AS x(level text, message text, at timestamptz))" NOTIFY_FROM_T;
    char *logs_text = logs_json(logs, nlogs);
    char *args = json_print(m->args), *kwargs = json_print(m->kwargs);
    char retries[16];
    const char *params[] = {m->id,
                            m->task,
                            queue,
                            args ? args : "[]",
                            kwargs ? kwargs : "{}",
                            state,
                            result_json,
                            error,
                            retries,
                            worker,
                            m->origin,
                            logs_text ? logs_text : "[]"};
    int rc;
    PGresult *res;

    snprintf(retries, sizeof retries, "%d", m->retries);
    res = store_exec(db, "finish task", sql, 12, params, PGRES_TUPLES_OK, &rc);
    PQclear(res);
    cJSON_free(logs_text);
    cJSON_free(args);
    cJSON_free(kwargs);
    return rc;
}

int
store_task_fail_unrunnable(PGconn *db, const char *id, const char *name, const char *queue,
                           const char *error, const char *worker)
{
    static const char sql[] =
        "WITH t AS (INSERT INTO tasks (id, name, queue, state, error, worker, received_at,"
        " finished_at) VALUES ($1::uuid, $2, $3, 'FAILURE', $4, $5, now(), now())"
        " ON CONFLICT (id) DO UPDATE SET state = 'FAILURE', error = EXCLUDED.error,"
        " worker = EXCLUDED.worker, finished_at = now()"
        " WHERE tasks.state NOT IN " FINAL_STATES " RETURNING id, state, name)" NOTIFY_FROM_T;
    const char *params[] = {id, name != NULL ? name : "(unknown)", queue, error, worker};
    int rc;
    PGresult *res = store_exec(db, "fail task", sql, 5, params, PGRES_TUPLES_OK, &rc);

    PQclear(res);
    return rc;
}
