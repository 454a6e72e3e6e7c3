"""Black-box tests of the job option others.casts (docs/types.md, "Opt-in casts") at
CreateMmsJob: a bad value is a 400 InvalidParameter.Casts naming the bad entry and listing the
valid names, and queues nothing; a good one is kept in the job's config. What the casts do to
values is tested by tests/unit/test_cast.c and tests/e2e/test_casts.py."""

import os

from mmsd import API

VALID = "zeroDateToNull, negativeZeroToZero, nanToNull, stripNul"
ERROR_KEYS = {"requestId", "code", "message", "httpCode"}


def make_source(mms, workdir, make_sqlite):
    path = make_sqlite(os.path.join(workdir, "casts.db"),
                       "CREATE TABLE t (id INTEGER, x REAL, s TEXT);"
                       "INSERT INTO t VALUES (1, 1.5, 'a'), (2, NULL, 'b');")
    sid = mms.create_sqlite_source(path, os.path.join(workdir, "dst"), project="casts")
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    return sid


def jobs_total(mms, sid):
    return mms.ok("GET", "%s/datasources/%d/jobs" % (API, sid))["total"]


def test_bad_casts_are_400(mms, workdir, make_sqlite):
    sid = make_source(mms, workdir, make_sqlite)
    good = {"name": "c", "srcDbName": "main"}
    cases = [
        ("stripNul", 'others.casts must be an array'),
        ({"stripNul": True}, "others.casts must be an array"),
        (7, "others.casts must be an array"),
        ([1], "others.casts[0] must be a string"),
        (["nanToNull", None], "others.casts[1] must be a string"),
        (["stripNull"], 'others.casts[0] "stripNull" is not a known cast'),
        (["nanToNull", "NanToNull"], 'others.casts[1] "NanToNull" is not a known cast'),
        ([""], 'others.casts[0] "" is not a known cast'),
        (["x" * 100], 'others.casts[0] "%s..." is not a known cast' % ("x" * 40)),
        (["stripNul", "stripNul"], 'others.casts[1] "stripNul" is given twice'),
    ]
    failures = []
    for casts, mention in cases:
        body = dict(good, others={"verify": "checksum", "casts": casts})
        status, b, h = mms.call("POST", "%s/datasources/%d/jobs" % (API, sid), body=body)
        if (status != 400 or not isinstance(b, dict) or set(b) != ERROR_KEYS
                or b["code"] != "InvalidParameter.Casts" or b["httpCode"] != 400
                or mention not in b["message"] or VALID not in b["message"]
                or h.get("x-acs-request-id") != b["requestId"]):
            failures.append("%r -> %s %r" % (casts, status, b))
    assert not failures, "\n".join(failures)
    # None of these queued anything.
    assert jobs_total(mms, sid) == 0


def test_good_casts_are_kept(mms, workdir, make_sqlite):
    sid = make_source(mms, workdir, make_sqlite)
    for i, casts in enumerate((None, [], ["stripNul"],
                               ["zeroDateToNull", "negativeZeroToZero", "nanToNull",
                                "stripNul"])):
        others = {"verify": "checksum", "casts": casts}
        job_id, at = mms.create_job(sid, {"name": "ok%d" % i, "srcDbName": "main",
                                          "others": others})
        assert at["status"] == "DONE", at
        j = mms.ok("GET", "%s/datasources/%d/jobs/%d" % (API, sid, job_id))
        assert j["config"]["others"] == others, j
        done = mms.wait_job(sid, job_id, timeout=60)
        assert done["status"] == "DONE", done


def test_bad_stream_counts_are_400(mms, workdir, make_sqlite):
    """others.copyStreams and others.writeStreams (docs/engine.md, "Parallel copy of one large
    table", "Parallel writers"): integers from 1 to 16."""
    sid = make_source(mms, workdir, make_sqlite)
    before = jobs_total(mms, sid)
    for knob in ("copyStreams", "writeStreams"):
        for bad in (0, 17, -1, "2", 1.5, True, None):
            body = {"name": "c", "srcDbName": "main", "others": {knob: bad}}
            status, b, _ = mms.call("POST", "%s/datasources/%d/jobs" % (API, sid), body=body)
            assert status == 400, (knob, bad, status, b)
            assert b["code"] == "InvalidParameter.Others", (knob, bad, b)
            assert "others.%s must be an integer from 1 to 16" % knob in b["message"], (bad, b)
    assert jobs_total(mms, sid) == before
    body = {"name": "ok", "srcDbName": "main", "others": {"copyStreams": 16, "writeStreams": 1}}
    status, b, _ = mms.call("POST", "%s/datasources/%d/jobs" % (API, sid), body=body)
    assert status == 200, b
