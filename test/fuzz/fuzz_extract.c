/* test/fuzz/fuzz_extract.c - fuzz target for the scraper's extractors
 * (scraper/html.c, scraper/feed.c, scraper/text.c): any bytes, read as an
 * HTML page and as a feed, with and without a charset from HTTP. Whatever
 * comes out must be NUL-free valid UTF-8 (PostgreSQL refuses anything else)
 * with absolute http(s) URLs, and the articles' JSON must parse. Built with
 * libFuzzer (`make fuzz`) or test/fuzz/replay.c (`make test` replays the
 * corpus in test/fuzz/corpus/extract: the fixture site's pages and feeds). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "scraper/scraper.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    if (s == NULL)
        return;
    while (*p != '\0') {
        int n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : 4;
        if (*p >= 0x80 && (*p < 0xc2 || *p > 0xf4))
            abort();
        for (int i = 1; i < n; i++)
            if ((p[i] & 0xc0) != 0x80)
                abort();
        p += n;
    }
}

static void
check_article(const struct scraper_article *a)
{
    const char *fields[] = {a->url,     a->source_url,   a->site, a->title, a->author,
                            a->published_at, a->summary, a->text};

    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        check_utf8(fields[i]);
    if (a->url == NULL || a->site == NULL ||
        (strncmp(a->url, "http://", 7) != 0 && strncmp(a->url, "https://", 8) != 0))
        abort();
    if (a->published_at != NULL && strlen(a->published_at) != 20)
        abort();
}

static void
check_json(const struct scraper_article *v, int n)
{
    char *json = scraper_articles_json(v, n);
    cJSON *doc = json != NULL ? cJSON_Parse(json) : NULL;

    if (json != NULL && (doc == NULL || cJSON_GetArraySize(doc) != n))
        abort();
    cJSON_Delete(doc);
    free(json);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const charsets[] = {NULL, "iso-8859-1", "utf-8", "no-such-charset"};
    const char *body = (const char *)data;
    char err[SCRAPER_ERROR_MAX];

    (void)scraper_detect(body, size, NULL);
    for (size_t c = 0; c < sizeof charsets / sizeof charsets[0]; c++) {
        struct scraper_page page;
        struct scraper_article *entries;
        bool truncated;
        int n;

        if (scraper_extract_html(body, size, "http://fuzz.example/dir/page.html", charsets[c],
                                 &page, err, sizeof err) == 0) {
            check_article(&page.article);
            check_json(&page.article, 1);
            for (int i = 0; i < page.nlinks; i++)
                check_utf8(page.links[i]);
            scraper_page_fini(&page);
        }
        if (scraper_extract_feed(body, size, "http://fuzz.example/feed.xml", charsets[c], &entries,
                                 &n, &truncated, err, sizeof err) == 0) {
            for (int i = 0; i < n; i++)
                check_article(&entries[i]);
            check_json(entries, n);
            for (int i = 0; i < n; i++)
                scraper_article_fini(&entries[i]);
            free(entries);
        }
    }
    return 0;
}
