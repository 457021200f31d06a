/* test/unit/test_robots.c - robots.txt (scraper/robots.c) and feed dates
 * (scraper/date.c). robots.txt: RFC 9309's own examples, group selection,
 * matching, and inputs that are not robots.txt at all. Dates: expected
 * epochs come from libc's timegm, not from date.c's own arithmetic. */
#include <stdarg.h> /* cmocka.h needs these four first */
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scraper/date.h"
#include "scraper/robots.h"

#define AGENT "celeriac-scraper"

/* ---------------------------------------------------------------- robots helpers */

static struct robots *
parsed_for(const char *text, const char *agent)
{
    struct robots *r = robots_parse(text, strlen(text), agent);

    assert_non_null(r);
    return r;
}

/* "+" for each allowed path, "-" for each disallowed one: one string shows a
 * whole table of answers in a failure message. */
static const char *
answers(const struct robots *r, const char *const *paths)
{
    static char out[64];
    size_t i;

    for (i = 0; paths[i] != NULL && i < sizeof out - 1; i++)
        out[i] = robots_allowed(r, paths[i]) ? '+' : '-';
    out[i] = '\0';
    return out;
}

/* The answers for paths under robots.txt text read by agent. */
static const char *
check(const char *text, const char *agent, const char *const *paths)
{
    struct robots *r = parsed_for(text, agent);
    const char *a = answers(r, paths);

    robots_free(r);
    return a;
}

#define PATHS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char rfc_example[] = /* RFC 9309 section 5.1 */
    "User-Agent: *\n"
    "Disallow: *.gif$\n"
    "Disallow: /example/\n"
    "Allow: /publications/\n"
    "\n"
    "User-Agent: foobot\n"
    "Disallow:/\n"
    "Allow:/example/page.html\n"
    "Allow:/example/allowed.gif\n"
    "\n"
    "User-Agent: barbot\n"
    "User-Agent: bazbot\n"
    "Disallow: /example/page.html\n"
    "\n"
    "User-Agent: quxbot\n"
    "\n"
    "EOF\n";

/* ---------------------------------------------------------------- robots tests */

static void
rfc_9309_example_gives_each_bot_its_own_group(void **state)
{
    const char *const *paths = PATHS("/", "/example/page.html", "/example/allowed.gif",
                                     "/example/other", "/a.gif", "/a.gif?x=1", "/publications/x");

    (void)state;
    assert_string_equal(check(rfc_example, "foobot", paths), "-++----");
    /* barbot and bazbot share one group, and it is not the "*" group. */
    assert_string_equal(check(rfc_example, "barbot", paths), "+-+++++");
    assert_string_equal(check(rfc_example, "BazBot", paths), "+-+++++");
    /* quxbot's group has no rules: everything, even what "*" forbids. */
    assert_string_equal(check(rfc_example, "quxbot", paths), "+++++++");
    /* Everyone else: the "*" group. */
    assert_string_equal(check(rfc_example, AGENT, paths), "+----++");
}

static void
rfc_9309_longest_match_and_encoding_examples(void **state)
{
    static const char longest[] = "User-Agent: foobot\n"
                                  "Allow: /example/page/\n"
                                  "Disallow: /example/page/disallowed.gif\n";
    static const char encoded[] = "User-agent: *\n"
                                  "Disallow: /foo/bar?baz=quz\n"
                                  "Disallow: /foo/bar/\xE3\x83\x84\n" /* U+30C4, raw UTF-8 */
                                  "Disallow: /foo/bar/%E3%83%85\n"
                                  "Disallow: /foo/bar/%62%61%7A\n";

    (void)state;
    assert_string_equal(check(longest, "foobot",
                              PATHS("/example/page/", "/example/page/disallowed.gif",
                                    "/example/page/disallowed.gifx", "/example/")),
                        "+--+");
    assert_string_equal(
        check(encoded, AGENT,
              PATHS("/foo/bar?baz=quz", "/foo/bar?baz=qu", "/foo/bar/%E3%83%84",
                    "/foo/bar/%e3%83%84", "/foo/bar/%E3%83%85x", "/foo/bar/\xE3\x83\x85",
                    "/foo/bar/%62%61%7A", "/foo/bar/baz", "/foo/bar/ba")),
        "-+------+");
}

