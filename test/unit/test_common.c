/* test/unit/test_common.c - common/: UTF-8 and JSON checks, config parsing,
 * URL redaction, UUIDs. */
#include <math.h>
#include <stdarg.h> /* cmocka.h needs these four first */
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/strset.h"
#include "common/json.h"
#include "common/uuid.h"

static void
utf8_validation_rejects_overlongs_surrogates_and_truncation(void **state)
{
    (void)state;
    assert_true(utf8_valid("plain", 5));
    assert_true(utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9)); /* é € 😀 */
    assert_false(utf8_valid("\xc0\xaf", 2));                         /* overlong '/' */
    assert_false(utf8_valid("\xed\xa0\x80", 3));                     /* surrogate */
    assert_false(utf8_valid("\xe2\x82", 2));                         /* truncated */
    assert_false(utf8_valid("\xff", 1));
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
}

static void
utf8_scrub_replaces_only_the_bad_bytes(void **state)
{
    char s[] = "ok \xc3\xa9 \xff bad \xe2\x82 cut";

    (void)state;
    utf8_scrub(s);
    assert_string_equal(s, "ok \xc3\xa9 ? bad ?? cut");
    assert_true(utf8_valid(s, strlen(s)));
}

static void
json_strings_are_escaped_for_documents_sent_to_postgresql(void **state)
{
    struct buf b = {0};
    cJSON *v;

    (void)state;
    buf_json_str(&b, "a\"b\\c\n\x01\xc3\xa9");
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\"");
    v = cJSON_Parse(b.data);
    assert_non_null(v);
    assert_string_equal(v->valuestring, "a\"b\\c\n\x01\xc3\xa9");
    cJSON_Delete(v);
    buf_fini(&b);
}

static void
iso_times_are_utc_with_microseconds(void **state)
{
    char at[CLOCK_ISO_LEN];

    (void)state;
    clock_iso_now(at);
    assert_int_equal(strlen(at), 27); /* 2026-11-30T10:00:00.123456Z */
    assert_int_equal(at[10], 'T');
    assert_int_equal(at[19], '.');
    assert_int_equal(at[26], 'Z');
}

static void
json_parse_names_the_problem(void **state)
{
    char err[128];
    char deep[200];
    cJSON *v;

    (void)state;
    v = json_parse("{\"a\": [1, 2]}  \n", 15, err, sizeof err);
    assert_non_null(v);
    cJSON_Delete(v);
    assert_null(json_parse("{\"a\": ", 6, err, sizeof err));
    assert_non_null(strstr(err, "malformed JSON"));
    assert_null(json_parse("{} {}", 5, err, sizeof err));
    assert_non_null(strstr(err, "trailing data"));
    /* cJSON would cut "a\u0000b" to "a": refuse it rather than lose data. */
    assert_null(json_parse("[\"a\\u0000b\"]", 12, err, sizeof err));
    assert_non_null(strstr(err, "NUL"));
    /* ... and so would a raw NUL byte (which JSON never allows unescaped). */
    assert_null(json_parse("[\"a\0b\"]", 7, err, sizeof err));
    assert_string_equal(err, "a NUL byte inside a string");
    v = json_parse("[\"a\\\\u0000b\"]", 13, err, sizeof err); /* an escaped backslash */
    assert_non_null(v);
    cJSON_Delete(v);
    assert_null(json_parse("\"\xff\"", 3, err, sizeof err));
    assert_non_null(strstr(err, "UTF-8"));
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_null(json_parse(deep, 200, err, sizeof err));
    assert_non_null(strstr(err, "nested deeper"));
    /* Brackets inside strings do not count as nesting. */
    memset(deep, '[', sizeof deep);
    deep[0] = '[';
    deep[1] = '"';
    deep[sizeof deep - 2] = '"';
    deep[sizeof deep - 1] = ']';
    v = json_parse(deep, sizeof deep, err, sizeof err);
    assert_non_null(v);
    cJSON_Delete(v);
}

