"""Helpers of tests/e2e/test_faults.py: a private PostgreSQL server that can be stopped and
started again on the SAME port (a data source's URL names the port), source tables, and
independent reads of the data (the psql CLI for PostgreSQL, Python's sqlite3 for SQLite).

The server is started by `scripts/testdb.sh start pg DIR` and stopped by `scripts/testdb.sh stop
pg DIR` (pg_ctl -m fast: live sessions are terminated, as in a restart of a production server).
`testdb.sh start` on a stopped server picks a new free port, so restart() starts it with pg_ctl
and the options testdb.sh uses, on the port it had.
"""
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTDB = os.path.join(ROOT, "scripts", "testdb.sh")
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")


def _parse_env(text):
    env = {}
    for line in text.splitlines():
        k, sep, v = line.strip().partition("=")
        if sep:
            env[k] = v
    return env


class PgServer:
    """One private PostgreSQL 15 server with its files under a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mms-fault-pg-")
        os.chmod(self.dir, 0o755)
        self.env = None
        self.port = None

    @property
    def pgdir(self):
        return os.path.join(self.dir, "pg")

    def start(self):
        out = subprocess.run([TESTDB, "start", "pg", self.dir], capture_output=True, text=True,
                             timeout=180)
        if out.returncode != 0:
            raise RuntimeError("testdb.sh start pg failed: %s%s" % (out.stdout, out.stderr))
        self.env = _parse_env(out.stdout)
        self.port = int(self.env["PGPORT"])
        return self

    def stop(self):
        subprocess.run([TESTDB, "stop", "pg", self.dir], capture_output=True, text=True,
                       timeout=120, check=True)

    def _as_postgres(self, cmd):
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        return cmd

    def restart(self):
        """Starts the stopped server again on the port it had (what testdb.sh start does, but
        without choosing a new port)."""
        opts = ("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories='%s'"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                " -c max_connections=50 -c shared_buffers=128MB" % (self.port, self.pgdir))
        cmd = self._as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D",
                                 os.path.join(self.pgdir, "data"), "-l",
                                 os.path.join(self.pgdir, "server.log"), "-w", "-t", "60",
                                 "-o", opts, "start"])
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError("pg_ctl start failed: %s%s\n%s" % (out.stdout, out.stderr,
                                                                 self.log_tail()))

    def running(self):
        cmd = self._as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D",
                                 os.path.join(self.pgdir, "data"), "status"])
        return subprocess.run(cmd, capture_output=True, timeout=60).returncode == 0

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.pgdir, "server.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, password, db="postgres"):
        """dst.url of this server (authentication is `trust`: any password is accepted)."""
        return "postgresql://postgres:%s@127.0.0.1:%d/%s" % (password, self.port, db)

    def psql(self, sql, db="postgres"):
        """Runs SQL with the psql CLI (not through mms); returns its unaligned output."""
        out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h",
                              "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db,
                              "-c", sql], capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError("psql %r failed: %s" % (sql, out.stderr))
        return out.stdout.strip()


def qi(name):
    return '"' + name.replace('"', '""') + '"'


# The figures compared between a source and a destination: they prove the same set of ids
# (count = distinct count, min 1, max = count, so exactly 1..n) and the same values of k.
SUMMARY_SQL = ("SELECT count(*), count(DISTINCT id), min(id), max(id), sum(id), sum(k),"
               " count(s) FROM %s")


def _norm(row):
    return tuple(int(v) if v not in (None, "") else None for v in row)


def pg_summary(pg, db, schema, table):
    out = pg.psql(SUMMARY_SQL % ("%s.%s" % (qi(schema), qi(table))), db=db)
    return _norm(out.split("|"))


def sqlite_summary(path, table):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return _norm(con.execute(SUMMARY_SQL % qi(table)).fetchone())
    finally:
        con.close()


def make_sqlite_table(path, table, rows):
    """A table (id INTEGER PRIMARY KEY, k INTEGER, r REAL, s TEXT) of `rows` rows built by
    Python's sqlite3 in one statement."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    with con:
        con.execute("DROP TABLE IF EXISTS %s" % qi(table))
        con.execute("CREATE TABLE %s (id INTEGER PRIMARY KEY, k INTEGER, r REAL, s TEXT)"
                    % qi(table))
        con.execute(
            "WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < ?) "
            "INSERT INTO %s SELECT x, (x * 2654435761) %% 4294967296 - 2147483648,"
            " x * 0.001 + 0.5, 'row ' || x FROM seq" % qi(table), (rows,))
    con.close()
    return path


def make_pg_table(pg, table, rows, db="postgres", schema="public"):
    """The same table in PostgreSQL, built by psql."""
    pg.psql("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (id bigint PRIMARY KEY, k bigint,"
            " r double precision, s text);"
            " INSERT INTO {t} SELECT x, (x * 2654435761) % 4294967296 - 2147483648,"
            " x * 0.001 + 0.5, 'row ' || x FROM generate_series(1, {n}) AS x; ANALYZE {t};"
            .format(t="%s.%s" % (qi(schema), qi(table)), n=int(rows)), db=db)


RATE_RE = re.compile(r"(\d+) rows, (\d+) bytes in ([\d.]+) s \((\d+) rows/s\)")


def pg_stage_tables(pg, db):
    """Staging tables (__mms_stage_*) left in a destination database."""
    out = pg.psql("SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n"
                  " ON n.oid = c.relnamespace WHERE c.relname LIKE '\\_\\_mms\\_stage\\_%'",
                  db=db)
    return [line for line in out.splitlines() if line]
