/* sql/store_events.h - what the webapp's live updates read (webapp/events.c):
 * the chat messages, task log lines and task states a Server-Sent Events
 * stream carries, read after a notification or replayed after a reconnect.
 * Read-only; every query walks an index (chat_messages.seq, task_logs
 * (task_id, id), tasks' primary key and created_at). Kept apart from
 * store.h because only the webapp's event hub uses them. */
#ifndef CELERIAC_STORE_EVENTS_H
#define CELERIAC_STORE_EVENTS_H

#include <cJSON.h>
#include <libpq-fe.h>

/* Chat messages with after < seq (<= upto when upto >= 0), oldest first, at
 * most limit: [{"id", "seq", "room", "author", "body", "sent_at"}], sent_at
 * ISO 8601 UTC to the millisecond. rooms_json: a JSON array of room names to
 * keep, or NULL for every room. NULL with *rc set. */
cJSON *store_events_chat(PGconn *db, long long after, long long upto, const char *rooms_json,
                         int limit, int *rc);
/* The highest chat seq stored (0 for none) into *seq. STORE_OK or STORE_ERR. */
int store_events_chat_max(PGconn *db, long long *seq);

/* The newest log line id of a task (0 for none) into *id. STORE_OK or STORE_ERR. */
int store_events_log_max(PGconn *db, const char *task_id, long long *id);
/* Log lines of several tasks at once. marks_json: [{"id": task id, "after": N,
 * "upto": M}] (upto < 0: no bound): each task's lines with after < id <= upto,
 * at most limit per task, as [{"task_id", "id", "level", "message", "at"}]
 * ordered by task, then id; "at" ISO 8601 UTC to the millisecond. */
cJSON *store_events_logs(PGconn *db, const char *marks_json, int limit, int *rc);

/* The current state of the tasks whose ids are in ids_json (a JSON array):
 * [{"id", "name", "state", "progress"}] (progress null until reported);
 * unknown ids are left out. */
cJSON *store_events_tasks(PGconn *db, const char *ids_json, int *rc);
/* Among the recent newest-created tasks, those created, received, started or
 * finished after since (Unix seconds), as above, the least recently changed
 * first. Bounded by recent so that it stays an index scan however large the
 * table: a task created before the newest recent is not looked at. */
cJSON *store_events_tasks_since(PGconn *db, double since, int recent, int *rc);

#endif
