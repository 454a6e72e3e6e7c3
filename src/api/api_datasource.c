/* Data sources: CreateMmsDataSource, ListMmsDataSources, GetMmsDataSource,
 * UpdateMmsDataSource, DeleteMmsDataSource (ListMmsDataSourceConfigItems: api_configitems.c).
 *
 * Status and operations:
 *   Create            -> STARTING, a DATASOURCE_START async task is queued
 *   Update START      -> STARTING + DATASOURCE_START: connects to and pings the source and the
 *                        destination -> STARTED, or START_FAILED with errMsg
 *   Update STOP       -> STOPPING + DATASOURCE_STOP -> STOPPED (no agent to stop; a STOPPED
 *                        source refuses new scans and jobs with 409 Conflict.DataSourceStopped)
 *   Update test=true  -> DATASOURCE_TEST on the stored config (with UPDATE_CONFIG: on the new
 *                        one, saved first); the status does not change
 *   Update RENAME, UPDATE_CONFIG without test: immediate; the returned async task is created
 *                        DONE (type DATASOURCE_UPDATE)
 * START or STOP while a START or STOP is in flight (STARTING/STOPPING) -> 409
 * Conflict.DataSourceBusy, so that the final status is always the one last asked for.
 * A config change does not change the status; START again to re-check it.
 *
 * ListMmsDataSources without pageNum and pageSize returns every row (pageNum 1, pageSize =
 * the number returned), up to LIST_ALL_MAX rows; past that, page with pageNum/pageSize. */
#include "api/handlers.h"
#include "conn/configitems.h"
#include "conn/conn.h"
#include "engine/engine.h"
#include "store/store_asynctask.h"
#include "store/store_datasource.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_BYTES 128
#define ATTR_MAX_BYTES 256 /* region, networklink */
#define TYPE_MAX_BYTES 64
#define LIST_ALL_MAX 10000 /* rows returned by a List without paging */

/* ---- Helpers ---------------------------------------------------------------------------- */

static int fail_store(struct api_ctx *ctx, const struct mms_err *err)
{
    api_fail_err(ctx, err);
    return -1;
}

/* A display name: 1..128 bytes, no control characters. */
static int check_name(struct api_ctx *ctx, const char *name)
{
    if (!name)
        return api_fail(ctx, 400, "InvalidParameter.Name", "name is required");
    size_t n = strlen(name);
    if (n == 0 || n > NAME_MAX_BYTES)
        return api_fail(ctx, 400, "InvalidParameter.Name", "name must be 1..%d bytes",
                        NAME_MAX_BYTES);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return api_fail(ctx, 400, "InvalidParameter.Name",
                            "name must not contain control characters");
    return 0;
}

/* The connector of a type (case-insensitive) that also has a config schema, or 400. */
static const struct conn_ops *find_type(struct api_ctx *ctx, const char *code, const char *param,
                                        const char *type, const struct config_item **items)
{
    char types[256];
    configitems_types(types, sizeof types);
    if (!type || !*type) {
        api_fail(ctx, 400, code, "%s is required; supported: %s", param, types);
        return NULL;
    }
    const struct conn_ops *ops = conn_find(type);
    *items = configitems_find(type);
    if (!ops || !*items) {
        bool printable = strlen(type) <= TYPE_MAX_BYTES;
        for (const char *c = type; printable && *c; c++)
            printable = isprint((unsigned char)*c);
        api_fail(ctx, 400, code, "%s '%s' is not supported; supported: %s", param,
                 printable ? type : "?", types);
        return NULL;
    }
    return ops;
}

