/* PLACEHOLDER: replaced by the module owner. */
#include "api/handlers.h"

void api_scan_create(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_scan_create is not available yet");
}

void api_scan_get(struct api_ctx *ctx)
{
    api_fail(ctx, 501, "NotImplemented", "api_scan_get is not available yet");
}

