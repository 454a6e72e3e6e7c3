/* Jobs and their tasks (store side). Job status is derived from its tasks
 * (design-notes.md section 1): no tasks started -> INIT; any task in a stage that is neither
 * DONE nor *_FAILED -> DOING; otherwise any failure -> FAILED; else DONE. */
#ifndef MMS_STORE_JOB_H
#define MMS_STORE_JOB_H

#include <stdint.h>

#include "store/db.h"

/* Recomputes and stores job.status from its tasks. */
int store_job_refresh(struct db *db, int64_t job_id, struct mms_err *err);

#endif
