#include "store/store_asynctask.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void async_task_release(struct async_task *t)
{
    free(t->result);
    free(t->error_msg);
    free(t->params);
    t->result = t->error_msg = t->params = NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* One insert for both kinds of async task: queued (INIT) work for a worker, or an operation
 * that already happened (DONE, with its result and all three times set to now). */
static int insert_async(struct db *db, int64_t source_id, const char *type, int64_t object_id,
                        bool done, json_t *json, int64_t *id_out, struct mms_err *err)
{
    static const char queued_sql[] =
        "INSERT INTO async_task (source_id, type, object_id, status, params, create_time)"
        " VALUES ($1, $2, $3, 'INIT', $4, $5) RETURNING id";
    static const char done_sql[] =
        "INSERT INTO async_task (source_id, type, object_id, status, progress, result,"
        " create_time, start_time, end_time) VALUES ($1, $2, $3, 'DONE', 100, $4, $5, $5, $5)"
        " RETURNING id";
    struct db_stmt *st = db_prepare(db, done ? done_sql : queued_sql, err);
    if (!st)
        return -1;
    char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
    db_bind_i64(st, 1, source_id);
    db_bind_text(st, 2, type);
    if (object_id)
        db_bind_i64(st, 3, object_id);
    else
        db_bind_null(st, 3);
    db_bind_text(st, 4, text);
    db_bind_i64(st, 5, time_now());
    free(text);
    int rc = db_step(st, err);
    if (rc == DB_ROW)
        *id_out = db_col_i64(st, 0);
    db_done(st);
    return rc == DB_ROW ? 0 : -1;
}

int store_async_create(struct db *db, int64_t source_id, const char *type, int64_t object_id,
                       json_t *params, int64_t *id_out, struct mms_err *err)
{
    return insert_async(db, source_id, type, object_id, false, params, id_out, err);
}

int store_async_create_done(struct db *db, int64_t source_id, const char *type, int64_t object_id,
                            json_t *result, int64_t *id_out, struct mms_err *err)
{
    return insert_async(db, source_id, type, object_id, true, result, id_out, err);
}

int store_async_get(struct db *db, int64_t source_id, int64_t id, struct async_task *out,
                    struct mms_err *err)
{
    static const char sql[] =
        "SELECT id, source_id, type, object_id, status, progress, result, error_msg, params,"
        " create_time, start_time, end_time, attempt"
        " FROM async_task WHERE id = $1 AND source_id = $2";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, id);
    db_bind_i64(st, 2, source_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        memset(out, 0, sizeof *out);
        out->id = db_col_i64(st, 0);
        out->source_id = db_col_i64(st, 1);
        snprintf(out->type, sizeof out->type, "%s", db_col_text(st, 2));
        out->object_id = db_col_null(st, 3) ? 0 : db_col_i64(st, 3);
        snprintf(out->status, sizeof out->status, "%s", db_col_text(st, 4));
        out->progress = (int)db_col_i64(st, 5);
        out->result = dup_or_null(db_col_text(st, 6));
        out->error_msg = dup_or_null(db_col_text(st, 7));
        out->params = dup_or_null(db_col_text(st, 8));
        out->create_time = db_col_i64(st, 9);
        out->start_time = db_col_null(st, 10) ? 0 : db_col_i64(st, 10);
        out->end_time = db_col_null(st, 11) ? 0 : db_col_i64(st, 11);
        out->attempt = db_col_i64(st, 12);
    }
    db_done(st);
    if (rc < 0)
        return -1;
    return rc == DB_ROW ? 0 : 1;
}

static int fenced(struct db *db, struct db_stmt *st, struct mms_err *err)
{
    int rc = db_step(st, err);
    db_done(st);
    if (rc < 0)
        return -1;
    return db_changes(db) == 1 ? 0 : 1;
}

int store_async_progress(struct db *db, int64_t id, int64_t attempt, int progress,
                         struct mms_err *err)
{
    static const char sql[] =
        "UPDATE async_task SET progress = $1 WHERE id = $2 AND attempt = $3";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, progress < 0 ? 0 : progress > 100 ? 100 : progress);
    db_bind_i64(st, 2, id);
    db_bind_i64(st, 3, attempt);
    return fenced(db, st, err);
}

int store_async_set_object(struct db *db, int64_t id, int64_t attempt, int64_t object_id,
                           struct mms_err *err)
{
    static const char sql[] =
        "UPDATE async_task SET object_id = $1 WHERE id = $2 AND attempt = $3";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, object_id);
    db_bind_i64(st, 2, id);
    db_bind_i64(st, 3, attempt);
    return fenced(db, st, err);
}

int store_async_finish(struct db *db, int64_t id, int64_t attempt, bool ok, const char *result,
                       const char *error_msg, struct mms_err *err)
{
    static const char sql[] =
        "UPDATE async_task SET status = $1, progress = CASE WHEN $1 = 'DONE' THEN 100"
        " ELSE progress END, result = $2, error_msg = $3, end_time = $4,"
        " lease_owner = NULL, lease_until = NULL WHERE id = $5 AND attempt = $6";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_text(st, 1, ok ? "DONE" : "FAILED");
    db_bind_text(st, 2, result);
    db_bind_text(st, 3, ok ? NULL : (error_msg ? error_msg : "failed"));
    db_bind_i64(st, 4, time_now());
    db_bind_i64(st, 5, id);
    db_bind_i64(st, 6, attempt);
    return fenced(db, st, err);
}

static json_t *time_or_null(int64_t t)
{
    if (t <= 0)
        return json_null();
    char s[20];
    time_format(t, s);
    return json_string(s);
}

json_t *async_task_to_json(const struct async_task *t)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer(t->id));
    json_object_set_new(j, "sourceId", json_integer(t->source_id));
    json_object_set_new(j, "type", json_string(t->type));
    json_object_set_new(j, "objectId", t->object_id ? json_integer(t->object_id) : json_null());
    json_object_set_new(j, "status", json_string(t->status));
    json_object_set_new(j, "running", json_boolean(strcmp(t->status, "DOING") == 0));
    json_object_set_new(j, "progress", json_integer(t->progress));
    json_object_set_new(j, "result", t->result ? json_string(t->result) : json_null());
    json_object_set_new(j, "errorMsg", t->error_msg ? json_string(t->error_msg) : json_null());
    json_object_set_new(j, "startTime", time_or_null(t->start_time));
    json_object_set_new(j, "endTime", time_or_null(t->end_time));
    json_object_set_new(j, "createTime", time_or_null(t->create_time));
    return j;
}
