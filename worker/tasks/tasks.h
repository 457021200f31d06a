/* worker/tasks/tasks.h - every task handler, listed in worker/registry.c. */
#ifndef CELERIAC_TASKS_H
#define CELERIAC_TASKS_H

#include "worker/task.h"

int task_demo_add(struct task_ctx *t);
int task_demo_noop(struct task_ctx *t);
int task_demo_sleep(struct task_ctx *t);
int task_demo_fail(struct task_ctx *t);
int task_demo_record(struct task_ctx *t);
int task_demo_flaky(struct task_ctx *t);
int task_demo_hog(struct task_ctx *t);
int task_celeriac_cleanup(struct task_ctx *t);
int task_scrape_site(struct task_ctx *t);
int task_convert_file(struct task_ctx *t);
int task_chat_persist(struct task_ctx *t);
int chat_write_batch(struct task_batch *b);

#endif
