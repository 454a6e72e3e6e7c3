/* RAM policies (src/auth/policy.c): glob matching (wildcards, case rules, no exponential
 * backtracking), evaluation (Deny over Allow, default deny, several statements and patterns),
 * and every validation error with the statement and field it names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "auth/auth.h"

#define ARN(id) "acs:odps:cn-shanghai:12345:mmsdatasource/" id

static struct policy *parse_ok(const char *text)
{
    struct policy *p = NULL;
    struct mms_err err = {0};
    if (policy_parse(text, &p, &err) < 0)
        fail_msg("parse failed: %s %s\n%s", err.code, err.msg, text);
    assert_non_null(p);
    return p;
}

static void expect_error(const char *text, const char *code, const char *msg_part)
{
    struct policy *p = (struct policy *)1;
    struct mms_err err = {0};
    assert_int_equal(policy_parse(text, &p, &err), -1);
    assert_null(p);
    assert_int_equal(err.http, 400);
    if (strcmp(err.code, code) != 0 || !strstr(err.msg, msg_part))
        fail_msg("for %s\n got  %s: %s\n want %s: ...%s...", text, err.code, err.msg, code,
                 msg_part);
    /* Messages go into JSON error bodies: they must be valid UTF-8 and fit. */
    json_t *j = json_string(err.msg);
    assert_non_null(j);
    json_decref(j);
    assert_true(strlen(err.msg) < sizeof err.msg - 1);
}

/* ---- Glob ------------------------------------------------------------------------------ */

static void test_glob(void **state)
{
    (void)state;
    /* literals, case rules */
    assert_true(policy_glob("odps:GetMmsJob", "odps:GetMmsJob", false));
    assert_false(policy_glob("odps:GetMmsJob", "odps:getmmsjob", false));
    assert_true(policy_glob("odps:GetMmsJob", "ODPS:getmmsjob", true));
    assert_false(policy_glob("odps:GetMmsJob", "odps:GetMmsJobs", true));
    assert_false(policy_glob("odps:GetMmsJobs", "odps:GetMmsJob", true));
    /* '*' anywhere, any run including empty */
    assert_true(policy_glob("*", "", false));
    assert_true(policy_glob("*", "anything at all", false));
    assert_true(policy_glob("odps:*Mms*", "odps:GetMmsAsyncTask", true));
    assert_true(policy_glob("odps:*Mms*", "odps:Mms", true));
    assert_true(policy_glob("odps:*mms*", "odps:ListMmsJobs", true));
    assert_false(policy_glob("odps:*Mms*", "odps:GetProject", true));
    assert_false(policy_glob("odps:*Mms*", "ram:ListMmsX", true));
    assert_true(policy_glob("odps:List*", "odps:ListMmsDataSources", true));
    assert_false(policy_glob("odps:List*", "odps:GetMmsDataSource", true));
    assert_true(policy_glob("acs:odps:*:*:mmsdatasource/*", ARN("2000015"), false));
    assert_false(policy_glob("acs:odps:*:*:mmsdatasource/*", "acs:odps:r:1:mmsagent/1", false));
    assert_false(policy_glob("acs:odps:*:*:MmsDataSource/*", ARN("1"), false));
    assert_true(policy_glob("**a**", "bab", false));
    assert_true(policy_glob("a*b*c", "aXbYbZc", false));
    assert_false(policy_glob("a*b*c", "aXbYbZ", false));
    assert_true(policy_glob("*c", "abcbc", false));
    assert_false(policy_glob("", "a", false));
    assert_true(policy_glob("", "", false));
    /* '?' is exactly one character (UTF-8 aware) */
    assert_true(policy_glob(ARN("200001?"), ARN("2000015"), false));
    assert_false(policy_glob(ARN("200001?"), ARN("200001"), false));
    assert_false(policy_glob(ARN("200001?"), ARN("20000150"), false));
    assert_true(policy_glob("a?c",
                            "a\xc3\xa9"
                            "c",
                            false));
    assert_true(policy_glob("a??c",
                            "a\xf0\x9f\x98\x80"
                            "\xc3\xa9"
                            "c",
                            false));
    assert_false(policy_glob("a??c",
                             "a\xc3\xa9"
                             "c",
                             false));
    assert_true(policy_glob("*?", "\xe4\xb8\xad", false));
    assert_true(policy_glob("?*?", "ab", false));
    assert_false(policy_glob("?*?", "a", false));
    /* stray bytes still terminate */
    assert_true(policy_glob("?", "\xff", false));
    assert_true(policy_glob("*x", "\xc3x", false));
}

