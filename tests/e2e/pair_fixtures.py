"""The same logical fixture in every kind of source, and independent readers of every kind of
destination, for tests/e2e/test_pairs.py.

Nothing here uses mms: sources are written and destinations read with independent clients
(Python's sqlite3, the psql CLI, the mariadb CLI, plain file reads and writes following
docs/files-format.md), so the comparison is an independent witness of what a migration wrote.

Tables (in every source):
    all_types     every portable type: int64 extremes, decimal(20,4), doubles needing 17
                  digits, varchar(40), text with quotes/newlines/control bytes/unicode, bytes
                  with zero bytes, bool, date, datetime(6), a row of NULLs, empty strings
    NASTY_TABLE   a table and columns named with spaces, quotes, backticks, dots, mixed case
                  and non-ASCII letters
    events        partitioned by `region` where the source can partition (FILES: region=<v>
                  directories; PostgreSQL: PARTITION BY LIST; MySQL: PARTITION BY LIST
                  COLUMNS); a plain table in SQLite
    time_json     time(6), timestamp(6) (an instant, UTC) and json

    make_source(kind, where, servers, tag) -> Source  (kind: SQLITE POSTGRESQL MYSQL FILES)
    read_source(src, table) / read_dest(kind, ...) -> rows as dicts {column: raw value}
    canonical(table, rows, lossy=()) -> sorted list of tuples (the comparison form)
"""

import base64
import binascii
import decimal
import json
import os
import sqlite3
import struct
import subprocess

PSQL = "/usr/lib/postgresql/15/bin/psql"
if not os.path.exists(PSQL):
    PSQL = "psql"
MARIADB = "mariadb"

TYPES_TABLE = "all_types"
NASTY_TABLE = 'Nasty `Tbl` "q" it\'s.x ünï'
PART_TABLE = "events"
MORE_TABLE = "time_json"
TABLES = (TYPES_TABLE, NASTY_TABLE, PART_TABLE, MORE_TABLE)

# ---- the logical fixture ---------------------------------------------------------------------

# (name, kind). kind: int dec dbl str bytes bool date dt
TYPE_COLS = [("id", "int"), ("i64", "int"), ("dec", "dec"), ("dbl", "dbl"), ("vc", "str"),
             ("txt", "str"), ("bin", "bytes"), ("flag", "bool"), ("d", "date"), ("dt", "dt")]

NASTY_COLS = [("id", "int"), ('Col "A"', "str"), ("it's", "int"), ("dot.col", "str"),
              ("MiXeD Case", "str"), ("ünï cödé", "str"), ("back`tick", "str")]

PART_COLS = [("id", "int"), ("region", "str"), ("v", "str")]

# time(6), timestamp(6) (an instant, UTC) and json: portable, but not between every pair of
# dialects in every value range, so a table of their own (MySQL TIMESTAMP: 1970..2038).
MORE_COLS = [("id", "int"), ("tm", "time"), ("ts", "ts"), ("j", "json")]

COLUMNS = {TYPES_TABLE: TYPE_COLS, NASTY_TABLE: NASTY_COLS, PART_TABLE: PART_COLS,
           MORE_TABLE: MORE_COLS}

I64_MIN, I64_MAX = -9223372036854775808, 9223372036854775807

TYPE_ROWS = [
    (1, I64_MIN, "-9999999999999999.9999", 0.30000000000000004, "short",
     "it's \"quoted\" `back` \\slash\\ ; --", b"\x00\x01\x00\xff", True, "2024-02-29",
     "2024-02-29 23:59:59.123456"),
    (2, I64_MAX, "9999999999999999.9999", 1.0 / 3.0, "é" * 40,
     "line1\nline2\r\nline3\ttab \x01 ctl \x7f", b"\x00\x00\x00", False, "1970-01-01",
     "1970-01-01 00:00:00"),
    (3, 0, "0.0001", 5e-324, "", "", b"", False, "9999-12-31", "9999-12-31 23:59:59.999999"),
    (4, None, None, None, None, None, None, None, None, None),
    (5, -1, "-0.5000", 1.7976931348623157e308, "emoji 😀 漢字",
     "emoji 😀🎉 👩‍👩‍👧 CJK 漢字 RTL עברית \u2028 zero\u200bwidth", bytes(range(256)), True,
     "2000-01-01", "2000-01-01 12:00:00.5"),
    (6, 2 ** 53 + 1, "42.0000", -2.2250738585072014e-308, "DROP TABLE x; --",
     "\\N and \\\\N and NULL and %s $1 ?", b"\\N", True, "1000-01-01",
     "1000-01-01 00:00:00.000001"),
    (7, 2147483648, "1234.5678", -123456.789e-10, "   ", "trailing spaces   ",
     b"\x00" * 100, False, "2023-12-31", "2023-12-31 23:59:59"),
]

