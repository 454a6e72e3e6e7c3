#include "store/store_tasklog.h"
#include "util/timeutil.h"

int store_tasklog_add(struct db *db, int64_t source_id, int64_t task_id, const char *status,
                      const char *action, const char *msg, struct mms_err *err)
{
    static const char sql[] = "INSERT INTO task_log (source_id, task_id, status, action, msg,"
                              " create_time) VALUES ($1, $2, $3, $4, $5, $6)";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, source_id);
    db_bind_i64(st, 2, task_id);
    db_bind_text(st, 3, status);
    db_bind_text(st, 4, action);
    db_bind_text(st, 5, msg);
    db_bind_i64(st, 6, time_now());
    int rc = db_step(st, err);
    db_done(st);
    return rc < 0 ? -1 : 0;
}

json_t *store_tasklog_list(struct db *db, int64_t task_id, struct mms_err *err)
{
    static const char sql[] = "SELECT id, source_id, task_id, status, action, msg, create_time"
                              " FROM task_log WHERE task_id = $1 ORDER BY id";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return NULL;
    db_bind_i64(st, 1, task_id);
    json_t *arr = json_array();
    int rc;
    while ((rc = db_step(st, err)) == DB_ROW) {
        char when[20];
        time_format(db_col_i64(st, 6), when);
        const char *action = db_col_text(st, 4), *msg = db_col_text(st, 5);
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(db_col_i64(st, 0)));
        json_object_set_new(o, "sourceId", json_integer(db_col_i64(st, 1)));
        json_object_set_new(o, "taskId", json_integer(db_col_i64(st, 2)));
        json_object_set_new(o, "status", json_string(db_col_text(st, 3)));
        json_object_set_new(o, "action", action ? json_string(action) : json_null());
        json_object_set_new(o, "msg", msg ? json_string(msg) : json_null());
        json_object_set_new(o, "createTime", json_string(when));
        json_array_append_new(arr, o);
    }
    db_done(st);
    if (rc < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}
