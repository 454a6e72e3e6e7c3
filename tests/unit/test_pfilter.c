/* Partition filters: grammar, semantics, every error with its position, limits, and a random
 * token soup that must never crash and always give a clean message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/pfilter.h"
#include "util/buf.h"

/* ---- Fixtures ------------------------------------------------------------------------- */

static char n_p1[] = "p1", n_p2[] = "p2", n_p3[] = "p3", n_p4[] = "p4", n_ds[] = "ds",
            n_hr[] = "hr", n_u[] = "u", n_odd[] = "my col", n_case[] = "Region";

/* p1 date, p2 int64, p3 int32, p4 text, ds varchar(10), hr int8, u uint64, `my col` text,
 * Region text. */
static struct conn_column key_cols[] = {
    {.name = n_p1, .type = {.id = MT_DATE}},
    {.name = n_p2, .type = {.id = MT_INT64}},
    {.name = n_p3, .type = {.id = MT_INT32}},
    {.name = n_p4, .type = {.id = MT_TEXT}},
    {.name = n_ds, .type = {.id = MT_VARCHAR, .length = 10}},
    {.name = n_hr, .type = {.id = MT_INT8}},
    {.name = n_u, .type = {.id = MT_UINT64}},
    {.name = n_odd, .type = {.id = MT_TEXT}},
    {.name = n_case, .type = {.id = MT_TEXT}},
};

static const struct conn_schema keys = {.pcols = key_cols, .npcols = 9};

/* Asserts that the message is valid UTF-8 (jansson refuses anything else) and fits. */
static void assert_clean_msg(const struct mms_err *err)
{
    json_t *j = json_string(err->msg);
    if (!j)
        fail_msg("message is not valid UTF-8: %s", err->msg);
    json_decref(j);
    assert_true(strlen(err->msg) < sizeof err->msg - 1);
}

/* Parses and matches; fails the test on any error. */
static bool m(const char *expr, const char *spec)
{
    struct pfilter *f = NULL;
    struct mms_err err = {0};
    bool out = false;
    if (pfilter_parse(expr, &f, &err) < 0)
        fail_msg("parse(%s): %s", expr, err.msg);
    if (pfilter_check(f, &keys, &err) < 0)
        fail_msg("check(%s): %s", expr, err.msg);
    if (pfilter_match(f, spec, &keys, &out, &err) < 0)
        fail_msg("match(%s, %s): %s", expr, spec, err.msg);
    pfilter_free(f);
    return out;
}

/* Asserts that parsing fails with the exact message. */
static void parse_err(const char *expr, const char *want)
{
    struct pfilter *f = NULL;
    struct mms_err err = {0};
    int rc = pfilter_parse(expr, &f, &err);
    if (rc == 0) {
        pfilter_free(f);
        fail_msg("parse(%s) succeeded; wanted: %s", expr, want);
    }
    assert_null(f);
    assert_int_equal(err.http, 400);
    assert_string_equal(err.code, "InvalidParameter.PartitionFilters");
    assert_clean_msg(&err);
    if (strcmp(err.msg, want) != 0)
        fail_msg("parse(%s):\n  got:  %s\n  want: %s", expr, err.msg, want);
}

/* Asserts that parsing succeeds and matching fails with http/code and a message containing
 * want. Also checks that pfilter_check agrees when the failure is not about the spec. */
static void match_err(const char *expr, const char *spec, int http, const char *code,
                      const char *want, bool check_fails)
{
    struct pfilter *f = NULL;
    struct mms_err err = {0};
    bool out = true;
    if (pfilter_parse(expr, &f, &err) < 0)
        fail_msg("parse(%s): %s", expr, err.msg);
    assert_int_equal(pfilter_match(f, spec, &keys, &out, &err), -1);
    assert_false(out);
    assert_int_equal(err.http, http);
    assert_string_equal(err.code, code);
    assert_clean_msg(&err);
    if (!strstr(err.msg, want))
        fail_msg("match(%s, %s):\n  got:  %s\n  want: ...%s...", expr, spec, err.msg, want);
    struct mms_err err2 = {0};
    assert_int_equal(pfilter_check(f, &keys, &err2), check_fails ? -1 : 0);
    if (check_fails)
        assert_string_equal(err2.msg, err.msg);
    pfilter_free(f);
}

#define SPEC "p1=2022-03-05/p2=10/p3=5/p4=abc/ds=x/hr=1/u=1/my col=z/Region=eu"

/* ---- Grammar and semantics ------------------------------------------------------------ */

