/* sql/store_chat.c - what the webapp reads of the chat: the messages
 * chat.persist stored in chat_messages (sql/006_chat.sql), in persisted
 * order (seq), and the rooms they make up. The webapp never writes here:
 * a message reaches the table only through the broker and a worker. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <stdio.h>
#include <stdlib.h>

/* to_char()'s format for ISO 8601 UTC to the millisecond,
 * "2026-11-02T08:30:00.123Z", applied to "col AT TIME ZONE 'UTC'": the form
 * the webapp gives sent_at, so a message reads back as it was sent. */
#define UTC_MS " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define CHAT_MESSAGE                                                                               \
    "json_build_object('id', m.id, 'seq', m.seq, 'room', m.room, 'author', m.author, 'body',"      \
    " m.body, 'sent_at', to_char(m.sent_at" UTC_MS                                                 \
    ", 'persisted_at', to_char(m.persisted_at" UTC_MS ", 'task_id', m.task_id)"

cJSON *
store_chat_messages(PGconn *db, const char *room, long long after, int limit, int *rc)
{
    /* Both walk the (room, seq) index; the latest ones are read newest
     * first and handed out in seq order all the same. */
    static const char after_sql[] =
        "SELECT coalesce(json_agg(j ORDER BY seq), '[]')::text FROM (SELECT m.seq, " CHAT_MESSAGE
        " AS j FROM chat_messages m WHERE m.room = $1 AND m.seq > $3::bigint ORDER BY m.seq"
        " LIMIT $2::int) x";
    static const char latest_sql[] =
        "SELECT coalesce(json_agg(j ORDER BY seq), '[]')::text FROM (SELECT m.seq, " CHAT_MESSAGE
        " AS j FROM chat_messages m WHERE m.room = $1 ORDER BY m.seq DESC LIMIT $2::int) x";
    char l[16], a[24];
    const char *params[] = {room, l, a};

    snprintf(l, sizeof l, "%d", limit);
    snprintf(a, sizeof a, "%lld", after);
    if (after < 0)
        return store_query_json(db, "reading the latest chat messages", latest_sql, 2, params, rc);
    return store_query_json(db, "reading chat messages", after_sql, 3, params, rc);
}

long long
store_chat_seq(PGconn *db, const char *room, const char *id, int *rc)
{
    static const char sql[] = "SELECT seq FROM chat_messages WHERE id = $2::uuid AND room = $1";
    const char *params[] = {room, id};
    PGresult *res = store_exec(db, "finding a chat message", sql, 2, params, PGRES_TUPLES_OK, rc);
    long long seq = -1;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1)
        seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        *rc = STORE_NOT_FOUND;
    PQclear(res);
    return seq;
}

cJSON *
store_chat_rooms(PGconn *db, int limit, int *rc)
{
    /* A room is its messages: it exists from its first one on. */
    static const char sql[] =
        "SELECT coalesce(json_agg(json_build_object('room', room, 'count', n, 'last_seq', last_seq,"
        " 'last_sent_at', to_char(last_sent_at" UTC_MS ") ORDER BY last_seq DESC), '[]')::text"
        " FROM (SELECT room, count(*) AS n, max(seq) AS last_seq, max(sent_at) AS last_sent_at"
        " FROM chat_messages GROUP BY room ORDER BY max(seq) DESC LIMIT $1::int) r";
    char l[16];
    const char *params[] = {l};

    snprintf(l, sizeof l, "%d", limit);
    return store_query_json(db, "listing chat rooms", sql, 1, params, rc);
}
