/* Jobs: CreateMmsJob, ListMmsJobs, GetMmsJob, DeleteMmsJob (POST), StartMmsJob, StopMmsJob,
 * RetryMmsJob.
 *
 * CreateMmsJob checks the request here (types, unknown fields, scope, names, partition filter
 * syntax, the data source usable) and queues a TASK_CREATE async task with the body as its
 * params; the job is built by engine/job_create.c, which checks the request against the
 * catalog. data = {asyncTaskId}; the async task's objectId and result {"jobId","taskNum"} give
 * the job.
 *
 * Semantics chosen where the reference is silent (docs/api.md repeats them):
 *   - ListMmsJobs `name` matches a substring of the job name; `stopped` takes 0/1 or
 *     true/false; `srcTableName` / `dstTableName` select jobs with a task on that table;
 *     `dstDbName` matches the job's destination or any of its tasks'. sorter.status orders by
 *     the lifecycle INIT < DOING < DONE < FAILED.
 *   - Job objects carry two extensions: `timerId` and `stopAsyncTaskId` (the latest STOP_JOB
 *     async task of the job, null when never stopped).
 *   - DeleteMmsJob: 409 Conflict.JobRunning while a task of the job is held by a live worker
 *     and the job is not stopped. Stop it first; a stopped job may be deleted at once.
 *   - StopMmsJob: the stop is recorded at once (job and tasks stopped); the STOP_JOB async task
 *     (stopAsyncTaskId) reports when the running tasks have let go.
 *   - RetryMmsJob re-runs the failed tasks and also starts the job (clears every stop flag);
 *     409 Conflict.NothingToRetry when no task of the job failed.
 *   - Start, stop and retry are idempotent on an already started/stopped job and answer
 *     data = the job id. */
#include "api/handlers.h"
#include "engine/engine.h"
#include "engine/pfilter.h"
#include "engine/split.h"
#include "store/store_asynctask.h"
#include "store/store_datasource.h"
#include "store/store_job.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <string.h>

#define LIST_NAME_MAX 256

static const struct api_field create_fields[] = {
    {"sourceId", AF_INT64, 0},
    {"sourceName", AF_STRING, JOB_NAME_MAX},
    {"name", AF_STRING, JOB_NAME_MAX},
    {"srcDbName", AF_STRING, JOB_OBJECT_NAME_MAX},
    {"srcSchemaName", AF_STRING, JOB_OBJECT_NAME_MAX},
    {"dstDbName", AF_STRING, JOB_OBJECT_NAME_MAX},
    {"dstSchemaName", AF_STRING, JOB_OBJECT_NAME_MAX},
    {"tables", AF_STR_ARRAY, 10000},
    {"tableWhiteList", AF_STR_ARRAY, 10000},
    {"tableBlackList", AF_STR_ARRAY, 10000},
    {"partitions", AF_I64_ARRAY, 10000},
    {"partitionFilters", AF_STR_MAP, 1000},
    {"tableMapping", AF_STR_MAP, 10000},
    {"columnMapping", AF_STR_MAP, 10000},
    {"enableSchemaMigration", AF_BOOL, 0},
    {"enableDataMigration", AF_BOOL, 0},
    {"enableVerification", AF_BOOL, 0},
    {"increment", AF_BOOL, 0},
    {"schemaOnly", AF_BOOL, 0},
    {"eta", AF_STRING, 32},
    {"taskType", AF_STRING, 64},
    {"tunnelQuota", AF_STRING, JOB_OBJECT_NAME_MAX},
    {"others", AF_OBJECT, 0},
    {NULL, AF_STRING, 0},
};

static void wake(struct api_ctx *ctx)
{
    if (ctx->app->engine)
        engine_wake(ctx->app->engine);
}

/* Partition filters are parsed here so that a syntax error is a 400 at once. */
static int check_filters(struct api_ctx *ctx, json_t *filters)
{
    const char *table;
    json_t *v;
    json_object_foreach(filters, table, v)
    {
        struct pfilter *f = NULL;
        struct mms_err e = {0};
        if (pfilter_parse(json_string_value(v), &f, &e) < 0)
            return api_fail(ctx, 400, "InvalidParameter.PartitionFilters",
                            "partitionFilters[%.64s]: %s", table, e.msg);
        pfilter_free(f);
    }
    return 0;
}

