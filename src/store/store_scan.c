/* Metadata scans: the scan rows and the catalog writes of a scan. See store_scan.h. */
#include "store/store_scan.h"
#include "store/store_datasource.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Helpers ----------------------------------------------------------------------------- */

/* A bound argument: 'i' int64, 's' text (NULL binds SQL NULL), 't' a time (<= 0 binds NULL). */
struct arg {
    char kind;
    int64_t i;
    const char *s;
};
#define AI(v) ((struct arg){'i', (int64_t)(v), NULL})
#define AS(v) ((struct arg){'s', 0, (v)})
#define AT(v) ((struct arg){'t', (int64_t)(v), NULL})
#define ARGS(...)                                                                                  \
    (const struct arg[]){__VA_ARGS__},                                                             \
        sizeof((const struct arg[]){__VA_ARGS__}) / sizeof(struct arg)

static void bind(struct db_stmt *st, const struct arg *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int idx = (int)i + 1;
        if (a[i].kind == 'i')
            db_bind_i64(st, idx, a[i].i);
        else if (a[i].kind == 't' && a[i].i > 0)
            db_bind_i64(st, idx, a[i].i);
        else if (a[i].kind == 't')
            db_bind_null(st, idx);
        else
            db_bind_text(st, idx, a[i].s);
    }
}

/* Runs a statement; *changes (may be NULL) gets the rows it changed. 0 or -1. */
static int run(struct db *db, const char *sql, const struct arg *a, size_t n, int64_t *changes,
               struct mms_err *err)
{
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    bind(st, a, n);
    int rc = db_step(st, err);
    db_done(st);
    if (rc < 0)
        return -1;
    if (changes)
        *changes = db_changes(db);
    return 0;
}

/* First column of the first row as an integer: 0, 1 no row, -1. */
static int query_i64(struct db *db, const char *sql, const struct arg *a, size_t n, int64_t *out,
                     struct mms_err *err)
{
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    bind(st, a, n);
    int rc = db_step(st, err);
    if (rc == DB_ROW)
        *out = db_col_null(st, 0) ? 0 : db_col_i64(st, 0);
    db_done(st);
    return rc < 0 ? -1 : rc == DB_ROW ? 0 : 1;
}

