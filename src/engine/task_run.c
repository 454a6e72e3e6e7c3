/* The migration task runner: runs a claimed task stage by stage (engine/task_state.h),
 * SCHEMA -> DATA -> VERIFICATION -> DONE, writing every status change fenced by the claim's
 * attempt, a task log row per step, and the catalog and job roll-ups.
 * docs/engine.md describes the stage machine, leases and recovery.
 *
 * Control flow. exec_task() loads the task, then runs each stage from the one its status says
 * is next. A stage returns one of enum run_rc; the first non-OK outcome ends the run:
 *   RUN_FAIL  the stage failed: the task becomes <stage>_FAILED with r->err as the message;
 *   RUN_STOP  a stop request (StopMmsJob, or mmsd shutting down) seen at a safe point: the
 *             status is left as it is (a *_DOING stage is redone from its start when resumed)
 *             and the row is given back with work_release;
 *   RUN_LOST  the lease was taken over: return at once, write nothing more.
 * A store error while recording a step is a failure of that step (its message says so); if
 * even the failure cannot be recorded, the row is released and a later claim redoes the stage.
 *
 * Memory. A copy streams through two row batches (one being read ahead on a second thread,
 * one being written), each bounded by --batch-rows and --batch-bytes (the value array is sized
 * so that it alone stays under the byte cap), so the footprint does not depend on the table
 * size. */
#include "conn/checksum.h"
#include "conn/conn.h"
#include "conn/partspec.h"
#include "engine/cast.h"
#include "engine/engine.h"
#include "engine/limiter.h"
#include "engine/retry.h"
#include "engine/split.h"
#include "engine/task_state.h"
#include "store/store_catalog.h"
#include "store/store_job.h"
#include "store/store_tasklog.h"
#include "store/store_taskrun.h"
#include "store/store_datasource.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROGRESS_EVERY_MS 1000
/* A rate-limited copy sleeps in slices of at most this, heartbeating between them. */
#define THROTTLE_SLICE_MS 100

enum run_rc { RUN_OK = 0, RUN_FAIL, RUN_STOP, RUN_LOST };

struct run {
    struct work *w;
    struct taskrun t;
    json_t *jobcfg; /* job.config, owned */
    json_t *dscfg;  /* datasource.config, owned (holds secrets: never logged) */
    bool do_schema, do_data, do_verify, checksum;
    const char *verify_mode; /* others.verify as given, NULL when absent */

    /* Opened on first use by run_open(). */
    const struct conn_ops *sops, *dops;
    struct conn *src, *dst;
    struct conn_schema sschema; /* the live source schema */
    struct conn_schema dschema; /* the same with the destination column names */
    /* Partition keys the source does not produce as data columns (Hive layout) but the
     * destination holds as trailing data columns: xkeys[i] is the index in sschema.pcols of
     * dschema.cols[sschema.ncols + i]. The runner fills them from the partition spec. */
    size_t *xkeys;
    size_t nxkeys;
    struct conn_target target;

    char status[32];    /* the task's status as last written */
    char *action;       /* what the current step does (owned), for the failure log */
    char *qtable;       /* the source table name, quoted for messages (owned) */
    struct mms_err err; /* why the current step failed */
    int64_t rows_done, bytes_done;

    struct retry_policy retry; /* others.maxRetries, others.retryBudgetSeconds */
    struct limiter *task_lim;  /* others.rowsPerSecond / bytesPerSecond, owned; NULL = none */
    struct limiter *src_lim;   /* the data source's shared limiter; NULL = none */
    int64_t throttled_ms;      /* time spent waiting for a rate limit in this stage */
    char limits_desc[160];     /* the limits in force, for the log */
    unsigned casts;            /* others.casts (engine/cast.h) */
    int64_t streams;           /* others.copyStreams, else --copy-streams */
    int64_t writers;           /* others.writeStreams, else --write-streams */
    int64_t casts_done;        /* values changed by the engine-side casts in this stage */
};

/* ---- small helpers ------------------------------------------------------------------------ */

