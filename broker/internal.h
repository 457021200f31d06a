/* broker/internal.h - struct broker and helpers shared by the broker/ sources only. */
#ifndef CELERIAC_BROKER_INTERNAL_H
#define CELERIAC_BROKER_INTERNAL_H

#include <amqp.h> /* Debian 12 has rabbitmq-c 0.11: <amqp.h>, not <rabbitmq-c/amqp.h> */
#include <amqp_framing.h>
#include <pthread.h>
#include <stdatomic.h>

#include "broker/broker.h"
#include "common/strset.h"

#define BROKER_CHANNEL 1

/* A delivery read while waiting for a publisher confirm, kept for broker_next(). */
struct stashed {
    struct broker_delivery d;
    struct stashed *next;
};

struct declared {
    char *queue;
    struct declared *next;
};

struct broker {
    amqp_connection_state_t conn;
    bool open;               /* false once any call saw the connection fail */
    int nodes;               /* how many nodes AMQP_URL lists (broker_open()) */
    uint64_t published;      /* delivery tags of our publishes, for confirms */
    uint64_t confirmed;      /* every tag up to this one is acked or nacked */
    uint64_t *settled_above; /* tags above confirmed acked or nacked one by one */
    size_t n_above, above_cap;
    bool nacked, returned;   /* seen while waiting for the current confirm */
    /* Per message, for broker_outcome(), since broker_outcomes_clear(): */
    uint64_t *nacked_tags;   /* delivery tags RabbitMQ nacked */
    size_t n_nacked, nacked_cap;
    char **returned_ids;     /* correlation ids of messages returned unroutable */
    size_t n_returned, returned_cap;
    struct stashed *stash_head, *stash_tail;
    struct declared *declared;
    /* What broker_consume() was asked for, for broker_pause()/resume(). */
    struct strset consume; /* empty until broker_consume() */
    char **consumer_tags; /* one per queue consumed; empty while paused */
    int n_consumers;
    int heartbeat;        /* seconds, 0: off (AMQP_HEARTBEAT) */
    pthread_t keeper;     /* broker_keepalive_start() */
    bool keeping;
    atomic_bool keeper_stop;
    /* Queues paused by the operator (broker_set_paused()): never consumed. */
    struct strset paused;
    bool all_paused; /* broker_pause() holds every consumer (a long task runs) */
    /* admin.c's channels, opened on first use (a missing queue closes one). */
    bool stats_channel_open, browse_channel_open;
};

/* Our consumers' tags: this prefix and the queue's name, so that a delivery
 * names its queue, even one that crossed the cancel of its consumer. */
#define BROKER_CONSUMER_TAG_PREFIX "celeriac:"

/* rabbitmq-c's die_on_amqp_error made to log and return -1 (marking the broker
 * broken when the server closed the channel or the connection). */
int broker_reply_ok(struct broker *b, amqp_rpc_reply_t r, const char *what);
/* Log a failed plain call (negative amqp_status) and mark broken. Always -1. */
int broker_status_fail(struct broker *b, int status, const char *what);

/* Read the content frames of a basic.deliver whose method was just received,
 * into d (a full copy). 0 or -1. */
int broker_read_delivery(struct broker *b, const amqp_basic_deliver_t *deliver,
                         struct broker_delivery *d);

/* The same for a basic.get-ok on channel ch (admin.c browses with it). */
int broker_read_got(struct broker *b, amqp_channel_t ch, const amqp_basic_get_ok_t *got,
                    struct broker_delivery *d);

/* Publisher confirms (consume.c reads them): settle tag, or every tag up to
 * it; record a nacked tag; was tag settled out of order? */
void broker_settle_confirm(struct broker *b, uint64_t tag, bool multiple);
void broker_note_nack(struct broker *b, uint64_t tag);
bool broker_settled_above(const struct broker *b, uint64_t tag);

/* True when broker_set_queue_type() asked for quorum queues. */
bool broker_quorum_queues(void);

/* Forget that queue was declared on this connection (it may have been
 * deleted since): the next broker_declare_queue() declares it again. */
void broker_forget_declared(struct broker *b, const char *queue);

/* JSON object <-> AMQP field table (broker/table.c). The table's memory comes
 * from pool and points into obj's strings: keep both until it is sent. */
int broker_json_to_table(const cJSON *obj, amqp_pool_t *pool, amqp_table_t *out);
cJSON *broker_table_to_json(const amqp_table_t *t);

#endif
