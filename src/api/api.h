/* The API layer: routing, the {requestId, data} envelope, errors, and the parameter parsers
 * every handler uses. Handlers (api_<noun>.c) read their inputs through the api_* helpers
 * below, which check every limit at the edge and record a 400 naming the parameter; they
 * answer with api_ok() or api_fail(). A handler returns nothing: ctx->data or ctx->err is the
 * answer.
 *
 * Error codes (stable; documented in docs/api.md):
 *   400 InvalidParameter.<Name>   a path/query/body parameter is malformed or out of range
 *                                 (<Name> is the parameter in PascalCase: SourceId, PageSize)
 *   400 InvalidParameter.Body     the body is not a JSON object, or too deep
 *   400 InvalidParameter.UnknownField  a body field that the operation does not take
 *   400 InvalidParameter.Query    too many query parameters
 *   404 NotFound.<Object>         DataSource, AsyncTask, Scan, Db, Table, Partition, Job, Task
 *   404 InvalidAction.NotFound    no such path and method
 *   409 Conflict.<What>           e.g. Conflict.JobRunning, Conflict.TaskRunning
 *   413 RequestBodyTooLarge
 *   500 InternalError             detail logged with the request id, never in the body */
#ifndef MMS_API_H
#define MMS_API_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "http/http.h"
#include "store/db.h"
#include "util/config.h"
#include "util/err.h"
#include "util/str.h"

struct store;
struct engine;

/* Everything a handler may reach; lives as long as the server. */
struct api_app {
    struct store *store;
    struct engine *engine;          /* wake it after queueing work: engine_wake() */
    const struct mms_config *cfg;
};

#define API_MAX_PATH_PARAMS 4
#define API_MAX_JSON_DEPTH 32
#define API_MAX_STRING 1024         /* default cap on a string parameter, in bytes */
#define API_MAX_ARRAY 10000         /* default cap on a body array's items */

struct api_route;

struct api_ctx {
    struct api_app *app;
    const struct http_req *req;
    const struct api_route *route;
    const char *param_names[API_MAX_PATH_PARAMS];
    struct str param_values[API_MAX_PATH_PARAMS];
    int nparams;
    struct db *db;     /* a pooled store connection, held for the whole request */
    json_t *body;      /* the parsed body object (owned by ctx), NULL when the body is empty */
    json_t *data;      /* success payload (owned by ctx) */
    struct mms_err err;
};

typedef void (*api_handler_fn)(struct api_ctx *ctx);

struct api_route {
    const char *method;
    const char *pattern;   /* "/api/v1/mms/datasources/{sourceId}/asyncTasks/{asyncTaskId}" */
    const char *action;    /* the API name, e.g. "GetMmsAsyncTask" (RAM action odps:<action>) */
    api_handler_fn fn;
    bool has_body;         /* the operation takes a JSON body (POST/PUT) */
};

/* The route table (routes.c), terminated by a zero entry. */
extern const struct api_route api_routes[];

/* http_handler_fn: the server calls this for every request. app is a struct api_app. */
void api_handle(void *app, const struct http_req *req, struct http_resp *resp);
/* Builds an error body {requestId, code, message, httpCode}; caller frees. */
char *api_error_body(const char *request_id, int http, const char *code, const char *msg,
                     size_t *len);
/* Finds the route for method+path; fills names/values. NULL when none. Exposed for tests. */
const struct api_route *api_route_match(const char *method, const char *path,
                                        const char **names, struct str *values, int *nparams);

