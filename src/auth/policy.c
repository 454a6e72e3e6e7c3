/* RAM policy documents: parse and validate (jansson), evaluate, glob matching. Pure.
 *
 * The supported language is the part of Alibaba Cloud RAM that mmsd needs:
 *   {"Version": "1",
 *    "Statement": [{"Effect": "Allow"|"Deny", "Action": pat|[pat...], "Resource": pat|[pat...]}]}
 * Anything else is rejected by name rather than ignored, so that a document never grants
 * more (or less) than it appears to: Condition, NotAction, NotResource, Principal, unknown
 * keys. Evaluation: explicit Deny wins, then Allow, else no match (the caller's default deny).
 * docs/security.md "Policies" is the user-facing description. */
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#define POLICY_MAX_DOC (1024 * 1024)
#define POLICY_MAX_STATEMENTS 100
#define POLICY_MAX_PATTERNS 100
#define POLICY_MAX_PATTERN_LEN 512

struct statement {
    bool deny;
    char **actions;
    size_t nactions;
    char **resources;
    size_t nresources;
};

struct policy {
    struct statement *st;
    size_t nst;
};

/* ---- Glob ------------------------------------------------------------------------------ */

/* Length of the UTF-8 character at s (1 for a stray byte): '?' matches one character. */
static size_t char_len(const char *s)
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

/* Iterative matcher with one backtrack point (the last '*' seen): when a later literal
 * fails, the last star absorbs one more character and matching resumes after it. Earlier
 * stars never need revisiting, so the cost is O(len(pattern) * len(s)), never exponential. */
bool policy_glob(const char *pattern, const char *s, bool case_insensitive)
{
    const char *p = pattern, *t = s;
    const char *star_p = NULL, *star_t = NULL;
    while (*t) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            if (!*p)
                return true;
            star_p = p;
            star_t = t;
            continue;
        }
        if (*p == '?') {
            p++;
            t += char_len(t);
            continue;
        }
        if (*p && fold(*p, case_insensitive) == fold(*t, case_insensitive)) {
            p++;
            t++;
            continue;
        }
        if (!star_p)
            return false;
        star_t += char_len(star_t);
        t = star_t;
        p = star_p;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* ---- Parsing --------------------------------------------------------------------------- */

static void statement_release(struct statement *st)
{
    for (size_t i = 0; i < st->nactions; i++)
        free(st->actions[i]);
    for (size_t i = 0; i < st->nresources; i++)
        free(st->resources[i]);
    free(st->actions);
    free(st->resources);
}

void policy_free(struct policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nst; i++)
        statement_release(&p->st[i]);
    free(p->st);
    free(p);
}

/* Copies an untrusted name for an error message: at most 64 bytes, never splitting a UTF-8
 * sequence, control characters and invalid bytes as '?' (messages end up in JSON bodies). */
