"""Issue 3: MySQL partitions end to end through the HTTP API (docs/types.md, MySQL; docs/engine.md,
"Partition keys"). A MariaDB source holds
  lc  LIST COLUMNS on one NO PAD binary varchar, one value per partition (nasty values and the
      NULL partition): Hive-like, partitions "k=<v>", moved partition by partition;
  rng RANGE on an int and hsh HASH: partitions "partition=<name>", each table moved whole.
Jobs go to SQLite and PostgreSQL destinations; every destination is read back independently
(sqlite3, psql) and compared with the source read by the mariadb client. Also: partitionFilters
over lc, and increment after changing rows of one LIST partition and of one RANGE partition.
"""
import itertools
import os
import sqlite3
import time

import pytest

import pair_fixtures as pf
from dbservers import dbservers  # noqa: F401  (module-scoped fixture)
from mmsd import API, wait

JOB_TIMEOUT = 240
_seq = itertools.count(1)

# (partition name, value): SQL literal of the one value of each LIST partition
LC_PARTS = [("p_space", "a b"), ("p_slash", "x/y"), ("p_quote", "it's \"q\""),
            ("p_utf8", "\u00fc\u20ac \u6f22"), ("p_null", None)]
LC_VALUES = {
    "a b": "k=a b",
    "x/y": "k=x%2Fy",
    "it's \"q\"": "k=it%27s %22q%22",
    "\u00fc\u20ac \u6f22": "k=\u00fc\u20ac \u6f22",
    None: "k=__HIVE_DEFAULT_PARTITION__",
}


def uniq(prefix):
    return "%s_%d_%d" % (prefix, os.getpid() % 100000, next(_seq))


def lit(v):
    return "NULL" if v is None else pf.ml(v)


def make_source(server, db):
    sql = ["DROP DATABASE IF EXISTS %s;" % pf.mq(db),
           "CREATE DATABASE %s CHARACTER SET utf8mb4;" % pf.mq(db),
           "USE %s;" % pf.mq(db),
           "CREATE TABLE lc (id BIGINT NOT NULL, k VARCHAR(40) CHARACTER SET utf8mb4 COLLATE "
           "utf8mb4_nopad_bin, v LONGTEXT) PARTITION BY LIST COLUMNS(k) (%s);"
           % ", ".join("PARTITION %s VALUES IN (%s)" % (pf.mq(n), lit(v)) for n, v in LC_PARTS),
           "CREATE TABLE rng (id BIGINT NOT NULL, n INT NOT NULL, v LONGTEXT) PARTITION BY "
           "RANGE(n) (PARTITION r0 VALUES LESS THAN (10), PARTITION r1 VALUES LESS THAN (20), "
           "PARTITION r2 VALUES LESS THAN MAXVALUE);",
           "CREATE TABLE hsh (id BIGINT NOT NULL, v LONGTEXT) PARTITION BY HASH(id) "
           "PARTITIONS 3;"]
    rows, i = [], 0
    for _, v in LC_PARTS:
        for j in range(3):
            i += 1
            rows.append("(%d, %s, %s)" % (i, lit(v), lit("row %d \u00e9'\\ %d" % (i, j))))
    sql.append("INSERT INTO lc VALUES %s;" % ", ".join(rows))
    sql.append("INSERT INTO rng VALUES %s;" % ", ".join(
        "(%d, %d, %s)" % (k, k * 3, lit("r%d" % k)) for k in range(1, 11)))
    sql.append("INSERT INTO hsh VALUES %s;" % ", ".join(
        "(%d, %s)" % (k, "NULL" if k == 4 else lit("h%d" % k)) for k in range(1, 10)))
    sql.append("ANALYZE TABLE lc, rng, hsh;")
    pf.mariadb(server, "\n".join(sql))
    return {"mysql.host": server.host, "mysql.port": server.port, "mysql.user": server.user,
            "mysql.password": server.password, "mysql.database": db,
            "mysql.ssl_mode": "DISABLED", "mysql.connect_timeout": 10}


def hexrow(fields):
    return tuple(None if f == "NULL" else f for f in fields)


def read_source(server, db, table):
    """Rows as tuples of text (HEX of text columns so any byte survives), sorted."""
    cols = {"lc": "id, HEX(k), HEX(v)", "rng": "id, n, HEX(v)", "hsh": "id, HEX(v)"}[table]
    out = pf.mariadb(server, "SELECT %s FROM %s.%s;" % (cols, pf.mq(db), table))
    return sorted(hexrow(line.split("\t")) for line in out.splitlines() if line)


def hx(v):
    return None if v is None else v.encode("utf-8").hex().upper()


def read_sqlite(path, table):
    con = sqlite3.connect(path)
    try:
        names = [r[1] for r in con.execute("PRAGMA table_info(%s)" % table)]
        out = []
        for r in con.execute("SELECT * FROM %s" % table):
            d = dict(zip(names, r))
            row = [str(d["id"])]
            if "k" in d:
                row.append(hx(d["k"]))
            if "n" in d:
                row.append(str(d["n"]))
            row.append(hx(d["v"]))
            out.append(tuple(row))
        return sorted(out)
    finally:
        con.close()