void api_job_create(struct api_ctx *ctx)
{
    int64_t source_id, async_id = 0;
    struct job_request r;
    struct mms_err err = {0};
    if (api_path_id(ctx, "sourceId", &source_id) < 0)
        return;
    if (store_datasource_check_usable(ctx->db, source_id, &err) < 0) {
        api_fail_err(ctx, &err);
        return;
    }
    if (api_body_check(ctx, create_fields) < 0)
        return;
    if (job_request_parse(ctx->body, &r, &err) < 0) {
        api_fail_err(ctx, &err);
        return;
    }
    if (r.source_id && r.source_id != source_id) {
        api_fail(ctx, 400, "InvalidParameter.SourceId",
                 "sourceId %lld in the body differs from the path's sourceId %lld",
                 (long long)r.source_id, (long long)source_id);
        return;
    }
    if (r.source_name) {
        struct datasource ds;
        int rc = store_datasource_get(ctx->db, source_id, &ds, &err);
        if (rc < 0) {
            api_fail_err(ctx, &err);
            return;
        }
        if (rc == 1) {
            API_NOT_FOUND(ctx, "DataSource", source_id);
            return;
        }
        bool same = strcmp(ds.name, r.source_name) == 0;
        datasource_release(&ds);
        if (!same) {
            api_fail(ctx, 400, "InvalidParameter.SourceName",
                     "sourceName is not the name of data source %lld", (long long)source_id);
            return;
        }
    }
    if (check_filters(ctx, r.pfilters) < 0)
        return;
    if (store_async_create(ctx->db, source_id, "TASK_CREATE", 0, ctx->body, &async_id, &err) <
        0) {
        api_fail_err(ctx, &err);
        return;
    }
    wake(ctx);
    api_ok(ctx, json_pack("{s:I}", "asyncTaskId", (json_int_t)async_id));
}

/* ---- Lists ---- */

/* Each sorter.<key> at most once (and so a small, closed set of ORDER BY texts). */
static int sorter_once(struct api_ctx *ctx)
{
    for (size_t i = 0; i < ctx->req->nquery; i++) {
        const char *k = ctx->req->query[i].key;
        if (strncmp(k, "sorter.", 7) != 0)
            continue;
        for (size_t j = 0; j < i; j++)
            if (strcmp(ctx->req->query[j].key, k) == 0)
                return api_fail(ctx, 400, "InvalidParameter.Sorter", "%.64s is given twice", k);
    }
    return 0;
}

/* 404 NotFound.DataSource unless the source exists. */
static int source_exists(struct api_ctx *ctx, int64_t source_id)
{
    struct datasource ds;
    struct mms_err err = {0};
    int rc = store_datasource_get(ctx->db, source_id, &ds, &err);
    if (rc < 0) {
        api_fail_err(ctx, &err);
        return -1;
    }
    if (rc == 1)
        return API_NOT_FOUND(ctx, "DataSource", source_id);
    datasource_release(&ds);
    return 0;
}

