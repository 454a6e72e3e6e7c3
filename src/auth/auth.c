/* The per-request check: who is calling (ACS3-HMAC-SHA256 or ROA HMAC-SHA1 signature, date
 * window, nonce), and whether their policies allow the action on the resource.
 *
 * Order of the checks, so that each error names the first thing wrong and nothing is recorded
 * for a request that is not authentic: header syntax -> date present, well-formed, fresh ->
 * nonce present -> key known and active -> body digest -> signature -> nonce unused (recorded
 * only now, so forged requests cannot burn nonces). */
#include "auth/auth.h"
#include "auth/keys.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#define DEFAULT_SKEW 900

static const struct auth_ctx *g_auth;

void auth_configure(const struct auth_ctx *a)
{
    g_auth = a;
}

const struct auth_ctx *auth_config(void)
{
    return g_auth;
}

void auth_arn(const struct auth_ctx *a, int64_t source_id, char *out, size_t n)
{
    if (source_id <= 0) {
        snprintf(out, n, "*");
        return;
    }
    snprintf(out, n, "acs:odps:%s:%s:mmsdatasource/%lld", a->region ? a->region : "",
             a->account ? a->account : "", (long long)source_id);
}

/* ---- Helpers ----------------------------------------------------------------------------- */

static int64_t skew(const struct auth_ctx *a)
{
    return a->clock_skew_seconds > 0 ? a->clock_skew_seconds : DEFAULT_SKEW;
}

/* "2024-05-01T08:00:00Z" -> Unix seconds. */
static int parse_iso8601(const char *s, int64_t *out)
{
    struct tm tm;
    int n = 0;
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        n != 20 || s[n] != '\0')
        return -1;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* "Wed, 01 May 2024 08:00:00 GMT" -> Unix seconds. */
static int parse_rfc1123(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end != '\0')
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

static int check_date(const struct auth_ctx *a, int64_t t, const char *header, const char *value,
                      struct mms_err *err)
{
    int64_t now = time_now();
    int64_t d = t > now ? t - now : now - t;
    if (d > skew(a))
        return mms_err_set(err, 400, "InvalidTimeStamp.Expired",
                           "Specified time stamp or date value is expired: %s %s is %lld "
                           "seconds from the server time (allowed: %lld)",
                           header, value, (long long)d, (long long)skew(a));
    return 0;
}

/* Whether the printable value is short and safe to echo in a message. */
static bool echoable(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= max || !isprint((unsigned char)s[n]))
            return false;
    return true;
}

static void split_uri(const struct http_req *req, char **path, char **query)
{
    const char *u = req->raw_uri ? req->raw_uri : req->path;
    const char *q = strchr(u, '?');
    if (q) {
        *path = xstrndup(u, (size_t)(q - u));
        *query = xstrdup(q + 1);
    } else {
        *path = xstrdup(u);
        *query = NULL;
    }
}

/* Looks up the key and its secret: 0, or -1 with NotFound/Inactive/500. */
static int load_key(const struct auth_ctx *a, struct db *db, const char *ak, char **secret,
                    struct mms_err *err)
{
    bool active = false;
    int r = keys_secret(db, a->master_key, ak, secret, &active, err);
    if (r < 0)
        return -1;
    if (r == 1)
        return mms_err_set(err, 404, "InvalidAccessKeyId.NotFound",
                           "Specified access key is not found.");
    if (!active) {
        secret_wipe(*secret, strlen(*secret));
        free(*secret);
        *secret = NULL;
        return mms_err_set(err, 400, "InvalidAccessKeyId.Inactive",
                           "Specified access key is disabled.");
    }
    return 0;
}

static int use_nonce(const struct auth_ctx *a, struct db *db, const char *nonce, int64_t date,
                     struct mms_err *err)
{
    static atomic_uint counter;
    int64_t now = time_now();
    int64_t base = date > now ? date : now;
    if ((atomic_fetch_add(&counter, 1) % 100) == 0) {
        struct mms_err e = {0};
        if (keys_nonce_purge(db, now, &e) < 0)
            log_warn("nonce purge: %s", e.msg);
    }
    int r = keys_nonce_use(db, nonce, base + skew(a), now, err);
    if (r < 0)
        return -1;
    if (r == 1)
        return mms_err_set(err, 400, "SignatureNonceUsed",
                           "Specified signature nonce was used already.");
    return 0;
}

