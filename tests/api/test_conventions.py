"""The API's generic conventions, against a real mmsd: the envelope and the request id, the error
body, unknown paths and methods, path ids, body and query limits, paging parameters, the exact
shape of GetMmsAsyncTask, isolation between data sources, graceful shutdown, the data directory
lock and the command line. Operation-specific behaviour lives in test_datasources.py,
test_catalog.py and test_jobs.py."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import http.client

import pytest

from mmsd import API, Mmsd, binary_path, wait

DS = API + "/datasources"
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
ERROR_KEYS = {"requestId", "code", "message", "httpCode"}
MAX_BODY = 1048576


# ---- helpers ----------------------------------------------------------------------------------

def assert_error(resp, http, code, mention=None):
    status, body, headers = resp
    assert status == http, "expected %d %s, got %d %r" % (http, code, status, body)
    assert isinstance(body, dict) and set(body) == ERROR_KEYS, body
    assert body["code"] == code, body
    assert body["httpCode"] == http, body
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["requestId"], str) and body["requestId"], body
    assert headers.get("x-acs-request-id") == body["requestId"], headers
    assert headers.get("content-type", "").startswith("application/json"), headers
    if mention is not None:
        assert mention in body["message"], "message does not name %r: %r" % (mention, body)
    return body


def assert_envelope(resp):
    status, body, headers = resp
    assert status == 200, (status, body)
    assert isinstance(body, dict) and set(body) == {"requestId", "data"}, body
    assert isinstance(body["requestId"], str) and body["requestId"]
    assert headers.get("x-acs-request-id") == body["requestId"], headers
    assert headers.get("content-type", "").startswith("application/json"), headers
    return body["data"]


@pytest.fixture(scope="module")
def files():
    d = tempfile.mkdtemp(prefix="mms-conv-")
    src = os.path.join(d, "src.db")
    import sqlite3
    con = sqlite3.connect(src)
    con.executescript("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
                      "INSERT INTO t VALUES (1, 'a'), (2, 'b');")
    con.close()
    dst = os.path.join(d, "dst")
    os.mkdir(dst)
    yield src, dst
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def source(mms, files):
    """A real data source (id) on the module's server."""
    return mms.create_sqlite_source(files[0], files[1], project="conv", name="conventions")


def source_body(files, **extra):
    body = {"name": "conv-%d" % time.monotonic_ns(), "type": "SQLITE",
            "config": {"sqlite.path": files[0], "dst.url": "sqlite://" + files[1],
                       "dst.project": "conv"}}
    body.update(extra)
    return body


# ---- envelope, request id, errors -------------------------------------------------------------

def test_healthz(mms):
    data = assert_envelope(mms.call("GET", "/healthz"))
    assert data is not None


