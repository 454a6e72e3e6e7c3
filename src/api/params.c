/* Parameter parsing for handlers: path ids, query values, paging, sorters, body fields.
 * Every limit on untrusted input is checked here, and every failure names the parameter. */
#include "api/api.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void api_param_code(const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s", name);
    if (out[0])
        out[0] = (char)toupper((unsigned char)out[0]);
}

/* Records 400 InvalidParameter.<Name> with the message "<name> <what><detail>". */
static int bad(struct api_ctx *ctx, const char *name, const char *what, const char *detail)
{
    char code[96], pc[64];
    api_param_code(name, pc, sizeof pc);
    snprintf(code, sizeof code, "InvalidParameter.%s", pc);
    return api_fail(ctx, 400, code, "%s %s%s", name, what, detail);
}

/* Strict positive int64 in plain decimal. */
static int parse_id(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 19 || s[0] == '0')
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int api_path_id(struct api_ctx *ctx, const char *name, int64_t *out)
{
    size_t nl = strlen(name);
    for (int i = 0; i < ctx->nparams; i++) {
        const char *pn = ctx->param_names[i];
        if (strncmp(pn, name, nl) == 0 && pn[nl] == '}') {
            struct str v = ctx->param_values[i];
            if (parse_id(v.p, v.n, out) < 0)
                return bad(ctx, name, "must be a positive 64-bit integer", "");
            return 0;
        }
    }
    return api_fail(ctx, 500, "InternalError", "route has no parameter %s", name);
}

const char *api_query(const struct api_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->req->nquery; i++)
        if (strcmp(ctx->req->query[i].key, name) == 0)
            return ctx->req->query[i].value;
    return NULL;
}

int api_query_str(struct api_ctx *ctx, const char *name, size_t max_len, const char **out)
{
    const char *v = api_query(ctx, name);
    *out = NULL;
    if (!v)
        return 0;
    if (max_len == 0)
        max_len = API_MAX_STRING;
    if (strlen(v) > max_len) {
        char d[32];
        snprintf(d, sizeof d, "%zu bytes", max_len);
        return bad(ctx, name, "is longer than ", d);
    }
    *out = v;
    return 0;
}

int api_query_i64(struct api_ctx *ctx, const char *name, int64_t min, int64_t max, bool *present,
                  int64_t *out)
{
    const char *v = api_query(ctx, name);
    if (present)
        *present = v != NULL;
    if (!v)
        return 0;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || isspace((unsigned char)*v) || errno || *end)
        return bad(ctx, name, "must be an integer", "");
    if (x < min || x > max) {
        char d[64];
        snprintf(d, sizeof d, " in %lld..%lld", (long long)min, (long long)max);
        return bad(ctx, name, "must be an integer", d);
    }
    *out = x;
    return 0;
}

int api_query_bool(struct api_ctx *ctx, const char *name, bool *present, bool *out)
{
    const char *v = api_query(ctx, name);
    if (present)
        *present = v != NULL;
    if (!v)
        return 0;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = false;
    else
        return bad(ctx, name, "must be true or false", "");
    return 0;
}

int api_query_time(struct api_ctx *ctx, const char *name, bool *present, int64_t *out)
{
    const char *v = api_query(ctx, name);
    if (present)
        *present = v != NULL;
    if (!v)
        return 0;
    if (time_parse(v, out) < 0)
        return bad(ctx, name, "must be a time 'YYYY-MM-DD HH:mm:ss'", "");
    return 0;
}

static const char *in_set(const char *v, const char *const *allowed)
{
    for (int i = 0; allowed[i]; i++)
        if (strcmp(v, allowed[i]) == 0)
            return allowed[i];
    return NULL;
}

static void list_set(const char *const *allowed, char *out, size_t n)
{
    size_t pos = 0;
    out[0] = '\0';
    for (int i = 0; allowed[i] && pos < n; i++)
        pos += (size_t)snprintf(out + pos, n - pos, "%s%s", i ? ", " : "", allowed[i]);
}

int api_query_enum(struct api_ctx *ctx, const char *name, const char *const *allowed,
                   const char **out)
{
    const char *v = api_query(ctx, name);
    *out = NULL;
    if (!v)
        return 0;
    *out = in_set(v, allowed);
    if (!*out) {
        char set[512];
        list_set(allowed, set, sizeof set);
        return bad(ctx, name, "must be one of: ", set);
    }
    return 0;
}

