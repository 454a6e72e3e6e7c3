"""Black-box tests of the data-source operations against a real mmsd:
CreateMmsDataSource, ListMmsDataSources, GetMmsDataSource, UpdateMmsDataSource,
DeleteMmsDataSource, ListMmsDataSourceConfigItems, and the DATASOURCE_* async tasks seen
through GetMmsAsyncTask.

The `mms` server is shared by the module: every test makes its own sources with unique names
(and a unique region when it lists). Tests that need exact totals or write fixture rows into
the store use `fresh_mms`.
"""

import json
import os
import re
import sqlite3
import time
import uuid

import pytest

from mmsd import API, sqlite_url

DS = API + "/datasources"
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")

DATASOURCE_FIELDS = {
    "id": int, "name": str, "type": str, "status": str, "agentIsOnline": bool,
    "createTime": str, "dstProject": str, "dstProjects": list,
    "dbNum": int, "tableNum": int, "partitionNum": int,
    "tablesDoingNum": int, "tablesDoneNum": int, "tablesFailedNum": int,
    "tablesPartDoneNum": int, "partitionsDoingNum": int, "partitionsDoneNum": int,
    "partitionsFailedNum": int,
}
NULLABLE_FIELDS = {"region": str, "networklink": str, "errMsg": str, "lastUpdateTime": str,
                   "scanId": int}
CONFIG_ITEM_FIELDS = {"key": str, "name": str, "desc": str, "group": str, "type": str,
                      "required": bool, "enums": list}

# Source protection items every type has (group "limits", optional; docs/engine.md).
LIMIT_KEYS = ["limit.rowsPerSecond", "limit.bytesPerSecond", "limit.maxConcurrentTasks"]


