'use strict';
// The MMS operations of MaxCompute 2022-01-04, called the way the generated SDK calls them:
// every call goes through the generic client's callApi with the generated SDK's Params
// (style ROA, authType AK, reqBodyType/bodyType json, version 2022-01-04, action = API name),
// path ids percent-encoded, the documented query/body split, ListMmsDbs' sorter and the
// status arrays of ListMmsTables/ListMmsPartitions "shrunk" to JSON strings, the other
// sorters flattened (sorter.numRows=desc) by OpenApiUtil.query.
//
// Written from the generated TypeScript SDK (aliyun/alibabacloud-typescript-sdk,
// maxcompute-20220104/src/client.ts) and ../../shared/reference/mms-api.md section 7.

const OpenApi = require('@alicloud/openapi-client');
const $OpenApi = OpenApi;
const OpenApiUtil = require('@alicloud/openapi-util').default;
const Util = require('@alicloud/tea-util');
const $Util = Util;

const VERSION = '2022-01-04';
const DS = '/api/v1/mms/datasources';
const enc = (v) => OpenApiUtil.getEncodeParam(String(v));

// name -> { method, path(p), query: [fields], body: [fields], shrink: {field: 'json'} }
// p holds the path parameters (sourceId, scanId, ...).
const OPS = {
  CreateMmsDataSource: { method: 'POST', path: () => DS,
    body: ['config', 'name', 'networklink', 'type'] },
  ListMmsDataSources: { method: 'GET', path: () => DS,
    query: ['name', 'pageNum', 'pageSize', 'region', 'type'] },
  GetMmsDataSource: { method: 'GET', path: (p) => `${DS}/${enc(p.sourceId)}`,
    query: ['lang', 'withConfig'] },
  UpdateMmsDataSource: { method: 'PUT', path: (p) => `${DS}/${enc(p.sourceId)}`,
    body: ['action', 'config', 'name', 'test'] },
  DeleteMmsDataSource: { method: 'DELETE', path: (p) => `${DS}/${enc(p.sourceId)}` },
  ListMmsDataSourceConfigItems: { method: 'GET', path: () => '/api/v1/mms/configItems',
    query: ['lang', 'sourceType'] },
  CreateMmsFetchMetadataJob: { method: 'POST', path: (p) => `${DS}/${enc(p.sourceId)}/scans`,
    body: ['dbName', 'tableNames'] },
  GetMmsFetchMetadataJob: { method: 'GET',
    path: (p) => `${DS}/${enc(p.sourceId)}/scans/${enc(p.scanId)}` },
  GetMmsAsyncTask: { method: 'GET',
    path: (p) => `${DS}/${enc(p.sourceId)}/asyncTasks/${enc(p.asyncTaskId)}` },
  ListMmsDbs: { method: 'GET', path: (p) => `${DS}/${enc(p.sourceId)}/dbs`,
    query: ['name', 'pageNum', 'pageSize', 'sorter', 'status'], shrink: { sorter: 'json' } },
  GetMmsDb: { method: 'GET', path: (p) => `${DS}/${enc(p.sourceId)}/dbs/${enc(p.dbId)}` },
  UpdateMmsDb: { method: 'PUT', path: (p) => `${DS}/${enc(p.sourceId)}/dbs/${enc(p.dbId)}`,
    body: ['dstName', 'dstProjectName', 'status'] },
  ListMmsTables: { method: 'GET', path: (p) => `${DS}/${enc(p.sourceId)}/tables`,
    query: ['dbId', 'dbName', 'dstName', 'dstProjectName', 'dstSchemaName', 'hasPartitions',
      'lastDdlTimeEnd', 'lastDdlTimeStart', 'name', 'onlyName', 'pageNum', 'pageSize', 'status',
      'type', 'sorter'],
    shrink: { status: 'json' } },
  GetMmsTable: { method: 'GET',
    path: (p) => `${DS}/${enc(p.sourceId)}/tables/${enc(p.tableId)}` },
  UpdateMmsTable: { method: 'PUT',
    path: (p) => `${DS}/${enc(p.sourceId)}/tables/${enc(p.tableId)}`,
    body: ['dstName', 'dstProjectName', 'dstSchemaName', 'status'] },
  UpdateMmsTables: { method: 'PUT', path: (p) => `${DS}/${enc(p.sourceId)}/tables`,
    body: ['dbName', 'dstProjectName', 'dstSchemaName', 'status', 'tableNames', 'tables'] },
  ListMmsPartitions: { method: 'GET', path: (p) => `${DS}/${enc(p.sourceId)}/partitions`,
    query: ['dbId', 'dbName', 'lastDdlTimeEnd', 'lastDdlTimeStart', 'pageNum', 'pageSize',
      'status', 'tableId', 'tableName', 'updated', 'value', 'sorter'],
    shrink: { status: 'json' } },
  GetMmsPartition: { method: 'GET',
    path: (p) => `${DS}/${enc(p.sourceId)}/partitions/${enc(p.partitionId)}` },
  CreateMmsJob: { method: 'POST', path: (p) => `${DS}/${enc(p.sourceId)}/jobs`,
    body: ['columnMapping', 'dstDbName', 'dstSchemaName', 'enableDataMigration',
      'enableSchemaMigration', 'enableVerification', 'eta', 'increment', 'name', 'others',
      'partitionFilters', 'partitions', 'schemaOnly', 'sourceId', 'sourceName', 'srcDbName',
      'srcSchemaName', 'tableBlackList', 'tableMapping', 'tableWhiteList', 'tables',
      'taskType'] },
  ListMmsJobs: { method: 'GET', path: (p) => `${DS}/${enc(p.sourceId)}/jobs`,
    query: ['dstDbName', 'dstTableName', 'name', 'pageNum', 'pageSize', 'srcDbName',
      'srcTableName', 'status', 'stopped', 'timerId', 'sorter'] },
  GetMmsJob: { method: 'GET', path: (p) => `${DS}/${enc(p.sourceId)}/jobs/${enc(p.jobId)}` },
  // POST, not DELETE, in the SDK and the docs.
  DeleteMmsJob: { method: 'POST', path: (p) => `${DS}/${enc(p.sourceId)}/jobs/${enc(p.jobId)}` },
  StartMmsJob: { method: 'POST',
    path: (p) => `${DS}/${enc(p.sourceId)}/jobs/${enc(p.jobId)}/start` },
  StopMmsJob: { method: 'POST',
    path: (p) => `${DS}/${enc(p.sourceId)}/jobs/${enc(p.jobId)}/stop` },
  RetryMmsJob: { method: 'POST',
    path: (p) => `${DS}/${enc(p.sourceId)}/jobs/${enc(p.jobId)}/retry` },
  ListMmsTasks: { method: 'GET', path: (p) => `${DS}/${enc(p.sourceId)}/tasks`,
    query: ['dstDbName', 'dstTableName', 'jobId', 'jobName', 'pageNum', 'pageSize', 'partition',
      'srcDbName', 'srcTableName', 'status', 'sorter'] },
  GetMmsTask: { method: 'GET', path: (p) => `${DS}/${enc(p.sourceId)}/tasks/${enc(p.taskId)}` },
  RetryMmsTask: { method: 'POST',
    path: (p) => `${DS}/${enc(p.sourceId)}/tasks/${enc(p.taskId)}/retry` },
  ListMmsTaskLogs: { method: 'GET',
    path: (p) => `${DS}/${enc(p.sourceId)}/tasks/${enc(p.taskId)}/logs` },
};

