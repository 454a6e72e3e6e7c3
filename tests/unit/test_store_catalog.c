/* The catalog store against a real SQLite store file: status marks and roll-ups, the
 * destination mapping, the scan's upserts and sweeps (partitions included, which the SQLite
 * connector never produces), the API's lists, filters, sorting and updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_catalog.h"
#include "store/store_scan.h"

struct fx {
    char dir[64];
    char path[96];
    struct store *store;
    struct db *db;
};

static const char fixture_sql[] =
    "INSERT INTO datasource (id, name, type, config, create_time) VALUES"
    " (7, 'src', 'SQLITE', '{\"dst.project\":\"proj\"}', 1),"
    " (8, 'other', 'SQLITE', '{}', 1);"
    "INSERT INTO db (id, source_id, name, create_time) VALUES"
    " (10, 7, 'sales', 1), (11, 7, 'hr', 1), (12, 8, 'x', 1);"
    "INSERT INTO tbl (id, source_id, db_id, name, type, has_partitions, size, num_rows,"
    " last_ddl_time, create_time) VALUES"
    " (100, 7, 10, 'orders', 'TABLE', 1, 500, 50, 1000, 1),"
    " (101, 7, 10, 'users', 'TABLE', 0, 100, 10, 2000, 1),"
    " (102, 7, 11, 'staff', 'VIEW', 0, 300, 30, 3000, 1),"
    " (103, 8, 12, 'other_t', 'TABLE', 0, 1, 1, 1, 1);"
    "INSERT INTO part (id, source_id, db_id, table_id, value, size, num_rows, last_ddl_time,"
    " updated, create_time) VALUES"
    " (1000, 7, 10, 100, 'd=1', 10, 1, 100, 1, 1),"
    " (1001, 7, 10, 100, 'd=2', 20, 2, 200, 1, 1),"
    " (1002, 7, 10, 100, 'd=3', 30, 3, 300, 0, 1);";

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct mms_err err = {0};
    snprintf(f->dir, sizeof f->dir, "/tmp/mms-catalog-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/mms.db", f->dir);
    if (store_open(&f->store, f->path, 1, &err) < 0)
        return -1;
    f->db = store_acquire(f->store);
    if (db_exec(f->db, fixture_sql, &err) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[128];
    store_release(f->store, f->db);
    store_close(f->store);
    unlink(f->path);
    snprintf(p, sizeof p, "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", f->path);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- helpers: read one value with a query that takes one integer parameter ---- */

static int64_t qi(struct db *db, const char *sql, int64_t arg)
{
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(db, sql, &err);
    assert_non_null(st);
    db_bind_i64(st, 1, arg);
    assert_int_equal(db_step(st, &err), DB_ROW);
    int64_t v = db_col_i64(st, 0);
    db_done(st);
    return v;
}

static char *qs(struct db *db, const char *sql, int64_t arg)
{
    static char out[256];
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(db, sql, &err);
    assert_non_null(st);
    db_bind_i64(st, 1, arg);
    assert_int_equal(db_step(st, &err), DB_ROW);
    snprintf(out, sizeof out, "%s", db_col_text(st, 0) ? db_col_text(st, 0) : "(null)");
    db_done(st);
    return out;
}

#define TBL_STATUS(db, id) qs((db), "SELECT status FROM tbl WHERE id = $1", (id))
#define DB_STATUS(db, id) qs((db), "SELECT status FROM db WHERE id = $1", (id))
#define PART_STATUS(db, id) qs((db), "SELECT status FROM part WHERE id = $1", (id))

static void exec_ok(struct db *db, const char *sql)
{
    struct mms_err err = {0};
    assert_int_equal(db_exec(db, sql, &err), 0);
}

/* ---- roll-up rule ---- */

static void test_rollup_rule(void **state)
{
    (void)state;
    int64_t c[CS_COUNT] = {0};
    assert_string_equal(catalog_rollup_status(c, "INIT"), "INIT");
    assert_null(catalog_rollup_status(c, NULL));
    c[CS_INIT] = 3;
    assert_string_equal(catalog_rollup_status(c, NULL), "INIT");
    c[CS_DONE] = 1;
    assert_string_equal(catalog_rollup_status(c, NULL), "PART_DONE");
    c[CS_INIT] = 0;
    assert_string_equal(catalog_rollup_status(c, NULL), "DONE");
    c[CS_PART_DONE] = 1;
    assert_string_equal(catalog_rollup_status(c, NULL), "PART_DONE");
    c[CS_FAILED] = 1;
    assert_string_equal(catalog_rollup_status(c, NULL), "FAILED");
    c[CS_DOING] = 1;
    assert_string_equal(catalog_rollup_status(c, NULL), "DOING");
    assert_int_equal(catalog_status_bit("INIT"), 1);
    assert_int_equal(catalog_status_bit("PART_DONE"), 16);
    assert_int_equal(catalog_status_bit("done"), 0);
}

/* ---- marks ---- */

