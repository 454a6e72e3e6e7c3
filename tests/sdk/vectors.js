// Known-answer vectors for src/auth/sign.c, produced by the real Alibaba Cloud Node SDK.
//
//   (cd tests/sdk && npm install)        # the SDK suite's package.json pins the SDK versions
//   node tests/sdk/vectors.js > /tmp/vectors.inc
// (or install @alicloud/openapi-client anywhere and point NODE_PATH at its node_modules).
// Dates, nonces and the port change from run to run; any fresh output passes the tests too.
//
// For each case the script calls the generic client's callApi (ROA, json, as the generated
// MaxCompute 2022-01-04 SDK does) against a throw-away local HTTP server, once with the default
// signature (ACS3-HMAC-SHA256) and once with signatureAlgorithm 'v2' (ROA HMAC-SHA1). It records
// what went over the wire (method, request target, headers, body) and, by wrapping
// @alicloud/openapi-util's own functions, the canonical request / string to sign the SDK built
// and the Authorization header it sent. The output is C initialisers for tests/unit/test_sign.c.
'use strict';
const http = require('http');
const OpenApi = require('@alicloud/openapi-client');
const Util = require('@alicloud/openapi-util').default;

const AK = 'LTAI5tTestKeyId0001';
const SECRET = 'TestSecret/+=0123456789abcdefXYZ';

let captured = {};
const origHash = Util.hash;
Util.hash = function (raw, alg) { captured.lastHashed = Buffer.from(raw).toString('utf8'); return origHash(raw, alg); };
const origSignMethod = Util.signatureMethod;
Util.signatureMethod = function (secret, source, alg) {
    captured.canonical = captured.lastHashed;
    captured.stringToSign = source;
    return origSignMethod(secret, source, alg);
};
const origGetStringToSign = Util.getStringToSign;
Util.getStringToSign = function (req) { const s = origGetStringToSign(req); captured.stringToSign = s; captured.canonical = null; return s; };

const enc = Util.getEncodeParam;
const cases = [
    { name: 'list_paged', method: 'GET', pathname: '/api/v1/mms/datasources',
      query: { pageNum: '1', pageSize: '10' } },
    { name: 'no_query', method: 'GET', pathname: '/api/v1/mms/datasources/2000015' },
    { name: 'odd_path', method: 'GET',
      pathname: `/api/v1/mms/datasources/${enc("src 1+2*3~é/x(y)!'中")}/dbs/${enc('%41 ;,=@:$&')}` },
    { name: 'odd_query', method: 'GET', pathname: '/api/v1/mms/datasources/7/tables',
      query: { name: "a b&c=d+e*f~g'()!é中😀", 'sorter.status': 'desc', empty: '',
               status: '["DONE","FAILED"]', Zeta: 'upper', 'a%b': 'pct key', '~tilde': '~' } },
    { name: 'repeated_keys', method: 'GET', pathname: '/api/v1/mms/datasources/7/jobs',
      query: { k: ['b', 'a c', ''], j: '1' } },
    { name: 'post_unicode', method: 'POST', pathname: '/api/v1/mms/datasources',
      body: { name: '数据源 é 😀', type: 'SQLITE', config: { path: '/tmp/a b.db', password: "p@ss w'rd" } } },
    { name: 'put_empty_object', method: 'PUT', pathname: '/api/v1/mms/datasources/9',
      query: { x: '1' }, body: {} },
    { name: 'delete_nobody', method: 'DELETE', pathname: '/api/v1/mms/datasources/9/jobs/3' },
    { name: 'raw_plus_star', method: 'GET', pathname: '/api/v1/mms/x+y*z%7Ew', query: { q: 'v' } },
];

