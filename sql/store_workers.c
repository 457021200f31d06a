/* sql/store_workers.c - the workers table: one row per worker master. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <stdio.h>

int
store_worker_heartbeat(PGconn *db, const char *hostname, int pid, int concurrency,
                       const char *queues_csv, long processed, long failed, int active)
{
    static const char sql[] =
        "INSERT INTO workers (hostname, pid, concurrency, queues, processed, failed, active)"
        " VALUES ($1, $2::int, $3::int, string_to_array($4, ','), $5::bigint, $6::bigint, $7::int)"
        " ON CONFLICT (hostname) DO UPDATE SET pid = EXCLUDED.pid,"
        " concurrency = EXCLUDED.concurrency, queues = EXCLUDED.queues,"
        " processed = EXCLUDED.processed, failed = EXCLUDED.failed, active = EXCLUDED.active,"
        " started_at = CASE WHEN workers.pid = EXCLUDED.pid AND workers.stopped_at IS NULL"
        " THEN workers.started_at ELSE now() END,"
        " heartbeat_at = now(), stopped_at = NULL";
    char p[16], c[16], pr[24], f[24], a[16];
    const char *params[] = {hostname, p, c, queues_csv, pr, f, a};
    int rc;
    PGresult *res;

    snprintf(p, sizeof p, "%d", pid);
    snprintf(c, sizeof c, "%d", concurrency);
    snprintf(pr, sizeof pr, "%ld", processed);
    snprintf(f, sizeof f, "%ld", failed);
    snprintf(a, sizeof a, "%d", active);
    res = store_exec(db, "worker heartbeat", sql, 7, params, PGRES_COMMAND_OK, &rc);
    PQclear(res);
    return rc;
}

int
store_worker_stopped(PGconn *db, const char *hostname)
{
    const char *params[] = {hostname};
    int rc;
    PGresult *res = store_exec(db, "worker stopped",
                               "UPDATE workers SET stopped_at = now(), active = 0,"
                               " heartbeat_at = now() WHERE hostname = $1",
                               1, params, PGRES_COMMAND_OK, &rc);

    PQclear(res);
    return rc;
}
