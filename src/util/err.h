/* Errors are return values: functions return 0 or a negative number and write the detail
 * here. The API layer turns it into the JSON error body {requestId, code, message, httpCode}.
 * `code` is a stable machine-readable string (see docs/errors.md); `http` its HTTP status. */
#ifndef MMS_ERR_H
#define MMS_ERR_H

#include <stdarg.h>

struct mms_err {
    int http;          /* 400, 404, 409, 413, 500, ... (0 = no error recorded) */
    char code[64];     /* e.g. "InvalidParameter.SourceId" */
    char msg[512];     /* human message, safe to show to the caller */
};

/* Records an error and returns -1, so callers can write `return mms_err_set(...)`.
 * A NULL err is allowed (the detail is dropped). */
int mms_err_set(struct mms_err *err, int http, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int mms_err_vset(struct mms_err *err, int http, const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
void mms_err_clear(struct mms_err *err);

/* Shorthands for the common classes. */
#define MMS_ERR_INTERNAL(err, ...) mms_err_set((err), 500, "InternalError", __VA_ARGS__)

#endif
