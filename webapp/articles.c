/* webapp/articles.c - the articles the scrape.site task stored: the JSON API
 * (/api/articles, /api/articles/{id}, /api/articles/sites) and the pages
 * (/articles with search, site filter and pages; /articles/{id}; the list on
 * a task's page). Every value shown goes through html_esc(). */
#include "webapp/webapp.h"

#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "sql/store.h"

#define SITES_MAX 500       /* sites offered in the filter */
#define SUMMARY_SHORT 300   /* bytes of summary in a list */
#define SITE_FILTER_MAX 300 /* longest ?site= (host and port) */

/* ----- parameters ----- */

static const char *
empty_is_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

int
article_query_parse(const char *text, const char *site, const char *task, const char *limit,
                    const char *offset, struct store_article_query *q, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    q->q = empty_is_null(text);
    q->site = empty_is_null(site);
    q->task_id = empty_is_null(task);
    q->limit = WEBAPP_LIST_DEFAULT;
    /* Invalid UTF-8 would reach PostgreSQL only to be refused there. */
    if (q->q != NULL && (strlen(q->q) > ARTICLES_Q_MAX || !utf8_valid(q->q, strlen(q->q)))) {
        snprintf(err, errlen, "invalid q: use at most %d bytes of UTF-8 text", ARTICLES_Q_MAX);
        return -1;
    }
    if (q->site != NULL &&
        (strlen(q->site) > SITE_FILTER_MAX || !utf8_valid(q->site, strlen(q->site)))) {
        snprintf(err, errlen, "invalid site: use a host name such as example.com");
        return -1;
    }
    if (q->task_id != NULL && !uuid_is_valid(q->task_id)) {
        snprintf(err, errlen,
                 "invalid task: expected a task id (a UUID such as "
                 "0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f10)");
        return -1;
    }
    if (limit != NULL && limit[0] != '\0' &&
        cfg_parse_int(limit, 1, ARTICLES_LIMIT_MAX, &q->limit) < 0) {
        snprintf(err, errlen, "invalid limit: use a whole number from 1 to %d", ARTICLES_LIMIT_MAX);
        return -1;
    }
    if (offset != NULL && offset[0] != '\0' &&
        cfg_parse_int(offset, 0, ARTICLES_OFFSET_MAX, &q->offset) < 0) {
        snprintf(err, errlen, "invalid offset: use a whole number from 0 to %d",
                 ARTICLES_OFFSET_MAX);
        return -1;
    }
    return 0;
}

bool
article_id_valid(const char *id)
{
    size_t n = strspn(id, "0123456789");

    /* 18 digits always fit a bigint; the ids are far from needing more. */
    return n > 0 && n <= 18 && id[n] == '\0' && strspn(id, "0") < n;
}

static int
query_from_request(struct request *r, struct store_article_query *q, char *err, size_t errlen)
{
    return article_query_parse(http_query(r, "q"), http_query(r, "site"), http_query(r, "task"),
                               http_query(r, "limit"), http_query(r, "offset"), q, err, errlen);
}

/* ----- JSON API ----- */

void
api_article_list(struct app *a, struct request *r, struct response *resp)
{
    struct store_article_query q;
    char why[256];
    cJSON *out;
    PGconn *db;
    int rc;

    if (query_from_request(r, &q, why, sizeof why) < 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "%s", why);
        return;
    }
    if ((db = api_db_or_503(a, resp)) == NULL)
        return;
    out = store_articles_list(db, &q, &rc);
    dbpool_put(a->db, db);
    if (out == NULL) {
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE,
                  "database unavailable while listing articles");
        return;
    }
    cJSON_AddNumberToObject(out, "limit", q.limit);
    cJSON_AddNumberToObject(out, "offset", q.offset);
    api_json(resp, MHD_HTTP_OK, out);
    cJSON_Delete(out);
}

void
api_article_get(struct app *a, struct request *r, struct response *resp)
{
    cJSON *row;
    PGconn *db;
    int rc;

    if (!article_id_valid(r->id)) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid article id: expected a number such as 42");
        return;
    }
    if ((db = api_db_or_503(a, resp)) == NULL)
        return;
    row = store_article_get(db, r->id, &rc);
    dbpool_put(a->db, db);
    if (row == NULL) {
        if (rc == STORE_NOT_FOUND)
            api_error(resp, MHD_HTTP_NOT_FOUND, "no such article");
        else
            api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "database unavailable while reading the article");
        return;
    }
    api_json(resp, MHD_HTTP_OK, row);
    cJSON_Delete(row);
}

