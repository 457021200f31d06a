/* sql/store_tasks.c - the tasks and task_logs tables. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/uuid.h"

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
        store_json_field(b, "parent_id", t[i].parent_id);
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
        "WITH t AS (INSERT INTO tasks (id, name, queue, args, kwargs, origin, eta, expires,"
        " parent_id) SELECT id, name, queue, args, kwargs, origin, eta, expires, parent_id"
        " FROM json_to_recordset($1::json) AS x(id uuid, name text, queue text, args jsonb,"
        " kwargs jsonb, origin text, eta timestamptz, expires timestamptz, parent_id uuid)"
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
        " 'parent_id', t.parent_id, 'eta', t.eta, 'expires', t.expires)), '[]')"
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

/* A task's place in the page order, as its cursor: created_at to the
 * microsecond (extract() is exact numeric) or wall_s ("w" and its shortest
 * exact text: float8 output round-trips), and the id breaking ties. */
#define TIME_KEY "(extract(epoch FROM x.created_at) * 1000000)::bigint::text || '_' || x.id::text"
#define TIME_AT "('epoch'::timestamptz + $7::bigint * interval '1 microsecond', $8::uuid)"
#define RUNTIME_KEY "'w' || x.wall_s::text || '_' || x.id::text"
#define RUNTIME_AT "($7::float8, $8::uuid)"
/* The rows of a page in query order (cmp "<" with dir DESC walks down the
 * order by col): its filters, then the keyset condition against at. $4 is
 * the literal text, made a LIKE pattern here (\ % _ escaped); with the
 * values known when PQexecParams plans the statement, the NULL tests fold
 * away and each filter can use its index (sql/008_task_pages.sql), the text
 * its trigram index. By run time there is no index: a top-N sort of the
 * rows the filters keep (docs/api.md), which is why the page's rows are
 * made into JSON only once chosen (x), not for every row sorted. One row
 * past the page tells whether there is more. */
#define TASK_PAGE(col, key, at, cmp, dir)                                                          \
    "SELECT json_build_object("                                                                    \
    "'tasks', coalesce(json_agg(row_to_json(t) ORDER BY x." col " " dir ", x.id " dir "), '[]'),"  \
    " 'cursors', coalesce(json_agg(" key " ORDER BY x." col " " dir ", x.id " dir "), '[]'))::text"\
    " FROM (SELECT t.id, t." col " FROM tasks t"                                                   \
    " WHERE t." col " IS NOT NULL AND ($1::text IS NULL OR t.state = $1)"                          \
    " AND ($2::text IS NULL OR t.name = $2) AND ($3::text IS NULL OR t.worker = $3)"               \
    " AND ($4::text IS NULL OR (t.args::text || ' ' || t.kwargs::text) ILIKE '%' ||"               \
    " replace(replace(replace($4, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')"       \
    " AND ($5::timestamptz IS NULL OR t.created_at >= $5::timestamptz)"                            \
    " AND ($6::timestamptz IS NULL OR t.created_at < $6::timestamptz)"                             \
    " AND ($8::uuid IS NULL OR (t." col ", t.id) " cmp " " at ")"                                  \
    " ORDER BY t." col " " dir ", t.id " dir " LIMIT $9::int) x JOIN tasks t USING (id)"

int
store_task_cursor_parse(const char *s, enum store_task_sort sort, char *key, size_t keylen,
                        char *id)
{
    bool runtime = sort == STORE_SORT_SLOWEST || sort == STORE_SORT_FASTEST;
    const char *us = runtime ? NULL : s, *sep = s != NULL ? strchr(s, '_') : NULL;
    size_t n;

    if (sep == NULL || strlen(sep + 1) != UUID_STR_LEN - 1 || !uuid_is_valid(sep + 1))
        return -1;
    if (runtime) {
        char *end;
        double v;

        if (s[0] != 'w' || sep == s + 1)
            return -1;
        v = strtod(s + 1, &end);
        if (end != sep || !isfinite(v) || v < 0) /* wall_s: seconds, never negative */
            return -1;
        s++;
    } else {
        /* Digits only: a bigint, and far past any real time. */
        if (sep == us || sep - us > 18 || strspn(us, "0123456789") != (size_t)(sep - us))
            return -1;
    }
    n = (size_t)(sep - s);
    if (n >= keylen)
        return -1;
    memcpy(key, s, n);
    key[n] = '\0';
    memcpy(id, sep + 1, UUID_STR_LEN);
    return 0;
}

