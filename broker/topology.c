/* broker/topology.c - exchanges, queues and routing. Celery's topology: a direct
 * exchange named like the queue, clients publishing through the default
 * exchange with routing key = queue name. Classic queues carry no arguments,
 * so that a Celery client declaring the same queue never gets
 * PRECONDITION_FAILED; quorum queues carry just x-queue-type, which Celery
 * clients then declare too (docs/operations.md "A RabbitMQ cluster"). */
#include "broker/internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static const char *const task_queues[] = {"celery", "scrape", "convert", "chat"};

/* Task-name prefix -> queue, for celeriac's own tasks. */
static const struct {
    const char *prefix;
    const char *queue;
} routes[] = {
    {"scrape.", "scrape"},
    {"convert.", "convert"},
    {"chat.", "chat"},
};

const char *
broker_queue_for_task(const char *task_name)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (strncmp(task_name, routes[i].prefix, strlen(routes[i].prefix)) == 0)
            return routes[i].queue;
    return "celery";
}

const char *
broker_routed_queue(int i)
{
    return i >= 0 && (size_t)i < sizeof task_queues / sizeof task_queues[0] ? task_queues[i] : NULL;
}

bool
broker_queue_name_valid(const char *q)
{
    size_t n;

    if (q == NULL || (n = strlen(q)) == 0 || n > BROKER_QUEUE_MAX)
        return false;
    if (strncmp(q, "amq.", 4) == 0) /* reserved by RabbitMQ */
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = q[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

static bool quorum; /* broker_set_queue_type("quorum") */

int
broker_set_queue_type(const char *type)
{
    if (type == NULL || strcmp(type, "classic") == 0)
        quorum = false;
    else if (strcmp(type, "quorum") == 0)
        quorum = true;
    else
        return -1;
    return 0;
}

bool
broker_quorum_queues(void)
{
    return quorum;
}

static bool
already_declared(struct broker *b, const char *queue)
{
    for (struct declared *d = b->declared; d != NULL; d = d->next)
        if (strcmp(d->queue, queue) == 0)
            return true;
    return false;
}

static int
declare_queue(struct broker *b, const char *queue)
{
    amqp_table_entry_t type = {.key = amqp_cstring_bytes("x-queue-type"),
                               .value = {.kind = AMQP_FIELD_KIND_UTF8,
                                         .value.bytes = amqp_cstring_bytes("quorum")}};
    amqp_table_t args = {quorum ? 1 : 0, &type};
    amqp_rpc_reply_t r;

    amqp_queue_declare(b->conn, BROKER_CHANNEL, amqp_cstring_bytes(queue), 0, 1, 0, 0, args);
    r = amqp_get_rpc_reply(b->conn);
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD &&
        ((amqp_channel_close_t *)r.reply.decoded)->reply_code == AMQP_PRECONDITION_FAILED)
        log_error("queue %s exists with other arguments than CELERIAC_QUEUE_TYPE=%s gives it:"
                  " every client must declare it alike; to change its type, drain and delete"
                  " it first (docs/operations.md \"A RabbitMQ cluster\")",
                  queue, quorum ? "quorum" : "classic");
    return broker_reply_ok(b, r, "queue.declare");
}

void
broker_forget_declared(struct broker *b, const char *queue)
{
    for (struct declared **p = &b->declared; *p != NULL; p = &(*p)->next) {
        if (strcmp((*p)->queue, queue) == 0) {
            struct declared *d = *p;
            *p = d->next;
            free(d->queue);
            free(d);
            return;
        }
    }
}

int
broker_declare_queue(struct broker *b, const char *queue)
{
    struct declared *d;

    if (already_declared(b, queue))
        return 0;
    if (declare_queue(b, queue) < 0)
        return -1;
    d = calloc(1, sizeof *d);
    if (d != NULL && (d->queue = strdup(queue)) != NULL) {
        d->next = b->declared;
        b->declared = d;
    } else {
        free(d);
    }
    return 0;
}

int
broker_declare_topology(struct broker *b)
{
    amqp_exchange_declare(b->conn, BROKER_CHANNEL, amqp_cstring_bytes(BROKER_EXCHANGE),
                          amqp_cstring_bytes("direct"), 0, 1, 0, 0, amqp_empty_table);
    if (broker_reply_ok(b, amqp_get_rpc_reply(b->conn), "exchange.declare") < 0)
        return -1;
    for (size_t i = 0; i < sizeof task_queues / sizeof task_queues[0]; i++) {
        if (broker_declare_queue(b, task_queues[i]) < 0)
            return -1;
        amqp_queue_bind(b->conn, BROKER_CHANNEL, amqp_cstring_bytes(task_queues[i]),
                        amqp_cstring_bytes(BROKER_EXCHANGE), amqp_cstring_bytes(task_queues[i]),
                        amqp_empty_table);
        if (broker_reply_ok(b, amqp_get_rpc_reply(b->conn), "queue.bind") < 0)
            return -1;
    }
    return broker_declare_queue(b, BROKER_DEAD_QUEUE);
}

long
broker_queue_depth(struct broker *b, const char *queue)
{
    amqp_queue_declare_ok_t *ok;

    ok = amqp_queue_declare(b->conn, BROKER_CHANNEL, amqp_cstring_bytes(queue), 1, 0, 0, 0,
                            amqp_empty_table);
    if (broker_reply_ok(b, amqp_get_rpc_reply(b->conn), "queue.declare passive") < 0)
        return -1;
    return (long)ok->message_count;
}
