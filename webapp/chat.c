/* webapp/chat.c - the chat, the webapp's side: the gateway that checks a
 * message and publishes it as a chat.persist task (POST
 * /api/chat/{room}/messages, and the room page's form for browsers without
 * JavaScript), the history chat.persist stored (GET
 * /api/chat/{room}/messages, /api/chat/rooms), and the pages (/chat, the
 * rooms; /chat/{room}, a room with its send box). The webapp never writes a
 * message itself: it reaches chat_messages through the broker and a worker,
 * and the room page learns of it from the event stream (/static/chat.js).
 * Every value shown goes through html_esc(); the script uses textContent. */
#include "webapp/webapp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/ascii.h"
#include "common/clock.h"
#include "common/json.h"
#include "sql/store.h"

/* ----- checking text ----- */

/* Decode the UTF-8 sequence at s (n > 0 bytes left): its length with *cp
 * set, or 0 when it is not valid UTF-8. */
static size_t
utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c = s[0], min;
    size_t len;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        c &= 0x1f;
        min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        c &= 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        return 0; /* a continuation byte, 0xc0, 0xc1 (overlongs) or 0xf5.. */
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* Unicode's White_Space, and the invisible characters that show as nothing:
 * a message made only of these says nothing. */
static bool
blank_cp(uint32_t c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200d) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x2060 || c == 0x3000 || c == 0xfeff;
}

