/* broker/conn.c - connection life cycle. AMQP heartbeats are off unless
 * AMQP_HEARTBEAT asks for them: rabbitmq-c only answers heartbeats from inside
 * its calls, so a child running a long task keeps its connection alive with
 * broker_keepalive_start() (a thread that waits on the socket meanwhile).
 * TCP keepalive finds dead peers either way. */
#include "broker/internal.h"

#include <amqp_tcp_socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"

#define CONNECT_TIMEOUT_S 5
#define FRAME_MAX 131072

int
broker_reply_ok(struct broker *b, amqp_rpc_reply_t r, const char *what)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return 0;
    case AMQP_RESPONSE_NONE:
        log_error("amqp %s: missing RPC reply", what);
        break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        log_error("amqp %s: %s", what, amqp_error_string2(r.library_error));
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            log_error("amqp %s: server closed the connection: %u %.*s", what, m->reply_code,
                      (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            log_error("amqp %s: server closed the channel: %u %.*s", what, m->reply_code,
                      (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else {
            log_error("amqp %s: unexpected server method 0x%08X", what, r.reply.id);
        }
        break;
    }
    /* Any failure leaves the channel in an unknown state: start over. */
    if (b != NULL)
        b->open = false;
    return -1;
}

int
broker_status_fail(struct broker *b, int status, const char *what)
{
    log_error("amqp %s: %s", what, amqp_error_string2(status));
    if (b != NULL)
        b->open = false;
    return -1;
}

static void
set_keepalive(int fd)
{
    int on = 1, idle = 30, intvl = 10, cnt = 3;

    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

/* Connect b to one node: url is one amqp:// URL, a copy amqp_parse_url may
 * cut up. 0, or -1 with the reason in err. */
static int
open_node(struct broker *b, char *url, const char *conn_name, char *err, size_t errlen)
{
    struct amqp_connection_info ci;
    struct timeval tv = {CONNECT_TIMEOUT_S, 0};
    amqp_table_entry_t prop;
    amqp_table_t props = {1, &prop};
    amqp_socket_t *sock;
    amqp_rpc_reply_t r;
    char safe[256];
    int st;

    cfg_redact_url(url, safe, sizeof safe);
    amqp_default_connection_info(&ci);
    if (amqp_parse_url(url, &ci) != AMQP_STATUS_OK) {
        snprintf(err, errlen, "AMQP_URL %s is not a valid amqp:// URL", safe);
        return -1;
    }
    /* amqp://host:5672/ parses as vhost "": read it as "/", as kombu does. */
    if (ci.vhost == NULL || ci.vhost[0] == '\0')
        ci.vhost = "/";
    if (ci.ssl) {
        snprintf(err, errlen, "amqps:// is not supported yet (AMQP_URL %s)", safe);
        return -1;
    }
    b->conn = amqp_new_connection();
    sock = amqp_tcp_socket_new(b->conn);
    if (sock == NULL) {
        snprintf(err, errlen, "cannot create a socket");
        return -1;
    }
    st = amqp_socket_open_noblock(sock, ci.host, ci.port, &tv);
    if (st != AMQP_STATUS_OK) {
        snprintf(err, errlen, "cannot connect to RabbitMQ at %s: %s", safe, amqp_error_string2(st));
        return -1;
    }
    set_keepalive(amqp_get_sockfd(b->conn));
    amqp_set_handshake_timeout(b->conn, &tv);
    amqp_set_rpc_timeout(b->conn, &tv);
    prop.key = amqp_cstring_bytes("connection_name");
    prop.value.kind = AMQP_FIELD_KIND_UTF8;
    prop.value.value.bytes = amqp_cstring_bytes(conn_name);
    b->heartbeat = cfg_amqp_heartbeat();
    r = amqp_login_with_properties(b->conn, ci.vhost, 0, FRAME_MAX, b->heartbeat, &props,
                                   AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
            snprintf(err, errlen, "RabbitMQ at %s refused the login: %s", safe,
                     amqp_error_string2(r.library_error));
        else if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
            snprintf(err, errlen, "RabbitMQ at %s refused the connection: %.*s", safe,
                     (int)((amqp_connection_close_t *)r.reply.decoded)->reply_text.len,
                     (const char *)((amqp_connection_close_t *)r.reply.decoded)->reply_text.bytes);
        else
            snprintf(err, errlen, "RabbitMQ at %s refused the login (check user, password, vhost)",
                     safe);
        return -1;
    }
    amqp_channel_open(b->conn, BROKER_CHANNEL);
    if (broker_reply_ok(b, amqp_get_rpc_reply(b->conn), "channel.open") < 0) {
        snprintf(err, errlen, "cannot open a channel on %s", safe);
        return -1;
    }
    amqp_confirm_select(b->conn, BROKER_CHANNEL);
    if (broker_reply_ok(b, amqp_get_rpc_reply(b->conn), "confirm.select") < 0) {
        snprintf(err, errlen, "cannot enable publisher confirms on %s", safe);
        return -1;
    }
    return 0;
}

/* The node of a ';' list a process tries first. It starts at a place drawn
 * from the pid, so the processes of a host spread over the nodes, and moves
 * on past a node whose connection failed or broke (broker_close()), as
 * kombu's round-robin failover does. */
static unsigned next_node;
static pid_t next_node_pid; /* the process that drew it: a forked child draws its own */

static int
count_nodes(const char *url)
{
    int n = 1;

    for (const char *p = url; (p = strchr(p, ';')) != NULL; p++)
        n++;
    return n;
}

/* A copy of the i-th URL of list, or NULL when out of memory. */
static char *
nth_url(const char *list, int i)
{
    const char *p = list, *end;

    while (i-- > 0)
        p = strchr(p, ';') + 1;
    end = strchr(p, ';');
    return strndup(p, end != NULL ? (size_t)(end - p) : strlen(p));
}

struct broker *
broker_open(const char *amqp_url, const char *conn_name, char *err, size_t errlen)
{
    int nodes = count_nodes(amqp_url);
    char why[512] = "";

    if (next_node_pid != getpid()) {
        next_node_pid = getpid();
        next_node = (unsigned)next_node_pid;
    }
    for (int tried = 0; tried < nodes; tried++) {
        int node = (int)(next_node % (unsigned)nodes);
        struct broker *b = calloc(1, sizeof *b);
        char *url = nth_url(amqp_url, node);

        if (b == NULL || url == NULL) {
            free(url);
            free(b);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        b->nodes = nodes;
        if (open_node(b, url, conn_name, why, sizeof why) == 0) {
            free(url);
            b->open = true;
            return b;
        }
        free(url);
        broker_close(b); /* moves next_node on: b->open is false */
        if (nodes > 1)
            log_warn("%s: trying the next node", why);
    }
    if (nodes > 1)
        snprintf(err, errlen, "no RabbitMQ node of the %d in AMQP_URL answers; the last: %s",
                 nodes, why);
    else
        snprintf(err, errlen, "%s", why);
    return NULL;
}

void
broker_close(struct broker *b)
{
    if (b == NULL)
        return;
    if (!b->open && b->nodes > 1)
        next_node++; /* this node failed: reconnect to another one first */
    broker_keepalive_stop(b);
    if (b->conn != NULL) {
        if (b->open) {
            amqp_channel_close(b->conn, BROKER_CHANNEL, AMQP_REPLY_SUCCESS);
            amqp_connection_close(b->conn, AMQP_REPLY_SUCCESS);
        }
        amqp_destroy_connection(b->conn);
    }
    while (b->stash_head != NULL) {
        struct stashed *s = b->stash_head;
        b->stash_head = s->next;
        broker_delivery_fini(&s->d);
        free(s);
    }
    while (b->declared != NULL) {
        struct declared *d = b->declared;
        b->declared = d->next;
        free(d->queue);
        free(d);
    }
    broker_outcomes_clear(b);
    free(b->returned_ids);
    free(b->nacked_tags);
    free(b->settled_above);
    for (int i = 0; i < b->n_consumers; i++)
        free(b->consumer_tags[i]);
    free(b->consumer_tags);
    strset_clear(&b->consume);
    strset_clear(&b->paused);
    free(b);
}

bool
broker_is_open(const struct broker *b)
{
    return b != NULL && b->open;
}

/* The keeper: while the owner runs a long task and leaves the connection
 * alone, wait on it so rabbitmq-c sends and checks heartbeats. With the
 * consumers paused nothing else should arrive; any frame that does (a close)
 * ends the connection, which the owner then reopens. */
static void *
keeper(void *arg)
{
    struct broker *b = arg;

    while (!atomic_load(&b->keeper_stop)) {
        struct timeval tv = {0, 200000};
        amqp_frame_t f;
        int st = amqp_simple_wait_frame_noblock(b->conn, &f, &tv);

        if (st == AMQP_STATUS_TIMEOUT)
            continue;
        if (st == AMQP_STATUS_OK)
            log_warn("RabbitMQ sent a frame (type %d) during a long task: reconnecting", f.frame_type);
        else
            log_warn("RabbitMQ connection lost during a long task: %s", amqp_error_string2(st));
        b->open = false;
        break;
    }
    return NULL;
}

void
broker_keepalive_start(struct broker *b)
{
    if (b == NULL || !b->open || b->heartbeat <= 0 || b->keeping)
        return;
    atomic_store(&b->keeper_stop, false);
    b->keeping = pthread_create(&b->keeper, NULL, keeper, b) == 0;
}

void
broker_keepalive_stop(struct broker *b)
{
    if (b == NULL || !b->keeping)
        return;
    atomic_store(&b->keeper_stop, true);
    pthread_join(b->keeper, NULL);
    b->keeping = false;
}
