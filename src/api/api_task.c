/* Tasks: ListMmsTasks, GetMmsTask, RetryMmsTask, ListMmsTaskLogs.
 *
 * Semantics chosen where the reference is silent (docs/api.md repeats them):
 *   - ListMmsTasks `jobName` matches a substring of the job name; `partition` selects the tasks
 *     that move the partition with exactly that value ("p1=1/p2=abc"); `status` is one task
 *     status (400 naming the valid ones otherwise). sorter.status orders by the pipeline
 *     (INIT < SCHEMA_* < DATA_* < VERIFICATION_* < DONE), sorter.startTime by start time (never
 *     started first in ascending order).
 *   - Task objects carry the extensions rowsDone, rowsTotal, bytesDone, errorMsg, schemaOnly and
 *     partitions (the values of the partitions the task moves; [] for a whole table).
 *     `running` is true while a live worker holds the task.
 *   - RetryMmsTask: only a *_FAILED task (409 Conflict.TaskNotFailed otherwise); it restarts at
 *     its failed stage (a verification failure re-runs data). The job's stopped flag is left
 *     as it is. data = the task id.
 *   - ListMmsTaskLogs: every log of the task, oldest first (no paging, as in the reference). */
#include "api/handlers.h"
#include "engine/engine.h"
#include "engine/task_state.h"
#include "store/store_datasource.h"
#include "store/store_task.h"
#include "store/store_tasklog.h"
#include "util/timeutil.h"

#include <string.h>

#define LIST_NAME_MAX 256

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

void api_task_list(struct api_ctx *ctx)
{
    static const struct api_sort_key sorts[] = {
        {"startTime", "t.start_time"},
        {"status", "CASE t.status WHEN 'INIT' THEN 0 WHEN 'SCHEMA_DOING' THEN 1"
                   " WHEN 'SCHEMA_DONE' THEN 2 WHEN 'SCHEMA_FAILED' THEN 3"
                   " WHEN 'DATA_DOING' THEN 4 WHEN 'DATA_DONE' THEN 5 WHEN 'DATA_FAILED' THEN 6"
                   " WHEN 'VERIFICATION_DOING' THEN 7 WHEN 'VERIFICATION_DONE' THEN 8"
                   " WHEN 'VERIFICATION_FAILED' THEN 9 ELSE 10 END"},
        {NULL, NULL},
    };
    int64_t source_id;
    struct task_filter f = {0};
    struct api_page pg;
    char order[1024];
    bool has_job = false;
    if (api_path_id(ctx, "sourceId", &source_id) < 0 ||
        api_query_i64(ctx, "jobId", 1, INT64_MAX, &has_job, &f.job_id) < 0 ||
        api_query_str(ctx, "jobName", 128, &f.job_name) < 0 ||
        api_query_str(ctx, "srcDbName", LIST_NAME_MAX, &f.src_db) < 0 ||
        api_query_str(ctx, "srcTableName", LIST_NAME_MAX, &f.src_table) < 0 ||
        api_query_str(ctx, "dstDbName", LIST_NAME_MAX, &f.dst_db) < 0 ||
        api_query_str(ctx, "dstTableName", LIST_NAME_MAX, &f.dst_table) < 0 ||
        api_query_str(ctx, "partition", 0, &f.partition) < 0 ||
        api_query_enum(ctx, "status", task_statuses, &f.status) < 0 || api_page(ctx, &pg) < 0 ||
        sorter_once(ctx) < 0 || api_sorter_dotted(ctx, sorts, "t.id", order, sizeof order) < 0)
        return;
    if (!has_job)
        f.job_id = 0;
    struct datasource ds;
    struct mms_err err = {0};
    int rc = store_datasource_get(ctx->db, source_id, &ds, &err);
    if (rc < 0) {
        api_fail_err(ctx, &err);
        return;
    }
    if (rc == 1) {
        API_NOT_FOUND(ctx, "DataSource", source_id);
        return;
    }
    datasource_release(&ds);
    f.order = order;
    f.offset = pg.offset;
    f.limit = pg.size;
    json_t *list = NULL;
    int64_t total = 0;
    if (store_task_list(ctx->db, source_id, &f, time_now_ms(), &list, &total, &err) < 0) {
        api_fail_err(ctx, &err);
        return;
    }
    api_ok(ctx, api_page_result(&pg, total, list));
}

static int task_ids(struct api_ctx *ctx, int64_t *source_id, int64_t *task_id)
{
    if (api_path_id(ctx, "sourceId", source_id) < 0 || api_path_id(ctx, "taskId", task_id) < 0)
        return -1;
    return 0;
}

void api_task_get(struct api_ctx *ctx)
{
    int64_t source_id, task_id;
    if (task_ids(ctx, &source_id, &task_id) < 0)
        return;
    json_t *t = NULL;
    struct mms_err err = {0};
    int rc = store_task_get(ctx->db, source_id, task_id, time_now_ms(), &t, &err);
    if (rc < 0)
        api_fail_err(ctx, &err);
    else if (rc == 1)
        API_NOT_FOUND(ctx, "Task", task_id);
    else
        api_ok(ctx, t);
}

void api_task_retry(struct api_ctx *ctx)
{
    int64_t source_id, task_id;
    if (task_ids(ctx, &source_id, &task_id) < 0)
        return;
    struct mms_err err = {0};
    int rc = store_task_retry(ctx->db, source_id, task_id, &err);
    if (rc < 0) {
        api_fail_err(ctx, &err);
    } else if (rc == 1) {
        API_NOT_FOUND(ctx, "Task", task_id);
    } else {
        if (ctx->app->engine)
            engine_wake(ctx->app->engine);
        api_ok(ctx, json_integer(task_id));
    }
}

void api_task_logs(struct api_ctx *ctx)
{
    int64_t source_id, task_id;
    if (task_ids(ctx, &source_id, &task_id) < 0)
        return;
    struct mms_err err = {0};
    int rc = store_task_exists(ctx->db, source_id, task_id, &err);
    if (rc < 0) {
        api_fail_err(ctx, &err);
        return;
    }
    if (rc == 1) {
        API_NOT_FOUND(ctx, "Task", task_id);
        return;
    }
    json_t *logs = store_tasklog_list(ctx->db, task_id, &err);
    if (!logs) {
        api_fail_err(ctx, &err);
        return;
    }
    api_ok(ctx, logs);
}
