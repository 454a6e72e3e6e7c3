/* Rate limiters (src/engine/limiter.c), driven by a fake clock: property tests over counts,
 * never over the machine's speed. For many random runs (batch sizes up to limiter_chunk_*,
 * random work and idle times between batches, one or several tasks sharing a bucket) every
 * window of >= 1 s admits at most 10% more than the limit, no instant admits more than one
 * second's worth, and a consumer that is always ready gets at least 90% of the limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn/configitems.h"
#include "engine/limiter.h"

#define NS 1000000000LL

struct fake_clock {
    int64_t now;
};

static int64_t fake_now(void *ctx)
{
    return ((struct fake_clock *)ctx)->now;
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static int64_t rng_range(uint64_t *s, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* Admissions, in time order. */
struct trace {
    int64_t *t;
    int64_t *rows, *bytes;
    size_t n, cap;
};

static void trace_add(struct trace *tr, int64_t t, int64_t rows, int64_t bytes)
{
    if (tr->n == tr->cap) {
        tr->cap = tr->cap ? tr->cap * 2 : 1024;
        tr->t = realloc(tr->t, tr->cap * sizeof *tr->t);
        tr->rows = realloc(tr->rows, tr->cap * sizeof *tr->rows);
        tr->bytes = realloc(tr->bytes, tr->cap * sizeof *tr->bytes);
        assert_non_null(tr->t);
        assert_non_null(tr->rows);
        assert_non_null(tr->bytes);
    }
    tr->t[tr->n] = t;
    tr->rows[tr->n] = rows;
    tr->bytes[tr->n] = bytes;
    tr->n++;
}

/* Sorts by time (several consumers are admitted out of call order). */
static void trace_sort(struct trace *tr)
{
    for (size_t i = 1; i < tr->n; i++) { /* insertion sort: nearly sorted already */
        int64_t t = tr->t[i], r = tr->rows[i], b = tr->bytes[i];
        size_t j = i;
        for (; j > 0 && tr->t[j - 1] > t; j--) {
            tr->t[j] = tr->t[j - 1];
            tr->rows[j] = tr->rows[j - 1];
            tr->bytes[j] = tr->bytes[j - 1];
        }
        tr->t[j] = t;
        tr->rows[j] = r;
        tr->bytes[j] = b;
    }
}

static void trace_free(struct trace *tr)
{
    free(tr->t);
    free(tr->rows);
    free(tr->bytes);
    memset(tr, 0, sizeof *tr);
}

/* The most units admitted in any closed window [a, a + w_ns] (it is enough to start windows at
 * admissions). */
static int64_t max_in_window(const struct trace *tr, const int64_t *units, int64_t w_ns)
{
    int64_t best = 0, sum = 0;
    size_t j = 0;
    for (size_t i = 0; i < tr->n; i++) {
        while (j < tr->n && tr->t[j] <= tr->t[i] + w_ns)
            sum += units[j++];
        if (sum > best)
            best = sum;
        sum -= units[i];
    }
    return best;
}

/* Every window of w >= 1 s: at most 110% of rate * w. */
static void check_windows(const struct trace *tr, const int64_t *units, int64_t rate)
{
    static const int64_t windows_ms[] = {1000, 1100, 1500, 2000, 3333, 5000, 10000, 30000};
    for (size_t k = 0; k < sizeof windows_ms / sizeof windows_ms[0]; k++) {
        int64_t w = windows_ms[k] * 1000000;
        int64_t most = max_in_window(tr, units, w);
        double limit = (double)rate * (double)windows_ms[k] / 1000.0;
        if ((double)most > 1.10 * limit)
            fail_msg("window %lld ms: %lld units admitted, limit %.0f (+10%% = %.0f)",
                     (long long)windows_ms[k], (long long)most, limit, 1.1 * limit);
    }
    /* A burst (everything at one instant) is never more than one second's worth. */
    int64_t burst = max_in_window(tr, units, 0);
    assert_true(burst <= rate);
}

/* One run: `tasks` consumers share limiter l (fake clock c); each batch is a random size up
 * to the chunk; between batches a consumer works for a random time, sometimes idles for
 * seconds. A consumer is modelled by the time it is next ready. */
