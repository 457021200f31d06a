/* webapp/files.c - files and their conversion (issue 18): uploads (POST
 * /api/files, and the /convert form, which uploads and converts in one
 * request), downloads (/api/files/{id}, /files/{id}), metadata, POST
 * /api/convert, the /convert page with the recent conversions, and the
 * "Files" section of a conversion's task page.
 *
 * The webapp never converts: it names and sniffs a file with convert/'s
 * format functions (libc only), stores it, and enqueues convert.file on the
 * convert queue; a worker does the rest. An upload reaches this file already
 * streamed to an unnamed temporary file (server.c); a file's name is
 * metadata only, never part of a path. A download is read from PostgreSQL in
 * pieces as the client takes it, each piece on a pooled connection borrowed
 * for that query alone, so a slow client holds no connection, and on a
 * handler thread, so no I/O thread ever waits for PostgreSQL (server.c). */
#include "webapp/webapp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "convert/convert.h"
#include "sql/store.h"

#define CONVERT_TASK "convert.file"
#define DOWNLOAD_CHUNK_MIN (1024 * 1024)     /* bytes read from PostgreSQL per query, at least */
#define DOWNLOAD_CHUNK_MAX (8 * 1024 * 1024) /* ... and at most */
#define EXT_KEEP_MAX 16                      /* an extension longer than this may be cut */
#define ERROR_SHORT 120                      /* bytes of a failed conversion's error in the list */

/* What a conversion may produce, in the order the form offers them: the
 * targets issue 18 names, each with its group in the form's select. */
static const struct {
    const char *format, *group, *label;
} targets[] = {
    {"json", "Data", "JSON"},
    {"csv", "Data", "CSV"},
    {"xml", "Data", "XML"},
    {"html", "Text", "HTML"},
    {"txt", "Text", "plain text"},
    {"png", "Images", "PNG"},
    {"jpeg", "Images", "JPEG"},
    {"webp", "Images", "WebP"},
    {"pdf", "Documents", "PDF (office documents)"},
};
#define N_TARGETS (sizeof targets / sizeof targets[0])

/* ----- pure helpers ----- */

/* The length of the UTF-8 sequence at s (up to its NUL), or 0 when it is not
 * valid: overlong forms, surrogates and code points past U+10FFFF included. */
static size_t
utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    for (size_t k = 1; k < n; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0; /* the NUL ends it too */
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

/* Characters a name must not carry: C0 controls and DEL, C1 controls
 * (U+0080-U+009F), the bidirectional marks, embeddings, overrides and
 * isolates that make "gnp.exe" show as "exe.png" (U+200E, U+200F,
 * U+202A-U+202E, U+2066-U+2069), and the byte order mark (U+FEFF). */
static bool
unwanted(const unsigned char *s, size_t n)
{
    if (n == 1)
        return s[0] < 0x20 || s[0] == 0x7f;
    if (n == 2)
        return s[0] == 0xc2 && s[1] < 0xa0;
    if (n == 3 && s[0] == 0xe2 && s[1] == 0x80)
        return s[2] == 0x8e || s[2] == 0x8f || (s[2] >= 0xaa && s[2] <= 0xae);
    if (n == 3 && s[0] == 0xe2 && s[1] == 0x81)
        return s[2] >= 0xa6 && s[2] <= 0xa9;
    return n == 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf;
}

void
file_name_clean(const char *raw, char *out, size_t outlen)
{
    const char *base = raw, *dot;
    size_t len = 0, lead, keep;
    char *clean = malloc(strlen(raw) + 1);

    for (const char *p = raw; *p != '\0'; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    if (clean == NULL) {
        snprintf(out, outlen, "upload");
        return;
    }
    for (const unsigned char *p = (const unsigned char *)base; *p != '\0';) {
        size_t n = utf8_seq(p);

        if (n == 0) { /* a byte that is not UTF-8: dropped */
            p++;
            continue;
        }
        if (!unwanted(p, n)) {
            memcpy(clean + len, p, n);
            len += n;
        }
        p += n;
    }
    clean[len] = '\0';
    while (len > 0 && clean[len - 1] == ' ')
        clean[--len] = '\0';
    lead = strspn(clean, " ");
    memmove(clean, clean + lead, len - lead + 1);
    len -= lead;
    if (strspn(clean, ".") == len) { /* "", ".", ".." */
        snprintf(out, outlen, "upload");
        free(clean);
        return;
    }
    if (len < outlen) {
        memcpy(out, clean, len + 1);
        free(clean);
        return;
    }
    /* Too long: cut the stem, on a character boundary, and keep a short
     * extension, which says what the file is. */
    dot = strrchr(clean, '.');
    if (dot != NULL && dot != clean && strlen(dot) <= EXT_KEEP_MAX && strlen(dot) <= outlen / 2) {
        size_t ext = strlen(dot);

        clean[dot - clean] = '\0'; /* the stem alone, for utf8_prefix_len() */
        keep = utf8_prefix_len(clean, outlen - 1 - ext);
        clean[dot - clean] = '.';
        memcpy(out, clean, keep);
        memcpy(out + keep, dot, ext + 1);
    } else {
        keep = utf8_prefix_len(clean, outlen - 1);
        memcpy(out, clean, keep);
        out[keep] = '\0';
    }
    free(clean);
}

void
file_disposition(struct buf *b, const char *name)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;
    size_t start;

    if (name == NULL || name[0] == '\0')
        name = "download";
    /* The fallback for clients without RFC 5987: a quoted string that can
     * hold no quote, backslash, line break or path, one _ per character
     * replaced. */
    buf_put(b, "attachment; filename=\"");
    start = b->len;
    for (p = (const unsigned char *)name; *p != '\0'; p++) {
        if (*p >= 0x80 && *p < 0xc0)
            continue; /* the rest of a character already replaced */
        if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' && *p != '/' && *p != '%')
            buf_putn(b, (const char *)p, 1);
        else
            buf_put(b, "_");
    }
    if (b->len == start)
        buf_put(b, "_");
    buf_put(b, "\"; filename*=UTF-8''");
    for (p = (const unsigned char *)name; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            buf_putn(b, (const char *)p, 1);
        } else {
            char pct[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            buf_putn(b, pct, 3);
        }
    }
}

const char *
file_target(const char *to)
{
    const char *f = convert_format_of_ext(to);

    for (size_t i = 0; f != NULL && i < N_TARGETS; i++)
        if (strcmp(targets[i].format, f) == 0)
            return targets[i].format;
    return NULL;
}

/* The message naming the targets, for a 400. */
#define TARGETS_TEXT "json, csv, xml, html, txt, png, jpeg (or jpg), webp or pdf"

int
file_convert_req(const cJSON *body, struct file_convert_req *c, char *err, size_t errlen)
{
    static const char *const fields[] = {"file_id", "to", "options"};
    int seen[3] = {0};
    const cJSON *f, *id, *to, *options;

    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(body)) {
        snprintf(err, errlen, "the request body must be a JSON object, not %s",
                 api_type_name(body));
        return -1;
    }
    cJSON_ArrayForEach(f, body)
    {
        size_t i;

        for (i = 0; i < 3 && strcmp(f->string, fields[i]) != 0; i++)
            ;
        if (i == 3) {
            snprintf(err, errlen,
                     "unknown field '%.*s%s': allowed fields are file_id, to and options",
                     (int)utf8_prefix_len(f->string, 40), f->string,
                     strlen(f->string) > 40 ? "..." : "");
            return -1;
        }
        if (++seen[i] > 1) {
            snprintf(err, errlen, "field '%s' appears more than once", fields[i]);
            return -1;
        }
    }
    id = cJSON_GetObjectItemCaseSensitive(body, "file_id");
    to = cJSON_GetObjectItemCaseSensitive(body, "to");
    options = cJSON_GetObjectItemCaseSensitive(body, "options");
    if (id == NULL) {
        snprintf(err, errlen, "'file_id' is required: the id POST /api/files answered");
        return -1;
    }
    if (!cJSON_IsString(id) || !uuid_is_valid(id->valuestring)) {
        snprintf(err, errlen,
                 "'file_id' must be a file id (a UUID such as "
                 "0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f10)");
        return -1;
    }
    if (to == NULL) {
        snprintf(err, errlen, "'to' is required: the target format, one of " TARGETS_TEXT);
        return -1;
    }
    if (!cJSON_IsString(to) || (c->to = file_target(to->valuestring)) == NULL) {
        snprintf(err, errlen, "'to' must be one of " TARGETS_TEXT);
        return -1;
    }
    if (options != NULL && !cJSON_IsNull(options) && !cJSON_IsObject(options)) {
        snprintf(err, errlen, "'options' must be a JSON object, not %s", api_type_name(options));
        return -1;
    }
    c->file_id = id->valuestring;
    c->options = cJSON_IsObject(options) ? options : NULL;
    return 0;
}

