/* sql/store.h - every query celeriac makes, over libpq. Used by the webapp,
 * the CLI and the workers. Every query is parameterized; rows go out as JSON
 * built by PostgreSQL itself (row_to_json), so the API's field names are the
 * column names. Task state changes notify channel 'task_state' in the same
 * statement. */
#ifndef CELERIAC_STORE_H
#define CELERIAC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>
#include <cJSON.h>

/* Results of store calls that can fail in more than one way. */
enum store_rc {
    STORE_OK = 0,
    STORE_ERR = -1,       /* connection or server trouble: worth retrying later */
    STORE_BAD_DATA = -2,  /* PostgreSQL refused the values (bad UTF-8, NUL, ...) */
    STORE_NOT_FOUND = -3, /* no such row */
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

/* Insert a PENDING row before the message is published. */
int store_task_create(PGconn *db, const char *id, const char *name, const char *queue,
                      const char *args_json, const char *kwargs_json, const char *origin,
                      char *err, size_t errlen);
/* Delete the row again when its publish failed, unless a worker already took it. */
int store_task_forget_pending(PGconn *db, const char *id);
/* One task as a JSON object (caller frees), or NULL with *rc set. */
cJSON *store_task_get(PGconn *db, const char *id, int *rc);
/* Newest first; state and name are optional filters (NULL = any). */
cJSON *store_task_list(PGconn *db, const char *state, const char *name, int limit, int *rc);
/* The task's log lines, oldest first, as a JSON array; STORE_NOT_FOUND when
 * the task itself does not exist. */
cJSON *store_task_logs(PGconn *db, const char *id, int *rc);
/* True for a Celery state name. */
bool store_state_valid(const char *state);
/* True for SUCCESS, FAILURE and REVOKED: a task in one of these never runs again. */
bool store_state_final(const char *state);

/* ----- tasks, as a worker child moves them ----- */

struct celery_msg;

/* A log line kept by a running task until its final state is written. */
struct store_log_line {
    const char *level;
    char *message;
    char at[40]; /* ISO 8601 time it was logged */
};

/* Mark the task RECEIVED by worker (creating the row when a foreign client
 * sent the task). 1: run it; 0: its row is already final, do not run it again;
 * or a negative enum store_rc.
 * RECEIVED and STARTED are progress marks: they commit without waiting for
 * the WAL flush (synchronous_commit off, for that transaction only). A
 * database crash may lose them, never the final state, whose synchronous
 * commit flushes every earlier one; store_task_finish() needs no earlier row. */
int store_task_receive(PGconn *db, const struct celery_msg *m, const char *queue,
                       const char *worker);
int store_task_start(PGconn *db, const char *id);
/* Write the final state, result (JSON text or NULL), error (or NULL) and the
 * buffered log lines in one statement, creating the row from m if it is gone.
 * Committed synchronously: the caller acks after it. STORE_OK or negative. */
int store_task_finish(PGconn *db, const struct celery_msg *m, const char *queue,
                      const char *worker, const char *state, const char *result_json,
                      const char *error, const struct store_log_line *logs, int nlogs);
/* Record FAILURE for a message that cannot run (unknown task, bad data),
 * creating the row if needed. */
int store_task_fail_unrunnable(PGconn *db, const char *id, const char *name, const char *queue,
                               const char *error, const char *worker);

/* ----- workers ----- */

int store_worker_heartbeat(PGconn *db, const char *hostname, int pid, int concurrency,
                           const char *queues_csv, long processed, long failed, int active);
int store_worker_stopped(PGconn *db, const char *hostname);

#endif
