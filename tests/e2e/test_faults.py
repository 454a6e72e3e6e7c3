"""Fault and source-protection tests through the HTTP API (signed requests, tests/lib/mmsd.py),
with private PostgreSQL servers (scripts/testdb.sh, tests/e2e/faultlib.py) that the tests stop
and start again, and independent reads of the data (psql, Python's sqlite3).

1. The PostgreSQL destination restarted in the middle of DATA: the task retries (retriedTimes,
   log rows), the job ends DONE, the destination holds exactly the source's rows.
2. The PostgreSQL source down for longer than the retry budget: DATA_FAILED with a message
   saying it gave up and naming the connection error, job FAILED; RetryMmsJob after the restart
   completes it with equal data.
3. limit.rowsPerSecond of a data source: the rows/s of the DATA stage (rows and seconds as the
   runner measured them) is not above the limit by more than 10% (an upper bound only: it must
   hold whatever the machine's speed).
4. limit.maxConcurrentTasks = 1: ListMmsTasks sampled every 50 ms never shows two tasks of the
   source running at once (and, without the limit, the same job does run tasks together).
"""
import os
import re
import secrets
import time

import pytest

import faultlib
import mmsd as mmslib
from mmsd import API, data_stage_starts, format_logs, sqlite_url, wait

BIG = 1_000_000
JOB_TIMEOUT = 300


# ---- fixtures ---------------------------------------------------------------------------------

@pytest.fixture
def pg_factory():
    """pg_factory() -> a started faultlib.PgServer; every server made is stopped and its files
    removed at the end of the test, whatever the outcome."""
    made = []

    def make():
        pg = faultlib.PgServer()
        made.append(pg)
        pg.start()
        return pg

    yield make
    errors = []
    for pg in made:
        try:
            pg.cleanup()
        except Exception as e:  # clean up every server, report the first error
            errors.append(e)
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def pg_dst():
    """A PostgreSQL destination shared by the tests that do not stop it."""
    pg = faultlib.PgServer()
    try:
        pg.start()
        yield pg
    finally:
        pg.cleanup()


# ---- helpers ----------------------------------------------------------------------------------

def password():
    # trust authentication accepts any password; registered so that the harness checks that
    # no mmsd log ever contains it.
    return mmslib.register_secret("pw-" + secrets.token_hex(8))


def wait_started(mms, sid):
    def started():
        ds = mms.ok("GET", "%s/datasources/%d" % (API, sid))
        return ds if ds.get("status") not in ("STARTING", "STOPPING") else None
    return wait(started, 60, what="data source %d to start" % sid)


def create_source(mms, body):
    sid = mms.ok("POST", API + "/datasources", body=body)["dataSourceId"]
    wait_started(mms, sid)
    scan = mms.scan(sid)
    assert scan["status"] == "SCAN_DONE", scan
    return sid


def sqlite_to_pg_source(mms, src_path, pg, project):
    return create_source(mms, {
        "name": "fault-sqlite-%s" % secrets.token_hex(4), "type": "SQLITE",
        "config": {"sqlite.path": os.path.abspath(src_path), "dst.url": pg.url(password()),
                   "dst.project": project}})


def set_config(mms, sid, config):
    r = mms.update_source(sid, {"action": "UPDATE_CONFIG", "config": config})
    t = mms.wait_async(sid, r["asyncTaskId"])
    assert t["status"] == "DONE", t


def pg_dst_summary(mms, sid, task, pg):
    """The destination table of a task, read with psql."""
    t = mms.get_task(sid, task["id"])
    schema = t.get("dstSchemaName") or "public"
    return faultlib.pg_summary(pg, t["dstDbName"], schema, t["dstTableName"])


def settle_after_retry(mms, sid, job_id, before):
    """After RetryMmsJob the job may read FAILED for a moment: waits until it is DONE, or FAILED
    again with its tasks retried and idle."""
    def settled():
        j = mms.get_job(sid, job_id)
        if j["status"] == "DONE":
            return j
        if j["status"] == "FAILED" and all(
                t["retriedTimes"] > before.get(t["id"], 0) and not t["running"]
                and t["status"].endswith("_FAILED") for t in mms.tasks(sid, job_id)):
            return j
        return None
    return wait(settled, JOB_TIMEOUT, interval=0.2, what="the retried job %d" % job_id)


CONN_ERR = re.compile(r"connect|connection|refused|closed|terminat|shut ?down", re.I)


# ---- 1. destination restarted during DATA ------------------------------------------------------