# SQLite's NUMERIC affinity stores decimals as REALs of 15 significant digits (sqlite.org
# datatype3 section 3): the SQLite source holds decimals that a double represents exactly, so
# that the source's own value is the one compared.
SQLITE_DECIMALS = {1: -12345678901.5, 2: 12345678901.25, 3: 0.0625, 6: 42, 7: 1234.5}

NASTY_ROWS = [
    (1, "a \"b\" 'c'", 10, "x.y.z", "Mixed", "ünï", "`tick`"),
    (2, None, None, None, None, None, None),
    (3, "", -10, "", "", "", ""),
]

PARTS = ["eu", "us", "ap"]
PART_ROWS = [(i, PARTS[i % 3], "event %d in %s" % (i, PARTS[i % 3])) for i in range(1, 31)]


MORE_ROWS = [
    (1, "00:00:00", "1970-01-01 00:00:01", '{"a":[1,2,{"b":null}],"s":"q\\"uote","é":"ünï"}'),
    (2, "23:59:59.999999", "2038-01-19 03:14:07.999999", "[]"),
    (3, "12:34:56.5", "2024-02-29 12:00:00.5", "null"),
    (4, None, None, None),
    (5, "08:00:00.000001", "2000-06-15 23:59:59", '{"k": "v with spaces" ,  "n": -1.5e3}'),
]


def rows_of(table):
    return {TYPES_TABLE: TYPE_ROWS, NASTY_TABLE: NASTY_ROWS, PART_TABLE: PART_ROWS,
            MORE_TABLE: MORE_ROWS}[table]


# ---- canonical form --------------------------------------------------------------------------

Q4 = decimal.Decimal("0.0001")


def _text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    return v


def canon_value(kind, v, lossy=()):
    """The comparison form of one value of a column of `kind`. lossy: kinds compared in a
    documented weaker form ("dec": as the nearest double)."""
    if v is None:
        return None
    if kind == "int":
        return int(v)
    if kind == "bool":
        if isinstance(v, (bytes, str)):
            s = _text(v).lower()
            return {"t": 1, "true": 1, "1": 1, "f": 0, "false": 0, "0": 0}[s]
        return int(bool(v))
    if kind == "dbl":
        return float(_text(v) if not isinstance(v, (int, float)) else v).hex()
    if kind == "dec":
        if isinstance(v, float):
            d = decimal.Decimal(repr(v))
        elif isinstance(v, int):
            d = decimal.Decimal(v)
        else:
            d = decimal.Decimal(_text(v))
        if "dec" in lossy:
            return repr(float(d))
        return str(d.quantize(Q4))
    if kind == "bytes":
        if isinstance(v, str):
            return v.encode("utf-8")
        return bytes(v)
    if kind in ("dt", "time", "ts"):
        s = _text(v).replace("T", " ")
        if kind == "ts":
            for suffix in ("+00:00", "+00", "Z"):
                if s.endswith(suffix):
                    s = s[:-len(suffix)]
        if "." in s:
            s = s.rstrip("0").rstrip(".")
        return s
    return _text(v)  # str, date


def canonical(table, rows, lossy=()):
    """rows: list of dicts {column name: raw value}; returns the sorted comparison form."""
    cols = COLUMNS[table]
    out = []
    for r in rows:
        missing = [c for c, _ in cols if c not in r]
        if missing:
            raise AssertionError("table %r: row without column(s) %r: %r" % (table, missing, r))
        out.append(tuple(canon_value(k, r[c], lossy) for c, k in cols))
    return sorted(out, key=repr)


def diff(table, a, b, limit=5):
    """Human-readable differences between two canonical lists (a: source, b: destination)."""
    sa, sb = list(a), list(b)
    only_a = [x for x in sa if x not in sb]
    only_b = [x for x in sb if x not in sa]
    msg = ["table %r: source %d rows, destination %d rows" % (table, len(sa), len(sb))]
    for x in only_a[:limit]:
        msg.append("  only in source:      %.400r" % (x,))
    for x in only_b[:limit]:
        msg.append("  only in destination: %.400r" % (x,))
    return "\n".join(msg)


# ---- sources ---------------------------------------------------------------------------------

class Source:
    """kind, db (the source db name mms shows), config (the data source config without dst.*),
    and what the readers need."""

    def __init__(self, kind, db, config, **kw):
        self.kind = kind
        self.db = db
        self.config = config
        self.__dict__.update(kw)


def _logical_rows(table, kind):
    rows = rows_of(table)
    if kind == "SQLITE" and table == TYPES_TABLE:
        rows = [tuple(SQLITE_DECIMALS.get(r[0], r[2]) if i == 2 and r[2] is not None else x
                      for i, x in enumerate(r)) for r in rows]
    return rows


