"""Authentication and authorisation, black-box (issue 4; docs/security.md).

Every request of the other API tests is signed by the harness (tests/lib/mmsd.py); here the
negative cases: each error code of docs/security.md "Errors", replayed nonces, stale dates,
tampered bodies and queries, disabled and deleted keys, policies that deny, data sources
outside a policy's resources (403, never 404: see docs/security.md "Policies and listing"),
ListMmsDataSources filtering, --insecure-no-auth, HTTPS, the master key file, the key and
policy subcommands, and no secret in any log line.
"""
import json
import os
import re
import shutil
import stat
import subprocess
import time
import uuid

import pytest

from mmsd import API, Mmsd, MmsdError, register_secret, sign_request  # noqa: F401

DS = API + "/datasources"
DENY_FIELDS = ("AuthAction", "AuthResource", "NoPermissionType")


def assert_error(r, status, code):
    st, body, _ = r
    assert st == status, (st, body)
    assert isinstance(body, dict), body
    assert body["code"] == code, body
    assert body["httpCode"] == status, body
    assert body["requestId"] and body["message"], body
    return body


def arn(sid):
    return "acs:odps:cn-hangzhou:0:mmsdatasource/%d" % sid


def policy(*statements):
    return {"Version": "1", "Statement": list(statements)}


def allow(action, resource):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def deny(action, resource):
    return {"Effect": "Deny", "Action": action, "Resource": resource}


@pytest.fixture(scope="module")
def src(mms, tmp_path_factory):
    """Two data sources of the module's server: (a, b)."""
    d = tmp_path_factory.mktemp("auth-src")
    path = str(d / "s.db")
    import sqlite3
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    con.commit()
    con.close()
    a = mms.create_sqlite_source(path, str(d / "dst"), name="auth-a-%s" % uuid.uuid4().hex[:6])
    b = mms.create_sqlite_source(path, str(d / "dst"), name="auth-b-%s" % uuid.uuid4().hex[:6])
    return a, b


def drop_header(name):
    def t(url, data, headers):
        return url, data, {k: v for k, v in headers.items() if k.lower() != name}
    return t


# ---- authentication: missing and malformed ---------------------------------------------------

def test_unsigned_request_is_refused(mms):
    body = assert_error(mms.call("GET", DS, auth=False), 400, "MissingAuthorization")
    assert set(body) == {"requestId", "code", "message", "httpCode"}


def test_unsigned_unknown_path_is_refused_before_routing(mms):
    assert_error(mms.call("GET", "/nope", auth=False), 400, "MissingAuthorization")
    assert_error(mms.call("GET", "/nope"), 404, "InvalidAction.NotFound")


def test_healthz_needs_no_signature(mms):
    st, body, _ = mms.call("GET", "/healthz", auth=False)
    assert st == 200 and body["data"]["status"] == "ok"


@pytest.mark.parametrize("value", [
    "Bearer abc",
    "ACS3-HMAC-SM3 Credential=x,SignedHeaders=host,Signature=00",
    "ACS3-HMAC-SHA256",
    "ACS3-HMAC-SHA256 Credential=LTAIx,SignedHeaders=host",
    "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=00",
    "acs nocolon",
    "acs :sig",
])
def test_malformed_authorization(mms, value):
    def t(url, data, headers):
        headers = dict(headers)
        headers["authorization"] = value
        return url, data, headers
    assert_error(mms.call("GET", DS, tamper=t), 400, "InvalidAuthorization")


def test_unsigned_x_acs_header_is_refused(mms):
    # x-acs-action is sent but left out of SignedHeaders.
    r = mms.call("GET", DS, sign={"signed_headers": [
        "host", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce",
        "x-acs-version"]})
    body = assert_error(r, 400, "InvalidAuthorization")
    assert "x-acs-action" in body["message"]


def test_host_must_be_signed(mms):
    r = mms.call("GET", DS, sign={"signed_headers": [
        "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce",
        "x-acs-version"]})
    assert_error(r, 400, "InvalidAuthorization")


