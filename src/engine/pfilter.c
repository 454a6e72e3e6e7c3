/* Partition filters: a small recursive-descent parser into an AST, and an evaluator over it.
 * The grammar and the semantics are documented in pfilter.h; this file explains the why.
 *
 * The lexer runs on demand (one token of look-ahead), so the first error in text order is the
 * one reported: "p >= and 'x" complains about the missing value, not about the unterminated
 * string further on. Chains of and / or are flattened into one n-ary node, so the tree depth
 * (and the recursion of eval and free) is bounded by the parenthesis nesting, not by the number
 * of comparisons. */
#include "engine/pfilter.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"

#define PF_CODE "InvalidParameter.PartitionFilters"

/* Message snippets: at most this many characters of user input, escaped, in SNIP_CAP bytes.
 * Two snippets plus the text stay far below struct mms_err.msg, so vsnprintf never truncates
 * (a truncation could cut a UTF-8 sequence and make the JSON error body invalid). */
#define SNIP_CHARS 32
#define SNIP_CAP 100

/* ---- AST ------------------------------------------------------------------------------- */

enum pf_op { PF_EQ, PF_NE, PF_LT, PF_LE, PF_GT, PF_GE, PF_IN };
enum pf_kind { PF_AND, PF_OR, PF_CMP };

struct pf_value {
    bool is_num;
    int64_t num;
    char *s;    /* string literal, decoded and NUL-terminated (it cannot contain a NUL) */
    size_t n;
    size_t off; /* byte offset of the literal in the expression */
};

struct pf_node {
    enum pf_kind kind;
    /* PF_AND / PF_OR: two or more children */
    struct pf_node **kids;
    size_t nkids;
    /* PF_CMP */
    char *col;      /* column name as written (backquotes removed) */
    size_t col_off; /* byte offset of the column name */
    size_t idx;     /* index in pfilter.cmps */
    enum pf_op op;
    struct pf_value *vals; /* one for a plain comparison, the list for in */
    size_t nvals;
};

struct pfilter {
    char *expr;
    struct pf_node *root;
    struct pf_node **cmps; /* every comparison in text order; borrowed from the tree */
    size_t ncmps;
};

static void node_free(struct pf_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    for (size_t i = 0; i < n->nvals; i++)
        free(n->vals[i].s);
    free(n->vals);
    free(n->col);
    free(n);
}

/* ---- Messages -------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1 for ASCII), 0 when invalid. Same rules as
 * jansson's: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* Writes bytes [src, src+n) into out as message text: valid UTF-8 passes, control characters
 * and invalid bytes become \xNN, at most SNIP_CHARS characters, then "...". out has SNIP_CAP
 * bytes. */
static void snip(char *out, const void *src, size_t n)
{
    const unsigned char *p = src;
    size_t o = 0, i = 0, chars = 0;
    while (i < n) {
        char tmp[5];
        size_t l = utf8_len(p + i, n - i), tl;
        if (chars == SNIP_CHARS || o + 4 + 4 > SNIP_CAP) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (l == 1 && p[i] >= 0x20 && p[i] != 0x7F) {
            tmp[0] = (char)p[i];
            tl = 1;
        } else if (l > 1) {
            memcpy(tmp, p + i, l);
            tl = l;
        } else {
            snprintf(tmp, sizeof tmp, "\\x%02X", p[i]);
            tl = 4;
            l = 1;
        }
        memcpy(out + o, tmp, tl);
        o += tl;
        i += l;
        chars++;
    }
    out[o] = '\0';
}

/* 1-based character position of byte offset off (UTF-8: continuation bytes do not count). */
static size_t charpos(const char *s, size_t off)
{
    size_t pos = 1;
    for (size_t i = 0; i < off; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            pos++;
    return pos;
}

/* A message cut by vsnprintf could end inside a UTF-8 sequence; drop such a tail so the
 * message stays valid UTF-8 (jansson refuses anything else). */
static void utf8_trim(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i > 0 && (unsigned char)s[i - 1] >= 0xC0 &&
        utf8_len((const unsigned char *)s + i - 1, n - i + 1) != n - i + 1)
        s[i - 1] = '\0';
}

