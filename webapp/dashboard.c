/* webapp/dashboard.c - the dashboard (GET /): tasks by state, the workers
 * online, the tasks that finished in each minute of the last hour (an SVG
 * chart drawn here, its numbers also as a table), run time percentiles by
 * task name, and the form that runs a task. GET /api/stats answers the same
 * numbers as JSON (store_stats()).
 *
 * The form: GET /?task=NAME shows one field per parameter of NAME, of the
 * type a worker described (its registry entry's "params"); they post to
 * POST / as "p.<parameter>" and go out as kwargs of the right JSON types.
 * Raw JSON args and kwargs stay, for any name. POST /tasks (the fields of
 * struct form: name, args, kwargs, queue) runs the same code with no typed
 * field. Every value shown goes through html_esc(). */
#include "webapp/webapp.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "sql/store.h"

#define FIELD_PREFIX "p." /* a typed field's name: this and its parameter's */
#define RUN_FIELDS_MAX 64 /* fields a POST / may send (400 above) */
#define PARAMS_MAX 32     /* parameters of a task shown as fields */
#define PARAM_NAME_MAX 64 /* bytes of a parameter's name */
#define QUOTE_MAX 40      /* bytes of a refused value quoted back in an error */
#define POST_BUFFER 4096  /* MHD's post processor buffer for POST / */
_Static_assert(STORE_STATS_NAMES_MAX == 100, "the texts shown say 100 names");

static const char *const state_names[] = {"PENDING", "RECEIVED", "STARTED", "RETRY",
                                          "SUCCESS", "FAILURE",  "REVOKED"};

/* ----- what a task form sent ----- */

struct run_field {
    char *key;
    struct buf value;
};

/* The fields of a task form: name, args, kwargs, queue and the typed
 * "p.<parameter>" ones. A repeated field keeps its last value. */
struct run_form {
    struct run_field f[RUN_FIELDS_MAX];
    int n;
    bool too_many; /* more than RUN_FIELDS_MAX fields */
    bool has_nul;  /* a value held a NUL byte (%00) */
    bool oom;
};

static void
form_fini(struct run_form *f)
{
    for (int i = 0; i < f->n; i++) {
        free(f->f[i].key);
        buf_fini(&f->f[i].value);
    }
    f->n = 0;
}

/* The value of field key ("" when sent empty), or NULL when not sent. */
static const char *
form_get(const struct run_form *f, const char *key)
{
    for (int i = 0; f != NULL && i < f->n; i++)
        if (strcmp(f->f[i].key, key) == 0)
            return f->f[i].value.data != NULL ? f->f[i].value.data : "";
    return NULL;
}

static const char *
form_get_or(const struct run_form *f, const char *key, const char *dflt)
{
    const char *v = form_get(f, key);

    return v != NULL ? v : dflt;
}

/* Field key, emptied (a repeated field starts again), or NULL when there is
 * no room left (too_many or oom set). */
static struct run_field *
form_field(struct run_form *f, const char *key)
{
    struct run_field *rf;

    for (int i = 0; i < f->n; i++)
        if (strcmp(f->f[i].key, key) == 0) {
            buf_reset(&f->f[i].value);
            return &f->f[i];
        }
    if (f->n == RUN_FIELDS_MAX) {
        f->too_many = true;
        return NULL;
    }
    rf = &f->f[f->n];
    memset(rf, 0, sizeof *rf);
    if ((rf->key = strdup(key)) == NULL) {
        f->oom = true;
        return NULL;
    }
    f->n++;
    return rf;
}

static void
form_set(struct run_form *f, const char *key, const struct buf *value)
{
    struct run_field *rf = form_field(f, key);

    if (rf != NULL && value->data != NULL)
        buf_putn(&rf->value, value->data, value->len);
}

static void
form_set_text(struct run_form *f, const char *key, const char *text)
{
    struct run_field *rf = form_field(f, key);

    if (rf != NULL && text != NULL)
        buf_put(&rf->value, text);
}

/* MHD's post processor hands over each field, a long value in pieces. */
static enum MHD_Result
on_run_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
             const char *content_type, const char *transfer_encoding, const char *data,
             uint64_t off, size_t size)
{
    struct run_form *f = cls;
    struct run_field *rf = NULL;

    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    if (key == NULL || filename != NULL)
        return MHD_YES; /* a part without a name, or a file: not ours */
    if (off > 0) {
        for (int i = 0; i < f->n && rf == NULL; i++)
            if (strcmp(f->f[i].key, key) == 0)
                rf = &f->f[i];
    } else {
        rf = form_field(f, key);
    }
    if (rf == NULL)
        return f->too_many || f->oom ? MHD_NO : MHD_YES;
    if (size > 0 && memchr(data, '\0', size) != NULL)
        f->has_nul = true;
    buf_putn(&rf->value, data != NULL ? data : "", size);
    f->oom |= rf->value.oom;
    return f->oom ? MHD_NO : MHD_YES;
}

/* Read POST /'s body (urlencoded or multipart) into f. 0, or the status to
 * answer with the problem in err. */
