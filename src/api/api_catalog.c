/* The scanned catalog: ListMmsDbs/GetMmsDb/UpdateMmsDb, ListMmsTables/GetMmsTable/
 * UpdateMmsTable/UpdateMmsTables, ListMmsPartitions/GetMmsPartition (mms-api.md 7.3).
 *
 * Behaviour worth knowing (docs/api.md repeats it):
 *   - Objects that vanished from the source at a later scan stay listed, with deleted = true;
 *     they do not count in the counters (tables, partitionsDone, ...).
 *   - String filters match exactly; an empty value is the same as no filter. `status` filters
 *     take a JSON array (["DONE","FAILED"]) or one bare value; [] is no filter.
 *   - dstProjectName / dstSchemaName / dstName (tables) filter on the effective mapping: the
 *     table's own value, else the db's, else the default (data source config "dst.project";
 *     schema = db name; table = table name).
 *   - ListMmsTables with onlyName=true returns objectList items {id, name} only.
 *   - Sorting: ListMmsDbs over numRows, size, updateTime; tables and partitions over numRows,
 *     size, lastDdlTime. Every list takes either form: sorter as one JSON string
 *     ({"numRows":"desc"}, what the SDK sends for dbs) or sorter.<key>=asc|desc (what it sends
 *     for tables and partitions); not both. Keys apply in the order given, the id breaks ties;
 *     unknown times sort as the earliest.
 *   - Paging: pageNum (1-based, default 1), pageSize (default and maximum from the config).
 *   - UpdateMmsDb / UpdateMmsTable(s): a mapping value "" resets it to the default; status
 *     INIT or DONE applies to the object and everything below it (INIT: migrate it again;
 *     DONE: take it as migrated, which also clears `updated`), then the db status is rolled up.
 *     A task still running on such a table sets its own status when it ends.
 *     UpdateMmsDb returns 0, UpdateMmsTable the table id, UpdateMmsTables the number of
 *     tables updated (tableNames, limited to dbName when given, or tables = ids).
 *   - An object of another data source is 404 exactly as if it did not exist. */
#include "api/handlers.h"
#include "store/store_catalog.h"

#include <stdio.h>
#include <string.h>

#define CAT_MAX_NAME 256 /* mapping names in update bodies */

static const char *const db_statuses[] = {"INIT", "DOING", "DONE", "FAILED", "PART_DONE", NULL};
static const char *const part_statuses[] = {"INIT", "DOING", "DONE", "FAILED", NULL};

/* ---- Shared parsing ---------------------------------------------------------------------- */

/* Loads the data source (after every parameter was checked, so that a bad parameter is a
 * 400 whether or not the source exists). 0, or -1 with the answer set. */
static int load_source(struct api_ctx *ctx, int64_t source_id, struct catalog_source *src)
{
    struct mms_err err = {0};
    int rc = store_catalog_source(ctx->db, source_id, src, &err);
    if (rc < 0) {
        api_fail_err(ctx, &err);
        return -1;
    }
    if (rc == 1)
        return API_NOT_FOUND(ctx, "DataSource", source_id);
    return 0;
}

/* A string filter: NULL when absent or empty. */
static int str_filter(struct api_ctx *ctx, const char *name, const char **out)
{
    if (api_query_str(ctx, name, 0, out) < 0)
        return -1;
    if (*out && !**out)
        *out = NULL;
    return 0;
}

static int id_filter(struct api_ctx *ctx, const char *name, int64_t *out)
{
    *out = 0;
    return api_query_i64(ctx, name, 1, INT64_MAX, NULL, out);
}

/* A boolean filter: -1 when absent, else 0/1. */
static int bool_filter(struct api_ctx *ctx, const char *name, int *out)
{
    bool present = false, v = false;
    if (api_query_bool(ctx, name, &present, &v) < 0)
        return -1;
    *out = present ? (int)v : -1;
    return 0;
}

static int status_filter(struct api_ctx *ctx, const char *const *allowed, unsigned *mask)
{
    const char *vals[API_MAX_ENUM_VALUES];
    int n = 0;
    *mask = 0;
    if (api_query_enum_array(ctx, "status", allowed, vals, &n) < 0)
        return -1;
    for (int i = 0; i < n; i++)
        *mask |= catalog_status_bit(vals[i]);
    return 0;
}

/* Reads the sorter in either form: `sorter` as one JSON string (what the SDK sends for dbs) or
 * `sorter.<key>` parameters (what it sends for tables and partitions); both at once is a 400.
 * Turns the ORDER BY text of api_sorter_* (keys mapped to "1".."3", ties "0") into a
 * catalog_sort. */
