/* Splitting a migration job into tasks (design-notes.md section 2): the pure part, over
 * in-memory descriptors, with no store and no I/O, so that it can be tested on its own.
 * job_create.c loads the catalog into these descriptors, calls split_plan_build, and writes
 * the result.
 *
 * 1. The request (CreateMmsJob body, also the TASK_CREATE params): job_request_parse checks
 *    it and derives the scope: `partitions` -> Partitions, else `tables` -> Tables, else
 *    Database. Exactly one scope may be named: tables with partitions, or a white/black list
 *    with either, is an error.
 * 2. Database scope: split_name_selected applies tableBlackList (when non-empty; it wins) or
 *    else tableWhiteList (when non-empty); empty or absent lists select every table.
 * 3. Per table: increment keeps only objects not DONE and not DOING, plus those flagged
 *    updated (split_keep). An unpartitioned table is one task. A partitioned table's
 *    remaining partitions are grouped in order into tasks of at most max_parts partitions and
 *    max_bytes bytes; a partition larger than max_bytes is alone in its task. A partitioned
 *    table with no partition left gets one schema-only task, unless the table is DONE (or, with
 *    increment, DOING: the running job creates it). A `whole` partitioned table (see
 *    split_table) is one whole-table task when any of its candidate partitions is kept, else
 *    as a partitioned table with no partition left. A job-level schemaOnly gives every table
 *    one schema-only task.
 * 4. Tasks are interleaved round-robin across tables (first task of each table in table order,
 *    then the second of each, ...), so one table's tasks do not run back to back. */
#ifndef MMS_SPLIT_H
#define MMS_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/err.h"

/* ---- The request ---- */

enum split_scope { SCOPE_DATABASE = 0, SCOPE_TABLES, SCOPE_PARTITIONS };

/* "Database", "Tables", "Partitions" (the Job.type values). */
const char *split_scope_name(enum split_scope s);

#define JOB_NAME_MAX 128
#define JOB_OBJECT_NAME_MAX 256 /* db, schema, table names in the request */

/* A checked CreateMmsJob request. Strings and JSON values are borrowed from the parsed body;
 * NULL when absent (or JSON null). Arrays hold only what job_request_parse checked. */
struct job_request {
    int64_t source_id;                 /* 0 when absent */
    const char *source_name;
    const char *name;
    const char *src_db, *src_schema, *dst_db, *dst_schema;
    enum split_scope scope;
    json_t *tables, *white, *black;    /* string arrays */
    json_t *partitions;                /* positive integer array */
    json_t *pfilters;                  /* {table: expr} */
    json_t *table_mapping, *column_mapping; /* {src: dst} */
    bool enable_schema, enable_data, enable_verify; /* default true */
    bool increment, schema_only;       /* default false */
    const char *eta, *task_type, *tunnel_quota;
    json_t *others;                    /* free-form object */
    const char *verify;                /* others.verify: "count" (default) or "checksum" */
    int64_t timer_id;                  /* params only ("timerId", set by timers); 0 = none */
};

/* Checks body (a JSON object) as a CreateMmsJob request and fills out (borrowing from body).
 * Types are checked too (the API checks them first with api_body_check; the TASK_CREATE
 * executor re-reads the stored params through this). Errors: 400 InvalidParameter.<Field>
 * naming the field. Does not look at the catalog or parse partition filters. */
int job_request_parse(json_t *body, struct job_request *out, struct mms_err *err);

/* others.<key> for the parallel copy knobs ("copyStreams", "writeStreams"): an integer from 1
 * to 16 into *out; absent leaves *out as it is; anything else -1 with err 400
 * InvalidParameter.Others. Checked at job creation and read again by the task runner. */
int job_others_streams(json_t *others, const char *key, int64_t *out, struct mms_err *err);
/* The JobConfig stored with the job and returned by GetMmsJob: every field of mms-api.md 6.8
 * (absent lists and maps as null, booleans with their defaults, others as {} when absent).
 * New reference. */
json_t *job_request_config(const struct job_request *r);

/* ---- Selection ---- */

/* Database scope: whether table `name` is selected by the lists (borrowed string arrays; NULL
 * or empty = not given). The blacklist wins when both are given. */
bool split_name_selected(const char *name, json_t *white, json_t *black);
/* Whether an object with this migration status and updated flag is kept: always without
 * increment; with increment only when updated or status is neither DONE nor DOING. */
bool split_keep(const char *status, bool updated, bool increment);

/* ---- Planning ---- */

struct split_part {
    int64_t id;
    const char *value;   /* borrowed */
    int64_t size;        /* bytes; negative = unknown, counted as 0 */
    int64_t num_rows;    /* negative = unknown, counted as 0 */
    const char *status;  /* INIT|DOING|DONE|FAILED */
    bool updated;
};

struct split_table {
    int64_t id;
    const char *name;    /* borrowed */
    bool partitioned;
    /* Partitioned, but no partition names a set of rows a destination could replace (MySQL
     * RANGE/HASH/KEY partitions: the stored schema has no partition key columns). Moved
     * whole, as one task with nparts 0, when any candidate partition is kept (split_keep), or,
     * with increment, when the table itself is flagged updated and has candidates. */
    bool whole;
    const char *status;  /* INIT|DOING|DONE|FAILED|PART_DONE */
    bool updated;
    int64_t size, num_rows;
    /* The candidate partitions (after the scope and partitionFilters), in the order tasks
     * should take them. Borrowed. Ignored for unpartitioned tables. */
    const struct split_part *parts;
    size_t nparts;
};

struct split_opts {
    bool increment;
    bool schema_only;    /* the job's schemaOnly: one schema-only task per table */
    int64_t max_parts;   /* >= 1 */
    int64_t max_bytes;   /* >= 1 */
};

struct split_task {
    size_t table;        /* index into the tables given to split_plan_build */
    const size_t *parts; /* indices into that table's parts (into the plan's pool) */
    size_t nparts;       /* 0: the whole table (unpartitioned or whole) or a schema-only task */
    bool schema_only;
    int64_t bytes, rows; /* estimated from the catalog */
};

struct split_plan {
    struct split_task *tasks; /* in run order */
    size_t ntasks;
    size_t *pool;             /* storage of every task's parts */
};

/* Plans the tasks of a job. Cannot fail (allocation failure aborts). */
void split_plan_build(const struct split_table *tables, size_t ntables,
                      const struct split_opts *opts, struct split_plan *out);
void split_plan_release(struct split_plan *p);

/* ---- Conflicts ---- */

/* How a task covers its table: the whole table (data of an unpartitioned table), some
 * partitions, or only the schema. */
enum split_cover { COVER_WHOLE = 0, COVER_PARTS, COVER_SCHEMA };

/* Whether two tasks on the same table overlap: a whole-table task overlaps anything; two
 * schema-only tasks overlap; partition tasks overlap when they share a partition (a and b are
 * sorted ascending). A schema-only task does not overlap a partition task. */
bool split_conflict(enum split_cover ca, const int64_t *a, size_t na, enum split_cover cb,
                    const int64_t *b, size_t nb);

#endif
