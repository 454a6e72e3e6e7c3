/* Partition filters (mms-api.md 8.10, design-notes.md section 2): the partitionFilters values
 * of CreateMmsJob / timers, e.g.
 *
 *     p1 >= '2022-03-04' and (p2 = 10 or p3 > 20) and p4 in ('a', 'b')
 *
 * Grammar (keywords and, or, in are case-insensitive; and binds tighter than or):
 *
 *     filter     := or_expr END
 *     or_expr    := and_expr ( "or" and_expr )*
 *     and_expr   := primary ( "and" primary )*
 *     primary    := "(" or_expr ")" | column op value | column "in" "(" value ( "," value )* ")"
 *     op         := ">" | ">=" | "=" | "<" | "<=" | "<>" | "!="      ("!=" is "<>")
 *     column     := [A-Za-z_][A-Za-z0-9_]*  |  `any text`   (`` inside backquotes is one `)
 *     value      := string | number
 *     string     := '...' | "..."
 *     number     := [+-]?[0-9]+                              (64-bit signed)
 *
 * Strings: either quote; inside, the same quote doubled stands for itself ('it''s'), and the
 * backslash escapes \' \" \\ stand for the quote / backslash (Hive's spelling). Any other
 * backslash sequence is rejected (Hive would silently turn \n into a newline and \d into d;
 * we refuse rather than guess). "not" / "not in" are not in the reference and are rejected with
 * a message saying so. Decimals (1.5), exponents and unquoted dates are rejected with a hint.
 *
 * Names: a column is looked up among the partition keys exactly, then ASCII
 * case-insensitively (Hive and MaxCompute names are case-insensitive); a spec key likewise.
 *
 * Semantics of one comparison against a partition value v (the percent-decoded text):
 *   - number literal: allowed only when the key's canonical type is an integer (MT_INT8 ..
 *     MT_UINT64). v is read as a decimal integer ([+-]?[0-9]+, leading zeros allowed, any
 *     magnitude: "99999999999999999999" is correctly greater than every literal); when v is not
 *     an integer (e.g. __HIVE_DEFAULT_PARTITION__) the comparison is false, for <> too.
 *   - string literal: byte-wise comparison (memcmp, then length), whatever the key's type;
 *     against an integer key that is text order ('9' > '10'), on purpose: it is what the user
 *     wrote. Use a number literal for numeric order.
 *   - in: true when some value of the list compares equal under the two rules above.
 *
 * Errors: every failure is 400 "InvalidParameter.PartitionFilters" with a human message that
 * starts with "position N: " (N = 1-based character position in the expression, counting UTF-8
 * characters), except a malformed partition spec, which is data from the catalog and not the
 * caller's fault (as is a NULL spec): 500 InternalError. Messages quote at most a short, escaped snippet of the input,
 * so they stay valid UTF-8 and well inside struct mms_err.
 *
 * A parsed filter is immutable: pfilter_match / pfilter_check may run on it from several threads
 * at once. */
#ifndef MMS_PFILTER_H
#define MMS_PFILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "conn/conn.h"
#include "util/err.h"

/* Hard limits on untrusted input. */
#define PFILTER_MAX_LEN 4096      /* bytes of expression */
#define PFILTER_MAX_DEPTH 32      /* nested parentheses */
#define PFILTER_MAX_CMPS 256      /* comparisons (an in list counts as one) */
#define PFILTER_MAX_IN 1000       /* values in one in list */

struct pfilter;

/* Parses a partition filter expression. On a syntax error: -1 with err = 400
 * "InvalidParameter.PartitionFilters" and a message naming the 1-based character position and
 * what was expected, e.g. "position 14: expected a value after '>='". Limits: expression at
 * most 4096 bytes, nesting at most 32, at most 256 comparisons, IN lists at most 1000 values.
 * expr is borrowed; *out is the caller's, freed with pfilter_free. A NULL or blank expr is
 * an error ("empty expression"): a caller with no filter simply has no pfilter. */
int pfilter_parse(const char *expr, struct pfilter **out, struct mms_err *err);

/* Evaluates against a partition spec "k1=v1/k2=v2" (values percent-decoded the way Hive
 * encodes partition directories: %XX). pkeys gives the partition columns and their canonical
 * types (src/conn/types.h, src/conn/conn.h struct conn_schema: pcols/npcols). A comparison with
 * a number literal is only valid against an integer-typed partition key (MT_INT8..MT_UINT64):
 * -1 with 400 InvalidParameter.PartitionFilters "column p2 is not an integer partition key" ;
 * a name that is not a partition key -> -1 with a 400 naming it.
 * The whole filter is checked (pfilter_check) and every key it names must be in the spec
 * (else 400 naming the key and the partition) before anything is evaluated, so the outcome
 * does not depend on short-circuiting. Spec decoding follows Hive's unescapePathName: keys and
 * values are decoded, "%" followed by two hex digits is that byte, any other "%" stays as it is;
 * empty components ("a=1//b=2", a trailing "/") are skipped; a component without "=" or a key
 * given twice is a malformed spec (500). Keys of the spec that the filter does not name are
 * ignored. pkeys may be NULL (no partition keys). */
int pfilter_match(const struct pfilter *f, const char *spec, const struct conn_schema *pkeys,
                  bool *out, struct mms_err *err);

/* Checks names and number/type rules against the keys without a spec (for validating a job
 * before splitting). 0 ok, -1 with err as pfilter_match. pkeys may be NULL. */
int pfilter_check(const struct pfilter *f, const struct conn_schema *pkeys, struct mms_err *err);

/* NULL is allowed. */
void pfilter_free(struct pfilter *f);

/* The expression as given to pfilter_parse (borrowed from f), e.g. for task logs. */
const char *pfilter_expr(const struct pfilter *f);

#endif
