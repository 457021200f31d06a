/* webapp/pages.c - the server-rendered HTML pages: the form that triggers a
 * task, the task list and a task's detail. Every value that did not come from
 * this file goes through html_esc(); numbers are printed with %d. */
#include "webapp/webapp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/json.h"
#include "sql/store.h"

#define SHORT_RESULT_MAX 80 /* bytes of result/error shown in the list */

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

/* ----- the form: GET / and POST /tasks ----- */

/* The tasks the workers that are up registered (workers.registered), or
 * NULL when the database cannot say: the form then takes any name. */
static cJSON *
registered_tasks(struct app *a)
{
    char why[512];
    PGconn *db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    cJSON *tasks;
    int rc;

    if (db == NULL)
        return NULL;
    tasks = store_registered_tasks(db, &rc);
    dbpool_put(a->db, db);
    return tasks;
}

static void
render_form(struct app *a, struct response *resp, unsigned int status, const char *name,
            const char *args, const char *kwargs, const char *queue, const char *error)
{
    struct buf *b = &resp->body;
    cJSON *tasks = registered_tasks(a);
    const cJSON *t;

    buf_reset(b);
    html_response(resp, status);
    html_begin(b, "Run a task", 0);
    buf_put(b, "<h1>Run a task</h1>\n");
    if (error != NULL) {
        buf_put(b, "<p class=\"error\" role=\"alert\">");
        html_esc(b, error);
        buf_put(b, "</p>\n");
    }
    buf_put(b, "<form class=\"task\" method=\"post\" action=\"/tasks\">\n"
               "<label for=\"name\">Task name</label>\n"
               "<input id=\"name\" name=\"name\" list=\"task-names\" required"
               " placeholder=\"demo.add\" value=\"");
    html_esc(b, name);
    buf_put(b, "\">\n<datalist id=\"task-names\">\n");
    cJSON_ArrayForEach(t, tasks)
    {
        buf_put(b, "<option value=\"");
        html_esc(b, json_str(t, "name"));
        buf_put(b, "\">");
        html_esc(b, json_str(t, "doc"));
        buf_put(b, "</option>\n");
    }
    buf_put(b, "</datalist>\n"
               "<label for=\"args\">args <span class=\"hint\">(JSON array)</span></label>\n"
               "<textarea id=\"args\" name=\"args\" rows=\"3\">");
    html_esc(b, args);
    buf_put(b, "</textarea>\n"
               "<label for=\"kwargs\">kwargs <span class=\"hint\">(JSON object)</span></label>\n"
               "<textarea id=\"kwargs\" name=\"kwargs\" rows=\"3\">");
    html_esc(b, kwargs);
    buf_put(b, "</textarea>\n"
               "<label for=\"queue\">queue <span class=\"hint\">(optional: empty routes by "
               "name)</span></label>\n"
               "<input id=\"queue\" name=\"queue\" value=\"");
    html_esc(b, queue);
    buf_put(b, "\">\n<button type=\"submit\">Enqueue</button>\n</form>\n"
               "<h2>Tasks the workers registered</h2>\n");
    if (cJSON_GetArraySize(tasks) == 0) {
        buf_put(b, tasks == NULL ? "<p class=\"hint\">The database cannot say which tasks the "
                                   "workers know right now.</p>\n"
                                 : "<p class=\"hint\">No worker is up: start one "
                                   "(<code>celeriac-worker</code>) to see its tasks here.</p>\n");
    } else {
        buf_put(b, "<table>\n<tr><th>Name</th><th>What it does</th><th>Queue</th>"
                   "<th>Example args</th></tr>\n");
        cJSON_ArrayForEach(t, tasks)
        {
            buf_put(b, "<tr><td><code>");
            html_esc(b, json_str(t, "name"));
            buf_put(b, "</code></td><td>");
            html_esc(b, json_str(t, "doc"));
            buf_put(b, "</td><td>");
            html_esc(b, json_str(t, "queue"));
            buf_put(b, "</td><td><code>");
            html_esc(b, json_str(t, "example_args"));
            buf_put(b, "</code></td></tr>\n");
        }
        buf_put(b, "</table>\n");
    }
    buf_put(b, "<p class=\"hint\">Any other task name may be typed: a worker that does not "
               "know it records a failure.</p>\n");
    page_put_scrape_form(b, "", "", true, "");
    html_end(b);
    cJSON_Delete(tasks);
}

void
page_home(struct app *a, struct request *r, struct response *resp)
{
    (void)r;
    render_form(a, resp, MHD_HTTP_OK, "", "[]", "{}", "", NULL);
}

