"""End-to-end tests: real SQLite files migrated by a real mmsd ($MMSD_BIN, default bin/mmsd)
through the HTTP API only, checked by an independent read of both files (fixtures.py).

Fixtures: everything of tests/lib/mmsd_pytest.py (fresh_mms, mmsd_factory, workdir, ...) and
  e2e_source    (session) the full source database: every type, nasty names and the big table
                of $MMS_E2E_ROWS rows (default 1,000,000); returns (path, {table: rows})
  crash_source  (session) the same with a bigger big table ($MMS_E2E_CRASH_ROWS, default
                4,000,000) for the kill -9 and stop/start tests
  small_source  the same without the big table, in the test's workdir

Every request is signed with the server's admin access key (tests/lib/mmsd.py), as with
authentication on in production.
"""
import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)

from mmsd_pytest import *  # noqa: F401,F403,E402  (fixtures and hooks)
from mmsd import API, Mmsd, MmsdError, wait  # noqa: F401,E402
import fixtures  # noqa: E402

BIG_ROWS = int(os.environ.get("MMS_E2E_ROWS", fixtures.DEFAULT_BIG_ROWS))
CRASH_ROWS = int(os.environ.get("MMS_E2E_CRASH_ROWS", fixtures.DEFAULT_CRASH_ROWS))


@pytest.fixture(scope="session")
def e2e_source():
    d = tempfile.mkdtemp(prefix="mms-e2e-src-")
    path = os.path.join(d, "source.db")
    counts = fixtures.build_source(path, BIG_ROWS)
    # mmsd opens sources read-only; keep the file read-only to prove it never writes there.
    os.chmod(path, 0o444)
    yield path, counts
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def crash_source():
    """Like e2e_source with a bigger big table ($MMS_E2E_CRASH_ROWS, default 4,000,000) so that
    kill -9 and StopMmsJob can land inside its DATA stage."""
    d = tempfile.mkdtemp(prefix="mms-e2e-crash-src-")
    path = os.path.join(d, "source.db")
    counts = fixtures.build_source(path, CRASH_ROWS)
    os.chmod(path, 0o444)
    yield path, counts
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def small_source(workdir):
    path = os.path.join(workdir, "small.db")
    return path, fixtures.build_small(path)
