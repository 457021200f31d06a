/* convert/format.c - what a file is (from its bytes, checked against its
 * name) and what it can become. Links nothing but libc, cJSON and common/:
 * the webapp, which never converts, names and sniffs uploads with it. */
#include "convert/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ascii.h"

struct format {
    const char *name, *mime;
    bool text; /* UTF-8 text: its format comes from the name */
};

static const struct format formats[] = {
    {"csv", "text/csv; charset=utf-8", true},
    {"json", "application/json", true},
    {"xml", "application/xml", true},
    {"html", "text/html; charset=utf-8", true},
    {"txt", "text/plain; charset=utf-8", true},
    {"md", "text/markdown; charset=utf-8", true},
    {"png", "image/png", false},
    {"jpeg", "image/jpeg", false},
    {"webp", "image/webp", false},
    {"gif", "image/gif", false},
    {"pdf", "application/pdf", false},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", false},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", false},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", false},
    {"odt", "application/vnd.oasis.opendocument.text", false},
    {"text", "text/plain; charset=utf-8", true}, /* convert_sniff()'s word for any text */
    {"zip", "application/zip", false},
};

/* Extensions that name a format under another name. */
static const struct {
    const char *ext, *format;
} aliases[] = {{"jpg", "jpeg"}, {"jpe", "jpeg"}, {"htm", "html"}, {"xhtml", "html"},
               {"markdown", "md"}, {"text", "txt"}};

static const struct format *
find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
        if (strcmp(formats[i].name, name) == 0)
            return &formats[i];
    return NULL;
}

const char *
convert_format_of_ext(const char *ext)
{
    if (ext == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
        if (strcasecmp(aliases[i].ext, ext) == 0)
            return aliases[i].format;
    /* "text" and "zip" are what sniffing says, not formats a name can ask for. */
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
        if (strcasecmp(formats[i].name, ext) == 0 && strcmp(formats[i].name, "text") != 0 &&
            strcmp(formats[i].name, "zip") != 0)
            return formats[i].name;
    return NULL;
}

const char *
convert_format_of_name(const char *name)
{
    const char *dot, *slash;

    if (name == NULL)
        return NULL;
    dot = strrchr(name, '.');
    slash = strrchr(name, '/');
    if (dot == NULL || dot == name || (slash != NULL && dot < slash))
        return NULL;
    return convert_format_of_ext(dot + 1);
}

const char *
convert_mime(const char *format)
{
    const struct format *f = find(format);

    return f != NULL ? f->mime : "application/octet-stream";
}

/* ----- sniffing ----- */

static unsigned
le16(const unsigned char *p)
{
    return p[0] | (unsigned)p[1] << 8;
}

/* A ZIP archive's kind, from the names of the entries whose local headers
 * lie in the bytes we have: an OpenDocument's first entry is "mimetype",
 * stored, holding its type; an Office Open XML package has word/, xl/ or
 * ppt/ parts. */
static const char *
zip_kind(const unsigned char *d, size_t len)
{
    static const char odt[] = "application/vnd.oasis.opendocument.text";

    if (len >= 38 + sizeof odt - 1 && le16(d + 26) == 8 && memcmp(d + 30, "mimetype", 8) == 0 &&
        memcmp(d + 38, odt, sizeof odt - 1) == 0)
        return "odt";
    for (size_t i = 0; i + 30 <= len; i++) {
        size_t n;
        const char *name;
        if (memcmp(d + i, "PK\3\4", 4) != 0)
            continue;
        n = le16(d + i + 26);
        name = (const char *)d + i + 30;
        if (i + 30 + n > len)
            break;
        if (n > 5 && memcmp(name, "word/", 5) == 0)
            return "docx";
        if (n > 3 && memcmp(name, "xl/", 3) == 0)
            return "xlsx";
        if (n > 4 && memcmp(name, "ppt/", 4) == 0)
            return "pptx";
    }
    return "zip";
}

/* Whether d is UTF-8 text: valid sequences (one cut short by the end of the
 * sniffed bytes allowed), no NUL, and no control characters but tab, line
 * ends and form feed. */
static bool
is_text(const unsigned char *d, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned c = d[i];
        int n;
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f')
                return false;
            if (c == 0x7f)
                return false;
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3;
        else
            return false;
        for (int k = 1; k <= n; k++) {
            if (i + k >= len)
                return true; /* cut by the sniffing window */
            if ((d[i + k] & 0xc0) != 0x80)
                return false;
        }
        /* Overlong, surrogate and past-U+10FFFF forms. */
        if ((c == 0xe0 && d[i + 1] < 0xa0) || (c == 0xed && d[i + 1] > 0x9f) ||
            (c == 0xf0 && d[i + 1] < 0x90) || (c == 0xf4 && d[i + 1] > 0x8f))
            return false;
        i += (size_t)n + 1;
    }
    return true;
}

