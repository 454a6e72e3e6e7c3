/* The SQLite connector.
 *
 * Source: one database file, opened read-only; its only db is "main". Destination: a directory
 * (URL sqlite:///abs/dir) where project P is the file <dir>/P.db; SQLite has no schemas, so
 * conn_target.schema is ignored, and no partitions.
 *
 * Exactness. SQLite is dynamically typed: a value's storage class (INTEGER, REAL, TEXT, BLOB,
 * NULL) is decided per value, and a column's declared type only gives it an "affinity" that
 * converts some values on insert. The reader therefore passes every value's storage class
 * through unchanged, and the destination column gets the same affinity as the source column
 * (the source's declared type verbatim when the schema came from SQLite). Values already stored
 * under an affinity are fixed points of it, so SQLite -> SQLite copies are bit-exact.
 *
 * Atomic replace. Rows go to "__mms_stage_<table>" in the destination file. write_commit drops
 * the target and renames the staging table in one transaction (SQLite DDL is transactional),
 * so a crash leaves either the old table or the complete new one. The staging insert itself is
 * committed every ~64 MB to bound the WAL and the page cache; those rows are invisible under
 * the real name, and the next write_begin of the same target drops any leftover.
 *
 * Partitions. SQLite has none: a partitioned schema whose key columns are also data columns
 * (the engine makes them so, docs/engine.md "Partition keys") becomes a plain table, and a
 * partition "k1=v1/k2=v2" is the set of its rows with those key values. Writing a partition
 * stages its rows in "__mms_stage_<table>$<spec>", and write_commit, in one transaction,
 * deletes the rows of that partition from the table (key columns compared with the values as
 * parameters, integers as integers), inserts the staged rows and drops the staging table: the
 * other partitions' rows are untouched, and a crash leaves the old rows of the partition.
 *
 * Connections. A source connection holds one read-only handle. A destination connection holds
 * only the directory: create_table and count_dest open the project file for the call, and each
 * writer and destination reader owns its own handle, so writers of different tables never share
 * a transaction. SQLite admits one writer per file at a time: writers of tables of the same
 * project queue on the busy timeout. */
#include "conn/conn.h"
#include "conn/partspec.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SQ_TYPE "SQLITE"
#define SQ_STAGE_PREFIX "__mms_stage_"
#define SQ_PROJECT_MAX 200               /* bytes of a project (file) name */
#define SQ_BUSY_SOURCE_MS 10000          /* a source being written by its application */
#define SQ_BUSY_DEST_MS (10 * 60 * 1000) /* writers of one project file take turns */
#define SQ_COMMIT_BYTES ((size_t)64 << 20)
/* Appends spill to the WAL as they would at commit anyway: 8 MB of page cache copied as fast as
 * 64 MB here (~950k narrow rows/s), with an eighth of the memory per writer. */
#define SQ_DEST_CACHE_KIB 8192

struct sq_conn {
    struct conn_base base;
    sqlite3 *h; /* source: the read-only database; NULL for a destination */
    char *path; /* source: the database file */
    char *dir;  /* destination: the directory of <project>.db files */
};

/* A partition spec "k1=v1/k2=v2", percent-decoded (docs/files-format.md); val NULL for Hive's
 * __HIVE_DEFAULT_PARTITION__ (its NULL partition). is_int/ival after sq_part_resolve. */
struct sq_reader {
    sqlite3 *own;     /* destination readers own their handle; NULL when borrowing */
    sqlite3_stmt *st; /* SELECT "c1",... FROM "main"."t" */
    size_t ncols;
    bool done;
    char *what; /* "table \"t\" in /path", for messages */
};

struct sq_writer {
    sqlite3 *h;
    sqlite3_stmt *ins; /* INSERT INTO staging VALUES (?,...) */
    char *table;
    char *stage;
    char *path;
    size_t ncols;
    char **names;   /* ncols column names, for value errors */
    size_t pending; /* batch bytes inserted since the last commit */
    char *sql;      /* the insert and the swap, for the task log */
    char *spec;     /* writing one partition inside the plain table: its spec, else NULL */
    struct part_spec part;
};

static struct sq_conn *SQ(struct conn *c)
{
    return (struct sq_conn *)c;
}

/* ---- errors ----------------------------------------------------------------------------- */

#define E_CONFIG "ConnectorError.Config"
#define E_CONNECT "ConnectorError.Connect"
#define E_NOTFOUND "ConnectorError.NotFound"
#define E_MISMATCH "ConnectorError.SchemaMismatch"
#define E_UNSUPPORTED "ConnectorError.Unsupported"
#define E_VALUE "ConnectorError.Value"
#define E_INTERNAL "ConnectorError.Internal"
#define E_BUSY "ConnectorError.Busy"
#define E_QUERY "ConnectorError.Query"

/* A failed SQLite call: "<what>: <sqlite message>". Busy/locked is its own code because it is
 * worth retrying; anything else is a query error. */