static json_t *str_or_null_empty(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static bool is_failed(const char *status)
{
    return strcmp(status, "START_FAILED") == 0 || strcmp(status, "STOP_FAILED") == 0;
}

/* The DataSource object (mms-api.md 6.1). list: add scanStatus/scanErrMsg. items: add the
 * masked config (withConfig=true); NULL = none. */
static json_t *datasource_json(const struct datasource *d, const struct datasource_counts *c,
                               bool list, const struct config_item *items, enum config_lang lang)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(d->id));
    json_object_set_new(o, "name", json_string(d->name));
    json_object_set_new(o, "type", json_string(d->type));
    json_object_set_new(o, "region", str_or_null_empty(d->region));
    json_object_set_new(o, "networklink", str_or_null_empty(d->networklink));
    json_object_set_new(o, "status", json_string(d->status));
    json_object_set_new(o, "errMsg",
                        is_failed(d->status) ? api_str_or_null(d->err_msg) : json_null());
    json_object_set_new(o, "agentIsOnline", json_boolean(strcmp(d->status, "STARTED") == 0));
    json_object_set_new(o, "createTime", api_time(d->create_time));
    json_object_set_new(o, "lastUpdateTime", api_time(d->last_update_time));
    json_object_set_new(o, "scanId", d->scan_id ? json_integer(d->scan_id) : json_null());
    if (list) {
        json_object_set_new(o, "scanStatus", api_str_or_null(d->scan_status));
        json_object_set_new(o, "scanErrMsg", api_str_or_null(d->scan_err_msg));
    }
    const char *project = json_string_value(json_object_get(d->config, "dst.project"));
    json_object_set_new(o, "dstProject", api_str_or_null(project));
    json_t *projects = json_array();
    if (project)
        json_array_append_new(projects, json_string(project));
    json_object_set_new(o, "dstProjects", projects);
    json_object_set_new(o, "dbNum", json_integer(c->dbs));
    json_object_set_new(o, "tableNum", json_integer(c->tables));
    json_object_set_new(o, "partitionNum", json_integer(c->partitions));
    json_object_set_new(o, "tablesDoingNum", json_integer(c->tables_doing));
    json_object_set_new(o, "tablesDoneNum", json_integer(c->tables_done));
    json_object_set_new(o, "tablesFailedNum", json_integer(c->tables_failed));
    json_object_set_new(o, "tablesPartDoneNum", json_integer(c->tables_part_done));
    json_object_set_new(o, "partitionsDoingNum", json_integer(c->partitions_doing));
    json_object_set_new(o, "partitionsDoneNum", json_integer(c->partitions_done));
    json_object_set_new(o, "partitionsFailedNum", json_integer(c->partitions_failed));
    if (items)
        json_object_set_new(o, "config", configitems_to_json(items, lang, d->config));
    return o;
}

/* ---- CreateMmsDataSource ---------------------------------------------------------------- */

void api_datasource_create(struct api_ctx *ctx)
{
    static const struct api_field fields[] = {
        {"name", AF_STRING, NAME_MAX_BYTES},
        {"type", AF_STRING, TYPE_MAX_BYTES},
        {"config", AF_OBJECT, 0},
        {"networklink", AF_STRING, ATTR_MAX_BYTES},
        {"region", AF_STRING, ATTR_MAX_BYTES},
        {NULL, 0, 0},
    };
    struct mms_err err = {0};
    json_t *empty = NULL;
    if (api_body_check(ctx, fields) < 0)
        return;
    const char *name = api_body_str(ctx, "name");
    if (check_name(ctx, name) < 0)
        return;
    const struct config_item *items = NULL;
    const struct conn_ops *ops =
        find_type(ctx, "InvalidParameter.Type", "type", api_body_str(ctx, "type"), &items);
    if (!ops)
        return;
    json_t *config = api_body_get(ctx, "config");
    if (!config)
        config = empty = json_object();
    if (configitems_validate(items, config, &err) < 0) {
        api_fail_err(ctx, &err);
        goto out;
    }

    int64_t id = 0, async_id = 0;
    bool taken = false;
    if (db_begin(ctx->db, &err) < 0 ||
        store_datasource_name_taken(ctx->db, name, 0, &taken, &err) < 0) {
        fail_store(ctx, &err);
        goto out;
    }
    if (taken) {
        api_fail(ctx, 409, "Conflict.DataSourceName", "a data source named '%s' already exists",
                 name);
        goto out;
    }
    if (store_datasource_insert(ctx->db, name, ops->type, api_body_str(ctx, "region"),
                                api_body_str(ctx, "networklink"), config, "STARTING", &id,
                                &err) < 0 ||
        store_async_create(ctx->db, id, "DATASOURCE_START", id, NULL, &async_id, &err) < 0 ||
        db_commit(ctx->db, &err) < 0) {
        fail_store(ctx, &err);
        goto out;
    }
    if (ctx->app->engine)
        engine_wake(ctx->app->engine);
    log_info("data source %lld created (type %s), start queued as async task %lld", (long long)id,
             ops->type, (long long)async_id);
    api_ok(ctx, json_pack("{s:I}", "dataSourceId", (json_int_t)id));
out:
    db_rollback(ctx->db);
    json_decref(empty);
}

