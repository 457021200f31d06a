/* common/config.h - settings shared by every binary: environment variables first,
 * then each program's flags override them (DESIGN.md "Configuration"). */
#ifndef CELERIAC_CONFIG_H
#define CELERIAC_CONFIG_H

#include <stddef.h>

#define CFG_DEFAULT_AMQP_URL "amqp://guest:guest@127.0.0.1:5672/"
#define CFG_DEFAULT_DATABASE_URL "postgresql://celeriac@127.0.0.1:5432/celeriac"
#define CFG_DEFAULT_LISTEN "127.0.0.1:8080"
/* Every queue celeriac routes its own tasks to (broker/topology.c): a worker
 * started without --queues runs whatever the webapp offers. */
#define CFG_DEFAULT_QUEUES "celery,scrape,convert,chat"
/* How celeriac declares its queues: "classic", or "quorum" for a RabbitMQ
 * cluster that must lose no queue with a node (docs/operations.md). */
#define CFG_DEFAULT_QUEUE_TYPE "classic"
/* Deliveries a child holds unacked; a batch is at most half of them
 * (docs/architecture.md). */
#define CFG_DEFAULT_PREFETCH 400
/* Seconds a webapp/CLI task may stay PENDING with no confirmed publish before
 * a worker master's sweeper publishes it again. */
#define CFG_DEFAULT_REPUBLISH_AFTER 60
/* Runs of one task its children may die in before it is failed, not run again. */
#define CFG_DEFAULT_MAX_DELIVERIES 3

/* Strings point into the environment or argv: never freed. */
struct config {
    const char *amqp_url;     /* AMQP_URL */
    const char *database_url; /* DATABASE_URL */
    const char *listen;       /* WEBAPP_LISTEN, host:port */
    const char *auth;         /* CELERIAC_AUTH user:password, NULL = no auth */
    const char *queues;       /* WORKER_QUEUES, comma separated */
    const char *queue_type;   /* CELERIAC_QUEUE_TYPE: "classic" or "quorum" */
    const char *hostname;     /* worker node name, NULL = derived */
    int concurrency;          /* WORKER_CONCURRENCY, 0 = number of CPUs */
    int prefetch;             /* WORKER_PREFETCH */
    int republish_after;      /* WORKER_REPUBLISH_AFTER, seconds */
    int max_deliveries;       /* WORKER_MAX_DELIVERIES: runs lost to dying children */
    int soft_time_limit;      /* WORKER_SOFT_TIME_LIMIT, seconds, 0 = none */
    int time_limit;           /* WORKER_TIME_LIMIT, seconds, 0 = none */
    int max_tasks_per_child;  /* WORKER_MAX_TASKS_PER_CHILD, 0 = no limit */
    int max_memory_per_child; /* WORKER_MAX_MEMORY_PER_CHILD, KiB of RSS, 0 = no limit */
    int cron_seconds;         /* CELERIAC_CRON_SECONDS=1: 6-field cron (tests only) */
};

/* AMQP_HEARTBEAT: seconds between AMQP heartbeats, 0 (the default) for none,
 * as broker/conn.c asks RabbitMQ for them. Out of range or garbage: 0. */
int cfg_amqp_heartbeat(void);

/* Fill c from the environment and the defaults. -1 (message in err) when a
 * numeric variable does not parse. */
int cfg_load_env(struct config *c, char *err, size_t errlen);

/* Parse a decimal int in [min, max]. 0 or -1. */
int cfg_parse_int(const char *s, int min, int max, int *out);

/* Copy url into out with the password replaced by "***", so it can be logged. */
void cfg_redact_url(const char *url, char *out, size_t outlen);

#endif
