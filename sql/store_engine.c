/* sql/store_engine.c - the tasks and task_logs writes of a worker child's
 * engine: which tasks are final already, the STARTED mark and the lease of
 * a long task, the claim of a task that writes effects, and the final
 * states of a whole batch in one statement with one notification. Every
 * statement is unnamed and parameterized and leaves no session state, so it
 * runs behind PgBouncer in transaction mode. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/uuid.h"

#define FINAL_STATES "('SUCCESS', 'FAILURE', 'REVOKED')"

int
store_tasks_find(PGconn *db, const char *const *ids, int n, bool final_only, bool *found)
{
    static const char sql[] = "SELECT id::text FROM tasks WHERE id = ANY($1::uuid[])"
                              " AND (NOT $2::bool OR state IN " FINAL_STATES ")";
    const char *params[2];
    char *arr;
    PGresult *res;
    int rc;

    for (int i = 0; i < n; i++)
        found[i] = false;
    if (n == 0)
        return STORE_OK;
    if ((arr = store_uuid_array(ids, n)) == NULL)
        return STORE_ERR;
    params[0] = arr;
    params[1] = final_only ? "true" : "false";
    res = store_exec_quiet(db, sql, 2, params, PGRES_TUPLES_OK, &rc);
    free(arr);
    if (res == NULL)
        return rc;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);
        for (int i = 0; i < n; i++)
            if (strcasecmp(ids[i], id) == 0)
                found[i] = true;
    }
    PQclear(res);
    return STORE_OK;
}

/* Insert t as STARTED by worker, or move its row to STARTED unless it is
 * final; returns the row (id, state, name) when it did. src follows the
 * SELECT of the values (a FROM and WHERE that may leave them out). */
#define START_TASK(src)                                                                            \
    "INSERT INTO tasks AS k (id, name, queue, args, kwargs, state, retries, worker, origin,"       \
    " received_at, started_at)"                                                                    \
    " SELECT $1::uuid, $2, $3, $4::jsonb, $5::jsonb, 'STARTED', $6::int, $7, $8, now(), now()"    \
    src " ON CONFLICT (id) DO UPDATE SET state = 'STARTED', retries = EXCLUDED.retries,"          \
    " worker = EXCLUDED.worker, received_at = coalesce(k.received_at, now()), started_at = now()" \
    " WHERE k.state NOT IN " FINAL_STATES " RETURNING id, state, name"

/* Run sql with t and worker as $1..$8 (START_TASK's parameters), then
 * extra[0..nextra) as $9... */
static PGresult *
start_task(PGconn *db, const char *sql, const struct store_task *t, const char *worker,
           const char *const *extra, int nextra, int *rc)
{
    char retries[16];
    const char *params[10] = {t->id,
                              t->name,
                              t->queue,
                              t->args_json ? t->args_json : "[]",
                              t->kwargs_json ? t->kwargs_json : "{}",
                              retries,
                              worker,
                              t->origin};

    snprintf(retries, sizeof retries, "%d", t->retries);
    for (int i = 0; i < nextra && 8 + i < 10; i++)
        params[8 + i] = extra[i];
    return store_exec_quiet(db, sql, 8 + nextra, params, PGRES_TUPLES_OK, rc);
}

