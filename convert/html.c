/* convert/html.c - HTML to plain text. libxml2's forgiving HTML parser
 * builds the tree (no network, no DTD, its own encoding detection: a
 * <meta charset> or a BOM, else UTF-8, falling back to Latin-1 on bytes that
 * are not UTF-8), and one walk writes the text:
 *   <h1>Title</h1><p>Some <a href="https://x.org/">words</a>.<br>More</p>
 *   <ul><li>one</li><li>two</li></ul>
 * becomes
 *   Title
 *
 *   Some words <https://x.org/>.
 *   More
 *
 *   - one
 *   - two
 * The walk follows parent and sibling pointers, not the C stack: depth costs
 * it no stack. libxml2 itself stops at 256 levels of nesting; a page past
 * that is refused (the rest of it would be lost without a word). */
#include "convert/internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "common/json.h"
#include "common/xml_quiet.h"

#define LINK_MAX 2048 /* a longer href is not worth a reader's time */

enum kind {
    INLINE, /* text flows through */
    BLOCK,  /* a paragraph: a blank line before and after */
    LINE,   /* a line of its own: a table row, a definition term */
    ITEM,   /* a list item: a line starting "- " */
    LIST,   /* ul, ol: a block whose items are indented when nested */
    CELL,   /* td, th: " | " between the cells of a row */
    BREAK,  /* br */
    PRE,    /* a block whose spaces and line breaks are kept */
    LINK,   /* a: "text <url>" */
    SKIP,   /* dropped with everything inside */
};

/* Sorted by name for bsearch(). libxml2's HTML parser lower-cases names. */
static const struct tag {
    const char *name;
    enum kind kind;
} tags[] = {
    {"a", LINK},           {"address", BLOCK}, {"article", BLOCK},  {"aside", BLOCK},
    {"blockquote", BLOCK}, {"body", BLOCK},    {"br", BREAK},       {"canvas", SKIP},
    {"caption", LINE},     {"center", BLOCK},  {"dd", LINE},        {"details", BLOCK},
    {"dialog", BLOCK},     {"dir", LIST},      {"div", BLOCK},      {"dl", BLOCK},
    {"dt", LINE},          {"embed", SKIP},    {"fieldset", BLOCK}, {"figcaption", BLOCK},
    {"figure", BLOCK},     {"footer", BLOCK},  {"form", BLOCK},     {"h1", BLOCK},
    {"h2", BLOCK},         {"h3", BLOCK},      {"h4", BLOCK},       {"h5", BLOCK},
    {"h6", BLOCK},         {"head", SKIP},     {"header", BLOCK},   {"hgroup", BLOCK},
    {"hr", BLOCK},         {"html", BLOCK},    {"iframe", SKIP},    {"legend", LINE},
    {"li", ITEM},          {"listing", PRE},   {"main", BLOCK},     {"math", SKIP},
    {"menu", LIST},        {"nav", BLOCK},     {"noscript", SKIP},  {"object", SKIP},
    {"ol", LIST},          {"option", LINE},   {"p", BLOCK},        {"plaintext", PRE},
    {"pre", PRE},          {"script", SKIP},   {"section", BLOCK},  {"select", SKIP},
    {"style", SKIP},       {"summary", LINE},  {"svg", SKIP},       {"table", BLOCK},
    {"td", CELL},          {"template", SKIP}, {"textarea", SKIP},  {"th", CELL},
    {"title", SKIP},       {"tr", LINE},       {"ul", LIST},        {"xmp", PRE},
};

static int
tag_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct tag *)elem)->name);
}

static enum kind
kind_of(const xmlNode *n)
{
    const struct tag *t;

    if (n->type != XML_ELEMENT_NODE || n->name == NULL)
        return INLINE;
    t = bsearch(n->name, tags, sizeof tags / sizeof *tags, sizeof *tags, tag_cmp);
    return t != NULL ? t->kind : INLINE;
}

/* The text being written. Separators are owed, not written, until the next
 * word: so nothing trails a line and nothing leads the text. */
struct text {
    struct buf *out;
    size_t base;         /* out->len when we started */
    int breaks;          /* line breaks owed before the next word: 0, 1 or 2 */
    bool space;          /* a space owed */
    bool cell;           /* " | " owed (between the cells of a row) */
    bool item;           /* "- " owed: the next word starts a list item */
    bool started;        /* a word written */
    int lists;           /* ul/ol open around us */
    int item_indent;     /* the lists open when the owed item began */
    int pre;             /* pre open around us */
    int row_cells;       /* cells seen in the current row */
    const xmlNode *link; /* the <a> whose text is being written, or NULL */
    char *href;          /* its URL, when worth showing */
    size_t link_start;   /* out->len at its first word, SIZE_MAX before */
};