int api_query_enum_array(struct api_ctx *ctx, const char *name, const char *const *allowed,
                         const char **out, int *n)
{
    const char *v = api_query(ctx, name);
    *n = 0;
    if (!v)
        return 0;
    char set[512];
    list_set(allowed, set, sizeof set);
    json_error_t e;
    json_t *j = json_loads(v, JSON_DECODE_ANY, &e);
    /* A bare value (status=DONE) is accepted as a one-element array: curl users write it. */
    if (!j && in_set(v, allowed)) {
        out[0] = in_set(v, allowed);
        *n = 1;
        return 0;
    }
    int rc = 0;
    if (!json_is_array(j) || json_array_size(j) > API_MAX_ENUM_VALUES) {
        rc = bad(ctx, name, "must be a JSON array of at most 16 of: ", set);
        goto out;
    }
    size_t i;
    json_t *it;
    json_array_foreach(j, i, it)
    {
        const char *s = json_string_value(it);
        const char *m = s ? in_set(s, allowed) : NULL;
        if (!m) {
            rc = bad(ctx, name, "must be a JSON array of: ", set);
            goto out;
        }
        out[(*n)++] = m;
    }
out:
    json_decref(j);
    return rc;
}

int api_page(struct api_ctx *ctx, struct api_page *pg)
{
    bool pn = false, ps = false;
    const struct mms_config *cfg = ctx->app->cfg;
    pg->num = 1;
    pg->size = cfg->page_size_default;
    if (api_query_i64(ctx, "pageNum", 1, 1000000000, &pn, &pg->num) < 0 ||
        api_query_i64(ctx, "pageSize", 1, cfg->page_size_max, &ps, &pg->size) < 0)
        return -1;
    pg->given = pn || ps;
    pg->offset = (pg->num - 1) * pg->size;
    return 0;
}

json_t *api_page_result(const struct api_page *pg, int64_t total, json_t *list)
{
    return json_pack("{s:I, s:I, s:I, s:o}", "total", (json_int_t)total, "pageNum",
                     (json_int_t)pg->num, "pageSize", (json_int_t)pg->size, "objectList", list);
}

static const struct api_sort_key *sort_find(const struct api_sort_key *allowed, const char *key)
{
    for (int i = 0; allowed[i].key; i++)
        if (strcmp(allowed[i].key, key) == 0)
            return &allowed[i];
    return NULL;
}

static int sort_add(struct api_ctx *ctx, const char *param, const struct api_sort_key *allowed,
                    const char *key, const char *dir, char *out, size_t n, size_t *pos)
{
    const struct api_sort_key *k = sort_find(allowed, key);
    if (!k) {
        char set[256] = "";
        size_t p = 0;
        for (int i = 0; allowed[i].key && p < sizeof set; i++)
            p += (size_t)snprintf(set + p, sizeof set - p, "%s%s", i ? ", " : "",
                                  allowed[i].key);
        return api_fail(ctx, 400, "InvalidParameter.Sorter",
                        "%s: cannot sort by '%s'; sortable: %s", param, key, set);
    }
    const char *d;
    if (strcasecmp(dir, "asc") == 0)
        d = "ASC";
    else if (strcasecmp(dir, "desc") == 0)
        d = "DESC";
    else
        return api_fail(ctx, 400, "InvalidParameter.Sorter", "%s: order must be asc or desc",
                        param);
    *pos += (size_t)snprintf(out + *pos, n - *pos, "%s%s %s", *pos ? ", " : "", k->sql, d);
    return *pos < n ? 0 : api_fail(ctx, 400, "InvalidParameter.Sorter", "too many sort keys");
}

int api_sorter_dotted(struct api_ctx *ctx, const struct api_sort_key *allowed,
                      const char *id_expr, char *out, size_t n)
{
    size_t pos = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ctx->req->nquery; i++) {
        const char *k = ctx->req->query[i].key;
        if (strncmp(k, "sorter.", 7) != 0)
            continue;
        if (sort_add(ctx, k, allowed, k + 7, ctx->req->query[i].value, out, n, &pos) < 0)
            return -1;
    }
    pos += (size_t)snprintf(out + pos, n - pos, "%s%s ASC", pos ? ", " : "", id_expr);
    return pos < n ? 0 : api_fail(ctx, 400, "InvalidParameter.Sorter", "too many sort keys");
}

int api_sorter_json(struct api_ctx *ctx, const struct api_sort_key *allowed,
                    const char *id_expr, char *out, size_t n)
{
    size_t pos = 0;
    out[0] = '\0';
    const char *v = api_query(ctx, "sorter");
    if (v && *v) {
        json_error_t e;
        json_t *j = json_loads(v, 0, &e);
        if (!json_is_object(j)) {
            json_decref(j);
            return api_fail(ctx, 400, "InvalidParameter.Sorter",
                            "sorter must be a JSON object such as {\"numRows\":\"desc\"}");
        }
        const char *key;
        json_t *val;
        int rc = 0;
        json_object_foreach(j, key, val)
        {
            if (!json_is_string(val)) {
                rc = api_fail(ctx, 400, "InvalidParameter.Sorter",
                              "sorter.%s must be \"asc\" or \"desc\"", key);
                break;
            }
            if ((rc = sort_add(ctx, "sorter", allowed, key, json_string_value(val), out, n,
                               &pos)) < 0)
                break;
        }
        json_decref(j);
        if (rc < 0)
            return -1;
    }
    pos += (size_t)snprintf(out + pos, n - pos, "%s%s ASC", pos ? ", " : "", id_expr);
    return pos < n ? 0 : api_fail(ctx, 400, "InvalidParameter.Sorter", "too many sort keys");
}