static int sq_fail(struct mms_err *err, sqlite3 *h, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int sq_fail(struct mms_err *err, sqlite3 *h, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int code = h ? sqlite3_errcode(h) & 0xff : SQLITE_ERROR;
    const char *msg = h ? sqlite3_errmsg(h) : "out of memory";
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
        return mms_err_set(err, 503, E_BUSY, "%s: %s", what, msg);
    return mms_err_set(err, 500, E_QUERY, "%s: %s", what, msg);
}

static int sq_no_partitions(const char *partition, const char *table, struct mms_err *err)
{
    if (!partition)
        return 0;
    return mms_err_set(err, 400, E_UNSUPPORTED,
                       "table \"%s\": SQLite has no partitions (partition '%s' requested)", table,
                       partition);
}

static int sq_part_parse(const char *table, const char *spec, struct part_spec *p,
                         struct mms_err *err)
{
    if (part_spec_parse(spec, p) < 0)
        return mms_err_set(err, 400, E_UNSUPPORTED,
                           "table \"%s\": partition '%s' is not of the form k1=v1/k2=v2, so it"
                           " cannot name rows of a SQLite table",
                           table, spec);
    p->is_int = xcalloc(p->n, sizeof *p->is_int);
    p->ival = xcalloc(p->n, sizeof *p->ival);
    return 0;
}

static bool sq_type_is_integer(enum mms_type_id id)
{
    return id == MT_BOOL || (id >= MT_INT8 && id <= MT_UINT64);
}

/* Each key must be a data column of schema; an integer column compares as an integer (the
 * value must then be one). */
static int sq_part_resolve(const char *table, const char *spec, struct part_spec *p,
                           const struct conn_schema *schema, struct mms_err *err)
{
    for (size_t k = 0; k < p->n; k++) {
        const struct conn_column *col = NULL;
        for (size_t i = 0; i < schema->ncols && !col; i++)
            if (sqlite3_stricmp(schema->cols[i].name, p->keys[k]) == 0)
                col = &schema->cols[i];
        if (!col)
            return mms_err_set(err, 400, E_MISMATCH,
                               "table \"%s\": partition '%s': key \"%s\" is not a column of the"
                               " table",
                               table, spec, p->keys[k]);
        if (!p->vals[k] || !sq_type_is_integer(col->type.id))
            continue;
        char *e = NULL;
        errno = 0;
        long long v = strtoll(p->vals[k], &e, 10);
        if (!p->vals[k][0] || errno || *e)
            return mms_err_set(err, 400, E_VALUE,
                               "table \"%s\": partition '%s': value '%s' of integer column \"%s\""
                               " is not an integer",
                               table, spec, p->vals[k], p->keys[k]);
        p->is_int[k] = true;
        p->ival[k] = (int64_t)v;
    }
    return 0;
}

/* " WHERE "k1" IS ? AND ..." (IS: Hive's NULL partition matches NULL keys). */
static void sq_part_where(struct buf *sql, const struct part_spec *p)
{
    for (size_t k = 0; k < p->n; k++) {
        buf_adds(sql, k ? " AND " : " WHERE ");
        conn_sql_ident(sql, '"', p->keys[k]);
        buf_adds(sql, " IS ?");
    }
}

static int sq_part_bind(sqlite3_stmt *st, const struct part_spec *p)
{
    for (size_t k = 0; k < p->n; k++) {
        int rc = !p->vals[k]   ? sqlite3_bind_null(st, (int)k + 1)
                 : p->is_int[k] ? sqlite3_bind_int64(st, (int)k + 1, p->ival[k])
                                : sqlite3_bind_text(st, (int)k + 1, p->vals[k], -1, SQLITE_TRANSIENT);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

/* ---- SQL text --------------------------------------------------------------------------- */

/* Appends a double-quoted identifier; embedded quotes are doubled, every other byte (spaces,
 * dots, non-ASCII) is literal inside the quotes. */
static void sql_ident(struct buf *b, const char *name)
{
    conn_sql_ident(b, '"', name);
}

static int sq_exec(sqlite3 *h, const char *sql, const char *what, struct mms_err *err)
{
    if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sq_fail(err, h, "%s", what);
    return 0;
}

/* ---- type mapping ----------------------------------------------------------------------- */

/* Upper-cases the type name part of a declared type (before '(') with blanks collapsed, and
 * parses up to two numbers inside the parentheses. Returns how many numbers were found. */
static int decl_split(const char *decl, char *base, size_t n, long nums[2])
{
    size_t j = 0;
    const char *p = decl;
    bool blank = false;
    for (; *p && *p != '('; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            blank = j > 0;
            continue;
        }
        if (blank && j + 1 < n)
            base[j++] = ' ';
        blank = false;
        if (j + 1 < n)
            base[j++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    }
    base[j] = '\0';
    int count = 0;
    if (*p == '(') {
        char *end;
        for (p++; count < 2; count++) {
            nums[count] = strtol(p, &end, 10);
            if (end == p)
                break;
            p = end;
            while (*p == ' ')
                p++;
            if (*p != ',') {
                count++;
                break;
            }
            p++;
        }
    }
    return count;
}

static bool base_is(const char *base, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(base, *names) == 0)
            return true;
    return false;
}

static int32_t clamp_len(long v)
{
    return v > 0 && v <= INT32_MAX ? (int32_t)v : 0;
}

/* Declared SQLite type -> canonical type. Follows SQLite's affinity rules (section 3.1 of
 * https://sqlite.org/datatype3.html) in their order, after a few exact names whose canonical
 * type is more specific than their affinity. */
static struct mms_type sq_type_from_decl(const char *decl)
{
    static const char *const bools[] = {"BOOLEAN", "BOOL", NULL};
    static const char *const chars[] = {"CHAR", "CHARACTER", "NCHAR", "NATIVE CHARACTER", NULL};
    static const char *const varchars[] = {"VARCHAR", "NVARCHAR", "VARYING CHARACTER",
                                           "CHARACTER VARYING", NULL};
    static const char *const decimals[] = {"DECIMAL", "NUMERIC", NULL};
    char base[128];
    long nums[2] = {0, 0};
    int count = decl_split(decl ? decl : "", base, sizeof base, nums);
    struct mms_type t = {.id = MT_ANY};

    if (base[0] == '\0' && count == 0)
        return t; /* no declared type: BLOB affinity, values keep their class */
    if (base_is(base, bools)) {
        t.id = MT_BOOL;
    } else if (strstr(base, "INT")) {
        t.id = MT_INT64; /* SQLite integers are all 64-bit */
    } else if (base_is(base, chars)) {
        t.id = MT_CHAR;
        t.length = count >= 1 ? clamp_len(nums[0]) : 0;
    } else if (base_is(base, varchars)) {
        t.id = MT_VARCHAR;
        t.length = count >= 1 ? clamp_len(nums[0]) : 0;
    } else if (strstr(base, "CHAR") || strstr(base, "CLOB") || strstr(base, "TEXT")) {
        t.id = MT_TEXT;
    } else if (strstr(base, "BLOB")) {
        t.id = MT_BINARY;
    } else if (strstr(base, "REAL") || strstr(base, "FLOA") || strstr(base, "DOUB")) {
        t.id = MT_FLOAT64;
    } else if (base_is(base, decimals)) {
        t.id = MT_DECIMAL;
        if (count >= 1 && nums[0] > 0 && nums[0] <= 1000) {
            long s = count == 2 ? nums[1] : 0;
            if (s >= 0 && s <= nums[0]) {
                t.precision = (int32_t)nums[0];
                t.scale = (int32_t)s;
            }
        }
    } else if (strcmp(base, "DATE") == 0) {
        t.id = MT_DATE;
    } else if (strcmp(base, "TIME") == 0 || strcmp(base, "DATETIME") == 0 ||
               strcmp(base, "TIMESTAMP") == 0) {
        t.id = strcmp(base, "TIME") == 0       ? MT_TIME
               : strcmp(base, "DATETIME") == 0 ? MT_DATETIME
                                               : MT_TIMESTAMP;
        /* "TIMESTAMP(3)": fractional second digits */
        if (count == 1 && nums[0] > 0 && nums[0] <= 9)
            t.scale = (int32_t)nums[0];
    } else if (strcmp(base, "JSON") == 0) {
        t.id = MT_JSON;
    }
    /* Anything else has NUMERIC affinity in SQLite; canonically it is "any", and native_type
     * keeps the name. */
    return t;
}

static bool type_eq(const struct mms_type *a, const struct mms_type *b)
{
    return a->id == b->id && a->precision == b->precision && a->scale == b->scale &&
           a->length == b->length;
}

/* A declared type safe to splice into DDL: words of [A-Za-z0-9_] separated by blanks, then
 * optionally "(" numbers, signs, dots, commas, blanks ")". Anything else (quotes, comments,
 * semicolons) is refused and the generic name is used instead. */
static bool decl_is_safe(const char *d)
{
    const char *p = d;
    while (*p && *p != '(') {
        char ch = *p++;
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == ' '))
            return false;
    }
    if (*p == '\0')
        return true;
    for (p++; *p && *p != ')'; p++) {
        char ch = *p;
        if (!((ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.' || ch == ',' ||
              ch == ' '))
            return false;
    }
    return *p == ')' && p[1] == '\0' && !strstr(d, "--");
}

/* Canonical type -> a declared type whose affinity suits the value kinds of that type. */
static void sq_decl_generic(const struct mms_type *t, struct buf *out)
{
    switch (t->id) {
    case MT_BOOL:
        buf_adds(out, "BOOLEAN");
        return;
    case MT_INT8:
    case MT_INT16:
    case MT_INT32:
    case MT_INT64:
    case MT_UINT8:
    case MT_UINT16:
    case MT_UINT32:
    case MT_UINT64:
        buf_adds(out, "INTEGER");
        return;
    case MT_FLOAT32:
    case MT_FLOAT64:
        buf_adds(out, "REAL");
        return;
    case MT_DECIMAL:
        if (t->precision > 0)
            buf_printf(out, "NUMERIC(%d,%d)", (int)t->precision, (int)t->scale);
        else
            buf_adds(out, "NUMERIC");
        return;
    case MT_CHAR:
        if (t->length > 0)
            buf_printf(out, "CHAR(%d)", (int)t->length);
        else
            buf_adds(out, "CHAR");
        return;
    case MT_VARCHAR:
        if (t->length > 0)
            buf_printf(out, "VARCHAR(%d)", (int)t->length);
        else
            buf_adds(out, "VARCHAR");
        return;
    case MT_TEXT:
    case MT_JSON: /* "JSON" would have NUMERIC affinity and turn '1' into 1 */
        buf_adds(out, "TEXT");
        return;
    case MT_BINARY:
        buf_adds(out, "BLOB");
        return;
    case MT_DATE:
        buf_adds(out, "DATE");
        return;
    case MT_TIME:
        buf_adds(out, "TIME");
        return;
    case MT_DATETIME:
        buf_adds(out, "DATETIME");
        return;
    case MT_TIMESTAMP:
        buf_adds(out, "TIMESTAMP");
        return;
    case MT_ANY:
        return; /* no declared type: BLOB affinity, nothing is converted */
    }
}

/* Appends a SQLite declared type verbatim. "ANY" is the exception: in a STRICT table it stores
 * values as given, in an ordinary table it would have NUMERIC affinity, so it becomes "no
 * declared type", which never converts. */
static void sq_decl_native(const char *nat, struct buf *out)
{
    if (strcasecmp(nat, "ANY") != 0)
        buf_adds(out, nat);
}

/* The declaration of one destination column: the source's own declared type when the schema
 * came from SQLite and still means the same canonical type (identical affinity), else the
 * generic one. */
static void sq_decl_column(const struct conn_schema *s, const struct conn_column *col,
                           struct buf *out)
{
    const char *nat = col->native_type;
    if (s->source_type && strcasecmp(s->source_type, SQ_TYPE) == 0 && nat && decl_is_safe(nat)) {
        struct mms_type t = sq_type_from_decl(nat);
        if (type_eq(&t, &col->type)) {
            sq_decl_native(nat, out);
            return;
        }
    }
    sq_decl_generic(&col->type, out);
}

/* ---- schema reading --------------------------------------------------------------------- */

/* Columns of a table from PRAGMA table_xinfo. Hidden columns of virtual tables (hidden = 1)
 * are skipped; generated columns (2, 3) are read like ordinary ones: their values are copied
 * and they become ordinary columns at the destination. An unknown table gives 0 columns. */
static int sq_schema_read(sqlite3 *h, const char *table, struct conn_schema *out,
                          struct mms_err *err)
{
    static const char sql[] = "SELECT name, type, \"notnull\", dflt_value, hidden"
                              " FROM pragma_table_xinfo(?1, 'main')";
    sqlite3_stmt *st = NULL;
    struct conn_schema s = {0};
    size_t cap = 0;
    int rc = -1, src;

    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
        sq_fail(err, h, "reading the columns of table \"%s\"", table);
        goto out;
    }
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_int(st, 4) == 1)
            continue;
        if (s.ncols == cap) {
            cap = cap ? cap * 2 : 16;
            s.cols = xreallocarray(s.cols, cap, sizeof *s.cols);
        }
        struct conn_column *c = &s.cols[s.ncols++];
        memset(c, 0, sizeof *c);
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *decl = (const char *)sqlite3_column_text(st, 1);
        const char *dflt = (const char *)sqlite3_column_text(st, 3);
        c->name = xstrdup(name ? name : "");
        c->native_type = xstrdup(decl ? decl : "");
        c->type = sq_type_from_decl(c->native_type);
        c->nullable = sqlite3_column_int(st, 2) == 0;
        c->default_value = dflt ? xstrdup(dflt) : NULL;
    }
    if (src != SQLITE_DONE) {
        sq_fail(err, h, "reading the columns of table \"%s\"", table);
        goto out;
    }
    s.source_type = xstrdup(SQ_TYPE);
    rc = 0;