static bool
control_cp(uint32_t c, bool multiline)
{
    if (multiline && (c == '\t' || c == '\n' || c == '\r'))
        return false;
    return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

bool
chat_room_valid(const char *room)
{
    size_t n = strlen(room);

    return n >= 1 && n <= CHAT_ROOM_MAX &&
           strspn(room, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

long
chat_code_points(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;
    uint32_t c;

    for (size_t i = 0; i < len; n++) {
        size_t k = utf8_decode(p + i, len - i, &c);

        if (k == 0)
            return -1;
        i += k;
    }
    return n;
}

int
chat_text_check(const char *field, const char *s, size_t len, long max, bool multiline, char *err,
                size_t errlen)
{
    const unsigned char *p = (const unsigned char *)s;
    bool blank = true;
    long n = 0;
    uint32_t c;

    if (s == NULL) {
        snprintf(err, errlen, "'%s' is required", field);
        return -1;
    }
    if (len == 0) {
        snprintf(err, errlen, "'%s' is empty: send 1 to %ld characters", field, max);
        return -1;
    }
    for (size_t i = 0; i < len; n++) {
        size_t k = utf8_decode(p + i, len - i, &c);

        if (k == 0) {
            snprintf(err, errlen, "'%s' is not valid UTF-8 (at byte %zu)", field, i);
            return -1;
        }
        if (c == 0) {
            snprintf(err, errlen, "'%s' holds a NUL character", field);
            return -1;
        }
        if (control_cp(c, multiline)) {
            snprintf(err, errlen, "'%s' holds a control character (U+%04X)%s", field, (unsigned)c,
                     multiline ? "" : ": it is one line of text");
            return -1;
        }
        blank = blank && blank_cp(c);
        i += k;
    }
    if (n > max) {
        snprintf(err, errlen, "'%s' is too long: %ld characters, at most %ld", field, n, max);
        return -1;
    }
    if (blank) {
        snprintf(err, errlen, "'%s' is only whitespace", field);
        return -1;
    }
    return 0;
}

/* ----- POST bodies ----- */

int
chat_post_req(const cJSON *body, struct chat_post *m, char *err, size_t errlen)
{
    static const char *const names[] = {"author", "body"};
    const cJSON *v[2] = {NULL, NULL}, *f;
    long max[2] = {CHAT_AUTHOR_MAX, CHAT_BODY_MAX};

    memset(m, 0, sizeof *m);
    if (!cJSON_IsObject(body)) {
        snprintf(err, errlen,
                 "the request body must be a JSON object {\"author\", \"body\"}, not %s",
                 api_type_name(body));
        return -1;
    }
    cJSON_ArrayForEach(f, body)
    {
        int i = strcmp(f->string, "author") == 0 ? 0 : strcmp(f->string, "body") == 0 ? 1 : -1;

        if (i < 0) {
            /* A key is valid UTF-8 (json_parse() checked): cut it on a character. */
            snprintf(err, errlen, "unknown field '%.*s%s': a message has only author and body",
                     (int)utf8_prefix_len(f->string, 40), f->string,
                     strlen(f->string) > 40 ? "..." : "");
            return -1;
        }
        /* cJSON keeps duplicate keys and finds the first: refuse the ambiguity. */
        if (v[i] != NULL) {
            snprintf(err, errlen, "'%s' appears more than once", names[i]);
            return -1;
        }
        v[i] = f;
    }
    for (int i = 0; i < 2; i++) {
        if (v[i] == NULL) {
            snprintf(err, errlen, "'%s' is required: %s", names[i],
                     i == 0 ? "who writes, 1 to 64 characters"
                            : "the message, 1 to 4000 characters");
            return -1;
        }
        if (!cJSON_IsString(v[i])) {
            snprintf(err, errlen, "'%s' must be a string, not %s", names[i], api_type_name(v[i]));
            return -1;
        }
        if (chat_text_check(names[i], v[i]->valuestring, strlen(v[i]->valuestring), max[i], i == 1,
                            err, errlen) < 0)
            return -1;
    }
    m->author = v[0]->valuestring;
    m->body = v[1]->valuestring;
    return 0;
}

/* Decode one urlencoded name or value ('+' is a space) into out: its
 * length, or -1 for a malformed %-escape. NULs stay, for the checks to see. */
static long
form_decode(const char *s, size_t n, struct buf *out)
{
    buf_reset(out);
    buf_putn(out, "", 0);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? ascii_hex_value((unsigned char)s[i + 1]) : -1,
                lo = hi >= 0 ? ascii_hex_value((unsigned char)s[i + 2]) : -1;

            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        buf_putn(out, &c, 1);
    }
    return out->oom ? -1 : (long)out->len;
}

int
chat_form_parse(const char *buf, size_t len, char **author, char **body, char *err, size_t errlen)
{
    struct buf key = {0}, val = {0};
    size_t alen = 0, blen = 0;
    int rc = -1;

    *author = *body = NULL;
    for (size_t i = 0; i < len;) {
        const char *pair = buf + i, *amp = memchr(pair, '&', len - i), *eq;
        size_t plen = amp != NULL ? (size_t)(amp - pair) : len - i;
        char **dst;

        i += plen + 1;
        if (plen == 0)
            continue;
        eq = memchr(pair, '=', plen);
        if (form_decode(pair, eq != NULL ? (size_t)(eq - pair) : plen, &key) < 0 ||
            (eq != NULL && form_decode(eq + 1, plen - (size_t)(eq + 1 - pair), &val) < 0)) {
            snprintf(err, errlen, "the form data could not be read: a malformed %%-escape");
            goto out;
        }
        if (eq == NULL) {
            buf_reset(&val);
            buf_putn(&val, "", 0);
        }
        if (strcmp(key.data, "author") == 0) {
            dst = author;
            alen = val.len;
        } else if (strcmp(key.data, "body") == 0) {
            dst = body;
            blen = val.len;
        } else {
            continue; /* a submit button's name, say */
        }
        free(*dst);
        if ((*dst = malloc(val.len + 1)) == NULL) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        memcpy(*dst, val.data, val.len + 1);
    }
    if (chat_text_check("author", *author, alen, CHAT_AUTHOR_MAX, false, err, errlen) < 0 ||
        chat_text_check("body", *body, blen, CHAT_BODY_MAX, true, err, errlen) < 0)
        goto out;
    rc = 0;
out:
    buf_fini(&key);
    buf_fini(&val);
    return rc;
}

/* ----- history parameters ----- */

int
chat_history_parse(const char *after, const char *limit, long long *after_seq, int *lim, char *err,
                   size_t errlen)
{
    *after_seq = -1;
    *lim = CHAT_LIMIT_DEFAULT;
    if (after != NULL && after[0] != '\0') {
        size_t n = strspn(after, "0123456789");

        /* 18 digits always fit a bigint: seq is far from needing more. */
        if (n == 0 || n > 18 || after[n] != '\0') {
            snprintf(err, errlen,
                     "invalid after: use a message's id or seq (a whole number from 0, the "
                     "first)");
            return -1;
        }
        *after_seq = strtoll(after, NULL, 10);
    }
    if (limit != NULL && limit[0] != '\0' && cfg_parse_int(limit, 1, CHAT_LIMIT_MAX, lim) < 0) {
        snprintf(err, errlen, "invalid limit: use a whole number from 1 to %d", CHAT_LIMIT_MAX);
        return -1;
    }
    return 0;
}

void
chat_iso_ms(double epoch, char out[CHAT_ISO_LEN])
{
    double whole = floor(epoch);
    unsigned ms = (unsigned)((epoch - whole) * 1000.0) % 1000u;
    time_t t = (time_t)whole;
    struct tm tm;
    size_t n;

    gmtime_r(&t, &tm);
    n = strftime(out, CHAT_ISO_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, CHAT_ISO_LEN - n, ".%03uZ", ms);
}

/* ----- sending ----- */

/* What the gateway gave an accepted message. */
struct chat_sent {
    char id[UUID_STR_LEN];      /* the message's */
    char task_id[UUID_STR_LEN]; /* its chat.persist task's */
    char sent_at[CHAT_ISO_LEN];
    bool confirmed;
};

/* Publish m (checked) to room as a chat.persist task, through the producer
 * as POST /api/tasks does: its row, then the publish and RabbitMQ's confirm.
 * An enqueue_rc, with err set when not ENQUEUE_OK. */
static int
chat_send(struct app *a, const char *room, const struct chat_post *m, struct chat_sent *out,
          char *err, size_t errlen)
{
    struct enqueue_req req = {0};
    cJSON *kwargs = cJSON_CreateObject();
    bool unconfirmed = false;
    int rc = ENQUEUE_DB_DOWN;

    uuid_new(out->id);
    chat_iso_ms(clock_wall(), out->sent_at);
    if (kwargs == NULL || cJSON_AddStringToObject(kwargs, "id", out->id) == NULL ||
        cJSON_AddStringToObject(kwargs, "room", room) == NULL ||
        cJSON_AddStringToObject(kwargs, "author", m->author) == NULL ||
        cJSON_AddStringToObject(kwargs, "body", m->body) == NULL ||
        cJSON_AddStringToObject(kwargs, "sent_at", out->sent_at) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    req.name = CHAT_TASK;
    req.kwargs = kwargs; /* the queue: chat, by the name (broker_queue_for_task) */
    rc = app_enqueue(a, &req, out->task_id, &unconfirmed, err, errlen);
    out->confirmed = !unconfirmed;
out:
    cJSON_Delete(kwargs);
    return rc;
}

static void
bad_room(struct response *resp, bool json)
{
    static const char msg[] = "invalid room: use 1 to 64 of A-Z a-z 0-9 _ - (such as general)";

    if (json)
        api_error(resp, MHD_HTTP_BAD_REQUEST, "%s", msg);
    else
        page_error(resp, MHD_HTTP_BAD_REQUEST, "Invalid room", msg);
}

/* ----- JSON API ----- */

void
api_chat_post(struct app *a, struct request *r, struct response *resp)
{
    struct chat_post m;
    struct chat_sent sent;
    char err[1024], why[256];
    cJSON *body = NULL, *out = NULL;
    int rc;

    if (r->too_big) {
        api_error(resp, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is larger than %d bytes",
                  WEBAPP_BODY_MAX);
        goto out;
    }
    if (!chat_room_valid(r->id)) {
        bad_room(resp, true);
        goto out;
    }
    if (r->body.len == 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST,
                  "the request body is empty: send a JSON object "
                  "such as {\"author\": \"Ann\", \"body\": \"Hello\"}");
        goto out;
    }
    if (!utf8_valid(r->body.data, r->body.len)) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "the request body is not valid UTF-8");
        goto out;
    }
    /* cJSON would end a string at a raw NUL byte, silently cutting the message. */
    if (memchr(r->body.data, '\0', r->body.len) != NULL) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "the request body holds a NUL byte");
        goto out;
    }
    if ((body = json_parse(r->body.data, r->body.len, why, sizeof why)) == NULL) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "the request body is not valid JSON: %s", why);
        goto out;
    }
    if (chat_post_req(body, &m, err, sizeof err) < 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "%s", err);
        goto out;
    }
    rc = chat_send(a, r->id, &m, &sent, err, sizeof err);
    if (rc != ENQUEUE_OK) {
        api_error(resp, app_enqueue_status(rc), "%s", err);
        goto out;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", sent.id);
    cJSON_AddStringToObject(out, "room", r->id);
    cJSON_AddStringToObject(out, "sent_at", sent.sent_at);
    cJSON_AddStringToObject(out, "task_id", sent.task_id);
    /* As for POST /api/tasks: false means stored but not confirmed by
     * RabbitMQ; the sweeper publishes it again if it was lost. */
    cJSON_AddBoolToObject(out, "confirmed", sent.confirmed);
    api_json(resp, MHD_HTTP_ACCEPTED, out);
    /* 202's status monitor: the task that stores the message. */
    snprintf(resp->location, sizeof resp->location, "/api/tasks/%s", sent.task_id);
out:
    cJSON_Delete(body);
    cJSON_Delete(out);
}

