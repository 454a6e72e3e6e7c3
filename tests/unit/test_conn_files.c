/* The FILES connector against real directory trees in a mkdtemp() folder: text and CSV round
 * trips of nasty values (exact kinds and bytes), the documented on-disk encodings, partition
 * trees with escaped values, schema-file typing and the no-schema fallback, malformed values
 * and layouts with their messages, the atomic replace and its crash recovery, and a
 * SQLite -> FILES -> SQLite copy through the connectors with equal checksums. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conn/checksum.h"
#include "conn/conn.h"

static char tmpdir[] = "/tmp/mms_conn_files_XXXXXX";
static const struct conn_ops *ops = &conn_files_ops;

/* ---- helpers ---------------------------------------------------------------------------- */

static void put_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

#define PUT(path, lit) put_file((path), (lit), sizeof(lit) - 1)

static char *get_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)len + 1);
    assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
    p[len] = '\0';
    fclose(f);
    *n = (size_t)len;
    return p;
}

static void mkdirs(const char *path)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...)
{
    static char bufs[256][1024];
    static int k;
    char *b = bufs[k++ % 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, 1024, fmt, ap);
    va_end(ap);
    return b;
}

static struct conn *open_src(const char *root, const char *format)
{
    json_t *cfg = json_pack("{s:s, s:s}", "files.root", root, "files.format", format);
    struct conn *c = NULL;
    struct mms_err err = {0};
    int rc = ops->open_source(&c, cfg, &err);
    json_decref(cfg);
    if (rc != 0)
        fprintf(stderr, "open_source: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return c;
}

static struct conn *open_dst(const char *root, const char *format)
{
    struct conn *c = NULL;
    struct mms_err err = {0};
    char *url = pathf("file://%s?format=%s", root, format);
    int rc = ops->open_dest(&c, url, &err);
    if (rc != 0)
        fprintf(stderr, "open_dest: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return c;
}

static void col_set(struct conn_column *c, const char *name, const char *type)
{
    memset(c, 0, sizeof *c);
    c->name = strdup(name);
    assert_int_equal(mms_type_parse(type, &c->type), 0);
    c->nullable = true;
}

/* A schema from "name:type" strings; partition keys after a NULL. */
static void schema_make(struct conn_schema *s, const char *const *cols, size_t n,
                        const char *const *keys, size_t nk)
{
    memset(s, 0, sizeof *s);
    s->cols = calloc(n, sizeof *s->cols);
    s->ncols = n;
    for (size_t i = 0; i < n; i++) {
        char name[128];
        const char *colon = strrchr(cols[i], ':');
        snprintf(name, sizeof name, "%.*s", (int)(colon - cols[i]), cols[i]);
        col_set(&s->cols[i], name, colon + 1);
    }
    if (nk) {
        s->pcols = calloc(nk, sizeof *s->pcols);
        s->npcols = nk;
        for (size_t i = 0; i < nk; i++)
            col_set(&s->pcols[i], keys[i], "text");
    }
}

static void vals_equal(const struct rowbatch *a, size_t ra, const struct rowbatch *b, size_t rb,
                       size_t row_for_msg)
{
    const struct val *x = rowbatch_row(a, ra), *y = rowbatch_row(b, rb);
    for (size_t i = 0; i < a->ncols; i++) {
        if (x[i].kind != y[i].kind)
            fprintf(stderr, "row %zu col %zu: kind %d vs %d\n", row_for_msg, i, x[i].kind,
                    y[i].kind);
        assert_int_equal(x[i].kind, y[i].kind);
        switch (x[i].kind) {
        case VAL_NULL:
            break;
        case VAL_INT:
            assert_int_equal(x[i].v.i, y[i].v.i);
            break;
        case VAL_UINT:
            assert_true(x[i].v.u == y[i].v.u);
            break;
        case VAL_DOUBLE:
            assert_memory_equal(&x[i].v.d, &y[i].v.d, sizeof(double));
            break;
        case VAL_TEXT:
        case VAL_BLOB:
            if (x[i].len != y[i].len ||
                memcmp(rowbatch_bytes(a, &x[i]), rowbatch_bytes(b, &y[i]), x[i].len) != 0)
                fprintf(stderr, "row %zu col %zu: '%.*s' vs '%.*s'\n", row_for_msg, i,
                        (int)x[i].len, rowbatch_bytes(a, &x[i]), (int)y[i].len,
                        rowbatch_bytes(b, &y[i]));
            assert_int_equal(x[i].len, y[i].len);
            assert_memory_equal(rowbatch_bytes(a, &x[i]), rowbatch_bytes(b, &y[i]), x[i].len);
            break;
        }
    }
}

static void set_text(struct rowbatch *b, struct val *v, const char *s, size_t n)
{
    rowbatch_set_bytes(b, v, VAL_TEXT, s, n);
}

#define TXT(b, v, s) set_text((b), (v), (s), strlen(s))

/* Writes the batch as one table or partition (create_table first). */
static void write_all(struct conn *dst, const struct conn_target *t, const char *part,
                      const struct conn_schema *s, const struct rowbatch *b)
{
    struct mms_err err = {0};
    struct conn_writer *w = NULL;
    char *sql = NULL;
    int rc = ops->create_table(dst, t, s, &sql, &err);
    if (rc)
        fprintf(stderr, "create_table: %s\n", err.msg);
    assert_int_equal(rc, 0);
    free(sql);
    rc = ops->write_begin(dst, t, part, s, &w, &err);
    if (rc)
        fprintf(stderr, "write_begin: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(ops->writer_sql(w));
    assert_int_equal(ops->write_batch(w, b, &err), 0);
    rc = ops->write_commit(w, &err);
    if (rc)
        fprintf(stderr, "write_commit: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

/* Reads a table or partition into out (initialised here with cap rows). */
static int read_all(struct conn *c, const char *db, const char *table, const char *part,
                    const struct conn_schema *s, struct rowbatch *out, struct mms_err *err)
{
    struct conn_reader *r = NULL;
    struct rowbatch b;
    rowbatch_init(out, s->ncols, 100000, (size_t)1 << 30);
    if (ops->read_open(c, db, table, part, s, &r, err) < 0)
        return -1;
    rowbatch_init(&b, s->ncols, 3, 1 << 20); /* small batches: records span read_next calls */
    int rc = 0;
    for (;;) {
        if ((rc = ops->read_next(r, &b, err)) < 0)
            break;
        if (b.nrows == 0)
            break;
        for (size_t i = 0; i < b.nrows; i++) {
            struct val *dst = rowbatch_add_row(out);
            const struct val *src = rowbatch_row(&b, i);
            for (size_t k = 0; k < b.ncols; k++) {
                if (src[k].kind == VAL_TEXT || src[k].kind == VAL_BLOB)
                    rowbatch_set_bytes(out, &dst[k], src[k].kind, rowbatch_bytes(&b, &src[k]),
                                       src[k].len);
                else
                    dst[k] = src[k];
            }
        }
    }
    rowbatch_release(&b);
    ops->read_close(r);
    return rc;
}

/* ---- round trips ------------------------------------------------------------------------ */

static const char *const rt_cols[] = {
    "id:int64",          "s:text",  "bin:binary",      "d:float64", "u:uint64", "flag:bool",
    "dec:decimal(10,2)", "dt:date", "ts:timestamp(6)", "j:json",    "i8:int8",  "tm:time",
};
#define RT_NCOLS (sizeof rt_cols / sizeof rt_cols[0])

static void rt_fill(struct rowbatch *b)
{
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    static const char *const texts[] = {
        "",
        "\\N",
        "N",
        "\\",
        "a\x01"
        "b,c\"d\"\ne\r\nf\\g",
        "t\xc3\xa1"
        "bla \xc3\xbcn\xc3\xaf \xf0\x9f\x98\x80",
        "  spaces  ",
        "\"",
        "\"\"",
        ",",
        "\r",
        "\n",
        "\\n literal",
        "trailing backslash\\",
        "__HIVE_DEFAULT_PARTITION__",
    };
    static const double dbl[] = {0.1,     -0.0,        5e-324, 1e308, 1.0 / 3, 0.30000000000000004,
                                 -1e-300, 123456789.0, 2.5};
    size_t ntexts = sizeof texts / sizeof texts[0];
    /* row 0: all NULL but the id */
    struct val *r = rowbatch_add_row(b);
    rowbatch_set_int(&r[0], 0);
    for (size_t k = 1; k <= 40; k++) {
        r = rowbatch_add_row(b);
        rowbatch_set_int(&r[0], (int64_t)k * (k % 2 ? -1 : 1) * 1000003);
        const char *t = texts[k % ntexts];
        set_text(b, &r[1], t, strlen(t));
        if (k % 7 == 3)
            set_text(b, &r[1], "a\0b", 3); /* an embedded NUL */
        if (k % 5 == 0)
            rowbatch_set_bytes(b, &r[2], VAL_BLOB, all, 256);
        else if (k % 5 == 1)
            rowbatch_set_bytes(b, &r[2], VAL_BLOB, "", 0);
        else
            rowbatch_set_bytes(b, &r[2], VAL_BLOB, all + k, k % 4);
        if (k % 11 == 4)
            rowbatch_set_double(&r[3], INFINITY);
        else if (k % 11 == 5)
            rowbatch_set_double(&r[3], -INFINITY);
        else
            rowbatch_set_double(&r[3], dbl[k % (sizeof dbl / sizeof dbl[0])] * (double)k);
        if (k % 3 == 0)
            rowbatch_set_uint(&r[4], UINT64_MAX - k);
        else
            rowbatch_set_int(&r[4], k % 3 == 1 ? INT64_MAX : (int64_t)k);
        rowbatch_set_int(&r[5], k % 2);
        TXT(b, &r[6], k % 2 ? "-12345678.90" : "0.05");
        TXT(b, &r[7], k % 2 ? "2024-02-29" : "0001-01-01");
        TXT(b, &r[8], k % 2 ? "9999-12-31 23:59:59.999999" : "1970-01-01 00:00:00");
        TXT(b, &r[9], "{\"a\": [1, \"x,\\\"y\"], \"b\": null}");
        rowbatch_set_int(&r[10], k % 2 ? -128 : 127);
        TXT(b, &r[11], k % 2 ? "23:59:59.5" : "-838:59:59");
        if (k == 40) /* NULLs in every column of one row, among values */
            for (size_t c = 1; c < RT_NCOLS; c++)
                r[c].kind = VAL_NULL;
    }
}

static void round_trip(const char *format)
{
    char *root = pathf("%s/rt_%s", tmpdir, format);
    struct conn *dst = open_dst(root, format);
    struct conn_schema s, got = {0};
    struct rowbatch in, out;
    struct mms_err err = {0};
    struct conn_target t = {"warehouse", NULL,
                            "nasty t\xc3\xa1"
                            "ble \"q\" 'x';y"};
    schema_make(&s, rt_cols, RT_NCOLS, NULL, 0);
    rowbatch_init(&in, RT_NCOLS, 1000, 1 << 24);
    rt_fill(&in);
    write_all(dst, &t, NULL, &s, &in);

    /* the same tree as a source: the schema file gives the types back */
    struct conn *src = open_src(root, format);
    assert_int_equal(ops->ping(src, &err), 0);
    assert_int_equal(ops->ping(dst, &err), 0);
    assert_int_equal(ops->table_schema(src, "warehouse", t.table, &got, &err), 0);
    assert_int_equal(got.ncols, RT_NCOLS);
    assert_int_equal(got.npcols, 0);
    for (size_t i = 0; i < RT_NCOLS; i++) {
        assert_string_equal(got.cols[i].name, s.cols[i].name);
        assert_int_equal(got.cols[i].type.id, s.cols[i].type.id);
    }
    assert_int_equal(read_all(src, "warehouse", t.table, NULL, &got, &out, &err), 0);
    assert_int_equal(out.nrows, in.nrows);
    for (size_t r = 0; r < in.nrows; r++)
        vals_equal(&in, r, &out, r, r);

    /* counts and the destination reader agree */
    int64_t n = 0;
    char *sql = NULL;
    assert_int_equal(ops->count_source(src, "warehouse", t.table, NULL, &n, &sql, &err), 0);
    assert_int_equal(n, (int64_t)in.nrows);
    assert_non_null(strstr(sql, "count rows of"));
    free(sql);
    assert_int_equal(ops->count_dest(dst, &t, NULL, &n, NULL, &err), 0);
    assert_int_equal(n, (int64_t)in.nrows);
    struct conn_reader *rd = NULL;
    struct rowbatch cb;
    struct conn_checksum c1, c2;
    rowbatch_init(&cb, RT_NCOLS, 7, 1 << 20);
    assert_int_equal(ops->read_dest_open(dst, &t, NULL, &s, &rd, &err), 0);
    assert_int_equal(checksum_read(ops, rd, &cb, &c1, &err), 0);
    ops->read_close(rd);
    checksum_init(&c2);
    checksum_add_batch(&c2, &in);
    assert_int_equal(c1.rows, c2.rows);
    assert_true(c1.sum_lo == c2.sum_lo && c1.sum_hi == c2.sum_hi);

    /* the catalog */
    rowbatch_release(&cb);
    rowbatch_release(&in);
    rowbatch_release(&out);
    conn_schema_release(&s);
    conn_schema_release(&got);
    ops->close(src);
    ops->close(dst);
}

static void test_round_trip_text(void **state)
{
    (void)state;
    round_trip("text");
}

static void test_round_trip_csv(void **state)
{
    (void)state;
    round_trip("csv");
}

/* The exact bytes written, as docs/files-format.md documents them. */
static void test_encodings_on_disk(void **state)
{
    (void)state;
    static const char *const cols[] = {"x:text", "y:text", "b:binary", "f:bool", "d:float64"};
    const char *fmts[] = {"text", "csv"};
    for (int fi = 0; fi < 2; fi++) {
        char *root = pathf("%s/enc_%s", tmpdir, fmts[fi]);
        struct conn *dst = open_dst(root, fmts[fi]);
        struct conn_schema s;
        struct rowbatch b;
        struct conn_target t = {"db", NULL, "t"};
        schema_make(&s, cols, 5, NULL, 0);
        rowbatch_init(&b, 5, 10, 1 << 20);
        struct val *r = rowbatch_add_row(&b);
        TXT(&b, &r[1], "\\N");
        rowbatch_set_bytes(&b, &r[2], VAL_BLOB, "hi!", 3);
        rowbatch_set_int(&r[3], 1);
        rowbatch_set_double(&r[4], 0.1);
        r = rowbatch_add_row(&b);
        TXT(&b, &r[0],
            "a\x01"
            "b\nc\rd\\e,\"q\"");
        TXT(&b, &r[1], "");
        rowbatch_set_bytes(&b, &r[2], VAL_BLOB, "", 0);
        rowbatch_set_int(&r[3], 0);
        rowbatch_set_double(&r[4], -0.0);
        write_all(dst, &t, NULL, &s, &b);
        size_t n = 0;
        char *data = get_file(pathf("%s/db.db/t/part-00000.%s", root, fi ? "csv" : "txt"), &n);
        assert_non_null(data);
        if (getenv("SHOW_ENC"))
            fwrite(data, 1, n, stderr);
        if (fi == 0) {
            static const char want[] = "\\N\x01\\\\N\x01"
                                       "aGkh\x01true\x01"
                                       "0.1\n"
                                       "a\\\x01"
                                       "b\\nc\\rd\\\\e,\"q\"\x01\x01\x01"
                                       "false\x01-0\n";
            assert_int_equal(n, sizeof want - 1);
            assert_memory_equal(data, want, n);
        } else {
            static const char want[] = "x,y,b,f,d\r\n"
                                       ",\\N,aGkh,true,0.1\r\n"
                                       "\"a\x01"
                                       "b\nc\rd\\e,\"\"q\"\"\",\"\",\"\",false,-0\r\n";
            assert_int_equal(n, sizeof want - 1);
            assert_memory_equal(data, want, n);
        }
        free(data);
        /* the schema file */
        data = get_file(pathf("%s/db.db/t/.mms-schema.json", root), &n);
        assert_non_null(data);
        json_error_t je;
        json_t *j = json_loads(data, 0, &je);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(j, "columns"), 2), "type")),
                            "binary");
        assert_int_equal(json_array_size(json_object_get(j, "partitionKeys")), 0);
        json_decref(j);
        free(data);
        rowbatch_release(&b);
        conn_schema_release(&s);
        ops->close(dst);
    }
}

/* ---- partitions ------------------------------------------------------------------------- */

struct parts {
    char *v[16];
    int64_t size[16];
    size_t n;
};

static int on_part(void *ctx, const struct conn_partition_info *p)
{
    struct parts *ps = ctx;
    assert_true(ps->n < 16);
    ps->size[ps->n] = p->size;
    ps->v[ps->n++] = strdup(p->value);
    assert_int_equal(p->num_rows, -1);
    assert_true(p->last_modified > 0);
    return 0;
}

static void parts_free(struct parts *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        free(ps->v[i]);
    ps->n = 0;
}

static void test_partitions_escaped(void **state)
{
    (void)state;
    static const char *const cols[] = {"id:int32", "v:text"};
    static const char *const keys[] = {"region", "day"};
    char *root = pathf("%s/parts", tmpdir);
    struct conn *dst = open_dst(root, "text");
    struct conn_schema s, got = {0};
    struct rowbatch b, out;
    struct mms_err err = {0};
    struct conn_target t = {"db", NULL, "events"};
    schema_make(&s, cols, 2, keys, 2);
    rowbatch_init(&b, 2, 10, 1 << 20);
    /* the value a/b=c%d:e f, escaped as Hive does */
    const char *p1 = "region=a%2Fb%3Dc%25d%3Ae f/day=2024-01-01";
    const char *p2 = "region=plain/day=2024-01-02";
    for (int k = 0; k < 3; k++) {
        struct val *r = rowbatch_add_row(&b);
        rowbatch_set_int(&r[0], k);
        TXT(&b, &r[1], "one");
    }
    write_all(dst, &t, p1, &s, &b);
    rowbatch_clear(&b);
    for (int k = 0; k < 2; k++) {
        struct val *r = rowbatch_add_row(&b);
        rowbatch_set_int(&r[0], 10 + k);
        TXT(&b, &r[1], "two");
    }
    write_all(dst, &t, p2, &s, &b);
    /* on disk */
    assert_true(exists(pathf("%s/db.db/events/region=a%%2Fb%%3Dc%%25d%%3Ae f/day=2024-01-01/"
                             "part-00000.txt",
                             root)));
    assert_true(exists(pathf("%s/db.db/events/region=plain/day=2024-01-02/part-00000.txt", root)));
    /* a hand-made partition with lower-case escapes and an unescaped '%' (kept as itself) */
    char *dir3 = pathf("%s/db.db/events/region=x%%3ay%%zz/day=2024-01-03", root);
    mkdirs(dir3);
    PUT(pathf("%s/data", dir3), "20\x01three\n");
    PUT(pathf("%s/.hidden", dir3), "junk that is never read\n");
    PUT(pathf("%s/_SUCCESS", dir3), "");

    struct conn *src = open_src(root, "text");
    struct parts ps = {0};
    assert_int_equal(ops->list_partitions(src, "db", "events", on_part, &ps, &err), 0);
    assert_int_equal(ps.n, 3);
    assert_string_equal(ps.v[0], p1);
    assert_string_equal(ps.v[1], p2);
    assert_string_equal(ps.v[2], "region=x%3Ay%25zz/day=2024-01-03");
    assert_true(ps.size[2] == 9);
    assert_int_equal(ops->table_schema(src, "db", "events", &got, &err), 0);
    assert_int_equal(got.npcols, 2);
    assert_string_equal(got.pcols[0].name, "region");
    for (size_t i = 0; i < ps.n; i++) {
        int64_t n = 0;
        int rc = ops->count_source(src, "db", "events", ps.v[i], &n, NULL, &err);
        if (rc)
            fprintf(stderr, "count %s: %s\n", ps.v[i], err.msg);
        assert_int_equal(rc, 0);
        assert_int_equal(n, i == 0 ? 3 : i == 1 ? 2 : 1);
    }
    /* a spec with the same value escaped differently names the same partition */
    int64_t n = 0;
    assert_int_equal(
        ops->count_source(src, "db", "events", "region=x%3ay%zz/day=2024-01-03", &n, NULL, &err),
        0);
    assert_int_equal(n, 1);
    /* the whole table: partitions in order, key values not repeated as columns */
    assert_int_equal(read_all(src, "db", "events", NULL, &got, &out, &err), 0);
    assert_int_equal(out.nrows, 6);
    assert_int_equal(rowbatch_row(&out, 5)[0].v.i, 20);
    rowbatch_release(&out);
    /* a missing partition, a bad spec */
    struct conn_reader *rd = NULL;
    assert_int_equal(ops->read_open(src, "db", "events", "region=nope/day=x", &got, &rd, &err), -1);
    assert_string_equal(err.code, "ConnectorError.NotFound");
    assert_int_equal(ops->read_open(src, "db", "events", "day=x/region=y", &got, &rd, &err), -1);
    assert_string_equal(err.code, "ConnectorError.SchemaMismatch");
    assert_int_equal(ops->read_open(src, "db", "events", "region=y", &got, &rd, &err), -1);
    assert_string_equal(err.code, "ConnectorError.SchemaMismatch");

    /* a layout mismatch: a data file at the partition level */
    PUT(pathf("%s/db.db/events/region=plain/stray.txt", root), "x\n");
    parts_free(&ps);
    assert_int_equal(ops->list_partitions(src, "db", "events", on_part, &ps, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Layout");
    assert_non_null(strstr(err.msg, "region=plain/stray.txt"));
    unlink(pathf("%s/db.db/events/region=plain/stray.txt", root));
    /* a directory below a leaf */
    mkdirs(pathf("%s/db.db/events/region=plain/day=2024-01-02/deeper", root));
    parts_free(&ps);
    assert_int_equal(ops->list_partitions(src, "db", "events", on_part, &ps, &err), -1);
    assert_non_null(strstr(err.msg, "day=2024-01-02/deeper"));
    rmdir(pathf("%s/db.db/events/region=plain/day=2024-01-02/deeper", root));
    parts_free(&ps);

    /* writing the whole of a partitioned table is refused */
    struct conn_writer *w = NULL;
    assert_int_equal(ops->write_begin(dst, &t, NULL, &s, &w, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Unsupported");

    rowbatch_release(&b);
    conn_schema_release(&s);
    conn_schema_release(&got);
    ops->close(src);
    ops->close(dst);
}

/* ---- no schema file; typed schema file; malformed values -------------------------------- */

struct tabs {
    char names[8][64];
    int64_t size[8];
    size_t n;
};

static int on_table(void *ctx, const struct conn_table_info *t)
{
    struct tabs *ts = ctx;
    snprintf(ts->names[ts->n], 64, "%s", t->name);
    ts->size[ts->n++] = t->size;
    assert_int_equal(t->num_rows, -1);
    return 0;
}

static int on_db(void *ctx, const char *db)
{
    struct tabs *ts = ctx;
    snprintf(ts->names[ts->n++], 64, "%s", db);
    return 0;
}

static void test_no_schema_fallback(void **state)
{
    (void)state;
    struct mms_err err = {0};
    /* csv: names from the header; text: c1..cN from the first row */
    char *root = pathf("%s/plain_csv", tmpdir);
    mkdirs(pathf("%s/sales.db/orders/dt=2024-01-01", root));
    mkdirs(pathf("%s/sales.db/orders/dt=2024-01-02", root));
    mkdirs(pathf("%s/not_a_db", root));
    PUT(pathf("%s/sales.db/orders/dt=2024-01-01/b.csv", root),
        "id,name,note\r\n3,\"multi\r\nline\",\r\n");
    /* a byte order mark; blank lines (not rows of a 3-column table) are skipped */
    PUT(pathf("%s/sales.db/orders/dt=2024-01-01/a.csv", root),
        "\xEF\xBB\xBFid,name,note\n1,x,\"\"\n\n2,,\"q\"\"\"\n\r\n");
    PUT(pathf("%s/sales.db/orders/dt=2024-01-02/a.csv", root), "id,name,note\n");
    struct conn *src = open_src(root, "csv");
    struct tabs ts = {0};
    assert_int_equal(ops->list_dbs(src, on_db, &ts, &err), 0);
    assert_int_equal(ts.n, 1);
    assert_string_equal(ts.names[0], "sales");
    ts.n = 0;
    assert_int_equal(ops->list_tables(src, "sales", on_table, &ts, &err), 0);
    assert_int_equal(ts.n, 1);
    assert_string_equal(ts.names[0], "orders");
    assert_true(ts.size[0] > 40);
    struct conn_schema s = {0};
    assert_int_equal(ops->table_schema(src, "sales", "orders", &s, &err), 0);
    assert_int_equal(s.ncols, 3);
    assert_string_equal(s.cols[0].name, "id");
    assert_string_equal(s.cols[2].name, "note");
    assert_int_equal(s.cols[0].type.id, MT_TEXT);
    assert_int_equal(s.npcols, 1);
    assert_string_equal(s.pcols[0].name, "dt");
    assert_int_equal(s.pcols[0].type.id, MT_TEXT);
    struct rowbatch out;
    assert_int_equal(read_all(src, "sales", "orders", NULL, &s, &out, &err), 0);
    assert_int_equal(out.nrows, 3);
    /* a.csv before b.csv */
    const struct val *r = rowbatch_row(&out, 0);
    assert_memory_equal(rowbatch_bytes(&out, &r[0]), "1", 1);
    assert_int_equal(r[2].kind, VAL_TEXT);
    assert_int_equal(r[2].len, 0); /* "" is the empty string */
    r = rowbatch_row(&out, 1);
    assert_int_equal(r[1].kind, VAL_NULL); /* an empty unquoted field is NULL */
    assert_int_equal(r[2].len, 2);
    assert_memory_equal(rowbatch_bytes(&out, &r[2]), "q\"", 2);
    r = rowbatch_row(&out, 2);
    assert_int_equal(r[1].len, 11);
    assert_memory_equal(rowbatch_bytes(&out, &r[1]), "multi\r\nline", 11);
    assert_int_equal(r[2].kind, VAL_NULL);
    rowbatch_release(&out);
    conn_schema_release(&s);
    ops->close(src);

    root = pathf("%s/plain_text", tmpdir);
    mkdirs(pathf("%s/d.db/t", root));
    PUT(pathf("%s/d.db/t/000000_0", root), "a\x01\\N\x01\\\\N\n\x01x\x01y\r\n");
    src = open_src(root, "text");
    assert_int_equal(ops->table_schema(src, "d", "t", &s, &err), 0);
    assert_int_equal(s.ncols, 3);
    assert_string_equal(s.cols[0].name, "c1");
    assert_string_equal(s.cols[2].name, "c3");
    assert_int_equal(s.npcols, 0);
    assert_int_equal(read_all(src, "d", "t", NULL, &s, &out, &err), 0);
    assert_int_equal(out.nrows, 2);
    r = rowbatch_row(&out, 0);
    assert_int_equal(r[1].kind, VAL_NULL);
    assert_int_equal(r[2].len, 2);
    assert_memory_equal(rowbatch_bytes(&out, &r[2]), "\\N", 2);
    r = rowbatch_row(&out, 1);
    assert_int_equal(r[0].kind, VAL_TEXT);
    assert_int_equal(r[0].len, 0);
    assert_int_equal(r[2].len, 1); /* the CR of a CRLF line is dropped */
    rowbatch_release(&out);
    /* an unpartitioned table has no partitions */
    struct parts ps = {0};
    assert_int_equal(ops->list_partitions(src, "d", "t", on_part, &ps, &err), 0);
    assert_int_equal(ps.n, 0);
    conn_schema_release(&s);
    ops->close(src);
}

/* Expects reading db.t to fail with ConnectorError.Value and a message holding each needle. */
static void expect_bad(struct conn *src, const char *needle1, const char *needle2)
{
    struct conn_schema s = {0};
    struct rowbatch out;
    struct mms_err err = {0};
    assert_int_equal(ops->table_schema(src, "db", "t", &s, &err), 0);
    int rc = read_all(src, "db", "t", NULL, &s, &out, &err);
    if (rc != -1 || !strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
        fprintf(stderr, "got rc=%d msg: %s\n", rc, err.msg);
    assert_int_equal(rc, -1);
    assert_string_equal(err.code, "ConnectorError.Value");
    assert_non_null(strstr(err.msg, needle1));
    if (needle2)
        assert_non_null(strstr(err.msg, needle2));
    rowbatch_release(&out);
    conn_schema_release(&s);
}

static void test_schema_typing_and_bad_values(void **state)
{
    (void)state;
    struct mms_err err = {0};
    char *root = pathf("%s/typed", tmpdir);
    char *tdir = pathf("%s/db.db/t", root);
    mkdirs(tdir);
    PUT(pathf("%s/.mms-schema.json", tdir),
        "{\"columns\":[{\"name\":\"a\",\"type\":\"int8\"},{\"name\":\"b\",\"type\":\"bool\"},"
        "{\"name\":\"c\",\"type\":\"decimal(5,2)\"},{\"name\":\"d\",\"type\":\"timestamp\"},"
        "{\"name\":\"e\",\"type\":\"uint64\"},{\"name\":\"f\",\"type\":\"binary\"},"
        "{\"name\":\"g\",\"type\":\"date\",\"nullable\":false}],\"partitionKeys\":[]}");
    char *data = pathf("%s/part-00000.txt", tdir);
    PUT(data, "-5\x01TRUE\x01"
              "1.5\x01"
              "2024-05-06T07:08:09.5Z\x01"
              "18446744073709551615\x01"
              "aGk=\x01"
              "2000-02-29\n"
              "007\x01"
              "0\x01-0.000\x01"
              "2024-05-06 07:08:09+00:00\x01"
              "5\x01"
              "aGk\x01"
              "2000-01-01\n");
    struct conn *src = open_src(root, "text");
    struct conn_schema s = {0};
    struct rowbatch out;
    assert_int_equal(ops->table_schema(src, "db", "t", &s, &err), 0);
    assert_int_equal(s.cols[2].type.id, MT_DECIMAL);
    assert_int_equal(s.cols[2].type.scale, 2);
    assert_false(s.cols[6].nullable);
    assert_int_equal(read_all(src, "db", "t", NULL, &s, &out, &err), 0);
    assert_int_equal(out.nrows, 2);
    const struct val *r = rowbatch_row(&out, 0);
    assert_int_equal(r[0].v.i, -5);
    assert_int_equal(r[1].v.i, 1);
    assert_int_equal(r[2].len, 4);
    assert_memory_equal(rowbatch_bytes(&out, &r[2]), "1.50", 4);
    assert_int_equal(r[3].len, 21);
    assert_memory_equal(rowbatch_bytes(&out, &r[3]), "2024-05-06 07:08:09.5", 21);
    assert_int_equal(r[4].kind, VAL_UINT);
    assert_true(r[4].v.u == UINT64_MAX);
    assert_int_equal(r[5].kind, VAL_BLOB);
    assert_memory_equal(rowbatch_bytes(&out, &r[5]), "hi", 2);
    r = rowbatch_row(&out, 1);
    assert_int_equal(r[0].v.i, 7);
    assert_int_equal(r[1].v.i, 0);
    assert_memory_equal(rowbatch_bytes(&out, &r[2]), "0.00", 4);
    assert_memory_equal(rowbatch_bytes(&out, &r[3]), "2024-05-06 07:08:09", 19);
    assert_int_equal(r[4].kind, VAL_INT);
    assert_int_equal(r[5].len, 2); /* unpadded base64 is accepted */
    rowbatch_release(&out);
    conn_schema_release(&s);

    /* malformed values, one at a time: file, line, column and value in the message */
    static const struct {
        const char *row;
        const char *needle;
    } bad[] = {
        {"128\x01"
         "1\x01"
         "1\x01"
         "2024-01-01 00:00:00\x01"
         "1\x01\x01"
         "2000-01-01\n",
         "column 1 (\"a\"): invalid int8 value '128'"},
        {"1\x01yes\x01"
         "1\x01"
         "2024-01-01 00:00:00\x01"
         "1\x01\x01"
         "2000-01-01\n",
         "column 2 (\"b\"): invalid bool value 'yes'"},
        {"1\x01"
         "1\x01"
         "1.555\x01"
         "2024-01-01 00:00:00\x01"
         "1\x01\x01"
         "2000-01-01\n",
         "invalid decimal(5,2) value '1.555'"},
        {"1\x01"
         "1\x01"
         "1234\x01"
         "2024-01-01 00:00:00\x01"
         "1\x01\x01"
         "2000-01-01\n",
         "invalid decimal(5,2) value '1234'"},
        {"1\x01"
         "1\x01"
         "1\x01"
         "2024-01-01 25:00:00\x01"
         "1\x01\x01"
         "2000-01-01\n",
         "invalid timestamp value '2024-01-01 25:00:00'"},
        {"1\x01"
         "1\x01"
         "1\x01"
         "2024-01-01 00:00:00+02:00\x01"
         "1\x01\x01"
         "2000-01-01\n",
         "invalid timestamp value"},
        {"1\x01"
         "1\x01"
         "1\x01"
         "2024-01-01 00:00:00\x01-1\x01\x01"
         "2000-01-01\n",
         "invalid uint64 value '-1'"},
        {"1\x01"
         "1\x01"
         "1\x01"
         "2024-01-01 00:00:00\x01"
         "18446744073709551616\x01\x01"
         "2000-01-01\n",
         "invalid uint64 value '18446744073709551616'"},
        {"1\x01"
         "1\x01"
         "1\x01"
         "2024-01-01 00:00:00\x01"
         "1\x01!!\x01"
         "2000-01-01\n",
         "column 6 (\"f\"): invalid binary value '!!'"},
        {"1\x01"
         "1\x01"
         "1\x01"
         "2024-01-01 00:00:00\x01"
         "1\x01\x01"
         "2001-02-29\n",
         "invalid date value '2001-02-29'"},
        {"1\x01"
         "1\x01"
         "1\x01"
         "2024-01-01 00:00:00\x01"
         "1\x01\x01"
         "2000-01-01\x01"
         "extra\n",
         "the row has 8 fields, the table 7 columns"},
        {" 1\x01"
         "1\x01"
         "1\x01"
         "2024-01-01 00:00:00\x01"
         "1\x01\x01"
         "2000-01-01\n",
         "invalid int8 value ' 1'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "1\x01"
                 "1\x01"
                 "1\x01"
                 "2024-01-01 00:00:00\x01"
                 "1\x01\x01"
                 "2000-01-01\n%s",
                 bad[i].row);
        put_file(data, body, strlen(body));
        expect_bad(src, bad[i].needle, "part-00000.txt line 2");
    }
    /* a control byte in a bad value is shown escaped */
    PUT(data, "1\x02x\x01"
              "1\x01"
              "1\x01"
              "2024-01-01 00:00:00\x01"
              "1\x01\x01"
              "2000-01-01\n");
    expect_bad(src, "invalid int8 value '1\\x02x'", "line 1 column 1");
    /* counting splits records into fields but converts no value (the copy did): it counts
     * the row; a record of the wrong width is still an error (below, for CSV too) */
    int64_t n = 0;
    assert_int_equal(ops->count_source(src, "db", "t", NULL, &n, NULL, &err), 0);
    assert_int_equal(n, 1);
    PUT(data, "1\x01"
              "1\n");
    assert_int_equal(ops->count_source(src, "db", "t", NULL, &n, NULL, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Value");
    assert_non_null(strstr(err.msg, "the row has 2 fields, the table 7 columns"));
    ops->close(src);

    /* CSV: an unterminated quote; junk after a closing quote; a header of the wrong width */
    root = pathf("%s/badcsv", tmpdir);
    tdir = pathf("%s/db.db/t", root);
    mkdirs(tdir);
    PUT(pathf("%s/.mms-schema.json", tdir),
        "{\"columns\":[{\"name\":\"a\",\"type\":\"text\"},{\"name\":\"b\",\"type\":\"int32\"}]}");
    data = pathf("%s/x.csv", tdir);
    src = open_src(root, "csv");
    PUT(data, "a,b\nok,1\n\"open,2\nmore\n");
    expect_bad(src, "x.csv line 3: a quoted field is not closed", NULL);
    PUT(data, "a,b\n\"x\"y,2\n");
    expect_bad(src, "x.csv line 2: unexpected character after a closing quote", NULL);
    PUT(data, "a\nx\n");
    expect_bad(src, "x.csv line 1: the header has 1 fields", NULL);
    /* a quote inside an unquoted field is an ordinary byte (and opens no quoted section) */
    PUT(data, "a,b\nx\"y,2\nz,3\n");
    {
        struct conn_schema s3 = {0};
        struct rowbatch o3;
        assert_int_equal(ops->table_schema(src, "db", "t", &s3, &err), 0);
        assert_int_equal(read_all(src, "db", "t", NULL, &s3, &o3, &err), 0);
        assert_int_equal(o3.nrows, 2);
        const struct val *v = rowbatch_row(&o3, 0);
        assert_int_equal(v[0].len, 3);
        assert_memory_equal(rowbatch_bytes(&o3, &v[0]), "x\"y", 3);
        assert_int_equal(v[1].v.i, 2);
        rowbatch_release(&o3);
        conn_schema_release(&s3);
    }
    PUT(data, "a,b\nx,2147483648\n");
    expect_bad(src, "x.csv line 2 column 2 (\"b\"): invalid int32 value '2147483648'", NULL);
    /* a bad schema file */
    PUT(pathf("%s/.mms-schema.json", tdir), "{\"columns\":[{\"name\":\"a\",\"type\":\"nope\"}]}");
    struct conn_schema s2 = {0};
    assert_int_equal(ops->table_schema(src, "db", "t", &s2, &err), -1);
    assert_string_equal(err.code, "ConnectorError.SchemaMismatch");
    assert_non_null(strstr(err.msg, ".mms-schema.json"));
    assert_non_null(strstr(err.msg, "unknown type 'nope'"));
    PUT(pathf("%s/.mms-schema.json", tdir), "{\"columns\": [");
    assert_int_equal(ops->table_schema(src, "db", "t", &s2, &err), -1);
    assert_non_null(strstr(err.msg, ".mms-schema.json line 1"));
    ops->close(src);
}

/* ---- atomic replace and crash recovery ---------------------------------------------------- */

static const char *const cr_cols[] = {"id:int64", "v:text"};

static void write_rows(struct conn *dst, const struct conn_target *t, const char *part, int n,
                       const char *tag, bool commit)
{
    struct conn_schema s;
    struct rowbatch b;
    struct mms_err err = {0};
    struct conn_writer *w = NULL;
    static const char *const keys[] = {"p"};
    schema_make(&s, cr_cols, 2, keys, part ? 1 : 0);
    rowbatch_init(&b, 2, (size_t)n + 1, 1 << 20);
    for (int k = 0; k < n; k++) {
        struct val *r = rowbatch_add_row(&b);
        rowbatch_set_int(&r[0], k);
        set_text(&b, &r[1], tag, strlen(tag));
    }
    assert_int_equal(ops->create_table(dst, t, &s, NULL, &err), 0);
    int rc = ops->write_begin(dst, t, part, &s, &w, &err);
    if (rc)
        fprintf(stderr, "write_begin: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(ops->write_batch(w, &b, &err), 0);
    if (commit)
        assert_int_equal(ops->write_commit(w, &err), 0);
    else
        _exit(98); /* a crash with the staging written */
    rowbatch_release(&b);
    conn_schema_release(&s);
}

/* Runs write_rows in a child that dies at the given point ("aside", or NULL: before commit). */
static void crash_child(const char *root, const struct conn_target *t, const char *part,
                        const char *point)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (point)
            setenv("MMS_FILES_CRASH_AT", point, 1);
        struct conn *dst = open_dst(root, "csv");
        write_rows(dst, t, part, 5, "crashed", point != NULL);
        _exit(0); /* not reached */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), point ? 99 : 98);
}

/* The rows of the target, all with the same tag: returns the count, checks the tag. */
static int64_t target_rows(const char *root, const struct conn_target *t, const char *part,
                           const char *tag)
{
    struct conn *src = open_src(root, "csv");
    struct conn_schema s = {0};
    struct rowbatch out;
    struct mms_err err = {0};
    assert_int_equal(ops->table_schema(src, t->project, t->table, &s, &err), 0);
    int rc = read_all(src, t->project, t->table, part, &s, &out, &err);
    if (rc)
        fprintf(stderr, "read: %s\n", err.msg);
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < out.nrows; i++) {
        const struct val *v = &rowbatch_row(&out, i)[1];
        assert_int_equal(v->len, strlen(tag));
        assert_memory_equal(rowbatch_bytes(&out, v), tag, v->len);
    }
    int64_t n = (int64_t)out.nrows;
    rowbatch_release(&out);
    conn_schema_release(&s);
    ops->close(src);
    return n;
}

static int count_hidden(const char *dir, const char *prefix)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -c '^%s' > '%s/.count'", dir, prefix, tmpdir);
    (void)system(cmd);
    size_t n = 0;
    char *p = get_file(pathf("%s/.count", tmpdir), &n);
    int k = p ? atoi(p) : -1;
    free(p);
    return k;
}

static void test_atomic_replace_partition(void **state)
{
    (void)state;
    char *root = pathf("%s/crash", tmpdir);
    struct conn *dst = open_dst(root, "csv");
    struct conn_target t = {"db", NULL, "pt"};
    const char *part = "p=a%2Fb";
    char *tdir = pathf("%s/db.db/pt", root);
    char *target = pathf("%s/p=a%%2Fb", tdir);
    char *old = pathf("%s/.mms-old-p%%3Da%%252Fb", tdir);

    write_rows(dst, &t, part, 10, "v1", true);
    assert_int_equal(target_rows(root, &t, part, "v1"), 10);

    /* crash before commit: the staging is left, the target untouched */
    crash_child(root, &t, part, NULL);
    assert_int_equal(count_hidden(tdir, ".mms-staging-"), 1);
    assert_int_equal(target_rows(root, &t, part, "v1"), 10);
    /* the next attempt clears it */
    write_rows(dst, &t, part, 7, "v2", true);
    assert_int_equal(count_hidden(tdir, ".mms-staging-"), 0);
    assert_int_equal(target_rows(root, &t, part, "v2"), 7);

    /* crash between the renames: the target is set aside, the staging not yet in place */
    crash_child(root, &t, part, "aside");
    assert_false(exists(target));
    assert_true(exists(old));
    assert_int_equal(count_hidden(tdir, ".mms-staging-"), 1);
    /* the next write_begin restores the old copy (and clears the staging); an abort then
     * leaves exactly the old copy */
    {
        struct conn_schema s;
        static const char *const keys[] = {"p"};
        struct conn_writer *w = NULL;
        struct mms_err err = {0};
        schema_make(&s, cr_cols, 2, keys, 1);
        assert_int_equal(ops->write_begin(dst, &t, part, &s, &w, &err), 0);
        assert_true(exists(target));
        assert_false(exists(old));
        assert_int_equal(count_hidden(tdir, ".mms-staging-"), 1); /* this writer's own */
        ops->write_abort(w);
        assert_int_equal(count_hidden(tdir, ".mms-staging-"), 0);
        conn_schema_release(&s);
    }
    assert_int_equal(target_rows(root, &t, part, "v2"), 7);

    /* a crash after the second rename (old copy still there): old is removed, target kept */
    mkdirs(old);
    PUT(pathf("%s/part-00000.csv", old), "id,v\n1,stale\n");
    write_rows(dst, &t, part, 3, "v3", true);
    assert_false(exists(old));
    assert_int_equal(target_rows(root, &t, part, "v3"), 3);
    /* another partition is not touched by any of this */
    write_rows(dst, &t, "p=other", 2, "o", true);
    assert_int_equal(target_rows(root, &t, "p=other", "o"), 2);
    assert_int_equal(target_rows(root, &t, part, "v3"), 3);
    ops->close(dst);
}

static void test_atomic_replace_table(void **state)
{
    (void)state;
    char *root = pathf("%s/crash_t", tmpdir);
    struct conn *dst = open_dst(root, "csv");
    struct conn_target t = {"db", NULL, "plain t"};
    char *tdir = pathf("%s/db.db/plain t", root);
    char *old = pathf("%s/db.db/.mms-old-plain t", root);
    write_rows(dst, &t, NULL, 4, "v1", true);
    assert_int_equal(target_rows(root, &t, NULL, "v1"), 4);
    crash_child(root, &t, NULL, "aside");
    assert_false(exists(tdir));
    assert_true(exists(old));
    /* create_table (the schema stage of the retried task) restores it */
    write_rows(dst, &t, NULL, 6, "v2", true);
    assert_false(exists(old));
    assert_int_equal(count_hidden(pathf("%s/db.db", root), ".mms-"), 0);
    assert_int_equal(target_rows(root, &t, NULL, "v2"), 6);
    /* the table keeps its schema file */
    assert_true(exists(pathf("%s/.mms-schema.json", tdir)));
    /* a schema of other columns is refused */
    struct conn_schema s;
    static const char *const other[] = {"x:int64"};
    struct mms_err err = {0};
    schema_make(&s, other, 1, NULL, 0);
    assert_int_equal(ops->create_table(dst, &t, &s, NULL, &err), -1);
    assert_string_equal(err.code, "ConnectorError.SchemaMismatch");
    struct conn_writer *w = NULL;
    assert_int_equal(ops->write_begin(dst, &t, NULL, &s, &w, &err), -1);
    assert_string_equal(err.code, "ConnectorError.SchemaMismatch");
    conn_schema_release(&s);
    ops->close(dst);
}

/* Many rows: several read_next batches and flushes. */
static void test_big_table(void **state)
{
    (void)state;
    char *root = pathf("%s/big", tmpdir);
    struct conn *dst = open_dst(root, "text");
    struct conn_target t = {"db", NULL, "big"};
    struct conn_schema s;
    struct rowbatch b;
    struct mms_err err = {0};
    struct conn_writer *w = NULL;
    struct conn_checksum c1, c2;
    schema_make(&s, cr_cols, 2, NULL, 0);
    assert_int_equal(ops->create_table(dst, &t, &s, NULL, &err), 0);
    assert_int_equal(ops->write_begin(dst, &t, NULL, &s, &w, &err), 0);
    rowbatch_init(&b, 2, 1000, 1 << 20);
    checksum_init(&c1);
    for (int k = 0; k < 200; k++) {
        rowbatch_clear(&b);
        for (int i = 0; i < 1000; i++) {
            struct val *r = rowbatch_add_row(&b);
            rowbatch_set_int(&r[0], k * 1000 + i);
            char text[64];
            int n = snprintf(text, sizeof text, "row %d with \x01 and \n and \\", k * 1000 + i);
            set_text(&b, &r[1], text, (size_t)n);
        }
        checksum_add_batch(&c1, &b);
        assert_int_equal(ops->write_batch(w, &b, &err), 0);
    }
    assert_int_equal(ops->write_commit(w, &err), 0);
    struct conn_reader *rd = NULL;
    struct rowbatch rb;
    rowbatch_init(&rb, 2, 4096, 1 << 20);
    assert_int_equal(ops->read_dest_open(dst, &t, NULL, &s, &rd, &err), 0);
    assert_non_null(strstr(ops->reader_sql(rd), "read text files under"));
    assert_int_equal(checksum_read(ops, rd, &rb, &c2, &err), 0);
    ops->read_close(rd);
    assert_int_equal(c2.rows, 200000);
    assert_true(c1.sum_lo == c2.sum_lo && c1.sum_hi == c2.sum_hi);
    rowbatch_release(&b);
    rowbatch_release(&rb);
    conn_schema_release(&s);
    ops->close(dst);
}

/* Data files are rotated before they pass the size cap (lowered here through the test hook);
 * each CSV file has its header; long partition values get hashed staging names. */
static void test_file_rotation_and_long_names(void **state)
{
    (void)state;
    static const char *const keys[] = {"p"};
    char *root = pathf("%s/rot", tmpdir);
    struct conn *dst = open_dst(root, "csv");
    struct conn_target t = {"db", NULL, "rot"};
    struct conn_schema s;
    struct rowbatch b;
    struct mms_err err = {0};
    struct conn_checksum c1, c2;
    char value[201]; /* a 203-byte directory name: its staging name must be shortened */
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    char *spec = pathf("p=%s", value);
    schema_make(&s, cr_cols, 2, keys, 1);
    rowbatch_init(&b, 2, 300, 1 << 20);
    for (int k = 0; k < 300; k++) {
        struct val *r = rowbatch_add_row(&b);
        rowbatch_set_int(&r[0], k);
        TXT(&b, &r[1], "twenty bytes of text");
    }
    checksum_init(&c1);
    checksum_add_batch(&c1, &b);
    setenv("MMS_FILES_MAX_FILE_BYTES", "1000", 1);
    write_all(dst, &t, spec, &s, &b);
    unsetenv("MMS_FILES_MAX_FILE_BYTES");
    char *leaf = pathf("%s/db.db/rot/%s", root, spec);
    size_t n = 0;
    char *first = get_file(pathf("%s/part-00000.csv", leaf), &n);
    assert_non_null(first);
    assert_true(n <= 1000);
    assert_memory_equal(first, "id,v\r\n", 6);
    free(first);
    char *later = get_file(pathf("%s/part-00005.csv", leaf), &n);
    assert_non_null(later);
    assert_memory_equal(later, "id,v\r\n", 6);
    free(later);
    struct conn_reader *rd = NULL;
    struct rowbatch rb;
    rowbatch_init(&rb, 2, 64, 1 << 20);
    assert_int_equal(ops->read_dest_open(dst, &t, spec, &s, &rd, &err), 0);
    assert_int_equal(checksum_read(ops, rd, &rb, &c2, &err), 0);
    ops->read_close(rd);
    assert_int_equal(c2.rows, 300);
    assert_true(c1.sum_lo == c2.sum_lo && c1.sum_hi == c2.sum_hi);
    /* a second replace of the long-named partition works (hashed old/staging names) */
    write_all(dst, &t, spec, &s, &b);
    assert_int_equal(count_hidden(pathf("%s/db.db/rot", root), ".mms-old"), 0);
    assert_int_equal(count_hidden(pathf("%s/db.db/rot", root), ".mms-staging"), 0);
    /* an empty CSV header field: the column is named by position */
    char *d2 = pathf("%s/hdr/db.db/t", tmpdir);
    mkdirs(d2);
    PUT(pathf("%s/a.csv", d2), "x,,z\n1,2,3\n");
    struct conn *src = open_src(pathf("%s/hdr", tmpdir), "csv");
    struct conn_schema hs = {0};
    assert_int_equal(ops->table_schema(src, "db", "t", &hs, &err), 0);
    assert_string_equal(hs.cols[0].name, "x");
    assert_string_equal(hs.cols[1].name, "c2");
    conn_schema_release(&hs);
    ops->close(src);
    rowbatch_release(&b);
    rowbatch_release(&rb);
    conn_schema_release(&s);
    ops->close(dst);
}

/* ---- SQLite -> FILES -> SQLite ---------------------------------------------------------- */

static void sq_exec(sqlite3 *h, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s\n", msg);
        sqlite3_free(msg);
        fail();
    }
}

/* Copies src.table into dst (project "proj") through the connectors; returns its checksum. */
static void copy_table(const struct conn_ops *sops, struct conn *src, const char *db,
                       const char *table, const struct conn_schema *s, const struct conn_ops *dops,
                       struct conn *dst, const char *project)
{
    struct mms_err err = {0};
    struct conn_target t = {project, NULL, table};
    struct conn_reader *rd = NULL;
    struct conn_writer *w = NULL;
    struct rowbatch b;
    assert_int_equal(dops->create_table(dst, &t, s, NULL, &err), 0);
    assert_int_equal(dops->write_begin(dst, &t, NULL, s, &w, &err), 0);
    assert_int_equal(sops->read_open(src, db, table, NULL, s, &rd, &err), 0);
    rowbatch_init(&b, s->ncols, 50, 1 << 20);
    for (;;) {
        int rc = sops->read_next(rd, &b, &err);
        if (rc)
            fprintf(stderr, "read_next: %s\n", err.msg);
        assert_int_equal(rc, 0);
        if (b.nrows == 0)
            break;
        rc = dops->write_batch(w, &b, &err);
        if (rc)
            fprintf(stderr, "write_batch: %s\n", err.msg);
        assert_int_equal(rc, 0);
    }
    sops->read_close(rd);
    assert_int_equal(dops->write_commit(w, &err), 0);
    rowbatch_release(&b);
}

static void checksum_of(const struct conn_ops *o, struct conn_reader *rd, size_t ncols,
                        struct conn_checksum *out)
{
    struct rowbatch b;
    struct mms_err err = {0};
    rowbatch_init(&b, ncols, 64, 1 << 20);
    int rc = checksum_read(o, rd, &b, out, &err);
    if (rc)
        fprintf(stderr, "checksum: %s\n", err.msg);
    assert_int_equal(rc, 0);
    o->read_close(rd);
    rowbatch_release(&b);
}

static void test_sqlite_files_sqlite(void **state)
{
    (void)state;
    const struct conn_ops *sq = &conn_sqlite_ops;
    char *dbpath = pathf("%s/src.sqlite", tmpdir);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(dbpath, &h), SQLITE_OK);
    sq_exec(h, "CREATE TABLE \"nasty \"\"t\"\" ;x\" (id INTEGER, name TEXT, r REAL, b BLOB,"
               " \"col \xc3\xbc\" TEXT)");
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, "INSERT INTO \"nasty \"\"t\"\" ;x\" VALUES (?,?,?,?,?)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    static const char *const texts[] = {"",
                                        "\\N",
                                        "a\x01"
                                        "b",
                                        "x,\"y\"\r\nz",
                                        "\\",
                                        "N",
                                        "\xf0\x9f\x98\x80",
                                        "   ",
                                        "\n"};
    static const double dbl[] = {0.1, -0.0, 5e-324, 1e308, -2.5e-10, 1.0 / 3};
    sq_exec(h, "BEGIN");
    for (int k = 0; k < 500; k++) {
        if (k % 13 == 0)
            sqlite3_bind_null(st, 1);
        else
            sqlite3_bind_int64(st, 1, k % 2 ? INT64_MIN + k : INT64_MAX - k);
        const char *t = texts[k % 9];
        if (k % 17 == 0)
            sqlite3_bind_null(st, 2);
        else
            sqlite3_bind_text(st, 2, t, (int)strlen(t), SQLITE_STATIC);
        if (k % 19 == 0)
            sqlite3_bind_null(st, 3);
        else
            sqlite3_bind_double(st, 3, dbl[k % 6] * (k + 1));
        unsigned char blob[8];
        for (int i = 0; i < 8; i++)
            blob[i] = (unsigned char)(k * 31 + i * 7);
        if (k % 10 == 0)
            sqlite3_bind_zeroblob(st, 4, 0);
        else if (k % 10 == 1)
            sqlite3_bind_null(st, 4);
        else
            sqlite3_bind_blob(st, 4, blob, k % 8 + 1, SQLITE_TRANSIENT);
        if (k % 23 == 0)
            sqlite3_bind_text(st, 5, "a\0b", 3, SQLITE_STATIC);
        else
            sqlite3_bind_text(st, 5,
                              "t\xc3\xa1"
                              "bla",
                              -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sq_exec(h, "COMMIT");
    sqlite3_finalize(st);
    sqlite3_close(h);

    const char *table = "nasty \"t\" ;x";
    struct mms_err err = {0};
    struct conn *src = NULL;
    json_t *cfg = json_pack("{s:s}", "sqlite.path", dbpath);
    assert_int_equal(sq->open_source(&src, cfg, &err), 0);
    json_decref(cfg);
    struct conn_schema s = {0};
    assert_int_equal(sq->table_schema(src, "main", table, &s, &err), 0);
    struct conn_checksum want, got;
    struct conn_reader *rd = NULL;
    assert_int_equal(sq->read_open(src, "main", table, NULL, &s, &rd, &err), 0);
    checksum_of(sq, rd, s.ncols, &want);
    assert_int_equal(want.rows, 500);

    const char *fmts[] = {"text", "csv"};
    for (int fi = 0; fi < 2; fi++) {
        char *froot = pathf("%s/s2f_%s", tmpdir, fmts[fi]);
        struct conn *fdst = open_dst(froot, fmts[fi]);
        copy_table(sq, src, "main", table, &s, ops, fdst, "proj");
        /* FILES as a source, with the schema it reports */
        struct conn *fsrc = open_src(froot, fmts[fi]);
        struct conn_schema fs = {0};
        assert_int_equal(ops->table_schema(fsrc, "proj", table, &fs, &err), 0);
        assert_int_equal(fs.ncols, s.ncols);
        assert_int_equal(ops->read_open(fsrc, "proj", table, NULL, &fs, &rd, &err), 0);
        checksum_of(ops, rd, fs.ncols, &got);
        assert_int_equal(got.rows, want.rows);
        assert_true(got.sum_lo == want.sum_lo && got.sum_hi == want.sum_hi);
        /* and back into SQLite */
        struct conn *sdst = NULL;
        assert_int_equal(sq->open_dest(&sdst, pathf("sqlite://%s/back_%s", tmpdir, fmts[fi]), &err),
                         0);
        copy_table(ops, fsrc, "proj", table, &fs, sq, sdst, "proj");
        struct conn_target t = {"proj", NULL, table};
        assert_int_equal(sq->read_dest_open(sdst, &t, NULL, &fs, &rd, &err), 0);
        checksum_of(sq, rd, fs.ncols, &got);
        assert_int_equal(got.rows, want.rows);
        assert_true(got.sum_lo == want.sum_lo && got.sum_hi == want.sum_hi);
        /* an independent read: the blob of row 2 and the NUL text of row 23 */
        sqlite3 *h2 = NULL;
        assert_int_equal(sqlite3_open(pathf("%s/back_%s/proj.db", tmpdir, fmts[fi]), &h2),
                         SQLITE_OK);
        sqlite3_stmt *q = NULL;
        assert_int_equal(sqlite3_prepare_v2(h2,
                                            "SELECT typeof(b), length(b), typeof(\"col \xc3\xbc\"),"
                                            " length(CAST(\"col \xc3\xbc\" AS BLOB)), typeof(r)"
                                            " FROM \"nasty \"\"t\"\" ;x\" WHERE rowid = 24",
                                            -1, &q, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(q, 0), "blob");
        assert_int_equal(sqlite3_column_int(q, 1), 8); /* k = 23: k % 8 + 1 bytes */
        assert_string_equal((const char *)sqlite3_column_text(q, 2), "text");
        assert_int_equal(sqlite3_column_int(q, 3), 3);
        assert_string_equal((const char *)sqlite3_column_text(q, 4), "real");
        sqlite3_finalize(q);
        sqlite3_close(h2);
        conn_schema_release(&fs);
        sq->close(sdst);
        ops->close(fsrc);
        ops->close(fdst);
    }
    conn_schema_release(&s);
    sq->close(src);
}

/* ---- config and registry ------------------------------------------------------------------ */

static void test_open_errors(void **state)
{
    (void)state;
    struct conn *c = NULL;
    struct mms_err err = {0};
    assert_ptr_equal(conn_find("FILES"), &conn_files_ops);
    assert_ptr_equal(conn_find("files"), &conn_files_ops);
    assert_ptr_equal(conn_find_scheme("file:///tmp/x?format=csv"), &conn_files_ops);
    json_t *cfg = json_pack("{s:s}", "files.root", "relative/dir");
    assert_int_equal(ops->open_source(&c, cfg, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Config");
    json_decref(cfg);
    cfg = json_pack("{s:s}", "files.root", "/nonexistent/mms/dir");
    assert_int_equal(ops->open_source(&c, cfg, &err), -1);
    assert_string_equal(err.code, "ConnectorError.Connect");
    json_decref(cfg);
    cfg = json_pack("{s:s, s:s}", "files.root", tmpdir, "files.format", "parquet");
    assert_int_equal(ops->open_source(&c, cfg, &err), -1);
    assert_non_null(strstr(err.msg, "parquet"));
    json_decref(cfg);
    assert_int_equal(ops->open_dest(&c, "file://relative", &err), -1);
    assert_int_equal(ops->open_dest(&c, pathf("file://%s/x?fmt=csv", tmpdir), &err), -1);
    assert_int_equal(ops->open_dest(&c, pathf("file://%s/x?format=orc", tmpdir), &err), -1);
    assert_int_equal(ops->open_dest(&c, pathf("file://%s/sp%%20ace", tmpdir), &err), 0);
    ops->close(c);
    assert_true(exists(pathf("%s/sp ace", tmpdir)));
    c = open_dst(pathf("%s/names", tmpdir), "text");
    struct conn_schema s;
    schema_make(&s, cr_cols, 2, NULL, 0);
    struct conn_target bad[] = {{"db", NULL, "a/b"},  {"db", NULL, ".hidden"}, {"db", NULL, "_x"},
                                {"../up", NULL, "t"}, {"", NULL, "t"},         {"db", NULL, ""}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ops->create_table(c, &bad[i], &s, NULL, &err), -1);
        assert_string_equal(err.code, "ConnectorError.Config");
    }
    conn_schema_release(&s);
    ops->close(c);
}

/* ---- setup ------------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
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
        cmocka_unit_test(test_round_trip_text),
        cmocka_unit_test(test_round_trip_csv),
        cmocka_unit_test(test_encodings_on_disk),
        cmocka_unit_test(test_partitions_escaped),
        cmocka_unit_test(test_no_schema_fallback),
        cmocka_unit_test(test_schema_typing_and_bad_values),
        cmocka_unit_test(test_atomic_replace_partition),
        cmocka_unit_test(test_atomic_replace_table),
        cmocka_unit_test(test_big_table),
        cmocka_unit_test(test_file_rotation_and_long_names),
        cmocka_unit_test(test_sqlite_files_sqlite),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