static void
product_token_matches_case_insensitively_without_version(void **state)
{
    static const char text[] = "User-agent: otherbot\n"
                               "Disallow: /\n"
                               "\n"
                               "User-agent: Celeriac-Scraper/1.0\n"
                               "Disallow: /private\n"
                               "\n"
                               "User-agent: *\n"
                               "Disallow: /\n";
    const char *const *paths = PATHS("/", "/private/x", "/public");

    (void)state;
    assert_string_equal(check(text, AGENT, paths), "+-+");
    /* The agent may be given as a whole User-Agent header. */
    assert_string_equal(check(text, "celeriac-scraper/1.0 (+https://example.org)", paths), "+-+");
    assert_string_equal(check(text, "CELERIAC-SCRAPER", paths), "+-+");
    /* A longer or shorter name is another crawler: it gets "*". */
    assert_string_equal(check(text, "celeriac", paths), "---");
    assert_string_equal(check(text, "celeriac-scraper-ng", paths), "---");
    assert_string_equal(check(text, NULL, paths), "---");
    assert_string_equal(check(text, "", paths), "---");
    /* The value's product token only: "celeriac-scraper foo" names us too. */
    assert_string_equal(
        check("User-agent: celeriac-scraper extra words\nDisallow: /x\n", AGENT, PATHS("/x", "/y")),
        "-+");
}

static void
other_bots_groups_are_ignored_and_no_group_allows_everything(void **state)
{
    static const char text[] = "User-agent: googlebot\n"
                               "Disallow: /\n"
                               "Crawl-delay: 5\n"
                               "User-agent: bingbot\n"
                               "Disallow: /nobing\n";
    struct robots *r = parsed_for(text, AGENT);

    (void)state;
    assert_string_equal(answers(r, PATHS("/", "/nobing", "/anything")), "+++");
    assert_true(robots_crawl_delay(r) == -1);
    robots_free(r);
    /* The rule after "User-agent: bingbot" belongs to bingbot alone, not to the
     * googlebot group before it: a User-agent line after rules starts a group. */
    assert_string_equal(check(text, "googlebot", PATHS("/", "/nobing")), "--");
    assert_string_equal(check(text, "bingbot", PATHS("/", "/nobing")), "+-");
}

static void
groups_for_the_same_agent_are_merged(void **state)
{
    static const char text[] = "User-agent: celeriac-scraper\n"
                               "Disallow: /a\n"
                               "\n"
                               "User-agent: *\n"
                               "Disallow: /star\n"
                               "\n"
                               "User-agent: otherbot\n"
                               "User-agent: celeriac-scraper\n"
                               "Disallow: /b\n"
                               "Allow: /a/open\n"
                               "\n"
                               "User-agent: *\n"
                               "Disallow: /star2\n";

    (void)state;
    assert_string_equal(check(text, AGENT, PATHS("/a", "/b", "/a/open", "/star", "/c")), "--+++");
    assert_string_equal(check(text, "otherbot", PATHS("/a", "/b", "/a/open", "/star", "/c")),
                        "+-+++");
    assert_string_equal(check(text, "nobody", PATHS("/a", "/b", "/star", "/star2", "/c")), "++--+");
}

static void
longest_match_wins_and_allow_wins_a_tie(void **state)
{
    static const char text[] = "User-agent: *\n"
                               "Disallow: /folder\n"
                               "Allow: /folder/page\n"
                               "Disallow: /folder/page/deeper\n"
                               "Allow: /tie\n"
                               "Disallow: /tie\n"
                               "Disallow: /tie2\n"
                               "Allow: /tie2\n"
                               "Allow: /p\n"
                               "Disallow: /*.php\n"
                               "Disallow: /\n"
                               "Allow: /$\n";
    const char *const *paths =
        PATHS("/folder", "/folder/x", "/folder/page", "/folder/page/deeper/x", "/tie", "/tie2/x",
              "/page", "/p/x.php", "/", "/other");

    (void)state;
    /* Allow "/p" (2 bytes) beats Disallow "/" (1) on /page, but loses to the
     * 6-byte .php pattern on /p/x.php; "/$" (2) beats "/" (1) on "/" alone. */
    assert_string_equal(check(text, AGENT, paths), "--+-+++-+-");
}

