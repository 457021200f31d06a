/* webapp/metrics.c - GET /metrics in Prometheus' text exposition format
 * (version 0.0.4), and the HTTP request counter behind one of its families.
 *
 * From the database, read again at each scrape (so every replica answers
 * the same, and a restart loses nothing): tasks by name and state, a
 * histogram of the run times of the last hour's tasks by name, workers
 * online. From this process: the requests it answered, by method, route
 * pattern and status, counted in server.c's respond() through
 * metrics_count_request(). */
#include "webapp/webapp.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "sql/store.h"

/* Upper bounds (seconds) of the run time buckets: from a quick task's
 * microseconds to an hour-long conversion. Ascending. */
static const double runtime_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10,   30,
                                        60,    120,    300,   600,  1800,  3600};
#define NBOUNDS ((int)(sizeof runtime_bounds / sizeof runtime_bounds[0]))

/* The label of task names past the STORE_STATS_NAMES_MAX busiest. */
#define OTHER_NAMES "(other)"
_Static_assert(STORE_STATS_NAMES_MAX == 100, "the texts shown say 100 names");

/* ----- the HTTP request counter ----- */

/* Methods get a label of their own; any other is "other", so a client
 * cannot make up labels. */
static const char *const http_methods[] = {"GET",    "HEAD",  "POST",    "PUT",
                                           "DELETE", "PATCH", "OPTIONS", "other"};
#define N_METHODS ((int)(sizeof http_methods / sizeof http_methods[0]))

/* One slot per (route, method, status) seen, in an open-addressing table
 * claimed with compare-and-swap: counting takes no lock on the I/O threads.
 * The keys are bounded (the route table's rows and "unmatched", the
 * methods above, the statuses the server answers), far below the size. */
#define HTTP_SLOTS 4096 /* a power of two */
#define KEY_USED (1u << 31)
static _Atomic uint32_t http_keys[HTTP_SLOTS];
static _Atomic uint64_t http_counts[HTTP_SLOTS];

/* route: index in routes[], -1 for none. */
static uint32_t
http_key(int route, int method, unsigned int status)
{
    return KEY_USED | (uint32_t)(route + 1) << 13 | (uint32_t)method << 10 |
           (status <= 999 ? status : 0);
}

void
metrics_count_request(const struct request *r, unsigned int status)
{
    const struct route *rt = r->route;
    struct route_match m;
    int method = N_METHODS - 1;
    uint32_t key, h;

    /* A request refused before it was routed (401) counts under its route
     * all the same; an unknown path under "unmatched", never its own. */
    if (rt == NULL && r->method != NULL && r->path != NULL &&
        route_match(r->method, r->path, &m) == ROUTE_FOUND)
        rt = m.route;
    for (int i = 0; i < N_METHODS - 1 && r->method != NULL; i++)
        if (strcmp(r->method, http_methods[i]) == 0) {
            method = i;
            break;
        }
    key = http_key(rt != NULL ? (int)(rt - routes) : -1, method, status);
    h = (key * 2654435761u) >> 20; /* the product's top 12 bits: HTTP_SLOTS */
    for (int probe = 0; probe < HTTP_SLOTS; probe++, h = (h + 1) & (HTTP_SLOTS - 1)) {
        uint32_t k = atomic_load_explicit(&http_keys[h], memory_order_acquire);

        if (k == 0) {
            uint32_t expected = 0;
            k = atomic_compare_exchange_strong(&http_keys[h], &expected, key) ? key : expected;
        }
        if (k == key) {
            atomic_fetch_add_explicit(&http_counts[h], 1, memory_order_relaxed);
            return;
        }
    }
}

struct http_count {
    uint32_t key;
    uint64_t n;
};

/* Routes in table order, "unmatched" last; then method, then status. */
static int
http_count_cmp(const void *pa, const void *pb)
{
    const struct http_count *a = pa, *b = pb;
    uint32_t ra = (a->key >> 13) & 0x3ffff, rb = (b->key >> 13) & 0x3ffff;

    ra = ra == 0 ? UINT32_MAX : ra;
    rb = rb == 0 ? UINT32_MAX : rb;
    if (ra != rb)
        return ra < rb ? -1 : 1;
    return (a->key & 0x1fff) < (b->key & 0x1fff) ? -1 : (a->key & 0x1fff) > (b->key & 0x1fff);
}

