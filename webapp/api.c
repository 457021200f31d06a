/* webapp/api.c - the JSON API under /api and /healthz. Every answer is JSON;
 * every 4xx/5xx is {"error": "<what is wrong>"}. Task rows come from the store
 * as PostgreSQL built them (row_to_json), so field names are column names. */
#include "webapp/webapp.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "sql/store.h"

/* ----- answers ----- */

void
api_json(struct response *resp, unsigned int status, const cJSON *v)
{
    char *text = json_print(v);

    resp->status = status;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    if (text == NULL) {
        resp->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        buf_put(&resp->body, "{\"error\": \"out of memory\"}\n");
        return;
    }
    buf_put(&resp->body, text);
    buf_put(&resp->body, "\n");
    cJSON_free(text);
}

void
api_error(struct response *resp, unsigned int status, const char *fmt, ...)
{
    char msg[1024];
    cJSON *o = cJSON_CreateObject();
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    text_one_line(msg);
    /* cJSON escapes quotes and control characters; messages that quote user
     * input were cut on UTF-8 boundaries, so the JSON stays valid UTF-8. */
    cJSON_AddStringToObject(o, "error", msg);
    api_json(resp, status, o);
    cJSON_Delete(o);
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        resp->retry_after = 5;
}

/* ----- POST /api/tasks body ----- */

static const char *
type_name(const cJSON *v)
{
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    return "an invalid value";
}

const char *
api_type_name(const cJSON *v)
{
    return type_name(v);
}

cJSON *
api_parse_body(const char *buf, size_t len, char *err, size_t errlen)
{
    char why[256];
    cJSON *v;

    if (len == 0) {
        snprintf(err, errlen,
                 "the request body is empty: send a JSON object such as "
                 "{\"name\": \"demo.add\", \"args\": [2, 3]}");
        return NULL;
    }
    v = json_parse(buf, len, why, sizeof why);
    if (v == NULL)
        snprintf(err, errlen, "the request body is not valid JSON: %s", why);
    return v;
}

static const char *const known_fields[] = {"name",        "args",       "kwargs",
                                           "queue",       "countdown",  "eta",
                                           "expires",     "max_retries", "time_limit",
                                           "soft_time_limit", "parent_id"};
#define N_KNOWN (sizeof known_fields / sizeof known_fields[0])

/* Index of key in known_fields, or -1. */
static int
field_index(const char *key)
{
    for (size_t i = 0; i < N_KNOWN; i++)
        if (strcmp(key, known_fields[i]) == 0)
            return (int)i;
    return -1;
}

/* Append 'key' to list, shortened so that a long or hostile key cannot crowd
 * out the rest of the message (and is cut on a UTF-8 boundary). */
static void
append_key(char *list, size_t listlen, const char *key)
{
    size_t n = strlen(list);

    snprintf(list + n, listlen - n, "%s'%.*s%s'", n > 0 ? ", " : "", (int)utf8_prefix_len(key, 40),
             key, strlen(key) > 40 ? "..." : "");
}

/* Unknown or repeated top-level fields: -1 with err set. */
static int
check_fields(const cJSON *body, char *err, size_t errlen)
{
    int seen[N_KNOWN] = {0}, unknown = 0;
    char list[300] = "";
    const cJSON *f;

    cJSON_ArrayForEach(f, body)
    {
        int i = field_index(f->string);

        if (i >= 0) {
            /* cJSON keeps duplicate keys and finds the first: refuse the ambiguity. */
            if (++seen[i] > 1) {
                snprintf(err, errlen, "field '%s' appears more than once", known_fields[i]);
                return -1;
            }
        } else if (++unknown <= 5) {
            append_key(list, sizeof list, f->string);
        }
    }
    if (unknown == 0)
        return 0;
    /* Name them: a typo such as "kwarg" would otherwise be dropped silently
     * and the task run without its arguments. */
    snprintf(err, errlen,
             "unknown field%s %s%s: allowed fields are name, args, kwargs, queue, countdown, eta, "
             "expires, max_retries, time_limit, soft_time_limit and parent_id",
             unknown > 1 ? "s" : "", list, unknown > 5 ? " and more" : "");
    return -1;
}

/* Optional fields: absent and JSON null both mean "use the default". */
static const cJSON *
optional(const cJSON *body, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);

    return cJSON_IsNull(v) ? NULL : v;
}

/* A number of seconds (countdown, limits); absent or null leaves *out 0. */
static int
seconds_field(const cJSON *body, const char *key, double *out, char *err, size_t errlen)
{
    const cJSON *v = optional(body, key);

    if (v != NULL && !cJSON_IsNumber(v)) {
        snprintf(err, errlen, "'%s' must be a number of seconds, not %s", key, type_name(v));
        return -1;
    }
    *out = v != NULL ? v->valuedouble : 0;
    return 0;
}

