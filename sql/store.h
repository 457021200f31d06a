/* sql/store.h - every query celeriac makes, over libpq. Used by the webapp,
 * the CLI and the workers. Every query is parameterized; rows go out as JSON
 * built by PostgreSQL itself (row_to_json), so the API's field names are the
 * column names. Task state changes notify channel 'task_state' in the same
 * statement. */
#ifndef CELERIAC_STORE_H
#define CELERIAC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <cJSON.h>

/* Results of store calls that can fail in more than one way. */
enum store_rc {
    STORE_OK = 0,
    STORE_ERR = -1,       /* connection or server trouble: worth retrying later */
    STORE_BAD_DATA = -2,  /* PostgreSQL refused the values (bad UTF-8, NUL, ...) */
    STORE_NOT_FOUND = -3, /* no such row */
    STORE_BUSY = -4,      /* another session holds the row's run (store_task_started) */
};

#define STORE_LIST_MAX 1000 /* most rows one list call returns */

/* Connect (connect_timeout 5 s) and name the connection. NULL with the reason
 * in err (never the password). */
PGconn *store_open(const char *database_url, const char *app_name, char *err, size_t errlen);
void store_close(PGconn *db);
bool store_is_ok(PGconn *db);
/* Run "SELECT 1". STORE_OK or STORE_ERR. */
int store_ping(PGconn *db);

/* ----- tasks, as the webapp and CLI see them ----- */

struct store_task;

/* Insert n PENDING rows in one statement and one commit (before their
 * messages are published), with their group's unconfirmed_publishes row;
 * *group receives its id. STORE_OK, STORE_BAD_DATA (a value was refused:
 * nothing is stored) or STORE_ERR. */
int store_tasks_create(PGconn *db, const struct store_task *t, int n, long long *group);
/* After a publish round: drop the groups whose messages are all settled,
 * keep in the others only the ids whose confirm never came (unknown). A
 * progress mark (no wait for the WAL flush). */
int store_publishes_settle(PGconn *db, const long long *groups, int ngroups,
                           const char *const *unknown, int nunknown);
/* Delete rows whose publish definitely failed, unless a worker took them. */
int store_tasks_forget_pending(PGconn *db, const char *const *ids, int n);
/* Inside a transaction: lock up to limit groups older than age_s seconds
 * (their confirm never came, or their producer died before publishing),
 * skipping groups another sweeper holds. {"groups": [ids], "tasks": [{id,
 * name, queue, args, kwargs, origin, parent_id, eta, expires}]} with their tasks still
 * PENDING, or NULL with *rc set. */
cJSON *store_unconfirmed_claim(PGconn *db, double age_s, int limit, int *rc);
/* Inside the same transaction: delete the claimed groups (a JSON array of ids). */
int store_unconfirmed_delete(PGconn *db, const cJSON *groups);
/* One task as a JSON object (caller frees), or NULL with *rc set. */
cJSON *store_task_get(PGconn *db, const char *id, int *rc);
/* The orders of a task list: by created_at (newest or oldest first), or by
 * run time, wall_s (slowest or fastest first; tasks that never ran, with no
 * wall_s, are left out then). Ties go by id. */
enum store_task_sort { STORE_SORT_NEWEST, STORE_SORT_OLDEST, STORE_SORT_SLOWEST, STORE_SORT_FASTEST };

/* A page of the task list (GET /tasks, GET /api/tasks). Every filter is
 * optional (NULL = any); they combine with AND. */
struct store_task_query {
    const char *state, *name, *worker; /* exact */
    const char *q;                     /* text in args or kwargs, case-insensitive, literal */
    const char *created_after;         /* ISO 8601: created_at >= it */
    const char *created_before;        /* ISO 8601: created_at < it */
    enum store_task_sort sort;
    /* Keyset: the page after (or, with backward, before) the task whose
     * sort key and id these are, in the page order. cursor_id NULL: the
     * first page. */
    const char *cursor_key; /* created_at in microseconds, or wall_s (cursor_parse) */
    const char *cursor_id;
    bool backward;
    int limit;
};
/* {"tasks": [...], "more": bool} in page order, each task its row plus
 * "cursor" (store_task_cursor_parse() reads it back); "more": further tasks
 * lie beyond the page in its direction. NULL with *rc set. */