static void test_reference_example(void **state)
{
    (void)state;
    const char *e = "p1 >= '2022-03-04' and (p2 = 10 or p3 > 20) and p4 in ('abc', 'cde')";
    assert_true(m(e, "p1=2022-03-04/p2=10/p3=0/p4=abc"));
    assert_true(m(e, "p1=2022-03-05/p2=11/p3=21/p4=cde"));
    assert_false(m(e, "p1=2022-03-03/p2=10/p3=21/p4=abc")); /* p1 too early */
    assert_false(m(e, "p1=2022-03-05/p2=11/p3=20/p4=abc")); /* neither p2 nor p3 */
    assert_false(m(e, "p1=2022-03-05/p2=10/p3=21/p4=abd")); /* p4 not in the list */
    /* Spec keys in any order; keys the filter does not name are ignored. */
    assert_true(m(e, "zz=1/p4=cde/p3=99/p2=1/p1=2023-01-01"));
    /* The brief's grammar example, with double quotes. */
    assert_true(m("p1 >= \"2022-03-04\" and (p2 = 10 or p3 > 20) and p4 in (\"a\",\"b\")",
                  "p1=2022-03-04/p2=1/p3=21/p4=b"));

    struct pfilter *f = NULL;
    struct mms_err err = {0};
    assert_int_equal(pfilter_parse(e, &f, &err), 0);
    assert_string_equal(pfilter_expr(f), e);
    pfilter_free(f);
    pfilter_free(NULL);
}

/* and binds tighter than or: a or b and c == a or (b and c), checked on all 8 rows. */
static void test_precedence(void **state)
{
    (void)state;
    for (int row = 0; row < 8; row++) {
        int a = row & 1, b = (row >> 1) & 1, c = (row >> 2) & 1;
        char spec[64];
        snprintf(spec, sizeof spec, "p2=%d/p3=%d/p4=%d", a, b, c);
        bool want = a || (b && c);
        assert_int_equal(m("p2 = 1 or p3 = 1 and p4 = '1'", spec), want);
        assert_int_equal(m("p3 = 1 and p4 = '1' or p2 = 1", spec), want);
        assert_int_equal(m("(p2 = 1 or p3 = 1) and p4 = '1'", spec), (a || b) && c);
        assert_int_equal(m("p2 = 1 and p3 = 1 or p4 = '1'", spec), (a && b) || c);
        assert_int_equal(m("p2 = 1 and (p3 = 1 or p4 = '1')", spec), a && (b || c));
        assert_int_equal(m("p2=1 or p3=1 or p4='1'", spec), a || b || c);
        assert_int_equal(m("p2=1 and p3=1 and p4='1'", spec), a && b && c);
    }
}

static void test_parentheses_and_keywords(void **state)
{
    (void)state;
    assert_true(m("((((p2 = 10))))", SPEC));
    assert_true(m("(p2 = 10) and ((p3 = 5) or (p4 = 'no'))", SPEC));
    assert_false(m("((p2 = 11 or p3 = 6)) and p4 = 'abc'", SPEC));
    /* Keywords in any case; no blanks needed around punctuation. */
    assert_true(m("p2=10 AND p3=5 Or p4='x'", SPEC));
    assert_true(m("p4 IN('abc')And(p2=10)", SPEC));
    assert_true(m("p4 In ('abc') oR p2 = 1", SPEC));
    assert_true(m("p4='abc'and p2=10", SPEC));
    /* Blanks of every kind. */
    assert_true(m(" \t\r\n p2\n=\t10 \n", SPEC));
    /* Exactly 32 levels are allowed. */
    char deep[200] = "";
    for (int i = 0; i < 32; i++)
        strcat(deep, "(");
    strcat(deep, "p2=10");
    for (int i = 0; i < 32; i++)
        strcat(deep, ")");
    assert_true(m(deep, SPEC));
}

static void test_every_operator(void **state)
{
    (void)state;
    static const struct {
        const char *op;
        bool lt, eq, gt; /* value below / equal / above the literal */
    } ops[] = {
        {"=", false, true, false},  {"<>", true, false, true}, {"!=", true, false, true},
        {"<", true, false, false},  {"<=", true, true, false}, {">", false, false, true},
        {">=", false, true, true},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char e[64];
        /* Strings. */
        snprintf(e, sizeof e, "p4 %s 'm'", ops[i].op);
        assert_int_equal(m(e, "p4=l"), ops[i].lt);
        assert_int_equal(m(e, "p4=m"), ops[i].eq);
        assert_int_equal(m(e, "p4=n"), ops[i].gt);
        /* Numbers. */
        snprintf(e, sizeof e, "p2 %s 10", ops[i].op);
        assert_int_equal(m(e, "p2=9"), ops[i].lt);
        assert_int_equal(m(e, "p2=10"), ops[i].eq);
        assert_int_equal(m(e, "p2=11"), ops[i].gt);
        /* Negative numbers, no blanks. */
        snprintf(e, sizeof e, "p2%s-5", ops[i].op);
        assert_int_equal(m(e, "p2=-6"), ops[i].lt);
        assert_int_equal(m(e, "p2=-5"), ops[i].eq);
        assert_int_equal(m(e, "p2=-4"), ops[i].gt);
    }
    /* String order is byte order: prefixes sort first, bytes >= 0x80 after ASCII. */
    assert_true(m("p4 < 'abc'", "p4=ab"));
    assert_true(m("p4 > 'abc'", "p4=abcd"));
    assert_true(m("p4 > 'z'", "p4=\xc3\xa9"));
    assert_true(m("p4 = ''", "p4="));
    assert_true(m("p4 < 'a'", "p4="));
    assert_true(m("p1 >= '2022-03-04' and p1 < '2022-04-01'", "p1=2022-03-31"));
    assert_false(m("p1 >= '2022-03-04' and p1 < '2022-04-01'", "p1=2022-04-01"));
}