static bool
given(const char *s)
{
    return s != NULL && s[strspn(s, " \t\r\n")] != '\0';
}

/* Set key to a whole number from the form, within [lo, hi]. */
static int
int_field(cJSON *o, const char *key, const char *text, int lo, int hi, char *err, size_t errlen)
{
    int v;

    if (!given(text))
        return 0;
    if (cfg_parse_int(text + strspn(text, " "), lo, hi, &v) < 0) {
        snprintf(err, errlen, "%s must be a whole number from %d to %d", key, lo, hi);
        return -1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    cJSON_AddNumberToObject(o, key, v);
    return 0;
}

int
file_options_from_form(const char *options, const char *delimiter, const char *width,
                       const char *height, const char *quality, cJSON **out, char *err,
                       size_t errlen)
{
    cJSON *o = NULL;
    char why[256];

    *out = NULL;
    if (given(options)) {
        o = json_parse(options, strlen(options), why, sizeof why);
        if (o == NULL) {
            snprintf(err, errlen, "options is not valid JSON: %s", why);
            return -1;
        }
        if (!cJSON_IsObject(o)) {
            snprintf(err, errlen, "options must be a JSON object, not %s", api_type_name(o));
            cJSON_Delete(o);
            return -1;
        }
    } else {
        o = cJSON_CreateObject();
    }
    if (given(delimiter)) {
        const char *d = strcmp(delimiter, "tab") == 0 ? "\t" : delimiter;

        if (strlen(d) != 1 || strchr(",;|\t", d[0]) == NULL) {
            snprintf(err, errlen, "delimiter must be one of , ; | or tab");
            cJSON_Delete(o);
            return -1;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(o, "delimiter");
        cJSON_AddStringToObject(o, "delimiter", d);
    }
    if (int_field(o, "width", width, 1, 100000, err, errlen) < 0 ||
        int_field(o, "height", height, 1, 100000, err, errlen) < 0 ||
        int_field(o, "quality", quality, 1, 100, err, errlen) < 0) {
        cJSON_Delete(o);
        return -1;
    }
    if (o == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = o;
    return 0;
}

/* ----- uploads: checking, storing, converting ----- */

/* What an upload came to once stored. */
struct stored {
    char id[UUID_STR_LEN];
    char sha256[65];
    const char *format;       /* NULL: not identified (warning says why) */
    const char *content_type; /* from the bytes */
    char warning[CONVERT_ERROR_MAX];
};

/* The HTTP status of an upload that cannot be stored, with the reason in
 * err; 0 when it can. */
static unsigned int
upload_check(const struct upload *u, char *err, size_t errlen)
{
    if (u->not_multipart) {
        snprintf(err, errlen, "send the file as multipart/form-data, in a field named \"file\"");
        return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
    }
    if (u->too_big) {
        snprintf(err, errlen,
                 "the file is larger than %llu bytes (WEBAPP_UPLOAD_MAX): nothing was "
                 "stored",
                 (unsigned long long)u->max);
        return MHD_HTTP_CONTENT_TOO_LARGE;
    }
    if (u->field_too_big) {
        snprintf(err, errlen, "a form field other than the file is larger than %d bytes",
                 UPLOAD_FIELD_MAX);
        return MHD_HTTP_CONTENT_TOO_LARGE;
    }
    if (u->io_errno != 0) {
        snprintf(err, errlen, "the upload could not be kept: %s", strerror(u->io_errno));
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    if (u->files > 1) {
        snprintf(err, errlen, "send one file per request: the field \"file\" came more than once");
        return MHD_HTTP_BAD_REQUEST;
    }
    if (u->malformed) {
        snprintf(err, errlen,
                 "the multipart/form-data body could not be read (a boundary "
                 "missing, or the body cut short)");
        return MHD_HTTP_BAD_REQUEST;
    }
    if (u->has_nul) {
        snprintf(err, errlen, "form values must not contain NUL characters");
        return MHD_HTTP_BAD_REQUEST;
    }
    if (u->files == 0) {
        snprintf(err, errlen, "no file: send it in the multipart/form-data field \"file\"");
        return MHD_HTTP_BAD_REQUEST;
    }
    if (u->size == 0) {
        snprintf(err, errlen, "the file is empty (or none was chosen)");
        return MHD_HTTP_BAD_REQUEST;
    }
    return 0;
}

/* The conversion an upload form asks for: *to NULL when its "to" field is
 * empty or absent, else the target and *options (caller frees). The HTTP
 * status of a bad request (err says why), or 0. */
static unsigned int
upload_conversion(const struct upload *u, const char **to, cJSON **options, char *err,
                  size_t errlen)
{
    *to = NULL;
    *options = NULL;
    if (!given(u->to.data)) {
        if (given(u->options.data) || given(u->delimiter.data) || given(u->width.data) ||
            given(u->height.data) || given(u->quality.data)) {
            snprintf(err, errlen, "conversion options were sent without \"to\", the target format");
            return MHD_HTTP_BAD_REQUEST;
        }
        return 0;
    }
    if ((*to = file_target(u->to.data)) == NULL) {
        snprintf(err, errlen, "\"to\" must be one of " TARGETS_TEXT);
        return MHD_HTTP_BAD_REQUEST;
    }
    if (file_options_from_form(u->options.data, u->delimiter.data, u->width.data, u->height.data,
                               u->quality.data, options, err, errlen) < 0)
        return MHD_HTTP_BAD_REQUEST;
    return 0;
}

/* Identify the upload and store it. The HTTP status of a failure (err says
 * why), or 0. */
static unsigned int
upload_store(struct app *a, struct upload *u, struct stored *s, char *err, size_t errlen)
{
    struct store_file_in in = {0};
    char why[512];
    PGconn *db;
    int rc;

    /* The format from the bytes checked against the name; one that cannot
     * be told is stored all the same (format null): a conversion of it
     * fails with this reason. The content type is the bytes' word alone. */
    s->warning[0] = '\0';
    s->format = convert_identify(u->head, u->head_len, u->name, s->warning, sizeof s->warning);
    s->content_type =
        convert_mime(s->format != NULL ? s->format : convert_sniff(u->head, u->head_len));
    uuid_new(s->id);
    in.id = s->id;
    in.name = u->name;
    in.format = s->format;
    in.content_type = s->content_type;
    in.fd = u->fd;
    in.size = u->size;
    if (!dbpool_bulk_enter(a->db, WEBAPP_DB_WAIT_MS)) {
        snprintf(err, errlen, "too many uploads are being stored at once; try again");
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    if (db == NULL) {
        dbpool_bulk_leave(a->db);
        snprintf(err, errlen, "database unavailable: %s", why);
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    rc = store_file_put(db, &in, s->sha256);
    dbpool_put(a->db, db);
    dbpool_bulk_leave(a->db);
    if (rc == STORE_BAD_DATA) {
        snprintf(err, errlen, "PostgreSQL refused the file's values; nothing was stored");
        return MHD_HTTP_BAD_REQUEST;
    }
    if (rc != STORE_OK) {
        snprintf(err, errlen, "database unavailable while storing the file; nothing was stored");
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    log_info("stored file %s: %llu bytes, %s, %s", s->id, (unsigned long long)u->size,
             s->format != NULL ? s->format : "format unknown", s->content_type);
    return 0;
}

/* Enqueue convert.file(file_id, to, options=options) as POST /api/tasks
 * would: an enqueue_rc, the new task's id in id. */
static int
convert_enqueue(struct app *a, const char *file_id, const char *to, const cJSON *options,
                char id[UUID_STR_LEN], bool *unconfirmed, char *err, size_t errlen)
{
    struct enqueue_req req = {.name = CONVERT_TASK}; /* queue NULL: by name, "convert" */
    cJSON *args = cJSON_CreateArray(), *kwargs = cJSON_CreateObject();
    cJSON *opts = options != NULL ? cJSON_Duplicate(options, true) : cJSON_CreateObject();
    int rc = ENQUEUE_DB_DOWN;

    if (args == NULL || kwargs == NULL || opts == NULL ||
        !cJSON_AddItemToArray(args, cJSON_CreateString(file_id)) ||
        !cJSON_AddItemToArray(args, cJSON_CreateString(to)) ||
        !cJSON_AddItemToObject(kwargs, "options", opts)) {
        snprintf(err, errlen, "out of memory");
        if (cJSON_GetObjectItemCaseSensitive(kwargs, "options") == NULL)
            cJSON_Delete(opts);
        goto out;
    }
    req.args = args;
    req.kwargs = kwargs;
    rc = app_enqueue(a, &req, id, unconfirmed, err, errlen);
    if (rc == ENQUEUE_OK)
        log_task(LL_INFO, id, "convert.file %s to %s", file_id, to);
out:
    cJSON_Delete(args);
    cJSON_Delete(kwargs);
    return rc;
}

/* The stored file as the API describes it. */
static cJSON *
stored_json(const struct upload *u, const struct stored *s)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "file_id", s->id);
    cJSON_AddStringToObject(o, "name", u->name);
    if (s->format != NULL)
        cJSON_AddStringToObject(o, "format", s->format);
    else
        cJSON_AddNullToObject(o, "format");
    cJSON_AddStringToObject(o, "content_type", s->content_type);
    cJSON_AddNumberToObject(o, "size", (double)u->size);
    cJSON_AddStringToObject(o, "sha256", s->sha256);
    if (s->format == NULL)
        cJSON_AddStringToObject(o, "warning", s->warning);
    return o;
}

/* ----- the JSON API ----- */

void
api_file_upload(struct app *a, struct request *r, struct response *resp)
{
    struct upload *u = &r->upload;
    struct stored s;
    const char *to;
    cJSON *options = NULL, *out = NULL;
    char err[1024], task_id[UUID_STR_LEN];
    unsigned int status;
    bool unconfirmed;
    int rc;

    /* Everything that can be refused is refused before anything is stored. */
    if ((status = upload_check(u, err, sizeof err)) != 0 ||
        (status = upload_conversion(u, &to, &options, err, sizeof err)) != 0 ||
        (status = upload_store(a, u, &s, err, sizeof err)) != 0) {
        api_error(resp, status, "%s", err);
        goto out;
    }
    out = stored_json(u, &s);
    if (to == NULL) {
        api_json(resp, MHD_HTTP_CREATED, out);
        snprintf(resp->location, sizeof resp->location, "/api/files/%s", s.id);
        goto out;
    }
    rc = convert_enqueue(a, s.id, to, options, task_id, &unconfirmed, err, sizeof err);
    if (rc != ENQUEUE_OK) {
        /* The file stays: POST /api/convert can ask again. */
        char msg[1200];

        snprintf(msg, sizeof msg, "the file was stored but its conversion could not be queued: %s",
                 err);
        text_one_line(msg);
        cJSON_AddStringToObject(out, "error", msg);
        api_json(resp, app_enqueue_status(rc), out);
        if (rc != ENQUEUE_INVALID)
            resp->retry_after = 5;
        goto out;
    }
    cJSON_AddStringToObject(out, "task_id", task_id);
    cJSON_AddStringToObject(out, "to", to);
    cJSON_AddBoolToObject(out, "confirmed", !unconfirmed);
    api_json(resp, MHD_HTTP_ACCEPTED, out);
    snprintf(resp->location, sizeof resp->location, "/api/tasks/%s", task_id);
out:
    cJSON_Delete(options);
    cJSON_Delete(out);
}

void
api_convert_create(struct app *a, struct request *r, struct response *resp)
{
    struct file_convert_req c;
    char err[1024], why[256], id[UUID_STR_LEN];
    cJSON *body = NULL, *file = NULL, *out = NULL;
    bool unconfirmed;
    PGconn *db;
    int rc;

    if (r->too_big) {
        api_error(resp, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is larger than %d bytes",
                  WEBAPP_BODY_MAX);
        return;
    }
    if (r->body.len == 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST,
                  "the request body is empty: send a JSON object "
                  "such as {\"file_id\": \"...\", \"to\": \"json\"}");
        return;
    }
    if ((body = json_parse(r->body.data, r->body.len, why, sizeof why)) == NULL) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "the request body is not valid JSON: %s", why);
        return;
    }
    if (file_convert_req(body, &c, err, sizeof err) < 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "%s", err);
        goto out;
    }
    if ((db = api_db_or_503(a, resp)) == NULL)
        goto out;
    file = store_file_get(db, c.file_id, &rc);
    dbpool_put(a->db, db);
    if (file == NULL) {
        if (rc == STORE_NOT_FOUND)
            api_error(resp, MHD_HTTP_NOT_FOUND, "no such file: %s", c.file_id);
        else
            api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "database unavailable while reading "
                      "the file");
        goto out;
    }
    /* The pair is the task's to judge: it fails with a clear error. */
    rc = convert_enqueue(a, c.file_id, c.to, c.options, id, &unconfirmed, err, sizeof err);
    if (rc != ENQUEUE_OK) {
        api_error(resp, app_enqueue_status(rc), "%s", err);
        goto out;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "task_id", id);
    cJSON_AddStringToObject(out, "file_id", c.file_id);
    cJSON_AddStringToObject(out, "to", c.to);
    cJSON_AddBoolToObject(out, "confirmed", !unconfirmed);
    api_json(resp, MHD_HTTP_ACCEPTED, out);
    snprintf(resp->location, sizeof resp->location, "/api/tasks/%s", id);
out:
    cJSON_Delete(body);
    cJSON_Delete(file);
    cJSON_Delete(out);
}

