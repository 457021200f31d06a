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
void html_end(struct buf *b);
extern const char html_style_css[]; /* served as /static/style.css */

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
    /* Instead of a body: stream_len bytes produced by stream_fn (a download).
     * respond() hands stream_cls to MHD, which calls stream_free on it once
     * done (respond() does, when no response could be made). */
    MHD_ContentReaderCallback stream_fn;
    MHD_ContentReaderFreeCallback stream_free;
    void *stream_cls;
    uint64_t stream_len;
    char *disposition; /* Content-Disposition, malloc()ed: respond() frees it */
    const char *csp;   /* Content-Security-Policy of a non-HTML answer (downloads: sandbox) */
};

/* A query parameter, URL-decoded by MHD; NULL when absent (always in tests). */
const char *http_query(struct request *r, const char *key);

/* The filters of a task list (?state=&name=&limit=), shared by the API and the
 * page. Empty values mean no filter, as an HTML form sends them. */
struct task_filters {
    const char *state; /* NULL: any */
    const char *name;  /* NULL: any */
    int limit;
};
/* 0, or -1 with the problem (one sentence) in err. */
int task_filters_parse(struct request *r, struct task_filters *f, char *err, size_t errlen);
/* True when a POST's Origin header (NULL = none, e.g. curl) names this host,
 * as the Host header or a proxy's X-Forwarded-Host (NULL = none) gives it: a
 * cross-site form or fetch must not enqueue tasks in the user's name. A page
 * on another site cannot set X-Forwarded-Host without a CORS preflight, which
 * we never grant. */
bool http_origin_ok(const char *origin, const char *host, const char *forwarded_host);
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

struct app {
    const struct config *cfg;
    struct dbpool *db;
    struct producer *producer; /* enqueues: rows and publishes, group-committed */
    char origin[128]; /* tasks.origin of what the webapp enqueues */
    uint64_t upload_max; /* WEBAPP_UPLOAD_MAX, read by server_start() */
};

/* ----- the server (server.c) ----- */

struct server;

/* Bind listen ("host:port") and serve a from a thread per connection, after
 * reading WEBAPP_UPLOAD_MAX into a->upload_max. NULL with the reason in err. */
struct server *server_start(struct app *a, const char *listen, char *err, size_t errlen);
unsigned int server_port(const struct server *s);
/* Stop accepting, close every connection, wait for running handlers. */
void server_stop(struct server *s);

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
/* GET /api/files/{id} and /files/{id}: the bytes, errors in the path's dialect. */
void api_file_download(struct app *a, struct request *r, struct response *resp);
void api_convert_create(struct app *a, struct request *r, struct response *resp);
void api_convert_offers(struct app *a, struct request *r, struct response *resp);
void page_convert(struct app *a, struct request *r, struct response *resp);
void page_convert_create(struct app *a, struct request *r, struct response *resp);
/* The "Files" section of a task's page: a conversion's source and, once it
 * succeeded, its output, with download links. Nothing for other tasks. */
void page_put_task_files(struct buf *b, const cJSON *task);

/* ----- HTML pages (pages.c) ----- */

/* A small page with a title and one escaped sentence, at status. */
void page_error(struct response *resp, unsigned int status, const char *title, const char *message);

void page_home(struct app *a, struct request *r, struct response *resp);
void page_task_create(struct app *a, struct request *r, struct response *resp);
void page_task_list(struct app *a, struct request *r, struct response *resp);
void page_task_detail(struct app *a, struct request *r, struct response *resp);
void page_style(struct app *a, struct request *r, struct response *resp);

#endif
