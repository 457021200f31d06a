/* broker/broker.h - the only door to RabbitMQ.
 * One struct broker is one AMQP connection with one channel in publisher-confirm
 * mode: the webapp and the CLI own one, each worker child its own. Nothing here
 * survives fork(). Every call that fails on the connection marks the broker
 * broken (broker_is_open() turns false): close it and open a new one. */
#ifndef CELERIAC_BROKER_H
#define CELERIAC_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/celery.h"

#define BROKER_EXCHANGE "celery"          /* direct, durable: Celery's default */
#define BROKER_DEAD_QUEUE "celeriac.dead" /* where the worker dead-letters */
#define BROKER_QUEUE_MAX 200              /* longest queue name accepted */

/* Headers a dead-lettered copy carries besides the original ones. */
#define BROKER_H_REASON "x-celeriac-reason"
#define BROKER_H_QUEUE "x-celeriac-queue"
#define BROKER_H_WORKER "x-celeriac-worker"

struct broker;
struct strset;

/* A message taken from a queue: a full copy, owned by the caller. */
struct broker_delivery {
    uint64_t tag;
    bool redelivered;
    char *exchange;
    char *routing_key;
    char *queue; /* the queue it came from (its consumer's, or the one browsed); NULL: unknown */
    struct celery_wire wire;
};

/* Connect to amqp_url, log in, open channel 1 and enable publisher confirms.
 * amqp_url may list the nodes of a cluster separated by ';' (as Celery's
 * broker_url): they are tried in turn, from a place that differs between
 * processes and moves past a node whose connection broke.
 * conn_name shows in RabbitMQ's connection list. NULL on failure with the
 * reason in err (the password is never in it). */
struct broker *broker_open(const char *amqp_url, const char *conn_name, char *err, size_t errlen);
/* Close and free; NULL is fine. Unacked deliveries go back to their queues. */
void broker_close(struct broker *b);
bool broker_is_open(const struct broker *b);

/* How this process declares queues: "classic" (no arguments; NULL too) or
 * "quorum" (x-queue-type: quorum). Call once, before any broker_open().
 * 0, or -1 for another name. */
int broker_set_queue_type(const char *type);

/* Declare exchange 'celery' and the durable queues celery, scrape, convert,
 * chat and celeriac.dead (no arguments, so Celery clients declaring them agree),
 * each bound to 'celery' under its own name. 0 or -1 (logged). */
int broker_declare_topology(struct broker *b);
/* Declare one more durable queue the same way (a task for a queue celeriac's own
 * workers may not serve). Remembered per connection. 0 or -1 (logged). */
int broker_declare_queue(struct broker *b, const char *queue);
/* Messages ready in queue, or -1. */
long broker_queue_depth(struct broker *b, const char *queue);

/* The queue celeriac routes a task name to: scrape.* -> scrape, convert.* ->
 * convert, chat.* -> chat, anything else -> celery. */
const char *broker_queue_for_task(const char *task_name);
/* The i-th queue celeriac routes tasks to (celery, scrape, convert, chat),
 * NULL past the last. */
const char *broker_routed_queue(int i);
/* True for a usable queue name: 1..BROKER_QUEUE_MAX of [A-Za-z0-9_.:-]. */
bool broker_queue_name_valid(const char *queue);

/* Publish w persistently (mandatory) through the default exchange to
 * routing_key and wait up to timeout_ms for the broker's confirm. 0 once
 * confirmed; -1 with the reason in err on nack, unroutable, timeout or a lost
 * connection. */
int broker_publish_wire(struct broker *b, const char *routing_key, const struct celery_wire *w,
                        int timeout_ms, char *err, size_t errlen);
/* Publish without waiting (for batches): 0 once sent, -1 on a lost connection.
 * Follow with broker_wait_confirms(). */
int broker_publish_nowait(struct broker *b, const char *routing_key, const struct celery_wire *w,
                          char *err, size_t errlen);
/* Wait until every publish so far is confirmed. 0, or -1 with err set when one
 * was nacked or unroutable, or on timeout or a lost connection. */
int broker_wait_confirms(struct broker *b, int timeout_ms, char *err, size_t errlen);
/* The confirm sequence number of the last publish on b. */
uint64_t broker_last_seq(const struct broker *b);

/* What became of one message of a batch, once broker_wait_confirms()
 * returned (0 or -1): RETURNED (unroutable) and NACKED name only the messages
 * RabbitMQ named; UNKNOWN when the wait ended (timeout, lost connection)
 * before its confirm: it may or may not be stored. */
