/* scraper/text.c - readable text out of libxml2 trees: whitespace collapsed,
 * paragraphs kept, boilerplate dropped, always valid UTF-8 (PostgreSQL
 * refuses anything else, and a page's bytes may be broken). */
#include "scraper/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>

/* Elements whose text is never an article's: code, chrome, widgets. */
static const char *const skipped_tags[] = {
    "script", "style", "noscript", "template", "svg",    "nav",      "header", "footer",
    "aside",  "form",  "button",   "iframe",   "select", "textarea", "object", "canvas",
    "head",   "video", "audio",    "map",      "dialog", "menu",     NULL,
};

/* class/id words (a token starting with one) marking page chrome. */
static const char *const skipped_words[] = {
    "comment", "sidebar",   "share",  "sharing", "social", "related", "newsletter",
    "subscribe", "advert", "promo",  "cookie",  "breadcrumb", "navbar", "menu",
    "footer",  "masthead", "popup",  "modal",   NULL,
};

/* Elements that end a paragraph. */
static const char *const block_tags[] = {
    "p",     "div",        "section", "article", "main",   "h1",     "h2",  "h3",   "h4",
    "h5",    "h6",         "li",      "ul",      "ol",     "dl",     "dt",  "dd",   "blockquote",
    "pre",   "table",      "tr",      "td",      "th",     "figure", "figcaption", "hr",
    "address", "details", "summary", "body",    NULL,
};

static bool
in_list(const char *name, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strcasecmp(name, *list) == 0)
            return true;
    return false;
}

/* Whether one of the space-separated tokens of v starts with a chrome word. */
static bool
has_chrome_word(const char *v)
{
    const char *p = v;

    while (*p != '\0') {
        size_t n;
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        n = strcspn(p, " \t\n");
        for (const char *const *w = skipped_words; n > 0 && *w != NULL; w++) {
            size_t wl = strlen(*w);
            if (n >= wl && strncasecmp(p, *w, wl) == 0)
                return true;
        }
        p += n;
    }
    return false;
}

bool
text_node_skipped(const xmlNode *n)
{
    xmlChar *v;
    bool skip = false;

    if (n->type != XML_ELEMENT_NODE)
        return false;
    if (in_list((const char *)n->name, skipped_tags))
        return true;
    if (xmlHasProp(n, BAD_CAST "hidden") != NULL)
        return true;
    if ((v = xmlGetProp(n, BAD_CAST "aria-hidden")) != NULL) {
        skip = strcasecmp((const char *)v, "true") == 0;
        xmlFree(v);
    }
    for (const char *attr = "class"; !skip && attr != NULL;
         attr = strcmp(attr, "class") == 0 ? "id" : NULL) {
        if ((v = xmlGetProp(n, BAD_CAST attr)) != NULL) {
            skip = has_chrome_word((const char *)v);
            xmlFree(v);
        }
    }
    return skip;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

void
text_append_utf8(struct buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, start = 0;

    while (i < len) {
        size_t n = utf8_seq(p + i, len - i);
        if (n > 0 && p[i] != 0) {
            i += n;
            continue;
        }
        buf_putn(b, s + start, i - start);
        if (p[i] != 0)
            buf_put(b, "\xef\xbf\xbd"); /* U+FFFD for a broken byte; NULs just go */
        start = ++i;
    }
    buf_putn(b, s + start, i - start);
}

/* ----- collapsing whitespace into words, lines and paragraphs ----- */

enum gap { GAP_NONE, GAP_SPACE, GAP_LINE, GAP_PARA };

struct collect {
    struct buf out;
    enum gap gap;
};

static void
gap(struct collect *c, enum gap g)
{
    if (g > c->gap)
        c->gap = g;
}

static void
put_text(struct collect *c, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p != '\0') {
        size_t n;

        /* ASCII whitespace, control characters and NBSP (C2 A0) separate words. */
        if (*p <= ' ') {
            gap(c, GAP_SPACE);
            p++;
            continue;
        }
        if (p[0] == 0xc2 && p[1] == 0xa0) {
            gap(c, GAP_SPACE);
            p += 2;
            continue;
        }
        if (c->out.len > 0 && c->gap != GAP_NONE)
            buf_put(&c->out, c->gap == GAP_PARA ? "\n\n" : c->gap == GAP_LINE ? "\n" : " ");
        c->gap = GAP_NONE;
        for (n = 0; p[n] != '\0' && p[n] > ' ' && !(p[n] == 0xc2 && p[n + 1] == 0xa0); n++)
            ;
        text_append_utf8(&c->out, (const char *)p, n);
        p += n;
    }
}

static void
walk(struct collect *c, xmlNode *n, int depth)
{
    for (; n != NULL; n = n->next) {
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            if (n->content != NULL)
                put_text(c, (const char *)n->content);
            continue;
        }
        if (n->type != XML_ELEMENT_NODE || text_node_skipped(n))
            continue;
        if (strcasecmp((const char *)n->name, "br") == 0) {
            gap(c, GAP_LINE);
            continue;
        }
        bool block = in_list((const char *)n->name, block_tags);
        if (block)
            gap(c, GAP_PARA);
        if (depth < 256) /* libxml2 caps nesting too; a bound keeps the stack small */
            walk(c, n->children, depth + 1);
        if (block)
            gap(c, GAP_PARA);
    }
}

char *
text_of_node(xmlNode *n)
{
    struct collect c = {0};

    if (n == NULL)
        return NULL;
    if (n->type == XML_ELEMENT_NODE)
        walk(&c, n->children, 0);
    else
        walk(&c, n, 0);
    if (c.out.oom || c.out.len == 0) {
        buf_fini(&c.out);
        return NULL;
    }
    return c.out.data;
}

char *
text_of_html(const char *html, size_t len)
{
    htmlDocPtr doc;
    char *text;

    if (html == NULL || len == 0 || len > INT32_MAX)
        return NULL;
    xml_quiet();
    doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
                         HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                             HTML_PARSE_NONET | HTML_PARSE_NOBLANKS);
    if (doc == NULL)
        return NULL;
    text = text_of_node(xmlDocGetRootElement(doc));
    xmlFreeDoc(doc);
    return text;
}

char *
text_clean(const char *s)
{
    struct collect c = {0};

    if (s == NULL)
        return NULL;
    put_text(&c, s);
    if (c.out.oom || c.out.len == 0) {
        buf_fini(&c.out);
        return NULL;
    }
    return c.out.data;
}
