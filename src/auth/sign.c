/* Request signatures as the Alibaba Cloud SDKs compute them (darabonba-openapi `DoRequest` +
 * openapi-util `getAuthorization` for ACS3-HMAC-SHA256; `DoROARequest` + `getStringToSign` for
 * the ROA HMAC-SHA1 scheme). Pure: no I/O, no global state.
 *
 * The SDK signs values it holds before they are put on the wire; the server only sees the
 * wire form. The rules below rebuild the SDK's canonical strings from the wire form; each
 * choice is explained where it is made and summarised in docs/security.md "Signatures". */
#include "auth/auth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/buf.h"
#include "util/xalloc.h"

/* The canonical strings are built from the request line and headers, which the HTTP layer
 * already caps; this cap only bounds what a direct caller (or the fuzzer) can make us build. */
#define SIGN_MAX_CANONICAL (1024 * 1024)
#define SIGN_MAX_SIGNED_HEADERS 64

/* ---- Small helpers ------------------------------------------------------------------ */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* A byte slice (not NUL-terminated). */
struct span {
    const char *p;
    size_t n;
};

static struct span trim(const char *s)
{
    struct span r = {s, strlen(s)};
    while (r.n && is_space(r.p[0])) {
        r.p++;
        r.n--;
    }
    while (r.n && is_space(r.p[r.n - 1]))
        r.n--;
    return r;
}

static int span_cmp(struct span a, struct span b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c)
        return c;
    return a.n < b.n ? -1 : a.n > b.n;
}

static bool name_eq(const char *a, const char *b_lower, size_t bn)
{
    size_t i;
    for (i = 0; i < bn && a[i]; i++)
        if (lower(a[i]) != b_lower[i])
            return false;
    return i == bn && a[i] == '\0';
}

/* Percent-decodes s[0..n) into out, '+' as space (query strings: Node's querystring sends
 * spaces as %20, Go's url.Values as '+'; a literal '+' arrives as %2B from both). A '%' not
 * followed by two hex digits is kept literally, as Node's querystring.parse does. */
static int pct_decode(const char *s, size_t n, struct buf *out)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (buf_addc(out, c) < 0)
            return -1;
    }
    return 0;
}

/* RFC 3986 encoding as openapi-util `encode` (encodeURIComponent, then !'()* escaped) and
 * Go's url.QueryEscape followed by the SDK's fix-ups of '+', '*' and %7E: unreserved bytes
 * A-Z a-z 0-9 - _ . ~ stay, every other byte becomes %XX (upper-case hex). */
