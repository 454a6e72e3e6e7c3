/* Worker pools, claims, leases and heartbeats. See engine.h for the model. */
#include "engine/engine.h"
#include "store/store.h"
#include "store/store_asynctask.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct worker {
    struct engine *eng;
    pthread_t thread;
    bool control;        /* control worker (async tasks, scans) or task worker */
    int index;
    char owner[48];
};

struct engine {
    struct store *store;
    const struct mms_config *cfg;
    atomic_bool stopping;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned long wake_seq;
    struct worker *workers;
    int nworkers;
};

bool engine_stopping(const struct engine *e)
{
    return atomic_load(&((struct engine *)e)->stopping);
}

void engine_wake(struct engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->wake_seq++;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

/* Waits up to poll_ms, or until woken. */
static void idle_wait(struct engine *e, unsigned long seen)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (e->cfg->poll_ms % 1000) * 1000000;
    ts.tv_sec += e->cfg->poll_ms / 1000 + ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_mutex_lock(&e->mu);
    while (e->wake_seq == seen && !atomic_load(&e->stopping))
        if (pthread_cond_timedwait(&e->cv, &e->mu, &ts) != 0)
            break;
    pthread_mutex_unlock(&e->mu);
}

/* ---- Claims ----
 * One statement each: pick the oldest claimable row and take it. With SQLite, writers are
 * serialised, so the sub-select and the update cannot race; the PostgreSQL store will add
 * FOR UPDATE SKIP LOCKED. */

static const char claim_async_sql[] =
    "UPDATE async_task SET lease_owner = $1, lease_until = $2, attempt = attempt + 1,"
    " status = 'DOING', start_time = COALESCE(start_time, $3)"
    " WHERE id = (SELECT id FROM async_task WHERE status IN ('INIT', 'DOING')"
    "   AND (lease_until IS NULL OR lease_until < $4) ORDER BY id LIMIT 1)"
    " RETURNING id, attempt";

static const char claim_scan_sql[] =
    "UPDATE scan SET lease_owner = $1, lease_until = $2, attempt = attempt + 1,"
    " start_time = COALESCE(start_time, $3)"
    " WHERE id = (SELECT id FROM scan WHERE status = 'SCAN_DOING'"
    "   AND (lease_until IS NULL OR lease_until < $4) ORDER BY id LIMIT 1)"
    " RETURNING id, attempt";

/* A task is claimable when queued, not stopped, not leased, not waiting for an automatic retry
 * (next_attempt_at, engine/retry.h), and its data source runs fewer tasks with a live lease
 * than its limit.maxConcurrentTasks (datasource.max_tasks, 0 = no limit; docs/engine.md
 * "Source protection"). */
static const char claim_task_sql[] =
    "UPDATE task SET lease_owner = $1, lease_until = $2, attempt = attempt + 1,"
    " start_time = COALESCE(start_time, $3)"
    " WHERE id = (SELECT t.id FROM task t WHERE t.queued = 1 AND t.stopped = 0"
    "   AND (t.lease_until IS NULL OR t.lease_until < $4)"
    "   AND (t.next_attempt_at IS NULL OR t.next_attempt_at <= $4)"
    "   AND NOT EXISTS (SELECT 1 FROM datasource d WHERE d.id = t.source_id AND d.max_tasks > 0"
    "     AND d.max_tasks <= (SELECT COUNT(*) FROM task r WHERE r.source_id = t.source_id"
    "       AND r.lease_until >= $4))"
    "   ORDER BY t.seq, t.id LIMIT 1)"
    " RETURNING id, attempt";

static int claim(struct work *w, enum work_kind kind)
{
    const char *sql = kind == WORK_ASYNC  ? claim_async_sql
                      : kind == WORK_SCAN ? claim_scan_sql
                                          : claim_task_sql;
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(w->db, sql, &err);
    if (!st)
        return -1;
    int64_t now = time_now_ms();
    int64_t until = now + w->cfg->lease_seconds * 1000;
    db_bind_text(st, 1, w->owner);
    db_bind_i64(st, 2, until);
    db_bind_i64(st, 3, now / 1000);
    db_bind_i64(st, 4, now);
    int rc = db_step(st, &err);
    if (rc == DB_ROW) {
        w->kind = kind;
        w->id = db_col_i64(st, 0);
        w->attempt = db_col_i64(st, 1);
        w->lease_until_ms = until;
        w->last_beat_ms = now;
    }
    db_done(st);
    return rc == DB_ROW ? 1 : rc < 0 ? -1 : 0;
}

