/* webapp/sites.c - scraping from the webapp: the "Scrape a site" form (POST
 * /scrape), and the saved sites, which are periodic tasks running scrape.site
 * on a cron schedule (/sites, /api/sites). A site's id is its periodic row's
 * name, "site-" and 16 hex digits of md5(url): one path segment, and the same
 * URL saved twice is one site. The webapp checks a URL's form only; the
 * worker refuses private addresses when it resolves the name. */
#include "webapp/webapp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/cron.h"
#include "common/json.h"
#include "common/log.h"
#include "sql/store.h"

#define SITE_NAME_MAX 64 /* "site-" + 16 hex; periodic rows made elsewhere may be longer */

/* ----- checking what to scrape ----- */

int
site_url_check(const char *url, char *err, size_t errlen)
{
    size_t len = strlen(url), skip;
    const char *auth, *end, *host, *host_end, *port = NULL;

    if (len == 0) {
        snprintf(err, errlen, "Enter the URL of the site to scrape, such as https://example.com/.");
        return -1;
    }
    if (len > SITE_URL_MAX) {
        snprintf(err, errlen, "The URL is longer than %d characters.", SITE_URL_MAX);
        return -1;
    }
    if (!utf8_valid(url, len)) {
        snprintf(err, errlen, "The URL is not valid UTF-8.");
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)url; *p != '\0'; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            snprintf(err, errlen, "The URL must not contain spaces or control characters.");
            return -1;
        }
    }
    if (strncasecmp(url, "http://", 7) == 0) {
        skip = 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        skip = 8;
    } else {
        snprintf(err, errlen, "Only http:// and https:// URLs can be scraped.");
        return -1;
    }
    /* The authority: [user[:pass]@]host[:port], up to the path, query or fragment. */
    auth = url + skip;
    end = auth + strcspn(auth, "/?#");
    host = auth;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            host = p + 1;
    if (host < end && *host == '[') {
        host_end = memchr(host, ']', (size_t)(end - host));
        if (host_end == NULL || host_end == host + 1) {
            snprintf(err, errlen, "The URL's host is not a valid [IPv6] address.");
            return -1;
        }
        host_end++;
        if (host_end < end && *host_end != ':') {
            snprintf(err, errlen, "The URL's host is not a valid [IPv6] address.");
            return -1;
        }
    } else {
        host_end = memchr(host, ':', (size_t)(end - host));
        if (host_end == NULL)
            host_end = end;
    }
    if (host_end == host) {
        snprintf(err, errlen, "The URL has no host: expected something like https://example.com/.");
        return -1;
    }
    for (const char *p = host; p < host_end; p++) {
        if (*p == '\\' || *p == '%' || *p == '"' || *p == '<' || *p == '>' || *p == '`') {
            snprintf(err, errlen, "The URL's host holds a character a host name cannot have.");
            return -1;
        }
    }
    if (host_end < end && *host_end == ':')
        port = host_end + 1;
    if (port != NULL && port < end) {
        char digits[8] = "";
        size_t n = (size_t)(end - port);
        int p;

        if (n < sizeof digits)
            memcpy(digits, port, n);
        if (n >= sizeof digits || cfg_parse_int(digits, 1, 65535, &p) < 0) {
            snprintf(err, errlen, "The URL's port must be a number from 1 to 65535.");
            return -1;
        }
    }
    return 0;
}

/* True for a value made only of white space (an empty field). */
static bool
blank(const char *s)
{
    return s == NULL || s[strspn(s, " \t\r\n")] == '\0';
}

int
site_req_from_form(const char *url, const char *max_pages, const char *follow, const char *cron,
                   struct site_req *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->url = url != NULL ? url : "";
    s->max_pages = SITE_MAX_PAGES_DEFAULT;
    /* A checkbox is sent when checked only. */
    s->follow = follow != NULL && strcmp(follow, "0") != 0 && strcasecmp(follow, "false") != 0 &&
                strcasecmp(follow, "off") != 0;
    s->cron = blank(cron) ? NULL : cron;
    if (site_url_check(s->url, err, errlen) < 0)
        return -1;
    if (!blank(max_pages) && cfg_parse_int(max_pages, 1, SITE_MAX_PAGES_MAX, &s->max_pages) < 0) {
        snprintf(err, errlen, "Max pages must be a whole number from 1 to %d.", SITE_MAX_PAGES_MAX);
        return -1;
    }
    return 0;
}

