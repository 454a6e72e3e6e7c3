/* The catalog (store side): status marks and roll-ups, the destination mapping, the API's
 * reads and updates. The metadata scan's writes are in store_scan.c.
 *
 * Lists are two steps: one statement selects the ids of the page (filters and sort keys are
 * all parameters, so the SQL text is fixed and its statement cached), then each object is read
 * by id exactly as the Get operation reads it. Counters therefore cost O(page), not O(catalog),
 * and List and Get can never disagree on an object's form. */
#include "store/store_catalog.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Small helpers ----------------------------------------------------------------------- */

static const char *const status_names[CS_COUNT] = {"INIT", "DOING", "DONE", "FAILED", "PART_DONE"};

static int status_index(const char *s)
{
    for (int i = 0; s && i < CS_COUNT; i++)
        if (strcmp(s, status_names[i]) == 0)
            return i;
    return -1;
}

unsigned catalog_status_bit(const char *status)
{
    int i = status_index(status);
    return i < 0 ? 0u : 1u << i;
}

const char *catalog_rollup_status(const int64_t c[CS_COUNT], const char *none)
{
    if (c[CS_DOING])
        return "DOING";
    if (c[CS_FAILED])
        return "FAILED";
    if (c[CS_PART_DONE])
        return "PART_DONE";
    if (c[CS_DONE])
        return c[CS_INIT] ? "PART_DONE" : "DONE";
    if (c[CS_INIT])
        return "INIT";
    return none;
}

/* A bound argument for run()/bind(): 'i' int64, 's' text (NULL binds SQL NULL). */
struct arg {
    char kind;
    int64_t i;
    const char *s;
};
#define AI(v) ((struct arg){'i', (int64_t)(v), NULL})
#define AS(v) ((struct arg){'s', 0, (v)})
#define ARGS(...)                                                                                  \
    (const struct arg[]){__VA_ARGS__},                                                             \
        sizeof((const struct arg[]){__VA_ARGS__}) / sizeof(struct arg)

static void bind(struct db_stmt *st, const struct arg *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].kind == 'i')
            db_bind_i64(st, (int)i + 1, a[i].i);
        else
            db_bind_text(st, (int)i + 1, a[i].s);
    }
}

/* Runs a statement without result rows. 0 or -1. */
static int run(struct db *db, const char *sql, const struct arg *a, size_t n, struct mms_err *err)
{
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    bind(st, a, n);
    int rc = db_step(st, err);
    db_done(st);
    return rc < 0 ? -1 : 0;
}

/* Runs a query whose first row's first column is an integer: 0 with *out, 1 no row, -1. */
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

/* Status counts of children: rows (status, count). */
static int count_statuses(struct db *db, const char *sql, int64_t id, int64_t c[CS_COUNT],
                          struct mms_err *err)
{
    memset(c, 0, sizeof(int64_t) * CS_COUNT);
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, id);
    int rc;
    while ((rc = db_step(st, err)) == DB_ROW) {
        int i = status_index(db_col_text(st, 0));
        if (i >= 0)
            c[i] += db_col_i64(st, 1);
    }
    db_done(st);
    return rc < 0 ? -1 : 0;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* A JSON string of s; bytes that are not valid UTF-8 (a source may name things in any
 * encoding) become U+FFFD, so the response stays valid JSON. NULL -> null. */
static json_t *jtext(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    char *o = xmalloc(n * 3 + 1);
    size_t k = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        for (size_t m = 1; ok && m < len; m++)
            ok = (p[i + m] & 0xC0) == 0x80;
        if (ok && len > 1) {
            /* Overlong forms, surrogates and values past U+10FFFF are invalid too. */
            unsigned cp = c & (0xFF >> (len + 1));
            for (size_t m = 1; m < len; m++)
                cp = (cp << 6) | (p[i + m] & 0x3F);
            static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
            ok = cp >= min[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
        }
        if (ok) {
            memcpy(o + k, p + i, len);
            k += len;
            i += len;
        } else {
            memcpy(o + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i++;
        }
    }
    o[k] = '\0';
    j = json_string(o);
    free(o);
    return j ? j : json_null();
}

static json_t *jtime(struct db_stmt *st, int col)
{
    if (db_col_null(st, col) || db_col_i64(st, col) <= 0)
        return json_null();
    char s[20];
    time_format(db_col_i64(st, col), s);
    return json_string(s);
}

static json_t *jbool(struct db_stmt *st, int col)
{
    return json_boolean(db_col_i64(st, col) != 0);
}

static json_t *jint(struct db_stmt *st, int col)
{
    return json_integer(db_col_null(st, col) ? 0 : db_col_i64(st, col));
}

/* ---- Marks and roll-ups ------------------------------------------------------------------ */

static const char part_counts_sql[] =
    "SELECT status, COUNT(*) FROM part WHERE table_id = $1 AND deleted = 0 GROUP BY status";
static const char db_table_counts_sql[] =
    "SELECT status, COUNT(*) FROM tbl WHERE db_id = $1 AND deleted = 0 GROUP BY status";
static const char db_part_counts_sql[] =
    "SELECT p.status, COUNT(*) FROM tbl t JOIN part p ON p.table_id = t.id"
    " WHERE t.db_id = $1 AND t.deleted = 0 AND p.deleted = 0 GROUP BY p.status";

/* 0 with the table's db and whether it is partitioned, 1 when it does not exist. */
static int table_row(struct db *db, int64_t table_id, int64_t *db_id, bool *partitioned,
                     struct mms_err *err)
{
    static const char sql[] = "SELECT db_id, has_partitions FROM tbl WHERE id = $1";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, table_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        *db_id = db_col_i64(st, 0);
        *partitioned = db_col_i64(st, 1) != 0;
    }
    db_done(st);
    return rc < 0 ? -1 : rc == DB_ROW ? 0 : 1;
}