def test_missing_date_nonce_digest(mms):
    assert_error(mms.call("GET", DS, tamper=drop_header("x-acs-date")), 400, "MissingTimeStamp")
    assert_error(mms.call("GET", DS, tamper=drop_header("x-acs-signature-nonce")), 400,
                 "MissingSignatureNonce")
    assert_error(mms.call("GET", DS, tamper=drop_header("x-acs-content-sha256")), 400,
                 "InvalidAuthorization")


# ---- keys ------------------------------------------------------------------------------------

def test_unknown_key(mms):
    r = mms.call("GET", DS, auth=("LTAInotAKeyOfThisServer0", "whatever"))
    assert_error(r, 404, "InvalidAccessKeyId.NotFound")


def test_wrong_secret(mms):
    r = mms.call("GET", DS, auth=(mms.key[0], mms.key[1][:-1] + "x"))
    body = assert_error(r, 400, "SignatureDoesNotMatch")
    # Without --auth-debug-signature the server's string-to-sign is not shown.
    assert "ACS3-HMAC-SHA256" not in body["message"]
    assert "string to sign" not in body["message"]


def test_debug_signature_shows_the_string_to_sign(mmsd_factory):
    srv = mmsd_factory(args=["--auth-debug-signature"])
    r = srv.call("GET", DS, auth=(srv.key[0], "wrong-secret"))
    body = assert_error(r, 400, "SignatureDoesNotMatch")
    assert "string to sign is:ACS3-HMAC-SHA256\n" in body["message"], body
    assert srv.key[1] not in json.dumps(body)
    assert "auth-debug-signature" in srv.log_text()


def test_disabled_then_enabled_then_deleted_key(mms):
    key = mms.create_key(admin=True)
    assert mms.call("GET", DS, auth=key)[0] == 200
    mms.cli("key", "disable", key[0])
    assert_error(mms.call("GET", DS, auth=key), 400, "InvalidAccessKeyId.Inactive")
    mms.cli("key", "enable", key[0])
    assert mms.call("GET", DS, auth=key)[0] == 200
    mms.cli("key", "delete", key[0])
    assert_error(mms.call("GET", DS, auth=key), 404, "InvalidAccessKeyId.NotFound")


# ---- replay, clock, integrity ------------------------------------------------------------------

def test_replayed_nonce(mms):
    nonce = uuid.uuid4().hex
    assert mms.call("GET", DS, sign={"nonce": nonce})[0] == 200
    assert_error(mms.call("GET", DS, sign={"nonce": nonce}), 400, "SignatureNonceUsed")
    # The same nonce through the other scheme, or on another path, is still a replay.
    assert_error(mms.call("GET", DS + "/1", sign={"nonce": nonce}), 400, "SignatureNonceUsed")
    assert_error(mms.call("GET", DS, sign={"nonce": nonce, "algo": "ROA"}), 400,
                 "SignatureNonceUsed")


def test_forged_request_does_not_burn_a_nonce(mms):
    nonce = uuid.uuid4().hex
    r = mms.call("GET", DS, auth=(mms.key[0], "bad"), sign={"nonce": nonce})
    assert_error(r, 400, "SignatureDoesNotMatch")
    assert mms.call("GET", DS, sign={"nonce": nonce})[0] == 200


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def rfc1123(t):
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t))


def test_stale_and_future_dates(mms):
    now = time.time()
    for t in (now - 1000, now + 1000):
        assert_error(mms.call("GET", DS, sign={"date": iso(t)}), 400,
                     "InvalidTimeStamp.Expired")
        assert_error(mms.call("GET", DS, sign={"date": rfc1123(t), "algo": "ROA"}), 400,
                     "InvalidTimeStamp.Expired")
    # Within the default 900 s window: fine.
    assert mms.call("GET", DS, sign={"date": iso(now - 600)})[0] == 200
    assert_error(mms.call("GET", DS, sign={"date": "2024-01-01 00:00:00"}), 400,
                 "InvalidTimeStamp.Format")