static void mismatch(const struct auth_ctx *a, const char *sts, struct mms_err *err)
{
    if (a->debug_signature && sts) {
        /* The string to sign holds no secret: method, path, headers, digests. */
        mms_err_set(err, 400, "SignatureDoesNotMatch",
                    "Specified signature is not matched with our calculation. server "
                    "string to sign is:%s",
                    sts);
    } else {
        mms_err_set(err, 400, "SignatureDoesNotMatch",
                    "Specified signature is not matched with our calculation.");
    }
}

/* ---- ACS3-HMAC-SHA256 -------------------------------------------------------------------- */

/* Parses "Credential=AK,SignedHeaders=a;b,Signature=hex" (after the algorithm). */
static int parse_acs3(const char *s, char *ak, size_t akn, char *sh, size_t shn, char *sig,
                      size_t sign, struct mms_err *err)
{
    ak[0] = sh[0] = sig[0] = '\0';
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        if (!*s)
            break;
        const char *eq = strchr(s, '=');
        if (!eq)
            return mms_err_set(err, 400, "InvalidAuthorization",
                               "Authorization: expected Credential=..,SignedHeaders=..,"
                               "Signature=..");
        const char *end = strchr(eq, ',');
        if (!end)
            end = eq + strlen(eq);
        size_t kl = (size_t)(eq - s), vl = (size_t)(end - eq - 1);
        char *dst = NULL;
        size_t dn = 0;
        if (kl == 10 && strncmp(s, "Credential", 10) == 0) {
            dst = ak;
            dn = akn;
        } else if (kl == 13 && strncmp(s, "SignedHeaders", 13) == 0) {
            dst = sh;
            dn = shn;
        } else if (kl == 9 && strncmp(s, "Signature", 9) == 0) {
            dst = sig;
            dn = sign;
        }
        if (dst) {
            if (vl == 0 || vl >= dn)
                return mms_err_set(err, 400, "InvalidAuthorization",
                                   "Authorization: %.*s is empty or too long", (int)kl, s);
            memcpy(dst, eq + 1, vl);
            dst[vl] = '\0';
        }
        s = end;
    }
    if (!ak[0] || !sh[0] || !sig[0])
        return mms_err_set(err, 400, "InvalidAuthorization",
                           "Authorization: Credential, SignedHeaders and Signature are all "
                           "required");
    return 0;
}

/* Whether name (lower-case) is in the ';'-separated list. */
static bool in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ';');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncasecmp(p, name, n) == 0)
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

