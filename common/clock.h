/* common/clock.h - time helpers: monotonic seconds for durations, wall time for rows. */
#ifndef CELERIAC_CLOCK_H
#define CELERIAC_CLOCK_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* Seconds on CLOCK_MONOTONIC. */
double clock_mono(void);
/* Sleep for seconds, resuming after signals, returning early (-1) only when
 * *cancel becomes non-zero (cancel may be NULL). 0 once the time has passed. */
int clock_sleep(double seconds, volatile sig_atomic_t *cancel);

/* The wall-clock time now as ISO 8601 UTC with microseconds
 * ("2026-11-30T10:00:00.123456Z"), for rows a worker writes. */
#define CLOCK_ISO_LEN 40
void clock_iso_now(char out[CLOCK_ISO_LEN]);
/* Wall-clock seconds since the epoch (UTC), and one as ISO 8601 like above. */
double clock_wall(void);
void clock_iso_at(double epoch, char out[CLOCK_ISO_LEN]);
/* Parse an ISO 8601 time as Celery sends eta/expires
 * ("2026-11-30T10:00:00.123456+00:00", "...Z", or without offset: UTC).
 * 0 with *epoch set, or -1. */
int clock_parse_iso(const char *s, double *epoch);

/* The proleptic Gregorian calendar without time_t, locale or TZ (Howard
 * Hinnant's days_from_civil and civil_from_days): days since 1970-01-01 of
 * a date and back, and the length of a month (1-12). For the parsers of
 * cron expressions and feed dates, which meet years and seconds (60) that
 * timegm() and gmtime_r() handle differently from one libc to another. */
int64_t clock_days_from_civil(int64_t y, int mon, int day);
void clock_civil_from_days(int64_t days, int64_t *y, int *mon, int *day);
int clock_days_in_month(int64_t y, int mon);

#endif
