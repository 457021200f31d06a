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
#include "convert/convert.h"

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

static cJSON *
element(xmlNode *n, int depth, char *err, size_t errlen)
{
    struct buf text = {0}, name = {0};
    bool structured = n->properties != NULL;
    cJSON *obj, *out = NULL;

    if (depth > XML_MAX_DEPTH) {
        snprintf(err, errlen, "elements nested deeper than %d", XML_MAX_DEPTH);
        return NULL;
    }
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
        /* Text of a leaf keeps its spaces unless it is only spaces. */
        out = t == NULL || t[0] == '\0' ? cJSON_CreateNull() : cJSON_CreateString(text.data);
        free(t);
        buf_fini(&text);
        return out != NULL ? out : (snprintf(err, errlen, "out of memory"), NULL);
    }
    if ((obj = cJSON_CreateObject()) == NULL)
        goto oom;
    for (xmlAttr *a = n->properties; a != NULL; a = a->next) {
        xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
        buf_reset(&name);
        buf_put(&name, "@");
        if (a->ns != NULL && a->ns->prefix != NULL)
            buf_printf(&name, "%s:", (const char *)a->ns->prefix);
        buf_put(&name, (const char *)a->name);
        if (name.oom || !cJSON_AddItemToObject(obj, name.data,
                                               cJSON_CreateString(v != NULL ? (char *)v : ""))) {
            xmlFree(v);
            cJSON_Delete(obj);
            goto oom;
        }
        xmlFree(v);
    }
    for (xmlNode *c = n->children; c != NULL; c = c->next) {
        cJSON *v;
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if ((v = element(c, depth + 1, err, errlen)) == NULL) {
            cJSON_Delete(obj);
            buf_fini(&text);
            buf_fini(&name);
            return NULL;
        }
        qname(&name, c);
        /* A name seen before makes an array (element values are never arrays). */
        cJSON *had = name.oom ? NULL : cJSON_GetObjectItemCaseSensitive(obj, name.data);
        bool added;
        if (had == NULL) {
            added = !name.oom && cJSON_AddItemToObject(obj, name.data, v);
        } else if (cJSON_IsArray(had)) {
            added = cJSON_AddItemToArray(had, v);
        } else { /* the second of a name: an array where the first one stood */
            cJSON *arr = cJSON_CreateArray(), *first = cJSON_Duplicate(had, true);
            added = arr != NULL && first != NULL && cJSON_AddItemToArray(arr, first) &&
                    cJSON_AddItemToArray(arr, v) &&
                    cJSON_ReplaceItemInObjectCaseSensitive(obj, name.data, arr);
            if (!added) {
                if (first != NULL && (arr == NULL || arr->child != first))
                    cJSON_Delete(first);
                cJSON_Delete(arr);
                v = NULL; /* in arr, freed with it, or never added: freed below */
            }
        }
        if (!added) {
            cJSON_Delete(v);
            cJSON_Delete(obj);
            goto oom;
        }
    }
    if (text.len > 0) {
        char *t = trimmed(text.data, text.len);
        if (t != NULL && t[0] != '\0')
            cJSON_AddStringToObject(obj, "#text", t);
        free(t);
    }
    buf_fini(&text);
    buf_fini(&name);
    return obj;
oom:
    buf_fini(&text);
    buf_fini(&name);
    snprintf(err, errlen, "out of memory");
    return NULL;
}