void
api_chat_messages(struct app *a, struct request *r, struct response *resp)
{
    const char *after_id;
    long long after;
    int limit, rc;
    char why[256];
    cJSON *list, *out;
    PGconn *db;

    if (!chat_room_valid(r->id)) {
        bad_room(resp, true);
        return;
    }
    after_id = http_query(r, "after");
    if (after_id == NULL || !uuid_is_valid(after_id))
        after_id = NULL; /* a seq, or nothing: the parser's business */
    if (chat_history_parse(after_id != NULL ? NULL : http_query(r, "after"),
                           http_query(r, "limit"), &after, &limit, why, sizeof why) < 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "%s", why);
        return;
    }
    if ((db = api_db_or_503(a, resp)) == NULL)
        return;
    /* after=<message id>: the messages after that one. */
    if (after_id != NULL && (after = store_chat_seq(db, r->id, after_id, &rc)) < 0) {
        dbpool_put(a->db, db);
        if (rc == STORE_NOT_FOUND)
            api_error(resp, MHD_HTTP_NOT_FOUND,
                      "no message %s in room %s (another room's, or not stored yet)", after_id,
                      r->id);
        else
            api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "database unavailable while reading the room's messages");
        return;
    }
    list = store_chat_messages(db, r->id, after, limit, &rc);
    dbpool_put(a->db, db);
    if (list == NULL) {
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE,
                  "database unavailable while reading the room's messages");
        return;
    }
    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "messages", list);
    cJSON_AddStringToObject(out, "room", r->id);
    api_json(resp, MHD_HTTP_OK, out);
    cJSON_Delete(out);
}

