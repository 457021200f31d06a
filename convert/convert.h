/* convert/convert.h - the file converters: pure functions from the bytes of
 * one format to the bytes of another, each bounded (input, output, nesting).
 * Like scraper/, a library that knows no tables and no queue: the
 * convert.file task stores what it returns, `celeriac convert IN OUT` writes
 * it to a file. docs/architecture.md "Conversion" tells the mappings. */
#ifndef CELERIAC_CONVERT_H
#define CELERIAC_CONVERT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

#define CONVERT_ERROR_MAX 512
#define CONVERT_DEFAULT_MAX_OUTPUT (100u * 1024 * 1024)

/* ----- CSV <-> JSON (csv.c) ----- */

/* Whether c may separate CSV fields: ',', ';', '\t' or '|'. */
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

#endif