static int db_rollup(struct db *db, int64_t db_id, struct mms_err *err)
{
    static const char sql[] = "UPDATE db SET status = $1 WHERE id = $2";
    int64_t c[CS_COUNT];
    if (count_statuses(db, db_table_counts_sql, db_id, c, err) < 0)
        return -1;
    return run(db, sql, ARGS(AS(catalog_rollup_status(c, "INIT")), AI(db_id)), err);
}

int store_catalog_rollup(struct db *db, int64_t table_id, struct mms_err *err)
{
    static const char sql[] = "UPDATE tbl SET status = $1 WHERE id = $2";
    int64_t db_id = 0;
    bool partitioned = false;
    int rc = table_row(db, table_id, &db_id, &partitioned, err);
    if (rc < 0)
        return -1;
    if (rc == 1)
        return mms_err_set(err, 404, "NotFound.Table", "Table %lld does not exist",
                           (long long)table_id);
    if (partitioned) {
        int64_t c[CS_COUNT];
        if (count_statuses(db, part_counts_sql, table_id, c, err) < 0)
            return -1;
        const char *s = catalog_rollup_status(c, NULL);
        if (s && run(db, sql, ARGS(AS(s), AI(table_id)), err) < 0)
            return -1;
    }
    return db_rollup(db, db_id, err);
}

/* The increment flag race: a rescan may flag an object `updated` while a task copies it, after
 * the copy read its rows. The task's DONE must then leave the flag set, or the next increment
 * job would skip a change that was never migrated. Every flag a scan sets adds 1 to the
 * object's change_gen; the runner records change_gen when its DATA stage starts
 * (store_catalog_snapshot, in the task's own rows so that a later attempt which only verifies
 * still has it); DONE clears `updated` only where change_gen still equals that snapshot. A
 * table or db is cleared only when nothing live under it is still flagged. */

int store_catalog_snapshot(struct db *db, int64_t task_id, int64_t attempt, struct mms_err *err)
{
    static const char task_sql[] =
        "UPDATE task SET table_gen = (SELECT change_gen FROM tbl WHERE tbl.id = task.table_id)"
        " WHERE id = $1 AND attempt = $2";
    static const char parts_sql[] =
        "UPDATE task_part SET gen = (SELECT change_gen FROM part WHERE part.id = task_part.part_id)"
        " WHERE task_id = $1 AND EXISTS (SELECT 1 FROM task WHERE id = $1 AND attempt = $2)";
    if (run(db, task_sql, ARGS(AI(task_id), AI(attempt)), err) < 0)
        return -1;
    if (db_changes(db) != 1)
        return 1;
    return run(db, parts_sql, ARGS(AI(task_id), AI(attempt)), err);
}

