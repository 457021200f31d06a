/* webapp/queues.c - /queues and /api/queues: what waits in each queue, pausing
 * a queue for every worker, and the dead letters (celeriac.dead) with their
 * reasons, to requeue or drop one.
 *
 * RabbitMQ is read through a connection of its own per request, opened with
 * broker_open()'s bounded timeouts (5 s to connect, 5 s per call), rather
 * than the producer's: those are client/producer.c's publish lanes, busy with
 * group-committed publishes, and browsing the dead letters works by closing a
 * channel (which gives the messages read back) and by acking on it. An
 * operator's page is rare; a connection costs a few milliseconds, keeps no
 * state between requests and needs no lock.
 *
 * Counts come from a passive queue.declare (a missing queue is shown as
 * such). Dead letters are read with basic.get without ack, then their
 * channel is closed: RabbitMQ puts them back where they were (a classic
 * queue keeps their order), so a view loses and reorders nothing; while a
 * view or an action holds them (milliseconds), no one else sees them, so
 * two actions never both find one message. A dead letter's id is a UUID
 * computed from its content: stable across views, the same for identical
 * copies only (which are interchangeable). Requeueing publishes a copy to
 * the original queue and waits for RabbitMQ's confirm before acking the dead
 * one: a failure at any point leaves the dead letter where it was. */
#include "webapp/webapp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uuid/uuid.h>

#include "broker/broker.h"
#include "common/json.h"
#include "common/log.h"
#include "sql/store.h"

#define CONFIRM_MS 5000 /* longest wait for the requeued copy's confirm */

/* The namespace of dead-letter ids (version 5 UUIDs of a message's content). */
static const uuid_t dead_namespace = {0x6f, 0x0d, 0x2a, 0x51, 0x3c, 0x8e, 0x4b, 0x7a,
                                      0x9e, 0x41, 0x15, 0xc2, 0xd8, 0x73, 0x0b, 0x96};

/* ----- helpers ----- */

/* The {name} segment of path after prefix ("/api/queues/"), up to the next
 * slash, into out: the route's {id} keeps at most WEBAPP_ID_MAX - 1 bytes, a
 * queue name may have BROKER_QUEUE_MAX. */
static void
path_queue(const char *path, const char *prefix, char *out, size_t outlen)
{
    size_t n = strlen(prefix), len;

    out[0] = '\0';
    if (strncmp(path, prefix, n) != 0)
        return;
    len = strcspn(path + n, "/");
    if (len < outlen) {
        memcpy(out, path + n, len);
        out[len] = '\0';
    }
}

bool
queue_name_ok(const char *name, char *err, size_t errlen)
{
    if (!broker_queue_name_valid(name)) {
        snprintf(err, errlen,
                 "invalid queue name: 1 to %d of letters, digits, '_', '.', ':' and '-', not "
                 "starting with 'amq.'",
                 BROKER_QUEUE_MAX);
        return false;
    }
    if (strcmp(name, BROKER_DEAD_QUEUE) == 0) {
        snprintf(err, errlen,
                 "%s holds the dead letters: no worker consumes it, so it cannot be paused "
                 "(requeue or drop its messages instead)",
                 BROKER_DEAD_QUEUE);
        return false;
    }
    return true;
}

int
dead_limit_parse(const char *s, int *limit, char *err, size_t errlen)
{
    char *end;
    long v;

    *limit = QUEUES_DEAD_VIEW_MAX;
    if (s == NULL || s[0] == '\0')
        return 0;
    v = strtol(s, &end, 10);
    if (*end != '\0' || s[0] < '0' || s[0] > '9' || v < 1 || v > QUEUES_DEAD_VIEW_MAX) {
        snprintf(err, errlen, "limit must be a whole number from 1 to %d", QUEUES_DEAD_VIEW_MAX);
        return -1;
    }
    *limit = (int)v;
    return 0;
}

static struct broker *
admin_broker(struct app *a, char *err, size_t errlen)
{
    char why[512];
    struct broker *b = broker_open(a->cfg->amqp_url, "celeriac-webapp queues", why, sizeof why);

    if (b == NULL)
        snprintf(err, errlen, "RabbitMQ unavailable: %s", why);
    return b;
}

/* ----- the queues and their counts ----- */