static const char *const site_fields[] = {"url", "cron", "max_pages", "follow"};

int
site_req_from_json(const cJSON *body, struct site_req *s, char *err, size_t errlen)
{
    const cJSON *f, *url, *cron, *max_pages, *follow;
    int seen[sizeof site_fields / sizeof site_fields[0]] = {0};

    memset(s, 0, sizeof *s);
    s->max_pages = SITE_MAX_PAGES_DEFAULT;
    s->follow = true;
    if (!cJSON_IsObject(body)) {
        snprintf(err, errlen,
                 "the request body must be a JSON object such as {\"url\": "
                 "\"https://example.com/\", \"cron\": \"0 * * * *\"}");
        return -1;
    }
    cJSON_ArrayForEach(f, body)
    {
        size_t i;

        for (i = 0; i < sizeof site_fields / sizeof site_fields[0]; i++)
            if (strcmp(f->string, site_fields[i]) == 0)
                break;
        if (i == sizeof site_fields / sizeof site_fields[0]) {
            snprintf(err, errlen,
                     "unknown field '%.*s%s': allowed fields are url, cron, max_pages "
                     "and follow",
                     (int)utf8_prefix_len(f->string, 40), f->string,
                     strlen(f->string) > 40 ? "..." : "");
            return -1;
        }
        /* cJSON finds the first of repeated keys: refuse the ambiguity. */
        if (++seen[i] > 1) {
            snprintf(err, errlen, "field '%s' appears more than once", site_fields[i]);
            return -1;
        }
    }
    url = cJSON_GetObjectItemCaseSensitive(body, "url");
    cron = cJSON_GetObjectItemCaseSensitive(body, "cron");
    max_pages = cJSON_GetObjectItemCaseSensitive(body, "max_pages");
    follow = cJSON_GetObjectItemCaseSensitive(body, "follow");
    if (!cJSON_IsString(url)) {
        snprintf(err, errlen, "'url' is required: the http or https URL to scrape, a string");
        return -1;
    }
    if (!cJSON_IsString(cron) || blank(cron->valuestring)) {
        snprintf(err, errlen,
                 "'cron' is required: a 5-field cron expression (UTC) such as "
                 "\"0 * * * *\"; to scrape once, POST /api/tasks with scrape.site");
        return -1;
    }
    s->url = url->valuestring;
    s->cron = cron->valuestring;
    if (site_url_check(s->url, err, errlen) < 0)
        return -1;
    if (max_pages != NULL && !cJSON_IsNull(max_pages)) {
        if (!cJSON_IsNumber(max_pages) || max_pages->valuedouble < 1 ||
            max_pages->valuedouble > SITE_MAX_PAGES_MAX ||
            max_pages->valuedouble != (double)(int)max_pages->valuedouble) {
            snprintf(err, errlen, "'max_pages' must be a whole number from 1 to %d",
                     SITE_MAX_PAGES_MAX);
            return -1;
        }
        s->max_pages = max_pages->valueint;
    }
    if (follow != NULL && !cJSON_IsNull(follow)) {
        if (!cJSON_IsBool(follow)) {
            snprintf(err, errlen, "'follow' must be true or false");
            return -1;
        }
        s->follow = cJSON_IsTrue(follow);
    }
    return 0;
}