/* store_catalog_mark (task_id 0: DONE clears unconditionally) and store_catalog_mark_task. */
static int mark(struct db *db, int64_t task_id, int64_t table_id, const int64_t *part_ids,
                size_t nparts, const char *status, struct mms_err *err)
{
    static const char part_sql[] =
        "UPDATE part SET status = $1, updated = CASE WHEN $1 = 'DONE' THEN 0 ELSE updated END"
        " WHERE id = $2 AND table_id = $3";
    static const char tbl_sql[] =
        "UPDATE tbl SET status = $1, updated = CASE WHEN $1 = 'DONE' THEN 0 ELSE updated END"
        " WHERE id = $2";
    static const char tbl_clear_sql[] =
        "UPDATE tbl SET updated = 0 WHERE id = $1 AND status = 'DONE' AND NOT EXISTS"
        " (SELECT 1 FROM part WHERE table_id = $1 AND deleted = 0 AND updated = 1)";
    /* The same against the task's snapshot: a missing one (NULL) never equals. */
    static const char part_task_sql[] =
        "UPDATE part SET status = $1, updated = CASE WHEN $1 = 'DONE' AND change_gen ="
        " (SELECT gen FROM task_part WHERE task_id = $2 AND part_id = part.id)"
        " THEN 0 ELSE updated END WHERE id = $3 AND table_id = $4";
    static const char tbl_task_sql[] =
        "UPDATE tbl SET status = $1, updated = CASE WHEN $1 = 'DONE' AND change_gen ="
        " (SELECT table_gen FROM task WHERE id = $2) THEN 0 ELSE updated END WHERE id = $3";
    static const char tbl_clear_task_sql[] =
        "UPDATE tbl SET updated = 0 WHERE id = $1 AND status = 'DONE'"
        " AND change_gen = (SELECT table_gen FROM task WHERE id = $2) AND NOT EXISTS"
        " (SELECT 1 FROM part WHERE table_id = $1 AND deleted = 0 AND updated = 1)";
    /* A data task of a partitioned table without a partition list moved the table whole (MySQL
     * RANGE/HASH tables, docs/engine.md): its status is every live partition's. Their flags
     * are cleared only if the table's change_gen, which every partition flag also bumps
     * (store_scan.c), is still the snapshot; else the table is flagged, so the next increment
     * job moves it whole again. */
    static const char whole_parts_sql[] =
        "UPDATE part SET status = $1, updated = CASE WHEN $1 = 'DONE' AND"
        " (SELECT table_gen FROM task WHERE id = $2) = (SELECT change_gen FROM tbl WHERE id = $3)"
        " THEN 0 ELSE updated END WHERE table_id = $3 AND deleted = 0";
    static const char whole_flag_sql[] =
        "UPDATE tbl SET updated = 1 WHERE $1 = 'DONE' AND id = $2 AND change_gen IS NOT"
        " (SELECT table_gen FROM task WHERE id = $3)";
    static const char whole_task_sql[] = "SELECT schema_only FROM task WHERE id = $1";
    static const char db_clear_sql[] =
        "UPDATE db SET updated = 0 WHERE id = $1 AND status = 'DONE' AND NOT EXISTS"
        " (SELECT 1 FROM tbl WHERE db_id = $1 AND deleted = 0 AND updated = 1)";
    int i = status_index(status);
    if (i < 0 || i == CS_PART_DONE)
        return MMS_ERR_INTERNAL(err, "store_catalog_mark: bad status '%s'",
                                status ? status : "(null)");
    int64_t db_id = 0;
    bool partitioned = false;
    int rc = table_row(db, table_id, &db_id, &partitioned, err);
    if (rc < 0)
        return -1;
    if (rc == 1)
        return mms_err_set(err, 404, "NotFound.Table", "Table %lld does not exist",
                           (long long)table_id);
    for (size_t k = 0; k < nparts; k++) {
        rc = task_id ? run(db, part_task_sql,
                           ARGS(AS(status), AI(task_id), AI(part_ids[k]), AI(table_id)), err)
                     : run(db, part_sql, ARGS(AS(status), AI(part_ids[k]), AI(table_id)), err);
        if (rc < 0)
            return -1;
    }
    if (nparts == 0) {
        rc = task_id ? run(db, tbl_task_sql, ARGS(AS(status), AI(task_id), AI(table_id)), err)
                     : run(db, tbl_sql, ARGS(AS(status), AI(table_id)), err);
        if (rc < 0)
            return -1;
    }
    if (nparts == 0 && task_id && partitioned) {
        int64_t schema_only = 1;
        if (query_i64(db, whole_task_sql, ARGS(AI(task_id)), &schema_only, err) < 0)
            return -1;
        if (!schema_only &&
            (run(db, whole_parts_sql, ARGS(AS(status), AI(task_id), AI(table_id)), err) < 0 ||
             run(db, whole_flag_sql, ARGS(AS(status), AI(table_id), AI(task_id)), err) < 0))
            return -1;
    }
    if (store_catalog_rollup(db, table_id, err) < 0)
        return -1;
    if (i == CS_DONE) {
        rc = task_id ? run(db, tbl_clear_task_sql, ARGS(AI(table_id), AI(task_id)), err)
                     : run(db, tbl_clear_sql, ARGS(AI(table_id)), err);
        if (rc < 0 || run(db, db_clear_sql, ARGS(AI(db_id)), err) < 0)
            return -1;
    }
    return 0;
}

int store_catalog_mark(struct db *db, int64_t table_id, const int64_t *part_ids, size_t nparts,
                       const char *status, struct mms_err *err)
{
    return mark(db, 0, table_id, part_ids, nparts, status, err);
}

int store_catalog_mark_task(struct db *db, int64_t task_id, int64_t table_id,
                            const int64_t *part_ids, size_t nparts, const char *status,
                            struct mms_err *err)
{
    if (task_id <= 0)
        return MMS_ERR_INTERNAL(err, "store_catalog_mark_task: bad task id %lld",
                                (long long)task_id);
    return mark(db, task_id, table_id, part_ids, nparts, status, err);
}

/* ---- Destination mapping ----------------------------------------------------------------- */

/* config "dst.project" of a data source: owned string, NULL when unset or empty. */
static char *config_dst_project(const char *config_text)
{
    json_t *cfg = config_text ? json_loads(config_text, 0, NULL) : NULL;
    const char *p = json_string_value(json_object_get(cfg, "dst.project"));
    char *r = p && *p ? xstrdup(p) : NULL;
    json_decref(cfg);
    return r;
}

int store_catalog_dst_names(struct db *db, int64_t table_id, struct dst_names *out,
                            struct mms_err *err)
{
    static const char sql[] =
        "SELECT COALESCE(t.dst_project_name, d.dst_project_name),"
        " COALESCE(t.dst_schema_name, d.dst_name, d.name), COALESCE(t.dst_name, t.name),"
        " s.config"
        " FROM tbl t JOIN db d ON d.id = t.db_id JOIN datasource s ON s.id = t.source_id"
        " WHERE t.id = $1";
    memset(out, 0, sizeof *out);
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, table_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        out->project = dup_or_null(db_col_text(st, 0));
        if (!out->project)
            out->project = config_dst_project(db_col_text(st, 3));
        out->schema = xstrdup(db_col_text(st, 1) ? db_col_text(st, 1) : "");
        out->table = xstrdup(db_col_text(st, 2) ? db_col_text(st, 2) : "");
    }
    db_done(st);
    return rc < 0 ? -1 : rc == DB_ROW ? 0 : 1;
}

void dst_names_release(struct dst_names *n)
{
    free(n->project);
    free(n->schema);
    free(n->table);
    n->project = n->schema = n->table = NULL;
}

/* ---- The data source --------------------------------------------------------------------- */