static int check_signed_headers(const struct http_req *req, const char *sh, struct mms_err *err)
{
    if (!in_list(sh, "host"))
        return mms_err_set(err, 400, "InvalidAuthorization",
                           "SignedHeaders must include host");
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *k = req->headers[i].key;
        if (strncasecmp(k, "x-acs-", 6) == 0 && !in_list(sh, k)) {
            char lk[65];
            size_t j = 0;
            for (; k[j] && j < 64; j++)
                lk[j] = (char)tolower((unsigned char)k[j]);
            lk[j] = '\0';
            return mms_err_set(err, 400, "InvalidAuthorization",
                               "SignedHeaders must include every x-acs-* header sent; %s is "
                               "missing",
                               echoable(lk, 64) ? lk : "one");
        }
    }
    /* Every signed header must be present. */
    const char *p = sh;
    while (*p) {
        const char *e = strchr(p, ';');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char name[128];
        if (l == 0 || l >= sizeof name)
            return mms_err_set(err, 400, "InvalidAuthorization",
                               "SignedHeaders has an empty or too long name");
        memcpy(name, p, l);
        name[l] = '\0';
        if (!http_req_header(req, name))
            return mms_err_set(err, 400, "InvalidAuthorization",
                               "signed header %s is not in the request",
                               echoable(name, 64) ? name : "(unprintable)");
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

static int auth_acs3(const struct auth_ctx *a, struct db *db, const struct http_req *req,
                     const char *params, struct auth_caller *caller, struct mms_err *err)
{
    char ak[128], sh[2048], sig[128];
    char *secret = NULL, *path = NULL, *query = NULL, *sts = NULL;
    int rc = -1;
    if (parse_acs3(params, ak, sizeof ak, sh, sizeof sh, sig, sizeof sig, err) < 0)
        return -1;
    const char *date = http_req_header(req, "x-acs-date");
    const char *nonce = http_req_header(req, "x-acs-signature-nonce");
    const char *sha = http_req_header(req, "x-acs-content-sha256");
    int64_t t = 0;
    if (!date || !*date)
        return mms_err_set(err, 400, "MissingTimeStamp", "x-acs-date is required");
    if (parse_iso8601(date, &t) < 0)
        return mms_err_set(err, 400, "InvalidTimeStamp.Format",
                           "x-acs-date must be yyyy-MM-ddTHH:mm:ssZ (UTC)");
    if (check_date(a, t, "x-acs-date", date, err) < 0)
        return -1;
    if (!nonce || !*nonce || strlen(nonce) > 256)
        return mms_err_set(err, 400, "MissingSignatureNonce",
                           "x-acs-signature-nonce is required (at most 256 characters)");
    if (!sha || !*sha)
        return mms_err_set(err, 400, "InvalidAuthorization",
                           "x-acs-content-sha256 is required");
    if (check_signed_headers(req, sh, err) < 0)
        return -1;
    if (load_key(a, db, ak, &secret, err) < 0)
        return -1;
    char body_sha[65];
    sign_sha256_hex(req->body, req->body_len, body_sha);
    if (strcasecmp(body_sha, sha) != 0) {
        mms_err_set(err, 400, "ContentSha256Mismatch",
                    "x-acs-content-sha256 does not match the SHA-256 of the request body");
        goto out;
    }
    split_uri(req, &path, &query);
    struct sign_input in = {
        .method = req->method,
        .raw_path = path,
        .raw_query = query,
        .headers = req->headers,
        .nheaders = req->nheaders,
        .body = req->body,
        .body_len = req->body_len,
    };
    if (sign_acs3_canonical(&in, sh, NULL, &sts, err) < 0)
        goto out;
    char want[65];
    sign_acs3_signature(secret, sts, want);
    if (!sign_equal(want, sig)) {
        mismatch(a, sts, err);
        goto out;
    }
    if (use_nonce(a, db, nonce, t, err) < 0)
        goto out;
    snprintf(caller->access_key_id, sizeof caller->access_key_id, "%.63s", ak);
    rc = 0;
out:
    if (secret) {
        secret_wipe(secret, strlen(secret));
        free(secret);
    }
    free(path);
    free(query);
    free(sts);
    return rc;
}

/* ---- ROA HMAC-SHA1 ----------------------------------------------------------------------- */

static int auth_roa(const struct auth_ctx *a, struct db *db, const struct http_req *req,
                    const char *params, struct auth_caller *caller, struct mms_err *err)
{
    char ak[128], sig[128];
    char *secret = NULL, *path = NULL, *query = NULL, *sts = NULL;
    int rc = -1;
    const char *colon = strrchr(params, ':');
    if (!colon || colon == params || (size_t)(colon - params) >= sizeof ak || !colon[1] ||
        strlen(colon + 1) >= sizeof sig)
        return mms_err_set(err, 400, "InvalidAuthorization",
                           "Authorization: expected acs <AccessKeyId>:<Signature>");
    memcpy(ak, params, (size_t)(colon - params));
    ak[colon - params] = '\0';
    snprintf(sig, sizeof sig, "%s", colon + 1);
    const char *date = http_req_header(req, "date");
    const char *nonce = http_req_header(req, "x-acs-signature-nonce");
    const char *method = http_req_header(req, "x-acs-signature-method");
    const char *version = http_req_header(req, "x-acs-signature-version");
    int64_t t = 0;
    if (!date || !*date)
        return mms_err_set(err, 400, "MissingTimeStamp", "the date header is required");
    if (parse_rfc1123(date, &t) < 0)
        return mms_err_set(err, 400, "InvalidTimeStamp.Format",
                           "date must be RFC 1123 in GMT (Wed, 01 May 2024 08:00:00 GMT)");
    if (check_date(a, t, "date", date, err) < 0)
        return -1;
    if (!nonce || !*nonce || strlen(nonce) > 256)
        return mms_err_set(err, 400, "MissingSignatureNonce",
                           "x-acs-signature-nonce is required (at most 256 characters)");
    if (method && strcasecmp(method, "HMAC-SHA1") != 0)
        return mms_err_set(err, 400, "InvalidAuthorization",
                           "x-acs-signature-method must be HMAC-SHA1");
    if (version && strcmp(version, "1.0") != 0)
        return mms_err_set(err, 400, "InvalidAuthorization",
                           "x-acs-signature-version must be 1.0");
    if (load_key(a, db, ak, &secret, err) < 0)
        return -1;
    /* content-md5, when sent, is signed: check it against the body. */
    const char *md5 = http_req_header(req, "content-md5");
    if (md5 && *md5) {
        unsigned char d[16];
        unsigned int dl = 0;
        char b64[32];
        EVP_Digest(req->body, req->body_len, d, &dl, EVP_md5(), NULL);
        EVP_EncodeBlock((unsigned char *)b64, d, 16);
        if (strcmp(b64, md5) != 0) {
            mms_err_set(err, 400, "ContentMD5Mismatch",
                        "content-md5 does not match the MD5 of the request body");
            goto out;
        }
    }
    split_uri(req, &path, &query);
    struct sign_input in = {
        .method = req->method,
        .raw_path = path,
        .raw_query = query,
        .headers = req->headers,
        .nheaders = req->nheaders,
        .body = req->body,
        .body_len = req->body_len,
    };
    if (sign_roa_string(&in, &sts, err) < 0)
        goto out;
    char want[64];
    sign_roa_signature(secret, sts, want);
    if (!sign_equal(want, sig)) {
        mismatch(a, sts, err);
        goto out;
    }
    if (use_nonce(a, db, nonce, t, err) < 0)
        goto out;
    snprintf(caller->access_key_id, sizeof caller->access_key_id, "%.63s", ak);
    rc = 0;
out:
    if (secret) {
        secret_wipe(secret, strlen(secret));
        free(secret);
    }
    free(path);
    free(query);
    free(sts);
    return rc;
}

int auth_authenticate(const struct auth_ctx *a, struct db *db, const struct http_req *req,
                      struct auth_caller *caller, struct mms_err *err)
{
    memset(caller, 0, sizeof *caller);
    if (!a->enabled)
        return 0;
    const char *h = http_req_header(req, "authorization");
    if (!h || !*h)
        return mms_err_set(err, 400, "MissingAuthorization",
                           "the request is not signed: an Authorization header "
                           "(ACS3-HMAC-SHA256 or acs) is required");
    if (strncmp(h, "ACS3-", 5) == 0) {
        const char *sp = strchr(h, ' ');
        size_t al = sp ? (size_t)(sp - h) : strlen(h);
        if (al != 16 || strncmp(h, "ACS3-HMAC-SHA256", 16) != 0)
            return mms_err_set(err, 400, "InvalidAuthorization",
                               "unsupported signature algorithm: only ACS3-HMAC-SHA256 and the "
                               "ROA HMAC-SHA1 scheme are accepted");
        if (!sp)
            return mms_err_set(err, 400, "InvalidAuthorization",
                               "Authorization: expected ACS3-HMAC-SHA256 Credential=..,"
                               "SignedHeaders=..,Signature=..");
        return auth_acs3(a, db, req, sp + 1, caller, err);
    }
    if (strncmp(h, "acs ", 4) == 0)
        return auth_roa(a, db, req, h + 4, caller, err);
    return mms_err_set(err, 400, "InvalidAuthorization",
                       "unsupported Authorization scheme: expected ACS3-HMAC-SHA256 or acs");
}

/* ---- Authorisation ----------------------------------------------------------------------- */

struct policyset {
    struct policy **v;
    size_t n;
};

static void policyset_release(struct policyset *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        policy_free(ps->v[i]);
    free(ps->v);
    ps->v = NULL;
    ps->n = 0;
}

static int policyset_load(struct db *db, const char *ak, struct policyset *ps,
                          struct mms_err *err)
{
    struct key_policy *kp = NULL;
    size_t n = 0;
    memset(ps, 0, sizeof *ps);
    if (keys_policy_list(db, ak, &kp, &n, err) < 0)
        return -1;
    ps->v = xcalloc(n ? n : 1, sizeof *ps->v);
    for (size_t i = 0; i < n; i++) {
        struct mms_err e = {0};
        struct policy *p = NULL;
        if (policy_parse(kp[i].document, &p, &e) < 0) {
            /* Validated when attached; a document that no longer parses grants nothing. */
            log_warn("access key %s: policy %s is invalid and ignored: %s", ak, kp[i].name,
                     e.msg);
            continue;
        }
        ps->v[ps->n++] = p;
    }
    keys_policy_list_free(kp, n);
    return 0;
}

static enum policy_decision policyset_eval(const struct policyset *ps, const char *action,
                                           const char *resource)
{
    enum policy_decision d = POLICY_NO_MATCH;
    for (size_t i = 0; i < ps->n; i++) {
        enum policy_decision x = policy_eval(ps->v[i], action, resource);
        if (x == POLICY_DENY)
            return POLICY_DENY;
        if (x == POLICY_ALLOW)
            d = POLICY_ALLOW;
    }
    return d;
}

int auth_authorize_detail(const struct auth_ctx *a, struct db *db,
                          const struct auth_caller *caller, const char *api_name,
                          int64_t source_id, struct auth_denied *denied, struct mms_err *err)
{
    if (!a->enabled)
        return 0;
    char action[160], resource[320];
    snprintf(action, sizeof action, "odps:%s", api_name);
    auth_arn(a, source_id, resource, sizeof resource);
    struct policyset ps;
    if (policyset_load(db, caller->access_key_id, &ps, err) < 0)
        return -1;
    enum policy_decision d = policyset_eval(&ps, action, resource);
    policyset_release(&ps);
    if (d == POLICY_ALLOW)
        return 0;
    if (denied) {
        snprintf(denied->action, sizeof denied->action, "%s", action);
        snprintf(denied->resource, sizeof denied->resource, "%s", resource);
        denied->explicit_deny = d == POLICY_DENY;
    }
    return mms_err_set(err, 403, "Forbidden.RAM",
                       "User not authorized to operate on the specified resource, or this API "
                       "doesn't support RAM: access key %s may not do %s on %s (%s)",
                       caller->access_key_id, action, resource,
                       d == POLICY_DENY ? "explicit deny" : "no policy allows it");
}

int auth_authorize(const struct auth_ctx *a, struct db *db, const struct auth_caller *caller,
                   const char *api_name, int64_t source_id, struct mms_err *err)
{
    return auth_authorize_detail(a, db, caller, api_name, source_id, NULL, err);
}

int auth_filter_sources(const struct auth_ctx *a, struct db *db, const struct auth_caller *caller,
                        const char *api_name, const int64_t *ids, size_t n, bool *allowed,
                        bool *any_star, struct mms_err *err)
{
    if (!a->enabled) {
        for (size_t i = 0; i < n; i++)
            allowed[i] = true;
        *any_star = true;
        return 0;
    }
    char action[160], resource[320];
    snprintf(action, sizeof action, "odps:%s", api_name);
    struct policyset ps;
    if (policyset_load(db, caller->access_key_id, &ps, err) < 0)
        return -1;
    *any_star = policyset_eval(&ps, action, "*") == POLICY_ALLOW;
    for (size_t i = 0; i < n; i++) {
        auth_arn(a, ids[i], resource, sizeof resource);
        allowed[i] = policyset_eval(&ps, action, resource) == POLICY_ALLOW;
    }
    policyset_release(&ps);
    return 0;
}
