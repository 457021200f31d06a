/* scraper/feed.c - articles out of RSS (2.0, and 1.0/RDF) and Atom feeds,
 * and telling a feed from an HTML page. Parsed with libxml2 without entity
 * substitution or network access: a feed cannot make the parser read files
 * or other URLs (XXE); a feed that declares entities is refused, since
 * reading its text would expand them (entity bombs). */
#include "scraper/internal.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>

#include "scraper/date.h"

#define NS_ATOM "http://www.w3.org/2005/Atom"
#define NS_DC "http://purl.org/dc/elements/1.1/"
#define NS_CONTENT "http://purl.org/rss/1.0/modules/content/"

/* ----- detection ----- */

/* The name of the first element of an XML-ish document, lower case, or "". */
static void
root_name(const char *s, size_t len, char *out, size_t outlen)
{
    const char *end = s + len, *p = s;

    out[0] = '\0';
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;
    while (p < end) {
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (p >= end || *p != '<')
            return;
        if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
            const char *c = memmem(p + 4, (size_t)(end - p - 4), "-->", 3);
            if (c == NULL)
                return;
            p = c + 3;
        } else if (end - p >= 2 && (p[1] == '?' || p[1] == '!')) {
            /* <?xml ...?>, or <!DOCTYPE ...> whose internal subset [...] holds '>'s */
            int depth = 0;
            for (p += 2; p < end && !(*p == '>' && depth == 0); p++)
                depth += *p == '[' ? 1 : *p == ']' && depth > 0 ? -1 : 0;
            if (p >= end)
                return;
            p++;
        } else {
            size_t n = 0;
            p++;
            while (p + n < end && n + 1 < outlen &&
                   (isalnum((unsigned char)p[n]) || p[n] == ':' || p[n] == '-' || p[n] == '_'))
                n++;
            for (size_t i = 0; i < n; i++)
                out[i] = (char)tolower((unsigned char)p[i]);
            out[n] = '\0';
            return;
        }
    }
}

enum scraper_doc
scraper_detect(const char *body, size_t len, const char *content_type)
{
    char name[64];
    const char *colon;

    (void)content_type; /* servers label feeds text/xml, text/html, anything: the root tells */
    root_name(body, len < 65536 ? len : 65536, name, sizeof name);
    colon = strchr(name, ':');
    if (strcmp(name, "rss") == 0 || (colon != NULL && strcmp(colon + 1, "rdf") == 0) ||
        strcmp(name, "rdf") == 0)
        return SCRAPER_DOC_RSS;
    if (strcmp(name, "feed") == 0 || (colon != NULL && strcmp(colon + 1, "feed") == 0))
        return SCRAPER_DOC_ATOM;
    return SCRAPER_DOC_HTML;
}

/* ----- helpers on elements ----- */

static bool
named(const xmlNode *n, const char *ns, const char *name)
{
    if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, name) != 0)
        return false;
    if (ns == NULL) /* RSS's own elements: no namespace (RSS 2.0) or RSS 1.0's */
        return n->ns == NULL || strstr((const char *)n->ns->href, "rss") != NULL ||
               strstr((const char *)n->ns->href, "rdf") != NULL;
    return n->ns != NULL && strcmp((const char *)n->ns->href, ns) == 0;
}

static xmlNode *
child(xmlNode *parent, const char *ns, const char *name)
{
    for (xmlNode *n = parent->children; n != NULL; n = n->next)
        if (named(n, ns, name))
            return n;
    return NULL;
}

/* The text content of an element, one line. */
static char *
content_line(xmlNode *n)
{
    xmlChar *v;
    char *s;

    if (n == NULL || (v = xmlNodeGetContent(n)) == NULL)
        return NULL;
    s = text_clean((const char *)v);
    xmlFree(v);
    return s;
}

/* The text content of an element holding escaped HTML (RSS description). */
static char *
content_html(xmlNode *n)
{
    xmlChar *v;
    char *s;

    if (n == NULL || (v = xmlNodeGetContent(n)) == NULL)
        return NULL;
    s = text_of_html((const char *)v, strlen((const char *)v));
    xmlFree(v);
    return s;
}