static unsigned int
form_read(struct request *r, struct run_form *f, char *err, size_t errlen)
{
    struct MHD_PostProcessor *pp;
    enum MHD_Result ok;

    if (r->too_big) {
        snprintf(err, errlen, "The form is larger than %d bytes.", WEBAPP_BODY_MAX);
        return MHD_HTTP_CONTENT_TOO_LARGE;
    }
    /* The connection is suspended while its handler runs: its headers stay. */
    pp = r->conn != NULL ? MHD_create_post_processor(r->conn, POST_BUFFER, on_run_field, f) : NULL;
    if (pp == NULL) {
        snprintf(err, errlen,
                 "The form must be sent as application/x-www-form-urlencoded or "
                 "multipart/form-data.");
        return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
    }
    ok = r->body.len > 0 ? MHD_post_process(pp, r->body.data, r->body.len) : MHD_YES;
    /* The last urlencoded value comes out when the processor is destroyed. */
    if (MHD_destroy_post_processor(pp) == MHD_NO)
        ok = MHD_NO;
    if (f->too_many) {
        snprintf(err, errlen, "The form has more than %d fields.", RUN_FIELDS_MAX);
        return MHD_HTTP_BAD_REQUEST;
    }
    if (f->oom) {
        snprintf(err, errlen, "Out of memory while reading the form; try again.");
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    if (ok == MHD_NO) {
        snprintf(err, errlen, "The form data could not be read; please submit it again.");
        return MHD_HTTP_BAD_REQUEST;
    }
    if (f->has_nul) {
        snprintf(err, errlen, "The form values must not contain NUL characters.");
        return MHD_HTTP_BAD_REQUEST;
    }
    return 0;
}

/* ----- the parameters a worker described ----- */

enum param_type { PT_NUMBER, PT_INTEGER, PT_STRING, PT_BOOL, PT_OBJECT, PT_ARRAY, PT_JSON };

/* As worker/registry.c names them; a type this webapp does not know (a
 * newer worker's) is taken as any JSON value. */
static const char *const param_type_names[] = {"number", "integer", "string", "bool",
                                               "object", "array",   "JSON"};

struct param {
    const char *name; /* borrowed from the registry entry */
    enum param_type type;
    bool required;
    const cJSON *dflt; /* the default, or NULL */
};

static bool
param_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > PARAM_NAME_MAX || isdigit((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return false;
    return true;
}

/* The parameters of registry entry t: how many (0 for none), or -1 when it
 * describes none or describes them unusably (a worker of another kind, or
 * broken): the form then offers raw JSON only. */
static int
task_params(const cJSON *t, struct param *ps, int max)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(t, "params"), *p;
    int n = 0;

    if (!cJSON_IsArray(list))
        return -1;
    cJSON_ArrayForEach(p, list)
    {
        const char *name = json_str(p, "name"), *type = json_str(p, "type");
        const cJSON *required = cJSON_GetObjectItemCaseSensitive(p, "required");

        if (n == max || name == NULL || !param_name_ok(name) || type == NULL)
            return -1;
        for (int i = 0; i < n; i++)
            if (strcmp(ps[i].name, name) == 0)
                return -1;
        ps[n].name = name;
        ps[n].type = PT_JSON;
        for (int k = 0; k < PT_JSON; k++)
            if (strcmp(type, param_type_names[k]) == 0)
                ps[n].type = (enum param_type)k;
        /* Not said: required unless it has a default. */
        ps[n].dflt = cJSON_GetObjectItemCaseSensitive(p, "default");
        ps[n].required = cJSON_IsBool(required) ? cJSON_IsTrue(required) : ps[n].dflt == NULL;
        n++;
    }
    return n;
}

/* The registry entry of name in tasks (store_registered_tasks()), or NULL. */
static const cJSON *
registered(const cJSON *tasks, const char *name)
{
    const cJSON *t;

    cJSON_ArrayForEach(t, tasks)
    {
        const char *n = json_str(t, "name");
        if (n != NULL && name != NULL && strcmp(n, name) == 0)
            return t;
    }
    return NULL;
}

/* s is a decimal number as people type one: [+-]digits[.digits][e[+-]digits]
 * (one side of the point may be empty); no hex, inf or nan as strtod takes. */
static bool
decimal_text(const char *s, bool integer)
{
    size_t digits = 0;

    if (*s == '+' || *s == '-')
        s++;
    for (; isdigit((unsigned char)*s); s++)
        digits++;
    if (integer)
        return digits > 0 && *s == '\0';
    if (*s == '.')
        for (s++; isdigit((unsigned char)*s); s++)
            digits++;
    if (digits == 0)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

/* The refused text, shortened, for an error message ("..." when cut). */
#define QUOTED(t) (int)utf8_prefix_len((t), QUOTE_MAX), (t), strlen(t) > QUOTE_MAX ? "..." : ""

/* The JSON value a typed field's text stands for (text trimmed of spaces
 * but for strings), or NULL with the problem, naming the field, in err. */
static cJSON *
param_value(const struct param *p, const char *text, char *err, size_t errlen)
{
    char trimmed[64], why[256];
    size_t len = strlen(text);
    cJSON *v;

    if (!utf8_valid(text, len)) {
        snprintf(err, errlen, "Field '%s' is not valid UTF-8 text.", p->name);
        return NULL;
    }
    switch (p->type) {
    case PT_STRING:
        return cJSON_CreateString(text);
    case PT_NUMBER:
    case PT_INTEGER: {
        size_t start = strspn(text, " \t\r\n"), end = len;
        double d;

        while (end > start && isspace((unsigned char)text[end - 1]))
            end--;
        if (end - start < sizeof trimmed) {
            memcpy(trimmed, text + start, end - start);
            trimmed[end - start] = '\0';
            d = strtod(trimmed, NULL);
            /* Whole numbers past 2^53 would not survive a double. */
            if (decimal_text(trimmed, p->type == PT_INTEGER) && isfinite(d) &&
                (p->type == PT_NUMBER || fabs(d) <= 9007199254740992.0))
                return cJSON_CreateNumber(d);
        }
        snprintf(err, errlen, "Field '%s' must be %s, not \"%.*s%s\".", p->name,
                 p->type == PT_INTEGER ? "a whole number" : "a number", QUOTED(text));
        return NULL;
    }
    case PT_BOOL:
        if (strcmp(text, "true") == 0)
            return cJSON_CreateTrue();
        if (strcmp(text, "false") == 0)
            return cJSON_CreateFalse();
        snprintf(err, errlen, "Field '%s' must be true or false, not \"%.*s%s\".", p->name,
                 QUOTED(text));
        return NULL;
    case PT_OBJECT:
    case PT_ARRAY:
    case PT_JSON:
        if ((v = json_parse(text, len, why, sizeof why)) == NULL) {
            snprintf(err, errlen, "Field '%s' is not valid JSON: %s", p->name, why);
            return NULL;
        }
        if ((p->type == PT_OBJECT && !cJSON_IsObject(v)) ||
            (p->type == PT_ARRAY && !cJSON_IsArray(v))) {
            snprintf(err, errlen, "Field '%s' must be a JSON %s, not %s.", p->name,
                     param_type_names[p->type], api_type_name(v));
            cJSON_Delete(v);
            return NULL;
        }
        return v;
    }
    return NULL;
}

/* True when the value of a typed field counts as not given: empty, or only
 * spaces for anything but a string. */
static bool
blank_field(const char *v, enum param_type type)
{
    return v == NULL || v[0] == '\0' || (type != PT_STRING && v[strspn(v, " \t\r\n")] == '\0');
}

/* Put f's typed fields into body's kwargs (made an object when absent), for
 * task name, whose registry entry is t (NULL: no online worker knows it);
 * body passed api_enqueue_req(). 0, or -1 with the problem, naming the
 * field, in err. */
static int
typed_kwargs(const char *name, const cJSON *t, const struct run_form *f, cJSON *body, char *err,
             size_t errlen)
{
    struct param ps[PARAMS_MAX];
    int n = t != NULL ? task_params(t, ps, PARAMS_MAX) : -1;
    const size_t plen = strlen(FIELD_PREFIX);
    cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(body, "kwargs");

    for (int i = 0; i < f->n && n >= 0; i++) {
        const char *key = f->f[i].key;
        bool known = false;

        if (strncmp(key, FIELD_PREFIX, plen) != 0)
            continue;
        for (int k = 0; k < n && !known; k++)
            known = strcmp(key + plen, ps[k].name) == 0;
        if (!known) {
            if (utf8_valid(key, strlen(key)))
                snprintf(err, errlen, "Task %s has no parameter '%.*s%s'.", name,
                         QUOTED(key + plen));
            else
                snprintf(err, errlen, "Task %s has no parameter of that name.", name);
            return -1;
        }
    }
    if (n < 0) {
        snprintf(err, errlen,
                 "No worker online describes the parameters of %s: give its arguments as JSON "
                 "args and kwargs.",
                 name);
        return -1;
    }
    /* api_enqueue_req() passed it: an object, or absent. */
    if (kwargs == NULL)
        kwargs = cJSON_AddObjectToObject(body, "kwargs");
    for (int k = 0; k < n; k++) {
        char key[sizeof FIELD_PREFIX + PARAM_NAME_MAX];
        const char *text;
        cJSON *v;

        snprintf(key, sizeof key, FIELD_PREFIX "%s", ps[k].name);
        text = form_get(f, key);
        if (blank_field(text, ps[k].type)) {
            if (!ps[k].required)
                continue; /* the task's default */
            snprintf(err, errlen, "Field '%s' is required (%s).", ps[k].name,
                     param_type_names[ps[k].type]);
            return -1;
        }
        if (cJSON_GetObjectItemCaseSensitive(kwargs, ps[k].name) != NULL) {
            snprintf(err, errlen, "Field '%s' is given twice: in its field and in kwargs.",
                     ps[k].name);
            return -1;
        }
        if ((v = param_value(&ps[k], text, err, errlen)) == NULL)
            return -1;
        cJSON_AddItemToObject(kwargs, ps[k].name, v);
    }
    return 0;
}

/* ----- reading ----- */

/* The tasks the online workers registered and the numbers, on one pooled
 * connection; either may come back NULL when the database cannot say. */
static void
read_dashboard(struct app *a, cJSON **tasks, cJSON **stats)
{
    char why[512];
    PGconn *db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);
    int rc;

    *tasks = *stats = NULL;
    if (db == NULL)
        return;
    *tasks = store_registered_tasks(db, &rc);
    *stats = store_stats(db, &rc);
    dbpool_put(a->db, db);
}

/* ----- the numbers ----- */

static long long
json_count(const cJSON *obj, const char *key)
{
    return (long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

/* Seconds for people: 850 µs, 12.3 ms, 4.56 s, 620 s. */
static void
put_seconds(struct buf *b, double s)
{
    if (s < 0.001)
        buf_printf(b, "%.0f \xc2\xb5s", s * 1e6);
    else if (s < 1)
        buf_printf(b, "%.1f ms", s * 1e3);
    else if (s < 100)
        buf_printf(b, "%.2f s", s);
    else
        buf_printf(b, "%.0f s", s);
}

static void
put_counts(struct buf *b, const cJSON *stats)
{
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(stats, "counts");
    long long online = json_count(stats, "workers_online");

    buf_put(b, "<section class=\"dash-row\" aria-labelledby=\"dash-counts\">\n"
               "<h2 id=\"dash-counts\">Tasks by state</h2>\n<ul class=\"dash-counts\">\n");
    for (size_t i = 0; i < sizeof state_names / sizeof state_names[0]; i++) {
        buf_printf(b, "<li><a href=\"/tasks?state=%s\">", state_names[i]);
        html_state(b, state_names[i]);
        buf_printf(b, " <span class=\"dash-count\" data-state=\"%s\">%lld</span></a></li>\n",
                   state_names[i], json_count(counts, state_names[i]));
    }
    buf_printf(b,
               "</ul>\n<p class=\"hint\">%lld task%s in all.</p>\n"
               "<p class=\"dash-workers\"><a href=\"/workers\"><span class=\"dash-count\""
               " data-workers-online=\"%lld\">%lld</span> worker%s online</a></p>\n"
               "</section>\n",
               json_count(stats, "total"), json_count(stats, "total") == 1 ? "" : "s", online,
               online, online == 1 ? "" : "s");
}

/* Queue depths, as /queues shows them (with the pauses and dead letters). */
static void
put_queues(struct app *a, struct buf *b)
{
    char err[512];
    bool down;
    cJSON *o = queues_overview(a, &down, err, sizeof err);
    const cJSON *q;

    buf_put(b, "<section class=\"dash-row\" aria-labelledby=\"dash-queues\">\n"
               "<h2 id=\"dash-queues\"><a href=\"/queues\">Queues</a></h2>\n");
    if (o == NULL || down) {
        buf_put(b, "<p class=\"hint\">The queues' counts cannot be read right now: ");
        html_esc(b, err);
        buf_put(b, "</p>\n</section>\n");
        cJSON_Delete(o);
        return;
    }
    buf_put(b, "<table class=\"dash-queues\">\n<tr><th scope=\"col\">Queue</th>"
               "<th scope=\"col\">Ready</th><th scope=\"col\">Consumers</th></tr>\n");
    cJSON_ArrayForEach(q, cJSON_GetObjectItemCaseSensitive(o, "queues"))
    {
        const cJSON *messages = cJSON_GetObjectItemCaseSensitive(q, "messages");
        const cJSON *consumers = cJSON_GetObjectItemCaseSensitive(q, "consumers");

        buf_put(b, "<tr><td>");
        html_esc(b, json_str(q, "name"));
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "paused")))
            buf_put(b, " <span class=\"hint\">(paused)</span>");
        if (!cJSON_IsNumber(messages)) {
            buf_put(b, "</td><td colspan=\"2\" class=\"hint\">not declared yet</td></tr>\n");
            continue;
        }
        buf_printf(b, "</td><td data-queue-messages>%.0f</td><td>%.0f</td></tr>\n",
                   messages->valuedouble,
                   cJSON_IsNumber(consumers) ? consumers->valuedouble : 0.0);
    }
    buf_put(b, "</table>\n</section>\n");
    cJSON_Delete(o);
}