def read_pg(server, db, table):
    schema = pf.pg_find_table(server, db, table)
    cols = {"lc": "id, upper(encode(convert_to(k, 'UTF8'), 'hex')), "
                  "upper(encode(convert_to(v, 'UTF8'), 'hex'))",
            "rng": "id, n, upper(encode(convert_to(v, 'UTF8'), 'hex'))",
            "hsh": "id, upper(encode(convert_to(v, 'UTF8'), 'hex'))"}[table]
    out = pf.psql(server, db, "\\pset null NULL\nSELECT %s FROM %s.%s;"
                  % (cols, pf.pq(schema), pf.pq(table)))
    return sorted(hexrow(line.split("|")) for line in out.splitlines() if line)


def create_source(mms, cfg, url, project):
    cfg = dict(cfg, **{"dst.url": url, "dst.project": project})
    sid = mms.ok("POST", API + "/datasources",
                 body={"name": uniq("mypart"), "type": "MYSQL", "config": cfg})["dataSourceId"]

    def started():
        ds = mms.ok("GET", "%s/datasources/%d" % (API, sid))
        return ds if ds.get("status") not in ("STARTING", "STOPPING") else None
    ds = wait(started, 30, what="data source %d to start" % sid)
    assert ds.get("status") not in ("FAILED", "START_FAILED"), ds
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    return sid


def partitions(mms, sid, table):
    out = mms.ok("GET", "%s/datasources/%d/partitions" % (API, sid),
                 query={"tableName": table, "pageNum": 1, "pageSize": 100})
    return {p["value"]: p for p in out["objectList"]}


def run_job(mms, sid, body):
    job_id, at = mms.create_job(sid, body)
    assert at["status"] == "DONE" and at["errorMsg"] is None, at
    job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
    tasks = mms.tasks(sid, job_id)
    assert job["status"] == "DONE", (job, [(t["srcTableName"], t["status"], t.get("errorMsg"))
                                           for t in tasks])
    return job_id, tasks


def by_table(tasks):
    out = {}
    for t in tasks:
        out.setdefault(t["srcTableName"], []).append(t)
    return out


def check_first_job(tasks):
    """lc per partition; rng and hsh whole (one task each, no partition list)."""
    bt = by_table(tasks)
    assert sorted(p for t in bt["lc"] for p in t["partitions"]) == sorted(LC_VALUES.values())
    for table in ("rng", "hsh"):
        assert len(bt[table]) == 1, bt[table]
        assert bt[table][0]["partitions"] == [], bt[table]


def test_mysql_partitions_listed_and_moved(mms, dbservers, workdir):  # noqa: F811
    tag = uniq("myp")
    db = "src_" + tag
    cfg = make_source(dbservers.mysql, db)
    sdir = os.path.join(workdir, "dst-sqlite")
    os.makedirs(sdir, exist_ok=True)
    project = "p_" + tag
    sid = create_source(mms, cfg, "sqlite://" + sdir, project)

    # ListMmsPartitions: "k=<v>" for the LIST table, "partition=<name>" for the others
    assert sorted(partitions(mms, sid, "lc")) == sorted(LC_VALUES.values())
    assert sorted(partitions(mms, sid, "rng")) == ["partition=r0", "partition=r1",
                                                   "partition=r2"]
    assert sorted(partitions(mms, sid, "hsh")) == ["partition=p0", "partition=p1",
                                                   "partition=p2"]
    tables = {t["name"]: t for t in mms.tables(sid)}
    assert set(tables) == {"lc", "rng", "hsh"}

    # SQLite destination: a Database job
    _, tasks = run_job(mms, sid, {"name": "sqlite " + tag, "srcDbName": db,
                                  "others": {"verify": "checksum"}})
    check_first_job(tasks)
    path = os.path.join(sdir, project + ".db")
    for table in ("lc", "rng", "hsh"):
        a, b = read_source(dbservers.mysql, db, table), read_sqlite(path, table)
        assert a == b, (table, a, b)

    # PostgreSQL destination: lc becomes a LIST-partitioned table, one partition per value
    pg = dbservers.pg
    pg_project = "pg_" + tag
    sid2 = create_source(mms, cfg, "postgresql://%s:%s@%s:%d/" % (pg.user, pg.password, pg.host,
                                                                  pg.port), pg_project)
    _, tasks = run_job(mms, sid2, {"name": "pg " + tag, "srcDbName": db,
                                   "others": {"verify": "checksum"}})
    check_first_job(tasks)
    for table in ("lc", "rng", "hsh"):
        a, b = read_source(dbservers.mysql, db, table), read_pg(pg, pg_project, table)
        assert a == b, (table, a, b)
    schema = pf.pg_find_table(pg, pg_project, "lc")
    nparts = pf.psql(pg, pg_project, "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON "
                     "c.oid = i.inhparent JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
                     "n.nspname = %s AND c.relname = 'lc';" % pf.pl(schema))
    assert int(nparts.strip()) == len(LC_PARTS)


