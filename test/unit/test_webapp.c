/* test/unit/test_webapp.c - the webapp's pure parts: HTML escaping, the route
 * matcher, POST /api/tasks body validation, listen-address and Origin checks,
 * the articles' query parameters, what to scrape (URL, form, schedule),
 * files: upload names, Content-Disposition, conversion requests and options,
 * the chat: room names, characters, message bodies and forms, and the live
 * updates: topics, event ids (cursors) and Server-Sent Events framing. */
#include <stdarg.h> /* cmocka.h needs these four first */
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/json.h"
#include "sql/store.h"
#include "webapp/webapp.h"

#define A_UUID "0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f10"

/* ----- escaping ----- */

static char *
escaped(const char *s)
{
    struct buf b = {0};

    html_esc(&b, s);
    buf_putn(&b, "", 0); /* "" rather than NULL for an empty result */
    assert_false(b.oom);
    return b.data;
}

static void
escaping_replaces_all_five_special_characters(void **state)
{
    char *s = escaped("<a href=\"x\" title='y'>&</a>");

    (void)state;
    assert_string_equal(s, "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
    free(s);
}

static void
escaping_leaves_utf8_and_plain_text_untouched(void **state)
{
    const char *text = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 plain 123";
    char *s = escaped(text);

    (void)state;
    assert_string_equal(s, text);
    free(s);
    s = escaped("");
    assert_string_equal(s, "");
    free(s);
}

static void
escaping_an_already_escaped_string_escapes_it_again(void **state)
{
    char *s = escaped("&amp;");

    (void)state;
    assert_string_equal(s, "&amp;amp;");
    free(s);
}

static void
a_page_escapes_its_title(void **state)
{
    struct buf b = {0};

    (void)state;
    html_begin(&b, "<script>", 2);
    html_end(&b);
    assert_null(strstr(b.data, "<script>"));
    assert_non_null(strstr(b.data, "&lt;script&gt; - celeriac"));
    assert_non_null(strstr(b.data, "http-equiv=\"refresh\" content=\"2\""));
    assert_non_null(strstr(b.data, "href=\"/tasks\""));
    buf_fini(&b);
}

static void
buffer_grows_past_its_first_allocation(void **state)
{
    struct buf b = {0};
    char big[3000];

    (void)state;
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_printf(&b, "%s|%d", big, 42);
    assert_int_equal(b.len, sizeof big - 1 + 3);
    assert_string_equal(b.data + sizeof big - 1, "|42");
    buf_reset(&b);
    assert_string_equal(b.data, "");
    buf_fini(&b);
}

static void
utf8_prefix_never_cuts_a_character_in_half(void **state)
{
    (void)state;
    assert_int_equal(utf8_prefix_len("abc", 10), 3);
    assert_int_equal(utf8_prefix_len("abcdef", 4), 4);
    /* "a" then U+20AC (3 bytes): a cut at 2 or 3 falls back to 1. */
    assert_int_equal(utf8_prefix_len("a\xe2\x82\xac", 2), 1);
    assert_int_equal(utf8_prefix_len("a\xe2\x82\xac", 3), 1);
    assert_int_equal(utf8_prefix_len("a\xe2\x82\xac", 4), 4);
}

/* ----- routing ----- */

static void
routes_match_fixed_paths_and_ids(void **state)
{
    struct route_match m;

    (void)state;
    assert_int_equal(route_match("GET", "/api/tasks", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_task_list);
    assert_string_equal(m.id, "");
    assert_int_equal(route_match("POST", "/api/tasks", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_task_create);
    assert_int_equal(m.route->body, BODY_RAW);
    assert_int_equal(route_match("GET", "/api/tasks/" A_UUID, &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_task_get);
    assert_string_equal(m.id, A_UUID);
    assert_int_equal(route_match("GET", "/api/tasks/" A_UUID "/logs", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_task_logs);
    assert_string_equal(m.id, A_UUID);
    assert_int_equal(route_match("GET", "/healthz", &m), ROUTE_FOUND);
    assert_true(m.route->public);
    assert_int_equal(route_match("GET", "/", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, page_home);
    assert_int_equal(route_match("POST", "/tasks", &m), ROUTE_FOUND);
    assert_int_equal(m.route->body, BODY_FORM);
    assert_int_equal(route_match("GET", "/tasks/not-a-uuid", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, page_task_detail);
    assert_string_equal(m.id, "not-a-uuid"); /* the handler answers 400 */
}

static void
routes_ignore_one_trailing_slash(void **state)
{
    struct route_match m;

    (void)state;
    assert_int_equal(route_match("GET", "/api/tasks/", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_task_list);
    assert_int_equal(route_match("GET", "/tasks/" A_UUID "/", &m), ROUTE_FOUND);
    assert_string_equal(m.id, A_UUID);
    assert_int_equal(route_match("GET", "/api/tasks/" A_UUID "/logs/", &m), ROUTE_FOUND);
    assert_int_equal(route_match("GET", "/tasks//", &m), ROUTE_NOT_FOUND);
    assert_int_equal(route_match("GET", "/api/tasks//logs", &m), ROUTE_NOT_FOUND);
}

static void
routes_refuse_unknown_paths(void **state)
{
    struct route_match m;

    (void)state;
    assert_int_equal(route_match("GET", "/nope", &m), ROUTE_NOT_FOUND);
    assert_int_equal(route_match("GET", "/api", &m), ROUTE_NOT_FOUND);
    assert_int_equal(route_match("GET", "/api/tasks/" A_UUID "/logs/x", &m), ROUTE_NOT_FOUND);
    assert_int_equal(route_match("GET", "/api/taskss", &m), ROUTE_NOT_FOUND);
    assert_int_equal(route_match("GET", "/static/other.css", &m), ROUTE_NOT_FOUND);
    assert_int_equal(route_match("GET", "", &m), ROUTE_NOT_FOUND);
    assert_null(m.route);
    assert_int_equal(route_match("GET", "/api/nope", &m), ROUTE_NOT_FOUND);
    assert_true(m.json);
}

static void
routes_name_the_allowed_methods_on_a_method_mismatch(void **state)
{
    struct route_match m;

    (void)state;
    assert_int_equal(route_match("DELETE", "/api/tasks/" A_UUID, &m), ROUTE_BAD_METHOD);
    assert_string_equal(m.allow, "GET, HEAD");
    assert_null(m.route);
    assert_int_equal(route_match("PUT", "/api/tasks", &m), ROUTE_BAD_METHOD);
    assert_string_equal(m.allow, "GET, HEAD, POST");
    assert_int_equal(route_match("POST", "/healthz", &m), ROUTE_BAD_METHOD);
    assert_string_equal(m.allow, "GET, HEAD");
    assert_true(m.json); /* /healthz is JSON though not under /api */
    assert_int_equal(route_match("DELETE", "/tasks", &m), ROUTE_BAD_METHOD);
    assert_false(m.json);
    assert_int_equal(route_match("HEAD", "/healthz", &m), ROUTE_FOUND);
}

static void
routes_keep_no_part_of_an_overlong_id(void **state)
{
    struct route_match m;
    char path[400] = "/api/tasks/";

    (void)state;
    memset(path + strlen(path), 'a', 300);
    assert_int_equal(route_match("GET", path, &m), ROUTE_FOUND);
    assert_string_equal(m.id, "");
}

static void
api_paths_are_recognised_for_json_errors(void **state)
{
    (void)state;
    assert_true(route_path_is_api("/api"));
    assert_true(route_path_is_api("/api/"));
    assert_true(route_path_is_api("/api/whatever"));
    assert_false(route_path_is_api("/apixyz"));
    assert_false(route_path_is_api("/tasks"));
}

/* ----- POST /api/tasks body ----- */

/* Validate text as a body; return the error message ("" when accepted). */
static const char *
body_error(const char *text)
{
    static char err[1024];
    struct enqueue_req r;
    cJSON *v;

    err[0] = '\0';
    v = api_parse_body(text, strlen(text), err, sizeof err);
    if (v == NULL)
        return err;
    if (api_enqueue_req(v, &r, err, sizeof err) == 0)
        err[0] = '\0';
    cJSON_Delete(v);
    return err;
}

static void
a_valid_body_fills_the_request(void **state)
{
    const char *text = "{\"name\": \"demo.add\", \"args\": [2, 3], \"kwargs\": {\"k\": 1},"
                       " \"queue\": \"celery\"}";
    struct enqueue_req r;
    char err[256] = "";
    cJSON *v = api_parse_body(text, strlen(text), err, sizeof err);

    (void)state;
    assert_non_null(v);
    assert_int_equal(api_enqueue_req(v, &r, err, sizeof err), 0);
    assert_string_equal(r.name, "demo.add");
    assert_int_equal(cJSON_GetArraySize(r.args), 2);
    assert_true(cJSON_IsObject(r.kwargs));
    assert_string_equal(r.queue, "celery");
    cJSON_Delete(v);
    assert_string_equal(body_error("{\"name\": \"demo.noop\"}"), "");
    /* null means "use the default" for the optional fields */
    assert_string_equal(
        body_error("{\"name\": \"demo.noop\", \"args\": null, \"kwargs\": null, \"queue\": null}"),
        "");
}

static void
an_empty_or_malformed_body_is_refused_with_the_parser_reason(void **state)
{
    (void)state;
    assert_non_null(strstr(body_error(""), "the request body is empty"));
    /* The byte offset is cJSON's business; the message must carry it. */
    assert_non_null(strstr(body_error("{\"name\": "),
                           "the request body is not valid JSON: malformed JSON near byte "));
    assert_string_equal(body_error("{} x"),
                        "the request body is not valid JSON: malformed JSON: trailing data at "
                        "byte 3");
    assert_string_equal(body_error("\"\xff\""),
                        "the request body is not valid JSON: not valid UTF-8");
}

static void
a_body_that_is_not_an_object_is_refused(void **state)
{
    (void)state;
    assert_string_equal(body_error("[1, 2]"),
                        "the request body must be a JSON object, not an array");
    assert_string_equal(body_error("\"demo.add\""),
                        "the request body must be a JSON object, not a string");
    assert_string_equal(body_error("null"), "the request body must be a JSON object, not null");
}

static void
a_missing_or_mistyped_name_is_refused(void **state)
{
    (void)state;
    assert_string_equal(body_error("{}"),
                        "'name' is required: the task's name, a string such as \"demo.add\"");
    assert_string_equal(body_error("{\"args\": []}"),
                        "'name' is required: the task's name, a string such as \"demo.add\"");
    assert_string_equal(body_error("{\"name\": 5}"), "'name' must be a string, not a number");
    assert_string_equal(body_error("{\"name\": null}"), "'name' must be a string, not null");
    assert_string_equal(body_error("{\"name\": [\"demo.add\"]}"),
                        "'name' must be a string, not an array");
}

static void
mistyped_args_kwargs_and_queue_are_refused(void **state)
{
    (void)state;
    assert_string_equal(body_error("{\"name\": \"demo.add\", \"args\": {\"x\": 1}}"),
                        "'args' must be a JSON array, not an object");
    assert_string_equal(body_error("{\"name\": \"demo.add\", \"args\": \"[1]\"}"),
                        "'args' must be a JSON array, not a string");
    assert_string_equal(body_error("{\"name\": \"demo.add\", \"kwargs\": [1]}"),
                        "'kwargs' must be a JSON object, not an array");
    assert_string_equal(body_error("{\"name\": \"demo.add\", \"kwargs\": true}"),
                        "'kwargs' must be a JSON object, not a boolean");
    assert_string_equal(body_error("{\"name\": \"demo.add\", \"queue\": 7}"),
                        "'queue' must be a string, not a number");
}

#define ALLOWED "allowed fields are name, args, kwargs, queue, countdown, eta, expires, max_retries, time_limit, soft_time_limit and parent_id"

static void
unknown_and_repeated_fields_are_named(void **state)
{
    (void)state;
    assert_string_equal(body_error("{\"name\": \"demo.add\", \"kwarg\": {}}"),
                        "unknown field 'kwarg': " ALLOWED);
    assert_string_equal(body_error("{\"nme\": \"demo.add\", \"countdwn\": 5}"),
                        "unknown fields 'nme', 'countdwn': " ALLOWED);
    assert_string_equal(body_error("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6}"),
                        "unknown fields 'a', 'b', 'c', 'd', 'e' and more: " ALLOWED);
    /* Celery's apply_async() options are checked too. */
    assert_string_equal(body_error("{\"name\": \"demo.add\", \"countdown\": \"5\"}"),
                        "'countdown' must be a number of seconds, not a string");
    assert_string_equal(body_error("{\"name\": \"demo.add\", \"countdown\": -1}"),
                        "'countdown' and 'expires' take 0 to 315360000 seconds");
    assert_string_equal(body_error("{\"name\": \"demo.add\", \"eta\": \"tomorrow\"}"),
                        "'eta' must be an ISO 8601 time such as \"2026-11-30T10:00:00Z\"");
    assert_string_equal(
        body_error("{\"name\": \"demo.add\", \"countdown\": 5, \"eta\": \"2026-11-30T10:00:00Z\"}"),
        "give 'countdown' or 'eta', not both");
    assert_string_equal(body_error("{\"name\": \"demo.add\", \"expires\": true}"),
                        "'expires' must be seconds or an ISO 8601 time, not a boolean");
    assert_string_equal(body_error("{\"name\": \"demo.add\", \"max_retries\": 1.5}"),
                        "'max_retries' must be an integer, not a number");
    assert_string_equal(body_error("{\"name\": \"demo.add\", \"name\": \"demo.fail\"}"),
                        "field 'name' appears more than once");
}

static void
an_overlong_unknown_field_is_shortened_on_a_character_boundary(void **state)
{
    char text[400], want[200];
    const char *err;

    (void)state;
    /* 39 x, then a 2-byte character straddling the 40-byte cut */
    snprintf(text, sizeof text, "{\"%.*s\xc3\xa9tail\": 1}", 39,
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    err = body_error(text);
    snprintf(want, sizeof want, "unknown field '%.*s...'", 39,
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    assert_memory_equal(err, want, strlen(want));
}

static void
invalid_task_and_queue_names_are_refused(void **state)
{
    (void)state;
    assert_non_null(strstr(body_error("{\"name\": \"\"}"), "invalid task name"));
    assert_non_null(strstr(body_error("{\"name\": \"demo add\"}"), "invalid task name"));
    assert_non_null(strstr(body_error("{\"name\": \"<script>\"}"), "invalid task name"));
    assert_non_null(
        strstr(body_error("{\"name\": \"demo.add\", \"queue\": \"no spaces\"}"), "invalid queue"));
    assert_non_null(
        strstr(body_error("{\"name\": \"demo.add\", \"queue\": \"amq.direct\"}"), "invalid queue"));
}

static void
enqueue_results_map_to_http_statuses(void **state)
{
    (void)state;
    assert_int_equal(app_enqueue_status(ENQUEUE_OK), 202);
    assert_int_equal(app_enqueue_status(ENQUEUE_INVALID), 400);
    assert_int_equal(app_enqueue_status(ENQUEUE_DB_DOWN), 503);
    assert_int_equal(app_enqueue_status(ENQUEUE_BROKER_DOWN), 503);
}

static void
api_errors_are_json_objects_with_an_error_field(void **state)
{
    struct response resp = {0};
    cJSON *v;

    (void)state;
    api_error(&resp, 404, "no such %s: %s", "task", "\"quoted\" <b>");
    assert_int_equal(resp.status, 404);
    assert_string_equal(resp.content_type, "application/json");
    v = cJSON_Parse(resp.body.data);
    assert_non_null(v);
    assert_string_equal(cJSON_GetObjectItem(v, "error")->valuestring,
                        "no such task: \"quoted\" <b>");
    cJSON_Delete(v);
    buf_fini(&resp.body);
}

static void
error_pages_escape_their_message(void **state)
{
    struct response resp = {0};

    (void)state;
    page_error(&resp, 404, "Not <found>", "no such page: /<img src=x onerror=alert(1)>");
    assert_int_equal(resp.status, 404);
    assert_null(strstr(resp.body.data, "<img"));
    assert_null(strstr(resp.body.data, "<found>"));
    assert_non_null(strstr(resp.body.data, "&lt;img src=x onerror=alert(1)&gt;"));
    buf_fini(&resp.body);
}

/* ----- server helpers ----- */

static void
listen_addresses_parse_into_host_and_port(void **state)
{
    char host[64], err[256];
    unsigned int port;

    (void)state;
    assert_int_equal(http_parse_listen("127.0.0.1:8080", host, sizeof host, &port, err, sizeof err),
                     0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(http_parse_listen("[::1]:0", host, sizeof host, &port, err, sizeof err), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(
        http_parse_listen("localhost:65535", host, sizeof host, &port, err, sizeof err), 0);
    assert_int_equal(http_parse_listen("8080", host, sizeof host, &port, err, sizeof err), -1);
    assert_non_null(strstr(err, "HOST:PORT"));
    assert_int_equal(http_parse_listen(":8080", host, sizeof host, &port, err, sizeof err), -1);
    assert_non_null(strstr(err, "host is missing"));
    assert_int_equal(http_parse_listen("h:70000", host, sizeof host, &port, err, sizeof err), -1);
    assert_int_equal(http_parse_listen("h:80x", host, sizeof host, &port, err, sizeof err), -1);
    assert_int_equal(http_parse_listen("::1:80", host, sizeof host, &port, err, sizeof err), -1);
    assert_int_equal(http_parse_listen("[::1]80", host, sizeof host, &port, err, sizeof err), -1);
}

static void
cross_origin_posts_are_recognised(void **state)
{
    (void)state;
    assert_true(http_origin_ok(NULL, "127.0.0.1:8080", NULL));
    assert_true(http_origin_ok("http://127.0.0.1:8080", "127.0.0.1:8080", NULL));
    assert_true(http_origin_ok("https://Example.org", "example.org", NULL));
    assert_false(http_origin_ok("http://evil.example", "127.0.0.1:8080", NULL));
    assert_false(http_origin_ok("http://127.0.0.1:9999", "127.0.0.1:8080", NULL));
    assert_false(http_origin_ok("http://127.0.0.1:80800", "127.0.0.1:8080", NULL));
    assert_false(http_origin_ok("null", "127.0.0.1:8080", NULL));
    assert_false(http_origin_ok("http://127.0.0.1:8080", NULL, NULL));
    assert_false(http_origin_ok("http://", "", NULL));
    /* behind a proxy that rewrites Host */
    assert_true(http_origin_ok("https://q.example.com", "127.0.0.1:8080", "q.example.com"));
    assert_true(
        http_origin_ok("https://q.example.com", "127.0.0.1:8080", "q.example.com, inner.proxy"));
    assert_false(http_origin_ok("https://evil.example", "127.0.0.1:8080", "q.example.com"));
}

static void
json_content_types_are_recognised(void **state)
{
    (void)state;
    assert_true(http_json_content_type("application/json"));
    assert_true(http_json_content_type("Application/JSON; charset=utf-8"));
    assert_true(http_json_content_type("application/json ;charset=utf-8"));
    assert_false(http_json_content_type(NULL));
    assert_false(http_json_content_type(""));
    assert_false(http_json_content_type("text/plain"));
    assert_false(http_json_content_type("application/x-www-form-urlencoded"));
    assert_false(http_json_content_type("application/jsonp"));
    assert_false(http_json_content_type("application/json-seq"));
    assert_false(http_json_content_type("multipart/form-data; boundary=application/json"));
}

/* The address as getaddrinfo() gives it for server_start(). */
static bool
loopback(const char *host)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST}, *ai = NULL;
    bool yes;

    assert_int_equal(getaddrinfo(host, "80", &hints, &ai), 0);
    yes = http_sockaddr_is_loopback(ai->ai_addr);
    freeaddrinfo(ai);
    return yes;
}

static void
loopback_addresses_are_recognised(void **state)
{
    (void)state;
    assert_true(loopback("127.0.0.1"));
    assert_true(loopback("127.8.9.10"));
    assert_true(loopback("::1"));
    assert_true(loopback("::ffff:127.0.0.1"));
    assert_false(loopback("0.0.0.0"));
    assert_false(loopback("::"));
    assert_false(loopback("10.0.0.1"));
    assert_false(loopback("128.0.0.1"));
    assert_false(loopback("::ffff:10.0.0.1"));
    assert_false(loopback("fe80::1"));
}

static void
messages_become_one_line(void **state)
{
    char s[] = "cannot connect:\n\tIs the server running?\n";
    char t[] = "  a  b ";

    (void)state;
    text_one_line(s);
    assert_string_equal(s, "cannot connect: Is the server running?");
    text_one_line(t);
    assert_string_equal(t, "a b");
}

/* ----- articles ----- */

static void
article_queries_take_defaults_and_empty_values_as_no_filter(void **state)
{
    struct store_article_query q;
    char err[256];

    (void)state;
    assert_int_equal(article_query_parse(NULL, NULL, NULL, NULL, NULL, &q, err, sizeof err), 0);
    assert_null(q.q);
    assert_null(q.site);
    assert_null(q.task_id);
    assert_int_equal(q.limit, 50);
    assert_int_equal(q.offset, 0);
    assert_int_equal(article_query_parse("", "", "", "", "", &q, err, sizeof err), 0);
    assert_null(q.q);
    assert_null(q.task_id);
    assert_int_equal(q.limit, 50);
    assert_int_equal(article_query_parse("100% _sure_", "example.com", A_UUID, "200", "100000", &q,
                                         err, sizeof err),
                     0);
    assert_string_equal(q.q, "100% _sure_"); /* the store escapes it for ILIKE */
    assert_string_equal(q.site, "example.com");
    assert_string_equal(q.task_id, A_UUID);
    assert_int_equal(q.limit, 200);
    assert_int_equal(q.offset, 100000);
}

static void
bad_article_queries_are_refused_naming_the_parameter(void **state)
{
    struct store_article_query q;
    char err[256], long_q[300];

    (void)state;
    assert_int_equal(article_query_parse(NULL, NULL, NULL, "0", NULL, &q, err, sizeof err), -1);
    assert_non_null(strstr(err, "limit"));
    assert_int_equal(article_query_parse(NULL, NULL, NULL, "201", NULL, &q, err, sizeof err), -1);
    assert_int_equal(article_query_parse(NULL, NULL, NULL, "5x", NULL, &q, err, sizeof err), -1);
    assert_int_equal(article_query_parse(NULL, NULL, NULL, NULL, "-1", &q, err, sizeof err), -1);
    assert_non_null(strstr(err, "offset"));
    assert_int_equal(article_query_parse(NULL, NULL, NULL, NULL, "100001", &q, err, sizeof err),
                     -1);
    assert_int_equal(article_query_parse(NULL, NULL, "nope", NULL, NULL, &q, err, sizeof err), -1);
    assert_non_null(strstr(err, "task"));
    memset(long_q, 'x', 201);
    long_q[201] = '\0';
    assert_int_equal(article_query_parse(long_q, NULL, NULL, NULL, NULL, &q, err, sizeof err), -1);
    assert_non_null(strstr(err, "q"));
    assert_int_equal(article_query_parse("\xff", NULL, NULL, NULL, NULL, &q, err, sizeof err), -1);
    assert_int_equal(article_query_parse(NULL, "\xc3", NULL, NULL, NULL, &q, err, sizeof err), -1);
    assert_non_null(strstr(err, "site"));
}

static void
article_ids_are_positive_numbers_that_fit_a_bigint(void **state)
{
    (void)state;
    assert_true(article_id_valid("1"));
    assert_true(article_id_valid("42"));
    assert_true(article_id_valid("007"));
    assert_true(article_id_valid("999999999999999999"));
    assert_false(article_id_valid("0"));
    assert_false(article_id_valid("000"));
    assert_false(article_id_valid(""));
    assert_false(article_id_valid("-1"));
    assert_false(article_id_valid("1e3"));
    assert_false(article_id_valid("12 "));
    assert_false(article_id_valid("1234567890123456789"));
}

/* Run a helper that writes into a buf; return its text (caller frees). */
static char *
rendered(void (*fn)(struct buf *, const char *), const char *s)
{
    struct buf b = {0};

    fn(&b, s);
    buf_putn(&b, "", 0);
    assert_false(b.oom);
    return b.data;
}

static void
url_encoding_keeps_only_unreserved_characters(void **state)
{
    char *s = rendered(html_url_enc, "a b&c=d/e?f#g%h~i.j_k-l\xc3\xa9\"<");

    (void)state;
    assert_string_equal(s, "a%20b%26c%3Dd%2Fe%3Ff%23g%25h~i.j_k-l%C3%A9%22%3C");
    free(s);
}

static void
body_text_becomes_escaped_paragraphs_split_on_blank_lines(void **state)
{
    char *s = rendered(html_paragraphs, "\n\nOne <b>\nstill one\n\n \t\r\nTwo & two\r\n\n\n");

    (void)state;
    assert_string_equal(s, "<p>One &lt;b&gt;\nstill one</p>\n<p>Two &amp; two</p>\n");
    free(s);
    s = rendered(html_paragraphs, "");
    assert_string_equal(s, "");
    free(s);
    s = rendered(html_paragraphs, NULL);
    assert_string_equal(s, "");
    free(s);
}

static void
only_web_urls_become_links_and_they_open_no_window_back(void **state)
{
    struct buf b = {0};

    (void)state;
    html_ext_link(&b, "https://example.com/a?x=1&y=\"2\"", NULL);
    assert_string_equal(b.data, "<a href=\"https://example.com/a?x=1&amp;y=&quot;2&quot;\""
                                " rel=\"noopener noreferrer\">https://example.com/a?x=1&amp;y="
                                "&quot;2&quot;</a>");
    buf_reset(&b);
    html_ext_link(&b, "HTTP://example.com/", "<Home>");
    assert_non_null(strstr(b.data, ">&lt;Home&gt;</a>"));
    buf_reset(&b);
    html_ext_link(&b, "javascript:alert(1)", NULL);
    assert_string_equal(b.data, "javascript:alert(1)");
    buf_reset(&b);
    html_ext_link(&b, " http://example.com/", NULL);
    assert_null(strstr(b.data, "<a"));
    buf_fini(&b);
}

static void
article_and_site_routes_match_with_fixed_paths_before_ids(void **state)
{
    struct route_match m;

    (void)state;
    assert_int_equal(route_match("GET", "/api/articles/sites", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_article_sites);
    assert_int_equal(route_match("GET", "/api/articles/17", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_article_get);
    assert_string_equal(m.id, "17");
    assert_int_equal(route_match("DELETE", "/api/sites/site-0123456789abcdef", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_site_delete);
    assert_int_equal(m.route->body, BODY_RAW); /* a body route: the Origin check applies */
    assert_int_equal(route_match("POST", "/sites/site-0123456789abcdef/pause", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, page_site_pause);
    assert_int_equal(m.route->body, BODY_RAW);
    assert_int_equal(route_match("POST", "/scrape", &m), ROUTE_FOUND);
    assert_int_equal(m.route->body, BODY_FORM);
    assert_int_equal(route_match("PUT", "/api/sites/x", &m), ROUTE_BAD_METHOD);
    assert_string_equal(m.allow, "GET, HEAD, DELETE");
    assert_int_equal(route_match("GET", "/sites/x/pause", &m), ROUTE_BAD_METHOD);
    assert_false(m.json);
}

/* ----- what to scrape ----- */

static const char *
url_error(const char *url)
{
    static char err[256];

    err[0] = '\0';
    if (site_url_check(url, err, sizeof err) == 0)
        err[0] = '\0';
    return err;
}

static void
web_urls_with_a_host_are_accepted(void **state)
{
    (void)state;
    assert_string_equal(url_error("http://example.com"), "");
    assert_string_equal(url_error("https://example.com/news/?page=2#top"), "");
    assert_string_equal(url_error("HTTPS://Example.COM:8443/x"), "");
    assert_string_equal(url_error("https://user:pw@example.com/"), "");
    assert_string_equal(url_error("http://[::1]:8080/"), "");
    assert_string_equal(url_error("http://caf\xc3\xa9.example/"), "");
    assert_string_equal(url_error("http://example.com:/"), ""); /* empty port: the default */
}

static void
other_schemes_missing_hosts_and_odd_characters_are_refused(void **state)
{
    char long_url[2100] = "https://example.com/";

    (void)state;
    assert_non_null(strstr(url_error("ftp://example.com/"), "http"));
    assert_non_null(strstr(url_error("javascript:alert(1)"), "http"));
    assert_non_null(strstr(url_error("file:///etc/passwd"), "http"));
    assert_non_null(strstr(url_error("example.com"), "http"));
    assert_non_null(strstr(url_error("http:/example.com"), "http"));
    assert_non_null(strstr(url_error("http://"), "no host"));
    assert_non_null(strstr(url_error("http:///path"), "no host"));
    assert_non_null(strstr(url_error("http://user@/"), "no host"));
    assert_non_null(strstr(url_error("http://:80/"), "no host"));
    assert_non_null(strstr(url_error("http://[]/"), "IPv6"));
    assert_non_null(strstr(url_error("http://[::1/"), "IPv6"));
    assert_non_null(strstr(url_error("http://exa mple.com/"), "spaces"));
    assert_non_null(strstr(url_error("http://example.com/\n"), "control"));
    assert_non_null(strstr(url_error("http://example.com:0/"), "port"));
    assert_non_null(strstr(url_error("http://example.com:65536/"), "port"));
    assert_non_null(strstr(url_error("http://example.com:8o/"), "port"));
    assert_non_null(strstr(url_error("http://ex\\ample.com/"), "host"));
    assert_non_null(strstr(url_error("http://\xff/"), "UTF-8"));
    assert_non_null(strstr(url_error(""), "URL"));
    memset(long_url + strlen(long_url), 'a', 2029);
    long_url[2049] = '\0';
    assert_non_null(strstr(url_error(long_url), "2048"));
    long_url[2048] = '\0';
    assert_string_equal(url_error(long_url), "");
}

static void
the_scrape_form_defaults_max_pages_and_reads_the_checkbox(void **state)
{
    struct site_req s;
    char err[256];

    (void)state;
    assert_int_equal(
        site_req_from_form("https://example.com/", NULL, NULL, NULL, &s, err, sizeof err), 0);
    assert_int_equal(s.max_pages, 20);
    assert_false(s.follow); /* an unchecked box is not sent */
    assert_null(s.cron);
    assert_int_equal(site_req_from_form("https://example.com/", "1000", "on", " 0 * * * * ", &s,
                                        err, sizeof err),
                     0);
    assert_int_equal(s.max_pages, 1000);
    assert_true(s.follow);
    assert_string_equal(s.cron, " 0 * * * * ");
    assert_int_equal(
        site_req_from_form("https://example.com/", "", "false", "  ", &s, err, sizeof err), 0);
    assert_false(s.follow);
    assert_null(s.cron);
    assert_int_equal(
        site_req_from_form("https://example.com/", "0", "on", NULL, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "Max pages"));
    assert_int_equal(
        site_req_from_form("https://example.com/", "1001", NULL, NULL, &s, err, sizeof err), -1);
    assert_int_equal(site_req_from_form(NULL, NULL, NULL, NULL, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "URL"));
}

/* Parse text as a POST /api/sites body; the error ("" when accepted). */
static const char *
site_body_error(const char *text, struct site_req *s)
{
    static char err[512];
    static cJSON *kept; /* s borrows from it until the next call */

    cJSON_Delete(kept);
    kept = cJSON_Parse(text);
    err[0] = '\0';
    if (site_req_from_json(kept, s, err, sizeof err) == 0)
        err[0] = '\0';
    return err;
}

static void
site_bodies_need_a_url_and_a_schedule_and_name_wrong_fields(void **state)
{
    struct site_req s;

    (void)state;
    assert_string_equal(
        site_body_error("{\"url\": \"https://example.com/\", \"cron\": \"0 * * * *\"}", &s), "");
    assert_string_equal(s.url, "https://example.com/");
    assert_string_equal(s.cron, "0 * * * *");
    assert_int_equal(s.max_pages, 20);
    assert_true(s.follow); /* the API's default, unlike an unchecked box */
    assert_string_equal(site_body_error("{\"url\": \"https://e.example/\", \"cron\": \"@daily\","
                                        " \"max_pages\": 3, \"follow\": false}",
                                        &s),
                        "");
    assert_int_equal(s.max_pages, 3);
    assert_false(s.follow);
    assert_non_null(strstr(site_body_error("{\"cron\": \"0 * * * *\"}", &s), "'url'"));
    assert_non_null(strstr(site_body_error("{\"url\": \"https://e.example/\"}", &s), "'cron'"));
    assert_non_null(
        strstr(site_body_error("{\"url\": \"https://e.example/\", \"cron\": \" \"}", &s), "cron"));
    assert_non_null(strstr(site_body_error("{\"url\": 5, \"cron\": \"0 * * * *\"}", &s), "url"));
    assert_non_null(
        strstr(site_body_error("{\"url\": \"gopher://e.example/\", \"cron\": \"0 * * * *\"}", &s),
               "http"));
    assert_non_null(strstr(site_body_error("{\"url\": \"https://e.example/\", \"cron\": \"0 * * * "
                                           "*\", \"max_pages\": 1.5}",
                                           &s),
                           "max_pages"));
    assert_non_null(strstr(site_body_error("{\"url\": \"https://e.example/\", \"cron\": \"0 * * * "
                                           "*\", \"max_pages\": 1001}",
                                           &s),
                           "max_pages"));
    assert_non_null(strstr(site_body_error("{\"url\": \"https://e.example/\", \"cron\": \"0 * * * "
                                           "*\", \"follow\": 1}",
                                           &s),
                           "follow"));
    assert_non_null(strstr(site_body_error("{\"url\": \"https://e.example/\", \"cron\": \"0 * * * "
                                           "*\", \"maxpages\": 1}",
                                           &s),
                           "'maxpages'"));
    assert_non_null(strstr(site_body_error("{\"url\": \"https://e.example/\", \"cron\": \"0 * * * "
                                           "*\", \"url\": \"https://f.example/\"}",
                                           &s),
                           "more than once"));
    assert_non_null(strstr(site_body_error("[]", &s), "object"));
    site_body_error("null", &s); /* frees the last body */
}

static void
a_schedule_gives_its_next_run_or_names_its_problem(void **state)
{
    char next[CLOCK_ISO_LEN], err[256];
    double now;

    (void)state;
    assert_int_equal(clock_parse_iso("2026-11-02T08:30:00Z", &now), 0);
    assert_int_equal(site_next_run("0 * * * *", false, now, next, sizeof next, err, sizeof err), 0);
    assert_int_equal(strncmp(next, "2026-11-02T09:00:00", 19), 0);
    assert_int_equal(site_next_run("30 6 * * 1-5", false, now, next, sizeof next, err, sizeof err),
                     0);
    assert_int_equal(strncmp(next, "2026-11-03T06:30:00", 19), 0); /* a Tuesday */
    assert_int_equal(site_next_run("0 25 * * *", false, now, next, sizeof next, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "'0 25 * * *'"));
    assert_non_null(strstr(err, "hour"));
    assert_int_equal(site_next_run("0 0 30 2 *", false, now, next, sizeof next, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "never fires"));
    assert_int_equal(site_next_run("* * * * * *", false, now, next, sizeof next, err, sizeof err),
                     -1);
    assert_int_equal(site_next_run("*/10 * * * * *", true, now, next, sizeof next, err, sizeof err),
                     0);
    assert_int_equal(strncmp(next, "2026-11-02T08:30:10", 19), 0);
}

static void
scrape_kwargs_carry_url_max_pages_and_follow(void **state)
{
    struct site_req s = {.url = "https://example.com/", .max_pages = 7, .follow = true};
    cJSON *k = site_kwargs(&s);
    char *text = cJSON_PrintUnformatted(k);

    (void)state;
    assert_string_equal(text, "{\"url\":\"https://example.com/\",\"max_pages\":7,\"follow\":true}");
    cJSON_free(text);
    cJSON_Delete(k);
}

/* ----- files and conversions ----- */

static char *
disposition(const char *name)
{
    struct buf b = {0};

    file_disposition(&b, name);
    assert_false(b.oom);
    return b.data;
}

static void
content_disposition_quotes_nothing_that_could_break_out(void **state)
{
    char *d;

    (void)state;
    d = disposition("report.csv");
    assert_string_equal(d, "attachment; filename=\"report.csv\"; filename*=UTF-8''report.csv");
    free(d);
    /* A quote, a backslash and a percent sign cannot end or escape the quoted string. */
    d = disposition("a\"b\\c%d.txt");
    assert_string_equal(d,
                        "attachment; filename=\"a_b_c_d.txt\"; filename*=UTF-8''a%22b%5Cc%25d.txt");
    free(d);
    /* CR and LF cannot start another header. */
    d = disposition("x\r\nSet-Cookie: a=b.html");
    assert_null(strchr(d, '\r'));
    assert_null(strchr(d, '\n'));
    assert_string_equal(d, "attachment; filename=\"x__Set-Cookie: a=b.html\"; "
                           "filename*=UTF-8''x%0D%0ASet-Cookie%3A%20a%3Db.html");
    free(d);
}

static void
content_disposition_has_an_ascii_fallback_and_the_utf8_name(void **state)
{
    char *d;

    (void)state;
    /* "Résumé é.pdf": one _ per character replaced, every byte percent-encoded. */
    d = disposition("R\xc3\xa9sum\xc3\xa9 \xe2\x82\xac.pdf");
    assert_string_equal(d, "attachment; filename=\"R_sum_ _.pdf\"; "
                           "filename*=UTF-8''R%C3%A9sum%C3%A9%20%E2%82%AC.pdf");
    free(d);
    /* Path separators never reach a client that would honour them. */
    d = disposition("../etc/passwd");
    assert_string_equal(d, "attachment; filename=\".._etc_passwd\"; "
                           "filename*=UTF-8''..%2Fetc%2Fpasswd");
    free(d);
    d = disposition("");
    assert_string_equal(d, "attachment; filename=\"download\"; filename*=UTF-8''download");
    free(d);
    d = disposition("\xe6\x97\xa5\xe6\x9c\xac");
    assert_string_equal(d, "attachment; filename=\"__\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC");
    free(d);
}

static const char *
cleaned(const char *raw)
{
    static char out[UPLOAD_NAME_MAX + 1];

    file_name_clean(raw, out, sizeof out);
    return out;
}

static void
upload_names_lose_paths_and_control_characters(void **state)
{
    (void)state;
    assert_string_equal(cleaned("photo.png"), "photo.png");
    assert_string_equal(cleaned("/etc/passwd"), "passwd");
    assert_string_equal(cleaned("..\\..\\windows\\win.ini"), "win.ini");
    assert_string_equal(cleaned("C:\\Users\\ada\\My file.csv"), "My file.csv");
    assert_string_equal(cleaned("a\r\nb\tc\x7f.txt"), "abc.txt");
    assert_string_equal(cleaned("  spaced out.md  "), "spaced out.md");
    /* U+202E RIGHT-TO-LEFT OVERRIDE would show "gpj.exe" as "exe.jpg". */
    assert_string_equal(cleaned("photo\xe2\x80\xaegpj.exe"), "photogpj.exe");
    /* A C1 control (U+0085) goes; other non-ASCII stays. */
    assert_string_equal(cleaned("caf\xc3\xa9\xc2\x85.txt"), "caf\xc3\xa9.txt");
    /* Bytes that are not UTF-8 (Latin-1 "é", an overlong "/") are dropped. */
    assert_string_equal(cleaned("caf\xe9.txt"), "caf.txt");
    assert_string_equal(cleaned("a\300\257b.txt"), "ab.txt"); /* an overlong "/" */
}

static void
upload_names_that_say_nothing_become_upload(void **state)
{
    (void)state;
    assert_string_equal(cleaned(""), "upload");
    assert_string_equal(cleaned("dir/"), "upload");
    assert_string_equal(cleaned(".."), "upload");
    assert_string_equal(cleaned("../."), "upload");
    assert_string_equal(cleaned("\x01\x02"), "upload");
    assert_string_equal(cleaned("   "), "upload");
    assert_string_equal(cleaned(".profile"), ".profile");
}

static void
long_upload_names_are_cut_on_a_character_keeping_the_extension(void **state)
{
    char raw[1024], small[8];
    const char *c;

    (void)state;
    /* 300 bytes of "é" (2 bytes each), then ".csv". */
    raw[0] = '\0';
    for (int i = 0; i < 150; i++)
        strcat(raw, "\xc3\xa9");
    strcat(raw, ".csv");
    c = cleaned(raw);
    assert_true(strlen(c) <= UPLOAD_NAME_MAX);
    assert_true(strlen(c) >= UPLOAD_NAME_MAX - 1);
    assert_string_equal(c + strlen(c) - 4, ".csv");
    assert_true(utf8_valid(c, strlen(c)));
    /* No extension, or one too long to be one: cut at the end. */
    memset(raw, 'x', 400);
    raw[400] = '\0';
    assert_int_equal(strlen(cleaned(raw)), UPLOAD_NAME_MAX);
    file_name_clean("abcdefghij.png", small, sizeof small);
    assert_string_equal(small, "abc.png");
}

static void
targets_are_named_by_extension_and_canonical(void **state)
{
    (void)state;
    assert_string_equal(file_target("json"), "json");
    assert_string_equal(file_target("JSON"), "json");
    assert_string_equal(file_target("jpg"), "jpeg");
    assert_string_equal(file_target("jpeg"), "jpeg");
    assert_string_equal(file_target("pdf"), "pdf");
    assert_string_equal(file_target("txt"), "txt");
    assert_null(file_target("exe"));
    assert_null(file_target("md")); /* a format, not a target */
    assert_null(file_target("gif"));
    assert_null(file_target(""));
    assert_null(file_target(NULL));
}

static int
convert_req_from(const char *json, struct file_convert_req *c, char *err, size_t errlen,
                 cJSON **keep)
{
    cJSON *body = cJSON_Parse(json);

    assert_non_null(body);
    *keep = body;
    return file_convert_req(body, c, err, errlen);
}

static void
convert_bodies_name_the_file_the_target_and_options(void **state)
{
    struct file_convert_req c;
    char err[256] = "";
    cJSON *body;

    (void)state;
    assert_int_equal(convert_req_from("{\"file_id\": \"" A_UUID "\", \"to\": \"jpg\", "
                                      "\"options\": {\"quality\": 80}}",
                                      &c, err, sizeof err, &body),
                     0);
    assert_string_equal(c.file_id, A_UUID);
    assert_string_equal(c.to, "jpeg");
    assert_non_null(c.options);
    cJSON_Delete(body);
    assert_int_equal(convert_req_from("{\"file_id\": \"" A_UUID "\", \"to\": \"csv\", "
                                      "\"options\": null}",
                                      &c, err, sizeof err, &body),
                     0);
    assert_null(c.options);
    cJSON_Delete(body);
}

static void
bad_convert_bodies_are_refused_naming_the_field(void **state)
{
    static const struct {
        const char *body, *words;
    } cases[] = {
        {"[]", "must be a JSON object"},
        {"{\"to\": \"json\"}", "'file_id' is required"},
        {"{\"file_id\": \"nope\", \"to\": \"json\"}", "'file_id' must be a file id"},
        {"{\"file_id\": 7, \"to\": \"json\"}", "'file_id' must be a file id"},
        {"{\"file_id\": \"" A_UUID "\"}", "'to' is required"},
        {"{\"file_id\": \"" A_UUID "\", \"to\": \"exe\"}", "'to' must be one of"},
        {"{\"file_id\": \"" A_UUID "\", \"to\": 1}", "'to' must be one of"},
        {"{\"file_id\": \"" A_UUID "\", \"to\": \"json\", \"options\": []}",
         "'options' must be a JSON object, not an array"},
        {"{\"file_id\": \"" A_UUID "\", \"to\": \"json\", \"option\": {}}",
         "unknown field 'option'"},
        {"{\"file_id\": \"" A_UUID "\", \"to\": \"json\", \"to\": \"csv\"}",
         "'to' appears more than once"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct file_convert_req c;
        char err[256] = "";
        cJSON *body;

        assert_int_equal(convert_req_from(cases[i].body, &c, err, sizeof err, &body), -1);
        if (strstr(err, cases[i].words) == NULL)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].body, err, cases[i].words);
        cJSON_Delete(body);
    }
}

static char *
form_options(const char *options, const char *delimiter, const char *width, const char *height,
             const char *quality, char *err, size_t errlen)
{
    cJSON *o;
    char *text;

    if (file_options_from_form(options, delimiter, width, height, quality, &o, err, errlen) < 0)
        return NULL;
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static void
form_fields_become_conversion_options(void **state)
{
    char err[256] = "", *t;

    (void)state;
    t = form_options(NULL, NULL, NULL, NULL, NULL, err, sizeof err);
    assert_string_equal(t, "{}");
    cJSON_free(t);
    /* Empty fields (an HTML form sends every one) are not options. */
    t = form_options("", "", "", " ", "", err, sizeof err);
    assert_string_equal(t, "{}");
    cJSON_free(t);
    t = form_options("{\"width\": 5, \"other\": true}", "tab", "640", NULL, "80", err, sizeof err);
    assert_string_equal(t, "{\"other\":true,\"delimiter\":\"\\t\",\"width\":640,\"quality\":80}");
    cJSON_free(t);
    t = form_options(NULL, ";", NULL, "480", NULL, err, sizeof err);
    assert_string_equal(t, "{\"delimiter\":\";\",\"height\":480}");
    cJSON_free(t);
}

static void
bad_form_options_are_refused_naming_the_field(void **state)
{
    char err[256] = "";

    (void)state;
    assert_null(form_options("{", NULL, NULL, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "options is not valid JSON"));
    assert_null(form_options("[1]", NULL, NULL, NULL, NULL, err, sizeof err));
    assert_string_equal(err, "options must be a JSON object, not an array");
    assert_null(form_options(NULL, "::", NULL, NULL, NULL, err, sizeof err));
    assert_string_equal(err, "delimiter must be one of , ; | or tab");
    assert_null(form_options(NULL, NULL, "0", NULL, NULL, err, sizeof err));
    assert_string_equal(err, "width must be a whole number from 1 to 100000");
    assert_null(form_options(NULL, NULL, NULL, "12px", NULL, err, sizeof err));
    assert_string_equal(err, "height must be a whole number from 1 to 100000");
    assert_null(form_options(NULL, NULL, NULL, NULL, "101", err, sizeof err));
    assert_string_equal(err, "quality must be a whole number from 1 to 100");
}

static void
file_routes_stream_uploads_and_answer_in_their_dialect(void **state)
{
    struct route_match m;

    (void)state;
    assert_int_equal(route_match("POST", "/api/files", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_file_upload);
    assert_int_equal(m.route->body, BODY_UPLOAD);
    assert_int_equal(route_match("GET", "/api/files/" A_UUID, &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_file_download);
    assert_true(m.json);
    assert_int_equal(route_match("GET", "/api/files/" A_UUID "/meta", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_file_meta);
    assert_string_equal(m.id, A_UUID);
    assert_int_equal(route_match("HEAD", "/files/" A_UUID, &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_file_download);
    assert_false(m.json); /* a link on a page: errors as pages */
    assert_int_equal(route_match("POST", "/convert", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, page_convert_create);
    assert_int_equal(m.route->body, BODY_UPLOAD);
    assert_int_equal(route_match("POST", "/api/convert", &m), ROUTE_FOUND);
    assert_int_equal(m.route->body, BODY_RAW);
    assert_int_equal(route_match("DELETE", "/api/files/" A_UUID, &m), ROUTE_BAD_METHOD);
    assert_string_equal(m.allow, "GET, HEAD");
}

/* ----- chat ----- */

static void
room_names_are_1_to_64_of_letters_digits_underscore_and_dash(void **state)
{
    char name[80];

    (void)state;
    assert_true(chat_room_valid("general"));
    assert_true(chat_room_valid("a"));
    assert_true(chat_room_valid("Team_42-ops"));
    assert_true(chat_room_valid("-"));
    memset(name, 'x', 64);
    name[64] = '\0';
    assert_true(chat_room_valid(name));
    name[64] = 'x';
    name[65] = '\0';
    assert_false(chat_room_valid(name));
    assert_false(chat_room_valid(""));
    assert_false(chat_room_valid("two words"));
    assert_false(chat_room_valid("a/b"));
    assert_false(chat_room_valid("a.b"));
    assert_false(chat_room_valid("caf\xc3\xa9"));
    assert_false(chat_room_valid("<script>"));
    assert_false(chat_room_valid("room%20"));
}

static void
code_points_are_counted_and_invalid_utf8_is_minus_one(void **state)
{
    static const struct {
        const char *s;
        long n;
    } cases[] = {
        {"", 0},
        {"hello", 5},
        {"caf\xc3\xa9", 4},                      /* 2-byte é */
        {"\xe2\x82\xac 5", 3},                   /* 3-byte € */
        {"\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 2}, /* 4-byte emoji, twice */
        {"\xf4\x8f\xbf\xbf", 1},                 /* U+10FFFF, the last */
        {"\xc3", -1},                            /* cut short */
        {"\xe2\x82", -1},
        {"\x80", -1},             /* a lone continuation byte */
        {"\xc0\xaf", -1},         /* overlong '/' */
        {"\xe0\x80\xaf", -1},     /* overlong, 3 bytes */
        {"\xf0\x80\x80\xaf", -1}, /* overlong, 4 bytes */
        {"\xed\xa0\x80", -1},     /* a UTF-16 surrogate (U+D800) */
        {"\xf4\x90\x80\x80", -1}, /* past U+10FFFF */
        {"\xff", -1},
        {"ok\xc3(", -1}, /* a lead byte without its continuation */
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long n = chat_code_points(cases[i].s, strlen(cases[i].s));

        if (n != cases[i].n)
            fail_msg("case %zu: %ld code points, want %ld", i, n, cases[i].n);
    }
    assert_int_equal(chat_code_points("a\0b", 3), 3); /* a NUL is a code point; checks refuse it */
}

/* The error chat_text_check() gives s (len bytes), "" when it passes. */
static const char *
text_error(const char *s, size_t len, long max, bool multiline)
{
    static char err[256];

    err[0] = '\0';
    if (chat_text_check("body", s, len, max, multiline, err, sizeof err) == 0)
        err[0] = '\0';
    return err;
}

#define TEXT_ERROR(s, max, multiline) text_error((s), sizeof(s) - 1, (max), (multiline))

static void
chat_text_counts_characters_not_bytes_and_refuses_blank_and_controls(void **state)
{
    char *big;

    (void)state;
    assert_string_equal(TEXT_ERROR("Hello, world", 4000, true), "");
    assert_string_equal(TEXT_ERROR("  kept as sent  ", 4000, true), "");
    assert_string_equal(TEXT_ERROR("two\nlines\twith a tab\r\n", 4000, true), "");
    /* 6 bytes, 3 characters */
    assert_string_equal(TEXT_ERROR("\xc3\xa9\xc3\xa9\xc3\xa9", 3, false), "");
    assert_string_equal(TEXT_ERROR("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 3, false),
                        "'body' is too long: 4 characters, at most 3");
    assert_string_equal(text_error(NULL, 0, 10, true), "'body' is required");
    assert_string_equal(TEXT_ERROR("", 10, true), "'body' is empty: send 1 to 10 characters");
    assert_string_equal(TEXT_ERROR(" \t\n ", 10, true), "'body' is only whitespace");
    /* No-break, ideographic and zero-width spaces say nothing either. */
    assert_string_equal(TEXT_ERROR("\xc2\xa0\xe3\x80\x80\xe2\x80\x8b", 10, false),
                        "'body' is only whitespace");
    assert_string_equal(TEXT_ERROR("a\0b", 10, true), "'body' holds a NUL character");
    assert_string_equal(TEXT_ERROR("bell\a", 10, true),
                        "'body' holds a control character (U+0007)");
    assert_non_null(strstr(TEXT_ERROR("two\nlines", 10, false), "control character (U+000A)"));
    assert_non_null(strstr(TEXT_ERROR("x\xc2\x85", 10, true), "control character (U+0085)"));
    assert_string_equal(TEXT_ERROR("ok\xc3(", 10, true), "'body' is not valid UTF-8 (at byte 2)");
    assert_non_null(strstr(TEXT_ERROR("\xed\xa0\x80", 10, true), "not valid UTF-8"));

    /* 4,000 four-byte characters pass; one more does not. */
    big = malloc(4 * 4001 + 1);
    assert_non_null(big);
    for (int i = 0; i < 4001; i++)
        memcpy(big + 4 * i, "\xf0\x9f\x98\x80", 4);
    big[4 * 4001] = '\0';
    assert_string_equal(text_error(big, 4 * 4000, CHAT_BODY_MAX, true), "");
    assert_string_equal(text_error(big, 4 * 4001, CHAT_BODY_MAX, true),
                        "'body' is too long: 4001 characters, at most 4000");
    free(big);
}

static int
chat_req_from(const char *json, struct chat_post *m, char *err, size_t errlen, cJSON **keep)
{
    char why[128];
    cJSON *body = json_parse(json, strlen(json), why, sizeof why);

    if (body == NULL)
        fail_msg("%s: %s", json, why);
    *keep = body;
    return chat_post_req(body, m, err, errlen);
}

static void
chat_bodies_give_author_and_body_as_sent(void **state)
{
    struct chat_post m;
    char err[256] = "";
    cJSON *body;

    (void)state;
    assert_int_equal(chat_req_from("{\"author\": \" Ann \", \"body\": \"Hi <b>all</b>\\n\"}", &m,
                                   err, sizeof err, &body),
                     0);
    assert_string_equal(m.author, " Ann ");
    assert_string_equal(m.body, "Hi <b>all</b>\n");
    cJSON_Delete(body);
    assert_int_equal(chat_req_from("{\"body\": \"\\u00e9\\ud83d\\ude00\", \"author\": \"Z\"}", &m,
                                   err, sizeof err, &body),
                     0);
    assert_string_equal(m.body, "\xc3\xa9\xf0\x9f\x98\x80");
    cJSON_Delete(body);
}

static void
bad_chat_bodies_are_refused_naming_the_field(void **state)
{
    static const struct {
        const char *body, *words;
    } cases[] = {
        {"[]", "must be a JSON object"},
        {"\"hi\"", "must be a JSON object"},
        {"{}", "'author' is required"},
        {"{\"author\": \"Ann\"}", "'body' is required"},
        {"{\"body\": \"hi\"}", "'author' is required"},
        {"{\"author\": null, \"body\": \"hi\"}", "'author' must be a string, not null"},
        {"{\"author\": \"Ann\", \"body\": 5}", "'body' must be a string, not a number"},
        {"{\"author\": \"\", \"body\": \"hi\"}", "'author' is empty"},
        {"{\"author\": \"Ann\", \"body\": \"\"}", "'body' is empty"},
        {"{\"author\": \"Ann\", \"body\": \"   \\n\"}", "'body' is only whitespace"},
        {"{\"author\": \" \", \"body\": \"hi\"}", "'author' is only whitespace"},
        {"{\"author\": \"A\\nB\", \"body\": \"hi\"}", "'author' holds a control character"},
        {"{\"author\": \"Ann\", \"body\": \"hi\", \"room\": \"x\"}", "unknown field 'room'"},
        {"{\"author\": \"Ann\", \"body\": \"hi\", \"body\": \"ho\"}",
         "'body' appears more than once"},
        {"{\"author\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
         " \"body\": \"hi\"}",
         "'author' is too long: 65 characters, at most 64"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct chat_post m;
        char err[256] = "";
        cJSON *body;

        assert_int_equal(chat_req_from(cases[i].body, &m, err, sizeof err, &body), -1);
        if (strstr(err, cases[i].words) == NULL)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].body, err, cases[i].words);
        cJSON_Delete(body);
    }
}

static void
the_room_form_is_urldecoded_and_checked(void **state)
{
    static const char ok[] = "author=Ann+B%C3%A9&body=Hello%2C+%3Cworld%3E%0D%0Abye&send=";
    char *author, *body, err[256] = "";

    (void)state;
    assert_int_equal(chat_form_parse(ok, strlen(ok), &author, &body, err, sizeof err), 0);
    assert_string_equal(author, "Ann B\xc3\xa9");
    assert_string_equal(body, "Hello, <world>\r\nbye");
    free(author);
    free(body);

    /* The last of a repeated field wins; an empty pair is nothing. */
    assert_int_equal(
        chat_form_parse("author=A&&author=B&body=x", 25, &author, &body, err, sizeof err), 0);
    assert_string_equal(author, "B");
    free(author);
    free(body);

    assert_int_equal(chat_form_parse("author=Ann", 10, &author, &body, err, sizeof err), -1);
    assert_string_equal(err, "'body' is required");
    assert_string_equal(author, "Ann"); /* handed back for the form */
    assert_null(body);
    free(author);

    assert_int_equal(chat_form_parse("author=Ann&body=a%00b", 21, &author, &body, err, sizeof err),
                     -1);
    assert_string_equal(err, "'body' holds a NUL character");
    free(author);
    free(body);

    assert_int_equal(chat_form_parse("author=%FF&body=x", 17, &author, &body, err, sizeof err), -1);
    assert_non_null(strstr(err, "'author' is not valid UTF-8"));
    free(author);
    free(body);

    assert_int_equal(chat_form_parse("author=Ann&body=100%", 20, &author, &body, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "malformed %-escape"));
    free(author);
    free(body);

    assert_int_equal(chat_form_parse("author=Ann&body=%zz", 19, &author, &body, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "malformed"));
    free(author);
    free(body);

    assert_int_equal(chat_form_parse("", 0, &author, &body, err, sizeof err), -1);
    assert_string_equal(err, "'author' is required");
    assert_null(author);
    assert_null(body);
}

static void
history_parameters_default_and_name_their_problem(void **state)
{
    long long after;
    int limit;
    char err[256] = "";

    (void)state;
    assert_int_equal(chat_history_parse(NULL, NULL, &after, &limit, err, sizeof err), 0);
    assert_true(after == -1);
    assert_int_equal(limit, CHAT_LIMIT_DEFAULT);
    assert_int_equal(chat_history_parse("", "", &after, &limit, err, sizeof err), 0);
    assert_true(after == -1);
    assert_int_equal(chat_history_parse("0", "1", &after, &limit, err, sizeof err), 0);
    assert_true(after == 0);
    assert_int_equal(limit, 1);
    assert_int_equal(
        chat_history_parse("123456789012345678", "500", &after, &limit, err, sizeof err), 0);
    assert_true(after == 123456789012345678LL);
    assert_int_equal(limit, 500);
    static const char *const bad_after[] = {"-1", "x", "1.5", "1e3", " 1", "1234567890123456789"};
    for (size_t i = 0; i < sizeof bad_after / sizeof bad_after[0]; i++) {
        assert_int_equal(chat_history_parse(bad_after[i], NULL, &after, &limit, err, sizeof err),
                         -1);
        assert_non_null(strstr(err, "invalid after"));
    }
    static const char *const bad_limit[] = {"0", "501", "-5", "ten", "1.0"};
    for (size_t i = 0; i < sizeof bad_limit / sizeof bad_limit[0]; i++) {
        assert_int_equal(chat_history_parse(NULL, bad_limit[i], &after, &limit, err, sizeof err),
                         -1);
        assert_string_equal(err, "invalid limit: use a whole number from 1 to 500");
    }
}

static void
sent_at_is_iso_utc_to_the_millisecond(void **state)
{
    char iso[CHAT_ISO_LEN];

    (void)state;
    chat_iso_ms(0, iso);
    assert_string_equal(iso, "1970-01-01T00:00:00.000Z");
    chat_iso_ms(1796032800.1239, iso);
    assert_string_equal(iso, "2026-11-30T10:00:00.123Z");
    chat_iso_ms(1796032800.9999, iso);
    assert_string_equal(iso, "2026-11-30T10:00:00.999Z");
}

static void
chat_routes_match_pages_api_and_static_files(void **state)
{
    struct route_match m;

    (void)state;
    assert_int_equal(route_match("GET", "/chat", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, page_chat_rooms);
    assert_int_equal(route_match("GET", "/chat/general", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, page_chat_room);
    assert_string_equal(m.id, "general");
    assert_int_equal(route_match("POST", "/chat/general", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, page_chat_post);
    assert_int_equal(m.route->body, BODY_RAW); /* a body route: the Origin check applies */
    assert_false(m.json);
    assert_int_equal(route_match("GET", "/static/chat.js", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, page_chat_js);
    assert_int_equal(route_match("GET", "/api/chat", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_chat_rooms);
    assert_int_equal(route_match("GET", "/api/chat/rooms", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_chat_rooms);
    assert_int_equal(route_match("GET", "/api/chat/rooms/messages", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_chat_messages); /* a room may be called rooms */
    assert_string_equal(m.id, "rooms");
    assert_int_equal(route_match("POST", "/api/chat/general/messages", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_chat_post);
    assert_int_equal(m.route->body, BODY_RAW);
    assert_true(m.json);
    assert_int_equal(route_match("DELETE", "/api/chat/general/messages", &m), ROUTE_BAD_METHOD);
    assert_string_equal(m.allow, "GET, HEAD, POST");
}

/* ----- live updates (events.c) ----- */

static void
topics_are_parsed_lower_cased_and_kept_once(void **state)
{
    struct events_topics t;
    char err[256] = "";

    (void)state;
    assert_int_equal(events_parse_topics(" tasks , task:0B6C2E1A-5D0E-4F47-9A51-8D2B1C3E7F10,"
                                         "chat:Team_42-ops,tasks,task:" A_UUID,
                                         &t, err, sizeof err),
                     0);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.t[0].kind, TOPIC_TASKS);
    assert_int_equal(t.t[1].kind, TOPIC_TASK);
    assert_string_equal(t.t[1].arg, A_UUID); /* as PostgreSQL prints it */
    assert_int_equal(t.t[2].kind, TOPIC_CHAT);
    assert_string_equal(t.t[2].arg, "Team_42-ops");
}

static void
bad_topic_lists_are_refused_naming_the_topic(void **state)
{
    static const struct {
        const char *topics, *word;
    } cases[] = {
        {NULL, "required"},
        {"", "required"},
        {"  ", "required"},
        {"tasks,,chat:a", "empty"},
        {"tasks,", "empty"},
        {"task", "unknown topic 'task'"},
        {"TASKS", "unknown topic"},
        {"task:", "UUID"},
        {"task:not-a-uuid", "UUID"},
        {"task:0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f1z", "UUID"},
        {"chat:", "room"},
        {"chat:two words", "room"},
        {"chat:a/b", "room"},
        {"chat:caf\xc3\xa9", "room"},
        {"chat:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "room"}, /* 65 */
        {"files", "unknown topic 'files'"},
    };
    struct events_topics t;
    char err[256], many[2048] = "";

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        if (events_parse_topics(cases[i].topics, &t, err, sizeof err) != -1)
            fail_msg("case %zu (%s) was accepted", i, cases[i].topics);
        if (strstr(err, cases[i].word) == NULL)
            fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].word);
    }
    for (int i = 0; i < EVENTS_TOPICS_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%schat:r%d", i ? "," : "", i);
    assert_int_equal(events_parse_topics(many, &t, err, sizeof err), 0);
    assert_int_equal(t.n, EVENTS_TOPICS_MAX);
    strcat(many, ",chat:one-more");
    assert_int_equal(events_parse_topics(many, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "at most"));
}

static void
cursors_parse_in_any_order_and_a_part_may_be_left_out(void **state)
{
    struct events_cursor c;
    char out[96];

    (void)state;
    assert_int_equal(events_parse_cursor("c12.l34.t1764500000000", &c), 0);
    assert_true(c.has_chat && c.has_log && c.has_t);
    assert_true(c.chat == 12 && c.log == 34 && c.t_ms == 1764500000000LL);
    events_format_cursor(&c, out, sizeof out);
    assert_string_equal(out, "c12.l34.t1764500000000");

    assert_int_equal(events_parse_cursor("t5.c0", &c), 0);
    assert_true(c.has_chat && !c.has_log && c.has_t);
    assert_true(c.chat == 0 && c.t_ms == 5);
    events_format_cursor(&c, out, sizeof out); /* every part, a missing one as 0 */
    assert_string_equal(out, "c0.l0.t5");

    assert_int_equal(events_parse_cursor("l9223372036854775807", &c), 0);
    assert_true(c.has_log && c.log == 9223372036854775807LL);
}

static void
malformed_cursors_are_refused(void **state)
{
    static const char *const bad[] = {
        "",        "c",    "c12.",  ".c12",       "c12..l3",  "c-1",  "c1.c2", "x1",
        "c12 l34", "C12",  "c1e3",  "l9223372036854775808", "t1.l2.c3.", "c 1", "c0x10",
    };
    struct events_cursor c;

    (void)state;
    assert_int_equal(events_parse_cursor(NULL, &c), -1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (events_parse_cursor(bad[i], &c) != -1)
            fail_msg("'%s' was taken for a cursor", bad[i]);
}

static char *
sse(const char *id, const char *event, const char *data)
{
    struct buf b = {0};

    sse_event(&b, id, event, data);
    assert_false(b.oom);
    return b.data;
}

static void
an_event_is_id_event_and_one_data_line_per_line(void **state)
{
    char *s;

    (void)state;
    s = sse("c1.l2.t3", "chat", "{\"body\":\"hi\"}");
    assert_string_equal(s, "id: c1.l2.t3\nevent: chat\ndata: {\"body\":\"hi\"}\n\n");
    free(s);
    /* Every line break (CRLF, LF, CR) starts a data line: the client joins
     * them with LF again; a trailing break gives an empty last line. */
    s = sse(NULL, "log", "one\r\ntwo\nthree\rfour\n");
    assert_string_equal(s, "event: log\ndata: one\ndata: two\ndata: three\ndata: four\n"
                           "data: \n\n");
    free(s);
    s = sse(NULL, NULL, "");
    assert_string_equal(s, "data: \n\n");
    free(s);
    /* A line break in id or event would end the field early: dropped. */
    s = sse("c1\n.l2\r", "ta\nsk", "x");
    assert_string_equal(s, "id: c1.l2\nevent: task\ndata: x\n\n");
    free(s);
}

static void
the_event_stream_is_an_api_get(void **state)
{
    struct route_match m;

    (void)state;
    assert_int_equal(route_match("GET", "/api/events", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, api_events);
    assert_true(m.json);
    assert_int_equal(route_match("POST", "/api/events", &m), ROUTE_BAD_METHOD);
    assert_int_equal(route_match("GET", "/static/live.js", &m), ROUTE_FOUND);
    assert_ptr_equal(m.route->fn, page_live_js);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escaping_replaces_all_five_special_characters),
        cmocka_unit_test(escaping_leaves_utf8_and_plain_text_untouched),
        cmocka_unit_test(escaping_an_already_escaped_string_escapes_it_again),
        cmocka_unit_test(a_page_escapes_its_title),
        cmocka_unit_test(buffer_grows_past_its_first_allocation),
        cmocka_unit_test(utf8_prefix_never_cuts_a_character_in_half),
        cmocka_unit_test(routes_match_fixed_paths_and_ids),
        cmocka_unit_test(routes_ignore_one_trailing_slash),
        cmocka_unit_test(routes_refuse_unknown_paths),
        cmocka_unit_test(routes_name_the_allowed_methods_on_a_method_mismatch),
        cmocka_unit_test(routes_keep_no_part_of_an_overlong_id),
        cmocka_unit_test(api_paths_are_recognised_for_json_errors),
        cmocka_unit_test(a_valid_body_fills_the_request),
        cmocka_unit_test(an_empty_or_malformed_body_is_refused_with_the_parser_reason),
        cmocka_unit_test(a_body_that_is_not_an_object_is_refused),
        cmocka_unit_test(a_missing_or_mistyped_name_is_refused),
        cmocka_unit_test(mistyped_args_kwargs_and_queue_are_refused),
        cmocka_unit_test(unknown_and_repeated_fields_are_named),
        cmocka_unit_test(an_overlong_unknown_field_is_shortened_on_a_character_boundary),
        cmocka_unit_test(invalid_task_and_queue_names_are_refused),
        cmocka_unit_test(enqueue_results_map_to_http_statuses),
        cmocka_unit_test(api_errors_are_json_objects_with_an_error_field),
        cmocka_unit_test(error_pages_escape_their_message),
        cmocka_unit_test(listen_addresses_parse_into_host_and_port),
        cmocka_unit_test(cross_origin_posts_are_recognised),
        cmocka_unit_test(json_content_types_are_recognised),
        cmocka_unit_test(loopback_addresses_are_recognised),
        cmocka_unit_test(messages_become_one_line),
        cmocka_unit_test(article_queries_take_defaults_and_empty_values_as_no_filter),
        cmocka_unit_test(bad_article_queries_are_refused_naming_the_parameter),
        cmocka_unit_test(article_ids_are_positive_numbers_that_fit_a_bigint),
        cmocka_unit_test(url_encoding_keeps_only_unreserved_characters),
        cmocka_unit_test(body_text_becomes_escaped_paragraphs_split_on_blank_lines),
        cmocka_unit_test(only_web_urls_become_links_and_they_open_no_window_back),
        cmocka_unit_test(article_and_site_routes_match_with_fixed_paths_before_ids),
        cmocka_unit_test(web_urls_with_a_host_are_accepted),
        cmocka_unit_test(other_schemes_missing_hosts_and_odd_characters_are_refused),
        cmocka_unit_test(the_scrape_form_defaults_max_pages_and_reads_the_checkbox),
        cmocka_unit_test(site_bodies_need_a_url_and_a_schedule_and_name_wrong_fields),
        cmocka_unit_test(a_schedule_gives_its_next_run_or_names_its_problem),
        cmocka_unit_test(scrape_kwargs_carry_url_max_pages_and_follow),
        cmocka_unit_test(content_disposition_quotes_nothing_that_could_break_out),
        cmocka_unit_test(content_disposition_has_an_ascii_fallback_and_the_utf8_name),
        cmocka_unit_test(upload_names_lose_paths_and_control_characters),
        cmocka_unit_test(upload_names_that_say_nothing_become_upload),
        cmocka_unit_test(long_upload_names_are_cut_on_a_character_keeping_the_extension),
        cmocka_unit_test(targets_are_named_by_extension_and_canonical),
        cmocka_unit_test(convert_bodies_name_the_file_the_target_and_options),
        cmocka_unit_test(bad_convert_bodies_are_refused_naming_the_field),
        cmocka_unit_test(form_fields_become_conversion_options),
        cmocka_unit_test(bad_form_options_are_refused_naming_the_field),
        cmocka_unit_test(file_routes_stream_uploads_and_answer_in_their_dialect),
        cmocka_unit_test(room_names_are_1_to_64_of_letters_digits_underscore_and_dash),
        cmocka_unit_test(code_points_are_counted_and_invalid_utf8_is_minus_one),
        cmocka_unit_test(chat_text_counts_characters_not_bytes_and_refuses_blank_and_controls),
        cmocka_unit_test(chat_bodies_give_author_and_body_as_sent),
        cmocka_unit_test(bad_chat_bodies_are_refused_naming_the_field),
        cmocka_unit_test(the_room_form_is_urldecoded_and_checked),
        cmocka_unit_test(history_parameters_default_and_name_their_problem),
        cmocka_unit_test(sent_at_is_iso_utc_to_the_millisecond),
        cmocka_unit_test(chat_routes_match_pages_api_and_static_files),
        cmocka_unit_test(topics_are_parsed_lower_cased_and_kept_once),
        cmocka_unit_test(bad_topic_lists_are_refused_naming_the_topic),
        cmocka_unit_test(cursors_parse_in_any_order_and_a_part_may_be_left_out),
        cmocka_unit_test(malformed_cursors_are_refused),
        cmocka_unit_test(an_event_is_id_event_and_one_data_line_per_line),
        cmocka_unit_test(the_event_stream_is_an_api_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