static void test_mark_partitions(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    int64_t p0[] = {1000}, p12[] = {1001, 1002};

    assert_int_equal(store_catalog_mark(f->db, 100, p0, 1, "DOING", &err), 0);
    assert_string_equal(PART_STATUS(f->db, 1000), "DOING");
    assert_string_equal(TBL_STATUS(f->db, 100), "DOING");
    assert_string_equal(DB_STATUS(f->db, 10), "DOING");

    assert_int_equal(store_catalog_mark(f->db, 100, p0, 1, "DONE", &err), 0);
    assert_string_equal(PART_STATUS(f->db, 1000), "DONE");
    assert_int_equal(qi(f->db, "SELECT updated FROM part WHERE id = $1", 1000), 0);
    assert_int_equal(qi(f->db, "SELECT updated FROM part WHERE id = $1", 1001), 1);
    assert_string_equal(TBL_STATUS(f->db, 100), "PART_DONE"); /* DONE + INIT */
    assert_string_equal(DB_STATUS(f->db, 10), "PART_DONE");   /* PART_DONE + INIT */
    assert_string_equal(DB_STATUS(f->db, 11), "INIT");        /* untouched */

    exec_ok(f->db, "UPDATE tbl SET updated = 1 WHERE id = 100; UPDATE db SET updated = 1;");
    assert_int_equal(store_catalog_mark(f->db, 100, p12, 2, "DONE", &err), 0);
    assert_string_equal(TBL_STATUS(f->db, 100), "DONE");
    assert_int_equal(qi(f->db, "SELECT updated FROM tbl WHERE id = $1", 100), 0);
    assert_string_equal(DB_STATUS(f->db, 10), "PART_DONE"); /* users still INIT */
    assert_int_equal(qi(f->db, "SELECT updated FROM db WHERE id = $1", 10), 1);

    assert_int_equal(store_catalog_mark(f->db, 101, NULL, 0, "DONE", &err), 0);
    assert_string_equal(TBL_STATUS(f->db, 101), "DONE");
    assert_string_equal(DB_STATUS(f->db, 10), "DONE");
    assert_int_equal(qi(f->db, "SELECT updated FROM db WHERE id = $1", 10), 0);

    int64_t p1[] = {1001};
    assert_int_equal(store_catalog_mark(f->db, 100, p1, 1, "FAILED", &err), 0);
    assert_string_equal(TBL_STATUS(f->db, 100), "FAILED");
    assert_string_equal(DB_STATUS(f->db, 10), "FAILED");
    assert_int_equal(store_catalog_mark(f->db, 101, NULL, 0, "DOING", &err), 0);
    assert_string_equal(DB_STATUS(f->db, 10), "DOING"); /* DOING beats FAILED */

    /* Partition ids of another table are ignored. */
    int64_t foreign[] = {1002};
    assert_int_equal(store_catalog_mark(f->db, 101, foreign, 1, "INIT", &err), 0);
    assert_string_equal(PART_STATUS(f->db, 1002), "DONE");

    /* Errors. */
    assert_int_equal(store_catalog_mark(f->db, 999, NULL, 0, "DONE", &err), -1);
    assert_int_equal(err.http, 404);
    assert_string_equal(err.code, "NotFound.Table");
    assert_int_equal(store_catalog_mark(f->db, 100, NULL, 0, "PART_DONE", &err), -1);
    assert_int_equal(store_catalog_mark(f->db, 100, NULL, 0, NULL, &err), -1);
}

static void test_rollup_ignores_deleted(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    int64_t p01[] = {1000, 1001};
    exec_ok(f->db, "UPDATE part SET deleted = 1 WHERE id = 1002;"
                   "UPDATE tbl SET deleted = 1 WHERE id = 101;");
    assert_int_equal(store_catalog_mark(f->db, 100, p01, 2, "DONE", &err), 0);
    assert_string_equal(TBL_STATUS(f->db, 100), "DONE");
    assert_string_equal(DB_STATUS(f->db, 10), "DONE");

    /* A partitioned table whose partitions are all gone keeps its own status. */
    exec_ok(f->db, "UPDATE part SET deleted = 1 WHERE table_id = 100;");
    assert_int_equal(store_catalog_mark(f->db, 100, NULL, 0, "FAILED", &err), 0);
    assert_string_equal(TBL_STATUS(f->db, 100), "FAILED");
    assert_string_equal(DB_STATUS(f->db, 10), "FAILED");

    /* A db without live tables is INIT. */
    exec_ok(f->db, "UPDATE tbl SET deleted = 1 WHERE id = 100;");
    assert_int_equal(store_catalog_rollup(f->db, 100, &err), 0);
    assert_string_equal(DB_STATUS(f->db, 10), "INIT");
}

/* ---- the increment flag race (store_catalog_snapshot / store_catalog_mark_task) ---- */

static const char race_sql[] =
    "INSERT INTO job (id, source_id, name, type, create_time) VALUES (50, 7, 'j', 'Tables', 1);"
    "INSERT INTO task (id, job_id, source_id, table_id, type, attempt, create_time) VALUES"
    " (500, 50, 7, 101, 'SQLITE', 1, 1), (501, 50, 7, 100, 'SQLITE', 1, 1),"
    " (502, 50, 7, 101, 'SQLITE', 1, 1);"
    "INSERT INTO task_part (task_id, part_id) VALUES (501, 1000), (501, 1001);";

#define TBL_UPDATED(db, id) qi((db), "SELECT updated FROM tbl WHERE id = $1", (id))
#define PART_UPDATED(db, id) qi((db), "SELECT updated FROM part WHERE id = $1", (id))
#define DB_UPDATED(db, id) qi((db), "SELECT updated FROM db WHERE id = $1", (id))

/* What a rescan does when the source table 'users' (101) changed: the real upsert. */
static void rescan_users(struct db *db, int64_t size)
{
    struct mms_err err = {0};
    struct scan_table t = {
        .name = "users", .type = "TABLE", .size = size, .num_rows = 10, .last_ddl_time = 2000};
    int64_t id = 0;
    enum scan_change ch = SCAN_SAME;
    assert_int_equal(store_scan_upsert_table(db, 7, 10, &t, 5, &id, &ch, &err), 0);
    assert_int_equal(id, 101);
    assert_int_equal(ch, SCAN_CHANGED);
}

/* The same for partition d=2 (1001) of 'orders'. */
static void rescan_d2(struct db *db, int64_t size)
{
    struct mms_err err = {0};
    struct scan_part p = {.value = "d=2", .size = size, .num_rows = 2, .last_ddl_time = 200};
    int64_t id = 0;
    enum scan_change ch = SCAN_SAME;
    assert_int_equal(store_scan_upsert_part(db, 7, 10, 100, &p, 5, &id, &ch, &err), 0);
    assert_int_equal(id, 1001);
    assert_int_equal(ch, SCAN_CHANGED);
}

