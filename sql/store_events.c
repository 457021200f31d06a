/* sql/store_events.c - see store_events.h. */
#include "sql/store_events.h"
#include "sql/store.h"
#include "sql/store_internal.h"

#include <stdio.h>
#include <stdlib.h>

/* ISO 8601 UTC to the millisecond, "2026-11-02T08:30:00.123Z", as the chat
 * API gives times (sql/store_chat.c). */
#define UTC_MS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define TASK_EVENT "json_build_object('id', id, 'name', name, 'state', state, 'progress', progress)"

cJSON *
store_events_chat(PGconn *db, long long after, long long upto, const char *rooms_json, int limit,
                  int *rc)
{
    /* Walks the seq index (rooms are filtered on the way: a reconnecting
     * stream asks for a few rooms, the listener for all of them). */
    static const char sql[] =
        "SELECT coalesce(json_agg(j ORDER BY seq), '[]')::text FROM (SELECT m.seq,"
        " json_build_object('id', m.id, 'seq', m.seq, 'room', m.room, 'author', m.author,"
        " 'body', m.body, 'sent_at', " UTC_MS("m.sent_at") ", 'task_id', m.task_id) AS j"
        " FROM chat_messages m"
        " WHERE m.seq > $1::bigint AND ($2::bigint < 0 OR m.seq <= $2::bigint)"
        " AND ($3::json IS NULL OR m.room IN (SELECT json_array_elements_text($3::json)))"
        " ORDER BY m.seq LIMIT $4::int) x";
    char a[24], u[24], l[16];
    const char *params[] = {a, u, rooms_json, l};

    snprintf(a, sizeof a, "%lld", after);
    snprintf(u, sizeof u, "%lld", upto);
    snprintf(l, sizeof l, "%d", limit);
    return store_query_json(db, "events: reading chat messages", sql, 4, params, rc);
}

/* One bigint from sql with up to one parameter. */
static int
query_bigint(PGconn *db, const char *what, const char *sql, const char *param, long long *out)
{
    const char *params[] = {param};
    int rc;
    PGresult *res = store_exec(db, what, sql, param != NULL ? 1 : 0, params, PGRES_TUPLES_OK, &rc);

    if (res == NULL)
        return rc;
    rc = STORE_ERR;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        rc = STORE_OK;
    }
    PQclear(res);
    return rc;
}

int
store_events_chat_max(PGconn *db, long long *seq)
{
    return query_bigint(db, "events: newest chat seq",
                        "SELECT coalesce(max(seq), 0) FROM chat_messages", NULL, seq);
}

int
store_events_log_max(PGconn *db, const char *task_id, long long *id)
{
    return query_bigint(db, "events: newest log line",
                        "SELECT coalesce(max(id), 0) FROM task_logs WHERE task_id = $1::uuid",
                        task_id, id);
}

cJSON *
store_events_logs(PGconn *db, const char *marks_json, int limit, int *rc)
{
    /* One index range of task_logs (task_id, id) per task. */
    static const char sql[] =
        "SELECT coalesce(json_agg(j ORDER BY task_id, id), '[]')::text FROM (SELECT l.task_id,"
        " l.id, json_build_object('task_id', l.task_id, 'id', l.id, 'level', l.level, 'message',"
        " l.message, 'at', " UTC_MS("l.logged_at") ") AS j"
        " FROM json_to_recordset($1::json) AS w(id uuid, after bigint, upto bigint)"
        " CROSS JOIN LATERAL (SELECT * FROM task_logs t WHERE t.task_id = w.id AND t.id > w.after"
        " AND (w.upto < 0 OR t.id <= w.upto) ORDER BY t.id LIMIT $2::int) l) x";
    char l[16];
    const char *params[] = {marks_json, l};

    snprintf(l, sizeof l, "%d", limit);
    return store_query_json(db, "events: reading log lines", sql, 2, params, rc);
}

cJSON *
store_events_tasks(PGconn *db, const char *ids_json, int *rc)
{
    static const char sql[] =
        "SELECT coalesce(json_agg(" TASK_EVENT "), '[]')::text FROM tasks"
        " WHERE id IN (SELECT json_array_elements_text($1::json)::uuid)";
    const char *params[] = {ids_json};

    return store_query_json(db, "events: reading task states", sql, 1, params, rc);
}

cJSON *
store_events_tasks_since(PGconn *db, double since, int recent, int *rc)
{
    /* greatest() skips NULLs. A progress report changes no time: the
     * replay gives the progress as it is now, with the task's state. */
    static const char sql[] =
        "SELECT coalesce(json_agg(" TASK_EVENT " ORDER BY changed), '[]')::text FROM"
        " (SELECT id, name, state, progress, greatest(created_at, received_at, started_at,"
        " finished_at) AS changed FROM tasks ORDER BY created_at DESC LIMIT $2::int) t"
        " WHERE changed > to_timestamp($1::float8)";
    char s[32], r[16];
    const char *params[] = {s, r};

    snprintf(s, sizeof s, "%.3f", since);
    snprintf(r, sizeof r, "%d", recent);
    return store_query_json(db, "events: reading changed tasks", sql, 2, params, rc);
}
