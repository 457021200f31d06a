/* test/bench/extract.c - the scraper's extraction throughput in one process:
 * every HTML page of the fixture site (test/fixtures/site) parsed and
 * extracted (article fields, main text, links) in a loop, then a 10,000-entry
 * RSS feed. No network, no database: what one worker child can parse per
 * second of CPU. Usage: test/bench/extract [SECONDS per measure, default 3].
 * Prints "pages/s MB/s entries/s". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "scraper/scraper.h"

static const char *const pages[] = {
    "index.html",
    "2026/11/wordpress-style-post/index.html",
    "ghost/ghost-style-post/index.html",
    "posts/jekyll-style-post.html",
    "medium/json-ld-post-1a2b3c",
    "latin1.html",
    "broken.html",
    "articles/redirected.html",
    "news/index.html",
};

static char *
load(const char *path, size_t *len)
{
    char name[512], chunk[8192];
    struct buf b = {0};
    FILE *f;
    size_t n;

    snprintf(name, sizeof name, "test/fixtures/site/%s", path);
    if ((f = fopen(name, "rb")) == NULL) {
        perror(name);
        exit(1);
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_putn(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return b.data;
}

int
main(int argc, char **argv)
{
    const int npages = sizeof pages / sizeof pages[0];
    double seconds = argc > 1 ? atof(argv[1]) : 3, t0, elapsed;
    char *body[sizeof pages / sizeof pages[0]], err[SCRAPER_ERROR_MAX];
    size_t len[sizeof pages / sizeof pages[0]], bytes = 0;
    long done = 0, entries = 0;
    struct buf feed = {0};

    for (int i = 0; i < npages; i++)
        body[i] = load(pages[i], &len[i]);

    t0 = clock_mono();
    do {
        for (int i = 0; i < npages; i++) {
            struct scraper_page p;
            if (scraper_extract_html(body[i], len[i], "http://127.0.0.1:8000/x/", NULL, &p, err,
                                     sizeof err) != 0) {
                fprintf(stderr, "%s: %s\n", pages[i], err);
                return 1;
            }
            scraper_page_fini(&p);
            bytes += len[i];
        }
        done += npages;
    } while ((elapsed = clock_mono() - t0) < seconds);
    double pages_s = (double)done / elapsed, mb_s = (double)bytes / elapsed / 1e6;

    buf_put(&feed, "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Big</title>");
    for (int i = 0; i < 10000; i++)
        buf_printf(&feed,
                   "<item><title>Entry %d</title><link>http://127.0.0.1:8000/big/%d</link>"
                   "<author>robot@example.com (Feed Robot)</author>"
                   "<pubDate>Mon, 02 Jan 2006 15:04:05 GMT</pubDate>"
                   "<description>&lt;p&gt;Item %d, a short summary padded to the size of a "
                   "real one.&lt;/p&gt;</description></item>",
                   i, i, i);
    buf_put(&feed, "</channel></rss>");
    t0 = clock_mono();
    do {
        struct scraper_article *v;
        bool truncated;
        int n;
        if (scraper_extract_feed(feed.data, feed.len, "http://127.0.0.1:8000/feed", NULL, &v, &n,
                                 &truncated, err, sizeof err) != 0) {
            fprintf(stderr, "feed: %s\n", err);
            return 1;
        }
        for (int i = 0; i < n; i++)
            scraper_article_fini(&v[i]);
        free(v);
        entries += n;
    } while ((elapsed = clock_mono() - t0) < seconds);

    printf("%.0f %.1f %.0f\n", pages_s, mb_s, (double)entries / elapsed);
    for (int i = 0; i < npages; i++)
        free(body[i]);
    buf_fini(&feed);
    return 0;
}
