/* Jobs (store side): status roll-up from tasks, the Job object, and the control operations
 * (delete, start, stop, retry), each one transaction. See store_job.h. */
#include "store/store_job.h"
#include "store/store_asynctask.h"
#include "store/store_catalog.h"
#include "store/store_task.h"
#include "util/buf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ SQL interning */

static pthread_mutex_t intern_mu = PTHREAD_MUTEX_INITIALIZER;
static char *interned[STORE_SQL_INTERN_MAX];

const char *store_sql_intern(const char *sql)
{
    const char *r = NULL;
    pthread_mutex_lock(&intern_mu);
    for (int i = 0; i < STORE_SQL_INTERN_MAX; i++) {
        if (!interned[i]) {
            interned[i] = xstrdup(sql); /* lives as long as the process, on purpose */
            r = interned[i];
            break;
        }
        if (strcmp(interned[i], sql) == 0) {
            r = interned[i];
            break;
        }
    }
    pthread_mutex_unlock(&intern_mu);
    return r;
}

/* ================================================================ Status */

int store_job_refresh(struct db *db, int64_t job_id, struct mms_err *err)
{
    static const char count_sql[] =
        "SELECT COUNT(*),"
        " COALESCE(SUM(CASE WHEN status = 'INIT' THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN status = 'DONE' THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN status LIKE '%FAILED' THEN 1 ELSE 0 END), 0)"
        " FROM task WHERE job_id = $1";
    static const char set_sql[] =
        "UPDATE job SET status = $1, update_time = $2 WHERE id = $3 AND status <> $1";
    struct db_stmt *st = db_prepare(db, count_sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, job_id);
    int rc = db_step(st, err);
    int64_t total = 0, init = 0, done = 0, failed = 0;
    if (rc == DB_ROW) {
        total = db_col_i64(st, 0);
        init = db_col_i64(st, 1);
        done = db_col_i64(st, 2);
        failed = db_col_i64(st, 3);
    }
    db_done(st);
    if (rc < 0)
        return -1;
    const char *status;
    if (total == 0)
        status = "DONE";
    else if (init == total)
        status = "INIT";
    else if (done + failed < total)
        status = "DOING";
    else if (failed > 0)
        status = "FAILED";
    else
        status = "DONE";
    if (!(st = db_prepare(db, set_sql, err)))
        return -1;
    db_bind_text(st, 1, status);
    db_bind_i64(st, 2, time_now());
    db_bind_i64(st, 3, job_id);
    rc = db_step(st, err);
    db_done(st);
    return rc < 0 ? -1 : 0;
}

/* ================================================================ The Job object */

#define JOB_COLS                                                                                 \
    "SELECT j.id, j.name, j.source_id, d.name, j.db_id, j.src_db_name, j.src_schema_name,"       \
    " j.dst_db_name, j.dst_schema_name, j.type, j.status, j.stopped, j.config, j.eta,"           \
    " j.create_time, j.timer_id,"                                                                \
    " (SELECT COUNT(*) FROM task t WHERE t.job_id = j.id),"                                      \
    " (SELECT COUNT(*) FROM task t WHERE t.job_id = j.id AND t.status = 'DONE'),"                \
    " (SELECT MAX(a.id) FROM async_task a WHERE a.object_id = j.id AND a.type = 'STOP_JOB'"      \
    "   AND a.source_id = j.source_id)"                                                          \
    " FROM job j JOIN datasource d ON d.id = j.source_id"

static json_t *text_or_null(struct db_stmt *st, int col)
{
    const char *s = db_col_text(st, col);
    return s ? json_string(s) : json_null();
}

static json_t *i64_or_null(struct db_stmt *st, int col)
{
    return db_col_null(st, col) ? json_null() : json_integer(db_col_i64(st, col));
}

static json_t *time_or_null(struct db_stmt *st, int col)
{
    if (db_col_null(st, col) || db_col_i64(st, col) <= 0)
        return json_null();
    char s[20];
    time_format(db_col_i64(st, col), s);
    return json_string(s);
}

