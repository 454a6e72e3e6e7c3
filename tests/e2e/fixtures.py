"""Source databases for the end-to-end tests and an independent comparison of two SQLite files.

Everything here uses Python's own sqlite3 module, never mms, so the comparison is an
independent witness of what the migration wrote.

    build_source(path, big_rows=1_000_000)   every type, nasty names, NULLs, one big table
    build_small(path)                        the same without the big table
    compare(src, dst, tables=None) -> list of differences ([] when equal)
    assert_same(src, dst, tables=None)

Command line (bench/migrate.sh uses it):
    python3 tests/e2e/fixtures.py build PATH [--rows N] [--big-only]
    python3 tests/e2e/fixtures.py compare SRC DST [TABLE...]
"""

import collections
import hashlib
import os
import shutil
import sqlite3
import struct
import sys
import tempfile

BIG_TABLE = "big"
DEFAULT_BIG_ROWS = 1_000_000
# The kill -9 and stop tests need a DATA stage long enough to land in: at ~850k rows/s a 1M-row
# table is copied in about 1.2 s, and the engine records rowsDone once a second.
DEFAULT_CRASH_ROWS = 4_000_000

# Names that break naive SQL: spaces, double and single quotes, dots, non-ASCII letters.
NASTY_TABLE = 'order "items".v1'
UNICODE_TABLE = "tábla ünï"
QUOTE_TABLE = "it's a table"
EMPTY_TABLE = "empty table"
TYPES_TABLE = "all_types"


def qi(name):
    """A double-quoted SQLite identifier."""
    return '"' + name.replace('"', '""') + '"'


# ---- building ---------------------------------------------------------------------------------

TYPE_COLUMNS = [
    ("id", "INTEGER PRIMARY KEY"),
    ("i", "INTEGER"),
    ("r", "REAL"),
    ("num", "NUMERIC"),
    ("dec", "DECIMAL(10,2)"),
    ("vc", "VARCHAR(20)"),
    ("t", "TEXT"),
    ("b", "BLOB"),
    ("bo", "BOOLEAN"),
    ("d", "DATE"),
    ("dt", "DATETIME"),
    ("ts", "TIMESTAMP"),
    ("j", "JSON"),
    ("anything", ""),  # no declared type: values keep their storage class
]

NASTY_TEXT = [
    "",
    "it's \"quoted\" `back` \\slash\\",
    "line1\nline2\r\nline3\ttabbed",
    "emoji 😀🎉 👩‍👩‍👧 and CJK 漢字 かな 한국어",
    "combining é vs é, RTL עברית العربية",
    "\u2028\u2029 line separators, zero width \u200b joiner",
    "trailing spaces   ",
    "   ",
    "x" * 100_000,
    "DROP TABLE all_types; --",
    "%s %d {} $1 ? :name",
]

REALS = [0.1, 1e308, 5e-324, -0.0, 0.0, 1.7976931348623157e308, -1.7976931348623157e308,
         2.2250738585072014e-308, 1.0 / 3.0, -123456.789e-10, 3.0, 9007199254740993.0]
INTS = [-9223372036854775808, 9223372036854775807, 0, -1, 1, 2147483648, -2147483649,
        9007199254740993]
BLOBS = [b"", b"\x00", b"\x00\x01\x02\x00\xff\xfe\x00", bytes(range(256)),
         b"\x00" * 70_000, "text as bytes é".encode()]


