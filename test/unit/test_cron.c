/* test/unit/test_cron.c - cron expressions (common/cron.c): every syntax form,
 * every error message, and next firing times checked against libc's timegm and
 * gmtime_r rather than against cron.c's own date arithmetic. */
#include <stdarg.h> /* cmocka.h needs these four first */
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/cron.h"

#define B(n) (1ULL << (n))

static struct cron
parsed(const char *expr, bool allow_seconds)
{
    struct cron c;
    char err[256] = "";

    if (cron_parse(expr, allow_seconds, &c, err, sizeof err) != 0)
        fail_msg("%s: %s", expr, err);
    return c;
}

/* The message cron_parse gives for expr, or "(parsed)". */
static const char *
error_of(const char *expr, bool allow_seconds)
{
    static char err[256];
    struct cron c;

    strcpy(err, "(no message)");
    if (cron_parse(expr, allow_seconds, &c, err, sizeof err) == 0)
        return "(parsed)";
    return err;
}

/* "YYYY-MM-DD HH:MM:SS" UTC as Unix seconds, and back. */
static int64_t
at(const char *s)
{
    struct tm tm = {0};

    if (sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        fail_msg("bad time %s", s);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

static const char *
show(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t < 0)
        return "none";
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
    return out;
}

/* The next firing of expr after from, as text; checks that it matches. */
static const char *
next(const char *expr, const char *from)
{
    static char out[32];
    struct cron c = parsed(expr, true);
    int64_t t = cron_next(&c, at(from));

    if (t >= 0 && !cron_matches(&c, t))
        fail_msg("%s: cron_next gave %s, which does not match", expr, show(t, out));
    return show(t, out);
}

/* cron_matches written again over gmtime_r's fields. */
static bool
matches_by_libc(const struct cron *c, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    bool dom, dow;

    gmtime_r(&tt, &tm);
    dom = c->dom & B(tm.tm_mday);
    dow = c->dow & B(tm.tm_wday);
    return (c->second & B(tm.tm_sec)) && (c->minute & B(tm.tm_min)) && (c->hour & B(tm.tm_hour)) &&
           (c->month & B(tm.tm_mon + 1)) && (c->dom_star || c->dow_star ? dom && dow : dom || dow);
}

static void
stars_numbers_ranges_steps_and_lists_set_the_right_bits(void **state)
{
    struct cron c;

    (void)state;
    c = parsed("* * * * *", false);
    assert_true(c.second == B(0));
    assert_true(c.minute == B(60) - 1);
    assert_true(c.hour == B(24) - 1);
    assert_true(c.dom == B(32) - 2);
    assert_true(c.month == B(13) - 2);
    assert_true(c.dow == B(7) - 1);
    assert_true(c.dom_star && c.dow_star);

    c = parsed("5 1-3 */10 1-11/5 2/2", false);
    assert_true(c.minute == B(5));
    assert_true(c.hour == (B(1) | B(2) | B(3)));
    assert_true(c.dom == (B(1) | B(11) | B(21) | B(31)));
    assert_true(c.month == (B(1) | B(6) | B(11)));
    assert_true(c.dow == (B(2) | B(4) | B(6))); /* "a/n" runs from a to the end */
    assert_true(c.dom_star && !c.dow_star);

    c = parsed("  0,30\t9-17/4,23  1,15 * 00005 \n", false);
    assert_true(c.minute == (B(0) | B(30)));
    assert_true(c.hour == (B(9) | B(13) | B(17) | B(23)));
    assert_true(c.dom == (B(1) | B(15)));
    assert_true(c.dow == B(5));
    assert_true(!c.dom_star && !c.dow_star);
}

static void
names_are_case_insensitive_and_seven_is_sunday(void **state)
{
    struct cron c;

    (void)state;
    c = parsed("0 0 * JAN-Mar,dec Mon-FRI", false);
    assert_true(c.month == (B(1) | B(2) | B(3) | B(12)));
    assert_true(c.dow == (B(1) | B(2) | B(3) | B(4) | B(5)));
    assert_true(parsed("0 0 * * sun,SAT", false).dow == (B(0) | B(6)));
    assert_true(parsed("0 0 * * 7", false).dow == B(0));
    assert_true(parsed("0 0 * * 5-7", false).dow == (B(5) | B(6) | B(0)));
    assert_true(parsed("0 0 * * 0-7", false).dow == B(7) - 1);
    assert_true(parsed("0 0 * * */2", false).dow == (B(0) | B(2) | B(4) | B(6)));
    assert_true(parsed("0 0 * oct/1 *", false).month == (B(10) | B(11) | B(12)));
}

static void
macros_expand_to_their_five_fields(void **state)
{
    static const char *const pairs[][2] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}, {" @DAILY\n", "0 0 * * *"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        for (int secs = 0; secs < 2; secs++) {
            struct cron a = parsed(pairs[i][0], secs), b = parsed(pairs[i][1], false);

            assert_true(a.second == b.second && a.minute == b.minute && a.hour == b.hour);
            assert_true(a.dom == b.dom && a.month == b.month && a.dow == b.dow);
            assert_true(a.dom_star == b.dom_star && a.dow_star == b.dow_star);
        }
    }
}

