"""Issue 3: one large table copied by parallel streams (docs/engine.md, "Parallel copy of one
large table"), and the lease keeper around blocking connector calls ("Blocking calls"), through
the HTTP API against private PostgreSQL servers (tests/e2e/faultlib.py), data read back with psql.

1. PostgreSQL -> PostgreSQL with 3 streams: the log names the split, the destination holds
   exactly the source's rows (summary and per-id check), no staging table is left.
2. One stream's server connection killed in the middle of the copy: every stream is cancelled,
   the staging table dropped, the task retries and ends DONE with exactly the source's rows.
3. The final swap blocked by a lock for longer than three lease periods (--lease-seconds 3):
   the keeper heartbeats meanwhile, so the task keeps its single attempt (no second claim) and
   ends DONE.
4. Fan-out into MySQL (one reader, 3 writers): the log names it, the rows read back with the
   mariadb CLI equal the source's, checksum verification agrees, no staging table is left.
5. Fan-out with a value MySQL cannot hold (infinity) three quarters in: DATA_FAILED with the
   documented message, the destination keeps its previous copy, no staging table is left.
6. StopMmsJob during a fan-out into PostgreSQL, then StartMmsJob: stopped at a safe point, no
   staging table left, then DONE with exactly the source's rows.
"""
import os
import re
import secrets
import subprocess
import time

import pytest

import faultlib
import mmsd as mmslib
import pair_fixtures as pf
from dbservers import dbservers  # noqa: F401  (module-scoped fixture)
from mmsd import API, format_logs, wait

ROWS = 300_000
JOB_TIMEOUT = 300


@pytest.fixture(scope="module")
def pg():
    """One PostgreSQL server holding the source database and the destination project."""
    srv = faultlib.PgServer()
    try:
        srv.start()
        faultlib.make_pg_table(srv, "big", ROWS)
        yield srv
    finally:
        srv.cleanup()


def password():
    return mmslib.register_secret("pw-" + secrets.token_hex(8))


def pg_source(mms, pg, project):
    sid = mms.ok("POST", API + "/datasources", body={
        "name": "par-%s" % secrets.token_hex(4), "type": "POSTGRESQL",
        "config": {"pg.host": "127.0.0.1", "pg.port": pg.port, "pg.user": "postgres",
                   "pg.password": password(), "pg.database": "postgres",
                   "dst.url": pg.url(password()), "dst.project": project}})["dataSourceId"]

    def started():
        ds = mms.ok("GET", "%s/datasources/%s" % (API, sid))
        return ds if ds.get("status") not in ("STARTING", "STOPPING") else None
    wait(started, 60, what="data source %s to start" % sid)
    scan = mms.scan(sid)
    assert scan["status"] == "SCAN_DONE", scan
    return sid


def run(mms, sid, others):
    job_id, _ = mms.create_job(sid, {"name": "par", "srcDbName": "public", "tables": ["big"],
                                     "enableVerification": True, "others": others})
    return job_id


def ids_check(pg, db):
    """Every id 1..ROWS exactly once at the destination."""
    out = pg.psql("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM public.big", db=db)
    return out.strip()


def project_db(pg, name):
    pg.psql('DROP DATABASE IF EXISTS "%s"' % name)
    return name


def test_three_streams(mmsd_factory, pg):
    mms = mmsd_factory(args=["--copy-streams-min-rows", "1000"])
    db = project_db(pg, "par3")
    sid = pg_source(mms, pg, db)
    job_id = run(mms, sid, {"copyStreams": 3, "verify": "checksum"})
    job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
    task = mms.tasks(sid, job_id)[0]
    logs = mms.task_logs(sid, task["id"])
    text = format_logs(logs)
    assert job["status"] == "DONE", (job, text)
    split = [e for e in logs if "in 3 parallel streams by ranges of ctid" in (e["action"] or "")]
    assert split, text
    assert re.search(r"\b%d rows\b" % ROWS, split[0]["msg"]), text
    assert any("checksum" in (e["action"] or "") and e["status"].startswith("VERIFICATION")
               for e in logs), text
    expect = faultlib.pg_summary(pg, "postgres", "public", "big")
    assert faultlib.pg_summary(pg, db, "public", "big") == expect
    assert ids_check(pg, db) == "%d|%d|1|%d" % (ROWS, ROWS, ROWS)
    assert not faultlib.pg_stage_tables(pg, db)


