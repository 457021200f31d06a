/* scraper/html.c - an article out of an HTML page: the metadata blog engines
 * publish (Open Graph, <meta>, schema.org JSON-LD), the main text, the
 * canonical URL, and, for an index page, the links that look like articles
 * and the feed it names. The order of preference of each field is in
 * docs/architecture.md "Scraping"; it is the order below. */
#include "scraper/internal.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>
#include <libxml/HTMLparser.h>

#include "scraper/date.h"

#define JSONLD_MAX (256 * 1024) /* a larger JSON-LD block is not metadata */
#define MIN_PARAGRAPH 25        /* shorter <p> text does not count towards density */
#define MAX_LINKS 5000

/* What one walk over the document gathers. Strings are malloc'd. */
struct gather {
    const char *url; /* the page's own URL, for resolving */
    char *og_title, *og_description, *og_url, *og_type;
    char *meta_description, *meta_author, *article_author, *published_time;
    char *canonical, *feed_url, *rel_author, *first_h1, *title;
    xmlNode *main, *first_time;
    xmlNode **articles;
    int narticles, articles_cap;
    cJSON *jsonld; /* the first Article-like object, a reference into jsonld_docs */
    cJSON *jsonld_docs;
};

static char *
prop(const xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, BAD_CAST name);
    char *s;

    if (v == NULL)
        return NULL;
    s = text_clean((const char *)v);
    xmlFree(v);
    return s;
}

/* Set *slot to v unless it is set already (the first occurrence wins). */
static void
keep_first(char **slot, char *v)
{
    if (*slot == NULL)
        *slot = v;
    else
        free(v);
}

static bool
is(const xmlNode *n, const char *tag)
{
    return n->type == XML_ELEMENT_NODE && strcasecmp((const char *)n->name, tag) == 0;
}

/* Whether the space-separated list v holds token t (rel="alternate nofollow"). */
static bool
has_token(const char *v, const char *t)
{
    size_t tl = strlen(t);

    for (const char *p = v; p != NULL && *p != '\0';) {
        size_t n;
        while (*p == ' ')
            p++;
        n = strcspn(p, " ");
        if (n == tl && strncasecmp(p, t, n) == 0)
            return true;
        p += n;
    }
    return false;
}

static bool
jsonld_is_article(const cJSON *o)
{
    static const char *const types[] = {"Article",      "BlogPosting",       "NewsArticle",
                                        "TechArticle",  "ScholarlyArticle",  "Report",
                                        "SocialMediaPosting", "LiveBlogPosting", "AnalysisNewsArticle",
                                        NULL};
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "@type"), *one;

    if (!cJSON_IsObject(o) || t == NULL)
        return false;
    for (const char *const *k = types; *k != NULL; k++) {
        if (cJSON_IsString(t) && strcmp(t->valuestring, *k) == 0)
            return true;
        cJSON_ArrayForEach(one, (cJSON_IsArray(t) ? t : NULL))
        {
            if (cJSON_IsString(one) && strcmp(one->valuestring, *k) == 0)
                return true;
        }
    }
    return false;
}

/* The Article-like object in a JSON-LD document: itself, an element of a
 * top-level array, or of its "@graph". */
static cJSON *
jsonld_find(cJSON *doc)
{
    cJSON *o, *graph;

    if (jsonld_is_article(doc))
        return doc;
    cJSON_ArrayForEach(o, (cJSON_IsArray(doc) ? doc : NULL))
    {
        cJSON *found = jsonld_find(o);
        if (found != NULL)
            return found;
    }
    graph = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "@graph") : NULL;
    cJSON_ArrayForEach(o, (cJSON_IsArray(graph) ? graph : NULL))
    {
        if (jsonld_is_article(o))
            return o;
    }
    return NULL;
}

static void
take_jsonld(struct gather *g, xmlNode *script)
{
    xmlChar *text;
    cJSON *doc;
    size_t len;

    if (g->jsonld != NULL || (text = xmlNodeGetContent(script)) == NULL)
        return;
    len = strlen((const char *)text);
    doc = len <= JSONLD_MAX ? cJSON_ParseWithLength((const char *)text, len) : NULL;
    xmlFree(text);
    if (doc == NULL)
        return; /* broken JSON-LD is common: the rest of the page still counts */
    if ((g->jsonld = jsonld_find(doc)) != NULL) {
        g->jsonld_docs = doc;
        return;
    }
    cJSON_Delete(doc);
}