void
api_article_sites(struct app *a, struct request *r, struct response *resp)
{
    cJSON *sites, *out;
    PGconn *db;
    int rc;

    (void)r;
    if ((db = api_db_or_503(a, resp)) == NULL)
        return;
    sites = store_article_sites(db, STORE_LIST_MAX, &rc);
    dbpool_put(a->db, db);
    if (sites == NULL) {
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE,
                  "database unavailable while listing the sites of articles");
        return;
    }
    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "sites", sites);
    api_json(resp, MHD_HTTP_OK, out);
    cJSON_Delete(out);
}

/* ----- pages ----- */

/* "2026-11-02T08:30:00Z" -> "2026-11-02": the date of a time. */
static void
put_date(struct buf *b, const char *iso)
{
    char d[11];

    if (iso == NULL || strlen(iso) < 10) {
        html_esc(b, iso);
        return;
    }
    memcpy(d, iso, 10);
    d[10] = '\0';
    html_esc(b, d);
}

/* An article's title, or its URL when it has none. */
static const char *
title_of(const cJSON *art)
{
    const char *t = json_str(art, "title");

    if (t != NULL && t[0] != '\0')
        return t;
    t = json_str(art, "url");
    return t != NULL ? t : "(untitled)";
}

/* <a href="/articles/ID">title</a>; the id is a number from our database. */
static void
put_article_link(struct buf *b, const cJSON *art)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(art, "id");

    buf_printf(b, "<a href=\"/articles/%.0f\">", cJSON_IsNumber(id) ? id->valuedouble : 0.0);
    html_esc(b, title_of(art));
    buf_put(b, "</a>");
}

/* /articles?... with the filters kept and the given offset, escaped for an
 * attribute. */
static void
put_list_href(struct buf *b, const struct store_article_query *q, int offset)
{
    struct buf href = {0};
    const char *sep = "?";

    buf_put(&href, "/articles");
    if (q->q != NULL) {
        buf_put(&href, "?q=");
        html_url_enc(&href, q->q);
        sep = "&";
    }
    if (q->site != NULL) {
        buf_printf(&href, "%ssite=", sep);
        html_url_enc(&href, q->site);
        sep = "&";
    }
    if (q->task_id != NULL) {
        buf_printf(&href, "%stask=", sep);
        html_url_enc(&href, q->task_id);
        sep = "&";
    }
    if (q->limit != WEBAPP_LIST_DEFAULT) {
        buf_printf(&href, "%slimit=%d", sep, q->limit);
        sep = "&";
    }
    if (offset > 0)
        buf_printf(&href, "%soffset=%d", sep, offset);
    /* The values are percent-encoded already; the & separators need escaping. */
    html_esc(b, href.data != NULL ? href.data : "/articles");
    b->oom |= href.oom;
    buf_fini(&href);
}

static void
put_filter_form(struct buf *b, const struct store_article_query *q, const cJSON *sites)
{
    const cJSON *s;
    char tmp[32];

    buf_put(b, "<form class=\"filter\" method=\"get\" action=\"/articles\">\n"
               "<label>Search <input type=\"search\" name=\"q\" maxlength=\"200\""
               " placeholder=\"text in title or summary\" value=\"");
    html_esc(b, q->q != NULL ? q->q : "");
    buf_put(b, "\"></label>\n<label>Site <select name=\"site\"><option value=\"\">all sites"
               "</option>");
    cJSON_ArrayForEach(s, sites)
    {
        const char *site = json_str(s, "site");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(s, "count");

        if (site == NULL)
            continue;
        buf_put(b, "<option value=\"");
        html_esc(b, site);
        buf_printf(b, "\"%s>", q->site != NULL && strcmp(q->site, site) == 0 ? " selected" : "");
        html_esc(b, site);
        snprintf(tmp, sizeof tmp, " (%.0f)", cJSON_IsNumber(n) ? n->valuedouble : 0.0);
        html_esc(b, tmp);
        buf_put(b, "</option>");
    }
    buf_put(b, "</select></label>\n");
    if (q->task_id != NULL) {
        buf_put(b, "<input type=\"hidden\" name=\"task\" value=\"");
        html_esc(b, q->task_id);
        buf_put(b, "\">\n");
    }
    buf_put(b, "<button type=\"submit\">Search</button>\n</form>\n");
}