cJSON *store_task_list(PGconn *db, const struct store_task_query *q, int *rc);
/* A task's place in a list of that sort as text: "<created_at in
 * microseconds since the epoch>_<id>" by time, "w<wall_s>_<id>" by run
 * time. 0 with key (the number's text, keylen bytes) and id (UUID_STR_LEN
 * bytes) set, or -1 (not a cursor of that sort). */
int store_task_cursor_parse(const char *s, enum store_task_sort sort, char *key, size_t keylen,
                            char *id);
/* What a task's page shows beside its row: {"parent": {id, name, state} or
 * null, "parent_id": the column, "children": [{id, name, state, created_at}],
 * "chat": [{id, room, author, body, sent_at}]}: the newest `limit` children
 * and chat messages. NULL with *rc set (STORE_NOT_FOUND: no such task). */
cJSON *store_task_related(PGconn *db, const char *id, int limit, int *rc);
/* The task's log lines, oldest first, as a JSON array; STORE_NOT_FOUND when
 * the task itself does not exist. */
cJSON *store_task_logs(PGconn *db, const char *id, int *rc);
/* True for a Celery state name. */
bool store_state_valid(const char *state);
/* True for SUCCESS, FAILURE and REVOKED: a task in one of these never runs again. */
bool store_state_final(const char *state);

/* ----- tasks, as a worker child's engine moves them (store_engine.c) ----- */

/* A task as the store records it: plain values, nothing of the wire. */
struct store_task {
    const char *id;          /* UUID text */
    const char *name;
    const char *queue;
    const char *args_json;   /* JSON text; NULL means [] */
    const char *kwargs_json; /* JSON text; NULL means {} */
    const char *origin;      /* the sender's node name, or NULL */
    const char *parent_id;   /* the task that started this one (a UUID), or NULL */
    int retries;
    const char *eta, *expires; /* ISO 8601 or NULL (a PENDING row keeps them for the sweeper) */
};

/* A log line kept by a running task until its final state is written. */
struct store_log_line {
    const char *level;
    char *message;
    char at[40]; /* ISO 8601 time it was logged */
};

/* A message to publish later (scheduled_tasks): Celery v2 headers and body. */
struct store_schedule {
    const char *due_at;       /* ISO 8601 */
    const char *headers_json; /* a JSON object */
    const char *body;
    const char *reply_to;     /* or NULL */
    int priority;             /* < 0: none */
};

/* What one task's run comes to, as a child commits it with others: a final
 * state, or RETRY / RECEIVED with a schedule (a retry's back-off, an ETA). */
struct store_final {
    struct store_task task;
    const char *state;       /* SUCCESS, FAILURE, REVOKED, or RETRY/RECEIVED with sched */
    const char *result_json; /* valid JSON text, or NULL for SQL NULL */
    const char *error;       /* FAILURE/RETRY/REVOKED: what went wrong; NULL otherwise */
    const char *outcome;     /* how it ended: tasks.outcome (sql/003_reliability.sql) */
    const char *received_at; /* ISO 8601 UTC times taken by the worker */
    const char *started_at;
    const char *finished_at; /* NULL while not final */
    double wall_s, cpu_s;    /* < 0: not measured */
    long rss_kib;            /* < 0: not measured */
    const struct store_schedule *sched; /* publish again at sched->due_at, or NULL */
    const struct store_log_line *logs;
    int nlogs;
    /* The first logs_flushed lines were written as it ran (committed
     * asynchronously: a crash may have lost them); each is inserted again
     * only if it is not there. */
    int logs_flushed;
};

/* Set found[i] for each ids[i] that has a row; with final_only, only rows
 * already SUCCESS, FAILURE or REVOKED (such a task must not run again). ids
 * must be valid UUIDs. STORE_OK or negative. */
int store_tasks_find(PGconn *db, const char *const *ids, int n, bool final_only, bool *found);
/* Mark t STARTED by worker, creating its row when a foreign client sent it,
 * and take the run's lease (a task_leases row naming worker and pid, good
 * for STORE_LEASE_S unless renewed, until store_task_unlock()): a copy of
 * the message redelivered while this run goes on (its connection died,
 * consumer_timeout) finds it taken. No session state: it holds behind
 * PgBouncer in transaction mode. A progress mark: it commits without
 * waiting for the WAL flush (a crash may lose it, never a final state). 1
 * when marked, 0 when the row is final already (do not run the task),
 * STORE_BUSY when another live run holds the lease, or negative. */