int
store_task_started(PGconn *db, const struct store_task *t, const char *worker, int pid)
{
    /* The run's lease first, the STARTED mark only when it was free. The
     * lease is a row, not a session advisory lock: behind a transaction
     * pooler a session lock stays on whichever server connection took it
     * (and another client's unlock runs elsewhere). A second upsert of the
     * same id waits for the first one's commit, then finds the lease
     * taken. A lease that ran out (its run's worker died) or is this
     * child's own is taken over. set_config(..., true) lasts for this
     * statement's transaction only. */
    static const char sql[] =
        "WITH lk AS (INSERT INTO task_leases AS l (task_id, worker, pid, expires_at)"
        " VALUES ($1::uuid, $7, $9::int, now() + make_interval(secs => $10::int))"
        " ON CONFLICT (task_id) DO UPDATE SET worker = EXCLUDED.worker, pid = EXCLUDED.pid,"
        " taken_at = now(), expires_at = EXCLUDED.expires_at"
        " WHERE l.expires_at < now() OR (l.worker = EXCLUDED.worker AND l.pid = EXCLUDED.pid)"
        " RETURNING 1),"
        " g AS MATERIALIZED (SELECT EXISTS (SELECT 1 FROM lk) AS got),"
        " t AS (" START_TASK(" FROM g WHERE got") ")"
        " SELECT g.got OR EXISTS (SELECT 1 FROM tasks WHERE id = $1::uuid AND state IN "
        FINAL_STATES "), (SELECT count(*) FROM t), (SELECT pg_notify('task_state',"
        " json_build_object('tasks', json_build_array(json_build_object('id', id, 'state', state,"
        " 'name', name)))::text) FROM t), set_config('synchronous_commit', 'off', true) FROM g";
    char pidtext[16], ttl[16];
    const char *extra[] = {pidtext, ttl};
    int rc;
    PGresult *res;

    snprintf(pidtext, sizeof pidtext, "%d", pid);
    snprintf(ttl, sizeof ttl, "%d", STORE_LEASE_S);
    res = start_task(db, sql, t, worker, extra, 2, &rc);
    if (res == NULL)
        return rc;
    if (PQntuples(res) != 1)
        rc = STORE_ERR;
    else if (PQgetvalue(res, 0, 0)[0] != 't')
        rc = STORE_BUSY;
    else
        rc = strcmp(PQgetvalue(res, 0, 1), "1") == 0 ? 1 : 0;
    PQclear(res);
    return rc;
}

/* [{"level", "message", "at"}...] */
static void
logs_json(struct buf *b, const struct store_log_line *logs, int n)
{
    buf_put(b, "[");
    for (int l = 0; l < n; l++) {
        buf_put(b, l > 0 ? ",{\"level\":" : "{\"level\":");
        buf_json_str(b, logs[l].level);
        store_json_field(b, "message", logs[l].message);
        store_json_field(b, "at", logs[l].at);
        buf_put(b, "}");
    }
    buf_put(b, "]");
}

int
store_task_logs_add(PGconn *db, const char *id, const struct store_log_line *logs, int n)
{
    static const char sql[] =
        "WITH l AS (INSERT INTO task_logs (task_id, level, message, logged_at)"
        " SELECT $1::uuid, g.level, g.message, g.at"
        " FROM json_to_recordset($2::json) AS g(level text, message text, at timestamptz))"
        " SELECT pg_notify('task_log', $1::text), set_config('synchronous_commit', 'off', true)";
    struct buf b = {0};
    const char *params[2];
    PGresult *res;
    int rc;

    logs_json(&b, logs, n);
    if (b.oom) {
        buf_fini(&b);
        return STORE_ERR;
    }
    params[0] = id;
    params[1] = b.data;
    res = store_exec_quiet(db, sql, 2, params, PGRES_TUPLES_OK, &rc);
    PQclear(res);
    buf_fini(&b);
    return rc;
}

int
store_task_progress(PGconn *db, const char *id, int percent)
{
    static const char sql[] =
        "WITH t AS (UPDATE tasks SET progress = $2::smallint WHERE id = $1::uuid"
        " AND state = 'STARTED' RETURNING id, state, name, progress)"
        " SELECT pg_notify('task_state', json_build_object('tasks', json_build_array("
        "json_build_object('id', id, 'state', state, 'name', name, 'progress', progress)))::text),"
        " set_config('synchronous_commit', 'off', true) FROM t";
    char pct[16];
    const char *params[] = {id, pct};
    int rc;
    PGresult *res;

    snprintf(pct, sizeof pct, "%d", percent);
    res = store_exec_quiet(db, sql, 2, params, PGRES_TUPLES_OK, &rc);
    PQclear(res);
    return rc;
}