def test_success_envelope_and_request_ids(mms, files):
    data = assert_envelope(mms.call("POST", DS, body=source_body(files)))
    assert set(data) == {"dataSourceId"} and isinstance(data["dataSourceId"], int), data

    ids, lock = [], threading.Lock()

    def one():
        r = mms.call("GET", "/healthz")
        assert_envelope(r)
        with lock:
            ids.append(r[1]["requestId"])
    threads = [threading.Thread(target=one) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 40 and len(set(ids)) == 40, "request ids are not unique: %r" % ids


@pytest.mark.parametrize("method,path", [
    ("GET", "/"),
    ("GET", "/api/v1/mms"),
    ("GET", "/api/v1/mms/"),
    ("GET", "/api/v1/mms/nothing"),
    ("GET", "/api/v1/mms/datasources/1/nothing"),
    ("GET", "/api/v1/mms/datasources/1/asyncTasks"),
    ("GET", "/api/v1/mms/datasources/1/asyncTasks/1/x"),
    ("GET", "/API/V1/MMS/DATASOURCES"),
    ("GET", "/api/v1/mms/datasources/1/timers"),
    ("PATCH", "/api/v1/mms/datasources"),
    ("DELETE", "/api/v1/mms/datasources"),
    ("POST", "/api/v1/mms/datasources/1/asyncTasks/1"),
    ("DELETE", "/api/v1/mms/datasources/1/jobs/1"),     # DeleteMmsJob is POST
    ("GET", "/api/v1/mms/datasources/1/jobs/1/start"),
    ("PUT", "/api/v1/mms/configItems"),
    ("POST", "/healthz"),
])
def test_unknown_path_or_method(mms, method, path):
    assert_error(mms.call(method, path), 404, "InvalidAction.NotFound")


def test_error_on_unknown_path_with_body_and_query(mms):
    r = mms.call("POST", "/api/v1/mms/nope", query={"a": "1"}, raw_body=b"\xff\x00not json")
    assert_error(r, 404, "InvalidAction.NotFound")


# ---- path ids ---------------------------------------------------------------------------------

BAD_IDS = ["abc", "-1", "0", "00", "99999999999999999999", "9223372036854775808", "",
           "%201", "01", "1%20", "+1", "%2B1", "1.0", "1e3", "0x10", "1a", "%09" + "1",
           "%E2%91%A0", "%EF%BC%91"]


# Every route with path ids, with a body that is valid when it takes one, so that the bad id is
# the only thing wrong with the request.
ID_ROUTES = [
    ("GET", "/datasources/{sourceId}", None),
    ("PUT", "/datasources/{sourceId}", {"action": "RENAME", "name": "n"}),
    ("DELETE", "/datasources/{sourceId}", None),
    ("POST", "/datasources/{sourceId}/scans", {}),
    ("GET", "/datasources/{sourceId}/scans/{scanId}", None),
    ("GET", "/datasources/{sourceId}/asyncTasks/{asyncTaskId}", None),
    ("GET", "/datasources/{sourceId}/dbs", None),
    ("GET", "/datasources/{sourceId}/dbs/{dbId}", None),
    ("PUT", "/datasources/{sourceId}/dbs/{dbId}", {"status": "INIT"}),
    ("GET", "/datasources/{sourceId}/tables", None),
    ("PUT", "/datasources/{sourceId}/tables", {"status": "INIT", "tableNames": ["t"]}),
    ("GET", "/datasources/{sourceId}/tables/{tableId}", None),
    ("PUT", "/datasources/{sourceId}/tables/{tableId}", {"status": "INIT"}),
    ("GET", "/datasources/{sourceId}/partitions", None),
    ("GET", "/datasources/{sourceId}/partitions/{partitionId}", None),
    ("POST", "/datasources/{sourceId}/jobs", {"name": "j", "srcDbName": "main"}),
    ("GET", "/datasources/{sourceId}/jobs", None),
    ("GET", "/datasources/{sourceId}/jobs/{jobId}", None),
    ("POST", "/datasources/{sourceId}/jobs/{jobId}", None),
    ("POST", "/datasources/{sourceId}/jobs/{jobId}/start", None),
    ("POST", "/datasources/{sourceId}/jobs/{jobId}/stop", None),
    ("POST", "/datasources/{sourceId}/jobs/{jobId}/retry", None),
    ("GET", "/datasources/{sourceId}/tasks", None),
    ("GET", "/datasources/{sourceId}/tasks/{taskId}", None),
    ("POST", "/datasources/{sourceId}/tasks/{taskId}/retry", None),
    ("GET", "/datasources/{sourceId}/tasks/{taskId}/logs", None),
]


def _params(pattern):
    return re.findall(r"\{(\w+)\}", pattern)


def _code(param):
    return "InvalidParameter." + param[0].upper() + param[1:]


ID_CASES = [(m, p, b, param) for m, p, b in ID_ROUTES for param in _params(p)]


@pytest.mark.parametrize("method,pattern,body,param", ID_CASES,
                         ids=["%s %s {%s}" % (m, p, q) for m, p, b, q in ID_CASES])
def test_bad_path_ids(mms, source, method, pattern, body, param):
    """Each path id, malformed in every way, is a 400 naming that parameter; the other ids are
    well-formed (the data source exists, the second id is a valid int64)."""
    failures = []
    for bad in BAD_IDS:
        path = API + pattern
        for p in _params(pattern):
            value = bad if p == param else (str(source) if p == "sourceId" else "1")
            path = path.replace("{%s}" % p, value)
        status, b, h = mms.call(method, path, body=body)
        if status != 400 or not isinstance(b, dict) or b.get("code") != _code(param):
            failures.append("%s %s -> %s %r" % (method, path, status, b))
        else:
            assert_error((status, b, h), 400, _code(param), mention=param)
    assert not failures, "\n".join(failures)


def test_nul_in_path_is_not_truncated(mms, source):
    """A percent-encoded NUL must not cut the path short and route the request to another
    operation (GET .../datasources/1%00/asyncTasks/5 is not GetMmsDataSource 1)."""
    for path in ("%s/%d%%00/asyncTasks/5" % (DS, source),
                 "%s/%d/asyncTasks/1%%00/x" % (DS, source),
                 "%s/%d/asyncTasks/1%%00" % (DS, source)):
        status, body, _ = mms.call("GET", path)
        assert status in (400, 404) and body["code"] in (
            "InvalidAction.NotFound", "InvalidParameter.SourceId",
            "InvalidParameter.AsyncTaskId", "InvalidParameter.Path"), (path, status, body)


def test_async_task_not_found(mms, source):
    for aid in ("1", "999999999", "9223372036854775807"):
        assert_error(mms.call("GET", "%s/%d/asyncTasks/%s" % (DS, source, aid)), 404,
                     "NotFound.AsyncTask")
    # A data source that does not exist: still a 404, never a 500.
    status, body, _ = mms.call("GET", "%s/9223372036854775807/asyncTasks/1" % DS)
    assert status == 404 and body["code"].startswith("NotFound."), body


def test_async_task_of_another_source_is_not_found(mms, files, source):
    other = mms.create_sqlite_source(files[0], files[1], project="conv", name="other source")
    aid = mms.update_source(source, {"action": "START"})["asyncTaskId"]
    assert_envelope(mms.call("GET", "%s/%d/asyncTasks/%d" % (DS, source, aid)))

    missing = aid + 1000000
    r_other = mms.call("GET", "%s/%d/asyncTasks/%d" % (DS, other, aid))
    r_missing = mms.call("GET", "%s/%d/asyncTasks/%d" % (DS, other, missing))
    b_other = assert_error(r_other, 404, "NotFound.AsyncTask")
    b_missing = assert_error(r_missing, 404, "NotFound.AsyncTask")
    assert b_other["message"].replace(str(aid), "N") == \
        b_missing["message"].replace(str(missing), "N"), (b_other, b_missing)


# ---- GetMmsAsyncTask shape --------------------------------------------------------------------

SEED_FIELDS = {"id", "sourceId", "type", "objectId", "status", "running", "progress", "result",
               "errorMsg", "startTime", "endTime", "createTime"}


def check_async_shape(t, source_id, aid):
    assert set(t) == SEED_FIELDS, "fields differ from the seed: %r" % sorted(t)
    assert type(t["id"]) is int and t["id"] == aid
    assert type(t["sourceId"]) is int and t["sourceId"] == source_id
    assert type(t["type"]) is str and t["type"]
    assert type(t["objectId"]) is int, t
    assert t["status"] in ("INIT", "DOING", "DONE", "FAILED"), t
    assert type(t["running"]) is bool and t["running"] == (t["status"] == "DOING"), t
    assert type(t["progress"]) is int and 0 <= t["progress"] <= 100, t
    assert t["result"] is None or type(t["result"]) is str, t
    assert t["errorMsg"] is None or type(t["errorMsg"]) is str, t
    if t["status"] != "FAILED":
        assert t["errorMsg"] is None, t
    else:
        assert t["errorMsg"], t
    if t["result"] is not None:
        json.loads(t["result"])  # a JSON text
    assert type(t["createTime"]) is str and TIME_RE.match(t["createTime"]), t
    for k in ("startTime", "endTime"):
        assert t[k] is None or (type(t[k]) is str and TIME_RE.match(t[k])), t
    if t["status"] in ("DONE", "FAILED"):
        assert t["startTime"] and t["endTime"], t
        assert t["createTime"] <= t["startTime"] <= t["endTime"], t
    if t["status"] == "INIT":
        assert t["endTime"] is None, t


def test_get_async_task_has_exactly_the_seed_fields(mms, source):
    r = mms.update_source(source, {"action": "START"})
    assert set(r) == {"sourceId", "asyncTaskId"} and r["sourceId"] == source, r
    aid = r["asyncTaskId"]
    assert type(aid) is int and aid > 0
    seen = []

    def done():
        t = assert_envelope(mms.call("GET", "%s/%d/asyncTasks/%d" % (DS, source, aid)))
        check_async_shape(t, source, aid)
        seen.append(t["status"])
        return t if t["status"] in ("DONE", "FAILED") else None
    t = wait(done, 30, what="the START async task")
    assert t["status"] == "DONE", t
    assert t["type"] == "DATASOURCE_START" and t["objectId"] == source, t
    assert t["progress"] == 100 and t["running"] is False, t
    # Statuses only move forward.
    order = ["INIT", "DOING", "DONE"]
    idx = [order.index(s) for s in seen]
    assert idx == sorted(idx), seen


# ---- body limits ------------------------------------------------------------------------------

def test_body_over_limit_declared_length(mms, files):
    body = source_body(files, name="x" * (MAX_BODY + 10))
    raw = json.dumps(body).encode()
    assert len(raw) > MAX_BODY
    assert_error(mms.call("POST", DS, raw_body=raw), 413, "RequestBodyTooLarge")
    assert_envelope(mms.call("GET", "/healthz"))


def test_body_at_the_limit_is_read(mms, files):
    """Exactly 1 MiB is accepted by the transport (the handler may still reject its content)."""
    raw = json.dumps(source_body(files, name="")).encode()
    pad = MAX_BODY - len(raw)
    raw = raw[:-1] + b" " * pad + b"}"
    assert len(raw) == MAX_BODY
    status, body, _ = mms.call("POST", DS, raw_body=raw)
    assert status != 413, body


def _chunked_post(mms, path, chunks):
    conn = http.client.HTTPConnection("127.0.0.1", mms.port, timeout=30)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        try:
            for c in chunks:
                conn.send(b"%x\r\n%s\r\n" % (len(c), c))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        r = conn.getresponse()
        raw = r.read()
        return r.status, json.loads(raw) if raw else None, {k.lower(): v
                                                           for k, v in r.getheaders()}
    finally:
        conn.close()


def test_body_over_limit_chunked(mms):
    chunks = [b'{"name":"'] + [b"x" * 65536] * 20 + [b'"}']
    assert sum(len(c) for c in chunks) > MAX_BODY
    assert_error(_chunked_post(mms, DS, chunks), 413, "RequestBodyTooLarge")
    # A small chunked body is read normally.
    status, body, _ = _chunked_post(mms, DS, [b'{"na', b'me": 1', b"}"])
    assert status == 400 and body["code"] != "RequestBodyTooLarge", body
    assert_envelope(mms.call("GET", "/healthz"))


@pytest.mark.parametrize("raw", [
    b'{"name": ',
    b"{name: 1}",
    b"{'name': 'x'}",
    b'{"name": "x",}',
    b'{"name": "x"} trailing',
    b'{"name": "x"}{"name": "y"}',
    b"[1, 2]",
    b'"a string"',
    b"42",
    b"null",
    b"true",
    b'{"name": "\xff\xfe"}',
    b'{"name": "\\ud800"}',
    b'{"name": NaN}',
    b'{"name": "a", "name": "b"}',
    b'{"config": {"k": 1, "k": 2}}',
])
def test_bad_json_body(mms, raw):
    assert_error(mms.call("POST", DS, raw_body=raw), 400, "InvalidParameter.Body")


def _nested(depth):
    return ('{"a":' * depth + "1" + "}" * depth).encode()


def test_json_depth_limit(mms):
    assert_error(mms.call("POST", DS, raw_body=_nested(33)), 400, "InvalidParameter.Body")
    assert_error(mms.call("POST", DS, raw_body=b"[" * 100000 + b"]" * 100000), 400,
                 "InvalidParameter.Body")
    # 32 levels parse; "a" is then an unknown field.
    status, body, _ = mms.call("POST", DS, raw_body=_nested(32))
    assert status == 400 and body["code"] == "InvalidParameter.UnknownField", body
    # Brackets inside strings are not nesting.
    status, body, _ = mms.call("POST", DS, body={"name": "[" * 30 + "{" * 30,
                                                 "bogusField": 1})
    assert status == 400 and body["code"] == "InvalidParameter.UnknownField", body


def test_unknown_body_field(mms, files):
    r = mms.call("POST", DS, body=source_body(files, bogusField=1))
    assert_error(r, 400, "InvalidParameter.UnknownField", mention="bogusField")


def test_string_too_long(mms, files):
    r = mms.call("POST", DS, body=source_body(files, name="n" * 2000))
    assert_error(r, 400, "InvalidParameter.Name")


def test_wrong_body_field_types(mms, files):
    for field, value in (("name", 5), ("name", ["a"]), ("type", {"a": 1}), ("config", "x"),
                         ("config", [1])):
        body = source_body(files)
        body[field] = value
        status, b, _ = mms.call("POST", DS, body=body)
        assert status == 400 and b["code"].startswith("InvalidParameter."), (field, value, b)
        assert field in b["message"] or b["code"].lower().endswith(field.lower()), b


# ---- query limits and paging ------------------------------------------------------------------

def test_too_many_query_parameters(mms):
    q = [("p%d" % i, "v") for i in range(65)]
    assert_error(mms.call("GET", DS, query=q), 400, "InvalidParameter.Query")
    q = [("p%d" % i, "v") for i in range(64)]
    status, body, _ = mms.call("GET", DS, query=q)
    if status != 200:
        assert body["code"] != "InvalidParameter.Query", body


LIST_PATHS = ["/datasources", "/datasources/{sid}/dbs", "/datasources/{sid}/tables",
              "/datasources/{sid}/partitions", "/datasources/{sid}/jobs",
              "/datasources/{sid}/tasks"]


@pytest.mark.parametrize("path", LIST_PATHS)
def test_paging_parameters(mms, source, path):
    url = API + path.replace("{sid}", str(source))
    failures = []
    for name, value in (("pageSize", "0"), ("pageSize", "1001"), ("pageSize", "abc"),
                        ("pageSize", "-1"), ("pageSize", "1.5"),
                        ("pageSize", "99999999999999999999"), ("pageSize", " 5"),
                        ("pageNum", "0"), ("pageNum", "-1"), ("pageNum", "x"),
                        ("pageNum", "99999999999999999999")):
        q = {"pageNum": "1", "pageSize": "10"}
        q[name] = value
        status, body, h = mms.call("GET", url, query=q)
        code = "InvalidParameter." + name[0].upper() + name[1:]
        if status != 400 or body.get("code") != code:
            failures.append("%s?%s=%r -> %s %r" % (url, name, value, status, body))
        else:
            assert_error((status, body, h), 400, code, mention=name)
    assert not failures, "\n".join(failures)

    for size in ("1", "1000"):
        page = assert_envelope(mms.call("GET", url, query={"pageNum": "1", "pageSize": size}))
        assert set(page) == {"total", "pageNum", "pageSize", "objectList"}, page
        assert page["pageNum"] == 1 and page["pageSize"] == int(size), page
        assert type(page["total"]) is int and isinstance(page["objectList"], list), page
        assert len(page["objectList"]) <= int(size)
    # The largest pageNum must not overflow the offset (a crash under UBSan): 400 or empty.
    status, body, _ = mms.call("GET", url, query={"pageNum": "9223372036854775807",
                                                  "pageSize": "1000"})
    assert status in (200, 400), (status, body)
    if status == 400:
        assert body["code"] == "InvalidParameter.PageNum", body
    else:
        assert body["data"]["objectList"] == [], body
    # A page past the end is empty, not an error.
    page = assert_envelope(mms.call("GET", url, query={"pageNum": "100000", "pageSize": "10"}))
    assert page["objectList"] == [] and page["pageNum"] == 100000, page


def test_oversized_header_is_refused(mms):
    status, body, _ = mms.call("GET", "/healthz", headers={"X-Big": "a" * 100000})
    assert status in (400, 413, 431), status
    assert_envelope(mms.call("GET", "/healthz"))


# ---- process: shutdown, lock, command line ----------------------------------------------------

def _raw_request_start(port, path, body_total):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\nConnection: close\r\n\r\n" % (path, body_total)).encode())
    return s


def _read_all(s):
    out = b""
    while True:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        if not b:
            break
        out += b
    return out


def test_sigterm_lets_in_flight_requests_finish(mmsd_factory):
    srv = mmsd_factory()
    body = json.dumps({"name": "inflight", "type": "SQLITE", "config": {}}).encode()
    s = _raw_request_start(srv.port, DS, len(body))
    s.sendall(body[:10])
    time.sleep(0.3)  # the request is in flight: headers and part of the body are in
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    # No new connections are served while shutting down.
    try:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=2)
        c.request("GET", "/healthz")
        got = c.getresponse().status
    except (OSError, http.client.HTTPException):
        got = None
    assert got is None, "a new request was served after SIGTERM (%r)" % got
    s.sendall(body[10:])
    resp = _read_all(s)
    s.close()
    assert resp.startswith(b"HTTP/1.1 "), resp[:200]
    head, _, payload = resp.partition(b"\r\n\r\n")
    j = json.loads(payload)
    assert "requestId" in j, j  # a complete answer in our envelope
    rc = srv.proc.wait(timeout=15)
    assert rc == 0, srv.log_tail()
    assert time.monotonic() - t0 < 10
    log = srv.log_text()
    assert re.search(r"SIGTERM", log) and re.search(r"stopped", log), srv.log_tail()
    srv.proc = None  # already reaped
    srv._forget()


