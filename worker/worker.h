/* worker/worker.h - the worker's two roles. The master (master.c) forks and
 * supervises children and writes heartbeats; it never consumes. Each child
 * (child.c) consumes, runs, commits, acks. They talk through one pipe per
 * child carrying struct child_report records. */
#ifndef CELERIAC_WORKER_H
#define CELERIAC_WORKER_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common/strset.h"
#include "common/uuid.h"

struct worker_cfg {
    const char *amqp_url;
    const char *database_url;
    const char *queues;   /* comma separated, as given (logs, the heartbeat) */
    struct strset queue_set; /* the same, parsed once by main.c */
    const char *nodename; /* e.g. celeriac.4242@host: the `worker` column */
    int concurrency;
    int prefetch;
    int republish_after; /* seconds: the sweeper's age for unconfirmed PENDING rows */
    int max_deliveries;  /* runs a task may lose to dying children before it is failed */
    double soft_time_limit, time_limit; /* seconds, 0: none (tasks and messages may set theirs) */
    long max_tasks_per_child;           /* 0: no limit */
    long max_memory_kib;                /* RSS a child may keep after a task; 0: no limit */
    bool cron_seconds;   /* test only: periodic_tasks may use 6-field (seconds) cron */
};

/* A child's live state, in memory the master maps shared before forking: the
 * child writes it around each task with plain stores (no system call on the
 * fast path); the master reads it to kill a child past its task's hard time
 * limit, to signal the soft one, to know which task a dying child took with
 * it, and for the heartbeat. seq is a sequence lock: odd while the child
 * writes, so the master retries a torn read. */
struct slot_state {
    _Atomic unsigned seq;
    unsigned run;              /* tasks begun: names the target of a soft-limit signal */
    char task[UUID_STR_LEN];   /* the running task, "" when none */
    char name[64];             /* its name, cut to fit */
    double started;            /* clock_mono() when it began */
    double soft_at, hard_at;   /* clock_mono() deadlines, 0: none */
    double hard_limit;         /* seconds, for the FAILURE the master records */
    long rss_kib;              /* the child's RSS after its last task */
};

/* The signal a master sends (sigqueue(), value: slot_state.run) when the
 * running task passes its soft time limit. */
#define SOFT_LIMIT_SIGNAL SIGUSR1
/* Likewise when the running task was revoked: it is asked to stop (its
 * handler polls the cancel flag: demo.sleep, the scraper's transfers); with
 * terminate, the master kills the child if it still runs the task after
 * REVOKE_GRACE_S. */
#define CANCEL_SIGNAL SIGUSR2
#define REVOKE_GRACE_S 2.0

/* Child -> master, one write(2) each (smaller than PIPE_BUF, so atomic).
 * 'B': a batch committed and acked, n tasks of which failed ended FAILURE.
 * Per batch only: one write per task would wake the master thousands of
 * times a second (what runs now is in struct slot_state). */
struct child_report {
    char kind;
    int n, failed;
};

/* Run the master until SIGTERM/SIGINT: exit status for main(). */
int master_run(const struct worker_cfg *cfg);

/* The child's whole life: connect, consume until told to stop, exit. */
_Noreturn void child_main(const struct worker_cfg *cfg, int slot, struct slot_state *state,
                          int report_fd, const sigset_t *old_mask);

#endif
