/* broker/admin.c - looking at queues without taking from them, for the
 * webapp's /queues: counts by passive queue.declare, and browsing (the dead
 * letters) by basic.get without ack on a channel that is then closed, so
 * RabbitMQ puts what was read back where it was. Each has a channel of its
 * own beside channel 1 (publishes and their confirms): the server closes a
 * channel that names a missing queue, and closing the browse channel is what
 * gives its messages back. */
#include "broker/internal.h"

#include <stdlib.h>
#include <string.h>


#define STATS_CHANNEL 2
#define BROWSE_CHANNEL 3

static int
channel_open(struct broker *b, amqp_channel_t ch, bool *is_open)
{
    if (*is_open)
        return 0;
    amqp_channel_open(b->conn, ch);
    if (broker_reply_ok(b, amqp_get_rpc_reply(b->conn), "channel.open") < 0)
        return -1;
    *is_open = true;
    return 0;
}

/* True when r is the server closing channel ch because the queue does not
 * exist: the close is answered (the channel can be opened again) and the
 * connection stays usable. Anything else is left to broker_reply_ok(). */
static bool
queue_missing(struct broker *b, amqp_channel_t ch, amqp_rpc_reply_t r, bool *is_open)
{
    amqp_channel_close_ok_t ok = {0};
    const amqp_channel_close_t *m;
    int st;

    if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION || r.reply.id != AMQP_CHANNEL_CLOSE_METHOD)
        return false;
    m = r.reply.decoded;
    if (m->reply_code != AMQP_NOT_FOUND)
        return false;
    *is_open = false;
    st = amqp_send_method(b->conn, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    if (st != AMQP_STATUS_OK)
        broker_status_fail(b, st, "channel.close-ok");
    return true;
}

int
broker_queue_stats(struct broker *b, const char *queue, long *messages, long *consumers)
{
    amqp_queue_declare_ok_t *ok;
    amqp_rpc_reply_t r;

    if (!broker_is_open(b) || channel_open(b, STATS_CHANNEL, &b->stats_channel_open) < 0)
        return -1;
    ok = amqp_queue_declare(b->conn, STATS_CHANNEL, amqp_cstring_bytes(queue), 1, 0, 0, 0,
                            amqp_empty_table);
    r = amqp_get_rpc_reply(b->conn);
    if (queue_missing(b, STATS_CHANNEL, r, &b->stats_channel_open))
        return b->open ? 0 : -1;
    if (broker_reply_ok(b, r, "queue.declare passive") < 0)
        return -1;
    *messages = (long)ok->message_count;
    *consumers = (long)ok->consumer_count;
    return 1;
}

int
broker_browse(struct broker *b, const char *queue, int max, size_t max_bytes,
              struct broker_delivery **out, int *n, long *left)
{
    struct broker_delivery *list = NULL;
    size_t bytes = 0;
    int got = 0;

    *out = NULL;
    *n = 0;
    *left = 0;
    if (!broker_is_open(b) || channel_open(b, BROWSE_CHANNEL, &b->browse_channel_open) < 0)
        return -1;
    if (max > 0 && (list = calloc((size_t)max, sizeof *list)) == NULL)
        return -1;
    while (got < max && bytes < max_bytes) {
        amqp_rpc_reply_t r = amqp_basic_get(b->conn, BROWSE_CHANNEL, amqp_cstring_bytes(queue), 0);
        amqp_basic_get_ok_t ok;

        if (queue_missing(b, BROWSE_CHANNEL, r, &b->browse_channel_open)) {
            broker_browse_free(list, got);
            return b->open ? 0 : -1;
        }
        if (broker_reply_ok(b, r, "basic.get") < 0)
            goto fail;
        if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) {
            *left = 0;
            break;
        }
        ok = *(amqp_basic_get_ok_t *)r.reply.decoded;
        if (broker_read_got(b, BROWSE_CHANNEL, &ok, &list[got]) < 0)
            goto fail;
        list[got].queue = strdup(queue);
        bytes += list[got].wire.body_len;
        *left = (long)ok.message_count; /* ready after this one */
        got++;
        /* Every frame read was copied: free rabbitmq-c's frame memory. */
        amqp_maybe_release_buffers(b->conn);
    }
    *out = list;
    *n = got;
    return 1;
fail:
    broker_browse_free(list, got);
    return -1;
}

int
broker_browse_take(struct broker *b, uint64_t tag)
{
    int st;

    if (!broker_is_open(b) || !b->browse_channel_open)
        return -1;
    st = amqp_basic_ack(b->conn, BROWSE_CHANNEL, tag, 0);
    if (st != AMQP_STATUS_OK)
        return broker_status_fail(b, st, "basic.ack");
    return 0;
}

int
broker_browse_end(struct broker *b)
{
    if (!broker_is_open(b))
        return -1;
    if (!b->browse_channel_open)
        return 0;
    b->browse_channel_open = false;
    /* A synchronous close: RabbitMQ answers it once the channel's acks are
     * applied and its unacked messages are back in their queues, so a view
     * opened right after sees them all. */
    return broker_reply_ok(b, amqp_channel_close(b->conn, BROWSE_CHANNEL, AMQP_REPLY_SUCCESS),
                           "channel.close");
}

void
broker_browse_free(struct broker_delivery *list, int n)
{
    for (int i = 0; i < n; i++)
        broker_delivery_fini(&list[i]);
    free(list);
}
