/* webapp/server.c - the libmicrohttpd daemon: one request's life from its
 * headers to its completion. The first call of the access handler routes,
 * authenticates and refuses early (404, 405, 401, 403, 413 by Content-Length)
 * before any body is read; later calls collect the body under the cap; the
 * last call has the route's handler run (on a handler thread, below) and,
 * called again, queues its answer.
 *
 * Uploads (BODY_UPLOAD routes: POST /api/files, POST /convert) are the one
 * exception to "collect the body": their multipart/form-data streams through
 * MHD's post processor, the "file" field into an unnamed temporary file
 * (O_TMPFILE) under WEBAPP_UPLOAD_MAX, so a 25 MiB upload costs the webapp
 * 64 KiB of buffer and the first CONVERT_SNIFF_BYTES of the file, not 25 MiB.
 * Downloads go the other way as a callback response (files.c).
 *
 * Threading: a few I/O threads and a pool of handler threads. MHD runs
 * WEBAPP_IO_THREADS (4) epoll threads (MHD_USE_EPOLL with
 * MHD_OPTION_THREAD_POOL_SIZE), each multiplexing its share of the
 * connections: reading requests, streaming bodies to and from the sockets,
 * never blocking. Our handlers block (libpq queries, a wait of up to 5 s for
 * a pooled connection, RabbitMQ's publisher confirm, an upload's COPY), so
 * none runs on an I/O thread: when a request is complete (or refused early
 * by its handler, from its headers) the access handler suspends the
 * connection (MHD_suspend_connection) and queues the handler on a pool of
 * WEBAPP_THREADS (64) handler threads; the handler leaves its answer in the
 * request and resumes the connection; MHD calls the access handler again,
 * which queues the answer (MHD takes answers only from within the access
 * handler). The queue holds at most 16 items per handler thread: past it, or
 * while stopping, the answer is a 503 at once. Cheap refusals (401, 403,
 * 404, 405) are answered on the I/O thread.
 *
 * Uploads: the post processor's callbacks stay on the I/O thread (they only
 * write the temporary file); checking, storing (COPY) and enqueueing run on
 * a handler thread. Downloads (files.c): the content reader runs on the I/O
 * thread and never queries: when it needs the next 1-8 MiB chunk it suspends
 * the connection and a handler thread reads the chunk, then resumes it.
 * Event streams (events.c): an idle stream costs no thread, only its
 * suspended connection and a small buffer: its content reader suspends the
 * connection when the buffer is empty and the hub's listener resumes it
 * when it appends an event or a heartbeat. Suspended connections never time
 * out in MHD; every other connection idle for 30 s is closed.
 *
 * MHD_stop_daemon() must not meet a suspended connection, so server_stop()
 * first stops taking work, ends the streams and waits for the handler
 * threads to finish (each resumes its connection) before stopping MHD. */
#include "webapp/webapp.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "convert/convert.h"
#include "sql/store.h"

#define CONNECTION_TIMEOUT_S 30       /* an idle (keep-alive or stalled) client is dropped */
#define QUEUE_PER_THREAD 16           /* handler queue: 16 waiting items per handler thread */
/* Each connection's pool: its read buffer (the request line and headers
 * must fit: about 16 KiB of them, 431 above), and the buffer a chunked
 * answer is written through. An event stream keeps it all its life and MHD
 * touches about half of it: 64 KiB cost 42 KB of RSS a stream, 32 KiB 26 KB;
 * 16 KiB would save 8 KB more but leave room for about 8 KiB of headers,
 * too few for some cookies. */
#define CONNECTION_MEMORY (32 * 1024)
#define POST_BUFFER 16384             /* the post processor's buffer for form values */
/* Past the cap a chunked body (no Content-Length to refuse early) is read and
 * thrown away so the client still gets its 413; one that keeps sending this
 * much more is dropped without an answer. */
#define DISCARD_MAX (8 * (uint64_t)WEBAPP_BODY_MAX)
/* An upload's post processor reads the file through a buffer this large. */
#define UPLOAD_POST_BUFFER (64 * 1024)
/* An upload's body may pass the file's cap by this much: boundaries, part
 * headers and the small fields (each at most UPLOAD_FIELD_MAX). */
#define UPLOAD_FORM_SLACK (128 * 1024)
#define STREAM_BLOCK (64 * 1024) /* a download is handed to MHD in pieces this large */

struct server {
    struct MHD_Daemon *d;
    struct app *app;
    /* The handler pool. load counts work reserved, queued or running; new
     * work is refused past max_load or once stopping. */
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* work queued, or quit */
    pthread_cond_t idle_cv; /* load fell to 0 */
    struct work *head, *tail;
    int load, max_load;
    bool stopping, quit;
    pthread_t *threads;
    int nthreads;
    bool loopback; /* bound to a loopback address only: no one else can reach it */
};

/* ----- pure helpers ----- */

