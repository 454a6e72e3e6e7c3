/* Request dispatch: route match, body parse, store connection, handler, envelope. */
#include "api/api.h"
#include "store/store.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- Routing ---- */

/* Matches one pattern segment by segment; {name} captures a non-empty segment. */
static bool match(const char *pattern, const char *path, const char **names, struct str *values,
                  int *nparams)
{
    const char *p = pattern, *s = path;
    int n = 0;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        const char *pe = strchr(p, '/');
        const char *se = strchr(s, '/');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p);
        size_t sl = se ? (size_t)(se - s) : strlen(s);
        if (pl >= 2 && p[0] == '{' && p[pl - 1] == '}') {
            if (n >= API_MAX_PATH_PARAMS)
                return false;
            /* Parameter names are static text in the route table; store a pointer past '{'
             * and rely on the '}' terminator being compared by length in api_path_id. */
            names[n] = p + 1;
            values[n].p = s;
            values[n].n = sl;
            n++;
        } else if (pl != sl || memcmp(p, s, pl) != 0) {
            return false;
        }
        p += pl;
        s += sl;
    }
    if (*p || *s)
        return false;
    *nparams = n;
    return true;
}

const struct api_route *api_route_match(const char *method, const char *path,
                                        const char **names, struct str *values, int *nparams)
{
    for (const struct api_route *r = api_routes; r->method; r++) {
        if (strcmp(r->method, method) != 0)
            continue;
        if (match(r->pattern, path, names, values, nparams))
            return r;
    }
    return NULL;
}

/* ---- Envelope ---- */

static char *dump(json_t *j, size_t *len)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s) {
        s = xstrdup("{\"code\":\"InternalError\",\"message\":\"cannot encode response\"}");
    }
    *len = strlen(s);
    return s;
}

char *api_error_body(const char *request_id, int http, const char *code, const char *msg,
                     size_t *len)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:i}", "requestId", request_id, "code", code,
                          "message", msg, "httpCode", http);
    if (!j) /* msg was not valid UTF-8: never echo raw bytes */
        j = json_pack("{s:s, s:s, s:s, s:i}", "requestId", request_id, "code", code, "message",
                      "(message withheld: not valid UTF-8)", "httpCode", http);
    char *s = dump(j, len);
    json_decref(j);
    return s;
}

void api_ok(struct api_ctx *ctx, json_t *data)
{
    json_decref(ctx->data);
    ctx->data = data ? data : json_null();
}

int api_fail(struct api_ctx *ctx, int http, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mms_err_vset(&ctx->err, http, code, fmt, ap);
    va_end(ap);
    return -1;
}

void api_fail_err(struct api_ctx *ctx, const struct mms_err *err)
{
    if (err->http == 0 || err->http >= 500) {
        log_error("internal error: %s: %s", err->code[0] ? err->code : "?", err->msg);
        api_fail(ctx, 500, "InternalError",
                 "internal error; the server log has the detail under this request id");
        return;
    }
    ctx->err = *err;
}

/* Refuses bodies nested deeper than API_MAX_JSON_DEPTH before jansson sees them. */
static bool too_deep(const char *s, size_t n)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > API_MAX_JSON_DEPTH)
                return true;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return false;
}

static int parse_body(struct api_ctx *ctx)
{
    const struct http_req *req = ctx->req;
    size_t n = req->body_len;
    const char *s = req->body;
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    if (i == n)
        return 0; /* empty body: handlers see NULL, api_body_check treats it as {} */
    if (too_deep(s, n))
        return api_fail(ctx, 400, "InvalidParameter.Body",
                        "request body is nested deeper than %d levels", API_MAX_JSON_DEPTH);
    json_error_t e;
    json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES, &e);
    if (!j)
        return api_fail(ctx, 400, "InvalidParameter.Body",
                        "request body is not valid JSON: line %d column %d: %s", e.line,
                        e.column, e.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return api_fail(ctx, 400, "InvalidParameter.Body", "request body must be a JSON object");
    }
    ctx->body = j;
    return 0;
}

static void finish(struct api_ctx *ctx, struct http_resp *resp)
{
    if (ctx->err.http) {
        resp->status = ctx->err.http;
        resp->body = api_error_body(ctx->req->request_id, ctx->err.http, ctx->err.code,
                                    ctx->err.msg, &resp->body_len);
        return;
    }
    json_t *env = json_object();
    json_object_set_new(env, "requestId", json_string(ctx->req->request_id));
    json_object_set(env, "data", ctx->data ? ctx->data : json_null());
    resp->status = 200;
    resp->body = dump(env, &resp->body_len);
    json_decref(env);
}

void api_handle(void *appv, const struct http_req *req, struct http_resp *resp)
{
    struct api_app *app = appv;
    struct api_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.app = app;
    ctx.req = req;

    if (strcmp(req->path, "/healthz") == 0 && strcmp(req->method, "GET") == 0) {
        api_ok(&ctx, json_pack("{s:s}", "status", "ok"));
        finish(&ctx, resp);
        json_decref(ctx.data);
        return;
    }

    ctx.route = api_route_match(req->method, req->path, ctx.param_names, ctx.param_values,
                                &ctx.nparams);
    if (!ctx.route) {
        api_fail(&ctx, 404, "InvalidAction.NotFound",
                 "Specified api is not found, please check your url and method.");
        finish(&ctx, resp);
        return;
    }

    if (ctx.route->has_body) {
        if (parse_body(&ctx) < 0)
            goto out;
    } else if (req->body_len > 0) {
        /* Operations without a body ignore one, as the SDKs never send it; nothing to do. */
    }

    ctx.db = store_acquire(app->store);
    ctx.route->fn(&ctx);
    store_release(app->store, ctx.db);
    ctx.db = NULL;
    if (!ctx.err.http && !ctx.data)
        ctx.data = json_null();
out:
    finish(&ctx, resp);
    json_decref(ctx.body);
    json_decref(ctx.data);
}