static void test_in(void **state)
{
    (void)state;
    assert_true(m("p4 in ('a')", "p4=a"));
    assert_true(m("p4 in ('a', 'b', 'c')", "p4=c"));
    assert_false(m("p4 in ('a', 'b', 'c')", "p4=d"));
    assert_false(m("p4 in ('a', 'b', 'c')", "p4=A"));
    assert_true(m("p2 in (1, 2, 3)", "p2=2"));
    assert_true(m("p2 in (1, 2, 3)", "p2=+0002"));
    assert_false(m("p2 in (1, 2, 3)", "p2=4"));
    assert_false(m("p2 in (1, 2, 3)", "p2=x"));
    /* Mixed literals against an integer key: each compares by its own rule. */
    assert_true(m("p2 in ('x', 7)", "p2=x"));
    assert_true(m("p2 in ('x', 7)", "p2=07"));
    assert_false(m("p2 in ('7')", "p2=07"));
    /* The limit: 1000 values parse and match; 1001 do not parse. */
    struct buf b;
    buf_init(&b, BUF_NO_LIMIT);
    buf_adds(&b, "p2 in (");
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%s%d", i ? "," : "", i);
    buf_adds(&b, ")");
    assert_true(m(buf_str(&b), "p2=999"));
    assert_false(m(buf_str(&b), "p2=1000"));
    size_t pos = b.len; /* 1-based position of the 1001st value, after the comma */
    b.len--;
    b.p[b.len] = '\0';
    buf_adds(&b, ",1000)");
    char want[96];
    snprintf(want, sizeof want, "position %zu: more than 1000 values in one in list", pos + 1);
    parse_err(buf_str(&b), want);
    buf_release(&b);
}

static void test_quotes_and_escapes(void **state)
{
    (void)state;
    assert_true(m("p4 = 'it''s'", "p4=it's"));
    assert_true(m("p4 = \"say \"\"hi\"\"\"", "p4=say \"hi\""));
    assert_true(m("p4 = \"it's\"", "p4=it's"));
    assert_true(m("p4 = 'say \"hi\"'", "p4=say \"hi\""));
    assert_true(m("p4 = 'it\\'s'", "p4=it's"));
    assert_true(m("p4 = \"a\\\"b\"", "p4=a\"b"));
    assert_true(m("p4 = 'a\\\\b'", "p4=a\\b"));
    assert_true(m("p4 = 'a\\\"b'", "p4=a\"b"));
    assert_true(m("p4 = ''''", "p4='"));
    assert_true(m("p4 = ''", "p4="));
    assert_true(m("p4 = ' a b '", "p4= a b "));
    /* Operators, keywords and parentheses inside strings are text. */
    assert_true(m("p4 = 'x) or (p2 = 1'", "p4=x) or (p2 = 1"));
    /* UTF-8 passes through. */
    assert_true(m("p4 = '\xe5\x8c\x97\xe4\xba\xac'", "p4=\xe5\x8c\x97\xe4\xba\xac"));
    assert_true(m("p4 = '\xe5\x8c\x97\xe4\xba\xac'", "p4=%E5%8C%97%E4%BA%AC"));
    /* Backquoted names: any text, `` for a backquote; still matched case-insensitively. */
    assert_true(m("`my col` = 'z'", SPEC));
    assert_true(m("`p2` = 10 and `P4` = 'abc'", SPEC));
}

static void test_numeric_vs_string(void **state)
{
    (void)state;
    /* Numbers compare numerically: leading zeros and a plus sign are fine. */
    assert_true(m("p2 = 10", "p2=010"));
    assert_true(m("p2 = 10", "p2=+10"));
    assert_true(m("p2 > 9", "p2=10"));
    assert_true(m("p2 = +10", "p2=10"));
    assert_true(m("p2 = -0", "p2=0"));
    /* Strings against an integer key compare as text, on purpose. */
    assert_false(m("p2 > '9'", "p2=10"));
    assert_true(m("p2 < '9'", "p2=10"));
    assert_false(m("p2 = '10'", "p2=010"));
    /* A partition value that is not an integer: every numeric comparison is false. */
    const char *not_ints[] = {"p2=abc", "p2=", "p2=1.5", "p2= 1", "p2=1 ", "p2=-",
                              "p2=__HIVE_DEFAULT_PARTITION__", "p2=0x10", "p2=1e3"};
    for (size_t i = 0; i < sizeof not_ints / sizeof not_ints[0]; i++) {
        assert_false(m("p2 = 1", not_ints[i]));
        assert_false(m("p2 <> 1", not_ints[i]));
        assert_false(m("p2 < 1", not_ints[i]));
        assert_false(m("p2 >= 1", not_ints[i]));
        assert_false(m("p2 in (1, 2)", not_ints[i]));
    }
    assert_true(m("p2 = '__HIVE_DEFAULT_PARTITION__'", "p2=__HIVE_DEFAULT_PARTITION__"));
    /* The ends of int64, and values beyond them that still order correctly. */
    assert_true(m("p2 = 9223372036854775807", "p2=9223372036854775807"));
    assert_true(m("p2 = -9223372036854775808", "p2=-9223372036854775808"));
    assert_true(m("p2 > 9223372036854775807", "p2=9223372036854775808"));
    assert_true(m("u > 9223372036854775807", "u=18446744073709551615"));
    assert_true(m("u > 9223372036854775807", "u=99999999999999999999999999"));
    assert_true(m("p2 < -9223372036854775808", "p2=-9223372036854775809"));
    assert_true(m("p2 <> 5", "p2=-99999999999999999999999"));
    assert_false(m("p2 = 9223372036854775807", "p2=9223372036854775808"));
    /* Every integer width accepts numbers. */
    assert_true(m("p3 = 5 and hr = 1 and u = 1", SPEC));
}