out:
    sqlite3_finalize(st);
    if (rc == 0)
        *out = s;
    else
        conn_schema_release(&s);
    return rc;
}

/* ---- opening ---------------------------------------------------------------------------- */

/* Opens a database file. Relative names get "./" so a name starting with "file:" is never
 * taken for a URI. */
static int sq_open_file(const char *path, int flags, int busy_ms, sqlite3 **out,
                        struct mms_err *err)
{
    sqlite3 *h = NULL;
    char *name = path[0] == '/' ? xstrdup(path) : xasprintf("./%s", path);
    int rc = sqlite3_open_v2(name, &h, flags, NULL);
    free(name);
    if (rc != SQLITE_OK) {
        mms_err_set(err, 400, E_CONNECT, "cannot open SQLite database %s: %s", path,
                    h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
        sqlite3_close(h);
        return -1;
    }
    sqlite3_busy_timeout(h, busy_ms);
    sqlite3_extended_result_codes(h, 1);
    *out = h;
    return 0;
}

static int sq_open_source(struct conn **out, json_t *config, struct mms_err *err)
{
    struct sq_conn *c = NULL;
    sqlite3 *h = NULL;
    struct stat stt;
    json_t *jp = json_is_object(config) ? json_object_get(config, "sqlite.path") : NULL;
    const char *path = json_string_value(jp);

    if (!path || !path[0])
        return mms_err_set(err, 400, E_CONFIG,
                           "config item sqlite.path (the database file) is required");
    if (stat(path, &stt) != 0)
        return mms_err_set(err, 400, E_CONNECT, "SQLite database %s: %s", path, strerror(errno));
    if (!S_ISREG(stt.st_mode))
        return mms_err_set(err, 400, E_CONNECT, "SQLite database %s is not a regular file", path);
    if (sq_open_file(path, SQLITE_OPEN_READONLY, SQ_BUSY_SOURCE_MS, &h, err) < 0)
        return -1;
    /* Opening is lazy: read the schema now so a file that is not a database fails here. */
    if (sqlite3_exec(h, "SELECT count(*) FROM main.sqlite_master", NULL, NULL, NULL) != SQLITE_OK) {
        /* A locked file is a passing state (503 Busy: the engine retries); anything else means
         * the file is not a usable database (400: permanent). */
        int code = sqlite3_errcode(h) & 0xff;
        if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
            mms_err_set(err, 503, E_BUSY, "SQLite database %s is locked: %s", path,
                        sqlite3_errmsg(h));
        else
            mms_err_set(err, 400, E_CONNECT, "cannot read SQLite database %s: %s", path,
                        sqlite3_errmsg(h));
        sqlite3_close(h);
        return -1;
    }
    c = xcalloc(1, sizeof *c);
    c->base.ops = &conn_sqlite_ops;
    c->h = h;
    c->path = xstrdup(path);
    *out = (struct conn *)c;
    return 0;
}

/* mkdir -p. */
static int mkdir_p(const char *dir, struct mms_err *err)
{
    char *p = xstrdup(dir);
    int rc = -1;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char saved = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            mms_err_set(err, 400, E_CONFIG, "cannot create directory %s: %s", p, strerror(errno));
            goto out;
        }
        *s = saved;
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        mms_err_set(err, 400, E_CONFIG, "%s is not a directory", dir);
        goto out;
    }
    rc = 0;
