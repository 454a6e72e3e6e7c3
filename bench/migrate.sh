#!/usr/bin/env bash
# bench/migrate.sh: migration speed and memory of mms, through the HTTP API, in two sections.
#
# 1. SQLite -> SQLite, one big table, for ROWS rows and again for 3 x ROWS rows: rows/s, MB/s
#    and the peak RSS (VmHWM) of mmsd (the RSS must not grow with the table: goal < 256 MB).
# 2. Network paths, on one set of generated data (ROWS rows of mixed types, the same rows in
#    every source), each beside its peer (bench/lib/netbench.py):
#      SQLite -> PostgreSQL, MySQL -> PostgreSQL, CSV files -> PostgreSQL: mms vs pgloader;
#      PostgreSQL -> PostgreSQL: mms vs psql COPY TO STDOUT | psql COPY FROM STDIN;
#      PostgreSQL -> MySQL, MySQL -> MySQL: mms alone.
#    A PostgreSQL 15 and a MariaDB server are started for the run (scripts/testdb.sh) in the
#    temporary directory and stopped at the end.
#
#   bench/migrate.sh [--quick] [ROWS]   ROWS default 5000000; --quick: 500000
#   SECTIONS=sqlite,net                 which sections to run (default both)
#   ONLY=sqlite-pg,pg-pg,...            network paths to run (default all; keys: sqlite-pg,
#                                       mysql-pg, csv-pg, pg-pg, pg-mysql, mysql-mysql)
#   VERIFY=checksum bench/migrate.sh    also verify with checksums (default: row counts)
#   TIMEOUT=3600                        seconds allowed per migration
#
# Each mms run uses its own mmsd (bin/mmsd, 127.0.0.1, a free port, a temporary data directory)
# so that each VmHWM belongs to one migration. Everything is stopped and removed at the end
# (KEEP=1 keeps the directory; the servers are stopped anyway).
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) ROWS=${ROWS:-500000} ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        [0-9]*) ROWS=$1 ;;
        *) echo "usage: $0 [--quick] [ROWS]" >&2; exit 2 ;;
    esac
    shift
done
ROWS=${ROWS:-${BENCH_ROWS:-5000000}}
export VERIFY=${VERIFY:-count}
export TIMEOUT=${TIMEOUT:-3600}
SECTIONS=${SECTIONS:-sqlite,net}

scripts/install-deps.sh --bench
if ! command -v pgloader >/dev/null; then
    echo "bench: pgloader is missing after install-deps" >&2
    exit 1
fi
make -s -j2 bin/mmsd

T=$(mktemp -d /tmp/mms-bench-migrate.XXXXXX)
export T
cleanup() {
    scripts/testdb.sh stop pg "$T" || true
    scripts/testdb.sh stop mysql "$T" || true
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), ROWS=$ROWS" >&2

if [[ ,$SECTIONS, == *,sqlite,* ]]; then
echo "==== SQLite -> SQLite ($ROWS and $((ROWS * 3)) rows)"
for n in "$ROWS" $((ROWS * 3)); do
    echo "bench: generating $n rows" >&2
    t0=$(date +%s.%N)
    /usr/bin/python3 tests/e2e/fixtures.py build "$T/src-$n.db" --rows "$n" --big-only >/dev/null
    echo "bench: generated in $(/usr/bin/python3 -c "print(round($(date +%s.%N) - $t0, 1))") s," \
        "$(du -m "$T/src-$n.db" | cut -f1) MB" >&2
done

# The harness (tests/lib/mmsd.py) runs mmsd and drives the API; its exit kills what it started.
MMSD_BIN=bin/mmsd /usr/bin/python3 - "$ROWS" $((ROWS * 3)) <<'EOF'
import json, os, re, sys, time
sys.path.insert(0, "tests/lib")
from mmsd import Mmsd, wait

T = os.environ["T"]
VERIFY = os.environ["VERIFY"]
TIMEOUT = int(os.environ["TIMEOUT"])


def secs(a, b):
    fmt = "%Y-%m-%d %H:%M:%S"
    return time.mktime(time.strptime(b, fmt)) - time.mktime(time.strptime(a, fmt))


