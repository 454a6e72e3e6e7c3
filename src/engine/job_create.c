/* TASK_CREATE: builds a migration job and its tasks from a CreateMmsJob request
 * (design-notes.md section 2).
 *
 * 1. Check the request again (the params are the stored body) and the data source.
 * 2. Load the selection from the catalog: the db, its tables (Database: all, through the
 *    white/black lists; Tables: the named ones) or the named partitions (Partitions), every
 *    named object existing and not deleted; then each partitioned table's partitions, through
 *    partitionFilters.
 * 3. Plan with split.c (increment, grouping, schema-only tasks, round-robin), and resolve the
 *    destination of each table: store_catalog_dst_names() with the job's overrides on top.
 * 4. In ONE transaction: reject the job if an active task already covers one of its tables or
 *    partitions, insert the job, its tasks (seq = job id * SEQ_STRIDE + position) and their
 *    partitions, and finish the async task (DONE, result {"jobId","taskNum"}, object_id = job).
 *    Both async-task writes are fenced on (id, attempt), so a worker that lost its lease
 *    commits nothing.
 * A previous attempt that committed (job.async_task_id is this async task) is finished from
 * what it wrote; nothing is built twice (job.async_task_id is also UNIQUE).
 *
 * Every failure of the request against the catalog fails the async task with an errorMsg that
 * names the object; nothing is written. */
#include "engine/engine.h"
#include "engine/pfilter.h"
#include "engine/split.h"
#include "store/store_asynctask.h"
#include "store/store_catalog.h"
#include "store/store_datasource.h"
#include "store/store_job.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEQ_STRIDE 1048576 /* positions per job in task.seq: at most this many tasks a job */

struct jc_table {
    int64_t id, db_id;
    char *name;
    char status[16];
    bool updated, partitioned;
    bool whole;               /* partitioned without partition key columns (split_table) */
    int64_t size, num_rows;
    char *schema;             /* tbl.schema JSON text, NULL when none */
    struct split_part *parts; /* candidates, in value order */
    char **values;            /* owns the partition value strings (parts[].value borrow them) */
    size_t nparts, nvalues, cap;
    struct dst_names dst;
    bool has_dst;
};

struct jc {
    struct work *w;
    int64_t source_id;
    struct job_request req;
    struct datasource ds;
    bool has_ds;
    int64_t db_id;
    char *db_name;
    struct jc_table *t;
    size_t nt, tcap;
    struct split_plan plan;
    struct mms_err err;
};

enum { JC_OK = 0, JC_FAIL = -1, JC_QUIT = 1 };

/* ================================================================ Small helpers */

static int fail(struct jc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct jc *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    c->err.http = 400;
    snprintf(c->err.code, sizeof c->err.code, "InvalidParameter");
    vsnprintf(c->err.msg, sizeof c->err.msg, fmt, ap);
    va_end(ap);
    return JC_FAIL;
}

/* A heartbeat between units of work: JC_QUIT when the engine stops (the row is given back
 * and resumes on the next start) or the lease was lost. */
static int beat(struct jc *c)
{
    enum work_beat b = work_heartbeat(c->w);
    if (b == WORK_GO)
        return JC_OK;
    if (b == WORK_STOP)
        work_release(c->w);
    return JC_QUIT;
}

static int progress(struct jc *c, int pct)
{
    int rc = store_async_progress(c->w->db, c->w->id, c->w->attempt, pct, &c->err);
    return rc < 0 ? JC_FAIL : rc == 1 ? JC_QUIT : JC_OK;
}

/* The catalog's statuses as static strings (split_part / split_table borrow them). */
static const char *status_const(const char *s)
{
    static const char *const known[] = {"INIT", "DOING", "DONE", "FAILED", "PART_DONE", NULL};
    for (int i = 0; s && known[i]; i++)
        if (strcmp(s, known[i]) == 0)
            return known[i];
    return "INIT";
}

static void table_release(struct jc_table *t)
{
    free(t->name);
    free(t->schema);
    for (size_t i = 0; i < t->nvalues; i++)
        free(t->values[i]);
    free(t->values);
    free(t->parts);
    if (t->has_dst)
        dst_names_release(&t->dst);
    memset(t, 0, sizeof *t);
}

static void jc_release(struct jc *c)
{
    for (size_t i = 0; i < c->nt; i++)
        table_release(&c->t[i]);
    free(c->t);
    free(c->db_name);
    split_plan_release(&c->plan);
    if (c->has_ds)
        datasource_release(&c->ds);
}

static void part_add(struct jc_table *t, int64_t id, const char *value, int64_t size,
                     int64_t rows, const char *status, bool updated)
{
    if (t->nparts == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->parts = xreallocarray(t->parts, t->cap, sizeof *t->parts);
        t->values = xreallocarray(t->values, t->cap, sizeof *t->values);
    }
    /* parts only grow here, so nvalues == nparts until a filter drops some parts. */
    t->values[t->nvalues++] = xstrdup(value ? value : "");
    t->parts[t->nparts] = (struct split_part){
        .id = id,
        .value = t->values[t->nvalues - 1],
        .size = size,
        .num_rows = rows,
        .status = status_const(status),
        .updated = updated,
    };
    t->nparts++;
}

