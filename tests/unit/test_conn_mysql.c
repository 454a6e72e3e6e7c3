/* The MySQL connector against a private MariaDB server started with scripts/testdb.sh in a
 * mkdtemp() folder (stopped at the end, also when the program dies: a watchdog child stops it
 * when our end of a pipe closes). Catalog, exact MySQL -> MySQL copies checked by plain
 * libmariadb SELECTs of HEX()/exact text of every value, SQLite <-> MySQL copies with checksums,
 * atomic replace, and values the destination cannot hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <mysql.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "conn/checksum.h"
#include "conn/conn.h"

static const struct conn_ops *ops = &conn_mysql_ops;
static char tmpdir[] = "/tmp/mms_conn_mysql_XXXXXX";
static unsigned port;
static char dest_url[256];
static char sqlite_dir[600];
static bool server_up;

#define SRC_DB "src db`\xc3\xbc"                      /* "src db`ü" */
#define SRC_DB_Q "`src db``\xc3\xbc`"
#define NASTY "ta`ble \"q\" 'x'; d.ot \xc3\xbc"       /* a table name */
#define NASTY_Q "`ta``ble \"q\" 'x'; d.ot \xc3\xbc`"
#define NASTY_COL "co`l \"q\" ;.' \xc3\xbc"
#define NASTY_COL_Q "`co``l \"q\" ;.' \xc3\xbc`"
#define DST_DB "dst`db \xc3\xa9"
#define DST_DB_Q "`dst``db \xc3\xa9`"

/* ---- plain libmariadb helpers ----------------------------------------------------------- */

static MYSQL *db_open(void)
{
    MYSQL *h = mysql_init(NULL);
    assert_non_null(h);
    mysql_options(h, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(h, "127.0.0.1", "mms", "mms", NULL, port, NULL, 0)) {
        fprintf(stderr, "connect: %s\n", mysql_error(h));
        fail();
    }
    assert_int_equal(mysql_query(h, "SET time_zone = '+00:00'"), 0);
    return h;
}

static void db_exec(MYSQL *h, const char *sql)
{
    if (mysql_real_query(h, sql, (unsigned long)strlen(sql)) != 0) {
        fprintf(stderr, "exec failed: %s\n  in: %s\n", mysql_error(h), sql);
        fail();
    }
    MYSQL_RES *r = mysql_store_result(h);
    if (r)
        mysql_free_result(r);
}

static int64_t db_int(MYSQL *h, const char *sql)
{
    assert_int_equal(mysql_query(h, sql), 0);
    MYSQL_RES *r = mysql_store_result(h);
    assert_non_null(r);
    MYSQL_ROW row = mysql_fetch_row(r);
    assert_non_null(row);
    int64_t v = row[0] ? strtoll(row[0], NULL, 10) : -1;
    mysql_free_result(r);
    return v;
}

/* Every row of a query as one string: fields separated by '|', NULL as "\N", rows by '\n'. */
static char *db_dump(MYSQL *h, const char *sql)
{
    if (mysql_query(h, sql) != 0) {
        fprintf(stderr, "query failed: %s\n  in: %s\n", mysql_error(h), sql);
        fail();
    }
    MYSQL_RES *r = mysql_store_result(h);
    assert_non_null(r);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    unsigned nf = mysql_num_fields(r);
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r))) {
        unsigned long *l = mysql_fetch_lengths(r);
        for (unsigned i = 0; i < nf; i++) {
            size_t need = len + (row[i] ? l[i] : 2) + 4;
            if (need > cap) {
                cap = need * 2;
                out = realloc(out, cap);
            }
            if (i)
                out[len++] = '|';
            if (row[i]) {
                memcpy(out + len, row[i], l[i]);
                len += l[i];
            } else {
                memcpy(out + len, "\\N", 2);
                len += 2;
            }
        }
        out[len++] = '\n';
    }
    out[len] = '\0';
    mysql_free_result(r);
    return out;
}

/* ---- connector helpers ------------------------------------------------------------------ */

static struct conn *open_src(void)
{
    json_t *cfg = json_pack("{s:s, s:I, s:s, s:s}", "mysql.host", "127.0.0.1", "mysql.port",
                            (json_int_t)port, "mysql.user", "mms", "mysql.password", "mms");
    struct conn *c = NULL;
    struct mms_err err = {0};
    if (ops->open_source(&c, cfg, &err) != 0)
        fprintf(stderr, "open_source: %s %s\n", err.code, err.msg);
    json_decref(cfg);
    assert_non_null(c);
    return c;
}

static struct conn *open_dst(void)
{
    struct conn *c = NULL;
    struct mms_err err = {0};
    if (ops->open_dest(&c, dest_url, &err) != 0)
        fprintf(stderr, "open_dest: %s %s\n", err.code, err.msg);
    assert_non_null(c);
    return c;
}

/* Copies a table through a reader and a writer: create_table, write_begin, batches, commit.
 * Returns 0, or -1 with err (the writer aborted). */
static int copy_table(const struct conn_ops *so, struct conn *s, const char *db,
                      const char *table, const char *partition, const struct conn_schema *schema,
                      const struct conn_ops *dops, struct conn *d, const struct conn_target *t,
                      size_t max_rows, struct mms_err *err)
{
    struct conn_reader *r = NULL;
    struct conn_writer *w = NULL;
    struct rowbatch b;
    int rc = -1;
    rowbatch_init(&b, schema->ncols, max_rows, 1 << 20);
    if (dops->create_table(d, t, schema, NULL, err) < 0)
        goto out;
    if (so->read_open(s, db, table, partition, schema, &r, err) < 0)
        goto out;
    if (dops->write_begin(d, t, NULL, schema, &w, err) < 0)
        goto out;
    for (;;) {
        if (so->read_next(r, &b, err) < 0)
            goto out;
        if (b.nrows == 0)
            break;
        if (dops->write_batch(w, &b, err) < 0)
            goto out;
    }
    struct conn_writer *ww = w;
    w = NULL;
    if (dops->write_commit(ww, err) < 0)
        goto out;
    rc = 0;
out:
    if (w)
        dops->write_abort(w);
    if (r)
        so->read_close(r);
    rowbatch_release(&b);
    return rc;
}

static void checksum_src(const struct conn_ops *o, struct conn *c, const char *db,
                         const char *table, const struct conn_schema *schema,
                         struct conn_checksum *out)
{
    struct conn_reader *r = NULL;
    struct mms_err err = {0};
    struct rowbatch b;
    rowbatch_init(&b, schema->ncols, 100, 1 << 20);
    if (o->read_open(c, db, table, NULL, schema, &r, &err) != 0)
        fprintf(stderr, "read_open: %s\n", err.msg);
    assert_non_null(r);
    if (checksum_read(o, r, &b, out, &err) != 0)
        fprintf(stderr, "checksum_read: %s\n", err.msg);
    assert_string_equal(err.code, "");
    o->read_close(r);
    rowbatch_release(&b);
}

static void checksum_dst(const struct conn_ops *o, struct conn *c, const struct conn_target *t,
                         const struct conn_schema *schema, struct conn_checksum *out)
{
    struct conn_reader *r = NULL;
    struct mms_err err = {0};
    struct rowbatch b;
    rowbatch_init(&b, schema->ncols, 100, 1 << 20);
    if (o->read_dest_open(c, t, NULL, schema, &r, &err) != 0)
        fprintf(stderr, "read_dest_open: %s\n", err.msg);
    assert_non_null(r);
    assert_int_equal(checksum_read(o, r, &b, out, &err), 0);
    o->read_close(r);
    rowbatch_release(&b);
}

static void assert_checksums_equal(const struct conn_checksum *a, const struct conn_checksum *b)
{
    char x[80], y[80];
    checksum_format(a, x, sizeof x);
    checksum_format(b, y, sizeof y);
    assert_string_equal(x, y);
}

/* ---- fixture ---------------------------------------------------------------------------- */

/* Every column: name, declaration, expected canonical type, and the expression an independent
 * SELECT compares it with ("%s" = the quoted column): HEX() for bytes, exact text otherwise. */
struct fcol {
    const char *name;
    const char *decl;
    const char *canon;
    const char *cmp;
};

