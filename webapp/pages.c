/* webapp/pages.c - the server-rendered HTML pages: the task list and a
 * task's detail (the dashboard and its form: dashboard.c). Every value that
 * did not come from this file goes through html_esc(); numbers are printed
 * with %d. */
#include "webapp/webapp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/json.h"
#include "sql/store.h"

#define SHORT_RESULT_MAX 80 /* bytes of result/error shown in the list */
#define TASK_RELATED_MAX 100 /* children and chat messages a task page lists */

static const char *const state_names[] = {"PENDING", "RECEIVED", "STARTED", "RETRY",
                                          "SUCCESS", "FAILURE",  "REVOKED"};

void
page_error(struct response *resp, unsigned int status, const char *title, const char *message)
{
    buf_reset(&resp->body);
    html_response(resp, status);
    html_begin(&resp->body, title, 0);
    buf_put(&resp->body, "<h1>");
    html_esc(&resp->body, title);
    buf_put(&resp->body, "</h1>\n<p class=\"error\" role=\"alert\">");
    html_esc(&resp->body, message);
    buf_put(&resp->body, "</p>\n<p><a href=\"/\">Run a task</a> or <a href=\"/tasks\">see the "
                         "tasks</a>.</p>\n");
    html_end(&resp->body);
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        resp->retry_after = 5;
}

void
page_style(struct app *a, struct request *r, struct response *resp)
{
    (void)a;
    (void)r;
    resp->status = MHD_HTTP_OK;
    resp->content_type = "text/css; charset=utf-8";
    resp->static_body = html_style_css;
    resp->static_len = strlen(html_style_css);
    resp->cache_control = "public, max-age=300";
}

void
page_live_js(struct app *a, struct request *r, struct response *resp)
{
    (void)a;
    (void)r;
    resp->status = MHD_HTTP_OK;
    resp->content_type = "text/javascript; charset=utf-8";
    resp->static_body = html_live_js;
    resp->static_len = strlen(html_live_js);
    resp->cache_control = "public, max-age=300";
}

/* ?sort= values, by enum store_task_sort. */
static const char *const sort_names[] = {"newest", "oldest", "slowest", "fastest"};

/* data-cursor="t<ms>": a page's stream replays what changed since it was
 * read (events.c), taken before the page's query. */
static void
put_cursor_t(struct buf *b, double wall)
{
    buf_printf(b, " data-cursor=\"t%lld\"", (long long)(wall * 1000.0));
}

/* ----- row fields ----- */

/* A scalar column as text: strings as they are, numbers printed, NULL and
 * absent as "". tmp holds printed numbers. */
static const char *
field_text(const cJSON *row, const char *key, char *tmp, size_t tmplen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);

    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNumber(v)) {
        snprintf(tmp, tmplen, "%.15g", v->valuedouble);
        return tmp;
    }
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    return "";
}

/* A JSON column pretty-printed in <pre>, or an em dash when NULL. */
static void
put_json_pre(struct buf *b, const cJSON *v)
{
    char *text;

    if (v == NULL || cJSON_IsNull(v)) {
        buf_put(b, "&mdash;");
        return;
    }
    /* cJSON prints an empty object as "{\n}": keep empty ones on one line. */
    text = cJSON_GetArraySize(v) == 0 ? json_print(v) : cJSON_Print(v);
    buf_put(b, "<pre>");
    html_esc(b, text != NULL ? text : "");
    buf_put(b, "</pre>");
    cJSON_free(text);
}

/* ----- GET /tasks ----- */

/* The list's own URL with f's filters and, when param is not NULL, a cursor
 * (after= or before=), escaped for an attribute. */
static void
put_list_href(struct buf *b, const struct task_filters *f, const char *param, const char *cursor)
{
    const char *const p[][2] = {
        {"state", f->state},
        {"name", f->name},
        {"worker", f->worker},
        {"q", f->q},
        {"created_after", f->created_after},
        {"created_before", f->created_before},
        {"sort", f->sort != STORE_SORT_NEWEST ? sort_names[f->sort] : NULL},
        {param, cursor},
    };
    const char *sep = "?";

    buf_put(b, "/tasks");
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        if (p[i][0] == NULL || p[i][1] == NULL)
            continue;
        buf_printf(b, "%s%s=", sep, p[i][0]);
        html_url_enc(b, p[i][1]);
        sep = "&amp;";
    }
    if (f->limit != WEBAPP_LIST_DEFAULT)
        buf_printf(b, "%slimit=%d", sep, f->limit);
}

/* <input name=key> with its label, the value given, and the suggestions of
 * list (a <datalist> of each element's field, or none when list is NULL). */