int store_task_started(PGconn *db, const struct store_task *t, const char *worker, int pid);
/* Insert a running task's log lines now (n of them) and notify task_log
 * with its id; committed asynchronously, like the STARTED mark. */
int store_task_logs_add(PGconn *db, const char *id, const struct store_log_line *logs, int n);
/* Record a STARTED task's progress (0..100) and notify task_state with it;
 * committed asynchronously, like the STARTED mark. */
int store_task_progress(PGconn *db, const char *id, int percent);
/* Release the lease store_task_started() took for task id (if it is still
 * worker's and pid's). */
int store_task_unlock(PGconn *db, const char *id, const char *worker, int pid);
/* Inside an open transaction: lock t's row until commit (creating it), so
 * that two runs of one task id cannot both commit effects. 1 when claimed, 0
 * when the row is final already, or negative. */
int store_task_claim(PGconn *db, const struct store_task *t, const char *worker);
/* Write n final states by worker and their log lines in one statement with
 * one notification, in the caller's transaction when one is open. A row that
 * is final already is left as it is (with no log lines added). STORE_OK,
 * STORE_BAD_DATA when PostgreSQL refused a value, or STORE_ERR. */
int store_tasks_finish(PGconn *db, const struct store_final *f, int n, const char *worker);

/* ----- the reliable pool (store_pool.c) ----- */

/* What a redelivered task went through before. */
struct store_seen {
    bool found, final;
    int lost;              /* runs cut short by the death of their child */
    int retries;           /* the row's: higher than a message's when a later attempt exists */
    char lost_reason[256]; /* the last such death: "killed by signal 9, RSS 812 MB" */
};
/* out[i] for each ids[i] (valid UUIDs). STORE_OK or negative. */
int store_tasks_seen(PGconn *db, const char *const *ids, int n, struct store_seen *out);
/* The master lost task id with its child: count it (creating the row when the
 * child had not written it yet). The new count, 0 when the row is final, or
 * negative. */
int store_task_lost(PGconn *db, const char *id, const char *name, const char *worker,
                    const char *reason);
/* The master ended task id itself (a hard time limit killed its child):
 * state, error and outcome, a log line, the notification. A final row is
 * left as it is. */
int store_task_end(PGconn *db, const char *id, const char *name, const char *worker,
                   const char *state, const char *error, const char *outcome);

/* How long a long task's lease (store_task_started()) holds unless its
 * master renews it: a master renews its children's with each heartbeat. */
#define STORE_LEASE_S 30
/* Renew the leases of worker's children pids[0..n) (its heartbeat), and drop
 * every lease that ran out (its run is gone). A store_rc. */
int store_leases_renew(PGconn *db, const char *worker, const int *pids, int n);
/* Drop the leases of worker's child pid, which died: its run is over. */
int store_leases_drop(PGconn *db, const char *worker, int pid);

/* Revoke task id: its row becomes REVOKED unless final (created when
 * missing), the revocation is kept in table revocations (where it takes
 * the next seq of worker_signals: store_signals_poll()), and channel
 * 'task_revoked' hears {"id", "terminate"} (for workers of earlier
 * versions, which LISTENed). state receives the state before ("" when no
 * row existed). */
int store_revoke(PGconn *db, const char *id, bool terminate, char *state, size_t statelen);

/* What a worker follows by polling, with no LISTEN (a transaction pooler
 * cannot carry one; sql/010_pooler.sql): how far it has read. */
struct store_signals {
    long long seq;        /* revocations read up to this seq; -1: none yet */
    long long pauses_seq; /* the paused queues as of this change; -1: not read yet */
};
/* One short statement. {"revoked": [{"id", "terminate"}...], "paused":
 * [queue names] or null} (caller frees), and s moved on: the revocations
 * made after s->seq (at most limit; seq -1, or a database that went back
 * to an earlier seq, gives the newest limit of them instead); "paused" is
 * the whole set, when want_pauses and it changed since s->pauses_seq. NULL
 * with *rc set (not logged: callers poll often). */
cJSON *store_signals_poll(PGconn *db, struct store_signals *s, int limit, bool want_pauses,
                          int *rc);

/* LISTEN on channel (an identifier of ours, not user input). LISTEN needs a
 * session: only the webapp's own direct connection uses it. */