static bool
listed(const cJSON *queues, const char *name)
{
    const cJSON *q;

    cJSON_ArrayForEach(q, queues)
    {
        const char *n = json_str(q, "name");
        if (n != NULL && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

static cJSON *
find_source(const cJSON *list, const char *name)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, list)
    {
        const char *q = json_str(e, "queue");
        if (q != NULL && strcmp(q, name) == 0)
            return (cJSON *)e;
    }
    return NULL;
}

/* Add queue name (once, if valid) with what PostgreSQL knows of it. */
static void
add_queue(cJSON *queues, const char *name, const cJSON *sources)
{
    const cJSON *consumed = find_source(cJSON_GetObjectItemCaseSensitive(sources, "consumed"), name);
    const cJSON *paused = find_source(cJSON_GetObjectItemCaseSensitive(sources, "paused"), name);
    const cJSON *workers = cJSON_GetObjectItemCaseSensitive(consumed, "workers");
    bool routed = false;
    cJSON *q;

    if (!broker_queue_name_valid(name) || listed(queues, name))
        return;
    for (int i = 0; broker_routed_queue(i) != NULL; i++)
        routed = routed || strcmp(broker_routed_queue(i), name) == 0;
    q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "name", name);
    cJSON_AddNullToObject(q, "exists");
    cJSON_AddNullToObject(q, "messages");
    cJSON_AddNullToObject(q, "consumers");
    cJSON_AddBoolToObject(q, "routed", routed);
    cJSON_AddItemToObject(q, "workers", cJSON_IsArray(workers) ? cJSON_Duplicate(workers, true)
                                                               : cJSON_CreateArray());
    cJSON_AddBoolToObject(q, "paused", paused != NULL);
    cJSON_AddItemToObject(q, "paused_at",
                          paused != NULL && json_str(paused, "paused_at") != NULL
                              ? cJSON_CreateString(json_str(paused, "paused_at"))
                              : cJSON_CreateNull());
    cJSON_AddItemToObject(q, "paused_by",
                          paused != NULL && json_str(paused, "paused_by") != NULL
                              ? cJSON_CreateString(json_str(paused, "paused_by"))
                              : cJSON_CreateNull());
    cJSON_AddBoolToObject(q, "dead_letters", strcmp(name, BROKER_DEAD_QUEUE) == 0);
    cJSON_AddItemToArray(queues, q);
}

cJSON *
queues_overview(struct app *a, bool *broker_down, char *err, size_t errlen)
{
    cJSON *sources = NULL, *out, *queues;
    const cJSON *e;
    struct broker *b;
    char why[512];
    PGconn *db;
    int rc;

    *broker_down = false;
    db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    if (db != NULL) {
        sources = store_queue_sources(db, &rc);
        dbpool_put(a->db, db);
        if (sources == NULL)
            snprintf(why, sizeof why, "the query failed");
    }
    if (sources == NULL) {
        snprintf(err, errlen, "database unavailable: %s", why);
        return NULL;
    }
    out = cJSON_CreateObject();
    queues = cJSON_AddArrayToObject(out, "queues");
    for (int i = 0; broker_routed_queue(i) != NULL; i++)
        add_queue(queues, broker_routed_queue(i), sources);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(sources, "consumed"))
        add_queue(queues, json_str(e, "queue"), sources);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(sources, "paused"))
        add_queue(queues, json_str(e, "queue"), sources);
    add_queue(queues, BROKER_DEAD_QUEUE, sources);
    cJSON_Delete(sources);

    if ((b = admin_broker(a, err, errlen)) == NULL) {
        *broker_down = true;
    } else {
        cJSON *q;
        cJSON_ArrayForEach(q, queues)
        {
            long messages, consumers;
            int found = broker_queue_stats(b, json_str(q, "name"), &messages, &consumers);

            if (found < 0) {
                snprintf(err, errlen, "RabbitMQ unavailable: the connection failed while reading "
                                      "the queues' counts");
                *broker_down = true;
                break;
            }
            cJSON_ReplaceItemInObjectCaseSensitive(q, "exists", cJSON_CreateBool(found == 1));
            if (found == 1) {
                cJSON_ReplaceItemInObjectCaseSensitive(q, "messages",
                                                       cJSON_CreateNumber((double)messages));
                cJSON_ReplaceItemInObjectCaseSensitive(q, "consumers",
                                                       cJSON_CreateNumber((double)consumers));
            }
        }
        broker_close(b);
    }
    if (*broker_down) { /* no half-read counts: all unknown */
        cJSON *q;
        cJSON_ArrayForEach(q, queues)
        {
            cJSON_ReplaceItemInObjectCaseSensitive(q, "exists", cJSON_CreateNull());
            cJSON_ReplaceItemInObjectCaseSensitive(q, "messages", cJSON_CreateNull());
            cJSON_ReplaceItemInObjectCaseSensitive(q, "consumers", cJSON_CreateNull());
        }
    }
    cJSON_AddStringToObject(out, "broker", *broker_down ? "down" : "ok");
    return out;
}

