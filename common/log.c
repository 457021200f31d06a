/* common/log.c - see log.h. Each line is built in one buffer and written with a
 * single write(2) so lines from the master and its children never interleave. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char log_role[32] = "celeriac";
static enum log_level log_threshold = LL_INFO;

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void
log_init(const char *role)
{
    const char *lvl = getenv("LOG_LEVEL");

    snprintf(log_role, sizeof log_role, "%s", role);
    if (lvl == NULL)
        return;
    if (strcasecmp(lvl, "debug") == 0)
        log_threshold = LL_DEBUG;
    else if (strcasecmp(lvl, "warn") == 0)
        log_threshold = LL_WARN;
    else if (strcasecmp(lvl, "error") == 0)
        log_threshold = LL_ERROR;
}

void
log_set_child(int slot)
{
    snprintf(log_role, sizeof log_role, "child.%d", slot);
}

/* Format at line + n, truncating to fit size; returns the new length, at most
 * size - 1 (the slot of the NUL, which log_msg() fills with the newline). */
static size_t
vappend(char *line, size_t size, size_t n, const char *fmt, va_list ap)
{
    int w;

    if (n >= size - 1)
        return n;
    w = vsnprintf(line + n, size - n, fmt, ap);
    if (w < 0)
        return n;
    return n + (size_t)w < size - 1 ? n + (size_t)w : size - 1;
}

static size_t __attribute__((format(printf, 4, 5)))
append(char *line, size_t size, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    n = vappend(line, size, n, fmt, ap);
    va_end(ap);
    return n;
}

void
log_msg(enum log_level lvl, const char *task_id, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;

    if (lvl < log_threshold)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n = append(line, sizeof line, n, ".%03ldZ %s %s[%ld] ", ts.tv_nsec / 1000000L,
               level_names[lvl], log_role, (long)getpid());
    if (task_id != NULL)
        n = append(line, sizeof line, n, "task=%s ", task_id);
    va_start(ap, fmt);
    n = vappend(line, sizeof line, n, fmt, ap);
    va_end(ap);
    /* libpq and others end their messages with '\n': one event, one line. */
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    while (n > 0 && line[n - 1] == ' ')
        n--;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* Nowhere left to report it. */
    }
}
