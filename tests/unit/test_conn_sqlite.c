/* The SQLite connector against real database files in a mkdtemp() folder: catalog, exact
 * SQLite -> SQLite copies (storage class and bytes of every value), checksums, crash safety of
 * the atomic replace, batch caps, errors; plus the registry and the schema JSON form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
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

#define NASTY_TABLE                                                                                \
    "t\xc3\xa1"                                                                                    \
    "bla \xc3\xbcn\xc3\xaf" /* "tábla ünï" */
#define GEN_ROWS 3000

static char tmpdir[] = "/tmp/mms_conn_sqlite_XXXXXX";
static char src_path[512];
static char dest_url[512];
static char dest_db[512]; /* the file of project "proj" */
static const struct conn_ops *ops = &conn_sqlite_ops;

/* ---- plain sqlite3 helpers -------------------------------------------------------------- */

static sqlite3 *db_open(const char *path)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    return h;
}

static void db_exec(sqlite3 *h, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "exec failed: %s\n  in: %s\n", msg, sql);
        sqlite3_free(msg);
        fail();
    }
}

static int64_t db_int(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* A value to insert with an explicit storage class. */
struct tv {
    int cls; /* SQLITE_NULL, SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB */
    int64_t i;
    double d;
    const char *p;
    int n;
};

#define TNULL                                                                                      \
    {                                                                                              \
        SQLITE_NULL, 0, 0, NULL, 0                                                                 \
    }
#define TINT(x)                                                                                    \
    {                                                                                              \
        SQLITE_INTEGER, (x), 0, NULL, 0                                                            \
    }
#define TDBL(x)                                                                                    \
    {                                                                                              \
        SQLITE_FLOAT, 0, (x), NULL, 0                                                              \
    }
#define TTXT(s)                                                                                    \
    {                                                                                              \
        SQLITE_TEXT, 0, 0, (s), (int)sizeof(s) - 1                                                 \
    }
#define TBLOB(s)                                                                                   \
    {                                                                                              \
        SQLITE_BLOB, 0, 0, (s), (int)sizeof(s) - 1                                                 \
    }

static char long_text[301];

/* Every value lands in every column of the nasty table (affinity conversions happen at the
 * source insert; what matters is that the destination ends up with the same classes/bytes). */
static const struct tv values[] = {
    TNULL,
    TINT(INT64_MIN),
    TINT(INT64_MAX),
    TINT(0),
    TINT(-1),
    TINT(1),
    TDBL(0.1),
    TDBL(1e308),
    TDBL(-0.0),
    TDBL(5e-324),
    TDBL(0.30000000000000004),
    TDBL(1.5),
    TDBL(-1e-300),
    TTXT(""),
    TTXT("123"),
    TTXT("12.50"),
    TTXT("1e5"),
    TTXT("-0.0"),
    TTXT("  42  "),
    TTXT("9223372036854775808"),
    TTXT("say \"hi\" it's\nnew line\ttab \xf0\x9f\x98\x80 \xc3\xbcn\xc3\xaf"),
    TTXT("a\0b"),
    TBLOB("\0\x01\0"),
    {SQLITE_BLOB, 0, 0, "", 0}, /* empty blob */
    TBLOB("hello"),
    {SQLITE_TEXT, 0, 0, long_text, 300},
};
#define NVALUES (sizeof values / sizeof values[0])
#define NASTY_COLS 11

static void bind_tv(sqlite3_stmt *st, int i, const struct tv *v)
{
    switch (v->cls) {
    case SQLITE_NULL:
        sqlite3_bind_null(st, i);
        break;
    case SQLITE_INTEGER:
        sqlite3_bind_int64(st, i, v->i);
        break;
    case SQLITE_FLOAT:
        sqlite3_bind_double(st, i, v->d);
        break;
    case SQLITE_TEXT:
        sqlite3_bind_text(st, i, v->p, v->n, SQLITE_STATIC);
        break;
    case SQLITE_BLOB:
        if (v->n == 0)
            sqlite3_bind_zeroblob(st, i, 0);
        else
            sqlite3_bind_blob(st, i, v->p, v->n, SQLITE_STATIC);
        break;
    }
}

static void make_source(void)
{
    memset(long_text, 'L', 300);
    sqlite3 *h = db_open(src_path);
    db_exec(h,
            "CREATE TABLE \"" NASTY_TABLE "\" ("
            "\"id\" INTEGER NOT NULL, \"col \"\"q\"\" .x\" TEXT, \"\xc3\xbcn\xc3\xaf.c\xc3\xb4l\""
            " VARCHAR(20), \"r\" REAL, \"b\" BLOB, \"mixed\", \"flag\" BOOLEAN,"
            " \"amount\" NUMERIC(10,2), \"j\" JSON, \"d\" DATE, \"big\" BIGINT)");
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(h, "INSERT INTO \"" NASTY_TABLE "\" VALUES (?,?,?,?,?,?,?,?,?,?,?)", -1,
                           &st, NULL),
        SQLITE_OK);
    db_exec(h, "BEGIN");
    /* 3 * NVALUES rows cycle every value through every column, then plain rows. */
    for (int k = 0; k < (int)(3 * NVALUES) + GEN_ROWS; k++) {
        sqlite3_bind_int64(st, 1, k);
        for (int c = 2; c <= NASTY_COLS; c++) {
            if (k < (int)(3 * NVALUES)) {
                bind_tv(st, c, &values[(size_t)(k * 7 + c) % NVALUES]);
            } else if (c == 4 || c == 6) {
                sqlite3_bind_double(st, c, k / 7.0);
            } else {
                char text[64];
                int n = snprintf(text, sizeof text, "row %d col %d", k, c);
                sqlite3_bind_text(st, c, text, n, SQLITE_TRANSIENT);
            }
        }
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    db_exec(h, "COMMIT");
    sqlite3_finalize(st);

    /* The mixed-class column with a value of every kind, once more in a table of its own. */
    db_exec(h, "CREATE TABLE mixed_only (v)");
    assert_int_equal(sqlite3_prepare_v2(h, "INSERT INTO mixed_only VALUES (?)", -1, &st, NULL),
                     SQLITE_OK);
    for (size_t i = 0; i < NVALUES; i++) {
        bind_tv(st, 1, &values[i]);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);

    /* Things the catalog must hide or handle. */
    db_exec(h, "CREATE TABLE auto (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);"
               "INSERT INTO auto (v) VALUES ('x');" /* creates sqlite_sequence */
               "CREATE TABLE __mms_stage_auto (id, v);"
               "CREATE VIEW v_auto AS SELECT * FROM auto;"
               "CREATE TABLE gen (x INTEGER, g1 INTEGER AS (x * 2) VIRTUAL,"
               " g2 TEXT AS ('v' || x) STORED);"
               "INSERT INTO gen (x) VALUES (1), (2), (NULL);"
               "CREATE TABLE strict_any (k INTEGER, a ANY) STRICT;"
               "INSERT INTO strict_any VALUES (1, '123'), (2, 123), (3, '1.0'), (4, x'00');"
               "CREATE TABLE wide (id INTEGER, t TEXT);"
               "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)"
               " INSERT INTO wide SELECT i, printf('%.1000c', 'w') FROM n;"
               "CREATE TABLE huge (id INTEGER, b BLOB);"
               "INSERT INTO huge VALUES (1, zeroblob(1000000)), (2, x'01'), (3, x'02');");
    sqlite3_close(h);
}

/* Compares two tables value by value in rowid order: storage class and exact bytes. */
static void assert_tables_equal(const char *db1, const char *t1, const char *db2, const char *t2)
{
    sqlite3 *a = db_open(db1), *b = db_open(db2);
    char *q1 = sqlite3_mprintf("SELECT * FROM \"%w\" ORDER BY rowid", t1);
    char *q2 = sqlite3_mprintf("SELECT * FROM \"%w\" ORDER BY rowid", t2);
    sqlite3_stmt *s1 = NULL, *s2 = NULL;
    assert_int_equal(sqlite3_prepare_v2(a, q1, -1, &s1, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(b, q2, -1, &s2, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_column_count(s1), sqlite3_column_count(s2));
    int ncols = sqlite3_column_count(s1);
    int64_t rows = 0;
    for (;;) {
        int r1 = sqlite3_step(s1), r2 = sqlite3_step(s2);
        assert_int_equal(r1, r2);
        if (r1 == SQLITE_DONE)
            break;
        assert_int_equal(r1, SQLITE_ROW);
        rows++;
        for (int c = 0; c < ncols; c++) {
            int ty = sqlite3_column_type(s1, c);
            if (ty != sqlite3_column_type(s2, c))
                fprintf(stderr, "row %lld col %d: class %d vs %d\n", (long long)rows, c, ty,
                        sqlite3_column_type(s2, c));
            assert_int_equal(ty, sqlite3_column_type(s2, c));
            switch (ty) {
            case SQLITE_INTEGER:
                assert_true(sqlite3_column_int64(s1, c) == sqlite3_column_int64(s2, c));
                break;
            case SQLITE_FLOAT: {
                double x = sqlite3_column_double(s1, c), y = sqlite3_column_double(s2, c);
                assert_memory_equal(&x, &y, sizeof x); /* bits, so -0.0 != 0.0 */
                break;
            }
            case SQLITE_TEXT: {
                const void *x = sqlite3_column_text(s1, c), *y = sqlite3_column_text(s2, c);
                int n = sqlite3_column_bytes(s1, c);
                assert_int_equal(n, sqlite3_column_bytes(s2, c));
                assert_memory_equal(x, y, (size_t)n);
                break;
            }
            case SQLITE_BLOB: {
                const void *x = sqlite3_column_blob(s1, c), *y = sqlite3_column_blob(s2, c);
                int n = sqlite3_column_bytes(s1, c);
                assert_int_equal(n, sqlite3_column_bytes(s2, c));
                if (n)
                    assert_memory_equal(x, y, (size_t)n);
                break;
            }
            default:
                break;
            }
        }
    }
    assert_true(rows > 0);
    sqlite3_finalize(s1);
    sqlite3_finalize(s2);
    sqlite3_free(q1);
    sqlite3_free(q2);
    sqlite3_close(a);
    sqlite3_close(b);
}

/* ---- connector helpers ------------------------------------------------------------------ */

static struct conn *open_src(void)
{
    struct conn *c = NULL;
    struct mms_err err = {0};
    json_t *cfg = json_pack("{s:s}", "sqlite.path", src_path);
    assert_int_equal(ops->open_source(&c, cfg, &err), 0);
    json_decref(cfg);
    return c;
}

static struct conn *open_dst(void)
{
    struct conn *c = NULL;
    struct mms_err err = {0};
    if (ops->open_dest(&c, dest_url, &err) != 0)
        fail_msg("open_dest: %s %s", err.code, err.msg);
    return c;
}

/* Copies src table -> dst project "proj" table dst_table with the given batch caps; returns
 * the number of rows written. */
static int64_t copy_table(struct conn *src, const char *table, struct conn *dst,
                          const char *dst_table, size_t max_rows, size_t max_bytes)
{
    struct mms_err err = {0};
    struct conn_schema s = {0};
    struct conn_reader *r = NULL;
    struct conn_writer *w = NULL;
    struct conn_target t = {"proj", NULL, dst_table};
    struct rowbatch b;
    char *sql = NULL;
    int64_t rows = 0;

    if (ops->table_schema(src, "main", table, &s, &err) != 0)
        fail_msg("table_schema: %s", err.msg);
    if (ops->create_table(dst, &t, &s, &sql, &err) != 0)
        fail_msg("create_table: %s %s", err.code, err.msg);
    assert_non_null(strstr(sql, "CREATE TABLE IF NOT EXISTS"));
    free(sql);
    assert_int_equal(ops->read_open(src, "main", table, NULL, &s, &r, &err), 0);
    if (ops->write_begin(dst, &t, NULL, &s, &w, &err) != 0)
        fail_msg("write_begin: %s %s", err.code, err.msg);
    rowbatch_init(&b, s.ncols, max_rows, max_bytes);
    for (;;) {
        assert_int_equal(ops->read_next(r, &b, &err), 0);
        if (b.nrows == 0)
            break;
        rows += (int64_t)b.nrows;
        if (ops->write_batch(w, &b, &err) != 0)
            fail_msg("write_batch: %s %s", err.code, err.msg);
    }
    if (ops->write_commit(w, &err) != 0)
        fail_msg("write_commit: %s %s", err.code, err.msg);
    rowbatch_release(&b);
    ops->read_close(r);
    conn_schema_release(&s);
    return rows;
}

static struct conn_checksum sum_reader(struct conn_reader *r, size_t ncols)
{
    struct rowbatch b;
    struct conn_checksum c;
    struct mms_err err = {0};
    rowbatch_init(&b, ncols, 256, 1 << 20);
    assert_int_equal(checksum_read(ops, r, &b, &c, &err), 0);
    rowbatch_release(&b);
    return c;
}

static struct conn_checksum sum_source(struct conn *src, const char *table)
{
    struct mms_err err = {0};
    struct conn_schema s = {0};
    struct conn_reader *r = NULL;
    assert_int_equal(ops->table_schema(src, "main", table, &s, &err), 0);
    assert_int_equal(ops->read_open(src, "main", table, NULL, &s, &r, &err), 0);
    struct conn_checksum c = sum_reader(r, s.ncols);
    ops->read_close(r);
    conn_schema_release(&s);
    return c;
}

/* The destination table read back with a schema taken from the source table. */
static struct conn_checksum sum_dest(struct conn *src, const char *src_table, struct conn *dst,
                                     const char *table)
{
    struct mms_err err = {0};
    struct conn_schema s = {0};
    struct conn_reader *r = NULL;
    struct conn_target t = {"proj", NULL, table};
    assert_int_equal(ops->table_schema(src, "main", src_table, &s, &err), 0);
    if (ops->read_dest_open(dst, &t, NULL, &s, &r, &err) != 0)
        fail_msg("read_dest_open: %s", err.msg);
    struct conn_checksum c = sum_reader(r, s.ncols);
    ops->read_close(r);
    conn_schema_release(&s);
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

struct seen {
    char names[32][64];
    int n;
    struct conn_table_info nasty; /* copied scalars */
    size_t nasty_cols;
};

static int collect_tables(void *ctx, const struct conn_table_info *t)
{
    struct seen *s = ctx;
    snprintf(s->names[s->n++], 64, "%s", t->name);
    if (strcmp(t->name, NASTY_TABLE) == 0) {
        s->nasty = *t;
        s->nasty.name = NULL;
        s->nasty.type = NULL;
        s->nasty_cols = t->schema.ncols;
        assert_string_equal(t->type, "TABLE");
    }
    return 0;
}

static int collect_db(void *ctx, const char *db)
{
    snprintf(ctx, 16, "%s", db);
    return 0;
}

static int stop_at_first(void *ctx, const struct conn_table_info *t)
{
    (void)t;
    (*(int *)ctx)++;
    return 7;
}

static bool seen_has(const struct seen *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return true;
    return false;
}

static void test_catalog(void **state)
{
    (void)state;
    struct conn *c = open_src();
    struct mms_err err = {0};
    char db[16] = "";
    assert_int_equal(ops->ping(c, &err), 0);
    assert_int_equal(ops->list_dbs(c, collect_db, db, &err), 0);
    assert_string_equal(db, "main");

    struct seen s = {0};
    assert_int_equal(ops->list_tables(c, "main", collect_tables, &s, &err), 0);
    assert_true(seen_has(&s, NASTY_TABLE));
    assert_true(seen_has(&s, "auto"));
    assert_true(seen_has(&s, "gen"));
    assert_false(seen_has(&s, "sqlite_sequence"));
    assert_false(seen_has(&s, "__mms_stage_auto"));
    assert_false(seen_has(&s, "v_auto")); /* views are not tables */
    assert_int_equal(s.nasty.num_rows, 3 * NVALUES + GEN_ROWS);
    assert_true(s.nasty.size > 0); /* dbstat is compiled into Debian's SQLite */
    assert_true(s.nasty.last_modified > 0);
    assert_true(s.nasty.last_ddl_time == s.nasty.last_modified);
    assert_int_equal(s.nasty_cols, NASTY_COLS);

    int calls = 0;
    assert_int_equal(ops->list_tables(c, "main", stop_at_first, &calls, &err), 7);
    assert_int_equal(calls, 1);
    assert_int_equal(ops->list_partitions(c, "main", NASTY_TABLE, NULL, NULL, &err), 0);
    assert_int_equal(ops->list_tables(c, "other", collect_tables, &s, &err), -1);
    assert_string_equal(err.code, "ConnectorError.NotFound");
    ops->close(c);
}

static void test_schema_mapping(void **state)
{
    (void)state;
    struct conn *c = open_src();
    struct mms_err err = {0};
    struct conn_schema s = {0};
    assert_int_equal(ops->table_schema(c, "main", NASTY_TABLE, &s, &err), 0);
    assert_int_equal(s.ncols, NASTY_COLS);
    assert_string_equal(s.source_type, "SQLITE");
    static const struct {
        const char *name, *native, *type;
        bool nullable;
    } want[NASTY_COLS] = {
        {"id", "INTEGER", "int64", false},
        {"col \"q\" .x", "TEXT", "text", true},
        {"\xc3\xbcn\xc3\xaf.c\xc3\xb4l", "VARCHAR(20)", "varchar(20)", true},
        {"r", "REAL", "float64", true},
        {"b", "BLOB", "binary", true},
        {"mixed", "", "any", true},
        {"flag", "BOOLEAN", "bool", true},
        {"amount", "NUMERIC(10,2)", "decimal(10,2)", true},
        {"j", "JSON", "json", true},
        {"d", "DATE", "date", true},
        {"big", "BIGINT", "int64", true},
    };
    for (size_t i = 0; i < NASTY_COLS; i++) {
        char ty[64];
        mms_type_format(&s.cols[i].type, ty, sizeof ty);
        assert_string_equal(s.cols[i].name, want[i].name);
        assert_string_equal(s.cols[i].native_type, want[i].native);
        assert_string_equal(ty, want[i].type);
        assert_int_equal(s.cols[i].nullable, want[i].nullable);
    }
    conn_schema_release(&s);

    /* generated columns are read as ordinary ones */
    assert_int_equal(ops->table_schema(c, "main", "gen", &s, &err), 0);
    assert_int_equal(s.ncols, 3);
    assert_string_equal(s.cols[2].name, "g2");
    conn_schema_release(&s);

    assert_int_equal(ops->table_schema(c, "main", "no such table", &s, &err), -1);
    assert_string_equal(err.code, "ConnectorError.NotFound");
    assert_non_null(strstr(err.msg, "no such table"));
    ops->close(c);
}

/* ---- tests: the exact round trip -------------------------------------------------------- */

static void test_round_trip_exact(void **state)
{
    (void)state;
    struct conn *src = open_src(), *dst = open_dst();
    struct mms_err err = {0};
    int64_t rows = copy_table(src, NASTY_TABLE, dst, NASTY_TABLE, 100, 1 << 20);
    assert_int_equal(rows, 3 * NVALUES + GEN_ROWS);
    assert_tables_equal(src_path, NASTY_TABLE, dest_db, NASTY_TABLE);
    assert_sums_equal(sum_source(src, NASTY_TABLE), sum_dest(src, NASTY_TABLE, dst, NASTY_TABLE));

    /* declared types (hence affinities) are the source's, verbatim */
    sqlite3 *h = db_open(dest_db);
    assert_int_equal(db_int(h, "SELECT count(*) FROM pragma_table_info('" NASTY_TABLE "') p"
                               " WHERE p.type = CASE p.cid WHEN 0 THEN 'INTEGER' WHEN 1 THEN"
                               " 'TEXT' WHEN 2 THEN 'VARCHAR(20)' WHEN 3 THEN 'REAL' WHEN 4"
                               " THEN 'BLOB' WHEN 5 THEN '' WHEN 6 THEN 'BOOLEAN' WHEN 7 THEN"
                               " 'NUMERIC(10,2)' WHEN 8 THEN 'JSON' WHEN 9 THEN 'DATE' ELSE"
                               " 'BIGINT' END"),
                     NASTY_COLS);
    assert_int_equal(
        db_int(h, "SELECT \"notnull\" FROM pragma_table_info('" NASTY_TABLE "') WHERE name = 'id'"),
        1);
    sqlite3_close(h);

    int64_t n1 = -1, n2 = -1;
    char *sql1 = NULL, *sql2 = NULL;
    struct conn_target t = {"proj", "ignored schema", NASTY_TABLE};
    assert_int_equal(ops->count_source(src, "main", NASTY_TABLE, NULL, &n1, &sql1, &err), 0);
    assert_int_equal(ops->count_dest(dst, &t, NULL, &n2, &sql2, &err), 0);
    assert_int_equal(n1, n2);
    assert_string_equal(sql1, "SELECT COUNT(*) FROM \"main\".\"" NASTY_TABLE "\"");
    assert_string_equal(sql2, sql1);
    free(sql1);
    free(sql2);
    ops->close(src);
    ops->close(dst);
}

static void test_mixed_classes_and_special_doubles(void **state)
{
    (void)state;
    struct conn *src = open_src(), *dst = open_dst();
    copy_table(src, "mixed_only", dst, "mixed_only", 3, 1 << 20);
    assert_tables_equal(src_path, "mixed_only", dest_db, "mixed_only");
    assert_sums_equal(sum_source(src, "mixed_only"),
                      sum_dest(src, "mixed_only", dst, "mixed_only"));

    sqlite3 *h = db_open(dest_db);
    /* every class kept, NULL and '' distinct, the empty blob still a blob */
    assert_int_equal(db_int(h, "SELECT count(*) FROM mixed_only WHERE v IS NULL"), 1);
    assert_int_equal(db_int(h, "SELECT count(*) FROM mixed_only WHERE typeof(v)='text' AND v=''"),
                     1);
    assert_int_equal(db_int(h, "SELECT count(*) FROM mixed_only WHERE typeof(v)='blob' AND"
                               " length(v)=0"),
                     1);
    assert_int_equal(db_int(h, "SELECT count(*) FROM mixed_only WHERE typeof(v)='text' AND"
                               " v='123'"),
                     1);
    assert_int_equal(db_int(h, "SELECT count(*) FROM mixed_only WHERE typeof(v)='text' AND"
                               " length(CAST(v AS BLOB))=3 AND hex(v)='610062'"),
                     1); /* "a\0b" */
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(h, "SELECT v FROM mixed_only WHERE typeof(v)='real'", -1, &st, NULL),
        SQLITE_OK);
    bool neg_zero = false, denorm = false, point1 = false;
    while (sqlite3_step(st) == SQLITE_ROW) {
        double d = sqlite3_column_double(st, 0);
        neg_zero |= d == 0.0 && signbit(d);
        denorm |= d == 5e-324;
        point1 |= d == 0.1;
    }
    sqlite3_finalize(st);
    assert_true(neg_zero && denorm && point1);
    assert_int_equal(db_int(h, "SELECT count(*) FROM mixed_only WHERE v = 9223372036854775807"), 1);
    assert_int_equal(db_int(h, "SELECT count(*) FROM mixed_only WHERE v = -9223372036854775807-1"),
                     1);
    sqlite3_close(h);
    ops->close(src);
    ops->close(dst);
}

static void test_generated_and_strict(void **state)
{
    (void)state;
    struct conn *src = open_src(), *dst = open_dst();
    copy_table(src, "gen", dst, "gen", 100, 1 << 20);
    assert_tables_equal(src_path, "gen", dest_db, "gen");
    copy_table(src, "strict_any", dst, "strict_any", 100, 1 << 20);
    assert_tables_equal(src_path, "strict_any", dest_db, "strict_any");
    sqlite3 *h = db_open(dest_db);
    /* generated columns became ordinary columns holding the values */
    assert_int_equal(db_int(h, "SELECT g1 FROM gen WHERE x = 2"), 4);
    /* ANY of a STRICT table has no declared type at the destination: '123' stays text */
    assert_int_equal(db_int(h, "SELECT count(*) FROM strict_any WHERE typeof(a)='text'"), 2);
    sqlite3_close(h);
    ops->close(src);
    ops->close(dst);
}

/* A UTF-16 source: text is read as UTF-8 and written to a UTF-8 destination unchanged. */
static void test_utf16_source(void **state)
{
    (void)state;
    char path[512], saved[512];
    snprintf(path, sizeof path, "%s/utf16.db", tmpdir);
    sqlite3 *h = db_open(path);
    db_exec(h, "PRAGMA encoding = 'UTF-16le';"
               "CREATE TABLE u (t TEXT, n);"
               "INSERT INTO u VALUES ('\xc3\xbcn\xc3\xaf \xf0\x9f\x98\x80', 1),"
               " ('', x'00ff'), (NULL, 'plain');");
    sqlite3_close(h);
    snprintf(saved, sizeof saved, "%s", src_path);
    snprintf(src_path, sizeof src_path, "%s", path);
    struct conn *src = open_src(), *dst = open_dst();
    assert_int_equal(copy_table(src, "u", dst, "u16", 2, 1 << 20), 3);
    assert_tables_equal(path, "u", dest_db, "u16");
    ops->close(src);
    ops->close(dst);
    snprintf(src_path, sizeof src_path, "%s", saved);
}

/* A schema from another kind of source: generic declarations chosen for their affinity. */
static void test_generic_declarations(void **state)
{
    (void)state;
    struct conn *dst = open_dst();
    struct mms_err err = {0};
    struct conn_column cols[] = {
        {.name = (char *)"j",
         .type = {.id = MT_JSON},
         .native_type = (char *)"json",
         .nullable = true},
        {.name = (char *)"a",
         .type = {.id = MT_ANY},
         .native_type = (char *)"sql_variant",
         .nullable = true},
        {.name = (char *)"n",
         .type = {.id = MT_DECIMAL, .precision = 12, .scale = 3},
         .native_type = (char *)"numeric(12,3)",
         .nullable = false},
        {.name = (char *)"u",
         .type = {.id = MT_UINT64},
         .native_type = (char *)"bigint unsigned",
         .nullable = true},
        {.name = (char *)"evil",
         .type = {.id = MT_TEXT},
         .native_type = (char *)"TEXT); DROP TABLE x; --",
         .nullable = true},
    };
    struct conn_schema s = {.cols = cols, .ncols = 5, .source_type = NULL};
    struct conn_target t = {"proj", NULL, "generic"};
    char *sql = NULL;
    assert_int_equal(ops->create_table(dst, &t, &s, &sql, &err), 0);
    assert_string_equal(sql, "CREATE TABLE IF NOT EXISTS \"main\".\"generic\" (\"j\" TEXT, \"a\","
                             " \"n\" NUMERIC(12,3) NOT NULL, \"u\" INTEGER, \"evil\" TEXT)");
    free(sql);
    /* the same schema marked as SQLite reuses safe native names, never unsafe ones */
    s.source_type = (char *)"SQLITE";
    cols[0].native_type = (char *)"JSON";
    t.table = "generic2";
    assert_int_equal(ops->create_table(dst, &t, &s, &sql, &err), 0);
    assert_non_null(strstr(sql, "\"j\" JSON"));
    assert_non_null(strstr(sql, "\"evil\" TEXT)"));
    free(sql);

    /* a uint64 above INT64_MAX does not fit: an error, not a silent REAL */
    struct conn_writer *w = NULL;
    struct rowbatch b;
    rowbatch_init(&b, 5, 10, 1 << 20);
    struct val *v = rowbatch_add_row(&b);
    rowbatch_set_int(&v[2], 1);
    rowbatch_set_uint(&v[3], UINT64_MAX);
    t.table = "generic";
    assert_int_equal(ops->write_begin(dst, &t, NULL, &s, &w, &err), 0);
    assert_int_equal(ops->write_batch(w, &b, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Value");
    ops->write_abort(w);
    rowbatch_release(&b);
    ops->close(dst);
}

/* ---- tests: atomic replace -------------------------------------------------------------- */

static void make_blob_schema(struct conn_schema *s, struct conn_column cols[2])
{
    memset(cols, 0, 2 * sizeof cols[0]);
    cols[0].name = (char *)"id";
    cols[0].type.id = MT_INT64;
    cols[0].native_type = (char *)"INTEGER";
    cols[0].nullable = true;
    cols[1].name = (char *)"payload";
    cols[1].type.id = MT_BINARY;
    cols[1].native_type = (char *)"BLOB";
    cols[1].nullable = true;
    memset(s, 0, sizeof *s);
    s->cols = cols;
    s->ncols = 2;
    s->source_type = (char *)"SQLITE";
}

/* Writes rows [0, n) of payload_len bytes each (first byte = tag) in batches. */
static int write_rows(struct conn_writer *w, int n, size_t payload_len, unsigned char tag)
{
    struct mms_err err = {0};
    struct rowbatch b;
    unsigned char *payload = calloc(1, payload_len);
    payload[0] = tag;
    rowbatch_init(&b, 2, 64, 8 << 20);
    for (int i = 0; i < n; i++) {
        if (rowbatch_full(&b)) {
            if (conn_sqlite_ops.write_batch(w, &b, &err) != 0)
                return -1;
            rowbatch_clear(&b);
        }
        struct val *v = rowbatch_add_row(&b);
        rowbatch_set_int(&v[0], i);
        rowbatch_set_bytes(&b, &v[1], VAL_BLOB, payload, payload_len);
    }
    int rc = conn_sqlite_ops.write_batch(w, &b, &err);
    rowbatch_release(&b);
    free(payload);
    return rc;
}

static void test_crash_before_commit_keeps_old_table(void **state)
{
    (void)state;
    struct conn *dst = open_dst();
    struct mms_err err = {0};
    struct conn_schema s;
    struct conn_column cols[2];
    struct conn_target t = {"proj", NULL, "crash \"t\""};
    struct conn_writer *w = NULL;
    make_blob_schema(&s, cols);

    /* v1: 10 small rows, committed */
    assert_int_equal(ops->create_table(dst, &t, &s, NULL, &err), 0);
    assert_int_equal(ops->write_begin(dst, &t, NULL, &s, &w, &err), 0);
    assert_int_equal(write_rows(w, 10, 16, 'A'), 0);
    assert_int_equal(ops->write_commit(w, &err), 0);

    /* a view on the table must survive every replace */
    sqlite3 *h = db_open(dest_db);
    db_exec(h, "CREATE VIEW IF NOT EXISTS crash_view AS SELECT id FROM \"crash \"\"t\"\"\"");
    sqlite3_close(h);

    /* a writer that dies after more than 64 MB (so some staging rows were committed) */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct conn *d2 = NULL;
        struct conn_writer *w2 = NULL;
        if (conn_sqlite_ops.open_dest(&d2, dest_url, &err) != 0 ||
            conn_sqlite_ops.write_begin(d2, &t, NULL, &s, &w2, &err) != 0 ||
            write_rows(w2, 1200, 64 << 10, 'B') != 0)
            _exit(3);
        raise(SIGKILL);
        _exit(4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    h = db_open(dest_db);
    assert_int_equal(db_int(h, "SELECT count(*) FROM \"crash \"\"t\"\"\""), 10);
    assert_int_equal(db_int(h, "SELECT count(*) FROM \"crash \"\"t\"\"\" WHERE hex(substr("
                               "payload, 1, 1)) = '41'"),
                     10);
    /* the leftover staging table holds what was committed early, invisibly */
    int64_t staged = db_int(h, "SELECT count(*) FROM \"__mms_stage_crash \"\"t\"\"\"");
    assert_true(staged > 0 && staged < 1200);
    sqlite3_close(h);

    /* an aborted attempt also leaves v1 and drops its staging */
    assert_int_equal(ops->write_begin(dst, &t, NULL, &s, &w, &err), 0);
    assert_int_equal(write_rows(w, 5, 16, 'C'), 0);
    ops->write_abort(w);
    h = db_open(dest_db);
    assert_int_equal(db_int(h, "SELECT count(*) FROM \"crash \"\"t\"\"\""), 10);
    assert_int_equal(db_int(h, "SELECT count(*) FROM sqlite_master WHERE name LIKE"
                               " '__mms_stage_crash%'"),
                     0);
    sqlite3_close(h);

    /* the next complete attempt replaces the table; the view follows the new table */
    assert_int_equal(ops->write_begin(dst, &t, NULL, &s, &w, &err), 0);
    assert_int_equal(write_rows(w, 7, 16, 'D'), 0);
    assert_int_equal(ops->write_commit(w, &err), 0);
    h = db_open(dest_db);
    assert_int_equal(db_int(h, "SELECT count(*) FROM crash_view"), 7);
    assert_int_equal(db_int(h, "SELECT count(*) FROM \"crash \"\"t\"\"\" WHERE hex(substr("
                               "payload, 1, 1)) = '44'"),
                     7);
    assert_int_equal(db_int(h, "SELECT count(*) FROM sqlite_master WHERE name LIKE"
                               " '__mms_stage_%'"),
                     0);
    sqlite3_close(h);
    ops->close(dst);
}

/* ---- tests: partitions inside a plain table ------------------------------------------- */

/* id int64, region text, n int64, tag text; partition keys region and n (data columns too). */
static void make_part_schema(struct conn_schema *s, struct conn_column cols[4])
{
    static const char *const names[4] = {"id", "region", "n", "tag"};
    static const enum mms_type_id ids[4] = {MT_INT64, MT_TEXT, MT_INT64, MT_TEXT};
    memset(cols, 0, 4 * sizeof cols[0]);
    for (int i = 0; i < 4; i++) {
        cols[i].name = (char *)names[i];
        cols[i].type.id = ids[i];
        cols[i].nullable = true;
    }
    memset(s, 0, sizeof *s);
    s->cols = cols;
    s->ncols = 4;
    s->pcols = &cols[1];
    s->npcols = 2;
    s->source_type = (char *)"POSTGRESQL";
}

/* Writes partition spec with nrows rows (region, n) tagged tag, and commits unless die. */
static int write_part(struct conn *dst, const struct conn_target *t, const struct conn_schema *s,
                      const char *spec, const char *region, int64_t n, int nrows, const char *tag,
                      bool die)
{
    struct mms_err err = {0};
    struct conn_writer *w = NULL;
    struct rowbatch b;
    if (ops->write_begin(dst, t, spec, s, &w, &err) != 0) {
        fprintf(stderr, "write_begin %s: %s %s\n", spec, err.code, err.msg);
        return -1;
    }
    rowbatch_init(&b, 4, 64, 1 << 20);
    for (int i = 0; i < nrows; i++) {
        struct val *v = rowbatch_add_row(&b);
        rowbatch_set_int(&v[0], i);
        rowbatch_set_bytes(&b, &v[1], VAL_TEXT, region, strlen(region));
        rowbatch_set_int(&v[2], n);
        rowbatch_set_bytes(&b, &v[3], VAL_TEXT, tag, strlen(tag));
    }
    int rc = ops->write_batch(w, &b, &err);
    rowbatch_release(&b);
    if (die)
        raise(SIGKILL);
    if (rc != 0) {
        ops->write_abort(w);
        return -1;
    }
    return ops->write_commit(w, &err);
}

static int64_t dest_count(struct conn *dst, const struct conn_target *t, const char *spec)
{
    struct mms_err err = {0};
    int64_t n = -1;
    char *sql = NULL;
    if (ops->count_dest(dst, t, spec, &n, &sql, &err) != 0)
        fail_msg("count_dest %s: %s %s", spec ? spec : "(all)", err.code, err.msg);
    free(sql);
    return n;
}

static void test_partitions_inside_plain_table(void **state)
{
    (void)state;
    struct conn *dst = open_dst();
    struct mms_err err = {0};
    struct conn_schema s;
    struct conn_column cols[4];
    struct conn_target t = {"proj", NULL, "parts \"p\""};
    make_part_schema(&s, cols);

    /* a plain table with the keys as data columns */
    assert_int_equal(ops->create_table(dst, &t, &s, NULL, &err), 0);
    sqlite3 *h = db_open(dest_db);
    assert_int_equal(db_int(h, "SELECT count(*) FROM pragma_table_info('parts \"p\"')"), 4);
    sqlite3_close(h);

    assert_int_equal(write_part(dst, &t, &s, "region=eu/n=1", "eu", 1, 3, "A", false), 0);
    assert_int_equal(write_part(dst, &t, &s, "region=us/n=1", "us", 1, 2, "A", false), 0);
    assert_int_equal(write_part(dst, &t, &s, "region=eu/n=2", "eu", 2, 4, "A", false), 0);
    /* percent-decoded values; the spelling does not matter */
    assert_int_equal(write_part(dst, &t, &s, "region=a%2Fb%3d'/n=3", "a/b='", 3, 1, "A", false),
                     0);
    assert_int_equal(dest_count(dst, &t, NULL), 10);
    assert_int_equal(dest_count(dst, &t, "region=eu/n=1"), 3);
    assert_int_equal(dest_count(dst, &t, "region=us/n=1"), 2);
    assert_int_equal(dest_count(dst, &t, "region=eu/n=2"), 4);
    assert_int_equal(dest_count(dst, &t, "region=a%2Fb%3D%27/n=3"), 1);
    assert_int_equal(dest_count(dst, &t, "region=eu/n=3"), 0);

    /* replacing one partition leaves the others' rows untouched */
    assert_int_equal(write_part(dst, &t, &s, "region=eu/n=1", "eu", 1, 5, "B", false), 0);
    assert_int_equal(dest_count(dst, &t, NULL), 12);
    h = db_open(dest_db);
    assert_int_equal(db_int(h, "SELECT count(*) FROM \"parts \"\"p\"\"\" WHERE region = 'eu'"
                               " AND n = 1 AND tag = 'B'"),
                     5);
    assert_int_equal(db_int(h, "SELECT count(*) FROM \"parts \"\"p\"\"\" WHERE tag = 'A'"), 7);
    /* integer keys are stored and compared as integers */
    assert_int_equal(db_int(h, "SELECT count(*) FROM \"parts \"\"p\"\"\" WHERE typeof(n) <>"
                               " 'integer'"),
                     0);
    assert_int_equal(db_int(h, "SELECT count(*) FROM sqlite_master WHERE name LIKE"
                               " '__mms_stage_%'"),
                     0);
    sqlite3_close(h);

    /* the destination reader of a partition reads only its rows */
    struct conn_reader *r = NULL;
    struct rowbatch b;
    int64_t got = 0;
    assert_int_equal(ops->read_dest_open(dst, &t, "region=eu/n=1", &s, &r, &err), 0);
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
        if (conn_sqlite_ops.open_dest(&d2, dest_url, &err) != 0)
            _exit(3);
        write_part(d2, &t, &s, "region=us/n=1", "us", 1, 50, "C", true);
        _exit(4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(dest_count(dst, &t, "region=us/n=1"), 2);
    assert_int_equal(dest_count(dst, &t, NULL), 12);
    /* the next attempt of that partition clears the leftover and replaces it */
    assert_int_equal(write_part(dst, &t, &s, "region=us/n=1", "us", 1, 6, "D", false), 0);
    assert_int_equal(dest_count(dst, &t, "region=us/n=1"), 6);
    assert_int_equal(dest_count(dst, &t, NULL), 16);
    h = db_open(dest_db);
    assert_int_equal(db_int(h, "SELECT count(*) FROM \"parts \"\"p\"\"\" WHERE tag = 'C'"), 0);
    assert_int_equal(db_int(h, "SELECT count(*) FROM sqlite_master WHERE name LIKE"
                               " '__mms_stage_%'"),
                     0);
    sqlite3_close(h);

    /* an aborted partition write leaves the old rows too */
    struct conn_writer *w = NULL;
    assert_int_equal(ops->write_begin(dst, &t, "region=eu/n=2", &s, &w, &err), 0);
    ops->write_abort(w);
    assert_int_equal(dest_count(dst, &t, "region=eu/n=2"), 4);

    /* errors: a non-integer value of an integer key, a key that is not a column, a spec that
     * names no rows, a partition key that is not a data column */
    w = NULL;
    assert_int_equal(ops->write_begin(dst, &t, "region=eu/n=x", &s, &w, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Value");
    assert_null(w);
    assert_int_equal(ops->write_begin(dst, &t, "zone=eu", &s, &w, &err), -1);
    assert_null(w);
    assert_int_equal(ops->write_begin(dst, &t, "FOR VALUES IN ('eu')", &s, &w, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Unsupported");
    struct conn_column zz = cols[1];
    zz.name = (char *)"zz";
    struct conn_schema bad = s;
    bad.pcols = &zz;
    bad.npcols = 1;
    struct conn_target t2 = {"proj", NULL, "parts2"};
    assert_int_equal(ops->create_table(dst, &t2, &bad, NULL, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Unsupported");
    ops->close(dst);
}

/* ---- tests: batch caps ------------------------------------------------------------------ */

static void read_with_caps(struct conn *src, const char *table, size_t max_rows, size_t max_bytes,
                           size_t *batches, size_t *rows, size_t *max_seen_rows,
                           size_t *max_seen_bytes, size_t *first_rows)
{
    struct mms_err err = {0};
    struct conn_schema s = {0};
    struct conn_reader *r = NULL;
    struct rowbatch b;
    assert_int_equal(ops->table_schema(src, "main", table, &s, &err), 0);
    assert_int_equal(ops->read_open(src, "main", table, NULL, &s, &r, &err), 0);
    rowbatch_init(&b, s.ncols, max_rows, max_bytes);
    *batches = *rows = *max_seen_rows = *max_seen_bytes = *first_rows = 0;
    for (;;) {
        assert_int_equal(ops->read_next(r, &b, &err), 0);
        if (b.nrows == 0)
            break;
        if (*batches == 0)
            *first_rows = b.nrows;
        (*batches)++;
        *rows += b.nrows;
        if (b.nrows > *max_seen_rows)
            *max_seen_rows = b.nrows;
        if (rowbatch_bytes_used(&b) > *max_seen_bytes)
            *max_seen_bytes = rowbatch_bytes_used(&b);
    }
    /* reading past the end stays at the end */
    assert_int_equal(ops->read_next(r, &b, &err), 0);
    assert_int_equal(b.nrows, 0);
    rowbatch_release(&b);
    ops->read_close(r);
    conn_schema_release(&s);
}

static void test_batches_respect_caps(void **state)
{
    (void)state;
    struct conn *src = open_src();
    size_t batches, rows, max_rows, max_bytes, first;

    read_with_caps(src, NASTY_TABLE, 7, 1 << 20, &batches, &rows, &max_rows, &max_bytes, &first);
    assert_int_equal(rows, 3 * NVALUES + GEN_ROWS);
    assert_int_equal(max_rows, 7);
    assert_int_equal(batches, (rows + 6) / 7);

    /* 500 rows of ~1 KB with a 10 KB cap: cut by bytes, overshoot at most one row */
    size_t row_bytes = 2 * sizeof(struct val) + 1000;
    read_with_caps(src, "wide", 1000, 10000, &batches, &rows, &max_rows, &max_bytes, &first);
    assert_int_equal(rows, 500);
    assert_true(max_bytes < 10000 + row_bytes);
    assert_true(max_rows <= 10000 / row_bytes + 1);
    assert_true(batches >= 500 / (10000 / row_bytes + 1));

    /* one 1 MB value over a 64 KB cap: a batch of its own, the stream goes on */
    read_with_caps(src, "huge", 1000, 64 << 10, &batches, &rows, &max_rows, &max_bytes, &first);
    assert_int_equal(rows, 3);
    assert_int_equal(first, 1);
    assert_int_equal(batches, 2);
    ops->close(src);
}

/* ---- tests: errors ---------------------------------------------------------------------- */

static void expect_source_error(json_t *cfg, const char *code, const char *in_msg)
{
    struct conn *c = NULL;
    struct mms_err err = {0};
    assert_int_equal(ops->open_source(&c, cfg, &err), -1);
    assert_null(c);
    assert_string_equal(err.code, code);
    if (in_msg && !strstr(err.msg, in_msg))
        fail_msg("message '%s' does not mention '%s'", err.msg, in_msg);
    json_decref(cfg);
}

static void expect_dest_error(const char *url)
{
    struct conn *c = NULL;
    struct mms_err err = {0};
    assert_int_equal(ops->open_dest(&c, url, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Config");
}

static void test_errors(void **state)
{
    (void)state;
    char missing[600], notdb[600];
    snprintf(missing, sizeof missing, "%s/missing.db", tmpdir);
    snprintf(notdb, sizeof notdb, "%s/not_a_db.db", tmpdir);
    FILE *f = fopen(notdb, "w");
    fputs("this is not a database, just text long enough to fill a header page....", f);
    fclose(f);

    expect_source_error(json_object(), "ConnectorError.Config", "sqlite.path");
    expect_source_error(json_pack("{s:i}", "sqlite.path", 3), "ConnectorError.Config", NULL);
    expect_source_error(json_pack("{s:s}", "sqlite.path", missing), "ConnectorError.Connect",
                        missing);
    expect_source_error(json_pack("{s:s}", "sqlite.path", tmpdir), "ConnectorError.Connect",
                        tmpdir);
    expect_source_error(json_pack("{s:s}", "sqlite.path", notdb), "ConnectorError.Connect", notdb);

    expect_dest_error("sqlite://relative/dir");
    expect_dest_error("sqlite:relative");
    expect_dest_error("sqlite://host/abs");
    expect_dest_error("mysql:///abs");
    expect_dest_error("sqlite:///bad%zzescape");

    struct mms_err err = {0};
    struct conn *src = open_src(), *dst = open_dst();
    struct conn_schema s = {0};
    struct conn_reader *r = NULL;
    struct conn_writer *w = NULL;
    int64_t n;
    assert_int_equal(ops->table_schema(src, "main", "auto", &s, &err), 0);

    /* no partitions */
    assert_int_equal(ops->read_open(src, "main", "auto", "p=1", &s, &r, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Unsupported");
    assert_int_equal(ops->count_source(src, "main", "auto", "p=1", &n, NULL, &err), -1);
    struct conn_target t = {"proj", NULL, "auto_copy"};
    assert_int_equal(ops->write_begin(dst, &t, "p=1", &s, &w, &err), -1);
    assert_null(w);

    /* project names are file names */
    static const char *const bad_projects[] = {"", "a/b", "a\\b", "..", "x..y", "tab\tbed"};
    for (size_t i = 0; i < sizeof bad_projects / sizeof bad_projects[0]; i++) {
        struct conn_target bt = {bad_projects[i], NULL, "t"};
        assert_int_equal(ops->create_table(dst, &bt, &s, NULL, &err), -1);
        assert_string_equal(err.code, "ConnectorError.Config");
    }
    char long_name[202];
    memset(long_name, 'p', 201);
    long_name[201] = '\0';
    struct conn_target lt = {long_name, NULL, "t"};
    assert_int_equal(ops->create_table(dst, &lt, &s, NULL, &err), -1);
    long_name[200] = '\0';
    assert_int_equal(ops->create_table(dst, &lt, &s, NULL, &err), 0);

    /* an existing table with other columns */
    struct conn_schema other = {0};
    assert_int_equal(ops->table_schema(src, "main", "gen", &other, &err), 0);
    t.table = "auto_copy";
    assert_int_equal(ops->create_table(dst, &t, &s, NULL, &err), 0);
    assert_int_equal(ops->create_table(dst, &t, &s, NULL, &err), 0); /* same columns: fine */
    assert_int_equal(ops->create_table(dst, &t, &other, NULL, &err), -1);
    assert_string_equal(err.code, "ConnectorError.SchemaMismatch");
    assert_non_null(strstr(err.msg, "auto_copy"));
    assert_non_null(strstr(err.msg, "\"x\""));
    assert_int_equal(ops->write_begin(dst, &t, NULL, &other, &w, &err), -1);
    assert_string_equal(err.code, "ConnectorError.SchemaMismatch");

    /* counting a project that was never written */
    struct conn_target nt = {"never", NULL, "t"};
    assert_int_equal(ops->count_dest(dst, &nt, NULL, &n, NULL, &err), -1);
    assert_string_equal(err.code, "ConnectorError.NotFound");

    conn_schema_release(&other);
    conn_schema_release(&s);
    assert_int_equal(ops->ping(dst, &err), 0);
    ops->close(src);
    ops->close(dst);
}

/* ---- tests: registry and schema JSON ---------------------------------------------------- */

static void test_registry(void **state)
{
    (void)state;
    assert_ptr_equal(conn_find("SQLITE"), &conn_sqlite_ops);
    assert_ptr_equal(conn_find("sqlite"), &conn_sqlite_ops);
    assert_null(conn_find("ORACLE"));
    assert_null(conn_find(NULL));
    assert_ptr_equal(conn_find_scheme("sqlite:///tmp/x"), &conn_sqlite_ops);
    assert_ptr_equal(conn_find_scheme("SQLite:///tmp/x"), &conn_sqlite_ops);
    assert_null(conn_find_scheme("sqlite3:///tmp/x"));
    assert_null(conn_find_scheme("/tmp/x"));
    /* Every registered connector is found by its own type and scheme, and SQLite is among
     * them (other connectors join the list as they land). */
    const struct conn_ops *const *all = conn_all();
    bool have_sqlite = false;
    for (size_t i = 0; all[i]; i++) {
        assert_ptr_equal(conn_find(all[i]->type), all[i]);
        have_sqlite = have_sqlite || all[i] == &conn_sqlite_ops;
    }
    assert_true(have_sqlite);
}

static void test_schema_json(void **state)
{
    (void)state;
    struct conn *src = open_src();
    struct mms_err err = {0};
    struct conn_schema s = {0}, back = {0}, copy = {0};
    assert_int_equal(ops->table_schema(src, "main", NASTY_TABLE, &s, &err), 0);
    json_t *j = conn_schema_to_json(&s, NASTY_TABLE);
    assert_string_equal(json_string_value(json_object_get(j, "name")), NASTY_TABLE);
    json_t *c2 = json_array_get(json_object_get(j, "columns"), 2);
    assert_string_equal(json_string_value(json_object_get(c2, "type")), "varchar(20)");
    assert_string_equal(json_string_value(json_object_get(c2, "nativeType")), "VARCHAR(20)");
    assert_true(json_is_true(json_object_get(c2, "nullable")));
    assert_true(json_is_null(json_object_get(c2, "comment")));

    /* text round trip */
    char *text = json_dumps(j, 0);
    json_t *j2 = json_loads(text, 0, NULL);
    assert_int_equal(conn_schema_from_json(j2, &back, &err), 0);
    conn_schema_copy(&copy, &back);
    json_t *j3 = conn_schema_to_json(&copy, NASTY_TABLE);
    assert_true(json_equal(j, j3));
    assert_string_equal(copy.source_type, "SQLITE");
    assert_int_equal(copy.ncols, NASTY_COLS);
    assert_int_equal(copy.cols[7].type.precision, 10);

    /* bad input */
    struct conn_schema bad = {0};
    json_t *b1 = json_loads("{\"columns\":[{\"name\":\"a\",\"type\":\"int\"}]}", 0, NULL);
    assert_int_equal(conn_schema_from_json(b1, &bad, &err), -1);
    assert_non_null(strstr(err.msg, "unknown type"));
    json_t *b2 = json_loads("{\"columns\":[{\"type\":\"int64\"}]}", 0, NULL);
    assert_int_equal(conn_schema_from_json(b2, &bad, &err), -1);
    json_t *b3 = json_loads("{\"columns\":{}}", 0, NULL);
    assert_int_equal(conn_schema_from_json(b3, &bad, &err), -1);
    json_t *b4 = json_loads("{\"columns\":[{\"name\":\"a\\u0000b\",\"type\":\"int64\"}]}", 0, NULL);
    assert_int_equal(conn_schema_from_json(b4, &bad, &err), -1);
    json_t *b5 =
        json_loads("{\"columns\":[{\"name\":\"a\",\"type\":\"int64\",\"nullable\":1}]}", 0, NULL);
    assert_int_equal(conn_schema_from_json(b5, &bad, &err), -1);

    json_decref(b1);
    json_decref(b2);
    json_decref(b3);
    json_decref(b4);
    json_decref(b5);
    json_decref(j);
    json_decref(j2);
    json_decref(j3);
    free(text);
    conn_schema_release(&s);
    conn_schema_release(&back);
    conn_schema_release(&copy);
    ops->close(src);
}

/* ---- setup ------------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(src_path, sizeof src_path, "%s/source.db", tmpdir);
    /* the destination folder does not exist yet: open_dest creates it (mkdir -p) */
    snprintf(dest_url, sizeof dest_url, "sqlite://%s/dest/sub", tmpdir);
    snprintf(dest_db, sizeof dest_db, "%s/dest/sub/proj.db", tmpdir);
    make_source();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (getenv("KEEP_TMP"))
        return 0;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog),
        cmocka_unit_test(test_schema_mapping),
        cmocka_unit_test(test_round_trip_exact),
        cmocka_unit_test(test_mixed_classes_and_special_doubles),
        cmocka_unit_test(test_generated_and_strict),
        cmocka_unit_test(test_utf16_source),
        cmocka_unit_test(test_generic_declarations),
        cmocka_unit_test(test_crash_before_commit_keeps_old_table),
        cmocka_unit_test(test_partitions_inside_plain_table),
        cmocka_unit_test(test_batches_respect_caps),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_schema_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
