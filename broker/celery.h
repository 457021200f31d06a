/* broker/celery.h - Celery message protocol v2 (JSON serializer), both ways.
 * Pure data transformation, no I/O: unit-tested against captured Celery 5.2
 * messages (../shared/celery-wire) and fuzzed. docs/protocol.md lists every field. */
#ifndef CELERIAC_CELERY_H
#define CELERIAC_CELERY_H

#include <stdbool.h>
#include <stddef.h>
#include <cJSON.h>

/* One AMQP message as copied out of rabbitmq-c: owns every pointer. */
struct celery_wire {
    char *content_type;
    char *content_encoding;
    char *correlation_id;
    char *reply_to;
    char *expiration;  /* TTL in milliseconds as text, or NULL */
    int priority;      /* 0..255, -1 when absent */
    int delivery_mode; /* 2 = persistent, 0 when absent */
    cJSON *headers;    /* a JSON object mirroring the AMQP header table, or NULL */
    char *body;
    size_t body_len;
};

/* A decoded task. Every pointer is owned; celery_msg_fini() frees them. */
struct celery_msg {
    char *id;             /* headers.id (== correlation_id) */
    char *task;           /* headers.task: the task name */
    cJSON *args;          /* body[0]: a JSON array */
    cJSON *kwargs;        /* body[1]: a JSON object */
    cJSON *embed;         /* body[2]: {callbacks, errbacks, chain, chord}, or NULL */
    int retries;          /* headers.retries */
    char *eta;            /* ISO 8601 or NULL */
    char *expires;        /* ISO 8601 or NULL */
    double eta_at;        /* eta as Unix seconds (UTC), 0 when absent */
    double expires_at;    /* expires likewise */
    int max_retries;      /* headers.max_retries (celeriac's own), -1 when absent */
    double time_limit;    /* headers.timelimit[0], hard, seconds; 0 = none */
    double soft_time_limit; /* headers.timelimit[1], soft; 0 = none */
    char *root_id;
    char *parent_id;
    char *group;
    int group_index;      /* -1 when null */
    char *shadow;
    char *origin;
    char *argsrepr;
    char *kwargsrepr;
    bool ignore_result;
    char *reply_to;       /* property */
    int priority;         /* property, 0 when absent */
};

#define CELERY_NAME_MAX 200 /* longest task name accepted */
/* Largest body decoded: a bigger message is poison (dead-lettered), not a
 * task to hold in a batch and write into rows. */
#define CELERY_BODY_MAX (8 << 20)

void celery_msg_fini(struct celery_msg *m);
void celery_wire_fini(struct celery_wire *w);

/* True for a usable task name: 1..CELERY_NAME_MAX of [A-Za-z0-9_.:-], not
 * starting with a dot or a dash. */
bool celery_name_valid(const char *name);

/* Build the wire form of m (headers, properties, body) exactly as Celery 5
 * sends it. m->id and m->task must be set; args/kwargs default to [] and {}.
 * 0, or -1 with a reason in err. */
int celery_encode(const struct celery_msg *m, struct celery_wire *out, char *err, size_t errlen);

/* Decode a protocol v2 message. 0, or -1 with a reason in err (the message is
 * then poison: dead-letter it). On failure m may be half-filled (m->id is set
 * whenever an id was readable, so the task row can be failed): always
 * celery_msg_fini() it. */
int celery_decode(const struct celery_wire *w, struct celery_msg *m, char *err, size_t errlen);

/* Python's repr() of a JSON value as Celery's argsrepr/kwargsrepr show it:
 * args as a tuple, strings in single quotes, True/False/None. Truncated to
 * maxlen characters. Caller frees. */
char *celery_repr(const cJSON *v, bool as_tuple, size_t maxlen);

#endif
