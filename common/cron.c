/* common/cron.c - see cron.h. The parser follows Vixie cron's grammar. cron_next
 * walks forward one field at a time (month, day, hour, minute, second), jumping to
 * the field's next set bit, so even a search that finds nothing for eight years
 * takes a few hundred steps. Dates are computed here (proleptic Gregorian, UTC)
 * rather than with gmtime_r/timegm: no time_t range or tm_sec = 60 surprises. */
#include "common/cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/ascii.h"
#include "common/clock.h"

#define MIN_TIME (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define MAX_TIME 253402300799LL   /* 9999-12-31T23:59:59Z */

/* ---------------------------------------------------------------- parsing */

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

/* One field's rules. '*' and "a/n" stop at star_hi: day of week accepts 7 only as
 * another spelling of Sunday. A name's value is its index plus lo. */
struct field {
    const char *name;
    int lo, hi, star_hi;
    const char *const *names;
};

enum { F_SECOND, F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, F_COUNT };

static const struct field fields[F_COUNT] = {
    [F_SECOND] = {"second", 0, 59, 59, NULL},
    [F_MINUTE] = {"minute", 0, 59, 59, NULL},
    [F_HOUR] = {"hour", 0, 23, 23, NULL},
    [F_DOM] = {"day of month", 1, 31, 31, NULL},
    [F_MONTH] = {"month", 1, 12, 12, month_names},
    [F_DOW] = {"day of week", 0, 7, 6, dow_names},
};