/* The targets to offer: those some online worker can produce, or, when no
 * worker says (none online, or an older one without the list), every
 * target but pdf (office documents need soffice on a worker). */
static bool
offered(const cJSON *offers, const char *format)
{
    const cJSON *conv = cJSON_GetObjectItemCaseSensitive(offers, "conversions"), *from, *to;

    if (cJSON_GetArraySize(conv) == 0)
        return strcmp(format, "pdf") != 0;
    cJSON_ArrayForEach(from, conv)
    {
        cJSON_ArrayForEach(to, from)
        {
            if (cJSON_IsString(to) && strcmp(to->valuestring, format) == 0)
                return true;
        }
    }
    return false;
}

void
api_convert_offers(struct app *a, struct request *r, struct response *resp)
{
    cJSON *offers, *list;
    PGconn *db;
    int rc;

    (void)r;
    if ((db = api_db_or_503(a, resp)) == NULL)
        return;
    offers = store_conversion_offers(db, &rc);
    dbpool_put(a->db, db);
    if (offers == NULL) {
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE,
                  "database unavailable while reading what the workers convert");
        return;
    }
    list = cJSON_AddArrayToObject(offers, "targets");
    for (size_t i = 0; i < N_TARGETS; i++)
        if (offered(offers, targets[i].format))
            cJSON_AddItemToArray(list, cJSON_CreateString(targets[i].format));
    cJSON_AddNumberToObject(offers, "upload_max", (double)a->upload_max);
    api_json(resp, MHD_HTTP_OK, offers);
    cJSON_Delete(offers);
}

