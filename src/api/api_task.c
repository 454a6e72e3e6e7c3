/* PLACEHOLDER: replaced by the module owner. */
#include "api/handlers.h"

void api_task_list(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_task_list is not available yet");
}

void api_task_get(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_task_get is not available yet");
}

void api_task_retry(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_task_retry is not available yet");
}

void api_task_logs(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_task_logs is not available yet");
}

