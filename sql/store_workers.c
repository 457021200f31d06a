/* sql/store_workers.c - the workers table: one row per worker master. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <stdio.h>

int
store_worker_heartbeat(PGconn *db, const char *hostname, int pid, int concurrency,
                       const char *queues_csv, long processed, long failed, int active,
                       const char *registered_json, const char *active_json, long rss_kib)
{
    static const char sql[] =
        "INSERT INTO workers (hostname, pid, concurrency, queues, processed, failed, active,"
        " registered, active_tasks, rss_kib)"
        " VALUES ($1, $2::int, $3::int, string_to_array($4, ','), $5::bigint, $6::bigint, $7::int,"
        " coalesce($8::jsonb, '[]'), coalesce($9::jsonb, '[]'), nullif($10::bigint, -1))"
        " ON CONFLICT (hostname) DO UPDATE SET pid = EXCLUDED.pid,"
        " concurrency = EXCLUDED.concurrency, queues = EXCLUDED.queues,"
        " processed = EXCLUDED.processed, failed = EXCLUDED.failed, active = EXCLUDED.active,"
        " registered = CASE WHEN $8 IS NULL THEN workers.registered ELSE EXCLUDED.registered END,"
        " active_tasks = EXCLUDED.active_tasks, rss_kib = EXCLUDED.rss_kib,"
        " started_at = CASE WHEN workers.pid = EXCLUDED.pid AND workers.stopped_at IS NULL"
        " THEN workers.started_at ELSE now() END,"
        " heartbeat_at = now(), stopped_at = NULL";
    char p[16], c[16], pr[24], f[24], a[16], r[24];
    const char *params[] = {hostname, p, c, queues_csv, pr, f, a, registered_json, active_json, r};
    int rc;
    PGresult *res;

    snprintf(p, sizeof p, "%d", pid);
    snprintf(c, sizeof c, "%d", concurrency);
    snprintf(pr, sizeof pr, "%ld", processed);
    snprintf(f, sizeof f, "%ld", failed);
    snprintf(a, sizeof a, "%d", active);
    snprintf(r, sizeof r, "%ld", rss_kib);
    res = store_exec(db, "worker heartbeat", sql, 10, params, PGRES_COMMAND_OK, &rc);
    PQclear(res);
    return rc;
}

int
store_worker_stopped(PGconn *db, const char *hostname)
{
    const char *params[] = {hostname};
    int rc;
    PGresult *res = store_exec(db, "worker stopped",
                               "UPDATE workers SET stopped_at = now(), active = 0, active_tasks = '[]',"
                               " heartbeat_at = now() WHERE hostname = $1",
                               1, params, PGRES_COMMAND_OK, &rc);

    PQclear(res);
    return rc;
}

cJSON *
store_registered_tasks(PGconn *db, int *rc)
{
    /* One entry per name, from the workers that are online; the newest
     * heartbeat's description wins. */
    static const char sql[] =
        "SELECT coalesce(json_agg(t ORDER BY t->>'name'), '[]')::text FROM"
        " (SELECT DISTINCT ON (r->>'name') r AS t FROM workers, jsonb_array_elements(registered) r"
        " WHERE stopped_at IS NULL AND heartbeat_at > now() - " STORE_OFFLINE_AFTER
        " ORDER BY r->>'name', heartbeat_at DESC) s";

    return store_query_json(db, "registered tasks", sql, 0, NULL, rc);
}

cJSON *
store_workers_list(PGconn *db, int *rc)
{
    /* Online: not stopped, and heard from within 3 heartbeat intervals. */
    static const char sql[] =
        "SELECT coalesce(json_agg(w ORDER BY online DESC, hostname), '[]')::text FROM"
        " (SELECT hostname, pid, concurrency, queues, processed, failed, active, active_tasks,"
        " rss_kib, started_at, heartbeat_at, stopped_at,"
        " extract(epoch FROM now() - heartbeat_at) AS heartbeat_age_s,"
        " stopped_at IS NULL AND heartbeat_at > now() - " STORE_OFFLINE_AFTER " AS online"
        " FROM workers) w";

    return store_query_json(db, "listing workers", sql, 0, NULL, rc);
}
