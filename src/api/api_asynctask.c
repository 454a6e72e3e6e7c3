/* GetMmsAsyncTask: the hot read path (bench/api.sh). One indexed lookup by primary key with a
 * cached prepared statement; an async task of another data source is "not found". */
#include "api/handlers.h"
#include "store/store_asynctask.h"

void api_asynctask_get(struct api_ctx *ctx)
{
    int64_t source_id, id;
    if (api_path_id(ctx, "sourceId", &source_id) < 0 || api_path_id(ctx, "asyncTaskId", &id) < 0)
        return;
    struct async_task t;
    struct mms_err err = {0};
    int rc = store_async_get(ctx->db, source_id, id, &t, &err);
    if (rc < 0) {
        api_fail_err(ctx, &err);
        return;
    }
    if (rc == 1) {
        API_NOT_FOUND(ctx, "AsyncTask", id);
        return;
    }
    api_ok(ctx, async_task_to_json(&t));
    async_task_release(&t);
}
