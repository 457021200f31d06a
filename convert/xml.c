/* convert/xml.c - XML to JSON and back, the mapping xmltodict made familiar
 * (docs/architecture.md "Conversion"):
 *   <a x="1"><b>t</b><b/><c>u<d/></c></a>
 *   {"a": {"@x": "1", "b": ["t", null], "c": {"#text": "u", "d": null}}}
 * An element with neither attributes nor child elements is its text, or
 * null when it has none; otherwise an object of "@attribute"s, children by
 * name (an array when a name repeats) and "#text" (its text pieces joined,
 * trimmed). Names keep their prefixes ("dc:creator"); comments and
 * processing instructions go. libxml2 parses with no network and no entity
 * substitution, and a document declaring entities is refused (an entity
 * bomb expands at every read of the text). */
#include "convert/internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common/json.h"
#include "common/xml_quiet.h"

#define XML_MAX_DEPTH 256

/* "prefix:name" or "name", into b (reset first). */
static void
qname(struct buf *b, const xmlNode *n)
{
    buf_reset(b);
    if (n->ns != NULL && n->ns->prefix != NULL)
        buf_printf(b, "%s:", (const char *)n->ns->prefix);
    buf_put(b, (const char *)n->name);
}

static char *
trimmed(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    return strndup(s, n);
}

/* One conversion's walk: the output's size is counted as the tree grows,
 * exactly as cJSON_PrintUnformatted() will write it, so that a small input
 * whose JSON would pass max_output is refused before the tree is built,
 * not after it was built and printed. */
struct walk {
    struct convert_watch *watch;
    size_t max_output, size;
    char *err;
    size_t errlen;
};

/* The bytes cJSON writes for the string s: quotes, and escapes for '"',
 * '\\' and control characters. */
static size_t
json_str_size(const char *s)
{
    size_t n = 2;

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        n += *p == '"' || *p == '\\' || *p == '\b' || *p == '\f' || *p == '\n' || *p == '\r' ||
                     *p == '\t'
                 ? 2
                 : *p < 0x20 ? 6 : 1;
    return n;
}

/* Count n more output bytes: false past max_output (err says so). */
static bool
grow(struct walk *w, size_t n)
{
    w->size += n;
    if (w->size <= w->max_output)
        return true;
    snprintf(w->err, w->errlen, "the JSON would be larger than %zu bytes", w->max_output);
    return false;
}

/* A member "key":value joining obj (its value counted already). */
static bool
grow_member(struct walk *w, const cJSON *obj, const char *key)
{
    return grow(w, (obj->child != NULL ? 1 : 0) + json_str_size(key) + 1);
}

/* An element's children by name, for the "array when a name repeats" rule:
 * open addressing on the members of the element's object, so that an
 * element with many differently named children costs no scan per child. */
struct names {
    cJSON **slot;
    size_t cap, n;
};

