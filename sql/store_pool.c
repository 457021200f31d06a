/* sql/store_pool.c - what the reliable worker pool keeps in PostgreSQL beside
 * the batch's final states (store_engine.c): what a redelivered task went
 * through, the deaths of its children, hard time limits, revocations (and
 * the polling that follows them and the paused queues), the leases of long
 * tasks' runs, the schedule (scheduled_tasks) and the periodic tasks. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"

#define FINAL_STATES "('SUCCESS', 'FAILURE', 'REVOKED')"

/* A JSON query whose only parameter is a row limit. */
static cJSON *
query_json_limit(PGconn *db, const char *what, const char *sql, int limit, int *rc)
{
    char l[16];
    const char *params[] = {l};

    snprintf(l, sizeof l, "%d", limit);
    return store_query_json(db, what, sql, 1, params, rc);
}

/* ----- redeliveries and lost children ----- */

int
store_tasks_seen(PGconn *db, const char *const *ids, int n, struct store_seen *out)
{
    static const char sql[] = "SELECT id::text, state IN " FINAL_STATES ", lost,"
                              " coalesce(lost_reason, ''), retries FROM tasks"
                              " WHERE id = ANY($1::uuid[])";
    const char *params[1];
    char *arr;
    PGresult *res;
    int rc;

    memset(out, 0, sizeof *out * (size_t)n);
    if (n == 0)
        return STORE_OK;
    if ((arr = store_uuid_array(ids, n)) == NULL)
        return STORE_ERR;
    params[0] = arr;
    res = store_exec_quiet(db, sql, 1, params, PGRES_TUPLES_OK, &rc);
    free(arr);
    if (res == NULL)
        return rc;
    for (int r = 0; r < PQntuples(res); r++) {
        for (int i = 0; i < n; i++) {
            if (strcasecmp(ids[i], PQgetvalue(res, r, 0)) != 0)
                continue;
            out[i].found = true;
            out[i].final = PQgetvalue(res, r, 1)[0] == 't';
            out[i].lost = atoi(PQgetvalue(res, r, 2));
            snprintf(out[i].lost_reason, sizeof out[i].lost_reason, "%s", PQgetvalue(res, r, 3));
            out[i].retries = atoi(PQgetvalue(res, r, 4));
        }
    }
    PQclear(res);
    return STORE_OK;
}

int
store_task_lost(PGconn *db, const char *id, const char *name, const char *worker,
                const char *reason)
{
    static const char sql[] =
        "INSERT INTO tasks AS k (id, name, state, worker, lost, lost_reason)"
        " VALUES ($1::uuid, $2, 'RECEIVED', $3, 1, $4)"
        " ON CONFLICT (id) DO UPDATE SET lost = k.lost + 1, lost_reason = EXCLUDED.lost_reason"
        " WHERE k.state NOT IN " FINAL_STATES " RETURNING lost";
    const char *params[] = {id, name, worker, reason};
    PGresult *res;
    int rc;

    res = store_exec(db, "recording a lost task", sql, 4, params, PGRES_TUPLES_OK, &rc);
    if (res == NULL)
        return rc;
    rc = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    return rc;
}

int
store_task_end(PGconn *db, const char *id, const char *name, const char *worker,
               const char *state, const char *error, const char *outcome)
{
    /* The row, its log line and the notification in one statement; a final
     * row is left as it is (a revoke got there first). */
    static const char sql[] =
        "WITH t AS (INSERT INTO tasks AS k (id, name, state, error, outcome, worker, result,"
        " received_at, started_at, finished_at)"
        " VALUES ($1::uuid, $2, $4, $5, $6, $3, json_build_object('exc_type', $7::text,"
        " 'exc_message', json_build_array($5::text), 'exc_module', 'celery.exceptions'),"
        " now(), now(), now())"
        " ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, error = EXCLUDED.error,"
        " outcome = EXCLUDED.outcome, worker = EXCLUDED.worker, result = EXCLUDED.result,"
        " finished_at = now() WHERE k.state NOT IN " FINAL_STATES " RETURNING id, state, name),"
        " l AS (INSERT INTO task_logs (task_id, level, message) SELECT id, 'ERROR', $5 FROM t)"
        " SELECT " STORE_NOTIFY_T;
    const char *exc = strcmp(outcome, "hard_limit") == 0 ? "TimeLimitExceeded" : "WorkerLostError";
    const char *params[] = {id, name, worker, state, error, outcome, exc};
    PGresult *res;
    int rc;

    res = store_exec(db, "ending a task", sql, 7, params, PGRES_TUPLES_OK, &rc);
    PQclear(res);
    return rc;
}

/* ----- revocations ----- */