def test_one_stream_killed_mid_copy(mmsd_factory, pg):
    mms = mmsd_factory(args=["--copy-streams-min-rows", "1000"])
    db = project_db(pg, "parkill")
    sid = pg_source(mms, pg, db)
    # Slow enough (shared limit: about 5 s for the table) to kill a stream in the middle.
    job_id = run(mms, sid, {"copyStreams": 2, "rowsPerSecond": 60000})
    task = mms.wait_data_doing(sid, job_id, "big")
    wait(lambda: mms.get_task(sid, task["id"])["rowsDone"] > 30000, 60,
         what="the copy to be under way")
    # The destination COPY of one stream (the staging table's writers are the backends of
    # database db running COPY ... FROM STDIN).
    killed = pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname ="
                     " '%s' AND query LIKE 'COPY %%FROM STDIN%%' LIMIT 1" % db).strip()
    assert killed == "t", killed
    job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
    task = mms.get_task(sid, task["id"])
    text = format_logs(mms.task_logs(sid, task["id"]))
    assert job["status"] == "DONE", (job, text)
    assert task["retriedTimes"] >= 1, (task, text)
    assert re.search(r"transient failure, retry 1 of \d+", text), text
    assert faultlib.pg_summary(pg, db, "public", "big") == faultlib.pg_summary(
        pg, "postgres", "public", "big")
    assert ids_check(pg, db) == "%d|%d|1|%d" % (ROWS, ROWS, ROWS)
    assert not faultlib.pg_stage_tables(pg, db)


def test_blocked_swap_keeps_the_lease(mmsd_factory, pg):
    mms = mmsd_factory()  # --lease-seconds 3
    db = project_db(pg, "parlock")
    sid = pg_source(mms, pg, db)
    first = run(mms, sid, {"copyStreams": 1})
    assert mms.wait_job(sid, first, timeout=JOB_TIMEOUT)["status"] == "DONE"

    # A reader holds the destination table for 12 s: the swap (DROP TABLE) waits for it.
    hold = 12
    locker = subprocess.Popen(
        ["psql", "-X", "-h", "127.0.0.1", "-p",
         str(pg.port), "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-c",
         "BEGIN; LOCK TABLE public.big IN ACCESS SHARE MODE; SELECT pg_sleep(%d); COMMIT;" % hold],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait(lambda: pg.psql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid ="
                             " l.relation WHERE c.relname = 'big' AND l.granted AND l.mode ="
                             " 'AccessShareLock'", db=db).strip() != "0", 20,
             what="the lock to be held")
        t0 = time.monotonic()
        job_id = run(mms, sid, {"copyStreams": 1})
        job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
        took = time.monotonic() - t0
    finally:
        _, err = locker.communicate(timeout=60)
    assert locker.returncode == 0, err
    task = mms.tasks(sid, job_id)[0]
    logs = mms.task_logs(sid, task["id"])
    text = format_logs(logs)
    assert job["status"] == "DONE", (job, text)
    # The swap did wait (else this test proves nothing) ...
    assert took > 3 * 3, "the job took %.1f s: the lock did not block the swap\n%s" % (took, text)
    # ... and no other claim took the task over meanwhile: one attempt, no retry.
    attempts = set(re.findall(r"\battempt (\d+)\b", text))
    assert attempts == {"1"}, text
    assert task["retriedTimes"] == 0, task
    assert faultlib.pg_summary(pg, db, "public", "big") == faultlib.pg_summary(
        pg, "postgres", "public", "big")


# ---- fan-out: one reader, several writers (docs/engine.md, "Parallel writers") ------------------

FAN_ROWS = 120_000


def sqlite_source(mms, path, dst_url, project):
    sid = mms.ok("POST", API + "/datasources", body={
        "name": "fan-%s" % secrets.token_hex(4), "type": "SQLITE",
        "config": {"sqlite.path": path, "dst.url": dst_url, "dst.project": project}})["dataSourceId"]

    def started():
        ds = mms.ok("GET", "%s/datasources/%s" % (API, sid))
        return ds if ds.get("status") not in ("STARTING", "STOPPING") else None
    wait(started, 60, what="data source %s to start" % sid)
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    return sid


def my_summary(server, db, table):
    """count, distinct ids, sum(k), round(sum(r)), sum of the CRC-32s of id:s: read with the
    mariadb CLI, independently of mms."""
    out = pf.mariadb(server, "SELECT COUNT(*), COUNT(DISTINCT id), SUM(k), ROUND(SUM(r), 3),"
                     " SUM(CRC32(CONCAT(id, ':', s))) FROM %s.%s;" % (pf.mq(db), pf.mq(table)))
    return out.strip().split("\t")


def sqlite_summary(path, table):
    import sqlite3
    import zlib
    con = sqlite3.connect(path)
    n, d, k, r = con.execute("SELECT COUNT(*), COUNT(DISTINCT id), SUM(k), ROUND(SUM(r), 3) FROM %s"
                             % faultlib.qi(table)).fetchone()
    crc = sum(zlib.crc32(("%d:%s" % (i, t)).encode())
              for i, t in con.execute("SELECT id, s FROM %s" % faultlib.qi(table)))
    con.close()
    return [str(n), str(d), str(k), "%.3f" % r, str(crc)]