static const char *table_of(enum work_kind k)
{
    return k == WORK_ASYNC ? "async_task" : k == WORK_SCAN ? "scan" : "task";
}

enum work_beat work_heartbeat(struct work *w)
{
    static const char beat_async[] = "UPDATE async_task SET lease_until = $1"
                                     " WHERE id = $2 AND attempt = $3 RETURNING 0";
    static const char beat_scan[] = "UPDATE scan SET lease_until = $1"
                                    " WHERE id = $2 AND attempt = $3 RETURNING 0";
    static const char beat_task[] = "UPDATE task SET lease_until = $1"
                                    " WHERE id = $2 AND attempt = $3 RETURNING stopped";
    static const char peek_task[] = "SELECT stopped FROM task WHERE id = $1 AND attempt = $2";

    if (atomic_load(&w->eng->stopping))
        return WORK_STOP;
    int64_t now = time_now_ms();
    int64_t lease_ms = w->cfg->lease_seconds * 1000;
    struct mms_err err = {0};
    struct db_stmt *st;
    bool extend = now - w->last_beat_ms >= lease_ms / 3;

    if (!extend) {
        /* Between lease extensions a task still notices a stop within a batch or two. */
        if (w->kind != WORK_TASK || now - w->last_beat_ms < 500)
            return WORK_GO;
        if (!(st = db_prepare(w->db, peek_task, &err)))
            return WORK_GO;
        db_bind_i64(st, 1, w->id);
        db_bind_i64(st, 2, w->attempt);
        int rc = db_step(st, &err);
        enum work_beat b = rc == DB_ROW ? (db_col_i64(st, 0) ? WORK_STOP : WORK_GO) : WORK_LOST;
        db_done(st);
        return rc < 0 ? WORK_GO : b;
    }

    const char *sql = w->kind == WORK_ASYNC ? beat_async : w->kind == WORK_SCAN ? beat_scan
                                                                                 : beat_task;
    if (!(st = db_prepare(w->db, sql, &err)))
        return WORK_GO; /* a store hiccup is not a lost lease; try again next batch */
    int64_t until = now + lease_ms;
    db_bind_i64(st, 1, until);
    db_bind_i64(st, 2, w->id);
    db_bind_i64(st, 3, w->attempt);
    int rc = db_step(st, &err);
    enum work_beat b = WORK_GO;
    if (rc == DB_ROW) {
        w->lease_until_ms = until;
        w->last_beat_ms = now;
        if (w->kind == WORK_TASK && db_col_i64(st, 0))
            b = WORK_STOP;
    } else if (rc == DB_DONE) {
        log_warn("lease on %s %lld attempt %lld was taken over", table_of(w->kind),
                 (long long)w->id, (long long)w->attempt);
        b = WORK_LOST;
    }
    db_done(st);
    return b;
}

void work_release(struct work *w)
{
    static const char rel_async[] = "UPDATE async_task SET lease_owner = NULL,"
                                    " lease_until = NULL WHERE id = $1 AND attempt = $2";
    static const char rel_scan[] = "UPDATE scan SET lease_owner = NULL, lease_until = NULL"
                                   " WHERE id = $1 AND attempt = $2";
    static const char rel_task[] = "UPDATE task SET lease_owner = NULL, lease_until = NULL"
                                   " WHERE id = $1 AND attempt = $2";
    const char *sql = w->kind == WORK_ASYNC ? rel_async : w->kind == WORK_SCAN ? rel_scan
                                                                                : rel_task;
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(w->db, sql, &err);
    if (!st)
        return;
    db_bind_i64(st, 1, w->id);
    db_bind_i64(st, 2, w->attempt);
    db_step(st, &err);
    db_done(st);
}

/* ---- Async task dispatch ---- */

