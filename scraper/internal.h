/* scraper/internal.h - what the scraper's files share: URL helpers (url.c),
 * the fetcher (fetch.c), text helpers (text.c). Unit tests include it; the
 * rest of celeriac uses scraper.h only. */
#ifndef CELERIAC_SCRAPER_INTERNAL_H
#define CELERIAC_SCRAPER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <libxml/tree.h>

#include "common/buf.h"
#include "common/xml_quiet.h"
#include "scraper/scraper.h"

/* ----- URLs (url.c), on libcurl's URL parser ----- */

#define URL_MAX 2048

/* ref resolved against base (base may be NULL when ref is absolute), with
 * its fragment dropped and the default port removed: malloc'd, or NULL when
 * the result is not an http(s) URL with a host, or longer than URL_MAX. */
char *url_resolve(const char *base, const char *ref);
/* "host[:port]" of an absolute URL, lower case (port only when not the
 * scheme's default), into out; -1 when url does not parse. */
int url_site(const char *url, char *out, size_t outlen);
/* "scheme://host[:port]": the key of robots.txt and of the per-host delay. */
int url_origin(const char *url, char *out, size_t outlen);
/* The path and query ("/a/b?c"), as robots.txt rules match them. */
int url_path(const char *url, char *out, size_t outlen);
/* Whether two sites are one: equal, or equal once a leading "www." goes. */
bool url_same_site(const char *a, const char *b);

/* ----- addresses (fetch.c) ----- */

/* True for addresses a scrape must not reach unless allowed: loopback,
 * private (RFC 1918, ULA), carrier-grade NAT, link-local, multicast,
 * unspecified, reserved and broadcast; IPv4-mapped/NAT64 IPv6 by their IPv4.
 * Sets *why to a short name of the range ("loopback", ...). */
bool addr_is_private(const struct sockaddr *sa, socklen_t len, const char **why);

/* ----- one fetch (fetch.c) ----- */

enum fetch_rc {
    FETCH_OK,           /* 2xx: body holds it */
    FETCH_NOT_MODIFIED, /* 304 to a conditional request */
    FETCH_DISALLOWED,   /* robots.txt says no: nothing was sent */
    FETCH_FAILED,       /* error says why */
    FETCH_CANCELLED,    /* the cancel flag stopped it */
};

struct fetch {
    long status;  /* the last HTTP status, 0 when none came */
    char *body;   /* NUL-terminated (the NUL not counted in len) */
    size_t len;
    char *url;    /* after redirects */
    char *content_type, *etag, *last_modified;
    double ms;    /* from the first request to the last byte */
    int redirects;
    char error[SCRAPER_ERROR_MAX];
};

/* GET url politely: robots.txt of its host first (cached), the per-host
 * delay, redirects followed one by one (each checked against robots.txt and
 * the address guard, at most SCRAPER_MAX_REDIRECTS), a conditional request
 * when etag or last_modified is given. Logs one line per request through
 * h->log. Free out with fetch_fini(). */
enum fetch_rc fetch_get(struct scraper *s, const char *url, const char *etag,
                        const char *last_modified, const struct scraper_hooks *h,
                        struct fetch *out);
void fetch_fini(struct fetch *f);
/* The options the session was made with (defaults filled in). */
const struct scraper_opts *scraper_options(const struct scraper *s);
/* Requests made so far in the session (robots.txt included). */
int fetch_count(const struct scraper *s);

/* The charset parameter of a Content-Type ("text/html; charset=latin1"),
 * lower case, into out; false when there is none. */
bool content_type_charset(const char *content_type, char *out, size_t outlen);

/* ----- text (text.c) ----- */

/* s with runs of whitespace made one space and trimmed: malloc'd, NULL when
 * nothing is left (or s is NULL). Invalid UTF-8 becomes U+FFFD. */
char *text_clean(const char *s);
/* A node's text as paragraphs: block elements separate paragraphs, "\n\n"
 * between them, whitespace collapsed, the boilerplate elements (script,
 * style, nav, header, footer, aside, form, comments...) skipped. malloc'd or
 * NULL when empty. */
char *text_of_node(xmlNode *n);
/* Text of an HTML fragment (a feed's description or content). */
char *text_of_html(const char *html, size_t len);
/* Whether a subtree is boilerplate: script/style/nav/..., or a class/id
 * such as "comments", "sidebar", "share". */
bool text_node_skipped(const xmlNode *n);
/* Append s to b as valid UTF-8: invalid sequences become U+FFFD. */
void text_append_utf8(struct buf *b, const char *s, size_t len);

/* ----- the report (crawl.c) ----- */

/* One line to h->log (nothing when there is none). */
void hook_log(const struct scraper_hooks *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Move a onto the end of r->articles (a is emptied). false: out of memory. */
bool report_add(struct scraper_report *r, struct scraper_article *a);

#endif
