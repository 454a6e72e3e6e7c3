/* Async tasks: background operations reported by GetMmsAsyncTask.
 * Types: TASK_CREATE (build a job and its tasks; objectId = the job id once built), STOP_JOB
 * (objectId = job id), DATASOURCE_START / DATASOURCE_STOP / DATASOURCE_TEST (objectId = the
 * data source id), DATASOURCE_UPDATE (RENAME / UPDATE_CONFIG: created already DONE).
 * Status: INIT (queued) -> DOING (a worker has it; running = true) -> DONE | FAILED.
 * progress 0..100; result is JSON text or NULL; error_msg is NULL unless FAILED. */
#ifndef MMS_STORE_ASYNCTASK_H
#define MMS_STORE_ASYNCTASK_H

#include <jansson.h>
#include <stdint.h>

#include "store/db.h"

struct async_task {
    int64_t id, source_id, object_id; /* object_id 0 = none */
    char type[32];
    char status[16];
    int progress;
    char *result;     /* owned, NULL when none */
    char *error_msg;  /* owned, NULL when none */
    char *params;     /* owned JSON text, NULL when none */
    int64_t create_time, start_time, end_time;
    int64_t attempt;
};

void async_task_release(struct async_task *t);

/* Queues a new async task (status INIT). params: JSON (borrowed; NULL = none). */
int store_async_create(struct db *db, int64_t source_id, const char *type, int64_t object_id,
                       json_t *params, int64_t *id_out, struct mms_err *err);
/* An async task that is finished when created (status DONE, progress 100, start = end =
 * create time): the record of an immediate operation (RENAME, UPDATE_CONFIG without test).
 * result: JSON (borrowed, NULL = none). */
int store_async_create_done(struct db *db, int64_t source_id, const char *type, int64_t object_id,
                            json_t *result, int64_t *id_out, struct mms_err *err);
/* Loads one. Returns 0, 1 when not found (or of another source), -1 on error. */
int store_async_get(struct db *db, int64_t source_id, int64_t id, struct async_task *out,
                    struct mms_err *err);
/* Fenced updates by the worker holding (id, attempt). Return 0, 1 if the lease was lost. */
int store_async_progress(struct db *db, int64_t id, int64_t attempt, int progress,
                         struct mms_err *err);
int store_async_set_object(struct db *db, int64_t id, int64_t attempt, int64_t object_id,
                           struct mms_err *err);
/* Final state: DONE with result (JSON text or NULL), or FAILED with error_msg. Clears the
 * lease; progress becomes 100 on DONE. */
int store_async_finish(struct db *db, int64_t id, int64_t attempt, bool ok, const char *result,
                       const char *error_msg, struct mms_err *err);
/* The JSON object GetMmsAsyncTask returns. New reference. */
json_t *async_task_to_json(const struct async_task *t);

#endif
