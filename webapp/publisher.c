/* webapp/publisher.c - the webapp's one connection to RabbitMQ. A struct broker
 * is not thread-safe, so every connection thread publishes through this one
 * under a mutex: publishes are short (one message, one confirm), and a single
 * channel keeps RabbitMQ's connection list to one line per webapp. The
 * connection is opened on first need and reopened (once per request) after
 * any failure, declaring the topology each time. */
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

struct publisher {
    pthread_mutex_t mu;
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
    return p;
}

void
publisher_free(struct publisher *p)
{
    if (p == NULL)
        return;
    broker_close(p->b);
    pthread_mutex_destroy(&p->mu);
    free(p->url);
    free(p);
}

/* With p->mu held: make p->b an open connection with the topology declared,
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

int
publisher_publish(void *ctx, const char *queue, const struct celery_msg *m, char *err,
                  size_t errlen)
{
    struct publisher *p = ctx;
    int rc = -1;

    pthread_mutex_lock(&p->mu);
    if (ensure_open(p, clock_mono() - p->last_ok >= PROBE_AFTER_IDLE_S, err, errlen) < 0)
        goto out;
    /* Publishes are mandatory through the default exchange: a queue nobody
     * declared would make the message unroutable. The broker remembers what
     * it declared on this connection, so the standard queues cost nothing. */
    if (broker_declare_queue(p->b, queue) < 0) {
        snprintf(err, errlen, "RabbitMQ refused to declare queue '%s'", queue);
        goto out;
    }
    if (broker_publish_task(p->b, queue, m, p->timeout_ms, err, errlen) < 0)
        goto out;
    p->last_ok = clock_mono();
    rc = 0;
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int
publisher_check(struct publisher *p, char *err, size_t errlen)
{
    int rc;

    pthread_mutex_lock(&p->mu);
    rc = ensure_open(p, true, err, errlen);
    if (rc == 0)
        p->last_ok = clock_mono();
    pthread_mutex_unlock(&p->mu);
    return rc;
}
