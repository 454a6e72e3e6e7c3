'use strict';
// Every implemented MMS operation (README's coverage table: 29), called through the generic
// Alibaba Cloud OpenAPI client's callApi exactly as the generated MaxCompute 2022-01-04 SDK
// calls it, over HTTPS, signed once with the default ACS3-HMAC-SHA256 and once with the ROA
// HMAC-SHA1 scheme (signatureAlgorithm 'v2'), in a realistic flow: SQLite source, scan,
// catalog reads and updates, a job and its async task, tasks and logs, stop/start, retry,
// delete.

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const mms = require('./lib/mms');
const { env, sqlite, scratchDir } = require('./lib/env');

const IMPLEMENTED = [
  'CreateMmsDataSource', 'ListMmsDataSources', 'GetMmsDataSource', 'UpdateMmsDataSource',
  'DeleteMmsDataSource', 'ListMmsDataSourceConfigItems', 'CreateMmsFetchMetadataJob',
  'GetMmsFetchMetadataJob', 'GetMmsAsyncTask', 'ListMmsDbs', 'GetMmsDb', 'UpdateMmsDb',
  'ListMmsTables', 'GetMmsTable', 'UpdateMmsTable', 'UpdateMmsTables', 'ListMmsPartitions',
  'GetMmsPartition', 'CreateMmsJob', 'ListMmsJobs', 'GetMmsJob', 'DeleteMmsJob', 'StartMmsJob',
  'StopMmsJob', 'RetryMmsJob', 'ListMmsTasks', 'GetMmsTask', 'RetryMmsTask', 'ListMmsTaskLogs',
];

const FIXTURE = `
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total DECIMAL(10,2), placed DATETIME);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1000)
INSERT INTO orders SELECT i, 'customer ' || (i % 97), i * 1.25,
  datetime(1700000000 + i, 'unixepoch') FROM n;
CREATE TABLE "order items" (order_id INTEGER, sku VARCHAR(20), qty INTEGER, photo BLOB);
INSERT INTO "order items" SELECT id, 'SKU-' || (id % 50), id % 7, x'00ff00' FROM orders;
CREATE TABLE t_gone (id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO t_gone VALUES (1, 'a'), (2, 'b'), (3, 'c');
CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT, w TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 300000)
INSERT INTO big SELECT i, 'value-' || i, printf('%040d', i) FROM n;
`;

const TERMINAL_JOB = ['DONE', 'FAILED'];

