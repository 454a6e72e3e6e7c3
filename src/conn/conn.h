/* The connector interface: one struct of function pointers per database kind (SQLite now;
 * PostgreSQL, MySQL and Hive-layout files next). The engine only ever talks to this.
 *
 * Naming of objects inside a connector:
 *   source side:      db (a database / schema of the source) . table [ / partition ]
 *   destination side: project (database) . schema . table [ / partition ]
 * A partition is named by its spec "k1=v1/k2=v2" (NULL = the whole table).
 *
 * Ownership: everything a connector returns through an out-parameter is owned by the caller and
 * freed with the matching *_free/_release function below. Strings passed in are borrowed.
 * Threads: each connection (and the readers/writers opened on it) is used by one thread at a
 * time, but a reader's read_next on one connection and a writer's write_batch on another may
 * run on two threads at once (the task runner reads ahead while it writes).
 * Errors: 0 ok, -1 with err filled (err->code "ConnectorError.*", message names the object). */
#ifndef MMS_CONN_H
#define MMS_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "conn/rowbatch.h"
#include "conn/types.h"
#include "util/err.h"

struct conn;        /* an open connection of some connector; first member is struct conn_base */
struct conn_reader; /* an open row stream */
struct conn_writer; /* an open atomic write (staging until commit) */

struct conn_column {
    char *name;
    struct mms_type type;
    char *native_type;   /* the type as the source declared it, e.g. "VARCHAR(20)" */
    bool nullable;
    char *default_value; /* NULL when none */
    char *comment;       /* NULL when none */
};

struct conn_schema {
    struct conn_column *cols;   /* data columns, in table order */
    size_t ncols;
    struct conn_column *pcols;  /* partition key columns (empty when unpartitioned) */
    size_t npcols;
    /* The conn_ops.type of the connector whose dialect native_type is written in (e.g.
     * "SQLITE"), NULL when unknown. A destination of the same kind can then reuse the native
     * declarations verbatim (for SQLite that keeps column affinity, hence values, identical). */
    char *source_type;
};

struct conn_table_info {
    char *name;
    char *type;              /* e.g. "TABLE", "VIEW", "MANAGED_TABLE" */
    int64_t size;            /* bytes, -1 unknown */
    int64_t num_rows;        /* -1 unknown */
    int64_t last_ddl_time;   /* Unix seconds, 0 unknown */
    int64_t last_modified;   /* Unix seconds of the last data change, 0 unknown */
    /* A counter that grows whenever rows change (PostgreSQL: inserted + updated + deleted
     * tuples from the statistics views), 0 unknown. Only its changes mean something: a rescan
     * that sees another positive value flags the object updated (see store_scan.h). */
    int64_t change_count;
    struct conn_schema schema;
    /* The table has partitions that list_partitions reports even though schema.npcols == 0
     * (MySQL RANGE/HASH/KEY partitions: no partition is a set of "k=v" rows). Such a table is
     * listed with its partitions, but a job moves it whole (docs/engine.md). */
    bool partitioned;
};

struct conn_partition_info {
    char *value;             /* "k1=v1/k2=v2" */
    int64_t size, num_rows, last_ddl_time, last_modified;
    int64_t change_count;    /* as conn_table_info.change_count, for this partition */
};

/* Where a destination table lives. schema may be NULL/"" (the connector's default). */
struct conn_target {
    const char *project;
    const char *schema;
    const char *table;
};

/* A slice of one table (or partition) by an integer key that the connector chose (key_range
 * below): the rows with lo <= key < hi, where a missing bound is open (has_lo false: from the
 * smallest key; has_hi false: to the largest, and rows whose key is NULL too). The slices a
 * runner reads cover the whole key space, so every row is in exactly one of them. */
struct conn_slice {
    const char *key; /* as key_range named it: a column, or a connector's own key ("ctid") */
    bool has_lo, has_hi;
    int64_t lo, hi;
};

/* Opt-in casts (job others.casts, engine/cast.h): a value that no canonical form or no
 * destination can hold is changed as documented instead of failing the task. The engine sets
 * the bits in conn_base.casts after opening a source; connectors that produce such values honour
 * the bits that concern them (the others are applied by the engine to every row batch). */
enum conn_cast {
    CONN_CAST_ZERO_DATE_NULL = 1u << 0, /* "zeroDateToNull": MySQL zero dates read as NULL */
    CONN_CAST_NEG_ZERO = 1u << 1,       /* "negativeZeroToZero": -0.0 becomes 0.0 */
    CONN_CAST_NAN_NULL = 1u << 2,       /* "nanToNull": NaN and +-Infinity become NULL */
    CONN_CAST_STRIP_NUL = 1u << 3,      /* "stripNul": NUL characters are removed from text */
};