int store_catalog_source(struct db *db, int64_t source_id, struct catalog_source *out,
                         struct mms_err *err)
{
    static const char sql[] = "SELECT name, config FROM datasource WHERE id = $1";
    memset(out, 0, sizeof *out);
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, source_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        out->id = source_id;
        out->name = xstrdup(db_col_text(st, 0) ? db_col_text(st, 0) : "");
        out->dst_project = config_dst_project(db_col_text(st, 1));
    }
    db_done(st);
    return rc < 0 ? -1 : rc == DB_ROW ? 0 : 1;
}

void catalog_source_release(struct catalog_source *s)
{
    free(s->name);
    free(s->dst_project);
    s->name = s->dst_project = NULL;
}

/* ---- Objects ----------------------------------------------------------------------------- */

static void set_counters(json_t *o, const char *prefix, const int64_t c[CS_COUNT],
                         bool with_part_done)
{
    char k[40];
    int64_t total = 0;
    for (int i = 0; i < CS_COUNT; i++)
        total += c[i];
    json_object_set_new(o, prefix, json_integer(total));
    snprintf(k, sizeof k, "%sDoing", prefix);
    json_object_set_new(o, k, json_integer(c[CS_DOING]));
    snprintf(k, sizeof k, "%sDone", prefix);
    json_object_set_new(o, k, json_integer(c[CS_DONE]));
    if (with_part_done) {
        snprintf(k, sizeof k, "%sPartDone", prefix);
        json_object_set_new(o, k, json_integer(c[CS_PART_DONE]));
    }
    snprintf(k, sizeof k, "%sFailed", prefix);
    json_object_set_new(o, k, json_integer(c[CS_FAILED]));
}

int store_catalog_db_get(struct db *db, const struct catalog_source *src, int64_t db_id,
                         json_t **out, struct mms_err *err)
{
    static const char sql[] =
        "SELECT d.id, d.name, d.description, d.owner, d.location, d.extra, d.last_ddl_time,"
        " d.dst_project_name, COALESCE(d.dst_name, d.name), d.status, d.updated, d.deleted,"
        " d.size, d.num_rows, d.create_time, d.update_time"
        " FROM db d WHERE d.id = $1 AND d.source_id = $2";
    *out = NULL;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, db_id);
    db_bind_i64(st, 2, src->id);
    int rc = db_step(st, err);
    json_t *o = NULL;
    if (rc == DB_ROW) {
        o = json_object();
        json_object_set_new(o, "id", jint(st, 0));
        json_object_set_new(o, "sourceId", json_integer(src->id));
        json_object_set_new(o, "sourceName", jtext(src->name));
        json_object_set_new(o, "name", jtext(db_col_text(st, 1)));
        json_object_set_new(o, "description", jtext(db_col_text(st, 2)));
        json_object_set_new(o, "owner", jtext(db_col_text(st, 3)));
        json_object_set_new(o, "location", jtext(db_col_text(st, 4)));
        json_object_set_new(o, "extra", jtext(db_col_text(st, 5)));
        json_object_set_new(o, "lastDdlTime", jtime(st, 6));
        const char *proj = db_col_text(st, 7);
        json_object_set_new(o, "dstProjectName", jtext(proj ? proj : src->dst_project));
        json_object_set_new(o, "dstName", jtext(db_col_text(st, 8)));
        json_object_set_new(o, "status", jtext(db_col_text(st, 9)));
        json_object_set_new(o, "updated", jbool(st, 10));
        json_object_set_new(o, "deleted", jbool(st, 11));
        json_object_set_new(o, "size", jint(st, 12));
        json_object_set_new(o, "numRows", jint(st, 13));
        json_object_set_new(o, "createTime", jtime(st, 14));
        json_object_set_new(o, "updateTime", jtime(st, 15));
    }
    db_done(st);
    if (rc < 0)
        return -1;
    if (rc != DB_ROW)
        return 1;
    int64_t c[CS_COUNT];
    if (count_statuses(db, db_table_counts_sql, db_id, c, err) < 0)
        goto fail;
    set_counters(o, "tables", c, true);
    if (count_statuses(db, db_part_counts_sql, db_id, c, err) < 0)
        goto fail;
    set_counters(o, "partitions", c, false);
    *out = o;
    return 0;
fail:
    json_decref(o);
    return -1;
}