static void test_mark_task_table_race(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    exec_ok(f->db, race_sql);

    /* Every flag a scan sets moves the generation. */
    rescan_users(f->db, 200);
    assert_int_equal(TBL_UPDATED(f->db, 101), 1);
    assert_int_equal(qi(f->db, "SELECT change_gen FROM tbl WHERE id = $1", 101), 1);

    /* Normal case: snapshot, copy, DONE with nothing flagged meanwhile: cleared. */
    assert_int_equal(store_catalog_snapshot(f->db, 500, 1, &err), 0);
    assert_int_equal(qi(f->db, "SELECT table_gen FROM task WHERE id = $1", 500), 1);
    assert_int_equal(store_catalog_mark_task(f->db, 500, 101, NULL, 0, "DONE", &err), 0);
    assert_string_equal(TBL_STATUS(f->db, 101), "DONE");
    assert_int_equal(TBL_UPDATED(f->db, 101), 0);

    /* The race: flagged by a rescan after the copy started. DONE still, but flagged. */
    rescan_users(f->db, 300);
    assert_int_equal(store_catalog_snapshot(f->db, 500, 1, &err), 0);
    assert_int_equal(store_catalog_mark_task(f->db, 500, 101, NULL, 0, "DOING", &err), 0);
    rescan_users(f->db, 400);
    assert_int_equal(store_catalog_mark_task(f->db, 500, 101, NULL, 0, "DONE", &err), 0);
    assert_string_equal(TBL_STATUS(f->db, 101), "DONE");
    assert_int_equal(TBL_UPDATED(f->db, 101), 1);
    /* ... and the db above it stays flagged while the table is (all of db 10 DONE). */
    int64_t parts[] = {1000, 1001, 1002};
    exec_ok(f->db, "UPDATE db SET updated = 1 WHERE id = 10;");
    assert_int_equal(store_catalog_mark(f->db, 100, parts, 3, "DONE", &err), 0);
    assert_string_equal(DB_STATUS(f->db, 10), "DONE");
    assert_int_equal(DB_UPDATED(f->db, 10), 1);

    /* The next attempt (here the same task again) copies after the change: cleared, and the
     * db with it. */
    assert_int_equal(store_catalog_snapshot(f->db, 500, 1, &err), 0);
    assert_int_equal(store_catalog_mark_task(f->db, 500, 101, NULL, 0, "DONE", &err), 0);
    assert_int_equal(TBL_UPDATED(f->db, 101), 0);
    assert_int_equal(DB_UPDATED(f->db, 10), 0);

    /* FAILED and DOING never clear. */
    rescan_users(f->db, 500);
    assert_int_equal(store_catalog_snapshot(f->db, 500, 1, &err), 0);
    assert_int_equal(store_catalog_mark_task(f->db, 500, 101, NULL, 0, "FAILED", &err), 0);
    assert_int_equal(TBL_UPDATED(f->db, 101), 1);

    /* A task that never took a snapshot (it copied nothing) clears nothing. */
    assert_int_equal(store_catalog_mark_task(f->db, 502, 101, NULL, 0, "DONE", &err), 0);
    assert_string_equal(TBL_STATUS(f->db, 101), "DONE");
    assert_int_equal(TBL_UPDATED(f->db, 101), 1);

    /* The snapshot is fenced by the attempt: a worker that lost its lease writes nothing. */
    int64_t gen = qi(f->db, "SELECT table_gen FROM task WHERE id = $1", 500);
    rescan_users(f->db, 600);
    assert_int_equal(store_catalog_snapshot(f->db, 500, 2, &err), 1);
    assert_int_equal(qi(f->db, "SELECT table_gen FROM task WHERE id = $1", 500), gen);
    assert_int_equal(store_catalog_snapshot(f->db, 999, 1, &err), 1);

    /* Errors. */
    assert_int_equal(store_catalog_mark_task(f->db, 0, 101, NULL, 0, "DONE", &err), -1);
    assert_int_equal(err.http, 500);
    assert_int_equal(store_catalog_mark_task(f->db, 500, 999, NULL, 0, "DONE", &err), -1);
    assert_int_equal(err.http, 404);
    assert_int_equal(store_catalog_mark_task(f->db, 500, 101, NULL, 0, "PART_DONE", &err), -1);
}

