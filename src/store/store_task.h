/* Migration tasks as the API sees them (ListMmsTasks, GetMmsTask, RetryMmsTask). The runner's
 * fenced writes are in store_taskrun.h. Return convention as store_job.h: 0 ok, 1 not found
 * (or of another data source), -1 with err. */
#ifndef MMS_STORE_TASK_H
#define MMS_STORE_TASK_H

#include <stdint.h>

#include <jansson.h>

#include "store/db.h"

/* ListMmsTasks filters. NULL / 0 = not filtered. */
struct task_filter {
    int64_t job_id;
    const char *job_name;   /* substring of the job name, like ListMmsJobs `name` */
    const char *src_db, *src_table, *dst_db, *dst_table; /* exact */
    const char *partition;  /* tasks holding the partition with this value ("p1=1/p2=abc") */
    const char *status;     /* one task status */
    const char *order;      /* ORDER BY body (trusted SQL over alias t), NULL = "t.id ASC" */
    int64_t offset, limit;  /* limit < 0 = all */
};

/* The Task object (mms-api.md 6.9) plus the extensions rowsDone, rowsTotal, bytesDone,
 * errorMsg, schemaOnly and partitions (the values of the partitions it moves, [] for a whole
 * table). running = a live worker holds it (lease_owner set and lease_until > now_ms). */
int store_task_list(struct db *db, int64_t source_id, const struct task_filter *f,
                    int64_t now_ms, json_t **list, int64_t *total, struct mms_err *err);
int store_task_get(struct db *db, int64_t source_id, int64_t task_id, int64_t now_ms,
                   json_t **out, struct mms_err *err);
/* Whether the task exists in this source: 0 yes, 1 no, -1 error. */
int store_task_exists(struct db *db, int64_t source_id, int64_t task_id, struct mms_err *err);

/* Resets a failed task for a retry: status = task_status_retry_from(status), retried_times + 1,
 * queued = 1, stopped = 0, error_msg and end_time cleared. Only if the task is still in
 * `status` (a *_FAILED status): 0 reset, 1 it was not. No transaction of its own. */
int store_task_reset_failed(struct db *db, int64_t task_id, const char *status,
                            struct mms_err *err);
/* RetryMmsTask, in one transaction: 409 Conflict.TaskNotFailed unless the task is *_FAILED;
 * the reset above, then the job's status is refreshed. The job's stopped flag is left alone:
 * only this task runs again. */
int store_task_retry(struct db *db, int64_t source_id, int64_t task_id, struct mms_err *err);

#endif