def test_mysql_partition_filter_and_increment(mms, dbservers, workdir):  # noqa: F811
    tag = uniq("mypf")
    db = "src_" + tag
    cfg = make_source(dbservers.mysql, db)
    sdir = os.path.join(workdir, "dst-sqlite")
    os.makedirs(sdir, exist_ok=True)

    # partitionFilters over lc: only the selected partitions move
    fproject = "f_" + tag
    sidf = create_source(mms, cfg, "sqlite://" + sdir, fproject)
    _, tasks = run_job(mms, sidf, {"name": "filter " + tag, "srcDbName": db, "tables": ["lc"],
                                   "partitionFilters": {"lc": "k = 'x/y' or k = 'a b'"}})
    assert sorted(p for t in tasks for p in t["partitions"]) == ["k=a b", "k=x%2Fy"], tasks
    want = [r for r in read_source(dbservers.mysql, db, "lc") if r[1] in (hx("a b"), hx("x/y"))]
    assert len(want) == 6
    assert read_sqlite(os.path.join(sdir, fproject + ".db"), "lc") == want
    # a filter on a RANGE table names partitions by the pseudo key and moves it whole
    _, tasks = run_job(mms, sidf, {"name": "filter rng " + tag, "srcDbName": db,
                                   "tables": ["rng"],
                                   "partitionFilters": {"rng": "partition = 'r1'"}})
    assert len(tasks) == 1 and tasks[0]["partitions"] == [], tasks
    assert read_sqlite(os.path.join(sdir, fproject + ".db"), "rng") == \
        read_source(dbservers.mysql, db, "rng")

    # increment: a first full job, then rows change in one LIST partition
    project = "i_" + tag
    sid = create_source(mms, cfg, "sqlite://" + sdir, project)
    path = os.path.join(sdir, project + ".db")
    _, tasks = run_job(mms, sid, {"name": "first " + tag, "srcDbName": db,
                                  "tables": ["lc", "rng"]})
    assert not any(p["updated"] for p in partitions(mms, sid, "lc").values())
    time.sleep(1.1)  # UPDATE_TIME has a one-second grain
    pf.mariadb(dbservers.mysql,
               "INSERT INTO %s.lc VALUES (100, 'x/y', 'new'), (101, 'x/y', NULL);\n"
               "UPDATE %s.lc SET v = 'changed' WHERE id = 4;\n"
               "ANALYZE TABLE %s.lc;" % (pf.mq(db), pf.mq(db), pf.mq(db)))
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    flagged = sorted(v for v, p in partitions(mms, sid, "lc").items() if p["updated"])
    assert flagged == ["k=x%2Fy"], flagged
    _, tasks = run_job(mms, sid, {"name": "inc lc " + tag, "srcDbName": db, "tables": ["lc"],
                                  "increment": True, "others": {"verify": "checksum"}})
    assert len(tasks) == 1 and tasks[0]["partitions"] == ["k=x%2Fy"], tasks
    assert read_sqlite(path, "lc") == read_source(dbservers.mysql, db, "lc")

    # a change in one RANGE partition re-moves the whole RANGE table
    time.sleep(1.1)
    pf.mariadb(dbservers.mysql,
               "INSERT INTO %s.rng VALUES (200, 15, 'in r1');\nANALYZE TABLE %s.rng;"
               % (pf.mq(db), pf.mq(db)))
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    assert partitions(mms, sid, "rng")["partition=r1"]["updated"]
    _, tasks = run_job(mms, sid, {"name": "inc rng " + tag, "srcDbName": db,
                                  "tables": ["rng"], "increment": True})
    assert len(tasks) == 1 and tasks[0]["partitions"] == [], tasks
    assert read_sqlite(path, "rng") == read_source(dbservers.mysql, db, "rng")
    assert len(read_sqlite(path, "rng")) == 11


def test_unchanged_range_table_is_not_moved_again(mms, dbservers, workdir):  # noqa: F811
    tag = uniq("myr")
    db = "src_" + tag
    cfg = make_source(dbservers.mysql, db)
    sdir = os.path.join(workdir, "dst-sqlite")
    os.makedirs(sdir, exist_ok=True)
    sid = create_source(mms, cfg, "sqlite://" + sdir, "r_" + tag)
    run_job(mms, sid, {"name": "first " + tag, "srcDbName": db, "tables": ["rng"]})
    assert {t["name"]: t for t in mms.tables(sid)}["rng"]["status"] == "DONE"
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    _, tasks = run_job(mms, sid, {"name": "again " + tag, "srcDbName": db, "tables": ["rng"],
                                  "increment": True})
    assert all(t.get("schemaOnly") or t["status"] == "DONE" for t in tasks)
    assert len([t for t in tasks if not t.get("schemaOnly")]) == 0, tasks