/* ?limit=&offset= of the file and conversion lists. */
static int
list_params(struct request *r, int *limit, int *offset, char *err, size_t errlen)
{
    const char *l = http_query(r, "limit"), *o = http_query(r, "offset");

    *limit = WEBAPP_LIST_DEFAULT;
    *offset = 0;
    if (l != NULL && l[0] != '\0' && cfg_parse_int(l, 1, FILES_LIMIT_MAX, limit) < 0) {
        snprintf(err, errlen, "invalid limit: use a whole number from 1 to %d", FILES_LIMIT_MAX);
        return -1;
    }
    if (o != NULL && o[0] != '\0' && cfg_parse_int(o, 0, FILES_OFFSET_MAX, offset) < 0) {
        snprintf(err, errlen, "invalid offset: use a whole number from 0 to %d", FILES_OFFSET_MAX);
        return -1;
    }
    return 0;
}

void
api_file_list(struct app *a, struct request *r, struct response *resp)
{
    char why[256];
    int limit, offset, rc;
    cJSON *out;
    PGconn *db;

    if (list_params(r, &limit, &offset, why, sizeof why) < 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "%s", why);
        return;
    }
    if ((db = api_db_or_503(a, resp)) == NULL)
        return;
    out = store_files_list(db, limit, offset, &rc);
    dbpool_put(a->db, db);
    if (out == NULL) {
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable while listing files");
        return;
    }
    cJSON_AddNumberToObject(out, "limit", limit);
    cJSON_AddNumberToObject(out, "offset", offset);
    api_json(resp, MHD_HTTP_OK, out);
    cJSON_Delete(out);
}

/* A file's metadata, or NULL with the error answered: JSON when json, else
 * a page. */