/* An order-independent digest of a set of rows (see checksum.h). */
struct conn_checksum {
    int64_t rows;
    uint64_t sum_lo, sum_hi;  /* 128-bit wrapping sum of per-row hashes */
};

struct conn_ops {
    const char *type;        /* "SQLITE" */
    const char *url_scheme;  /* "sqlite" for destination URLs sqlite:///dir, or NULL */
    /* Partition key values live outside the rows (Hive-layout directories k=v): as a source its
     * rows do not carry them, as a destination it keeps them in the layout, not as columns. */
    bool keys_outside_rows;

    /* Source: opens from the data source's config object (borrowed; keys as in the config
     * items, e.g. "sqlite.path"). */
    int (*open_source)(struct conn **out, json_t *config, struct mms_err *err);
    /* Destination: opens from a URL (e.g. "sqlite:///abs/dir"). */
    int (*open_dest)(struct conn **out, const char *url, struct mms_err *err);
    void (*close)(struct conn *c);
    /* Cheap round trip that proves the connection works (config test, START). */
    int (*ping)(struct conn *c, struct mms_err *err);

    /* Catalog. Callbacks return 0 to go on, non-zero to stop (that value is returned).
     * The info passed to a callback is borrowed for the duration of the call. */
    int (*list_dbs)(struct conn *c, int (*cb)(void *ctx, const char *db), void *ctx,
                    struct mms_err *err);
    int (*list_tables)(struct conn *c, const char *db,
                       int (*cb)(void *ctx, const struct conn_table_info *t), void *ctx,
                       struct mms_err *err);
    int (*list_partitions)(struct conn *c, const char *db, const char *table,
                           int (*cb)(void *ctx, const struct conn_partition_info *p), void *ctx,
                           struct mms_err *err);
    int (*table_schema)(struct conn *c, const char *db, const char *table,
                        struct conn_schema *out, struct mms_err *err);

    /* Reading: rows of db.table (one partition, or all when partition is NULL), columns in
     * schema order. read_next clears the batch, then fills it up to its caps; 0 with
     * nrows == 0 at the end. The batch must have been initialised with schema's ncols. */
    int (*read_open)(struct conn *c, const char *db, const char *table, const char *partition,
                     const struct conn_schema *schema, struct conn_reader **out,
                     struct mms_err *err);
    int (*read_next)(struct conn_reader *r, struct rowbatch *b, struct mms_err *err);
    void (*read_close)(struct conn_reader *r);

    /* Schema stage: creates the destination table (and database/schema) if missing, from the
     * canonical schema. If a table of that name exists with other columns it is an error.
     * sql_out (may be NULL) receives the DDL it ran, for the task log; caller frees. */
    int (*create_table)(struct conn *c, const struct conn_target *t,
                        const struct conn_schema *schema, char **sql_out, struct mms_err *err);
    /* Data stage: an atomic replace of the table (or of one partition). Rows go to a staging
     * area; write_commit swaps it in, in one transaction, so after any crash the destination
     * holds the old or the complete new copy. write_abort drops the staging (also after a crash:
     * write_begin clears leftovers of earlier attempts of the same target). */
    int (*write_begin)(struct conn *c, const struct conn_target *t, const char *partition,
                       const struct conn_schema *schema, struct conn_writer **out,
                       struct mms_err *err);
    /* write_commit and write_abort both end the writer and free it, whatever the outcome (a
     * failed commit rolls back and drops the staging itself). After a failed write_batch the
     * caller calls write_abort. */
    int (*write_batch)(struct conn_writer *w, const struct rowbatch *b, struct mms_err *err);
    int (*write_commit)(struct conn_writer *w, struct mms_err *err);
    void (*write_abort)(struct conn_writer *w);

    /* Verification. count: SELECT COUNT(*) (sql_out: the statement, for the task log).
     * checksum: may be NULL, then the engine computes it by reading (conn_checksum_read). */
    int (*count_source)(struct conn *c, const char *db, const char *table, const char *partition,
                        int64_t *out, char **sql_out, struct mms_err *err);
    int (*count_dest)(struct conn *c, const struct conn_target *t, const char *partition,
                      int64_t *out, char **sql_out, struct mms_err *err);
    /* Opens a reader over a destination table, for the checksum of the written rows. */
    int (*read_dest_open)(struct conn *c, const struct conn_target *t, const char *partition,
                          const struct conn_schema *schema, struct conn_reader **out,
                          struct mms_err *err);

    /* Optional (NULL when a connector has nothing to show): the statements an open reader or
     * writer runs, for the task log ("the SQL that was run is part of the action"). Borrowed;
     * valid until the reader is closed or the writer committed/aborted. */
    const char *(*reader_sql)(struct conn_reader *r);
    const char *(*writer_sql)(struct conn_writer *w);