const isNull = (v) => v === undefined || v === null;

// The plain {params, request} the generated SDK's <Api>WithOptions builds (field for field).
// headers: extra request headers (the generated SDK's <Api>WithOptions takes them too; they
// override the client's own, e.g. x-acs-signature-nonce, and are signed like them).
function plain(api, pathParams = {}, req = {}, headers = {}) {
  const op = OPS[api];
  if (!op) throw new Error(`unknown operation ${api}`);
  req = req || {};
  for (const k of Object.keys(req)) {
    if (!(op.query || []).includes(k) && !(op.body || []).includes(k)) {
      throw new Error(`${api} takes no field ${k} (the SDK would drop it)`);
    }
  }
  const shrunk = {};
  for (const [k, style] of Object.entries(op.shrink || {})) {
    if (!isNull(req[k])) shrunk[k] = OpenApiUtil.arrayToStringWithSpecifiedStyle(req[k], k, style);
  }
  let query = null;
  if (op.query) {
    query = {};
    for (const k of op.query) {
      const v = k in shrunk ? shrunk[k] : req[k];
      if (!isNull(v)) query[k] = v;
    }
  }
  let body = null;
  if (op.body) {
    body = {};
    for (const k of op.body) if (!isNull(req[k])) body[k] = req[k];
  }
  const request = { headers: Object.assign({}, headers) };
  if (query) request.query = OpenApiUtil.query(query);
  if (body) request.body = OpenApiUtil.parseToMap(body);
  const params = {
    action: api, version: VERSION, protocol: 'HTTPS', pathname: op.path(pathParams),
    method: op.method, authType: 'AK', style: 'ROA', reqBodyType: 'json', bodyType: 'json',
  };
  return { params, request };
}

// The same as models of @alicloud/openapi-client.
function build(api, pathParams, req, headers) {
  const p = plain(api, pathParams, req, headers);
  return { params: new $OpenApi.Params(p.params), request: new $OpenApi.OpenApiRequest(p.request) };
}

// A generic OpenAPI client for mmsd. algorithm: undefined (the default, ACS3-HMAC-SHA256)
// or 'v2' (ROA HMAC-SHA1).
function makeClient({ endpoint, accessKeyId, accessKeySecret, algorithm }) {
  const cfg = { accessKeyId, accessKeySecret, endpoint, protocol: 'HTTPS' };
  if (algorithm) cfg.signatureAlgorithm = algorithm;
  return new OpenApi.default(new $OpenApi.Config(cfg));
}

function runtime() {
  // Self-signed certificate; no retries so that every call is exactly one request.
  return new $Util.RuntimeOptions({ ignoreSSL: true, autoretry: false, readTimeout: 30000,
    connectTimeout: 5000 });
}

// Calls one operation; returns the response body ({requestId, data}).
async function call(client, api, pathParams, req, headers) {
  const { params, request } = build(api, pathParams, req, headers);
  const resp = await client.callApi(params, request, runtime());
  return resp.body;
}

// Calls and returns body.data.
async function data(client, api, pathParams, req, headers) {
  const body = await call(client, api, pathParams, req, headers);
  if (!body || !('data' in body)) throw new Error(`${api}: no data in ${JSON.stringify(body)}`);
  return body.data;
}

// Runs fn, expects it to throw; returns the error.
async function failure(fn) {
  try {
    const r = await fn();
    throw Object.assign(new Error(`expected an error, got ${JSON.stringify(r)}`),
      { unexpected: true });
  } catch (e) {
    if (e.unexpected) throw e;
    return e;
  }
}

async function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// Polls fn until it returns a truthy value; throws after timeoutMs.
async function waitFor(fn, timeoutMs, what, intervalMs = 200) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

module.exports = { OPS, plain, build, makeClient, runtime, call, data, failure, sleep, waitFor, VERSION,
  OpenApiUtil, Util };
