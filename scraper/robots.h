/* scraper/robots.h - robots.txt (RFC 9309): which group of rules is ours, and
 * whether a path may be fetched. Pure: no network, no clock, no locale. */
#ifndef CELERIAC_SCRAPER_ROBOTS_H
#define CELERIAC_SCRAPER_ROBOTS_H

#include <stdbool.h>
#include <stddef.h>

#define ROBOTS_MAX_BYTES (500u * 1024) /* RFC 9309's parsing limit: the rest is ignored */

struct robots; /* opaque */

/* Parse robots.txt text (any bytes, NUL included; only the first
 * ROBOTS_MAX_BYTES are read, up to the last whole line) for the crawler whose
 * product token is agent: "celeriac-scraper", or a whole User-Agent header
 * such as "celeriac-scraper/1.0 (+https://...)", of which only the product
 * token counts. The rules are those of the groups whose User-agent names the
 * same product token case-insensitively ("User-agent: Celeriac-Scraper/1.0"
 * does); when none does, those of the "*" groups; when there is no "*" group
 * either, none: everything is allowed. A group naming us with no rules still
 * wins over "*". Consecutive User-agent lines share a group; the groups that
 * apply are merged. agent NULL or "": only "*" groups apply.
 * NULL only when out of memory. Free with robots_free(). */
struct robots *robots_parse(const char *text, size_t len, const char *agent);

/* Empty policies: everything allowed (robots.txt answered 4xx) or everything but
 * /robots.txt disallowed (5xx, unreachable). NULL only when out of memory. */
struct robots *robots_allow_all(void);
struct robots *robots_disallow_all(void);

/* Whether path (the URL's path and query, starting with '/', percent-encoded as
 * sent; NULL or "" mean "/") may be fetched. The matching rule with the longest
 * pattern wins, Allow wins a tie, no matching rule allows; '*' matches any run
 * of characters, a final '$' anchors the pattern at the end of the path; an
 * empty Disallow is no rule; "/robots.txt" is always allowed. Both sides are
 * compared with percent-encoding normalised: escapes of unreserved characters
 * decoded (%7E is ~), other escapes upper-cased (%c3 is %C3), raw bytes outside
 * printable ASCII encoded (a UTF-8 pattern matches its %-encoded path).
 * Case matters otherwise. Worst case O(pattern length x path length) per rule. */
bool robots_allowed(const struct robots *r, const char *path);

/* The Crawl-delay of the groups that apply, in seconds (the largest when they
 * give several), or -1 when none does; values that are not a plain
 * non-negative decimal number ("10", "0.5") are ignored. */
double robots_crawl_delay(const struct robots *r);

void robots_free(struct robots *r); /* NULL is fine */

#endif
