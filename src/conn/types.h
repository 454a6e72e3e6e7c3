/* The canonical type system: every connector maps its native column types to these and back.
 * docs/types.md holds the per-connector mapping table.
 *
 * A column has a canonical type (struct mms_type). A value travelling through the engine has a
 * representation kind (enum val_kind), chosen by the reader:
 *   integers/booleans -> VAL_INT (VAL_UINT for unsigned 64-bit above INT64_MAX),
 *   float/double      -> VAL_DOUBLE (the exact binary double; never printed and re-parsed),
 *   decimal, date, time, datetime, timestamp -> VAL_TEXT in the canonical text form below,
 *   text/json         -> VAL_TEXT (UTF-8, may contain any byte but NUL for text),
 *   binary            -> VAL_BLOB.
 * Canonical text forms: decimal "-123.4500" (scale digits kept), date "YYYY-MM-DD",
 * time "HH:MM:SS[.ffffff]", datetime/timestamp "YYYY-MM-DD HH:MM:SS[.ffffff]" (timestamp in UTC).
 * SQLite is dynamically typed: its reader passes the stored class through unchanged (an
 * INTEGER column holding text stays text), so SQLite -> SQLite is exact whatever the data. */
#ifndef MMS_TYPES_H
#define MMS_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mms_type_id {
    MT_BOOL = 1,
    MT_INT8,
    MT_INT16,
    MT_INT32,
    MT_INT64,
    MT_UINT8,
    MT_UINT16,
    MT_UINT32,
    MT_UINT64,
    MT_FLOAT32,
    MT_FLOAT64,
    MT_DECIMAL,   /* precision, scale */
    MT_CHAR,      /* length: fixed-width */
    MT_VARCHAR,   /* length: maximum characters */
    MT_TEXT,      /* unbounded */
    MT_BINARY,    /* unbounded bytes (length > 0: at most that many) */
    MT_DATE,
    MT_TIME,
    MT_DATETIME,  /* no time zone */
    MT_TIMESTAMP, /* an instant; canonical text is UTC */
    MT_JSON,
    MT_ANY,       /* SQLite column with no declared type: values keep their own class */
};

struct mms_type {
    enum mms_type_id id;
    int32_t precision; /* MT_DECIMAL */
    int32_t scale;     /* MT_DECIMAL; fractional second digits for time types */
    int32_t length;    /* MT_CHAR / MT_VARCHAR / MT_BINARY; 0 = unbounded */
};

/* Canonical type name as shown in the API schema and task logs: "int64", "decimal(10,2)",
 * "varchar(20)", "text", ... Writes at most n bytes (NUL-terminated). */
void mms_type_format(const struct mms_type *t, char *out, size_t n);
/* Parses what mms_type_format writes; 0 ok, -1 unknown. */
int mms_type_parse(const char *s, struct mms_type *t);

enum val_kind {
    VAL_NULL = 0,
    VAL_INT,
    VAL_UINT,
    VAL_DOUBLE,
    VAL_TEXT,
    VAL_BLOB,
};

#endif