static void
put_filter_input(struct buf *b, const char *label, const char *key, const char *type,
                 const char *value, const char *placeholder, const cJSON *list,
                 const char *field)
{
    const cJSON *e;

    buf_printf(b, "<label>%s <input type=\"%s\" name=\"%s\"", label, type, key);
    if (list != NULL)
        buf_printf(b, " list=\"filter-%s\"", key);
    if (placeholder != NULL)
        buf_printf(b, " placeholder=\"%s\"", placeholder);
    buf_put(b, " value=\"");
    html_esc(b, value != NULL ? value : "");
    buf_put(b, "\"></label>\n");
    if (list == NULL)
        return;
    buf_printf(b, "<datalist id=\"filter-%s\">", key);
    cJSON_ArrayForEach(e, list)
    {
        buf_put(b, "<option value=\"");
        html_esc(b, json_str(e, field));
        buf_put(b, "\">");
    }
    buf_put(b, "</datalist>\n");
}

/* A GET form: it works without JavaScript, and a new filter starts again
 * from the first page (no cursor field). */
static void
put_filter_form(struct buf *b, const struct task_filters *f, const cJSON *names,
                const cJSON *workers)
{
    buf_put(b, "<form class=\"filter\" method=\"get\" action=\"/tasks\">\n"
               "<label>State <select name=\"state\"><option value=\"\">any</option>");
    for (size_t i = 0; i < sizeof state_names / sizeof state_names[0]; i++)
        buf_printf(b, "<option%s>%s</option>",
                   f->state != NULL && strcmp(f->state, state_names[i]) == 0 ? " selected" : "",
                   state_names[i]);
    buf_put(b, "</select></label>\n");
    put_filter_input(b, "Name", "name", "text", f->name, NULL, names, "name");
    put_filter_input(b, "Worker", "worker", "text", f->worker, NULL, workers, "hostname");
    put_filter_input(b, "Text in args", "q", "search", f->q, NULL, NULL, NULL);
    put_filter_input(b, "Created after", "created_after", "text", f->created_after,
                     "2026-11-30T10:00", NULL, NULL);
    put_filter_input(b, "Created before", "created_before", "text", f->created_before,
                     "2026-11-30", NULL, NULL);
    buf_put(b, "<label>Order <select name=\"sort\">");
    for (int i = STORE_SORT_NEWEST; i <= STORE_SORT_FASTEST; i++)
        buf_printf(b, "<option value=\"%s\"%s>%s first</option>", sort_names[i],
                   (int)f->sort == i ? " selected" : "", sort_names[i]);
    buf_printf(b, "</select></label>\n"
                  "<label>Per page <input type=\"number\" name=\"limit\" min=\"1\" max=\"%d\""
                  " value=\"%d\"></label>\n"
                  "<button type=\"submit\">Filter</button> <a href=\"/tasks\">Clear</a>\n"
                  "<p class=\"hint\">Name and worker match exactly; the text is looked for in "
                  "the args and kwargs, in any case; times are UTC. Slowest and fastest "
                  "first list the tasks that ran, by run time.</p>\n</form>\n",
               STORE_LIST_MAX, f->limit);
}

static void
put_task_row(struct buf *b, const cJSON *t)
{
    char tmp[64];
    const char *id = field_text(t, "id", tmp, sizeof tmp);
    const char *error = json_str(t, "error");
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(t, "result");

    buf_put(b, "<tr data-task=\"");
    html_esc(b, id);
    buf_put(b, "\" data-state=\"");
    html_esc(b, json_str(t, "state"));
    buf_put(b, "\" data-key=\"");
    html_esc(b, json_str(t, "cursor"));
    buf_put(b, "\"><td class=\"id\"><a href=\"/tasks/");
    html_esc(b, id);
    buf_put(b, "\">");
    html_esc(b, id);
    buf_put(b, "</a></td><td>");
    html_esc(b, field_text(t, "name", tmp, sizeof tmp));
    buf_put(b, "</td><td class=\"state-cell\">");
    html_state(b, field_text(t, "state", tmp, sizeof tmp));
    if (json_str(t, "state") != NULL && strcmp(json_str(t, "state"), "STARTED") == 0 &&
        cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(t, "progress"))) {
        buf_put(b, " ");
        html_progress(b, (int)cJSON_GetObjectItemCaseSensitive(t, "progress")->valuedouble);
    }
    buf_put(b, "</td><td>");
    html_esc(b, field_text(t, "worker", tmp, sizeof tmp));
    buf_put(b, "</td><td>");
    html_time(b, field_text(t, "created_at", tmp, sizeof tmp));
    buf_put(b, "</td><td>");
    html_time(b, field_text(t, "finished_at", tmp, sizeof tmp));
    buf_put(b, "</td><td class=\"short\">");
    if (error != NULL) {
        html_esc_short(b, error, SHORT_RESULT_MAX);
    } else if (result != NULL && !cJSON_IsNull(result)) {
        char *text = json_print(result);
        html_esc_short(b, text != NULL ? text : "", SHORT_RESULT_MAX);
        cJSON_free(text);
    }
    buf_put(b, "</td></tr>\n");
}