void
api_chat_rooms(struct app *a, struct request *r, struct response *resp)
{
    cJSON *rooms, *out;
    PGconn *db;
    int rc;

    (void)r;
    if ((db = api_db_or_503(a, resp)) == NULL)
        return;
    rooms = store_chat_rooms(db, STORE_LIST_MAX, &rc);
    dbpool_put(a->db, db);
    if (rooms == NULL) {
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE,
                  "database unavailable while listing the chat rooms");
        return;
    }
    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "rooms", rooms);
    api_json(resp, MHD_HTTP_OK, out);
    cJSON_Delete(out);
}

/* ----- pages ----- */

/* A whole number of a row (count, seq); 0 when absent. */
static long long
num_field(const cJSON *row, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);

    return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

static void
put_open_form(struct buf *b, const char *room)
{
    buf_put(b, "<form class=\"filter\" method=\"get\" action=\"/chat\">\n<label>Room <input"
               " name=\"room\" required maxlength=\"64\" pattern=\"[A-Za-z0-9_\\-]{1,64}\""
               " placeholder=\"general\" value=\"");
    html_esc(b, room != NULL ? room : "");
    buf_put(b, "\"></label>\n<button type=\"submit\">Open</button>\n"
               "<span class=\"hint\">letters, digits, _ and -; a new name makes a new room with"
               " its first message</span>\n</form>\n");
}

static void
render_rooms(struct response *resp, unsigned int status, const cJSON *rooms, const char *room,
             const char *error)
{
    struct buf *b = &resp->body;
    const cJSON *row;

    buf_reset(b);
    html_response(resp, status);
    html_begin(b, "Chat", 0);
    buf_put(b, "<h1>Chat</h1>\n");
    if (error != NULL) {
        buf_put(b, "<p class=\"error\" role=\"alert\">");
        html_esc(b, error);
        buf_put(b, "</p>\n");
    }
    put_open_form(b, room);
    if (cJSON_GetArraySize(rooms) == 0) {
        buf_put(b, "<p>No rooms yet: open one by name above and write the first message.</p>\n");
        html_end(b);
        return;
    }
    buf_put(b, "<table class=\"rooms\">\n<tr><th>Room</th><th>Messages</th>"
               "<th>Last activity (UTC)</th></tr>\n");
    cJSON_ArrayForEach(row, rooms)
    {
        const char *name = json_str(row, "room"), *last = json_str(row, "last_sent_at");

        if (name == NULL)
            continue;
        buf_put(b, "<tr><td><a href=\"/chat/");
        html_url_enc(b, name);
        buf_put(b, "\">");
        html_esc(b, name);
        buf_printf(b, "</a></td><td>%lld</td><td>", num_field(row, "count"));
        if (last != NULL) {
            buf_put(b, "<time datetime=\"");
            html_esc(b, last);
            buf_put(b, "\">");
            html_time(b, last);
            buf_put(b, "</time>");
        }
        buf_put(b, "</td></tr>\n");
    }
    buf_put(b, "</table>\n");
    html_end(b);
}

void
page_chat_rooms(struct app *a, struct request *r, struct response *resp)
{
    const char *room = http_query(r, "room");
    char why[512], location[CHAT_ROOM_MAX + 16];
    cJSON *rooms = NULL;
    PGconn *db;
    int rc;

    /* The open form: a valid name goes to its room. */
    if (room != NULL && room[0] != '\0' && chat_room_valid(room)) {
        snprintf(location, sizeof location, "/chat/%s", room);
        html_see_other(resp, location);
        return;
    }
    db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    if (db != NULL) {
        rooms = store_chat_rooms(db, STORE_LIST_MAX, &rc);
        dbpool_put(a->db, db);
    }
    if (rooms == NULL) {
        page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Database unavailable",
                   "The chat rooms cannot be read right now; try again in a moment.");
        return;
    }
    if (room != NULL && room[0] != '\0') {
        char shown[CHAT_ROOM_MAX * 2 + 1];

        /* Shown back in the field, cut on a character (it may be anything). */
        snprintf(shown, sizeof shown, "%.*s", (int)utf8_prefix_len(room, sizeof shown - 1), room);
        if (!utf8_valid(shown, strlen(shown)))
            shown[0] = '\0';
        render_rooms(resp, MHD_HTTP_BAD_REQUEST, rooms, shown,
                     "Invalid room name: use 1 to 64 of A-Z a-z 0-9 _ - (such as general).");
    } else {
        render_rooms(resp, MHD_HTTP_OK, rooms, NULL, NULL);
    }
    cJSON_Delete(rooms);
}