static void test_percent_decoding(void **state)
{
    (void)state;
    assert_true(m("p4 = 'a/b'", "p1=x/p4=a%2Fb/p2=1"));
    assert_true(m("p4 = 'a/b'", "p4=a%2fb"));
    assert_true(m("p4 = 'k=v'", "p4=k%3Dv"));
    assert_true(m("p4 = 'a%b'", "p4=a%25b"));
    assert_true(m("p4 = '100%'", "p4=100%"));
    assert_true(m("p4 = '%4'", "p4=%4"));
    assert_true(m("p4 = '%zz'", "p4=%zz"));
    assert_true(m("p4 = '%A'", "p4=%%41"));
    assert_true(m("p4 = 'a b:c'", "p4=a%20b%3Ac"));
    assert_true(m("p4 = 'a=b'", "p4=a=b")); /* only the first '=' splits */
    /* Keys are decoded too, and matched like columns (exact, then ignoring case). */
    assert_true(m("`my col` = 'z'", "my%20col=z"));
    assert_true(m("p4 = 'v'", "P4=v"));
    assert_true(m("region = 'eu'", "REGION=eu"));
    /* Numbers after decoding. */
    assert_true(m("p2 = -3", "p2=%2D3"));
    /* Empty components are skipped. */
    assert_true(m("p4 = 'v'", "/p4=v/"));
    assert_true(m("p4 = 'v' and p2 = 1", "p4=v//p2=1"));
    /* A decoded NUL compares as a byte. */
    assert_false(m("p4 = 'a'", "p4=a%00"));
    assert_true(m("p4 > 'a'", "p4=a%00"));
}

/* ---- Syntax errors -------------------------------------------------------------------- */

static void test_errors_empty(void **state)
{
    (void)state;
    parse_err(NULL, "position 1: empty expression");
    parse_err("", "position 1: empty expression");
    parse_err("  \t\n ", "position 1: empty expression");
}

static void test_errors_missing_operand(void **state)
{
    (void)state;
    parse_err("p1 >= ", "position 7: expected a value after '>=', found end of input "
                        "(a quoted string or an integer)");
    parse_err("p1 >= and p2 = 1", "position 7: expected a value after '>=', found 'and' "
                                  "(a quoted string or an integer)");
    parse_err("p1 = abc", "position 6: expected a value after '=', found 'abc' "
                          "(string values need quotes: 'abc')");
    parse_err("p1 = 'a' and", "position 13: expected a partition column name or '(' after "
                              "'and', found end of input");
    parse_err("p1 = 'a' or or p2 = 1", "position 13: expected a partition column name or '(' "
                                       "after 'or', found 'or'");
    parse_err("and p1 = 'a'",
              "position 1: expected a partition column name or '(', found 'and'");
    parse_err("p1", "position 3: expected a comparison operator (=, <>, !=, <, <=, >, >=) or in "
                    "after 'p1', found end of input");
    parse_err("p1 'a'", "position 4: expected a comparison operator (=, <>, !=, <, <=, >, >=) "
                        "or in after 'p1', found the string 'a'");
    parse_err("p1 like 'a%'", "position 4: expected a comparison operator (=, <>, !=, <, <=, "
                              ">, >=) or in after 'p1', found 'like'");
    parse_err("'a' = p1", "position 1: expected a partition column name or '(', found the "
                          "string 'a' (the column goes on the left: p1 = 'x')");
    parse_err("10 = p2", "position 1: expected a partition column name or '(', found the "
                         "number 10 (the column goes on the left: p1 = 'x')");
    parse_err("p1 = p2", "position 6: expected a value after '=', found 'p2' (string values "
                         "need quotes: 'p2')");
    parse_err("p1 in 'a'", "position 7: expected '(' to open the list of values after 'in', "
                           "found the string 'a'");
    parse_err("p1 in ()", "position 8: expected a value after '(', found ')' (a quoted string "
                          "or an integer)");
    parse_err("p1 in ('a',)", "position 12: expected a value after ',', found ')' (a quoted "
                              "string or an integer)");
    parse_err("p1 in ('a' 'b')", "position 12: expected ',' or ')' in the in list after the "
                                 "string 'a', found the string 'b'");
    parse_err("p1 in ('a'", "position 11: expected ',' or ')' in the in list after the string "
                            "'a', found end of input");
    parse_err("p1 = = 'a'", "position 6: expected a value after '=', found '=' (a quoted "
                            "string or an integer)");
    parse_err("p1 == 'a'", "position 4: '==' is not an operator: write =");
    parse_err("p1 < = 'a'", "position 6: expected a value after '<', found '=' (a quoted "
                            "string or an integer)");
}