def test_sigterm_grace_is_bounded(mmsd_factory):
    srv = mmsd_factory(args=["--shutdown-grace", "1"])
    s = _raw_request_start(srv.port, DS, 1000)
    s.sendall(b'{"na')  # and never the rest
    time.sleep(0.3)
    t0 = time.monotonic()
    rc = srv.terminate(timeout=20)
    took = time.monotonic() - t0
    s.close()
    assert rc == 0, srv.log_tail()
    assert took < 8, "SIGTERM took %.1fs with a 1s grace" % took


def test_sigint_exits_zero(mmsd_factory):
    srv = mmsd_factory()
    srv.proc.send_signal(signal.SIGINT)
    assert srv.proc.wait(timeout=20) == 0, srv.log_tail()
    srv._forget()


def test_second_mmsd_on_the_same_data_dir_refuses(mmsd_factory):
    first = mmsd_factory()
    second = Mmsd(data_dir=first.data_dir)
    p = subprocess.run(second.command(0), capture_output=True, timeout=30,
                       env=second._env())
    assert p.returncode != 0
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    assert re.search(r"lock|in use", out, re.I), out
    # The first one is unaffected.
    assert_envelope(first.call("GET", "/healthz"))


def test_store_of_another_schema_version_is_refused(tmp_path):
    """A data dir written by an older mmsd (no schema version) is refused with a message that
    says what to do, before anything is changed in it."""
    import sqlite3
    d = tmp_path / "old"
    d.mkdir()
    with sqlite3.connect(str(d / "mms.db")) as db:
        db.execute("CREATE TABLE datasource (id INTEGER PRIMARY KEY, name TEXT)")
    p = _run(["--data-dir", str(d), "--listen", "127.0.0.1:0", "--insecure-no-auth"])
    assert p.returncode != 0
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    assert "schema version 0" in out and "needs version" in out and "--data-dir" in out, out
    with sqlite3.connect(str(d / "mms.db")) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type='table'")]
    assert tables == ["datasource"]


