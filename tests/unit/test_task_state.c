/* The migration task state machine (src/engine/task_state.c): the closed set of statuses, the
 * stage a claimed task runs next, terminal/failed classification and the retry reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "engine/task_state.h"

static const char *const pipeline[] = {
    "INIT",      "SCHEMA_DOING", "SCHEMA_DONE",        "SCHEMA_FAILED",
    "DATA_DOING", "DATA_DONE",   "DATA_FAILED",        "VERIFICATION_DOING",
    "VERIFICATION_DONE", "VERIFICATION_FAILED", "DONE",
};
#define NPIPE (sizeof pipeline / sizeof pipeline[0])

static void test_statuses_closed_set(void **state)
{
    (void)state;
    size_t n = 0;
    while (task_statuses[n])
        n++;
    assert_int_equal(n, NPIPE);
    for (size_t i = 0; i < NPIPE; i++) {
        assert_string_equal(task_statuses[i], pipeline[i]);
        assert_true(task_status_valid(pipeline[i]));
    }
    const char *bad[] = {"", "init", "DONE ", " DONE", "DATA_DONG", "FAILED", "DOING",
                         "SCHEMA", "_FAILED", "STOPPED", "VERIFICATION", "done"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(task_status_valid(bad[i]));
}

static void test_failed_and_terminal(void **state)
{
    (void)state;
    for (size_t i = 0; i < NPIPE; i++) {
        const char *s = pipeline[i];
        bool failed = strstr(s, "_FAILED") != NULL;
        assert_int_equal(task_status_failed(s), failed);
        assert_int_equal(task_status_terminal(s), failed || strcmp(s, "DONE") == 0);
    }
    /* Suffix rule, not a substring: */
    assert_false(task_status_failed("FAILED_X"));
    assert_false(task_status_failed("_FAILED")); /* needs something before the suffix */
    assert_false(task_status_terminal("INIT"));
    assert_false(task_status_terminal("DATA_DONE"));
}

static void test_next_stage(void **state)
{
    (void)state;
    struct {
        const char *status;
        enum task_stage next;
    } cases[] = {
        {"INIT", STAGE_SCHEMA},
        {"SCHEMA_DOING", STAGE_SCHEMA},        /* resumed: redo the stage from its start */
        {"SCHEMA_FAILED", STAGE_SCHEMA},
        {"SCHEMA_DONE", STAGE_DATA},
        {"DATA_DOING", STAGE_DATA},
        {"DATA_FAILED", STAGE_DATA},
        {"DATA_DONE", STAGE_VERIFY},
        {"VERIFICATION_DOING", STAGE_VERIFY},
        {"VERIFICATION_FAILED", STAGE_VERIFY},
        {"VERIFICATION_DONE", STAGE_FINISHED},
        {"DONE", STAGE_FINISHED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum task_stage got = task_status_next_stage(cases[i].status);
        if (got != cases[i].next)
            fail_msg("%s: next stage %d, expected %d", cases[i].status, got, cases[i].next);
    }
}

static void test_stage_names(void **state)
{
    (void)state;
    assert_string_equal(task_stage_doing(STAGE_SCHEMA), "SCHEMA_DOING");
    assert_string_equal(task_stage_done(STAGE_SCHEMA), "SCHEMA_DONE");
    assert_string_equal(task_stage_failed(STAGE_SCHEMA), "SCHEMA_FAILED");
    assert_string_equal(task_stage_doing(STAGE_DATA), "DATA_DOING");
    assert_string_equal(task_stage_done(STAGE_DATA), "DATA_DONE");
    assert_string_equal(task_stage_failed(STAGE_DATA), "DATA_FAILED");
    assert_string_equal(task_stage_doing(STAGE_VERIFY), "VERIFICATION_DOING");
    assert_string_equal(task_stage_done(STAGE_VERIFY), "VERIFICATION_DONE");
    assert_string_equal(task_stage_failed(STAGE_VERIFY), "VERIFICATION_FAILED");
    assert_string_equal(task_stage_done(STAGE_FINISHED), "DONE");
    /* Every stage name is a valid status, and a stage's statuses lead back to the stage. */
    for (int s = STAGE_SCHEMA; s <= STAGE_VERIFY; s++) {
        assert_true(task_status_valid(task_stage_doing((enum task_stage)s)));
        assert_true(task_status_valid(task_stage_done((enum task_stage)s)));
        assert_true(task_status_valid(task_stage_failed((enum task_stage)s)));
        assert_int_equal(task_status_next_stage(task_stage_doing((enum task_stage)s)), s);
        assert_int_equal(task_status_next_stage(task_stage_failed((enum task_stage)s)), s);
        assert_int_equal(task_status_next_stage(task_stage_done((enum task_stage)s)), s + 1);
        assert_true(task_status_failed(task_stage_failed((enum task_stage)s)));
    }
}

static void test_retry_from(void **state)
{
    (void)state;
    assert_string_equal(task_status_retry_from("SCHEMA_FAILED"), "INIT");
    assert_string_equal(task_status_retry_from("DATA_FAILED"), "SCHEMA_DONE");
    /* A verification failure re-runs data: the destination may be wrong. */
    assert_string_equal(task_status_retry_from("VERIFICATION_FAILED"), "SCHEMA_DONE");
    for (size_t i = 0; i < NPIPE; i++) {
        const char *s = pipeline[i];
        const char *r = task_status_retry_from(s);
        if (task_status_failed(s)) {
            assert_non_null(r);
            assert_true(task_status_valid(r));
            assert_false(task_status_terminal(r));
            /* The reset status resumes at the failed stage (or, for verification, earlier). */
            assert_true(task_status_next_stage(r) <= task_status_next_stage(s));
        } else {
            assert_null(r);
        }
    }
    assert_null(task_status_retry_from("BOGUS_FAILED"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statuses_closed_set),
        cmocka_unit_test(test_failed_and_terminal),
        cmocka_unit_test(test_next_stage),
        cmocka_unit_test(test_stage_names),
        cmocka_unit_test(test_retry_from),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
