"""Issue 3: end-to-end migrations through the HTTP API for every pair among SQLITE, POSTGRESQL,
MYSQL and FILES (docs/e2e-pairs.md is the matrix), with a private PostgreSQL 15 and MariaDB
(dbservers.py), the same logical fixture in each source and an independent reader of each
destination (pair_fixtures.py). Never mms's own checksum as the witness: the source and the
destination are both read back with other clients and compared in a canonical form.

Also: partitionFilters selecting partitions, increment=true re-migrating one changed partition,
and a value the destination cannot hold failing with the documented message.
"""
import itertools
import json
import os
import re
import sqlite3
import time

import pytest

import pair_fixtures as pf
from dbservers import dbservers  # noqa: F401  (module-scoped fixture)
from mmsd import API, wait

KINDS = ("SQLITE", "POSTGRESQL", "MYSQL", "FILES")
PAIRS = list(itertools.product(KINDS, KINDS))
JOB_TIMEOUT = 240

# Tables that cannot be migrated by design for a pair, with the message their task must end on
# (docs/e2e-pairs.md says why). Every other table of every pair must end DONE and be equal.
# None today: partition keys are data columns at every SQL destination (docs/engine.md,
# "Partition keys"): SQLite and MySQL hold a partitioned table as a plain table, each
# partition replaced inside it; a Hive key becomes a trailing data column.
EXPECTED_FAILURES = {}

# Columns compared in a documented weaker form, per (source, destination).
# SQLite's NUMERIC affinity stores a decimal from a typed source as a REAL (types.md, SQLite,
# "Known limits"), so decimals that reach a SQLite destination from another source are compared
# as the nearest double.
def lossy_for(src, dst):
    if dst == "SQLITE" and src != "SQLITE":
        return ("dec",)
    return ()


def verify_mode(src, dst):
    """mms's own verification: checksums where both sides read back with the same kinds and
    bytes (types.md, Verification sections); only counts between SQLite and another type,
    where SQLite's NUMERIC affinity turns decimal text into REALs on one side."""
    if (src == "SQLITE") != (dst == "SQLITE"):
        return "count"
    return "checksum"


_seq = itertools.count(1)


def uniq(prefix):
    return "%s_%d_%d" % (prefix, os.getpid() % 100000, next(_seq))


# ---- helpers -----------------------------------------------------------------------------------

class Dest:
    def __init__(self, kind, url, project, **kw):
        self.kind = kind
        self.url = url
        self.project = project
        self.__dict__.update(kw)


def make_dest(kind, where, servers, project):
    if kind == "SQLITE":
        d = os.path.join(where, "dst-sqlite")
        os.makedirs(d, exist_ok=True)
        return Dest(kind, "sqlite://" + d, project, dir=d)
    if kind == "FILES":
        d = os.path.join(where, "dst-files")
        return Dest(kind, "file://%s?format=csv" % d, project, root=d, format="csv")
    if kind == "POSTGRESQL":
        s = servers.pg
        return Dest(kind, "postgresql://%s:%s@%s:%d/" % (s.user, s.password, s.host, s.port),
                    project, server=s, password=s.password)
    if kind == "MYSQL":
        s = servers.mysql
        return Dest(kind, "mysql://%s:%s@%s:%d/" % (s.user, s.password, s.host, s.port),
                    project, server=s, password=s.password)
    raise ValueError(kind)


def read_dest(dst, table):
    if dst.kind == "SQLITE":
        return pf.read_sqlite(os.path.join(dst.dir, dst.project + ".db"), table)
    if dst.kind == "FILES":
        return pf.read_files(dst.root, dst.project, table, dst.format)
    if dst.kind == "POSTGRESQL":
        schema = pf.pg_find_table(dst.server, dst.project, table)
        return pf.read_pg(dst.server, dst.project, schema, table)
    if dst.kind == "MYSQL":
        return pf.read_mysql(dst.server, dst.project, table)
    raise ValueError(dst.kind)


