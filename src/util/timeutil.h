/* Time helpers. The store keeps times as Unix seconds (UTC); the API shows them as
 * "YYYY-MM-DD HH:mm:ss" in UTC (or the configured fixed offset), null when unset (0). */
#ifndef MMS_TIMEUTIL_H
#define MMS_TIMEUTIL_H

#include <stdint.h>

int64_t time_now(void);          /* Unix seconds */
int64_t time_now_ms(void);       /* Unix milliseconds */
int64_t time_mono_ms(void);      /* monotonic milliseconds, for durations and deadlines */
/* Formats t as "YYYY-MM-DD HH:mm:ss" with the display offset; out must hold 20 bytes. */
void time_format(int64_t t, char out[20]);
/* Parses "YYYY-MM-DD HH:mm:ss" (or "YYYY-MM-DD") in the display offset; 0 ok, -1 bad. */
int time_parse(const char *s, int64_t *out);
/* Display offset in seconds east of UTC (config `time-offset`, default 0 = UTC). */
void time_set_offset(int seconds);

#endif
