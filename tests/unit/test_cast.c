/* Opt-in casts (src/engine/cast.c): parsing others.casts with its 400 errors, each engine-side
 * cast on real row batches (bit patterns of -0.0, NaN and infinities, NUL bytes anywhere in a
 * text), the count of changed values, and casts=0 or other kinds left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "conn/rowbatch.h"
#include "engine/cast.h"
#include "util/log.h"

#define ALL_BITS \
    (CONN_CAST_ZERO_DATE_NULL | CONN_CAST_NEG_ZERO | CONN_CAST_NAN_NULL | CONN_CAST_STRIP_NUL)

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* Parses a JSON text for others; returns cast_parse's result. */
static int parse_text(const char *json, unsigned *out, struct mms_err *err)
{
    json_error_t je;
    json_t *o = json_loads(json, JSON_ALLOW_NUL, &je);
    if (!o)
        fail_msg("bad test JSON %s: %s", json, je.text);
    memset(err, 0, sizeof *err);
    int rc = cast_parse(o, out, err);
    json_decref(o);
    return rc;
}

/* ================================================================ Parsing */

static void test_parse_ok(void **state)
{
    (void)state;
    struct mms_err err;
    unsigned c = 99;
    assert_int_equal(cast_parse(NULL, &c, &err), 0);
    assert_int_equal(c, 0);
    c = 99;
    assert_int_equal(parse_text("{}", &c, &err), 0);
    assert_int_equal(c, 0);
    c = 99;
    assert_int_equal(parse_text("{\"casts\": null, \"verify\": \"count\"}", &c, &err), 0);
    assert_int_equal(c, 0);
    c = 99;
    assert_int_equal(parse_text("{\"casts\": []}", &c, &err), 0);
    assert_int_equal(c, 0);
    assert_int_equal(parse_text("{\"casts\": [\"stripNul\"]}", &c, &err), 0);
    assert_int_equal(c, CONN_CAST_STRIP_NUL);
    assert_int_equal(parse_text("{\"casts\": [\"nanToNull\", \"negativeZeroToZero\"]}", &c, &err),
                     0);
    assert_int_equal(c, CONN_CAST_NAN_NULL | CONN_CAST_NEG_ZERO);
    assert_int_equal(parse_text("{\"casts\": [\"stripNul\", \"zeroDateToNull\", \"nanToNull\","
                                " \"negativeZeroToZero\"]}",
                                &c, &err),
                     0);
    assert_int_equal(c, ALL_BITS);
    assert_int_equal(CAST_ENGINE_BITS, CONN_CAST_NEG_ZERO | CONN_CAST_NAN_NULL |
                                           CONN_CAST_STRIP_NUL);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *mention; /* must be in the message */
    } cases[] = {
        {"{\"casts\": \"stripNul\"}", "others.casts must be an array"},
        {"{\"casts\": {\"stripNul\": true}}", "others.casts must be an array"},
        {"{\"casts\": true}", "others.casts must be an array"},
        {"{\"casts\": [1]}", "others.casts[0] must be a string"},
        {"{\"casts\": [\"stripNul\", null]}", "others.casts[1] must be a string"},
        {"{\"casts\": [[\"stripNul\"]]}", "others.casts[0] must be a string"},
        {"{\"casts\": [\"stripNull\"]}", "others.casts[0] \"stripNull\" is not a known cast"},
        {"{\"casts\": [\"nanToNull\", \"StripNul\"]}",
         "others.casts[1] \"StripNul\" is not a known cast"},
        {"{\"casts\": [\"\"]}", "others.casts[0] \"\" is not a known cast"},
        {"{\"casts\": [\"stripNul\\u0000\"]}", "\"stripNul\\x00\" is not a known cast"},
        {"{\"casts\": [\"a\\nb\"]}", "\"a\\x0ab\" is not a known cast"},
        {"{\"casts\": [\"stripNul\", \"nanToNull\", \"stripNul\"]}",
         "others.casts[2] \"stripNul\" is given twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mms_err err;
        unsigned c = 99;
        if (parse_text(cases[i].json, &c, &err) != -1)
            fail_msg("%s was accepted", cases[i].json);
        assert_int_equal(c, 0);
        assert_int_equal(err.http, 400);
        assert_string_equal(err.code, "InvalidParameter.Casts");
        if (!strstr(err.msg, cases[i].mention))
            fail_msg("%s: message %s does not say %s", cases[i].json, err.msg, cases[i].mention);
        /* Every message lists the valid names. */
        assert_non_null(strstr(err.msg, "zeroDateToNull, negativeZeroToZero, nanToNull, "
                                        "stripNul"));
    }
}