/* Links to the first, previous and next pages, keeping the filters. The next
 * link is always there on a page that takes new tasks live (hidden while
 * nothing follows): live.js moves it when it pushes rows off the bottom. */
static void
put_pager(struct buf *b, const struct task_filters *f, const cJSON *page, bool live_insert)
{
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(page, "tasks");
    int n = cJSON_GetArraySize(tasks);
    bool more = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(page, "more"));
    const char *first = json_str(cJSON_GetArrayItem(tasks, 0), "cursor");
    const char *last = json_str(cJSON_GetArrayItem(tasks, n - 1), "cursor");
    bool has_prev = first != NULL && (f->after != NULL || (f->before != NULL && more));
    bool has_next = last != NULL && (f->before != NULL || more);

    if (f->after == NULL && f->before == NULL && !has_next && !live_insert)
        return;
    buf_put(b, "<p class=\"pager\">");
    if (f->after != NULL || f->before != NULL) {
        buf_put(b, "<a href=\"");
        put_list_href(b, f, NULL, NULL);
        buf_put(b, "\">First page</a> ");
    }
    if (has_prev) {
        buf_put(b, "<a rel=\"prev\" href=\"");
        put_list_href(b, f, "before", first);
        buf_put(b, "\">&laquo; Previous page</a> ");
    }
    if (has_next || live_insert) {
        buf_put(b, "<a rel=\"next\" id=\"tasks-next\" href=\"");
        put_list_href(b, f, last != NULL ? "after" : NULL, last);
        buf_printf(b, "\"%s>Next page &raquo;</a>", has_next ? "" : " hidden");
    }
    buf_put(b, "</p>\n");
}

void
page_task_list(struct app *a, struct request *r, struct response *resp)
{
    struct task_filters f;
    struct store_task_query q;
    int rc, n;
    char why[512];
    cJSON *page = NULL, *names = NULL, *workers = NULL;
    const cJSON *t, *tasks;
    struct buf *b = &resp->body;
    double read_at = clock_wall();
    bool first_page, live_insert;
    PGconn *db;

    if (task_filters_parse(r, &f, why, sizeof why) < 0) {
        page_error(resp, MHD_HTTP_BAD_REQUEST, "Invalid filter", why);
        return;
    }
    task_filters_query(&f, &q);
    db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    if (db != NULL) {
        page = store_task_list(db, &q, &rc);
        if (page != NULL) { /* suggestions only: the form works without them */
            names = store_registered_tasks(db, &rc);
            workers = store_workers_list(db, &rc);
        }
        dbpool_put(a->db, db);
    }
    if (page == NULL) {
        page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Database unavailable",
                   "The task list cannot be read right now; try again in a moment.");
        goto out;
    }
    tasks = cJSON_GetObjectItemCaseSensitive(page, "tasks");
    n = cJSON_GetArraySize(tasks);
    first_page = f.after == NULL && f.before == NULL;
    /* New tasks come in on top of the newest page when live.js can tell
     * whether they match: by state and name (its events carry both), not
     * by worker, text or time. */
    live_insert = first_page && f.sort == STORE_SORT_NEWEST && f.worker == NULL && f.q == NULL &&
                  f.created_after == NULL && f.created_before == NULL;
    html_response(resp, MHD_HTTP_OK);
    resp->csp = WEBAPP_SCRIPT_CSP;
    html_begin_live(b, "Tasks", 0);
    buf_put(b, "<h1>Tasks</h1>\n");
    put_filter_form(b, &f, names, workers);
    if (n == 0)
        buf_printf(b, "<p id=\"tasks-empty\">%s</p>\n",
                   first_page ? "No tasks match. <a href=\"/\">Run one.</a>"
                              : "No tasks on this page.");
    /* Always there (hidden while empty): live.js changes states in place
     * and, with data-insert, adds new matching tasks on top. */
    buf_printf(b, "<table data-live-tasks data-limit=\"%d\"%s", f.limit,
               live_insert ? " data-insert" : "");
    if (live_insert && f.state != NULL)
        buf_printf(b, " data-match-state=\"%s\"", f.state); /* one of state_names */
    if (live_insert && f.name != NULL) {
        buf_put(b, " data-match-name=\"");
        html_esc(b, f.name);
        buf_put(b, "\"");
    }
    buf_put(b, n == 0 ? " hidden" : "");
    put_cursor_t(b, read_at);
    buf_put(b, ">\n<tr><th>ID</th><th>Name</th><th>State</th><th>Worker</th>"
               "<th>Created</th><th>Finished</th><th>Result / error</th></tr>\n");
    cJSON_ArrayForEach(t, tasks) { put_task_row(b, t); }
    buf_put(b, "</table>\n");
    put_pager(b, &f, page, live_insert);
    if (n > 0)
        buf_printf(b, "<p class=\"hint\">%d task%s, %s first.</p>\n", n, n == 1 ? "" : "s",
                   sort_names[f.sort]);
    html_end(b);
