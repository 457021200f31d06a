/* test/fuzz/fuzz_robots.c - fuzz target for robots.txt (scraper/robots.c) and
 * feed dates (scraper/date.c). Input: a first line, then a robots.txt. The
 * robots.txt is parsed for "celeriac-scraper" and asked about the first line
 * as a path and about a few fixed paths: /robots.txt must always be allowed,
 * the crawl delay must be -1 or a finite delay. The first line is also parsed
 * as a date: whatever parses must format to 20 characters that parse back to
 * the same second. Built with libFuzzer (`make fuzz`, clang) or with
 * test/fuzz/replay.c, which runs the corpus in test/fuzz/corpus/robots as part
 * of `make test`. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scraper/date.h"
#include "scraper/robots.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_date(const char *line)
{
    char out[SCRAPER_DATE_LEN], again[SCRAPER_DATE_LEN];
    double t, back;

    if (scraper_parse_date(line, &t) != 0)
        return;
    if (!isfinite(t))
        abort();
    scraper_format_date(t, out);
    if (strlen(out) != SCRAPER_DATE_LEN - 1 || scraper_parse_date(out, &back) != 0 ||
        back != floor(t))
        abort(); /* a parsed date formats to a date that parses to its second */
    if (scraper_normalize_date(line, again) != 0 || strcmp(again, out) != 0)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const fixed[] = {"/", "/a/b?c=d", "/%7Efoo/bar.gif", "/index.html$", "*"};
    const uint8_t *nl = memchr(data, '\n', size);
    size_t first = nl != NULL ? (size_t)(nl - data) : size;
    size_t rest = nl != NULL ? size - first - 1 : 0;
    char *line = malloc(first + 1);
    struct robots *r;
    double delay;

    if (line == NULL)
        return 0;
    memcpy(line, data, first);
    line[first] = '\0';
    check_date(line);

    r = robots_parse(nl != NULL ? (const char *)nl + 1 : "", rest, "celeriac-scraper");
    if (r == NULL)
        abort(); /* only out of memory, which a fuzz input must not cause */
    (void)robots_allowed(r, line);
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        (void)robots_allowed(r, fixed[i]);
    if (!robots_allowed(r, "/robots.txt"))
        abort();
    delay = robots_crawl_delay(r);
    if (delay != -1 && !(delay >= 0 && isfinite(delay)))
        abort();
    robots_free(r);

    /* The fixed policies: whatever the path, allow-all allows; disallow-all
     * disallows all but /robots.txt (however it is spelt). */
    r = robots_allow_all();
    if (r == NULL || !robots_allowed(r, line))
        abort();
    robots_free(r);
    r = robots_disallow_all();
    if (r == NULL || (strcmp(line, "/robots.txt") == 0 && !robots_allowed(r, line)) ||
        (strstr(line, "obots") == NULL && robots_allowed(r, line)))
        abort();
    robots_free(r);
    free(line);
    return 0;
}