static void set_action(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_action(struct run *r, const char *fmt, ...)
{
    struct buf b;
    va_list ap;
    buf_init(&b, BUF_NO_LIMIT);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    free(r->action);
    r->action = buf_detach(&b, NULL);
}

static enum run_rc run_failf(struct run *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum run_rc run_failf(struct run *r, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mms_err_clear(&r->err);
    r->err.http = 400;
    snprintf(r->err.code, sizeof r->err.code, "%s", code);
    vsnprintf(r->err.msg, sizeof r->err.msg, fmt, ap);
    va_end(ap);
    return RUN_FAIL;
}

/* A failed store call: the step fails with the store's message. */
static enum run_rc run_store_fail(struct run *r, const struct mms_err *err)
{
    log_error("cannot record a step: %s", err->msg);
    return run_failf(r, "InternalError", "%s", err->msg);
}

/* Appends an identifier for messages: as is when it is a plain word, else double-quoted with
 * quotes doubled (names may hold spaces, dots, quotes). */
static void name_add(struct buf *b, const char *s, bool always_quote)
{
    bool plain = !always_quote && s[0] != '\0';
    for (const char *p = s; plain && *p; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '_';
    if (plain) {
        buf_adds(b, s);
        return;
    }
    buf_addc(b, '"');
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            buf_addc(b, '"');
        buf_addc(b, *p);
    }
    buf_addc(b, '"');
}

/* main."orders"[/p=1] */
static void name_src(struct buf *b, const struct run *r, const char *part)
{
    if (r->t.src_db && r->t.src_db[0]) {
        name_add(b, r->t.src_db, false);
        buf_addc(b, '.');
    }
    name_add(b, r->t.src_table ? r->t.src_table : "", true);
    if (part)
        buf_printf(b, "/%s", part);
}

/* project[.schema]."orders"[/p=1] */
static void name_dst(struct buf *b, const struct run *r, const char *part)
{
    name_add(b, r->target.project ? r->target.project : "", false);
    buf_addc(b, '.');
    if (r->target.schema && r->target.schema[0]) {
        name_add(b, r->target.schema, false);
        buf_addc(b, '.');
    }
    name_add(b, r->target.table ? r->target.table : "", true);
    if (part)
        buf_printf(b, "/%s", part);
}

/* "1000 rows, 52000 bytes in 1.25 s (800 rows/s)" */
static void rate_msg(struct buf *b, int64_t rows, int64_t bytes, int64_t ms)
{
    double s = (double)ms / 1000.0;
    double rps = ms > 0 ? (double)rows * 1000.0 / (double)ms : (double)rows;
    buf_printf(b, "%" PRId64 " rows, %" PRId64 " bytes in %.2f s (%.0f rows/s)", rows, bytes, s,
               rps);
}

static bool cfg_flag(json_t *cfg, const char *key)
{
    json_t *v = json_object_get(cfg, key);
    return !json_is_false(v); /* absent, null or true: enabled */
}

/* ---- recording steps ------------------------------------------------------------------------ */

static void refresh_job(struct run *r)
{
    struct mms_err err = {0};
    if (store_job_refresh(r->w->db, r->t.job_id, &err) < 0)
        log_warn("cannot refresh job %" PRId64 ": %s", r->t.job_id, err.msg);
}

static void mark_catalog(struct run *r, const char *status)
{
    struct mms_err err = {0};
    if (r->t.table_id <= 0)
        return;
    int64_t *ids = NULL;
    if (r->t.nparts) {
        ids = xreallocarray(NULL, r->t.nparts, sizeof *ids);
        for (size_t i = 0; i < r->t.nparts; i++)
            ids[i] = r->t.parts[i].id;
    }
    if (store_catalog_mark(r->w->db, r->t.table_id, ids, r->t.nparts, status, &err) < 0)
        log_warn("cannot mark table %" PRId64 " %s in the catalog: %s", r->t.table_id, status,
                 err.msg);
    free(ids);
}

/* One step, in one store transaction: the fenced status change (or, with status NULL, a check
 * that the lease is still ours), its task log row, and the job's status derived anew. */
static enum run_rc run_write(struct run *r, const char *status, const char *action, const char *msg)
{
    struct db *db = r->w->db;
    struct mms_err err = {0};
    int rc;
    if (db_begin(db, &err) < 0)
        return run_store_fail(r, &err);
    rc = status ? store_taskrun_set_status(db, r->t.id, r->w->attempt, status, &err)
                : store_taskrun_fence(db, r->t.id, r->w->attempt, &err);
    if (rc == 0)
        rc = store_tasklog_add(db, r->t.source_id, r->t.id, status ? status : r->status, action,
                               msg, &err);
    if (rc == 0 && status && strcmp(status, r->status) != 0)
        rc = store_job_refresh(db, r->t.job_id, &err) < 0 ? -1 : 0;
    if (rc != 0) {
        db_rollback(db);
        return rc > 0 ? RUN_LOST : run_store_fail(r, &err);
    }
    if (db_commit(db, &err) < 0)
        return run_store_fail(r, &err);
    if (status)
        snprintf(r->status, sizeof r->status, "%s", status);
    return RUN_OK;
}

static enum run_rc run_progress(struct run *r)
{
    struct mms_err err = {0};
    int rc =
        store_taskrun_progress(r->w->db, r->t.id, r->w->attempt, r->rows_done, r->bytes_done, &err);
    if (rc > 0)
        return RUN_LOST;
    if (rc < 0) /* progress is informative: a store hiccup must not fail the copy */
        log_warn("cannot record progress: %s", err.msg);
    return RUN_OK;
}

/* The final write of the attempt in one transaction: status (DONE or *_FAILED), queued = 0,
 * error_msg, end_time, lease cleared, its log row, the job's status and the catalog status of
 * what the task moves (catalog: DONE or FAILED). A catalog that cannot be marked (its table deleted
 * meanwhile) does not keep the task from finishing: the mark is then dropped. */
static enum run_rc run_finish(struct run *r, const char *status, const char *error_msg,
                              const char *action, const char *msg, const char *catalog,
                              struct mms_err *err)
{
    struct db *db = r->w->db;
    int64_t *ids = NULL;
    enum run_rc out = RUN_FAIL;

    if (r->t.nparts) {
        ids = xreallocarray(NULL, r->t.nparts, sizeof *ids);
        for (size_t i = 0; i < r->t.nparts; i++)
            ids[i] = r->t.parts[i].id;
    }
    for (int with_mark = r->t.table_id > 0; with_mark >= 0; with_mark--) {
        struct mms_err merr = {0};
        if (db_begin(db, err) < 0)
            goto done;
        int rc = store_taskrun_finish(db, r->t.id, r->w->attempt, status, error_msg, err);
        if (rc == 0)
            rc = store_tasklog_add(db, r->t.source_id, r->t.id, status, action, msg, err);
        if (rc == 0)
            rc = store_job_refresh(db, r->t.job_id, err) < 0 ? -1 : 0;
        if (rc != 0) {
            db_rollback(db);
            out = rc > 0 ? RUN_LOST : RUN_FAIL;
            goto done;
        }
        if (with_mark &&
            store_catalog_mark_task(db, r->t.id, r->t.table_id, ids, r->t.nparts, catalog,
                                    &merr) < 0) {
            log_warn("cannot mark table %" PRId64 " %s in the catalog: %s", r->t.table_id, catalog,
                     merr.msg);
            db_rollback(db);
            continue;
        }
        if (db_commit(db, err) < 0)
            goto done;
        snprintf(r->status, sizeof r->status, "%s", status);
        out = RUN_OK;
        break;
    }
done:
    free(ids);
    return out;
}

/* Heartbeat at a safe point. */
static enum run_rc run_beat(struct run *r)
{
    switch (work_heartbeat(r->w)) {
    case WORK_GO:
        return RUN_OK;
    case WORK_STOP:
        return RUN_STOP;
    case WORK_LOST:
        break;
    }
    return RUN_LOST;
}

/* Waits until the rate limits admit a batch of rows/bytes (task's own and the data source's,
 * both must allow it), sleeping in short slices with a heartbeat in each, so that a stop
 * request or a lost lease is still seen while throttled. */
static enum run_rc run_throttle(struct run *r, int64_t rows, int64_t bytes)
{
    if (!r->task_lim && !r->src_lim)
        return RUN_OK;
    int64_t wait_ns = limiter_reserve2(r->task_lim, r->src_lim, rows, bytes);
    if (wait_ns <= 0)
        return RUN_OK;
    int64_t t0 = time_mono_ms(), deadline = t0 + (wait_ns + 999999) / 1000000;
    for (;;) {
        int64_t now = time_mono_ms();
        if (now >= deadline)
            break;
        int64_t ms = deadline - now < THROTTLE_SLICE_MS ? deadline - now : THROTTLE_SLICE_MS;
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        enum run_rc rc = run_beat(r);
        if (rc != RUN_OK)
            return rc;
    }
    r->throttled_ms += time_mono_ms() - t0;
    return RUN_OK;
}

/* ---- connections and schemas ------------------------------------------------------------ */

/* Applies job config columnMapping {src column: dst column} to the destination schema.
 * The mapping is job-wide: a job over many tables names the columns of some of them, so a key
 * that is not a column of this table is left alone here (and logged). */
static enum run_rc map_columns(struct run *r)
{
    json_t *m = json_object_get(r->jobcfg, "columnMapping");
    const char *key;
    json_t *val;

    conn_schema_copy(&r->dschema, &r->sschema);
    if (!m || json_is_null(m))
        return RUN_OK;
    set_action(r, "apply columnMapping to the columns of %s", r->qtable);
    if (!json_is_object(m))
        return run_failf(r, "TaskError.ColumnMapping", "columnMapping must be an object");
    json_object_foreach(m, key, val)
    {
        const char *to = json_string_value(val);
        struct conn_column *c = NULL;
        if (!to || !to[0])
            return run_failf(r, "TaskError.ColumnMapping",
                             "columnMapping: the new name of column \"%s\" must be a non-empty"
                             " string",
                             key);
        for (size_t i = 0; !c && i < r->dschema.ncols; i++)
            if (strcmp(r->sschema.cols[i].name, key) == 0)
                c = &r->dschema.cols[i];
        for (size_t i = 0; !c && i < r->dschema.npcols; i++)
            if (strcmp(r->sschema.pcols[i].name, key) == 0)
                c = &r->dschema.pcols[i];
        if (!c) {
            log_debug("columnMapping: table %s has no column \"%s\"; not applied here", r->qtable,
                      key);
            continue;
        }
        free(c->name);
        c->name = xstrdup(to);
    }
    /* Two columns must not end up with one name. */
    size_t n = r->dschema.ncols + r->dschema.npcols;
    for (size_t i = 0; i < n; i++) {
        const char *a = i < r->dschema.ncols ? r->dschema.cols[i].name
                                             : r->dschema.pcols[i - r->dschema.ncols].name;
        for (size_t j = i + 1; j < n; j++) {
            const char *b = j < r->dschema.ncols ? r->dschema.cols[j].name
                                                 : r->dschema.pcols[j - r->dschema.ncols].name;
            if (strcmp(a, b) == 0)
                return run_failf(r, "TaskError.ColumnMapping",
                                 "columnMapping gives two columns of table %s the name \"%s\"",
                                 r->qtable, a);
        }
    }
    return RUN_OK;
}

/* Rule "partition keys are data columns at the destination" (docs/engine.md, "Partition
 * keys"): a source partition key that is not one of the source's data columns (a Hive-layout
 * FILES source) is appended to the destination schema as a trailing data column, filled by the
 * runner from the partition spec. A FILES destination keeps such keys in its directory names
 * only, as its source did, so nothing is appended there. */
static void add_key_columns(struct run *r)
{
    if (r->dops->keys_outside_rows || r->sschema.npcols == 0)
        return;
    for (size_t k = 0; k < r->sschema.npcols; k++) {
        bool found = false;
        for (size_t i = 0; i < r->sschema.ncols && !found; i++)
            found = strcmp(r->sschema.cols[i].name, r->sschema.pcols[k].name) == 0;
        if (found)
            continue;
        struct conn_schema one = {.cols = &r->dschema.pcols[k], .ncols = 1};
        struct conn_schema cp = {0};
        conn_schema_copy(&cp, &one);
        r->dschema.cols =
            xreallocarray(r->dschema.cols, r->dschema.ncols + 1, sizeof *r->dschema.cols);
        r->dschema.cols[r->dschema.ncols++] = cp.cols[0];
        free(cp.cols);
        r->xkeys = xreallocarray(r->xkeys, r->nxkeys + 1, sizeof *r->xkeys);
        r->xkeys[r->nxkeys++] = k;
    }
}

/* The values of the appended key columns for one partition, parsed from its spec. */
struct keyvals {
    size_t n;
    struct val *v;   /* VAL_INT, VAL_TEXT (off into text) or VAL_NULL */
    struct buf text; /* the decoded text values */
};

static bool type_is_integer(enum mms_type_id id)
{
    return id == MT_BOOL || (id >= MT_INT8 && id <= MT_UINT64);
}

static enum run_rc keyvals_parse(struct run *r, const char *part, struct keyvals *kv)
{
    memset(kv, 0, sizeof *kv);
    buf_init(&kv->text, BUF_NO_LIMIT);
    if (r->nxkeys == 0)
        return RUN_OK;
    kv->n = r->nxkeys;
    kv->v = xcalloc(r->nxkeys, sizeof *kv->v);
    struct part_spec spec;
    if (part_spec_parse(part, &spec) < 0)
        return run_failf(r, "TaskError.Partition",
                         "table %s: partition '%s' is not of the form k1=v1/k2=v2", r->qtable,
                         part ? part : "");
    enum run_rc rc = RUN_OK;
    for (size_t x = 0; x < r->nxkeys && rc == RUN_OK; x++) {
        const struct conn_column *key = &r->sschema.pcols[r->xkeys[x]];
        const struct conn_column *dcol = &r->dschema.cols[r->sschema.ncols + x];
        int found = 0;
        const char *val = part_spec_get(&spec, key->name, &found);
        if (!found) {
            rc = run_failf(r, "TaskError.Partition",
                           "table %s: partition '%s' gives no value for key \"%s\"", r->qtable,
                           part ? part : "", key->name);
        } else if (!val) {
            kv->v[x].kind = VAL_NULL; /* Hive's NULL partition */
        } else if (type_is_integer(dcol->type.id)) {
            char *e = NULL;
            errno = 0;
            long long n = strtoll(val, &e, 10);
            if (!*val || errno || !e || *e)
                rc = run_failf(r, "TaskError.Partition",
                               "table %s: partition '%s': value '%s' of key \"%s\" is not an"
                               " integer, as its type says",
                               r->qtable, part, val, key->name);
            else
                rowbatch_set_int(&kv->v[x], (int64_t)n);
        } else {
            size_t len = strlen(val);
            kv->v[x].kind = VAL_TEXT;
            kv->v[x].len = (uint32_t)len;
            kv->v[x].v.off = kv->text.len;
            buf_add(&kv->text, val, len);
        }
    }
    part_spec_release(&spec);
    return rc;
}

static void keyvals_release(struct keyvals *kv)
{
    free(kv->v);
    buf_release(&kv->text);
    memset(kv, 0, sizeof *kv);
}

/* out = in's rows with the key values appended (out has in->ncols + kv->n columns). */
static void widen_batch(const struct rowbatch *in, const struct keyvals *kv, struct rowbatch *out)
{
    rowbatch_clear(out);
    for (size_t i = 0; i < in->nrows; i++) {
        const struct val *src = rowbatch_row(in, i);
        struct val *dst = rowbatch_add_row(out);
        for (size_t c = 0; c < in->ncols; c++) {
            if (src[c].kind == VAL_TEXT || src[c].kind == VAL_BLOB)
                rowbatch_set_bytes(out, &dst[c], src[c].kind, rowbatch_bytes(in, &src[c]),
                                   src[c].len);
            else
                dst[c] = src[c];
        }
        for (size_t x = 0; x < kv->n; x++) {
            const struct val *kval = &kv->v[x];
            if (kval->kind == VAL_TEXT)
                rowbatch_set_bytes(out, &dst[in->ncols + x], VAL_TEXT,
                                   kval->len ? kv->text.p + kval->v.off : "", kval->len);
            else
                dst[in->ncols + x] = *kval;
        }
    }
}

/* Opens the source and the destination and reads the live source schema, once per run. */
static enum run_rc run_open(struct run *r)
{
    if (r->src)
        return RUN_OK;
    const char *type = r->t.type && r->t.type[0] ? r->t.type : r->t.ds_type;
    const char *url = json_string_value(json_object_get(r->dscfg, "dst.url"));

    set_action(r, "connect to the source and the destination");
    r->sops = conn_find(type);
    if (!r->sops)
        r->sops = conn_find(r->t.ds_type);
    if (!r->sops)
        return run_failf(r, "TaskError.Connector", "no connector for data source type '%s'",
                         type ? type : "");
    if (!url || !url[0])
        return run_failf(r, "TaskError.Destination",
                         "the data source has no destination URL (config item dst.url)");
    r->dops = conn_find_scheme(url);
    if (!r->dops) {
        const char *colon = strchr(url, ':');
        int n = colon ? (int)(colon - url) : 0;
        return run_failf(r, "TaskError.Destination",
                         "no connector for destination URL scheme '%.*s'", n > 32 ? 32 : n, url);
    }
    if (r->sops->open_source(&r->src, r->dscfg, &r->err) < 0) {
        r->src = NULL;
        return RUN_FAIL;
    }
    ((struct conn_base *)r->src)->casts = r->casts; /* e.g. zero dates read as NULL */
    if (r->dops->open_dest(&r->dst, url, &r->err) < 0) {
        r->dst = NULL;
        return RUN_FAIL;
    }
    struct buf b;
    buf_init(&b, BUF_NO_LIMIT);
    buf_adds(&b, "read the schema of ");
    name_src(&b, r, NULL);
    free(r->action);
    r->action = buf_detach(&b, NULL);
    if (r->sops->table_schema(r->src, r->t.src_db, r->t.src_table, &r->sschema, &r->err) < 0)
        return RUN_FAIL;
    enum run_rc rc = map_columns(r);
    if (rc == RUN_OK)
        add_key_columns(r);
    return rc;
}

/* ---- read-ahead ----------------------------------------------------------------------------
 * A copy reads on one thread and writes on another: a reader thread fills one of two batches
 * while the task's thread writes the other (double buffering). Memory stays bounded: two
 * batches per stream, whatever the table size. The reader thread only calls read_next on its
 * reader (the source connection is not used by anyone else meanwhile); the task's thread keeps
 * everything else (the writer, heartbeats, the store). Measured on a 1M-row SQLite -> SQLite
 * copy, see docs/engine.md. */

enum slot_state { SLOT_EMPTY = 0, SLOT_FULL, SLOT_FAILED };

struct pipe {
    const struct conn_ops *ops;
    struct conn_reader *rd;
    struct rowbatch b[2];
    enum slot_state state[2];
    int cur; /* slot the consumer holds, -1 before the first pipe_next */
    bool cancel;
    bool started;
    struct mms_err err; /* the reader's error (SLOT_FAILED) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    char ctx[64];
};

static void *pipe_main(void *arg)
{
    struct pipe *p = arg;
    log_set_ctx(p->ctx);
    for (int i = 0;; i ^= 1) {
        pthread_mutex_lock(&p->mu);
        while (p->state[i] != SLOT_EMPTY && !p->cancel)
            pthread_cond_wait(&p->cv, &p->mu);
        bool cancel = p->cancel;
        pthread_mutex_unlock(&p->mu);
        if (cancel)
            break;
        struct mms_err err = {0};
        int rc = p->ops->read_next(p->rd, &p->b[i], &err);
        bool last = rc < 0 || p->b[i].nrows == 0; /* error or end of stream */
        pthread_mutex_lock(&p->mu);
        if (rc < 0) {
            p->err = err;
            p->state[i] = SLOT_FAILED;
        } else {
            p->state[i] = SLOT_FULL;
        }
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (last)
            break;
    }
    return NULL;
}

/* Starts reading rd ahead into two batches of ncols columns. The pipe borrows rd. */
static void pipe_start(struct pipe *p, const struct conn_ops *ops, struct conn_reader *rd,
                       size_t ncols, size_t rows, size_t bytes)
{
    memset(p, 0, sizeof *p);
    p->ops = ops;
    p->rd = rd;
    p->cur = -1;
    rowbatch_init(&p->b[0], ncols, rows, bytes);
    rowbatch_init(&p->b[1], ncols, rows, bytes);
    snprintf(p->ctx, sizeof p->ctx, "%s", log_get_ctx());
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    /* Without a thread (none could be created) pipe_next reads in line. */
    p->started = pthread_create(&p->th, NULL, pipe_main, p) == 0;
}

/* The next batch (nrows == 0 at the end of the stream), borrowed until the next call (the
 * caller may change its values: the reader does not touch it meanwhile). Gives the previous
 * batch back to the reader. 0, or -1 with err. */
static int pipe_next(struct pipe *p, struct rowbatch **out, struct mms_err *err)
{
    if (!p->started) { /* no thread: read in line */
        p->cur = 0;
        *out = &p->b[0];
        return p->ops->read_next(p->rd, &p->b[0], err);
    }
    pthread_mutex_lock(&p->mu);
    if (p->cur >= 0) {
        p->state[p->cur] = SLOT_EMPTY;
        pthread_cond_broadcast(&p->cv);
    }
    int i = p->cur < 0 ? 0 : p->cur ^ 1;
    while (p->state[i] == SLOT_EMPTY)
        pthread_cond_wait(&p->cv, &p->mu);
    enum slot_state st = p->state[i];
    pthread_mutex_unlock(&p->mu);
    p->cur = i;
    *out = &p->b[i];
    if (st == SLOT_FAILED) {
        *err = p->err;
        return -1;
    }
    return 0;
}

/* Ends a helper thread that waits on cv for *flag: sets the flag under mu, wakes the thread,
 * joins it (when it was started), then destroys mu and cv. */
static void thread_end(pthread_t th, bool started, pthread_mutex_t *mu, pthread_cond_t *cv,
                       bool *flag)
{
    if (started) {
        pthread_mutex_lock(mu);
        *flag = true;
        pthread_cond_broadcast(cv);
        pthread_mutex_unlock(mu);
        pthread_join(th, NULL);
    }
    pthread_mutex_destroy(mu);
    pthread_cond_destroy(cv);
}

/* Stops the reader thread (it finishes the read_next under way) and frees the batches. The
 * caller then closes the reader. */
static void pipe_stop(struct pipe *p)
{
    thread_end(p->th, p->started, &p->mu, &p->cv, &p->cancel);
    rowbatch_release(&p->b[0]);
    rowbatch_release(&p->b[1]);
}

/* ---- lease keeper ----------------------------------------------------------------------
 * A connector call can block for long without a safe point to heartbeat at: COUNT(*) of a big
 * table, creating a table, the final swap waiting for a lock. Around such a call a keeper
 * thread heartbeats for the task, so the lease does not lapse however long the call takes (the
 * task's thread does not use its store connection meanwhile, so the keeper may). What it saw
 * (a stop request, a lost lease) is acted on when the call has returned. */

struct keeper {
    struct run *r;
    pthread_t th;
    bool started, done;
    enum work_beat seen; /* the first beat that was not WORK_GO */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char ctx[64];
};

#define KEEPER_EVERY_MS 1000

static void *keeper_main(void *arg)
{
    struct keeper *k = arg;
    log_set_ctx(k->ctx);
    pthread_mutex_lock(&k->mu);
    while (!k->done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += KEEPER_EVERY_MS / 1000;
        pthread_cond_timedwait(&k->cv, &k->mu, &ts);
        if (k->done)
            break;
        pthread_mutex_unlock(&k->mu);
        enum work_beat b = work_heartbeat(k->r->w);
        pthread_mutex_lock(&k->mu);
        if (b != WORK_GO && k->seen == WORK_GO)
            k->seen = b;
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

static void keeper_start(struct keeper *k, struct run *r)
{
    memset(k, 0, sizeof *k);
    k->r = r;
    k->seen = WORK_GO;
    snprintf(k->ctx, sizeof k->ctx, "%s", log_get_ctx());
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    /* Without a thread the call simply runs unguarded, as it would have before. */
    k->started = pthread_create(&k->th, NULL, keeper_main, k) == 0;
}

/* Ends the keeper: RUN_OK, RUN_STOP (a stop request or shutdown was seen) or RUN_LOST. */
static enum run_rc keeper_stop(struct keeper *k)
{
    thread_end(k->th, k->started, &k->mu, &k->cv, &k->done);
    return k->seen == WORK_GO ? RUN_OK : k->seen == WORK_STOP ? RUN_STOP : RUN_LOST;
}

/* ---- SCHEMA ------------------------------------------------------------------------------- */

static enum run_rc stage_schema(struct run *r)
{
    char msg[96];
    enum run_rc rc;
    char *ddl = NULL;
    struct buf b;

    snprintf(msg, sizeof msg, "attempt %" PRId64, r->w->attempt);
    if ((rc = run_write(r, "SCHEMA_DOING", "start schema migration", msg)) != RUN_OK)
        return rc;
    if (!r->do_schema)
        return run_write(r, "SCHEMA_DONE", "create table",
                         "skipped (enableSchemaMigration is false): the destination table must"
                         " already exist");
    if ((rc = run_open(r)) != RUN_OK)
        return rc;
    buf_init(&b, BUF_NO_LIMIT);
    buf_adds(&b, "create table ");
    name_dst(&b, r, NULL);
    free(r->action);
    r->action = buf_detach(&b, NULL);
    struct keeper k;
    keeper_start(&k, r);
    int crc = r->dops->create_table(r->dst, &r->target, &r->dschema, &ddl, &r->err);
    if ((rc = keeper_stop(&k)) == RUN_LOST || crc < 0) {
        free(ddl);
        return crc < 0 && rc != RUN_LOST ? RUN_FAIL : rc;
    }
    log_info("schema ready: %s", ddl ? ddl : r->action);
    rc = run_write(r, "SCHEMA_DONE", ddl ? ddl : r->action, "ok");
    free(ddl);
    return rc;
}

/* ---- DATA --------------------------------------------------------------------------------- */

static size_t batch_bytes_for(const struct run *r);

/* ---- parallel copy by key ranges -------------------------------------------------------
 * One large table (or partition) is copied by several streams at once when both connectors
 * can (conn.h: key_range + read_open_slice at the source, write_join at the destination): the
 * source's key space [min, max] is cut into equal ranges, each read by its own reader (own
 * server connection) and written by its own joined writer into the one staging area, which the
 * primary writer swaps in atomically at the end, exactly as a single stream would. Each stream
 * is a thread with its own read-ahead pipe; the task's thread only heartbeats, reports
 * progress and watches for failures, so a stop or a lost lease cancels every stream at once.
 * Memory: two batches per stream. A failure in any stream aborts all of them and the staging
 * (the destination keeps its old copy); the retry policy then applies as for one stream. */

struct par;

struct stream {
    struct par *par;
    struct conn_reader *rd;
    bool raw; /* rd moves rows straight into wr (conn.h raw_open) */
    struct conn_writer *wr;
    struct mms_err err;
    bool failed;
    bool started;
    pthread_t th;
};

/* Fan-out (one reader, several writers): the reader thread fills free batches of the pool and
 * queues them; each writer thread takes any full batch, writes it and gives it back. */
enum feed_slot { FEED_FREE = 0, FEED_BUSY, FEED_FULL };

struct feed {
    struct conn_reader *rd;
    struct rowbatch *b;
    enum feed_slot *state; /* under par.mu */
    size_t nb;
    bool eof;              /* the reader is done (end of stream or failure) */
    bool failed;
    struct mms_err err;
    bool started;
    pthread_t th;
};

struct par {
    struct run *r; /* read-only in the streams: sops, dops, schemas, limiters, casts */
    size_t rows, bytes; /* batch caps */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t running;
    bool cancel;
    int64_t nrows, nbytes, throttled_ms, casts_done; /* under mu */
    struct feed *feed; /* fan-out mode; NULL when every stream has its own reader */
};

static bool par_cancelled(struct par *p)
{
    pthread_mutex_lock(&p->mu);
    bool c = p->cancel;
    pthread_mutex_unlock(&p->mu);
    return c;
}

/* A stream's share of the rate limits (the limiters are thread-safe and shared): sleeps in
 * short slices, giving up when the copy is cancelled. */
static bool stream_throttle(struct par *p, int64_t rows, int64_t bytes)
{
    struct run *r = p->r;
    if (!r->task_lim && !r->src_lim)
        return true;
    int64_t wait_ns = limiter_reserve2(r->task_lim, r->src_lim, rows, bytes);
    int64_t t0 = time_mono_ms(), deadline = t0 + (wait_ns + 999999) / 1000000;
    while (wait_ns > 0 && time_mono_ms() < deadline) {
        if (par_cancelled(p))
            return false;
        int64_t ms = deadline - time_mono_ms();
        ms = ms > THROTTLE_SLICE_MS ? THROTTLE_SLICE_MS : ms < 1 ? 1 : ms;
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&p->mu);
    p->throttled_ms += time_mono_ms() - t0;
    pthread_mutex_unlock(&p->mu);
    return true;
}

static void stream_raw(struct stream *st)
{
    struct par *p = st->par;
    struct run *r = p->r;
    for (;;) {
        int64_t n = 0, nb = 0;
        if (par_cancelled(p))
            break;
        if (r->sops->raw_next(st->rd, p->rows, p->bytes, &n, &nb, &st->err) < 0) {
            st->failed = true;
            break;
        }
        if (n == 0)
            break;
        if (!stream_throttle(p, n, nb))
            break;
        pthread_mutex_lock(&p->mu);
        p->nrows += n;
        p->nbytes += nb;
        pthread_mutex_unlock(&p->mu);
    }
}

/* Takes a batch of the pool in state `want` (marking it busy), waiting for one. Returns its
 * index, or f->nb when the copy is cancelled, or (when the reader is done and until_eof) when
 * no such batch is left. */
static size_t feed_take(struct par *p, enum feed_slot want, bool until_eof)
{
    struct feed *f = p->feed;
    size_t i;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        for (i = 0; i < f->nb && f->state[i] != want; i++)
            ;
        if (p->cancel) {
            i = f->nb;
            break;
        }
        if (i < f->nb || (until_eof && f->eof))
            break;
        pthread_cond_wait(&p->cv, &p->mu);
    }
    if (i < f->nb)
        f->state[i] = FEED_BUSY;
    pthread_mutex_unlock(&p->mu);
    return i;
}

static void *feed_main(void *arg)
{
    struct par *p = arg;
    struct feed *f = p->feed;
    struct run *r = p->r;
    for (;;) {
        size_t i = feed_take(p, FEED_FREE, false);
        if (i == f->nb)
            break;
        struct mms_err err = {0};
        int rc = r->sops->read_next(f->rd, &f->b[i], &err);
        size_t changed = rc == 0 && (r->casts & CAST_ENGINE_BITS) ? cast_apply(r->casts, &f->b[i])
                                                                  : 0;
        bool last = rc < 0 || f->b[i].nrows == 0;
        pthread_mutex_lock(&p->mu);
        f->state[i] = last ? FEED_FREE : FEED_FULL;
        p->casts_done += (int64_t)changed;
        if (rc < 0) {
            f->failed = true;
            f->err = err;
            p->cancel = true;
        }
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (last)
            break;
    }
    pthread_mutex_lock(&p->mu);
    f->eof = true;
    p->running--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* A writer of the fan-out: writes full batches of the pool until the reader is done. */
static void stream_fed(struct stream *st)
{
    struct par *p = st->par;
    struct feed *f = p->feed;
    struct run *r = p->r;
    for (;;) {
        size_t i = feed_take(p, FEED_FULL, true);
        if (i == f->nb)
            break;
        struct rowbatch *b = &f->b[i];
        int64_t n = (int64_t)rowbatch_bytes_used(b);
        bool ok = stream_throttle(p, (int64_t)b->nrows, n);
        if (ok && r->dops->write_batch(st->wr, b, &st->err) < 0) {
            st->failed = true;
            ok = false;
        }
        pthread_mutex_lock(&p->mu);
        if (ok) {
            p->nrows += (int64_t)b->nrows;
            p->nbytes += n;
        }
        f->state[i] = FEED_FREE;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (!ok)
            break;
    }
}

static void *stream_main(void *arg)
{
    struct stream *st = arg;
    struct par *p = st->par;
    struct run *r = p->r;
    struct pipe pipe;
    if (st->raw) {
        stream_raw(st);
        goto done;
    }
    if (p->feed) {
        stream_fed(st);
        goto done;
    }
    pipe_start(&pipe, r->sops, st->rd, r->sschema.ncols, p->rows, p->bytes);
    for (;;) {
        struct rowbatch *b;
        if (par_cancelled(p))
            break;
        if (pipe_next(&pipe, &b, &st->err) < 0) {
            st->failed = true;
            break;
        }
        if (b->nrows == 0)
            break;
        size_t changed = r->casts & CAST_ENGINE_BITS ? cast_apply(r->casts, b) : 0;
        int64_t n = (int64_t)rowbatch_bytes_used(b);
        if (!stream_throttle(p, (int64_t)b->nrows, n))
            break;
        if (r->dops->write_batch(st->wr, b, &st->err) < 0) {
            st->failed = true;
            break;
        }
        pthread_mutex_lock(&p->mu);
        p->nrows += (int64_t)b->nrows;
        p->nbytes += n;
        p->casts_done += (int64_t)changed;
        pthread_mutex_unlock(&p->mu);
    }
    pipe_stop(&pipe);
done:
    pthread_mutex_lock(&p->mu);
    if (st->failed)
        p->cancel = true; /* one failure ends the copy: stop the others early */
    p->running--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Counts rows just written, heartbeats, and reports progress once a second. */
static enum run_rc copied(struct run *r, int64_t rows, int64_t bytes, int64_t *last_progress_ms)
{
    r->rows_done += rows;
    r->bytes_done += bytes;
    enum run_rc rc = run_beat(r);
    int64_t now = time_mono_ms();
    if (rc == RUN_OK && now - *last_progress_ms >= PROGRESS_EVERY_MS) {
        *last_progress_ms = now;
        rc = run_progress(r);
    }
    return rc;
}

/* Rows can go from source to destination in the connector's own format (conn.h raw_open):
 * the same connector at both ends and no value to change or add. */
static bool raw_possible(const struct run *r)
{
    return r->sops == r->dops && r->sops->raw_open && r->sops->raw_next &&
           !(r->casts & CAST_ENGINE_BITS) && r->nxkeys == 0;
}

/* Opens the reader of one unit (or slice): raw into w when the connectors can, else an
 * ordinary reader. *raw says which. 0 or -1 with r->err (or *err for a stream). */
static int open_reader(struct run *r, const char *part, const struct conn_slice *slice,
                       struct conn_writer *w, struct conn_reader **out, bool *raw,
                       struct mms_err *err)
{
    *raw = false;
    if (raw_possible(r)) {
        int rc = r->sops->raw_open(r->src, r->t.src_db, r->t.src_table, part, &r->sschema, slice,
                                   w, out, err);
        if (rc <= 0) {
            *raw = rc == 0;
            return rc;
        }
    }
    return slice ? r->sops->read_open_slice(r->src, r->t.src_db, r->t.src_table, part,
                                            &r->sschema, slice, out, err)
                 : r->sops->read_open(r->src, r->t.src_db, r->t.src_table, part, &r->sschema,
                                      out, err);
}

/* How many streams for this unit: 1 unless both connectors can split, the table has no key
 * columns filled in by the runner, and the catalog says it is large enough. */
static int64_t streams_for(const struct run *r)
{
    if (r->streams < 2 || !r->sops->key_range || !r->sops->read_open_slice ||
        !r->dops->write_join || r->nxkeys)
        return 1;
    int64_t units = r->t.nparts ? (int64_t)r->t.nparts : 1;
    if (r->t.rows_total / units < r->w->cfg->copy_streams_min_rows)
        return 1;
    return r->streams;
}

/* floor(span * i / n) without overflow for any 64-bit span (i <= n <= 16). */
static uint64_t range_at(uint64_t span, size_t i, size_t n)
{
    return span / n * i + span % n * i / n;
}

/* How many writers a fan-out uses for this unit: 1 unless the destination can join writers,
 * the rows need no key columns appended, and the catalog says the unit is large enough. */
static int64_t writers_for(const struct run *r)
{
    if (r->writers < 2 || !r->dops->write_join || r->nxkeys)
        return 1;
    int64_t units = r->t.nparts ? (int64_t)r->t.nparts : 1;
    if (r->t.rows_total / units < r->w->cfg->write_streams_min_rows)
        return 1;
    return r->writers;
}

/* The key ranges of a parallel copy: the source's key and its [kmin, kmax] (span keys); *n is
 * lowered to the number of keys when there are fewer. *declined (RUN_OK) when the source
 * cannot split this unit; *key is then NULL. */
static enum run_rc plan_slices(struct run *r, const char *part, char **key, int64_t *kmin,
                               int64_t *kmax, uint64_t *span, size_t *n, bool *declined)
{
    struct keeper k;
    keeper_start(&k, r);
    int krc = r->sops->key_range(r->src, r->t.src_db, r->t.src_table, part, &r->sschema, key,
                                 kmin, kmax, &r->err);
    enum run_rc rc = keeper_stop(&k);
    if (rc == RUN_OK && krc < 0)
        rc = RUN_FAIL;
    if (rc == RUN_OK && (krc > 0 || *kmax < *kmin))
        *declined = true;
    if (rc != RUN_OK || *declined) {
        free(*key);
        *key = NULL;
        return rc;
    }
    /* Equal ranges of the key space; never more streams than keys. */
    *span = (uint64_t)*kmax - (uint64_t)*kmin + 1;
    if (*span < *n)
        *n = (size_t)*span;
    return RUN_OK;
}

/* Copies one unit in parallel. *declined = true (and RUN_OK, nothing done) when the source
 * cannot split this table after all (no key, too small): the caller copies it as one stream. */
static enum run_rc copy_parallel(struct run *r, const char *part, const char *dst_part,
                                 size_t rows, int64_t *last_progress_ms, struct buf *what,
                                 bool fanout, bool *declined)
{
    char *key = NULL;
    int64_t kmin = 0, kmax = 0;
    int64_t want = fanout ? writers_for(r) : streams_for(r);
    enum run_rc rc = RUN_FAIL;
    struct stream st[16];
    size_t n = 0, opened_w = 0, opened_r = 0;
    struct conn_writer *primary = NULL;
    struct par p = {.r = r, .rows = rows, .bytes = batch_bytes_for(r)};
    struct feed feed = {0};
    uint64_t span = 0;
    bool threads = false;
    int64_t t0 = time_mono_ms();
    int64_t base_rows = r->rows_done, base_bytes = r->bytes_done;

    *declined = false;
    memset(st, 0, sizeof st);
    struct keeper k;
    n = (size_t)want > sizeof st / sizeof st[0] ? sizeof st / sizeof st[0] : (size_t)want;
    if (!fanout) {
        rc = plan_slices(r, part, &key, &kmin, &kmax, &span, &n, declined);
        if (rc != RUN_OK || *declined)
            return rc;
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);

    rc = RUN_FAIL;
    if (r->dops->write_begin(r->dst, &r->target, dst_part, &r->dschema, &primary, &r->err) < 0) {
        primary = NULL;
        goto out;
    }
    st[0].wr = primary;
    for (opened_w = 1; opened_w < n; opened_w++)
        if (r->dops->write_join(primary, &st[opened_w].wr, &r->err) < 0)
            goto out;
    if (fanout) { /* one reader feeding every writer */
        if (r->sops->read_open(r->src, r->t.src_db, r->t.src_table, part, &r->sschema, &feed.rd,
                               &r->err) < 0) {
            feed.rd = NULL;
            goto out;
        }
        feed.nb = n + 2; /* every writer busy and the reader still a batch ahead */
        feed.b = xcalloc(feed.nb, sizeof *feed.b);
        feed.state = xcalloc(feed.nb, sizeof *feed.state);
        for (size_t i = 0; i < feed.nb; i++)
            rowbatch_init(&feed.b[i], r->sschema.ncols, rows, p.bytes);
        p.feed = &feed;
        opened_r = n; /* no reader of their own */
    }
    for (; opened_r < n; opened_r++) {
        /* [lo, hi): the first range open below, the last open above */
        struct conn_slice sl = {
            .key = key,
            .has_lo = opened_r > 0,
            .has_hi = opened_r + 1 < n,
            .lo = kmin + (int64_t)range_at(span, opened_r, n),
            .hi = kmin + (int64_t)range_at(span, opened_r + 1, n),
        };
        if (open_reader(r, part, &sl, st[opened_r].wr, &st[opened_r].rd, &st[opened_r].raw,
                        &r->err) < 0) {
            st[opened_r].rd = NULL;
            goto out;
        }
    }
    struct conn_reader *rd0 = fanout ? feed.rd : st[0].rd;
    const char *rsql = r->sops->reader_sql ? r->sops->reader_sql(rd0) : NULL;
    const char *wsql = r->dops->writer_sql ? r->dops->writer_sql(primary) : NULL;
    if (fanout)
        buf_printf(what, " with %zu parallel writers fed by one reader", n);
    else
        buf_printf(what, " in %zu parallel streams by ranges of %s in [%" PRId64 ", %" PRId64 "]%s",
                   n, key, kmin, kmax,
                   st[0].raw ? ", rows passed through in the connector's binary format" : "");
    if (rsql)
        buf_printf(what, fanout ? "; source: %s" : "; source (first range): %s", rsql);
    if (wsql)
        buf_printf(what, "; destination: %s", wsql);
    set_action(r, "%s", buf_str(what));

    p.running = n;
    threads = true;
    if (fanout) {
        p.running++;
        feed.started = pthread_create(&feed.th, NULL, feed_main, &p) == 0;
        if (!feed.started) {
            snprintf(feed.err.code, sizeof feed.err.code, "InternalError");
            snprintf(feed.err.msg, sizeof feed.err.msg, "cannot start the reader thread");
            feed.failed = feed.eof = p.cancel = true;
            p.running--;
        }
    }
    for (size_t i = 0; i < n; i++) {
        st[i].par = &p;
        st[i].started = pthread_create(&st[i].th, NULL, stream_main, &st[i]) == 0;
        if (!st[i].started) {
            snprintf(st[i].err.code, sizeof st[i].err.code, "InternalError");
            snprintf(st[i].err.msg, sizeof st[i].err.msg, "cannot start a copy thread");
            st[i].failed = true;
            pthread_mutex_lock(&p.mu);
            p.cancel = true;
            p.running--;
            pthread_mutex_unlock(&p.mu);
        }
    }
    /* The task's thread: heartbeats and progress until every stream has ended. */
    rc = RUN_OK;
    pthread_mutex_lock(&p.mu);
    while (p.running > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p.cv, &p.mu, &ts);
        r->rows_done = base_rows + p.nrows;
        r->bytes_done = base_bytes + p.nbytes;
        pthread_mutex_unlock(&p.mu);
        enum run_rc brc = rc == RUN_OK ? run_beat(r) : RUN_OK;
        int64_t now = time_mono_ms();
        if (brc == RUN_OK && rc == RUN_OK && now - *last_progress_ms >= PROGRESS_EVERY_MS) {
            *last_progress_ms = now;
            brc = run_progress(r);
        }
        pthread_mutex_lock(&p.mu);
        if (brc != RUN_OK && rc == RUN_OK) {
            rc = brc; /* stop or lost lease: cancel every stream */
            p.cancel = true;
        }
    }
    r->rows_done = base_rows + p.nrows;
    r->bytes_done = base_bytes + p.nbytes;
    r->throttled_ms += p.throttled_ms;
    r->casts_done += p.casts_done;
    pthread_mutex_unlock(&p.mu);
    for (size_t i = 0; i < n; i++)
        if (st[i].started)
            pthread_join(st[i].th, NULL);
    if (feed.started)
        pthread_join(feed.th, NULL);
    feed.started = false;
    threads = false;
    if (rc == RUN_OK && feed.failed) {
        r->err = feed.err;
        rc = RUN_FAIL;
    }
    for (size_t i = 0; i < n && rc == RUN_OK; i++)
        if (st[i].failed) {
            r->err = st[i].err;
            rc = RUN_FAIL;
        }
    if (rc != RUN_OK)
        goto out;

    /* Every stream read to its end: finish the joined streams, then swap in the staging. */
    for (size_t i = 0; i < n; i++) {
        if (st[i].rd)
            r->sops->read_close(st[i].rd);
        st[i].rd = NULL;
    }
    if (feed.rd)
        r->sops->read_close(feed.rd);
    feed.rd = NULL;
    keeper_start(&k, r);
    int crc = 0;
    for (size_t i = 1; i < n && crc == 0; i++) {
        struct conn_writer *w = st[i].wr; /* commit ends it whatever the outcome */
        st[i].wr = NULL;
        crc = r->dops->write_commit(w, &r->err);
    }
    if (crc == 0) {
        st[0].wr = NULL;
        crc = r->dops->write_commit(primary, &r->err);
    }
    rc = keeper_stop(&k) == RUN_LOST ? RUN_LOST : crc < 0 ? RUN_FAIL : RUN_OK;
    if (rc == RUN_OK)
        rc = run_progress(r);
    if (rc == RUN_OK) {
        struct buf msg;
        buf_init(&msg, BUF_NO_LIMIT);
        rate_msg(&msg, r->rows_done - base_rows, r->bytes_done - base_bytes, time_mono_ms() - t0);
        log_info("%s: %s", buf_str(what), buf_str(&msg));
        rc = run_write(r, NULL, buf_str(what), buf_str(&msg));
        buf_release(&msg);
    }
out:
    if (threads) { /* left early: cancel and join what runs */
        pthread_mutex_lock(&p.mu);
        p.cancel = true;
        pthread_mutex_unlock(&p.mu);
        for (size_t i = 0; i < n; i++)
            if (st[i].started)
                pthread_join(st[i].th, NULL);
        if (feed.started)
            pthread_join(feed.th, NULL);
    }
    for (size_t i = 0; i < n; i++)
        if (st[i].rd)
            r->sops->read_close(st[i].rd);
    if (feed.rd)
        r->sops->read_close(feed.rd);
    for (size_t i = 0; i < feed.nb; i++)
        rowbatch_release(&feed.b[i]);
    free(feed.b);
    free(feed.state);
    /* The joined streams end before the primary drops the staging (it would wait for them). */
    for (size_t i = 1; i < n; i++)
        if (st[i].wr)
            r->dops->write_abort(st[i].wr);
    if (st[0].wr)
        r->dops->write_abort(st[0].wr);
    if (n) {
        pthread_mutex_destroy(&p.mu);
        pthread_cond_destroy(&p.cv);
    }
    free(key);
    return rc;
}

/* Copies one table or partition with an atomic replace at the destination, reading ahead on
 * a second thread. Logs the outcome. */
static enum run_rc copy_unit(struct run *r, const char *part, const char *dst_part, size_t rows,
                             int64_t *last_progress_ms)
{
    struct conn_writer *wr = NULL;
    struct conn_reader *rd = NULL;
    struct pipe pipe;
    bool piped = false;
    enum run_rc rc = RUN_FAIL;
    int64_t nrows = 0, nbytes = 0, t0 = time_mono_ms();
    struct buf what;
    struct keyvals kv;
    struct rowbatch wide;
    bool widened = false;

    buf_init(&what, BUF_NO_LIMIT);
    buf_adds(&what, "copy ");
    name_src(&what, r, part);
    buf_adds(&what, " -> ");
    name_dst(&what, r, dst_part);
    set_action(r, "%s", buf_str(&what));

    if (streams_for(r) > 1) {
        bool declined = false;
        rc = copy_parallel(r, part, dst_part, rows, last_progress_ms, &what, false, &declined);
        if (!declined) {
            buf_release(&what);
            return rc;
        }
    }
    /* Raw copy (one stream, no conversion) beats several writers converting values. */
    if (!raw_possible(r) && writers_for(r) > 1) {
        bool declined = false;
        rc = copy_parallel(r, part, dst_part, rows, last_progress_ms, &what, true, &declined);
        buf_release(&what);
        return rc;
    }
    if ((rc = keyvals_parse(r, part, &kv)) != RUN_OK)
        goto out;
    rc = RUN_FAIL;
    if (r->nxkeys) { /* rows get the partition's key values appended */
        rowbatch_init(&wide, r->dschema.ncols, rows, batch_bytes_for(r));
        widened = true;
    }
    if (r->dops->write_begin(r->dst, &r->target, dst_part, &r->dschema, &wr, &r->err) < 0) {
        wr = NULL;
        goto out;
    }
    bool raw = false;
    if (open_reader(r, part, NULL, wr, &rd, &raw, &r->err) < 0) {
        rd = NULL;
        goto out;
    }
    /* The log shows the statements that move the rows, when the connectors can say. */
    const char *rsql = r->sops->reader_sql ? r->sops->reader_sql(rd) : NULL;
    const char *wsql = r->dops->writer_sql ? r->dops->writer_sql(wr) : NULL;
    if (rsql)
        buf_printf(&what, "; source: %s", rsql);
    if (wsql)
        buf_printf(&what, "; destination: %s", wsql);
    if (raw)
        buf_adds(&what, "; rows passed through in the connector's binary format");
    set_action(r, "%s", buf_str(&what));
    while (raw) { /* no values: the reader moves rows straight into the writer */
        int64_t n = 0, nb = 0;
        if (r->sops->raw_next(rd, rows, batch_bytes_for(r), &n, &nb, &r->err) < 0)
            goto out;
        if (n == 0)
            break;
        if ((rc = run_throttle(r, n, nb)) != RUN_OK || (rc = copied(r, n, nb, last_progress_ms)) !=
                                                           RUN_OK)
            goto out;
        nrows += n;
        nbytes += nb;
        rc = RUN_FAIL;
    }
    if (!raw) {
        pipe_start(&pipe, r->sops, rd, r->sschema.ncols, rows, batch_bytes_for(r));
        piped = true;
    }
    for (; !raw;) {
        struct rowbatch *b;
        if (pipe_next(&pipe, &b, &r->err) < 0)
            goto out;
        if (b->nrows == 0)
            break;
        if (r->casts & CAST_ENGINE_BITS)
            r->casts_done += (int64_t)cast_apply(r->casts, b);
        int64_t n = (int64_t)rowbatch_bytes_used(b);
        if ((rc = run_throttle(r, (int64_t)b->nrows, n)) != RUN_OK)
            goto out;
        rc = RUN_FAIL;
        if (widened)
            widen_batch(b, &kv, &wide);
        if (r->dops->write_batch(wr, widened ? &wide : b, &r->err) < 0)
            goto out;
        nrows += (int64_t)b->nrows;
        nbytes += n;
        if ((rc = copied(r, (int64_t)b->nrows, n, last_progress_ms)) != RUN_OK)
            goto out;
        rc = RUN_FAIL;
    }
    if (piped)
        pipe_stop(&pipe);
    piped = false;
    r->sops->read_close(rd);
    rd = NULL;
    /* write_commit ends the writer whatever the outcome. */
    struct conn_writer *commit = wr;
    wr = NULL;
    struct keeper k;
    keeper_start(&k, r);
    int crc = r->dops->write_commit(commit, &r->err);
    /* Committed: a stop seen meanwhile is seen again at the next beat; only a lost lease ends
     * the run here. */
    if (keeper_stop(&k) == RUN_LOST) {
        rc = RUN_LOST;
        goto out;
    }
    if (crc < 0)
        goto out;
    if ((rc = run_progress(r)) != RUN_OK)
        goto out;

    int64_t ms = time_mono_ms() - t0;
    struct buf msg;
    buf_init(&msg, BUF_NO_LIMIT);
    rate_msg(&msg, nrows, nbytes, ms);
    log_info("%s: %s", buf_str(&what), buf_str(&msg));
    rc = run_write(r, NULL, buf_str(&what), buf_str(&msg));
    buf_release(&msg);
out:
    if (piped)
        pipe_stop(&pipe);
    if (rd)
        r->sops->read_close(rd);
    if (wr)
        r->dops->write_abort(wr); /* drops the staging: the destination keeps its old copy */
    if (widened)
        rowbatch_release(&wide);
    keyvals_release(&kv);
    buf_release(&what);
    return rc;
}

/* The smallest positive of a and b (0 = none). */
static int64_t min_pos(int64_t a, int64_t b)
{
    return a <= 0 ? b : b <= 0 ? a : a < b ? a : b;
}

/* Bytes per batch: the configured cap, lowered under a bytes/s limit to 1/20 of a second's
 * worth (limiter.h: the 10% bound needs batches that small). */
static size_t batch_bytes_for(const struct run *r)
{
    int64_t cap = min_pos(limiter_chunk_bytes(r->task_lim), limiter_chunk_bytes(r->src_lim));
    int64_t bytes = r->w->cfg->batch_bytes;
    return (size_t)(cap > 0 && cap < bytes ? cap : bytes);
}

/* Rows per batch: the configured cap, lowered under a rows/s limit to 1/20 of a second's worth,
 * and so that the value array alone stays within the byte cap however wide the table is. */
static size_t batch_rows_for(const struct run *r, size_t ncols)
{
    size_t rows = (size_t)r->w->cfg->batch_rows;
    int64_t cap = min_pos(limiter_chunk_rows(r->task_lim), limiter_chunk_rows(r->src_lim));
    if (cap > 0 && (uint64_t)cap < rows)
        rows = (size_t)cap;
    size_t per_row = (ncols ? ncols : 1) * sizeof(struct val);
    size_t fit = batch_bytes_for(r) / per_row;
    if (fit < 1)
        fit = 1;
    return rows < fit ? rows : fit;
}

static enum run_rc stage_data(struct run *r)
{
    char msg[64];
    enum run_rc rc;
    int64_t t0, last_progress;

    if (r->t.schema_only || !r->do_data)
        return run_write(r, "DATA_DONE", "copy rows",
                         r->t.schema_only ? "skipped (schema-only task: no partition to move)"
                                          : "skipped (enableDataMigration is false)");
    snprintf(msg, sizeof msg, "attempt %" PRId64, r->w->attempt);
    if ((rc = run_write(r, "DATA_DOING", "start data migration", msg)) != RUN_OK)
        return rc;
    /* Before any row is read: a rescan that flags what we copy from now on survives our DONE
     * (store_catalog_mark_task). */
    struct mms_err serr = {0};
    int snap = store_catalog_snapshot(r->w->db, r->t.id, r->w->attempt, &serr);
    if (snap != 0)
        return snap > 0 ? RUN_LOST : run_store_fail(r, &serr);
    if ((rc = run_open(r)) != RUN_OK)
        return rc;
    /* The stage is redone from its start: progress too. */
    r->rows_done = r->bytes_done = 0;
    r->throttled_ms = 0;
    r->casts_done = 0;
    if ((rc = run_progress(r)) != RUN_OK)
        return rc;

    size_t rows = batch_rows_for(r, r->sschema.ncols);
    t0 = last_progress = time_mono_ms();
    if (r->t.nparts == 0) {
        rc = copy_unit(r, NULL, NULL, rows, &last_progress);
    } else {
        for (size_t i = 0; rc == RUN_OK && i < r->t.nparts; i++)
            rc = copy_unit(r, r->t.parts[i].value, r->t.parts[i].dst_value, rows, &last_progress);
    }
    if (rc == RUN_OK) {
        struct buf m, a;
        buf_init(&m, BUF_NO_LIMIT);
        buf_init(&a, BUF_NO_LIMIT);
        buf_adds(&a, "copy ");
        name_src(&a, r, NULL);
        if (r->t.nparts)
            buf_printf(&a, " (%zu partitions)", r->t.nparts);
        buf_adds(&a, " -> ");
        name_dst(&a, r, NULL);
        rate_msg(&m, r->rows_done, r->bytes_done, time_mono_ms() - t0);
        buf_printf(&m,
                   "; memory: 2 row batches (one read ahead) per stream, of at most %zu rows or"
                   " %zu bytes each; atomic replace",
                   rows, batch_bytes_for(r));
        if (r->casts) {
            char names[128];
            cast_describe(r->casts, names, sizeof names);
            buf_printf(&m, "; casts (%s): %" PRId64 " values changed", names, r->casts_done);
        }
        if (r->task_lim || r->src_lim)
            buf_printf(&m, "; rate limited (%s), waited %.2f s", r->limits_desc,
                       (double)r->throttled_ms / 1000.0);
        rc = run_write(r, "DATA_DONE", buf_str(&a), buf_str(&m));
        buf_release(&m);
        buf_release(&a);
    }
    return rc;
}

/* ---- VERIFICATION ------------------------------------------------------------------------- */

/* Checksums a whole stream, with a heartbeat per batch (a big table takes longer than a
 * lease). */
static enum run_rc checksum_stream(struct run *r, const struct conn_ops *ops,
                                   struct conn_reader *rd, bool source, struct rowbatch *b,
                                   const struct keyvals *kv, struct rowbatch *wide,
                                   struct conn_checksum *out)
{
    checksum_init(out);
    for (;;) {
        if (ops->read_next(rd, b, &r->err) < 0)
            return RUN_FAIL;
        if (b->nrows == 0)
            return RUN_OK;
        if (source && (r->casts & CAST_ENGINE_BITS)) /* hash what the copy wrote */
            cast_apply(r->casts, b);
        if (kv && wide) { /* the source's rows with the key values the destination holds */
            widen_batch(b, kv, wide);
            checksum_add_batch(out, wide);
        } else {
            checksum_add_batch(out, b);
        }
        enum run_rc rc = run_beat(r);
        if (rc != RUN_OK)
            return rc;
    }
}

static enum run_rc verify_checksum(struct run *r, struct rowbatch *b, const char *part,
                                   const char *dst_part)
{
    struct conn_reader *rd = NULL;
    struct conn_checksum cs, cd;
    char fs[80], fd[80];
    enum run_rc rc;
    struct buf what, msg;
    struct keyvals kv = {0};
    struct rowbatch wide;
    bool widened = false;

    buf_init(&what, BUF_NO_LIMIT);
    buf_init(&msg, BUF_NO_LIMIT);
    buf_adds(&what, "checksum of every row: ");
    name_src(&what, r, part);
    buf_adds(&what, " / ");
    name_dst(&what, r, dst_part);
    set_action(r, "%s", buf_str(&what));

    if ((rc = keyvals_parse(r, part, &kv)) != RUN_OK)
        goto out;
    if (r->nxkeys) {
        rowbatch_init(&wide, r->dschema.ncols, b->max_rows, b->max_bytes);
        widened = true;
    }
    rc = RUN_FAIL;
    if (r->sops->read_open(r->src, r->t.src_db, r->t.src_table, part, &r->sschema, &rd, &r->err) <
        0)
        goto out;
    rc = checksum_stream(r, r->sops, rd, true, b, widened ? &kv : NULL, widened ? &wide : NULL,
                         &cs);
    r->sops->read_close(rd);
    if (rc != RUN_OK)
        goto out;
    rc = RUN_FAIL;
    if (r->dops->read_dest_open(r->dst, &r->target, dst_part, &r->dschema, &rd, &r->err) < 0)
        goto out;
    rc = checksum_stream(r, r->dops, rd, false, widened ? &wide : b, NULL, NULL, &cd);
    r->dops->read_close(rd);
    if (rc != RUN_OK)
        goto out;
    checksum_format(&cs, fs, sizeof fs);
    checksum_format(&cd, fd, sizeof fd);
    buf_printf(&msg, "source %s, destination %s", fs, fd);
    if (cs.rows != cd.rows || cs.sum_lo != cd.sum_lo || cs.sum_hi != cd.sum_hi) {
        rc = run_failf(r, "TaskError.Verification", "checksum mismatch: %s", buf_str(&msg));
        goto out;
    }
    rc = run_write(r, NULL, buf_str(&what), buf_str(&msg));
out:
    if (widened)
        rowbatch_release(&wide);
    keyvals_release(&kv);
    buf_release(&what);
    buf_release(&msg);
    return rc;
}

static enum run_rc verify_unit(struct run *r, struct rowbatch *b, const char *part,
                               const char *dst_part)
{
    int64_t ns = 0, nd = 0;
    char *sql_s = NULL, *sql_d = NULL;
    enum run_rc rc = RUN_FAIL;
    struct buf what, msg;

    buf_init(&what, BUF_NO_LIMIT);
    buf_init(&msg, BUF_NO_LIMIT);
    buf_adds(&what, "count rows of ");
    name_src(&what, r, part);
    buf_adds(&what, " and ");
    name_dst(&what, r, dst_part);
    set_action(r, "%s", buf_str(&what));

    struct keeper k;
    keeper_start(&k, r);
    int crc = r->sops->count_source(r->src, r->t.src_db, r->t.src_table, part, &ns, &sql_s,
                                    &r->err);
    if (crc == 0)
        crc = r->dops->count_dest(r->dst, &r->target, dst_part, &nd, &sql_d, &r->err);
    if ((rc = keeper_stop(&k)) != RUN_OK)
        goto out;
    rc = RUN_FAIL;
    if (crc < 0)
        goto out;
    /* The action is the two statements that ran. */
    buf_clear(&what);
    buf_printf(&what, "%s; %s", sql_s ? sql_s : "count source", sql_d ? sql_d : "count dest");
    set_action(r, "%s", buf_str(&what));
    buf_printf(&msg, "source %" PRId64 " rows, destination %" PRId64 " rows", ns, nd);
    if (ns != nd) {
        rc = run_failf(r, "TaskError.Verification", "row count mismatch: %s", buf_str(&msg));
        goto out;
    }
    if ((rc = run_write(r, NULL, buf_str(&what), buf_str(&msg))) != RUN_OK)
        goto out;
    if ((rc = run_beat(r)) != RUN_OK)
        goto out;
    if (r->checksum)
        rc = verify_checksum(r, b, part, dst_part);
out:
    free(sql_s);
    free(sql_d);
    buf_release(&what);
    buf_release(&msg);
    return rc;
}

static enum run_rc stage_verify(struct run *r)
{
    enum run_rc rc;
    struct rowbatch b;
    bool batch = false;
    const char *what;

    if (!r->do_verify)
        return run_write(r, "VERIFICATION_DONE", "verify", "skipped (enableVerification is false)");
    if (r->t.schema_only)
        return run_write(r, "VERIFICATION_DONE", "verify",
                         "skipped (schema-only task: no rows were moved)");
    what = r->checksum ? "row counts and checksums of every row" : "row counts";
    if ((rc = run_write(r, "VERIFICATION_DOING", "start verification", what)) != RUN_OK)
        return rc;
    if ((rc = run_open(r)) != RUN_OK)
        return rc;
    if (r->checksum) {
        rowbatch_init(&b, r->sschema.ncols, batch_rows_for(r, r->sschema.ncols),
                      (size_t)r->w->cfg->batch_bytes);
        batch = true;
    }
    if (r->t.nparts == 0) {
        rc = verify_unit(r, batch ? &b : NULL, NULL, NULL);
    } else {
        for (size_t i = 0; rc == RUN_OK && i < r->t.nparts; i++)
            rc = verify_unit(r, batch ? &b : NULL, r->t.parts[i].value, r->t.parts[i].dst_value);
    }
    if (rc == RUN_OK) {
        char msg[128];
        if (r->t.nparts)
            snprintf(msg, sizeof msg, "ok: %s match in %zu partitions", what, r->t.nparts);
        else
            snprintf(msg, sizeof msg, "ok: %s match", what);
        rc = run_write(r, "VERIFICATION_DONE", "verify", msg);
    }
    if (batch)
        rowbatch_release(&b);
    return rc;
}

/* ---- ends of a run ------------------------------------------------------------------------ */

static void run_done(struct run *r)
{
    struct mms_err err = {0};
    enum run_rc rc = run_finish(r, "DONE", NULL, "finish task", "ok", "DONE", &err);
    if (rc == RUN_LOST)
        return;
    if (rc != RUN_OK) {
        log_error("cannot record the end of the task: %s", err.msg);
        work_release(r->w); /* a later claim finds VERIFICATION_DONE and finishes */
        return;
    }
    log_info("task done");
}

static void run_failed(struct run *r, enum task_stage stage)
{
    const char *status = task_stage_failed(stage);
    struct mms_err err = {0};
    const char *msg = r->err.msg[0] ? r->err.msg : "failed";
    log_warn("%s: %s: %s", status, r->action ? r->action : "", msg);
    enum run_rc rc =
        run_finish(r, status, msg, r->action ? r->action : "run task", msg, "FAILED", &err);
    if (rc == RUN_LOST)
        return;
    if (rc != RUN_OK) {
        log_error("cannot record the failure of the task: %s", err.msg);
        work_release(r->w);
    }
}

static void run_stopped(struct run *r)
{
    bool shutdown = engine_stopping(r->w->eng);
    char msg[200];
    bool doing = strstr(r->status, "_DOING") != NULL;
    bool copying = strcmp(r->status, "DATA_DOING") == 0;
    int n = snprintf(msg, sizeof msg, "stopped at a safe point (%s)",
                     shutdown ? "mmsd is shutting down" : "the task was stopped");
    if (copying)
        n += snprintf(msg + n, sizeof msg - (size_t)n, " after %" PRId64 " rows", r->rows_done);
    snprintf(msg + n, sizeof msg - (size_t)n, "; status stays %s, resumed %s", r->status,
             doing ? "from the start of this stage" : "from the next stage");
    log_info("%s", msg);
    /* rows_done shows how far the copy got (the stage restarts from 0 when resumed). */
    if ((copying && run_progress(r) == RUN_LOST) || run_write(r, NULL, "stop", msg) == RUN_LOST)
        return;
    work_release(r->w);
}

/* Automatic retry after a transient failure (engine/retry.h) in one transaction: the status
 * goes back to the start of the failed stage (SCHEMA -> INIT, DATA -> SCHEMA_DONE,
 * VERIFICATION -> DATA_DONE), retried_times + 1, next_attempt_at = now + backoff, a log row.
 * Returns false when the budget is spent (the caller then fails the task). */
static bool run_retry(struct run *r, enum task_stage stage)
{
    struct db *db = r->w->db;
    struct mms_err err = {0};
    int64_t n = r->t.retry_count + 1;
    int64_t now = time_now_ms();
    int64_t first = r->t.first_failure_ms > 0 ? r->t.first_failure_ms : now;
    const char *msg = r->err.msg[0] ? r->err.msg : "failed";

    if (!retry_allowed(&r->retry, n, first, now)) {
        if (r->t.retry_count > 0) {
            char tail[256];
            snprintf(tail, sizeof tail,
                     " [transient error; gave up after %" PRId64 " automatic retries over %" PRId64
                     " s: others.maxRetries = %" PRId64 ", others.retryBudgetSeconds = %" PRId64
                     "]",
                     r->t.retry_count, (now - first) / 1000, r->retry.max_retries,
                     r->retry.budget_ms / 1000);
            size_t len = strlen(r->err.msg);
            if (len + strlen(tail) >= sizeof r->err.msg)
                len = sizeof r->err.msg - strlen(tail) - 1;
            snprintf(r->err.msg + len, sizeof r->err.msg - len, "%s", tail);
        }
        return false;
    }
    /* Jitter from the clock and the task: tasks failing together do not come back together. */
    uint64_t x = (uint64_t)time_mono_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)r->t.id << 20 ^
                 (uint64_t)r->w->attempt;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 29;
    int64_t delay = retry_backoff_ms(n, x);
    const char *to = stage == STAGE_SCHEMA ? "INIT" : task_stage_done((enum task_stage)(stage - 1));
    char line[sizeof r->err.msg + 96];
    snprintf(line, sizeof line, "transient failure, retry %" PRId64 " of %" PRId64 " in %.0f s: %s",
             n, r->retry.max_retries, (double)delay / 1000.0, msg);
    log_warn("%s: %s", r->action ? r->action : "", line);

    int rc = db_begin(db, &err) < 0 ? -1 : 0;
    if (rc == 0)
        rc = store_taskrun_retry(db, r->t.id, r->w->attempt, to, msg, first, now + delay, &err);
    if (rc == 0)
        rc = store_tasklog_add(db, r->t.source_id, r->t.id, r->status,
                               r->action ? r->action : "run task", line, &err);
    if (rc == 0)
        rc = store_job_refresh(db, r->t.job_id, &err) < 0 ? -1 : 0;
    if (rc == 0)
        rc = db_commit(db, &err) < 0 ? -1 : 0;
    if (rc != 0) {
        db_rollback(db);
        if (rc < 0) { /* the retry could not be recorded: give the row back as it is */
            log_error("cannot record the retry of the task: %s", err.msg);
            work_release(r->w);
        }
        return true; /* rc > 0: the lease was lost, write nothing more */
    }
    return true;
}

/* Reads a non-negative integer limit from a JSON object; 0 when absent or null. */
static int limit_get(json_t *obj, const char *key, const char *where, int64_t *out,
                     struct mms_err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return mms_err_set(err, 400, "TaskError.Config",
                           "%s%s must be a non-negative integer (0 = no limit)", where, key);
    *out = json_integer_value(v);
    return 0;
}

/* The rate limits: the data source's (config limit.*, a limiter shared by all its tasks in this
 * process) and the task's own (job others.rowsPerSecond / bytesPerSecond). */
static enum run_rc run_limits(struct run *r)
{
    json_t *others = json_object_get(r->jobcfg, "others");
    int64_t srows, sbytes, trows, tbytes;
    set_action(r, "read the rate limits");
    if (limit_get(r->dscfg, "limit.rowsPerSecond", "data source config item ", &srows, &r->err) <
            0 ||
        limit_get(r->dscfg, "limit.bytesPerSecond", "data source config item ", &sbytes, &r->err) <
            0 ||
        limit_get(others, "rowsPerSecond", "others.", &trows, &r->err) < 0 ||
        limit_get(others, "bytesPerSecond", "others.", &tbytes, &r->err) < 0)
        return RUN_FAIL;
    if (srows || sbytes)
        r->src_lim = limiter_source_get(r->t.source_id, srows, sbytes);
    if (trows || tbytes)
        r->task_lim = limiter_new(trows, tbytes, NULL);
    int n = 0;
    size_t cap = sizeof r->limits_desc;
    r->limits_desc[0] = '\0';
    if (srows)
        n += snprintf(r->limits_desc + n, cap - (size_t)n, "source %" PRId64 " rows/s", srows);
    if (sbytes && (size_t)n < cap)
        n += snprintf(r->limits_desc + n, cap - (size_t)n, "%ssource %" PRId64 " bytes/s",
                      n ? ", " : "", sbytes);
    if (trows && (size_t)n < cap)
        n += snprintf(r->limits_desc + n, cap - (size_t)n, "%stask %" PRId64 " rows/s",
                      n ? ", " : "", trows);
    if (tbytes && (size_t)n < cap)
        snprintf(r->limits_desc + n, cap - (size_t)n, "%stask %" PRId64 " bytes/s", n ? ", " : "",
                 tbytes);
    return RUN_OK;
}

/* ---- entry point -------------------------------------------------------------------------- */

static enum run_rc run_config(struct run *r)
{
    json_error_t jerr;
    set_action(r, "read the job and data source configuration");
    r->jobcfg = json_loads(r->t.job_config ? r->t.job_config : "{}", 0, &jerr);
    if (!json_is_object(r->jobcfg))
        return run_failf(r, "TaskError.Config", "the job config is not a JSON object");
    r->dscfg = json_loads(r->t.ds_config ? r->t.ds_config : "{}", 0, &jerr);
    if (!json_is_object(r->dscfg))
        return run_failf(r, "TaskError.Config", "the data source config is not a JSON object");
    if (store_datasource_config_open(r->t.ds_type, r->dscfg, &r->err) < 0)
        return run_failf(r, "TaskError.Config", "cannot decrypt the data source's secrets: %s",
                         r->err.msg);
    r->do_schema = cfg_flag(r->jobcfg, "enableSchemaMigration");
    r->do_data = cfg_flag(r->jobcfg, "enableDataMigration") &&
                 !json_is_true(json_object_get(r->jobcfg, "schemaOnly"));
    r->do_verify = cfg_flag(r->jobcfg, "enableVerification");
    json_t *others = json_object_get(r->jobcfg, "others");
    r->verify_mode = json_string_value(json_object_get(others, "verify"));
    r->checksum = r->verify_mode && strcmp(r->verify_mode, "checksum") == 0;
    if (retry_policy_from_others(&r->retry, others, &r->err) < 0 ||
        cast_parse(others, &r->casts, &r->err) < 0)
        return RUN_FAIL;
    r->streams = r->w->cfg->copy_streams;
    r->writers = r->w->cfg->write_streams;
    struct mms_err serr = {0};
    if (job_others_streams(others, "copyStreams", &r->streams, &serr) < 0 ||
        job_others_streams(others, "writeStreams", &r->writers, &serr) < 0)
        return run_failf(r, "TaskError.Config", "%s", serr.msg);
    /* Checked before anything runs: a typo must not cost a whole copy first. */
    if (r->do_verify && r->verify_mode && !r->checksum && strcmp(r->verify_mode, "count") != 0)
        return run_failf(r, "TaskError.Config",
                         "others.verify must be \"count\" or \"checksum\", not \"%s\"",
                         r->verify_mode);

    r->target.project = r->t.dst_db && r->t.dst_db[0]
                            ? r->t.dst_db
                            : json_string_value(json_object_get(r->dscfg, "dst.project"));
    r->target.schema = r->t.dst_schema;
    r->target.table = r->t.dst_table && r->t.dst_table[0] ? r->t.dst_table : r->t.src_table;
    if (!r->t.src_table || !r->t.src_table[0])
        return run_failf(r, "TaskError.Config", "the task names no source table");
    struct buf b;
    buf_init(&b, BUF_NO_LIMIT);
    name_add(&b, r->t.src_table, true);
    r->qtable = buf_detach(&b, NULL);
    return run_limits(r);
}

void exec_task(struct work *w)
{
    struct run r = {.w = w};
    struct mms_err err = {0};
    r.retry = (struct retry_policy){.max_retries = RETRY_DEFAULT_MAX,
                                    .budget_ms = RETRY_DEFAULT_BUDGET_S * 1000};
    enum task_stage stage;
    enum run_rc rc;

    int lrc = store_taskrun_load(w->db, w->id, w->attempt, &r.t, &err);
    if (lrc != 0) {
        if (lrc < 0) {
            log_error("cannot load the task: %s", err.msg);
            work_release(w);
        } else {
            log_warn("task gone or lease lost before it started");
        }
        return;
    }
    if (r.t.stopped) {
        log_info("task is stopped: giving it back");
        work_release(w);
        goto out;
    }
    snprintf(r.status, sizeof r.status, "%s", r.t.status);
    stage = task_status_next_stage(r.status);
    log_info("attempt %" PRId64 " from status %s", w->attempt, r.status);

    if (stage != STAGE_FINISHED) {
        mark_catalog(&r, "DOING");
        refresh_job(&r);
    }
    rc = stage != STAGE_FINISHED ? run_config(&r) : RUN_OK;
    while (rc == RUN_OK && stage != STAGE_FINISHED) {
        switch (stage) {
        case STAGE_SCHEMA:
            rc = stage_schema(&r);
            break;
        case STAGE_DATA:
            rc = stage_data(&r);
            break;
        case STAGE_VERIFY:
            rc = stage_verify(&r);
            break;
        case STAGE_FINISHED:
            break;
        }
        if (rc != RUN_OK)
            break;
        stage = (enum task_stage)(stage + 1);
        if (stage != STAGE_FINISHED)
            rc = run_beat(&r); /* between stages is a safe point too */
    }
    switch (rc) {
    case RUN_OK:
        run_done(&r);
        break;
    case RUN_FAIL:
        if (!retry_transient(&r.err) || !run_retry(&r, stage))
            run_failed(&r, stage);
        break;
    case RUN_STOP:
        run_stopped(&r);
        break;
    case RUN_LOST:
        log_warn("lease lost: leaving the task to its new owner");
        break;
    }
out:
    if (r.src)
        r.sops->close(r.src);
    if (r.dst)
        r.dops->close(r.dst);
    conn_schema_release(&r.sschema);
    conn_schema_release(&r.dschema);
    free(r.xkeys);
    json_decref(r.jobcfg);
    json_decref(r.dscfg);
    limiter_free(r.task_lim);
    limiter_source_put(r.src_lim);
    free(r.action);
    free(r.qtable);
    taskrun_release(&r.t);
}