out:
    cJSON_Delete(page);
    cJSON_Delete(names);
    cJSON_Delete(workers);
}

/* ----- GET /tasks/{id} ----- */

/* Shown in this order; any other column is listed after them. */
static const char *const scalar_fields[] = {
    "id",          "name",    "state", "progress", "outcome",    "queue",       "worker",
    "origin",      "retries", "eta",   "expires",  "created_at", "received_at", "started_at",
    "finished_at", "wall_s",  "cpu_s", "rss_kib",  "lost",       "lost_reason",
};
static const char *const json_fields[] = {"args", "kwargs", "result"};

static bool
listed(const char *key)
{
    for (size_t i = 0; i < sizeof scalar_fields / sizeof scalar_fields[0]; i++)
        if (strcmp(key, scalar_fields[i]) == 0)
            return true;
    for (size_t i = 0; i < sizeof json_fields / sizeof json_fields[0]; i++)
        if (strcmp(key, json_fields[i]) == 0)
            return true;
    /* parent_id: in the Lineage section, as a link. */
    return strcmp(key, "error") == 0 || strcmp(key, "parent_id") == 0;
}

/* A task's progress (0..100, reported while it runs): a bar while STARTED,
 * the number otherwise, a dash when never reported. */
static void
put_progress(struct buf *b, const char *state, const cJSON *progress)
{
    if (!cJSON_IsNumber(progress))
        buf_put(b, "&mdash;");
    else if (strcmp(state, "STARTED") == 0)
        html_progress(b, (int)progress->valuedouble);
    else
        buf_printf(b, "%d%%", (int)progress->valuedouble);
}

/* Log levels by rank: a filter shows its level and those above. A level
 * not listed ranks as INFO. */
static const struct {
    const char *name;
    int rank;
} log_levels[] = {{"DEBUG", 10}, {"INFO", 20}, {"WARN", 30}, {"WARNING", 30},
                  {"ERROR", 40}, {"CRITICAL", 50}};

static int
log_rank(const char *level)
{
    for (size_t i = 0; i < sizeof log_levels / sizeof log_levels[0]; i++)
        if (level != NULL && strcasecmp(level, log_levels[i].name) == 0)
            return log_levels[i].rank;
    return 20;
}

/* The log table (hidden while empty: live.js appends to it), with the lines
 * at min_rank or above, and a GET form to choose the level. */
static void
put_logs(struct buf *b, const char *task_id, const cJSON *logs, const char *level, int min_rank)
{
    static const char *const choices[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    const cJSON *l;
    char tmp[64];
    int shown = 0, total = cJSON_GetArraySize(logs);

    cJSON_ArrayForEach(l, logs) { shown += log_rank(json_str(l, "level")) >= min_rank; }
    buf_put(b, "<h2>Log</h2>\n<form class=\"filter\" method=\"get\" action=\"/tasks/");
    html_url_enc(b, task_id);
    buf_put(b, "\"><label>Level <select name=\"level\"><option value=\"\">all</option>");
    for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++)
        buf_printf(b, "<option value=\"%s\"%s>%s and above</option>", choices[i],
                   level != NULL && log_rank(level) == log_rank(choices[i]) ? " selected" : "",
                   choices[i]);
    buf_put(b, "</select></label> <button type=\"submit\">Show</button></form>\n");
    if (shown == 0)
        buf_printf(b, "<p class=\"hint\" id=\"task-log-empty\">%s</p>\n",
                   total == 0 ? "No log lines." : "No log lines at this level.");
    else if (shown < total)
        buf_printf(b, "<p class=\"hint\">%d of %d lines, at this level and above.</p>\n", shown,
                   total);
    buf_printf(b, "<table id=\"task-log\" data-min-level=\"%d\"%s>\n<tr><th>Time</th>"
                  "<th>Level</th><th>Message</th></tr>\n",
               min_rank, shown == 0 ? " hidden" : "");
    cJSON_ArrayForEach(l, logs)
    {
        const char *level_text = field_text(l, "level", tmp, sizeof tmp);
        char cls[16];
        size_t k = 0;

        if (log_rank(level_text) < min_rank)
            continue;
        /* The level becomes a CSS class: keep letters only. */
        for (const char *p = level_text; *p != '\0' && k < sizeof cls - 1; p++)
            if (isalpha((unsigned char)*p))
                cls[k++] = *p;
        cls[k] = '\0';
        buf_put(b, "<tr data-log=\"");
        html_esc(b, field_text(l, "id", tmp, sizeof tmp));
        buf_put(b, "\"><td>");
        html_esc(b, field_text(l, "logged_at", tmp, sizeof tmp));
        buf_printf(b, "</td><td class=\"level-%s\">", cls);
        html_esc(b, level_text);
        buf_put(b, "</td><td><pre>");
        html_esc(b, field_text(l, "message", tmp, sizeof tmp));
        buf_put(b, "</pre></td></tr>\n");
    }
    buf_put(b, "</table>\n");
}

