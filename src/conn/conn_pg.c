/* The PostgreSQL connector (libpq).
 *
 * Source: one database (config pg.database); its "dbs" are the schemas of that database.
 * Destination: URL postgresql://user:password@host:port/[maintenance-db][?params]; project P is
 * the database P (created when missing), conn_target.schema a schema in it (created when
 * missing; "public" when empty).
 *
 * Every session runs with TimeZone=UTC, DateStyle=ISO, extra_float_digits=3 (shortest-exact
 * floats), bytea_output=hex and client_encoding=UTF8, so the text that COPY prints is already
 * the canonical form, or one cheap step from it (timestamptz loses its "+00", bytea its hex).
 *
 * Reading: COPY (SELECT "c1", ... FROM "s"."t") TO STDOUT in text format, parsed row by row into
 * the batch. Writing: COPY "s"."__mms_stage_t" FROM STDIN in binary format when every column's
 * type has a binary encoder (see "binary COPY" below), else in text format; write_commit drops the
 * target and renames the staging table in one transaction (PostgreSQL DDL is transactional), so
 * a crash leaves the old table or the complete new one. The staging table is a logged table:
 * an UNLOGGED one would stay unlogged after the rename and be emptied by crash recovery.
 *
 * Partitions. A partitioned source table lists its direct partitions ("key=v" for a LIST
 * partition of one value, else the bound as pg_get_expr prints it); its key columns are data
 * columns too, and their comment carries the strategy so that a PostgreSQL destination creates
 * the same PARTITION BY. A destination partition is the table "<t>$<hash of the value>",
 * replaced by attaching a staging table in one transaction.
 *
 * Connections. A source connection holds one PGconn for the catalog; every reader opens its
 * own (a COPY occupies its connection until the end, and a reader may run beside catalog
 * calls). A destination connection holds only the parameters: create_table and count_dest
 * connect for the call, each writer and destination reader owns its connection. */
#include "conn/conn.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PG_TYPE "POSTGRESQL"
#define PG_STAGE_PREFIX "__mms_stage_"
#define PG_PARAMS_MAX 16
#define PG_COPY_CHUNK ((size_t)1 << 20) /* bytes of COPY data handed to libpq at once */
#define PG_VALUE_SHOW 80                /* bytes of a bad value quoted in an error message */
/* The comment of a PostgreSQL source's partition columns: the partitioning strategy. */
#define PG_PART_LIST "PARTITION BY LIST"
#define PG_PART_RANGE "PARTITION BY RANGE"
#define PG_PART_HASH "PARTITION BY HASH"

#define E_CONFIG "ConnectorError.Config"
#define E_CONNECT "ConnectorError.Connect"
#define E_NOTFOUND "ConnectorError.NotFound"
#define E_MISMATCH "ConnectorError.SchemaMismatch"
#define E_UNSUPPORTED "ConnectorError.Unsupported"
#define E_VALUE "ConnectorError.Value"
#define E_INTERNAL "ConnectorError.Internal"
#define E_BUSY "ConnectorError.Busy"
#define E_QUERY "ConnectorError.Query"

/* Connection keywords for PQconnectdbParams (owned strings). */
struct pg_params {
    char *kw[PG_PARAMS_MAX];
    char *val[PG_PARAMS_MAX];
    int n;
};

struct pg_conn {
    struct conn_base base;
    struct pg_params params;
    PGconn *pg;  /* source: the catalog connection; NULL for a destination */
    char *maint; /* destination: the database to connect to for CREATE DATABASE */
    char *what;  /* "PostgreSQL host:port/db", for messages */
    /* Source, between key_range and the opening of its last slice: the snapshot that pg
     * exported on `pg` (whose REPEATABLE READ transaction stays open meanwhile), so that every
     * slice reader sees the same rows (see pg_key_range). NULL otherwise. */
    char *snapshot;
};

struct pg_writer;

struct pg_reader {
    PGconn *pg;
    size_t ncols;
    struct mms_type *types; /* canonical type of each column (parsing) */
    bool done;
    char *what;
    char *sql; /* the COPY statement, for the task log */
    /* Raw copy (pg_raw_open): the writer the rows go to in binary COPY format, and whether the
     * stream's header has been read. NULL for an ordinary reader. */
    struct pg_writer *raw;
    bool raw_header;
};

struct pg_writer {
    PGconn *pg;
    char *schema, *table, *stage, *what;
    char *part;  /* writing one partition: its table ("<table>$<hash>"), else NULL */
    char *bound; /* ... and its bound clause ("FOR VALUES IN ('eu')") */
    size_t ncols;
    struct conn_column *cols; /* borrowed names are copied: names + canonical types */
    struct buf data;          /* COPY data not yet handed to libpq */
    bool in_copy;
    bool binary;        /* COPY ... (FORMAT binary): enc[] says how to encode each column */
    unsigned char *enc; /* enum bin_enc per column, when binary */
    unsigned *oids;     /* the staging table's column type OIDs, when binary (raw copy) */
    char *sql;          /* the staging statements and the COPY, for the task log */
    /* For write_join: the connector and database to open another stream, and the COPY
     * statement. A joined writer (joined = true) only ends its COPY at commit. */
    struct pg_conn *conn;
    char *project;
    char *copy_sql;
    bool joined;
};

static struct pg_conn *PGC(struct conn *c)
{
    return (struct pg_conn *)c;
}

/* ---- errors ----------------------------------------------------------------------------- */

/* libpq messages end with a newline (and may hold several lines): one line for our logs. */
static void flatten(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
}

/* A failed statement: classified by SQLSTATE. Connection failures and lock/resource trouble
 * are worth retrying (503); data exceptions are ConnectorError.Value; a missing relation is
 * NotFound; anything else is a query error. */
static int pg_fail(struct mms_err *err, PGconn *pg, const PGresult *res, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int pg_fail(struct mms_err *err, PGconn *pg, const PGresult *res, const char *fmt, ...)
{
    char what[300], msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *context = res ? PQresultErrorField(res, PG_DIAG_CONTEXT) : NULL;
    if (primary)
        snprintf(msg, sizeof msg, "%s%s%s", primary, context ? " (" : "", context ? context : "");
    else
        snprintf(msg, sizeof msg, "%s", pg ? PQerrorMessage(pg) : "out of memory");
    if (primary && context && strlen(msg) + 1 < sizeof msg)
        strcat(msg, ")");
    flatten(msg);
    if (!state)
        state = pg && PQstatus(pg) == CONNECTION_BAD ? "08000" : "";
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0)
        return mms_err_set(err, 503, E_CONNECT, "%s: %s", what, msg);
    if (strncmp(state, "40", 2) == 0 || strncmp(state, "53", 2) == 0 || strcmp(state, "55P03") == 0)
        return mms_err_set(err, 503, E_BUSY, "%s: %s", what, msg);
    if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
        return mms_err_set(err, 400, E_VALUE, "%s: %s", what, msg);
    if (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0 || strcmp(state, "3D000") == 0)
        return mms_err_set(err, 404, E_NOTFOUND, "%s: %s", what, msg);
    return mms_err_set(err, 500, E_QUERY, "%s: %s", what, msg);
}

/* ---- SQL text --------------------------------------------------------------------------- */

static void sql_ident(struct buf *b, const char *name)
{
    conn_sql_ident(b, '"', name);
}

static void sql_qname(struct buf *b, const char *schema, const char *name)
{
    sql_ident(b, schema);
    buf_addc(b, '.');
    sql_ident(b, name);
}

static const char *dest_schema(const struct conn_target *t)
{
    return t->schema && t->schema[0] ? t->schema : "public";
}

static int pg_exec(PGconn *pg, const char *sql, const char *what, struct mms_err *err)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_fail(err, pg, res, "%s", what);
    PQclear(res);
    return rc;
}

/* A parameterised query expected to return rows; NULL with err filled on failure. */
static PGresult *pg_query(PGconn *pg, const char *sql, int nparams, const char *const *params,
                          const char *what, struct mms_err *err)
{
    PGresult *res = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_fail(err, pg, res, "%s", what);
        PQclear(res);
        return NULL;
    }
    return res;
}

/* ---- connecting ------------------------------------------------------------------------- */

static void params_add(struct pg_params *p, const char *kw, const char *val)
{
    if (p->n < PG_PARAMS_MAX - 1 && val) {
        p->kw[p->n] = xstrdup(kw);
        p->val[p->n] = xstrdup(val);
        p->n++;
    }
}

static void params_release(struct pg_params *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->kw[i]);
        free(p->val[i]);
    }
    p->n = 0;
}

/* The session settings that make COPY's text output canonical (see the top of the file). */
static const char session_sql[] =
    "SET extra_float_digits = 3; SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC';"
    " SET bytea_output = 'hex'; SET IntervalStyle = 'postgres';"
    " SET client_min_messages = warning";

/* Connects with the parameters, dbname overridden when given (later keywords win; an earlier
 * dbname holding a URL is expanded by libpq). */
static int pg_connect(const struct pg_params *p, const char *dbname, const char *what, PGconn **out,
                      struct mms_err *err)
{
    const char *kw[PG_PARAMS_MAX + 4], *val[PG_PARAMS_MAX + 4];
    int n = 0;
    for (int i = 0; i < p->n; i++) {
        kw[n] = p->kw[i];
        val[n++] = p->val[i];
    }
    kw[n] = "client_encoding";
    val[n++] = "UTF8";
    kw[n] = "application_name";
    val[n++] = "mms";
    if (dbname) {
        kw[n] = "dbname";
        val[n++] = dbname;
    }
    kw[n] = NULL;
    val[n] = NULL;
    PGconn *pg = PQconnectdbParams(kw, val, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", pg ? PQerrorMessage(pg) : "out of memory");
        flatten(msg);
        /* a database that does not exist is not worth retrying */
        bool missing = strstr(msg, "does not exist") != NULL;
        mms_err_set(err, missing ? 404 : 503, missing ? E_NOTFOUND : E_CONNECT,
                    "cannot connect to %s: %s", what, msg);
        PQfinish(pg);
        return -1;
    }
    if (pg_exec(pg, session_sql, "setting up the session", err) < 0) {
        PQfinish(pg);
        return -1;
    }
    *out = pg;
    return 0;
}

/* A config value as a string: strings as they are, integers printed; NULL when absent. */
static const char *cfg_str(json_t *config, const char *key, char *tmp, size_t n)
{
    json_t *v = json_object_get(config, key);
    if (json_is_string(v))
        return json_string_value(v)[0] ? json_string_value(v) : NULL;
    if (json_is_integer(v)) {
        snprintf(tmp, n, "%lld", (long long)json_integer_value(v));
        return tmp;
    }
    return NULL;
}

static int pg_open_source(struct conn **out, json_t *config, struct mms_err *err)
{
    static const struct {
        const char *key, *kw;
    } map[] = {
        {"pg.host", "host"},
        {"pg.port", "port"},
        {"pg.user", "user"},
        {"pg.password", "password"},
        {"pg.database", "dbname"},
        {"pg.sslmode", "sslmode"},
        {"pg.connect_timeout", "connect_timeout"},
    };
    if (!json_is_object(config))
        return mms_err_set(err, 400, E_CONFIG, "PostgreSQL source: config must be an object");
    struct pg_conn *c = xcalloc(1, sizeof *c);
    c->base.ops = &conn_pg_ops;
    char tmp[32], ptmp[32], htmp[32], dtmp[32];
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        params_add(&c->params, map[i].kw, cfg_str(config, map[i].key, tmp, sizeof tmp));
    const char *host = cfg_str(config, "pg.host", htmp, sizeof htmp);
    const char *port = cfg_str(config, "pg.port", ptmp, sizeof ptmp);
    const char *db = cfg_str(config, "pg.database", dtmp, sizeof dtmp);
    c->what = xasprintf("PostgreSQL %s:%s/%s", host ? host : "localhost", port ? port : "5432",
                        db ? db : "(default)");
    if (!json_object_get(config, "pg.connect_timeout"))
        params_add(&c->params, "connect_timeout", "10");
    if (pg_connect(&c->params, NULL, c->what, &c->pg, err) < 0) {
        params_release(&c->params);
        free(c->what);
        free(c);
        return -1;
    }
    *out = (struct conn *)c;
    return 0;
}

static int pg_open_dest(struct conn **out, const char *url, struct mms_err *err)
{
    char *perr = NULL;
    PQconninfoOption *opts = NULL;
    if (!url ||
        (strncasecmp(url, "postgresql://", 13) != 0 && strncasecmp(url, "postgres://", 11) != 0) ||
        !(opts = PQconninfoParse(url, &perr))) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s", perr ? perr : "not a postgresql:// URL");
        flatten(msg);
        PQfreemem(perr);
        return mms_err_set(err, 400, E_CONFIG,
                           "destination URL must be postgresql://user:password@host:port/: %s",
                           msg);
    }
    struct pg_conn *c = xcalloc(1, sizeof *c);
    c->base.ops = &conn_pg_ops;
    const char *host = NULL, *port = NULL, *db = NULL;
    bool has_timeout = false;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !o->val[0])
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
        else if (strcmp(o->keyword, "connect_timeout") == 0)
            has_timeout = true;
    }
    c->maint = xstrdup(db ? db : "postgres");
    c->what = xasprintf("PostgreSQL %s:%s", host ? host : "localhost", port ? port : "5432");
    PQconninfoFree(opts);
    params_add(&c->params, "dbname", url);
    if (!has_timeout)
        params_add(&c->params, "connect_timeout", "10");
    *out = (struct conn *)c;
    return 0;
}

static void pg_close(struct conn *conn)
{
    struct pg_conn *c = PGC(conn);
    if (!c)
        return;
    PQfinish(c->pg);
    free(c->snapshot);
    params_release(&c->params);
    free(c->maint);
    free(c->what);
    free(c);
}

