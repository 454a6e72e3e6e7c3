#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int mms_err_set(struct mms_err *err, int http, const char *code, const char *fmt, ...)
{
    if (!err)
        return -1;
    err->http = http;
    snprintf(err->code, sizeof err->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
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
