/* Tasks as the API sees them: the Task object, the list with its filters, and retries.
 * See store_task.h. */
#include "store/store_task.h"
#include "engine/task_state.h"
#include "store/store_job.h"
#include "util/buf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TASK_COLS                                                                                \
    "SELECT t.id, t.job_id, j.name, t.source_id, d.name, t.db_id, t.table_id,"                   \
    " t.src_db_name, t.src_schema_name, t.src_table_name, t.dst_db_name, t.dst_schema_name,"     \
    " t.dst_table_name, t.type, t.status, t.lease_owner, t.lease_until, t.stopped,"              \
    " t.retried_times, t.create_time, t.start_time, t.end_time, t.rows_done, t.rows_total,"      \
    " t.bytes_done, t.error_msg, t.schema_only"                                                  \
    " FROM task t JOIN job j ON j.id = t.job_id JOIN datasource d ON d.id = t.source_id"

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

static json_t *task_row(struct db_stmt *st, int64_t now_ms)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer(db_col_i64(st, 0)));
    json_object_set_new(j, "jobId", json_integer(db_col_i64(st, 1)));
    json_object_set_new(j, "jobName", text_or_null(st, 2));
    json_object_set_new(j, "sourceId", json_integer(db_col_i64(st, 3)));
    json_object_set_new(j, "sourceName", text_or_null(st, 4));
    json_object_set_new(j, "dbId", i64_or_null(st, 5));
    json_object_set_new(j, "tableId", i64_or_null(st, 6));
    json_object_set_new(j, "srcDbName", text_or_null(st, 7));
    json_object_set_new(j, "srcSchemaName", text_or_null(st, 8));
    json_object_set_new(j, "srcTableName", text_or_null(st, 9));
    json_object_set_new(j, "dstDbName", text_or_null(st, 10));
    json_object_set_new(j, "dstSchemaName", text_or_null(st, 11));
    json_object_set_new(j, "dstTableName", text_or_null(st, 12));
    json_object_set_new(j, "type", text_or_null(st, 13));
    json_object_set_new(j, "status", text_or_null(st, 14));
    bool running = !db_col_null(st, 15) && !db_col_null(st, 16) && db_col_i64(st, 16) > now_ms;
    json_object_set_new(j, "running", json_boolean(running));
    json_object_set_new(j, "stopped", json_boolean(db_col_i64(st, 17) != 0));
    json_object_set_new(j, "retriedTimes", json_integer(db_col_i64(st, 18)));
    json_object_set_new(j, "createTime", time_or_null(st, 19));
    json_object_set_new(j, "startTime", time_or_null(st, 20));
    json_object_set_new(j, "endTime", time_or_null(st, 21));
    json_object_set_new(j, "rowsDone", json_integer(db_col_i64(st, 22)));
    json_object_set_new(j, "rowsTotal", json_integer(db_col_i64(st, 23)));
    json_object_set_new(j, "bytesDone", json_integer(db_col_i64(st, 24)));
    json_object_set_new(j, "errorMsg", text_or_null(st, 25));
    json_object_set_new(j, "schemaOnly", json_boolean(db_col_i64(st, 26) != 0));
    return j;
}

/* Adds "partitions": the values of the task's partitions, in value order. */
static int add_partitions(struct db *db, json_t *task, struct mms_err *err)
{
    static const char sql[] = "SELECT p.value FROM task_part tp JOIN part p ON p.id = tp.part_id"
                              " WHERE tp.task_id = $1 ORDER BY p.value";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, json_integer_value(json_object_get(task, "id")));
    json_t *arr = json_array();
    int rc;
    while ((rc = db_step(st, err)) == DB_ROW)
        json_array_append_new(arr, json_string(db_col_text(st, 0)));
    db_done(st);
    json_object_set_new(task, "partitions", arr);
    return rc < 0 ? -1 : 0;
}

int store_task_get(struct db *db, int64_t source_id, int64_t task_id, int64_t now_ms,
                   json_t **out, struct mms_err *err)
{
    static const char sql[] = TASK_COLS " WHERE t.id = $1 AND t.source_id = $2";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, task_id);
    db_bind_i64(st, 2, source_id);
    int rc = db_step(st, err);
    json_t *j = rc == DB_ROW ? task_row(st, now_ms) : NULL;
    db_done(st);
    if (rc < 0)
        return -1;
    if (!j)
        return 1;
    if (add_partitions(db, j, err) < 0) {
        json_decref(j);
        return -1;
    }
    *out = j;
    return 0;
}

int store_task_exists(struct db *db, int64_t source_id, int64_t task_id, struct mms_err *err)
{
    static const char sql[] = "SELECT 1 FROM task WHERE id = $1 AND source_id = $2";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, task_id);
    db_bind_i64(st, 2, source_id);
    int rc = db_step(st, err);
    db_done(st);
    return rc < 0 ? -1 : rc == DB_ROW ? 0 : 1;
}