static int pg_ping(struct conn *conn, struct mms_err *err)
{
    struct pg_conn *c = PGC(conn);
    if (c->pg)
        return pg_exec(c->pg, "SELECT 1", c->what, err);
    PGconn *pg = NULL;
    if (pg_connect(&c->params, c->maint, c->what, &pg, err) < 0)
        return -1;
    int rc = pg_exec(pg, "SELECT 1", c->what, err);
    PQfinish(pg);
    return rc;
}

/* Connects a destination to database `project`, creating it first when `create`. */
static int pg_dest_connect(struct pg_conn *c, const char *project, bool create, PGconn **out,
                           struct mms_err *err)
{
    if (c->pg)
        return mms_err_set(err, 500, E_INTERNAL, "%s was not opened as a destination", c->what);
    if (!project || !project[0] || strlen(project) > 63)
        return mms_err_set(err, 400, E_CONFIG,
                           "destination project (the PostgreSQL database) must be 1 to 63 bytes");
    char *what = xasprintf("%s/%s", c->what, project);
    int rc = pg_connect(&c->params, project, what, out, err);
    if (rc < 0 && create && strcmp(err->code, E_NOTFOUND) == 0) {
        /* CREATE DATABASE cannot run in a transaction or take parameters: quote the name. */
        PGconn *m = NULL;
        struct buf sql;
        buf_init(&sql, BUF_NO_LIMIT);
        mms_err_clear(err);
        if (pg_connect(&c->params, c->maint, c->what, &m, err) == 0) {
            buf_adds(&sql, "CREATE DATABASE ");
            sql_ident(&sql, project);
            PGresult *res = PQexec(m, buf_str(&sql));
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            /* 42P04: it exists; 23505: another task created it at the same moment */
            if (PQresultStatus(res) == PGRES_COMMAND_OK ||
                (state && (strcmp(state, "42P04") == 0 || strcmp(state, "23505") == 0)))
                rc = pg_connect(&c->params, project, what, out, err);
            else
                pg_fail(err, m, res, "creating database \"%s\"", project);
            PQclear(res);
            PQfinish(m);
        }
        buf_release(&sql);
    }
    free(what);
    return rc;
}

/* ---- type mapping ----------------------------------------------------------------------- */

static int32_t clamp_len(long v)
{
    return v > 0 && v <= INT32_MAX ? (int32_t)v : 0;
}

/* A column of base type `base` (pg_type.typname after domains), type modifier typmod,
 * typtype and typcategory -> canonical type. */
static struct mms_type pg_type_map(const char *base, int typmod, char typtype, char category)
{
    struct mms_type t = {.id = MT_TEXT};
    if (category == 'A') {
        t.id = MT_JSON; /* arrays are read as to_json(col) */
    } else if (typtype == 'e') {
        t.id = MT_TEXT; /* enum labels */
    } else if (strcmp(base, "bool") == 0) {
        t.id = MT_BOOL;
    } else if (strcmp(base, "int2") == 0) {
        t.id = MT_INT16;
    } else if (strcmp(base, "int4") == 0) {
        t.id = MT_INT32;
    } else if (strcmp(base, "int8") == 0) {
        t.id = MT_INT64;
    } else if (strcmp(base, "oid") == 0 || strcmp(base, "xid") == 0) {
        t.id = MT_UINT32;
    } else if (strcmp(base, "float4") == 0) {
        t.id = MT_FLOAT32;
    } else if (strcmp(base, "float8") == 0) {
        t.id = MT_FLOAT64;
    } else if (strcmp(base, "numeric") == 0) {
        t.id = MT_DECIMAL;
        if (typmod >= 4) {
            int p = ((typmod - 4) >> 16) & 0xffff;
            int s = (typmod - 4) & 0x7ff;
            if (s & 0x400)
                s -= 0x800; /* PostgreSQL 15: negative scales */
            if (p > 0 && s >= 0 && s <= p) {
                t.precision = p;
                t.scale = s;
            }
        }
    } else if (strcmp(base, "varchar") == 0) {
        t.id = MT_VARCHAR;
        t.length = typmod >= 4 ? clamp_len(typmod - 4) : 0;
    } else if (strcmp(base, "bpchar") == 0) {
        t.id = MT_CHAR;
        t.length = typmod >= 4 ? clamp_len(typmod - 4) : 0;
    } else if (strcmp(base, "text") == 0 || strcmp(base, "name") == 0 ||
               strcmp(base, "citext") == 0) {
        t.id = MT_TEXT;
    } else if (strcmp(base, "bytea") == 0) {
        t.id = MT_BINARY;
    } else if (strcmp(base, "date") == 0) {
        t.id = MT_DATE;
    } else if (strcmp(base, "time") == 0 || strcmp(base, "timestamp") == 0 ||
               strcmp(base, "timestamptz") == 0) {
        t.id = base[4] == '\0'                  ? MT_TIME
               : strcmp(base, "timestamp") == 0 ? MT_DATETIME
                                                : MT_TIMESTAMP;
        t.scale = typmod >= 0 && typmod <= 6 ? typmod : 6; /* default: microseconds */
    } else if (strcmp(base, "json") == 0 || strcmp(base, "jsonb") == 0) {
        t.id = MT_JSON;
    } else if (strcmp(base, "uuid") == 0) {
        t.id = MT_CHAR;
        t.length = 36;
    }
    /* Anything else (timetz, interval, inet, money, xml, geometric, ranges, bit strings,
     * composites) travels as PostgreSQL's text output. */
    return t;
}

/* A native type safe to splice into DDL verbatim: a built-in type as format_type() wrote it
 * (words, blanks, and a parenthesised list of numbers). User types are schema-qualified (a
 * '.') and arrays end in "[]": both are refused. */
static bool native_is_safe(const char *d)
{
    const char *p = d;
    if (!*p)
        return false;
    while (*p && *p != '(') {
        char ch = *p++;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == ' '))
            return false;
    }
    if (*p == '\0')
        return true;
    for (p++; *p && *p != ')'; p++)
        if (!((*p >= '0' && *p <= '9') || *p == ','))
            return false;
    if (*p != ')')
        return false;
    /* "timestamp(3) with time zone": words may follow */
    for (p++; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == ' '))
            return false;
    return true;
}

/* Canonical type -> PostgreSQL declaration. */
static void pg_decl_generic(const struct mms_type *t, struct buf *out)
{
    switch (t->id) {
    case MT_BOOL:
        buf_adds(out, "boolean");
        return;
    case MT_INT8:
    case MT_INT16:
    case MT_UINT8:
        buf_adds(out, "smallint");
        return;
    case MT_INT32:
    case MT_UINT16:
        buf_adds(out, "integer");
        return;
    case MT_INT64:
    case MT_UINT32:
        buf_adds(out, "bigint");
        return;
    case MT_UINT64:
        buf_adds(out, "numeric(20,0)");
        return;
    case MT_FLOAT32:
        buf_adds(out, "real");
        return;
    case MT_FLOAT64:
        buf_adds(out, "double precision");
        return;
    case MT_DECIMAL:
        if (t->precision > 0 && t->precision <= 1000)
            buf_printf(out, "numeric(%d,%d)", (int)t->precision, (int)t->scale);
        else
            buf_adds(out, "numeric");
        return;
    case MT_CHAR:
        if (t->length > 0 && t->length <= 10485760)
            buf_printf(out, "character(%d)", (int)t->length);
        else
            buf_adds(out, "text"); /* "character" alone would mean character(1) */
        return;
    case MT_VARCHAR:
        if (t->length > 0 && t->length <= 10485760)
            buf_printf(out, "character varying(%d)", (int)t->length);
        else
            buf_adds(out, "character varying");
        return;
    case MT_TEXT:
    case MT_ANY:
        buf_adds(out, "text");
        return;
    case MT_BINARY:
        buf_adds(out, "bytea");
        return;
    case MT_DATE:
        buf_adds(out, "date");
        return;
    case MT_TIME:
    case MT_DATETIME:
    case MT_TIMESTAMP: {
        const char *name = t->id == MT_TIME ? "time" : "timestamp";
        const char *tz = t->id == MT_TIMESTAMP ? " with time zone" : " without time zone";
        if (t->scale > 0 && t->scale < 6)
            buf_printf(out, "%s(%d)%s", name, (int)t->scale, tz);
        else
            buf_printf(out, "%s%s", name, tz);
        return;
    }
    case MT_JSON:
        buf_adds(out, "json"); /* not jsonb: json keeps the text exactly */
        return;
    }
    buf_adds(out, "text");
}

static void pg_decl_column(const struct conn_schema *s, const struct conn_column *col,
                           struct buf *out)
{
    const char *nat = col->native_type;
    if (s->source_type && strcasecmp(s->source_type, PG_TYPE) == 0 && nat && native_is_safe(nat)) {
        buf_adds(out, nat);
        return;
    }
    pg_decl_generic(&col->type, out);
}

/* ---- catalog ---------------------------------------------------------------------------- */

static int need_source(struct pg_conn *c, struct mms_err *err)
{
    if (!c->pg)
        return mms_err_set(err, 500, E_INTERNAL, "%s was not opened as a source", c->what);
    return 0;
}

static int pg_list_dbs(struct conn *conn, int (*cb)(void *ctx, const char *db), void *ctx,
                       struct mms_err *err)
{
    static const char sql[] =
        "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname NOT IN ('pg_catalog',"
        " 'information_schema') AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE"
        " 'pg\\_temp\\_%' ORDER BY nspname";
    struct pg_conn *c = PGC(conn);
    if (need_source(c, err) < 0)
        return -1;
    PGresult *res = pg_query(c->pg, sql, 0, NULL, "listing schemas", err);
    if (!res)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++)
        rc = cb(ctx, PQgetvalue(res, i, 0));
    PQclear(res);
    return rc;
}

static int64_t count_rows(PGconn *pg, const char *schema, const char *table, char **sql_out,
                          struct mms_err *err)
{
    struct buf sql;
    int64_t n = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    buf_adds(&sql, "SELECT COUNT(*) FROM ");
    sql_qname(&sql, schema, table);
    PGresult *res = PQexec(pg, buf_str(&sql));
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (sql_out)
            *sql_out = buf_detach(&sql, NULL);
    } else {
        pg_fail(err, pg, res, "counting rows of \"%s\".\"%s\"", schema, table);
    }
    PQclear(res);
    buf_release(&sql);
    return n;
}

/* Columns of schema.table (0 columns when it does not exist), plus its partition key columns
 * when it is partitioned (copies of the data columns they name; expression keys are left out).
 * The key columns stay in cols: in PostgreSQL they are ordinary columns of the rows. */
static int pg_schema_read(PGconn *pg, const char *schema, const char *table,
                          struct conn_schema *out, struct mms_err *err)
{
    static const char cols_sql[] =
        "SELECT a.attname,"
        " CASE WHEN tn.nspname = 'pg_catalog' THEN format_type(a.atttypid, a.atttypmod)"
        "  ELSE quote_ident(tn.nspname) || '.' || quote_ident(t.typname) END,"
        " COALESCE(bt.typname, t.typname),"
        " CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,"
        " COALESCE(bt.typtype, t.typtype), COALESCE(bt.typcategory, t.typcategory),"
        " a.attnotnull, pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum)"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
        "  AND NOT a.attisdropped"
        " JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
        " JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace"
        " LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype"
        " LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum"
        " WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')"
        " ORDER BY a.attnum";
    static const char keys_sql[] =
        "SELECT a.attname, p.partstrat, (SELECT count(*) FROM unnest(p.partattrs::int2[]) x"
        " WHERE x = 0) FROM pg_catalog.pg_partitioned_table p"
        " JOIN pg_catalog.pg_class c ON c.oid = p.partrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " CROSS JOIN LATERAL unnest(p.partattrs::int2[]) WITH ORDINALITY k(attnum, ord)"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum"
        " WHERE n.nspname = $1 AND c.relname = $2 ORDER BY k.ord";
    const char *params[2] = {schema, table};
    struct conn_schema s = {0};
    int rc = -1;
    PGresult *res = pg_query(pg, cols_sql, 2, params, "reading columns", err);
    if (!res)
        goto out;
    s.ncols = (size_t)PQntuples(res);
    s.cols = s.ncols ? xcalloc(s.ncols, sizeof *s.cols) : NULL;
    for (size_t i = 0; i < s.ncols; i++) {
        int r = (int)i;
        struct conn_column *col = &s.cols[i];
        col->name = xstrdup(PQgetvalue(res, r, 0));
        col->native_type = xstrdup(PQgetvalue(res, r, 1));
        col->type = pg_type_map(PQgetvalue(res, r, 2), atoi(PQgetvalue(res, r, 3)),
                                PQgetvalue(res, r, 4)[0], PQgetvalue(res, r, 5)[0]);
        col->nullable = PQgetvalue(res, r, 6)[0] != 't';
        if (!PQgetisnull(res, r, 7))
            col->default_value = xstrdup(PQgetvalue(res, r, 7));
        if (!PQgetisnull(res, r, 8))
            col->comment = xstrdup(PQgetvalue(res, r, 8));
    }
    PQclear(res);
    res = pg_query(pg, keys_sql, 2, params, "reading partition keys", err);
    if (!res)
        goto out;
    int nk = PQntuples(res);
    if (nk > 0) {
        s.pcols = xcalloc((size_t)nk, sizeof *s.pcols);
        for (int k = 0; k < nk; k++) {
            for (size_t i = 0; i < s.ncols; i++) {
                if (strcmp(s.cols[i].name, PQgetvalue(res, k, 0)) != 0)
                    continue;
                struct conn_column *pc = &s.pcols[s.npcols++];
                pc->name = xstrdup(s.cols[i].name);
                pc->type = s.cols[i].type;
                pc->native_type = xstrdup(s.cols[i].native_type);
                pc->nullable = s.cols[i].nullable;
                /* The strategy, for a PostgreSQL destination to partition the same way; only
                 * when every key is a plain column (else the key is not in pcols). */
                char strat = PQgetvalue(res, k, 1)[0];
                if (strcmp(PQgetvalue(res, k, 2), "0") == 0)
                    pc->comment = xstrdup(strat == 'l'   ? PG_PART_LIST
                                          : strat == 'r' ? PG_PART_RANGE
                                                         : PG_PART_HASH);
                break;
            }
        }
    }
    s.source_type = xstrdup(PG_TYPE);
    rc = 0;
out:
    PQclear(res);
    if (rc == 0)
        *out = s;
    else
        conn_schema_release(&s);
    return rc;
}