enum broker_outcome { BROKER_CONFIRMED, BROKER_NACKED, BROKER_RETURNED, BROKER_UNKNOWN };
enum broker_outcome broker_outcome(const struct broker *b, uint64_t seq,
                                   const char *correlation_id);
/* Forget the outcomes recorded so far: call before publishing a batch. */
void broker_outcomes_clear(struct broker *b);

/* Start consuming the queues of the set with manual acks and
 * basic.qos(prefetch). 0 or -1 (logged). */
int broker_consume(struct broker *b, const struct strset *queues, int prefetch);
/* Wait up to timeout_ms for the next delivery. 1 with *d filled (free with
 * broker_delivery_fini), 0 on timeout, -1 when the connection is lost. */
int broker_next(struct broker *b, struct broker_delivery *d, int timeout_ms);
/* True when frames are already read or buffered (broker_next(b, d, 0) has
 * more to hand out without waiting on the socket). */
bool broker_pending(struct broker *b);
/* Ack tag, or with multiple every unacked delivery up to tag. 0 or -1. */
int broker_ack(struct broker *b, uint64_t tag, bool multiple);
/* Give a delivery back to its queue (basic.reject, requeue): another
 * consumer may take it. 0 or -1. */
int broker_requeue(struct broker *b, uint64_t tag);
/* Reject a delivery without requeueing it: the last resort when even the
 * dead-letter queue refuses it. 0 or -1. */
int broker_drop(struct broker *b, uint64_t tag);
/* Stop receiving deliveries (basic.cancel of every consumer) while the
 * caller runs a long task, and start again. Unacked deliveries stay ours;
 * deliveries that crossed the cancel are still handed out by broker_next().
 * 0 or -1. */
int broker_pause(struct broker *b);
int broker_resume(struct broker *b);
/* While the caller runs a long task and makes no broker call, keep the
 * connection's heartbeats going from a thread (nothing when AMQP_HEARTBEAT is
 * 0). Stop before the next broker call; broker_is_open() then says whether
 * the connection survived. */
void broker_keepalive_start(struct broker *b);
void broker_keepalive_stop(struct broker *b);

/* Republish a copy of d to celeriac.dead with its original properties and
 * headers plus x-celeriac-reason/-queue/-worker, and wait for the confirm.
 * Does not ack d: the caller acks once this returned 0. */
int broker_dead_letter(struct broker *b, const struct broker_delivery *d, const char *reason,
                       const char *worker);
void broker_delivery_fini(struct broker_delivery *d);

/* ----- queues paused by the operator (consume.c) ----- */

/* The queues not to consume (a copy is kept): cancel the consumers of those
 * now in the set, start again those no longer in it (unless broker_pause()
 * holds every consumer for a long task: broker_resume() then starts only the
 * queues not in the set). Before broker_consume() it only records the set,
 * so a paused queue is never consumed at all. Deliveries that crossed a
 * cancel still come out of broker_next(), their queue named. 0, or -1 when
 * the connection failed (logged). */
int broker_set_paused(struct broker *b, const char *const *queues, int n);

/* ----- looking at queues without taking from them (admin.c): the webapp's /queues ----- */

/* A queue's counts, by a passive queue.declare on a channel of their own (a
 * missing queue closes that channel, never the connection). 1 with
 * *messages (ready) and *consumers set; 0 when there is no such queue; -1
 * when the connection failed (logged). */
int broker_queue_stats(struct broker *b, const char *queue, long *messages, long *consumers);
/* Read the first messages of queue, in order, without taking them: basic.get
 * without ack, on a channel of their own, at most max messages and stopping
 * once their bodies pass max_bytes. *out (free with broker_browse_free) holds
 * *n of them, *left how many more were ready. They stay unacked on that
 * channel, so no one else sees them, until broker_browse_take() removes one
 * and broker_browse_end() gives the others back. 1, 0 when there is no such
 * queue, -1 when the connection failed (logged). */
int broker_browse(struct broker *b, const char *queue, int max, size_t max_bytes,
                  struct broker_delivery **out, int *n, long *left);
/* Remove one browsed message from its queue for good (basic.ack). 0 or -1. */
int broker_browse_take(struct broker *b, uint64_t tag);
/* Give every browsed message not taken back to its queue by closing their
 * channel: RabbitMQ puts a classic queue's messages back where they were,
 * and has done so (and has applied the takes) by the time the close is
 * answered. 0, or -1 when the connection failed (the server gives them
 * back all the same when it notices). */
int broker_browse_end(struct broker *b);
void broker_browse_free(struct broker_delivery *list, int n);

#endif