int store_listen(PGconn *db, const char *channel);
typedef void (*store_notify_fn)(const char *channel, const char *payload, void *arg);
/* Hand every notification db has received so far to fn, reading what the
 * socket holds without waiting. The count, or -1 when the connection broke. */
int store_notifications(PGconn *db, store_notify_fn fn, void *arg);

/* Keep a message to publish when s->due_at comes (scheduled_tasks), with a
 * PENDING row for t when it has none (t->name NULL: no row). A schedule
 * already pending for the id is kept. A store_rc. */
int store_schedule(PGconn *db, const struct store_task *t, const char *queue,
                   const struct store_schedule *s);
/* Inside a transaction: lock up to limit due schedules, skipping those
 * another master holds: [{id, queue, headers, body, reply_to, priority}]. */
cJSON *store_scheduled_claim(PGconn *db, int limit, int *rc);
/* Inside the same transaction: delete the schedules published. */
int store_scheduled_delete(PGconn *db, const char *const *ids, int n);

/* Periodic tasks: [{name, task, cron, args, kwargs, queue, enabled,
 * next_run_at, next_run_epoch, last_run_at, last_task_id, total_runs}].
 * claim locks up to limit due ones inside a transaction (SKIP LOCKED);
 * fired moves one on in the same transaction. */
cJSON *store_periodic_claim(PGconn *db, int limit, int *rc);
int store_periodic_fired(PGconn *db, const char *name, const char *next_run_at,
                         const char *task_id);
/* Add or replace (STORE_BAD_DATA: a value was refused). */
int store_periodic_put(PGconn *db, const char *name, const char *task, const char *cron,
                       const char *args_json, const char *kwargs_json, const char *queue,
                       const char *next_run_at);
/* All of them (name NULL) or the one named, as a JSON array. */
cJSON *store_periodic_list(PGconn *db, const char *name, int *rc);
/* STORE_NOT_FOUND when no such name. next_run_at NULL keeps the stored one. */
int store_periodic_remove(PGconn *db, const char *name);
int store_periodic_enable(PGconn *db, const char *name, bool enabled, const char *next_run_at);

/* ----- transactions (store.c) ----- */

/* BEGIN, COMMIT, ROLLBACK; the savepoint functions use one savepoint named
 * "task" (one task writes at a time). STORE_OK or negative; failures are not
 * logged: the caller knows what it was doing (store_error_message()). */
int store_begin(PGconn *db);
int store_commit(PGconn *db);
int store_rollback(PGconn *db);
int store_savepoint(PGconn *db);
int store_release_savepoint(PGconn *db);
int store_rollback_to_savepoint(PGconn *db);
/* True while db is inside a transaction block (open or failed). */
bool store_in_transaction(PGconn *db);
/* The last error on db, one line, for a log message. */
const char *store_error_message(PGconn *db);

/* Bytes through a statement: which parameters are binary (a bytea's bytes)
 * and whether the results come back binary, as PQexecParams() takes them. */
struct store_binary {
    const int *lengths, *formats; /* per parameter; formats NULL: all text */
    int result_format;            /* 1: every column in binary */
};

/* Run a handler's statement (text params unless bin says otherwise; bin may
 * be NULL). The result (caller PQclear()s) when it succeeded, else NULL
 * with *rc STORE_ERR when the server cannot take statements now (connection
 * lost, read-only, disk full, deadlock...) or STORE_BAD_DATA when
 * PostgreSQL refused this one (the task's fault). Not logged. */
PGresult *store_task_sql(PGconn *db, const char *sql, int n, const char *const *params,
                         const struct store_binary *bin, int *rc);

/* ----- workers ----- */

/* Upsert the worker's row; registered_json (its tasks, as registry_json()
 * writes them) replaces the stored list unless NULL; active_json lists the
 * running tasks [{id, name, child, pid, running_s}]; rss_kib is the master's
 * and its children's RSS (-1: unknown). */
int store_worker_heartbeat(PGconn *db, const char *hostname, int pid, int concurrency,
                           const char *queues_csv, long processed, long failed, int active,
                           const char *registered_json, const char *active_json, long rss_kib);
int store_worker_stopped(PGconn *db, const char *hostname);
/* A master silent this long (3 heartbeats of 5 s) is offline. */
#define STORE_OFFLINE_AFTER "interval '15 seconds'"
/* Every worker row, online ones first, with "online" and "heartbeat_age_s":
 * a JSON array (caller frees), or NULL with *rc set. */
