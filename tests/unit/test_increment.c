/* Incremental migration end to end, in process: a real store, a real SQLite source and
 * destination, and the engine's own workers doing everything (scan, TASK_CREATE, every task).
 * Proves the chain the increment flag relies on: a first job DONE marks the catalog DONE and
 * clears `updated`; a rescan flags exactly the tables whose data changed (and adds new ones);
 * a second job with increment = true gets tasks only for tables that are flagged updated or
 * not DONE, and moves the changed rows; a third with nothing changed has no task at all.
 * (The SQLite connector has no partitions; tests/unit/test_split.c covers the per-partition
 * selection, test_exec_increment, on catalog rows written directly.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "store/store.h"
#include "store/store_asynctask.h"
#include "store/store_scan.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 60000

struct fx {
    char dir[64];
    char src_path[128];
    char dst_dir[128];
    char dst_path[160];
    struct mms_config cfg;
    struct store *store;
    struct engine *eng;
    struct db *db;
    int64_t source_id;
};

static void must_exec_file(const char *path, const char *sql)
{
    sqlite3 *h = NULL;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 10000);
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(h);
}

static int64_t file_q1(const char *path, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* One integer from the store; sql's $1 is arg. */
static int64_t q1(struct fx *f, const char *sql, int64_t arg)
{
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(f->db, sql, &err);
    if (!st)
        fail_msg("%s: %s", sql, err.msg);
    db_bind_i64(st, 1, arg);
    int rc = db_step(st, &err);
    if (rc != DB_ROW)
        fail_msg("%s: no row (%s)", sql, err.msg);
    int64_t v = db_col_null(st, 0) ? -1 : db_col_i64(st, 0);
    db_done(st);
    return v;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls sql($1 = arg) until it returns want. */
static void wait_for(struct fx *f, const char *sql, int64_t arg, int64_t want)
{
    int64_t t0 = time_mono_ms(), v = -2;
    while (time_mono_ms() - t0 < WAIT_MS) {
        if ((v = q1(f, sql, arg)) == want)
            return;
        sleep_ms(20);
    }
    fail_msg("timed out: %s ($1 = %lld) is %lld, not %lld", sql, (long long)arg, (long long)v,
             (long long)want);
}

static void scan(struct fx *f)
{
    struct mms_err err = {0};
    int64_t id = 0;
    assert_int_equal(store_scan_create(f->db, f->source_id, NULL, NULL, &id, &err), 0);
    engine_wake(f->eng);
    wait_for(f, "SELECT status <> 'SCAN_DOING' FROM scan WHERE id = $1", id, 1);
    struct scan s = {0};
    assert_int_equal(store_scan_get(f->db, f->source_id, id, &s, &err), 0);
    if (strcmp(s.status, "SCAN_DONE") != 0)
        fail_msg("scan %s: %s", s.status, s.error_msg ? s.error_msg : "");
    scan_release(&s);
}

/* CreateMmsJob's async TASK_CREATE; returns the job id once its tasks exist. */
static int64_t start_job(struct fx *f, const char *body)
{
    struct mms_err err = {0};
    int64_t aid = 0;
    json_t *params = json_loads(body, 0, NULL);
    assert_non_null(params);
    assert_int_equal(store_async_create(f->db, f->source_id, "TASK_CREATE", 0, params, &aid, &err),
                     0);
    json_decref(params);
    engine_wake(f->eng);
    wait_for(f, "SELECT status IN ('DONE', 'FAILED') FROM async_task WHERE id = $1", aid, 1);
    struct async_task t = {0};
    assert_int_equal(store_async_get(f->db, f->source_id, aid, &t, &err), 0);
    if (strcmp(t.status, "DONE") != 0)
        fail_msg("TASK_CREATE %s: %s", t.status, t.error_msg ? t.error_msg : "");
    async_task_release(&t);
    int64_t job = q1(f, "SELECT object_id FROM async_task WHERE id = $1", aid);
    assert_true(job > 0);
    return job;
}

/* start_job, then every task run by the engine; returns the job id. */
static int64_t run_job(struct fx *f, const char *body)
{
    int64_t job = start_job(f, body);
    wait_for(f, "SELECT status IN ('DONE', 'FAILED') FROM job WHERE id = $1", job, 1);
    assert_int_equal(q1(f, "SELECT status = 'DONE' FROM job WHERE id = $1", job), 1);
    return job;
}

/* The tables a job has tasks for, as a bit set: a = 1, b = 2, c = 4, d = 8. */
static int64_t job_tables(struct fx *f, int64_t job)
{
    return q1(f,
              "SELECT COALESCE(SUM(CASE src_table_name WHEN 'a' THEN 1 WHEN 'b' THEN 2"
              " WHEN 'c' THEN 4 WHEN 'd' THEN 8 ELSE 1024 END), 0) FROM task WHERE job_id = $1",
              job);
}

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof *f);
    struct mms_err err = {0};
    snprintf(f->dir, sizeof f->dir, "/tmp/mms-incr-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->src_path, sizeof f->src_path, "%s/source.db", f->dir);
    snprintf(f->dst_dir, sizeof f->dst_dir, "%s/dst", f->dir);
    snprintf(f->dst_path, sizeof f->dst_path, "%s/proj.db", f->dst_dir);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", f->dst_dir);
    assert_int_equal(system(cmd), 0);
    f->cfg.workers = 2;
    f->cfg.control_workers = 1;
    f->cfg.lease_seconds = 30;
    f->cfg.poll_ms = 20;
    f->cfg.batch_rows = 1000;
    f->cfg.batch_bytes = 1 << 20;
    f->cfg.split_partitions = 50;
    f->cfg.split_bytes = (int64_t)5 << 30;

    must_exec_file(f->src_path,
                   "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);"
                   "CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT);"
                   "CREATE TABLE c (id INTEGER PRIMARY KEY, v TEXT);"
                   "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 3000)"
                   " INSERT INTO a SELECT i, 'a' || i FROM g;"
                   "INSERT INTO b SELECT id, 'b' || id FROM a WHERE id <= 2000;"
                   "INSERT INTO c SELECT id, 'c' || id FROM a WHERE id <= 1000;");

    char path[128];
    snprintf(path, sizeof path, "%s/mms.db", f->dir);
    assert_int_equal(store_open(&f->store, path, 2, &err), 0);
    assert_int_equal(store_connect(f->store, &f->db, &err), 0);
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"sqlite.path\": \"%s\", \"dst.url\": \"sqlite://%s\", \"dst.project\": \"proj\"}",
             f->src_path, f->dst_dir);
    static const char ds_sql[] = "INSERT INTO datasource (name, type, status, config,"
                                 " create_time) VALUES ($1, 'SQLITE', 'STARTED', $2, 0)"
                                 " RETURNING id";
    struct db_stmt *st = db_prepare(f->db, ds_sql, &err);
    assert_non_null(st);
    db_bind_text(st, 1, "src");
    db_bind_text(st, 2, cfg);
    assert_int_equal(db_step(st, &err), DB_ROW);
    f->source_id = db_col_i64(st, 0);
    db_done(st);
    assert_int_equal(engine_start(&f->eng, f->store, &f->cfg, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    engine_stop(f->eng);
    db_close(f->db);
    store_close(f->store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f);
    return 0;
}

static const char tbl_sql[] = "SELECT %s FROM tbl WHERE source_id = $1 AND name = '%s'";

static int64_t tbl_col(struct fx *f, const char *col, const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql, tbl_sql, col, name);
    /* Not a cached statement text: prepare directly (db caches by pointer, so use a copy that
     * lives as long as the test; these few strings are interned below). */
    static char pool[64][256];
    static int used;
    for (int i = 0; i < used; i++)
        if (strcmp(pool[i], sql) == 0)
            return q1(f, pool[i], f->source_id);
    assert_true(used < 64);
    snprintf(pool[used], sizeof pool[used], "%s", sql);
    return q1(f, pool[used++], f->source_id);
}