static void test_errors_trailing_and_unbalanced(void **state)
{
    (void)state;
    parse_err("p1 = 'a' p2 = 'b'", "position 10: expected 'and', 'or' or the end of the "
                                   "expression after the string 'a', found 'p2'");
    parse_err("p2 = 1 2", "position 8: expected 'and', 'or' or the end of the expression "
                          "after the number 1, found the number 2");
    parse_err("p1 = 'a' and p2 = 1 )", "position 21: unbalanced ')': there is no '(' for it "
                                       "to close");
    parse_err("p1 = 'a')", "position 9: unbalanced ')': there is no '(' for it to close");
    parse_err("(p1 = 'a'", "position 10: unbalanced '(' at position 1: expected ')' after the "
                           "string 'a', found end of input");
    parse_err("((p1 = 'a')", "position 12: unbalanced '(' at position 1: expected ')' after "
                             "')', found end of input");
    parse_err("p2 = 1 and (p1 = 'a' or (p4 in ('x')", "position 37: unbalanced '(' at position "
                                                     "25: expected ')' after ')', found end of "
                                                     "input");
    parse_err("(p1 = 'a' p2 = 1)", "position 11: expected 'and', 'or' or ')' after the string "
                                   "'a', found 'p2' (inside the '(' at position 1)");
    parse_err("(p1 = 'a',", "position 10: expected 'and', 'or' or ')' after the string 'a', "
                            "found ',' (inside the '(' at position 1)");
    parse_err("()", "position 2: expected a partition column name or '(' after '(', found ')'");
    parse_err(")", "position 1: expected a partition column name or '(', found ')'");
    parse_err("p1 = 'a',", "position 9: expected 'and', 'or' or the end of the expression "
                           "after the string 'a', found ','");
}

static void test_errors_strings_and_chars(void **state)
{
    (void)state;
    parse_err("p1 = 'abc", "position 6: unterminated string (no closing ')");
    parse_err("p1 = \"abc", "position 6: unterminated string (no closing \")");
    parse_err("p1 = 'it''", "position 6: unterminated string (no closing ')");
    parse_err("p1 = 'abc\\'", "position 6: unterminated string (no closing ')");
    parse_err("p1 = 'abc\\", "position 6: unterminated string (no closing ')");
    parse_err("p1 = 'a\\nb'", "position 8: unknown escape \\n in a string: the only escapes "
                              "are \\', \\\" and \\\\ (write \\\\ for a backslash)");
    parse_err("`p1 = 'a'", "position 1: unterminated column name (no closing `)");
    parse_err("`` = 'a'", "position 1: empty column name ``");
    parse_err("p1 = 'a' # comment", "position 10: unexpected character '#'");
    parse_err("p1 = 'a' ; drop", "position 10: unexpected character ';'");
    parse_err("p1 ! 'a'", "position 4: unexpected character '!' (the operators are =, <>, !=, "
                          "<, <=, >, >= and in)");
    parse_err("p1 = - 1", "position 6: unexpected character '-'");
    parse_err("p1 = 'a' \x01", "position 10: unexpected character '\\x01'");
    /* Positions count characters, not bytes: "北京" is 2 characters, 6 bytes. */
    parse_err("p4 = '\xe5\x8c\x97\xe4\xba\xac' \xc2\xa7",
              "position 11: unexpected character '\xc2\xa7'");
    parse_err("`\xe5\x8c\x97` = 'a' or", "position 13: expected a partition column name or "
                                         "'(' after 'or', found end of input");
}

static void test_errors_numbers_and_not(void **state)
{
    (void)state;
    parse_err("p2 = 1.5", "position 6: decimal numbers are not supported (1.5): numbers "
                          "compare only with integer partition keys; quote other values: '1.5'");
    parse_err("p2 = -0.5e3", "position 6: decimal numbers are not supported (-0.5e3): numbers "
                             "compare only with integer partition keys; quote other values: "
                             "'-0.5e3'");
    parse_err("p1 >= 2022-03-04", "position 7: 2022-03-04 is not a number: quote string "
                                  "values: '2022-03-04'");
    parse_err("p2 = 10abc", "position 6: 10abc is not a number: quote string values: '10abc'");
    parse_err("p2 = 9223372036854775808", "position 6: number 9223372036854775808 is out of "
                                          "the 64-bit integer range");
    parse_err("p2 = -9223372036854775809", "position 6: number -9223372036854775809 is out of "
                                           "the 64-bit integer range");
    parse_err("p2 = 99999999999999999999999", "position 6: number 99999999999999999999999 is "
                                              "out of the 64-bit integer range");
    parse_err("p4 not in ('a')", "position 4: 'not in' is not supported (the reference has "
                                 "only in): list the wanted values with in, or combine <> "
                                 "with and");
    parse_err("p4 NOT IN ('a')", "position 4: 'not in' is not supported (the reference has "
                                 "only in): list the wanted values with in, or combine <> "
                                 "with and");
    parse_err("p4 not = 'a'", "position 4: 'not' is not supported: use <> or in");
    parse_err("not p4 = 'a'", "position 1: 'not' is not supported: use <> or in");
    parse_err("p4 = 'a' and not (p2 = 1)", "position 14: 'not' is not supported: use <> or in");
}

