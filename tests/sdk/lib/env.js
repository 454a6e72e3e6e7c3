'use strict';
// What scripts/run-sdk-tests.sh hands to the suite, and the mmsd command line (key and
// policy subcommands on the running server's data directory).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

function need(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run the suite with scripts/run-sdk-tests.sh`);
  }
  return v;
}

const env = {
  get endpoint() { return need('MMS_SDK_ENDPOINT'); },            // 127.0.0.1:<port>
  get admin() {
    return { accessKeyId: need('MMS_SDK_ADMIN_ID'), accessKeySecret: need('MMS_SDK_ADMIN_SECRET') };
  },
  get restricted() {
    return { accessKeyId: need('MMS_SDK_RESTRICTED_ID'),
      accessKeySecret: need('MMS_SDK_RESTRICTED_SECRET') };
  },
  get dataDir() { return need('MMS_SDK_DATA_DIR'); },
  get mmsd() { return need('MMSD_BIN'); },
  get scratch() { return need('MMS_SDK_SCRATCH'); },              // fixture databases go here
  get log() { return need('MMS_SDK_LOG'); },                       // mmsd's stdout+stderr
};

// Runs `mmsd <args...>`; returns stdout. Throws with stderr on a non-zero exit.
function mmsd(args) {
  try {
    return execFileSync(env.mmsd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30000 });
  } catch (e) {
    throw new Error(`mmsd ${args.join(' ')} failed (${e.status}): ${e.stderr || e.message}`);
  }
}

const cli = {
  // {accessKeyId, accessKeySecret}
  keyCreate({ admin = false } = {}) {
    const out = mmsd(['key', 'create', ...(admin ? ['--admin'] : []), '--json',
      '--data-dir', env.dataDir]);
    const k = JSON.parse(out);
    if (!k.accessKeyId || !k.accessKeySecret) throw new Error(`key create printed ${out}`);
    // Every secret the run creates, for the log check (zz-log-secrets.test.js).
    if (process.env.MMS_SDK_SECRETS_FILE) {
      fs.appendFileSync(process.env.MMS_SDK_SECRETS_FILE, `${k.accessKeySecret}\n`);
    }
    return { accessKeyId: k.accessKeyId, accessKeySecret: k.accessKeySecret };
  },
  keyDisable(accessKeyId) {
    return mmsd(['key', 'disable', accessKeyId, '--data-dir', env.dataDir]);
  },
  policyAttach(accessKeyId, policy) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mms-sdk-policy-'));
    const file = path.join(dir, 'policy.json');
    fs.writeFileSync(file, JSON.stringify(policy, null, 2));
    try {
      return mmsd(['policy', 'attach', '--data-dir', env.dataDir, '--key', accessKeyId,
        '--file', file]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};

// Runs SQL with the sqlite3 command line tool (Node 20 has no SQLite of its own).
function sqlite(file, sql) {
  return execFileSync('sqlite3', ['-bail', file], { input: sql, encoding: 'utf8', timeout: 60000 });
}

// A fresh directory under the scratch dir.
function scratchDir(prefix) {
  return fs.mkdtempSync(path.join(env.scratch, prefix));
}

module.exports = { env, cli, mmsd, sqlite, scratchDir };
