/* Router, path ids, query parsers, paging, sorters and body checks, driven with hand-built
 * requests (no server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/api.h"

static struct mms_config cfg = {.page_size_default = 20, .page_size_max = 1000};
static struct api_app app = {.cfg = &cfg};

/* Builds a ctx for method+path with query pairs "k=v" (NULL-terminated) and a body. */
static void setup_ctx(struct api_ctx *ctx, struct http_req *req, const char *method,
                      const char *path, const char *const *query, const char *body)
{
    memset(req, 0, sizeof *req);
    memset(ctx, 0, sizeof *ctx);
    req->method = method;
    req->path = path;
    static char keys[HTTP_MAX_QUERY_ARGS][128];
    for (size_t i = 0; query && query[i]; i++) {
        const char *eq = strchr(query[i], '=');
        size_t kn = (size_t)(eq - query[i]);
        memcpy(keys[i], query[i], kn);
        keys[i][kn] = '\0';
        req->query[i].key = keys[i];
        req->query[i].value = eq + 1;
        req->nquery++;
    }
    req->body = body ? body : "";
    req->body_len = strlen(req->body);
    ctx->app = &app;
    ctx->req = req;
    ctx->route = api_route_match(method, path, ctx->param_names, ctx->param_values,
                                 &ctx->nparams);
    if (body && *body)
        ctx->body = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
}

static void release_ctx(struct api_ctx *ctx)
{
    json_decref(ctx->body);
    json_decref(ctx->data);
}

static void test_route_match(void **state)
{
    (void)state;
    const char *names[API_MAX_PATH_PARAMS];
    struct str vals[API_MAX_PATH_PARAMS];
    int n = 0;
    const struct api_route *r = api_route_match(
        "GET", "/api/v1/mms/datasources/2000001/asyncTasks/77", names, vals, &n);
    assert_non_null(r);
    assert_string_equal(r->action, "GetMmsAsyncTask");
    assert_int_equal(n, 2);
    assert_true(vals[0].n == 7 && memcmp(vals[0].p, "2000001", 7) == 0);
    assert_true(vals[1].n == 2 && memcmp(vals[1].p, "77", 2) == 0);

    /* DeleteMmsJob is POST /jobs/{jobId}; StartMmsJob is POST /jobs/{jobId}/start. */
    r = api_route_match("POST", "/api/v1/mms/datasources/1/jobs/5", names, vals, &n);
    assert_string_equal(r->action, "DeleteMmsJob");
    r = api_route_match("POST", "/api/v1/mms/datasources/1/jobs/5/start", names, vals, &n);
    assert_string_equal(r->action, "StartMmsJob");
    r = api_route_match("PUT", "/api/v1/mms/datasources/1/tables", names, vals, &n);
    assert_string_equal(r->action, "UpdateMmsTables");
    r = api_route_match("GET", "/api/v1/mms/configItems", names, vals, &n);
    assert_string_equal(r->action, "ListMmsDataSourceConfigItems");

    /* Wrong method, trailing slash, extra or empty segments: no route. */
    assert_null(api_route_match("DELETE", "/api/v1/mms/datasources/1/jobs/5", names, vals, &n));
    assert_null(api_route_match("GET", "/api/v1/mms/datasources/1/", names, vals, &n));
    /* An empty id segment still routes, so that the id parser answers 400 naming it. */
    assert_non_null(api_route_match("GET", "/api/v1/mms/datasources//asyncTasks/1", names,
                                    vals, &n));
    assert_null(api_route_match("GET", "/api/v1/mms/datasources/1/asyncTasks/2/x", names, vals,
                                &n));
    assert_null(api_route_match("GET", "/", names, vals, &n));
    assert_null(api_route_match("GET", "", names, vals, &n));
}

static void check_id(const char *raw, int ok, int64_t want)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v1/mms/datasources/%s/asyncTasks/1", raw);
    struct api_ctx ctx;
    struct http_req req;
    setup_ctx(&ctx, &req, "GET", path, NULL, NULL);
    assert_non_null(ctx.route);
    int64_t id = 0;
    int rc = api_path_id(&ctx, "sourceId", &id);
    if (ok) {
        assert_int_equal(rc, 0);
        assert_true(id == want);
    } else {
        assert_int_equal(rc, -1);
        assert_int_equal(ctx.err.http, 400);
        assert_string_equal(ctx.err.code, "InvalidParameter.SourceId");
        assert_non_null(strstr(ctx.err.msg, "sourceId"));
    }
    release_ctx(&ctx);
}

