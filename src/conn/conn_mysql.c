/* The MySQL / MariaDB connector (libmariadb).
 *
 * Source: a server (config items mysql.host, mysql.port, mysql.user, mysql.password,
 * mysql.database, mysql.ssl_mode, mysql.connect_timeout); its dbs are the server's databases
 * except the system ones (mysql, information_schema, performance_schema, sys), or only
 * mysql.database when set. Destination: mysql://user:password@host:port/ where project P is the
 * database P (created if missing); MySQL has no schema level under a database, so
 * conn_target.schema is ignored.
 *
 * Sessions. Every handle runs with time_zone '+00:00' (TIMESTAMP values are read and written in
 * UTC), character set utf8mb4, and a strict sql_mode, so a value the column cannot hold is an
 * error (ConnectorError.Value naming table, column and value) instead of being clipped.
 *
 * Reading streams: mysql_real_query + mysql_use_result, one row at a time from the socket, on a
 * handle the reader owns (a streaming result occupies its connection until the end). Values go
 * through the text protocol, which is exact for everything but FLOAT columns: DOUBLE values are
 * printed as the shortest text that parses back to the same binary double (measured on MariaDB
 * 10.11: 0.30000000000000004, 5e-324 and 2.2250738585072014e-308 come back bit-exact), FLOAT
 * values only with 6 digits ("16777200" for 16777217), so FLOAT columns are selected as
 * CAST(c AS DOUBLE), which is exact (every float is a double) and printed exactly.
 *
 * Writing: rows go to `__mms_stage_<table>` (created LIKE the target when it exists, else from
 * the canonical schema) with multi-row INSERT statements of at most ~1 MiB; write_commit swaps
 * with one atomic RENAME TABLE target TO old, stage TO target, then drops the old table.
 *
 * Partitions at the destination. A partitioned schema whose key columns are data columns (the
 * engine makes them so, docs/engine.md "Partition keys") becomes a plain table. Writing the
 * partition "k1=v1/k2=v2" stages its rows in `__mms_stage_<table>$<spec>` (hashed when too
 * long); write_commit then runs, in one transaction, DELETE FROM target WHERE `k1` <=> @v1 AND
 * ... ; INSERT INTO target SELECT * FROM stage, and drops the staging table after the commit
 * (a leftover is dropped by the next write_begin). The key values are never spliced into SQL:
 * they are bound as parameters of a prepared SET @mms_pk<i> = ? (integers as integers, text as
 * text, Hive's __HIVE_DEFAULT_PARTITION__ as NULL), and the statements compare with the
 * variables. count_dest and read_dest_open of a partition use the same WHERE. */
#include "conn/conn.h"
#include "conn/partspec.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <mysql.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MY_TYPE "MYSQL"
#define MY_STAGE_PREFIX "__mms_stage_"
#define MY_OLD_PREFIX "__mms_old_"
#define MY_IDENT_MAX 64                  /* characters of a MySQL identifier */
#define MY_STMT_BYTES ((size_t)1 << 20)  /* target size of one INSERT statement */
#define MY_COMMIT_BYTES ((size_t)64 << 20) /* staged bytes per transaction */
#define MY_DEFAULT_PORT 3306
#define MY_DEFAULT_CONNECT_TIMEOUT 10
#define MY_CLIENT_MAX_PACKET (1UL << 30)
#define MY_VARCHAR_MAX 4096  /* longer varchar(n) become LONGTEXT (InnoDB's 64 KB row limit) */
#define MY_CHAR_MAX 255
#define MY_DECIMAL_MAX_P 65
#define MY_DECIMAL_MAX_S 30

/* The session every handle runs in. NO_AUTO_VALUE_ON_ZERO: a 0 copied into an AUTO_INCREMENT
 * column of a staging table created LIKE the target stays 0. */
static const char session_sql[] =
    "SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,"
    "NO_AUTO_VALUE_ON_ZERO', net_write_timeout = 3600, net_read_timeout = 3600,"
    " lock_wait_timeout = 600";

enum my_ssl { SSL_DISABLED, SSL_PREFERRED, SSL_REQUIRED, SSL_VERIFY_CA, SSL_VERIFY_IDENTITY };

struct my_params {
    char *host;
    unsigned port;
    char *user;
    char *password;
    enum my_ssl ssl;
    unsigned connect_timeout;
};

struct my_conn {
    struct conn_base base;
    struct my_params p;
    MYSQL *h;       /* catalog, counts, DDL */
    char *only_db;  /* source: mysql.database, or NULL for every database */
    bool dest;
    char *where;    /* "host:port", for messages */
};

/* How the reader turns one result column's text into a value. */
enum my_conv {
    CV_INT,
    CV_UINT64,
    CV_DOUBLE,
    CV_TEXT,
    CV_BLOB,
    CV_BIT,
    CV_DATE,
    CV_TIME,
    CV_DATETIME,
};

struct my_reader {
    MYSQL *h;
    MYSQL_RES *res;
    size_t ncols;
    enum my_conv *conv;
    char **names;  /* column names, for messages */
    bool done;
    bool zero_null; /* the zeroDateToNull cast: zero dates read as NULL */
    char *what;    /* "table `db`.`t`", for messages */
};

/* A destination partition spec "k1=v1/k2=v2", percent-decoded; vals[i] NULL for Hive's
 * __HIVE_DEFAULT_PARTITION__. is_int/ival after mypart_resolve. */
struct my_writer {
    MYSQL *h;
    char *db;
    char *table;
    char *stage;
    char *old;
    char *what;
    char **names;
    size_t ncols;
    size_t max_stmt;  /* the server's max_allowed_packet, less some slack */
    size_t pending;   /* SQL bytes sent since the last commit */
    struct buf sql;
    char *scratch;    /* escape buffer */
    size_t scratch_cap;
    char *spec;       /* writing one partition inside the plain table: its spec, else NULL */
    struct part_spec part;
    /* write_join: the connector to open another session with; a joined writer (joined) inserts
     * into the primary's staging table in its own transaction and only commits it. */
    struct my_conn *conn;
    bool joined;
};

static struct my_conn *MY(struct conn *c)
{
    return (struct my_conn *)c;
}

/* ---- errors ----------------------------------------------------------------------------- */

#define E_CONFIG "ConnectorError.Config"
#define E_CONNECT "ConnectorError.Connect"
#define E_NOTFOUND "ConnectorError.NotFound"
#define E_MISMATCH "ConnectorError.SchemaMismatch"
#define E_UNSUPPORTED "ConnectorError.Unsupported"
#define E_VALUE "ConnectorError.Value"
#define E_INTERNAL "ConnectorError.Internal"
#define E_QUERY "ConnectorError.Query"
#define E_BUSY "ConnectorError.Busy"

/* Server errors that mean "this value does not fit this column". */
static bool my_errno_is_value(unsigned e)
{
    switch (e) {
    case 1048: /* ER_BAD_NULL_ERROR */
    case 1062: /* ER_DUP_ENTRY: a key of a target created by its owner */
    case 1263: /* ER_WARN_NULL_TO_NOTNULL */
    case 1264: /* ER_WARN_DATA_OUT_OF_RANGE */
    case 1265: /* WARN_DATA_TRUNCATED */
    case 1292: /* ER_TRUNCATED_WRONG_VALUE */
    case 1300: /* ER_INVALID_CHARACTER_STRING */
    case 1365: /* ER_DIVISION_BY_ZERO */
    case 1366: /* ER_TRUNCATED_WRONG_VALUE_FOR_FIELD */
    case 1367: /* ER_ILLEGAL_VALUE_FOR_TYPE */
    case 1406: /* ER_DATA_TOO_LONG */
    case 1411: /* ER_WRONG_VALUE_FOR_TYPE */
    case 1977: /* ER_CANNOT_CONVERT_CHARACTER */
    case 3140: /* ER_INVALID_JSON_TEXT (MySQL) */
    case 4025: /* ER_CONSTRAINT_FAILED (MariaDB JSON is a CHECK json_valid) */
        return true;
    default:
        return false;
    }
}

/* A failed libmariadb call: "<what>: <server message>". Client errors (2000-2999: connection
 * refused, lost, gone away) are ConnectorError.Connect with 503, worth retrying. */
static int my_fail(struct mms_err *err, MYSQL *h, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int my_fail(struct mms_err *err, MYSQL *h, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    unsigned e = h ? mysql_errno(h) : 0;
    const char *msg = h ? mysql_error(h) : "out of memory";
    if (e >= 2000 && e < 3000)
        return mms_err_set(err, 503, E_CONNECT, "%s: %s (%u)", what, msg, e);
    if (e == 1205 || e == 1213) /* lock wait timeout, deadlock: worth retrying */
        return mms_err_set(err, 503, E_BUSY, "%s: %s (%u)", what, msg, e);
    if (e == 1146 || e == 1049) /* no such table / database */
        return mms_err_set(err, 404, E_NOTFOUND, "%s: %s (%u)", what, msg, e);
    if (my_errno_is_value(e))
        return mms_err_set(err, 400, E_VALUE, "%s: %s (%u)", what, msg, e);
    return mms_err_set(err, 500, E_QUERY, "%s: %s (%u)", what, msg, e);
}

/* ---- SQL text --------------------------------------------------------------------------- */

/* Appends a backtick-quoted identifier; embedded backticks are doubled, every other byte is
 * literal inside the quotes. */
static void sql_ident(struct buf *b, const char *name)
{
    conn_sql_ident(b, '`', name);
}

static void sql_ident2(struct buf *b, const char *db, const char *name)
{
    sql_ident(b, db);
    buf_addc(b, '.');
    sql_ident(b, name);
}

/* Appends n bytes as a quoted string literal escaped for the connection's character set. */
static void sql_str_n(struct buf *b, MYSQL *h, const char *s, size_t n)
{
    buf_reserve(b, 2 * n + 3);
    b->p[b->len++] = '\'';
    b->len += mysql_real_escape_string(h, b->p + b->len, s, (unsigned long)n);
    b->p[b->len++] = '\'';
    b->p[b->len] = '\0';
}

static void sql_str(struct buf *b, MYSQL *h, const char *s)
{
    sql_str_n(b, h, s, strlen(s));
}

static int my_exec(MYSQL *h, const char *sql, size_t n, const char *what, struct mms_err *err)
{
    if (mysql_real_query(h, sql, (unsigned long)n) != 0)
        return my_fail(err, h, "%s", what);
    /* statements that return rows (none expected) must be drained */
    MYSQL_RES *res = mysql_store_result(h);
    if (res)
        mysql_free_result(res);
    return 0;
}

static int my_execb(MYSQL *h, const struct buf *sql, const char *what, struct mms_err *err)
{
    return my_exec(h, buf_str(sql), sql->len, what, err);
}

/* Runs a small catalog query and returns its whole result (mysql_store_result: catalog rows
 * only, never table data). */
static int my_query(MYSQL *h, const struct buf *sql, const char *what, MYSQL_RES **out,
                    struct mms_err *err)
{
    *out = NULL;
    if (mysql_real_query(h, buf_str(sql), (unsigned long)sql->len) != 0)
        return my_fail(err, h, "%s", what);
    *out = mysql_store_result(h);
    if (!*out)
        return my_fail(err, h, "%s", what);
    return 0;
}

static int64_t parse_i64(const char *s, int64_t dflt)
{
    if (!s)
        return dflt;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno)
        return dflt;
    return (int64_t)v;
}

/* Number of UTF-8 characters (identifier limits count characters). */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* "<prefix><table>", or "<prefix><16 hex digits of a hash of the name>" when that would pass
 * MySQL's 64-character identifier limit. */
static char *aux_name(const char *prefix, const char *table)
{
    if (utf8_chars(prefix) + utf8_chars(table) <= MY_IDENT_MAX)
        return xasprintf("%s%s", prefix, table);
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)table; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return xasprintf("%s%016" PRIx64, prefix, h);
}

/* ---- connecting ------------------------------------------------------------------------- */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
    mysql_library_init(0, NULL, NULL);
}

static void params_release(struct my_params *p)
{
    free(p->host);
    free(p->user);
    free(p->password);
    memset(p, 0, sizeof *p);
}

