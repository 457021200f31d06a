/* common/clock.h - time helpers: monotonic seconds for durations, wall time for rows. */
#ifndef CELERIAC_CLOCK_H
#define CELERIAC_CLOCK_H

#include <signal.h>

/* Seconds on CLOCK_MONOTONIC. */
double clock_mono(void);
/* Sleep for seconds, resuming after signals, returning early (-1) only when
 * *cancel becomes non-zero (cancel may be NULL). 0 once the time has passed. */
int clock_sleep(double seconds, volatile sig_atomic_t *cancel);

/* The wall-clock time now as ISO 8601 UTC with microseconds
 * ("2026-11-30T10:00:00.123456Z"), for rows a worker writes. */
#define CLOCK_ISO_LEN 40
void clock_iso_now(char out[CLOCK_ISO_LEN]);

#endif
