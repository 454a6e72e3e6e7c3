/* Row batches. The value array is allocated once for max_rows at init; only the arena grows.
 * "Bytes" for the cap are the values of the rows added so far plus the arena length, so a batch
 * of narrow rows is cut by max_rows and a batch of wide text by max_bytes. */
#include "conn/rowbatch.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reserved up front so the arena pointer is never NULL: a zero-length value then still points
 * at real memory (NULL + 0 is undefined in C, and SQLite binds a NULL pointer as SQL NULL). */
#define ARENA_INITIAL 4096

/* Contract violations by the caller are bugs, not runtime errors: stop loudly. */
static void die(const char *what)
{
    fprintf(stderr, "mms: rowbatch: %s\n", what);
    abort();
}

void rowbatch_init(struct rowbatch *b, size_t ncols, size_t max_rows, size_t max_bytes)
{
    b->ncols = ncols;
    b->nrows = 0;
    b->max_rows = max_rows ? max_rows : 1;
    b->max_bytes = max_bytes;
    if (ncols && b->max_rows > SIZE_MAX / ncols)
        die("max_rows * ncols overflows");
    /* calloc checks the multiplication by sizeof itself. */
    b->vals = xcalloc(b->max_rows * ncols, sizeof(struct val));
    buf_init(&b->arena, BUF_NO_LIMIT);
    buf_reserve(&b->arena, ARENA_INITIAL);
}

void rowbatch_release(struct rowbatch *b)
{
    free(b->vals);
    b->vals = NULL;
    buf_release(&b->arena);
    b->nrows = 0;
}

void rowbatch_clear(struct rowbatch *b)
{
    b->nrows = 0;
    /* One huge cell grows the arena past the cap; give that memory back so a long stream's
     * footprint stays bounded by the caps, not by its largest value. */
    if (b->arena.cap / 2 > b->max_bytes && b->arena.cap > 2 * ARENA_INITIAL) {
        buf_release(&b->arena);
        buf_reserve(&b->arena, ARENA_INITIAL);
    }
    buf_clear(&b->arena);
}

size_t rowbatch_bytes_used(const struct rowbatch *b)
{
    return b->nrows * b->ncols * sizeof(struct val) + b->arena.len;
}

int rowbatch_full(const struct rowbatch *b)
{
    return b->nrows >= b->max_rows || rowbatch_bytes_used(b) >= b->max_bytes;
}

struct val *rowbatch_add_row(struct rowbatch *b)
{
    if (b->nrows >= b->max_rows)
        die("row added to a full batch");
    struct val *row = rowbatch_row(b, b->nrows);
    /* VAL_NULL is 0, so zeroing makes every value NULL. */
    memset(row, 0, b->ncols * sizeof *row);
    b->nrows++;
    return row;
}

void rowbatch_set_int(struct val *v, int64_t i)
{
    v->kind = VAL_INT;
    v->len = 0;
    v->v.i = i;
}

void rowbatch_set_uint(struct val *v, uint64_t u)
{
    v->kind = VAL_UINT;
    v->len = 0;
    v->v.u = u;
}

void rowbatch_set_double(struct val *v, double d)
{
    v->kind = VAL_DOUBLE;
    v->len = 0;
    v->v.d = d;
}

void rowbatch_set_bytes(struct rowbatch *b, struct val *v, enum val_kind kind, const void *p,
                        size_t n)
{
    if (kind != VAL_TEXT && kind != VAL_BLOB)
        die("rowbatch_set_bytes with a kind that is not text or blob");
    /* val.len is 32 bits; readers refuse larger cells before they get here (SQLite's own
     * limit is below 2^31). */
    if (n > UINT32_MAX)
        die("value longer than 4 GiB");
    v->kind = kind;
    v->len = (uint32_t)n;
    v->v.off = b->arena.len;
    if (buf_add(&b->arena, p, n) < 0)
        die("arena overflow");
}