def make_source(kind, where, servers, tag):
    """Creates the fixture in a new source of `kind`; `where` is a directory for files,
    `tag` makes server-side names unique."""
    if kind == "SQLITE":
        return make_sqlite(os.path.join(where, "src.db"))
    if kind == "FILES":
        return make_files(os.path.join(where, "warehouse"))
    if kind == "POSTGRESQL":
        return make_pg(servers.pg, "src_" + tag)
    if kind == "MYSQL":
        return make_mysql(servers.mysql, "src_" + tag)
    raise ValueError(kind)


# SQLite -----------------------------------------------------------------------------------------

def sq(name):
    return '"' + name.replace('"', '""') + '"'


SQLITE_DDL = {
    TYPES_TABLE: ["INTEGER", "BIGINT", "DECIMAL(20,4)", "DOUBLE", "VARCHAR(40)", "TEXT", "BLOB",
                  "BOOLEAN", "DATE", "DATETIME"],
    NASTY_TABLE: ["INTEGER", "TEXT", "INTEGER", "TEXT", "TEXT", "TEXT", "TEXT"],
    PART_TABLE: ["INTEGER", "VARCHAR(20)", "TEXT"],
    MORE_TABLE: ["INTEGER", "TIME", "TIMESTAMP", "JSON"],
}


def make_sqlite(path):
    con = sqlite3.connect(path)
    with con:
        for t in TABLES:
            cols = COLUMNS[t]
            con.execute("CREATE TABLE %s (%s)" % (sq(t), ", ".join(
                "%s %s" % (sq(c), ty) for (c, _), ty in zip(cols, SQLITE_DDL[t]))))
            rows = [tuple(int(x) if isinstance(x, bool) else x for x in r)
                    for r in _logical_rows(t, "SQLITE")]
            con.executemany("INSERT INTO %s VALUES (%s)" % (sq(t), ", ".join("?" * len(cols))),
                            rows)
    con.close()
    return Source("SQLITE", "main", {"sqlite.path": path}, path=path)


def read_sqlite(path, table):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        cur = con.execute("SELECT * FROM %s" % sq(table))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()


# PostgreSQL -------------------------------------------------------------------------------------

def pq(name):
    return '"' + name.replace('"', '""') + '"'


def pl(s):
    return "'" + s.replace("'", "''") + "'"


def pg_value(kind, v):
    if v is None:
        return "NULL"
    if kind == "int":
        return str(v)
    if kind == "bool":
        return "true" if v else "false"
    if kind == "dbl":
        return "%s::float8" % pl(repr(v))
    if kind == "dec":
        return "%s::numeric" % pl(str(v))
    if kind == "bytes":
        return "'\\x%s'::bytea" % v.hex()
    if kind in ("date", "dt", "time"):
        return pl(v)
    if kind == "ts":
        return pl(v + "+00")
    # text: through hex, so no quoting or escaping question arises
    t = "convert_from('\\x%s'::bytea, 'UTF8')" % v.encode("utf-8").hex()
    return t + "::json" if kind == "json" else t


PG_DDL = {
    TYPES_TABLE: ["bigint", "bigint", "numeric(20,4)", "double precision", "varchar(40)",
                  "text", "bytea", "boolean", "date", "timestamp(6)"],
    NASTY_TABLE: ["bigint", "text", "bigint", "text", "text", "text", "text"],
    PART_TABLE: ["bigint", "varchar(20)", "text"],
    MORE_TABLE: ["bigint", "time(6)", "timestamp(6) with time zone", "json"],
}


def psql(server, db, sql, check=True):
    cmd = [PSQL, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", server.host, "-p",
           str(server.port), "-U", server.user, "-d", db, "-F", "|"]
    p = subprocess.run(cmd, input=sql, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PGCLIENTENCODING="UTF8", PGTZ="UTC"))
    if check and p.returncode != 0:
        raise AssertionError("psql -d %s failed (%d): %s\nSQL: %s"
                             % (db, p.returncode, p.stderr, sql[:2000]))
    return p.stdout


def pg_sql_inserts(table, rows, schema):
    cols = COLUMNS[table]
    vals = ",\n".join("(%s)" % ", ".join(pg_value(k, v) for (_, k), v in zip(cols, r))
                      for r in rows)
    return "INSERT INTO %s.%s VALUES %s;\n" % (pq(schema), pq(table), vals)


