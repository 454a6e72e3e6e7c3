/* The scanned catalog: dbs, tables, partitions of a data source, with their destination
 * mapping and migration status. Status roll-up (design-notes.md section 1): a partitioned
 * table's status comes from its partitions, a db's from its tables, with the priority
 * DOING > FAILED > PART_DONE > DONE (INIT when nothing has started; PART_DONE when some are
 * DONE and others INIT). Deleted objects (gone from the source at the last scan) do not count
 * in roll-ups or counters, but stay listed with deleted = 1.
 *
 * Transactions: none of these functions opens one, except where stated; callers that need
 * several of them to be atomic wrap them in db_begin/db_commit. The metadata scan's writes
 * live in store_scan.h. */
#ifndef MMS_STORE_CATALOG_H
#define MMS_STORE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store/db.h"

/* Sets the status of the given partitions (or, when nparts == 0, of the table itself), then
 * rolls the statuses up to the table and its db. status: INIT|DOING|DONE|FAILED. DONE also
 * clears the `updated` flag of what it names unconditionally (and of the table and db when
 * they roll up to DONE with nothing live below them still flagged); the task runner uses
 * store_catalog_mark_task below instead. Partition ids of another table are ignored. Returns
 * 0, or -1 (404 NotFound.Table when the table does not exist, 500 on a bad status or store
 * error). */
int store_catalog_mark(struct db *db, int64_t table_id, const int64_t *part_ids, size_t nparts,
                       const char *status, struct mms_err *err);

/* The increment flag race. A rescan that flags an object `updated` (adding 1 to its
 * change_gen, store_scan.h) while a task copies it must survive that task's DONE: the copy may
 * have read the rows before the change. So the task runner
 *   - calls store_catalog_snapshot(task_id, attempt) when its DATA stage starts, before any row
 *     is read: it records, in the task's rows (task.table_gen, task_part.gen), the change_gen
 *     of its table and of each of its partitions. Fenced: 0, 1 when the lease was lost (nothing
 *     written), -1. A later DATA attempt takes a new snapshot; an attempt that resumes after
 *     DATA keeps the one of the attempt that copied.
 *   - marks with store_catalog_mark_task(task_id, ...) instead of store_catalog_mark: the same,
 *     except that DONE clears `updated` only where change_gen still equals the snapshot (else
 *     the status still becomes DONE and `updated` stays 1, so the next increment job moves the
 *     object again). A task without a snapshot (it never copied: schema-only, or
 *     enableDataMigration false) clears nothing. A table or db rolled up to DONE is cleared
 *     only when the table's own change_gen equals the snapshot too and no live partition (no
 *     live table) below it is still flagged; store_catalog_mark applies that last rule too.
 *     task_id must be > 0 (500 otherwise). */
int store_catalog_snapshot(struct db *db, int64_t task_id, int64_t attempt, struct mms_err *err);
int store_catalog_mark_task(struct db *db, int64_t task_id, int64_t table_id,
                            const int64_t *part_ids, size_t nparts, const char *status,
                            struct mms_err *err);
/* Recomputes a table's status from its partitions (partitioned tables only) and its db's
 * status from its tables. A partitioned table with no (non-deleted) partition keeps its own
 * status; a db without tables is INIT. Returns 0, or -1 (404 when the table does not exist). */
int store_catalog_rollup(struct db *db, int64_t table_id, struct mms_err *err);

/* The destination of a table by the default mapping (design-notes.md section 2):
 *   project = tbl.dst_project_name ?? db.dst_project_name ?? data source config "dst.project"
 *   schema  = tbl.dst_schema_name  ?? db.dst_name ?? db.name
 *   table   = tbl.dst_name ?? tbl.name
 * Job-level overrides (dstDbName, dstSchemaName, tableMapping) are applied by the caller on top.
 * Fields are owned; dst_names_release frees them. project is NULL when no level sets one (no
 * mapping and no "dst.project" in the data source config); schema and table are never NULL.
 * Returns 0, 1 when the table does not exist. */
struct dst_names {
    char *project;
    char *schema;
    char *table;
};
int store_catalog_dst_names(struct db *db, int64_t table_id, struct dst_names *out,
                            struct mms_err *err);
void dst_names_release(struct dst_names *n);

/* ---- Statuses ---------------------------------------------------------------------------- */

/* Object statuses as bits, for status filters: INIT 1, DOING 2, DONE 4, FAILED 8,
 * PART_DONE 16. catalog_status_bit returns 0 for an unknown name. */
enum catalog_status { CS_INIT, CS_DOING, CS_DONE, CS_FAILED, CS_PART_DONE, CS_COUNT };
unsigned catalog_status_bit(const char *status);
/* The roll-up of children with these counts (indexed by enum catalog_status); `none` when
 * all counts are 0. Static strings. */