/* ---- ListMmsDataSources ----------------------------------------------------------------- */

void api_datasource_list(struct api_ctx *ctx)
{
    struct datasource_filter f = {0};
    struct api_page pg;
    struct mms_err err = {0};
    char type_up[TYPE_MAX_BYTES + 1];
    const char *type = NULL;
    if (api_query_str(ctx, "name", NAME_MAX_BYTES, &f.name) < 0 ||
        api_query_str(ctx, "type", TYPE_MAX_BYTES, &type) < 0 ||
        api_query_str(ctx, "region", ATTR_MAX_BYTES, &f.region) < 0 || api_page(ctx, &pg) < 0)
        return;
    if (type) {
        /* Types are stored upper-case; the filter is case-insensitive like Create. */
        size_t i = 0;
        for (; type[i]; i++)
            type_up[i] = (char)toupper((unsigned char)type[i]);
        type_up[i] = '\0';
        f.type = type_up;
    }
    int64_t offset = pg.given ? pg.offset : 0;
    int64_t limit = pg.given ? pg.size : LIST_ALL_MAX;
    struct datasource *v = NULL;
    size_t n = 0;
    int64_t total = 0;
    if (store_datasource_list(ctx->db, &f, offset, limit, &v, &n, &total, &err) < 0) {
        fail_store(ctx, &err);
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        struct datasource_counts c;
        if (store_datasource_counts(ctx->db, v[i].id, &c, &err) < 0) {
            json_decref(list);
            datasource_list_free(v, n);
            fail_store(ctx, &err);
            return;
        }
        json_array_append_new(list, datasource_json(&v[i], &c, true, NULL, CONFIG_LANG_ZH_CN));
    }
    datasource_list_free(v, n);
    if (!pg.given) {
        pg.num = 1;
        pg.size = (int64_t)n;
    }
    api_ok(ctx, api_page_result(&pg, total, list));
}

/* ---- GetMmsDataSource ------------------------------------------------------------------- */

static const char *const langs[] = {"zh_CN", "en_US", NULL};

void api_datasource_get(struct api_ctx *ctx)
{
    int64_t id;
    bool with_config = false;
    const char *lang_s = NULL;
    enum config_lang lang = CONFIG_LANG_ZH_CN;
    if (api_path_id(ctx, "sourceId", &id) < 0 ||
        api_query_bool(ctx, "withConfig", NULL, &with_config) < 0 ||
        api_query_enum(ctx, "lang", langs, &lang_s) < 0)
        return;
    configitems_lang(lang_s, &lang);
    struct datasource d;
    struct datasource_counts c;
    struct mms_err err = {0};
    int rc = store_datasource_get(ctx->db, id, &d, &err);
    if (rc < 0) {
        fail_store(ctx, &err);
        return;
    }
    if (rc == 1) {
        API_NOT_FOUND(ctx, "DataSource", id);
        return;
    }
    if (store_datasource_counts(ctx->db, id, &c, &err) < 0) {
        fail_store(ctx, &err);
        goto out;
    }
    const struct config_item *items = NULL;
    if (with_config) {
        items = configitems_find(d.type);
        if (!items) {
            /* A type whose connector is gone: show the stored keys, masked, as plain items. */
            json_t *o = datasource_json(&d, &c, false, NULL, lang);
            json_t *masked = configitems_mask(NULL, d.config);
            json_t *arr = json_array();
            const char *k;
            json_t *v;
            json_object_foreach(masked, k, v)
            {
                json_array_append_new(arr, json_pack("{s:s, s:O}", "key", k, "value", v));
            }
            json_decref(masked);
            json_object_set_new(o, "config", arr);
            api_ok(ctx, o);
            goto out;
        }
    }
    api_ok(ctx, datasource_json(&d, &c, false, items, lang));
out:
    datasource_release(&d);
}

