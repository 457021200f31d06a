/* worker/engine.h - a child's task engine: it takes the deliveries that are
 * ready, runs them in order, commits their final states, log lines and
 * effects in one transaction with one notification, then acks them all with
 * one multiple-ack. Nothing is acked before its commit. Runs in: child only.
 *
 * A batch closes when no further delivery is ready, when it holds half the
 * --prefetch window, or ENGINE_WINDOW_S after its first task finished:
 * alone, a task is committed at once; under load, one WAL flush serves many
 * tasks. A task that is not quick (registry.h) runs alone, with the
 * consumers paused and the deliveries prefetched behind it given back to the
 * queue, so it never holds ready tasks hostage. */
#ifndef CELERIAC_ENGINE_H
#define CELERIAC_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <libpq-fe.h>

#include "broker/broker.h"
#include "common/strset.h"
#include "sql/store.h"
#include "worker/revoked.h"
#include "worker/task.h"
#include "worker/worker.h"

#define ENGINE_WINDOW_S 0.003 /* a busy batch commits this long after its first task finished */

struct entry;

struct engine {
    const struct worker_cfg *cfg;
    int report_fd;                 /* to the master: struct child_report */
    volatile sig_atomic_t *stop;   /* SIGTERM: finish what runs, commit, exit */
    volatile sig_atomic_t *cancel; /* asks a running task to stop early */
    struct broker *b;
    PGconn *db;
    struct entry *e; /* the batch, in delivery order */
    int n, cap;
    double first_done; /* clock_mono() when its first task finished; 0: none yet */
    struct entry *cur; /* the entry whose handler runs now */
    bool effects_lost; /* the transaction holding handlers' writes was rolled back */
    int db_streak;     /* database failures in a row, for back-off and logging */
    struct slot_state *slot;            /* shared with the master (worker.h) */
    volatile sig_atomic_t *soft_fired;  /* the master signalled the running task's soft limit */
    struct revoked revoked;             /* ids not to run (revoked.h) */
    long tasks_run;    /* for --max-tasks-per-child */
    bool retire;       /* past --max-tasks-per-child or --max-memory-per-child: exit after the batch */
    int statm_fd;      /* /proc/self/statm, kept open: the RSS after each task is one pread() */
    /* Queues the operator paused (table queue_pauses): the child keeps no
     * consumer on them. pauses_changed: not yet told to the broker
     * connection. */
    struct strset paused;
    bool pauses_changed;
    /* How far revocations and pauses were read (polled, no LISTEN: it works
     * behind PgBouncer in transaction mode), and when. */
    struct store_signals signals;
    double signals_at;
};

void engine_init(struct engine *g, const struct worker_cfg *cfg, struct slot_state *slot,
                 int report_fd, volatile sig_atomic_t *stop, volatile sig_atomic_t *cancel,
                 volatile sig_atomic_t *soft_fired);
/* Wait up to timeout_ms for deliveries, run what is ready, commit and ack
 * when the batch closes. Returns -1 when the broker connection was lost
 * (reconnect: unacked deliveries come back by themselves), else 0. */
int engine_step(struct engine *g, int timeout_ms);
/* Commit and ack what has run (before stopping). 0, or -1 when it could not
 * (those deliveries will be redelivered). */
int engine_flush(struct engine *g);
/* Forget the batch without acking (the broker connection is gone: its
 * deliveries come back to some consumer). */
void engine_discard(struct engine *g);
void engine_fini(struct engine *g);

/* (Re)connect to PostgreSQL, waiting with capped back-off, then load the
 * recent revocations and the paused queues (followed by polling from then
 * on). false when asked to stop first. */
bool engine_db_connect(struct engine *g);

/* Tell the broker connection which queues the operator paused (before
 * broker_consume(), so a child started while a queue is paused never
 * consumes it; later whenever a poll found them changed). 0, or -1 when
 * the connection failed. */
int engine_apply_pauses(struct engine *g);

/* task_sql() for a handler that runs in g (task.c calls it). */
PGresult *engine_task_sql(struct engine *g, struct task_ctx *t, const char *sql, int nparams,
                          const char *const *params, const struct store_binary *bin);
/* task_read() likewise. */
PGresult *engine_task_read(struct engine *g, struct task_ctx *t, const char *sql, int nparams,
                           const char *const *params, const struct store_binary *bin);
/* task_batch_sql() likewise; sets b->rc. */
PGresult *engine_batch_sql(struct task_batch *b, const char *sql, int nparams,
                           const char *const *params);
/* task_progress() likewise. */
void engine_task_progress(struct engine *g, struct task_ctx *t, int percent);
/* Write t's new log lines now if it runs alone with no transaction open
 * (task_log() calls it); its final write inserts them again only where a
 * crash lost them. */
void engine_task_flush_logs(struct engine *g, struct task_ctx *t);

#endif
