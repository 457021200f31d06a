/* broker/celery.c - see celery.h. Field order and shapes follow what Celery 5.2
 * really sends (../shared/CELERY-PROTOCOL.md section 2), not its docs. */
#include "broker/celery.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/uuid.h"

#define REPR_MAX 1024 /* Celery truncates argsrepr/kwargsrepr to this */

void
celery_msg_fini(struct celery_msg *m)
{
    if (m == NULL)
        return;
    free(m->id);
    free(m->task);
    cJSON_Delete(m->args);
    cJSON_Delete(m->kwargs);
    cJSON_Delete(m->embed);
    free(m->eta);
    free(m->expires);
    free(m->root_id);
    free(m->parent_id);
    free(m->group);
    free(m->shadow);
    free(m->origin);
    free(m->argsrepr);
    free(m->kwargsrepr);
    free(m->reply_to);
    memset(m, 0, sizeof *m);
}

void
celery_wire_fini(struct celery_wire *w)
{
    if (w == NULL)
        return;
    free(w->content_type);
    free(w->content_encoding);
    free(w->correlation_id);
    free(w->reply_to);
    free(w->expiration);
    cJSON_Delete(w->headers);
    free(w->body);
    memset(w, 0, sizeof *w);
}

bool
celery_name_valid(const char *name)
{
    size_t n;

    if (name == NULL)
        return false;
    n = strlen(name);
    if (n == 0 || n > CELERY_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------ repr */

struct sbuf {
    char *p;
    size_t len, cap, max;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len >= b->max)
        return;
    if (n > b->max - b->len)
        n = b->max - b->len;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void
repr_value(struct sbuf *b, const cJSON *v, bool as_tuple)
{
    char num[64];

    if (cJSON_IsNull(v) || v == NULL) {
        sb_str(b, "None");
    } else if (cJSON_IsTrue(v)) {
        sb_str(b, "True");
    } else if (cJSON_IsFalse(v)) {
        sb_str(b, "False");
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 1e15)
            snprintf(num, sizeof num, "%.0f", d);
        else
            snprintf(num, sizeof num, "%.17g", d);
        sb_str(b, num);
    } else if (cJSON_IsString(v)) {
        sb_str(b, "'");
        for (const char *s = v->valuestring; *s; s++) {
            if (*s == '\'' || *s == '\\') {
                char esc[2] = {'\\', *s};
                sb_add(b, esc, 2);
            } else if (*s == '\n') {
                sb_str(b, "\\n");
            } else {
                sb_add(b, s, 1);
            }
        }
        sb_str(b, "'");
    } else if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v), i = 0;
        const cJSON *e;
        sb_str(b, as_tuple ? "(" : "[");
        cJSON_ArrayForEach(e, v)
        {
            if (i++ > 0)
                sb_str(b, ", ");
            repr_value(b, e, false);
        }
        if (as_tuple && n == 1)
            sb_str(b, ",");
        sb_str(b, as_tuple ? ")" : "]");
    } else if (cJSON_IsObject(v)) {
        int i = 0;
        const cJSON *e;
        sb_str(b, "{");
        cJSON_ArrayForEach(e, v)
        {
            cJSON key = {.type = cJSON_String, .valuestring = e->string};
            if (i++ > 0)
                sb_str(b, ", ");
            repr_value(b, &key, false);
            sb_str(b, ": ");
            repr_value(b, e, false);
        }
        sb_str(b, "}");
    }
}

char *
celery_repr(const cJSON *v, bool as_tuple, size_t maxlen)
{
    struct sbuf b = {.max = maxlen};

    sb_add(&b, "", 0);
    repr_value(&b, v, as_tuple);
    if (b.p == NULL)
        return strdup("");
    return b.p;
}

/* ---------------------------------------------------------------- encode */

