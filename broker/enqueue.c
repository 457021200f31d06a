/* broker/enqueue.c - see enqueue.h. */
#include "broker/enqueue.h"

#include <stdio.h>
#include <string.h>

#include "broker/broker.h"
#include "common/json.h"
#include "common/log.h"
#include "sql/store.h"

int
enqueue_validate(const struct enqueue_req *r, char *err, size_t errlen)
{
    if (r->name == NULL) {
        snprintf(err, errlen, "'name' is required (a string)");
        return ENQUEUE_INVALID;
    }
    if (!celery_name_valid(r->name)) {
        snprintf(err, errlen,
                 "invalid task name: use 1 to %d letters, digits and . _ : - (not starting with . "
                 "or -)",
                 CELERY_NAME_MAX);
        return ENQUEUE_INVALID;
    }
    if (r->args != NULL && !cJSON_IsArray(r->args)) {
        snprintf(err, errlen, "'args' must be a JSON array");
        return ENQUEUE_INVALID;
    }
    if (r->kwargs != NULL && !cJSON_IsObject(r->kwargs)) {
        snprintf(err, errlen, "'kwargs' must be a JSON object");
        return ENQUEUE_INVALID;
    }
    if (r->queue != NULL && !broker_queue_name_valid(r->queue)) {
        snprintf(err, errlen, "invalid queue name: use 1 to %d letters, digits and . _ : -",
                 BROKER_QUEUE_MAX);
        return ENQUEUE_INVALID;
    }
    return ENQUEUE_OK;
}

int
enqueue_task(PGconn *db, enqueue_publish_fn publish, void *ctx, const struct enqueue_req *r,
             char id[UUID_STR_LEN], char *err, size_t errlen)
{
    struct celery_msg m = {0};
    const char *queue;
    char *args = NULL, *kwargs = NULL;
    char why[256];
    int rc = enqueue_validate(r, err, errlen);

    if (rc != ENQUEUE_OK)
        return rc;
    queue = r->queue != NULL ? r->queue : broker_queue_for_task(r->name);
    uuid_new(id);
    /* m borrows the request's values (never celery_msg_fini()ed): the
     * publisher only reads it, through celery_encode(). */
    m.id = id;
    m.task = (char *)r->name;
    m.args = (cJSON *)r->args;
    m.kwargs = (cJSON *)r->kwargs;
    m.origin = (char *)r->origin;
    m.group_index = -1;
    args = r->args ? json_print(r->args) : NULL;
    kwargs = r->kwargs ? json_print(r->kwargs) : NULL;

    /* Row first: a worker fast enough to finish before we return still finds it. */
    rc = store_task_create(db, id, r->name, queue, args ? args : "[]", kwargs ? kwargs : "{}",
                           r->origin, why, sizeof why);
    if (rc == STORE_BAD_DATA) {
        snprintf(err, errlen, "the task's arguments cannot be stored (e.g. a \\u0000 in a string)");
        rc = ENQUEUE_INVALID;
        goto out;
    }
    if (rc != STORE_OK) {
        snprintf(err, errlen, "database unavailable: %s", why);
        rc = ENQUEUE_DB_DOWN;
        goto out;
    }
    if (publish(ctx, queue, &m, why, sizeof why) < 0) {
        snprintf(err, errlen, "broker unavailable: %s", why);
        log_task(LL_WARN, id, "enqueue %s: %s", r->name, why);
        store_task_forget_pending(db, id);
        rc = ENQUEUE_BROKER_DOWN;
        goto out;
    }
    rc = ENQUEUE_OK;
out:
    cJSON_free(args);
    cJSON_free(kwargs);
    return rc;
}