static void test_increment_moves_only_changed(void **state)
{
    struct fx *f = *state;
    const char *all[] = {"a", "b", "c"};

    /* First scan and full job: every table DONE, nothing flagged. */
    scan(f);
    int64_t j1 = run_job(f, "{\"name\":\"full\",\"srcDbName\":\"main\"}");
    assert_int_equal(job_tables(f, j1), 1 | 2 | 4);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(tbl_col(f, "status = 'DONE'", all[i]), 1);
        assert_int_equal(tbl_col(f, "updated", all[i]), 0);
    }
    assert_int_equal(file_q1(f->dst_path, "SELECT COUNT(*) FROM \"main\".b"), 2000);

    /* Change b (rows added), add table d; a and c untouched. The SQLite connector reports the
     * file's mtime (seconds) as every table's last_modified, so any write to the file flags
     * every table (phase 2 below); to see the per-table signal (row count, size) the file's
     * mtime is put back here. */
    struct stat before;
    assert_int_equal(stat(f->src_path, &before), 0);
    must_exec_file(f->src_path, "INSERT INTO b SELECT id, 'new' || id FROM a WHERE id > 2000;"
                                "CREATE TABLE d (id INTEGER PRIMARY KEY);"
                                "INSERT INTO d VALUES (1), (2), (3);");
    struct timespec times[2] = {before.st_atim, before.st_mtim};
    assert_int_equal(utimensat(AT_FDCWD, f->src_path, times, 0), 0);
    scan(f);
    assert_int_equal(tbl_col(f, "updated", "a"), 0);
    assert_int_equal(tbl_col(f, "updated", "b"), 1);
    assert_int_equal(tbl_col(f, "updated", "c"), 0);
    assert_int_equal(tbl_col(f, "status = 'INIT'", "d"), 1);

    /* Increment: b (updated) and d (not DONE) only. */
    int64_t j2 = run_job(f, "{\"name\":\"inc\",\"srcDbName\":\"main\",\"increment\":true}");
    assert_int_equal(job_tables(f, j2), 2 | 8);
    assert_int_equal(file_q1(f->dst_path, "SELECT COUNT(*) FROM \"main\".b"), 3000);
    assert_int_equal(file_q1(f->dst_path, "SELECT COUNT(*) FROM \"main\".b WHERE v LIKE 'new%'"),
                     1000);
    assert_int_equal(file_q1(f->dst_path, "SELECT COUNT(*) FROM \"main\".d"), 3);
    const char *all4[] = {"a", "b", "c", "d"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(tbl_col(f, "status = 'DONE'", all4[i]), 1);
        assert_int_equal(tbl_col(f, "updated", all4[i]), 0);
    }

    /* Nothing changed: a rescan flags nothing, the increment job has no task and is DONE. */
    scan(f);
    int64_t j3 = run_job(f, "{\"name\":\"nothing\",\"srcDbName\":\"main\",\"increment\":true}");
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1", j3), 0);

    /* A table whose last task FAILED goes again even when unchanged. */
    static const char fail_c[] = "UPDATE tbl SET status = 'FAILED' WHERE source_id = $1"
                                 " AND name = 'c' RETURNING 1";
    assert_int_equal(q1(f, fail_c, f->source_id), 1);
    int64_t j4 = run_job(f, "{\"name\":\"failed\",\"srcDbName\":\"main\",\"increment\":true}");
    assert_int_equal(job_tables(f, j4), 4);
    assert_int_equal(tbl_col(f, "status = 'DONE'", "c"), 1);

    /* Phase 2: an update in place in c (same row count and size) with the file's mtime moved
     * on, as any real write does: the connector's file-level mtime flags every table, and the
     * increment job takes exactly the flagged ones (all four): conservative, nothing missed. */
    must_exec_file(f->src_path, "UPDATE c SET v = 'C' || substr(v, 2) WHERE id = 7;");
    struct timespec later[2] = {{.tv_nsec = UTIME_NOW}, {.tv_sec = time(NULL) + 5}};
    assert_int_equal(utimensat(AT_FDCWD, f->src_path, later, 0), 0);
    scan(f);
    int64_t flagged = q1(f,
                         "SELECT SUM(CASE name WHEN 'a' THEN 1 WHEN 'b' THEN 2 WHEN 'c' THEN 4"
                         " WHEN 'd' THEN 8 END) FROM tbl WHERE source_id = $1 AND updated = 1",
                         f->source_id);
    assert_int_equal(flagged, 1 | 2 | 4 | 8);
    int64_t j5 = run_job(f, "{\"name\":\"all\",\"srcDbName\":\"main\",\"increment\":true}");
    assert_int_equal(job_tables(f, j5), flagged);
    assert_int_equal(file_q1(f->dst_path, "SELECT COUNT(*) FROM \"main\".c WHERE v = 'C7'"), 1);
}