static void
wildcards_and_end_anchor(void **state)
{
    static const char text[] = "User-agent: *\n"
                               "Disallow: /fish*.php\n"
                               "Disallow: /*/private/\n"
                               "Disallow: /*.pdf$\n"
                               "Disallow: /exact$\n"
                               "Disallow: /mid$dle\n"
                               "Disallow: /**/star**s\n"
                               "Disallow: *query=1\n";
    const char *const *paths =
        PATHS("/fish.php", "/fishheads/catfish.php?p=1", "/Fish.PHP", "/fish.ph", "/a/private/x",
              "/private/x", "/doc.pdf", "/doc.pdf?x", "/exact", "/exact/", "/mid$dle", "/middle",
              "/x/y/stars", "/stars", "/s?query=1", "/s?query=2");

    (void)state;
    assert_string_equal(check(text, AGENT, paths), "--++-+-+-+-+-+-+");
}

static void
wildcard_matching_is_not_exponential(void **state)
{
    /* "/" then 2,000 "*a" then "b", against 20,000 a's: a matcher that retries
     * every star tries ~C(20000, 2000) splits; ours retries only the last one. */
    size_t stars = 2000, plen = 2 * stars + 1100, slen = 20000;
    char *text = malloc(plen + 64), *path = malloc(slen + 2), *p;
    struct robots *r;

    (void)state;
    assert_non_null(text);
    assert_non_null(path);
    p = text + sprintf(text, "User-agent: *\nDisallow: /");
    for (size_t i = 0; i < stars; i++) {
        *p++ = '*';
        *p++ = 'a';
    }
    /* Then a star, 1,000 a's and "b": the matcher's worst case, ~1,000 x 20,000 steps. */
    p += sprintf(p, "b$\nDisallow: /*");
    memset(p, 'a', 1000);
    strcpy(p + 1000, "b\n");
    path[0] = '/';
    memset(path + 1, 'a', slen);
    path[slen + 1] = '\0';
    r = parsed_for(text, AGENT);
    assert_true(robots_allowed(r, path));
    path[slen] = 'b';
    assert_false(robots_allowed(r, path));
    robots_free(r);
    free(text);
    free(path);
}

static void
percent_encoding_is_normalised_on_both_sides(void **state)
{
    static const char text[] = "User-agent: *\n"
                               "Disallow: /~joe/\n"
                               "Disallow: /%7ejane/\n"
                               "Disallow: /a%2fb\n"
                               "Disallow: /caf\xC3\xA9\n"
                               "Disallow: /sp ace\n"
                               "Disallow: /pct%zz\n";
    const char *const *paths = PATHS("/~joe/x", "/%7Ejoe/x", "/%7ejoe/x", "/~jane/x", "/%7Ejane/x",
                                     "/a%2Fb", "/a%2fb", "/a/b", "/caf%C3%A9", "/caf%c3%a9",
                                     "/cafe", "/sp%20ace", "/pct%25zz", "/pct%zz", "/%41llowed");

    (void)state;
    /* %2F is reserved: it stays apart from '/'. */
    assert_string_equal(check(text, AGENT, paths), "-------+--+---+");
}

static void
empty_disallow_allows_and_robots_txt_is_always_allowed(void **state)
{
    struct robots *r;

    (void)state;
    assert_string_equal(check("User-agent: *\nDisallow:\n", AGENT, PATHS("/", "/x", "/y?z")),
                        "+++");
    assert_string_equal(
        check("User-agent: *\nDisallow: \nDisallow: /x\nAllow:\n", AGENT, PATHS("/", "/x")), "+-");
    r = parsed_for("User-agent: *\nDisallow: /\nDisallow: /robots.txt\n", AGENT);
    assert_true(robots_allowed(r, "/robots.txt"));
    assert_true(robots_allowed(r, "/robots%2Etxt")); /* the same path, spelt otherwise */
    assert_false(robots_allowed(r, "/robots.txt?x"));
    assert_false(robots_allowed(r, "/robots.txt2"));
    assert_false(robots_allowed(r, NULL)); /* NULL and "" are "/" */
    assert_false(robots_allowed(r, ""));
    robots_free(r);
}

