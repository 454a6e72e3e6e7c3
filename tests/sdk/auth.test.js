'use strict';
// Authentication and authorisation as an unmodified Alibaba Cloud client sees them: each
// negative case must surface in the client as the documented error code (docs/security.md).
// Replays and old dates go through the client (headers given to the call are signed like its
// own); they and what the client cannot produce at all (a body, query or path changed after
// signing, no signature) are also sent as requests signed by hand with the SDK's own signing
// functions (lib/raw.js), whose answers carry the same code the client would surface.
//
// Keys: the admin key and the restricted key come from scripts/run-sdk-tests.sh (which also
// attaches the restricted key's policy); the others are made here with `mmsd key create`,
// `mmsd key disable` and `mmsd policy attach` while the server runs.

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const mms = require('./lib/mms');
const raw = require('./lib/raw');
const { env, cli, sqlite, scratchDir } = require('./lib/env');

const ALGORITHMS = [['ACS3-HMAC-SHA256', undefined], ['ROA HMAC-SHA1', 'v2']];
const SCHEME = { undefined: 'acs3', v2: 'roa' };
const DS = '/api/v1/mms/datasources';

const st = {};

function client(keys, algorithm) {
  return mms.makeClient(Object.assign({ endpoint: env.endpoint, algorithm }, keys));
}

// Asserts that the client raised the documented error: code, HTTP status, and the SDK's
// error shape (message "code: <http>, <message> request id: <id>", the raw map in data).
function assertSdkError(e, status, code) {
  assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
  // @alicloud/openapi-client maps every 4xx/5xx answer with $tea.newError: tea's ES5
  // ResponseError, which comes out as a plain Error carrying code, statusCode, data,
  // description and accessDeniedDetail. Its successor @alicloud/openapi-core raises
  // ClientError for 4xx (core-client.test.js).
  assert.ok(e instanceof Error);
  assert.equal(e.statusCode, status, e.message);
  assert.ok(e.data && typeof e.data === 'object', 'the raw error map is kept as data');
  assert.equal(e.data.statusCode, status);
  assert.match(e.message, new RegExp(`code: ${status}, .* request id: \\S+`));
  const rid = e.data.RequestId || e.data.requestId;
  assert.ok(typeof rid === 'string' && rid.length > 0, 'the error carries a request id');
}

// The accessDeniedDetail of a 403 Forbidden.RAM, as the client keeps it (docs/security.md).
function assertDenied(e, action, sourceId, type, keyId) {
  const d = e.accessDeniedDetail;
  assert.ok(d && typeof d === 'object', `accessDeniedDetail in ${JSON.stringify(e.data)}`);
  assert.equal(d.AuthAction, action);
  if (sourceId === '*') {
    assert.equal(d.AuthResource, '*');
  } else {
    assert.match(d.AuthResource, new RegExp(`^acs:odps:[^:]+:[^:]+:mmsdatasource/${sourceId}$`));
  }
  assert.equal(d.NoPermissionType, type);
  assert.equal(d.AuthPrincipalType, 'AccessKey');
  assert.equal(d.AuthPrincipalDisplayName, keyId);
  assert.ok(e.message.includes(action), e.message);
}

async function sdkFailure(c, api, p, req) {
  return mms.failure(() => mms.call(c, api, p, req));
}

// Raw request helpers: a signed GetMmsDataSource / ListMmsDataSources / UpdateMmsDataSource.
function signed(scheme, keys, o) {
  return raw.sign(Object.assign({ scheme, endpoint: env.endpoint }, keys, o));
}
function getSource(scheme, keys, sid, extra = {}) {
  return signed(scheme, keys, Object.assign({ action: 'GetMmsDataSource', method: 'GET',
    pathname: `${DS}/${sid}` }, extra));
}
function assertRawError(r, status, code) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  const c = r.body && (r.body.Code || r.body.code);
  assert.equal(c, code, JSON.stringify(r.body));
}

