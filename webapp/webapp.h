/* webapp/webapp.h - what the webapp's files share: the application state every
 * handler reaches (database pool, producer), one request, one response, the
 * route table, and the pure helpers (escaping, routing, body validation) that
 * the unit tests call without a server. Nothing outside webapp/ includes it. */
#ifndef CELERIAC_WEBAPP_H
#define CELERIAC_WEBAPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cJSON.h>
#include <libpq-fe.h>
#include <microhttpd.h>

#include "client/producer.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/uuid.h"
#include "sql/store.h"

#define WEBAPP_BODY_MAX (1024 * 1024) /* largest request body read: 413 above it */
#define WEBAPP_LIST_DEFAULT 50        /* tasks listed when ?limit= is absent */
#define WEBAPP_ID_MAX 128             /* longest {id} path segment kept */
#define WEBAPP_DB_WAIT_MS 5000        /* longest wait for a pooled connection before a 503 */
/* Uploads (POST /api/files, POST /convert) stream to a temporary file instead:
 * WEBAPP_UPLOAD_MAX bytes of file at most (413 above). */
#define WEBAPP_UPLOAD_MAX_DEFAULT (25 * 1024 * 1024)
#define WEBAPP_UPLOAD_MAX_LIMIT (256 * 1024 * 1024) /* a bytea's text COPY must stay under 1 GB */

/* ----- text (html.c) ----- */

/* Make s one line in place: runs of newlines, tabs and spaces (libpq's
 * messages have "\n\t") become one space; trailing space goes. */
void text_one_line(char *s);

/* ----- HTML (html.c) ----- */

/* The one escaping function: every dynamic value on a page goes through it.
 * & < > " ' become entities; every other byte (UTF-8 included) is copied. */
void html_esc(struct buf *b, const char *s);
/* At most max bytes of s, cut on a UTF-8 boundary, escaped, with an ellipsis
 * when cut. */
void html_esc_short(struct buf *b, const char *s, size_t max);
/* Percent-encode s as a URL path segment or query value (everything but
 * A-Z a-z 0-9 - . _ ~), then escape it, for an href. */
void html_url_enc(struct buf *b, const char *s);
/* "2025-06-02T09:14:07..." as "2025-06-02 09:14:07"; anything else as it is. */
void html_time(struct buf *b, const char *iso);
/* <a class="id" href="/tasks/ID">ID</a>: a task's id as the link to its page. */
void html_task_link(struct buf *b, const char *id);
/* <span class="state state-success">SUCCESS</span>; the class comes from the
 * list of state names, never from s. */
void html_state(struct buf *b, const char *state);
/* A link to an outside page: only http and https URLs become links (with
 * rel="noopener noreferrer"); anything else is shown as text. text NULL: the
 * URL itself. */
void html_ext_link(struct buf *b, const char *url, const char *text);
/* A running task's progress: a <progress> bar and "40%" (clamped to 0..100). */
void html_progress(struct buf *b, int percent);
/* text as <p> paragraphs, split on blank lines; empty ones are dropped. */
void html_paragraphs(struct buf *b, const char *text);
/* Open a page: doctype, head (title escaped, optional auto-refresh), the nav. */
void html_begin(struct buf *b, const char *title, int refresh_s);
/* The same for a page that updates itself from the event stream: it loads
 * /static/live.js (the page must answer with WEBAPP_SCRIPT_CSP), and only a
 * browser without JavaScript refreshes it every noscript_refresh_s (0: never). */
void html_begin_live(struct buf *b, const char *title, int noscript_refresh_s);
void html_end(struct buf *b);
struct response;
/* Answer an HTML page: status and content type (the body is the caller's). */
void html_response(struct response *resp, unsigned int status);
/* 303 to location (a path of ours), with a short page for clients that do
 * not follow it. */
void html_see_other(struct response *resp, const char *location);
extern const char html_style_css[]; /* served as /static/style.css */
extern const char html_live_js[];   /* served as /static/live.js */

/* ----- one request and its answer ----- */

struct app;
struct request;
struct response;
typedef void (*route_fn)(struct app *a, struct request *r, struct response *resp);

enum body_kind {
    BODY_NONE,   /* a body, if any, is ignored */
    BODY_RAW,    /* kept as bytes (JSON API) */
    BODY_FORM,   /* fed to MHD's post processor into struct form */
    BODY_UPLOAD, /* multipart/form-data only: field "file" streamed to a temporary file,
                  * the small fields kept in struct upload (server.c) */
};

struct route {
    const char *method;  /* "GET" routes answer HEAD as well */
    const char *pattern; /* "/api/tasks/{id}/logs": {id} is one non-empty segment */
    route_fn fn;
    enum body_kind body;
    bool json;   /* errors answered as JSON (API) rather than HTML pages */
    bool public; /* served without authentication even when CELERIAC_AUTH is set */
};