static void run_shared(uint64_t seed, int64_t rows_rate, int64_t bytes_rate, int tasks, bool idle,
                       int batches, struct trace *tr)
{
    struct fake_clock c = {.now = 1000 * NS};
    struct limiter_clock clk = {.now_ns = fake_now, .ctx = &c};
    struct limiter *l = limiter_new(rows_rate, bytes_rate, &clk);
    int64_t ready[8];
    uint64_t s = seed;
    int64_t cr = limiter_chunk_rows(l), cb = limiter_chunk_bytes(l);
    assert_true(tasks <= 8);
    for (int k = 0; k < tasks; k++)
        ready[k] = c.now + rng_range(&s, 0, NS / 10);
    for (int i = 0; i < batches; i++) {
        /* The consumer that is ready first goes next (time never runs backwards). */
        int k = 0;
        for (int m = 1; m < tasks; m++)
            if (ready[m] < ready[k])
                k = m;
        if (ready[k] > c.now)
            c.now = ready[k];
        int64_t rows = cr ? rng_range(&s, 1, cr) : rng_range(&s, 1, 100000);
        int64_t bytes = cb ? rng_range(&s, 1, cb) : rows * rng_range(&s, 8, 400);
        int64_t wait = limiter_reserve(l, rows, bytes);
        assert_true(wait >= 0);
        int64_t admitted = c.now + wait;
        trace_add(tr, admitted, rows, bytes);
        /* Work (writing the batch) then maybe idle. */
        int64_t work = rng_range(&s, 0, NS / 200);
        if (idle && rng_range(&s, 0, 99) < 3)
            work += rng_range(&s, NS / 2, 5 * NS);
        ready[k] = admitted + work;
        /* The clock moves on to the next caller's ready time at the top of the loop: other
         * consumers call while this one sleeps, so admissions come out of call order. */
    }
    limiter_free(l);
    trace_sort(tr);
}

static void test_rows_limit_windows(void **state)
{
    (void)state;
    static const int64_t rates[] = {20, 200, 1000, 200000, 3000000};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        for (uint64_t seed = 1; seed <= 20; seed++) {
            struct trace tr = {0};
            run_shared(seed * 7919 + r, rates[r], 0, 1, seed % 2 == 0, 3000, &tr);
            check_windows(&tr, tr.rows, rates[r]);
            trace_free(&tr);
        }
    }
}

static void test_bytes_limit_windows(void **state)
{
    (void)state;
    static const int64_t rates[] = {1000, 1 << 20, 50 * 1000 * 1000};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        for (uint64_t seed = 1; seed <= 20; seed++) {
            struct trace tr = {0};
            run_shared(seed * 104729 + r, 0, rates[r], 1, seed % 3 == 0, 3000, &tr);
            check_windows(&tr, tr.bytes, rates[r]);
            trace_free(&tr);
        }
    }
}

/* Both buckets at once: each holds. */
static void test_rows_and_bytes_together(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 30; seed++) {
        struct trace tr = {0};
        run_shared(seed, 5000, 400000, 1, seed % 2 == 1, 3000, &tr);
        check_windows(&tr, tr.rows, 5000);
        check_windows(&tr, tr.bytes, 400000);
        trace_free(&tr);
    }
}

/* Several tasks of one data source draw on one bucket: the sum holds. */
static void test_shared_bucket(void **state)
{
    (void)state;
    for (int tasks = 2; tasks <= 8; tasks += 3) {
        for (uint64_t seed = 1; seed <= 15; seed++) {
            struct trace tr = {0};
            run_shared(seed * 31 + (uint64_t)tasks, 200000, 0, tasks, seed % 2 == 0, 4000, &tr);
            check_windows(&tr, tr.rows, 200000);
            trace_free(&tr);
        }
    }
}

/* Below 20 units/s one unit is more than 5% of a second's worth: the exact bound still holds,
 * rate * W + rate * burst + the largest batch. */
static void test_tiny_rates_exact_bound(void **state)
{
    (void)state;
    static const int64_t rates[] = {1, 3, 7, 19};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        for (uint64_t seed = 1; seed <= 10; seed++) {
            struct trace tr = {0};
            run_shared(seed + r * 1000, rates[r], 0, 1 + (int)(seed % 3), seed % 2 == 0, 500, &tr);
            for (int64_t w_ms = 1000; w_ms <= 20000; w_ms += 1900) {
                int64_t most = max_in_window(&tr, tr.rows, w_ms * 1000000);
                double bound = (double)rates[r] * (double)(w_ms + LIMITER_BURST_MS) / 1000.0 + 1;
                assert_true((double)most <= bound);
            }
            trace_free(&tr);
        }
    }
}