function makeSource(c, name) {
  const dir = scratchDir(`auth-${name}-`);
  const db = path.join(dir, 'src.db');
  sqlite(db, 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, \'x\');');
  return mms.data(c, 'CreateMmsDataSource', {}, { name: `auth-${name}-${process.pid}`,
    type: 'SQLITE', config: { 'sqlite.path': db, 'dst.url': `sqlite://${dir}/dst`,
      'dst.project': 'p' } }).then((d) => d.dataSourceId);
}

before(async () => {
  st.admin = client(env.admin);
  st.a = await makeSource(st.admin, 'a');
  st.b = await makeSource(st.admin, 'b');
});

describe('the raw signer (lib/raw.js) makes requests mmsd accepts', () => {
  for (const scheme of ['acs3', 'roa']) {
    it(`${scheme}: GET with a path id, GET with a query, PUT with a JSON body`, async () => {
      let r = await raw.send(getSource(scheme, env.admin, st.a));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.data.id, st.a);
      r = await raw.send(signed(scheme, env.admin, { action: 'ListMmsDataSources',
        method: 'GET', pathname: DS, query: { name: `auth-a-${process.pid}`, pageSize: '5' } }));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.data.total, 1);
      r = await raw.send(signed(scheme, env.admin, { action: 'UpdateMmsDataSource',
        method: 'PUT', pathname: `${DS}/${st.a}`, body: { action: 'RENAME',
          name: `auth-a-${process.pid}` } }));
      assert.equal(r.status, 200, JSON.stringify(r.body));
    });
  }
});