extern const struct route routes[]; /* terminated by a row with method NULL */

enum route_result { ROUTE_FOUND, ROUTE_NOT_FOUND, ROUTE_BAD_METHOD };

struct route_match {
    const struct route *route; /* ROUTE_FOUND only */
    char id[WEBAPP_ID_MAX];    /* the {id} segment ("" when none or too long) */
    char allow[64];            /* ROUTE_BAD_METHOD: the Allow header's value */
    bool json;                 /* the path is served as JSON (its errors too) */
};

/* Find the route for method and path (no query string). One trailing slash is
 * ignored. ROUTE_BAD_METHOD when the path exists under other methods. m->json
 * says how to answer errors: the path's routes decide, else route_path_is_api(). */
enum route_result route_match(const char *method, const char *path, struct route_match *m);
/* True for /api and everything under it: those paths answer errors in JSON. */
bool route_path_is_api(const char *path);

/* The fields of the HTML forms, as MHD's post processor delivers them: the
 * task form (name, args, kwargs, queue) and the scrape form (url, max_pages,
 * follow, cron). A field not sent has data NULL. */
struct form {
    struct buf name, args, kwargs, queue;
    struct buf url, max_pages, follow, cron;
    bool has_nul;   /* a value held a NUL byte (%00): refused */
    bool malformed; /* the post processor gave up on the body */
};

#define UPLOAD_NAME_MAX 255   /* bytes of an uploaded file's name kept */
#define UPLOAD_FIELD_MAX 8192 /* bytes of any other field of an upload form (413 above) */

/* A multipart upload as it streams in: the "file" field goes to an unnamed
 * temporary file (never a path built from the client's words), its first
 * bytes stay in memory for sniffing; the other fields are small and kept.
 * A field not sent has data NULL. */
struct upload {
    uint64_t max;        /* the cap on size (the app's upload_max) */
    int fd;              /* the temporary file; -1 until the "file" part starts */
    uint64_t size;       /* bytes of the file */
    unsigned char *head; /* its first CONVERT_SNIFF_BYTES bytes (or fewer) */
    size_t head_len;
    char name[UPLOAD_NAME_MAX + 1]; /* file_name_clean() of the part's filename */
    int files;                      /* "file" parts seen: one is expected */
    bool file_started;              /* the current "file" part had a first (empty) call */
    struct buf to, options, delimiter, width, height, quality;
    bool not_multipart; /* Content-Type is not multipart/form-data: 415 */
    bool too_big;       /* the file or the whole body passed the cap: 413 */
    bool field_too_big; /* another field passed UPLOAD_FIELD_MAX: 413 */
    bool malformed;     /* the multipart body could not be parsed: 400 */
    bool has_nul;       /* a small field held a NUL byte: 400 */
    int io_errno;       /* the temporary file failed (errno): 503 */
};

/* Work handed from an I/O thread to a handler thread (server.c): a request's
 * handler, or a download's next chunk. fn runs on a handler thread; whoever
 * submits w owns it and keeps it alive until fn has run. */
struct work {
    void (*fn)(struct work *w);
    struct work *next;
};

struct response {
    unsigned int status;
    const char *content_type;
    struct buf body;
    const char *static_body; /* instead of body: memory that outlives the daemon */
    size_t static_len;
    char location[160];
    const char *allow;
    const char *cache_control;
    int retry_after; /* seconds, 0 = no header */
    /* Instead of a body: stream_len bytes produced by stream_fn (a download;
     * MHD_SIZE_UNKNOWN for an event stream), asked for stream_block bytes at
     * a time (0: 64 KiB). respond() hands stream_cls to MHD, which calls
     * stream_free on it once done (respond() does, when no response could be
     * made; request_free() does, when the answer was never queued). */
    MHD_ContentReaderCallback stream_fn;
    MHD_ContentReaderFreeCallback stream_free;
    void *stream_cls;
    uint64_t stream_len;
    size_t stream_block;
    bool no_buffering; /* X-Accel-Buffering: no (an event stream behind nginx) */
    char *disposition; /* Content-Disposition, malloc()ed: respond() frees it */
    const char *csp;   /* Content-Security-Policy instead of the default (downloads: sandbox;
                        * pages that run a script of ours: WEBAPP_SCRIPT_CSP) */
};

