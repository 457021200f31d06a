/* worker/registry.c - see registry.h. */
#include "worker/registry.h"

#include <string.h>

#include "broker/broker.h"
#include "common/json.h"

#include "worker/tasks/tasks.h"

const struct task_def registry_tasks[] = {
    {"demo.add", task_demo_add, true, "demo.add(x, y): returns x + y", "[2, 3]"},
    {"demo.noop", task_demo_noop, true, "demo.noop(): does nothing, returns null", "[]"},
    {"demo.sleep", task_demo_sleep, false,
     "demo.sleep(seconds): sleeps (fractions allowed), returns seconds", "[1.5]"},
    {"demo.fail", task_demo_fail, true, "demo.fail(message): always fails with message",
     "[\"boom\"]"},
    {"demo.record", task_demo_record, true,
     "demo.record(key, fail_after=false): stores one row keyed by its task id, returns key "
     "(fail_after: fail once written, which must undo the write)",
     "[\"k1\"]"},
    {"demo.flaky", task_demo_flaky, true,
     "demo.flaky(fail_times): asks for a retry on its first fail_times attempts, then returns "
     "the attempt number (back-off 0.5 s, doubling)",
     "[2]", .max_retries = 5, .retry_backoff = 0.5},
    {"demo.hog", task_demo_hog, true,
     "demo.hog(mib): keeps mib MiB allocated until its child exits (a leak, to try "
     "--max-memory-per-child)",
     "[64]"},
    {"celeriac.cleanup", task_celeriac_cleanup, false,
     "celeriac.cleanup(retention_days=7): deletes finished tasks (with their logs) and "
     "revocations older than retention_days; run daily by the scheduler",
     "[7]"},
    {"scrape.site", task_scrape_site, false,
     "scrape.site(url, max_pages=20, follow=true): fetches a blog page or feed and stores its "
     "articles (with follow: the articles an index page links to, at most max_pages); returns "
     "how many were new, updated, unchanged and failed",
     "[\"https://blog.python.org/\", 20, true]"},
    {NULL, NULL, false, NULL, NULL},
};

char *
registry_json(void)
{
    cJSON *arr = cJSON_CreateArray();
    char *text;

    for (const struct task_def *d = registry_tasks; arr != NULL && d->name != NULL; d++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", d->name);
        cJSON_AddStringToObject(o, "doc", d->doc);
        cJSON_AddStringToObject(o, "example_args", d->example_args);
        cJSON_AddStringToObject(o, "queue", broker_queue_for_task(d->name));
        cJSON_AddItemToArray(arr, o);
    }
    text = json_print(arr);
    cJSON_Delete(arr);
    return text;
}

const struct task_def *
registry_find(const char *name)
{
    for (const struct task_def *d = registry_tasks; name != NULL && d->name != NULL; d++)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}
