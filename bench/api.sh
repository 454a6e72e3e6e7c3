#!/usr/bin/env bash
# bench/api.sh: GetMmsAsyncTask under wrk (64 keep-alive connections), side by side with nginx
# serving the same JSON body as a static file, then again with 1,000,000 async tasks in the store.
#
#   bench/api.sh     10 s per run after a 2 s warm-up
#                    (DURATION=10 WARMUP=2 THREADS=2 CONNECTIONS=64 SEED=1000000)
#
# Everything listens on 127.0.0.1 on free ports, in a temporary directory that is removed at the
# end (KEEP=1 keeps it); every server started here is stopped by the exit trap.
# Goals (issue 2): mmsd >= 50% of nginx's requests/s, p99 < 10 ms, and <= 20% drop at 1M tasks.
#
# Authentication (issue 4): wrk cannot sign each request with a fresh nonce, so the wrk runs use
# mmsd --insecure-no-auth (the API path without authentication). The cost of authentication is
# measured separately at the end: AUTH_N requests pre-signed with fresh nonces (ACS3-HMAC-SHA256,
# tests/lib/mmsd.py), sent one after another on one keep-alive connection to an mmsd with
# authentication on, against the same loop unsigned to an mmsd with --insecure-no-auth.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
SEED=${SEED:-1000000}
WARMUP=${WARMUP:-2}

scripts/install-deps.sh --test
make -s -j2 bin/mmsd

T=$(mktemp -d /tmp/mms-bench-api.XXXXXX)
chmod 755 "$T" # nginx workers (www-data) read the static file below it
MMSD_PID=
NGINX_PID=
cleanup() {
    [ -n "$MMSD_PID" ] && kill "$MMSD_PID" 2>/dev/null && wait "$MMSD_PID" 2>/dev/null
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url
    for _ in $(seq 1 200); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench: $1 did not come up" >&2
    return 1
}

json_field() { # field < json
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(d[sys.argv[1]])' "$1"
}

MMSD_PORT=$(free_port)
MMSD_AUTH=${MMSD_AUTH:---insecure-no-auth}
start_mmsd() {
    # shellcheck disable=SC2086
    bin/mmsd --listen "127.0.0.1:$MMSD_PORT" --data-dir "$T/data" $MMSD_AUTH >>"$T/mmsd.log" 2>&1 &
    MMSD_PID=$!
    wait_http "http://127.0.0.1:$MMSD_PORT/healthz"
}
stop_mmsd() {
    kill -TERM "$MMSD_PID"
    local rc=0
    wait "$MMSD_PID" || rc=$?
    MMSD_PID=
    if [ "$rc" -ne 0 ]; then echo "bench: mmsd exited with $rc" >&2; tail -20 "$T/mmsd.log" >&2; exit 1; fi
}

# ---- mmsd with a few rows ----------------------------------------------------------------------
start_mmsd
BASE="http://127.0.0.1:$MMSD_PORT/api/v1/mms"
sqlite3 "$T/src.db" "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'x');"
mkdir -p "$T/dst"
SID=$(curl -fsS -X POST "$BASE/datasources" -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench\",\"type\":\"SQLITE\",\"config\":{\"sqlite.path\":\"$T/src.db\",\"dst.url\":\"sqlite://$T/dst\",\"dst.project\":\"bench\"}}" \
    | json_field dataSourceId)
AID=$(curl -fsS -X PUT "$BASE/datasources/$SID" -H 'Content-Type: application/json' \
    -d '{"action":"START"}' | json_field asyncTaskId)
URL="$BASE/datasources/$SID/asyncTasks/$AID"
for _ in $(seq 1 100); do
    st=$(curl -fsS "$URL" | json_field status)
    [ "$st" = DONE ] || [ "$st" = FAILED ] && break
    sleep 0.1
done
curl -fsS "$URL" >"$T/body.json"
echo "bench: GET $URL"
echo "bench: body ($(wc -c <"$T/body.json") bytes): $(cat "$T/body.json")"

run_wrk() { # name url
    # A short warm-up (discarded) so every server is measured with its caches and threads up.
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" "$2" >/dev/null 2>&1 || true
    echo "bench: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency $2" >&2
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$2" >"$T/wrk-$1.txt" 2>&1
    sed 's/^/    /' "$T/wrk-$1.txt" >&2
}

run_wrk mmsd "$URL"

# ---- nginx, the same body as a static file -----------------------------------------------------
mkdir -p "$T/www" "$T/nginx-tmp"
cp "$T/body.json" "$T/www/asynctask.json"
NGINX_PORT=$(free_port)
cat >"$T/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $T/nginx.pid;
error_log $T/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log $T/nginx-access.log;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path $T/nginx-tmp/body;
    proxy_temp_path $T/nginx-tmp/proxy;
    fastcgi_temp_path $T/nginx-tmp/fastcgi;
    uwsgi_temp_path $T/nginx-tmp/uwsgi;
    scgi_temp_path $T/nginx-tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $T/www;
        location = /asynctask { default_type application/json; try_files /asynctask.json =404; }
    }
}
EOF
nginx -p "$T" -c "$T/nginx.conf" -e "$T/nginx-error.log" &
NGINX_PID=$!
wait_http "http://127.0.0.1:$NGINX_PORT/asynctask"
run_wrk nginx "http://127.0.0.1:$NGINX_PORT/asynctask"
kill "$NGINX_PID"
wait "$NGINX_PID" 2>/dev/null || true
NGINX_PID=