static void
take_meta(struct gather *g, xmlNode *n)
{
    char *key = prop(n, "property"), *name = prop(n, "name"), *content;
    const char *k = key != NULL ? key : name;

    if (k != NULL && (content = prop(n, "content")) != NULL) {
        char **slot = strcasecmp(k, "og:title") == 0                 ? &g->og_title
                      : strcasecmp(k, "og:description") == 0         ? &g->og_description
                      : strcasecmp(k, "og:url") == 0                 ? &g->og_url
                      : strcasecmp(k, "og:type") == 0                ? &g->og_type
                      : strcasecmp(k, "description") == 0            ? &g->meta_description
                      : strcasecmp(k, "author") == 0                 ? &g->meta_author
                      : strcasecmp(k, "article:author") == 0         ? &g->article_author
                      : strcasecmp(k, "article:published_time") == 0 ? &g->published_time
                                                                     : NULL;
        /* article:author is often a profile URL, not a name. */
        if (slot == &g->article_author && strncasecmp(content, "http", 4) == 0)
            slot = NULL;
        if (slot != NULL)
            keep_first(slot, content);
        else
            free(content);
    }
    free(key);
    free(name);
}

static void
take_link(struct gather *g, xmlNode *n)
{
    char *rel = prop(n, "rel"), *href;

    if (rel == NULL)
        return;
    if (has_token(rel, "canonical") && g->canonical == NULL) {
        if ((href = prop(n, "href")) != NULL)
            g->canonical = url_resolve(g->url, href);
        free(href);
    } else if (has_token(rel, "alternate") && g->feed_url == NULL) {
        char *type = prop(n, "type");
        if (type != NULL && (strcasecmp(type, "application/rss+xml") == 0 ||
                             strcasecmp(type, "application/atom+xml") == 0)) {
            if ((href = prop(n, "href")) != NULL)
                g->feed_url = url_resolve(g->url, href);
            free(href);
        }
        free(type);
    }
    free(rel);
}

/* A node's text on one line (a title). */
static char *
one_line(xmlNode *n)
{
    char *t = text_of_node(n), *line = text_clean(t);

    free(t);
    return line;
}

static void
gather_walk(struct gather *g, xmlNode *n, int depth)
{
    for (; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (is(n, "meta")) {
            take_meta(g, n);
        } else if (is(n, "link")) {
            take_link(g, n);
        } else if (is(n, "title")) {
            if (g->title == NULL)
                g->title = one_line(n);
        } else if (is(n, "script")) {
            char *type = prop(n, "type");
            if (type != NULL && strcasecmp(type, "application/ld+json") == 0)
                take_jsonld(g, n);
            free(type);
            continue;
        } else if (is(n, "h1")) {
            if (g->first_h1 == NULL && !text_node_skipped(n))
                g->first_h1 = one_line(n);
        } else if (is(n, "time")) {
            if (g->first_time == NULL && xmlHasProp(n, BAD_CAST "datetime") != NULL)
                g->first_time = n;
        } else if (is(n, "a")) {
            char *rel = g->rel_author == NULL ? prop(n, "rel") : NULL;
            if (rel != NULL && has_token(rel, "author"))
                g->rel_author = one_line(n);
            free(rel);
        } else if (is(n, "main")) {
            if (g->main == NULL)
                g->main = n;
        } else if (is(n, "article")) {
            if (g->narticles == g->articles_cap) {
                int cap = g->articles_cap > 0 ? g->articles_cap * 2 : 8;
                xmlNode **p = realloc(g->articles, (size_t)cap * sizeof *p);
                if (p != NULL) {
                    g->articles = p;
                    g->articles_cap = cap;
                }
            }
            if (g->narticles < g->articles_cap)
                g->articles[g->narticles++] = n;
        } else if (g->main == NULL) {
            char *role = prop(n, "role");
            if (role != NULL && strcasecmp(role, "main") == 0)
                g->main = n;
            free(role);
        }
        if (depth < 256)
            gather_walk(g, n->children, depth + 1);
    }
}

static void
gather_fini(struct gather *g)
{
    char **strings[] = {&g->og_title,     &g->og_description, &g->og_url,
                        &g->og_type,      &g->meta_description, &g->meta_author,
                        &g->article_author, &g->published_time, &g->canonical,
                        &g->feed_url,     &g->rel_author,     &g->first_h1,
                        &g->title};

    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        free(*strings[i]);
        *strings[i] = NULL;
    }
    free(g->articles);
    cJSON_Delete(g->jsonld_docs);
}