int
site_next_run(const char *cron, bool allow_seconds, double now, char *out, size_t outlen, char *err,
              size_t errlen)
{
    char why[256], iso[CLOCK_ISO_LEN];
    int shown = (int)utf8_prefix_len(cron, 60);
    const char *more = strlen(cron) > (size_t)shown ? "..." : "";
    struct cron c;
    int64_t next;

    if (cron_parse(cron, allow_seconds, &c, why, sizeof why) < 0) {
        snprintf(err, errlen, "The schedule '%.*s%s' is not a valid cron expression: %s.", shown,
                 cron, more, why);
        return -1;
    }
    if ((next = cron_next(&c, (int64_t)now)) < 0) {
        snprintf(err, errlen, "The schedule '%.*s%s' never fires.", shown, cron, more);
        return -1;
    }
    clock_iso_at((double)next, iso);
    snprintf(out, outlen, "%s", iso);
    return 0;
}

cJSON *
site_kwargs(const struct site_req *s)
{
    cJSON *k = cJSON_CreateObject();

    cJSON_AddStringToObject(k, "url", s->url);
    cJSON_AddNumberToObject(k, "max_pages", s->max_pages);
    cJSON_AddBoolToObject(k, "follow", s->follow);
    return k;
}

/* ----- what the page and the API share ----- */

/* Enqueue scrape.site with kwargs (queue NULL: routed by name, to "scrape"). */
static int
site_enqueue(struct app *a, const cJSON *kwargs, const char *queue, char id[UUID_STR_LEN],
             char *err, size_t errlen)
{
    struct enqueue_req req = {.name = STORE_SITE_TASK, .kwargs = kwargs, .queue = queue};
    bool unconfirmed;

    return app_enqueue(a, &req, id, &unconfirmed, err, errlen);
}

/* The HTTP status for a store failure (STORE_NOT_FOUND is the caller's). */
static unsigned int
store_status(int rc)
{
    return rc == STORE_BAD_DATA ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_SERVICE_UNAVAILABLE;
}

/* Record task_id as site name's last scrape. Best effort: the task runs
 * either way, and the next scheduled run records its own. */
static void
site_record_scrape(struct app *a, const char *name, const char *task_id)
{
    char why[512];
    PGconn *db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);

    if (db == NULL) {
        log_warn("site %s: cannot record scrape %s: %s", name, task_id, why);
        return;
    }
    if (store_site_scraped(db, name, task_id) == STORE_ERR)
        log_warn("site %s: cannot record scrape %s", name, task_id);
    dbpool_put(a->db, db);
}

/* Save s's schedule as the periodic row name (created, or replaced and
 * enabled again). 0, or the HTTP status to answer with and err set. */
static unsigned int
site_save(struct app *a, const struct site_req *s, const cJSON *kwargs, char *name, size_t namelen,
          char *err, size_t errlen)
{
    char next[CLOCK_ISO_LEN], why[512];
    char *kwargs_json = NULL;
    unsigned int status = 0;
    PGconn *db;
    int rc;

    if (site_next_run(s->cron, a->cfg->cron_seconds != 0, clock_wall(), next, sizeof next, err,
                      errlen) < 0)
        return MHD_HTTP_BAD_REQUEST;
    if ((db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why)) == NULL) {
        snprintf(err, errlen, "The database is unavailable: %s", why);
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    if ((kwargs_json = json_print(kwargs)) == NULL) {
        rc = STORE_ERR;
    } else {
        rc = store_site_name(db, s->url, name, namelen);
        if (rc == STORE_OK)
            rc = store_periodic_put(db, name, STORE_SITE_TASK, s->cron, "[]", kwargs_json, NULL,
                                    next);
        /* Saving a paused site again means running it again. */
        if (rc == STORE_OK)
            rc = store_periodic_enable(db, name, true, next);
        if (rc != STORE_OK)
            log_error("saving site %s: %s", s->url, store_error_message(db));
    }
    if (rc != STORE_OK) {
        status = store_status(rc);
        snprintf(err, errlen, "%s",
                 rc == STORE_BAD_DATA ? "The database refused a value of this site."
                                      : "The site cannot be saved right now; "
                                        "try again in a moment.");
    }
    dbpool_put(a->db, db);
    cJSON_free(kwargs_json);
    return status;
}

/* Scrape s now and, with a schedule, save it as a site first (name receives
 * its id, "" without a schedule). 0, or the HTTP status to answer with and
 * err set. */
