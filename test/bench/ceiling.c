/* test/bench/ceiling.c - what RabbitMQ itself allows on this machine, the
 * ceilings `make bench` sets celeriac's figures against. Plain rabbitmq-c, no
 * celeriac code, on queue QUEUE (durable, no arguments, like celeriac's own):
 *   ceiling publish N        purge QUEUE, then publish N persistent messages
 *                            (delivery_mode 2, a Celery no-op task's body) to
 *                            it with publisher confirms, waiting for them in
 *                            batches of BATCH: the webapp's enqueue without
 *                            the database
 *   ceiling consume N [P]    P processes (default 2, like the worker's 2
 *                            children) consume QUEUE with basic.qos prefetch
 *                            PREFETCH and ack each message alone (multiple=0)
 *                            until N are acked: the worker's drain without
 *                            the database
 * Each prints key=value lines (ceiling_*_per_s: messages/second) for
 * test/bench/run. AMQP_URL says where RabbitMQ is. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h> /* Debian 12 has rabbitmq-c 0.11: <amqp.h>, not <rabbitmq-c/amqp.h> */
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#define QUEUE "celeriac.bench.ceiling"
#define CHANNEL 1
#define BATCH 100    /* confirms waited for together */
#define PREFETCH 100 /* basic.qos for each consumer */
#define MAX_PROCS 16

/* What celery.app.amqp puts in the body of a task called without arguments. */
static const char BODY[] =
    "[[], {}, {\"callbacks\": null, \"errbacks\": null, \"chain\": null, \"chord\": null}]";

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts); /* one clock for every process */
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *what, const char *why)
{
    fprintf(stderr, "ceiling: %s: %s\n", what, why);
    exit(1);
}

/* Fail unless an RPC-style call (login, channel.open, queue.declare, ...) went through. */
static void
check_reply(amqp_rpc_reply_t r, const char *what)
{
    char why[256];

    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        die(what, amqp_error_string2(r.library_error));
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            snprintf(why, sizeof why, "server closed the connection: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            snprintf(why, sizeof why, "server closed the channel: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else {
            snprintf(why, sizeof why, "unexpected server method 0x%08x", r.reply.id);
        }
        die(what, why);
        break;
    default:
        die(what, "no reply");
    }
}

static amqp_connection_state_t
connect_amqp(void)
{
    const char *env = getenv("AMQP_URL");
    char *url = strdup(env ? env : "amqp://guest:guest@127.0.0.1:5672/");
    struct amqp_connection_info ci;
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    int st;

    if (url == NULL || sock == NULL)
        die("connect", "out of memory");
    if (amqp_parse_url(url, &ci) != AMQP_STATUS_OK)
        die("AMQP_URL", "cannot parse it");
    if (ci.vhost == NULL || ci.vhost[0] == '\0')
        ci.vhost = "/"; /* amqp://host:port/ means "/" for kombu and broker/conn.c */
    if ((st = amqp_socket_open(sock, ci.host, ci.port)) != AMQP_STATUS_OK)
        die("connect", amqp_error_string2(st));
    check_reply(amqp_login(conn, ci.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, ci.user,
                           ci.password),
                "login");
    amqp_channel_open(conn, CHANNEL);
    check_reply(amqp_get_rpc_reply(conn), "channel.open");
    amqp_queue_declare(conn, CHANNEL, amqp_cstring_bytes(QUEUE), 0, 1, 0, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "queue.declare");
    free(url);
    return conn;
}

static void
disconnect(amqp_connection_state_t conn)
{
    /* channel.close is synchronous: when it returns, RabbitMQ has handled
     * every publish and ack sent before it. */
    check_reply(amqp_channel_close(conn, CHANNEL, AMQP_REPLY_SUCCESS), "channel.close");
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

/* Read frames until every tag in (first, last] is confirmed. rabbitmq-c 0.11
 * has no amqp_publisher_confirm_wait(): basic.ack frames are read here the
 * way broker/consume.c's broker_pump() does. */
static void
wait_confirms(amqp_connection_state_t conn, uint64_t first, uint64_t last)
{
    char done[BATCH] = {0};
    uint64_t left = last - first;

    while (left > 0) {
        struct timeval tv = {60, 0};
        amqp_frame_t f;
        int st = amqp_simple_wait_frame_noblock(conn, &f, &tv);

        if (st != AMQP_STATUS_OK)
            die("waiting for confirms", amqp_error_string2(st));
        if (f.frame_type != AMQP_FRAME_METHOD || f.channel != CHANNEL)
            continue;
        if (f.payload.method.id == AMQP_BASIC_NACK_METHOD)
            die("publish", "RabbitMQ refused a message (basic.nack)");
        if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
            f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)
            die("publish", "RabbitMQ closed the channel");
        if (f.payload.method.id != AMQP_BASIC_ACK_METHOD)
            continue;
        amqp_basic_ack_t *a = f.payload.method.decoded;
        /* One ack may confirm a single tag or every tag up to it (multiple). */
        for (uint64_t t = a->multiple ? first + 1 : a->delivery_tag; t <= a->delivery_tag; t++) {
            if (t > first && t <= last && !done[t - first - 1]) {
                done[t - first - 1] = 1;
                left--;
            }
        }
    }
}

