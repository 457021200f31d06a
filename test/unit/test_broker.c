/* test/unit/test_broker.c - publisher-confirm bookkeeping (broker/consume.c):
 * which messages of a batch RabbitMQ confirmed, nacked or left unknown, with
 * acks single or multiple and out of order. No connection is opened. */
#include <stdarg.h> /* cmocka.h needs these four first */
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "broker/internal.h"

static void
broker_fini_test(struct broker *b)
{
    free(b->settled_above);
    free(b->nacked_tags);
    broker_outcomes_clear(b);
    free(b->returned_ids);
}

static void
a_single_ack_ahead_of_earlier_tags_confirms_only_itself(void **state)
{
    struct broker b = {.open = true, .published = 4};

    (void)state;
    broker_settle_confirm(&b, 3, false); /* tag 3 stored before 1 and 2 */
    assert_int_equal(b.confirmed, 0);    /* a wait for 1..3 is not over */
    assert_int_equal(broker_outcome(&b, 3, NULL), BROKER_CONFIRMED);
    assert_int_equal(broker_outcome(&b, 1, NULL), BROKER_UNKNOWN);
    assert_int_equal(broker_outcome(&b, 2, NULL), BROKER_UNKNOWN);
    broker_settle_confirm(&b, 1, false);
    assert_int_equal(b.confirmed, 1);
    broker_settle_confirm(&b, 2, false); /* closes the gap: 1..3 all settled */
    assert_int_equal(b.confirmed, 3);
    assert_int_equal(b.n_above, 0);
    assert_int_equal(broker_outcome(&b, 4, NULL), BROKER_UNKNOWN);
    broker_fini_test(&b);
}

static void
a_multiple_ack_settles_everything_up_to_its_tag(void **state)
{
    struct broker b = {.open = true, .published = 10};

    (void)state;
    broker_settle_confirm(&b, 9, false);
    broker_settle_confirm(&b, 5, true);
    assert_int_equal(b.confirmed, 5);
    assert_int_equal(broker_outcome(&b, 9, NULL), BROKER_CONFIRMED);
    assert_int_equal(broker_outcome(&b, 7, NULL), BROKER_UNKNOWN);
    broker_settle_confirm(&b, 8, true); /* 6..8, then 9 already settled */
    assert_int_equal(b.confirmed, 9);
    assert_int_equal(broker_outcome(&b, 10, NULL), BROKER_UNKNOWN);
    broker_fini_test(&b);
}

static void
a_nack_names_only_its_message(void **state)
{
    struct broker b = {.open = true, .published = 3};

    (void)state;
    broker_note_nack(&b, 2);
    broker_settle_confirm(&b, 2, false);
    broker_settle_confirm(&b, 3, true);
    assert_int_equal(broker_outcome(&b, 1, NULL), BROKER_CONFIRMED);
    assert_int_equal(broker_outcome(&b, 2, NULL), BROKER_NACKED);
    assert_int_equal(broker_outcome(&b, 3, NULL), BROKER_CONFIRMED);
    broker_outcomes_clear(&b); /* a new batch: the old nack no longer counts */
    assert_int_equal(broker_outcome(&b, 2, NULL), BROKER_CONFIRMED);
    broker_fini_test(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_single_ack_ahead_of_earlier_tags_confirms_only_itself),
        cmocka_unit_test(a_multiple_ack_settles_everything_up_to_its_tag),
        cmocka_unit_test(a_nack_names_only_its_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