static void
crawl_delay_of_our_group_or_minus_one(void **state)
{
    static const struct {
        const char *text;
        double want;
    } cases[] = {
        {"User-agent: *\nCrawl-delay: 10\n", 10},
        {"User-agent: *\ncrawl-DELAY:0.5\n", 0.5},
        {"User-agent: *\nCrawl-delay: .25 # a quarter\n", 0.25},
        {"User-agent: *\nCrawl-delay: 0\n", 0},
        {"User-agent: *\nCrawl-delay: ten\n", -1},
        {"User-agent: *\nCrawl-delay: 10s\n", -1},
        {"User-agent: *\nCrawl-delay: -5\n", -1},
        {"User-agent: *\nCrawl-delay: 1e3\n", -1},
        {"User-agent: *\nCrawl-delay:\n", -1},
        {"User-agent: *\nCrawl-delay: 3\nCrawl-delay: 7\nCrawl-delay: 2\n", 7},
        {"User-agent: *\nCrawl-delay: 3\n\nUser-agent: celeriac-scraper\nDisallow: /x\n", -1},
        {"User-agent: celeriac-scraper\nCrawl-delay: 4\n\nUser-agent: *\nCrawl-delay: 9\n", 4},
        {"Crawl-delay: 4\nUser-agent: *\nDisallow: /\n", -1}, /* before any group */
        {"User-agent: otherbot\nCrawl-delay: 4\n", -1},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct robots *r = parsed_for(cases[i].text, AGENT);
        double got = robots_crawl_delay(r);

        if (got != cases[i].want)
            fail_msg("case %zu: got %g, want %g", i, got, cases[i].want);
        robots_free(r);
    }
}

static void
bom_line_endings_comments_and_spacing(void **state)
{
    static const char *const texts[] = {
        "\xEF\xBB\xBFUser-agent: *\nDisallow: /x\n",
        "User-agent: *\r\nDisallow: /x\r\n",
        "User-agent: *\rDisallow: /x\r",
        "User-agent: *\n\n\r\n\rDisallow: /x",
        "  USER-AGENT\t:\t*  # everyone\n\t disallow :/x   # not x\n# Disallow: /y\n",
        "# a comment\nSitemap: https://example.org/sitemap.xml\nUser-agent: *\n"
        "Sitemap: https://example.org/s2.xml\nDisallow: /x\n",
    };

    (void)state;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const char *a = check(texts[i], AGENT, PATHS("/x", "/y", "/"));

        if (strcmp(a, "-++") != 0)
            fail_msg("text %zu: got %s", i, a);
    }
}

static void
lines_without_colon_unknown_fields_and_rules_before_any_group_are_ignored(void **state)
{
    static const char text[] = "Disallow: /early\n"
                               "User-agent *\n"
                               "Disallow /nocolon\n"
                               "User-agent: *\n"
                               "Disallow /nocolon\n"
                               "Unknown-field: whatever\n"
                               "Noindex: /n\n"
                               ":\n"
                               ": /empty-key\n"
                               "Disallow: /x\n";

    (void)state;
    assert_string_equal(check(text, AGENT, PATHS("/early", "/nocolon", "/n", "/x", "/")), "+++-+");
}

static void
garbage_nul_bytes_and_long_lines_are_survived(void **state)
{
    static const char with_nul[] = "User-agent: *\nDis\0allow: /a\nDisallow: /b\0c\nDisallow: /d\n";
    size_t big = 700 * 1024;
    char *junk = malloc(big), *line = malloc(big);
    struct robots *r;

    (void)state;
    assert_non_null(junk);
    assert_non_null(line);
    r = robots_parse(with_nul, sizeof with_nul - 1, AGENT);
    assert_non_null(r);
    /* "Dis\0allow" is no field; "/b\0c" is "/b%00c", which a C string path never holds. */
    assert_string_equal(answers(r, PATHS("/a", "/b", "/bc", "/d")), "+++-");
    robots_free(r);

    srand(17);
    for (size_t i = 0; i < big; i++)
        junk[i] = (char)(rand() & 0xff);
    r = robots_parse(junk, big, AGENT);
    assert_non_null(r);
    (void)robots_allowed(r, "/");
    robots_free(r);
    assert_non_null(r = robots_parse(NULL, 0, AGENT));
    assert_true(robots_allowed(r, "/"));
    robots_free(r);

    /* One line of 100 KiB: a long but valid rule. */
    memcpy(line, "User-agent: *\nDisallow: /", 25);
    memset(line + 25, 'L', 100 * 1024);
    r = robots_parse(line, 25 + 100 * 1024, AGENT);
    assert_non_null(r);
    assert_true(robots_allowed(r, "/LLL")); /* shorter than the pattern */
    line[25 + 100 * 1024] = '\0';
    assert_false(robots_allowed(r, line + 24)); /* the pattern itself */
    robots_free(r);
    free(junk);
    free(line);
}