def _run(args, env=None, timeout=10):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([binary_path()] + args, capture_output=True, timeout=timeout, env=e)


def test_help_lists_options_with_env_names():
    p = _run(["--help"])
    assert p.returncode == 0, p
    out = (p.stdout + p.stderr).decode()
    for opt, env in (("--listen", "MMS_LISTEN"), ("--data-dir", "MMS_DATA_DIR"),
                     ("--store", "MMS_STORE"), ("--workers", "MMS_WORKERS"),
                     ("--log-level", "MMS_LOG_LEVEL"), ("--log-format", "MMS_LOG_FORMAT"),
                     ("--config", "MMS_CONFIG")):
        line = next((ln for ln in out.splitlines() if opt in ln.split()), None)
        assert line and env in line, "--help does not list %s with %s:\n%s" % (opt, env, out)


@pytest.mark.parametrize("args,env,mention", [
    (["--workers", "abc"], None, "workers"),
    (["--workers", "0"], None, "workers"),
    (["--workers", "99999999999999999999"], None, "workers"),
    (["--lease-seconds", "-5"], None, "lease-seconds"),
    (["--poll-ms", ""], None, "poll-ms"),
    (["--no-such-option"], None, "no-such-option"),
    ([], {"MMS_WORKERS": "many"}, "workers"),
    (["--log-level", "loud"], None, "log-level"),
])
def test_bad_option_value_exits_2(tmp_path, args, env, mention):
    p = _run(args + ["--data-dir", str(tmp_path / "d"), "--listen", "127.0.0.1:0"], env=env)
    err = (p.stdout + p.stderr).decode()
    assert p.returncode == 2, "exit %d: %s" % (p.returncode, err)
    assert mention in err, err


def test_bad_value_in_config_file_exits_2(tmp_path):
    cfg = tmp_path / "mmsd.conf"
    cfg.write_text("workers = many\n")
    p = _run(["--config", str(cfg), "--data-dir", str(tmp_path / "d")])
    err = (p.stdout + p.stderr).decode()
    assert p.returncode == 2 and "workers" in err, (p.returncode, err)
