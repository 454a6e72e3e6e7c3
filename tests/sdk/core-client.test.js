'use strict';
// The client the current generated TypeScript SDK is built on (@alicloud/openapi-core, with
// @darabonba/typescript): the same calls work, and errors come back as the classes the SDK
// maps them to: ClientError for 4xx (with accessDeniedDetail on a RAM denial), never
// ServerError or ThrottlingError. (@alicloud/openapi-client, the older base, raises a plain
// ResponseError with the same code/statusCode/data: checked in auth.test.js.)

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const core = require('@alicloud/openapi-core');
const $dara = require('@darabonba/typescript');
const mms = require('./lib/mms');
const { env, sqlite, scratchDir } = require('./lib/env');

const { ClientError, ServerError, ThrottlingError, AlibabaCloudError, $OpenApiUtil } = core;
const OpenApi = core.default;

function coreClient(keys, algorithm) {
  const cfg = Object.assign({ endpoint: env.endpoint, protocol: 'HTTPS' }, keys);
  if (algorithm) cfg.signatureAlgorithm = algorithm;
  return new OpenApi(new $OpenApiUtil.Config(cfg));
}

async function call(c, api, p, req) {
  const x = mms.plain(api, p, req);
  const resp = await c.callApi(new $OpenApiUtil.Params(x.params),
    new $OpenApiUtil.OpenApiRequest(x.request),
    new $dara.RuntimeOptions({ ignoreSSL: true, autoretry: false }));
  return resp.body;
}

async function clientError(fn, status, code) {
  const e = await mms.failure(fn);
  assert.ok(e instanceof ClientError, `${e.name}: ${e.message}`);
  assert.ok(e instanceof AlibabaCloudError);
  assert.ok(!(e instanceof ServerError) && !(e instanceof ThrottlingError));
  assert.equal(e.name, 'ClientError');
  assert.equal(e.code, code, e.message);
  assert.equal(e.statusCode, status);
  assert.ok(e.requestId && e.requestId !== 'undefined', 'requestId is read from the body');
  return e;
}

const st = {};
before(async () => {
  const dir = scratchDir('core-');
  st.db = path.join(dir, 'src.db');
  sqlite(st.db, 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, \'x\');');
  st.dir = dir;
});

for (const [label, algorithm] of [['ACS3-HMAC-SHA256', undefined], ['ROA HMAC-SHA1', 'v2']]) {
  describe(`@alicloud/openapi-core, ${label}`, () => {
    let c;
    before(() => { c = coreClient(env.admin, algorithm); });

    it('calls succeed: create, scan, list dbs (shrunk sorter), get', async () => {
      const b = await call(c, 'CreateMmsDataSource', {}, { name: `core-${algorithm || 'acs3'}`,
        type: 'SQLITE', config: { 'sqlite.path': st.db,
          'dst.url': `sqlite://${st.dir}/dst-${algorithm || 'acs3'}`, 'dst.project': 'p' } });
      const sid = String(b.data.dataSourceId);
      st[label] = sid;
      await mms.waitFor(async () => (await call(c, 'GetMmsDataSource', { sourceId: sid }))
        .data.status === 'STARTED', 30000, 'the source to start');
      const scanId = String((await call(c, 'CreateMmsFetchMetadataJob', { sourceId: sid }, {}))
        .data.scanId);
      await mms.waitFor(async () => (await call(c, 'GetMmsFetchMetadataJob',
        { sourceId: sid, scanId })).data.status === 'SCAN_DONE', 30000, 'the scan');
      const dbs = await call(c, 'ListMmsDbs', { sourceId: sid }, { sorter: { numRows: 'desc' } });
      assert.equal(dbs.data.objectList[0].name, 'main');
      const tables = await call(c, 'ListMmsTables', { sourceId: sid },
        { status: ['INIT'], sorter: { numRows: 'asc' } });
      assert.equal(tables.data.total, 1);
    });

    it('a 404 from the API is a ClientError', async () => {
      await clientError(() => call(c, 'GetMmsDataSource', { sourceId: '9000000001' }), 404,
        'NotFound.DataSource');
    });

    it('a 400 parameter error is a ClientError', async () => {
      await clientError(() => call(c, 'ListMmsDataSources', {}, { pageSize: 0 }), 400,
        'InvalidParameter.PageSize');
    });

    it('authentication failures are ClientErrors', async () => {
      const bad = coreClient({ accessKeyId: env.admin.accessKeyId,
        accessKeySecret: `${env.admin.accessKeySecret}x` }, algorithm);
      await clientError(() => call(bad, 'ListMmsDataSources', {}, {}), 400,
        'SignatureDoesNotMatch');
      const unknown = coreClient({ accessKeyId: 'LTAI-no-such-key-0001',
        accessKeySecret: 'x' }, algorithm);
      await clientError(() => call(unknown, 'ListMmsDataSources', {}, {}), 404,
        'InvalidAccessKeyId.NotFound');
    });

    it('a RAM denial is a ClientError with the action and resource', async () => {
      const r = coreClient(env.restricted, algorithm);
      const e = await clientError(() => call(r, 'DeleteMmsDataSource',
        { sourceId: st[label] }), 403, 'Forbidden.RAM');
      const d = e.accessDeniedDetail;
      assert.ok(d, 'ClientError.accessDeniedDetail');
      assert.equal(d.AuthAction, 'odps:DeleteMmsDataSource');
      assert.match(d.AuthResource, new RegExp(`:mmsdatasource/${st[label]}$`));
      assert.equal(d.NoPermissionType, 'ImplicitDeny');
    });
  });
}
