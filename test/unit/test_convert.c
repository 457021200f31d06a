/* test/unit/test_convert.c - the converters (convert/): CSV <-> JSON with
 * the tricky CSV cases (quotes, embedded delimiters and newlines, CRLF, BOM,
 * other delimiters), every refusal with its message, and round trips; XML;
 * HTML to text; Markdown; images (made here with libvips, and hand-made
 * PNGs for the refusals); office documents (test/fixtures/convert/, when
 * soffice is installed, and stand-in soffice scripts for the failures and
 * the progress); the cancel flag in every converter's loop; the dispatcher.
 * Fixtures are found beside this program (../fixtures/convert/), so it runs
 * from any directory. */
#include <stdarg.h> /* cmocka.h needs these four first */
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <vips/vips.h>

#include "common/json.h"
#include "convert/convert.h"
#include "convert/internal.h"

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

/* cJSON's allocations, counted while a test installs these hooks. */
static size_t cjson_allocs;

static void *
counting_malloc(size_t n)
{
    cjson_allocs++;
    return malloc(n);
}

static double
seconds_since(const struct timespec *a)
{
    struct timespec b;

    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static void
xml_to_json_is_bounded_while_it_builds(void **state)
{
    cJSON_Hooks hooks = {counting_malloc, free};
    struct buf xml = {0}, out = {0}, again = {0};
    char err[CONVERT_ERROR_MAX];
    struct timespec start;

    (void)state;
    buf_put(&xml, "<r>");
    for (int i = 0; i < 100000; i++)
        buf_put(&xml, "<a>x</a>");
    buf_put(&xml, "</r>");
    /* 100000 elements whose JSON passes the cap after a few hundred: the
     * tree stops there, not after all of it was built and printed */
    cjson_allocs = 0;
    cJSON_InitHooks(&hooks);
    assert_int_equal(convert_xml_to_json(xml.data, xml.len, 1000, &out, err, sizeof err), -1);
    cJSON_InitHooks(NULL);
    assert_string_equal(err, "the JSON would be larger than 1000 bytes");
    if (cjson_allocs > 2000)
        fail_msg("%zu cJSON allocations before the cap stopped the tree", cjson_allocs);
    /* the count is exact: what fits the cap to the byte converts */
    assert_int_equal(convert_xml_to_json(xml.data, xml.len, CONVERT_DEFAULT_MAX_OUTPUT, &out, err,
                                         sizeof err),
                     0);
    assert_int_equal(convert_xml_to_json(xml.data, xml.len, out.len, &again, err, sizeof err), 0);
    assert_int_equal(again.len, out.len);
    buf_reset(&again);
    assert_int_equal(convert_xml_to_json(xml.data, xml.len, out.len - 1, &again, err, sizeof err),
                     -1);
    /* many differently named children: each found by its name, not by a
     * scan of its siblings (100000 took 13 s that way) */
    buf_reset(&xml);
    buf_put(&xml, "<r>");
    for (int i = 0; i < 100000; i++)
        buf_printf(&xml, "<n%d/>", i);
    buf_put(&xml, "</r><!-- -->");
    buf_reset(&out);
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(convert_xml_to_json(xml.data, xml.len, CONVERT_DEFAULT_MAX_OUTPUT, &out, err,
                                         sizeof err),
                     0);
    assert_true(seconds_since(&start) < 5);
    assert_true(strncmp(out.data, "{\"r\":{\"n0\":null,\"n1\":null,", 26) == 0);
    buf_fini(&xml);
    buf_fini(&out);
    buf_fini(&again);
}

static void
json_to_xml_is_bounded_while_it_builds(void **state)
{
    struct buf json = {0}, out = {0}, again = {0};
    char err[CONVERT_ERROR_MAX], name[1001];

    (void)state;
    /* 20 kB naming a 1000-byte element 10000 times: 20 MB of XML */
    memset(name, 'e', 1000);
    name[1000] = '\0';
    buf_printf(&json, "{\"r\":{\"%s\":[1", name);
    for (int i = 1; i < 10000; i++)
        buf_put(&json, ",1");
    buf_put(&json, "]}}");
    assert_int_equal(convert_json_to_xml(json.data, json.len, 100000, &out, err, sizeof err), -1);
    assert_string_equal(err, "the XML would be larger than 100000 bytes");
    /* the count never exceeds what is written: what fits converts */
    buf_reset(&json);
    buf_put(&json, "{\"r\":{\"@id\":\"a&b\",\"x\":[1,null,\"<t>\",{\"#text\":\"y\",\"@k\":true}],"
                   "\"z\":[[1,2],[]]}}");
    assert_int_equal(convert_json_to_xml(json.data, json.len, CONVERT_DEFAULT_MAX_OUTPUT, &out, err,
                                         sizeof err),
                     0);
    assert_int_equal(convert_json_to_xml(json.data, json.len, out.len, &again, err, sizeof err), 0);
    assert_string_equal(again.data, out.data);
    buf_fini(&json);
    buf_fini(&out);
    buf_fini(&again);
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

/* ----- HTML -> text ----- */

static char *
html_text(const char *html, size_t len)
{
    struct buf out = {0};
    char err[CONVERT_ERROR_MAX];

    if (convert_html_to_text(html, len, CONVERT_DEFAULT_MAX_OUTPUT, &out, err, sizeof err) != 0) {
        buf_fini(&out);
        buf_printf(&out, "ERROR: %s", err);
    }
    return out.data != NULL ? out.data : strdup("");
}

static void
assert_text(const char *html, const char *want)
{
    char *got = html_text(html, strlen(html));
    if (strcmp(got, want) != 0)
        fail_msg("HTML %s\n  expected \"%s\"\n  got      \"%s\"", html, want, got);
    free(got);
}

static void
html_paragraphs_lists_and_links(void **state)
{
    (void)state;
    assert_text("<html><head><title>T</title><style>p{color:red}</style></head><body>"
                "<h1>Title</h1><p>Some   <b>bold</b>\n text.<br>Next line</p>"
                "<ul><li>one</li><li>two<ul><li>deep</li></ul></li></ul><div>after</div>",
                "Title\n\nSome bold text.\nNext line\n\n- one\n- two\n  - deep\n\nafter\n");
    /* a link shows its URL unless its text is the URL; relative and
     * javascript: ones show none */
    assert_text("<p><a href=\"https://example.org/a\">words</a>, "
                "<a href=\"https://example.org/b\">https://example.org/b</a>, "
                "<a href=\"javascript:alert(1)\">js</a>, <a href=\"/local\">local</a>, "
                "<a href=\"mailto:ann@example.org\">ann@example.org</a>, "
                "<a href=\"https://example.org/c\"><img src=x></a></p>",
                "words <https://example.org/a>, https://example.org/b, js, local, "
                "ann@example.org, <https://example.org/c>\n");
    /* tables, pre, entities, a non-breaking space */
    assert_text("<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table>"
                "<pre>  x\n    y</pre><p>caf&eacute;&nbsp;&amp;&lt;</p>",
                "A | B\n1 | 2\n\n  x\n    y\n\ncaf\xc3\xa9 &<\n");
    assert_text("", "");
    assert_text("plain words", "plain words\n");
}

static void
html_script_style_and_the_like_are_dropped(void **state)
{
    (void)state;
    assert_text("<p>a<script>alert('x')</script>b</p><style>body{}</style>"
                "<template><p>t</p></template><noscript>n</noscript><svg><text>s</text></svg>"
                "<p>c<!-- comment -->d</p>",
                "ab\n\ncd\n");
}

static void
html_encodings_become_utf8(void **state)
{
    static const char latin1[] = "<html><head><meta charset=\"iso-8859-1\"></head>"
                                 "<body><p>caf\xe9</p></body></html>";
    char *got;

    (void)state;
    got = html_text(latin1, sizeof latin1 - 1);
    assert_string_equal(got, "caf\xc3\xa9\n");
    free(got);
    /* bytes that are not UTF-8 and no charset: still UTF-8 out */
    got = html_text("<p>\xff\xfe ok</p>", 11);
    assert_true(utf8_valid(got, strlen(got)));
    assert_non_null(strstr(got, "ok"));
    free(got);
}

static void
html_deep_nesting_does_not_crash(void **state)
{
    struct buf deep = {0};
    char *got;

    (void)state;
    /* 200 levels: the text at the bottom is there */
    for (int i = 0; i < 100; i++)
        buf_put(&deep, "<div><span>");
    buf_put(&deep, "bottom");
    got = html_text(deep.data, deep.len);
    assert_string_equal(got, "bottom\n");
    free(got);
    /* 100000 levels: libxml2 stops at 256, and we say so */
    buf_reset(&deep);
    for (int i = 0; i < 100000; i++)
        buf_put(&deep, "<div><span>");
    buf_put(&deep, "bottom");
    got = html_text(deep.data, deep.len);
    assert_string_equal(got, "ERROR: the HTML nests elements deeper than 256 levels");
    free(got);
    buf_reset(&deep);
    for (int i = 0; i < 100000; i++)
        buf_put(&deep, "<ul><li><a href=\"http://x.org/\">");
    got = html_text(deep.data, deep.len);
    assert_string_equal(got, "ERROR: the HTML nests elements deeper than 256 levels");
    free(got);
    /* elements HTML closes by itself are no nesting */
    buf_reset(&deep);
    for (int i = 0; i < 100000; i++)
        buf_put(&deep, "<p>x");
    got = html_text(deep.data, deep.len);
    assert_null(strstr(got, "ERROR"));
    free(got);
    buf_fini(&deep);
}

static void
html_output_is_bounded(void **state)
{
    struct buf html = {0}, out = {0};
    char err[CONVERT_ERROR_MAX];

    (void)state;
    for (int i = 0; i < 1000; i++)
        buf_put(&html, "<p>some words here</p>");
    assert_int_equal(convert_html_to_text(html.data, html.len, 1000, &out, err, sizeof err), -1);
    assert_string_equal(err, "the text would be larger than 1000 bytes");
    buf_fini(&html);
    buf_fini(&out);
}

/* ----- Markdown -> HTML ----- */

static char *
md_html(const char *md, size_t len)
{
    struct buf out = {0};
    char err[CONVERT_ERROR_MAX];

    if (convert_markdown_to_html(md, len, CONVERT_DEFAULT_MAX_OUTPUT, &out, err, sizeof err) != 0) {
        buf_fini(&out);
        buf_printf(&out, "ERROR: %s", err);
    }
    return out.data != NULL ? out.data : strdup("");
}

static void
markdown_renders_commonmark(void **state)
{
    const char *md = "# Title\n\nSome *emphasis* and `code`.\n\n- a\n- b\n";
    char *got = md_html(md, strlen(md));

    (void)state;
    assert_string_equal(got,
                        "<h1>Title</h1>\n<p>Some <em>emphasis</em> and <code>code</code>.</p>\n"
                        "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n");
    free(got);
}

static void
markdown_raw_html_and_javascript_links_are_dropped(void **state)
{
    const char *md = "<script>alert(1)</script>\n\nHi <img src=x onerror=alert(1)> "
                     "[click](javascript:alert(1)) ![i](data:text/html,x) [ok](https://x.org/)\n";
    char *got = md_html(md, strlen(md));

    (void)state;
    assert_null(strstr(got, "<script"));
    assert_null(strstr(got, "onerror"));
    assert_null(strstr(got, "javascript:"));
    assert_null(strstr(got, "data:"));
    assert_non_null(strstr(got, "<!-- raw HTML omitted -->"));
    assert_non_null(strstr(got, "<a href=\"\">click</a>"));
    assert_non_null(strstr(got, "<a href=\"https://x.org/\">ok</a>"));
    free(got);
}

static void
markdown_refusals(void **state)
{
    struct buf md = {0}, out = {0};
    char err[CONVERT_ERROR_MAX], *got;

    (void)state;
    got = md_html("caf\xe9\n", 5);
    assert_string_equal(got, "ERROR: not UTF-8 text");
    free(got);
    for (int i = 0; i < 1000; i++)
        buf_put(&md, "- item\n");
    assert_int_equal(convert_markdown_to_html(md.data, md.len, 100, &out, err, sizeof err), -1);
    assert_string_equal(err, "the HTML would be larger than 100 bytes");
    /* nesting: block quotes, lists, brackets and emphasis, 100000 deep */
    static const char *const deep[] = {">", "- ", "[", "*", "<a>"};
    for (size_t k = 0; k < sizeof deep / sizeof *deep; k++) {
        buf_reset(&md);
        for (int i = 0; i < 100000; i++)
            buf_put(&md, deep[k]);
        buf_put(&md, "x\n");
        got = md_html(md.data, md.len);
        assert_null(strstr(got, "ERROR"));
        free(got);
    }
    buf_fini(&md);
    buf_fini(&out);
}

/* ----- images ----- */

/* A w x h test picture (a gradient, so resizing and encoding have
 * something to do) in format to ("png", "jpeg", "webp", "gif"), with an
 * alpha band when alpha is set; frames > 1 stacks that many pages (GIF). */
static struct buf
make_image(const char *to, int w, int h, bool alpha, int frames)
{
    VipsImage *xy, *rgb, *img, *pages;
    VipsImage *band[4];
    struct buf b = {0};
    void *data = NULL;
    size_t size = 0;
    int rc;

    assert_int_equal(VIPS_INIT("test_convert"), 0);
    assert_int_equal(vips_xyz(&xy, w, h, NULL), 0);
    assert_int_equal(vips_extract_band(xy, &band[0], 0, NULL), 0);
    assert_int_equal(vips_extract_band(xy, &band[1], 1, NULL), 0);
    assert_int_equal(vips_linear1(band[0], &band[2], 0.0, 128.0, NULL), 0);
    assert_int_equal(vips_linear1(band[0], &band[3], 0.0, 0.0, NULL), 0); /* alpha 0: clear */
    assert_int_equal(vips_bandjoin(band, &rgb, alpha ? 4 : 3, NULL), 0);
    assert_int_equal(vips_cast(rgb, &img, VIPS_FORMAT_UCHAR, NULL), 0);
    for (int i = 0; i < 4; i++)
        g_object_unref(band[i]);
    g_object_unref(xy);
    g_object_unref(rgb);
    pages = img;
    if (frames > 1) {
        VipsImage *copies[8];
        for (int i = 0; i < frames; i++)
            copies[i] = img;
        assert_int_equal(vips_arrayjoin(copies, &pages, frames, "across", 1, NULL), 0);
        g_object_unref(img);
        vips_image_set_int(pages, "page-height", h);
    }
    img = NULL;
    if (strcmp(to, "png") == 0)
        rc = vips_pngsave_buffer(pages, &data, &size, NULL);
    else if (strcmp(to, "jpeg") == 0)
        rc = vips_jpegsave_buffer(pages, &data, &size, NULL);
    else if (strcmp(to, "webp") == 0)
        rc = vips_webpsave_buffer(pages, &data, &size, NULL);
    else
        rc = vips_gifsave_buffer(pages, &data, &size, NULL);
    if (rc != 0)
        fail_msg("cannot make a %s: %s", to, vips_error_buffer());
    g_object_unref(pages);
    buf_putn(&b, data, size);
    g_free(data);
    return b;
}

/* Width and height of an encoded image, and its format by signature. */
static void
image_size(const struct buf *img, const char *format, int *w, int *h)
{
    VipsImage *im;

    if (strcmp(format, "png") == 0)
        assert_memory_equal(img->data, "\x89PNG\r\n\x1a\n", 8);
    else if (strcmp(format, "jpeg") == 0)
        assert_memory_equal(img->data, "\xff\xd8\xff", 3);
    else if (strcmp(format, "webp") == 0)
        assert_memory_equal(img->data + 8, "WEBP", 4);
    im = vips_image_new_from_buffer(img->data, img->len, "", NULL);
    assert_non_null(im);
    *w = vips_image_get_width(im);
    *h = vips_image_get_height(im);
    g_object_unref(im);
}

/* Convert in (from) to to; 0 or -1 with err. */
static int
image_convert(const struct buf *in, const char *from, const char *to, int width, int height,
              struct buf *out, char *err, size_t errlen)
{
    struct convert_job job = {.from = from, .to = to, .in = in->data, .len = in->len};

    job.opt.width = width;
    job.opt.height = height;
    return convert_image(&job, out, err, errlen);
}

static void
image_png_jpeg_webp_round(void **state)
{
    struct buf png = make_image("png", 64, 48, false, 1), jpeg = {0}, webp = {0}, back = {0};
    char err[CONVERT_ERROR_MAX];
    int w, h;

    (void)state;
    if (image_convert(&png, "png", "jpeg", 0, 0, &jpeg, err, sizeof err) != 0)
        fail_msg("png -> jpeg: %s", err);
    image_size(&jpeg, "jpeg", &w, &h);
    assert_int_equal(w, 64);
    assert_int_equal(h, 48);
    if (image_convert(&jpeg, "jpeg", "png", 0, 0, &back, err, sizeof err) != 0)
        fail_msg("jpeg -> png: %s", err);
    image_size(&back, "png", &w, &h);
    assert_int_equal(w, 64);
    assert_int_equal(h, 48);
    if (image_convert(&png, "png", "webp", 0, 0, &webp, err, sizeof err) != 0)
        fail_msg("png -> webp: %s", err);
    image_size(&webp, "webp", &w, &h);
    assert_int_equal(w, 64);
    buf_fini(&png);
    buf_fini(&jpeg);
    buf_fini(&webp);
    buf_fini(&back);
}

static void
image_resize_fits_the_box_and_never_enlarges(void **state)
{
    static const struct {
        int width, height, want_w, want_h;
    } cases[] = {
        /* width only, height only (the ratio kept), both, wider (never enlarged), none */
        {100, 0, 100, 75},   {0, 30, 40, 30},  {100, 100, 100, 75},
        {1000, 0, 400, 300}, {0, 0, 400, 300},
    };
    struct buf png = make_image("png", 400, 300, false, 1);
    char err[CONVERT_ERROR_MAX];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buf webp = {0};
        int w, h;
        if (image_convert(&png, "png", "webp", cases[i].width, cases[i].height, &webp, err,
                          sizeof err) != 0)
            fail_msg("case %zu: %s", i, err);
        image_size(&webp, "webp", &w, &h);
        if (w != cases[i].want_w || h != cases[i].want_h)
            fail_msg("case %zu: %dx%d, expected %dx%d", i, w, h, cases[i].want_w, cases[i].want_h);
        buf_fini(&webp);
    }
    buf_fini(&png);
}

static void
image_jpeg_from_alpha_is_white_behind(void **state)
{
    struct buf png = make_image("png", 32, 32, true, 1), jpeg = {0};
    char err[CONVERT_ERROR_MAX];
    double *pixel = NULL;
    int n = 0;
    VipsImage *im;

    (void)state;
    if (image_convert(&png, "png", "jpeg", 0, 0, &jpeg, err, sizeof err) != 0)
        fail_msg("png with alpha -> jpeg: %s", err);
    im = vips_image_new_from_buffer(jpeg.data, jpeg.len, "", NULL);
    assert_non_null(im);
    assert_int_equal(vips_image_get_bands(im), 3);
    assert_int_equal(vips_getpoint(im, &pixel, &n, 16, 16, NULL), 0);
    for (int i = 0; i < n; i++)
        assert_true(pixel[i] > 245); /* white, give or take JPEG */
    g_free(pixel);
    g_object_unref(im);
    buf_fini(&png);
    buf_fini(&jpeg);
}

static void
image_gif_gives_its_first_frame(void **state)
{
    struct buf gif = make_image("gif", 40, 30, false, 3), png = {0};
    char err[CONVERT_ERROR_MAX];
    int w, h;

    (void)state;
    if (image_convert(&gif, "gif", "png", 0, 0, &png, err, sizeof err) != 0)
        fail_msg("gif -> png: %s", err);
    image_size(&png, "png", &w, &h);
    assert_int_equal(w, 40);
    assert_int_equal(h, 30); /* one frame, not three stacked */
    buf_fini(&gif);
    buf_fini(&png);
}

static uint32_t
crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;

    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void
put_be32(struct buf *b, uint32_t v)
{
    char be[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    buf_putn(b, be, 4);
}

/* A PNG chunk with its length and a correct CRC. */
static void
png_chunk(struct buf *b, const char *type, const void *data, size_t n)
{
    size_t start;

    put_be32(b, (uint32_t)n);
    start = b->len;
    buf_putn(b, type, 4);
    buf_putn(b, data, n);
    put_be32(b, crc32_of((const unsigned char *)b->data + start, n + 4));
}

/* A PNG whose header says w x h, 8-bit RGB, and whose pixel data is idat. */
static struct buf
handmade_png(uint32_t w, uint32_t h, const char *idat, size_t idat_len)
{
    unsigned char ihdr[13] = {0, 0, 0, 0, 0, 0, 0, 0, 8, 2, 0, 0, 0}; /* 8-bit RGB */
    struct buf b = {0};

    for (int i = 0; i < 4; i++) {
        ihdr[i] = (unsigned char)(w >> (24 - 8 * i));
        ihdr[4 + i] = (unsigned char)(h >> (24 - 8 * i));
    }
    buf_putn(&b, "\x89PNG\r\n\x1a\n", 8);
    png_chunk(&b, "IHDR", ihdr, sizeof ihdr);
    png_chunk(&b, "IDAT", idat, idat_len);
    png_chunk(&b, "IEND", "", 0);
    return b;
}

static void
image_huge_header_is_refused_before_decoding(void **state)
{
    struct buf png = handmade_png(20000, 20000, "\x78\x9c\x03\x00", 4), out = {0};
    char err[CONVERT_ERROR_MAX];
    struct convert_job job = {.from = "png", .to = "jpeg", .in = png.data, .len = png.len};

    (void)state;
    assert_int_equal(convert_image(&job, &out, err, sizeof err), -1);
    assert_string_equal(err, "image is 20000x20000 pixels, more than the 100000000 allowed");
    assert_int_equal(out.len, 0);
    /* a lower bound of the job's own */
    struct buf small = make_image("png", 100, 100, false, 1);
    job.in = small.data;
    job.len = small.len;
    job.max_pixels = 9999;
    assert_int_equal(convert_image(&job, &out, err, sizeof err), -1);
    assert_string_equal(err, "image is 100x100 pixels, more than the 9999 allowed");
    buf_fini(&png);
    buf_fini(&small);
    buf_fini(&out);
}

static void
image_corrupt_or_truncated_is_refused(void **state)
{
    struct buf bad = handmade_png(16, 16, "this is not zlib data at all", 28), out = {0};
    struct buf good = make_image("png", 300, 200, false, 1), cut = {0};
    char err[CONVERT_ERROR_MAX];

    (void)state;
    if (image_convert(&bad, "png", "jpeg", 0, 0, &out, err, sizeof err) == 0)
        fail_msg("a PNG with garbage pixel data converted");
    if (strncmp(err, "corrupt or truncated image", 26) != 0)
        fail_msg("garbage pixel data: %s", err);
    /* the first half of a good PNG */
    buf_putn(&cut, good.data, good.len / 2);
    buf_reset(&out);
    if (image_convert(&cut, "png", "webp", 0, 0, &out, err, sizeof err) == 0)
        fail_msg("a truncated PNG converted");
    if (strncmp(err, "corrupt or truncated image", 26) != 0)
        fail_msg("truncated: %s", err);
    /* the signature alone */
    buf_reset(&out);
    assert_int_equal(image_convert(&(struct buf){.data = "\x89PNG\r\n\x1a\n", .len = 8}, "png",
                                   "png", 0, 0, &out, err, sizeof err),
                     -1);
    buf_fini(&bad);
    buf_fini(&good);
    buf_fini(&cut);
    buf_fini(&out);
}

static void
image_mislabelled_is_refused(void **state)
{
    struct buf jpeg = make_image("jpeg", 20, 20, false, 1), out = {0};
    char err[CONVERT_ERROR_MAX];

    (void)state;
    assert_int_equal(image_convert(&jpeg, "png", "webp", 0, 0, &out, err, sizeof err), -1);
    assert_string_equal(err, "the file is not a png image: its bytes are jpeg");
    assert_int_equal(image_convert(&(struct buf){.data = "hello world", .len = 11}, "gif", "png", 0,
                                   0, &out, err, sizeof err),
                     -1);
    assert_string_equal(err, "the file is not a gif image");
    buf_fini(&jpeg);
    buf_fini(&out);
}

static void
image_output_is_bounded(void **state)
{
    struct buf png = make_image("png", 200, 200, false, 1), out = {0};
    char err[CONVERT_ERROR_MAX];
    struct convert_job job = {
        .from = "png", .to = "png", .in = png.data, .len = png.len, .max_output = 100};

    (void)state;
    assert_int_equal(convert_image(&job, &out, err, sizeof err), -1);
    assert_string_equal(err, "the png would be larger than 100 bytes");
    buf_fini(&png);
    buf_fini(&out);
}

/* ----- progress and cancel ----- */

struct progress_log {
    int n, seen[128];
    int cancel_at; /* set *cancel at the first percent >= this (0: never) */
    volatile sig_atomic_t *cancel;
};

static void
log_progress(void *arg, int percent)
{
    struct progress_log *p = arg;

    if (p->n < 128)
        p->seen[p->n++] = percent;
    if (p->cancel_at > 0 && percent >= p->cancel_at)
        *p->cancel = 1;
}

static void
image_cancel_stops_the_conversion(void **state)
{
    struct buf png = make_image("png", 2000, 2000, false, 1), out = {0};
    char err[CONVERT_ERROR_MAX];
    volatile sig_atomic_t cancel = 0;
    struct progress_log log = {.cancel_at = 10, .cancel = &cancel};
    struct convert_job job = {.from = "png",
                              .to = "webp",
                              .in = png.data,
                              .len = png.len,
                              .cancel = &cancel,
                              .progress = log_progress,
                              .progress_arg = &log};

    (void)state;
    /* at the header */
    assert_int_equal(convert_image(&job, &out, err, sizeof err), -1);
    assert_string_equal(err, "cancelled");
    /* while the pixels go by: the "eval" handler kills the pipeline */
    cancel = 0;
    log = (struct progress_log){.cancel_at = 11, .cancel = &cancel};
    assert_int_equal(convert_image(&job, &out, err, sizeof err), -1);
    assert_string_equal(err, "cancelled");
    assert_true(log.n >= 2);
    assert_true(log.seen[log.n - 1] < 90);
    buf_fini(&png);
    buf_fini(&out);
}

/* ----- office documents ----- */

/* test/fixtures/convert/name, found from this program's own path
 * (test/unit/test_convert): the test runs from any directory. */
static struct buf
read_fixture(const char *name)
{
    char exe[4096], path[4200], chunk[8192], *slash;
    struct buf b = {0};
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    FILE *f;
    size_t n;

    if (len <= 0)
        fail_msg("cannot read /proc/self/exe");
    exe[len] = '\0';
    if ((slash = strrchr(exe, '/')) != NULL)
        *slash = '\0'; /* test/unit */
    snprintf(path, sizeof path, "%s/../fixtures/convert/%s", exe, name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_putn(&b, chunk, n);
    fclose(f);
    return b;
}

static void
office_documents_become_pdf(void **state)
{
    static const char *const docs[] = {"sample.docx", "sample.odt", "sample.xlsx", "sample.pptx"};
    char err[CONVERT_ERROR_MAX];

    (void)state;
    if (!convert_office_available()) {
        printf("# soffice not found: skipping the real conversions\n");
        skip();
    }
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        struct buf in = read_fixture(docs[i]), out = {0};
        struct convert_job job = {
            .from = convert_format_of_name(docs[i]), .to = "pdf", .in = in.data, .len = in.len};
        if (convert_run(&job, &out, err, sizeof err) != 0)
            fail_msg("%s: %s", docs[i], err);
        assert_true(out.len > 1000);
        assert_memory_equal(out.data, "%PDF-", 5);
        buf_fini(&in);
        buf_fini(&out);
    }
}

static void
office_without_soffice_says_not_installed(void **state)
{
    struct buf in = read_fixture("sample.docx"), out = {0};
    char err[CONVERT_ERROR_MAX];
    struct convert_job job = {.from = "docx", .to = "pdf", .in = in.data, .len = in.len};
    const char *want = "converter not installed: soffice (LibreOffice) was not found";

    (void)state;
    setenv("CONVERT_SOFFICE", "/nonexistent/soffice", 1);
    assert_false(convert_office_available());
    assert_false(convert_supported("docx", "pdf"));
    assert_int_equal(convert_office_to_pdf(&job, &out, err, sizeof err), -1);
    assert_string_equal(err, want);
    assert_int_equal(convert_run(&job, &out, err, sizeof err), -1);
    assert_string_equal(err, want);
    unsetenv("CONVERT_SOFFICE");
    buf_fini(&in);
    buf_fini(&out);
}

/* A private TMPDIR holding a stand-in soffice: a shell script, body after
 * its #! line. Its arguments: $7 the output directory, $9 the input. */
struct fake {
    char dir[64], tmp[96], prog[96];
    char *old_tmpdir;
};

static void
fake_soffice(struct fake *f, const char *body)
{
    FILE *s;

    snprintf(f->dir, sizeof f->dir, "/tmp/test_convert-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->tmp, sizeof f->tmp, "%s/tmp", f->dir);
    assert_int_equal(mkdir(f->tmp, 0700), 0);
    snprintf(f->prog, sizeof f->prog, "%s/soffice", f->dir);
    s = fopen(f->prog, "w");
    assert_non_null(s);
    fprintf(s, "#!/bin/sh\n%s\n", body);
    fclose(s);
    assert_int_equal(chmod(f->prog, 0700), 0);
    f->old_tmpdir = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
    setenv("CONVERT_SOFFICE", f->prog, 1);
    setenv("TMPDIR", f->tmp, 1);
}

/* The conversion's private directory must be gone; then ours goes. */
static void
fake_done(struct fake *f)
{
    char cmd[160];

    assert_int_equal(rmdir(f->tmp), 0); /* fails when something was left inside */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    unsetenv("CONVERT_SOFFICE");
    if (f->old_tmpdir != NULL)
        setenv("TMPDIR", f->old_tmpdir, 1);
    else
        unsetenv("TMPDIR");
    free(f->old_tmpdir);
}

static int
fake_run(const char *body, double timeout_s, size_t max_output, struct buf *out, char *err,
         size_t errlen, double *took)
{
    struct fake f;
    struct convert_job job = {.from = "odt",
                              .to = "pdf",
                              .in = "PK\3\4 not really",
                              .len = 16,
                              .timeout_s = timeout_s,
                              .max_output = max_output};
    struct timespec a, b;
    int rc;

    fake_soffice(&f, body);
    clock_gettime(CLOCK_MONOTONIC, &a);
    rc = convert_run(&job, out, err, errlen);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (took != NULL)
        *took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    fake_done(&f);
    return rc;
}

static void
office_failures_are_explained(void **state)
{
    struct buf out = {0};
    char err[CONVERT_ERROR_MAX];
    double took;

    (void)state;
    /* what soffice runs on, named by us, with its own profile */
    assert_int_equal(
        fake_run("case \"$8\" in -env:UserInstallation=file:///*/profile) ;; *) exit 9;; esac\n"
                 "[ \"$9\" = \"$7/input.odt\" ] && [ -f \"$9\" ] || exit 9\n"
                 "printf '%%PDF-1.4 fake' > \"$7/input.pdf\"",
                 0, 0, &out, err, sizeof err, NULL),
        0);
    assert_string_equal(out.data, "%PDF-1.4 fake");
    buf_reset(&out);
    /* soffice's own complaint, from its output */
    assert_int_equal(fake_run("echo 'Error: source file could not be loaded' >&2", 0, 0, &out, err,
                              sizeof err, NULL),
                     -1);
    assert_string_equal(err, "LibreOffice could not convert the odt document: Error: source file "
                             "could not be loaded");
    assert_int_equal(
        fake_run("echo starting; echo 'it broke'; exit 3", 0, 0, &out, err, sizeof err, NULL), -1);
    assert_string_equal(err, "LibreOffice failed (exit status 3): starting;it broke");
    assert_int_equal(
        fake_run("printf 'junk' > \"$7/input.pdf\"", 0, 0, &out, err, sizeof err, NULL), -1);
    assert_string_equal(err, "LibreOffice wrote something that is not a PDF");
    assert_int_equal(
        fake_run("printf '%%PDF-1.4 fake' > \"$7/input.pdf\"", 0, 5, &out, err, sizeof err, NULL),
        -1);
    assert_string_equal(err, "the pdf would be larger than 5 bytes");
    /* past the timeout the whole group is killed, the child it started too */
    assert_int_equal(fake_run("sleep 30 & sleep 30; wait", 0.3, 0, &out, err, sizeof err, &took),
                     -1);
    assert_string_equal(err, "LibreOffice took longer than 0.3 seconds: killed");
    assert_true(took < 5);
    assert_int_equal(out.len, 0);
    buf_fini(&out);
}

/* A fake soffice that never ends, cancelled from the progress callback once
 * it reports cancel_at: the conversion fails "cancelled" within a few
 * seconds, leaves no output and no directory (fake_done() checks). */
static void
office_cancelled_at(int cancel_at, struct progress_log *log)
{
    struct fake f;
    struct buf out = {0};
    char err[CONVERT_ERROR_MAX];
    volatile sig_atomic_t cancel = 0;
    struct convert_job job = {.from = "docx",
                              .to = "pdf",
                              .in = "x",
                              .len = 1,
                              .cancel = &cancel,
                              .progress = log_progress,
                              .progress_arg = log};
    struct timespec start;

    log->cancel_at = cancel_at;
    log->cancel = &cancel;
    fake_soffice(&f, "sleep 30");
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(convert_run(&job, &out, err, sizeof err), -1);
    assert_true(seconds_since(&start) < 5);
    fake_done(&f);
    assert_string_equal(err, "cancelled");
    assert_int_equal(out.len, 0);
    buf_fini(&out);
    log->cancel = NULL; /* it pointed here */
}

static void
office_cancel_kills_soffice(void **state)
{
    struct progress_log log = {0};

    (void)state;
    office_cancelled_at(10, &log);
}

/* soffice says nothing of its progress: an estimate rises from 10 while it
 * runs, reported at most every half second, and never reaches 90. */
static void
office_progress_rises_while_soffice_runs(void **state)
{
    struct fake f;
    struct buf out = {0};
    char err[CONVERT_ERROR_MAX];
    struct progress_log log = {0};
    struct convert_job job = {.from = "odt",
                              .to = "pdf",
                              .in = "PK\3\4 not really",
                              .len = 16,
                              .progress = log_progress,
                              .progress_arg = &log};
    struct timespec start;
    double took;
    int between = 0;

    (void)state;
    fake_soffice(&f, "sleep 1.6; printf '%%PDF-1.4 fake' > \"$7/input.pdf\"");
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(convert_run(&job, &out, err, sizeof err), 0);
    took = seconds_since(&start);
    fake_done(&f);
    assert_string_equal(out.data, "%PDF-1.4 fake");
    assert_true(log.n >= 3);
    assert_int_equal(log.seen[0], 0);
    assert_int_equal(log.seen[1], 10);
    assert_int_equal(log.seen[log.n - 1], 100);
    for (int i = 1; i < log.n; i++)
        assert_true(log.seen[i] > log.seen[i - 1]);
    for (int i = 2; i < log.n - 1; i++) {
        assert_true(log.seen[i] > 10 && log.seen[i] < 90);
        between++;
    }
    /* 1.6 s of soffice: a report at 0.5 s at the latest, one per 0.5 s at most */
    if (between < 1 || between > (int)(took / 0.5) + 1)
        fail_msg("%d reports between 10 and 100 in %.2f s", between, took);
    buf_fini(&out);
}

/* A cancel while the estimate rises still kills soffice at once. */
static void
office_cancel_after_progress_kills_soffice(void **state)
{
    struct progress_log log = {0};

    (void)state;
    office_cancelled_at(11, &log);
    assert_true(log.n >= 3);
    assert_true(log.seen[log.n - 1] > 10 && log.seen[log.n - 1] < 90);
}

/* pid's state letter from /proc ('R', 'S', 'Z'...; 0: no such process),
 * and its parent's pid. */
static char
process_state(pid_t pid, pid_t *ppid)
{
    char path[64], stat[512] = "";
    const char *after;
    FILE *f;
    int parent = 0;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    if (fgets(stat, sizeof stat, f) == NULL)
        stat[0] = '\0';
    fclose(f);
    if ((after = strrchr(stat, ')')) == NULL || sscanf(after + 2, "%*c %d", &parent) != 1)
        return 0;
    if (ppid != NULL)
        *ppid = parent;
    return after[2];
}

/* Gone: no such process, or a zombie nobody reaped yet. */
static bool
process_gone(pid_t pid)
{
    char state = process_state(pid, NULL);

    return state == 0 || state == 'Z' || state == 'X';
}

/* The worker's master SIGKILLs a child past its hard time limit: soffice
 * must not outlive it, and its directory goes at the next conversion. */
/* Set the times of every entry of dir seconds back. */
static void
age_entries(const char *dir, int seconds)
{
    struct timeval then[2] = {{.tv_sec = time(NULL) - seconds}, {.tv_sec = time(NULL) - seconds}};
    char path[512];
    struct dirent *e;
    DIR *d = opendir(dir);

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        assert_int_equal(utimes(path, then), 0);
    }
    closedir(d);
}

static void
office_a_killed_converter_leaves_nothing_behind(void **state)
{
    struct fake f;
    struct buf out = {0};
    char err[CONVERT_ERROR_MAX], pidfile[128];
    struct convert_job job = {.from = "xlsx", .to = "pdf", .in = "x", .len = 1};
    pid_t child, soffice = 0;
    FILE *p;

    (void)state;
    fake_soffice(&f, "echo $$ > \"$7/../../soffice.pid\"; exec sleep 30");
    snprintf(pidfile, sizeof pidfile, "%s/soffice.pid", f.dir);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        convert_run(&job, &out, err, sizeof err);
        _exit(0);
    }
    for (int i = 0; i < 500 && soffice == 0; i++) {
        usleep(10000);
        if ((p = fopen(pidfile, "r")) != NULL) {
            int n = 0;
            if (fscanf(p, "%d", &n) != 1)
                n = 0;
            soffice = n;
            fclose(p);
        }
    }
    assert_true(soffice > 0);
    pid_t guardian = 0; /* soffice's parent, holding the directory's lock with the child */
    assert_true(process_state(soffice, &guardian) != 0);
    assert_true(guardian > 0 && guardian != child);
    kill(child, SIGKILL);
    assert_int_equal(waitpid(child, NULL, 0), child);
    for (int i = 0; i < 200 && !(process_gone(soffice) && process_gone(guardian)); i++)
        usleep(10000);
    assert_true(process_gone(soffice));
    assert_true(process_gone(guardian));
    /* the next conversion sweeps the dead one's directory, once it is a
     * minute old (a younger one may be a conversion not locked yet) */
    assert_int_equal(unlink(pidfile), 0);
    age_entries(f.tmp, 120);
    FILE *s = fopen(f.prog, "w");
    assert_non_null(s);
    fprintf(s, "#!/bin/sh\nprintf '%%%%PDF-1.4 fake' > \"$7/input.pdf\"\n");
    fclose(s);
    job.from = "pptx";
    assert_int_equal(convert_run(&job, &out, err, sizeof err), 0);
    fake_done(&f); /* fails if a directory is left in its TMPDIR */
    buf_fini(&out);
}

/* ----- the dispatcher ----- */

static void
run_dispatches_and_reports_progress(void **state)
{
    struct progress_log log = {0};
    struct buf out = {0};
    char err[CONVERT_ERROR_MAX];
    struct convert_job job = {.from = "csv",
                              .to = "json",
                              .in = "a;b\n1;2\n",
                              .len = 8,
                              .progress = log_progress,
                              .progress_arg = &log};

    (void)state;
    job.opt.delimiter = ';';
    assert_int_equal(convert_run(&job, &out, err, sizeof err), 0);
    assert_string_equal(out.data, "[{\"a\":\"1\",\"b\":\"2\"}]");
    assert_int_equal(log.n, 2);
    assert_int_equal(log.seen[0], 0);
    assert_int_equal(log.seen[1], 100);
    buf_reset(&out);
    job = (struct convert_job){.from = "md", .to = "html", .in = "*x*", .len = 3};
    assert_int_equal(convert_run(&job, &out, err, sizeof err), 0);
    assert_string_equal(out.data, "<p><em>x</em></p>\n");
    buf_reset(&out);
    job = (struct convert_job){.from = "html", .to = "txt", .in = "<p>x</p>", .len = 8};
    assert_int_equal(convert_run(&job, &out, err, sizeof err), 0);
    assert_string_equal(out.data, "x\n");
    buf_reset(&out);
    struct buf png = make_image("png", 10, 10, false, 1);
    job = (struct convert_job){.from = "png", .to = "jpeg", .in = png.data, .len = png.len};
    assert_int_equal(convert_run(&job, &out, err, sizeof err), 0);
    assert_memory_equal(out.data, "\xff\xd8\xff", 3);
    buf_fini(&png);
    buf_fini(&out);
}

/* A soft time limit or a revocation raises the cancel flag mid-way: the CSV
 * stops at its next look (every CONVERT_WATCH_EVERY rows), keeping nothing. */
static void
run_text_conversion_stops_on_cancel(void **state)
{
    struct buf csv = {0}, out = {0};
    char err[CONVERT_ERROR_MAX];
    volatile sig_atomic_t cancel = 0;
    struct progress_log log = {.cancel_at = 20, .cancel = &cancel};
    struct convert_job job = {.from = "csv",
                              .to = "json",
                              .cancel = &cancel,
                              .progress = log_progress,
                              .progress_arg = &log};

    (void)state;
    buf_put(&csv, "a,b\n");
    for (int i = 0; i < 200000; i++)
        buf_put(&csv, "some,row\n");
    job.in = csv.data;
    job.len = csv.len;
    assert_int_equal(convert_run(&job, &out, err, sizeof err), -1);
    assert_string_equal(err, "cancelled");
    assert_int_equal(out.len, 0);
    assert_int_equal(log.seen[0], 0);
    assert_true(log.seen[log.n - 1] >= 20 && log.seen[log.n - 1] < 40);
    /* not cancelled: the rows report their progress on the way to 100 */
    cancel = 0;
    log = (struct progress_log){0};
    assert_int_equal(convert_run(&job, &out, err, sizeof err), 0);
    assert_true(log.n > 10);
    assert_int_equal(log.seen[log.n - 1], 100);
    buf_fini(&csv);
    buf_fini(&out);
}

/* Each text converter's loop looks at the flag: set from the start, each
 * stops within its first CONVERT_WATCH_EVERY items. */
static void
text_converters_look_at_the_cancel_flag(void **state)
{
    struct buf csv = {0}, json = {0}, xml = {0}, html = {0}, out = {0};
    char err[CONVERT_ERROR_MAX];
    volatile sig_atomic_t cancel = 1;
    struct convert_watch w;

    (void)state;
    buf_put(&csv, "a\n");
    buf_put(&json, "[");
    buf_put(&xml, "<r>");
    for (int i = 0; i < 5000; i++) {
        buf_put(&csv, "1\n");
        buf_put(&json, i > 0 ? ",{\"a\":1}" : "{\"a\":1}");
        buf_put(&xml, "<a>1</a>");
        buf_put(&html, "<p>1</p>");
    }
    buf_put(&json, "]");
    buf_put(&xml, "</r>");
    for (int pass = 0; pass < 2; pass++) {
        /* the first pass cancelled, the second not: the same inputs convert */
        int want = pass == 0 ? -1 : 0;
        cancel = pass == 0;
#define TRY(call)                                                                                  \
    do {                                                                                           \
        w = (struct convert_watch){.cancel = &cancel};                                             \
        buf_reset(&out);                                                                           \
        err[0] = '\0';                                                                             \
        if ((call) != want || (want < 0 && strcmp(err, "cancelled") != 0))                         \
            fail_msg("%s: pass %d: %s", #call, pass, err);                                         \
    } while (0)
        TRY(convert_csv_to_json_w(csv.data, csv.len, ',', 1u << 24, &w, &out, err, sizeof err));
        TRY(convert_json_to_csv_w(json.data, json.len, ',', 1u << 24, &w, &out, err, sizeof err));
        TRY(convert_xml_to_json_w(xml.data, xml.len, 1u << 24, &w, &out, err, sizeof err));
        TRY(convert_json_to_xml_w(json.data, json.len, 1u << 24, &w, &out, err, sizeof err));
        TRY(convert_html_to_text_w(html.data, html.len, 1u << 24, &w, &out, err, sizeof err));
#undef TRY
    }
    buf_fini(&csv);
    buf_fini(&json);
    buf_fini(&xml);
    buf_fini(&html);
    buf_fini(&out);
}

static void
run_refusals(void **state)
{
    struct buf out = {0};
    char err[CONVERT_ERROR_MAX];
    volatile sig_atomic_t cancel = 1;
    struct convert_job job = {.from = "csv", .to = "png", .in = "a\n", .len = 2};

    (void)state;
    assert_int_equal(convert_run(&job, &out, err, sizeof err), -1);
    assert_string_equal(err, "cannot convert csv to png (it converts to json)");
    job.from = "pdf";
    assert_int_equal(convert_run(&job, &out, err, sizeof err), -1);
    assert_string_equal(err, "cannot convert pdf to png");
    job.from = NULL;
    assert_int_equal(convert_run(&job, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "nothing to convert"));
    /* cancelled before it starts */
    job = (struct convert_job){
        .from = "csv", .to = "json", .in = "a\n1\n", .len = 4, .cancel = &cancel};
    assert_int_equal(convert_run(&job, &out, err, sizeof err), -1);
    assert_string_equal(err, "cancelled");
    /* a failure resets out, what was there before included */
    buf_put(&out, "earlier");
    job = (struct convert_job){.from = "json", .to = "csv", .in = "{", .len = 1};
    assert_int_equal(convert_run(&job, &out, err, sizeof err), -1);
    assert_int_equal(out.len, 0);
    buf_fini(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csv_rfc4180_cases),
        cmocka_unit_test(csv_other_delimiters),
        cmocka_unit_test(csv_refusals_name_the_line),
        cmocka_unit_test(output_is_bounded),
        cmocka_unit_test(json_to_csv_mapping),
        cmocka_unit_test(json_to_csv_refusals),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(xml_to_json_mapping),
        cmocka_unit_test(xml_refusals),
        cmocka_unit_test(json_to_xml_mapping),
        cmocka_unit_test(xml_round_trip),
        cmocka_unit_test(xml_to_json_is_bounded_while_it_builds),
        cmocka_unit_test(json_to_xml_is_bounded_while_it_builds),
        cmocka_unit_test(html_paragraphs_lists_and_links),
        cmocka_unit_test(html_script_style_and_the_like_are_dropped),
        cmocka_unit_test(html_encodings_become_utf8),
        cmocka_unit_test(html_deep_nesting_does_not_crash),
        cmocka_unit_test(html_output_is_bounded),
        cmocka_unit_test(markdown_renders_commonmark),
        cmocka_unit_test(markdown_raw_html_and_javascript_links_are_dropped),
        cmocka_unit_test(markdown_refusals),
        cmocka_unit_test(image_png_jpeg_webp_round),
        cmocka_unit_test(image_resize_fits_the_box_and_never_enlarges),
        cmocka_unit_test(image_jpeg_from_alpha_is_white_behind),
        cmocka_unit_test(image_gif_gives_its_first_frame),
        cmocka_unit_test(image_huge_header_is_refused_before_decoding),
        cmocka_unit_test(image_corrupt_or_truncated_is_refused),
        cmocka_unit_test(image_mislabelled_is_refused),
        cmocka_unit_test(image_output_is_bounded),
        cmocka_unit_test(image_cancel_stops_the_conversion),
        cmocka_unit_test(office_documents_become_pdf),
        cmocka_unit_test(office_without_soffice_says_not_installed),
        cmocka_unit_test(office_failures_are_explained),
        cmocka_unit_test(office_cancel_kills_soffice),
        cmocka_unit_test(office_progress_rises_while_soffice_runs),
        cmocka_unit_test(office_cancel_after_progress_kills_soffice),
        cmocka_unit_test(office_a_killed_converter_leaves_nothing_behind),
        cmocka_unit_test(run_dispatches_and_reports_progress),
        cmocka_unit_test(run_text_conversion_stops_on_cancel),
        cmocka_unit_test(text_converters_look_at_the_cancel_flag),
        cmocka_unit_test(run_refusals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
