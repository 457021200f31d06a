/* convert/convert.h - the file converters: pure functions from the bytes of
 * one format to the bytes of another, each bounded (input, output, nesting).
 * Like scraper/, a library that knows no tables and no queue: the
 * convert.file task stores what it returns, `celeriac convert IN OUT` writes
 * it to a file. docs/architecture.md "Conversion" tells the mappings. */
#ifndef CELERIAC_CONVERT_H
#define CELERIAC_CONVERT_H

#include <stdbool.h>
#include <stddef.h>

#include <signal.h>
#include <stdint.h>

#include <cJSON.h>

#include "common/buf.h"

#define CONVERT_ERROR_MAX 512
#define CONVERT_DEFAULT_MAX_INPUT (100u * 1024 * 1024)
#define CONVERT_DEFAULT_MAX_OUTPUT (100u * 1024 * 1024)
#define CONVERT_DEFAULT_MAX_PIXELS 100000000ull /* 100 megapixels: a 20000x20000 PNG is refused */
#define CONVERT_SNIFF_BYTES 65536 /* enough of a file's start for convert_sniff() */

/* ----- formats (format.c): what a file is, what it can become -----
 * A format is named by its canonical lower-case extension: "csv", "json",
 * "xml", "html", "txt", "md", "png", "jpeg", "webp", "gif", "pdf", "docx",
 * "odt", "xlsx", "pptx". These functions link nothing but the C library, so
 * the webapp (which never converts) can use them. */

/* The canonical format a file extension or target names ("jpg" -> "jpeg",
 * "htm" -> "html", "markdown" -> "md", case-insensitive), or NULL. */
const char *convert_format_of_ext(const char *ext);
/* The format a file name's extension names, or NULL. */
const char *convert_format_of_name(const char *name);
/* What the first bytes of a file (up to CONVERT_SNIFF_BYTES of them) are:
 * a binary format by its signature ("png", "jpeg", "gif", "webp", "pdf",
 * "docx", "xlsx", "pptx", "odt", or "zip" for another ZIP archive), "text"
 * for UTF-8 text (a truncated last sequence allowed), or NULL: some other
 * binary. */
const char *convert_sniff(const void *data, size_t len);
/* The MIME type to store and serve a format (or "text", "zip") under;
 * "application/octet-stream" for NULL or anything unknown. */
const char *convert_mime(const char *format);
/* A file's format, from its bytes (sniffed from data, len) checked against
 * its name: binary bytes must be what the name says ("photo.png" holding a
 * JPEG is refused); text takes its format from the name, or, with none,
 * from its first characters (JSON, XML, HTML, else txt). A name naming a
 * text format holding binary bytes is refused too. The format, or NULL with
 * the reason in err. */
const char *convert_identify(const void *data, size_t len, const char *name, char *err,
                             size_t errlen);
/* Whether format is an office document LibreOffice converts (docx, odt,
 * xlsx, pptx). */
bool convert_format_is_office(const char *format);
/* Whether from -> to is a conversion we do, office documents counted only
 * when soffice is found (convert_office_available()). */
bool convert_supported(const char *from, const char *to);
/* What from converts to on this machine, "png, jpeg, webp" ("" for
 * nothing), cut to outlen. */
void convert_targets_text(const char *from, char *out, size_t outlen);
/* {"csv": ["json"], "png": ["png", "jpeg", "webp"], ...}: every supported
 * pair, as convert_supported() sees them on this machine (the worker
 * publishes it in its registry entry for the webapp's form). */
cJSON *convert_pairs_json(void);

/* What a conversion may be asked, from the task's "options" object. */
struct convert_options {
    char delimiter; /* CSV: ',' ';' '\t' '|'; 0: ',' */
    int width, height; /* images: the box to fit in, 0: free (one given keeps the ratio) */
    int quality;       /* JPEG and WebP, 1..100; 0: the library's default */
};
/* Options from JSON ({"delimiter", "width", "height", "quality"}; NULL or
 * {} for none). Unknown keys, wrong types and out-of-range values are
 * refused: -1 with the reason in err. */
int convert_options_parse(const cJSON *json, struct convert_options *opt, char *err,
                          size_t errlen);

/* The name of a conversion's output: name with its extension (if any)
 * replaced by to's ("report.docx" to pdf: "report.pdf"; "jpeg" writes
 * ".jpg"), "output.<ext>" for an empty name; cut to fit outlen. */
void convert_output_name(const char *name, const char *to, char *out, size_t outlen);

/* ----- running one conversion (convert.c) ----- */

/* Called as the work advances, percent 0..100, never going back. */
typedef void (*convert_progress_fn)(void *arg, int percent);

struct convert_job {
    const char *from, *to; /* canonical formats (convert_identify(), convert_format_of_ext()) */
    const void *in;
    size_t len;
    struct convert_options opt;
    size_t max_input;   /* 0: CONVERT_DEFAULT_MAX_INPUT */
    size_t max_output;  /* 0: CONVERT_DEFAULT_MAX_OUTPUT */
    uint64_t max_pixels; /* images, width x height of input and output; 0: CONVERT_DEFAULT_MAX_PIXELS */
    double timeout_s;   /* soffice's run; 0: 300 */
    volatile sig_atomic_t *cancel; /* non-zero: stop as soon as possible (may be NULL) */
    convert_progress_fn progress;  /* may be NULL */
    void *progress_arg;
};