/* ----- JSON-LD fields ----- */

static char *
jsonld_string(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? text_clean(v->valuestring) : NULL;
}

/* author: "Name", {"name": "Name"}, or a list of either (the first). */
static char *
jsonld_author(const cJSON *o)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "author");

    if (cJSON_IsArray(a))
        a = cJSON_GetArrayItem(a, 0);
    if (cJSON_IsString(a))
        return text_clean(a->valuestring);
    if (cJSON_IsObject(a))
        return jsonld_string(a, "name");
    return NULL;
}

/* ----- the main text ----- */

/* Whether n is inside chrome, or inside another <article> (an outer one is
 * measured instead: measuring every nested one would cost quadratic time). */
static bool
not_a_candidate(const xmlNode *n)
{
    for (const xmlNode *p = n->parent; p != NULL && p->type == XML_ELEMENT_NODE; p = p->parent)
        if (text_node_skipped(p) || is(p, "article"))
            return true;
    return false;
}

/* Readability's idea, small: each paragraph's text scores for its parent,
 * half for its grandparent; the best scoring element holds the article. */
struct density {
    xmlNode *node[512];
    double score[512];
    int n;
};

static void
add_score(struct density *d, xmlNode *n, double s)
{
    for (int i = 0; i < d->n; i++)
        if (d->node[i] == n) {
            d->score[i] += s;
            return;
        }
    if (d->n < (int)(sizeof d->node / sizeof d->node[0])) {
        d->node[d->n] = n;
        d->score[d->n++] = s;
    }
}

static void
density_walk(struct density *d, xmlNode *n, int depth)
{
    for (; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || text_node_skipped(n))
            continue;
        if (is(n, "p") || is(n, "pre") || is(n, "blockquote")) {
            char *t = text_of_node(n);
            size_t len = t != NULL ? strlen(t) : 0;
            free(t);
            if (len >= MIN_PARAGRAPH && n->parent != NULL) {
                add_score(d, n->parent, (double)len);
                if (n->parent->parent != NULL && n->parent->parent->type == XML_ELEMENT_NODE)
                    add_score(d, n->parent->parent, (double)len / 2);
            }
            continue;
        }
        if (depth < 256)
            density_walk(d, n->children, depth + 1);
    }
}

static xmlNode *
densest(xmlNode *root)
{
    struct density *d = calloc(1, sizeof *d);
    xmlNode *best = NULL;
    double top = 0;

    if (d == NULL)
        return NULL;
    density_walk(d, root, 0);
    for (int i = 0; i < d->n; i++)
        if (d->score[i] > top) {
            top = d->score[i];
            best = d->node[i];
        }
    free(d);
    return best;
}

/* The element holding the article's text: the largest <article> (an index
 * page lists several), else <main>, else the densest block. */
static xmlNode *
content_node(struct gather *g, xmlNode *body)
{
    xmlNode *best = NULL;
    size_t top = 0;

    for (int i = 0; i < g->narticles; i++) {
        char *t;
        size_t len;

        if (not_a_candidate(g->articles[i]))
            continue;
        t = text_of_node(g->articles[i]);
        len = t != NULL ? strlen(t) : 0;
        free(t);
        if (len > top) {
            top = len;
            best = g->articles[i];
        }
    }
    if (best != NULL)
        return best;
    if (g->main != NULL)
        return g->main;
    best = densest(body);
    return best != NULL ? best : body;
}

/* The first <time datetime> under n (depth-first), or NULL. */
static xmlNode *
first_time_in(xmlNode *n, int depth)
{
    for (; n != NULL; n = n->next) {
        xmlNode *t;
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (is(n, "time") && xmlHasProp(n, BAD_CAST "datetime") != NULL)
            return n;
        if (depth < 256 && (t = first_time_in(n->children, depth + 1)) != NULL)
            return t;
    }
    return NULL;
}

static char *
normalized_date(const char *s)
{
    char out[21];

    if (s == NULL || scraper_normalize_date(s, out) != 0)
        return NULL;
    return strdup(out);
}

