'use strict';
// Signed requests built by hand with the SDK's own signing functions (@alicloud/openapi-util),
// for the cases the client cannot produce: the same request sent twice (replayed nonce), an
// old date, a body or query changed after signing. The headers are the ones the client's
// doRequest (ACS3-HMAC-SHA256) and doROARequest (ROA HMAC-SHA1) send, and the URL is built as
// tea's doAction builds it (querystring.stringify).

const https = require('node:https');
const querystring = require('node:querystring');
const crypto = require('node:crypto');
const OpenApiUtil = require('@alicloud/openapi-util').default;
const Util = require('@alicloud/tea-util').default;
const { VERSION } = require('./mms');

const ALG = 'ACS3-HMAC-SHA256';

// Date strings as the SDK writes them.
function acsDate(d = new Date()) { return d.toISOString().replace(/\.\d{3}Z$/, 'Z'); }
function httpDate(d = new Date()) { return d.toUTCString(); }

// A signed request: {method, pathname, query, headers, body (string|null)}.
//   o.scheme: 'acs3' (default) or 'roa'
//   o.endpoint, o.accessKeyId, o.accessKeySecret, o.action, o.method, o.pathname,
//   o.query (flat map of strings), o.body (object or undefined),
//   o.date (a Date; default now), o.nonce (default a fresh one),
//   o.contentMd5 (ROA only: a content-md5 header, which that scheme signs)
function sign(o) {
  const scheme = o.scheme || 'acs3';
  const req = {
    protocol: 'https',
    method: o.method,
    pathname: o.pathname,
    query: Object.assign({}, o.query || {}),
    headers: {},
    body: null,
  };
  const when = o.date || new Date();
  const nonce = o.nonce || Util.getNonce();
  if (scheme === 'acs3') {
    req.headers = {
      host: o.endpoint, 'x-acs-version': VERSION, 'x-acs-action': o.action,
      'user-agent': Util.getUserAgent(''), 'x-acs-date': acsDate(when),
      'x-acs-signature-nonce': nonce, accept: 'application/json',
    };
    let payload = '';
    if (o.body !== undefined) {
      payload = Util.toJSONString(o.body);
      req.body = payload;
      req.headers['content-type'] = 'application/json; charset=utf-8';
    }
    const hashed = crypto.createHash('sha256').update(Buffer.from(payload)).digest('hex');
    req.headers['x-acs-content-sha256'] = hashed;
    req.headers.Authorization = OpenApiUtil.getAuthorization(req, ALG, hashed, o.accessKeyId,
      o.accessKeySecret);
  } else {
    req.headers = {
      date: httpDate(when), host: o.endpoint, accept: 'application/json',
      'x-acs-signature-nonce': nonce, 'x-acs-signature-method': 'HMAC-SHA1',
      'x-acs-signature-version': '1.0', 'x-acs-version': VERSION, 'x-acs-action': o.action,
      'user-agent': Util.getUserAgent(''),
    };
    if (o.body !== undefined) {
      req.body = Util.toJSONString(o.body);
      req.headers['content-type'] = 'application/json; charset=utf-8';
    }
    if (o.contentMd5) req.headers['content-md5'] = o.contentMd5;
    const sts = OpenApiUtil.getStringToSign(req);
    req.headers.authorization = `acs ${o.accessKeyId}:${OpenApiUtil.getROASignature(sts,
      o.accessKeySecret)}`;
  }
  return req;
}

// Sends a request built by sign() (possibly altered since); resolves to
// {status, headers, body (parsed JSON or the raw text)}.
function send(req) {
  const qs = req.query && Object.keys(req.query).length ? '?' + querystring.stringify(req.query) : '';
  const host = req.headers.host;
  const url = `https://${host}${req.pathname}${qs}`;
  return new Promise((resolve, reject) => {
    const r = https.request(url, { method: req.method, headers: req.headers,
      rejectUnauthorized: false, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body = text;
        try { body = JSON.parse(text); } catch (_) { /* keep the text */ }
        resolve({ status: res.statusCode, headers: res.headers, body });
      });
    });
    r.on('error', reject);
    r.setTimeout(30000, () => r.destroy(new Error('timeout')));
    if (req.body !== null && req.body !== undefined) r.write(req.body);
    r.end();
  });
}

module.exports = { sign, send, acsDate, httpDate };