/* The change counter (conn_table_info.change_count) of a table or partition: inserted +
 * updated + deleted tuples from pg_stat_user_tables, summed over the leaves of its partition
 * tree (a plain table is not in pg_partition_tree: it counts itself). 0 when the statistics
 * have nothing (track_counts off, never written since a stats reset): the scan then treats it
 * as unknown. The counters are updated asynchronously: a backend publishes its counts when it
 * goes idle, at most once a second (PGSTAT_MIN_INTERVAL), and at exit, so a change made by a
 * session that is still busy can show up one rescan later. Tests call
 * pg_stat_force_next_flush() (15+) or wait for the view to show the change. */
static int pg_list_tables(struct conn *conn, const char *db,
                          int (*cb)(void *ctx, const struct conn_table_info *t), void *ctx,
                          struct mms_err *err)
{
    /* Partitioned tables own no storage: their size and row estimate are the sums over the
     * leaves of their partition tree. reltuples is -1 before the first ANALYZE: then count. */
    static const char sql[] =
        "SELECT c.relname, c.relkind,"
        " CASE WHEN c.relkind = 'p' THEN (SELECT COALESCE(sum(pg_total_relation_size(p.relid)),"
        "  0) FROM pg_partition_tree(c.oid) p) ELSE pg_total_relation_size(c.oid) END,"
        " CASE WHEN c.relkind = 'p' THEN (SELECT CASE WHEN bool_or(k.reltuples < 0) THEN -1"
        "  ELSE COALESCE(sum(k.reltuples), 0) END FROM pg_partition_tree(c.oid) p"
        "  JOIN pg_catalog.pg_class k ON k.oid = p.relid WHERE p.isleaf)"
        "  ELSE c.reltuples END,"
        " (SELECT COALESCE(sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del), 0)"
        "  FROM pg_catalog.pg_stat_user_tables s WHERE s.relid = c.oid OR s.relid IN"
        "  (SELECT t.relid FROM pg_partition_tree(c.oid) t WHERE t.isleaf))"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        " AND left(c.relname, 12) <> '__mms_stage_' ORDER BY c.relname";
    struct pg_conn *c = PGC(conn);
    if (need_source(c, err) < 0)
        return -1;
    const char *params[1] = {db && db[0] ? db : "public"};
    PGresult *res = pg_query(c->pg, sql, 1, params, "listing tables", err);
    if (!res)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        const char *name = PQgetvalue(res, i, 0);
        struct conn_table_info info = {
            .name = (char *)name,
            .type = (char *)(PQgetvalue(res, i, 1)[0] == 'p' ? "PARTITIONED_TABLE" : "TABLE"),
            .size = strtoll(PQgetvalue(res, i, 2), NULL, 10),
            .num_rows = (int64_t)strtod(PQgetvalue(res, i, 3), NULL),
            .change_count = strtoll(PQgetvalue(res, i, 4), NULL, 10),
        };
        struct mms_err terr = {0};
        if (pg_schema_read(c->pg, params[0], name, &info.schema, &terr) < 0) {
            log_warn("postgresql: %s: skipping table \"%s\": %s", c->what, name, terr.msg);
            continue;
        }
        if (info.num_rows < 0)
            info.num_rows = count_rows(c->pg, params[0], name, NULL, &terr);
        rc = cb(ctx, &info);
        conn_schema_release(&info.schema);
    }
    PQclear(res);
    return rc;
}

/* Appends v percent-encoded the way Hive encodes partition values ('/', '=', '%', control
 * characters and a few more). */
static void part_escape(struct buf *b, const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch < 0x20 || ch == 0x7f || strchr("\"#%'*/:=?\\{[]^", ch))
            buf_printf(b, "%%%02X", ch);
        else
            buf_addc(b, (char)ch);
    }
}

/* The partition value of one child: "key=v" for a LIST partition of a single-column key with
 * one non-NULL value, else the bound expression as pg_get_expr prints it ("FOR VALUES FROM
 * (...) TO (...)", "FOR VALUES WITH (modulus 4, remainder 0)", "DEFAULT"). */
static char *part_value(const char *strategy, const char *keys, const char *bound)
{
    static const char in[] = "FOR VALUES IN (";
    size_t n = strlen(bound);
    if (strategy[0] == 'l' && keys[0] && !strchr(keys, ',') &&
        strncmp(bound, in, sizeof in - 1) == 0 && n > sizeof in && bound[n - 1] == ')') {
        const char *p = bound + sizeof in - 1, *end = bound + n - 1;
        struct buf lit;
        buf_init(&lit, BUF_NO_LIMIT);
        bool ok = true;
        if (*p == '\'') {
            for (p++; p < end; p++) {
                if (*p == '\'') {
                    if (p + 1 < end && p[1] == '\'') {
                        buf_addc(&lit, '\'');
                        p++;
                        continue;
                    }
                    break;
                }
                buf_addc(&lit, *p);
            }
            ok = p + 1 == end && *p == '\'';
        } else {
            for (; p < end; p++) {
                if (*p == ',' || *p == ' ' || *p == '(') {
                    ok = false;
                    break;
                }
                buf_addc(&lit, *p);
            }
            ok = ok && lit.len > 0 && strcmp(buf_str(&lit), "NULL") != 0;
        }
        if (ok) {
            struct buf v;
            buf_init(&v, BUF_NO_LIMIT);
            part_escape(&v, keys, strlen(keys));
            buf_addc(&v, '=');
            part_escape(&v, buf_str(&lit), lit.len);
            buf_release(&lit);
            return buf_detach(&v, NULL);
        }
        buf_release(&lit);
    }
    return xstrdup(bound);
}

/* The direct partitions of schema.table: name, value, size, rows (estimate; counted when
 * unknown), change counter. Returns the result with columns relname, value-ready fields; NULL
 * on error. */
static PGresult *partitions_query(PGconn *pg, const char *schema, const char *table,
                                  struct mms_err *err)
{
    static const char sql[] =
        "SELECT k.relname, pg_get_expr(k.relpartbound, k.oid), pt.partstrat,"
        " (SELECT string_agg(a.attname, ',' ORDER BY o.ord) FROM"
        "  unnest(pt.partattrs::int2[]) WITH ORDINALITY o(attnum, ord)"
        "  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = o.attnum),"
        " (SELECT COALESCE(sum(pg_total_relation_size(p.relid)), 0)"
        "  FROM pg_partition_tree(k.oid) p),"
        " (SELECT CASE WHEN bool_or(l.reltuples < 0) THEN -1 ELSE COALESCE(sum(l.reltuples), 0)"
        "  END FROM pg_partition_tree(k.oid) p JOIN pg_catalog.pg_class l ON l.oid = p.relid"
        "  WHERE p.isleaf),"
        " (SELECT COALESCE(sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del), 0)"
        "  FROM pg_catalog.pg_stat_user_tables s WHERE s.relid = k.oid OR s.relid IN"
        "  (SELECT t.relid FROM pg_partition_tree(k.oid) t WHERE t.isleaf))"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = c.oid"
        " JOIN pg_catalog.pg_inherits i ON i.inhparent = c.oid"
        " JOIN pg_catalog.pg_class k ON k.oid = i.inhrelid"
        " WHERE n.nspname = $1 AND c.relname = $2 ORDER BY k.relname";
    const char *params[2] = {schema, table};
    return pg_query(pg, sql, 2, params, "listing partitions", err);
}

static int pg_list_partitions(struct conn *conn, const char *db, const char *table,
                              int (*cb)(void *ctx, const struct conn_partition_info *p), void *ctx,
                              struct mms_err *err)
{
    struct pg_conn *c = PGC(conn);
    if (need_source(c, err) < 0)
        return -1;
    const char *schema = db && db[0] ? db : "public";
    PGresult *res = partitions_query(c->pg, schema, table, err);
    if (!res)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        char *value =
            part_value(PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 1));
        struct conn_partition_info p = {
            .value = value,
            .size = strtoll(PQgetvalue(res, i, 4), NULL, 10),
            .num_rows = (int64_t)strtod(PQgetvalue(res, i, 5), NULL),
            .change_count = strtoll(PQgetvalue(res, i, 6), NULL, 10),
        };
        if (p.num_rows < 0) {
            struct mms_err cerr = {0};
            p.num_rows = count_rows(c->pg, schema, PQgetvalue(res, i, 0), NULL, &cerr);
        }
        rc = cb(ctx, &p);
        free(value);
    }
    PQclear(res);
    return rc;
}

/* The table holding one partition's rows: the child table whose value is `partition`. */
static int partition_table(PGconn *pg, const char *schema, const char *table, const char *partition,
                           char **out, struct mms_err *err)
{
    PGresult *res = partitions_query(pg, schema, table, err);
    if (!res)
        return -1;
    *out = NULL;
    for (int i = 0; i < PQntuples(res) && !*out; i++) {
        char *value =
            part_value(PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 1));
        if (strcmp(value, partition) == 0)
            *out = xstrdup(PQgetvalue(res, i, 0));
        free(value);
    }
    PQclear(res);
    if (!*out)
        return mms_err_set(err, 404, E_NOTFOUND, "table \"%s\".\"%s\" has no partition '%s'",
                           schema, table, partition);
    return 0;
}

static int pg_table_schema(struct conn *conn, const char *db, const char *table,
                           struct conn_schema *out, struct mms_err *err)
{
    struct pg_conn *c = PGC(conn);
    const char *schema = db && db[0] ? db : "public";
    if (need_source(c, err) < 0 || pg_schema_read(c->pg, schema, table, out, err) < 0)
        return -1;
    if (out->ncols == 0) {
        conn_schema_release(out);
        return mms_err_set(err, 404, E_NOTFOUND, "table \"%s\".\"%s\" not found in %s", schema,
                           table, c->what);
    }
    return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

static void reader_free(struct pg_reader *r)
{
    if (!r)
        return;
    PQfinish(r->pg);
    free(r->types);
    free(r->what);
    free(r->sql);
    free(r);
}

/* Starts COPY (SELECT ...) TO STDOUT of schema.rel on pg (taken over by the reader). Array
 * columns (canonical json whose native type is not json/jsonb) are read as to_json(col). */
static int reader_start(PGconn *pg, const char *schema, const char *rel, const char *where,
                        const char *what, const struct conn_schema *s, struct conn_reader **out,
                        struct mms_err *err);
static int reader_start2(PGconn *pg, const char *schema, const char *rel, const char *where,
                         const char *what, const struct conn_schema *s, struct pg_writer *raw,
                         struct conn_reader **out, struct mms_err *err);
static int reader_start(PGconn *pg, const char *schema, const char *rel, const char *where,
                        const char *what, const struct conn_schema *s, struct conn_reader **out,
                        struct mms_err *err)
{
    return reader_start2(pg, schema, rel, where, what, s, NULL, out, err);
}

/* raw: the rows go to that writer in binary format (pg_raw_open), provided the result's column
 * types are the staging table's exactly; 1 (nothing started, pg still the caller's) when not. */
static int raw_types_match(PGconn *pg, const char *select_sql, const struct pg_writer *w,
                           size_t ncols, struct mms_err *err);

static int reader_start2(PGconn *pg, const char *schema, const char *rel, const char *where,
                         const char *what, const struct conn_schema *s, struct pg_writer *raw,
                         struct conn_reader **out, struct mms_err *err)
{
    struct pg_reader *r = xcalloc(1, sizeof *r);
    struct buf sql;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    r->pg = pg;
    r->what = xstrdup(what);
    if (!s || s->ncols == 0) {
        mms_err_set(err, 400, E_NOTFOUND, "reading %s: the schema has no columns", what);
        goto out;
    }
    r->ncols = s->ncols;
    r->types = xcalloc(s->ncols, sizeof *r->types);
    buf_adds(&sql, "COPY (SELECT ");
    for (size_t i = 0; i < s->ncols; i++) {
        const struct conn_column *col = &s->cols[i];
        const char *nat = col->native_type ? col->native_type : "";
        r->types[i] = col->type;
        if (i)
            buf_adds(&sql, ", ");
        bool array = col->type.id == MT_JSON && strcasecmp(nat, "json") != 0 &&
                     strcasecmp(nat, "jsonb") != 0 && strchr(nat, '[');
        if (array)
            buf_adds(&sql, "to_json(");
        sql_ident(&sql, col->name);
        if (array)
            buf_addc(&sql, ')');
    }
    buf_adds(&sql, " FROM ");
    sql_qname(&sql, schema, rel);
    if (where)
        buf_printf(&sql, " WHERE %s", where);
    if (raw) {
        int m = raw_types_match(pg, buf_str(&sql) + 6 /* "COPY (" */, raw, r->ncols, err);
        if (m != 0) {
            if (m > 0)
                r->pg = NULL; /* declined: the caller keeps pg */
            rc = m;
            goto out;
        }
        r->raw = raw;
    }
    buf_adds(&sql, raw ? ") TO STDOUT (FORMAT binary)" : ") TO STDOUT");
    PGresult *res = PQexec(pg, buf_str(&sql));
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        pg_fail(err, pg, res, "reading %s", what);
        PQclear(res);
        goto out;
    }
    PQclear(res);
    r->sql = buf_detach(&sql, NULL);
    rc = 0;
out:
    buf_release(&sql);
    if (rc == 0)
        *out = (struct conn_reader *)r;
    else
        reader_free(r);
    return rc;
}