static int rfc3986_encode(const char *s, size_t n, struct buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            rc = buf_addc(out, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = buf_add(out, e, 3);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int too_big(struct mms_err *err)
{
    return mms_err_set(err, 400, "InvalidAuthorization",
                       "request too large to sign (canonical form over 1 MiB)");
}

/* ---- Query strings -------------------------------------------------------------------- */

/* One query parameter after decoding. Keys repeated on the wire are merged: the SDKs hold the
 * query as a map, and Node's client sends an array value as repeated keys (k=a&k=b) while
 * signing it as the array's string form "a,b". So the values of a repeated key are joined
 * with ',' in the order they were sent. */
struct qparam {
    struct span key;
    struct span val;
    size_t order;
    size_t koff, voff; /* offsets of key and value while the text buffer still grows */
};

struct query {
    struct qparam *v;
    size_t n;
    struct buf text;   /* decoded keys and values, back to back */
    struct buf merged; /* values of repeated keys, joined */
};

static int qparam_cmp(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int c = span_cmp(x->key, y->key);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void query_init(struct query *q)
{
    q->v = NULL;
    q->n = 0;
    buf_init(&q->text, SIGN_MAX_CANONICAL);
    buf_init(&q->merged, SIGN_MAX_CANONICAL);
}

static void query_release(struct query *q)
{
    free(q->v);
    q->v = NULL;
    q->n = 0;
    buf_release(&q->text);
    buf_release(&q->merged);
}

/* Parses the raw query into decoded parameters sorted by key, repeated keys merged. Keys are
 * sorted by bytes (UTF-8 byte order = code point order, as Go sorts; Node sorts by UTF-16
 * code units, which differs only between astral characters and U+E000..U+FFFF in keys).
 * Empty fields ("a=1&&b=2") are skipped; a field without '=' has the value "". */
static int query_parse(const char *raw, struct query *q, struct mms_err *err)
{
    size_t cap = 0, nraw = 0;
    struct qparam *v = NULL;
    /* Pass 1: decode into text, recording offsets (text may move while it grows). */
    for (const char *p = raw ? raw : ""; *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t kn = eq ? (size_t)(eq - p) : len;
            if (nraw == cap) {
                cap = cap ? cap * 2 : 16;
                v = xreallocarray(v, cap, sizeof *v);
            }
            size_t k = q->text.len;
            if (pct_decode(p, kn, &q->text) < 0)
                goto too_big;
            size_t val = q->text.len;
            if (eq && pct_decode(eq + 1, len - kn - 1, &q->text) < 0)
                goto too_big;
            v[nraw].koff = k;
            v[nraw].key.n = val - k;
            v[nraw].voff = val;
            v[nraw].val.n = q->text.len - val;
            v[nraw].order = nraw;
            nraw++;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    if (q->text.len && memchr(q->text.p, '\0', q->text.len)) {
        free(v);
        return mms_err_set(err, 400, "InvalidParameter.Query",
                           "query string contains an encoded NUL byte (%%00), which cannot "
                           "be signed");
    }
    /* text is final: turn offsets into pointers, sort by (key, order). */
    const char *base = q->text.p ? q->text.p : "";
    for (size_t i = 0; i < nraw; i++) {
        v[i].key.p = base + v[i].koff;
        v[i].val.p = base + v[i].voff;
    }
    if (nraw > 1)
        qsort(v, nraw, sizeof *v, qparam_cmp);
    /* Pass 2: merge runs of equal keys; merged values get offsets into q->merged first. */
    size_t out = 0;
    for (size_t i = 0; i < nraw;) {
        size_t j = i + 1;
        while (j < nraw && span_cmp(v[j].key, v[i].key) == 0)
            j++;
        struct qparam r = v[i];
        if (j - i > 1) {
            size_t off = q->merged.len;
            for (size_t t = i; t < j; t++) {
                if ((t > i && buf_addc(&q->merged, ',') < 0) ||
                    buf_add(&q->merged, v[t].val.p, v[t].val.n) < 0)
                    goto too_big;
            }
            r.val = (struct span){NULL, q->merged.len - off};
            r.voff = off; /* into merged */
        }
        v[out++] = r;
        i = j;
    }
    for (size_t i = 0; i < out; i++)
        if (!v[i].val.p)
            v[i].val.p = (q->merged.p ? q->merged.p : "") + v[i].voff;
    q->v = v;
    q->n = out;
    return 0;
too_big:
    free(v);
    return too_big(err);
}

/* ---- Headers -------------------------------------------------------------------------- */

/* Appends the values of every header named `name` (lower-case), trimmed, joined with ','.
 * sorted: sort the values first (ACS3: the SDKs sort repeated header values); otherwise keep
 * the order received. filter: replace \t \n \r \f by spaces before trimming (ROA, as
 * openapi-util's getCanonicalizedHeaders does). Returns the number of headers found, -1 past
 * the size cap. */
static int header_values(const struct sign_input *in, const char *name, size_t nn, bool sorted,
                         bool filter, struct buf *out)
{
    struct span *vals = NULL;
    size_t nv = 0;
    int rc = -1;
    for (size_t i = 0; i < in->nheaders; i++) {
        if (!in->headers[i].key || !name_eq(in->headers[i].key, name, nn))
            continue;
        vals = xreallocarray(vals, nv + 1, sizeof *vals);
        vals[nv++] = trim(in->headers[i].value ? in->headers[i].value : "");
    }
    if (sorted && nv > 1) {
        /* Insertion sort: a handful of values at most. */
        for (size_t i = 1; i < nv; i++) {
            struct span t = vals[i];
            size_t j = i;
            while (j > 0 && span_cmp(vals[j - 1], t) > 0) {
                vals[j] = vals[j - 1];
                j--;
            }
            vals[j] = t;
        }
    }
    for (size_t i = 0; i < nv; i++) {
        if (i > 0 && buf_addc(out, ',') < 0)
            goto out;
        if (!filter) {
            if (buf_add(out, vals[i].p, vals[i].n) < 0)
                goto out;
            continue;
        }
        /* ROA: filter first, then trim (a value ending in "\f" trims to nothing). */
        size_t s = 0, e = vals[i].n;
        while (s < e && is_space(vals[i].p[s]))
            s++;
        while (e > s && is_space(vals[i].p[e - 1]))
            e--;
        for (size_t k = s; k < e; k++) {
            char c = vals[i].p[k];
            if (c == '\t' || c == '\n' || c == '\r' || c == '\f')
                c = ' ';
            if (buf_addc(out, c) < 0)
                goto out;
        }
    }
    rc = (int)nv;
out:
    free(vals);
    return rc;
}

/* One name from the SignedHeaders list, lower-cased. */
struct hname {
    char *s;
    size_t n;
};

static int hname_cmp(const void *a, const void *b)
{
    const struct hname *x = a, *y = b;
    return span_cmp((struct span){x->s, x->n}, (struct span){y->s, y->n});
}

static bool is_tchar(char c)
{
    /* RFC 9110 token characters. */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* ---- ACS3-HMAC-SHA256 ------------------------------------------------------------------ */

int sign_acs3_canonical(const struct sign_input *in, const char *signed_headers,
                        char **canonical_out, char **string_to_sign_out, struct mms_err *err)
{
    int rc = -1;
    struct buf b;
    struct query q;
    struct hname *names = NULL;
    size_t nnames = 0;
    char *copy = NULL;
    buf_init(&b, SIGN_MAX_CANONICAL);
    query_init(&q);
    if (canonical_out)
        *canonical_out = NULL;
    if (string_to_sign_out)
        *string_to_sign_out = NULL;

    /* SignedHeaders: non-empty, tokens, no duplicates. Sorted here, so the canonical request
     * is what the SDK computes for that set of headers (it always sends them sorted). */
    if (!signed_headers || !*signed_headers) {
        mms_err_set(err, 400, "InvalidAuthorization", "SignedHeaders is empty");
        goto out;
    }
    copy = xstrdup(signed_headers);
    for (char *save = NULL, *tok = copy;; tok = NULL) {
        char *t = strtok_r(tok, ";", &save);
        if (!t)
            break;
        size_t n = strlen(t);
        for (size_t i = 0; i < n; i++) {
            if (!is_tchar(t[i])) {
                mms_err_set(err, 400, "InvalidAuthorization",
                            "SignedHeaders contains an invalid header name");
                goto out;
            }
            t[i] = lower(t[i]);
        }
        if (nnames == SIGN_MAX_SIGNED_HEADERS) {
            mms_err_set(err, 400, "InvalidAuthorization",
                        "SignedHeaders names more than %d headers", SIGN_MAX_SIGNED_HEADERS);
            goto out;
        }
        names = xreallocarray(names, nnames + 1, sizeof *names);
        names[nnames].s = t;
        names[nnames].n = n;
        nnames++;
    }
    /* strtok_r skips empty fields; the SDK never produces them, so reject "a;;b", ";a", "a;". */
    if (nnames == 0 || signed_headers[0] == ';' ||
        signed_headers[strlen(signed_headers) - 1] == ';' || strstr(signed_headers, ";;")) {
        mms_err_set(err, 400, "InvalidAuthorization", "SignedHeaders has an empty header name");
        goto out;
    }
    qsort(names, nnames, sizeof *names, hname_cmp);
    for (size_t i = 1; i < nnames; i++) {
        if (hname_cmp(&names[i - 1], &names[i]) == 0) {
            mms_err_set(err, 400, "InvalidAuthorization", "SignedHeaders names %.64s twice",
                        names[i].s);
            goto out;
        }
    }

    /* Method. */
    if (buf_adds(&b, in->method ? in->method : "") < 0 || buf_addc(&b, '\n') < 0)
        goto too_big;

    /* Canonical URI: the raw path exactly as sent, with the SDK's three fix-ups ('+' -> %20,
     * '*' -> %2A, %7E -> '~', every occurrence as Go/Java/Python do; the Node SDK replaces
     * only the first of each, which is the same for every path its generated clients build,
     * since getEncodeParam leaves none of these in path parameters). The path is NOT decoded
     * and re-encoded: the SDK signs the pathname it sends. */
    for (const char *p = in->raw_path ? in->raw_path : ""; *p; p++) {
        int r;
        if (*p == '+')
            r = buf_adds(&b, "%20");
        else if (*p == '*')
            r = buf_adds(&b, "%2A");
        else if (p[0] == '%' && p[1] == '7' && p[2] == 'E') {
            r = buf_addc(&b, '~');
            p += 2;
        } else
            r = buf_addc(&b, *p);
        if (r < 0)
            goto too_big;
    }
    if (buf_addc(&b, '\n') < 0)
        goto too_big;

    /* Canonical query: decoded keys sorted, key as is (the SDK does not encode keys), value
     * RFC 3986-encoded; "k=" for an empty value. */
    if (query_parse(in->raw_query, &q, err) < 0)
        goto out;
    for (size_t i = 0; i < q.n; i++) {
        if ((i > 0 && buf_addc(&b, '&') < 0) || buf_add(&b, q.v[i].key.p, q.v[i].key.n) < 0 ||
            buf_addc(&b, '=') < 0 || rfc3986_encode(q.v[i].val.p, q.v[i].val.n, &b) < 0)
            goto too_big;
    }
    if (buf_addc(&b, '\n') < 0)
        goto too_big;

    /* Canonical headers, then a blank line (the SDK joins canonicalheaders, which ends in
     * '\n', with another '\n'), then the signed header list. */
    for (size_t i = 0; i < nnames; i++) {
        if (buf_add(&b, names[i].s, names[i].n) < 0 || buf_addc(&b, ':') < 0)
            goto too_big;
        int found = header_values(in, names[i].s, names[i].n, true, false, &b);
        if (found < 0)
            goto too_big;
        if (found == 0) {
            mms_err_set(err, 400, "InvalidAuthorization",
                        "SignedHeaders names %.64s, which is not in the request", names[i].s);
            goto out;
        }
        if (buf_addc(&b, '\n') < 0)
            goto too_big;
    }
    if (buf_addc(&b, '\n') < 0)
        goto too_big;
    for (size_t i = 0; i < nnames; i++) {
        if ((i > 0 && buf_addc(&b, ';') < 0) || buf_add(&b, names[i].s, names[i].n) < 0)
            goto too_big;
    }
    if (buf_addc(&b, '\n') < 0)
        goto too_big;

    /* Hashed payload: the x-acs-content-sha256 header as sent (auth.c checks it against the
     * body), or the body's hash when the header is absent. */
    {
        size_t before = b.len;
        int found = header_values(in, "x-acs-content-sha256", 20, true, false, &b);
        if (found < 0)
            goto too_big;
        if (found == 0) {
            char hex[65];
            sign_sha256_hex(in->body ? in->body : "", in->body ? in->body_len : 0, hex);
            b.len = before;
            if (buf_adds(&b, hex) < 0)
                goto too_big;
        }
    }

    if (string_to_sign_out) {
        char hex[65];
        sign_sha256_hex(buf_str(&b), b.len, hex);
        *string_to_sign_out = xasprintf("ACS3-HMAC-SHA256\n%s", hex);
    }
    if (canonical_out)
        *canonical_out = buf_detach(&b, NULL);
    rc = 0;
    goto out;
too_big:
    too_big(err);
out:
    free(names);
    free(copy);
    query_release(&q);
    buf_release(&b);
    return rc;
}

void sign_acs3_signature(const char *secret, const char *string_to_sign, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)string_to_sign,
         strlen(string_to_sign), md, &n);
    for (unsigned int i = 0; i < n && i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    OPENSSL_cleanse(md, sizeof md);
}

/* ---- ROA HMAC-SHA1 -------------------------------------------------------------------- */

struct xacs {
    const char *name; /* as received */
    size_t n;
    size_t order;
};

static int xacs_cmp(const void *a, const void *b)
{
    const struct xacs *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    for (size_t i = 0; i < n; i++) {
        unsigned char cx = (unsigned char)lower(x->name[i]), cy = (unsigned char)lower(y->name[i]);
        if (cx != cy)
            return cx < cy ? -1 : 1;
    }
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

int sign_roa_string(const struct sign_input *in, char **string_to_sign_out, struct mms_err *err)
{
    static const char *const fixed[] = {"accept", "content-md5", "content-type", "date"};
    int rc = -1;
    struct buf b;
    struct query q;
    struct xacs *xs = NULL;
    size_t nx = 0;
    char *lname = NULL;
    buf_init(&b, SIGN_MAX_CANONICAL);
    query_init(&q);
    if (string_to_sign_out)
        *string_to_sign_out = NULL;

    /* METHOD \n accept \n content-md5 \n content-type \n date \n; an absent header is "". */
    if (buf_adds(&b, in->method ? in->method : "") < 0 || buf_addc(&b, '\n') < 0)
        goto too_big;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (header_values(in, fixed[i], strlen(fixed[i]), false, false, &b) < 0 ||
            buf_addc(&b, '\n') < 0)
            goto too_big;
    }

    /* Every x-acs-* header, name lower-cased, sorted, "name:value\n". A name sent more than
     * once appears once, its values joined with ',' in the order received. */
    for (size_t i = 0; i < in->nheaders; i++) {
        const char *k = in->headers[i].key;
        if (!k || strncasecmp(k, "x-acs-", 6) != 0)
            continue;
        xs = xreallocarray(xs, nx + 1, sizeof *xs);
        xs[nx].name = k;
        xs[nx].n = strlen(k);
        xs[nx].order = i;
        nx++;
    }
    if (nx > 1)
        qsort(xs, nx, sizeof *xs, xacs_cmp);
    for (size_t i = 0; i < nx; i++) {
        if (i > 0 && xacs_cmp(&(struct xacs){xs[i - 1].name, xs[i - 1].n, 0},
                              &(struct xacs){xs[i].name, xs[i].n, 0}) == 0)
            continue; /* already emitted with the first of its run */
        free(lname);
        lname = xstrndup(xs[i].name, xs[i].n);
        for (char *c = lname; *c; c++)
            *c = lower(*c);
        if (buf_adds(&b, lname) < 0 || buf_addc(&b, ':') < 0 ||
            header_values(in, lname, xs[i].n, false, true, &b) < 0 || buf_addc(&b, '\n') < 0)
            goto too_big;
    }

    /* Resource: the raw path as sent, then "?" and the decoded query "k=v" sorted by key and
     * joined with '&' (no encoding; "k=" for an empty value, as the Node SDK writes it). */
    if (buf_adds(&b, in->raw_path ? in->raw_path : "") < 0)
        goto too_big;
    if (query_parse(in->raw_query, &q, err) < 0)
        goto out;
    for (size_t i = 0; i < q.n; i++) {
        if (buf_addc(&b, i == 0 ? '?' : '&') < 0 || buf_add(&b, q.v[i].key.p, q.v[i].key.n) < 0 ||
            buf_addc(&b, '=') < 0 || buf_add(&b, q.v[i].val.p, q.v[i].val.n) < 0)
            goto too_big;
    }
    if (string_to_sign_out)
        *string_to_sign_out = buf_detach(&b, NULL);
    rc = 0;
    goto out;
too_big:
    too_big(err);
out:
    free(lname);
    free(xs);
    query_release(&q);
    buf_release(&b);
    return rc;
}

void sign_roa_signature(const char *secret, const char *string_to_sign, char out[64])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)string_to_sign,
         strlen(string_to_sign), md, &n);
    EVP_EncodeBlock((unsigned char *)out, md, (int)n); /* 20 bytes -> 28 chars + NUL */
    OPENSSL_cleanse(md, sizeof md);
}

/* ---- Hashing and comparison ----------------------------------------------------------- */

void sign_sha256_hex(const void *data, size_t n, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < len && i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

bool sign_equal(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t n = strlen(a);
    if (n != strlen(b))
        return false;
    return CRYPTO_memcmp(a, b, n) == 0;
}
