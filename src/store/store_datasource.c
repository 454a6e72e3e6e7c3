/* Data sources: rows, counters and the fenced final write of the DATASOURCE_* operations. */
#include "store/store_datasource.h"
#include "util/log.h"
#include "conn/configitems.h"
#include "auth/secret.h"
#include "auth/auth.h"
#include "store/store_asynctask.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void datasource_release(struct datasource *d)
{
    free(d->name);
    free(d->type);
    free(d->region);
    free(d->networklink);
    free(d->status);
    free(d->err_msg);
    free(d->scan_status);
    free(d->scan_err_msg);
    json_decref(d->config);
    memset(d, 0, sizeof *d);
}

void datasource_list_free(struct datasource *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        datasource_release(&v[i]);
    free(v);
}

static char *text_or_empty(struct db_stmt *st, int col)
{
    const char *s = db_col_text(st, col);
    return xstrdup(s ? s : "");
}

static char *text_or_null(struct db_stmt *st, int col)
{
    const char *s = db_col_text(st, col);
    return s ? xstrdup(s) : NULL;
}

/* The columns every read selects, in this order (see read_row). The latest scan is the one
 * datasource.scan_id names, else the newest scan row of the source. */
#define DS_COLUMNS                                                                                 \
    "d.id, d.name, d.type, d.region, d.networklink, d.status, d.err_msg, d.config,"                \
    " s.id, s.status, s.error_msg, d.create_time, d.last_update_time"
#define DS_FROM                                                                                    \
    " FROM datasource d LEFT JOIN scan s ON s.id = COALESCE(d.scan_id,"                            \
    " (SELECT MAX(x.id) FROM scan x WHERE x.source_id = d.id))"

static void read_row(struct db_stmt *st, struct datasource *d)
{
    memset(d, 0, sizeof *d);
    d->id = db_col_i64(st, 0);
    d->name = text_or_empty(st, 1);
    d->type = text_or_empty(st, 2);
    d->region = text_or_empty(st, 3);
    d->networklink = text_or_empty(st, 4);
    d->status = text_or_empty(st, 5);
    d->err_msg = text_or_null(st, 6);
    const char *cfg = db_col_text(st, 7);
    d->config = cfg ? json_loads(cfg, 0, NULL) : NULL;
    if (!json_is_object(d->config)) {
        json_decref(d->config);
        d->config = json_object();
    }
    struct mms_err e = {0};
    if (store_datasource_config_open(d->type, d->config, &e) < 0)
        log_error("data source %lld: cannot decrypt its secrets: %s", (long long)d->id, e.msg);
    d->scan_id = db_col_null(st, 8) ? 0 : db_col_i64(st, 8);
    d->scan_status = text_or_null(st, 9);
    d->scan_err_msg = text_or_null(st, 10);
    d->create_time = db_col_i64(st, 11);
    d->last_update_time = db_col_null(st, 12) ? 0 : db_col_i64(st, 12);
}

int store_datasource_get(struct db *db, int64_t id, struct datasource *out, struct mms_err *err)
{
    static const char sql[] = "SELECT " DS_COLUMNS DS_FROM " WHERE d.id = $1";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, id);
    int rc = db_step(st, err);
    if (rc == DB_ROW)
        read_row(st, out);
    db_done(st);
    if (rc < 0)
        return -1;
    return rc == DB_ROW ? 0 : 1;
}

int store_datasource_counts(struct db *db, int64_t id, struct datasource_counts *out,
                            struct mms_err *err)
{
    static const char tables_sql[] =
        "SELECT (SELECT COUNT(*) FROM db WHERE source_id = $1 AND deleted = 0), COUNT(*),"
        " COALESCE(SUM(CASE WHEN status = 'DOING' THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN status = 'DONE' THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN status = 'FAILED' THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN status = 'PART_DONE' THEN 1 ELSE 0 END), 0)"
        " FROM tbl WHERE source_id = $1 AND deleted = 0";
    static const char parts_sql[] =
        "SELECT COUNT(*),"
        " COALESCE(SUM(CASE WHEN status = 'DOING' THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN status = 'DONE' THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN status = 'FAILED' THEN 1 ELSE 0 END), 0)"
        " FROM part WHERE source_id = $1 AND deleted = 0";
    memset(out, 0, sizeof *out);
    struct db_stmt *st = db_prepare(db, tables_sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        out->dbs = db_col_i64(st, 0);
        out->tables = db_col_i64(st, 1);
        out->tables_doing = db_col_i64(st, 2);
        out->tables_done = db_col_i64(st, 3);
        out->tables_failed = db_col_i64(st, 4);
        out->tables_part_done = db_col_i64(st, 5);
    }
    db_done(st);
    if (rc < 0)
        return -1;
    if (!(st = db_prepare(db, parts_sql, err)))
        return -1;
    db_bind_i64(st, 1, id);
    rc = db_step(st, err);
    if (rc == DB_ROW) {
        out->partitions = db_col_i64(st, 0);
        out->partitions_doing = db_col_i64(st, 1);
        out->partitions_done = db_col_i64(st, 2);
        out->partitions_failed = db_col_i64(st, 3);
    }
    db_done(st);
    return rc < 0 ? -1 : 0;
}

