/* scraper/scraper.h - the scraping library: fetch pages politely and safely
 * (libcurl), honour robots.txt, and extract articles from RSS 2.0 feeds, Atom
 * feeds and HTML pages (libxml2). It knows no tables and no queue: the
 * scrape.site task (worker/tasks/scrape.c) stores what scraper_scrape()
 * returns through its task context, and `celeriac scrape URL` prints it.
 * docs/architecture.md "Scraping" tells the rules. */
#ifndef CELERIAC_SCRAPER_H
#define CELERIAC_SCRAPER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#define SCRAPER_DEFAULT_MAX_BYTES (5u * 1024 * 1024)
#define SCRAPER_DEFAULT_TIMEOUT_S 30.0
#define SCRAPER_DEFAULT_CONNECT_TIMEOUT_S 10.0
#define SCRAPER_DEFAULT_DELAY_S 1.0
#define SCRAPER_MAX_REDIRECTS 5
#define SCRAPER_MAX_ENTRIES 20000 /* feed entries kept from one feed */
#define SCRAPER_MAX_PAGES 1000    /* largest max_pages a scrape accepts */
#define SCRAPER_ERROR_MAX 512
#define SCRAPER_ALLOWED_NETS 16

struct scraper_opts {
    const char *user_agent; /* NULL: SCRAPER_USER_AGENT_DEFAULT */
    double connect_timeout_s, timeout_s;
    size_t max_bytes;    /* a larger response is cut off with an error */
    double host_delay_s; /* between two requests to one host (robots' Crawl-delay may raise it) */
    bool allow_private;  /* connect to loopback/private/link-local addresses too */
    /* Or only to these private networks (SCRAPER_ALLOW_PRIVATE=10.1.0.0/16,...). */
    struct scraper_net {
        int family; /* AF_INET or AF_INET6 */
        unsigned char addr[16];
        int bits;
    } allowed[SCRAPER_ALLOWED_NETS];
    int nallowed;
    volatile sig_atomic_t *cancel; /* non-zero: stop transfers and waits early (may be NULL) */
};

#define SCRAPER_USER_AGENT_DEFAULT "celeriac-scraper/1.0 (+https://github.com/celeriac/celeriac)"

/* The defaults above, then the environment: SCRAPER_ALLOW_PRIVATE=1 (or a
 * comma-separated list of the private addresses and networks allowed, such
 * as "10.20.0.0/16,fd00::/8,127.0.0.2"),
 * SCRAPER_TIMEOUT (s), SCRAPER_CONNECT_TIMEOUT (s), SCRAPER_MAX_BYTES,
 * SCRAPER_DELAY (s), SCRAPER_USER_AGENT. -1 with the variable named in err
 * when one does not parse. */
int scraper_opts_from_env(struct scraper_opts *o, char *err, size_t errlen);

/* One article. Every field is malloc'd UTF-8 text or NULL. */
struct scraper_article {
    char *url;          /* canonical, absolute, without fragment */
    char *source_url;   /* the URL fetched after redirects (feed entry: its link) */
    char *site;         /* host[:port] of url, lower case */
    char *title;
    char *author;
    char *published_at; /* ISO 8601 UTC, "2026-01-02T03:04:05Z" */
    char *summary;
    char *text;         /* main text, paragraphs separated by "\n\n" */
    char *etag;         /* validators of the page fetched (not for feed entries) */
    char *last_modified;
};

void scraper_article_fini(struct scraper_article *a);
/* [{"url", "source_url", "site", "title", "author", "published_at", "summary",
 * "text", "etag", "last_modified"}] (absent fields null) as JSON text, the
 * form `celeriac scrape` prints and the scrape.site task hands PostgreSQL.
 * malloc'd; NULL when out of memory. */
char *scraper_articles_json(const struct scraper_article *v, int n);

/* ----- extraction: no network, pure functions of the bytes ----- */

enum scraper_doc { SCRAPER_DOC_HTML, SCRAPER_DOC_RSS, SCRAPER_DOC_ATOM };

/* What kind of document body is: a feed when its root element is <rss>
 * (or RDF) or Atom's <feed>, else HTML. content_type may be NULL. */
enum scraper_doc scraper_detect(const char *body, size_t len, const char *content_type);

/* The entries of an RSS or Atom feed fetched from url (relative links are
 * resolved against it). At most SCRAPER_MAX_ENTRIES (*truncated tells).
 * charset: from the HTTP Content-Type, NULL to let the document say. 0, or
 * -1 with the reason in err (nothing parsable). */
int scraper_extract_feed(const char *body, size_t len, const char *url, const char *charset,
                         struct scraper_article **out, int *n, bool *truncated, char *err,
                         size_t errlen);

/* An HTML page fetched from url (after redirects). */
struct scraper_page {
    struct scraper_article article; /* as if the page were an article */
    bool looks_like_article;        /* og:type article, JSON-LD Article, one <article> */
    char *feed_url;                 /* <link rel=alternate> RSS/Atom feed on the same site */
    char **links;                   /* same-site links that look like articles, in page order */
    int nlinks;
};

int scraper_extract_html(const char *body, size_t len, const char *url, const char *charset,
                         struct scraper_page *out, char *err, size_t errlen);
void scraper_page_fini(struct scraper_page *p);

/* ----- a scrape: fetch, follow, extract ----- */

struct scraper;

/* A session: one libcurl handle (connections reused), robots.txt cached per
 * host, the time of the last request to each host. NULL: out of memory or
 * libcurl failed to start. */
struct scraper *scraper_new(const struct scraper_opts *o);
void scraper_free(struct scraper *s);

/* What the caller knows and wants to hear. Every hook may be NULL. */
struct scraper_hooks {
    void *arg;
    /* The validators stored for a page URL, for a conditional request: set
     * *etag / *last_modified to malloc'd text or leave them NULL. */
    void (*validators)(void *arg, const char *url, char **etag, char **last_modified);
    /* One line per fetch ("GET url -> 200, 1234 bytes, 56 ms") and per problem. */
    void (*log)(void *arg, const char *line);
};

struct scraper_report {
    struct scraper_article *articles; /* extracted, in the order found */
    int n, cap;
    int fetched;      /* HTTP requests made (robots.txt included) */
    int not_modified; /* article pages answered 304: unchanged, not in articles */
    int failed;       /* article URLs that gave no article (each logged with its error) */
    int skipped;      /* article URLs robots.txt disallows: never requested */
    bool cancelled;   /* *opts.cancel stopped it: articles holds what came before */
};

/* Scrape url: a feed gives its entries; an HTML page with follow gives the
 * articles it links to on its own site (through its feed when it names one),
 * at most max_pages fetched after the first; without follow, or when it
 * links to none, the page itself. 0 when the first URL was fetched and
 * understood (failures further on are counted in out->failed), else -1 with
 * the reason in err. Either way out holds what was extracted: free it with
 * scraper_report_fini(). */
int scraper_scrape(struct scraper *s, const char *url, int max_pages, bool follow,
                   const struct scraper_hooks *h, struct scraper_report *out, char *err,
                   size_t errlen);
void scraper_report_fini(struct scraper_report *r);

#endif
