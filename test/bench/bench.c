/* test/bench/bench.c - the measuring half of `make bench` (test/bench/run
 * starts the servers and the worker):
 *   bench preload N      publish N demo.noop messages (Celery v2, confirmed in
 *                        batches), as a Python client would: no rows first
 *   bench latency M      M sequential enqueue -> SUCCESS round trips through
 *                        the same path as the webapp (row, publish, confirm),
 *                        timed until PostgreSQL's task_state notification
 *   bench preload-mixed N
 *                        publish N messages the same way, one in 20 of each
 *                        kind below, the rest demo.noop: demo.flaky(1) (asks
 *                        for one retry), demo.noop with a countdown of
 *                        MIXED_COUNTDOWN_S (eta header that long after its
 *                        publish), and demo.noop with the next id read from
 *                        stdin (ids revoked beforehand, N / 20 of them needed)
 *   bench preload-chat N [ROOMS]
 *                        publish N chat.persist messages to queue chat the
 *                        same way, kwargs as the webapp sends them (rooms
 *                        bench-0 to bench-<ROOMS - 1> in turn, default 10;
 *                        a body of about 100 characters, some not ASCII)
 * Prints key=value lines for the script to collect; preload-mixed prints
 * "id kind" per message instead (kind: plain, flaky, countdown, revoked). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "client/producer.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/json.h"
#include "common/log.h"
#include "sql/store.h"

#define BATCH 1000

/* Publish n messages as a Celery client does: no rows, each to the queue its
 * task name routes to, persistent, confirms awaited every BATCH. Each starts
 * as a demo.noop without arguments with a fresh id (m->id, UUID_STR_LEN
 * bytes); fill, unless NULL, makes message i what it should be, returning 0,
 * or -1 with the reason printed. 0, or 1 (reason printed). */
static int
preload_run(const struct config *cfg, long n, int (*fill)(long i, struct celery_msg *m, void *ctx),
            void *ctx)
{
    char err[512] = "", id[UUID_STR_LEN];
    struct broker *b = broker_open(cfg->amqp_url, "celeriac-bench", err, sizeof err);
    int rc = 1;

    if (b == NULL)
        goto out;
    if (broker_declare_topology(b) < 0) {
        snprintf(err, sizeof err, "cannot declare topology");
        goto out;
    }
    for (long i = 0; i < n; i++) {
        struct celery_msg m = {.id = id, .task = "demo.noop", .group_index = -1, .max_retries = -1};
        struct celery_wire w;
        int sent;

        uuid_new(id);
        if (fill != NULL && fill(i, &m, ctx) < 0)
            goto out;
        if (celery_encode(&m, &w, err, sizeof err) < 0)
            goto out;
        sent = broker_publish_nowait(b, broker_queue_for_task(m.task), &w, err, sizeof err);
        celery_wire_fini(&w);
        if (sent < 0)
            goto out;
        if (((i + 1) % BATCH == 0 || i + 1 == n) &&
            broker_wait_confirms(b, 60000, err, sizeof err) < 0)
            goto out;
    }
    rc = 0;
out:
    if (rc != 0 && err[0] != '\0')
        fprintf(stderr, "bench: %s\n", err);
    broker_close(b);
    return rc;
}

static int
preload(const struct config *cfg, long n)
{
    double t0 = clock_mono();

    if (preload_run(cfg, n, NULL, NULL) != 0)
        return 1;
    printf("preload_tasks=%ld\npreload_seconds=%.3f\n", n, clock_mono() - t0);
    return 0;
}

#define MIXED_COUNTDOWN_S 1.0

/* Kinds of message preload_mixed publishes: position i % 20 picks one. */
static const char *
mixed_kind(long i)
{
    switch (i % 20) {
    case 5:
        return "flaky";
    case 10:
        return "countdown";
    case 15:
        return "revoked";
    default:
        return "plain";
    }
}

struct mixed {
    long n;
    cJSON *one; /* [1]: demo.flaky's argument */
    char eta[CLOCK_ISO_LEN];
};

static int
mixed_fill(long i, struct celery_msg *m, void *ctx)
{
    struct mixed *x = ctx;
    const char *kind = mixed_kind(i);
    char line[128];

    if (strcmp(kind, "flaky") == 0) {
        m->task = "demo.flaky";
        m->args = x->one;
    } else if (strcmp(kind, "countdown") == 0) {
        clock_iso_at(clock_wall() + MIXED_COUNTDOWN_S, x->eta);
        m->eta = x->eta;
    } else if (strcmp(kind, "revoked") == 0) {
        if (fgets(line, sizeof line, stdin) == NULL ||
            (line[strcspn(line, "\n")] = '\0', !uuid_is_valid(line))) {
            fprintf(stderr, "bench: preload-mixed needs %ld revoked ids on stdin\n", x->n / 20);
            return -1;
        }
        memcpy(m->id, line, UUID_STR_LEN); /* 36 characters and the NUL, checked */
    }
    printf("%s %s\n", m->id, kind);
    return 0;
}

static int
preload_mixed(const struct config *cfg, long n)
{
    struct mixed x = {.n = n, .one = cJSON_CreateArray()};
    int rc = 1;

    if (x.one != NULL && cJSON_AddItemToArray(x.one, cJSON_CreateNumber(1)))
        rc = preload_run(cfg, n, mixed_fill, &x);
    else
        fprintf(stderr, "bench: out of memory\n");
    cJSON_Delete(x.one);
    return rc;
}