static void params_copy(struct my_params *dst, const struct my_params *src)
{
    *dst = *src;
    dst->host = src->host ? xstrdup(src->host) : NULL;
    dst->user = src->user ? xstrdup(src->user) : NULL;
    dst->password = src->password ? xstrdup(src->password) : NULL;
}

static int ssl_parse(const char *s, enum my_ssl *out)
{
    static const struct {
        const char *name;
        enum my_ssl v;
    } modes[] = {
        {"DISABLED", SSL_DISABLED},   {"PREFERRED", SSL_PREFERRED},
        {"REQUIRED", SSL_REQUIRED},   {"VERIFY_CA", SSL_VERIFY_CA},
        {"VERIFY_IDENTITY", SSL_VERIFY_IDENTITY},
    };
    if (!s || !s[0]) {
        *out = SSL_PREFERRED;
        return 0;
    }
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strcasecmp(s, modes[i].name) == 0) {
            *out = modes[i].v;
            return 0;
        }
    return -1;
}

/* Opens a session with the settings above. */
static int my_connect(const struct my_params *p, MYSQL **out, struct mms_err *err)
{
    pthread_once(&lib_once, lib_init);
    MYSQL *h = mysql_init(NULL);
    if (!h)
        return mms_err_set(err, 500, E_INTERNAL, "mysql_init failed (out of memory)");
    unsigned timeout = p->connect_timeout;
    unsigned long maxp = MY_CLIENT_MAX_PACKET;
    mysql_options(h, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(h, MYSQL_OPT_MAX_ALLOWED_PACKET, &maxp);
    mysql_options(h, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (p->ssl >= SSL_REQUIRED) {
        my_bool on = 1;
        mysql_options(h, MYSQL_OPT_SSL_ENFORCE, &on);
        if (p->ssl >= SSL_VERIFY_CA)
            mysql_options(h, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
    }
    if (!mysql_real_connect(h, p->host, p->user, p->password, NULL, p->port, NULL, 0)) {
        mms_err_set(err, 503, E_CONNECT, "cannot connect to MySQL at %s:%u as '%s': %s (%u)",
                    p->host, p->port, p->user ? p->user : "", mysql_error(h), mysql_errno(h));
        mysql_close(h);
        return -1;
    }
    if (my_exec(h, session_sql, sizeof session_sql - 1, "setting up the session", err) < 0) {
        mysql_close(h);
        return -1;
    }
    *out = h;
    return 0;
}

/* A config value given as a JSON string (or, for numbers, an integer) into out; NULL when
 * absent or of another JSON type. */
static const char *cfg_str(json_t *config, const char *key, char *out, size_t n)
{
    json_t *v = json_is_object(config) ? json_object_get(config, key) : NULL;
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v) && out) {
        snprintf(out, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return out;
    }
    return NULL;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!s[0] || *end || errno || s[0] == '-' || v < lo || v > hi)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static struct my_conn *conn_new(const struct my_params *p, MYSQL *h, bool dest)
{
    struct my_conn *c = xcalloc(1, sizeof *c);
    c->base.ops = &conn_mysql_ops;
    params_copy(&c->p, p);
    c->h = h;
    c->dest = dest;
    c->where = xasprintf("%s:%u", p->host, p->port);
    return c;
}

static int my_open_source(struct conn **out, json_t *config, struct mms_err *err)
{
    struct my_params p = {0};
    char num1[32], num2[32];
    MYSQL *h = NULL;
    int rc = -1;
    const char *host = cfg_str(config, "mysql.host", NULL, 0);
    const char *port = cfg_str(config, "mysql.port", num1, sizeof num1);
    const char *timeout = cfg_str(config, "mysql.connect_timeout", num2, sizeof num2);
    const char *user = cfg_str(config, "mysql.user", NULL, 0);
    const char *password = cfg_str(config, "mysql.password", NULL, 0);
    const char *db = cfg_str(config, "mysql.database", NULL, 0);
    const char *ssl = cfg_str(config, "mysql.ssl_mode", NULL, 0);

    if (!host || !host[0]) {
        mms_err_set(err, 400, E_CONFIG, "config item mysql.host is required");
        goto out;
    }
    p.host = xstrdup(host);
    p.port = MY_DEFAULT_PORT;
    if (port && port[0] && parse_uint(port, 1, 65535, &p.port) < 0) {
        mms_err_set(err, 400, E_CONFIG, "config item mysql.port must be 1 to 65535, not '%s'",
                    port);
        goto out;
    }
    p.connect_timeout = MY_DEFAULT_CONNECT_TIMEOUT;
    if (timeout && timeout[0] && parse_uint(timeout, 1, 3600, &p.connect_timeout) < 0) {
        mms_err_set(err, 400, E_CONFIG,
                    "config item mysql.connect_timeout must be 1 to 3600 seconds, not '%s'",
                    timeout);
        goto out;
    }
    if (ssl_parse(ssl, &p.ssl) < 0) {
        mms_err_set(err, 400, E_CONFIG,
                    "config item mysql.ssl_mode must be DISABLED, PREFERRED, REQUIRED, VERIFY_CA"
                    " or VERIFY_IDENTITY, not '%s'",
                    ssl);
        goto out;
    }
    p.user = user ? xstrdup(user) : NULL;
    p.password = password ? xstrdup(password) : NULL;
    if (my_connect(&p, &h, err) < 0)
        goto out;
    struct my_conn *c = conn_new(&p, h, false);
    if (db && db[0])
        c->only_db = xstrdup(db);
    *out = (struct conn *)c;
    rc = 0;
out:
    params_release(&p);
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

/* Percent-decodes s[0..n) into a new string; NULL on a bad escape or %00. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[j++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        out[j++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[j] = '\0';
    return out;
}

/* mysql://[user[:password]@]host[:port][/][?ssl_mode=X&connect_timeout=N] */
static int url_parse(const char *url, struct my_params *p, struct mms_err *err)
{
    static const char scheme[] = "mysql://";
    const char *s, *end, *at, *hp_end;
    memset(p, 0, sizeof *p);
    p->port = MY_DEFAULT_PORT;
    p->connect_timeout = MY_DEFAULT_CONNECT_TIMEOUT;
    p->ssl = SSL_PREFERRED;
    if (!url || strncasecmp(url, scheme, sizeof scheme - 1) != 0)
        goto bad;
    s = url + sizeof scheme - 1;
    end = s + strcspn(s, "/?#");
    at = NULL;
    for (const char *q = s; q < end; q++)
        if (*q == '@')
            at = q; /* the last '@': a password may hold an escaped one only */
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        size_t ulen = colon ? (size_t)(colon - s) : (size_t)(at - s);
        p->user = pct_decode(s, ulen);
        if (colon)
            p->password = pct_decode(colon + 1, (size_t)(at - colon - 1));
        if (!p->user || (colon && !p->password))
            goto bad;
        s = at + 1;
    }
    /* host, [v6], :port */
    hp_end = end;
    if (*s == '[') {
        const char *rb = memchr(s, ']', (size_t)(end - s));
        if (!rb)
            goto bad;
        p->host = xstrndup(s + 1, (size_t)(rb - s - 1));
        s = rb + 1;
    } else {
        const char *colon = memchr(s, ':', (size_t)(end - s));
        const char *hend = colon ? colon : end;
        p->host = pct_decode(s, (size_t)(hend - s));
        if (!p->host)
            goto bad;
        s = hend;
    }
    if (!p->host[0])
        goto bad;
    if (s < hp_end) {
        if (*s != ':')
            goto bad;
        char portbuf[16];
        size_t n = (size_t)(hp_end - s - 1);
        if (n == 0 || n >= sizeof portbuf)
            goto bad;
        memcpy(portbuf, s + 1, n);
        portbuf[n] = '\0';
        if (parse_uint(portbuf, 1, 65535, &p->port) < 0)
            goto bad;
    }
    s = end;
    if (*s == '/')
        s++;
    if (*s && *s != '?') {
        mms_err_set(err, 400, E_CONFIG,
                    "destination URL '%s': the path must be empty (the project names the MySQL"
                    " database)",
                    url);
        goto fail;
    }
    if (*s == '?') {
        char *q = xstrdup(s + 1), *save = NULL;
        int bad = 0;
        for (char *kv = strtok_r(q, "&", &save); kv && !bad; kv = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(kv, '=');
            if (!eq) {
                bad = 1;
                break;
            }
            *eq = '\0';
            if (strcmp(kv, "ssl_mode") == 0)
                bad = ssl_parse(eq + 1, &p->ssl) < 0;
            else if (strcmp(kv, "connect_timeout") == 0)
                bad = parse_uint(eq + 1, 1, 3600, &p->connect_timeout) < 0;
            else
                bad = 1;
        }
        free(q);
        if (bad) {
            mms_err_set(err, 400, E_CONFIG,
                        "destination URL '%s': only ssl_mode=DISABLED|PREFERRED|REQUIRED|"
                        "VERIFY_CA|VERIFY_IDENTITY and connect_timeout=1..3600 may follow '?'",
                        url);
            goto fail;
        }
    }
    return 0;
bad:
    mms_err_set(err, 400, E_CONFIG,
                "destination URL '%s' must be mysql://user:password@host:port/ (user and"
                " password percent-encoded)",
                url ? url : "");
fail:
    params_release(p);
    return -1;
}

static int my_open_dest(struct conn **out, const char *url, struct mms_err *err)
{
    struct my_params p;
    MYSQL *h = NULL;
    if (url_parse(url, &p, err) < 0)
        return -1;
    if (my_connect(&p, &h, err) < 0) {
        params_release(&p);
        return -1;
    }
    *out = (struct conn *)conn_new(&p, h, true);
    params_release(&p);
    return 0;
}

static void my_close(struct conn *conn)
{
    struct my_conn *c = MY(conn);
    if (!c)
        return;
    if (c->h)
        mysql_close(c->h);
    params_release(&c->p);
    free(c->only_db);
    free(c->where);
    free(c);
}

static int my_ping(struct conn *conn, struct mms_err *err)
{
    struct my_conn *c = MY(conn);
    static const char sql[] = "SELECT 1";
    if (my_exec(c->h, sql, sizeof sql - 1, "MySQL ping", err) < 0)
        return -1;
    return 0;
}

/* ---- type mapping ----------------------------------------------------------------------- */

static int32_t clamp32(int64_t v)
{
    return v > 0 && v <= INT32_MAX ? (int32_t)v : 0;
}

/* One column of information_schema.COLUMNS -> canonical type. */
static struct mms_type my_type_from_info(const char *data_type, const char *column_type,
                                         int64_t char_len, int64_t num_prec, int64_t num_scale,
                                         int64_t dt_prec, bool is_json)
{
    struct mms_type t = {.id = MT_TEXT};
    bool uns = strstr(column_type, "unsigned") != NULL;
    const char *d = data_type;

    if (strcmp(d, "tinyint") == 0) {
        if (strncmp(column_type, "tinyint(1)", 10) == 0 && !uns)
            t.id = MT_BOOL;
        else
            t.id = uns ? MT_UINT8 : MT_INT8;
    } else if (strcmp(d, "smallint") == 0) {
        t.id = uns ? MT_UINT16 : MT_INT16;
    } else if (strcmp(d, "mediumint") == 0 || strcmp(d, "int") == 0 ||
               strcmp(d, "integer") == 0) {
        t.id = uns ? MT_UINT32 : MT_INT32;
    } else if (strcmp(d, "bigint") == 0) {
        t.id = uns ? MT_UINT64 : MT_INT64;
    } else if (strcmp(d, "decimal") == 0 || strcmp(d, "numeric") == 0) {
        t.id = MT_DECIMAL;
        t.precision = clamp32(num_prec);
        t.scale = num_scale > 0 && num_scale <= t.precision ? (int32_t)num_scale : 0;
    } else if (strcmp(d, "float") == 0) {
        t.id = MT_FLOAT32;
    } else if (strcmp(d, "double") == 0 || strcmp(d, "real") == 0) {
        t.id = MT_FLOAT64;
    } else if (strcmp(d, "bit") == 0) {
        t.id = num_prec == 1 ? MT_BOOL : MT_UINT64;
    } else if (strcmp(d, "year") == 0) {
        t.id = MT_INT16;
    } else if (strcmp(d, "char") == 0) {
        t.id = MT_CHAR;
        t.length = clamp32(char_len);
    } else if (strcmp(d, "varchar") == 0 || strcmp(d, "enum") == 0 || strcmp(d, "set") == 0) {
        t.id = MT_VARCHAR;
        t.length = clamp32(char_len);
    } else if (strcmp(d, "binary") == 0 || strcmp(d, "varbinary") == 0) {
        t.id = MT_BINARY;
        t.length = clamp32(char_len);
    } else if (strstr(d, "blob") || strcmp(d, "geometry") == 0 || strcmp(d, "point") == 0 ||
               strcmp(d, "linestring") == 0 || strcmp(d, "polygon") == 0 ||
               strncmp(d, "multi", 5) == 0 || strcmp(d, "geometrycollection") == 0) {
        t.id = MT_BINARY;
    } else if (strcmp(d, "json") == 0) {
        t.id = MT_JSON;
    } else if (strstr(d, "text")) {
        t.id = is_json ? MT_JSON : MT_TEXT;
    } else if (strcmp(d, "date") == 0) {
        t.id = MT_DATE;
    } else if (strcmp(d, "time") == 0) {
        t.id = MT_TIME;
        t.scale = dt_prec > 0 && dt_prec <= 6 ? (int32_t)dt_prec : 0;
    } else if (strcmp(d, "datetime") == 0) {
        t.id = MT_DATETIME;
        t.scale = dt_prec > 0 && dt_prec <= 6 ? (int32_t)dt_prec : 0;
    } else if (strcmp(d, "timestamp") == 0) {
        t.id = MT_TIMESTAMP;
        t.scale = dt_prec > 0 && dt_prec <= 6 ? (int32_t)dt_prec : 0;
    }
    /* anything else (uuid, inet4, inet6, ...) is read as its text form */
    return t;
}

/* Canonical type -> MySQL column type. -1 with err when MySQL cannot hold the type. */
static int my_decl(const struct mms_type *t, const char *col, struct buf *out,
                   struct mms_err *err)
{
    switch (t->id) {
    case MT_BOOL:
        buf_adds(out, "TINYINT(1)");
        return 0;
    case MT_INT8:
        buf_adds(out, "TINYINT");
        return 0;
    case MT_INT16:
        buf_adds(out, "SMALLINT");
        return 0;
    case MT_INT32:
        buf_adds(out, "INT");
        return 0;
    case MT_INT64:
        buf_adds(out, "BIGINT");
        return 0;
    case MT_UINT8:
        buf_adds(out, "TINYINT UNSIGNED");
        return 0;
    case MT_UINT16:
        buf_adds(out, "SMALLINT UNSIGNED");
        return 0;
    case MT_UINT32:
        buf_adds(out, "INT UNSIGNED");
        return 0;
    case MT_UINT64:
        buf_adds(out, "BIGINT UNSIGNED");
        return 0;
    case MT_FLOAT32:
        buf_adds(out, "FLOAT");
        return 0;
    case MT_FLOAT64:
        buf_adds(out, "DOUBLE");
        return 0;
    case MT_DECIMAL:
        if (t->precision <= 0) {
            /* No precision: any number of digits. Kept exactly as text. */
            buf_adds(out, "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
            return 0;
        }
        if (t->precision > MY_DECIMAL_MAX_P || t->scale > MY_DECIMAL_MAX_S)
            return mms_err_set(err, 400, E_UNSUPPORTED,
                               "column `%s`: decimal(%d,%d) does not fit MySQL's DECIMAL (at most"
                               " %d digits, %d after the point)",
                               col, (int)t->precision, (int)t->scale, MY_DECIMAL_MAX_P,
                               MY_DECIMAL_MAX_S);
        buf_printf(out, "DECIMAL(%d,%d)", (int)t->precision, (int)t->scale);
        return 0;
    case MT_CHAR:
        if (t->length > 0 && t->length <= MY_CHAR_MAX)
            buf_printf(out, "CHAR(%d)", (int)t->length);
        else if (t->length > 0 && t->length <= MY_VARCHAR_MAX)
            buf_printf(out, "VARCHAR(%d)", (int)t->length);
        else
            buf_adds(out, "LONGTEXT");
        buf_adds(out, " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
        return 0;
    case MT_VARCHAR:
        if (t->length > 0 && t->length <= MY_VARCHAR_MAX)
            buf_printf(out, "VARCHAR(%d)", (int)t->length);
        else
            buf_adds(out, "LONGTEXT");
        buf_adds(out, " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
        return 0;
    case MT_TEXT:
        buf_adds(out, "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
        return 0;
    case MT_BINARY:
        if (t->length > 0 && t->length <= MY_CHAR_MAX)
            buf_printf(out, "VARBINARY(%d)", (int)t->length);
        else
            buf_adds(out, "LONGBLOB");
        return 0;
    case MT_DATE:
        buf_adds(out, "DATE");
        return 0;
    case MT_TIME:
        buf_adds(out, "TIME(6)");
        return 0;
    case MT_DATETIME:
    case MT_TIMESTAMP: /* DATETIME holding UTC: no 2038 limit */
        buf_adds(out, "DATETIME(6)");
        return 0;
    case MT_JSON:
        buf_adds(out, "JSON");
        return 0;
    case MT_ANY:
        buf_adds(out, "LONGBLOB");
        return 0;
    }
    return mms_err_set(err, 400, E_UNSUPPORTED, "column `%s`: unknown canonical type %d", col,
                       (int)t->id);
}

/* ---- catalog ---------------------------------------------------------------------------- */

static bool db_is_system(const char *db)
{
    return strcasecmp(db, "mysql") == 0 || strcasecmp(db, "information_schema") == 0 ||
           strcasecmp(db, "performance_schema") == 0 || strcasecmp(db, "sys") == 0;
}

static int my_check_db(struct my_conn *c, const char *db, struct mms_err *err)
{
    if (!db || !db[0])
        return mms_err_set(err, 400, E_CONFIG, "a MySQL database name is required");
    if (db_is_system(db) || (c->only_db && strcmp(db, c->only_db) != 0))
        return mms_err_set(err, 404, E_NOTFOUND, "database '%s' not found on %s", db, c->where);
    return 0;
}

static int my_list_dbs(struct conn *conn, int (*cb)(void *ctx, const char *db), void *ctx,
                       struct mms_err *err)
{
    struct my_conn *c = MY(conn);
    struct buf sql;
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    buf_adds(&sql, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN"
                   " ('mysql', 'information_schema', 'performance_schema', 'sys')");
    if (c->only_db) {
        buf_adds(&sql, " AND SCHEMA_NAME = ");
        sql_str(&sql, c->h, c->only_db);
    }
    buf_adds(&sql, " ORDER BY SCHEMA_NAME");
    if (my_query(c->h, &sql, "listing databases", &res, err) < 0)
        goto out;
    rc = 0;
    while (rc == 0 && (row = mysql_fetch_row(res)))
        rc = cb(ctx, row[0]);
out:
    if (res)
        mysql_free_result(res);
    buf_release(&sql);
    return rc;
}

/* WHERE clause naming one table exactly: information_schema compares case-insensitively, so
 * the binary comparison keeps `T` and `t` apart while the plain one keeps the lookup fast. */
static void where_table(struct buf *sql, MYSQL *h, const char *db, const char *table)
{
    buf_adds(sql, " WHERE TABLE_SCHEMA = ");
    sql_str(sql, h, db);
    buf_adds(sql, " AND TABLE_NAME = ");
    sql_str(sql, h, table);
    buf_adds(sql, " AND BINARY TABLE_NAME = BINARY ");
    sql_str(sql, h, table);
}

/* MariaDB's JSON is LONGTEXT with CHECK (json_valid(`c`)): the column names whose check
 * constraint is exactly that. Best effort (MySQL has a real JSON type and no TABLE_NAME there). */
static void json_checks(MYSQL *h, const char *db, const char *table, struct buf *names)
{
    struct buf sql;
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;
    buf_init(&sql, BUF_NO_LIMIT);
    buf_adds(&sql, "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS"
                   " WHERE CONSTRAINT_SCHEMA = ");
    sql_str(&sql, h, db);
    buf_adds(&sql, " AND TABLE_NAME = ");
    sql_str(&sql, h, table);
    if (mysql_real_query(h, buf_str(&sql), (unsigned long)sql.len) == 0 &&
        (res = mysql_store_result(h)) != NULL) {
        while ((row = mysql_fetch_row(res)))
            if (row[0]) {
                buf_adds(names, row[0]);
                buf_addc(names, '\n');
            }
        mysql_free_result(res);
    }
    buf_release(&sql);
}

static bool is_json_col(const struct buf *checks, const char *col)
{
    if (!checks->len)
        return false;
    struct buf want;
    buf_init(&want, BUF_NO_LIMIT);
    buf_adds(&want, "json_valid(");
    sql_ident(&want, col);
    buf_adds(&want, ")\n");
    const char *p = buf_str(checks);
    bool found = false;
    for (const char *s = p; (s = strstr(s, buf_str(&want))) != NULL; s++)
        if (s == p || s[-1] == '\n') {
            found = true;
            break;
        }
    buf_release(&want);
    return found;
}

/* Columns of db.table from information_schema; 0 columns when the table does not exist. */
static int my_schema_read(MYSQL *h, const char *db, const char *table, struct conn_schema *out,
                          struct mms_err *err)
{
    struct buf sql, checks;
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;
    struct conn_schema s = {0};
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    buf_init(&checks, BUF_NO_LIMIT);
    buf_adds(&sql, "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT,"
                   " COLUMN_COMMENT, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE,"
                   " DATETIME_PRECISION FROM information_schema.COLUMNS");
    where_table(&sql, h, db, table);
    buf_adds(&sql, " ORDER BY ORDINAL_POSITION");
    if (my_query(h, &sql, "reading columns", &res, err) < 0) {
        my_fail(err, h, "reading the columns of table `%s`.`%s`", db, table);
        goto out;
    }
    size_t n = (size_t)mysql_num_rows(res);
    if (n)
        json_checks(h, db, table, &checks);
    s.cols = n ? xcalloc(n, sizeof *s.cols) : NULL;
    while ((row = mysql_fetch_row(res))) {
        struct conn_column *c = &s.cols[s.ncols++];
        const char *dt = row[1] ? row[1] : "";
        char lower[64];
        size_t i;
        for (i = 0; dt[i] && i + 1 < sizeof lower; i++)
            lower[i] = (char)(dt[i] >= 'A' && dt[i] <= 'Z' ? dt[i] - 'A' + 'a' : dt[i]);
        lower[i] = '\0';
        c->name = xstrdup(row[0] ? row[0] : "");
        c->native_type = xstrdup(row[2] ? row[2] : dt);
        c->nullable = row[3] && strcmp(row[3], "YES") == 0;
        /* MariaDB writes an absent default as NULL, a NULL default as the text "NULL" */
        c->default_value = row[4] && strcmp(row[4], "NULL") != 0 ? xstrdup(row[4]) : NULL;
        c->comment = row[5] && row[5][0] ? xstrdup(row[5]) : NULL;
        c->type = my_type_from_info(lower, c->native_type, parse_i64(row[6], 0),
                                    parse_i64(row[7], 0), parse_i64(row[8], 0),
                                    parse_i64(row[9], 0), is_json_col(&checks, c->name));
    }
    s.source_type = xstrdup(MY_TYPE);
    rc = 0;
out:
    if (res)
        mysql_free_result(res);
    buf_release(&sql);
    buf_release(&checks);
    if (rc == 0)
        *out = s;
    else
        conn_schema_release(&s);
    return rc;
}

static int my_schema_source(struct my_conn *c, const char *db, const char *table,
                            struct conn_schema *s, bool *partitioned, struct mms_err *err);

static int my_list_tables(struct conn *conn, const char *db,
                          int (*cb)(void *ctx, const struct conn_table_info *t), void *ctx,
                          struct mms_err *err)
{
    struct my_conn *c = MY(conn);
    struct buf sql;
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    if (my_check_db(c, db, err) < 0)
        goto out;
    buf_adds(&sql, "SELECT TABLE_NAME, IFNULL(DATA_LENGTH, 0) + IFNULL(INDEX_LENGTH, 0),"
                   " TABLE_ROWS, UNIX_TIMESTAMP(CREATE_TIME), UNIX_TIMESTAMP(UPDATE_TIME)"
                   " FROM information_schema.TABLES WHERE TABLE_SCHEMA = ");
    sql_str(&sql, c->h, db);
    buf_adds(&sql, " AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')"
                   " AND TABLE_NAME NOT LIKE '\\_\\_mms\\_stage\\_%'"
                   " AND TABLE_NAME NOT LIKE '\\_\\_mms\\_old\\_%' ORDER BY TABLE_NAME");
    /* stored (a few rows per table): the callback and the column queries run meanwhile */
    if (my_query(c->h, &sql, "listing tables", &res, err) < 0) {
        my_fail(err, c->h, "listing tables of database `%s` on %s", db, c->where);
        goto out;
    }
    rc = 0;
    while (rc == 0 && (row = mysql_fetch_row(res))) {
        int64_t created = parse_i64(row[3], 0), updated = parse_i64(row[4], 0);
        struct conn_table_info info = {
            .name = row[0],
            .type = (char *)"TABLE",
            .size = parse_i64(row[1], -1),
            .num_rows = parse_i64(row[2], -1),
            .last_ddl_time = created,
            .last_modified = updated > created ? updated : created,
        };
        struct mms_err terr = {0};
        if (my_schema_read(c->h, db, row[0], &info.schema, &terr) < 0 ||
            (info.schema.ncols > 0 &&
             my_schema_source(c, db, row[0], &info.schema, &info.partitioned, &terr) < 0)) {
            conn_schema_release(&info.schema);
            if (terr.http == 503) {
                *err = terr;
                rc = -1;
                break;
            }
            log_warn("mysql: %s: skipping table `%s`.`%s`: %s", c->where, db, row[0], terr.msg);
            continue;
        }
        if (info.schema.ncols > 0)
            rc = cb(ctx, &info);
        conn_schema_release(&info.schema);
    }
out:
    if (res)
        mysql_free_result(res);
    buf_release(&sql);
    return rc;
}

/* ---- source partitions ------------------------------------------------------------------- *
 *
 * Two layouts (docs/types.md, MySQL):
 *  - Hive-like: LIST or LIST COLUMNS on one plain column where every partition holds exactly
 *    one value, the column an integer, or a string whose collation compares bytes exactly
 *    (binary, *_nopad_bin, *_0900_bin: PAD SPACE or case-insensitive collations put several
 *    distinct values in one partition, which no destination could name). The column is then
 *    the table's partition key (and stays a data column, as in PostgreSQL), partitions are
 *    "col=v" (v Hive-escaped, NULL as __HIVE_DEFAULT_PARTITION__) and a partition's rows are
 *    those WHERE `col` <=> v (the server prunes to the one partition).
 *  - Every other partitioned table (RANGE, HASH, KEY, LINEAR, multi-value or DEFAULT LIST,
 *    expressions, several columns, subpartitions): no partition key; partitions are
 *    "partition=<name>" (the subpartition's name when subpartitioned), which PARTITION (name)
 *    reads. conn_table_info.partitioned says so; the engine moves such a table whole.
 * Anything the parser below does not recognise exactly falls to the second layout, which is
 * always correct (only slower to re-migrate). */

#define MY_PART_KEY "partition="
#define HIVE_NULL "__HIVE_DEFAULT_PARTITION__"

/* Hive's escapePathName: %XX for control characters, DEL and the characters of `special`. */
static void hive_escape(struct buf *out, const char *s)
{
    static const char special[] = "\"#%'*/:=?\\{[]^";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || strchr(special, *p))
            buf_printf(out, "%%%02X", *p);
        else
            buf_addc(out, (char)*p);
    }
}

/* "partition=<escaped name>" -> the name (caller frees); NULL with err when malformed. */
static char *part_name(const char *spec, const char *table, struct mms_err *err)
{
    size_t k = sizeof MY_PART_KEY - 1;
    char *name = strncmp(spec, MY_PART_KEY, k) == 0 ? pct_decode(spec + k, strlen(spec + k))
                                                    : NULL;
    if (!name || !name[0]) {
        free(name);
        mms_err_set(err, 400, E_CONFIG,
                    "table `%s`: partition '%s' is not of the form partition=<name>", table,
                    spec);
        return NULL;
    }
    return name;
}

struct my_prow {
    char *name;      /* the partition's name (the subpartition's when subpartitioned) */
    char *value;     /* Hive-like layout: its one value, NULL for the NULL value */
    bool is_null;
    bool quoted;     /* the description's literal was a quoted string */
    int64_t rows, size, created, updated;
};

struct my_plist {
    struct my_prow *p;
    size_t n;
    char *key;       /* Hive-like layout: the key column's name as the table spells it */
};

static void plist_release(struct my_plist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->p[i].name);
        free(l->p[i].value);
    }
    free(l->p);
    free(l->key);
    memset(l, 0, sizeof *l);
}

/* A PARTITION_EXPRESSION that is exactly one backtick-quoted identifier -> the name (caller
 * frees), else NULL. */
static char *expr_ident(const char *e)
{
    if (!e || e[0] != '`')
        return NULL;
    struct buf b;
    buf_init(&b, BUF_NO_LIMIT);
    const char *p = e + 1;
    for (;; p++) {
        if (!*p) {
            buf_release(&b);
            return NULL;
        }
        if (*p == '`') {
            if (p[1] != '`')
                break;
            p++;
        }
        buf_addc(&b, *p);
    }
    if (p[1] != '\0' || b.len == 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

/* A PARTITION_DESCRIPTION holding exactly one literal, as MariaDB/MySQL print them: NULL, an
 * integer, or a '...' string with '' and the backslash escapes \0 \Z \n \r \\ (sql_show.cc's
 * append_unescaped). 0 with row->value/is_null/quoted set, -1 when it is anything else (several
 * values, MAXVALUE, _binary 0x.., an unknown escape). */
static int desc_literal(const char *d, struct my_prow *row)
{
    if (!d)
        return -1;
    if (strcmp(d, "NULL") == 0) {
        row->is_null = true;
        return 0;
    }
    if (d[0] != '\'') {
        const char *p = d + (d[0] == '-');
        if (!*p)
            return -1;
        for (; *p; p++)
            if (*p < '0' || *p > '9')
                return -1;
        row->value = xstrdup(d);
        return 0;
    }
    struct buf b;
    buf_init(&b, BUF_NO_LIMIT);
    const char *p = d + 1;
    for (;; p++) {
        if (!*p)
            goto bad;
        if (*p == '\'') {
            if (p[1] != '\'')
                break;
            p++;
        } else if (*p == '\\') {
            p++;
            char c = *p == 'Z' ? '\032' : *p == 'n' ? '\n' : *p == 'r' ? '\r'
                   : *p == '\\' ? '\\' : *p == '\'' ? '\'' : 0;
            if (!c) /* \0 (a NUL byte cannot be in a spec) or unknown */
                goto bad;
            buf_addc(&b, c);
            continue;
        }
        buf_addc(&b, *p);
    }
    if (p[1] != '\0')
        goto bad;
    row->quoted = true;
    row->value = buf_detach(&b, NULL);
    return 0;
bad:
    buf_release(&b);
    return -1;
}

/* Whether column `col` of db.table is an integer (*is_int) or a string compared byte for byte;
 * false when neither (or unknown). */
static bool key_col_ok(MYSQL *h, const char *db, const char *table, const char *col,
                       bool *is_int)
{
    static const char *const ints[] = {"tinyint", "smallint", "mediumint", "int", "bigint"};
    struct buf sql;
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;
    struct mms_err ignore = {0};
    bool ok = false;
    buf_init(&sql, BUF_NO_LIMIT);
    buf_adds(&sql, "SELECT DATA_TYPE, COLLATION_NAME, COLUMN_TYPE FROM information_schema.COLUMNS");
    where_table(&sql, h, db, table);
    buf_adds(&sql, " AND COLUMN_NAME = ");
    sql_str(&sql, h, col);
    if (my_query(h, &sql, "reading the partition column", &res, &ignore) == 0 &&
        (row = mysql_fetch_row(res)) && row[0]) {
        const char *ct = row[2] ? row[2] : "";
        for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
            if (strcasecmp(row[0], ints[i]) == 0) {
                /* an unsigned bigint past INT64_MAX would not be an int64 spec value */
                ok = !(strcasecmp(row[0], "bigint") == 0 && strstr(ct, "unsigned"));
                *is_int = true;
            }
        if (strcasecmp(row[0], "varchar") == 0 || strcasecmp(row[0], "char") == 0) {
            const char *coll = row[1] ? row[1] : "";
            ok = strstr(coll, "_nopad_bin") || strstr(coll, "_0900_bin");
            *is_int = false;
        } else if (strcasecmp(row[0], "varbinary") == 0) {
            ok = true;
            *is_int = false;
        }
    }
    if (res)
        mysql_free_result(res);
    buf_release(&sql);
    return ok;
}

/* Whether a LIST table on integer column `col` has a DEFAULT partition: information_schema
 * shows it as the value 0, so ask the optimizer where a value in no list would go. */
static bool has_default_part(MYSQL *h, const char *db, const char *table, const char *col,
                             const struct my_plist *l)
{
    int64_t mx = INT64_MIN, mn = INT64_MAX;
    for (size_t i = 0; i < l->n; i++) {
        if (l->p[i].is_null)
            continue;
        int64_t v = parse_i64(l->p[i].value, 0);
        mx = v > mx ? v : mx;
        mn = v < mn ? v : mn;
    }
    int64_t probe = mx < INT64_MAX ? mx + 1 : mn > INT64_MIN ? mn - 1 : 0;
    if (probe == 0 && mx == INT64_MAX)
        return true; /* cannot probe: assume the worst */
    bool dflt = true;
    for (int pass = 0; pass < 2 && dflt; pass++) {
        struct buf sql;
        MYSQL_RES *res = NULL;
        buf_init(&sql, BUF_NO_LIMIT);
        /* MariaDB shows the partitions with EXPLAIN PARTITIONS, MySQL 8 with plain EXPLAIN */
        buf_adds(&sql, pass == 0 ? "EXPLAIN PARTITIONS SELECT 1 FROM " : "EXPLAIN SELECT 1 FROM ");
        sql_ident2(&sql, db, table);
        buf_adds(&sql, " WHERE ");
        sql_ident(&sql, col);
        buf_printf(&sql, " <=> %" PRId64, probe);
        if (mysql_real_query(h, buf_str(&sql), (unsigned long)sql.len) == 0 &&
            (res = mysql_store_result(h)) != NULL) {
            MYSQL_FIELD *f = mysql_fetch_fields(res);
            unsigned nf = mysql_num_fields(res);
            MYSQL_ROW row = mysql_fetch_row(res);
            for (unsigned i = 0; row && i < nf; i++)
                if (strcasecmp(f[i].name, "partitions") == 0)
                    dflt = row[i] != NULL && row[i][0] != '\0';
            mysql_free_result(res);
        }
        buf_release(&sql);
    }
    return dflt;
}

/* The partitions of db.table (none when unpartitioned), and whether the layout is Hive-like
 * (l->key set, every row's value set). */
static int plist_read(MYSQL *h, const char *db, const char *table, struct my_plist *l,
                      struct mms_err *err)
{
    struct buf sql;
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;
    char *key = NULL;
    bool hive = true, zero = false;
    int rc = -1;
    memset(l, 0, sizeof *l);
    buf_init(&sql, BUF_NO_LIMIT);
    buf_adds(&sql, "SELECT IFNULL(SUBPARTITION_NAME, PARTITION_NAME), TABLE_ROWS,"
                   " IFNULL(DATA_LENGTH, 0) + IFNULL(INDEX_LENGTH, 0),"
                   " UNIX_TIMESTAMP(CREATE_TIME), UNIX_TIMESTAMP(UPDATE_TIME),"
                   " PARTITION_METHOD, SUBPARTITION_METHOD, PARTITION_EXPRESSION,"
                   " PARTITION_DESCRIPTION FROM information_schema.PARTITIONS");
    where_table(&sql, h, db, table);
    buf_adds(&sql, " AND PARTITION_NAME IS NOT NULL"
                   " ORDER BY PARTITION_ORDINAL_POSITION, SUBPARTITION_ORDINAL_POSITION");
    if (my_query(h, &sql, "listing partitions", &res, err) < 0) {
        my_fail(err, h, "listing partitions of table `%s`.`%s`", db, table);
        goto out;
    }
    size_t n = (size_t)mysql_num_rows(res);
    l->p = n ? xcalloc(n, sizeof *l->p) : NULL;
    while ((row = mysql_fetch_row(res))) {
        struct my_prow *p = &l->p[l->n++];
        p->name = xstrdup(row[0] ? row[0] : "");
        p->rows = parse_i64(row[1], -1);
        p->size = parse_i64(row[2], -1);
        p->created = parse_i64(row[3], 0);
        p->updated = parse_i64(row[4], 0);
        const char *method = row[5] ? row[5] : "";
        if (!hive)
            continue;
        char *k = expr_ident(row[7]);
        hive = (strcmp(method, "LIST") == 0 || strcmp(method, "LIST COLUMNS") == 0) && !row[6] &&
               k && (!key || strcmp(k, key) == 0) && desc_literal(row[8], p) == 0;
        if (hive && !key)
            key = xstrdup(k);
        zero = zero || (hive && strcmp(method, "LIST") == 0 && !p->quoted && p->value &&
                        strcmp(p->value, "0") == 0);
        free(k);
    }
    bool is_int = false;
    hive = hive && l->n > 0 && key_col_ok(h, db, table, key, &is_int);
    for (size_t i = 0; hive && i < l->n; i++) {
        const struct my_prow *p = &l->p[i];
        if (p->is_null)
            continue;
        if (is_int) { /* an integer literal of int64 range */
            char *e = NULL;
            errno = 0;
            (void)strtoll(p->value, &e, 10);
            hive = !p->quoted && !errno && !*e;
        } else { /* '' and Hive's NULL name would both be the NULL partition in Hive */
            hive = p->quoted && p->value[0] && strcmp(p->value, HIVE_NULL) != 0;
        }
    }
    if (hive && zero && has_default_part(h, db, table, key, l))
        hive = false;
    if (hive) {
        l->key = key;
        key = NULL;
    }
    rc = 0;
out:
    free(key);
    if (res)
        mysql_free_result(res);
    buf_release(&sql);
    if (rc < 0)
        plist_release(l);
    return rc;
}

/* The spec of partition row p: "key=v" (Hive-like) or "partition=<name>". */
static void prow_spec(struct buf *out, const struct my_plist *l, const struct my_prow *p)
{
    buf_clear(out);
    if (l->key) {
        hive_escape(out, l->key);
        buf_addc(out, '=');
        if (p->is_null)
            buf_adds(out, HIVE_NULL);
        else
            hive_escape(out, p->value);
    } else {
        buf_adds(out, MY_PART_KEY);
        hive_escape(out, p->name);
    }
}

/* Completes a source schema read by my_schema_read: the partition key (Hive-like layout) in
 * s->pcols, *partitioned for the other layout; with the zeroDateToNull cast, date and time
 * columns nullable (a zero date reads as NULL). */
static int my_schema_source(struct my_conn *c, const char *db, const char *table,
                            struct conn_schema *s, bool *partitioned, struct mms_err *err)
{
    struct my_plist l;
    if (partitioned)
        *partitioned = false;
    if (c->base.casts & CONN_CAST_ZERO_DATE_NULL)
        for (size_t i = 0; i < s->ncols; i++) {
            enum mms_type_id id = s->cols[i].type.id;
            if (id == MT_DATE || id == MT_DATETIME || id == MT_TIMESTAMP)
                s->cols[i].nullable = true;
        }
    if (plist_read(c->h, db, table, &l, err) < 0)
        return -1;
    if (l.key) {
        for (size_t i = 0; i < s->ncols; i++)
            if (strcasecmp(s->cols[i].name, l.key) == 0) {
                struct conn_schema one = {.cols = &s->cols[i], .ncols = 1}, cp = {0};
                conn_schema_copy(&cp, &one);
                s->pcols = cp.cols;
                s->npcols = 1;
                free(cp.source_type);
                break;
            }
    } else if (partitioned) {
        *partitioned = l.n > 0;
    }
    plist_release(&l);
    return 0;
}

/* Partitions in the order of information_schema.PARTITIONS, named as plist_read decided. */
static int my_list_partitions(struct conn *conn, const char *db, const char *table,
                              int (*cb)(void *ctx, const struct conn_partition_info *p), void *ctx,
                              struct mms_err *err)
{
    struct my_conn *c = MY(conn);
    struct my_plist l = {0};
    struct buf spec;
    int rc = -1;
    buf_init(&spec, BUF_NO_LIMIT);
    if (my_check_db(c, db, err) < 0 || plist_read(c->h, db, table, &l, err) < 0)
        goto out;
    rc = 0;
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        const struct my_prow *p = &l.p[i];
        prow_spec(&spec, &l, p);
        struct conn_partition_info info = {
            .value = spec.p,
            .num_rows = p->rows,
            .size = p->size,
            .last_ddl_time = p->created,
            .last_modified = p->updated > p->created ? p->updated : p->created,
        };
        rc = cb(ctx, &info);
    }
out:
    plist_release(&l);
    buf_release(&spec);
    return rc;
}

static int my_table_schema(struct conn *conn, const char *db, const char *table,
                           struct conn_schema *out, struct mms_err *err)
{
    struct my_conn *c = MY(conn);
    if (my_check_db(c, db, err) < 0)
        return -1;
    if (my_schema_read(c->h, db, table, out, err) < 0)
        return -1;
    if (out->ncols == 0) {
        conn_schema_release(out);
        return mms_err_set(err, 404, E_NOTFOUND, "table `%s`.`%s` not found on %s", db, table,
                           c->where);
    }
    if (!c->dest && my_schema_source(c, db, table, out, NULL, err) < 0) {
        conn_schema_release(out);
        return -1;
    }
    return 0;
}
/* ---- reading ---------------------------------------------------------------------------- */

static void reader_free(struct my_reader *r)
{
    /* Freeing an unfinished stream would read the rest of the table off the socket first:
     * shut the connection down instead, the server then abandons the query. */
    if (r->res && !r->done && r->h)
        mariadb_cancel(r->h);
    if (r->res)
        mysql_free_result(r->res);
    if (r->h)
        mysql_close(r->h);
    for (size_t i = 0; r->names && i < r->ncols; i++)
        free(r->names[i]);
    free(r->names);
    free(r->conv);
    free(r->what);
    free(r);
}

static enum my_conv conv_of(const MYSQL_FIELD *f)
{
    bool uns = (f->flags & UNSIGNED_FLAG) != 0;
    switch (f->type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_YEAR:
        return CV_INT;
    case MYSQL_TYPE_LONGLONG:
        return uns ? CV_UINT64 : CV_INT;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
        return CV_DOUBLE;
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
        return CV_TEXT;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
        return CV_DATE;
    case MYSQL_TYPE_TIME:
        return CV_TIME;
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP:
        return CV_DATETIME;
    case MYSQL_TYPE_BIT:
        return CV_BIT;
    case MYSQL_TYPE_JSON: /* MySQL may label JSON results with the binary charset */
        return CV_TEXT;
    default:
        /* strings, blobs, enum/set, json, geometry: binary charset (63) = bytes */
        return f->charsetnr == 63 ? CV_BLOB : CV_TEXT;
    }
}

/* ---- destination partitions inside a plain table ---------------------------------------- */

static int mypart_parse(const char *table, const char *spec, struct part_spec *p,
                        struct mms_err *err)
{
    if (part_spec_parse(spec, p) < 0)
        return mms_err_set(err, 400, E_UNSUPPORTED,
                           "table `%s`: partition '%s' is not of the form k1=v1/k2=v2, so it"
                           " cannot name rows of a MySQL table",
                           table, spec);
    p->is_int = xcalloc(p->n, sizeof *p->is_int);
    p->ival = xcalloc(p->n, sizeof *p->ival);
    return 0;
}

/* Each key must be a data column of schema; integer columns compare as integers. */
static int mypart_resolve(const char *table, const char *spec, struct part_spec *p,
                          const struct conn_schema *schema, struct mms_err *err)
{
    for (size_t k = 0; k < p->n; k++) {
        const struct conn_column *col = NULL;
        for (size_t i = 0; i < schema->ncols && !col; i++)
            if (strcasecmp(schema->cols[i].name, p->keys[k]) == 0)
                col = &schema->cols[i];
        if (!col)
            return mms_err_set(err, 400, E_MISMATCH,
                               "table `%s`: partition '%s': key `%s` is not a column of the table",
                               table, spec, p->keys[k]);
        enum mms_type_id id = col->type.id;
        if (!p->vals[k] || !(id == MT_BOOL || (id >= MT_INT8 && id <= MT_UINT64)))
            continue;
        char *e = NULL;
        errno = 0;
        long long v = strtoll(p->vals[k], &e, 10);
        if (!p->vals[k][0] || errno || *e)
            return mms_err_set(err, 400, E_VALUE,
                               "table `%s`: partition '%s': value '%s' of integer column `%s` is"
                               " not an integer",
                               table, spec, p->vals[k], p->keys[k]);
        p->is_int[k] = true;
        p->ival[k] = (int64_t)v;
    }
    return 0;
}

/* Sets @mms_pk<i> to the key values on h, each bound as a parameter of a prepared statement. */
static int mypart_vars(MYSQL *h, const struct part_spec *p, const char *what, struct mms_err *err)
{
    for (size_t k = 0; k < p->n; k++) {
        char sql[64];
        int n = snprintf(sql, sizeof sql, "SET @mms_pk%zu = ?", k);
        MYSQL_STMT *st = mysql_stmt_init(h);
        if (!st)
            return mms_err_set(err, 500, E_INTERNAL, "mysql_stmt_init failed (out of memory)");
        MYSQL_BIND b;
        unsigned long len = p->vals[k] ? (unsigned long)strlen(p->vals[k]) : 0;
        memset(&b, 0, sizeof b);
        if (!p->vals[k]) {
            b.buffer_type = MYSQL_TYPE_NULL;
        } else if (p->is_int[k]) {
            b.buffer_type = MYSQL_TYPE_LONGLONG;
            b.buffer = (void *)&p->ival[k];
        } else {
            b.buffer_type = MYSQL_TYPE_STRING;
            b.buffer = p->vals[k];
            b.buffer_length = len;
            b.length = &len;
        }
        if (mysql_stmt_prepare(st, sql, (unsigned long)n) != 0 || mysql_stmt_bind_param(st, &b) ||
            mysql_stmt_execute(st) != 0) {
            mms_err_set(err, 500, E_QUERY, "%s: setting partition key `%s`: %s", what,
                        p->keys[k], mysql_stmt_error(st));
            mysql_stmt_close(st);
            return -1;
        }
        mysql_stmt_close(st);
    }
    return 0;
}

/* " WHERE `k1` <=> @mms_pk0 AND ..." (<=>: Hive's NULL partition matches NULL keys). */
static void mypart_where(struct buf *sql, const struct part_spec *p)
{
    for (size_t k = 0; k < p->n; k++) {
        buf_adds(sql, k ? " AND " : " WHERE ");
        sql_ident(sql, p->keys[k]);
        buf_printf(sql, " <=> @mms_pk%zu", k);
    }
}

/* Opens SELECT `c1`,... FROM `db`.`t` [PARTITION (`p`)] as a stream on its own handle. */
static int reader_open(const struct my_params *p, const char *db, const char *table,
                       const char *partition, const struct part_spec *keys,
                       const struct conn_schema *schema, struct conn_reader **out,
                       struct mms_err *err)
{
    struct buf sql;
    struct my_reader *r = xcalloc(1, sizeof *r);
    char *pname = NULL;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    if (partition && !(pname = part_name(partition, table, err))) {
        free(r);
        buf_release(&sql);
        return -1;
    }
    r->what = pname ? xasprintf("table `%s`.`%s` partition `%s`", db, table, pname)
                    : xasprintf("table `%s`.`%s`", db, table);
    if (!schema || schema->ncols == 0) {
        mms_err_set(err, 400, E_NOTFOUND, "reading %s: the schema has no columns", r->what);
        goto out;
    }
    r->ncols = schema->ncols;
    r->names = xcalloc(r->ncols, sizeof *r->names);
    for (size_t i = 0; i < r->ncols; i++)
        r->names[i] = xstrdup(schema->cols[i].name);
    buf_adds(&sql, "SELECT ");
    for (size_t i = 0; i < schema->ncols; i++) {
        if (i)
            buf_addc(&sql, ',');
        /* FLOAT is printed with 6 digits; as DOUBLE it is printed exactly */
        if (schema->cols[i].type.id == MT_FLOAT32) {
            buf_adds(&sql, "CAST(");
            sql_ident(&sql, schema->cols[i].name);
            buf_adds(&sql, " AS DOUBLE)");
        } else {
            sql_ident(&sql, schema->cols[i].name);
        }
    }
    buf_adds(&sql, " FROM ");
    sql_ident2(&sql, db, table);
    if (pname) {
        buf_adds(&sql, " PARTITION (");
        sql_ident(&sql, pname);
        buf_addc(&sql, ')');
    }
    if (keys)
        mypart_where(&sql, keys);
    if (my_connect(p, &r->h, err) < 0)
        goto out;
    if (keys && mypart_vars(r->h, keys, r->what, err) < 0)
        goto out;
    if (mysql_real_query(r->h, buf_str(&sql), (unsigned long)sql.len) != 0) {
        my_fail(err, r->h, "reading %s", r->what);
        goto out;
    }
    r->res = mysql_use_result(r->h);
    if (!r->res) {
        my_fail(err, r->h, "reading %s", r->what);
        goto out;
    }
    if (mysql_num_fields(r->res) != r->ncols) {
        mms_err_set(err, 500, E_INTERNAL, "reading %s: %u columns, not %zu", r->what,
                    mysql_num_fields(r->res), r->ncols);
        goto out;
    }
    MYSQL_FIELD *f = mysql_fetch_fields(r->res);
    r->conv = xcalloc(r->ncols, sizeof *r->conv);
    for (size_t i = 0; i < r->ncols; i++)
        r->conv[i] = conv_of(&f[i]);
    rc = 0;
out:
    free(pname);
    buf_release(&sql);
    if (rc == 0)
        *out = (struct conn_reader *)r;
    else
        reader_free(r);
    return rc;
}

/* A source partition spec of a Hive-like table ("key=v" with key its partition column):
 * 1 with keys parsed and resolved against schema (integer keys compare as integers), 0 when
 * partition names a partition ("partition=<name>"), -1 with err. */
static int src_part_keys(const char *table, const char *partition,
                         const struct conn_schema *schema, struct part_spec *keys,
                         struct mms_err *err)
{
    struct part_spec p = {0};
    if (!partition || !schema || schema->npcols != 1 || part_spec_parse(partition, &p) < 0)
        return 0;
    bool mine = p.n == 1 && strcasecmp(p.keys[0], schema->pcols[0].name) == 0;
    part_spec_release(&p);
    if (!mine)
        return 0;
    if (mypart_parse(table, partition, keys, err) < 0 ||
        mypart_resolve(table, partition, keys, schema, err) < 0) {
        part_spec_release(keys);
        return -1;
    }
    return 1;
}

static int my_read_open(struct conn *conn, const char *db, const char *table,
                        const char *partition, const struct conn_schema *schema,
                        struct conn_reader **out, struct mms_err *err)
{
    struct my_conn *c = MY(conn);
    struct part_spec keys = {0};
    int k = 0, rc;
    if (!c->dest && my_check_db(c, db, err) < 0)
        return -1;
    if (!c->dest && (k = src_part_keys(table, partition, schema, &keys, err)) < 0)
        return -1;
    rc = k ? reader_open(&c->p, db, table, NULL, &keys, schema, out, err)
           : reader_open(&c->p, db, table, partition, NULL, schema, out, err);
    if (rc == 0)
        ((struct my_reader *)*out)->zero_null = (c->base.casts & CONN_CAST_ZERO_DATE_NULL) != 0;
    part_spec_release(&keys);
    return rc;
}

/* Canonical time text: the fraction loses its trailing zeros (and the point when nothing is
 * left), so DATETIME(3) '...05.120' and DATETIME(6) '...05.120000' read the same. */
static size_t frac_trim(const char *s, size_t n)
{
    const char *dot = memchr(s, '.', n);
    if (!dot)
        return n;
    while (n > (size_t)(dot - s) + 1 && s[n - 1] == '0')
        n--;
    if (n == (size_t)(dot - s) + 1)
        n--;
    return n;
}

static int value_error(struct my_reader *r, size_t col, const char *v, size_t n,
                       const char *why, struct mms_err *err)
{
    return mms_err_set(err, 400, E_VALUE, "reading %s column `%s`: value '%.*s' %s", r->what,
                       r->names[col], (int)(n > 64 ? 64 : n), v, why);
}

static int my_read_next(struct conn_reader *reader, struct rowbatch *b, struct mms_err *err)
{
    struct my_reader *r = (struct my_reader *)reader;
    rowbatch_clear(b);
    if (b->ncols != r->ncols)
        return mms_err_set(err, 500, E_INTERNAL, "reading %s: batch has %zu columns, not %zu",
                           r->what, b->ncols, r->ncols);
    while (!r->done && !rowbatch_full(b)) {
        MYSQL_ROW row = mysql_fetch_row(r->res);
        if (!row) {
            if (mysql_errno(r->h))
                return my_fail(err, r->h, "reading %s", r->what);
            r->done = true;
            break;
        }
        unsigned long *len = mysql_fetch_lengths(r->res);
        struct val *vals = rowbatch_add_row(b);
        for (size_t i = 0; i < r->ncols; i++) {
            const char *v = row[i];
            size_t n = len[i];
            if (!v)
                continue; /* NULL */
            switch (r->conv[i]) {
            case CV_INT: {
                char *end;
                errno = 0;
                long long x = strtoll(v, &end, 10);
                if (errno || end == v)
                    return value_error(r, i, v, n, "is not a 64-bit integer", err);
                rowbatch_set_int(&vals[i], (int64_t)x);
                break;
            }
            case CV_UINT64: {
                char *end;
                errno = 0;
                unsigned long long x = strtoull(v, &end, 10);
                if (errno || end == v)
                    return value_error(r, i, v, n, "is not an unsigned 64-bit integer", err);
                if (x > (unsigned long long)INT64_MAX)
                    rowbatch_set_uint(&vals[i], (uint64_t)x);
                else
                    rowbatch_set_int(&vals[i], (int64_t)x);
                break;
            }
            case CV_DOUBLE: {
                char *end;
                double d = strtod(v, &end);
                if (end == v)
                    return value_error(r, i, v, n, "is not a number", err);
                rowbatch_set_double(&vals[i], d);
                break;
            }
            case CV_BIT: {
                uint64_t x = 0;
                for (size_t k = 0; k < n; k++)
                    x = x << 8 | (unsigned char)v[k];
                if (x > (uint64_t)INT64_MAX)
                    rowbatch_set_uint(&vals[i], x);
                else
                    rowbatch_set_int(&vals[i], (int64_t)x);
                break;
            }
            case CV_DATE:
                /* MySQL "zero" dates (0000-00-00, 2024-00-10) are no date at all */
                if (n >= 10 && (memcmp(v + 5, "00", 2) == 0 || memcmp(v + 8, "00", 2) == 0)) {
                    if (r->zero_null)
                        break; /* stays NULL */
                    return value_error(r, i, v, n,
                                       "is a MySQL zero date, which has no canonical form",
                                       err);
                }
                rowbatch_set_bytes(b, &vals[i], VAL_TEXT, v, n);
                break;
            case CV_DATETIME:
                if (n >= 10 && (memcmp(v + 5, "00", 2) == 0 || memcmp(v + 8, "00", 2) == 0)) {
                    if (r->zero_null)
                        break;
                    return value_error(r, i, v, n,
                                       "is a MySQL zero date, which has no canonical form",
                                       err);
                }
                rowbatch_set_bytes(b, &vals[i], VAL_TEXT, v, frac_trim(v, n));
                break;
            case CV_TIME:
                rowbatch_set_bytes(b, &vals[i], VAL_TEXT, v, frac_trim(v, n));
                break;
            case CV_TEXT:
                rowbatch_set_bytes(b, &vals[i], VAL_TEXT, v, n);
                break;
            case CV_BLOB:
                rowbatch_set_bytes(b, &vals[i], VAL_BLOB, v, n);
                break;
            }
        }
    }
    return 0;
}

static void my_read_close(struct conn_reader *reader)
{
    if (reader)
        reader_free((struct my_reader *)reader);
}

/* ---- destination: schema stage ---------------------------------------------------------- */

static int my_dest_check(const struct conn_target *t, const struct conn_schema *schema,
                         struct mms_err *err)
{
    if (!t->project || !t->project[0])
        return mms_err_set(err, 400, E_CONFIG, "destination project (MySQL database) is empty");
    if (!t->table || !t->table[0])
        return mms_err_set(err, 400, E_CONFIG, "destination table name is empty");
    if (utf8_chars(t->project) > MY_IDENT_MAX || utf8_chars(t->table) > MY_IDENT_MAX)
        return mms_err_set(err, 400, E_CONFIG,
                           "destination `%s`.`%s`: MySQL names have at most %d characters",
                           t->project, t->table, MY_IDENT_MAX);
    /* No partitions at the destination: a partitioned schema becomes a plain table whose key
     * columns are data columns; a key that is not one would have no place in the rows. */
    for (size_t k = 0; schema && k < schema->npcols; k++) {
        bool found = false;
        for (size_t i = 0; i < schema->ncols && !found; i++)
            found = strcasecmp(schema->cols[i].name, schema->pcols[k].name) == 0;
        if (!found)
            return mms_err_set(err, 400, E_UNSUPPORTED,
                               "table `%s`: partition column `%s` is not a data column (a MySQL"
                               " destination holds partition keys as data columns)",
                               t->table, schema->pcols[k].name);
    }
    if (schema && schema->ncols == 0)
        return mms_err_set(err, 400, E_CONFIG, "table `%s`: the schema has no columns", t->table);
    return 0;
}

/* Fails with SchemaMismatch when db.table exists with other columns (by name, in order, case
 * insensitively like MySQL). *exists tells whether it exists. */
static int my_check_existing(MYSQL *h, const char *db, const char *table,
                             const struct conn_schema *schema, bool *exists, struct mms_err *err)
{
    struct conn_schema have = {0};
    int rc = -1;
    if (my_schema_read(h, db, table, &have, err) < 0)
        goto out;
    *exists = have.ncols > 0;
    if (!*exists) {
        rc = 0;
        goto out;
    }
    size_t n = have.ncols < schema->ncols ? have.ncols : schema->ncols;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(have.cols[i].name, schema->cols[i].name) != 0) {
            mms_err_set(err, 409, E_MISMATCH,
                        "table `%s`.`%s` already exists and its column %zu is `%s`, not `%s`", db,
                        table, i + 1, have.cols[i].name, schema->cols[i].name);
            goto out;
        }
    if (have.ncols != schema->ncols) {
        mms_err_set(err, 409, E_MISMATCH, "table `%s`.`%s` already exists with %zu columns, not %zu",
                    db, table, have.ncols, schema->ncols);
        goto out;
    }
    rc = 0;
out:
    conn_schema_release(&have);
    return rc;
}

static int my_create_db(MYSQL *h, const char *db, struct mms_err *err)
{
    struct buf sql;
    buf_init(&sql, BUF_NO_LIMIT);
    buf_adds(&sql, "CREATE DATABASE IF NOT EXISTS ");
    sql_ident(&sql, db);
    buf_adds(&sql, " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
    int rc = my_execb(h, &sql, "creating the destination database", err);
    if (rc < 0)
        my_fail(err, h, "creating database `%s`", db);
    buf_release(&sql);
    return rc;
}

/* CREATE TABLE [IF NOT EXISTS] `db`.`name` (...) from the canonical schema. */
static int my_ddl(struct buf *out, bool if_not_exists, const char *db, const char *name,
                  const struct conn_schema *schema, struct mms_err *err)
{
    buf_adds(out, if_not_exists ? "CREATE TABLE IF NOT EXISTS " : "CREATE TABLE ");
    sql_ident2(out, db, name);
    buf_adds(out, " (");
    for (size_t i = 0; i < schema->ncols; i++) {
        const struct conn_column *col = &schema->cols[i];
        if (i)
            buf_adds(out, ", ");
        sql_ident(out, col->name);
        buf_addc(out, ' ');
        if (my_decl(&col->type, col->name, out, err) < 0) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            return mms_err_set(err, 400, E_UNSUPPORTED, "table `%s`.`%s`: %s", db, name, msg);
        }
        buf_adds(out, col->nullable ? " NULL" : " NOT NULL");
    }
    buf_adds(out, ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin");
    return 0;
}

static int my_create_table(struct conn *conn, const struct conn_target *t,
                           const struct conn_schema *schema, char **sql_out, struct mms_err *err)
{
    struct my_conn *c = MY(conn);
    struct buf sql;
    bool exists = false;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    if (my_dest_check(t, schema, err) < 0 || my_create_db(c->h, t->project, err) < 0)
        goto out;
    if (my_check_existing(c->h, t->project, t->table, schema, &exists, err) < 0)
        goto out;
    if (my_ddl(&sql, true, t->project, t->table, schema, err) < 0)
        goto out;
    if (my_execb(c->h, &sql, "creating the destination table", err) < 0) {
        my_fail(err, c->h, "creating table `%s`.`%s`", t->project, t->table);
        goto out;
    }
    if (sql_out)
        *sql_out = buf_detach(&sql, NULL);
    rc = 0;
out:
    buf_release(&sql);
    return rc;
}

/* ---- destination: data stage ------------------------------------------------------------ */

static void writer_free(struct my_writer *w)
{
    if (w->h)
        mysql_close(w->h);
    for (size_t i = 0; w->names && i < w->ncols; i++)
        free(w->names[i]);
    free(w->names);
    free(w->db);
    free(w->table);
    free(w->stage);
    free(w->old);
    free(w->what);
    free(w->scratch);
    free(w->spec);
    part_spec_release(&w->part);
    buf_release(&w->sql);
    free(w);
}

static int drop_if_exists(MYSQL *h, const char *db, const char *table, struct mms_err *err)
{
    struct buf sql;
    buf_init(&sql, BUF_NO_LIMIT);
    buf_adds(&sql, "DROP TABLE IF EXISTS ");
    sql_ident2(&sql, db, table);
    int rc = my_execb(h, &sql, "drop", err);
    if (rc < 0)
        my_fail(err, h, "dropping table `%s`.`%s`", db, table);
    buf_release(&sql);
    return rc;
}

/* The writing session: statement size from max_allowed_packet, then the first of few, large
 * transactions. Uniqueness stays checked (a target created by its owner may have keys the
 * source never had); foreign key checks are off so the replaced table can be dropped even when
 * other tables reference it (LIKE copies no foreign keys anyway). */
static int staging_session(struct my_writer *w, struct mms_err *err)
{
    struct buf sql;
    MYSQL_RES *res = NULL;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    buf_adds(&sql, "SELECT @@max_allowed_packet");
    if (my_query(w->h, &sql, "reading max_allowed_packet", &res, err) < 0)
        goto out;
    MYSQL_ROW row = mysql_fetch_row(res);
    int64_t maxp = row ? parse_i64(row[0], 0) : 0;
    w->max_stmt = maxp > 65536 ? (size_t)maxp - 1024 : 64512;
    buf_clear(&sql);
    buf_adds(&sql, "SET foreign_key_checks = 0");
    if (my_execb(w->h, &sql, "setting up the staging session", err) < 0 ||
        my_exec(w->h, "START TRANSACTION", 17, "starting the staging transaction", err) < 0)
        goto out;
    rc = 0;
out:
    if (res)
        mysql_free_result(res);
    buf_release(&sql);
    return rc;
}

static int my_write_begin(struct conn *conn, const struct conn_target *t, const char *partition,
                          const struct conn_schema *schema, struct conn_writer **out,
                          struct mms_err *err)
{
    struct my_conn *c = MY(conn);
    struct my_writer *w = xcalloc(1, sizeof *w);
    struct buf sql;
    bool exists = false;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    buf_init(&w->sql, BUF_NO_LIMIT);

    if (my_dest_check(t, schema, err) < 0)
        goto out;
    if (partition) { /* one partition's rows inside the plain table */
        if (mypart_parse(t->table, partition, &w->part, err) < 0 ||
            mypart_resolve(t->table, partition, &w->part, schema, err) < 0)
            goto out;
        w->spec = xstrdup(partition);
        char *sname = xasprintf("%s$%s", t->table, partition);
        w->stage = aux_name(MY_STAGE_PREFIX, sname);
        free(sname);
    } else {
        w->stage = aux_name(MY_STAGE_PREFIX, t->table);
    }
    w->db = xstrdup(t->project);
    w->table = xstrdup(t->table);
    w->old = aux_name(MY_OLD_PREFIX, t->table);
    w->what = xasprintf("table `%s`.`%s`", t->project, t->table);
    w->ncols = schema->ncols;
    w->names = xcalloc(w->ncols, sizeof *w->names);
    for (size_t i = 0; i < w->ncols; i++)
        w->names[i] = xstrdup(schema->cols[i].name);
    w->conn = c;
    if (my_connect(&c->p, &w->h, err) < 0 || my_create_db(w->h, w->db, err) < 0)
        goto out;
    if (my_check_existing(w->h, w->db, w->table, schema, &exists, err) < 0)
        goto out;
    if (partition && !exists) { /* the plain table the partitions go into */
        if (my_ddl(&sql, true, w->db, w->table, schema, err) < 0)
            goto out;
        if (my_execb(w->h, &sql, "creating the destination table", err) < 0) {
            my_fail(err, w->h, "creating table `%s`.`%s`", w->db, w->table);
            goto out;
        }
        buf_clear(&sql);
        exists = true;
    }
    /* Leftovers of an earlier attempt (crash or abort, or a crash between rename and drop). */
    if (drop_if_exists(w->h, w->db, w->stage, err) < 0 ||
        (!partition && drop_if_exists(w->h, w->db, w->old, err) < 0))
        goto out;
    if (exists) {
        /* LIKE keeps the target's exact column types, keys and partitioning */
        buf_adds(&sql, "CREATE TABLE ");
        sql_ident2(&sql, w->db, w->stage);
        buf_adds(&sql, " LIKE ");
        sql_ident2(&sql, w->db, w->table);
    } else if (my_ddl(&sql, false, w->db, w->stage, schema, err) < 0) {
        goto out;
    }
    if (my_execb(w->h, &sql, "stage", err) < 0) {
        my_fail(err, w->h, "creating the staging table for %s", w->what);
        goto out;
    }
    if (staging_session(w, err) < 0)
        goto out;
    rc = 0;
out:
    buf_release(&sql);
    if (rc == 0) {
        *out = (struct conn_writer *)w;
    } else {
        if (w->h && w->stage && w->db) {
            struct mms_err ignore = {0};
            drop_if_exists(w->h, w->db, w->stage, &ignore);
        }
        writer_free(w);
    }
    return rc;
}

static void value_text(const struct rowbatch *b, const struct val *v, char *out, size_t n)
{
    switch (v->kind) {
    case VAL_NULL:
        snprintf(out, n, "NULL");
        break;
    case VAL_INT:
        snprintf(out, n, "%" PRId64, v->v.i);
        break;
    case VAL_UINT:
        snprintf(out, n, "%" PRIu64, v->v.u);
        break;
    case VAL_DOUBLE:
        snprintf(out, n, "%.17g", v->v.d);
        break;
    case VAL_TEXT: {
        size_t k = v->len < 60 ? v->len : 60;
        size_t j = 0;
        const char *p = rowbatch_bytes(b, v);
        for (size_t i = 0; i < k && j + 5 < n; i++) {
            unsigned char ch = (unsigned char)p[i];
            if (ch < 0x20 || ch == 0x7f)
                j += (size_t)snprintf(out + j, n - j, "\\x%02x", ch);
            else
                out[j++] = (char)ch;
        }
        if (v->len > k && j + 4 < n)
            j += (size_t)snprintf(out + j, n - j, "...");
        out[j] = '\0';
        break;
    }
    case VAL_BLOB: {
        size_t k = v->len < 30 ? v->len : 30;
        size_t j = (size_t)snprintf(out, n, "X'");
        const unsigned char *p = (const unsigned char *)rowbatch_bytes(b, v);
        for (size_t i = 0; i < k && j + 6 < n; i++)
            j += (size_t)snprintf(out + j, n - j, "%02X", p[i]);
        snprintf(out + j, n - j, v->len > k ? "...'" : "'");
        break;
    }
    }
}

/* Appends one value as an SQL literal. -1 with err for a value MySQL cannot hold. */
static int add_value(struct my_writer *w, const struct rowbatch *b, const struct val *v,
                     size_t col, size_t row, struct mms_err *err)
{
    struct buf *s = &w->sql;
    switch (v->kind) {
    case VAL_NULL:
        buf_adds(s, "NULL");
        return 0;
    case VAL_INT:
        buf_printf(s, "%" PRId64, v->v.i);
        return 0;
    case VAL_UINT:
        buf_printf(s, "%" PRIu64, v->v.u);
        return 0;
    case VAL_DOUBLE:
        /* MySQL has no NaN or infinities, and stores -0 as 0 */
        if (!isfinite(v->v.d) || (v->v.d == 0 && signbit(v->v.d))) {
            char txt[64];
            value_text(b, v, txt, sizeof txt);
            return mms_err_set(err, 400, E_VALUE,
                               "writing %s column `%s` row %zu: value %s cannot be held by a"
                               " MySQL number (no NaN, infinity or -0)",
                               w->what, w->names[col], row + 1, txt);
        }
        /* an exponent makes it a DOUBLE literal (not DECIMAL); 17 digits round-trip */
        buf_printf(s, "%.17e", v->v.d);
        return 0;
    case VAL_TEXT:
        sql_str_n(s, w->h, rowbatch_bytes(b, v), v->len);
        return 0;
    case VAL_BLOB: {
        static const char hex[] = "0123456789ABCDEF";
        const unsigned char *p = (const unsigned char *)rowbatch_bytes(b, v);
        buf_reserve(s, 2 * (size_t)v->len + 3);
        char *o = s->p + s->len;
        *o++ = 'X';
        *o++ = '\'';
        for (uint32_t i = 0; i < v->len; i++) {
            *o++ = hex[p[i] >> 4];
            *o++ = hex[p[i] & 15];
        }
        *o++ = '\'';
        s->len = (size_t)(o - s->p);
        s->p[s->len] = '\0';
        return 0;
    }
    }
    return mms_err_set(err, 500, E_INTERNAL, "writing %s: unknown value kind %d", w->what,
                       (int)v->kind);
}

/* A failed INSERT: a value error names the table, the column and the value (the server says
 * "... column 'c' at row N", N counting the rows of the statement). */
static int insert_fail(struct my_writer *w, const struct rowbatch *b, size_t first_row,
                       struct mms_err *err)
{
    unsigned e = mysql_errno(w->h);
    const char *msg = mysql_error(w->h);
    if (!my_errno_is_value(e))
        return my_fail(err, w->h, "writing %s", w->what);
    const char *at = NULL;
    for (const char *s = msg; (s = strstr(s, "at row ")) != NULL; s++)
        at = s;
    size_t row = at ? (size_t)strtoul(at + 7, NULL, 10) : 0;
    size_t col = w->ncols, best = 0;
    for (size_t i = 0; i < w->ncols; i++) {
        size_t n = strlen(w->names[i]);
        char *q1 = xasprintf("'%s'", w->names[i]);
        char *q2 = xasprintf("`%s`", w->names[i]);
        if ((strstr(msg, q1) || strstr(msg, q2)) && n >= best) {
            best = n;
            col = i;
        }
        free(q1);
        free(q2);
    }
    if (row >= 1 && first_row + row - 1 < b->nrows && col < w->ncols) {
        char txt[200];
        size_t r = first_row + row - 1;
        value_text(b, &rowbatch_row(b, r)[col], txt, sizeof txt);
        return mms_err_set(err, 400, E_VALUE,
                           "writing %s column `%s`: value '%s' cannot be stored: %s (%u)",
                           w->what, w->names[col], txt, msg, e);
    }
    return mms_err_set(err, 400, E_VALUE, "writing %s: %s (%u)", w->what, msg, e);
}

static int my_write_batch(struct conn_writer *writer, const struct rowbatch *b,
                          struct mms_err *err)
{
    struct my_writer *w = (struct my_writer *)writer;
    if (b->ncols != w->ncols)
        return mms_err_set(err, 500, E_INTERNAL, "writing %s: batch has %zu columns, not %zu",
                           w->what, b->ncols, w->ncols);
    struct buf *s = &w->sql;
    size_t r = 0;
    while (r < b->nrows) {
        size_t first = r;
        buf_clear(s);
        buf_adds(s, "INSERT INTO ");
        sql_ident2(s, w->db, w->stage);
        buf_adds(s, " VALUES ");
        size_t head = s->len;
        for (; r < b->nrows && s->len < MY_STMT_BYTES; r++) {
            size_t mark = s->len;
            const struct val *row = rowbatch_row(b, r);
            if (r > first)
                buf_addc(s, ',');
            buf_addc(s, '(');
            for (size_t i = 0; i < w->ncols; i++) {
                if (i)
                    buf_addc(s, ',');
                if (add_value(w, b, &row[i], i, r, err) < 0)
                    return -1;
            }
            buf_addc(s, ')');
            if (s->len > w->max_stmt) {
                if (r == first)
                    return mms_err_set(err, 400, E_VALUE,
                                       "writing %s: row %zu needs %zu bytes of SQL, more than"
                                       " the server's max_allowed_packet",
                                       w->what, r + 1, s->len - head);
                s->len = mark; /* this row starts the next statement */
                s->p[mark] = '\0';
                break;
            }
        }
        if (mysql_real_query(w->h, s->p, (unsigned long)s->len) != 0)
            return insert_fail(w, b, first, err);
        w->pending += s->len;
    }
    if (w->pending >= MY_COMMIT_BYTES) {
        w->pending = 0;
        if (my_exec(w->h, "COMMIT", 6, "committing staged rows", err) < 0 ||
            my_exec(w->h, "START TRANSACTION", 17, "starting the staging transaction", err) < 0)
            return my_fail(err, w->h, "writing %s", w->what);
    }
    return 0;
}

static int my_write_commit(struct conn_writer *writer, struct mms_err *err)
{
    struct my_writer *w = (struct my_writer *)writer;
    struct buf sql;
    int rc = -1;
    bool exists = false;
    struct conn_schema have = {0};
    buf_init(&sql, BUF_NO_LIMIT);
    if (my_exec(w->h, "COMMIT", 6, "committing staged rows", err) < 0) {
        my_fail(err, w->h, "writing %s", w->what);
        goto fail;
    }
    if (w->joined) { /* its rows are in the staging table; the primary swaps it in */
        rc = 0;
        goto out;
    }
    if (w->spec) {
        /* Replace the partition's rows inside the plain table in one transaction. READ
         * COMMITTED: the DELETE locks only the rows it removes, so partitions written by
         * concurrent tasks do not wait on each other's scans. */
        static const char iso[] = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";
        if (mypart_vars(w->h, &w->part, w->what, err) < 0)
            goto fail;
        buf_adds(&sql, "DELETE FROM ");
        sql_ident2(&sql, w->db, w->table);
        mypart_where(&sql, &w->part);
        struct buf ins;
        buf_init(&ins, BUF_NO_LIMIT);
        buf_adds(&ins, "INSERT INTO ");
        sql_ident2(&ins, w->db, w->table);
        buf_adds(&ins, " SELECT * FROM ");
        sql_ident2(&ins, w->db, w->stage);
        bool ok = my_exec(w->h, iso, sizeof iso - 1, "isolation", err) == 0 &&
                  my_exec(w->h, "START TRANSACTION", 17, "start", err) == 0 &&
                  my_execb(w->h, &sql, "delete", err) == 0 && my_execb(w->h, &ins, "insert", err) == 0 &&
                  my_exec(w->h, "COMMIT", 6, "commit", err) == 0;
        buf_release(&ins);
        if (!ok) {
            my_fail(err, w->h, "replacing partition '%s' of %s", w->spec, w->what);
            mysql_query(w->h, "ROLLBACK");
            goto fail;
        }
        rc = 0;
        struct mms_err derr = {0};
        if (drop_if_exists(w->h, w->db, w->stage, &derr) < 0)
            log_warn("mysql: %s: cannot drop staging table `%s`: %s", w->what, w->stage,
                     derr.msg); /* the next write_begin drops it */
        goto out;
    }
    if (my_schema_read(w->h, w->db, w->table, &have, err) < 0)
        goto fail;
    exists = have.ncols > 0;
    buf_adds(&sql, "RENAME TABLE ");
    if (exists) {
        /* one statement: MySQL renames both atomically */
        sql_ident2(&sql, w->db, w->table);
        buf_adds(&sql, " TO ");
        sql_ident2(&sql, w->db, w->old);
        buf_adds(&sql, ", ");
    }
    sql_ident2(&sql, w->db, w->stage);
    buf_adds(&sql, " TO ");
    sql_ident2(&sql, w->db, w->table);
    if (my_execb(w->h, &sql, "swap", err) < 0) {
        my_fail(err, w->h, "replacing %s", w->what);
        goto fail;
    }
    rc = 0;
    if (exists) {
        struct mms_err derr = {0};
        if (drop_if_exists(w->h, w->db, w->old, &derr) < 0)
            log_warn("mysql: %s: cannot drop the replaced table `%s`: %s", w->what, w->old,
                     derr.msg); /* the next write_begin drops it */
    }
    goto out;
fail:
    if (!w->joined) {
        struct mms_err ignore = {0};
        drop_if_exists(w->h, w->db, w->stage, &ignore);
    }
out:
    conn_schema_release(&have);
    buf_release(&sql);
    writer_free(w);
    return rc;
}

static void my_write_abort(struct conn_writer *writer)
{
    struct my_writer *w = (struct my_writer *)writer;
    if (!w)
        return;
    struct mms_err ignore = {0};
    if (w->joined) /* the staging table is the primary's to drop */
        mysql_query(w->h, "ROLLBACK");
    else if (drop_if_exists(w->h, w->db, w->stage, &ignore) < 0)
        log_warn("mysql: %s: cannot drop staging table `%s`: %s", w->what, w->stage, ignore.msg);
    writer_free(w);
}

/* Another session inserting into the primary's staging table (engine fan-out). */
static int my_write_join(struct conn_writer *primary, struct conn_writer **out,
                         struct mms_err *err)
{
    struct my_writer *p = (struct my_writer *)primary;
    struct my_writer *w = xcalloc(1, sizeof *w);
    buf_init(&w->sql, BUF_NO_LIMIT);
    w->joined = true;
    w->conn = p->conn;
    w->db = xstrdup(p->db);
    w->table = xstrdup(p->table);
    w->stage = xstrdup(p->stage);
    w->old = xstrdup(p->old);
    w->what = xstrdup(p->what);
    w->ncols = p->ncols;
    w->names = xcalloc(w->ncols ? w->ncols : 1, sizeof *w->names);
    for (size_t i = 0; i < w->ncols; i++)
        w->names[i] = xstrdup(p->names[i]);
    if (my_connect(&w->conn->p, &w->h, err) < 0 || staging_session(w, err) < 0) {
        writer_free(w);
        return -1;
    }
    *out = (struct conn_writer *)w;
    return 0;
}

/* ---- verification ----------------------------------------------------------------------- */

static int my_count(MYSQL *h, const char *db, const char *table, const char *partition,
                    const struct part_spec *keys, int64_t *out, char **sql_out, struct mms_err *err)
{
    struct buf sql;
    MYSQL_RES *res = NULL;
    char *pname = NULL;
    int rc = -1;
    buf_init(&sql, BUF_NO_LIMIT);
    if (partition && !(pname = part_name(partition, table, err)))
        goto out;
    buf_adds(&sql, "SELECT COUNT(*) FROM ");
    sql_ident2(&sql, db, table);
    if (pname) {
        buf_adds(&sql, " PARTITION (");
        sql_ident(&sql, pname);
        buf_addc(&sql, ')');
    }
    if (keys) {
        mypart_where(&sql, keys);
        if (mypart_vars(h, keys, table, err) < 0)
            goto out;
    }
    if (my_query(h, &sql, "count", &res, err) < 0) {
        my_fail(err, h, "counting rows of table `%s`.`%s`", db, table);
        goto out;
    }
    MYSQL_ROW row = mysql_fetch_row(res);
    if (!row || !row[0]) {
        mms_err_set(err, 500, E_QUERY, "counting rows of table `%s`.`%s`: no result", db, table);
        goto out;
    }
    *out = parse_i64(row[0], 0);
    if (sql_out)
        *sql_out = buf_detach(&sql, NULL);
    rc = 0;
out:
    free(pname);
    if (res)
        mysql_free_result(res);
    buf_release(&sql);
    return rc;
}

static int my_count_source(struct conn *conn, const char *db, const char *table,
                           const char *partition, int64_t *out, char **sql_out,
                           struct mms_err *err)
{
    struct my_conn *c = MY(conn);
    struct conn_schema s = {0};
    struct part_spec keys = {0};
    int k = 0, rc = -1;
    if (my_check_db(c, db, err) < 0)
        return -1;
    /* A Hive-like table's partition is its rows with the key value, as read_open reads them */
    if (partition && (my_table_schema(conn, db, table, &s, err) < 0 ||
                      (k = src_part_keys(table, partition, &s, &keys, err)) < 0))
        goto out;
    rc = k ? my_count(c->h, db, table, NULL, &keys, out, sql_out, err)
           : my_count(c->h, db, table, partition, NULL, out, sql_out, err);
out:
    part_spec_release(&keys);
    conn_schema_release(&s);
    return rc;
}

static int my_count_dest(struct conn *conn, const struct conn_target *t, const char *partition,
                         int64_t *out, char **sql_out, struct mms_err *err)
{
    struct part_spec keys = {0};
    struct conn_schema have = {0};
    int rc = -1;
    if (my_dest_check(t, NULL, err) < 0)
        return -1;
    /* A partition is the rows with its key values; the key columns' types from the table. */
    if (partition && (mypart_parse(t->table, partition, &keys, err) < 0 ||
                      my_schema_read(MY(conn)->h, t->project, t->table, &have, err) < 0 ||
                      mypart_resolve(t->table, partition, &keys, &have, err) < 0))
        goto out;
    rc = my_count(MY(conn)->h, t->project, t->table, NULL, partition ? &keys : NULL, out, sql_out,
                  err);
out:
    part_spec_release(&keys);
    conn_schema_release(&have);
    return rc;
}

static int my_read_dest_open(struct conn *conn, const struct conn_target *t,
                             const char *partition, const struct conn_schema *schema,
                             struct conn_reader **out, struct mms_err *err)
{
    struct part_spec keys = {0};
    if (my_dest_check(t, NULL, err) < 0)
        return -1;
    if (partition && (mypart_parse(t->table, partition, &keys, err) < 0 ||
                      mypart_resolve(t->table, partition, &keys, schema, err) < 0)) {
        part_spec_release(&keys);
        return -1;
    }
    int rc = reader_open(&MY(conn)->p, t->project, t->table, NULL, partition ? &keys : NULL,
                         schema, out, err);
    part_spec_release(&keys);
    return rc;
}

const struct conn_ops conn_mysql_ops = {
    .type = MY_TYPE,
    .url_scheme = "mysql",
    .open_source = my_open_source,
    .open_dest = my_open_dest,
    .close = my_close,
    .ping = my_ping,
    .list_dbs = my_list_dbs,
    .list_tables = my_list_tables,
    .list_partitions = my_list_partitions,
    .table_schema = my_table_schema,
    .read_open = my_read_open,
    .read_next = my_read_next,
    .read_close = my_read_close,
    .create_table = my_create_table,
    .write_begin = my_write_begin,
    .write_batch = my_write_batch,
    .write_commit = my_write_commit,
    .write_abort = my_write_abort,
    .write_join = my_write_join,
    .count_source = my_count_source,
    .count_dest = my_count_dest,
    .read_dest_open = my_read_dest_open,
};