static int open_source_reader(struct pg_conn *c, const char *db, const char *table,
                              const char *partition, const struct conn_schema *schema,
                              const struct conn_slice *slice, struct pg_writer *raw,
                              struct conn_reader **out, struct mms_err *err);

static int pg_read_open(struct conn *conn, const char *db, const char *table, const char *partition,
                        const struct conn_schema *schema, struct conn_reader **out,
                        struct mms_err *err)
{
    return open_source_reader(PGC(conn), db, table, partition, schema, NULL, NULL, out, err);
}

/* ---- parallel reading by block ranges --------------------------------------------------
 * A large table is read by several streams at once (engine/task_run.c), each over a range of
 * the table's physical blocks: `WHERE ctid >= '(lo,0)' AND ctid < '(hi,0)'`, which PostgreSQL
 * (14+) runs as a TID Range Scan reading only those blocks. No key column is needed, and the
 * ranges split the work by size on disk. Every stream must see the same rows: key_range opens
 * a REPEATABLE READ transaction on the catalog connection and exports its snapshot
 * (pg_export_snapshot, as pg_dump -j does); each slice reader imports it with SET TRANSACTION
 * SNAPSHOT, so a row updated meanwhile is neither read twice (old and new version in two
 * ranges) nor missed. The exporting transaction ends when the last slice (the one without an
 * upper bound, opened last) has imported it. */

/* Ends the exporting transaction of an earlier key_range, if any. */
static void snapshot_end(struct pg_conn *c)
{
    if (!c->snapshot)
        return;
    free(c->snapshot);
    c->snapshot = NULL;
    if (c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        PQclear(PQexec(c->pg, "ROLLBACK"));
}

static int pg_key_range(struct conn *conn, const char *db, const char *table,
                        const char *partition, const struct conn_schema *schema, char **key_out,
                        int64_t *min_out, int64_t *max_out, struct mms_err *err)
{
    static const char sql[] =
        "SELECT c.relkind, pg_export_snapshot(),"
        " pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::int8"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND c.relname = $2";
    struct pg_conn *c = PGC(conn);
    const char *sch = db && db[0] ? db : "public";
    char *rel = NULL;
    int rc = -1;
    (void)schema;
    if (need_source(c, err) < 0)
        return -1;
    snapshot_end(c);
    if (partition) {
        if (partition_table(c->pg, sch, table, partition, &rel, err) < 0)
            return -1;
    } else {
        rel = xstrdup(table);
    }
    if (pg_exec(c->pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                "starting a snapshot for parallel reading", err) < 0)
        goto out;
    const char *params[2] = {sch, rel};
    PGresult *res = pg_query(c->pg, sql, 2, params, "sizing the table for parallel reading", err);
    if (!res)
        goto rollback;
    /* A partitioned parent has no blocks of its own: it is not split (its partitions are). */
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] == 'p' ||
        strtoll(PQgetvalue(res, 0, 2), NULL, 10) < 2) {
        PQclear(res);
        rc = 1;
        goto rollback;
    }
    c->snapshot = xstrdup(PQgetvalue(res, 0, 1));
    *key_out = xstrdup("ctid");
    *min_out = 0;
    *max_out = strtoll(PQgetvalue(res, 0, 2), NULL, 10) - 1;
    PQclear(res);
    rc = 0;
    goto out;
rollback:
    PQclear(PQexec(c->pg, "ROLLBACK"));
out:
    free(rel);
    return rc;
}

/* Every source reader: db.table, one partition of it, or one block range (slice; it must
 * follow key_range, whose snapshot it imports), as ordinary rows or raw into `raw` (pg_raw_open;
 * 1 when declined). Each reader has its own connection. */
static int open_source_reader(struct pg_conn *c, const char *db, const char *table,
                              const char *partition, const struct conn_schema *schema,
                              const struct conn_slice *slice, struct pg_writer *raw,
                              struct conn_reader **out, struct mms_err *err)
{
    const char *sch = db && db[0] ? db : "public";
    char *rel = NULL, *what = NULL, *where = NULL;
    PGconn *pg = NULL;
    int rc = -1;
    if (need_source(c, err) < 0)
        goto out;
    if (slice && (strcmp(slice->key, "ctid") != 0 || !c->snapshot)) {
        mms_err_set(err, 500, E_INTERNAL,
                    "reading a slice of table \"%s\".\"%s\": no block range was prepared", sch,
                    table);
        goto out;
    }
    if (partition) {
        if (partition_table(c->pg, sch, table, partition, &rel, err) < 0)
            goto out;
        what = xasprintf("partition '%s' of table \"%s\".\"%s\"", partition, sch, table);
    } else {
        rel = xstrdup(table);
        what = xasprintf("table \"%s\".\"%s\"", sch, table);
    }
    /* Block numbers are below 2^32: the bounds are plain integers, nothing to quote. */
    if (slice && slice->has_lo && slice->has_hi)
        where = xasprintf("ctid >= '(%lld,0)'::tid AND ctid < '(%lld,0)'::tid",
                          (long long)slice->lo, (long long)slice->hi);
    else if (slice && slice->has_lo)
        where = xasprintf("ctid >= '(%lld,0)'::tid", (long long)slice->lo);
    else if (slice && slice->has_hi)
        where = xasprintf("ctid < '(%lld,0)'::tid", (long long)slice->hi);
    if (pg_connect(&c->params, NULL, c->what, &pg, err) < 0)
        goto out;
    if (slice) {
        struct buf set;
        buf_init(&set, BUF_NO_LIMIT);
        buf_adds(&set, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
                       " SET TRANSACTION SNAPSHOT ");
        char *lit = PQescapeLiteral(pg, c->snapshot, strlen(c->snapshot));
        buf_adds(&set, lit ? lit : "''");
        PQfreemem(lit);
        int set_rc = pg_exec(pg, buf_str(&set), "importing the parallel reading snapshot", err);
        buf_release(&set);
        if (set_rc < 0)
            goto out;
    }
    rc = reader_start2(pg, sch, rel, where, what, schema, raw, out, err);
    if (rc <= 0)
        pg = NULL; /* the reader's (freed with it on failure); declined (1): still ours */
    if (rc == 0 && slice && !slice->has_hi)
        snapshot_end(c); /* the last slice: every one has imported it */
out:
    PQfinish(pg);
    free(rel);
    free(what);
    free(where);
    return rc;
}

static int pg_read_open_slice(struct conn *conn, const char *db, const char *table,
                              const char *partition, const struct conn_schema *schema,
                              const struct conn_slice *slice, struct conn_reader **out,
                              struct mms_err *err)
{
    return open_source_reader(PGC(conn), db, table, partition, schema, slice, NULL, out, err);
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

/* Undoes COPY text escaping of one field in place; returns the new length. */
static size_t copy_unescape(char *s, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch != '\\' || i + 1 == n) {
            s[j++] = ch;
            continue;
        }
        ch = s[++i];
        switch (ch) {
        case 'b':
            s[j++] = '\b';
            break;
        case 'f':
            s[j++] = '\f';
            break;
        case 'n':
            s[j++] = '\n';
            break;
        case 'r':
            s[j++] = '\r';
            break;
        case 't':
            s[j++] = '\t';
            break;
        case 'v':
            s[j++] = '\v';
            break;
        case 'x':
            if (i + 1 < n && hexval(s[i + 1]) >= 0) {
                int v = hexval(s[++i]);
                if (i + 1 < n && hexval(s[i + 1]) >= 0)
                    v = v * 16 + hexval(s[++i]);
                s[j++] = (char)v;
            } else {
                s[j++] = 'x';
            }
            break;
        default:
            if (ch >= '0' && ch <= '7') {
                int v = ch - '0';
                for (int k = 0; k < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7'; k++)
                    v = v * 8 + (s[++i] - '0');
                s[j++] = (char)v;
            } else {
                s[j++] = ch;
            }
        }
    }
    return j;
}

/* One field (unescaped, NUL-terminated at s[n]) -> the canonical value of its column type. */
static int field_set(struct pg_reader *r, struct rowbatch *b, struct val *v, size_t col, char *s,
                     size_t n, struct mms_err *err)
{
    const struct mms_type *t = &r->types[col];
    char *end = NULL;
    switch (t->id) {
    case MT_BOOL:
        if (n == 1 && (s[0] == 't' || s[0] == 'f')) {
            rowbatch_set_int(v, s[0] == 't');
            return 0;
        }
        break;
    case MT_INT8:
    case MT_INT16:
    case MT_INT32:
    case MT_INT64:
    case MT_UINT8:
    case MT_UINT16:
    case MT_UINT32:
    case MT_UINT64: {
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (end == s + n && n && errno == 0) {
            rowbatch_set_int(v, x);
            return 0;
        }
        errno = 0;
        unsigned long long u = strtoull(s, &end, 10);
        if (s[0] != '-' && end == s + n && n && errno == 0) {
            rowbatch_set_uint(v, u);
            return 0;
        }
        break;
    }
    case MT_FLOAT32: {
        float f = strtof(s, &end);
        if (end == s + n && n) {
            rowbatch_set_double(v, (double)f);
            return 0;
        }
        break;
    }
    case MT_FLOAT64: {
        double d = strtod(s, &end);
        if (end == s + n && n) {
            rowbatch_set_double(v, d);
            return 0;
        }
        break;
    }
    case MT_BINARY:
        if (n >= 2 && s[0] == '\\' && s[1] == 'x' && n % 2 == 0) {
            size_t m = (n - 2) / 2;
            for (size_t i = 0; i < m; i++) {
                int hi = hexval(s[2 + 2 * i]), lo = hexval(s[3 + 2 * i]);
                if (hi < 0 || lo < 0)
                    goto bad;
                s[i] = (char)(hi * 16 + lo);
            }
            rowbatch_set_bytes(b, v, VAL_BLOB, s, m);
            return 0;
        }
        break;
    case MT_TIMESTAMP:
        /* TimeZone is UTC: the offset is always +00; the canonical form has none */
        if (n > 3 && strcmp(s + n - 3, "+00") == 0)
            n -= 3;
        rowbatch_set_bytes(b, v, VAL_TEXT, s, n);
        return 0;
    default:
        rowbatch_set_bytes(b, v, VAL_TEXT, s, n);
        return 0;
    }
bad:
    return mms_err_set(err, 500, E_VALUE, "reading %s: column %zu: cannot parse '%.*s'", r->what,
                       col + 1, (int)(n > PG_VALUE_SHOW ? PG_VALUE_SHOW : n), s);
}

/* Finishes a COPY OUT: the command's final status. */
static int copy_out_end(struct pg_reader *r, struct mms_err *err)
{
    int rc = 0;
    PGresult *res;
    while ((res = PQgetResult(r->pg))) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = pg_fail(err, r->pg, res, "reading %s", r->what);
        PQclear(res);
    }
    return rc;
}

