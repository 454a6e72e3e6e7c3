/* Request authentication and authorisation (issue 4), as the Alibaba Cloud SDKs expect.
 *
 * Modules:
 *   sign.c    canonical request / string-to-sign for ACS3-HMAC-SHA256 and ROA HMAC-SHA1,
 *             HMAC and hashing (OpenSSL libcrypto), constant-time comparison. Pure.
 *   policy.c  RAM policy documents: parse, validate, evaluate (Deny wins, default deny). Pure.
 *   keys.c    access keys (secrets encrypted under the master key), policies attached to keys,
 *             nonces seen, the master key file; SQL against the store (store/db.h).
 *   auth.c    the per-request check used by the API layer: who is calling, is the signature
 *             right, is it fresh and not replayed, may they do this action on this resource.
 *   secret.c  encryption of secrets at rest (AES-256-GCM under the master key).
 *
 * Errors: every function returns 0 or -1 with a struct mms_err whose code is one of the
 * documented SDK-shaped codes (docs/security.md): MissingAuthorization, InvalidAuthorization,
 * InvalidAccessKeyId.NotFound, InvalidAccessKeyId.Inactive, SignatureDoesNotMatch,
 * SignatureNonceUsed, InvalidTimeStamp.Expired, MissingTimeStamp, ContentSha256Mismatch,
 * Forbidden.RAM (403, with an accessDeniedDetail). */
#ifndef MMS_AUTH_H
#define MMS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http/http.h"
#include "store/db.h"
#include "util/err.h"

/* ---- sign.c ---- */

/* What the canonicaliser needs of a request. The path is the RAW path as sent (before
 * percent-decoding), the query the RAW query string (after '?', may be NULL). */
struct sign_input {
    const char *method;
    const char *raw_path;
    const char *raw_query;
    const struct http_kv *headers;  /* names in any case */
    size_t nheaders;
    const char *body;
    size_t body_len;
};

/* ACS3-HMAC-SHA256: builds the canonical request for the given signed header list
 * ("host;x-acs-date;..."), and the string to sign. Caller frees both (may pass NULL). */
int sign_acs3_canonical(const struct sign_input *in, const char *signed_headers,
                        char **canonical_out, char **string_to_sign_out, struct mms_err *err);
/* hex(HMAC-SHA256(secret, string_to_sign)) into out (65 bytes). */
void sign_acs3_signature(const char *secret, const char *string_to_sign, char out[65]);
/* ROA v1 (HMAC-SHA1): the string to sign; caller frees. */
int sign_roa_string(const struct sign_input *in, char **string_to_sign_out, struct mms_err *err);
/* base64(HMAC-SHA1(secret, string_to_sign)) into out (at least 29 bytes). */
void sign_roa_signature(const char *secret, const char *string_to_sign, char out[64]);
/* hex(SHA256(data)) into out (65 bytes). */
void sign_sha256_hex(const void *data, size_t n, char out[65]);
/* Constant-time equality of two NUL-terminated strings (length leaks, content does not). */
bool sign_equal(const char *a, const char *b);

/* ---- policy.c ---- */

struct policy;
/* Parses and validates a RAM policy document {Version, Statement:[{Effect, Action, Resource}]}
 * (Action/Resource: string or array of strings; wildcards * and ?). 400 InvalidPolicy.* on
 * error, naming the statement and field. */
int policy_parse(const char *json_text, struct policy **out, struct mms_err *err);
void policy_free(struct policy *p);
enum policy_decision { POLICY_NO_MATCH = 0, POLICY_ALLOW = 1, POLICY_DENY = 2 };
/* The decision of one policy for (action, resource). Action matching is case-insensitive
 * (as RAM does), resource matching case-sensitive. */
enum policy_decision policy_eval(const struct policy *p, const char *action,
                                 const char *resource);
/* Glob match with * (any run) and ? (one char); exposed for tests and fuzzing. */
bool policy_glob(const char *pattern, const char *s, bool case_insensitive);

/* ---- auth.c ---- */

struct auth_ctx {
    bool enabled;             /* false only with --insecure-no-auth */
    const char *region;       /* for ARNs: acs:odps:{region}:{account}:mmsdatasource/{id} */
    const char *account;
    bool debug_signature;     /* include the server's string-to-sign in SignatureDoesNotMatch */
    const unsigned char *master_key; /* 32 bytes */
    int64_t clock_skew_seconds; /* x-acs-date / date accepted within this of the server clock
                                   (0 = 900); nonces are kept this long past their date */
};

/* The caller, once authenticated. */
struct auth_caller {
    char access_key_id[64];
};

/* Authenticates the request (signature, date window, nonce) with a store connection.
 * 0 and caller filled; -1 with err (401/403 style codes above). */
int auth_authenticate(const struct auth_ctx *a, struct db *db, const struct http_req *req,
                      struct auth_caller *caller, struct mms_err *err);
/* Authorises action "odps:<ApiName>" on resource (NULL = "*"): 0, or -1 with 403
 * Forbidden.RAM whose message names action and resource. */
int auth_authorize(const struct auth_ctx *a, struct db *db, const struct auth_caller *caller,
                   const char *api_name, int64_t source_id, struct mms_err *err);
/* The data source ARN into out. */
void auth_arn(const struct auth_ctx *a, int64_t source_id, char *out, size_t n);

/* Added by the keys/enforcement work (auth.c): */

/* The process-wide context the API layer uses (one server per process). Borrowed: a must
 * outlive every request. auth_config() is NULL until auth_configure is called. */
void auth_configure(const struct auth_ctx *a);
const struct auth_ctx *auth_config(void);

/* What a denial was about: for the accessDeniedDetail of a 403 Forbidden.RAM. */
struct auth_denied {
    char action[160];     /* "odps:GetMmsJob" */
    char resource[320];   /* the ARN, or "*" */
    bool explicit_deny;   /* a Deny statement matched (else no Allow matched) */
};
/* auth_authorize, also filling *denied (may be NULL) when it returns -1 with Forbidden.RAM. */
int auth_authorize_detail(const struct auth_ctx *a, struct db *db,
                          const struct auth_caller *caller, const char *api_name,
                          int64_t source_id, struct auth_denied *denied, struct mms_err *err);
/* For list filtering: allowed[i] = whether the caller's policies allow odps:<api_name> on the
 * ARN of ids[i] (true for every id when auth is disabled). *any_star = whether they allow it
 * on "*". */
int auth_filter_sources(const struct auth_ctx *a, struct db *db, const struct auth_caller *caller,
                        const char *api_name, const int64_t *ids, size_t n, bool *allowed,
                        bool *any_star, struct mms_err *err);

#endif