static json_t *job_row(struct db_stmt *st)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer(db_col_i64(st, 0)));
    json_object_set_new(j, "name", text_or_null(st, 1));
    json_object_set_new(j, "sourceId", json_integer(db_col_i64(st, 2)));
    json_object_set_new(j, "sourceName", text_or_null(st, 3));
    json_object_set_new(j, "dbId", i64_or_null(st, 4));
    json_object_set_new(j, "srcDbName", text_or_null(st, 5));
    json_object_set_new(j, "srcSchemaName", text_or_null(st, 6));
    json_object_set_new(j, "dstDbName", text_or_null(st, 7));
    json_object_set_new(j, "dstSchemaName", text_or_null(st, 8));
    json_object_set_new(j, "type", text_or_null(st, 9));
    json_object_set_new(j, "status", text_or_null(st, 10));
    json_object_set_new(j, "stopped", json_boolean(db_col_i64(st, 11) != 0));
    const char *cfg = db_col_text(st, 12);
    json_t *c = cfg ? json_loads(cfg, 0, NULL) : NULL;
    json_object_set_new(j, "config", c ? c : json_object());
    json_object_set_new(j, "eta", text_or_null(st, 13));
    json_object_set_new(j, "createTime", time_or_null(st, 14));
    json_object_set_new(j, "timerId", i64_or_null(st, 15));
    json_object_set_new(j, "taskNum", json_integer(db_col_i64(st, 16)));
    json_object_set_new(j, "taskDone", json_integer(db_col_i64(st, 17)));
    json_object_set_new(j, "stopAsyncTaskId", i64_or_null(st, 18));
    return j;
}

int store_job_get(struct db *db, int64_t source_id, int64_t job_id, json_t **out,
                  struct mms_err *err)
{
    static const char sql[] = JOB_COLS " WHERE j.id = $1 AND j.source_id = $2";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, job_id);
    db_bind_i64(st, 2, source_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW)
        *out = job_row(st);
    db_done(st);
    return rc < 0 ? -1 : rc == DB_ROW ? 0 : 1;
}

char *store_like_substring(const char *s)
{
    size_t n = strlen(s);
    char *p = xmalloc(n * 2 + 3), *o = p;
    *o++ = '%';
    for (; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            *o++ = '\\';
        *o++ = *s;
    }
    *o++ = '%';
    *o = '\0';
    return p;
}

#define JOB_WHERE                                                                                \
    " WHERE j.source_id = $1"                                                                    \
    " AND ($2 IS NULL OR j.name LIKE $2 ESCAPE '\\')"                                            \
    " AND ($3 IS NULL OR j.src_db_name = $3)"                                                    \
    " AND ($4 IS NULL OR EXISTS (SELECT 1 FROM task t WHERE t.job_id = j.id"                     \
    "   AND t.src_table_name = $4))"                                                             \
    " AND ($5 IS NULL OR j.dst_db_name = $5 OR EXISTS (SELECT 1 FROM task t"                     \
    "   WHERE t.job_id = j.id AND t.dst_db_name = $5))"                                          \
    " AND ($6 IS NULL OR EXISTS (SELECT 1 FROM task t WHERE t.job_id = j.id"                     \
    "   AND t.dst_table_name = $6))"                                                             \
    " AND ($7 IS NULL OR j.status = $7)"                                                         \
    " AND ($8 IS NULL OR j.stopped = $8)"                                                        \
    " AND ($9 IS NULL OR j.timer_id = $9)"

static void bind_job_filter(struct db_stmt *st, int64_t source_id, const struct job_filter *f,
                            const char *name_like)
{
    db_bind_i64(st, 1, source_id);
    db_bind_text(st, 2, name_like);
    db_bind_text(st, 3, f->src_db);
    db_bind_text(st, 4, f->src_table);
    db_bind_text(st, 5, f->dst_db);
    db_bind_text(st, 6, f->dst_table);
    db_bind_text(st, 7, f->status);
    if (f->stopped >= 0)
        db_bind_i64(st, 8, f->stopped);
    else
        db_bind_null(st, 8);
    if (f->timer_id > 0)
        db_bind_i64(st, 9, f->timer_id);
    else
        db_bind_null(st, 9);
}