/* Bounds from the environment into job: CONVERT_MAX_INPUT and
 * CONVERT_MAX_OUTPUT (bytes), CONVERT_MAX_PIXELS, CONVERT_TIMEOUT (seconds,
 * for soffice); unset ones
 * keep their defaults. -1 with err naming a malformed one (format.c). */
int convert_limits_from_env(struct convert_job *job, char *err, size_t errlen);

/* Convert job->in to job->to into out (appended to). 0, or -1 with a
 * message fit for the user in err: an unsupported pair, a corrupt or
 * mislabelled input, a bound passed, "converter not installed" (office
 * without soffice), cancelled. Nothing is appended on failure that the
 * caller should keep: out is reset. */
int convert_run(const struct convert_job *job, struct buf *out, char *err, size_t errlen);

/* ----- CSV <-> JSON (csv.c) ----- */

/* Whether c may separate CSV fields: ',', ';', '\t' or '|' (format.c). */
bool convert_csv_delimiter_ok(char c);

/* CSV (RFC 4180: quoted fields, "" inside quotes, embedded delimiters and
 * newlines, CRLF/LF/CR line ends, a UTF-8 BOM, blank lines skipped) to a JSON
 * array of objects keyed by the header row, every value a string ("" for an
 * empty or missing trailing field). An empty header cell is named
 * "column_N" (N from 1). Refused, with the line in err: input that is not
 * UTF-8, a quote never closed, a row with more fields than the header, a
 * header naming a column twice, output past max_output. 0 with out filled
 * (appended to), or -1. */
int convert_csv_to_json(const char *in, size_t len, char delimiter, size_t max_output,
                        struct buf *out, char *err, size_t errlen);

/* A JSON array of flat objects to CSV with a header row: the columns are
 * every key in the order first seen; strings as they are, numbers and
 * booleans as JSON writes them, null and absent keys as empty fields, nested
 * arrays and objects as their JSON text. Fields holding the delimiter, a
 * quote, a line break or leading/trailing space are quoted; lines end in
 * CRLF (RFC 4180). Refused: not JSON (or deeper than JSON_MAX_DEPTH), not an
 * array, an element that is not an object, output past max_output. */
int convert_json_to_csv(const char *in, size_t len, char delimiter, size_t max_output,
                        struct buf *out, char *err, size_t errlen);

/* ----- XML <-> JSON (xml.c) ----- */

/* XML to JSON, the xmltodict mapping: {"root": value}, an element with
 * neither attributes nor child elements being its text (null when empty),
 * else an object of "@attr" strings, children by name (an array when a name
 * repeats) and "#text". Refused: not well-formed (libxml2's message), a
 * document declaring entities, nesting past 256, output past max_output. */
int convert_xml_to_json(const char *in, size_t len, size_t max_output, struct buf *out,
                        char *err, size_t errlen);

/* JSON to XML, the reverse: {"name": value} names the root element, any
 * other document goes inside <root> (a top-level array as <item>s); "@x"
 * keys become attributes, "#text" text, arrays repeated elements, null an
 * empty element. Refused: not JSON, a key that is not an XML name, an
 * attribute holding an object or array, output past max_output. */
int convert_json_to_xml(const char *in, size_t len, size_t max_output, struct buf *out,
                        char *err, size_t errlen);

/* ----- the other converters ----- */

/* HTML to plain text (html.c): block elements become paragraphs separated by
 * a blank line, list items "- ", a link "text <url>" when its URL differs
 * from its text, script, style, template, noscript and head dropped, spaces
 * collapsed, UTF-8 out whatever the input's declared encoding. Bad markup
 * is forgiven; refused: elements nested deeper than 256 (libxml2 would
 * drop the rest of the page unseen), output past max_output. */
int convert_html_to_text(const char *in, size_t len, size_t max_output, struct buf *out,
                         char *err, size_t errlen);

/* CommonMark to an HTML fragment (markdown.c, libcmark), raw HTML in the
 * input replaced by a comment (CMARK_OPT_SAFE's default: no script gets
 * through) and dangerous URLs (javascript:) dropped. Refused: not UTF-8,
 * output past max_output. */
int convert_markdown_to_html(const char *in, size_t len, size_t max_output, struct buf *out,
                             char *err, size_t errlen);

/* PNG, JPEG, WebP or GIF (first frame) to PNG, JPEG or WebP (image.c,
 * libvips), resized to fit job->opt's width/height when given, never
 * enlarged. Refused before decoding: more than max_pixels pixels (read from
 * the header), and a corrupt image (decoding fails on the first error). */
int convert_image(const struct convert_job *job, struct buf *out, char *err, size_t errlen);

/* Whether soffice is found: CONVERT_SOFFICE (a program path) when set, else
 * "soffice" on PATH (format.c: the webapp links it). */
bool convert_office_available(void);
/* The program convert_office_available() found, for office.c: a static
 * buffer, or NULL. */
const char *convert_soffice_path(void);
/* An office document to PDF with LibreOffice (office.c): soffice runs
 * headless in a private temporary directory (its profile too), on files
 * named by us, killed past job->timeout_s or when job->cancel is set.
 * soffice tells no progress: job->progress hears 10, then an estimate
 * from the time elapsed (below 90). "converter not installed" when soffice
 * is not found. */
int convert_office_to_pdf(const struct convert_job *job, struct buf *out, char *err,
                          size_t errlen);

#endif