static unsigned int
site_create(struct app *a, const struct site_req *s, char *name, size_t namelen,
            char task_id[UUID_STR_LEN], char *err, size_t errlen)
{
    cJSON *kwargs = site_kwargs(s);
    unsigned int status = 0;
    char why[512];
    int rc;

    name[0] = '\0';
    if (s->cron != NULL && (status = site_save(a, s, kwargs, name, namelen, err, errlen)) != 0)
        goto out;
    rc = site_enqueue(a, kwargs, NULL, task_id, why, sizeof why);
    if (rc != ENQUEUE_OK) {
        status = app_enqueue_status(rc);
        snprintf(err, errlen, "%s%s",
                 name[0] != '\0' ? "The site's schedule is saved, but the "
                                   "scrape now was not queued: "
                                 : "",
                 why);
        goto out;
    }
    if (name[0] != '\0')
        site_record_scrape(a, name, task_id);
out:
    cJSON_Delete(kwargs);
    return status;
}

enum site_action { SITE_SCRAPE, SITE_PAUSE, SITE_RESUME, SITE_DELETE };

/* Act on site name. 0, or the HTTP status to answer with and err set (404 for
 * no such site: a periodic task of another task is not one). SITE_SCRAPE
 * fills task_id. */
static unsigned int
site_act(struct app *a, const char *name, enum site_action act, char task_id[UUID_STR_LEN],
         char *err, size_t errlen)
{
    char why[512], next[CLOCK_ISO_LEN];
    cJSON *rows = NULL, *kwargs = NULL;
    const cJSON *row;
    char *queue = NULL, *cron = NULL;
    unsigned int status = 0;
    PGconn *db;
    int rc;

    if (name[0] == '\0' || !utf8_valid(name, strlen(name))) {
        snprintf(err, errlen, "There is no such site.");
        return MHD_HTTP_NOT_FOUND;
    }
    if ((db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why)) == NULL) {
        snprintf(err, errlen, "The database is unavailable: %s", why);
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    rows = store_periodic_list(db, name, &rc);
    row = cJSON_GetArrayItem(rows, 0);
    if (rows == NULL) {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        snprintf(err, errlen, "The site cannot be read right now; try again in a moment.");
    } else if (row == NULL || json_str(row, "task") == NULL ||
               strcmp(json_str(row, "task"), STORE_SITE_TASK) != 0) {
        status = MHD_HTTP_NOT_FOUND;
        snprintf(err, errlen, "There is no such site.");
    }
    if (status != 0) {
        dbpool_put(a->db, db);
        goto out;
    }
    switch (act) {
    case SITE_SCRAPE:
        /* As the scheduler would run it: the row's own kwargs and queue. The
         * connection goes back first: no one waits for RabbitMQ holding one. */
        kwargs = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(row, "kwargs"), true);
        queue = xstrdup_or_null(json_str(row, "queue"));
        dbpool_put(a->db, db);
        rc = site_enqueue(a, kwargs, queue, task_id, err, errlen);
        if (rc != ENQUEUE_OK) {
            status = app_enqueue_status(rc);
            goto out;
        }
        site_record_scrape(a, name, task_id);
        goto out;
    case SITE_PAUSE:
        rc = store_periodic_enable(db, name, false, NULL);
        break;
    case SITE_RESUME:
        /* From the next time after now: runs missed while paused are not made up. */
        cron = xstrdup_or_null(json_str(row, "cron"));
        if (site_next_run(cron != NULL ? cron : "", a->cfg->cron_seconds != 0, clock_wall(), next,
                          sizeof next, err, errlen) < 0) {
            dbpool_put(a->db, db);
            status = MHD_HTTP_CONFLICT;
            goto out;
        }
        rc = store_periodic_enable(db, name, true, next);
        break;
    case SITE_DELETE:
        rc = store_periodic_remove(db, name);
        break;
    default:
        rc = STORE_ERR;
    }
    dbpool_put(a->db, db);
    if (rc == STORE_NOT_FOUND) {
        status = MHD_HTTP_NOT_FOUND; /* deleted meanwhile */
        snprintf(err, errlen, "There is no such site.");
    } else if (rc != STORE_OK) {
        status = store_status(rc);
        snprintf(err, errlen, "The site cannot be changed right now; try again in a moment.");
    }