/* A consumer that is always ready is admitted at (at least 90% of) the full rate. */
static void test_full_rate_when_always_ready(void **state)
{
    (void)state;
    static const int64_t rates[] = {50, 1000, 200000};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        struct fake_clock c = {.now = 5 * NS};
        struct limiter_clock clk = {.now_ns = fake_now, .ctx = &c};
        struct limiter *l = limiter_new(rates[r], 0, &clk);
        uint64_t s = 99 + r;
        int64_t total = 0, t0 = c.now, chunk = limiter_chunk_rows(l);
        while (c.now - t0 < 20 * NS) {
            int64_t n = rng_range(&s, 1, chunk);
            c.now += limiter_reserve(l, n, 0);
            if (c.now - t0 < 20 * NS)
                total += n;
        }
        double expect = (double)rates[r] * 20.0;
        assert_true((double)total >= 0.9 * expect);
        assert_true((double)total <= 1.1 * expect);
        limiter_free(l);
    }
}

/* After a long idle time, what goes through at once is the burst tolerance plus the one
 * batch: never a second's worth saved up. */
static void test_idle_does_not_save_up(void **state)
{
    (void)state;
    struct fake_clock c = {.now = NS};
    struct limiter_clock clk = {.now_ns = fake_now, .ctx = &c};
    struct limiter *l = limiter_new(1000, 0, &clk);
    assert_int_equal(limiter_chunk_rows(l), 1000 / LIMITER_CHUNK_DIV);
    assert_int_equal(limiter_reserve(l, 50, 0), 0);
    c.now += 3600 * NS; /* an hour idle */
    int64_t at_once = 0;
    while (limiter_reserve(l, 10, 0) == 0)
        at_once += 10;
    /* 40 ms worth at 1000/s = 40 rows, + the batch that opened the window. */
    assert_true(at_once <= 1000 * LIMITER_BURST_MS / 1000 + 10);
    assert_true(at_once < 1000);
    limiter_free(l);
}

/* A batch bigger than a second's worth (one huge row) is admitted and paid for afterwards. */
static void test_oversized_reservation_is_paid_back(void **state)
{
    (void)state;
    struct fake_clock c = {.now = NS};
    struct limiter_clock clk = {.now_ns = fake_now, .ctx = &c};
    struct limiter *l = limiter_new(0, 1000, &clk);
    assert_int_equal(limiter_reserve(l, 1, 5000), 0); /* 5 s worth */
    int64_t w = limiter_reserve(l, 1, 10);
    assert_true(w >= 5 * NS - LIMITER_BURST_MS * 1000000LL - 1000);
    assert_true(w <= 5 * NS);
    limiter_free(l);
}

