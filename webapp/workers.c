/* webapp/workers.c - GET /workers: every worker master as its heartbeat row
 * says it (store_workers_list(), the data of GET /api/workers), online ones
 * first, the others greyed. */
#include "webapp/webapp.h"

#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "sql/store.h"

#define WORKERS_REFRESH_S 10 /* the page reloads itself: a heartbeat comes every 5 s */

/* A number of a row (a JSON number), or -1 when absent or null. */
static double
num(const cJSON *row, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);

    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* "12 s ago", "4 min ago", "3 h ago", "2 d ago". */
static void
put_age(struct buf *b, double s)
{
    if (s < 0)
        buf_put(b, "&mdash;");
    else if (s < 120)
        buf_printf(b, "%.0f s ago", s);
    else if (s < 7200)
        buf_printf(b, "%.0f min ago", s / 60);
    else if (s < 172800)
        buf_printf(b, "%.0f h ago", s / 3600);
    else
        buf_printf(b, "%.0f d ago", s / 86400);
}

/* The tasks its children run now, each a link to its page. */
static void
put_active(struct buf *b, const cJSON *active)
{
    const cJSON *t;

    if (cJSON_GetArraySize(active) == 0) {
        buf_put(b, "&mdash;");
        return;
    }
    buf_put(b, "<ul class=\"plain\">");
    cJSON_ArrayForEach(t, active)
    {
        const char *id = json_str(t, "id");
        double running = num(t, "running_s");

        buf_put(b, "<li>");
        if (id != NULL && uuid_is_valid(id)) {
            buf_put(b, "<a class=\"id\" href=\"/tasks/");
            html_url_enc(b, id);
            buf_put(b, "\">");
            html_esc_short(b, id, 8);
            buf_put(b, "</a> ");
        }
        html_esc(b, json_str(t, "name"));
        if (running >= 0)
            buf_printf(b, " <span class=\"hint\">%.0f s</span>", running);
        buf_put(b, "</li>");
    }
    buf_put(b, "</ul>");
}

static void
put_worker_row(struct buf *b, const cJSON *w)
{
    bool online = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "online"));
    bool stopped = json_str(w, "stopped_at") != NULL;
    const cJSON *queues = cJSON_GetObjectItemCaseSensitive(w, "queues"), *q;
    double rss = num(w, "rss_kib");
    bool first = true;

    buf_put(b, "<tr data-worker=\"");
    html_esc(b, json_str(w, "hostname"));
    buf_printf(b, "\"%s><td>", online ? "" : " class=\"offline\"");
    html_esc(b, json_str(w, "hostname"));
    buf_printf(b, "</td><td>%s</td><td>", online ? "online" : stopped ? "stopped" : "silent");
    put_age(b, num(w, "heartbeat_age_s"));
    buf_printf(b, "</td><td>%.0f</td><td>", num(w, "concurrency"));
    cJSON_ArrayForEach(q, queues)
    {
        buf_put(b, first ? "" : ", ");
        html_esc(b, cJSON_GetStringValue(q));
        first = false;
    }
    buf_printf(b, "</td><td>%.0f</td><td>%.0f</td><td>", num(w, "processed"), num(w, "failed"));
    put_active(b, cJSON_GetObjectItemCaseSensitive(w, "active_tasks"));
    buf_put(b, "</td><td>");
    if (rss >= 0)
        buf_printf(b, "%.1f MB", rss * 1024 / 1e6);
    else
        buf_put(b, "&mdash;");
    buf_put(b, "</td><td>");
    html_time(b, json_str(w, "started_at") != NULL ? json_str(w, "started_at") : "");
    buf_put(b, "</td></tr>\n");
}

void
page_workers(struct app *a, struct request *r, struct response *resp)
{
    struct buf *b = &resp->body;
    cJSON *workers = NULL;
    const cJSON *w;
    char why[512];
    PGconn *db;
    int rc;

    (void)r;
    db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    if (db != NULL) {
        workers = store_workers_list(db, &rc);
        dbpool_put(a->db, db);
    }
    if (workers == NULL) {
        page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Database unavailable",
                   "The workers cannot be read right now; try again in a moment.");
        return;
    }
    html_response(resp, MHD_HTTP_OK);
    html_begin(b, "Workers", WORKERS_REFRESH_S);
    buf_put(b, "<h1>Workers</h1>\n");
    if (cJSON_GetArraySize(workers) == 0) {
        buf_put(b, "<p>No worker has ever reported here: start one (<code>celeriac-worker</code>)."
                   "</p>\n");
    } else {
        buf_put(b, "<table class=\"workers\">\n<tr><th>Worker</th><th>Status</th>"
                   "<th>Heartbeat</th><th>Concurrency</th><th>Queues</th><th>Processed</th>"
                   "<th>Failed</th><th>Active tasks</th><th>RSS</th><th>Started</th></tr>\n");
        cJSON_ArrayForEach(w, workers) { put_worker_row(b, w); }
        buf_put(b, "</table>\n");
    }
    buf_printf(b,
               "<p class=\"hint\">A worker is online while it has not stopped and its last "
               "heartbeat (every 5 s) is under 15 s old; a silent one may have crashed. RSS "
               "counts the master and its children. This page reloads every %d s; the same "
               "data is at <a href=\"/api/workers\">/api/workers</a>.</p>\n",
               WORKERS_REFRESH_S);
    html_end(b);
    cJSON_Delete(workers);
}