/* Pause or resume the queue the path names: 0 with *changed, or an HTTP
 * status with err. */
static unsigned int
queue_pause(struct app *a, struct request *r, const char *prefix, bool paused, char *name,
            size_t namelen, bool *changed, char *err, size_t errlen)
{
    char why[512];
    PGconn *db;
    int rc;

    path_queue(r->path, prefix, name, namelen);
    if (!queue_name_ok(name, err, errlen))
        return MHD_HTTP_BAD_REQUEST;
    if ((db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why)) == NULL) {
        snprintf(err, errlen, "database unavailable: %s", why);
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    rc = store_queue_pause(db, name, paused, a->origin, changed);
    dbpool_put(a->db, db);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "database unavailable while %s the queue",
                 paused ? "pausing" : "resuming");
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    log_info("queue %s %s%s", name, paused ? "paused" : "resumed",
             *changed ? "" : paused ? " (it was paused already)" : " (it was not paused)");
    return 0;
}

/* ----- dead letters ----- */

static const char *
header(const struct broker_delivery *d, const char *key)
{
    return json_str(d->wire.headers, key);
}

/* The task id a dead letter carries (its id header, else its correlation
 * id), or NULL. */
static const char *
dead_task_id(const struct broker_delivery *d)
{
    const char *id = header(d, "id");

    return id != NULL ? id : d->wire.correlation_id;
}

/* A dead letter's id: a version 5 UUID of its headers, correlation id and
 * body (a stored message never changes, so every view computes the same). */
static void
dead_id(const struct broker_delivery *d, char out[UUID_STR_LEN])
{
    char *headers = json_print(d->wire.headers);
    struct buf name = {0};
    uuid_t u;

    buf_put(&name, headers != NULL ? headers : "");
    buf_putn(&name, "", 1);
    buf_put(&name, d->wire.correlation_id != NULL ? d->wire.correlation_id : "");
    buf_putn(&name, "", 1);
    buf_putn(&name, d->wire.body != NULL ? d->wire.body : "", d->wire.body_len);
    uuid_generate_sha1(u, dead_namespace, name.data != NULL ? name.data : "", name.len);
    uuid_unparse_lower(u, out);
    buf_fini(&name);
    cJSON_free(headers);
}

/* A copy of s for display: valid UTF-8 ('?' for bad bytes and NULs), at
 * most max bytes (cut on a character), malloc()ed. */