/* One article in a list: title, site, author, date, the start of its summary. */
static void
put_article_item(struct buf *b, const cJSON *art)
{
    const char *author = json_str(art, "author"), *published = json_str(art, "published_at"),
               *summary = json_str(art, "summary");

    buf_put(b, "<article>\n<h2>");
    put_article_link(b, art);
    buf_put(b, "</h2>\n<p class=\"meta\">");
    html_esc(b, json_str(art, "site"));
    if (author != NULL && author[0] != '\0') {
        buf_put(b, " &middot; ");
        html_esc(b, author);
    }
    if (published != NULL) {
        buf_put(b, " &middot; <time datetime=\"");
        html_esc(b, published);
        buf_put(b, "\">");
        put_date(b, published);
        buf_put(b, "</time>");
    }
    buf_put(b, "</p>\n");
    if (summary != NULL && summary[0] != '\0') {
        buf_put(b, "<p>");
        html_esc_short(b, summary, SUMMARY_SHORT);
        buf_put(b, "</p>\n");
    }
    buf_put(b, "</article>\n");
}

void
page_article_list(struct app *a, struct request *r, struct response *resp)
{
    struct store_article_query q;
    cJSON *page = NULL, *sites = NULL;
    const cJSON *art, *list;
    struct buf *b = &resp->body;
    char why[512];
    double total;
    int rc, n;
    PGconn *db;

    if (query_from_request(r, &q, why, sizeof why) < 0) {
        page_error(resp, MHD_HTTP_BAD_REQUEST, "Invalid search", why);
        return;
    }
    db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    if (db != NULL) {
        page = store_articles_list(db, &q, &rc);
        if (page != NULL)
            sites = store_article_sites(db, SITES_MAX, &rc);
        dbpool_put(a->db, db);
    }
    if (page == NULL || sites == NULL) {
        page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Database unavailable",
                   "The articles cannot be read right now; try again in a moment.");
        goto out;
    }
    list = cJSON_GetObjectItemCaseSensitive(page, "articles");
    total = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(page, "total"));
    n = cJSON_GetArraySize(list);
    html_response(resp, MHD_HTTP_OK);
    html_begin(b, "Articles", 0);
    buf_put(b, "<h1>Articles</h1>\n");
    put_filter_form(b, &q, sites);
    if (q.task_id != NULL) {
        buf_put(b, "<p>Stored by task ");
        html_task_link(b, q.task_id);
        buf_put(b, " (<a href=\"/articles\">all articles</a>)</p>\n");
    }
    if (n == 0) {
        buf_put(b, total > 0 ? "<p>No more articles here.</p>\n"
                             : "<p>No articles match. <a href=\"/#scrape\">Scrape a site.</a>"
                               "</p>\n");
    } else {
        buf_put(b, "<div class=\"articles\">\n");
        cJSON_ArrayForEach(art, list) { put_article_item(b, art); }
        buf_put(b, "</div>\n");
        buf_printf(b, "<p class=\"hint\">%d&ndash;%d of %.0f, newest first.</p>\n", q.offset + 1,
                   q.offset + n, total);
    }
    buf_put(b, "<p class=\"pager\">");
    if (q.offset > 0) {
        buf_put(b, "<a rel=\"prev\" href=\"");
        put_list_href(b, &q, q.offset > q.limit ? q.offset - q.limit : 0);
        buf_put(b, "\">&larr; Newer</a>");
    }
    if ((double)(q.offset + n) < total && q.offset + q.limit <= ARTICLES_OFFSET_MAX) {
        buf_put(b, "<a rel=\"next\" href=\"");
        put_list_href(b, &q, q.offset + q.limit);
        buf_put(b, "\">Older &rarr;</a>");
    }
    buf_put(b, "</p>\n");
    html_end(b);
out:
    cJSON_Delete(page);
    cJSON_Delete(sites);
}

/* A <dt>/<dd> pair with an escaped value, or an em dash for none. */
static void
put_field(struct buf *b, const char *label, const char *value)
{
    buf_put(b, "<dt>");
    html_esc(b, label);
    buf_put(b, "</dt><dd>");
    if (value == NULL || value[0] == '\0')
        buf_put(b, "&mdash;");
    else
        html_esc(b, value);
    buf_put(b, "</dd>\n");
}