def test_destination_restarted_during_data(pg_factory, fresh_mms, workdir):
    pg = pg_factory()
    mms = fresh_mms
    src = faultlib.make_sqlite_table(os.path.join(workdir, "src.db"), "big", BIG)
    expect = faultlib.sqlite_summary(src, "big")
    assert expect[0] == BIG

    sid = sqlite_to_pg_source(mms, src, pg, "proj")
    job_id, _ = mms.create_job(sid, {"name": "dst restart", "srcDbName": "main",
                                     "tables": ["big"], "enableVerification": True,
                                     "others": {"rowsPerSecond": 200000}})
    task = mms.wait_data_doing(sid, job_id, "big")
    assert task["rowsDone"] > 0

    pg.stop()
    time.sleep(3)
    pg.restart()

    job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
    task = mms.get_task(sid, task["id"])
    logs = mms.task_logs(sid, task["id"])
    text = format_logs(logs)
    assert job["status"] == "DONE", (job, task, text)
    assert task["status"] == "DONE", task
    assert task["retriedTimes"] >= 1, (task, text)

    # The log: the transient failure of DATA with its connection error, then DATA again.
    fails = [i for i, e in enumerate(logs)
             if re.search(r"transient failure, retry 1 of \d+ in \d+ s: ", e["msg"] or "")]
    assert fails, "no transient failure in the log:\n" + text
    first = logs[fails[0]]
    assert first["status"].startswith("DATA"), text
    assert CONN_ERR.search(first["msg"]), text
    later_starts = data_stage_starts(logs[fails[0] + 1:])
    assert later_starts, "DATA did not start again after the failure:\n" + text
    assert any(e["status"] == "DATA_DONE" for e in logs[fails[-1] + 1:]), text
    retries = [e for e in logs if "transient failure, retry" in (e["msg"] or "")]
    assert len(retries) == task["retriedTimes"], text
    print("retriedTimes %d; retries:\n%s" % (task["retriedTimes"], format_logs(retries)))

    # Independent read: exactly the source's rows, no duplicates.
    assert pg_dst_summary(mms, sid, task, pg) == expect
    assert not faultlib.pg_stage_tables(pg, task["dstDbName"])


# ---- 2. source down longer than the retry budget, then RetryMmsJob ------------------------------

def test_source_down_past_retry_budget_then_retry_job(pg_factory, fresh_mms, workdir):
    pg = pg_factory()
    mms = fresh_mms
    faultlib.make_pg_table(pg, "big", BIG)
    expect = faultlib.pg_summary(pg, "postgres", "public", "big")
    assert expect[0] == BIG
    dst_dir = os.path.join(workdir, "dst")
    os.mkdir(dst_dir)

    sid = create_source(mms, {
        "name": "fault-pg-%s" % secrets.token_hex(4), "type": "POSTGRESQL",
        "config": {"pg.host": "127.0.0.1", "pg.port": pg.port, "pg.user": "postgres",
                   "pg.password": password(), "pg.database": "postgres",
                   "dst.url": sqlite_url(dst_dir), "dst.project": "proj"}})
    job_id, _ = mms.create_job(sid, {"name": "src down", "srcDbName": "public",
                                     "tables": ["big"], "enableVerification": True,
                                     "others": {"rowsPerSecond": 200000,
                                                "retryBudgetSeconds": 5, "maxRetries": 3}})
    task = mms.wait_data_doing(sid, job_id, "big")
    assert task["rowsDone"] > 0

    pg.stop()
    down_at = time.monotonic()
    # The budget (5 s, 3 retries) is spent long before the server comes back: the job ends
    # while the server is still down.
    job = mms.wait_job(sid, job_id, timeout=120)
    task = mms.get_task(sid, task["id"])
    logs = mms.task_logs(sid, task["id"])
    text = format_logs(logs)
    assert not pg.running(), "the server came back by itself?"
    assert job["status"] == "FAILED", (job, task, text)
    assert task["status"] == "DATA_FAILED", (task, text)
    assert not task["running"], task
    msg = task.get("errorMsg") or ""
    m = re.search(r"gave up after (\d+) automatic retries over (\d+) s", msg)
    assert m, "errorMsg does not say it gave up: %r" % msg
    assert 1 <= int(m.group(1)) <= 3, msg
    assert "others.maxRetries = 3" in msg and "others.retryBudgetSeconds = 5" in msg, msg
    assert CONN_ERR.search(msg.split("[transient error")[0]), \
        "errorMsg does not name the connection error: %r" % msg
    print("errorMsg: %s" % msg)
    assert task["retriedTimes"] == int(m.group(1)), (task, text)
    assert any(e["status"] == "DATA_FAILED" for e in logs), text
    assert len([e for e in logs if "transient failure, retry" in (e["msg"] or "")]) \
        == int(m.group(1)), text

    # Down ~15 s in all, then back; RetryMmsJob completes the job.
    time.sleep(max(0.0, 15 - (time.monotonic() - down_at)))
    pg.restart()
    before = {task["id"]: task["retriedTimes"]}
    assert mms.ok("POST", "%s/datasources/%d/jobs/%d/retry" % (API, sid, job_id)) == job_id
    job = settle_after_retry(mms, sid, job_id, before)
    task = mms.get_task(sid, task["id"])
    text = format_logs(mms.task_logs(sid, task["id"]))
    assert job["status"] == "DONE", (job, task, text)
    assert task["status"] == "DONE", task
    assert task["retriedTimes"] > before[task["id"]], task

    # Independent read of both sides.
    dst_file = os.path.join(dst_dir, "proj.db")
    assert faultlib.sqlite_summary(dst_file, task["dstTableName"]) == expect
    assert faultlib.pg_summary(pg, "postgres", "public", "big") == expect


