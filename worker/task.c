/* worker/task.c - see task.h. */
#include "worker/task.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "worker/engine.h"

void
task_ctx_init(struct task_ctx *t, const struct celery_msg *m, struct engine *engine,
              const char *worker, volatile sig_atomic_t *cancel)
{
    memset(t, 0, sizeof *t);
    t->msg = m;
    t->engine = engine;
    t->worker = worker;
    t->cancel = cancel;
    t->progress = -1;
}

void
task_ctx_fini(struct task_ctx *t)
{
    if (t == NULL)
        return;
    cJSON_Delete(t->result);
    for (int i = 0; i < t->nlogs; i++)
        free(t->logs[i].message);
    free(t->logs);
    memset(t, 0, sizeof *t);
}

static void
add_line(struct task_ctx *t, const char *level, char *message)
{
    struct store_log_line *l;

    if (t->nlogs == t->logs_cap) {
        int cap = t->logs_cap ? t->logs_cap * 2 : 8;
        struct store_log_line *p = realloc(t->logs, sizeof *p * (size_t)cap);
        if (p == NULL) {
            free(message);
            return;
        }
        t->logs = p;
        t->logs_cap = cap;
    }
    l = &t->logs[t->nlogs++];
    l->level = level;
    l->message = message;
    clock_iso_now(l->at);
}

void
task_log(struct task_ctx *t, const char *fmt, ...)
{
    char *line = NULL;
    va_list ap;

    if (t->nlogs >= TASK_LOG_LINES_MAX) {
        if (t->logs_dropped++ == 0) {
            char *marker = strdup("[further log lines dropped: limit reached]");
            if (marker != NULL)
                add_line(t, "WARN", marker);
        }
        return;
    }
    va_start(ap, fmt);
    if (vasprintf(&line, fmt, ap) < 0)
        line = NULL;
    va_end(ap);
    if (line == NULL)
        return;
    if (!utf8_valid(line, strlen(line))) { /* PostgreSQL would refuse the whole batch */
        free(line);
        line = strdup("[log line dropped: not valid UTF-8]");
        if (line == NULL)
            return;
    }
    log_task(LL_DEBUG, t->msg->id, "%s", line);
    add_line(t, "INFO", line);
    if (t->engine != NULL)
        engine_task_flush_logs(t->engine, t);
}

void
task_logs_truncate(struct task_ctx *t, int n)
{
    while (t->nlogs > n && t->nlogs > 0)
        free(t->logs[--t->nlogs].message);
}

/* Keep exc_type and the message (any length, any bytes) as the task's error. */
static void
set_error(struct task_ctx *t, const char *exc_type, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
set_error(struct task_ctx *t, const char *exc_type, const char *fmt, va_list ap)
{
    char *msg = NULL;

    snprintf(t->exc_type, sizeof t->exc_type, "%s", exc_type);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    /* A message may quote anything and be any length: keep whole characters
     * only (PostgreSQL refuses a sequence cut in half, which would leave the
     * task unwritable) and valid UTF-8. */
    if (msg != NULL && !utf8_valid(msg, strlen(msg)))
        utf8_scrub(msg);
    snprintf(t->error, sizeof t->error, "%.*s",
             msg != NULL ? (int)utf8_prefix_len(msg, sizeof t->error - 1) : 0,
             msg != NULL ? msg : "");
    free(msg);
}

int
task_fail(struct task_ctx *t, const char *exc_type, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    set_error(t, exc_type, fmt, ap);
    va_end(ap);
    return TASK_FAILED;
}

int
task_retry(struct task_ctx *t, double countdown, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    set_error(t, "Retry", fmt, ap);
    va_end(ap);
    t->retry_countdown = countdown;
    return TASK_RETRY;
}

PGresult *
task_sql(struct task_ctx *t, const char *sql, int nparams, const char *const *params)
{
    return task_sql_bin(t, sql, nparams, params, NULL);
}

PGresult *
task_sql_bin(struct task_ctx *t, const char *sql, int nparams, const char *const *params,
             const struct store_binary *bin)
{
    if (t->engine == NULL) {
        task_fail(t, "RuntimeError", "%s: no database in this context", t->msg->task);
        return NULL;
    }
    return engine_task_sql(t->engine, t, sql, nparams, params, bin);
}

PGresult *
task_read(struct task_ctx *t, const char *sql, int nparams, const char *const *params)
{
    return task_read_bin(t, sql, nparams, params, NULL);
}

PGresult *
task_read_bin(struct task_ctx *t, const char *sql, int nparams, const char *const *params,
              const struct store_binary *bin)
{
    if (t->engine == NULL) {
        task_log(t, "read skipped: no database in this context");
        return NULL;
    }
    return engine_task_read(t->engine, t, sql, nparams, params, bin);
}

int
task_defer(struct task_ctx *t)
{
    t->deferred = true;
    return TASK_OK;
}

PGresult *
task_batch_sql(struct task_batch *b, const char *sql, int nparams, const char *const *params)
{
    return engine_batch_sql(b, sql, nparams, params);
}

void
task_progress(struct task_ctx *t, int percent)
{
    if (percent < 0)
        percent = 0;
    if (percent > 100)
        percent = 100;
    if (t->engine == NULL || percent <= t->progress)
        return;
    engine_task_progress(t->engine, t, percent);
    engine_task_flush_logs(t->engine, t); /* lines held back by the throttle */
}

int
task_bind_args(struct task_ctx *t, const char *const *params, int nparams)
{
    const char *task = t->msg->task;
    int nargs = cJSON_GetArraySize(t->msg->args);
    const cJSON *kw;

    if (nargs > nparams)
        return task_fail(t, "TypeError", "%s() takes %d positional argument%s but %d were given",
                         task, nparams, nparams == 1 ? "" : "s", nargs);
    cJSON_ArrayForEach(kw, t->msg->kwargs)
    {
        int i;
        for (i = 0; i < nparams; i++)
            if (strcmp(kw->string, params[i]) == 0)
                break;
        if (i == nparams)
            return task_fail(t, "TypeError", "%s() got an unexpected keyword argument '%s'", task,
                             kw->string);
        if (i < nargs)
            return task_fail(t, "TypeError", "%s() got multiple values for argument '%s'", task,
                             kw->string);
    }
    return TASK_OK;
}

const cJSON *
task_arg(struct task_ctx *t, int i, const char *name)
{
    if (i < cJSON_GetArraySize(t->msg->args))
        return cJSON_GetArrayItem(t->msg->args, i);
    return cJSON_GetObjectItemCaseSensitive(t->msg->kwargs, name);
}

int
task_arg_number(struct task_ctx *t, int i, const char *name, double *out)
{
    const cJSON *v = task_arg(t, i, name);

    if (v == NULL)
        return task_fail(t, "TypeError", "%s() missing required argument: '%s'", t->msg->task,
                         name);
    if (!cJSON_IsNumber(v))
        return task_fail(t, "TypeError", "%s(): argument '%s' must be a number", t->msg->task,
                         name);
    *out = v->valuedouble;
    return TASK_OK;
}

char *
task_failure_meta(const struct task_ctx *t)
{
    cJSON *o = cJSON_CreateObject(), *msgs = cJSON_CreateArray();
    char *text;

    cJSON_AddStringToObject(o, "exc_type", t->exc_type[0] ? t->exc_type : "RuntimeError");
    cJSON_AddItemToArray(msgs, cJSON_CreateString(t->error));
    cJSON_AddItemToObject(o, "exc_message", msgs);
    cJSON_AddStringToObject(o, "exc_module", "builtins");
    text = json_print(o);
    cJSON_Delete(o);
    return text;
}