static void test_parse_long_name_is_cut(void **state)
{
    (void)state;
    /* 100 x "é" (2 bytes each): quoted back cut on a character boundary, with "...". */
    char json[512] = "{\"casts\": [\"";
    for (int i = 0; i < 100; i++)
        strcat(json, "\xc3\xa9");
    strcat(json, "\"]}");
    struct mms_err err;
    unsigned c;
    assert_int_equal(parse_text(json, &c, &err), -1);
    assert_string_equal(err.code, "InvalidParameter.Casts");
    char want[128] = "\"";
    for (int i = 0; i < 20; i++)
        strcat(want, "\xc3\xa9");
    strcat(want, "...\" is not a known cast");
    if (!strstr(err.msg, want))
        fail_msg("message %s", err.msg);
}

static void test_describe(void **state)
{
    (void)state;
    char buf[128];
    cast_describe(0, buf, sizeof buf);
    assert_string_equal(buf, "");
    cast_describe(CONN_CAST_STRIP_NUL | CONN_CAST_ZERO_DATE_NULL, buf, sizeof buf);
    assert_string_equal(buf, "zeroDateToNull, stripNul");
    cast_describe(ALL_BITS, buf, sizeof buf);
    assert_string_equal(buf, "zeroDateToNull, negativeZeroToZero, nanToNull, stripNul");
    /* Too small: cut, still a string; n = 0 writes nothing. */
    char small[10];
    memset(small, 'x', sizeof small);
    cast_describe(ALL_BITS, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    assert_memory_equal(small, "zeroDateT", 9);
    buf[0] = 'q';
    cast_describe(ALL_BITS, buf, 0);
    assert_int_equal(buf[0], 'q');
}

/* ================================================================ Applying */

/* One column of doubles. */
static const double doubles[] = {0.0, 1.5, -1.5, 5e-324, -5e-324, 1.7976931348623157e308};

static void fill_doubles(struct rowbatch *b)
{
    rowbatch_init(b, 1, 64, 1 << 20);
    struct val *v;
    for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++)
        rowbatch_set_double(rowbatch_add_row(b), doubles[i]);
    rowbatch_set_double(rowbatch_add_row(b), -0.0);
    rowbatch_set_double(rowbatch_add_row(b), NAN);
    rowbatch_set_double(rowbatch_add_row(b), -NAN);
    rowbatch_set_double(rowbatch_add_row(b), INFINITY);
    rowbatch_set_double(rowbatch_add_row(b), -INFINITY);
    v = rowbatch_add_row(b); /* NULL */
    (void)v;
}

#define ND (sizeof doubles / sizeof doubles[0])

static void check_finite_untouched(struct rowbatch *b)
{
    for (size_t i = 0; i < ND; i++) {
        const struct val *v = rowbatch_row(b, i);
        assert_int_equal(v->kind, VAL_DOUBLE);
        assert_int_equal(bits_of(v->v.d), bits_of(doubles[i]));
    }
    assert_int_equal(rowbatch_row(b, ND + 5)->kind, VAL_NULL);
}

static void test_negative_zero(void **state)
{
    (void)state;
    struct rowbatch b;
    fill_doubles(&b);
    assert_int_equal(cast_apply(CONN_CAST_NEG_ZERO, &b), 1);
    check_finite_untouched(&b);
    const struct val *z = rowbatch_row(&b, ND);
    assert_int_equal(z->kind, VAL_DOUBLE);
    assert_int_equal(bits_of(z->v.d), 0); /* +0.0, all bits clear */
    assert_int_equal(bits_of(-0.0), UINT64_C(0x8000000000000000));
    /* NaN and infinities are not this cast's business. */
    assert_true(isnan(rowbatch_row(&b, ND + 1)->v.d));
    assert_true(isnan(rowbatch_row(&b, ND + 2)->v.d));
    assert_true(isinf(rowbatch_row(&b, ND + 3)->v.d));
    assert_true(isinf(rowbatch_row(&b, ND + 4)->v.d));
    /* Idempotent. */
    assert_int_equal(cast_apply(CONN_CAST_NEG_ZERO, &b), 0);
    rowbatch_release(&b);
}

static void test_nan_to_null(void **state)
{
    (void)state;
    struct rowbatch b;
    fill_doubles(&b);
    assert_int_equal(cast_apply(CONN_CAST_NAN_NULL, &b), 4);
    check_finite_untouched(&b);
    assert_int_equal(bits_of(rowbatch_row(&b, ND)->v.d), bits_of(-0.0)); /* -0 kept */
    for (size_t i = ND + 1; i <= ND + 4; i++) {
        const struct val *v = rowbatch_row(&b, i);
        assert_int_equal(v->kind, VAL_NULL);
        assert_int_equal(v->len, 0);
    }
    assert_int_equal(cast_apply(CONN_CAST_NAN_NULL, &b), 0);
    rowbatch_release(&b);

    fill_doubles(&b);
    assert_int_equal(cast_apply(CONN_CAST_NAN_NULL | CONN_CAST_NEG_ZERO, &b), 5);
    check_finite_untouched(&b);
    assert_int_equal(bits_of(rowbatch_row(&b, ND)->v.d), 0);
    rowbatch_release(&b);
}

static void add_text(struct rowbatch *b, struct val *v, const char *p, size_t n)
{
    rowbatch_set_bytes(b, v, VAL_TEXT, p, n);
}