int store_catalog_table_get(struct db *db, const struct catalog_source *src, int64_t table_id,
                            json_t **out, struct mms_err *err)
{
    static const char sql[] =
        "SELECT t.id, t.db_id, d.name, t.name, t.type, t.has_partitions, t.schema, t.owner,"
        " t.location, t.input_format, t.output_format, t.serde, t.extra, t.last_ddl_time,"
        " t.size, t.num_rows, t.updated, t.deleted, t.status,"
        " COALESCE(t.dst_project_name, d.dst_project_name),"
        " COALESCE(t.dst_schema_name, d.dst_name, d.name), COALESCE(t.dst_name, t.name),"
        " t.create_time, t.update_time"
        " FROM tbl t JOIN db d ON d.id = t.db_id WHERE t.id = $1 AND t.source_id = $2";
    *out = NULL;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, table_id);
    db_bind_i64(st, 2, src->id);
    int rc = db_step(st, err);
    json_t *o = NULL;
    if (rc == DB_ROW) {
        o = json_object();
        json_object_set_new(o, "id", jint(st, 0));
        json_object_set_new(o, "dbId", jint(st, 1));
        json_object_set_new(o, "dbName", jtext(db_col_text(st, 2)));
        json_object_set_new(o, "sourceId", json_integer(src->id));
        json_object_set_new(o, "sourceName", jtext(src->name));
        json_object_set_new(o, "name", jtext(db_col_text(st, 3)));
        json_object_set_new(o, "type", jtext(db_col_text(st, 4)));
        json_object_set_new(o, "hasPartitions", jbool(st, 5));
        const char *schema = db_col_text(st, 6);
        json_t *sj = schema ? json_loads(schema, 0, NULL) : NULL;
        json_object_set_new(o, "schema", sj ? sj : json_null());
        json_object_set_new(o, "owner", jtext(db_col_text(st, 7)));
        json_object_set_new(o, "location", jtext(db_col_text(st, 8)));
        json_object_set_new(o, "inputFormat", jtext(db_col_text(st, 9)));
        json_object_set_new(o, "outputFormat", jtext(db_col_text(st, 10)));
        json_object_set_new(o, "serde", jtext(db_col_text(st, 11)));
        json_object_set_new(o, "extra", jtext(db_col_text(st, 12)));
        json_object_set_new(o, "lastDdlTime", jtime(st, 13));
        json_object_set_new(o, "size", jint(st, 14));
        json_object_set_new(o, "numRows", jint(st, 15));
        json_object_set_new(o, "updated", jbool(st, 16));
        json_object_set_new(o, "deleted", jbool(st, 17));
        json_object_set_new(o, "status", jtext(db_col_text(st, 18)));
        const char *proj = db_col_text(st, 19);
        json_object_set_new(o, "dstProjectName", jtext(proj ? proj : src->dst_project));
        json_object_set_new(o, "dstSchemaName", jtext(db_col_text(st, 20)));
        json_object_set_new(o, "dstName", jtext(db_col_text(st, 21)));
        json_object_set_new(o, "createTime", jtime(st, 22));
        json_object_set_new(o, "updateTime", jtime(st, 23));
    }
    db_done(st);
    if (rc < 0)
        return -1;
    if (rc != DB_ROW)
        return 1;
    int64_t c[CS_COUNT];
    if (count_statuses(db, part_counts_sql, table_id, c, err) < 0) {
        json_decref(o);
        return -1;
    }
    set_counters(o, "partitions", c, false);
    *out = o;
    return 0;
}

int store_catalog_part_get(struct db *db, const struct catalog_source *src, int64_t part_id,
                           json_t **out, struct mms_err *err)
{
    static const char sql[] =
        "SELECT p.id, p.db_id, d.name, p.table_id, t.name, p.value, COALESCE(p.dst_value,"
        " p.value), p.last_ddl_time, p.size, p.num_rows, p.updated, p.deleted, p.status,"
        " COALESCE(t.dst_project_name, d.dst_project_name),"
        " COALESCE(t.dst_schema_name, d.dst_name, d.name), COALESCE(t.dst_name, t.name),"
        " p.create_time, p.update_time"
        " FROM part p JOIN tbl t ON t.id = p.table_id JOIN db d ON d.id = p.db_id"
        " WHERE p.id = $1 AND p.source_id = $2";
    *out = NULL;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (!st)
        return -1;
    db_bind_i64(st, 1, part_id);
    db_bind_i64(st, 2, src->id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        json_t *o = json_object();
        json_object_set_new(o, "id", jint(st, 0));
        json_object_set_new(o, "dbId", jint(st, 1));
        json_object_set_new(o, "dbName", jtext(db_col_text(st, 2)));
        json_object_set_new(o, "tableId", jint(st, 3));
        json_object_set_new(o, "tableName", jtext(db_col_text(st, 4)));
        json_object_set_new(o, "sourceId", json_integer(src->id));
        json_object_set_new(o, "sourceName", jtext(src->name));
        json_object_set_new(o, "value", jtext(db_col_text(st, 5)));
        json_object_set_new(o, "dstValue", jtext(db_col_text(st, 6)));
        json_object_set_new(o, "lastDdlTime", jtime(st, 7));
        json_object_set_new(o, "size", jint(st, 8));
        json_object_set_new(o, "numRows", jint(st, 9));
        json_object_set_new(o, "updated", jbool(st, 10));
        json_object_set_new(o, "deleted", jbool(st, 11));
        json_object_set_new(o, "status", jtext(db_col_text(st, 12)));
        const char *proj = db_col_text(st, 13);
        json_object_set_new(o, "dstProjectName", jtext(proj ? proj : src->dst_project));
        json_object_set_new(o, "dstSchemaName", jtext(db_col_text(st, 14)));
        json_object_set_new(o, "dstTableName", jtext(db_col_text(st, 15)));
        json_object_set_new(o, "createTime", jtime(st, 16));
        json_object_set_new(o, "updateTime", jtime(st, 17));
        *out = o;
    }
    db_done(st);
    return rc < 0 ? -1 : rc == DB_ROW ? 0 : 1;
}

/* ---- Lists ------------------------------------------------------------------------------- */

#define STATUS_BIT(col)                                                                            \
    "(CASE " col " WHEN 'INIT' THEN 1 WHEN 'DOING' THEN 2 WHEN 'DONE' THEN 4 WHEN 'FAILED'"        \
    " THEN 8 WHEN 'PART_DONE' THEN 16 ELSE 0 END)"
/* Three sort slots: key parameter k (0 = unused, else 1..3 picks c1..c3), direction parameter
 * d (1 asc, -1 desc). An unused slot is NULL for every row and so does not order anything. */
#define SORT_SLOT(k, d, c1, c2, c3)                                                                \
    "(CASE $" k " WHEN 1 THEN " c1 " WHEN 2 THEN " c2 " WHEN 3 THEN " c3 " END) * $" d