static void test_errors_limits(void **state)
{
    (void)state;
    char deep[200] = "";
    for (int i = 0; i < 33; i++)
        strcat(deep, "(");
    strcat(deep, "p2=10");
    for (int i = 0; i < 33; i++)
        strcat(deep, ")");
    parse_err(deep, "position 33: parentheses nested deeper than 32 levels");

    /* 4096 bytes parse; 4097 do not. */
    char *e = malloc(4098);
    memset(e, ' ', 4097);
    memcpy(e, "p4 = 'x'", 8);
    e[4096] = '\0';
    assert_true(m(e, "p4=x"));
    e[4096] = ' ';
    e[4097] = '\0';
    parse_err(e, "position 4097: the expression is longer than 4096 bytes");
    free(e);

    /* 256 comparisons parse; the 257th does not. */
    struct buf b;
    buf_init(&b, BUF_NO_LIMIT);
    for (int i = 0; i < 256; i++)
        buf_printf(&b, "%sp2 = %d", i ? " or " : "", i);
    assert_true(m(buf_str(&b), "p2=255"));
    assert_false(m(buf_str(&b), "p2=256"));
    size_t pos = b.len + 5;
    buf_adds(&b, " or p2 = 256");
    char want[64];
    snprintf(want, sizeof want, "position %zu: more than 256 comparisons", pos);
    parse_err(buf_str(&b), want);
    buf_release(&b);
}

/* ---- Names and types ------------------------------------------------------------------ */

static void test_type_errors(void **state)
{
    (void)state;
    match_err("p2 = 10 and p4 = 10", SPEC, 400, "InvalidParameter.PartitionFilters",
              "position 18: column p4 is not an integer partition key (its type is text): "
              "numbers compare only with integer keys; quote the value: '10'",
              true);
    match_err("p1 >= 20220304", SPEC, 400, "InvalidParameter.PartitionFilters",
              "position 7: column p1 is not an integer partition key (its type is date)", true);
    match_err("ds in ('a', -3)", SPEC, 400, "InvalidParameter.PartitionFilters",
              "position 13: column ds is not an integer partition key (its type is "
              "varchar(10))",
              true);
    /* Strings are fine against any key, integers included. */
    assert_true(m("ds = 'x' and p2 = '10' and hr in ('1')", SPEC));
}

static void test_unknown_column(void **state)
{
    (void)state;
    match_err("p2 = 10 and p9 = 'a'", SPEC, 400, "InvalidParameter.PartitionFilters",
              "position 13: column p9 is not a partition key (partition keys: p1, p2, p3, p4, "
              "ds, hr, u, my col, Region)",
              true);
    /* Reported even when evaluation would never reach it. */
    match_err("p2 = 10 or nope = 'a'", SPEC, 400, "InvalidParameter.PartitionFilters",
              "column nope is not a partition key", true);
    match_err("p2 = 1 and `and` = 'a'", SPEC, 400, "InvalidParameter.PartitionFilters",
              "position 12: column and is not a partition key", true);
    match_err("`my  col` = 'a'", SPEC, 400, "InvalidParameter.PartitionFilters",
              "position 1: column my  col is not a partition key", true);

    /* A table without partition keys. */
    struct pfilter *f = NULL;
    struct mms_err err = {0};
    struct conn_schema none = {0};
    bool out = true;
    assert_int_equal(pfilter_parse("p1 = 'a'", &f, &err), 0);
    assert_int_equal(pfilter_check(f, &none, &err), -1);
    assert_string_equal(err.msg, "position 1: column p1 is not a partition key (the table has "
                                 "no partition keys)");
    assert_int_equal(pfilter_check(f, NULL, &err), -1);
    assert_int_equal(err.http, 400);
    assert_int_equal(pfilter_match(f, "p1=a", NULL, &out, &err), -1);
    assert_false(out);
    assert_string_equal(err.code, "InvalidParameter.PartitionFilters");
    pfilter_free(f);

    /* Case: exact first, then case-insensitive; ambiguity is an error. */
    static char a1[] = "Dt", a2[] = "dt", a3[] = "DT";
    struct conn_column cc[] = {{.name = a1, .type = {.id = MT_TEXT}},
                               {.name = a2, .type = {.id = MT_INT32}},
                               {.name = a3, .type = {.id = MT_TEXT}}};
    struct conn_schema amb = {.pcols = cc, .npcols = 3};
    assert_int_equal(pfilter_parse("dt = 5", &f, &err), 0);
    assert_int_equal(pfilter_check(f, &amb, &err), 0);
    assert_int_equal(pfilter_match(f, "Dt=x/dt=5/DT=y", &amb, &out, &err), 0);
    assert_true(out);
    pfilter_free(f);
    assert_int_equal(pfilter_parse("dT = 'x'", &f, &err), 0);
    assert_int_equal(pfilter_check(f, &amb, &err), -1);
    assert_string_equal(err.msg, "position 1: column dT matches several partition keys when "
                                 "case is ignored; write it exactly (partition keys: Dt, dt, "
                                 "DT)");
    pfilter_free(f);
}

