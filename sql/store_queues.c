/* sql/store_queues.c - what /queues keeps and reads in PostgreSQL: the queues
 * the operator paused (sql/007_queue_pauses.sql) and the notifications that
 * tell every worker child, the queues the workers consume, and a dead
 * letter's task row made runnable again when it is requeued. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <stdio.h>
#include <string.h>

cJSON *
store_queue_pauses(PGconn *db, int *rc)
{
    static const char sql[] =
        "SELECT coalesce(json_agg(json_build_object('queue', queue, 'paused_at', paused_at,"
        " 'paused_by', paused_by) ORDER BY queue), '[]')::text FROM queue_pauses";

    return store_query_json(db, "loading paused queues", sql, 0, NULL, rc);
}

int
store_queue_pause(PGconn *db, const char *queue, bool paused, const char *by, bool *changed)
{
    /* Notify only when a row changed: the notifications then follow the
     * commits of the changes, so the last one a child hears is the table's
     * state (a pause and a resume racing cannot leave a child believing
     * the loser). */
    static const char pause_sql[] =
        "WITH c AS (INSERT INTO queue_pauses (queue, paused_by) VALUES ($1, $2)"
        " ON CONFLICT (queue) DO NOTHING RETURNING queue)"
        " SELECT pg_notify('queue_pause', json_build_object('queue', queue, 'paused', true)::text)"
        " FROM c";
    static const char resume_sql[] =
        "WITH c AS (DELETE FROM queue_pauses WHERE queue = $1 RETURNING queue)"
        " SELECT pg_notify('queue_pause', json_build_object('queue', queue, 'paused', false)::text)"
        " FROM c";
    const char *params[] = {queue, by};
    PGresult *res;
    int rc;

    res = store_exec(db, paused ? "pausing a queue" : "resuming a queue",
                     paused ? pause_sql : resume_sql, paused ? 2 : 1, params, PGRES_TUPLES_OK, &rc);
    if (res == NULL)
        return rc;
    *changed = PQntuples(res) > 0;
    PQclear(res);
    return STORE_OK;
}

cJSON *
store_queue_sources(PGconn *db, int *rc)
{
    /* Every queue named in a worker row (online or not: a queue whose
     * workers went away may be filling up), with the online workers that
     * consume it; and the paused queues. */
    static const char sql[] =
        "SELECT json_build_object("
        "'consumed', (SELECT coalesce(json_agg(json_build_object('queue', q, 'workers', w)"
        " ORDER BY q), '[]') FROM (SELECT btrim(q) AS q,"
        " coalesce(json_agg(DISTINCT hostname) FILTER (WHERE stopped_at IS NULL AND heartbeat_at >"
        " now() - " STORE_OFFLINE_AFTER "), '[]') AS w"
        " FROM workers, unnest(queues) q WHERE btrim(q) <> '' GROUP BY btrim(q)"
        " ORDER BY btrim(q) LIMIT $1::int) s),"
        "'paused', (SELECT coalesce(json_agg(json_build_object('queue', queue, 'paused_at',"
        " paused_at, 'paused_by', paused_by) ORDER BY queue), '[]') FROM queue_pauses))::text";
    char limit[16];
    const char *params[] = {limit};

    snprintf(limit, sizeof limit, "%d", STORE_LIST_MAX);
    return store_query_json(db, "listing the workers' queues", sql, 1, params, rc);
}

int
store_task_requeued(PGconn *db, const char *task_id, const char *queue, char *state,
                    size_t statelen)
{
    /* A dead letter's row is FAILURE (a final state), and a worker never
     * runs a task whose row is final: back to PENDING, with a log line, so
     * the requeued message runs. Other rows are left as they are; state
     * tells the caller what it was. */
    static const char sql[] =
        "WITH old AS (SELECT state FROM tasks WHERE id = $1::uuid),"
        " t AS (UPDATE tasks SET state = 'PENDING', result = NULL, error = NULL, outcome = NULL,"
        " received_at = NULL, started_at = NULL, finished_at = NULL, progress = NULL,"
        " wall_s = NULL, cpu_s = NULL, rss_kib = NULL, lost = 0, lost_reason = NULL"
        " WHERE id = $1::uuid AND state = 'FAILURE' RETURNING id, state, name),"
        " l AS (INSERT INTO task_logs (task_id, level, message)"
        " SELECT id, 'INFO', 'requeued from celeriac.dead to queue ' || $2 FROM t)"
        " SELECT coalesce((SELECT state FROM old), ''), " STORE_NOTIFY_T;
    const char *params[] = {task_id, queue};
    PGresult *res;
    int rc;

    res = store_exec(db, "requeueing a dead letter's task", sql, 2, params, PGRES_TUPLES_OK, &rc);
    if (res == NULL)
        return rc;
    snprintf(state, statelen, "%s", PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return STORE_OK;
}
