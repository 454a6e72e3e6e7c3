/* Request dispatch: store connection, authentication, route match, authorisation, body
 * parse, handler, envelope.
 *
 * Authentication (auth.h) runs before the route is matched, as at the Alibaba Cloud gateway:
 * an unsigned request learns nothing about which paths exist. GET /healthz is the one
 * unauthenticated path (load balancers and the test harness probe it). */
#include "api/api.h"
#include "auth/auth.h"
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

/* The error body, with an accessDeniedDetail object for 403 Forbidden.RAM (detail borrowed;
 * NULL = none). */
static char *error_body_detail(const char *request_id, int http, const char *code,
                               const char *msg, json_t *detail, size_t *len)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:i}", "requestId", request_id, "code", code,
                          "message", msg, "httpCode", http);
    if (!j) /* msg was not valid UTF-8: never echo raw bytes */
        j = json_pack("{s:s, s:s, s:s, s:i}", "requestId", request_id, "code", code, "message",
                      "(message withheld: not valid UTF-8)", "httpCode", http);
    if (j && detail)
        json_object_set(j, "accessDeniedDetail", detail);
    char *s = dump(j, len);
    json_decref(j);
    return s;
}

char *api_error_body(const char *request_id, int http, const char *code, const char *msg,
                     size_t *len)
{
    return error_body_detail(request_id, http, code, msg, NULL, len);
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

/* detail: the accessDeniedDetail of a 403 (borrowed), NULL otherwise. */
static void finish(struct api_ctx *ctx, struct http_resp *resp, json_t *detail)
{
    if (ctx->err.http) {
        resp->status = ctx->err.http;
        resp->body = error_body_detail(ctx->req->request_id, ctx->err.http, ctx->err.code,
                                       ctx->err.msg, detail, &resp->body_len);
        return;
    }
    json_t *env = json_object();
    json_object_set_new(env, "requestId", json_string(ctx->req->request_id));
    json_object_set(env, "data", ctx->data ? ctx->data : json_null());
    resp->status = 200;
    resp->body = dump(env, &resp->body_len);
    json_decref(env);
}

/* ---- Authorisation ---------------------------------------------------------------------- */

static json_t *denied_detail(const struct auth_denied *d, const struct auth_caller *caller)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "AuthAction", d->action, "AuthResource",
                     d->resource, "NoPermissionType",
                     d->explicit_deny ? "ExplicitDeny" : "ImplicitDeny", "AuthPrincipalType",
                     "AccessKey", "AuthPrincipalDisplayName", caller->access_key_id,
                     "PolicyType", "AccessKeyPolicy");
}

/* The source id the route acts on (0 = none: the resource is "*"). */
static int route_source(struct api_ctx *ctx, int64_t *sid)
{
    *sid = 0;
    for (int i = 0; i < ctx->nparams; i++)
        if (strncmp(ctx->param_names[i], "sourceId}", 9) == 0)
            return api_path_id(ctx, "sourceId", sid);
    return 0;
}

/* Every data source id, ascending (at most max). */
static int all_source_ids(struct db *db, int64_t **ids, size_t *n, struct mms_err *err)
{
    static const char sql[] = "SELECT id FROM datasource ORDER BY id";
    *ids = NULL;
    *n = 0;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    size_t cap = 0;
    int r;
    while ((r = db_step(st, err)) == DB_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            *ids = xreallocarray(*ids, cap, sizeof **ids);
        }
        (*ids)[(*n)++] = db_col_i64(st, 0);
    }
    db_done(st);
    if (r < 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

static bool id_in(const int64_t *ids, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] == id)
            return true;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* ListMmsDataSources for a caller who may list only some sources (docs/security.md
 * "Policies and listing"): the call is allowed when a policy allows odps:ListMmsDataSources on
 * "*" or on at least one existing source, and answers with those sources only; paging applies
 * to the filtered list. Returns 1 when the caller may list every source (run the handler as
 * usual), 0 when it answered, -1 on a denial (ctx->err set, *denied filled). */