cJSON *
store_task_list(PGconn *db, const struct store_task_query *q, int *rc)
{
    static const char *const pages[][2] = {
        /* by time: down (newest first), up */
        {TASK_PAGE("created_at", TIME_KEY, TIME_AT, "<", "DESC"),
         TASK_PAGE("created_at", TIME_KEY, TIME_AT, ">", "ASC")},
        /* by run time: down (slowest first), up */
        {TASK_PAGE("wall_s", RUNTIME_KEY, RUNTIME_AT, "<", "DESC"),
         TASK_PAGE("wall_s", RUNTIME_KEY, RUNTIME_AT, ">", "ASC")},
    };
    bool runtime = q->sort == STORE_SORT_SLOWEST || q->sort == STORE_SORT_FASTEST;
    bool descending = q->sort == STORE_SORT_NEWEST || q->sort == STORE_SORT_SLOWEST;
    /* A page before the cursor is read from it outwards, the other way. */
    bool down = descending != q->backward;
    char lim[16];
    const char *params[9] = {q->state, q->name, q->worker, q->q, q->created_after,
                             q->created_before, q->cursor_id != NULL ? q->cursor_key : NULL,
                             q->cursor_id, lim};
    cJSON *page, *tasks, *out, *t, *c;
    int n;

    snprintf(lim, sizeof lim, "%d", q->limit + 1);
    page = store_query_json(db, "list tasks", pages[runtime][!down], 9, params, rc);
    if (page == NULL)
        return NULL;
    tasks = cJSON_DetachItemFromObjectCaseSensitive(page, "tasks");
    c = cJSON_GetObjectItemCaseSensitive(page, "cursors");
    c = c != NULL ? c->child : NULL;
    for (t = tasks != NULL ? tasks->child : NULL; t != NULL && c != NULL; t = t->next, c = c->next)
        cJSON_AddItemToObject(t, "cursor", cJSON_Duplicate(c, false));
    n = cJSON_GetArraySize(tasks);
    if (n > q->limit) /* the row past the page */
        cJSON_DeleteItemFromArray(tasks, q->limit);
    /* A page before the cursor was read from it outwards: turn it to page order. */
    if (q->backward) {
        cJSON *rev = cJSON_CreateArray();
        while ((t = cJSON_DetachItemFromArray(tasks, 0)) != NULL)
            cJSON_InsertItemInArray(rev, 0, t);
        cJSON_Delete(tasks);
        tasks = rev;
    }
    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "tasks", tasks);
    cJSON_AddBoolToObject(out, "more", n > q->limit);
    cJSON_Delete(page);
    return out;
}

cJSON *
store_task_related(PGconn *db, const char *id, int limit, int *rc)
{
    /* A Celery retry names its own id as parent_id: never a child of itself. */
    static const char sql[] =
        "SELECT json_build_object('parent_id', k.parent_id, 'parent', (SELECT json_build_object("
        "'id', p.id, 'name', p.name, 'state', p.state) FROM tasks p WHERE p.id = k.parent_id),"
        " 'children', (SELECT coalesce(json_agg(c ORDER BY c.created_at DESC, c.id DESC), '[]')"
        " FROM (SELECT id, name, state, created_at FROM tasks WHERE parent_id = k.id"
        " AND id <> k.id ORDER BY created_at DESC, id DESC LIMIT $2::int) c),"
        " 'chat', (SELECT coalesce(json_agg(m ORDER BY m.seq DESC), '[]') FROM (SELECT id, seq,"
        " room, author, body, sent_at FROM chat_messages WHERE task_id = k.id"
        " ORDER BY seq DESC LIMIT $2::int) m))::text FROM tasks k WHERE k.id = $1::uuid";
    char lim[16];
    const char *params[] = {id, lim};

    snprintf(lim, sizeof lim, "%d", limit);
    return store_query_json(db, "task lineage", sql, 2, params, rc);
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

