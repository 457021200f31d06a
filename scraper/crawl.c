/* scraper/crawl.c - one scrape: the first URL, then what it leads to.
 *
 * A feed gives its entries. An HTML page with follow gives the articles it
 * links to: through the feed it names (<link rel=alternate>) when there is
 * one, each entry's page fetched (up to max_pages) to complete what the
 * entry says; else through its own links that look like articles on the
 * same site. A page without follow, or one that leads nowhere, is itself
 * the article. Each article page is asked for conditionally when the caller
 * knows its validators; a 304 is counted unchanged. */
#include "scraper/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
report_add(struct scraper_report *r, struct scraper_article *a)
{
    if (r->n == r->cap) {
        int cap = r->cap > 0 ? r->cap * 2 : 16;
        struct scraper_article *p = realloc(r->articles, (size_t)cap * sizeof *p);
        if (p == NULL) {
            scraper_article_fini(a);
            return false;
        }
        r->articles = p;
        r->cap = cap;
    }
    r->articles[r->n++] = *a;
    memset(a, 0, sizeof *a);
    return true;
}

char *
scraper_articles_json(const struct scraper_article *v, int n)
{
    struct buf b = {0};

    buf_put(&b, "[");
    for (int i = 0; i < n; i++) {
        const struct scraper_article *a = &v[i];
        const char *names[] = {"url",    "source_url", "site",  "title", "author", "published_at",
                               "summary", "text",      "etag", "last_modified"};
        const char *values[] = {a->url,     a->source_url, a->site, a->title, a->author,
                                a->published_at, a->summary, a->text, a->etag, a->last_modified};

        buf_put(&b, i > 0 ? ",{" : "{");
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            buf_printf(&b, "%s\"%s\":", k > 0 ? "," : "", names[k]);
            if (values[k] != NULL)
                buf_json_str(&b, values[k]);
            else
                buf_put(&b, "null");
        }
        buf_put(&b, "}");
    }
    buf_put(&b, "]");
    if (b.oom) {
        buf_fini(&b);
        return NULL;
    }
    return b.data;
}

void
scraper_report_fini(struct scraper_report *r)
{
    for (int i = 0; i < r->n; i++)
        scraper_article_fini(&r->articles[i]);
    free(r->articles);
    memset(r, 0, sizeof *r);
}

static bool
cancelled(const struct scraper_opts *o)
{
    return o->cancel != NULL && *o->cancel;
}