cJSON *store_workers_list(PGconn *db, int *rc);
/* The tasks the workers that are up registered, one per name, sorted:
 * [{"name", "doc", "example_args", "queue"}]. NULL with *rc set. */
cJSON *store_registered_tasks(PGconn *db, int *rc);

/* ----- articles and saved sites (store_articles.c) ----- */

/* A search of the articles scrape.site stored (NULL or "" = no filter). */
struct store_article_query {
    const char *q;       /* text in title or summary, case-insensitive, taken literally */
    const char *site;    /* exact site (host[:port]) */
    const char *task_id; /* the scrape that stored them: a valid UUID */
    int limit, offset;
};
/* {"articles": [...], "total": N}, newest first (published, else first
 * stored), each article without its body. Times are ISO 8601 UTC ("...Z").
 * NULL with *rc set. */
cJSON *store_articles_list(PGconn *db, const struct store_article_query *q, int *rc);
/* One article with its body, or NULL with *rc set (STORE_NOT_FOUND). id is
 * decimal digits. */
cJSON *store_article_get(PGconn *db, const char *id, int *rc);
/* The sites with articles and how many each: [{"site", "count"}], by site,
 * at most limit of them. */
cJSON *store_article_sites(PGconn *db, int limit, int *rc);

#define STORE_SITE_TASK "scrape.site" /* the task a saved site's periodic row runs */
/* Saved sites: the periodic tasks that run scrape.site. The periodic row's
 * name for url ("site-" and 16 hex digits of md5(url)), written into name
 * (at least 22 bytes). A store_rc. */
int store_site_name(PGconn *db, const char *url, char *name, size_t namelen);
/* All saved sites (name NULL) or the one named, as a JSON array: [{"id",
 * "url", "max_pages", "follow", "cron", "enabled", "next_run_at",
 * "last_run_at", "total_runs", "created_at", "last_task": null or {"id",
 * "state", "finished_at", "new", "updated", "unchanged", "failed",
 * "not_modified", "fetched", "articles"}}]. A periodic task of another task
 * is not a site. NULL with *rc set. */
cJSON *store_sites_list(PGconn *db, const char *name, int *rc);
/* A scrape of site name was enqueued by hand: it becomes the last one.
 * STORE_NOT_FOUND when the site is gone. */
int store_site_scraped(PGconn *db, const char *name, const char *task_id);

/* ----- files and conversions (store_files.c) ----- */

/* An upload to store: its bytes are read from fd (size of them, from offset 0). */
struct store_file_in {
    const char *id;           /* a new UUID */
    const char *name;         /* valid UTF-8 (metadata only) */
    const char *format;       /* "csv", "png", ...; NULL: unknown */
    const char *content_type; /* from the bytes */
    int fd;
    uint64_t size;
};
/* Store f in one transaction, its bytes streamed with COPY in pieces (never
 * held whole); PostgreSQL computes the sha256, written (lower-case hex) into
 * sha256. STORE_OK, STORE_BAD_DATA (a value refused) or STORE_ERR (the
 * server, or the file could not be read back: logged); nothing is stored on
 * failure. */
int store_file_put(PGconn *db, const struct store_file_in *f, char sha256[65]);
/* A file's metadata {"id", "name", "format", "content_type", "size",
 * "sha256", "source_id", "task_id", "created_at"}, or NULL with *rc set
 * (STORE_NOT_FOUND). id must be a valid UUID. */
cJSON *store_file_get(PGconn *db, const char *id, int *rc);
/* {"files": [metadata...], "total": N}, newest first. */
cJSON *store_files_list(PGconn *db, int limit, int offset, int *rc);
/* Up to len bytes of file id's data from offset into out; *got says how
 * many (0 past its end). STORE_OK, STORE_NOT_FOUND (no such file) or
 * STORE_ERR (logged). */
int store_file_read(PGconn *db, const char *id, uint64_t offset, void *out, size_t len,
                    size_t *got);
/* {"conversions": [{"task_id", "state", "progress", "error", "to",
 * "created_at", "finished_at", "source_id", "source": {"id", "name",
 * "format", "size"} or null, "output": the same or null}], "total": N}: the
 * convert.file tasks newest first, and the outputs whose task row is gone
 * (shown SUCCESS). */