for (const [label, algorithm] of ALGORITHMS) {
  describe(`signed with ${label}`, () => {
    const scheme = SCHEME[algorithm];

    it('unusual characters in query values and path segments verify', async () => {
      // tea sends the query with querystring.stringify (leaves !'()* as they are) while the
      // SDK signs it with its own encoding: the server must canonicalise what it received.
      const c = client(env.admin, algorithm);
      for (const name of ['a b+c*d~e\'f(g)h!i/j=k&l%m#n?o', 'emoji 😀 漢字 é', ' ', '%2F%25',
        '[x]{y}|z^`"<>;:,@$']) {
        const page = await mms.data(c, 'ListMmsDataSources', {}, { name, pageSize: 5 });
        assert.equal(page.total, 0, name);
      }
      // A path segment that is not an id: signed fine, refused by the parameter check.
      for (const sid of ['x y', 'a*b~c', '(1)!\'', 'é', '%41']) {
        const e = await sdkFailure(c, 'GetMmsDataSource', { sourceId: sid });
        assertSdkError(e, 400, 'InvalidParameter.SourceId');
      }
      // An encoded "/" (%2F) in a segment: the signature verifies; no route has that shape.
      const e = await sdkFailure(c, 'GetMmsDataSource', { sourceId: '1/..' });
      assertSdkError(e, 404, 'InvalidAction.NotFound');
    });

    it('wrong secret: SignatureDoesNotMatch', async () => {
      const c = client({ accessKeyId: env.admin.accessKeyId,
        accessKeySecret: env.admin.accessKeySecret + 'x' }, algorithm);
      const e = await sdkFailure(c, 'GetMmsDataSource', { sourceId: String(st.a) });
      assertSdkError(e, 400, 'SignatureDoesNotMatch');
      // The server's string to sign is only shown with the debug option (off here).
      assert.doesNotMatch(JSON.stringify(e.data), /string to sign is/);
    });

    it('unknown access key: InvalidAccessKeyId.NotFound', async () => {
      const c = client({ accessKeyId: 'LTAI-no-such-key-0000',
        accessKeySecret: 'whatever' }, algorithm);
      const e = await sdkFailure(c, 'ListMmsDataSources', {}, {});
      assertSdkError(e, 404, 'InvalidAccessKeyId.NotFound');
    });

    it('disabled key (mmsd key disable): InvalidAccessKeyId.Inactive', async () => {
      const k = cli.keyCreate({ admin: true });
      const c = client(k, algorithm);
      await mms.data(c, 'GetMmsDataSource', { sourceId: String(st.a) });
      cli.keyDisable(k.accessKeyId);
      const e = await sdkFailure(c, 'GetMmsDataSource', { sourceId: String(st.a) });
      assertSdkError(e, 400, 'InvalidAccessKeyId.Inactive');
    });

    it('replayed nonce, through the client: SignatureNonceUsed', async () => {
      // The SDK lets callers set headers (WithOptions(..., headers, runtime)); a fixed
      // x-acs-signature-nonce is signed like the client's own, and the second use is refused.
      const c = client(env.admin, algorithm);
      const nonce = require('node:crypto').randomBytes(16).toString('hex');
      const h = { 'x-acs-signature-nonce': nonce };
      await mms.data(c, 'GetMmsDataSource', { sourceId: String(st.a) }, undefined, h);
      const e = await mms.failure(() => mms.call(c, 'GetMmsDataSource',
        { sourceId: String(st.a) }, undefined, h));
      assertSdkError(e, 400, 'SignatureNonceUsed');
    });

    it('stale date, through the client: InvalidTimeStamp.Expired', async () => {
      const c = client(env.admin, algorithm);
      const old = new Date(Date.now() - 20 * 60000);
      const h = algorithm === 'v2' ? { date: raw.httpDate(old) } : { 'x-acs-date': raw.acsDate(old) };
      const e = await mms.failure(() => mms.call(c, 'GetMmsDataSource',
        { sourceId: String(st.a) }, undefined, h));
      assertSdkError(e, 400, 'InvalidTimeStamp.Expired');
    });

    it('replayed nonce: SignatureNonceUsed', async () => {
      const req = getSource(scheme, env.admin, st.a);
      const first = await raw.send(req);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const again = await raw.send(req);
      assertRawError(again, 400, 'SignatureNonceUsed');
      // The same nonce in a new, correctly signed request is a replay too.
      const other = await raw.send(signed(scheme, env.admin, { action: 'ListMmsDataSources',
        method: 'GET', pathname: DS, nonce: req.headers['x-acs-signature-nonce'] }));
      assertRawError(other, 400, 'SignatureNonceUsed');
    });

    it('stale or future date (over 15 minutes off): InvalidTimeStamp.Expired', async () => {
      for (const minutes of [-16, -60 * 24, 16]) {
        const when = new Date(Date.now() + minutes * 60000);
        const r = await raw.send(getSource(scheme, env.admin, st.a, { date: when }));
        assertRawError(r, 400, 'InvalidTimeStamp.Expired');
      }
      // Within the window is fine.
      const ok = await raw.send(getSource(scheme, env.admin, st.a,
        { date: new Date(Date.now() - 5 * 60000) }));
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    });

    it('tampered query: SignatureDoesNotMatch', async () => {
      const base = { action: 'ListMmsDataSources', method: 'GET', pathname: DS,
        query: { name: 'the-name', pageSize: '5' } };
      let req = signed(scheme, env.admin, base);
      req.query.name = 'other-name';
      assertRawError(await raw.send(req), 400, 'SignatureDoesNotMatch');
      req = signed(scheme, env.admin, base);
      req.query.pageNum = '2';
      assertRawError(await raw.send(req), 400, 'SignatureDoesNotMatch');
      req = signed(scheme, env.admin, base);
      delete req.query.pageSize;
      assertRawError(await raw.send(req), 400, 'SignatureDoesNotMatch');
    });

    it('tampered path: SignatureDoesNotMatch', async () => {
      const req = getSource(scheme, env.admin, st.a);
      req.pathname = `${DS}/${st.b}`;
      assertRawError(await raw.send(req), 400, 'SignatureDoesNotMatch');
    });

    it('an x-acs-* header added after signing is refused', async () => {
      const req = getSource(scheme, env.admin, st.a);
      req.headers['x-acs-extra'] = 'smuggled';
      // ACS3: every x-acs-* header sent must be signed; ROA signs every x-acs-* header sent.
      assertRawError(await raw.send(req), 400,
        scheme === 'acs3' ? 'InvalidAuthorization' : 'SignatureDoesNotMatch');
    });

    it('a signed header changed after signing: SignatureDoesNotMatch', async () => {
      const req = getSource(scheme, env.admin, st.a);
      req.headers['x-acs-action'] = 'DeleteMmsDataSource';
      assertRawError(await raw.send(req), 400, 'SignatureDoesNotMatch');
      const req2 = getSource(scheme, env.admin, st.a);
      req2.method = 'DELETE';
      assertRawError(await raw.send(req2), 400, 'SignatureDoesNotMatch');
      assert.equal((await mms.data(st.admin, 'GetMmsDataSource',
        { sourceId: String(st.a) })).id, st.a);
    });

    it('unsigned request: MissingAuthorization', async () => {
      const req = getSource(scheme, env.admin, st.a);
      delete req.headers.Authorization;
      delete req.headers.authorization;
      assertRawError(await raw.send(req), 400, 'MissingAuthorization');
    });
  });
}