static void
errors_name_the_field_and_the_problem(void **state)
{
    static const struct {
        const char *expr;
        bool allow_seconds;
        const char *err;
    } cases[] = {
        {"", false, "empty expression"},
        {" \t\n ", true, "empty expression"},
        {"* * * *", false,
         "expected 5 fields (minute hour day-of-month month day-of-week), found 4"},
        {"* * * * * *", false,
         "expected 5 fields (minute hour day-of-month month day-of-week), found 6"},
        {"* * * * * * *", true,
         "expected 5 or 6 fields ([second] minute hour day-of-month month day-of-week), found 7"},
        {"60 * * * *", false, "field 1 (minute): 60 is out of range 0-59"},
        {"0 25 * * *", false, "field 2 (hour): 25 is out of range 0-23"},
        {"* * 0 * *", false, "field 3 (day of month): 0 is out of range 1-31"},
        {"* * 32 * *", false, "field 3 (day of month): 32 is out of range 1-31"},
        {"* * * 13 *", false, "field 4 (month): 13 is out of range 1-12"},
        {"* * * 0 *", false, "field 4 (month): 0 is out of range 1-12"},
        {"* * * * 8", false, "field 5 (day of week): 8 is out of range 0-7"},
        {"60 * * * * *", true, "field 1 (second): 60 is out of range 0-59"},
        {"0 60 * * * *", true, "field 2 (minute): 60 is out of range 0-59"},
        {"99999999999999999999999 * * * *", false,
         "field 1 (minute): 99999999999999999999999 is out of range 0-59"},
        {"*/0 * * * *", false, "field 1 (minute): step 0 is out of range 1-60"},
        {"* 0-23/0 * * *", false, "field 2 (hour): step 0 is out of range 1-24"},
        {"* */25 * * *", false, "field 2 (hour): step 25 is out of range 1-24"},
        {"* * * * */18446744073709551617", false,
         "field 5 (day of week): step 18446744073709551617 is out of range 1-7"},
        {"30-10 * * * *", false, "field 1 (minute): range 30-10 is reversed"},
        {"* * * * fri-mon", false, "field 5 (day of week): range fri-mon is reversed"},
        {"* * * foo *", false, "field 4 (month): unknown name \"foo\""},
        {"* * * * sunday", false, "field 5 (day of week): unknown name \"sunday\""},
        {"* * * * jan", false, "field 5 (day of week): unknown name \"jan\""},
        {"jan * * * *", false, "field 1 (minute): expected a number, found 'j'"},
        {"* * * * mon-", false,
         "field 5 (day of week): expected a number or name, found end of field"},
        {"1,,2 * * * *", false, "field 1 (minute): expected a number, found ','"},
        {"1, * * * *", false, "field 1 (minute): expected a number, found end of field"},
        {"-5 * * * *", false, "field 1 (minute): expected a number, found '-'"},
        {"5x * * * *", false, "field 1 (minute): unexpected 'x' in \"5x\""},
        {"*5 * * * *", false, "field 1 (minute): unexpected '5' in \"*5\""},
        {"*-5 * * * *", false, "field 1 (minute): unexpected '-' in \"*-5\""},
        {"1-2-3 * * * *", false, "field 1 (minute): unexpected '-' in \"1-2-3\""},
        {"*/2/3 * * * *", false, "field 1 (minute): unexpected '/' in \"*/2/3\""},
        {"*/ * * * *", false, "field 1 (minute): expected a step after '/', found end of field"},
        {"*/x * * * *", false, "field 1 (minute): expected a step after '/', found 'x'"},
        {"* * * * 1\x7f", false, "field 5 (day of week): unexpected byte 0x7f in \"1\x7f\""},
        {"@reboot", false, "unknown macro \"@reboot\""},
        {"@", false, "unknown macro \"@\""},
        {"@daily 5", false, "unexpected \"5\" after @daily"},
    };
    char long_expr[CRON_MAX_LEN + 2], err[8];
    struct cron c, before;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = error_of(cases[i].expr, cases[i].allow_seconds);

        if (strcmp(got, cases[i].err) != 0)
            fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].expr, got, cases[i].err);
    }
    assert_int_equal(cron_parse(NULL, false, &c, NULL, 0), -1);
    assert_string_equal(error_of(NULL, false), "empty expression");

    /* 200 characters are fine, 201 are not. */
    memset(long_expr, ' ', sizeof long_expr);
    memcpy(long_expr, "0 0 * * *", 9);
    long_expr[CRON_MAX_LEN] = '\0';
    assert_string_equal(error_of(long_expr, false), "(parsed)");
    long_expr[CRON_MAX_LEN] = ' ';
    long_expr[CRON_MAX_LEN + 1] = '\0';
    assert_string_equal(error_of(long_expr, false), "expression longer than 200 characters");

    /* A failed parse leaves *out alone; a short buffer gets a cut, terminated message. */
    memset(&before, 0xa5, sizeof before);
    c = before;
    assert_int_equal(cron_parse("0 25 * * *", false, &c, err, sizeof err), -1);
    assert_memory_equal(&c, &before, sizeof c);
    assert_string_equal(err, "field 2");
}