out:
    cJSON_Delete(rows);
    cJSON_Delete(kwargs);
    free(queue);
    free(cron);
    return status;
}

/* ----- pages ----- */

void
page_put_scrape_form(struct buf *b, const char *url, const char *max_pages, bool follow,
                     const char *cron)
{
    buf_put(b, "<h2 id=\"scrape\">Scrape a site</h2>\n"
               "<form class=\"task\" method=\"post\" action=\"/scrape\">\n"
               "<label for=\"scrape-url\">URL <span class=\"hint\">(a page, a feed or a "
               "sitemap)</span></label>\n"
               "<input id=\"scrape-url\" name=\"url\" type=\"url\" required maxlength=\"2048\""
               " placeholder=\"https://example.com/news/\" value=\"");
    html_esc(b, url);
    buf_printf(b,
               "\">\n<label for=\"scrape-max\">Max pages <span class=\"hint\">(1 to %d)</span>"
               "</label>\n<input id=\"scrape-max\" name=\"max_pages\" type=\"number\" min=\"1\""
               " max=\"%d\" value=\"",
               SITE_MAX_PAGES_MAX, SITE_MAX_PAGES_MAX);
    if (max_pages != NULL && max_pages[0] != '\0')
        html_esc(b, max_pages);
    else
        buf_printf(b, "%d", SITE_MAX_PAGES_DEFAULT);
    buf_printf(b,
               "\">\n<p><label class=\"inline\"><input type=\"checkbox\" name=\"follow\""
               " value=\"on\"%s> Follow links to more pages of the same site</label></p>\n",
               follow ? " checked" : "");
    buf_put(b,
            "<label for=\"scrape-cron\">Schedule <span class=\"hint\">(optional)</span></label>\n"
            "<input id=\"scrape-cron\" name=\"cron\" maxlength=\"200\" placeholder=\"0 * * * *\""
            " value=\"");
    html_esc(b, cron);
    buf_put(b, "\">\n<p class=\"hint\">A cron expression in UTC: minute, hour, day of month, "
               "month, day of week; <code>0 * * * *</code> is hourly, <code>30 6 * * 1-5</code> "
               "weekdays at 06:30. With a schedule the site is saved (see <a href=\"/sites\">Sites"
               "</a>) and scraped now and on schedule; without, it is scraped once now.</p>\n"
               "<button type=\"submit\">Scrape</button>\n</form>\n");
}

/* Drop a form value's leading and trailing white space, in place. */
static void
trim(struct buf *f)
{
    size_t lead;

    if (f->data == NULL)
        return;
    while (f->len > 0 && strchr(" \t\r\n", f->data[f->len - 1]) != NULL)
        f->data[--f->len] = '\0';
    lead = strspn(f->data, " \t\r\n");
    memmove(f->data, f->data + lead, f->len - lead + 1);
    f->len -= lead;
}

/* The form again, with the problem, at status. */
static void
scrape_form_page(struct response *resp, unsigned int status, const struct form *f,
                 const char *error)
{
    struct buf *b = &resp->body;

    buf_reset(b);
    html_response(resp, status);
    html_begin(b, "Scrape a site", 0);
    buf_put(b, "<h1>Scrape a site</h1>\n<p class=\"error\" role=\"alert\">");
    html_esc(b, error);
    buf_put(b, "</p>\n");
    page_put_scrape_form(b, f->url.data != NULL ? f->url.data : "",
                         f->max_pages.data != NULL ? f->max_pages.data : "", f->follow.data != NULL,
                         f->cron.data != NULL ? f->cron.data : "");
    html_end(b);
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        resp->retry_after = 5;
}

