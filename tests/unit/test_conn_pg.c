/* The PostgreSQL connector against a private PostgreSQL 15 server (scripts/testdb.sh, data in a
 * mkdtemp() folder, stopped at the end even when a test fails): catalog (schemas, tables,
 * declarative partitions, canonical types), canonical values of every type, PG -> PG copies
 * checked column by column with plain libpq SELECTs, SQLite -> PG and PG -> SQLite copies with
 * checksums, crash safety of the atomic replace, value errors and bad configurations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <float.h>
#include <libpq-fe.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conn/checksum.h"
#include "conn/conn.h"

/* Nasty names: the raw name, and its SQL-quoted form. */
#define SCH "Sch \"q\" .x;"
#define SCH_Q "\"Sch \"\"q\"\" .x;\""
#define TAB                                                                                        \
    "t\xc3\xa1"                                                                                    \
    "bla \"q\" `b`.y;z"
#define TAB_Q                                                                                      \
    "\"t\xc3\xa1"                                                                                  \
    "bla \"\"q\"\" `b`.y;z\""
#define NCOL "Col \"q\" ;`x`.\xc3\xbc"
#define NCOL_Q "\"Col \"\"q\"\" ;`x`.\xc3\xbc\""
#define GEN_ROWS 2000
#define DST_PROJECT "dst proj"
#define DST_SCH "D\xc3\xa9st \"s\""

static char tmpdir[] = "/tmp/mms_conn_pg_XXXXXX";
static bool server_started;
static int pg_port;
static char src_ci[256], dst_ci[256], dest_url[256], sqlite_dir[512], sqlite_url[600];
static const struct conn_ops *ops = &conn_pg_ops;

/* ---- the server ------------------------------------------------------------------------- */

static const char *testdb_script(void)
{
    const char *s = getenv("MMS_TESTDB");
    return s && s[0] ? s : "scripts/testdb.sh";
}

static void stop_server(void)
{
    if (!server_started)
        return;
    server_started = false;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s stop pg '%s' >/dev/null 2>&1; rm -rf '%s'", testdb_script(),
             tmpdir, tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: stopping the test server failed\n");
}

static void on_signal(int sig)
{
    stop_server();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int start_server(void)
{
    if (!mkdtemp(tmpdir))
        return -1;
    char cmd[1024], line[256];
    snprintf(cmd, sizeof cmd, "%s start pg '%s'", testdb_script(), tmpdir);
    server_started = true;
    atexit(stop_server);
    signal(SIGABRT, on_signal);
    signal(SIGSEGV, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "PGPORT=", 7) == 0)
            pg_port = atoi(line + 7);
    if (pclose(f) != 0 || pg_port <= 0) {
        fprintf(stderr, "cannot start PostgreSQL through %s\n", testdb_script());
        return -1;
    }
    snprintf(src_ci, sizeof src_ci, "host=127.0.0.1 port=%d user=postgres dbname=src", pg_port);
    snprintf(dst_ci, sizeof dst_ci, "host=127.0.0.1 port=%d user=postgres dbname='" DST_PROJECT "'",
             pg_port);
    snprintf(dest_url, sizeof dest_url, "postgresql://postgres:secret@127.0.0.1:%d/", pg_port);
    snprintf(sqlite_dir, sizeof sqlite_dir, "%s/sqlite", tmpdir);
    snprintf(sqlite_url, sizeof sqlite_url, "sqlite://%s", sqlite_dir);
    return 0;
}

/* ---- plain libpq helpers ---------------------------------------------------------------- */

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static PGconn *db_open(const char *ci)
{
    PGconn *pg = PQconnectdb(ci);
    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("connect %s: %s", ci, PQerrorMessage(pg));
    PQsetNoticeProcessor(pg, quiet, NULL); /* "... does not exist, skipping" */
    return pg;
}

static void db_exec(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "exec failed: %s\n  in: %s\n", PQerrorMessage(pg), sql);
        PQclear(res);
        fail();
    }
    PQclear(res);
}

static PGresult *db_query(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("query failed: %s\n  in: %s", PQerrorMessage(pg), sql);
    return res;
}

static int64_t db_int(PGconn *pg, const char *sql)
{
    PGresult *res = db_query(pg, sql);
    int64_t v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

static char *db_text(PGconn *pg, const char *sql)
{
    PGresult *res = db_query(pg, sql);
    char *v = PQgetisnull(res, 0, 0) ? NULL : strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

static void make_fixture(void)
{
    char ci[256];
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=postgres dbname=postgres", pg_port);
    PGconn *pg = db_open(ci);
    db_exec(pg, "DROP DATABASE IF EXISTS src");
    db_exec(pg, "CREATE DATABASE src");
    PQfinish(pg);
    pg = db_open(src_ci);
    db_exec(pg, "CREATE SCHEMA " SCH_Q ";"
                "CREATE TYPE " SCH_Q ".mood AS ENUM ('sad', 'ok', 'happy');"
                "CREATE TABLE " SCH_Q "." TAB_Q " ("
                " id int8 NOT NULL, i2 int2, i4 int4, i8 int8, n numeric(30,10), nu numeric,"
                " f4 real, f8 double precision, vc varchar(20), ch char(5), tx text, by bytea,"
                " bo bool, d date, t time, t3 time(3), ts timestamp, tstz timestamptz, j json,"
                " jb jsonb, u uuid, e " SCH_Q ".mood, arr int[], iv interval,"
                " " NCOL_Q " text DEFAULT 'dflt')");
    db_exec(pg, "COMMENT ON COLUMN " SCH_Q "." TAB_Q ".tx IS 'a comment'");
    db_exec(pg, "INSERT INTO " SCH_Q "." TAB_Q " (id) VALUES (1);"
                "INSERT INTO " SCH_Q "." TAB_Q " VALUES (2, -32768, -2147483648,"
                " -9223372036854775808, -99999999999999999999.9999999999,"
                " -123456789012345678901234567890.123456789, -3.4028235e38,"
                " -1.7976931348623157e308, '', 'a', E'tab\\there\\nnl\\\\back \"q\" ''s\\r',"
                " '\\x00ff00', false, '0001-01-01', '00:00:00', '00:00:00.001',"
                " '1970-01-01 00:00:00', '1969-12-31 23:59:59.999999+00',"
                " '{\"a\": [1, 2.50, \"x\"]}', '{\"b\":1,\"a\":2}',"
                " '00000000-0000-0000-0000-000000000000', 'sad', '{1,NULL,3}', '1 day 02:03:04',"
                " E'\\\\N');"
                "INSERT INTO " SCH_Q "." TAB_Q " VALUES (3, 32767, 2147483647, 9223372036854775807,"
                " 99999999999999999999.9999999999, 'NaN', 1.17549435e-38, 5e-324,"
                " '\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
                "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc',"
                " '\xc3\x9f', E'\xf0\x9f\x98\x80 \xc3\xbcn\xc3\xaf\\r\\n\\\\', '', true,"
                " '9999-12-31', '23:59:59.999999', '23:59:59.999', '9999-12-31 23:59:59.999999',"
                " '2024-06-30 12:00:00.5+05:30', '[]', 'null',"
                " 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'happy', '{}', '-1 mons', '');"
                "INSERT INTO " SCH_Q "." TAB_Q " (id, f4, f8, n, nu) VALUES"
                " (4, '-0', '-0', 0, '-0.000'), (5, '-Infinity', 'Infinity', 1.5, 'Infinity'),"
                " (6, 'NaN', 'NaN', -0.0000000001, '-Infinity'),"
                " (7, 0.1, 0.1, 12345678901234567890.1234567890, 0.1),"
                " (8, 3.4028235e38, 0.30000000000000004, 1, 1e-30),"
                " (9, 1e-45, 1.7976931348623157e308, 2, 2);");
    char sql[2048];
    snprintf(sql, sizeof sql,
             "INSERT INTO " SCH_Q "." TAB_Q " SELECT g + 100, (g %% 30000)::int2, g * 7, g::int8"
             " * 1000000007, g / 7.0, g / 3.0, g / 9.0, g / 11.0, 'v' || g, 'c' || (g %% 100),"
             " repeat('x', g %% 50) || E'\\t' || g, decode(md5(g::text), 'hex'), g %% 2 = 0,"
             " date '2000-01-01' + g, time '00:00' + g * interval '1 second',"
             " time '00:00' + g * interval '1 millisecond', timestamp '2000-01-01' + g *"
             " interval '1 minute 1.5 second', timestamptz '2000-01-01 00:00+00' + g * interval"
             " '1 hour 0.25 second', json_build_object('g', g), jsonb_build_object('g', g),"
             " md5(g::text)::uuid, (ARRAY['sad', 'ok', 'happy'])[g %% 3 + 1]::" SCH_Q ".mood,"
             " ARRAY[g, g + 1], g * interval '1 minute', 'r' || g"
             " FROM generate_series(1, %d) g",
             GEN_ROWS);
    db_exec(pg, sql);

    /* Declaratively partitioned tables: LIST with single values, a multi-value list, a value
     * with '/' and '=', a default; RANGE by date. */
    db_exec(pg, "CREATE TABLE events (id int8 NOT NULL, region text, v text)"
                " PARTITION BY LIST (region);"
                "CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');"
                "CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');"
                "CREATE TABLE \"events a/b\" PARTITION OF events FOR VALUES IN ('a/b=c');"
                "CREATE TABLE events_multi PARTITION OF events FOR VALUES IN ('x', 'y');"
                "CREATE TABLE events_def PARTITION OF events DEFAULT;"
                "INSERT INTO events SELECT g, (ARRAY['eu','us','a/b=c','x','y','zz'])[g % 6 + 1],"
                " 'v' || g FROM generate_series(1, 600) g;"
                "CREATE TABLE measures (id int4, d date NOT NULL) PARTITION BY RANGE (d);"
                "CREATE TABLE measures_jan PARTITION OF measures FOR VALUES FROM ('2024-01-01')"
                " TO ('2024-02-01');"
                "CREATE TABLE measures_feb PARTITION OF measures FOR VALUES FROM ('2024-02-01')"
                " TO ('2024-03-01');"
                "INSERT INTO measures SELECT g, date '2024-01-01' + g FROM generate_series(0, 50)"
                " g;"
                "CREATE TABLE plain (id int8, f8 float8, tx text, by bytea, bo bool, d date,"
                " tstz timestamptz, i4 int4);"
                "INSERT INTO plain VALUES (1, -0.0, E'a\\tb\\nc\\\\', '\\x00', true,"
                " '2024-01-02', '2024-01-02 03:04:05.25+02', -5),"
                " (2, 5e-324, '', '', false, NULL, NULL, NULL), (3, NULL, NULL, NULL, NULL,"
                " '0001-01-01', '1970-01-01 00:00:00+00', 2147483647),"
                " (4, 'Infinity', '\xf0\x9f\x98\x80', '\\xdeadbeef', NULL, NULL, NULL, 0);"
                "CREATE VIEW a_view AS SELECT 1 AS x;");
    PQfinish(pg);
}

/* ---- connector helpers ------------------------------------------------------------------ */

static struct conn *open_src(void)
{
    struct conn *c = NULL;
    struct mms_err err = {0};
    json_t *cfg = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s}", "pg.host", "127.0.0.1", "pg.port",
                            pg_port, "pg.user", "postgres", "pg.password", "pw", "pg.database",
                            "src", "pg.sslmode", "disable");
    if (ops->open_source(&c, cfg, &err) != 0)
        fail_msg("open_source: %s %s", err.code, err.msg);
    json_decref(cfg);
    return c;
}