def test_clock_skew_option(mmsd_factory):
    srv = mmsd_factory(args=["--clock-skew-seconds", "5"])
    assert_error(srv.call("GET", DS, sign={"date": iso(time.time() - 60)}), 400,
                 "InvalidTimeStamp.Expired")
    assert srv.call("GET", DS)[0] == 200


def test_tampered_body(mms, src):
    a, _ = src
    body = json.dumps({"action": "STOP"}).encode()
    evil = json.dumps({"action": "START"}).encode()

    def swap(url, data, headers):
        return url, evil, headers
    # The digest header still names the signed body: the real body does not match it.
    r = mms.call("PUT", "%s/%d" % (DS, a), raw_body=body, tamper=swap)
    assert_error(r, 400, "ContentSha256Mismatch")

    # The digest header recomputed for the new body: the signature no longer matches.
    def swap_and_digest(url, data, headers):
        import hashlib
        headers = dict(headers)
        headers["x-acs-content-sha256"] = hashlib.sha256(evil).hexdigest()
        return url, evil, headers
    r = mms.call("PUT", "%s/%d" % (DS, a), raw_body=body, tamper=swap_and_digest)
    assert_error(r, 400, "SignatureDoesNotMatch")


def test_tampered_query_and_path(mms, src):
    a, b = src

    def q(url, data, headers):
        return url.replace("pageSize=1", "pageSize=2"), data, headers
    assert_error(mms.call("GET", DS, query={"pageNum": 1, "pageSize": 1}, tamper=q), 400,
                 "SignatureDoesNotMatch")

    def p(url, data, headers):
        return url.replace("/%d" % a, "/%d" % b), data, headers
    assert_error(mms.call("GET", "%s/%d" % (DS, a), tamper=p), 400, "SignatureDoesNotMatch")

    def m(url, data, headers):
        headers = dict(headers)
        headers["x-acs-action"] = "DeleteMmsDataSource"
        return url, data, headers
    assert_error(mms.call("GET", "%s/%d" % (DS, a), tamper=m), 400, "SignatureDoesNotMatch")


def test_query_with_unusual_characters_is_signed_right(mms):
    q = [("name", "a b+c*d~e/é&="), ("region", "x"), ("type", "")]
    st, body, _ = mms.call("GET", DS, query=q)
    assert st == 200, body


def test_roa_scheme(mms, src, workdir, source_db):
    a, _ = src
    st, body, _ = mms.call("GET", "%s/%d" % (DS, a), sign={"algo": "ROA"})
    assert st == 200 and body["data"]["id"] == a, body
    cfg = {"sqlite.path": source_db, "dst.url": "sqlite://" + workdir, "dst.project": "p"}
    st, body, _ = mms.call("POST", DS, body={"name": "roa-" + uuid.uuid4().hex[:6],
                                             "type": "SQLITE", "config": cfg},
                           sign={"algo": "ROA"})
    assert st == 200, body
    r = mms.call("GET", DS, auth=(mms.key[0], "bad"), sign={"algo": "ROA"})
    assert_error(r, 400, "SignatureDoesNotMatch")
    assert_error(mms.call("GET", DS, sign={"algo": "ROA"}, tamper=drop_header("date")), 400,
                 "MissingTimeStamp")

    def q(url, data, headers):
        return url + "?pageNum=2", data, headers
    assert_error(mms.call("GET", DS, sign={"algo": "ROA"}, tamper=q), 400,
                 "SignatureDoesNotMatch")


# ---- authorisation -------------------------------------------------------------------------------

def test_new_key_may_do_nothing(mms, src):
    a, _ = src
    key = mms.create_key()
    body = assert_error(mms.call("GET", "%s/%d" % (DS, a), auth=key), 403, "Forbidden.RAM")
    d = body["accessDeniedDetail"]
    assert d["AuthAction"] == "odps:GetMmsDataSource"
    assert d["AuthResource"] == arn(a)
    assert d["NoPermissionType"] == "ImplicitDeny"
    assert d["AuthPrincipalDisplayName"] == key[0]
    assert "odps:GetMmsDataSource" in body["message"]
    body = assert_error(mms.call("GET", DS, auth=key), 403, "Forbidden.RAM")
    assert body["accessDeniedDetail"]["AuthResource"] == "*"
    # Errors other than 403 carry no detail.
    assert "accessDeniedDetail" not in assert_error(mms.call("GET", DS, auth=False), 400,
                                                    "MissingAuthorization")