def make_pg(server, dbname, schema="shop"):
    psql(server, "postgres", "DROP DATABASE IF EXISTS %s; CREATE DATABASE %s;"
         % (pq(dbname), pq(dbname)))
    sql = ["CREATE SCHEMA %s;" % pq(schema)]
    for t in (TYPES_TABLE, NASTY_TABLE, MORE_TABLE):
        sql.append("CREATE TABLE %s.%s (%s);" % (pq(schema), pq(t), ", ".join(
            "%s %s" % (pq(c), ty) for (c, _), ty in zip(COLUMNS[t], PG_DDL[t]))))
    sql.append("CREATE TABLE %s.%s (%s) PARTITION BY LIST (region);" % (
        pq(schema), pq(PART_TABLE), ", ".join(
            "%s %s" % (pq(c), ty) for (c, _), ty in zip(PART_COLS, PG_DDL[PART_TABLE]))))
    for p in PARTS:
        sql.append("CREATE TABLE %s.%s PARTITION OF %s.%s FOR VALUES IN (%s);" % (
            pq(schema), pq(PART_TABLE + "_" + p), pq(schema), pq(PART_TABLE), pl(p)))
    for t in TABLES:
        sql.append(pg_sql_inserts(t, rows_of(t), schema))
    sql.append("ANALYZE;")
    psql(server, dbname, "\n".join(sql))
    cfg = {"pg.host": server.host, "pg.port": server.port, "pg.user": server.user,
           "pg.password": server.password, "pg.database": dbname, "pg.ssl_mode": "disable",
           "pg.connect_timeout": 10}
    return Source("POSTGRESQL", schema, cfg, server=server, database=dbname, schema=schema)


def read_pg(server, db, schema, table):
    """Every row of db.schema.table via psql: each value sent as hex of its output text
    (bytea: of its bytes), NULL as N, so no separator or escaping question arises."""
    out = psql(server, db, "SELECT column_name, data_type FROM information_schema.columns "
               "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position;"
               % (pl(schema), pl(table)))
    cols = [line.split("|", 1) for line in out.splitlines() if line]
    if not cols:
        raise AssertionError("PostgreSQL %s: no table %s.%s" % (db, schema, table))
    exprs = []
    for name, ty in cols:
        c = pq(name)
        if ty == "bytea":
            text = "encode(%s, 'hex')" % c
        elif ty == "real":  # every float is a double: print it exactly
            text = "encode(convert_to(format('%%s', %s::float8), 'UTF8'), 'hex')" % c
        else:  # format('%s') prints with the type's output function (inet ::1, not ::1/128)
            text = "encode(convert_to(format('%%s', %s), 'UTF8'), 'hex')" % c
        exprs.append("CASE WHEN %s IS NULL THEN 'N' ELSE %s END" % (c, text))
    out = psql(server, db, "SELECT %s FROM %s.%s;" % (", ".join(exprs), pq(schema), pq(table)))
    rows = []
    for line in out.splitlines():
        if not line and len(cols) > 1:
            continue
        fields = line.split("|")
        assert len(fields) == len(cols), (line, cols)
        r = {}
        for (name, ty), f in zip(cols, fields):
            if f == "N":
                r[name] = None
            else:
                b = binascii.unhexlify(f)
                r[name] = b if ty == "bytea" else b.decode("utf-8")
        rows.append(r)
    return rows


def pg_find_table(server, db, table):
    """The schema of `table` in database `db` (the only one holding it)."""
    out = psql(server, db, "SELECT table_schema FROM information_schema.tables WHERE "
               "table_name = %s AND table_schema NOT IN ('pg_catalog', 'information_schema');"
               % pl(table))
    schemas = [s for s in out.splitlines() if s]
    if len(schemas) != 1:
        raise AssertionError("PostgreSQL %s: table %r in schemas %r" % (db, table, schemas))
    return schemas[0]


# MySQL ------------------------------------------------------------------------------------------

def mq(name):
    return "`" + name.replace("`", "``") + "`"


def ml(s):
    return "_utf8mb4 X'%s'" % s.encode("utf-8").hex()


def my_value(kind, v):
    if v is None:
        return "NULL"
    if kind == "int":
        return str(v)
    if kind == "bool":
        return "1" if v else "0"
    if kind == "dbl":
        return format(v, ".17e")  # an exponent: a DOUBLE literal, 17 digits: exact
    if kind in ("dec", "date", "dt", "time", "ts"):
        return "'%s'" % v
    if kind == "bytes":
        return "X'%s'" % v.hex()
    return ml(v)


MY_DDL = {
    TYPES_TABLE: ["BIGINT", "BIGINT", "DECIMAL(20,4)", "DOUBLE", "VARCHAR(40)", "LONGTEXT",
                  "LONGBLOB", "TINYINT(1)", "DATE", "DATETIME(6)"],
    NASTY_TABLE: ["BIGINT", "LONGTEXT", "BIGINT", "LONGTEXT", "LONGTEXT", "LONGTEXT",
                  "LONGTEXT"],
    PART_TABLE: ["BIGINT", "VARCHAR(20)", "LONGTEXT"],
    MORE_TABLE: ["BIGINT", "TIME(6)", "TIMESTAMP(6) NULL", "JSON"],
}


