/* The task runner's SQL. Every write is fenced by (id, attempt); see store_taskrun.h. */
#include "store/store_taskrun.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void taskrun_release(struct taskrun *t)
{
    free(t->type);
    free(t->src_db);
    free(t->src_schema);
    free(t->src_table);
    free(t->dst_db);
    free(t->dst_schema);
    free(t->dst_table);
    for (size_t i = 0; i < t->nparts; i++) {
        free(t->parts[i].value);
        free(t->parts[i].dst_value);
    }
    free(t->parts);
    free(t->job_config);
    free(t->ds_type);
    free(t->ds_config);
    memset(t, 0, sizeof *t);
}

static int64_t col_i64_or0(struct db_stmt *st, int col)
{
    return db_col_null(st, col) ? 0 : db_col_i64(st, col);
}

static int load_parts(struct db *db, struct taskrun *t, struct mms_err *err)
{
    static const char sql[] = "SELECT p.id, p.value, p.dst_value FROM task_part tp"
                              " JOIN part p ON p.id = tp.part_id"
                              " WHERE tp.task_id = $1 ORDER BY p.id";
    struct db_stmt *st = db_prepare(db, sql, err);
    size_t cap = 0;
    int rc;
    if (!st)
        return -1;
    db_bind_i64(st, 1, t->id);
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (t->nparts == cap) {
            cap = cap ? cap * 2 : 8;
            t->parts = xreallocarray(t->parts, cap, sizeof *t->parts);
        }
        struct taskrun_part *p = &t->parts[t->nparts++];
        const char *value = db_col_text(st, 1), *dst = db_col_text(st, 2);
        p->id = db_col_i64(st, 0);
        p->value = xstrdup(value ? value : "");
        p->dst_value = xstrdup(dst && dst[0] ? dst : p->value);
    }
    db_done(st);
    return rc < 0 ? -1 : 0;
}

int store_taskrun_load(struct db *db, int64_t id, int64_t attempt, struct taskrun *out,
                       struct mms_err *err)
{
    static const char sql[] =
        "SELECT t.job_id, t.source_id, t.db_id, t.table_id, t.status, t.type, t.stopped,"
        " t.schema_only, t.src_db_name, t.src_schema_name, t.src_table_name, t.dst_db_name,"
        " t.dst_schema_name, t.dst_table_name, t.rows_total, j.config, d.type, d.config,"
        " t.retry_count, t.first_failure_at"
        " FROM task t JOIN job j ON j.id = t.job_id JOIN datasource d ON d.id = t.source_id"
        " WHERE t.id = $1 AND t.attempt = $2";
    struct taskrun t = {0};
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, id);
    db_bind_i64(st, 2, attempt);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        t.id = id;
        t.job_id = db_col_i64(st, 0);
        t.source_id = db_col_i64(st, 1);
        t.db_id = col_i64_or0(st, 2);
        t.table_id = col_i64_or0(st, 3);
        snprintf(t.status, sizeof t.status, "%s", db_col_text(st, 4));
        t.type = dup_or_null(db_col_text(st, 5));
        t.stopped = db_col_i64(st, 6) != 0;
        t.schema_only = db_col_i64(st, 7) != 0;
        t.src_db = dup_or_null(db_col_text(st, 8));
        t.src_schema = dup_or_null(db_col_text(st, 9));
        t.src_table = dup_or_null(db_col_text(st, 10));
        t.dst_db = dup_or_null(db_col_text(st, 11));
        t.dst_schema = dup_or_null(db_col_text(st, 12));
        t.dst_table = dup_or_null(db_col_text(st, 13));
        t.rows_total = col_i64_or0(st, 14);
        t.job_config = dup_or_null(db_col_text(st, 15));
        t.ds_type = dup_or_null(db_col_text(st, 16));
        t.ds_config = dup_or_null(db_col_text(st, 17));
        t.retry_count = col_i64_or0(st, 18);
        t.first_failure_ms = col_i64_or0(st, 19);
    }
    db_done(st);
    if (rc < 0)
        return -1;
    if (rc != DB_ROW)
        return 1;
    if (load_parts(db, &t, err) < 0) {
        taskrun_release(&t);
        return -1;
    }
    *out = t;
    return 0;
}

/* Runs a fenced statement whose parameters were bound by the caller; RETURNING tells whether
 * the row was ours. */
static int fenced_step(struct db_stmt *st, struct mms_err *err)
{
    int rc = db_step(st, err);
    db_done(st);
    return rc < 0 ? -1 : rc == DB_ROW ? 0 : 1;
}

int store_taskrun_fence(struct db *db, int64_t id, int64_t attempt, struct mms_err *err)
{
    static const char sql[] = "SELECT 1 FROM task WHERE id = $1 AND attempt = $2";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, id);
    db_bind_i64(st, 2, attempt);
    return fenced_step(st, err);
}

int store_taskrun_set_status(struct db *db, int64_t id, int64_t attempt, const char *status,
                             struct mms_err *err)
{
    /* A running task has no end time and no error (a retried one may still show its last). */
    static const char sql[] = "UPDATE task SET status = $1, end_time = NULL, error_msg = NULL"
                              " WHERE id = $2 AND attempt = $3 RETURNING 1";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_text(st, 1, status);
    db_bind_i64(st, 2, id);
    db_bind_i64(st, 3, attempt);
    return fenced_step(st, err);
}

int store_taskrun_progress(struct db *db, int64_t id, int64_t attempt, int64_t rows, int64_t bytes,
                           struct mms_err *err)
{
    static const char sql[] = "UPDATE task SET rows_done = $1, bytes_done = $2"
                              " WHERE id = $3 AND attempt = $4 RETURNING 1";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, rows);
    db_bind_i64(st, 2, bytes);
    db_bind_i64(st, 3, id);
    db_bind_i64(st, 4, attempt);
    return fenced_step(st, err);
}

int store_taskrun_finish(struct db *db, int64_t id, int64_t attempt, const char *status,
                         const char *error_msg, struct mms_err *err)
{
    static const char sql[] =
        "UPDATE task SET status = $1, queued = 0, error_msg = $2, end_time = $3,"
        " lease_owner = NULL, lease_until = NULL, retry_count = 0, first_failure_at = NULL,"
        " next_attempt_at = NULL WHERE id = $4 AND attempt = $5 RETURNING 1";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_text(st, 1, status);
    db_bind_text(st, 2, error_msg);
    db_bind_i64(st, 3, time_now());
    db_bind_i64(st, 4, id);
    db_bind_i64(st, 5, attempt);
    return fenced_step(st, err);
}

int store_taskrun_retry(struct db *db, int64_t id, int64_t attempt, const char *status,
                        const char *error_msg, int64_t first_ms, int64_t next_ms,
                        struct mms_err *err)
{
    static const char sql[] =
        "UPDATE task SET status = $1, error_msg = $2, first_failure_at = $3,"
        " next_attempt_at = $4, retried_times = retried_times + 1, retry_count = retry_count + 1,"
        " queued = 1, end_time = NULL, lease_owner = NULL, lease_until = NULL"
        " WHERE id = $5 AND attempt = $6 RETURNING 1";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_text(st, 1, status);
    db_bind_text(st, 2, error_msg);
    db_bind_i64(st, 3, first_ms);
    db_bind_i64(st, 4, next_ms);
    db_bind_i64(st, 5, id);
    db_bind_i64(st, 6, attempt);
    return fenced_step(st, err);
}