out:
    free(p);
    return rc;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* "sqlite:///abs/dir" -> "/abs/dir" (percent escapes decoded). Caller frees. */
static char *sq_url_dir(const char *url)
{
    static const char scheme[] = "sqlite://";
    if (strncasecmp(url, scheme, sizeof scheme - 1) != 0)
        return NULL;
    const char *p = url + sizeof scheme - 1;
    if (*p != '/') /* a host part, or a relative path */
        return NULL;
    size_t n = strlen(p);
    if (n >= PATH_MAX)
        return NULL;
    char *dir = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%') {
            int hi = i + 2 < n ? hexval(p[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(p[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(dir);
                return NULL;
            }
            dir[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dir[j++] = p[i];
        }
    }
    dir[j] = '\0';
    return dir;
}

static int sq_open_dest(struct conn **out, const char *url, struct mms_err *err)
{
    char *dir = url ? sq_url_dir(url) : NULL;
    if (!dir)
        return mms_err_set(err, 400, E_CONFIG,
                           "destination URL '%s' must be sqlite:///absolute/directory",
                           url ? url : "");
    if (mkdir_p(dir, err) < 0) {
        free(dir);
        return -1;
    }
    struct sq_conn *c = xcalloc(1, sizeof *c);
    c->base.ops = &conn_sqlite_ops;
    c->dir = dir;
    *out = (struct conn *)c;
    return 0;
}

static void sq_close(struct conn *conn)
{
    struct sq_conn *c = SQ(conn);
    if (!c)
        return;
    /* _v2: a reader the caller forgot does not keep the handle open forever. */
    sqlite3_close_v2(c->h);
    free(c->path);
    free(c->dir);
    free(c);
}

static int sq_ping(struct conn *conn, struct mms_err *err)
{
    struct sq_conn *c = SQ(conn);
    if (c->h)
        return sq_exec(c->h, "SELECT 1", c->path, err);
    if (access(c->dir, W_OK | X_OK) != 0)
        return mms_err_set(err, 400, E_CONNECT, "destination directory %s is not writable: %s",
                           c->dir, strerror(errno));
    return 0;
}

/* A project is a file name in the destination directory. */
static int sq_project_check(const char *p, struct mms_err *err)
{
    size_t n = p ? strlen(p) : 0;
    if (n == 0 || n > SQ_PROJECT_MAX)
        return mms_err_set(err, 400, E_CONFIG, "destination project name must be 1 to %d bytes",
                           SQ_PROJECT_MAX);
    if (strchr(p, '/') || strchr(p, '\\') || strstr(p, ".."))
        return mms_err_set(err, 400, E_CONFIG,
                           "destination project '%s' must not contain '/', '\\' or '..'", p);
    for (const char *s = p; *s; s++)
        if ((unsigned char)*s < 0x20)
            return mms_err_set(err, 400, E_CONFIG,
                               "destination project name contains a control character");
    return 0;
}

/* Opens <dir>/<project>.db: for writing (created if missing; WAL, synchronous=NORMAL), or
 * read-only (NotFound when the file does not exist). *path_out (may be NULL) gets the file
 * name; caller frees. */
static int sq_dest_db(struct sq_conn *c, const char *project, bool write, sqlite3 **out,
                      char **path_out, struct mms_err *err)
{
    sqlite3 *h = NULL;
    char *path = NULL;
    int rc = -1;
    if (!c->dir) {
        mms_err_set(err, 500, E_INTERNAL, "SQLite connection was not opened as a destination");
        goto out;
    }
    if (sq_project_check(project, err) < 0)
        goto out;
    path = xasprintf("%s/%s.db", c->dir, project);
    if (!write && access(path, F_OK) != 0) {
        mms_err_set(err, 404, E_NOTFOUND, "destination database %s does not exist", path);
        goto out;
    }
    int flags = write ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    if (sq_open_file(path, flags, SQ_BUSY_DEST_MS, &h, err) < 0)
        goto out;
    if (write) {
        /* WAL + NORMAL: commits append to the WAL without fsync, still atomic after a crash
         * (a power loss may lose the last commits, never half of one). legacy_alter_table:
         * RENAME must not rewrite or re-check views and triggers that name the old table. */
        char *sql = xasprintf("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                              " PRAGMA legacy_alter_table=ON; PRAGMA cache_size=-%d;",
                              SQ_DEST_CACHE_KIB);
        int erc = sq_exec(h, sql, path, err);
        free(sql);
        if (erc < 0)
            goto out;
    }
    rc = 0;
out:
    if (rc == 0) {
        *out = h;
        if (path_out) {
            *path_out = path;
            path = NULL;
        }
    } else {
        sqlite3_close(h);
    }
    free(path);
    return rc;
}

/* ---- catalog ---------------------------------------------------------------------------- */

static int sq_check_db(const char *db, struct mms_err *err)
{
    if (db && db[0] && strcmp(db, "main") != 0)
        return mms_err_set(err, 404, E_NOTFOUND,
                           "database '%s' not found (a SQLite source has only 'main')", db);
    return 0;
}

static int sq_list_dbs(struct conn *conn, int (*cb)(void *ctx, const char *db), void *ctx,
                       struct mms_err *err)
{
    (void)conn;
    (void)err;
    return cb(ctx, "main");
}

/* SQLite keeps no per-table times: both are the file's mtime (or its WAL's, if later, since
 * committed changes may still be only there). */
static int64_t sq_file_mtime(const char *path)
{
    struct stat st;
    int64_t t = 0;
    if (stat(path, &st) == 0)
        t = (int64_t)st.st_mtime;
    char *wal = xasprintf("%s-wal", path);
    if (stat(wal, &st) == 0 && (int64_t)st.st_mtime > t)
        t = (int64_t)st.st_mtime;
    free(wal);
    return t;
}

/* part: only the rows of that partition (a resolved spec), or NULL. */
static int sq_count(sqlite3 *h, const char *table, const struct part_spec *part, int64_t *out,
                    char **sql_out, struct mms_err *err)
{
    struct buf sql;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    buf_adds(&sql, "SELECT COUNT(*) FROM \"main\".");
    sql_ident(&sql, table);
    if (part)
        sq_part_where(&sql, part);
    if (sqlite3_prepare_v2(h, buf_str(&sql), -1, &st, NULL) != SQLITE_OK ||
        (part && sq_part_bind(st, part) != SQLITE_OK) || sqlite3_step(st) != SQLITE_ROW) {
        sq_fail(err, h, "counting rows of table \"%s\"", table);
        goto out;
    }
    *out = sqlite3_column_int64(st, 0);
    if (sql_out)
        *sql_out = buf_detach(&sql, NULL);
    rc = 0;
out:
    sqlite3_finalize(st);
    buf_release(&sql);
    return rc;
}

static int sq_list_tables(struct conn *conn, const char *db,
                          int (*cb)(void *ctx, const struct conn_table_info *t), void *ctx,
                          struct mms_err *err)
{
    /* "sqlite_" names are SQLite's own (reserved case-insensitively); "__mms_stage_" tables are
     * our staging leftovers. */
    static const char list_sql[] =
        "SELECT name FROM main.sqlite_master WHERE type = 'table'"
        " AND lower(substr(name, 1, 7)) <> 'sqlite_' AND substr(name, 1, 12) <> '__mms_stage_'"
        " ORDER BY name";
    static const char size_sql[] = "SELECT SUM(pgsize) FROM dbstat WHERE name = ?1";
    struct sq_conn *c = SQ(conn);
    sqlite3_stmt *st = NULL, *size_st = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = -1, src;

    if (sq_check_db(db, err) < 0)
        goto out;
    /* Collect the names first: the callback may take long, and no statement should stay open
     * on sqlite_master meanwhile. */
    if (sqlite3_prepare_v2(c->h, list_sql, -1, &st, NULL) != SQLITE_OK) {
        sq_fail(err, c->h, "listing tables of %s", c->path);
        goto out;
    }
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            names = xreallocarray(names, cap, sizeof *names);
        }
        names[n++] = xstrdup((const char *)sqlite3_column_text(st, 0));
    }
    if (src != SQLITE_DONE) {
        sq_fail(err, c->h, "listing tables of %s", c->path);
        goto out;
    }
    /* dbstat is an optional compile-time feature: without it sizes are unknown. */
    if (sqlite3_prepare_v2(c->h, size_sql, -1, &size_st, NULL) != SQLITE_OK)
        size_st = NULL;
    int64_t mtime = sq_file_mtime(c->path);

    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct conn_table_info info = {
            .name = names[i],
            .type = (char *)"TABLE",
            .size = -1,
            .num_rows = -1,
            .last_ddl_time = mtime,
            .last_modified = mtime,
        };
        struct mms_err terr = {0};
        /* One unreadable table (a virtual table whose module is not loaded) must not hide the
         * others: log it and go on. */
        if (sq_schema_read(c->h, names[i], &info.schema, &terr) < 0) {
            log_warn("sqlite: %s: skipping table \"%s\": %s", c->path, names[i], terr.msg);
            continue;
        }
        if (sq_count(c->h, names[i], NULL, &info.num_rows, NULL, &terr) < 0)
            info.num_rows = -1;
        if (size_st) {
            sqlite3_bind_text(size_st, 1, names[i], -1, SQLITE_STATIC);
            if (sqlite3_step(size_st) == SQLITE_ROW &&
                sqlite3_column_type(size_st, 0) != SQLITE_NULL)
                info.size = sqlite3_column_int64(size_st, 0);
            sqlite3_reset(size_st);
        }
        rc = cb(ctx, &info);
        conn_schema_release(&info.schema);
    }