static void test_mark_task_partition_race(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    int64_t p01[] = {1000, 1001}, p2[] = {1002};
    exec_ok(f->db, race_sql);
    exec_ok(f->db, "UPDATE tbl SET status = 'DONE' WHERE id IN (101, 102);"
                   "UPDATE tbl SET updated = 1 WHERE id = 100; UPDATE db SET updated = 1;");

    /* Task 501 copies d=1 and d=2 (both flagged); a rescan flags d=2 again meanwhile. */
    assert_int_equal(store_catalog_snapshot(f->db, 501, 1, &err), 0);
    assert_int_equal(
        qi(f->db, "SELECT COUNT(*) FROM task_part WHERE task_id = $1 AND gen = 0", 501), 2);
    assert_int_equal(store_catalog_mark_task(f->db, 501, 100, p01, 2, "DOING", &err), 0);
    rescan_d2(f->db, 25);
    assert_int_equal(qi(f->db, "SELECT change_gen FROM part WHERE id = $1", 1001), 1);
    assert_int_equal(store_catalog_mark_task(f->db, 501, 100, p01, 2, "DONE", &err), 0);
    assert_string_equal(PART_STATUS(f->db, 1000), "DONE");
    assert_string_equal(PART_STATUS(f->db, 1001), "DONE");
    assert_int_equal(PART_UPDATED(f->db, 1000), 0); /* unchanged since the snapshot */
    assert_int_equal(PART_UPDATED(f->db, 1001), 1); /* flagged after it: stays */

    /* The last partition DONE: the table and db roll up to DONE but stay flagged while d=2
     * is (plain marks keep that rule too). */
    assert_int_equal(store_catalog_mark(f->db, 100, p2, 1, "DONE", &err), 0);
    assert_string_equal(TBL_STATUS(f->db, 100), "DONE");
    assert_string_equal(DB_STATUS(f->db, 10), "DONE");
    assert_int_equal(TBL_UPDATED(f->db, 100), 1);
    assert_int_equal(DB_UPDATED(f->db, 10), 1);

    /* The next copy of d=2 starts after the change: everything is cleared. */
    assert_int_equal(store_catalog_snapshot(f->db, 501, 1, &err), 0);
    assert_int_equal(store_catalog_mark_task(f->db, 501, 100, p01, 2, "DONE", &err), 0);
    assert_int_equal(PART_UPDATED(f->db, 1001), 0);
    assert_int_equal(TBL_UPDATED(f->db, 100), 0);
    assert_int_equal(DB_UPDATED(f->db, 10), 0);

    /* A flag on the partitioned table itself (its schema changed, say) after the snapshot
     * survives too, though every partition is clean. */
    exec_ok(f->db, "UPDATE tbl SET updated = 1, change_gen = change_gen + 1 WHERE id = 100;");
    assert_int_equal(store_catalog_mark_task(f->db, 501, 100, p01, 2, "DONE", &err), 0);
    assert_int_equal(TBL_UPDATED(f->db, 100), 1);
    assert_int_equal(store_catalog_snapshot(f->db, 501, 1, &err), 0);
    assert_int_equal(store_catalog_mark_task(f->db, 501, 100, p01, 2, "DONE", &err), 0);
    assert_int_equal(TBL_UPDATED(f->db, 100), 0);

    /* Partition ids the task does not hold have no snapshot: never cleared by it. */
    exec_ok(f->db, "UPDATE part SET updated = 1 WHERE id = 1002;");
    assert_int_equal(store_catalog_mark_task(f->db, 501, 100, p2, 1, "DONE", &err), 0);
    assert_int_equal(PART_UPDATED(f->db, 1002), 1);
}

/* A task that moved a partitioned table whole (no partition list: MySQL RANGE/HASH tables)
 * marks every live partition; a partition flagged after its snapshot keeps its flag and flags
 * the table, so the next increment job moves the table again. */
static void test_mark_whole_table(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    exec_ok(f->db, race_sql);
    exec_ok(f->db, "INSERT INTO task (id, job_id, source_id, table_id, type, attempt, schema_only,"
                   " create_time) VALUES (503, 50, 7, 100, 'MYSQL', 1, 0, 1),"
                   " (504, 50, 7, 100, 'MYSQL', 1, 1, 1);");

    /* Plain case: every partition DONE and cleared, the table rolls up to DONE. */
    assert_int_equal(store_catalog_snapshot(f->db, 503, 1, &err), 0);
    assert_int_equal(store_catalog_mark_task(f->db, 503, 100, NULL, 0, "DONE", &err), 0);
    for (int64_t id = 1000; id <= 1002; id++) {
        assert_string_equal(PART_STATUS(f->db, id), "DONE");
        assert_int_equal(PART_UPDATED(f->db, id), 0);
    }
    assert_string_equal(TBL_STATUS(f->db, 100), "DONE");
    assert_int_equal(TBL_UPDATED(f->db, 100), 0);

    /* A rescan flags d=2 while the next whole copy runs: it stays flagged, so does the table. */
    assert_int_equal(store_catalog_snapshot(f->db, 503, 1, &err), 0);
    int64_t gen = qi(f->db, "SELECT change_gen FROM tbl WHERE id = $1", 100);
    rescan_d2(f->db, 26);
    assert_int_equal(qi(f->db, "SELECT change_gen FROM tbl WHERE id = $1", 100), gen + 1);
    assert_int_equal(store_catalog_mark_task(f->db, 503, 100, NULL, 0, "DONE", &err), 0);
    assert_string_equal(PART_STATUS(f->db, 1001), "DONE");
    assert_int_equal(PART_UPDATED(f->db, 1001), 1);
    assert_int_equal(PART_UPDATED(f->db, 1000), 0);
    assert_int_equal(TBL_UPDATED(f->db, 100), 1);

    /* A schema-only task of the table moved no rows: its partitions are left alone. */
    exec_ok(f->db, "UPDATE part SET status = 'INIT' WHERE id = 1002;");
    assert_int_equal(store_catalog_mark_task(f->db, 504, 100, NULL, 0, "DONE", &err), 0);
    assert_string_equal(PART_STATUS(f->db, 1002), "INIT");
    assert_int_equal(PART_UPDATED(f->db, 1001), 1);
}

/* ---- mapping ---- */

static void test_dst_names(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    struct dst_names n;

    assert_int_equal(store_catalog_dst_names(f->db, 101, &n, &err), 0);
    assert_string_equal(n.project, "proj");
    assert_string_equal(n.schema, "sales");
    assert_string_equal(n.table, "users");
    dst_names_release(&n);

    exec_ok(f->db, "UPDATE db SET dst_project_name = 'dp', dst_name = 'ds' WHERE id = 10;");
    assert_int_equal(store_catalog_dst_names(f->db, 101, &n, &err), 0);
    assert_string_equal(n.project, "dp");
    assert_string_equal(n.schema, "ds");
    assert_string_equal(n.table, "users");
    dst_names_release(&n);

    exec_ok(f->db, "UPDATE tbl SET dst_project_name = 'tp', dst_schema_name = 'ts',"
                   " dst_name = 'tn' WHERE id = 101;");
    assert_int_equal(store_catalog_dst_names(f->db, 101, &n, &err), 0);
    assert_string_equal(n.project, "tp");
    assert_string_equal(n.schema, "ts");
    assert_string_equal(n.table, "tn");
    dst_names_release(&n);

    /* No dst.project in the source config and no override: project NULL. */
    assert_int_equal(store_catalog_dst_names(f->db, 103, &n, &err), 0);
    assert_null(n.project);
    assert_string_equal(n.schema, "x");
    assert_string_equal(n.table, "other_t");
    dst_names_release(&n);

    assert_int_equal(store_catalog_dst_names(f->db, 999, &n, &err), 1);
    dst_names_release(&n);
}

