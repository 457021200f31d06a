/* worker/worker.h - the worker's two roles. The master (master.c) forks and
 * supervises children and writes heartbeats; it never consumes. Each child
 * (child.c) consumes, runs, commits, acks. They talk through one pipe per
 * child carrying struct child_report records. */
#ifndef CELERIAC_WORKER_H
#define CELERIAC_WORKER_H

#include <signal.h>

#include "common/uuid.h"

struct worker_cfg {
    const char *amqp_url;
    const char *database_url;
    const char *queues;   /* comma separated */
    const char *nodename; /* e.g. celeriac.4242@host: the `worker` column */
    int concurrency;
    int prefetch;
    int republish_after; /* seconds: the sweeper's age for unconfirmed PENDING rows */
};

/* Child -> master, one write(2) each (smaller than PIPE_BUF, so atomic).
 * 'S': a long task (id) started and runs alone; 'B': a batch committed and
 * acked, n tasks of which failed ended FAILURE (the long task, if any, is
 * over). Quick tasks are reported per batch only: one write per task would
 * wake the master thousands of times a second. */
struct child_report {
    char kind;
    int n, failed;
    char id[UUID_STR_LEN];
};

/* Run the master until SIGTERM/SIGINT: exit status for main(). */
int master_run(const struct worker_cfg *cfg);

/* The child's whole life: connect, consume until told to stop, exit. */
_Noreturn void child_main(const struct worker_cfg *cfg, int slot, int report_fd,
                          const sigset_t *old_mask);

#endif