/* The increment flag race: a rescan flags table a `updated` while the task copying it is in
 * its DATA stage (after the copy started reading, from a snapshot that predates the change).
 * That task's DONE must leave the flag set, so that the next increment job moves a again and
 * the change reaches the destination. */
static void test_increment_flag_race(void **state)
{
    struct fx *f = *state;
    /* WAL: the change below commits while the copy's read is open, which keeps reading the
     * rows as they were when it started. */
    must_exec_file(f->src_path, "PRAGMA journal_mode = WAL;");
    scan(f);

    /* 3000 rows at 500 rows/s: about 6 s in DATA. */
    int64_t j1 = start_job(f, "{\"name\":\"slow\",\"srcDbName\":\"main\",\"tables\":[\"a\"],"
                              "\"others\":{\"rowsPerSecond\":500}}");
    int64_t task = q1(f, "SELECT MIN(id) FROM task WHERE job_id = $1", j1);
    wait_for(f, "SELECT status = 'DATA_DOING' AND rows_done > 0 FROM task WHERE id = $1", task, 1);

    /* The source changes in place and a rescan flags a while the copy runs. */
    must_exec_file(f->src_path, "UPDATE a SET v = 'changed' WHERE id = 2999;");
    struct timespec later[2] = {{.tv_nsec = UTIME_NOW}, {.tv_sec = time(NULL) + 5}};
    assert_int_equal(utimensat(AT_FDCWD, f->src_path, later, 0), 0);
    scan(f);
    assert_int_equal(tbl_col(f, "updated", "a"), 1);
    /* Still copying: the rescan really happened during the task. */
    assert_int_equal(q1(f, "SELECT status = 'DATA_DOING' FROM task WHERE id = $1", task), 1);

    wait_for(f, "SELECT status IN ('DONE', 'FAILED') FROM job WHERE id = $1", j1, 1);
    assert_int_equal(q1(f, "SELECT status = 'DONE' FROM job WHERE id = $1", j1), 1);
    assert_int_equal(tbl_col(f, "status = 'DONE'", "a"), 1);
    assert_int_equal(tbl_col(f, "updated", "a"), 1); /* the change is not taken as migrated */
    /* (It was not migrated: the copy read the rows as they were before it.) */
    assert_int_equal(file_q1(f->dst_path, "SELECT COUNT(*) FROM \"main\".a WHERE v = 'changed'"),
                     0);

    /* The next increment job moves a again, and the change arrives. */
    int64_t j2 = run_job(f, "{\"name\":\"inc\",\"srcDbName\":\"main\",\"tables\":[\"a\"],"
                            "\"increment\":true}");
    assert_int_equal(job_tables(f, j2), 1);
    assert_int_equal(file_q1(f->dst_path, "SELECT COUNT(*) FROM \"main\".a WHERE v = 'changed'"),
                     1);
    assert_int_equal(tbl_col(f, "updated", "a"), 0);
    /* In sync now: nothing more to move. */
    scan(f);
    int64_t j3 = run_job(f, "{\"name\":\"none\",\"srcDbName\":\"main\",\"tables\":[\"a\"],"
                            "\"increment\":true}");
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1", j3), 0);
}

int main(void)
{
    log_set_level("warn");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_increment_moves_only_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_increment_flag_race, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