static struct jc_table *table_add(struct jc *c)
{
    if (c->nt == c->tcap) {
        c->tcap = c->tcap ? c->tcap * 2 : 16;
        c->t = xreallocarray(c->t, c->tcap, sizeof *c->t);
    }
    struct jc_table *t = &c->t[c->nt++];
    memset(t, 0, sizeof *t);
    return t;
}

static int cmp_table_name(const void *a, const void *b)
{
    return strcmp(((const struct jc_table *)a)->name, ((const struct jc_table *)b)->name);
}

static int cmp_part_value(const void *a, const void *b)
{
    const struct split_part *x = a, *y = b;
    int r = strcmp(x->value, y->value);
    return r ? r : (x->id > y->id) - (x->id < y->id);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static struct jc_table *find_table(struct jc *c, const char *name)
{
    struct jc_table key = {.name = (char *)name};
    return c->nt ? bsearch(&key, c->t, c->nt, sizeof *c->t, cmp_table_name) : NULL;
}

/* ================================================================ Catalog reads */

#define TBL_COLS                                                                                 \
    "SELECT id, db_id, name, has_partitions, status, updated, size, num_rows, schema, deleted"   \
    " FROM tbl"

static void table_from_row(struct jc_table *t, struct db_stmt *st)
{
    t->id = db_col_i64(st, 0);
    t->db_id = db_col_i64(st, 1);
    t->name = xstrdup(db_col_text(st, 2));
    t->partitioned = db_col_i64(st, 3) != 0;
    snprintf(t->status, sizeof t->status, "%s", status_const(db_col_text(st, 4)));
    t->updated = db_col_i64(st, 5) != 0;
    t->size = db_col_i64(st, 6);
    t->num_rows = db_col_i64(st, 7);
    const char *s = db_col_text(st, 8);
    t->schema = s ? xstrdup(s) : NULL;
    /* Partitions but no key columns (MySQL RANGE/HASH...): the schema's "partitions" empty. */
    if (t->partitioned && s) {
        json_t *sj = json_loads(s, 0, NULL);
        json_t *pk = json_object_get(sj, "partitions");
        t->whole = sj && (!pk || (json_is_array(pk) && json_array_size(pk) == 0));
        json_decref(sj);
    }
}

/* The db by name (Database and Tables jobs). */
static int load_db_by_name(struct jc *c)
{
    static const char sql[] = "SELECT id, deleted FROM db WHERE source_id = $1 AND name = $2";
    struct db_stmt *st = db_prepare(c->w->db, sql, &c->err);
    if (!st)
        return JC_FAIL;
    db_bind_i64(st, 1, c->source_id);
    db_bind_text(st, 2, c->req.src_db);
    int rc = db_step(st, &c->err);
    bool deleted = false;
    if (rc == DB_ROW) {
        c->db_id = db_col_i64(st, 0);
        deleted = db_col_i64(st, 1) != 0;
    }
    db_done(st);
    if (rc < 0)
        return JC_FAIL;
    if (rc != DB_ROW)
        return fail(c,
                    "source db '%s' does not exist in data source %lld (is the catalog "
                    "scanned? see CreateMmsFetchMetadataJob)",
                    c->req.src_db, (long long)c->source_id);
    if (deleted)
        return fail(c, "source db '%s' was deleted at the source (found so by the last scan)",
                    c->req.src_db);
    c->db_name = xstrdup(c->req.src_db);
    return JC_OK;
}

/* Database job: every table of the db, through the lists. Names in the list that applies
 * must exist. */
static int load_database(struct jc *c)
{
    static const char sql[] = TBL_COLS " WHERE db_id = $1 AND deleted = 0 ORDER BY name";
    struct db_stmt *st = db_prepare(c->w->db, sql, &c->err);
    if (!st)
        return JC_FAIL;
    db_bind_i64(st, 1, c->db_id);
    int rc;
    while ((rc = db_step(st, &c->err)) == DB_ROW)
        table_from_row(table_add(c), st);
    db_done(st);
    if (rc < 0)
        return JC_FAIL;
    /* ORDER BY name is byte order in SQLite; sort again so that bsearch agrees. */
    qsort(c->t, c->nt, sizeof *c->t, cmp_table_name);

    json_t *list = json_array_size(c->req.black) > 0 ? c->req.black : c->req.white;
    const char *lname = list == c->req.black ? "tableBlackList" : "tableWhiteList";
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it)
    {
        const char *n = json_string_value(it);
        if (!find_table(c, n))
            return fail(c, "%s: table '%s' does not exist in source db '%s'", lname, n,
                        c->db_name);
    }
    size_t k = 0;
    for (size_t j = 0; j < c->nt; j++) {
        if (split_name_selected(c->t[j].name, c->req.white, c->req.black))
            c->t[k++] = c->t[j];
        else
            table_release(&c->t[j]);
    }
    c->nt = k;
    return JC_OK;
}