def test_explicit_deny_wins(mms, src):
    a, _ = src
    key = mms.create_key()
    mms.attach_policy(key[0], policy(allow("odps:*", "*"),
                                     deny("odps:DeleteMms*", "*")))
    assert mms.call("GET", "%s/%d" % (DS, a), auth=key)[0] == 200
    body = assert_error(mms.call("DELETE", "%s/%d" % (DS, a), auth=key), 403, "Forbidden.RAM")
    assert body["accessDeniedDetail"]["NoPermissionType"] == "ExplicitDeny"
    assert body["accessDeniedDetail"]["AuthAction"] == "odps:DeleteMmsDataSource"
    assert mms.call("GET", "%s/%d" % (DS, a))[0] == 200  # still there


def test_action_wildcards(mms, src):
    a, _ = src
    key = mms.create_key()
    mms.attach_policy(key[0], policy(allow(["odps:Get*", "odps:List*"], "*")))
    assert mms.call("GET", "%s/%d" % (DS, a), auth=key)[0] == 200
    assert mms.call("GET", "%s/%d/jobs" % (DS, a), auth=key)[0] == 200
    assert_error(mms.call("PUT", "%s/%d" % (DS, a), body={"action": "STOP"}, auth=key), 403,
                 "Forbidden.RAM")


def test_source_outside_the_policy_is_403_not_404(mms, src):
    a, b = src
    key = mms.create_key()
    mms.attach_policy(key[0], policy(allow("odps:*", arn(a))))
    assert mms.call("GET", "%s/%d" % (DS, a), auth=key)[0] == 200
    assert mms.call("GET", "%s/%d/jobs" % (DS, a), auth=key)[0] == 200
    body = assert_error(mms.call("GET", "%s/%d" % (DS, b), auth=key), 403, "Forbidden.RAM")
    assert body["accessDeniedDetail"]["AuthResource"] == arn(b)
    assert_error(mms.call("GET", "%s/%d/tasks" % (DS, b), auth=key), 403, "Forbidden.RAM")
    # A source that does not exist is just as forbidden: no existence oracle.
    assert_error(mms.call("GET", "%s/%d" % (DS, 987654321), auth=key), 403, "Forbidden.RAM")
    # A caller allowed on every source gets the 404.
    assert_error(mms.call("GET", "%s/%d" % (DS, 987654321)), 404, "NotFound.DataSource")
    # CreateMmsDataSource is checked on "*": a policy naming sources does not cover it.
    body = assert_error(mms.call("POST", DS, body={"name": "x", "type": "SQLITE", "config": {}},
                                 auth=key), 403, "Forbidden.RAM")
    assert body["accessDeniedDetail"]["AuthResource"] == "*"


def test_list_is_filtered_to_the_callers_sources(mms, src):
    a, b = src
    everything = mms.ok("GET", DS)
    assert {a, b} <= {x["id"] for x in everything["objectList"]}
    key = mms.create_key()
    mms.attach_policy(key[0], policy(allow("odps:ListMmsDataSources", arn(a))))
    st, body, _ = mms.call("GET", DS, auth=key)
    assert st == 200, body
    assert [x["id"] for x in body["data"]["objectList"]] == [a]
    assert body["data"]["total"] == 1
    st, body, _ = mms.call("GET", DS, query={"pageNum": 1, "pageSize": 10}, auth=key)
    assert st == 200 and body["data"]["total"] == 1 and body["data"]["pageSize"] == 10
    assert [x["id"] for x in body["data"]["objectList"]] == [a]
    st, body, _ = mms.call("GET", DS, query={"pageNum": 2, "pageSize": 1}, auth=key)
    assert st == 200 and body["data"]["objectList"] == [] and body["data"]["total"] == 1
    # Allowed on "*" but denied on b: everything but b.
    key2 = mms.create_key()
    mms.attach_policy(key2[0], policy(allow("odps:*", "*"),
                                      deny("odps:ListMmsDataSources", arn(b))))
    ids = [x["id"] for x in mms.ok("GET", DS, auth=key2)["objectList"]]
    assert a in ids and b not in ids
    assert len(ids) == everything["total"] - 1
    # Paging still validated.
    assert_error(mms.call("GET", DS, query={"pageSize": 0}, auth=key), 400,
                 "InvalidParameter.PageSize")


