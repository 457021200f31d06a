/* common/json.c - see json.h. */
#include "common/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

char *
json_print(const cJSON *v)
{
    return v == NULL ? NULL : cJSON_PrintUnformatted(v);
}

/* Length of the valid UTF-8 sequence at s[0..len), or 0 when it is not one
 * (overlong, surrogate, out of range, cut short). */
static size_t
utf8_seq_len(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    unsigned int cp;

    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        n = 1;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 2;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 3;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len <= n) /* truncated sequence */
        return 0;
    for (size_t k = 1; k <= n; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n + 1;
}

bool
utf8_valid(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;

    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

void
utf8_scrub(char *str)
{
    unsigned char *s = (unsigned char *)str;
    size_t len = strlen(str);

    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len(s + i, len - i);
        if (n == 0) {
            s[i] = '?';
            n = 1;
        }
        i += n;
    }
}

/* Checks cJSON 1.7.15 does not make: nesting (its own limit is 1000) and
 * \u0000 in strings, which it silently cuts the string at (losing data).
 * NULL when fine, else the reason. */
static const char *
scan(const char *buf, size_t len, int max)
{
    int depth = 0;
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        char c = buf[i];

        if (in_str) {
            if (c == '\0') /* not JSON (unescaped), and cJSON would cut the string there */
                return "a NUL byte inside a string";
            if (c == '\\') {
                if (len - i > 5 && memcmp(buf + i + 1, "u0000", 5) == 0)
                    return "\\u0000 (NUL) in a string is not supported";
                i++;
            } else if (c == '"') {
                in_str = false;
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return "too deep";
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return NULL;
}

cJSON *
json_parse(const char *buf, size_t len, char *err, size_t errlen)
{
    const char *end = NULL, *why;
    cJSON *v;

    if (!utf8_valid(buf, len)) {
        snprintf(err, errlen, "not valid UTF-8");
        return NULL;
    }
    if ((why = scan(buf, len, JSON_MAX_DEPTH)) != NULL) {
        if (strcmp(why, "too deep") == 0)
            snprintf(err, errlen, "JSON nested deeper than %d levels", JSON_MAX_DEPTH);
        else
            snprintf(err, errlen, "%s", why);
        return NULL;
    }
    v = cJSON_ParseWithLengthOpts(buf, len, &end, false);
    if (v == NULL) {
        size_t at = end != NULL && end >= buf ? (size_t)(end - buf) : 0;
        snprintf(err, errlen, "malformed JSON near byte %zu", at);
        return NULL;
    }
    /* Only whitespace may follow the value. */
    for (const char *p = end; p < buf + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            snprintf(err, errlen, "malformed JSON: trailing data at byte %zu", (size_t)(p - buf));
            cJSON_Delete(v);
            return NULL;
        }
    }
    return v;
}

char *
xstrdup_or_null(const char *s)
{
    return s == NULL ? NULL : strdup(s);
}
