/* sql/store_tasks.c - the tasks and task_logs tables. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"

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

/* The tasks as one JSON array for json_to_recordset(). */
static void
tasks_json(struct buf *b, const struct store_task *t, int n)
{
    buf_put(b, "[");
    for (int i = 0; i < n; i++) {
        buf_put(b, i > 0 ? "," : "");
        store_task_json_open(b, &t[i]);
        buf_put(b, "}");
    }
    buf_put(b, "]");
}

int
store_tasks_create(PGconn *db, const struct store_task *t, int n, long long *group)
{
    /* One statement, one commit, one notification for the whole group, and
     * the group's unconfirmed_publishes row (deleted once RabbitMQ confirmed
     * its messages). */
    static const char sql[] =
        "WITH t AS (INSERT INTO tasks (id, name, queue, args, kwargs, origin, eta, expires)"
        " SELECT id, name, queue, args, kwargs, origin, eta, expires"
        " FROM json_to_recordset($1::json) AS x(id uuid, name text, queue text, args jsonb,"
        " kwargs jsonb, origin text, eta timestamptz, expires timestamptz)"
        " RETURNING id, state, name),"
        " g AS (INSERT INTO unconfirmed_publishes (task_ids) SELECT array_agg(id) FROM t"
        " RETURNING id)"
        " SELECT g.id, " STORE_NOTIFY_T " FROM g";
    struct buf doc = {0};
    const char *params[1];
    PGresult *res;
    int rc;

    tasks_json(&doc, t, n);
    if (doc.oom) {
        buf_fini(&doc);
        return STORE_ERR;
    }
    params[0] = doc.data;
    res = store_exec(db, "insert tasks", sql, 1, params, PGRES_TUPLES_OK, &rc);
    if (res != NULL && PQntuples(res) == 1)
        *group = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    buf_fini(&doc);
    return rc;
}

int
store_publishes_settle(PGconn *db, const long long *groups, int ngroups,
                       const char *const *unknown, int nunknown)
{
    /* A group whose every message was settled (confirmed, or refused and
     * withdrawn) goes; one with unknown outcomes keeps those ids only. A
     * progress mark: a lost one makes the sweeper publish a confirmed task
     * again, which ids make harmless. */
    static const char sql[] =
        "WITH d AS (DELETE FROM unconfirmed_publishes WHERE id = ANY($1::bigint[])"
        " AND NOT task_ids && $2::uuid[]),"
        " u AS (UPDATE unconfirmed_publishes SET task_ids = ARRAY(SELECT x FROM unnest(task_ids) x"
        " WHERE x = ANY($2::uuid[])) WHERE id = ANY($1::bigint[]) AND task_ids && $2::uuid[])"
        " SELECT set_config('synchronous_commit', 'off', true)";
    struct buf ids = {0};
    char *unk = store_uuid_array(unknown, nunknown);
    const char *params[2];
    int rc = STORE_ERR;

    buf_put(&ids, "{");
    for (int i = 0; i < ngroups; i++)
        buf_printf(&ids, "%s%lld", i > 0 ? "," : "", groups[i]);
    buf_put(&ids, "}");
    if (!ids.oom && unk != NULL) {
        params[0] = ids.data;
        params[1] = unk;
        PQclear(store_exec(db, "settle publishes", sql, 2, params, PGRES_TUPLES_OK, &rc));
    }
    buf_fini(&ids);
    free(unk);
    return rc;
}

int
store_tasks_forget_pending(PGconn *db, const char *const *ids, int n)
{
    static const char sql[] =
        "DELETE FROM tasks WHERE id = ANY($1::uuid[]) AND state = 'PENDING'";
    char *arr = store_uuid_array(ids, n);
    const char *params[1] = {arr};
    int rc = STORE_ERR;

    if (arr != NULL)
        PQclear(store_exec(db, "forget pending tasks", sql, 1, params, PGRES_COMMAND_OK, &rc));
    free(arr);
    return rc;
}

cJSON *
store_unconfirmed_claim(PGconn *db, double age_s, int limit, int *rc)
{
    /* SKIP LOCKED: several sweepers (one per worker master) share the
     * groups, none publishes a group another is publishing. Locked until the
     * caller's commit, after it deleted them. Tasks no longer PENDING (a
     * worker ran them: their message did arrive) are not published again. */
    static const char sql[] =
        "WITH g AS (SELECT id, task_ids FROM unconfirmed_publishes"
        " WHERE created_at < now() - make_interval(secs => $1::float8)"
        " ORDER BY created_at LIMIT $2::int FOR UPDATE SKIP LOCKED)"
        " SELECT json_build_object('groups', (SELECT coalesce(json_agg(id), '[]') FROM g),"
        " 'tasks', (SELECT coalesce(json_agg(json_build_object('id', t.id, 'name', t.name,"
        " 'queue', t.queue, 'args', t.args, 'kwargs', t.kwargs, 'origin', t.origin,"
        " 'eta', t.eta, 'expires', t.expires)), '[]')"
        " FROM tasks t WHERE t.state = 'PENDING' AND t.id IN (SELECT unnest(task_ids) FROM g)))::text";
    char age[32], lim[16];
    const char *params[] = {age, lim};

    snprintf(age, sizeof age, "%.3f", age_s);
    snprintf(lim, sizeof lim, "%d", limit);
    return store_query_json(db, "claim unconfirmed publishes", sql, 2, params, rc);
}

int
store_unconfirmed_delete(PGconn *db, const cJSON *groups)
{
    char *text = json_print(groups);
    const char *params[1] = {text};
    int rc = STORE_ERR;

    if (text != NULL)
        PQclear(store_exec(db, "delete unconfirmed publishes",
                           "DELETE FROM unconfirmed_publishes WHERE id IN"
                           " (SELECT json_array_elements_text($1::json)::bigint)",
                           1, params, PGRES_COMMAND_OK, &rc));
    cJSON_free(text);
    return rc;
}

cJSON *
store_task_get(PGconn *db, const char *id, int *rc)
{
    const char *params[] = {id};

    return store_query_json(db, "get task", "SELECT row_to_json(t)::text FROM tasks t WHERE id = $1::uuid",
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
    return store_query_json(db, "list tasks", sql, 3, params, rc);
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

    return store_query_json(db, "task logs", sql, 1, params, rc);
}