/* ---- Answers ---- */
void api_ok(struct api_ctx *ctx, json_t *data);  /* steals data */
/* Records an error; returns -1 so handlers can `return api_fail(...)` from helpers. */
int api_fail(struct api_ctx *ctx, int http, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Copies an error produced below the API (store, engine) into the answer. A 500 is logged. */
void api_fail_err(struct api_ctx *ctx, const struct mms_err *err);
#define API_NOT_FOUND(ctx, obj, id) \
    api_fail((ctx), 404, "NotFound." obj, obj " %lld does not exist", (long long)(id))

/* ---- Path parameters ---- */
/* A path id: a positive int64 written as plain decimal digits, no sign, no leading zeros, no
 * padding. Anything else -> 400 InvalidParameter.<Name>. */
int api_path_id(struct api_ctx *ctx, const char *name, int64_t *out);

/* ---- Query parameters (each returns 0 ok, -1 with ctx->err set) ---- */
const char *api_query(const struct api_ctx *ctx, const char *name);   /* NULL when absent */
int api_query_str(struct api_ctx *ctx, const char *name, size_t max_len, const char **out);
int api_query_i64(struct api_ctx *ctx, const char *name, int64_t min, int64_t max, bool *present,
                  int64_t *out);
/* "true"/"false" (also "1"/"0"). */
int api_query_bool(struct api_ctx *ctx, const char *name, bool *present, bool *out);
/* A time "YYYY-MM-DD HH:mm:ss" or "YYYY-MM-DD". */
int api_query_time(struct api_ctx *ctx, const char *name, bool *present, int64_t *out);
/* One value of a closed set (e.g. a status). */
int api_query_enum(struct api_ctx *ctx, const char *name, const char *const *allowed,
                   const char **out);

/* A JSON-string array of enum values, e.g. status=["DONE","FAILED"]. Sets *n (0 when absent).
 * At most 16 values. out[] holds borrowed pointers into `allowed`. */
#define API_MAX_ENUM_VALUES 16
int api_query_enum_array(struct api_ctx *ctx, const char *name, const char *const *allowed,
                         const char **out, int *n);

struct api_page {
    bool given;        /* pageNum or pageSize was sent */
    int64_t num;       /* 1-based */
    int64_t size;
    int64_t offset;    /* (num-1)*size */
};
/* pageNum >= 1 (default 1), 1 <= pageSize <= page-size-max (default page-size-default). */
int api_page(struct api_ctx *ctx, struct api_page *pg);
/* {total, pageNum, pageSize, objectList}; steals list. */
json_t *api_page_result(const struct api_page *pg, int64_t total, json_t *list);

/* Sorting. `allowed` maps API keys to SQL column expressions (trusted text):
 *   { {"numRows", "t.num_rows"}, {"size", "t.size"}, {NULL, NULL} }
 * api_sorter_dotted reads `sorter.<key>=asc|desc` (jobs, tasks, tables, partitions);
 * api_sorter_json reads `sorter={"<key>":"asc"|"desc"}` (dbs). The result is an ORDER BY
 * clause body like "t.num_rows DESC, t.id ASC" (always ends with the tie-breaker `id_expr`),
 * written into out (size n). */
struct api_sort_key {
    const char *key;
    const char *sql;
};
int api_sorter_dotted(struct api_ctx *ctx, const struct api_sort_key *allowed,
                      const char *id_expr, char *out, size_t n);
int api_sorter_json(struct api_ctx *ctx, const struct api_sort_key *allowed,
                    const char *id_expr, char *out, size_t n);

/* ---- Body ---- */
enum api_ftype {
    AF_STRING,     /* max = max bytes (0 = API_MAX_STRING) */
    AF_INT64,
    AF_BOOL,
    AF_STR_ARRAY,  /* max = max items (0 = API_MAX_ARRAY); each string <= API_MAX_STRING */
    AF_I64_ARRAY,  /* max = max items */
    AF_STR_MAP,    /* object of string values; max = max entries */
    AF_OBJECT,     /* free-form object (config, others) */
};
struct api_field {
    const char *name;
    enum api_ftype type;
    size_t max;
};
/* Checks ctx->body against the fields: the body must be an object (an empty body counts as
 * {}), every member must be listed (400 InvalidParameter.UnknownField naming it) and of its
 * type and within its limits (400 InvalidParameter.<Field>). null members count as absent.
 * On success ctx->body is an object (created empty if the body was empty). */
int api_body_check(struct api_ctx *ctx, const struct api_field *fields);
/* Typed getters after api_body_check: absent/null -> def / NULL. Borrowed. */
const char *api_body_str(struct api_ctx *ctx, const char *name);
int64_t api_body_i64(struct api_ctx *ctx, const char *name, int64_t def);
bool api_body_bool(struct api_ctx *ctx, const char *name, bool def);
json_t *api_body_get(struct api_ctx *ctx, const char *name); /* NULL when absent or null */

/* ---- Values ---- */
/* "YYYY-MM-DD HH:mm:ss" string, or JSON null when t == 0. New reference. */
json_t *api_time(int64_t t);
/* A JSON string or null. New reference. */
json_t *api_str_or_null(const char *s);

/* PascalCase of a parameter name into out: "sourceId" -> "SourceId". */
void api_param_code(const char *name, char *out, size_t n);

#endif