/* Tables job: the named tables of the db. */
static int load_tables(struct jc *c)
{
    static const char sql[] = TBL_COLS " WHERE db_id = $1 AND name = $2";
    size_t i;
    json_t *it;
    json_array_foreach(c->req.tables, i, it)
    {
        const char *n = json_string_value(it);
        struct db_stmt *st = db_prepare(c->w->db, sql, &c->err);
        if (!st)
            return JC_FAIL;
        db_bind_i64(st, 1, c->db_id);
        db_bind_text(st, 2, n);
        int rc = db_step(st, &c->err);
        bool deleted = false;
        if (rc == DB_ROW) {
            table_from_row(table_add(c), st);
            deleted = db_col_i64(st, 9) != 0;
        }
        db_done(st);
        if (rc < 0)
            return JC_FAIL;
        if (rc != DB_ROW)
            return fail(c, "tables: table '%s' does not exist in source db '%s'", n,
                        c->db_name);
        if (deleted)
            return fail(c, "tables: table '%s.%s' was deleted at the source", c->db_name, n);
        if ((i & 63) == 63 && beat(c) != JC_OK)
            return JC_QUIT;
    }
    /* Table order is name order; a name given twice is one table. */
    qsort(c->t, c->nt, sizeof *c->t, cmp_table_name);
    size_t k = 0;
    for (size_t j = 0; j < c->nt; j++) {
        if (k > 0 && strcmp(c->t[k - 1].name, c->t[j].name) == 0)
            table_release(&c->t[j]);
        else
            c->t[k++] = c->t[j];
    }
    c->nt = k;
    return JC_OK;
}

/* Partitions job: the named partitions, grouped by table. All must be in one db (the job's
 * srcDbName when given). */
static int load_partitions(struct jc *c)
{
    static const char part_sql[] =
        "SELECT p.id, p.table_id, p.db_id, p.value, p.size, p.num_rows, p.status, p.updated,"
        " p.deleted FROM part p WHERE p.id = $1 AND p.source_id = $2";
    static const char tbl_sql[] = TBL_COLS " WHERE id = $1";
    static const char dbname_sql[] = "SELECT name, deleted FROM db WHERE id = $1";
    struct pp {
        int64_t table_id;
        struct split_part p;
        char *value;
    } *v = NULL;
    size_t nv = 0;
    int ret = JC_FAIL;
    size_t np = json_array_size(c->req.partitions);
    v = xcalloc(np ? np : 1, sizeof *v);

    if (c->req.src_db && load_db_by_name(c) != JC_OK)
        goto out;
    int64_t db_id = c->db_id;
    size_t i;
    json_t *it;
    json_array_foreach(c->req.partitions, i, it)
    {
        int64_t id = json_integer_value(it);
        struct db_stmt *st = db_prepare(c->w->db, part_sql, &c->err);
        if (!st)
            goto out;
        db_bind_i64(st, 1, id);
        db_bind_i64(st, 2, c->source_id);
        int rc = db_step(st, &c->err);
        bool deleted = false;
        int64_t pdb = 0;
        if (rc == DB_ROW) {
            struct pp *x = &v[nv++];
            x->table_id = db_col_i64(st, 1);
            pdb = db_col_i64(st, 2);
            x->value = xstrdup(db_col_text(st, 3) ? db_col_text(st, 3) : "");
            x->p = (struct split_part){
                .id = id,
                .size = db_col_i64(st, 4),
                .num_rows = db_col_i64(st, 5),
                .status = status_const(db_col_text(st, 6)),
                .updated = db_col_i64(st, 7) != 0,
            };
            deleted = db_col_i64(st, 8) != 0;
        }
        db_done(st);
        if (rc < 0)
            goto out;
        if (rc != DB_ROW) {
            fail(c, "partitions: partition %lld does not exist in data source %lld",
                 (long long)id, (long long)c->source_id);
            goto out;
        }
        if (deleted) {
            fail(c, "partitions: partition %lld (%s) was deleted at the source", (long long)id,
                 v[nv - 1].value);
            goto out;
        }
        if (db_id == 0) {
            db_id = pdb;
        } else if (pdb != db_id) {
            if (c->req.src_db)
                fail(c, "partitions: partition %lld is not in source db '%s'", (long long)id,
                     c->req.src_db);
            else
                fail(c, "partitions: partition %lld is in another db than partition %lld; a "
                        "job moves partitions of one db",
                     (long long)id, (long long)v[0].p.id);
            goto out;
        }
        if ((i & 63) == 63 && beat(c) != JC_OK) {
            ret = JC_QUIT;
            goto out;
        }
    }
    c->db_id = db_id;
    if (!c->db_name) {
        struct db_stmt *st = db_prepare(c->w->db, dbname_sql, &c->err);
        if (!st)
            goto out;
        db_bind_i64(st, 1, db_id);
        int rc = db_step(st, &c->err);
        bool deleted = false;
        if (rc == DB_ROW) {
            c->db_name = xstrdup(db_col_text(st, 0));
            deleted = db_col_i64(st, 1) != 0;
        }
        db_done(st);
        if (rc < 0)
            goto out;
        if (rc != DB_ROW || deleted) {
            fail(c, "partitions: the db of partition %lld no longer exists",
                 (long long)v[0].p.id);
            goto out;
        }
    }

    /* Group by table: one table row per distinct table id. */
    for (size_t k = 0; k < nv; k++) {
        struct jc_table *t = NULL;
        for (size_t j = 0; j < c->nt && !t; j++)
            if (c->t[j].id == v[k].table_id)
                t = &c->t[j];
        if (!t) {
            struct db_stmt *st = db_prepare(c->w->db, tbl_sql, &c->err);
            if (!st)
                goto out;
            db_bind_i64(st, 1, v[k].table_id);
            int rc = db_step(st, &c->err);
            bool deleted = false;
            if (rc == DB_ROW) {
                t = table_add(c);
                table_from_row(t, st);
                deleted = db_col_i64(st, 9) != 0;
            }
            db_done(st);
            if (rc < 0)
                goto out;
            if (!t || deleted) {
                fail(c, "partitions: the table of partition %lld no longer exists",
                     (long long)v[k].p.id);
                goto out;
            }
        }
        bool dup = false;
        for (size_t j = 0; j < t->nparts && !dup; j++)
            dup = t->parts[j].id == v[k].p.id;
        if (!dup)
            part_add(t, v[k].p.id, v[k].value, v[k].p.size, v[k].p.num_rows, v[k].p.status,
                     v[k].p.updated);
    }
    qsort(c->t, c->nt, sizeof *c->t, cmp_table_name);
    for (size_t j = 0; j < c->nt; j++)
        qsort(c->t[j].parts, c->t[j].nparts, sizeof *c->t[j].parts, cmp_part_value);
    ret = JC_OK;
out:
    for (size_t k = 0; k < nv; k++)
        free(v[k].value);
    free(v);
    return ret;
}