/* ---- UpdateMmsDataSource ---------------------------------------------------------------- */

static const char *const actions[] = {"UPDATE_CONFIG", "START", "STOP", "RENAME", NULL};

static bool eq(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

/* Checks the combination of body fields; 0 or -1 with a 400 naming the offending field. */
static int check_update_body(struct api_ctx *ctx, const char *action, const char *name,
                             json_t *config, bool test)
{
    if (action) {
        bool known = false;
        for (int i = 0; actions[i] && !known; i++)
            known = strcmp(actions[i], action) == 0;
        if (!known)
            return api_fail(ctx, 400, "InvalidParameter.Action",
                            "action must be one of: UPDATE_CONFIG, START, STOP, RENAME");
    } else if (!test) {
        return api_fail(ctx, 400, "InvalidParameter.Action",
                        "action is required (UPDATE_CONFIG, START, STOP or RENAME) unless the "
                        "body is only {\"test\": true}");
    }
    if (name && !eq(action, "RENAME"))
        return api_fail(ctx, 400, "InvalidParameter.Name", "name is only taken with action RENAME");
    if (config && !eq(action, "UPDATE_CONFIG"))
        return api_fail(ctx, 400, "InvalidParameter.Config",
                        "config is only taken with action UPDATE_CONFIG");
    if (test && action && !eq(action, "UPDATE_CONFIG"))
        return api_fail(ctx, 400, "InvalidParameter.Test",
                        "test is only taken alone or with action UPDATE_CONFIG, not with %s",
                        action);
    if (eq(action, "RENAME") && check_name(ctx, name) < 0)
        return -1;
    if (eq(action, "UPDATE_CONFIG") && !config)
        return api_fail(ctx, 400, "InvalidParameter.Config",
                        "config is required with action UPDATE_CONFIG");
    return 0;
}

void api_datasource_update(struct api_ctx *ctx)
{
    static const struct api_field fields[] = {
        {"action", AF_STRING, 32},
        {"name", AF_STRING, NAME_MAX_BYTES},
        {"config", AF_OBJECT, 0},
        {"test", AF_BOOL, 0},
        {NULL, 0, 0},
    };
    int64_t id;
    if (api_path_id(ctx, "sourceId", &id) < 0 || api_body_check(ctx, fields) < 0)
        return;
    const char *action = api_body_str(ctx, "action");
    const char *name = api_body_str(ctx, "name");
    json_t *config = api_body_get(ctx, "config");
    bool test = api_body_bool(ctx, "test", false);
    if (check_update_body(ctx, action, name, config, test) < 0)
        return;

    struct mms_err err = {0};
    struct datasource d = {0};
    json_t *merged = NULL, *params = NULL, *result = NULL;
    int64_t async_id = 0;
    bool queued = false, loaded = false;
    if (db_begin(ctx->db, &err) < 0) {
        fail_store(ctx, &err);
        goto out;
    }
    int rc = store_datasource_get(ctx->db, id, &d, &err);
    if (rc < 0) {
        fail_store(ctx, &err);
        goto out;
    }
    if (rc == 1) {
        API_NOT_FOUND(ctx, "DataSource", id);
        goto out;
    }
    loaded = true;

    if (eq(action, "RENAME")) {
        bool taken = false;
        if (store_datasource_name_taken(ctx->db, name, id, &taken, &err) < 0) {
            fail_store(ctx, &err);
            goto out;
        }
        if (taken) {
            api_fail(ctx, 409, "Conflict.DataSourceName", "a data source named '%s' already exists",
                     name);
            goto out;
        }
        if (store_datasource_rename(ctx->db, id, name, &err) < 0) {
            fail_store(ctx, &err);
            goto out;
        }
        result = json_pack("{s:s, s:s}", "action", "RENAME", "name", name);
    } else if (eq(action, "START") || eq(action, "STOP")) {
        bool start = eq(action, "START");
        if (strcmp(d.status, "STARTING") == 0 || strcmp(d.status, "STOPPING") == 0) {
            api_fail(ctx, 409, "Conflict.DataSourceBusy",
                     "data source %lld is %s; wait for that operation to finish", (long long)id,
                     d.status);
            goto out;
        }
        if (store_datasource_set_status(ctx->db, id, start ? "STARTING" : "STOPPING", NULL, &err) <
            0) {
            fail_store(ctx, &err);
            goto out;
        }
        params = json_object();
        if (store_async_create(ctx->db, id, start ? "DATASOURCE_START" : "DATASOURCE_STOP", id,
                               params, &async_id, &err) < 0) {
            fail_store(ctx, &err);
            goto out;
        }
        queued = true;
    } else {
        /* UPDATE_CONFIG (with or without test), or test alone on the stored config. */
        json_t *tested = d.config;
        if (eq(action, "UPDATE_CONFIG")) {
            const struct config_item *items = configitems_find(d.type);
            if (!items) {
                api_fail(ctx, 409, "Conflict.DataSourceType",
                         "data sources of type %s cannot be configured by this server", d.type);
                goto out;
            }
            merged = configitems_merge(items, d.config, config);
            if (configitems_validate(items, merged, &err) < 0) {
                api_fail_err(ctx, &err);
                goto out;
            }
            if (store_datasource_set_config(ctx->db, id, merged, &err) < 0) {
                fail_store(ctx, &err);
                goto out;
            }
            tested = merged;
        }
        if (test) {
            /* The params row is in the store too: the tested config goes there sealed. */
            json_t *sealed = json_deep_copy(tested);
            if (store_datasource_config_seal(d.type, sealed, &err) < 0) {
                json_decref(sealed);
                fail_store(ctx, &err);
                goto out;
            }
            params = json_pack("{s:o}", "config", sealed);
            if (store_async_create(ctx->db, id, "DATASOURCE_TEST", id, params, &async_id, &err) <
                0) {
                fail_store(ctx, &err);
                goto out;
            }
            queued = true;
        } else {
            result = json_pack("{s:s}", "action", "UPDATE_CONFIG");
        }
    }
    if (!queued && store_async_create_done(ctx->db, id, "DATASOURCE_UPDATE", id, result, &async_id,
                                           &err) < 0) {
        fail_store(ctx, &err);
        goto out;
    }
    if (db_commit(ctx->db, &err) < 0) {
        fail_store(ctx, &err);
        goto out;
    }
    if (queued && ctx->app->engine)
        engine_wake(ctx->app->engine);
    log_info("data source %lld: %s%s -> async task %lld", (long long)id, action ? action : "test",
             action && test ? " + test" : "", (long long)async_id);
    api_ok(ctx, json_pack("{s:I, s:I}", "sourceId", (json_int_t)id, "asyncTaskId",
                          (json_int_t)async_id));
out:
    db_rollback(ctx->db);
    if (loaded)
        datasource_release(&d);
    json_decref(merged);
    json_decref(params);
    json_decref(result);
}

/* ---- DeleteMmsDataSource ---------------------------------------------------------------- */

void api_datasource_delete(struct api_ctx *ctx)
{
    int64_t id, running = 0;
    if (api_path_id(ctx, "sourceId", &id) < 0)
        return;
    struct mms_err err = {0};
    /* One write transaction: no worker can claim a task of this source between the check and
     * the delete. */
    if (db_begin(ctx->db, &err) < 0 ||
        store_datasource_running_tasks(ctx->db, id, time_now_ms(), &running, &err) < 0) {
        fail_store(ctx, &err);
        goto out;
    }
    if (running > 0) {
        api_fail(ctx, 409, "Conflict.JobRunning",
                 "data source %lld has %lld running task(s); stop its jobs first", (long long)id,
                 (long long)running);
        goto out;
    }
    int rc = store_datasource_delete(ctx->db, id, &err);
    if (rc < 0) {
        fail_store(ctx, &err);
        goto out;
    }
    if (rc == 1) {
        API_NOT_FOUND(ctx, "DataSource", id);
        goto out;
    }
    if (db_commit(ctx->db, &err) < 0) {
        fail_store(ctx, &err);
        goto out;
    }
    log_info("data source %lld deleted", (long long)id);
    api_ok(ctx, json_integer(id));
out:
    db_rollback(ctx->db);
}