static void
only_the_first_500_kib_are_read(void **state)
{
    static const char head[] = "User-agent: *\nDisallow: /first\n";
    size_t cap = 600 * 1024, n;
    char *text = malloc(cap);
    struct robots *r;

    (void)state;
    assert_non_null(text);
    memcpy(text, head, sizeof head - 1);
    n = sizeof head - 1;
    while (n + 16 < ROBOTS_MAX_BYTES - 40)
        n += (size_t)sprintf(text + n, "# padding ....\n");
    /* A rule that ends just past the limit: cut, so dropped whole. */
    while (n < ROBOTS_MAX_BYTES - 12)
        text[n++] = '#';
    text[n++] = '\n';
    n += (size_t)sprintf(text + n, "Disallow: /cut-here-and-more\n");
    n += (size_t)sprintf(text + n, "Disallow: /late\n");
    r = robots_parse(text, n, AGENT);
    assert_non_null(r);
    assert_string_equal(answers(r, PATHS("/first", "/cut", "/cut-here-and-more", "/late")), "-+++");
    robots_free(r);
    free(text);
}

static void
thirty_thousand_rules_parse_and_match_quickly(void **state)
{
    size_t cap = 500 * 1024, n = 0;
    char *text = malloc(cap);
    struct robots *r;
    clock_t t0 = clock();

    (void)state;
    assert_non_null(text);
    n += (size_t)sprintf(text, "User-agent: *\n");
    for (int i = 0; n + 32 < cap; i++)
        n += (size_t)sprintf(text + n, "Disallow: /*d%d*$\n", i);
    r = robots_parse(text, n, AGENT);
    assert_non_null(r);
    assert_false(robots_allowed(r, "/x/d12345/y"));
    assert_true(robots_allowed(r, "/x/e12345/y"));
    for (int i = 0; i < 100; i++)
        (void)robots_allowed(r, "/some/ordinary/path/that/matches/nothing/at/all?q=1");
    robots_free(r);
    free(text);
    if ((double)(clock() - t0) / CLOCKS_PER_SEC > 5)
        fail_msg("took %.1f s", (double)(clock() - t0) / CLOCKS_PER_SEC);
}

static void
allow_all_and_disallow_all_policies(void **state)
{
    struct robots *yes = robots_allow_all(), *no = robots_disallow_all();

    (void)state;
    assert_non_null(yes);
    assert_non_null(no);
    assert_string_equal(answers(yes, PATHS("/", "/x", "/robots.txt")), "+++");
    assert_string_equal(answers(no, PATHS("/", "/x", "/robots.txt")), "--+");
    assert_true(robots_crawl_delay(yes) == -1);
    assert_true(robots_crawl_delay(no) == -1);
    robots_free(yes);
    robots_free(no);
    robots_free(NULL);
}

/* ---------------------------------------------------------------- date helpers */

/* Unix seconds of a UTC civil time, by libc. */
static double
utc(int y, int mon, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};

    return (double)timegm(&tm);
}

static void
parses_to(const char *s, double want)
{
    double got = -12345;

    if (scraper_parse_date(s, &got) != 0)
        fail_msg("\"%s\" did not parse", s);
    if (got != want)
        fail_msg("\"%s\": got %.6f, want %.6f", s, got, want);
}

static void
refused(const char *s)
{
    double got = -12345;

    if (scraper_parse_date(s, &got) != -1)
        fail_msg("\"%s\" parsed, to %.3f", s, got);
    if (got != -12345)
        fail_msg("\"%s\": refused but wrote %.3f", s, got);
}

/* ---------------------------------------------------------------- date tests */