/* ---- scan writes ---- */

static void test_scan_upserts(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    enum scan_change ch;
    int64_t tid = 0, tid2 = 0, pid1 = 0, pid2 = 0, did = 0, ndel = 0;

    struct scan_table t = {.name = "events",
                           .type = "TABLE",
                           .size = 10,
                           .num_rows = 5,
                           .last_ddl_time = 111,
                           .last_modified = 0,
                           .schema = "{\"columns\":[]}",
                           .partitioned = true};
    assert_int_equal(store_scan_upsert_table(f->db, 7, 11, &t, 50, &tid, &ch, &err), 0);
    assert_int_equal(ch, SCAN_NEW);
    assert_true(tid > 0);
    assert_int_equal(qi(f->db, "SELECT last_modified IS NULL FROM tbl WHERE id = $1", tid), 1);
    assert_int_equal(store_scan_upsert_table(f->db, 7, 11, &t, 60, &tid2, &ch, &err), 0);
    assert_int_equal(ch, SCAN_SAME);
    assert_int_equal(tid2, tid);
    assert_int_equal(qi(f->db, "SELECT updated FROM tbl WHERE id = $1", tid), 0);
    /* Every compared field, one at a time. */
    struct scan_table t2 = t;
    t2.num_rows = 6;
    assert_int_equal(store_scan_upsert_table(f->db, 7, 11, &t2, 70, &tid2, &ch, &err), 0);
    assert_int_equal(ch, SCAN_CHANGED);
    assert_int_equal(tid2, tid);
    assert_int_equal(qi(f->db, "SELECT updated FROM tbl WHERE id = $1", tid), 1);
    assert_int_equal(qi(f->db, "SELECT update_time FROM tbl WHERE id = $1", tid), 70);
    t2.schema = "{\"columns\":[1]}";
    assert_int_equal(store_scan_upsert_table(f->db, 7, 11, &t2, 71, &tid2, &ch, &err), 0);
    assert_int_equal(ch, SCAN_CHANGED);
    t2.last_modified = 5;
    assert_int_equal(store_scan_upsert_table(f->db, 7, 11, &t2, 72, &tid2, &ch, &err), 0);
    assert_int_equal(ch, SCAN_CHANGED);
    t2.size = -1; /* unknown is stored as 0 */
    assert_int_equal(store_scan_upsert_table(f->db, 7, 11, &t2, 73, &tid2, &ch, &err), 0);
    assert_int_equal(ch, SCAN_CHANGED);
    assert_int_equal(qi(f->db, "SELECT size FROM tbl WHERE id = $1", tid), 0);
    assert_int_equal(store_scan_upsert_table(f->db, 7, 11, &t2, 74, &tid2, &ch, &err), 0);
    assert_int_equal(ch, SCAN_SAME);

    /* Partitions. */
    struct scan_part p1 = {.value = "dt=2024-01-01", .size = 1, .num_rows = 1, .last_ddl_time = 5};
    struct scan_part p2 = {.value = "dt=2024-01-02", .size = 2, .num_rows = 2};
    assert_int_equal(store_scan_upsert_part(f->db, 7, 11, tid, &p1, 80, &pid1, &ch, &err), 0);
    assert_int_equal(ch, SCAN_NEW);
    assert_int_equal(store_scan_upsert_part(f->db, 7, 11, tid, &p2, 80, &pid2, &ch, &err), 0);
    assert_int_equal(ch, SCAN_NEW);
    int64_t again = 0;
    assert_int_equal(store_scan_upsert_part(f->db, 7, 11, tid, &p1, 81, &again, &ch, &err), 0);
    assert_int_equal(ch, SCAN_SAME);
    assert_int_equal(again, pid1);
    p1.size = 100;
    assert_int_equal(store_scan_upsert_part(f->db, 7, 11, tid, &p1, 82, &again, &ch, &err), 0);
    assert_int_equal(ch, SCAN_CHANGED);
    assert_int_equal(qi(f->db, "SELECT updated FROM part WHERE id = $1", pid1), 1);

    /* p2 vanished. */
    int64_t seen[] = {pid1};
    assert_int_equal(store_scan_sweep_parts(f->db, tid, seen, 1, 90, &ndel, &err), 0);
    assert_int_equal(ndel, 1);
    assert_int_equal(qi(f->db, "SELECT deleted FROM part WHERE id = $1", pid2), 1);
    assert_int_equal(qi(f->db, "SELECT deleted FROM part WHERE id = $1", pid1), 0);
    assert_int_equal(store_scan_sweep_parts(f->db, tid, seen, 1, 91, &ndel, &err), 0);
    assert_int_equal(ndel, 1); /* already deleted: not counted again */
    /* ... and is back: same id, deleted = 0, updated. */
    assert_int_equal(store_scan_upsert_part(f->db, 7, 11, tid, &p2, 92, &again, &ch, &err), 0);
    assert_int_equal(ch, SCAN_CHANGED);
    assert_int_equal(again, pid2);
    assert_int_equal(qi(f->db, "SELECT deleted FROM part WHERE id = $1", pid2), 0);

    /* Tables of db 11: staff (102) and events; only events seen. */
    ndel = 0;
    int64_t tseen[] = {tid};
    assert_int_equal(store_scan_sweep_tables(f->db, 11, tseen, 1, NULL, 0, 95, &ndel, &err), 0);
    assert_int_equal(ndel, 1);
    assert_int_equal(qi(f->db, "SELECT deleted FROM tbl WHERE id = $1", 102), 1);
    /* A scope of names: only named tables may be swept. */
    ndel = 0;
    const char *other[] = {"nope"};
    assert_int_equal(store_scan_sweep_tables(f->db, 11, NULL, 0, other, 1, 96, &ndel, &err), 0);
    assert_int_equal(ndel, 0);
    const char *named[] = {"events"};
    assert_int_equal(store_scan_sweep_tables(f->db, 11, NULL, 0, named, 1, 96, &ndel, &err), 0);
    assert_int_equal(ndel, 3); /* the table and its two partitions */
    assert_int_equal(
        qi(f->db, "SELECT COUNT(*) FROM part WHERE table_id = $1 AND deleted = 1", tid), 2);

    /* Dbs. */
    assert_int_equal(store_scan_upsert_db(f->db, 7, "hr", 100, &did, &ch, &err), 0);
    assert_int_equal(ch, SCAN_SAME);
    assert_int_equal(did, 11);
    assert_int_equal(store_scan_upsert_db(f->db, 7, "fin", 100, &did, &ch, &err), 0);
    assert_int_equal(ch, SCAN_NEW);
    ndel = 0;
    assert_int_equal(store_scan_sweep_db(f->db, did, NULL, 0, 101, &ndel, &err), 0);
    assert_int_equal(ndel, 1);
    int64_t *live = NULL;
    size_t nlive = 0;
    assert_int_equal(store_scan_live_dbs(f->db, 7, &live, &nlive, &err), 0);
    assert_int_equal(nlive, 2); /* sales, hr */
    free(live);
    int64_t did2 = 0;
    assert_int_equal(store_scan_upsert_db(f->db, 7, "fin", 102, &did2, &ch, &err), 0);
    assert_int_equal(ch, SCAN_CHANGED);
    assert_int_equal(did2, did);

    /* Db sums come from live tables only (sales: orders 500 + users 100). */
    bool changed = false;
    assert_int_equal(store_scan_db_refresh(f->db, 10, false, false, 110, &changed, &err), 0);
    assert_true(changed);
    assert_int_equal(qi(f->db, "SELECT size FROM db WHERE id = $1", 10), 600);
    assert_int_equal(qi(f->db, "SELECT num_rows FROM db WHERE id = $1", 10), 60);
    assert_int_equal(qi(f->db, "SELECT last_ddl_time FROM db WHERE id = $1", 10), 2000);
    assert_int_equal(qi(f->db, "SELECT updated FROM db WHERE id = $1", 10), 1);
    assert_int_equal(store_scan_db_refresh(f->db, 10, false, false, 111, &changed, &err), 0);
    assert_false(changed);
    /* A new db is never flagged updated (a revived one is: fin above). */
    assert_int_equal(qi(f->db, "SELECT updated FROM db WHERE id = $1", did), 1);
    assert_int_equal(store_scan_upsert_db(f->db, 7, "fresh", 112, &did, &ch, &err), 0);
    assert_int_equal(ch, SCAN_NEW);
    assert_int_equal(store_scan_db_refresh(f->db, did, true, true, 112, &changed, &err), 0);
    assert_false(changed);
    assert_int_equal(qi(f->db, "SELECT updated FROM db WHERE id = $1", did), 0);
}