int
store_revoke(PGconn *db, const char *id, bool terminate, char *state, size_t statelen)
{
    /* The row (created when no client told us of the task: a Python client's
     * task not received yet), the durable revocation, and both
     * notifications, in one statement. state receives the state before. */
    static const char sql[] =
        "WITH old AS (SELECT state FROM tasks WHERE id = $1::uuid),"
        " r AS (INSERT INTO revocations (task_id, terminate) VALUES ($1::uuid, $2::bool)"
        " ON CONFLICT (task_id) DO UPDATE SET terminate = revocations.terminate OR"
        " EXCLUDED.terminate),"
        " t AS (INSERT INTO tasks AS k (id, name, state, error, outcome, finished_at)"
        " VALUES ($1::uuid, '(unknown)', 'REVOKED', 'revoked', 'revoked', now())"
        " ON CONFLICT (id) DO UPDATE SET state = 'REVOKED', error = 'revoked',"
        " outcome = 'revoked', finished_at = now()"
        " WHERE k.state NOT IN " FINAL_STATES " RETURNING id, state, name)"
        " SELECT coalesce((SELECT state FROM old), ''),"
        " pg_notify('task_revoked', json_build_object('id', $1::uuid, 'terminate',"
        " $2::bool)::text), " STORE_NOTIFY_T;
    const char *params[] = {id, terminate ? "true" : "false"};
    PGresult *res;
    int rc;

    res = store_exec(db, "revoking a task", sql, 2, params, PGRES_TUPLES_OK, &rc);
    if (res == NULL)
        return rc;
    snprintf(state, statelen, "%s", PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return STORE_OK;
}

cJSON *
store_signals_poll(PGconn *db, struct store_signals *s, int limit, bool want_pauses, int *rc)
{
    /* One snapshot for all of it. Revocations commit in seq order (the
     * clock row's lock, sql/010_pooler.sql), so the clock's seq read here
     * covers every revocation up to it: the next poll asks for those after
     * it. "fresh": nothing read yet, or the clock went back (a failover to
     * a replica that had not seen the latest revocations): the newest limit
     * revocations, whatever their seq. A poll cut short by the limit goes
     * on from the last seq it read. "(SELECT fresh FROM c)" is computed
     * once, before the scans (a join with c would walk every revocation
     * to find none). */
    static const char sql[] =
        "WITH c AS (SELECT seq, pauses_seq, $1::bigint < 0 OR seq < $1::bigint AS fresh"
        " FROM worker_signals),"
        " r AS (SELECT task_id, terminate, seq FROM revocations"
        " WHERE NOT (SELECT fresh FROM c) AND seq > $1::bigint ORDER BY seq LIMIT $3::int),"
        " f AS (SELECT task_id, terminate FROM revocations"
        " WHERE (SELECT fresh FROM c) ORDER BY created_at DESC LIMIT $3::int)"
        " SELECT json_build_object("
        "'seq', CASE WHEN NOT c.fresh AND $3::int > 0 AND (SELECT count(*) FROM r) >= $3::int"
        " THEN (SELECT max(seq) FROM r) ELSE c.seq END::text,"
        " 'pauses_seq', c.pauses_seq::text,"
        " 'revoked', (SELECT coalesce(json_agg(json_build_object('id', task_id, 'terminate',"
        " terminate)), '[]') FROM (SELECT task_id, terminate FROM r UNION ALL"
        " SELECT task_id, terminate FROM f) x),"
        " 'paused', CASE WHEN $4::bool AND (c.fresh OR c.pauses_seq <> $2::bigint) THEN"
        " (SELECT coalesce(json_agg(queue ORDER BY queue), '[]') FROM queue_pauses) END)::text"
        " FROM c";
    char seq[24], pauses_seq[24], lim[16];
    const char *params[] = {seq, pauses_seq, lim, want_pauses ? "true" : "false"};
    const char *next, *next_pauses;
    PGresult *res;
    cJSON *o;

    snprintf(seq, sizeof seq, "%lld", s->seq);
    snprintf(pauses_seq, sizeof pauses_seq, "%lld", s->pauses_seq);
    snprintf(lim, sizeof lim, "%d", limit);
    /* Quiet: the callers poll every half second and decide what to log. */
    if ((res = store_exec_quiet(db, sql, 4, params, PGRES_TUPLES_OK, rc)) == NULL)
        return NULL;
    o = PQntuples(res) == 1 ? cJSON_Parse(PQgetvalue(res, 0, 0)) : NULL;
    PQclear(res);
    next = json_str(o, "seq");
    next_pauses = json_str(o, "pauses_seq");
    if (next == NULL || next_pauses == NULL) { /* no worker_signals row */
        cJSON_Delete(o);
        *rc = STORE_ERR;
        return NULL;
    }
    s->seq = strtoll(next, NULL, 10);
    if (want_pauses)
        s->pauses_seq = strtoll(next_pauses, NULL, 10);
    return o;
}

/* ----- the leases of long tasks' runs (sql/010_pooler.sql) ----- */

/* "{1,2,3}" for = ANY($n::int[]); NULL on out of memory. */
static char *
int_array(const int *v, int n)
{
    size_t cap = 3 + (size_t)n * 12;
    char *out = malloc(cap);
    size_t len = 0;

    if (out == NULL)
        return NULL;
    out[len++] = '{';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, i > 0 ? ",%d" : "%d", v[i]);
    snprintf(out + len, cap - len, "}");
    return out;
}

