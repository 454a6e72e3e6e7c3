"""bench/migrate.sh, network section: mms against its peers on PostgreSQL, MariaDB and CSV.

    python3 bench/lib/netbench.py ROWS DIR

Expects a PostgreSQL server and a MariaDB server already running (scripts/testdb.sh), their
settings in the environment (PGHOST, PGPORT, PGUSER, MYSQL_HOST, MYSQL_PORT, MYSQL_USER,
MYSQL_PASSWORD, MYSQL_SOCKET), bin/mmsd built, pgloader installed. DIR is a scratch directory.

1. Generates ROWS rows of mixed types once, in PostgreSQL (database benchsrc, table public.t,
   generate_series), and copies the very same rows to every other source: a tab-separated
   export loaded into MariaDB (benchsrc.t, LOAD DATA) and SQLite (src.db, the sqlite3 CLI), and
   a CSV export with a header row (the FILES source: <DIR>/warehouse/benchsrc.db/t/ with a
   .mms-schema.json; the same file is pgloader's CSV source).
2. Runs every path, each tool from the same state: the destination database (`bench`, in
   PostgreSQL or MariaDB) is dropped and created empty before each run; each tool creates its
   table (mms: its SCHEMA stage; pgloader: `create tables`, or a BEFORE LOAD statement for CSV;
   the COPY pipe: CREATE TABLE before the clock starts, as a pipe cannot create one).
3. Prints one table (rows/s, MB/s, peak RSS, side by side) and the ratios against the goals.

mms runs: a fresh mmsd per run (so VmHWM belongs to that migration; --lease-seconds 30, the
default, not the harness's 3 s: a FILES source counts its rows by reading every file, one
blocking call longer than 3 s at 5M rows, which would lose the lease and restart the stage), data source created and
scanned before the clock starts (the scan time is printed), then timed from CreateMmsJob to the
job seen DONE (polled every 0.1 s; includes SCHEMA, DATA and the row-count VERIFICATION), plus
the DATA stage's own duration from its task-log entry. MB/s everywhere = size of the CSV export
(the logical volume of the data, the same for every path) / wall seconds.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from mmsd import Mmsd  # noqa: E402

ROWS = int(sys.argv[1])
D = os.path.abspath(sys.argv[2])
TIMEOUT = int(os.environ.get("TIMEOUT", "3600"))
VERIFY = os.environ.get("VERIFY", "count")
SRC_FP = SRC_MY_FP = None
COPY_TEXT = os.environ.get("COPY_TEXT", "1") == "1"
ONLY = [x for x in os.environ.get("ONLY", "").split(",") if x]

PG = {"host": os.environ["PGHOST"], "port": int(os.environ["PGPORT"]),
      "user": os.environ.get("PGUSER", "postgres")}
MY = {"host": os.environ["MYSQL_HOST"], "port": int(os.environ["MYSQL_PORT"]),
      "user": os.environ["MYSQL_USER"], "password": os.environ["MYSQL_PASSWORD"],
      "socket": os.environ["MYSQL_SOCKET"]}
PG_URL = "postgresql://%s@%s:%d/" % (PG["user"], PG["host"], PG["port"])
MY_URL = "mysql://%s:%s@%s:%d/" % (MY["user"], MY["password"], MY["host"], MY["port"])

# The columns, per dialect. Mixed types: 64- and 32-bit integers, a double with NULLs, a
# decimal, a varchar, a timestamp, a date, a boolean, a text with NULLs (32 hex digits).
PG_DDL = ("CREATE TABLE t (id bigint PRIMARY KEY, k integer, r double precision, "
          "amount numeric(12,2), s varchar(64), ts timestamp, d date, flag boolean, note text)")
PG_DDL_NOKEY = PG_DDL.replace(" PRIMARY KEY", "")
MY_DDL = ("CREATE TABLE t (id BIGINT PRIMARY KEY, k INT, r DOUBLE, amount DECIMAL(12,2), "
          "s VARCHAR(64), ts DATETIME, d DATE, flag TINYINT(1), note TEXT) ENGINE=InnoDB")
SQLITE_DDL = ("CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, r DOUBLE, "
              "amount NUMERIC(12,2), s VARCHAR(64), ts DATETIME, d DATE, flag BOOLEAN, note TEXT)")
FILES_SCHEMA = {"columns": [
    {"name": "id", "type": "int64", "nullable": False}, {"name": "k", "type": "int32"},
    {"name": "r", "type": "float64"}, {"name": "amount", "type": "decimal(12,2)"},
    {"name": "s", "type": "varchar(64)"}, {"name": "ts", "type": "datetime"},
    {"name": "d", "type": "date"}, {"name": "flag", "type": "bool"}, {"name": "note", "type": "text"}]}
COLS = "id, k, r, amount, s, ts, d, flag, note"
GEN = ("INSERT INTO t SELECT x, ((x * 2654435761) %% 4294967296 - 2147483648)::int, "
       "CASE WHEN x %% 97 = 0 THEN NULL ELSE x * 0.001 + 0.5 END, "
       "((x * 7919) %% 100000000) / 100.0, "
       "'row ' || x || ' ' || substr('abcdefghijklmnopqrstuvwxyz', (x %% 26)::int + 1, 10), "
       "timestamp '2020-01-01' + x * interval '1 second', date '2000-01-01' + (x %% 10000)::int, "
       "x %% 3 = 0, CASE WHEN x %% 89 = 0 THEN NULL ELSE md5(x::text) END "
       "FROM generate_series(1::bigint, %d) x")


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    """Runs a command (list, or a string for bash -c); raises with its output on failure."""
    if isinstance(cmd, str):
        cmd = ["bash", "-o", "pipefail", "-c", cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError("%s -> exit %d\n%s%s" % (cmd, p.returncode, p.stdout, p.stderr))
    return p.stdout


def psql_args(db):
    return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", PG["host"], "-p",
            str(PG["port"]), "-U", PG["user"], "-d", db]


def psql(db, sql):
    return sh(psql_args(db) + ["-At", "-c", sql])


def my_args(db=None):
    a = ["mariadb", "--no-defaults", "-uroot", "--socket=" + MY["socket"], "--protocol=socket", "--local-infile=1",
         "-N", "-B"]
    return a + ([db] if db else [])


# The client reads MYSQL_HOST (and MYSQL_TCP_PORT) from the environment: not for the socket.
MY_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MYSQL_")}


def mysql(sql, db=None):
    return sh(my_args(db) + ["-e", sql], env=MY_ENV)


def q(s):
    import shlex
    return shlex.quote(s)


# ---- data --------------------------------------------------------------------------------

def generate():
    t0 = time.monotonic()
    psql("postgres", "DROP DATABASE IF EXISTS benchsrc")
    psql("postgres", "CREATE DATABASE benchsrc")
    psql("benchsrc", PG_DDL)
    psql("benchsrc", GEN % ROWS)
    psql("benchsrc", "VACUUM ANALYZE t")
    tsv = os.path.join(D, "t.tsv")
    csvdir = os.path.join(D, "warehouse", "benchsrc.db", "t")
    os.makedirs(csvdir)
    csv = os.path.join(csvdir, "part-00000.csv")
    sel = "SELECT id, k, r, amount, s, ts, d, flag::int, note FROM t ORDER BY id"
    sh(" ".join(q(a) for a in psql_args("benchsrc")) + " -c %s > %s" % (
        q("COPY (%s) TO STDOUT" % sel), q(tsv)))
    sh(" ".join(q(a) for a in psql_args("benchsrc")) + " -c %s > %s" % (
        q("COPY (%s) TO STDOUT (FORMAT csv, HEADER)" % sel), q(csv)))
    with open(os.path.join(csvdir, ".mms-schema.json"), "w") as f:
        json.dump(FILES_SCHEMA, f, indent=2)
    log("PostgreSQL source and exports ready in %.1f s" % (time.monotonic() - t0))

    t0 = time.monotonic()
    mysql("SET GLOBAL local_infile = 1; DROP DATABASE IF EXISTS benchsrc; "
          "CREATE DATABASE benchsrc")
    mysql(MY_DDL, "benchsrc")
    mysql("LOAD DATA LOCAL INFILE %s INTO TABLE t (%s); ANALYZE TABLE t" % (
        "'%s'" % tsv, COLS), "benchsrc")
    log("MariaDB source ready in %.1f s" % (time.monotonic() - t0))

    t0 = time.monotonic()
    db = os.path.join(D, "src.db")
    sh(["sqlite3", db], input="PRAGMA journal_mode=OFF;\nPRAGMA synchronous=OFF;\n%s;\n"
       ".mode tabs\n.import %s t\n"
       "UPDATE t SET r = NULL WHERE r = '\\N';\nUPDATE t SET note = NULL WHERE note = '\\N';\n"
       % (SQLITE_DDL, tsv))
    log("SQLite source ready in %.1f s" % (time.monotonic() - t0))

    n = {"postgresql": int(psql("benchsrc", "SELECT count(*) FROM t")),
         "mariadb": int(mysql("SELECT count(*) FROM t", "benchsrc")),
         "sqlite": int(sh(["sqlite3", db, "SELECT count(*) FROM t"])),
         "csv": sum(1 for _ in open(csv, "rb")) - 1}
    assert all(v == ROWS for v in n.values()), n
    nulls = sh(["sqlite3", db, "SELECT count(*) - count(r), count(*) - count(note), "
                "typeof(amount), typeof(flag) FROM t"]).strip()
    log("sources hold %d rows each; SQLite NULLs r|note and types: %s" % (ROWS, nulls))
    return {"tsv": tsv, "csv": csv, "sqlite": db, "mb": os.path.getsize(csv) / 1e6}


# ---- destinations ------------------------------------------------------------------------

def reset_pg_dest():
    psql("postgres", "DROP DATABASE IF EXISTS bench WITH (FORCE)")
    psql("postgres", "CREATE DATABASE bench")


def reset_my_dest():
    mysql("DROP DATABASE IF EXISTS bench; CREATE DATABASE bench")


def pg_count(schema):
    return int(psql("bench", 'SELECT count(*) FROM "%s"."t"' % schema))


def my_count():
    return int(mysql("SELECT count(*) FROM bench.t"))


# A fingerprint of a table, the same whatever types a tool chose for it (pgloader may make the
# SQLite boolean an integer, a datetime a timestamptz): counts, NULLs, sums, extremes. Read
# after each run (not timed) and compared with the source's.
PG_FP = ("SELECT concat_ws('|', count(*), count(r), count(note), sum(id), sum(k::numeric), "
         "sum(amount::numeric), sum(CASE WHEN flag::text IN ('1', 'true') THEN 1 ELSE 0 END), "
         "to_char(min(ts), 'YYYY-MM-DD HH24:MI:SS'), to_char(max(ts), 'YYYY-MM-DD HH24:MI:SS'), "
         "max(d)::text, max(s), min(note), round(sum(r)::numeric, 3)) FROM %s")
MY_FP = ("SELECT concat_ws('|', count(*), count(r), count(note), sum(id), sum(k), sum(amount), "
         "sum(flag), DATE_FORMAT(min(ts), '%%Y-%%m-%%d %%H:%%i:%%s'), "
         "DATE_FORMAT(max(ts), '%%Y-%%m-%%d %%H:%%i:%%s'), max(d), max(s), min(note), "
         "round(sum(r), 3)) FROM %s")


def pg_fp(db, table):
    return psql(db, PG_FP % table).strip()


def my_fp(table):
    return mysql(MY_FP % table).strip()


# ---- runners -----------------------------------------------------------------------------

def secs_between(a, b):
    fmt = "%Y-%m-%d %H:%M:%S"
    return time.mktime(time.strptime(b, fmt)) - time.mktime(time.strptime(a, fmt))


def run_mms(name, typ, config, src_db, dst_count, fp, env=None):
    srv = Mmsd(data_dir=os.path.join(D, "mmsd-" + re.sub(r"\W+", "-", name)),
               keep_data_dir=True, env=env, lease_seconds=30)
    srv.start()
    try:
        body = {"name": "bench-" + re.sub(r"\W+", "-", name), "type": typ, "config": config}
        sid = srv.ok("POST", "/api/v1/mms/datasources", body=body)["dataSourceId"]
        t0 = time.monotonic()
        scan = srv.scan(sid, timeout=TIMEOUT)
        scan_s = time.monotonic() - t0
        assert scan["status"] == "SCAN_DONE", scan
        others = {"verify": "checksum"} if VERIFY == "checksum" else {}
        t0 = time.monotonic()
        job_id, _ = srv.create_job(sid, {"name": "bench", "srcDbName": src_db,
                                         "enableVerification": True, "others": others})
        job = srv.wait_job(sid, job_id, timeout=TIMEOUT, interval=0.1)
        wall = time.monotonic() - t0
        rss_kib = srv.rss_hwm_kib()
        tasks = srv.tasks(sid, job_id)
        logs = [e for t in tasks for e in srv.task_logs(sid, t["id"])]
        if job["status"] != "DONE":
            raise RuntimeError("%s: job ended %s: %s\n%s" % (
                name, job["status"], [t.get("errorMsg") for t in tasks],
                "\n".join("  %s | %s | %s" % (e["status"], e["action"], e["msg"])
                          for e in logs)))
    finally:
        srv.stop()
    data_s = None
    for e in logs:
        m = re.search(r"\bin ([0-9.]+) s\b", e.get("msg") or "")
        if e["status"] in ("DATA_DOING", "DATA_DONE") and m:
            data_s = float(m.group(1))
    n = dst_count()
    assert n == ROWS, "%s: destination holds %d rows, expected %d" % (name, n, ROWS)
    return {"wall": wall, "data_s": data_s, "scan_s": scan_s, "rss_mb": rss_kib / 1024.0,
            "logs": logs, "fp": fp(),
            "copy": "binary" if any("(FORMAT binary)" in (e.get("action") or "") + (e.get("msg") or "")
                                    for e in logs) else "text"}


def run_timed(name, cmd, dst_count, fp):
    """A peer: cmd (a bash command line) under /usr/bin/time; wall and max RSS of the tree."""
    rss_file = os.path.join(D, "rss.txt")
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-o", rss_file, "-f", "%M", "bash", "-o", "pipefail",
                        "-c", cmd], capture_output=True, text=True)
    wall = time.monotonic() - t0
    out = p.stdout + p.stderr
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s" % (name, p.returncode, out[-4000:]))
    with open(rss_file) as f:
        rss_kib = int(f.read().split()[-1])
    n = dst_count()
    assert n == ROWS, "%s: destination holds %d rows, expected %d\n%s" % (
        name, n, ROWS, out[-4000:])
    with open(os.path.join(D, re.sub(r"\W+", "-", name) + ".log"), "w") as f:
        f.write(out)
    return {"wall": wall, "data_s": None, "scan_s": None, "rss_mb": rss_kib / 1024.0,
            "out": out, "fp": fp()}


def pgloader(name, load):
    path = os.path.join(D, re.sub(r"\W+", "-", name) + ".load")
    with open(path, "w") as f:
        f.write(load)
    return "pgloader --no-ssl-cert-verification %s" % q(path)


PGL_WITH = "WITH include drop, create tables, create no indexes, reset no sequences"


def paths(src):
    """[(key, source, destination, [(tool, reset destination, run), ...]), ...]"""
    pg_src = {"pg.host": PG["host"], "pg.port": PG["port"], "pg.user": PG["user"],
              "pg.password": "x", "pg.database": "benchsrc", "pg.ssl_mode": "disable"}
    my_src = {"mysql.host": MY["host"], "mysql.port": MY["port"], "mysql.user": MY["user"],
              "mysql.password": MY["password"], "mysql.database": "benchsrc",
              "mysql.ssl_mode": "DISABLED"}
    files_src = {"files.root": os.path.join(D, "warehouse"), "files.format": "csv"}
    to_pg = {"dst.url": PG_URL, "dst.project": "bench"}
    to_my = {"dst.url": MY_URL, "dst.project": "bench"}
    pg_target = "postgresql://%s@%s:%d/bench" % (PG["user"], PG["host"], PG["port"])
    my_source = "mysql://%s:%s@%s:%d/benchsrc" % (MY["user"], MY["password"], MY["host"],
                                                   MY["port"])
    pgl_sqlite = "LOAD DATABASE FROM sqlite://%s\n  INTO %s\n  %s;\n" % (
        src["sqlite"], pg_target, PGL_WITH)
    pgl_mysql = "LOAD DATABASE FROM %s\n  INTO %s\n  %s, no foreign keys;\n" % (
        my_source, pg_target, PGL_WITH)
    pgl_csv = (
        "LOAD CSV FROM '%s' (id, k, r [null if blanks], amount, s, ts, d, flag, "
        "note [null if blanks])\n  INTO %s\n  TARGET TABLE public.t\n"
        "  WITH skip header = 1, fields terminated by ',', fields optionally enclosed by '\"',"
        " fields escaped by double-quote\n"
        "  BEFORE LOAD DO $$ DROP TABLE IF EXISTS public.t; $$, $$ %s; $$;\n"
        % (src["csv"], pg_target, PG_DDL_NOKEY))
    copy_pipe = "%s -c %s | %s -c %s" % (
        " ".join(q(a) for a in psql_args("benchsrc")), q("COPY t TO STDOUT"),
        " ".join(q(a) for a in psql_args("bench")), q("COPY t FROM STDIN"))

    def pg_dst(schema):
        return (lambda: pg_count(schema)), (lambda: pg_fp("bench", schema + ".t"))
    my_dst = (my_count, lambda: my_fp("bench.t"))

    def mms(key, typ, config, src_db, dst, env=None):
        return lambda: run_mms(key, typ, config, src_db, *dst, env=env)

    def mms_text(key, typ, config, src_db, dst):
        """The same mms run with the PostgreSQL writer forced to COPY's text format."""
        if not COPY_TEXT:
            return []
        return [("mms text", reset_pg_dest,
                 mms(key + "-text", typ, config, src_db, dst, {"MMS_PG_COPY_FORMAT": "text"}))]

    def peer(name, cmd, dst):
        return lambda: run_timed(name, cmd, *dst)

    def copy_reset():
        reset_pg_dest()
        psql("bench", PG_DDL_NOKEY)

    return [
        ("sqlite-pg", "SQLite", "PostgreSQL", [
            ("mms", reset_pg_dest, mms("sqlite-pg", "SQLITE",
                                       dict(to_pg, **{"sqlite.path": src["sqlite"]}), "main",
                                       pg_dst("main")))] + mms_text(
                "sqlite-pg", "SQLITE", dict(to_pg, **{"sqlite.path": src["sqlite"]}), "main",
                pg_dst("main")) + [
            ("pgloader", reset_pg_dest, peer("pgloader sqlite-pg",
                                             pgloader("pgloader sqlite-pg", pgl_sqlite),
                                             pg_dst("public")))]),
        ("mysql-pg", "MySQL", "PostgreSQL", [
            ("mms", reset_pg_dest, mms("mysql-pg", "MYSQL", dict(to_pg, **my_src), "benchsrc",
                                       pg_dst("benchsrc")))] + mms_text(
                "mysql-pg", "MYSQL", dict(to_pg, **my_src), "benchsrc", pg_dst("benchsrc")) + [
            ("pgloader", reset_pg_dest, peer("pgloader mysql-pg",
                                             pgloader("pgloader mysql-pg", pgl_mysql),
                                             pg_dst("benchsrc")))]),
        ("csv-pg", "CSV files", "PostgreSQL", [
            ("mms", reset_pg_dest, mms("csv-pg", "FILES", dict(to_pg, **files_src), "benchsrc",
                                       pg_dst("benchsrc")))] + mms_text(
                "csv-pg", "FILES", dict(to_pg, **files_src), "benchsrc", pg_dst("benchsrc")) + [
            ("pgloader", reset_pg_dest, peer("pgloader csv-pg",
                                             pgloader("pgloader csv-pg", pgl_csv),
                                             pg_dst("public")))]),
        ("pg-pg", "PostgreSQL", "PostgreSQL", [
            # One table split into 2 key ranges copied in parallel (task_run.c, conn_pg.c:
            # block ranges under one exported snapshot); the threshold is lowered so that
            # --quick splits too. Then the same with a single stream.
            ("mms", reset_pg_dest, mms("pg-pg", "POSTGRESQL", dict(to_pg, **pg_src), "public",
                                       pg_dst("public"),
                                       {"MMS_COPY_STREAMS": "2",
                                        "MMS_COPY_STREAMS_MIN_ROWS": str(min(ROWS, 1000000))})),
            ("mms 1 str", reset_pg_dest, mms("pg-pg-1", "POSTGRESQL", dict(to_pg, **pg_src),
                                             "public", pg_dst("public"),
                                             {"MMS_COPY_STREAMS": "1"}))] + mms_text(
                "pg-pg", "POSTGRESQL", dict(to_pg, **pg_src), "public", pg_dst("public")) + [
            ("COPY pipe", copy_reset, peer("copy pipe", copy_pipe, pg_dst("public")))]),
        ("pg-mysql", "PostgreSQL", "MySQL", [
            ("mms", reset_my_dest, mms("pg-mysql", "POSTGRESQL", dict(to_my, **pg_src),
                                       "public", my_dst))]),
        ("mysql-mysql", "MySQL", "MySQL", [
            ("mms", reset_my_dest, mms("mysql-mysql", "MYSQL", dict(to_my, **my_src),
                                       "benchsrc", my_dst))]),
    ]


