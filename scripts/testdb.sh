#!/usr/bin/env bash
# Private database servers for tests: never a system service, never a port but its own.
#   scripts/testdb.sh start pg|mysql DIR   start (idempotent) a server with its files under DIR,
#                                          wait until it accepts connections, print its settings
#   scripts/testdb.sh stop  pg|mysql DIR   stop it (no error if it is not running)
#   scripts/testdb.sh env   pg|mysql DIR   print the settings of a started server
# Settings are printed as shell assignments, one per line (KEY=value), so callers can `eval`
# them or parse them.
#
# pg: PostgreSQL 15 from /usr/lib/postgresql/15/bin. initdb and pg_ctl run as the `postgres`
# user when invoked as root (PostgreSQL refuses to run as root). Data in DIR/pg/data, unix
# socket in DIR/pg, TCP on 127.0.0.1 and a free port. Authentication is `trust` for the
# superuser `postgres` (any password is accepted). Prints PGHOST, PGPORT, PGUSER, PGSOCKDIR.
set -euo pipefail

die() { echo "testdb.sh: $*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---- PostgreSQL ---------------------------------------------------------------------------

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg_as() { # runs a command as the postgres user when we are root
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_env() {
    local d="$1/pg"
    [ -f "$d/port" ] || die "pg: no server set up under $1"
    echo "PGHOST=127.0.0.1"
    echo "PGPORT=$(cat "$d/port")"
    echo "PGUSER=postgres"
    echo "PGSOCKDIR=$d"
}

pg_start() {
    local dir="$1" d="$1/pg"
    [ -x "$PG_BIN/initdb" ] || die "pg: $PG_BIN/initdb not found (apt-get install postgresql-15)"
    mkdir -p "$d"
    if [ "$(id -u)" -eq 0 ]; then
        chmod o+x "$dir"          # mkdtemp() makes it 0700: postgres must traverse it
        chown postgres: "$d"
    fi
    if [ ! -f "$d/data/PG_VERSION" ]; then
        pg_as "$PG_BIN/initdb" -D "$d/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
            >"$d/initdb.log" 2>&1 || { cat "$d/initdb.log" >&2; die "pg: initdb failed"; }
    fi
    if pg_as "$PG_BIN/pg_ctl" -D "$d/data" status >/dev/null 2>&1; then
        pg_env "$dir"
        return 0
    fi
    local port
    port=$(free_port)
    echo "$port" >"$d/port"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$d/port"
    pg_as "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$d' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50 -c shared_buffers=128MB" \
        start >/dev/null || { tail -20 "$d/server.log" >&2; die "pg: server did not start"; }
    local i
    for i in $(seq 1 100); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" && break
        sleep 0.1
    done
    pg_env "$dir"
}

pg_stop() {
    local d="$1/pg"
    [ -f "$d/data/PG_VERSION" ] || return 0
    pg_as "$PG_BIN/pg_ctl" -D "$d/data" status >/dev/null 2>&1 || return 0
    pg_as "$PG_BIN/pg_ctl" -D "$d/data" -m fast -w -t 60 stop >/dev/null
}

# ---- MariaDB / MySQL ----------------------------------------------------------------------
#
# mysql: mariadbd with --no-defaults (no system my.cnf, no system socket or port). Data in
# DIR/mysql/data, socket DIR/mysql/mysql.sock, TCP on 127.0.0.1 and a free port. The server
# runs as root (--user=root); root@localhost has no password (socket and 127.0.0.1), and a user
# `mms` with password `mms` and all privileges is created for TCP clients. Prints MYSQL_HOST,
# MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, MYSQL_SOCKET.

my_env() {
    local d="$1/mysql"
    [ -f "$d/port" ] || die "mysql: no server set up under $1"
    echo "MYSQL_HOST=127.0.0.1"
    echo "MYSQL_PORT=$(cat "$d/port")"
    echo "MYSQL_USER=mms"
    echo "MYSQL_PASSWORD=mms"
    echo "MYSQL_SOCKET=$d/mysql.sock"
}

my_running() { # the pid file names a live mariadbd
    local d="$1/mysql" pid
    [ -f "$d/mysqld.pid" ] || return 1
    pid=$(cat "$d/mysqld.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

my_start() {
    local dir="$1" d="$1/mysql"
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] ||
        die "mysql: mariadbd not found (apt-get install mariadb-server)"
    mkdir -p "$d"
    if my_running "$dir"; then
        my_env "$dir"
        return 0
    fi
    if [ ! -d "$d/data/mysql" ]; then
        mariadb-install-db --no-defaults --datadir="$d/data" --user=root \
            --auth-root-authentication-method=normal --skip-test-db >"$d/install.log" 2>&1 ||
            { cat "$d/install.log" >&2; die "mysql: mariadb-install-db failed"; }
    fi
    local port
    port=$(free_port)
    echo "$port" >"$d/port"
    /usr/sbin/mariadbd --no-defaults --user=root --datadir="$d/data" --socket="$d/mysql.sock" \
        --port="$port" --bind-address=127.0.0.1 --skip-networking=0 --pid-file="$d/mysqld.pid" \
        --log-error="$d/server.log" --character-set-server=utf8mb4 \
        --collation-server=utf8mb4_general_ci --max-allowed-packet=64M \
        --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 \
        --innodb-log-file-size=256M --max-connections=100 --skip-log-bin \
        </dev/null >/dev/null 2>&1 &
    local i ok=0
    for i in $(seq 1 300); do
        if [ -S "$d/mysql.sock" ] &&
            mariadb --no-defaults -uroot --socket="$d/mysql.sock" -e 'SELECT 1' >/dev/null 2>&1; then
            ok=1
            break
        fi
        sleep 0.1
    done
    [ $ok -eq 1 ] || { tail -20 "$d/server.log" >&2; die "mysql: server did not start"; }
    mariadb --no-defaults -uroot --socket="$d/mysql.sock" -e \
        "CREATE USER IF NOT EXISTS 'mms'@'%' IDENTIFIED BY 'mms';
         CREATE USER IF NOT EXISTS 'mms'@'localhost' IDENTIFIED BY 'mms';
         GRANT ALL PRIVILEGES ON *.* TO 'mms'@'%' WITH GRANT OPTION;
         GRANT ALL PRIVILEGES ON *.* TO 'mms'@'localhost' WITH GRANT OPTION;" ||
        die "mysql: cannot create user mms"
    my_env "$dir"
}

my_stop() {
    local d="$1/mysql" pid i
    my_running "$1" || return 0
    pid=$(cat "$d/mysqld.pid")
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 600); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# ---- main ---------------------------------------------------------------------------------

[ $# -eq 3 ] || die "usage: $0 start|stop|env pg|mysql DIR"
cmd="$1" kind="$2" dir="$3"
[ -d "$dir" ] || die "$dir is not a directory"
dir=$(cd "$dir" && pwd)
case "$kind:$cmd" in
    pg:start) pg_start "$dir" ;;
    pg:stop)  pg_stop "$dir" ;;
    pg:env)   pg_env "$dir" ;;
    mysql:start) my_start "$dir" ;;
    mysql:stop)  my_stop "$dir" ;;
    mysql:env)   my_env "$dir" ;;
    *) die "usage: $0 start|stop|env pg|mysql DIR" ;;
esac
