/* worker/catalog.c - see catalog.h. */
#include "worker/catalog.h"

#include <stddef.h>

const struct task_info task_catalog[] = {
    {"demo.add", "demo.add(x, y): returns x + y", "[2, 3]"},
    {"demo.noop", "demo.noop(): does nothing, returns null", "[]"},
    {"demo.sleep", "demo.sleep(seconds): sleeps (fractions allowed), returns seconds", "[1.5]"},
    {"demo.fail", "demo.fail(message): always fails with message", "[\"boom\"]"},
    {"demo.record",
     "demo.record(key, fail_after=false): stores one row keyed by its task id, returns key "
     "(fail_after: fail once written, which must undo the write)",
     "[\"k1\"]"},
    {NULL, NULL, NULL},
};
