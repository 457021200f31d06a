/* webapp/catalog.c - the tasks the form suggests. It mirrors worker/registry.c
 * by hand because the webapp never links worker code (it never runs tasks);
 * keep the two in step when a task is added. Any other name may still be typed. */
#include "webapp/webapp.h"

const struct catalog_task catalog_tasks[] = {
    {"demo.add", "demo.add(x, y): returns x + y", "[2, 3]"},
    {"demo.noop", "demo.noop(): does nothing, returns null", "[]"},
    {"demo.sleep", "demo.sleep(seconds): sleeps (fractions allowed), returns seconds", "[1.5]"},
    {"demo.fail", "demo.fail(message): always fails with message", "[\"boom\"]"},
    {NULL, NULL, NULL},
};