out:
    sqlite3_finalize(st);
    sqlite3_finalize(size_st);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int sq_list_partitions(struct conn *conn, const char *db, const char *table,
                              int (*cb)(void *ctx, const struct conn_partition_info *p), void *ctx,
                              struct mms_err *err)
{
    (void)conn;
    (void)db;
    (void)table;
    (void)cb;
    (void)ctx;
    (void)err;
    return 0; /* SQLite has no partitions */
}

static int sq_table_schema(struct conn *conn, const char *db, const char *table,
                           struct conn_schema *out, struct mms_err *err)
{
    struct sq_conn *c = SQ(conn);
    if (sq_check_db(db, err) < 0)
        return -1;
    if (!c->h)
        return mms_err_set(err, 500, E_INTERNAL, "SQLite connection was not opened as a source");
    if (sq_schema_read(c->h, table, out, err) < 0)
        return -1;
    if (out->ncols == 0) {
        conn_schema_release(out);
        return mms_err_set(err, 404, E_NOTFOUND, "table \"%s\" not found in %s", table, c->path);
    }
    return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* Opens SELECT "c1","c2",... FROM "main"."t" on h. own: the reader closes h at the end. */
static int sq_reader_open(sqlite3 *h, bool own, const char *path, const char *table,
                          const struct part_spec *part, const struct conn_schema *schema,
                          struct conn_reader **out, struct mms_err *err)
{
    struct buf sql;
    struct sq_reader *r = xcalloc(1, sizeof *r);
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    r->own = own ? h : NULL;
    r->what = xasprintf("table \"%s\" in %s", table, path);
    if (!schema || schema->ncols == 0) {
        mms_err_set(err, 400, E_NOTFOUND, "reading %s: the schema has no columns", r->what);
        goto out;
    }
    r->ncols = schema->ncols;
    buf_adds(&sql, "SELECT ");
    for (size_t i = 0; i < schema->ncols; i++) {
        if (i)
            buf_addc(&sql, ',');
        sql_ident(&sql, schema->cols[i].name);
    }
    buf_adds(&sql, " FROM \"main\".");
    sql_ident(&sql, table);
    if (part)
        sq_part_where(&sql, part);
    if (sqlite3_prepare_v2(h, buf_str(&sql), -1, &r->st, NULL) != SQLITE_OK ||
        (part && sq_part_bind(r->st, part) != SQLITE_OK)) {
        sq_fail(err, h, "reading %s", r->what);
        goto out;
    }
    rc = 0;
out:
    buf_release(&sql);
    if (rc == 0) {
        *out = (struct conn_reader *)r;
    } else {
        sqlite3_finalize(r->st);
        if (r->own)
            sqlite3_close(r->own);
        free(r->what);
        free(r);
    }
    return rc;
}

static int sq_read_open(struct conn *conn, const char *db, const char *table, const char *partition,
                        const struct conn_schema *schema, struct conn_reader **out,
                        struct mms_err *err)
{
    struct sq_conn *c = SQ(conn);
    if (sq_check_db(db, err) < 0 || sq_no_partitions(partition, table, err) < 0)
        return -1;
    if (!c->h)
        return mms_err_set(err, 500, E_INTERNAL, "SQLite connection was not opened as a source");
    return sq_reader_open(c->h, false, c->path, table, NULL, schema, out, err);
}

static int sq_read_next(struct conn_reader *reader, struct rowbatch *b, struct mms_err *err)
{
    struct sq_reader *r = (struct sq_reader *)reader;
    sqlite3_stmt *st = r->st;
    rowbatch_clear(b);
    if (b->ncols != r->ncols)
        return mms_err_set(err, 500, E_INTERNAL, "reading %s: batch has %zu columns, not %zu",
                           r->what, b->ncols, r->ncols);
    while (!r->done && !rowbatch_full(b)) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE) {
            r->done = true;
            break;
        }
        if (src != SQLITE_ROW)
            return sq_fail(err, sqlite3_db_handle(st), "reading %s", r->what);
        struct val *row = rowbatch_add_row(b);
        for (size_t i = 0; i < r->ncols; i++) {
            int col = (int)i;
            /* The storage class of this value, passed through as is. */
            switch (sqlite3_column_type(st, col)) {
            case SQLITE_INTEGER:
                rowbatch_set_int(&row[i], sqlite3_column_int64(st, col));
                break;
            case SQLITE_FLOAT:
                rowbatch_set_double(&row[i], sqlite3_column_double(st, col));
                break;
            case SQLITE_TEXT: {
                /* text first, then bytes: the documented order that measures the UTF-8 form
                 * (a UTF-16 database is converted once). Embedded NULs are kept. */
                const unsigned char *p = sqlite3_column_text(st, col);
                if (!p)
                    return sq_fail(err, sqlite3_db_handle(st), "reading %s", r->what);
                rowbatch_set_bytes(b, &row[i], VAL_TEXT, p, (size_t)sqlite3_column_bytes(st, col));
                break;
            }
            case SQLITE_BLOB: {
                const void *p = sqlite3_column_blob(st, col);
                /* a zero-length blob comes back as NULL: it is still an (empty) blob */
                rowbatch_set_bytes(b, &row[i], VAL_BLOB, p, (size_t)sqlite3_column_bytes(st, col));
                break;
            }
            default:
                break; /* SQLITE_NULL: the row starts all NULL */
            }
        }
    }
    return 0;
}

