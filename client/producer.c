/* client/producer.c - see producer.h. */
#include "client/producer.h"

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "broker/celery.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/json.h"
#include "common/log.h"
#include "sql/migrate.h"
#include "sql/store.h"

/* A connection idle this long may have been closed by a broker restart
 * without us noticing (rabbitmq-c only sees it on the next call): probe it
 * before publishing rather than fail the user's request. */
#define PROBE_AFTER_IDLE_S 1.0

/* One caller's task on its way through the two stages. */
struct job {
    struct store_task rec; /* points into the fields below */
    char id[UUID_STR_LEN];
    const char *queue;
    char *args_json, *kwargs_json;
    struct celery_wire wire;
    uint64_t seq; /* confirm sequence number; 0: never sent */
    long long group; /* its unconfirmed_publishes row; 0: unknown */
    int rc;
    bool unconfirmed;
    char err[256];
    bool done;       /* both stages are done with it (or one failed it) */
    int lead;        /* its thread was handed the lead of stage 1 or 2... */
    struct job *led; /* ...for this group (taken off the stage's queue) */
    pthread_cond_t wake;
    struct job *next;
};

struct producer;

/* A group-commit stage: jobs queue up while it has all the leaders it may
 * have; whoever finds a leader's place free (or is handed one) takes every
 * queued job as its group and does their work without the lock. */
struct stage {
    struct job *head, *tail;
    int leaders, max_leaders;
};

/* Publishing waits for RabbitMQ's confirms, which come after its fsync: a
 * round costs about the same whatever its size. Several leaders, each with
 * a connection of its own, let a group publish while others wait. */
#define PUBLISH_LANES 3
/* The same is possible for writing rows (one connection each), but a row
 * round takes a third of a publish round: a second lane measured no gain. */
#define ROW_LANES 1

struct lane {
    struct broker *b;
    PGconn *db;    /* withdraws refused rows, settles groups */
    double last_ok; /* clock_mono() of its broker's last good answer */
    bool warned;   /* "cannot connect" logged once per outage */
    bool in_use;
};

struct producer {
    char *amqp_url, *database_url, *name;
    int timeout_ms;
    pthread_mutex_t mu;   /* guards the stages, the lanes' in_use, jobs' done/lead */
    pthread_cond_t idle;  /* broadcast when a stage loses a leader */
    struct stage rows;    /* stage 1: INSERT the PENDING rows (a leader per row lane) */
    struct stage publish; /* stage 2: publish, wait for the confirms (a leader per lane) */
    PGconn *row_db[ROW_LANES]; /* stage 1's connections; [0] is also the sweeper's */
    bool row_in_use[ROW_LANES];
    struct lane lanes[PUBLISH_LANES];
    _Atomic double last_ok; /* clock_mono() of the last good answer of any lane (health checks) */
    bool ready;             /* mu and idle are initialised */
    _Atomic bool schema_ok; /* migrate_check() passed once (any connection may check) */
    _Atomic bool warned_db; /* "cannot connect" logged once per outage (any connection) */
};

/* ----- stages ----- */

static void
queue_append(struct stage *s, struct job *j)
{
    j->next = NULL;
    if (s->tail != NULL)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
}

/* Wake j's thread (waiting on its own condition variable, not all of them:
 * waking every waiter at every turn cost more CPU than the work). */
static void
wake(struct job *j, struct job *me)
{
    if (j != me)
        pthread_cond_signal(&j->wake);
}

/* Take every job queued in s, as a group (a list through next). */
static struct job *
take_queue(struct stage *s)
{
    struct job *group = s->head;

    s->head = s->tail = NULL;
    return group;
}

/* With p->mu held, as a leader of stage s that is done: give the place and
 * everything queued to the first queued job, or leave the place free. The
 * group leaves the queue with the lead, so no job is handed a lead twice. */
