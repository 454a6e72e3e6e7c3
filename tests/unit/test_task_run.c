/* The migration task runner (engine/task_run.c), in process, against real SQLite files:
 * a store in a temp directory, a source database file, a destination directory. Each test
 * inserts datasource/db/tbl/job/task rows, claims the task itself (as a worker would), calls
 * exec_task and checks the task row, its logs and the destination file.
 *
 * An engine is started only so that work_heartbeat has one to ask; its workers never claim the
 * tests' tasks, which are inserted with queued = 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "store/store.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A table name and column names with spaces, quotes, dots and non-ASCII letters. */
#define TABLE "we\"ird tab.le \xc3\xbc"
#define TABLE_Q "\"we\"\"ird tab.le \xc3\xbc\""

struct fx {
    char dir[64];
    char src_path[128];
    char dst_dir[128];
    char dst_path[160];
    struct mms_config cfg;     /* the engine's (its workers read it: never changed) */
    struct mms_config run_cfg; /* what the tests' works see */
    struct store *store;
    struct engine *eng;
    struct db *db; /* the test's own store connection (the "worker" connection) */
    int64_t source_id, db_id, table_id;
};

static void must_exec(sqlite3 *h, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

static sqlite3 *open_file(const char *path)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 10000);
    return h;
}

/* The source: TABLE with every kind of value in its first rows, then n generated rows. */
static void make_source(struct fx *f, int64_t n)
{
    sqlite3 *h = open_file(f->src_path);
    char sql[1024];
    must_exec(h, "DROP TABLE IF EXISTS " TABLE_Q ";"
                 "CREATE TABLE " TABLE_Q " (id INTEGER PRIMARY KEY, \"na me\" TEXT,"
                 " \"d.o\"\"t\" REAL, b BLOB, \"any\", \"\xc3\xa9t\xc3\xa9\" VARCHAR(20));");
    must_exec(h, "INSERT INTO " TABLE_Q " VALUES"
                 " (1, NULL, NULL, NULL, NULL, NULL),"
                 " (2, '', 0.1, x'', '', ''),"
                 " (3, 'quote '' \" and\nnewline', -0.0, x'00ff00', 9223372036854775807, 'x'),"
                 " (4, '\xe6\x97\xa5\xe6\x9c\xac', 1e308, x'0000', -9223372036854775808, 'y'),"
                 " (5, 'tab\there', 4.9e-324, x'01', 3.141592653589793, 'z'),"
                 " (6, '12', 2.5, x'7f', x'00aa', '007');");
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE g(i) AS (SELECT 7 UNION ALL SELECT i + 1 FROM g WHERE i < %lld)"
             " INSERT INTO " TABLE_Q " SELECT i, 'row ' || i, i * 0.25, randomblob(i %% 17),"
             " CASE i %% 3 WHEN 0 THEN i WHEN 1 THEN 'text' || i ELSE NULL END,"
             " substr('abcdefghij', 1 + i %% 10) FROM g",
             (long long)(n + 6));
    must_exec(h, sql);
    sqlite3_close(h);
}

