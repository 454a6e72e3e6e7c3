#!/usr/bin/env bash
# Idempotent install of everything mms needs to build, run and test, from Debian's apt only.
# Called by `make run` and `make test`; installs only what is missing.
set -euo pipefail

BUILD_PKGS="gcc make pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev libpq-dev libmariadb-dev libssl-dev libcurl4-openssl-dev sqlite3 curl"
TEST_PKGS="libcmocka-dev python3 python3-pytest sqlite3 curl wrk nginx-light postgresql-15 mariadb-server openssl clang libclang-rt-14-dev"

BENCH_PKGS="pgloader"   # bench/migrate.sh's peer; not needed by make test

want="$BUILD_PKGS"
case "${1:-}" in
    --test) want="$want $TEST_PKGS" ;;
    --bench) want="$want $TEST_PKGS $BENCH_PKGS" ;;
esac

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

# Node.js (the SDK compatibility suite): this machine image ships its own nodejs package with
# npm inside; Debian's separate `npm` package would conflict with it, so look for the commands.
if [ -n "${1:-}" ] && ! { command -v node >/dev/null && command -v npm >/dev/null; }; then
    missing="$missing nodejs npm"
fi

if [ -z "$missing" ]; then
    exit 0
fi

echo "install-deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# nginx, PostgreSQL and MariaDB are benchmark peers and test servers that the tests start
# themselves on private ports: keep the packages from starting system services.
had_policy=0
[ -e /usr/sbin/policy-rc.d ] && had_policy=1
if [ $had_policy -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
fi
$SUDO apt-get install -y -qq --no-install-recommends $missing
[ $had_policy -eq 0 ] && $SUDO rm -f /usr/sbin/policy-rc.d
true
