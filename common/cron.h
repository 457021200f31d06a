/* common/cron.h - 5-field cron expressions (Vixie syntax) and their next firing time.
 * Pure: no allocation, no clock, no locale. Times are Unix seconds, UTC. */
#ifndef CELERIAC_CRON_H
#define CELERIAC_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRON_MAX_LEN 200 /* longer expressions are refused */

/* A parsed expression: bit n of a field set means value n matches. */
struct cron {
    uint64_t second; /* 0-59; {0} unless six fields were given */
    uint64_t minute; /* 0-59 */
    uint32_t hour;   /* 0-23 */
    uint32_t dom;    /* 1-31, day of month */
    uint16_t month;  /* 1-12 */
    uint8_t dow;     /* 0-6, day of week, 0 = Sunday (7 is folded into 0) */
    /* The field was written starting with '*' (a bare star or a stepped one).
     * When neither is, a day matches if either its day of month or its day of
     * week does; otherwise it must match both (Vixie cron's rule). */
    bool dom_star, dow_star;
};

/* Parse "min hour dom mon dow" or a macro (@yearly @annually @monthly @weekly
 * @daily @midnight @hourly). With allow_seconds (tests only), six fields are
 * also accepted, seconds first: "sec min hour dom mon dow".
 * 0, or -1 with the reason in err ("field 2 (hour): 25 is out of range 0-23");
 * *out is written only on success. err may be NULL. */
int cron_parse(const char *expr, bool allow_seconds, struct cron *out, char *err, size_t errlen);

/* Whether time t (UTC) matches every field, with the day-of-month/day-of-week
 * rule above. */
bool cron_matches(const struct cron *c, int64_t t);

/* The first matching time strictly after `after`, or -1 when none comes within
 * eight years (as for "0 0 30 2 *": eight years covers every Feb 29) or when
 * `after` lies outside the years 1-9999. */
int64_t cron_next(const struct cron *c, int64_t after);

#endif
