/* Data sources (store side): the datasource row, its catalog counters, and the writes of the
 * data-source operations. Multi-statement operations (create, update, delete) are put
 * together by the caller inside one db_begin/db_commit; every function here is one statement
 * or a read, except store_datasource_op_finish which owns its transaction.
 *
 * Status (mms-api.md 8.2): STARTING -> STARTED | START_FAILED (DATASOURCE_START),
 * STOPPING -> STOPPED (DATASOURCE_STOP). err_msg is set only for *_FAILED.
 * A STOPPED or STOPPING source refuses new scans and jobs: their handlers call
 * store_datasource_check_usable() (409 Conflict.DataSourceStopped). There is no agent process
 * behind a source in mms: START proves that the source and the destination answer, STOP only
 * records that the source must not be used. */
#ifndef MMS_STORE_DATASOURCE_H
#define MMS_STORE_DATASOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store/db.h"

struct datasource {
    int64_t id;
    char *name, *type, *region, *networklink, *status; /* owned, never NULL */
    char *err_msg;                                     /* owned, NULL when none */
    json_t *config;                                    /* owned, always an object */
    int64_t scan_id;                                   /* latest scan, 0 = none */
    char *scan_status, *scan_err_msg;                  /* of that scan, NULL when none */
    int64_t create_time, last_update_time;             /* Unix seconds, 0 = unset */
};

/* Catalog counters of one source (rows not marked deleted). */
struct datasource_counts {
    int64_t dbs, tables, partitions;
    int64_t tables_doing, tables_done, tables_failed, tables_part_done;
    int64_t partitions_doing, partitions_done, partitions_failed;
};

struct datasource_filter {
    const char *name;   /* exact; NULL = any */
    const char *type;   /* exact (stored upper-case); NULL = any */
    const char *region; /* exact; NULL = any */
};

void datasource_release(struct datasource *d);
void datasource_list_free(struct datasource *v, size_t n);

/* Loads one. 0, 1 when it does not exist, -1 on error. */
int store_datasource_get(struct db *db, int64_t id, struct datasource *out, struct mms_err *err);
int store_datasource_counts(struct db *db, int64_t id, struct datasource_counts *out,
                            struct mms_err *err);
/* One page ordered by id, and the total matching the filter. *out is caller-freed with
 * datasource_list_free (NULL when empty). */
int store_datasource_list(struct db *db, const struct datasource_filter *f, int64_t offset,
                          int64_t limit, struct datasource **out, size_t *n, int64_t *total,
                          struct mms_err *err);

/* Whether another source (id != except_id; 0 = none) has this name. */
int store_datasource_name_taken(struct db *db, const char *name, int64_t except_id, bool *taken,
                                struct mms_err *err);
/* Inserts a source with the given status; config borrowed. */
int store_datasource_insert(struct db *db, const char *name, const char *type, const char *region,
                            const char *networklink, json_t *config, const char *status,
                            int64_t *id_out, struct mms_err *err);
/* Single-column updates: 0, 1 when the source does not exist, -1 on error. */
int store_datasource_set_status(struct db *db, int64_t id, const char *status, const char *err_msg,
                                struct mms_err *err);
int store_datasource_set_config(struct db *db, int64_t id, json_t *config, struct mms_err *err);
int store_datasource_rename(struct db *db, int64_t id, const char *name, struct mms_err *err);
/* Number of tasks of the source that a live worker holds (lease not expired at now_ms). */
int store_datasource_running_tasks(struct db *db, int64_t id, int64_t now_ms, int64_t *n,
                                   struct mms_err *err);
/* Deletes the source and, by ON DELETE CASCADE, its catalog, scans, async tasks, jobs, tasks
 * and logs. 0, 1 when it does not exist, -1 on error. */
int store_datasource_delete(struct db *db, int64_t id, struct mms_err *err);

/* For the scan and job handlers: 0 when the source exists and may be used; -1 with
 * 404 NotFound.DataSource, or 409 Conflict.DataSourceStopped when it is STOPPED or STOPPING. */
int store_datasource_check_usable(struct db *db, int64_t source_id, struct mms_err *err);

/* Secrets at rest: the `password` items of a data source's config are kept encrypted under the
 * master key (src/auth/secret.h, "enc:v1:..."). seal encrypts them in place before a config is
 * written anywhere in the store (datasource.config, async task params); open decrypts them in
 * place after it is read, for the connectors. Both are no-ops while no master key is
 * configured (unit tests). 0, or -1 with err. */
int store_datasource_config_seal(const char *type, json_t *config, struct mms_err *err);
int store_datasource_config_open(const char *type, json_t *config, struct mms_err *err);

/* The final write of a DATASOURCE_* async task, in one transaction: store_async_finish(ok,
 * result, error_msg) fenced by (async_id, attempt), and, only when that lease still held and
 * new_status is not NULL, the source's status (and err_msg) set to new_status if it is still
 * expect_status. Returns 0, 1 when the lease was lost (nothing written), -1 on error. */
int store_datasource_op_finish(struct db *db, int64_t async_id, int64_t attempt, int64_t source_id,
                               bool ok, const char *result, const char *error_msg,
                               const char *expect_status, const char *new_status,
                               struct mms_err *err);

#endif
