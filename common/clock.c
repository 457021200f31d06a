/* common/clock.c - see clock.h. */
#include "common/clock.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

double
clock_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
clock_sleep(double seconds, volatile sig_atomic_t *cancel)
{
    double deadline = clock_mono() + seconds;

    for (;;) {
        double left = deadline - clock_mono();
        struct timespec ts;

        if (cancel != NULL && *cancel)
            return -1;
        if (left <= 0)
            return 0;
        /* Sleep in slices so a cancel flag set by a signal handler is seen soon. */
        if (left > 0.1)
            left = 0.1;
        ts.tv_sec = (time_t)left;
        ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
        if (nanosleep(&ts, NULL) < 0 && errno != EINTR)
            return 0;
    }
}

void
clock_iso_now(char out[CLOCK_ISO_LEN])
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(out, CLOCK_ISO_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, CLOCK_ISO_LEN - n, ".%06ldZ", ts.tv_nsec / 1000);
}
