/* test/unit/test_tasks.c - argument binding (worker/task.c) and the demo
 * tasks, run without a broker or database. */
#include <stdarg.h> /* cmocka.h needs these four first */
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/json.h"
#include "worker/registry.h"
#include "worker/task.h"

struct run {
    struct celery_msg m;
    struct task_ctx t;
    int rc;
};

static void
run_task(struct run *r, const char *name, const char *args, const char *kwargs)
{
    const struct task_def *d = registry_find(name);

    assert_non_null(d);
    memset(r, 0, sizeof *r);
    r->m.id = "0b6c2e1a-5d0e-4f47-9a51-8d2b1c3e7f10";
    r->m.task = (char *)name;
    r->m.args = cJSON_Parse(args);
    r->m.kwargs = cJSON_Parse(kwargs);
    task_ctx_init(&r->t, &r->m, NULL, "test@host", NULL);
    r->rc = d->run(&r->t);
}

static void
run_done(struct run *r)
{
    task_ctx_fini(&r->t);
    cJSON_Delete(r->m.args);
    cJSON_Delete(r->m.kwargs);
}

static void
add_takes_arguments_by_position_or_by_name(void **state)
{
    struct run r;

    (void)state;
    run_task(&r, "demo.add", "[2, 3]", "{}");
    assert_int_equal(r.rc, TASK_OK);
    assert_true(r.t.result->valuedouble == 5);
    assert_int_equal(r.t.nlogs, 1);
    assert_string_equal(r.t.logs[0].message, "adding 2 + 3");
    run_done(&r);
    run_task(&r, "demo.add", "[2]", "{\"y\": 0.5}");
    assert_int_equal(r.rc, TASK_OK);
    assert_true(r.t.result->valuedouble == 2.5);
    run_done(&r);
}

static void
wrong_calls_fail_like_python_type_errors(void **state)
{
    struct run r;

    (void)state;
    run_task(&r, "demo.add", "[1, 2, 3]", "{}");
    assert_int_equal(r.rc, TASK_FAILED);
    assert_string_equal(r.t.exc_type, "TypeError");
    assert_string_equal(r.t.error, "demo.add() takes 2 positional arguments but 3 were given");
    run_done(&r);
    run_task(&r, "demo.add", "[1]", "{\"z\": 2}");
    assert_string_equal(r.t.error, "demo.add() got an unexpected keyword argument 'z'");
    run_done(&r);
    run_task(&r, "demo.add", "[1]", "{\"x\": 2}");
    assert_string_equal(r.t.error, "demo.add() got multiple values for argument 'x'");
    run_done(&r);
    run_task(&r, "demo.add", "[1]", "{}");
    assert_string_equal(r.t.error, "demo.add() missing required argument: 'y'");
    run_done(&r);
    run_task(&r, "demo.add", "[1, \"2\"]", "{}");
    assert_string_equal(r.t.error, "demo.add(): argument 'y' must be a number");
    run_done(&r);
}

static void
a_long_failure_message_is_cut_on_a_character_boundary(void **state)
{
    char args[2000] = "[\"";
    struct run r;

    (void)state;
    for (int i = 0; i < 700; i++)
        strcat(args, "\xc3\xa9"); /* é: 1,400 bytes in all, more than the error holds */
    strcat(args, "\"]");
    run_task(&r, "demo.fail", args, "{}");
    assert_int_equal(r.rc, TASK_FAILED);
    assert_true(strlen(r.t.error) <= TASK_ERROR_MAX - 1);
    assert_true(strlen(r.t.error) % 2 == 0); /* whole characters only */
    assert_true(utf8_valid(r.t.error, strlen(r.t.error)));
    run_done(&r);
}

static void
task_sql_without_a_database_fails_the_task(void **state)
{
    struct run r;

    (void)state;
    run_task(&r, "demo.record", "[\"k\"]", "{}");
    assert_int_equal(r.rc, TASK_FAILED);
    assert_string_equal(r.t.error, "demo.record: no database in this context");
    run_done(&r);
}

static void
fail_reports_its_message_as_celery_failure_meta(void **state)
{
    struct run r;
    char *meta;

    (void)state;
    run_task(&r, "demo.fail", "[\"boom\"]", "{}");
    assert_int_equal(r.rc, TASK_FAILED);
    assert_string_equal(r.t.error, "boom");
    meta = task_failure_meta(&r.t);
    assert_string_equal(meta, "{\"exc_type\":\"RuntimeError\",\"exc_message\":[\"boom\"],"
                              "\"exc_module\":\"builtins\"}");
    cJSON_free(meta);
    run_done(&r);
}

static void
sleep_accepts_fractions_and_refuses_negative_times(void **state)
{
    struct run r;

    (void)state;
    run_task(&r, "demo.sleep", "[]", "{\"seconds\": 0.01}");
    assert_int_equal(r.rc, TASK_OK);
    assert_true(r.t.result->valuedouble == 0.01);
    assert_int_equal(r.t.nlogs, 2);
    run_done(&r);
    run_task(&r, "demo.sleep", "[-1]", "{}");
    assert_int_equal(r.rc, TASK_FAILED);
    assert_string_equal(r.t.exc_type, "ValueError");
    run_done(&r);
}

static void
log_lines_stop_at_the_limit_with_a_marker(void **state)
{
    struct run r;

    (void)state;
    run_task(&r, "demo.noop", "[]", "{}");
    for (int i = 0; i < TASK_LOG_LINES_MAX + 10; i++)
        task_log(&r.t, "line %d", i);
    assert_int_equal(r.t.nlogs, TASK_LOG_LINES_MAX + 1);
    assert_non_null(strstr(r.t.logs[TASK_LOG_LINES_MAX].message, "dropped"));
    run_done(&r);
}

/* Every task says what it does, with example arguments that parse, and the
 * list the master registers is that list. */
static void
every_task_is_documented_and_registered(void **state)
{
    char *text = registry_json();
    cJSON *list = cJSON_Parse(text);
    int n = 0;

    (void)state;
    for (const struct task_def *d = registry_tasks; d->name != NULL; d++, n++) {
        cJSON *example = cJSON_Parse(d->example_args);
        assert_non_null(d->doc);
        assert_true(strncmp(d->doc, d->name, strlen(d->name)) == 0);
        assert_true(cJSON_IsArray(example));
        cJSON_Delete(example);
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(list, n), "name")->valuestring,
                            d->name);
    }
    assert_int_equal(cJSON_GetArraySize(list), n);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "queue")->valuestring, "celery");
    cJSON_Delete(list);
    cJSON_free(text);
}

static void
unknown_tasks_are_not_found(void **state)
{
    (void)state;
    assert_null(registry_find("demo.nope"));
    assert_null(registry_find(NULL));
    assert_non_null(registry_find("demo.noop"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_takes_arguments_by_position_or_by_name),
        cmocka_unit_test(wrong_calls_fail_like_python_type_errors),
        cmocka_unit_test(fail_reports_its_message_as_celery_failure_meta),
        cmocka_unit_test(a_long_failure_message_is_cut_on_a_character_boundary),
        cmocka_unit_test(task_sql_without_a_database_fails_the_task),
        cmocka_unit_test(sleep_accepts_fractions_and_refuses_negative_times),
        cmocka_unit_test(log_lines_stop_at_the_limit_with_a_marker),
        cmocka_unit_test(every_task_is_documented_and_registered),
        cmocka_unit_test(unknown_tasks_are_not_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