void
page_scrape_create(struct app *a, struct request *r, struct response *resp)
{
    static const struct form none = {0};
    char err[1024], name[SITE_NAME_MAX], id[UUID_STR_LEN], location[128];
    struct site_req s;
    unsigned int status;

    if (r->too_big) {
        snprintf(err, sizeof err, "The form is larger than %d bytes.", WEBAPP_BODY_MAX);
        page_error(resp, MHD_HTTP_CONTENT_TOO_LARGE, "Form too large", err);
        return;
    }
    if (r->form.malformed || r->form.has_nul) {
        scrape_form_page(resp, MHD_HTTP_BAD_REQUEST, &none,
                         r->form.has_nul ? "The form values must not contain NUL characters."
                                         : "The form data could not be read; please submit it "
                                           "again.");
        return;
    }
    trim(&r->form.url);
    trim(&r->form.cron);
    if (site_req_from_form(r->form.url.data, r->form.max_pages.data, r->form.follow.data,
                           r->form.cron.data, &s, err, sizeof err) < 0) {
        scrape_form_page(resp, MHD_HTTP_BAD_REQUEST, &r->form, err);
        return;
    }
    if ((status = site_create(a, &s, name, sizeof name, id, err, sizeof err)) != 0) {
        scrape_form_page(resp, status, &r->form, err);
        return;
    }
    snprintf(location, sizeof location, s.cron != NULL ? "/sites" : "/tasks/%s", id);
    html_see_other(resp, location);
}

/* One count of the last scrape's result, "3 new", when it has it. */
static void
put_count(struct buf *b, const cJSON *last, const char *key, bool *first)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(last, key);

    if (!cJSON_IsNumber(v))
        return;
    buf_printf(b, "%s%.0f ", *first ? "" : ", ", v->valuedouble);
    html_esc(b, key);
    *first = false;
}

/* A small POST form with one button: /sites/{id}/{action}. */
static void
put_button(struct buf *b, const char *id, const char *action, const char *label)
{
    buf_put(b, "<form class=\"button\" method=\"post\" action=\"/sites/");
    html_url_enc(b, id);
    buf_printf(b, "/%s\"><button type=\"submit\">%s</button></form>", action, label);
}

static void
put_site_row(struct buf *b, const cJSON *site)
{
    const char *id = json_str(site, "id"), *next = json_str(site, "next_run_at");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(site, "max_pages"),
                *follow = cJSON_GetObjectItemCaseSensitive(site, "follow"),
                *last = cJSON_GetObjectItemCaseSensitive(site, "last_task");
    bool enabled = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(site, "enabled"));

    if (id == NULL)
        return;
    buf_put(b, "<tr><td>");
    html_ext_link(b, json_str(site, "url"), NULL);
    buf_put(b, "<br><span class=\"hint id\">");
    html_esc(b, id);
    buf_put(b, "</span></td><td>");
    if (cJSON_IsNumber(max))
        buf_printf(b, "%.0f", max->valuedouble);
    else
        buf_printf(b, "%d <span class=\"hint\">(default)</span>", SITE_MAX_PAGES_DEFAULT);
    buf_printf(b, "<br><span class=\"hint\">%s</span></td><td><code>",
               cJSON_IsFalse(follow) ? "this page only" : "follows links");
    html_esc(b, json_str(site, "cron"));
    buf_put(b, "</code></td><td>");
    if (enabled) {
        buf_put(b, "active</td><td>");
        html_time(b, next != NULL ? next : "");
    } else {
        buf_put(b, "<span class=\"paused\">paused</span></td><td>&mdash;");
    }
    buf_put(b, "</td><td>");
    if (!cJSON_IsObject(last)) {
        buf_put(b, "<span class=\"hint\">never</span>");
    } else {
        const char *task_id = json_str(last, "id"), *state = json_str(last, "state"),
                   *finished = json_str(last, "finished_at");
        bool first = true;

        if (state != NULL)
            html_state(b, state);
        else
            buf_put(b, "<span class=\"hint\">task gone</span>");
        if (finished != NULL) {
            buf_put(b, " ");
            html_time(b, finished);
        }
        buf_put(b, "<br><span class=\"counts\">");
        put_count(b, last, "new", &first);
        put_count(b, last, "updated", &first);
        put_count(b, last, "unchanged", &first);
        put_count(b, last, "failed", &first);
        buf_put(b, "</span><br>");
        html_task_link(b, task_id);
    }
    buf_put(b, "</td><td>");
    put_button(b, id, "scrape", "Scrape now");
    if (enabled)
        put_button(b, id, "pause", "Pause");
    else
        put_button(b, id, "resume", "Resume");
    put_button(b, id, "delete", "Delete");
    buf_put(b, "</td></tr>\n");
}