/* A duration in seconds as people read it: "0.042 s", "12.3 s", "4 min 5 s",
 * "3 h 12 min", "2 d 5 h". */
static void
put_duration(struct buf *b, double s)
{
    long long m;

    if (s < 0)
        s = 0; /* the worker's clock behind the database's */
    if (s < 10)
        buf_printf(b, "%.3f s", s);
    else if (s < 60)
        buf_printf(b, "%.1f s", s);
    else if ((m = (long long)(s / 60)) < 60)
        buf_printf(b, "%lld min %lld s", m, (long long)s % 60);
    else if (m < 24 * 60)
        buf_printf(b, "%lld h %lld min", m / 60, m % 60);
    else
        buf_printf(b, "%lld d %lld h", m / (24 * 60), m / 60 % 24);
}

/* The time column key of row as Unix seconds, or false when unset. */
static bool
row_time(const cJSON *row, const char *key, double *at)
{
    return clock_parse_iso(json_str(row, key), at) == 0;
}

/* How long the task queued, waited and ran, each with how it is computed.
 * The <dd>s are named for live.js, which computes them the same way once the
 * task is final. */
static void
put_timings(struct buf *b, const cJSON *row)
{
    static const struct {
        const char *key, *label, *how;
    } rows[] = {
        {"queued", "Queued", "from its enqueue to a worker receiving it: received_at - created_at "
                             "(started_at - created_at when no receipt was recorded)"},
        {"waited", "Waited", "received, before it started (a free child, its ETA, the tasks "
                             "ahead in its batch): started_at - received_at"},
        {"ran", "Ran", "the handler's run time as the worker measured it: wall_s (else "
                       "finished_at - started_at)"},
        {"total", "Total", "from its enqueue to its final state: finished_at - created_at"},
    };
    const cJSON *wall = cJSON_GetObjectItemCaseSensitive(row, "wall_s");
    double created, received, started, finished, v[4];
    bool has_c = row_time(row, "created_at", &created);
    bool has_r = row_time(row, "received_at", &received);
    bool has_s = row_time(row, "started_at", &started);
    bool has_f = row_time(row, "finished_at", &finished);
    bool known[4];

    if (!has_r && has_s) {
        received = started;
        has_r = true;
    }
    known[0] = has_c && has_r;
    v[0] = received - created;
    known[1] = has_r && has_s;
    v[1] = started - received;
    known[2] = cJSON_IsNumber(wall) || (has_s && has_f);
    v[2] = cJSON_IsNumber(wall) ? wall->valuedouble : finished - started;
    known[3] = has_c && has_f;
    v[3] = finished - created;
    buf_put(b, "<h2>Timings</h2>\n<dl class=\"timings\">\n");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        buf_printf(b, "<dt>%s</dt><dd data-duration=\"%s\">", rows[i].label, rows[i].key);
        if (known[i])
            put_duration(b, v[i]);
        else
            buf_put(b, "&mdash;");
        buf_printf(b, " <span class=\"hint\">%s</span></dd>\n", rows[i].how);
    }
    buf_put(b, "</dl>\n");
}

/* What went wrong, when the task failed: Celery's exception type and
 * message from its result, and a traceback when the result carries one (a
 * Celery worker's; celeriac's own failures have none). */