static void sq_read_close(struct conn_reader *reader)
{
    struct sq_reader *r = (struct sq_reader *)reader;
    if (!r)
        return;
    sqlite3_finalize(r->st);
    if (r->own)
        sqlite3_close(r->own);
    free(r->what);
    free(r);
}

/* ---- destination: schema stage ---------------------------------------------------------- */

/* Reads the columns of the table if it exists into *have (0 columns when it does not) and
 * fails with SchemaMismatch when they differ from the schema's (by name, in order, ASCII
 * case-insensitively like SQLite). */
static int sq_check_existing(sqlite3 *h, const char *path, const char *table,
                             const struct conn_schema *schema, struct conn_schema *have,
                             struct mms_err *err)
{
    if (sq_schema_read(h, table, have, err) < 0)
        return -1;
    if (have->ncols == 0)
        return 0;
    size_t n = have->ncols < schema->ncols ? have->ncols : schema->ncols;
    for (size_t i = 0; i < n; i++)
        if (sqlite3_stricmp(have->cols[i].name, schema->cols[i].name) != 0)
            return mms_err_set(err, 409, E_MISMATCH,
                               "table \"%s\" in %s already exists and its column %zu is \"%s\","
                               " not \"%s\"",
                               table, path, i + 1, have->cols[i].name, schema->cols[i].name);
    if (have->ncols > n)
        return mms_err_set(err, 409, E_MISMATCH,
                           "table \"%s\" in %s already exists with extra column \"%s\"", table,
                           path, have->cols[n].name);
    if (schema->ncols > n)
        return mms_err_set(err, 409, E_MISMATCH,
                           "table \"%s\" in %s already exists without column \"%s\"", table, path,
                           schema->cols[n].name);
    return 0;
}

static int sq_schema_check(const struct conn_schema *schema, const char *table, struct mms_err *err)
{
    if (!table || !table[0])
        return mms_err_set(err, 400, E_CONFIG, "destination table name is empty");
    /* No partitions: a partitioned schema becomes a plain table whose key columns are data
     * columns; a key that is not one would have no place in the rows. */
    for (size_t k = 0; k < schema->npcols; k++) {
        bool found = false;
        for (size_t i = 0; i < schema->ncols && !found; i++)
            found = sqlite3_stricmp(schema->cols[i].name, schema->pcols[k].name) == 0;
        if (!found)
            return mms_err_set(err, 400, E_UNSUPPORTED,
                               "table \"%s\": SQLite has no partitions and partition column"
                               " \"%s\" is not a data column",
                               table, schema->pcols[k].name);
    }
    if (schema->ncols == 0)
        return mms_err_set(err, 400, E_CONFIG, "table \"%s\": the schema has no columns", table);
    return 0;
}

/* CREATE TABLE [IF NOT EXISTS] "main"."name" ("c" DECL [NOT NULL], ...) from the canonical
 * schema, or, when have has columns, with the existing table's declarations (kept verbatim
 * when safe to splice, else the canonical ones). */
static void sq_ddl(struct buf *out, bool if_not_exists, const char *name,
                   const struct conn_schema *schema, const struct conn_schema *have)
{
    buf_adds(out,
             if_not_exists ? "CREATE TABLE IF NOT EXISTS \"main\"." : "CREATE TABLE \"main\".");
    sql_ident(out, name);
    buf_adds(out, " (");
    for (size_t i = 0; i < schema->ncols; i++) {
        const struct conn_column *col = &schema->cols[i];
        if (i)
            buf_adds(out, ", ");
        sql_ident(out, col->name);
        size_t mark = out->len;
        buf_addc(out, ' ');
        if (have && have->ncols == schema->ncols) {
            const struct conn_column *hc = &have->cols[i];
            if (decl_is_safe(hc->native_type))
                sq_decl_native(hc->native_type, out);
            else
                sq_decl_column(schema, col, out);
        } else {
            sq_decl_column(schema, col, out);
        }
        if (out->len == mark + 1) { /* no declared type: drop the blank */
            out->len = mark;
            out->p[mark] = '\0';
        }
        bool notnull =
            have && have->ncols == schema->ncols ? !have->cols[i].nullable : !col->nullable;
        if (notnull)
            buf_adds(out, " NOT NULL");
    }
    buf_addc(out, ')');
}

static int sq_create_table(struct conn *conn, const struct conn_target *t,
                           const struct conn_schema *schema, char **sql_out, struct mms_err *err)
{
    struct sq_conn *c = SQ(conn);
    sqlite3 *h = NULL;
    char *path = NULL;
    struct conn_schema have = {0};
    struct buf sql;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);

    if (sq_schema_check(schema, t->table, err) < 0)
        goto out;
    if (sq_dest_db(c, t->project, true, &h, &path, err) < 0)
        goto out;
    if (sq_check_existing(h, path, t->table, schema, &have, err) < 0)
        goto out;
    sq_ddl(&sql, true, t->table, schema, NULL);
    if (sq_exec(h, buf_str(&sql), "creating the destination table", err) < 0)
        goto out;
    if (sql_out)
        *sql_out = buf_detach(&sql, NULL);
    rc = 0;
out:
    conn_schema_release(&have);
    buf_release(&sql);
    sqlite3_close(h);
    free(path);
    return rc;
}

/* ---- destination: data stage ------------------------------------------------------------ */

static void sq_writer_free(struct sq_writer *w)
{
    sqlite3_finalize(w->ins);
    sqlite3_close(w->h);
    free(w->table);
    free(w->stage);
    free(w->path);
    free(w->sql);
    free(w->spec);
    part_spec_release(&w->part);
    for (size_t i = 0; w->names && i < w->ncols; i++)
        free(w->names[i]);
    free(w->names);
    free(w);
}

