/* worker/task.h - what a task handler sees: its arguments, a log, a way to
 * fail with a reason, and task_sql(), through which its database writes join
 * the transaction that commits its final state. Handlers never see a
 * connection. Runs in: child only. */
#ifndef CELERIAC_TASK_H
#define CELERIAC_TASK_H

#include <signal.h>
#include <libpq-fe.h>
#include <cJSON.h>

#include "broker/celery.h"
#include "common/clock.h"
#include "sql/store.h"

#define TASK_ERROR_MAX 1024
#define TASK_LOG_LINES_MAX 1000 /* further lines are counted, then dropped with a marker */
#define TASK_PROGRESS_EVERY_S 0.25 /* task_progress() writes at most this often */

struct engine; /* worker/engine.c: the child's batch and connections */

struct task_ctx {
    const struct celery_msg *msg; /* the task's message: args, kwargs, headers */
    struct engine *engine;        /* where task_sql() goes; NULL: no database (unit tests) */
    const char *worker;           /* node name of this worker */
    volatile sig_atomic_t *cancel; /* non-zero: stop early (polled by long tasks) */
    cJSON *result;                /* set by the handler on success; owned here */
    char exc_type[64];            /* set by task_fail(): e.g. "TypeError" */
    char error[TASK_ERROR_MAX];   /* set by task_fail(): the message */
    struct store_log_line *logs;  /* buffered until the final state is written */
    int nlogs, logs_cap, logs_dropped;
    /* Kept by the engine: */
    bool wrote;     /* task_sql() opened the task's savepoint and claimed its row */
    bool db_lost;   /* a statement failed on the connection: the run does not count */
    bool duplicate; /* the claim found the row final already: the run does not count */
    bool sql_failed; /* a statement was refused: later ones are not sent, the task fails */
    bool deferred;   /* task_defer(): its writes and result come from its write_batch() */
    int nlogs_run;   /* lines it had when its run ended, before any write_batch() added more */
    double retry_countdown; /* task_retry(): seconds before the next attempt; < 0: back-off */
    int logs_flushed;       /* lines written as it ran (engine_task_flush_logs()) */
    double logs_flushed_at; /* clock_mono() of that write */
    int progress;           /* task_progress(): the last percent written, -1: none */
    double progress_at;     /* clock_mono() when it was written */
};

/* A handler returns TASK_OK with t->result set (NULL means JSON null), or the
 * value of task_fail() or task_retry(). */
enum { TASK_OK = 0, TASK_FAILED = -1, TASK_RETRY = -2 };
typedef int (*task_fn)(struct task_ctx *t);

void task_ctx_init(struct task_ctx *t, const struct celery_msg *m, struct engine *engine,
                   const char *worker, volatile sig_atomic_t *cancel);
void task_ctx_fini(struct task_ctx *t);

/* Add a line to the task's log (task_logs), written with its final state;
 * a task running alone with no transaction open has its lines written as
 * it goes (at most every TASK_PROGRESS_EVERY_S, with a task_log NOTIFY), so
 * a live log tail can follow it. */