def test_fanout_into_mysql(mmsd_factory, dbservers, workdir):  # noqa: F811
    src = faultlib.make_sqlite_table(os.path.join(workdir, "fan.db"), "big", FAN_ROWS)
    expect = sqlite_summary(src, "big")
    my = dbservers.mysql
    mms = mmsd_factory(args=["--write-streams-min-rows", "1000"])
    project = "fan_%s" % secrets.token_hex(3)
    pw = mmslib.register_secret(my.password)
    sid = sqlite_source(mms, src, "mysql://%s:%s@%s:%d/" % (my.user, pw, my.host, my.port), project)
    job_id, _ = mms.create_job(sid, {"name": "fan", "srcDbName": "main", "tables": ["big"],
                                     "enableVerification": True,
                                     "others": {"writeStreams": 3, "verify": "checksum"}})
    job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
    task = mms.tasks(sid, job_id)[0]
    text = format_logs(mms.task_logs(sid, task["id"]))
    assert job["status"] == "DONE", (job, text)
    assert "with 3 parallel writers fed by one reader" in text, text
    assert re.search(r"\b%d rows\b" % FAN_ROWS, text), text
    assert my_summary(my, project, "big") == expect
    left = pf.mariadb(my, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '%s'"
                      " AND TABLE_NAME LIKE '\\_\\_mms%%';" % project).strip()
    assert left == "0", left


def test_fanout_failure_leaves_the_destination_alone(mmsd_factory, dbservers, workdir):  # noqa: F811
    """A value MySQL cannot hold in the middle of the table: the writer that meets it fails,
    every other writer and the reader are cancelled, the staging table is dropped and the
    destination keeps the copy it had."""
    import sqlite3
    path = faultlib.make_sqlite_table(os.path.join(workdir, "bad.db"), "big", FAN_ROWS)
    my = dbservers.mysql
    mms = mmsd_factory(args=["--write-streams-min-rows", "1000"])
    project = "fanbad_%s" % secrets.token_hex(3)
    pw = mmslib.register_secret(my.password)
    sid = sqlite_source(mms, path, "mysql://%s:%s@%s:%d/" % (my.user, pw, my.host, my.port),
                        project)
    first, _ = mms.create_job(sid, {"name": "good", "srcDbName": "main", "tables": ["big"],
                                    "others": {"writeStreams": 2}})
    assert mms.wait_job(sid, first, timeout=JOB_TIMEOUT)["status"] == "DONE"
    before = my_summary(my, project, "big")

    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE big SET r = 1e999 WHERE id = %d" % (FAN_ROWS * 3 // 4))
    con.close()
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job_id, _ = mms.create_job(sid, {"name": "bad", "srcDbName": "main", "tables": ["big"],
                                     "others": {"writeStreams": 2, "maxRetries": 0}})
    job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
    task = mms.tasks(sid, job_id)[0]
    assert job["status"] == "FAILED", job
    assert task["status"] == "DATA_FAILED", task
    msg = task["errorMsg"] or ""
    assert re.search(r"column `r` row \d+: value [-+]?inf\w* cannot be held by a MySQL number",
                     msg), task
    assert my_summary(my, project, "big") == before
    left = pf.mariadb(my, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '%s'"
                      " AND TABLE_NAME LIKE '\\_\\_mms%%';" % project).strip()
    assert left == "0", left


def test_stop_and_start_during_fanout(mmsd_factory, pg, workdir):
    """StopMmsJob while 2 writers fill the staging table: every thread ends at a safe point,
    the staging table is dropped, nothing is visible; StartMmsJob redoes the copy; exact rows."""
    src = faultlib.make_sqlite_table(os.path.join(workdir, "stop.db"), "big", FAN_ROWS)
    expect = faultlib.sqlite_summary(src, "big")
    db = project_db(pg, "fanstop")
    mms = mmsd_factory(args=["--write-streams-min-rows", "1000"])
    sid = sqlite_source(mms, src, pg.url(password()), db)
    job_id, _ = mms.create_job(sid, {"name": "stop", "srcDbName": "main", "tables": ["big"],
                                     "others": {"writeStreams": 2, "rowsPerSecond": 30000}})
    task = mms.wait_data_doing(sid, job_id, "big")
    wait(lambda: mms.get_task(sid, task["id"])["rowsDone"] > 10000, 60,
         what="the copy to be under way")
    assert mms.ok("POST", "%s/datasources/%s/jobs/%s/stop" % (API, sid, job_id)) == job_id
    t = wait(lambda: (lambda x: x if not x["running"] else None)(
        mms.get_task(sid, task["id"])), 30, what="the task to stop running")
    assert t["stopped"] is True and not t["status"].endswith("_FAILED"), t
    assert not faultlib.pg_stage_tables(pg, db)
    assert pg.psql("SELECT count(*) FROM pg_class WHERE relname = 'big'", db=db) in ("0", "1")
    assert mms.ok("POST", "%s/datasources/%s/jobs/%s/start" % (API, sid, job_id)) == job_id
    job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
    text = format_logs(mms.task_logs(sid, task["id"]))
    assert job["status"] == "DONE", (job, text)
    assert "with 2 parallel writers fed by one reader" in text, text
    assert faultlib.pg_summary(pg, db, "main", "big") == expect
    assert not faultlib.pg_stage_tables(pg, db)