# ---- mmsd with 1M async tasks in the store -----------------------------------------------------
stop_mmsd
echo "bench: seeding $SEED async tasks into $T/data/mms.db" >&2
t0=$(date +%s.%N)
sqlite3 "$T/data/mms.db" >/dev/null <<EOF
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < $SEED)
INSERT INTO async_task (source_id, type, object_id, status, progress, result, error_msg, params,
                        attempt, create_time, start_time, end_time)
SELECT $SID, CASE x % 3 WHEN 0 THEN 'TASK_CREATE' WHEN 1 THEN 'STOP_JOB' ELSE 'DATASOURCE_TEST' END,
       x, CASE WHEN x % 50 = 0 THEN 'FAILED' ELSE 'DONE' END, 100,
       CASE WHEN x % 50 = 0 THEN NULL ELSE '{"jobId":' || x || ',"tasks":3}' END,
       CASE WHEN x % 50 = 0 THEN 'seeded failure ' || x ELSE NULL END,
       '{"name":"seeded job ' || x || '"}', 1,
       strftime('%s','now') - 86400 + x / 100, strftime('%s','now') - 86400 + x / 100,
       strftime('%s','now') - 86400 + x / 100 + 1
FROM seq;
COMMIT;
EOF
COUNT=$(sqlite3 "$T/data/mms.db" "SELECT count(*) FROM async_task")
echo "bench: seeded in $(/usr/bin/python3 -c "print(round($(date +%s.%N) - $t0, 1))") s; async_task rows: $COUNT" >&2
start_mmsd
curl -fsS "$URL" >/dev/null
run_wrk mmsd-1m "$URL"
stop_mmsd

# ---- authentication overhead (sequential, pre-signed requests) ------------------------------------
AUTH_N=${AUTH_N:-3000}
KEY_JSON=$(bin/mmsd key create --admin --json --data-dir "$T/data" 2>/dev/null)
auth_loop() { # label key-json-or-empty
    /usr/bin/python3 - "$MMSD_PORT" "/api/v1/mms/datasources/$SID/asyncTasks/$AID" "$AUTH_N" \
        "$2" "$1" >>"$T/auth.txt" <<'EOF'
import http.client, json, sys, time
sys.path.insert(0, "tests/lib")
from mmsd import sign_request
port, path, n, key, label = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
base = {"Host": "127.0.0.1:%d" % port, "Accept": "application/json"}
if key:
    k = json.loads(key)
    reqs = [sign_request("GET", path, base, None, (k["accessKeyId"], k["accessKeySecret"]))
            for _ in range(n + 50)]
else:
    reqs = [dict(base) for _ in range(n + 50)]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for h in reqs[:50]:  # warm-up
    c.request("GET", path, headers=h)
    c.getresponse().read()
t0 = time.perf_counter()
for h in reqs[50:]:
    c.request("GET", path, headers=h)
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("auth bench: %s -> %d" % (label, r.status))
dt = time.perf_counter() - t0
print("%s %.1f" % (label, dt / n * 1e6))
EOF
}
start_mmsd
auth_loop noauth ""
stop_mmsd
MMSD_AUTH="" start_mmsd
auth_loop auth "$KEY_JSON"
stop_mmsd

# ---- the table -----------------------------------------------------------------------------------
/usr/bin/python3 - "$T" "$COUNT" <<'EOF'
import re, sys
T, count = sys.argv[1], int(sys.argv[2])

def parse(name):
    text = open("%s/wrk-%s.txt" % (T, name)).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    err = re.search(r"Socket errors:.*", text)
    return rps, p99, int(bad.group(1)) if bad else 0, err.group(0) if err else ""

rows = [("nginx (static file)", "nginx"), ("mmsd (few rows)", "mmsd"),
        ("mmsd (%d async tasks)" % count, "mmsd-1m")]
r = {k: parse(k) for _, k in rows}
print()
print("%-32s %12s %10s %8s" % ("server", "requests/s", "p99 ms", "non-2xx"))
for label, k in rows:
    rps, p99, bad, err = r[k]
    print("%-32s %12.0f %10.2f %8d %s" % (label, rps, p99, bad, err))
ratio = r["mmsd"][0] / r["nginx"][0]
drop = r["mmsd-1m"][0] / r["mmsd"][0]
print()
print("mmsd / nginx requests/s:        %.2f  (goal >= 0.50)" % ratio)
print("mmsd 1M / few requests/s:       %.2f  (goal >= 0.80)" % drop)
print("mmsd p99 few / 1M:              %.2f ms / %.2f ms  (goal < 10 ms)" % (r["mmsd"][1],
                                                                           r["mmsd-1m"][1]))
a = dict(line.split() for line in open("%s/auth.txt" % T))
print()
print("sequential GetMmsAsyncTask, one keep-alive connection (1M tasks in the store):")
print("  --insecure-no-auth:             %7.1f us/request" % float(a["noauth"]))
print("  ACS3-HMAC-SHA256 signed:        %7.1f us/request (+%.1f us for authentication)"
      % (float(a["auth"]), float(a["auth"]) - float(a["noauth"])))
EOF