describe('tampered body', () => {
  const rename = (name) => ({ action: 'UpdateMmsDataSource', method: 'PUT',
    pathname: `${DS}/${st.a}`, body: { action: 'RENAME', name } });
  const currentName = async () => (await mms.data(st.admin, 'GetMmsDataSource',
    { sourceId: String(st.a) })).name;

  it('ACS3: body changed, x-acs-content-sha256 kept: ContentSha256Mismatch', async () => {
    const before_ = await currentName();
    const req = signed('acs3', env.admin, rename('signed-name'));
    req.body = JSON.stringify({ action: 'RENAME', name: 'evil-name' });
    assertRawError(await raw.send(req), 400, 'ContentSha256Mismatch');
    assert.equal(await currentName(), before_);
  });

  it('ACS3: body and its x-acs-content-sha256 changed: SignatureDoesNotMatch', async () => {
    const before_ = await currentName();
    const req = signed('acs3', env.admin, rename('signed-name'));
    req.body = JSON.stringify({ action: 'RENAME', name: 'evil-name' });
    req.headers['x-acs-content-sha256'] = require('node:crypto').createHash('sha256')
      .update(req.body).digest('hex');
    assertRawError(await raw.send(req), 400, 'SignatureDoesNotMatch');
    assert.equal(await currentName(), before_);
  });

  it('ROA with content-md5 (signed): body changed: ContentMD5Mismatch', async () => {
    // The ROA scheme signs the content-md5 header, not the body; the SDK sends none, so a
    // client that wants its ROA body protected sends content-md5 and the server checks it.
    const before_ = await currentName();
    const o = rename('signed-name');
    const bodyText = JSON.stringify(o.body);
    const md5 = require('node:crypto').createHash('md5').update(bodyText).digest('base64');
    const req = raw.sign(Object.assign({ scheme: 'roa', endpoint: env.endpoint,
      contentMd5: md5 }, env.admin, o));
    req.body = JSON.stringify({ action: 'RENAME', name: 'evil-name' });
    assertRawError(await raw.send(req), 400, 'ContentMD5Mismatch');
    assert.equal(await currentName(), before_);
  });
});