static int pg_read_next(struct conn_reader *reader, struct rowbatch *b, struct mms_err *err)
{
    struct pg_reader *r = (struct pg_reader *)reader;
    rowbatch_clear(b);
    if (b->ncols != r->ncols)
        return mms_err_set(err, 500, E_INTERNAL, "reading %s: batch has %zu columns, not %zu",
                           r->what, b->ncols, r->ncols);
    while (!r->done && !rowbatch_full(b)) {
        char *line = NULL;
        int n = PQgetCopyData(r->pg, &line, 0);
        if (n == -1) {
            r->done = true;
            return copy_out_end(r, err);
        }
        if (n < 0) {
            r->done = true;
            return pg_fail(err, r->pg, NULL, "reading %s", r->what);
        }
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        struct val *row = rowbatch_add_row(b);
        char *p = line, *end = line + n;
        int rc = 0;
        for (size_t i = 0; i < r->ncols && rc == 0; i++) {
            char *tab = memchr(p, '\t', (size_t)(end - p));
            char *fe = tab ? tab : end;
            if (!tab && i + 1 < r->ncols) {
                rc = mms_err_set(err, 500, E_INTERNAL, "reading %s: a row has %zu fields, not %zu",
                                 r->what, i + 1, r->ncols);
                break;
            }
            *fe = '\0';
            size_t len = (size_t)(fe - p);
            if (!(len == 2 && p[0] == '\\' && p[1] == 'N')) {
                if (memchr(p, '\\', len))
                    len = copy_unescape(p, len);
                p[len] = '\0';
                rc = field_set(r, b, &row[i], i, p, len, err);
            }
            p = fe + 1;
        }
        PQfreemem(line);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static void pg_read_close(struct conn_reader *reader)
{
    struct pg_reader *r = (struct pg_reader *)reader;
    if (!r)
        return;
    if (!r->done && r->pg) {
        /* Abandoning a COPY OUT: cancel it rather than draining the rest of the table. */
        PGcancel *cn = PQgetCancel(r->pg);
        char buf[256];
        if (cn) {
            PQcancel(cn, buf, sizeof buf);
            PQfreeCancel(cn);
        }
    }
    reader_free(r);
}

/* ---- destination: schema stage ---------------------------------------------------------- */

static int schema_check(const struct conn_schema *schema, const char *table, struct mms_err *err)
{
    if (!table || !table[0])
        return mms_err_set(err, 400, E_CONFIG, "destination table name is empty");
    if (schema->ncols == 0)
        return mms_err_set(err, 400, E_CONFIG, "table \"%s\": the schema has no columns", table);
    /* Partition key columns that are not also data columns (Hive layout) would have no place
     * in the rows: not supported yet. PostgreSQL keys are data columns too. */
    for (size_t k = 0; k < schema->npcols; k++) {
        bool found = false;
        for (size_t i = 0; i < schema->ncols && !found; i++)
            found = strcmp(schema->cols[i].name, schema->pcols[k].name) == 0;
        if (!found)
            return mms_err_set(err, 400, E_UNSUPPORTED,
                               "table \"%s\": partition column \"%s\" is not a data column;"
                               " PostgreSQL destinations take only plain tables for now",
                               table, schema->pcols[k].name);
    }
    return 0;
}

/* Existing columns of schema.table, compared by name and order with the wanted schema. */
static int check_existing(PGconn *pg, const char *sch, const char *table,
                          const struct conn_schema *want, bool *exists, struct mms_err *err)
{
    struct conn_schema have = {0};
    int rc = -1;
    if (pg_schema_read(pg, sch, table, &have, err) < 0)
        goto out;
    *exists = have.ncols > 0;
    if (have.ncols) {
        size_t n = have.ncols < want->ncols ? have.ncols : want->ncols;
        for (size_t i = 0; i < n; i++)
            if (strcmp(have.cols[i].name, want->cols[i].name) != 0) {
                mms_err_set(err, 409, E_MISMATCH,
                            "table \"%s\".\"%s\" already exists and its column %zu is \"%s\","
                            " not \"%s\"",
                            sch, table, i + 1, have.cols[i].name, want->cols[i].name);
                goto out;
            }
        if (have.ncols != want->ncols) {
            mms_err_set(err, 409, E_MISMATCH,
                        "table \"%s\".\"%s\" already exists with %zu columns, not %zu", sch, table,
                        have.ncols, want->ncols);
            goto out;
        }
    }
    rc = 0;
out:
    conn_schema_release(&have);
    return rc;
}

/* "PARTITION BY LIST" etc. when the schema says how its source was partitioned (a
 * PostgreSQL source whose keys are all plain columns, one strategy), else NULL. A single key
 * of another source (a Hive-layout FILES table, whose key the engine made a data column,
 * docs/engine.md "Partition keys") is LIST partitioned: one partition per "k=v" value. */
static const char *part_strategy(const struct conn_schema *schema)
{
    static const char *const known[] = {PG_PART_LIST, PG_PART_RANGE, PG_PART_HASH};
    if (schema->npcols == 1 &&
        (!schema->source_type || strcasecmp(schema->source_type, PG_TYPE) != 0))
        return PG_PART_LIST;
    if (schema->npcols == 0 || !schema->source_type ||
        strcasecmp(schema->source_type, PG_TYPE) != 0 || !schema->pcols[0].comment)
        return NULL;
    const char *st = NULL;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(schema->pcols[0].comment, known[i]) == 0)
            st = known[i];
    for (size_t k = 1; st && k < schema->npcols; k++)
        if (!schema->pcols[k].comment || strcmp(schema->pcols[k].comment, st) != 0)
            st = NULL;
    return st;
}

static void ddl(struct buf *out, const char *sch, const char *name,
                const struct conn_schema *schema, bool if_not_exists, bool partitioned)
{
    buf_adds(out, if_not_exists ? "CREATE TABLE IF NOT EXISTS " : "CREATE TABLE ");
    sql_qname(out, sch, name);
    buf_adds(out, " (");
    for (size_t i = 0; i < schema->ncols; i++) {
        const struct conn_column *col = &schema->cols[i];
        if (i)
            buf_adds(out, ", ");
        sql_ident(out, col->name);
        buf_addc(out, ' ');
        pg_decl_column(schema, col, out);
        if (!col->nullable)
            buf_adds(out, " NOT NULL");
    }
    buf_addc(out, ')');
    const char *st = partitioned ? part_strategy(schema) : NULL;
    if (st) {
        buf_printf(out, " %s (", st);
        for (size_t k = 0; k < schema->npcols; k++) {
            if (k)
                buf_adds(out, ", ");
            sql_ident(out, schema->pcols[k].name);
        }
        buf_addc(out, ')');
    }
}

static int ensure_schema(PGconn *pg, const char *sch, struct mms_err *err)
{
    struct buf sql;
    buf_init(&sql, BUF_NO_LIMIT);
    buf_adds(&sql, "CREATE SCHEMA IF NOT EXISTS ");
    sql_ident(&sql, sch);
    PGresult *res = PQexec(pg, buf_str(&sql));
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    int rc = 0;
    /* two tasks creating one schema at once: the loser sees a unique violation */
    if (PQresultStatus(res) != PGRES_COMMAND_OK && !(state && strcmp(state, "23505") == 0))
        rc = pg_fail(err, pg, res, "creating schema \"%s\"", sch);
    PQclear(res);
    buf_release(&sql);
    return rc;
}

static int pg_create_table(struct conn *conn, const struct conn_target *t,
                           const struct conn_schema *schema, char **sql_out, struct mms_err *err)
{
    struct pg_conn *c = PGC(conn);
    const char *sch = dest_schema(t);
    PGconn *pg = NULL;
    struct buf sql;
    bool exists = false;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    if (schema_check(schema, t->table, err) < 0 ||
        pg_dest_connect(c, t->project, true, &pg, err) < 0 || ensure_schema(pg, sch, err) < 0 ||
        check_existing(pg, sch, t->table, schema, &exists, err) < 0)
        goto out;
    ddl(&sql, sch, t->table, schema, true, true);
    if (pg_exec(pg, buf_str(&sql), "creating the destination table", err) < 0)
        goto out;
    if (sql_out)
        *sql_out = buf_detach(&sql, NULL);
    rc = 0;
out:
    buf_release(&sql);
    PQfinish(pg);
    return rc;
}

/* ---- destination: data stage ------------------------------------------------------------ */

static void writer_free(struct pg_writer *w)
{
    PQfinish(w->pg);
    for (size_t i = 0; i < w->ncols && w->cols; i++)
        free(w->cols[i].name);
    free(w->cols);
    free(w->schema);
    free(w->table);
    free(w->stage);
    free(w->what);
    free(w->part);
    free(w->bound);
    free(w->sql);
    free(w->enc);
    free(w->oids);
    free(w->project);
    free(w->copy_sql);
    buf_release(&w->data);
    free(w);
}

/* "__mms_stage_<table>", or, when that would pass PostgreSQL's 63-byte names (it would be
 * truncated, and two long names could meet), "__mms_stage_" and a 64-bit FNV-1a hash of the
 * table name in hex. Caller frees. */
static unsigned long long fnv64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return (unsigned long long)h;
}

static char *stage_name(const char *table)
{
    if (strlen(table) + sizeof PG_STAGE_PREFIX - 1 <= 63)
        return xasprintf(PG_STAGE_PREFIX "%s", table);
    return xasprintf(PG_STAGE_PREFIX "%016llx", fnv64(table));
}

/* ---- destination: partitions ------------------------------------------------------------ */

/* The table holding one partition of `table` at the destination: "<table>$<16 hex digits of a
 * 64-bit FNV-1a hash of the partition value>", or, when that passes 63 bytes,
 * "<hash of table>$<hash of value>". Caller frees. */
static char *part_table_name(const char *table, const char *partition)
{
    if (strlen(table) + 17 <= 63)
        return xasprintf("%s$%016llx", table, fnv64(partition));
    return xasprintf("%016llx$%016llx", fnv64(table), fnv64(partition));
}

/* Percent-decodes n bytes; NULL when malformed or when it would hold a NUL. */
static char *pct_decode(const char *s, size_t n)
{
    char *o = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            o[j++] = s[i];
            continue;
        }
        int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi | lo) == 0) {
            free(o);
            return NULL;
        }
        o[j++] = (char)(hi * 16 + lo);
        i += 2;
    }
    o[j] = '\0';
    return o;
}

/* A partition bound as pg_get_expr prints it, safe to splice into ALTER TABLE ... ATTACH: only
 * the bound keywords, string literals, numbers, blanks, commas, dots, signs and parentheses (no
 * identifiers, so no function calls; no ';', no comments). */
static bool bound_is_safe(const char *b)
{
    static const char *const words[] = {"FOR",  "VALUES",  "IN",        "FROM",     "TO",
                                        "WITH", "MODULUS", "REMAINDER", "MINVALUE", "MAXVALUE",
                                        "NULL", "TRUE",    "FALSE",     "DEFAULT",  NULL};
    const char *p = b;
    while (*p) {
        char ch = *p;
        if (ch == '\'') {
            for (p++;; p++) {
                if (!*p)
                    return false;
                if (*p == '\'') {
                    if (p[1] != '\'')
                        break;
                    p++;
                }
            }
            p++;
        } else if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')) {
            const char *w = p;
            while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
                p++;
            bool known = false;
            for (size_t i = 0; words[i] && !known; i++)
                known = strlen(words[i]) == (size_t)(p - w) &&
                        strncasecmp(words[i], w, (size_t)(p - w)) == 0;
            if (!known)
                return false;
        } else if (ch >= '0' && ch <= '9') {
            p++;
            while ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' ||
                   ((*p == '+' || *p == '-') && (p[-1] == 'e' || p[-1] == 'E')))
                p++;
        } else if (strchr(" ,().+-", ch)) {
            if (ch == '-' && p[1] == '-')
                return false;
            p++;
        } else {
            return false;
        }
    }
    return true;
}

/* The bound clause of a destination partition (the destination table must be partitioned):
 *   "FOR VALUES ..." / "DEFAULT" (a PostgreSQL source's bound)  -> as it is (checked);
 *   "k=v" (a single LIST key k)                                -> FOR VALUES IN ('v'), v
 *      percent-decoded; Hive's __HIVE_DEFAULT_PARTITION__     -> FOR VALUES IN (NULL). */
static int part_bound(PGconn *pg, const char *sch, const char *table, const char *partition,
                      char **out, struct mms_err *err)
{
    static const char sql[] =
        "SELECT c.relkind, p.partstrat, array_length(p.partattrs::int2[], 1),"
        " (SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid"
        "  AND a.attnum = p.partattrs[0])"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_catalog.pg_partitioned_table p ON p.partrelid = c.oid"
        " WHERE n.nspname = $1 AND c.relname = $2";
    const char *params[2] = {sch, table};
    char *key = NULL, *val = NULL;
    int rc = -1;
    PGresult *res = pg_query(pg, sql, 2, params, "reading the destination table", err);
    if (!res)
        return -1;
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 'p') {
        mms_err_set(err, 400, E_UNSUPPORTED,
                    "table \"%s\".\"%s\": the destination table is not partitioned, so partition"
                    " '%s' cannot be written to it (a partitioned destination is created from a"
                    " partitioned PostgreSQL source only)",
                    sch, table, partition);
        goto out;
    }
    if (strncmp(partition, "FOR VALUES ", 11) == 0 || strcmp(partition, "DEFAULT") == 0) {
        if (!bound_is_safe(partition)) {
            mms_err_set(err, 400, E_UNSUPPORTED,
                        "table \"%s\".\"%s\": partition '%s' is not a bound mms can use", sch,
                        table, partition);
            goto out;
        }
        *out = xstrdup(partition);
        rc = 0;
        goto out;
    }
    const char *eq = strchr(partition, '=');
    if (eq) {
        key = pct_decode(partition, (size_t)(eq - partition));
        val = pct_decode(eq + 1, strlen(eq + 1));
    }
    if (!key || !val || strchr(eq + 1, '/') || PQgetvalue(res, 0, 1)[0] != 'l' ||
        strcmp(PQgetvalue(res, 0, 2), "1") != 0 || strcmp(PQgetvalue(res, 0, 3), key) != 0) {
        mms_err_set(err, 400, E_UNSUPPORTED,
                    "table \"%s\".\"%s\": partition '%s' does not match the destination's"
                    " partitioning (it takes k=v only for a single LIST key)",
                    sch, table, partition);
        goto out;
    }
    if (strcmp(val, "__HIVE_DEFAULT_PARTITION__") == 0) {
        *out = xstrdup("FOR VALUES IN (NULL)");
    } else {
        char *lit = PQescapeLiteral(pg, val, strlen(val));
        if (!lit) {
            pg_fail(err, pg, NULL, "quoting partition value '%s'", partition);
            goto out;
        }
        *out = xasprintf("FOR VALUES IN (%s)", lit);
        PQfreemem(lit);
    }
    rc = 0;
out:
    PQclear(res);
    free(key);
    free(val);
    return rc;
}

/* binary COPY (below) */
static int choose_format(struct pg_writer *w, struct mms_err *err);
static void put32(struct buf *o, uint32_t v);

/* Runs the writer's COPY ... FROM STDIN on its connection; in binary format the data starts
 * with the file header (signature, flags, no header extension). */