def _types_rows():
    rows = []
    n = max(len(NASTY_TEXT), len(REALS), len(INTS), len(BLOBS))
    for k in range(n):
        rows.append((
            k + 1,
            INTS[k % len(INTS)],
            REALS[k % len(REALS)],
            ["12.50", 7, 3.25, "not a number", None, "12345678901234567890"][k % 6],
            ["1234.56", 0.01, -99999999.99, 42, "", None][k % 6],
            ["short", "exactly twenty chars", "longer than twenty characters!", "é" * 20,
             "", None][k % 6],
            NASTY_TEXT[k % len(NASTY_TEXT)],
            BLOBS[k % len(BLOBS)],
            [0, 1, None, "true", 1, 0][k % 6],
            ["2024-02-29", "1970-01-01", "9999-12-31", None, "", 20240229][k % 6],
            ["2024-02-29 23:59:59", "1970-01-01 00:00:00", None, "2024-02-29T12:00:00.123",
             1709251199, ""][k % 6],
            ["2024-02-29 23:59:59.999999+08:00", 1709251199, 1709251199.5, None, "", "now"][k % 6],
            ['{"a":[1,2,{"b":null}],"s":"q\\"uote"}', "[]", "1", "null", None,
             '{"é":"ünï"}'][k % 6],
            [7, -0.0, "text", b"\x00blob\x00", None, 2.5, -9223372036854775808, ""][k % 8],
        ))
    # One row of NULLs and one of empty values.
    rows.append(tuple([n + 1] + [None] * (len(TYPE_COLUMNS) - 1)))
    rows.append((n + 2, 0, 0.0, "", "", "", "", b"", "", "", "", "", "", ""))
    return rows


def build_small(path):
    """All the small tables: every type, nasty names, an empty table. Returns {table: rows}."""
    if os.path.exists(path):
        os.remove(path)
    con = sqlite3.connect(path)
    counts = {}
    with con:
        cols = ", ".join(("%s %s" % (qi(c), t)).strip() for c, t in TYPE_COLUMNS)
        con.execute("CREATE TABLE %s (%s)" % (qi(TYPES_TABLE), cols))
        rows = _types_rows()
        con.executemany("INSERT INTO %s VALUES (%s)" % (qi(TYPES_TABLE),
                                                        ",".join("?" * len(TYPE_COLUMNS))), rows)
        counts[TYPES_TABLE] = len(rows)

        con.execute('CREATE TABLE %s (%s INTEGER, %s TEXT, %s REAL, %s BLOB, %s VARCHAR(10),'
                    ' %s)' % (qi(NASTY_TABLE), qi("col.with.dots"), qi("it's"),
                              qi("spa ce"), qi('"quoted"'), qi("ünï"), qi("select")))
        nasty = [(k, NASTY_TEXT[k % len(NASTY_TEXT)][:200], k / 7.0,
                  bytes([k % 256, 0, 255]), "v%d" % k, k if k % 2 else "s%d" % k)
                 for k in range(50)]
        nasty.append((None, None, None, None, None, None))
        con.executemany("INSERT INTO %s VALUES (?,?,?,?,?,?)" % qi(NASTY_TABLE), nasty)
        counts[NASTY_TABLE] = len(nasty)

        con.execute("CREATE TABLE %s (%s INTEGER PRIMARY KEY, %s TEXT, %s NUMERIC, %s)"
                    % (qi(UNICODE_TABLE), qi("ключ"), qi("値"), qi("Größe"), qi("naïve col")))
        uni = [(k, "значение %d 値%d" % (k, k), k * 1.5, "ü" * (k % 5)) for k in range(1, 31)]
        con.executemany("INSERT INTO %s VALUES (?,?,?,?)" % qi(UNICODE_TABLE), uni)
        counts[UNICODE_TABLE] = len(uni)

        con.execute("CREATE TABLE %s (%s TEXT, %s INTEGER)" % (qi(QUOTE_TABLE), qi("a'b"),
                                                               qi("c''d")))
        q = [("'", 1), ("''", 2), ("'; DROP TABLE x; --", 3), ("", 4)]
        con.executemany("INSERT INTO %s VALUES (?,?)" % qi(QUOTE_TABLE), q)
        counts[QUOTE_TABLE] = len(q)

        con.execute("CREATE TABLE %s (a INTEGER, b TEXT)" % qi(EMPTY_TABLE))
        counts[EMPTY_TABLE] = 0
    con.close()
    return counts