static void
next_minute_quarter_hour_and_fixed_hour(void **state)
{
    (void)state;
    assert_string_equal(next("* * * * *", "2024-05-01 10:00:00"), "2024-05-01 10:01:00");
    assert_string_equal(next("* * * * *", "2024-05-01 10:00:30"), "2024-05-01 10:01:00");
    assert_string_equal(next("* * * * *", "2024-05-01 23:59:59"), "2024-05-02 00:00:00");
    assert_string_equal(next("*/15 * * * *", "2024-05-01 10:00:00"), "2024-05-01 10:15:00");
    assert_string_equal(next("*/15 * * * *", "2024-05-01 10:46:00"), "2024-05-01 11:00:00");
    assert_string_equal(next("30 9 * * *", "2024-05-01 08:00:00"), "2024-05-01 09:30:00");
    /* Strictly after: a matching `after` is not its own next time. */
    assert_string_equal(next("30 9 * * *", "2024-05-01 09:30:00"), "2024-05-02 09:30:00");
    assert_string_equal(next("0 9-17/4 * * *", "2024-05-01 17:00:00"), "2024-05-02 09:00:00");
}

static void
next_by_month_and_weekday_names(void **state)
{
    (void)state;
    assert_string_equal(next("0 0 1 jun,DEC *", "2024-06-15 00:00:00"), "2024-12-01 00:00:00");
    assert_string_equal(next("0 0 1 jun,DEC *", "2024-12-01 00:00:00"), "2025-06-01 00:00:00");
    /* 2024-05-03 is a Friday. */
    assert_string_equal(next("0 8 * * mon-fri", "2024-05-03 08:00:00"), "2024-05-06 08:00:00");
    assert_string_equal(next("0 12 * * sat", "2024-05-01 00:00:00"), "2024-05-04 12:00:00");
    assert_string_equal(next("0 0 * * 7", "2024-05-01 00:00:00"), "2024-05-05 00:00:00");
    assert_string_equal(next("0 0 * * 0", "2024-05-01 00:00:00"), "2024-05-05 00:00:00");
}

static void
day_of_month_or_day_of_week_when_both_are_restricted(void **state)
{
    (void)state;
    /* Fridays and the 13th: May 2024 has Fridays 3, 10, 17 and Monday the 13th. */
    assert_string_equal(next("0 0 13 * fri", "2024-05-01 00:00:00"), "2024-05-03 00:00:00");
    assert_string_equal(next("0 0 13 * fri", "2024-05-10 00:00:00"), "2024-05-13 00:00:00");
    assert_string_equal(next("0 0 13 * fri", "2024-05-13 00:00:00"), "2024-05-17 00:00:00");
    /* A field starting with '*' is unrestricted for this rule, even with a step:
     * odd days that are Fridays. */
    assert_string_equal(next("0 0 */2 * fri", "2024-05-03 00:00:00"), "2024-05-17 00:00:00");
    assert_string_equal(next("0 0 13 * */1", "2024-05-01 00:00:00"), "2024-05-13 00:00:00");
    assert_string_equal(next("0 0 13 * *", "2024-05-01 00:00:00"), "2024-05-13 00:00:00");
    /* Feb 30 never comes, but Mondays in February do. */
    assert_string_equal(next("0 0 30 feb mon", "2024-03-01 00:00:00"), "2025-02-03 00:00:00");
}