static int sort_parse(struct api_ctx *ctx, const struct api_sort_key *keys,
                      struct catalog_sort *out)
{
    char order[512];
    bool dotted = false;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < ctx->req->nquery && !dotted; i++)
        dotted = strncmp(ctx->req->query[i].key, "sorter.", 7) == 0;
    if (dotted && api_query(ctx, "sorter"))
        return api_fail(ctx, 400, "InvalidParameter.Sorter",
                        "give sorter as one JSON string or as sorter.<key> parameters, not both");
    int rc = dotted ? api_sorter_dotted(ctx, keys, "0", order, sizeof order)
                    : api_sorter_json(ctx, keys, "0", order, sizeof order);
    if (rc < 0)
        return -1;
    for (const char *p = order; *p;) {
        int key = *p - '0';
        bool desc = strncmp(p + 1, " DESC", 5) == 0;
        if (key == 0)
            break;
        bool dup = false;
        for (int i = 0; i < out->n; i++)
            dup = dup || out->key[i] == key;
        if (!dup && out->n < CATALOG_MAX_SORT) {
            out->key[out->n] = key;
            out->desc[out->n] = desc;
            out->n++;
        }
        const char *next = strstr(p, ", ");
        if (!next)
            break;
        p = next + 2;
    }
    return 0;
}

static int page_parse(struct api_ctx *ctx, struct api_page *pg, int64_t *limit, int64_t *offset)
{
    if (api_page(ctx, pg) < 0)
        return -1;
    *limit = pg->size;
    *offset = pg->offset;
    return 0;
}

/* Answers a list: the page object, or the error. */
static void list_answer(struct api_ctx *ctx, int rc, const struct api_page *pg, int64_t total,
                        json_t *list, const struct mms_err *err)
{
    if (rc < 0) {
        api_fail_err(ctx, err);
        return;
    }
    api_ok(ctx, api_page_result(pg, total, list));
}

typedef int (*get_fn)(struct db *db, const struct catalog_source *src, int64_t id, json_t **out,
                      struct mms_err *err);

static void get_object(struct api_ctx *ctx, const char *param, const char *what, get_fn get)
{
    struct catalog_source src = {0};
    int64_t source_id, id;
    json_t *o = NULL;
    struct mms_err err = {0};
    if (api_path_id(ctx, "sourceId", &source_id) < 0 || api_path_id(ctx, param, &id) < 0 ||
        load_source(ctx, source_id, &src) < 0)
        goto out;
    int rc = get(ctx->db, &src, id, &o, &err);
    if (rc < 0)
        api_fail_err(ctx, &err);
    else if (rc == 1)
        api_fail(ctx, 404, what, "%s %lld does not exist", what + strlen("NotFound."),
                 (long long)id);
    else
        api_ok(ctx, o);
out:
    catalog_source_release(&src);
}

/* A status in an update body: NULL, INIT or DONE. */
static int body_status(struct api_ctx *ctx, const char **out)
{
    *out = api_body_str(ctx, "status");
    if (*out && strcmp(*out, "INIT") != 0 && strcmp(*out, "DONE") != 0)
        return api_fail(ctx, 400, "InvalidParameter.Status", "status must be INIT or DONE");
    return 0;
}

/* ---- Dbs --------------------------------------------------------------------------------- */

void api_db_list(struct api_ctx *ctx)
{
    static const struct api_sort_key keys[] = {
        {"numRows", "1"}, {"size", "2"}, {"updateTime", "3"}, {NULL, NULL}};
    struct catalog_source src = {0};
    struct catalog_db_query q;
    struct api_page pg;
    struct mms_err err = {0};
    int64_t source_id, total = 0;
    json_t *list = NULL;
    memset(&q, 0, sizeof q);
    if (api_path_id(ctx, "sourceId", &source_id) < 0 || str_filter(ctx, "name", &q.name) < 0 ||
        status_filter(ctx, db_statuses, &q.status_mask) < 0 || sort_parse(ctx, keys, &q.sort) < 0 ||
        page_parse(ctx, &pg, &q.limit, &q.offset) < 0 || load_source(ctx, source_id, &src) < 0)
        goto out;
    int rc = store_catalog_db_list(ctx->db, &src, &q, &total, &list, &err);
    list_answer(ctx, rc, &pg, total, list, &err);
out:
    catalog_source_release(&src);
}