static cJSON *
file_meta_or_error(struct app *a, struct request *r, struct response *resp, bool json)
{
    char why[512];
    cJSON *meta = NULL;
    int rc = STORE_NOT_FOUND;
    PGconn *db;

    /* An id that is not a UUID names no file: 404, like an unknown one. */
    if (uuid_is_valid(r->id)) {
        db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
        if (db == NULL) {
            rc = STORE_ERR;
        } else {
            meta = store_file_get(db, r->id, &rc);
            dbpool_put(a->db, db);
        }
    }
    if (meta != NULL)
        return meta;
    if (rc == STORE_NOT_FOUND && json)
        api_error(resp, MHD_HTTP_NOT_FOUND, "no such file");
    else if (rc == STORE_NOT_FOUND)
        page_error(resp, MHD_HTTP_NOT_FOUND, "No such file", "There is no file with this id.");
    else if (json)
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE,
                  "database unavailable while reading the "
                  "file");
    else
        page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Database unavailable",
                   "The file cannot be read right now; try again in a moment.");
    return NULL;
}

void
api_file_meta(struct app *a, struct request *r, struct response *resp)
{
    cJSON *meta = file_meta_or_error(a, r, resp, true);

    if (meta == NULL)
        return;
    api_json(resp, MHD_HTTP_OK, meta);
    cJSON_Delete(meta);
}

/* ----- downloads ----- */

/* One download as MHD asks for it. The bytes are read in chunks, each with a
 * connection borrowed from the pool for that query alone, on a handler
 * thread: the content reader runs on an I/O thread (server.c), which must
 * never wait for PostgreSQL. When the reader needs a chunk it does not hold,
 * it suspends the connection and queues fetch_chunk(), which reads the chunk
 * and resumes the connection; MHD then calls the reader again. The two never
 * run at once (the connection stays suspended meanwhile), so the chunk needs
 * no lock: the resume hands it over. */
struct download {
    struct work work; /* fetch_chunk() */
    struct app *app;
    struct MHD_Connection *conn;
    char id[UUID_STR_LEN];
    char content_type[128];
    uint64_t size;
    unsigned char *chunk; /* chunk_len bytes of the file from chunk_off */
    size_t chunk_cap, chunk_len;
    uint64_t chunk_off;
    uint64_t want; /* the position fetch_chunk() reads from */
    bool failed;   /* the last fetch failed (logged): the reader ends the answer short */
};