static const struct fcol fcols[] = {
    {"id", "INT NOT NULL PRIMARY KEY", "int32", "%s"},
    {"b", "TINYINT(1)", "bool", "%s"},
    {"i8", "TINYINT", "int8", "%s"},
    {"u8", "TINYINT UNSIGNED", "uint8", "%s"},
    {"i16", "SMALLINT", "int16", "%s"},
    {"u16", "SMALLINT UNSIGNED", "uint16", "%s"},
    {"i24", "MEDIUMINT", "int32", "%s"},
    {"u24", "MEDIUMINT UNSIGNED", "uint32", "%s"},
    {"i32", "INT", "int32", "%s"},
    {"u32", "INT UNSIGNED", "uint32", "%s"},
    {"i64", "BIGINT", "int64", "%s"},
    {"u64", "BIGINT UNSIGNED", "uint64", "%s"},
    {"dec1", "DECIMAL(65,30)", "decimal(65,30)", "%s"},
    {"dec2", "DECIMAL(10,2)", "decimal(10,2)", "%s"},
    {"f", "FLOAT", "float32", "CAST(%s AS DOUBLE)"},
    {"d", "DOUBLE", "float64", "%s"},
    {"c", "CHAR(10)", "char(10)", "HEX(%s)"},
    {"vc", "VARCHAR(100)", "varchar(100)", "HEX(%s)"},
    {"tx", "TEXT", "text", "HEX(%s)"},
    {"bn", "BINARY(4)", "binary(4)", "HEX(%s)"},
    {"vb", "VARBINARY(50)", "binary(50)", "HEX(%s)"},
    {"bl", "BLOB", "binary", "HEX(%s)"},
    {"dt", "DATE", "date", "%s"},
    {"tm", "TIME(6)", "time(6)", "%s"},
    {"dtm", "DATETIME(6)", "datetime(6)", "%s"},
    {"ts", "TIMESTAMP(6) NULL DEFAULT NULL", "timestamp(6)", "%s"},
    {"yr", "YEAR", "int16", "%s+0"},
    {"js", "JSON", "json", "HEX(%s)"},
    {"en", "ENUM('a','b c')", "varchar(3)", "HEX(%s)"},
    {"st", "SET('x','y')", "varchar(3)", "HEX(%s)"},
    {"bt", "BIT(12)", "uint64", "%s+0"},
    {"bt1", "BIT(1)", "bool", "%s+0"},
    {NASTY_COL, "VARCHAR(20)", "varchar(20)", "HEX(%s)"},
};
#define NFCOLS (sizeof fcols / sizeof fcols[0])

static const char *const frows[] = {
    "(1, 1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,"
    " -9223372036854775808, 18446744073709551615,"
    " '-12345678901234567890123456789012345.123456789012345678901234567890', '-99999999.99',"
    " 3.4028234e38, 0.30000000000000004e0, 'abc', 'say \"hi\" it''s',"
    " 'emoji \xf0\x9f\x98\x80 \xc3\xbc\\nline\\ttab', X'00010200', X'00ff00', X'000000',"
    " '1000-01-01', '-838:59:59', '1000-01-01 00:00:00', '1970-01-01 00:00:01', 1901,"
    " '{\"a\": [1, 2.5, \"x\"]}', 'b c', 'x,y', b'111111111111', b'1', 'n\xc3\xa4sty`''\";')",
    "(2, 0, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0,"
    " '0.000000000000000000000000000001', '0.00', 1.17549435e-38, 5e-324, '', '', '', X'', X'',"
    " X'', '9999-12-31', '838:59:59.999999', '9999-12-31 23:59:59.999999',"
    " '2038-01-19 03:14:07.999999', 2155, '[]', 'a', '', b'0', b'0', '')",
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL)",
    "(4, 1, 0, 1, 0, 1, 0, 1, 0, 1, -1, 9223372036854775808, '99999999999999999999999999999999999"
    ".999999999999999999999999999999', '12.50', 16777217, 2.2250738585072014e-308, ' x', 'x ',"
    " REPEAT('\xe2\x82\xac', 300), X'ff', X'61', X'00', '2024-02-29', '12:00:00.12',"
    " '2024-02-29 12:34:56.5', '2024-01-02 03:04:05.123456', 0, '{\"k\": \"\xf0\x9f\x98\x80\"}',"
    " 'b c', 'y', b'000000000001', b'0', NULL)",
    "(5, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, '0.5', '-0.01', 0.1, 0.1e0, 'q', 'v', 't', X'01',"
    " X'02', X'03', '2000-01-01', '00:00:00', '2000-01-01 00:00:00', '2000-01-01 00:00:00', 2000,"
    " 'null', 'a', 'x', b'0', b'1', 'x')",
    "(6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, '1', '1', -0.0, 1.7976931348623157e308, 'c', 'v', 't',"
    " X'01', X'02', X'03', '2000-01-01', '00:00:00', '2000-01-01 00:00:00',"
    " '2000-01-01 00:00:00', 2000, '1', 'a', 'x', b'0', b'1', 'x')",
};
#define NFROWS (sizeof frows / sizeof frows[0])

static void make_fixture(void)
{
    MYSQL *h = db_open();
    char sql[8192];
    db_exec(h, "CREATE DATABASE " SRC_DB_Q " CHARACTER SET utf8mb4");
    int n = snprintf(sql, sizeof sql, "CREATE TABLE " SRC_DB_Q "." NASTY_Q " (");
    for (size_t i = 0; i < NFCOLS; i++) {
        char q[128];
        size_t k = 0;
        q[k++] = '`';
        for (const char *p = fcols[i].name; *p; p++) {
            if (*p == '`')
                q[k++] = '`';
            q[k++] = *p;
        }
        q[k++] = '`';
        q[k] = '\0';
        n += snprintf(sql + n, sizeof sql - (size_t)n, "%s%s %s", i ? ", " : "", q,
                      fcols[i].decl);
    }
    snprintf(sql + n, sizeof sql - (size_t)n, ") CHARACTER SET utf8mb4");
    db_exec(h, sql);
    for (size_t i = 0; i < NFROWS; i++) {
        snprintf(sql, sizeof sql, "INSERT INTO " SRC_DB_Q "." NASTY_Q " VALUES %s", frows[i]);
        db_exec(h, sql);
    }
    /* a partitioned table */
    db_exec(h, "CREATE TABLE " SRC_DB_Q ".`parted` (id INT NOT NULL, v VARCHAR(10))"
               " PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (10),"
               " PARTITION `p 1` VALUES LESS THAN (20), PARTITION p2 VALUES LESS THAN MAXVALUE)");
    db_exec(h, "INSERT INTO " SRC_DB_Q ".`parted` VALUES (1,'a'),(2,'b'),(11,'c'),(12,'d'),"
               "(13,'e'),(25,'f')");
    /* zero dates, only possible with a lax sql_mode */
    db_exec(h, "SET SESSION sql_mode = ''");
    db_exec(h, "CREATE TABLE " SRC_DB_Q ".`zero` (id INT, d DATE, `dt x` DATETIME)");
    db_exec(h, "INSERT INTO " SRC_DB_Q ".`zero` VALUES (1, '2020-01-01', '2020-01-01 00:00:00'),"
               " (2, '0000-00-00', '2020-01-01 00:00:00')");
    /* canonical forms SQLite shares: int64, text, blob, double */
    db_exec(h, "CREATE TABLE " SRC_DB_Q ".`simple` (id BIGINT, name LONGTEXT, data LONGBLOB,"
               " x DOUBLE)");
    db_exec(h, "INSERT INTO " SRC_DB_Q ".`simple` VALUES (1, 'a\xf0\x9f\x98\x80', X'00ff00', 0.1),"
               " (2, '', X'', 5e-324), (3, NULL, NULL, NULL), (-9223372036854775808, 'x\\0y',"
               " X'0000', 1.7976931348623157e308)");
    /* a system-looking name the catalog must hide */
    db_exec(h, "CREATE TABLE " SRC_DB_Q ".`__mms_stage_x` (id INT)");
    mysql_close(h);
}

/* ---- server lifecycle ------------------------------------------------------------------- */

static int run_testdb(const char *cmd, char *out, size_t n)
{
    char line[1024];
    snprintf(line, sizeof line, "scripts/testdb.sh %s mysql '%s' 2>&1", cmd, tmpdir);
    FILE *p = popen(line, "r");
    if (!p)
        return -1;
    size_t len = out ? fread(out, 1, n - 1, p) : 0;
    if (out)
        out[len] = '\0';
    else
        while (fgets(line, sizeof line, p))
            ;
    return pclose(p) == 0 ? 0 : -1;
}

/* A child that stops the server and removes the folder once our end of the pipe closes,
 * however this program ends (a crash included). */
static void start_watchdog(void)
{
    int fds[2];
    /* close-on-exec: the server started through popen must not hold our end open */
    if (pipe2(fds, O_CLOEXEC) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[1]);
        char ch;
        while (read(fds[0], &ch, 1) > 0)
            ;
        run_testdb("stop", NULL, 0);
        if (!getenv("KEEP_TMP")) {
            char cmd[600];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
            if (system(cmd) != 0)
                _exit(1);
        }
        _exit(0);
    }
    close(fds[0]);
    /* fds[1] stays open in this process until it exits */
}

static int setup(void **state)
{
    (void)state;
    char out[4096];
    if (!mkdtemp(tmpdir))
        return -1;
    start_watchdog();
    if (run_testdb("start", out, sizeof out) != 0) {
        fprintf(stderr, "testdb.sh start failed:\n%s\n", out);
        return -1;
    }
    server_up = true;
    const char *p = strstr(out, "MYSQL_PORT=");
    if (!p)
        return -1;
    port = (unsigned)strtoul(p + 11, NULL, 10);
    snprintf(dest_url, sizeof dest_url, "mysql://mms:mms@127.0.0.1:%u/", port);
    snprintf(sqlite_dir, sizeof sqlite_dir, "%s/sqlite", tmpdir);
    make_fixture();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mysql_library_end();
    if (server_up)
        run_testdb("stop", NULL, 0);
    return 0; /* the watchdog removes the folder */
}