static char *
display_text(const char *s, size_t len, size_t max)
{
    size_t n = len < max ? len : max;
    char *t = malloc(n + 1);

    if (t == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        t[i] = s[i] != '\0' ? s[i] : '?';
    t[n] = '\0';
    utf8_scrub(t);
    t[utf8_prefix_len(t, n)] = '\0';
    return t;
}

/* Header values may hold any bytes: make every string and key valid UTF-8
 * for the JSON answer and the page. */
static void
scrub_json(cJSON *v)
{
    for (; v != NULL; v = v->next) {
        if (v->string != NULL)
            utf8_scrub(v->string);
        if (cJSON_IsString(v) && v->valuestring != NULL)
            utf8_scrub(v->valuestring);
        scrub_json(v->child);
    }
}

/* One dead letter as the API shows it (position: 1 for the first). */
static cJSON *
dead_json(const struct broker_delivery *d, int position)
{
    const char *reason = header(d, BROKER_H_REASON), *queue = header(d, BROKER_H_QUEUE),
               *worker = header(d, BROKER_H_WORKER), *task = header(d, "task"),
               *task_id = dead_task_id(d);
    char id[UUID_STR_LEN], *body = display_text(d->wire.body ? d->wire.body : "", d->wire.body_len,
                                                QUEUES_BODY_PREVIEW);
    cJSON *o = cJSON_CreateObject(), *h = cJSON_Duplicate(d->wire.headers, true);

    dead_id(d, id);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddNumberToObject(o, "position", position);
    cJSON_AddItemToObject(o, "task_id", task_id != NULL ? cJSON_CreateString(task_id)
                                                        : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "task", task != NULL ? cJSON_CreateString(task) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "reason", reason != NULL ? cJSON_CreateString(reason)
                                                      : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "queue", queue != NULL ? cJSON_CreateString(queue)
                                                    : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "worker", worker != NULL ? cJSON_CreateString(worker)
                                                      : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "headers", h != NULL ? h : cJSON_CreateObject());
    cJSON_AddItemToObject(o, "body", body != NULL ? cJSON_CreateString(body) : cJSON_CreateNull());
    cJSON_AddNumberToObject(o, "body_size", (double)d->wire.body_len);
    cJSON_AddBoolToObject(o, "body_cut", d->wire.body_len > QUEUES_BODY_PREVIEW);
    free(body);
    scrub_json(o->child);
    return o;
}

/* Read the first limit dead letters and give them back: {"queue", "exists",
 * "messages": [...], "shown", "more", "limit"}, or NULL with err (RabbitMQ
 * unavailable: 503). */
static cJSON *
dead_view(struct app *a, int limit, char *err, size_t errlen)
{
    struct broker_delivery *list = NULL;
    struct broker *b;
    cJSON *out = NULL, *arr;
    long left = 0;
    int n = 0, found;

    if ((b = admin_broker(a, err, errlen)) == NULL)
        return NULL;
    found = broker_browse(b, BROKER_DEAD_QUEUE, limit, QUEUES_DEAD_VIEW_BYTES, &list, &n, &left);
    /* Back where they were before anything else: the close is synchronous. */
    if (found < 0 || broker_browse_end(b) < 0) {
        snprintf(err, errlen, "RabbitMQ unavailable: the connection failed while reading %s",
                 BROKER_DEAD_QUEUE);
        goto out;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "queue", BROKER_DEAD_QUEUE);
    cJSON_AddBoolToObject(out, "exists", found == 1);
    arr = cJSON_AddArrayToObject(out, "messages");
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, dead_json(&list[i], i + 1));
    cJSON_AddNumberToObject(out, "shown", n);
    cJSON_AddNumberToObject(out, "more", (double)left); /* ready behind the ones shown */
    cJSON_AddNumberToObject(out, "limit", limit);
out:
    broker_browse_free(list, n);
    broker_close(b);
    return out;
}

/* The copy a requeue publishes: the dead letter without the headers the
 * dead-lettering added (shallow: w borrows from d, but its headers, which
 * the caller frees). */
static int
requeue_copy(const struct broker_delivery *d, struct celery_wire *w)
{
    *w = d->wire;
    w->headers = cJSON_IsObject(d->wire.headers) ? cJSON_Duplicate(d->wire.headers, true)
                                                 : cJSON_CreateObject();
    if (w->headers == NULL)
        return -1;
    cJSON_DeleteItemFromObjectCaseSensitive(w->headers, BROKER_H_REASON);
    cJSON_DeleteItemFromObjectCaseSensitive(w->headers, BROKER_H_QUEUE);
    cJSON_DeleteItemFromObjectCaseSensitive(w->headers, BROKER_H_WORKER);
    return 0;
}

/* Requeue d (browsed on b) to its original queue: the task row made
 * runnable, the copy published and confirmed. 0, or an HTTP status with err
 * (nothing was published; the dead letter stays). */