static const char *echo(const char *s, char out[80])
{
    size_t o = 0;
    for (size_t i = 0; s[i] && o < 64;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
        bool ok = n > 0 && o + n <= 64 && !(c < 0x20 || c == 0x7f);
        for (size_t k = 1; ok && k < n; k++)
            ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
        if (!ok) {
            if (n > 0 && o + n > 64)
                break;
            out[o++] = '?';
            i++;
            continue;
        }
        memcpy(out + o, s + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    return out;
}

/* Checks one Action or Resource pattern. */
static int check_pattern(const char *s, bool action, size_t si, size_t pi, bool array,
                         struct mms_err *err)
{
    const char *field = action ? "Action" : "Resource";
    const char *code = action ? "InvalidPolicy.Action" : "InvalidPolicy.Resource";
    char where[64];
    if (array)
        snprintf(where, sizeof where, "Statement[%zu].%s[%zu]", si, field, pi);
    else
        snprintf(where, sizeof where, "Statement[%zu].%s", si, field);
    size_t n = strlen(s);
    if (n == 0)
        return mms_err_set(err, 400, code, "%s is empty", where);
    if (n > POLICY_MAX_PATTERN_LEN)
        return mms_err_set(err, 400, code, "%s is longer than %d bytes", where,
                           POLICY_MAX_PATTERN_LEN);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return mms_err_set(err, 400, code, "%s contains a control character", where);
    if (strcmp(s, "*") == 0)
        return 0;
    if (action) {
        /* "service:action": service is letters, digits and '-', at least one; the action
         * part is a non-empty pattern. */
        const char *colon = strchr(s, ':');
        bool ok = colon && colon > s && colon[1] != '\0';
        for (const char *c = s; ok && c < colon; c++)
            ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                 *c == '-' || *c == '*' || *c == '?';
        if (!ok)
            return mms_err_set(err, 400, code,
                               "%s must be \"*\" or \"<service>:<action>\", e.g. "
                               "\"odps:GetMmsDataSource\"",
                               where);
    } else if (strncmp(s, "acs:", 4) != 0) {
        return mms_err_set(err, 400, code,
                           "%s must be \"*\" or an ARN starting with \"acs:\", e.g. "
                           "\"acs:odps:*:*:mmsdatasource/*\"",
                           where);
    }
    return 0;
}

/* Reads Action or Resource (string or non-empty array of strings) into *out. */
static int parse_patterns(json_t *v, bool action, size_t si, char ***out, size_t *n,
                          struct mms_err *err)
{
    const char *field = action ? "Action" : "Resource";
    const char *code = action ? "InvalidPolicy.Action" : "InvalidPolicy.Resource";
    if (!v)
        return mms_err_set(err, 400, code, "Statement[%zu].%s is required", si, field);
    if (json_is_string(v)) {
        if (check_pattern(json_string_value(v), action, si, 0, false, err) < 0)
            return -1;
        *out = xcalloc(1, sizeof **out);
        (*out)[0] = xstrdup(json_string_value(v));
        *n = 1;
        return 0;
    }
    if (!json_is_array(v))
        return mms_err_set(err, 400, code,
                           "Statement[%zu].%s must be a string or an array "
                           "of strings",
                           si, field);
    size_t len = json_array_size(v);
    if (len == 0)
        return mms_err_set(err, 400, code, "Statement[%zu].%s is an empty array", si, field);
    if (len > POLICY_MAX_PATTERNS)
        return mms_err_set(err, 400, code, "Statement[%zu].%s has %zu entries; at most %d", si,
                           field, len, POLICY_MAX_PATTERNS);
    for (size_t i = 0; i < len; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return mms_err_set(err, 400, code, "Statement[%zu].%s[%zu] must be a string", si, field,
                               i);
        if (check_pattern(json_string_value(e), action, si, i, true, err) < 0)
            return -1;
    }
    *out = xcalloc(len, sizeof **out);
    for (size_t i = 0; i < len; i++)
        (*out)[i] = xstrdup(json_string_value(json_array_get(v, i)));
    *n = len;
    return 0;
}

static int parse_statement(json_t *js, size_t si, struct statement *st, struct mms_err *err)
{
    if (!json_is_object(js))
        return mms_err_set(err, 400, "InvalidPolicy.Statement", "Statement[%zu] must be an object",
                           si);
    const char *key;
    json_t *val;
    char name[80];
    json_object_foreach(js, key, val)
    {
        if (strcmp(key, "Effect") == 0 || strcmp(key, "Action") == 0 ||
            strcmp(key, "Resource") == 0)
            continue;
        if (strcmp(key, "Condition") == 0)
            return mms_err_set(err, 400, "InvalidPolicy.Condition",
                               "Statement[%zu].Condition: conditions are not supported by mmsd; "
                               "remove the Condition block",
                               si);
        return mms_err_set(err, 400, "InvalidPolicy.UnknownField",
                           "Statement[%zu] has an unsupported field \"%s\" (allowed: "
                           "Effect, Action, Resource)",
                           si, echo(key, name));
    }
    json_t *effect = json_object_get(js, "Effect");
    if (!effect)
        return mms_err_set(err, 400, "InvalidPolicy.Effect", "Statement[%zu].Effect is required",
                           si);
    const char *e = json_string_value(effect);
    if (e && strcmp(e, "Allow") == 0)
        st->deny = false;
    else if (e && strcmp(e, "Deny") == 0)
        st->deny = true;
    else
        return mms_err_set(err, 400, "InvalidPolicy.Effect",
                           "Statement[%zu].Effect must be \"Allow\" or \"Deny\"", si);
    if (parse_patterns(json_object_get(js, "Action"), true, si, &st->actions, &st->nactions, err) <
        0)
        return -1;
    if (parse_patterns(json_object_get(js, "Resource"), false, si, &st->resources, &st->nresources,
                       err) < 0)
        return -1;
    return 0;
}

int policy_parse(const char *json_text, struct policy **out, struct mms_err *err)
{
    int rc = -1;
    json_t *doc = NULL;
    struct policy *p = NULL;
    *out = NULL;
    if (!json_text)
        return mms_err_set(err, 400, "InvalidPolicy.Malformed", "policy document is missing");
    size_t len = strlen(json_text);
    if (len > POLICY_MAX_DOC)
        return mms_err_set(err, 400, "InvalidPolicy.Malformed",
                           "policy document is larger than %d bytes", POLICY_MAX_DOC);
    json_error_t jerr;
    doc = json_loadb(json_text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        /* jansson's text may quote the input (any bytes): printable ASCII only. */
        for (char *c = jerr.text; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
                *c = '?';
        mms_err_set(err, 400, "InvalidPolicy.Malformed",
                    "policy document is not valid JSON (line %d, column %d): %.200s", jerr.line,
                    jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(doc)) {
        mms_err_set(err, 400, "InvalidPolicy.Malformed", "policy document must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *val;
    char name[80];
    json_object_foreach(doc, key, val)
    {
        if (strcmp(key, "Version") != 0 && strcmp(key, "Statement") != 0) {
            mms_err_set(err, 400, "InvalidPolicy.UnknownField",
                        "policy has an unsupported field \"%s\" (allowed: Version, "
                        "Statement)",
                        echo(key, name));
            goto out;
        }
    }
    json_t *version = json_object_get(doc, "Version");
    if (!version) {
        mms_err_set(err, 400, "InvalidPolicy.Version", "Version is required and must be \"1\"");
        goto out;
    }
    if (!json_is_string(version) || strcmp(json_string_value(version), "1") != 0) {
        mms_err_set(err, 400, "InvalidPolicy.Version", "Version must be the string \"1\"");
        goto out;
    }
    json_t *stmts = json_object_get(doc, "Statement");
    if (!stmts) {
        mms_err_set(err, 400, "InvalidPolicy.Statement", "Statement is required");
        goto out;
    }
    if (!json_is_array(stmts)) {
        mms_err_set(err, 400, "InvalidPolicy.Statement", "Statement must be an array");
        goto out;
    }
    size_t n = json_array_size(stmts);
    if (n == 0 || n > POLICY_MAX_STATEMENTS) {
        mms_err_set(err, 400, "InvalidPolicy.Statement",
                    "Statement has %zu entries; it must have 1 to %d", n, POLICY_MAX_STATEMENTS);
        goto out;
    }
    p = xcalloc(1, sizeof *p);
    p->st = xcalloc(n, sizeof *p->st);
    for (size_t i = 0; i < n; i++) {
        p->nst = i + 1; /* so that policy_free releases what was parsed */
        if (parse_statement(json_array_get(stmts, i), i, &p->st[i], err) < 0)
            goto out;
    }
    *out = p;
    p = NULL;
    rc = 0;
out:
    policy_free(p);
    json_decref(doc);
    return rc;
}

/* ---- Evaluation ------------------------------------------------------------------------ */

static bool any_match(char *const *pats, size_t n, const char *s, bool ci)
{
    for (size_t i = 0; i < n; i++)
        if (policy_glob(pats[i], s, ci))
            return true;
    return false;
}

enum policy_decision policy_eval(const struct policy *p, const char *action, const char *resource)
{
    enum policy_decision d = POLICY_NO_MATCH;
    if (!p || !action)
        return POLICY_NO_MATCH;
    if (!resource)
        resource = "*";
    for (size_t i = 0; i < p->nst; i++) {
        const struct statement *st = &p->st[i];
        if (!any_match(st->actions, st->nactions, action, true) ||
            !any_match(st->resources, st->nresources, resource, false))
            continue;
        if (st->deny)
            return POLICY_DENY;
        d = POLICY_ALLOW;
    }
    return d;
}