static void test_path_ids(void **state)
{
    (void)state;
    check_id("1", 1, 1);
    check_id("2000017", 1, 2000017);
    check_id("9223372036854775807", 1, INT64_MAX);
    check_id("9223372036854775808", 0, 0);
    check_id("99999999999999999999", 0, 0);
    check_id("0", 0, 0);
    check_id("-1", 0, 0);
    check_id("+1", 0, 0);
    check_id("01", 0, 0);
    check_id(" 1", 0, 0);
    check_id("1 ", 0, 0);
    check_id("1a", 0, 0);
    check_id("abc", 0, 0);
    check_id("1.0", 0, 0);
    check_id("0x10", 0, 0);
    check_id("", 0, 0);
}

static void test_query_values(void **state)
{
    (void)state;
    const char *q[] = {"pageNum=2", "pageSize=50", "withConfig=true", "n=12", "bad=x",
                       "t=2024-12-17 15:44:17", "status=[\"DONE\",\"FAILED\"]", NULL};
    struct api_ctx ctx;
    struct http_req req;
    setup_ctx(&ctx, &req, "GET", "/api/v1/mms/datasources", q, NULL);
    struct api_page pg;
    assert_int_equal(api_page(&ctx, &pg), 0);
    assert_true(pg.given && pg.num == 2 && pg.size == 50 && pg.offset == 50);
    bool present = false, b = false;
    assert_int_equal(api_query_bool(&ctx, "withConfig", &present, &b), 0);
    assert_true(present && b);
    int64_t v = 0;
    assert_int_equal(api_query_i64(&ctx, "n", 0, 10, &present, &v), -1);
    assert_string_equal(ctx.err.code, "InvalidParameter.N");
    memset(&ctx.err, 0, sizeof ctx.err);
    assert_int_equal(api_query_bool(&ctx, "bad", &present, &b), -1);
    assert_string_equal(ctx.err.code, "InvalidParameter.Bad");
    int64_t t = 0;
    assert_int_equal(api_query_time(&ctx, "t", &present, &t), 0);
    assert_true(t == 1734450257);
    static const char *const statuses[] = {"INIT", "DOING", "DONE", "FAILED", NULL};
    const char *out[API_MAX_ENUM_VALUES];
    int n = 0;
    assert_int_equal(api_query_enum_array(&ctx, "status", statuses, out, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(out[0], "DONE");
    assert_string_equal(out[1], "FAILED");
    release_ctx(&ctx);

    const char *q2[] = {"pageSize=0", NULL};
    setup_ctx(&ctx, &req, "GET", "/api/v1/mms/datasources", q2, NULL);
    assert_int_equal(api_page(&ctx, &pg), -1);
    assert_string_equal(ctx.err.code, "InvalidParameter.PageSize");
    release_ctx(&ctx);

    const char *q3[] = {"pageSize=1001", NULL};
    setup_ctx(&ctx, &req, "GET", "/api/v1/mms/datasources", q3, NULL);
    assert_int_equal(api_page(&ctx, &pg), -1);
    release_ctx(&ctx);

    const char *q4[] = {"status=[\"DONE\",\"NOPE\"]", NULL};
    setup_ctx(&ctx, &req, "GET", "/api/v1/mms/datasources", q4, NULL);
    assert_int_equal(api_query_enum_array(&ctx, "status", statuses, out, &n), -1);
    assert_string_equal(ctx.err.code, "InvalidParameter.Status");
    release_ctx(&ctx);

    setup_ctx(&ctx, &req, "GET", "/api/v1/mms/datasources", NULL, NULL);
    assert_int_equal(api_page(&ctx, &pg), 0);
    assert_true(!pg.given && pg.num == 1 && pg.size == 20);
    release_ctx(&ctx);
}

static const struct api_sort_key sort_keys[] = {
    {"numRows", "t.num_rows"}, {"size", "t.size"}, {NULL, NULL}};

static void test_sorters(void **state)
{
    (void)state;
    char order[256];
    const char *q[] = {"sorter.numRows=desc", "sorter.size=asc", NULL};
    struct api_ctx ctx;
    struct http_req req;
    setup_ctx(&ctx, &req, "GET", "/x", q, NULL);
    assert_int_equal(api_sorter_dotted(&ctx, sort_keys, "t.id", order, sizeof order), 0);
    assert_string_equal(order, "t.num_rows DESC, t.size ASC, t.id ASC");
    release_ctx(&ctx);

    const char *q2[] = {"sorter.name=asc", NULL};
    setup_ctx(&ctx, &req, "GET", "/x", q2, NULL);
    assert_int_equal(api_sorter_dotted(&ctx, sort_keys, "t.id", order, sizeof order), -1);
    assert_string_equal(ctx.err.code, "InvalidParameter.Sorter");
    release_ctx(&ctx);

    const char *q3[] = {"sorter.size=sideways", NULL};
    setup_ctx(&ctx, &req, "GET", "/x", q3, NULL);
    assert_int_equal(api_sorter_dotted(&ctx, sort_keys, "t.id", order, sizeof order), -1);
    release_ctx(&ctx);

    const char *q4[] = {"sorter={\"numRows\":\"desc\"}", NULL};
    setup_ctx(&ctx, &req, "GET", "/x", q4, NULL);
    assert_int_equal(api_sorter_json(&ctx, sort_keys, "t.id", order, sizeof order), 0);
    assert_string_equal(order, "t.num_rows DESC, t.id ASC");
    release_ctx(&ctx);

    const char *q5[] = {"sorter=numRows", NULL};
    setup_ctx(&ctx, &req, "GET", "/x", q5, NULL);
    assert_int_equal(api_sorter_json(&ctx, sort_keys, "t.id", order, sizeof order), -1);
    release_ctx(&ctx);
}

static const struct api_field fields[] = {
    {"name", AF_STRING, 8},        {"n", AF_INT64, 0},          {"on", AF_BOOL, 0},
    {"tables", AF_STR_ARRAY, 3},   {"ids", AF_I64_ARRAY, 0},    {"map", AF_STR_MAP, 0},
    {"others", AF_OBJECT, 0},      {NULL, 0, 0}};

static void expect_body(const char *body, int ok, const char *code)
{
    struct api_ctx ctx;
    struct http_req req;
    setup_ctx(&ctx, &req, "POST", "/x", NULL, body);
    int rc = api_body_check(&ctx, fields);
    if (ok && rc != 0)
        print_message("body %s: %s %s\n", body, ctx.err.code, ctx.err.msg);
    if (ok) {
        assert_int_equal(rc, 0);
    } else {
        assert_int_equal(rc, -1);
        assert_int_equal(ctx.err.http, 400);
        assert_string_equal(ctx.err.code, code);
    }
    release_ctx(&ctx);
}

static void test_body_check(void **state)
{
    (void)state;
    expect_body("", 1, NULL);
    expect_body("{\"name\":\"abc\",\"n\":5,\"on\":true,\"tables\":[\"a\"],\"ids\":[1,2],"
                "\"map\":{\"a\":\"b\"},\"others\":{\"x\":[1,{\"y\":null}]}}",
                1, NULL);
    expect_body("{\"name\":null}", 1, NULL);
    expect_body("{\"nope\":1}", 0, "InvalidParameter.UnknownField");
    expect_body("{\"name\":\"123456789\"}", 0, "InvalidParameter.Name");
    expect_body("{\"name\":5}", 0, "InvalidParameter.Name");
    expect_body("{\"n\":\"5\"}", 0, "InvalidParameter.N");
    expect_body("{\"on\":1}", 0, "InvalidParameter.On");
    expect_body("{\"tables\":[\"a\",\"b\",\"c\",\"d\"]}", 0, "InvalidParameter.Tables");
    expect_body("{\"tables\":[\"\"]}", 0, "InvalidParameter.Tables");
    expect_body("{\"ids\":[0]}", 0, "InvalidParameter.Ids");
    expect_body("{\"ids\":[\"1\"]}", 0, "InvalidParameter.Ids");
    expect_body("{\"map\":{\"a\":1}}", 0, "InvalidParameter.Map");
    expect_body("{\"others\":[]}", 0, "InvalidParameter.Others");
}

static void test_error_body(void **state)
{
    (void)state;
    size_t len = 0;
    char *s = api_error_body("RID", 404, "NotFound.AsyncTask", "async task 5 does not exist",
                             &len);
    json_t *j = json_loadb(s, len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "requestId")), "RID");
    assert_string_equal(json_string_value(json_object_get(j, "code")), "NotFound.AsyncTask");
    assert_int_equal(json_integer_value(json_object_get(j, "httpCode")), 404);
    assert_string_equal(json_string_value(json_object_get(j, "message")),
                        "async task 5 does not exist");
    json_decref(j);
    free(s);
    /* Invalid UTF-8 in a message is never echoed raw. */
    s = api_error_body("RID", 400, "X", "bad \xff byte", &len);
    j = json_loadb(s, len, 0, NULL);
    assert_non_null(j);
    json_decref(j);
    free(s);
}

int main(void)
{
    json_object_seed(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_match), cmocka_unit_test(test_path_ids),
        cmocka_unit_test(test_query_values), cmocka_unit_test(test_sorters),
        cmocka_unit_test(test_body_check), cmocka_unit_test(test_error_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
