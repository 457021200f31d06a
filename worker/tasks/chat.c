/* worker/tasks/chat.c - chat.persist(id, room, author, body, sent_at): the
 * worker side of the chat gateway. The webapp validated and published the
 * message; this stores it in chat_messages through the task's context, in
 * the batch's transaction: a quick task, so a burst of messages commits at
 * the engine's batch speed, one commit and one notification per batch. */
#include "worker/tasks/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/uuid.h"

/* The batch's messages in one statement, under one advisory transaction
 * lock taken before their seqs are drawn and held until the batch commits:
 * seq order is then commit order (see sql/006_chat.sql), and the lock is
 * held for the end of a batch only, not while its tasks run. m: the
 * messages in delivery order; d: one per id (the same message sent twice);
 * ins: the new rows, seqs drawn in delivery order; one pg_notify for them
 * all. For each message, in order: its seq (the stored one when it was
 * there already) and whether this statement stored it. A sent_at without
 * an offset is UTC, as Celery sends times, whatever the session's zone. */
static const char batch_sql[] =
    "WITH m AS (SELECT id, room, author, body, CASE WHEN sent_at ~ '([Zz]|[+-][0-9:]+)$'"
    "  THEN sent_at::timestamptz ELSE sent_at::timestamp AT TIME ZONE 'UTC' END AS sent_at,"
    "  task_id, n FROM ROWS FROM (json_to_recordset($1::json) AS (id uuid, room text,"
    "  author text, body text, sent_at text, task_id uuid)) WITH ORDINALITY"
    "  AS m(id, room, author, body, sent_at, task_id, n)),"
    " d AS (SELECT DISTINCT ON (id) * FROM m ORDER BY id, n),"
    " lk AS MATERIALIZED (SELECT pg_advisory_xact_lock(hashtextextended('celeriac.chat', 0))),"
    " ins AS (INSERT INTO chat_messages (id, room, author, body, sent_at, task_id)"
    "  SELECT d.id, d.room, d.author, d.body, d.sent_at, d.task_id FROM d, lk ORDER BY d.n"
    "  ON CONFLICT (id) DO NOTHING RETURNING id, seq),"
    " nt AS MATERIALIZED (SELECT pg_notify('chat', '') WHERE EXISTS (SELECT 1 FROM ins))"
    " SELECT coalesce(i.seq, c.seq), i.id IS NOT NULL AND m.n = d.n, (SELECT count(*) FROM nt)"
    " FROM m JOIN d USING (id) LEFT JOIN ins i USING (id) LEFT JOIN chat_messages c USING (id)"
    " ORDER BY m.n";

static const char *const arg_names[] = {"id", "room", "author", "body", "sent_at"};
#define NARGS 5

/* Unicode code points in s (valid UTF-8, as every decoded string is). */
static size_t
code_points(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static bool
blank(const char *s)
{
    return s[strspn(s, " \t\r\n\f\v")] == '\0';
}

/* An ISO 8601 time both clock_parse_iso() and PostgreSQL read: checked
 * here, so that one bad message cannot fail its batch's statement (the batch
 * would then be written one message at a time to find it). */
static bool
sent_at_ok(const char *s)
{
    double epoch;
    int y, mon, day;

    return clock_parse_iso(s, &epoch) == 0 && strchr(s, ',') == NULL &&
           sscanf(s, "%4d-%2d-%2d", &y, &mon, &day) == 3 && day <= clock_days_in_month(y, mon);
}

static bool
room_ok(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* Check the message; its row is written with the batch's (chat_write_batch()). */
int
task_chat_persist(struct task_ctx *t)
{
    const char *v[NARGS];

    if (task_bind_args(t, arg_names, NARGS) != TASK_OK)
        return TASK_FAILED;
    for (int i = 0; i < NARGS; i++) {
        const cJSON *a = task_arg(t, i, arg_names[i]);
        if (!cJSON_IsString(a))
            return task_fail(t, "TypeError", "chat.persist(): %s must be a string", arg_names[i]);
        v[i] = a->valuestring;
    }
    /* The webapp checked all this; a Celery client sending the task itself
     * may not have. */
    if (!uuid_is_valid(v[0]))
        return task_fail(t, "ValueError", "chat.persist(): id must be a UUID");
    if (!room_ok(v[1]))
        return task_fail(t, "ValueError",
                         "chat.persist(): room must be 1 to 64 of A-Z a-z 0-9 _ -");
    if (blank(v[2]) || code_points(v[2]) > 64)
        return task_fail(t, "ValueError", "chat.persist(): author must be 1 to 64 characters");
    if (blank(v[3]) || code_points(v[3]) > 4000)
        return task_fail(t, "ValueError", "chat.persist(): body must be 1 to 4000 characters");
    if (!sent_at_ok(v[4]))
        return task_fail(t, "ValueError",
                         "chat.persist(): sent_at must be an ISO 8601 timestamp such as "
                         "2026-11-30T12:00:00.000Z");
    return task_defer(t);
}

/* The messages of b as one JSON array for json_to_recordset(); NULL on out
 * of memory. */
static char *
batch_json(const struct task_batch *b)
{
    cJSON *rows = cJSON_CreateArray();
    char *text;

    for (int k = 0; rows != NULL && k < b->n; k++) {
        struct task_ctx *t = b->tasks[k];
        cJSON *row = cJSON_CreateObject();

        if (row == NULL || !cJSON_AddItemToArray(rows, row))
            break;
        for (int i = 0; i < NARGS; i++)
            cJSON_AddStringToObject(row, arg_names[i], task_arg(t, i, arg_names[i])->valuestring);
        cJSON_AddStringToObject(row, "task_id", t->msg->id);
    }
    text = json_print(rows);
    cJSON_Delete(rows);
    return text;
}

int
chat_write_batch(struct task_batch *b)
{
    char *doc = batch_json(b);
    const char *params[1] = {doc};
    PGresult *res;

    if (doc == NULL)
        return TASK_FAILED;
    res = task_batch_sql(b, batch_sql, 1, params);
    cJSON_free(doc);
    if (res == NULL)
        return TASK_FAILED;
    if (PQntuples(res) != b->n) { /* one row per message, whatever happens */
        PQclear(res);
        return TASK_FAILED;
    }
    for (int k = 0; k < b->n; k++) {
        struct task_ctx *t = b->tasks[k];
        const char *id = task_arg(t, 0, arg_names[0])->valuestring;

        t->result = cJSON_CreateObject();
        cJSON_AddStringToObject(t->result, "id", id);
        cJSON_AddStringToObject(t->result, "room", task_arg(t, 1, arg_names[1])->valuestring);
        cJSON_AddNumberToObject(t->result, "seq", (double)strtoll(PQgetvalue(res, k, 0), NULL, 10));
        if (PQgetvalue(res, k, 1)[0] != 't') {
            cJSON_AddTrueToObject(t->result, "duplicate");
            task_log(t, "message %s was stored already", id);
        }
    }
    PQclear(res);
    return TASK_OK;
}
