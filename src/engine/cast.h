/* Opt-in casts (docs/types.md, "Opt-in casts"): the job's others.casts names the values that
 * are changed in a documented way instead of failing the task when a destination cannot hold
 * them. The names map to enum conn_cast bits (conn/conn.h):
 *   "zeroDateToNull"      CONN_CAST_ZERO_DATE_NULL  applied by the MySQL reader
 *   "negativeZeroToZero"  CONN_CAST_NEG_ZERO        VAL_DOUBLE -0.0 becomes +0.0
 *   "nanToNull"           CONN_CAST_NAN_NULL        VAL_DOUBLE NaN, +Inf, -Inf become NULL
 *   "stripNul"            CONN_CAST_STRIP_NUL       NUL bytes removed from VAL_TEXT values
 * The last three are engine-side: cast_apply runs them on every row batch read from the source,
 * whatever the destination, when copying and when hashing the source for verification, so the
 * checksums of both sides still agree. */
#ifndef MMS_CAST_H
#define MMS_CAST_H

#include <stddef.h>

#include <jansson.h>

#include "conn/conn.h"
#include "conn/rowbatch.h"
#include "util/err.h"

/* The bits cast_apply handles. */
#define CAST_ENGINE_BITS \
    ((unsigned)(CONN_CAST_NEG_ZERO | CONN_CAST_NAN_NULL | CONN_CAST_STRIP_NUL))

/* Parses others.casts (others borrowed, may be NULL; casts absent or null = 0) into *out.
 * Not an array, an entry that is not a string, an unknown name (names are case-sensitive) or a
 * name given twice: -1 with err 400 "InvalidParameter.Casts" naming the bad entry and listing
 * the valid names; *out is then 0. */
int cast_parse(json_t *others, unsigned *out, struct mms_err *err);

/* Applies the engine-side casts of `casts` (other bits ignored) to every value of b in place
 * (b owned by the caller). NULL, integer and blob values are never touched. A NaN or infinity
 * becomes VAL_NULL; a text with NUL bytes is compacted inside its own arena bytes and its
 * length shortened (an all-NUL text becomes the empty text, not NULL). One pass, no
 * allocation. Returns how many values it changed. */
size_t cast_apply(unsigned casts, struct rowbatch *b);

/* The names of the bits set in casts, in the order above, separated by ", " ("" for none),
 * written into buf of n bytes (always NUL-terminated when n > 0; cut if too small). */
void cast_describe(unsigned casts, char *buf, size_t n);

#endif
