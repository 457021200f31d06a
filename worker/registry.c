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

/* The parameters of each task, as its handler binds them (worker/tasks/):
 * the webapp's form shows a field of the right type for each. */
#define PARAMS(...) ((const struct task_param[]){__VA_ARGS__, {NULL, PARAM_NUMBER, NULL}})
#define NO_PARAMS ((const struct task_param[]){{NULL, PARAM_NUMBER, NULL}})

const struct task_def registry_tasks[] = {
    {"demo.add", task_demo_add, true, "demo.add(x, y): returns x + y", "[2, 3]",
     PARAMS({"x", PARAM_NUMBER, NULL}, {"y", PARAM_NUMBER, NULL})},
    {"demo.noop", task_demo_noop, true, "demo.noop(): does nothing, returns null", "[]", NO_PARAMS},
    {"demo.sleep", task_demo_sleep, false,
     "demo.sleep(seconds): sleeps (fractions allowed), returns seconds", "[1.5]",
     PARAMS({"seconds", PARAM_NUMBER, NULL})},
    {"demo.fail", task_demo_fail, true, "demo.fail(message): always fails with message",
     "[\"boom\"]", PARAMS({"message", PARAM_STRING, NULL})},
    {"demo.record", task_demo_record, true,
     "demo.record(key, fail_after=false): stores one row keyed by its task id, returns key "
     "(fail_after: fail once written, which must undo the write)",
     "[\"k1\"]", PARAMS({"key", PARAM_STRING, NULL}, {"fail_after", PARAM_BOOL, "false"})},
    {"demo.flaky", task_demo_flaky, true,
     "demo.flaky(fail_times): asks for a retry on its first fail_times attempts, then returns "
     "the attempt number (back-off 0.5 s, doubling)",
     "[2]", PARAMS({"fail_times", PARAM_INTEGER, NULL}), .max_retries = 5, .retry_backoff = 0.5},
    {"demo.hog", task_demo_hog, true,
     "demo.hog(mib): keeps mib MiB allocated until its child exits (a leak, to try "
     "--max-memory-per-child)",
     "[64]", PARAMS({"mib", PARAM_NUMBER, NULL})},
    {"celeriac.cleanup", task_celeriac_cleanup, false,
     "celeriac.cleanup(retention_days=7): deletes finished tasks (with their logs) and "
     "revocations older than retention_days; run daily by the scheduler",
     "[7]", PARAMS({"retention_days", PARAM_NUMBER, "7"})},
    {"scrape.site", task_scrape_site, false,
     "scrape.site(url, max_pages=20, follow=true): fetches a blog page or feed and stores its "
     "articles (with follow: the articles an index page links to, at most max_pages); returns "
     "how many were new, updated, unchanged and failed",
     "[\"https://blog.python.org/\", 20, true]",
     PARAMS({"url", PARAM_STRING, NULL}, {"max_pages", PARAM_INTEGER, "20"},
            {"follow", PARAM_BOOL, "true"})},
    {"convert.file", task_convert_file, false,
     "convert.file(file_id, to, options={}): converts an uploaded file (csv, json, xml, html, md, "
     "images, office documents) to the format to names and stores the output; options: "
     "delimiter, width, height, quality; returns output_file_id",
     "[\"<file id>\", \"json\", {}]",
     PARAMS({"file_id", PARAM_STRING, NULL}, {"to", PARAM_STRING, NULL},
            {"options", PARAM_OBJECT, "{}"}),
     .soft_time_limit = 600, .time_limit = 660, .details = convert_details},
    {"chat.persist", task_chat_persist, true,
     "chat.persist(id, room, author, body, sent_at): stores a chat message the webapp accepted "
     "(once per id); returns its id, room and seq",
     "[\"<uuid>\", \"lobby\", \"ann\", \"hello\", \"2026-11-30T12:00:00Z\"]",
     PARAMS({"id", PARAM_STRING, NULL}, {"room", PARAM_STRING, NULL},
            {"author", PARAM_STRING, NULL}, {"body", PARAM_STRING, NULL},
            {"sent_at", PARAM_STRING, NULL}),
     .write_batch = chat_write_batch},
    {NULL, NULL, false, NULL, NULL, NULL},
};

const char *
registry_param_type_name(enum task_param_type type)
{
    switch (type) {
    case PARAM_NUMBER:
        return "number";
    case PARAM_INTEGER:
        return "integer";
    case PARAM_STRING:
        return "string";
    case PARAM_BOOL:
        return "bool";
    case PARAM_OBJECT:
        return "object";
    case PARAM_ARRAY:
        return "array";
    }
    return "string";
}

/* "params": one {"name", "type", "required", "default"} per parameter. */
static cJSON *
params_json(const struct task_param *params)
{
    cJSON *arr = cJSON_CreateArray();

    for (const struct task_param *p = params; arr != NULL && p->name != NULL; p++) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "name", p->name);
        cJSON_AddStringToObject(o, "type", registry_param_type_name(p->type));
        cJSON_AddBoolToObject(o, "required", p->default_json == NULL);
        if (p->default_json != NULL)
            cJSON_AddItemToObject(o, "default", cJSON_Parse(p->default_json));
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

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
        if (d->params != NULL)
            cJSON_AddItemToObject(o, "params", params_json(d->params));
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