static int sq_write_begin(struct conn *conn, const struct conn_target *t, const char *partition,
                          const struct conn_schema *schema, struct conn_writer **out,
                          struct mms_err *err)
{
    struct sq_conn *c = SQ(conn);
    struct sq_writer *w = xcalloc(1, sizeof *w);
    struct conn_schema have = {0};
    struct buf sql;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);

    if (sq_schema_check(schema, t->table, err) < 0)
        goto out;
    if (partition) { /* one partition's rows inside the plain table */
        if (sq_part_parse(t->table, partition, &w->part, err) < 0 ||
            sq_part_resolve(t->table, partition, &w->part, schema, err) < 0)
            goto out;
        w->spec = xstrdup(partition);
    }
    if (sq_dest_db(c, t->project, true, &w->h, &w->path, err) < 0)
        goto out;
    w->table = xstrdup(t->table);
    w->stage = partition ? xasprintf(SQ_STAGE_PREFIX "%s$%s", t->table, partition)
                         : xasprintf(SQ_STAGE_PREFIX "%s", t->table);
    w->ncols = schema->ncols;
    w->names = xcalloc(w->ncols ? w->ncols : 1, sizeof *w->names);
    for (size_t i = 0; i < w->ncols; i++)
        w->names[i] = xstrdup(schema->cols[i].name);
    if (sq_check_existing(w->h, w->path, t->table, schema, &have, err) < 0)
        goto out;
    if (partition && have.ncols == 0) { /* the plain table the partitions go into */
        sq_ddl(&sql, true, t->table, schema, NULL);
        if (sq_exec(w->h, buf_str(&sql), "creating the destination table", err) < 0)
            goto out;
        buf_clear(&sql);
    }

    /* Leftover of an earlier attempt (crash or abort). */
    buf_adds(&sql, "DROP TABLE IF EXISTS \"main\".");
    sql_ident(&sql, w->stage);
    if (sq_exec(w->h, buf_str(&sql), "dropping an old staging table", err) < 0)
        goto out;
    /* The staging table takes the target's declarations when it exists, so the swap does not
     * change the table's declared types. */
    buf_clear(&sql);
    sq_ddl(&sql, false, w->stage, schema, have.ncols ? &have : NULL);
    if (sq_exec(w->h, buf_str(&sql), "creating the staging table", err) < 0)
        goto out;

    buf_clear(&sql);
    buf_adds(&sql, "INSERT INTO \"main\".");
    sql_ident(&sql, w->stage);
    buf_adds(&sql, " VALUES (");
    for (size_t i = 0; i < w->ncols; i++)
        buf_adds(&sql, i ? ",?" : "?");
    buf_addc(&sql, ')');
    if (sqlite3_prepare_v3(w->h, buf_str(&sql), -1, SQLITE_PREPARE_PERSISTENT, &w->ins, NULL) !=
        SQLITE_OK) {
        sq_fail(err, w->h, "preparing the insert into \"%s\"", w->stage);
        goto out;
    }
    if (sq_exec(w->h, "BEGIN", "starting the staging transaction", err) < 0)
        goto out;
    if (partition) {
        buf_adds(&sql, "; DELETE FROM \"main\".");
        sql_ident(&sql, w->table);
        sq_part_where(&sql, &w->part);
        buf_adds(&sql, "; INSERT INTO \"main\".");
        sql_ident(&sql, w->table);
        buf_adds(&sql, " SELECT * FROM \"main\".");
        sql_ident(&sql, w->stage);
        buf_adds(&sql, "; DROP TABLE \"main\".");
        sql_ident(&sql, w->stage);
        w->sql = buf_detach(&sql, NULL);
        rc = 0;
        goto out;
    }
    buf_adds(&sql, "; DROP TABLE IF EXISTS \"main\".");
    sql_ident(&sql, w->table);
    buf_adds(&sql, "; ALTER TABLE \"main\".");
    sql_ident(&sql, w->stage);
    buf_adds(&sql, " RENAME TO ");
    sql_ident(&sql, w->table);
    w->sql = buf_detach(&sql, NULL);
    rc = 0;
out:
    conn_schema_release(&have);
    buf_release(&sql);
    if (rc == 0)
        *out = (struct conn_writer *)w;
    else
        sq_writer_free(w);
    return rc;
}

static int sq_bind(struct sq_writer *w, const struct rowbatch *b, const struct val *v, int i,
                   struct mms_err *err)
{
    sqlite3_stmt *st = w->ins;
    switch (v->kind) {
    case VAL_NULL:
        return sqlite3_bind_null(st, i);
    case VAL_INT:
        return sqlite3_bind_int64(st, i, v->v.i);
    case VAL_UINT:
        /* SQLite integers are signed 64-bit; a larger value would silently become REAL. */
        if (v->v.u > (uint64_t)INT64_MAX) {
            mms_err_set(err, 400, E_VALUE,
                        "table \"%s\": value %llu of column \"%s\" does not fit SQLite's"
                        " 64-bit integers",
                        w->table, (unsigned long long)v->v.u, w->names[i - 1]);
            return SQLITE_MISMATCH;
        }
        return sqlite3_bind_int64(st, i, (int64_t)v->v.u);
    case VAL_DOUBLE:
        return sqlite3_bind_double(st, i, v->v.d);
    case VAL_TEXT:
        /* STATIC: the batch outlives the step. Exact length: embedded NULs are kept. The 64-bit
         * calls take the whole 32-bit length (SQLite answers TOOBIG past its own limit). */
        return sqlite3_bind_text64(st, i, rowbatch_bytes(b, v), v->len, SQLITE_STATIC, SQLITE_UTF8);
    case VAL_BLOB:
        if (v->len == 0)
            return sqlite3_bind_zeroblob(st, i, 0); /* empty blob, not NULL */
        return sqlite3_bind_blob64(st, i, rowbatch_bytes(b, v), v->len, SQLITE_STATIC);
    }
    return SQLITE_MISMATCH;
}

static int sq_write_batch(struct conn_writer *writer, const struct rowbatch *b, struct mms_err *err)
{
    struct sq_writer *w = (struct sq_writer *)writer;
    if (b->ncols != w->ncols)
        return mms_err_set(err, 500, E_INTERNAL, "writing \"%s\": batch has %zu columns, not %zu",
                           w->table, b->ncols, w->ncols);
    for (size_t r = 0; r < b->nrows; r++) {
        const struct val *row = rowbatch_row(b, r);
        for (size_t i = 0; i < w->ncols; i++) {
            struct mms_err berr = {0};
            if (sq_bind(w, b, &row[i], (int)i + 1, &berr) != SQLITE_OK) {
                if (berr.code[0]) {
                    *err = berr;
                    return -1;
                }
                return sq_fail(err, w->h, "writing table \"%s\" in %s", w->table, w->path);
            }
        }
        int src = sqlite3_step(w->ins);
        sqlite3_reset(w->ins);
        if (src != SQLITE_DONE)
            return sq_fail(err, w->h, "writing table \"%s\" in %s", w->table, w->path);
    }
    w->pending += rowbatch_bytes_used(b);
    if (w->pending >= SQ_COMMIT_BYTES) {
        w->pending = 0;
        if (sq_exec(w->h, "COMMIT; BEGIN", "committing staged rows", err) < 0)
            return -1;
    }
    return 0;
}