static size_t
name_hash(const char *s)
{
    size_t h = 2166136261u;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The member named name, or NULL; *at is where it goes when absent. */
static cJSON *
names_find(const struct names *h, const char *name, size_t *at)
{
    size_t i = name_hash(name) & (h->cap - 1);

    while (h->slot[i] != NULL && strcmp(h->slot[i]->string, name) != 0)
        i = (i + 1) & (h->cap - 1);
    *at = i;
    return h->slot[i];
}

/* Room for one more name (kept under half full). */
static bool
names_reserve(struct names *h)
{
    struct names bigger;
    size_t at;

    if (h->n + 1 <= h->cap / 2)
        return true;
    bigger.cap = h->cap > 0 ? h->cap * 2 : 16;
    bigger.n = h->n;
    if ((bigger.slot = calloc(bigger.cap, sizeof *bigger.slot)) == NULL)
        return false;
    for (size_t i = 0; i < h->cap; i++)
        if (h->slot[i] != NULL) {
            names_find(&bigger, h->slot[i]->string, &at);
            bigger.slot[at] = h->slot[i];
        }
    free(h->slot);
    *h = bigger;
    return true;
}

/* Turn member m (a child's value) into the array [m's value] in place: its
 * key, its place among the members and the name index stay. */
static bool
make_array(cJSON *m)
{
    cJSON *first = cJSON_CreateNull();

    if (first == NULL)
        return false;
    first->type = m->type;
    first->valuestring = m->valuestring;
    first->child = m->child;
    m->valuestring = NULL;
    m->child = NULL;
    m->type = cJSON_Array;
    return cJSON_AddItemToArray(m, first);
}

static cJSON *
element(struct walk *w, xmlNode *n, int depth)
{
    struct buf text = {0}, name = {0};
    struct names names = {0};
    bool structured = n->properties != NULL;
    cJSON *obj = NULL, *out = NULL;

    if (depth > XML_MAX_DEPTH) {
        snprintf(w->err, w->errlen, "elements nested deeper than %d", XML_MAX_DEPTH);
        return NULL;
    }
    if (convert_watch_stop(w->watch, 0, 0, w->err, w->errlen))
        return NULL;
    for (xmlNode *c = n->children; c != NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE)
            structured = true;
        else if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) &&
                 c->content != NULL)
            buf_put(&text, (const char *)c->content);
    }
    if (text.oom)
        goto oom;
    if (!structured) {
        char *t = text.len > 0 ? trimmed(text.data, text.len) : NULL;
        bool empty = t == NULL || t[0] == '\0';
        /* Text of a leaf keeps its spaces unless it is only spaces. */
        free(t);
        if (!grow(w, empty ? 4 : json_str_size(text.data)))
            goto fail;
        if ((out = empty ? cJSON_CreateNull() : cJSON_CreateString(text.data)) == NULL)
            goto oom;
        buf_fini(&text);
        return out;
    }
    if (!grow(w, 2)) /* {} */
        goto fail;
    if ((obj = cJSON_CreateObject()) == NULL)
        goto oom;
    for (xmlAttr *a = n->properties; a != NULL; a = a->next) {
        xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
        const char *value = v != NULL ? (const char *)v : "";
        buf_reset(&name);
        buf_put(&name, "@");
        if (a->ns != NULL && a->ns->prefix != NULL)
            buf_printf(&name, "%s:", (const char *)a->ns->prefix);
        buf_put(&name, (const char *)a->name);
        if (!name.oom && (!grow(w, json_str_size(value)) || !grow_member(w, obj, name.data))) {
            xmlFree(v);
            goto fail;
        }
        if (name.oom || !cJSON_AddItemToObject(obj, name.data, cJSON_CreateString(value))) {
            xmlFree(v);
            goto oom;
        }
        xmlFree(v);
    }
    for (xmlNode *c = n->children; c != NULL; c = c->next) {
        cJSON *v, *had;
        size_t at;
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if ((v = element(w, c, depth + 1)) == NULL)
            goto fail;
        qname(&name, c);
        if (name.oom || !names_reserve(&names)) {
            cJSON_Delete(v);
            goto oom;
        }
        /* Attributes are not in the index: "@x" is never an element's name. */
        had = names_find(&names, name.data, &at);
        if (had == NULL) {
            if (!grow_member(w, obj, name.data)) {
                cJSON_Delete(v);
                goto fail;
            }
            if (!cJSON_AddItemToObject(obj, name.data, v)) {
                cJSON_Delete(v);
                goto oom;
            }
            names.slot[at] = v; /* v itself is the member, its key a copy of name */
            names.n++;
            continue;
        }
        /* A name seen before makes an array (element values are never
         * arrays): "[" "," "]" around the first, "," before each next. */
        if (!grow(w, cJSON_IsArray(had) ? 1 : 3)) {
            cJSON_Delete(v);
            goto fail;
        }
        if ((!cJSON_IsArray(had) && !make_array(had)) || !cJSON_AddItemToArray(had, v)) {
            cJSON_Delete(v);
            goto oom;
        }
    }
    if (text.len > 0) {
        char *t = trimmed(text.data, text.len);
        if (t != NULL && t[0] != '\0') {
            if (!grow(w, json_str_size(t)) || !grow_member(w, obj, "#text")) {
                free(t);
                goto fail;
            }
            cJSON_AddStringToObject(obj, "#text", t);
        }
        free(t);
    }
    buf_fini(&text);
    buf_fini(&name);
    free(names.slot);
    return obj;
oom:
    snprintf(w->err, w->errlen, "out of memory");
fail:
    cJSON_Delete(obj);
    buf_fini(&text);
    buf_fini(&name);
    free(names.slot);
    return NULL;
}

int
convert_xml_to_json(const char *in, size_t len, size_t max_output, struct buf *out, char *err,
                    size_t errlen)
{
    return convert_xml_to_json_w(in, len, max_output, NULL, out, err, errlen);
}

int
convert_xml_to_json_w(const char *in, size_t len, size_t max_output, struct convert_watch *watch,
                      struct buf *out, char *err, size_t errlen)
{
    const int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                     XML_PARSE_NOCDATA;
    struct walk w = {.watch = watch, .max_output = max_output, .err = err, .errlen = errlen};
    xmlDocPtr doc = NULL;
    xmlNode *root;
    cJSON *top = NULL, *value;
    char *text = NULL;
    struct buf name = {0};
    int rc = -1;

