/* Partition specs: Hive unescaping, the NULL partition, malformed specs, lookups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "conn/partspec.h"

static void test_parse(void **state)
{
    (void)state;
    struct part_spec p;
    int found = 0;
    assert_int_equal(part_spec_parse("dt=2024-01-01/region=a%2Fb%3Dc%25d%3Ae f", &p), 0);
    assert_int_equal((int)p.n, 2);
    assert_string_equal(p.keys[0], "dt");
    assert_string_equal(p.vals[0], "2024-01-01");
    assert_string_equal(part_spec_get(&p, "region", &found), "a/b=c%d:e f");
    assert_true(found);
    assert_null(part_spec_get(&p, "nope", &found));
    assert_false(found);
    part_spec_release(&p);

    /* Hive's NULL partition; a '%' not followed by two hex digits is itself. */
    assert_int_equal(part_spec_parse("k=__HIVE_DEFAULT_PARTITION__/x=50%/y=%zz%4", &p), 0);
    assert_null(part_spec_get(&p, "k", &found));
    assert_true(found);
    assert_string_equal(part_spec_get(&p, "x", &found), "50%");
    assert_string_equal(part_spec_get(&p, "y", &found), "%zz%4");
    part_spec_release(&p);

    /* An empty value is a value, not NULL. */
    assert_int_equal(part_spec_parse("k=", &p), 0);
    assert_string_equal(part_spec_get(&p, "k", &found), "");
    part_spec_release(&p);
}

static void test_malformed(void **state)
{
    (void)state;
    struct part_spec p;
    const char *bad[] = {"", "k", "=v", "a=1/b", "a=1//b=2", "FOR VALUES FROM (1) TO (2)", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(part_spec_parse(bad[i], &p), -1);
        assert_int_equal((int)p.n, 0);
        assert_null(p.keys);
    }
    assert_int_equal(part_spec_parse(NULL, &p), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