/* Celery's apply_async() options: countdown, eta, expires (seconds or an
 * ISO 8601 time), max_retries, time_limit, soft_time_limit. */
static int
api_enqueue_options(const cJSON *body, struct enqueue_req *r, char *err, size_t errlen)
{
    const cJSON *eta = optional(body, "eta"), *expires = optional(body, "expires"),
                *max_retries = optional(body, "max_retries");

    if (seconds_field(body, "countdown", &r->countdown, err, errlen) < 0 ||
        seconds_field(body, "time_limit", &r->time_limit, err, errlen) < 0 ||
        seconds_field(body, "soft_time_limit", &r->soft_time_limit, err, errlen) < 0)
        return -1;
    if (eta != NULL && !cJSON_IsString(eta)) {
        snprintf(err, errlen, "'eta' must be an ISO 8601 time string, not %s", type_name(eta));
        return -1;
    }
    r->eta = eta != NULL ? eta->valuestring : NULL;
    if (cJSON_IsNumber(expires)) {
        r->expires_in = expires->valuedouble;
    } else if (cJSON_IsString(expires)) {
        r->expires = expires->valuestring;
    } else if (expires != NULL) {
        snprintf(err, errlen, "'expires' must be seconds or an ISO 8601 time, not %s",
                 type_name(expires));
        return -1;
    }
    if (max_retries != NULL) {
        if (!cJSON_IsNumber(max_retries) ||
            max_retries->valuedouble != (double)(int)max_retries->valuedouble) {
            snprintf(err, errlen, "'max_retries' must be an integer, not %s",
                     type_name(max_retries));
            return -1;
        }
        r->has_max_retries = true;
        r->max_retries = max_retries->valueint;
    }
    return 0;
}

int
api_enqueue_req(const cJSON *body, struct enqueue_req *r, char *err, size_t errlen)
{
    const cJSON *name, *args, *kwargs, *queue, *parent;

    memset(r, 0, sizeof *r);
    if (!cJSON_IsObject(body)) {
        snprintf(err, errlen, "the request body must be a JSON object, not %s", type_name(body));
        return -1;
    }
    if (check_fields(body, err, errlen) < 0)
        return -1;
    name = cJSON_GetObjectItemCaseSensitive(body, "name");
    if (name == NULL) {
        snprintf(err, errlen, "'name' is required: the task's name, a string such as \"demo.add\"");
        return -1;
    }
    if (!cJSON_IsString(name)) {
        snprintf(err, errlen, "'name' must be a string, not %s", type_name(name));
        return -1;
    }
    args = optional(body, "args");
    if (args != NULL && !cJSON_IsArray(args)) {
        snprintf(err, errlen, "'args' must be a JSON array, not %s", type_name(args));
        return -1;
    }
    kwargs = optional(body, "kwargs");
    if (kwargs != NULL && !cJSON_IsObject(kwargs)) {
        snprintf(err, errlen, "'kwargs' must be a JSON object, not %s", type_name(kwargs));
        return -1;
    }
    queue = optional(body, "queue");
    if (queue != NULL && !cJSON_IsString(queue)) {
        snprintf(err, errlen, "'queue' must be a string, not %s", type_name(queue));
        return -1;
    }
    /* Only the form of the id here: app_parent_check() asks whether it exists. */
    parent = optional(body, "parent_id");
    if (parent != NULL && (!cJSON_IsString(parent) || !uuid_is_valid(parent->valuestring))) {
        snprintf(err, errlen, "'parent_id' must be a task id (a UUID string), not %s",
                 cJSON_IsString(parent) ? "this string" : type_name(parent));
        return -1;
    }
    r->name = name->valuestring;
    r->args = args;
    r->kwargs = kwargs;
    r->queue = queue != NULL ? queue->valuestring : NULL;
    r->parent_id = parent != NULL ? parent->valuestring : NULL;
    if (api_enqueue_options(body, r, err, errlen) < 0)
        return -1;
    /* The same rules enqueue_task() applies, checked here so the unit tests
     * see every message and a 400 never reaches the database. */
    return enqueue_validate(r, err, errlen) == ENQUEUE_OK ? 0 : -1;
}

/* ----- enqueueing, shared with the HTML form ----- */

