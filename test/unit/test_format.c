/* test/unit/test_format.c - what a file is and what it can become
 * (convert/format.c): names, sniffing by signature, a name checked against
 * the bytes, the supported pairs, options, output names and env bounds. */
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

static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
static const char jpeg[] = "\xff\xd8\xff\xe0\0\x10JFIF";

static void
formats_of_names(void **state)
{
    (void)state;
    assert_string_equal(convert_format_of_ext("JPG"), "jpeg");
    assert_string_equal(convert_format_of_ext("jpeg"), "jpeg");
    assert_string_equal(convert_format_of_ext("htm"), "html");
    assert_string_equal(convert_format_of_ext("markdown"), "md");
    assert_null(convert_format_of_ext("exe"));
    assert_null(convert_format_of_ext("zip")); /* what sniffing says, not a target */
    assert_string_equal(convert_format_of_ext("text"), "txt");
    assert_string_equal(convert_format_of_name("Report.Final.DOCX"), "docx");
    assert_null(convert_format_of_name(".csv")); /* a hidden file, no extension */
    assert_null(convert_format_of_name("dir.csv/file"));
    assert_null(convert_format_of_name("README"));
    assert_string_equal(convert_mime("webp"), "image/webp");
    assert_string_equal(convert_mime("csv"), "text/csv; charset=utf-8");
    assert_string_equal(convert_mime(NULL), "application/octet-stream");
}

static void
sniffing_by_signature(void **state)
{
    char zip[200] = "PK\3\4";

    (void)state;
    assert_string_equal(convert_sniff(png, sizeof png - 1), "png");
    assert_string_equal(convert_sniff(jpeg, sizeof jpeg - 1), "jpeg");
    assert_string_equal(convert_sniff("GIF89a\1\0", 8), "gif");
    assert_string_equal(convert_sniff("RIFF\0\0\0\0WEBPVP8 ", 16), "webp");
    assert_string_equal(convert_sniff("%PDF-1.7\n", 9), "pdf");
    assert_string_equal(convert_sniff("a,b\r\n1,\xc3\xa9\n", 10), "text");
    assert_string_equal(convert_sniff("", 0), "text");
    assert_null(convert_sniff("a\0b", 3));
    assert_null(convert_sniff("\xc3\x28", 2));      /* invalid UTF-8 */
    assert_null(convert_sniff("\xed\xa0\x80", 3));  /* a surrogate */
    assert_string_equal(convert_sniff("ab\xc3", 3), "text"); /* cut by the window */

    /* ZIP: an OpenDocument names itself; OOXML by its parts. */
    zip[26] = 8;
    memcpy(zip + 30, "mimetypeapplication/vnd.oasis.opendocument.text", 47);
    assert_string_equal(convert_sniff(zip, sizeof zip), "odt");
    memset(zip + 4, 0, sizeof zip - 4);
    zip[26] = 19;
    memcpy(zip + 30, "[Content_Types].xml", 19);
    memcpy(zip + 60, "PK\3\4", 4);
    zip[60 + 26] = 17;
    memcpy(zip + 90, "word/document.xml", 17);
    assert_string_equal(convert_sniff(zip, sizeof zip), "docx");
    memcpy(zip + 90, "xl/workbook.xml\0\0", 17);
    assert_string_equal(convert_sniff(zip, sizeof zip), "xlsx");
    memcpy(zip + 90, "other/thing.bin\0\0", 17);
    assert_string_equal(convert_sniff(zip, sizeof zip), "zip");
}

static void
identify_checks_the_name_against_the_bytes(void **state)
{
    char err[CONVERT_ERROR_MAX];

    (void)state;
    assert_string_equal(convert_identify(png, sizeof png - 1, "a.png", err, sizeof err), "png");
    assert_string_equal(convert_identify(png, sizeof png - 1, "noext", err, sizeof err), "png");
    assert_null(convert_identify(jpeg, sizeof jpeg - 1, "photo.png", err, sizeof err));
    assert_string_equal(err, "photo.png is not what its name says: its name says png, its bytes "
                             "are a JPEG image");
    assert_null(convert_identify(png, sizeof png - 1, "data.csv", err, sizeof err));
    assert_non_null(strstr(err, "its bytes are a PNG image"));
    assert_null(convert_identify("a,b\n", 4, "photo.jpg", err, sizeof err));
    assert_non_null(strstr(err, "its bytes are text"));
    assert_null(convert_identify("\0\1\2\3", 4, "x.bin", err, sizeof err));
    assert_non_null(strstr(err, "not a format we convert"));

    /* Text takes the name's format, else a guess from its start. */
    assert_string_equal(convert_identify("a,b\n", 4, "t.CSV", err, sizeof err), "csv");
    assert_string_equal(convert_identify(" [1]", 4, "", err, sizeof err), "json");
    assert_string_equal(convert_identify("\xef\xbb\xbf{}", 5, NULL, err, sizeof err), "json");
    assert_string_equal(convert_identify("<?xml version='1.0'?><a/>", 25, "x", err, sizeof err),
                        "xml");
    assert_string_equal(convert_identify("<!DOCTYPE html><p>", 18, "x", err, sizeof err), "html");
    assert_string_equal(convert_identify("hello", 5, "x", err, sizeof err), "txt");
}