static struct conn *open_dst(const struct conn_ops *o, const char *url)
{
    struct conn *c = NULL;
    struct mms_err err = {0};
    if (o->open_dest(&c, url, &err) != 0)
        fail_msg("open_dest: %s %s", err.code, err.msg);
    return c;
}

/* Copies db.table of src (ops so) to t on dst (ops dops) with the given batch caps. */
static int64_t copy_table(const struct conn_ops *so, struct conn *src, const char *db,
                          const char *table, const struct conn_ops *dops, struct conn *dst,
                          const struct conn_target *t, size_t max_rows, size_t max_bytes)
{
    struct mms_err err = {0};
    struct conn_schema s = {0};
    struct conn_reader *r = NULL;
    struct conn_writer *w = NULL;
    struct rowbatch b;
    char *sql = NULL;
    int64_t rows = 0;

    if (so->table_schema(src, db, table, &s, &err) != 0)
        fail_msg("table_schema: %s", err.msg);
    if (dops->create_table(dst, t, &s, &sql, &err) != 0)
        fail_msg("create_table: %s %s", err.code, err.msg);
    assert_non_null(strstr(sql, "CREATE TABLE IF NOT EXISTS"));
    free(sql);
    if (so->read_open(src, db, table, NULL, &s, &r, &err) != 0)
        fail_msg("read_open: %s %s", err.code, err.msg);
    if (dops->write_begin(dst, t, NULL, &s, &w, &err) != 0)
        fail_msg("write_begin: %s %s", err.code, err.msg);
    rowbatch_init(&b, s.ncols, max_rows, max_bytes);
    for (;;) {
        if (so->read_next(r, &b, &err) != 0)
            fail_msg("read_next: %s %s", err.code, err.msg);
        if (b.nrows == 0)
            break;
        rows += (int64_t)b.nrows;
        if (dops->write_batch(w, &b, &err) != 0)
            fail_msg("write_batch: %s %s", err.code, err.msg);
    }
    if (dops->write_commit(w, &err) != 0)
        fail_msg("write_commit: %s %s", err.code, err.msg);
    rowbatch_release(&b);
    so->read_close(r);
    conn_schema_release(&s);
    return rows;
}

static struct conn_checksum sum_reader(const struct conn_ops *o, struct conn_reader *r,
                                       size_t ncols)
{
    struct rowbatch b;
    struct conn_checksum c;
    struct mms_err err = {0};
    rowbatch_init(&b, ncols, 100, 1 << 20);
    if (checksum_read(o, r, &b, &c, &err) != 0)
        fail_msg("checksum_read: %s", err.msg);
    rowbatch_release(&b);
    return c;
}

static void assert_sums_equal(struct conn_checksum a, struct conn_checksum b)
{
    char x[64], y[64];
    checksum_format(&a, x, sizeof x);
    checksum_format(&b, y, sizeof y);
    assert_string_equal(x, y);
}

/* ---- tests: catalog --------------------------------------------------------------------- */

struct names {
    char v[64][128];
    int n;
};

static int collect_db(void *ctx, const char *db)
{
    struct names *s = ctx;
    snprintf(s->v[s->n++], 128, "%s", db);
    return 0;
}

static bool has(const struct names *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return true;
    return false;
}

struct tables {
    struct names names;
    int64_t rows[64];
    char types[64][32];
    size_t npcols[64];
};

static int collect_table(void *ctx, const struct conn_table_info *t)
{
    struct tables *s = ctx;
    int i = s->names.n;
    snprintf(s->names.v[i], 128, "%s", t->name);
    s->rows[i] = t->num_rows;
    snprintf(s->types[i], 32, "%s", t->type);
    s->npcols[i] = t->schema.npcols;
    assert_true(t->size >= 0);
    assert_true(t->schema.ncols > 0);
    s->names.n++;
    return 0;
}

static int find(const struct names *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return i;
    return -1;
}

struct parts {
    struct names names;
    int64_t rows[64];
};

static int collect_part(void *ctx, const struct conn_partition_info *p)
{
    struct parts *s = ctx;
    snprintf(s->names.v[s->names.n], 128, "%s", p->value);
    s->rows[s->names.n++] = p->num_rows;
    return 0;
}

static void test_catalog(void **state)
{
    (void)state;
    struct conn *c = open_src();
    struct mms_err err = {0};
    struct names dbs = {0};
    assert_int_equal(ops->ping(c, &err), 0);
    assert_int_equal(ops->list_dbs(c, collect_db, &dbs, &err), 0);
    assert_true(has(&dbs, "public"));
    assert_true(has(&dbs, SCH));
    assert_false(has(&dbs, "pg_catalog"));
    assert_false(has(&dbs, "information_schema"));
    assert_false(has(&dbs, "pg_toast"));

    struct tables *ts = calloc(1, sizeof *ts);
    assert_int_equal(ops->list_tables(c, "public", collect_table, ts, &err), 0);
    int ev = find(&ts->names, "events");
    assert_true(ev >= 0);
    assert_string_equal(ts->types[ev], "PARTITIONED_TABLE");
    assert_int_equal(ts->rows[ev], 600);
    assert_int_equal(ts->npcols[ev], 1);
    assert_true(find(&ts->names, "measures") >= 0);
    assert_int_equal(ts->rows[find(&ts->names, "measures")], 51);
    assert_true(find(&ts->names, "plain") >= 0);
    assert_int_equal(ts->rows[find(&ts->names, "plain")], 4);
    assert_int_equal(find(&ts->names, "events_eu"), -1); /* partitions are not tables */
    assert_int_equal(find(&ts->names, "a_view"), -1);
    memset(ts, 0, sizeof *ts);
    assert_int_equal(ops->list_tables(c, SCH, collect_table, ts, &err), 0);
    assert_int_equal(ts->names.n, 1);
    assert_string_equal(ts->names.v[0], TAB);
    assert_int_equal(ts->rows[0], 9 + GEN_ROWS);
    assert_string_equal(ts->types[0], "TABLE");
    free(ts);

    /* The schema: canonical types, native types, nullability, defaults, comments. */
    struct conn_schema s = {0};
    assert_int_equal(ops->table_schema(c, SCH, TAB, &s, &err), 0);
    static const char *const want[][3] = {
        {"id", "int64", "bigint"},
        {"i2", "int16", "smallint"},
        {"i4", "int32", "integer"},
        {"i8", "int64", "bigint"},
        {"n", "decimal(30,10)", "numeric(30,10)"},
        {"nu", "decimal", "numeric"},
        {"f4", "float32", "real"},
        {"f8", "float64", "double precision"},
        {"vc", "varchar(20)", "character varying(20)"},
        {"ch", "char(5)", "character(5)"},
        {"tx", "text", "text"},
        {"by", "binary", "bytea"},
        {"bo", "bool", "boolean"},
        {"d", "date", "date"},
        {"t", "time(6)", "time without time zone"},
        {"t3", "time(3)", "time(3) without time zone"},
        {"ts", "datetime(6)", "timestamp without time zone"},
        {"tstz", "timestamp(6)", "timestamp with time zone"},
        {"j", "json", "json"},
        {"jb", "json", "jsonb"},
        {"u", "char(36)", "uuid"},
        {"e", "text", "\"Sch \"\"q\"\" .x;\".mood"},
        {"arr", "json", "integer[]"},
        {"iv", "text", "interval"},
        {NCOL, "text", "text"},
    };
    assert_int_equal(s.ncols, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < s.ncols; i++) {
        char type[64];
        mms_type_format(&s.cols[i].type, type, sizeof type);
        assert_string_equal(s.cols[i].name, want[i][0]);
        assert_string_equal(type, want[i][1]);
        assert_string_equal(s.cols[i].native_type, want[i][2]);
    }
    assert_false(s.cols[0].nullable);
    assert_true(s.cols[1].nullable);
    assert_string_equal(s.cols[10].comment, "a comment");
    assert_string_equal(s.cols[24].default_value, "'dflt'::text");
    assert_string_equal(s.source_type, "POSTGRESQL");
    assert_int_equal(s.npcols, 0);
    conn_schema_release(&s);

    assert_int_equal(ops->table_schema(c, "public", "events", &s, &err), 0);
    assert_int_equal(s.ncols, 3);
    assert_int_equal(s.npcols, 1);
    assert_string_equal(s.pcols[0].name, "region");
    conn_schema_release(&s);

    assert_int_equal(ops->table_schema(c, "public", "nope", &s, &err), -1);
    assert_string_equal(err.code, "ConnectorError.NotFound");
    ops->close(c);
}