void api_db_get(struct api_ctx *ctx)
{
    get_object(ctx, "dbId", "NotFound.Db", store_catalog_db_get);
}

void api_db_update(struct api_ctx *ctx)
{
    static const struct api_field fields[] = {
        {"dstProjectName", AF_STRING, CAT_MAX_NAME},
        {"dstName", AF_STRING, CAT_MAX_NAME},
        {"status", AF_STRING, 16},
        {NULL, 0, 0},
    };
    struct catalog_source src = {0};
    int64_t source_id, id;
    const char *status;
    struct mms_err err = {0};
    if (api_path_id(ctx, "sourceId", &source_id) < 0 || api_path_id(ctx, "dbId", &id) < 0 ||
        api_body_check(ctx, fields) < 0 || body_status(ctx, &status) < 0 ||
        load_source(ctx, source_id, &src) < 0)
        goto out;
    int rc = store_catalog_db_update(ctx->db, source_id, id, api_body_str(ctx, "dstProjectName"),
                                     api_body_str(ctx, "dstName"), status, &err);
    if (rc < 0)
        api_fail_err(ctx, &err);
    else if (rc == 1)
        API_NOT_FOUND(ctx, "Db", id);
    else
        api_ok(ctx, json_integer(0));
out:
    catalog_source_release(&src);
}

/* ---- Tables ------------------------------------------------------------------------------ */

void api_table_list(struct api_ctx *ctx)
{
    static const struct api_sort_key keys[] = {
        {"numRows", "1"}, {"size", "2"}, {"lastDdlTime", "3"}, {NULL, NULL}};
    struct catalog_source src = {0};
    struct catalog_table_query q;
    struct api_page pg;
    struct mms_err err = {0};
    int64_t source_id, total = 0;
    json_t *list = NULL;
    int only_name = -1;
    memset(&q, 0, sizeof q);
    if (api_path_id(ctx, "sourceId", &source_id) < 0 || id_filter(ctx, "dbId", &q.db_id) < 0 ||
        str_filter(ctx, "dbName", &q.db_name) < 0 || str_filter(ctx, "name", &q.name) < 0 ||
        bool_filter(ctx, "onlyName", &only_name) < 0 || str_filter(ctx, "type", &q.type) < 0 ||
        bool_filter(ctx, "hasPartitions", &q.has_partitions) < 0 ||
        status_filter(ctx, db_statuses, &q.status_mask) < 0 ||
        str_filter(ctx, "dstProjectName", &q.dst_project) < 0 ||
        str_filter(ctx, "dstSchemaName", &q.dst_schema) < 0 ||
        str_filter(ctx, "dstName", &q.dst_name) < 0 ||
        api_query_time(ctx, "lastDdlTimeStart", &q.has_ddl_start, &q.ddl_start) < 0 ||
        api_query_time(ctx, "lastDdlTimeEnd", &q.has_ddl_end, &q.ddl_end) < 0 ||
        sort_parse(ctx, keys, &q.sort) < 0 || page_parse(ctx, &pg, &q.limit, &q.offset) < 0 ||
        load_source(ctx, source_id, &src) < 0)
        goto out;
    q.only_name = only_name == 1;
    int rc = store_catalog_table_list(ctx->db, &src, &q, &total, &list, &err);
    list_answer(ctx, rc, &pg, total, list, &err);
out:
    catalog_source_release(&src);
}

void api_table_get(struct api_ctx *ctx)
{
    get_object(ctx, "tableId", "NotFound.Table", store_catalog_table_get);
}

void api_table_update(struct api_ctx *ctx)
{
    static const struct api_field fields[] = {
        {"dstProjectName", AF_STRING, CAT_MAX_NAME},
        {"dstSchemaName", AF_STRING, CAT_MAX_NAME},
        {"dstName", AF_STRING, CAT_MAX_NAME},
        {"status", AF_STRING, 16},
        {NULL, 0, 0},
    };
    struct catalog_source src = {0};
    int64_t source_id, id;
    const char *status;
    struct mms_err err = {0};
    if (api_path_id(ctx, "sourceId", &source_id) < 0 || api_path_id(ctx, "tableId", &id) < 0 ||
        api_body_check(ctx, fields) < 0 || body_status(ctx, &status) < 0 ||
        load_source(ctx, source_id, &src) < 0)
        goto out;
    int rc = store_catalog_table_update(ctx->db, source_id, id, api_body_str(ctx, "dstProjectName"),
                                        api_body_str(ctx, "dstSchemaName"),
                                        api_body_str(ctx, "dstName"), status, &err);
    if (rc < 0)
        api_fail_err(ctx, &err);
    else if (rc == 1)
        API_NOT_FOUND(ctx, "Table", id);
    else
        api_ok(ctx, json_integer(id));
out:
    catalog_source_release(&src);
}