static void test_scan_rows(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    int64_t id = 0, id2 = 0;
    json_t *names = json_pack("[s]", "users");
    assert_int_equal(store_scan_create(f->db, 7, "sales", names, &id, &err), 0);
    assert_int_equal(qi(f->db, "SELECT scan_id FROM datasource WHERE id = $1", 7), id);
    assert_int_equal(store_scan_create(f->db, 7, NULL, NULL, &id2, &err), -1);
    assert_int_equal(err.http, 409);
    assert_string_equal(err.code, "Conflict.ScanRunning");
    char want[64];
    snprintf(want, sizeof want, "scanId %lld", (long long)id);
    assert_non_null(strstr(err.msg, want));
    assert_int_equal(store_scan_create(f->db, 999, NULL, NULL, &id2, &err), -1);
    assert_int_equal(err.http, 404);

    struct scan s;
    assert_int_equal(store_scan_get(f->db, 8, id, &s, &err), 1); /* another source */
    assert_int_equal(store_scan_get(f->db, 7, id, &s, &err), 0);
    assert_string_equal(s.status, "SCAN_DOING");
    assert_string_equal(s.db_name, "sales");
    assert_string_equal(s.table_names, "[\"users\"]");
    scan_release(&s);

    /* Fencing: attempt 0 is the row's; attempt 5 is a stale worker. */
    assert_int_equal(store_scan_progress(f->db, id, 5, 100, &err), 1);
    assert_int_equal(store_scan_progress(f->db, id, 0, 20000, &err), 0);
    assert_int_equal(qi(f->db, "SELECT progress FROM scan WHERE id = $1", id), 10000);
    assert_int_equal(store_scan_finish(f->db, id, 5, 7, true, "{}", NULL, &err), 1);
    assert_int_equal(store_scan_finish(f->db, id, 0, 7, false, NULL, "boom", &err), 0);
    assert_int_equal(store_scan_get(f->db, 7, id, &s, &err), 0);
    assert_string_equal(s.status, "SCAN_FAILED");
    assert_string_equal(s.error_msg, "boom");
    assert_null(s.result);
    json_t *j = scan_to_json(&s);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "SCAN_FAILED");
    assert_true(json_is_null(json_object_get(j, "result")));
    json_decref(j);
    scan_release(&s);
    assert_int_equal(qi(f->db, "SELECT last_update_time IS NULL FROM datasource WHERE id = $1", 7),
                     1);

    /* Now a new scan may start; finishing it DONE stamps the source. */
    assert_int_equal(store_scan_create(f->db, 7, NULL, NULL, &id2, &err), 0);
    assert_int_equal(store_scan_finish(f->db, id2, 0, 7, true, "{\"tables\":1}", NULL, &err), 0);
    assert_int_equal(store_scan_get(f->db, 7, id2, &s, &err), 0);
    assert_string_equal(s.status, "SCAN_DONE");
    assert_int_equal(s.progress, 10000);
    assert_string_equal(s.result, "{\"tables\":1}");
    scan_release(&s);
    assert_true(qi(f->db, "SELECT last_update_time FROM datasource WHERE id = $1", 7) > 0);
    json_decref(names);
}

