/* client/scheduler.h - the scheduler every worker master runs: it publishes
 * the messages of scheduled_tasks whose time has come (countdown, ETA, retry
 * back-off) and turns due periodic_tasks runs into scheduled tasks. Any
 * number of masters run it at once: each round locks its rows with
 * FOR UPDATE SKIP LOCKED and removes or moves them in the same transaction,
 * after RabbitMQ confirmed the publishes, so no row is published twice by
 * two masters and none is lost to a crash (a crash between the confirm and
 * the commit publishes it once more: ids make that harmless). Sits above
 * broker/ and sql/, with connections of its own. */
#ifndef CELERIAC_SCHEDULER_H
#define CELERIAC_SCHEDULER_H

#include <stdbool.h>

struct scheduler;

/* No connection is opened here. cron_seconds accepts 6-field expressions
 * (seconds first) in periodic_tasks: for tests only. NULL on out of memory. */
struct scheduler *scheduler_new(const char *amqp_url, const char *database_url,
                                const char *conn_name, bool cron_seconds);
void scheduler_free(struct scheduler *s);

/* Publish up to limit due schedules and delete them. The number published,
 * or -1 (logged once per streak of trouble). */
int scheduler_publish_due(struct scheduler *s, int limit);
/* Schedule, due now, one run of each enabled periodic task whose time has
 * come, and move its next_run_at to its next time after now (runs missed
 * while no scheduler ran are not made up). The number fired, or -1. */
int scheduler_fire_periodic(struct scheduler *s, int limit);

#endif