/* clang-format off */
#define SORT3(k1, d1, k2, d2, k3, d3, c1, c2, c3)                                                  \
    " ORDER BY " SORT_SLOT(k1, d1, c1, c2, c3) ", "                                                \
    SORT_SLOT(k2, d2, c1, c2, c3) ", "                                                             \
    SORT_SLOT(k3, d3, c1, c2, c3)
/* clang-format on */

static void bind_sort(struct db_stmt *st, int first, const struct catalog_sort *s)
{
    for (int i = 0; i < CATALOG_MAX_SORT; i++) {
        db_bind_i64(st, first + 2 * i, i < s->n ? s->key[i] : 0);
        db_bind_i64(st, first + 2 * i + 1, i < s->n && s->desc[i] ? -1 : 1);
    }
}

typedef int (*get_fn)(struct db *db, const struct catalog_source *src, int64_t id, json_t **out,
                      struct mms_err *err);

/* Runs a page statement (columns: id, name), builds the objects with `get` (or {id, name}
 * when only_name). */
static int page_objects(struct db *db, const struct catalog_source *src, struct db_stmt *st,
                        get_fn get, bool only_name, json_t **list, struct mms_err *err)
{
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    json_t *arr = json_array();
    int rc;
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (only_name) {
            json_array_append_new(arr, json_pack("{s:I, s:o}", "id", (json_int_t)db_col_i64(st, 0),
                                                 "name", jtext(db_col_text(st, 1))));
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            ids = xreallocarray(ids, cap, sizeof *ids);
        }
        ids[n++] = db_col_i64(st, 0);
    }
    db_done(st);
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        json_t *o = NULL;
        int g = get(db, src, ids[i], &o, err);
        if (g < 0)
            goto fail;
        if (g == 0) /* gone meanwhile (its data source was deleted): skip */
            json_array_append_new(arr, o);
    }
    free(ids);
    *list = arr;
    return 0;
fail:
    free(ids);
    json_decref(arr);
    return -1;
}

#define DB_WHERE                                                                                   \
    " FROM db d WHERE d.source_id = $1 AND ($2 IS NULL OR d.name = $2)"                            \
    " AND ($3 = 0 OR ($3 & " STATUS_BIT("d.status") ") <> 0)"

int store_catalog_db_list(struct db *db, const struct catalog_source *src,
                          const struct catalog_db_query *q, int64_t *total, json_t **list,
                          struct mms_err *err)
{
    static const char count_sql[] = "SELECT COUNT(*)" DB_WHERE;
    static const char page_sql[] = "SELECT d.id, d.name" DB_WHERE SORT3(
        "4", "5", "6", "7", "8", "9", "d.num_rows", "d.size",
        "COALESCE(d.update_time, 0)") ", d.id LIMIT $10 OFFSET $11";
    *list = NULL;
    if (query_i64(db, count_sql, ARGS(AI(src->id), AS(q->name), AI(q->status_mask)), total, err) <
        0)
        return -1;
    struct db_stmt *st = db_prepare(db, page_sql, err);
    if (!st)
        return -1;
    bind(st, ARGS(AI(src->id), AS(q->name), AI(q->status_mask)));
    bind_sort(st, 4, &q->sort);
    db_bind_i64(st, 10, q->limit);
    db_bind_i64(st, 11, q->offset);
    return page_objects(db, src, st, store_catalog_db_get, false, list, err);
}

#define TABLE_WHERE                                                                                \
    " FROM tbl t JOIN db d ON d.id = t.db_id WHERE t.source_id = $1"                               \
    " AND ($2 = 0 OR t.db_id = $2) AND ($3 IS NULL OR d.name = $3)"                                \
    " AND ($4 IS NULL OR t.name = $4) AND ($5 IS NULL OR t.type = $5)"                             \
    " AND ($6 < 0 OR t.has_partitions = $6)"                                                       \
    " AND ($7 = 0 OR ($7 & " STATUS_BIT(                                                           \
        "t.status") ") <> 0)"                                                                      \
                    " AND ($8 IS NULL OR COALESCE(t.dst_project_name, d.dst_project_name, $9) = "  \
                    "$8)"                                                                          \
                    " AND ($10 IS NULL OR COALESCE(t.dst_schema_name, d.dst_name, d.name) = $10)"  \
                    " AND ($11 IS NULL OR COALESCE(t.dst_name, t.name) = $11)"                     \
                    " AND ($12 IS NULL OR t.last_ddl_time >= $12) AND ($13 IS NULL OR "            \
                    "t.last_ddl_time <= $13)"

static void bind_table_where(struct db_stmt *st, const struct catalog_source *src,
                             const struct catalog_table_query *q)
{
    bind(st, ARGS(AI(src->id), AI(q->db_id), AS(q->db_name), AS(q->name), AS(q->type),
                  AI(q->has_partitions), AI(q->status_mask), AS(q->dst_project),
                  AS(src->dst_project), AS(q->dst_schema), AS(q->dst_name)));
    if (q->has_ddl_start)
        db_bind_i64(st, 12, q->ddl_start);
    else
        db_bind_null(st, 12);
    if (q->has_ddl_end)
        db_bind_i64(st, 13, q->ddl_end);
    else
        db_bind_null(st, 13);
}