/* All integers of the first column (*ids owned, may be NULL when *n == 0). 0 or -1. */
static int query_ids(struct db *db, const char *sql, const struct arg *a, size_t na, int64_t **ids,
                     size_t *n, struct mms_err *err)
{
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    bind(st, a, na);
    int rc;
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            *ids = xreallocarray(*ids, cap, sizeof **ids);
        }
        (*ids)[(*n)++] = db_col_i64(st, 0);
    }
    db_done(st);
    if (rc < 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* Whether a change counter moved (see store_scan.h): only a known new value (> 0) that differs
 * from the stored one. *now becomes the value to store: the stored one when the new is
 * unknown, so an unknown reading never erases what an earlier scan saw. */
static bool count_differs(int64_t stored, int64_t *now)
{
    if (*now <= 0) {
        *now = stored;
        return false;
    }
    return *now != stored;
}

static int64_t nonneg(int64_t v)
{
    return v < 0 ? 0 : v;
}

static bool str_differs(const char *a, const char *b)
{
    if (!a || !b)
        return a != b;
    return strcmp(a, b) != 0;
}

static bool seen_has(const int64_t *seen, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seen[mid] == id)
            return true;
        if (seen[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool names_has(const char *const *names, size_t n, const char *name)
{
    return bsearch(&name, names, n, sizeof *names, cmp_str) != NULL;
}

/* ---- Scan rows --------------------------------------------------------------------------- */

void scan_release(struct scan *s)
{
    free(s->result);
    free(s->error_msg);
    free(s->db_name);
    free(s->table_names);
    s->result = s->error_msg = s->db_name = s->table_names = NULL;
}

int store_scan_create(struct db *db, int64_t source_id, const char *db_name, json_t *table_names,
                      int64_t *id_out, struct mms_err *err)
{
    static const char source_sql[] = "SELECT id FROM datasource WHERE id = $1";
    static const char running_sql[] =
        "SELECT id FROM scan WHERE source_id = $1 AND status = 'SCAN_DOING' ORDER BY id LIMIT 1";
    static const char insert_sql[] =
        "INSERT INTO scan (source_id, status, progress, db_name, table_names, create_time)"
        " VALUES ($1, 'SCAN_DOING', 0, $2, $3, $4) RETURNING id";
    static const char latest_sql[] = "UPDATE datasource SET scan_id = $1 WHERE id = $2";
    char *names = table_names ? json_dumps(table_names, JSON_COMPACT) : NULL;
    int64_t x = 0;
    int rc = -1, q;
    if (db_begin(db, err) < 0)
        goto out;
    if ((q = query_i64(db, source_sql, ARGS(AI(source_id)), &x, err)) != 0) {
        if (q == 1)
            mms_err_set(err, 404, "NotFound.DataSource", "DataSource %lld does not exist",
                        (long long)source_id);
        goto out;
    }
    if ((q = query_i64(db, running_sql, ARGS(AI(source_id)), &x, err)) != 1) {
        if (q == 0)
            mms_err_set(err, 409, "Conflict.ScanRunning",
                        "a scan of data source %lld is still running: scanId %lld",
                        (long long)source_id, (long long)x);
        goto out;
    }
    if (query_i64(db, insert_sql, ARGS(AI(source_id), AS(db_name), AS(names), AI(time_now())),
                  id_out, err) != 0)
        goto out;
    if (run(db, latest_sql, ARGS(AI(*id_out), AI(source_id)), NULL, err) < 0)
        goto out;
    if (db_commit(db, err) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        db_rollback(db);
    free(names);
    return rc;
}

int store_scan_get(struct db *db, int64_t source_id, int64_t id, struct scan *out,
                   struct mms_err *err)
{
    static const char sql[] =
        "SELECT id, source_id, status, progress, result, error_msg, db_name, table_names,"
        " create_time, start_time, end_time, attempt"
        " FROM scan WHERE id = $1 AND ($2 = 0 OR source_id = $2)";
    memset(out, 0, sizeof *out);
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, id);
    db_bind_i64(st, 2, source_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        out->id = db_col_i64(st, 0);
        out->source_id = db_col_i64(st, 1);
        snprintf(out->status, sizeof out->status, "%s", db_col_text(st, 2));
        out->progress = db_col_i64(st, 3);
        out->result = dup_or_null(db_col_text(st, 4));
        out->error_msg = dup_or_null(db_col_text(st, 5));
        out->db_name = dup_or_null(db_col_text(st, 6));
        out->table_names = dup_or_null(db_col_text(st, 7));
        out->create_time = db_col_i64(st, 8);
        out->start_time = db_col_null(st, 9) ? 0 : db_col_i64(st, 9);
        out->end_time = db_col_null(st, 10) ? 0 : db_col_i64(st, 10);
        out->attempt = db_col_i64(st, 11);
    }
    db_done(st);
    return rc < 0 ? -1 : rc == DB_ROW ? 0 : 1;
}

static json_t *time_or_null(int64_t t)
{
    if (t <= 0)
        return json_null();
    char s[20];
    time_format(t, s);
    return json_string(s);
}

static json_t *str_or_null(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_null();
}

json_t *scan_to_json(const struct scan *s)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer(s->id));
    json_object_set_new(j, "sourceId", json_integer(s->source_id));
    json_object_set_new(j, "status", json_string(s->status));
    json_object_set_new(j, "progress", json_integer(s->progress));
    json_object_set_new(j, "result", str_or_null(s->result));
    json_object_set_new(j, "errorMsg", str_or_null(s->error_msg));
    json_object_set_new(j, "startTime", time_or_null(s->start_time));
    json_object_set_new(j, "endTime", time_or_null(s->end_time));
    json_object_set_new(j, "createTime", time_or_null(s->create_time));
    return j;
}

int store_scan_source(struct db *db, int64_t source_id, char **type, json_t **config,
                      struct mms_err *err)
{
    static const char sql[] = "SELECT type, config FROM datasource WHERE id = $1";
    *type = NULL;
    *config = NULL;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, source_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        *type = xstrdup(db_col_text(st, 0) ? db_col_text(st, 0) : "");
        const char *c = db_col_text(st, 1);
        *config = c ? json_loads(c, 0, NULL) : NULL;
        if (!json_is_object(*config)) {
            json_decref(*config);
            *config = json_object();
        }
    }
    db_done(st);
    if (rc == DB_ROW && store_datasource_config_open(*type, *config, err) < 0)
        return -1;
    return rc < 0 ? -1 : rc == DB_ROW ? 0 : 1;
}

