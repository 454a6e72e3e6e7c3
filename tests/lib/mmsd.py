"""Black-box harness: runs a real mmsd process and talks to it over HTTP.

Used by tests/api and tests/e2e (through their conftest.py) and by bench/migrate.sh.
Python 3 standard library only.

    srv = Mmsd()                 # binary from $MMSD_BIN (default bin/mmsd), fresh temp data dir
    srv.start()                  # 127.0.0.1, a free port, waits for GET /healthz
    status, body, headers = srv.call("GET", "/healthz")
    data = srv.ok("GET", "/api/v1/mms/datasources")     # asserts 200, returns body["data"]
    srv.stop()                   # SIGTERM; raises MmsdError unless the exit code is 0

Every instance logs (stdout and stderr) to <data dir>/mmsd.log; log_tail() shows its end.

Authentication: before its first start, an instance creates an admin access key with
`mmsd key create --admin --json --data-dir D` (srv.key = (id, secret)) and call() signs every
request with ACS3-HMAC-SHA256 as the Alibaba Cloud SDKs do (sign_request below, standard
library only). Pass auth=False to Mmsd() for a server started with --insecure-no-auth, and to
call() to send a request unsigned; call(auth=(id, secret)) signs with another key;
call(sign={...}) overrides what is signed (algo "ACS3"|"ROA", date, nonce, signed_headers,
content_sha256); call(tamper=fn) changes (url, data, headers) after signing. srv.cli(...) runs
`mmsd key|policy ...` on the instance's data dir; every secret it printed is in srv.secrets.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
API = "/api/v1/mms"

# Instances started and not yet stopped: conftest hooks print their log tails on failure.
LIVE = []

# Every secret the tests of this process created or sent (access key secrets from cli(),
# data-source passwords registered by tests): no mmsd log may contain any of them
# (Mmsd.secrets_in_log, checked by the pytest fixtures before a data directory is removed).
SECRETS = []


def register_secret(s):
    if s and s not in SECRETS:
        SECRETS.append(s)
    return s

ASYNC_TERMINAL = ("DONE", "FAILED")
SCAN_TERMINAL = ("SCAN_DONE", "SCAN_FAILED")
JOB_TERMINAL = ("DONE", "FAILED")


class MmsdError(AssertionError):
    pass


def binary_path():
    b = os.environ.get("MMSD_BIN", "bin/mmsd")
    if not os.path.isabs(b):
        b = os.path.join(ROOT, b)
    return b


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait(fn, timeout, interval=0.05, what=None):
    """Calls fn() until it returns something truthy; returns it. Raises MmsdError on timeout
    with the last value seen."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise MmsdError("timed out after %.1fs waiting for %s; last value: %r"
                            % (timeout, what or getattr(fn, "__name__", "condition"), last))
        time.sleep(interval)


def sqlite_url(directory):
    """dst.url for a destination directory: sqlite:///abs/dir."""
    return "sqlite://" + os.path.abspath(directory)


# ---- Request signatures (what @alicloud/openapi-client and the other SDKs send) -------------

def _rfc3986(b):
    return urllib.parse.quote(b, safe="-_.~")


def _query_pairs(raw_query):
    """Decoded (key bytes, value bytes) of a raw query, repeated keys merged with ','."""
    merged = {}
    order = []
    for field in (raw_query or "").split("&"):
        if not field:
            continue
        k, _, v = field.partition("=")
        kb = urllib.parse.unquote_to_bytes(k.replace("+", " "))
        vb = urllib.parse.unquote_to_bytes(v.replace("+", " "))
        if kb in merged:
            merged[kb] += b"," + vb
        else:
            merged[kb] = vb
            order.append(kb)
    return sorted(merged.items())


def acs3_string_to_sign(method, raw_path, raw_query, headers, signed_headers, content_sha256):
    """headers: {lower-case name: value}. Returns the string to sign (bytes)."""
    uri = raw_path.replace("+", "%20").replace("*", "%2A").replace("%7E", "~")
    query = b"&".join(k + b"=" + _rfc3986(v).encode() for k, v in _query_pairs(raw_query))
    canon_headers = "".join("%s:%s\n" % (h, headers[h].strip()) for h in signed_headers)
    canonical = b"\n".join([method.encode(), uri.encode(), query,
                            canon_headers.encode("utf-8"),
                            ";".join(signed_headers).encode(), content_sha256.encode()])
    return b"ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical).hexdigest().encode()