static void
config_reads_the_environment_and_rejects_bad_numbers(void **state)
{
    struct config c;
    char err[128];

    (void)state;
    unsetenv("AMQP_URL");
    setenv("WORKER_CONCURRENCY", "3", 1);
    assert_int_equal(cfg_load_env(&c, err, sizeof err), 0);
    assert_string_equal(c.amqp_url, CFG_DEFAULT_AMQP_URL);
    assert_int_equal(c.concurrency, 3);
    assert_int_equal(c.prefetch, CFG_DEFAULT_PREFETCH);
    setenv("WORKER_PREFETCH", "lots", 1);
    assert_int_equal(cfg_load_env(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "WORKER_PREFETCH"));
    unsetenv("WORKER_PREFETCH");
    unsetenv("WORKER_CONCURRENCY");
    /* The queue type: classic by default, quorum on demand, nothing else. */
    unsetenv("CELERIAC_QUEUE_TYPE");
    assert_int_equal(cfg_load_env(&c, err, sizeof err), 0);
    assert_string_equal(c.queue_type, "classic");
    setenv("CELERIAC_QUEUE_TYPE", "quorum", 1);
    assert_int_equal(cfg_load_env(&c, err, sizeof err), 0);
    assert_string_equal(c.queue_type, "quorum");
    setenv("CELERIAC_QUEUE_TYPE", "stream", 1);
    assert_int_equal(cfg_load_env(&c, err, sizeof err), -1);
    assert_string_equal(err, "CELERIAC_QUEUE_TYPE=stream: expected classic or quorum");
    unsetenv("CELERIAC_QUEUE_TYPE");
}

static void
a_strset_reads_a_comma_separated_list(void **state)
{
    struct strset s = {0};

    (void)state;
    assert_int_equal(strset_add_csv(&s, " celery, scrape ,,celery,chat "), 3);
    assert_int_equal(s.n, 3);
    assert_true(strset_has(&s, "celery") && strset_has(&s, "scrape") && strset_has(&s, "chat"));
    assert_false(strset_has(&s, " scrape "));
    assert_int_equal(strset_add_csv(&s, "chat,convert"), 1);
    assert_int_equal(strset_add_csv(&s, " , ,"), 0);
    assert_int_equal(s.n, 4);
    strset_clear(&s);
}

static void
urls_are_redacted_before_logging(void **state)
{
    char out[128];

    (void)state;
    cfg_redact_url("amqp://guest:s3cret@host:5672/", out, sizeof out);
    assert_string_equal(out, "amqp://guest:***@host:5672/");
    cfg_redact_url("postgresql://celeriac@127.0.0.1/db", out, sizeof out);
    assert_string_equal(out, "postgresql://celeriac@127.0.0.1/db");
    cfg_redact_url("amqp://u:a@n1:5672/;amqp://n2/;amqp://u:b@n3/v", out, sizeof out);
    assert_string_equal(out, "amqp://u:***@n1:5672/;amqp://n2/;amqp://u:***@n3/v");
    cfg_redact_url("amqp://guest:s3cret@a-rather-long-host-name:5672/", out, 16);
    assert_string_equal(out, "amqp://guest:**"); /* cut, never past the buffer */
}

/* Run log_msg with stderr on a pipe; returns what it wrote (static buffer). */
static const char *
captured_log(const char *task_id, const char *message)
{
    static char out[8192];
    int fds[2], saved = dup(STDERR_FILENO);
    ssize_t n;

    assert_int_equal(pipe(fds), 0);
    dup2(fds[1], STDERR_FILENO);
    log_msg(LL_WARN, task_id, "%s", message);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    n = read(fds[0], out, sizeof out - 1);
    close(fds[0]);
    out[n > 0 ? n : 0] = '\0';
    return out;
}

static void
log_lines_are_single_bounded_lines_with_role_and_task(void **state)
{
    static char big[5000];
    const char *line;

    (void)state;
    log_init("test");
    line = captured_log("0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f10", "server said\nno\n");
    assert_non_null(strstr(line, " WARN  test["));
    assert_non_null(strstr(line, "task=0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f10 server said no\n"));
    assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1); /* exactly one newline, last */
    memset(big, 'x', sizeof big - 1);
    line = captured_log(NULL, big);
    assert_int_equal(strlen(line), 2048);
    assert_int_equal(line[2047], '\n');
}