static void
put_message(struct buf *b, const cJSON *m)
{
    const char *id = json_str(m, "id"), *sent = json_str(m, "sent_at");
    const char *task = json_str(m, "task_id");

    buf_put(b, "<li class=\"msg\" id=\"m-");
    html_esc(b, id);
    buf_printf(b, "\" data-seq=\"%lld\"><div class=\"meta\"><span class=\"author\">",
               num_field(m, "seq"));
    html_esc(b, json_str(m, "author"));
    buf_put(b, "</span> ");
    /* The time links to the chat.persist task that stored the message. */
    if (task != NULL) {
        buf_put(b, "<a class=\"stored-by\" title=\"stored by task ");
        html_esc(b, task);
        buf_put(b, "\" href=\"/tasks/");
        html_esc(b, task);
        buf_put(b, "\">");
    }
    buf_put(b, "<time datetime=\"");
    html_esc(b, sent);
    buf_put(b, "\">");
    if (sent != NULL)
        html_time(b, sent);
    buf_put(b, task != NULL ? "</time></a>" : "</time>");
    buf_put(b, "</div><div class=\"body\">");
    html_esc(b, json_str(m, "body"));
    buf_put(b, "</div></li>\n");
}

/* True when list holds the message id. */
static bool
has_message(const cJSON *list, const char *id)
{
    const cJSON *m;

    cJSON_ArrayForEach(m, list)
    {
        const char *mid = json_str(m, "id");
        if (mid != NULL && strcasecmp(mid, id) == 0)
            return true;
    }
    return false;
}

/* The room's page: its latest messages (history NULL: they could not be
 * read), a note for a message just sent (sent, not yet among them), the
 * error of a refused one, and the send box holding author and body. */
static void
render_room(struct response *resp, unsigned int status, const char *room, const cJSON *history,
            const char *author, const char *body, const char *error, const char *sent)
{
    struct buf *b = &resp->body;
    int n = cJSON_GetArraySize(history);
    char title[CHAT_ROOM_MAX + 16];
    const cJSON *m;

    buf_reset(b);
    html_response(resp, status);
    resp->csp = WEBAPP_SCRIPT_CSP; /* runs /static/chat.js, reaches the API and the stream */
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        resp->retry_after = 5;
    snprintf(title, sizeof title, "Chat: %s", room);
    html_begin(b, title, 0);
    buf_put(b, "<link rel=\"stylesheet\" href=\"/static/chat.css\">\n<h1>Chat: ");
    html_esc(b, room);
    buf_put(b, "</h1>\n<p class=\"hint\"><a href=\"/chat\">All rooms</a> &middot; times are UTC"
               "</p>\n<section id=\"chat\" data-room=\"");
    html_esc(b, room);
    buf_put(b, "\">\n");
    if (history == NULL)
        buf_put(b, "<p class=\"error\">The messages cannot be read right now.</p>\n");
    buf_printf(b, "<p id=\"chat-empty\" class=\"hint\"%s>No messages yet: write the first.</p>\n",
               n > 0 || history == NULL ? " hidden" : "");
    buf_put(b, "<ol id=\"chat-messages\" class=\"chat-messages\" aria-live=\"polite\">\n");
    cJSON_ArrayForEach(m, history) { put_message(b, m); }
    buf_put(b, "</ol>\n");
    if (sent != NULL && history != NULL && !has_message(history, sent))
        buf_put(b, "<p class=\"hint\" id=\"chat-sent\">Your message was sent: it shows here once"
                   " stored (reload the page).</p>\n");
    buf_put(b, "<form id=\"chat-send\" class=\"chat-send\" method=\"post\" action=\"/chat/");
    html_esc(b, room);
    buf_put(b, "\" accept-charset=\"utf-8\">\n<p id=\"chat-status\" role=\"status\"");
    if (error != NULL) {
        buf_put(b, " class=\"error\">");
        html_esc(b, error);
        buf_put(b, "</p>\n");
    } else {
        buf_put(b, " hidden></p>\n");
    }
    buf_put(b, "<label for=\"chat-author\">Name</label>\n<input id=\"chat-author\" name=\"author\""
               " required autocomplete=\"nickname\" value=\"");
    html_esc(b, author != NULL ? author : "");
    buf_put(b, "\">\n<label for=\"chat-body\">Message</label>\n<textarea id=\"chat-body\""
               " name=\"body\" rows=\"3\" required>");
    html_esc(b, body != NULL ? body : "");
    buf_put(b, "</textarea>\n<button type=\"submit\">Send</button>"
               " <span class=\"hint\">Enter sends, Shift+Enter starts a new line</span>\n"
               "</form>\n</section>\n<script src=\"/static/chat.js\"></script>\n");
    html_end(b);
}

