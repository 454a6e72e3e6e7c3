/* libFuzzer entry point for the request canonicaliser (src/auth/sign.c). Built and run by
 * scripts/fuzz.sh (clang -fsanitize=fuzzer,address,undefined).
 *
 * Input, split on NUL bytes: method, raw path, raw query ("\x01" alone = no query at all),
 * SignedHeaders, then "name:value" headers (at most HTTP_MAX_HEADERS) up to an empty field;
 * whatever follows is the body. Missing fields are empty.
 * Checks: no crash / leak / UB; both schemes succeed or fail with a 400 whose message is
 * valid UTF-8 and fits; results are deterministic; on success the outputs have their fixed
 * shape (method first, "ACS3-HMAC-SHA256\n" + 64 hex digits) and the signatures compare
 * equal to themselves and unequal to a one-character change. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(const struct mms_err *err)
{
    json_t *j = json_string(err->msg);
    if (!j || err->http != 400 || strlen(err->msg) >= sizeof err->msg - 1 || !err->code[0])
        abort();
    json_decref(j);
}

static const char *next_field(char **p, char *end)
{
    if (*p >= end)
        return "";
    char *s = *p;
    *p += strlen(s) + 1;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *p = buf, *end = buf + size;

    struct http_kv headers[HTTP_MAX_HEADERS];
    char *hcopy[HTTP_MAX_HEADERS];
    size_t nh = 0;
    const char *method = next_field(&p, end);
    const char *path = next_field(&p, end);
    const char *query = next_field(&p, end);
    if (strcmp(query, "\x01") == 0)
        query = NULL;
    const char *signed_headers = next_field(&p, end);
    while (p < end && nh < HTTP_MAX_HEADERS) {
        const char *h = next_field(&p, end);
        if (!*h)
            break;
        char *c = strdup(h);
        char *colon = strchr(c, ':');
        if (colon)
            *colon = '\0';
        headers[nh].key = c;
        headers[nh].value = colon ? colon + 1 : "";
        hcopy[nh++] = c;
    }
    const char *body = p < end ? p : "";
    size_t body_len = p < end ? (size_t)(end - p) : 0;

    struct sign_input in = {method, path, query, headers, nh, body, body_len};
    struct mms_err err = {0};
    char *canon = NULL, *sts = NULL, *canon2 = NULL, *sts2 = NULL;

    int rc = sign_acs3_canonical(&in, signed_headers, &canon, &sts, &err);
    if (rc < 0) {
        check_err(&err);
        if (canon || sts)
            abort();
    } else {
        if (strncmp(canon, method, strlen(method)) != 0 || canon[strlen(method)] != '\n')
            abort();
        if (strlen(sts) != 17 + 64 || strncmp(sts, "ACS3-HMAC-SHA256\n", 17) != 0)
            abort();
        struct mms_err err2 = {0};
        if (sign_acs3_canonical(&in, signed_headers, &canon2, &sts2, &err2) < 0 ||
            strcmp(canon, canon2) != 0 || strcmp(sts, sts2) != 0)
            abort();
        char sig[65], sig2[65];
        sign_acs3_signature("secret", sts, sig);
        memcpy(sig2, sig, sizeof sig);
        if (strlen(sig) != 64 || !sign_equal(sig, sig2))
            abort();
        sig2[size % 64] = sig2[size % 64] == '0' ? '1' : '0';
        if (sign_equal(sig, sig2))
            abort();
    }
    free(canon);
    free(sts);
    free(canon2);
    canon = sts = canon2 = NULL;

    memset(&err, 0, sizeof err);
    rc = sign_roa_string(&in, &sts, &err);
    if (rc < 0) {
        check_err(&err);
        if (sts)
            abort();
    } else {
        if (strncmp(sts, method, strlen(method)) != 0 || sts[strlen(method)] != '\n')
            abort();
        struct mms_err err2 = {0};
        if (sign_roa_string(&in, &canon2, &err2) < 0 || strcmp(sts, canon2) != 0)
            abort();
        char sig[64];
        sign_roa_signature(body, sts, sig);
        if (strlen(sig) != 28 || !sign_equal(sig, sig))
            abort();
    }
    free(sts);
    free(sts2);
    free(canon2);
    for (size_t i = 0; i < nh; i++)
        free(hcopy[i]);
    free(buf);
    return 0;
}