int store_scan_progress(struct db *db, int64_t id, int64_t attempt, int64_t progress,
                        struct mms_err *err)
{
    static const char sql[] = "UPDATE scan SET progress = $1 WHERE id = $2 AND attempt = $3";
    int64_t n = 0;
    progress = progress < 0 ? 0 : progress > 10000 ? 10000 : progress;
    if (run(db, sql, ARGS(AI(progress), AI(id), AI(attempt)), &n, err) < 0)
        return -1;
    return n == 1 ? 0 : 1;
}

int store_scan_finish(struct db *db, int64_t id, int64_t attempt, int64_t source_id, bool ok,
                      const char *result, const char *error_msg, struct mms_err *err)
{
    static const char scan_sql[] =
        "UPDATE scan SET status = $1, progress = CASE WHEN $1 = 'SCAN_DONE' THEN 10000"
        " ELSE progress END, result = $2, error_msg = $3, end_time = $4, lease_owner = NULL,"
        " lease_until = NULL WHERE id = $5 AND attempt = $6";
    static const char source_sql[] = "UPDATE datasource SET last_update_time = $1 WHERE id = $2";
    int64_t now = time_now(), n = 0;
    if (db_begin(db, err) < 0)
        return -1;
    int rc = run(db, scan_sql,
                 ARGS(AS(ok ? "SCAN_DONE" : "SCAN_FAILED"), AS(ok ? result : NULL),
                      AS(ok ? NULL : (error_msg && *error_msg ? error_msg : "scan failed")),
                      AI(now), AI(id), AI(attempt)),
                 &n, err);
    if (rc == 0 && n != 1)
        rc = 1;
    if (rc == 0 && ok)
        rc = run(db, source_sql, ARGS(AI(now), AI(source_id)), NULL, err);
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc != 0)
        db_rollback(db);
    return rc;
}

/* ---- Upserts ----------------------------------------------------------------------------- */

int store_scan_upsert_db(struct db *db, int64_t source_id, const char *name, int64_t now,
                         int64_t *id, enum scan_change *change, struct mms_err *err)
{
    static const char find_sql[] = "SELECT id, deleted FROM db WHERE source_id = $1 AND name = $2";
    static const char insert_sql[] =
        "INSERT INTO db (source_id, name, create_time, update_time) VALUES ($1, $2, $3, $3)"
        " RETURNING id";
    static const char revive_sql[] =
        "UPDATE db SET deleted = 0, updated = 1, update_time = $1 WHERE id = $2";
    struct db_stmt *st = db_prepare(db, find_sql, err);
    if (!st)
        return -1;
    bind(st, ARGS(AI(source_id), AS(name)));
    int rc = db_step(st, err);
    bool deleted = false;
    if (rc == DB_ROW) {
        *id = db_col_i64(st, 0);
        deleted = db_col_i64(st, 1) != 0;
    }
    db_done(st);
    if (rc < 0)
        return -1;
    if (rc == DB_DONE) {
        *change = SCAN_NEW;
        return query_i64(db, insert_sql, ARGS(AI(source_id), AS(name), AI(now)), id, err) == 0 ? 0
                                                                                               : -1;
    }
    *change = deleted ? SCAN_CHANGED : SCAN_SAME;
    if (deleted)
        return run(db, revive_sql, ARGS(AI(now), AI(*id)), NULL, err);
    return 0;
}

