/* sql/store_stats.c - the numbers of the dashboard, GET /api/stats and
 * GET /metrics: counts of tasks by state (and name), what finished in the
 * last hour minute by minute, run time percentiles and histogram buckets of
 * that hour, workers online. Each call is one statement, so its numbers come
 * from one snapshot and agree with one another. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <stdio.h>

#include "common/buf.h"

/* to_char()'s format for ISO 8601 UTC to the second, "2026-11-02T08:30:00Z",
 * applied to "col AT TIME ZONE 'UTC'". */
#define UTC " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The window: the current minute and the 59 before it. "runs" are the tasks
 * that ended SUCCESS or FAILURE in it, read through tasks_finished_idx
 * (sql/009_stats.sql): the cost follows the hour's work, not the table. The
 * bounds are written out (not read from w) so that the planner estimates
 * the range from its statistics. */
#define SINCE "(date_trunc('minute', now()) - interval '59 minutes')"
#define WINDOW_CTES                                                                                \
    "WITH w AS (SELECT " SINCE " AS since),"                                                       \
    " runs AS MATERIALIZED (SELECT name, state, finished_at, wall_s FROM tasks"                    \
    " WHERE finished_at >= " SINCE " AND finished_at < " SINCE " + interval '1 hour'"              \
    " AND state IN ('SUCCESS', 'FAILURE')),"

/* Runs whose run time was measured (not a task failed before it ran). */
#define TIMED " wall_s >= 0 AND wall_s < 'infinity'"

#define WORKERS_ONLINE                                                                             \
    "(SELECT count(*) FROM workers WHERE stopped_at IS NULL AND heartbeat_at > now() "             \
    "- " STORE_OFFLINE_AFTER ")"

cJSON *
store_stats(PGconn *db, int *rc)
{
    /* Counting by state reads every row, as any exact count must (about
     * 170 ms for a million tasks); everything else reads the window only. */
    static const char sql[] = WINDOW_CTES
        " counts AS (SELECT state, count(*) AS n FROM tasks GROUP BY state)"
        " SELECT json_build_object("
        "'generated_at', to_char(now()" UTC ","
        " 'window', json_build_object('since', to_char(w.since" UTC ", 'until',"
        " to_char((w.since + interval '1 hour')" UTC ", 'seconds', 3600),"
        " 'counts', (SELECT json_object_agg(s.state, coalesce(c.n, 0) ORDER BY s.k) FROM"
        " (VALUES (1, 'PENDING'), (2, 'RECEIVED'), (3, 'STARTED'), (4, 'RETRY'), (5, 'SUCCESS'),"
        " (6, 'FAILURE'), (7, 'REVOKED')) s(k, state) LEFT JOIN counts c ON c.state = s.state),"
        " 'total', (SELECT coalesce(sum(n), 0) FROM counts),"
        " 'per_minute', (SELECT json_agg(json_build_object('minute', to_char(m.minute" UTC ","
        " 'succeeded', coalesce(r.succeeded, 0), 'failed', coalesce(r.failed, 0))"
        " ORDER BY m.minute) FROM generate_series(w.since, w.since + interval '59 minutes',"
        " interval '1 minute') m(minute) LEFT JOIN (SELECT"
        " date_trunc('minute', finished_at) AS minute,"
        " count(*) FILTER (WHERE state = 'SUCCESS') AS succeeded,"
        " count(*) FILTER (WHERE state = 'FAILURE') AS failed FROM runs GROUP BY 1) r"
        " ON r.minute = m.minute),"
        " 'runtime', (SELECT coalesce(json_agg(json_build_object('name', name, 'count', n,"
        " 'p50', p[1], 'p95', p[2], 'p99', p[3]) ORDER BY name), '[]') FROM (SELECT name,"
        " count(*) AS n, percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY wall_s)"
        " AS p FROM runs WHERE" TIMED
        " GROUP BY name ORDER BY count(*) DESC, name LIMIT $1::int) x),"
        " 'workers_online', " WORKERS_ONLINE ")::text FROM w";
    char limit[16];
    const char *params[] = {limit};

    snprintf(limit, sizeof limit, "%d", STORE_STATS_NAMES_MAX);
    return store_query_json(db, "reading the statistics", sql, 1, params, rc);
}

cJSON *
store_metrics(PGconn *db, const double *bounds, int nbounds, int *rc)
{
    /* width_bucket(-x, {-b_n, ..., -b_1}) counts the bounds b_i >= x, so a
     * run's first bucket (the smallest bound that holds it) is n minus
     * that: one pass over the window's runs, whatever the number of
     * buckets. Names past the busiest STORE_STATS_NAMES_MAX become NULL. */
    static const char sql[] = WINDOW_CTES
        " counts AS (SELECT name, state, count(*) AS n FROM tasks GROUP BY name, state),"
        " top AS (SELECT name FROM counts GROUP BY name ORDER BY sum(n) DESC, name LIMIT $2::int),"
        " run_top AS (SELECT name FROM runs WHERE" TIMED
        " GROUP BY name ORDER BY count(*) DESC, name LIMIT $2::int),"
        " hist AS (SELECT name, width_bucket(-wall_s, $1::float8[]) AS g, count(*) AS n,"
        " sum(wall_s) AS s FROM (SELECT CASE WHEN name IN (SELECT name FROM run_top) THEN name"
        " END AS name, wall_s FROM runs WHERE" TIMED ") r GROUP BY 1, 2)"
        " SELECT json_build_object("
        "'tasks', (SELECT coalesce(json_agg(json_build_object('name', name, 'state', state,"
        " 'count', n) ORDER BY name NULLS LAST, state), '[]') FROM (SELECT name, state, sum(n) AS n"
        " FROM (SELECT CASE WHEN name IN (SELECT name FROM top) THEN name END AS name, state, n"
        " FROM counts) c GROUP BY 1, 2) x),"
        " 'runtime', (SELECT coalesce(json_agg(json_build_object('name', name, 'count', n,"
        " 'sum', s, 'first', f) ORDER BY name NULLS LAST), '[]') FROM (SELECT name, sum(n) AS n,"
        " sum(s) AS s, json_agg(json_build_array(cardinality($1::float8[]) - g, n)) AS f"
        " FROM hist GROUP BY name) y),"
        " 'workers_online', " WORKERS_ONLINE ")::text FROM w";
    struct buf negated = {0};
    char limit[16];
    const char *params[2] = {NULL, limit};
    cJSON *v = NULL;

    /* Ascending, as width_bucket() wants them: the largest bound first. */
    buf_put(&negated, "{");
    for (int i = nbounds - 1; i >= 0; i--)
        buf_printf(&negated, "%s%.17g", i < nbounds - 1 ? "," : "", -bounds[i]);
    buf_put(&negated, "}");
    if (negated.oom) {
        *rc = STORE_ERR;
        goto out;
    }
    params[0] = negated.data;
    snprintf(limit, sizeof limit, "%d", STORE_STATS_NAMES_MAX);
    v = store_query_json(db, "reading the metrics", sql, 2, params, rc);
out:
    buf_fini(&negated);
    return v;
}