#define TASK_WHERE                                                                               \
    " WHERE t.source_id = $1"                                                                    \
    " AND ($2 IS NULL OR t.job_id = $2)"                                                         \
    " AND ($3 IS NULL OR j.name LIKE $3 ESCAPE '\\')"                                            \
    " AND ($4 IS NULL OR t.src_db_name = $4)"                                                    \
    " AND ($5 IS NULL OR t.src_table_name = $5)"                                                 \
    " AND ($6 IS NULL OR t.dst_db_name = $6)"                                                    \
    " AND ($7 IS NULL OR t.dst_table_name = $7)"                                                 \
    " AND ($8 IS NULL OR EXISTS (SELECT 1 FROM task_part tp JOIN part p ON p.id = tp.part_id"    \
    "   WHERE tp.task_id = t.id AND p.value = $8))"                                              \
    " AND ($9 IS NULL OR t.status = $9)"

static void bind_task_filter(struct db_stmt *st, int64_t source_id, const struct task_filter *f,
                             const char *name_like)
{
    db_bind_i64(st, 1, source_id);
    if (f->job_id > 0)
        db_bind_i64(st, 2, f->job_id);
    else
        db_bind_null(st, 2);
    db_bind_text(st, 3, name_like);
    db_bind_text(st, 4, f->src_db);
    db_bind_text(st, 5, f->src_table);
    db_bind_text(st, 6, f->dst_db);
    db_bind_text(st, 7, f->dst_table);
    db_bind_text(st, 8, f->partition);
    db_bind_text(st, 9, f->status);
}

int store_task_list(struct db *db, int64_t source_id, const struct task_filter *f,
                    int64_t now_ms, json_t **list, int64_t *total, struct mms_err *err)
{
    static const char count_sql[] =
        "SELECT COUNT(*) FROM task t JOIN job j ON j.id = t.job_id" TASK_WHERE;
    char *like = f->job_name ? store_like_substring(f->job_name) : NULL;
    struct buf b;
    buf_init(&b, BUF_NO_LIMIT);
    json_t *arr = NULL;
    int ret = -1;
    *list = NULL;

    struct db_stmt *st = db_prepare(db, count_sql, err);
    if (!st)
        goto out;
    bind_task_filter(st, source_id, f, like);
    int rc = db_step(st, err);
    if (rc == DB_ROW)
        *total = db_col_i64(st, 0);
    db_done(st);
    if (rc < 0)
        goto out;

    buf_printf(&b, "%s%s ORDER BY %s LIMIT $10 OFFSET $11", TASK_COLS, TASK_WHERE,
               f->order ? f->order : "t.id ASC");
    const char *sql = store_sql_intern(buf_str(&b));
    if (!sql) {
        MMS_ERR_INTERNAL(err, "too many distinct task list queries");
        goto out;
    }
    if (!(st = db_prepare(db, sql, err)))
        goto out;
    bind_task_filter(st, source_id, f, like);
    db_bind_i64(st, 10, f->limit < 0 ? -1 : f->limit);
    db_bind_i64(st, 11, f->offset);
    arr = json_array();
    while ((rc = db_step(st, err)) == DB_ROW)
        json_array_append_new(arr, task_row(st, now_ms));
    db_done(st);
    if (rc < 0)
        goto out;
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        if (add_partitions(db, it, err) < 0)
            goto out;
    }
    *list = arr;
    arr = NULL;
    ret = 0;
out:
    json_decref(arr);
    free(like);
    buf_release(&b);
    return ret;
}

int store_task_reset_failed(struct db *db, int64_t task_id, const char *status,
                            struct mms_err *err)
{
    static const char sql[] =
        "UPDATE task SET status = $1, retried_times = retried_times + 1, queued = 1,"
        " stopped = 0, error_msg = NULL, end_time = NULL WHERE id = $2 AND status = $3";
    const char *to = task_status_retry_from(status);
    if (!to)
        return 1;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_text(st, 1, to);
    db_bind_i64(st, 2, task_id);
    db_bind_text(st, 3, status);
    int rc = db_step(st, err);
    db_done(st);
    if (rc < 0)
        return -1;
    return db_changes(db) == 1 ? 0 : 1;
}

int store_task_retry(struct db *db, int64_t source_id, int64_t task_id, struct mms_err *err)
{
    static const char sql[] = "SELECT status, job_id FROM task WHERE id = $1 AND source_id = $2";
    char status[32] = "";
    int64_t job_id = 0;
    if (db_begin(db, err) < 0)
        return -1;
    int ret = -1;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        goto out;
    db_bind_i64(st, 1, task_id);
    db_bind_i64(st, 2, source_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        snprintf(status, sizeof status, "%s", db_col_text(st, 0));
        job_id = db_col_i64(st, 1);
    }
    db_done(st);
    if (rc < 0)
        goto out;
    if (rc != DB_ROW) {
        ret = 1;
        goto out;
    }
    if (!task_status_failed(status) || !task_status_retry_from(status)) {
        mms_err_set(err, 409, "Conflict.TaskNotFailed",
                    "task %lld is %s; only a failed task (SCHEMA_FAILED, DATA_FAILED, "
                    "VERIFICATION_FAILED) can be retried",
                    (long long)task_id, status);
        goto out;
    }
    if ((rc = store_task_reset_failed(db, task_id, status, err)) < 0)
        goto out;
    if (store_job_refresh(db, job_id, err) < 0)
        goto out;
    ret = 0;
out:
    if (ret == 0)
        return db_commit(db, err) < 0 ? -1 : 0;
    db_rollback(db);
    return ret;
}