/* The chart's frame, in viewBox units. */
#define CHART_W 720.0
#define CHART_H 220.0
#define CHART_LEFT 44.0
#define CHART_RIGHT 8.0
#define CHART_TOP 12.0
#define CHART_BOTTOM 28.0 /* room for the time labels */

/* The top of the scale: the smallest 1, 2 or 5 times a power of ten at
 * least v (1 at least). */
static long long
nice_ceiling(long long v)
{
    for (long long m = 1;; m *= 10) {
        if (v <= m)
            return m;
        if (v <= 2 * m)
            return 2 * m;
        if (v <= 5 * m || m > 1000000000000000LL)
            return 5 * m;
    }
}

/* "10:42" of "2026-11-30T10:42:00Z". */
static void
minute_label(const char *iso, char out[6])
{
    snprintf(out, 6, "%.5s", iso != NULL && strlen(iso) >= 16 ? iso + 11 : "?");
}

/* Tasks that succeeded and failed in each minute of the window: stacked
 * bars in an SVG (readable with JavaScript off, by screen readers through
 * its title and desc, and as a table below it). */
static void
put_chart(struct buf *b, const cJSON *per_minute)
{
    int n = cJSON_GetArraySize(per_minute), busiest = -1, i = 0;
    double plot_w = CHART_W - CHART_LEFT - CHART_RIGHT, plot_h = CHART_H - CHART_TOP - CHART_BOTTOM;
    double slot = n > 0 ? plot_w / n : plot_w, bottom = CHART_TOP + plot_h;
    long long top = 0, succeeded = 0, failed = 0, ymax;
    char label[6];
    const cJSON *m;

    cJSON_ArrayForEach(m, per_minute)
    {
        long long s = json_count(m, "succeeded"), f = json_count(m, "failed");

        succeeded += s;
        failed += f;
        if (s + f > top) {
            top = s + f;
            busiest = i;
        }
        i++;
    }
    ymax = nice_ceiling(top);
    buf_put(b, "<section aria-labelledby=\"dash-tpm\">\n<h2 id=\"dash-tpm\">Tasks per minute, "
               "last hour</h2>\n<figure class=\"dash-chart\">\n");
    buf_printf(
        b,
        "<svg class=\"dash-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "
        "%.0f %.0f\" role=\"img\" aria-labelledby=\"dash-tpm-title dash-tpm-desc\""
        " data-y-max=\"%lld\">\n<title id=\"dash-tpm-title\">Tasks finished per minute "
        "over the last hour (UTC): succeeded and failed</title>\n<desc id=\"dash-tpm-desc\">",
        CHART_W, CHART_H, ymax);
    if (top == 0) {
        buf_put(b, "No task finished in the last hour.");
    } else {
        minute_label(json_str(cJSON_GetArrayItem(per_minute, busiest), "minute"), label);
        buf_printf(b,
                   "In the last hour %lld task%s succeeded and %lld failed; the busiest "
                   "minute, %s UTC, saw %lld.",
                   succeeded, succeeded == 1 ? "" : "s", failed, label, top);
    }
    buf_put(b, "</desc>\n<g class=\"dash-axis\">\n");
    /* Grid lines at 0, half (when a whole number) and the top of the scale. */
    for (int k = 0; k <= 2; k++) {
        long long v = ymax * k / 2;
        double y = bottom - plot_h * (double)k / 2;

        if (k == 1 && ymax % 2 != 0)
            continue;
        buf_printf(b,
                   "<line class=\"dash-grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%lld</text>\n",
                   CHART_LEFT, y, CHART_W - CHART_RIGHT, y, CHART_LEFT - 6, y + 4, v);
    }
    /* A time under every fifteenth minute and the last. */
    i = 0;
    cJSON_ArrayForEach(m, per_minute)
    {
        if (i % 15 == 0 || i == n - 1) {
            minute_label(json_str(m, "minute"), label);
            buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                       CHART_LEFT + slot * (i + 0.5), CHART_H - 8, label);
        }
        i++;
    }
    buf_put(b, "</g>\n<g class=\"dash-bars\">\n");
    i = 0;
    cJSON_ArrayForEach(m, per_minute)
    {
        long long s = json_count(m, "succeeded"), f = json_count(m, "failed");
        double hs = plot_h * (double)s / (double)ymax, hf = plot_h * (double)f / (double)ymax;
        double x = CHART_LEFT + slot * i + slot * 0.1, w = slot * 0.8;
        const char *iso = json_str(m, "minute");

        /* Each minute's numbers ride along: its title is the tooltip. */
        minute_label(iso, label);
        buf_put(b, "<g class=\"dash-minute\" data-minute=\"");
        html_esc(b, iso);
        buf_printf(b,
                   "\" data-succeeded=\"%lld\" data-failed=\"%lld\"><title>%s UTC: %lld "
                   "succeeded, %lld failed</title>",
                   s, f, label, s, f);
        if (s > 0)
            buf_printf(b,
                       "<rect class=\"dash-succeeded\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\""
                       " height=\"%.2f\"/>",
                       x, bottom - hs, w, hs);
        if (f > 0)
            buf_printf(b,
                       "<rect class=\"dash-failed\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\""
                       " height=\"%.2f\"/>",
                       x, bottom - hs - hf, w, hf);
        buf_put(b, "</g>\n");
        i++;
    }
    buf_put(b, "</g>\n</svg>\n<figcaption><span class=\"dash-key dash-succeeded\"></span>"
               "succeeded <span class=\"dash-key dash-failed\"></span>failed, per minute "
               "(UTC)</figcaption>\n</figure>\n"
               "<details class=\"dash-numbers\"><summary>The numbers, minute by minute</summary>\n"
               "<table>\n<tr><th>Minute (UTC)</th><th>Succeeded</th><th>Failed</th></tr>\n");
    cJSON_ArrayForEach(m, per_minute)
    {
        if (json_count(m, "succeeded") + json_count(m, "failed") == 0)
            continue;
        minute_label(json_str(m, "minute"), label);
        buf_printf(b, "<tr><td>%s</td><td>%lld</td><td>%lld</td></tr>\n", label,
                   json_count(m, "succeeded"), json_count(m, "failed"));
    }
    buf_put(b, "</table>\n<p class=\"hint\">The other minutes saw none.</p>\n</details>\n"
               "</section>\n");
}