#define DS_WHERE                                                                                   \
    " WHERE ($1 IS NULL OR d.name = $1) AND ($2 IS NULL OR d.type = $2)"                           \
    " AND ($3 IS NULL OR d.region = $3)"

static void bind_filter(struct db_stmt *st, const struct datasource_filter *f)
{
    db_bind_text(st, 1, f->name);
    db_bind_text(st, 2, f->type);
    db_bind_text(st, 3, f->region);
}

int store_datasource_list(struct db *db, const struct datasource_filter *f, int64_t offset,
                          int64_t limit, struct datasource **out, size_t *n, int64_t *total,
                          struct mms_err *err)
{
    static const char count_sql[] = "SELECT COUNT(*) FROM datasource d" DS_WHERE;
    static const char page_sql[] =
        "SELECT " DS_COLUMNS DS_FROM DS_WHERE " ORDER BY d.id LIMIT $4 OFFSET $5";
    *out = NULL;
    *n = 0;
    *total = 0;
    struct db_stmt *st = db_prepare(db, count_sql, err);
    if (!st)
        return -1;
    bind_filter(st, f);
    int rc = db_step(st, err);
    if (rc == DB_ROW)
        *total = db_col_i64(st, 0);
    db_done(st);
    if (rc < 0)
        return -1;
    if (limit <= 0 || *total <= offset)
        return 0;

    if (!(st = db_prepare(db, page_sql, err)))
        return -1;
    bind_filter(st, f);
    db_bind_i64(st, 4, limit);
    db_bind_i64(st, 5, offset);
    struct datasource *v = NULL;
    size_t count = 0, cap = 0;
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            v = xreallocarray(v, cap, sizeof *v);
        }
        read_row(st, &v[count++]);
    }
    db_done(st);
    if (rc < 0) {
        datasource_list_free(v, count);
        return -1;
    }
    *out = v;
    *n = count;
    return 0;
}

int store_datasource_name_taken(struct db *db, const char *name, int64_t except_id, bool *taken,
                                struct mms_err *err)
{
    static const char sql[] = "SELECT 1 FROM datasource WHERE name = $1 AND id <> $2 LIMIT 1";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_text(st, 1, name);
    db_bind_i64(st, 2, except_id);
    int rc = db_step(st, err);
    db_done(st);
    if (rc < 0)
        return -1;
    *taken = rc == DB_ROW;
    return 0;
}

static const unsigned char *master_key(void)
{
    const struct auth_ctx *a = auth_config();
    return a ? a->master_key : NULL;
}

int store_datasource_config_seal(const char *type, json_t *config, struct mms_err *err)
{
    return secret_config_seal(master_key(), configitems_find(type), config, err);
}

int store_datasource_config_open(const char *type, json_t *config, struct mms_err *err)
{
    return secret_config_unseal(master_key(), configitems_find(type), config, err);
}

/* The stored text of a config: a copy with its secrets sealed. NULL with err on failure. */
static char *config_text(const char *type, json_t *config, struct mms_err *err)
{
    json_t *copy = config ? json_deep_copy(config) : json_object();
    char *s = NULL;
    if (store_datasource_config_seal(type, copy, err) == 0)
        s = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    return s;
}

/* datasource.max_tasks mirrors config item limit.maxConcurrentTasks (0 = no limit), so that
 * the task claim (engine.c) can read it without parsing JSON; every config write sets both. */
