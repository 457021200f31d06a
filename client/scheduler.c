/* client/scheduler.c - see scheduler.h. */
#include "client/scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "common/clock.h"
#include "common/cron.h"
#include "common/json.h"
#include "common/log.h"
#include "common/uuid.h"
#include "sql/store.h"

#define CONFIRM_TIMEOUT_MS 10000

struct scheduler {
    char *amqp_url, *database_url, *name;
    bool cron_seconds;
    struct broker *b;
    PGconn *db;
    /* Rounds in a row that failed, publishing and firing: log the first only. */
    int publish_streak, fire_streak;
    int *streak; /* the one of the round under way */
};

struct scheduler *
scheduler_new(const char *amqp_url, const char *database_url, const char *conn_name,
              bool cron_seconds)
{
    struct scheduler *s = calloc(1, sizeof *s);

    if (s == NULL)
        return NULL;
    s->amqp_url = strdup(amqp_url);
    s->database_url = strdup(database_url);
    s->name = strdup(conn_name);
    s->cron_seconds = cron_seconds;
    s->streak = &s->publish_streak;
    if (s->amqp_url == NULL || s->database_url == NULL || s->name == NULL) {
        scheduler_free(s);
        return NULL;
    }
    return s;
}

void
scheduler_free(struct scheduler *s)
{
    if (s == NULL)
        return;
    broker_close(s->b);
    store_close(s->db);
    free(s->amqp_url);
    free(s->database_url);
    free(s->name);
    free(s);
}

static void
trouble(struct scheduler *s, const char *what, const char *err)
{
    if ((*s->streak)++ == 0)
        log_warn("scheduler: %s: %s (retrying)", what, err);
    if (store_is_ok(s->db) && store_in_transaction(s->db))
        store_rollback(s->db);
}

static bool
db_ensure(struct scheduler *s)
{
    char err[512];

    if (store_is_ok(s->db))
        return true;
    store_close(s->db);
    s->db = store_open(s->database_url, s->name, err, sizeof err);
    if (s->db == NULL)
        trouble(s, "PostgreSQL", err);
    return s->db != NULL;
}

static bool
broker_ensure(struct scheduler *s)
{
    char err[512];

    if (s->b != NULL && broker_is_open(s->b))
        return true;
    broker_close(s->b);
    s->b = broker_open(s->amqp_url, s->name, err, sizeof err);
    if (s->b == NULL)
        trouble(s, "RabbitMQ", err);
    return s->b != NULL;
}

/* The wire form of a scheduled_tasks row (headers and body as the worker
 * encoded them). */
static int
row_wire(const cJSON *row, struct celery_wire *w)
{
    const cJSON *prio = cJSON_GetObjectItemCaseSensitive(row, "priority");
    const char *body = json_str(row, "body"), *reply_to = json_str(row, "reply_to");

    memset(w, 0, sizeof *w);
    if (body == NULL)
        return -1;
    w->headers = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(row, "headers"), true);
    w->body = strdup(body);
    w->body_len = strlen(body);
    w->content_type = strdup("application/json");
    w->content_encoding = strdup("utf-8");
    w->correlation_id = strdup(json_str(row, "id"));
    w->reply_to = reply_to != NULL ? strdup(reply_to) : NULL;
    w->priority = cJSON_IsNumber(prio) ? prio->valueint : -1;
    w->delivery_mode = 2;
    return w->headers != NULL && w->body != NULL && w->correlation_id != NULL ? 0 : -1;
}

int
scheduler_publish_due(struct scheduler *s, int limit)
{
    char err[512] = "";
    const char **ids = NULL;
    uint64_t *seqs = NULL;
    cJSON *rows = NULL;
    const cJSON *row;
    int rc, n = 0, ok = 0, total;

    s->streak = &s->publish_streak;
    if (!db_ensure(s))
        return -1;
    if (store_begin(s->db) != STORE_OK) {
        trouble(s, "BEGIN", store_error_message(s->db));
        return -1;
    }
    rows = store_scheduled_claim(s->db, limit, &rc);
    if (rows == NULL) {
        trouble(s, "claiming due tasks", store_error_message(s->db));
        return -1;
    }
    total = cJSON_GetArraySize(rows);
    if (total == 0) {
        store_rollback(s->db);
        cJSON_Delete(rows);
        s->publish_streak = 0;
        return 0;
    }
    ids = calloc((size_t)total, sizeof *ids);
    seqs = calloc((size_t)total, sizeof *seqs);
    if (ids == NULL || seqs == NULL || !broker_ensure(s))
        goto fail;
    broker_outcomes_clear(s->b);
    cJSON_ArrayForEach(row, rows)
    {
        struct celery_wire w = {0};
        const char *queue = json_str(row, "queue");
        int sent;

        if (queue == NULL || row_wire(row, &w) < 0) {
            celery_wire_fini(&w);
            log_task(LL_ERROR, json_str(row, "id"), "scheduler: unreadable schedule: dropped");
            ids[n] = json_str(row, "id"); /* deleted with the published ones */
            seqs[n++] = 0;
            continue;
        }
        sent = broker_declare_queue(s->b, queue) == 0 &&
               broker_publish_nowait(s->b, queue, &w, err, sizeof err) == 0;
        celery_wire_fini(&w);
        if (!sent)
            goto fail;
        ids[n] = json_str(row, "id");
        seqs[n++] = broker_last_seq(s->b);
    }
    broker_wait_confirms(s->b, CONFIRM_TIMEOUT_MS, err, sizeof err);
    /* Delete only what RabbitMQ confirmed; the rest stays due (locked until
     * our commit, then the next round takes it again). */
    for (int i = 0; i < n; i++) {
        if (seqs[i] == 0 || broker_outcome(s->b, seqs[i], ids[i]) == BROKER_CONFIRMED)
            ids[ok++] = ids[i];
    }
    if (store_scheduled_delete(s->db, ids, ok) != STORE_OK || store_commit(s->db) != STORE_OK)
        goto fail;
    if (ok < n)
        log_warn("scheduler: %d of %d due tasks unconfirmed: trying again", n - ok, n);
    else
        s->publish_streak = 0;
    log_debug("scheduler: published %d due task%s", ok, ok == 1 ? "" : "s");
    free(ids);
    free(seqs);
    cJSON_Delete(rows);
    return ok;
fail:
    trouble(s, "publishing due tasks",
            err[0] ? err : s->b == NULL ? "no broker" : "RabbitMQ refused a publish");
    free(ids);
    free(seqs);
    cJSON_Delete(rows);
    return -1;
}