static void test_spec_errors(void **state)
{
    (void)state;
    match_err("p2 = 10 or p3 = 1", "p2=10", 400, "InvalidParameter.PartitionFilters",
              "position 12: partition 'p2=10' has no value for partition key p3", false);
    match_err("p2 = 10", "", 400, "InvalidParameter.PartitionFilters",
              "position 1: partition '' has no value for partition key p2", false);
    match_err("p2 = 10", "p2=10/p3", 500, "InternalError",
              "malformed partition spec 'p2=10/p3': 'p3' is not key=value", false);
    match_err("p2 = 10", "=5", 500, "InternalError",
              "malformed partition spec '=5': '=5' is not key=value", false);
    match_err("p2 = 10", "p2=10/p2=11", 500, "InternalError",
              "malformed partition spec 'p2=10/p2=11': key p2 appears twice", false);
    match_err("p2 = 10", "p%32=10/p2=11", 500, "InternalError", "key p2 appears twice", false);

    struct pfilter *f = NULL;
    struct mms_err err = {0};
    bool out = true;
    assert_int_equal(pfilter_parse("p2 = 10", &f, &err), 0);
    assert_int_equal(pfilter_match(f, NULL, &keys, &out, &err), -1);
    assert_int_equal(err.http, 500);
    pfilter_free(f);
}

/* Hostile input in names and specs: messages stay short, escaped and valid UTF-8. */
static void test_messages_are_clean(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, BUF_NO_LIMIT);
    buf_adds(&b, "`");
    for (int i = 0; i < 300; i++)
        buf_adds(&b, "\xe5\x8c\x97");
    buf_adds(&b, "` = 'a'");
    match_err(buf_str(&b), SPEC, 400, "InvalidParameter.PartitionFilters",
              "position 1: column \xe5\x8c\x97", true);
    buf_clear(&b);
    buf_adds(&b, "p4 = '");
    for (int i = 0; i < 300; i++)
        buf_adds(&b, "\xf0\x9f\x98\x80");
    buf_adds(&b, "' p2");
    struct pfilter *f = NULL;
    struct mms_err err = {0};
    assert_int_equal(pfilter_parse(buf_str(&b), &f, &err), -1);
    assert_clean_msg(&err);
    assert_non_null(strstr(err.msg, "..."));
    buf_release(&b);
    /* Invalid bytes from a spec are escaped. */
    match_err("p2 = 1", "p2=1/\xff\x01%FF", 500, "InternalError",
              "'\\xFF\\x01%FF' is not key=value", false);
    match_err("p3 = 1", "p2=%FF%01", 400, "InvalidParameter.PartitionFilters",
              "partition 'p2=%FF%01' has no value", false);
    match_err("`a\tb` = 'x'", SPEC, 400, "InvalidParameter.PartitionFilters",
              "column a\\x09b is not a partition key", true);
}

/* ---- Random token soup ---------------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *const soup_frags[] = {
    "p1", "p2", "p4", "u", "`my col`", "nope", "(", ")", "and", "or", "in", "not", "=", "<>",
    "!=", "<", "<=", ">", ">=", "'a'", "'2022-03-04'", "\"b\"", "10", "-5",
    "9223372036854775807", ",", "'it''s'", "'\\''", "'", "\"", "`", "1.5", "x", " ",
    "\xe5\x8c\x97", "'\xe5\x8c\x97'", "\\", "%", "#", "OR", "AND", "In",
};
#define NFRAGS (sizeof soup_frags / sizeof soup_frags[0])

struct soup {
    const char *t[256];
    size_t n;
};

static void soup_add(struct soup *s, const char *t)
{
    if (s->n < 256)
        s->t[s->n++] = t;
}

/* A random expression that follows the grammar (columns and values drawn from small pools). */
static void soup_gen(struct soup *s, int depth)
{
    static const char *const cols[] = {"p1", "p2", "p4", "u", "`my col`", "P2"};
    static const char *const ops[] = {"=", "<>", "!=", "<", "<=", ">", ">="};
    static const char *const vals[] = {"'a'", "'2022-03-04'", "\"b\"", "10", "-5", "'10'",
                                       "'it''s'", "0", "'\xe5\x8c\x97'", "5"};
    int parts = 1 + (int)rnd(3);
    for (int i = 0; i < parts; i++) {
        if (i)
            soup_add(s, rnd(2) ? "and" : "or");
        if (depth < 4 && rnd(4) == 0) {
            soup_add(s, "(");
            soup_gen(s, depth + 1);
            soup_add(s, ")");
            continue;
        }
        soup_add(s, cols[rnd(6)]);
        if (rnd(4) == 0) {
            soup_add(s, "in");
            soup_add(s, "(");
            int nv = 1 + (int)rnd(3);
            for (int v = 0; v < nv; v++) {
                if (v)
                    soup_add(s, ",");
                soup_add(s, vals[rnd(10)]);
            }
            soup_add(s, ")");
        } else {
            soup_add(s, ops[rnd(7)]);
            soup_add(s, vals[rnd(10)]);
        }
    }
}

