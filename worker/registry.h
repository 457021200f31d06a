/* worker/registry.h - task name -> handler. What each task does is described
 * in catalog.c; the queue it is routed to is broker_queue_for_task()'s
 * business (the webapp needs both without the handlers). */
#ifndef CELERIAC_REGISTRY_H
#define CELERIAC_REGISTRY_H

#include "worker/task.h"

struct task_def {
    const char *name;
    task_fn run;
    /* Quick tasks run in microseconds and never block (no network, no
     * sleeping): many run in one batch and commit together. Any other task
     * runs alone: the batch before it commits first, the deliveries
     * prefetched behind it go back to the queue for other children, its row
     * shows STARTED while it runs (see docs/architecture.md). */
    bool quick;
};

/* The handler for name, or NULL when this worker does not know the task. */
const struct task_def *registry_find(const char *name);
/* All tasks, terminated by a row with name NULL. */
extern const struct task_def registry_tasks[];

#endif
