/* Jobs and their tasks (store side). Job status is derived from its tasks
 * (design-notes.md section 1): no tasks started -> INIT; any task in a stage that is neither
 * DONE nor *_FAILED -> DOING; otherwise any failure -> FAILED; else DONE.
 * Precisely: a job without tasks (an increment job with nothing left to move) is DONE; a job
 * whose tasks are all INIT is INIT; a job with some task neither DONE nor *_FAILED (INIT
 * included, once another task has moved) is DOING; else FAILED if a task failed, else DONE.
 * `stopped` is orthogonal: a stopped job keeps the status of its tasks.
 *
 * Return convention: 0 ok, 1 not found (or of another data source: the same thing), -1 with
 * err (4xx conflicts are set here with their stable codes; the API passes them through). */
#ifndef MMS_STORE_JOB_H
#define MMS_STORE_JOB_H

#include <stdint.h>

#include <jansson.h>

#include "store/db.h"

/* Recomputes and stores job.status from its tasks. */
int store_job_refresh(struct db *db, int64_t job_id, struct mms_err *err);

/* A process-lifetime copy of an SQL text, for queries built at run time (a list's ORDER BY):
 * statements are cached by SQL pointer (db.h), so equal texts must share one pointer. Callers
 * only build texts from a small closed set (sort keys of one list), so the table stays small;
 * NULL when its STORE_SQL_INTERN_MAX slots are full. Thread-safe. */
#define STORE_SQL_INTERN_MAX 128
const char *store_sql_intern(const char *sql);

/* A LIKE pattern (with ESCAPE '\') matching s as a substring: %, _ and \ of s are escaped
 * and the whole is wrapped in %...%. Caller frees. */
char *store_like_substring(const char *s);

/* ListMmsJobs filters. NULL / -1 / 0 = not filtered. */
struct job_filter {
    const char *name;       /* substring of the job name (LIKE, % and _ taken literally) */
    const char *src_db;     /* job.srcDbName */
    const char *src_table;  /* jobs with a task on this source table */
    const char *dst_db;     /* job.dstDbName, or a task's destination project */
    const char *dst_table;  /* jobs with a task writing this destination table */
    const char *status;     /* INIT|DOING|DONE|FAILED */
    int stopped;            /* -1 any, 0, 1 */
    int64_t timer_id;       /* 0 any */
    const char *order;      /* ORDER BY body (trusted SQL over alias j), NULL = "j.id ASC" */
    int64_t offset, limit;  /* limit < 0 = all */
};

/* One page of Job objects (mms-api.md 6.8) and the number of matching jobs. *list is new. */
int store_job_list(struct db *db, int64_t source_id, const struct job_filter *f, json_t **list,
                   int64_t *total, struct mms_err *err);
/* The Job object: 6.8's fields (config = the JobConfig of the request, taskNum, taskDone =
 * tasks DONE, stopped a boolean) plus the extensions timerId (null unless a timer made it) and
 * stopAsyncTaskId (the latest STOP_JOB async task of the job, or null). */
int store_job_get(struct db *db, int64_t source_id, int64_t job_id, json_t **out,
                  struct mms_err *err);

/* DeleteMmsJob, in one transaction: 409 Conflict.JobRunning when the job is not stopped and a
 * task of it is held by a live worker (lease_until > now_ms). The catalog objects its unfinished
 * tasks had marked DOING go back to INIT (they were not moved), then the job goes with its
 * tasks, their partitions and logs (ON DELETE CASCADE). */
int store_job_delete(struct db *db, int64_t source_id, int64_t job_id, int64_t now_ms,
                     struct mms_err *err);
/* StartMmsJob: clears job.stopped and every task's stopped flag, and queues again every task
 * that is not DONE or *_FAILED. One transaction. */
int store_job_start(struct db *db, int64_t source_id, int64_t job_id, struct mms_err *err);
/* StopMmsJob, in one transaction: job.stopped = 1, stopped = 1 on every task that is not DONE
 * or *_FAILED (workers see it at their next heartbeat), and a STOP_JOB async task with params
 * {"jobId":N} and object_id = the job, whose id goes to *async_id. */
int store_job_stop(struct db *db, int64_t source_id, int64_t job_id, int64_t *async_id,
                   struct mms_err *err);
/* RetryMmsJob, in one transaction: every *_FAILED task is reset (see store_task_reset_failed),
 * every task's stopped flag and job.stopped are cleared (a retry also starts the job), then the
 * job status is refreshed. 409 Conflict.NothingToRetry when no task failed. *n = tasks reset. */
int store_job_retry(struct db *db, int64_t source_id, int64_t job_id, int64_t *n,
                    struct mms_err *err);

#endif