void api_job_list(struct api_ctx *ctx)
{
    static const char *const statuses[] = {"INIT", "DOING", "DONE", "FAILED", NULL};
    static const struct api_sort_key sorts[] = {
        {"status", "CASE j.status WHEN 'INIT' THEN 0 WHEN 'DOING' THEN 1 WHEN 'DONE' THEN 2"
                   " ELSE 3 END"},
        {NULL, NULL},
    };
    int64_t source_id;
    struct job_filter f = {.stopped = -1};
    struct api_page pg;
    char order[512];
    bool has_stopped = false, stopped = false, has_timer = false;
    if (api_path_id(ctx, "sourceId", &source_id) < 0 ||
        api_query_str(ctx, "name", JOB_NAME_MAX, &f.name) < 0 ||
        api_query_str(ctx, "srcDbName", LIST_NAME_MAX, &f.src_db) < 0 ||
        api_query_str(ctx, "srcTableName", LIST_NAME_MAX, &f.src_table) < 0 ||
        api_query_str(ctx, "dstDbName", LIST_NAME_MAX, &f.dst_db) < 0 ||
        api_query_str(ctx, "dstTableName", LIST_NAME_MAX, &f.dst_table) < 0 ||
        api_query_enum(ctx, "status", statuses, &f.status) < 0 ||
        api_query_bool(ctx, "stopped", &has_stopped, &stopped) < 0 ||
        api_query_i64(ctx, "timerId", 1, INT64_MAX, &has_timer, &f.timer_id) < 0 ||
        api_page(ctx, &pg) < 0 || sorter_once(ctx) < 0 ||
        api_sorter_dotted(ctx, sorts, "j.id", order, sizeof order) < 0)
        return;
    if (source_exists(ctx, source_id) < 0)
        return;
    if (has_stopped)
        f.stopped = stopped ? 1 : 0;
    if (!has_timer)
        f.timer_id = 0;
    f.order = order;
    f.offset = pg.offset;
    f.limit = pg.size;
    json_t *list = NULL;
    int64_t total = 0;
    struct mms_err err = {0};
    if (store_job_list(ctx->db, source_id, &f, &list, &total, &err) < 0) {
        api_fail_err(ctx, &err);
        return;
    }
    api_ok(ctx, api_page_result(&pg, total, list));
}

/* ---- One job ---- */

static int job_ids(struct api_ctx *ctx, int64_t *source_id, int64_t *job_id)
{
    if (api_path_id(ctx, "sourceId", source_id) < 0 || api_path_id(ctx, "jobId", job_id) < 0)
        return -1;
    return 0;
}

/* Answers data = job id, 404 or the store's error for a control operation's return code. */
static void answer(struct api_ctx *ctx, int rc, int64_t job_id, const struct mms_err *err)
{
    if (rc < 0)
        api_fail_err(ctx, err);
    else if (rc == 1)
        API_NOT_FOUND(ctx, "Job", job_id);
    else
        api_ok(ctx, json_integer(job_id));
}

void api_job_get(struct api_ctx *ctx)
{
    int64_t source_id, job_id;
    if (job_ids(ctx, &source_id, &job_id) < 0)
        return;
    json_t *j = NULL;
    struct mms_err err = {0};
    int rc = store_job_get(ctx->db, source_id, job_id, &j, &err);
    if (rc == 0)
        api_ok(ctx, j);
    else
        answer(ctx, rc, job_id, &err);
}

void api_job_delete(struct api_ctx *ctx)
{
    int64_t source_id, job_id;
    if (job_ids(ctx, &source_id, &job_id) < 0)
        return;
    struct mms_err err = {0};
    int rc = store_job_delete(ctx->db, source_id, job_id, time_now_ms(), &err);
    answer(ctx, rc, job_id, &err);
}

void api_job_start(struct api_ctx *ctx)
{
    int64_t source_id, job_id;
    if (job_ids(ctx, &source_id, &job_id) < 0)
        return;
    struct mms_err err = {0};
    int rc = store_job_start(ctx->db, source_id, job_id, &err);
    if (rc == 0)
        wake(ctx);
    answer(ctx, rc, job_id, &err);
}

void api_job_stop(struct api_ctx *ctx)
{
    int64_t source_id, job_id, async_id = 0;
    if (job_ids(ctx, &source_id, &job_id) < 0)
        return;
    struct mms_err err = {0};
    int rc = store_job_stop(ctx->db, source_id, job_id, &async_id, &err);
    if (rc == 0)
        wake(ctx);
    answer(ctx, rc, job_id, &err);
}

void api_job_retry(struct api_ctx *ctx)
{
    int64_t source_id, job_id, n = 0;
    if (job_ids(ctx, &source_id, &job_id) < 0)
        return;
    struct mms_err err = {0};
    int rc = store_job_retry(ctx->db, source_id, job_id, &n, &err);
    if (rc == 0)
        wake(ctx);
    answer(ctx, rc, job_id, &err);
}