static void
put_failure(struct buf *b, const cJSON *row)
{
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(row, "result");
    const char *state = json_str(row, "state"), *error = json_str(row, "error");
    const char *exc_type = json_str(result, "exc_type"), *tb = json_str(result, "traceback");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(result, "exc_message");

    if (state == NULL || strcmp(state, "FAILURE") != 0)
        return;
    buf_put(b, "<h2>Failure</h2>\n<p class=\"error\">");
    if (exc_type != NULL) {
        buf_put(b, "<strong>");
        html_esc(b, exc_type);
        buf_put(b, "</strong>: ");
    }
    if (error != NULL) {
        html_esc(b, error);
    } else if (cJSON_IsString(cJSON_GetArrayItem(msg, 0))) {
        html_esc(b, cJSON_GetArrayItem(msg, 0)->valuestring);
    } else if (cJSON_IsString(msg)) {
        html_esc(b, msg->valuestring);
    }
    buf_put(b, "</p>\n");
    if (tb != NULL) {
        buf_put(b, "<h3>Traceback</h3>\n<pre class=\"traceback\">");
        html_esc(b, tb);
        buf_put(b, "</pre>\n");
    } else {
        buf_put(b, "<p class=\"hint\">No traceback: celeriac's tasks are C; a task run by a "
                   "Celery worker stores its Python traceback in the result.</p>\n");
    }
}

/* A task as a link with its name and state ("a task celeriac never saw"
 * when only its id is known). */
static void
put_task_link(struct buf *b, const char *id, const cJSON *task)
{
    html_task_link(b, id);
    if (task == NULL || cJSON_IsNull(task)) {
        buf_put(b, " <span class=\"hint\">(not known here)</span>");
        return;
    }
    buf_put(b, " ");
    html_esc(b, json_str(task, "name"));
    buf_put(b, " ");
    html_state(b, json_str(task, "state"));
}

static void
put_lineage(struct buf *b, const char *id, const cJSON *related)
{
    const char *parent_id = json_str(related, "parent_id");
    const cJSON *children = cJSON_GetObjectItemCaseSensitive(related, "children"), *c;

    buf_put(b, "<h2>Lineage</h2>\n<dl>\n<dt>Parent</dt><dd data-lineage=\"parent\">");
    if (parent_id != NULL)
        put_task_link(b, parent_id, cJSON_GetObjectItemCaseSensitive(related, "parent"));
    else
        buf_put(b, "&mdash;");
    buf_put(b, "</dd>\n<dt>Children</dt><dd data-lineage=\"children\">");
    if (cJSON_GetArraySize(children) == 0)
        buf_put(b, "&mdash;");
    else
        buf_put(b, "<ul>");
    cJSON_ArrayForEach(c, children)
    {
        buf_put(b, "<li>");
        put_task_link(b, json_str(c, "id"), c);
        buf_put(b, " <span class=\"hint\">");
        html_time(b, json_str(c, "created_at") != NULL ? json_str(c, "created_at") : "");
        buf_put(b, "</span></li>");
    }
    if (cJSON_GetArraySize(children) > 0)
        buf_put(b, "</ul>");
    if (cJSON_GetArraySize(children) >= TASK_RELATED_MAX)
        buf_printf(b, "<p class=\"hint\">The newest %d.</p>", TASK_RELATED_MAX);
    buf_put(b, "</dd>\n</dl>\n<p><a href=\"/?rerun=");
    html_url_enc(b, id);
    buf_put(b, "\">Edit and re-run</a> <span class=\"hint\">(the form, filled with this task's "
               "name, args, kwargs and queue; the new task's parent is this one)</span></p>\n");
}

/* The chat messages this task stored (chat.persist), linking to their rooms. */
static void
put_chat(struct buf *b, const cJSON *related)
{
    const cJSON *chat = cJSON_GetObjectItemCaseSensitive(related, "chat"), *m;

    if (cJSON_GetArraySize(chat) == 0)
        return;
    buf_put(b, "<h2>Chat messages</h2>\n<table>\n<tr><th>Room</th><th>Author</th>"
               "<th>Message</th><th>Sent</th></tr>\n");
    cJSON_ArrayForEach(m, chat)
    {
        buf_put(b, "<tr><td><a href=\"/chat/");
        html_url_enc(b, json_str(m, "room") != NULL ? json_str(m, "room") : "");
        buf_put(b, "\">");
        html_esc(b, json_str(m, "room"));
        buf_put(b, "</a></td><td>");
        html_esc(b, json_str(m, "author"));
        buf_put(b, "</td><td class=\"short\">");
        html_esc_short(b, json_str(m, "body") != NULL ? json_str(m, "body") : "",
                       SHORT_RESULT_MAX);
        buf_put(b, "</td><td>");
        html_time(b, json_str(m, "sent_at") != NULL ? json_str(m, "sent_at") : "");
        buf_put(b, "</td></tr>\n");
    }
    buf_put(b, "</table>\n");
}