static void
rfc_822_dates_with_and_without_weekday_and_seconds(void **state)
{
    double go = utc(2006, 1, 2, 22, 4, 5); /* Go's reference time */

    (void)state;
    assert_true(go == 1136239445);
    parses_to("Mon, 02 Jan 2006 15:04:05 -0700", go);
    parses_to("02 Jan 2006 15:04:05 -0700", go);
    parses_to("Monday, 02 Jan 2006 15:04:05 -0700", go);
    parses_to("Mon 2 Jan 2006 15:04:05 -0700", go);
    parses_to("mon,02 jan 2006 15:04:05 -0700 (MST)", go);
    parses_to("Mon, 02-Jan-2006 22:04:05 GMT", go);
    parses_to("Mon, 02 Jan 2006 22:04 GMT", go - 5);
    parses_to("Mon, 02 Jan 2006 5:04 GMT", utc(2006, 1, 2, 5, 4, 0));
    parses_to("Fri, 30 June 2006 10:00:00 +0000", utc(2006, 6, 30, 10, 0, 0));
    parses_to("1 SEPT 2006 10:00:00 UT", utc(2006, 9, 1, 10, 0, 0));
    parses_to("1 September 2006 10:00:00 UTC", utc(2006, 9, 1, 10, 0, 0));
    parses_to("Sat, 30 Nov 2026 10:00:00 GMT", utc(2026, 11, 30, 10, 0, 0)); /* wrong weekday */
    parses_to("30 Nov 2026", utc(2026, 11, 30, 0, 0, 0));
    parses_to("  Mon, 02 Jan 2006 22:04:05 GMT \t\n", go);
}

static void
rfc_822_two_digit_years_and_zones(void **state)
{
    static const struct {
        const char *zone;
        int hours;
    } zones[] = {
        {"GMT", 0},  {"UT", 0},   {"UTC", 0},  {"Z", 0},    {"EST", -5}, {"EDT", -4},
        {"CST", -6}, {"CDT", -5}, {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"pdt", -7},
        {"A", 0},    {"M", 0},    {"Y", 0},    {"CET", 0},  {"BST", 0},
    };
    double noon = utc(2020, 3, 1, 12, 0, 0);
    char s[64];

    (void)state;
    parses_to("01 Mar 20 12:00:00 GMT", noon);
    parses_to("01 Mar 49 12:00:00 GMT", utc(2049, 3, 1, 12, 0, 0));
    parses_to("01 Mar 50 12:00:00 GMT", utc(1950, 3, 1, 12, 0, 0));
    parses_to("01 Mar 99 12:00:00 GMT", utc(1999, 3, 1, 12, 0, 0));
    parses_to("01 Mar 00 12:00:00 GMT", utc(2000, 3, 1, 12, 0, 0));
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        snprintf(s, sizeof s, "Sun, 01 Mar 2020 12:00:00 %s", zones[i].zone);
        parses_to(s, noon - zones[i].hours * 3600);
    }
    /* +hhmm is east of UTC: subtract it. */
    parses_to("01 Mar 2020 12:00:00 +0100", noon - 3600);
    parses_to("01 Mar 2020 12:00:00 +0530", noon - 5.5 * 3600);
    parses_to("01 Mar 2020 12:00:00 -0930", noon + 9.5 * 3600);
    parses_to("01 Mar 2020 12:00:00 +01:00", noon - 3600);
    parses_to("01 Mar 2020 12:00:00", noon);
}