int store_scan_upsert_table(struct db *db, int64_t source_id, int64_t db_id,
                            const struct scan_table *t, int64_t now, int64_t *id,
                            enum scan_change *change, struct mms_err *err)
{
    static const char find_sql[] =
        "SELECT id, type, has_partitions, schema, last_ddl_time, last_modified, size, num_rows,"
        " deleted, change_count FROM tbl WHERE db_id = $1 AND name = $2";
    static const char insert_sql[] =
        "INSERT INTO tbl (source_id, db_id, name, type, has_partitions, schema, last_ddl_time,"
        " last_modified, size, num_rows, create_time, update_time, change_count)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12) RETURNING id";
    static const char update_sql[] =
        "UPDATE tbl SET type = $1, has_partitions = $2, schema = $3, last_ddl_time = $4,"
        " last_modified = $5, size = $6, num_rows = $7, updated = 1,"
        " change_gen = change_gen + 1, deleted = 0,"
        " update_time = $8, change_count = $9 WHERE id = $10";
    int64_t size = nonneg(t->size), rows = nonneg(t->num_rows);
    int64_t ddl = nonneg(t->last_ddl_time), mod = nonneg(t->last_modified);
    int64_t cc = nonneg(t->change_count);
    struct db_stmt *st = db_prepare(db, find_sql, err);
    if (!st)
        return -1;
    bind(st, ARGS(AI(db_id), AS(t->name)));
    int rc = db_step(st, err);
    bool differs = false;
    if (rc == DB_ROW) {
        *id = db_col_i64(st, 0);
        /* count_differs first: it must always run (it settles the value to store). */
        differs = count_differs(db_col_i64(st, 9), &cc) ||
                  str_differs(db_col_text(st, 1), t->type) ||
                  (db_col_i64(st, 2) != 0) != t->partitioned ||
                  str_differs(db_col_text(st, 3), t->schema) ||
                  (db_col_null(st, 4) ? 0 : db_col_i64(st, 4)) != ddl ||
                  (db_col_null(st, 5) ? 0 : db_col_i64(st, 5)) != mod ||
                  db_col_i64(st, 6) != size || db_col_i64(st, 7) != rows || db_col_i64(st, 8) != 0;
    }
    db_done(st);
    if (rc < 0)
        return -1;
    if (rc == DB_DONE) {
        *change = SCAN_NEW;
        return query_i64(db, insert_sql,
                         ARGS(AI(source_id), AI(db_id), AS(t->name), AS(t->type),
                              AI(t->partitioned), AS(t->schema), AT(ddl), AT(mod), AI(size),
                              AI(rows), AI(now), AI(cc)),
                         id, err) == 0
                   ? 0
                   : -1;
    }
    *change = differs ? SCAN_CHANGED : SCAN_SAME;
    if (!differs)
        return 0;
    return run(db, update_sql,
               ARGS(AS(t->type), AI(t->partitioned), AS(t->schema), AT(ddl), AT(mod), AI(size),
                    AI(rows), AI(now), AI(cc), AI(*id)),
               NULL, err);
}

