"""Issue 3: PostgreSQL change detection from the statistics views, end to end through the HTTP
API. A LIST-partitioned PostgreSQL source (pair_fixtures: shop.events, partitions region=eu/us/
ap) is migrated into a PostgreSQL destination; rows then change in one partition with psql; a
rescan flags that partition (only) `updated` in ListMmsPartitions, because its change counter
(pg_stat_user_tables n_tup_ins + n_tup_upd + n_tup_del) moved while its size and row estimate
may not have; a job with increment=true has exactly one task, for that partition, and the
destination equals the source afterwards (read back independently with psql).

PostgreSQL publishes a backend's counters asynchronously (when it goes idle, at most once a
second, and at exit): the test waits until the statistics show each change before it rescans,
so what it asserts does not depend on that lag.
"""
import itertools
import os
import time

import pair_fixtures as pf
from dbservers import dbservers  # noqa: F401  (module-scoped fixture)
from mmsd import API

JOB_TIMEOUT = 240
_seq = itertools.count(1)


def uniq(prefix):
    return "%s_%d_%d" % (prefix, os.getpid() % 100000, next(_seq))


def stat_counts(server, db, schema):
    """{partition table: n_tup_ins + n_tup_upd + n_tup_del} of schema.events_*."""
    out = pf.psql(server, db, "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM "
                  "pg_stat_user_tables WHERE schemaname = %s AND relname LIKE 'events\\_%%';"
                  % pf.pl(schema))
    return {line.split("|")[0]: int(line.split("|")[1]) for line in out.splitlines() if line}


def wait_stats(server, db, schema, pred, what, timeout=15):
    end = time.time() + timeout
    while True:
        got = stat_counts(server, db, schema)
        if pred(got):
            return got
        if time.time() > end:
            raise AssertionError("statistics never showed %s: %r" % (what, got))
        time.sleep(0.1)


def partitions(mms, sid):
    out = mms.ok("GET", "%s/datasources/%d/partitions" % (API, sid),
                 query={"tableName": pf.PART_TABLE, "pageNum": 1, "pageSize": 100})
    return {p["value"]: p for p in out["objectList"]}


def dest_part_identity(dst, schema):
    """{partition bound: (oid, relfilenode)} of the destination's events partitions."""
    out = pf.psql(dst.server, dst.project, (
        "SELECT pg_get_expr(k.relpartbound, k.oid), k.oid, k.relfilenode FROM pg_inherits i "
        "JOIN pg_class k ON k.oid = i.inhrelid JOIN pg_class c ON c.oid = i.inhparent JOIN "
        "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s;")
        % (pf.pl(schema), pf.pl(pf.PART_TABLE)))
    return {f[0]: (f[1], f[2]) for f in (line.split("|") for line in out.splitlines() if line)}


def read_source(src):
    return pf.canonical(pf.PART_TABLE, pf.read_pg(src.server, src.database, src.schema,
                                                  pf.PART_TABLE))


def read_dest(dst):
    schema = pf.pg_find_table(dst.server, dst.project, pf.PART_TABLE)
    return pf.canonical(pf.PART_TABLE, pf.read_pg(dst.server, dst.project, schema,
                                                  pf.PART_TABLE))


class Dest:
    def __init__(self, server, project):
        self.server = server
        self.project = project
        self.url = "postgresql://%s:%s@%s:%d/" % (server.user, server.password, server.host,
                                                   server.port)


def create_source(mms, src, dst):
    cfg = dict(src.config)
    cfg["dst.url"] = dst.url
    cfg["dst.project"] = dst.project
    sid = mms.ok("POST", API + "/datasources",
                 body={"name": uniq("pginc"), "type": "POSTGRESQL", "config": cfg})["dataSourceId"]

    def started():
        ds = mms.ok("GET", "%s/datasources/%d" % (API, sid))
        return ds if ds.get("status") not in ("STARTING", "STOPPING") else None
    ds = mms.wait(started, 30, what="data source %d to start" % sid)
    assert ds.get("status") not in ("FAILED", "START_FAILED"), ds
    return sid


def run_job(mms, sid, body):
    job_id, at = mms.create_job(sid, body)
    assert at["status"] == "DONE" and at["errorMsg"] is None, at
    job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
    return job_id, job, mms.tasks(sid, job_id)


