"""StopMmsJob during the big table's DATA stage stops the task at a safe point and keeps its
stage; the STOP_JOB async task ends DONE; the job stays stopped; StartMmsJob resumes it and the
job ends DONE with the destination equal to the source. And SIGTERM during DATA gives the task
back: mmsd exits 0 and the task resumes after the restart."""
import os
import time

import fixtures
from mmsd import API, data_stage_starts, format_logs

JOB_TIMEOUT = 300
EARLY = ("INIT", "SCHEMA_DOING", "SCHEMA_DONE", "DATA_DOING")


def test_stop_during_data_then_start(fresh_mms, crash_source, workdir):
    mms = fresh_mms
    src, counts = crash_source
    dst_dir = os.path.join(workdir, "dst")
    os.mkdir(dst_dir)
    dst_file = os.path.join(dst_dir, "proj.db")

    sid = mms.create_sqlite_source(src, dst_dir, project="proj")
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job_id, _ = mms.create_job(sid, {"name": "stop-start", "srcDbName": "main",
                                     "enableVerification": True})
    big = mms.wait_data_doing(sid, job_id, fixtures.BIG_TABLE)

    assert mms.ok("POST", "%s/datasources/%d/jobs/%d/stop" % (API, sid, job_id)) == job_id
    job = mms.get_job(sid, job_id)
    assert job["stopped"] is True, "the stop is not visible at once: status %s, %r" % (
        job["status"], job)
    stop_aid = job.get("stopAsyncTaskId")
    assert isinstance(stop_aid, int) and stop_aid > 0, \
        "GetMmsJob does not report stopAsyncTaskId: %r" % job
    at = mms.wait_async(sid, stop_aid, timeout=60)
    assert at["type"] == "STOP_JOB" and at["status"] == "DONE", at
    assert at["objectId"] == job_id and at["running"] is False and at["errorMsg"] is None, at

    # The big task stopped at a safe point and kept its stage.
    t = mms.wait(lambda: (lambda x: x if not x["running"] else None)(
        mms.get_task(sid, big["id"])), 30, what="the big task to stop running")
    assert t["stopped"] is True, t
    assert t["status"] in EARLY, "the stopped task moved past DATA_DOING: %r" % t

    # It stays stopped: no worker picks it up again.
    time.sleep(2.0)
    t2 = mms.get_task(sid, big["id"])
    assert t2["running"] is False and t2["stopped"] is True and t2["status"] == t["status"], t2
    if "rowsDone" in t:
        assert t2["rowsDone"] == t["rowsDone"], (t, t2)
    job = mms.get_job(sid, job_id)
    assert job["stopped"] is True and job["status"] != "DONE", job
    # No partial big table is visible while stopped.
    n = fixtures.row_count(dst_file, fixtures.BIG_TABLE) if os.path.exists(dst_file) else None
    assert n in (None, 0, counts[fixtures.BIG_TABLE]), "a partial big table is visible: %r" % n

    assert mms.ok("POST", "%s/datasources/%d/jobs/%d/start" % (API, sid, job_id)) == job_id
    job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
    assert job["status"] == "DONE" and job["stopped"] is False, job
    for t in mms.tasks(sid, job_id):
        assert t["status"] == "DONE" and t["stopped"] is False, t
    logs = mms.task_logs(sid, big["id"])
    assert len(data_stage_starts(logs)) >= 2, \
        "the DATA stage did not start again after StartMmsJob:\n" + format_logs(logs)
    fixtures.assert_same(src, dst_file)


def test_sigterm_during_data_gives_the_task_back(fresh_mms, crash_source, workdir):
    """SIGTERM while the big table is in DATA_DOING: mmsd exits 0 promptly, the task keeps its
    stage (it is not failed), and after a restart it resumes and the job ends DONE."""
    mms = fresh_mms
    src, counts = crash_source
    dst_dir = os.path.join(workdir, "dst")
    os.mkdir(dst_dir)
    dst_file = os.path.join(dst_dir, "proj.db")

    sid = mms.create_sqlite_source(src, dst_dir, project="proj")
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job_id, _ = mms.create_job(sid, {"name": "sigterm", "srcDbName": "main",
                                     "enableVerification": True})
    big = mms.wait_data_doing(sid, job_id, fixtures.BIG_TABLE)

    t0 = time.monotonic()
    mms.stop()  # SIGTERM; requires exit code 0
    took = time.monotonic() - t0
    assert took < 10, "SIGTERM took %.1fs with a task running" % took
    n = fixtures.row_count(dst_file, fixtures.BIG_TABLE)
    assert n in (None, 0, counts[fixtures.BIG_TABLE]), "a partial big table is visible: %r" % n

    mms.start()
    t = mms.get_task(sid, big["id"])
    assert not t["status"].endswith("_FAILED") and t["stopped"] is False, t
    job = mms.wait_job(sid, job_id, timeout=JOB_TIMEOUT)
    assert job["status"] == "DONE" and job["stopped"] is False, job
    t = mms.get_task(sid, big["id"])
    assert t["status"] == "DONE" and t["retriedTimes"] == 0, t
    logs = mms.task_logs(sid, big["id"])
    assert len(data_stage_starts(logs)) >= 2, \
        "the DATA stage did not start again after the restart:\n" + format_logs(logs)
    fixtures.assert_same(src, dst_file)