static int copy_in_start(struct pg_writer *w, struct mms_err *err)
{
    if (w->binary) {
        buf_add(&w->data, "PGCOPY\n\377\r\n\0", 11);
        put32(&w->data, 0);
        put32(&w->data, 0);
    }
    PGresult *res = PQexec(w->pg, w->copy_sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        pg_fail(err, w->pg, res, "writing %s", w->what);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    w->in_copy = true;
    return 0;
}

static int pg_write_begin(struct conn *conn, const struct conn_target *t, const char *partition,
                          const struct conn_schema *schema, struct conn_writer **out,
                          struct mms_err *err)
{
    struct pg_conn *c = PGC(conn);
    struct pg_writer *w = xcalloc(1, sizeof *w);
    struct buf sql;
    bool exists = false;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    buf_init(&w->data, BUF_NO_LIMIT);
    if (schema_check(schema, t->table, err) < 0)
        goto out;
    w->schema = xstrdup(dest_schema(t));
    w->table = xstrdup(t->table);
    if (partition) {
        w->part = part_table_name(t->table, partition);
        w->stage = stage_name(w->part);
        w->what = xasprintf("partition '%s' of table \"%s\".\"%s\" in database \"%s\"", partition,
                            w->schema, w->table, t->project ? t->project : "");
    } else {
        w->stage = stage_name(t->table);
        w->what = xasprintf("table \"%s\".\"%s\" in database \"%s\"", w->schema, w->table,
                            t->project ? t->project : "");
    }
    w->ncols = schema->ncols;
    w->cols = xcalloc(w->ncols, sizeof *w->cols);
    for (size_t i = 0; i < w->ncols; i++) {
        w->cols[i].name = xstrdup(schema->cols[i].name);
        w->cols[i].type = schema->cols[i].type;
    }
    if (pg_dest_connect(c, t->project, true, &w->pg, err) < 0 ||
        ensure_schema(w->pg, w->schema, err) < 0 ||
        check_existing(w->pg, w->schema, w->table, schema, &exists, err) < 0)
        goto out;
    if (partition && part_bound(w->pg, w->schema, w->table, partition, &w->bound, err) < 0)
        goto out;

    /* A leftover of an earlier attempt, then a fresh staging table: like the target when it
     * exists (same declared types, defaults, constraints, indexes), else from the schema. */
    buf_adds(&sql, "DROP TABLE IF EXISTS ");
    sql_qname(&sql, w->schema, w->stage);
    buf_adds(&sql, "; ");
    if (exists) {
        buf_adds(&sql, "CREATE TABLE ");
        sql_qname(&sql, w->schema, w->stage);
        buf_adds(&sql, " (LIKE ");
        sql_qname(&sql, w->schema, w->table);
        buf_adds(&sql, " INCLUDING ALL)");
    } else {
        ddl(&sql, w->schema, w->stage, schema, false, false);
    }
    if (pg_exec(w->pg, buf_str(&sql), "creating the staging table", err) < 0)
        goto out;

    buf_adds(&sql, "; ");
    size_t copy_at = sql.len; /* sql keeps the staging statements too, for the log */
    buf_adds(&sql, "COPY ");
    sql_qname(&sql, w->schema, w->stage);
    buf_adds(&sql, " (");
    for (size_t i = 0; i < w->ncols; i++) {
        if (i)
            buf_adds(&sql, ", ");
        sql_ident(&sql, w->cols[i].name);
    }
    buf_adds(&sql, ") FROM STDIN");
    if (choose_format(w, err) < 0)
        goto out;
    if (w->binary)
        buf_adds(&sql, " (FORMAT binary)");
    w->conn = c;
    w->project = xstrdup(t->project);
    w->copy_sql = xstrdup(buf_str(&sql) + copy_at);
    if (copy_in_start(w, err) < 0)
        goto out;
    w->sql = buf_detach(&sql, NULL);
    rc = 0;
out:
    buf_release(&sql);
    if (rc == 0)
        *out = (struct conn_writer *)w;
    else
        writer_free(w);
    return rc;
}

/* Appends bytes with COPY text escaping. */
static void copy_escape(struct buf *o, const char *p, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i], e;
        switch (ch) {
        case '\\':
            e = '\\';
            break;
        case '\n':
            e = 'n';
            break;
        case '\r':
            e = 'r';
            break;
        case '\t':
            e = 't';
            break;
        default:
            continue;
        }
        buf_add(o, p + start, i - start);
        buf_addc(o, '\\');
        buf_addc(o, e);
        start = i + 1;
    }
    buf_add(o, p + start, n - start);
}

static int value_error(struct pg_writer *w, size_t col, const char *why, const char *p, size_t n,
                       struct mms_err *err)
{
    char show[PG_VALUE_SHOW * 4 + 8];
    size_t j = 0;
    for (size_t i = 0; i < n && i < PG_VALUE_SHOW; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch < 0x20 || ch == 0x7f || ch == '\\')
            j += (size_t)snprintf(show + j, sizeof show - j, "\\x%02x", ch);
        else
            show[j++] = (char)ch;
    }
    show[j] = '\0';
    return mms_err_set(err, 400, E_VALUE, "%s, column \"%s\": %s: '%s%s'", w->what,
                       w->cols[col].name, why, show, n > PG_VALUE_SHOW ? "..." : "");
}

static int encode_value(struct pg_writer *w, const struct rowbatch *b, const struct val *v,
                        size_t col, struct mms_err *err)
{
    struct buf *o = &w->data;
    bool binary = w->cols[col].type.id == MT_BINARY;
    char num[64];
    switch (v->kind) {
    case VAL_NULL:
        buf_add(o, "\\N", 2);
        return 0;
    case VAL_INT: {
        /* by hand: snprintf is a tenth of the writer's time on integer-heavy tables */
        uint64_t u = v->v.i < 0 ? 0 - (uint64_t)v->v.i : (uint64_t)v->v.i;
        char *e = num + sizeof num, *q = e;
        do
            *--q = (char)('0' + u % 10);
        while ((u /= 10) != 0);
        if (v->v.i < 0)
            *--q = '-';
        buf_add(o, q, (size_t)(e - q));
        memmove(num, q, (size_t)(e - q)); /* for the bytea message below */
        num[e - q] = '\0';
        break;
    }
    case VAL_UINT:
        buf_add(o, num, (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)v->v.u));
        break;
    case VAL_DOUBLE:
        if (isnan(v->v.d))
            buf_add(o, "NaN", 3);
        else if (isinf(v->v.d))
            buf_adds(o, v->v.d > 0 ? "Infinity" : "-Infinity");
        else /* 17 significant digits: parses back to the same double (float4 too) */
            buf_add(o, num, (size_t)snprintf(num, sizeof num, "%.17g", v->v.d));
        break;
    case VAL_TEXT:
    case VAL_BLOB: {
        const char *p = rowbatch_bytes(b, v);
        if (binary) {
            static const char hex[] = "0123456789abcdef";
            buf_add(o, "\\\\x", 3);
            buf_reserve(o, 2 * (size_t)v->len); /* then written in place */
            char *d = o->p + o->len;
            for (uint32_t i = 0; i < v->len; i++) {
                unsigned char ch = (unsigned char)p[i];
                d[2 * i] = hex[ch >> 4];
                d[2 * i + 1] = hex[ch & 15];
            }
            o->len += 2 * (size_t)v->len;
            o->p[o->len] = '\0';
            return 0;
        }
        if (memchr(p, '\0', v->len))
            return value_error(w, col, "PostgreSQL text cannot hold a NUL byte", p, v->len, err);
        copy_escape(o, p, v->len);
        return 0;
    }
    }
    if (binary)
        return value_error(w, col, "a number cannot go to a bytea column", num, strlen(num), err);
    return 0;
}

/* ---- binary COPY ------------------------------------------------------------------------
 *
 * COPY ... FROM STDIN (FORMAT binary) spares the server the parsing of every value (measured
 * 2.2-2.4x less server time than text for the same rows). It is used when every column of the
 * staging table has a type below (read from pg_attribute, so an existing target's own types
 * count, domains excluded); otherwise, or with MMS_PG_COPY_FORMAT=text in the environment, the
 * text format above. Each value is converted from its kind as PostgreSQL's text input would
 * convert its text form, and a value it would refuse is ConnectorError.Value naming it. */

enum bin_enc {
    BIN_BOOL = 1,
    BIN_INT2,
    BIN_INT4,
    BIN_INT8,
    BIN_FLOAT4,
    BIN_FLOAT8,
    BIN_NUMERIC,
    BIN_TEXT, /* text, varchar, bpchar, json: the bytes */
    BIN_JSONB,
    BIN_BYTEA,
    BIN_DATE,
    BIN_TIMESTAMP, /* timestamp and timestamptz (the session is UTC) */
};

static int bin_enc_of_oid(unsigned oid)
{
    switch (oid) {
    case 16:
        return BIN_BOOL;
    case 17:
        return BIN_BYTEA;
    case 20:
        return BIN_INT8;
    case 21:
        return BIN_INT2;
    case 23:
        return BIN_INT4;
    case 25:
    case 114:
    case 1042:
    case 1043:
        return BIN_TEXT;
    case 700:
        return BIN_FLOAT4;
    case 701:
        return BIN_FLOAT8;
    case 1082:
        return BIN_DATE;
    case 1114:
    case 1184:
        return BIN_TIMESTAMP;
    case 1700:
        return BIN_NUMERIC;
    case 3802:
        return BIN_JSONB;
    default:
        return 0;
    }
}

/* Chooses the format: binary when every column of the staging table has a binary encoder. */
static int choose_format(struct pg_writer *w, struct mms_err *err)
{
    const char *f = getenv("MMS_PG_COPY_FORMAT");
    if (f && strcmp(f, "text") == 0)
        return 0;
    struct buf rel;
    buf_init(&rel, BUF_NO_LIMIT);
    sql_qname(&rel, w->schema, w->stage);
    const char *params[1] = {buf_str(&rel)};
    PGresult *res = pg_query(w->pg,
                             "SELECT attname, atttypid::int4 FROM pg_attribute WHERE attrelid = "
                             "$1::regclass AND attnum > 0 AND NOT attisdropped",
                             1, params, "reading the staging table's column types", err);
    buf_release(&rel);
    if (!res)
        return -1;
    unsigned char *enc = xcalloc(w->ncols ? w->ncols : 1, 1);
    unsigned *oids = xcalloc(w->ncols ? w->ncols : 1, sizeof *oids);
    bool all = true;
    for (size_t i = 0; i < w->ncols && all; i++) {
        int e = 0;
        for (int r = 0; r < PQntuples(res); r++)
            if (strcmp(PQgetvalue(res, r, 0), w->cols[i].name) == 0) {
                oids[i] = (unsigned)strtoul(PQgetvalue(res, r, 1), NULL, 10);
                e = bin_enc_of_oid(oids[i]);
            }
        enc[i] = (unsigned char)e;
        all = e != 0;
    }
    PQclear(res);
    if (!all) {
        free(enc);
        free(oids);
        return 0;
    }
    w->enc = enc;
    w->oids = oids;
    w->binary = true;
    return 0;
}

static void put16(struct buf *o, uint16_t v)
{
    unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    buf_add(o, b, 2);
}

static void put32(struct buf *o, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    buf_add(o, b, 4);
}

static void put64(struct buf *o, uint64_t v)
{
    put32(o, (uint32_t)(v >> 32));
    put32(o, (uint32_t)v);
}

/* A value's text, NUL-terminated in tmp (n bytes), for parsing; NULL if it does not fit. */
static const char *text_of(const struct rowbatch *b, const struct val *v, char *tmp, size_t n)
{
    if (v->len >= n)
        return NULL;
    memcpy(tmp, rowbatch_bytes(b, v), v->len);
    tmp[v->len] = '\0';
    return tmp;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The integer of a value as int2/int4/int8 input would read it. */
static bool int_of(const struct rowbatch *b, const struct val *v, int64_t *out)
{
    char tmp[64];
    const char *s;
    char *end;
    switch (v->kind) {
    case VAL_INT:
        *out = v->v.i;
        return true;
    case VAL_DOUBLE: /* its text (%.17g) is an integer only when the double is one */
        if (!isfinite(v->v.d) || v->v.d != floor(v->v.d) || fabs(v->v.d) >= 0x1p63)
            return false;
        *out = (int64_t)v->v.d;
        return true;
    case VAL_TEXT:
    case VAL_BLOB:
        if (!(s = text_of(b, v, tmp, sizeof tmp)))
            return false;
        while (is_space(*s))
            s++;
        if (!*s)
            return false;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (errno || end == s || (end[-1] < '0' || end[-1] > '9'))
            return false;
        while (is_space(*end))
            end++;
        if (*end)
            return false;
        *out = x;
        return true;
    default: /* VAL_UINT is above INT64_MAX */
        return false;
    }
}

static bool double_of(const struct rowbatch *b, const struct val *v, double *out)
{
    char tmp[512];
    const char *s;
    char *end;
    switch (v->kind) {
    case VAL_DOUBLE:
        *out = v->v.d;
        return true;
    case VAL_INT:
        *out = (double)v->v.i;
        return true;
    case VAL_UINT:
        *out = (double)v->v.u;
        return true;
    case VAL_TEXT:
    case VAL_BLOB:
        if (!(s = text_of(b, v, tmp, sizeof tmp)))
            return false;
        while (is_space(*s))
            s++;
        if ((s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) || !*s)
            return false; /* strtod reads hex floats, PostgreSQL does not */
        *out = strtod(s, &end);
        if (end == s)
            return false;
        while (is_space(*end))
            end++;
        return *end == '\0';
    default:
        return false;
    }
}

/* Numeric in PostgreSQL's binary form from decimal text ([+-]digits[.digits][e[+-]N], NaN,
 * [+-]Infinity). Returns false on anything else. */
static bool put_numeric(struct buf *o, const char *s)
{
    while (is_space(*s))
        s++;
    bool neg = false;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    uint16_t special = 0;
    if ((*s >= '0' && *s <= '9') || *s == '.')
        ; /* a number: the common case */
    else if (strncasecmp(s, "nan", 3) == 0 && !neg)
        special = 0xC000, s += 3;
    else if (strncasecmp(s, "infinity", 8) == 0)
        special = neg ? 0xF000 : 0xD000, s += 8;
    else if (strncasecmp(s, "inf", 3) == 0)
        special = neg ? 0xF000 : 0xD000, s += 3;
    if (special) {
        while (is_space(*s))
            s++;
        if (*s)
            return false;
        put32(o, 8);
        put16(o, 0);
        put16(o, 0);
        put16(o, special);
        put16(o, 0);
        return true;
    }
    /* the digits (without leading zeros) and the position of the decimal point among them */
    char dig[1100];
    int nd = 0, point = -1, seen = 0;
    for (; (*s >= '0' && *s <= '9') || (*s == '.' && point < 0); s++) {
        if (*s == '.') {
            point = nd;
            continue;
        }
        seen = 1;
        if (nd == 0 && *s == '0' && point < 0)
            continue;
        if (nd >= (int)sizeof dig - 1)
            return false;
        dig[nd++] = *s;
    }
    if (!seen)
        return false;
    if (point < 0)
        point = nd;
    long exp10 = 0;
    if (*s == 'e' || *s == 'E') {
        char *end;
        errno = 0;
        exp10 = strtol(s + 1, &end, 10);
        if (end == s + 1 || errno || exp10 > 1000 || exp10 < -1000)
            return false;
        s = end;
    }
    while (is_space(*s))
        s++;
    if (*s)
        return false;
    long ipos = point + exp10;                   /* digits before the point */
    long dscale = nd - ipos > 0 ? nd - ipos : 0; /* digits after it */
    /* groups of 4 digits aligned on the point: group g covers digits [first + 4g, +4) where
     * first = ipos - 4 * ngi (ngi = groups before the point, possibly 0 or negative) */
    long ngi = ipos > 0 ? (ipos + 3) / 4 : -((-ipos) / 4);
    long first = ipos - 4 * ngi;
    long ngroups = (nd - first + 3) / 4;
    if (ngroups < 0)
        ngroups = 0;
    int16_t groups[300];
    if (ngroups > (long)(sizeof groups / sizeof groups[0]))
        return false;
    for (long g = 0; g < ngroups; g++) {
        int v = 0;
        for (long k = 0; k < 4; k++) {
            long i = first + 4 * g + k;
            v = v * 10 + (i >= 0 && i < nd ? dig[i] - '0' : 0);
        }
        groups[g] = (int16_t)v;
    }
    long lo = 0, hi = ngroups;
    while (lo < hi && groups[lo] == 0)
        lo++;
    while (hi > lo && groups[hi - 1] == 0)
        hi--;
    long weight = ngi - 1 - lo;
    if (lo == hi) {
        weight = 0;
        neg = false;
    }
    if (dscale > 0x3FFF || weight > 0x7FFF || weight < -0x8000)
        return false;
    put32(o, (uint32_t)(8 + 2 * (hi - lo)));
    put16(o, (uint16_t)(hi - lo));
    put16(o, (uint16_t)(int16_t)weight);
    put16(o, neg ? 0x4000 : 0);
    put16(o, (uint16_t)dscale);
    for (long g = lo; g < hi; g++)
        put16(o, (uint16_t)groups[g]);
    return true;
}

/* Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

#define PG_EPOCH_DAYS 10957 /* 2000-01-01 - 1970-01-01 */

static int parse_digits(const char **p, int min, int max, int64_t *out)
{
    int64_t v = 0;
    int n = 0;
    while (**p >= '0' && **p <= '9' && n < max) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    *out = v;
    return n >= min && !(**p >= '0' && **p <= '9');
}

/* "YYYY-MM-DD[ HH:MM:SS[.ffffff]]" (also 'T' between): days since 2000-01-01 and microseconds
 * of the day. with_time: a time part is allowed. */
static bool parse_datetime(const char *s, bool with_time, int64_t *days, int64_t *usec)
{
    int64_t y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
    if (!parse_digits(&s, 4, 6, &y) || *s++ != '-' || !parse_digits(&s, 2, 2, &mo) || *s++ != '-' ||
        !parse_digits(&s, 2, 2, &d))
        return false;
    if (y == 0) /* there is no year 0 (1 BC) in PostgreSQL's input */
        return false;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap))
        return false;
    if (with_time && (*s == ' ' || *s == 'T')) {
        s++;
        if (!parse_digits(&s, 2, 2, &h) || *s++ != ':' || !parse_digits(&s, 2, 2, &mi) ||
            *s++ != ':' || !parse_digits(&s, 2, 2, &sec))
            return false;
        if (*s == '.') {
            s++;
            int n = 0;
            while (*s >= '0' && *s <= '9') {
                if (n == 6)
                    return false; /* more than microseconds: not the canonical form */
                frac = frac * 10 + (*s++ - '0');
                n++;
            }
            if (n == 0)
                return false;
            for (; n < 6; n++)
                frac *= 10;
        }
        if (mi > 59 || sec > 59 || h > 24 || (h == 24 && (mi || sec || frac)))
            return false;
    }
    if (*s)
        return false;
    *days = days_from_civil(y, (int)mo, (int)d) - PG_EPOCH_DAYS;
    *usec = ((h * 60 + mi) * 60 + sec) * 1000000 + frac;
    return true;
}