static void
owe_breaks(struct text *t, int n)
{
    if (t->breaks < n)
        t->breaks = n;
}

/* Pay what is owed before a word. */
static void
settle(struct text *t)
{
    if (t->started) {
        if (t->breaks > 0)
            buf_putn(t->out, "\n\n", (size_t)t->breaks);
        else if (t->cell)
            buf_put(t->out, " | ");
        else if (t->space)
            buf_put(t->out, " ");
    }
    if (t->item) {
        for (int i = 1; i < t->item_indent; i++)
            buf_put(t->out, "  ");
        buf_put(t->out, "- ");
        t->item = false;
    }
    t->breaks = 0;
    t->space = t->cell = false;
    t->started = true;
    if (t->link != NULL && t->link_start == SIZE_MAX)
        t->link_start = t->out->len;
}

static bool
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* A text node's bytes: spaces collapsed (kept inside pre), other control
 * characters dropped, U+00A0 read as a space. */
static void
put_text(struct text *t, const char *s)
{
    while (*s != '\0') {
        unsigned char c = (unsigned char)*s;
        size_t n;

        if (t->pre > 0 && (c == '\n' || c == ' ' || c == '\t')) {
            settle(t);
            buf_putn(t->out, s, 1);
            s++;
            continue;
        }
        if (is_space(c) || (c == 0xc2 && (unsigned char)s[1] == 0xa0)) {
            t->space = true;
            s += c == 0xc2 ? 2 : 1;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            s++;
            continue;
        }
        /* A run of bytes that are neither spaces nor controls: one append. */
        for (n = 1; s[n] != '\0'; n++) {
            unsigned char d = (unsigned char)s[n];
            if (is_space(d) || d < 0x20 || d == 0x7f ||
                (d == 0xc2 && (unsigned char)s[n + 1] == 0xa0))
                break;
        }
        settle(t);
        buf_putn(t->out, s, n);
        s += n;
    }
}

/* Whether href is a URL a reader of plain text can follow: an absolute
 * http, https or ftp URL or a mailto:, with no control characters or spaces
 * inside (javascript: and relative links say nothing without the page). */
static char *
worth_showing(const xmlChar *href)
{
    static const char *const schemes[] = {"http://", "https://", "ftp://", "mailto:"};
    const char *s = (const char *)href;
    size_t n;

    if (s == NULL)
        return NULL;
    while (is_space((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_space((unsigned char)s[n - 1]))
        n--;
    if (n == 0 || n > LINK_MAX)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return NULL;
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
        size_t k = strlen(schemes[i]);
        if (n > k && strncasecmp(s, schemes[i], k) == 0)
            return strndup(s, n);
    }
    return NULL;
}

/* The link's text (what was written since it opened) against its URL:
 * " <url>" unless the text says it already. */
static void
close_link(struct text *t)
{
    if (t->href != NULL && !t->out->oom) {
        const char *text = t->link_start != SIZE_MAX ? t->out->data + t->link_start : "";
        bool same = strcmp(text, t->href) == 0 ||
                    (strncasecmp(t->href, "mailto:", 7) == 0 && strcmp(text, t->href + 7) == 0);
        if (!same) {
            t->space = true;
            settle(t);
            buf_printf(t->out, "<%s>", t->href);
        }
    }
    free(t->href);
    t->href = NULL;
    t->link = NULL;
}

/* Opening n: whether to walk into its children. */
static bool
enter(struct text *t, const xmlNode *n)
{
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
        if (n->content != NULL)
            put_text(t, (const char *)n->content);
        return false;
    }
    if (n->type != XML_ELEMENT_NODE)
        return false; /* comments, processing instructions, DTD */
    switch (kind_of(n)) {
    case SKIP:
        return false;
    case BLOCK:
    case PRE:
        owe_breaks(t, 2);
        t->pre += kind_of(n) == PRE;
        break;
    case LIST:
        /* A nested list goes on the next line; a top-level one is a block. */
        owe_breaks(t, t->lists > 0 ? 1 : 2);
        t->lists++;
        break;
    case LINE:
        owe_breaks(t, 1);
        t->row_cells = 0;
        break;
    case ITEM:
        owe_breaks(t, 1);
        t->item = true;
        t->item_indent = t->lists > 0 ? t->lists : 1;
        break;
    case CELL:
        if (t->row_cells++ > 0)
            t->cell = true;
        break;
    case BREAK:
        if (t->started)
            t->breaks = t->breaks < 2 ? t->breaks + 1 : 2;
        break;
    case LINK:
        if (t->link == NULL) {
            xmlChar *href = xmlGetProp(n, BAD_CAST "href");
            t->href = worth_showing(href);
            xmlFree(href);
            t->link = n;
            t->link_start = SIZE_MAX;
        }
        break;
    case INLINE:
        break;
    }
    return true;
}

