/* broker/enqueue.h - the one way a task enters celeriac from the webapp or the
 * CLI: validate, insert the PENDING row, publish, wait for the confirm. */
#ifndef CELERIAC_ENQUEUE_H
#define CELERIAC_ENQUEUE_H

#include <stddef.h>
#include <libpq-fe.h>
#include <cJSON.h>

#include "broker/celery.h"
#include "common/uuid.h"

enum enqueue_rc {
    ENQUEUE_OK = 0,
    ENQUEUE_INVALID = -1,     /* the request is wrong: a 4xx */
    ENQUEUE_DB_DOWN = -2,     /* nothing was stored: a 503 */
    ENQUEUE_BROKER_DOWN = -3, /* the row was withdrawn, nothing was queued: a 503 */
};

struct enqueue_req {
    const char *name;     /* task name */
    const cJSON *args;    /* array or NULL for [] */
    const cJSON *kwargs;  /* object or NULL for {} */
    const char *queue;    /* NULL: routed by name (broker_queue_for_task) */
    const char *origin;   /* sender's node name, may be NULL */
};

/* Publishes m to queue and waits for the confirm: 0 or -1 with err set. The
 * webapp passes its shared, locked publisher; the CLI its own connection. */
typedef int (*enqueue_publish_fn)(void *ctx, const char *queue, const struct celery_msg *m,
                                  char *err, size_t errlen);

/* Check r; on ENQUEUE_INVALID err names the problem. */
int enqueue_validate(const struct enqueue_req *r, char *err, size_t errlen);

/* Validate, insert the row PENDING, publish. id receives the new task id.
 * When the publish fails the row is deleted again (unless a worker already
 * took the task), so a 503 leaves nothing behind. */
int enqueue_task(PGconn *db, enqueue_publish_fn publish, void *ctx, const struct enqueue_req *r,
                 char id[UUID_STR_LEN], char *err, size_t errlen);

#endif
