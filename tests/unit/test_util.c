/* buf (hard cap), time formatting/parsing, configuration precedence and bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/config.h"
#include "util/timeutil.h"

static void test_buf_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_adds(&b, "hello"), 0);
    assert_int_equal(buf_printf(&b, "%d", 12345), 0);
    assert_string_equal(buf_str(&b), "hello12345");
    assert_int_equal(buf_addc(&b, 'x'), -1); /* over the cap: unchanged */
    assert_int_equal((int)b.len, 10);
    assert_string_equal(buf_str(&b), "hello12345");
    buf_clear(&b);
    assert_string_equal(buf_str(&b), "");
    assert_int_equal(buf_printf(&b, "%s", "a very long string over ten"), -1);
    assert_int_equal((int)b.len, 0);
    buf_release(&b);

    struct buf big;
    buf_init(&big, BUF_NO_LIMIT);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_printf(&big, "%04d", i % 10000), 0);
    assert_int_equal((int)big.len, 40000);
    size_t n = 0;
    char *p = buf_detach(&big, &n);
    assert_int_equal((int)n, 40000);
    assert_memory_equal(p + 39996, "9999", 4);
    free(p);
}

static void test_time(void **state)
{
    (void)state;
    char s[20];
    time_format(1734450257, s);
    assert_string_equal(s, "2024-12-17 15:44:17");
    int64_t t = 0;
    assert_int_equal(time_parse("2024-12-17 15:44:17", &t), 0);
    assert_true(t == 1734450257);
    assert_int_equal(time_parse("2024-12-17", &t), 0);
    assert_true(t == 1734393600);
    assert_int_equal(time_parse("2024-13-17", &t), -1);
    assert_int_equal(time_parse("2024-12-17T15:44:17", &t), -1);
    assert_int_equal(time_parse("", &t), -1);
    assert_int_equal(time_parse("2024-12-17 15:44:17 ", &t), -1);
    time_set_offset(8 * 3600);
    time_format(1734450257, s);
    assert_string_equal(s, "2024-12-17 23:44:17");
    time_set_offset(0);
}

static void test_config(void **state)
{
    (void)state;
    struct mms_config c;
    struct mms_err err = {0};
    char *argv1[] = {(char *)"mmsd", (char *)"--workers", (char *)"8", (char *)"--listen=127.0.0.1:9", NULL};
    unsetenv("MMS_WORKERS");
    setenv("MMS_POLL_MS", "77", 1);
    assert_int_equal(config_load(&c, 4, argv1, &err), 0);
    assert_true(c.workers == 8);
    assert_true(c.poll_ms == 77);
    assert_string_equal(c.listen, "127.0.0.1:9");
    assert_string_equal(c.store, "./var/mms.db");
    config_release(&c);

    /* Flags beat the environment, which beats the file. */
    char path[] = "/tmp/mms-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# comment\nworkers = 3\npoll-ms = 500\nlog-level = debug\n");
    fclose(f);
    char *argv2[] = {(char *)"mmsd", (char *)"--config", path, (char *)"--poll-ms", (char *)"60", NULL};
    setenv("MMS_POLL_MS", "90", 1);
    assert_int_equal(config_load(&c, 5, argv2, &err), 0);
    assert_true(c.workers == 3);
    assert_true(c.poll_ms == 60);
    assert_string_equal(c.log_level, "debug");
    config_release(&c);
    unsetenv("MMS_POLL_MS");
    unlink(path);

    char *bad1[] = {(char *)"mmsd", (char *)"--workers", (char *)"0", NULL};
    assert_int_equal(config_load(&c, 3, bad1, &err), -1);
    assert_non_null(strstr(err.msg, "workers"));
    config_release(&c);
    char *bad2[] = {(char *)"mmsd", (char *)"--nope", (char *)"1", NULL};
    assert_int_equal(config_load(&c, 3, bad2, &err), -1);
    config_release(&c);
    char *bad3[] = {(char *)"mmsd", (char *)"--log-level", (char *)"loud", NULL};
    assert_int_equal(config_load(&c, 3, bad3, &err), -1);
    config_release(&c);
    char *bad4[] = {(char *)"mmsd", (char *)"--workers", NULL};
    assert_int_equal(config_load(&c, 2, bad4, &err), -1);
    config_release(&c);
    char *bad5[] = {(char *)"mmsd", (char *)"--time-offset", (char *)"8", NULL};
    assert_int_equal(config_load(&c, 3, bad5, &err), -1);
    config_release(&c);

    /* the parallel copy knobs: 1..16 streams, a positive row threshold */
    static const char *const knob_bad[][2] = {
        {"--copy-streams", "0"},          {"--copy-streams", "17"},
        {"--write-streams", "0"},         {"--write-streams", "two"},
        {"--copy-streams-min-rows", "0"}, {"--write-streams-min-rows", "-5"},
    };
    for (size_t i = 0; i < sizeof knob_bad / sizeof knob_bad[0]; i++) {
        char *argv[] = {(char *)"mmsd", (char *)knob_bad[i][0], (char *)knob_bad[i][1], NULL};
        assert_int_equal(config_load(&c, 3, argv, &err), -1);
        assert_string_equal(err.code, "InvalidConfig");
        assert_non_null(strstr(err.msg, knob_bad[i][0] + 2));
        config_release(&c);
    }
    char *good[] = {(char *)"mmsd", (char *)"--copy-streams", (char *)"16",
                    (char *)"--write-streams", (char *)"1", NULL};
    assert_int_equal(config_load(&c, 5, good, &err), 0);
    assert_int_equal(c.copy_streams, 16);
    assert_int_equal(c.write_streams, 1);
    assert_int_equal(c.copy_streams_min_rows, 1000000);
    assert_int_equal(c.write_streams_min_rows, 100000);
    config_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