int
http_parse_listen(const char *listen, char *host, size_t hostlen, unsigned int *port, char *err,
                  size_t errlen)
{
    const char *colon, *h = listen, *hend;
    int p;

    if (listen[0] == '[') {
        /* [::1]:8080 */
        hend = strchr(listen, ']');
        if (hend == NULL || hend[1] != ':') {
            snprintf(err, errlen, "listen address '%s': expected [IPv6]:PORT", listen);
            return -1;
        }
        h = listen + 1;
        colon = hend + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL || memchr(listen, ':', (size_t)(colon - listen)) != NULL) {
            snprintf(err, errlen, "listen address '%s': expected HOST:PORT (IPv6 as [::1]:PORT)",
                     listen);
            return -1;
        }
        hend = colon;
    }
    if (hend == h) {
        snprintf(err, errlen, "listen address '%s': the host is missing (e.g. 127.0.0.1:8080)",
                 listen);
        return -1;
    }
    if ((size_t)(hend - h) >= hostlen) {
        snprintf(err, errlen, "listen address '%s': the host is too long", listen);
        return -1;
    }
    if (cfg_parse_int(colon + 1, 0, 65535, &p) < 0) {
        snprintf(err, errlen, "listen address '%s': the port must be a number from 0 to 65535",
                 listen);
        return -1;
    }
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    *port = (unsigned int)p;
    return 0;
}

bool
http_sockaddr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24 == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

bool
http_json_content_type(const char *ct)
{
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)
        return false;
    ct += 16;
    ct += strspn(ct, " \t");
    return *ct == '\0' || *ct == ';'; /* "; charset=utf-8" and the like */
}

/* origin ("scheme://host[:port]") names host. */
static bool
origin_names(const char *origin, const char *host, size_t hostlen)
{
    size_t n;

    if (strncasecmp(origin, "http://", 7) == 0)
        n = 7;
    else if (strncasecmp(origin, "https://", 8) == 0)
        n = 8;
    else
        return false; /* "null" (sandboxed pages, file://) included */
    return hostlen > 0 && strlen(origin + n) == hostlen &&
           strncasecmp(origin + n, host, hostlen) == 0;
}

bool
http_origin_ok(const char *origin, const char *host, const char *forwarded_host)
{
    if (origin == NULL)
        return true; /* not a browser (curl, the CLI, a Python client) */
    if (host != NULL && origin_names(origin, host, strlen(host)))
        return true;
    /* A chain of proxies lists hosts comma-separated: the first is the client's. */
    if (forwarded_host != NULL &&
        origin_names(origin, forwarded_host, strcspn(forwarded_host, ", ")))
        return true;
    return false;
}