static void test_partitions(void **state)
{
    (void)state;
    struct conn *c = open_src();
    struct mms_err err = {0};
    struct parts p = {0};
    assert_int_equal(ops->list_partitions(c, "public", "events", collect_part, &p, &err), 0);
    assert_int_equal(p.names.n, 5);
    /* ordered by partition table name: "events a/b", events_def, _eu, _multi, _us */
    assert_string_equal(p.names.v[0], "region=a%2Fb%3Dc");
    assert_string_equal(p.names.v[1], "DEFAULT");
    assert_string_equal(p.names.v[2], "region=eu");
    assert_string_equal(p.names.v[3], "FOR VALUES IN ('x', 'y')");
    assert_string_equal(p.names.v[4], "region=us");
    assert_int_equal(p.rows[0], 100);
    assert_int_equal(p.rows[3], 200);

    memset(&p, 0, sizeof p);
    assert_int_equal(ops->list_partitions(c, "public", "measures", collect_part, &p, &err), 0);
    assert_int_equal(p.names.n, 2);
    assert_string_equal(p.names.v[0], "FOR VALUES FROM ('2024-02-01') TO ('2024-03-01')");
    assert_string_equal(p.names.v[1], "FOR VALUES FROM ('2024-01-01') TO ('2024-02-01')");
    assert_int_equal(p.rows[1], 31);

    memset(&p, 0, sizeof p);
    assert_int_equal(ops->list_partitions(c, "public", "plain", collect_part, &p, &err), 0);
    assert_int_equal(p.names.n, 0);

    /* Reading and counting one partition. */
    int64_t n = 0;
    char *sql = NULL;
    assert_int_equal(ops->count_source(c, "public", "events", "region=a%2Fb%3Dc", &n, &sql, &err),
                     0);
    assert_int_equal(n, 100);
    assert_string_equal(sql, "SELECT COUNT(*) FROM \"public\".\"events a/b\"");
    free(sql);
    struct conn_schema s = {0};
    struct conn_reader *r = NULL;
    assert_int_equal(ops->table_schema(c, "public", "events", &s, &err), 0);
    assert_int_equal(ops->read_open(c, "public", "events", "region=eu", &s, &r, &err), 0);
    struct rowbatch b;
    rowbatch_init(&b, s.ncols, 1000, 1 << 20);
    assert_int_equal(ops->read_next(r, &b, &err), 0);
    assert_int_equal(b.nrows, 100);
    for (size_t i = 0; i < b.nrows; i++) {
        const struct val *row = rowbatch_row(&b, i);
        assert_int_equal(row[1].kind, VAL_TEXT);
        assert_memory_equal(rowbatch_bytes(&b, &row[1]), "eu", 2);
    }
    assert_int_equal(ops->read_next(r, &b, &err), 0);
    assert_int_equal(b.nrows, 0);
    ops->read_close(r);
    assert_int_equal(ops->read_open(c, "public", "events", "region=nope", &s, &r, &err), -1);
    assert_string_equal(err.code, "ConnectorError.NotFound");
    rowbatch_release(&b);
    conn_schema_release(&s);
    ops->close(c);
}

/* ---- tests: values ---------------------------------------------------------------------- */

static void expect_text(const struct rowbatch *b, const struct val *v, const char *want)
{
    if (v->kind != VAL_TEXT)
        fail_msg("expected text '%s', kind %d", want, (int)v->kind);
    size_t n = strlen(want);
    if (v->len != n || memcmp(rowbatch_bytes(b, v), want, n) != 0)
        fail_msg("expected '%s', got '%.*s'", want, (int)v->len, rowbatch_bytes(b, v));
}

static void expect_double(const struct val *v, double want)
{
    assert_int_equal(v->kind, VAL_DOUBLE);
    assert_memory_equal(&v->v.d, &want, sizeof want);
}

static void test_values(void **state)
{
    (void)state;
    struct conn *c = open_src();
    struct mms_err err = {0};
    struct conn_schema s = {0};
    struct conn_reader *r = NULL;
    struct rowbatch b;
    assert_int_equal(ops->table_schema(c, SCH, TAB, &s, &err), 0);
    assert_int_equal(ops->read_open(c, SCH, TAB, NULL, &s, &r, &err), 0);
    rowbatch_init(&b, s.ncols, 9, 1 << 20); /* the first 9 rows: the hand-written ones */
    assert_int_equal(ops->read_next(r, &b, &err), 0);
    assert_int_equal(b.nrows, 9);

    const struct val *r1 = rowbatch_row(&b, 0);
    assert_int_equal(r1[0].kind, VAL_INT);
    assert_int_equal(r1[0].v.i, 1);
    for (size_t i = 1; i < s.ncols - 1; i++)
        assert_int_equal(r1[i].kind, VAL_NULL);
    expect_text(&b, &r1[24], "dflt");

    const struct val *r2 = rowbatch_row(&b, 1);
    assert_int_equal(r2[1].v.i, -32768);
    assert_int_equal(r2[2].v.i, INT32_MIN);
    assert_true(r2[3].kind == VAL_INT && r2[3].v.i == INT64_MIN);
    expect_text(&b, &r2[4], "-99999999999999999999.9999999999");
    expect_text(&b, &r2[5], "-123456789012345678901234567890.123456789");
    expect_double(&r2[6], (double)-3.4028235e38f);
    expect_double(&r2[7], -DBL_MAX);
    expect_text(&b, &r2[8], "");
    expect_text(&b, &r2[9], "a    ");
    expect_text(&b, &r2[10], "tab\there\nnl\\back \"q\" 's\r");
    assert_int_equal(r2[11].kind, VAL_BLOB);
    assert_int_equal(r2[11].len, 3);
    assert_memory_equal(rowbatch_bytes(&b, &r2[11]), "\0\xff\0", 3);
    assert_true(r2[12].kind == VAL_INT && r2[12].v.i == 0);
    expect_text(&b, &r2[13], "0001-01-01");
    expect_text(&b, &r2[14], "00:00:00");
    expect_text(&b, &r2[15], "00:00:00.001");
    expect_text(&b, &r2[16], "1970-01-01 00:00:00");
    expect_text(&b, &r2[17], "1969-12-31 23:59:59.999999");
    expect_text(&b, &r2[18], "{\"a\": [1, 2.50, \"x\"]}");
    expect_text(&b, &r2[19], "{\"a\": 2, \"b\": 1}");
    expect_text(&b, &r2[20], "00000000-0000-0000-0000-000000000000");
    expect_text(&b, &r2[21], "sad");
    expect_text(&b, &r2[22], "[1,null,3]");
    expect_text(&b, &r2[23], "1 day 02:03:04");
    expect_text(&b, &r2[24], "\\N"); /* the text "\N", not NULL */

    const struct val *r3 = rowbatch_row(&b, 2);
    assert_true(r3[3].kind == VAL_INT && r3[3].v.i == INT64_MAX);
    expect_text(&b, &r3[4], "99999999999999999999.9999999999");
    expect_text(&b, &r3[5], "NaN");
    expect_double(&r3[6], (double)1.17549435e-38f);
    expect_double(&r3[7], 5e-324);
    expect_text(&b, &r3[9], "\xc3\x9f    ");
    expect_text(&b, &r3[10], "\xf0\x9f\x98\x80 \xc3\xbcn\xc3\xaf\r\n\\");
    assert_true(r3[11].kind == VAL_BLOB && r3[11].len == 0);
    assert_true(r3[12].kind == VAL_INT && r3[12].v.i == 1);
    expect_text(&b, &r3[16], "9999-12-31 23:59:59.999999");
    expect_text(&b, &r3[17], "2024-06-30 06:30:00.5");
    expect_text(&b, &r3[22], "[]");
    expect_text(&b, &r3[24], "");

    const struct val *r4 = rowbatch_row(&b, 3);
    expect_double(&r4[6], -0.0);
    expect_double(&r4[7], -0.0);
    assert_true(signbit(r4[7].v.d));
    expect_text(&b, &r4[4], "0.0000000000");
    expect_text(&b, &r4[5], "0.000");
    const struct val *r5 = rowbatch_row(&b, 4);
    assert_true(isinf(r5[6].v.d) && r5[6].v.d < 0);
    assert_true(isinf(r5[7].v.d) && r5[7].v.d > 0);
    expect_text(&b, &r5[5], "Infinity");
    const struct val *r6 = rowbatch_row(&b, 5);
    assert_true(isnan(r6[6].v.d) && isnan(r6[7].v.d));
    const struct val *r7 = rowbatch_row(&b, 6);
    expect_double(&r7[6], (double)0.1f);
    expect_double(&r7[7], 0.1);
    expect_text(&b, &r7[4], "12345678901234567890.1234567890");
    const struct val *r8 = rowbatch_row(&b, 7);
    expect_double(&r8[6], (double)3.4028235e38f);
    expect_double(&r8[7], 0.30000000000000004);
    expect_text(&b, &r8[5], "0.000000000000000000000000000001");
    const struct val *r9 = rowbatch_row(&b, 8);
    expect_double(&r9[6], (double)1e-45f);
    expect_double(&r9[7], DBL_MAX);

    /* The rest, in small batches; closing early cancels the COPY. */
    rowbatch_release(&b);
    rowbatch_init(&b, s.ncols, 64, 1 << 20);
    int64_t rows = 9;
    for (int k = 0; k < 5; k++) {
        assert_int_equal(ops->read_next(r, &b, &err), 0);
        assert_int_equal(b.nrows, 64);
        rows += 64;
    }
    ops->read_close(r);
    (void)rows;
    /* the connection is still usable after an abandoned reader */
    assert_int_equal(ops->ping(c, &err), 0);
    rowbatch_release(&b);
    conn_schema_release(&s);
    ops->close(c);
}