/* ----- the text format ----- */

/* A label value: backslash, double quote and line feed escaped. */
static void
put_label_value(struct buf *b, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        if (*s == '\\')
            buf_put(b, "\\\\");
        else if (*s == '"')
            buf_put(b, "\\\"");
        else if (*s == '\n')
            buf_put(b, "\\n");
        else
            buf_putn(b, s, 1);
    }
}

void
metrics_put_number(struct buf *b, double v)
{
    char text[32];

    if (isnan(v)) {
        buf_put(b, "NaN");
        return;
    }
    if (isinf(v)) {
        buf_put(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        buf_printf(b, "%.0f", v); /* counts and round bounds: "10", not "1e+01" */
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(text, sizeof text, "%.*g", p, v);
        if (strtod(text, NULL) == v)
            break;
    }
    buf_put(b, text);
}

/* HELP and TYPE of a family (help holds no backslash or line feed). */
static void
put_family(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *
task_name(const cJSON *row)
{
    const char *name = json_str(row, "name");

    return name != NULL ? name : OTHER_NAMES;
}

static void
put_tasks(struct buf *b, const cJSON *m)
{
    const cJSON *row;

    /* A gauge, not a counter: tasks move from state to state and the
     * daily cleanup deletes finished ones, so a count goes down too. */
    put_family(b, "celeriac_tasks", "gauge",
               "Tasks in the database by name and state (names past the 100 busiest as "
               "\"" OTHER_NAMES "\"). A gauge: tasks change state and old ones are deleted.");
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(m, "tasks"))
    {
        buf_put(b, "celeriac_tasks{name=\"");
        put_label_value(b, task_name(row));
        buf_put(b, "\",state=\"");
        put_label_value(b, json_str(row, "state"));
        buf_put(b, "\"} ");
        metrics_put_number(b, cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(row, "count")));
        buf_put(b, "\n");
    }
}

static void
put_runtime_histogram(struct buf *b, const cJSON *m)
{
    const cJSON *row, *pair;

    put_family(b, "celeriac_task_runtime_seconds", "histogram",
               "Run time (wall_s) of the tasks that succeeded or failed in the last hour (this "
               "minute and the 59 before), by name. Read from the database at each scrape: a "
               "window, not a count since start, so take histogram_quantile() of the buckets "
               "as they are, without rate().");
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(m, "runtime"))
    {
        double first[NBOUNDS + 1] = {0}, cumulative = 0;

        /* How many runs fall first into each bucket, made cumulative. */
        cJSON_ArrayForEach(pair, cJSON_GetObjectItemCaseSensitive(row, "first"))
        {
            int k = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(pair, 0));

            if (k >= 0 && k <= NBOUNDS)
                first[k] += cJSON_GetNumberValue(cJSON_GetArrayItem(pair, 1));
        }
        for (int k = 0; k <= NBOUNDS; k++) {
            cumulative += first[k];
            buf_put(b, "celeriac_task_runtime_seconds_bucket{name=\"");
            put_label_value(b, task_name(row));
            buf_put(b, "\",le=\"");
            if (k < NBOUNDS)
                metrics_put_number(b, runtime_bounds[k]);
            else
                buf_put(b, "+Inf");
            buf_put(b, "\"} ");
            metrics_put_number(b, cumulative);
            buf_put(b, "\n");
        }
        buf_put(b, "celeriac_task_runtime_seconds_sum{name=\"");
        put_label_value(b, task_name(row));
        buf_put(b, "\"} ");
        metrics_put_number(b, cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(row, "sum")));
        buf_put(b, "\nceleriac_task_runtime_seconds_count{name=\"");
        put_label_value(b, task_name(row));
        buf_put(b, "\"} ");
        metrics_put_number(b, cumulative);
        buf_put(b, "\n");
    }
}