def create_source(mms, src, dst, name=None):
    cfg = dict(src.config)
    cfg["dst.url"] = dst.url
    cfg["dst.project"] = dst.project
    body = {"name": name or uniq("pair"), "type": src.kind, "config": cfg}
    sid = mms.ok("POST", API + "/datasources", body=body)["dataSourceId"]

    def started():
        ds = mms.ok("GET", "%s/datasources/%d" % (API, sid))
        return ds if ds.get("status") not in ("STARTING", "STOPPING") else None
    ds = wait(started, 30, what="data source %d to start" % sid)
    assert ds.get("status") not in ("FAILED", "START_FAILED"), ds
    # Passwords (config items and the one inside dst.url) are never returned.
    shown = json_text(ds)
    for secret in (cfg.get("pg.password"), cfg.get("mysql.password"),
                   getattr(dst, "password", None)):
        assert not secret or secret not in shown, "a password is shown: %s" % shown
    return sid


def run_job(mms, sid, body):
    job_id, at = mms.create_job(sid, body)
    assert at["status"] == "DONE" and at["errorMsg"] is None, at
    job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
    return job_id, job


def compare(src, dst, table, lossy=()):
    a = pf.canonical(table, pf.read_source(src, table), lossy)
    b = pf.canonical(table, read_dest(dst, table), lossy)
    assert a == b, pf.diff(table, a, b)
    return len(a)


