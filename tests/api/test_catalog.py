"""Black-box tests of metadata scans and the catalog against a real mmsd and real SQLite source
files: CreateMmsFetchMetadataJob, GetMmsFetchMetadataJob, ListMmsDbs, GetMmsDb, UpdateMmsDb,
ListMmsTables, GetMmsTable, UpdateMmsTable, UpdateMmsTables, ListMmsPartitions,
GetMmsPartition.

SQLite sources have one db ("main") and no partitions: the partition code paths (upserts,
sweeps, roll-ups, partition lists) are covered by tests/unit/test_store_catalog.c; here the
partition operations are checked for their parameters, isolation and empty answers.

About change detection with SQLite sources: SQLite keeps no per-table times, so the connector
reports the file's mtime as every table's lastDdlTime and last-modified time. A write to one
table therefore moves those times for all tables, and a rescan flags every table `updated`
(test_touching_the_file_flags_every_table). To check that a rescan singles out the table whose
rows or schema changed, the tests put the file's mtime back after writing."""

import json
import os
import re
import sqlite3
import time
import uuid

import pytest

from mmsd import API

DS = API + "/datasources"
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
ERROR_KEYS = {"requestId", "code", "message", "httpCode"}

# Nasty names: spaces, quotes, dots, non-ASCII letters. name -> (create SQL, rows to insert)
TABLES = {
    "sp ace": ('CREATE TABLE "sp ace" (id INTEGER PRIMARY KEY, "v al" TEXT)', 3),
    'quo"te': ('CREATE TABLE "quo""te" (id INTEGER, "c""ol" REAL)', 1),
    "it's": ("CREATE TABLE \"it's\" (x BLOB)", 0),
    "dots.in.name": ('CREATE TABLE "dots.in.name" (d NUMERIC(10,2), e DATE)', 2),
    "naïve_表": ("CREATE TABLE \"naïve_表\" (t TEXT NOT NULL DEFAULT 'x', \"ü\" INT)", 5),
    "plain": ("CREATE TABLE plain (a INTEGER, b TEXT)", 10),
}
SCAN_FIELDS = {"id", "sourceId", "status", "progress", "result", "errorMsg", "startTime",
               "endTime", "createTime"}
DB_FIELDS = {"id", "sourceId", "sourceName", "name", "description", "owner", "location",
             "extra", "lastDdlTime", "dstProjectName", "dstName", "status", "updated", "size",
             "numRows", "tables", "tablesDoing", "tablesDone", "tablesPartDone", "tablesFailed",
             "partitions", "partitionsDoing", "partitionsDone", "partitionsFailed",
             "createTime", "updateTime", "deleted"}
TABLE_FIELDS = {"id", "dbId", "dbName", "sourceId", "sourceName", "name", "type",
                "hasPartitions", "schema", "owner", "location", "inputFormat", "outputFormat",
                "serde", "extra", "lastDdlTime", "size", "numRows", "updated", "status",
                "partitions", "partitionsDoing", "partitionsDone", "partitionsFailed",
                "dstProjectName", "dstSchemaName", "dstName", "createTime", "updateTime",
                "deleted"}


# ---- helpers ----------------------------------------------------------------------------------

def quote(name):
    return '"%s"' % name.replace('"', '""')


def make_source_file(path, tables=TABLES):
    con = sqlite3.connect(path)
    for name, (sql, rows) in tables.items():
        con.execute(sql)
        ncols = len(con.execute("SELECT * FROM %s" % quote(name)).description)
        for i in range(rows):
            con.execute("INSERT INTO %s VALUES (%s)" % (quote(name), ",".join("?" * ncols)),
                        [i] + [None] * (ncols - 1))
    con.commit()
    con.close()
    return path