/* On a handler thread: read the chunk at d->want, then wake the connection. */
static void
fetch_chunk(struct work *w)
{
    struct download *d = (struct download *)(void *)w; /* work is the first member */
    size_t want = d->size - d->want < d->chunk_cap ? (size_t)(d->size - d->want) : d->chunk_cap;
    char why[512];
    PGconn *db;
    int rc = STORE_ERR;

    d->chunk_len = 0;
    db = dbpool_get(d->app->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    if (db == NULL) {
        log_warn("download of file %s cut at byte %llu: %s", d->id, (unsigned long long)d->want,
                 why);
    } else {
        rc = store_file_read(db, d->id, d->want, d->chunk, want, &d->chunk_len);
        dbpool_put(d->app->db, db);
        if (rc != STORE_OK || d->chunk_len == 0)
            /* Deleted meanwhile, or the database went away: the client sees
             * a body shorter than its Content-Length. */
            log_warn("download of file %s cut at byte %llu: %s", d->id,
                     (unsigned long long)d->want,
                     rc == STORE_OK || rc == STORE_NOT_FOUND ? "the file is gone"
                                                             : "database error");
    }
    d->failed = rc != STORE_OK || d->chunk_len == 0;
    if (d->failed)
        d->chunk_len = 0;
    d->chunk_off = d->want;
    MHD_resume_connection(d->conn);
}

static ssize_t
download_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct download *d = cls;
    size_t n;

    if (pos >= d->size)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (pos < d->chunk_off || pos >= d->chunk_off + d->chunk_len) {
        if (d->failed)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (d->chunk == NULL && (d->chunk = malloc(d->chunk_cap)) == NULL) {
            log_error("download of file %s: out of memory", d->id);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (!server_reserve(d->app->server)) {
            log_warn("download of file %s cut at byte %llu: the server is busy or stopping", d->id,
                     (unsigned long long)pos);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        d->want = pos;
        /* Suspend first: fetch_chunk()'s resume must never come before it. */
        MHD_suspend_connection(d->conn);
        server_push(d->app->server, &d->work);
        return 0; /* MHD calls again once fetch_chunk() resumed the connection */
    }
    n = (size_t)(d->chunk_off + d->chunk_len - pos);
    if (n > max)
        n = max;
    memcpy(buf, d->chunk + (pos - d->chunk_off), n);
    return (ssize_t)n;
}

static void
download_free(void *cls)
{
    struct download *d = cls;

    if (d != NULL)
        free(d->chunk);
    free(d);
}

void
api_file_download(struct app *a, struct request *r, struct response *resp)
{
    bool json = r->route->json;
    cJSON *meta = file_meta_or_error(a, r, resp, json);
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(meta, "size");
    struct download *d;
    struct buf disp = {0};

    if (meta == NULL)
        return;
    d = calloc(1, sizeof *d);
    if (d == NULL || !cJSON_IsNumber(size) || size->valuedouble < 0)
        goto fail;
    d->work.fn = fetch_chunk;
    d->app = a;
    d->conn = r->conn;
    snprintf(d->id, sizeof d->id, "%.36s", r->id); /* a valid UUID: 36 characters */
    snprintf(d->content_type, sizeof d->content_type, "%s",
             json_str(meta, "content_type") != NULL ? json_str(meta, "content_type")
                                                    : "application/octet-stream");
    d->size = (uint64_t)size->valuedouble;
    /* Few queries for a large file (a compressed value is decompressed up to
     * each piece read), little memory for a small one. */
    d->chunk_cap = d->size / 16;
    if (d->chunk_cap < DOWNLOAD_CHUNK_MIN)
        d->chunk_cap = DOWNLOAD_CHUNK_MIN;
    if (d->chunk_cap > DOWNLOAD_CHUNK_MAX)
        d->chunk_cap = DOWNLOAD_CHUNK_MAX;
    if (d->chunk_cap > d->size && d->size > 0)
        d->chunk_cap = (size_t)d->size;
    file_disposition(&disp, json_str(meta, "name"));
    if (disp.oom)
        goto fail;
    resp->status = MHD_HTTP_OK;
    resp->content_type = d->content_type; /* d lives until MHD is done with the answer */
    resp->disposition = disp.data;
    /* Never run in our origin: an uploaded HTML or SVG page gets no script,
     * no subresource and an origin of its own if a browser shows it. */
    resp->csp = "sandbox; default-src 'none'";
    resp->cache_control = "private, max-age=86400"; /* a file id's bytes never change */
    resp->stream_fn = download_read;
    resp->stream_free = download_free;
    resp->stream_cls = d;
    resp->stream_len = d->size;
    cJSON_Delete(meta);
    return;
fail:
    buf_fini(&disp);
    download_free(d);
    if (json)
        api_error(resp, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    else
        page_error(resp, MHD_HTTP_INTERNAL_SERVER_ERROR, "Out of memory", "Try again.");
    cJSON_Delete(meta);
}

/* ----- pages ----- */

/* 1234567 as "1.2 MB"; bytes below 10 kB as bytes. */
static void
put_size(struct buf *b, double bytes)
{
    if (bytes < 10000)
        buf_printf(b, "%.0f bytes", bytes);
    else if (bytes < 10e6)
        buf_printf(b, "%.1f kB", bytes / 1e3);
    else
        buf_printf(b, "%.1f MB", bytes / 1e6);
}

/* <a href="/files/ID" download>name</a> (size), or a dash for no valid id. */
static void
put_download(struct buf *b, const char *id, const char *name, const cJSON *size)
{
    if (id == NULL || !uuid_is_valid(id)) {
        buf_put(b, "&mdash;");
        return;
    }
    buf_put(b, "<a href=\"/files/");
    html_esc(b, id);
    buf_put(b, "\" download>");
    html_esc(b, name != NULL ? name : id);
    buf_put(b, "</a>");
    if (cJSON_IsNumber(size)) {
        buf_put(b, " <span class=\"hint\">");
        put_size(b, size->valuedouble);
        buf_put(b, "</span>");
    }
}

/* A file row's download link. */
static void
put_file_link(struct buf *b, const cJSON *f)
{
    put_download(b, json_str(f, "id"), json_str(f, "name"),
                 cJSON_GetObjectItemCaseSensitive(f, "size"));
}

/* A task's progress bar while it runs and has reported, else nothing. */
static void
put_progress(struct buf *b, const char *state, const cJSON *progress)
{
    if (state == NULL || strcmp(state, "STARTED") != 0 || !cJSON_IsNumber(progress))
        return;
    buf_put(b, " ");
    html_progress(b, (int)progress->valuedouble);
}

/* The select's options: the targets on offer, by group. */
static void
put_target_select(struct buf *b, const cJSON *offers, const char *chosen)
{
    const char *group = NULL;

    buf_put(b, "<select id=\"to\" name=\"to\" required>\n<option value=\"\">choose a format"
               "</option>\n");
    for (size_t i = 0; i < N_TARGETS; i++) {
        if (!offered(offers, targets[i].format))
            continue;
        if (group == NULL || strcmp(group, targets[i].group) != 0) {
            buf_printf(b, "%s<optgroup label=\"%s\">\n", group != NULL ? "</optgroup>\n" : "",
                       targets[i].group);
            group = targets[i].group;
        }
        buf_printf(b, "<option value=\"%s\"%s>%s</option>\n", targets[i].format,
                   chosen != NULL && strcmp(chosen, targets[i].format) == 0 ? " selected" : "",
                   targets[i].label);
    }
    buf_printf(b, "%s</select>\n", group != NULL ? "</optgroup>\n" : "");
}

/* The form's values to show again after an error (NULL: none). */
struct convert_form {
    const char *to, *delimiter, *width, *height, *quality;
};

static void
put_input(struct buf *b, const char *name, const char *label, const char *value, int min, int max)
{
    buf_printf(b,
               "<label for=\"%s\">%s <span class=\"hint\">(optional, %d-%d)</span></label>\n"
               "<input id=\"%s\" name=\"%s\" type=\"number\" min=\"%d\" max=\"%d\" value=\"",
               name, label, min, max, name, name, min, max);
    html_esc(b, value != NULL ? value : "");
    buf_put(b, "\">\n");
}

static void
put_convert_form(struct buf *b, const struct app *a, const cJSON *offers,
                 const struct convert_form *f)
{
    static const char *const delims[][2] = {{"", "default (,)"},
                                            {",", ", comma"},
                                            {";", "; semicolon"},
                                            {"|", "| bar"},
                                            {"tab", "tab"}};
    const cJSON *conv = cJSON_GetObjectItemCaseSensitive(offers, "conversions"), *from, *to;

    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(offers, "online")))
        buf_put(b, "<p class=\"error\">No conversion worker is online. A file sent now is stored "
                   "and its conversion waits in the <code>convert</code> queue until a worker "
                   "consuming it starts.</p>\n");
    buf_put(b, "<form class=\"task\" method=\"post\" action=\"/convert\" "
               "enctype=\"multipart/form-data\">\n<label for=\"file\">File</label>\n"
               "<input id=\"file\" name=\"file\" type=\"file\" required>\n");
    buf_printf(b,
               "<p class=\"hint\">At most %llu bytes; its format is told from its bytes "
               "and checked against its name.</p>\n",
               (unsigned long long)a->upload_max);
    buf_put(b, "<label for=\"to\">Convert to</label>\n");
    put_target_select(b, offers, f->to);
    buf_put(b, "<label for=\"delimiter\">CSV delimiter <span class=\"hint\">(CSV to or from "
               "JSON)</span></label>\n<select id=\"delimiter\" name=\"delimiter\">\n");
    for (size_t i = 0; i < sizeof delims / sizeof delims[0]; i++) {
        buf_printf(b, "<option value=\"%s\"%s>", delims[i][0],
                   f->delimiter != NULL && strcmp(f->delimiter, delims[i][0]) == 0 ? " selected"
                                                                                   : "");
        html_esc(b, delims[i][1]);
        buf_put(b, "</option>\n");
    }
    buf_put(b, "</select>\n");
    put_input(b, "width", "Width in pixels", f->width, 1, 100000);
    put_input(b, "height", "Height in pixels", f->height, 1, 100000);
    put_input(b, "quality", "JPEG/WebP quality", f->quality, 1, 100);
    buf_put(b, "<p class=\"hint\">An image is fitted inside the width and height (one of them "
               "keeps its ratio), never enlarged.</p>\n"
               "<button type=\"submit\">Upload and convert</button>\n</form>\n");
    if (cJSON_GetArraySize(conv) > 0) {
        buf_put(b, "<h2>What the workers convert</h2>\n<table>\n<tr><th>From</th><th>To</th>"
                   "</tr>\n");
        cJSON_ArrayForEach(from, conv)
        {
            bool first = true;

            buf_put(b, "<tr><td>");
            html_esc(b, from->string);
            buf_put(b, "</td><td>");
            cJSON_ArrayForEach(to, from)
            {
                if (!cJSON_IsString(to))
                    continue;
                buf_put(b, first ? "" : ", ");
                html_esc(b, to->valuestring);
                first = false;
            }
            buf_put(b, "</td></tr>\n");
        }
        buf_put(b, "</table>\n");
    }
}

static void
put_conversion_row(struct buf *b, const cJSON *c)
{
    const char *task = json_str(c, "task_id"), *state = json_str(c, "state"),
               *error = json_str(c, "error"), *created = json_str(c, "created_at");
    const cJSON *source = cJSON_GetObjectItemCaseSensitive(c, "source"),
                *output = cJSON_GetObjectItemCaseSensitive(c, "output");

    buf_put(b, "<tr");
    if (task != NULL && uuid_is_valid(task)) {
        buf_put(b, " data-task=\"");
        html_esc(b, task);
        buf_put(b, "\" data-state=\"");
        html_esc(b, state != NULL ? state : "");
        buf_put(b, "\"");
    }
    buf_put(b, "><td>");
    if (cJSON_IsObject(source))
        put_file_link(b, source);
    else
        buf_put(b, json_str(c, "source_id") != NULL ? "<span class=\"hint\">(deleted)</span>"
                                                    : "&mdash;");
    buf_put(b, "</td><td>");
    html_esc(b, json_str(c, "to") != NULL ? json_str(c, "to") : "?");
    buf_put(b, "</td><td class=\"output-cell\">");
    if (cJSON_IsObject(output))
        put_file_link(b, output);
    else if (error != NULL)
        html_esc_short(b, error, ERROR_SHORT);
    else
        buf_put(b, "&mdash;");
    buf_put(b, "</td><td class=\"state-cell\">");
    html_state(b, state != NULL ? state : "");
    put_progress(b, state, cJSON_GetObjectItemCaseSensitive(c, "progress"));
    buf_put(b, "</td><td>");
    html_time(b, created != NULL ? created : "");
    buf_put(b, "</td><td>");
    if (task != NULL && uuid_is_valid(task)) {
        buf_put(b, "<a class=\"id\" href=\"/tasks/");
        html_esc(b, task);
        buf_put(b, "\">");
        buf_putn(b, task, 8);
        buf_put(b, "</a>");
    }
    buf_put(b, "</td></tr>\n");
}

static void
put_pager(struct buf *b, int limit, int offset, int n, double total)
{
    buf_put(b, "<p class=\"pager\">");
    if (offset > 0)
        buf_printf(b, "<a rel=\"prev\" href=\"/convert?limit=%d&amp;offset=%d\">&larr; Newer</a>",
                   limit, offset > limit ? offset - limit : 0);
    if ((double)(offset + n) < total && offset + limit <= FILES_OFFSET_MAX)
        buf_printf(b, "<a rel=\"next\" href=\"/convert?limit=%d&amp;offset=%d\">Older &rarr;</a>",
                   limit, offset + limit);
    buf_put(b, "</p>\n");
}

/* The /convert page at status: the form (with error and the values sent,
 * when given) and a page of the recent conversions. */
static void
convert_page(struct app *a, struct response *resp, unsigned int status, int limit, int offset,
             const struct convert_form *f, const char *error)
{
    static const struct convert_form none = {0};
    struct buf *b = &resp->body;
    cJSON *offers = NULL, *list = NULL;
    const cJSON *convs, *c;
    char why[512];
    double total, read_at = clock_wall();
    int rc, n;
    PGconn *db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);

    if (db != NULL) {
        offers = store_conversion_offers(db, &rc);
        if (offers != NULL)
            list = store_conversions_list(db, limit, offset, &rc);
        dbpool_put(a->db, db);
    }
    if (list == NULL) {
        page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Database unavailable",
                   error != NULL ? error
                                 : "The conversions cannot be read right now; try again in a "
                                   "moment.");
        goto out;
    }
    buf_reset(b);
    html_response(resp, status);
    resp->csp = WEBAPP_SCRIPT_CSP; /* live.js follows the conversions' states */
    html_begin_live(b, "Convert a file", 0);
    buf_put(b, "<h1>Convert a file</h1>\n");
    if (error != NULL) {
        buf_put(b, "<p class=\"error\" role=\"alert\">");
        html_esc(b, error);
        buf_put(b, "</p>\n");
    }
    put_convert_form(b, a, offers, f != NULL ? f : &none);
    convs = cJSON_GetObjectItemCaseSensitive(list, "conversions");
    total = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(list, "total"));
    n = cJSON_GetArraySize(convs);
    buf_put(b, "<h2>Recent conversions</h2>\n<p class=\"hint\" id=\"conversions-new\" hidden>"
               "New conversions were queued: <a href=\"/convert\">show them</a>.</p>\n");
    if (n == 0)
        buf_put(b, total > 0 ? "<p>No more conversions here.</p>\n"
                             : "<p class=\"hint\">No conversions yet.</p>\n");
    /* Hidden while empty: live.js still follows the stream to say when new
     * conversions come. */
    buf_printf(b, "<table data-live-conversions data-cursor=\"t%lld\"%s>\n<tr><th>File</th>"
                  "<th>To</th><th>Output</th><th>State</th><th>Queued</th><th>Task</th></tr>\n",
               (long long)(read_at * 1000.0), n == 0 ? " hidden" : "");
    cJSON_ArrayForEach(c, convs) { put_conversion_row(b, c); }
    buf_put(b, "</table>\n");
    if (n > 0)
        buf_printf(b, "<p class=\"hint\">%d&ndash;%d of %.0f, newest first.</p>\n", offset + 1,
                   offset + n, total);
    put_pager(b, limit, offset, n, total);
    html_end(b);
