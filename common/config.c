/* common/config.c - see config.h. */
#include "common/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : fallback;
}

int
cfg_parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    long v;

    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static int
env_int(const char *name, int min, int max, int fallback, int *out, char *err, size_t errlen)
{
    const char *v = getenv(name);

    *out = fallback;
    if (v == NULL || v[0] == '\0')
        return 0;
    if (cfg_parse_int(v, min, max, out) < 0) {
        snprintf(err, errlen, "%s=%s: expected an integer from %d to %d", name, v, min, max);
        return -1;
    }
    return 0;
}

int
cfg_load_env(struct config *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->amqp_url = env_or("AMQP_URL", CFG_DEFAULT_AMQP_URL);
    c->database_url = env_or("DATABASE_URL", CFG_DEFAULT_DATABASE_URL);
    c->listen = env_or("WEBAPP_LISTEN", CFG_DEFAULT_LISTEN);
    c->auth = env_or("CELERIAC_AUTH", NULL);
    c->queues = env_or("WORKER_QUEUES", CFG_DEFAULT_QUEUES);
    c->hostname = env_or("WORKER_HOSTNAME", NULL);
    if (env_int("WORKER_CONCURRENCY", 0, 1024, 0, &c->concurrency, err, errlen) < 0)
        return -1;
    if (env_int("WORKER_PREFETCH", 1, 65535, CFG_DEFAULT_PREFETCH, &c->prefetch, err, errlen) < 0)
        return -1;
    if (env_int("WORKER_REPUBLISH_AFTER", 1, 86400, CFG_DEFAULT_REPUBLISH_AFTER,
                &c->republish_after, err, errlen) < 0)
        return -1;
    if (env_int("WORKER_MAX_DELIVERIES", 1, 1000, CFG_DEFAULT_MAX_DELIVERIES, &c->max_deliveries,
                err, errlen) < 0 ||
        env_int("WORKER_SOFT_TIME_LIMIT", 0, 1000000, 0, &c->soft_time_limit, err, errlen) < 0 ||
        env_int("WORKER_TIME_LIMIT", 0, 1000000, 0, &c->time_limit, err, errlen) < 0 ||
        env_int("WORKER_MAX_TASKS_PER_CHILD", 0, 1000000000, 0, &c->max_tasks_per_child, err,
                errlen) < 0 ||
        env_int("WORKER_MAX_MEMORY_PER_CHILD", 0, 1000000000, 0, &c->max_memory_per_child, err,
                errlen) < 0 ||
        env_int("CELERIAC_CRON_SECONDS", 0, 1, 0, &c->cron_seconds, err, errlen) < 0)
        return -1;
    return 0;
}

void
cfg_redact_url(const char *url, char *out, size_t outlen)
{
    const char *scheme = strstr(url, "://");
    const char *at, *colon;

    if (outlen == 0)
        return;
    snprintf(out, outlen, "%s", url);
    if (scheme == NULL)
        return;
    at = strchr(scheme + 3, '@');
    if (at == NULL)
        return;
    colon = memchr(scheme + 3, ':', (size_t)(at - (scheme + 3)));
    if (colon == NULL)
        return;
    snprintf(out, outlen, "%.*s:***%s", (int)(colon - url), url, at);
}

int
cfg_amqp_heartbeat(void)
{
    const char *v = getenv("AMQP_HEARTBEAT");
    int n;

    return v != NULL && cfg_parse_int(v, 0, 3600, &n) == 0 ? n : 0;
}