void api_tables_update(struct api_ctx *ctx)
{
    static const struct api_field fields[] = {
        {"dbName", AF_STRING, CAT_MAX_NAME},
        {"tableNames", AF_STR_ARRAY, 0},
        {"tables", AF_I64_ARRAY, 0},
        {"dstProjectName", AF_STRING, CAT_MAX_NAME},
        {"dstSchemaName", AF_STRING, CAT_MAX_NAME},
        {"status", AF_STRING, 16},
        {NULL, 0, 0},
    };
    struct catalog_source src = {0};
    const char *status;
    struct mms_err err = {0};
    int64_t source_id, count = 0;
    if (api_path_id(ctx, "sourceId", &source_id) < 0 || api_body_check(ctx, fields) < 0 ||
        body_status(ctx, &status) < 0)
        goto out;
    const char *db_name = api_body_str(ctx, "dbName");
    json_t *names = api_body_get(ctx, "tableNames");
    json_t *ids = api_body_get(ctx, "tables");
    if (db_name && !*db_name)
        db_name = NULL;
    if (names && json_array_size(names) == 0)
        names = NULL;
    if (ids && json_array_size(ids) == 0)
        ids = NULL;
    if (!names && !ids) {
        api_fail(ctx, 400, "InvalidParameter.TableNames",
                 "tableNames (with an optional dbName) or tables (ids) must select the tables");
        goto out;
    }
    if (names && ids) {
        api_fail(ctx, 400, "InvalidParameter.Tables",
                 "give either tableNames or tables (ids), not both");
        goto out;
    }
    if (ids && db_name) {
        api_fail(ctx, 400, "InvalidParameter.DbName", "dbName applies to tableNames only");
        goto out;
    }
    if (load_source(ctx, source_id, &src) < 0)
        goto out;
    if (store_catalog_tables_update(ctx->db, src.id, db_name, names, ids,
                                    api_body_str(ctx, "dstProjectName"),
                                    api_body_str(ctx, "dstSchemaName"), status, &count, &err) < 0) {
        api_fail_err(ctx, &err);
        goto out;
    }
    api_ok(ctx, json_integer(count));
out:
    catalog_source_release(&src);
}

/* ---- Partitions -------------------------------------------------------------------------- */

void api_partition_list(struct api_ctx *ctx)
{
    static const struct api_sort_key keys[] = {
        {"numRows", "1"}, {"size", "2"}, {"lastDdlTime", "3"}, {NULL, NULL}};
    struct catalog_source src = {0};
    struct catalog_part_query q;
    struct api_page pg;
    struct mms_err err = {0};
    int64_t source_id, total = 0;
    json_t *list = NULL;
    memset(&q, 0, sizeof q);
    if (api_path_id(ctx, "sourceId", &source_id) < 0 || id_filter(ctx, "dbId", &q.db_id) < 0 ||
        str_filter(ctx, "dbName", &q.db_name) < 0 || id_filter(ctx, "tableId", &q.table_id) < 0 ||
        str_filter(ctx, "tableName", &q.table_name) < 0 || str_filter(ctx, "value", &q.value) < 0 ||
        bool_filter(ctx, "updated", &q.updated) < 0 ||
        status_filter(ctx, part_statuses, &q.status_mask) < 0 ||
        api_query_time(ctx, "lastDdlTimeStart", &q.has_ddl_start, &q.ddl_start) < 0 ||
        api_query_time(ctx, "lastDdlTimeEnd", &q.has_ddl_end, &q.ddl_end) < 0 ||
        sort_parse(ctx, keys, &q.sort) < 0 || page_parse(ctx, &pg, &q.limit, &q.offset) < 0 ||
        load_source(ctx, source_id, &src) < 0)
        goto out;
    int rc = store_catalog_part_list(ctx->db, &src, &q, &total, &list, &err);
    list_answer(ctx, rc, &pg, total, list, &err);
out:
    catalog_source_release(&src);
}

void api_partition_get(struct api_ctx *ctx)
{
    get_object(ctx, "partitionId", "NotFound.Partition", store_catalog_part_get);
}
