/* sql/store_tasks.c - the tasks and task_logs tables. */
#include "sql/store.h"
#include "sql/store_internal.h"

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
 * microsecond (extract() is exact numeric) and the id breaking ties. */
#define TASK_KEY                                                                                   \
    "(extract(epoch FROM t.created_at) * 1000000)::bigint::text || '_' || t.id::text"
/* The rows of a page in query order (cmp "<" with dir DESC walks towards
 * older tasks): its filters, then the keyset condition. $4 is the literal
 * text, made a LIKE pattern here (\ % _ escaped); with the values known when
 * PQexecParams plans the statement, the NULL tests fold away and each filter
 * can use its index (sql/008_task_pages.sql), the text its trigram index.
 * One row past the page tells whether there is more. */
#define TASK_PAGE(cmp, dir)                                                                        \
    "SELECT json_build_object("                                                                    \
    "'tasks', coalesce(json_agg(j ORDER BY created_at " dir ", id " dir "), '[]'),"                \
    " 'cursors', coalesce(json_agg(k ORDER BY created_at " dir ", id " dir "), '[]'))::text"       \
    " FROM (SELECT row_to_json(t) AS j, " TASK_KEY " AS k, t.created_at, t.id FROM tasks t"        \
    " WHERE ($1::text IS NULL OR t.state = $1) AND ($2::text IS NULL OR t.name = $2)"              \
    " AND ($3::text IS NULL OR t.worker = $3)"                                                     \
    " AND ($4::text IS NULL OR (t.args::text || ' ' || t.kwargs::text) ILIKE '%' ||"               \
    " replace(replace(replace($4, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')"                 \
    " AND ($5::timestamptz IS NULL OR t.created_at >= $5::timestamptz)"                            \
    " AND ($6::timestamptz IS NULL OR t.created_at < $6::timestamptz)"                             \
    " AND ($7::bigint IS NULL OR (t.created_at, t.id) " cmp                                        \
    " ('epoch'::timestamptz + $7::bigint * interval '1 microsecond', $8::uuid))"                   \
    " ORDER BY t.created_at " dir ", t.id " dir " LIMIT $9::int) x"

int
store_task_cursor_parse(const char *s, long long *us, char *id)
{
    const char *p = s;
    long long v = 0;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (p - s >= 18) /* a bigint, and far past any real time */
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (*p != '_' || strlen(p + 1) != UUID_STR_LEN - 1 || !uuid_is_valid(p + 1))
        return -1;
    *us = v;
    memcpy(id, p + 1, UUID_STR_LEN);
    return 0;
}

cJSON *
store_task_list(PGconn *db, const struct store_task_query *q, int *rc)
{
    /* Walking towards older tasks: newest first forwards, oldest first backwards. */
    static const char older[] = TASK_PAGE("<", "DESC"), newer[] = TASK_PAGE(">", "ASC");
    bool to_older = q->oldest_first == q->backward;
    char cursor[24], lim[16];
    /* $7, the cursor's time, is set below. */
    const char *params[9] = {q->state, q->name, q->worker, q->q, q->created_after,
                             q->created_before, NULL, q->cursor_id, lim};
    cJSON *page, *tasks, *out, *t, *c;
    int n;

    if (q->cursor_id != NULL) {
        snprintf(cursor, sizeof cursor, "%lld", q->cursor_us);
        params[6] = cursor;
    }
    snprintf(lim, sizeof lim, "%d", q->limit + 1);
    page = store_query_json(db, "list tasks", to_older ? older : newer, 9, params, rc);
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