const char *
convert_sniff(const void *data, size_t len)
{
    const unsigned char *d = data;

    if (len > CONVERT_SNIFF_BYTES)
        len = CONVERT_SNIFF_BYTES;
    if (len >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "png";
    if (len >= 3 && memcmp(d, "\xff\xd8\xff", 3) == 0)
        return "jpeg";
    if (len >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
        return "gif";
    if (len >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return "webp";
    if (len >= 5 && memcmp(d, "%PDF-", 5) == 0)
        return "pdf";
    if (len >= 30 && memcmp(d, "PK\3\4", 4) == 0)
        return zip_kind(d, len);
    if (is_text(d, len))
        return "text";
    return NULL;
}

/* The format of text with no name to tell it: from its first characters. */
static const char *
text_kind(const char *s, size_t len)
{
    size_t i = 0;

    if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < len && ascii_is_space((unsigned char)s[i]))
        i++;
    if (i < len && (s[i] == '{' || s[i] == '['))
        return "json";
    if (len - i >= 14 && strncasecmp(s + i, "<!doctype html", 14) == 0)
        return "html";
    if (len - i >= 5 && strncasecmp(s + i, "<html", 5) == 0)
        return "html";
    if (i < len && s[i] == '<')
        return "xml";
    return "txt";
}

/* "a PNG image", "text", ... for messages. */
static const char *
described(const char *format)
{
    static const struct {
        const char *format, *words;
    } words[] = {{"png", "a PNG image"},   {"jpeg", "a JPEG image"},
                 {"gif", "a GIF image"},   {"webp", "a WebP image"},
                 {"pdf", "a PDF document"}, {"docx", "a Word document (DOCX)"},
                 {"xlsx", "an Excel workbook (XLSX)"},
                 {"pptx", "a PowerPoint presentation (PPTX)"},
                 {"odt", "an OpenDocument text (ODT)"},
                 {"zip", "a ZIP archive"},  {"text", "text"}};

    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcmp(words[i].format, format) == 0)
            return words[i].words;
    return format;
}

bool
convert_format_is_office(const char *format)
{
    return format != NULL && (strcmp(format, "docx") == 0 || strcmp(format, "xlsx") == 0 ||
                              strcmp(format, "pptx") == 0 || strcmp(format, "odt") == 0);
}

const char *
convert_identify(const void *data, size_t len, const char *name, char *err, size_t errlen)
{
    const char *sniffed = convert_sniff(data, len);
    const char *named = convert_format_of_name(name);
    const struct format *f = find(named);

    if (name == NULL || name[0] == '\0')
        name = "the file";
    if (sniffed == NULL) {
        snprintf(err, errlen, "%s is not a format we convert: its bytes are neither text nor a "
                 "known image, PDF or office document", name);
        return NULL;
    }
    if (strcmp(sniffed, "text") == 0) {
        if (f == NULL)
            return text_kind(data, len < CONVERT_SNIFF_BYTES ? len : CONVERT_SNIFF_BYTES);
        if (f->text)
            return f->name;
    } else if (named == NULL || strcmp(named, sniffed) == 0) {
        if (strcmp(sniffed, "zip") != 0)
            return sniffed;
    } else if (strcmp(sniffed, "zip") == 0 && convert_format_is_office(named)) {
        return named; /* its telling parts lie past the sniffed bytes */
    }
    if (strcmp(sniffed, "zip") == 0 && named == NULL)
        snprintf(err, errlen, "%s is a ZIP archive, not a format we convert", name);
    else
        snprintf(err, errlen, "%s is not what its name says: its name says %s, its bytes are %s",
                 name, named, described(sniffed));
    return NULL;
}

/* ----- what can become what ----- */

static bool
is_program(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Looked up each time (one access() per PATH entry): a test or an operator
 * may change CONVERT_SOFFICE, and it is asked once per conversion. */
const char *
convert_soffice_path(void)
{
    static char found[4096];
    const char *prog = getenv("CONVERT_SOFFICE"), *path = getenv("PATH");

    if (prog != NULL && prog[0] != '\0')
        return is_program(prog) ? prog : NULL;
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        size_t n = strcspn(path, ":");
        if (n > 0 && n < sizeof found - sizeof "/soffice") {
            memcpy(found, path, n);
            memcpy(found + n, "/soffice", sizeof "/soffice");
            if (is_program(found))
                return found;
        }
        path += n + (path[n] == ':');
    }
    return NULL;
}

bool
convert_office_available(void)
{
    return convert_soffice_path() != NULL;
}

static const struct {
    const char *from, *to;
} pairs[] = {
    {"csv", "json"},  {"json", "csv"},  {"json", "xml"},  {"xml", "json"},  {"html", "txt"},
    {"md", "html"},   {"png", "png"},   {"png", "jpeg"},  {"png", "webp"},  {"jpeg", "png"},
    {"jpeg", "jpeg"}, {"jpeg", "webp"}, {"webp", "png"},  {"webp", "jpeg"}, {"webp", "webp"},
    {"gif", "png"},   {"gif", "jpeg"},  {"gif", "webp"},  {"docx", "pdf"},  {"odt", "pdf"},
    {"xlsx", "pdf"},  {"pptx", "pdf"},
};

bool
convert_supported(const char *from, const char *to)
{
    if (from == NULL || to == NULL)
        return false;
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++)
        if (strcmp(pairs[i].from, from) == 0 && strcmp(pairs[i].to, to) == 0)
            return !convert_format_is_office(from) || convert_office_available();
    return false;
}