const char *catalog_rollup_status(const int64_t counts[CS_COUNT], const char *none);

/* ---- Reads for the API ------------------------------------------------------------------- */

/* What every catalog read needs from the data source: its name (sourceName) and the default
 * destination project (config "dst.project", NULL when not set). Owned strings. */
struct catalog_source {
    int64_t id;
    char *name;
    char *dst_project;
};
/* Returns 0, 1 when the data source does not exist, -1 on error. */
int store_catalog_source(struct db *db, int64_t source_id, struct catalog_source *out,
                         struct mms_err *err);
void catalog_source_release(struct catalog_source *s);

/* Sort keys, in priority order; an object id (ascending) always breaks ties.
 * key: dbs 1 numRows, 2 size, 3 updateTime; tables and partitions 1 numRows, 2 size,
 * 3 lastDdlTime. Unknown times sort as 0. */
#define CATALOG_MAX_SORT 3
struct catalog_sort {
    int n;
    int key[CATALOG_MAX_SORT];
    bool desc[CATALOG_MAX_SORT];
};

/* Filters: NULL strings, 0 masks/ids, -1 tri-states and has_* = false mean "no filter".
 * Strings must match exactly. */
struct catalog_db_query {
    const char *name;
    unsigned status_mask;
    struct catalog_sort sort;
    int64_t limit, offset;
};
struct catalog_table_query {
    int64_t db_id;
    const char *db_name, *name, *type;
    int has_partitions; /* -1 any, 0, 1 */
    unsigned status_mask;
    const char *dst_project, *dst_schema, *dst_name; /* effective mapping */
    bool has_ddl_start, has_ddl_end;
    int64_t ddl_start, ddl_end; /* inclusive, Unix seconds */
    bool only_name;             /* objectList items are {id, name} */
    struct catalog_sort sort;
    int64_t limit, offset;
};
struct catalog_part_query {
    int64_t db_id, table_id;
    const char *db_name, *table_name, *value;
    int updated; /* -1 any, 0, 1 */
    unsigned status_mask;
    bool has_ddl_start, has_ddl_end;
    int64_t ddl_start, ddl_end;
    struct catalog_sort sort;
    int64_t limit, offset;
};

/* Lists: *total is the count of all matches, *list (new reference) the page of objects in the
 * API's JSON form (mms-api.md 6.5/6.6/6.7). 0, or -1 with err. */
int store_catalog_db_list(struct db *db, const struct catalog_source *src,
                          const struct catalog_db_query *q, int64_t *total, json_t **list,
                          struct mms_err *err);
int store_catalog_table_list(struct db *db, const struct catalog_source *src,
                             const struct catalog_table_query *q, int64_t *total, json_t **list,
                             struct mms_err *err);
int store_catalog_part_list(struct db *db, const struct catalog_source *src,
                            const struct catalog_part_query *q, int64_t *total, json_t **list,
                            struct mms_err *err);
/* One object of src (another source's object is "not found"): 0 with *out (new reference),
 * 1 when not found, -1 on error. */
int store_catalog_db_get(struct db *db, const struct catalog_source *src, int64_t db_id,
                         json_t **out, struct mms_err *err);
int store_catalog_table_get(struct db *db, const struct catalog_source *src, int64_t table_id,
                            json_t **out, struct mms_err *err);
int store_catalog_part_get(struct db *db, const struct catalog_source *src, int64_t part_id,
                           json_t **out, struct mms_err *err);

/* ---- Updates for the API ----------------------------------------------------------------- */

/* Mapping arguments: NULL leaves the value alone, "" resets it to the default mapping.
 * status: NULL, "INIT" or "DONE"; it applies to the object and everything below it (a db's
 * tables and partitions, a table's partitions), then the db is rolled up. DONE also clears
 * `updated` (the objects are taken as migrated and in sync). Each opens its own transaction.
 * Return 0, 1 when the object does not exist in that source, -1 on error. */
int store_catalog_db_update(struct db *db, int64_t source_id, int64_t db_id,
                            const char *dst_project, const char *dst_name, const char *status,
                            struct mms_err *err);
int store_catalog_table_update(struct db *db, int64_t source_id, int64_t table_id,
                               const char *dst_project, const char *dst_schema,
                               const char *dst_name, const char *status, struct mms_err *err);
/* UpdateMmsTables: the tables named in `names` (a JSON array of strings; only in db `db_name`
 * when it is not NULL), or the tables with the ids in `ids` (a JSON array of integers). Names
 * and ids that match nothing are skipped. *count = tables updated. 0 or -1. */
int store_catalog_tables_update(struct db *db, int64_t source_id, const char *db_name,
                                json_t *names, json_t *ids, const char *dst_project,
                                const char *dst_schema, const char *status, int64_t *count,
                                struct mms_err *err);

#endif