static void
iso_8601_dates_times_fractions_and_zones(void **state)
{
    double d = utc(2026, 11, 30, 0, 0, 0), ten = utc(2026, 11, 30, 10, 0, 0);

    (void)state;
    parses_to("2026-11-30", d);
    parses_to("2026-11-30T10:00", ten);
    parses_to("2026-11-30T10:00:00", ten);
    parses_to("2026-11-30 10:00:00", ten);
    parses_to("2026-11-30t10:00:00z", ten);
    parses_to("2026-11-30T10:00:00Z", ten);
    parses_to("2026-11-30T10:00:00.5Z", ten + 0.5);
    parses_to("2026-11-30T10:00:00,25Z", ten + 0.25);
    parses_to("2026-11-30T10:00:00.500000000000000000000000000000000001Z", ten + 0.5);
    parses_to("2026-11-30T10:00:00+01:00", ten - 3600);
    parses_to("2026-11-30T10:00:00+0100", ten - 3600);
    parses_to("2026-11-30T10:00:00+01", ten - 3600);
    parses_to("2026-11-30T10:00-05:30", ten + 5.5 * 3600);
    parses_to("2026-11-30T10:00:00.000-00:00", ten);
    parses_to("2026-11-30 10:00:00 +0100", ten - 3600);
    parses_to("2026-11-30 10:00:00 UTC", ten);
    parses_to("  2026-11-30T10:00:00Z\n", ten);
    parses_to("2026-11-30T23:30:00-01:00", utc(2026, 12, 1, 0, 30, 0)); /* into the next month */
    parses_to("2027-01-01T00:30:00+01:00", utc(2026, 12, 31, 23, 30, 0));
}

static void
leap_years_leap_seconds_and_midnight_24(void **state)
{
    (void)state;
    parses_to("2024-02-29", utc(2024, 2, 29, 0, 0, 0));
    parses_to("2000-02-29T12:00:00Z", utc(2000, 2, 29, 12, 0, 0));
    parses_to("29 Feb 2024 00:00 GMT", utc(2024, 2, 29, 0, 0, 0));
    parses_to("2016-12-31T23:59:60Z", utc(2016, 12, 31, 23, 59, 59));
    parses_to("2026-11-30T24:00:00Z", utc(2026, 12, 1, 0, 0, 0));
    parses_to("2026-12-31T24:00", utc(2027, 1, 1, 0, 0, 0));
    parses_to("1000-01-01T00:00:00Z", utc(1000, 1, 1, 0, 0, 0));
    parses_to("9999-12-31T23:59:59Z", utc(9999, 12, 31, 23, 59, 59));
    refused("2023-02-29");
    refused("1900-02-29");
    refused("29 Feb 2023 00:00 GMT");
    refused("2026-11-30T24:00:01Z");
    refused("2026-11-30T24:01:00Z");
    refused("2026-11-30T24:00:00.5Z");
}

static void
every_field_out_of_range_is_refused(void **state)
{
    static const char *const bad[] = {
        "0999-12-31",
        "2026-00-10",
        "2026-13-10",
        "2026-04-31",
        "2026-01-00",
        "2026-01-32",
        "2026-01-01T25:00",
        "2026-01-01T10:60",
        "2026-01-01T10:00:61",
        "2026-01-01T10:00:00+24:00",
        "2026-01-01T10:00:00+01:60",
        "Mon, 32 Jan 2006 15:04:05 GMT",
        "Mon, 00 Jan 2006 15:04:05 GMT",
        "Mon, 31 Apr 2006 15:04:05 GMT",
        "Mon, 02 Jan 2006 25:04:05 GMT",
        "Mon, 02 Jan 2006 15:60:05 GMT",
        "Mon, 02 Jan 2006 15:04:61 GMT",
        "Mon, 02 Jan 2006 15:04:05 +2400",
        "Mon, 02 Jan 0999 15:04:05 GMT",
        "Mon, 02 Jan 10000 15:04:05 GMT",
        "1000-01-01T00:00:00+01:00", /* 0999 in UTC */
        "9999-12-31T23:00:00-01:00", /* 10000 in UTC */
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(bad[i]);
}

static void
garbage_and_half_dates_are_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "   ",
        "yesterday",
        "2026",
        "2026-11",
        "2026-1-30",
        "20261130",
        "2026-11-30T",
        "2026-11-30T10",
        "2026-11-30T10:0",
        "2026-11-30T10:00:0",
        "2026-11-30T10:00:00.",
        "2026-11-30T10:00:00Zjunk",
        "2026-11-30 10:00:00 junk",
        "2026-11-30T10:00:00+1",
        "2026-11-30T10:00:00 CET",
        "2026-11-30X10:00",
        "Foo, 02 Jan 2006 15:04:05 GMT",
        "Mon, 02 Foo 2006 15:04:05 GMT",
        "Mon, 02 Jan 206 15:04:05 GMT",
        "Mon, 02 Jan 2006 15:04:05 +01",
        "Mon, 02 Jan 2006 15:04:05 GMT junk",
        "Mon, 02 Jan 2006 15:04:05 (unclosed",
        "Mon, 02 Jan 2006 15",
        "Mon, 02 Jan 2006 15:4",
        "Mon, 02 Jan 2006T15:04:05",
        "Mon, 123 Jan 2006 15:04:05 GMT",
        "Mon,",
        "Sun6 Nov 94 08:49:37 GMT",
        "02 Jan",
        "1136239445",
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(bad[i]);
    assert_int_equal(scraper_parse_date(NULL, &(double){0}), -1);
}

