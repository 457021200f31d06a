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

double
clock_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
clock_iso_at(double epoch, char out[CLOCK_ISO_LEN])
{
    time_t sec = (time_t)epoch;
    long usec = (long)((epoch - (double)sec) * 1e6);
    struct tm tm;
    size_t n;

    if (usec < 0) { /* epochs before 1970 round towards zero */
        sec -= 1;
        usec += 1000000;
    }
    if (usec > 999999)
        usec = 999999;
    gmtime_r(&sec, &tm);
    n = strftime(out, CLOCK_ISO_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, CLOCK_ISO_LEN - n, ".%06ldZ", usec);
}

/* n decimal digits at *p into *v; false when any is missing. */
static bool
digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return false;
        *v = *v * 10 + (**p - '0');
    }
    return true;
}

int
clock_parse_iso(const char *s, double *epoch)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    double frac = 0, scale = 0.1;
    time_t t;

    if (s == NULL || !digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) || *s++ != '-' ||
        !digits(&s, 2, &d) || (*s != 'T' && *s != 't' && *s != ' '))
        return -1;
    s++;
    if (!digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi))
        return -1;
    sec = 0;
    if (*s == ':') {
        s++;
        if (!digits(&s, 2, &sec))
            return -1;
        if (*s == '.' || *s == ',') {
            s++;
            if (*s < '0' || *s > '9')
                return -1;
            for (; *s >= '0' && *s <= '9'; s++, scale /= 10)
                frac += (*s - '0') * scale;
        }
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        sign = *s++ == '-' ? -1 : 1;
        if (!digits(&s, 2, &oh))
            return -1;
        if (*s == ':')
            s++;
        if (*s != '\0' && !digits(&s, 2, &om))
            return -1;
    }
    if (*s != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60 || oh > 23 || om > 59)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm); /* a time without an offset is UTC, as Celery (enable_utc) sends it */
    *epoch = (double)t + frac - sign * (oh * 3600 + om * 60);
    return 0;
}

int64_t
clock_days_from_civil(int64_t y, int mon, int day)
{
    int64_t yy = y - (mon <= 2), era = (yy >= 0 ? yy : yy - 399) / 400, yoe = yy - era * 400;
    int64_t doy = (153 * (mon > 2 ? mon - 3 : mon + 9) + 2) / 5 + day - 1;

    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

void
clock_civil_from_days(int64_t days, int64_t *y, int *mon, int *day)
{
    int64_t era, doe, yoe, doy, mp;

    days += 719468;
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *mon = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*mon <= 2);
}

int
clock_days_in_month(int64_t y, int mon)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return days[mon - 1] + (mon == 2 && leap);
}