static void
pairs_and_office(void **state)
{
    cJSON *pairs;

    (void)state;
    assert_true(convert_supported("csv", "json"));
    assert_true(convert_supported("gif", "webp"));
    assert_false(convert_supported("csv", "png"));
    assert_false(convert_supported("png", "gif")); /* GIF is read, never written */
    assert_false(convert_supported(NULL, "json"));

    setenv("CONVERT_SOFFICE", "/nonexistent/soffice", 1);
    assert_false(convert_office_available());
    assert_false(convert_supported("docx", "pdf"));
    pairs = convert_pairs_json();
    assert_null(cJSON_GetObjectItem(pairs, "docx"));
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(pairs, "csv"), 0)->valuestring,
                        "json");
    cJSON_Delete(pairs);

    setenv("CONVERT_SOFFICE", "/bin/sh", 1); /* any program will do for the lookup */
    assert_true(convert_office_available());
    assert_string_equal(convert_soffice_path(), "/bin/sh");
    assert_true(convert_supported("pptx", "pdf"));
    pairs = convert_pairs_json();
    assert_non_null(cJSON_GetObjectItem(pairs, "odt"));
    cJSON_Delete(pairs);
    unsetenv("CONVERT_SOFFICE");
}

static int
parse_options(const char *json, struct convert_options *opt, char *err, size_t errlen)
{
    cJSON *o = cJSON_Parse(json);
    int rc = convert_options_parse(o, opt, err, errlen);

    cJSON_Delete(o);
    return rc;
}

static void
options(void **state)
{
    struct convert_options opt;
    char err[CONVERT_ERROR_MAX];

    (void)state;
    assert_int_equal(convert_options_parse(NULL, &opt, err, sizeof err), 0);
    assert_int_equal(opt.width, 0);
    assert_int_equal(parse_options("{\"width\": 800, \"quality\": 75, \"delimiter\": \"tab\","
                                   " \"height\": null}", &opt, err, sizeof err), 0);
    assert_int_equal(opt.width, 800);
    assert_int_equal(opt.height, 0);
    assert_int_equal(opt.quality, 75);
    assert_int_equal(opt.delimiter, '\t');
    assert_int_equal(parse_options("{\"quality\": 101}", &opt, err, sizeof err), -1);
    assert_string_equal(err, "option quality must be a whole number from 1 to 100");
    assert_int_equal(parse_options("{\"width\": 1.5}", &opt, err, sizeof err), -1);
    assert_int_equal(parse_options("{\"width\": 1e300}", &opt, err, sizeof err), -1);
    assert_int_equal(parse_options("{\"height\": -1e300}", &opt, err, sizeof err), -1);
    assert_int_equal(parse_options("{\"width\": \"800\"}", &opt, err, sizeof err), -1);
    assert_int_equal(parse_options("{\"delimiter\": \"::\"}", &opt, err, sizeof err), -1);
    assert_int_equal(parse_options("{\"colour\": 1}", &opt, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown option colour"));
    assert_int_equal(parse_options("[1]", &opt, err, sizeof err), -1);
    assert_string_equal(err, "options must be a JSON object");
}

static void
output_names(void **state)
{
    char name[32];

    (void)state;
    convert_output_name("report.docx", "pdf", name, sizeof name);
    assert_string_equal(name, "report.pdf");
    convert_output_name("photo.PNG", "jpeg", name, sizeof name);
    assert_string_equal(name, "photo.jpg");
    convert_output_name("archive.tar.csv", "json", name, sizeof name);
    assert_string_equal(name, "archive.tar.json");
    convert_output_name("README", "txt", name, sizeof name);
    assert_string_equal(name, "README.txt");
    convert_output_name("", "csv", name, sizeof name);
    assert_string_equal(name, "output.csv");
    convert_output_name("a-very-long-name-that-does-not-fit.md", "html", name, sizeof name);
    assert_string_equal(name, "a-very-long-name-that-does.html");
    /* cut on a character: "é" is two bytes, 26 of them do not fit */
    convert_output_name("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9.png",
                        "webp", name, sizeof name);
    assert_string_equal(name, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                              "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9.webp");
    convert_output_name("x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9.png",
                        "webp", name, sizeof name);
    assert_int_equal(strlen(name), 25 + 5); /* a 26th byte would halve an "é" */
    assert_string_equal(name + 25, ".webp");
}

static void
bounds_from_env(void **state)
{
    struct convert_job job = {0};
    char err[CONVERT_ERROR_MAX];

    (void)state;
    assert_int_equal(convert_limits_from_env(&job, err, sizeof err), 0);
    assert_int_equal(job.max_pixels, CONVERT_DEFAULT_MAX_PIXELS);
    assert_int_equal(job.max_output, CONVERT_DEFAULT_MAX_OUTPUT);
    assert_int_equal(job.max_input, CONVERT_DEFAULT_MAX_INPUT);
    setenv("CONVERT_MAX_PIXELS", "1000", 1);
    assert_int_equal(convert_limits_from_env(&job, err, sizeof err), 0);
    assert_int_equal(job.max_pixels, 1000);
    setenv("CONVERT_TIMEOUT", "soon", 1);
    assert_int_equal(convert_limits_from_env(&job, err, sizeof err), -1);
    assert_string_equal(err, "CONVERT_TIMEOUT=soon: expected a number from 1 to 86400");
    unsetenv("CONVERT_TIMEOUT");
    unsetenv("CONVERT_MAX_PIXELS");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(formats_of_names),
        cmocka_unit_test(sniffing_by_signature),
        cmocka_unit_test(identify_checks_the_name_against_the_bytes),
        cmocka_unit_test(pairs_and_office),
        cmocka_unit_test(options),
        cmocka_unit_test(output_names),
        cmocka_unit_test(bounds_from_env),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
