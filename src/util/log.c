#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_level log_min_level = LOG_INFO;
static int log_json;
static _Thread_local char log_ctx[96];

static const char *level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

int log_set_level(const char *name)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            log_min_level = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_set_format(const char *name)
{
    if (strcmp(name, "text") == 0)
        log_json = 0;
    else if (strcmp(name, "json") == 0)
        log_json = 1;
    else
        return -1;
    return 0;
}

void log_set_ctx(const char *ctx)
{
    snprintf(log_ctx, sizeof log_ctx, "%s", ctx ? ctx : "");
}

const char *log_get_ctx(void)
{
    return log_ctx;
}

/* Appends s to out escaping control characters, backslash and (for json) quotes. */
static size_t esc(char *out, size_t pos, size_t cap, const char *s, int json)
{
    for (; *s && pos + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\' || (json && c == '"')) {
            out[pos++] = '\\';
            out[pos++] = (char)c;
        } else if (c == '\n') {
            out[pos++] = '\\';
            out[pos++] = 'n';
        } else if (c < 0x20 || c == 0x7f) {
            pos += (size_t)snprintf(out + pos, cap - pos, json ? "\\u%04x" : "\\x%02x", c);
        } else {
            out[pos++] = (char)c;
        }
    }
    return pos;
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));

    char line[4096];
    size_t pos = 0, cap = sizeof line;
    if (log_json) {
        pos += (size_t)snprintf(line, cap, "{\"time\":\"%s\",\"level\":\"%s\",\"ctx\":\"", when,
                                level_names[lvl]);
        pos = esc(line, pos, cap, log_ctx, 1);
        pos += (size_t)snprintf(line + pos, cap - pos, "\",\"msg\":\"");
        pos = esc(line, pos, cap, msg, 1);
        pos += (size_t)snprintf(line + pos, cap - pos, "\"}\n");
    } else {
        pos += (size_t)snprintf(line, cap, "%s %-5s %s ", when, level_names[lvl],
                                log_ctx[0] ? log_ctx : "-");
        pos = esc(line, pos, cap, msg, 0);
        line[pos++] = '\n';
    }
    if (pos > cap)
        pos = cap;
    /* One write per line: lines from different threads never interleave. */
    ssize_t w = write(STDERR_FILENO, line, pos);
    (void)w;
}