/* Revoke while the task may still run, retry once it failed or was revoked.
 * Both are there on a live page, the one that does not apply hidden:
 * live.js swaps them once the task is final. */
static void
put_actions(struct buf *b, const char *id, const char *state, bool live)
{
    bool running = !store_state_final(state);
    bool retryable = strcmp(state, "FAILURE") == 0 || strcmp(state, "REVOKED") == 0;

    buf_put(b, "<div class=\"actions\">");
    if (running || live) {
        buf_put(b,
                "<form class=\"button\" method=\"post\" data-action=\"revoke\" action=\"/tasks/");
        html_url_enc(b, id);
        buf_printf(b, "/revoke\"%s><button type=\"submit\">Revoke</button></form>",
                   running ? "" : " hidden");
    }
    if (retryable || live) {
        buf_put(b,
                "<form class=\"button\" method=\"post\" data-action=\"retry\" action=\"/tasks/");
        html_url_enc(b, id);
        buf_printf(b, "/retry\"%s><button type=\"submit\">Retry</button></form>",
                   retryable ? "" : " hidden");
    }
    buf_put(b, "</div>\n");
}

void
page_task_detail(struct app *a, struct request *r, struct response *resp)
{
    cJSON *row = NULL, *logs = NULL, *articles = NULL, *related = NULL;
    struct store_article_query aq = {.task_id = r->id, .limit = TASK_ARTICLES_MAX};
    const cJSON *f;
    struct buf *b = &resp->body;
    char tmp[64], why[512];
    const char *state, *error, *level = http_query(r, "level");
    PGconn *db;
    int rc = STORE_ERR, min_rank = 0;
    bool live;

    if (!uuid_is_valid(r->id)) {
        page_error(resp, MHD_HTTP_BAD_REQUEST, "Invalid task id",
                   "A task id is a UUID such as 0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f10.");
        return;
    }
    if (level != NULL && level[0] != '\0') {
        bool known = false;
        for (size_t i = 0; i < sizeof log_levels / sizeof log_levels[0]; i++)
            known |= strcasecmp(level, log_levels[i].name) == 0;
        if (!known) {
            page_error(resp, MHD_HTTP_BAD_REQUEST, "Invalid log level",
                       "level must be DEBUG, INFO, WARN, WARNING, ERROR or CRITICAL.");
            return;
        }
        min_rank = log_rank(level);
    }
    db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    if (db != NULL) {
        row = store_task_get(db, r->id, &rc);
        if (row != NULL)
            logs = store_task_logs(db, r->id, &rc);
        if (logs != NULL) {
            int arc; /* without them the page still shows the task */
            articles = store_articles_list(db, &aq, &arc);
            related = store_task_related(db, r->id, TASK_RELATED_MAX, &arc);
        }
        dbpool_put(a->db, db);
    }
    if (row == NULL && rc == STORE_NOT_FOUND) {
        page_error(resp, MHD_HTTP_NOT_FOUND, "No such task", "There is no task with this id.");
        goto out;
    }
    if (row == NULL || logs == NULL) {
        page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Database unavailable",
                   "The task cannot be read right now; try again in a moment.");
        goto out;
    }
    state = field_text(row, "state", tmp, sizeof tmp);
    live = !store_state_final(state);
    html_response(resp, MHD_HTTP_OK);
    if (live) {
        /* A task still moving follows its stream (live.js): state, progress
         * and log lines in place. Without JavaScript it refreshes itself. */
        const char *name = json_str(row, "name");
        long long last_log = 0;
        char id[UUID_STR_LEN];

        for (size_t i = 0; i < sizeof id; i++) /* as the stream names it: lower case */
            id[i] = (char)tolower((unsigned char)r->id[i]);

        cJSON_ArrayForEach(f, logs)
        {
            double line = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(f, "id"));

            if (line > (double)last_log)
                last_log = (long long)line;
        }
        resp->csp = WEBAPP_SCRIPT_CSP;
        html_begin_live(b, "Task", 2);
        buf_put(b, "<h1>Task <span class=\"id\">");
        html_esc(b, field_text(row, "id", tmp, sizeof tmp));
        buf_put(b, "</span></h1>\n");
        put_actions(b, id, state, true);
        /* Pages with sections of their own (articles, files) load again
         * once final; the others fill their fields from /api/tasks/{id}. */
        buf_printf(b, "<dl data-live-task=\"%s\" data-last-log=\"%lld\""
                      " data-cursor=\"l%lld\"%s>\n",
                   id, last_log, last_log,
                   name != NULL && (strncmp(name, "scrape.", 7) == 0 ||
                                    strncmp(name, "convert.", 8) == 0)
                       ? " data-reload-on-final"
                       : "");
    } else {
        html_begin(b, "Task", 0);
        buf_put(b, "<h1>Task <span class=\"id\">");
        html_esc(b, field_text(row, "id", tmp, sizeof tmp));
        buf_put(b, "</span></h1>\n");
        put_actions(b, r->id, state, false);
        buf_put(b, "<dl>\n");
    }
    for (size_t i = 0; i < sizeof scalar_fields / sizeof scalar_fields[0]; i++) {
        const char *v = field_text(row, scalar_fields[i], tmp, sizeof tmp);

        buf_printf(b, "<dt>%s</dt><dd data-field=\"%s\">", scalar_fields[i], scalar_fields[i]);
        if (strcmp(scalar_fields[i], "state") == 0)
            html_state(b, v);
        else if (strcmp(scalar_fields[i], "progress") == 0)
            put_progress(b, state, cJSON_GetObjectItemCaseSensitive(row, "progress"));
        else if (v[0] == '\0')
            buf_put(b, "&mdash;");
        else
            html_esc(b, v);
        buf_put(b, "</dd>\n");
    }
    for (size_t i = 0; i < sizeof json_fields / sizeof json_fields[0]; i++) {
        buf_printf(b, "<dt>%s</dt><dd data-field=\"%s\">", json_fields[i], json_fields[i]);
        put_json_pre(b, cJSON_GetObjectItemCaseSensitive(row, json_fields[i]));
        buf_put(b, "</dd>\n");
    }
    error = json_str(row, "error");
    buf_put(b, "<dt>error</dt><dd data-field=\"error\">");
    if (error != NULL) {
        buf_put(b, "<pre>");
        html_esc(b, error);
        buf_put(b, "</pre>");
    } else {
        buf_put(b, "&mdash;");
    }
    buf_put(b, "</dd>\n");
    /* Columns added by later migrations still show, generically. */
    cJSON_ArrayForEach(f, row)
    {
        if (listed(f->string))
            continue;
        buf_put(b, "<dt>");
        html_esc(b, f->string);
        buf_put(b, "</dt><dd data-field=\"");
        html_esc(b, f->string);
        buf_put(b, "\">");
        if (cJSON_IsObject(f) || cJSON_IsArray(f))
            put_json_pre(b, f);
        else
            html_esc(b, field_text(row, f->string, tmp, sizeof tmp));
        buf_put(b, "</dd>\n");
    }
    buf_put(b, "</dl>\n");
    put_failure(b, row);
    put_timings(b, row);
    if (related != NULL)
        put_lineage(b, r->id, related);
    put_logs(b, r->id, logs, level, min_rank);
    page_put_task_articles(b, r->id, articles);
    page_put_task_files(b, row);
    put_chat(b, related);
    html_end(b);