/* Parse a form's JSON text field into body[key]; empty means absent. */
static int
add_json_field(cJSON *body, const char *key, const char *text, char *err, size_t errlen)
{
    char why[256];
    size_t len = strlen(text);
    cJSON *v;

    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    if (len == 0)
        return 0;
    v = json_parse(text, len, why, sizeof why);
    if (v == NULL) {
        snprintf(err, errlen, "%s is not valid JSON: %s", key, why);
        return -1;
    }
    cJSON_AddItemToObject(body, key, v);
    return 0;
}

void
page_task_create(struct app *a, struct request *r, struct response *resp)
{
    const char *name = r->form.name.data ? r->form.name.data : "";
    const char *args = r->form.args.data ? r->form.args.data : "";
    const char *kwargs = r->form.kwargs.data ? r->form.kwargs.data : "";
    const char *queue = r->form.queue.data ? r->form.queue.data : "";
    struct enqueue_req req;
    char err[1024], id[UUID_STR_LEN];
    cJSON *body = NULL;
    bool unconfirmed;
    int rc;

    if (r->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "The form is larger than %d bytes.", WEBAPP_BODY_MAX);
        page_error(resp, MHD_HTTP_CONTENT_TOO_LARGE, "Form too large", msg);
        goto out;
    }
    if (r->form.malformed) {
        render_form(a, resp, MHD_HTTP_BAD_REQUEST, "", "[]", "{}", "",
                    "The form data could not be read; please submit it again.");
        goto out;
    }
    if (r->form.has_nul) {
        render_form(a, resp, MHD_HTTP_BAD_REQUEST, "", "[]", "{}", "",
                    "The form values must not contain NUL characters.");
        goto out;
    }
    /* Build the same JSON object the API receives, so both paths share one
     * set of rules and messages. */
    body = cJSON_CreateObject();
    if (name[0] != '\0')
        cJSON_AddStringToObject(body, "name", name);
    if (queue[0] != '\0')
        cJSON_AddStringToObject(body, "queue", queue);
    if (add_json_field(body, "args", args, err, sizeof err) < 0 ||
        add_json_field(body, "kwargs", kwargs, err, sizeof err) < 0 ||
        api_enqueue_req(body, &req, err, sizeof err) < 0) {
        render_form(a, resp, MHD_HTTP_BAD_REQUEST, name, args, kwargs, queue, err);
        goto out;
    }
    rc = app_enqueue(a, &req, id, &unconfirmed, err, sizeof err);
    if (rc != ENQUEUE_OK) {
        render_form(a, resp, app_enqueue_status(rc), name, args, kwargs, queue, err);
        if (rc != ENQUEUE_INVALID)
            resp->retry_after = 5;
        goto out;
    }
    html_response(resp, MHD_HTTP_SEE_OTHER);
    snprintf(resp->location, sizeof resp->location, "/tasks/%s", id);
    html_begin(&resp->body, "Task queued", 0);
    buf_printf(&resp->body, "<p>Queued: <a href=\"/tasks/%s\">%s</a></p>\n", id, id);
    html_end(&resp->body);
out:
    cJSON_Delete(body);
}

/* ----- GET /tasks ----- */

