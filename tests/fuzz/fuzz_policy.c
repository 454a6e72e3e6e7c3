/* libFuzzer entry point for RAM policies (src/auth/policy.c). Built and run by scripts/fuzz.sh.
 *
 * First byte selects the mode:
 *   even: the rest is a policy document: parse it; on success evaluate it against a few
 *         (action, resource) pairs; on failure check the error.
 *   odd:  the rest is "pattern\0subject": policy_glob in both case modes, checked against a
 *         simple dynamic-programming matcher whenever both strings are valid UTF-8 (the glob's
 *         '?' matches one character, so the two agree only on well-formed text).
 * Checks: no crash / leak / UB / timeout (the glob must stay polynomial); errors are 400
 * InvalidPolicy.* with a valid UTF-8 message that fits; evaluation is deterministic and a
 * document that parses also parses again to the same decisions. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool valid_utf8(const char *s)
{
    json_t *j = json_string(s);
    if (!j)
        return false;
    json_decref(j);
    return true;
}

static size_t clen(const char *s)
{
    unsigned char c = (unsigned char)s[0];
    size_t n = 1;
    if (c < 0xC0)
        return 1;
    while (n < 4 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n++;
    return n;
}

static char fold(char c, bool ci)
{
    return (ci && c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Reference: m[i][j] = pattern[i..] matches s[j..]. */
static bool dp_glob(const char *pat, const char *s, bool ci)
{
    size_t np = strlen(pat), ns = strlen(s);
    if (np > 300 || ns > 300)
        return policy_glob(pat, s, ci); /* keep the reference cheap */
    bool *m = calloc((np + 1) * (ns + 1), sizeof *m);
#define M(i, j) m[(i) * (ns + 1) + (j)]
    M(np, ns) = true;
    for (size_t ii = np + 1; ii-- > 0;) {
        for (size_t jj = ns + 1; jj-- > 0;) {
            if (ii == np) {
                M(ii, jj) = jj == ns;
                continue;
            }
            char c = pat[ii];
            bool r;
            if (c == '*')
                r = M(ii + 1, jj) || (jj < ns && M(ii, jj + clen(s + jj)));
            else if (c == '?')
                r = jj < ns && M(ii + 1, jj + clen(s + jj));
            else
                r = jj < ns && fold(c, ci) == fold(s[jj], ci) && M(ii + 1, jj + 1);
            M(ii, jj) = r;
        }
    }
    bool out = M(0, 0);
#undef M
    free(m);
    return out;
}

static void check_err(const struct mms_err *err)
{
    if (err->http != 400 || strncmp(err->code, "InvalidPolicy.", 14) != 0 ||
        !valid_utf8(err->msg) || strlen(err->msg) >= sizeof err->msg - 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';

    if (data[0] & 1) {
        size_t plen = strlen(text);
        const char *subject = plen + 1 < size ? text + plen + 1 : "";
        for (int ci = 0; ci < 2; ci++) {
            bool g = policy_glob(text, subject, ci);
            if (g != policy_glob(text, subject, ci))
                abort();
            if (valid_utf8(text) && valid_utf8(subject) && g != dp_glob(text, subject, ci))
                abort();
        }
        free(text);
        return 0;
    }

    static const char *const pairs[][2] = {
        {"odps:GetMmsAsyncTask", "acs:odps:cn-shanghai:12345:mmsdatasource/2000015"},
        {"odps:ListMmsDataSources", "*"},
        {"odps:CreateMmsDataSource", NULL},
        {"ODPS:deletemmsjob", "acs:odps:cn-hangzhou:1:mmsdatasource/1"},
        {"ram:ListUsers", "acs:ram:*:1:user/x"},
    };
    struct policy *p = NULL, *q = NULL;
    struct mms_err err = {0};
    if (policy_parse(text, &p, &err) < 0) {
        check_err(&err);
        if (p)
            abort();
    } else {
        if (policy_parse(text, &q, &err) < 0)
            abort();
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
            enum policy_decision d = policy_eval(p, pairs[i][0], pairs[i][1]);
            if (d != POLICY_NO_MATCH && d != POLICY_ALLOW && d != POLICY_DENY)
                abort();
            if (d != policy_eval(q, pairs[i][0], pairs[i][1]))
                abort();
        }
        policy_free(q);
        policy_free(p);
    }
    free(text);
    return 0;
}