void
hook_log(const struct scraper_hooks *h, const char *fmt, ...)
{
    char line[1024 + URL_MAX];
    va_list ap;

    if (h == NULL || h->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    h->log(h->arg, line);
}

/* Fill the fields page extraction left empty from what the feed's entry said. */
static void
fill_gaps(struct scraper_article *a, struct scraper_article *entry)
{
    char **mine[] = {&a->title, &a->author, &a->published_at, &a->summary, &a->text};
    char **theirs[] = {&entry->title, &entry->author, &entry->published_at, &entry->summary,
                       &entry->text};

    for (size_t i = 0; i < sizeof mine / sizeof mine[0]; i++)
        if (*mine[i] == NULL) {
            *mine[i] = *theirs[i];
            *theirs[i] = NULL;
        }
}

static char *
charset_of(const struct fetch *f, char *buf, size_t len)
{
    return content_type_charset(f->content_type, buf, len) ? buf : NULL;
}

/* One article page (entry: the feed's entry for it, or NULL). Adds the
 * article or counts why not. false when the scrape must stop (cancelled,
 * out of memory). */
static bool
scrape_page(struct scraper *s, const char *url,
            struct scraper_article *entry, const struct scraper_hooks *h,
            struct scraper_report *out)
{
    char *etag = NULL, *last_modified = NULL, charset[64], err[SCRAPER_ERROR_MAX];
    struct scraper_page page;
    struct fetch f;
    enum fetch_rc rc;
    bool ok = true;

    if (h != NULL && h->validators != NULL)
        h->validators(h->arg, url, &etag, &last_modified);
    rc = fetch_get(s, url, etag, last_modified, h, &f);
    free(etag);
    free(last_modified);
    switch (rc) {
    case FETCH_CANCELLED:
        out->cancelled = true;
        ok = false;
        break;
    case FETCH_NOT_MODIFIED:
        out->not_modified++; /* the stored article stands, the entry's copy is not needed */
        break;
    case FETCH_DISALLOWED:
    case FETCH_FAILED:
        if (entry != NULL) { /* the feed said enough to keep the article */
            hook_log(h, "kept the feed's entry for %s (its page: %s)", url, f.error);
            ok = report_add(out, entry);
        } else if (rc == FETCH_DISALLOWED) {
            out->skipped++;
        } else {
            out->failed++;
            hook_log(h, "failed %s: %s", url, f.error);
        }
        break;
    case FETCH_OK:
        if (scraper_detect(f.body, f.len, f.content_type) != SCRAPER_DOC_HTML) {
            snprintf(err, sizeof err, "a feed where an article page was expected");
        } else if (scraper_extract_html(f.body, f.len, f.url, charset_of(&f, charset, sizeof charset),
                                        &page, err, sizeof err) == 0) {
            struct scraper_article *a = &page.article;
            if (entry != NULL)
                fill_gaps(a, entry);
            if (a->title == NULL && a->text == NULL) {
                snprintf(err, sizeof err, "no article found on the page");
            } else {
                a->etag = f.etag;
                a->last_modified = f.last_modified;
                f.etag = f.last_modified = NULL;
                ok = report_add(out, a);
                err[0] = '\0';
            }
            scraper_page_fini(&page);
        }
        if (err[0] != '\0' && ok) {
            if (entry != NULL) {
                hook_log(h, "kept the feed's entry for %s (its page: %s)", url, err);
                ok = report_add(out, entry);
            } else {
                out->failed++;
                hook_log(h, "failed %s: %s", url, err);
            }
        }
        break;
    }
    fetch_fini(&f);
    return ok;
}

/* The entries of a feed already fetched into f. false: not a usable feed. */
static bool
take_feed(const struct fetch *f, const struct scraper_hooks *h, struct scraper_article **entries,
          int *n, char *err, size_t errlen)
{
    char charset[64];
    bool truncated;

    if (scraper_extract_feed(f->body, f->len, f->url, charset_of(f, charset, sizeof charset),
                             entries, n, &truncated, err, errlen) != 0)
        return false;
    if (truncated)
        hook_log(h, "feed %s: %d entries (the rest ignored: at most %d per feed)", f->url, *n,
             SCRAPER_MAX_ENTRIES);
    else
        hook_log(h, "feed %s: %d entries", f->url, *n);
    return true;
}

static void
free_entries(struct scraper_article *v, int n)
{
    for (int i = 0; i < n; i++)
        scraper_article_fini(&v[i]);
    free(v);
}

/* Every entry becomes an article; the first max_pages are completed from
 * their pages (follow). false: stop (cancelled, out of memory). */
static bool
from_feed(struct scraper *s, const struct scraper_opts *o, struct scraper_article *entries,
          int n, int max_pages, bool follow, const struct scraper_hooks *h,
          struct scraper_report *out)
{
    bool ok = true;

    for (int i = 0; i < n && ok; i++) {
        if (follow && i < max_pages) {
            char *link = entries[i].url != NULL ? strdup(entries[i].url) : NULL;
            if (cancelled(o)) {
                out->cancelled = true;
                ok = false;
            } else if (link != NULL) {
                ok = scrape_page(s, link, &entries[i], h, out);
            }
            free(link);
        } else {
            ok = report_add(out, &entries[i]);
        }
    }
    return ok;
}

int
scraper_scrape(struct scraper *s, const char *url, int max_pages, bool follow,
               const struct scraper_hooks *h, struct scraper_report *out, char *err,
               size_t errlen)
{
    const struct scraper_opts *o = scraper_options(s);
    struct scraper_article *entries = NULL;
    struct scraper_page page = {0};
    struct fetch f;
    enum fetch_rc rc;
    char charset[64];
    int n = 0, result = 0;

    memset(out, 0, sizeof *out);
    if (max_pages < 0)
        max_pages = 0;
    if (max_pages > SCRAPER_MAX_PAGES)
        max_pages = SCRAPER_MAX_PAGES;
    rc = fetch_get(s, url, NULL, NULL, h, &f);
    if (rc != FETCH_OK) {
        out->cancelled = rc == FETCH_CANCELLED;
        snprintf(err, errlen, "%s: %s", f.url != NULL ? f.url : url, f.error);
        fetch_fini(&f);
        out->fetched = fetch_count(s);
        return -1;
    }
    if (scraper_detect(f.body, f.len, f.content_type) != SCRAPER_DOC_HTML) {
        /* A feed: its entries are the articles, no page fetched. */
        if (take_feed(&f, h, &entries, &n, err, errlen)) {
            from_feed(s, o, entries, n, 0, false, h, out);
        } else {
            result = -1;
        }
        goto done;
    }
    if (scraper_extract_html(f.body, f.len, f.url, charset_of(&f, charset, sizeof charset), &page,
                             err, errlen) != 0) {
        result = -1;
        goto done;
    }
    if (follow && page.feed_url != NULL) {
        struct fetch feed;
        char why[SCRAPER_ERROR_MAX] = "";

        hook_log(h, "the page names a feed: %s", page.feed_url);
        rc = fetch_get(s, page.feed_url, NULL, NULL, h, &feed);
        if (rc == FETCH_OK && take_feed(&feed, h, &entries, &n, why, sizeof why)) {
            fetch_fini(&feed);
            from_feed(s, o, entries, n, max_pages, true, h, out);
            goto done;
        }
        if (rc == FETCH_CANCELLED) {
            out->cancelled = true;
            fetch_fini(&feed);
            goto done;
        }
        hook_log(h, "feed %s unusable (%s): following the page's links instead", page.feed_url,
             why[0] != '\0' ? why : feed.error);
        fetch_fini(&feed);
    }
    if (follow && page.nlinks > 0) {
        int todo = page.nlinks < max_pages ? page.nlinks : max_pages;
        hook_log(h, "%d article links found, %d to fetch", page.nlinks, todo);
        for (int i = 0; i < todo; i++) {
            if (cancelled(o)) {
                out->cancelled = true;
                break;
            }
            if (!scrape_page(s, page.links[i], NULL, h, out))
                break;
        }
        goto done;
    }
    /* The page itself is the article. */
    page.article.etag = f.etag;
    page.article.last_modified = f.last_modified;
    f.etag = f.last_modified = NULL;
    if (page.article.title == NULL && page.article.text == NULL) {
        snprintf(err, errlen, "%s: no article found on the page", f.url);
        result = -1;
    } else {
        report_add(out, &page.article);
    }
done:
    free_entries(entries, n);
    scraper_page_fini(&page);
    fetch_fini(&f);
    out->fetched = fetch_count(s);
    return result;
}
