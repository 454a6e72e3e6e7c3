/* Source protection: rate limiters on rows/s and bytes/s (docs/engine.md "Source protection").
 *
 * A limiter holds two buckets, rows and bytes, each a rate in units per second (0 = no limit).
 * It is a token bucket written in its "virtual scheduling" form (GCRA): a bucket keeps the
 * theoretical arrival time `tat` at which everything admitted so far would have been paid for
 * at the rate; a reservation of n units is admitted at max(now, tat - burst) and moves tat on
 * by n / rate. Consequences, proved by tests/unit/test_limiter.c with a fake clock:
 *   - over any window of W seconds the units admitted are at most rate*W + rate*burst + the
 *     largest single reservation; with burst = LIMITER_BURST_MS and reservations of at most
 *     limiter_chunk_*() units that is within 10% of rate*W for every W >= 1 s (for any rate of
 *     at least 20 units/s: below that one unit is itself more than 5% of a second's worth);
 *   - after any idle time at most rate*burst + one reservation goes through at once: a burst
 *     is never more than one second's worth;
 *   - a caller that is always ready is admitted at the full rate (idle time is not saved up).
 *
 * Reservations commit at once and return how long the caller must wait before going on; the
 * caller (engine/task_run.c) sleeps that long in short slices, heartbeating. Thread-safe.
 *
 * Sharing: limiter_source_get() returns the one limiter of a data source in this process
 * (keyed by source id, reference counted), so every task of the source draws on the same
 * buckets; a task's own limits (job others.rowsPerSecond / bytesPerSecond) are a private
 * limiter_new(). A batch must pass both (the minimum of the two rates applies). */
#ifndef MMS_LIMITER_H
#define MMS_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

/* Burst tolerance: this many milliseconds' worth of units may go through early. */
#define LIMITER_BURST_MS 40
/* A reservation should be at most 1/LIMITER_CHUNK_DIV of a second's worth (see above). */
#define LIMITER_CHUNK_DIV 20

/* A monotonic clock in nanoseconds; tests inject a fake one. */
struct limiter_clock {
    int64_t (*now_ns)(void *ctx);
    void *ctx;
};

struct limiter;

/* A private limiter (caller frees with limiter_free). clock NULL = CLOCK_MONOTONIC; a given
 * clock is borrowed and must outlive the limiter. Rates < 0 are treated as 0 (no limit). */
struct limiter *limiter_new(int64_t rows_per_s, int64_t bytes_per_s,
                            const struct limiter_clock *clock);
void limiter_free(struct limiter *l);
/* Changes the rates (a data source's config may change between tasks). Already reserved
 * time is kept. */
void limiter_set_rates(struct limiter *l, int64_t rows_per_s, int64_t bytes_per_s);
/* True when at least one of the two rates is set. NULL is allowed (false). */
bool limiter_active(const struct limiter *l);
/* Reserves rows and bytes; returns the nanoseconds to wait before using them (0 = at once).
 * A NULL or inactive limiter returns 0. */
int64_t limiter_reserve(struct limiter *l, int64_t rows, int64_t bytes);
/* The same batch through two limiters at once (a task's own and its source's; either may be
 * NULL): admitted when both allow, so the tighter rate holds. Uses a's clock. */
int64_t limiter_reserve2(struct limiter *a, struct limiter *b, int64_t rows, int64_t bytes);
/* The largest reservation that keeps the 10% bound: rate / LIMITER_CHUNK_DIV (at least 1) of
 * each bucket, 0 for an unlimited bucket. The runner sizes its batches with these. */
int64_t limiter_chunk_rows(const struct limiter *l);
int64_t limiter_chunk_bytes(const struct limiter *l);

/* The shared limiter of data source `source_id`, created on first use, with its rates set to
 * the given ones (the latest config wins). Release with limiter_source_put; the entry itself
 * lives as long as the process (so back-to-back tasks share one history). */
struct limiter *limiter_source_get(int64_t source_id, int64_t rows_per_s, int64_t bytes_per_s);
void limiter_source_put(struct limiter *l);

#endif