int
store_task_claim(PGconn *db, const struct store_task *t, const char *worker)
{
    int rc;
    PGresult *res = start_task(db, START_TASK(""), t, worker, NULL, 0, &rc);

    if (res == NULL)
        return rc;
    rc = PQntuples(res) == 1 ? 1 : 0;
    PQclear(res);
    return rc;
}

int
store_task_unlock(PGconn *db, const char *id, const char *worker, int pid)
{
    /* After the run's final state committed: losing this in a crash only
     * leaves a lease that runs out. */
    static const char sql[] =
        "WITH d AS (DELETE FROM task_leases WHERE task_id = $1::uuid AND worker = $2"
        " AND pid = $3::int) SELECT set_config('synchronous_commit', 'off', true)";
    char pidtext[16];
    const char *params[] = {id, worker, pidtext};
    PGresult *res;
    int rc;

    snprintf(pidtext, sizeof pidtext, "%d", pid);
    res = store_exec_quiet(db, sql, 3, params, PGRES_TUPLES_OK, &rc);
    PQclear(res);
    return rc;
}


/* ,"key":v for a measure: null when not measured (v < 0). */
static void
measure_field(struct buf *b, const char *key, double v)
{
    if (v < 0)
        buf_printf(b, ",\"%s\":null", key);
    else
        buf_printf(b, ",\"%s\":%.6f", key, v);
}

/* The batch as one JSON array for json_to_recordset(): building it costs
 * less than an array parameter per column and needs no quoting rules but
 * JSON's. */
static void
batch_json(struct buf *b, const struct store_final *f, int n)
{
    buf_put(b, "[");
    for (int i = 0; i < n; i++) {
        const struct store_schedule *s = f[i].sched;

        buf_put(b, i > 0 ? "," : "");
        store_task_json_open(b, &f[i].task);
        store_json_field(b, "parent_id", f[i].task.parent_id);
        buf_printf(b, ",\"retries\":%d", f[i].task.retries);
        store_json_field(b, "state", f[i].state);
        buf_put(b, ",\"result\":"); /* already JSON text, maybe large: no printf */
        buf_put(b, f[i].result_json != NULL ? f[i].result_json : "null");
        store_json_field(b, "error", f[i].error);
        store_json_field(b, "outcome", f[i].outcome);
        store_json_field(b, "received_at", f[i].received_at);
        store_json_field(b, "started_at", f[i].started_at);
        store_json_field(b, "finished_at", f[i].finished_at);
        measure_field(b, "wall_s", f[i].wall_s);
        measure_field(b, "cpu_s", f[i].cpu_s);
        if (f[i].rss_kib >= 0)
            buf_printf(b, ",\"rss_kib\":%ld", f[i].rss_kib);
        if (s != NULL) {
            store_json_field(b, "due_at", s->due_at);
            buf_put(b, ",\"s_headers\":");
            buf_put(b, s->headers_json);
            store_json_field(b, "s_body", s->body);
            store_json_field(b, "s_reply_to", s->reply_to);
            if (s->priority >= 0)
                buf_printf(b, ",\"s_priority\":%d", s->priority);
        }
        buf_put(b, ",\"logs\":");
        logs_json(b, f[i].logs, f[i].nlogs);
        if (f[i].logs_flushed > 0)
            buf_printf(b, ",\"flushed\":%d", f[i].logs_flushed);
        buf_put(b, "}");
    }
    buf_put(b, "]");
}