int
app_enqueue(struct app *a, struct enqueue_req *r, char id[UUID_STR_LEN], bool *unconfirmed,
            char *err, size_t errlen)
{
    int rc;

    r->origin = a->origin;
    rc = producer_enqueue(a->producer, r, id, unconfirmed, err, errlen);
    if (rc == ENQUEUE_OK)
        log_task(LL_DEBUG, id, "enqueued %s", r->name);
    return rc;
}

unsigned int
app_enqueue_status(int rc)
{
    switch (rc) {
    case ENQUEUE_OK:
        return MHD_HTTP_ACCEPTED;
    case ENQUEUE_INVALID:
        return MHD_HTTP_BAD_REQUEST;
    default:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
}

void
api_task_create(struct app *a, struct request *r, struct response *resp)
{
    struct enqueue_req req;
    char err[1024], id[UUID_STR_LEN];
    cJSON *body = NULL, *out = NULL;
    bool unconfirmed;
    unsigned int status;
    int rc;

    if (r->too_big) {
        api_error(resp, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is larger than %d bytes",
                  WEBAPP_BODY_MAX);
        goto out;
    }
    body = api_parse_body(r->body.data, r->body.len, err, sizeof err);
    if (body == NULL || api_enqueue_req(body, &req, err, sizeof err) < 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "%s", err);
        goto out;
    }
    if (req.parent_id != NULL && (status = app_parent_check(a, req.parent_id, err, sizeof err))) {
        api_error(resp, status, "%s", err);
        goto out;
    }
    rc = app_enqueue(a, &req, id, &unconfirmed, err, sizeof err);
    if (rc != ENQUEUE_OK) {
        api_error(resp, app_enqueue_status(rc), "%s", err);
        goto out;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", id);
    cJSON_AddStringToObject(out, "state", "PENDING");
    /* false: the row is stored but RabbitMQ's confirm never came; the task
     * still runs (the sweeper publishes it again if the message was lost). */
    cJSON_AddBoolToObject(out, "confirmed", !unconfirmed);
    api_json(resp, MHD_HTTP_ACCEPTED, out);
    snprintf(resp->location, sizeof resp->location, "/api/tasks/%s", id);
out:
    cJSON_Delete(body);
    cJSON_Delete(out);
}

/* ----- reading tasks ----- */

PGconn *
api_db_or_503(struct app *a, struct response *resp)
{
    char why[512];
    PGconn *db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);

    if (db == NULL)
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable: %s", why);
    return db;
}

static bool
id_ok_or_400(struct request *r, struct response *resp)
{
    if (uuid_is_valid(r->id))
        return true;
    api_error(resp, MHD_HTTP_BAD_REQUEST,
              "invalid task id: expected a UUID such as 0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f10");
    return false;
}

/* Answer a store failure: 404 for a missing row, 503 otherwise. */
static void
store_failed(struct response *resp, int rc, const char *what)
{
    if (rc == STORE_NOT_FOUND)
        api_error(resp, MHD_HTTP_NOT_FOUND, "no such task");
    else
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable while %s", what);
}

void
api_task_get(struct app *a, struct request *r, struct response *resp)
{
    PGconn *db;
    cJSON *row;
    int rc;

    if (!id_ok_or_400(r, resp) || (db = api_db_or_503(a, resp)) == NULL)
        return;
    row = store_task_get(db, r->id, &rc);
    dbpool_put(a->db, db);
    if (row == NULL) {
        store_failed(resp, rc, "reading the task");
        return;
    }
    api_json(resp, MHD_HTTP_OK, row);
    cJSON_Delete(row);
}

void
api_task_logs(struct app *a, struct request *r, struct response *resp)
{
    PGconn *db;
    cJSON *logs = NULL, *out = NULL;
    int rc;

    if (!id_ok_or_400(r, resp) || (db = api_db_or_503(a, resp)) == NULL)
        return;
    logs = store_task_logs(db, r->id, &rc); /* a 404 for an unknown task, not [] */
    dbpool_put(a->db, db);
    if (logs == NULL) {
        store_failed(resp, rc, "reading the task's logs");
        goto out;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "task_id", r->id);
    cJSON_AddItemToObject(out, "logs", logs);
    logs = NULL;
    api_json(resp, MHD_HTTP_OK, out);
out:
    cJSON_Delete(logs);
    cJSON_Delete(out);
}

/* The cursor of the first or the last task of a page, or null. */
static cJSON *
page_cursor(const cJSON *tasks, bool last)
{
    const cJSON *t = cJSON_GetArrayItem(tasks, last ? cJSON_GetArraySize(tasks) - 1 : 0);
    const char *c = json_str(t, "cursor");

    return c != NULL ? cJSON_CreateString(c) : cJSON_CreateNull();
}

