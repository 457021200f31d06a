/* test/unit/test_convert.c - the converters (convert/): CSV <-> JSON with
 * the tricky CSV cases (quotes, embedded delimiters and newlines, CRLF, BOM,
 * other delimiters), every refusal with its message, and round trips. */
#include <stdarg.h> /* cmocka.h needs these four first */
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "convert/convert.h"

/* CSV -> JSON text, or the error prefixed with "ERROR: ". */
static char *
to_json(const char *csv, size_t len, char delim)
{
    struct buf out = {0};
    char err[CONVERT_ERROR_MAX];

    if (convert_csv_to_json(csv, len, delim, CONVERT_DEFAULT_MAX_OUTPUT, &out, err,
                            sizeof err) != 0) {
        buf_fini(&out);
        buf_printf(&out, "ERROR: %s", err);
    }
    return out.data;
}

static void
assert_json(const char *csv, const char *want)
{
    char *got = to_json(csv, strlen(csv), ',');
    if (strcmp(got, want) != 0)
        fail_msg("CSV %s\n  expected %s\n  got      %s", csv, want, got);
    free(got);
}

static void
csv_rfc4180_cases(void **state)
{
    (void)state;
    assert_json("a,b\n1,2\n", "[{\"a\":\"1\",\"b\":\"2\"}]");
    /* CRLF, no final line break, a CR alone */
    assert_json("a,b\r\n1,2\r\n3,4", "[{\"a\":\"1\",\"b\":\"2\"},{\"a\":\"3\",\"b\":\"4\"}]");
    assert_json("a,b\r1,2\r", "[{\"a\":\"1\",\"b\":\"2\"}]");
    /* quoted fields: the delimiter, doubled quotes, line breaks inside */
    assert_json("name,quote\n\"Doe, Jane\",\"She said \"\"hi\"\"\"\n",
                "[{\"name\":\"Doe, Jane\",\"quote\":\"She said \\\"hi\\\"\"}]");
    assert_json("a,b\n\"line one\r\nline two\",x\n",
                "[{\"a\":\"line one\\u000d\\u000aline two\",\"b\":\"x\"}]");
    /* empty fields stay "", missing trailing ones too; blank lines are skipped */
    assert_json("a,b,c\n,,\n1\n\n2,3,\n", "[{\"a\":\"\",\"b\":\"\",\"c\":\"\"},"
                                          "{\"a\":\"1\",\"b\":\"\",\"c\":\"\"},"
                                          "{\"a\":\"2\",\"b\":\"3\",\"c\":\"\"}]");
    /* a quoted empty line is a record, not a blank line */
    assert_json("a\n\"\"\n", "[{\"a\":\"\"}]");
    /* the BOM spreadsheets write; UTF-8 kept */
    assert_json("\xef\xbb\xbf" "caf\xc3\xa9,n\nna\xc3\xafve,1\n",
                "[{\"caf\xc3\xa9\":\"na\xc3\xafve\",\"n\":\"1\"}]");
    /* leniencies of Python's csv: text after a closing quote, a quote inside a field */
    assert_json("a,b\n\"x\"y,5\"6\n", "[{\"a\":\"xy\",\"b\":\"5\\\"6\"}]");
    /* an empty header cell is named by its position; values are never numbers */
    assert_json(",b\n1,2\n", "[{\"column_1\":\"1\",\"b\":\"2\"}]");
    assert_json("", "[]");
    assert_json("a,b\n", "[]");
}

static void
csv_other_delimiters(void **state)
{
    char *got;

    (void)state;
    got = to_json("a;b\n1,5;2\n", 10, ';');
    assert_string_equal(got, "[{\"a\":\"1,5\",\"b\":\"2\"}]");
    free(got);
    got = to_json("a\tb\n\"x\ty\"\t2\n", 12, '\t');
    assert_string_equal(got, "[{\"a\":\"x\\u0009y\",\"b\":\"2\"}]");
    free(got);
    got = to_json("a,b\n", 4, ':');
    assert_non_null(strstr(got, "ERROR: delimiter"));
    free(got);
}