static int64_t insert_id(struct fx *f, const char *sql, const char *a, const char *b)
{
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(f->db, sql, &err);
    assert_non_null(st);
    db_bind_i64(st, 1, f->source_id);
    db_bind_text(st, 2, a);
    db_bind_text(st, 3, b);
    assert_int_equal(db_step(st, &err), DB_ROW);
    int64_t id = db_col_i64(st, 0);
    db_done(st);
    return id;
}

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof *f);
    struct mms_err err = {0};
    snprintf(f->dir, sizeof f->dir, "/tmp/mms-taskrun-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->src_path, sizeof f->src_path, "%s/source.db", f->dir);
    snprintf(f->dst_dir, sizeof f->dst_dir, "%s/dst", f->dir);
    snprintf(f->dst_path, sizeof f->dst_path, "%s/proj.db", f->dst_dir);
    f->cfg.workers = 1;
    f->cfg.control_workers = 1;
    f->cfg.lease_seconds = 30;
    f->cfg.poll_ms = 200;
    f->cfg.batch_rows = 700;
    f->cfg.batch_bytes = 1 << 20;
    f->run_cfg = f->cfg;

    char path[128];
    snprintf(path, sizeof path, "%s/mms.db", f->dir);
    assert_int_equal(store_open(&f->store, path, 2, &err), 0);
    assert_int_equal(store_connect(f->store, &f->db, &err), 0);
    assert_int_equal(engine_start(&f->eng, f->store, &f->cfg, &err), 0);

    /* Data source, its db and table. */
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"sqlite.path\": \"%s\", \"dst.url\": \"sqlite://%s\", \"dst.project\": \"proj\"}",
             f->src_path, f->dst_dir);
    static const char ds_sql[] = "INSERT INTO datasource (name, type, config, create_time)"
                                 " VALUES ($1, 'SQLITE', $2, 0) RETURNING id";
    struct db_stmt *st = db_prepare(f->db, ds_sql, &err);
    db_bind_text(st, 1, "src");
    db_bind_text(st, 2, cfg);
    assert_int_equal(db_step(st, &err), DB_ROW);
    f->source_id = db_col_i64(st, 0);
    db_done(st);
    static const char db_sql[] = "INSERT INTO db (source_id, name, description, create_time)"
                                 " VALUES ($1, $2, $3, 0) RETURNING id";
    f->db_id = insert_id(f, db_sql, "main", NULL);
    static const char tbl_sql[] = "INSERT INTO tbl (source_id, db_id, name, type, create_time)"
                                  " VALUES ($1, $2, $3, 'TABLE', 0) RETURNING id";
    st = db_prepare(f->db, tbl_sql, &err);
    db_bind_i64(st, 1, f->source_id);
    db_bind_i64(st, 2, f->db_id);
    db_bind_text(st, 3, TABLE);
    assert_int_equal(db_step(st, &err), DB_ROW);
    f->table_id = db_col_i64(st, 0);
    db_done(st);

    make_source(f, 20000);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    engine_stop(f->eng);
    db_close(f->db);
    store_close(f->store);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f);
    return 0;
}

/* A job with this config and one task on TABLE starting in `status`; queued = 0 so that the
 * engine's own workers leave it alone. */
static int64_t make_task(struct fx *f, const char *job_config, const char *status)
{
    struct mms_err err = {0};
    static const char job_sql[] = "INSERT INTO job (source_id, name, type, config, create_time)"
                                  " VALUES ($1, $2, 'Tables', $3, 0) RETURNING id";
    int64_t job_id = insert_id(f, job_sql, "job", job_config);
    static const char task_sql[] =
        "INSERT INTO task (job_id, source_id, db_id, table_id, src_db_name, src_table_name,"
        " dst_db_name, dst_schema_name, dst_table_name, type, status, queued, create_time)"
        " VALUES ($1, $2, $3, $4, 'main', $5, 'proj', 'main', $5, 'SQLITE', $6, 0, 0)"
        " RETURNING id";
    struct db_stmt *st = db_prepare(f->db, task_sql, &err);
    db_bind_i64(st, 1, job_id);
    db_bind_i64(st, 2, f->source_id);
    db_bind_i64(st, 3, f->db_id);
    db_bind_i64(st, 4, f->table_id);
    db_bind_text(st, 5, TABLE);
    db_bind_text(st, 6, status);
    assert_int_equal(db_step(st, &err), DB_ROW);
    int64_t id = db_col_i64(st, 0);
    db_done(st);
    return id;
}

/* Claims the task the way the engine does and fills a work for it. */
static void claim(struct fx *f, int64_t id, struct work *w)
{
    static const char sql[] = "UPDATE task SET lease_owner = 'test', lease_until = $1,"
                              " attempt = attempt + 1 WHERE id = $2 RETURNING attempt";
    struct mms_err err = {0};
    int64_t now = time_now_ms();
    struct db_stmt *st = db_prepare(f->db, sql, &err);
    db_bind_i64(st, 1, now + f->run_cfg.lease_seconds * 1000);
    db_bind_i64(st, 2, id);
    assert_int_equal(db_step(st, &err), DB_ROW);
    memset(w, 0, sizeof *w);
    w->eng = f->eng;
    w->db = f->db;
    w->cfg = &f->run_cfg;
    w->owner = "test";
    w->kind = WORK_TASK;
    w->id = id;
    w->attempt = db_col_i64(st, 0);
    w->lease_until_ms = now + f->run_cfg.lease_seconds * 1000;
    w->last_beat_ms = now;
    db_done(st);
}

