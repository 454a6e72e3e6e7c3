/* The engine: fixed pools of worker threads that claim durable work from the store with
 * leases and run it. Three kinds of work, each a row kind in the store:
 *   async_task  (TASK_CREATE, STOP_JOB, DATASOURCE_*)  -> control workers
 *   scan        (metadata fetch)                       -> control workers
 *   task        (a migration task, run stage by stage) -> task workers
 * Control work has its own threads so that a StopMmsJob or a new job is never stuck behind
 * long migrations.
 *
 * Leases: a claim sets lease_owner, lease_until (ms) and bumps attempt. A running executor
 * calls work_heartbeat() at every safe point (between batches); it extends the lease and
 * reports whether to go on. Every write an executor makes names (id, attempt) (fencing). On a
 * clean stop, executors give their rows back (work_release) so they resume on the next start;
 * after a crash, the next start releases every lease (single node, see store.h). */
#ifndef MMS_ENGINE_H
#define MMS_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "store/db.h"
#include "util/config.h"
#include "util/err.h"

struct store;
struct engine;

enum work_kind { WORK_ASYNC = 1, WORK_SCAN, WORK_TASK };

/* One claimed unit of work, handed to an executor. */
struct work {
    struct engine *eng;
    struct db *db;                  /* the worker's own store connection */
    const struct mms_config *cfg;
    const char *owner;              /* "<pid>-<thread>", unique per worker */
    enum work_kind kind;
    int64_t id;
    int64_t attempt;                /* fencing token: every write says AND attempt = this */
    int64_t lease_until_ms;
    int64_t last_beat_ms;
};

int engine_start(struct engine **out, struct store *store, const struct mms_config *cfg,
                 struct mms_err *err);
/* Tells idle workers there may be new work (after an API call queued some). */
void engine_wake(struct engine *e);
/* Stops: running executors see WORK_STOP at their next heartbeat and give their work back;
 * joins every thread. */
void engine_stop(struct engine *e);
bool engine_stopping(const struct engine *e);

enum work_beat {
    WORK_GO = 0,      /* carry on */
    WORK_STOP = 1,    /* stop at this safe point: engine shutting down, or the task was
                         stopped (StopMmsJob); call work_release and return */
    WORK_LOST = -1,   /* the lease was taken over: return at once and write nothing more */
};
/* Extends the lease when a third of it has passed (cheap to call per batch). For tasks it also
 * reports a stop request (task.stopped = 1). */
enum work_beat work_heartbeat(struct work *w);
/* Gives the row back without changing its status: lease cleared, resumed by a later claim. */
void work_release(struct work *w);

/* Executors, one per kind of work (each in its own module). They own the row's final write,
 * which must clear the lease (lease_owner = NULL, lease_until = NULL) with the fencing check. */
void exec_async(struct work *w);            /* engine.c: dispatches on async_task.type */
void exec_task_create(struct work *w, json_t *params, int64_t source_id);  /* job_create.c */
void exec_stop_job(struct work *w, json_t *params, int64_t source_id);     /* job_stop.c */
void exec_datasource_op(struct work *w, const char *type, json_t *params,
                        int64_t source_id);                                /* datasource_op.c */
void exec_scan(struct work *w);             /* scan.c */
void exec_task(struct work *w);             /* task_run.c */

#endif