static void
uuids_are_random_and_checked(void **state)
{
    char a[UUID_STR_LEN], b[UUID_STR_LEN];

    (void)state;
    uuid_new(a);
    uuid_new(b);
    assert_true(uuid_is_valid(a));
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4'); /* version 4 */
    assert_false(uuid_is_valid("0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f1"));
    assert_false(uuid_is_valid("../../etc/passwd"));
    assert_false(uuid_is_valid(NULL));
}

/* eta/expires as Celery and people write them, to the microsecond, and back. */
static void
iso_times_parse_with_offsets_and_round_trip(void **state)
{
    double t;
    char out[CLOCK_ISO_LEN];

    (void)state;
    assert_int_equal(clock_parse_iso("2026-11-30T10:00:00.123456+00:00", &t), 0);
    assert_true(fabs(t - 1796032800.123456) < 1e-6);
    assert_int_equal(clock_parse_iso("2026-11-30T11:30:00+01:30", &t), 0);
    assert_true(fabs(t - 1796032800) < 1e-6);
    assert_int_equal(clock_parse_iso("2026-11-30 10:00:00Z", &t), 0);
    assert_int_equal(clock_parse_iso("2026-11-30T10:00", &t), 0); /* no seconds, no offset: UTC */
    assert_true(fabs(t - 1796032800) < 1e-6);
    clock_iso_at(1796032800.25, out);
    assert_string_equal(out, "2026-11-30T10:00:00.250000Z");
    assert_int_equal(clock_parse_iso(out, &t), 0);
    assert_true(fabs(t - 1796032800.25) < 1e-6);
    const char *bad[] = {"", "tomorrow", "2026-13-01T00:00:00Z", "2026-11-30", "2026-11-30T25:00Z",
                         "2026-11-30T10:00:00+", "2026-11-30T10:00:00Zjunk", "0000-01-01T00:00Z",
                         "2026-11-30T10:00:00."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(clock_parse_iso(bad[i], &t), -1);
    assert_int_equal(clock_parse_iso(NULL, &t), -1);
}

static void
a_strset_keeps_each_string_once(void **state)
{
    struct strset s = {0};
    const char *const two[] = {"b", "c", "b"};
    char *gone;

    (void)state;
    assert_false(strset_has(&s, "a"));
    assert_int_equal(strset_add(&s, "a"), 1);
    assert_int_equal(strset_add(&s, "a"), 0);
    assert_int_equal(strset_add(&s, "z"), 1);
    assert_true(strset_has(&s, "a") && strset_has(&s, "z") && s.n == 2);
    assert_true(strset_remove(&s, "a"));
    assert_false(strset_remove(&s, "a"));
    assert_true(!strset_has(&s, "a") && strset_has(&s, "z") && s.n == 1);
    /* Removing by a member's own pointer (what a caller walking the set does). */
    gone = s.v[0];
    assert_true(strset_remove(&s, gone));
    assert_int_equal(s.n, 0);
    assert_int_equal(strset_assign(&s, two, 3), 0); /* duplicates kept once */
    assert_int_equal(s.n, 2);
    assert_true(strset_has(&s, "b") && strset_has(&s, "c"));
    assert_int_equal(strset_assign(&s, NULL, 0), 0);
    assert_int_equal(s.n, 0);
    strset_clear(&s);
    strset_clear(&s); /* twice is fine */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_validation_rejects_overlongs_surrogates_and_truncation),
        cmocka_unit_test(json_parse_names_the_problem),
        cmocka_unit_test(utf8_scrub_replaces_only_the_bad_bytes),
        cmocka_unit_test(json_strings_are_escaped_for_documents_sent_to_postgresql),
        cmocka_unit_test(iso_times_are_utc_with_microseconds),
        cmocka_unit_test(iso_times_parse_with_offsets_and_round_trip),
        cmocka_unit_test(config_reads_the_environment_and_rejects_bad_numbers),
        cmocka_unit_test(a_strset_reads_a_comma_separated_list),
        cmocka_unit_test(urls_are_redacted_before_logging),
        cmocka_unit_test(log_lines_are_single_bounded_lines_with_role_and_task),
        cmocka_unit_test(uuids_are_random_and_checked),
        cmocka_unit_test(a_strset_keeps_each_string_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
