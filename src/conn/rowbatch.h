/* A batch of rows moving from a reader to a writer, bounded in rows and in bytes.
 * Variable-length bytes (text, blobs) live in one arena; values point into it by offset.
 * The engine reuses one batch per stream (rowbatch_clear), so a stream's memory is bounded by
 * the caps whatever the table size. A single value larger than the byte cap is still accepted
 * (a batch always takes at least one row), so one huge cell cannot wedge a stream. */
#ifndef MMS_ROWBATCH_H
#define MMS_ROWBATCH_H

#include <stddef.h>
#include <stdint.h>

#include "conn/types.h"
#include "util/buf.h"

struct val {
    enum val_kind kind;
    uint32_t len;      /* VAL_TEXT / VAL_BLOB length in bytes */
    union {
        int64_t i;     /* VAL_INT */
        uint64_t u;    /* VAL_UINT */
        double d;      /* VAL_DOUBLE */
        size_t off;    /* VAL_TEXT / VAL_BLOB: offset into the arena */
    } v;
};

struct rowbatch {
    size_t ncols;
    size_t nrows;
    size_t max_rows;
    size_t max_bytes;
    struct val *vals;  /* max_rows * ncols, row-major */
    struct buf arena;  /* bytes of text/blob values */
};

void rowbatch_init(struct rowbatch *b, size_t ncols, size_t max_rows, size_t max_bytes);
void rowbatch_release(struct rowbatch *b);
void rowbatch_clear(struct rowbatch *b);
/* True when no further row should be added (row cap reached, or bytes at/over the cap). */
int rowbatch_full(const struct rowbatch *b);
/* Starts a new row and returns its values (all VAL_NULL), to be filled with the setters.
 * Callers check rowbatch_full() before adding. */
struct val *rowbatch_add_row(struct rowbatch *b);
void rowbatch_set_int(struct val *v, int64_t i);
void rowbatch_set_uint(struct val *v, uint64_t u);
void rowbatch_set_double(struct val *v, double d);
/* Copies n bytes into the arena. kind is VAL_TEXT or VAL_BLOB. */
void rowbatch_set_bytes(struct rowbatch *b, struct val *v, enum val_kind kind, const void *p,
                        size_t n);
static inline struct val *rowbatch_row(const struct rowbatch *b, size_t r)
{
    return &b->vals[r * b->ncols];
}
/* Pointer to a text/blob value's bytes (not NUL-terminated for blobs; text is not either). */
static inline const char *rowbatch_bytes(const struct rowbatch *b, const struct val *v)
{
    return b->arena.p + v->v.off;
}
/* Bytes held by the batch (values + arena), for RSS accounting and progress. */
size_t rowbatch_bytes_used(const struct rowbatch *b);

#endif
