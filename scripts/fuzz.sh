#!/usr/bin/env bash
# Builds the libFuzzer targets under tests/fuzz with clang (-fsanitize=fuzzer,address,undefined)
# and runs each for a bounded time; prints one line per target and a summary line.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 20 s; all targets)
# Exit status: 0 when every target ran clean; 1 on a crash, leak, timeout or sanitizer
# report (the reproducer is left in build/fuzz/artifacts/), 2 when a target does not build.
# Corpora are kept in build/fuzz/corpus/<target> between runs (seeded here on first use).
set -uo pipefail
cd "$(dirname "$0")/.."

secs="${1:-20}"
shift || true
case "$secs" in '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;; esac
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_sign fuzz_policy fuzz_pfilter)

CC_FUZZ="${CC_FUZZ:-clang}"
CFLAGS=(-g -O1 -std=c17 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
UTIL=(src/util/[a-z]*.c)
out=build/fuzz
mkdir -p "$out/artifacts"

sources() {
    case "$1" in
        fuzz_sign)    echo "src/auth/sign.c" ;;
        fuzz_policy)  echo "src/auth/policy.c" ;;
        fuzz_pfilter) echo "src/engine/pfilter.c src/conn/types.c" ;;
        *) return 1 ;;
    esac
}

# A few well-formed inputs so that the fuzzer starts from the interesting shapes.
seed() {
    local t=$1 d="$out/corpus/$1"
    [ -d "$d" ] && return 0
    mkdir -p "$d"
    case "$t" in
        fuzz_sign)
            printf 'GET\0/api/v1/mms/datasources\0pageNum=1&pageSize=10\0host;x-acs-date;x-acs-content-sha256\0host:h\0x-acs-date:2026-01-01T00:00:00Z\0x-acs-content-sha256:e3b0\0\0' >"$d/s1"
            printf 'POST\0/api/v1/mms/x+y*z%%7Ew\0k=b&k=a%%20c&k=&j=1&a=%%zz\0content-type;host\0Host:h\0Content-Type: application/json \0x-acs-a:1\0X-ACS-A:2\0accept:application/json\0date:Sat, 28 Nov 2026 12:00:00 GMT\0\0{"name":"\xe6\x95\xb0"}' >"$d/s2"
            printf 'DELETE\0/p%%20q\0\x01\0host\0host:a\0host:b\0\0' >"$d/s3"
            ;;
        fuzz_policy)
            printf '\0{"Version":"1","Statement":[{"Effect":"Allow","Action":["odps:*Mms*","odps:List*"],"Resource":"acs:odps:*:*:mmsdatasource/*"},{"Effect":"Deny","Action":"odps:Delete*","Resource":["acs:odps:cn-hangzhou:1:mmsdatasource/?","*"]}]}' >"$d/p1"
            printf '\0{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}]}' >"$d/p2"
            printf '\001*a*a*a*a*a*b\0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' >"$d/g1"
            printf '\001acs:odps:*:*:mmsdatasource/20?\0acs:odps:r:1:mmsdatasource/201' >"$d/g2"
            printf '\001a?\xc3\xa9*\0a\xe4\xb8\xad\xc3\xa9xyz' >"$d/g3"
            ;;
        fuzz_pfilter)
            printf "p1 = '2022-03-04' and p2 > 5 or p4 like 'a%%'" >"$d/f1"
            ;;
    esac
}

rc=0
failed=()
for t in "${targets[@]}"; do
    src=$(sources "$t") || { echo "$t: unknown target" >&2; rc=2; failed+=("$t"); continue; }
    # shellcheck disable=SC2086
    if ! "$CC_FUZZ" "${CFLAGS[@]}" -o "$out/$t" "tests/fuzz/$t.c" $src "${UTIL[@]}" \
            -ljansson -lcrypto -lm -lpthread 2>"$out/$t.build.log"; then
        echo "$t: BUILD FAILED (see $out/$t.build.log)"
        tail -5 "$out/$t.build.log"
        rc=2
        failed+=("$t")
        continue
    fi
    seed "$t"
    log="$out/$t.log"
    # -timeout: one input taking more than 10 s is a failure (e.g. exponential glob matching).
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$out/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" "$out/corpus/$t" \
        >"$log" 2>&1
    frc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    if [ $frc -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
        echo "$t: FAILED after ${runs:-?} runs (exit $frc); log $log"
        grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | head -10
        [ $rc -eq 0 ] && rc=1
        failed+=("$t")
    else
        echo "$t: ${runs:-0} runs in ${secs} s, ${cov:-cov: ?}, no crash, no sanitizer report"
    fi
done

if [ ${#failed[@]} -eq 0 ]; then
    echo "fuzz: ${#targets[@]} targets, ${secs} s each: all clean"
else
    echo "fuzz: ${#failed[@]} of ${#targets[@]} targets FAILED: ${failed[*]}"
fi
exit $rc
