/* scraper/date.c - see date.h. Two small hand-written readers, one per family
 * (a date that starts with four digits and '-' is ISO 8601, anything else is
 * tried as RFC 822), share one range check and one conversion. The calendar
 * is common/clock.c's (proleptic Gregorian, as cron.c uses it) rather than
 * strptime/timegm: no locale, no TZ, no time_t range or tm_sec = 60
 * surprises. */
#include "scraper/date.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/ascii.h"
#include "common/clock.h"

#define MIN_YEAR 1000
#define MAX_YEAR 9999
#define FORMAT_MIN (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define FORMAT_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */

/* A date as written, before the range check. */
struct when {
    int year, mon, day, hour, min, sec;
    double frac; /* fraction of a second, 0 <= frac < 1 */
    int offset;  /* zone, seconds east of UTC */
};

/* Range-check w and turn it into Unix seconds. 0, or -1. */
static int
to_epoch(const struct when *w, double *epoch)
{
    int64_t t, lo = clock_days_from_civil(MIN_YEAR, 1, 1) * 86400,
               hi = clock_days_from_civil(MAX_YEAR, 12, 31) * 86400 + 86399;
    int sec = w->sec == 60 ? 59 : w->sec; /* a leap second is the second before it */

    if (w->year < MIN_YEAR || w->year > MAX_YEAR || w->mon < 1 || w->mon > 12 || w->day < 1 ||
        w->day > clock_days_in_month(w->year, w->mon) || w->min < 0 || w->min > 59 || w->sec < 0 ||
        w->sec > 60 || w->hour < 0 || w->hour > 24 ||
        (w->hour == 24 && (w->min != 0 || w->sec != 0 || w->frac != 0)))
        return -1;
    t = clock_days_from_civil(w->year, w->mon, w->day) * 86400 + w->hour * 3600 + w->min * 60 +
        sec - w->offset;
    if (t < lo || t > hi)
        return -1;
    *epoch = (double)t + w->frac;
    return 0;
}

/* ---------------------------------------------------------------- reading */

static void
skip_space(const char **p)
{
    while (ascii_is_space(**p))
        (*p)++;
}

/* Read between min and max digits, no more (a further digit fails). */
static bool
read_int(const char **p, int min, int max, int *out)
{
    int n = 0, v = 0;

    while (n < max && ascii_is_digit((*p)[n]))
        v = v * 10 + ((*p)[n++] - '0');
    if (n < min || ascii_is_digit((*p)[n]))
        return false;
    *p += n;
    *out = v;
    return true;
}

/* The run of letters at *p, its length in *len (0 when none). */
static const char *
read_word(const char **p, size_t *len)
{
    const char *w = *p;

    while (ascii_is_alpha(**p))
        (*p)++;
    *len = (size_t)(*p - w);
    return w;
}

/* Whether w[0..len) is one of names (lower case), ASCII case-insensitively;
 * its index or -1. */
static int
find_word(const char *w, size_t len, const char *const *names)
{
    for (int i = 0; names[i] != NULL; i++) {
        size_t j = 0;

        while (j < len && names[i][j] != '\0' && (char)ascii_lower(w[j]) == names[i][j])
            j++;
        if (j == len && names[i][j] == '\0')
            return i;
    }
    return -1;
}

/* "+hh:mm", "+hhmm", and with hours_alone "+hh", into seconds east.
 * *p is at the sign. */
static bool
read_offset(const char **p, bool hours_alone, int *offset)
{
    int sign = **p == '-' ? -1 : 1, h, m = 0;
    const char *q = *p + 1;

    if (!read_int(&q, 2, 2, &h) && !read_int(&q, 4, 4, &h))
        return false;
    if (q - *p == 5) { /* "+hhmm" read as one number */
        m = h % 100;
        h /= 100;
    } else if (*q == ':') {
        q++;
        if (!read_int(&q, 2, 2, &m))
            return false;
    } else if (!hours_alone) {
        return false;
    }
    if (h > 23 || m > 59)
        return false;
    *offset = sign * (h * 3600 + m * 60);
    *p = q;
    return true;
}

/* ---------------------------------------------------------------- ISO 8601 */

/* "YYYY-MM-DD[(T|t|space)HH:MM[:SS[.frac]]][ ][zone]" */
static bool
read_iso(const char *p, struct when *w)
{
    static const char *const utc_names[] = {"utc", "gmt", "ut", NULL};

    if (!read_int(&p, 4, 4, &w->year) || *p++ != '-' || !read_int(&p, 2, 2, &w->mon) ||
        *p++ != '-' || !read_int(&p, 2, 2, &w->day))
        return false;
    skip_space(&p);
    if (*p == '\0')
        return true; /* a date alone: midnight UTC */
    if (*p == 'T' || *p == 't')
        p++;
    else if (!ascii_is_space(p[-1]))
        return false;
    if (!read_int(&p, 2, 2, &w->hour) || *p++ != ':' || !read_int(&p, 2, 2, &w->min))
        return false;
    if (*p == ':') {
        p++;
        if (!read_int(&p, 2, 2, &w->sec))
            return false;
        if (*p == '.' || *p == ',') {
            double scale = 1;

            if (!ascii_is_digit(*++p))
                return false;
            for (; ascii_is_digit(*p); p++)
                if (scale > 1e-15)
                    w->frac += (*p - '0') * (scale /= 10);
        }
    }
    skip_space(&p);
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        if (!read_offset(&p, true, &w->offset))
            return false;
    } else if (ascii_is_alpha(*p)) {
        size_t len;
        const char *word = read_word(&p, &len);

        if (find_word(word, len, utc_names) < 0)
            return false;
    }
    skip_space(&p);
    return *p == '\0';
}