struct request {
    struct MHD_Connection *conn; /* NULL in unit tests */
    const char *method;          /* MHD's, valid for the whole request */
    const char *path;
    const struct route *route;
    char id[WEBAPP_ID_MAX];
    struct buf body;  /* BODY_RAW: at most WEBAPP_BODY_MAX bytes */
    uint64_t body_in; /* bytes received, including those discarded past the cap */
    bool too_big;
    struct MHD_PostProcessor *pp;
    struct form form;
    struct upload upload; /* BODY_UPLOAD */
    double started; /* clock_mono() at the first call, for the access log */
    /* The handler runs on a handler thread while the connection is suspended
     * (server.c): the answer waits in resp until MHD calls back. */
    struct app *app;
    struct work work;
    struct response resp;
    enum { REQ_READING, REQ_HANDLING, REQ_ANSWERED } phase;
};

/* A query parameter, URL-decoded by MHD; NULL when absent (always in tests). */
const char *http_query(struct request *r, const char *key);

/* The filters and the page of a task list, shared by GET /tasks and GET
 * /api/tasks: ?state= &name= &worker= (exact), &q= (text in args or kwargs,
 * case-insensitive), &created_after= &created_before= (ISO 8601 or a date; no
 * offset: UTC), &sort=newest|oldest|slowest|fastest, &after= or &before= (a task's cursor:
 * the page after or before it), &limit=. Empty values mean no filter, as an
 * HTML form sends them. */
#define TASK_TEXT_MAX 200   /* bytes of ?q= */
#define TASK_FILTER_MAX 255 /* bytes of ?name= and ?worker= */
struct task_filters {
    const char *state, *name, *worker, *q;      /* NULL: any */
    const char *created_after, *created_before; /* as given (the form shows them again) */
    char after_utc[40], before_utc[40];         /* ... as ISO 8601 UTC, "" when not given */
    enum store_task_sort sort;
    const char *after, *before; /* the cursor as given; NULL: the first page */
    char cursor_key[40];        /* ... parsed (store_task_cursor_parse()) */
    char cursor_id[UUID_STR_LEN];
    int limit;
};
/* 0, or -1 with the problem (one sentence naming the parameter) in err. */
int task_filters_parse(struct request *r, struct task_filters *f, char *err, size_t errlen);
struct store_task_query;
/* The store's query for f. */
void task_filters_query(const struct task_filters *f, struct store_task_query *q);
/* True when a POST's Origin header (NULL = none, e.g. curl) names this host,
 * as the Host header or a proxy's X-Forwarded-Host (NULL = none) gives it: a
 * cross-site form or fetch must not enqueue tasks in the user's name. A page
 * on another site cannot set X-Forwarded-Host without a CORS preflight, which
 * we never grant. */
bool http_origin_ok(const char *origin, const char *host, const char *forwarded_host);
/* Whether sa is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x). */
struct sockaddr;
bool http_sockaddr_is_loopback(const struct sockaddr *sa);
/* Whether a Content-Type header says JSON ("application/json", any
 * parameters, any case). */
bool http_json_content_type(const char *ct);
/* Split "host:port" or "[v6]:port"; -1 with the reason in err. */
int http_parse_listen(const char *listen, char *host, size_t hostlen, unsigned int *port, char *err,
                      size_t errlen);

/* ----- database pool (dbpool.c) ----- */

struct dbpool;

/* No connection is opened here: each is opened on first need. */
struct dbpool *dbpool_new(const char *database_url, int size);
void dbpool_free(struct dbpool *p);
/* A connection for this thread alone, waiting up to wait_ms for a free one.
 * A broken idle connection is replaced; a new one is checked against the
 * schema until one check has passed. NULL with the reason in err. */
PGconn *dbpool_get(struct dbpool *p, int wait_ms, char *err, size_t errlen);
/* Give db back (NULL is fine); a broken one is closed, its slot freed. */
void dbpool_put(struct dbpool *p, PGconn *db);
/* Around a long hold of a connection (an upload's COPY of up to
 * WEBAPP_UPLOAD_MAX): at most half the pool (at least one) is held that way
 * at once, so uploads never take every connection from the pages and the
 * API. false when none came free within wait_ms. */
bool dbpool_bulk_enter(struct dbpool *p, int wait_ms);
void dbpool_bulk_leave(struct dbpool *p);

/* ----- the application (main.c fills it) ----- */

struct server;
struct events;

struct app {
    const struct config *cfg;
    struct dbpool *db;
    struct producer *producer; /* enqueues: rows and publishes, group-committed */
    char origin[128]; /* tasks.origin of what the webapp enqueues */
    uint64_t upload_max; /* WEBAPP_UPLOAD_MAX, read by server_start() */
    struct server *server; /* set by server_start() */
    struct events *events; /* the live updates (events.c); NULL: /api/events answers 503 */
};

/* ----- the server (server.c) ----- */