/* The room's history for its page, or NULL (logged by the store). */
static cJSON *
room_history(struct app *a, const char *room)
{
    char why[512];
    cJSON *list = NULL;
    PGconn *db;
    int rc;

    db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    if (db != NULL) {
        list = store_chat_messages(db, room, -1, CHAT_PAGE_HISTORY, &rc);
        dbpool_put(a->db, db);
    }
    return list;
}

void
page_chat_room(struct app *a, struct request *r, struct response *resp)
{
    const char *sent = http_query(r, "sent"), *author = http_query(r, "author");
    char err[256];
    cJSON *history;

    if (!chat_room_valid(r->id)) {
        bad_room(resp, false);
        return;
    }
    if ((history = room_history(a, r->id)) == NULL) {
        page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Database unavailable",
                   "The room cannot be read right now; try again in a moment.");
        return;
    }
    /* ?author= comes back from the no-script form's redirect: kept if sound. */
    if (author != NULL && chat_text_check("author", author, strlen(author), CHAT_AUTHOR_MAX, false,
                                          err, sizeof err) < 0)
        author = NULL;
    render_room(resp, MHD_HTTP_OK, r->id, history, author, NULL, NULL,
                sent != NULL && uuid_is_valid(sent) ? sent : NULL);
    cJSON_Delete(history);
}

/* Percent-encode s for a query value of a Location header (raw, not for HTML). */
static void
query_enc(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            buf_putn(b, (const char *)p, 1);
        } else {
            char pct[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            buf_putn(b, pct, 3);
        }
    }
}

/* True when the request says it is a urlencoded form (or says nothing). */
static bool
form_urlencoded(struct request *r)
{
    const char *ct = r->conn != NULL ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                                   MHD_HTTP_HEADER_CONTENT_TYPE)
                                     : NULL;

    return ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

void
page_chat_post(struct app *a, struct request *r, struct response *resp)
{
    struct chat_post m;
    struct chat_sent sent;
    struct buf location = {0};
    char *author = NULL, *body = NULL, err[1024];
    cJSON *history = NULL;
    unsigned int status = MHD_HTTP_BAD_REQUEST;
    int rc;

    if (r->too_big) {
        snprintf(err, sizeof err, "The message is larger than %d bytes.", WEBAPP_BODY_MAX);
        page_error(resp, MHD_HTTP_CONTENT_TOO_LARGE, "Message too large", err);
        goto out;
    }
    if (!chat_room_valid(r->id)) {
        bad_room(resp, false);
        goto out;
    }
    if (!form_urlencoded(r)) {
        page_error(resp, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "Unsupported form",
                   "The form must be sent as application/x-www-form-urlencoded.");
        goto out;
    }
    if (chat_form_parse(r->body.data != NULL ? r->body.data : "", r->body.len, &author, &body, err,
                        sizeof err) < 0) {
        status = MHD_HTTP_BAD_REQUEST;
        goto again;
    }
    m.author = author;
    m.body = body;
    rc = chat_send(a, r->id, &m, &sent, err, sizeof err);
    if (rc != ENQUEUE_OK) {
        status = app_enqueue_status(rc);
        goto again;
    }
    /* Back to the room, which notes the message until it is stored, with the
     * name kept for the next one when it fits the Location buffer. */
    buf_printf(&location, "/chat/%s?sent=%s&author=", r->id, sent.id);
    query_enc(&location, author);
    if (location.oom || location.len >= sizeof resp->location) {
        buf_reset(&location);
        buf_printf(&location, "/chat/%s?sent=%s", r->id, sent.id);
    }
    html_see_other(resp, location.data != NULL ? location.data : "/chat");
    goto out;
again:
    /* The page again, with the error and what was typed (only valid UTF-8
     * goes back into it). */
    history = room_history(a, r->id);
    if (author != NULL && !utf8_valid(author, strlen(author)))
        author[0] = '\0';
    if (body != NULL && !utf8_valid(body, strlen(body)))
        body[0] = '\0';
    render_room(resp, status, r->id, history, author, body, err, NULL);
out:
    cJSON_Delete(history);
    buf_fini(&location);
    free(author);
    free(body);
}

/* ----- the room page's script and style ----- */

/* Live updates: the chat events of /api/events, deduplicated by id and put
 * in seq order; a catch-up read of the API whenever the stream (re)opens
 * and after a send, so nothing is missed while the stream is down (or does
 * not exist). Every value goes in as textContent. */
