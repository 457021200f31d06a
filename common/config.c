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
    c->queue_type = env_or("CELERIAC_QUEUE_TYPE", CFG_DEFAULT_QUEUE_TYPE);
    if (strcmp(c->queue_type, "classic") != 0 && strcmp(c->queue_type, "quorum") != 0) {
        snprintf(err, errlen, "CELERIAC_QUEUE_TYPE=%s: expected classic or quorum", c->queue_type);
        return -1;
    }
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

/* One URL of a list: its password replaced, appended to out at *used. */
static void
redact_one(const char *url, size_t len, char *out, size_t outlen, size_t *used)
{
    const char *scheme = memmem(url, len, "://", 3);
    const char *at = NULL, *colon = NULL;
    int n;

    if (scheme != NULL) {
        at = memchr(scheme + 3, '@', len - (size_t)(scheme + 3 - url));
        if (at != NULL)
            colon = memchr(scheme + 3, ':', (size_t)(at - (scheme + 3)));
    }
    if (colon != NULL)
        n = snprintf(out + *used, outlen - *used, "%.*s:***%.*s", (int)(colon - url), url,
                     (int)(len - (size_t)(at - url)), at);
    else
        n = snprintf(out + *used, outlen - *used, "%.*s", (int)len, url);
    *used += n < 0 ? 0 : (size_t)n < outlen - *used ? (size_t)n : outlen - *used - 1;
}

void
cfg_redact_url(const char *url, char *out, size_t outlen)
{
    size_t used = 0;

    if (outlen == 0)
        return;
    out[0] = '\0';
    /* AMQP_URL may list several nodes separated by ';', as Celery's broker_url. */
    for (const char *p = url;; p++) {
        const char *end = strchr(p, ';');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

        redact_one(p, len, out, outlen, &used);
        if (end == NULL)
            break;
        if (used + 1 < outlen) {
            out[used++] = ';';
            out[used] = '\0';
        }
        p = end;
    }
}

int
cfg_amqp_heartbeat(void)
{
    const char *v = getenv("AMQP_HEARTBEAT");
    int n;

    return v != NULL && cfg_parse_int(v, 0, 3600, &n) == 0 ? n : 0;
}
