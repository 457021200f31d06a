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

static int
preload(const struct config *cfg, long n)
{
    char err[512], id[UUID_STR_LEN];
    struct broker *b = broker_open(cfg->amqp_url, "celeriac-bench", err, sizeof err);
    double t0 = clock_mono();

    if (b == NULL || broker_declare_topology(b) < 0) {
        fprintf(stderr, "bench: %s\n", b ? "cannot declare topology" : err);
        return 1;
    }
    for (long i = 0; i < n; i++) {
        struct celery_msg m = {.id = id, .task = "demo.noop", .group_index = -1, .max_retries = -1};
        struct celery_wire w;

        uuid_new(id);
        if (celery_encode(&m, &w, err, sizeof err) < 0 ||
            broker_publish_nowait(b, "celery", &w, err, sizeof err) < 0) {
            fprintf(stderr, "bench: %s\n", err);
            return 1;
        }
        celery_wire_fini(&w);
        if ((i + 1) % BATCH == 0 || i + 1 == n) {
            if (broker_wait_confirms(b, 60000, err, sizeof err) < 0) {
                fprintf(stderr, "bench: %s\n", err);
                return 1;
            }
        }
    }
    printf("preload_tasks=%ld\npreload_seconds=%.3f\n", n, clock_mono() - t0);
    broker_close(b);
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

static int
preload_mixed(const struct config *cfg, long n)
{
    char err[512], id[UUID_STR_LEN], eta[CLOCK_ISO_LEN], line[128];
    struct broker *b = broker_open(cfg->amqp_url, "celeriac-bench", err, sizeof err);
    cJSON *one = cJSON_CreateArray();

    if (b == NULL || broker_declare_topology(b) < 0 || one == NULL) {
        fprintf(stderr, "bench: %s\n", b ? "cannot declare topology" : err);
        return 1;
    }
    cJSON_AddItemToArray(one, cJSON_CreateNumber(1));
    for (long i = 0; i < n; i++) {
        const char *kind = mixed_kind(i);
        struct celery_msg m = {.id = id, .task = "demo.noop", .group_index = -1, .max_retries = -1};
        struct celery_wire w;

        uuid_new(id);
        if (strcmp(kind, "flaky") == 0) {
            m.task = "demo.flaky";
            m.args = one;
        } else if (strcmp(kind, "countdown") == 0) {
            clock_iso_at(clock_wall() + MIXED_COUNTDOWN_S, eta);
            m.eta = eta;
        } else if (strcmp(kind, "revoked") == 0) {
            if (fgets(line, sizeof line, stdin) == NULL ||
                (line[strcspn(line, "\n")] = '\0', !uuid_is_valid(line))) {
                fprintf(stderr, "bench: preload-mixed needs %ld revoked ids on stdin\n", n / 20);
                return 1;
            }
            memcpy(id, line, UUID_STR_LEN); /* 36 characters and the NUL, checked */
        }
        if (celery_encode(&m, &w, err, sizeof err) < 0 ||
            broker_publish_nowait(b, "celery", &w, err, sizeof err) < 0) {
            fprintf(stderr, "bench: %s\n", err);
            return 1;
        }
        celery_wire_fini(&w);
        printf("%s %s\n", id, kind);
        if ((i + 1) % BATCH == 0 || i + 1 == n) {
            if (broker_wait_confirms(b, 60000, err, sizeof err) < 0) {
                fprintf(stderr, "bench: %s\n", err);
                return 1;
            }
        }
    }
    cJSON_Delete(one);
    broker_close(b);
    return 0;
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

int
main(int argc, char **argv)
{
    struct config cfg;
    char err[256];

    log_init("bench");
    if (argc != 3 || cfg_load_env(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "usage: bench preload N | bench latency M | bench preload-mixed N\n");
        return 2;
    }
    if (strcmp(argv[1], "preload-mixed") == 0)
        return preload_mixed(&cfg, atol(argv[2]));
    if (strcmp(argv[1], "preload") == 0)
        return preload(&cfg, atol(argv[2]));
    if (strcmp(argv[1], "latency") == 0)
        return latency(&cfg, atoi(argv[2]));
    fprintf(stderr, "usage: bench preload N | bench latency M | bench preload-mixed N\n");
    return 2;
}