/* One run of periodic task p as a schedule due now, with its PENDING row. */
static int
fire(struct scheduler *s, const cJSON *p, const char *id, const char *now_iso)
{
    const char *task = json_str(p, "task"), *queue = json_str(p, "queue");
    struct celery_msg m = {0};
    struct celery_wire w;
    struct store_schedule sched;
    struct store_task t;
    char err[256], *headers = NULL, *args = NULL, *kwargs = NULL;
    int rc = STORE_BAD_DATA;

    if (task == NULL || !celery_name_valid(task))
        return STORE_BAD_DATA;
    if (queue == NULL)
        queue = broker_queue_for_task(task);
    m.id = (char *)id;
    m.task = (char *)task;
    m.args = cJSON_GetObjectItemCaseSensitive(p, "args");
    m.kwargs = cJSON_GetObjectItemCaseSensitive(p, "kwargs");
    m.origin = s->name;
    m.group_index = -1;
    m.max_retries = -1;
    if (celery_encode(&m, &w, err, sizeof err) < 0)
        return STORE_BAD_DATA;
    headers = json_print(w.headers);
    args = json_print(m.args);
    kwargs = json_print(m.kwargs);
    if (headers != NULL && args != NULL && kwargs != NULL) {
        sched = (struct store_schedule){
            .due_at = now_iso, .headers_json = headers, .body = w.body, .priority = -1};
        t = (struct store_task){.id = id,
                               .name = task,
                               .queue = queue,
                               .args_json = args,
                               .kwargs_json = kwargs,
                               .origin = s->name};
        rc = store_schedule(s->db, &t, queue, &sched);
    }
    cJSON_free(headers);
    cJSON_free(args);
    cJSON_free(kwargs);
    celery_wire_fini(&w);
    return rc;
}

int
scheduler_fire_periodic(struct scheduler *s, int limit)
{
    cJSON *due;
    const cJSON *p;
    char now_iso[CLOCK_ISO_LEN];
    double now = clock_wall();
    int rc, fired = 0;

    s->streak = &s->fire_streak;
    if (!db_ensure(s))
        return -1;
    if (store_begin(s->db) != STORE_OK) {
        trouble(s, "BEGIN", store_error_message(s->db));
        return -1;
    }
    if ((due = store_periodic_claim(s->db, limit, &rc)) == NULL) {
        trouble(s, "claiming periodic tasks", store_error_message(s->db));
        return -1;
    }
    clock_iso_at(now, now_iso);
    cJSON_ArrayForEach(p, due)
    {
        const char *name = json_str(p, "name"), *expr = json_str(p, "cron");
        const cJSON *due_at = cJSON_GetObjectItemCaseSensitive(p, "next_run_epoch");
        char err[256], id[UUID_STR_LEN], next_iso[CLOCK_ISO_LEN];
        double after = now;
        struct cron c;
        int64_t next;

        /* After the later of our clock and the due time PostgreSQL's clock
         * found passed: a master whose clock is behind must not fire the
         * same due time again. */
        if (cJSON_IsNumber(due_at) && due_at->valuedouble > after)
            after = due_at->valuedouble;
        if (expr == NULL || cron_parse(expr, s->cron_seconds, &c, err, sizeof err) < 0 ||
            (next = cron_next(&c, (int64_t)after)) < 0) {
            /* Disabled rather than retried every round; `celeriac periodic` shows it. */
            log_error("scheduler: periodic task '%s' has an unusable schedule '%s': disabled",
                      name, expr ? expr : "");
            store_periodic_enable(s->db, name, false, NULL);
            continue;
        }
        uuid_new(id);
        clock_iso_at((double)next, next_iso);
        rc = fire(s, p, id, now_iso);
        if (rc == STORE_BAD_DATA) {
            log_error("scheduler: periodic task '%s' cannot be sent (task name or arguments):"
                      " disabled", name);
            store_periodic_enable(s->db, name, false, NULL);
            continue;
        }
        if (rc == STORE_OK)
            rc = store_periodic_fired(s->db, name, next_iso, id);
        if (rc != STORE_OK) {
            cJSON_Delete(due);
            trouble(s, "firing a periodic task", store_error_message(s->db));
            return -1;
        }
        log_task(LL_INFO, id, "periodic task '%s' fired (%s); next at %s", name,
                 json_str(p, "task"), next_iso);
        fired++;
    }
    cJSON_Delete(due);
    if (store_commit(s->db) != STORE_OK) {
        trouble(s, "committing periodic runs", store_error_message(s->db));
        return -1;
    }
    s->fire_streak = 0;
    return fired;
}
