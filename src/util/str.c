/* Byte-string helpers that are not worth inlining (str.h). */
#include "util/str.h"

#include <stdio.h>

void str_show(char *out, size_t n, const char *s, size_t len, size_t max)
{
    size_t o = 0, lim = len;
    if (n == 0)
        return;
    if (lim > max) {
        lim = max;
        /* back to the first byte of the character that would be cut */
        while (lim > 0 && ((unsigned char)s[lim] & 0xC0) == 0x80)
            lim--;
    }
    for (size_t i = 0; i < lim && o + 5 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    if (lim < len && o + 4 <= n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}