static void
put_http(struct buf *b)
{
    struct http_count *c = malloc(HTTP_SLOTS * sizeof *c);
    int n = 0;

    put_family(b, "celeriac_http_requests_total", "counter",
               "HTTP requests this webapp process answered since it started, by method, route "
               "pattern (\"unmatched\" when no route took the path) and status code.");
    if (c == NULL) {
        b->oom = true;
        return;
    }
    for (int i = 0; i < HTTP_SLOTS; i++) {
        uint32_t k = atomic_load_explicit(&http_keys[i], memory_order_acquire);
        uint64_t count = atomic_load_explicit(&http_counts[i], memory_order_relaxed);

        if (k != 0 && count > 0)
            c[n++] = (struct http_count){k, count};
    }
    qsort(c, (size_t)n, sizeof *c, http_count_cmp);
    for (int i = 0; i < n; i++) {
        int route = (int)((c[i].key >> 13) & 0x3ffff) - 1;

        buf_printf(b, "celeriac_http_requests_total{method=\"%s\",route=\"",
                   http_methods[(c[i].key >> 10) & 7]);
        put_label_value(b, route >= 0 ? routes[route].pattern : "unmatched");
        buf_printf(b, "\",code=\"%u\"} %llu\n", c[i].key & 1023, (unsigned long long)c[i].n);
    }
    free(c);
}

/* The queues' ready messages and consumers (queues_overview()), and
 * whether RabbitMQ answered. */
static void
put_queues(struct app *a, struct buf *b)
{
    char err[512];
    bool down = true;
    cJSON *o = queues_overview(a, &down, err, sizeof err);
    const cJSON *q, *queues = cJSON_GetObjectItemCaseSensitive(o, "queues");
    static const char *const families[][3] = {
        {"celeriac_queue_messages", "messages", "Messages ready in the queue (RabbitMQ's count)."},
        {"celeriac_queue_consumers", "consumers", "Consumers of the queue (worker children)."},
    };

    for (size_t f = 0; o != NULL && !down && f < sizeof families / sizeof families[0]; f++) {
        put_family(b, families[f][0], "gauge", families[f][2]);
        cJSON_ArrayForEach(q, queues)
        {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(q, families[f][1]);
            if (!cJSON_IsNumber(v))
                continue; /* not declared yet */
            buf_printf(b, "%s{queue=\"", families[f][0]);
            put_label_value(b, json_str(q, "name"));
            buf_put(b, "\"} ");
            metrics_put_number(b, v->valuedouble);
            buf_put(b, "\n");
        }
    }
    put_family(b, "celeriac_broker_up", "gauge",
               "1 when this scrape could read the queues from RabbitMQ, else 0.");
    buf_printf(b, "celeriac_broker_up %d\n", o != NULL && !down);
    cJSON_Delete(o);
}

void
api_metrics(struct app *a, struct request *r, struct response *resp)
{
    struct buf *b = &resp->body;
    char why[512];
    PGconn *db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    cJSON *m = NULL;
    int rc;

    (void)r;
    if (db != NULL) {
        m = store_metrics(db, runtime_bounds, NBOUNDS, &rc);
        dbpool_put(a->db, db);
    }
    buf_reset(b);
    /* Without the database the scrape still answers, with what this
     * process knows and celeriac_database_up 0: the webapp is up. */
    if (m != NULL) {
        put_tasks(b, m);
        put_runtime_histogram(b, m);
        put_family(b, "celeriac_workers_online", "gauge",
                   "Worker masters online: not stopped, and a heartbeat within the last 15 s.");
        buf_put(b, "celeriac_workers_online ");
        metrics_put_number(
            b, cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "workers_online")));
        buf_put(b, "\n");
    }
    put_queues(a, b);
    put_family(b, "celeriac_database_up", "gauge",
               "1 when this scrape could read the database; 0 when it could not (the task and "
               "worker families are left out then).");
    buf_printf(b, "celeriac_database_up %d\n", m != NULL);
    put_http(b);
    resp->status = MHD_HTTP_OK;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    cJSON_Delete(m);
}