/* ---- tests: PG -> PG -------------------------------------------------------------------- */

/* Every column of the two tables as PostgreSQL prints it, row by row in id order. */
static void compare_columns(PGconn *a, const char *qa, PGconn *b, const char *qb,
                            const char *const *exprs_a, const char *const *exprs_b, size_t n,
                            int64_t want_rows)
{
    for (size_t i = 0; i < n; i++) {
        char sa[1024], sb[1024];
        snprintf(sa, sizeof sa, "SELECT (%s)::text FROM %s ORDER BY id", exprs_a[i], qa);
        snprintf(sb, sizeof sb, "SELECT (%s)::text FROM %s ORDER BY id", exprs_b[i], qb);
        PGresult *ra = db_query(a, sa), *rb = db_query(b, sb);
        assert_int_equal(PQntuples(ra), want_rows);
        assert_int_equal(PQntuples(ra), PQntuples(rb));
        for (int r = 0; r < PQntuples(ra); r++) {
            int na = PQgetisnull(ra, r, 0), nb = PQgetisnull(rb, r, 0);
            if (na != nb || strcmp(PQgetvalue(ra, r, 0), PQgetvalue(rb, r, 0)) != 0)
                fail_msg("column %s row %d: '%s'%s vs '%s'%s", exprs_a[i], r, PQgetvalue(ra, r, 0),
                         na ? " (NULL)" : "", PQgetvalue(rb, r, 0), nb ? " (NULL)" : "");
        }
        PQclear(ra);
        PQclear(rb);
    }
}

static void test_pg_to_pg(void **state)
{
    (void)state;
    struct conn *src = open_src();
    struct conn *dst = open_dst(ops, dest_url);
    struct mms_err err = {0};
    struct conn_target t = {DST_PROJECT, DST_SCH, TAB};
    /* twice: the second run replaces the first (the table exists, staging LIKE it) */
    for (int k = 0; k < 2; k++)
        assert_int_equal(copy_table(ops, src, SCH, TAB, ops, dst, &t, k ? 1000 : 7, 1 << 20),
                         9 + GEN_ROWS);

    PGconn *a = db_open(src_ci), *b = db_open(dst_ci);
    static const char *const ea[] = {"id",
                                     "i2",
                                     "i4",
                                     "i8",
                                     "n",
                                     "nu",
                                     "f4",
                                     "f8",
                                     "vc",
                                     "ch",
                                     "tx",
                                     "encode(by, 'hex')",
                                     "bo",
                                     "d",
                                     "t",
                                     "t3",
                                     "ts",
                                     "tstz",
                                     "j",
                                     "jb",
                                     "u",
                                     "e",
                                     "to_json(arr)",
                                     "iv",
                                     NCOL_Q};
    static const char *const eb[] = {
        "id",  "i2", "i4", "i8", "n",  "nu",   "f4", "f8", "vc", "ch", "tx",  "encode(by, 'hex')",
        "bo",  "d",  "t",  "t3", "ts", "tstz", "j",  "jb", "u",  "e",  "arr", "iv",
        NCOL_Q};
    compare_columns(a, SCH_Q "." TAB_Q, b, "\"D\xc3\xa9st \"\"s\"\"\"." TAB_Q, ea, eb,
                    sizeof ea / sizeof ea[0], 9 + GEN_ROWS);
    /* -0 survives as -0 (text compare above would print "-0" for both anyway) */
    assert_int_equal(db_int(b, "SELECT count(*) FROM \"D\xc3\xa9st \"\"s\"\"\"." TAB_Q
                               " WHERE id = 4 AND f8::text = '-0' AND f4::text = '-0'"),
                     1);
    /* Built-in types are declared as the source declared them; enum and arrays fall back. */
    char *types =
        db_text(b, "SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM"
                   " pg_attribute WHERE attrelid = '\"D\xc3\xa9st \"\"s\"\"\"." TAB_Q "'::regclass"
                   " AND attnum > 0");
    assert_string_equal(types,
                        "bigint,smallint,integer,bigint,numeric(30,10),numeric,real,double "
                        "precision,character varying(20),character(5),text,bytea,boolean,date,"
                        "time without time zone,time(3) without time zone,timestamp without time"
                        " zone,timestamp with time zone,json,jsonb,uuid,text,json,interval,text");
    free(types);
    /* no staging table left behind */
    assert_int_equal(db_int(b, "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_\\_mms%'"), 0);

    /* Checksums of source and destination through the connector agree. */
    struct conn_schema s = {0};
    struct conn_reader *r = NULL;
    assert_int_equal(ops->table_schema(src, SCH, TAB, &s, &err), 0);
    assert_int_equal(ops->read_open(src, SCH, TAB, NULL, &s, &r, &err), 0);
    struct conn_checksum cs = sum_reader(ops, r, s.ncols);
    ops->read_close(r);
    if (ops->read_dest_open(dst, &t, NULL, &s, &r, &err) != 0)
        fail_msg("read_dest_open: %s", err.msg);
    struct conn_checksum cd = sum_reader(ops, r, s.ncols);
    ops->read_close(r);
    assert_int_equal(cs.rows, 9 + GEN_ROWS);
    assert_sums_equal(cs, cd);

    int64_t n = 0;
    char *sql = NULL;
    assert_int_equal(ops->count_dest(dst, &t, NULL, &n, &sql, &err), 0);
    assert_int_equal(n, 9 + GEN_ROWS);
    assert_non_null(strstr(sql, "SELECT COUNT(*) FROM \"D\xc3\xa9st \"\"s\"\"\"."));
    free(sql);
    conn_schema_release(&s);

    /* A partitioned source table arrives whole, as a plain table. */
    struct conn_target te = {DST_PROJECT, DST_SCH, "events"};
    assert_int_equal(copy_table(ops, src, "public", "events", ops, dst, &te, 100, 1 << 20), 600);
    static const char *const ev[] = {"id", "region", "v"};
    compare_columns(a, "public.events", b, "\"D\xc3\xa9st \"\"s\"\"\".events", ev, ev, 3, 600);

    /* A table name of 63 bytes (the most PostgreSQL takes): the staging name is hashed. */
    char longname[64];
    memset(longname, 'L', 63);
    longname[63] = '\0';
    struct conn_target tl = {DST_PROJECT, DST_SCH, longname};
    for (int k = 0; k < 2; k++)
        assert_int_equal(copy_table(ops, src, "public", "plain", ops, dst, &tl, 100, 1 << 20), 4);
    assert_int_equal(db_int(b,
                            "SELECT count(*) FROM \"D\xc3\xa9st \"\"s\"\"\"."
                            "\"LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL\""),
                     4);
    assert_int_equal(db_int(b, "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_\\_mms%'"), 0);

    PQfinish(a);
    PQfinish(b);
    ops->close(src);
    ops->close(dst);
}

/* ---- tests: partitioned PG -> PG -------------------------------------------------------- */