static int bin_error(struct pg_writer *w, const struct rowbatch *b, const struct val *v, size_t col,
                     const char *type, struct mms_err *err)
{
    char num[64];
    const char *p = num;
    size_t n;
    switch (v->kind) {
    case VAL_INT:
        n = (size_t)snprintf(num, sizeof num, "%lld", (long long)v->v.i);
        break;
    case VAL_UINT:
        n = (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)v->v.u);
        break;
    case VAL_DOUBLE:
        n = (size_t)snprintf(num, sizeof num, "%.17g", v->v.d);
        break;
    default:
        p = rowbatch_bytes(b, v);
        n = v->len;
    }
    /* worded as PostgreSQL's own message for the text format ("... column v: ...") */
    char show[PG_VALUE_SHOW * 4 + 8];
    size_t j = 0;
    for (size_t i = 0; i < n && i < PG_VALUE_SHOW; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch < 0x20 || ch == 0x7f || ch == '\\')
            j += (size_t)snprintf(show + j, sizeof show - j, "\\x%02x", ch);
        else
            show[j++] = (char)ch;
    }
    show[j] = '\0';
    return mms_err_set(err, 400, E_VALUE,
                       "writing %s: invalid input for type %s, column %s: '%s%s'", w->what, type,
                       w->cols[col].name, show, n > PG_VALUE_SHOW ? "..." : "");
}

static int encode_binary(struct pg_writer *w, const struct rowbatch *b, const struct val *v,
                         size_t col, struct mms_err *err)
{
    struct buf *o = &w->data;
    int64_t i, days, usec;
    double d;
    char num[64];
    if (v->kind == VAL_NULL) {
        put32(o, 0xFFFFFFFFu);
        return 0;
    }
    switch ((enum bin_enc)w->enc[col]) {
    case BIN_BOOL:
        if (v->kind == VAL_INT && (v->v.i == 0 || v->v.i == 1)) {
            i = v->v.i;
        } else if (v->kind == VAL_TEXT) {
            char tmp[16];
            const char *s = text_of(b, v, tmp, sizeof tmp);
            if (s && (!strcasecmp(s, "t") || !strcasecmp(s, "true") || !strcasecmp(s, "1") ||
                      !strcasecmp(s, "yes") || !strcasecmp(s, "on") || !strcasecmp(s, "y")))
                i = 1;
            else if (s && (!strcasecmp(s, "f") || !strcasecmp(s, "false") || !strcmp(s, "0") ||
                           !strcasecmp(s, "no") || !strcasecmp(s, "off") || !strcasecmp(s, "n")))
                i = 0;
            else
                return bin_error(w, b, v, col, "boolean", err);
        } else {
            return bin_error(w, b, v, col, "boolean", err);
        }
        put32(o, 1);
        buf_addc(o, (char)i);
        return 0;
    case BIN_INT2:
        if (!int_of(b, v, &i) || i < INT16_MIN || i > INT16_MAX)
            return bin_error(w, b, v, col, "smallint", err);
        put32(o, 2);
        put16(o, (uint16_t)(int16_t)i);
        return 0;
    case BIN_INT4:
        if (!int_of(b, v, &i) || i < INT32_MIN || i > INT32_MAX)
            return bin_error(w, b, v, col, "integer", err);
        put32(o, 4);
        put32(o, (uint32_t)(int32_t)i);
        return 0;
    case BIN_INT8:
        if (!int_of(b, v, &i))
            return bin_error(w, b, v, col, "bigint", err);
        put32(o, 8);
        put64(o, (uint64_t)i);
        return 0;
    case BIN_FLOAT4: {
        if (!double_of(b, v, &d))
            return bin_error(w, b, v, col, "real", err);
        float f = (float)d;
        if (isinf(f) && !isinf(d))
            return bin_error(w, b, v, col, "real (out of range)", err);
        uint32_t u;
        memcpy(&u, &f, 4);
        put32(o, 4);
        put32(o, u);
        return 0;
    }
    case BIN_FLOAT8: {
        if (!double_of(b, v, &d))
            return bin_error(w, b, v, col, "double precision", err);
        uint64_t u;
        memcpy(&u, &d, 8);
        put32(o, 8);
        put64(o, u);
        return 0;
    }
    case BIN_NUMERIC: {
        char tmp[1100];
        const char *s = NULL;
        if (v->kind == VAL_INT)
            snprintf(num, sizeof num, "%lld", (long long)v->v.i), s = num;
        else if (v->kind == VAL_UINT)
            snprintf(num, sizeof num, "%llu", (unsigned long long)v->v.u), s = num;
        else if (v->kind == VAL_DOUBLE)
            snprintf(num, sizeof num, "%.17g", v->v.d), s = num;
        else
            s = text_of(b, v, tmp, sizeof tmp);
        if (!s || !put_numeric(o, s))
            return bin_error(w, b, v, col, "numeric", err);
        return 0;
    }
    case BIN_JSONB:
    case BIN_TEXT: {
        const char *p;
        size_t n;
        bool jsonb = w->enc[col] == BIN_JSONB;
        if (v->kind == VAL_TEXT || v->kind == VAL_BLOB) {
            p = rowbatch_bytes(b, v);
            n = v->len;
            if (memchr(p, '\0', n))
                return value_error(w, col, "PostgreSQL text cannot hold a NUL byte", p, n, err);
        } else if (v->kind == VAL_INT) {
            n = (size_t)snprintf(num, sizeof num, "%lld", (long long)v->v.i), p = num;
        } else if (v->kind == VAL_UINT) {
            n = (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)v->v.u), p = num;
        } else if (isnan(v->v.d)) {
            n = 3, p = "NaN";
        } else if (isinf(v->v.d)) {
            p = v->v.d > 0 ? "Infinity" : "-Infinity", n = strlen(p);
        } else {
            n = (size_t)snprintf(num, sizeof num, "%.17g", v->v.d), p = num;
        }
        if (n + jsonb > INT32_MAX)
            return value_error(w, col, "value too long for COPY", p, n, err);
        put32(o, (uint32_t)(n + jsonb));
        if (jsonb)
            buf_addc(o, 1);
        buf_add(o, p, n);
        return 0;
    }
    case BIN_BYTEA:
        if (v->kind != VAL_TEXT && v->kind != VAL_BLOB) {
            int n = v->kind == VAL_INT ? snprintf(num, sizeof num, "%lld", (long long)v->v.i)
                    : v->kind == VAL_UINT
                        ? snprintf(num, sizeof num, "%llu", (unsigned long long)v->v.u)
                        : snprintf(num, sizeof num, "%.17g", v->v.d);
            return value_error(w, col, "a number cannot go to a bytea column", num, (size_t)n, err);
        }
        put32(o, v->len);
        buf_add(o, rowbatch_bytes(b, v), v->len);
        return 0;
    case BIN_DATE:
    case BIN_TIMESTAMP: {
        bool ts = w->enc[col] == BIN_TIMESTAMP;
        char tmp[64];
        const char *s = v->kind == VAL_TEXT ? text_of(b, v, tmp, sizeof tmp) : NULL;
        if (s && (!strcmp(s, "infinity") || !strcmp(s, "-infinity"))) {
            bool pos = s[0] == 'i';
            if (ts) {
                put32(o, 8);
                put64(o, pos ? (uint64_t)INT64_MAX : (uint64_t)INT64_MIN);
            } else {
                put32(o, 4);
                put32(o, pos ? (uint32_t)INT32_MAX : (uint32_t)INT32_MIN);
            }
            return 0;
        }
        /* PostgreSQL's ranges: 4713 BC to 294276 AD (timestamps), 5874897 AD (dates) */
        if (!s || !parse_datetime(s, ts, &days, &usec) || days < -2451545 ||
            days > (ts ? 106751990 : INT32_MAX / 2))
            return bin_error(w, b, v, col, ts ? "timestamp" : "date", err);
        if (ts) {
            put32(o, 8);
            put64(o, (uint64_t)(days * 86400000000LL + usec));
        } else {
            put32(o, 4);
            put32(o, (uint32_t)(int32_t)days);
        }
        return 0;
    }
    }
    return mms_err_set(err, 500, E_INTERNAL, "writing %s: no binary encoder for column \"%s\"",
                       w->what, w->cols[col].name);
}

/* Hands the buffered COPY data to libpq. */
static int copy_flush(struct pg_writer *w, struct mms_err *err)
{
    if (w->data.len == 0)
        return 0;
    if (PQputCopyData(w->pg, w->data.p, (int)w->data.len) != 1) {
        /* the server may have failed the COPY already: fetch its error */
        PQputCopyEnd(w->pg, NULL);
        w->in_copy = false;
        PGresult *res = PQgetResult(w->pg);
        pg_fail(err, w->pg, res, "writing %s", w->what);
        PQclear(res);
        while ((res = PQgetResult(w->pg)))
            PQclear(res);
        return -1;
    }
    buf_clear(&w->data);
    return 0;
}

static int pg_write_batch(struct conn_writer *writer, const struct rowbatch *b, struct mms_err *err)
{
    struct pg_writer *w = (struct pg_writer *)writer;
    if (b->ncols != w->ncols)
        return mms_err_set(err, 500, E_INTERNAL, "writing %s: batch has %zu columns, not %zu",
                           w->what, b->ncols, w->ncols);
    if (!w->in_copy)
        return mms_err_set(err, 500, E_INTERNAL, "writing %s: the COPY has already ended", w->what);
    for (size_t r = 0; r < b->nrows; r++) {
        const struct val *row = rowbatch_row(b, r);
        if (w->binary) {
            put16(&w->data, (uint16_t)w->ncols);
            for (size_t i = 0; i < w->ncols; i++)
                if (encode_binary(w, b, &row[i], i, err) < 0)
                    return -1;
            if (w->data.len >= PG_COPY_CHUNK && copy_flush(w, err) < 0)
                return -1;
            continue;
        }
        for (size_t i = 0; i < w->ncols; i++) {
            if (i)
                buf_addc(&w->data, '\t');
            if (encode_value(w, b, &row[i], i, err) < 0)
                return -1;
        }
        buf_addc(&w->data, '\n');
        if (w->data.len >= PG_COPY_CHUNK && copy_flush(w, err) < 0)
            return -1;
    }
    return copy_flush(w, err);
}