static void
format_writes_iso_utc_whole_seconds(void **state)
{
    char out[SCRAPER_DATE_LEN];

    (void)state;
    scraper_format_date(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    scraper_format_date(1136239445, out);
    assert_string_equal(out, "2006-01-02T22:04:05Z");
    scraper_format_date(951782400.999, out);
    assert_string_equal(out, "2000-02-29T00:00:00Z");
    scraper_format_date(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59Z");
    scraper_format_date(-0.5, out); /* rounded down, not toward zero */
    assert_string_equal(out, "1969-12-31T23:59:59Z");
    scraper_format_date(utc(1000, 1, 1, 0, 0, 0), out);
    assert_string_equal(out, "1000-01-01T00:00:00Z");
    scraper_format_date(253402300799.0, out);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
    scraper_format_date(1e300, out);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
    scraper_format_date(-1e300, out);
    assert_string_equal(out, "0001-01-01T00:00:00Z");
    scraper_format_date(NAN, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
}

static void
normalize_parses_then_formats(void **state)
{
    char out[SCRAPER_DATE_LEN] = "untouched";

    (void)state;
    assert_int_equal(scraper_normalize_date("Mon, 02 Jan 2006 15:04:05 -0700", out), 0);
    assert_string_equal(out, "2006-01-02T22:04:05Z");
    assert_int_equal(scraper_normalize_date("2026-11-30T10:00:00.999+01:00", out), 0);
    assert_string_equal(out, "2026-11-30T09:00:00Z");
    assert_int_equal(scraper_normalize_date("2026-11-30", out), 0);
    assert_string_equal(out, "2026-11-30T00:00:00Z");
    strcpy(out, "untouched");
    assert_int_equal(scraper_normalize_date("not a date", out), -1);
    assert_string_equal(out, "untouched");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc_9309_example_gives_each_bot_its_own_group),
        cmocka_unit_test(rfc_9309_longest_match_and_encoding_examples),
        cmocka_unit_test(product_token_matches_case_insensitively_without_version),
        cmocka_unit_test(other_bots_groups_are_ignored_and_no_group_allows_everything),
        cmocka_unit_test(groups_for_the_same_agent_are_merged),
        cmocka_unit_test(longest_match_wins_and_allow_wins_a_tie),
        cmocka_unit_test(wildcards_and_end_anchor),
        cmocka_unit_test(wildcard_matching_is_not_exponential),
        cmocka_unit_test(percent_encoding_is_normalised_on_both_sides),
        cmocka_unit_test(empty_disallow_allows_and_robots_txt_is_always_allowed),
        cmocka_unit_test(crawl_delay_of_our_group_or_minus_one),
        cmocka_unit_test(bom_line_endings_comments_and_spacing),
        cmocka_unit_test(lines_without_colon_unknown_fields_and_rules_before_any_group_are_ignored),
        cmocka_unit_test(garbage_nul_bytes_and_long_lines_are_survived),
        cmocka_unit_test(only_the_first_500_kib_are_read),
        cmocka_unit_test(thirty_thousand_rules_parse_and_match_quickly),
        cmocka_unit_test(allow_all_and_disallow_all_policies),
        cmocka_unit_test(rfc_822_dates_with_and_without_weekday_and_seconds),
        cmocka_unit_test(rfc_822_two_digit_years_and_zones),
        cmocka_unit_test(iso_8601_dates_times_fractions_and_zones),
        cmocka_unit_test(leap_years_leap_seconds_and_midnight_24),
        cmocka_unit_test(every_field_out_of_range_is_refused),
        cmocka_unit_test(garbage_and_half_dates_are_refused),
        cmocka_unit_test(format_writes_iso_utc_whole_seconds),
        cmocka_unit_test(normalize_parses_then_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