int
store_leases_renew(PGconn *db, const char *worker, const int *pids, int n)
{
    /* A lease that ran out is worth nothing: anyone may take it over. */
    static const char sql[] =
        "WITH d AS (DELETE FROM task_leases WHERE expires_at < now())"
        " UPDATE task_leases SET expires_at = now() + make_interval(secs => $3::int)"
        " WHERE worker = $1 AND pid = ANY($2::int[]) AND expires_at >= now()";
    char ttl[16], *arr = int_array(pids, n);
    const char *params[] = {worker, arr, ttl};
    PGresult *res;
    int rc;

    if (arr == NULL)
        return STORE_ERR;
    snprintf(ttl, sizeof ttl, "%d", STORE_LEASE_S);
    res = store_exec(db, "renewing the leases of long tasks", sql, 3, params, PGRES_COMMAND_OK,
                     &rc);
    PQclear(res);
    free(arr);
    return rc;
}

int
store_leases_drop(PGconn *db, const char *worker, int pid)
{
    static const char sql[] = "DELETE FROM task_leases WHERE worker = $1 AND pid = $2::int";
    char pidtext[16];
    const char *params[] = {worker, pidtext};
    PGresult *res;
    int rc;

    snprintf(pidtext, sizeof pidtext, "%d", pid);
    res = store_exec(db, "dropping a dead child's leases", sql, 2, params, PGRES_COMMAND_OK, &rc);
    PQclear(res);
    return rc;
}

int
store_listen(PGconn *db, const char *channel)
{
    char sql[128];
    PGresult *res;
    int rc;

    snprintf(sql, sizeof sql, "LISTEN %s", channel); /* a fixed identifier of ours */
    res = store_exec(db, "listen", sql, 0, NULL, PGRES_COMMAND_OK, &rc);
    PQclear(res);
    return rc;
}

int
store_notifications(PGconn *db, store_notify_fn fn, void *arg)
{
    PGnotify *n;
    int count = 0;

    if (db == NULL || PQconsumeInput(db) == 0)
        return -1;
    while ((n = PQnotifies(db)) != NULL) {
        fn(n->relname, n->extra, arg);
        PQfreemem(n);
        count++;
    }
    return count;
}

/* ----- the schedule ----- */

int
store_schedule(PGconn *db, const struct store_task *t, const char *queue,
               const struct store_schedule *s)
{
    /* A PENDING row for a task no one has seen yet (a periodic run), and
     * the message to publish when it is due. */
    static const char sql[] =
        "WITH t AS (INSERT INTO tasks (id, name, queue, args, kwargs, origin, eta)"
        " SELECT $1::uuid, $2, $3, $4::jsonb, $5::jsonb, $6, $7::timestamptz WHERE $2::text IS NOT NULL"
        " ON CONFLICT (id) DO NOTHING)"
        " INSERT INTO scheduled_tasks (id, due_at, queue, headers, body, reply_to, priority)"
        " VALUES ($1::uuid, $7::timestamptz, $3, $8::jsonb, $9, $10, nullif($11::int, -1))"
        " ON CONFLICT (id) DO NOTHING"; /* a pending schedule (a retry's) is newer: keep it */
    char prio[16];
    const char *params[] = {t->id,
                            t->name,
                            queue,
                            t->args_json ? t->args_json : "[]",
                            t->kwargs_json ? t->kwargs_json : "{}",
                            t->origin,
                            s->due_at,
                            s->headers_json,
                            s->body,
                            s->reply_to,
                            prio};
    PGresult *res;
    int rc;

    snprintf(prio, sizeof prio, "%d", s->priority >= 0 ? s->priority : -1);
    res = store_exec_quiet(db, sql, 11, params, PGRES_COMMAND_OK, &rc);
    PQclear(res);
    return rc;
}

cJSON *
store_scheduled_claim(PGconn *db, int limit, int *rc)
{
    static const char sql[] =
        "SELECT coalesce(json_agg(json_build_object('id', id, 'queue', queue, 'headers', headers,"
        " 'body', body, 'reply_to', reply_to, 'priority', priority)), '[]')::text FROM"
        " (SELECT * FROM scheduled_tasks WHERE due_at <= now() ORDER BY due_at"
        " LIMIT $1::int FOR UPDATE SKIP LOCKED) s";
    return query_json_limit(db, "claiming due tasks", sql, limit, rc);
}