static void
hand_over(struct producer *p, struct stage *s, int stage, struct job *me)
{
    struct job *group = take_queue(s);

    if (group == NULL) {
        s->leaders--;
        pthread_cond_broadcast(&p->idle);
        return;
    }
    group->lead = stage;
    group->led = group;
    wake(group, me);
}

static void insert_rows(struct producer *p, PGconn **db, struct job *group);
static void publish_all(struct producer *p, struct lane *l, struct job *group);

/* Lead stage 2 for group. With p->mu held; returns with it held. */
static void
lead_publish(struct producer *p, struct job *me, struct job *group)
{
    struct job *q, *next;
    struct lane *l = p->lanes;

    while (l->in_use) /* there are as many lanes as leaders */
        l++;
    l->in_use = true;
    pthread_mutex_unlock(&p->mu);
    publish_all(p, l, group);
    pthread_mutex_lock(&p->mu);
    l->in_use = false;
    for (q = group; q != NULL; q = next) {
        next = q->next; /* q may be gone as soon as its owner sees done */
        q->done = true;
        wake(q, me);
    }
    hand_over(p, &p->publish, 2, me);
}

/* Lead stage 1 for group, then carry the rows that were stored into stage 2
 * (leading it too when it has a place free), so that a request sleeps at
 * most once. With p->mu held; returns with it held. */
static void
lead_rows(struct producer *p, struct job *me, struct job *group)
{
    struct job *q, *next;
    int lane = 0;

    while (p->row_in_use[lane]) /* there are as many row lanes as leaders */
        lane++;
    p->row_in_use[lane] = true;
    pthread_mutex_unlock(&p->mu);
    insert_rows(p, &p->row_db[lane], group);
    pthread_mutex_lock(&p->mu);
    p->row_in_use[lane] = false;
    hand_over(p, &p->rows, 1, me);
    for (q = group; q != NULL; q = next) {
        next = q->next;
        if (q->rc == ENQUEUE_OK) {
            queue_append(&p->publish, q);
        } else {
            q->done = true;
            wake(q, me);
        }
    }
    if (p->publish.leaders < p->publish.max_leaders && p->publish.head != NULL) {
        p->publish.leaders++;
        lead_publish(p, me, take_queue(&p->publish));
    }
}

/* Take me through both stages: queue it, then sleep until it is done or
 * this thread is handed a lead. */