int
convert_xml_to_json(const char *in, size_t len, size_t max_output, struct buf *out, char *err,
                    size_t errlen)
{
    const int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                     XML_PARSE_NOCDATA;
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
    if ((value = element(root, 1, err, errlen)) == NULL)
        goto done;
    qname(&name, root);
    if ((top = cJSON_CreateObject()) == NULL || name.oom ||
        !cJSON_AddItemToObject(top, name.data, value)) {
        if (top == NULL || name.oom)
            cJSON_Delete(value);
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if ((text = json_print(top)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (strlen(text) > max_output) {
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

static int fill(xmlNode *n, const cJSON *v, int depth, char *err, size_t errlen);

/* Children named name for value v: one element, or one per item of an array. */
static int
add_elements(xmlNode *parent, const char *name, const cJSON *v, int depth, char *err,
             size_t errlen)
{
    const cJSON *item;

    if (!valid_name(name)) {
        snprintf(err, errlen, "\"%.100s\" is not a valid XML element name", name);
        return -1;
    }
    if (cJSON_IsArray(v)) {
        cJSON_ArrayForEach(item, v)
        {
            /* An array inside an array has no name of its own: <item>s. */
            xmlNode *c = xmlNewChild(parent, NULL, BAD_CAST name, NULL);
            if (c == NULL)
                return -1;
            if (cJSON_IsArray(item) ? add_elements(c, "item", item, depth + 1, err, errlen)
                                    : fill(c, item, depth + 1, err, errlen))
                return -1;
        }
        return 0;
    }
    xmlNode *c = xmlNewChild(parent, NULL, BAD_CAST name, NULL);
    return c == NULL ? -1 : fill(c, v, depth + 1, err, errlen);
}

/* Element n's attributes, text and children from v. */
static int
fill(xmlNode *n, const cJSON *v, int depth, char *err, size_t errlen)
{
    const cJSON *kv;

    if (depth > XML_MAX_DEPTH) {
        snprintf(err, errlen, "nested deeper than %d", XML_MAX_DEPTH);
        return -1;
    }
    if (!cJSON_IsObject(v)) {
        char *t = scalar_text(v);
        if (t == NULL)
            return -1;
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
                snprintf(err, errlen, "\"%.100s\" is not a valid XML attribute name", key + 1);
                return -1;
            }
            if (cJSON_IsObject(kv) || cJSON_IsArray(kv)) {
                snprintf(err, errlen, "attribute \"%.100s\" must be a string, number or boolean",
                         key + 1);
                return -1;
            }
            if ((t = scalar_text(kv)) == NULL)
                return -1;
            xmlNewProp(n, BAD_CAST(key + 1), BAD_CAST t);
            free(t);
        } else if (strcmp(key, "#text") == 0) {
            char *t = cJSON_IsObject(kv) || cJSON_IsArray(kv) ? NULL : scalar_text(kv);
            if (t == NULL) {
                snprintf(err, errlen, "\"#text\" must be a string, number or boolean");
                return -1;
            }
            xmlNodeAddContent(n, BAD_CAST t);
            free(t);
        } else if (add_elements(n, key, kv, depth, err, errlen) != 0) {
            return -1;
        }
    }
    return 0;
}

int
convert_json_to_xml(const char *in, size_t len, size_t max_output, struct buf *out, char *err,
                    size_t errlen)
{
    char why[256];
    cJSON *doc_json;
    xmlDocPtr doc = NULL;
    xmlNode *root;
    xmlChar *text = NULL;
    int n = 0, rc = -1;

    err[0] = '\0';
    if ((doc_json = json_parse(in, len, why, sizeof why)) == NULL) {
        snprintf(err, errlen, "not JSON: %s", why);
        return -1;
    }
    if ((doc = xmlNewDoc(BAD_CAST "1.0")) == NULL)
        goto done;
    /* {"name": value} names the root; anything else goes inside <root>. */
    if (cJSON_IsObject(doc_json) && cJSON_GetArraySize(doc_json) == 1 &&
        doc_json->child->string[0] != '@' && strcmp(doc_json->child->string, "#text") != 0 &&
        !cJSON_IsArray(doc_json->child)) {
        if (!valid_name(doc_json->child->string)) {
            snprintf(err, errlen, "\"%.100s\" is not a valid XML element name",
                     doc_json->child->string);
            goto done;
        }
        root = xmlNewDocNode(doc, NULL, BAD_CAST doc_json->child->string, NULL);
        xmlDocSetRootElement(doc, root);
        if (fill(root, doc_json->child, 1, err, errlen) != 0)
            goto done;
    } else {
        root = xmlNewDocNode(doc, NULL, BAD_CAST "root", NULL);
        xmlDocSetRootElement(doc, root);
        if ((cJSON_IsArray(doc_json) ? add_elements(root, "item", doc_json, 1, err, errlen)
                                     : fill(root, doc_json, 1, err, errlen)) != 0)
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
