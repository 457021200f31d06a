/* broker/publish.c - publishing with publisher confirms. rabbitmq-c 0.11 has no
 * amqp_publisher_confirm_wait(): we read basic.ack/nack frames ourselves, and
 * keep any delivery that arrives meanwhile for broker_next(). */
#include "broker/internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"

int broker_pump(struct broker *b, int timeout_ms, struct broker_delivery *d); /* consume.c */

static void
set_props(const struct celery_wire *w, amqp_basic_properties_t *p, const amqp_table_t *headers)
{
    memset(p, 0, sizeof *p);
    if (w->content_type != NULL) {
        p->_flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
        p->content_type = amqp_cstring_bytes(w->content_type);
    }
    if (w->content_encoding != NULL) {
        p->_flags |= AMQP_BASIC_CONTENT_ENCODING_FLAG;
        p->content_encoding = amqp_cstring_bytes(w->content_encoding);
    }
    if (w->correlation_id != NULL) {
        p->_flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
        p->correlation_id = amqp_cstring_bytes(w->correlation_id);
    }
    if (w->reply_to != NULL) {
        p->_flags |= AMQP_BASIC_REPLY_TO_FLAG;
        p->reply_to = amqp_cstring_bytes(w->reply_to);
    }
    if (w->expiration != NULL) {
        p->_flags |= AMQP_BASIC_EXPIRATION_FLAG;
        p->expiration = amqp_cstring_bytes(w->expiration);
    }
    if (w->priority >= 0) {
        p->_flags |= AMQP_BASIC_PRIORITY_FLAG;
        p->priority = (uint8_t)w->priority;
    }
    p->_flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
    p->delivery_mode = w->delivery_mode > 0 ? (uint8_t)w->delivery_mode : 2;
    if (headers != NULL && headers->num_entries > 0) {
        p->_flags |= AMQP_BASIC_HEADERS_FLAG;
        p->headers = *headers;
    }
}

/* Wait until the broker confirmed every tag up to seq. b->nacked/returned
 * collect what happened since the last successful wait. */
static int
wait_confirm(struct broker *b, uint64_t seq, int timeout_ms, char *err, size_t errlen)
{
    double deadline = clock_mono() + timeout_ms / 1000.0;

    while (b->confirmed < seq) {
        int left = (int)((deadline - clock_mono()) * 1000);

        if (left <= 0) {
            /* The message may or may not be stored: the caller must not assume
             * either. Drop the connection so stale confirms cannot be miscounted. */
            snprintf(err, errlen, "RabbitMQ did not confirm the publish within %d ms", timeout_ms);
            log_error("%s", err);
            b->open = false;
            return -1;
        }
        if (broker_pump(b, left, NULL) < 0) {
            snprintf(err, errlen, "lost the connection to RabbitMQ before the confirm");
            return -1;
        }
    }
    /* Every frame read so far has been handled: free rabbitmq-c's frame
     * memory, which a connection that only publishes never gives back
     * otherwise (its pool grew with every confirm). Deliveries read meanwhile
     * were copied into the stash. */
    amqp_maybe_release_buffers(b->conn);
    if (b->returned || b->nacked) {
        snprintf(err, errlen, b->returned ? "unroutable: no queue is bound for this routing key"
                                          : "RabbitMQ refused the message (nack)");
        b->returned = b->nacked = false;
        return -1;
    }
    return 0;
}

int
broker_wait_confirms(struct broker *b, int timeout_ms, char *err, size_t errlen)
{
    if (!broker_is_open(b)) {
        snprintf(err, errlen, "not connected to RabbitMQ");
        return -1;
    }
    return wait_confirm(b, b->published, timeout_ms, err, errlen);
}

int
broker_publish_wire(struct broker *b, const char *routing_key, const struct celery_wire *w,
                    int timeout_ms, char *err, size_t errlen)
{
    if (b != NULL)
        broker_outcomes_clear(b);
    if (broker_publish_nowait(b, routing_key, w, err, errlen) < 0)
        return -1;
    return wait_confirm(b, b->published, timeout_ms, err, errlen);
}

int
broker_publish_nowait(struct broker *b, const char *routing_key, const struct celery_wire *w,
                      char *err, size_t errlen)
{
    amqp_basic_properties_t props;
    amqp_table_t headers = {0, NULL};
    amqp_pool_t pool;
    amqp_bytes_t body = {w->body_len, w->body};
    int st, rc = -1;

    if (!broker_is_open(b)) {
        snprintf(err, errlen, "not connected to RabbitMQ");
        return -1;
    }
    init_amqp_pool(&pool, 4096);
    if (broker_json_to_table(w->headers, &pool, &headers) < 0) {
        snprintf(err, errlen, "headers cannot be encoded as an AMQP table");
        goto out;
    }
    set_props(w, &props, &headers);
    st = amqp_basic_publish(b->conn, BROKER_CHANNEL, amqp_cstring_bytes(""),
                            amqp_cstring_bytes(routing_key), 1, 0, &props, body);
    if (st != AMQP_STATUS_OK) {
        broker_status_fail(b, st, "basic.publish");
        snprintf(err, errlen, "publish failed: %s", amqp_error_string2(st));
        goto out;
    }
    b->published++;
    rc = 0;
out:
    empty_amqp_pool(&pool);
    return rc;
}

int
broker_dead_letter(struct broker *b, const struct broker_delivery *d, const char *reason,
                   const char *worker)
{
    struct celery_wire w = d->wire; /* shallow: only the headers are replaced */
    cJSON *h = cJSON_IsObject(d->wire.headers) ? cJSON_Duplicate(d->wire.headers, true)
                                               : cJSON_CreateObject();
    char err[256];
    int rc;

    if (h == NULL)
        return -1;
    cJSON_DeleteItemFromObjectCaseSensitive(h, BROKER_H_REASON);
    cJSON_DeleteItemFromObjectCaseSensitive(h, BROKER_H_QUEUE);
    cJSON_DeleteItemFromObjectCaseSensitive(h, BROKER_H_WORKER);
    cJSON_AddStringToObject(h, BROKER_H_REASON, reason);
    cJSON_AddStringToObject(h, BROKER_H_QUEUE, d->routing_key ? d->routing_key : "");
    cJSON_AddStringToObject(h, BROKER_H_WORKER, worker ? worker : "");
    w.headers = h;
    w.expiration = NULL; /* a dead letter must not vanish with the original's TTL */
    w.delivery_mode = 2;
    /* Declared here, on this connection, not trusted to the master's one
     * declare: someone may have deleted it since. A return (unroutable) says
     * so: declare it again and publish once more. */
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = broker_declare_queue(b, BROKER_DEAD_QUEUE);
        if (rc == 0)
            rc = broker_publish_wire(b, BROKER_DEAD_QUEUE, &w, 10000, err, sizeof err);
        if (rc == 0 || !b->open)
            break;
        log_warn("dead-letter to %s: %s: declaring it again", BROKER_DEAD_QUEUE, err);
        broker_forget_declared(b, BROKER_DEAD_QUEUE);
    }
    if (rc < 0)
        log_error("dead-letter to %s failed", BROKER_DEAD_QUEUE);
    cJSON_Delete(h);
    return rc;
}