static void assert_text(const struct rowbatch *b, const struct val *v, const char *p, size_t n)
{
    assert_int_equal(v->kind, VAL_TEXT);
    assert_int_equal(v->len, n);
    assert_memory_equal(rowbatch_bytes(b, v), p, n);
}

static void test_strip_nul(void **state)
{
    (void)state;
    /* Two columns: text and a blob holding NULs; neighbours in the arena must stay intact. */
    static const struct {
        const char *in;
        size_t n;
        const char *out;
        size_t m;
    } t[] = {
        {"\0ab", 3, "ab", 2},
        {"a\0b", 3, "ab", 2},
        {"ab\0", 3, "ab", 2},
        {"\0\0\0", 3, "", 0},
        {"\0", 1, "", 0},
        {"a\0\0b\0c\0\0", 9, "abc", 3},
        {"no nul", 6, "no nul", 6},
        {"", 0, "", 0},
        {"\xc3\xa9\0\xc3\xa9", 5, "\xc3\xa9\xc3\xa9", 4},
    };
    const size_t nt = sizeof t / sizeof t[0];
    struct rowbatch b;
    rowbatch_init(&b, 3, 64, 1 << 20);
    for (size_t i = 0; i < nt; i++) {
        struct val *r = rowbatch_add_row(&b);
        add_text(&b, &r[0], t[i].in, t[i].n);
        rowbatch_set_bytes(&b, &r[1], VAL_BLOB, "\0x\0", 3);
        rowbatch_set_int(&r[2], (int64_t)i);
    }
    rowbatch_add_row(&b); /* all NULL */
    size_t arena_len = b.arena.len;
    /* Other bits do nothing to text. */
    assert_int_equal(cast_apply(CONN_CAST_NAN_NULL | CONN_CAST_NEG_ZERO, &b), 0);
    assert_int_equal(cast_apply(CONN_CAST_ZERO_DATE_NULL, &b), 0);
    for (size_t i = 0; i < nt; i++)
        assert_text(&b, rowbatch_row(&b, i), t[i].in, t[i].n);

    assert_int_equal(cast_apply(CONN_CAST_STRIP_NUL, &b), 7);
    for (size_t i = 0; i < nt; i++) {
        const struct val *r = rowbatch_row(&b, i);
        assert_text(&b, &r[0], t[i].out, t[i].m);
        assert_int_equal(r[1].kind, VAL_BLOB);
        assert_int_equal(r[1].len, 3);
        assert_memory_equal(rowbatch_bytes(&b, &r[1]), "\0x\0", 3);
        assert_int_equal(r[2].kind, VAL_INT);
        assert_int_equal(r[2].v.i, (int64_t)i);
    }
    for (size_t c = 0; c < 3; c++)
        assert_int_equal(rowbatch_row(&b, nt)[c].kind, VAL_NULL);
    assert_int_equal(b.arena.len, arena_len); /* in place: no allocation, nothing appended */
    assert_int_equal(cast_apply(CONN_CAST_STRIP_NUL, &b), 0);
    rowbatch_release(&b);
}

static void test_zero_casts_change_nothing(void **state)
{
    (void)state;
    struct rowbatch b;
    rowbatch_init(&b, 4, 8, 1 << 20);
    struct val *r = rowbatch_add_row(&b);
    rowbatch_set_double(&r[0], -0.0);
    rowbatch_set_double(&r[1], NAN);
    add_text(&b, &r[2], "a\0b", 3);
    rowbatch_set_uint(&r[3], UINT64_MAX);
    r = rowbatch_add_row(&b);
    rowbatch_set_double(&r[0], INFINITY);
    struct val before[8];
    memcpy(before, b.vals, 2 * 4 * sizeof *before);
    assert_int_equal(cast_apply(0, &b), 0);
    assert_int_equal(cast_apply(CONN_CAST_ZERO_DATE_NULL, &b), 0);
    assert_memory_equal(before, b.vals, 2 * 4 * sizeof *before);
    assert_memory_equal(rowbatch_bytes(&b, &b.vals[2]), "a\0b", 3);
    /* All at once: -0, NaN, the NUL text and +Inf: four values. */
    assert_int_equal(cast_apply(ALL_BITS, &b), 4);
    assert_int_equal(bits_of(b.vals[0].v.d), 0);
    assert_int_equal(b.vals[1].kind, VAL_NULL);
    assert_text(&b, &b.vals[2], "ab", 2);
    assert_int_equal(b.vals[3].kind, VAL_UINT);
    assert_int_equal(b.vals[4].kind, VAL_NULL);
    /* An empty batch. */
    rowbatch_clear(&b);
    assert_int_equal(cast_apply(ALL_BITS, &b), 0);
    rowbatch_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_long_name_is_cut),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_negative_zero),
        cmocka_unit_test(test_nan_to_null),
        cmocka_unit_test(test_strip_nul),
        cmocka_unit_test(test_zero_casts_change_nothing),
    };
    log_set_level("error");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