static unsigned int
requeue_publish(struct app *a, struct broker *b, const struct broker_delivery *d, cJSON *out,
                char *err, size_t errlen)
{
    const char *queue = header(d, BROKER_H_QUEUE), *task_id = dead_task_id(d);
    char before[32] = "", why[512];
    struct celery_wire w;
    PGconn *db;
    int rc;

    if (queue == NULL || !broker_queue_name_valid(queue) || strcmp(queue, BROKER_DEAD_QUEUE) == 0) {
        snprintf(err, errlen, "this dead letter does not say which queue it came from (no valid %s "
                              "header): it cannot be requeued; drop it instead",
                 BROKER_H_QUEUE);
        return MHD_HTTP_CONFLICT;
    }
    if (task_id != NULL && uuid_is_valid(task_id)) {
        if ((db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why)) == NULL) {
            snprintf(err, errlen, "database unavailable: %s", why);
            return MHD_HTTP_SERVICE_UNAVAILABLE;
        }
        rc = store_task_requeued(db, task_id, queue, before, sizeof before);
        dbpool_put(a->db, db);
        if (rc != STORE_OK) {
            snprintf(err, errlen, "database unavailable while making the task runnable again");
            return MHD_HTTP_SERVICE_UNAVAILABLE;
        }
        if (store_state_final(before) && strcmp(before, "FAILURE") != 0) {
            snprintf(err, errlen, "task %s is %s already: a worker would not run it again, so "
                                  "requeueing it is pointless; drop it instead",
                     task_id, before);
            return MHD_HTTP_CONFLICT;
        }
    }
    cJSON_AddItemToObject(out, "previous_state",
                          before[0] != '\0' ? cJSON_CreateString(before) : cJSON_CreateNull());
    if (requeue_copy(d, &w) < 0) {
        snprintf(err, errlen, "out of memory");
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    /* Declared as the producer declares a new queue: durable, no arguments. */
    rc = broker_declare_queue(b, queue) < 0 ? -1
                                            : broker_publish_wire(b, queue, &w, CONFIRM_MS, why,
                                                                  sizeof why);
    cJSON_Delete(w.headers);
    if (rc < 0) {
        snprintf(err, errlen, "RabbitMQ did not take the copy for %s (%s): the dead letter stays in "
                              "%s",
                 queue, broker_is_open(b) ? why : "connection lost", BROKER_DEAD_QUEUE);
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    return 0;
}

/* POST .../messages/{id}/requeue or /drop: 0 with *out (the answer), or an
 * HTTP status with err. */
static unsigned int
dead_act(struct app *a, const char *id, bool requeue, cJSON **out, char *err, size_t errlen)
{
    struct broker_delivery *list = NULL, *d = NULL;
    unsigned int status = 0;
    struct broker *b;
    long left;
    int n = 0, found;

    *out = NULL;
    if (!uuid_is_valid(id)) {
        snprintf(err, errlen, "invalid dead letter id: expected a UUID as %s lists them",
                 "GET /api/queues/" BROKER_DEAD_QUEUE "/messages");
        return MHD_HTTP_BAD_REQUEST;
    }
    if ((b = admin_broker(a, err, errlen)) == NULL)
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    found = broker_browse(b, BROKER_DEAD_QUEUE, QUEUES_DEAD_VIEW_MAX, QUEUES_DEAD_VIEW_BYTES, &list,
                          &n, &left);
    if (found < 0) {
        snprintf(err, errlen, "RabbitMQ unavailable: the connection failed while reading %s",
                 BROKER_DEAD_QUEUE);
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        goto out;
    }
    for (int i = 0; i < n && d == NULL; i++) {
        char each[UUID_STR_LEN];
        dead_id(&list[i], each);
        if (strcasecmp(each, id) == 0)
            d = &list[i];
    }
    if (d == NULL) {
        snprintf(err, errlen, "no dead letter %s among the first %d of %s (requeued or dropped "
                              "already?)",
                 id, QUEUES_DEAD_VIEW_MAX, BROKER_DEAD_QUEUE);
        status = MHD_HTTP_NOT_FOUND;
        goto out;
    }
    *out = dead_json(d, (int)(d - list) + 1);
    cJSON_DeleteItemFromObjectCaseSensitive(*out, "position");
    cJSON_DeleteItemFromObjectCaseSensitive(*out, "headers");
    cJSON_DeleteItemFromObjectCaseSensitive(*out, "body");
    cJSON_DeleteItemFromObjectCaseSensitive(*out, "body_cut");
    if (requeue && (status = requeue_publish(a, b, d, *out, err, errlen)) != 0)
        goto out;
    /* The copy is confirmed (or this is a drop): remove the dead one. The
     * synchronous close tells that RabbitMQ applied the ack. */
    if (broker_browse_take(b, d->tag) < 0 || broker_browse_end(b) < 0) {
        if (requeue) {
            cJSON_AddStringToObject(*out, "warning",
                                    "requeued, but the connection to RabbitMQ was lost before it "
                                    "confirmed the removal from " BROKER_DEAD_QUEUE
                                    ": the dead letter may still be listed there");
        } else {
            snprintf(err, errlen, "RabbitMQ unavailable: the connection was lost before it "
                                  "confirmed the drop; the dead letter may still be there");
            status = MHD_HTTP_SERVICE_UNAVAILABLE;
            goto out;
        }
    }
    cJSON_AddBoolToObject(*out, requeue ? "requeued" : "dropped", true);
    log_task(LL_INFO, dead_task_id(d) != NULL && uuid_is_valid(dead_task_id(d)) ? dead_task_id(d)
                                                                                : NULL,
             "dead letter %s %s", id, requeue ? "requeued" : "dropped");
out:
    if (status != 0) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    broker_browse_end(b); /* whatever was not taken goes back */
    broker_browse_free(list, n);
    broker_close(b);
    return status;
}

/* ----- JSON API ----- */

void
api_queues(struct app *a, struct request *r, struct response *resp)
{
    char err[1024];
    bool down;
    cJSON *out = queues_overview(a, &down, err, sizeof err);

    (void)r;
    resp->cache_control = "no-store";
    if (out == NULL) {
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err);
        return;
    }
    if (down) { /* the paused queues still tell something: kept beside the error */
        text_one_line(err);
        cJSON_AddStringToObject(out, "error", err);
        api_json(resp, MHD_HTTP_SERVICE_UNAVAILABLE, out);
        resp->retry_after = 5;
    } else {
        api_json(resp, MHD_HTTP_OK, out);
    }
    cJSON_Delete(out);
}