def uniq(prefix="ds"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def sqlite_config(path, dst_dir, project="wh"):
    return {"sqlite.path": os.path.abspath(path), "dst.url": sqlite_url(dst_dir),
            "dst.project": project}


def create(mms, body):
    return mms.call("POST", DS, body=body)


def create_ok(mms, source_db, workdir, name=None, **extra):
    body = {"name": name or uniq(), "type": "SQLITE",
            "config": sqlite_config(source_db, os.path.join(workdir, "dst"))}
    body.update(extra)
    status, b, _ = create(mms, body)
    assert status == 200, b
    return b["data"]["dataSourceId"]


def get_ds(mms, sid, **query):
    return mms.ok("GET", "%s/%d" % (DS, sid), query=query or None)


def wait_status(mms, sid, timeout=30):
    """Waits until the source leaves STARTING/STOPPING; returns it."""
    def settled():
        d = get_ds(mms, sid)
        return d if d["status"] not in ("STARTING", "STOPPING") else None
    return mms.wait(settled, timeout, what="data source %d to settle" % sid)


def update(mms, sid, body):
    return mms.call("PUT", "%s/%d" % (DS, sid), body=body)


def update_ok(mms, sid, body):
    status, b, _ = update(mms, sid, body)
    assert status == 200, b
    assert b["data"]["sourceId"] == sid
    assert isinstance(b["data"]["asyncTaskId"], int)
    return b["data"]["asyncTaskId"]


def assert_error(resp, http, code, *message_parts):
    status, body, headers = resp
    assert status == http, body
    assert body["code"] == code, body
    assert body["httpCode"] == http
    assert isinstance(body["requestId"], str) and body["requestId"]
    assert headers.get("x-acs-request-id") == body["requestId"]
    for part in message_parts:
        assert part in body["message"], body
    return body


def assert_async_shape(t):
    """GetMmsAsyncTask's fields with the seed's JSON types."""
    assert set(t) == {"id", "sourceId", "type", "objectId", "status", "running", "progress",
                      "result", "errorMsg", "startTime", "endTime", "createTime"}
    assert isinstance(t["id"], int) and isinstance(t["sourceId"], int)
    assert isinstance(t["type"], str) and isinstance(t["status"], str)
    assert isinstance(t["running"], bool) and isinstance(t["progress"], int)
    assert t["result"] is None or isinstance(t["result"], str)
    assert t["errorMsg"] is None or isinstance(t["errorMsg"], str)
    for k in ("startTime", "endTime", "createTime"):
        assert t[k] is None or TIME_RE.match(t[k]), (k, t[k])
    assert t["running"] == (t["status"] == "DOING")
    assert t["status"] in ("INIT", "DOING", "DONE", "FAILED")
    assert 0 <= t["progress"] <= 100


def assert_datasource_shape(d, listed=False, with_config=False):
    for k, typ in DATASOURCE_FIELDS.items():
        assert isinstance(d[k], typ), (k, d.get(k))
    for k, typ in NULLABLE_FIELDS.items():
        assert k in d, k
        assert d[k] is None or isinstance(d[k], typ), (k, d[k])
    assert TIME_RE.match(d["createTime"])
    assert d["agentIsOnline"] == (d["status"] == "STARTED")
    if d["status"] not in ("START_FAILED", "STOP_FAILED"):
        assert d["errMsg"] is None
    if listed:
        assert "scanStatus" in d and "scanErrMsg" in d
    assert ("config" in d) == with_config


# ---- Create ---------------------------------------------------------------------------------

def test_create_starts_the_source(mms, source_db, workdir):
    name = uniq()
    sid = create_ok(mms, source_db, workdir, name=name, region="cn-test",
                    networklink="vpc-1:cn-test")
    assert isinstance(sid, int) and sid > 0
    d = wait_status(mms, sid)
    assert_datasource_shape(d)
    assert d["id"] == sid
    assert d["name"] == name
    assert d["type"] == "SQLITE"
    assert d["region"] == "cn-test"
    assert d["networklink"] == "vpc-1:cn-test"
    assert d["status"] == "STARTED", d
    assert d["agentIsOnline"] is True
    assert d["errMsg"] is None
    assert d["dstProject"] == "wh" and d["dstProjects"] == ["wh"]
    assert d["dbNum"] == d["tableNum"] == d["partitionNum"] == 0
    assert d["scanId"] is None and d["lastUpdateTime"] is None
    # The destination directory was reached (the SQLite connector creates it).
    assert os.path.isdir(os.path.join(workdir, "dst"))


def test_create_type_is_case_insensitive(mms, source_db, workdir):
    body = {"name": uniq(), "type": "sqlite",
            "config": sqlite_config(source_db, os.path.join(workdir, "dst"))}
    status, b, _ = create(mms, body)
    assert status == 200, b
    assert get_ds(mms, b["data"]["dataSourceId"])["type"] == "SQLITE"


def _bad_create_cases(src, dst):
    good = sqlite_config(src, dst)

    def cfg(**over):
        c = dict(good)
        for k, v in over.items():
            k = k.replace("_", ".")
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    return [
        ("missing name", {"type": "SQLITE", "config": good}, "InvalidParameter.Name",
         ["name is required"]),
        ("empty name", {"name": "", "type": "SQLITE", "config": good},
         "InvalidParameter.Name", ["1..128"]),
        ("long name", {"name": "n" * 129, "type": "SQLITE", "config": good},
         "InvalidParameter.Name", ["128"]),
        ("name not a string", {"name": 5, "type": "SQLITE", "config": good},
         "InvalidParameter.Name", ["string"]),
        ("control char in name", {"name": "a\nb", "type": "SQLITE", "config": good},
         "InvalidParameter.Name", ["control"]),
        ("missing type", {"name": uniq(), "config": good}, "InvalidParameter.Type",
         ["type is required", "SQLITE"]),
        ("unknown type", {"name": uniq(), "type": "HIVE", "config": good},
         "InvalidParameter.Type", ["'HIVE' is not supported", "SQLITE"]),
        ("unknown field", {"name": uniq(), "type": "SQLITE", "config": good, "colour": "red"},
         "InvalidParameter.UnknownField", ["colour"]),
        ("config not an object", {"name": uniq(), "type": "SQLITE", "config": "x"},
         "InvalidParameter.Config", ["object"]),
        ("missing config", {"name": uniq(), "type": "SQLITE"}, "InvalidParameter.Config",
         ["sqlite.path is required"]),
        ("unknown config key", {"name": uniq(), "type": "SQLITE",
                                "config": cfg(bogus_key="1")},
         "InvalidParameter.Config", ["bogus.key"]),
        ("missing required item", {"name": uniq(), "type": "SQLITE",
                                   "config": cfg(dst_project=None)},
         "InvalidParameter.Config", ["dst.project is required"]),
        ("empty required item", {"name": uniq(), "type": "SQLITE",
                                 "config": cfg(dst_project="")},
         "InvalidParameter.Config", ["dst.project is required"]),
        ("relative sqlite path", {"name": uniq(), "type": "SQLITE",
                                  "config": cfg(sqlite_path="data/src.db")},
         "InvalidParameter.Config", ["sqlite.path", "absolute"]),
        ("wrong value type", {"name": uniq(), "type": "SQLITE",
                              "config": cfg(sqlite_path=12)},
         "InvalidParameter.Config", ["sqlite.path must be a string"]),
        ("value too long", {"name": uniq(), "type": "SQLITE",
                            "config": cfg(sqlite_path="/" + "x" * 4096)},
         "InvalidParameter.Config", ["4096"]),
        ("relative sqlite url", {"name": uniq(), "type": "SQLITE",
                                 "config": cfg(dst_url="sqlite://rel/dir")},
         "InvalidParameter.Config", ["dst.url", "absolute"]),
        ("scheme without connector", {"name": uniq(), "type": "SQLITE",
                                      "config": cfg(dst_url="oracle://u:topsecret@h/x")},
         "InvalidParameter.Config", ["dst.url", "'oracle'", "sqlite://"]),
        ("project is a path", {"name": uniq(), "type": "SQLITE",
                               "config": cfg(dst_project="../x")},
         "InvalidParameter.Config", ["dst.project"]),
        ("long region", {"name": uniq(), "type": "SQLITE", "config": good, "region": "r" * 257},
         "InvalidParameter.Region", ["256"]),
        ("long networklink", {"name": uniq(), "type": "SQLITE", "config": good,
                              "networklink": "n" * 257},
         "InvalidParameter.Networklink", ["256"]),
    ]


def test_create_rejects_bad_input(mms, source_db, workdir):
    before = mms.ok("GET", DS)["total"]
    for what, body, code, parts in _bad_create_cases(source_db, os.path.join(workdir, "dst")):
        b = assert_error(create(mms, body), 400, code, *parts)
        assert "topsecret" not in b["message"], what
    # Nothing was created by any of them.
    assert mms.ok("GET", DS)["total"] == before


def test_create_rejects_bad_bodies(mms):
    assert_error(mms.call("POST", DS, raw_body="{not json"), 400, "InvalidParameter.Body")
    assert_error(mms.call("POST", DS, raw_body="[1]"), 400, "InvalidParameter.Body")
    assert_error(mms.call("POST", DS, raw_body=""), 400, "InvalidParameter.Name")
    # Duplicate keys are refused by the JSON parser.
    assert_error(mms.call("POST", DS, raw_body='{"name":"a","name":"b"}'), 400,
                 "InvalidParameter.Body")


def test_create_duplicate_name(mms, source_db, workdir):
    name = uniq()
    create_ok(mms, source_db, workdir, name=name)
    body = {"name": name, "type": "SQLITE",
            "config": sqlite_config(source_db, os.path.join(workdir, "dst"))}
    assert_error(create(mms, body), 409, "Conflict.DataSourceName", name)
    page = mms.ok("GET", DS, query={"name": name})
    assert page["total"] == 1


# ---- Get ------------------------------------------------------------------------------------

def test_get_without_and_with_config(mms, source_db, workdir):
    sid = create_ok(mms, source_db, workdir)
    d = wait_status(mms, sid)
    assert_datasource_shape(d)

    d = get_ds(mms, sid, withConfig="false")
    assert "config" not in d

    d = get_ds(mms, sid, withConfig="true")
    assert_datasource_shape(d, with_config=True)
    items = {c["key"]: c for c in d["config"]}
    assert list(items) == ["sqlite.path", "dst.url", "dst.project"] + LIMIT_KEYS
    assert items["sqlite.path"]["value"] == os.path.abspath(source_db)
    assert items["dst.url"]["value"] == sqlite_url(os.path.join(workdir, "dst"))
    assert items["dst.project"]["value"] == "wh"
    for c in d["config"]:
        for k, typ in CONFIG_ITEM_FIELDS.items():
            assert isinstance(c[k], typ), (k, c)
    # zh_CN is the default language; en_US on request.
    assert items["sqlite.path"]["name"] == "SQLite 数据库文件"
    d_en = get_ds(mms, sid, withConfig="true", lang="en_US")
    assert d_en["config"][0]["name"] == "SQLite database file"
    assert d_en["config"][2]["value"] == "wh"


def test_get_bad_ids_and_params(mms, source_db, workdir):
    for bad in ("abc", "0", "-1", "01", "99999999999999999999", "1.5", "%201"):
        assert_error(mms.call("GET", "%s/%s" % (DS, bad)), 400, "InvalidParameter.SourceId")
    assert_error(mms.call("GET", "%s/%d" % (DS, 987654321987)), 404, "NotFound.DataSource",
                 "987654321987")
    sid = create_ok(mms, source_db, workdir)
    assert_error(mms.call("GET", "%s/%d" % (DS, sid), query={"withConfig": "maybe"}), 400,
                 "InvalidParameter.WithConfig")
    assert_error(mms.call("GET", "%s/%d" % (DS, sid), query={"lang": "fr_FR"}), 400,
                 "InvalidParameter.Lang", "zh_CN", "en_US")


def test_secrets_are_never_echoed(mms, source_db, workdir):
    """The SQLite type has no password item (the synthetic password schema is covered by
    tests/unit/test_configitems.c); here: a URL password sent to the server comes back
    nowhere, not in errors, not in the source, not in the config items."""
    sid = create_ok(mms, source_db, workdir)
    wait_status(mms, sid)
    secret = "S3cr3t-pw-%s" % uuid.uuid4().hex[:6]
    url = "oracle://admin:%s@db.example:5432/warehouse" % secret  # no connector: refused
    cfg = sqlite_config(source_db, os.path.join(workdir, "dst"))
    cfg["dst.url"] = url
    r = create(mms, {"name": uniq(), "type": "SQLITE", "config": cfg})
    assert secret not in json.dumps(r[1])
    r = update(mms, sid, {"action": "UPDATE_CONFIG", "config": {"dst.url": url}})
    assert r[0] == 400 and secret not in json.dumps(r[1])
    d = get_ds(mms, sid, withConfig="true")
    assert secret not in json.dumps(d)
    assert secret not in mms.log_text()


# ---- List -----------------------------------------------------------------------------------

def test_list_filters_and_paging(mms, source_db, workdir):
    region = uniq("region")
    names = [uniq("list") for _ in range(3)]
    ids = [create_ok(mms, source_db, workdir, name=n, region=region) for n in names]
    for sid in ids:
        wait_status(mms, sid)

    # No paging: all rows, pageNum 1, pageSize = number returned.
    page = mms.ok("GET", DS, query={"region": region})
    assert page["total"] == 3 and page["pageNum"] == 1 and page["pageSize"] == 3
    assert [d["id"] for d in page["objectList"]] == ids
    for d in page["objectList"]:
        assert_datasource_shape(d, listed=True)
        assert d["scanStatus"] is None and d["scanErrMsg"] is None

    # Paging.
    p1 = mms.ok("GET", DS, query={"region": region, "pageNum": 1, "pageSize": 2})
    assert (p1["total"], p1["pageNum"], p1["pageSize"]) == (3, 1, 2)
    assert [d["id"] for d in p1["objectList"]] == ids[:2]
    p2 = mms.ok("GET", DS, query={"region": region, "pageNum": 2, "pageSize": 2})
    assert [d["id"] for d in p2["objectList"]] == ids[2:]
    p3 = mms.ok("GET", DS, query={"region": region, "pageNum": 3, "pageSize": 2})
    assert p3["objectList"] == [] and p3["total"] == 3
    # pageSize alone pages from 1 (the documented default pageNum).
    ps = mms.ok("GET", DS, query={"region": region, "pageSize": 1})
    assert ps["pageNum"] == 1 and [d["id"] for d in ps["objectList"]] == ids[:1]

    # Filters: name exact, type case-insensitive, unknown values match nothing.
    by_name = mms.ok("GET", DS, query={"name": names[1]})
    assert [d["id"] for d in by_name["objectList"]] == [ids[1]]
    assert mms.ok("GET", DS, query={"name": names[1][:-1]})["total"] == 0
    by_type = mms.ok("GET", DS, query={"region": region, "type": "sqlite"})
    assert by_type["total"] == 3
    assert mms.ok("GET", DS, query={"region": region, "type": "HIVE"})["total"] == 0
    both = mms.ok("GET", DS, query={"region": region, "name": names[2], "type": "SQLITE"})
    assert [d["id"] for d in both["objectList"]] == [ids[2]]


def test_list_bad_paging(mms):
    for q, code in (({"pageNum": "0"}, "InvalidParameter.PageNum"),
                    ({"pageNum": "x"}, "InvalidParameter.PageNum"),
                    ({"pageSize": "0"}, "InvalidParameter.PageSize"),
                    ({"pageSize": "100000"}, "InvalidParameter.PageSize"),
                    ({"pageSize": "-5"}, "InvalidParameter.PageSize")):
        assert_error(mms.call("GET", DS, query=q), 400, code)
    assert_error(mms.call("GET", DS, query={"name": "n" * 129}), 400, "InvalidParameter.Name")


def test_list_empty(fresh_mms):
    page = fresh_mms.ok("GET", DS)
    assert page == {"total": 0, "pageNum": 1, "pageSize": 0, "objectList": []}


# ---- Update: START / STOP / test ------------------------------------------------------------

def test_start_async_task(mms, source_db, workdir):
    sid = create_ok(mms, source_db, workdir)
    wait_status(mms, sid)
    aid = update_ok(mms, sid, {"action": "START"})
    t = mms.wait_async(sid, aid)
    assert_async_shape(t)
    assert t["id"] == aid and t["sourceId"] == sid
    assert t["type"] == "DATASOURCE_START"
    assert t["objectId"] == sid
    assert t["status"] == "DONE" and t["running"] is False and t["progress"] == 100
    assert json.loads(t["result"]) == {"status": "STARTED"}
    assert t["errorMsg"] is None
    assert t["startTime"] and t["endTime"] and t["createTime"]
    assert t["createTime"] <= t["startTime"] <= t["endTime"]
    d = get_ds(mms, sid)
    assert d["status"] == "STARTED" and d["agentIsOnline"] is True and d["errMsg"] is None
    # Another source's id does not reach this async task.
    other = create_ok(mms, source_db, workdir)
    assert_error(mms.call("GET", "%s/%d/asyncTasks/%d" % (DS, other, aid)), 404,
                 "NotFound.AsyncTask")


def test_start_failed_on_missing_file(mms, source_db, workdir):
    missing = os.path.join(workdir, "no-such-dir", "missing.db")
    body = {"name": uniq(), "type": "SQLITE",
            "config": sqlite_config(missing, os.path.join(workdir, "dst"))}
    status, b, _ = create(mms, body)
    assert status == 200, b
    sid = b["data"]["dataSourceId"]
    d = wait_status(mms, sid)
    assert_datasource_shape(d)
    assert d["status"] == "START_FAILED"
    assert d["agentIsOnline"] is False
    assert missing in d["errMsg"] and "No such file" in d["errMsg"], d["errMsg"]

    aid = update_ok(mms, sid, {"action": "START"})
    t = mms.wait_async(sid, aid)
    assert_async_shape(t)
    assert t["type"] == "DATASOURCE_START"
    assert t["status"] == "FAILED" and t["running"] is False
    assert t["result"] is None
    assert missing in t["errorMsg"] and "source" in t["errorMsg"]
    assert get_ds(mms, sid)["errMsg"] == t["errorMsg"]

    # Fix the config (the file appears), start again: STARTED, errMsg cleared.
    os.makedirs(os.path.dirname(missing))
    os.link(source_db, missing)
    t = mms.wait_async(sid, update_ok(mms, sid, {"action": "START"}))
    assert t["status"] == "DONE", t
    d = get_ds(mms, sid)
    assert d["status"] == "STARTED" and d["errMsg"] is None


def test_start_failed_on_bad_destination(mms, source_db, workdir):
    blocker = os.path.join(workdir, "a-file")
    open(blocker, "w").close()
    body = {"name": uniq(), "type": "SQLITE",
            "config": sqlite_config(source_db, os.path.join(blocker, "dst"))}
    sid = create(mms, body)[1]["data"]["dataSourceId"]
    d = wait_status(mms, sid)
    assert d["status"] == "START_FAILED"
    assert d["errMsg"].startswith("destination:"), d["errMsg"]


def test_stop_and_start_again(mms, source_db, workdir):
    sid = create_ok(mms, source_db, workdir)
    wait_status(mms, sid)
    aid = update_ok(mms, sid, {"action": "STOP"})
    t = mms.wait_async(sid, aid)
    assert_async_shape(t)
    assert t["type"] == "DATASOURCE_STOP" and t["objectId"] == sid
    assert t["status"] == "DONE" and json.loads(t["result"]) == {"status": "STOPPED"}
    d = get_ds(mms, sid)
    assert d["status"] == "STOPPED" and d["agentIsOnline"] is False and d["errMsg"] is None
    # A stopped source can be stopped again, and started again.
    assert mms.wait_async(sid, update_ok(mms, sid, {"action": "STOP"}))["status"] == "DONE"
    t = mms.wait_async(sid, update_ok(mms, sid, {"action": "START"}))
    assert t["status"] == "DONE"
    assert get_ds(mms, sid)["status"] == "STARTED"


def test_stopped_source_refuses_scans(mms, source_db, workdir):
    sid = create_ok(mms, source_db, workdir)
    wait_status(mms, sid)
    mms.wait_async(sid, update_ok(mms, sid, {"action": "STOP"}))
    status, b, _ = mms.call("POST", "%s/%d/scans" % (DS, sid), body={})
    if status == 501:
        pytest.skip("CreateMmsFetchMetadataJob is not served yet")
    assert status == 409 and b["code"] == "Conflict.DataSourceStopped", b


def test_test_alone(mms, source_db, workdir):
    sid = create_ok(mms, source_db, workdir)
    wait_status(mms, sid)
    aid = update_ok(mms, sid, {"test": True})
    t = mms.wait_async(sid, aid)
    assert_async_shape(t)
    assert t["type"] == "DATASOURCE_TEST" and t["objectId"] == sid
    assert t["status"] == "DONE" and t["progress"] == 100
    assert json.loads(t["result"]) == {"source": "ok", "destination": "ok"}
    assert t["errorMsg"] is None
    assert get_ds(mms, sid)["status"] == "STARTED"


def test_update_config_with_test(mms, source_db, workdir):
    sid = create_ok(mms, source_db, workdir)
    wait_status(mms, sid)
    missing = os.path.join(workdir, "gone.db")
    aid = update_ok(mms, sid, {"action": "UPDATE_CONFIG", "test": True,
                               "config": {"sqlite.path": missing}})
    t = mms.wait_async(sid, aid)
    assert_async_shape(t)
    assert t["type"] == "DATASOURCE_TEST"
    assert t["status"] == "FAILED" and t["running"] is False
    assert missing in t["errorMsg"]
    assert json.loads(t["result"]) == {"source": "failed", "destination": "ok"}
    # The config was saved anyway; the status did not change.
    d = get_ds(mms, sid, withConfig="true")
    assert d["status"] == "STARTED"
    assert {c["key"]: c["value"] for c in d["config"]}["sqlite.path"] == missing
    # Test alone now tests the stored (broken) config, then a fixed one passes.
    assert mms.wait_async(sid, update_ok(mms, sid, {"test": True}))["status"] == "FAILED"
    t = mms.wait_async(sid, update_ok(mms, sid, {"action": "UPDATE_CONFIG", "test": True,
                                                 "config": {"sqlite.path": source_db}}))
    assert t["status"] == "DONE", t


def test_update_config_is_merged_and_validated(mms, source_db, workdir):
    sid = create_ok(mms, source_db, workdir)
    wait_status(mms, sid)
    aid = update_ok(mms, sid, {"action": "UPDATE_CONFIG", "config": {"dst.project": "other"}})
    t = mms.get_async(sid, aid)  # immediate: already DONE
    assert_async_shape(t)
    assert t["type"] == "DATASOURCE_UPDATE" and t["status"] == "DONE"
    assert t["running"] is False and t["progress"] == 100 and t["errorMsg"] is None
    assert json.loads(t["result"]) == {"action": "UPDATE_CONFIG"}
    assert t["startTime"] and t["endTime"]
    d = get_ds(mms, sid, withConfig="true")
    values = {c["key"]: c["value"] for c in d["config"]}
    assert values == {"sqlite.path": os.path.abspath(source_db),
                      "dst.url": sqlite_url(os.path.join(workdir, "dst")),
                      "dst.project": "other", **{k: None for k in LIMIT_KEYS}}
    assert d["dstProject"] == "other"

    # Validated as a whole after the merge; a failure changes nothing.
    assert_error(update(mms, sid, {"action": "UPDATE_CONFIG", "config": {"dst.url": None}}),
                 400, "InvalidParameter.Config", "dst.url is required")
    assert_error(update(mms, sid, {"action": "UPDATE_CONFIG", "config": {"nope": "x"}}),
                 400, "InvalidParameter.Config", "nope")
    assert_error(update(mms, sid, {"action": "UPDATE_CONFIG",
                                   "config": {"sqlite.path": "relative.db"}}),
                 400, "InvalidParameter.Config", "absolute")
    assert get_ds(mms, sid, withConfig="true")["config"] == d["config"]


def test_rename(mms, source_db, workdir):
    a, b = uniq(), uniq()
    sid = create_ok(mms, source_db, workdir, name=a)
    other = create_ok(mms, source_db, workdir, name=b)
    new = uniq()
    aid = update_ok(mms, sid, {"action": "RENAME", "name": new})
    t = mms.get_async(sid, aid)
    assert_async_shape(t)
    assert t["type"] == "DATASOURCE_UPDATE" and t["status"] == "DONE"
    assert json.loads(t["result"]) == {"action": "RENAME", "name": new}
    assert get_ds(mms, sid)["name"] == new
    assert mms.ok("GET", DS, query={"name": a})["total"] == 0
    # Renaming onto another source's name conflicts; onto its own name is fine.
    assert_error(update(mms, sid, {"action": "RENAME", "name": b}), 409,
                 "Conflict.DataSourceName", b)
    update_ok(mms, sid, {"action": "RENAME", "name": new})
    assert get_ds(mms, other)["name"] == b


def test_update_rejects_bad_bodies(mms, source_db, workdir):
    sid = create_ok(mms, source_db, workdir)
    wait_status(mms, sid)
    cases = [
        ({}, "InvalidParameter.Action", ["action is required"]),
        ({"test": False}, "InvalidParameter.Action", ["action is required"]),
        ({"action": "RESTART"}, "InvalidParameter.Action", ["UPDATE_CONFIG"]),
        ({"action": 1}, "InvalidParameter.Action", ["string"]),
        ({"action": "RENAME"}, "InvalidParameter.Name", ["name is required"]),
        ({"action": "RENAME", "name": ""}, "InvalidParameter.Name", ["1..128"]),
        ({"action": "START", "name": "x"}, "InvalidParameter.Name", ["RENAME"]),
        ({"action": "START", "config": {}}, "InvalidParameter.Config", ["UPDATE_CONFIG"]),
        ({"test": True, "config": {}}, "InvalidParameter.Config", ["UPDATE_CONFIG"]),
        ({"action": "UPDATE_CONFIG"}, "InvalidParameter.Config", ["config is required"]),
        ({"action": "UPDATE_CONFIG", "config": []}, "InvalidParameter.Config", ["object"]),
        ({"action": "STOP", "test": True}, "InvalidParameter.Test", ["STOP"]),
        ({"action": "RENAME", "name": "x", "test": True}, "InvalidParameter.Test", ["RENAME"]),
        ({"test": "yes"}, "InvalidParameter.Test", ["true or false"]),
        ({"action": "START", "force": True}, "InvalidParameter.UnknownField", ["force"]),
    ]
    for body, code, parts in cases:
        assert_error(update(mms, sid, body), 400, code, *parts)
    assert_error(mms.call("PUT", "%s/%d" % (DS, sid), raw_body="nope"), 400,
                 "InvalidParameter.Body")
    assert_error(update(mms, 987654321987, {"action": "START"}), 404, "NotFound.DataSource")
    assert_error(mms.call("PUT", DS + "/x1", body={"action": "START"}), 400,
                 "InvalidParameter.SourceId")
    # None of that changed the source.
    d = get_ds(mms, sid)
    assert d["status"] == "STARTED"


# ---- Delete ---------------------------------------------------------------------------------

def test_delete(mms, source_db, workdir):
    sid = create_ok(mms, source_db, workdir)
    wait_status(mms, sid)
    aid = update_ok(mms, sid, {"test": True})
    mms.wait_async(sid, aid)
    assert mms.ok("DELETE", "%s/%d" % (DS, sid)) == sid
    assert_error(mms.call("GET", "%s/%d" % (DS, sid)), 404, "NotFound.DataSource")
    assert_error(mms.call("DELETE", "%s/%d" % (DS, sid)), 404, "NotFound.DataSource")
    assert_error(mms.call("PUT", "%s/%d" % (DS, sid), body={"action": "START"}), 404,
                 "NotFound.DataSource")
    # Its async tasks went with it.
    assert_error(mms.call("GET", "%s/%d/asyncTasks/%d" % (DS, sid, aid)), 404,
                 "NotFound.AsyncTask")
    for bad in ("0", "abc", "-3"):
        assert_error(mms.call("DELETE", "%s/%s" % (DS, bad)), 400, "InvalidParameter.SourceId")


def _store(srv):
    con = sqlite3.connect(os.path.join(srv.data_dir, "mms.db"), timeout=30)
    con.execute("PRAGMA foreign_keys=ON")
    return con


def test_counters_scan_status_and_cascading_delete(fresh_mms, source_db, workdir):
    """Catalog, scan, job and task rows written straight into the store (as the scan and job
    engines would) show up in the counters and the list, block the delete while a task is
    leased, and all go away with the source."""
    mms = fresh_mms
    sid = create_ok(mms, source_db, workdir)
    keep = create_ok(mms, source_db, workdir)
    wait_status(mms, sid)
    wait_status(mms, keep)
    now = int(time.time())
    con = _store(mms)
    with con:
        for source in (sid, keep):
            db_id = con.execute("INSERT INTO db (source_id, name, create_time) VALUES (?,?,?)",
                                (source, "main", now)).lastrowid
            con.execute("INSERT INTO db (source_id, name, deleted, create_time)"
                        " VALUES (?, 'gone', 1, ?)", (source, now))
            tids = []
            for name, status, deleted in (("a", "DOING", 0), ("b", "DONE", 0),
                                          ("c", "FAILED", 0), ("d", "PART_DONE", 0),
                                          ("e", "INIT", 0), ("f", "DONE", 1)):
                tids.append(con.execute(
                    "INSERT INTO tbl (source_id, db_id, name, status, deleted, has_partitions,"
                    " create_time) VALUES (?,?,?,?,?,1,?)",
                    (source, db_id, name, status, deleted, now)).lastrowid)
            for i, status in enumerate(("DOING", "DONE", "DONE", "FAILED", "INIT")):
                con.execute("INSERT INTO part (source_id, db_id, table_id, value, status,"
                            " create_time) VALUES (?,?,?,?,?,?)",
                            (source, db_id, tids[3], "p=%d" % i, status, now))
            con.execute("INSERT INTO part (source_id, db_id, table_id, value, status, deleted,"
                        " create_time) VALUES (?,?,?,'p=x','DONE',1,?)",
                        (source, db_id, tids[3], now))
        con.execute("INSERT INTO scan (source_id, status, create_time) VALUES (?,?,?)",
                    (sid, "SCAN_DONE", now))
        scan_id = con.execute("INSERT INTO scan (source_id, status, error_msg, create_time)"
                              " VALUES (?,?,?,?)", (sid, "SCAN_FAILED", "boom", now)).lastrowid
        job_id = con.execute("INSERT INTO job (source_id, name, type, create_time)"
                             " VALUES (?, 'j', 'Tables', ?)", (sid, now)).lastrowid
        # A task held by a live worker (not claimable: its lease is far in the future).
        task_id = con.execute(
            "INSERT INTO task (job_id, source_id, type, status, queued, lease_owner,"
            " lease_until, create_time) VALUES (?,?, 'SQLITE', 'DATA_DOING', 0, 'other-w0', ?, ?)",
            (job_id, sid, (now + 3600) * 1000, now)).lastrowid
        con.execute("INSERT INTO task_log (source_id, task_id, status, create_time)"
                    " VALUES (?,?, 'DATA_DOING', ?)", (sid, task_id, now))
    con.close()

    d = get_ds(mms, sid)
    assert_datasource_shape(d)
    assert (d["dbNum"], d["tableNum"], d["partitionNum"]) == (1, 5, 5)
    assert (d["tablesDoingNum"], d["tablesDoneNum"], d["tablesFailedNum"],
            d["tablesPartDoneNum"]) == (1, 1, 1, 1)
    assert (d["partitionsDoingNum"], d["partitionsDoneNum"],
            d["partitionsFailedNum"]) == (1, 2, 1)
    assert d["scanId"] == scan_id
    listed = {x["id"]: x for x in mms.ok("GET", DS)["objectList"]}
    assert listed[sid]["scanStatus"] == "SCAN_FAILED"
    assert listed[sid]["scanErrMsg"] == "boom"
    assert listed[sid]["scanId"] == scan_id
    assert listed[keep]["scanStatus"] is None and listed[keep]["scanId"] is None
    assert listed[sid]["tableNum"] == 5

    # A running task blocks the delete.
    assert_error(mms.call("DELETE", "%s/%d" % (DS, sid)), 409, "Conflict.JobRunning",
                 "stop its jobs first")
    assert get_ds(mms, sid)["id"] == sid
    # Its lease expires (the worker died): the delete goes through and cascades.
    con = _store(mms)
    with con:
        con.execute("UPDATE task SET lease_until = ? WHERE id = ?", ((now - 10) * 1000, task_id))
    con.close()
    assert mms.ok("DELETE", "%s/%d" % (DS, sid)) == sid

    con = _store(mms)
    try:
        for table in ("db", "tbl", "part", "scan", "async_task", "job", "task_log"):
            n = con.execute("SELECT COUNT(*) FROM %s WHERE source_id = ?" % table,
                            (sid,)).fetchone()[0]
            assert n == 0, table
        n = con.execute("SELECT COUNT(*) FROM task WHERE job_id = ?", (job_id,)).fetchone()[0]
        assert n == 0
        # The other source kept everything.
        n = con.execute("SELECT COUNT(*) FROM tbl WHERE source_id = ?", (keep,)).fetchone()[0]
        assert n == 6
    finally:
        con.close()
    assert get_ds(mms, keep)["tableNum"] == 5


def test_start_stop_refused_while_busy(fresh_mms, source_db, workdir):
    """START/STOP while a START or STOP is in flight -> 409 Conflict.DataSourceBusy. The
    in-flight state is set in the store directly (a real one lasts milliseconds)."""
    mms = fresh_mms
    sid = create_ok(mms, source_db, workdir)
    wait_status(mms, sid)
    for busy in ("STARTING", "STOPPING"):
        con = _store(mms)
        with con:
            con.execute("UPDATE datasource SET status = ? WHERE id = ?", (busy, sid))
        con.close()
        for action in ("START", "STOP"):
            assert_error(update(mms, sid, {"action": action}), 409, "Conflict.DataSourceBusy",
                         busy)
        # Other updates are still taken.
        update_ok(mms, sid, {"action": "RENAME", "name": uniq()})
        mms.wait_async(sid, update_ok(mms, sid, {"test": True}))
        assert get_ds(mms, sid)["status"] == busy
    con = _store(mms)
    with con:
        con.execute("UPDATE datasource SET status = 'STOPPED' WHERE id = ?", (sid,))
    con.close()
    assert mms.wait_async(sid, update_ok(mms, sid, {"action": "START"}))["status"] == "DONE"
    assert get_ds(mms, sid)["status"] == "STARTED"


# ---- ListMmsDataSourceConfigItems -----------------------------------------------------------

def test_config_items(mms):
    zh = mms.ok("GET", API + "/configItems", query={"sourceType": "SQLITE"})
    en = mms.ok("GET", API + "/configItems", query={"sourceType": "sqlite", "lang": "en_US"})
    zh2 = mms.ok("GET", API + "/configItems", query={"sourceType": "SqLite", "lang": "zh_CN"})
    assert zh == zh2
    assert [c["key"] for c in zh] == ["sqlite.path", "dst.url", "dst.project"] + LIMIT_KEYS
    assert [c["key"] for c in en] == [c["key"] for c in zh]
    for c in zh + en:
        for k, typ in CONFIG_ITEM_FIELDS.items():
            assert isinstance(c[k], typ), (k, c)
        assert c["type"] in ("string", "int", "boolean", "password", "map", "file")
        assert "value" in c and "placeHolder" in c and "subType" in c
        assert c["required"] is (c["key"] not in LIMIT_KEYS)
    by_key = {c["key"]: c for c in en}
    assert by_key["sqlite.path"]["group"] == "basic"
    assert by_key["dst.url"]["group"] == "destination"
    assert by_key["dst.project"]["group"] == "destination"
    assert by_key["sqlite.path"]["name"] == "SQLite database file"
    assert "sqlite:///" in by_key["dst.url"]["desc"]
    assert {c["key"]: c["name"] for c in zh}["dst.project"] == "默认目标数据库"
    assert zh[0]["desc"] != en[0]["desc"]


def test_config_items_bad_params(mms):
    b = assert_error(mms.call("GET", API + "/configItems"), 400, "InvalidParameter.SourceType",
                     "required", "SQLITE")
    assert_error(mms.call("GET", API + "/configItems", query={"sourceType": ""}), 400,
                 "InvalidParameter.SourceType", "SQLITE")
    assert_error(mms.call("GET", API + "/configItems", query={"sourceType": "Hive"}), 400,
                 "InvalidParameter.SourceType", "'Hive' is not supported", "SQLITE")
    assert_error(mms.call("GET", API + "/configItems",
                          query={"sourceType": "SQLITE", "lang": "de_DE"}),
                 400, "InvalidParameter.Lang")
    assert b["message"]


def test_passwords_are_encrypted_at_rest_and_masked(mms, workdir):
    """A POSTGRESQL source's pg.password: stored sealed under the master key (never the clear
    text in the store file), masked in every response, absent from the log; keeping "******"
    on UPDATE_CONFIG keeps the stored secret."""
    from mmsd import register_secret
    secret = register_secret("pg-Secret-%s" % uuid.uuid4().hex[:8])
    cfg = {"pg.host": "127.0.0.1", "pg.port": 1, "pg.user": "mms", "pg.password": secret,
           "pg.database": "shop", "pg.connect_timeout": 1,
           "dst.url": sqlite_url(os.path.join(workdir, "dst-enc")), "dst.project": "p"}
    status, body, _ = create(mms, {"name": uniq("pg"), "type": "POSTGRESQL", "config": cfg})
    assert status == 200, body
    sid = body["data"]["dataSourceId"]
    # Nothing listens on port 1: the start fails, with a message that has no secret.
    d = wait_status(mms, sid)
    assert d["status"] == "START_FAILED", d
    assert secret not in json.dumps(d)
    got = get_ds(mms, sid, withConfig="true")
    items = {c["key"]: c for c in got["config"]}
    assert items["pg.password"]["value"] == "******"
    assert secret not in json.dumps(got)

    def stored():
        with sqlite3.connect(os.path.join(mms.data_dir, "mms.db")) as db:
            return json.loads(db.execute("SELECT config FROM datasource WHERE id = ?",
                                         (sid,)).fetchone()[0])
    raw = stored()
    assert raw["pg.password"].startswith("enc:v1:"), raw
    assert secret not in json.dumps(raw)
    # "******" keeps the stored value (re-sealed, same secret underneath).
    status, body, _ = update(mms, sid, {"action": "UPDATE_CONFIG",
                                        "config": dict(cfg, **{"pg.password": "******",
                                                               "pg.port": 2})})
    assert status == 200, body
    raw2 = stored()
    assert raw2["pg.password"].startswith("enc:v1:") and raw2["pg.port"] == 2
    assert secret not in json.dumps(raw2)
    # The async test of the stored config runs with the decrypted secret and stores none.
    status, body, _ = update(mms, sid, {"test": True})
    assert status == 200, body
    t = mms.wait_async(sid, body["data"]["asyncTaskId"])
    assert t["status"] == "FAILED" and secret not in json.dumps(t)
    with sqlite3.connect(os.path.join(mms.data_dir, "mms.db")) as db:
        for (params,) in db.execute("SELECT params FROM async_task WHERE source_id = ?", (sid,)):
            assert params is None or secret not in params
    assert secret not in mms.log_text()
