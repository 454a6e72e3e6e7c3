/* Task logs: one row per step a migration task takes (ListMmsTaskLogs). `action` is what was
 * done (the SQL that ran, or a short verb phrase), `msg` the outcome ("ok", counts, an error). */
#ifndef MMS_STORE_TASKLOG_H
#define MMS_STORE_TASKLOG_H

#include <jansson.h>
#include <stdint.h>

#include "store/db.h"

int store_tasklog_add(struct db *db, int64_t source_id, int64_t task_id, const char *status,
                      const char *action, const char *msg, struct mms_err *err);
/* All logs of a task, oldest first, as the ListMmsTaskLogs array. NULL on error. */
json_t *store_tasklog_list(struct db *db, int64_t task_id, struct mms_err *err);

#endif
