/* worker/registry.h - the tasks this worker runs: name, handler, whether it
 * is quick, and what it does. Each master records the list beside its
 * heartbeat (registry_json()), as Celery's `inspect registered` shows it:
 * that is how the webapp, which links no worker code, learns which tasks
 * exist. The queue a task is routed to is broker_queue_for_task()'s business. */
#ifndef CELERIAC_REGISTRY_H
#define CELERIAC_REGISTRY_H

#include "worker/task.h"

/* The type of a task parameter, as the webapp's form shows and converts it:
 * a number field, a whole number, a text field, true/false, or JSON text
 * for an object or an array. */
enum task_param_type {
    PARAM_NUMBER,
    PARAM_INTEGER,
    PARAM_STRING,
    PARAM_BOOL,
    PARAM_OBJECT,
    PARAM_ARRAY,
};

/* One parameter of a task, in the order the handler binds them. The webapp
 * shows one labelled field per parameter and sends the values as kwargs, so
 * name must be the name the handler's task_bind_args() knows. */
struct task_param {
    const char *name;
    enum task_param_type type;
    const char *default_json; /* JSON text of the default; NULL: required */
};

struct task_def {
    const char *name;
    task_fn run;
    /* Quick tasks run in microseconds and never block (no network, no
     * sleeping): many run in one batch and commit together. Any other task
     * runs alone: the batch before it commits first, the deliveries
     * prefetched behind it go back to the queue for other children, its row
     * shows STARTED while it runs (see docs/architecture.md). */
    bool quick;
    const char *doc;          /* e.g. "demo.add(x, y): returns x + y" */
    const char *example_args; /* JSON text, for the webapp's form */
    /* Its parameters, terminated by one with name NULL; NULL: not described
     * (the form then offers raw JSON only). */
    const struct task_param *params;
    /* task_retry(): at most max_retries more attempts (0: 3, Celery's
     * default; a message's max_retries header overrides it), waiting
     * retry_backoff seconds (0: 1) doubled at each attempt, at most
     * REGISTRY_BACKOFF_MAX_S, with jitter. */
    int max_retries;
    double retry_backoff;
    /* Time limits in seconds, 0: none of its own. A message's timelimit
     * header wins over these, and these over the worker's flags. */
    double soft_time_limit, time_limit;
    /* More keys for its registry_json() entry, what the webapp's form needs
     * to know of this worker's abilities (convert.file: "conversions");
     * NULL: none. */
    cJSON *(*details)(void);
    /* For a task whose handler calls task_defer(): writes the rows of the
     * batch's deferred runs in one statement and sets their results
     * (task.h). TASK_OK or TASK_FAILED. NULL: the task writes as it runs. */
    int (*write_batch)(struct task_batch *b);
};

#define REGISTRY_MAX_RETRIES 3
#define REGISTRY_BACKOFF_MAX_S 600.0

/* The handler for name, or NULL when this worker does not know the task. */
const struct task_def *registry_find(const char *name);
/* "number", "integer", "string", "bool", "object" or "array". */
const char *registry_param_type_name(enum task_param_type type);
/* [{"name", "doc", "example_args", "queue", "params": [{"name", "type",
 * "required", "default" (only when not required)}], ...details}] as JSON
 * text (caller frees). */
char *registry_json(void);
/* All tasks, terminated by a row with name NULL. */
extern const struct task_def registry_tasks[];

#endif