int store_catalog_table_list(struct db *db, const struct catalog_source *src,
                             const struct catalog_table_query *q, int64_t *total, json_t **list,
                             struct mms_err *err)
{
    static const char count_sql[] = "SELECT COUNT(*)" TABLE_WHERE;
    static const char page_sql[] = "SELECT t.id, t.name" TABLE_WHERE SORT3(
        "14", "15", "16", "17", "18", "19", "t.num_rows", "t.size",
        "COALESCE(t.last_ddl_time, 0)") ", t.id LIMIT $20 OFFSET $21";
    *list = NULL;
    struct db_stmt *st = db_prepare(db, count_sql, err);
    if (!st)
        return -1;
    bind_table_where(st, src, q);
    int rc = db_step(st, err);
    if (rc == DB_ROW)
        *total = db_col_i64(st, 0);
    db_done(st);
    if (rc != DB_ROW)
        return rc < 0 ? -1 : MMS_ERR_INTERNAL(err, "count returned no row");
    if (!(st = db_prepare(db, page_sql, err)))
        return -1;
    bind_table_where(st, src, q);
    bind_sort(st, 14, &q->sort);
    db_bind_i64(st, 20, q->limit);
    db_bind_i64(st, 21, q->offset);
    return page_objects(db, src, st, store_catalog_table_get, q->only_name, list, err);
}

#define PART_WHERE                                                                                 \
    " FROM part p JOIN tbl t ON t.id = p.table_id JOIN db d ON d.id = p.db_id"                     \
    " WHERE p.source_id = $1 AND ($2 = 0 OR p.db_id = $2) AND ($3 IS NULL OR d.name = $3)"         \
    " AND ($4 = 0 OR p.table_id = $4) AND ($5 IS NULL OR t.name = $5)"                             \
    " AND ($6 IS NULL OR p.value = $6) AND ($7 < 0 OR p.updated = $7)"                             \
    " AND ($8 = 0 OR ($8 & " STATUS_BIT("p.status") ") <> 0)"                                      \
                                                    " AND ($9 IS NULL OR p.last_ddl_time >= $9) "  \
                                                    "AND ($10 IS NULL OR p.last_ddl_time <= $10)"

static void bind_part_where(struct db_stmt *st, const struct catalog_source *src,
                            const struct catalog_part_query *q)
{
    bind(st, ARGS(AI(src->id), AI(q->db_id), AS(q->db_name), AI(q->table_id), AS(q->table_name),
                  AS(q->value), AI(q->updated), AI(q->status_mask)));
    if (q->has_ddl_start)
        db_bind_i64(st, 9, q->ddl_start);
    else
        db_bind_null(st, 9);
    if (q->has_ddl_end)
        db_bind_i64(st, 10, q->ddl_end);
    else
        db_bind_null(st, 10);
}

int store_catalog_part_list(struct db *db, const struct catalog_source *src,
                            const struct catalog_part_query *q, int64_t *total, json_t **list,
                            struct mms_err *err)
{
    static const char count_sql[] = "SELECT COUNT(*)" PART_WHERE;
    static const char page_sql[] = "SELECT p.id, p.value" PART_WHERE SORT3(
        "11", "12", "13", "14", "15", "16", "p.num_rows", "p.size",
        "COALESCE(p.last_ddl_time, 0)") ", p.id LIMIT $17 OFFSET $18";
    *list = NULL;
    struct db_stmt *st = db_prepare(db, count_sql, err);
    if (!st)
        return -1;
    bind_part_where(st, src, q);
    int rc = db_step(st, err);
    if (rc == DB_ROW)
        *total = db_col_i64(st, 0);
    db_done(st);
    if (rc != DB_ROW)
        return rc < 0 ? -1 : MMS_ERR_INTERNAL(err, "count returned no row");
    if (!(st = db_prepare(db, page_sql, err)))
        return -1;
    bind_part_where(st, src, q);
    bind_sort(st, 11, &q->sort);
    db_bind_i64(st, 17, q->limit);
    db_bind_i64(st, 18, q->offset);
    return page_objects(db, src, st, store_catalog_part_get, false, list, err);
}

/* ---- Updates ----------------------------------------------------------------------------- */

/* The status of a table and its partitions (manual: UpdateMmsTable(s)), then the roll-up. */
static int table_set_status(struct db *db, int64_t table_id, const char *status,
                            struct mms_err *err)
{
    static const char part_sql[] =
        "UPDATE part SET status = $1, updated = CASE WHEN $1 = 'DONE' THEN 0 ELSE updated END"
        " WHERE table_id = $2";
    static const char tbl_sql[] =
        "UPDATE tbl SET status = $1, updated = CASE WHEN $1 = 'DONE' THEN 0 ELSE updated END"
        " WHERE id = $2";
    if (run(db, part_sql, ARGS(AS(status), AI(table_id)), err) < 0 ||
        run(db, tbl_sql, ARGS(AS(status), AI(table_id)), err) < 0)
        return -1;
    return store_catalog_rollup(db, table_id, err);
}

/* Mapping and status of one table (known to exist). */
static int table_apply(struct db *db, int64_t table_id, const char *dst_project,
                       const char *dst_schema, const char *dst_name, const char *status,
                       struct mms_err *err)
{
    static const char proj_sql[] = "UPDATE tbl SET dst_project_name = NULLIF($1, '') WHERE id = $2";
    static const char schema_sql[] =
        "UPDATE tbl SET dst_schema_name = NULLIF($1, '') WHERE id = $2";
    static const char name_sql[] = "UPDATE tbl SET dst_name = NULLIF($1, '') WHERE id = $2";
    if (dst_project && run(db, proj_sql, ARGS(AS(dst_project), AI(table_id)), err) < 0)
        return -1;
    if (dst_schema && run(db, schema_sql, ARGS(AS(dst_schema), AI(table_id)), err) < 0)
        return -1;
    if (dst_name && run(db, name_sql, ARGS(AS(dst_name), AI(table_id)), err) < 0)
        return -1;
    if (status && table_set_status(db, table_id, status, err) < 0)
        return -1;
    return 0;
}

