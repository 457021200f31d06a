/* worker/registry.c - see registry.h. */
#include "worker/registry.h"

#include <string.h>

#include "worker/tasks/tasks.h"

const struct task_def registry_tasks[] = {
    {"demo.add", task_demo_add, true},
    {"demo.noop", task_demo_noop, true},
    {"demo.sleep", task_demo_sleep, false},
    {"demo.fail", task_demo_fail, true},
    {"demo.record", task_demo_record, true},
    {NULL, NULL, false},
};

const struct task_def *
registry_find(const char *name)
{
    for (const struct task_def *d = registry_tasks; name != NULL && d->name != NULL; d++)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}