static void
put_runtime(struct buf *b, const cJSON *runtime)
{
    static const char *const keys[] = {"p50", "p95", "p99"};
    const cJSON *t;

    buf_put(b, "<section aria-labelledby=\"dash-runtime\">\n<h2 id=\"dash-runtime\">Run time, "
               "last hour</h2>\n");
    if (cJSON_GetArraySize(runtime) == 0) {
        buf_put(b, "<p class=\"hint\">No task finished in the last hour.</p>\n</section>\n");
        return;
    }
    buf_put(b, "<table class=\"dash-runtime\">\n<tr><th>Task</th><th class=\"num\">Runs</th>"
               "<th class=\"num\">p50</th><th class=\"num\">p95</th><th class=\"num\">p99</th>"
               "</tr>\n");
    cJSON_ArrayForEach(t, runtime)
    {
        buf_put(b, "<tr data-name=\"");
        html_esc(b, json_str(t, "name"));
        buf_put(b, "\"><td><code>");
        html_esc(b, json_str(t, "name"));
        buf_printf(b, "</code></td><td class=\"num\" data-count=\"%lld\">%lld</td>",
                   json_count(t, "count"), json_count(t, "count"));
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            double v = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(t, keys[k]));

            buf_printf(b, "<td class=\"num\" data-%s=\"", keys[k]);
            metrics_put_number(b, v);
            buf_put(b, "\">");
            put_seconds(b, v);
            buf_put(b, "</td>");
        }
        buf_put(b, "</tr>\n");
    }
    buf_put(b, "</table>\n<p class=\"hint\">Wall-clock run time of the tasks that succeeded or "
               "failed in the last hour (the 100 names with most runs); p95: 95% ran at most "
               "this long.</p>\n</section>\n");
}

