/* sql/store_tasks.c - the tasks and task_logs tables. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"

/* Appended to a CTE named t returning (id, state, name): one notification for
 * the statement, in the shape every task_state payload has. */
#define NOTIFY_FROM_T                                                                              \
    " SELECT pg_notify('task_state', json_build_object('tasks', json_agg(json_build_object("      \
    "'id', id, 'state', state, 'name', name)))::text) FROM t HAVING count(*) > 0"

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

