/* Allocation wrappers: abort on out-of-memory, overflow-checked sizes.
 * Every heap allocation in mms goes through these, so no caller checks for NULL. */
#ifndef MMS_XALLOC_H
#define MMS_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* xreallocarray(p, nmemb, size): realloc with nmemb*size checked for overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
/* xstrndup: copies at most n bytes and NUL-terminates. */
char *xstrndup(const char *s, size_t n);
/* xasprintf: printf into a new heap string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
