/* The connector registry and the canonical schema helpers (copy, free, JSON form). */
#include "conn/conn.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- registry --------------------------------------------------------------------------- */

static const struct conn_ops *const all_ops[] = {
    &conn_sqlite_ops,
    &conn_pg_ops,
    &conn_files_ops,
    &conn_mysql_ops,
    NULL,
};

const struct conn_ops *const *conn_all(void)
{
    return all_ops;
}

const struct conn_ops *conn_find(const char *type)
{
    if (!type)
        return NULL;
    for (size_t i = 0; all_ops[i]; i++)
        if (strcasecmp(all_ops[i]->type, type) == 0)
            return all_ops[i];
    return NULL;
}

const struct conn_ops *conn_find_scheme(const char *url)
{
    if (!url)
        return NULL;
    /* The scheme is everything before the first ':' (RFC 3986), compared case-insensitively. */
    const char *colon = strchr(url, ':');
    if (!colon || colon == url)
        return NULL;
    size_t n = (size_t)(colon - url);
    for (size_t i = 0; all_ops[i]; i++) {
        const char *sch = all_ops[i]->url_scheme;
        if (sch && strlen(sch) == n && strncasecmp(sch, url, n) == 0)
            return all_ops[i];
    }
    return NULL;
}

/* ---- schema lifecycle ------------------------------------------------------------------- */

static void column_release(struct conn_column *c)
{
    free(c->name);
    free(c->native_type);
    free(c->default_value);
    free(c->comment);
    memset(c, 0, sizeof *c);
}

static void columns_free(struct conn_column *cols, size_t n)
{
    for (size_t i = 0; i < n; i++)
        column_release(&cols[i]);
    free(cols);
}

void conn_schema_release(struct conn_schema *s)
{
    columns_free(s->cols, s->ncols);
    columns_free(s->pcols, s->npcols);
    free(s->source_type);
    memset(s, 0, sizeof *s);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static struct conn_column *columns_copy(const struct conn_column *src, size_t n)
{
    if (n == 0)
        return NULL;
    struct conn_column *dst = xcalloc(n, sizeof *dst);
    for (size_t i = 0; i < n; i++) {
        dst[i].name = dup_or_null(src[i].name);
        dst[i].type = src[i].type;
        dst[i].native_type = dup_or_null(src[i].native_type);
        dst[i].nullable = src[i].nullable;
        dst[i].default_value = dup_or_null(src[i].default_value);
        dst[i].comment = dup_or_null(src[i].comment);
    }
    return dst;
}

void conn_schema_copy(struct conn_schema *dst, const struct conn_schema *src)
{
    dst->cols = columns_copy(src->cols, src->ncols);
    dst->ncols = src->ncols;
    dst->pcols = columns_copy(src->pcols, src->npcols);
    dst->npcols = src->npcols;
    dst->source_type = dup_or_null(src->source_type);
}

/* ---- JSON form -------------------------------------------------------------------------- */

static json_t *string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *columns_to_json(const struct conn_column *cols, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char type[64];
        mms_type_format(&cols[i].type, type, sizeof type);
        json_t *o = json_object();
        json_object_set_new(o, "name", string_or_null(cols[i].name));
        json_object_set_new(o, "type", json_string(type));
        json_object_set_new(o, "comment", string_or_null(cols[i].comment));
        json_object_set_new(o, "defaultValue", string_or_null(cols[i].default_value));
        json_object_set_new(o, "nullable", json_boolean(cols[i].nullable));
        json_object_set_new(o, "nativeType", string_or_null(cols[i].native_type));
        json_array_append_new(arr, o);
    }
    return arr;
}

json_t *conn_schema_to_json(const struct conn_schema *s, const char *table_name)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", string_or_null(table_name));
    json_object_set_new(o, "comment", json_null());
    json_object_set_new(o, "columns", columns_to_json(s->cols, s->ncols));
    json_object_set_new(o, "partitions", columns_to_json(s->pcols, s->npcols));
    json_object_set_new(o, "sourceType", string_or_null(s->source_type));
    return o;
}

/* Limits on what a stored or posted schema may hold (every connector's real limits are far
 * below: SQLite allows 2000 columns, PostgreSQL 1600, MySQL 4096). */
#define SCHEMA_MAX_COLUMNS 10000
#define SCHEMA_MAX_STRING 65536