#define WEBAPP_THREADS_DEFAULT 64     /* handler threads (WEBAPP_THREADS) */
#define WEBAPP_IO_THREADS_DEFAULT 4   /* MHD's epoll threads (WEBAPP_IO_THREADS) */
#define WEBAPP_CONNECTIONS_OTHER 256  /* connections beside the event streams */
/* Connections one client address may hold (WEBAPP_PER_IP_CONNECTIONS, 0: no
 * limit): clients that open connections and then send a byte now and then
 * (slow loris) can take this many places, not all of them. Behind a reverse
 * proxy every client has the proxy's address: raise it or set 0 there. */
#define WEBAPP_PER_IP_CONNECTIONS_DEFAULT 64

/* Bind listen ("host:port") and serve a: a few epoll threads do the I/O and
 * hand every handler to a pool of handler threads (WEBAPP_THREADS), reading
 * WEBAPP_UPLOAD_MAX into a->upload_max. a->events (may be NULL) must outlive
 * the server. NULL with the reason in err. */
struct server *server_start(struct app *a, const char *listen, char *err, size_t errlen);
unsigned int server_port(const struct server *s);
/* Whether the server is bound to a loopback address only (main.c warns
 * when it is not and no CELERIAC_AUTH guards it). */
bool server_is_loopback(const struct server *s);
/* Stop taking work, end the event streams, let running handlers finish,
 * close every connection. */
void server_stop(struct server *s);
/* Reserve a place in the handler queue for one work item: false when the
 * queue is full or the server is stopping (answer 503, or end a download).
 * A reservation is always followed by server_push() of the work: reserve,
 * suspend the connection, then push (so that fn's MHD_resume_connection()
 * can never come first). */
bool server_reserve(struct server *s);
void server_push(struct server *s, struct work *w);

/* ----- JSON API (api.c) ----- */

/* "a string", "an object", ... for messages about a JSON value's type. */
const char *api_type_name(const cJSON *v);
/* Parse a POST /api/tasks body: NULL with a message for the client in err. */
cJSON *api_parse_body(const char *buf, size_t len, char *err, size_t errlen);
/* Check body's fields and point r at them (r borrows from body). 0, or -1
 * with a message naming the field in err. Nothing is stored either way. */
int api_enqueue_req(const cJSON *body, struct enqueue_req *r, char *err, size_t errlen);
/* producer_enqueue() with the webapp's origin. */
int app_enqueue(struct app *a, struct enqueue_req *r, char id[UUID_STR_LEN], bool *unconfirmed,
                char *err,
                size_t errlen);
/* The HTTP status for an enqueue_rc. */
unsigned int app_enqueue_status(int rc);

