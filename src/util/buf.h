/* One growable byte buffer with a hard cap (curl's dynbuf idea).
 * The content is always NUL-terminated so it can be used as a C string when it is text.
 * A buffer is embedded: buf_init / buf_release; buf_clear resets the length for reuse. */
#ifndef MMS_BUF_H
#define MMS_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *p;     /* NUL-terminated content, or NULL before the first append */
    size_t len;  /* bytes used, not counting the NUL */
    size_t cap;  /* bytes allocated */
    size_t max;  /* hard cap on len; appends past it fail with -1 and change nothing */
};

#define BUF_NO_LIMIT ((size_t)-1)

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_clear(struct buf *b);
/* Appends; return 0, or -1 if the cap would be exceeded (the buffer is unchanged). */
int buf_add(struct buf *b, const void *p, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Makes room for n more bytes without changing len; -1 past the cap. */
int buf_reserve(struct buf *b, size_t n);
/* Takes the content out (caller frees); the buffer is left empty. Never NULL. */
char *buf_detach(struct buf *b, size_t *len);
/* Returns the content as a string: "" when empty. Borrowed. */
const char *buf_str(const struct buf *b);

#endif