void
api_task_list(struct app *a, struct request *r, struct response *resp)
{
    struct task_filters f;
    struct store_task_query q;
    char why[256];
    cJSON *page, *tasks;
    PGconn *db;
    bool more;
    int rc;

    if (task_filters_parse(r, &f, why, sizeof why) < 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "%s", why);
        return;
    }
    if ((db = api_db_or_503(a, resp)) == NULL)
        return;
    task_filters_query(&f, &q);
    page = store_task_list(db, &q, &rc);
    dbpool_put(a->db, db);
    if (page == NULL) {
        store_failed(resp, rc == STORE_NOT_FOUND ? STORE_ERR : rc, "listing tasks");
        return;
    }
    /* "next" continues in the page's direction (?after=), "previous" goes
     * back (?before=); null where nothing lies that way. A page reached
     * through a cursor always has one back to where it came from. */
    tasks = cJSON_GetObjectItemCaseSensitive(page, "tasks");
    more = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(page, "more"));
    cJSON_AddItemToObject(page, "next", f.before != NULL || more ? page_cursor(tasks, true)
                                                                 : cJSON_CreateNull());
    cJSON_AddItemToObject(page, "previous", f.after != NULL || (f.before != NULL && more)
                                                ? page_cursor(tasks, false)
                                                : cJSON_CreateNull());
    cJSON_DeleteItemFromObjectCaseSensitive(page, "more");
    api_json(resp, MHD_HTTP_OK, page);
    cJSON_Delete(page);
}

/* ----- workers ----- */

void
api_worker_list(struct app *a, struct request *r, struct response *resp)
{
    cJSON *workers, *out;
    PGconn *db;
    int rc;

    (void)r;
    if ((db = api_db_or_503(a, resp)) == NULL)
        return;
    workers = store_workers_list(db, &rc);
    dbpool_put(a->db, db);
    if (workers == NULL) {
        store_failed(resp, rc == STORE_NOT_FOUND ? STORE_ERR : rc, "listing workers");
        return;
    }
    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "workers", workers);
    api_json(resp, MHD_HTTP_OK, out);
    cJSON_Delete(out);
}

/* ----- revoking ----- */

void
api_task_revoke(struct app *a, struct request *r, struct response *resp)
{
    const char *t = http_query(r, "terminate");
    bool terminate = t != NULL && (strcmp(t, "1") == 0 || strcmp(t, "true") == 0);
    char before[32];
    cJSON *out;
    PGconn *db;
    int rc;

    if (t != NULL && !terminate && strcmp(t, "0") != 0 && strcmp(t, "false") != 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "terminate must be 1, true, 0 or false");
        return;
    }
    if (!id_ok_or_400(r, resp) || (db = api_db_or_503(a, resp)) == NULL)
        return;
    /* Durable first: the row and table revocations (whose seq the workers
     * poll) go in one statement. */
    rc = store_revoke(db, r->id, terminate, before, sizeof before);
    dbpool_put(a->db, db);
    if (rc != STORE_OK) {
        store_failed(resp, rc, "revoking the task");
        return;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", r->id);
    cJSON_AddBoolToObject(out, "terminate", terminate);
    cJSON_AddStringToObject(out, "previous_state", before[0] ? before : "UNKNOWN");
    /* A task already SUCCESS or FAILURE keeps its state. */
    cJSON_AddStringToObject(out, "state", store_state_final(before) ? before : "REVOKED");
    api_json(resp, MHD_HTTP_OK, out);
    cJSON_Delete(out);
}

/* ----- lineage ----- */

unsigned int
app_parent_check(struct app *a, const char *parent_id, char *err, size_t errlen)
{
    PGconn *db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, err, errlen);
    cJSON *row;
    int rc;

    if (db == NULL)
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    row = store_task_get(db, parent_id, &rc);
    dbpool_put(a->db, db);
    cJSON_Delete(row);
    if (row != NULL)
        return 0;
    if (rc == STORE_NOT_FOUND) {
        snprintf(err, errlen, "'parent_id': there is no task %s", parent_id);
        return MHD_HTTP_BAD_REQUEST;
    }
    snprintf(err, errlen, "database unavailable while reading the parent task");
    return MHD_HTTP_SERVICE_UNAVAILABLE;
}