describe('RAM policies', () => {
  for (const [label, algorithm] of ALGORITHMS) {
    it(`${label}: the restricted key does what its policy allows, and no more`, async () => {
      const c = client(env.restricted, algorithm);
      // Allowed: CreateMmsDataSource and ListMmsDataSources on "*", Get*/List* on sources.
      const r = await makeSource(c, `restricted-${algorithm || 'acs3'}`);
      const ds = await mms.data(c, 'GetMmsDataSource', { sourceId: String(r) });
      assert.equal(ds.id, r);
      await mms.data(c, 'ListMmsJobs', { sourceId: String(r) }, {});
      // No statement allows DeleteMmsDataSource: denied by default.
      let e = await sdkFailure(c, 'DeleteMmsDataSource', { sourceId: String(r) });
      assertSdkError(e, 403, 'Forbidden.RAM');
      assertDenied(e, 'odps:DeleteMmsDataSource', r, 'ImplicitDeny', env.restricted.accessKeyId);
      // GetMmsJob is allowed by odps:Get* but explicitly denied: Deny wins.
      e = await sdkFailure(c, 'GetMmsJob', { sourceId: String(r), jobId: '1' });
      assertSdkError(e, 403, 'Forbidden.RAM');
      assertDenied(e, 'odps:GetMmsJob', r, 'ExplicitDeny', env.restricted.accessKeyId);
      // Not allowed to change it either; the source is untouched.
      e = await sdkFailure(c, 'UpdateMmsDataSource', { sourceId: String(r) },
        { action: 'RENAME', name: 'nope' });
      assertSdkError(e, 403, 'Forbidden.RAM');
      assert.equal((await mms.data(st.admin, 'GetMmsDataSource', { sourceId: String(r) })).name,
        ds.name);
    });
  }

  it('a key with no policy may do nothing', async () => {
    const k = cli.keyCreate();
    let e = await sdkFailure(client(k), 'ListMmsDataSources', {}, {});
    assertSdkError(e, 403, 'Forbidden.RAM');
    assertDenied(e, 'odps:ListMmsDataSources', '*', 'ImplicitDeny', k.accessKeyId);
    e = await sdkFailure(client(k, 'v2'), 'GetMmsDataSource', { sourceId: String(st.a) });
    assertSdkError(e, 403, 'Forbidden.RAM');
    assertDenied(e, 'odps:GetMmsDataSource', st.a, 'ImplicitDeny', k.accessKeyId);
  });

  // docs/security.md, "Data sources outside a policy: 403, not 404": authorisation runs
  // before the handler, so a source the policies do not cover is 403 Forbidden.RAM whether it
  // exists or not; one they cover but that does not exist is the handler's 404.
  it('a data source outside the policy\'s resources: 403 Forbidden.RAM, existing or not',
    async () => {
    const k = cli.keyCreate();
    cli.policyAttach(k.accessKeyId, {
      Version: '1',
      // Everything on A, nothing else: not even ListMmsDataSources on "*" (a Resource "*"
      // would match every source's ARN too). ListMmsDataSources is then allowed because it is
      // allowed on one existing source, and lists that one (docs/security.md).
      Statement: [
        { Effect: 'Allow', Action: 'odps:*', Resource: `acs:odps:*:*:mmsdatasource/${st.a}` },
        { Effect: 'Allow', Action: 'odps:GetMmsDataSource',
          Resource: 'acs:odps:*:*:mmsdatasource/9000000001' },
      ],
    });
    for (const [, algorithm] of ALGORITHMS) {
      const c = client(k, algorithm);
      assert.equal((await mms.data(c, 'GetMmsDataSource', { sourceId: String(st.a) })).id, st.a);
      // ListMmsDataSources shows only what the key may see.
      const page = await mms.data(c, 'ListMmsDataSources', {}, {});
      assert.deepEqual(page.objectList.map((d) => d.id), [st.a]);
      assert.equal(page.total, 1);
      // B exists but is outside the policy; 9000000000 does not exist. Same answer for both
      // (docs/security.md), on the source itself and on anything under it.
      const outside = await sdkFailure(c, 'GetMmsDataSource', { sourceId: String(st.b) });
      assertSdkError(outside, 403, 'Forbidden.RAM');
      assertDenied(outside, 'odps:GetMmsDataSource', st.b, 'ImplicitDeny', k.accessKeyId);
      const missing = await sdkFailure(c, 'GetMmsDataSource', { sourceId: '9000000000' });
      assertSdkError(missing, 403, 'Forbidden.RAM');
      assertDenied(missing, 'odps:GetMmsDataSource', '9000000000', 'ImplicitDeny', k.accessKeyId);
      // Anything under B, and changes to B, the same.
      const sub = await sdkFailure(c, 'ListMmsJobs', { sourceId: String(st.b) }, {});
      assertSdkError(sub, 403, 'Forbidden.RAM');
      const del = await sdkFailure(c, 'DeleteMmsDataSource', { sourceId: String(st.b) });
      assertSdkError(del, 403, 'Forbidden.RAM');
      // Covered by the policy but missing: the handler's 404.
      const covered = await sdkFailure(c, 'GetMmsDataSource', { sourceId: '9000000001' });
      assertSdkError(covered, 404, 'NotFound.DataSource');
      // B is still there for the admin.
      assert.equal((await mms.data(st.admin, 'GetMmsDataSource',
        { sourceId: String(st.b) })).id, st.b);
    }
  });
});
