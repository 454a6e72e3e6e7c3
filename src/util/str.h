/* A non-owning slice of bytes: for parsed paths, params and headers. Never NUL-terminated
 * by contract; use str_eq/str_dup to compare or copy. */
#ifndef MMS_STR_H
#define MMS_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct str {
    const char *p;
    size_t n;
};

static inline struct str str_from(const char *s)
{
    struct str r = {s, s ? strlen(s) : 0};
    return r;
}

static inline bool str_eq(struct str a, const char *b)
{
    size_t n = strlen(b);
    return a.n == n && memcmp(a.p, b, n) == 0;
}

/* An untrusted value quoted back in a message: at most max bytes of s (len bytes), cut on a
 * UTF-8 character boundary, control bytes (NUL included) as \xNN, "..." when cut; written to
 * out (n bytes, always NUL-terminated when n > 0, shortened to fit). */
void str_show(char *out, size_t n, const char *s, size_t len, size_t max);

#endif