static void
put_filter_form(struct buf *b, const char *state, const char *name)
{
    buf_put(b, "<form class=\"filter\" method=\"get\" action=\"/tasks\">\n"
               "<label>State <select name=\"state\"><option value=\"\">any</option>");
    for (size_t i = 0; i < sizeof state_names / sizeof state_names[0]; i++)
        buf_printf(b, "<option%s>%s</option>",
                   state != NULL && strcmp(state, state_names[i]) == 0 ? " selected" : "",
                   state_names[i]);
    buf_put(b, "</select></label>\n<label>Name <input name=\"name\" value=\"");
    html_esc(b, name != NULL ? name : "");
    buf_put(b, "\"></label>\n<button type=\"submit\">Filter</button>\n</form>\n");
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

void
page_task_list(struct app *a, struct request *r, struct response *resp)
{
    struct task_filters f;
    int rc, n;
    char why[512];
    cJSON *tasks = NULL;
    const cJSON *t;
    struct buf *b = &resp->body;
    double read_at = clock_wall();
    PGconn *db;

    if (task_filters_parse(r, &f, why, sizeof why) < 0) {
        page_error(resp, MHD_HTTP_BAD_REQUEST, "Invalid filter", why);
        return;
    }
    db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    if (db != NULL) {
        tasks = store_task_list(db, f.state, f.name, f.limit, &rc);
        dbpool_put(a->db, db);
    }
    if (tasks == NULL) {
        page_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Database unavailable",
                   "The task list cannot be read right now; try again in a moment.");
        return;
    }
    html_response(resp, MHD_HTTP_OK);
    resp->csp = WEBAPP_SCRIPT_CSP;
    html_begin_live(b, "Tasks", 0);
    buf_put(b, "<h1>Tasks</h1>\n");
    put_filter_form(b, f.state, f.name);
    n = cJSON_GetArraySize(tasks);
    if (n == 0)
        buf_put(b, "<p id=\"tasks-empty\">No tasks match. <a href=\"/\">Run one.</a></p>\n");
    /* Always there (hidden while empty): live.js adds new tasks on top and
     * changes states in place; a filtered list only changes states. */
    buf_printf(b, "<table data-live-tasks data-limit=\"%d\"%s%s", f.limit,
               f.state != NULL || f.name != NULL ? " data-filtered" : "", n == 0 ? " hidden" : "");
    put_cursor_t(b, read_at);
    buf_put(b, ">\n<tr><th>ID</th><th>Name</th><th>State</th><th>Worker</th>"
               "<th>Created</th><th>Finished</th><th>Result / error</th></tr>\n");
    cJSON_ArrayForEach(t, tasks) { put_task_row(b, t); }
    buf_put(b, "</table>\n");
    if (n > 0)
        buf_printf(b, "<p class=\"hint\">%d task%s, newest first.</p>\n", n, n == 1 ? "" : "s");
    html_end(b);
    cJSON_Delete(tasks);
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
    return strcmp(key, "error") == 0;
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

/* The log table (hidden while empty: live.js appends to it). */
static void
put_logs(struct buf *b, const cJSON *logs)
{
    const cJSON *l;
    char tmp[64];
    bool none = cJSON_GetArraySize(logs) == 0;

    buf_put(b, "<h2>Log</h2>\n");
    if (none)
        buf_put(b, "<p class=\"hint\" id=\"task-log-empty\">No log lines.</p>\n");
    buf_printf(b, "<table id=\"task-log\"%s>\n<tr><th>Time</th><th>Level</th><th>Message</th>"
                  "</tr>\n",
               none ? " hidden" : "");
    cJSON_ArrayForEach(l, logs)
    {
        const char *level = field_text(l, "level", tmp, sizeof tmp);
        char cls[16];
        size_t k = 0;

        /* The level becomes a CSS class: keep letters only. */
        for (const char *p = level; *p != '\0' && k < sizeof cls - 1; p++)
            if (isalpha((unsigned char)*p))
                cls[k++] = *p;
        cls[k] = '\0';
        buf_put(b, "<tr data-log=\"");
        html_esc(b, field_text(l, "id", tmp, sizeof tmp));
        buf_put(b, "\"><td>");
        html_esc(b, field_text(l, "logged_at", tmp, sizeof tmp));
        buf_printf(b, "</td><td class=\"level-%s\">", cls);
        html_esc(b, level);
        buf_put(b, "</td><td><pre>");
        html_esc(b, field_text(l, "message", tmp, sizeof tmp));
        buf_put(b, "</pre></td></tr>\n");
    }
    buf_put(b, "</table>\n");
}

void
page_task_detail(struct app *a, struct request *r, struct response *resp)
{
    cJSON *row = NULL, *logs = NULL, *articles = NULL;
    struct store_article_query aq = {.task_id = r->id, .limit = TASK_ARTICLES_MAX};
    const cJSON *f;
    struct buf *b = &resp->body;
    char tmp[64], why[512];
    const char *state, *error;
    PGconn *db;
    int rc = STORE_ERR;
    bool live;

    if (!uuid_is_valid(r->id)) {
        page_error(resp, MHD_HTTP_BAD_REQUEST, "Invalid task id",
                   "A task id is a UUID such as 0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f10.");
        return;
    }
    db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    if (db != NULL) {
        row = store_task_get(db, r->id, &rc);
        if (row != NULL)
            logs = store_task_logs(db, r->id, &rc);
        if (logs != NULL) {
            int arc; /* without them the page still shows the task */
            articles = store_articles_list(db, &aq, &arc);
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
        /* Pages with sections of their own (articles, files) load again
         * once final; the others fill their fields from /api/tasks/{id}. */
        buf_printf(b, "</span></h1>\n<dl data-live-task=\"%s\" data-last-log=\"%lld\""
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
        buf_put(b, "</span></h1>\n<dl>\n");
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
    put_logs(b, logs);
    page_put_task_articles(b, r->id, articles);
    page_put_task_files(b, row);
    html_end(b);
out:
    cJSON_Delete(row);
    cJSON_Delete(logs);
    cJSON_Delete(articles);
}