/* Optional string member: NULL when absent or null; -1 when present but not a clean string. */
static int get_opt_string(json_t *o, const char *key, const char *where, char **out,
                          struct mms_err *err)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return mms_err_set(err, 400, "InvalidParameter.Schema", "%s: %s must be a string", where,
                           key);
    size_t n = json_string_length(v);
    const char *p = json_string_value(v);
    if (n > SCHEMA_MAX_STRING || memchr(p, '\0', n))
        return mms_err_set(err, 400, "InvalidParameter.Schema",
                           "%s: %s is longer than %d bytes or contains NUL", where, key,
                           SCHEMA_MAX_STRING);
    *out = xstrndup(p, n);
    return 0;
}

static int column_from_json(json_t *o, const char *where, struct conn_column *c,
                            struct mms_err *err)
{
    char *type = NULL;
    int rc = -1;
    if (!json_is_object(o)) {
        mms_err_set(err, 400, "InvalidParameter.Schema", "%s must be an object", where);
        goto out;
    }
    if (get_opt_string(o, "name", where, &c->name, err) < 0)
        goto out;
    if (!c->name || !c->name[0]) {
        mms_err_set(err, 400, "InvalidParameter.Schema", "%s: name is required", where);
        goto out;
    }
    if (get_opt_string(o, "type", where, &type, err) < 0)
        goto out;
    if (!type || mms_type_parse(type, &c->type) < 0) {
        mms_err_set(err, 400, "InvalidParameter.Schema", "%s (%s): unknown type '%s'", where,
                    c->name, type ? type : "");
        goto out;
    }
    json_t *nullable = json_object_get(o, "nullable");
    if (nullable && !json_is_boolean(nullable)) {
        mms_err_set(err, 400, "InvalidParameter.Schema", "%s (%s): nullable must be a boolean",
                    where, c->name);
        goto out;
    }
    c->nullable = nullable ? json_is_true(nullable) : true;
    if (get_opt_string(o, "nativeType", where, &c->native_type, err) < 0 ||
        get_opt_string(o, "defaultValue", where, &c->default_value, err) < 0 ||
        get_opt_string(o, "comment", where, &c->comment, err) < 0)
        goto out;
    rc = 0;
out:
    free(type);
    return rc;
}

static int columns_from_json(json_t *arr, const char *key, struct conn_column **out, size_t *n,
                             struct mms_err *err)
{
    *out = NULL;
    *n = 0;
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return mms_err_set(err, 400, "InvalidParameter.Schema", "schema.%s must be an array", key);
    size_t count = json_array_size(arr);
    if (count > SCHEMA_MAX_COLUMNS)
        return mms_err_set(err, 400, "InvalidParameter.Schema",
                           "schema.%s has more than %d columns", key, SCHEMA_MAX_COLUMNS);
    if (count == 0)
        return 0;
    struct conn_column *cols = xcalloc(count, sizeof *cols);
    for (size_t i = 0; i < count; i++) {
        char where[64];
        snprintf(where, sizeof where, "schema.%s[%zu]", key, i);
        if (column_from_json(json_array_get(arr, i), where, &cols[i], err) < 0) {
            columns_free(cols, count);
            return -1;
        }
    }
    *out = cols;
    *n = count;
    return 0;
}

int conn_schema_from_json(json_t *j, struct conn_schema *out, struct mms_err *err)
{
    struct conn_schema s = {0};
    int rc = -1;
    if (!json_is_object(j)) {
        mms_err_set(err, 400, "InvalidParameter.Schema", "schema must be an object");
        goto out;
    }
    if (columns_from_json(json_object_get(j, "columns"), "columns", &s.cols, &s.ncols, err) < 0)
        goto out;
    if (columns_from_json(json_object_get(j, "partitions"), "partitions", &s.pcols, &s.npcols,
                          err) < 0)
        goto out;
    if (get_opt_string(j, "sourceType", "schema", &s.source_type, err) < 0)
        goto out;
    rc = 0;
out:
    if (rc == 0)
        *out = s;
    else
        conn_schema_release(&s);
    return rc;
}

void conn_sql_ident(struct buf *b, char quote, const char *name)
{
    buf_addc(b, quote);
    for (const char *p = name; *p; p++) {
        if (*p == quote)
            buf_addc(b, quote);
        buf_addc(b, *p);
    }
    buf_addc(b, quote);
}