def mariadb(server, sql, db=None, check=True):
    cmd = [MARIADB, "--no-defaults", "--batch", "--raw", "--skip-column-names",
           "--default-character-set=utf8mb4", "-h", server.host, "-P", str(server.port),
           "-u", server.user]
    if db:
        cmd.append("--database=" + db)
    sql = "SET time_zone = '+00:00';\n" + sql
    p = subprocess.run(cmd, input=sql.encode("utf-8"), capture_output=True, timeout=120,
                       env=dict(os.environ, MYSQL_PWD=server.password))
    if check and p.returncode != 0:
        raise AssertionError("mariadb failed (%d): %s\nSQL: %s"
                             % (p.returncode, p.stderr.decode("utf-8", "replace"), sql[:2000]))
    return p.stdout.decode("utf-8")


def my_sql_inserts(db, table, rows):
    cols = COLUMNS[table]
    vals = ",\n".join("(%s)" % ", ".join(my_value(k, v) for (_, k), v in zip(cols, r))
                      for r in rows)
    return "INSERT INTO %s.%s VALUES %s;\n" % (mq(db), mq(table), vals)


def make_mysql(server, dbname):
    sql = ["DROP DATABASE IF EXISTS %s;" % mq(dbname),
           "CREATE DATABASE %s CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;" % mq(dbname),
           "SET sql_mode = 'STRICT_ALL_TABLES';"]
    for t in TABLES:
        ddl = "CREATE TABLE %s.%s (%s) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin" \
            % (mq(dbname), mq(t), ", ".join("%s %s" % (mq(c), ty)
                                            for (c, _), ty in zip(COLUMNS[t], MY_DDL[t])))
        if t == PART_TABLE:
            ddl += " PARTITION BY LIST COLUMNS(region) (%s)" % ", ".join(
                "PARTITION %s VALUES IN ('%s')" % (mq("p_" + p), p) for p in PARTS)
        sql.append(ddl + ";")
        sql.append(my_sql_inserts(dbname, t, rows_of(t)))
    sql.append("ANALYZE TABLE %s;" % ", ".join("%s.%s" % (mq(dbname), mq(t)) for t in TABLES))
    mariadb(server, "\n".join(sql))
    cfg = {"mysql.host": server.host, "mysql.port": server.port, "mysql.user": server.user,
           "mysql.password": server.password, "mysql.database": dbname,
           "mysql.ssl_mode": "DISABLED", "mysql.connect_timeout": 10}
    return Source("MYSQL", dbname, cfg, server=server, database=dbname)