/* Every live partition of a partitioned table, in value order. */
static int load_table_parts(struct jc *c, struct jc_table *t)
{
    static const char sql[] =
        "SELECT id, value, size, num_rows, status, updated FROM part"
        " WHERE table_id = $1 AND deleted = 0 ORDER BY value";
    struct db_stmt *st = db_prepare(c->w->db, sql, &c->err);
    if (!st)
        return JC_FAIL;
    db_bind_i64(st, 1, t->id);
    int rc;
    while ((rc = db_step(st, &c->err)) == DB_ROW)
        part_add(t, db_col_i64(st, 0), db_col_text(st, 1), db_col_i64(st, 2),
                 db_col_i64(st, 3), db_col_text(st, 4), db_col_i64(st, 5) != 0);
    db_done(st);
    if (rc < 0)
        return JC_FAIL;
    qsort(t->parts, t->nparts, sizeof *t->parts, cmp_part_value);
    return JC_OK;
}

/* Whether a live table of this name is in the job's db. */
static int table_in_db(struct jc *c, const char *name, bool *exists)
{
    static const char sql[] = "SELECT 1 FROM tbl WHERE db_id = $1 AND name = $2 AND deleted = 0";
    struct db_stmt *st = db_prepare(c->w->db, sql, &c->err);
    if (!st)
        return JC_FAIL;
    db_bind_i64(st, 1, c->db_id);
    db_bind_text(st, 2, name);
    int rc = db_step(st, &c->err);
    db_done(st);
    *exists = rc == DB_ROW;
    return rc < 0 ? JC_FAIL : JC_OK;
}

/* The keys of partitionFilters and tableMapping name tables: each must exist in the db (a
 * typo must not silently migrate everything); tables the job does not select are ignored. */
static int check_map_keys(struct jc *c, json_t *map, const char *what)
{
    const char *k;
    json_t *v;
    json_object_foreach(map, k, v)
    {
        (void)v;
        if (find_table(c, k))
            continue;
        bool exists = false;
        if (table_in_db(c, k, &exists) != JC_OK)
            return JC_FAIL;
        if (!exists)
            return fail(c, "%s: table '%s' does not exist in source db '%s'", what, k,
                        c->db_name);
    }
    return JC_OK;
}

/* Applies partitionFilters[table] to the table's candidate partitions. */
static int apply_filter(struct jc *c, struct jc_table *t, const char *expr)
{
    struct pfilter *f = NULL;
    struct conn_schema schema = {0};
    json_t *sj = NULL;
    struct mms_err e = {0};
    int ret = JC_FAIL;
    if (!t->partitioned) {
        fail(c, "partitionFilters: table '%s' has no partitions", t->name);
        goto out;
    }
    if (pfilter_parse(expr, &f, &e) < 0) {
        fail(c, "partitionFilters[%s]: %s", t->name, e.msg);
        goto out;
    }
    if (t->whole) {
        /* Its partitions are "partition=<name>": the filter names them by that pseudo key
         * (and selects whether the table moves, whole). */
        static struct conn_column pseudo = {.name = (char *)"partition", .type = {.id = MT_TEXT}};
        schema.pcols = &pseudo;
        schema.npcols = 1;
    } else if (t->schema) {
        json_error_t je;
        sj = json_loads(t->schema, 0, &je);
        if (!sj || conn_schema_from_json(sj, &schema, &e) < 0) {
            MMS_ERR_INTERNAL(&c->err, "the catalog schema of table %s is unreadable", t->name);
            goto out;
        }
    }
    if (pfilter_check(f, &schema, &e) < 0) {
        if (e.http >= 500)
            c->err = e;
        else
            fail(c, "partitionFilters[%s]: %s", t->name, e.msg);
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < t->nparts; i++) {
        bool match = false;
        if (pfilter_match(f, t->parts[i].value, &schema, &match, &e) < 0) {
            if (e.http >= 500)
                c->err = e;
            else
                fail(c, "partitionFilters[%s]: partition %s: %s", t->name, t->parts[i].value,
                     e.msg);
            goto out;
        }
        if (match)
            t->parts[k++] = t->parts[i];
    }
    t->nparts = k; /* values[] still owns every string (nvalues) */
    ret = JC_OK;
out:
    pfilter_free(f);
    if (t->whole)
        memset(&schema, 0, sizeof schema); /* the pseudo key is static */
    conn_schema_release(&schema);
    json_decref(sj);
    return ret;
}