static int
publish(long n)
{
    amqp_connection_state_t conn = connect_amqp();
    amqp_basic_properties_t props = {0};
    amqp_bytes_t body = {sizeof BODY - 1, (void *)BODY};
    uint64_t tag = 0; /* delivery tags count from 1 on a confirm channel */
    double t0, t;

    amqp_queue_purge(conn, CHANNEL, amqp_cstring_bytes(QUEUE));
    check_reply(amqp_get_rpc_reply(conn), "queue.purge");
    amqp_confirm_select(conn, CHANNEL);
    check_reply(amqp_get_rpc_reply(conn), "confirm.select");
    /* The properties a Celery client sets that matter to RabbitMQ. */
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
                   AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.content_encoding = amqp_cstring_bytes("utf-8");
    props.delivery_mode = 2; /* persistent */
    t0 = now();
    while ((long)tag < n) {
        uint64_t first = tag;

        while ((long)tag < n && tag - first < BATCH) {
            int st = amqp_basic_publish(conn, CHANNEL, amqp_empty_bytes,
                                        amqp_cstring_bytes(QUEUE), 0, 0, &props, body);
            if (st != AMQP_STATUS_OK)
                die("basic.publish", amqp_error_string2(st));
            tag++;
        }
        wait_confirms(conn, first, tag);
        amqp_maybe_release_buffers(conn);
    }
    t = now() - t0;
    printf("ceiling_publish_messages=%ld\nceiling_publish_body_bytes=%zu\n"
           "ceiling_publish_confirm_batch=%d\nceiling_publish_seconds=%.3f\n"
           "ceiling_publish_per_s=%.0f\n",
           n, sizeof BODY - 1, BATCH, t, n / t);
    disconnect(conn);
    return 0;
}

/* Shared by the consumer processes and their parent (MAP_SHARED). */
struct shared {
    long acked; /* messages acked so far, all consumers together */
    int ready;  /* consumers connected, with their qos set */
    int go;     /* set by the parent once all are ready */
    double end[MAX_PROCS];
};

static void
consumer(struct shared *sh, int me, long n)
{
    amqp_connection_state_t conn = connect_amqp();

    amqp_basic_qos(conn, CHANNEL, 0, PREFETCH, 0);
    check_reply(amqp_get_rpc_reply(conn), "basic.qos");
    __atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&sh->go, __ATOMIC_SEQ_CST))
        usleep(200);
    /* Consuming starts only now, so no consumer gets a head start. */
    amqp_basic_consume(conn, CHANNEL, amqp_cstring_bytes(QUEUE), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "basic.consume");
    while (__atomic_load_n(&sh->acked, __ATOMIC_SEQ_CST) < n) {
        struct timeval tv = {0, 100000}; /* then look whether the others finished */
        amqp_envelope_t env;
        amqp_rpc_reply_t r;

        amqp_maybe_release_buffers(conn);
        r = amqp_consume_message(conn, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT)
            continue;
        check_reply(r, "consume");
        /* Claim a number first: exactly n acks in all, whatever the timing. */
        if (__atomic_fetch_add(&sh->acked, 1, __ATOMIC_SEQ_CST) < n) {
            int st = amqp_basic_ack(conn, CHANNEL, env.delivery_tag, 0);
            if (st != AMQP_STATUS_OK)
                die("basic.ack", amqp_error_string2(st));
        }
        amqp_destroy_envelope(&env);
    }
    /* Unacked prefetched messages (none when the queue held exactly n) go
     * back to the queue when the channel closes. */
    disconnect(conn);
    sh->end[me] = now();
    exit(0);
}

static int
consume(long n, int procs)
{
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pid[MAX_PROCS];
    double t0, t1 = 0;
    int failed = 0;

    if (sh == MAP_FAILED)
        die("mmap", strerror(errno));
    memset(sh, 0, sizeof *sh);
    fflush(stdout);
    for (int i = 0; i < procs; i++) {
        if ((pid[i] = fork()) < 0)
            die("fork", strerror(errno));
        if (pid[i] == 0)
            consumer(sh, i, n);
    }
    while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < procs) {
        int st;
        if (waitpid(-1, &st, WNOHANG) > 0) /* a consumer died while connecting */
            die("consume", "a consumer process failed before starting");
        usleep(1000);
    }
    t0 = now();
    __atomic_store_n(&sh->go, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < procs; i++) {
        int st;
        if (waitpid(pid[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed = 1;
        else if (sh->end[i] > t1)
            t1 = sh->end[i];
    }
    if (failed)
        die("consume", "a consumer process failed");
    printf("ceiling_consume_messages=%ld\nceiling_consume_processes=%d\n"
           "ceiling_consume_prefetch=%d\nceiling_consume_seconds=%.3f\n"
           "ceiling_consume_per_s=%.0f\n",
           n, procs, PREFETCH, t1 - t0, n / (t1 - t0));
    return 0;
}

int
main(int argc, char **argv)
{
    long n = argc >= 3 ? atol(argv[2]) : 0;
    int procs = argc >= 4 ? atoi(argv[3]) : 2;

    if (argc >= 3 && n > 0 && strcmp(argv[1], "publish") == 0 && argc == 3)
        return publish(n);
    if (argc >= 3 && n > 0 && strcmp(argv[1], "consume") == 0 && argc <= 4 && procs >= 1 &&
        procs <= MAX_PROCS)
        return consume(n, procs);
    fprintf(stderr, "usage: ceiling publish N | ceiling consume N [PROCESSES (1-%d, default 2)]\n",
            MAX_PROCS);
    return 2;
}