static char *
published(struct gather *g, xmlNode *content)
{
    char *d = normalized_date(g->published_time), *v;
    xmlNode *t;

    if (d != NULL)
        return d;
    /* A <time> in the article itself before one elsewhere (a sidebar's). */
    t = content != NULL ? first_time_in(content->children, 0) : NULL;
    if (t == NULL)
        t = g->first_time;
    if (t != NULL) {
        v = prop(t, "datetime");
        d = normalized_date(v);
        free(v);
        if (d != NULL)
            return d;
    }
    if (g->jsonld != NULL) {
        v = jsonld_string(g->jsonld, "datePublished");
        d = normalized_date(v);
        free(v);
    }
    return d;
}

/* The first of the candidates that is set; the others are freed. */
static char *
first_of(int n, ...)
{
    va_list ap;
    char *keep = NULL;

    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        char *v = va_arg(ap, char *);
        if (keep == NULL && v != NULL)
            keep = v;
        else
            free(v);
    }
    va_end(ap);
    return keep;
}

static char *
take(char **slot)
{
    char *v = *slot;
    *slot = NULL;
    return v;
}

/* ----- links an index page points to ----- */

/* Path words of pages that list articles rather than being one. */
static bool
listing_path(const char *url)
{
    static const char *const words[] = {"tag",   "tags",  "category", "categories", "author",
                                        "authors", "page", "search",  "login",      "signup",
                                        "register", "feed", "rss",    "about",      "contact",
                                        "archive", "archives", "wp-admin", "wp-login.php", NULL};
    static const char *const files[] = {".xml", ".rss", ".atom", ".css", ".js",  ".json", ".png",
                                        ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico", ".pdf",
                                        ".zip", ".gz",  ".mp3", ".mp4", ".woff", ".woff2", NULL};
    char path[URL_MAX + 1];
    size_t n;

    if (url_path(url, path, sizeof path) != 0)
        return true;
    path[strcspn(path, "?")] = '\0';
    if (strcmp(path, "/") == 0)
        return true;
    n = strlen(path);
    for (const char *const *f = files; *f != NULL; f++) {
        size_t fl = strlen(*f);
        if (n >= fl && strcasecmp(path + n - fl, *f) == 0)
            return true;
    }
    /* The first segment: /tag/python/, /page/2/, /about/. */
    const char *seg = path + 1;
    size_t sl = strcspn(seg, "/");
    for (const char *const *w = words; *w != NULL; w++)
        if (sl == strlen(*w) && strncasecmp(seg, *w, sl) == 0)
            return true;
    return false;
}

struct links {
    const char *page_url, *canonical;
    char site[256];
    char **v;
    int n, cap;
};

static void
add_link(struct links *l, const char *href)
{
    char *u = url_resolve(l->page_url, href), site[256];

    if (u == NULL)
        return;
    if (url_site(u, site, sizeof site) != 0 || !url_same_site(site, l->site) ||
        strcmp(u, l->page_url) == 0 || (l->canonical != NULL && strcmp(u, l->canonical) == 0) ||
        listing_path(u) || l->n >= MAX_LINKS)
        goto drop;
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->v[i], u) == 0)
            goto drop;
    if (l->n == l->cap) {
        int cap = l->cap > 0 ? l->cap * 2 : 32;
        char **p = realloc(l->v, (size_t)cap * sizeof *p);
        if (p == NULL)
            goto drop;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = u;
    return;
drop:
    free(u);
}

static void
links_walk(struct links *l, xmlNode *n, int depth)
{
    for (; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || text_node_skipped(n))
            continue;
        if (is(n, "a")) {
            char *href = prop(n, "href");
            if (href != NULL)
                add_link(l, href);
            free(href);
        }
        if (depth < 256)
            links_walk(l, n->children, depth + 1);
    }
}

/* The text often opens with the title (an <h1> outside <header>): it is a
 * field of its own, so the text starts after it. */
static void
drop_leading_title(struct scraper_article *a)
{
    size_t n;

    if (a->title == NULL || a->text == NULL)
        return;
    n = strlen(a->title);
    if (strncmp(a->text, a->title, n) == 0 && strncmp(a->text + n, "\n\n", 2) == 0)
        memmove(a->text, a->text + n + 2, strlen(a->text + n + 2) + 1);
}

/* ----- the page ----- */

/* candidate when it is on the page's own site (www. aside), else NULL (freed).
 * A page may name its canonical URL or its feed, not another site's: else any
 * page could overwrite another site's stored article, keyed by that URL. */