static void
api_queue_pause_or_resume(struct app *a, struct request *r, struct response *resp, bool paused)
{
    char err[1024], name[BROKER_QUEUE_MAX + 1];
    bool changed = false;
    unsigned int status = queue_pause(a, r, "/api/queues/", paused, name, sizeof name, &changed,
                                      err, sizeof err);
    cJSON *out;

    if (status != 0) {
        api_error(resp, status, "%s", err);
        return;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "queue", name);
    cJSON_AddBoolToObject(out, "paused", paused);
    cJSON_AddBoolToObject(out, "changed", changed);
    api_json(resp, MHD_HTTP_OK, out);
    cJSON_Delete(out);
}

void
api_queue_pause(struct app *a, struct request *r, struct response *resp)
{
    api_queue_pause_or_resume(a, r, resp, true);
}

void
api_queue_resume(struct app *a, struct request *r, struct response *resp)
{
    api_queue_pause_or_resume(a, r, resp, false);
}

void
api_dead_letters(struct app *a, struct request *r, struct response *resp)
{
    char err[1024];
    cJSON *out;
    int limit;

    resp->cache_control = "no-store";
    if (dead_limit_parse(http_query(r, "limit"), &limit, err, sizeof err) < 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "%s", err);
        return;
    }
    if ((out = dead_view(a, limit, err, sizeof err)) == NULL) {
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err);
        return;
    }
    api_json(resp, MHD_HTTP_OK, out);
    cJSON_Delete(out);
}

static void
api_dead_act(struct app *a, struct request *r, struct response *resp, bool requeue)
{
    char err[1024];
    cJSON *out;
    unsigned int status = dead_act(a, r->id, requeue, &out, err, sizeof err);

    if (status != 0) {
        api_error(resp, status, "%s", err);
        return;
    }
    api_json(resp, MHD_HTTP_OK, out);
    cJSON_Delete(out);
}

void
api_dead_requeue(struct app *a, struct request *r, struct response *resp)
{
    api_dead_act(a, r, resp, true);
}

void
api_dead_drop(struct app *a, struct request *r, struct response *resp)
{
    api_dead_act(a, r, resp, false);
}

/* ----- pages ----- */

/* A small POST form with one button. */
static void
put_button(struct buf *b, const char *path_start, const char *segment, const char *action,
           const char *label)
{
    buf_put(b, "<form class=\"button\" method=\"post\" action=\"");
    buf_put(b, path_start);
    html_url_enc(b, segment);
    buf_printf(b, "/%s\"><button type=\"submit\">%s</button></form>", action, label);
}

static void
put_count(struct buf *b, const cJSON *q, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(q, key);

    if (cJSON_IsNumber(v))
        buf_printf(b, "%.0f", v->valuedouble);
    else
        buf_put(b, "<span class=\"hint\">&mdash;</span>");
}

