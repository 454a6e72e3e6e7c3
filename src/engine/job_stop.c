/* STOP_JOB: StopMmsJob has already set stopped = 1 on the job and on its unfinished tasks (the
 * stop is visible at once); this async task waits until no stopped task of the job is still
 * held by a live worker (workers see the flag at their next heartbeat, keep the task's stage
 * and let go), so that "DONE" means "nothing of this job is running any more".
 *
 * Polls every STOP_POLL_MS, heartbeating its own lease each time. progress = the share of the
 * stopped tasks that have let go. Result {"jobId":N,"stoppedTasks":N} (the number of tasks that
 * carry the stop), plus "jobDeleted":true when the job was deleted meanwhile (DeleteMmsJob is
 * allowed on a stopped job). Bounded: FAILED after STOP_MAX_WAIT_MS if tasks still hold live
 * leases. On an engine shutdown the row is given back and the wait resumes after restart. */
#include "engine/engine.h"
#include "store/store_asynctask.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <time.h>

#define STOP_POLL_MS 200
#define STOP_MAX_WAIT_MS (10 * 60 * 1000)

/* Counts the stopped tasks of the job and those still held by a live worker. 0 ok, 1 when the
 * job does not exist, -1 error. */
static int count_tasks(struct db *db, int64_t source_id, int64_t job_id, int64_t *stopped,
                       int64_t *live, int64_t *first_live, struct mms_err *err)
{
    static const char job_sql[] = "SELECT 1 FROM job WHERE id = $1 AND source_id = $2";
    static const char sql[] =
        "SELECT COUNT(*),"
        " COALESCE(SUM(CASE WHEN lease_owner IS NOT NULL AND lease_until > $1 THEN 1 ELSE 0"
        " END), 0),"
        " MIN(CASE WHEN lease_owner IS NOT NULL AND lease_until > $1 THEN id END)"
        " FROM task WHERE job_id = $2 AND stopped = 1";
    struct db_stmt *st = db_prepare(db, job_sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, job_id);
    db_bind_i64(st, 2, source_id);
    int rc = db_step(st, err);
    db_done(st);
    if (rc < 0)
        return -1;
    if (rc != DB_ROW)
        return 1;
    if (!(st = db_prepare(db, sql, err)))
        return -1;
    db_bind_i64(st, 1, time_now_ms());
    db_bind_i64(st, 2, job_id);
    rc = db_step(st, err);
    if (rc == DB_ROW) {
        *stopped = db_col_i64(st, 0);
        *live = db_col_i64(st, 1);
        *first_live = db_col_null(st, 2) ? 0 : db_col_i64(st, 2);
    }
    db_done(st);
    return rc == DB_ROW ? 0 : -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void exec_stop_job(struct work *w, json_t *params, int64_t source_id)
{
    struct mms_err err = {0};
    json_t *jid = json_object_get(params, "jobId");
    int64_t job_id = json_is_integer(jid) ? json_integer_value(jid) : 0;
    if (job_id <= 0) {
        store_async_finish(w->db, w->id, w->attempt, false, NULL,
                           "invalid STOP_JOB parameters: jobId is missing", &err);
        return;
    }
    int64_t start = time_mono_ms();
    int last_progress = -1;
    for (;;) {
        enum work_beat b = work_heartbeat(w);
        if (b == WORK_LOST)
            return;
        if (b == WORK_STOP) {
            work_release(w);
            return;
        }
        int64_t stopped = 0, live = 0, first = 0;
        int rc = count_tasks(w->db, source_id, job_id, &stopped, &live, &first, &err);
        char result[128];
        if (rc < 0) {
            log_error("STOP_JOB for job %lld: %s", (long long)job_id, err.msg);
            snprintf(result, sizeof result,
                     "internal error while stopping job %lld; the server log has the detail",
                     (long long)job_id);
            store_async_finish(w->db, w->id, w->attempt, false, NULL, result, &err);
            return;
        }
        if (rc == 1) {
            snprintf(result, sizeof result,
                     "{\"jobId\":%lld,\"stoppedTasks\":0,\"jobDeleted\":true}",
                     (long long)job_id);
            store_async_finish(w->db, w->id, w->attempt, true, result, NULL, &err);
            return;
        }
        if (live == 0) {
            snprintf(result, sizeof result, "{\"jobId\":%lld,\"stoppedTasks\":%lld}",
                     (long long)job_id, (long long)stopped);
            store_async_finish(w->db, w->id, w->attempt, true, result, NULL, &err);
            log_info("job %lld stopped: %lld task(s) carry the stop", (long long)job_id,
                     (long long)stopped);
            return;
        }
        if (time_mono_ms() - start > STOP_MAX_WAIT_MS) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "%lld task(s) of job %lld (e.g. task %lld) were still running after 10 "
                     "minutes; the job stays stopped, and they stop at their next safe point",
                     (long long)live, (long long)job_id, (long long)first);
            store_async_finish(w->db, w->id, w->attempt, false, NULL, msg, &err);
            return;
        }
        int pct = (int)((stopped - live) * 100 / stopped);
        if (pct > 99)
            pct = 99;
        if (pct != last_progress) {
            if (store_async_progress(w->db, w->id, w->attempt, pct, &err) == 1)
                return; /* lease lost */
            last_progress = pct;
        }
        sleep_ms(STOP_POLL_MS);
    }
}
