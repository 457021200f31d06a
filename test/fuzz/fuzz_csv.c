/* test/fuzz/fuzz_csv.c - fuzz target for the CSV reader and both directions
 * of CSV <-> JSON (convert/csv.c). Input: the first byte picks the delimiter,
 * the rest is the CSV. Whatever converts must be a JSON array that converts
 * back to CSV, and that CSV must convert to the very same JSON. Built with
 * libFuzzer (`make fuzz`) or test/fuzz/replay.c (`make test` replays
 * test/fuzz/corpus/csv). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "convert/convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char delimiters[] = {',', ';', '\t', '|'};
    struct buf json = {0}, csv = {0}, again = {0};
    char err[CONVERT_ERROR_MAX], delim;
    cJSON *doc;

    if (size == 0)
        return 0;
    delim = delimiters[data[0] % sizeof delimiters];
    if (convert_csv_to_json((const char *)data + 1, size - 1, delim, 1u << 24, &json, err,
                            sizeof err) == 0) {
        doc = cJSON_ParseWithLength(json.data, json.len);
        if (doc == NULL || !cJSON_IsArray(doc))
            abort(); /* the JSON we write must parse */
        cJSON_Delete(doc);
        if (convert_json_to_csv(json.data, json.len, delim, 1u << 26, &csv, err, sizeof err) != 0)
            abort(); /* what we wrote must convert back */
        if (convert_csv_to_json(csv.data != NULL ? csv.data : "", csv.len, delim, 1u << 26, &again,
                                err, sizeof err) != 0)
            abort();
        /* An empty document has no header to keep: "[]" either way. */
        if (strcmp(json.data, again.data) != 0)
            abort(); /* the round trip keeps every field */
    }
    buf_fini(&json);
    buf_fini(&csv);
    buf_fini(&again);
    return 0;
}