def check_dest_partitions(src_kind, dst):
    """Partitions survive where both sides have them: a partitioned PostgreSQL or FILES source
    gives region=<v> directories in FILES and a LIST-partitioned table in PostgreSQL. SQLite and
    MySQL hold it as a plain table with the key as a data column (a Hive key, which is not a
    data column at the source, trailing)."""
    regions = ["region=%s" % p for p in sorted(pf.PARTS)]
    if src_kind not in ("POSTGRESQL", "FILES"):
        return
    want_cols = ["id", "region", "v"] if src_kind == "POSTGRESQL" else ["id", "v", "region"]
    if dst.kind == "SQLITE":
        con = sqlite3.connect("file:%s?mode=ro" % os.path.join(dst.dir, dst.project + ".db"),
                              uri=True)
        try:
            cols = [r[1] for r in con.execute("PRAGMA table_info(%s)" % pf.sq(pf.PART_TABLE))]
            stray = [r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE substr(name, 1, 6) = '__mms_'")]
        finally:
            con.close()
        assert cols == want_cols, "SQLite destination events columns: %r" % cols
        assert stray == [], "SQLite destination: staging tables left: %r" % stray
    elif dst.kind == "MYSQL":
        out = pf.mariadb(dst.server, (
            "SELECT GROUP_CONCAT(column_name ORDER BY ordinal_position) FROM "
            "information_schema.columns WHERE table_schema = %s AND BINARY table_name = %s;"
            " SELECT COUNT(*) FROM information_schema.partitions WHERE table_schema = %s AND "
            "BINARY table_name = %s AND partition_name IS NOT NULL;"
            " SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND "
            "LEFT(table_name, 6) = '__mms_';")
            % ((pf.my_lit(dst.project), pf.my_lit(pf.PART_TABLE)) * 2 + (pf.my_lit(dst.project),)))
        assert out.split() == [",".join(want_cols), "0", "0"], \
            "MySQL destination events (columns, partitions, staging tables): %r" % out
    if dst.kind == "FILES":
        got = pf.files_partitions(dst.root, dst.project, pf.PART_TABLE)
        assert got == regions, "FILES destination partitions: %r" % got
    elif dst.kind == "POSTGRESQL":
        schema = pf.pg_find_table(dst.server, dst.project, pf.PART_TABLE)
        out = pf.psql(dst.server, dst.project, (
            "SELECT c.relkind, pg_get_partkeydef(c.oid), (SELECT string_agg("
            "pg_get_expr(k.relpartbound, k.oid), ',' ORDER BY "
            "pg_get_expr(k.relpartbound, k.oid)) FROM pg_inherits i JOIN "
            "pg_class k ON k.oid = i.inhrelid WHERE i.inhparent = c.oid) FROM pg_class c JOIN "
            "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s;")
            % (pf.pl(schema), pf.pl(pf.PART_TABLE))).strip()
        assert out == "p|LIST (region)|FOR VALUES IN ('ap'),FOR VALUES IN ('eu')," \
            "FOR VALUES IN ('us')", "PostgreSQL destination events: %r" % out


def task_summary(tasks):
    return "\n".join("  %s: %s %s" % (t["srcTableName"], t["status"], t.get("errorMsg"))
                     for t in tasks)


# ---- the 16 pairs --------------------------------------------------------------------------------

@pytest.mark.parametrize("src_kind,dst_kind", PAIRS, ids=["%s_to_%s" % p for p in PAIRS])
def test_pair(mms, dbservers, workdir, src_kind, dst_kind):  # noqa: F811
    """The whole fixture db from a source of src_kind into a destination of dst_kind with a
    Database job: every table DONE and equal by the independent readers, or failed by design
    with the documented message (EXPECTED_FAILURES)."""
    tag = uniq("%s_%s" % (src_kind[:2].lower(), dst_kind[:2].lower()))
    src = pf.make_source(src_kind, workdir, dbservers, tag)
    dst = make_dest(dst_kind, workdir, dbservers, "p_" + tag)
    sid = create_source(mms, src, dst)

    scan = mms.scan(sid)
    assert scan["status"] == "SCAN_DONE" and scan["errorMsg"] is None, scan
    tables = {t["name"]: t for t in mms.tables(sid)}
    assert set(tables) == set(pf.TABLES), sorted(tables)

    job_id, job = run_job(mms, sid, {"name": "pair " + tag, "srcDbName": src.db,
                                     "enableVerification": True,
                                     "others": {"verify": verify_mode(src_kind, dst_kind)}})
    tasks = mms.tasks(sid, job_id)
    by_table = {}
    for t in tasks:
        by_table.setdefault(t["srcTableName"], []).append(t)
    assert set(by_table) == set(pf.TABLES), task_summary(tasks)

    lossy = lossy_for(src_kind, dst_kind)
    failures = []
    for table in pf.TABLES:
        expected = EXPECTED_FAILURES.get((src_kind, dst_kind, table))
        ts = by_table[table]
        if expected is None:
            bad = [t for t in ts if t["status"] != "DONE"]
            if bad:
                failures.append("%s: expected DONE, got\n%s" % (table, task_summary(bad)))
                continue
            try:
                compare(src, dst, table, lossy)
                if table == pf.PART_TABLE:
                    check_dest_partitions(src_kind, dst)
                    moved = sorted(p for t in ts for p in t["partitions"])
                    want = ["region=%s" % p for p in sorted(pf.PARTS)] \
                        if src_kind in ("POSTGRESQL", "FILES") else []
                    assert moved == want, "events: tasks moved partitions %r" % moved
            except AssertionError as e:
                failures.append(str(e))
        else:
            status, pattern = expected
            for t in ts:
                if t["status"] != status or not re.search(pattern, t.get("errorMsg") or ""):
                    failures.append("%s: expected %s matching %r, got %s %r"
                                    % (table, status, pattern, t["status"], t.get("errorMsg")))
    want_job = "FAILED" if any(k[:2] == (src_kind, dst_kind) for k in EXPECTED_FAILURES) \
        else "DONE"
    if job["status"] != want_job:
        failures.append("job: expected %s, got %r" % (want_job, job))
    assert not failures, "%s -> %s:\n%s\n\ntasks:\n%s" % (
        src_kind, dst_kind, "\n".join(failures), task_summary(tasks))


# ---- partitionFilters ----------------------------------------------------------------------------

def part_rows(src, regions):
    rows = pf.read_source(src, pf.PART_TABLE)
    return [r for r in rows if r["region"] in regions]


@pytest.mark.parametrize("kind", ["POSTGRESQL", "FILES"])
def test_partition_filter_selects_the_right_partitions(mms, dbservers, workdir, kind):  # noqa: F811
    """A job with partitionFilters moves exactly the partitions the filter selects: the job's
    tasks name only those, and the destination holds only their rows."""
    tag = uniq("pf_" + kind[:2].lower())
    src = pf.make_source(kind, workdir, dbservers, tag)
    dst = make_dest(kind, workdir, dbservers, "p_" + tag)
    sid = create_source(mms, src, dst)
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    parts = mms.ok("GET", "%s/datasources/%d/partitions" % (API, sid),
                   query={"pageNum": 1, "pageSize": 100})["objectList"]
    assert sorted(p["value"] for p in parts) == ["region=ap", "region=eu", "region=us"], parts

    job_id, job = run_job(mms, sid, {
        "name": "filter " + tag, "srcDbName": src.db, "tables": [pf.PART_TABLE],
        "partitionFilters": {pf.PART_TABLE: "region = 'eu' or (region in ('ap', 'nowhere') "
                                            "and region <> 'us')"},
        "others": {"verify": "checksum"}})
    tasks = mms.tasks(sid, job_id)
    assert job["status"] == "DONE", (job, task_summary(tasks))
    moved = sorted(p for t in tasks for p in t["partitions"])
    assert moved == ["region=ap", "region=eu"], tasks
    assert all(t["status"] == "DONE" and t["srcTableName"] == pf.PART_TABLE for t in tasks), tasks

    a = pf.canonical(pf.PART_TABLE, part_rows(src, ("eu", "ap")))
    b = pf.canonical(pf.PART_TABLE, read_dest(dst, pf.PART_TABLE))
    assert a == b, pf.diff(pf.PART_TABLE, a, b)
    assert len(b) == 20
    if kind == "FILES":
        assert pf.files_partitions(dst.root, dst.project, pf.PART_TABLE) == \
            ["region=ap", "region=eu"]

    # A syntax error is a 400 naming the position, and no job is created.
    status, body, _ = mms.call("POST", "%s/datasources/%d/jobs" % (API, sid), body={
        "name": "bad " + tag, "srcDbName": src.db, "tables": [pf.PART_TABLE],
        "partitionFilters": {pf.PART_TABLE: "region = 'eu' and ("}})
    assert status == 400, (status, body)
    assert body["code"] == "InvalidParameter.PartitionFilters", body
    assert re.search(r"^partitionFilters\[events\]: position \d+: ", body["message"]), body


def json_text(body):
    return json.dumps(body, ensure_ascii=False)


# ---- increment -----------------------------------------------------------------------------------

def dir_identity(path):
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns


def test_increment_moves_only_the_changed_partition(mms, dbservers, workdir):  # noqa: F811
    """FILES -> FILES: after a first job is DONE, rows change in one partition (region=us) at
    the source; a rescan flags it and a job with increment=true has exactly one task, for that
    partition. The destination then equals the changed source, and the other partitions'
    directories at the destination are the very same ones (same inode: not replaced)."""
    tag = uniq("inc")
    src = pf.make_source("FILES", workdir, dbservers, tag)
    dst = make_dest("FILES", workdir, dbservers, "p_" + tag)
    sid = create_source(mms, src, dst)
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job1, job = run_job(mms, sid, {"name": "first " + tag, "srcDbName": src.db,
                                   "tables": [pf.PART_TABLE],
                                   "others": {"verify": "checksum"}})
    tasks1 = mms.tasks(sid, job1)
    assert job["status"] == "DONE", (job, task_summary(tasks1))
    assert sorted(p for t in tasks1 for p in t["partitions"]) == \
        ["region=ap", "region=eu", "region=us"]
    a = pf.canonical(pf.PART_TABLE, pf.read_source(src, pf.PART_TABLE))
    assert a == pf.canonical(pf.PART_TABLE, read_dest(dst, pf.PART_TABLE))

    dtable = os.path.join(dst.root, dst.project + ".db", pf.PART_TABLE)
    before = {p: dir_identity(os.path.join(dtable, p)) for p in ("region=eu", "region=ap")}
    us_before = dir_identity(os.path.join(dtable, "region=us"))

    # Change the rows of region=us: one row changed, one removed, two added. The new file's
    # mtime is set 10 s ahead so the change is seen whatever the file system's time grain.
    stable = os.path.join(src.root, src.db + ".db", pf.PART_TABLE)
    us_rows = [r for r in pf.PART_ROWS if r[1] == "us"]
    new_rows = [(r[0], r[1], r[2] + " (changed)") for r in us_rows[1:]] + \
        [(1001, "us", "new ünï\nline"), (1002, "us", None)]
    os.remove(os.path.join(stable, "region=us", "000000_0"))
    pf.write_events_partition(stable, "us", new_rows, name="000001_0")
    future = time.time() + 10
    for p in (os.path.join(stable, "region=us", "000001_0"), os.path.join(stable, "region=us")):
        os.utime(p, (future, future))

    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job2, job = run_job(mms, sid, {"name": "increment " + tag, "srcDbName": src.db,
                                   "tables": [pf.PART_TABLE], "increment": True,
                                   "others": {"verify": "checksum"}})
    tasks2 = mms.tasks(sid, job2)
    assert job["status"] == "DONE", (job, task_summary(tasks2))
    assert len(tasks2) == 1, tasks2
    assert tasks2[0]["partitions"] == ["region=us"], tasks2
    assert tasks2[0]["status"] == "DONE", tasks2
    # The task list of the partition: both jobs moved it.
    by_part = mms.ok("GET", "%s/datasources/%d/tasks" % (API, sid),
                     query={"partition": "region=us", "pageNum": 1, "pageSize": 100})
    assert sorted(t["jobId"] for t in by_part["objectList"]) == sorted([job1, job2]), by_part
    by_part = mms.ok("GET", "%s/datasources/%d/tasks" % (API, sid),
                     query={"partition": "region=eu", "pageNum": 1, "pageSize": 100})
    assert [t["jobId"] for t in by_part["objectList"]] == [job1], by_part

    a = pf.canonical(pf.PART_TABLE, pf.read_source(src, pf.PART_TABLE))
    b = pf.canonical(pf.PART_TABLE, read_dest(dst, pf.PART_TABLE))
    assert a == b, pf.diff(pf.PART_TABLE, a, b)
    assert len(b) == 31
    after = {p: dir_identity(os.path.join(dtable, p)) for p in ("region=eu", "region=ap")}
    assert after == before, "unchanged partitions were rewritten at the destination"
    assert dir_identity(os.path.join(dtable, "region=us")) != us_before

    # Nothing changed since: an increment job has nothing to move.
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job3, job = run_job(mms, sid, {"name": "again " + tag, "srcDbName": src.db,
                                   "tables": [pf.PART_TABLE], "increment": True})
    tasks3 = mms.tasks(sid, job3)
    assert job["status"] == "DONE", (job, task_summary(tasks3))
    assert all(not t["partitions"] for t in tasks3), tasks3


# ---- a value the destination cannot hold -------------------------------------------------------

def test_value_the_destination_cannot_hold(mms, dbservers, workdir):  # noqa: F811
    """PostgreSQL double precision -0 into MySQL: MySQL would store 0, so the writer refuses it
    (types.md, MySQL, "Destination"): DATA_FAILED naming the table, the column and the value;
    the other rows' table is not half-written."""
    tag = uniq("hold")
    db = "src_" + tag
    s = dbservers.pg
    pf.psql(s, "postgres", 'CREATE DATABASE "%s";' % db)
    pf.psql(s, db, 'CREATE SCHEMA shop; CREATE TABLE shop."neg zero" (id bigint, "the x" '
                   "double precision); INSERT INTO shop.\"neg zero\" VALUES (1, 1.5), "
                   "(2, '-0'::float8), (3, NULL); ANALYZE;")
    src = pf.Source("POSTGRESQL", "shop", {
        "pg.host": s.host, "pg.port": s.port, "pg.user": s.user, "pg.password": s.password,
        "pg.database": db, "pg.ssl_mode": "disable"})
    dst = make_dest("MYSQL", workdir, dbservers, "p_" + tag)
    sid = create_source(mms, src, dst)
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job_id, job = run_job(mms, sid, {"name": "hold " + tag, "srcDbName": "shop"})
    (task,) = mms.tasks(sid, job_id)
    assert job["status"] == "FAILED", job
    assert task["status"] == "DATA_FAILED", task
    msg = task["errorMsg"] or ""
    assert re.search(r"^writing table `p_hold_\w+`\.`neg zero` column `the x` row 2: value -0 "
                     r"cannot be held by a MySQL number", msg), msg
    # The destination table exists (SCHEMA ran) but holds no rows: nothing was committed.
    out = pf.mariadb(dbservers.mysql, "SELECT COUNT(*) FROM %s.%s;"
                     % (pf.mq(dst.project), pf.mq("neg zero")))
    assert out.strip() == "0", out


def test_nul_in_text_into_postgresql(mms, dbservers, workdir):  # noqa: F811
    """SQLite TEXT holding a NUL byte into PostgreSQL, whose text cannot hold it (types.md,
    PostgreSQL, "Destination"): refused before sending, naming table, column and value."""
    tag = uniq("nul")
    path = os.path.join(workdir, "nul.db")

    con = sqlite3.connect(path)
    with con:
        con.execute('CREATE TABLE "nul text" (id INTEGER, "t x" TEXT)')
        con.executemany('INSERT INTO "nul text" VALUES (?, ?)', [(1, "ok"), (2, "a\x00b")])
    con.close()
    src = pf.Source("SQLITE", "main", {"sqlite.path": path}, path=path)
    dst = make_dest("POSTGRESQL", workdir, dbservers, "p_" + tag)
    sid = create_source(mms, src, dst)
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job_id, job = run_job(mms, sid, {"name": "nul " + tag, "srcDbName": "main"})
    (task,) = mms.tasks(sid, job_id)
    assert job["status"] == "FAILED", job
    assert task["status"] == "DATA_FAILED", task
    msg = task["errorMsg"] or ""
    assert re.search(r'^table "main"\."nul text" in database "p_nul_\w+", column "t x": '
                     r"PostgreSQL text cannot hold a NUL byte: 'a\\x00b'", msg), msg


# ---- a SQLite column without a declared type ----------------------------------------------------

UNTYPED = [(1, 7), (2, 2.5), (3, "text ünï"), (4, b"blob"), (5, None),
           (6, -9223372036854775808), (7, 0.1), (8, "")]


@pytest.mark.parametrize("dst_kind", KINDS)
def test_sqlite_untyped_column(mms, dbservers, workdir, dst_kind):  # noqa: F811
    """A SQLite column with no declared type (canonical `any`) holds values of every storage
    class. SQLite keeps each value's class; the other destinations cannot: PostgreSQL stores
    `text`, MySQL `LONGBLOB`, FILES text, each value as its text form (documented loss of the
    kind, docs/e2e-pairs.md). The value itself is kept: integers and doubles parse back to the
    same number, text and blob bytes are the same bytes."""
    tag = uniq("any_" + dst_kind[:2].lower())
    path = os.path.join(workdir, "untyped.db")

    con = sqlite3.connect(path)
    with con:
        con.execute('CREATE TABLE untyped (id INTEGER, v)')
        con.executemany("INSERT INTO untyped VALUES (?, ?)", UNTYPED)
    con.close()
    src = pf.Source("SQLITE", "main", {"sqlite.path": path}, path=path)
    dst = make_dest(dst_kind, workdir, dbservers, "p_" + tag)
    sid = create_source(mms, src, dst)
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    verify = "checksum" if dst_kind == "SQLITE" else "count"
    job_id, job = run_job(mms, sid, {"name": "any " + tag, "srcDbName": "main",
                                     "others": {"verify": verify}})
    tasks = mms.tasks(sid, job_id)
    assert job["status"] == "DONE", (job, task_summary(tasks))

    if dst_kind == "SQLITE":
        dcon = sqlite3.connect(os.path.join(dst.dir, dst.project + ".db"))
        got = dcon.execute("SELECT id, typeof(v), v FROM untyped ORDER BY id").fetchall()
        dcon.close()
        scon = sqlite3.connect(path)
        want = scon.execute("SELECT id, typeof(v), v FROM untyped ORDER BY id").fetchall()
        scon.close()
        assert got == want
        return
    got = {int(r["id"]): r["v"] for r in read_dest(dst, "untyped")}
    assert sorted(got) == [i for i, _ in UNTYPED], got
    for i, v in UNTYPED:
        g = got[i]
        if isinstance(g, str):
            g = g.encode("utf-8")
        if v is None:
            assert g is None, (i, g)
        elif isinstance(v, bool) or isinstance(v, int):
            assert int(g) == v, (i, g)
        elif isinstance(v, float):
            assert float(g) == v, (i, g)  # the text form parses back to the same double
        elif isinstance(v, str):
            assert g == v.encode("utf-8"), (i, g)
        else:
            assert g == v, (i, g)


def test_uint64_max_into_sqlite(mms, dbservers, workdir):  # noqa: F811
    """MySQL BIGINT UNSIGNED 18446744073709551615 into SQLite, whose integers are signed 64-bit
    (types.md, SQLite, "Known limits"): DATA_FAILED instead of a rounded REAL, naming the
    table, the column and the value; nothing is committed."""
    tag = uniq("u64")
    db = "src_" + tag
    s = dbservers.mysql
    pf.mariadb(s, "CREATE DATABASE %s; CREATE TABLE %s.`big u` (id INT, `u v` BIGINT UNSIGNED);"
               " INSERT INTO %s.`big u` VALUES (1, 9223372036854775807), "
               "(2, 18446744073709551615), (3, NULL);" % (pf.mq(db), pf.mq(db), pf.mq(db)))
    src = pf.Source("MYSQL", db, {
        "mysql.host": s.host, "mysql.port": s.port, "mysql.user": s.user,
        "mysql.password": s.password, "mysql.database": db, "mysql.ssl_mode": "DISABLED"})
    dst = make_dest("SQLITE", workdir, dbservers, "p_" + tag)
    sid = create_source(mms, src, dst)
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job_id, job = run_job(mms, sid, {"name": "u64 " + tag, "srcDbName": db})
    (task,) = mms.tasks(sid, job_id)
    assert job["status"] == "FAILED", job
    assert task["status"] == "DATA_FAILED", task
    msg = task["errorMsg"] or ""
    # The SQLite writer names the column by its position today; its name would be clearer
    # (reported to the lead): either passes.
    assert re.search(r'^table "big u": value 18446744073709551615 of column (2|"u v") does '
                     r"not fit SQLite's 64-bit integers", msg), msg
    con = sqlite3.connect(os.path.join(dst.dir, dst.project + ".db"))
    try:
        n = con.execute('SELECT COUNT(*) FROM "big u"').fetchone()[0]
    finally:
        con.close()
    assert n == 0


# ---- types only PostgreSQL or MySQL have -----------------------------------------------------------

EXTRA_PAIRS = [(s, d) for s in ("POSTGRESQL", "MYSQL") for d in KINDS]


@pytest.mark.parametrize("src_kind,dst_kind", EXTRA_PAIRS,
                         ids=["%s_to_%s" % p for p in EXTRA_PAIRS])
def test_dialect_types(mms, dbservers, workdir, src_kind, dst_kind):  # noqa: F811
    """PostgreSQL uuid, enum, integer[] (as JSON), jsonb, real, smallint, interval, inet and
    MySQL unsigned integers, mediumint, enum, set, year, float, UUID, varbinary reach every
    destination as the value types.md maps them to (read back independently)."""
    tag = uniq("x_%s_%s" % (src_kind[:2].lower(), dst_kind[:2].lower()))
    server = dbservers.pg if src_kind == "POSTGRESQL" else dbservers.mysql
    src = pf.make_extras(src_kind, server, "src_" + tag)
    table = pf.EXTRAS[src_kind][0]
    dst = make_dest(dst_kind, workdir, dbservers, "p_" + tag)
    sid = create_source(mms, src, dst)
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job_id, job = run_job(mms, sid, {"name": "types " + tag, "srcDbName": src.db,
                                     "others": {"verify": verify_mode(src_kind, dst_kind)}})
    tasks = mms.tasks(sid, job_id)
    assert job["status"] == "DONE", (job, task_summary(tasks))
    want = pf.expected_extras(src_kind)
    got = pf.canonical(table, read_dest(dst, table))
    assert got == want, pf.diff(table, want, got)