static void test_glob_no_blowup(void **state)
{
    (void)state;
    char subject[4096], pattern[600];
    memset(subject, 'a', sizeof subject - 1);
    subject[sizeof subject - 1] = '\0';
    strcpy(pattern, "");
    for (int i = 0; i < 100; i++)
        strcat(pattern, "*a");
    strcat(pattern, "*b");
    clock_t t0 = clock();
    for (int i = 0; i < 20; i++)
        assert_false(policy_glob(pattern, subject, false));
    assert_false(policy_glob("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", subject, true));
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    /* O(n*m): about 20 * 200 * 4096 steps; an exponential matcher would never finish. */
    assert_true(secs < 5.0);
}

/* ---- Evaluation ------------------------------------------------------------------------ */

static void test_eval_wildcards(void **state)
{
    (void)state;
    struct policy *p = parse_ok(
        "{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"odps:*Mms*\","
        "\"Resource\":\"acs:odps:*:*:mmsdatasource/*\"}]}");
    assert_int_equal(policy_eval(p, "odps:GetMmsAsyncTask", ARN("2000015")), POLICY_ALLOW);
    assert_int_equal(policy_eval(p, "ODPS:getmmsasynctask", ARN("2000015")), POLICY_ALLOW);
    assert_int_equal(policy_eval(p, "odps:GetProject", ARN("2000015")), POLICY_NO_MATCH);
    /* collection operations are checked on "*", which an ARN pattern does not cover */
    assert_int_equal(policy_eval(p, "odps:CreateMmsDataSource", "*"), POLICY_NO_MATCH);
    assert_int_equal(policy_eval(p, "odps:CreateMmsDataSource", NULL), POLICY_NO_MATCH);
    /* resources are case-sensitive */
    assert_int_equal(policy_eval(p, "odps:GetMmsJob", "acs:odps:r:1:MMSDATASOURCE/1"),
                     POLICY_NO_MATCH);
    assert_int_equal(policy_eval(p, NULL, ARN("1")), POLICY_NO_MATCH);
    assert_int_equal(policy_eval(NULL, "odps:GetMmsJob", ARN("1")), POLICY_NO_MATCH);
    policy_free(p);

    p = parse_ok("{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Allow\","
                 "\"Action\":[\"odps:List*\",\"odps:GetMmsDataSource\"],"
                 "\"Resource\":[\"" ARN("7") "\",\"" ARN("8?") "\",\"*\"]}]}");
    assert_int_equal(policy_eval(p, "odps:ListMmsDataSources", "*"), POLICY_ALLOW);
    assert_int_equal(policy_eval(p, "odps:ListMmsJobs", ARN("7")), POLICY_ALLOW);
    assert_int_equal(policy_eval(p, "odps:GetMmsDataSource", ARN("81")), POLICY_ALLOW);
    assert_int_equal(policy_eval(p, "odps:DeleteMmsDataSource", ARN("7")), POLICY_NO_MATCH);
    policy_free(p);
}

static void test_eval_deny_wins(void **state)
{
    (void)state;
    /* Deny listed after and before the Allow: order does not matter. */
    const char *docs[] = {
        "{\"Version\":\"1\",\"Statement\":["
        "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"},"
        "{\"Effect\":\"Allow\",\"Action\":\"odps:*\",\"Resource\":\"acs:odps:*:*:mmsdatasource/"
        "*\"},"
        "{\"Effect\":\"Deny\",\"Action\":\"odps:Delete*\",\"Resource\":\"" ARN("13") "\"}]}",
        "{\"Version\":\"1\",\"Statement\":["
        "{\"Effect\":\"Deny\",\"Action\":\"odps:Delete*\",\"Resource\":\"" ARN(
            "13") "\"},"
                  "{\"Effect\":\"Allow\",\"Action\":\"odps:*\",\"Resource\":\"acs:odps:*:*:"
                  "mmsdatasource/*\"},"
                  "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}",
    };
    for (size_t i = 0; i < 2; i++) {
        struct policy *p = parse_ok(docs[i]);
        assert_int_equal(policy_eval(p, "odps:DeleteMmsDataSource", ARN("13")), POLICY_DENY);
        assert_int_equal(policy_eval(p, "odps:deletemmsjob", ARN("13")), POLICY_DENY);
        assert_int_equal(policy_eval(p, "odps:DeleteMmsDataSource", ARN("14")), POLICY_ALLOW);
        assert_int_equal(policy_eval(p, "odps:GetMmsDataSource", ARN("13")), POLICY_ALLOW);
        assert_int_equal(policy_eval(p, "odps:CreateMmsDataSource", "*"), POLICY_ALLOW);
        policy_free(p);
    }
}