static void
csv_refusals_name_the_line(void **state)
{
    static const struct {
        const char *csv;
        const char *error;
    } cases[] = {
        {"a,b\n1,2\n\"open\n", "line 3: a quoted field is never closed"},
        {"a,b\n1,2,3\n", "line 2: 3 fields, but the header has 2"},
        {"a,b,a\n", "line 1: the header names column \"a\" twice"},
        {"a\n\xff\xfe\n", "not UTF-8"},
        {"a\n\"multi\nline\"\n1,2\n", "line 4: 2 fields, but the header has 1"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = to_json(cases[i].csv, strlen(cases[i].csv), ',');
        if (strncmp(got, "ERROR: ", 7) != 0 || strstr(got, cases[i].error) == NULL)
            fail_msg("case %zu: expected an error with \"%s\", got %s", i, cases[i].error, got);
        free(got);
    }
    char *got = to_json("a\n1\0\n", 5, ',');
    assert_non_null(strstr(got, "ERROR: not a text file"));
    free(got);
}

static void
output_is_bounded(void **state)
{
    struct buf csv = {0}, out = {0};
    char err[CONVERT_ERROR_MAX];

    (void)state;
    buf_put(&csv, "a\n");
    for (int i = 0; i < 10000; i++)
        buf_put(&csv, "some value\n");
    assert_int_equal(convert_csv_to_json(csv.data, csv.len, ',', 50000, &out, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "larger than 50000 bytes"));
    buf_reset(&out);
    assert_int_equal(convert_json_to_csv("[{\"a\":\"xxxxxxxxxx\"},{\"a\":\"yyyyyyyyyy\"}]", 39, ',',
                                         10, &out, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "larger than 10 bytes"));
    buf_fini(&csv);
    buf_fini(&out);
}

/* JSON -> CSV text, or "ERROR: ...". */
static char *
to_csv(const char *json, char delim)
{
    struct buf out = {0};
    char err[CONVERT_ERROR_MAX];

    if (convert_json_to_csv(json, strlen(json), delim, CONVERT_DEFAULT_MAX_OUTPUT, &out, err,
                            sizeof err) != 0) {
        buf_fini(&out);
        buf_printf(&out, "ERROR: %s", err);
    }
    return out.data != NULL ? out.data : strdup("");
}

static void
json_to_csv_mapping(void **state)
{
    char *got;

    (void)state;
    /* columns in the order first seen, absent and null as empty, values typed as JSON writes */
    got = to_csv("[{\"a\":1,\"b\":\"x\"},{\"c\":true,\"a\":2.5},{\"b\":null}]", ',');
    assert_string_equal(got, "a,b,c\r\n1,x,\r\n2.5,,true\r\n,,\r\n");
    free(got);
    /* quoting: the delimiter, quotes, line breaks, edge spaces; nested values as JSON */
    got = to_csv("[{\"q\":\"a,b\",\"r\":\"say \\\"hi\\\"\",\"s\":\"two\\nlines\",\"t\":\" pad \","
                 "\"n\":{\"x\":[1,2]}}]",
                 ',');
    assert_string_equal(got, "q,r,s,t,n\r\n\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\" pad \","
                             "\"{\"\"x\"\":[1,2]}\"\r\n");
    free(got);
    got = to_csv("[{\"a\":\"1;2\",\"b\":\"x,y\"}]", ';');
    assert_string_equal(got, "a;b\r\n\"1;2\";x,y\r\n");
    free(got);
    got = to_csv("[]", ',');
    assert_string_equal(got, "");
    free(got);
}

static void
json_to_csv_refusals(void **state)
{
    static const struct {
        const char *json, *error;
    } cases[] = {
        {"{\"a\":1}", "expected a JSON array of objects"},
        {"[{\"a\":1}, 2]", "element 1 is not an object"},
        {"[{\"a\":1}", "not JSON"},
        {"\"text\"", "expected a JSON array"},
    };
    struct buf deep = {0};

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = to_csv(cases[i].json, ',');
        if (strstr(got, cases[i].error) == NULL)
            fail_msg("case %zu: expected \"%s\", got %s", i, cases[i].error, got);
        free(got);
    }
    /* nesting past the limit: refused by the parser, not a stack overflow */
    for (int i = 0; i < 100000; i++)
        buf_put(&deep, "[");
    char *got = to_csv(deep.data, ',');
    assert_non_null(strstr(got, "ERROR: not JSON"));
    free(got);
    buf_fini(&deep);
}

/* CSV -> JSON -> CSV gives the fields back (with CRLF and quoting normalised). */
static void
round_trip(void **state)
{
    const char *csv = "id,name,note\r\n1,\"Doe, Jane\",\"multi\nline\"\r\n2,Bob,\r\n";
    char *json = to_json(csv, strlen(csv), ','), *back;

    (void)state;
    back = to_csv(json, ',');
    assert_string_equal(back, csv);
    free(json);
    free(back);
}

/* ----- XML <-> JSON ----- */

static char *
xml_json(const char *xml)
{
    struct buf out = {0};
    char err[CONVERT_ERROR_MAX];

    if (convert_xml_to_json(xml, strlen(xml), CONVERT_DEFAULT_MAX_OUTPUT, &out, err,
                            sizeof err) != 0) {
        buf_fini(&out);
        buf_printf(&out, "ERROR: %s", err);
    }
    return out.data;
}

static char *
json_xml(const char *json)
{
    struct buf out = {0};
    char err[CONVERT_ERROR_MAX];

    if (convert_json_to_xml(json, strlen(json), CONVERT_DEFAULT_MAX_OUTPUT, &out, err,
                            sizeof err) != 0) {
        buf_fini(&out);
        buf_printf(&out, "ERROR: %s", err);
    }
    return out.data;
}

static void
assert_xml_json(const char *xml, const char *want)
{
    char *got = xml_json(xml);
    if (strcmp(got, want) != 0)
        fail_msg("XML %s\n  expected %s\n  got      %s", xml, want, got);
    free(got);
}