def add_big(path, rows=DEFAULT_BIG_ROWS, table=BIG_TABLE):
    """Adds the big table (rows rows, about 60 bytes each) with one recursive CTE."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    with con:
        con.execute("DROP TABLE IF EXISTS %s" % qi(table))
        con.execute("CREATE TABLE %s (id INTEGER PRIMARY KEY, k INTEGER, r REAL, s TEXT, b BLOB)"
                    % qi(table))
        con.execute(
            "WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < ?) "
            "INSERT INTO %s SELECT x,"
            " (x * 2654435761) %% 4294967296 - 2147483648,"
            " CASE WHEN x %% 97 = 0 THEN NULL ELSE x * 0.001 + 0.5 END,"
            " 'row ' || x || ' ' || substr('abcdefghijklmnopqrstuvwxyz', x %% 26 + 1, 10),"
            " CASE WHEN x %% 89 = 0 THEN NULL ELSE CAST(printf('%%012d', x) AS BLOB) END"
            " FROM seq" % qi(table), (rows,))
    con.close()
    return rows


def build_source(path, big_rows=DEFAULT_BIG_ROWS):
    """The full end-to-end source. Returns {table: rows}."""
    counts = build_small(path)
    if big_rows:
        counts[BIG_TABLE] = add_big(path, big_rows)
    return counts


# ---- reading and comparing --------------------------------------------------------------------

def _open(path):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    con.text_factory = bytes
    return con


def user_tables(con):
    """Table names, excluding SQLite's own sqlite_* tables (mms staging tables are kept, so a
    leftover __mms_stage_* table shows up as a difference)."""
    rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                       "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").fetchall()
    return [r[0].decode() for r in rows]


def columns(con, table):
    """[(name, declared type)] in order."""
    return [(n.decode(), t.decode()) for n, t in
            con.execute("SELECT name, type FROM pragma_table_info(?)", (table,)).fetchall()]


def _ser(cls, v):
    if cls == b"null":
        return b"N"
    if cls == b"integer":
        return b"I" + struct.pack("<q", v)
    if cls == b"real":
        return b"R" + struct.pack("<d", v)  # exact bits: -0.0 differs from 0.0
    if cls == b"text":
        return b"T" + struct.pack("<I", len(v)) + v  # the stored UTF-8 bytes
    if cls == b"blob":
        return b"B" + struct.pack("<I", len(v)) + v
    raise ValueError("unknown storage class %r" % cls)


def _rows(con, table, cols):
    sel = ", ".join("typeof(%s), %s" % (qi(c), qi(c)) for c, _ in cols)
    cur = con.execute("SELECT %s FROM %s" % (sel, qi(table)))
    while True:
        batch = cur.fetchmany(5000)
        if not batch:
            return
        for r in batch:
            yield b"".join(_ser(r[k], r[k + 1]) for k in range(0, len(r), 2)), r


_DIGEST_CACHE = {}


def _file_key(path):
    st = os.stat(path)
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino)


def table_digest(con, table, cols, cache_key=None):
    """Counter of row digests: the row multiset, each value with its storage class and bytes.
    cache_key (for read-only sources): reuse the result of an earlier call."""
    if cache_key is not None:
        k = (cache_key, table, tuple(cols))
        if k not in _DIGEST_CACHE:
            _DIGEST_CACHE[k] = table_digest(con, table, cols)
        return _DIGEST_CACHE[k]
    c = collections.Counter()
    for ser, _ in _rows(con, table, cols):
        c[hashlib.blake2b(ser, digest_size=16).digest()] += 1
    return c


def _describe(con, table, cols, digests, limit=5):
    out = []
    for ser, r in _rows(con, table, cols):
        if hashlib.blake2b(ser, digest_size=16).digest() in digests:
            vals = [(r[k].decode(), r[k + 1][:60] if isinstance(r[k + 1], bytes) else r[k + 1])
                    for k in range(0, len(r), 2)]
            out.append(repr(vals)[:400])
            if len(out) >= limit:
                break
    return out


def compare(src, dst, tables=None):
    """Differences between two SQLite files ([] when equal): the same tables (all of them, or
    only `tables`), the same column names and declared types, the same multiset of rows where
    every value keeps its storage class and exact bytes."""
    diffs = []
    src_key = _file_key(src) if not os.path.exists(src + "-wal") else None
    s, d = _open(src), _open(dst)
    try:
        st, dt = user_tables(s), user_tables(d)
        if tables is None:
            if st != dt:
                diffs.append("tables differ: only in source %r, only in destination %r"
                             % (sorted(set(st) - set(dt)), sorted(set(dt) - set(st))))
            names = [t for t in st if t in dt]
        else:
            names = []
            for t in tables:
                if t not in st:
                    diffs.append("table %r missing in the source" % t)
                elif t not in dt:
                    diffs.append("table %r missing in the destination" % t)
                else:
                    names.append(t)
        for t in names:
            sc, dc = columns(s, t), columns(d, t)
            if sc != dc:
                diffs.append("table %r: columns differ: source %r, destination %r" % (t, sc, dc))
                continue
            sd, dd = table_digest(s, t, sc, src_key), table_digest(d, t, dc)
            if sd == dd:
                continue
            ns, nd = sum(sd.values()), sum(dd.values())
            only_s, only_d = sd - dd, dd - sd
            dup = [k for k, n in dd.items() if n > sd.get(k, 0) and k in sd]
            diffs.append("table %r: rows differ: %d in source, %d in destination; %d source rows"
                         " missing, %d destination rows extra (%d duplicated)"
                         % (t, ns, nd, sum(only_s.values()), sum(only_d.values()), len(dup)))
            for line in _describe(s, t, sc, set(only_s)):
                diffs.append("  only in source: " + line)
            for line in _describe(d, t, dc, set(only_d)):
                diffs.append("  only in destination: " + line)
    finally:
        s.close()
        d.close()
    return diffs


def assert_same(src, dst, tables=None):
    diffs = compare(src, dst, tables)
    assert not diffs, "source and destination differ:\n" + "\n".join(diffs)


def snapshot(path):
    """A private copy of a live database file (with its -wal), so it can be read without
    touching the original, e.g. right after kill -9. Returns the copy's path; the caller removes
    its directory."""
    d = tempfile.mkdtemp(prefix="mms-snap-")
    dst = os.path.join(d, os.path.basename(path))
    shutil.copyfile(path, dst)
    if os.path.exists(path + "-wal"):
        shutil.copyfile(path + "-wal", dst + "-wal")
    con = sqlite3.connect(dst)  # read-write: recovers the WAL into the copy
    con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    con.close()
    return dst


def row_count(path, table):
    """Rows of a table, or None when the table does not exist."""
    con = _open(path)
    try:
        if table not in user_tables(con):
            return None
        return con.execute("SELECT count(*) FROM %s" % qi(table)).fetchone()[0]
    finally:
        con.close()


def main(argv):
    if len(argv) >= 2 and argv[0] == "build":
        rows = DEFAULT_BIG_ROWS
        if "--rows" in argv:
            rows = int(argv[argv.index("--rows") + 1])
        if "--big-only" in argv:
            if os.path.exists(argv[1]):
                os.remove(argv[1])
            add_big(argv[1], rows)
            counts = {BIG_TABLE: rows}
        else:
            counts = build_source(argv[1], rows)
        for t, n in counts.items():
            print("%s\t%d" % (t, n))
        return 0
    if len(argv) >= 3 and argv[0] == "compare":
        diffs = compare(argv[1], argv[2], argv[3:] or None)
        for line in diffs:
            print(line)
        print("equal" if not diffs else "DIFFERENT")
        return 0 if not diffs else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