def roa_string_to_sign(method, raw_path, raw_query, headers):
    parts = [method] + [headers.get(h, "").strip() for h in
                        ("accept", "content-md5", "content-type", "date")]
    s = "\n".join(parts) + "\n"
    for h in sorted(k for k in headers if k.startswith("x-acs-")):
        s += "%s:%s\n" % (h, headers[h].strip())
    res = raw_path.encode()
    pairs = _query_pairs(raw_query)
    if pairs:
        res += b"?" + b"&".join(k + b"=" + v for k, v in pairs)
    return s.encode("utf-8") + res


def sign_request(method, target, headers, body, key, opts=None):
    """Signs one request. target = raw path[?raw query]; headers = {name: value} (must hold
    host); body = bytes or None; key = (id, secret). Returns a new headers dict with lower-case
    names. opts: algo ("ACS3" default, or "ROA"), date, nonce, signed_headers (list),
    content_sha256 (sent instead of the real digest), action."""
    opts = dict(opts or {})
    ak, secret = key
    h = {k.lower(): v for k, v in headers.items()}
    raw_path, _, raw_query = target.partition("?")
    body = body or b""
    nonce = opts.get("nonce") or uuid.uuid4().hex
    h.setdefault("x-acs-version", "2022-01-04")
    h.setdefault("x-acs-action", opts.get("action", "Mms"))
    h["x-acs-signature-nonce"] = nonce
    if opts.get("algo", "ACS3") == "ROA":
        h["date"] = opts.get("date") or time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                     time.gmtime())
        h["x-acs-signature-method"] = "HMAC-SHA1"
        h["x-acs-signature-version"] = "1.0"
        h.setdefault("accept", "application/json")
        sts = roa_string_to_sign(method, raw_path, raw_query, h)
        sig = base64.b64encode(hmac.new(secret.encode(), sts, hashlib.sha1).digest()).decode()
        h["authorization"] = "acs %s:%s" % (ak, sig)
        return h
    h["x-acs-date"] = opts.get("date") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    h["x-acs-content-sha256"] = opts.get("content_sha256") or hashlib.sha256(body).hexdigest()
    signed = opts.get("signed_headers") or sorted(
        k for k in h if k == "host" or k == "content-type" or k.startswith("x-acs-"))
    sts = acs3_string_to_sign(method, raw_path, raw_query, h, signed, h["x-acs-content-sha256"])
    sig = hmac.new(secret.encode(), sts, hashlib.sha256).hexdigest()
    h["authorization"] = "ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s" % (
        ak, ";".join(signed), sig)
    return h