/* ---- lists ---- */

static int64_t item_id(json_t *list, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(list, i), "id"));
}

static void test_lists(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    struct catalog_source src;
    int64_t total = 0;
    json_t *list = NULL;
    assert_int_equal(store_catalog_source(f->db, 999, &src, &err), 1);
    assert_int_equal(store_catalog_source(f->db, 7, &src, &err), 0);
    assert_string_equal(src.dst_project, "proj");

    /* Partitions: sorting, filters, paging. */
    struct catalog_part_query pq = {.updated = -1, .limit = 10};
    pq.sort.n = 1;
    pq.sort.key[0] = 1;
    pq.sort.desc[0] = true;
    assert_int_equal(store_catalog_part_list(f->db, &src, &pq, &total, &list, &err), 0);
    assert_int_equal(total, 3);
    assert_int_equal(item_id(list, 0), 1002);
    assert_int_equal(item_id(list, 2), 1000);
    json_t *p = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(p, "tableName")), "orders");
    assert_string_equal(json_string_value(json_object_get(p, "dbName")), "sales");
    assert_string_equal(json_string_value(json_object_get(p, "dstValue")), "d=3");
    assert_string_equal(json_string_value(json_object_get(p, "dstProjectName")), "proj");
    assert_string_equal(json_string_value(json_object_get(p, "dstSchemaName")), "sales");
    assert_string_equal(json_string_value(json_object_get(p, "dstTableName")), "orders");
    assert_string_equal(json_string_value(json_object_get(p, "lastDdlTime")),
                        "1970-01-01 00:05:00");
    json_decref(list);

    pq.updated = 1;
    assert_int_equal(store_catalog_part_list(f->db, &src, &pq, &total, &list, &err), 0);
    assert_int_equal(total, 2);
    json_decref(list);
    pq.updated = -1;
    pq.value = "d=2";
    assert_int_equal(store_catalog_part_list(f->db, &src, &pq, &total, &list, &err), 0);
    assert_int_equal(total, 1);
    assert_int_equal(item_id(list, 0), 1001);
    json_decref(list);
    pq.value = NULL;
    pq.has_ddl_start = pq.has_ddl_end = true;
    pq.ddl_start = 150;
    pq.ddl_end = 300;
    assert_int_equal(store_catalog_part_list(f->db, &src, &pq, &total, &list, &err), 0);
    assert_int_equal(total, 2);
    json_decref(list);
    pq.has_ddl_start = pq.has_ddl_end = false;
    pq.limit = 1;
    pq.offset = 1;
    pq.sort.n = 0;
    assert_int_equal(store_catalog_part_list(f->db, &src, &pq, &total, &list, &err), 0);
    assert_int_equal(total, 3);
    assert_int_equal(json_array_size(list), 1);
    assert_int_equal(item_id(list, 0), 1001);
    json_decref(list);
    exec_ok(f->db, "UPDATE part SET status = 'DONE' WHERE id = 1000;");
    pq.limit = 10;
    pq.offset = 0;
    pq.status_mask = catalog_status_bit("DONE") | catalog_status_bit("FAILED");
    assert_int_equal(store_catalog_part_list(f->db, &src, &pq, &total, &list, &err), 0);
    assert_int_equal(total, 1);
    json_decref(list);
    pq.status_mask = 0;
    pq.table_name = "users";
    assert_int_equal(store_catalog_part_list(f->db, &src, &pq, &total, &list, &err), 0);
    assert_int_equal(total, 0);
    json_decref(list);

    /* Tables: effective mapping filters, counters, onlyName. */
    struct catalog_table_query tq = {.has_partitions = -1, .limit = 10};
    tq.dst_project = "proj";
    assert_int_equal(store_catalog_table_list(f->db, &src, &tq, &total, &list, &err), 0);
    assert_int_equal(total, 3); /* not 103: another source */
    json_decref(list);
    exec_ok(f->db, "UPDATE db SET dst_project_name = 'dp' WHERE id = 10;");
    assert_int_equal(store_catalog_table_list(f->db, &src, &tq, &total, &list, &err), 0);
    assert_int_equal(total, 1);
    assert_int_equal(item_id(list, 0), 102);
    json_decref(list);
    tq.dst_project = "dp";
    tq.dst_schema = "sales";
    tq.dst_name = "orders";
    assert_int_equal(store_catalog_table_list(f->db, &src, &tq, &total, &list, &err), 0);
    assert_int_equal(total, 1);
    json_t *t = json_array_get(list, 0);
    assert_int_equal(json_integer_value(json_object_get(t, "partitions")), 3);
    assert_int_equal(json_integer_value(json_object_get(t, "partitionsDone")), 1);
    assert_true(json_is_true(json_object_get(t, "hasPartitions")));
    json_decref(list);
    tq.dst_project = tq.dst_schema = tq.dst_name = NULL;
    tq.only_name = true;
    tq.sort.n = 1;
    tq.sort.key[0] = 3; /* lastDdlTime */
    tq.sort.desc[0] = true;
    assert_int_equal(store_catalog_table_list(f->db, &src, &tq, &total, &list, &err), 0);
    assert_int_equal(total, 3);
    assert_int_equal(json_object_size(json_array_get(list, 0)), 2);
    assert_int_equal(item_id(list, 0), 102);
    assert_int_equal(item_id(list, 2), 100);
    json_decref(list);
    tq.only_name = false;
    tq.has_partitions = 0;
    tq.type = "TABLE";
    assert_int_equal(store_catalog_table_list(f->db, &src, &tq, &total, &list, &err), 0);
    assert_int_equal(total, 1);
    assert_int_equal(item_id(list, 0), 101);
    json_decref(list);

    /* Dbs: counters and status filter. */
    struct catalog_db_query dq = {.limit = 10};
    assert_int_equal(store_catalog_db_list(f->db, &src, &dq, &total, &list, &err), 0);
    assert_int_equal(total, 2);
    json_t *d = json_array_get(list, 0);
    assert_int_equal(json_integer_value(json_object_get(d, "tables")), 2);
    assert_int_equal(json_integer_value(json_object_get(d, "partitions")), 3);
    assert_int_equal(json_integer_value(json_object_get(d, "partitionsDone")), 1);
    assert_string_equal(json_string_value(json_object_get(d, "dstProjectName")), "dp");
    assert_string_equal(json_string_value(json_object_get(d, "dstName")), "sales");
    assert_string_equal(json_string_value(json_object_get(d, "sourceName")), "src");
    json_decref(list);
    dq.status_mask = catalog_status_bit("DONE");
    assert_int_equal(store_catalog_db_list(f->db, &src, &dq, &total, &list, &err), 0);
    assert_int_equal(total, 0);
    json_decref(list);

    /* Isolation: objects of source 8 are not found through source 7. */
    json_t *o = NULL;
    assert_int_equal(store_catalog_table_get(f->db, &src, 103, &o, &err), 1);
    assert_int_equal(store_catalog_db_get(f->db, &src, 12, &o, &err), 1);
    assert_int_equal(store_catalog_part_get(f->db, &src, 1000, &o, &err), 0);
    json_decref(o);
    catalog_source_release(&src);
    assert_int_equal(store_catalog_source(f->db, 8, &src, &err), 0);
    assert_int_equal(store_catalog_part_get(f->db, &src, 1000, &o, &err), 1);
    assert_int_equal(store_catalog_table_get(f->db, &src, 103, &o, &err), 0);
    assert_true(json_is_null(json_object_get(o, "dstProjectName")));
    json_decref(o);
    catalog_source_release(&src);
}