static void
put_queue_row(struct buf *b, const cJSON *q)
{
    const char *name = json_str(q, "name");
    const cJSON *exists = cJSON_GetObjectItemCaseSensitive(q, "exists"), *w;
    bool paused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "paused")),
         dead = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "dead_letters")), first = true;

    buf_put(b, "<tr><td><code>");
    html_esc(b, name);
    buf_put(b, "</code>");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "routed")))
        buf_put(b, " <span class=\"hint\">(tasks routed here)</span>");
    if (dead)
        buf_put(b, " <span class=\"hint\">(dead letters)</span>");
    buf_put(b, "</td><td>");
    if (cJSON_IsFalse(exists)) {
        buf_put(b, "<span class=\"hint\">does not exist yet</span></td><td>");
    } else {
        put_count(b, q, "messages");
        buf_put(b, "</td><td>");
        put_count(b, q, "consumers");
    }
    buf_put(b, "</td><td>");
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(q, "workers"))
    {
        buf_put(b, first ? "" : ", ");
        html_esc(b, cJSON_GetStringValue(w));
        first = false;
    }
    if (first)
        buf_put(b, "<span class=\"hint\">none online</span>");
    buf_put(b, "</td><td>");
    if (paused) {
        buf_put(b, "<span class=\"paused\">paused</span> <span class=\"hint\">since ");
        html_time(b, json_str(q, "paused_at") ? json_str(q, "paused_at") : "");
        buf_put(b, "</span>");
    } else if (!dead) {
        buf_put(b, "active");
    }
    buf_put(b, "</td><td>");
    if (dead)
        buf_put(b, "<a href=\"/queues/" BROKER_DEAD_QUEUE "\">View dead letters</a>");
    else
        put_button(b, "/queues/", name, paused ? "resume" : "pause", paused ? "Resume" : "Pause");
    buf_put(b, "</td></tr>\n");
}

void
page_queues(struct app *a, struct request *r, struct response *resp)
{
    struct buf *b = &resp->body;
    char err[1024];
    bool down;
    cJSON *out = queues_overview(a, &down, err, sizeof err);
    const cJSON *q;

    (void)r;
    resp->cache_control = "no-store";
    if (out == NULL) {
        page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Database unavailable",
                   "The queues cannot be listed right now; try again in a moment.");
        return;
    }
    html_response(resp, down ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK);
    if (down)
        resp->retry_after = 5;
    html_begin(b, "Queues", 0);
    buf_put(b, "<h1>Queues</h1>\n");
    if (down) {
        buf_put(b, "<p class=\"error\" role=\"alert\">");
        html_esc(b, err);
        buf_put(b, ". The counts are unknown; pausing and resuming still work.</p>\n");
    }
    buf_put(b, "<table>\n<tr><th>Queue</th><th>Ready</th><th>Consumers</th>"
               "<th>Workers consuming it</th><th>Status</th><th></th></tr>\n");
    cJSON_ArrayForEach(q, cJSON_GetObjectItemCaseSensitive(out, "queues")) { put_queue_row(b, q); }
    buf_put(b, "</table>\n<p class=\"hint\">Ready: messages waiting in RabbitMQ (not those a "
               "worker holds unacked). Pause stops every worker from taking tasks from a queue "
               "within about a second, including workers started later; its tasks stay ready "
               "until Resume.</p>\n");
    html_end(b);
    cJSON_Delete(out);
}

static void
page_queue_pause_or_resume(struct app *a, struct request *r, struct response *resp, bool paused)
{
    char err[1024], name[BROKER_QUEUE_MAX + 1];
    bool changed;
    unsigned int status = queue_pause(a, r, "/queues/", paused, name, sizeof name, &changed, err,
                                      sizeof err);

    if (status != 0) {
        page_error(resp, status, paused ? "Cannot pause the queue" : "Cannot resume the queue",
                   err);
        return;
    }
    html_see_other(resp, "/queues");
}

void
page_queue_pause(struct app *a, struct request *r, struct response *resp)
{
    page_queue_pause_or_resume(a, r, resp, true);
}

void
page_queue_resume(struct app *a, struct request *r, struct response *resp)
{
    page_queue_pause_or_resume(a, r, resp, false);
}

