'use strict';
// Runs last (node --test sorts the files by name, hence zz-): no access key secret created for this run (by the script or by the tests) appears
// anywhere in mmsd's log, and the log is not empty (the run was logged at all).

const { it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { env } = require('./lib/env');

it('no access key secret appears in the mmsd log of the whole run', () => {
  const log = fs.readFileSync(env.log, 'utf8');
  assert.ok(log.split('\n').length > 10, 'mmsd logged the run');
  const secrets = new Set([env.admin.accessKeySecret, env.restricted.accessKeySecret]);
  if (process.env.MMS_SDK_SECRETS_FILE && fs.existsSync(process.env.MMS_SDK_SECRETS_FILE)) {
    for (const s of fs.readFileSync(process.env.MMS_SDK_SECRETS_FILE, 'utf8').split('\n')) {
      if (s) secrets.add(s);
    }
  }
  assert.ok(secrets.size >= 2);
  const leaked = [...secrets].filter((s) => s.length >= 8 && log.includes(s));
  assert.deepEqual(leaked.map((s) => `${s.slice(0, 3)}...`), [], 'secrets found in the log');
});
