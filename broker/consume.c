/* broker/consume.c - consuming with manual acks. We read frames ourselves
 * (rather than amqp_consume_message) because the same channel also carries
 * the confirms of our publishes (dead letters, results). */
#include "broker/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/log.h"

static char *
dup_bytes(amqp_bytes_t b)
{
    char *s = malloc(b.len + 1);

    if (s == NULL)
        return NULL;
    if (b.len > 0)
        memcpy(s, b.bytes, b.len);
    s[b.len] = '\0';
    return s;
}

/* The content frames of the delivery or get-ok whose method was just read on
 * channel ch, into d's wire (a full copy). 0 or -1 (d is freed then). */
static int
read_content(struct broker *b, amqp_channel_t ch, struct broker_delivery *d)
{
    amqp_message_t msg;
    amqp_rpc_reply_t r;
    const amqp_basic_properties_t *p;

    r = amqp_read_message(b->conn, ch, &msg, 0);
    if (broker_reply_ok(b, r, "read message") < 0) {
        broker_delivery_fini(d);
        return -1;
    }
    p = &msg.properties;
    if (p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
        d->wire.content_type = dup_bytes(p->content_type);
    if (p->_flags & AMQP_BASIC_CONTENT_ENCODING_FLAG)
        d->wire.content_encoding = dup_bytes(p->content_encoding);
    if (p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG)
        d->wire.correlation_id = dup_bytes(p->correlation_id);
    if (p->_flags & AMQP_BASIC_REPLY_TO_FLAG)
        d->wire.reply_to = dup_bytes(p->reply_to);
    if (p->_flags & AMQP_BASIC_EXPIRATION_FLAG)
        d->wire.expiration = dup_bytes(p->expiration);
    d->wire.priority = (p->_flags & AMQP_BASIC_PRIORITY_FLAG) ? p->priority : -1;
    d->wire.delivery_mode = (p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG) ? p->delivery_mode : 0;
    if (p->_flags & AMQP_BASIC_HEADERS_FLAG)
        d->wire.headers = broker_table_to_json(&p->headers);
    d->wire.body = dup_bytes(msg.body);
    d->wire.body_len = msg.body.len;
    amqp_destroy_message(&msg);
    return 0;
}

int
broker_read_delivery(struct broker *b, const amqp_basic_deliver_t *deliver,
                     struct broker_delivery *d)
{
    size_t prefix = strlen(BROKER_CONSUMER_TAG_PREFIX);

    memset(d, 0, sizeof *d);
    d->tag = deliver->delivery_tag;
    d->redelivered = deliver->redelivered;
    d->exchange = dup_bytes(deliver->exchange);
    d->routing_key = dup_bytes(deliver->routing_key);
    if (deliver->consumer_tag.len > prefix &&
        memcmp(deliver->consumer_tag.bytes, BROKER_CONSUMER_TAG_PREFIX, prefix) == 0) {
        amqp_bytes_t q = {deliver->consumer_tag.len - prefix,
                          (char *)deliver->consumer_tag.bytes + prefix};
        d->queue = dup_bytes(q);
    }
    return read_content(b, BROKER_CHANNEL, d);
}

int
broker_read_got(struct broker *b, amqp_channel_t ch, const amqp_basic_get_ok_t *got,
                struct broker_delivery *d)
{
    memset(d, 0, sizeof *d);
    d->tag = got->delivery_tag;
    d->redelivered = got->redelivered;
    d->exchange = dup_bytes(got->exchange);
    d->routing_key = dup_bytes(got->routing_key);
    return read_content(b, ch, d);
}

void
broker_delivery_fini(struct broker_delivery *d)
{
    if (d == NULL)
        return;
    free(d->exchange);
    free(d->routing_key);
    free(d->queue);
    celery_wire_fini(&d->wire);
    memset(d, 0, sizeof *d);
}

void
broker_note_nack(struct broker *b, uint64_t tag)
{
    if (b->n_nacked == b->nacked_cap) {
        size_t cap = b->nacked_cap ? b->nacked_cap * 2 : 16;
        uint64_t *p = realloc(b->nacked_tags, sizeof *p * cap);
        if (p == NULL)
            return; /* the batch-wide flag still says a nack came */
        b->nacked_tags = p;
        b->nacked_cap = cap;
    }
    b->nacked_tags[b->n_nacked++] = tag;
}

static void
note_return(struct broker *b, amqp_bytes_t correlation_id)
{
    char *id;

    if (b->n_returned == b->returned_cap) {
        size_t cap = b->returned_cap ? b->returned_cap * 2 : 8;
        char **p = realloc(b->returned_ids, sizeof *p * cap);
        if (p == NULL)
            return;
        b->returned_ids = p;
        b->returned_cap = cap;
    }
    if ((id = dup_bytes(correlation_id)) != NULL)
        b->returned_ids[b->n_returned++] = id;
}

bool
broker_settled_above(const struct broker *b, uint64_t tag)
{
    for (size_t i = 0; i < b->n_above; i++)
        if (b->settled_above[i] == tag)
            return true;
    return false;
}

/* RabbitMQ confirms a tag alone or every tag up to it (multiple), and not
 * always in order (messages to several queues are stored at different
 * times): keep the tags settled out of order until the ones before them are. */
void
broker_settle_confirm(struct broker *b, uint64_t tag, bool multiple)
{
    size_t k = 0;

    if (multiple && tag > b->confirmed)
        b->confirmed = tag;
    if (!multiple && tag > b->confirmed && !broker_settled_above(b, tag)) {
        if (b->n_above == b->above_cap) {
            size_t cap = b->above_cap ? b->above_cap * 2 : 16;
            uint64_t *p = realloc(b->settled_above, sizeof *p * cap);
            if (p == NULL) {
                b->open = false; /* cannot account for it: start over */
                return;
            }
            b->settled_above = p;
            b->above_cap = cap;
        }
        b->settled_above[b->n_above++] = tag;
    }
    for (bool moved = true; moved;) {
        moved = false;
        for (size_t i = 0; i < b->n_above; i++) {
            if (b->settled_above[i] == b->confirmed + 1) {
                b->confirmed++;
                moved = true;
            }
        }
    }
    for (size_t i = 0; i < b->n_above; i++) /* forget what confirmed now covers */
        if (b->settled_above[i] > b->confirmed)
            b->settled_above[k++] = b->settled_above[i];
    b->n_above = k;
}

void
broker_outcomes_clear(struct broker *b)
{
    for (size_t i = 0; i < b->n_returned; i++)
        free(b->returned_ids[i]);
    b->n_returned = 0;
    b->n_nacked = 0;
    b->nacked = b->returned = false;
}

uint64_t
broker_last_seq(const struct broker *b)
{
    return b->published;
}

enum broker_outcome
broker_outcome(const struct broker *b, uint64_t seq, const char *correlation_id)
{
    for (size_t i = 0; correlation_id != NULL && i < b->n_returned; i++)
        if (strcmp(b->returned_ids[i], correlation_id) == 0)
            return BROKER_RETURNED;
    if (seq > b->confirmed && !broker_settled_above(b, seq))
        return BROKER_UNKNOWN;
    for (size_t i = 0; i < b->n_nacked; i++)
        if (b->nacked_tags[i] == seq)
            return BROKER_NACKED;
    return BROKER_CONFIRMED;
}

/* Read and handle one frame. A delivery goes to *d when d is given (1 is
 * returned), else to the stash. 0 on timeout or any other frame, -1 when the
 * connection or channel is gone. */
int broker_pump(struct broker *b, int timeout_ms, struct broker_delivery *d);

int
broker_pump(struct broker *b, int timeout_ms, struct broker_delivery *d)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    amqp_frame_t f;
    int st;

    st = amqp_simple_wait_frame_noblock(b->conn, &f, &tv);
    if (st == AMQP_STATUS_TIMEOUT)
        return 0;
    if (st != AMQP_STATUS_OK)
        return broker_status_fail(b, st, "wait frame");
    if (f.frame_type != AMQP_FRAME_METHOD)
        return 0; /* heartbeats; stray content frames cannot happen here */
    switch (f.payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
        amqp_basic_ack_t *a = f.payload.method.decoded;
        broker_settle_confirm(b, a->delivery_tag, a->multiple);
        return 0;
    }
    case AMQP_BASIC_NACK_METHOD: {
        amqp_basic_nack_t *n = f.payload.method.decoded;
        b->nacked = true;
        for (uint64_t tag = n->multiple ? b->confirmed + 1 : n->delivery_tag;
             tag <= n->delivery_tag; tag++)
            if (!broker_settled_above(b, tag))
                broker_note_nack(b, tag);
        broker_settle_confirm(b, n->delivery_tag, n->multiple);
        return 0;
    }
    case AMQP_BASIC_RETURN_METHOD: {
        amqp_message_t msg;
        b->returned = true;
        if (broker_reply_ok(b, amqp_read_message(b->conn, BROKER_CHANNEL, &msg, 0),
                            "read returned message") < 0)
            return -1;
        if (msg.properties._flags & AMQP_BASIC_CORRELATION_ID_FLAG)
            note_return(b, msg.properties.correlation_id);
        amqp_destroy_message(&msg);
        return 0;
    }
    case AMQP_BASIC_DELIVER_METHOD: {
        amqp_basic_deliver_t deliver = *(amqp_basic_deliver_t *)f.payload.method.decoded;
        struct stashed *s;
        if (d != NULL)
            return broker_read_delivery(b, &deliver, d) < 0 ? -1 : 1;
        s = calloc(1, sizeof *s);
        if (s == NULL || broker_read_delivery(b, &deliver, &s->d) < 0) {
            free(s);
            b->open = false;
            return -1;
        }
        if (b->stash_tail != NULL)
            b->stash_tail->next = s;
        else
            b->stash_head = s;
        b->stash_tail = s;
        log_debug("amqp: delivery %llu kept while waiting for a confirm",
                  (unsigned long long)s->d.tag);
        return 0;
    }
    case AMQP_BASIC_CANCEL_METHOD:
        log_warn("amqp: the broker cancelled our consumer (queue deleted?)");
        b->open = false;
        return -1;
    case AMQP_CHANNEL_CLOSE_METHOD: {
        amqp_channel_close_t *m = f.payload.method.decoded;
        log_error("amqp: server closed the channel: %u %.*s", m->reply_code,
                  (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        b->open = false;
        return -1;
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
        amqp_connection_close_t *m = f.payload.method.decoded;
        log_error("amqp: server closed the connection: %u %.*s", m->reply_code,
                  (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        b->open = false;
        return -1;
    }
    default:
        return 0;
    }
}

/* The index of queue's consumer in b->consumer_tags, or -1. */
static int
consumer_of(const struct broker *b, const char *queue)
{
    size_t prefix = strlen(BROKER_CONSUMER_TAG_PREFIX);

    for (int i = 0; i < b->n_consumers; i++)
        if (strcmp(b->consumer_tags[i] + prefix, queue) == 0)
            return i;
    return -1;
}

/* Start a consumer on each queue of b->consume that has none and is
 * not paused. 0, or -1 (the broker is then broken). */
static int
start_consumers(struct broker *b)
{
    for (int i = 0; i < b->consume.n; i++) {
        const char *q = b->consume.v[i];
        char **tags, tag[256];

        if (strset_has(&b->paused, q) || consumer_of(b, q) >= 0)
            continue;
        if (broker_declare_queue(b, q) < 0)
            goto fail;
        /* Our own tag names the queue (broker_read_delivery() reads it back);
         * a tag is free again once its cancel was answered. */
        snprintf(tag, sizeof tag, "%s%s", BROKER_CONSUMER_TAG_PREFIX, q);
        amqp_basic_consume(b->conn, BROKER_CHANNEL, amqp_cstring_bytes(q), amqp_cstring_bytes(tag),
                           0, 0, 0, amqp_empty_table);
        if (broker_reply_ok(b, amqp_get_rpc_reply(b->conn), "basic.consume") < 0)
            goto fail;
        tags = realloc(b->consumer_tags, sizeof *tags * (size_t)(b->n_consumers + 1));
        if (tags == NULL)
            goto fail;
        b->consumer_tags = tags;
        if ((tags[b->n_consumers] = strdup(tag)) == NULL)
            goto fail;
        b->n_consumers++;
    }
    return 0;
fail:
    b->open = false;
    return -1;
}

/* basic.cancel consumer i and forget its tag. 0 or -1. */
static int
cancel_consumer(struct broker *b, int i)
{
    char *tag = b->consumer_tags[i];

    b->consumer_tags[i] = b->consumer_tags[--b->n_consumers];
    amqp_basic_cancel(b->conn, BROKER_CHANNEL, amqp_cstring_bytes(tag));
    free(tag);
    return broker_reply_ok(b, amqp_get_rpc_reply(b->conn), "basic.cancel");
}

int
broker_consume(struct broker *b, const struct strset *queues, int prefetch)
{
    /* global = 1: RabbitMQ counts the window per channel, across the child's
     * consumers (with 0 it gives each queue's consumer the whole window, so a
     * child on four busy queues would hold four). Celery does the same on
     * RabbitMQ (qos_semantics_matches_spec). Quorum queues refuse a global
     * window: there each queue's consumer gets its own (docs/operations.md). */
    amqp_basic_qos(b->conn, BROKER_CHANNEL, 0, (uint16_t)prefetch, !broker_quorum_queues());
    if (broker_reply_ok(b, amqp_get_rpc_reply(b->conn), "basic.qos") < 0)
        return -1;
    if (strset_assign(&b->consume, (const char *const *)queues->v, queues->n) < 0)
        return -1;
    return start_consumers(b);
}

int
broker_pause(struct broker *b)
{
    if (!b->open)
        return -1;
    b->all_paused = true;
    /* Deliveries that cross the cancel on the wire are kept in the stash by
     * rabbitmq-c's RPC and handed out by broker_next() afterwards. */
    while (b->n_consumers > 0) {
        if (cancel_consumer(b, b->n_consumers - 1) < 0)
            return -1;
    }
    return 0;
}

int
broker_resume(struct broker *b)
{
    if (!b->open)
        return -1;
    b->all_paused = false;
    return start_consumers(b); /* those the operator paused stay so */
}

int
broker_set_paused(struct broker *b, const char *const *queues, int n)
{
    if (strset_assign(&b->paused, queues, n) < 0)
        return -1;
    if (b->consume.n == 0)
        return 0; /* broker_consume() starts only the others */
    if (!b->open)
        return -1;
    for (int i = 0; i < n; i++) {
        int c = consumer_of(b, queues[i]);
        if (c >= 0 && cancel_consumer(b, c) < 0)
            return -1;
    }
    return b->all_paused ? 0 : start_consumers(b);
}

int
broker_next(struct broker *b, struct broker_delivery *d, int timeout_ms)
{
    if (b->stash_head != NULL) {
        struct stashed *s = b->stash_head;
        b->stash_head = s->next;
        if (b->stash_head == NULL)
            b->stash_tail = NULL;
        *d = s->d;
        free(s);
        return 1;
    }
    if (!b->open)
        return -1;
    amqp_maybe_release_buffers(b->conn);
    return broker_pump(b, timeout_ms, d);
}

bool
broker_pending(struct broker *b)
{
    return b->stash_head != NULL ||
           (b->open && (amqp_frames_enqueued(b->conn) || amqp_data_in_buffer(b->conn)));
}

int
broker_ack(struct broker *b, uint64_t tag, bool multiple)
{
    int st;

    if (!b->open)
        return -1;
    st = amqp_basic_ack(b->conn, BROKER_CHANNEL, tag, multiple);
    if (st != AMQP_STATUS_OK)
        return broker_status_fail(b, st, "basic.ack");
    return 0;
}

static int
reject(struct broker *b, uint64_t tag, bool requeue)
{
    int st;

    if (!b->open)
        return -1;
    st = amqp_basic_reject(b->conn, BROKER_CHANNEL, tag, requeue);
    if (st != AMQP_STATUS_OK)
        return broker_status_fail(b, st, "basic.reject");
    return 0;
}

int
broker_requeue(struct broker *b, uint64_t tag)
{
    return reject(b, tag, true);
}

int
broker_drop(struct broker *b, uint64_t tag)
{
    return reject(b, tag, false);
}