/* Copies one partition (create_table done by the caller). */
static int64_t copy_part(struct conn *src, const char *db, const char *table, const char *part,
                         struct conn *dst, const struct conn_target *t)
{
    struct mms_err err = {0};
    struct conn_schema s = {0};
    struct conn_reader *r = NULL;
    struct conn_writer *w = NULL;
    struct rowbatch b;
    int64_t rows = 0;
    assert_int_equal(ops->table_schema(src, db, table, &s, &err), 0);
    if (ops->read_open(src, db, table, part, &s, &r, &err) != 0)
        fail_msg("read_open %s: %s", part, err.msg);
    if (ops->write_begin(dst, t, part, &s, &w, &err) != 0)
        fail_msg("write_begin %s: %s %s", part, err.code, err.msg);
    rowbatch_init(&b, s.ncols, 50, 1 << 20);
    for (;;) {
        assert_int_equal(ops->read_next(r, &b, &err), 0);
        if (b.nrows == 0)
            break;
        rows += (int64_t)b.nrows;
        if (ops->write_batch(w, &b, &err) != 0)
            fail_msg("write_batch: %s", err.msg);
    }
    if (ops->write_commit(w, &err) != 0)
        fail_msg("write_commit %s: %s %s", part, err.code, err.msg);
    rowbatch_release(&b);
    ops->read_close(r);
    conn_schema_release(&s);
    return rows;
}

static void copy_partitioned(struct conn *src, const char *table, struct conn *dst,
                             const struct conn_target *t, PGconn *a, PGconn *b)
{
    struct mms_err err = {0};
    struct conn_schema s = {0};
    char *sql = NULL;
    assert_int_equal(ops->table_schema(src, "public", table, &s, &err), 0);
    if (ops->create_table(dst, t, &s, &sql, &err) != 0)
        fail_msg("create_table: %s", err.msg);
    assert_non_null(strstr(sql, " PARTITION BY "));
    free(sql);
    struct parts p = {0};
    assert_int_equal(ops->list_partitions(src, "public", table, collect_part, &p, &err), 0);
    int64_t total = 0;
    for (int k = 0; k < 2; k++) /* twice: the second pass replaces every partition */
        for (int i = 0; i < p.names.n; i++) {
            int64_t n = copy_part(src, "public", table, p.names.v[i], dst, t);
            int64_t want = 0, got = 0;
            assert_int_equal(
                ops->count_source(src, "public", table, p.names.v[i], &want, NULL, &err), 0);
            assert_int_equal(n, want);
            assert_int_equal(ops->count_dest(dst, t, p.names.v[i], &got, NULL, &err), 0);
            assert_int_equal(got, want);
            if (k)
                total += n;
        }
    conn_schema_release(&s);

    /* Same rows, same partition bounds, same strategy. */
    char qa[256], qb[256];
    snprintf(qa, sizeof qa, "public.%s", table);
    snprintf(qb, sizeof qb, "parts.%s", table);
    static const char *const ev[] = {"id", "d"};
    static const char *const evl[] = {"id", "region", "v"};
    bool list = strcmp(table, "events") == 0;
    compare_columns(a, qa, b, qb, list ? evl : ev, list ? evl : ev, list ? 3 : 2, total);
    char q[1024];
    snprintf(q, sizeof q,
             "SELECT pg_get_partkeydef('%s'::regclass) || ': ' || string_agg(pg_get_expr("
             "c.relpartbound, c.oid), ' | ' ORDER BY pg_get_expr(c.relpartbound, c.oid)) FROM "
             "pg_inherits i JOIN pg_class c ON"
             " c.oid = i.inhrelid WHERE i.inhparent = '%s'::regclass",
             qa, qa);
    char *sa = db_text(a, q);
    snprintf(q, sizeof q,
             "SELECT pg_get_partkeydef('%s'::regclass) || ': ' || string_agg(pg_get_expr("
             "c.relpartbound, c.oid), ' | ' ORDER BY pg_get_expr(c.relpartbound, c.oid)) FROM "
             "pg_inherits i JOIN pg_class c ON"
             " c.oid = i.inhrelid WHERE i.inhparent = '%s'::regclass",
             qb, qb);
    char *sb = db_text(b, q);
    assert_string_equal(sa, sb);
    free(sa);
    free(sb);
}