def test_policy_subcommands(mms, workdir):
    key = mms.create_key()
    bad = os.path.join(workdir, "bad.json")
    with open(bad, "w") as f:
        f.write('{"Version": "1", "Statement": [{"Effect": "Maybe", "Action": "*", '
                '"Resource": "*"}]}')
    p = mms.cli("policy", "attach", "--key", key[0], "--file", bad, check=False)
    assert p.returncode == 1 and "Effect" in p.stderr, p.stderr
    good = os.path.join(workdir, "readonly.json")
    with open(good, "w") as f:
        json.dump(policy(allow("odps:Get*", "*")), f)
    mms.cli("policy", "attach", "--key", key[0], "--file", good)
    p = mms.cli("policy", "list", "--key", key[0], "--json")
    assert [x["name"] for x in json.loads(p.stdout)] == ["readonly"]
    mms.cli("policy", "detach", "--key", key[0], "--name", "readonly")
    assert json.loads(mms.cli("policy", "list", "--key", key[0], "--json").stdout) == []
    p = mms.cli("policy", "detach", "--key", key[0], "--name", "readonly", check=False)
    assert p.returncode == 1
    p = mms.cli("policy", "attach", "--key", "LTAInope", "--file", good, check=False)
    assert p.returncode == 1 and "does not exist" in p.stderr
    for args in (["policy"], ["policy", "attach", "--key", key[0]], ["policy", "frob"],
                 ["key", "create", "--bogus"], ["key", "disable"], ["key"]):
        p = mms.cli(*args, check=False)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert "usage" in p.stderr


def test_key_list_never_shows_secrets(mms):
    key = mms.create_key()
    for args in (["key", "list"], ["key", "list", "--json"]):
        out = mms.cli(*args).stdout
        assert key[0] in out and key[1] not in out
    assert not any(s in mms.cli("key", "list").stdout for s in mms.secrets)
    p = mms.cli("key", "disable", "LTAIdoesnotexist", check=False)
    assert p.returncode == 1 and "does not exist" in p.stderr


def test_secrets_are_encrypted_at_rest(mms):
    with open(os.path.join(mms.data_dir, "mms.db"), "rb") as f:
        db = f.read()
    for suffix in ("", "-wal"):
        path = os.path.join(mms.data_dir, "mms.db" + suffix)
        if os.path.exists(path):
            with open(path, "rb") as f:
                db = f.read()
            for s in mms.secrets:
                assert s.encode() not in db, "a key secret is stored in clear in " + path


# ---- master key ------------------------------------------------------------------------------

def test_master_key_file(mmsd_factory):
    srv = mmsd_factory()
    mk = os.path.join(srv.data_dir, "master.key")
    st = os.stat(mk)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 32
    srv.stop()
    os.chmod(mk, 0o644)
    with pytest.raises(MmsdError) as e:
        srv.start()
    assert "master key" in str(e.value) and "chmod 600" in str(e.value)
    p = srv.cli("key", "list", check=False)
    assert p.returncode == 1 and "master key" in p.stderr
    os.chmod(mk, 0o600)
    with open(mk, "ab") as f:
        f.write(b"x")
    with pytest.raises(MmsdError) as e:
        srv.start()
    assert "33 bytes" in str(e.value)
    with open(mk, "r+b") as f:
        f.truncate(32)
    srv.start()
    assert srv.call("GET", DS)[0] == 200  # the same key still decrypts the stored secrets


def test_keys_survive_restart(fresh_mms):
    key = fresh_mms.create_key(admin=True)
    fresh_mms.restart()
    assert fresh_mms.call("GET", DS, auth=key)[0] == 200


