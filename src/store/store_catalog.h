/* The scanned catalog: dbs, tables, partitions of a data source, with their destination
 * mapping and migration status. Status roll-up (design-notes.md section 1): a partitioned
 * table's status comes from its partitions, a db's from its tables, with the priority
 * DOING > FAILED > PART_DONE > DONE (INIT when nothing has started; PART_DONE when some are
 * DONE and others INIT). */
#ifndef MMS_STORE_CATALOG_H
#define MMS_STORE_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

/* Sets the status of the given partitions (or, when nparts == 0, of the table itself), then
 * rolls the statuses up to the table and its db. status: INIT|DOING|DONE|FAILED. A successful
 * migration (DONE) also clears the `updated` flag of what it moved. */
int store_catalog_mark(struct db *db, int64_t table_id, const int64_t *part_ids, size_t nparts,
                       const char *status, struct mms_err *err);
/* Recomputes a table's status from its partitions (partitioned tables only) and its db's
 * status from its tables. */
int store_catalog_rollup(struct db *db, int64_t table_id, struct mms_err *err);

/* The destination of a table by the default mapping (design-notes.md section 2):
 *   project = tbl.dst_project_name ?? db.dst_project_name ?? data source config "dst.project"
 *   schema  = tbl.dst_schema_name  ?? db.dst_name ?? db.name
 *   table   = tbl.dst_name ?? tbl.name
 * Job-level overrides (dstDbName, dstSchemaName, tableMapping) are applied by the caller on top.
 * Fields are owned; dst_names_release frees them. Returns 0, 1 when the table does not exist. */
struct dst_names {
    char *project;
    char *schema;
    char *table;
};
int store_catalog_dst_names(struct db *db, int64_t table_id, struct dst_names *out,
                            struct mms_err *err);
void dst_names_release(struct dst_names *n);

#endif