static void test_eval_default_deny(void **state)
{
    (void)state;
    /* Only Deny statements: nothing is allowed, unmatched is NO_MATCH (the caller's deny). */
    struct policy *p = parse_ok("{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Deny\","
                                "\"Action\":\"odps:Get*\",\"Resource\":\"*\"}]}");
    assert_int_equal(policy_eval(p, "odps:GetMmsJob", "*"), POLICY_DENY);
    assert_int_equal(policy_eval(p, "odps:GetMmsJob", ARN("1")), POLICY_DENY); /* "*" covers ARNs */
    assert_int_equal(policy_eval(p, "odps:ListMmsJobs", "*"), POLICY_NO_MATCH);
    policy_free(p);
    /* An Allow whose Action matches but Resource does not is no match, and vice versa. */
    p = parse_ok("{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Allow\","
                 "\"Action\":\"odps:GetMmsJob\",\"Resource\":\"" ARN("1") "\"}]}");
    assert_int_equal(policy_eval(p, "odps:GetMmsJob", ARN("2")), POLICY_NO_MATCH);
    assert_int_equal(policy_eval(p, "odps:GetMmsTask", ARN("1")), POLICY_NO_MATCH);
    assert_int_equal(policy_eval(p, "odps:GetMmsJob", ARN("1")), POLICY_ALLOW);
    assert_int_equal(policy_eval(p, "odps:GetMmsJob", ARN("10")), POLICY_NO_MATCH);
    policy_free(p);
}

static void test_parse_limits_ok(void **state)
{
    (void)state;
    /* 100 statements of 100 actions of 512 bytes parse. */
    size_t cap = 7 * 1024 * 1024;
    char *doc = malloc(cap), pat[513];
    memset(pat, 'x', 512);
    memcpy(pat, "odps:", 5);
    pat[512] = '\0';
    size_t n = (size_t)snprintf(doc, cap, "{\"Version\":\"1\",\"Statement\":[");
    for (int s = 0; s < 100; s++) {
        n += (size_t)snprintf(doc + n, cap - n, "%s{\"Effect\":\"Allow\",\"Action\":[",
                              s ? "," : "");
        for (int a = 0; a < 100; a++)
            n += (size_t)snprintf(doc + n, cap - n, "%s\"%s\"", a ? "," : "", pat);
        n += (size_t)snprintf(doc + n, cap - n, "],\"Resource\":\"*\"}");
    }
    snprintf(doc + n, cap - n, "]}");
    struct policy *p = NULL;
    struct mms_err err = {0};
    /* Over the 1 MiB document cap: refused as a whole. */
    assert_int_equal(policy_parse(doc, &p, &err), -1);
    assert_string_equal(err.code, "InvalidPolicy.Malformed");
    /* 100 statements x 100 short actions is within every limit. */
    n = (size_t)snprintf(doc, cap, "{\"Version\":\"1\",\"Statement\":[");
    for (int s = 0; s < 100; s++) {
        n += (size_t)snprintf(doc + n, cap - n, "%s{\"Effect\":\"Allow\",\"Action\":[",
                              s ? "," : "");
        for (int a = 0; a < 100; a++)
            n += (size_t)snprintf(doc + n, cap - n, "%s\"odps:A%d\"", a ? "," : "", a);
        n += (size_t)snprintf(doc + n, cap - n, "],\"Resource\":[\"%s\"]}",
                              s == 99 ? "*" : ARN("1"));
    }
    snprintf(doc + n, cap - n, "]}");
    p = parse_ok(doc);
    assert_int_equal(policy_eval(p, "odps:a99", "*"), POLICY_ALLOW);
    assert_int_equal(policy_eval(p, "odps:A100", "*"), POLICY_NO_MATCH);
    policy_free(p);
    /* One pattern of exactly 512 bytes. */
    snprintf(doc, cap,
             "{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Allow\","
             "\"Action\":\"%s\",\"Resource\":\"*\"}]}",
             pat);
    p = parse_ok(doc);
    assert_int_equal(policy_eval(p, pat, "*"), POLICY_ALLOW);
    policy_free(p);
    free(doc);
}

/* ---- Validation errors ------------------------------------------------------------------ */