/* ----- the form ----- */

/* A value the form sent, escaped, back into it: only valid UTF-8 goes back
 * into a page. */
static void
put_value(struct buf *b, const char *v)
{
    if (v != NULL && utf8_valid(v, strlen(v)))
        html_esc(b, v);
}

/* A field for parameter p, filled with value (NULL: empty). Its name goes
 * into the page as it is: task_params() let only A-Z a-z 0-9 _ through. */
static void
put_param_field(struct buf *b, const struct param *p, const char *value)
{
    char *dflt = p->dflt != NULL ? json_print(p->dflt) : NULL;

    buf_printf(b, "<label for=\"p-%s\">%s <span class=\"hint\">(%s%s", p->name, p->name,
               param_type_names[p->type], p->required ? ", required" : "");
    if (dflt != NULL) {
        buf_put(b, ", default ");
        html_esc(b, dflt);
    }
    buf_put(b, ")</span></label>\n");
    switch (p->type) {
    case PT_BOOL:
        buf_printf(b, "<select id=\"p-%s\" name=\"" FIELD_PREFIX "%s\">", p->name, p->name);
        buf_printf(b, "<option value=\"\">%s</option>", p->required ? "choose" : "default");
        buf_printf(b, "<option%s>true</option><option%s>false</option></select>\n",
                   value != NULL && strcmp(value, "true") == 0 ? " selected" : "",
                   value != NULL && strcmp(value, "false") == 0 ? " selected" : "");
        break;
    case PT_OBJECT:
    case PT_ARRAY:
    case PT_JSON:
        buf_printf(b, "<textarea id=\"p-%s\" name=\"" FIELD_PREFIX "%s\" rows=\"2\"", p->name,
                   p->name);
        if (dflt != NULL) {
            buf_put(b, " placeholder=\"");
            html_esc(b, dflt);
            buf_put(b, "\"");
        }
        buf_put(b, ">");
        put_value(b, value);
        buf_put(b, "</textarea>\n");
        break;
    default:
        buf_printf(b, "<input id=\"p-%s\" name=\"" FIELD_PREFIX "%s\"", p->name, p->name);
        if (p->type == PT_NUMBER)
            buf_put(b, " type=\"number\" step=\"any\"");
        else if (p->type == PT_INTEGER)
            buf_put(b, " type=\"number\" step=\"1\"");
        else
            buf_put(b, " type=\"text\"");
        if (dflt != NULL) {
            buf_put(b, " placeholder=\"");
            html_esc(b, dflt);
            buf_put(b, "\"");
        }
        buf_put(b, " value=\"");
        put_value(b, value);
        buf_put(b, "\">\n");
        break;
    }
    cJSON_free(dflt);
}