static void test_partitioned_pg_to_pg(void **state)
{
    (void)state;
    struct conn *src = open_src();
    struct conn *dst = open_dst(ops, dest_url);
    struct mms_err err = {0};
    PGconn *a = db_open(src_ci), *b = db_open(dst_ci);
    struct conn_target te = {DST_PROJECT, "parts", "events"};
    struct conn_target tm = {DST_PROJECT, "parts", "measures"};
    copy_partitioned(src, "events", dst, &te, a, b);
    copy_partitioned(src, "measures", dst, &tm, a, b);
    assert_int_equal(db_int(b, "SELECT count(*) FROM parts.events"), 600);
    assert_int_equal(db_int(b, "SELECT count(*) FROM parts.measures"), 51);

    /* Rows change in one source partition: re-copying that partition replaces it alone. */
    db_exec(a, "UPDATE events SET v = v || ' changed' WHERE region = 'eu'");
    db_exec(b, "UPDATE parts.events SET v = 'dest edit' WHERE region = 'us'");
    assert_int_equal(copy_part(src, "public", "events", "region=eu", dst, &te), 100);
    assert_int_equal(db_int(b, "SELECT count(*) FROM parts.events WHERE v LIKE '% changed'"), 100);
    assert_int_equal(db_int(b, "SELECT count(*) FROM parts.events WHERE v = 'dest edit'"), 100);
    assert_int_equal(db_int(b, "SELECT count(*) FROM parts.events"), 600);
    assert_int_equal(db_int(b, "SELECT count(*) FROM pg_inherits WHERE inhparent ="
                               " 'parts.events'::regclass"),
                     5);
    assert_int_equal(db_int(b, "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_\\_mms%'"), 0);
    db_exec(a, "UPDATE events SET v = replace(v, ' changed', '') WHERE region = 'eu'");

    /* Reading one partition back through read_dest_open. */
    struct conn_schema s = {0};
    struct conn_reader *r = NULL;
    assert_int_equal(ops->table_schema(src, "public", "events", &s, &err), 0);
    assert_int_equal(ops->read_dest_open(dst, &te, "FOR VALUES IN ('x', 'y')", &s, &r, &err), 0);
    struct conn_checksum cd = sum_reader(ops, r, s.ncols);
    ops->read_close(r);
    assert_int_equal(cd.rows, 200);

    /* Bounds that are not plain bounds are refused, and so is a plain destination table. */
    static const char *const bad[] = {
        "FOR VALUES IN (pg_sleep(1))",
        "FOR VALUES IN ('a'); DROP TABLE x",
        "FOR VALUES IN (1) --",
        "FOR VALUES IN (\"x\")",
        "other=eu",
        "region=eu/x=1",
    };
    struct conn_writer *w = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ops->write_begin(dst, &te, bad[i], &s, &w, &err), -1);
        assert_string_equal(err.code, "ConnectorError.Unsupported");
    }
    struct conn_target tp = {DST_PROJECT, DST_SCH, "events"}; /* replaced whole: plain */
    assert_int_equal(ops->write_begin(dst, &tp, "region=eu", &s, &w, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Unsupported");
    assert_non_null(strstr(err.msg, "not partitioned"));
    conn_schema_release(&s);

    PQfinish(a);
    PQfinish(b);
    ops->close(src);
    ops->close(dst);
}

/* ---- tests: SQLite <-> PG --------------------------------------------------------------- */

static void sq_exec(sqlite3 *h, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("sqlite: %s in %s", msg, sql);
}

static void test_sqlite_to_pg(void **state)
{
    (void)state;
    char path[700];
    snprintf(path, sizeof path, "%s/src.db", tmpdir);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    sq_exec(h, "CREATE TABLE \"n\xc3\xa4sty \"\"t\"\" `x`.;\" (id INTEGER, r REAL, tx TEXT,"
               " b BLOB, flag BOOLEAN, \"We\"\"ird Col\" VARCHAR(10));"
               "INSERT INTO \"n\xc3\xa4sty \"\"t\"\" `x`.;\" VALUES"
               " (-9223372036854775808, -0.0, 'tab\there' || char(10) || 'nl \\ back', x'00ff',"
               "  1, 'x'),"
               " (9223372036854775807, 1e308, '\xf0\x9f\x98\x80 \xc3\xbc', x'', 0, NULL),"
               " (0, 5e-324, '', NULL, NULL, '\\N'),"
               " (1, 0.30000000000000004, '\\.', x'5c2e0a', 1, ''),"
               " (NULL, NULL, NULL, NULL, NULL, NULL);"
               "CREATE TABLE bad (id INTEGER, v INTEGER);"
               "INSERT INTO bad VALUES (1, 5), (2, 'abc');"
               "CREATE TABLE nul (id INTEGER, v TEXT);"
               "INSERT INTO nul VALUES (1, 'a' || char(0) || 'b');");
    sqlite3_close(h);

    struct conn *src = NULL;
    struct mms_err err = {0};
    json_t *cfg = json_pack("{s:s}", "sqlite.path", path);
    assert_int_equal(conn_sqlite_ops.open_source(&src, cfg, &err), 0);
    json_decref(cfg);
    struct conn *dst = open_dst(ops, dest_url);
    const char *table = "n\xc3\xa4sty \"t\" `x`.;";
    struct conn_target t = {DST_PROJECT, NULL, table};
    assert_int_equal(copy_table(&conn_sqlite_ops, src, "main", table, ops, dst, &t, 2, 1 << 20), 5);

    /* Independent read. */
    PGconn *b = db_open(dst_ci);
    PGresult *res = db_query(b, "SELECT id::text, r::text, tx, encode(b, 'hex'), flag::text,"
                                " \"We\"\"ird Col\", format_type(atttypid, atttypmod)"
                                " FROM public.\"n\xc3\xa4sty \"\"t\"\" `x`.;\""
                                " LEFT JOIN pg_attribute ON attrelid = 'public.\"n\xc3\xa4sty"
                                " \"\"t\"\" `x`.;\"'::regclass AND attname = 'r'"
                                " ORDER BY id NULLS LAST");
    assert_int_equal(PQntuples(res), 5);
    assert_string_equal(PQgetvalue(res, 0, 0), "-9223372036854775808");
    /* SQLite stores a whole REAL as an integer on disk: its -0.0 reads back as 0.0 */
    assert_string_equal(PQgetvalue(res, 0, 1), "0");
    assert_string_equal(PQgetvalue(res, 0, 2), "tab\there\nnl \\ back");
    assert_string_equal(PQgetvalue(res, 0, 3), "00ff");
    assert_string_equal(PQgetvalue(res, 0, 4), "true");
    assert_string_equal(PQgetvalue(res, 0, 6), "double precision");
    assert_string_equal(PQgetvalue(res, 1, 0), "0");
    assert_string_equal(PQgetvalue(res, 1, 1), "5e-324");
    assert_true(PQgetisnull(res, 1, 3));
    assert_string_equal(PQgetvalue(res, 1, 5), "\\N");
    assert_string_equal(PQgetvalue(res, 2, 1), "0.30000000000000004");
    assert_string_equal(PQgetvalue(res, 2, 2), "\\.");
    assert_string_equal(PQgetvalue(res, 2, 3), "5c2e0a");
    assert_string_equal(PQgetvalue(res, 3, 1), "1e+308");
    assert_string_equal(PQgetvalue(res, 3, 2), "\xf0\x9f\x98\x80 \xc3\xbc");
    assert_string_equal(PQgetvalue(res, 3, 3), "");
    assert_false(PQgetisnull(res, 3, 3));
    assert_string_equal(PQgetvalue(res, 3, 4), "false");
    assert_true(PQgetisnull(res, 4, 0) && PQgetisnull(res, 4, 2));
    PQclear(res);
    PQfinish(b);

    /* Checksums agree: integers, doubles, text, blobs and booleans have the same kinds and
     * bytes on both sides. */
    struct conn_schema s = {0};
    struct conn_reader *r = NULL;
    assert_int_equal(conn_sqlite_ops.table_schema(src, "main", table, &s, &err), 0);
    assert_int_equal(conn_sqlite_ops.read_open(src, "main", table, NULL, &s, &r, &err), 0);
    struct conn_checksum cs = sum_reader(&conn_sqlite_ops, r, s.ncols);
    conn_sqlite_ops.read_close(r);
    assert_int_equal(ops->read_dest_open(dst, &t, NULL, &s, &r, &err), 0);
    struct conn_checksum cd = sum_reader(ops, r, s.ncols);
    ops->read_close(r);
    assert_sums_equal(cs, cd);
    conn_schema_release(&s);

    /* Values the destination cannot hold: ConnectorError.Value naming table, column, value. */
    struct conn_target tb = {DST_PROJECT, NULL, "bad"};
    struct conn_reader *rb = NULL;
    struct conn_writer *w = NULL;
    struct rowbatch batch;
    for (int k = 0; k < 2; k++) {
        const char *name = k ? "nul" : "bad";
        tb.table = name;
        assert_int_equal(conn_sqlite_ops.table_schema(src, "main", name, &s, &err), 0);
        assert_int_equal(ops->create_table(dst, &tb, &s, NULL, &err), 0);
        assert_int_equal(conn_sqlite_ops.read_open(src, "main", name, NULL, &s, &rb, &err), 0);
        assert_int_equal(ops->write_begin(dst, &tb, NULL, &s, &w, &err), 0);
        rowbatch_init(&batch, s.ncols, 100, 1 << 20);
        assert_int_equal(conn_sqlite_ops.read_next(rb, &batch, &err), 0);
        int rc = ops->write_batch(w, &batch, &err);
        if (rc == 0)
            rc = ops->write_commit(w, &err);
        else
            ops->write_abort(w);
        assert_int_equal(rc, -1);
        assert_string_equal(err.code, "ConnectorError.Value");
        assert_non_null(strstr(err.msg, name));
        assert_non_null(strstr(err.msg, k ? "\"v\"" : "column v"));
        assert_non_null(strstr(err.msg, k ? "a\\x00b" : "abc"));
        rowbatch_release(&batch);
        conn_sqlite_ops.read_close(rb);
        conn_schema_release(&s);
    }
    b = db_open(dst_ci);
    assert_int_equal(db_int(b, "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_\\_mms%'"), 0);
    assert_int_equal(db_int(b, "SELECT count(*) FROM public.bad"), 0);
    PQfinish(b);

    conn_sqlite_ops.close(src);
    ops->close(dst);
}

static void test_pg_to_sqlite(void **state)
{
    (void)state;
    struct conn *src = open_src();
    struct conn *dst = open_dst(&conn_sqlite_ops, sqlite_url);
    struct mms_err err = {0};
    struct conn_target t = {"proj", NULL, "pl\xc3\xa4in \"x\""};
    assert_int_equal(copy_table(ops, src, "public", "plain", &conn_sqlite_ops, dst, &t, 3, 1 << 20),
                     4);

    /* Independent read of the SQLite file. */
    char path[700];
    snprintf(path, sizeof path, "%s/proj.db", sqlite_dir);
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT id, f8, tx, by, bo, d, tstz, i4 FROM"
                                        " \"pl\xc3\xa4in \"\"x\"\"\" ORDER BY id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    double d = sqlite3_column_double(st, 1);
    assert_true(d == 0); /* SQLite keeps no -0.0 (a whole REAL is stored as an integer) */
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "a\tb\nc\\");
    assert_int_equal(sqlite3_column_type(st, 3), SQLITE_BLOB);
    assert_int_equal(sqlite3_column_bytes(st, 3), 1);
    assert_int_equal(sqlite3_column_int(st, 4), 1);
    assert_string_equal((const char *)sqlite3_column_text(st, 5), "2024-01-02");
    assert_string_equal((const char *)sqlite3_column_text(st, 6), "2024-01-02 01:04:05.25");
    assert_int_equal(sqlite3_column_int(st, 7), -5);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_true(sqlite3_column_double(st, 1) == 5e-324);
    assert_int_equal(sqlite3_column_type(st, 3), SQLITE_BLOB);
    assert_int_equal(sqlite3_column_bytes(st, 3), 0);
    assert_int_equal(sqlite3_column_int(st, 4), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_type(st, 1), SQLITE_NULL);
    assert_string_equal((const char *)sqlite3_column_text(st, 6), "1970-01-01 00:00:00");
    assert_int_equal(sqlite3_column_int(st, 7), INT32_MAX);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_true(isinf(sqlite3_column_double(st, 1)));
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(h);

    /* Checksums agree. */
    struct conn_schema s = {0};
    struct conn_reader *r = NULL;
    assert_int_equal(ops->table_schema(src, "public", "plain", &s, &err), 0);
    assert_int_equal(ops->read_open(src, "public", "plain", NULL, &s, &r, &err), 0);
    struct conn_checksum cs = sum_reader(ops, r, s.ncols);
    ops->read_close(r);
    assert_int_equal(conn_sqlite_ops.read_dest_open(dst, &t, NULL, &s, &r, &err), 0);
    struct conn_checksum cd = sum_reader(&conn_sqlite_ops, r, s.ncols);
    conn_sqlite_ops.read_close(r);
    assert_sums_equal(cs, cd);
    conn_schema_release(&s);
    ops->close(src);
    conn_sqlite_ops.close(dst);
}

/* ---- tests: atomic replace -------------------------------------------------------------- */