static void
leave(struct text *t, const xmlNode *n)
{
    if (n->type != XML_ELEMENT_NODE)
        return;
    switch (kind_of(n)) {
    case BLOCK:
        owe_breaks(t, 2);
        break;
    case PRE:
        owe_breaks(t, 2);
        t->pre--;
        break;
    case LIST:
        t->lists--;
        owe_breaks(t, t->lists > 0 ? 1 : 2);
        break;
    case LINE:
    case ITEM:
        owe_breaks(t, 1);
        t->item = false; /* an empty item writes nothing */
        break;
    case LINK:
        if (t->link == n)
            close_link(t);
        break;
    default:
        break;
    }
}

int
convert_html_to_text(const char *in, size_t len, size_t max_output, struct buf *out, char *err,
                     size_t errlen)
{
    return convert_html_to_text_w(in, len, max_output, NULL, out, err, errlen);
}

int
convert_html_to_text_w(const char *in, size_t len, size_t max_output, struct convert_watch *w,
                       struct buf *out, char *err, size_t errlen)
{
    const int opts = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                     HTML_PARSE_NONET | HTML_PARSE_COMPACT;
    struct text t = {.out = out, .base = out->len};
    htmlParserCtxtPtr ctxt = NULL;
    htmlDocPtr doc = NULL;
    const xmlNode *n;
    bool stopped = false;

    if (len > INT32_MAX) {
        snprintf(err, errlen, "the HTML is larger than %d bytes", INT32_MAX);
        return -1;
    }
    xml_quiet();
    /* An empty document is no error: it has no text. */
    if (len > 0) {
        if ((ctxt = htmlNewParserCtxt()) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        doc = htmlCtxtReadMemory(ctxt, in, (int)len, NULL, NULL, opts);
        /* libxml2 stops at 256 levels (XML_PARSE_HUGE would lift that, and
         * make each stray end tag search the whole open-element stack:
         * quadratic). Refused, rather than the rest silently lost. */
        if (ctxt->errNo == XML_ERR_INTERNAL_ERROR && ctxt->lastError.message != NULL &&
            strstr(ctxt->lastError.message, "depth") != NULL) {
            snprintf(err, errlen, "the HTML nests elements deeper than 256 levels");
            xmlFreeDoc(doc);
            htmlFreeParserCtxt(ctxt);
            return -1;
        }
        htmlFreeParserCtxt(ctxt);
    }
    n = doc != NULL ? doc->children : NULL;
    /* Depth-first by the tree's own pointers: children, then the next
     * sibling, else back up through the parents, leaving each. */
    while (n != NULL && !out->oom && out->len - t.base <= max_output) {
        if ((stopped = convert_watch_stop(w, 0, 0, err, errlen)))
            break;
        if (enter(&t, n) && n->children != NULL) {
            n = n->children;
            continue;
        }
        for (;;) {
            leave(&t, n);
            if (n->next != NULL) {
                n = n->next;
                break;
            }
            n = n->parent;
            if (n == NULL || n->type == XML_DOCUMENT_NODE || n->type == XML_HTML_DOCUMENT_NODE) {
                n = NULL;
                break;
            }
        }
    }
    free(t.href);
    xmlFreeDoc(doc);
    if (stopped)
        return -1;
    if (t.started)
        buf_put(out, "\n");
    if (out->oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (out->len == t.base)
        return 0; /* nothing to read: an empty text (and out->data may be NULL) */
    if (out->len - t.base > max_output) {
        snprintf(err, errlen, "the text would be larger than %zu bytes", max_output);
        return -1;
    }
    /* libxml2 hands out UTF-8, but a page declaring one encoding and
     * holding bytes of another may leave a stray byte. */
    if (!utf8_valid(out->data + t.base, out->len - t.base))
        utf8_scrub(out->data + t.base);
    return 0;
}
