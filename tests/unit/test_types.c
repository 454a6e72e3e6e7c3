/* Canonical type names: format/parse round trips and what parse refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "conn/types.h"

static void check_round_trip(struct mms_type t, const char *want)
{
    char buf[64];
    struct mms_type back;
    mms_type_format(&t, buf, sizeof buf);
    assert_string_equal(buf, want);
    assert_int_equal(mms_type_parse(buf, &back), 0);
    assert_int_equal(back.id, t.id);
    assert_int_equal(back.precision, t.precision);
    assert_int_equal(back.scale, t.scale);
    assert_int_equal(back.length, t.length);
}

static void test_round_trip_all(void **state)
{
    (void)state;
    check_round_trip((struct mms_type){.id = MT_BOOL}, "bool");
    check_round_trip((struct mms_type){.id = MT_INT8}, "int8");
    check_round_trip((struct mms_type){.id = MT_INT16}, "int16");
    check_round_trip((struct mms_type){.id = MT_INT32}, "int32");
    check_round_trip((struct mms_type){.id = MT_INT64}, "int64");
    check_round_trip((struct mms_type){.id = MT_UINT8}, "uint8");
    check_round_trip((struct mms_type){.id = MT_UINT16}, "uint16");
    check_round_trip((struct mms_type){.id = MT_UINT32}, "uint32");
    check_round_trip((struct mms_type){.id = MT_UINT64}, "uint64");
    check_round_trip((struct mms_type){.id = MT_FLOAT32}, "float32");
    check_round_trip((struct mms_type){.id = MT_FLOAT64}, "float64");
    check_round_trip((struct mms_type){.id = MT_DECIMAL, .precision = 10, .scale = 2},
                     "decimal(10,2)");
    check_round_trip((struct mms_type){.id = MT_DECIMAL, .precision = 38, .scale = 0},
                     "decimal(38,0)");
    check_round_trip((struct mms_type){.id = MT_DECIMAL}, "decimal");
    check_round_trip((struct mms_type){.id = MT_CHAR, .length = 3}, "char(3)");
    check_round_trip((struct mms_type){.id = MT_CHAR}, "char");
    check_round_trip((struct mms_type){.id = MT_VARCHAR, .length = 20}, "varchar(20)");
    check_round_trip((struct mms_type){.id = MT_VARCHAR}, "varchar");
    check_round_trip((struct mms_type){.id = MT_TEXT}, "text");
    check_round_trip((struct mms_type){.id = MT_BINARY}, "binary");
    check_round_trip((struct mms_type){.id = MT_BINARY, .length = 16}, "binary(16)");
    check_round_trip((struct mms_type){.id = MT_DATE}, "date");
    check_round_trip((struct mms_type){.id = MT_TIME}, "time");
    check_round_trip((struct mms_type){.id = MT_TIME, .scale = 6}, "time(6)");
    check_round_trip((struct mms_type){.id = MT_DATETIME}, "datetime");
    check_round_trip((struct mms_type){.id = MT_DATETIME, .scale = 3}, "datetime(3)");
    check_round_trip((struct mms_type){.id = MT_TIMESTAMP}, "timestamp");
    check_round_trip((struct mms_type){.id = MT_TIMESTAMP, .scale = 9}, "timestamp(9)");
    check_round_trip((struct mms_type){.id = MT_JSON}, "json");
    check_round_trip((struct mms_type){.id = MT_ANY}, "any");
}

static void test_parse_lenient_spelling(void **state)
{
    (void)state;
    struct mms_type t;
    assert_int_equal(mms_type_parse("  DECIMAL ( 12 , 4 ) ", &t), 0);
    assert_int_equal(t.id, MT_DECIMAL);
    assert_int_equal(t.precision, 12);
    assert_int_equal(t.scale, 4);
    assert_int_equal(mms_type_parse("decimal(7)", &t), 0);
    assert_int_equal(t.precision, 7);
    assert_int_equal(t.scale, 0);
    assert_int_equal(mms_type_parse("VarChar(255)", &t), 0);
    assert_int_equal(t.id, MT_VARCHAR);
    assert_int_equal(t.length, 255);
    /* prefixes of other names must not win */
    assert_int_equal(mms_type_parse("int16", &t), 0);
    assert_int_equal(t.id, MT_INT16);
    assert_int_equal(mms_type_parse("timestamp", &t), 0);
    assert_int_equal(t.id, MT_TIMESTAMP);
    assert_int_equal(mms_type_parse("datetime", &t), 0);
    assert_int_equal(t.id, MT_DATETIME);
    assert_int_equal(mms_type_parse("varchar(0)", &t), 0);
    assert_int_equal(t.length, 0);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "int",
        "integer",
        "int64(3)",
        "text(5)",
        "varchar(",
        "varchar(x)",
        "varchar(1,2)",
        "varchar(10)x",
        "decimal(2,3)",
        "decimal(0,0)",
        "decimal(,2)",
        "char(99999999999)",
        "time(1,2)",
        "stringy",
        "int64 int64",
    };
    struct mms_type t;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mms_type_parse(bad[i], &t), -1);
    assert_int_equal(mms_type_parse("json ", &t), 0); /* trailing blanks are fine */
    assert_int_equal(mms_type_parse(NULL, &t), -1);
}

static void test_format_truncates(void **state)
{
    (void)state;
    char buf[6];
    struct mms_type t = {.id = MT_DECIMAL, .precision = 10, .scale = 2};
    mms_type_format(&t, buf, sizeof buf);
    assert_string_equal(buf, "decim");
    t.id = (enum mms_type_id)999;
    char big[32];
    mms_type_format(&t, big, sizeof big);
    assert_string_equal(big, "unknown(999)");
    assert_int_equal(mms_type_parse(big, &t), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_all),
        cmocka_unit_test(test_parse_lenient_spelling),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_format_truncates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