static void test_crash_before_commit(void **state)
{
    (void)state;
    struct conn *src = open_src();
    struct conn *dst = open_dst(ops, dest_url);
    struct conn_target t = {DST_PROJECT, "crash", "plain"};
    assert_int_equal(copy_table(ops, src, "public", "plain", ops, dst, &t, 100, 1 << 20), 4);

    /* A writer that dies with rows staged (the whole events table) and no commit. */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct mms_err err = {0};
        struct conn_schema s = {0};
        struct conn_reader *r = NULL;
        struct conn_writer *w = NULL;
        struct rowbatch b;
        if (ops->table_schema(src, "public", "plain", &s, &err) != 0 ||
            ops->read_open(src, "public", "plain", NULL, &s, &r, &err) != 0 ||
            ops->write_begin(dst, &t, NULL, &s, &w, &err) != 0)
            _exit(3);
        rowbatch_init(&b, s.ncols, 100, 1 << 20);
        if (ops->read_next(r, &b, &err) != 0 || ops->write_batch(w, &b, &err) != 0)
            _exit(4);
        kill(getpid(), SIGKILL);
        _exit(5);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    PGconn *b = db_open(dst_ci);
    assert_int_equal(db_int(b, "SELECT count(*) FROM crash.plain"), 4);
    /* the staging table exists (created before the COPY) but the target is untouched */
    assert_int_equal(db_int(b, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON"
                               " n.oid = c.relnamespace WHERE nspname = 'crash' AND relname ="
                               " '__mms_stage_plain'"),
                     1);
    db_exec(b, "UPDATE crash.plain SET tx = 'old' WHERE id = 1");
    PQfinish(b);

    /* An aborted writer leaves the old table too, and drops the staging leftover. */
    struct mms_err err = {0};
    struct conn_schema s = {0};
    struct conn_writer *w = NULL;
    assert_int_equal(ops->table_schema(src, "public", "plain", &s, &err), 0);
    assert_int_equal(ops->write_begin(dst, &t, NULL, &s, &w, &err), 0);
    ops->write_abort(w);
    b = db_open(dst_ci);
    char *v = db_text(b, "SELECT tx FROM crash.plain WHERE id = 1");
    assert_string_equal(v, "old");
    free(v);
    assert_int_equal(db_int(b, "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_\\_mms%'"), 0);
    PQfinish(b);

    /* A complete write replaces it. */
    assert_int_equal(copy_table(ops, src, "public", "plain", ops, dst, &t, 100, 1 << 20), 4);
    b = db_open(dst_ci);
    v = db_text(b, "SELECT tx FROM crash.plain WHERE id = 1");
    assert_string_equal(v, "a\tb\nc\\");
    free(v);
    PQfinish(b);

    /* A table of the same name with other columns is a schema mismatch. */
    struct conn_target tm = {DST_PROJECT, "crash", "plain"};
    struct conn_schema other = {0};
    assert_int_equal(ops->table_schema(src, "public", "events", &other, &err), 0);
    assert_int_equal(ops->create_table(dst, &tm, &other, NULL, &err), -1);
    assert_string_equal(err.code, "ConnectorError.SchemaMismatch");
    conn_schema_release(&other);
    conn_schema_release(&s);
    ops->close(src);
    ops->close(dst);
}

/* ---- tests: configuration --------------------------------------------------------------- */