static cJSON *
str_or_null(const char *s)
{
    return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *
limit_or_null(double v)
{
    return v > 0 ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

int
celery_encode(const struct celery_msg *m, struct celery_wire *out, char *err, size_t errlen)
{
    cJSON *h = NULL, *body = NULL, *embed = NULL, *tl = NULL;
    char *argsrepr = NULL, *kwargsrepr = NULL;
    const cJSON *args = m->args, *kwargs = m->kwargs;
    cJSON *empty_args = NULL, *empty_kwargs = NULL;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (m->id == NULL || m->task == NULL) {
        snprintf(err, errlen, "a task message needs an id and a task name");
        return -1;
    }
    if (args == NULL)
        args = empty_args = cJSON_CreateArray();
    if (kwargs == NULL)
        kwargs = empty_kwargs = cJSON_CreateObject();
    if (!cJSON_IsArray(args) || !cJSON_IsObject(kwargs)) {
        snprintf(err, errlen, "args must be an array and kwargs an object");
        goto out;
    }
    argsrepr = m->argsrepr ? strdup(m->argsrepr) : celery_repr(args, true, REPR_MAX);
    kwargsrepr = m->kwargsrepr ? strdup(m->kwargsrepr) : celery_repr(kwargs, false, REPR_MAX);

    /* Same keys, same order as celery/app/amqp.py as_task_v2(). 'lang' stays
     * "py": it names the message format, and Celery workers expect it. */
    h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "lang", "py");
    cJSON_AddStringToObject(h, "task", m->task);
    cJSON_AddStringToObject(h, "id", m->id);
    cJSON_AddItemToObject(h, "shadow", str_or_null(m->shadow));
    cJSON_AddItemToObject(h, "eta", str_or_null(m->eta));
    cJSON_AddItemToObject(h, "expires", str_or_null(m->expires));
    cJSON_AddItemToObject(h, "group", str_or_null(m->group));
    cJSON_AddItemToObject(h, "group_index", m->group_index >= 0 && m->group != NULL
                                                ? cJSON_CreateNumber(m->group_index)
                                                : cJSON_CreateNull());
    cJSON_AddNumberToObject(h, "retries", m->retries);
    if (m->max_retries >= 0) /* celeriac's own: Celery workers ignore it */
        cJSON_AddNumberToObject(h, "max_retries", m->max_retries);
    tl = cJSON_CreateArray();
    cJSON_AddItemToArray(tl, limit_or_null(m->time_limit));
    cJSON_AddItemToArray(tl, limit_or_null(m->soft_time_limit));
    cJSON_AddItemToObject(h, "timelimit", tl);
    cJSON_AddStringToObject(h, "root_id", m->root_id ? m->root_id : m->id);
    cJSON_AddItemToObject(h, "parent_id", str_or_null(m->parent_id));
    cJSON_AddStringToObject(h, "argsrepr", argsrepr ? argsrepr : "");
    cJSON_AddStringToObject(h, "kwargsrepr", kwargsrepr ? kwargsrepr : "");
    cJSON_AddItemToObject(h, "origin", str_or_null(m->origin));
    cJSON_AddBoolToObject(h, "ignore_result", m->ignore_result);

    body = cJSON_CreateArray();
    cJSON_AddItemToArray(body, cJSON_Duplicate(args, true));
    cJSON_AddItemToArray(body, cJSON_Duplicate(kwargs, true));
    if (m->embed != NULL) {
        embed = cJSON_Duplicate(m->embed, true);
    } else {
        embed = cJSON_CreateObject();
        cJSON_AddNullToObject(embed, "callbacks");
        cJSON_AddNullToObject(embed, "errbacks");
        cJSON_AddNullToObject(embed, "chain");
        cJSON_AddNullToObject(embed, "chord");
    }
    cJSON_AddItemToArray(body, embed);

    out->body = json_print(body);
    if (out->body == NULL) {
        snprintf(err, errlen, "out of memory encoding the body");
        goto out;
    }
    out->body_len = strlen(out->body);
    out->headers = h;
    h = NULL;
    out->content_type = strdup("application/json");
    out->content_encoding = strdup("utf-8");
    out->correlation_id = strdup(m->id);
    out->reply_to = xstrdup_or_null(m->reply_to);
    out->priority = m->priority;
    out->delivery_mode = 2;
    rc = 0;
out:
    cJSON_Delete(h);
    cJSON_Delete(body);
    cJSON_Delete(empty_args);
    cJSON_Delete(empty_kwargs);
    free(argsrepr);
    free(kwargsrepr);
    if (rc < 0)
        celery_wire_fini(out);
    return rc;
}

/* ---------------------------------------------------------------- decode */

static int
fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* headers[key] as an owned string: absent or null gives NULL; any other
 * non-string type is an error. */
static int
header_str(const cJSON *h, const char *key, char **out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, key);

    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return fail(err, errlen, "header '%s' must be a string or null", key);
    *out = strdup(v->valuestring);
    return 0;
}

static int
header_int(const cJSON *h, const char *key, int dflt, int *out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, key);

    *out = dflt;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > 1e9)
        return fail(err, errlen, "header '%s' must be a non-negative integer", key);
    *out = (int)v->valuedouble;
    return 0;
}

static int
limit_value(const cJSON *v, double *out)
{
    *out = 0;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 1e9)
        return -1;
    *out = v->valuedouble;
    return 0;
}