void
convert_targets_text(const char *from, char *out, size_t outlen)
{
    size_t n = 0;

    out[0] = '\0';
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs && n < outlen; i++) {
        if (strcmp(pairs[i].from, from) == 0 && convert_supported(from, pairs[i].to)) {
            int k = snprintf(out + n, outlen - n, "%s%s", n > 0 ? ", " : "", pairs[i].to);
            n += k > 0 ? (size_t)k : 0;
        }
    }
}

cJSON *
convert_pairs_json(void)
{
    cJSON *o = cJSON_CreateObject();

    for (size_t i = 0; o != NULL && i < sizeof pairs / sizeof *pairs; i++) {
        cJSON *to;
        if (!convert_supported(pairs[i].from, pairs[i].to))
            continue;
        to = cJSON_GetObjectItemCaseSensitive(o, pairs[i].from);
        if (to == NULL && (to = cJSON_AddArrayToObject(o, pairs[i].from)) == NULL)
            break;
        cJSON_AddItemToArray(to, cJSON_CreateString(pairs[i].to));
    }
    return o;
}

void
convert_output_name(const char *name, const char *to, char *out, size_t outlen)
{
    const char *ext = strcmp(to, "jpeg") == 0 ? "jpg" : to;
    const char *dot = name != NULL ? strrchr(name, '.') : NULL;
    int stem;

    if (name == NULL || name[0] == '\0' || dot == name) {
        snprintf(out, outlen, "output.%s", ext);
        return;
    }
    stem = dot != NULL ? (int)(dot - name) : (int)strlen(name);
    if ((size_t)stem + strlen(ext) + 2 > outlen) /* cut on a character, never inside one */
        stem = outlen > strlen(ext) + 2 ? (int)utf8_prefix_len(name, outlen - strlen(ext) - 2) : 0;
    snprintf(out, outlen, "%.*s.%s", stem, name, ext);
}

