/* test/fuzz/fuzz_xml.c - fuzz target for the XML <-> JSON mapping
 * (convert/xml.c). Whatever XML converts must give JSON that parses and
 * converts back to XML, and that XML must give the very same JSON. Built with
 * libFuzzer (`make fuzz`) or test/fuzz/replay.c (`make test` replays
 * test/fuzz/corpus/xml). */
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
    struct buf json = {0}, xml = {0}, again = {0};
    char err[CONVERT_ERROR_MAX];
    cJSON *doc;

    if (convert_xml_to_json((const char *)data, size, 1u << 24, &json, err, sizeof err) == 0) {
        doc = cJSON_ParseWithLength(json.data, json.len);
        if (doc == NULL || !cJSON_IsObject(doc))
            abort(); /* the JSON we write must parse */
        cJSON_Delete(doc);
        if (convert_json_to_xml(json.data, json.len, 1u << 26, &xml, err, sizeof err) != 0)
            abort(); /* what we wrote must convert back */
        if (convert_xml_to_json(xml.data, xml.len, 1u << 26, &again, err, sizeof err) != 0 ||
            strcmp(json.data, again.data) != 0)
            abort(); /* the round trip keeps the structure */
    }
    buf_fini(&json);
    buf_fini(&xml);
    buf_fini(&again);
    return 0;
}