/* ================================================================ Planning */

static int nullable_cmp(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/* Orders pointers to tables by destination. */
static int cmp_dst(const void *a, const void *b)
{
    const struct jc_table *x = *(const struct jc_table *const *)a;
    const struct jc_table *y = *(const struct jc_table *const *)b;
    int r = nullable_cmp(x->dst.project, y->dst.project);
    if (!r)
        r = nullable_cmp(x->dst.schema, y->dst.schema);
    if (!r)
        r = nullable_cmp(x->dst.table, y->dst.table);
    return r;
}

static void set_owned(char **slot, const char *v)
{
    free(*slot);
    *slot = xstrdup(v);
}

/* Destination names for every table that has a task: the catalog's mapping with the job's
 * overrides on top; two tables may not land on the same destination table. */
static int resolve_dst(struct jc *c)
{
    bool *used = xcalloc(c->nt ? c->nt : 1, sizeof *used);
    const struct jc_table **idx = NULL;
    size_t n = 0;
    int ret = JC_FAIL;
    for (size_t i = 0; i < c->plan.ntasks; i++)
        used[c->plan.tasks[i].table] = true;
    for (size_t i = 0; i < c->nt; i++) {
        struct jc_table *t = &c->t[i];
        if (!used[i])
            continue;
        int rc = store_catalog_dst_names(c->w->db, t->id, &t->dst, &c->err);
        if (rc < 0)
            goto out;
        if (rc == 1) {
            fail(c, "table '%s.%s' no longer exists in the catalog", c->db_name, t->name);
            goto out;
        }
        t->has_dst = true;
        if (c->req.dst_db)
            set_owned(&t->dst.project, c->req.dst_db);
        if (c->req.dst_schema)
            set_owned(&t->dst.schema, c->req.dst_schema);
        const char *m = json_string_value(json_object_get(c->req.table_mapping, t->name));
        if (m)
            set_owned(&t->dst.table, m);
        if (!t->dst.project || !*t->dst.project) {
            fail(c, "no destination project for table '%s': set dst.project on the data "
                    "source, dstDbName on the job, or dstProjectName on the db or table",
                 t->name);
            goto out;
        }
        if (!t->dst.table || !*t->dst.table) {
            fail(c, "no destination table name for table '%s'", t->name);
            goto out;
        }
    }
    idx = xcalloc(c->nt ? c->nt : 1, sizeof *idx);
    for (size_t i = 0; i < c->nt; i++)
        if (used[i])
            idx[n++] = &c->t[i];
    qsort(idx, n, sizeof *idx, cmp_dst);
    for (size_t i = 1; i < n; i++) {
        if (cmp_dst(&idx[i - 1], &idx[i]) == 0) {
            const struct jc_table *a = idx[i - 1], *b = idx[i];
            fail(c, "tables '%s' and '%s' would both be written to %s.%s%s%s (see tableMapping)",
                 a->name, b->name, a->dst.project, a->dst.schema ? a->dst.schema : "",
                 a->dst.schema ? "." : "", a->dst.table);
            goto out;
        }
    }
    ret = JC_OK;
out:
    free(used);
    free((void *)idx);
    return ret;
}

/* ================================================================ Writing */

/* The sorted partition ids of a planned task (caller frees). */
static int64_t *task_part_ids(const struct jc *c, const struct split_task *st)
{
    int64_t *ids = xcalloc(st->nparts ? st->nparts : 1, sizeof *ids);
    for (size_t k = 0; k < st->nparts; k++)
        ids[k] = c->t[st->table].parts[st->parts[k]].id;
    qsort(ids, st->nparts, sizeof *ids, cmp_i64);
    return ids;
}

static enum split_cover cover_of(const struct split_task *st)
{
    return st->schema_only ? COVER_SCHEMA : st->nparts ? COVER_PARTS : COVER_WHOLE;
}

/* Rejects the job when an active task (not DONE, not *_FAILED) of any job already covers one
 * of its tables or partitions. Runs inside the write transaction, so two TASK_CREATEs cannot
 * both pass it. */
static int check_conflicts(struct jc *c)
{
    static const char active_sql[] =
        "SELECT id, job_id, table_id, schema_only, status FROM task WHERE source_id = $1"
        " AND status <> 'DONE' AND status NOT LIKE '%FAILED' AND table_id IS NOT NULL"
        " ORDER BY id";
    static const char parts_sql[] =
        "SELECT part_id FROM task_part WHERE task_id = $1 ORDER BY part_id";
    struct active {
        int64_t id, job, table;
        bool schema_only;
        char status[32];
    } *a = NULL;
    size_t na = 0, cap = 0;
    int64_t *theirs = NULL, *ours = NULL;
    size_t ntheirs = 0, tcap = 0;
    int ret = JC_FAIL, rc;

    /* The tables that get tasks, sorted by id, for membership tests. */
    int64_t *tids = xcalloc(c->nt ? c->nt : 1, sizeof *tids);
    size_t ntids = 0;
    for (size_t i = 0; i < c->nt; i++)
        tids[ntids++] = c->t[i].id;
    qsort(tids, ntids, sizeof *tids, cmp_i64);

    struct db_stmt *st = db_prepare(c->w->db, active_sql, &c->err);
    if (!st)
        goto out;
    db_bind_i64(st, 1, c->source_id);
    while ((rc = db_step(st, &c->err)) == DB_ROW) {
        int64_t table = db_col_i64(st, 2);
        if (!ntids || !bsearch(&table, tids, ntids, sizeof *tids, cmp_i64))
            continue;
        if (na == cap) {
            cap = cap ? cap * 2 : 16;
            a = xreallocarray(a, cap, sizeof *a);
        }
        a[na].id = db_col_i64(st, 0);
        a[na].job = db_col_i64(st, 1);
        a[na].table = table;
        a[na].schema_only = db_col_i64(st, 3) != 0;
        snprintf(a[na].status, sizeof a[na].status, "%s", db_col_text(st, 4));
        na++;
    }
    db_done(st);
    if (rc < 0)
        goto out;

    for (size_t i = 0; i < na; i++) {
        ntheirs = 0;
        if (!(st = db_prepare(c->w->db, parts_sql, &c->err)))
            goto out;
        db_bind_i64(st, 1, a[i].id);
        while ((rc = db_step(st, &c->err)) == DB_ROW) {
            if (ntheirs == tcap) {
                tcap = tcap ? tcap * 2 : 64;
                theirs = xreallocarray(theirs, tcap, sizeof *theirs);
            }
            theirs[ntheirs++] = db_col_i64(st, 0);
        }
        db_done(st);
        if (rc < 0)
            goto out;
        enum split_cover cv = a[i].schema_only ? COVER_SCHEMA
                              : ntheirs        ? COVER_PARTS
                                               : COVER_WHOLE;
        for (size_t k = 0; k < c->plan.ntasks; k++) {
            const struct split_task *pt = &c->plan.tasks[k];
            const struct jc_table *t = &c->t[pt->table];
            if (t->id != a[i].table)
                continue;
            ours = task_part_ids(c, pt);
            bool clash = split_conflict(cover_of(pt), ours, pt->nparts, cv, theirs, ntheirs);
            free(ours);
            ours = NULL;
            if (clash) {
                fail(c,
                     "table '%s.%s'%s is already covered by task %lld of job %lld (status %s), "
                     "which has not finished: wait for it, or stop and delete job %lld",
                     c->db_name, t->name, cv == COVER_PARTS ? " (some of its partitions)" : "",
                     (long long)a[i].id, (long long)a[i].job, a[i].status,
                     (long long)a[i].job);
                goto out;
            }
        }
    }
    ret = JC_OK;
out:
    free(a);
    free(theirs);
    free(tids);
    return ret;
}

/* The job-level destination: the override, else the value every task shares, else NULL. */
static const char *common_dst(const struct jc *c, bool project)
{
    const char *v = NULL;
    for (size_t i = 0; i < c->plan.ntasks; i++) {
        const struct jc_table *t = &c->t[c->plan.tasks[i].table];
        const char *x = project ? t->dst.project : t->dst.schema;
        if (i == 0)
            v = x;
        else if (nullable_cmp(v, x) != 0)
            return NULL;
    }
    return v;
}

static int insert_job(struct jc *c, int64_t *job_id)
{
    static const char sql[] =
        "INSERT INTO job (source_id, async_task_id, name, db_id, src_db_name, src_schema_name,"
        " dst_db_name, dst_schema_name, type, status, stopped, config, eta, timer_id,"
        " create_time, update_time)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12, $13, $14, $14)"
        " RETURNING id";
    json_t *cfg = job_request_config(&c->req);
    char *cfg_text = json_dumps(cfg, JSON_COMPACT);
    json_decref(cfg);
    struct db_stmt *st = db_prepare(c->w->db, sql, &c->err);
    if (!st) {
        free(cfg_text);
        return JC_FAIL;
    }
    db_bind_i64(st, 1, c->source_id);
    db_bind_i64(st, 2, c->w->id);
    db_bind_text(st, 3, c->req.name);
    db_bind_i64(st, 4, c->db_id);
    db_bind_text(st, 5, c->db_name);
    db_bind_text(st, 6, c->req.src_schema);
    db_bind_text(st, 7, c->req.dst_db ? c->req.dst_db : common_dst(c, true));
    db_bind_text(st, 8, c->req.dst_schema ? c->req.dst_schema : common_dst(c, false));
    db_bind_text(st, 9, split_scope_name(c->req.scope));
    db_bind_text(st, 10, c->plan.ntasks ? "INIT" : "DONE");
    db_bind_text(st, 11, cfg_text);
    db_bind_text(st, 12, c->req.eta);
    if (c->req.timer_id)
        db_bind_i64(st, 13, c->req.timer_id);
    else
        db_bind_null(st, 13);
    db_bind_i64(st, 14, time_now());
    free(cfg_text);
    int rc = db_step(st, &c->err);
    if (rc == DB_ROW)
        *job_id = db_col_i64(st, 0);
    db_done(st);
    return rc == DB_ROW ? JC_OK : JC_FAIL;
}

static int insert_tasks(struct jc *c, int64_t job_id)
{
    static const char task_sql[] =
        "INSERT INTO task (job_id, source_id, seq, db_id, table_id, src_db_name,"
        " src_schema_name, src_table_name, dst_db_name, dst_schema_name, dst_table_name, type,"
        " status, stopped, queued, schema_only, rows_total, create_time)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'INIT', 0, 1, $13, $14,"
        " $15) RETURNING id";
    static const char part_sql[] = "INSERT INTO task_part (task_id, part_id) VALUES ($1, $2)";
    int64_t now = time_now();
    for (size_t i = 0; i < c->plan.ntasks; i++) {
        const struct split_task *pt = &c->plan.tasks[i];
        const struct jc_table *t = &c->t[pt->table];
        struct db_stmt *st = db_prepare(c->w->db, task_sql, &c->err);
        if (!st)
            return JC_FAIL;
        db_bind_i64(st, 1, job_id);
        db_bind_i64(st, 2, c->source_id);
        db_bind_i64(st, 3, job_id * SEQ_STRIDE + (int64_t)i);
        db_bind_i64(st, 4, t->db_id);
        db_bind_i64(st, 5, t->id);
        db_bind_text(st, 6, c->db_name);
        db_bind_text(st, 7, c->req.src_schema);
        db_bind_text(st, 8, t->name);
        db_bind_text(st, 9, t->dst.project);
        db_bind_text(st, 10, t->dst.schema);
        db_bind_text(st, 11, t->dst.table);
        db_bind_text(st, 12, c->ds.type);
        db_bind_i64(st, 13, pt->schema_only ? 1 : 0);
        db_bind_i64(st, 14, pt->schema_only ? 0 : pt->rows);
        db_bind_i64(st, 15, now);
        int rc = db_step(st, &c->err);
        int64_t task_id = rc == DB_ROW ? db_col_i64(st, 0) : 0;
        db_done(st);
        if (rc != DB_ROW)
            return JC_FAIL;
        for (size_t k = 0; k < pt->nparts; k++) {
            if (!(st = db_prepare(c->w->db, part_sql, &c->err)))
                return JC_FAIL;
            db_bind_i64(st, 1, task_id);
            db_bind_i64(st, 2, t->parts[pt->parts[k]].id);
            rc = db_step(st, &c->err);
            db_done(st);
            if (rc < 0)
                return JC_FAIL;
        }
    }
    return JC_OK;
}

/* Sets object_id and finishes the async task DONE, both fenced: JC_QUIT if the lease is
 * lost. Inside the caller's transaction. */
static int finish_done(struct jc *c, int64_t job_id, int64_t ntasks)
{
    char result[96];
    snprintf(result, sizeof result, "{\"jobId\":%lld,\"taskNum\":%lld}", (long long)job_id,
             (long long)ntasks);
    int rc = store_async_set_object(c->w->db, c->w->id, c->w->attempt, job_id, &c->err);
    if (rc == 0)
        rc = store_async_finish(c->w->db, c->w->id, c->w->attempt, true, result, NULL, &c->err);
    return rc < 0 ? JC_FAIL : rc == 1 ? JC_QUIT : JC_OK;
}

/* A previous attempt built the job: finish from it. JC_OK when finished, JC_FAIL on error,
 * JC_QUIT if lost, 2 when there is no such job. */
static int finish_existing(struct jc *c)
{
    static const char sql[] =
        "SELECT j.id, (SELECT COUNT(*) FROM task t WHERE t.job_id = j.id) FROM job j"
        " WHERE j.async_task_id = $1";
    if (db_begin(c->w->db, &c->err) < 0)
        return JC_FAIL;
    struct db_stmt *st = db_prepare(c->w->db, sql, &c->err);
    int ret = JC_FAIL;
    if (!st)
        goto out;
    db_bind_i64(st, 1, c->w->id);
    int rc = db_step(st, &c->err);
    int64_t job_id = rc == DB_ROW ? db_col_i64(st, 0) : 0;
    int64_t ntasks = rc == DB_ROW ? db_col_i64(st, 1) : 0;
    db_done(st);
    if (rc < 0)
        goto out;
    if (rc != DB_ROW) {
        ret = 2;
        goto out;
    }
    log_info("job %lld was already built by an earlier attempt; finishing", (long long)job_id);
    ret = finish_done(c, job_id, ntasks);
out:
    if (ret == JC_OK)
        return db_commit(c->w->db, &c->err) < 0 ? JC_FAIL : JC_OK;
    db_rollback(c->w->db);
    return ret;
}

static int write_all(struct jc *c)
{
    int64_t job_id = 0;
    if (db_begin(c->w->db, &c->err) < 0)
        return JC_FAIL;
    int ret = check_conflicts(c);
    if (ret == JC_OK)
        ret = insert_job(c, &job_id);
    if (ret == JC_OK)
        ret = insert_tasks(c, job_id);
    if (ret == JC_OK)
        ret = finish_done(c, job_id, (int64_t)c->plan.ntasks);
    if (ret != JC_OK) {
        db_rollback(c->w->db);
        return ret;
    }
    if (db_commit(c->w->db, &c->err) < 0)
        return JC_FAIL;
    log_info("job %lld '%s' created: %s, %zu task(s)", (long long)job_id, c->req.name,
             split_scope_name(c->req.scope), c->plan.ntasks);
    return JC_OK;
}

/* ================================================================ The executor */

static int build(struct jc *c, json_t *params)
{
    int rc;
    struct mms_err perr = {0};
    if (job_request_parse(params, &c->req, &perr) < 0)
        return fail(c, "invalid job request: %s", perr.msg);
    if (c->req.source_id && c->req.source_id != c->source_id)
        return fail(c, "sourceId %lld in the request is not the job's data source %lld",
                    (long long)c->req.source_id, (long long)c->source_id);
    if (store_datasource_check_usable(c->w->db, c->source_id, &c->err) < 0)
        return JC_FAIL;
    if ((rc = store_datasource_get(c->w->db, c->source_id, &c->ds, &c->err)) != 0)
        return rc < 0 ? JC_FAIL : fail(c, "data source %lld does not exist",
                                       (long long)c->source_id);
    c->has_ds = true;
    if (c->req.source_name && strcmp(c->req.source_name, c->ds.name) != 0)
        return fail(c, "sourceName '%s' is not the name of data source %lld ('%s')",
                    c->req.source_name, (long long)c->source_id, c->ds.name);
    if ((rc = progress(c, 5)) != JC_OK)
        return rc;

    /* The selection. */
    if (c->req.scope == SCOPE_PARTITIONS) {
        rc = load_partitions(c);
    } else {
        rc = load_db_by_name(c);
        if (rc == JC_OK)
            rc = c->req.scope == SCOPE_DATABASE ? load_database(c) : load_tables(c);
    }
    if (rc != JC_OK)
        return rc;
    if ((rc = check_map_keys(c, c->req.pfilters, "partitionFilters")) != JC_OK ||
        (rc = check_map_keys(c, c->req.table_mapping, "tableMapping")) != JC_OK)
        return rc;
    if ((rc = beat(c)) != JC_OK || (rc = progress(c, 20)) != JC_OK)
        return rc;

    /* Partitions of the partitioned tables, through the filters (a schema-only job needs
     * none). */
    for (size_t i = 0; i < c->nt && !c->req.schema_only; i++) {
        struct jc_table *t = &c->t[i];
        if (c->req.scope != SCOPE_PARTITIONS && t->partitioned &&
            (rc = load_table_parts(c, t)) != JC_OK)
            return rc;
        const char *expr = json_string_value(json_object_get(c->req.pfilters, t->name));
        if (expr && (rc = apply_filter(c, t, expr)) != JC_OK)
            return rc;
        if ((i & 15) == 15 && (rc = beat(c)) != JC_OK)
            return rc;
    }
    if ((rc = progress(c, 50)) != JC_OK)
        return rc;

    /* The plan. */
    struct split_table *views = xcalloc(c->nt ? c->nt : 1, sizeof *views);
    for (size_t i = 0; i < c->nt; i++) {
        const struct jc_table *t = &c->t[i];
        views[i] = (struct split_table){
            .id = t->id,
            .name = t->name,
            .partitioned = t->partitioned,
            .whole = t->whole,
            .status = t->status,
            .updated = t->updated,
            .size = t->size,
            .num_rows = t->num_rows,
            .parts = t->parts,
            .nparts = t->nparts,
        };
    }
    struct split_opts o = {
        .increment = c->req.increment,
        .schema_only = c->req.schema_only,
        .max_parts = c->w->cfg->split_partitions,
        .max_bytes = c->w->cfg->split_bytes,
    };
    split_plan_build(views, c->nt, &o, &c->plan);
    free(views);
    if (c->plan.ntasks >= SEQ_STRIDE)
        return fail(c, "the job would have %zu tasks; at most %d are allowed: narrow it with "
                       "tables, tableWhiteList or partitionFilters",
                    c->plan.ntasks, SEQ_STRIDE - 1);
    if ((rc = resolve_dst(c)) != JC_OK)
        return rc;
    if ((rc = beat(c)) != JC_OK || (rc = progress(c, 80)) != JC_OK)
        return rc;
    return write_all(c);
}

void exec_task_create(struct work *w, json_t *params, int64_t source_id)
{
    struct jc c = {.w = w, .source_id = source_id};
    int rc = finish_existing(&c);
    if (rc == 2)
        rc = build(&c, params);
    if (rc == JC_FAIL) {
        if (c.err.http >= 500 || c.err.http == 0)
            log_error("TASK_CREATE failed: %s", c.err.msg[0] ? c.err.msg : "store error");
        else
            log_info("TASK_CREATE rejected: %s", c.err.msg);
        char msg[160];
        bool internal = c.err.http >= 500 || c.err.http == 0;
        snprintf(msg, sizeof msg,
                 "internal error while building the job; the server log has the detail "
                 "(async=%lld)",
                 (long long)w->id);
        struct mms_err e = {0};
        db_rollback(w->db);
        if (store_async_finish(w->db, w->id, w->attempt, false, NULL,
                               internal ? msg : c.err.msg, &e) < 0)
            log_error("cannot record the failure: %s", e.msg);
    }
    jc_release(&c);
}