static const char chat_js[] =
    "/* /static/chat.js - the chat room page: send without reloading, show new messages live. */\n"
    "(function () {\n"
    "  'use strict';\n"
    "  var root = document.getElementById('chat');\n"
    "  if (!root) return;\n"
    "  var room = root.getAttribute('data-room');\n"
    "  var list = document.getElementById('chat-messages');\n"
    "  var empty = document.getElementById('chat-empty');\n"
    "  var form = document.getElementById('chat-send');\n"
    "  var status = document.getElementById('chat-status');\n"
    "  var note = document.getElementById('chat-sent');\n"
    "  var api = '/api/chat/' + encodeURIComponent(room) + '/messages';\n"
    "  var AUTHOR_KEY = 'celeriac.chat.author';\n"
    "\n"
    "  function seqOf(el) { return Number(el.getAttribute('data-seq')); }\n"
    "  function lastSeq() {\n"
    "    var last = list.lastElementChild;\n"
    "    return last ? seqOf(last) : 0;\n"
    "  }\n"
    "  function shown(id) { return document.getElementById('m-' + id) !== null; }\n"
    "  function timeText(iso) {\n"
    "    iso = String(iso || '');\n"
    "    return iso.length >= 19 && iso.charAt(10) === 'T' ?\n"
    "      iso.slice(0, 10) + ' ' + iso.slice(11, 19) : iso;\n"
    "  }\n"
    "  function nearBottom() {\n"
    "    return list.scrollHeight - list.scrollTop - list.clientHeight < 40;\n"
    "  }\n"
    "\n"
    "  function render(m) {\n"
    "    var li = document.createElement('li');\n"
    "    li.className = 'msg';\n"
    "    li.id = 'm-' + m.id;\n"
    "    li.setAttribute('data-seq', String(m.seq));\n"
    "    var meta = document.createElement('div');\n"
    "    meta.className = 'meta';\n"
    "    var who = document.createElement('span');\n"
    "    who.className = 'author';\n"
    "    who.textContent = String(m.author);\n"
    "    var when = document.createElement('time');\n"
    "    when.setAttribute('datetime', String(m.sent_at || ''));\n"
    "    when.textContent = timeText(m.sent_at);\n"
    "    meta.appendChild(who);\n"
    "    meta.appendChild(document.createTextNode(' '));\n"
    "    if (/^[0-9a-f-]{36}$/.test(String(m.task_id))) {\n"
    "      var by = document.createElement('a');\n"
    "      by.className = 'stored-by';\n"
    "      by.href = '/tasks/' + m.task_id;\n"
    "      by.title = 'stored by task ' + m.task_id;\n"
    "      by.appendChild(when);\n"
    "      meta.appendChild(by);\n"
    "    } else {\n"
    "      meta.appendChild(when);\n"
    "    }\n"
    "    var body = document.createElement('div');\n"
    "    body.className = 'body';\n"
    "    body.textContent = String(m.body);\n"
    "    li.appendChild(meta);\n"
    "    li.appendChild(body);\n"
    "    return li;\n"
    "  }\n"
    "\n"
    "  /* Show m unless it is shown already or not of this room; in seq order. */\n"
    "  function add(m) {\n"
    "    if (!m || typeof m.id !== 'string' || typeof m.seq !== 'number' ||\n"
    "        (m.room !== undefined && m.room !== room) || shown(m.id)) return;\n"
    "    var follow = nearBottom(), next = null;\n"
    "    for (var el = list.lastElementChild; el; el = el.previousElementSibling) {\n"
    "      if (seqOf(el) < m.seq) break;\n"
    "      next = el;\n"
    "    }\n"
    "    list.insertBefore(render(m), next);\n"
    "    if (empty) empty.hidden = true;\n"
    "    if (note) { note.parentNode.removeChild(note); note = null; }\n"
    "    if (follow) list.scrollTop = list.scrollHeight;\n"
    "  }\n"
    "\n"
    "  /* Read what was stored after the last message shown. */\n"
    "  var reading = null, readAgain = false;\n"
    "  function catchUp() {\n"
    "    if (reading) { readAgain = true; return reading; }\n"
    "    reading = fetch(api + '?limit=500&after=' + lastSeq(),\n"
    "                    {headers: {'Accept': 'application/json'}, credentials: 'same-origin'})\n"
    "      .then(function (r) { return r.ok ? r.json() : null; })\n"
    "      .then(function (d) {\n"
    "        if (d && Array.isArray(d.messages)) d.messages.forEach(add);\n"
    "      })\n"
    "      .catch(function () {})\n"
    "      .then(function () {\n"
    "        reading = null;\n"
    "        if (readAgain) { readAgain = false; return catchUp(); }\n"
    "      });\n"
    "    return reading;\n"
    "  }\n"
    "\n"
    "  /* After a send: read until the message shows (the stream may be down). */\n"
    "  function waitFor(id, delays) {\n"
    "    if (shown(id) || delays.length === 0) return;\n"
    "    setTimeout(function () {\n"
    "      if (shown(id)) return;\n"
    "      catchUp().then(function () { waitFor(id, delays.slice(1)); });\n"
    "    }, delays[0]);\n"
    "  }\n"
    "\n"
    "  function say(text, isError) {\n"
    "    status.textContent = text;\n"
    "    status.className = isError ? 'error' : 'hint';\n"
    "    status.hidden = text === '';\n"
    "  }\n"
    "\n"
    "  var author = form.elements.namedItem('author');\n"
    "  var text = form.elements.namedItem('body');\n"
    "  var button = form.querySelector('button[type=submit]');\n"
    "  try {\n"
    "    if (author.value === '' && localStorage.getItem(AUTHOR_KEY))\n"
    "      author.value = localStorage.getItem(AUTHOR_KEY);\n"
    "  } catch (e) { /* storage may be off */ }\n"
    "\n"
    "  form.addEventListener('submit', function (ev) {\n"
    "    ev.preventDefault();\n"
    "    if (button.disabled) return;\n"
    "    button.disabled = true;\n"
    "    say('Sending\\u2026', false);\n"
    "    fetch(api, {method: 'POST', credentials: 'same-origin',\n"
    "                headers: {'Content-Type': 'application/json', 'Accept': 'application/json'},\n"
    "                body: JSON.stringify({author: author.value, body: text.value})})\n"
    "      .then(function (r) {\n"
    "        return r.json().catch(function () { return {}; })\n"
    "          .then(function (d) { return {status: r.status, data: d}; });\n"
    "      })\n"
    "      .then(function (x) {\n"
    "        if (x.status !== 202) {\n"
    "          var why = x.data && x.data.error;\n"
    "          say(why ? String(why) : 'Not sent (HTTP ' + x.status + ')', true);\n"
    "          return;\n"
    "        }\n"
    "        say('', false);\n"
    "        text.value = '';\n"
    "        try { localStorage.setItem(AUTHOR_KEY, author.value); } catch (e) { /* off */ }\n"
    "        waitFor(x.data.id, [250, 500, 750, 1000, 1500, 2000, 3000, 5000]);\n"
    "      })\n"
    "      .catch(function () { say('Not sent: the server cannot be reached.', true); })\n"
    "      .then(function () { button.disabled = false; text.focus(); });\n"
    "  });\n"
    "  text.addEventListener('keydown', function (ev) {\n"
    "    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {\n"
    "      ev.preventDefault();\n"
    "      if (form.requestSubmit) form.requestSubmit();\n"
    "      else form.dispatchEvent(new Event('submit', {cancelable: true}));\n"
    "    }\n"
    "  });\n"
    "\n"
    "  list.scrollTop = list.scrollHeight;\n"
    "  if (window.EventSource) {\n"
    "    var events = new EventSource('/api/events?topics=chat:' + room);\n"
    "    events.addEventListener('chat', function (ev) {\n"
    "      try { add(JSON.parse(ev.data)); } catch (e) { /* not a message */ }\n"
    "    });\n"
    "    /* Whatever was stored between this page and the stream (re)opening. */\n"
    "    events.addEventListener('open', function () { catchUp(); });\n"
    "  }\n"
    "})();\n";