void
page_site_list(struct app *a, struct request *r, struct response *resp)
{
    struct buf *b = &resp->body;
    cJSON *sites = NULL;
    const cJSON *site;
    char why[512];
    PGconn *db;
    int rc;

    (void)r;
    db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    if (db != NULL) {
        sites = store_sites_list(db, NULL, &rc);
        dbpool_put(a->db, db);
    }
    if (sites == NULL) {
        page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Database unavailable",
                   "The sites cannot be read right now; try again in a moment.");
        return;
    }
    html_response(resp, MHD_HTTP_OK);
    html_begin(b, "Sites", 0);
    buf_put(b, "<h1>Sites</h1>\n");
    if (cJSON_GetArraySize(sites) == 0) {
        buf_put(b, "<p>No site is scraped on a schedule. Give one a schedule in the form "
                   "below.</p>\n");
    } else {
        buf_put(b, "<table>\n<tr><th>URL</th><th>Max pages</th><th>Schedule (UTC)</th>"
                   "<th>Status</th><th>Next run (UTC)</th><th>Last scrape</th><th></th></tr>\n");
        cJSON_ArrayForEach(site, sites) { put_site_row(b, site); }
        buf_put(b, "</table>\n");
    }
    page_put_scrape_form(b, "", "", true, "");
    html_end(b);
    cJSON_Delete(sites);
}

/* A button's POST: act, then 303 to the task (scrape) or back to /sites. */
static void
page_site_action(struct app *a, struct request *r, struct response *resp, enum site_action act)
{
    char err[1024], id[UUID_STR_LEN], location[64];
    unsigned int status = site_act(a, r->id, act, id, err, sizeof err);

    if (status != 0) {
        page_error(resp, status,
                   status == MHD_HTTP_NOT_FOUND ? "No such site" : "Cannot change the site", err);
        return;
    }
    if (act == SITE_SCRAPE)
        snprintf(location, sizeof location, "/tasks/%s", id);
    else
        snprintf(location, sizeof location, "/sites");
    html_see_other(resp, location);
}

void
page_site_scrape(struct app *a, struct request *r, struct response *resp)
{
    page_site_action(a, r, resp, SITE_SCRAPE);
}

void
page_site_pause(struct app *a, struct request *r, struct response *resp)
{
    page_site_action(a, r, resp, SITE_PAUSE);
}

void
page_site_resume(struct app *a, struct request *r, struct response *resp)
{
    page_site_action(a, r, resp, SITE_RESUME);
}

void
page_site_delete(struct app *a, struct request *r, struct response *resp)
{
    page_site_action(a, r, resp, SITE_DELETE);
}

/* ----- JSON API ----- */

/* The site named, or all of them (name NULL), as the store lists them;
 * NULL with the answer (404, 503) given. */
static cJSON *
api_sites(struct app *a, const char *name, struct response *resp)
{
    cJSON *sites = NULL;
    PGconn *db;
    int rc;

    if (name != NULL && (name[0] == '\0' || !utf8_valid(name, strlen(name)))) {
        api_error(resp, MHD_HTTP_NOT_FOUND, "no such site");
        return NULL;
    }
    if ((db = api_db_or_503(a, resp)) == NULL)
        return NULL;
    sites = store_sites_list(db, name, &rc);
    dbpool_put(a->db, db);
    if (sites == NULL) {
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable while listing sites");
        return NULL;
    }
    if (name != NULL && cJSON_GetArraySize(sites) == 0) {
        api_error(resp, MHD_HTTP_NOT_FOUND, "no such site");
        cJSON_Delete(sites);
        return NULL;
    }
    return sites;
}

