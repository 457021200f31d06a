/* worker/tasks/chat.c - chat.persist(id, room, author, body, sent_at): the
 * worker side of the chat gateway. The webapp validated and published the
 * message; this stores it in chat_messages through the task's context, in
 * the batch's transaction: a quick task, so a burst of messages commits at
 * the engine's batch speed, one commit and one notification per batch. */
#include "worker/tasks/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/uuid.h"

/* Insert under one advisory transaction lock, taken before the row's seq is
 * drawn and held until the batch commits: seq order is then commit order
 * (see sql/006_chat.sql). pg_notify('chat', '') in every insert is one
 * notification per transaction: PostgreSQL folds identical ones. A message
 * already stored (the same id sent again) inserts nothing and answers its
 * seq. */
static const char insert_sql[] =
    "WITH lk AS MATERIALIZED (SELECT pg_advisory_xact_lock(hashtextextended('celeriac.chat', 0))),"
    " ins AS (INSERT INTO chat_messages (id, room, author, body, sent_at, task_id)"
    "  SELECT $1::uuid, $2, $3, $4, $5::timestamptz, $6::uuid FROM lk"
    "  ON CONFLICT (id) DO NOTHING RETURNING seq)"
    " SELECT coalesce((SELECT seq FROM ins), (SELECT seq FROM chat_messages WHERE id = $1::uuid)),"
    "        EXISTS (SELECT 1 FROM ins), pg_notify('chat', '')";

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

static bool
room_ok(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

int
task_chat_persist(struct task_ctx *t)
{
    static const char *const names[] = {"id", "room", "author", "body", "sent_at"};
    const cJSON *v[5];
    const char *params[6];
    PGresult *res;
    bool inserted;

    if (task_bind_args(t, names, 5) != TASK_OK)
        return TASK_FAILED;
    for (int i = 0; i < 5; i++) {
        v[i] = task_arg(t, i, names[i]);
        if (!cJSON_IsString(v[i]))
            return task_fail(t, "TypeError", "chat.persist(): %s must be a string", names[i]);
        params[i] = v[i]->valuestring;
    }
    /* The webapp checked all this; a Celery client sending the task itself
     * may not have. */
    if (!uuid_is_valid(params[0]))
        return task_fail(t, "ValueError", "chat.persist(): id must be a UUID");
    if (!room_ok(params[1]))
        return task_fail(t, "ValueError",
                         "chat.persist(): room must be 1 to 64 of A-Z a-z 0-9 _ -");
    if (blank(params[2]) || code_points(params[2]) > 64)
        return task_fail(t, "ValueError", "chat.persist(): author must be 1 to 64 characters");
    if (blank(params[3]) || code_points(params[3]) > 4000)
        return task_fail(t, "ValueError", "chat.persist(): body must be 1 to 4000 characters");
    params[5] = t->msg->id;
    if ((res = task_sql(t, insert_sql, 6, params)) == NULL)
        return TASK_FAILED; /* a bad sent_at among others: PostgreSQL's message says */
    inserted = PQgetvalue(res, 0, 1)[0] == 't';
    t->result = cJSON_CreateObject();
    cJSON_AddStringToObject(t->result, "id", params[0]);
    cJSON_AddStringToObject(t->result, "room", params[1]);
    cJSON_AddNumberToObject(t->result, "seq", (double)strtoll(PQgetvalue(res, 0, 0), NULL, 10));
    if (!inserted) {
        cJSON_AddTrueToObject(t->result, "duplicate");
        task_log(t, "message %s was stored already", params[0]);
    }
    PQclear(res);
    return TASK_OK;
}
