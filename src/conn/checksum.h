/* The order-independent row checksum used by verification (`others.verify = "checksum"`).
 *
 * Canonical row encoding (defined once, so every connector pair agrees on the same logical
 * rows): for each column in schema order, one tag byte then the payload:
 *   'N'                              NULL
 *   'I' + 8 bytes little-endian      VAL_INT (and booleans)
 *   'U' + 8 bytes little-endian      VAL_UINT
 *   'D' + 8 bytes IEEE-754 LE        VAL_DOUBLE (-0.0 and NaN payloads kept as stored)
 *   'T' + 4-byte LE length + bytes   VAL_TEXT
 *   'B' + 4-byte LE length + bytes   VAL_BLOB
 * Each row's encoding is hashed to 128 bits and the hashes are added with wrap-around; the sum
 * and the row count are the checksum. Addition (unlike XOR) keeps duplicate rows visible. */
#ifndef MMS_CHECKSUM_H
#define MMS_CHECKSUM_H

#include "conn/conn.h"
#include "conn/rowbatch.h"

void checksum_init(struct conn_checksum *c);
/* Adds every row of the batch. */
void checksum_add_batch(struct conn_checksum *c, const struct rowbatch *b);
/* "rows=N sum=<32 hex digits>" into out (at least 64 bytes). */
void checksum_format(const struct conn_checksum *c, char *out, size_t n);
/* Reads the whole stream and checksums it (closes nothing: the caller owns the reader). */
int checksum_read(const struct conn_ops *ops, struct conn_reader *r, struct rowbatch *b,
                  struct conn_checksum *out, struct mms_err *err);

#endif