int
celery_decode(const struct celery_wire *w, struct celery_msg *m, char *err, size_t errlen)
{
    const cJSON *h = w->headers, *v, *tl;
    cJSON *body = NULL;
    char perr[128];
    int rc = -1;

    memset(m, 0, sizeof *m);
    m->group_index = -1;
    m->max_retries = -1;
    if (w->content_type != NULL && strcmp(w->content_type, "application/json") != 0)
        return fail(err, errlen, "unsupported content_type '%.64s' (celeriac reads application/json)",
                    w->content_type);
    if (w->content_encoding != NULL && strcasecmp(w->content_encoding, "utf-8") != 0 &&
        strcasecmp(w->content_encoding, "utf8") != 0)
        return fail(err, errlen, "unsupported content_encoding '%.64s' (expected utf-8)",
                    w->content_encoding);

    /* The id first, so that even a message failing later can fail its row. */
    if (h != NULL && cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(h, "id")))
        m->id = strdup(v->valuestring);
    else if (w->correlation_id != NULL)
        m->id = strdup(w->correlation_id);
    if (m->id != NULL && !uuid_is_valid(m->id)) {
        fail(err, errlen, "task id '%.64s' is not a UUID", m->id);
        free(m->id);
        m->id = NULL;
        return -1;
    }

    if (h == NULL || !cJSON_IsObject(h) || cJSON_GetObjectItemCaseSensitive(h, "task") == NULL) {
        /* Protocol v1 put everything in the body; celeriac speaks v2 only. */
        return fail(err, errlen, "no 'task' header: not a Celery protocol v2 message");
    }
    if (m->id == NULL)
        return fail(err, errlen, "no task id (header 'id' or correlation_id)");
    v = cJSON_GetObjectItemCaseSensitive(h, "task");
    if (!cJSON_IsString(v))
        return fail(err, errlen, "header 'task' must be a string");
    if (!celery_name_valid(v->valuestring))
        return fail(err, errlen, "invalid task name '%.64s'", v->valuestring);
    m->task = strdup(v->valuestring);

    if (header_int(h, "retries", 0, &m->retries, err, errlen) < 0 ||
        header_str(h, "eta", &m->eta, err, errlen) < 0 ||
        header_str(h, "expires", &m->expires, err, errlen) < 0 ||
        header_str(h, "root_id", &m->root_id, err, errlen) < 0 ||
        header_str(h, "parent_id", &m->parent_id, err, errlen) < 0 ||
        header_str(h, "group", &m->group, err, errlen) < 0 ||
        header_int(h, "group_index", -1, &m->group_index, err, errlen) < 0 ||
        header_str(h, "shadow", &m->shadow, err, errlen) < 0 ||
        header_str(h, "origin", &m->origin, err, errlen) < 0 ||
        header_str(h, "argsrepr", &m->argsrepr, err, errlen) < 0 ||
        header_str(h, "kwargsrepr", &m->kwargsrepr, err, errlen) < 0 ||
        header_int(h, "max_retries", -1, &m->max_retries, err, errlen) < 0)
        return -1;
    if (m->eta != NULL && clock_parse_iso(m->eta, &m->eta_at) < 0)
        return fail(err, errlen, "header 'eta' is not an ISO 8601 time: '%.64s'", m->eta);
    if (m->expires != NULL && clock_parse_iso(m->expires, &m->expires_at) < 0)
        return fail(err, errlen, "header 'expires' is not an ISO 8601 time: '%.64s'", m->expires);
    tl = cJSON_GetObjectItemCaseSensitive(h, "timelimit");
    if (tl != NULL && !cJSON_IsNull(tl)) {
        /* Celery's code order is [hard, soft], whatever its docs say. */
        if (!cJSON_IsArray(tl) || cJSON_GetArraySize(tl) != 2 ||
            limit_value(cJSON_GetArrayItem(tl, 0), &m->time_limit) < 0 ||
            limit_value(cJSON_GetArrayItem(tl, 1), &m->soft_time_limit) < 0)
            return fail(err, errlen, "header 'timelimit' must be [hard, soft] seconds or nulls");
    }
    v = cJSON_GetObjectItemCaseSensitive(h, "ignore_result");
    if (v != NULL && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v))
            return fail(err, errlen, "header 'ignore_result' must be a boolean");
        m->ignore_result = cJSON_IsTrue(v);
    }
    m->reply_to = w->reply_to != NULL && w->reply_to[0] != '\0' ? strdup(w->reply_to) : NULL;
    m->priority = w->priority > 0 ? w->priority : 0;

    if (w->body == NULL || w->body_len == 0)
        return fail(err, errlen, "empty body");
    if (w->body_len > CELERY_BODY_MAX)
        return fail(err, errlen, "body of %zu bytes is over the %d MiB limit", w->body_len,
                    CELERY_BODY_MAX >> 20);
    body = json_parse(w->body, w->body_len, perr, sizeof perr);
    if (body == NULL)
        return fail(err, errlen, "body: %s", perr);
    if (!cJSON_IsArray(body) || cJSON_GetArraySize(body) != 3) {
        fail(err, errlen, "body is not a JSON array [args, kwargs, embed]");
        goto out;
    }
    m->args = cJSON_DetachItemFromArray(body, 0);
    m->kwargs = cJSON_DetachItemFromArray(body, 0);
    m->embed = cJSON_DetachItemFromArray(body, 0);
    if (!cJSON_IsArray(m->args)) {
        fail(err, errlen, "body[0] (args) must be an array");
        goto out;
    }
    if (!cJSON_IsObject(m->kwargs)) {
        fail(err, errlen, "body[1] (kwargs) must be an object");
        goto out;
    }
    if (!cJSON_IsObject(m->embed) && !cJSON_IsNull(m->embed)) {
        fail(err, errlen, "body[2] (embed) must be an object");
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(body);
    return rc;
}
