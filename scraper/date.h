/* scraper/date.h - dates as feeds and pages write them, to Unix seconds (UTC)
 * and to the one form celeriac stores ("2026-01-02T03:04:05Z").
 * Pure: no allocation, no clock, no locale, no TZ. */
#ifndef CELERIAC_SCRAPER_DATE_H
#define CELERIAC_SCRAPER_DATE_H

#define SCRAPER_DATE_LEN 21 /* "YYYY-MM-DDTHH:MM:SSZ" and its NUL */

/* Parse a date/time as found in feeds and HTML pages, to seconds since the
 * epoch (UTC), fractional seconds kept:
 *  - RFC 822/1123/2822 (RSS pubDate): "Mon, 02 Jan 2006 15:04:05 -0700". The
 *    weekday (abbreviated or full; not checked against the date) and the
 *    seconds are optional, so is the whole time (midnight); day, month and
 *    year may also be joined by '-' ("02-Jan-2006"); 2- or 4-digit year
 *    (2-digit: 50-99 are 19xx, 00-49 20xx); month names case-insensitive,
 *    abbreviated or full ("Jun", "June", also "Sept"). Zones: +hhmm, -hhmm
 *    (+hh:mm too), GMT, UT, UTC, Z, EST EDT CST CDT MST MDT PST PDT; other
 *    letters (military zones, "CET") are taken as UTC, as is a missing zone;
 *    a trailing "(comment)" is skipped.
 *  - ISO 8601 / RFC 3339 (Atom, article:published_time, <time datetime>,
 *    JSON-LD): "2026-11-30" (midnight UTC), "2026-11-30T10:00",
 *    "2026-11-30T10:00:00", "2026-11-30 10:00:00", fractional seconds of any
 *    length ('.' or ','), zones Z, +01:00, +0100, +01 (a space before the zone
 *    and "UTC"/"GMT"/"UT" also accepted), lower-case t and z; no zone is UTC.
 * Leading and trailing whitespace is allowed, nothing else around the date.
 * Every field is range-checked: year 1000-9999, month 1-12, day valid for the
 * month (leap years included), hour 0-23 (24:00:00 is the next midnight),
 * minute 0-59, second 0-60 (60 counts as 59), zone offset below 24 hours; the
 * time in UTC must also fall within years 1000-9999.
 * 0 with *epoch set, or -1 (and *epoch untouched). */
int scraper_parse_date(const char *s, double *epoch);

/* Format epoch as "YYYY-MM-DDTHH:MM:SSZ" (rounded down to the second, UTC).
 * Times outside years 1-9999 are clamped to them; NaN is 0. */
void scraper_format_date(double epoch, char out[SCRAPER_DATE_LEN]);

/* Both: parse s and format it into out. 0, or -1 (out untouched) when s does
 * not parse. */
int scraper_normalize_date(const char *s, char out[SCRAPER_DATE_LEN]);

#endif
