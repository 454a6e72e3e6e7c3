/* PLACEHOLDER: replaced by the module owner. */
#include "api/handlers.h"

void api_job_create(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_job_create is not available yet");
}

void api_job_list(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_job_list is not available yet");
}

void api_job_get(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_job_get is not available yet");
}

void api_job_delete(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_job_delete is not available yet");
}

void api_job_start(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_job_start is not available yet");
}

void api_job_stop(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_job_stop is not available yet");
}

void api_job_retry(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_job_retry is not available yet");
}

