/* The migration task runner's store side (engine/task_run.c): loading a claimed task with
 * everything it needs, and the fenced writes of its progress and status.
 *
 * Fencing: every function here takes the (id, attempt) the worker claimed and writes only
 * `WHERE id = $ AND attempt = $`. Return convention of the fenced calls, like
 * store_asynctask.h: 0 done, 1 the lease was lost (the row is gone or a newer attempt owns it;
 * the caller must stop and write nothing more), -1 store error with err filled. */
#ifndef MMS_STORE_TASKRUN_H
#define MMS_STORE_TASKRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

/* One partition a task moves. */
struct taskrun_part {
    int64_t id;
    char *value;     /* source spec "k1=v1/k2=v2" */
    char *dst_value; /* destination spec (part.dst_value, else value) */
};

/* A claimed task, its partitions, its job's config and its data source. Strings are owned
 * (taskrun_release frees them); a NULL column loads as NULL. */
struct taskrun {
    int64_t id, job_id, source_id, db_id, table_id, rows_total;
    char status[32];
    char *type; /* task.type (engine / connector type) */
    bool stopped, schema_only;
    char *src_db, *src_schema, *src_table;
    char *dst_db, *dst_schema, *dst_table;
    struct taskrun_part *parts; /* ordered by part id; empty = the whole table */
    size_t nparts;
    char *job_config; /* job.config JSON text */
    char *ds_type;    /* datasource.type */
    char *ds_config;  /* datasource.config JSON text (holds secrets) */
    /* Automatic retries (engine/retry.h) since the task last reached a final status. */
    int64_t retry_count;
    int64_t first_failure_ms; /* 0 = none yet */
};

void taskrun_release(struct taskrun *t);

/* Loads task id if attempt is still the row's attempt. 0 ok, 1 lost, -1 error. */
int store_taskrun_load(struct db *db, int64_t id, int64_t attempt, struct taskrun *out,
                       struct mms_err *err);
/* Checks the lease is still ours (use inside a transaction to fence plain inserts). */
int store_taskrun_fence(struct db *db, int64_t id, int64_t attempt, struct mms_err *err);
/* Sets task.status of a running task (end_time and error_msg cleared). */
int store_taskrun_set_status(struct db *db, int64_t id, int64_t attempt, const char *status,
                             struct mms_err *err);
/* Sets task.rows_done / bytes_done. */
int store_taskrun_progress(struct db *db, int64_t id, int64_t attempt, int64_t rows, int64_t bytes,
                           struct mms_err *err);
/* The final write of an attempt: status (DONE or *_FAILED), queued = 0, error_msg (NULL
 * clears it), end_time = now, lease cleared, automatic retry state cleared (so a later
 * RetryMmsTask/RetryMmsJob starts with a fresh retry budget). */
int store_taskrun_finish(struct db *db, int64_t id, int64_t attempt, const char *status,
                         const char *error_msg, struct mms_err *err);
/* Schedules an automatic retry after a transient failure: status (the start of the failed
 * stage), retried_times + 1, retry_count + 1, first_failure_at = first_ms, next_attempt_at =
 * next_ms (Unix ms; the claim skips the task until then), queued stays 1, error_msg (shown
 * while it waits), lease cleared. */
int store_taskrun_retry(struct db *db, int64_t id, int64_t attempt, const char *status,
                        const char *error_msg, int64_t first_ms, int64_t next_ms,
                        struct mms_err *err);

#endif
