/* worker/tasks/demo.c - the demo tasks: small, but they exercise the whole
 * path (arguments by position or name, results, failures, log lines, time). */
#include "worker/tasks/tasks.h"

#include <math.h>

#include "common/clock.h"

#define SLEEP_MAX_S 86400.0

int
task_demo_add(struct task_ctx *t)
{
    static const char *const params[] = {"x", "y"};
    double x, y;

    if (task_bind_args(t, params, 2) != TASK_OK || task_arg_number(t, 0, "x", &x) != TASK_OK ||
        task_arg_number(t, 1, "y", &y) != TASK_OK)
        return TASK_FAILED;
    task_log(t, "adding %.17g + %.17g", x, y);
    if (!isfinite(x + y))
        return task_fail(t, "OverflowError", "demo.add(): the sum is not a finite number");
    t->result = cJSON_CreateNumber(x + y);
    return TASK_OK;
}

int
task_demo_noop(struct task_ctx *t)
{
    if (task_bind_args(t, NULL, 0) != TASK_OK)
        return TASK_FAILED;
    task_log(t, "noop");
    return TASK_OK;
}

int
task_demo_sleep(struct task_ctx *t)
{
    static const char *const params[] = {"seconds"};
    double s;

    if (task_bind_args(t, params, 1) != TASK_OK || task_arg_number(t, 0, "seconds", &s) != TASK_OK)
        return TASK_FAILED;
    if (!(s >= 0 && s <= SLEEP_MAX_S))
        return task_fail(t, "ValueError", "demo.sleep(): seconds must be between 0 and %.0f",
                         SLEEP_MAX_S);
    task_log(t, "sleeping %g s", s);
    if (clock_sleep(s, t->cancel) < 0)
        return task_fail(t, "Cancelled", "demo.sleep(): cancelled");
    task_log(t, "slept %g s", s);
    t->result = cJSON_CreateNumber(s);
    return TASK_OK;
}

int
task_demo_fail(struct task_ctx *t)
{
    static const char *const params[] = {"message"};
    const cJSON *m;

    if (task_bind_args(t, params, 1) != TASK_OK)
        return TASK_FAILED;
    m = task_arg(t, 0, "message");
    task_log(t, "failing on purpose");
    if (cJSON_IsString(m))
        return task_fail(t, "RuntimeError", "%s", m->valuestring);
    return task_fail(t, "RuntimeError", "demo.fail() called without a message");
}

int
task_demo_record(struct task_ctx *t)
{
    static const char *const params[] = {"key", "fail_after"};
    const char *values[2];
    const cJSON *key, *fail_after;
    PGresult *res;

    if (task_bind_args(t, params, 2) != TASK_OK)
        return TASK_FAILED;
    key = task_arg(t, 0, "key");
    fail_after = task_arg(t, 1, "fail_after");
    if (!cJSON_IsString(key))
        return task_fail(t, "TypeError", "demo.record(): key must be a string");
    values[0] = t->msg->id;
    values[1] = key->valuestring;
    res = task_sql(t, "INSERT INTO demo_records (task_id, key) VALUES ($1::uuid, $2)", 2, values);
    if (res == NULL)
        return TASK_FAILED;
    PQclear(res);
    task_log(t, "recorded %s", key->valuestring);
    /* A handler that fails after writing: its row must not survive. */
    if (cJSON_IsTrue(fail_after))
        return task_fail(t, "RuntimeError", "demo.record(): failing after the write, as asked");
    t->result = cJSON_CreateString(key->valuestring);
    return TASK_OK;
}