static void run_task(struct fx *f, int64_t id)
{
    struct work w;
    claim(f, id, &w);
    exec_task(&w);
}

struct task_row {
    char status[32];
    int64_t queued, rows_done, end_time, attempt;
    bool lease_null;
    char error_msg[512];
};

static void get_task(struct fx *f, int64_t id, struct task_row *t)
{
    static const char sql[] = "SELECT status, queued, rows_done, COALESCE(end_time, 0),"
                              " lease_owner IS NULL AND lease_until IS NULL,"
                              " COALESCE(error_msg, ''), attempt FROM task WHERE id = $1";
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(f->db, sql, &err);
    db_bind_i64(st, 1, id);
    assert_int_equal(db_step(st, &err), DB_ROW);
    snprintf(t->status, sizeof t->status, "%s", db_col_text(st, 0));
    t->queued = db_col_i64(st, 1);
    t->rows_done = db_col_i64(st, 2);
    t->end_time = db_col_i64(st, 3);
    t->lease_null = db_col_i64(st, 4) != 0;
    snprintf(t->error_msg, sizeof t->error_msg, "%s", db_col_text(st, 5));
    t->attempt = db_col_i64(st, 6);
    db_done(st);
}

/* The table's catalog status and the status of the task's job. */
static void get_rollups(struct fx *f, int64_t task_id, char tbl[16], char job[16])
{
    static const char sql[] = "SELECT (SELECT status FROM tbl WHERE id = t.table_id),"
                              " (SELECT status FROM job WHERE id = t.job_id)"
                              " FROM task t WHERE t.id = $1";
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(f->db, sql, &err);
    db_bind_i64(st, 1, task_id);
    assert_int_equal(db_step(st, &err), DB_ROW);
    snprintf(tbl, 16, "%s", db_col_text(st, 0));
    snprintf(job, 16, "%s", db_col_text(st, 1));
    db_done(st);
}

/* All logs of a task as "STATUS | action | msg\n" lines. Caller frees. */
static char *get_logs(struct fx *f, int64_t id, int *count)
{
    static const char sql[] = "SELECT status, COALESCE(action, ''), COALESCE(msg, '')"
                              " FROM task_log WHERE task_id = $1 ORDER BY id";
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(f->db, sql, &err);
    size_t cap = 1 << 16, len = 0;
    char *out = xcalloc(1, cap);
    *count = 0;
    db_bind_i64(st, 1, id);
    while (db_step(st, &err) == DB_ROW) {
        int n = snprintf(out + len, cap - len, "%s | %s | %s\n", db_col_text(st, 0),
                         db_col_text(st, 1), db_col_text(st, 2));
        if (n > 0 && (size_t)n < cap - len)
            len += (size_t)n;
        (*count)++;
    }
    db_done(st);
    if (getenv("TEST_VERBOSE"))
        fprintf(stderr, "task %lld logs:\n%s", (long long)id, out);
    return out;
}