static int list_sources_filtered(struct api_ctx *ctx, const struct auth_ctx *a,
                                 const struct auth_caller *caller, struct auth_denied *denied)
{
    struct mms_err err = {0};
    int64_t *ids = NULL, *keep = NULL;
    bool *allowed = NULL, any_star = false;
    size_t n = 0, nkeep = 0;
    int rc = -1;
    if (all_source_ids(ctx->db, &ids, &n, &err) < 0) {
        api_fail_err(ctx, &err);
        goto out;
    }
    allowed = xcalloc(n ? n : 1, sizeof *allowed);
    if (auth_filter_sources(a, ctx->db, caller, ctx->route->action, ids, n, allowed, &any_star,
                            &err) < 0) {
        api_fail_err(ctx, &err);
        goto out;
    }
    keep = xcalloc(n ? n : 1, sizeof *keep);
    for (size_t i = 0; i < n; i++)
        if (allowed[i])
            keep[nkeep++] = ids[i];
    struct mms_err aerr = {0};
    int star = auth_authorize_detail(a, ctx->db, caller, ctx->route->action, 0, denied, &aerr);
    if (star < 0 && (aerr.http != 403 || denied->explicit_deny || nkeep == 0)) {
        api_fail_err(ctx, &aerr);
        goto out;
    }
    if (nkeep == n) {
        rc = 1;
        goto out;
    }
    /* Run the handler over every row (no paging), keep the allowed ones, page here. */
    struct api_page pg;
    if (api_page(ctx, &pg) < 0)
        goto out;
    const struct http_req *orig = ctx->req;
    struct http_req *copy = xmalloc(sizeof *copy);
    *copy = *orig;
    copy->nquery = 0;
    for (size_t i = 0; i < orig->nquery; i++)
        if (strcmp(orig->query[i].key, "pageNum") != 0 &&
            strcmp(orig->query[i].key, "pageSize") != 0)
            copy->query[copy->nquery++] = orig->query[i];
    ctx->req = copy;
    ctx->route->fn(ctx);
    ctx->req = orig;
    free(copy);
    rc = 0;
    if (ctx->err.http || !ctx->data)
        goto out;
    json_t *rows = json_object_get(ctx->data, "objectList");
    json_t *list = json_array();
    int64_t total = 0;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        json_int_t id = json_integer_value(json_object_get(row, "id"));
        if (!id_in(keep, nkeep, id))
            continue;
        if (!pg.given || (total >= pg.offset && total < pg.offset + pg.size))
            json_array_append(list, row);
        total++;
    }
    if (!pg.given) {
        pg.num = 1;
        pg.size = total;
    }
    api_ok(ctx, api_page_result(&pg, total, list));
out:
    free(ids);
    free(allowed);
    free(keep);
    return rc;
}

/* ---- Dispatch ---------------------------------------------------------------------------- */

void api_handle(void *appv, const struct http_req *req, struct http_resp *resp)
{
    struct api_app *app = appv;
    struct api_ctx ctx;
    struct auth_caller caller;
    struct auth_denied denied;
    json_t *detail = NULL;
    memset(&ctx, 0, sizeof ctx);
    memset(&caller, 0, sizeof caller);
    memset(&denied, 0, sizeof denied);
    ctx.app = app;
    ctx.req = req;

    if (strcmp(req->path, "/healthz") == 0 && strcmp(req->method, "GET") == 0) {
        api_ok(&ctx, json_pack("{s:s}", "status", "ok"));
        finish(&ctx, resp, NULL);
        json_decref(ctx.data);
        return;
    }

    const struct auth_ctx *a = auth_config();
    bool auth_on = a && a->enabled;
    ctx.db = store_acquire(app->store);
    if (auth_on) {
        struct mms_err err = {0};
        if (auth_authenticate(a, ctx.db, req, &caller, &err) < 0) {
            log_info("auth: %s %s refused: %s", req->method, req->path, err.code);
            api_fail_err(&ctx, &err);
            goto out;
        }
    }

    ctx.route = api_route_match(req->method, req->path, ctx.param_names, ctx.param_values,
                                &ctx.nparams);
    if (!ctx.route) {
        api_fail(&ctx, 404, "InvalidAction.NotFound",
                 "Specified api is not found, please check your url and method.");
        goto out;
    }

    if (auth_on) {
        int64_t sid = 0;
        struct mms_err err = {0};
        if (route_source(&ctx, &sid) < 0)
            goto out;
        if (strcmp(ctx.route->action, "ListMmsDataSources") == 0) {
            int r = list_sources_filtered(&ctx, a, &caller, &denied);
            if (r < 0 && ctx.err.http == 403)
                detail = denied_detail(&denied, &caller);
            if (r <= 0)
                goto done;
        } else if (auth_authorize_detail(a, ctx.db, &caller, ctx.route->action, sid, &denied,
                                         &err) < 0) {
            if (err.http == 403) {
                detail = denied_detail(&denied, &caller);
                log_info("auth: %s %s: %s denied %s on %s", req->method, req->path,
                         caller.access_key_id, denied.action, denied.resource);
            }
            api_fail_err(&ctx, &err);
            goto out;
        }
    }

    if (ctx.route->has_body) {
        if (parse_body(&ctx) < 0)
            goto out;
    } else if (req->body_len > 0) {
        /* Operations without a body ignore one, as the SDKs never send it; nothing to do. */
    }

    ctx.route->fn(&ctx);
done:
    if (!ctx.err.http && !ctx.data)
        ctx.data = json_null();
out:
    store_release(app->store, ctx.db);
    ctx.db = NULL;
    finish(&ctx, resp, detail);
    json_decref(detail);
    json_decref(ctx.body);
    json_decref(ctx.data);
}