static char *
on_site(char *candidate, const char *page_url)
{
    char site[256], page_site[256];

    if (candidate != NULL &&
        (url_site(candidate, site, sizeof site) != 0 ||
         url_site(page_url, page_site, sizeof page_site) != 0 || !url_same_site(site, page_site))) {
        free(candidate);
        return NULL;
    }
    return candidate;
}

static htmlDocPtr
parse_html(const char *body, size_t len, const char *url, const char *charset)
{
    const int opts = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                     HTML_PARSE_NONET | HTML_PARSE_COMPACT;
    htmlDocPtr doc = NULL;

    if (len > INT32_MAX)
        return NULL;
    /* The HTTP charset wins over the page's own <meta>; a name libxml2 does
     * not know is ignored, as browsers do. */
    if (charset != NULL)
        doc = htmlReadMemory(body, (int)len, url, charset, opts);
    if (doc == NULL)
        doc = htmlReadMemory(body, (int)len, url, NULL, opts);
    return doc;
}

int
scraper_extract_html(const char *body, size_t len, const char *url, const char *charset,
                     struct scraper_page *out, char *err, size_t errlen)
{
    struct gather g = {.url = url};
    struct scraper_article *a = &out->article;
    xmlNode *root, *body_node = NULL, *content;
    htmlDocPtr doc;
    char site[256];

    memset(out, 0, sizeof *out);
    xml_quiet();
    doc = parse_html(body, len, url, charset);
    if (doc == NULL || (root = xmlDocGetRootElement(doc)) == NULL) {
        snprintf(err, errlen, "not an HTML document");
        xmlFreeDoc(doc);
        return -1;
    }
    gather_walk(&g, root, 0);
    for (xmlNode *n = root->children; n != NULL; n = n->next)
        if (is(n, "body"))
            body_node = n;
    if (body_node == NULL)
        body_node = root;
    content = content_node(&g, body_node);

    a->title = first_of(4, take(&g.og_title), g.jsonld != NULL ? jsonld_string(g.jsonld, "headline") : NULL,
                        take(&g.first_h1), take(&g.title));
    /* The order the rules give: og:title, then <h1>, then <title>; JSON-LD's
     * headline sits with og:title (both are the publisher's metadata). */
    a->author = first_of(4, take(&g.meta_author), take(&g.article_author), take(&g.rel_author),
                         g.jsonld != NULL ? jsonld_author(g.jsonld) : NULL);
    a->published_at = published(&g, content);
    a->summary = first_of(3, take(&g.og_description), take(&g.meta_description),
                          g.jsonld != NULL ? jsonld_string(g.jsonld, "description") : NULL);
    a->text = text_of_node(content);
    drop_leading_title(a);
    a->source_url = strdup(url);
    a->url = first_of(3, on_site(take(&g.canonical), url), on_site(url_resolve(url, g.og_url), url),
                      url_resolve(NULL, url));
    if (a->url != NULL && url_site(a->url, site, sizeof site) == 0)
        a->site = strdup(site);

    out->looks_like_article = (g.og_type != NULL && strcasecmp(g.og_type, "article") == 0) ||
                              g.jsonld != NULL || g.published_time != NULL || g.narticles == 1;
    out->feed_url = on_site(take(&g.feed_url), url);

    /* Links: within <main> when the page has one, else the whole body. */
    struct links l = {.page_url = url, .canonical = a->url};
    if (url_site(url, l.site, sizeof l.site) == 0)
        links_walk(&l, g.main != NULL ? g.main->children : body_node->children, 0);
    out->links = l.v;
    out->nlinks = l.n;

    gather_fini(&g);
    xmlFreeDoc(doc);
    if (a->url == NULL || a->site == NULL) {
        snprintf(err, errlen, "the page's URL is not an http(s) URL");
        scraper_page_fini(out);
        return -1;
    }
    return 0;
}

void
scraper_page_fini(struct scraper_page *p)
{
    scraper_article_fini(&p->article);
    free(p->feed_url);
    for (int i = 0; i < p->nlinks; i++)
        free(p->links[i]);
    free(p->links);
    memset(p, 0, sizeof *p);
}

void
scraper_article_fini(struct scraper_article *a)
{
    char *fields[] = {a->url,     a->source_url,   a->site, a->title, a->author,
                      a->published_at, a->summary, a->text, a->etag,  a->last_modified};

    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        free(fields[i]);
    memset(a, 0, sizeof *a);
}
