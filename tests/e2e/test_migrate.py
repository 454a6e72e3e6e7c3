"""A whole SQLite database (every type, nasty names, a 1M-row table) migrated to another SQLite
database through the HTTP API only, then proven equal by an independent read of both files."""
import hashlib
import json
import os
import re

import fixtures
from mmsd import API, data_stage_starts, format_logs

JOB_TIMEOUT = 300


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def log_text(entries):
    return "\n".join("%s | %s | %s" % (e.get("status"), e.get("action"), e.get("msg"))
                     for e in entries)


def check_task_logs(mms, sid, task, expected_rows, data_sql=False):
    logs = mms.task_logs(sid, task["id"])
    assert isinstance(logs, list) and logs, "task %d has no logs" % task["id"]
    for e in logs:
        assert set(e) >= {"id", "sourceId", "taskId", "status", "action", "msg", "createTime"}, e
        assert e["taskId"] == task["id"] and e["sourceId"] == sid
    text = log_text(logs)
    where = "logs of task %d (%s):\n%s" % (task["id"], task["srcTableName"], text)
    schema = [e for e in logs if e["status"].startswith("SCHEMA")]
    data = [e for e in logs if e["status"].startswith("DATA")]
    verif = [e for e in logs if e["status"].startswith("VERIFICATION")]
    assert schema and data and verif, "missing SCHEMA/DATA/VERIFICATION entries in " + where
    # The SQL that was run is part of the action.
    assert any(re.search(r"create\s+table", e["action"] or "", re.I) for e in schema), \
        "no CREATE TABLE in the SCHEMA entries of " + where
    if data_sql:
        assert any(re.search(r"\binsert\b", e["action"] or "", re.I) for e in data) and any(
            re.search(r"\bselect\b", e["action"] or "", re.I) for e in data), \
            "the DATA entries do not show the SQL that was run (SELECT/INSERT) in " + where
    # Verification: both counts and both checksums are logged.
    vtext = log_text(verif)
    assert len(re.findall(r"(?<![\d.])%d(?![\d.])" % expected_rows, vtext)) >= 2, \
        "verification does not show both row counts (%d) in %s" % (expected_rows, where)
    assert re.search(r"checksum", vtext, re.I), "verification shows no checksum in " + where
    sums = re.findall(r"\b[0-9a-fA-F]{16,}\b", vtext)
    assert any(sums.count(s) >= 2 for s in sums), \
        "verification does not show the same checksum for both sides in " + where
    return logs


def test_migrate_whole_database(fresh_mms, e2e_source, workdir):
    mms = fresh_mms
    src, counts = e2e_source
    src_sha = file_sha256(src)
    dst_dir = os.path.join(workdir, "dst")
    os.mkdir(dst_dir)

    sid = mms.create_sqlite_source(src, dst_dir, project="proj")
    scan = mms.scan(sid)
    assert scan["status"] == "SCAN_DONE", scan
    assert scan["errorMsg"] is None
    result = json.loads(scan["result"])
    assert result.get("tables") == len(counts), result

    tables = {t["name"]: t for t in mms.tables(sid)}
    assert set(tables) == set(counts), tables.keys()
    for name, n in counts.items():
        assert tables[name]["numRows"] == n, tables[name]
        assert tables[name]["dbName"] == "main"

    job_id, at = mms.create_job(sid, {"name": "e2e all", "srcDbName": "main",
                                      "enableVerification": True,
                                      "others": {"verify": "checksum"}})
    assert at["type"] == "TASK_CREATE" and at["status"] == "DONE" and at["running"] is False
    assert at["errorMsg"] is None
    job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
    assert job["status"] == "DONE", job
    assert job["type"] == "Database" and job["stopped"] is False
    assert job["taskNum"] == len(counts) and job["taskDone"] == len(counts), job

    # The independent read of both files comes first: it matters most.
    fixtures.assert_same(src, os.path.join(dst_dir, "proj.db"))
    assert file_sha256(src) == src_sha, "the source file was modified"

    tasks = mms.tasks(sid, job_id)
    assert sorted(t["srcTableName"] for t in tasks) == sorted(counts)
    for t in tasks:
        assert t["status"] == "DONE" and t["running"] is False, t
        assert t["dstDbName"] == "proj" and t["dstTableName"] == t["srcTableName"], t
        logs = check_task_logs(mms, sid, t, counts[t["srcTableName"]])
        assert len(data_stage_starts(logs)) == 1, \
            "an uninterrupted run started DATA more than once:\n" + format_logs(logs)

    for t in mms.tables(sid):
        assert t["status"] == "DONE", t
    dbs = mms.dbs(sid)
    assert [d["name"] for d in dbs] == ["main"]
    assert dbs[0]["status"] == "DONE", dbs[0]
    assert dbs[0]["tablesDone"] == len(counts), dbs[0]


def test_remigration_replaces_the_table(fresh_mms, small_source, workdir):
    """A second job over tables already DONE (status reset to INIT) replaces the destination
    tables atomically instead of appending: no duplicates."""
    mms = fresh_mms
    src, counts = small_source
    dst_dir = os.path.join(workdir, "dst")
    os.mkdir(dst_dir)
    sid = mms.create_sqlite_source(src, dst_dir, project="p2")
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job1, _ = mms.create_job(sid, {"name": "first", "srcDbName": "main"})
    assert mms.wait_job(sid, job1, timeout=JOB_TIMEOUT)["status"] == "DONE"
    fixtures.assert_same(src, os.path.join(dst_dir, "p2.db"))

    for t in mms.tables(sid):
        mms.ok("PUT", "%s/datasources/%d/tables/%d" % (API, sid, t["id"]), body={"status": "INIT"})
    job2, _ = mms.create_job(sid, {"name": "second", "srcDbName": "main",
                                   "others": {"verify": "checksum"}})
    assert job2 != job1
    job = mms.wait_job(sid, job2, timeout=JOB_TIMEOUT)
    assert job["status"] == "DONE", job
    assert job["taskNum"] == len(counts), job
    fixtures.assert_same(src, os.path.join(dst_dir, "p2.db"))


def test_task_logs_show_the_sql_of_every_stage(fresh_mms, small_source, workdir):
    """The action of each step carries the SQL it ran: CREATE TABLE for SCHEMA, the SELECT and
    INSERT of DATA, the COUNT(*) of VERIFICATION."""
    mms = fresh_mms
    src, counts = small_source
    dst_dir = os.path.join(workdir, "dst")
    os.mkdir(dst_dir)
    sid = mms.create_sqlite_source(src, dst_dir, project="p3")
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job_id, _ = mms.create_job(sid, {"name": "sql", "srcDbName": "main",
                                     "tables": [fixtures.TYPES_TABLE],
                                     "enableVerification": True,
                                     "others": {"verify": "checksum"}})
    assert mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)["status"] == "DONE"
    (task,) = mms.tasks(sid, job_id)
    logs = check_task_logs(mms, sid, task, counts[fixtures.TYPES_TABLE], data_sql=True)
    assert any(re.search(r"count\(\*\)", e["action"] or "", re.I) for e in logs
               if e["status"].startswith("VERIFICATION")), log_text(logs)