static char *
date_of(xmlNode *n)
{
    char *v = content_line(n), out[21];
    char *d = v != NULL && scraper_normalize_date(v, out) == 0 ? strdup(out) : NULL;

    free(v);
    return d;
}

/* n's link resolved against its xml:base, the feed's URL. */
static char *
resolve_at(xmlNode *n, const char *href)
{
    xmlChar *base = xmlNodeGetBase(n->doc, n);
    char *u = url_resolve((const char *)base, href);

    xmlFree(base);
    return u;
}

static bool
finish(struct scraper_article *a, struct scraper_report *r)
{
    char site[256];

    if (a->url == NULL || url_site(a->url, site, sizeof site) != 0 ||
        (a->site = strdup(site)) == NULL || (a->source_url = strdup(a->url)) == NULL) {
        scraper_article_fini(a); /* an entry without a usable link has no key */
        return true;
    }
    if (a->text == NULL && a->summary != NULL)
        a->text = strdup(a->summary);
    return report_add(r, a);
}

/* ----- RSS ----- */

/* "dave@example.com (Dave Feed)" -> "Dave Feed". */
static char *
rss_author(xmlNode *item)
{
    char *a = content_line(child(item, NULL, "author")), *open, *close;

    if (a == NULL)
        return content_line(child(item, NS_DC, "creator"));
    if ((open = strchr(a, '(')) != NULL && (close = strrchr(a, ')')) != NULL && close > open + 1) {
        char *name = strndup(open + 1, (size_t)(close - open - 1)), *clean = text_clean(name);
        free(name);
        if (clean != NULL) {
            free(a);
            return clean;
        }
    }
    return a;
}

static bool
rss_item(xmlNode *item, struct scraper_report *r)
{
    struct scraper_article a = {0};
    char *link = content_line(child(item, NULL, "link"));
    xmlNode *guid;

    if (link == NULL && (guid = child(item, NULL, "guid")) != NULL) {
        xmlChar *perma = xmlGetProp(guid, BAD_CAST "isPermaLink");
        if (perma == NULL || strcasecmp((const char *)perma, "false") != 0)
            link = content_line(guid);
        xmlFree(perma);
    }
    a.url = link != NULL ? resolve_at(item, link) : NULL;
    free(link);
    a.title = content_line(child(item, NULL, "title"));
    a.author = rss_author(item);
    a.published_at = date_of(child(item, NULL, "pubDate"));
    if (a.published_at == NULL)
        a.published_at = date_of(child(item, NS_DC, "date"));
    a.summary = content_html(child(item, NULL, "description"));
    a.text = content_html(child(item, NS_CONTENT, "encoded"));
    return finish(&a, r);
}

/* ----- Atom ----- */

/* A text construct: type="html" is escaped HTML, "xhtml" a div, else text. */
static char *
atom_text(xmlNode *n)
{
    xmlChar *type;
    char *s;

    if (n == NULL)
        return NULL;
    type = xmlGetProp(n, BAD_CAST "type");
    if (type != NULL && strcasecmp((const char *)type, "html") == 0)
        s = content_html(n);
    else if (type != NULL && strcasecmp((const char *)type, "xhtml") == 0)
        s = text_of_node(n);
    else
        s = content_line(n);
    xmlFree(type);
    return s;
}

static char *
atom_link(xmlNode *entry)
{
    char *found = NULL;

    for (xmlNode *n = entry->children; n != NULL && found == NULL; n = n->next) {
        xmlChar *rel, *href;
        if (!named(n, NS_ATOM, "link"))
            continue;
        rel = xmlGetProp(n, BAD_CAST "rel");
        href = xmlGetProp(n, BAD_CAST "href");
        if (href != NULL && (rel == NULL || strcmp((const char *)rel, "alternate") == 0))
            found = resolve_at(n, (const char *)href);
        xmlFree(rel);
        xmlFree(href);
    }
    return found;
}

static char *
atom_author(xmlNode *n)
{
    xmlNode *author = child(n, NS_ATOM, "author");
    return author != NULL ? content_line(child(author, NS_ATOM, "name")) : NULL;
}

