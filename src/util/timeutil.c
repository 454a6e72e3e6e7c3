#include "util/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int display_offset;

void time_set_offset(int seconds)
{
    display_offset = seconds;
}

/* Not time(NULL): glibc reads the coarse clock there, which can lag CLOCK_REALTIME by a tick,
 * so a start time taken from time_now_ms() could come after an end time taken a moment later. */
int64_t time_now(void)
{
    return time_now_ms() / 1000;
}

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void time_format(int64_t t, char out[20])
{
    time_t tt = (time_t)(t + display_offset);
    struct tm tm;
    gmtime_r(&tt, &tm);
    char tmp[64]; /* room for any int fields; the clamped year keeps the result 19 chars */
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02d %02d:%02d:%02d", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(out, tmp, 19);
    out[19] = '\0';
}

int time_parse(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int n = 0;
    size_t len = strlen(s);
    if (len == 19) {
        if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 || n != 19)
            return -1;
    } else if (len == 10) {
        if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3 || n != 10)
            return -1;
    } else {
        return -1;
    }
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1 || tm.tm_hour < 0 || tm.tm_min < 0 ||
        tm.tm_sec < 0)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (int64_t)timegm(&tm) - display_offset;
    return 0;
}