def test_update_in_one_pg_partition_moves_only_that_partition(mms, dbservers, workdir):  # noqa: F811
    tag = uniq("pginc")
    src = pf.make_source("POSTGRESQL", workdir, dbservers, tag)
    dst = Dest(dbservers.pg, "p_" + tag)
    # The fixture was loaded by a psql that has exited: wait until its inserts are published
    # (10 rows per partition), so the first scan sees the settled counters.
    settled = wait_stats(src.server, src.database, src.schema,
                         lambda c: len(c) == 3 and all(v >= 10 for v in c.values()),
                         "the fixture's inserts")
    sid = create_source(mms, src, dst)
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    parts = partitions(mms, sid)
    assert sorted(parts) == ["region=ap", "region=eu", "region=us"], parts

    job1, job, tasks1 = run_job(mms, sid, {"name": "first " + tag, "srcDbName": src.db,
                                           "tables": [pf.PART_TABLE],
                                           "others": {"verify": "checksum"}})
    assert job["status"] == "DONE", (job, tasks1)
    assert sorted(p for t in tasks1 for p in t["partitions"]) == \
        ["region=ap", "region=eu", "region=us"], tasks1
    assert read_source(src) == read_dest(dst)
    assert not any(p["updated"] for p in partitions(mms, sid).values())
    dschema = pf.pg_find_table(dst.server, dst.project, pf.PART_TABLE)
    ident = dest_part_identity(dst, dschema)
    assert len(ident) == 3, ident

    # Change two rows of region=eu in place: same row count, same size on disk (a fillfactor
    # of 100 and short values: the new versions fit the same page), so only the change
    # counter tells. Then wait until the statistics show the update.
    pf.psql(src.server, src.database,
            "UPDATE %s.%s SET v = 'changed ' || id WHERE region = 'eu' AND id IN (3, 6);\n"
            "SELECT pg_stat_force_next_flush();\n" % (pf.pq(src.schema), pf.pq(pf.PART_TABLE)))
    eu = pf.PART_TABLE + "_eu"
    after = wait_stats(src.server, src.database, src.schema,
                       lambda c: c.get(eu, 0) >= settled[eu] + 2, "the update")
    assert {k: v for k, v in after.items() if k != eu} == \
        {k: v for k, v in settled.items() if k != eu}, (settled, after)

    assert mms.scan(sid)["status"] == "SCAN_DONE"
    parts = partitions(mms, sid)
    flagged = sorted(v for v, p in parts.items() if p["updated"])
    assert flagged == ["region=eu"], parts

    job2, job, tasks2 = run_job(mms, sid, {"name": "increment " + tag, "srcDbName": src.db,
                                           "tables": [pf.PART_TABLE], "increment": True,
                                           "others": {"verify": "checksum"}})
    assert job["status"] == "DONE", (job, tasks2)
    assert len(tasks2) == 1, tasks2
    assert tasks2[0]["partitions"] == ["region=eu"], tasks2
    assert tasks2[0]["status"] == "DONE", tasks2

    # The destination equals the changed source, read back with psql on both sides.
    a, b = read_source(src), read_dest(dst)
    assert a == b, pf.diff(pf.PART_TABLE, a, b)
    assert len(b) == 30
    assert sum(1 for r in pf.read_pg(dst.server, dst.project, dschema, pf.PART_TABLE)
               if (r["v"] or "").startswith("changed ")) == 2
    # The unchanged partitions of the destination were not rewritten.
    now = dest_part_identity(dst, dschema)
    for bound in ("FOR VALUES IN ('us')", "FOR VALUES IN ('ap')"):
        assert now[bound] == ident[bound], (bound, ident, now)

    # The increment job took the partition as migrated: nothing is flagged, and without a new
    # change a rescan flags nothing and an increment job moves nothing.
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    assert not any(p["updated"] for p in partitions(mms, sid).values()), partitions(mms, sid)
    job3, job, tasks3 = run_job(mms, sid, {"name": "again " + tag, "srcDbName": src.db,
                                           "tables": [pf.PART_TABLE], "increment": True})
    assert job["status"] == "DONE", (job, tasks3)
    assert all(not t["partitions"] for t in tasks3), tasks3
