/* PLACEHOLDER: replaced by the module owner. */
#include "api/handlers.h"

void api_db_list(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_db_list is not available yet");
}

void api_db_get(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_db_get is not available yet");
}

void api_db_update(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_db_update is not available yet");
}

void api_table_list(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_table_list is not available yet");
}

void api_table_get(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_table_get is not available yet");
}

void api_table_update(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_table_update is not available yet");
}

void api_tables_update(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_tables_update is not available yet");
}

void api_partition_list(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_partition_list is not available yet");
}

void api_partition_get(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_partition_get is not available yet");
}