void
page_article_detail(struct app *a, struct request *r, struct response *resp)
{
    struct buf *b = &resp->body;
    const char *task_id, *url, *source, *summary;
    cJSON *art = NULL;
    char why[512];
    int rc = STORE_ERR;
    PGconn *db;

    if (!article_id_valid(r->id)) {
        page_error(resp, MHD_HTTP_BAD_REQUEST, "Invalid article id",
                   "An article id is a number, as the links on /articles give it.");
        return;
    }
    db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    if (db != NULL) {
        art = store_article_get(db, r->id, &rc);
        dbpool_put(a->db, db);
    }
    if (art == NULL) {
        if (rc == STORE_NOT_FOUND)
            page_error(resp, MHD_HTTP_NOT_FOUND, "No such article",
                       "There is no article with this id.");
        else
            page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Database unavailable",
                       "The article cannot be read right now; try again in a moment.");
        return;
    }
    task_id = json_str(art, "task_id");
    url = json_str(art, "url");
    source = json_str(art, "source_url");
    summary = json_str(art, "summary");
    html_response(resp, MHD_HTTP_OK);
    html_begin(b, title_of(art), 0);
    buf_put(b, "<h1>");
    html_esc(b, title_of(art));
    buf_put(b, "</h1>\n<dl>\n");
    put_field(b, "Author", json_str(art, "author"));
    buf_put(b, "<dt>Published</dt><dd>");
    if (json_str(art, "published_at") != NULL)
        html_time(b, json_str(art, "published_at"));
    else
        buf_put(b, "&mdash;");
    buf_put(b, " <span class=\"hint\">UTC</span></dd>\n<dt>Site</dt><dd><a href=\"/articles?site=");
    html_url_enc(b, json_str(art, "site") != NULL ? json_str(art, "site") : "");
    buf_put(b, "\">");
    html_esc(b, json_str(art, "site"));
    buf_put(b, "</a></dd>\n<dt>URL</dt><dd>");
    html_ext_link(b, url, NULL);
    buf_put(b, "</dd>\n");
    if (source != NULL && (url == NULL || strcmp(source, url) != 0)) {
        buf_put(b, "<dt>Fetched from</dt><dd>");
        html_ext_link(b, source, NULL);
        buf_put(b, "</dd>\n");
    }
    buf_put(b, "<dt>Scraped by</dt><dd>");
    if (task_id != NULL) {
        html_task_link(b, task_id);
    } else {
        buf_put(b, "&mdash;");
    }
    buf_put(b, "</dd>\n<dt>Stored</dt><dd>");
    html_time(b, json_str(art, "created_at") != NULL ? json_str(art, "created_at") : "");
    buf_put(b, "</dd>\n<dt>Updated</dt><dd>");
    html_time(b, json_str(art, "updated_at") != NULL ? json_str(art, "updated_at") : "");
    buf_put(b, "</dd>\n</dl>\n");
    if (summary != NULL && summary[0] != '\0') {
        buf_put(b, "<h2>Summary</h2>\n<div class=\"article-body\">\n");
        html_paragraphs(b, summary);
        buf_put(b, "</div>\n");
    }
    buf_put(b, "<h2>Text</h2>\n<div class=\"article-body\">\n");
    html_paragraphs(b, json_str(art, "body"));
    buf_put(b, "</div>\n");
    html_end(b);
    cJSON_Delete(art);
}

void
page_put_task_articles(struct buf *b, const char *task_id, const cJSON *list)
{
    const cJSON *arts = cJSON_GetObjectItemCaseSensitive(list, "articles"), *art;
    double total = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(list, "total"));
    int n = cJSON_GetArraySize(arts);

    if (n == 0)
        return;
    buf_printf(b,
               "<h2>Articles</h2>\n<p class=\"hint\">%.0f article%s stored by this task, "
               "newest first.</p>\n<table>\n<tr><th>Title</th><th>URL</th></tr>\n",
               total, total == 1 ? "" : "s");
    cJSON_ArrayForEach(art, arts)
    {
        buf_put(b, "<tr><td>");
        put_article_link(b, art);
        buf_put(b, "</td><td class=\"short\">");
        html_ext_link(b, json_str(art, "url"), NULL);
        buf_put(b, "</td></tr>\n");
    }
    buf_put(b, "</table>\n");
    if (total > n) {
        buf_put(b, "<p><a href=\"/articles?task=");
        html_url_enc(b, task_id);
        buf_printf(b, "\">All %.0f articles of this task &rarr;</a></p>\n", total);
    }
}