/* Best effort: roll back what is open and drop the staging table. */
static void sq_discard(struct sq_writer *w)
{
    struct buf sql;
    buf_init(&sql, BUF_NO_LIMIT);
    sqlite3_finalize(w->ins);
    w->ins = NULL;
    if (!sqlite3_get_autocommit(w->h))
        sqlite3_exec(w->h, "ROLLBACK", NULL, NULL, NULL);
    buf_adds(&sql, "DROP TABLE IF EXISTS \"main\".");
    sql_ident(&sql, w->stage);
    if (sqlite3_exec(w->h, buf_str(&sql), NULL, NULL, NULL) != SQLITE_OK)
        log_warn("sqlite: %s: cannot drop staging table \"%s\": %s", w->path, w->stage,
                 sqlite3_errmsg(w->h));
    buf_release(&sql);
}

static int sq_write_commit(struct conn_writer *writer, struct mms_err *err)
{
    struct sq_writer *w = (struct sq_writer *)writer;
    struct buf sql;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    /* No statement may be pending on the tables being dropped and renamed. */
    sqlite3_finalize(w->ins);
    w->ins = NULL;
    if (w->spec) {
        /* Replace the partition's rows inside the plain table, in the staging transaction. */
        sqlite3_stmt *del = NULL;
        buf_adds(&sql, "DELETE FROM \"main\".");
        sql_ident(&sql, w->table);
        sq_part_where(&sql, &w->part);
        int drc = sqlite3_prepare_v2(w->h, buf_str(&sql), -1, &del, NULL);
        if (drc == SQLITE_OK)
            drc = sq_part_bind(del, &w->part);
        if (drc == SQLITE_OK)
            drc = sqlite3_step(del) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        if (drc != SQLITE_OK) {
            sq_fail(err, w->h, "replacing partition '%s' of table \"%s\" in %s", w->spec,
                    w->table, w->path);
            sqlite3_finalize(del);
            sq_discard(w);
            goto out;
        }
        sqlite3_finalize(del);
        buf_clear(&sql);
        buf_adds(&sql, "INSERT INTO \"main\".");
        sql_ident(&sql, w->table);
        buf_adds(&sql, " SELECT * FROM \"main\".");
        sql_ident(&sql, w->stage);
        buf_adds(&sql, "; DROP TABLE \"main\".");
        sql_ident(&sql, w->stage);
        buf_adds(&sql, "; COMMIT");
        if (sqlite3_exec(w->h, buf_str(&sql), NULL, NULL, NULL) != SQLITE_OK) {
            sq_fail(err, w->h, "replacing partition '%s' of table \"%s\" in %s", w->spec,
                    w->table, w->path);
            sq_discard(w);
            goto out;
        }
        rc = 0;
        goto out;
    }
    /* Still inside the staging transaction: the last rows, the drop and the rename commit
     * together. */
    buf_adds(&sql, "DROP TABLE IF EXISTS \"main\".");
    sql_ident(&sql, w->table);
    buf_adds(&sql, "; ALTER TABLE \"main\".");
    sql_ident(&sql, w->stage);
    buf_adds(&sql, " RENAME TO ");
    sql_ident(&sql, w->table);
    buf_adds(&sql, "; COMMIT");
    if (sqlite3_exec(w->h, buf_str(&sql), NULL, NULL, NULL) != SQLITE_OK) {
        sq_fail(err, w->h, "replacing table \"%s\" in %s", w->table, w->path);
        sq_discard(w);
        goto out;
    }
    rc = 0;
out:
    buf_release(&sql);
    sq_writer_free(w);
    return rc;
}

static const char *sq_reader_sql(struct conn_reader *reader)
{
    return sqlite3_sql(((struct sq_reader *)reader)->st);
}

static const char *sq_writer_sql(struct conn_writer *writer)
{
    return ((struct sq_writer *)writer)->sql;
}

static void sq_write_abort(struct conn_writer *writer)
{
    struct sq_writer *w = (struct sq_writer *)writer;
    if (!w)
        return;
    sq_discard(w);
    sq_writer_free(w);
}

/* ---- verification ----------------------------------------------------------------------- */

static int sq_count_source(struct conn *conn, const char *db, const char *table,
                           const char *partition, int64_t *out, char **sql_out, struct mms_err *err)
{
    struct sq_conn *c = SQ(conn);
    if (sq_check_db(db, err) < 0 || sq_no_partitions(partition, table, err) < 0)
        return -1;
    if (!c->h)
        return mms_err_set(err, 500, E_INTERNAL, "SQLite connection was not opened as a source");
    return sq_count(c->h, table, NULL, out, sql_out, err);
}

static int sq_count_dest(struct conn *conn, const struct conn_target *t, const char *partition,
                         int64_t *out, char **sql_out, struct mms_err *err)
{
    sqlite3 *h = NULL;
    struct part_spec part = {0};
    struct conn_schema have = {0};
    int rc = -1;
    if (sq_dest_db(SQ(conn), t->project, false, &h, NULL, err) < 0)
        return -1;
    /* A partition is the rows with its key values; the key columns' types from the table. */
    if (partition && (sq_part_parse(t->table, partition, &part, err) < 0 ||
                      sq_schema_read(h, t->table, &have, err) < 0 ||
                      sq_part_resolve(t->table, partition, &part, &have, err) < 0))
        goto out;
    rc = sq_count(h, t->table, partition ? &part : NULL, out, sql_out, err);
out:
    part_spec_release(&part);
    conn_schema_release(&have);
    sqlite3_close(h);
    return rc;
}

static int sq_read_dest_open(struct conn *conn, const struct conn_target *t, const char *partition,
                             const struct conn_schema *schema, struct conn_reader **out,
                             struct mms_err *err)
{
    sqlite3 *h = NULL;
    char *path = NULL;
    struct part_spec part = {0};
    if (partition && (sq_part_parse(t->table, partition, &part, err) < 0 ||
                      sq_part_resolve(t->table, partition, &part, schema, err) < 0)) {
        part_spec_release(&part);
        return -1;
    }
    if (sq_dest_db(SQ(conn), t->project, false, &h, &path, err) < 0) {
        part_spec_release(&part);
        return -1;
    }
    /* The values are bound as copies (SQLITE_TRANSIENT): part can go now. */
    int rc = sq_reader_open(h, true, path, t->table, partition ? &part : NULL, schema, out, err);
    free(path);
    part_spec_release(&part);
    return rc;
}

const struct conn_ops conn_sqlite_ops = {
    .type = SQ_TYPE,
    .url_scheme = "sqlite",
    .open_source = sq_open_source,
    .open_dest = sq_open_dest,
    .close = sq_close,
    .ping = sq_ping,
    .list_dbs = sq_list_dbs,
    .list_tables = sq_list_tables,
    .list_partitions = sq_list_partitions,
    .table_schema = sq_table_schema,
    .read_open = sq_read_open,
    .read_next = sq_read_next,
    .read_close = sq_read_close,
    .create_table = sq_create_table,
    .write_begin = sq_write_begin,
    .write_batch = sq_write_batch,
    .write_commit = sq_write_commit,
    .write_abort = sq_write_abort,
    .count_source = sq_count_source,
    .count_dest = sq_count_dest,
    .read_dest_open = sq_read_dest_open,
    .reader_sql = sq_reader_sql,
    .writer_sql = sq_writer_sql,
};