int store_job_list(struct db *db, int64_t source_id, const struct job_filter *f, json_t **list,
                   int64_t *total, struct mms_err *err)
{
    static const char count_sql[] = "SELECT COUNT(*) FROM job j" JOB_WHERE;
    char *like = f->name ? store_like_substring(f->name) : NULL;
    struct buf b;
    buf_init(&b, BUF_NO_LIMIT);
    int ret = -1;
    *list = NULL;

    struct db_stmt *st = db_prepare(db, count_sql, err);
    if (!st)
        goto out;
    bind_job_filter(st, source_id, f, like);
    int rc = db_step(st, err);
    if (rc == DB_ROW)
        *total = db_col_i64(st, 0);
    db_done(st);
    if (rc < 0)
        goto out;

    buf_printf(&b, "%s%s ORDER BY %s LIMIT $10 OFFSET $11", JOB_COLS, JOB_WHERE,
               f->order ? f->order : "j.id ASC");
    const char *sql = store_sql_intern(buf_str(&b));
    if (!sql) {
        MMS_ERR_INTERNAL(err, "too many distinct job list queries");
        goto out;
    }
    if (!(st = db_prepare(db, sql, err)))
        goto out;
    bind_job_filter(st, source_id, f, like);
    db_bind_i64(st, 10, f->limit < 0 ? -1 : f->limit);
    db_bind_i64(st, 11, f->offset);
    json_t *arr = json_array();
    while ((rc = db_step(st, err)) == DB_ROW)
        json_array_append_new(arr, job_row(st));
    db_done(st);
    if (rc < 0) {
        json_decref(arr);
        goto out;
    }
    *list = arr;
    ret = 0;
out:
    free(like);
    buf_release(&b);
    return ret;
}

/* ================================================================ Control operations */

/* 0 when the job exists in the source (with its stopped flag), 1 not, -1 error. */
static int job_find(struct db *db, int64_t source_id, int64_t job_id, bool *stopped,
                    struct mms_err *err)
{
    static const char sql[] = "SELECT stopped FROM job WHERE id = $1 AND source_id = $2";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, job_id);
    db_bind_i64(st, 2, source_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW && stopped)
        *stopped = db_col_i64(st, 0) != 0;
    db_done(st);
    return rc < 0 ? -1 : rc == DB_ROW ? 0 : 1;
}

/* Runs a statement whose only parameter is the job id. */
static int exec_job_sql(struct db *db, const char *sql, int64_t job_id, struct mms_err *err)
{
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, job_id);
    int rc = db_step(st, err);
    db_done(st);
    return rc < 0 ? -1 : 0;
}

/* Ends a transaction opened by a control operation: commit when rc == 0, else roll back. */
static int end_txn(struct db *db, int rc, struct mms_err *err)
{
    if (rc == 0)
        return db_commit(db, err) < 0 ? -1 : 0;
    db_rollback(db);
    return rc;
}

/* The catalog objects of one unfinished task that are still DOING go back to INIT. */
static int undo_doing(struct db *db, int64_t task_id, int64_t table_id, struct mms_err *err)
{
    static const char parts_sql[] =
        "SELECT p.id FROM task_part tp JOIN part p ON p.id = tp.part_id"
        " WHERE tp.task_id = $1 AND p.status = 'DOING' ORDER BY p.id";
    static const char nparts_sql[] = "SELECT COUNT(*) FROM task_part WHERE task_id = $1";
    static const char table_sql[] = "SELECT status FROM tbl WHERE id = $1";
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int ret = -1, rc;
    struct db_stmt *st = db_prepare(db, nparts_sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, task_id);
    int64_t nparts = 0;
    if ((rc = db_step(st, err)) == DB_ROW)
        nparts = db_col_i64(st, 0);
    db_done(st);
    if (rc < 0)
        return -1;

    if (nparts > 0) {
        if (!(st = db_prepare(db, parts_sql, err)))
            return -1;
        db_bind_i64(st, 1, task_id);
        while ((rc = db_step(st, err)) == DB_ROW) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                ids = xreallocarray(ids, cap, sizeof *ids);
            }
            ids[n++] = db_col_i64(st, 0);
        }
        db_done(st);
        if (rc < 0)
            goto out;
        ret = n > 0 ? store_catalog_mark(db, table_id, ids, n, "INIT", err) : 0;
        goto out;
    }
    if (!(st = db_prepare(db, table_sql, err)))
        return -1;
    db_bind_i64(st, 1, table_id);
    bool doing = false;
    if ((rc = db_step(st, err)) == DB_ROW)
        doing = strcmp(db_col_text(st, 0), "DOING") == 0;
    db_done(st);
    if (rc < 0)
        goto out;
    ret = doing ? store_catalog_mark(db, table_id, NULL, 0, "INIT", err) : 0;