static int
env_number(const char *name, double min, double max, double *out, char *err, size_t errlen)
{
    const char *v = getenv(name);
    char *end;
    double d;

    if (v == NULL || *v == '\0')
        return 0;
    d = strtod(v, &end);
    if (end == v || *end != '\0' || !(d >= min && d <= max)) {
        snprintf(err, errlen, "%s=%s: expected a number from %g to %g", name, v, min, max);
        return -1;
    }
    *out = d;
    return 0;
}

int
convert_limits_from_env(struct convert_job *job, char *err, size_t errlen)
{
    double out = (double)CONVERT_DEFAULT_MAX_OUTPUT, pixels = (double)CONVERT_DEFAULT_MAX_PIXELS;
    double in = (double)CONVERT_DEFAULT_MAX_INPUT, timeout = 300;

    if (env_number("CONVERT_MAX_INPUT", 1, 1e12, &in, err, errlen) < 0 ||
        env_number("CONVERT_MAX_OUTPUT", 1024, 1e12, &out, err, errlen) < 0 ||
        env_number("CONVERT_MAX_PIXELS", 1, 1e12, &pixels, err, errlen) < 0 ||
        env_number("CONVERT_TIMEOUT", 1, 86400, &timeout, err, errlen) < 0)
        return -1;
    job->max_input = (size_t)in;
    job->max_output = (size_t)out;
    job->max_pixels = (uint64_t)pixels;
    job->timeout_s = timeout;
    return 0;
}

/* ----- options ----- */

bool
convert_csv_delimiter_ok(char c)
{
    return c == ',' || c == ';' || c == '\t' || c == '|';
}

static int
int_option(const cJSON *v, int lo, int hi, int *out, char *err, size_t errlen)
{
    if (cJSON_IsNull(v))
        return 0;
    /* The range first: casting 1e300 to an integer is undefined. */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
        v->valuedouble != (double)(long long)v->valuedouble) {
        snprintf(err, errlen, "option %s must be a whole number from %d to %d", v->string, lo,
                 hi);
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

int
convert_options_parse(const cJSON *json, struct convert_options *opt, char *err, size_t errlen)
{
    const cJSON *v;

    memset(opt, 0, sizeof *opt);
    if (json == NULL || cJSON_IsNull(json))
        return 0;
    if (!cJSON_IsObject(json)) {
        snprintf(err, errlen, "options must be a JSON object");
        return -1;
    }
    cJSON_ArrayForEach(v, json) {
        if (strcmp(v->string, "delimiter") == 0) {
            const char *s = cJSON_GetStringValue(v);
            if (cJSON_IsNull(v))
                continue;
            if (s != NULL && strcmp(s, "tab") == 0)
                s = "\t";
            if (s == NULL || strlen(s) != 1 || !convert_csv_delimiter_ok(s[0])) {
                snprintf(err, errlen, "option delimiter must be one of \",\" \";\" \"|\" \"\\t\"");
                return -1;
            }
            opt->delimiter = s[0];
        } else if (strcmp(v->string, "width") == 0) {
            if (int_option(v, 1, 100000, &opt->width, err, errlen) < 0)
                return -1;
        } else if (strcmp(v->string, "height") == 0) {
            if (int_option(v, 1, 100000, &opt->height, err, errlen) < 0)
                return -1;
        } else if (strcmp(v->string, "quality") == 0) {
            if (int_option(v, 1, 100, &opt->quality, err, errlen) < 0)
                return -1;
        } else {
            snprintf(err, errlen, "unknown option %.64s: the options are delimiter, width, "
                     "height and quality", v->string);
            return -1;
        }
    }
    return 0;
}