out:
    cJSON_Delete(row);
    cJSON_Delete(logs);
    cJSON_Delete(articles);
    cJSON_Delete(related);
}

/* ----- POST /tasks/{id}/revoke and /tasks/{id}/retry ----- */

void
page_task_revoke(struct app *a, struct request *r, struct response *resp)
{
    char why[512], before[32], location[16 + WEBAPP_ID_MAX];
    PGconn *db;
    int rc;

    if (!uuid_is_valid(r->id)) {
        page_error(resp, MHD_HTTP_BAD_REQUEST, "Invalid task id", "A task id is a UUID.");
        return;
    }
    if ((db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why)) == NULL) {
        page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Database unavailable", why);
        return;
    }
    /* As POST /api/tasks/{id}/revoke: a final task keeps its state. */
    rc = store_revoke(db, r->id, false, before, sizeof before);
    dbpool_put(a->db, db);
    if (rc != STORE_OK) {
        page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Database unavailable",
                   "The task cannot be revoked right now; try again in a moment.");
        return;
    }
    snprintf(location, sizeof location, "/tasks/%s", r->id);
    html_see_other(resp, location);
}

void
page_task_retry(struct app *a, struct request *r, struct response *resp)
{
    char err[1024], id[UUID_STR_LEN], location[64];
    bool unconfirmed;
    unsigned int status;

    if (!uuid_is_valid(r->id)) {
        page_error(resp, MHD_HTTP_BAD_REQUEST, "Invalid task id", "A task id is a UUID.");
        return;
    }
    status = app_task_retry(a, r->id, id, &unconfirmed, err, sizeof err);
    if (status != MHD_HTTP_ACCEPTED) {
        page_error(resp, status, status == MHD_HTTP_NOT_FOUND ? "No such task" : "Cannot retry",
                   err);
        return;
    }
    snprintf(location, sizeof location, "/tasks/%s", id);
    html_see_other(resp, location);
}