static bool
atom_entry(xmlNode *entry, const char *feed_author, struct scraper_report *r)
{
    struct scraper_article a = {0};
    xmlNode *content = child(entry, NS_ATOM, "content");

    a.url = atom_link(entry);
    a.title = atom_text(child(entry, NS_ATOM, "title"));
    a.author = atom_author(entry);
    if (a.author == NULL && feed_author != NULL)
        a.author = strdup(feed_author);
    a.published_at = date_of(child(entry, NS_ATOM, "published"));
    if (a.published_at == NULL)
        a.published_at = date_of(child(entry, NS_ATOM, "updated"));
    a.summary = atom_text(child(entry, NS_ATOM, "summary"));
    if (content != NULL && xmlHasProp(content, BAD_CAST "src") == NULL) /* src: out of line */
        a.text = atom_text(content);
    return finish(&a, r);
}

/* ----- the feed ----- */

int
scraper_extract_feed(const char *body, size_t len, const char *url, const char *charset,
                     struct scraper_article **out, int *n, bool *truncated, char *err,
                     size_t errlen)
{
    const int opts = XML_PARSE_RECOVER | XML_PARSE_NONET | XML_PARSE_NOERROR |
                     XML_PARSE_NOWARNING | XML_PARSE_COMPACT;
    struct scraper_report r = {0};
    enum scraper_doc kind = scraper_detect(body, len, NULL);
    xmlDocPtr doc = NULL;
    xmlNode *root;
    bool ok = true;

    *out = NULL;
    *n = 0;
    *truncated = false;
    if (kind == SCRAPER_DOC_HTML) {
        snprintf(err, errlen, "not an RSS or Atom feed");
        return -1;
    }
    xml_quiet();
    if (len <= INT32_MAX && charset != NULL)
        doc = xmlReadMemory(body, (int)len, url, charset, opts);
    if (len <= INT32_MAX && doc == NULL)
        doc = xmlReadMemory(body, (int)len, url, NULL, opts);
    if (doc == NULL || (root = xmlDocGetRootElement(doc)) == NULL) {
        snprintf(err, errlen, "the feed is not well-formed XML");
        xmlFreeDoc(doc);
        return -1;
    }
    /* Entities a feed declares itself are left as references by the parser
     * but expanded by every read of the text: a few kilobytes of them can
     * make gigabytes. No real feed needs them. */
    if (doc->intSubset != NULL &&
        (doc->intSubset->entities != NULL || doc->intSubset->pentities != NULL)) {
        snprintf(err, errlen, "the feed declares XML entities of its own: refused");
        xmlFreeDoc(doc);
        return -1;
    }
    if (kind == SCRAPER_DOC_RSS) {
        /* RSS 2.0: rss/channel/item; RSS 1.0: rdf:RDF/item beside the channel. */
        xmlNode *channel = child(root, NULL, "channel");
        xmlNode *lists[] = {channel != NULL ? channel : root, channel != NULL ? root : NULL};
        for (size_t l = 0; l < 2 && ok; l++)
            for (xmlNode *it = lists[l] != NULL ? lists[l]->children : NULL; it != NULL && ok;
                 it = it->next) {
                if (!named(it, NULL, "item"))
                    continue;
                if (r.n >= SCRAPER_MAX_ENTRIES) {
                    *truncated = true;
                    break;
                }
                ok = rss_item(it, &r);
            }
    } else {
        char *feed_author = atom_author(root);
        for (xmlNode *e = root->children; e != NULL && ok; e = e->next) {
            if (!named(e, NS_ATOM, "entry"))
                continue;
            if (r.n >= SCRAPER_MAX_ENTRIES) {
                *truncated = true;
                break;
            }
            ok = atom_entry(e, feed_author, &r);
        }
        free(feed_author);
    }
    xmlFreeDoc(doc);
    if (!ok) {
        scraper_report_fini(&r);
        snprintf(err, errlen, "out of memory reading the feed");
        return -1;
    }
    *out = r.articles;
    *n = r.n;
    return 0;
}