static int vfail(struct mms_err *err, const char *expr, size_t off, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int vfail(struct mms_err *err, const char *expr, size_t off, const char *fmt, va_list ap)
{
    char msg[480];
    vsnprintf(msg, sizeof msg, fmt, ap);
    utf8_trim(msg);
    return mms_err_set(err, 400, PF_CODE, "position %zu: %s", charpos(expr, off), msg);
}

static int fail_at(struct mms_err *err, const char *expr, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(struct mms_err *err, const char *expr, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, expr, off, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- Lexer ----------------------------------------------------------------------------- */

enum tok_kind {
    T_END = 0,
    T_IDENT,
    T_STRING,
    T_NUMBER,
    T_LPAREN,
    T_RPAREN,
    T_COMMA,
    T_OP,
    T_AND,
    T_OR,
    T_IN,
    T_NOT,
};

struct tok {
    enum tok_kind kind;
    size_t off, len; /* raw bytes in the expression */
    enum pf_op op;   /* T_OP */
    int64_t num;     /* T_NUMBER */
    char *text;      /* T_IDENT / T_STRING: decoded; owned here until a node takes it */
    size_t text_len;
};

struct parser {
    const char *s;
    size_t n;
    size_t pos; /* where the lexer continues */
    struct tok cur;
    bool has_prev; /* prev_*: the token before cur, for "after X" in messages */
    enum tok_kind prev_kind;
    size_t prev_off, prev_len;
    int depth;
    struct pf_node **cmps;
    size_t ncmps, cmps_cap;
    struct mms_err *err;
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || is_digit(c);
}

static int perr(struct parser *ps, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct parser *ps, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ps->err, ps->s, off, fmt, ap);
    va_end(ap);
    return -1;
}

static void tok_clear(struct tok *t)
{
    free(t->text);
    memset(t, 0, sizeof *t);
}

/* Quoted strings and backquoted names share this: the closing quote doubled stands for itself;
 * backslash escapes only in strings. On success *out is the decoded text and ps->pos the byte
 * after the closing quote. */
static int lex_quoted(struct parser *ps, size_t start, bool backslash, char **out, size_t *out_len)
{
    const char *s = ps->s;
    char q = s[start];
    char *buf = xmalloc(ps->n - start); /* decoded text is shorter than the rest of the input */
    size_t o = 0, i = start + 1;
    for (;;) {
        if (i >= ps->n) {
            free(buf);
            if (q == '`')
                return perr(ps, start, "unterminated column name (no closing `)");
            return perr(ps, start, "unterminated string (no closing %c)", q);
        }
        char c = s[i];
        if (c == q) {
            if (i + 1 < ps->n && s[i + 1] == q) {
                buf[o++] = q;
                i += 2;
                continue;
            }
            i++;
            break;
        }
        if (c == '\\' && backslash && i + 1 < ps->n) {
            char e = s[i + 1];
            if (e == '\'' || e == '"' || e == '\\') {
                buf[o++] = e;
                i += 2;
                continue;
            }
            char sn[SNIP_CAP];
            size_t l = utf8_len((const unsigned char *)s + i + 1, ps->n - i - 1);
            snip(sn, s + i + 1, l ? l : 1);
            free(buf);
            return perr(ps, i,
                        "unknown escape \\%s in a string: the only escapes are \\', \\\" and "
                        "\\\\ (write \\\\ for a backslash)",
                        sn);
        }
        buf[o++] = c;
        i++;
    }
    buf[o] = '\0';
    ps->pos = i;
    *out = buf;
    *out_len = o;
    return 0;
}

/* [+-]?[0-9]+ ; a number glued to letters, dots, dashes, colons or slashes is refused with a
 * hint, because it is almost always an unquoted date or a decimal. */
static int lex_number(struct parser *ps, size_t start, struct tok *t)
{
    const char *s = ps->s;
    size_t i = start, end;
    bool neg = false, over = false;
    uint64_t mag = 0;
    char sn[SNIP_CAP];

    if (s[i] == '+' || s[i] == '-')
        neg = s[i++] == '-';
    for (; i < ps->n && is_digit(s[i]); i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (mag > (UINT64_MAX - d) / 10)
            over = true;
        else
            mag = mag * 10 + d;
    }
    end = i;
    while (end < ps->n && (is_ident_char(s[end]) || s[end] == '.' || s[end] == '-' ||
                           s[end] == ':' || s[end] == '/'))
        end++;
    if (end > i) {
        snip(sn, s + start, end - start);
        if (s[i] == '.')
            return perr(ps, start,
                        "decimal numbers are not supported (%s): numbers compare only with "
                        "integer partition keys; quote other values: '%s'",
                        sn, sn);
        return perr(ps, start, "%s is not a number: quote string values: '%s'", sn, sn);
    }
    snip(sn, s + start, end - start);
    if (over || mag > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return perr(ps, start, "number %s is out of the 64-bit integer range", sn);
    if (neg)
        t->num = mag == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)mag;
    else
        t->num = (int64_t)mag;
    t->kind = T_NUMBER;
    ps->pos = end;
    return 0;
}

static bool word_is(const char *p, size_t n, const char *kw)
{
    return strlen(kw) == n && strncasecmp(p, kw, n) == 0;
}

/* Reads the next token into ps->cur (the previous one is dropped, with any text no node took). */
static int lex(struct parser *ps)
{
    struct tok *t = &ps->cur;
    const char *s = ps->s;
    size_t i = ps->pos;
    int rc = 0;

    tok_clear(t);
    while (i < ps->n && is_space(s[i]))
        i++;
    t->off = i;
    ps->pos = i;
    if (i == ps->n) {
        t->kind = T_END;
        return 0;
    }
    char c = s[i];
    char next = i + 1 < ps->n ? s[i + 1] : '\0';
    switch (c) {
    case '(':
        t->kind = T_LPAREN;
        ps->pos = i + 1;
        break;
    case ')':
        t->kind = T_RPAREN;
        ps->pos = i + 1;
        break;
    case ',':
        t->kind = T_COMMA;
        ps->pos = i + 1;
        break;
    case '>':
        t->kind = T_OP;
        t->op = next == '=' ? PF_GE : PF_GT;
        ps->pos = i + (next == '=' ? 2 : 1);
        break;
    case '<':
        t->kind = T_OP;
        t->op = next == '=' ? PF_LE : next == '>' ? PF_NE : PF_LT;
        ps->pos = i + (next == '=' || next == '>' ? 2 : 1);
        break;
    case '=':
        if (next == '=')
            return perr(ps, i, "'==' is not an operator: write =");
        t->kind = T_OP;
        t->op = PF_EQ;
        ps->pos = i + 1;
        break;
    case '!':
        if (next != '=')
            return perr(ps, i, "unexpected character '!' (the operators are =, <>, !=, <, <=, "
                               ">, >= and in)");
        t->kind = T_OP;
        t->op = PF_NE;
        ps->pos = i + 2;
        break;
    case '\'':
    case '"':
        rc = lex_quoted(ps, i, true, &t->text, &t->text_len);
        t->kind = T_STRING;
        break;
    case '`':
        rc = lex_quoted(ps, i, false, &t->text, &t->text_len);
        if (rc == 0 && t->text_len == 0)
            rc = perr(ps, i, "empty column name ``");
        t->kind = T_IDENT;
        break;
    default:
        if (is_digit(c) || ((c == '+' || c == '-') && is_digit(next))) {
            rc = lex_number(ps, i, t);
        } else if (is_ident_start(c)) {
            size_t j = i;
            while (j < ps->n && is_ident_char(s[j]))
                j++;
            if (word_is(s + i, j - i, "and"))
                t->kind = T_AND;
            else if (word_is(s + i, j - i, "or"))
                t->kind = T_OR;
            else if (word_is(s + i, j - i, "in"))
                t->kind = T_IN;
            else if (word_is(s + i, j - i, "not"))
                t->kind = T_NOT;
            else
                t->kind = T_IDENT;
            if (t->kind == T_IDENT) {
                t->text = xstrndup(s + i, j - i);
                t->text_len = j - i;
            }
            ps->pos = j;
        } else {
            char sn[SNIP_CAP];
            size_t l = utf8_len((const unsigned char *)s + i, ps->n - i);
            snip(sn, s + i, l ? l : 1);
            return perr(ps, i, "unexpected character '%s'", sn);
        }
    }
    t->len = ps->pos - t->off;
    return rc;
}

/* Moves to the next token, remembering the current one for "after X" in messages. */
static int advance(struct parser *ps)
{
    ps->has_prev = true;
    ps->prev_kind = ps->cur.kind;
    ps->prev_off = ps->cur.off;
    ps->prev_len = ps->cur.len;
    return lex(ps);
}

/* "end of input", "the string 'x'", "the number 10", "'p1'", "'>='". */
static void tok_desc(const struct parser *ps, enum tok_kind kind, size_t off, size_t len,
                     char *out, size_t cap)
{
    char sn[SNIP_CAP];
    if (kind == T_END) {
        snprintf(out, cap, "end of input");
        return;
    }
    snip(sn, ps->s + off, len);
    if (kind == T_STRING)
        snprintf(out, cap, "the string %s", sn);
    else if (kind == T_NUMBER)
        snprintf(out, cap, "the number %s", sn);
    else
        snprintf(out, cap, "'%s'", sn);
}

/* "position N: expected WHAT after PREV, found CUR[HINT]" at the current token. */
static int expected(struct parser *ps, const char *what, const char *hint)
{
    char found[SNIP_CAP + 16], after[SNIP_CAP + 16];
    tok_desc(ps, ps->cur.kind, ps->cur.off, ps->cur.len, found, sizeof found);
    if (!hint)
        hint = "";
    if (!ps->has_prev)
        return perr(ps, ps->cur.off, "expected %s, found %s%s", what, found, hint);
    tok_desc(ps, ps->prev_kind, ps->prev_off, ps->prev_len, after, sizeof after);
    return perr(ps, ps->cur.off, "expected %s after %s, found %s%s", what, after, found, hint);
}

/* ---- Parser ---------------------------------------------------------------------------- */

static int parse_chain(struct parser *ps, bool is_or, struct pf_node **out);

/* value := string | number. Takes the token's text. */
static int parse_value(struct parser *ps, struct pf_value *v)
{
    struct tok *t = &ps->cur;
    memset(v, 0, sizeof *v);
    v->off = t->off;
    if (t->kind == T_STRING) {
        v->s = t->text;
        v->n = t->text_len;
        t->text = NULL;
    } else if (t->kind == T_NUMBER) {
        v->is_num = true;
        v->num = t->num;
    } else if (t->kind == T_IDENT) {
        char sn[SNIP_CAP], hint[SNIP_CAP + 48];
        snip(sn, t->text, t->text_len);
        snprintf(hint, sizeof hint, " (string values need quotes: '%s')", sn);
        return expected(ps, "a value", hint);
    } else {
        return expected(ps, "a value", " (a quoted string or an integer)");
    }
    if (advance(ps) < 0) {
        free(v->s);
        v->s = NULL;
        return -1;
    }
    return 0;
}

static void value_push(struct pf_node *n, size_t *cap, const struct pf_value *v)
{
    if (n->nvals == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        n->vals = xreallocarray(n->vals, *cap, sizeof *n->vals);
    }
    n->vals[n->nvals++] = *v;
}

/* column op value | column in ( value, ... ); ps->cur is the column. */
static int parse_cmp(struct parser *ps, struct pf_node **out)
{
    struct pf_node *n = NULL;
    struct pf_value v;
    size_t cap = 0;
    int rc = -1;

    if (ps->ncmps == PFILTER_MAX_CMPS) {
        perr(ps, ps->cur.off, "more than %d comparisons", PFILTER_MAX_CMPS);
        goto out;
    }
    n = xcalloc(1, sizeof *n);
    n->kind = PF_CMP;
    n->col = ps->cur.text;
    n->col_off = ps->cur.off;
    ps->cur.text = NULL;
    if (advance(ps) < 0)
        goto out;

    if (ps->cur.kind == T_OP) {
        n->op = ps->cur.op;
        if (advance(ps) < 0 || parse_value(ps, &v) < 0)
            goto out;
        value_push(n, &cap, &v);
    } else if (ps->cur.kind == T_IN) {
        n->op = PF_IN;
        if (advance(ps) < 0)
            goto out;
        if (ps->cur.kind != T_LPAREN) {
            expected(ps, "'(' to open the list of values", NULL);
            goto out;
        }
        if (advance(ps) < 0)
            goto out;
        for (;;) {
            if (n->nvals == PFILTER_MAX_IN) {
                perr(ps, ps->cur.off, "more than %d values in one in list", PFILTER_MAX_IN);
                goto out;
            }
            if (parse_value(ps, &v) < 0)
                goto out;
            value_push(n, &cap, &v);
            if (ps->cur.kind == T_RPAREN)
                break;
            if (ps->cur.kind != T_COMMA) {
                expected(ps, "',' or ')' in the in list", NULL);
                goto out;
            }
            if (advance(ps) < 0)
                goto out;
        }
        if (advance(ps) < 0)
            goto out;
    } else if (ps->cur.kind == T_NOT) {
        size_t not_off = ps->cur.off;
        /* Whatever follows, the answer is no; the look-ahead only picks the message. */
        bool in = advance(ps) == 0 && ps->cur.kind == T_IN;
        if (in)
            perr(ps, not_off,
                 "'not in' is not supported (the reference has only in): list the wanted values "
                 "with in, or combine <> with and");
        else
            perr(ps, not_off, "'not' is not supported: use <> or in");
        goto out;
    } else {
        expected(ps, "a comparison operator (=, <>, !=, <, <=, >, >=) or in", NULL);
        goto out;
    }

    if (ps->ncmps == ps->cmps_cap) {
        ps->cmps_cap = ps->cmps_cap ? ps->cmps_cap * 2 : 8;
        ps->cmps = xreallocarray(ps->cmps, ps->cmps_cap, sizeof *ps->cmps);
    }
    n->idx = ps->ncmps;
    ps->cmps[ps->ncmps++] = n;
    *out = n;
    n = NULL;
    rc = 0;
out:
    node_free(n);
    return rc;
}

/* ( or_expr ) | comparison */
static int parse_primary(struct parser *ps, struct pf_node **out)
{
    struct pf_node *n = NULL;
    size_t open = ps->cur.off;
    char hint[64];

    switch (ps->cur.kind) {
    case T_LPAREN:
        if (++ps->depth > PFILTER_MAX_DEPTH)
            return perr(ps, open, "parentheses nested deeper than %d levels", PFILTER_MAX_DEPTH);
        if (advance(ps) < 0 || parse_chain(ps, true, &n) < 0)
            return -1;
        if (ps->cur.kind != T_RPAREN) {
            if (ps->cur.kind == T_END) {
                char after[SNIP_CAP + 16];
                tok_desc(ps, ps->prev_kind, ps->prev_off, ps->prev_len, after, sizeof after);
                perr(ps, ps->cur.off, "unbalanced '(' at position %zu: expected ')' after %s, "
                     "found end of input", charpos(ps->s, open), after);
            } else {
                snprintf(hint, sizeof hint, " (inside the '(' at position %zu)",
                         charpos(ps->s, open));
                expected(ps, "'and', 'or' or ')'", hint);
            }
            node_free(n);
            return -1;
        }
        ps->depth--;
        if (advance(ps) < 0) {
            node_free(n);
            return -1;
        }
        *out = n;
        return 0;
    case T_IDENT:
        return parse_cmp(ps, out);
    case T_NOT:
        return perr(ps, ps->cur.off, "'not' is not supported: use <> or in");
    case T_STRING:
    case T_NUMBER:
        return expected(ps, "a partition column name or '('",
                        " (the column goes on the left: p1 = 'x')");
    default:
        return expected(ps, "a partition column name or '('", NULL);
    }
}

/* is_or: and_expr ( or and_expr )* ; else: primary ( and primary )*. One n-ary node. */
static int parse_chain(struct parser *ps, bool is_or, struct pf_node **out)
{
    struct pf_node **kids = NULL, *n = NULL;
    size_t nkids = 0, cap = 0;
    enum tok_kind sep = is_or ? T_OR : T_AND;
    int rc = -1;

    for (;;) {
        if ((is_or ? parse_chain(ps, false, &n) : parse_primary(ps, &n)) < 0)
            goto out;
        if (nkids == cap) {
            cap = cap ? cap * 2 : 4;
            kids = xreallocarray(kids, cap, sizeof *kids);
        }
        kids[nkids++] = n;
        n = NULL;
        if (ps->cur.kind != sep)
            break;
        if (advance(ps) < 0)
            goto out;
    }
    if (nkids == 1) {
        *out = kids[0];
        nkids = 0;
    } else {
        n = xcalloc(1, sizeof *n);
        n->kind = is_or ? PF_OR : PF_AND;
        n->kids = kids;
        n->nkids = nkids;
        kids = NULL;
        nkids = 0;
        *out = n;
        n = NULL;
    }
    rc = 0;
out:
    for (size_t i = 0; i < nkids; i++)
        node_free(kids[i]);
    free(kids);
    return rc;
}

int pfilter_parse(const char *expr, struct pfilter **out, struct mms_err *err)
{
    struct parser ps = {0};
    struct pf_node *root = NULL;
    struct pfilter *f = NULL;
    size_t i;
    int rc = -1;

    *out = NULL;
    ps.err = err;
    ps.s = expr ? expr : "";
    ps.n = strnlen(ps.s, PFILTER_MAX_LEN + 1);
    if (ps.n > PFILTER_MAX_LEN) {
        perr(&ps, PFILTER_MAX_LEN, "the expression is longer than %d bytes", PFILTER_MAX_LEN);
        goto out;
    }
    for (i = 0; i < ps.n && is_space(ps.s[i]); i++)
        ;
    if (i == ps.n) {
        perr(&ps, 0, "empty expression");
        goto out;
    }
    if (lex(&ps) < 0 || parse_chain(&ps, true, &root) < 0)
        goto out;
    if (ps.cur.kind == T_RPAREN) {
        perr(&ps, ps.cur.off, "unbalanced ')': there is no '(' for it to close");
        goto out;
    }
    if (ps.cur.kind != T_END) {
        expected(&ps, "'and', 'or' or the end of the expression", NULL);
        goto out;
    }
    f = xcalloc(1, sizeof *f);
    f->expr = xstrndup(ps.s, ps.n);
    f->root = root;
    f->cmps = ps.cmps;
    f->ncmps = ps.ncmps;
    root = NULL;
    ps.cmps = NULL;
    *out = f;
    rc = 0;
out:
    node_free(root);
    free(ps.cmps);
    tok_clear(&ps.cur);
    return rc;
}

void pfilter_free(struct pfilter *f)
{
    if (!f)
        return;
    node_free(f->root);
    free(f->cmps);
    free(f->expr);
    free(f);
}

const char *pfilter_expr(const struct pfilter *f)
{
    return f->expr;
}

/* ---- Checking against the partition keys ---------------------------------------------- */

static bool is_int_type(enum mms_type_id id)
{
    return id >= MT_INT8 && id <= MT_UINT64;
}

/* Exact match first, then ASCII case-insensitive (unique). 0 found, -1 none, -2 ambiguous. */
static int key_find(const struct conn_schema *pkeys, const char *name, size_t *idx)
{
    size_t npcols = pkeys ? pkeys->npcols : 0, found = 0;
    for (size_t i = 0; i < npcols; i++) {
        if (pkeys->pcols[i].name && strcmp(pkeys->pcols[i].name, name) == 0) {
            *idx = i;
            return 0;
        }
    }
    for (size_t i = 0; i < npcols; i++) {
        if (pkeys->pcols[i].name && strcasecmp(pkeys->pcols[i].name, name) == 0) {
            *idx = i;
            found++;
        }
    }
    return found == 1 ? 0 : found == 0 ? -1 : -2;
}

/* "a, b, c" (escaped, shortened past a budget), or a note that there are none. */
static void key_list(const struct conn_schema *pkeys, char *out, size_t cap)
{
    size_t npcols = pkeys ? pkeys->npcols : 0, o = 0;
    if (npcols == 0) {
        snprintf(out, cap, "the table has no partition keys");
        return;
    }
    o = (size_t)snprintf(out, cap, "partition keys: ");
    for (size_t i = 0; i < npcols; i++) {
        char sn[SNIP_CAP];
        const char *name = pkeys->pcols[i].name ? pkeys->pcols[i].name : "";
        snip(sn, name, strlen(name));
        if (o + strlen(sn) + 8 >= cap) {
            snprintf(out + o, cap - o, "...");
            return;
        }
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "", sn);
    }
}

/* Resolves every comparison's column to a key index (kidx, ncmps entries; may be NULL). */
static int check_keys(const struct pfilter *f, const struct conn_schema *pkeys, size_t *kidx,
                      struct mms_err *err)
{
    for (size_t i = 0; i < f->ncmps; i++) {
        const struct pf_node *c = f->cmps[i];
        char sn[SNIP_CAP], keys[200];
        size_t k = 0;
        int r = key_find(pkeys, c->col, &k);
        if (r < 0) {
            snip(sn, c->col, strlen(c->col));
            key_list(pkeys, keys, sizeof keys);
            if (r == -2)
                return fail_at(err, f->expr, c->col_off,
                               "column %s matches several partition keys when case is ignored; "
                               "write it exactly (%s)",
                               sn, keys);
            return fail_at(err, f->expr, c->col_off, "column %s is not a partition key (%s)", sn,
                           keys);
        }
        const struct mms_type *type = &pkeys->pcols[k].type;
        for (size_t j = 0; j < c->nvals; j++) {
            if (c->vals[j].is_num && !is_int_type(type->id)) {
                char tname[64];
                snip(sn, c->col, strlen(c->col));
                mms_type_format(type, tname, sizeof tname);
                return fail_at(err, f->expr, c->vals[j].off,
                               "column %s is not an integer partition key (its type is %s): "
                               "numbers compare only with integer keys; quote the value: "
                               "'%" PRId64 "'",
                               sn, tname, c->vals[j].num);
            }
        }
        if (kidx)
            kidx[i] = k;
    }
    return 0;
}

int pfilter_check(const struct pfilter *f, const struct conn_schema *pkeys, struct mms_err *err)
{
    return check_keys(f, pkeys, NULL, err);
}

/* ---- Partition specs -------------------------------------------------------------------- */

struct spec_kv {
    const char *k, *v;
    size_t kn, vn;
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Hive's unescapePathName, in place: "%" and two hex digits is that byte; any other "%" stays.
 * Returns the new length (never longer). */
static size_t pct_decode(char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (p[i] == '%' && i + 2 < n && (hi = hexval(p[i + 1])) >= 0 &&
            (lo = hexval(p[i + 2])) >= 0) {
            p[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            p[o++] = p[i];
        }
    }
    return o;
}

static bool mem_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && memcmp(a, b, an) == 0;
}

static bool mem_eq_nocase(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

/* Splits and decodes spec into *kv (pointing into *copy, which the caller frees). */
static int spec_parse(const char *spec, char **copy_out, struct spec_kv **kv_out, size_t *n_out,
                      struct mms_err *err)
{
    size_t len = strlen(spec), cap = 1, n = 0, i = 0;
    char *copy = xstrndup(spec, len);
    struct spec_kv *kv = NULL;
    char sn[SNIP_CAP], sn2[SNIP_CAP];
    int rc = -1;

    for (size_t j = 0; j < len; j++)
        cap += spec[j] == '/';
    kv = xcalloc(cap, sizeof *kv);
    while (i <= len) {
        size_t j = i;
        while (j < len && copy[j] != '/')
            j++;
        if (j > i) {
            char *key = copy + i, *eq = memchr(key, '=', j - i);
            if (!eq || eq == key) {
                snip(sn, spec, len);
                snip(sn2, spec + i, j - i);
                MMS_ERR_INTERNAL(err, "malformed partition spec '%s': '%s' is not key=value", sn,
                                 sn2);
                goto out;
            }
            struct spec_kv *e = &kv[n];
            e->k = key;
            e->kn = pct_decode(key, (size_t)(eq - key));
            e->v = eq + 1;
            e->vn = pct_decode(eq + 1, (size_t)(copy + j - (eq + 1)));
            for (size_t d = 0; d < n; d++) {
                if (mem_eq(kv[d].k, kv[d].kn, e->k, e->kn)) {
                    snip(sn, spec, len);
                    snip(sn2, e->k, e->kn);
                    MMS_ERR_INTERNAL(err, "malformed partition spec '%s': key %s appears twice",
                                     sn, sn2);
                    goto out;
                }
            }
            n++;
        }
        i = j + 1;
    }
    *copy_out = copy;
    *kv_out = kv;
    *n_out = n;
    copy = NULL;
    kv = NULL;
    rc = 0;
out:
    free(copy);
    free(kv);
    return rc;
}

/* ---- Evaluation ------------------------------------------------------------------------- */

enum int_class { INT_NONE, INT_BELOW, INT_OK, INT_ABOVE };

/* A partition value read as a decimal integer of any magnitude: BELOW / ABOVE when it lies
 * outside int64 (so it still orders correctly against every literal). */
static enum int_class int_parse(const char *v, size_t n, int64_t *iv)
{
    size_t i = 0;
    bool neg = false, big = false;
    uint64_t mag = 0;
    if (i < n && (v[i] == '+' || v[i] == '-'))
        neg = v[i++] == '-';
    if (i == n)
        return INT_NONE;
    for (; i < n; i++) {
        if (!is_digit(v[i]))
            return INT_NONE;
        unsigned d = (unsigned)(v[i] - '0');
        if (big || mag > (UINT64_MAX - d) / 10)
            big = true;
        else
            mag = mag * 10 + d;
    }
    if (neg) {
        if (big || mag > (uint64_t)INT64_MAX + 1u)
            return INT_BELOW;
        *iv = mag == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)mag;
    } else {
        if (big || mag > (uint64_t)INT64_MAX)
            return INT_ABOVE;
        *iv = (int64_t)mag;
    }
    return INT_OK;
}

/* *c = sign of (partition value - literal); false when they do not compare (a number literal
 * against a value that is not an integer). */
static bool value_cmp(const struct pf_value *lit, const char *v, size_t vn, int *c)
{
    if (lit->is_num) {
        int64_t iv = 0;
        switch (int_parse(v, vn, &iv)) {
        case INT_NONE:
            return false;
        case INT_BELOW:
            *c = -1;
            return true;
        case INT_ABOVE:
            *c = 1;
            return true;
        case INT_OK:
            *c = (iv > lit->num) - (iv < lit->num);
            return true;
        }
        return false;
    }
    size_t m = vn < lit->n ? vn : lit->n;
    int r = m ? memcmp(v, lit->s, m) : 0;
    if (r == 0)
        r = (vn > lit->n) - (vn < lit->n);
    *c = (r > 0) - (r < 0);
    return true;
}

static bool cmp_holds(const struct pf_node *n, const struct spec_kv *b)
{
    int c = 0;
    if (n->op == PF_IN) {
        for (size_t i = 0; i < n->nvals; i++)
            if (value_cmp(&n->vals[i], b->v, b->vn, &c) && c == 0)
                return true;
        return false;
    }
    if (!value_cmp(&n->vals[0], b->v, b->vn, &c))
        return false;
    switch (n->op) {
    case PF_EQ:
        return c == 0;
    case PF_NE:
        return c != 0;
    case PF_LT:
        return c < 0;
    case PF_LE:
        return c <= 0;
    case PF_GT:
        return c > 0;
    case PF_GE:
        return c >= 0;
    case PF_IN:
        break;
    }
    return false;
}

static bool eval(const struct pf_node *n, const struct spec_kv *const *bind)
{
    switch (n->kind) {
    case PF_AND:
        for (size_t i = 0; i < n->nkids; i++)
            if (!eval(n->kids[i], bind))
                return false;
        return true;
    case PF_OR:
        for (size_t i = 0; i < n->nkids; i++)
            if (eval(n->kids[i], bind))
                return true;
        return false;
    case PF_CMP:
        return cmp_holds(n, bind[n->idx]);
    }
    return false;
}

int pfilter_match(const struct pfilter *f, const char *spec, const struct conn_schema *pkeys,
                  bool *out, struct mms_err *err)
{
    size_t *kidx = NULL, nkv = 0;
    char *copy = NULL;
    struct spec_kv *kv = NULL;
    const struct spec_kv **bind = NULL;
    int rc = -1;

    *out = false;
    kidx = xcalloc(f->ncmps, sizeof *kidx);
    if (check_keys(f, pkeys, kidx, err) < 0)
        goto out;
    if (!spec) {
        MMS_ERR_INTERNAL(err, "no partition spec to match the partition filter against");
        goto out;
    }
    if (spec_parse(spec, &copy, &kv, &nkv, err) < 0)
        goto out;
    bind = xcalloc(f->ncmps, sizeof *bind);
    for (size_t i = 0; i < f->ncmps; i++) {
        const char *name = pkeys->pcols[kidx[i]].name;
        size_t nn = strlen(name);
        for (size_t j = 0; j < nkv && !bind[i]; j++)
            if (mem_eq(kv[j].k, kv[j].kn, name, nn))
                bind[i] = &kv[j];
        for (size_t j = 0; j < nkv && !bind[i]; j++)
            if (mem_eq_nocase(kv[j].k, kv[j].kn, name, nn))
                bind[i] = &kv[j];
        if (!bind[i]) {
            char sn[SNIP_CAP], sn2[SNIP_CAP];
            snip(sn, spec, strlen(spec));
            snip(sn2, name, nn);
            fail_at(err, f->expr, f->cmps[i]->col_off,
                    "partition '%s' has no value for partition key %s", sn, sn2);
            goto out;
        }
    }
    *out = eval(f->root, bind);
    rc = 0;
out:
    free(bind);
    free(kv);
    free(copy);
    free(kidx);
    return rc;
}