int store_scan_upsert_part(struct db *db, int64_t source_id, int64_t db_id, int64_t table_id,
                           const struct scan_part *p, int64_t now, int64_t *id,
                           enum scan_change *change, struct mms_err *err)
{
    static const char find_sql[] =
        "SELECT id, last_ddl_time, last_modified, size, num_rows, deleted, change_count FROM part"
        " WHERE table_id = $1 AND value = $2";
    static const char insert_sql[] =
        "INSERT INTO part (source_id, db_id, table_id, value, last_ddl_time, last_modified,"
        " size, num_rows, create_time, update_time, change_count)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING id";
    static const char update_sql[] =
        "UPDATE part SET last_ddl_time = $1, last_modified = $2, size = $3, num_rows = $4,"
        " updated = 1, change_gen = change_gen + 1, deleted = 0, update_time = $5,"
        " change_count = $6 WHERE id = $7";
    int64_t size = nonneg(p->size), rows = nonneg(p->num_rows);
    int64_t ddl = nonneg(p->last_ddl_time), mod = nonneg(p->last_modified);
    int64_t cc = nonneg(p->change_count);
    struct db_stmt *st = db_prepare(db, find_sql, err);
    if (!st)
        return -1;
    bind(st, ARGS(AI(table_id), AS(p->value)));
    int rc = db_step(st, err);
    bool differs = false;
    if (rc == DB_ROW) {
        *id = db_col_i64(st, 0);
        differs = count_differs(db_col_i64(st, 6), &cc) ||
                  (db_col_null(st, 1) ? 0 : db_col_i64(st, 1)) != ddl ||
                  (db_col_null(st, 2) ? 0 : db_col_i64(st, 2)) != mod ||
                  db_col_i64(st, 3) != size || db_col_i64(st, 4) != rows || db_col_i64(st, 5) != 0;
    }
    db_done(st);
    if (rc < 0)
        return -1;
    /* A new or flagged partition also bumps its table's change_gen: a task that moved the
     * table whole (store_catalog.c, whole_parts_sql) then knows one of its partitions changed. */
    static const char bump_sql[] = "UPDATE tbl SET change_gen = change_gen + 1 WHERE id = $1";
    if (rc == DB_DONE) {
        *change = SCAN_NEW;
        if (query_i64(db, insert_sql,
                      ARGS(AI(source_id), AI(db_id), AI(table_id), AS(p->value), AT(ddl), AT(mod),
                           AI(size), AI(rows), AI(now), AI(cc)),
                      id, err) != 0)
            return -1;
        return run(db, bump_sql, ARGS(AI(table_id)), NULL, err);
    }
    *change = differs ? SCAN_CHANGED : SCAN_SAME;
    if (!differs)
        return 0;
    if (run(db, update_sql, ARGS(AT(ddl), AT(mod), AI(size), AI(rows), AI(now), AI(cc), AI(*id)),
            NULL, err) < 0)
        return -1;
    return run(db, bump_sql, ARGS(AI(table_id)), NULL, err);
}

/* ---- Sweeps ------------------------------------------------------------------------------ */

int store_scan_sweep_parts(struct db *db, int64_t table_id, const int64_t *seen, size_t nseen,
                           int64_t now, int64_t *ndeleted, struct mms_err *err)
{
    static const char live_sql[] = "SELECT id FROM part WHERE table_id = $1 AND deleted = 0";
    static const char mark_sql[] =
        "UPDATE part SET deleted = 1, update_time = $1 WHERE id = $2 AND deleted = 0";
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = -1;
    if (query_ids(db, live_sql, ARGS(AI(table_id)), &ids, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (seen_has(seen, nseen, ids[i]))
            continue;
        int64_t ch = 0;
        if (run(db, mark_sql, ARGS(AI(now), AI(ids[i])), &ch, err) < 0)
            goto out;
        *ndeleted += ch;
    }
    rc = 0;
out:
    free(ids);
    return rc;
}

int store_scan_sweep_tables(struct db *db, int64_t db_id, const int64_t *seen, size_t nseen,
                            const char *const *names, size_t nnames, int64_t now, int64_t *ndeleted,
                            struct mms_err *err)
{
    static const char live_sql[] =
        "SELECT id, name FROM tbl WHERE db_id = $1 AND deleted = 0 ORDER BY id";
    static const char mark_sql[] =
        "UPDATE tbl SET deleted = 1, update_time = $1 WHERE id = $2 AND deleted = 0";
    int64_t *gone = NULL;
    size_t n = 0, cap = 0;
    int rc = -1, s;
    struct db_stmt *st = db_prepare(db, live_sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, db_id);
    while ((s = db_step(st, err)) == DB_ROW) {
        int64_t id = db_col_i64(st, 0);
        const char *name = db_col_text(st, 1);
        if (seen_has(seen, nseen, id) || (names && !names_has(names, nnames, name)))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            gone = xreallocarray(gone, cap, sizeof *gone);
        }
        gone[n++] = id;
    }
    db_done(st);
    if (s < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        int64_t ch = 0;
        if (run(db, mark_sql, ARGS(AI(now), AI(gone[i])), &ch, err) < 0)
            goto out;
        *ndeleted += ch;
        if (store_scan_sweep_parts(db, gone[i], NULL, 0, now, ndeleted, err) < 0)
            goto out;
    }
    rc = 0;
out:
    free(gone);
    return rc;
}

