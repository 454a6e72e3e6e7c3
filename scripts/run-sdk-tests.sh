#!/usr/bin/env bash
# SDK compatibility suite (issue 4): Alibaba Cloud's generic OpenAPI clients
# (@alicloud/openapi-client, @alicloud/openapi-core) against a real mmsd over HTTPS.
#
#   scripts/run-sdk-tests.sh            uses bin/mmsd (or $MMSD_BIN)
#
# Installs the pinned npm packages into tests/sdk (npm ci from the lock file), makes a
# self-signed certificate, creates an admin key and a restricted key (with the policy below)
# in a fresh data directory, starts mmsd with TLS on a free
# loopback port, runs `node --test` and stops mmsd. The output ends with node's summary
# (# pass N / # fail N); the exit code is the test result.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MMSD=${MMSD_BIN:-bin/mmsd}
case "$MMSD" in /*) ;; *) MMSD="$ROOT/$MMSD" ;; esac
SDK=$ROOT/tests/sdk

die() { echo "run-sdk-tests: $*" >&2; exit 1; }
[ -x "$MMSD" ] || die "no mmsd binary at $MMSD (make bin/mmsd)"
command -v node >/dev/null || die "node is not installed"
command -v npm >/dev/null || die "npm is not installed"
command -v openssl >/dev/null || die "openssl is not installed"
command -v curl >/dev/null || die "curl is not installed"
command -v sqlite3 >/dev/null || die "sqlite3 (the command line tool) is not installed"

# ---- npm packages (pinned in package.json, locked in package-lock.json) --------------------
(
    cd "$SDK" || exit 1
    if [ -f package-lock.json ]; then
        # node_modules/.package-lock.json is npm's record of what it installed last.
        if [ node_modules/.package-lock.json -nt package-lock.json ] &&
           [ node_modules/.package-lock.json -nt package.json ]; then
            exit 0
        fi
        if ! npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null; then
            echo "npm ci failed" >&2
            exit 1
        fi
    else
        npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null || exit 1
    fi
) || die "could not install the npm packages of tests/sdk"

# ---- scratch directory, certificate, keys ----------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mms-sdk.XXXXXX") || die "mktemp failed"
PID=
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null
        for _ in $(seq 1 150); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$PID" 2>/dev/null && kill -KILL "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    [ -n "${MMS_TEST_KEEP:-}" ] && { echo "kept $TMP" >&2; return; }
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

DATA=$TMP/data
mkdir -p "$DATA" "$TMP/scratch"
chmod 700 "$TMP"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$TMP/tls.key" -out "$TMP/tls.crt" >/dev/null 2>&1 || die "openssl could not make a certificate"

json_field() { # $1 = JSON text, $2 = field
    node -e 'const o = JSON.parse(process.argv[1]); const v = o[process.argv[2]];
             if (typeof v !== "string" || !v) process.exit(1); process.stdout.write(v);' "$1" "$2"
}
ADMIN_JSON=$("$MMSD" key create --admin --json --data-dir "$DATA") || die "mmsd key create --admin failed"
RESTRICTED_JSON=$("$MMSD" key create --json --data-dir "$DATA") || die "mmsd key create failed"
MMS_SDK_ADMIN_ID=$(json_field "$ADMIN_JSON" accessKeyId) || die "key create printed: $ADMIN_JSON"
MMS_SDK_ADMIN_SECRET=$(json_field "$ADMIN_JSON" accessKeySecret) || die "key create printed no secret"
MMS_SDK_RESTRICTED_ID=$(json_field "$RESTRICTED_JSON" accessKeyId) || die "key create printed: $RESTRICTED_JSON"
MMS_SDK_RESTRICTED_SECRET=$(json_field "$RESTRICTED_JSON" accessKeySecret) || die "key create printed no secret"
# The restricted key (tests/sdk/auth.test.js and core-client.test.js rely on exactly this):
# create and list data sources; read (Get*, List*) every data source; GetMmsJob explicitly
# denied (Deny wins over the Get* Allow); anything else (delete, update, jobs...) denied by
# default.
cat >"$TMP/restricted.json" <<'EOF_POLICY'
{
  "Version": "1",
  "Statement": [
    {"Effect": "Allow", "Action": ["odps:CreateMmsDataSource", "odps:ListMmsDataSources"],
     "Resource": "*"},
    {"Effect": "Allow", "Action": ["odps:Get*", "odps:List*"],
     "Resource": "acs:odps:*:*:mmsdatasource/*"},
    {"Effect": "Deny", "Action": "odps:GetMmsJob", "Resource": "*"}
  ]
}
EOF_POLICY
"$MMSD" policy attach --data-dir "$DATA" --key "$MMS_SDK_RESTRICTED_ID" \
    --file "$TMP/restricted.json" >/dev/null || die "mmsd policy attach failed"

# ---- mmsd with TLS on a free loopback port ---------------------------------------------------
LOG=$TMP/mmsd.log
start_mmsd() {
    PORT=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1",
                    () => { process.stdout.write(String(s.address().port)); s.close(); });')
    "$MMSD" --listen "127.0.0.1:$PORT" --data-dir "$DATA" --tls-cert "$TMP/tls.crt" \
        --tls-key "$TMP/tls.key" --log-level debug >>"$LOG" 2>&1 &
    PID=$!
    # Up when it answers anything over TLS (healthz may or may not need a signature).
    for _ in $(seq 1 300); do
        kill -0 "$PID" 2>/dev/null || return 1
        code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 2 "https://127.0.0.1:$PORT/healthz")
        [ "$code" != "000" ] && return 0
        sleep 0.1
    done
    return 1
}
started=0
for attempt in 1 2 3; do  # another process may take the port between the probe and bind()
    if start_mmsd; then started=1; break; fi
    kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
done
if [ $started -ne 1 ]; then
    tail -30 "$LOG" >&2
    die "mmsd did not start with TLS"
fi

# ---- the suite -------------------------------------------------------------------------------
export MMS_SDK_ENDPOINT="127.0.0.1:$PORT" MMS_SDK_DATA_DIR="$DATA" MMSD_BIN="$MMSD" \
       MMS_SDK_SCRATCH="$TMP/scratch" MMS_SDK_LOG="$LOG" MMS_SDK_SECRETS_FILE="$TMP/secrets" \
       MMS_SDK_ADMIN_ID MMS_SDK_ADMIN_SECRET MMS_SDK_RESTRICTED_ID MMS_SDK_RESTRICTED_SECRET
OUT=$TMP/node.out
(
    cd "$SDK" && node --test --test-reporter=tap --test-concurrency=1 \
        auth.test.js core-client.test.js operations.test.js zz-log-secrets.test.js
) >"$OUT" 2>&1
rc=$?

# ---- stop mmsd; a crash or a non-zero exit is a failure --------------------------------------
kill -TERM "$PID" 2>/dev/null
for _ in $(seq 1 150); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then
    echo "run-sdk-tests: mmsd did not stop on SIGTERM" >&2
    kill -KILL "$PID" 2>/dev/null
    rc=1
fi
wait "$PID" 2>/dev/null
mrc=$?
PID=
if [ $mrc -ne 0 ]; then
    echo "run-sdk-tests: mmsd exited with $mrc" >&2
    rc=1
fi
if [ $rc -ne 0 ]; then
    echo "---- end of the mmsd log ($LOG)"
    tail -40 "$LOG"
    echo "----"
fi
# Node's report last, so that the output ends with its summary (# pass N / # fail N).
cat "$OUT"
exit $rc