/* GET / with ?task=: the task list to choose from. */
static void
put_chooser(struct buf *b, const cJSON *tasks, const char *chosen)
{
    const cJSON *t;

    buf_put(b, "<form class=\"dash-choose\" method=\"get\" action=\"/\">\n"
               "<label for=\"dash-task\">Task</label>\n<select id=\"dash-task\" name=\"task\">\n"
               "<option value=\"\">any name (JSON arguments)</option>\n");
    cJSON_ArrayForEach(t, tasks)
    {
        const char *name = json_str(t, "name");

        if (name == NULL)
            continue;
        buf_put(b, "<option value=\"");
        html_esc(b, name);
        buf_put(b, chosen != NULL && strcmp(chosen, name) == 0 ? "\" selected>" : "\">");
        html_esc(b, name);
        buf_put(b, "</option>\n");
    }
    buf_put(b, "</select>\n<button type=\"submit\">Show its fields</button>\n</form>\n");
}

/* The form that runs a task: with chosen's typed fields when a worker
 * describes them, else a name and raw JSON; values fill it again. */
static void
put_run_form(struct buf *b, const cJSON *tasks, const char *chosen, const struct run_form *values)
{
    const cJSON *def = chosen != NULL && chosen[0] != '\0' ? registered(tasks, chosen) : NULL;
    struct param ps[PARAMS_MAX];
    int n = def != NULL ? task_params(def, ps, PARAMS_MAX) : -1;
    const char *args = form_get(values, "args"), *kwargs = form_get(values, "kwargs");
    const cJSON *t;

    const char *parent = form_get(values, "parent_id");

    buf_put(b, "<section aria-labelledby=\"run\">\n<h2 id=\"run\">Run a task</h2>\n");
    if (parent != NULL && parent[0] != '\0') {
        buf_put(b, "<p class=\"rerun\">Re-running <a href=\"/tasks/");
        html_esc(b, parent);
        buf_put(b, "\"><code>");
        html_esc(b, parent);
        buf_put(b, "</code></a>: edit what you like; the new task records it as its parent."
                   "</p>\n");
    }
    put_chooser(b, tasks, chosen);
    buf_put(b, "<form class=\"task\" method=\"post\" action=\"/\">\n");
    if (parent != NULL && parent[0] != '\0') {
        buf_put(b, "<input type=\"hidden\" name=\"parent_id\" value=\"");
        html_esc(b, parent);
        buf_put(b, "\">\n");
    }
    if (n >= 0) {
        char key[sizeof FIELD_PREFIX + PARAM_NAME_MAX];
        bool raw = (args != NULL && args[0] != '\0') || (kwargs != NULL && kwargs[0] != '\0');

        buf_put(b, "<input type=\"hidden\" name=\"name\" value=\"");
        html_esc(b, chosen);
        buf_put(b, "\">\n<p><code>");
        html_esc(b, chosen);
        buf_put(b, "</code>: ");
        html_esc(b, json_str(def, "doc"));
        buf_put(b, "</p>\n<fieldset class=\"dash-params\"><legend>Its parameters</legend>\n");
        if (n == 0)
            buf_put(b, "<p class=\"hint\">It takes none.</p>\n");
        for (int k = 0; k < n; k++) {
            snprintf(key, sizeof key, FIELD_PREFIX "%s", ps[k].name);
            put_param_field(b, &ps[k], form_get(values, key));
        }
        buf_printf(b,
                   "</fieldset>\n<details%s><summary>Or JSON args and kwargs (leave the "
                   "fields empty)</summary>\n",
                   raw ? " open" : "");
    } else {
        if (chosen != NULL && chosen[0] != '\0') {
            buf_put(b, "<p class=\"hint\">No worker online describes the parameters of <code>");
            put_value(b, chosen);
            buf_put(b, "</code>: give them as JSON.</p>\n");
        }
        buf_put(b, "<label for=\"name\">Task name</label>\n"
                   "<input id=\"name\" name=\"name\" list=\"task-names\" required"
                   " placeholder=\"demo.add\" value=\"");
        put_value(b, form_get_or(values, "name", chosen != NULL ? chosen : ""));
        buf_put(b, "\">\n<datalist id=\"task-names\">\n");
        cJSON_ArrayForEach(t, tasks)
        {
            buf_put(b, "<option value=\"");
            html_esc(b, json_str(t, "name"));
            buf_put(b, "\">");
            html_esc(b, json_str(t, "doc"));
            buf_put(b, "</option>\n");
        }
        buf_put(b, "</datalist>\n");
        if (args == NULL)
            args = "[]";
        if (kwargs == NULL)
            kwargs = "{}";
    }
    buf_put(b, "<label for=\"args\">args <span class=\"hint\">(JSON array)</span></label>\n"
               "<textarea id=\"args\" name=\"args\" rows=\"3\">");
    put_value(b, args);
    buf_put(b, "</textarea>\n"
               "<label for=\"kwargs\">kwargs <span class=\"hint\">(JSON object)</span></label>\n"
               "<textarea id=\"kwargs\" name=\"kwargs\" rows=\"3\">");
    put_value(b, kwargs);
    buf_put(b, "</textarea>\n");
    if (n >= 0)
        buf_put(b, "</details>\n");
    buf_put(b, "<label for=\"queue\">queue <span class=\"hint\">(optional: empty routes by "
               "name)</span></label>\n"
               "<input id=\"queue\" name=\"queue\" value=\"");
    put_value(b, form_get_or(values, "queue", ""));
    buf_put(b, "\">\n<button type=\"submit\">Enqueue</button>\n</form>\n</section>\n");
}