int store_catalog_db_update(struct db *db, int64_t source_id, int64_t db_id,
                            const char *dst_project, const char *dst_name, const char *status,
                            struct mms_err *err)
{
    static const char exists_sql[] = "SELECT id FROM db WHERE id = $1 AND source_id = $2";
    static const char proj_sql[] = "UPDATE db SET dst_project_name = NULLIF($1, '') WHERE id = $2";
    static const char name_sql[] = "UPDATE db SET dst_name = NULLIF($1, '') WHERE id = $2";
    static const char part_sql[] =
        "UPDATE part SET status = $1, updated = CASE WHEN $1 = 'DONE' THEN 0 ELSE updated END"
        " WHERE table_id IN (SELECT id FROM tbl WHERE db_id = $2)";
    static const char tbl_sql[] =
        "UPDATE tbl SET status = $1, updated = CASE WHEN $1 = 'DONE' THEN 0 ELSE updated END"
        " WHERE db_id = $2";
    static const char db_sql[] =
        "UPDATE db SET status = $1, updated = CASE WHEN $1 = 'DONE' THEN 0 ELSE updated END"
        " WHERE id = $2";
    int64_t id = 0;
    if (db_begin(db, err) < 0)
        return -1;
    int rc = query_i64(db, exists_sql, ARGS(AI(db_id), AI(source_id)), &id, err);
    if (rc != 0)
        goto out;
    rc = -1;
    if (dst_project && run(db, proj_sql, ARGS(AS(dst_project), AI(db_id)), err) < 0)
        goto out;
    if (dst_name && run(db, name_sql, ARGS(AS(dst_name), AI(db_id)), err) < 0)
        goto out;
    if (status && (run(db, part_sql, ARGS(AS(status), AI(db_id)), err) < 0 ||
                   run(db, tbl_sql, ARGS(AS(status), AI(db_id)), err) < 0 ||
                   run(db, db_sql, ARGS(AS(status), AI(db_id)), err) < 0))
        goto out;
    rc = db_commit(db, err) < 0 ? -1 : 0;
out:
    if (rc != 0)
        db_rollback(db);
    return rc;
}

int store_catalog_table_update(struct db *db, int64_t source_id, int64_t table_id,
                               const char *dst_project, const char *dst_schema,
                               const char *dst_name, const char *status, struct mms_err *err)
{
    static const char exists_sql[] = "SELECT id FROM tbl WHERE id = $1 AND source_id = $2";
    int64_t id = 0;
    if (db_begin(db, err) < 0)
        return -1;
    int rc = query_i64(db, exists_sql, ARGS(AI(table_id), AI(source_id)), &id, err);
    if (rc == 0) {
        rc = table_apply(db, table_id, dst_project, dst_schema, dst_name, status, err);
        if (rc == 0)
            rc = db_commit(db, err) < 0 ? -1 : 0;
    }
    if (rc != 0)
        db_rollback(db);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int store_catalog_tables_update(struct db *db, int64_t source_id, const char *db_name,
                                json_t *names, json_t *ids, const char *dst_project,
                                const char *dst_schema, const char *status, int64_t *count,
                                struct mms_err *err)
{
    static const char by_name_sql[] =
        "SELECT t.id FROM tbl t JOIN db d ON d.id = t.db_id"
        " WHERE t.source_id = $1 AND t.name = $2 AND ($3 IS NULL OR d.name = $3)";
    static const char by_id_sql[] = "SELECT id FROM tbl WHERE id = $1 AND source_id = $2";
    int64_t *found = NULL;
    size_t n = 0, cap = 0, i;
    json_t *it;
    int rc = -1;
    *count = 0;
    if (db_begin(db, err) < 0)
        return -1;
    /* Resolve the selection first (names may match one table in each of several dbs). */
    json_array_foreach(names, i, it)
    {
        struct db_stmt *st = db_prepare(db, by_name_sql, err);
        if (!st)
            goto out;
        bind(st, ARGS(AI(source_id), AS(json_string_value(it)), AS(db_name)));
        int s;
        while ((s = db_step(st, err)) == DB_ROW) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                found = xreallocarray(found, cap, sizeof *found);
            }
            found[n++] = db_col_i64(st, 0);
        }
        db_done(st);
        if (s < 0)
            goto out;
    }
    json_array_foreach(ids, i, it)
    {
        int64_t id = 0;
        int s = query_i64(db, by_id_sql, ARGS(AI(json_integer_value(it)), AI(source_id)), &id, err);
        if (s < 0)
            goto out;
        if (s == 0) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                found = xreallocarray(found, cap, sizeof *found);
            }
            found[n++] = id;
        }
    }
    if (n)
        qsort(found, n, sizeof *found, cmp_i64);
    for (i = 0; i < n; i++) {
        if (i > 0 && found[i] == found[i - 1])
            continue;
        if (table_apply(db, found[i], dst_project, dst_schema, NULL, status, err) < 0)
            goto out;
        (*count)++;
    }
    if (db_commit(db, err) < 0)
        goto out;
    rc = 0;
out:
    if (rc != 0) {
        db_rollback(db);
        *count = 0;
    }
    free(found);
    return rc;
}