static void
put_dead_row(struct buf *b, const cJSON *m)
{
    const char *id = json_str(m, "id"), *task_id = json_str(m, "task_id"),
               *task = json_str(m, "task"), *reason = json_str(m, "reason"),
               *queue = json_str(m, "queue"), *worker = json_str(m, "worker");
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(m, "position");

    buf_printf(b, "<tr><td>%.0f</td><td>", cJSON_IsNumber(pos) ? pos->valuedouble : 0);
    html_esc(b, task != NULL ? task : "(no task name)");
    buf_put(b, "<br>");
    if (task_id != NULL && uuid_is_valid(task_id)) {
        html_task_link(b, task_id);
    } else {
        buf_put(b, "<span class=\"hint\">no task id</span>");
    }
    buf_put(b, "</td><td>");
    html_esc(b, reason != NULL ? reason : "");
    buf_put(b, "</td><td><code>");
    html_esc(b, queue != NULL ? queue : "");
    buf_put(b, "</code><br><span class=\"hint\">");
    html_esc(b, worker != NULL ? worker : "");
    buf_put(b, "</span></td><td class=\"short\"><code>");
    html_esc_short(b, json_str(m, "body") ? json_str(m, "body") : "", 200);
    buf_put(b, "</code><br><span class=\"hint id\">");
    html_esc(b, id);
    buf_put(b, "</span></td><td>");
    put_button(b, "/queues/" BROKER_DEAD_QUEUE "/messages/", id, "requeue", "Requeue");
    put_button(b, "/queues/" BROKER_DEAD_QUEUE "/messages/", id, "drop", "Drop");
    buf_put(b, "</td></tr>\n");
}

void
page_dead_letters(struct app *a, struct request *r, struct response *resp)
{
    const char *requeued = http_query(r, "requeued"), *dropped = http_query(r, "dropped");
    struct buf *b = &resp->body;
    char err[1024];
    cJSON *out = dead_view(a, QUEUES_DEAD_VIEW_MAX, err, sizeof err);
    const cJSON *m, *messages;
    double shown, more;

    resp->cache_control = "no-store";
    if (out == NULL) {
        page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "RabbitMQ unavailable", err);
        return;
    }
    messages = cJSON_GetObjectItemCaseSensitive(out, "messages");
    shown = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(out, "shown"));
    more = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(out, "more"));
    html_response(resp, MHD_HTTP_OK);
    html_begin(b, "Dead letters", 0);
    buf_put(b, "<h1>Dead letters <code>" BROKER_DEAD_QUEUE "</code></h1>\n"
               "<p><a href=\"/queues\">All queues</a></p>\n");
    if (requeued != NULL && uuid_is_valid(requeued)) {
        buf_put(b, "<p class=\"hint\" role=\"status\">Requeued dead letter <span class=\"id\">");
        html_esc(b, requeued);
        buf_put(b, "</span> to its queue.</p>\n");
    } else if (dropped != NULL && uuid_is_valid(dropped)) {
        buf_put(b, "<p class=\"hint\" role=\"status\">Dropped dead letter <span class=\"id\">");
        html_esc(b, dropped);
        buf_put(b, "</span>.</p>\n");
    }
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(out, "exists"))) {
        buf_put(b, "<p>" BROKER_DEAD_QUEUE " does not exist yet: no message was ever "
                   "dead-lettered.</p>\n");
    } else if (shown == 0) {
        buf_put(b, "<p>No dead letters.</p>\n");
    } else {
        buf_printf(b, "<p>The first %.0f dead letters, oldest first", shown);
        if (more > 0)
            buf_printf(b, " (%.0f more behind them are not shown)", more);
        buf_printf(b, ". A view reads at most %d, then gives them back in order. Requeue "
                      "publishes a copy to the queue it came from (and makes its task runnable "
                      "again), then removes it from here; Drop removes it.</p>\n",
                   QUEUES_DEAD_VIEW_MAX);
        buf_put(b, "<table>\n<tr><th>#</th><th>Task</th><th>Reason</th><th>From queue, "
                   "worker</th><th>Body, id</th><th></th></tr>\n");
        cJSON_ArrayForEach(m, messages) { put_dead_row(b, m); }
        buf_put(b, "</table>\n");
    }
    html_end(b);
    cJSON_Delete(out);
}

static void
page_dead_act(struct app *a, struct request *r, struct response *resp, bool requeue)
{
    char err[1024], location[160];
    cJSON *out;
    unsigned int status = dead_act(a, r->id, requeue, &out, err, sizeof err);

    if (status != 0) {
        page_error(resp, status, requeue ? "Cannot requeue" : "Cannot drop", err);
        return;
    }
    cJSON_Delete(out);
    snprintf(location, sizeof location, "/queues/%s?%s=%s", BROKER_DEAD_QUEUE,
             requeue ? "requeued" : "dropped", r->id);
    html_see_other(resp, location);
}

void
page_dead_requeue(struct app *a, struct request *r, struct response *resp)
{
    page_dead_act(a, r, resp, true);
}

void
page_dead_drop(struct app *a, struct request *r, struct response *resp)
{
    page_dead_act(a, r, resp, false);
}