/* Best effort: end what is open and drop the staging table. */
static void discard(struct pg_writer *w)
{
    PGresult *res;
    if (w->in_copy) {
        PQputCopyEnd(w->pg, "aborted by mms");
        w->in_copy = false;
        while ((res = PQgetResult(w->pg)))
            PQclear(res);
    }
    if (PQtransactionStatus(w->pg) == PQTRANS_INERROR ||
        PQtransactionStatus(w->pg) == PQTRANS_INTRANS)
        PQclear(PQexec(w->pg, "ROLLBACK"));
    if (w->joined)
        return; /* the staging table is the primary's to drop */
    struct buf sql;
    buf_init(&sql, BUF_NO_LIMIT);
    buf_adds(&sql, "DROP TABLE IF EXISTS ");
    sql_qname(&sql, w->schema, w->stage);
    struct mms_err derr = {0};
    if (PQstatus(w->pg) == CONNECTION_OK &&
        pg_exec(w->pg, buf_str(&sql), "dropping the staging table", &derr) < 0)
        log_warn("postgresql: %s: %s", w->what, derr.msg);
    buf_release(&sql);
}

static int pg_write_commit(struct conn_writer *writer, struct mms_err *err)
{
    struct pg_writer *w = (struct pg_writer *)writer;
    struct buf sql;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    if (w->binary && w->in_copy)
        put16(&w->data, 0xFFFF); /* the file trailer */
    if (copy_flush(w, err) < 0)
        goto fail;
    if (PQputCopyEnd(w->pg, NULL) != 1) {
        pg_fail(err, w->pg, NULL, "writing %s", w->what);
        goto fail;
    }
    w->in_copy = false;
    PGresult *res;
    int failed = 0;
    while ((res = PQgetResult(w->pg))) {
        if (!failed && PQresultStatus(res) != PGRES_COMMAND_OK)
            failed = pg_fail(err, w->pg, res, "writing %s", w->what);
        PQclear(res);
    }
    if (failed)
        goto fail;
    if (w->joined) { /* its rows are in the staging table; the primary swaps it in */
        rc = 0;
        goto out;
    }
    if (w->part) {
        /* The parent first, exclusively: commits of partitions of one table take turns (no
         * deadlock between a drop and an attach that checks the default partition). */
        buf_adds(&sql, "BEGIN; LOCK TABLE ");
        sql_qname(&sql, w->schema, w->table);
        buf_adds(&sql, " IN ACCESS EXCLUSIVE MODE; DROP TABLE IF EXISTS ");
        sql_qname(&sql, w->schema, w->part);
        buf_adds(&sql, "; ALTER TABLE ");
        sql_qname(&sql, w->schema, w->table);
        buf_adds(&sql, " ATTACH PARTITION ");
        sql_qname(&sql, w->schema, w->stage);
        buf_printf(&sql, " %s; ALTER TABLE ", w->bound);
        sql_qname(&sql, w->schema, w->stage);
        buf_adds(&sql, " RENAME TO ");
        sql_ident(&sql, w->part);
        buf_adds(&sql, "; COMMIT");
    } else {
        buf_adds(&sql, "BEGIN; DROP TABLE IF EXISTS ");
        sql_qname(&sql, w->schema, w->table);
        buf_adds(&sql, "; ALTER TABLE ");
        sql_qname(&sql, w->schema, w->stage);
        buf_adds(&sql, " RENAME TO ");
        sql_ident(&sql, w->table);
        buf_adds(&sql, "; COMMIT");
    }
    if (pg_exec(w->pg, buf_str(&sql), "replacing the destination table", err) < 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    discard(w);
out:
    buf_release(&sql);
    writer_free(w);
    return rc;
}

static const char *pg_reader_sql(struct conn_reader *reader)
{
    return ((struct pg_reader *)reader)->sql;
}

static const char *pg_writer_sql(struct conn_writer *writer)
{
    return ((struct pg_writer *)writer)->sql;
}

static void pg_write_abort(struct conn_writer *writer)
{
    struct pg_writer *w = (struct pg_writer *)writer;
    if (!w)
        return;
    discard(w);
    writer_free(w);
}

/* Another COPY stream into the primary's staging table, on its own connection. */
static int pg_write_join(struct conn_writer *primary, struct conn_writer **out,
                         struct mms_err *err)
{
    struct pg_writer *p = (struct pg_writer *)primary;
    struct pg_writer *w = xcalloc(1, sizeof *w);
    int rc = -1;
    buf_init(&w->data, BUF_NO_LIMIT);
    w->joined = true;
    w->conn = p->conn;
    w->schema = xstrdup(p->schema);
    w->table = xstrdup(p->table);
    w->stage = xstrdup(p->stage);
    w->what = xstrdup(p->what);
    w->project = xstrdup(p->project);
    w->copy_sql = xstrdup(p->copy_sql);
    w->sql = xstrdup(p->copy_sql);
    w->ncols = p->ncols;
    w->cols = xcalloc(w->ncols ? w->ncols : 1, sizeof *w->cols);
    for (size_t i = 0; i < w->ncols; i++) {
        w->cols[i].name = xstrdup(p->cols[i].name);
        w->cols[i].type = p->cols[i].type;
    }
    w->binary = p->binary;
    if (p->binary) {
        w->enc = xmalloc(w->ncols ? w->ncols : 1);
        memcpy(w->enc, p->enc, w->ncols);
        w->oids = xcalloc(w->ncols ? w->ncols : 1, sizeof *w->oids);
        memcpy(w->oids, p->oids, w->ncols * sizeof *w->oids);
    }
    if (pg_dest_connect(w->conn, w->project, false, &w->pg, err) < 0 || copy_in_start(w, err) < 0)
        goto out;
    rc = 0;
out:
    if (rc == 0)
        *out = (struct conn_writer *)w;
    else
        writer_free(w);
    return rc;
}

/* ---- raw copy: PostgreSQL -> PostgreSQL in binary COPY format ----------------------------
 * When a PostgreSQL source feeds a PostgreSQL destination and every column of the source's
 * SELECT has exactly the type of the staging table's column (same type OIDs: the built-in types
 * a schema migration maps to themselves), the rows need no conversion at all: the source is
 * read with COPY ... TO STDOUT (FORMAT binary) and each row goes as it is into the destination's
 * COPY ... FROM STDIN (FORMAT binary). mms then only walks each row's field lengths (to count
 * rows and to check the framing) and copies bytes; the servers do binary output and input, the
 * cheapest they have. A type mismatch, a writer in text format, casts or appended key columns
 * (the engine checks those) keep the ordinary path, which converts every value. */

static int raw_types_match(PGconn *pg, const char *select_sql, const struct pg_writer *w,
                           size_t ncols, struct mms_err *err)
{
    if (!w->binary || !w->oids || w->ncols != ncols)
        return 1;
    char *q = xasprintf("%s LIMIT 0", select_sql);
    PGresult *res = PQexec(pg, q);
    free(q);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_fail(err, pg, res, "describing the columns to read");
        PQclear(res);
        return -1;
    }
    int same = PQnfields(res) == (int)ncols;
    for (int i = 0; same && i < (int)ncols; i++)
        same = (unsigned)PQftype(res, i) == w->oids[i];
    PQclear(res);
    return same ? 0 : 1;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int raw_frame_error(struct pg_reader *r, struct mms_err *err)
{
    return mms_err_set(err, 500, E_INTERNAL, "reading %s: malformed binary COPY data", r->what);
}

/* One CopyData message of a binary COPY OUT: [header] rows... [trailer]. Appends the rows to
 * the writer's buffer and counts them; *end when the trailer was seen. */
static int raw_message(struct pg_reader *r, const unsigned char *p, size_t n, int64_t *rows,
                       bool *end, struct mms_err *err)
{
    static const unsigned char sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0377, '\r', '\n', 0};
    size_t i = 0;
    if (!r->raw_header) {
        if (n < 19 || memcmp(p, sig, 11) != 0)
            return raw_frame_error(r, err);
        uint32_t ext = get32(p + 15);
        if (ext > n - 19)
            return raw_frame_error(r, err);
        i = 19 + ext;
        r->raw_header = true;
    }
    size_t start = i;
    while (i < n) {
        if (n - i < 2)
            return raw_frame_error(r, err);
        int16_t nf = (int16_t)((uint16_t)p[i] << 8 | p[i + 1]);
        if (nf == -1) { /* the trailer: nothing may follow */
            if (i + 2 != n)
                return raw_frame_error(r, err);
            *end = true;
            break;
        }
        if (nf != (int16_t)r->ncols)
            return raw_frame_error(r, err);
        i += 2;
        for (int f = 0; f < nf; f++) {
            if (n - i < 4)
                return raw_frame_error(r, err);
            int32_t len = (int32_t)get32(p + i);
            i += 4;
            if (len == -1)
                continue;
            if (len < 0 || (size_t)len > n - i)
                return raw_frame_error(r, err);
            i += (size_t)len;
        }
        (*rows)++;
    }
    buf_add(&r->raw->data, (const char *)p + start, (*end ? n - 2 : n) - start);
    return 0;
}

static int pg_raw_open(struct conn *conn, const char *db, const char *table, const char *partition,
                       const struct conn_schema *schema, const struct conn_slice *slice,
                       struct conn_writer *writer, struct conn_reader **out, struct mms_err *err)
{
    struct pg_writer *w = (struct pg_writer *)writer;
    if (!w || !w->conn || !w->binary || !w->in_copy)
        return 1;
    return open_source_reader(PGC(conn), db, table, partition, schema, slice, w, out, err);
}

static int pg_raw_next(struct conn_reader *reader, size_t max_rows, size_t max_bytes,
                       int64_t *rows_out, int64_t *bytes_out, struct mms_err *err)
{
    struct pg_reader *r = (struct pg_reader *)reader;
    struct pg_writer *w = r->raw;
    int64_t rows = 0, bytes = 0;
    *rows_out = *bytes_out = 0;
    if (!w)
        return mms_err_set(err, 500, E_INTERNAL, "reading %s: not a raw reader", r->what);
    while (!r->done && (size_t)rows < max_rows && (size_t)bytes < max_bytes) {
        char *msg = NULL;
        int n = PQgetCopyData(r->pg, &msg, 0);
        if (n == -1) {
            r->done = true;
            if (copy_out_end(r, err) < 0)
                return -1;
            break;
        }
        if (n < 0) {
            r->done = true;
            return pg_fail(err, r->pg, NULL, "reading %s", r->what);
        }
        bool end = false;
        int rc = raw_message(r, (const unsigned char *)msg, (size_t)n, &rows, &end, err);
        PQfreemem(msg);
        if (rc < 0)
            return -1;
        bytes += n;
        if (w->data.len >= PG_COPY_CHUNK && copy_flush(w, err) < 0)
            return -1;
    }
    if (copy_flush(w, err) < 0)
        return -1;
    *rows_out = rows;
    *bytes_out = bytes;
    return 0;
}

/* ---- verification ----------------------------------------------------------------------- */

static int pg_count_source(struct conn *conn, const char *db, const char *table,
                           const char *partition, int64_t *out, char **sql_out, struct mms_err *err)
{
    struct pg_conn *c = PGC(conn);
    const char *sch = db && db[0] ? db : "public";
    char *rel = NULL;
    if (need_source(c, err) < 0)
        return -1;
    if (partition && partition_table(c->pg, sch, table, partition, &rel, err) < 0)
        return -1;
    int64_t n = count_rows(c->pg, sch, rel ? rel : table, sql_out, err);
    free(rel);
    if (n < 0)
        return -1;
    *out = n;
    return 0;
}

static int pg_count_dest(struct conn *conn, const struct conn_target *t, const char *partition,
                         int64_t *out, char **sql_out, struct mms_err *err)
{
    PGconn *pg = NULL;
    if (pg_dest_connect(PGC(conn), t->project, false, &pg, err) < 0)
        return -1;
    char *rel = partition ? part_table_name(t->table, partition) : xstrdup(t->table);
    int64_t n = count_rows(pg, dest_schema(t), rel, sql_out, err);
    free(rel);
    PQfinish(pg);
    if (n < 0)
        return -1;
    *out = n;
    return 0;
}

static int pg_read_dest_open(struct conn *conn, const struct conn_target *t, const char *partition,
                             const struct conn_schema *schema, struct conn_reader **out,
                             struct mms_err *err)
{
    PGconn *pg = NULL;
    if (pg_dest_connect(PGC(conn), t->project, false, &pg, err) < 0)
        return -1;
    char *rel = partition ? part_table_name(t->table, partition) : xstrdup(t->table);
    char *what =
        xasprintf("table \"%s\".\"%s\" in database \"%s\"", dest_schema(t), rel, t->project);
    int rc = reader_start(pg, dest_schema(t), rel, NULL, what, schema, out, err);
    free(rel);
    free(what);
    return rc;
}

const struct conn_ops conn_pg_ops = {
    .type = PG_TYPE,
    .url_scheme = "postgresql",
    .open_source = pg_open_source,
    .open_dest = pg_open_dest,
    .close = pg_close,
    .ping = pg_ping,
    .list_dbs = pg_list_dbs,
    .list_tables = pg_list_tables,
    .list_partitions = pg_list_partitions,
    .table_schema = pg_table_schema,
    .read_open = pg_read_open,
    .read_next = pg_read_next,
    .read_close = pg_read_close,
    .create_table = pg_create_table,
    .write_begin = pg_write_begin,
    .write_batch = pg_write_batch,
    .write_commit = pg_write_commit,
    .write_abort = pg_write_abort,
    .count_source = pg_count_source,
    .count_dest = pg_count_dest,
    .read_dest_open = pg_read_dest_open,
    .reader_sql = pg_reader_sql,
    .writer_sql = pg_writer_sql,
    .key_range = pg_key_range,
    .read_open_slice = pg_read_open_slice,
    .write_join = pg_write_join,
    .raw_open = pg_raw_open,
    .raw_next = pg_raw_next,
};