/* The table of what the online workers registered, each linking to its
 * typed form. */
static void
put_registered(struct buf *b, const cJSON *tasks)
{
    const cJSON *t;

    buf_put(b, "<h2>Tasks the workers registered</h2>\n");
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
            buf_put(b, "<tr><td><a href=\"/?task=");
            html_url_enc(b, json_str(t, "name") != NULL ? json_str(t, "name") : "");
            buf_put(b, "#run\"><code>");
            html_esc(b, json_str(t, "name"));
            buf_put(b, "</code></a></td><td>");
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
}

/* The whole page. chosen: the task whose fields show; values: what the
 * form sent (NULL: a fresh form); error: why it was refused (NULL: it was
 * not). */
static void
render_dashboard(struct app *a, struct response *resp, unsigned int status, const char *chosen,
                 const struct run_form *values, const char *error)
{
    struct buf *b = &resp->body;
    cJSON *tasks, *stats;

    read_dashboard(a, &tasks, &stats);
    buf_reset(b);
    html_response(resp, status);
    html_begin(b, "Dashboard", 0);
    buf_put(b, "<h1>Dashboard</h1>\n");
    if (error != NULL) {
        buf_put(b, "<p class=\"error\" role=\"alert\">");
        html_esc(b, error);
        buf_put(b, " <a href=\"#run\">To the form</a></p>\n");
    }
    if (stats != NULL) {
        put_counts(b, stats);
        put_chart(b, cJSON_GetObjectItemCaseSensitive(stats, "per_minute"));
        put_runtime(b, cJSON_GetObjectItemCaseSensitive(stats, "runtime"));
    } else {
        buf_put(b, "<p class=\"hint\">The numbers cannot be read from the database right now; "
                   "the form below still works.</p>\n");
    }
    put_queues(a, b);
    put_run_form(b, tasks, chosen, values);
    put_registered(b, tasks);
    page_put_scrape_form(b, "", "", true, "");
    html_end(b);
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        resp->retry_after = 5;
    cJSON_Delete(tasks);
    cJSON_Delete(stats);
}

/* GET /?rerun=<id>: the form filled with task id's name, arguments and
 * queue, its id as the parent of what it enqueues ("Edit and re-run"). */
static void
render_rerun(struct app *a, struct response *resp, const char *id)
{
    struct run_form f = {.n = 0};
    char why[256], *args = NULL, *kwargs = NULL;
    cJSON *row = NULL;
    PGconn *db;
    int rc;

    if (!uuid_is_valid(id)) {
        render_dashboard(a, resp, MHD_HTTP_BAD_REQUEST, NULL, NULL,
                         "rerun: that is not a task id (a UUID).");
        return;
    }
    if ((db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why)) != NULL) {
        row = store_task_get(db, id, &rc);
        dbpool_put(a->db, db);
    }
    if (row == NULL) {
        render_dashboard(a, resp,
                         db != NULL && rc == STORE_NOT_FOUND ? MHD_HTTP_NOT_FOUND
                                                             : MHD_HTTP_SERVICE_UNAVAILABLE,
                         NULL, NULL,
                         db != NULL && rc == STORE_NOT_FOUND
                             ? "rerun: there is no such task."
                             : "rerun: the database cannot be read right now; try again.");
        return;
    }
    args = json_print(cJSON_GetObjectItemCaseSensitive(row, "args"));
    kwargs = json_print(cJSON_GetObjectItemCaseSensitive(row, "kwargs"));
    form_set_text(&f, "name", json_str(row, "name"));
    form_set_text(&f, "args", args != NULL ? args : "[]");
    form_set_text(&f, "kwargs", kwargs != NULL ? kwargs : "{}");
    form_set_text(&f, "queue", json_str(row, "queue"));
    form_set_text(&f, "parent_id", json_str(row, "id"));
    render_dashboard(a, resp, MHD_HTTP_OK, json_str(row, "name"), &f, NULL);
    cJSON_free(args);
    cJSON_free(kwargs);
    cJSON_Delete(row);
    form_fini(&f);
}

void
page_home(struct app *a, struct request *r, struct response *resp)
{
    const char *rerun = http_query(r, "rerun");

    if (rerun != NULL && rerun[0] != '\0')
        render_rerun(a, resp, rerun);
    else
        render_dashboard(a, resp, MHD_HTTP_OK, http_query(r, "task"), NULL, NULL);
}

/* ----- running a task from the form ----- */

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

/* Enqueue what form f says, as POST /api/tasks would (the same JSON body,
 * so the same rules and messages), and 303 to the task; or the dashboard
 * again with the problem. */
