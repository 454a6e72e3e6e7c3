/* The migration task state machine (mms-api.md 8.7, design-notes.md section 1):
 *   INIT -> SCHEMA_DOING -> SCHEMA_DONE -> DATA_DOING -> DATA_DONE
 *        -> VERIFICATION_DOING -> VERIFICATION_DONE -> DONE
 * Each *_DOING may end in the matching *_FAILED. A stopped or crashed task resumes from the
 * stage it was in (a *_DOING stage is redone from its start). Retry of a failed task restarts
 * the failed stage; a verification failure re-runs data (the destination may be wrong). */
#ifndef MMS_TASK_STATE_H
#define MMS_TASK_STATE_H

#include <stdbool.h>

enum task_stage { STAGE_SCHEMA = 0, STAGE_DATA = 1, STAGE_VERIFY = 2, STAGE_FINISHED = 3 };

/* Every status, in pipeline order. */
extern const char *const task_statuses[];   /* NULL-terminated */

bool task_status_valid(const char *status);
/* DONE or *_FAILED: nothing will run it until a retry. */
bool task_status_terminal(const char *status);
bool task_status_failed(const char *status);
/* The stage a worker claiming a task in this status runs next (STAGE_FINISHED for DONE).
 * *_FAILED statuses map to their own stage (used after a retry resets them). */
enum task_stage task_status_next_stage(const char *status);
const char *task_stage_doing(enum task_stage s);   /* "SCHEMA_DOING", ... */
const char *task_stage_done(enum task_stage s);    /* "SCHEMA_DONE", ... */
const char *task_stage_failed(enum task_stage s);  /* "SCHEMA_FAILED", ... */
/* The status a failed task is reset to by RetryMmsTask/RetryMmsJob:
 * SCHEMA_FAILED -> INIT, DATA_FAILED -> SCHEMA_DONE, VERIFICATION_FAILED -> SCHEMA_DONE.
 * NULL when the status is not a failure. */
const char *task_status_retry_from(const char *status);

#endif
