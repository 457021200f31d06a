/* worker/tasks/demo.c - the demo tasks: small, but they exercise the whole
 * path (arguments by position or name, results, failures, log lines, time). */
#include "worker/tasks/tasks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

int
task_demo_flaky(struct task_ctx *t)
{
    static const char *const params[] = {"fail_times"};
    double n;

    if (task_bind_args(t, params, 1) != TASK_OK ||
        task_arg_number(t, 0, "fail_times", &n) != TASK_OK)
        return TASK_FAILED;
    /* The attempt is the message's retries header: it survives any worker. */
    if (t->msg->retries < n)
        return task_retry(t, -1, "demo.flaky(): attempt %d fails on purpose (%g to fail)",
                          t->msg->retries + 1, n);
    task_log(t, "attempt %d succeeds", t->msg->retries + 1);
    t->result = cJSON_CreateNumber(t->msg->retries + 1);
    return TASK_OK;
}

#define HOG_MAX_MIB 4096
#define HOG_KEPT_MAX 64

/* What demo.hog keeps: reachable, so the compiler cannot drop the memory. */
static char *hog_kept[HOG_KEPT_MAX];
static int hog_nkept;

int
task_demo_hog(struct task_ctx *t)
{
    static const char *const params[] = {"mib"};
    double mib;
    char *p;

    if (task_bind_args(t, params, 1) != TASK_OK || task_arg_number(t, 0, "mib", &mib) != TASK_OK)
        return TASK_FAILED;
    if (!(mib >= 0 && mib <= HOG_MAX_MIB))
        return task_fail(t, "ValueError", "demo.hog(): mib must be between 0 and %d", HOG_MAX_MIB);
    if (hog_nkept == HOG_KEPT_MAX)
        return task_fail(t, "MemoryError", "demo.hog(): this child holds enough already");
    /* Kept on purpose (a leak): only the child's exit gives it back. */
    p = malloc((size_t)mib * 1024 * 1024 + 1);
    if (p == NULL)
        return task_fail(t, "MemoryError", "demo.hog(): cannot allocate %g MiB", mib);
    /* Every page touched through volatile stores: counted in RSS, and no
     * compiler may drop them as dead. */
    for (size_t i = 0; i <= (size_t)mib * 1024 * 1024; i += 4096)
        ((volatile char *)p)[i] = 1;
    hog_kept[hog_nkept++] = p;
    task_log(t, "holding %g MiB", mib);
    t->result = cJSON_CreateNumber(mib);
    return TASK_OK;
}