out:
    free(ids);
    return ret < 0 ? -1 : 0;
}

int store_job_delete(struct db *db, int64_t source_id, int64_t job_id, int64_t now_ms,
                     struct mms_err *err)
{
    static const char running_sql[] =
        "SELECT COUNT(*), MIN(id) FROM task WHERE job_id = $1 AND lease_owner IS NOT NULL"
        " AND lease_until > $2";
    static const char open_sql[] =
        "SELECT id, table_id FROM task WHERE job_id = $1 AND status <> 'DONE'"
        " AND status NOT LIKE '%FAILED' AND table_id IS NOT NULL ORDER BY id";
    static const char del_sql[] = "DELETE FROM job WHERE id = $1";
    struct { int64_t task, table; } *todo = NULL;
    size_t nopen = 0, cap = 0;
    bool stopped = false;
    if (db_begin(db, err) < 0)
        return -1;
    int rc = job_find(db, source_id, job_id, &stopped, err);
    if (rc != 0)
        goto out;
    rc = -1;
    if (!stopped) {
        struct db_stmt *st = db_prepare(db, running_sql, err);
        if (!st)
            goto out;
        db_bind_i64(st, 1, job_id);
        db_bind_i64(st, 2, now_ms);
        int s = db_step(st, err);
        int64_t n = s == DB_ROW ? db_col_i64(st, 0) : 0;
        int64_t first = s == DB_ROW ? db_col_i64(st, 1) : 0;
        db_done(st);
        if (s < 0)
            goto out;
        if (n > 0) {
            mms_err_set(err, 409, "Conflict.JobRunning",
                        "job %lld has %lld running task(s) (e.g. task %lld); stop it first "
                        "(StopMmsJob), then delete it",
                        (long long)job_id, (long long)n, (long long)first);
            goto out;
        }
    }
    struct db_stmt *st = db_prepare(db, open_sql, err);
    if (!st)
        goto out;
    db_bind_i64(st, 1, job_id);
    int s;
    while ((s = db_step(st, err)) == DB_ROW) {
        if (nopen == cap) {
            cap = cap ? cap * 2 : 16;
            todo = xreallocarray(todo, cap, sizeof *todo);
        }
        todo[nopen].task = db_col_i64(st, 0);
        todo[nopen].table = db_col_i64(st, 1);
        nopen++;
    }
    db_done(st);
    if (s < 0)
        goto out;
    for (size_t i = 0; i < nopen; i++)
        if (undo_doing(db, todo[i].task, todo[i].table, err) < 0)
            goto out;
    if (exec_job_sql(db, del_sql, job_id, err) < 0)
        goto out;
    rc = 0;
out:
    free(todo);
    return end_txn(db, rc, err);
}

int store_job_start(struct db *db, int64_t source_id, int64_t job_id, struct mms_err *err)
{
    static const char job_sql[] = "UPDATE job SET stopped = 0, update_time = $1 WHERE id = $2";
    static const char task_sql[] =
        "UPDATE task SET stopped = 0, next_attempt_at = NULL, queued = CASE WHEN status = 'DONE'"
        " OR status LIKE '%FAILED' THEN queued ELSE 1 END WHERE job_id = $1";
    if (db_begin(db, err) < 0)
        return -1;
    int rc = job_find(db, source_id, job_id, NULL, err);
    if (rc != 0)
        goto out;
    rc = -1;
    struct db_stmt *st = db_prepare(db, job_sql, err);
    if (!st)
        goto out;
    db_bind_i64(st, 1, time_now());
    db_bind_i64(st, 2, job_id);
    int s = db_step(st, err);
    db_done(st);
    if (s < 0 || exec_job_sql(db, task_sql, job_id, err) < 0)
        goto out;
    rc = 0;
out:
    return end_txn(db, rc, err);
}