static void
run_task(struct app *a, struct response *resp, const struct run_form *f)
{
    const char *name = form_get_or(f, "name", ""), *queue = form_get_or(f, "queue", "");
    struct enqueue_req req;
    char err[1024], id[UUID_STR_LEN];
    cJSON *body = cJSON_CreateObject(), *tasks = NULL;
    bool unconfirmed, fields = false, filled = false, typed;
    int rc;

    for (int i = 0; i < f->n; i++)
        if (strncmp(f->f[i].key, FIELD_PREFIX, strlen(FIELD_PREFIX)) == 0) {
            fields = true;
            filled |= f->f[i].value.len > 0;
        }
    if (name[0] != '\0')
        cJSON_AddStringToObject(body, "name", name);
    if (queue[0] != '\0')
        cJSON_AddStringToObject(body, "queue", queue);
    if (form_get_or(f, "parent_id", "")[0] != '\0') /* "Edit and re-run" */
        cJSON_AddStringToObject(body, "parent_id", form_get(f, "parent_id"));
    if (add_json_field(body, "args", form_get_or(f, "args", ""), err, sizeof err) < 0 ||
        add_json_field(body, "kwargs", form_get_or(f, "kwargs", ""), err, sizeof err) < 0)
        goto refused;
    /* The typed fields count when one is filled in, or when the typed form
     * was sent without JSON arguments (then an empty required field is an
     * error). Left empty beside JSON arguments, they say nothing. */
    typed = filled || (fields && cJSON_GetObjectItemCaseSensitive(body, "args") == NULL &&
                       cJSON_GetObjectItemCaseSensitive(body, "kwargs") == NULL);
    /* The name, queue and JSON are checked first: the fields' messages
     * quote a valid name. */
    if (api_enqueue_req(body, &req, err, sizeof err) < 0)
        goto refused;
    if (typed) {
        /* What the fields mean is what the workers online registered. */
        char why[512];
        PGconn *db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why);

        if (db != NULL) {
            tasks = store_registered_tasks(db, &rc);
            dbpool_put(a->db, db);
        }
        if (tasks == NULL) {
            render_dashboard(a, resp, MHD_HTTP_SERVICE_UNAVAILABLE, name, f,
                             "The database cannot say what the task's fields mean right now; "
                             "try again in a moment.");
            goto out;
        }
        if (typed_kwargs(name, registered(tasks, name), f, body, err, sizeof err) < 0)
            goto refused;
    }
    if (api_enqueue_req(body, &req, err, sizeof err) < 0)
        goto refused;
    if (req.parent_id != NULL && (rc = (int)app_parent_check(a, req.parent_id, err, sizeof err))) {
        render_dashboard(a, resp, (unsigned int)rc, name, f, err);
        goto out;
    }
    rc = app_enqueue(a, &req, id, &unconfirmed, err, sizeof err);
    if (rc != ENQUEUE_OK) {
        render_dashboard(a, resp, app_enqueue_status(rc), name, f, err);
        if (rc != ENQUEUE_INVALID)
            resp->retry_after = 5;
        goto out;
    }
    html_response(resp, MHD_HTTP_SEE_OTHER);
    snprintf(resp->location, sizeof resp->location, "/tasks/%s", id);
    buf_reset(&resp->body);
    html_begin(&resp->body, "Task queued", 0);
    buf_printf(&resp->body, "<p>Queued: <a href=\"/tasks/%s\">%s</a></p>\n", id, id);
    html_end(&resp->body);
    goto out;
refused:
    render_dashboard(a, resp, MHD_HTTP_BAD_REQUEST, name, f, err);
out:
    cJSON_Delete(body);
    cJSON_Delete(tasks);
}

/* POST /: the dashboard's form, typed fields and raw JSON. */
void
page_home_post(struct app *a, struct request *r, struct response *resp)
{
    struct run_form f = {.n = 0};
    char err[256];
    unsigned int status;

    status = form_read(r, &f, err, sizeof err);
    if (status == MHD_HTTP_CONTENT_TOO_LARGE)
        page_error(resp, status, "Form too large", err);
    else if (status != 0)
        render_dashboard(a, resp, status, NULL, NULL, err);
    else
        run_task(a, resp, &f);
    form_fini(&f);
}

/* POST /tasks: the same with the raw fields only (name, args, kwargs,
 * queue), as MHD's post processor put them in struct form. */
void
page_task_create(struct app *a, struct request *r, struct response *resp)
{
    struct run_form f = {.n = 0};

    if (r->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "The form is larger than %d bytes.", WEBAPP_BODY_MAX);
        page_error(resp, MHD_HTTP_CONTENT_TOO_LARGE, "Form too large", msg);
        return;
    }
    if (r->form.malformed) {
        render_dashboard(a, resp, MHD_HTTP_BAD_REQUEST, NULL, NULL,
                         "The form data could not be read; please submit it again.");
        return;
    }
    if (r->form.has_nul) {
        render_dashboard(a, resp, MHD_HTTP_BAD_REQUEST, NULL, NULL,
                         "The form values must not contain NUL characters.");
        return;
    }
    form_set(&f, "name", &r->form.name);
    form_set(&f, "args", &r->form.args);
    form_set(&f, "kwargs", &r->form.kwargs);
    form_set(&f, "queue", &r->form.queue);
    if (f.oom)
        render_dashboard(a, resp, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, NULL,
                         "Out of memory while reading the form; try again.");
    else
        run_task(a, resp, &f);
    form_fini(&f);
}

/* ----- GET /api/stats ----- */

void
api_stats(struct app *a, struct request *r, struct response *resp)
{
    PGconn *db;
    cJSON *stats;
    int rc;

    (void)r;
    if ((db = api_db_or_503(a, resp)) == NULL)
        return;
    stats = store_stats(db, &rc);
    dbpool_put(a->db, db);
    if (stats == NULL) {
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE,
                  "database unavailable while reading the statistics");
        return;
    }
    /* The queues as GET /api/queues gives them ("broker": "down" and null
     * counts when RabbitMQ does not answer). */
    {
        char err[512];
        bool down;
        cJSON *q = queues_overview(a, &down, err, sizeof err);

        if (q != NULL) {
            cJSON_AddItemToObject(stats, "queues",
                                  cJSON_DetachItemFromObjectCaseSensitive(q, "queues"));
            cJSON_AddStringToObject(stats, "broker", down ? "down" : "ok");
            cJSON_Delete(q);
        }
    }
    api_json(resp, MHD_HTTP_OK, stats);
    cJSON_Delete(stats);
}
