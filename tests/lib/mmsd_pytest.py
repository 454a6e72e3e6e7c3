"""pytest fixtures and hooks shared by tests/api/conftest.py and tests/e2e/conftest.py.

Fixtures:
  mms            a running mmsd, one per test module (module scope). Create your own data
                 sources in each test; do not rely on ids.
  fresh_mms      a running mmsd of its own for one test (function scope).
  mmsd_factory   mmsd_factory(args=(), data_dir=None, start=True, **kw) -> Mmsd; every server
                 it made is stopped at the end of the test and must exit 0.
  workdir        a temporary directory for one test (removed afterwards unless MMS_TEST_KEEP).
  make_sqlite    make_sqlite(path, statements) -> path: runs the SQL statements (a list, or one
                 string for executescript) in a new SQLite file.
  source_db      a small SQLite source: tables "users" (3 rows) and "orders" (2 rows) in db
                 "main"; returns its path.

All mmsd instances: binary $MMSD_BIN (default bin/mmsd), 127.0.0.1, a free port, a fresh data
dir, --lease-seconds 3 --poll-ms 50, log in <data dir>/mmsd.log (its tail is added to the
report of a failed test), SIGTERM at teardown with exit code 0 required, and no registered
secret (mmsd.SECRETS: access key secrets, data-source passwords) anywhere in the log.
Authentication is on: each instance has an admin key and signs every request (tests/lib/mmsd.py).
"""

import os
import shutil
import sqlite3
import tempfile

import pytest

import mmsd as mmslib
from mmsd import Mmsd


def _start(srv):
    try:
        srv.start()
    except Exception:
        srv.cleanup()
        raise
    return srv


def _check_secrets(srv):
    leaked = srv.secrets_in_log()
    if leaked:
        raise mmslib.MmsdError("%d secret(s) appear in the log %s (first: %s...)"
                               % (len(leaked), srv.log_path, leaked[0][:4]))


def _finish(srv):
    try:
        srv.stop()
        _check_secrets(srv)
    finally:
        srv.cleanup()


@pytest.fixture(scope="module")
def mms():
    srv = _start(Mmsd())
    yield srv
    _finish(srv)


@pytest.fixture
def fresh_mms():
    srv = _start(Mmsd())
    yield srv
    _finish(srv)


@pytest.fixture
def mmsd_factory():
    made = []

    def make(args=(), data_dir=None, start=True, **kw):
        srv = Mmsd(args=args, data_dir=data_dir, **kw)
        made.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    errors = []
    for srv in made:
        try:
            srv.stop()
            _check_secrets(srv)
        except Exception as e:  # report every server, not only the first
            errors.append(str(e))
        finally:
            srv.cleanup()
    if errors:
        raise mmslib.MmsdError("\n\n".join(errors))


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="mms-work-")
    yield d
    if not os.environ.get("MMS_TEST_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


def make_sqlite_file(path, statements):
    con = sqlite3.connect(path)
    try:
        if isinstance(statements, str):
            con.executescript(statements)
        else:
            for s in statements:
                con.execute(s)
        con.commit()
    finally:
        con.close()
    return path


@pytest.fixture
def make_sqlite():
    return make_sqlite_file


SMALL_SOURCE_SQL = """
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL);
INSERT INTO users VALUES (1, 'ann', 1.5), (2, 'bob', NULL), (3, 'cy', -2.25);
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, total NUMERIC(10,2), note TEXT);
INSERT INTO orders VALUES (10, 1, 12.5, 'first'), (11, 3, 0, '');
"""


@pytest.fixture
def source_db(workdir):
    return make_sqlite_file(os.path.join(workdir, "source.db"), SMALL_SOURCE_SQL)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when == "call":
        for srv in list(mmslib.LIVE):
            rep.sections.append(("mmsd log (%s)" % srv.data_dir, srv.log_tail(60)))
