/* test/unit/test_celery.c - the Celery protocol v2 codec (broker/celery.c) and
 * the AMQP table <-> JSON mapping (broker/table.c), against messages captured
 * from Debian's python3-celery 5.2.6. */
#include <stdarg.h> /* cmocka.h needs these four first */
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/celery.h"
#include "broker/internal.h"
#include "common/json.h"

#define FIXTURES "test/fixtures/celery-wire/"

/* The n-th line of a .jsonl fixture whose "what" equals what. */
static cJSON *
fixture(const char *file, const char *what, int n)
{
    FILE *f = fopen(file, "r");
    char *line = NULL;
    size_t cap = 0;
    cJSON *found = NULL;

    assert_non_null(f);
    while (found == NULL && getline(&line, &cap, f) > 0) {
        cJSON *v = cJSON_Parse(line);
        const char *w = json_str(v, "what");
        if (w != NULL && strcmp(w, what) == 0 && n-- == 0)
            found = v;
        else
            cJSON_Delete(v);
    }
    free(line);
    fclose(f);
    assert_non_null(found);
    return found;
}

/* A captured message as the broker layer would hand it to the codec. */
static void
wire_from_capture(const cJSON *cap, struct celery_wire *w)
{
    const cJSON *p = cJSON_GetObjectItem(cap, "properties");
    const cJSON *prio;

    if (p == NULL)
        p = cJSON_GetObjectItem(cap, "props");
    memset(w, 0, sizeof *w);
    w->content_type = xstrdup_or_null(json_str(p, "content_type"));
    w->content_encoding = xstrdup_or_null(json_str(p, "content_encoding"));
    w->correlation_id = xstrdup_or_null(json_str(p, "correlation_id"));
    w->reply_to = xstrdup_or_null(json_str(p, "reply_to"));
    w->expiration = xstrdup_or_null(json_str(p, "expiration"));
    prio = cJSON_GetObjectItem(p, "priority");
    w->priority = cJSON_IsNumber(prio) ? prio->valueint : -1;
    w->delivery_mode = 2;
    w->headers = cJSON_Duplicate(cJSON_GetObjectItem(cap, "headers"), true);
    w->body = json_print(cJSON_GetObjectItem(cap, "body"));
    w->body_len = strlen(w->body);
}

/* Decode the n-th captured message named what; it must decode. */
static void
decode_capture(const char *file, const char *what, int n, struct celery_msg *m)
{
    cJSON *cap = fixture(file, what, n);
    struct celery_wire w;
    char err[256] = "";

    wire_from_capture(cap, &w);
    if (celery_decode(&w, m, err, sizeof err) != 0)
        fail_msg("%s #%d does not decode: %s", what, n, err);
    celery_wire_fini(&w);
    cJSON_Delete(cap);
}

static void
decodes_a_captured_celery_task_message(void **state)
{
    struct celery_msg m;
    char *args, *kwargs;

    (void)state;
    decode_capture(FIXTURES "capture_basic.jsonl", "A.task_message.default_queue", 0, &m);
    assert_string_equal(m.task, "proj.add");
    assert_string_equal(m.id, "8f6dcd6a-fb7e-48f2-9aaa-84fc0a0811df");
    assert_string_equal(m.root_id, m.id);
    assert_null(m.parent_id);
    assert_int_equal(m.retries, 0);
    assert_null(m.eta);
    assert_true(m.time_limit == 0 && m.soft_time_limit == 0);
    assert_string_equal(m.reply_to, "25c8ba91-383e-3d7b-a1dd-3624ff07a6c3");
    assert_string_equal(m.origin, "gen20394@vm");
    assert_false(m.ignore_result);
    args = json_print(m.args);
    kwargs = json_print(m.kwargs);
    assert_string_equal(args, "[2,2]");
    assert_string_equal(kwargs, "{\"z\":1}");
    cJSON_free(args);
    cJSON_free(kwargs);
    celery_msg_fini(&m);
}

static void
decodes_eta_expires_priority_and_hard_soft_time_limits(void **state)
{
    struct celery_msg m;

    (void)state;
    decode_capture(FIXTURES "capture_basic.jsonl", "A.task_message.default_queue", 1, &m);
    assert_string_equal(m.eta, "2026-11-22T12:13:46.578256+00:00");
    assert_string_equal(m.expires, "2026-11-22T12:15:16.578256+00:00");
    /* Celery's code sends [hard, soft]: [30, 20]. */
    assert_true(m.time_limit == 30);
    assert_true(m.soft_time_limit == 20);
    assert_int_equal(m.priority, 5);
    celery_msg_fini(&m);
}