int
store_tasks_finish(PGconn *db, const struct store_final *f, int n, const char *worker)
{
    /* x: the batch; t: the rows written (a final row is never overwritten);
     * l: the log lines of those rows only; s: the schedules (retry back-off,
     * ETA) of those rows only; then one NOTIFY for them all. Received and
     * started times keep what a STARTED mark already wrote. */
    static const char sql[] =
        "WITH x AS (SELECT DISTINCT ON (id) * FROM json_to_recordset($1::json) AS x(id uuid,"
        " name text, queue text, args jsonb, kwargs jsonb, origin text, retries int,"
        " state text, result jsonb, error text, outcome text, received_at timestamptz,"
        " started_at timestamptz, finished_at timestamptz, eta timestamptz,"
        " expires timestamptz, wall_s float8, cpu_s float8, rss_kib bigint, logs json, flushed int,"
        " due_at timestamptz, s_headers jsonb, s_body text, s_reply_to text, s_priority int,"
        " parent_id uuid)),"
        " t AS (INSERT INTO tasks AS k (id, name, queue, args, kwargs, origin, retries, state,"
        " result, error, outcome, worker, received_at, started_at, finished_at, eta, expires,"
        " wall_s, cpu_s, rss_kib, parent_id)"
        " SELECT id, name, queue, coalesce(args, '[]'), coalesce(kwargs, '{}'), origin, retries,"
        " state, result, error, outcome, $2, received_at, started_at, finished_at, eta, expires,"
        /* A Celery retry's message names the task itself as its parent. */
        " wall_s, cpu_s, rss_kib, nullif(parent_id, id) FROM x"
        " ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, result = EXCLUDED.result,"
        " error = EXCLUDED.error, outcome = EXCLUDED.outcome, retries = EXCLUDED.retries,"
        /* The message is the truth: a row the master created for a lost
         * task (or a revoke, before any client told us of it) gets its
         * name and arguments here. */
        " name = EXCLUDED.name, queue = EXCLUDED.queue, args = EXCLUDED.args,"
        " kwargs = EXCLUDED.kwargs,"
        " worker = EXCLUDED.worker,"
        " received_at = coalesce(k.received_at, EXCLUDED.received_at),"
        " started_at = coalesce(k.started_at, EXCLUDED.started_at),"
        " finished_at = EXCLUDED.finished_at, eta = EXCLUDED.eta,"
        " expires = coalesce(EXCLUDED.expires, k.expires), wall_s = EXCLUDED.wall_s,"
        " cpu_s = EXCLUDED.cpu_s, rss_kib = EXCLUDED.rss_kib,"
        " parent_id = coalesce(k.parent_id, EXCLUDED.parent_id)"
        " WHERE k.state NOT IN " FINAL_STATES " RETURNING id, state, name),"
        " l AS (INSERT INTO task_logs (task_id, level, message, logged_at)"
        " SELECT x.id, g.level, g.message, g.at FROM t JOIN x USING (id)"
        " CROSS JOIN LATERAL ROWS FROM (json_to_recordset(x.logs) AS (level text, message text,"
        " at timestamptz)) WITH ORDINALITY AS g(level, message, at, n)"
        /* Lines written as the task ran come again only if a crash lost them. */
        " WHERE x.flushed IS NULL OR g.n > x.flushed OR NOT EXISTS (SELECT 1 FROM task_logs o"
        " WHERE o.task_id = x.id AND o.logged_at = g.at AND o.message = g.message)),"
        " s AS (INSERT INTO scheduled_tasks (id, due_at, queue, headers, body, reply_to,"
        " priority) SELECT x.id, x.due_at, x.queue, x.s_headers, x.s_body, x.s_reply_to,"
        " x.s_priority FROM t JOIN x USING (id) WHERE x.due_at IS NOT NULL"
        " ON CONFLICT (id) DO UPDATE SET due_at = EXCLUDED.due_at, queue = EXCLUDED.queue,"
        " headers = EXCLUDED.headers, body = EXCLUDED.body, reply_to = EXCLUDED.reply_to,"
        " priority = EXCLUDED.priority)"
        " SELECT " STORE_NOTIFY_T;
    struct buf doc = {0};
    const char *params[2];
    PGresult *res;
    int rc;

    if (n == 0)
        return STORE_OK;
    batch_json(&doc, f, n);
    if (doc.oom) {
        buf_fini(&doc);
        return STORE_ERR;
    }
    params[0] = doc.data;
    params[1] = worker;
    res = store_exec_quiet(db, sql, 2, params, PGRES_TUPLES_OK, &rc);
    PQclear(res);
    buf_fini(&doc);
    return rc;
}
