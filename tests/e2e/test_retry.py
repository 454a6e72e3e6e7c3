"""A destination that cannot be written makes the tasks fail with a clear message and the job
FAILED; once it is fixed, RetryMmsJob re-runs the failed tasks and the job ends DONE with equal
data. (Tests run as root, which ignores file modes, so the destination file <project>.db is
made a directory: opening it fails whoever you are.)"""
import os

import fixtures
from mmsd import API

JOB_TIMEOUT = 120


def test_failed_destination_then_retry(fresh_mms, small_source, workdir):
    mms = fresh_mms
    src, counts = small_source
    dst_dir = os.path.join(workdir, "dst")
    os.mkdir(dst_dir)
    dst_file = os.path.join(dst_dir, "proj.db")
    os.mkdir(dst_file)  # the destination database cannot be opened

    sid = mms.create_sqlite_source(src, dst_dir, project="proj")
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job_id, _ = mms.create_job(sid, {"name": "retry", "srcDbName": "main",
                                     "enableVerification": True})
    job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
    assert job["status"] == "FAILED", job

    tasks = mms.tasks(sid, job_id)
    assert len(tasks) == len(counts)
    for t in tasks:
        assert t["status"].endswith("_FAILED") and t["running"] is False, t
        assert t["retriedTimes"] == 0, t
        msg = t.get("errorMsg")
        assert isinstance(msg, str) and "proj.db" in msg, \
            "task %d has no clear errorMsg naming the destination: %r" % (t["id"], t)
        logs = mms.task_logs(sid, t["id"])
        assert any(e["status"].endswith("_FAILED") for e in logs), logs
    for t in mms.tables(sid):
        assert t["status"] == "FAILED", t
    assert not any(os.scandir(dst_file)), "something was written inside the blocking directory"

    os.rmdir(dst_file)  # fixed

    assert mms.ok("POST", "%s/datasources/%d/jobs/%d/retry" % (API, sid, job_id)) == job_id
    def settled():
        # The job may still read FAILED for a moment after the retry call: wait until it is
        # DONE, or FAILED again with every task retried once and idle.
        j = mms.get_job(sid, job_id)
        if j["status"] == "DONE":
            return j
        if j["status"] == "FAILED" and all(
                t["retriedTimes"] >= 1 and not t["running"] and t["status"].endswith("_FAILED")
                for t in mms.tasks(sid, job_id)):
            return j
        return None
    job = mms.wait(settled, JOB_TIMEOUT, interval=0.2, what="the retried job")
    assert job["status"] == "DONE", job
    for t in mms.tasks(sid, job_id):
        assert t["status"] == "DONE", t
        assert t["retriedTimes"] == 1, t
    for t in mms.tables(sid):
        assert t["status"] == "DONE", t
    fixtures.assert_same(src, dst_file)
