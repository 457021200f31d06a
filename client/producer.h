/* client/producer.h - the one way a task enters celeriac from the webapp, the
 * CLI or the worker master's sweeper: validate, record the PENDING row,
 * publish, wait for the publisher confirm. It sits above broker/ and sql/,
 * which know nothing of each other.
 *
 * One producer serves any number of threads like a group commit in two
 * stages: whoever finds a stage free leads it for everything queued so far.
 * Stage 1 inserts every queued row with one statement and one commit; stage
 * 2 publishes every queued message and waits once for their confirms, with
 * up to three leaders at a time, each on a broker connection of its own
 * (a confirm round costs the same whatever its size). While groups wait for
 * RabbitMQ, the next is written to PostgreSQL. The producer's connections
 * are its own: nothing waits for the broker while holding a connection the
 * webapp's pages need. */
#ifndef CELERIAC_PRODUCER_H
#define CELERIAC_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <cJSON.h>

#include "common/uuid.h"

enum enqueue_rc {
    ENQUEUE_OK = 0,
    ENQUEUE_INVALID = -1,     /* the request is wrong: a 4xx */
    ENQUEUE_DB_DOWN = -2,     /* nothing was stored: a 503 */
    ENQUEUE_BROKER_DOWN = -3, /* the row was withdrawn, nothing was queued: a 503 */
};

struct enqueue_req {
    const char *name;    /* task name */
    const cJSON *args;   /* array or NULL for [] */
    const cJSON *kwargs; /* object or NULL for {} */
    const char *queue;   /* NULL: routed by name (broker_queue_for_task) */
    const char *origin;  /* sender's node name, may be NULL */
    const char *parent_id; /* the task this one was started from (a UUID), or NULL */
    /* Options, as Celery's apply_async() takes them (0/NULL: none). */
    double countdown;    /* run no earlier than this many seconds from now */
    const char *eta;     /* ... or than this ISO 8601 time (not with countdown) */
    double expires_in;   /* REVOKED (expired) if not started within this many seconds */
    const char *expires; /* ... or by this ISO 8601 time (not with expires_in) */
    bool has_max_retries;
    int max_retries;     /* overrides the task's max_retries when has_max_retries */
    double time_limit, soft_time_limit; /* seconds: the timelimit header */
};

/* Check r; on ENQUEUE_INVALID err names the problem. */
int enqueue_validate(const struct enqueue_req *r, char *err, size_t errlen);

struct producer;

/* conn_name shows in RabbitMQ's and PostgreSQL's connection lists. No
 * connection is opened here. NULL on out of memory. */
struct producer *producer_new(const char *amqp_url, const char *database_url,
                              const char *conn_name, int confirm_timeout_ms);
void producer_free(struct producer *p);

/* Validate r, record its PENDING row, publish it, wait for the confirm. On
 * ENQUEUE_OK, id is the new task's id and *unconfirmed says whether the
 * confirm never came (timeout, lost connection): the message may or may not
 * be queued, so the task is NOT failed: its row stays PENDING and the
 * sweeper publishes it again if it was lost (a worker makes it final either
 * way). A nack or an unroutable return fails only the messages it names:
 * their rows are withdrawn (ENQUEUE_BROKER_DOWN). */
int producer_enqueue(struct producer *p, const struct enqueue_req *r, char id[UUID_STR_LEN],
                     bool *unconfirmed, char *err, size_t errlen);

/* Is RabbitMQ reachable? Probes the publishing connection, reopening it once
 * if needed. 0, or -1 with the reason in err. Never publishes. */
int producer_check_broker(struct producer *p, char *err, size_t errlen);

/* Publish again up to limit tasks left PENDING without a confirmed publish
 * for more than age_s seconds (the producer that inserted them died, or
 * their confirm never came), marking those confirmed. Safe to run in any
 * number of processes at once (rows are locked, SKIP LOCKED). Number
 * republished, or -1 (logged). */
int producer_sweep(struct producer *p, double age_s, int limit);

#endif