static int64_t config_max_tasks(json_t *config)
{
    json_t *v = config ? json_object_get(config, "limit.maxConcurrentTasks") : NULL;
    return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

int store_datasource_insert(struct db *db, const char *name, const char *type, const char *region,
                            const char *networklink, json_t *config, const char *status,
                            int64_t *id_out, struct mms_err *err)
{
    static const char sql[] =
        "INSERT INTO datasource (name, type, region, networklink, status, config, create_time,"
        " max_tasks) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    char *cfg = config_text(type, config, err);
    if (!cfg) {
        db_done(st);
        return -1;
    }
    db_bind_text(st, 1, name);
    db_bind_text(st, 2, type);
    db_bind_text(st, 3, region ? region : "");
    db_bind_text(st, 4, networklink ? networklink : "");
    db_bind_text(st, 5, status);
    db_bind_text(st, 6, cfg);
    db_bind_i64(st, 7, time_now());
    db_bind_i64(st, 8, config_max_tasks(config));
    free(cfg);
    int rc = db_step(st, err);
    if (rc == DB_ROW)
        *id_out = db_col_i64(st, 0);
    db_done(st);
    return rc == DB_ROW ? 0 : -1;
}

/* Runs a prepared single-row UPDATE/DELETE: 0 when a row changed, 1 when none, -1 on error. */
static int one_row(struct db *db, struct db_stmt *st, struct mms_err *err)
{
    int rc = db_step(st, err);
    db_done(st);
    if (rc < 0)
        return -1;
    return db_changes(db) > 0 ? 0 : 1;
}

int store_datasource_set_status(struct db *db, int64_t id, const char *status, const char *err_msg,
                                struct mms_err *err)
{
    static const char sql[] = "UPDATE datasource SET status = $1, err_msg = $2 WHERE id = $3";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_text(st, 1, status);
    db_bind_text(st, 2, err_msg);
    db_bind_i64(st, 3, id);
    return one_row(db, st, err);
}

int store_datasource_set_config(struct db *db, int64_t id, json_t *config, struct mms_err *err)
{
    static const char type_sql[] = "SELECT type FROM datasource WHERE id = $1";
    static const char sql[] = "UPDATE datasource SET config = $1, max_tasks = $2 WHERE id = $3";
    char type[32] = "";
    struct db_stmt *st = db_prepare(db, type_sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, id);
    int trc = db_step(st, err);
    if (trc == DB_ROW)
        snprintf(type, sizeof type, "%s", db_col_text(st, 0));
    db_done(st);
    if (trc < 0)
        return -1;
    if (trc == DB_DONE)
        return 1;
    if (!(st = db_prepare(db, sql, err)))
        return -1;
    char *cfg = config_text(type, config, err);
    if (!cfg) {
        db_done(st);
        return -1;
    }
    db_bind_text(st, 1, cfg);
    db_bind_i64(st, 2, config_max_tasks(config));
    db_bind_i64(st, 3, id);
    free(cfg);
    return one_row(db, st, err);
}

int store_datasource_rename(struct db *db, int64_t id, const char *name, struct mms_err *err)
{
    static const char sql[] = "UPDATE datasource SET name = $1 WHERE id = $2";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_text(st, 1, name);
    db_bind_i64(st, 2, id);
    return one_row(db, st, err);
}

int store_datasource_running_tasks(struct db *db, int64_t id, int64_t now_ms, int64_t *n,
                                   struct mms_err *err)
{
    static const char sql[] = "SELECT COUNT(*) FROM task WHERE source_id = $1"
                              " AND lease_owner IS NOT NULL AND lease_until > $2";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, id);
    db_bind_i64(st, 2, now_ms);
    int rc = db_step(st, err);
    *n = rc == DB_ROW ? db_col_i64(st, 0) : 0;
    db_done(st);
    return rc < 0 ? -1 : 0;
}

int store_datasource_delete(struct db *db, int64_t id, struct mms_err *err)
{
    static const char sql[] = "DELETE FROM datasource WHERE id = $1";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, id);
    return one_row(db, st, err);
}

int store_datasource_check_usable(struct db *db, int64_t source_id, struct mms_err *err)
{
    static const char sql[] = "SELECT status FROM datasource WHERE id = $1";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, source_id);
    int rc = db_step(st, err);
    char status[32] = "";
    if (rc == DB_ROW)
        snprintf(status, sizeof status, "%s", db_col_text(st, 0));
    db_done(st);
    if (rc < 0)
        return -1;
    if (rc != DB_ROW)
        return mms_err_set(err, 404, "NotFound.DataSource", "DataSource %lld does not exist",
                           (long long)source_id);
    if (strcmp(status, "STOPPED") == 0 || strcmp(status, "STOPPING") == 0)
        return mms_err_set(err, 409, "Conflict.DataSourceStopped",
                           "data source %lld is %s; start it first (UpdateMmsDataSource "
                           "action=START)",
                           (long long)source_id, status);
    return 0;
}

int store_datasource_op_finish(struct db *db, int64_t async_id, int64_t attempt, int64_t source_id,
                               bool ok, const char *result, const char *error_msg,
                               const char *expect_status, const char *new_status,
                               struct mms_err *err)
{
    static const char sql[] = "UPDATE datasource SET status = $1, err_msg = $2"
                              " WHERE id = $3 AND status = $4";
    if (db_begin(db, err) < 0)
        return -1;
    int rc = store_async_finish(db, async_id, attempt, ok, result, error_msg, err);
    if (rc != 0)
        goto fail; /* lost lease (1) or error (-1): write nothing */
    if (new_status) {
        struct db_stmt *st = db_prepare(db, sql, err);
        if (!st) {
            rc = -1;
            goto fail;
        }
        db_bind_text(st, 1, new_status);
        db_bind_text(st, 2, ok ? NULL : error_msg);
        db_bind_i64(st, 3, source_id);
        db_bind_text(st, 4, expect_status);
        int s = db_step(st, err);
        db_done(st);
        if (s < 0) {
            rc = -1;
            goto fail;
        }
    }
    if (db_commit(db, err) < 0)
        return -1;
    return 0;
fail:
    db_rollback(db);
    return rc;
}