def my_lit(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def read_mysql(server, db, table):
    """Every row of db.table via the mariadb CLI: values as HEX of their bytes (text as
    utf8mb4), NULL as N."""
    out = mariadb(server, "SELECT column_name, data_type FROM information_schema.columns "
                  "WHERE table_schema = %s AND BINARY table_name = %s "
                  "ORDER BY ordinal_position;" % (my_lit(db), my_lit(table)))
    cols = [line.split("\t", 1) for line in out.splitlines() if line]
    if not cols:
        raise AssertionError("MySQL: no table %s.%s" % (db, table))
    exprs = []
    for name, ty in cols:
        if "blob" in ty or "binary" in ty:
            exprs.append("IFNULL(HEX(%s), 'N')" % mq(name))
        elif ty == "float":  # FLOAT prints 6 digits; as a DOUBLE it prints exactly
            exprs.append("IFNULL(HEX(CAST(CAST(%s AS DOUBLE) AS CHAR)), 'N')" % mq(name))
        else:
            exprs.append("IFNULL(HEX(CAST(%s AS CHAR CHARACTER SET utf8mb4)), 'N')" % mq(name))
    out = mariadb(server, "SELECT %s FROM %s.%s;" % (", ".join(exprs), mq(db), mq(table)))
    rows = []
    for line in out.splitlines():
        if not line and len(cols) > 1:
            continue
        fields = line.split("\t")
        assert len(fields) == len(cols), (line, cols)
        r = {}
        for (name, ty), f in zip(cols, fields):
            if f == "N":
                r[name] = None
            else:
                b = binascii.unhexlify(f)
                r[name] = b if ("blob" in ty or "binary" in ty) else b.decode("utf-8")
        rows.append(r)
    return rows


# FILES ------------------------------------------------------------------------------------------

FILES_TYPES = {
    TYPES_TABLE: ["int64", "int64", "decimal(20,4)", "float64", "varchar(40)", "text", "binary",
                  "bool", "date", "datetime(6)"],
    NASTY_TABLE: ["int64", "text", "int64", "text", "text", "text", "text"],
    PART_TABLE: ["int64", "varchar(20)", "text"],
    MORE_TABLE: ["int64", "time(6)", "timestamp(6)", "json"],
}


def files_field(kind, v):
    """The text of one value as docs/files-format.md says a writer writes it (unescaped)."""
    if kind == "bool":
        return b"true" if v else b"false"
    if kind == "dbl":
        return repr(v).encode()
    if kind == "bytes":
        return base64.b64encode(v)
    return str(v).encode("utf-8")


def text_escape(b):
    out = bytearray()
    for ch in b:
        if ch == 0x5C:
            out += b"\\\\"
        elif ch == 0x01:
            out += b"\\\x01"
        elif ch == 0x0A:
            out += b"\\n"
        elif ch == 0x0D:
            out += b"\\r"
        else:
            out.append(ch)
    return bytes(out)


def text_row(kinds, values):
    return b"\x01".join(b"\\N" if v is None else text_escape(files_field(k, v))
                        for k, v in zip(kinds, values)) + b"\n"


def write_schema_file(tdir, cols, types, keys=()):
    doc = {"columns": [{"name": c, "type": ty} for (c, _), ty in zip(cols, types)]}
    if keys:
        doc["partitionKeys"] = [{"name": k, "type": "varchar(20)"} for k in keys]
    with open(os.path.join(tdir, ".mms-schema.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=2)


def part_dir_name(key, value):
    """k=v with Hive's escapePathName escaping of the value (docs/files-format.md)."""
    raw = bytearray()
    for ch in value.encode("utf-8"):
        if ch < 0x20 or ch == 0x7F or chr(ch) in "\"#%'*/:=?\\{[]^":
            raw += ("%%%02X" % ch).encode()
        else:
            raw.append(ch)
    return key + "=" + raw.decode("utf-8")


def write_events_partition(tdir, region, rows, name="000000_0"):
    pdir = os.path.join(tdir, part_dir_name("region", region))
    os.makedirs(pdir, exist_ok=True)
    kinds = ["int", "str"]
    with open(os.path.join(pdir, name), "wb") as f:
        for r in rows:
            f.write(text_row(kinds, (r[0], r[2])))


def make_files(root, db="shop"):
    """A Hive text-format warehouse: <root>/shop.db/<table>/... with schema files."""
    ddir = os.path.join(root, db + ".db")
    for t in (TYPES_TABLE, NASTY_TABLE, MORE_TABLE):
        tdir = os.path.join(ddir, t)
        os.makedirs(tdir)
        write_schema_file(tdir, COLUMNS[t], FILES_TYPES[t])
        kinds = [k for _, k in COLUMNS[t]]
        with open(os.path.join(tdir, "000000_0"), "wb") as f:
            for r in rows_of(t):
                f.write(text_row(kinds, r))
    tdir = os.path.join(ddir, PART_TABLE)
    os.makedirs(tdir)
    write_schema_file(tdir, [("id", "int"), ("v", "str")], ["int64", "text"], keys=["region"])
    for p in PARTS:
        write_events_partition(tdir, p, [r for r in PART_ROWS if r[1] == p])
    return Source("FILES", db, {"files.root": root, "files.format": "text"}, root=root,
                  format="text")


def unescape_path(s):
    """Hive's unescapePathName: %XX (either case) is that byte, any other % is itself."""
    b = s.encode("utf-8")
    out = bytearray()
    i = 0
    while i < len(b):
        if b[i] == 0x25 and i + 3 <= len(b) and \
                all(c in b"0123456789abcdefABCDEF" for c in b[i + 1:i + 3]):
            out.append(int(b[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(b[i])
            i += 1
    return out.decode("utf-8")


def parse_text_file(data, ncols):
    """Hive text rows -> lists of bytes or None (docs/files-format.md)."""
    rows = []
    for line in data.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        rows.append(line)
    if rows and rows[-1] == b"":
        rows.pop()
    out = []
    for line in rows:
        if line == b"" and ncols > 1:
            continue
        fields, cur, raw = [], bytearray(), bytearray()
        i = 0
        while i < len(line):
            ch = line[i]
            if ch == 0x5C and i + 1 < len(line):
                nx = line[i + 1]
                cur.append({0x6E: 0x0A, 0x72: 0x0D}.get(nx, nx))
                raw += line[i:i + 2]
                i += 2
                continue
            if ch == 0x01:
                fields.append(None if bytes(raw) == b"\\N" else bytes(cur))
                cur, raw = bytearray(), bytearray()
            else:
                cur.append(ch)
                raw.append(ch)
            i += 1
        fields.append(None if bytes(raw) == b"\\N" else bytes(cur))
        if len(fields) != ncols:
            raise AssertionError("text row has %d fields, table %d columns: %r"
                                 % (len(fields), ncols, line[:200]))
        out.append(fields)
    return out


def parse_csv_file(data, ncols):
    """RFC 4180 with a header row; NULL = empty unquoted field (docs/files-format.md)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    rows, fields, cur = [], [], bytearray()
    quoted = False
    i, n = 0, len(data)
    at_field_start = True
    while i < n:
        ch = data[i]
        if at_field_start and ch == 0x22:
            quoted = True
            at_field_start = False
            i += 1
            while True:
                if i >= n:
                    raise AssertionError("unclosed quote in CSV")
                if data[i] == 0x22:
                    if i + 1 < n and data[i + 1] == 0x22:
                        cur.append(0x22)
                        i += 2
                        continue
                    i += 1
                    break
                cur.append(data[i])
                i += 1
            continue
        if ch == 0x2C:
            fields.append(bytes(cur) if (quoted or cur) else None)
            cur, quoted, at_field_start = bytearray(), False, True
            i += 1
            continue
        if ch == 0x0A or (ch == 0x0D and i + 1 < n and data[i + 1] == 0x0A):
            fields.append(bytes(cur) if (quoted or cur) else None)
            rows.append(fields)
            fields, cur, quoted, at_field_start = [], bytearray(), False, True
            i += 2 if ch == 0x0D else 1
            continue
        cur.append(ch)
        at_field_start = False
        i += 1
    if cur or quoted or fields:
        fields.append(bytes(cur) if (quoted or cur) else None)
        rows.append(fields)
    if not rows:
        return []
    header, body = rows[0], rows[1:]
    if len(header) != ncols:
        raise AssertionError("CSV header has %d fields, table %d columns" % (len(header), ncols))
    out = []
    for r in body:
        if r == [None] and ncols > 1:
            continue
        if len(r) != ncols:
            raise AssertionError("CSV row has %d fields, table %d columns: %r" % (len(r), ncols, r))
        out.append(r)
    return out


def read_files(root, db, table, fmt):
    """Every row of <root>/<db>.db/<table>: data columns from the files converted by the
    schema file's types (binary: base64), plus the partition keys from the directory names."""
    tdir = os.path.join(root, db + ".db", table)
    with open(os.path.join(tdir, ".mms-schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    cols = [(c["name"], c["type"]) for c in schema["columns"]]
    keys = [k["name"] for k in schema.get("partitionKeys", [])]
    rows = []

    def leaf(d, part):
        for name in sorted(os.listdir(d)):
            if name.startswith(".") or name.startswith("_"):
                continue
            p = os.path.join(d, name)
            if os.path.isdir(p):
                raise AssertionError("directory inside a leaf: %s" % p)
            with open(p, "rb") as f:
                data = f.read()
            parsed = parse_csv_file(data, len(cols)) if fmt == "csv" else \
                parse_text_file(data, len(cols))
            for fields in parsed:
                r = dict(part)
                for (c, ty), v in zip(cols, fields):
                    if v is not None and ty.startswith("binary"):
                        v = base64.b64decode(v + b"=" * (-len(v) % 4), validate=True)
                    elif v is not None:
                        v = v.decode("utf-8")
                    r[c] = v
                rows.append(r)

    def walk(d, depth, part):
        if depth == len(keys):
            leaf(d, part)
            return
        for name in sorted(os.listdir(d)):
            if name.startswith(".") or name.startswith("_"):
                continue
            k, sep, v = name.partition("=")
            assert sep and unescape_path(k) == keys[depth], "bad partition directory %s" % name
            walk(os.path.join(d, name), depth + 1, dict(part, **{keys[depth]: unescape_path(v)}))

    walk(tdir, 0, {})
    return rows


def files_partitions(root, db, table):
    """The k=v directory paths of a FILES table (relative), sorted."""
    tdir = os.path.join(root, db + ".db", table)
    out = []
    for dirpath, dirnames, filenames in os.walk(tdir):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        if not dirnames and dirpath != tdir:
            out.append(os.path.relpath(dirpath, tdir))
    return sorted(out)


# ---- reading a source ----------------------------------------------------------------------------

def read_source(src, table):
    if src.kind == "SQLITE":
        return read_sqlite(src.path, table)
    if src.kind == "POSTGRESQL":
        return read_pg(src.server, src.database, src.schema, table)
    if src.kind == "MYSQL":
        return read_mysql(src.server, src.database, table)
    if src.kind == "FILES":
        return read_files(src.root, src.db, table, src.format)
    raise ValueError(src.kind)


# ---- dialect-specific types -------------------------------------------------------------------------
#
# Types only PostgreSQL or MySQL have, each migrated to every destination and compared with the
# value the documented mapping (types.md) gives. EXTRAS[kind] = (table, [(column, native type,
# kind)], [rows of source literals], [rows of expected values]).

def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


PG_EXTRAS = ("pg_types", [
    ("id", "bigint", "int"), ("u", "uuid", "str"), ("m", "mood", "str"),
    ("arr", "integer[]", "str"), ("jb", "jsonb", "str"), ("r", "real", "dbl"),
    ("i16", "smallint", "int"), ("iv", "interval", "str"), ("ip", "inet", "str")],
    [("1", "'0e2f6a8c-1b7d-4c2a-9f3e-7a1b2c3d4e5f'", "'happy'", "ARRAY[1,NULL,3]",
      """'{"b": [true, null], "a": 1}'""", "'0.1'", "-32768", "'1 day 02:03:04'",
      "'192.168.0.1/24'"),
     ("2", "'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'", "'sad ünï'", "'{}'::integer[]", "'[]'",
      "'16777217'", "32767", "'-3 mons'", "'::1'"),
     ("3", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL")],
    [(1, "0e2f6a8c-1b7d-4c2a-9f3e-7a1b2c3d4e5f", "happy", "[1,null,3]",
      '{"a": 1, "b": [true, null]}', f32(0.1), -32768, "1 day 02:03:04", "192.168.0.1/24"),
     (2, "ffffffff-ffff-ffff-ffff-ffffffffffff", "sad ünï", "[]", "[]", f32(16777217.0), 32767,
      "-3 mons", "::1"),
     (3, None, None, None, None, None, None, None, None)])

MY_EXTRAS = ("my_types", [
    ("id", "INT", "int"), ("tu", "TINYINT UNSIGNED", "int"), ("iu", "INT UNSIGNED", "int"),
    ("mi", "MEDIUMINT", "int"), ("bu", "BIGINT UNSIGNED", "int"),
    ("e", "ENUM('a','b c')", "str"), ("st", "SET('x','y')", "str"), ("y", "YEAR", "int"),
    ("fl", "FLOAT", "dbl"), ("uu", "UUID", "str"), ("vb", "VARBINARY(8)", "bytes")],
    [("1", "255", "4294967295", "-8388608", "9223372036854775807", "'b c'", "'x,y'", "2155",
      "0.1", "'0e2f6a8c-1b7d-4c2a-9f3e-7a1b2c3d4e5f'", "X'00ff00'"),
     ("2", "0", "0", "8388607", "0", "'a'", "''", "1901", "16777217", "NULL", "X''"),
     ("3", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL")],
    [(1, 255, 4294967295, -8388608, 9223372036854775807, "b c", "x,y", 2155, f32(0.1),
      "0e2f6a8c-1b7d-4c2a-9f3e-7a1b2c3d4e5f", b"\x00\xff\x00"),
     (2, 0, 0, 8388607, 0, "a", "", 1901, f32(16777217.0), None, b""),
     (3, None, None, None, None, None, None, None, None, None, None)])

EXTRAS = {"POSTGRESQL": PG_EXTRAS, "MYSQL": MY_EXTRAS}
for _t, _cols, _lit, _exp in EXTRAS.values():
    COLUMNS[_t] = [(c, k) for c, _, k in _cols]


def make_extras(kind, server, dbname):
    """A database holding the dialect's extra table; returns the Source."""
    table, cols, lits, _ = EXTRAS[kind]
    if kind == "POSTGRESQL":
        psql(server, "postgres", "DROP DATABASE IF EXISTS %s; CREATE DATABASE %s;"
             % (pq(dbname), pq(dbname)))
        sql = ["CREATE SCHEMA shop; SET search_path = shop;",
               "CREATE TYPE mood AS ENUM ('happy', 'sad ünï');",
               "CREATE TABLE %s (%s);" % (pq(table), ", ".join(
                   "%s %s" % (pq(c), ty) for c, ty, _ in cols))]
        sql += ["INSERT INTO %s VALUES (%s);" % (pq(table), ", ".join(r)) for r in lits]
        psql(server, dbname, "\n".join(sql) + "\nANALYZE;")
        cfg = {"pg.host": server.host, "pg.port": server.port, "pg.user": server.user,
               "pg.password": server.password, "pg.database": dbname, "pg.ssl_mode": "disable"}
        return Source(kind, "shop", cfg, server=server, database=dbname, schema="shop")
    sql = ["CREATE DATABASE %s CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;" % mq(dbname),
           "USE %s;" % mq(dbname),
           "CREATE TABLE %s (%s);" % (mq(table), ", ".join(
               "%s %s" % (mq(c), ty) for c, ty, _ in cols))]
    sql += ["INSERT INTO %s VALUES (%s);" % (mq(table), ", ".join(r)) for r in lits]
    mariadb(server, "\n".join(sql))
    cfg = {"mysql.host": server.host, "mysql.port": server.port, "mysql.user": server.user,
           "mysql.password": server.password, "mysql.database": dbname,
           "mysql.ssl_mode": "DISABLED"}
    return Source(kind, dbname, cfg, server=server, database=dbname)


def expected_extras(kind):
    table, cols, _, exp = EXTRAS[kind]
    names = [c for c, _, _ in cols]
    return canonical(table, [dict(zip(names, r)) for r in exp])
