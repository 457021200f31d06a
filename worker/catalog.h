/* worker/catalog.h - the tasks celeriac ships, described: name, one line of
 * documentation, example arguments. Data only, no handlers, so the webapp
 * (which never runs tasks) links it for its form while the worker's registry
 * (registry.c) maps the same names to code. A unit test keeps both in step. */
#ifndef CELERIAC_CATALOG_H
#define CELERIAC_CATALOG_H

struct task_info {
    const char *name;
    const char *doc;          /* e.g. "demo.add(x, y): returns x + y" */
    const char *example_args; /* JSON text, for the form */
};

extern const struct task_info task_catalog[]; /* terminated by a row with name NULL */

#endif