static void
xml_to_json_mapping(void **state)
{
    (void)state;
    assert_xml_json("<a x=\"1\"><b>t</b><b/><c>u<d/></c></a>",
                    "{\"a\":{\"@x\":\"1\",\"b\":[\"t\",null],\"c\":{\"d\":null,\"#text\":\"u\"}}}");
    /* prefixes kept, CDATA is text, comments and PIs dropped, leaf text kept as is */
    assert_xml_json("<?xml version=\"1.0\"?><rss xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
                    "<!-- hi --><dc:creator> Ann </dc:creator><t><![CDATA[<b>x</b>]]></t>"
                    "<?pi data?></rss>",
                    "{\"rss\":{\"dc:creator\":\" Ann \",\"t\":\"<b>x</b>\"}}");
    /* three of a name in a row and apart: one array in document order */
    assert_xml_json("<l><i>1</i><j/><i>2</i><i>3</i></l>",
                    "{\"l\":{\"i\":[\"1\",\"2\",\"3\"],\"j\":null}}");
    assert_xml_json("<e a=\"&lt;&amp;\">caf\xc3\xa9</e>",
                    "{\"e\":{\"@a\":\"<&\",\"#text\":\"caf\xc3\xa9\"}}");
}

static void
xml_refusals(void **state)
{
    struct buf deep = {0};
    char *got;

    (void)state;
    got = xml_json("<a><b></a>");
    assert_non_null(strstr(got, "ERROR: not well-formed XML"));
    free(got);
    got = xml_json("");
    assert_non_null(strstr(got, "ERROR: not well-formed XML"));
    free(got);
    /* the billion laughs, and an external entity (XXE): refused, nothing read */
    got = xml_json("<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">"
                   "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;"
                   "&b;&b;&b;&b;&b;\">]><l>&c;&c;&c;&c;</l>");
    assert_non_null(strstr(got, "ERROR:")); /* libxml2 sees the loop itself */
    free(got);
    got = xml_json("<!DOCTYPE l [<!ENTITY a \"aaaa\">]><l>&a;&a;</l>");
    if (strstr(got, "ERROR: the document declares XML entities") == NULL)
        fail_msg("a declared entity: %s", got);
    free(got);
    got = xml_json("<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                   "<r>&x;</r>");
    assert_non_null(strstr(got, "ERROR:"));
    assert_null(strstr(got, "root:"));
    free(got);
    /* nesting deeper than libxml2's 256 levels */
    for (int i = 0; i < 1000; i++)
        buf_put(&deep, "<a>");
    for (int i = 0; i < 1000; i++)
        buf_put(&deep, "</a>");
    got = xml_json(deep.data);
    assert_non_null(strstr(got, "ERROR:"));
    free(got);
    buf_fini(&deep);
}

static void
json_to_xml_mapping(void **state)
{
    char *got;

    (void)state;
    got = json_xml("{\"a\":{\"@x\":1,\"b\":[\"t\",null],\"c\":{\"#text\":\"u<&\",\"d\":true}}}");
    assert_string_equal(got, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<a x=\"1\">\n  <b>t</b>\n  <b/>\n  <c>u&lt;&amp;<d>true</d></c>\n</a>\n");
    free(got);
    got = json_xml("[1,[2,3]]");
    assert_string_equal(got, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<root>\n  <item>1</item>\n  <item>\n    <item>2</item>\n"
                             "    <item>3</item>\n  </item>\n</root>\n");
    free(got);
    got = json_xml("{\"bad name\":1}");
    assert_non_null(strstr(got, "ERROR: \"bad name\" is not a valid XML element name"));
    free(got);
    got = json_xml("{\"a\":{\"@x\":{\"y\":1}}}");
    assert_non_null(strstr(got, "ERROR: attribute \"x\" must be"));
    free(got);
    got = json_xml("{\"a\":1");
    assert_non_null(strstr(got, "ERROR: not JSON"));
    free(got);
}

/* XML -> JSON -> XML -> JSON: the second JSON is the first. */
static void
xml_round_trip(void **state)
{
    const char *xml = "<feed a=\"1\"><e>x</e><e>y</e><n><m k=\"v\">t</m></n><z/></feed>";
    char *j1 = xml_json(xml), *x2 = json_xml(j1), *j2 = xml_json(x2);

    (void)state;
    assert_string_equal(j1, j2);
    free(j1);
    free(x2);
    free(j2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csv_rfc4180_cases),   cmocka_unit_test(csv_other_delimiters),
        cmocka_unit_test(csv_refusals_name_the_line), cmocka_unit_test(output_is_bounded),
        cmocka_unit_test(json_to_csv_mapping), cmocka_unit_test(json_to_csv_refusals),
        cmocka_unit_test(round_trip),          cmocka_unit_test(xml_to_json_mapping),
        cmocka_unit_test(xml_refusals),        cmocka_unit_test(json_to_xml_mapping),
        cmocka_unit_test(xml_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