int
store_scheduled_delete(PGconn *db, const char *const *ids, int n)
{
    const char *params[1];
    char *arr;
    PGresult *res;
    int rc;

    if (n == 0)
        return STORE_OK;
    if ((arr = store_uuid_array(ids, n)) == NULL)
        return STORE_ERR;
    params[0] = arr;
    res = store_exec(db, "deleting published schedules",
                     "DELETE FROM scheduled_tasks WHERE id = ANY($1::uuid[])", 1, params,
                     PGRES_COMMAND_OK, &rc);
    free(arr);
    PQclear(res);
    return rc;
}

/* ----- periodic tasks ----- */

#define PERIODIC_JSON                                                                              \
    "json_build_object('name', name, 'task', task, 'cron', cron, 'args', args, 'kwargs', kwargs," \
    " 'queue', queue, 'enabled', enabled, 'next_run_at', next_run_at, 'next_run_epoch',"          \
    " extract(epoch FROM next_run_at), 'last_run_at', last_run_at, 'last_task_id', last_task_id," \
    " 'total_runs', total_runs)"

cJSON *
store_periodic_claim(PGconn *db, int limit, int *rc)
{
    static const char sql[] =
        "SELECT coalesce(json_agg(" PERIODIC_JSON "), '[]')::text FROM"
        " (SELECT * FROM periodic_tasks WHERE enabled AND next_run_at <= now()"
        " ORDER BY next_run_at LIMIT $1::int FOR UPDATE SKIP LOCKED) p";
    return query_json_limit(db, "claiming periodic tasks", sql, limit, rc);
}

int
store_periodic_fired(PGconn *db, const char *name, const char *next_run_at, const char *task_id)
{
    const char *params[] = {name, next_run_at, task_id};
    PGresult *res;
    int rc;

    res = store_exec(db, "moving a periodic task on",
                     "UPDATE periodic_tasks SET next_run_at = $2::timestamptz, last_run_at = now(),"
                     " last_task_id = $3::uuid, total_runs = total_runs + 1 WHERE name = $1",
                     3, params, PGRES_COMMAND_OK, &rc);
    PQclear(res);
    return rc;
}

int
store_periodic_put(PGconn *db, const char *name, const char *task, const char *cron,
                   const char *args_json, const char *kwargs_json, const char *queue,
                   const char *next_run_at)
{
    const char *params[] = {name, task, cron, args_json ? args_json : "[]",
                            kwargs_json ? kwargs_json : "{}", queue, next_run_at};
    PGresult *res;
    int rc;

    res = store_exec_quiet(
        db,
        "INSERT INTO periodic_tasks (name, task, cron, args, kwargs, queue, next_run_at)"
        " VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7::timestamptz)"
        " ON CONFLICT (name) DO UPDATE SET task = EXCLUDED.task, cron = EXCLUDED.cron,"
        " args = EXCLUDED.args, kwargs = EXCLUDED.kwargs, queue = EXCLUDED.queue,"
        " next_run_at = EXCLUDED.next_run_at",
        7, params, PGRES_COMMAND_OK, &rc);
    PQclear(res);
    return rc;
}

cJSON *
store_periodic_list(PGconn *db, const char *name, int *rc)
{
    const char *params[] = {name};

    return store_query_json(db, "listing periodic tasks",
                            "SELECT coalesce(json_agg(" PERIODIC_JSON " ORDER BY name), '[]')::text"
                            " FROM periodic_tasks WHERE $1::text IS NULL OR name = $1",
                            1, params, rc);
}

/* Run a statement on one named periodic task: STORE_NOT_FOUND when it
 * touched no row. */
static int
periodic_exec(PGconn *db, const char *what, const char *sql, int n, const char *const *params)
{
    PGresult *res;
    int rc;

    res = store_exec(db, what, sql, n, params, PGRES_COMMAND_OK, &rc);
    if (res != NULL && rc == STORE_OK && strcmp(PQcmdTuples(res), "0") == 0)
        rc = STORE_NOT_FOUND;
    PQclear(res);
    return rc;
}

int
store_periodic_remove(PGconn *db, const char *name)
{
    const char *params[] = {name};

    return periodic_exec(db, "removing a periodic task",
                         "DELETE FROM periodic_tasks WHERE name = $1", 1, params);
}

int
store_periodic_enable(PGconn *db, const char *name, bool enabled, const char *next_run_at)
{
    /* Enabling moves next_run_at to the next time from now: runs missed while
     * disabled are not made up. */
    const char *params[] = {name, enabled ? "true" : "false", next_run_at};

    return periodic_exec(db, "enabling a periodic task",
                         "UPDATE periodic_tasks SET enabled = $2::bool,"
                         " next_run_at = coalesce($3::timestamptz, next_run_at) WHERE name = $1",
                         3, params);
}