int store_job_stop(struct db *db, int64_t source_id, int64_t job_id, int64_t *async_id,
                   struct mms_err *err)
{
    static const char job_sql[] = "UPDATE job SET stopped = 1, update_time = $1 WHERE id = $2";
    static const char task_sql[] = "UPDATE task SET stopped = 1 WHERE job_id = $1"
                                   " AND status <> 'DONE' AND status NOT LIKE '%FAILED'";
    json_t *params = NULL;
    if (db_begin(db, err) < 0)
        return -1;
    int rc = job_find(db, source_id, job_id, NULL, err);
    if (rc != 0)
        goto out;
    rc = -1;
    struct db_stmt *st = db_prepare(db, job_sql, err);
    if (!st)
        goto out;
    db_bind_i64(st, 1, time_now());
    db_bind_i64(st, 2, job_id);
    int s = db_step(st, err);
    db_done(st);
    if (s < 0 || exec_job_sql(db, task_sql, job_id, err) < 0)
        goto out;
    params = json_pack("{s:I}", "jobId", (json_int_t)job_id);
    if (store_async_create(db, source_id, "STOP_JOB", job_id, params, async_id, err) < 0)
        goto out;
    rc = 0;
out:
    json_decref(params);
    return end_txn(db, rc, err);
}

int store_job_retry(struct db *db, int64_t source_id, int64_t job_id, int64_t *n,
                    struct mms_err *err)
{
    static const char failed_sql[] =
        "SELECT id, status FROM task WHERE job_id = $1 AND status LIKE '%FAILED' ORDER BY id";
    static const char job_sql[] = "UPDATE job SET stopped = 0, update_time = $1 WHERE id = $2";
    static const char unstop_sql[] =
        "UPDATE task SET stopped = 0, next_attempt_at = NULL, queued = CASE WHEN status = 'DONE'"
        " OR status LIKE '%FAILED' THEN queued ELSE 1 END WHERE job_id = $1";
    struct { int64_t id; char status[32]; } *v = NULL;
    size_t nv = 0, cap = 0;
    *n = 0;
    if (db_begin(db, err) < 0)
        return -1;
    int rc = job_find(db, source_id, job_id, NULL, err);
    if (rc != 0)
        goto out;
    rc = -1;
    struct db_stmt *st = db_prepare(db, failed_sql, err);
    if (!st)
        goto out;
    db_bind_i64(st, 1, job_id);
    int s;
    while ((s = db_step(st, err)) == DB_ROW) {
        if (nv == cap) {
            cap = cap ? cap * 2 : 16;
            v = xreallocarray(v, cap, sizeof *v);
        }
        v[nv].id = db_col_i64(st, 0);
        snprintf(v[nv].status, sizeof v[nv].status, "%s", db_col_text(st, 1));
        nv++;
    }
    db_done(st);
    if (s < 0)
        goto out;
    if (nv == 0) {
        mms_err_set(err, 409, "Conflict.NothingToRetry",
                    "job %lld has no failed task to retry", (long long)job_id);
        goto out;
    }
    /* Clear the stop first: the reset below sets stopped = 0 on the failed tasks anyway. */
    if (exec_job_sql(db, unstop_sql, job_id, err) < 0)
        goto out;
    for (size_t i = 0; i < nv; i++) {
        int r = store_task_reset_failed(db, v[i].id, v[i].status, err);
        if (r < 0)
            goto out;
        if (r == 0)
            (*n)++;
    }
    if (!(st = db_prepare(db, job_sql, err)))
        goto out;
    db_bind_i64(st, 1, time_now());
    db_bind_i64(st, 2, job_id);
    s = db_step(st, err);
    db_done(st);
    if (s < 0 || store_job_refresh(db, job_id, err) < 0)
        goto out;
    rc = 0;
out:
    free(v);
    return end_txn(db, rc, err);
}