const char *
http_query(struct request *r, const char *key)
{
    if (r->conn == NULL)
        return NULL;
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* ?key= as a filter: NULL when absent or empty; -1 (err set) when not valid
 * UTF-8 or longer than max bytes (PostgreSQL would refuse it with a 503). */
static int
filter_text(struct request *r, const char *key, size_t max, const char **out, char *err,
            size_t errlen)
{
    const char *v = http_query(r, key);

    *out = v != NULL && v[0] != '\0' ? v : NULL;
    if (*out != NULL && (strlen(v) > max || !utf8_valid(v, strlen(v)))) {
        snprintf(err, errlen, "invalid %s: at most %zu bytes of UTF-8 text", key, max);
        return -1;
    }
    return 0;
}

/* ?key= as a time: an ISO 8601 time or a date (a form's datetime-local sends
 * "2026-11-30T10:00"), written to utc as ISO 8601 UTC; "" when not given. */
static int
filter_time(struct request *r, const char *key, const char **given, char *utc, char *err,
            size_t errlen)
{
    const char *v = http_query(r, key);
    char day[32];
    double at;

    *given = v != NULL && v[0] != '\0' ? v : NULL;
    utc[0] = '\0';
    if (*given == NULL)
        return 0;
    if (strlen(v) == 10) { /* a date alone: its midnight */
        snprintf(day, sizeof day, "%sT00:00", v);
        v = day;
    }
    if (clock_parse_iso(v, &at) < 0) {
        snprintf(err, errlen,
                 "invalid %s: use an ISO 8601 time such as 2026-11-30T10:00:00Z (no offset: "
                 "UTC) or a date such as 2026-11-30",
                 key);
        return -1;
    }
    clock_iso_at(at, utc);
    return 0;
}

int
task_filters_parse(struct request *r, struct task_filters *f, char *err, size_t errlen)
{
    const char *limit = http_query(r, "limit"), *sort = http_query(r, "sort");

    memset(f, 0, sizeof *f);
    f->limit = WEBAPP_LIST_DEFAULT;
    if (filter_text(r, "state", 64, &f->state, err, errlen) < 0 ||
        filter_text(r, "name", TASK_FILTER_MAX, &f->name, err, errlen) < 0 ||
        filter_text(r, "worker", TASK_FILTER_MAX, &f->worker, err, errlen) < 0 ||
        filter_text(r, "q", TASK_TEXT_MAX, &f->q, err, errlen) < 0 ||
        filter_text(r, "after", 64, &f->after, err, errlen) < 0 ||
        filter_text(r, "before", 64, &f->before, err, errlen) < 0 ||
        filter_time(r, "created_after", &f->created_after, f->after_utc, err, errlen) < 0 ||
        filter_time(r, "created_before", &f->created_before, f->before_utc, err, errlen) < 0)
        return -1;
    if (f->state != NULL && !store_state_valid(f->state)) {
        snprintf(err, errlen, "invalid state: use one of PENDING, RECEIVED, STARTED, RETRY, "
                              "SUCCESS, FAILURE, REVOKED");
        return -1;
    }
    if (sort == NULL || sort[0] == '\0' || strcmp(sort, "newest") == 0) {
        f->sort = STORE_SORT_NEWEST;
    } else if (strcmp(sort, "oldest") == 0) {
        f->sort = STORE_SORT_OLDEST;
    } else if (strcmp(sort, "slowest") == 0) {
        f->sort = STORE_SORT_SLOWEST;
    } else if (strcmp(sort, "fastest") == 0) {
        f->sort = STORE_SORT_FASTEST;
    } else {
        snprintf(err, errlen, "invalid sort: use newest, oldest, slowest or fastest");
        return -1;
    }
    if (f->after != NULL && f->before != NULL) {
        snprintf(err, errlen, "give after or before, not both");
        return -1;
    }
    if ((f->after != NULL || f->before != NULL) &&
        store_task_cursor_parse(f->after != NULL ? f->after : f->before, f->sort, f->cursor_key,
                                sizeof f->cursor_key, f->cursor_id) < 0) {
        snprintf(err, errlen,
                 "invalid %s: expected a task's cursor as a list in this sort gives it "
                 "(\"next\", \"previous\", or a task's \"cursor\")",
                 f->after != NULL ? "after" : "before");
        return -1;
    }
    if (limit != NULL && limit[0] != '\0' &&
        cfg_parse_int(limit, 1, STORE_LIST_MAX, &f->limit) < 0) {
        snprintf(err, errlen, "invalid limit: use a whole number from 1 to %d", STORE_LIST_MAX);
        return -1;
    }
    return 0;
}

void
task_filters_query(const struct task_filters *f, struct store_task_query *q)
{
    *q = (struct store_task_query){.state = f->state,
                                   .name = f->name,
                                   .worker = f->worker,
                                   .q = f->q,
                                   .created_after = f->after_utc[0] ? f->after_utc : NULL,
                                   .created_before = f->before_utc[0] ? f->before_utc : NULL,
                                   .sort = f->sort,
                                   .cursor_key = f->cursor_key,
                                   .cursor_id = f->after || f->before ? f->cursor_id : NULL,
                                   .backward = f->before != NULL,
                                   .limit = f->limit};
}

/* ----- answers ----- */

static void
add_header(struct MHD_Response *mr, const char *name, const char *value)
{
    if (MHD_add_response_header(mr, name, value) == MHD_NO)
        log_warn("cannot add header %s", name);
}

/* Turn resp into an MHD response and queue it. auth_fail queues it as a 401
 * challenge instead. resp->body is handed over to MHD. */
static enum MHD_Result
respond(struct request *r, struct response *resp, bool auth_fail)
{
    struct MHD_Response *mr;
    enum MHD_Result ret;
    char retry[16];
    double ms;

    if (resp->body.oom) {
        buf_fini(&resp->body);
        resp->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        resp->content_type = "application/json";
        resp->static_body = "{\"error\": \"out of memory\"}\n";
        resp->static_len = strlen(resp->static_body);
    }
    if (resp->stream_fn != NULL) {
        /* MHD owns stream_cls from here: it calls stream_free once done. */
        mr = MHD_create_response_from_callback(
            resp->stream_len, resp->stream_block > 0 ? resp->stream_block : STREAM_BLOCK,
            resp->stream_fn, resp->stream_cls, resp->stream_free);
        if (mr == NULL && resp->stream_free != NULL)
            resp->stream_free(resp->stream_cls);
        resp->stream_fn = NULL;
        resp->stream_cls = NULL;
        buf_fini(&resp->body);
    } else if (resp->static_body != NULL) {
        mr = MHD_create_response_from_buffer(resp->static_len, (void *)resp->static_body,
                                             MHD_RESPMEM_PERSISTENT);
        buf_fini(&resp->body);
    } else if (resp->body.data == NULL) {
        mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        /* MUST_FREE: MHD calls free() on it once sent; buf's memory is realloc()ed. */
        mr =
            MHD_create_response_from_buffer(resp->body.len, resp->body.data, MHD_RESPMEM_MUST_FREE);
        if (mr == NULL)
            buf_fini(&resp->body);
        else
            memset(&resp->body, 0, sizeof resp->body);
    }
    if (mr == NULL) {
        log_error("cannot create a response (out of memory)");
        free(resp->disposition);
        resp->disposition = NULL;
        return MHD_NO;
    }
    add_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
               resp->content_type != NULL ? resp->content_type : "application/json");
    add_header(mr, MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff");
    /* Task state changes under the client's feet: nothing dynamic is cached. */
    add_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL,
               resp->cache_control != NULL ? resp->cache_control : "no-store");
    if (resp->csp != NULL) {
        /* A download's own policy, whatever its type (an uploaded HTML page
         * too), or a page's that runs a script of ours. */
        add_header(mr, "Content-Security-Policy", resp->csp);
    } else if (resp->content_type != NULL && strncmp(resp->content_type, "text/html", 9) == 0) {
        /* Defence in depth behind html_esc(): no script runs, nothing frames us. */
        add_header(mr, "Content-Security-Policy",
                   "default-src 'none'; style-src 'self'; form-action 'self'; "
                   "frame-ancestors 'none'; base-uri 'none'");
    } else {
        /* JSON and the like: nothing in it may run or be framed either. */
        add_header(mr, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    }
    /* Our URLs name tasks and files: they stay on this site. */
    add_header(mr, "Referrer-Policy", "same-origin");
    if (resp->no_buffering)
        add_header(mr, "X-Accel-Buffering", "no");
    /* An event stream that ends (dropped, or the webapp stops) ends its
     * connection too: EventSource reconnects on a new one anyway, and a
     * client that did not read would otherwise keep an idle connection until
     * the timeout. */
    if (resp->content_type != NULL && strncmp(resp->content_type, "text/event-stream", 17) == 0)
        add_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
    if (resp->disposition != NULL) {
        add_header(mr, MHD_HTTP_HEADER_CONTENT_DISPOSITION, resp->disposition);
        free(resp->disposition);
        resp->disposition = NULL;
    }
    if (resp->location[0] != '\0')
        add_header(mr, MHD_HTTP_HEADER_LOCATION, resp->location);
    if (resp->allow != NULL)
        add_header(mr, MHD_HTTP_HEADER_ALLOW, resp->allow);
    if (resp->retry_after > 0) {
        snprintf(retry, sizeof retry, "%d", resp->retry_after);
        add_header(mr, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    }
    if (auth_fail) {
        resp->status = MHD_HTTP_UNAUTHORIZED;
        ret = MHD_queue_basic_auth_fail_response(r->conn, "celeriac", mr);
    } else {
        ret = MHD_queue_response(r->conn, resp->status, mr);
    }
    MHD_destroy_response(mr);
    metrics_count_request(r, resp->status);
    ms = (clock_mono() - r->started) * 1000.0;
    /* Health probes come every few seconds: keep them out of the default log. */
    log_msg(strcmp(r->path, "/healthz") == 0 ? LL_DEBUG : LL_INFO, NULL, "%s %s %u %.1fms",
            r->method, r->path, resp->status, ms);
    return ret;
}

/* A 4xx/5xx in the dialect of the path: JSON under /api, a page elsewhere. */
static enum MHD_Result
refuse(struct request *r, bool json, unsigned int status, const char *title, const char *message,
       bool auth_fail)
{
    struct response resp = {0};

    if (json)
        api_error(&resp, status, "%s", message);
    else
        page_error(&resp, status, title, message);
    return respond(r, &resp, auth_fail);
}

/* ----- handing a request to a handler thread ----- */

/* On a handler thread: run the route's handler, keep its answer, and wake
 * the connection, whose access handler then queues the answer. */
static void
run_request(struct work *w)
{
    struct request *r = (struct request *)(void *)((char *)w - offsetof(struct request, work));

    r->route->fn(r->app, r, &r->resp);
    r->phase = REQ_ANSWERED;
    /* From here on the request is the I/O thread's again: MHD calls the
     * access handler once it has processed the resume. */
    MHD_resume_connection(r->conn);
}

/* Have r's handler run on a handler thread: suspend the connection until
 * its answer is ready. Suspending comes before queueing, so the resume can
 * never come first. A full queue or a stopping server: 503 at once. */
static enum MHD_Result
dispatch(struct request *r)
{
    struct server *s = r->app->server;

    if (!server_reserve(s))
        return refuse(r, r->route->json, MHD_HTTP_SERVICE_UNAVAILABLE, "Server busy",
                      "the server is too busy (or stopping) to take this request: try again in "
                      "a moment",
                      false);
    r->phase = REQ_HANDLING;
    r->work.fn = run_request;
    MHD_suspend_connection(r->conn);
    server_push(s, &r->work);
    return MHD_YES; /* r belongs to the handler thread until it resumes the connection */
}

/* ----- authentication (CELERIAC_AUTH) ----- */

/* Equal strings, in a time that does not depend on where they differ. */
static bool
secret_equal(const char *a, const char *b, size_t blen)
{
    size_t alen = strlen(a);
    unsigned char diff = (unsigned char)(alen != blen);

    for (size_t i = 0; i < blen; i++)
        diff |= (unsigned char)((i < alen ? (unsigned char)a[i] : 0) ^ (unsigned char)b[i]);
    return diff == 0;
}

static bool
auth_ok(struct MHD_Connection *c, const char *want)
{
    const char *colon = strchr(want, ':');
    char *pass = NULL, *user = MHD_basic_auth_get_username_password(c, &pass);
    bool ok = false;

    if (user != NULL && pass != NULL && colon != NULL) {
        bool u = secret_equal(user, want, (size_t)(colon - want));
        bool p = secret_equal(pass, colon + 1, strlen(colon + 1));
        ok = u && p;
    }
    MHD_free(user);
    MHD_free(pass);
    return ok;
}

/* ----- one request ----- */

static enum MHD_Result
on_form_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
              const char *content_type, const char *transfer_encoding, const char *data,
              uint64_t off, size_t size)
{
    struct request *r = cls;
    struct buf *f = NULL;

    (void)kind;
    (void)filename;
    (void)content_type;
    (void)transfer_encoding;
    if (key == NULL)
        return MHD_YES; /* a multipart part without a name */
    if (strcmp(key, "name") == 0)
        f = &r->form.name;
    else if (strcmp(key, "args") == 0)
        f = &r->form.args;
    else if (strcmp(key, "kwargs") == 0)
        f = &r->form.kwargs;
    else if (strcmp(key, "queue") == 0)
        f = &r->form.queue;
    else if (strcmp(key, "url") == 0)
        f = &r->form.url;
    else if (strcmp(key, "max_pages") == 0)
        f = &r->form.max_pages;
    else if (strcmp(key, "follow") == 0)
        f = &r->form.follow;
    else if (strcmp(key, "cron") == 0)
        f = &r->form.cron;
    if (f == NULL)
        return MHD_YES; /* other fields (a submit button's name) are ignored */
    /* A value arrives in pieces; off == 0 starts it again, so a repeated
     * field keeps its last value, as in most frameworks. */
    if (off == 0)
        buf_reset(f);
    if (size > 0 && memchr(data, '\0', size) != NULL)
        r->form.has_nul = true;
    buf_putn(f, data, size);
    if (f->len == 0)
        buf_putn(f, "", 0); /* present but empty: data != NULL */
    return f->oom ? MHD_NO : MHD_YES;
}

/* ----- one upload ----- */

/* An unnamed temporary file in $TMPDIR (or /tmp): it has no name to reach it
 * by and disappears with its last descriptor. -1 with errno set. */
static int
upload_tmpfile(void)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    int fd;

    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    /* A file system without O_TMPFILE: a random name of ours, unlinked at once. */
    if (snprintf(path, sizeof path, "%s/celeriac-upload-XXXXXX", dir) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

/* The upload cannot succeed any more: its answer is decided. */
static bool
upload_failed(const struct upload *u)
{
    return u->not_multipart || u->too_big || u->field_too_big || u->malformed || u->has_nul ||
           u->io_errno != 0 || u->files > 1;
}

/* Give back the disk space of an upload that will not be stored. */
static void
upload_discard(struct upload *u)
{
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
}

static int
write_all(int fd, const char *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

/* A piece of the "file" field: to the temporary file, the first bytes to
 * head as well. MHD_NO stops the post processor (the reason is in u). */
static enum MHD_Result
upload_file_data(struct upload *u, const char *filename, const char *data, uint64_t off,
                 size_t size)
{
    /* A part's first call has off 0 and may carry no bytes; its first bytes
     * then come with off 0 too. Calls without bytes come only first. */
    bool new_part = off == 0 && (size == 0 || !u->file_started);

    u->file_started = off == 0 && size == 0;
    if (new_part && ++u->files > 1)
        return MHD_NO; /* one file per request */
    if (new_part) {
        file_name_clean(filename != NULL ? filename : "", u->name, sizeof u->name);
        u->head = malloc(CONVERT_SNIFF_BYTES);
        if (u->head == NULL || (u->fd = upload_tmpfile()) < 0) {
            u->io_errno = u->head == NULL ? ENOMEM : errno;
            log_error("upload: cannot create a temporary file: %s", strerror(u->io_errno));
            return MHD_NO;
        }
    }
    if (size == 0)
        return MHD_YES;
    if (size > u->max - u->size) { /* u->size <= u->max always */
        u->too_big = true;
        upload_discard(u);
        return MHD_NO;
    }
    if (u->head_len < CONVERT_SNIFF_BYTES) {
        size_t n =
            CONVERT_SNIFF_BYTES - u->head_len < size ? CONVERT_SNIFF_BYTES - u->head_len : size;
        memcpy(u->head + u->head_len, data, n);
        u->head_len += n;
    }
    if (write_all(u->fd, data, size) < 0) {
        u->io_errno = errno;
        log_error("upload: cannot write the temporary file: %s", strerror(errno));
        upload_discard(u);
        return MHD_NO;
    }
    u->size += size;
    return MHD_YES;
}

static enum MHD_Result
on_upload_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                const char *content_type, const char *transfer_encoding, const char *data,
                uint64_t off, size_t size)
{
    struct upload *u = &((struct request *)cls)->upload;
    struct buf *f = NULL;

    (void)kind;
    (void)content_type; /* the client's word on what the file is: never used */
    (void)transfer_encoding;
    if (key != NULL && strcmp(key, "file") == 0)
        return upload_file_data(u, filename, data, off, size);
    u->file_started = false;
    if (key == NULL)
        return MHD_YES; /* a part without a name */
    if (strcmp(key, "to") == 0)
        f = &u->to;
    else if (strcmp(key, "options") == 0)
        f = &u->options;
    else if (strcmp(key, "delimiter") == 0)
        f = &u->delimiter;
    else if (strcmp(key, "width") == 0)
        f = &u->width;
    else if (strcmp(key, "height") == 0)
        f = &u->height;
    else if (strcmp(key, "quality") == 0)
        f = &u->quality;
    if (f == NULL)
        return MHD_YES; /* other fields (a submit button's name) are ignored */
    if (off == 0)
        buf_reset(f); /* a repeated field keeps its last value, as in struct form */
    if (size > UPLOAD_FIELD_MAX - f->len) {
        u->field_too_big = true;
        return MHD_NO;
    }
    if (size > 0 && memchr(data, '\0', size) != NULL)
        u->has_nul = true;
    buf_putn(f, data, size);
    if (f->len == 0)
        buf_putn(f, "", 0); /* present but empty: data != NULL */
    return f->oom ? MHD_NO : MHD_YES;
}

static void
upload_fini(struct upload *u)
{
    upload_discard(u);
    free(u->head);
    buf_fini(&u->to);
    buf_fini(&u->options);
    buf_fini(&u->delimiter);
    buf_fini(&u->width);
    buf_fini(&u->height);
    buf_fini(&u->quality);
}

static void
request_free(struct request *r)
{
    if (r == NULL)
        return;
    /* An answer made but never queued (the daemon stopped meanwhile). */
    if (r->resp.stream_fn != NULL && r->resp.stream_free != NULL)
        r->resp.stream_free(r->resp.stream_cls);
    buf_fini(&r->resp.body);
    free(r->resp.disposition);
    if (r->pp != NULL)
        MHD_destroy_post_processor(r->pp);
    upload_fini(&r->upload);
    buf_fini(&r->body);
    buf_fini(&r->form.name);
    buf_fini(&r->form.args);
    buf_fini(&r->form.kwargs);
    buf_fini(&r->form.queue);
    buf_fini(&r->form.url);
    buf_fini(&r->form.max_pages);
    buf_fini(&r->form.follow);
    buf_fini(&r->form.cron);
    free(r);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct request *r = *req_cls;

    (void)cls;
    (void)c;
    if (r != NULL && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        log_debug("%s %s: connection ended early (MHD code %d)", r->method, r->path, (int)toe);
    request_free(r);
    *req_cls = NULL;
}

/* begin() of an upload: refuse what is not multipart/form-data or declares
 * more than the cap (the handler answers, in its dialect, before a byte of
 * the body is read), else set up the post processor. */
static enum MHD_Result
begin_upload(struct app *a, struct request *r)
{
    struct MHD_Connection *c = r->conn;
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    struct upload *u = &r->upload;

    u->max = a->upload_max;
    if (ct == NULL || strncasecmp(ct, MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA,
                                  strlen(MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA)) != 0)
        u->not_multipart = true;
    else if (cl != NULL && strtoull(cl, NULL, 10) > u->max + UPLOAD_FORM_SLACK)
        u->too_big = true;
    /* NULL: no boundary, or one too long for the buffer. */
    else if ((r->pp = MHD_create_post_processor(c, UPLOAD_POST_BUFFER, on_upload_field, r)) == NULL)
        u->malformed = true;
    if (upload_failed(u))
        return dispatch(r); /* the handler answers, in its dialect */
    return MHD_YES;
}

/* A piece of an upload's body. Once its answer is decided the rest is read
 * and thrown away, so the client still gets it; past DISCARD_MAX more, the
 * connection is dropped. */
static enum MHD_Result
take_upload(struct request *r, const char *data, size_t size)
{
    struct upload *u = &r->upload;
    uint64_t cap = u->max + UPLOAD_FORM_SLACK;

    if (!upload_failed(u) && r->body_in > cap)
        u->too_big = true;
    if (!upload_failed(u) && MHD_post_process(r->pp, data, size) == MHD_NO && !upload_failed(u))
        u->malformed = true;
    if (!upload_failed(u))
        return MHD_YES;
    upload_discard(u);
    if (r->body_in <= cap + DISCARD_MAX)
        return MHD_YES;
    log_warn("%s %s: the body goes on past %llu bytes: dropping the connection", r->method, r->path,
             (unsigned long long)(cap + DISCARD_MAX));
    return MHD_NO;
}

/* The first call: headers are in, no body has been read. */
static enum MHD_Result
begin(struct app *a, struct request *r)
{
    struct MHD_Connection *c = r->conn;
    struct route_match m;
    enum route_result rr = route_match(r->method, r->path, &m);
    bool json = m.json;
    const char *cl;
    char msg[256];

    if (a->cfg->auth != NULL && !(rr == ROUTE_FOUND && m.route->public) &&
        !auth_ok(c, a->cfg->auth))
        return refuse(r, json, MHD_HTTP_UNAUTHORIZED, "Sign in required",
                      "authentication required: send HTTP Basic credentials", true);
    if (rr == ROUTE_NOT_FOUND) {
        snprintf(msg, sizeof msg, "no such %s: %.*s", json ? "API endpoint" : "page",
                 (int)utf8_prefix_len(r->path, 120), r->path);
        return refuse(r, json, MHD_HTTP_NOT_FOUND, "Page not found", msg, false);
    }
    if (rr == ROUTE_BAD_METHOD) {
        struct response resp = {0};

        snprintf(msg, sizeof msg, "method %.*s is not allowed here: use %s",
                 (int)utf8_prefix_len(r->method, 16), r->method, m.allow);
        if (json)
            api_error(&resp, MHD_HTTP_METHOD_NOT_ALLOWED, "%s", msg);
        else
            page_error(&resp, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed", msg);
        resp.allow = m.allow; /* lives until respond() copies it */
        return respond(r, &resp, false);
    }
    r->route = m.route;
    memcpy(r->id, m.id, sizeof r->id);
    if (r->route->body == BODY_NONE)
        return MHD_YES;
    /* Every body route changes state: a page on another site must not be able
     * to make the user's browser post to it. */
    if (!http_origin_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN),
                        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
                        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Host")))
        return refuse(r, json, MHD_HTTP_FORBIDDEN, "Forbidden",
                      "cross-origin request refused: the Origin header does not match this host",
                      false);
    /* A JSON API call with a body says it is JSON: a page on another site
     * cannot send that type without a CORS preflight, which we never grant,
     * so this guards the API beside the Origin check (docs/api.md, CSRF).
     * A POST without a body (a revoke) needs no type. */
    cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (json && r->route->body == BODY_RAW &&
        ((cl != NULL && strtoull(cl, NULL, 10) > 0) ||
         MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) !=
             NULL) &&
        !http_json_content_type(
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)))
        return refuse(r, true, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "Unsupported media type",
                      "send the body as JSON with Content-Type: application/json", false);
    if (r->route->body == BODY_UPLOAD)
        return begin_upload(a, r);
    /* A declared length over the cap is refused now, before a byte of it is
     * read (and without a 100 Continue). */
    if (cl != NULL && strtoull(cl, NULL, 10) > WEBAPP_BODY_MAX) {
        r->too_big = true;
        return dispatch(r);
    }
    if (r->route->body == BODY_FORM) {
        r->pp = MHD_create_post_processor(c, POST_BUFFER, on_form_field, r);
        if (r->pp == NULL)
            return refuse(r, false, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "Unsupported form",
                          "The form must be sent as application/x-www-form-urlencoded or "
                          "multipart/form-data.",
                          false);
    }
    return MHD_YES;
}

/* A piece of the body. MHD_NO drops the connection. */
static enum MHD_Result
take_body(struct request *r, const char *data, size_t size)
{
    r->body_in += size;
    if (r->route == NULL || r->route->body == BODY_NONE)
        return MHD_YES;
    if (r->route->body == BODY_UPLOAD)
        return take_upload(r, data, size);
    if (r->too_big || r->body_in > WEBAPP_BODY_MAX) {
        /* Buffer nothing more; the handler answers 413 at the end. */
        r->too_big = true;
        buf_fini(&r->body);
        if (r->body_in <= DISCARD_MAX)
            return MHD_YES;
        log_warn("%s %s: the body goes on past %llu bytes: dropping the connection", r->method,
                 r->path, (unsigned long long)DISCARD_MAX);
        return MHD_NO;
    }
    if (r->route->body == BODY_RAW) {
        buf_putn(&r->body, data, size);
        return r->body.oom ? MHD_NO : MHD_YES;
    }
    if (!r->form.malformed && MHD_post_process(r->pp, data, size) == MHD_NO)
        r->form.malformed = true;
    return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    struct app *a = cls;
    struct request *r = *req_cls;

    (void)version;
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        if (r == NULL)
            return MHD_NO;
        r->conn = c;
        r->app = a;
        r->upload.fd = -1;
        r->method = method;
        r->path = url;
        r->started = clock_mono();
        *req_cls = r;
        return begin(a, r);
    }
    if (r->phase == REQ_ANSWERED) /* called again after the handler thread's resume */
        return respond(r, &r->resp, false);
    if (r->phase == REQ_HANDLING)
        return MHD_YES; /* cannot happen: the connection is suspended meanwhile */
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;

        *upload_data_size = 0;
        return take_body(r, upload_data, n);
    }
    /* The whole request is in. The post processor hands over the last value
     * only when destroyed, so finish it before the handler reads the form. */
    if (r->pp != NULL) {
        enum MHD_Result done = MHD_destroy_post_processor(r->pp);

        r->pp = NULL;
        /* A multipart body that ends inside a part (no closing boundary). */
        if (r->route != NULL && r->route->body == BODY_UPLOAD && done == MHD_NO &&
            !upload_failed(&r->upload))
            r->upload.malformed = true;
    }
    if (r->route == NULL)
        return MHD_NO; /* cannot happen: begin() answered every unrouted request */
    return dispatch(r);
}