    xml_quiet();
    if (len > INT32_MAX || (doc = xmlReadMemory(in, (int)len, NULL, NULL, opts)) == NULL ||
        (root = xmlDocGetRootElement(doc)) == NULL) {
        const xmlError *e = xmlGetLastError();
        snprintf(err, errlen, "not well-formed XML%s%s", e != NULL && e->message ? ": " : "",
                 e != NULL && e->message ? e->message : "");
        /* libxml2's messages end in a newline */
        err[strcspn(err, "\n")] = '\0';
        xmlFreeDoc(doc);
        return -1;
    }
    if (doc->intSubset != NULL &&
        (doc->intSubset->entities != NULL || doc->intSubset->pentities != NULL)) {
        snprintf(err, errlen, "the document declares XML entities: refused");
        goto done;
    }
    qname(&name, root);
    if (name.oom) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (!grow(&w, 2 + json_str_size(name.data) + 1)) /* {"root":} */
        goto done;
    if ((value = element(&w, root, 1)) == NULL)
        goto done;
    if ((top = cJSON_CreateObject()) == NULL || !cJSON_AddItemToObject(top, name.data, value)) {
        cJSON_Delete(value); /* not added: still ours */
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if ((text = json_print(top)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (strlen(text) > max_output) { /* counted already: a guard */
        snprintf(err, errlen, "the JSON would be larger than %zu bytes", max_output);
        goto done;
    }
    buf_put(out, text);
    rc = out->oom ? -1 : 0;
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
done:
    cJSON_free(text);
    cJSON_Delete(top);
    buf_fini(&name);
    xmlFreeDoc(doc);
    return rc;
}

/* ----- JSON -> XML ----- */

static bool
valid_name(const char *s)
{
    return s != NULL && s[0] != '\0' && xmlValidateName(BAD_CAST s, 0) == 0;
}

/* A scalar as text: malloc'd ("" for null). */
static char *
scalar_text(const cJSON *v)
{
    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    if (cJSON_IsNull(v))
        return strdup("");
    char *j = json_print(v), *s = j != NULL ? strdup(j) : NULL;
    cJSON_free(j);
    return s;
}

/* One conversion's build: the XML's size is counted as the tree grows (at
 * least what xmlDocDump writes: names, text and attributes, without the
 * indentation or escapes), so that a small JSON naming long elements many
 * times is refused before the tree is built. */
struct build {
    struct convert_watch *watch;
    size_t max_output, size;
    char *err;
    size_t errlen;
};

/* Count n more output bytes: false past max_output (err says so). */
static bool
count(struct build *b, size_t n)
{
    b->size += n;
    if (b->size <= b->max_output)
        return true;
    snprintf(b->err, b->errlen, "the XML would be larger than %zu bytes", b->max_output);
    return false;
}

/* A new child element of parent: <name/> counted. NULL with err set. */
static xmlNode *
new_child(struct build *b, xmlNode *parent, const char *name)
{
    xmlNode *c;

    if (!count(b, strlen(name) + 3))
        return NULL;
    if ((c = xmlNewChild(parent, NULL, BAD_CAST name, NULL)) == NULL)
        snprintf(b->err, b->errlen, "out of memory");
    return c;
}

static int fill(struct build *b, xmlNode *n, const cJSON *v, int depth);

/* Children named name for value v: one element, or one per item of an array. */
static int
add_elements(struct build *b, xmlNode *parent, const char *name, const cJSON *v, int depth)
{
    const cJSON *item;
    xmlNode *c;

    if (!valid_name(name)) {
        snprintf(b->err, b->errlen, "\"%.100s\" is not a valid XML element name", name);
        return -1;
    }
    if (cJSON_IsArray(v)) {
        cJSON_ArrayForEach(item, v)
        {
            /* An array inside an array has no name of its own: <item>s. */
            if ((c = new_child(b, parent, name)) == NULL)
                return -1;
            if (cJSON_IsArray(item) ? add_elements(b, c, "item", item, depth + 1)
                                    : fill(b, c, item, depth + 1))
                return -1;
        }
        return 0;
    }
    if ((c = new_child(b, parent, name)) == NULL)
        return -1;
    return fill(b, c, v, depth + 1);
}

/* Element n's attributes, text and children from v. */
static int
fill(struct build *b, xmlNode *n, const cJSON *v, int depth)
{
    const cJSON *kv;

    if (depth > XML_MAX_DEPTH) {
        snprintf(b->err, b->errlen, "nested deeper than %d", XML_MAX_DEPTH);
        return -1;
    }
    if (convert_watch_stop(b->watch, 0, 0, b->err, b->errlen))
        return -1;
    if (!cJSON_IsObject(v)) {
        char *t = scalar_text(v);
        if (t == NULL || !count(b, strlen(t))) {
            free(t);
            return -1;
        }
        xmlNodeAddContent(n, BAD_CAST t);
        free(t);
        return 0;
    }
    cJSON_ArrayForEach(kv, v)
    {
        const char *key = kv->string;
        if (key[0] == '@') {
            char *t;
            if (!valid_name(key + 1)) {
                snprintf(b->err, b->errlen, "\"%.100s\" is not a valid XML attribute name",
                         key + 1);
                return -1;
            }
            if (cJSON_IsObject(kv) || cJSON_IsArray(kv)) {
                snprintf(b->err, b->errlen,
                         "attribute \"%.100s\" must be a string, number or boolean", key + 1);
                return -1;
            }
            if ((t = scalar_text(kv)) == NULL || !count(b, strlen(key) + strlen(t) + 3)) {
                free(t);
                return -1;
            }
            xmlNewProp(n, BAD_CAST(key + 1), BAD_CAST t);
            free(t);
        } else if (strcmp(key, "#text") == 0) {
            char *t = cJSON_IsObject(kv) || cJSON_IsArray(kv) ? NULL : scalar_text(kv);
            if (t == NULL) {
                snprintf(b->err, b->errlen, "\"#text\" must be a string, number or boolean");
                return -1;
            }
            if (!count(b, strlen(t))) {
                free(t);
                return -1;
            }
            xmlNodeAddContent(n, BAD_CAST t);
            free(t);
        } else if (add_elements(b, n, key, kv, depth) != 0) {
            return -1;
        }
    }
    return 0;
}

int
convert_json_to_xml(const char *in, size_t len, size_t max_output, struct buf *out, char *err,
                    size_t errlen)
{
    return convert_json_to_xml_w(in, len, max_output, NULL, out, err, errlen);
}

int
convert_json_to_xml_w(const char *in, size_t len, size_t max_output, struct convert_watch *watch,
                      struct buf *out, char *err, size_t errlen)
{
    struct build b = {.watch = watch, .max_output = max_output, .err = err, .errlen = errlen};
    char why[256];
    cJSON *doc_json;
    xmlDocPtr doc = NULL;
    xmlNode *root;
    xmlChar *text = NULL;
    const char *root_name = "root";
    bool named; /* {"name": value}: the root is name, filled from value */
    int n = 0, rc = -1;

    err[0] = '\0';
    if ((doc_json = json_parse(in, len, why, sizeof why)) == NULL) {
        snprintf(err, errlen, "not JSON: %s", why);
        return -1;
    }
    if ((doc = xmlNewDoc(BAD_CAST "1.0")) == NULL)
        goto done;
    /* {"name": value} names the root; anything else goes inside <root>. */
    named = cJSON_IsObject(doc_json) && cJSON_GetArraySize(doc_json) == 1 &&
            doc_json->child->string[0] != '@' && strcmp(doc_json->child->string, "#text") != 0 &&
            !cJSON_IsArray(doc_json->child);
    if (named) {
        root_name = doc_json->child->string;
        if (!valid_name(root_name)) {
            snprintf(err, errlen, "\"%.100s\" is not a valid XML element name", root_name);
            goto done;
        }
    }
    if (!count(&b, strlen(root_name) + 3) ||
        (root = xmlNewDocNode(doc, NULL, BAD_CAST root_name, NULL)) == NULL)
        goto done;
    xmlDocSetRootElement(doc, root);
    if (named) {
        if (fill(&b, root, doc_json->child, 1) != 0)
            goto done;
    } else if ((cJSON_IsArray(doc_json) ? add_elements(&b, root, "item", doc_json, 1)
                                        : fill(&b, root, doc_json, 1)) != 0) {
        goto done;
    }
    xmlDocDumpFormatMemoryEnc(doc, &text, &n, "UTF-8", 1);
    if (text == NULL)
        goto done;
    if ((size_t)n > max_output) {
        snprintf(err, errlen, "the XML would be larger than %zu bytes", max_output);
        goto done;
    }
    buf_putn(out, (const char *)text, (size_t)n);
    rc = out->oom ? -1 : 0;
done:
    if (rc < 0 && err[0] == '\0')
        snprintf(err, errlen, "out of memory");
    xmlFree(text);
    xmlFreeDoc(doc);
    cJSON_Delete(doc_json);
    return rc;
}