void task_log(struct task_ctx *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the lines after the first n (the engine undoes what a failed
 * attempt to write them added). */
void task_logs_truncate(struct task_ctx *t, int n);
/* Record why the task failed, Celery style (exc_type + message). Returns TASK_FAILED. */
int task_fail(struct task_ctx *t, const char *exc_type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fail this attempt and ask for another, Celery's self.retry(): the task
 * goes to RETRY with the reason kept and runs again after countdown seconds
 * (< 0: exponential back-off with jitter from its registry entry), until its
 * max_retries (the message's header, else its registry entry); past that it
 * ends FAILURE (MaxRetriesExceededError) and is dead-lettered. Its writes
 * are rolled back like a failure's. Returns TASK_RETRY. The attempt number
 * is t->msg->retries (0 for the first run). */
int task_retry(struct task_ctx *t, double countdown, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Run one parameterized statement (text parameters, NULL = SQL NULL) in the
 * task's transaction: the first call opens a savepoint for the task and
 * claims its row, so the task's writes commit with its final state, or not
 * at all if it fails or already finished elsewhere. The result (PQclear() it)
 * once the statement succeeded, else NULL with the task failed (its error
 * says why): return TASK_FAILED then. */
PGresult *task_sql(struct task_ctx *t, const char *sql, int nparams, const char *const *params);

/* Run one read-only statement for the task (a lookup that steers its work,
 * such as the validators of a page already stored). A task running alone
 * (not quick) has no transaction open while it works, until its first
 * task_sql(): the read runs on its own, claims nothing and holds no lock
 * while the task goes on; the result (PQclear() it), or NULL when the read
 * failed, with the reason in the task's log, and the handler may go on
 * without it (a lost connection is seen again, and the run replayed, at its
 * next task_sql()). Once a transaction is open (a quick task in a batch, or
 * after the task's first task_sql()) it is task_sql(), failures included.
 * Never write through it: nothing enforces that. */
PGresult *task_read(struct task_ctx *t, const char *sql, int nparams, const char *const *params);

/* task_sql() and task_read() with bytes: bin says which parameters are
 * binary (bytea) and whether results come back binary (sql/store.h). */
PGresult *task_sql_bin(struct task_ctx *t, const char *sql, int nparams, const char *const *params,
                       const struct store_binary *bin);
PGresult *task_read_bin(struct task_ctx *t, const char *sql, int nparams,
                        const char *const *params, const struct store_binary *bin);

/* Say how far a long task has come, 0..100, for GET /api/tasks/{id} and the
 * task page. Only a task running alone with no transaction open (before its
 * first task_sql()) writes it, at once on its own (a NOTIFY on task_state
 * goes with it), at most every TASK_PROGRESS_EVERY_S unless it reaches 100;
 * progress never goes back, and a failure to write it is only logged. */
void task_progress(struct task_ctx *t, int percent);

/* A quick task whose only writes are rows keyed by an id of their own (so a
 * redelivery inserts nothing twice, with no claim to stop it) can leave them
 * to one statement for the whole batch: its handler checks the arguments
 * and returns task_defer(t); its registry entry's write_batch() then writes
 * the rows of every deferred run of that task in the batch at once, in the
 * batch's transaction just before their final states, and sets each run's
 * result (or fails it with task_fail()). One round trip per batch instead of
 * a savepoint, a claim and a statement per task: chat.persist rides on it.
 * Returns TASK_OK. */
int task_defer(struct task_ctx *t);

/* What a write_batch() gets: the runs of its task that deferred and
 * succeeded, in delivery order. */
struct task_batch {
    struct engine *engine;
    struct task_ctx **tasks;
    int n;
    int rc; /* kept by the engine: how the last task_batch_sql() went (a store_rc) */
};

/* write_batch()'s statement, in the batch's transaction: the result
 * (PQclear() it), or NULL when PostgreSQL refused it; write_batch() then
 * returns TASK_FAILED and the engine decides (a refused value: the runs are
 * written one at a time to find the culprit, which fails; server trouble:
 * the batch is tried again). */
PGresult *task_batch_sql(struct task_batch *b, const char *sql, int nparams,
                         const char *const *params);

/* Check the call matches the parameter names (positional, then by name, no
 * unknown or duplicated ones), like a Python signature. TASK_OK or TASK_FAILED
 * (TypeError). */
int task_bind_args(struct task_ctx *t, const char *const *params, int nparams);
/* Argument i, given positionally or by the name params[i]; NULL when absent.
 * Call after task_bind_args(). */
const cJSON *task_arg(struct task_ctx *t, int i, const char *name);
/* A numeric argument, TASK_OK or TASK_FAILED (TypeError). */
int task_arg_number(struct task_ctx *t, int i, const char *name, double *out);

/* Celery's failure meta {"exc_type", "exc_message": [msg], "exc_module"} as
 * JSON text (caller frees). */
char *task_failure_meta(const struct task_ctx *t);

#endif