void api_json(struct response *resp, unsigned int status, const cJSON *v);
/* A pooled connection, or NULL with a JSON 503 answered. */
PGconn *api_db_or_503(struct app *a, struct response *resp);
void api_error(struct response *resp, unsigned int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void api_healthz(struct app *a, struct request *r, struct response *resp);
void api_task_create(struct app *a, struct request *r, struct response *resp);
void api_task_get(struct app *a, struct request *r, struct response *resp);
void api_task_list(struct app *a, struct request *r, struct response *resp);
void api_task_logs(struct app *a, struct request *r, struct response *resp);
void api_task_revoke(struct app *a, struct request *r, struct response *resp);
void api_worker_list(struct app *a, struct request *r, struct response *resp);

/* ----- lineage: retries and re-runs (api.c) ----- */

/* A parent_id a client gave (POST /api/tasks, the task form): 0 when it names
 * a task that exists, else the HTTP status (400: no such task; 503: the
 * database is down) with the reason in err. */
unsigned int app_parent_check(struct app *a, const char *parent_id, char *err, size_t errlen);
/* Enqueue a new task with the name, args, kwargs and queue of task id (a
 * UUID), whose parent it becomes. Only a FAILURE or REVOKED task is retried.
 * MHD_HTTP_ACCEPTED with new_id set, or the status to answer (404, 409, 503)
 * with the reason in err. */
unsigned int app_task_retry(struct app *a, const char *id, char new_id[UUID_STR_LEN],
                            bool *unconfirmed, char *err, size_t errlen);
/* POST /api/tasks/{id}/retry */
void api_task_retry(struct app *a, struct request *r, struct response *resp);

/* ----- articles (articles.c) ----- */

struct store_article_query;

#define ARTICLES_LIMIT_MAX 200     /* most articles one page or API call lists */
#define ARTICLES_OFFSET_MAX 100000 /* deepest offset: past it, search instead */
#define ARTICLES_Q_MAX 200         /* longest search text, in bytes */
#define TASK_ARTICLES_MAX 100      /* articles listed on a task's page */

/* Fill q from the raw ?q=&site=&task=&limit=&offset= values (NULL: absent;
 * empty: no filter). limit defaults to WEBAPP_LIST_DEFAULT. 0, or -1 with the
 * problem (one sentence) in err. q borrows the strings. */
int article_query_parse(const char *text, const char *site, const char *task, const char *limit,
                        const char *offset, struct store_article_query *q, char *err,
                        size_t errlen);
/* True for an article id: 1 to 18 decimal digits, not 0. */
bool article_id_valid(const char *id);

void api_article_list(struct app *a, struct request *r, struct response *resp);
void api_article_get(struct app *a, struct request *r, struct response *resp);
void api_article_sites(struct app *a, struct request *r, struct response *resp);
void page_article_list(struct app *a, struct request *r, struct response *resp);
void page_article_detail(struct app *a, struct request *r, struct response *resp);
/* The "Articles" section of a task's page, from store_articles_list() (at
 * most TASK_ARTICLES_MAX of them); nothing when the task stored none. */
void page_put_task_articles(struct buf *b, const char *task_id, const cJSON *list);

/* ----- saved sites and the scrape form (sites.c) ----- */

#define SITE_URL_MAX 2048
#define SITE_MAX_PAGES_DEFAULT 20
#define SITE_MAX_PAGES_MAX 1000

/* What to scrape: the kwargs of scrape.site, and a schedule. */
struct site_req {
    const char *url;
    const char *cron; /* NULL: once, now */
    int max_pages;
    bool follow;
};

/* An http or https URL with a host, at most SITE_URL_MAX bytes of UTF-8 with
 * no spaces or control characters. 0, or -1 with the problem in err. Names
 * are not resolved here: the worker refuses private addresses. */
int site_url_check(const char *url, char *err, size_t errlen);
/* The scrape form's fields (NULL: not sent; an unchecked box is not sent):
 * 0, or -1 with the problem in err. s borrows the strings. */
int site_req_from_form(const char *url, const char *max_pages, const char *follow, const char *cron,
                       struct site_req *s, char *err, size_t errlen);
/* A POST /api/sites body {"url", "cron", "max_pages", "follow"}: cron is
 * required there. 0, or -1 with the problem in err. s borrows from body. */
int site_req_from_json(const cJSON *body, struct site_req *s, char *err, size_t errlen);
/* The first time cron fires after now (Unix seconds), as ISO 8601 UTC in out.
 * 0, or -1 with the problem, naming the schedule, in err. */
int site_next_run(const char *cron, bool allow_seconds, double now, char *out, size_t outlen,
                  char *err, size_t errlen);
/* scrape.site's kwargs {"url", "max_pages", "follow"} (caller frees). */
cJSON *site_kwargs(const struct site_req *s);

/* The "Scrape a site" form, filled with the given values. */
void page_put_scrape_form(struct buf *b, const char *url, const char *max_pages, bool follow,
                          const char *cron);

void page_scrape_create(struct app *a, struct request *r, struct response *resp);
void page_site_list(struct app *a, struct request *r, struct response *resp);
void page_site_scrape(struct app *a, struct request *r, struct response *resp);
void page_site_pause(struct app *a, struct request *r, struct response *resp);
void page_site_resume(struct app *a, struct request *r, struct response *resp);
void page_site_delete(struct app *a, struct request *r, struct response *resp);
void api_site_list(struct app *a, struct request *r, struct response *resp);
void api_site_get(struct app *a, struct request *r, struct response *resp);
void api_site_create(struct app *a, struct request *r, struct response *resp);
void api_site_scrape(struct app *a, struct request *r, struct response *resp);
void api_site_pause(struct app *a, struct request *r, struct response *resp);
void api_site_resume(struct app *a, struct request *r, struct response *resp);
void api_site_delete(struct app *a, struct request *r, struct response *resp);

/* ----- files and conversions (files.c) ----- */

#define FILES_LIMIT_MAX 200     /* most files or conversions one page or API call lists */
#define FILES_OFFSET_MAX 100000 /* deepest offset of those lists */

/* An uploaded file's name as we keep it (metadata only, never a path): the
 * part after the last / or \, without control characters (C0, DEL, C1),
 * bidirectional overrides or invalid UTF-8, trimmed of spaces, at most
 * outlen - 1 bytes cut on a character boundary and keeping a short
 * extension; "upload" when nothing is left (or only dots). outlen >= 8. */
void file_name_clean(const char *raw, char *out, size_t outlen);
/* Append a Content-Disposition value for a download named name (RFC 6266):
 * attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>.
 * The fallback keeps printable ASCII but " \ / %, each of those and each
 * control character or non-ASCII character becoming _. */
void file_disposition(struct buf *b, const char *name);
/* The canonical target format for to ("jpg" -> "jpeg"), or NULL when it is
 * not one of json, csv, xml, html, txt, png, jpeg, webp, pdf. */
const char *file_target(const char *to);

/* POST /api/convert's body {"file_id", "to", "options"}, checked. */
struct file_convert_req {
    const char *file_id;  /* a UUID */
    const char *to;       /* canonical (file_target()) */
    const cJSON *options; /* an object, or NULL */
};
/* 0, or -1 with the problem (naming the field) in err. c borrows from body. */
int file_convert_req(const cJSON *body, struct file_convert_req *c, char *err, size_t errlen);
/* The options object of an upload form: its "options" field (JSON object
 * text, may be empty) with the fields delimiter (",", ";", "|", "tab"),
 * width, height and quality (whole numbers) set over it; a NULL or empty
 * value is not sent. *out: the object (caller frees; {} for none), or -1
 * with the problem in err. */
int file_options_from_form(const char *options, const char *delimiter, const char *width,
                           const char *height, const char *quality, cJSON **out, char *err,
                           size_t errlen);

void api_file_upload(struct app *a, struct request *r, struct response *resp);
void api_file_list(struct app *a, struct request *r, struct response *resp);
void api_file_meta(struct app *a, struct request *r, struct response *resp);
/* GET /files/{id}/about: the file's page, linking to the task that made it. */
void page_file(struct app *a, struct request *r, struct response *resp);
/* GET /api/files/{id} and /files/{id}: the bytes, errors in the path's dialect. */
void api_file_download(struct app *a, struct request *r, struct response *resp);
void api_convert_create(struct app *a, struct request *r, struct response *resp);
void api_convert_offers(struct app *a, struct request *r, struct response *resp);
void page_convert(struct app *a, struct request *r, struct response *resp);
void page_convert_create(struct app *a, struct request *r, struct response *resp);
/* The "Files" section of a task's page: a conversion's source and, once it
 * succeeded, its output, with download links. Nothing for other tasks. */
void page_put_task_files(struct buf *b, const cJSON *task);

/* ----- live updates: Server-Sent Events (events.c) ----- */

#define EVENTS_TOPICS_MAX 32            /* topics one stream may name */
#define EVENTS_MAX_STREAMS_DEFAULT 1000 /* concurrent streams (WEBAPP_MAX_STREAMS): 503 past it */
#define EVENTS_HEARTBEAT_DEFAULT 15     /* seconds between ": keepalive" comments */
#define EVENTS_PENDING_MAX (256 * 1024) /* bytes a stream may have unsent: dropped past it */
#define EVENTS_REPLAY_MAX 1000          /* chat messages, or lines of a task, a connect replays */

enum events_topic_kind {
    TOPIC_TASKS, /* "tasks": every task's state changes */
    TOPIC_TASK,  /* "task:<uuid>": one task's state changes and log lines */
    TOPIC_CHAT,  /* "chat:<room>": a room's messages */
};

struct events_topic {
    enum events_topic_kind kind;
    char arg[65]; /* the task id (lower case) or the room (at most 64 bytes) */
};

/* ?topics= as a stream names them: comma-separated "tasks", "task:<uuid>",
 * "chat:<room>" (room: 1-64 of A-Z a-z 0-9 _ -), at most EVENTS_TOPICS_MAX;
 * spaces around a topic are ignored, a repeated one is kept once. 0, or -1
 * with the problem (one sentence, naming the topic) in err. */
struct events_topics {
    int n;
    struct events_topic t[EVENTS_TOPICS_MAX];
};
int events_parse_topics(const char *s, struct events_topics *out, char *err, size_t errlen);

/* Where a stream stands, as its events' "id:" lines say it:
 * "c<chat seq>.l<task log id>.t<ms since the epoch>". A reconnect with it in
 * Last-Event-ID (or ?last_event_id=) replays chat messages after seq c, log
 * lines after id l and the state of tasks changed after time t. A part left
 * out replays nothing of its kind. */
struct events_cursor {
    long long chat, log, t_ms;
    bool has_chat, has_log, has_t;
};
/* 0, or -1 when s is not such a cursor (each part at most once, in any order). */
int events_parse_cursor(const char *s, struct events_cursor *c);
/* "c12.l34.t1764500000000" (every part; one left out counts as 0). */
void events_format_cursor(const struct events_cursor *c, char *out, size_t outlen);
/* One Server-Sent Event: "id: <id>\nevent: <event>\ndata: ...\n\n", each line
 * of data (split on CRLF, LF or CR) a "data:" line of its own; id and event
 * NULL: left out. A CR or LF in id or event is dropped (it would end the field). */
void sse_event(struct buf *b, const char *id, const char *event, const char *data);

/* Start the hub: its listener thread LISTENs on task_state, task_log and chat
 * on a connection of its own (reconnecting with back-off) and fans each
 * notification out to the streams; reads WEBAPP_MAX_STREAMS and
 * WEBAPP_SSE_HEARTBEAT. NULL with the reason in err. */
struct events *events_start(struct app *a, char *err, size_t errlen);
int events_max_streams(const struct events *e);
/* Before the daemon stops: end every stream (what is buffered is still sent)
 * and refuse new ones. */
void events_close_streams(struct events *e);
/* After the daemon stopped: stop the listener, free the hub. NULL is fine. */
void events_free(struct events *e);

/* GET /api/events?topics=...[&last_event_id=...]: the stream (events.c). */
void api_events(struct app *a, struct request *r, struct response *resp);

/* The policy of a page that runs /static/live.js (or another script of
 * ours): the default page policy plus our own scripts and fetches. */
#define WEBAPP_SCRIPT_CSP                                                                         \
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "                \
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/* ----- HTML pages (pages.c) ----- */

/* A small page with a title and one escaped sentence, at status. */
void page_error(struct response *resp, unsigned int status, const char *title, const char *message);

void page_home(struct app *a, struct request *r, struct response *resp);
void page_task_create(struct app *a, struct request *r, struct response *resp);
void page_task_list(struct app *a, struct request *r, struct response *resp);
void page_task_detail(struct app *a, struct request *r, struct response *resp);
/* POST /tasks/{id}/revoke and /tasks/{id}/retry: the task page's buttons. */
void page_task_revoke(struct app *a, struct request *r, struct response *resp);
void page_task_retry(struct app *a, struct request *r, struct response *resp);
/* GET /workers (workers.c) */
void page_workers(struct app *a, struct request *r, struct response *resp);
void page_style(struct app *a, struct request *r, struct response *resp);
void page_live_js(struct app *a, struct request *r, struct response *resp);

/* ----- chat (chat.c) ----- */

#define CHAT_ROOM_MAX 64          /* bytes of a room name, all of A-Z a-z 0-9 _ - */
#define CHAT_AUTHOR_MAX 64        /* characters (Unicode code points) of an author */
#define CHAT_BODY_MAX 4000        /* characters of a message */
#define CHAT_LIMIT_DEFAULT 100    /* messages GET /api/chat/{room}/messages answers */
#define CHAT_LIMIT_MAX 500        /* ... at most, with ?limit= */
#define CHAT_PAGE_HISTORY 100     /* messages a room's page shows */
#define CHAT_ISO_LEN 32           /* "2026-11-30T10:00:00.123Z" and its NUL */
#define CHAT_TASK "chat.persist"  /* the task that stores a message (on the chat queue) */

/* A message as POST /api/chat/{room}/messages and the room's form send it. */
struct chat_post {
    const char *author;
    const char *body;
};

/* True for a room name: 1 to CHAT_ROOM_MAX of A-Z a-z 0-9 _ -. */
bool chat_room_valid(const char *room);
/* The Unicode code points in s[0..len), or -1 when it is not valid UTF-8
 * (a cut sequence, an overlong, a surrogate, past U+10FFFF). */
long chat_code_points(const char *s, size_t len);
/* Check the text of field ("author" or "body"): present, valid UTF-8, no
 * NUL, no control character (the body may hold tabs and line breaks), 1 to
 * max code points, not only whitespace. Kept as sent: nothing is trimmed.
 * 0, or -1 with the problem (naming the field) in err. */
int chat_text_check(const char *field, const char *s, size_t len, long max, bool multiline,
                    char *err, size_t errlen);
/* Check a POST /api/chat/{room}/messages body {"author", "body"} and point m
 * at its strings (m borrows from body). 0, or -1 with the problem (naming
 * the field: missing, wrong type, repeated, unknown, too long...) in err. */
int chat_post_req(const cJSON *body, struct chat_post *m, char *err, size_t errlen);
/* Decode the room form's application/x-www-form-urlencoded body into
 * *author and *body (malloc()ed, caller frees both; a field not sent stays
 * NULL; a repeated one keeps its last value) and check them as
 * chat_text_check() does. 0, or -1 with the problem in err (what could be
 * decoded is still handed back, to fill the form again). */
int chat_form_parse(const char *buf, size_t len, char **author, char **body, char *err,
                    size_t errlen);
/* ?after= and ?limit= of GET /api/chat/{room}/messages (NULL or "": absent).
 * *after: the seq to start after, -1 for the latest messages; *limit 1 to
 * CHAT_LIMIT_MAX, default CHAT_LIMIT_DEFAULT. 0, or -1 with the problem in err. */
int chat_history_parse(const char *after, const char *limit, long long *after_seq, int *lim,
                       char *err, size_t errlen);
/* epoch as ISO 8601 UTC to the millisecond: "2026-11-30T10:00:00.123Z". */
void chat_iso_ms(double epoch, char out[CHAT_ISO_LEN]);

void api_chat_rooms(struct app *a, struct request *r, struct response *resp);
void api_chat_messages(struct app *a, struct request *r, struct response *resp);
void api_chat_post(struct app *a, struct request *r, struct response *resp);
void page_chat_rooms(struct app *a, struct request *r, struct response *resp);
void page_chat_room(struct app *a, struct request *r, struct response *resp);
void page_chat_post(struct app *a, struct request *r, struct response *resp);
/* /static/chat.js and /static/chat.css: the room page's script and style. */
void page_chat_js(struct app *a, struct request *r, struct response *resp);
void page_chat_css(struct app *a, struct request *r, struct response *resp);

/* ----- queues: counts, pauses, dead letters (queues.c) ----- */

#define QUEUES_DEAD_VIEW_MAX 100                 /* dead letters one view (or action) reads */
#define QUEUES_DEAD_VIEW_BYTES (16 * 1024 * 1024) /* ...stopping once their bodies pass this */
#define QUEUES_BODY_PREVIEW 2048                  /* bytes of a dead letter's body shown */

/* True for a queue that may be paused: a valid name (broker_queue_name_valid)
 * other than celeriac.dead; false with the problem in err. */
bool queue_name_ok(const char *name, char *err, size_t errlen);
/* ?limit= of the dead-letter view (NULL or "": QUEUES_DEAD_VIEW_MAX): 1 to
 * QUEUES_DEAD_VIEW_MAX. 0, or -1 with the problem in err. */
int dead_limit_parse(const char *s, int *limit, char *err, size_t errlen);

/* {"queues": [{"name", "exists", "messages", "consumers", "paused", ...}],
 * "broker": "ok"|"down"}: the queues celeriac routes to, those the workers
 * consume, the paused ones and celeriac.dead, in that order, with their
 * counts when RabbitMQ answers (a connection of its own, 5 s timeouts; the
 * dashboard and /metrics show them too). NULL with err set when PostgreSQL
 * does not answer. *broker_down: RabbitMQ did not (the counts are null; err
 * says why). */
cJSON *queues_overview(struct app *a, bool *broker_down, char *err, size_t errlen);
void api_queues(struct app *a, struct request *r, struct response *resp);
void api_queue_pause(struct app *a, struct request *r, struct response *resp);
void api_queue_resume(struct app *a, struct request *r, struct response *resp);
void api_dead_letters(struct app *a, struct request *r, struct response *resp);
void api_dead_requeue(struct app *a, struct request *r, struct response *resp);
void api_dead_drop(struct app *a, struct request *r, struct response *resp);
void page_queues(struct app *a, struct request *r, struct response *resp);
void page_queue_pause(struct app *a, struct request *r, struct response *resp);
void page_queue_resume(struct app *a, struct request *r, struct response *resp);
void page_dead_letters(struct app *a, struct request *r, struct response *resp);
void page_dead_requeue(struct app *a, struct request *r, struct response *resp);
void page_dead_drop(struct app *a, struct request *r, struct response *resp);

/* ----- the dashboard, /api/stats and /metrics (dashboard.c, metrics.c) ----- */

/* GET / (page_home(), above) shows tasks by state, workers online, a chart
 * of the tasks finished per minute over the last hour, run time percentiles
 * and the form; GET /?task=NAME gives the form a typed field per parameter
 * of NAME. POST / is that form's target (typed fields "p.<parameter>" and
 * JSON args/kwargs); POST /tasks (page_task_create(), above) the same with
 * the JSON fields only. */
void page_home_post(struct app *a, struct request *r, struct response *resp);
/* GET /api/stats: the dashboard's numbers as JSON (store_stats()). */
void api_stats(struct app *a, struct request *r, struct response *resp);
/* GET /metrics: Prometheus text format 0.0.4. */
void api_metrics(struct app *a, struct request *r, struct response *resp);
/* Count one answered request for /metrics, by method, route pattern (never
 * the path) and status: server.c's respond() calls it. Thread-safe, no lock. */
void metrics_count_request(const struct request *r, unsigned int status);
/* v as Prometheus and people read it: the shortest text that reads back as
 * v ("0.25", "10", "1.5e-06"), NaN, +Inf or -Inf. */
void metrics_put_number(struct buf *b, double v);

#endif