out:
    cJSON_Delete(offers);
    cJSON_Delete(list);
}

void
page_convert(struct app *a, struct request *r, struct response *resp)
{
    char why[256];
    int limit, offset;

    if (list_params(r, &limit, &offset, why, sizeof why) < 0) {
        page_error(resp, MHD_HTTP_BAD_REQUEST, "Invalid list", why);
        return;
    }
    convert_page(a, resp, MHD_HTTP_OK, limit, offset, NULL, NULL);
}

void
page_convert_create(struct app *a, struct request *r, struct response *resp)
{
    struct upload *u = &r->upload;
    struct convert_form f = {u->to.data, u->delimiter.data, u->width.data, u->height.data,
                             u->quality.data};
    struct stored s;
    const char *to;
    cJSON *options = NULL;
    char err[1024], id[UUID_STR_LEN];
    unsigned int status;
    bool unconfirmed;
    int rc;

    if ((status = upload_check(u, err, sizeof err)) != 0 ||
        (status = upload_conversion(u, &to, &options, err, sizeof err)) != 0) {
        /* Capitalised for the page: the API's messages start in lower case. */
        err[0] = (char)(err[0] >= 'a' && err[0] <= 'z' ? err[0] - 'a' + 'A' : err[0]);
        convert_page(a, resp, status, WEBAPP_LIST_DEFAULT, 0, &f, err);
        goto out;
    }
    if (to == NULL) {
        convert_page(a, resp, MHD_HTTP_BAD_REQUEST, WEBAPP_LIST_DEFAULT, 0, &f,
                     "Choose the format to convert to.");
        goto out;
    }
    if ((status = upload_store(a, u, &s, err, sizeof err)) != 0) {
        err[0] = (char)(err[0] >= 'a' && err[0] <= 'z' ? err[0] - 'a' + 'A' : err[0]);
        convert_page(a, resp, status, WEBAPP_LIST_DEFAULT, 0, &f, err);
        goto out;
    }
    rc = convert_enqueue(a, s.id, to, options, id, &unconfirmed, err, sizeof err);
    if (rc != ENQUEUE_OK) {
        char msg[1200];

        snprintf(msg, sizeof msg,
                 "The file was stored but its conversion could not be queued: "
                 "%s",
                 err);
        convert_page(a, resp, app_enqueue_status(rc), WEBAPP_LIST_DEFAULT, 0, &f, msg);
        goto out;
    }
    buf_reset(&resp->body);
    html_response(resp, MHD_HTTP_SEE_OTHER);
    snprintf(resp->location, sizeof resp->location, "/tasks/%s", id);
    html_begin(&resp->body, "Conversion queued", 0);
    buf_printf(&resp->body, "<p>Queued: <a href=\"/tasks/%s\">%s</a></p>\n", id, id);
    html_end(&resp->body);
out:
    cJSON_Delete(options);
}