static void
decodes_a_celery_retry_republish(void **state)
{
    struct celery_msg m;

    (void)state;
    decode_capture(FIXTURES "capture_retry_unknown.jsonl", "retry_republish", 0, &m);
    assert_string_equal(m.task, "proj.flaky");
    assert_int_equal(m.retries, 1);
    assert_string_equal(m.parent_id, m.id); /* 5.2.6 sets the retried task as its own parent */
    celery_msg_fini(&m);
}

/* Encode, carry the headers through a real AMQP table encoding, decode. */
static void
encode_then_decode_round_trips_through_an_amqp_table(void **state)
{
    struct celery_msg in = {0}, out;
    struct celery_wire w, back = {0};
    amqp_pool_t pool;
    amqp_table_t table, decoded;
    char buf[8192], err[256] = "";
    amqp_bytes_t enc = {sizeof buf, buf};
    size_t off = 0;
    char *text;

    (void)state;
    in.id = "0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f10";
    in.task = "demo.add";
    in.args = cJSON_Parse("[2, 3.5, \"x\", null, [true]]");
    in.kwargs = cJSON_Parse("{\"y\": {\"z\": \"\\u00e9\"}}");
    in.eta = "2026-01-01T00:00:00+00:00";
    in.retries = 2;
    in.time_limit = 30;
    in.soft_time_limit = 20;
    in.group_index = -1;
    in.origin = "celeriac@test";
    in.ignore_result = true;
    assert_int_equal(celery_encode(&in, &w, err, sizeof err), 0);
    assert_string_equal(w.content_type, "application/json");
    assert_string_equal(w.correlation_id, in.id);
    assert_int_equal(w.delivery_mode, 2);

    init_amqp_pool(&pool, 4096);
    assert_int_equal(broker_json_to_table(w.headers, &pool, &table), 0);
    assert_int_equal(amqp_encode_table(enc, &table, &off), 0);
    enc.len = off;
    off = 0;
    assert_int_equal(amqp_decode_table(enc, &pool, &decoded, &off), 0);
    back = w;
    back.headers = broker_table_to_json(&decoded);
    empty_amqp_pool(&pool);

    assert_int_equal(celery_decode(&back, &out, err, sizeof err), 0);
    assert_string_equal(out.id, in.id);
    assert_string_equal(out.task, "demo.add");
    assert_string_equal(out.eta, in.eta);
    assert_int_equal(out.retries, 2);
    assert_true(out.time_limit == 30 && out.soft_time_limit == 20);
    assert_true(out.ignore_result);
    assert_string_equal(out.origin, "celeriac@test");
    assert_string_equal(out.root_id, in.id);
    assert_string_equal(out.argsrepr, "(2, 3.5, 'x', None, [True])");
    text = json_print(out.args);
    assert_string_equal(text, "[2,3.5,\"x\",null,[true]]");
    cJSON_free(text);
    text = json_print(out.kwargs);
    assert_string_equal(text, "{\"y\":{\"z\":\"\xc3\xa9\"}}");
    cJSON_free(text);
    assert_true(cJSON_IsObject(out.embed));

    cJSON_Delete(back.headers);
    celery_msg_fini(&out);
    celery_wire_fini(&w);
    cJSON_Delete(in.args);
    cJSON_Delete(in.kwargs);
}

static void
encoded_headers_have_exactly_celerys_keys(void **state)
{
    cJSON *cap = fixture(FIXTURES "capture_basic.jsonl", "A.task_message.default_queue", 0);
    const cJSON *want = cJSON_GetObjectItem(cap, "headers"), *k;
    struct celery_msg in = {.id = "8f6dcd6a-fb7e-48f2-9aaa-84fc0a0811df", .task = "proj.add",
                            .group_index = -1, .max_retries = -1};
    struct celery_wire w;
    char err[128];

    (void)state;
    assert_int_equal(celery_encode(&in, &w, err, sizeof err), 0);
    assert_int_equal(cJSON_GetArraySize(w.headers), cJSON_GetArraySize(want));
    cJSON_ArrayForEach(k, want) assert_non_null(cJSON_GetObjectItemCaseSensitive(w.headers, k->string));
    assert_string_equal(w.body, "[[],{},{\"callbacks\":null,\"errbacks\":null,\"chain\":null,\"chord\":null}]");
    celery_wire_fini(&w);
    cJSON_Delete(cap);
}

/* Decode a message built from JSON headers and a body; expect failure whose
 * reason contains want. */
