/* PLACEHOLDER: replaced by the module owner. */
#include "api/handlers.h"

void api_datasource_create(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_datasource_create is not available yet");
}

void api_datasource_list(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_datasource_list is not available yet");
}

void api_datasource_get(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_datasource_get is not available yet");
}

void api_datasource_update(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_datasource_update is not available yet");
}

void api_datasource_delete(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_datasource_delete is not available yet");
}

void api_configitems_list(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_configitems_list is not available yet");
}