static int64_t query_i64(const char *path, const char *sql)
{
    sqlite3 *h = open_file(path);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* The destination table equals the source, value by value and storage class by storage class,
 * read independently of the connector. dst_name2: the name of the second column at the
 * destination. */
static void assert_same(struct fx *f, const char *dst_name2)
{
    char sql[2048];
    int64_t n_src, n_dst;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM " TABLE_Q);
    n_src = query_i64(f->src_path, sql);
    n_dst = query_i64(f->dst_path, sql);
    assert_int_equal(n_src, n_dst);
    snprintf(
        sql, sizeof sql,
        "ATTACH '%s' AS s; SELECT count(*) FROM s." TABLE_Q " a JOIN main." TABLE_Q " b"
        " ON a.id = b.id WHERE a.\"na me\" IS b.\"%s\" AND typeof(a.\"na me\") = typeof(b.\"%s\")"
        " AND a.\"d.o\"\"t\" IS b.\"d.o\"\"t\" AND typeof(a.\"d.o\"\"t\") = typeof(b.\"d.o\"\"t\")"
        " AND a.b IS b.b AND typeof(a.b) = typeof(b.b)"
        " AND a.\"any\" IS b.\"any\" AND typeof(a.\"any\") = typeof(b.\"any\")"
        " AND a.\"\xc3\xa9t\xc3\xa9\" IS b.\"\xc3\xa9t\xc3\xa9\""
        " AND typeof(a.\"\xc3\xa9t\xc3\xa9\") = typeof(b.\"\xc3\xa9t\xc3\xa9\")",
        f->src_path, dst_name2, dst_name2);
    /* ATTACH and the query are two statements: run them on one handle. */
    sqlite3 *h = open_file(f->dst_path);
    char *semi = strchr(sql, ';');
    *semi = '\0';
    must_exec(h, sql);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, semi + 1, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s", sqlite3_errmsg(h));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), n_src);
    sqlite3_finalize(st);
    sqlite3_close(h);
    /* No staging table left behind. */
    assert_int_equal(query_i64(f->dst_path, "SELECT count(*) FROM sqlite_master"
                                            " WHERE name LIKE '\\_\\_mms\\_stage%' ESCAPE '\\'"),
                     0);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_copy_count_verification(void **state)
{
    struct fx *f = *state;
    int64_t id = make_task(f, "{}", "INIT");
    struct task_row t;
    int n;

    run_task(f, id);
    get_task(f, id, &t);
    char *logs = get_logs(f, id, &n);
    if (strcmp(t.status, "DONE") != 0)
        fail_msg("status %s (%s)\n%s", t.status, t.error_msg, logs);
    assert_int_equal(t.queued, 0);
    assert_true(t.lease_null);
    assert_int_equal(t.rows_done, 20006);
    assert_true(t.end_time > 0);
    assert_string_equal(t.error_msg, "");
    /* Every step logged, in order. */
    const char *want[] = {
        "SCHEMA_DOING | start schema migration",
        "SCHEMA_DONE | CREATE TABLE",
        "DATA_DOING | start data migration",
        "DATA_DOING | copy main.\"we\"\"ird tab.le \xc3\xbc\" -> proj.main.\"we\"\"ird tab.le "
        "\xc3\xbc\"; source: SELECT \"id\",\"na me\"",
        "; destination: INSERT INTO \"main\".\"__mms_stage_we\"\"ird tab.le \xc3\xbc\" VALUES",
        "RENAME TO " TABLE_Q " | 20006 rows",
        "DATA_DONE | copy",
        "VERIFICATION_DOING | start verification | row counts",
        "VERIFICATION_DOING | SELECT COUNT(*) FROM \"main\"." TABLE_Q "; SELECT COUNT(*)",
        "VERIFICATION_DONE | verify | ok",
        "DONE | finish task | ok",
    };
    const char *p = logs;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const char *hit = strstr(p, want[i]);
        if (!hit)
            fail_msg("log line %zu \"%s\" missing in:\n%s", i, want[i], logs);
        p = hit + 1;
    }
    assert_non_null(strstr(logs, "source 20006 rows, destination 20006 rows"));
    assert_int_equal(n, 9);
    free(logs);
    assert_same(f, "na me");
    char tbl[16], job[16];
    get_rollups(f, id, tbl, job);
    assert_string_equal(tbl, "DONE");
    assert_string_equal(job, "DONE");

    /* Running it again (e.g. a retry from the start) replaces the table: no doubled rows. */
    static const char reset[] = "UPDATE task SET status = 'INIT' WHERE id = $1";
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(f->db, reset, &err);
    db_bind_i64(st, 1, id);
    assert_int_equal(db_step(st, &err), DB_DONE);
    db_done(st);
    run_task(f, id);
    get_task(f, id, &t);
    assert_string_equal(t.status, "DONE");
    assert_same(f, "na me");
}

static void test_checksum_and_column_mapping(void **state)
{
    struct fx *f = *state;
    int64_t id = make_task(f,
                           "{\"columnMapping\": {\"na me\": \"new \\\"name\\\"\"},"
                           " \"others\": {\"verify\": \"checksum\"}}",
                           "INIT");
    struct task_row t;
    int n;

    run_task(f, id);
    get_task(f, id, &t);
    char *logs = get_logs(f, id, &n);
    if (strcmp(t.status, "DONE") != 0)
        fail_msg("status %s (%s)\n%s", t.status, t.error_msg, logs);
    /* Both digests in the log, and they are equal. */
    const char *hit = strstr(logs, "| source rows=20006 sum=");
    if (!hit)
        fail_msg("no checksum line in:\n%s", logs);
    char src_sum[33] = "", dst_sum[33] = "";
    assert_int_equal(sscanf(hit,
                            "| source rows=20006 sum=%32[0-9a-f], destination rows=20006"
                            " sum=%32[0-9a-f]",
                            src_sum, dst_sum),
                     2);
    assert_string_equal(src_sum, dst_sum);
    assert_non_null(strstr(logs, "checksum of every row"));
    free(logs);
    assert_same(f, "new \"\"name\"\"");
}

/* columnMapping is job-wide: a key that is not a column of this table is not applied to it,
 * and the keys that are columns are. */
static void test_column_mapping_unknown_column(void **state)
{
    struct fx *f = *state;
    int64_t id = make_task(f, "{\"columnMapping\": {\"na me\": \"x\", \"nope\": \"y\"}}", "INIT");
    struct task_row t;

    run_task(f, id);
    get_task(f, id, &t);
    assert_string_equal(t.status, "DONE");
    assert_true(t.lease_null);
    assert_int_equal(query_i64(f->dst_path, "SELECT count(*) FROM pragma_table_info('we\"ird "
                                            "tab.le \xc3\xbc') WHERE name = 'x'"),
                     1);
    assert_int_equal(query_i64(f->dst_path, "SELECT count(*) FROM pragma_table_info('we\"ird "
                                            "tab.le \xc3\xbc') WHERE name IN ('y', 'na me')"),
                     0);
}

static void test_bad_destination(void **state)
{
    struct fx *f = *state;
    /* A destination directory that cannot be created. */
    static const char sql[] = "UPDATE datasource SET config = json_set(config, '$.\"dst.url\"',"
                              " 'sqlite:///dev/null/nowhere') WHERE id = $1";
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(f->db, sql, &err);
    db_bind_i64(st, 1, f->source_id);
    assert_int_equal(db_step(st, &err), DB_DONE);
    db_done(st);
    int64_t id = make_task(f, "{}", "INIT");
    struct task_row t;
    run_task(f, id);
    get_task(f, id, &t);
    assert_string_equal(t.status, "SCHEMA_FAILED");
    assert_non_null(strstr(t.error_msg, "/dev/null"));
    assert_true(t.lease_null);
    assert_int_equal(t.queued, 0);
}

static void test_bad_verify_mode_fails_before_copying(void **state)
{
    struct fx *f = *state;
    int64_t id = make_task(f, "{\"others\": {\"verify\": \"sha1\"}}", "INIT");
    struct task_row t;
    int n;
    run_task(f, id);
    get_task(f, id, &t);
    assert_string_equal(t.status, "SCHEMA_FAILED");
    assert_non_null(strstr(t.error_msg, "others.verify must be \"count\" or \"checksum\""));
    char *logs = get_logs(f, id, &n);
    assert_int_equal(n, 1);
    free(logs);
    assert_int_equal(access(f->dst_path, F_OK), -1);
}

/* A crash during DATA: the task is claimed again in DATA_DOING; the destination holds an old
 * copy and a half-written staging table. The stage is redone from its start. */
static void test_resume_data_after_crash(void **state)
{
    struct fx *f = *state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", f->dst_dir);
    assert_int_equal(system(cmd), 0);
    sqlite3 *h = open_file(f->dst_path);
    must_exec(h, "CREATE TABLE " TABLE_Q " (id INTEGER PRIMARY KEY, \"na me\" TEXT,"
                 " \"d.o\"\"t\" REAL, b BLOB, \"any\", \"\xc3\xa9t\xc3\xa9\" VARCHAR(20));"
                 "INSERT INTO " TABLE_Q " (id) VALUES (-1), (-2);"
                 "CREATE TABLE \"__mms_stage_we\"\"ird tab.le \xc3\xbc\" (x);"
                 "INSERT INTO \"__mms_stage_we\"\"ird tab.le \xc3\xbc\" VALUES (1), (2), (3);");
    sqlite3_close(h);

    int64_t id = make_task(f, "{}", "DATA_DOING");
    struct task_row t;
    int n;
    run_task(f, id);
    get_task(f, id, &t);
    char *logs = get_logs(f, id, &n);
    if (strcmp(t.status, "DONE") != 0)
        fail_msg("status %s (%s)\n%s", t.status, t.error_msg, logs);
    assert_null(strstr(logs, "SCHEMA_")); /* the schema stage was done before the crash */
    assert_non_null(strstr(logs, "DATA_DOING | start data migration"));
    free(logs);
    assert_same(f, "na me");
}

static void test_verification_mismatch(void **state)
{
    struct fx *f = *state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", f->dst_dir);
    assert_int_equal(system(cmd), 0);
    sqlite3 *h = open_file(f->dst_path);
    must_exec(h, "CREATE TABLE " TABLE_Q " (id INTEGER PRIMARY KEY, \"na me\" TEXT,"
                 " \"d.o\"\"t\" REAL, b BLOB, \"any\", \"\xc3\xa9t\xc3\xa9\" VARCHAR(20));"
                 "INSERT INTO " TABLE_Q " (id) VALUES (1), (2), (3);");
    sqlite3_close(h);

    int64_t id = make_task(f, "{\"enableDataMigration\": false}", "INIT");
    struct task_row t;
    int n;
    run_task(f, id);
    get_task(f, id, &t);
    assert_string_equal(t.status, "VERIFICATION_FAILED");
    assert_non_null(strstr(t.error_msg, "source 20006 rows, destination 3 rows"));
    assert_true(t.lease_null);
    assert_int_equal(t.queued, 0);
    char *logs = get_logs(f, id, &n);
    assert_non_null(strstr(logs, "DATA_DONE | copy rows | skipped (enableDataMigration is false)"));
    assert_non_null(strstr(logs, "VERIFICATION_FAILED | SELECT COUNT(*)"));
    free(logs);
    char tbl[16], job[16];
    get_rollups(f, id, tbl, job);
    assert_string_equal(tbl, "FAILED");
    assert_string_equal(job, "FAILED");
}

static void test_all_stages_disabled(void **state)
{
    struct fx *f = *state;
    int64_t id = make_task(f,
                           "{\"enableSchemaMigration\": false, \"enableDataMigration\": false,"
                           " \"enableVerification\": false}",
                           "INIT");
    struct task_row t;
    int n;
    run_task(f, id);
    get_task(f, id, &t);
    assert_string_equal(t.status, "DONE");
    char *logs = get_logs(f, id, &n);
    assert_non_null(strstr(logs, "skipped (enableSchemaMigration is false)"));
    assert_non_null(strstr(logs, "skipped (enableDataMigration is false)"));
    assert_non_null(strstr(logs, "skipped (enableVerification is false)"));
    free(logs);
    assert_int_equal(access(f->dst_path, F_OK), -1);
}

/* The destination refuses a row in the middle of the copy (its table, kept by the swap, says
 * NOT NULL): DATA_FAILED, the old copy untouched, no staging left; once the destination is
 * fixed, a retry (DATA_FAILED -> SCHEMA_DONE) finishes. */
static void test_data_failure_then_retry(void **state)
{
    struct fx *f = *state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", f->dst_dir);
    assert_int_equal(system(cmd), 0);
    sqlite3 *h = open_file(f->dst_path);
    must_exec(h, "CREATE TABLE " TABLE_Q " (id INTEGER PRIMARY KEY, \"na me\" TEXT NOT NULL,"
                 " \"d.o\"\"t\" REAL, b BLOB, \"any\", \"\xc3\xa9t\xc3\xa9\" VARCHAR(20));"
                 "INSERT INTO " TABLE_Q " (id, \"na me\") VALUES (-1, 'old'), (-2, 'old');");
    sqlite3_close(h);
    /* The NULL comes late, while the reader thread is already ahead. */
    h = open_file(f->src_path);
    must_exec(h, "UPDATE " TABLE_Q " SET \"na me\" = 'one' WHERE id = 1;"
                 "UPDATE " TABLE_Q " SET \"na me\" = NULL WHERE id = 15000;");
    sqlite3_close(h);

    int64_t id = make_task(f, "{}", "INIT");
    struct task_row t;
    int n;
    run_task(f, id);
    get_task(f, id, &t);
    char *logs = get_logs(f, id, &n);
    if (strcmp(t.status, "DATA_FAILED") != 0)
        fail_msg("status %s (%s)\n%s", t.status, t.error_msg, logs);
    assert_non_null(strstr(t.error_msg, "NOT NULL"));
    assert_non_null(strstr(logs, "DATA_FAILED | copy main."));
    free(logs);
    assert_true(t.lease_null);
    assert_int_equal(t.queued, 0);
    char tbl[16], job[16];
    get_rollups(f, id, tbl, job);
    assert_string_equal(tbl, "FAILED");
    assert_string_equal(job, "FAILED");
    assert_int_equal(query_i64(f->dst_path, "SELECT count(*) FROM " TABLE_Q), 2);
    assert_int_equal(query_i64(f->dst_path, "SELECT count(*) FROM sqlite_master"
                                            " WHERE name LIKE '\\_\\_mms\\_stage%' ESCAPE '\\'"),
                     0);

    /* Fix the destination, retry from SCHEMA_DONE (what RetryMmsTask does for DATA_FAILED). */
    h = open_file(f->dst_path);
    must_exec(h, "DROP TABLE " TABLE_Q);
    sqlite3_close(h);
    static const char retry[] = "UPDATE task SET status = 'SCHEMA_DONE', queued = 0"
                                " WHERE id = $1";
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(f->db, retry, &err);
    db_bind_i64(st, 1, id);
    assert_int_equal(db_step(st, &err), DB_DONE);
    db_done(st);
    run_task(f, id);
    get_task(f, id, &t);
    assert_string_equal(t.status, "DONE");
    assert_string_equal(t.error_msg, ""); /* cleared when the retry started */
    get_rollups(f, id, tbl, job);
    assert_string_equal(tbl, "DONE");
    assert_string_equal(job, "DONE");
    assert_same(f, "na me");
}

/* A newer attempt owns the row: the old worker writes nothing. */
static void test_lost_lease_writes_nothing(void **state)
{
    struct fx *f = *state;
    int64_t id = make_task(f, "{}", "INIT");
    struct work w;
    struct task_row t;
    int n;
    claim(f, id, &w);
    static const char steal[] = "UPDATE task SET attempt = attempt + 1, lease_owner = 'other'"
                                " WHERE id = $1";
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(f->db, steal, &err);
    db_bind_i64(st, 1, id);
    assert_int_equal(db_step(st, &err), DB_DONE);
    db_done(st);
    exec_task(&w);
    get_task(f, id, &t);
    assert_string_equal(t.status, "INIT");
    assert_false(t.lease_null);
    char *logs = get_logs(f, id, &n);
    assert_int_equal(n, 0);
    free(logs);
    assert_int_equal(access(f->dst_path, F_OK), -1);
}

static void test_stopped_task_is_given_back(void **state)
{
    struct fx *f = *state;
    int64_t id = make_task(f, "{}", "SCHEMA_DONE");
    static const char stop[] = "UPDATE task SET stopped = 1 WHERE id = $1";
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(f->db, stop, &err);
    db_bind_i64(st, 1, id);
    assert_int_equal(db_step(st, &err), DB_DONE);
    db_done(st);
    struct task_row t;
    int n;
    run_task(f, id);
    get_task(f, id, &t);
    assert_string_equal(t.status, "SCHEMA_DONE");
    assert_true(t.lease_null);
    char *logs = get_logs(f, id, &n);
    assert_int_equal(n, 0);
    free(logs);
}

/* StopMmsJob while the data stage runs: a second thread sets task.stopped as soon as the task
 * is in DATA_DOING; the runner stops at a safe point, keeps DATA_DOING, leaves the old
 * destination copy untouched and no staging; started again it finishes. */
struct stopper {
    struct fx *f;
    int64_t id;
    atomic_bool done;
    bool stopped;
};

static void *stopper_main(void *arg)
{
    struct stopper *s = arg;
    struct db *db = NULL;
    struct mms_err err = {0};
    static const char peek[] = "SELECT status = 'DATA_DOING' FROM task"
                               " WHERE id = $1";
    static const char stop[] = "UPDATE task SET stopped = 1 WHERE id = $1";
    if (store_connect(s->f->store, &db, &err) < 0)
        return NULL;
    while (!atomic_load(&s->done)) {
        struct db_stmt *st = db_prepare(db, peek, &err);
        db_bind_i64(st, 1, s->id);
        bool in_data = db_step(st, &err) == DB_ROW && db_col_i64(st, 0);
        db_done(st);
        if (in_data) {
            st = db_prepare(db, stop, &err);
            db_bind_i64(st, 1, s->id);
            s->stopped = db_step(st, &err) == DB_DONE;
            db_done(st);
            break;
        }
        usleep(1000);
    }
    db_close(db);
    return NULL;
}

static void test_stop_during_data(void **state)
{
    struct fx *f = *state;
    make_source(f, 100000);
    /* Many safe points, and a heartbeat that asks the store every time (a lease of 0 s is
     * "extended" at every call; the engine's own workers never claim queued = 0 tasks), so the
     * stop is seen within a batch of being set, long before the end. */
    f->run_cfg.batch_rows = 50;
    f->run_cfg.lease_seconds = 0;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", f->dst_dir);
    assert_int_equal(system(cmd), 0);
    sqlite3 *h = open_file(f->dst_path);
    must_exec(h, "CREATE TABLE " TABLE_Q " (id INTEGER PRIMARY KEY, \"na me\" TEXT,"
                 " \"d.o\"\"t\" REAL, b BLOB, \"any\", \"\xc3\xa9t\xc3\xa9\" VARCHAR(20));"
                 "INSERT INTO " TABLE_Q " (id) VALUES (-1), (-2);");
    sqlite3_close(h);

    int64_t id = make_task(f, "{}", "SCHEMA_DONE");
    struct stopper s = {.f = f, .id = id};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopper_main, &s), 0);
    run_task(f, id);
    atomic_store(&s.done, true);
    pthread_join(th, NULL);
    assert_true(s.stopped);
    char tbl[16], job[16];
    get_rollups(f, id, tbl, job);
    assert_string_equal(tbl, "DOING"); /* a stopped task is still under way */
    assert_string_equal(job, "DOING");

    struct task_row t;
    int n;
    get_task(f, id, &t);
    char *logs = get_logs(f, id, &n);
    if (strcmp(t.status, "DATA_DOING") != 0)
        fail_msg("status %s (%s)\n%s", t.status, t.error_msg, logs);
    assert_true(t.lease_null);
    assert_int_equal(t.queued, 0); /* as inserted: a stop does not touch it */
    assert_true(t.rows_done > 0 && t.rows_done < 100006); /* how far the copy got */
    assert_non_null(strstr(logs, "DATA_DOING | stop | stopped at a safe point (the task was"
                                 " stopped)"));
    free(logs);
    /* The destination still holds the old copy, and no staging table is left. */
    assert_int_equal(query_i64(f->dst_path, "SELECT count(*) FROM " TABLE_Q), 2);
    assert_int_equal(query_i64(f->dst_path, "SELECT count(*) FROM sqlite_master"
                                            " WHERE name LIKE '\\_\\_mms\\_stage%' ESCAPE '\\'"),
                     0);

    /* Started again: resumes the data stage from its start and finishes. */
    static const char start[] = "UPDATE task SET stopped = 0 WHERE id = $1";
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(f->db, start, &err);
    db_bind_i64(st, 1, id);
    assert_int_equal(db_step(st, &err), DB_DONE);
    db_done(st);
    f->run_cfg.batch_rows = 10000;
    f->run_cfg.lease_seconds = 30;
    run_task(f, id);
    get_task(f, id, &t);
    logs = get_logs(f, id, &n);
    if (strcmp(t.status, "DONE") != 0)
        fail_msg("status %s (%s)\n%s", t.status, t.error_msg, logs);
    free(logs);
    assert_int_equal(t.rows_done, 100006);
    assert_same(f, "na me");
}

int main(void)
{
    log_set_level("error"); /* the failures the tests provoke are logged as warnings */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copy_count_verification, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checksum_and_column_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_column_mapping_unknown_column, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_destination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_verify_mode_fails_before_copying, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_data_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verification_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_stages_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_failure_then_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_lease_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stopped_task_is_given_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_during_data, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