/* ---- updates ---- */

static void test_updates(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    int64_t count = 0;

    assert_int_equal(store_catalog_table_update(f->db, 7, 100, NULL, NULL, NULL, "DONE", &err), 0);
    assert_int_equal(qi(f->db,
                        "SELECT COUNT(*) FROM part WHERE table_id = $1 AND"
                        " status = 'DONE' AND updated = 0",
                        100),
                     3);
    assert_string_equal(TBL_STATUS(f->db, 100), "DONE");
    assert_string_equal(DB_STATUS(f->db, 10), "PART_DONE");

    assert_int_equal(store_catalog_table_update(f->db, 7, 101, "tp", "ts", "tn", NULL, &err), 0);
    assert_string_equal(qs(f->db, "SELECT dst_name FROM tbl WHERE id = $1", 101), "tn");
    assert_int_equal(store_catalog_table_update(f->db, 7, 101, NULL, "", NULL, NULL, &err), 0);
    assert_string_equal(qs(f->db, "SELECT dst_schema_name FROM tbl WHERE id = $1", 101), "(null)");
    assert_string_equal(qs(f->db, "SELECT dst_project_name FROM tbl WHERE id = $1", 101), "tp");
    /* Another source's table, a missing table. */
    assert_int_equal(store_catalog_table_update(f->db, 8, 100, "x", NULL, NULL, NULL, &err), 1);
    assert_int_equal(store_catalog_table_update(f->db, 7, 999, "x", NULL, NULL, NULL, &err), 1);

    /* Db reset to INIT: everything below it. */
    assert_int_equal(store_catalog_db_update(f->db, 7, 10, "pp", "", "INIT", &err), 0);
    assert_string_equal(DB_STATUS(f->db, 10), "INIT");
    assert_int_equal(qi(f->db,
                        "SELECT COUNT(*) FROM part WHERE table_id = $1 AND"
                        " status = 'INIT'",
                        100),
                     3);
    assert_string_equal(qs(f->db, "SELECT dst_project_name FROM db WHERE id = $1", 10), "pp");
    assert_int_equal(store_catalog_db_update(f->db, 8, 10, "pp", NULL, NULL, &err), 1);

    /* Batch by names (in any db, or one db) and by ids (other sources skipped). */
    json_t *names = json_pack("[s, s, s]", "users", "staff", "ghost");
    assert_int_equal(
        store_catalog_tables_update(f->db, 7, NULL, names, NULL, "bp", NULL, "DONE", &count, &err),
        0);
    assert_int_equal(count, 2);
    assert_string_equal(TBL_STATUS(f->db, 102), "DONE");
    assert_string_equal(DB_STATUS(f->db, 11), "DONE");
    assert_string_equal(qs(f->db, "SELECT dst_project_name FROM tbl WHERE id = $1", 102), "bp");
    assert_int_equal(
        store_catalog_tables_update(f->db, 7, "hr", names, NULL, NULL, "s2", NULL, &count, &err),
        0);
    assert_int_equal(count, 1);
    json_decref(names);
    exec_ok(f->db, "UPDATE tbl SET status = 'DONE' WHERE id = 103;");
    json_t *ids = json_pack("[I, I, I]", (json_int_t)101, (json_int_t)103, (json_int_t)101);
    assert_int_equal(
        store_catalog_tables_update(f->db, 7, NULL, NULL, ids, NULL, NULL, "INIT", &count, &err),
        0);
    assert_int_equal(count, 1);
    assert_string_equal(TBL_STATUS(f->db, 101), "INIT");
    assert_string_equal(TBL_STATUS(f->db, 103), "DONE"); /* another source's: untouched */
    json_decref(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rollup_rule),
        cmocka_unit_test_setup_teardown(test_mark_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollup_ignores_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mark_task_table_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mark_task_partition_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mark_whole_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dst_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_upserts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_updates, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
