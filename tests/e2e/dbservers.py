"""Private PostgreSQL 15 and MariaDB servers for the end-to-end pair tests.

    dbservers   module-scoped pytest fixture: starts one PostgreSQL and one MariaDB with
                scripts/testdb.sh in a temporary directory for the whole module, stops both at
                the end (also when a test or the start-up failed) and removes the directory
                (unless MMS_TEST_KEEP is set). Yields a DbServers with .pg and .mysql, each a
                Server(kind, host, port, user, password, socket).

Both servers listen on 127.0.0.1 and a free port; nothing of the system's own servers is used.
Clients of mmsd get a user of their own with a random password (MariaDB: `pairs`, created
through the root socket; PostgreSQL trusts any password, a random one is sent anyway). Both
passwords are registered with tests/lib/mmsd.py (register_secret), so the harness fails a test
module whose mmsd log shows either of them.
"""

import os
import secrets
import shutil
import subprocess
import tempfile

import pytest

import mmsd as mmslib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTDB = os.path.join(ROOT, "scripts", "testdb.sh")


class Server:
    def __init__(self, kind, host, port, user, password, socket):
        self.kind = kind
        self.host = host
        self.port = int(port)
        self.user = user
        self.password = password
        self.socket = socket

    def __repr__(self):
        return "Server(%s %s:%d user %s)" % (self.kind, self.host, self.port, self.user)


class DbServers:
    def __init__(self, directory):
        self.dir = directory
        self.pg = None
        self.mysql = None


def _testdb(cmd, kind, directory, timeout=180):
    p = subprocess.run([TESTDB, cmd, kind, directory], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError("scripts/testdb.sh %s %s failed (exit %d):\n%s%s"
                           % (cmd, kind, p.returncode, p.stdout, p.stderr))
    env = {}
    for line in p.stdout.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            env[k.strip()] = v.strip()
    return env


def start_servers(directory):
    srv = DbServers(directory)
    e = _testdb("start", "pg", directory)
    pg_pw = mmslib.register_secret("pg-" + secrets.token_hex(12))
    srv.pg = Server("pg", e["PGHOST"], e["PGPORT"], e["PGUSER"], pg_pw, e.get("PGSOCKDIR"))
    e = _testdb("start", "mysql", directory)
    my_pw = mmslib.register_secret("my-" + secrets.token_hex(12))
    sock = e["MYSQL_SOCKET"]
    p = subprocess.run(["mariadb", "--no-defaults", "-uroot", "--socket=" + sock],
                       input="CREATE USER 'pairs'@'%%' IDENTIFIED BY '%s';\n"
                             "CREATE USER 'pairs'@'localhost' IDENTIFIED BY '%s';\n"
                             "GRANT ALL PRIVILEGES ON *.* TO 'pairs'@'%%';\n"
                             "GRANT ALL PRIVILEGES ON *.* TO 'pairs'@'localhost';\n"
                             % (my_pw, my_pw),
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("cannot create the MariaDB user pairs: %s" % p.stderr)
    srv.mysql = Server("mysql", e["MYSQL_HOST"], e["MYSQL_PORT"], "pairs", my_pw, sock)
    return srv


def stop_servers(directory):
    errors = []
    for kind in ("pg", "mysql"):
        try:
            _testdb("stop", kind, directory)
        except Exception as ex:  # stop the other one too
            errors.append(str(ex))
    if errors:
        raise RuntimeError("\n".join(errors))


@pytest.fixture(scope="module")
def dbservers():
    d = tempfile.mkdtemp(prefix="mms-e2e-db-")
    try:
        srv = start_servers(d)
        yield srv
    finally:
        try:
            stop_servers(d)
        finally:
            if not os.environ.get("MMS_TEST_KEEP"):
                shutil.rmtree(d, ignore_errors=True)
