/* Metadata scans: CreateMmsFetchMetadataJob queues a scan row (SCAN_DOING) that a control
 * worker runs (engine/scan.c); GetMmsFetchMetadataJob reads it.
 *
 * Body of CreateMmsFetchMetadataJob (optional; empty = full scan):
 *   dbName      string <= 256 bytes: only this source db ("" = all)
 *   tableNames  array of <= 1000 table names: only these tables ([] = all)
 * Errors: 404 NotFound.DataSource; 409 Conflict.DataSourceStopped (STOPPED/STOPPING source);
 * 409 Conflict.ScanRunning when a scan of the source is still SCAN_DOING (the message names
 * its scanId). A scan of another source is 404 NotFound.Scan. */
#include "api/handlers.h"
#include "engine/engine.h"
#include "store/store_datasource.h"
#include "store/store_scan.h"

#define SCAN_MAX_DB_NAME 256
#define SCAN_MAX_TABLES 1000

void api_scan_create(struct api_ctx *ctx)
{
    static const struct api_field fields[] = {
        {"dbName", AF_STRING, SCAN_MAX_DB_NAME},
        {"tableNames", AF_STR_ARRAY, SCAN_MAX_TABLES},
        {NULL, 0, 0},
    };
    int64_t source_id, scan_id = 0;
    struct mms_err err = {0};
    if (api_path_id(ctx, "sourceId", &source_id) < 0 || api_body_check(ctx, fields) < 0)
        return;
    const char *db_name = api_body_str(ctx, "dbName");
    if (db_name && !*db_name)
        db_name = NULL;
    json_t *names = api_body_get(ctx, "tableNames");
    if (names && json_array_size(names) == 0)
        names = NULL;
    if (store_datasource_check_usable(ctx->db, source_id, &err) < 0 ||
        store_scan_create(ctx->db, source_id, db_name, names, &scan_id, &err) < 0) {
        api_fail_err(ctx, &err);
        return;
    }
    if (ctx->app->engine)
        engine_wake(ctx->app->engine);
    api_ok(ctx, json_pack("{s:I}", "scanId", (json_int_t)scan_id));
}

void api_scan_get(struct api_ctx *ctx)
{
    int64_t source_id, id;
    if (api_path_id(ctx, "sourceId", &source_id) < 0 || api_path_id(ctx, "scanId", &id) < 0)
        return;
    struct scan s;
    struct mms_err err = {0};
    int rc = store_scan_get(ctx->db, source_id, id, &s, &err);
    if (rc < 0) {
        api_fail_err(ctx, &err);
        return;
    }
    if (rc == 1) {
        API_NOT_FOUND(ctx, "Scan", id);
        return;
    }
    api_ok(ctx, scan_to_json(&s));
    scan_release(&s);
}
