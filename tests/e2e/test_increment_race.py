"""Issue 3, the increment flag race, end to end through the HTTP API (FILES -> FILES).

A task copies the three partitions of shop.events (region=ap/eu/us, 10 rows each) slowly
(others.rowsPerSecond). After it has copied its first partition, and while it still copies the
others, that partition changes at the source and a rescan flags it `updated`. The copy read the
partition before the change, so the destination does not have it: the task's DONE must leave the
flag set (store_catalog_snapshot / store_catalog_mark_task). The next increment=true job then has
exactly one task, for that partition, and the destination equals the source afterwards (read
back independently). Before the fix, DONE cleared the flag and the change was never migrated.
"""
import itertools
import os
import time

import pair_fixtures as pf
from mmsd import API, wait

JOB_TIMEOUT = 240
_seq = itertools.count(1)


def uniq(prefix):
    return "%s_%d_%d" % (prefix, os.getpid() % 100000, next(_seq))


def create_source(mms, src, dst_root, project):
    cfg = dict(src.config)
    cfg["dst.url"] = "file://%s?format=csv" % dst_root
    cfg["dst.project"] = project
    sid = mms.ok("POST", API + "/datasources",
                 body={"name": uniq("race"), "type": "FILES", "config": cfg})["dataSourceId"]

    def started():
        ds = mms.ok("GET", "%s/datasources/%d" % (API, sid))
        return ds if ds.get("status") not in ("STARTING", "STOPPING") else None
    ds = wait(started, 30, what="data source %d to start" % sid)
    assert ds.get("status") not in ("FAILED", "START_FAILED"), ds
    return sid


def partitions(mms, sid):
    out = mms.ok("GET", "%s/datasources/%d/partitions" % (API, sid),
                 query={"tableName": pf.PART_TABLE, "pageNum": 1, "pageSize": 100})
    return {p["value"]: p for p in out["objectList"]}


def read_dest(dst_root, project):
    return pf.canonical(pf.PART_TABLE, pf.read_files(dst_root, project, pf.PART_TABLE, "csv"))


def read_src(src):
    return pf.canonical(pf.PART_TABLE, pf.read_source(src, pf.PART_TABLE))


def test_rescan_during_copy_keeps_the_partition_flagged(mms, workdir):
    src = pf.make_files(os.path.join(workdir, "warehouse"))
    dst_root = os.path.join(workdir, "dst-files")
    project = "p_" + uniq("race")
    sid = create_source(mms, src, dst_root, project)
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    assert sorted(partitions(mms, sid)) == ["region=ap", "region=eu", "region=us"]

    # 30 rows at 4 rows/s: several seconds in DATA, one partition after the other.
    job1, at = mms.create_job(sid, {"name": "slow", "srcDbName": src.db,
                                    "tables": [pf.PART_TABLE], "others": {"rowsPerSecond": 4}})
    assert at["status"] == "DONE", at
    task = mms.task_of_table(sid, job1, pf.PART_TABLE)
    assert len(task["partitions"]) == 3, task
    first = task["partitions"][0]

    # The first partition is copied (rowsDone counts it), the task still copies the others.
    def first_copied():
        t = mms.get_task(sid, task["id"])
        assert t["status"] in ("INIT", "SCHEMA_DOING", "SCHEMA_DONE", "DATA_DOING"), t
        return t if t["status"] == "DATA_DOING" and t["rowsDone"] >= 10 else None
    wait(first_copied, 60, interval=0.02, what="the first partition copied")

    # It changes at the source (one row rewritten), and a rescan flags it.
    region = first.split("=", 1)[1]
    stable = os.path.join(src.root, src.db + ".db", pf.PART_TABLE)
    rows = [r for r in pf.PART_ROWS if r[1] == region]
    changed = [(r[0], r[1], r[2] + " (changed)" if k == 0 else r[2]) for k, r in enumerate(rows)]
    os.remove(os.path.join(stable, first, "000000_0"))
    pf.write_events_partition(stable, region, changed, name="000001_0")
    future = time.time() + 10
    for p in (os.path.join(stable, first, "000001_0"), os.path.join(stable, first)):
        os.utime(p, (future, future))
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    parts = partitions(mms, sid)
    assert parts[first]["updated"] is True, parts
    t = mms.get_task(sid, task["id"])
    assert t["status"] == "DATA_DOING", ("the rescan must happen during the copy", t)

    job = mms.wait_job(sid, job1, timeout=JOB_TIMEOUT)
    assert job["status"] == "DONE", (job, mms.tasks(sid, job1))
    # The copy read the partition before the change: the destination does not have it, and
    # the flag survived the task's DONE.
    assert read_dest(dst_root, project) != read_src(src)
    parts = partitions(mms, sid)
    assert {v: (p["status"], p["updated"]) for v, p in parts.items()} == \
        {v: ("DONE", v == first) for v in parts}, parts

    # The next increment job moves exactly that partition, and the change arrives.
    job2, at = mms.create_job(sid, {"name": "inc", "srcDbName": src.db,
                                    "tables": [pf.PART_TABLE], "increment": True})
    assert at["status"] == "DONE", at
    job = mms.wait_job(sid, job2, timeout=JOB_TIMEOUT)
    tasks2 = mms.tasks(sid, job2)
    assert job["status"] == "DONE", (job, tasks2)
    assert [t["partitions"] for t in tasks2] == [[first]], tasks2
    a, b = read_src(src), read_dest(dst_root, project)
    assert a == b, pf.diff(pf.PART_TABLE, a, b)
    assert not any(p["updated"] for p in partitions(mms, sid).values())
