#!/usr/bin/env bash
# Runs the test layers and prints each runner's summary line; exits non-zero if any failed.
#   scripts/run-tests.sh            all layers
#   scripts/run-tests.sh unit|api|e2e|sdk|fuzz
set -uo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
rc=0
PY=/usr/bin/python3

# Runs every cmocka program under ASan/UBSan and adds up their test cases. A program that
# crashes or reports a leak (non-zero exit) counts as one more failure.
run_unit() {
    local pass=0 fail=0 progs=0 t out p f
    for t in build/asan/tests/test_*; do
        [ -x "$t" ] || continue
        [[ "$t" == *.d ]] && continue
        progs=$((progs+1))
        echo "== $t"
        out=$(ASAN_OPTIONS=detect_leaks=1 "$t" 2>&1)
        local rc=$?
        printf '%s\n' "$out" | grep -E '^\[ *(PASSED|FAILED) *\]|ERROR|SUMMARY' | head -20
        p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
        f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
        pass=$((pass + ${p:-0}))
        fail=$((fail + ${f:-0}))
        if [ $rc -ne 0 ] && [ -z "$f" ]; then
            printf '%s\n' "$out" | tail -30
            fail=$((fail+1))
        fi
    done
    echo "($progs unit test programs)"
    echo "unit: $pass passed, $fail failed"
    [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
}

run_py() { # $1 = folder, $2 = mmsd binary
    MMSD_BIN="$2" $PY -m pytest -q -p no:cacheprovider "tests/$1"
}

case "$what" in
    unit) run_unit || rc=1 ;;
    fuzz) scripts/fuzz.sh "${FUZZ_SECONDS:-20}" || rc=1 ;;
    sdk)  scripts/run-sdk-tests.sh || rc=1 ;;
    api)  run_py api build/asan/mmsd || rc=1 ;;
    e2e)  run_py e2e bin/mmsd || rc=1 ;;
    all)
        run_unit || rc=1
        run_py api build/asan/mmsd || rc=1
        run_py e2e bin/mmsd || rc=1
        # The Alibaba Cloud SDK compatibility suite (Node.js, @alicloud/openapi-client, HTTPS).
        scripts/run-sdk-tests.sh || rc=1
        # Bounded libFuzzer runs of the canonicaliser, the policy matcher and the partition
        # filter parser (FUZZ_SECONDS per target).
        scripts/fuzz.sh "${FUZZ_SECONDS:-20}" || rc=1
        ;;
    *) echo "usage: $0 [unit|api|e2e|sdk|fuzz]"; exit 2 ;;
esac
exit $rc