/* ---------------------------------------------------------------- RFC 822 */

static const char *const weekdays[] = {"mon",      "tue",    "wed",      "thu",     "fri",
                                       "sat",      "sun",    "monday",   "tuesday", "wednesday",
                                       "thursday", "friday", "saturday", "sunday",  NULL};
static const char *const months[] = {
    "jan",  "feb",    "mar",       "apr",     "may",      "jun",      "jul",   "aug", "sep",
    "oct",  "nov",    "dec",       "january", "february", "march",    "april", "may", "june",
    "july", "august", "september", "october", "november", "december", "sept",  NULL};
static const struct {
    const char *name;
    int hours;
} zones[] = {
    {"gmt", 0},  {"ut", 0},   {"utc", 0},  {"z", 0},    {"est", -5}, {"edt", -4},
    {"cst", -6}, {"cdt", -5}, {"mst", -7}, {"mdt", -6}, {"pst", -8}, {"pdt", -7},
};

/* Day, month and year are apart by spaces or by one '-'. */
static bool
read_separator(const char **p)
{
    if (**p == '-') {
        (*p)++;
        return true;
    }
    if (!ascii_is_space(**p))
        return false;
    skip_space(p);
    return true;
}

/* "[Wkday[,]] D Mon YY[YY] [H]H:MM[:SS] [zone] [(comment)]" */
static bool
read_rfc822(const char *p, struct when *w)
{
    const char *word;
    size_t len;
    int m;

    word = read_word(&p, &len);
    if (len > 0) {
        if (find_word(word, len, weekdays) < 0 || (*p != ',' && !ascii_is_space(*p)))
            return false;
        skip_space(&p);
        if (*p == ',')
            p++;
        skip_space(&p);
    }
    if (!read_int(&p, 1, 2, &w->day) || !read_separator(&p))
        return false;
    word = read_word(&p, &len);
    if ((m = find_word(word, len, months)) < 0 || !read_separator(&p))
        return false;
    w->mon = m == 24 ? 9 : m % 12 + 1; /* "sept" is last */
    if (read_int(&p, 2, 2, &w->year))
        w->year += w->year >= 50 ? 1900 : 2000;
    else if (!read_int(&p, 4, 4, &w->year))
        return false;
    skip_space(&p);
    if (*p == '\0')
        return true; /* no time: midnight */
    if (!ascii_is_space(p[-1]) || !read_int(&p, 1, 2, &w->hour) || *p++ != ':' ||
        !read_int(&p, 2, 2, &w->min))
        return false;
    if (*p == ':') {
        p++;
        if (!read_int(&p, 2, 2, &w->sec))
            return false;
    }
    skip_space(&p);
    if (*p == '+' || *p == '-') {
        if (!ascii_is_space(p[-1]) || !read_offset(&p, false, &w->offset))
            return false;
    } else if (ascii_is_alpha(*p)) {
        if (!ascii_is_space(p[-1]))
            return false;
        word = read_word(&p, &len);
        for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
            const char *names[] = {zones[i].name, NULL};

            if (find_word(word, len, names) == 0)
                w->offset = zones[i].hours * 3600;
        }
        /* Any other run of letters (military zones, "CET", "BST") counts as UTC:
         * guessing a time zone from its abbreviation is wrong about as often. */
    }
    skip_space(&p);
    if (*p == '(') { /* RFC 2822 comment, as in "-0700 (PDT)" */
        while (*p != '\0' && *p != ')')
            p++;
        if (*p++ != ')')
            return false;
        skip_space(&p);
    }
    return *p == '\0';
}

/* ---------------------------------------------------------------- API */

int
scraper_parse_date(const char *s, double *epoch)
{
    struct when w = {0};
    bool ok;

    if (s == NULL)
        return -1;
    while (ascii_is_space(*s))
        s++;
    if (ascii_is_digit(s[0]) && ascii_is_digit(s[1]) && ascii_is_digit(s[2]) &&
        ascii_is_digit(s[3]) && s[4] == '-')
        ok = read_iso(s, &w);
    else
        ok = read_rfc822(s, &w);
    return ok ? to_epoch(&w, epoch) : -1;
}

/* Write v as exactly n decimal digits. */
static void
put_digits(char *out, int n, int64_t v)
{
    while (n-- > 0) {
        out[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

void
scraper_format_date(double epoch, char out[SCRAPER_DATE_LEN])
{
    int64_t t, days, s, year;
    int mon, day;

    if (isnan(epoch))
        epoch = 0;
    epoch = floor(epoch);
    t = epoch < (double)FORMAT_MIN   ? FORMAT_MIN
        : epoch > (double)FORMAT_MAX ? FORMAT_MAX
                                     : (int64_t)epoch;
    days = t / 86400;
    s = t % 86400;
    if (s < 0) {
        s += 86400;
        days--;
    }
    clock_civil_from_days(days, &year, &mon, &day);
    put_digits(out, 4, year);
    out[4] = '-';
    put_digits(out + 5, 2, mon);
    out[7] = '-';
    put_digits(out + 8, 2, day);
    out[10] = 'T';
    put_digits(out + 11, 2, s / 3600);
    out[13] = ':';
    put_digits(out + 14, 2, s / 60 % 60);
    out[16] = ':';
    put_digits(out + 17, 2, s % 60);
    out[19] = 'Z';
    out[20] = '\0';
}

int
scraper_normalize_date(const char *s, char out[SCRAPER_DATE_LEN])
{
    double t;

    if (scraper_parse_date(s, &t) < 0)
        return -1;
    scraper_format_date(t, out);
    return 0;
}