/* ---- Body ---- */

static int field_bad(struct api_ctx *ctx, const char *name, const char *what)
{
    char pc[64], code[96];
    api_param_code(name, pc, sizeof pc);
    snprintf(code, sizeof code, "InvalidParameter.%s", pc);
    return api_fail(ctx, 400, code, "%s %s", name, what);
}

static int check_field(struct api_ctx *ctx, const struct api_field *f, json_t *v)
{
    char what[128];
    size_t max = f->max;
    switch (f->type) {
    case AF_STRING:
        if (!json_is_string(v))
            return field_bad(ctx, f->name, "must be a string");
        if (!max)
            max = API_MAX_STRING;
        if (json_string_length(v) > max) {
            snprintf(what, sizeof what, "is longer than %zu bytes", max);
            return field_bad(ctx, f->name, what);
        }
        if (strlen(json_string_value(v)) != json_string_length(v))
            return field_bad(ctx, f->name, "must not contain NUL characters");
        return 0;
    case AF_INT64:
        if (!json_is_integer(v))
            return field_bad(ctx, f->name, "must be an integer");
        return 0;
    case AF_BOOL:
        if (!json_is_boolean(v))
            return field_bad(ctx, f->name, "must be true or false");
        return 0;
    case AF_STR_ARRAY:
    case AF_I64_ARRAY: {
        if (!json_is_array(v))
            return field_bad(ctx, f->name, "must be an array");
        if (!max)
            max = API_MAX_ARRAY;
        if (json_array_size(v) > max) {
            snprintf(what, sizeof what, "has more than %zu items", max);
            return field_bad(ctx, f->name, what);
        }
        size_t i;
        json_t *it;
        json_array_foreach(v, i, it)
        {
            if (f->type == AF_STR_ARRAY) {
                if (!json_is_string(it) || json_string_length(it) == 0 ||
                    json_string_length(it) > API_MAX_STRING ||
                    strlen(json_string_value(it)) != json_string_length(it))
                    return field_bad(ctx, f->name, "must hold non-empty strings of at most "
                                                   "1024 bytes without NUL");
            } else if (!json_is_integer(it) || json_integer_value(it) <= 0) {
                return field_bad(ctx, f->name, "must hold positive integers");
            }
        }
        return 0;
    }
    case AF_STR_MAP: {
        if (!json_is_object(v))
            return field_bad(ctx, f->name, "must be an object of strings");
        if (!max)
            max = API_MAX_ARRAY;
        if (json_object_size(v) > max) {
            snprintf(what, sizeof what, "has more than %zu entries", max);
            return field_bad(ctx, f->name, what);
        }
        const char *k;
        json_t *it;
        json_object_foreach(v, k, it)
        {
            if (!json_is_string(it) || json_string_length(it) > 65536 || !*k ||
                strlen(k) > API_MAX_STRING)
                return field_bad(ctx, f->name, "must be an object of non-empty keys and string "
                                               "values");
        }
        return 0;
    }
    case AF_OBJECT:
        if (!json_is_object(v))
            return field_bad(ctx, f->name, "must be an object");
        return 0;
    }
    return 0;
}

int api_body_check(struct api_ctx *ctx, const struct api_field *fields)
{
    if (!ctx->body)
        ctx->body = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(ctx->body, key, v)
    {
        const struct api_field *f = NULL;
        for (int i = 0; fields[i].name; i++)
            if (strcmp(fields[i].name, key) == 0) {
                f = &fields[i];
                break;
            }
        if (!f) {
            /* Echo the name only when it is printable and short. */
            bool printable = strlen(key) <= 64;
            for (const char *c = key; printable && *c; c++)
                printable = (unsigned char)*c >= 0x20 && *c != 0x7f;
            return api_fail(ctx, 400, "InvalidParameter.UnknownField",
                            "unknown field '%s' in the request body", printable ? key : "?");
        }
        if (json_is_null(v))
            continue;
        if (check_field(ctx, f, v) < 0)
            return -1;
    }
    return 0;
}

json_t *api_body_get(struct api_ctx *ctx, const char *name)
{
    json_t *v = ctx->body ? json_object_get(ctx->body, name) : NULL;
    return json_is_null(v) ? NULL : v;
}

const char *api_body_str(struct api_ctx *ctx, const char *name)
{
    return json_string_value(api_body_get(ctx, name));
}

int64_t api_body_i64(struct api_ctx *ctx, const char *name, int64_t def)
{
    json_t *v = api_body_get(ctx, name);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

bool api_body_bool(struct api_ctx *ctx, const char *name, bool def)
{
    json_t *v = api_body_get(ctx, name);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

json_t *api_time(int64_t t)
{
    if (t <= 0)
        return json_null();
    char s[20];
    time_format(t, s);
    return json_string(s);
}

json_t *api_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}