static const char chat_css[] =
    ".chat-messages{list-style:none;margin:0 0 1em;padding:0;max-width:50em;max-height:65vh;"
    "overflow-y:auto;background:#fff;border:1px solid #ddd}\n"
    ".chat-messages .msg{padding:.35em .7em;border-bottom:1px solid #eee}\n"
    ".chat-messages .meta{color:#666;font-size:.85em}\n"
    ".chat-messages .author{font-weight:bold;color:#2d4a22}\n"
    ".chat-messages .body{white-space:pre-wrap;overflow-wrap:anywhere}\n"
    "form.chat-send{max-width:50em}\n"
    "form.chat-send label{display:block;margin:.5em 0 .2em;font-weight:bold}\n"
    "form.chat-send input,form.chat-send textarea{width:100%;box-sizing:border-box;font:inherit}\n"
    "form.chat-send button{margin-top:.6em;padding:.4em 1.2em}\n"
    "table.rooms{max-width:50em}\n";

static void
static_file(struct response *resp, const char *type, const char *text)
{
    resp->status = MHD_HTTP_OK;
    resp->content_type = type;
    resp->static_body = text;
    resp->static_len = strlen(text);
    resp->cache_control = "public, max-age=300";
}

void
page_chat_js(struct app *a, struct request *r, struct response *resp)
{
    (void)a;
    (void)r;
    static_file(resp, "text/javascript; charset=utf-8", chat_js);
}

void
page_chat_css(struct app *a, struct request *r, struct response *resp)
{
    (void)a;
    (void)r;
    static_file(resp, "text/css; charset=utf-8", chat_css);
}
