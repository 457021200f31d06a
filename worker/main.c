/* worker/main.c - bin/celeriac-worker: flags, then master_run(). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker.h"
#include "common/config.h"
#include "common/log.h"
#include "worker/registry.h"
#include "worker/worker.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: celeriac-worker [options]\n"
            "Run a worker master that forks children to consume and run tasks.\n\n"
            "  -c, --concurrency N   children (WORKER_CONCURRENCY; default: number of CPUs)\n"
            "  -Q, --queues A,B      queues to consume (WORKER_QUEUES; default:\n"
            "                        celery,scrape,convert,chat)\n"
            "      --prefetch N      unacked messages per child; a batch is at most half\n"
            "                        (WORKER_PREFETCH; default: 400)\n"
            "  -n, --hostname NAME   node name (WORKER_HOSTNAME; default: celeriac.PID@HOST)\n"
            "      --republish-after S  publish again tasks left PENDING with no confirmed\n"
            "                        publish for S seconds (WORKER_REPUBLISH_AFTER; default: 60)\n"
            "      --soft-time-limit S  ask a task to stop after S seconds: it ends FAILURE\n"
            "                        (SoftTimeLimitExceeded) (WORKER_SOFT_TIME_LIMIT; default: none)\n"
            "      --time-limit S    kill a child whose task runs S seconds and fail the task\n"
            "                        (TimeLimitExceeded) (WORKER_TIME_LIMIT; default: none)\n"
            "                        A task's own limits and a message's timelimit header win.\n"
            "      --max-tasks-per-child N  replace a child after N tasks\n"
            "                        (WORKER_MAX_TASKS_PER_CHILD; default: no limit)\n"
            "      --max-memory-per-child KIB  replace a child whose RSS passes KIB after a task\n"
            "                        (WORKER_MAX_MEMORY_PER_CHILD; default: no limit)\n"
            "      --max-deliveries N  fail (and dead-letter) a task whose children died N times\n"
            "                        running it (WORKER_MAX_DELIVERIES; default: 3)\n"
            "      --queue-type T    declare the queues classic or quorum (a RabbitMQ cluster)\n"
            "                        (CELERIAC_QUEUE_TYPE; default: classic)\n"
            "  -h, --help            this text\n\n"
            "Signals: SIGTERM or SIGINT: warm shutdown (running tasks finish); a second one or\n"
            "SIGQUIT: cold shutdown (running tasks return to their queues).\n\n"
            "Environment: AMQP_URL (a cluster's nodes separated by ';'), DATABASE_URL,\n"
            "LOG_LEVEL (debug|info|warn|error).\n"
            "Tasks:\n");
    for (const struct task_def *t = registry_tasks; t->name != NULL; t++)
        fprintf(out, "  %s\n", t->doc);
}

/* Parse --queues into set: false when it names no queue or an invalid one. */
static bool
queues_parse(const char *csv, struct strset *set)
{
    if (strset_add_csv(set, csv) <= 0)
        return false;
    for (int i = 0; i < set->n; i++)
        if (!broker_queue_name_valid(set->v[i]))
            return false;
    return true;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"concurrency", required_argument, NULL, 'c'}, {"queues", required_argument, NULL, 'Q'},
        {"prefetch", required_argument, NULL, 'p'},    {"hostname", required_argument, NULL, 'n'},
        {"republish-after", required_argument, NULL, 'r'},
        {"soft-time-limit", required_argument, NULL, 's'},
        {"time-limit", required_argument, NULL, 't'},
        {"max-tasks-per-child", required_argument, NULL, 'm'},
        {"max-memory-per-child", required_argument, NULL, 'M'},
        {"max-deliveries", required_argument, NULL, 'd'},
        {"queue-type", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0},
    };
    struct config cfg;
    struct worker_cfg wc = {0};
    char err[256], host[256], nodename[320];
    int opt, rc;

    log_init("master");
    if (cfg_load_env(&cfg, err, sizeof err) < 0) {
        log_error("%s", err);
        return 2;
    }
    while ((opt = getopt_long(argc, argv, "c:Q:n:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            if (cfg_parse_int(optarg, 1, 1024, &cfg.concurrency) < 0) {
                fprintf(stderr, "celeriac-worker: --concurrency wants 1..1024\n");
                return 2;
            }
            break;
        case 'Q':
            cfg.queues = optarg;
            break;
        case 'p':
            if (cfg_parse_int(optarg, 1, 65535, &cfg.prefetch) < 0) {
                fprintf(stderr, "celeriac-worker: --prefetch wants 1..65535\n");
                return 2;
            }
            break;
        case 'n':
            cfg.hostname = optarg;
            break;
        case 'T':
            cfg.queue_type = optarg;
            break;
        case 'r':
            if (cfg_parse_int(optarg, 1, 86400, &cfg.republish_after) < 0) {
                fprintf(stderr, "celeriac-worker: --republish-after wants 1..86400 seconds\n");
                return 2;
            }
            break;
        case 's':
        case 't':
        case 'm':
        case 'M':
        case 'd': {
            const struct {
                int opt, min, max;
                int *to;
                const char *flag;
            } ints[] = {
                {'s', 0, 1000000, &cfg.soft_time_limit, "--soft-time-limit wants 0..1000000 seconds"},
                {'t', 0, 1000000, &cfg.time_limit, "--time-limit wants 0..1000000 seconds"},
                {'m', 0, 1000000000, &cfg.max_tasks_per_child, "--max-tasks-per-child wants 0.."},
                {'M', 0, 1000000000, &cfg.max_memory_per_child,
                 "--max-memory-per-child wants KiB, 0.."},
                {'d', 1, 1000, &cfg.max_deliveries, "--max-deliveries wants 1..1000"},
            };
            for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
                if (ints[i].opt == opt &&
                    cfg_parse_int(optarg, ints[i].min, ints[i].max, ints[i].to) < 0) {
                    fprintf(stderr, "celeriac-worker: %s\n", ints[i].flag);
                    return 2;
                }
            }
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "celeriac-worker: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (broker_set_queue_type(cfg.queue_type) < 0) {
        fprintf(stderr, "celeriac-worker: --queue-type wants classic or quorum, not '%s'\n",
                cfg.queue_type);
        return 2;
    }
    if (!queues_parse(cfg.queues, &wc.queue_set)) {
        fprintf(stderr, "celeriac-worker: invalid queue list '%s'\n", cfg.queues);
        strset_clear(&wc.queue_set);
        return 2;
    }
    if (cfg.concurrency == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.concurrency = n > 0 ? (int)n : 1;
    }
    if (cfg.hostname == NULL) {
        if (gethostname(host, sizeof host) < 0)
            snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        snprintf(nodename, sizeof nodename, "celeriac.%ld@%s", (long)getpid(), host);
        cfg.hostname = nodename;
    }
    wc.amqp_url = cfg.amqp_url;
    wc.database_url = cfg.database_url;
    wc.queues = cfg.queues;
    wc.nodename = cfg.hostname;
    wc.concurrency = cfg.concurrency;
    wc.prefetch = cfg.prefetch;
    wc.republish_after = cfg.republish_after;
    wc.max_deliveries = cfg.max_deliveries;
    wc.soft_time_limit = cfg.soft_time_limit;
    wc.time_limit = cfg.time_limit;
    wc.max_tasks_per_child = cfg.max_tasks_per_child;
    wc.max_memory_kib = cfg.max_memory_per_child;
    wc.cron_seconds = cfg.cron_seconds != 0;
    rc = master_run(&wc);
    strset_clear(&wc.queue_set);
    return rc;
}
