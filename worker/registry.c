/* worker/registry.c - see registry.h. */
#include "worker/registry.h"

#include <string.h>

#include "broker/broker.h"
#include "common/json.h"

#include "convert/convert.h"
#include "worker/tasks/tasks.h"

/* convert.file's entry: which conversions this worker can do (office
 * documents only where soffice is installed), for the webapp's form. */
static cJSON *
convert_details(void)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddItemToObject(o, "conversions", convert_pairs_json());
    return o;
}

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
    {"convert.file", task_convert_file, false,
     "convert.file(file_id, to, options={}): converts an uploaded file (csv, json, xml, html, md, "
     "images, office documents) to the format to names and stores the output; options: "
     "delimiter, width, height, quality; returns output_file_id",
     "[\"<file id>\", \"json\", {}]", .soft_time_limit = 600, .time_limit = 660,
     .details = convert_details},
    {"chat.persist", task_chat_persist, true,
     "chat.persist(id, room, author, body, sent_at): stores a chat message the webapp accepted "
     "(once per id); returns its id, room and seq",
     "[\"<uuid>\", \"lobby\", \"ann\", \"hello\", \"2026-11-30T12:00:00Z\"]",
     .write_batch = chat_write_batch},
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
        if (d->details != NULL) {
            cJSON *more = d->details(), *item;
            while (more != NULL && (item = more->child) != NULL)
                cJSON_AddItemToObject(o, item->string, cJSON_DetachItemViaPointer(more, item));
            cJSON_Delete(more);
        }
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