class pinned_mtime:
    """Writes to a SQLite file, then puts its mtime back (see the module docstring)."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        st = os.stat(self.path)
        self.times = (st.st_atime_ns, st.st_mtime_ns)
        con = sqlite3.connect(self.path)
        self.con = con
        return con

    def __exit__(self, *exc):
        self.con.commit()
        self.con.close()
        assert not os.path.exists(self.path + "-wal")
        os.utime(self.path, ns=self.times)
        return False


def assert_error(resp, http, code, mention=None):
    status, body, _ = resp
    assert status == http, "expected %d %s, got %d %r" % (http, code, status, body)
    assert isinstance(body, dict) and set(body) == ERROR_KEYS, body
    assert body["code"] == code, body
    assert body["httpCode"] == http
    assert body["message"]
    if mention is not None:
        assert mention in body["message"], body
    return body


def new_source(mms, workdir, tables=TABLES, project="p"):
    path = make_source_file(os.path.join(workdir, "src-%s.db" % uuid.uuid4().hex[:8]), tables)
    sid = mms.create_sqlite_source(path, os.path.join(workdir, "dst"), project=project,
                                   name="cat-" + uuid.uuid4().hex[:12])
    return sid, path


def scan_ok(mms, sid, body=None):
    s = mms.scan(sid, body)
    assert s["status"] == "SCAN_DONE", s
    return s, json.loads(s["result"])


def tables_by_name(mms, sid, **q):
    return {t["name"]: t for t in mms.tables(sid, **q)}


def get(mms, sid, what, oid):
    return mms.call("GET", "%s/%d/%s/%s" % (DS, sid, what, oid))


def page(mms, sid, what, **q):
    return mms.ok("GET", "%s/%d/%s" % (DS, sid, what), query=q)


@pytest.fixture
def scanned(mms, workdir):
    """A source with TABLES, scanned once: (source id, source path, scan, result)."""
    sid, path = new_source(mms, workdir)
    s, result = scan_ok(mms, sid)
    return sid, path, s, result


# ---- scans ------------------------------------------------------------------------------------

def test_scan_object_and_counts(mms, scanned):
    sid, _, s, result = scanned
    assert set(s) == SCAN_FIELDS, s
    assert s["sourceId"] == sid
    assert isinstance(s["id"], int) and s["id"] > 0
    assert s["progress"] == 10000 and isinstance(s["progress"], (int, float))
    assert s["errorMsg"] is None
    for k in ("startTime", "endTime", "createTime"):
        assert TIME_RE.match(s[k]), s
    assert result == {"databases": 1, "tables": len(TABLES), "partitions": 0,
                      "new": len(TABLES) + 1, "updated": 0, "deleted": 0}
    # Polling again answers the same; the data source knows its latest scan.
    assert mms.ok("GET", "%s/%d/scans/%d" % (DS, sid, s["id"])) == s
    ds = mms.ok("GET", "%s/%d" % (DS, sid))
    assert ds["scanId"] == s["id"]
    assert TIME_RE.match(ds["lastUpdateTime"])


def test_scan_progress_is_doing_until_a_worker_finishes(mms, workdir):
    """While the source file is locked by its application the scan waits (busy timeout) and
    stays SCAN_DOING; a second scan of the same source is refused with its scanId."""
    sid, path = new_source(mms, workdir)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    try:
        first = mms.ok("POST", "%s/%d/scans" % (DS, sid))["scanId"]
        s = mms.ok("GET", "%s/%d/scans/%d" % (DS, sid, first))
        assert s["status"] == "SCAN_DOING" and s["progress"] < 10000, s
        assert s["result"] is None and s["errorMsg"] is None and s["endTime"] is None
        b = assert_error(mms.call("POST", "%s/%d/scans" % (DS, sid), body={}), 409,
                         "Conflict.ScanRunning")
        assert str(first) in b["message"], b
    finally:
        con.execute("ROLLBACK")
        con.close()

    def done():
        x = mms.ok("GET", "%s/%d/scans/%d" % (DS, sid, first))
        return x if x["status"] != "SCAN_DOING" else None
    s = mms.wait(done, 30, what="the blocked scan to end")
    assert s["status"] == "SCAN_DONE", s
    # Now a new scan is accepted.
    s2, r2 = scan_ok(mms, sid)
    assert s2["id"] > first and r2["new"] == 0 and r2["updated"] == 0


def test_scan_failure_reports_the_connector_message(mms, workdir):
    sid, path = new_source(mms, workdir)
    os.unlink(path)
    s = mms.scan(sid)
    assert s["status"] == "SCAN_FAILED", s
    assert path in s["errorMsg"], s
    assert s["result"] is None
    assert TIME_RE.match(s["endTime"])
    ds = mms.ok("GET", "%s/%d" % (DS, sid))
    assert ds["lastUpdateTime"] is None


def test_scan_limited_by_db_name(mms, workdir):
    sid, _ = new_source(mms, workdir)
    _, r = scan_ok(mms, sid, {"dbName": "main"})
    assert r["databases"] == 1 and r["tables"] == len(TABLES)
    s = mms.scan(sid, {"dbName": "nope"})
    assert s["status"] == "SCAN_FAILED" and "nope" in s["errorMsg"], s
    # An empty body, {} and empty scope values all mean a full scan.
    for body in ({}, {"dbName": "", "tableNames": []}):
        _, r = scan_ok(mms, sid, body)
        assert r["tables"] == len(TABLES) and r["new"] == 0


def test_scan_limited_by_table_names(mms, workdir):
    sid, path = new_source(mms, workdir)
    _, r = scan_ok(mms, sid, {"tableNames": ["plain", "sp ace", "ghost"]})
    assert r == {"databases": 1, "tables": 2, "partitions": 0, "new": 3, "updated": 0,
                 "deleted": 0}
    assert set(tables_by_name(mms, sid)) == {"plain", "sp ace"}
    # Tables outside the scope are left alone even when they vanished from the source.
    _, r = scan_ok(mms, sid)
    with pinned_mtime(path) as con:
        con.execute("DROP TABLE plain")
        con.execute('DROP TABLE "it\'s"')
    _, r = scan_ok(mms, sid, {"dbName": "main", "tableNames": ["sp ace"]})
    assert r["deleted"] == 0 and r["tables"] == 1
    t = tables_by_name(mms, sid)
    assert not t["plain"]["deleted"] and not t["it's"]["deleted"]
    _, r = scan_ok(mms, sid, {"tableNames": ["plain"]})
    assert r["deleted"] == 1 and r["tables"] == 0
    t = tables_by_name(mms, sid)
    assert t["plain"]["deleted"] and not t["it's"]["deleted"]


def test_scan_bad_inputs(mms, workdir):
    sid, _ = new_source(mms, workdir)
    url = "%s/%d/scans" % (DS, sid)
    assert_error(mms.call("POST", url, body={"dbname": "main"}), 400,
                 "InvalidParameter.UnknownField", "dbname")
    assert_error(mms.call("POST", url, body={"dbName": 5}), 400, "InvalidParameter.DbName")
    assert_error(mms.call("POST", url, body={"dbName": "x" * 257}), 400,
                 "InvalidParameter.DbName")
    assert_error(mms.call("POST", url, body={"tableNames": "plain"}), 400,
                 "InvalidParameter.TableNames")
    assert_error(mms.call("POST", url, body={"tableNames": [1]}), 400,
                 "InvalidParameter.TableNames")
    assert_error(mms.call("POST", url, body={"tableNames": ["t%d" % i for i in range(1001)]}),
                 400, "InvalidParameter.TableNames")
    assert_error(mms.call("POST", url, raw_body="[1]"), 400, "InvalidParameter.Body")
    assert_error(mms.call("POST", "%s/%d/scans" % (DS, 9999999)), 404, "NotFound.DataSource")
    for bad in ("abc", "0", "-1", "01", "99999999999999999999", "1%20"):
        assert_error(mms.call("GET", "%s/%d/scans/%s" % (DS, sid, bad)), 400,
                     "InvalidParameter.ScanId")
    assert_error(mms.call("GET", "%s/%d/scans/%d" % (DS, sid, 777777777)), 404,
                 "NotFound.Scan")


# ---- dbs --------------------------------------------------------------------------------------

def test_db_list_and_get(mms, scanned):
    sid, _, _, _ = scanned
    data = page(mms, sid, "dbs")
    assert data["total"] == 1 and data["pageNum"] == 1 and data["pageSize"] == 20
    d = data["objectList"][0]
    assert set(d) == DB_FIELDS, set(d) ^ DB_FIELDS
    assert d["name"] == "main" and d["sourceId"] == sid
    assert d["status"] == "INIT" and d["updated"] is False and d["deleted"] is False
    assert d["tables"] == len(TABLES) and d["tablesDone"] == 0 and d["partitions"] == 0
    assert d["numRows"] == sum(rows for _, rows in TABLES.values())
    assert d["size"] > 0
    assert d["dstProjectName"] == "p" and d["dstName"] == "main"
    assert TIME_RE.match(d["createTime"]) and TIME_RE.match(d["lastDdlTime"])
    assert mms.ok("GET", "%s/%d/dbs/%d" % (DS, sid, d["id"])) == d

    assert page(mms, sid, "dbs", name="main")["total"] == 1
    assert page(mms, sid, "dbs", name="Main")["total"] == 0
    assert page(mms, sid, "dbs", status="INIT")["total"] == 1
    assert page(mms, sid, "dbs", status='["INIT","DONE"]')["total"] == 1
    assert page(mms, sid, "dbs", status='["PART_DONE"]')["total"] == 0
    for s in ('{"numRows":"desc"}', '{"size":"asc","updateTime":"desc"}', "{}"):
        assert page(mms, sid, "dbs", sorter=s)["total"] == 1
    assert page(mms, sid, "dbs", **{"sorter.numRows": "desc"})["total"] == 1


def test_db_bad_inputs(mms, scanned):
    sid, _, _, _ = scanned
    url = "%s/%d/dbs" % (DS, sid)
    for s in ('{"name":"asc"}', '{"numRows":"up"}', "numRows", '["numRows"]', '{"size":1}'):
        assert_error(mms.call("GET", url, query={"sorter": s}), 400, "InvalidParameter.Sorter")
    assert_error(mms.call("GET", url, query={"sorter": "{}", "sorter.size": "asc"}), 400,
                 "InvalidParameter.Sorter")
    assert_error(mms.call("GET", url, query={"sorter.lastDdlTime": "asc"}), 400,
                 "InvalidParameter.Sorter")
    for s in ("STARTED", '["INIT","NOPE"]', "[1]", '{"a":1}'):
        assert_error(mms.call("GET", url, query={"status": s}), 400, "InvalidParameter.Status")
    assert_error(mms.call("GET", url, query={"pageSize": "0"}), 400, "InvalidParameter.PageSize")
    assert_error(mms.call("GET", url, query={"pageSize": "1001"}), 400,
                 "InvalidParameter.PageSize")
    assert_error(mms.call("GET", url, query={"pageNum": "0"}), 400, "InvalidParameter.PageNum")
    assert_error(mms.call("GET", url, query={"pageNum": "x"}), 400, "InvalidParameter.PageNum")
    for bad in ("abc", "0", "-3", "007", "99999999999999999999"):
        assert_error(get(mms, sid, "dbs", bad), 400, "InvalidParameter.DbId")
        assert_error(mms.call("PUT", "%s/%d/dbs/%s" % (DS, sid, bad), body={}), 400,
                     "InvalidParameter.DbId")
    assert_error(get(mms, sid, "dbs", 987654321), 404, "NotFound.Db")
    assert_error(mms.call("GET", "%s/%d/dbs" % (DS, 9999999)), 404, "NotFound.DataSource")


def test_update_db(mms, scanned):
    sid, _, _, _ = scanned
    d = page(mms, sid, "dbs")["objectList"][0]
    url = "%s/%d/dbs/%d" % (DS, sid, d["id"])
    assert mms.ok("PUT", url, body={"dstProjectName": "proj2", "dstName": "sch2"}) == 0
    d2 = mms.ok("GET", url)
    assert d2["dstProjectName"] == "proj2" and d2["dstName"] == "sch2"
    # The db's mapping is every table's default.
    for t in mms.tables(sid):
        assert t["dstProjectName"] == "proj2" and t["dstSchemaName"] == "sch2", t
        assert t["dstName"] == t["name"]
    assert page(mms, sid, "tables", dstProjectName="proj2")["total"] == len(TABLES)
    assert page(mms, sid, "tables", dstSchemaName="sch2")["total"] == len(TABLES)
    # "" resets to the default mapping.
    assert mms.ok("PUT", url, body={"dstProjectName": "", "dstName": ""}) == 0
    d3 = mms.ok("GET", url)
    assert d3["dstProjectName"] == "p" and d3["dstName"] == "main"
    # DONE applies to every table; INIT resets them all.
    assert mms.ok("PUT", url, body={"status": "DONE"}) == 0
    d4 = mms.ok("GET", url)
    assert d4["status"] == "DONE" and d4["tablesDone"] == len(TABLES)
    assert all(t["status"] == "DONE" for t in mms.tables(sid))
    assert mms.ok("PUT", url, body={"status": "INIT"}) == 0
    assert mms.ok("GET", url)["status"] == "INIT"
    assert all(t["status"] == "INIT" for t in mms.tables(sid))
    # Bad bodies.
    assert_error(mms.call("PUT", url, body={"status": "DOING"}), 400, "InvalidParameter.Status")
    assert_error(mms.call("PUT", url, body={"status": "PART_DONE"}), 400,
                 "InvalidParameter.Status")
    assert_error(mms.call("PUT", url, body={"dstSchemaName": "x"}), 400,
                 "InvalidParameter.UnknownField", "dstSchemaName")
    assert_error(mms.call("PUT", url, body={"dstName": "x" * 257}), 400,
                 "InvalidParameter.DstName")
    assert_error(mms.call("PUT", url, body={"dstProjectName": 3}), 400,
                 "InvalidParameter.DstProjectName")
    assert_error(mms.call("PUT", "%s/%d/dbs/%d" % (DS, sid, 987654321), body={}), 404,
                 "NotFound.Db")


# ---- tables -----------------------------------------------------------------------------------

def test_tables_names_schema_and_fields(mms, scanned):
    sid, _, _, _ = scanned
    t = tables_by_name(mms, sid)
    assert set(t) == set(TABLES)
    db = page(mms, sid, "dbs")["objectList"][0]
    for name, (_, rows) in TABLES.items():
        x = t[name]
        assert set(x) == TABLE_FIELDS, set(x) ^ TABLE_FIELDS
        assert x["numRows"] == rows, x
        assert x["dbId"] == db["id"] and x["dbName"] == "main"
        assert x["type"] == "TABLE" and x["hasPartitions"] is False
        assert x["status"] == "INIT" and x["updated"] is False and x["deleted"] is False
        assert x["dstProjectName"] == "p" and x["dstSchemaName"] == "main"
        assert x["dstName"] == name
        assert x["partitions"] == 0
        assert isinstance(x["schema"], dict), x
        assert x["schema"]["name"] == name
        assert x["schema"]["partitions"] == []
        assert mms.ok("GET", "%s/%d/tables/%d" % (DS, sid, x["id"])) == x
    cols = {c["name"]: c for c in t['quo"te']["schema"]["columns"]}
    assert set(cols) == {"id", 'c"ol'}
    assert cols["id"]["type"] == "int64" and cols['c"ol']["type"] == "float64"
    cols = {c["name"]: c for c in t["naïve_表"]["schema"]["columns"]}
    assert set(cols) == {"t", "ü"}
    assert cols["t"]["nullable"] is False and cols["t"]["defaultValue"] == "'x'"
    cols = [c["name"] for c in t["sp ace"]["schema"]["columns"]]
    assert cols == ["id", "v al"]
    types = {c["name"]: c["type"] for c in t["dots.in.name"]["schema"]["columns"]}
    assert types["d"].startswith("decimal") and types["e"] == "date", types


def test_table_filters(mms, scanned):
    sid, _, _, _ = scanned
    db = page(mms, sid, "dbs")["objectList"][0]
    n = len(TABLES)
    for name in TABLES:
        r = page(mms, sid, "tables", name=name)
        assert r["total"] == 1 and r["objectList"][0]["name"] == name
        r = page(mms, sid, "tables", dstName=name)
        assert r["total"] == 1 and r["objectList"][0]["name"] == name
    assert page(mms, sid, "tables", name="PLAIN")["total"] == 0
    assert page(mms, sid, "tables", name="")["total"] == n  # empty = no filter
    assert page(mms, sid, "tables", dbId=db["id"])["total"] == n
    assert page(mms, sid, "tables", dbId=db["id"] + 100000)["total"] == 0
    assert page(mms, sid, "tables", dbName="main")["total"] == n
    assert page(mms, sid, "tables", dbName="other")["total"] == 0
    assert page(mms, sid, "tables", type="TABLE")["total"] == n
    assert page(mms, sid, "tables", type="VIEW")["total"] == 0
    assert page(mms, sid, "tables", hasPartitions="false")["total"] == n
    assert page(mms, sid, "tables", hasPartitions="true")["total"] == 0
    assert page(mms, sid, "tables", status='["INIT"]')["total"] == n
    assert page(mms, sid, "tables", status='["DONE","FAILED"]')["total"] == 0
    assert page(mms, sid, "tables", status="[]")["total"] == n
    assert page(mms, sid, "tables", dstProjectName="p")["total"] == n
    assert page(mms, sid, "tables", dstProjectName="q")["total"] == 0
    assert page(mms, sid, "tables", dstSchemaName="main")["total"] == n
    lt = page(mms, sid, "tables", name="plain")["objectList"][0]["lastDdlTime"]
    assert page(mms, sid, "tables", lastDdlTimeStart=lt, lastDdlTimeEnd=lt)["total"] == n
    assert page(mms, sid, "tables", lastDdlTimeStart="2999-01-01")["total"] == 0
    assert page(mms, sid, "tables", lastDdlTimeEnd="2000-01-01 00:00:00")["total"] == 0
    r = page(mms, sid, "tables", onlyName="true", pageSize=100)
    assert r["total"] == n
    assert all(set(o) == {"id", "name"} for o in r["objectList"]), r
    assert {o["name"] for o in r["objectList"]} == set(TABLES)
    # Several filters at once.
    r = page(mms, sid, "tables", dbName="main", name="plain", status='["INIT"]',
             hasPartitions="false", dstName="plain")
    assert r["total"] == 1


def test_table_sorting_and_paging(mms, scanned):
    sid, _, _, _ = scanned
    n = len(TABLES)
    rows = [t["numRows"] for t in page(mms, sid, "tables", **{"sorter.numRows": "desc"},
                                        pageSize=100)["objectList"]]
    assert rows == sorted(rows, reverse=True) and len(rows) == n
    rows = [t["numRows"] for t in page(mms, sid, "tables", **{"sorter.numRows": "asc"},
                                        pageSize=100)["objectList"]]
    assert rows == sorted(rows)
    sizes = [t["size"] for t in page(mms, sid, "tables", **{"sorter.size": "DESC"},
                                      pageSize=100)["objectList"]]
    assert sizes == sorted(sizes, reverse=True)
    assert page(mms, sid, "tables", **{"sorter.lastDdlTime": "asc"})["total"] == n
    # The JSON form (the one ListMmsDbs uses) is accepted too.
    rows = [t["numRows"] for t in page(mms, sid, "tables", sorter='{"numRows":"desc"}',
                                        pageSize=100)["objectList"]]
    assert rows == sorted(rows, reverse=True) and len(rows) == n
    # Keys apply in the order given.
    objs = page(mms, sid, "tables", pageSize=100,
                **{"sorter.lastDdlTime": "asc", "sorter.numRows": "asc"})["objectList"]
    keys = [(t["lastDdlTime"], t["numRows"]) for t in objs]
    assert keys == sorted(keys)
    # Default order is by id; pages are disjoint and cover everything.
    seen = []
    for num in (1, 2, 3):
        p = page(mms, sid, "tables", pageNum=num, pageSize=2)
        assert p["total"] == n and p["pageNum"] == num and p["pageSize"] == 2
        assert len(p["objectList"]) == 2
        seen += [t["id"] for t in p["objectList"]]
    assert seen == sorted(seen) and len(set(seen)) == n
    p = page(mms, sid, "tables", pageNum=4, pageSize=2)
    assert p["total"] == n and p["objectList"] == []
    p = page(mms, sid, "tables", pageSize=1000)
    assert len(p["objectList"]) == n


def test_table_bad_inputs(mms, scanned):
    sid, _, _, _ = scanned
    url = "%s/%d/tables" % (DS, sid)

    def bad(query, code):
        assert_error(mms.call("GET", url, query=query), 400, code)
    bad({"sorter.name": "asc"}, "InvalidParameter.Sorter")
    bad({"sorter.numRows": "up"}, "InvalidParameter.Sorter")
    bad({"sorter": '{"numRows":"asc"}', "sorter.x": "asc"}, "InvalidParameter.Sorter")
    bad({"status": '["DONE","NOPE"]'}, "InvalidParameter.Status")
    bad({"status": '"DONE'}, "InvalidParameter.Status")
    bad({"status": json.dumps(["INIT"] * 17)}, "InvalidParameter.Status")
    bad({"dbId": "abc"}, "InvalidParameter.DbId")
    bad({"dbId": "0"}, "InvalidParameter.DbId")
    bad({"hasPartitions": "maybe"}, "InvalidParameter.HasPartitions")
    bad({"onlyName": "yes"}, "InvalidParameter.OnlyName")
    bad({"lastDdlTimeStart": "yesterday"}, "InvalidParameter.LastDdlTimeStart")
    bad({"lastDdlTimeEnd": "2024-13-01"}, "InvalidParameter.LastDdlTimeEnd")
    bad({"name": "x" * 1025}, "InvalidParameter.Name")
    bad({"pageSize": "0"}, "InvalidParameter.PageSize")
    bad({"pageSize": "1001"}, "InvalidParameter.PageSize")
    bad({"pageSize": "-1"}, "InvalidParameter.PageSize")
    for b in ("abc", "0", "-1", "01", "99999999999999999999"):
        assert_error(get(mms, sid, "tables", b), 400, "InvalidParameter.TableId")
        assert_error(mms.call("PUT", "%s/%d/tables/%s" % (DS, sid, b), body={}), 400,
                     "InvalidParameter.TableId")
    assert_error(get(mms, sid, "tables", 987654321), 404, "NotFound.Table")


def test_update_table(mms, scanned):
    sid, _, _, _ = scanned
    t = tables_by_name(mms, sid)["sp ace"]
    url = "%s/%d/tables/%d" % (DS, sid, t["id"])
    body = {"dstProjectName": "proj x", "dstSchemaName": "sch.y", "dstName": "tbl \"z\""}
    assert mms.ok("PUT", url, body=body) == t["id"]
    x = mms.ok("GET", url)
    assert (x["dstProjectName"], x["dstSchemaName"], x["dstName"]) == \
        ("proj x", "sch.y", 'tbl "z"')
    r = page(mms, sid, "tables", dstName='tbl "z"')
    assert r["total"] == 1 and r["objectList"][0]["id"] == t["id"]
    assert page(mms, sid, "tables", dstName="sp ace")["total"] == 0
    assert page(mms, sid, "tables", dstProjectName="proj x", dstSchemaName="sch.y")["total"] == 1
    # A db-level mapping does not override the table's own.
    db = page(mms, sid, "dbs")["objectList"][0]
    mms.ok("PUT", "%s/%d/dbs/%d" % (DS, sid, db["id"]), body={"dstProjectName": "dbp"})
    assert mms.ok("GET", url)["dstProjectName"] == "proj x"
    assert tables_by_name(mms, sid)["plain"]["dstProjectName"] == "dbp"
    # Partial update and reset.
    assert mms.ok("PUT", url, body={"dstName": ""}) == t["id"]
    x = mms.ok("GET", url)
    assert x["dstName"] == "sp ace" and x["dstSchemaName"] == "sch.y"
    assert mms.ok("PUT", url, body={"dstProjectName": "", "dstSchemaName": ""}) == t["id"]
    x = mms.ok("GET", url)
    assert x["dstProjectName"] == "dbp" and x["dstSchemaName"] == "main"
    # Status: DONE rolls up to the db (PART_DONE while the others are INIT).
    assert mms.ok("PUT", url, body={"status": "DONE"}) == t["id"]
    assert mms.ok("GET", url)["status"] == "DONE"
    d = mms.ok("GET", "%s/%d/dbs/%d" % (DS, sid, db["id"]))
    assert d["status"] == "PART_DONE" and d["tablesDone"] == 1
    assert page(mms, sid, "dbs", status='["PART_DONE"]')["total"] == 1
    assert page(mms, sid, "tables", status='["DONE"]')["total"] == 1
    assert mms.ok("PUT", url, body={"status": "INIT"}) == t["id"]
    assert mms.ok("GET", "%s/%d/dbs/%d" % (DS, sid, db["id"]))["status"] == "INIT"
    # Bad bodies.
    assert_error(mms.call("PUT", url, body={"status": "FAILED"}), 400, "InvalidParameter.Status")
    assert_error(mms.call("PUT", url, body={"name": "x"}), 400, "InvalidParameter.UnknownField")
    assert_error(mms.call("PUT", url, body={"dstName": ["x"]}), 400, "InvalidParameter.DstName")
    assert_error(mms.call("PUT", url, body={"dstSchemaName": "x" * 257}), 400,
                 "InvalidParameter.DstSchemaName")
    assert_error(mms.call("PUT", url, raw_body="{"), 400, "InvalidParameter.Body")


def test_update_tables(mms, scanned):
    sid, _, _, _ = scanned
    url = "%s/%d/tables" % (DS, sid)
    n = mms.ok("PUT", url, body={"dbName": "main", "tableNames": ["plain", "it's", "ghost"],
                                 "dstProjectName": "bp", "dstSchemaName": "bs",
                                 "status": "DONE"})
    assert n == 2
    t = tables_by_name(mms, sid)
    for name in ("plain", "it's"):
        assert t[name]["dstProjectName"] == "bp" and t[name]["dstSchemaName"] == "bs"
        assert t[name]["status"] == "DONE"
    assert t["sp ace"]["dstProjectName"] == "p" and t["sp ace"]["status"] == "INIT"
    assert mms.ok("PUT", url, body={"dbName": "other", "tableNames": ["plain"],
                                    "status": "INIT"}) == 0
    # By ids (deprecated form); unknown ids are skipped.
    ids = [t["plain"]["id"], t["sp ace"]["id"], 987654321]
    assert mms.ok("PUT", url, body={"tables": ids, "status": "INIT"}) == 2
    t = tables_by_name(mms, sid)
    assert t["plain"]["status"] == "INIT" and t["it's"]["status"] == "DONE"
    # Everything DONE -> db DONE.
    assert mms.ok("PUT", url, body={"tableNames": list(TABLES), "status": "DONE"}) == len(TABLES)
    assert page(mms, sid, "dbs")["objectList"][0]["status"] == "DONE"
    # Bad bodies.
    assert_error(mms.call("PUT", url, body={"status": "DONE"}), 400,
                 "InvalidParameter.TableNames")
    assert_error(mms.call("PUT", url, body={"dbName": "main", "status": "DONE"}), 400,
                 "InvalidParameter.TableNames")
    assert_error(mms.call("PUT", url, body={"tableNames": ["plain"], "tables": [1]}), 400,
                 "InvalidParameter.Tables")
    assert_error(mms.call("PUT", url, body={"tables": [0]}), 400, "InvalidParameter.Tables")
    assert_error(mms.call("PUT", url, body={"tables": ["1"]}), 400, "InvalidParameter.Tables")
    assert_error(mms.call("PUT", url, body={"tableNames": ["plain"], "status": "x"}), 400,
                 "InvalidParameter.Status")
    assert_error(mms.call("PUT", url, body={"tableNames": ["plain"], "dstName": "x"}), 400,
                 "InvalidParameter.UnknownField")
    assert_error(mms.call("PUT", "%s/%d/tables" % (DS, 9999999),
                          body={"tableNames": ["plain"]}), 404, "NotFound.DataSource")


# ---- partitions -------------------------------------------------------------------------------

def test_partitions_of_a_sqlite_source(mms, scanned):
    sid, _, _, _ = scanned
    t = tables_by_name(mms, sid)["plain"]
    r = page(mms, sid, "partitions")
    assert r == {"total": 0, "pageNum": 1, "pageSize": 20, "objectList": []}
    q = {"dbId": t["dbId"], "dbName": "main", "tableId": t["id"], "tableName": "plain",
         "value": "p=1", "updated": "true", "status": '["INIT","DONE"]',
         "lastDdlTimeStart": "2020-01-01", "lastDdlTimeEnd": "2999-01-01 00:00:00",
         "sorter.numRows": "desc", "sorter.size": "asc", "sorter.lastDdlTime": "desc",
         "pageNum": 2, "pageSize": 5}
    r = page(mms, sid, "partitions", **q)
    assert r["total"] == 0 and r["pageNum"] == 2 and r["pageSize"] == 5
    url = "%s/%d/partitions" % (DS, sid)
    assert_error(mms.call("GET", url, query={"status": '["PART_DONE"]'}), 400,
                 "InvalidParameter.Status")
    assert_error(mms.call("GET", url, query={"updated": "2"}), 400, "InvalidParameter.Updated")
    assert_error(mms.call("GET", url, query={"tableId": "x"}), 400, "InvalidParameter.TableId")
    assert_error(mms.call("GET", url, query={"sorter.value": "asc"}), 400,
                 "InvalidParameter.Sorter")
    assert_error(mms.call("GET", url, query={"pageSize": "0"}), 400, "InvalidParameter.PageSize")
    for b in ("abc", "0", "-1", "01", "99999999999999999999"):
        assert_error(get(mms, sid, "partitions", b), 400, "InvalidParameter.PartitionId")
    assert_error(get(mms, sid, "partitions", 5), 404, "NotFound.Partition")
    assert_error(mms.call("GET", "%s/%d/partitions" % (DS, 9999999)), 404,
                 "NotFound.DataSource")


# ---- rescans ----------------------------------------------------------------------------------

def test_rescan_updates_in_place(mms, scanned):
    sid, path, _, _ = scanned
    before = tables_by_name(mms, sid)
    db_before = page(mms, sid, "dbs")["objectList"][0]

    # Nothing changed: nothing is flagged.
    _, r = scan_ok(mms, sid)
    assert r == {"databases": 1, "tables": len(TABLES), "partitions": 0, "new": 0,
                 "updated": 0, "deleted": 0}

    # Rows added to one table.
    with pinned_mtime(path) as con:
        con.executemany("INSERT INTO plain VALUES (?, ?)", [(i, "x" * 500) for i in range(200)])
    _, r = scan_ok(mms, sid)
    assert r["new"] == 0 and r["deleted"] == 0
    assert r["updated"] == 2, r  # the table, and its db (its sums changed)
    after = tables_by_name(mms, sid)
    assert {n: t["id"] for n, t in after.items()} == {n: t["id"] for n, t in before.items()}
    assert after["plain"]["updated"] is True
    assert after["plain"]["numRows"] == 210
    assert after["plain"]["size"] > before["plain"]["size"]
    assert TIME_RE.match(after["plain"]["updateTime"])
    for name in TABLES:
        if name != "plain":
            assert after[name]["updated"] is False, after[name]
            assert after[name]["numRows"] == before[name]["numRows"]
    d = page(mms, sid, "dbs")["objectList"][0]
    assert d["id"] == db_before["id"] and d["updated"] is True
    assert d["numRows"] == db_before["numRows"] + 200
    r = page(mms, sid, "tables", **{"sorter.numRows": "desc"})
    assert r["objectList"][0]["name"] == "plain"

    # A schema change is a change too.
    with pinned_mtime(path) as con:
        con.execute('ALTER TABLE "it\'s" ADD COLUMN extra TEXT')
    _, r = scan_ok(mms, sid)
    assert r["updated"] == 2, r  # the table, and its db (something in it changed)
    t = tables_by_name(mms, sid)["it's"]
    assert t["updated"] is True
    assert [c["name"] for c in t["schema"]["columns"]] == ["x", "extra"]

    # A dropped table is marked deleted, keeps its id and stays listed.
    with pinned_mtime(path) as con:
        con.execute('DROP TABLE "dots.in.name"')
    _, r = scan_ok(mms, sid)
    assert r["deleted"] == 1 and r["tables"] == len(TABLES) - 1, r
    assert r["updated"] == 1, r  # the db
    t = tables_by_name(mms, sid)
    assert t["dots.in.name"]["deleted"] is True
    assert t["dots.in.name"]["id"] == before["dots.in.name"]["id"]
    assert all(not x["deleted"] for n, x in t.items() if n != "dots.in.name")
    d = page(mms, sid, "dbs")["objectList"][0]
    assert d["tables"] == len(TABLES) - 1
    assert d["numRows"] == db_before["numRows"] + 200 - TABLES["dots.in.name"][1]
    _, r = scan_ok(mms, sid)
    assert r["deleted"] == 0 and r["updated"] == 0  # not counted twice

    # It comes back: same id, no longer deleted, flagged updated.
    with pinned_mtime(path) as con:
        con.execute(TABLES["dots.in.name"][0])
    _, r = scan_ok(mms, sid)
    assert r["new"] == 0 and r["updated"] == 2, r  # the table and its db
    t = tables_by_name(mms, sid)["dots.in.name"]
    assert t["deleted"] is False and t["updated"] is True
    assert t["id"] == before["dots.in.name"]["id"]
    assert page(mms, sid, "dbs")["objectList"][0]["tables"] == len(TABLES)

    # A new table is new.
    with pinned_mtime(path) as con:
        con.execute('CREATE TABLE "brand new" (q INT)')
    _, r = scan_ok(mms, sid)
    assert r["new"] == 1 and r["updated"] == 1 and r["tables"] == len(TABLES) + 1, r
    assert tables_by_name(mms, sid)["brand new"]["updated"] is False


def test_rescan_keeps_status_and_mapping(mms, scanned):
    sid, path, _, _ = scanned
    t = tables_by_name(mms, sid)["plain"]
    url = "%s/%d/tables/%d" % (DS, sid, t["id"])
    mms.ok("PUT", url, body={"status": "DONE", "dstName": "renamed"})
    with pinned_mtime(path) as con:
        con.execute("INSERT INTO plain VALUES (1, 'y')")
    scan_ok(mms, sid)
    x = mms.ok("GET", url)
    assert x["status"] == "DONE" and x["dstName"] == "renamed" and x["updated"] is True


def test_touching_the_file_flags_every_table(mms, scanned):
    """SQLite has no per-table times: a new file mtime is a possible change of every table."""
    sid, path, _, _ = scanned
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
    _, r = scan_ok(mms, sid)
    assert r["updated"] == len(TABLES) + 1, r
    assert all(t["updated"] for t in mms.tables(sid))


# ---- isolation --------------------------------------------------------------------------------

def test_objects_of_another_source_are_not_found(mms, scanned, workdir):
    sid, _, s, _ = scanned
    other, _ = new_source(mms, workdir, tables={"lonely": ("CREATE TABLE lonely (a INT)", 1)})
    scan_ok(mms, other)
    t = tables_by_name(mms, sid)["plain"]
    d = page(mms, sid, "dbs")["objectList"][0]
    assert_error(get(mms, other, "tables", t["id"]), 404, "NotFound.Table")
    assert_error(get(mms, other, "dbs", d["id"]), 404, "NotFound.Db")
    assert_error(get(mms, other, "scans", s["id"]), 404, "NotFound.Scan")
    assert_error(mms.call("PUT", "%s/%d/tables/%d" % (DS, other, t["id"]),
                          body={"dstName": "x"}), 404, "NotFound.Table")
    assert_error(mms.call("PUT", "%s/%d/dbs/%d" % (DS, other, d["id"]),
                          body={"dstName": "x"}), 404, "NotFound.Db")
    assert mms.ok("PUT", "%s/%d/tables" % (DS, other), body={"tables": [t["id"]],
                                                              "status": "DONE"}) == 0
    assert mms.ok("GET", "%s/%d/tables/%d" % (DS, sid, t["id"]))["dstName"] == "plain"
    assert mms.ok("GET", "%s/%d/tables/%d" % (DS, sid, t["id"]))["status"] == "INIT"
    assert set(tables_by_name(mms, other)) == {"lonely"}
    assert page(mms, other, "tables", dbId=d["id"])["total"] == 0
    assert page(mms, other, "dbs")["total"] == 1


# ---- durability -------------------------------------------------------------------------------

def test_scan_survives_kill9(fresh_mms, workdir):
    """A scan is a row in the store: killed mid-way (blocked on a locked source), it is claimed
    again after the restart and finishes, with the catalog written once."""
    mms = fresh_mms
    sid, path = new_source(mms, workdir)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    try:
        scan_id = mms.ok("POST", "%s/%d/scans" % (DS, sid))["scanId"]
        time.sleep(0.3)  # let a worker claim it and block on the lock
        assert mms.ok("GET", "%s/%d/scans/%d" % (DS, sid, scan_id))["status"] == "SCAN_DOING"
        mms.kill9()
    finally:
        con.execute("ROLLBACK")
        con.close()
    mms.start()

    def done():
        x = mms.ok("GET", "%s/%d/scans/%d" % (DS, sid, scan_id))
        return x if x["status"] != "SCAN_DOING" else None
    s = mms.wait(done, 30, what="the scan to finish after the restart")
    assert s["status"] == "SCAN_DONE", s
    assert json.loads(s["result"])["tables"] == len(TABLES)
    assert page(mms, sid, "tables")["total"] == len(TABLES)
    assert page(mms, sid, "dbs")["total"] == 1
