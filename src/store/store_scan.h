/* Metadata scans (CreateMmsFetchMetadataJob / GetMmsFetchMetadataJob): the scan rows, and the
 * catalog writes a scan makes.
 *
 * A scan is SCAN_DOING from its creation until a worker finishes it: SCAN_DONE (result = JSON
 * text {"databases","tables","partitions","new","updated","deleted"}) or SCAN_FAILED
 * (error_msg). progress 0..10000. Its scope is all dbs, or db_name, and within it all tables or
 * table_names (a JSON array). At most one scan per data source is SCAN_DOING.
 *
 * Catalog writes (the upserts and sweeps below) keep ids stable: a db is keyed by (source,
 * name), a table by (db, name), a partition by (table, value). A scan never changes a
 * migration status. */
#ifndef MMS_STORE_SCAN_H
#define MMS_STORE_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store/db.h"

struct scan {
    int64_t id, source_id;
    char status[16];
    int64_t progress;
    char *result;      /* owned JSON text, NULL until done */
    char *error_msg;   /* owned, NULL unless failed */
    char *db_name;     /* owned scope, NULL = all dbs */
    char *table_names; /* owned JSON array text, NULL = all tables */
    int64_t create_time, start_time, end_time;
    int64_t attempt;
};

void scan_release(struct scan *s);

/* Queues a scan (SCAN_DOING, progress 0) and makes it the data source's latest (scan_id), in
 * one transaction of its own. db_name NULL = all; table_names a JSON array of strings (borrowed)
 * or NULL = all. -1 with 409 Conflict.ScanRunning when another scan of the source is
 * SCAN_DOING (the message names its id), 404 NotFound.DataSource when the source is gone. */
int store_scan_create(struct db *db, int64_t source_id, const char *db_name, json_t *table_names,
                      int64_t *id_out, struct mms_err *err);
/* Loads one scan of source_id (source_id 0: of any source). 0, 1 not found, -1. */
int store_scan_get(struct db *db, int64_t source_id, int64_t id, struct scan *out,
                   struct mms_err *err);
/* The GetMmsFetchMetadataJob object (mms-api.md 6.3). New reference. */
json_t *scan_to_json(const struct scan *s);

/* The data source a scan reads: type (owned) and config (new reference). 0, 1 gone, -1. */
int store_scan_source(struct db *db, int64_t source_id, char **type, json_t **config,
                      struct mms_err *err);

/* Fenced writes of the worker holding (id, attempt): 0, 1 when the lease was lost, -1. */
int store_scan_progress(struct db *db, int64_t id, int64_t attempt, int64_t progress,
                        struct mms_err *err);
/* Final state, lease cleared, in one transaction of its own: SCAN_DONE with result (progress
 * 10000, and the data source's last_update_time = now), or SCAN_FAILED with error_msg. */
int store_scan_finish(struct db *db, int64_t id, int64_t attempt, int64_t source_id, bool ok,
                      const char *result, const char *error_msg, struct mms_err *err);

/* ---- Catalog writes ---------------------------------------------------------------------- */

enum scan_change {
    SCAN_SAME = 0, /* stored as it was */
    SCAN_NEW,      /* inserted */
    SCAN_CHANGED,  /* size, rows, times, schema or type differ, or it reappeared: updated=1 */
};
/* Every SCAN_CHANGED of a table or partition also adds 1 to its change_gen, so a task that
 * took a snapshot of it before copying can tell whether it was flagged again meanwhile
 * (store_catalog_snapshot / store_catalog_mark_task). */

/* What a scan saw of an object. Borrowed strings. Unknown sizes and counts (< 0) are stored
 * as 0, unknown times (0) as NULL. */
struct scan_table {
    const char *name;
    const char *type;
    int64_t size, num_rows, last_ddl_time, last_modified;
    int64_t change_count; /* conn_table_info.change_count, 0 unknown */
    const char *schema;   /* compact JSON text (conn_schema_to_json) */
    bool partitioned;
};
struct scan_part {
    const char *value;
    int64_t size, num_rows, last_ddl_time, last_modified;
    int64_t change_count; /* conn_partition_info.change_count, 0 unknown */
};

/* Each returns 0 with the object's id and what happened, or -1. A deleted object that is seen
 * again gets deleted = 0 and counts as SCAN_CHANGED.
 *
 * change_count: a new value > 0 that differs from the stored one is a change (SCAN_CHANGED),
 * also when the stored one is 0 (unknown) or larger (the source's statistics were reset, which
 * may have hidden changes): a needless re-migration costs time, a missed one loses data. A new
 * value of 0 (unknown: a connector without such a counter, or statistics unavailable) is never
 * a change by itself and does not overwrite a stored value. */
int store_scan_upsert_db(struct db *db, int64_t source_id, const char *name, int64_t now,
                         int64_t *id, enum scan_change *change, struct mms_err *err);
int store_scan_upsert_table(struct db *db, int64_t source_id, int64_t db_id,
                            const struct scan_table *t, int64_t now, int64_t *id,
                            enum scan_change *change, struct mms_err *err);
int store_scan_upsert_part(struct db *db, int64_t source_id, int64_t db_id, int64_t table_id,
                           const struct scan_part *p, int64_t now, int64_t *id,
                           enum scan_change *change, struct mms_err *err);

/* Sweeps: mark deleted (deleted = 1, update_time = now) what was not seen. seen: ids sorted
 * ascending. *ndeleted += objects newly marked (a table's partitions included).
 *   parts:  the partitions of table_id not in seen;
 *   tables: the tables of db_id not in seen and, when names (sorted, borrowed) is not NULL,
 *           named in it; with their partitions;
 *   db:     a db gone from the source: with names NULL the db and everything in it, else only
 *           its tables named in names (and their partitions). */
int store_scan_sweep_parts(struct db *db, int64_t table_id, const int64_t *seen, size_t nseen,
                           int64_t now, int64_t *ndeleted, struct mms_err *err);
int store_scan_sweep_tables(struct db *db, int64_t db_id, const int64_t *seen, size_t nseen,
                            const char *const *names, size_t nnames, int64_t now, int64_t *ndeleted,
                            struct mms_err *err);
int store_scan_sweep_db(struct db *db, int64_t db_id, const char *const *names, size_t nnames,
                        int64_t now, int64_t *ndeleted, struct mms_err *err);
/* The ids of the source's dbs that are not deleted, sorted ascending (*ids owned). */
int store_scan_live_dbs(struct db *db, int64_t source_id, int64_t **ids, size_t *n,
                        struct mms_err *err);
/* Looks a db up by name: 0 with *id, 1 when the catalog has none. */
int store_scan_find_db(struct db *db, int64_t source_id, const char *name, int64_t *id,
                       struct mms_err *err);
/* Recomputes a db's size, rows and last DDL time from its live tables. When they changed, or
 * children_changed, and the db was not created by this scan (is_new), it gets updated = 1 and
 * update_time = now; *changed tells whether that happened. */
int store_scan_db_refresh(struct db *db, int64_t db_id, bool is_new, bool children_changed,
                          int64_t now, bool *changed, struct mms_err *err);

#endif