void
page_put_task_files(struct buf *b, const cJSON *task)
{
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(task, "args"),
                *kwargs = cJSON_GetObjectItemCaseSensitive(task, "kwargs"),
                *result = cJSON_GetObjectItemCaseSensitive(task, "result");
    const char *name = json_str(task, "name"), *state = json_str(task, "state"), *source;
    const char *output = json_str(result, "output_file_id");

    if (name == NULL || strcmp(name, CONVERT_TASK) != 0)
        return;
    source = cJSON_GetStringValue(cJSON_GetArrayItem(args, 0));
    if (source == NULL)
        source = json_str(kwargs, "file_id");
    buf_put(b, "<h2>Files</h2>\n<dl>\n<dt>Source</dt><dd>");
    if (source != NULL && uuid_is_valid(source)) {
        buf_put(b, "<a class=\"id\" href=\"/files/");
        html_esc(b, source);
        buf_put(b, "\" download>");
        html_esc(b, source);
        buf_put(b, "</a> (<a href=\"/files/");
        html_esc(b, source);
        buf_put(b, "/about\">about</a>)");
    } else {
        buf_put(b, "&mdash;");
    }
    buf_put(b, "</dd>\n<dt>Output</dt><dd>");
    if (state != NULL && strcmp(state, "SUCCESS") == 0 && output != NULL && uuid_is_valid(output)) {
        put_download(b, output, json_str(result, "name"),
                     cJSON_GetObjectItemCaseSensitive(result, "size"));
        buf_put(b, " (<a href=\"/files/");
        html_esc(b, output);
        buf_put(b, "/about\">about</a>)");
    } else if (state != NULL && !store_state_final(state)) {
        buf_put(b, "<span class=\"hint\">not yet</span>");
        put_progress(b, state, cJSON_GetObjectItemCaseSensitive(task, "progress"));
    } else {
        buf_put(b, "&mdash;");
    }
    buf_put(b, "</dd>\n</dl>\n<p><a href=\"/convert\">All conversions</a></p>\n");
}

/* GET /files/{id}/about: what a file is and where it comes from: the task
 * that made it (an output) and the file it was converted from. */
void
page_file(struct app *a, struct request *r, struct response *resp)
{
    cJSON *meta = file_meta_or_error(a, r, resp, false);
    const char *task, *source;
    struct buf *b = &resp->body;

    if (meta == NULL)
        return;
    task = json_str(meta, "task_id");
    source = json_str(meta, "source_id");
    html_response(resp, MHD_HTTP_OK);
    html_begin(b, json_str(meta, "name") != NULL ? json_str(meta, "name") : "File", 0);
    buf_put(b, "<h1>");
    html_esc(b, json_str(meta, "name"));
    buf_put(b, "</h1>\n<dl>\n<dt>Download</dt><dd>");
    put_file_link(b, meta);
    buf_put(b, "</dd>\n<dt>Format</dt><dd>");
    html_esc(b, json_str(meta, "format"));
    buf_put(b, " <span class=\"hint\">");
    html_esc(b, json_str(meta, "content_type"));
    buf_put(b, "</span></dd>\n<dt>SHA-256</dt><dd class=\"id\">");
    html_esc(b, json_str(meta, "sha256"));
    buf_put(b, "</dd>\n<dt>Stored</dt><dd>");
    html_time(b, json_str(meta, "created_at"));
    buf_put(b, "</dd>\n<dt>Made by task</dt><dd>");
    if (task != NULL) {
        html_task_link(b, task);
    } else {
        buf_put(b, "none: uploaded");
    }
    buf_put(b, "</dd>\n<dt>Converted from</dt><dd>");
    if (source != NULL) {
        buf_put(b, "<a class=\"id\" href=\"/files/");
        html_esc(b, source);
        buf_put(b, "/about\">");
        html_esc(b, source);
        buf_put(b, "</a>");
    } else {
        buf_put(b, "&mdash;");
    }
    buf_put(b, "</dd>\n</dl>\n<p><a href=\"/convert\">All conversions</a></p>\n");
    html_end(b);
    cJSON_Delete(meta);
}