static void
job_run(struct producer *p, struct job *me)
{
    pthread_mutex_lock(&p->mu);
    me->done = false;
    me->lead = 0;
    queue_append(&p->rows, me);
    if (p->rows.leaders < p->rows.max_leaders) {
        p->rows.leaders++;
        me->lead = 1;
        me->led = take_queue(&p->rows);
    }
    /* A job handed a lead leads a group it belongs to: it is done only
     * after leading it, so no lead is ever dropped. */
    while (!me->done) {
        int stage = me->lead;
        struct job *group = me->led;

        me->lead = 0;
        me->led = NULL;
        if (stage == 1)
            lead_rows(p, me, group);
        else if (stage == 2)
            lead_publish(p, me, group);
        else
            pthread_cond_wait(&me->wake, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
}

/* Have stage s to oneself, every place taken (health checks, the sweeper). */
static void
stage_lock(struct producer *p, struct stage *s)
{
    pthread_mutex_lock(&p->mu);
    while (s->leaders > 0)
        pthread_cond_wait(&p->idle, &p->mu);
    s->leaders = s->max_leaders;
    pthread_mutex_unlock(&p->mu);
}

static void
stage_unlock(struct producer *p, struct stage *s)
{
    pthread_mutex_lock(&p->mu);
    s->leaders = 1;
    hand_over(p, s, s == &p->rows ? 1 : 2, NULL); /* jobs may have queued meanwhile */
    pthread_mutex_unlock(&p->mu);
}

/* ----- connections ----- */

/* An idle connection may have died since its last use (a server restart
 * closes it, and libpq only notices on the next query, which would fail a
 * user's request): an idle connection has nothing to say, so any input or
 * hang-up means it is gone. */
static bool
db_usable(PGconn *db)
{
    struct pollfd pfd = {.fd = PQsocket(db), .events = POLLIN};

    if (!store_is_ok(db) || PQtransactionStatus(db) != PQTRANS_IDLE || pfd.fd < 0)
        return false;
    return poll(&pfd, 1, 0) == 0;
}

static int
db_ensure(struct producer *p, PGconn **db, char *err, size_t errlen)
{
    char why[512];

    if (*db != NULL && db_usable(*db))
        return 0;
    store_close(*db);
    *db = store_open(p->database_url, p->name, err, errlen);
    if (*db != NULL && !p->schema_ok && migrate_check(*db, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s", why);
        store_close(*db);
        *db = NULL;
    }
    if (*db == NULL) {
        if (!p->warned_db)
            log_warn("%s", err);
        p->warned_db = true;
        return -1;
    }
    if (p->warned_db)
        log_info("connected to PostgreSQL again");
    p->warned_db = false;
    p->schema_ok = true;
    return 0;
}

/* With lane l ours: an open connection with the topology declared, probed
 * first when idle for a while. Reconnects at most once. */
static int
broker_ensure(struct producer *p, struct lane *l, char *err, size_t errlen)
{
    char safe[256];

    /* A passive queue.declare is the cheapest round trip that proves the
     * connection and channel are alive; a failure marks the broker broken. */
    if (broker_is_open(l->b) && clock_mono() - l->last_ok >= PROBE_AFTER_IDLE_S &&
        broker_queue_depth(l->b, "celery") < 0)
        log_warn("the connection to RabbitMQ was lost: reconnecting");
    if (broker_is_open(l->b))
        return 0;
    broker_close(l->b);
    l->b = broker_open(p->amqp_url, p->name, err, errlen);
    if (l->b == NULL) {
        if (!l->warned)
            log_warn("%s", err);
        l->warned = true;
        return -1;
    }
    if (broker_declare_topology(l->b) < 0) {
        snprintf(err, errlen, "RabbitMQ refused to declare the celery exchange and queues");
        broker_close(l->b);
        l->b = NULL;
        return -1;
    }
    cfg_redact_url(p->amqp_url, safe, sizeof safe);
    log_info("connected to RabbitMQ at %s", safe);
    l->warned = false;
    l->last_ok = clock_mono();
    p->last_ok = l->last_ok;
    return 0;
}

/* ----- stage 1: rows ----- */

static int
count_jobs(const struct job *batch)
{
    int n = 0;

    for (; batch != NULL; batch = batch->next)
        n++;
    return n;
}

static void __attribute__((format(printf, 3, 4)))
fail_job(struct job *j, int rc, const char *fmt, ...)
{
    va_list ap;

    j->rc = rc;
    va_start(ap, fmt);
    vsnprintf(j->err, sizeof j->err, fmt, ap);
    va_end(ap);
}

static void
insert_rows(struct producer *p, PGconn **db, struct job *batch)
{
    int n = count_jobs(batch), i = 0, rc;
    long long group = 0;
    struct store_task *recs = calloc((size_t)n, sizeof *recs);
    const char **ids = calloc((size_t)n, sizeof *ids);
    bool *stored = calloc((size_t)n, sizeof *stored);
    char err[512];
    struct job *j;

    if (recs == NULL || ids == NULL || stored == NULL) {
        for (j = batch; j != NULL; j = j->next)
            fail_job(j, ENQUEUE_DB_DOWN, "%s", "out of memory");
        goto out;
    }
    for (j = batch; j != NULL; j = j->next, i++) {
        recs[i] = j->rec;
        ids[i] = j->id;
    }
    if (db_ensure(p, db, err, sizeof err) < 0) {
        for (j = batch; j != NULL; j = j->next)
            fail_job(j, ENQUEUE_DB_DOWN, "database unavailable: %s", err);
        goto out;
    }
    rc = store_tasks_create(*db, recs, n, &group);
    if (rc == STORE_OK) {
        for (j = batch; j != NULL; j = j->next)
            j->group = group; /* every job keeps rc ENQUEUE_OK */
        goto out;
    }
    if (rc == STORE_BAD_DATA) {
        /* One bad row refuses the statement: find it, store the others. */
        for (i = 0, j = batch; j != NULL; j = j->next, i++)
            if (store_tasks_create(*db, &recs[i], 1, &j->group) != STORE_OK)
                fail_job(j, ENQUEUE_INVALID, "%s",
                         "the task's arguments cannot be stored (e.g. a \\u0000 in a string)");
        goto out;
    }
    /* The connection failed: the commit may or may not have happened. Look,
     * rather than answer 503 for rows that exist (and would run after all).
     * Their group's id is unknown: the sweeper will publish them once more,
     * which ids make harmless. */
    snprintf(err, sizeof err, "%s", store_error_message(*db));
    if (db_ensure(p, db, err, sizeof err) < 0 ||
        store_tasks_find(*db, ids, n, false, stored) != STORE_OK)
        memset(stored, 0, sizeof *stored * (size_t)n);
    for (i = 0, j = batch; j != NULL; j = j->next, i++)
        if (!stored[i])
            fail_job(j, ENQUEUE_DB_DOWN, "database unavailable: %s", err);
out:
    free(recs);
    free(ids);
    free(stored);
}

/* ----- stage 2: publish ----- */

/* On stage 2's own connection: withdraw the rows RabbitMQ refused (their
 * callers get a 503), then settle the groups of the round: drop them, or
 * keep only the ids whose confirm never came, for the sweeper. */
static void
settle_round(struct producer *p, struct lane *l, struct job *batch, const char **refused,
             int nrefused, const char **unknown, int nunknown)
{
    long long *groups = calloc((size_t)count_jobs(batch) + 1, sizeof *groups);
    char err[512];
    int ngroups = 0;

    if (db_ensure(p, &l->db, err, sizeof err) < 0) {
        if (nrefused > 0)
            log_warn("%d refused task rows could not be withdrawn: the sweeper will publish "
                     "them", nrefused);
        free(groups);
        return;
    }
    if (nrefused > 0 && store_tasks_forget_pending(l->db, refused, nrefused) != STORE_OK) {
        /* Their groups stay whole, so the sweeper does publish them. */
        log_warn("%d refused task rows could not be withdrawn: the sweeper will publish them",
                 nrefused);
        free(groups);
        return;
    }
    for (struct job *j = batch; groups != NULL && j != NULL; j = j->next) {
        bool seen = j->group == 0;
        for (int i = 0; i < ngroups && !seen; i++)
            seen = groups[i] == j->group;
        if (!seen)
            groups[ngroups++] = j->group;
    }
    /* A lost settle leaves a group the sweeper publishes again: harmless. */
    if (ngroups > 0)
        store_publishes_settle(l->db, groups, ngroups, unknown, nunknown);
    free(groups);
}

static void
publish_all(struct producer *p, struct lane *l, struct job *batch)
{
    int n = count_jobs(batch), nunknown = 0, nbad = 0;
    const char **unknown_ids = calloc((size_t)n, sizeof *unknown_ids);
    const char **bad_ids = calloc((size_t)n, sizeof *bad_ids);
    char err[256] = "";
    struct job *j;

    if (unknown_ids == NULL || bad_ids == NULL) {
        free(unknown_ids);
        free(bad_ids);
        for (j = batch; j != NULL; j = j->next)
            if (j->rc == ENQUEUE_OK)
                fail_job(j, ENQUEUE_BROKER_DOWN, "%s", "out of memory");
        return;
    }
    if (broker_ensure(p, l, err, sizeof err) == 0) {
        broker_outcomes_clear(l->b);
        /* Publishes are mandatory through the default exchange: a queue
         * nobody declared makes the message unroutable. Declares are RPCs:
         * all of them first (the standard queues cost nothing, remembered). */
        for (j = batch; j != NULL && broker_is_open(l->b); j = j->next) {
            if (j->rc == ENQUEUE_OK && broker_declare_queue(l->b, j->queue) < 0) {
                fail_job(j, ENQUEUE_BROKER_DOWN, "RabbitMQ refused to declare queue '%s'",
                         j->queue);
                bad_ids[nbad++] = j->id; /* its row goes too: a 503 leaves nothing */
            }
        }
        for (j = batch; j != NULL && broker_is_open(l->b); j = j->next)
            if (j->rc == ENQUEUE_OK &&
                broker_publish_nowait(l->b, j->queue, &j->wire, err, sizeof err) == 0)
                j->seq = broker_last_seq(l->b);
        /* Whatever it returns, broker_outcome() says what became of each. */
        broker_wait_confirms(l->b, p->timeout_ms, err, sizeof err);
        if (broker_is_open(l->b)) {
            l->last_ok = clock_mono();
            p->last_ok = l->last_ok;
        }
    }
    for (j = batch; j != NULL; j = j->next) {
        if (j->rc != ENQUEUE_OK)
            continue;
        if (j->seq == 0) { /* never sent */
            fail_job(j, ENQUEUE_BROKER_DOWN, "broker unavailable: %s", err[0] ? err : "not sent");
            bad_ids[nbad++] = j->id;
            continue;
        }
        switch (broker_outcome(l->b, j->seq, j->id)) {
        case BROKER_CONFIRMED:
            break;
        case BROKER_UNKNOWN: /* may be queued: keep the row, the sweeper decides */
            j->unconfirmed = true;
            unknown_ids[nunknown++] = j->id;
            log_task(LL_WARN, j->id, "no confirm from RabbitMQ (%s): left PENDING for the sweeper",
                     err[0] ? err : "connection lost");
            break;
        case BROKER_RETURNED:
            fail_job(j, ENQUEUE_BROKER_DOWN, "%s", "unroutable: no queue is bound for it");
            bad_ids[nbad++] = j->id;
            break;
        case BROKER_NACKED:
            fail_job(j, ENQUEUE_BROKER_DOWN, "%s", "broker unavailable: RabbitMQ refused it (nack)");
            bad_ids[nbad++] = j->id;
            break;
        }
    }
    settle_round(p, l, batch, bad_ids, nbad, unknown_ids, nunknown);
    free(unknown_ids);
    free(bad_ids);
}

/* ----- the producer ----- */

struct producer *
producer_new(const char *amqp_url, const char *database_url, const char *conn_name,
             int confirm_timeout_ms)
{
    struct producer *p = calloc(1, sizeof *p);

    if (p == NULL)
        return NULL;
    p->amqp_url = strdup(amqp_url);
    p->database_url = strdup(database_url);
    p->name = strdup(conn_name);
    if (p->amqp_url == NULL || p->database_url == NULL || p->name == NULL) {
        producer_free(p);
        return NULL;
    }
    p->timeout_ms = confirm_timeout_ms;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->idle, NULL);
    p->rows.max_leaders = ROW_LANES;
    p->publish.max_leaders = PUBLISH_LANES;
    p->ready = true;
    return p;
}

void
producer_free(struct producer *p)
{
    if (p == NULL)
        return;
    if (p->ready) {
        pthread_cond_destroy(&p->idle);
        pthread_mutex_destroy(&p->mu);
    }
    for (int i = 0; i < PUBLISH_LANES; i++) {
        broker_close(p->lanes[i].b);
        store_close(p->lanes[i].db);
    }
    for (int i = 0; i < ROW_LANES; i++)
        store_close(p->row_db[i]);
    free(p->amqp_url);
    free(p->database_url);
    free(p->name);
    free(p);
}

#define OPTION_MAX_S (10.0 * 365 * 86400) /* countdowns, expiries, limits: ten years at most */

static bool
seconds_ok(double v)
{
    return v >= 0 && v <= OPTION_MAX_S; /* false for NaN too */
}

static int
enqueue_validate_options(const struct enqueue_req *r, char *err, size_t errlen)
{
    double t;

    if (!seconds_ok(r->countdown) || !seconds_ok(r->expires_in)) {
        snprintf(err, errlen, "'countdown' and 'expires' take 0 to %.0f seconds", OPTION_MAX_S);
        return ENQUEUE_INVALID;
    }
    if (r->eta != NULL && (clock_parse_iso(r->eta, &t) < 0 || r->countdown > 0)) {
        snprintf(err, errlen, r->countdown > 0 ? "give 'countdown' or 'eta', not both"
                                               : "'eta' must be an ISO 8601 time such as "
                                                 "\"2026-11-30T10:00:00Z\"");
        return ENQUEUE_INVALID;
    }
    if (r->expires != NULL && (clock_parse_iso(r->expires, &t) < 0 || r->expires_in > 0)) {
        snprintf(err, errlen, "'expires' must be seconds from now or an ISO 8601 time");
        return ENQUEUE_INVALID;
    }
    if (r->has_max_retries && (r->max_retries < 0 || r->max_retries > 1000)) {
        snprintf(err, errlen, "'max_retries' must be an integer from 0 to 1000");
        return ENQUEUE_INVALID;
    }
    if (!seconds_ok(r->time_limit) || !seconds_ok(r->soft_time_limit)) {
        snprintf(err, errlen, "time limits take 0 to %.0f seconds", OPTION_MAX_S);
        return ENQUEUE_INVALID;
    }
    return ENQUEUE_OK;
}

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
    if (r->parent_id != NULL && !uuid_is_valid(r->parent_id)) {
        snprintf(err, errlen, "'parent_id' must be a task id (a UUID)");
        return ENQUEUE_INVALID;
    }
    if (r->queue != NULL && !broker_queue_name_valid(r->queue)) {
        snprintf(err, errlen, "invalid queue name: use 1 to %d letters, digits and . _ : -",
                 BROKER_QUEUE_MAX);
        return ENQUEUE_INVALID;
    }
    return enqueue_validate_options(r, err, errlen);
}

int
producer_enqueue(struct producer *p, const struct enqueue_req *r, char id[UUID_STR_LEN],
                 bool *unconfirmed, char *err, size_t errlen)
{
    struct celery_msg m = {0};
    struct job me = {0};
    char eta[CLOCK_ISO_LEN], expires[CLOCK_ISO_LEN];
    int rc = enqueue_validate(r, err, errlen);

    *unconfirmed = false;
    if (rc != ENQUEUE_OK)
        return rc;
    uuid_new(me.id);
    memcpy(id, me.id, UUID_STR_LEN);
    me.queue = r->queue != NULL ? r->queue : broker_queue_for_task(r->name);
    /* m borrows the request's values (never celery_msg_fini()ed): the
     * encoder only reads them. */
    m.id = me.id;
    m.task = (char *)r->name;
    m.args = (cJSON *)r->args;
    m.kwargs = (cJSON *)r->kwargs;
    m.origin = (char *)r->origin;
    m.parent_id = (char *)r->parent_id; /* Celery's header; root_id stays the task's own id */
    m.group_index = -1;
    m.max_retries = r->has_max_retries ? r->max_retries : -1;
    m.time_limit = r->time_limit;
    m.soft_time_limit = r->soft_time_limit;
    /* Times go out as UTC ISO 8601, whatever offset the client used. */
    if (r->countdown > 0 || r->eta != NULL) {
        double at = clock_wall() + r->countdown;
        if (r->eta != NULL)
            clock_parse_iso(r->eta, &at);
        clock_iso_at(at, eta);
        m.eta = eta;
    }
    if (r->expires_in > 0 || r->expires != NULL) {
        double at = clock_wall() + r->expires_in;
        if (r->expires != NULL)
            clock_parse_iso(r->expires, &at);
        clock_iso_at(at, expires);
        m.expires = expires;
    }
    me.args_json = r->args != NULL ? json_print(r->args) : NULL;
    me.kwargs_json = r->kwargs != NULL ? json_print(r->kwargs) : NULL;
    if ((r->args != NULL && me.args_json == NULL) ||
        (r->kwargs != NULL && me.kwargs_json == NULL)) {
        snprintf(err, errlen, "out of memory");
        rc = ENQUEUE_DB_DOWN;
        goto out;
    }
    if (celery_encode(&m, &me.wire, err, errlen) < 0) {
        rc = ENQUEUE_INVALID;
        goto out;
    }
    pthread_cond_init(&me.wake, NULL);
    me.rec = (struct store_task){.id = me.id,
                                 .name = r->name,
                                 .queue = me.queue,
                                 .args_json = me.args_json,
                                 .kwargs_json = me.kwargs_json,
                                 .origin = r->origin,
                                 .parent_id = r->parent_id,
                                 .eta = m.eta,
                                 .expires = m.expires};
    /* Row first: a worker fast enough to finish before we return still finds it. */
    job_run(p, &me);
    rc = me.rc;
    *unconfirmed = me.unconfirmed;
    if (rc != ENQUEUE_OK) {
        snprintf(err, errlen, "%s", me.err);
        log_task(LL_WARN, me.id, "enqueue %s: %s", r->name, me.err);
    }
    pthread_cond_destroy(&me.wake);
out:
    celery_wire_fini(&me.wire);
    cJSON_free(me.args_json);
    cJSON_free(me.kwargs_json);
    return rc;
}

int
producer_check_broker(struct producer *p, char *err, size_t errlen)
{
    int rc;

    pthread_mutex_lock(&p->mu);
    if (p->publish.leaders > 0) {
        /* A group is waiting for its confirms: do not queue behind it (a
         * stuck broker must not hang health checks too); judge by how long
         * RabbitMQ has been silent. */
        double silent = clock_mono() - p->last_ok;
        pthread_mutex_unlock(&p->mu);
        if (silent < PROBE_AFTER_IDLE_S + p->timeout_ms / 1000.0)
            return 0;
        snprintf(err, errlen, "RabbitMQ has confirmed nothing for %.0f s", silent);
        return -1;
    }
    pthread_mutex_unlock(&p->mu);
    stage_lock(p, &p->publish);
    p->lanes[0].last_ok = 0; /* probe now, whatever the last answer */
    rc = broker_ensure(p, &p->lanes[0], err, errlen);
    stage_unlock(p, &p->publish);
    return rc;
}

/* Encode one task of store_unconfirmed_claim() as a Celery v2 message. */
static int
row_wire(const cJSON *row, struct celery_wire *w, char *err, size_t errlen)
{
    struct celery_msg m = {0};

    m.id = (char *)json_str(row, "id");
    m.task = (char *)json_str(row, "name");
    m.args = cJSON_GetObjectItemCaseSensitive(row, "args");
    m.kwargs = cJSON_GetObjectItemCaseSensitive(row, "kwargs");
    m.origin = (char *)json_str(row, "origin");
    m.parent_id = (char *)json_str(row, "parent_id");
    m.eta = (char *)json_str(row, "eta"); /* a countdown stays a countdown */
    m.expires = (char *)json_str(row, "expires");
    m.group_index = -1;
    m.max_retries = -1;
    if (m.id == NULL || m.task == NULL) {
        snprintf(err, errlen, "a task row without id or name");
        return -1;
    }
    return celery_encode(&m, w, err, errlen);
}

int
producer_sweep(struct producer *p, double age_s, int limit)
{
    char err[512] = "";
    cJSON *claim = NULL, *row;
    const char **ids = NULL;
    uint64_t *seqs = NULL;
    int rc, n = 0, nok = 0, claimed, unencodable = 0;

    stage_lock(p, &p->rows);
    stage_lock(p, &p->publish);
    if (db_ensure(p, &p->row_db[0], err, sizeof err) < 0 || store_begin(p->row_db[0]) != STORE_OK)
        goto fail;
    claim = store_unconfirmed_claim(p->row_db[0], age_s, limit, &rc);
    if (claim == NULL)
        goto fail;
    if (cJSON_GetArraySize(cJSON_GetObjectItem(claim, "groups")) == 0) {
        store_rollback(p->row_db[0]);
        goto out;
    }
    claimed = cJSON_GetArraySize(cJSON_GetObjectItem(claim, "tasks"));
    ids = calloc((size_t)claimed + 1, sizeof *ids);
    seqs = calloc((size_t)claimed + 1, sizeof *seqs);
    if (ids == NULL || seqs == NULL ||
        (claimed > 0 && broker_ensure(p, &p->lanes[0], err, sizeof err) < 0))
        goto fail;
    n = 0;
    if (p->lanes[0].b != NULL)
        broker_outcomes_clear(p->lanes[0].b);
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(claim, "tasks"))
    {
        struct celery_wire w;
        const char *queue = json_str(row, "queue");
        int sent;

        if (queue == NULL || row_wire(row, &w, err, sizeof err) < 0) {
            /* Never publishable, now or later: say so, do not block the group. */
            log_task(LL_ERROR, json_str(row, "id"), "sweeper: cannot publish this task: %s",
                     queue == NULL ? "no queue" : err);
            unencodable++;
            continue;
        }
        sent = broker_declare_queue(p->lanes[0].b, queue) == 0 &&
               broker_publish_nowait(p->lanes[0].b, queue, &w, err, sizeof err) == 0;
        if (sent) {
            ids[n] = json_str(row, "id");
            seqs[n++] = broker_last_seq(p->lanes[0].b);
        }
        celery_wire_fini(&w);
        if (!sent) { /* the broker's trouble: keep the groups for the next sweep */
            if (err[0] == '\0')
                snprintf(err, sizeof err, "RabbitMQ refused to declare queue '%s'", queue);
            goto fail;
        }
    }
    if (n > 0)
        broker_wait_confirms(p->lanes[0].b, p->timeout_ms, err, sizeof err);
    for (int i = 0; i < n; i++)
        nok += broker_outcome(p->lanes[0].b, seqs[i], ids[i]) == BROKER_CONFIRMED;
    /* All or nothing: a group with a message still unconfirmed stays for the
     * next sweep (its confirmed ones get one more copy then: harmless). */
    if (nok < claimed - unencodable) {
        snprintf(err, sizeof err, "%d of %d messages unconfirmed: trying again later",
                 claimed - unencodable - nok, claimed - unencodable);
        goto fail;
    }
    if (store_unconfirmed_delete(p->row_db[0], cJSON_GetObjectItem(claim, "groups")) != STORE_OK ||
        store_commit(p->row_db[0]) != STORE_OK)
        goto fail;
    if (nok > 0)
        log_info("sweeper: published %d task%s again that had no confirmed publish for %.0f s",
                 nok, nok == 1 ? "" : "s", age_s);
    goto out;
fail:
    log_warn("sweeper: %s", err[0] ? err : store_error_message(p->row_db[0]));
    if (store_is_ok(p->row_db[0]) && store_in_transaction(p->row_db[0]))
        store_rollback(p->row_db[0]);
    nok = -1;
out:
    cJSON_Delete(claim);
    free(ids);
    free(seqs);
    stage_unlock(p, &p->publish);
    stage_unlock(p, &p->rows);
    return nok;
}
