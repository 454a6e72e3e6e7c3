#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* vsnprintf may cut a message inside a UTF-8 sequence; drop the incomplete tail so the message
 * stays valid UTF-8 (jansson refuses anything else in a JSON error body). */
static void utf8_trim(char *s)
{
    size_t n = strlen(s);
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (lead >= 0x80 && n - (i - 1) < need)
        s[i - 1] = '\0';
}

int mms_err_vset(struct mms_err *err, int http, const char *code, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    err->http = http;
    snprintf(err->code, sizeof err->code, "%s", code);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    if (n >= (int)sizeof err->msg)
        utf8_trim(err->msg);
    return -1;
}

int mms_err_set(struct mms_err *err, int http, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mms_err_vset(err, http, code, fmt, ap);
    va_end(ap);
    return -1;
}

void mms_err_clear(struct mms_err *err)
{
    if (!err)
        return;
    err->http = 0;
    err->code[0] = '\0';
    err->msg[0] = '\0';
}