/* ----- the handler threads ----- */

bool
server_reserve(struct server *s)
{
    bool ok;

    pthread_mutex_lock(&s->mu);
    ok = !s->stopping && s->load < s->max_load;
    if (ok)
        s->load++;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void
server_push(struct server *s, struct work *w)
{
    w->next = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->tail != NULL)
        s->tail->next = w;
    else
        s->head = w;
    s->tail = w;
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
}

static void *
handler_main(void *arg)
{
    struct server *s = arg;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        struct work *w;

        while (s->head == NULL && !s->quit)
            pthread_cond_wait(&s->work_cv, &s->mu);
        if (s->head == NULL)
            break; /* quit, and nothing left */
        w = s->head;
        s->head = w->next;
        if (s->head == NULL)
            s->tail = NULL;
        pthread_mutex_unlock(&s->mu);
        w->fn(w);
        pthread_mutex_lock(&s->mu);
        if (--s->load == 0)
            pthread_cond_broadcast(&s->idle_cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Stop the handler threads once the queue is empty (server_stop()). */
static void
handlers_stop(struct server *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    while (s->load > 0)
        pthread_cond_wait(&s->idle_cv, &s->mu);
    s->quit = true;
    pthread_cond_broadcast(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    s->nthreads = 0;
}

static int
handlers_start(struct server *s, int n, char *err, size_t errlen)
{
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    s->max_load = n * (1 + QUEUE_PER_THREAD);
    s->threads = calloc((size_t)n, sizeof *s->threads);
    if (s->threads == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int e = pthread_create(&s->threads[i], NULL, handler_main, s);

        if (e != 0) {
            snprintf(err, errlen, "cannot start handler thread %d of %d: %s", i + 1, n,
                     strerror(e));
            handlers_stop(s);
            return -1;
        }
        s->nthreads++;
    }
    return 0;
}

/* ----- the daemon ----- */

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    log_info("http: %s", msg);
}

/* An integer setting from the environment: def when unset or empty, else a
 * number in [lo, hi]. -1 with the reason in err. */
static int
env_int(const char *name, int lo, int hi, int def, int *out, char *err, size_t errlen)
{
    const char *v = getenv(name);

    *out = def;
    if (v != NULL && v[0] != '\0' && cfg_parse_int(v, lo, hi, out) < 0) {
        snprintf(err, errlen, "%s=%.40s: expected a whole number from %d to %d", name, v, lo, hi);
        return -1;
    }
    return 0;
}

/* WEBAPP_UPLOAD_MAX: the largest file an upload may hold, in bytes. */
static int
upload_max_from_env(uint64_t *out, char *err, size_t errlen)
{
    int max;

    if (env_int("WEBAPP_UPLOAD_MAX", 1, WEBAPP_UPLOAD_MAX_LIMIT, WEBAPP_UPLOAD_MAX_DEFAULT, &max,
                err, errlen) < 0)
        return -1;
    *out = (uint64_t)max;
    return 0;
}

static void
server_free(struct server *s)
{
    if (s == NULL)
        return;
    if (s->threads != NULL) {
        pthread_cond_destroy(&s->work_cv);
        pthread_cond_destroy(&s->idle_cv);
        pthread_mutex_destroy(&s->mu);
    }
    free(s->threads);
    free(s);
}

struct server *
server_start(struct app *a, const char *listen, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    struct sockaddr_storage ss;
    struct server *s = NULL;
    unsigned int flags, port, limit;
    char host[256], port_s[8];
    int gai, threads, io_threads, per_ip;
    bool loopback;

    if (http_parse_listen(listen, host, sizeof host, &port, err, errlen) < 0 ||
        upload_max_from_env(&a->upload_max, err, errlen) < 0 ||
        env_int("WEBAPP_THREADS", 1, 1024, WEBAPP_THREADS_DEFAULT, &threads, err, errlen) < 0 ||
        env_int("WEBAPP_IO_THREADS", 1, 64, WEBAPP_IO_THREADS_DEFAULT, &io_threads, err,
                errlen) < 0 ||
        env_int("WEBAPP_PER_IP_CONNECTIONS", 0, 100000, WEBAPP_PER_IP_CONNECTIONS_DEFAULT, &per_ip,
                err, errlen) < 0)
        return NULL;
    snprintf(port_s, sizeof port_s, "%u", port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    gai = getaddrinfo(host, port_s, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "listen address '%s': %s", listen, gai_strerror(gai));
        return NULL;
    }
    /* Bind exactly the address asked for (the first one it resolves to), never
     * every interface. */
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    loopback = http_sockaddr_is_loopback(ai->ai_addr);
    /* ALLOW_SUSPEND_RESUME brings the inter-thread channel that wakes an
     * epoll thread when a handler thread resumes one of its connections. */
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    freeaddrinfo(ai);
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->app = a;
    s->loopback = loopback;
    if (handlers_start(s, threads, err, errlen) < 0) {
        server_free(s);
        return NULL;
    }
    a->server = s;
    /* The event streams and as many other connections as the thread per
     * connection model allowed before. MHD shares the limit out among its
     * epoll threads. */
    limit = (unsigned int)(a->events != NULL ? events_max_streams(a->events) : 0) +
            WEBAPP_CONNECTIONS_OTHER;
    /* The logger goes first: MHD reports problems with later options through it.
     * No MHD_OPTION_LISTENING_ADDRESS_REUSE: MHD already sets SO_REUSEADDR (a
     * restart binds despite TIME_WAIT), and the option's 1 adds SO_REUSEPORT,
     * which lets a second webapp bind the same port and share its clients. */
    s->d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, a, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        NULL, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)io_threads, MHD_OPTION_CONNECTION_LIMIT,
        limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY, MHD_OPTION_END);
    if (s->d == NULL) {
        snprintf(err, errlen, "cannot listen on %s (address in use or not available here?)",
                 listen);
        handlers_stop(s);
        a->server = NULL;
        server_free(s);
        return NULL;
    }
    log_info("serving with %d I/O threads, %d handler threads, at most %u connections"
             " (%d per client address%s)",
             io_threads, threads, limit, per_ip, per_ip == 0 ? ": no limit" : "");
    return s;
}

bool
server_is_loopback(const struct server *s)
{
    return s->loopback;
}

unsigned int
server_port(const struct server *s)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);

    return info != NULL ? info->port : 0;
}

void
server_stop(struct server *s)
{
    if (s == NULL)
        return;
    /* MHD_stop_daemon() aborts on a suspended connection. New work is
     * refused from here on (503), so once the streams are ended and the
     * handler threads are done, no connection is suspended any more: each
     * handler resumed its own, events_close_streams() every stream's. */
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_mutex_unlock(&s->mu);
    if (s->app->events != NULL)
        events_close_streams(s->app->events);
    handlers_stop(s);
    MHD_stop_daemon(s->d);
    s->app->server = NULL;
    server_free(s);
}