int store_scan_sweep_db(struct db *db, int64_t db_id, const char *const *names, size_t nnames,
                        int64_t now, int64_t *ndeleted, struct mms_err *err)
{
    static const char mark_sql[] =
        "UPDATE db SET deleted = 1, update_time = $1 WHERE id = $2 AND deleted = 0";
    if (!names) {
        int64_t ch = 0;
        if (run(db, mark_sql, ARGS(AI(now), AI(db_id)), &ch, err) < 0)
            return -1;
        *ndeleted += ch;
    }
    return store_scan_sweep_tables(db, db_id, NULL, 0, names, nnames, now, ndeleted, err);
}

int store_scan_live_dbs(struct db *db, int64_t source_id, int64_t **ids, size_t *n,
                        struct mms_err *err)
{
    static const char sql[] = "SELECT id FROM db WHERE source_id = $1 AND deleted = 0 ORDER BY id";
    return query_ids(db, sql, ARGS(AI(source_id)), ids, n, err);
}

int store_scan_find_db(struct db *db, int64_t source_id, const char *name, int64_t *id,
                       struct mms_err *err)
{
    static const char sql[] = "SELECT id FROM db WHERE source_id = $1 AND name = $2";
    return query_i64(db, sql, ARGS(AI(source_id), AS(name)), id, err);
}

int store_scan_db_refresh(struct db *db, int64_t db_id, bool is_new, bool children_changed,
                          int64_t now, bool *changed, struct mms_err *err)
{
    static const char agg_sql[] =
        "SELECT COALESCE(SUM(t.size), 0), COALESCE(SUM(t.num_rows), 0),"
        " COALESCE(MAX(t.last_ddl_time), 0), d.size, d.num_rows, COALESCE(d.last_ddl_time, 0)"
        " FROM db d LEFT JOIN tbl t ON t.db_id = d.id AND t.deleted = 0 WHERE d.id = $1"
        " GROUP BY d.id, d.size, d.num_rows, d.last_ddl_time";
    static const char set_sql[] =
        "UPDATE db SET size = $1, num_rows = $2, last_ddl_time = $3 WHERE id = $4";
    static const char flag_sql[] = "UPDATE db SET updated = 1, update_time = $1 WHERE id = $2";
    int64_t size = 0, rows = 0, ddl = 0;
    bool differs = false;
    *changed = false;
    struct db_stmt *st = db_prepare(db, agg_sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, db_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        size = db_col_i64(st, 0);
        rows = db_col_i64(st, 1);
        ddl = db_col_i64(st, 2);
        differs =
            size != db_col_i64(st, 3) || rows != db_col_i64(st, 4) || ddl != db_col_i64(st, 5);
    }
    db_done(st);
    if (rc < 0)
        return -1;
    if (rc != DB_ROW)
        return 0; /* the db is gone (its data source was deleted meanwhile) */
    if (differs && run(db, set_sql, ARGS(AI(size), AI(rows), AT(ddl), AI(db_id)), NULL, err) < 0)
        return -1;
    if ((differs || children_changed) && !is_new) {
        if (run(db, flag_sql, ARGS(AI(now), AI(db_id)), NULL, err) < 0)
            return -1;
        *changed = true;
    }
    return 0;
}
