/* webapp/publisher.c - the webapp's one connection to RabbitMQ, shared by
 * every connection thread. A struct broker is not thread-safe, and waiting for
 * each confirm in turn would cap the webapp at one round trip per request, so
 * publishing works like a group commit: a request queues its encoded message;
 * whichever request finds no batch in flight becomes the leader, publishes
 * every message queued so far, waits once for all their confirms, hands each
 * request its result and leads again while more arrived meanwhile. The
 * connection is opened on first need and reopened (once per batch) after any
 * failure, declaring the topology each time. */
#include "webapp/webapp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"

/* A connection idle this long may have been closed by a broker restart
 * without us noticing (rabbitmq-c only sees it on the next call); probe it
 * before publishing rather than fail the user's request. */
#define PROBE_AFTER_IDLE_S 1.0

/* One request's message, queued until a leader publishes it. */
struct pending {
    const char *queue;
    struct celery_wire wire;
    bool done;
    int rc;
    char err[256];
    struct pending *next;
};

struct publisher {
    pthread_mutex_t mu; /* guards the queue and busy; b belongs to whoever set busy */
    pthread_cond_t done; /* broadcast when a batch's results are in */
    struct pending *head, *tail;
    bool busy;        /* a leader (or a health check) is using b */
    struct broker *b; /* NULL until the first successful connect */
    char *url;
    int timeout_ms;
    double last_ok;   /* clock_mono() of the last exchange that worked */
    bool warned_down; /* "cannot connect" logged once until it connects again */
};

struct publisher *
publisher_new(const char *amqp_url, int confirm_timeout_ms)
{
    struct publisher *p = calloc(1, sizeof *p);

    if (p == NULL)
        return NULL;
    p->url = strdup(amqp_url);
    if (p->url == NULL) {
        free(p);
        return NULL;
    }
    p->timeout_ms = confirm_timeout_ms;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->done, NULL);
    return p;
}

void
publisher_free(struct publisher *p)
{
    if (p == NULL)
        return;
    broker_close(p->b);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->url);
    free(p);
}

/* With p->busy ours: make p->b an open connection with the topology declared,
 * probing it first when probe is set. Reconnects at most once. */
static int
ensure_open(struct publisher *p, bool probe, char *err, size_t errlen)
{
    char safe[256];

    /* A passive queue.declare is the cheapest round trip that proves the
     * connection and channel are alive; a failure marks the broker broken. */
    if (probe && broker_is_open(p->b) && broker_queue_depth(p->b, "celery") < 0)
        log_warn("the connection to RabbitMQ was lost: reconnecting");
    if (broker_is_open(p->b))
        return 0;
    broker_close(p->b);
    p->b = broker_open(p->url, "celeriac-webapp", err, errlen);
    if (p->b == NULL) {
        if (!p->warned_down)
            log_warn("%s", err);
        p->warned_down = true;
        return -1;
    }
    if (broker_declare_topology(p->b) < 0) {
        snprintf(err, errlen, "RabbitMQ refused to declare the celery exchange and queues");
        broker_close(p->b);
        p->b = NULL;
        return -1;
    }
    cfg_redact_url(p->url, safe, sizeof safe);
    log_info("connected to RabbitMQ at %s", safe);
    p->warned_down = false;
    p->last_ok = clock_mono();
    return 0;
}

/* With p->busy ours and p->mu released: publish batch (a list linked by next)
 * and wait for every confirm. One verdict for the batch: RabbitMQ nacks only
 * on internal errors, and a message of a failed batch that was in fact stored
 * still runs (its worker recreates the row), so failing all is the safe side. */
static void
publish_batch(struct publisher *p, struct pending *batch)
{
    char err[256] = "";
    struct pending *q;
    int rc = -1;

    if (ensure_open(p, clock_mono() - p->last_ok >= PROBE_AFTER_IDLE_S, err, sizeof err) < 0)
        goto out;
    /* Publishes are mandatory through the default exchange: a queue nobody
     * declared would make the message unroutable. The broker remembers what
     * it declared on this connection, so the standard queues cost nothing.
     * All declares come first: they are RPCs, the confirms are not. */
    for (q = batch; q != NULL; q = q->next) {
        if (broker_declare_queue(p->b, q->queue) < 0) {
            snprintf(err, sizeof err, "RabbitMQ refused to declare queue '%s'", q->queue);
            goto out;
        }
    }
    for (q = batch; q != NULL; q = q->next)
        if (broker_publish_nowait(p->b, q->queue, &q->wire, err, sizeof err) < 0)
            goto out;
    if (broker_wait_confirms(p->b, p->timeout_ms, err, sizeof err) < 0)
        goto out;
    p->last_ok = clock_mono();
    rc = 0;
out:
    for (q = batch; q != NULL; q = q->next) {
        q->rc = rc;
        snprintf(q->err, sizeof q->err, "%s", err);
    }
}

int
publisher_publish(void *ctx, const char *queue, const struct celery_msg *m, char *err,
                  size_t errlen)
{
    struct publisher *p = ctx;
    struct pending me = {.queue = queue};

    if (celery_encode(m, &me.wire, err, errlen) < 0)
        return -1;
    pthread_mutex_lock(&p->mu);
    if (p->tail != NULL)
        p->tail->next = &me;
    else
        p->head = &me;
    p->tail = &me;
    while (!me.done) {
        struct pending *batch, *q, *next;

        if (p->busy) {
            pthread_cond_wait(&p->done, &p->mu);
            continue;
        }
        /* Lead: take everything queued (ours included) and publish it
         * without the lock, so requests arriving meanwhile can queue. */
        p->busy = true;
        batch = p->head;
        p->head = p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        publish_batch(p, batch);
        pthread_mutex_lock(&p->mu);
        for (q = batch; q != NULL; q = next) {
            next = q->next; /* q may be gone as soon as its owner sees done */
            q->done = true;
        }
        p->busy = false;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    if (me.rc < 0)
        snprintf(err, errlen, "%s", me.err);
    celery_wire_fini(&me.wire);
    return me.rc;
}

int
publisher_check(struct publisher *p, char *err, size_t errlen)
{
    int rc;

    pthread_mutex_lock(&p->mu);
    while (p->busy)
        pthread_cond_wait(&p->done, &p->mu);
    p->busy = true;
    pthread_mutex_unlock(&p->mu);
    rc = ensure_open(p, true, err, errlen);
    if (rc == 0)
        p->last_ok = clock_mono();
    pthread_mutex_lock(&p->mu);
    p->busy = false;
    pthread_cond_broadcast(&p->done);
    pthread_mutex_unlock(&p->mu);
    return rc;
}