# ---- 3. rate limit of a data source -------------------------------------------------------------

def test_source_rate_limit_holds(pg_dst, fresh_mms, workdir):
    mms = fresh_mms
    rows, limit = 200_000, 50_000
    src = faultlib.make_sqlite_table(os.path.join(workdir, "src.db"), "t", rows)
    sid = sqlite_to_pg_source(mms, src, pg_dst, "rate")
    set_config(mms, sid, {"limit.rowsPerSecond": limit})
    cfg = {c["key"]: c["value"] for c in mms.ok(
        "GET", "%s/datasources/%d" % (API, sid), query={"withConfig": "true"})["config"]}
    assert str(cfg.get("limit.rowsPerSecond")) == str(limit), cfg

    job_id, _ = mms.create_job(sid, {"name": "rate", "srcDbName": "main", "tables": ["t"],
                                     "enableVerification": False})
    job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
    (task,) = mms.tasks(sid, job_id)
    logs = mms.task_logs(sid, task["id"])
    text = format_logs(logs)
    assert job["status"] == "DONE", (job, text)

    done = [e for e in logs if e["status"] == "DATA_DONE"]
    assert len(done) == 1, text
    msg = done[0]["msg"]
    m = faultlib.RATE_RE.search(msg)
    assert m, "the DATA message does not report rows and seconds: %r" % msg
    n, secs, reported = int(m.group(1)), float(m.group(3)), int(m.group(4))
    assert n == rows, msg
    assert "rate limited (source %d rows/s)" % limit in msg, msg
    # Upper bound only: the limiter admits at most rate x W + 40 ms' worth + one batch.
    assert secs > 0 and n / secs <= 1.10 * limit, msg
    assert reported <= 1.10 * limit, msg
    print("DATA: %s" % msg)
    assert pg_dst_summary(mms, sid, task, pg_dst) == faultlib.sqlite_summary(src, "t")


# ---- 4. at most N tasks of a source at once --------------------------------------------------

def run_sampled(mms, sid, job_id, timeout=JOB_TIMEOUT):
    """Samples ListMmsTasks every 50 ms until every task is idle in a final state; returns
    (largest number of tasks running at once, ids of the tasks seen running, samples)."""
    most, seen, samples = 0, set(), 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ts = mms.tasks(sid, job_id)
        samples += 1
        running = [t["id"] for t in ts if t["running"]]
        most = max(most, len(running))
        seen.update(running)
        if ts and all(not t["running"] and (t["status"] == "DONE" or t["status"].endswith(
                "_FAILED")) for t in ts):
            return most, seen, samples
        time.sleep(0.05)
    raise mmslib.MmsdError("job %d did not end within %d s" % (job_id, timeout))


def test_source_max_concurrent_tasks(pg_dst, fresh_mms, workdir):
    mms = fresh_mms  # 4 workers (the default): without the limit 3 tasks run together
    src = os.path.join(workdir, "src.db")
    tables = ["t0", "t1", "t2"]
    for t in tables:
        faultlib.make_sqlite_table(src, t, 30_000)
    job_body = {"name": "conc", "srcDbName": "main", "enableVerification": False,
                "others": {"rowsPerSecond": 20000}}  # ~1.5 s of DATA per table

    # Without the limit the sampling does see tasks running together.
    free = sqlite_to_pg_source(mms, src, pg_dst, "conc_free")
    job_id, _ = mms.create_job(free, job_body)
    most, seen, _ = run_sampled(mms, free, job_id)
    assert mms.get_job(free, job_id)["status"] == "DONE"
    assert most >= 2, "without a limit the tasks never ran together (most %d)" % most
    print("without the limit: at most %d running at once" % most)

    sid = sqlite_to_pg_source(mms, src, pg_dst, "conc_one")
    set_config(mms, sid, {"limit.maxConcurrentTasks": 1})
    job_id, _ = mms.create_job(sid, job_body)
    tasks = mms.tasks(sid, job_id)
    assert len(tasks) == 3, tasks
    most, seen, samples = run_sampled(mms, sid, job_id)
    job = mms.get_job(sid, job_id)
    assert job["status"] == "DONE", job
    assert most == 1, "%d tasks of the source ran at once with limit.maxConcurrentTasks = 1" \
        % most
    assert seen == {t["id"] for t in tasks}, (seen, samples)
    print("limit 1: at most %d running at once over %d samples" % (most, samples))
    for t in mms.tasks(sid, job_id):
        assert t["status"] == "DONE", t
        assert pg_dst_summary(mms, sid, t, pg_dst) == faultlib.sqlite_summary(
            src, t["srcTableName"])