def main():
    src = generate()
    mb = src["mb"]
    global SRC_FP, SRC_MY_FP
    SRC_FP = pg_fp("benchsrc", "public.t")
    SRC_MY_FP = my_fp("benchsrc.t")
    log("source fingerprint: %s" % SRC_FP)
    results = []
    for key, s, d, tools in paths(src):
        if ONLY and key not in ONLY:
            continue
        row = {"key": key, "src": s, "dst": d, "runs": []}
        for tool, reset, runner in tools:
            reset()
            log("%s -> %s: %s ..." % (s, d, tool))
            try:
                r = runner()
                r["tool"] = tool
                log("  %.2f s wall, %.0f rows/s, peak RSS %.1f MB"
                    % (r["wall"], ROWS / r["wall"], r["rss_mb"]))
            except Exception as e:  # noqa: BLE001 - one failed path must not hide the others
                log("  FAILED: %s" % str(e)[:3000])
                r = {"tool": tool, "error": str(e).splitlines()[0][:200]}
            row["runs"].append(r)
        results.append(row)
    report(results, mb)


def report(results, mb):
    print()
    print("Network paths: %d rows, %.1f MB of data (size of the CSV export), verification: %s"
          % (ROWS, mb, VERIFY))
    print()
    hdr = "%-24s %-9s %8s %8s %11s %11s %7s %8s %5s" % (
        "path", "tool", "wall s", "DATA s", "rows/s", "rows/s DATA", "MB/s", "RSS MB", "data")
    print(hdr)
    print("-" * len(hdr))
    diffs = []
    for row in results:
        for r in row["runs"]:
            name = "%s -> %s" % (row["src"], row["dst"])
            if "error" in r:
                print("%-24s %-9s FAILED: %s" % (name, r["tool"], r["error"]))
                continue
            ds = r["data_s"]
            want = SRC_MY_FP if row["dst"] == "MySQL" else SRC_FP
            same = "same" if r["fp"] == want else "DIFF"
            if same != "same":
                diffs.append("%s %s: %s (source %s)" % (name, r["tool"], r["fp"], want))
            print("%-24s %-9s %8.2f %8s %11.0f %11s %7.1f %8.1f %5s" % (
                name, r["tool"], r["wall"], "%.2f" % ds if ds else "-", ROWS / r["wall"],
                "%.0f" % (ROWS / ds) if ds else "-", mb / r["wall"], r["rss_mb"], same))
    for d in diffs:
        print("  fingerprint differs: " + d)
    print()
    print("Ratios (mms rows/s wall / peer rows/s wall) against the goals:")
    goals = {"sqlite-pg": 2.0, "mysql-pg": 2.0, "csv-pg": 2.0, "pg-pg": 1.0}
    rss_max = 0.0
    for row in results:
        ok = [r for r in row["runs"] if "error" not in r]
        for r in ok:
            if r["tool"].startswith("mms"):
                rss_max = max(rss_max, r["rss_mb"])
        if row["key"] not in goals:
            continue
        mms = next((r for r in ok if r["tool"] == "mms"), None)
        peer = next((r for r in ok if not r["tool"].startswith("mms")), None)
        name = "%s -> %s" % (row["src"], row["dst"])
        if not mms or not peer:
            print("  %-24s n/a (a run failed)" % name)
            continue
        ratio = peer["wall"] / mms["wall"]
        goal = goals[row["key"]]
        print("  %-24s mms / %-9s = %5.2fx  (goal >= %.1fx: %s%s)" % (
            name, peer["tool"], ratio, goal, "met" if ratio >= goal else "MISSED",
            "" if ratio >= goal else ", short by %.0f%%" % (100 * (1 - ratio / goal))))
        one = next((r for r in ok if r["tool"] == "mms 1 str"), None)
        if one:
            print("  %-24s mms 1 stream / %-9s = %5.2fx  (goal >= 0.8x: %s; the row above:"
                  " 2 parallel streams, goal > 1.0x)" % (
                      "", peer["tool"], peer["wall"] / one["wall"],
                      "met" if peer["wall"] / one["wall"] >= 0.8 else "MISSED"))
        text = next((r for r in ok if r["tool"] == "mms text"), None)
        if text:
            print("  %-24s mms text / %-9s = %5.2fx  (writer forced to COPY text format;"
                  " binary / text: %.2fx)" % ("", peer["tool"], peer["wall"] / text["wall"],
                                               text["wall"] / mms["wall"]))
    print("  mmsd peak RSS, largest of all runs: %.1f MB (goal < 256 MB: %s)"
          % (rss_max, "met" if rss_max < 256 else "MISSED"))
    print()
    print("wall: mms from CreateMmsJob to the job seen DONE (schema, data, row-count "
          "verification;")
    print("polled every 0.1 s; the scan before it is not counted); peers: the whole process "
          "(pgloader")
    print("including its start-up and catalog reads; the pipe: both psql). DATA s: the copy "
          "alone, as")
    print("mms's task log reports it. RSS: mms = VmHWM of mmsd; peers = max RSS of the "
          "process tree.")
    print("PostgreSQL COPY format of the mms writer per run (from its task log): " + ", ".join(
        "%s %s %s" % (row["key"], r["tool"], r["copy"]) for row in results
        for r in row["runs"] if r.get("copy") and row["dst"] == "PostgreSQL"))
    print("data: the destination's fingerprint (counts, NULLs, sums, extremes) equals the "
          "source's.")
    print("scan seconds (not counted): " + ", ".join(
        "%s %.2f" % (row["key"], r["scan_s"]) for row in results for r in row["runs"]
        if r.get("tool", "").startswith("mms") and r.get("scan_s") is not None))


if __name__ == "__main__":
    main()
