/* Structured logging: one line per event on stderr, written with a single write(2).
 * Every line carries the context id of the calling thread (the HTTP request id, or
 * "task=<id>" / "async=<id>" in the engine), set with log_set_ctx().
 * The level is checked before any formatting (LOG_* macros).
 * Formats: text (`2026-11-28T12:00:00.123Z INFO req=... msg`) or json (one object a line).
 * Untrusted bytes are escaped: control characters never reach the log unescaped. */
#ifndef MMS_LOG_H
#define MMS_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

extern enum log_level log_min_level;

/* Returns 0, or -1 for an unknown name. Names: debug, info, warn, error. */
int log_set_level(const char *name);
/* Returns 0, or -1 for an unknown name. Names: text, json. */
int log_set_format(const char *name);
/* Sets the calling thread's context ("req=ABC", "task=12"); NULL or "" clears it. Copied. */
void log_set_ctx(const char *ctx);
const char *log_get_ctx(void);

void log_write(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_AT(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) >= log_min_level)                                                                \
            log_write((lvl), __VA_ARGS__);                                                         \
    } while (0)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_error(...) LOG_AT(LOG_ERROR, __VA_ARGS__)

#endif