/* ---- tests ------------------------------------------------------------------------------ */

static int collect_db(void *ctx, const char *db)
{
    char *acc = ctx;
    strcat(acc, db);
    strcat(acc, "\n");
    return 0;
}

static int collect_table(void *ctx, const struct conn_table_info *t)
{
    char *acc = ctx;
    char line[512];
    snprintf(line, sizeof line, "%s rows=%lld cols=%zu %s\n", t->name, (long long)t->num_rows,
             t->schema.ncols, t->size > 0 && t->last_ddl_time > 0 ? "ok" : "nometa");
    strcat(acc, line);
    return 0;
}

static int collect_part(void *ctx, const struct conn_partition_info *p)
{
    char *acc = ctx;
    char line[256];
    snprintf(line, sizeof line, "%s:%lld\n", p->value, (long long)p->num_rows);
    strcat(acc, line);
    return 0;
}

static void test_catalog(void **state)
{
    (void)state;
    struct conn *c = open_src();
    struct mms_err err = {0};
    char acc[4096] = "";
    assert_int_equal(ops->ping(c, &err), 0);
    assert_int_equal(ops->list_dbs(c, collect_db, acc, &err), 0);
    assert_non_null(strstr(acc, SRC_DB "\n"));
    assert_null(strstr(acc, "mysql\n"));
    assert_null(strstr(acc, "information_schema"));
    assert_null(strstr(acc, "performance_schema"));

    acc[0] = '\0';
    assert_int_equal(ops->list_tables(c, SRC_DB, collect_table, acc, &err), 0);
    assert_non_null(strstr(acc, NASTY " rows=6 cols=33 ok\n"));
    assert_non_null(strstr(acc, "parted rows=6 cols=2 ok\n"));
    assert_non_null(strstr(acc, "simple rows=4 cols=4 ok\n"));
    assert_null(strstr(acc, "__mms_stage_x"));

    struct conn_schema s = {0};
    assert_int_equal(ops->table_schema(c, SRC_DB, NASTY, &s, &err), 0);
    assert_int_equal(s.ncols, NFCOLS);
    assert_string_equal(s.source_type, "MYSQL");
    for (size_t i = 0; i < NFCOLS; i++) {
        char t[64];
        mms_type_format(&s.cols[i].type, t, sizeof t);
        if (strcmp(t, fcols[i].canon) != 0)
            fprintf(stderr, "column %s: %s, expected %s\n", fcols[i].name, t, fcols[i].canon);
        assert_string_equal(t, fcols[i].canon);
        assert_string_equal(s.cols[i].name, fcols[i].name);
    }
    assert_false(s.cols[0].nullable);
    assert_true(s.cols[1].nullable);
    conn_schema_release(&s);

    acc[0] = '\0';
    assert_int_equal(ops->list_partitions(c, SRC_DB, "parted", collect_part, acc, &err), 0);
    assert_string_equal(acc, "partition=p0:2\npartition=p 1:3\npartition=p2:1\n");
    int64_t n = 0;
    char *sql = NULL;
    assert_int_equal(ops->count_source(c, SRC_DB, "parted", "partition=p 1", &n, &sql, &err),
                     0);
    assert_int_equal(n, 3);
    assert_string_equal(sql, "SELECT COUNT(*) FROM " SRC_DB_Q ".`parted` PARTITION (`p 1`)");
    free(sql);

    /* errors: unknown table, system database */
    assert_int_equal(ops->table_schema(c, SRC_DB, "nope", &s, &err), -1);
    assert_string_equal(err.code, "ConnectorError.NotFound");
    assert_int_equal(ops->count_source(c, SRC_DB, "parted", "p0", &n, NULL, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Config");
    assert_int_equal(ops->list_tables(c, "mysql", collect_table, acc, &err), -1);
    assert_string_equal(err.code, "ConnectorError.NotFound");
    ops->close(c);
}

/* Compares every column of every row of two tables with plain SELECTs. */
static void compare_tables(MYSQL *h, const char *a, const char *b)
{
    char sql[8192];
    int n = snprintf(sql, sizeof sql, "SELECT ");
    for (size_t i = 0; i < NFCOLS; i++) {
        char q[128];
        size_t k = 0;
        q[k++] = '`';
        for (const char *p = fcols[i].name; *p; p++) {
            if (*p == '`')
                q[k++] = '`';
            q[k++] = *p;
        }
        q[k++] = '`';
        q[k] = '\0';
        if (i)
            n += snprintf(sql + n, sizeof sql - (size_t)n, ", ");
        /* cmp holds one "%s": the quoted column goes there */
        const char *at = strstr(fcols[i].cmp, "%s");
        n += snprintf(sql + n, sizeof sql - (size_t)n, "%.*s%s%s", (int)(at - fcols[i].cmp),
                      fcols[i].cmp, q, at + 2);
    }
    char qa[9000], qb[9000];
    snprintf(qa, sizeof qa, "%s FROM %s ORDER BY id", sql, a);
    snprintf(qb, sizeof qb, "%s FROM %s ORDER BY id", sql, b);
    char *da = db_dump(h, qa), *db = db_dump(h, qb);
    if (strcmp(da, db) != 0)
        fprintf(stderr, "source:\n%s\ndestination:\n%s\n", da, db);
    assert_string_equal(da, db);
    free(da);
    free(db);
}

static void test_mysql_round_trip(void **state)
{
    (void)state;
    struct conn *s = open_src(), *d = open_dst();
    struct conn_schema sch = {0};
    struct mms_err err = {0};
    struct conn_target t = {.project = DST_DB, .schema = "ignored", .table = NASTY};
    assert_int_equal(ops->table_schema(s, SRC_DB, NASTY, &sch, &err), 0);
    if (copy_table(ops, s, SRC_DB, NASTY, NULL, &sch, ops, d, &t, 2, &err) != 0)
        fprintf(stderr, "copy: %s %s\n", err.code, err.msg);
    assert_string_equal(err.code, "");

    MYSQL *h = db_open();
    compare_tables(h, SRC_DB_Q "." NASTY_Q, DST_DB_Q "." NASTY_Q);
    /* exact values spelled out, independent of the source's own rendering */
    char *v = db_dump(h, "SELECT u64, d, CAST(f AS DOUBLE), HEX(bl), ts, dtm, tm FROM " DST_DB_Q
                         "." NASTY_Q " WHERE id IN (1, 2, 4) ORDER BY id");
    assert_string_equal(v, "18446744073709551615|0.30000000000000004|3.4028234663852886e38|000000|"
                           "1970-01-01 00:00:01.000000|1000-01-01 00:00:00.000000|"
                           "-838:59:59.000000\n"
                           "0|5e-324|1.1754943508222875e-38||2038-01-19 03:14:07.999999|"
                           "9999-12-31 23:59:59.999999|838:59:59.999999\n"
                           "9223372036854775808|2.2250738585072014e-308|16777216|00|"
                           "2024-01-02 03:04:05.123456|2024-02-29 12:34:56.500000|"
                           "12:00:00.120000\n");
    free(v);
    v = db_dump(h, "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '"
                   "dst`db \xc3\xa9' AND COLUMN_NAME IN ('u64', 'ts', 'dec1', 'tx', 'bl')"
                   " ORDER BY ORDINAL_POSITION");
    assert_string_equal(v, "bigint(20) unsigned\ndecimal(65,30)\nlongtext\nlongblob\n"
                           "datetime(6)\n");
    free(v);

    /* the connector's own checksums agree too (same kinds and bytes on both sides) */
    struct conn_checksum c1, c2;
    checksum_src(ops, s, SRC_DB, NASTY, &sch, &c1);
    checksum_dst(ops, d, &t, &sch, &c2);
    assert_int_equal(c1.rows, (int64_t)NFROWS);
    assert_checksums_equal(&c1, &c2);

    int64_t n = 0;
    assert_int_equal(ops->count_dest(d, &t, NULL, &n, NULL, &err), 0);
    assert_int_equal(n, (int64_t)NFROWS);

    /* a copy into the existing table goes through CREATE TABLE ... LIKE and the swap */
    assert_int_equal(copy_table(ops, s, SRC_DB, NASTY, NULL, &sch, ops, d, &t, 1000, &err), 0);
    compare_tables(h, SRC_DB_Q "." NASTY_Q, DST_DB_Q "." NASTY_Q);
    assert_int_equal(db_int(h, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME"
                               " LIKE '\\_\\_mms%' AND TABLE_SCHEMA <> 'src db`\xc3\xbc'"),
                     0);

    /* one partition */
    struct conn_schema ps = {0};
    struct conn_target pt = {.project = DST_DB, .table = "parted p1"};
    assert_int_equal(ops->table_schema(s, SRC_DB, "parted", &ps, &err), 0);
    assert_int_equal(copy_table(ops, s, SRC_DB, "parted", "partition=p%201", &ps, ops, d, &pt, 10,
                                &err),
                     0);
    v = db_dump(h, "SELECT id, v FROM " DST_DB_Q ".`parted p1` ORDER BY id");
    assert_string_equal(v, "11|c\n12|d\n13|e\n");
    free(v);
    conn_schema_release(&ps);

    mysql_close(h);
    conn_schema_release(&sch);
    ops->close(s);
    ops->close(d);
}

static void test_sqlite_to_mysql(void **state)
{
    (void)state;
    char path[700], cfgpath[700];
    snprintf(path, sizeof path, "%s/src.db", tmpdir);
    sqlite3 *sh = NULL;
    assert_int_equal(sqlite3_open(path, &sh), SQLITE_OK);
    assert_int_equal(sqlite3_exec(sh,
                                  "CREATE TABLE \"we`ird \"\" n\xc3\xa4me\" (id INTEGER, name TEXT,"
                                  " data BLOB, x REAL);"
                                  "INSERT INTO \"we`ird \"\" n\xc3\xa4me\" VALUES"
                                  " (1, 'h\xc3\xa9llo \xf0\x9f\x98\x80', x'00ff', 0.1),"
                                  " (9223372036854775807, '', x'', 1e308),"
                                  " (-9223372036854775808, NULL, NULL, NULL),"
                                  " (3, 'it''s \"q\" \\ back', x'5c27', 5e-324);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(sh);
    snprintf(cfgpath, sizeof cfgpath, "%s", path);
    json_t *cfg = json_pack("{s:s}", "sqlite.path", cfgpath);
    struct conn *s = NULL, *d = open_dst();
    struct mms_err err = {0};
    assert_int_equal(conn_sqlite_ops.open_source(&s, cfg, &err), 0);
    json_decref(cfg);
    struct conn_schema sch = {0};
    const char *tbl = "we`ird \" n\xc3\xa4me";
    assert_int_equal(conn_sqlite_ops.table_schema(s, "main", tbl, &sch, &err), 0);
    struct conn_target t = {.project = DST_DB, .table = tbl};
    if (copy_table(&conn_sqlite_ops, s, "main", tbl, NULL, &sch, ops, d, &t, 3, &err) != 0)
        fprintf(stderr, "copy: %s\n", err.msg);
    assert_string_equal(err.code, "");
    struct conn_checksum c1, c2;
    checksum_src(&conn_sqlite_ops, s, "main", tbl, &sch, &c1);
    checksum_dst(ops, d, &t, &sch, &c2);
    assert_int_equal(c1.rows, 4);
    assert_checksums_equal(&c1, &c2);
    MYSQL *h = db_open();
    char *v = db_dump(h, "SELECT id, HEX(name), HEX(data), x FROM " DST_DB_Q
                         ".`we``ird \" n\xc3\xa4me` ORDER BY id");
    assert_string_equal(v, "-9223372036854775808|\\N|\\N|\\N\n"
                           "1|68C3A96C6C6F20F09F9880|00FF|0.1\n"
                           "3|6974277320227122205C206261636B|5C27|5e-324\n"
                           "9223372036854775807|||1e308\n");
    free(v);
    mysql_close(h);
    conn_schema_release(&sch);
    conn_sqlite_ops.close(s);
    ops->close(d);
}

static void test_mysql_to_sqlite(void **state)
{
    (void)state;
    char url[700], file[800];
    snprintf(url, sizeof url, "sqlite://%s", sqlite_dir);
    snprintf(file, sizeof file, "%s/proj.db", sqlite_dir);
    struct conn *s = open_src(), *d = NULL;
    struct mms_err err = {0};
    assert_int_equal(conn_sqlite_ops.open_dest(&d, url, &err), 0);
    struct conn_schema sch = {0};
    assert_int_equal(ops->table_schema(s, SRC_DB, "simple", &sch, &err), 0);
    struct conn_target t = {.project = "proj", .table = "simple"};
    assert_int_equal(copy_table(ops, s, SRC_DB, "simple", NULL, &sch, &conn_sqlite_ops, d, &t, 2,
                                &err),
                     0);
    struct conn_checksum c1, c2;
    checksum_src(ops, s, SRC_DB, "simple", &sch, &c1);
    checksum_dst(&conn_sqlite_ops, d, &t, &sch, &c2);
    assert_int_equal(c1.rows, 4);
    assert_checksums_equal(&c1, &c2);
    /* independent read */
    sqlite3 *sh = NULL;
    assert_int_equal(sqlite3_open(file, &sh), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(sh,
                                        "SELECT id, typeof(name), hex(name), typeof(data),"
                                        " hex(data), x FROM simple ORDER BY id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    char acc[1024] = "";
    while (sqlite3_step(st) == SQLITE_ROW) {
        char line[256];
        snprintf(line, sizeof line, "%lld %s %s %s %s %.17g\n",
                 (long long)sqlite3_column_int64(st, 0), sqlite3_column_text(st, 1),
                 sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
                 sqlite3_column_text(st, 4), sqlite3_column_double(st, 5));
        strcat(acc, line);
    }
    sqlite3_finalize(st);
    sqlite3_close(sh);
    assert_string_equal(acc, "-9223372036854775808 text 780079 blob 0000 1.7976931348623157e+308\n"
                             "1 text 61F09F9880 blob 00FF00 0.10000000000000001\n"
                             "2 text  blob  4.9406564584124654e-324\n"
                             "3 null  null  0\n");
    conn_schema_release(&sch);
    ops->close(s);
    conn_sqlite_ops.close(d);
}

/* Writes rows (id BIGINT, v TEXT) through the connector; commit or abort. */
static struct conn_writer *write_rows(struct conn *d, const struct conn_target *t,
                                      const struct conn_schema *sch, int from, int count)
{
    struct conn_writer *w = NULL;
    struct mms_err err = {0};
    struct rowbatch b;
    assert_int_equal(ops->write_begin(d, t, NULL, sch, &w, &err), 0);
    rowbatch_init(&b, 2, 1000, 1 << 20);
    for (int i = 0; i < count; i++) {
        struct val *row = rowbatch_add_row(&b);
        rowbatch_set_int(&row[0], from + i);
        char txt[32];
        int n = snprintf(txt, sizeof txt, "v%d", from + i);
        rowbatch_set_bytes(&b, &row[1], VAL_TEXT, txt, (size_t)n);
    }
    assert_int_equal(ops->write_batch(w, &b, &err), 0);
    rowbatch_release(&b);
    return w;
}

static void test_atomic_replace(void **state)
{
    (void)state;
    struct conn *d = open_dst();
    struct mms_err err = {0};
    struct conn_column cols[2] = {
        {.name = (char *)"id", .type = {.id = MT_INT64}, .nullable = false},
        {.name = (char *)"v", .type = {.id = MT_TEXT}, .nullable = true},
    };
    struct conn_schema sch = {.cols = cols, .ncols = 2};
    struct conn_target t = {.project = DST_DB, .table = "repl`aced"};
    char *ddl = NULL;
    assert_int_equal(ops->create_table(d, &t, &sch, &ddl, &err), 0);
    assert_string_equal(ddl, "CREATE TABLE IF NOT EXISTS " DST_DB_Q ".`repl``aced` (`id` BIGINT"
                             " NOT NULL, `v` LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                             " NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin");
    free(ddl);
    MYSQL *h = db_open();
    const char *cnt = "SELECT COUNT(*) FROM " DST_DB_Q ".`repl``aced`";
    struct conn_writer *w = write_rows(d, &t, &sch, 0, 10);
    assert_int_equal(db_int(h, cnt), 0); /* staged rows are invisible */
    assert_int_equal(ops->write_commit(w, &err), 0);
    assert_int_equal(db_int(h, cnt), 10);

    /* abort: the old rows stay, the staging table goes */
    w = write_rows(d, &t, &sch, 100, 5);
    assert_int_equal(db_int(h, cnt), 10);
    ops->write_abort(w);
    assert_int_equal(db_int(h, cnt), 10);
    /* leftovers of a writer that crashed between its rename and its drop, or before its
     * commit: the next write_begin clears both */
    db_exec(h, "CREATE TABLE " DST_DB_Q ".`__mms_stage_repl``aced` (junk INT)");
    db_exec(h, "CREATE TABLE " DST_DB_Q ".`__mms_old_repl``aced` (junk INT)");
    w = write_rows(d, &t, &sch, 300, 3);
    assert_int_equal(ops->write_commit(w, &err), 0);
    assert_int_equal(db_int(h, cnt), 3);
    assert_int_equal(db_int(h, "SELECT MIN(id) FROM " DST_DB_Q ".`repl``aced`"), 300);
    assert_int_equal(db_int(h, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME"
                               " LIKE '\\_\\_mms%' AND TABLE_SCHEMA = 'dst`db \xc3\xa9'"),
                     0);

    /* a table of that name with other columns */
    struct conn_column other[1] = {{.name = (char *)"zz", .type = {.id = MT_INT64}}};
    struct conn_schema osch = {.cols = other, .ncols = 1};
    assert_int_equal(ops->create_table(d, &t, &osch, NULL, &err), -1);
    assert_string_equal(err.code, "ConnectorError.SchemaMismatch");
    mysql_close(h);
    ops->close(d);
}

/* write_join: other sessions insert into the same staging table; nothing is visible until the
 * primary's commit, and an abort of all of them leaves the old copy and no staging table. */
static void add_rows(struct conn_writer *w, int from, int count)
{
    struct mms_err err = {0};
    struct rowbatch b;
    rowbatch_init(&b, 2, 1000, 1 << 20);
    for (int i = 0; i < count; i++) {
        struct val *row = rowbatch_add_row(&b);
        rowbatch_set_int(&row[0], from + i);
        char txt[32];
        int n = snprintf(txt, sizeof txt, "j%d", from + i);
        rowbatch_set_bytes(&b, &row[1], VAL_TEXT, txt, (size_t)n);
    }
    if (ops->write_batch(w, &b, &err) != 0)
        fail_msg("write_batch: %s %s", err.code, err.msg);
    rowbatch_release(&b);
}

static void test_write_join(void **state)
{
    (void)state;
    struct conn *d = open_dst();
    struct mms_err err = {0};
    struct conn_column cols[2] = {
        {.name = (char *)"id", .type = {.id = MT_INT64}, .nullable = false},
        {.name = (char *)"v", .type = {.id = MT_TEXT}, .nullable = true},
    };
    struct conn_schema sch = {.cols = cols, .ncols = 2};
    struct conn_target t = {.project = DST_DB, .table = "joined"};
    assert_int_equal(ops->create_table(d, &t, &sch, NULL, &err), 0);
    MYSQL *h = db_open();
    const char *cnt = "SELECT COUNT(*) FROM " DST_DB_Q ".`joined`";
    const char *stages = "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME"
                         " LIKE '\\_\\_mms%' AND TABLE_SCHEMA = 'dst`db \xc3\xa9'";

    struct conn_writer *w[3] = {write_rows(d, &t, &sch, 0, 100), NULL, NULL};
    for (int i = 1; i < 3; i++)
        if (ops->write_join(w[0], &w[i], &err) != 0)
            fail_msg("write_join: %s %s", err.code, err.msg);
    add_rows(w[1], 1000, 200);
    add_rows(w[2], 2000, 300);
    add_rows(w[0], 100, 50);
    for (int i = 1; i < 3; i++)
        assert_int_equal(ops->write_commit(w[i], &err), 0);
    assert_int_equal(db_int(h, cnt), 0); /* only the primary swaps it in */
    assert_int_equal(ops->write_commit(w[0], &err), 0);
    assert_int_equal(db_int(h, cnt), 650);
    assert_int_equal(db_int(h, "SELECT COUNT(DISTINCT id) FROM " DST_DB_Q ".`joined`"), 650);
    assert_int_equal(db_int(h, stages), 0);

    /* Abort: joined sessions first (their rows roll back), then the primary drops the staging
     * table; the destination keeps its 650 rows. */
    w[0] = write_rows(d, &t, &sch, 5000, 10);
    assert_int_equal(ops->write_join(w[0], &w[1], &err), 0);
    add_rows(w[1], 6000, 10);
    ops->write_abort(w[1]);
    ops->write_abort(w[0]);
    assert_int_equal(db_int(h, cnt), 650);
    assert_int_equal(db_int(h, stages), 0);
    mysql_close(h);
    ops->close(d);
}

/* ---- source partitions: Hive-like LIST tables and the others ----------------------------- */

static int collect_table_parts(void *ctx, const struct conn_table_info *t)
{
    char *acc = ctx;
    char line[512];
    snprintf(line, sizeof line, "%s pk=%s partitioned=%d\n", t->name,
             t->schema.npcols ? t->schema.pcols[0].name : "-", (int)t->partitioned);
    strcat(acc, line);
    return 0;
}

/* Rows of db.table partition spec through read_open, as "id" values joined by ','. */
static void read_ids(struct conn *c, const char *db, const char *table, const char *spec,
                     const struct conn_schema *s, char *out, size_t cap)
{
    struct conn_reader *r = NULL;
    struct mms_err err = {0};
    struct rowbatch b;
    out[0] = '\0';
    rowbatch_init(&b, s->ncols, 100, 1 << 20);
    if (ops->read_open(c, db, table, spec, s, &r, &err) != 0)
        fprintf(stderr, "read_open %s: %s\n", spec, err.msg);
    assert_non_null(r);
    for (;;) {
        assert_int_equal(ops->read_next(r, &b, &err), 0);
        if (b.nrows == 0)
            break;
        for (size_t i = 0; i < b.nrows; i++) {
            size_t n = strlen(out);
            snprintf(out + n, cap - n, "%s%lld", n ? "," : "",
                     (long long)b.vals[i * b.ncols].v.i);
        }
    }
    ops->read_close(r);
    rowbatch_release(&b);
}

static void test_source_partitions(void **state)
{
    (void)state;
    MYSQL *h = db_open();
    db_exec(h, "CREATE DATABASE `parts`");
    /* Hive-like: one value per partition, nasty values, a NULL partition */
    db_exec(h, "CREATE TABLE `parts`.`lc` (id INT, `k ey` VARCHAR(40) COLLATE utf8mb4_nopad_bin)"
               " PARTITION BY LIST COLUMNS(`k ey`) (PARTITION p1 VALUES IN ('a b'),"
               " PARTITION p2 VALUES IN ('x/y=z'), PARTITION p3 VALUES IN ('it''s\\\\ %'),"
               " PARTITION p4 VALUES IN ('\xc3\xbc\xe2\x82\xac'), PARTITION p5 VALUES IN (NULL),"
               " PARTITION p6 VALUES IN ('A B'))");
    db_exec(h, "INSERT INTO `parts`.`lc` VALUES (1,'a b'),(2,'x/y=z'),(3,'it''s\\\\ %'),"
               "(4,'\xc3\xbc\xe2\x82\xac'),(5,NULL),(6,NULL),(7,'A B'),(8,'a b')");
    db_exec(h, "CREATE TABLE `parts`.`li` (id INT, k BIGINT NOT NULL)"
               " PARTITION BY LIST(k) (PARTITION a VALUES IN (-5), PARTITION b VALUES IN (7))");
    db_exec(h, "INSERT INTO `parts`.`li` VALUES (1,-5),(2,7),(3,7)");
    /* not Hive-like: several values, a case-insensitive collation, a DEFAULT partition,
     * an expression, RANGE, HASH, subpartitions; and an unpartitioned table */
    db_exec(h, "CREATE TABLE `parts`.`multi` (id INT, k INT)"
               " PARTITION BY LIST(k) (PARTITION a VALUES IN (1,2), PARTITION b VALUES IN (3))");
    db_exec(h, "CREATE TABLE `parts`.`ci` (id INT, k VARCHAR(9) COLLATE utf8mb4_general_ci)"
               " PARTITION BY LIST COLUMNS(k) (PARTITION a VALUES IN ('a'))");
    db_exec(h, "CREATE TABLE `parts`.`dflt` (id INT, k INT)"
               " PARTITION BY LIST(k) (PARTITION a VALUES IN (1), PARTITION d DEFAULT)");
    db_exec(h, "CREATE TABLE `parts`.`expr` (id INT, d DATE)"
               " PARTITION BY LIST(YEAR(d)) (PARTITION a VALUES IN (2020))");
    db_exec(h, "CREATE TABLE `parts`.`rng` (id INT, k INT) PARTITION BY RANGE(k)"
               " (PARTITION a VALUES LESS THAN (10), PARTITION `b/2` VALUES LESS THAN MAXVALUE)");
    db_exec(h, "INSERT INTO `parts`.`rng` VALUES (1,1),(2,20),(3,30)");
    db_exec(h, "CREATE TABLE `parts`.`hsh` (id INT, k INT) PARTITION BY HASH(k) PARTITIONS 3");
    db_exec(h, "CREATE TABLE `parts`.`sub` (id INT, k INT) PARTITION BY RANGE(k)"
               " SUBPARTITION BY HASH(id) SUBPARTITIONS 2 (PARTITION a VALUES LESS THAN (10),"
               " PARTITION b VALUES LESS THAN MAXVALUE)");
    db_exec(h, "CREATE TABLE `parts`.`plain` (id INT)");

    struct conn *c = open_src();
    struct mms_err err = {0};
    char acc[4096] = "";
    assert_int_equal(ops->list_tables(c, "parts", collect_table_parts, acc, &err), 0);
    assert_string_equal(acc, "ci pk=- partitioned=1\n"
                             "dflt pk=- partitioned=1\n"
                             "expr pk=- partitioned=1\n"
                             "hsh pk=- partitioned=1\n"
                             "lc pk=k ey partitioned=0\n"
                             "li pk=k partitioned=0\n"
                             "multi pk=- partitioned=1\n"
                             "plain pk=- partitioned=0\n"
                             "rng pk=- partitioned=1\n"
                             "sub pk=- partitioned=1\n");

    acc[0] = '\0';
    assert_int_equal(ops->list_partitions(c, "parts", "lc", collect_part, acc, &err), 0);
    assert_string_equal(acc, "k ey=a b:2\n"
                             "k ey=x%2Fy%3Dz:1\n"
                             "k ey=it%27s%5C %25:1\n"
                             "k ey=\xc3\xbc\xe2\x82\xac:1\n"
                             "k ey=__HIVE_DEFAULT_PARTITION__:2\n"
                             "k ey=A B:1\n");
    acc[0] = '\0';
    assert_int_equal(ops->list_partitions(c, "parts", "rng", collect_part, acc, &err), 0);
    assert_string_equal(acc, "partition=a:1\npartition=b%2F2:2\n");
    acc[0] = '\0';
    assert_int_equal(ops->list_partitions(c, "parts", "sub", collect_part, acc, &err), 0);
    assert_string_equal(acc, "partition=asp0:0\npartition=asp1:0\npartition=bsp0:0\n"
                             "partition=bsp1:0\n");

    /* the schema: the key stays a data column and is the partition key */
    struct conn_schema s = {0};
    assert_int_equal(ops->table_schema(c, "parts", "lc", &s, &err), 0);
    assert_int_equal(s.ncols, 2);
    assert_int_equal(s.npcols, 1);
    assert_string_equal(s.pcols[0].name, "k ey");
    assert_int_equal(s.pcols[0].type.id, MT_VARCHAR);

    /* reading one partition: exactly its rows (the NULL one, a quote and backslash, case) */
    char ids[256];
    read_ids(c, "parts", "lc", "k ey=a b", &s, ids, sizeof ids);
    assert_string_equal(ids, "1,8");
    read_ids(c, "parts", "lc", "k ey=A B", &s, ids, sizeof ids);
    assert_string_equal(ids, "7");
    read_ids(c, "parts", "lc", "k ey=__HIVE_DEFAULT_PARTITION__", &s, ids, sizeof ids);
    assert_string_equal(ids, "5,6");
    read_ids(c, "parts", "lc", "k ey=it%27s%5C %25", &s, ids, sizeof ids);
    assert_string_equal(ids, "3");
    read_ids(c, "parts", "lc", "k%20ey=x%2Fy%3Dz", &s, ids, sizeof ids);
    assert_string_equal(ids, "2");
    /* a value of no partition reads nothing (and injects nothing) */
    read_ids(c, "parts", "lc", "k ey=' OR 1=1 -- ", &s, ids, sizeof ids);
    assert_string_equal(ids, "");
    int64_t n = 0;
    char *sql = NULL;
    assert_int_equal(ops->count_source(c, "parts", "lc", "k ey=__HIVE_DEFAULT_PARTITION__", &n,
                                       &sql, &err),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(sql, "SELECT COUNT(*) FROM `parts`.`lc` WHERE `k ey` <=> @mms_pk0");
    free(sql);
    conn_schema_release(&s);

    /* an integer key compares as an integer */
    assert_int_equal(ops->table_schema(c, "parts", "li", &s, &err), 0);
    assert_int_equal(s.npcols, 1);
    read_ids(c, "parts", "li", "k=7", &s, ids, sizeof ids);
    assert_string_equal(ids, "2,3");
    assert_int_equal(ops->count_source(c, "parts", "li", "k=-5", &n, NULL, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ops->count_source(c, "parts", "li", "k=x", &n, NULL, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Value");
    conn_schema_release(&s);

    /* RANGE: no key; partitions by name */
    assert_int_equal(ops->table_schema(c, "parts", "rng", &s, &err), 0);
    assert_int_equal(s.npcols, 0);
    read_ids(c, "parts", "rng", "partition=b%2F2", &s, ids, sizeof ids);
    assert_string_equal(ids, "2,3");
    assert_int_equal(ops->count_source(c, "parts", "rng", "partition=a", &n, NULL, &err), 0);
    assert_int_equal(n, 1);
    conn_schema_release(&s);
    ops->close(c);
    mysql_close(h);
}

/* zeroDateToNull: zero dates read as NULL, and the date columns are reported nullable. */
static void test_zero_date_cast(void **state)
{
    (void)state;
    MYSQL *h = db_open();
    db_exec(h, "SET SESSION sql_mode = ''");
    db_exec(h, "CREATE TABLE " SRC_DB_Q ".`zero nn` (id INT NOT NULL, d DATE NOT NULL,"
               " dt DATETIME(3) NOT NULL, ts TIMESTAMP NULL, t TIME NOT NULL)");
    db_exec(h, "INSERT INTO " SRC_DB_Q ".`zero nn` VALUES"
               " (1, '2020-01-02', '2020-01-02 03:04:05.5', '2020-01-02 03:04:05', '01:02:03'),"
               " (2, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '00:00:00'),"
               " (3, '2024-00-10', '2024-05-00 01:00:00', NULL, '00:00:01')");
    struct conn *c = open_src();
    struct mms_err err = {0};
    struct conn_schema s = {0};
    struct conn_reader *r = NULL;
    struct rowbatch b;

    /* without the cast: NOT NULL as declared, and the zero date fails naming it */
    assert_int_equal(ops->table_schema(c, SRC_DB, "zero nn", &s, &err), 0);
    assert_false(s.cols[1].nullable);
    assert_false(s.cols[2].nullable);
    rowbatch_init(&b, s.ncols, 100, 1 << 20);
    assert_int_equal(ops->read_open(c, SRC_DB, "zero nn", NULL, &s, &r, &err), 0);
    assert_int_equal(ops->read_next(r, &b, &err), -1);
    assert_non_null(strstr(err.msg, "value '0000-00-00' is a MySQL zero date"));
    ops->read_close(r);
    conn_schema_release(&s);

    /* with it */
    ((struct conn_base *)c)->casts = CONN_CAST_ZERO_DATE_NULL;
    assert_int_equal(ops->table_schema(c, SRC_DB, "zero nn", &s, &err), 0);
    assert_false(s.cols[0].nullable); /* INT NOT NULL stays */
    assert_true(s.cols[1].nullable);
    assert_true(s.cols[2].nullable);
    assert_true(s.cols[3].nullable);
    assert_false(s.cols[4].nullable); /* TIME has no zero date */
    memset(&err, 0, sizeof err);
    assert_int_equal(ops->read_open(c, SRC_DB, "zero nn", NULL, &s, &r, &err), 0);
    assert_int_equal(ops->read_next(r, &b, &err), 0);
    assert_int_equal(b.nrows, 3);
    const struct val *v = b.vals;
    assert_int_equal(v[1].kind, VAL_TEXT); /* row 1 intact */
    assert_int_equal(v[2].kind, VAL_TEXT);
    assert_int_equal(v[3].kind, VAL_TEXT);
    v = b.vals + b.ncols;
    assert_int_equal(v[1].kind, VAL_NULL);
    assert_int_equal(v[2].kind, VAL_NULL);
    assert_int_equal(v[3].kind, VAL_NULL);
    assert_int_equal(v[4].kind, VAL_TEXT); /* TIME 00:00:00 is a time, not a zero date */
    v = b.vals + 2 * b.ncols;
    assert_int_equal(v[1].kind, VAL_NULL); /* zero month */
    assert_int_equal(v[2].kind, VAL_NULL); /* zero day */
    assert_int_equal(v[3].kind, VAL_NULL); /* NULL */
    assert_int_equal(ops->read_next(r, &b, &err), 0);
    assert_int_equal(b.nrows, 0);
    ops->read_close(r);
    rowbatch_release(&b);
    conn_schema_release(&s);
    ops->close(c);
    mysql_close(h);
}

/* ---- partitions inside a plain table ----------------------------------------------------- */

/* Writes partition spec with nrows rows (id, region, n, tag) and commits unless die. */
static int write_part(struct conn *d, const struct conn_target *t, const struct conn_schema *s,
                      const char *spec, const char *region, int64_t n, int nrows, const char *tag,
                      bool die)
{
    struct mms_err err = {0};
    struct conn_writer *w = NULL;
    struct rowbatch b;
    if (ops->write_begin(d, t, spec, s, &w, &err) != 0) {
        fprintf(stderr, "write_begin %s: %s %s\n", spec, err.code, err.msg);
        return -1;
    }
    rowbatch_init(&b, 4, 256, 1 << 20);
    for (int i = 0; i < nrows; i++) {
        struct val *v = rowbatch_add_row(&b);
        rowbatch_set_int(&v[0], i);
        if (region)
            rowbatch_set_bytes(&b, &v[1], VAL_TEXT, region, strlen(region));
        rowbatch_set_int(&v[2], n);
        rowbatch_set_bytes(&b, &v[3], VAL_TEXT, tag, strlen(tag));
    }
    int rc = ops->write_batch(w, &b, &err);
    rowbatch_release(&b);
    if (die)
        raise(SIGKILL);
    if (rc != 0) {
        fprintf(stderr, "write_batch %s: %s %s\n", spec, err.code, err.msg);
        ops->write_abort(w);
        return -1;
    }
    rc = ops->write_commit(w, &err);
    if (rc != 0)
        fprintf(stderr, "write_commit %s: %s %s\n", spec, err.code, err.msg);
    return rc;
}

static int64_t dest_count(struct conn *d, const struct conn_target *t, const char *spec)
{
    struct mms_err err = {0};
    int64_t n = -1;
    char *sql = NULL;
    if (ops->count_dest(d, t, spec, &n, &sql, &err) != 0)
        fail_msg("count_dest %s: %s %s", spec ? spec : "(all)", err.code, err.msg);
    free(sql);
    return n;
}

static void test_partitions_inside_plain_table(void **state)
{
    (void)state;
    struct conn *d = open_dst();
    struct mms_err err = {0};
    struct conn_column cols[4] = {
        {.name = (char *)"id", .type = {.id = MT_INT64}, .nullable = false},
        {.name = (char *)"region", .type = {.id = MT_VARCHAR, .length = 20}, .nullable = true},
        {.name = (char *)"n", .type = {.id = MT_INT32}, .nullable = true},
        {.name = (char *)"tag", .type = {.id = MT_TEXT}, .nullable = true},
    };
    struct conn_schema sch = {.cols = cols, .ncols = 4, .pcols = &cols[1], .npcols = 2};
    struct conn_target t = {.project = DST_DB, .table = "par`ts"};
    const char *tq = DST_DB_Q ".`par``ts`";
    char sql[512];

    /* a plain table with the keys as data columns */
    assert_int_equal(ops->create_table(d, &t, &sch, NULL, &err), 0);
    MYSQL *h = db_open();
    assert_int_equal(db_int(h, "SELECT COUNT(*) FROM information_schema.PARTITIONS WHERE"
                               " TABLE_NAME = 'par`ts' AND PARTITION_NAME IS NOT NULL"),
                     0);

    assert_int_equal(write_part(d, &t, &sch, "region=eu/n=1", "eu", 1, 3, "A", false), 0);
    assert_int_equal(write_part(d, &t, &sch, "region=us/n=1", "us", 1, 2, "A", false), 0);
    assert_int_equal(write_part(d, &t, &sch, "region=eu/n=2", "eu", 2, 4, "A", false), 0);
    /* percent-decoded values with quotes; Hive's NULL partition */
    assert_int_equal(write_part(d, &t, &sch, "region=a%2Fb%3d'`\\/n=3", "a/b='`\\", 3, 1, "A",
                                false),
                     0);
    assert_int_equal(
        write_part(d, &t, &sch, "region=__HIVE_DEFAULT_PARTITION__/n=3", NULL, 3, 2, "A", false),
        0);
    assert_int_equal(dest_count(d, &t, NULL), 12);
    assert_int_equal(dest_count(d, &t, "region=eu/n=1"), 3);
    assert_int_equal(dest_count(d, &t, "region=us/n=1"), 2);
    assert_int_equal(dest_count(d, &t, "region=eu/n=2"), 4);
    assert_int_equal(dest_count(d, &t, "region=a%2Fb%3D%27`%5C/n=3"), 1);
    assert_int_equal(dest_count(d, &t, "region=__HIVE_DEFAULT_PARTITION__/n=3"), 2);
    assert_int_equal(dest_count(d, &t, "region=eu/n=3"), 0);

    /* replacing one partition leaves the other partitions' rows untouched */
    assert_int_equal(write_part(d, &t, &sch, "region=eu/n=1", "eu", 1, 5, "B", false), 0);
    assert_int_equal(dest_count(d, &t, NULL), 14);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM %s WHERE region = 'eu' AND n = 1 AND tag = 'B'", tq);
    assert_int_equal(db_int(h, sql), 5);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE tag = 'A'", tq);
    assert_int_equal(db_int(h, sql), 9);

    /* the destination reader of a partition reads only its rows */
    struct conn_reader *r = NULL;
    struct rowbatch b;
    int64_t got = 0;
    assert_int_equal(ops->read_dest_open(d, &t, "region=eu/n=1", &sch, &r, &err), 0);
    rowbatch_init(&b, 4, 64, 1 << 20);
    for (;;) {
        assert_int_equal(ops->read_next(r, &b, &err), 0);
        if (b.nrows == 0)
            break;
        for (size_t i = 0; i < b.nrows; i++) {
            const struct val *v = rowbatch_row(&b, i);
            assert_int_equal(v[2].v.i, 1);
            assert_memory_equal(rowbatch_bytes(&b, &v[3]), "B", 1);
        }
        got += (int64_t)b.nrows;
    }
    rowbatch_release(&b);
    ops->read_close(r);
    assert_int_equal(got, 5);

    /* a writer killed before its commit leaves the partition's old rows */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct conn *d2 = NULL;
        if (ops->open_dest(&d2, dest_url, &err) != 0)
            _exit(3);
        write_part(d2, &t, &sch, "region=us/n=1", "us", 1, 50, "C", true);
        _exit(4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(dest_count(d, &t, "region=us/n=1"), 2);
    assert_int_equal(dest_count(d, &t, NULL), 14);
    /* the next attempt of that partition clears the leftover and replaces it */
    assert_int_equal(write_part(d, &t, &sch, "region=us/n=1", "us", 1, 6, "D", false), 0);
    assert_int_equal(dest_count(d, &t, "region=us/n=1"), 6);
    assert_int_equal(dest_count(d, &t, NULL), 18);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE tag = 'C'", tq);
    assert_int_equal(db_int(h, sql), 0);
    assert_int_equal(db_int(h, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME"
                               " LIKE '\\_\\_mms%' AND TABLE_SCHEMA = 'dst`db \xc3\xa9'"),
                     0);

    /* an aborted partition write leaves the old rows too */
    struct conn_writer *w = NULL;
    assert_int_equal(ops->write_begin(d, &t, "region=eu/n=2", &sch, &w, &err), 0);
    ops->write_abort(w);
    assert_int_equal(dest_count(d, &t, "region=eu/n=2"), 4);

    /* errors: a non-integer value of an integer key, a spec that names no rows, a partition
     * key that is not a data column */
    w = NULL;
    assert_int_equal(ops->write_begin(d, &t, "region=eu/n=x", &sch, &w, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Value");
    assert_null(w);
    assert_int_equal(ops->write_begin(d, &t, "partition=p1", &sch, &w, &err), -1);
    assert_null(w);
    struct conn_column zz = {.name = (char *)"zz", .type = {.id = MT_INT64}};
    struct conn_schema bad = sch;
    bad.pcols = &zz;
    bad.npcols = 1;
    struct conn_target t2 = {.project = DST_DB, .table = "parts2"};
    assert_int_equal(ops->create_table(d, &t2, &bad, NULL, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Unsupported");
    mysql_close(h);
    ops->close(d);
}

static void test_values_that_do_not_fit(void **state)
{
    (void)state;
    struct conn *d = open_dst(), *s = open_src();
    struct mms_err err = {0};
    struct conn_column cols[3] = {
        {.name = (char *)"id", .type = {.id = MT_INT64}, .nullable = true},
        {.name = (char *)"sm`all", .type = {.id = MT_INT8}, .nullable = true},
        {.name = (char *)"d", .type = {.id = MT_FLOAT64}, .nullable = true},
    };
    struct conn_schema sch = {.cols = cols, .ncols = 3};
    struct conn_target t = {.project = DST_DB, .table = "fit"};
    struct conn_writer *w = NULL;
    struct rowbatch b;
    rowbatch_init(&b, 3, 100, 1 << 20);

    /* 2^64-1 into BIGINT (signed) */
    assert_int_equal(ops->create_table(d, &t, &sch, NULL, &err), 0);
    assert_int_equal(ops->write_begin(d, &t, NULL, &sch, &w, &err), 0);
    for (int i = 0; i < 3; i++) {
        struct val *row = rowbatch_add_row(&b);
        if (i == 2)
            rowbatch_set_uint(&row[0], UINT64_MAX);
        else
            rowbatch_set_int(&row[0], i);
    }
    assert_int_equal(ops->write_batch(w, &b, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Value");
    assert_non_null(strstr(err.msg, "`" DST_DB "`.`fit`"));
    assert_non_null(strstr(err.msg, "column `id`"));
    assert_non_null(strstr(err.msg, "18446744073709551615"));
    ops->write_abort(w);

    /* 300 into TINYINT, with a nasty column name */
    rowbatch_clear(&b);
    assert_int_equal(ops->write_begin(d, &t, NULL, &sch, &w, &err), 0);
    struct val *row = rowbatch_add_row(&b);
    rowbatch_set_int(&row[1], 5);
    row = rowbatch_add_row(&b);
    rowbatch_set_int(&row[1], 300);
    assert_int_equal(ops->write_batch(w, &b, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Value");
    assert_non_null(strstr(err.msg, "column `sm`all`"));
    assert_non_null(strstr(err.msg, "value '300'"));
    ops->write_abort(w);

    /* -0.0 and NaN: MySQL stores -0 as 0 and has no NaN */
    double bad[2] = {-0.0, NAN};
    for (int k = 0; k < 2; k++) {
        rowbatch_clear(&b);
        assert_int_equal(ops->write_begin(d, &t, NULL, &sch, &w, &err), 0);
        row = rowbatch_add_row(&b);
        rowbatch_set_double(&row[2], bad[k]);
        assert_int_equal(ops->write_batch(w, &b, &err), -1);
        assert_string_equal(err.code, "ConnectorError.Value");
        assert_non_null(strstr(err.msg, "column `d`"));
        assert_non_null(strstr(err.msg, k == 0 ? "value -0 " : "value nan "));
        ops->write_abort(w);
    }

    /* a duplicate key in a target its owner created with a primary key */
    MYSQL *h = db_open();
    db_exec(h, "CREATE TABLE " DST_DB_Q ".`keyed` (id BIGINT PRIMARY KEY, `sm``all` TINYINT,"
               " d DOUBLE)");
    struct conn_target kt = {.project = DST_DB, .table = "keyed"};
    rowbatch_clear(&b);
    assert_int_equal(ops->write_begin(d, &kt, NULL, &sch, &w, &err), 0);
    for (int i = 0; i < 3; i++)
        rowbatch_set_int(&rowbatch_add_row(&b)[0], i == 2 ? 0 : i);
    assert_int_equal(ops->write_batch(w, &b, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Value");
    assert_non_null(strstr(err.msg, "Duplicate entry '0'"));
    ops->write_abort(w);
    mysql_close(h);
    rowbatch_release(&b);

    /* a decimal MySQL cannot declare */
    struct conn_column dcol[1] = {{.name = (char *)"big", .type = {.id = MT_DECIMAL,
                                                                   .precision = 70,
                                                                   .scale = 2}}};
    struct conn_schema dsch = {.cols = dcol, .ncols = 1};
    struct conn_target dt = {.project = DST_DB, .table = "dec"};
    assert_int_equal(ops->create_table(d, &dt, &dsch, NULL, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Unsupported");
    assert_non_null(strstr(err.msg, "decimal(70,2)"));

    /* a zero date at the source */
    struct conn_schema zs = {0};
    struct conn_reader *r = NULL;
    assert_int_equal(ops->table_schema(s, SRC_DB, "zero", &zs, &err), 0);
    assert_int_equal(ops->read_open(s, SRC_DB, "zero", NULL, &zs, &r, &err), 0);
    rowbatch_init(&b, zs.ncols, 100, 1 << 20);
    assert_int_equal(ops->read_next(r, &b, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Value");
    assert_non_null(strstr(err.msg, "`zero` column `d`: value '0000-00-00' is a MySQL zero date"));
    ops->read_close(r);
    rowbatch_release(&b);
    conn_schema_release(&zs);
    ops->close(s);
    ops->close(d);
}

/* Many rows: several INSERT statements per batch; an error in a later statement still names
 * the right row's value; a large value alone in its statement. */
static void test_many_rows_and_large_values(void **state)
{
    (void)state;
    struct conn *d = open_dst();
    struct mms_err err = {0};
    struct conn_column cols[3] = {
        {.name = (char *)"id", .type = {.id = MT_INT64}, .nullable = false},
        {.name = (char *)"small", .type = {.id = MT_INT8}, .nullable = true},
        {.name = (char *)"pad", .type = {.id = MT_TEXT}, .nullable = true},
    };
    struct conn_schema sch = {.cols = cols, .ncols = 3};
    struct conn_target t = {.project = DST_DB, .table = "many"};
    struct conn_writer *w = NULL;
    struct rowbatch b;
    enum { N = 6000 };
    char pad[500];
    memset(pad, 'p', sizeof pad);
    rowbatch_init(&b, 3, N, 64 << 20);
    for (int i = 0; i < N; i++) {
        struct val *row = rowbatch_add_row(&b);
        rowbatch_set_int(&row[0], i);
        rowbatch_set_int(&row[1], i == 4321 ? 999 : i % 100);
        rowbatch_set_bytes(&b, &row[2], VAL_TEXT, pad, sizeof pad);
    }
    assert_int_equal(ops->create_table(d, &t, &sch, NULL, &err), 0);
    assert_int_equal(ops->write_begin(d, &t, NULL, &sch, &w, &err), 0);
    assert_int_equal(ops->write_batch(w, &b, &err), -1); /* ~3 MB: the 3rd statement fails */
    assert_string_equal(err.code, "ConnectorError.Value");
    assert_non_null(strstr(err.msg, "column `small`: value '999'"));
    ops->write_abort(w);

    rowbatch_row(&b, 4321)[1].v.i = 21;
    /* one 3 MB value, bigger than a statement's target size */
    size_t big = 3u << 20;
    char *huge = malloc(big);
    memset(huge, 'h', big);
    rowbatch_set_bytes(&b, &rowbatch_row(&b, 17)[2], VAL_TEXT, huge, big);
    free(huge);
    assert_int_equal(ops->write_begin(d, &t, NULL, &sch, &w, &err), 0);
    assert_int_equal(ops->write_batch(w, &b, &err), 0);
    assert_int_equal(ops->write_commit(w, &err), 0);
    MYSQL *h = db_open();
    assert_int_equal(db_int(h, "SELECT COUNT(*) FROM " DST_DB_Q ".`many`"), N);
    assert_int_equal(db_int(h, "SELECT SUM(id) FROM " DST_DB_Q ".`many`"), (int64_t)N * (N - 1) / 2);
    assert_int_equal(db_int(h, "SELECT LENGTH(pad) FROM " DST_DB_Q ".`many` WHERE id = 17"),
                     (int64_t)big);
    assert_int_equal(db_int(h, "SELECT COUNT(*) FROM " DST_DB_Q ".`many` WHERE LENGTH(pad) = 500"),
                     N - 1);
    mysql_close(h);
    struct conn_checksum c1, c2;
    checksum_init(&c1);
    checksum_add_batch(&c1, &b);
    checksum_dst(ops, d, &t, &sch, &c2);
    assert_checksums_equal(&c1, &c2);
    rowbatch_release(&b);

    /* a reader closed in the middle of its stream (cancelled, not drained) */
    struct conn_reader *r = NULL;
    rowbatch_init(&b, 3, 10, 1 << 20);
    assert_int_equal(ops->read_dest_open(d, &t, NULL, &sch, &r, &err), 0);
    assert_int_equal(ops->read_next(r, &b, &err), 0);
    assert_int_equal(b.nrows, 10);
    ops->read_close(r);
    rowbatch_release(&b);
    int64_t n = 0;
    assert_int_equal(ops->count_dest(d, &t, NULL, &n, NULL, &err), 0);
    assert_int_equal(n, N);
    ops->close(d);
}

static void test_config_errors(void **state)
{
    (void)state;
    struct conn *c = NULL;
    struct mms_err err = {0};
    static const char *const bad_urls[] = {
        "mysql:/x", "mysql://", "mysql://h:0/", "mysql://h:99999/", "mysql://u:p@h:1/db",
        "mysql://h/?foo=1", "mysql://h/?ssl_mode=MAYBE", "postgres://h/", "mysql://u%zz@h/",
    };
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(ops->open_dest(&c, bad_urls[i], &err), -1);
        assert_string_equal(err.code, "ConnectorError.Config");
    }
    json_t *cfg = json_pack("{s:s}", "mysql.user", "x");
    assert_int_equal(ops->open_source(&c, cfg, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Config");
    json_decref(cfg);
    cfg = json_pack("{s:s, s:I, s:s, s:s}", "mysql.host", "127.0.0.1", "mysql.port",
                    (json_int_t)port, "mysql.user", "mms", "mysql.password", "wrong");
    assert_int_equal(ops->open_source(&c, cfg, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Connect");
    assert_non_null(strstr(err.msg, "Access denied"));
    json_decref(cfg);
    /* limited to one database */
    cfg = json_pack("{s:s, s:s, s:s, s:s, s:s}", "mysql.host", "127.0.0.1", "mysql.port", "0",
                    "mysql.user", "mms", "mysql.password", "mms", "mysql.database", SRC_DB);
    assert_int_equal(ops->open_source(&c, cfg, &err), -1); /* port 0 */
    assert_string_equal(err.code, "ConnectorError.Config");
    char p[16];
    snprintf(p, sizeof p, "%u", port);
    json_object_set_new(cfg, "mysql.port", json_string(p));
    assert_int_equal(ops->open_source(&c, cfg, &err), 0);
    char acc[1024] = "";
    assert_int_equal(ops->list_dbs(c, collect_db, acc, &err), 0);
    assert_string_equal(acc, SRC_DB "\n");
    ops->close(c);
    json_decref(cfg);

    /* registered under its type and URL scheme */
    assert_ptr_equal(conn_find("MYSQL"), ops);
    assert_ptr_equal(conn_find("mysql"), ops);
    assert_ptr_equal(conn_find_scheme("mysql://u:p@h:3306/"), ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog),
        cmocka_unit_test(test_mysql_round_trip),
        cmocka_unit_test(test_sqlite_to_mysql),
        cmocka_unit_test(test_mysql_to_sqlite),
        cmocka_unit_test(test_atomic_replace),
        cmocka_unit_test(test_write_join),
        cmocka_unit_test(test_partitions_inside_plain_table),
        cmocka_unit_test(test_source_partitions),
        cmocka_unit_test(test_zero_date_cast),
        cmocka_unit_test(test_values_that_do_not_fit),
        cmocka_unit_test(test_many_rows_and_large_values),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