static void
expect_rejected(const char *headers, const char *body, const char *content_type, const char *want)
{
    struct celery_wire w = {0};
    struct celery_msg m;
    char err[256] = "";

    w.content_type = content_type ? strdup(content_type) : NULL;
    w.headers = headers ? cJSON_Parse(headers) : NULL;
    w.body = strdup(body);
    w.body_len = strlen(body);
    w.priority = -1;
    assert_int_equal(celery_decode(&w, &m, err, sizeof err), -1);
    if (strstr(err, want) == NULL)
        fail_msg("reason '%s' does not mention '%s'", err, want);
    celery_msg_fini(&m);
    celery_wire_fini(&w);
}

#define H_OK "{\"task\": \"demo.add\", \"id\": \"0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f10\""
#define BODY_OK "[[1, 2], {}, {}]"

static void
poison_messages_are_rejected_with_a_reason(void **state)
{
    (void)state;
    expect_rejected(H_OK "}", "[[1, 2], {}", "application/json", "malformed JSON");
    expect_rejected(H_OK "}", "{}", "application/json", "not a JSON array");
    expect_rejected(H_OK "}", "[{}, {}, {}]", "application/json", "args");
    expect_rejected(H_OK "}", "[[], [], {}]", "application/json", "kwargs");
    expect_rejected(H_OK "}", "[[\"\xff\xfe\"], {}, {}]", "application/json", "UTF-8");
    expect_rejected(H_OK "}", BODY_OK, "application/x-python-serialize", "content_type");
    expect_rejected("{\"id\": \"0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f10\"}", BODY_OK,
                    "application/json", "no 'task' header");
    expect_rejected(NULL, BODY_OK, "application/json", "no 'task' header");
    expect_rejected(H_OK ", \"retries\": \"x\"}", BODY_OK, "application/json", "retries");
    expect_rejected(H_OK ", \"timelimit\": [1]}", BODY_OK, "application/json", "timelimit");
    expect_rejected(H_OK ", \"eta\": 5}", BODY_OK, "application/json", "eta");
    expect_rejected("{\"task\": \"demo.add\", \"id\": \"not-a-uuid\"}", BODY_OK, "application/json",
                    "not a UUID");
    expect_rejected("{\"task\": \"demo.add\"}", BODY_OK, "application/json", "no task id");
    expect_rejected("{\"task\": \"<script>\", \"id\": \"0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f10\"}",
                    BODY_OK, "application/json", "invalid task name");
    expect_rejected(H_OK "}", "", "application/json", "empty body");
}

static void
a_rejected_message_keeps_its_id_so_its_row_can_fail(void **state)
{
    struct celery_wire w = {0};
    struct celery_msg m;
    char err[256];

    (void)state;
    w.headers = cJSON_Parse(H_OK "}");
    w.body = strdup("garbage");
    w.body_len = 7;
    assert_int_equal(celery_decode(&w, &m, err, sizeof err), -1);
    assert_string_equal(m.id, "0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f10");
    assert_string_equal(m.task, "demo.add");
    celery_msg_fini(&m);
    celery_wire_fini(&w);
}

static void
repr_matches_python(void **state)
{
    cJSON *one = cJSON_Parse("[1]"), *kw = cJSON_Parse("{\"z\": 1, \"s\": \"it's\"}");
    char *a = celery_repr(one, true, 1024), *k = celery_repr(kw, false, 1024),
         *cut = celery_repr(kw, false, 5);

    (void)state;
    assert_string_equal(a, "(1,)");
    assert_string_equal(k, "{'z': 1, 's': 'it\\'s'}");
    assert_string_equal(cut, "{'z':");
    free(a);
    free(k);
    free(cut);
    cJSON_Delete(one);
    cJSON_Delete(kw);
}

static void
task_names_are_checked(void **state)
{
    (void)state;
    assert_true(celery_name_valid("demo.add"));
    assert_true(celery_name_valid("proj.tasks:Add-2_x"));
    assert_false(celery_name_valid(""));
    assert_false(celery_name_valid(".hidden"));
    assert_false(celery_name_valid("a b"));
    assert_false(celery_name_valid("<script>"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_a_captured_celery_task_message),
        cmocka_unit_test(decodes_eta_expires_priority_and_hard_soft_time_limits),
        cmocka_unit_test(decodes_a_celery_retry_republish),
        cmocka_unit_test(encode_then_decode_round_trips_through_an_amqp_table),
        cmocka_unit_test(encoded_headers_have_exactly_celerys_keys),
        cmocka_unit_test(poison_messages_are_rejected_with_a_reason),
        cmocka_unit_test(a_rejected_message_keeps_its_id_so_its_row_can_fail),
        cmocka_unit_test(repr_matches_python),
        cmocka_unit_test(task_names_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