unsigned int
app_task_retry(struct app *a, const char *id, char new_id[UUID_STR_LEN], bool *unconfirmed,
               char *err, size_t errlen)
{
    struct enqueue_req req = {0};
    const char *state, *queue;
    cJSON *row = NULL;
    PGconn *db;
    unsigned int status;
    int rc;

    if ((db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, err, errlen)) == NULL)
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    row = store_task_get(db, id, &rc);
    dbpool_put(a->db, db);
    if (row == NULL) {
        snprintf(err, errlen, "%s",
                 rc == STORE_NOT_FOUND ? "no such task" : "database unavailable while reading it");
        return rc == STORE_NOT_FOUND ? MHD_HTTP_NOT_FOUND : MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    /* A task that succeeded, or has not ended, is not retried: running it
     * again is a deliberate new run ("Edit and re-run", POST /api/tasks with
     * parent_id), not a retry. */
    state = json_str(row, "state");
    if (state == NULL || (strcmp(state, "FAILURE") != 0 && strcmp(state, "REVOKED") != 0)) {
        snprintf(err, errlen,
                 "only a FAILURE or REVOKED task can be retried; this one is %s%s",
                 state != NULL ? state : "in no known state",
                 state != NULL && strcmp(state, "SUCCESS") == 0
                     ? ": to run it again, enqueue it with parent_id (Edit and re-run)"
                     : ": revoke it first to run it anew");
        status = MHD_HTTP_CONFLICT;
        goto out;
    }
    queue = json_str(row, "queue");
    req.name = json_str(row, "name");
    req.args = cJSON_GetObjectItemCaseSensitive(row, "args");
    req.kwargs = cJSON_GetObjectItemCaseSensitive(row, "kwargs");
    req.queue = queue != NULL && queue[0] != '\0' ? queue : NULL; /* "": route by name */
    req.parent_id = id;
    rc = app_enqueue(a, &req, new_id, unconfirmed, err, errlen);
    /* Invalid here is the stored task's fault (a name a Python client sent
     * that celeriac cannot publish), not the request's. */
    status = rc == ENQUEUE_INVALID ? MHD_HTTP_CONFLICT : app_enqueue_status(rc);
out:
    cJSON_Delete(row);
    return status;
}

void
api_task_retry(struct app *a, struct request *r, struct response *resp)
{
    char err[1024], id[UUID_STR_LEN];
    bool unconfirmed = false;
    unsigned int status;
    cJSON *out;

    if (!id_ok_or_400(r, resp))
        return;
    status = app_task_retry(a, r->id, id, &unconfirmed, err, sizeof err);
    if (status != MHD_HTTP_ACCEPTED) {
        api_error(resp, status, "%s", err);
        return;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", id);
    cJSON_AddStringToObject(out, "state", "PENDING");
    cJSON_AddStringToObject(out, "parent_id", r->id);
    cJSON_AddBoolToObject(out, "confirmed", !unconfirmed);
    api_json(resp, MHD_HTTP_ACCEPTED, out);
    snprintf(resp->location, sizeof resp->location, "/api/tasks/%s", id);
    cJSON_Delete(out);
}

/* ----- health ----- */

void
api_healthz(struct app *a, struct request *r, struct response *resp)
{
    char db_why[512] = "", mq_why[512] = "";
    bool db_ok = false, mq_ok;
    PGconn *db;
    cJSON *out = cJSON_CreateObject();

    (void)r;
    /* Short wait: a pool exhausted by slow queries is itself worth reporting. */
    db = dbpool_get(a->db, 2000, db_why, sizeof db_why);
    if (db != NULL) {
        db_ok = store_ping(db) == STORE_OK;
        if (!db_ok)
            snprintf(db_why, sizeof db_why, "SELECT 1 failed: %s", PQerrorMessage(db));
        dbpool_put(a->db, db);
    }
    mq_ok = producer_check_broker(a->producer, mq_why, sizeof mq_why) == 0;
    cJSON_AddStringToObject(out, "status", db_ok && mq_ok ? "ok" : "unavailable");
    cJSON_AddStringToObject(out, "database", db_ok ? "ok" : "down");
    cJSON_AddStringToObject(out, "broker", mq_ok ? "ok" : "down");
    if (db_ok && mq_ok) {
        api_json(resp, MHD_HTTP_OK, out);
    } else {
        char msg[1100];
        snprintf(msg, sizeof msg, "%s%s%s%s%s", db_ok ? "" : "database: ", db_ok ? "" : db_why,
                 !db_ok && !mq_ok ? "; " : "", mq_ok ? "" : "broker: ", mq_ok ? "" : mq_why);
        text_one_line(msg);
        cJSON_AddStringToObject(out, "error", msg);
        api_json(resp, MHD_HTTP_SERVICE_UNAVAILABLE, out);
        resp->retry_after = 5;
    }
    resp->cache_control = "no-store";
    cJSON_Delete(out);
}