class Mmsd:
    """One mmsd process on a data directory. Restartable on the same directory."""

    def __init__(self, binary=None, data_dir=None, args=(), env=None, lease_seconds=3,
                 poll_ms=50, keep_data_dir=None, auth=None, tls=None):
        self.binary = binary or binary_path()
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="mms-test-")
        self.args = list(args)
        self.env = dict(env or {})
        self.lease_seconds = lease_seconds
        self.poll_ms = poll_ms
        self.keep = keep_data_dir if keep_data_dir is not None else bool(
            os.environ.get("MMS_TEST_KEEP"))
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.data_dir, "mmsd.log")
        self._log = None
        self.starts = 0
        # auth: None = on unless args hold --insecure-no-auth.
        self.auth = ("--insecure-no-auth" not in self.args) if auth is None else auth
        self.key = None         # (id, secret) of the admin key call() signs with
        self.secrets = []       # every access key secret created through cli()
        self.tls = tls          # (cert file, key file): serve HTTPS, trust that certificate
        if tls:
            self.args += ["--tls-cert", tls[0], "--tls-key", tls[1]]

    # ---- process ------------------------------------------------------------------------

    @property
    def base(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def _ssl(self):
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=self.tls[0])
        ctx.check_hostname = False  # the test certificate names localhost/127.0.0.1
        return ctx

    # ---- access keys (mmsd key|policy) ------------------------------------------------------

    def cli(self, *args, check=True):
        """Runs `mmsd <args> --data-dir <data dir>`; returns the CompletedProcess (text)."""
        cmd = [self.binary] + list(args) + ["--data-dir", self.data_dir]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           env=self._env(), cwd=ROOT, timeout=60)
        m = re.search(r'"accessKeySecret": "([^"]+)"', p.stdout) or re.search(
            r"AccessKeySecret: *(\S+)", p.stdout)
        if m:
            self.secrets.append(m.group(1))
            register_secret(m.group(1))
        if check and p.returncode != 0:
            raise MmsdError("%s -> exit %d\nstdout: %s\nstderr: %s"
                            % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
        return p

    def create_key(self, admin=False):
        """A new access key; returns (id, secret)."""
        os.makedirs(self.data_dir, exist_ok=True)
        args = ["key", "create", "--json"] + (["--admin"] if admin else [])
        d = json.loads(self.cli(*args).stdout)
        return d["accessKeyId"], d["accessKeySecret"]

    def attach_policy(self, key_id, policy, name="p"):
        """Attaches a policy (dict or JSON text) to a key."""
        path = os.path.join(self.data_dir, "policy-%s-%s.json" % (key_id, name))
        with open(path, "w") as f:
            f.write(policy if isinstance(policy, str) else json.dumps(policy))
        return self.cli("policy", "attach", "--key", key_id, "--file", path, "--name", name)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def command(self, port):
        cmd = [self.binary, "--listen", "127.0.0.1:%d" % port, "--data-dir", self.data_dir,
               "--lease-seconds", str(self.lease_seconds), "--poll-ms", str(self.poll_ms)]
        return cmd + self.args

    def _env(self):
        env = dict(os.environ)
        # Sanitizer reports must turn into a non-zero exit code, which stop() checks.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=23")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        env.update(self.env)
        return env

    def start(self, timeout=30):
        """Starts mmsd and waits until GET /healthz answers 200. Retries on a port race."""
        if self.proc is not None:
            raise MmsdError("mmsd already running (pid %d)" % self.proc.pid)
        os.makedirs(self.data_dir, exist_ok=True)
        if self.auth and self.key is None:
            self.key = self.create_key(admin=True)
        for attempt in range(3):
            self.port = free_port()
            self._log = open(self.log_path, "ab")
            self._log.write(("\n==== test harness: start #%d on port %d: %s\n" % (
                self.starts + 1, self.port, " ".join(self.command(self.port)))).encode())
            self._log.flush()
            self.proc = subprocess.Popen(self.command(self.port), stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT,
                                         env=self._env(), cwd=ROOT)
            self.starts += 1
            LIVE.append(self)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                rc = self.proc.poll()
                if rc is not None:
                    break
                if self._healthy():
                    return self
                time.sleep(0.05)
            rc = self.proc.poll()
            if rc is None:
                self._forget(kill=True)
                raise MmsdError("mmsd did not answer /healthz within %ds\n%s"
                                % (timeout, self.log_tail()))
            self._forget()
            text = self.log_tail(20)
            if "in use" in text.lower() and "address" in text.lower() and attempt < 2:
                continue  # another process took the port between free_port() and bind()
            raise MmsdError("mmsd exited with code %d during start-up\n%s" % (rc, text))
        raise MmsdError("mmsd could not start")

    def _healthy(self):
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=2,
                                        context=self._ssl()) as r:
                return r.status == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def _forget(self, kill=False):
        if kill and self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self in LIVE:
            LIVE.remove(self)
        if self._log:
            self._log.close()
            self._log = None
        self.proc = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout=30):
        """SIGTERM, wait; returns the exit code (a negative signal number if it was killed after
        the timeout)."""
        if self.proc is None:
            return None
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self._forget()
                raise MmsdError("mmsd did not exit within %ds of SIGTERM\n%s"
                                % (timeout, self.log_tail()))
        rc = proc.returncode
        self._forget()
        return rc

    def stop(self, timeout=30):
        """SIGTERM and require exit code 0 (ASan/UBSan reports make it non-zero)."""
        if self.proc is None:
            return
        rc = self.terminate(timeout)
        if rc != 0:
            raise MmsdError("mmsd exited with code %r after SIGTERM (expected 0)\n%s"
                            % (rc, self.log_tail(80)))

    def kill9(self):
        """SIGKILL, as in a crash."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        with open(self.log_path, "ab") as f:
            f.write(b"\n==== test harness: kill -9\n")
        self._forget()

    def restart(self, timeout=30):
        """Clean stop (exit code checked), then start again on the same data directory."""
        self.stop()
        return self.start(timeout)

    def cleanup(self):
        """Kills a leftover process and removes the data directory (unless MMS_TEST_KEEP)."""
        self._forget(kill=True)
        if self.own_dir and not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def secrets_in_log(self):
        """The registered secrets (SECRETS) that appear in this instance's log."""
        text = self.log_text()
        return [x for x in SECRETS if x in text]

    def log_tail(self, n=60):
        lines = self.log_text().splitlines()
        return "---- mmsd log tail (%s) ----\n%s" % (self.log_path, "\n".join(lines[-n:]))

    def rss_hwm_kib(self):
        """VmHWM (peak resident set) of the running process, in KiB."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return None

    # ---- HTTP -----------------------------------------------------------------------------

    def call(self, method, path, query=None, body=None, raw_body=None, headers=None,
             timeout=60, auth=True, sign=None, tamper=None):
        """One request. path is sent as given (already percent-encoded); query is a dict or a
        list of pairs. body is JSON-encoded; raw_body (bytes or str) is sent verbatim.
        Signed with the admin key unless auth=False (or the server runs without auth);
        auth=(id, secret) signs with that key; sign = sign_request options; tamper(url, data,
        headers) -> (url, data, headers) runs after signing.
        Returns (status, parsed JSON body or None, headers dict with lower-case names)."""
        target = path
        if query:
            target += ("&" if "?" in path else "?") + urllib.parse.urlencode(query)
        url = self.base + target
        data = None
        hdrs = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
        elif raw_body is not None:
            data = raw_body.encode("utf-8") if isinstance(raw_body, str) else raw_body
        if data is not None:
            hdrs["Content-Type"] = "application/json; charset=utf-8"
        hdrs.update(headers or {})
        key = auth if isinstance(auth, tuple) else (self.key if auth else None)
        if key and (self.auth or isinstance(auth, tuple)):
            hdrs["Host"] = "127.0.0.1:%d" % self.port
            hdrs = sign_request(method, target, hdrs, data, key, sign)
        if tamper:
            url, data, hdrs = tamper(url, data, hdrs)
        req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ssl()) as r:
                status, raw, rh = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, raw, rh = e.code, e.read(), e.headers
        rhd = {k.lower(): v for k, v in rh.items()}
        parsed = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        return status, parsed, rhd

    def ok(self, method, path, query=None, body=None, **kw):
        """call() that requires 200 and returns body["data"]."""
        status, b, _ = self.call(method, path, query=query, body=body, **kw)
        if status != 200 or not isinstance(b, dict) or "data" not in b:
            raise MmsdError("%s %s -> %s %r" % (method, path, status, b))
        return b["data"]

    def wait(self, fn, timeout, interval=0.05, what=None):
        return wait(fn, timeout, interval, what)

    # ---- API helpers ----------------------------------------------------------------------

    def get_async(self, source_id, async_id):
        return self.ok("GET", "%s/datasources/%d/asyncTasks/%d" % (API, source_id, async_id))

    def wait_async(self, source_id, async_id, timeout=30):
        """Polls GetMmsAsyncTask until DONE or FAILED; returns the task dict."""
        def done():
            t = self.get_async(source_id, async_id)
            return t if t["status"] in ASYNC_TERMINAL else None
        return wait(done, timeout, what="async task %d to finish" % async_id)

    def create_sqlite_source(self, path, dst_dir, project="p", name=None, wait_start=True):
        """CreateMmsDataSource of type SQLITE; returns the data source id. With wait_start,
        waits until its start-up async work left the STARTING state."""
        name = name or "src-%d-%d" % (os.getpid(), int(time.time() * 1000) % 100000000)
        body = {"name": name, "type": "SQLITE",
                "config": {"sqlite.path": os.path.abspath(path), "dst.url": sqlite_url(dst_dir),
                           "dst.project": project}}
        data = self.ok("POST", API + "/datasources", body=body)
        sid = data["dataSourceId"]
        if wait_start:
            def started():
                ds = self.ok("GET", "%s/datasources/%d" % (API, sid))
                return ds if ds.get("status") not in ("STARTING", "STOPPING") else None
            wait(started, 30, what="data source %d to start" % sid)
        return sid

    def update_source(self, source_id, body):
        """UpdateMmsDataSource; returns {sourceId, asyncTaskId}."""
        return self.ok("PUT", "%s/datasources/%d" % (API, source_id), body=body)

    def start_source_async(self, source_id, timeout=30):
        """PUT action START; waits for and returns its async task."""
        r = self.update_source(source_id, {"action": "START"})
        return self.wait_async(source_id, r["asyncTaskId"], timeout)

    def scan(self, source_id, body=None, timeout=120):
        """CreateMmsFetchMetadataJob then polls GetMmsFetchMetadataJob to the end."""
        sid = self.ok("POST", "%s/datasources/%d/scans" % (API, source_id),
                      body=body if body is not None else {})["scanId"]

        def done():
            s = self.ok("GET", "%s/datasources/%d/scans/%d" % (API, source_id, sid))
            return s if s["status"] in SCAN_TERMINAL else None
        return wait(done, timeout, interval=0.1, what="scan %d" % sid)

    def create_job(self, source_id, body, timeout=60):
        """CreateMmsJob, waits for its TASK_CREATE; returns (job id, async task)."""
        aid = self.ok("POST", "%s/datasources/%d/jobs" % (API, source_id), body=body)[
            "asyncTaskId"]
        t = self.wait_async(source_id, aid, timeout)
        if t["status"] != "DONE":
            raise MmsdError("TASK_CREATE %d failed: %r" % (aid, t))
        return t["objectId"], t

    def get_job(self, source_id, job_id):
        return self.ok("GET", "%s/datasources/%d/jobs/%d" % (API, source_id, job_id))

    def wait_job(self, source_id, job_id, statuses=JOB_TERMINAL, timeout=300, interval=0.2):
        def done():
            j = self.get_job(source_id, job_id)
            return j if j["status"] in statuses else None
        return wait(done, timeout, interval, what="job %d to reach %s" % (job_id, statuses))

    def tasks(self, source_id, job_id):
        """All tasks of a job (ListMmsTasks, paged through)."""
        out, num = [], 1
        while True:
            page = self.ok("GET", "%s/datasources/%d/tasks" % (API, source_id),
                           query={"jobId": job_id, "pageNum": num, "pageSize": 100})
            out += page["objectList"]
            if len(out) >= page["total"] or not page["objectList"]:
                return out
            num += 1

    def get_task(self, source_id, task_id):
        return self.ok("GET", "%s/datasources/%d/tasks/%d" % (API, source_id, task_id))

    def task_logs(self, source_id, task_id):
        return self.ok("GET", "%s/datasources/%d/tasks/%d/logs" % (API, source_id, task_id))

    def tables(self, source_id, **filters):
        q = {"pageNum": 1, "pageSize": 1000}
        q.update(filters)
        return self.ok("GET", "%s/datasources/%d/tables" % (API, source_id),
                       query=q)["objectList"]

    def dbs(self, source_id):
        return self.ok("GET", "%s/datasources/%d/dbs" % (API, source_id),
                       query={"pageNum": 1, "pageSize": 1000})["objectList"]

    def task_of_table(self, source_id, job_id, table):
        for t in self.tasks(source_id, job_id):
            if t["srcTableName"] == table:
                return t
        raise MmsdError("job %d has no task for table %r" % (job_id, table))

    def wait_data_doing(self, source_id, job_id, table, timeout=120):
        """Waits until the task of `table` in the job is in DATA_DOING and, when the server
        reports rowsDone, has moved some rows; returns the task. Fails at once if the task
        went past DATA_DOING before it could be seen there."""
        def find():
            return next((t for t in self.tasks(source_id, job_id)
                         if t["srcTableName"] == table), None)
        task = wait(find, 60, what="a task for table %r" % table)

        def doing():
            t = self.get_task(source_id, task["id"])
            st = t["status"]
            if st in ("DONE", "DATA_DONE") or st.startswith("VERIFICATION") \
                    or st.endswith("_FAILED"):
                raise MmsdError("task %d went past DATA_DOING before it could be caught there"
                                " (make the big table bigger): %r" % (task["id"], t))
            if st != "DATA_DOING":
                return None
            if "rowsDone" in t and not t["rowsDone"]:
                return None
            return t
        return wait(doing, timeout, interval=0.01, what="task %d in DATA_DOING" % task["id"])


def data_stage_starts(logs):
    """The task-log entries that mark a start of the DATA stage (status DATA_DOING, the action or
    message saying start/attempt). An uninterrupted run has one; a resumed run more."""
    out = []
    for e in logs:
        text = "%s %s" % (e.get("action") or "", e.get("msg") or "")
        if e["status"] == "DATA_DOING" and re.search(r"\bstart|\battempt\b", text, re.I):
            out.append(e)
    return out


def format_logs(logs):
    return "\n".join("%s | %s | %s" % (e["status"], e["action"], e["msg"]) for e in logs)
