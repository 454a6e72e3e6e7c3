"""Black-box API tests: each test module gets a real mmsd ($MMSD_BIN, default bin/mmsd; the
test runner uses the ASan build) on 127.0.0.1 with a fresh data directory.

Fixtures (tests/lib/mmsd_pytest.py has the details):
  mms           module-scoped running server: mms.call(method, path, query=None, body=None,
                raw_body=None, headers=None) -> (status, body_json_or_None, headers_dict),
                mms.ok(...) -> data, mms.wait_async(source_id, async_id, timeout=30) -> dict,
                mms.create_sqlite_source(path, dst_dir, project='p', name=None) -> source id,
                mms.scan(source_id) -> scan dict, mms.create_job(source_id, body) -> (job id,
                async task), mms.wait(fn, timeout), mms.restart(), mms.kill9(), mms.log_text()
  fresh_mms     the same, one server per test
  mmsd_factory  start servers with extra arguments or a given data directory
  workdir, make_sqlite, source_db   temporary files and SQLite sources

Authentication is on: every server gets an admin access key before it starts and mms.call()
signs each request with it (ACS3-HMAC-SHA256). mms.call(..., auth=False) sends a request
unsigned, auth=(id, secret) signs with another key, sign={...} / tamper=fn make bad requests;
mms.create_key(), mms.attach_policy(), mms.cli() manage keys (tests/lib/mmsd.py).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from mmsd_pytest import *  # noqa: F401,F403,E402  (fixtures and hooks)
from mmsd import API, Mmsd, MmsdError, wait  # noqa: F401,E402