def run(rows):
    src = "%s/src-%d.db" % (T, rows)
    dst = "%s/dst-%d" % (T, rows)
    os.mkdir(dst)
    srv = Mmsd(data_dir="%s/data-%d" % (T, rows), keep_data_dir=True)
    srv.start()
    try:
        sid = srv.create_sqlite_source(src, dst, project="bench")
        scan = srv.scan(sid)
        assert scan["status"] == "SCAN_DONE", scan
        others = {"verify": "checksum"} if VERIFY == "checksum" else {}
        t0 = time.monotonic()
        job_id, _ = srv.create_job(sid, {"name": "bench %d" % rows, "srcDbName": "main",
                                         "enableVerification": True, "others": others})
        job = srv.wait_job(sid, job_id, timeout=TIMEOUT, interval=0.1)
        wall = time.monotonic() - t0
        rss_kib = srv.rss_hwm_kib()  # sampled at the end, before stopping
        assert job["status"] == "DONE", job
        task = srv.tasks(sid, job_id)[0]
        task_s = secs(task["startTime"], task["endTime"]) if task.get("endTime") else None
        logs = srv.task_logs(sid, task["id"])
    finally:
        srv.stop()
    import sqlite3
    n = sqlite3.connect("%s/bench.db" % dst).execute('SELECT count(*) FROM "big"').fetchone()[0]
    assert n == rows, "destination has %d rows, expected %d" % (n, rows)
    mb = os.path.getsize(src) / 1e6
    # The DATA stage's own duration, when its log message reports one ("... in 0.82 s ...").
    data_s = None
    for e in logs:
        if e["status"] == "DATA_DONE":
            m = re.search(r"\bin ([0-9.]+) s\b", e["msg"] or "")
            data_s = float(m.group(1)) if m else None
    return {"rows": rows, "mb": mb, "wall": wall, "task_s": task_s, "data_s": data_s,
            "rss_mb": rss_kib / 1024.0, "logs": logs}


results = [run(int(a)) for a in sys.argv[1:]]
print()
print("verification: %s" % VERIFY)
print("%10s %8s %8s %7s %7s %12s %12s %12s %8s %12s" % (
    "rows", "src MB", "wall s", "task s", "DATA s", "rows/s wall", "rows/s task", "rows/s DATA",
    "MB/s", "peak RSS MB"))
for r in results:
    ts, ds = r["task_s"], r["data_s"]
    print("%10d %8.1f %8.2f %7s %7s %12.0f %12s %12s %8.1f %12.1f" % (
        r["rows"], r["mb"], r["wall"], "%d" % ts if ts is not None else "-",
        "%.2f" % ds if ds else "-", r["rows"] / r["wall"],
        "%.0f" % (r["rows"] / ts) if ts else "-", "%.0f" % (r["rows"] / ds) if ds else "-",
        r["mb"] / r["wall"], r["rss_mb"]))
print()
print("rows/s wall: from CreateMmsJob to the job seen DONE (includes job creation, schema,")
print("data and verification; polled every 0.1 s). rows/s task: from the task's startTime to")
print("its endTime (1 s resolution). DATA s: the copy's duration as its DATA_DONE log entry")
print("reports it. MB/s: source file size / wall time. peak RSS: VmHWM of mmsd at the end.")
g = results[-1]["rss_mb"] / results[0]["rss_mb"]
print("peak RSS %dx rows / 1x rows: %.2f (goal: flat, and < 256 MB)"
      % (results[-1]["rows"] // results[0]["rows"], g))
print()
print("task log of the %d-row run:" % results[0]["rows"])
for e in results[0]["logs"]:
    print("  %s | %s | %s | %s" % (e["createTime"], e["status"], (e["action"] or "")[:90],
                                   (e["msg"] or "")[:90]))
EOF
rm -f "$T"/src-*.db
rm -rf "$T"/dst-* "$T"/data-*
fi

if [[ ,$SECTIONS, == *,net,* ]]; then
echo
echo "==== Network paths ($ROWS rows)"
scripts/testdb.sh start pg "$T" >"$T/pg.env"
scripts/testdb.sh start mysql "$T" >"$T/mysql.env"
mkdir -p "$T/net"
chmod 755 "$T/net"
(
    set -a
    . "$T/pg.env"
    . "$T/mysql.env"
    set +a
    MMSD_BIN=bin/mmsd /usr/bin/python3 bench/lib/netbench.py "$ROWS" "$T/net"
)
fi
