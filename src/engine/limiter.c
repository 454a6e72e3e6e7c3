/* Rate limiters (GCRA token buckets) and the per-data-source registry. See limiter.h. */
#include "engine/limiter.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

struct bucket {
    double rate;    /* units per second; 0 = unlimited */
    int64_t tat_ns; /* theoretical arrival time; INT64_MIN until first used */
};

struct limiter {
    pthread_mutex_t mu;
    struct bucket rows, bytes;
    struct limiter_clock clock;
    /* Registry of shared limiters (limiter_source_get), under reg_mu. */
    int64_t source_id;
    int refs;
    struct limiter *next;
};

static int64_t mono_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void bucket_set(struct bucket *b, int64_t rate)
{
    b->rate = rate > 0 ? (double)rate : 0.0;
}

struct limiter *limiter_new(int64_t rows_per_s, int64_t bytes_per_s,
                            const struct limiter_clock *clock)
{
    struct limiter *l = xcalloc(1, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    l->clock = clock ? *clock : (struct limiter_clock){.now_ns = mono_ns};
    l->rows.tat_ns = l->bytes.tat_ns = INT64_MIN;
    bucket_set(&l->rows, rows_per_s);
    bucket_set(&l->bytes, bytes_per_s);
    l->refs = 1;
    return l;
}

void limiter_free(struct limiter *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void limiter_set_rates(struct limiter *l, int64_t rows_per_s, int64_t bytes_per_s)
{
    pthread_mutex_lock(&l->mu);
    bucket_set(&l->rows, rows_per_s);
    bucket_set(&l->bytes, bytes_per_s);
    pthread_mutex_unlock(&l->mu);
}

bool limiter_active(const struct limiter *l)
{
    if (!l)
        return false;
    pthread_mutex_lock((pthread_mutex_t *)&l->mu);
    bool on = l->rows.rate > 0 || l->bytes.rate > 0;
    pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
    return on;
}

/* Reserves n[i] units in each bucket b[i] at `now`, all admitted together: the admission time
 * is the latest any bucket allows, and every bucket is then charged from that time (a bucket
 * whose own turn came earlier loses the difference: nothing is saved up while a batch waits
 * for another bucket). Returns the wait. */
static int64_t reserve_all(struct bucket **b, const int64_t *n, size_t k, int64_t now)
{
    const int64_t tau = (int64_t)LIMITER_BURST_MS * 1000000;
    int64_t at = now;
    for (size_t i = 0; i < k; i++) {
        if (b[i]->rate <= 0 || n[i] <= 0)
            continue;
        int64_t tat = b[i]->tat_ns > now ? b[i]->tat_ns : now;
        if (tat - tau > at)
            at = tat - tau;
    }
    for (size_t i = 0; i < k; i++) {
        if (b[i]->rate <= 0 || n[i] <= 0)
            continue;
        double cost = (double)n[i] * 1e9 / b[i]->rate;
        if (cost > 4e18) /* absurd sizes: keep tat finite */
            cost = 4e18;
        int64_t tat = b[i]->tat_ns > at ? b[i]->tat_ns : at;
        b[i]->tat_ns = tat + (int64_t)(cost + 0.5);
    }
    return at - now;
}

int64_t limiter_reserve(struct limiter *l, int64_t rows, int64_t bytes)
{
    return limiter_reserve2(l, NULL, rows, bytes);
}

int64_t limiter_reserve2(struct limiter *a, struct limiter *b, int64_t rows, int64_t bytes)
{
    if (!a || a == b) {
        a = b;
        b = NULL;
    }
    if (!a)
        return 0;
    /* A fixed lock order (by address) whoever calls. */
    struct limiter *first = b && (uintptr_t)b < (uintptr_t)a ? b : a;
    struct limiter *second = first == a ? b : a;
    pthread_mutex_lock(&first->mu);
    if (second)
        pthread_mutex_lock(&second->mu);
    struct bucket *bs[4] = {&a->rows, &a->bytes, b ? &b->rows : NULL, b ? &b->bytes : NULL};
    const int64_t ns[4] = {rows, bytes, rows, bytes};
    int64_t now = a->clock.now_ns(a->clock.ctx);
    int64_t wait = reserve_all(bs, ns, b ? 4 : 2, now);
    if (second)
        pthread_mutex_unlock(&second->mu);
    pthread_mutex_unlock(&first->mu);
    return wait;
}

static int64_t chunk(const struct limiter *l, const struct bucket *b)
{
    pthread_mutex_lock((pthread_mutex_t *)&l->mu);
    double rate = b->rate;
    pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
    if (rate <= 0)
        return 0;
    int64_t c = (int64_t)(rate / LIMITER_CHUNK_DIV);
    return c < 1 ? 1 : c;
}

int64_t limiter_chunk_rows(const struct limiter *l)
{
    return l ? chunk(l, &l->rows) : 0;
}

int64_t limiter_chunk_bytes(const struct limiter *l)
{
    return l ? chunk(l, &l->bytes) : 0;
}

/* ---- per-data-source registry ---------------------------------------------------------- */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct limiter *reg_head;

struct limiter *limiter_source_get(int64_t source_id, int64_t rows_per_s, int64_t bytes_per_s)
{
    pthread_mutex_lock(&reg_mu);
    struct limiter *l = reg_head;
    while (l && l->source_id != source_id)
        l = l->next;
    if (l) {
        l->refs++;
        limiter_set_rates(l, rows_per_s, bytes_per_s);
    } else {
        l = limiter_new(rows_per_s, bytes_per_s, NULL);
        l->source_id = source_id;
        l->next = reg_head;
        reg_head = l;
    }
    pthread_mutex_unlock(&reg_mu);
    return l;
}

void limiter_source_put(struct limiter *l)
{
    if (!l)
        return;
    /* The entry stays when the last task of the source is gone: a task starting right after
     * must still pay for what the previous one reserved (one small struct per source). */
    pthread_mutex_lock(&reg_mu);
    l->refs--;
    pthread_mutex_unlock(&reg_mu);
}