cJSON *store_conversions_list(PGconn *db, int limit, int offset, int *rc);
/* What the online workers that registered convert.file can convert:
 * {"online": true when at least one did, "conversions": {"csv": ["json"],
 * ...}} (the union of their registry entries' "conversions"). */
cJSON *store_conversion_offers(PGconn *db, int *rc);

/* ----- chat (store_chat.c) ----- */

/* A room's messages as chat.persist stored them (sql/006_chat.sql), in seq
 * order: [{"id", "seq", "room", "author", "body", "sent_at",
 * "persisted_at"}], times ISO 8601 UTC to the millisecond ("...Z"). after
 * >= 0: the first limit messages with seq > after; after < 0: the latest
 * limit messages (still oldest first). NULL with *rc set. */
cJSON *store_chat_messages(PGconn *db, const char *room, long long after, int limit, int *rc);
/* The seq of message id (a valid UUID) in room, or -1 with *rc
 * (STORE_NOT_FOUND: no such message in that room, or not stored yet). */
long long store_chat_seq(PGconn *db, const char *room, const char *id, int *rc);
/* The rooms with messages, most recently active first, at most limit:
 * [{"room", "count", "last_seq", "last_sent_at"}]. NULL with *rc set. */
cJSON *store_chat_rooms(PGconn *db, int limit, int *rc);

/* ----- queues: pauses, the workers' queues, requeued dead letters (store_queues.c) ----- */

/* The queues the operator paused: [{"queue", "paused_at", "paused_by"}], by
 * name. NULL with *rc set. */
cJSON *store_queue_pauses(PGconn *db, int *rc);
/* Pause (a row in queue_pauses, paused_by = by) or resume (the row deleted)
 * queue for every worker (they poll: store_signals_poll()); channel
 * 'queue_pause' hears {"queue", "paused"} when a row changed (for workers of
 * earlier versions), and *changed says whether one did. A store_rc. */
int store_queue_pause(PGconn *db, const char *queue, bool paused, const char *by, bool *changed);
/* {"consumed": [{"queue", "workers": [online hostnames]}], "paused": [as
 * store_queue_pauses()]}: every queue a worker row names (at most
 * STORE_LIST_MAX), and the paused ones. NULL with *rc set. */
cJSON *store_queue_sources(PGconn *db, int *rc);
/* A dead letter of task_id is being requeued to queue: a FAILURE row goes
 * back to PENDING (with a log line) so that a worker runs it again; other
 * rows are left alone. state receives the state before ("" when no row). A
 * store_rc. */
int store_task_requeued(PGconn *db, const char *task_id, const char *queue, char *state,
                        size_t statelen);

/* ----- the dashboard's numbers and /metrics (store_stats.c) ----- */

/* The window the per-minute series, the run time percentiles and the
 * histogram cover: the current minute (UTC) and the 59 before it. A run is
 * a task that ended SUCCESS or FAILURE in it (by finished_at). */
#define STORE_STATS_WINDOW_S 3600
/* Most task names a percentile table or a metric family lists (the busiest
 * ones): task names come from clients, so they are bounded here. */
#define STORE_STATS_NAMES_MAX 100

/* Everything the dashboard shows, from one snapshot:
 * {"generated_at", "window": {"since", "until", "seconds"},
 *  "counts": {"PENDING": n, ... every state, in Celery's order}, "total": n,
 *  "per_minute": [{"minute", "succeeded", "failed"}, ... 60, oldest first],
 *  "runtime": [{"name", "count", "p50", "p95", "p99"}] (seconds, of the
 *     window's runs with a measured wall_s; the STORE_STATS_NAMES_MAX names
 *     with most runs, sorted by name; percentile_cont: interpolated),
 *  "workers_online": n}. Times ISO 8601 UTC ("...Z"). NULL with *rc set. */
cJSON *store_stats(PGconn *db, int *rc);
/* What /metrics reads, from one snapshot: {"tasks": [{"name", "state",
 * "count"}] (every row of tasks), "runtime": [{"name", "count", "sum",
 * "first": [[k, n], ...]}] (the window's timed runs: n of them fall in
 * bucket k first, the smallest of the nbounds ascending bounds that holds
 * them, k = nbounds for none), "workers_online": n}. A name past the
 * STORE_STATS_NAMES_MAX busiest is null (the rest, summed). */
cJSON *store_metrics(PGconn *db, const double *bounds, int nbounds, int *rc);

#endif