#define ST(body) "{\"Version\":\"1\",\"Statement\":[" body "]}"
#define OK_ST "{\"Effect\":\"Allow\",\"Action\":\"odps:*\",\"Resource\":\"*\"}"

static void test_parse_errors(void **state)
{
    (void)state;
    expect_error(NULL, "InvalidPolicy.Malformed", "missing");
    expect_error("", "InvalidPolicy.Malformed", "not valid JSON");
    expect_error("{\"Version\":\"1\",", "InvalidPolicy.Malformed", "line 1");
    expect_error("{\"Version\":\"1\",\"Version\":\"1\",\"Statement\":[" OK_ST "]}",
                 "InvalidPolicy.Malformed", "duplicate");
    expect_error("[]", "InvalidPolicy.Malformed", "must be a JSON object");
    expect_error("\"x\"", "InvalidPolicy.Malformed", "");
    expect_error("{\"Version\":\"1\",\"Statement\":[" OK_ST "],\"Id\":\"x\"}",
                 "InvalidPolicy.UnknownField", "\"Id\"");
    /* a long non-ASCII key is cut on a character boundary (the message stays UTF-8) */
    expect_error(
        "{\"Version\":\"1\",\"Statement\":[" OK_ST "],\"x"
        "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
        "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
        "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
        "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u001f\":1}",
        "InvalidPolicy.UnknownField", "\"x\xc3\xa9");
    /* control characters in an echoed key are shown as '?' */
    expect_error("{\"Version\":\"1\",\"Statement\":[" OK_ST "],\"a\\u0001b\":1}",
                 "InvalidPolicy.UnknownField", "\"a?b\"");
    expect_error("{\"Version\":\"1\",\xff}", "InvalidPolicy.Malformed", "not valid JSON");
    expect_error("{\"Statement\":[" OK_ST "]}", "InvalidPolicy.Version", "required");
    expect_error("{\"Version\":1,\"Statement\":[" OK_ST "]}", "InvalidPolicy.Version",
                 "string \"1\"");
    expect_error("{\"Version\":\"2\",\"Statement\":[" OK_ST "]}", "InvalidPolicy.Version", "\"1\"");
    expect_error("{\"Version\":\"1\"}", "InvalidPolicy.Statement", "required");
    expect_error("{\"Version\":\"1\",\"Statement\":" OK_ST "}", "InvalidPolicy.Statement",
                 "must be an array");
    expect_error(ST(""), "InvalidPolicy.Statement", "has 0 entries");
    expect_error(ST("1"), "InvalidPolicy.Statement", "Statement[0] must be an object");
    expect_error(ST(OK_ST ",{\"Effect\":\"Allow\",\"Action\":\"odps:*\",\"Resource\":\"*\","
                          "\"Condition\":{}}"),
                 "InvalidPolicy.Condition", "Statement[1].Condition: conditions are not supported");
    expect_error(ST("{\"Effect\":\"Allow\",\"NotAction\":\"odps:*\",\"Resource\":\"*\"}"),
                 "InvalidPolicy.UnknownField",
                 "Statement[0] has an unsupported field \"NotAction\"");
    expect_error(ST("{\"Effect\":\"Allow\",\"Action\":\"odps:*\",\"Resource\":\"*\",\"effect\":1}"),
                 "InvalidPolicy.UnknownField", "\"effect\"");
    expect_error(ST("{\"Action\":\"odps:*\",\"Resource\":\"*\"}"), "InvalidPolicy.Effect",
                 "Statement[0].Effect is required");
    expect_error(ST("{\"Effect\":\"allow\",\"Action\":\"odps:*\",\"Resource\":\"*\"}"),
                 "InvalidPolicy.Effect", "\"Allow\" or \"Deny\"");
    expect_error(ST("{\"Effect\":true,\"Action\":\"odps:*\",\"Resource\":\"*\"}"),
                 "InvalidPolicy.Effect", "\"Allow\" or \"Deny\"");
    expect_error(ST("{\"Effect\":\"Allow\",\"Resource\":\"*\"}"), "InvalidPolicy.Action",
                 "Statement[0].Action is required");
    expect_error(ST("{\"Effect\":\"Allow\",\"Action\":\"odps:*\"}"), "InvalidPolicy.Resource",
                 "Statement[0].Resource is required");
    expect_error(ST("{\"Effect\":\"Allow\",\"Action\":{},\"Resource\":\"*\"}"),
                 "InvalidPolicy.Action", "string or an array");
    expect_error(ST("{\"Effect\":\"Allow\",\"Action\":[],\"Resource\":\"*\"}"),
                 "InvalidPolicy.Action", "empty array");
    expect_error(ST("{\"Effect\":\"Allow\",\"Action\":[\"odps:a\",3],\"Resource\":\"*\"}"),
                 "InvalidPolicy.Action", "Statement[0].Action[1] must be a string");
    expect_error(ST("{\"Effect\":\"Allow\",\"Action\":\"\",\"Resource\":\"*\"}"),
                 "InvalidPolicy.Action", "Statement[0].Action is empty");
    expect_error(ST("{\"Effect\":\"Allow\",\"Action\":\"GetMmsJob\",\"Resource\":\"*\"}"),
                 "InvalidPolicy.Action", "<service>:<action>");
    expect_error(ST("{\"Effect\":\"Allow\",\"Action\":\"odps:\",\"Resource\":\"*\"}"),
                 "InvalidPolicy.Action", "<service>:<action>");
    expect_error(ST("{\"Effect\":\"Allow\",\"Action\":\":x\",\"Resource\":\"*\"}"),
                 "InvalidPolicy.Action", "<service>:<action>");
    expect_error(ST("{\"Effect\":\"Allow\",\"Action\":\"od ps:x\",\"Resource\":\"*\"}"),
                 "InvalidPolicy.Action", "<service>:<action>");
    expect_error(ST("{\"Effect\":\"Allow\",\"Action\":\"odps:a\\tb\",\"Resource\":\"*\"}"),
                 "InvalidPolicy.Action", "control character");
    expect_error(ST("{\"Effect\":\"Allow\",\"Action\":\"odps:\\u0000\",\"Resource\":\"*\"}"),
                 "InvalidPolicy.Malformed", "");
    expect_error(
        ST("{\"Effect\":\"Allow\",\"Action\":\"odps:*\",\"Resource\":\"mmsdatasource/1\"}"),
        "InvalidPolicy.Resource", "starting with \"acs:\"");
    expect_error(ST("{\"Effect\":\"Allow\",\"Action\":\"odps:*\",\"Resource\":[\"*\",\"\"]}"),
                 "InvalidPolicy.Resource", "Statement[0].Resource[1] is empty");
    expect_error(ST("{\"Effect\":\"Allow\",\"Action\":\"odps:*\",\"Resource\":null}"),
                 "InvalidPolicy.Resource", "string or an array");

    /* Counts and lengths. */
    char *doc = malloc(200000);
    size_t n = (size_t)sprintf(doc, "{\"Version\":\"1\",\"Statement\":[");
    for (int i = 0; i < 101; i++)
        n += (size_t)sprintf(doc + n, "%s" OK_ST, i ? "," : "");
    sprintf(doc + n, "]}");
    expect_error(doc, "InvalidPolicy.Statement", "has 101 entries; it must have 1 to 100");
    n = (size_t)sprintf(doc, ST("{\"Effect\":\"Allow\",\"Resource\":\"*\",\"Action\":["));
    n -= 3; /* drop the closing "]}" of ST and reopen */
    n = (size_t)sprintf(doc, "{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Allow\","
                             "\"Resource\":\"*\",\"Action\":[");
    for (int i = 0; i < 101; i++)
        n += (size_t)sprintf(doc + n, "%s\"odps:a\"", i ? "," : "");
    sprintf(doc + n, "]}]}");
    expect_error(doc, "InvalidPolicy.Action", "Statement[0].Action has 101 entries; at most 100");
    n = (size_t)sprintf(doc, "{\"Version\":\"1\",\"Statement\":[" OK_ST ",{\"Effect\":\"Deny\","
                             "\"Action\":\"*\",\"Resource\":[");
    for (int i = 0; i < 101; i++)
        n += (size_t)sprintf(doc + n, "%s\"*\"", i ? "," : "");
    sprintf(doc + n, "]}]}");
    expect_error(doc, "InvalidPolicy.Resource", "Statement[1].Resource has 101 entries");
    char pat[514];
    memset(pat, 'y', 513);
    memcpy(pat, "acs:", 4);
    pat[513] = '\0';
    sprintf(doc, ST("{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":[\"*\",\"%s\"]}"), pat);
    expect_error(doc, "InvalidPolicy.Resource", "Statement[0].Resource[1] is longer than 512");
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_glob_no_blowup),
        cmocka_unit_test(test_eval_wildcards),
        cmocka_unit_test(test_eval_deny_wins),
        cmocka_unit_test(test_eval_default_deny),
        cmocka_unit_test(test_parse_limits_ok),
        cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