for (const [label, algorithm] of [['ACS3-HMAC-SHA256 (default)', undefined],
  ['ROA HMAC-SHA1 (signatureAlgorithm v2)', 'v2']]) {
  describe(`every MMS operation, signed with ${label}`, () => {
    const called = new Set();
    let client;
    const s = {}; // state of the flow

    async function data(api, p, req) {
      const d = await mms.data(client, api, p, req);
      called.add(api);
      return d;
    }
    async function body(api, p, req) {
      const b = await mms.call(client, api, p, req);
      called.add(api);
      return b;
    }
    // The documented error of an operation that reached its handler (the request was
    // authenticated and authorised).
    async function handlerError(api, p, req, status, code) {
      const e = await mms.failure(() => mms.call(client, api, p, req));
      assert.equal(e.code, code, `${api}: ${e.message}`);
      assert.equal(e.statusCode, status, `${api}: ${e.message}`);
      called.add(api);
      return e;
    }
    const src = (extra = {}) => Object.assign({ sourceId: String(s.sid) }, extra);
    const asyncDone = (aid, timeout = 60000) => mms.waitFor(async () => {
      const t = await data('GetMmsAsyncTask', src({ asyncTaskId: String(aid) }));
      return ['DONE', 'FAILED'].includes(t.status) ? t : null;
    }, timeout, `async task ${aid}`);
    const jobEnd = (jid, statuses = TERMINAL_JOB, timeout = 120000) => mms.waitFor(async () => {
      const j = await data('GetMmsJob', src({ jobId: String(jid) }));
      return statuses.includes(j.status) ? j : null;
    }, timeout, `job ${jid} to reach ${statuses}`, 300);

    before(() => {
      client = mms.makeClient(Object.assign({ endpoint: env.endpoint, algorithm }, env.admin));
      s.dir = scratchDir(`ops-${algorithm || 'acs3'}-`);
      s.db = path.join(s.dir, 'shop.db');
      sqlite(s.db, FIXTURE);
      s.dst = path.join(s.dir, 'copy');
      s.name = `sdk-${algorithm || 'acs3'}-${process.pid}`;
    });

    it('ListMmsDataSourceConfigItems (query sourceType, lang)', async () => {
      const items = await data('ListMmsDataSourceConfigItems', {},
        { sourceType: 'SQLITE', lang: 'en_US' });
      assert.ok(Array.isArray(items) && items.length > 0);
      const keys = items.map((i) => i.key);
      for (const k of ['sqlite.path', 'dst.url', 'dst.project']) assert.ok(keys.includes(k), k);
    });

    it('CreateMmsDataSource (JSON body), GetMmsDataSource until STARTED', async () => {
      const b = await body('CreateMmsDataSource', {}, {
        name: s.name, type: 'SQLITE',
        config: { 'sqlite.path': s.db, 'dst.url': `sqlite://${s.dst}`, 'dst.project': 'shop' },
      });
      assert.equal(typeof b.requestId, 'string');
      s.sid = b.data.dataSourceId;
      assert.ok(Number.isInteger(s.sid) && s.sid > 0, JSON.stringify(b));
      const ds = await mms.waitFor(async () => {
        const d = await data('GetMmsDataSource', src(), { withConfig: true, lang: 'en_US' });
        return d.status !== 'STARTING' ? d : null;
      }, 30000, 'the data source to start');
      assert.equal(ds.status, 'STARTED', JSON.stringify(ds));
      assert.equal(ds.id, s.sid);
      assert.equal(ds.name, s.name);
    });

    it('ListMmsDataSources (query name, pageNum, pageSize)', async () => {
      const page = await data('ListMmsDataSources', {}, { name: s.name, pageNum: 1, pageSize: 10 });
      assert.equal(page.total, 1, JSON.stringify(page));
      assert.equal(page.objectList[0].id, s.sid);
      const all = await data('ListMmsDataSources', {}, {});
      assert.ok(all.objectList.some((d) => d.id === s.sid));
    });

    it('UpdateMmsDataSource RENAME and test, GetMmsAsyncTask', async () => {
      s.name += '-renamed';
      const r = await data('UpdateMmsDataSource', src(), { action: 'RENAME', name: s.name });
      assert.equal(r.sourceId, s.sid);
      const t = await asyncDone(r.asyncTaskId);
      assert.equal(t.status, 'DONE', JSON.stringify(t));
      assert.equal((await data('GetMmsDataSource', src())).name, s.name);
      const tr = await data('UpdateMmsDataSource', src(), { test: true });
      const tt = await asyncDone(tr.asyncTaskId);
      assert.equal(tt.status, 'DONE', JSON.stringify(tt));
    });

    it('CreateMmsFetchMetadataJob, GetMmsFetchMetadataJob until SCAN_DONE', async () => {
      const r = await data('CreateMmsFetchMetadataJob', src(), {});
      s.scanId = r.scanId;
      const scan = await mms.waitFor(async () => {
        const sc = await data('GetMmsFetchMetadataJob', src({ scanId: String(s.scanId) }));
        return ['SCAN_DONE', 'SCAN_FAILED'].includes(sc.status) ? sc : null;
      }, 60000, 'the scan');
      assert.equal(scan.status, 'SCAN_DONE', JSON.stringify(scan));
      // A partial scan with body fields.
      const r2 = await data('CreateMmsFetchMetadataJob', src(),
        { dbName: 'main', tableNames: ['orders'] });
      await mms.waitFor(async () => {
        const sc = await data('GetMmsFetchMetadataJob', src({ scanId: String(r2.scanId) }));
        return ['SCAN_DONE', 'SCAN_FAILED'].includes(sc.status) ? sc : null;
      }, 60000, 'the partial scan');
    });

    it('ListMmsDbs (sorter shrunk to a JSON string), GetMmsDb, UpdateMmsDb', async () => {
      const page = await data('ListMmsDbs', src(),
        { sorter: { numRows: 'desc' }, pageNum: 1, pageSize: 10 });
      assert.equal(page.total, 1, JSON.stringify(page));
      const db = page.objectList[0];
      assert.equal(db.name, 'main');
      s.dbId = db.id;
      const got = await data('GetMmsDb', src({ dbId: String(s.dbId) }));
      assert.equal(got.id, s.dbId);
      await data('UpdateMmsDb', src({ dbId: String(s.dbId) }),
        { dstProjectName: 'shop', dstName: 'main' });
      const after = await data('GetMmsDb', src({ dbId: String(s.dbId) }));
      assert.equal(after.dstName, 'main', JSON.stringify(after));
    });

    it('ListMmsTables (status array as JSON, sorter.numRows flattened), GetMmsTable', async () => {
      const page = await data('ListMmsTables', src(), {
        dbName: 'main', status: ['INIT', 'DONE', 'FAILED'], sorter: { numRows: 'desc' },
        pageNum: 1, pageSize: 50,
      });
      const names = page.objectList.map((t) => t.name);
      assert.deepEqual([...names].sort(), ['big', 'order items', 'orders', 't_gone']);
      assert.equal(names[0], 'big', 'sorted by numRows desc');
      s.tables = Object.fromEntries(page.objectList.map((t) => [t.name, t.id]));
      const byName = await data('ListMmsTables', src(), { name: 'order items', onlyName: false });
      assert.equal(byName.total, 1);
      const t = await data('GetMmsTable', src({ tableId: String(s.tables.orders) }));
      assert.equal(t.name, 'orders');
      assert.equal(t.numRows, 1000);
    });

    it('UpdateMmsTable, UpdateMmsTables', async () => {
      await data('UpdateMmsTable', src({ tableId: String(s.tables.orders) }),
        { dstName: 'orders_copy' });
      const t = await data('GetMmsTable', src({ tableId: String(s.tables.orders) }));
      assert.equal(t.dstName, 'orders_copy', JSON.stringify(t));
      const n = await data('UpdateMmsTables', src(),
        { dbName: 'main', tableNames: ['orders', 'order items'], dstProjectName: 'shop' });
      assert.equal(typeof n, 'number');
      const page = await data('ListMmsTables', src(), { dstProjectName: 'shop', pageSize: 50 });
      assert.ok(page.total >= 2, JSON.stringify(page));
    });

    it('ListMmsPartitions (empty for SQLite), GetMmsPartition (NotFound.Partition)', async () => {
      const page = await data('ListMmsPartitions', src(), {
        tableName: 'orders', status: ['INIT', 'DONE'], sorter: { numRows: 'asc' },
        pageNum: 1, pageSize: 10,
      });
      assert.equal(page.total, 0);
      assert.deepEqual(page.objectList, []);
      // SQLite sources have no partitions: the signed request reaches the handler and gets
      // the documented 404.
      await handlerError('GetMmsPartition', src({ partitionId: '1' }), undefined, 404,
        'NotFound.Partition');
    });

    it('CreateMmsJob, GetMmsAsyncTask (TASK_CREATE), GetMmsJob until DONE', async () => {
      const r = await data('CreateMmsJob', src(), {
        name: 'copy shop', srcDbName: 'main', tables: ['orders', 'order items'],
        sourceId: s.sid, enableVerification: true, others: { verify: 'checksum' },
      });
      const t = await asyncDone(r.asyncTaskId);
      assert.equal(t.type, 'TASK_CREATE');
      assert.equal(t.status, 'DONE', JSON.stringify(t));
      s.jobId = t.objectId;
      const j = await jobEnd(s.jobId);
      assert.equal(j.status, 'DONE', JSON.stringify(j));
      assert.equal(j.taskNum, 2);
      assert.equal(j.taskDone, 2);
      const copied = sqlite(path.join(s.dst, 'shop.db'), 'SELECT count(*) FROM orders_copy;');
      assert.equal(copied.trim(), '1000');
    });

    it('ListMmsJobs (sorter.status flattened), ListMmsTasks, GetMmsTask, ListMmsTaskLogs',
      async () => {
        const jobs = await data('ListMmsJobs', src(), { name: 'copy shop', status: 'DONE',
          sorter: { status: 'asc' }, pageNum: 1, pageSize: 10 });
        assert.equal(jobs.total, 1);
        assert.equal(jobs.objectList[0].id, s.jobId);
        const tasks = await data('ListMmsTasks', src(), { jobId: s.jobId, sorter: { status: 'desc' },
          pageNum: 1, pageSize: 10 });
        assert.equal(tasks.total, 2);
        const task = await data('GetMmsTask', src({ taskId: String(tasks.objectList[0].id) }));
        assert.equal(task.status, 'DONE');
        const logs = await data('ListMmsTaskLogs', src({ taskId: String(task.id) }));
        assert.ok(Array.isArray(logs) && logs.length > 0, JSON.stringify(logs));
      });

    it('StopMmsJob, StartMmsJob on a running job', async () => {
      const r = await data('CreateMmsJob', src(), { name: 'big copy', srcDbName: 'main',
        tables: ['big'] });
      const jid = (await asyncDone(r.asyncTaskId)).objectId;
      assert.equal(await data('StopMmsJob', src({ jobId: String(jid) })), jid);
      const j = await data('GetMmsJob', src({ jobId: String(jid) }));
      assert.equal(j.stopped, true, JSON.stringify(j));
      const st = await asyncDone(j.stopAsyncTaskId);
      assert.equal(st.type, 'STOP_JOB');
      assert.equal(st.status, 'DONE');
      assert.equal(await data('StartMmsJob', src({ jobId: String(jid) })), jid);
      const done = await jobEnd(jid);
      assert.equal(done.status, 'DONE', JSON.stringify(done));
      s.bigJob = jid;
    });

    it('RetryMmsTask, RetryMmsJob after a failure', async () => {
      sqlite(s.db, 'ALTER TABLE t_gone RENAME TO t_hidden;');
      const r = await data('CreateMmsJob', src(), { name: 'doomed', srcDbName: 'main',
        tables: ['t_gone'] });
      const jid = (await asyncDone(r.asyncTaskId)).objectId;
      const failed = await jobEnd(jid);
      assert.equal(failed.status, 'FAILED', JSON.stringify(failed));
      const task = (await data('ListMmsTasks', src(), { jobId: jid })).objectList[0];
      assert.match(task.status, /_FAILED$/);
      assert.equal(await data('RetryMmsTask', src({ taskId: String(task.id) })), task.id);
      await mms.waitFor(async () => {
        const t = await data('GetMmsTask', src({ taskId: String(task.id) }));
        return t.retriedTimes === 1 && /_FAILED$/.test(t.status) && !t.running ? t : null;
      }, 60000, 'the retried task to fail again');
      await jobEnd(jid, ['FAILED']);
      sqlite(s.db, 'ALTER TABLE t_hidden RENAME TO t_gone;');
      assert.equal(await data('RetryMmsJob', src({ jobId: String(jid) })), jid);
      const done = await jobEnd(jid, ['DONE'], 60000);
      assert.equal(done.taskDone, 1);
    });

    it('DeleteMmsJob (POST), DeleteMmsDataSource', async () => {
      assert.equal(await data('DeleteMmsJob', src({ jobId: String(s.bigJob) })), s.bigJob);
      const e = await mms.failure(() => mms.call(client, 'GetMmsJob', src({ jobId: String(s.bigJob) })));
      assert.equal(e.code, 'NotFound.Job');
      assert.equal(await data('DeleteMmsDataSource', src()), s.sid);
      const e2 = await mms.failure(() => mms.call(client, 'GetMmsDataSource', src()));
      assert.equal(e2.code, 'NotFound.DataSource');
      assert.equal(e2.statusCode, 404);
      fs.rmSync(s.dir, { recursive: true, force: true });
    });

    it('covered every implemented operation', () => {
      const missing = IMPLEMENTED.filter((a) => !called.has(a));
      assert.deepEqual(missing, []);
      assert.equal(IMPLEMENTED.length, 29);
      assert.deepEqual(Object.keys(mms.OPS).sort(), [...IMPLEMENTED].sort());
    });
  });
}