void
api_site_list(struct app *a, struct request *r, struct response *resp)
{
    cJSON *sites = api_sites(a, NULL, resp), *out;

    (void)r;
    if (sites == NULL)
        return;
    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "sites", sites);
    api_json(resp, MHD_HTTP_OK, out);
    cJSON_Delete(out);
}

void
api_site_get(struct app *a, struct request *r, struct response *resp)
{
    cJSON *sites = api_sites(a, r->id, resp);

    if (sites == NULL)
        return;
    api_json(resp, MHD_HTTP_OK, cJSON_GetArrayItem(sites, 0));
    cJSON_Delete(sites);
}

void
api_site_create(struct app *a, struct request *r, struct response *resp)
{
    char err[1024], name[SITE_NAME_MAX], id[UUID_STR_LEN];
    cJSON *body = NULL, *sites = NULL, *out;
    struct site_req s;
    unsigned int status;

    if (r->too_big) {
        api_error(resp, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is larger than %d bytes",
                  WEBAPP_BODY_MAX);
        return;
    }
    body = api_parse_body(r->body.data, r->body.len, err, sizeof err);
    if (body == NULL || site_req_from_json(body, &s, err, sizeof err) < 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "%s", err);
        goto out;
    }
    if ((status = site_create(a, &s, name, sizeof name, id, err, sizeof err)) != 0) {
        api_error(resp, status, "%s", err);
        goto out;
    }
    /* The site as GET /api/sites/{id} shows it, and the scrape queued now. */
    sites = api_sites(a, name, resp); /* its 404 or 503 answer is replaced below */
    resp->retry_after = 0;
    out = cJSON_Duplicate(cJSON_GetArrayItem(sites, 0), true);
    if (out == NULL) {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "id", name);
    }
    cJSON_AddStringToObject(out, "task_id", id);
    api_json(resp, MHD_HTTP_CREATED, out);
    cJSON_Delete(out);
    snprintf(resp->location, sizeof resp->location, "/api/sites/%s", name);
out:
    cJSON_Delete(body);
    cJSON_Delete(sites);
}

/* POST /api/sites/{id}/pause|resume: the site as it is now. */
static void
api_site_action(struct app *a, struct request *r, struct response *resp, enum site_action act)
{
    char err[1024], id[UUID_STR_LEN];
    unsigned int status = site_act(a, r->id, act, id, err, sizeof err);
    cJSON *sites, *out;

    if (status != 0) {
        api_error(resp, status, "%s", err);
        return;
    }
    switch (act) {
    case SITE_SCRAPE:
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "task_id", id);
        cJSON_AddStringToObject(out, "site", r->id);
        api_json(resp, MHD_HTTP_ACCEPTED, out);
        snprintf(resp->location, sizeof resp->location, "/api/tasks/%s", id);
        cJSON_Delete(out);
        break;
    case SITE_DELETE:
        resp->status = MHD_HTTP_NO_CONTENT;
        resp->content_type = "application/json";
        break;
    default:
        if ((sites = api_sites(a, r->id, resp)) != NULL)
            api_json(resp, MHD_HTTP_OK, cJSON_GetArrayItem(sites, 0));
        cJSON_Delete(sites);
    }
}

void
api_site_scrape(struct app *a, struct request *r, struct response *resp)
{
    api_site_action(a, r, resp, SITE_SCRAPE);
}

void
api_site_pause(struct app *a, struct request *r, struct response *resp)
{
    api_site_action(a, r, resp, SITE_PAUSE);
}

void
api_site_resume(struct app *a, struct request *r, struct response *resp)
{
    api_site_action(a, r, resp, SITE_RESUME);
}

void
api_site_delete(struct app *a, struct request *r, struct response *resp)
{
    api_site_action(a, r, resp, SITE_DELETE);
}