    /* Optional: parallel copy of one large table by key ranges (engine/task_run.c). NULL when
     * the connector cannot; the runner then copies the table as one stream.
     * key_range (source): an integer key of db.table to split on and its smallest and largest
     * value. It may be a column (an integer primary key) or the connector's own (PostgreSQL:
     * the physical block number, "ctid"). 1 when the table cannot be split (no such key, too
     * small; key_out untouched), 0 with *key_out (caller frees), -1 with err. The runner then
     * opens the slices covering [min, max] at once, in key order, the one without an upper
     * bound last (a connector may hold a shared snapshot open until then). */
    int (*key_range)(struct conn *c, const char *db, const char *table, const char *partition,
                     const struct conn_schema *schema, char **key_out, int64_t *min_out,
                     int64_t *max_out, struct mms_err *err);
    /* read_open_slice (source): read_open restricted to one slice. Each reader has its own
     * server connection, so several may be read at once on different threads. */
    int (*read_open_slice)(struct conn *c, const char *db, const char *table,
                           const char *partition, const struct conn_schema *schema,
                           const struct conn_slice *slice, struct conn_reader **out,
                           struct mms_err *err);
    /* write_join (destination): another stream into the staging of the open writer `primary`
     * (its own server connection, so usable on another thread while primary is written). Its
     * write_commit only finishes the stream (its rows are then in the staging, nothing is
     * swapped); its write_abort ends it. The caller finishes every joined writer before it
     * commits or aborts the primary, which swaps in or drops the staging as usual. */
    int (*write_join)(struct conn_writer *primary, struct conn_writer **out,
                      struct mms_err *err);

    /* Optional: raw copy between a source and a destination of this same connector, in its
     * own wire format, without row batches (PostgreSQL: binary COPY passed through; conn_pg.c).
     * raw_open opens a reader of db.table (one partition, or one slice when slice is not NULL,
     * as read_open_slice) whose rows go straight into the open writer w (of a destination
     * connection of this connector); 1 when this pair cannot (a column type differs, the writer
     * is not in the right format; nothing opened), 0, or -1 with err. raw_next moves rows until
     * about max_rows rows or max_bytes bytes have gone (at least one row unless at the end),
     * reporting them; 0 rows at the end of the stream. read_close closes the reader; the
     * writer is committed or aborted as usual. The engine uses it only when no value needs
     * changing (no casts, no key columns to append). */
    int (*raw_open)(struct conn *c, const char *db, const char *table, const char *partition,
                    const struct conn_schema *schema, const struct conn_slice *slice,
                    struct conn_writer *w, struct conn_reader **out, struct mms_err *err);
    int (*raw_next)(struct conn_reader *r, size_t max_rows, size_t max_bytes, int64_t *rows,
                    int64_t *bytes, struct mms_err *err);
};

/* Every connector's struct conn starts with this. */
struct conn_base {
    const struct conn_ops *ops;
    unsigned casts; /* enum conn_cast bits in force (0 = none), set by the engine */
};

/* Registry. */
const struct conn_ops *conn_find(const char *type);        /* by data-source type, or NULL */
const struct conn_ops *conn_find_scheme(const char *url);  /* by URL scheme, or NULL */
/* The list of supported data-source types, NULL-terminated. */
const struct conn_ops *const *conn_all(void);

static inline const struct conn_ops *conn_ops_of(struct conn *c)
{
    return ((struct conn_base *)c)->ops;
}

/* Appends name as a quoted SQL identifier: quote is '"' (SQLite, PostgreSQL) or '`' (MySQL);
 * an embedded quote character is doubled and every other byte is literal inside the quotes, so
 * no name can end the identifier early (no injection, whatever the bytes). */
void conn_sql_ident(struct buf *b, char quote, const char *name);

void conn_schema_release(struct conn_schema *s);
void conn_schema_copy(struct conn_schema *dst, const struct conn_schema *src);
/* JSON form used in the catalog (Table.schema): {name, comment, columns:[{name,type,comment,
 * defaultValue,nullable,nativeType}], partitions:[...], sourceType}. comment is always null
 * (conn_schema has no table comment); absent strings are null. Returns a new reference. */
json_t *conn_schema_to_json(const struct conn_schema *s, const char *table_name);
/* Parses what conn_schema_to_json wrote; 0 ok, -1 with err. */
int conn_schema_from_json(json_t *j, struct conn_schema *out, struct mms_err *err);

/* Connectors. */
extern const struct conn_ops conn_sqlite_ops;
extern const struct conn_ops conn_pg_ops;
extern const struct conn_ops conn_files_ops;
extern const struct conn_ops conn_mysql_ops;

#endif