static void
feb_29_and_month_and_year_ends(void **state)
{
    (void)state;
    assert_string_equal(next("0 0 29 2 *", "2024-03-01 00:00:00"), "2028-02-29 00:00:00");
    assert_string_equal(next("0 0 29 2 *", "1999-03-01 00:00:00"), "2000-02-29 00:00:00");
    /* 2100 is not a leap year: eight years to the next Feb 29. */
    assert_string_equal(next("0 0 29 2 *", "2096-03-01 00:00:00"), "2104-02-29 00:00:00");
    assert_string_equal(next("0 0 31 * *", "2024-04-01 00:00:00"), "2024-05-31 00:00:00");
    assert_string_equal(next("0 0 31 * *", "2024-05-31 00:00:00"), "2024-07-31 00:00:00");
    assert_string_equal(next("59 23 31 12 *", "2024-12-31 23:59:00"), "2025-12-31 23:59:00");
    assert_string_equal(next("0 0 1 1 *", "2024-12-31 23:59:59"), "2025-01-01 00:00:00");
    assert_string_equal(next("@yearly", "1969-06-01 00:00:00"), "1970-01-01 00:00:00");
}

static void
impossible_dates_and_out_of_range_times_give_minus_one(void **state)
{
    struct cron c = parsed("* * * * *", false);

    (void)state;
    assert_string_equal(next("0 0 30 2 *", "2024-01-01 00:00:00"), "none");
    assert_string_equal(next("0 0 31 4,6,9,11 *", "2024-01-01 00:00:00"), "none");
    assert_int_equal(cron_next(&c, INT64_MAX), -1);
    assert_int_equal(cron_next(&c, INT64_MIN), -1);
    assert_int_equal(cron_next(&c, at("9999-12-31 23:59:59")), -1);
    assert_false(cron_matches(&c, INT64_MAX));
    assert_true(cron_matches(&c, 0));
}

static void
six_fields_put_seconds_first_only_when_allowed(void **state)
{
    struct cron c;

    (void)state;
    c = parsed("*/3 * * * * *", true);
    assert_true(c.second == 0x249249249249249ULL); /* 0, 3, ..., 57 */
    assert_string_equal(next("*/3 * * * * *", "2024-05-01 10:00:00"), "2024-05-01 10:00:03");
    assert_string_equal(next("*/3 * * * * *", "2024-05-01 10:00:58"), "2024-05-01 10:01:00");
    assert_string_equal(next("30 0 12 * * *", "2024-05-01 12:00:30"), "2024-05-02 12:00:30");
    assert_string_equal(error_of("*/3 * * * * *", false),
                        "expected 5 fields (minute hour day-of-month month day-of-week), found 6");
    /* Five fields with seconds allowed still mean second 0. */
    assert_true(parsed("* * * * *", true).second == B(0));
}

static void
next_agrees_with_a_minute_by_minute_search(void **state)
{
    static const char *const exprs[] = {
        "*/7 */5 * * *", "0 0 * * mon",    "15 3 1,15 * fri", "0 0 */3 * 2-4",
        "59 23 * * *",   "0 12 28-31 * *", "5 4 * feb sun",   "0 0 29 * *",
    };
    static const char *const starts[] = {"2023-12-30 22:13:00", "2024-02-27 00:00:00",
                                         "2024-12-31 23:59:00", "2100-02-20 07:00:00"};
    char a[32], b[32];

    (void)state;
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
        struct cron c = parsed(exprs[i], false);

        for (size_t j = 0; j < sizeof starts / sizeof starts[0]; j++) {
            int64_t from = at(starts[j]), want = -1, got = cron_next(&c, from);

            for (int64_t t = from + 60; t < from + 400 * 86400 && want < 0; t += 60)
                if (matches_by_libc(&c, t))
                    want = t;
            if (got != want || (want >= 0 && !cron_matches(&c, want)))
                fail_msg("%s after %s: got %s, want %s", exprs[i], starts[j], show(got, a),
                         show(want, b));
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stars_numbers_ranges_steps_and_lists_set_the_right_bits),
        cmocka_unit_test(names_are_case_insensitive_and_seven_is_sunday),
        cmocka_unit_test(macros_expand_to_their_five_fields),
        cmocka_unit_test(errors_name_the_field_and_the_problem),
        cmocka_unit_test(next_minute_quarter_hour_and_fixed_hour),
        cmocka_unit_test(next_by_month_and_weekday_names),
        cmocka_unit_test(day_of_month_or_day_of_week_when_both_are_restricted),
        cmocka_unit_test(feb_29_and_month_and_year_ends),
        cmocka_unit_test(impossible_dates_and_out_of_range_times_give_minus_one),
        cmocka_unit_test(six_fields_put_seconds_first_only_when_allowed),
        cmocka_unit_test(next_agrees_with_a_minute_by_minute_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