function cstr(s) {
    if (s === null || s === undefined) return 'NULL';
    let out = '"';
    for (const b of Buffer.from(s, 'utf8')) {
        if (b === 0x22) out += '\\"';
        else if (b === 0x5c) out += '\\\\';
        else if (b === 0x0a) out += '\\n';
        else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
        else out += '\\' + b.toString(8).padStart(3, '0');
    }
    // Split long literals so that a following hex/octal-looking char cannot extend an escape.
    return out.replace(/(\\[0-7]{3})(?=[0-7])/g, '$1""') + '"';
}

async function main() {
    const seen = [];
    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            seen.push({ method: req.method, url: req.url, rawHeaders: req.rawHeaders,
                        body: Buffer.concat(chunks).toString('utf8') });
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end('{"requestId":"x","data":{}}');
        });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const port = server.address().port;

    const out = [];
    for (const algo of ['ACS3', 'v2']) {
        const cfg = new OpenApi.Config({ accessKeyId: AK, accessKeySecret: SECRET,
                                         endpoint: `127.0.0.1:${port}`, protocol: 'HTTP' });
        if (algo === 'v2') cfg.signatureAlgorithm = 'v2';
        const client = new OpenApi.default(cfg);
        for (const c of cases) {
            captured = {};
            seen.length = 0;
            const params = new OpenApi.Params({ action: 'Test' + c.name, version: '2022-01-04',
                protocol: 'HTTP', pathname: c.pathname, method: c.method, authType: 'AK',
                style: 'ROA', reqBodyType: 'json', bodyType: 'json' });
            const req = new OpenApi.OpenApiRequest({ query: c.query, body: c.body });
            await client.callApi(params, req, { autoretry: false });
            const w = seen[0];
            const q = w.url.indexOf('?');
            const headers = [];
            let auth = null;
            for (let i = 0; i < w.rawHeaders.length; i += 2) {
                headers.push([w.rawHeaders[i], w.rawHeaders[i + 1]]);
                if (w.rawHeaders[i].toLowerCase() === 'authorization') auth = w.rawHeaders[i + 1];
            }
            let sig, signedHeaders = null;
            if (algo === 'ACS3') {
                const m = /SignedHeaders=([^,]*),Signature=([0-9a-f]+)$/.exec(auth);
                signedHeaders = m[1]; sig = m[2];
            } else {
                sig = /^acs [^:]+:(.*)$/.exec(auth)[1];
            }
            out.push({ algo, name: c.name, method: w.method,
                       path: q < 0 ? w.url : w.url.slice(0, q), query: q < 0 ? null : w.url.slice(q + 1),
                       headers, body: w.body, signedHeaders, canonical: captured.canonical,
                       stringToSign: captured.stringToSign, signature: sig });
        }
    }
    server.close();

    console.log(`/* Generated by tests/sdk/vectors.js with @alicloud/openapi-client ${require('@alicloud/openapi-client/package.json').version}`
        + ` and @alicloud/openapi-util ${require('@alicloud/openapi-util/package.json').version}.`);
    console.log(` * Secret: ${SECRET} */`);
    for (const v of out) {
        const id = `${v.algo.toLowerCase()}_${v.name}`;
        console.log(`static const struct http_kv vh_${id}[] = {`);
        for (const [k, val] of v.headers) console.log(`    {${cstr(k)}, ${cstr(val)}},`);
        console.log('};');
    }
    console.log('static const struct vector vectors[] = {');
    for (const v of out) {
        const id = `${v.algo.toLowerCase()}_${v.name}`;
        console.log(`    {${cstr(v.algo)}, ${cstr(v.name)}, ${cstr(v.method)}, ${cstr(v.path)}, ${cstr(v.query)},`);
        console.log(`     vh_${id}, ${v.headers.length}, ${cstr(v.body)}, ${cstr(v.signedHeaders)},`);
        console.log(`     ${cstr(v.canonical)},`);
        console.log(`     ${cstr(v.stringToSign)},`);
        console.log(`     ${cstr(v.signature)}},`);
    }
    console.log('};');
}
main().catch((e) => { console.error(e); process.exit(1); });