static const struct {
    const char *name, *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* The field being read, and where its errors go. */
struct parse {
    char *err;
    size_t errlen;
    int pos;               /* 1-based position of the field in the expression */
    const struct field *f; /* NULL before the fields are split */
    const char *start, *p, *end;
};

/* Write "field N (name): " and the message to err. Always -1. */
static int fail(struct parse *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int
fail(struct parse *ps, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    if (ps->err == NULL || ps->errlen == 0)
        return -1;
    ps->err[0] = '\0';
    if (ps->f != NULL)
        n = snprintf(ps->err, ps->errlen, "field %d (%s): ", ps->pos, ps->f->name);
    if (n >= 0 && (size_t)n < ps->errlen) {
        va_start(ap, fmt);
        vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* The character at ps->p as a message shows it. */
static const char *
found(const struct parse *ps, char out[16])
{
    unsigned char c;

    if (ps->p == ps->end)
        return "end of field";
    c = (unsigned char)*ps->p;
    snprintf(out, 16, c > ' ' && c < 0x7f ? "'%c'" : "byte 0x%02x", c);
    return out;
}

/* Read digits into *n, saturating at a value no field accepts: the message quotes
 * the digits as written, however many. 0, or -1 when there is no digit. */
static int
read_digits(struct parse *ps, long *n)
{
    if (ps->p == ps->end || !ascii_is_digit(*ps->p))
        return -1;
    for (*n = 0; ps->p < ps->end && ascii_is_digit(*ps->p); ps->p++)
        if (*n < 100000)
            *n = *n * 10 + (*ps->p - '0');
    return 0;
}

/* A number or, in fields that have them, a three-letter name. */
static int
read_value(struct parse *ps, int *v)
{
    const char *at = ps->p;
    char what[16];
    long n;

    if (read_digits(ps, &n) == 0) {
        if (n < ps->f->lo || n > ps->f->hi)
            return fail(ps, "%.*s is out of range %d-%d", (int)(ps->p - at), at, ps->f->lo,
                        ps->f->hi);
        *v = (int)n;
        return 0;
    }
    if (ps->f->names != NULL && ps->p < ps->end && ascii_is_alpha(*ps->p)) {
        while (ps->p < ps->end && ascii_is_alpha(*ps->p))
            ps->p++;
        for (int i = 0; ps->f->names[i] != NULL && ps->p - at == 3; i++) {
            if (strncasecmp(at, ps->f->names[i], 3) == 0) {
                *v = ps->f->lo + i;
                return 0;
            }
        }
        return fail(ps, "unknown name \"%.*s\"", (int)(ps->p - at), at);
    }
    return fail(ps, "expected a number%s, found %s", ps->f->names != NULL ? " or name" : "",
                found(ps, what));
}

/* A list of elements: '*' or a or a-b, each with an optional /step. */
static int
parse_field(struct parse *ps, uint64_t *bits)
{
    const struct field *f = ps->f;
    uint64_t set = 0;
    char what[16];

    for (;;) {
        const char *at = ps->p;
        int a, b, span = f->star_hi - f->lo + 1;
        long step = 1;

        if (ps->p < ps->end && *ps->p == '*') {
            ps->p++;
            a = f->lo;
            b = f->star_hi;
        } else {
            if (read_value(ps, &a) < 0)
                return -1;
            b = a;
            if (ps->p < ps->end && *ps->p == '-') {
                ps->p++;
                if (read_value(ps, &b) < 0)
                    return -1;
                if (b < a)
                    return fail(ps, "range %.*s is reversed", (int)(ps->p - at), at);
            } else if (ps->p < ps->end && *ps->p == '/') {
                b = a > f->star_hi ? a : f->star_hi; /* "a/n": from a to the end */
            }
        }
        if (ps->p < ps->end && *ps->p == '/') {
            const char *digits = ++ps->p;

            if (read_digits(ps, &step) < 0)
                return fail(ps, "expected a step after '/', found %s", found(ps, what));
            if (step < 1 || step > span)
                return fail(ps, "step %.*s is out of range 1-%d", (int)(ps->p - digits), digits,
                            span);
        }
        for (int v = a; v <= b; v += (int)step)
            set |= 1ULL << v;
        if (ps->p == ps->end)
            break;
        if (*ps->p != ',')
            return fail(ps, "unexpected %s in \"%.*s\"", found(ps, what),
                        (int)(ps->end - ps->start), ps->start);
        ps->p++;
    }
    if (f == &fields[F_DOW] && (set >> 7 & 1))
        set = (set & ~(1ULL << 7)) | 1; /* 7 is Sunday too */
    *bits = set;
    return 0;
}

int
cron_parse(const char *expr, bool allow_seconds, struct cron *out, char *err, size_t errlen)
{
    struct parse ps = {.err = err, .errlen = errlen};
    const char *tok[F_COUNT + 1];
    size_t toklen[F_COUNT + 1];
    uint64_t bits[F_COUNT] = {[F_SECOND] = 1};
    int n = 0, first;

    if (expr == NULL)
        return fail(&ps, "empty expression");
    if (strnlen(expr, CRON_MAX_LEN + 1) > CRON_MAX_LEN)
        return fail(&ps, "expression longer than %d characters", CRON_MAX_LEN);
    for (const char *p = expr;; n++) {
        while (ascii_is_space(*p))
            p++;
        if (*p == '\0')
            break;
        if (n < F_COUNT + 1)
            tok[n] = p;
        while (*p != '\0' && !ascii_is_space(*p))
            p++;
        if (n < F_COUNT + 1)
            toklen[n] = (size_t)(p - tok[n]);
    }
    if (n == 0)
        return fail(&ps, "empty expression");
    if (tok[0][0] == '@') {
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
            if (toklen[0] != strlen(macros[i].name) ||
                strncasecmp(tok[0], macros[i].name, toklen[0]) != 0)
                continue;
            if (n > 1)
                return fail(&ps, "unexpected \"%.*s\" after %s", (int)toklen[1], tok[1],
                            macros[i].name);
            return cron_parse(macros[i].expr, false, out, err, errlen);
        }
        return fail(&ps, "unknown macro \"%.*s\"", (int)toklen[0], tok[0]);
    }
    if (n != 5 && !(allow_seconds && n == 6))
        return fail(&ps,
                    "expected %s fields (%sminute hour day-of-month month day-of-week), found %d",
                    allow_seconds ? "5 or 6" : "5", allow_seconds ? "[second] " : "", n);
    first = n == 6 ? F_SECOND : F_MINUTE;
    for (int i = 0; i < n; i++) {
        ps.pos = i + 1;
        ps.f = &fields[first + i];
        ps.start = ps.p = tok[i];
        ps.end = tok[i] + toklen[i];
        if (parse_field(&ps, &bits[first + i]) < 0)
            return -1;
    }
    *out = (struct cron){
        .second = bits[F_SECOND],
        .minute = bits[F_MINUTE],
        .hour = (uint32_t)bits[F_HOUR],
        .dom = (uint32_t)bits[F_DOM],
        .month = (uint16_t)bits[F_MONTH],
        .dow = (uint8_t)bits[F_DOW],
        .dom_star = tok[F_DOM - first][0] == '*',
        .dow_star = tok[F_DOW - first][0] == '*',
    };
    return 0;
}

/* ---------------------------------------------------------------- time */

struct moment {
    int y, mon, day, hour, min, sec;
};

static void
split(int64_t t, struct moment *m)
{
    int64_t days = t / 86400, s = t % 86400, y;

    if (s < 0) {
        s += 86400;
        days--;
    }
    clock_civil_from_days(days, &y, &m->mon, &m->day);
    m->y = (int)y;
    m->hour = (int)(s / 3600);
    m->min = (int)(s / 60 % 60);
    m->sec = (int)(s % 60);
}

static bool
day_matches(const struct cron *c, int y, int mon, int day)
{
    int wday = (int)((clock_days_from_civil(y, mon, day) % 7 + 11) % 7); /* 1970-01-01: Thursday */
    bool dom = c->dom >> day & 1, dow = c->dow >> wday & 1;

    return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

/* The smallest set bit of bits at or above from (0-63), or -1. */
static int
next_bit(uint64_t bits, int from)
{
    bits &= ~0ULL << from;
    return bits == 0 ? -1 : __builtin_ctzll(bits);
}

bool
cron_matches(const struct cron *c, int64_t t)
{
    struct moment m;

    if (t < MIN_TIME || t > MAX_TIME)
        return false;
    split(t, &m);
    return (c->month >> m.mon & 1) && day_matches(c, m.y, m.mon, m.day) &&
           (c->hour >> m.hour & 1) && (c->minute >> m.min & 1) && (c->second >> m.sec & 1);
}

int64_t
cron_next(const struct cron *c, int64_t after)
{
    struct moment m;
    int last_year, v;

    if (after < MIN_TIME || after >= MAX_TIME)
        return -1;
    split(after + 1, &m);
    last_year = m.y + 8;
    /* Each step either accepts a field or moves it forward (to 60 or 24 when no
     * later value matches, to next year's January for the month) and resets the
     * fields below it; the carries at the top turn an overflowed field into the
     * next one up. */
    for (;;) {
        if (m.sec > 59) {
            m.sec = 0;
            m.min++;
        }
        if (m.min > 59) {
            m.min = 0;
            m.hour++;
        }
        if (m.hour > 23) {
            m.hour = 0;
            m.day++;
        }
        if (m.day > clock_days_in_month(m.y, m.mon)) {
            m.day = 1;
            m.mon++;
        }
        if (m.mon > 12) {
            m.mon = 1;
            m.y++;
        }
        if (m.y > last_year || m.y > 9999)
            return -1;
        if ((v = next_bit(c->month & 0x1ffe, m.mon)) != m.mon) {
            m.y += v < 0;
            m.mon = v < 0 ? 1 : v;
            m.day = 1;
            m.hour = m.min = m.sec = 0;
        } else if (!day_matches(c, m.y, m.mon, m.day)) {
            m.day++;
            m.hour = m.min = m.sec = 0;
        } else if ((v = next_bit(c->hour, m.hour)) != m.hour) {
            m.hour = v < 0 ? 24 : v;
            m.min = m.sec = 0;
        } else if ((v = next_bit(c->minute, m.min)) != m.min) {
            m.min = v < 0 ? 60 : v;
            m.sec = 0;
        } else if ((v = next_bit(c->second, m.sec)) != m.sec) {
            m.sec = v < 0 ? 60 : v;
        } else {
            return clock_days_from_civil(m.y, m.mon, m.day) * 86400 + m.hour * 3600 + m.min * 60 +
                   m.sec;
        }
    }
}