void exec_async(struct work *w)
{
    static const char sql[] = "SELECT type, params, source_id FROM async_task WHERE id = $1";
    struct mms_err err = {0};
    char type[32] = "";
    json_t *params = NULL;
    int64_t source_id = 0;
    struct db_stmt *st = db_prepare(w->db, sql, &err);
    if (!st)
        return;
    db_bind_i64(st, 1, w->id);
    if (db_step(st, &err) == DB_ROW) {
        snprintf(type, sizeof type, "%s", db_col_text(st, 0));
        const char *p = db_col_text(st, 1);
        params = p ? json_loads(p, 0, NULL) : NULL;
        source_id = db_col_i64(st, 2);
    }
    db_done(st);
    if (!params)
        params = json_object();

    if (strcmp(type, "TASK_CREATE") == 0)
        exec_task_create(w, params, source_id);
    else if (strcmp(type, "STOP_JOB") == 0)
        exec_stop_job(w, params, source_id);
    else if (strncmp(type, "DATASOURCE_", 11) == 0)
        exec_datasource_op(w, type, params, source_id);
    else
        store_async_finish(w->db, w->id, w->attempt, false, NULL, "unknown async task type",
                           &err);
    json_decref(params);
}

/* ---- Threads ---- */

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    struct engine *e = wk->eng;
    struct db *db = NULL;
    struct mms_err err = {0};
    if (store_connect(e->store, &db, &err) < 0) {
        log_error("worker %s: cannot open the store: %s", wk->owner, err.msg);
        return NULL;
    }
    while (!atomic_load(&e->stopping)) {
        pthread_mutex_lock(&e->mu);
        unsigned long seen = e->wake_seq;
        pthread_mutex_unlock(&e->mu);

        struct work w = {.eng = e, .db = db, .cfg = e->cfg, .owner = wk->owner};
        int got = 0;
        if (wk->control) {
            got = claim(&w, WORK_ASYNC);
            if (got == 0)
                got = claim(&w, WORK_SCAN);
        } else {
            got = claim(&w, WORK_TASK);
        }
        if (got <= 0) {
            idle_wait(e, seen);
            continue;
        }
        char ctx[64];
        snprintf(ctx, sizeof ctx, "%s=%lld", w.kind == WORK_ASYNC ? "async"
                                             : w.kind == WORK_SCAN ? "scan"
                                                                   : "task",
                 (long long)w.id);
        log_set_ctx(ctx);
        log_debug("claimed attempt %lld", (long long)w.attempt);
        if (w.kind == WORK_ASYNC)
            exec_async(&w);
        else if (w.kind == WORK_SCAN)
            exec_scan(&w);
        else
            exec_task(&w);
        db_rollback(db); /* never leave a transaction open between units of work */
        log_set_ctx(NULL);
    }
    db_close(db);
    return NULL;
}

int engine_start(struct engine **out, struct store *store, const struct mms_config *cfg,
                 struct mms_err *err)
{
    struct engine *e = xcalloc(1, sizeof *e);
    e->store = store;
    e->cfg = cfg;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    int n = (int)(cfg->control_workers + cfg->workers);
    e->workers = xcalloc((size_t)n, sizeof *e->workers);
    for (int i = 0; i < n; i++) {
        struct worker *wk = &e->workers[i];
        wk->eng = e;
        wk->index = i;
        wk->control = i < cfg->control_workers;
        snprintf(wk->owner, sizeof wk->owner, "%d-%s%d", (int)getpid(), wk->control ? "c" : "w",
                 i);
        if (pthread_create(&wk->thread, NULL, worker_main, wk) != 0) {
            atomic_store(&e->stopping, true);
            engine_wake(e);
            for (int j = 0; j < i; j++)
                pthread_join(e->workers[j].thread, NULL);
            free(e->workers);
            free(e);
            return mms_err_set(err, 500, "InternalError", "cannot start worker threads");
        }
        e->nworkers++;
    }
    *out = e;
    return 0;
}

void engine_stop(struct engine *e)
{
    if (!e)
        return;
    atomic_store(&e->stopping, true);
    engine_wake(e);
    for (int i = 0; i < e->nworkers; i++)
        pthread_join(e->workers[i].thread, NULL);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e->workers);
    free(e);
}