static void test_unlimited_and_rate_change(void **state)
{
    (void)state;
    struct fake_clock c = {.now = NS};
    struct limiter_clock clk = {.now_ns = fake_now, .ctx = &c};
    struct limiter *l = limiter_new(0, -5, &clk);
    assert_false(limiter_active(l));
    assert_false(limiter_active(NULL));
    assert_int_equal(limiter_reserve(NULL, 100, 100), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(limiter_reserve(l, 1000000, 1000000000), 0);
    assert_int_equal(limiter_chunk_rows(l), 0);
    assert_int_equal(limiter_chunk_bytes(l), 0);
    limiter_set_rates(l, 10, 0);
    assert_true(limiter_active(l));
    assert_int_equal(limiter_chunk_rows(l), 1);
    assert_int_equal(limiter_reserve(l, 10, 0), 0);
    assert_true(limiter_reserve(l, 10, 0) > NS / 2);
    limiter_free(l);
}

/* The source's limiter is one per source id, its rates the latest given. */
static void test_source_registry(void **state)
{
    (void)state;
    struct limiter *a = limiter_source_get(424242, 100, 0);
    struct limiter *b = limiter_source_get(424242, 300, 0);
    struct limiter *c = limiter_source_get(424243, 0, 0);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_int_equal(limiter_chunk_rows(a), 300 / LIMITER_CHUNK_DIV);
    assert_false(limiter_active(c));
    limiter_source_put(a);
    limiter_source_put(b);
    limiter_source_put(c);
    /* Still the same history for the next task of the source. */
    struct limiter *d = limiter_source_get(424242, 300, 0);
    assert_ptr_equal(a, d);
    limiter_source_put(d);
}

/* The runner's composition: a task's own limit and its source's shared limit, reserved
 * together: the tighter of the two holds. */
static void test_task_and_source_limits(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        struct fake_clock c = {.now = NS};
        struct limiter_clock clk = {.now_ns = fake_now, .ctx = &c};
        int64_t task_rate = seed % 2 ? 3000 : 20000, src_rate = 8000;
        int64_t lowest = task_rate < src_rate ? task_rate : src_rate;
        struct limiter *task = limiter_new(task_rate, 0, &clk);
        struct limiter *src = limiter_new(src_rate, 0, &clk);
        int64_t chunk = limiter_chunk_rows(task) < limiter_chunk_rows(src)
                            ? limiter_chunk_rows(task)
                            : limiter_chunk_rows(src);
        uint64_t s = seed;
        struct trace tr = {0};
        for (int i = 0; i < 3000; i++) {
            int64_t n = rng_range(&s, 1, chunk);
            c.now += limiter_reserve2(task, src, n, 0);
            trace_add(&tr, c.now, n, 0);
            c.now += rng_range(&s, 0, NS / 500);
        }
        check_windows(&tr, tr.rows, lowest);
        trace_free(&tr);
        limiter_free(task);
        limiter_free(src);
    }
}

/* The data source config items of the limits (conn/configitems.c, group "limits"). */
static void test_config_limits(void **state)
{
    (void)state;
    const struct config_item *items = configitems_find("SQLITE");
    assert_non_null(items);
    static const char base[] =
        "{\"sqlite.path\": \"/tmp/a.db\", \"dst.url\": \"sqlite:///tmp\", \"dst.project\": \"p\"";
    static const struct {
        const char *extra;
        bool ok;
    } cases[] = {
        {"", true},
        {", \"limit.rowsPerSecond\": 200000", true},
        {", \"limit.rowsPerSecond\": 0, \"limit.bytesPerSecond\": 0", true},
        {", \"limit.maxConcurrentTasks\": 2, \"limit.bytesPerSecond\": 1048576", true},
        {", \"limit.rowsPerSecond\": null", true},
        {", \"limit.rowsPerSecond\": -1", false},
        {", \"limit.rowsPerSecond\": 1.5", false},
        {", \"limit.rowsPerSecond\": \"100\"", false},
        {", \"limit.bytesPerSecond\": 1000000000000001", false},
        {", \"limit.maxConcurrentTasks\": -3", false},
        {", \"limit.maxConcurrentTasks\": 100001", false},
        {", \"limit.maxConcurrentTasks\": true", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "%s%s}", base, cases[i].extra);
        json_t *c = json_loads(text, 0, NULL);
        assert_non_null(c);
        struct mms_err err = {0};
        int rc = configitems_validate(items, c, &err);
        json_decref(c);
        if (cases[i].ok && rc != 0)
            fail_msg("rejected %s: %s", text, err.msg);
        if (!cases[i].ok) {
            if (rc == 0)
                fail_msg("accepted %s", text);
            assert_int_equal(err.http, 400);
            assert_string_equal(err.code, "InvalidParameter.Config");
            assert_non_null(strstr(err.msg, "limit."));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_limit_windows),
        cmocka_unit_test(test_bytes_limit_windows),
        cmocka_unit_test(test_rows_and_bytes_together),
        cmocka_unit_test(test_shared_bucket),
        cmocka_unit_test(test_tiny_rates_exact_bound),
        cmocka_unit_test(test_full_rate_when_always_ready),
        cmocka_unit_test(test_idle_does_not_save_up),
        cmocka_unit_test(test_oversized_reservation_is_paid_back),
        cmocka_unit_test(test_unlimited_and_rate_change),
        cmocka_unit_test(test_source_registry),
        cmocka_unit_test(test_task_and_source_limits),
        cmocka_unit_test(test_config_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