# ---- modes -----------------------------------------------------------------------------------

def run_mmsd(args, timeout=20):
    from mmsd import binary_path
    return subprocess.run([binary_path()] + args, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("listen", ["0.0.0.0:0", ":0", "10.1.2.3:8080", "[::]:0"])
def test_insecure_no_auth_refused_off_loopback(workdir, listen):
    p = run_mmsd(["--insecure-no-auth", "--listen", listen, "--data-dir", workdir])
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "insecure-no-auth" in p.stderr and "loopback" in p.stderr


def test_insecure_no_auth_on_loopback(mmsd_factory):
    srv = mmsd_factory(args=["--insecure-no-auth"])
    assert srv.key is None
    st, body, _ = srv.call("GET", DS, auth=False)
    assert st == 200, body
    assert re.search(r"WARN.*insecure-no-auth", srv.log_text())


def test_tls_options_must_come_together(workdir):
    p = run_mmsd(["--tls-cert", "/nonexistent.pem", "--listen", "127.0.0.1:0",
                  "--data-dir", workdir])
    assert p.returncode == 2 and "tls-key" in p.stderr, p.stderr


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("openssl CLI not installed")
    d = tmp_path_factory.mktemp("tls")
    crt, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    return crt, key


def test_https(mmsd_factory, cert, source_db, workdir):
    srv = mmsd_factory(tls=cert)
    assert srv.base.startswith("https://")
    st, body, _ = srv.call("GET", DS)
    assert st == 200, body
    sid = srv.create_sqlite_source(source_db, os.path.join(workdir, "dst"))
    assert srv.ok("GET", "%s/%d" % (DS, sid))["id"] == sid
    assert_error(srv.call("GET", DS, auth=False), 400, "MissingAuthorization")
    # Plain HTTP on the HTTPS port gets no API answer.
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        c.request("GET", "/healthz")
        got = c.getresponse().status
    except (OSError, http.client.HTTPException):
        got = None
    finally:
        c.close()
    assert got != 200
    assert "HTTPS" in srv.log_text()


def test_https_bad_files(workdir, cert):
    crt, key = cert
    junk = os.path.join(workdir, "junk.pem")
    with open(junk, "w") as f:
        f.write("not a certificate\n")
    p = run_mmsd(["--tls-cert", junk, "--tls-key", key, "--listen", "127.0.0.1:0",
                  "--data-dir", workdir])
    assert p.returncode != 0 and "not PEM" in p.stderr, p.stderr
    p = run_mmsd(["--tls-cert", crt, "--tls-key", crt, "--listen", "127.0.0.1:0",
                  "--data-dir", workdir])
    assert p.returncode != 0 and "PRIVATE KEY" in p.stderr, p.stderr
    p = run_mmsd(["--tls-cert", crt, "--tls-key", os.path.join(workdir, "none.pem"),
                  "--listen", "127.0.0.1:0", "--data-dir", workdir])
    assert p.returncode != 0 and "none.pem" in p.stderr, p.stderr


# ---- no secret in the log ------------------------------------------------------------------------

def test_no_secret_in_the_log(mms, src, workdir, source_db):
    """Runs last in this module: every key secret this module created, and a data-source
    password sent to the server, are nowhere in the server's log (the fixtures also check
    every server of the whole run, tests/lib/mmsd_pytest.py)."""
    pw = register_secret("pw-%s" % uuid.uuid4().hex)
    cfg = {"sqlite.path": source_db, "dst.url": "postgresql://u:%s@127.0.0.1:1/x" % pw,
           "dst.project": "p"}
    mms.call("POST", DS, body={"name": "leak-" + uuid.uuid4().hex[:6], "type": "SQLITE",
                               "config": cfg})
    mms.call("PUT", "%s/%d" % (DS, src[0]), body={"action": "UPDATE_CONFIG", "config": cfg})
    time.sleep(0.5)
    log = mms.log_text()
    assert len(mms.secrets) >= 5
    for s in mms.secrets + [pw]:
        assert s not in log
    assert mms.secrets_in_log() == []