/* About 100 characters, some outside ASCII (2- and 3-byte UTF-8). */
#define CHAT_BODY                                                                                    \
    "Message %05ld of the burst: grüße aus Zürich, Kraków & 東京 — déjà vu at the café, " \
    "5 € each. Over and out."

struct chat_burst {
    long rooms;
    cJSON *kwargs; /* the last message's */
};

/* chat.persist(id, room, author, body, sent_at) as kwargs, as the webapp
 * sends it: a message id of its own, the time it was accepted. */
static int
chat_fill(long i, struct celery_msg *m, void *ctx)
{
    struct chat_burst *c = ctx;
    char msg_id[UUID_STR_LEN], room[32], body[256], sent_at[CLOCK_ISO_LEN];

    uuid_new(msg_id);
    snprintf(room, sizeof room, "bench-%ld", i % c->rooms);
    snprintf(body, sizeof body, CHAT_BODY, i);
    clock_iso_now(sent_at);
    cJSON_Delete(c->kwargs);
    if ((c->kwargs = cJSON_CreateObject()) == NULL ||
        cJSON_AddStringToObject(c->kwargs, "id", msg_id) == NULL ||
        cJSON_AddStringToObject(c->kwargs, "room", room) == NULL ||
        cJSON_AddStringToObject(c->kwargs, "author", "bench") == NULL ||
        cJSON_AddStringToObject(c->kwargs, "body", body) == NULL ||
        cJSON_AddStringToObject(c->kwargs, "sent_at", sent_at) == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        return -1;
    }
    m->task = "chat.persist";
    m->kwargs = c->kwargs;
    return 0;
}

static int
preload_chat(const struct config *cfg, long n, long rooms)
{
    struct chat_burst c = {.rooms = rooms};
    double t0 = clock_mono();
    int rc = preload_run(cfg, n, chat_fill, &c);

    cJSON_Delete(c.kwargs);
    if (rc == 0)
        printf("preload_tasks=%ld\npreload_seconds=%.3f\n", n, clock_mono() - t0);
    return rc;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Wait for the notification saying id reached SUCCESS or FAILURE. Payloads
 * are {"tasks": [{"id", "state", "name"}, ...]}. */
static int
wait_final(PGconn *listen, const char *id, double timeout)
{
    double deadline = clock_mono() + timeout;

    while (clock_mono() < deadline) {
        struct pollfd p = {.fd = PQsocket(listen), .events = POLLIN};
        PGnotify *n;

        poll(&p, 1, 100);
        PQconsumeInput(listen);
        while ((n = PQnotifies(listen)) != NULL) {
            cJSON *v = cJSON_Parse(n->extra), *t;
            int hit = 0;

            cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(v, "tasks"))
            {
                const char *nid = json_str(t, "id"), *state = json_str(t, "state");
                hit |= nid && state && strcmp(nid, id) == 0 &&
                       (strcmp(state, "SUCCESS") == 0 || strcmp(state, "FAILURE") == 0);
            }
            cJSON_Delete(v);
            PQfreemem(n);
            if (hit)
                return 0;
        }
    }
    return -1;
}

static int
latency(const struct config *cfg, int n)
{
    char err[512], id[UUID_STR_LEN];
    struct producer *p = producer_new(cfg->amqp_url, cfg->database_url, "celeriac-bench", 10000);
    PGconn *listen = store_open(cfg->database_url, "celeriac-bench-listen", err, sizeof err);
    struct enqueue_req req = {.name = "demo.noop"};
    double *lat = calloc((size_t)n, sizeof *lat);
    PGresult *res;
    bool unconfirmed;

    if (p == NULL || listen == NULL || lat == NULL) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    res = PQexec(listen, "LISTEN task_state");
    PQclear(res);
    for (int i = 0; i < n; i++) {
        double t0 = clock_mono();

        if (producer_enqueue(p, &req, id, &unconfirmed, err, sizeof err) != ENQUEUE_OK ||
            wait_final(listen, id, 30) < 0) {
            fprintf(stderr, "bench: round trip %d failed: %s\n", i, err);
            return 1;
        }
        lat[i] = (clock_mono() - t0) * 1000;
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    printf("latency_runs=%d\nlatency_p50_ms=%.2f\nlatency_p99_ms=%.2f\nlatency_max_ms=%.2f\n", n,
           lat[n / 2], lat[(int)(n * 0.99) < n ? (int)(n * 0.99) : n - 1], lat[n - 1]);
    free(lat);
    store_close(listen);
    producer_free(p);
    return 0;
}

#define USAGE                                                                                      \
    "usage: bench preload N | bench latency M | bench preload-mixed N |"                           \
    " bench preload-chat N [ROOMS]\n"

int
main(int argc, char **argv)
{
    struct config cfg;
    char err[256];
    long n = argc >= 3 ? atol(argv[2]) : 0, rooms = argc == 4 ? atol(argv[3]) : 10;

    log_init("bench");
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[1], "preload-chat") != 0) || n < 1 ||
        rooms < 1) {
        fprintf(stderr, USAGE);
        return 2;
    }
    if (cfg_load_env(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "bench: %s\n", err);
        return 2;
    }
    broker_set_queue_type(cfg.queue_type); /* checked by cfg_load_env() */
    if (strcmp(argv[1], "preload-mixed") == 0)
        return preload_mixed(&cfg, n);
    if (strcmp(argv[1], "preload-chat") == 0)
        return preload_chat(&cfg, n, rooms);
    if (strcmp(argv[1], "preload") == 0)
        return preload(&cfg, n);
    if (strcmp(argv[1], "latency") == 0 && n <= 1000000)
        return latency(&cfg, (int)n);
    fprintf(stderr, USAGE);
    return 2;
}