static void test_config_errors(void **state)
{
    (void)state;
    struct conn *c = NULL;
    struct mms_err err = {0};
    assert_int_equal(ops->open_dest(&c, "mysql://x@y/", &err), -1);
    assert_string_equal(err.code, "ConnectorError.Config");
    assert_int_equal(ops->open_dest(&c, "postgresql://h/?nosuchparam=1", &err), -1);
    assert_string_equal(err.code, "ConnectorError.Config");

    json_t *cfg =
        json_pack("{s:s, s:i, s:s, s:s, s:i}", "pg.host", "127.0.0.1", "pg.port", 1, "pg.user",
                  "postgres", "pg.password", "secret-pw", "pg.connect_timeout", 2);
    assert_int_equal(ops->open_source(&c, cfg, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Connect");
    assert_null(strstr(err.msg, "secret-pw"));
    json_decref(cfg);
    cfg = json_pack("{s:s, s:i, s:s, s:s}", "pg.host", "127.0.0.1", "pg.port", pg_port, "pg.user",
                    "postgres", "pg.database", "no_such_db");
    assert_int_equal(ops->open_source(&c, cfg, &err), -1);
    assert_string_equal(err.code, "ConnectorError.NotFound");
    json_decref(cfg);

    /* A destination opens lazily; ping connects. Reading a missing project is NotFound. */
    c = open_dst(ops, dest_url);
    assert_int_equal(ops->ping(c, &err), 0);
    struct conn_target t = {"no_such_project", NULL, "x"};
    int64_t n;
    assert_int_equal(ops->count_dest(c, &t, NULL, &n, NULL, &err), -1);
    assert_string_equal(err.code, "ConnectorError.NotFound");
    ops->close(c);

    /* The registry knows the type and the URL scheme. */
    assert_ptr_equal(conn_find("POSTGRESQL"), ops);
    assert_ptr_equal(conn_find_scheme(dest_url), ops);
}

/* ---- tests: change detection ------------------------------------------------------------ */

struct counts {
    int64_t table;       /* change_count of table "cc" */
    int64_t part[2];     /* of partitions k=a, k=b */
};

static int count_table(void *ctx, const struct conn_table_info *t)
{
    struct counts *s = ctx;
    if (strcmp(t->name, "cc") == 0)
        s->table = t->change_count;
    return 0;
}

static int count_part(void *ctx, const struct conn_partition_info *p)
{
    struct counts *s = ctx;
    if (strcmp(p->value, "k=a") == 0)
        s->part[0] = p->change_count;
    else if (strcmp(p->value, "k=b") == 0)
        s->part[1] = p->change_count;
    return 0;
}

static void read_counts(struct conn *c, struct counts *out)
{
    struct mms_err err = {0};
    memset(out, 0, sizeof *out);
    assert_int_equal(ops->list_tables(c, "public", count_table, out, &err), 0);
    assert_int_equal(ops->list_partitions(c, "public", "cc", count_part, out, &err), 0);
}

/* The statistics views are updated asynchronously (a backend publishes its counts when idle,
 * at most once a second): force the flush, then poll briefly until the counter moved. */
static void test_change_count(void **state)
{
    (void)state;
    PGconn *pg = db_open(src_ci);
    db_exec(pg, "CREATE TABLE cc (id int8, k text, v text) PARTITION BY LIST (k);"
                "CREATE TABLE cc_a PARTITION OF cc FOR VALUES IN ('a');"
                "CREATE TABLE cc_b PARTITION OF cc FOR VALUES IN ('b');"
                "INSERT INTO cc SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, 'v'"
                " FROM generate_series(1, 100) g");
    db_exec(pg, "SELECT pg_stat_force_next_flush()");
    struct conn *c = open_src();
    struct counts before, after;
    for (int i = 0; i < 50; i++) {
        read_counts(c, &before);
        if (before.table == 100)
            break;
        usleep(100 * 1000);
    }
    assert_int_equal(before.part[0], 50); /* 50 inserted rows each */
    assert_int_equal(before.part[1], 50);
    assert_int_equal(before.table, 100);

    db_exec(pg, "UPDATE cc SET v = 'w' WHERE k = 'a' AND id <= 20"); /* 10 rows of k=a */
    db_exec(pg, "SELECT pg_stat_force_next_flush()");
    for (int i = 0; i < 50; i++) {
        read_counts(c, &after);
        if (after.table != before.table)
            break;
        usleep(100 * 1000);
    }
    assert_int_equal(after.part[0], before.part[0] + 10);
    assert_int_equal(after.part[1], before.part[1]); /* the other partition did not move */
    assert_int_equal(after.table, before.table + 10);

    /* A DELETE counts too; reading does not move the counter. */
    db_exec(pg, "DELETE FROM cc_b WHERE id = 1");
    db_exec(pg, "SELECT pg_stat_force_next_flush()");
    for (int i = 0; i < 50; i++) {
        read_counts(c, &before);
        if (before.table != after.table)
            break;
        usleep(100 * 1000);
    }
    assert_int_equal(before.part[1], after.part[1] + 1);
    assert_int_equal(before.table, after.table + 1);
    int64_t n = 0;
    char *sql = NULL;
    struct mms_err err = {0};
    assert_int_equal(ops->count_source(c, "public", "cc", "k=a", &n, &sql, &err), 0);
    free(sql);
    read_counts(c, &after);
    assert_int_equal(after.table, before.table);
    ops->close(c);
    db_exec(pg, "DROP TABLE cc");
    PQfinish(pg);
}

/* ---- parallel copy: block-range slices under one snapshot, joined writers ---------------- */

#define PAR_ROWS 20000

/* Reads every row of r into w; returns the number of rows. */
static int64_t pump(struct conn_reader *r, struct conn_writer *w, size_t ncols)
{
    struct mms_err err = {0};
    struct rowbatch b;
    int64_t n = 0;
    rowbatch_init(&b, ncols, 500, 1 << 20);
    for (;;) {
        if (ops->read_next(r, &b, &err) != 0)
            fail_msg("read_next: %s %s", err.code, err.msg);
        if (b.nrows == 0)
            break;
        n += (int64_t)b.nrows;
        if (ops->write_batch(w, &b, &err) != 0)
            fail_msg("write_batch: %s %s", err.code, err.msg);
    }
    rowbatch_release(&b);
    return n;
}

static void test_parallel_slices(void **state)
{
    (void)state;
    PGconn *a = db_open(src_ci);
    db_exec(a, "DROP TABLE IF EXISTS public.par; CREATE TABLE public.par (id int PRIMARY KEY,"
               " pad text NOT NULL); INSERT INTO public.par SELECT g, repeat('x', 100) FROM"
               " generate_series(1, 20000) g");
    struct conn *src = open_src();
    struct conn *dst = open_dst(ops, dest_url);
    struct mms_err err = {0};
    struct conn_schema s = {0};
    struct conn_target t = {DST_PROJECT, "par", "par"};
    char *key = NULL, *sql = NULL;
    int64_t kmin = -1, kmax = -1;
    assert_int_equal(ops->table_schema(src, "public", "par", &s, &err), 0);
    assert_int_equal(ops->create_table(dst, &t, &s, &sql, &err), 0);
    free(sql);

    /* A one-block table is not worth splitting. */
    assert_int_equal(ops->key_range(src, "public", "plain", NULL, &s, &key, &kmin, &kmax, &err), 1);
    assert_null(key);
    assert_int_equal(ops->key_range(src, "public", "par", NULL, &s, &key, &kmin, &kmax, &err), 0);
    assert_string_equal(key, "ctid");
    assert_int_equal(kmin, 0);
    assert_true(kmax > 100); /* 20000 rows of ~130 bytes: about 340 blocks of 8 kB */

    /* Rows change after the snapshot: every slice must still see the rows as they were (an
     * UPDATE writes new versions into the last blocks; without one shared snapshot the last
     * slice would read them as well, duplicating 5000 rows). */
    db_exec(a, "UPDATE public.par SET pad = 'new' WHERE id % 4 = 0");

    struct conn_writer *w[3] = {0};
    struct conn_reader *r[3] = {0};
    assert_int_equal(ops->write_begin(dst, &t, NULL, &s, &w[0], &err), 0);
    for (int i = 1; i < 3; i++)
        if (ops->write_join(w[0], &w[i], &err) != 0)
            fail_msg("write_join: %s %s", err.code, err.msg);
    uint64_t span = (uint64_t)(kmax - kmin + 1);
    for (int i = 0; i < 3; i++) {
        struct conn_slice sl = {.key = key,
                                .has_lo = i > 0,
                                .has_hi = i < 2,
                                .lo = kmin + (int64_t)(span * (uint64_t)i / 3),
                                .hi = kmin + (int64_t)(span * (uint64_t)(i + 1) / 3)};
        if (ops->read_open_slice(src, "public", "par", NULL, &s, &sl, &r[i], &err) != 0)
            fail_msg("read_open_slice: %s %s", err.code, err.msg);
    }
    /* Written in the reverse order, each on its own connection. */
    int64_t total = 0, each[3];
    for (int i = 2; i >= 0; i--) {
        each[i] = pump(r[i], w[i], s.ncols);
        total += each[i];
        ops->read_close(r[i]);
    }
    assert_int_equal(total, PAR_ROWS);
    for (int i = 0; i < 3; i++)
        assert_true(each[i] > 3000); /* ranges of equal size on disk */
    /* Nothing is visible before the primary's commit; joined commits only end their streams. */
    PGconn *b = db_open(dst_ci);
    assert_int_equal(db_int(b, "SELECT count(*) FROM par.par"), 0);
    for (int i = 1; i < 3; i++)
        assert_int_equal(ops->write_commit(w[i], &err), 0);
    assert_int_equal(db_int(b, "SELECT count(*) FROM par.par"), 0);
    assert_int_equal(ops->write_commit(w[0], &err), 0);
    assert_int_equal(db_int(b, "SELECT count(*) FROM par.par"), PAR_ROWS);
    assert_int_equal(db_int(b, "SELECT count(DISTINCT id) FROM par.par"), PAR_ROWS);
    assert_int_equal(db_int(b, "SELECT count(*) FROM par.par WHERE pad = 'new'"), 0);

    /* An abort of joined streams and then the primary leaves the table as it was and drops
     * the staging table. */
    free(key);
    key = NULL;
    assert_int_equal(ops->key_range(src, "public", "par", NULL, &s, &key, &kmin, &kmax, &err), 0);
    assert_int_equal(ops->write_begin(dst, &t, NULL, &s, &w[0], &err), 0);
    assert_int_equal(ops->write_join(w[0], &w[1], &err), 0);
    struct conn_slice all = {.key = key};
    assert_int_equal(ops->read_open_slice(src, "public", "par", NULL, &s, &all, &r[0], &err), 0);
    assert_int_equal(pump(r[0], w[1], s.ncols), PAR_ROWS); /* the updated rows now */
    ops->read_close(r[0]);
    ops->write_abort(w[1]);
    ops->write_abort(w[0]);
    assert_int_equal(db_int(b, "SELECT count(*) FROM par.par WHERE pad = 'new'"), 0);
    assert_int_equal(db_int(b, "SELECT count(*) FROM pg_class WHERE relname = '__mms_stage_par'"),
                     0);
    /* A slice without a prepared snapshot is refused. */
    assert_int_equal(ops->read_open_slice(src, "public", "par", NULL, &s, &all, &r[0], &err), -1);
    assert_string_equal(err.code, "ConnectorError.Internal");

    PQfinish(b);
    PQfinish(a);
    free(key);
    conn_schema_release(&s);
    ops->close(src);
    ops->close(dst);
}

/* ---- raw copy: binary COPY passed through ---------------------------------------------- */

static void test_raw_copy(void **state)
{
    (void)state;
    PGconn *a = db_open(src_ci);
    db_exec(a, "DROP TABLE IF EXISTS public.rawt; CREATE TABLE public.rawt (id int PRIMARY KEY,"
               " f float8, n numeric(10,3), t timestamptz, b bytea, j jsonb, x text);"
               " INSERT INTO public.rawt SELECT g, g / 7.0, g * 1.125, timestamptz"
               " '2024-02-29 12:00:00+00' + g * interval '1 minute', decode(md5(g::text), 'hex'),"
               " jsonb_build_object('k', g, 's', 'a\"b'), CASE WHEN g % 3 = 0 THEN NULL ELSE"
               " repeat('z', g % 50) END FROM generate_series(1, 1000) g;"
               " INSERT INTO public.rawt VALUES (0, 'NaN', NULL, NULL, '', 'null', '')");
    struct conn *src = open_src();
    struct conn *dst = open_dst(ops, dest_url);
    struct mms_err err = {0};
    struct conn_schema s = {0};
    struct conn_target t = {DST_PROJECT, "raw", "rawt"};
    struct conn_writer *w = NULL;
    struct conn_reader *r = NULL;
    char *sql = NULL;
    assert_int_equal(ops->table_schema(src, "public", "rawt", &s, &err), 0);
    assert_int_equal(ops->create_table(dst, &t, &s, &sql, &err), 0);
    free(sql);

    /* A writer in text format cannot take binary rows: declined, nothing opened. */
    setenv("MMS_PG_COPY_FORMAT", "text", 1);
    assert_int_equal(ops->write_begin(dst, &t, NULL, &s, &w, &err), 0);
    unsetenv("MMS_PG_COPY_FORMAT");
    assert_int_equal(ops->raw_open(src, "public", "rawt", NULL, &s, NULL, w, &r, &err), 1);
    assert_null(r);
    ops->write_abort(w);

    assert_int_equal(ops->write_begin(dst, &t, NULL, &s, &w, &err), 0);
    if (ops->raw_open(src, "public", "rawt", NULL, &s, NULL, w, &r, &err) != 0)
        fail_msg("raw_open: %s %s", err.code, err.msg);
    assert_non_null(strstr(ops->reader_sql(r), "(FORMAT binary)"));
    int64_t total = 0, bytes = 0, calls = 0;
    for (;;) {
        int64_t n = -1, nb = -1;
        if (ops->raw_next(r, 7, 1 << 20, &n, &nb, &err) != 0)
            fail_msg("raw_next: %s %s", err.code, err.msg);
        if (n == 0)
            break;
        assert_true(n <= 7); /* at most about max_rows per call */
        total += n;
        bytes += nb;
        calls++;
    }
    ops->read_close(r);
    assert_int_equal(total, 1001);
    assert_true(calls >= 1001 / 7);
    assert_true(bytes > 1001 * 40);
    assert_int_equal(ops->write_commit(w, &err), 0);

    /* Every value identical, compared by the server on both sides. */
    PGconn *b = db_open(dst_ci);
    static const char digest[] =
        "SELECT md5(string_agg(concat_ws('|', id, f, n, t, encode(b, 'hex'), j, coalesce(x,"
        " '<null>')), ',' ORDER BY id)) FROM %s";
    char q1[256], q2[256];
    snprintf(q1, sizeof q1, digest, "public.rawt");
    snprintf(q2, sizeof q2, digest, "raw.rawt");
    char *da = db_text(a, q1), *db = db_text(b, q2);
    assert_non_null(da);
    assert_string_equal(da, db);
    free(da);
    free(db);
    assert_int_equal(db_int(b, "SELECT count(*) FROM raw.rawt WHERE f = 'NaN'"), 1);
    PQfinish(a);
    PQfinish(b);
    conn_schema_release(&s);
    ops->close(src);
    ops->close(dst);
}

static int group_setup(void **state)
{
    (void)state;
    if (start_server() != 0)
        return -1;
    make_fixture();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_server();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog),
        cmocka_unit_test(test_partitions),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_pg_to_pg),
        cmocka_unit_test(test_partitioned_pg_to_pg),
        cmocka_unit_test(test_sqlite_to_pg),
        cmocka_unit_test(test_pg_to_sqlite),
        cmocka_unit_test(test_crash_before_commit),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_change_count),
        cmocka_unit_test(test_parallel_slices),
        cmocka_unit_test(test_raw_copy),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