/* Grammatical expressions, half of them with one token deleted, replaced, inserted or the tail
 * cut: none may crash, leak (ASan) or give an unclean message; a filter that fails check must
 * fail every match. */
static void test_random_soup(void **state)
{
    (void)state;
    static const char *specs[] = {SPEC, "p1=2022-03-04/p2=10/p4=a/u=5/my%20col=b",
                                  "p1=x/p2=y/p4=%27/u=-1/my col=it's", "p2=1"};
    int parsed = 0, failed = 0, matched = 0, mismatched = 0;
    char e[2048];
    for (int iter = 0; iter < 30000; iter++) {
        struct soup s = {0};
        soup_gen(&s, 0);
        size_t k = rnd((uint32_t)s.n);
        switch (rnd(8)) {
        case 0: /* delete */
            memmove(&s.t[k], &s.t[k + 1], (s.n - k - 1) * sizeof s.t[0]);
            s.n--;
            break;
        case 1: /* replace */
            s.t[k] = soup_frags[rnd(NFRAGS)];
            break;
        case 2: /* insert */
            if (s.n < 256) {
                memmove(&s.t[k + 1], &s.t[k], (s.n - k) * sizeof s.t[0]);
                s.t[k] = soup_frags[rnd(NFRAGS)];
                s.n++;
            }
            break;
        case 3: /* cut */
            s.n = k;
            break;
        default:
            break;
        }
        size_t o = 0;
        for (size_t i = 0; i < s.n; i++) {
            size_t fl = strlen(s.t[i]);
            if (o + fl + 2 >= sizeof e)
                break;
            memcpy(e + o, s.t[i], fl);
            o += fl;
            if (rnd(4))
                e[o++] = ' ';
        }
        e[o] = '\0';
        struct pfilter *f = NULL;
        struct mms_err err = {0};
        if (pfilter_parse(e, &f, &err) < 0) {
            assert_null(f);
            assert_int_equal(err.http, 400);
            assert_clean_msg(&err);
            assert_memory_equal(err.msg, "position ", 9);
            failed++;
            continue;
        }
        parsed++;
        int crc = pfilter_check(f, &keys, &err);
        if (crc < 0)
            assert_clean_msg(&err);
        for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
            bool out = false;
            struct mms_err err2 = {0};
            int rc = pfilter_match(f, specs[i], &keys, &out, &err2);
            if (crc < 0)
                assert_int_equal(rc, -1);
            if (rc < 0) {
                assert_clean_msg(&err2);
                mismatched++;
            } else {
                matched++;
            }
        }
        pfilter_free(f);
    }
    /* The soup must exercise every side. */
    print_message("soup: %d parsed, %d refused; %d matches ran, %d refused\n", parsed, failed,
                  matched, mismatched);
    assert_true(parsed > 1000 && failed > 1000 && matched > 1000 && mismatched > 1000);
}

/* Raw random bytes (with a NUL terminator somewhere): only clean errors or clean parses. */
static void test_random_bytes(void **state)
{
    (void)state;
    char e[64];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = rnd(sizeof e);
        for (size_t i = 0; i < n; i++)
            e[i] = (char)(rnd(255) + 1);
        e[n] = '\0';
        struct pfilter *f = NULL;
        struct mms_err err = {0};
        if (pfilter_parse(e, &f, &err) == 0) {
            bool out;
            pfilter_match(f, SPEC, &keys, &out, &err);
            pfilter_free(f);
        } else {
            assert_int_equal(err.http, 400);
            /* The input itself may be invalid UTF-8; messages must not be. */
            assert_clean_msg(&err);
        }
    }
}

int main(void)
{
    json_object_seed(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_example),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_parentheses_and_keywords),
        cmocka_unit_test(test_every_operator),
        cmocka_unit_test(test_in),
        cmocka_unit_test(test_quotes_and_escapes),
        cmocka_unit_test(test_numeric_vs_string),
        cmocka_unit_test(test_percent_decoding),
        cmocka_unit_test(test_errors_empty),
        cmocka_unit_test(test_errors_missing_operand),
        cmocka_unit_test(test_errors_trailing_and_unbalanced),
        cmocka_unit_test(test_errors_strings_and_chars),
        cmocka_unit_test(test_errors_numbers_and_not),
        cmocka_unit_test(test_errors_limits),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_unknown_column),
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_messages_are_clean),
        cmocka_unit_test(test_random_soup),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
