/* exec_scan: one metadata scan (CreateMmsFetchMetadataJob). Reads the data source's catalog
 * through its connector and brings the store's catalog up to date (store_scan.h):
 *
 *   for each db in scope:    upsert the db
 *     list its tables         (collected in memory: no store transaction stays open while the
 *                              connector works, and no connector call nests in another)
 *     for each table:         heartbeat; list its partitions (partitioned tables); then one
 *                              transaction: fenced progress, upsert table and partitions, mark
 *                              the table's vanished partitions deleted
 *     then one transaction:   mark the db's vanished tables (in scope) deleted, refresh the db's
 *                              sums and its updated flag
 *   full scans:               mark dbs that vanished deleted
 *   finish:                   SCAN_DONE with the counts, or SCAN_FAILED with the connector's
 *                              message
 *
 * Every catalog transaction starts with a progress write fenced by the attempt, so a worker
 * whose lease was taken over writes nothing. A scan is idempotent: after a restart it runs
 * again from the start (new/updated counts then cover only the last attempt).
 * progress = 10000 * (dbs done + tables done in this db / its tables) / dbs. */
#include "conn/conn.h"
#include "engine/engine.h"
#include "store/store_scan.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tinfo {
    char *name, *type, *schema;
    int64_t size, rows, ddl, mod, changes;
    bool partitioned;
};

struct pinfo {
    char *value;
    int64_t size, rows, ddl, mod, changes;
};

struct scan_run {
    struct work *w;
    struct scan scan;
    const char **names; /* sorted table-name scope (borrowed from names_json), NULL = all */
    size_t nnames;
    json_t *names_json;
    const struct conn_ops *ops;
    struct conn *c;
    enum work_beat beat; /* why listing stopped early (WORK_STOP / WORK_LOST) */
    struct mms_err err;

    char **dbs; /* dbs seen at the source, in scope */
    size_t ndbs, capdbs;
    int64_t *db_ids;    /* their catalog ids, once scanned */
    struct tinfo *tabs; /* tables of the current db */
    size_t ntabs, captabs;
    struct pinfo *parts; /* partitions of the current table */
    size_t nparts, capparts;

    int64_t seen_tables, seen_parts, nnew, nupdated, ndeleted;
};

enum { RUN_OK = 0, RUN_FAILED = -1, RUN_STOPPED = 1 };

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* 0 to go on; 1 (and r->beat) when the engine asks to stop or the lease is lost. */
static int beat(struct scan_run *r)
{
    enum work_beat b = work_heartbeat(r->w);
    if (b == WORK_GO)
        return 0;
    r->beat = b;
    return 1;
}

static void tabs_clear(struct scan_run *r)
{
    for (size_t i = 0; i < r->ntabs; i++) {
        free(r->tabs[i].name);
        free(r->tabs[i].type);
        free(r->tabs[i].schema);
    }
    r->ntabs = 0;
}

static void parts_clear(struct scan_run *r)
{
    for (size_t i = 0; i < r->nparts; i++)
        free(r->parts[i].value);
    r->nparts = 0;
}

/* ---- Connector callbacks ----------------------------------------------------------------- */

static int on_db(void *ctx, const char *name)
{
    struct scan_run *r = ctx;
    if (r->scan.db_name && strcmp(name, r->scan.db_name) != 0)
        return 0;
    if (r->ndbs == r->capdbs) {
        r->capdbs = r->capdbs ? r->capdbs * 2 : 8;
        r->dbs = xreallocarray(r->dbs, r->capdbs, sizeof *r->dbs);
    }
    r->dbs[r->ndbs++] = xstrdup(name);
    return 0;
}

static int on_table(void *ctx, const struct conn_table_info *t)
{
    struct scan_run *r = ctx;
    const char *name = t->name;
    if (r->names && !bsearch(&name, r->names, r->nnames, sizeof *r->names, cmp_str))
        return beat(r);
    if (r->ntabs == r->captabs) {
        r->captabs = r->captabs ? r->captabs * 2 : 32;
        r->tabs = xreallocarray(r->tabs, r->captabs, sizeof *r->tabs);
    }
    json_t *sj = conn_schema_to_json(&t->schema, t->name);
    char *schema = sj ? json_dumps(sj, JSON_COMPACT) : NULL;
    json_decref(sj);
    r->tabs[r->ntabs++] = (struct tinfo){
        .name = xstrdup(t->name),
        .type = t->type ? xstrdup(t->type) : NULL,
        .schema = schema,
        .size = t->size,
        .rows = t->num_rows,
        .ddl = t->last_ddl_time,
        .mod = t->last_modified,
        .changes = t->change_count,
        /* MySQL RANGE/HASH tables list partitions without key columns (moved whole) */
        .partitioned = t->schema.npcols > 0 || t->partitioned,
    };
    return beat(r);
}

static int on_part(void *ctx, const struct conn_partition_info *p)
{
    struct scan_run *r = ctx;
    if (r->nparts == r->capparts) {
        r->capparts = r->capparts ? r->capparts * 2 : 64;
        r->parts = xreallocarray(r->parts, r->capparts, sizeof *r->parts);
    }
    r->parts[r->nparts++] = (struct pinfo){
        .value = xstrdup(p->value ? p->value : ""),
        .size = p->size,
        .rows = p->num_rows,
        .ddl = p->last_ddl_time,
        .mod = p->last_modified,
        .changes = p->change_count,
    };
    /* A heartbeat per partition is cheap: it only writes once a third of the lease passed. */
    return beat(r);
}

/* Maps a connector listing's return code: <0 failed (err set), >0 stopped by a beat. */
static int listed(int rc)
{
    return rc < 0 ? RUN_FAILED : rc > 0 ? RUN_STOPPED : RUN_OK;
}

/* ---- Store transactions ------------------------------------------------------------------ */

/* Opens a catalog transaction with a fenced progress write. RUN_STOPPED (lease lost). */
static int tx_begin(struct scan_run *r, int64_t progress)
{
    struct db *db = r->w->db;
    if (db_begin(db, &r->err) < 0)
        return RUN_FAILED;
    int rc = store_scan_progress(db, r->w->id, r->w->attempt, progress, &r->err);
    if (rc != 0) {
        db_rollback(db);
        if (rc > 0)
            r->beat = WORK_LOST;
        return rc < 0 ? RUN_FAILED : RUN_STOPPED;
    }
    return RUN_OK;
}

static int tx_end(struct scan_run *r, int rc)
{
    if (rc == RUN_OK)
        return db_commit(r->w->db, &r->err) < 0 ? RUN_FAILED : RUN_OK;
    db_rollback(r->w->db);
    return rc;
}

static void count_change(struct scan_run *r, enum scan_change ch, int64_t *db_changes)
{
    if (ch == SCAN_NEW)
        r->nnew++;
    else if (ch == SCAN_CHANGED)
        r->nupdated++;
    if (ch != SCAN_SAME && db_changes)
        (*db_changes)++;
}

/* Writes one table (r->tabs[k]) and its partitions (r->parts) in one transaction. */
static int write_table(struct scan_run *r, int64_t source_id, int64_t db_id, size_t k,
                       int64_t progress, int64_t *table_id, int64_t *db_changes)
{
    struct db *db = r->w->db;
    struct tinfo *t = &r->tabs[k];
    int64_t now = time_now();
    int64_t *seen = NULL;
    int rc = tx_begin(r, progress);
    if (rc != RUN_OK)
        return rc;
    struct scan_table st = {
        .name = t->name,
        .type = t->type,
        .size = t->size,
        .num_rows = t->rows,
        .last_ddl_time = t->ddl,
        .last_modified = t->mod,
        .change_count = t->changes,
        .schema = t->schema,
        .partitioned = t->partitioned,
    };
    enum scan_change ch;
    rc = RUN_FAILED;
    if (store_scan_upsert_table(db, source_id, db_id, &st, now, table_id, &ch, &r->err) < 0)
        goto out;
    count_change(r, ch, db_changes);
    seen = xcalloc(r->nparts ? r->nparts : 1, sizeof *seen);
    for (size_t i = 0; i < r->nparts; i++) {
        struct pinfo *p = &r->parts[i];
        struct scan_part sp = {
            .value = p->value,
            .size = p->size,
            .num_rows = p->rows,
            .last_ddl_time = p->ddl,
            .last_modified = p->mod,
            .change_count = p->changes,
        };
        if (store_scan_upsert_part(db, source_id, db_id, *table_id, &sp, now, &seen[i], &ch,
                                   &r->err) < 0)
            goto out;
        count_change(r, ch, db_changes);
    }
    qsort(seen, r->nparts, sizeof *seen, cmp_i64);
    int64_t before = r->ndeleted;
    if (store_scan_sweep_parts(db, *table_id, seen, r->nparts, now, &r->ndeleted, &r->err) < 0)
        goto out;
    *db_changes += r->ndeleted - before;
    r->seen_parts += (int64_t)r->nparts;
    rc = RUN_OK;
out:
    free(seen);
    return tx_end(r, rc);
}

/* Scans one db: dbi of ndbs, for progress. */
static int scan_db(struct scan_run *r, int64_t source_id, size_t dbi)
{
    struct db *db = r->w->db;
    const char *name = r->dbs[dbi];
    int64_t base = (int64_t)(10000 * dbi / r->ndbs);
    int64_t span = (int64_t)(10000 * (dbi + 1) / r->ndbs) - base;
    int64_t db_id = 0, db_changes = 0, *seen = NULL;
    enum scan_change dbch;
    int rc;

    if ((rc = tx_begin(r, base)) != RUN_OK)
        return rc;
    rc = store_scan_upsert_db(db, source_id, name, time_now(), &db_id, &dbch, &r->err) < 0
             ? RUN_FAILED
             : RUN_OK;
    if ((rc = tx_end(r, rc)) != RUN_OK)
        return rc;
    count_change(r, dbch, NULL);
    r->db_ids[dbi] = db_id;

    tabs_clear(r);
    rc = listed(r->ops->list_tables(r->c, name, on_table, r, &r->err));
    if (rc != RUN_OK)
        return rc;
    seen = xcalloc(r->ntabs ? r->ntabs : 1, sizeof *seen);
    for (size_t k = 0; k < r->ntabs; k++) {
        if (beat(r)) {
            rc = RUN_STOPPED;
            goto out;
        }
        parts_clear(r);
        if (r->tabs[k].partitioned) {
            rc = listed(r->ops->list_partitions(r->c, name, r->tabs[k].name, on_part, r, &r->err));
            if (rc != RUN_OK)
                goto out;
        }
        int64_t progress = base + span * (int64_t)(k + 1) / (int64_t)r->ntabs;
        rc = write_table(r, source_id, db_id, k, progress, &seen[k], &db_changes);
        if (rc != RUN_OK)
            goto out;
        r->seen_tables++;
    }
    qsort(seen, r->ntabs, sizeof *seen, cmp_i64);

    if ((rc = tx_begin(r, base + span)) != RUN_OK)
        goto out;
    int64_t now = time_now(), before = r->ndeleted;
    bool changed = false;
    rc = RUN_FAILED;
    if (store_scan_sweep_tables(db, db_id, seen, r->ntabs, r->names, r->nnames, now, &r->ndeleted,
                                &r->err) < 0)
        goto tx_out;
    db_changes += r->ndeleted - before;
    if (store_scan_db_refresh(db, db_id, dbch == SCAN_NEW, db_changes > 0, now, &changed, &r->err) <
        0)
        goto tx_out;
    /* A revived db was counted already; count a db as updated once. */
    if (changed && dbch == SCAN_SAME)
        r->nupdated++;
    rc = RUN_OK;
tx_out:
    rc = tx_end(r, rc);
out:
    free(seen);
    parts_clear(r);
    tabs_clear(r);
    return rc;
}

/* Dbs that vanished from the source (full scans), or the named db when the source has it no
 * more (scans limited by dbName). */
static int sweep_dbs(struct scan_run *r, int64_t source_id)
{
    struct db *db = r->w->db;
    int64_t *live = NULL;
    size_t nlive = 0;
    int rc = tx_begin(r, 10000);
    if (rc != RUN_OK)
        return rc;
    rc = RUN_FAILED;
    int64_t now = time_now();
    if (r->scan.db_name) {
        int64_t id = 0;
        int f = store_scan_find_db(db, source_id, r->scan.db_name, &id, &r->err);
        if (f < 0)
            goto out;
        if (f == 1) {
            mms_err_set(&r->err, 404, "NotFound.Db", "database '%s' not found in the source",
                        r->scan.db_name);
            goto out;
        }
        if (store_scan_sweep_db(db, id, r->names, r->nnames, now, &r->ndeleted, &r->err) < 0)
            goto out;
        rc = RUN_OK;
        goto out;
    }
    if (store_scan_live_dbs(db, source_id, &live, &nlive, &r->err) < 0)
        goto out;
    qsort(r->db_ids, r->ndbs, sizeof *r->db_ids, cmp_i64);
    for (size_t i = 0; i < nlive; i++) {
        if (bsearch(&live[i], r->db_ids, r->ndbs, sizeof *r->db_ids, cmp_i64))
            continue;
        if (store_scan_sweep_db(db, live[i], r->names, r->nnames, now, &r->ndeleted, &r->err) < 0)
            goto out;
    }
    rc = RUN_OK;
out:
    free(live);
    return tx_end(r, rc);
}

/* ---- The executor ------------------------------------------------------------------------ */

static int scan_run(struct scan_run *r)
{
    struct db *db = r->w->db;
    char *type = NULL;
    json_t *config = NULL;
    int rc = RUN_FAILED;
    int64_t source_id = r->scan.source_id;

    if (r->scan.table_names) {
        r->names_json = json_loads(r->scan.table_names, 0, NULL);
        size_t n = json_array_size(r->names_json);
        if (n > 0) {
            r->names = xcalloc(n, sizeof *r->names);
            for (size_t i = 0; i < n; i++) {
                const char *s = json_string_value(json_array_get(r->names_json, i));
                r->names[r->nnames++] = s ? s : "";
            }
            qsort(r->names, r->nnames, sizeof *r->names, cmp_str);
        }
    }
    int s = store_scan_source(db, source_id, &type, &config, &r->err);
    if (s != 0) {
        if (s == 1)
            mms_err_set(&r->err, 404, "NotFound.DataSource", "data source %lld is gone",
                        (long long)source_id);
        goto out;
    }
    if (!(r->ops = conn_find(type))) {
        mms_err_set(&r->err, 400, "ConnectorError.Type", "data source type '%s' has no connector",
                    type);
        goto out;
    }
    if (r->ops->open_source(&r->c, config, &r->err) < 0) {
        r->c = NULL;
        goto out;
    }
    if ((rc = listed(r->ops->list_dbs(r->c, on_db, r, &r->err))) != RUN_OK)
        goto out;
    r->db_ids = xcalloc(r->ndbs ? r->ndbs : 1, sizeof *r->db_ids);
    for (size_t i = 0; i < r->ndbs; i++)
        if ((rc = scan_db(r, source_id, i)) != RUN_OK)
            goto out;
    if (!r->scan.db_name || r->ndbs == 0)
        rc = sweep_dbs(r, source_id);
out:
    if (r->c)
        r->ops->close(r->c);
    r->c = NULL;
    free(type);
    json_decref(config);
    return rc;
}

void exec_scan(struct work *w)
{
    struct scan_run r = {.w = w};
    struct mms_err err = {0};
    int s = store_scan_get(w->db, 0, w->id, &r.scan, &err);
    if (s != 0) {
        if (s < 0)
            log_error("scan %lld: cannot load it: %s", (long long)w->id, err.msg);
        work_release(w);
        return;
    }
    log_info("scan of data source %lld: started (db %s, %s)", (long long)r.scan.source_id,
             r.scan.db_name ? r.scan.db_name : "*",
             r.scan.table_names ? "some tables" : "all tables");
    int rc = scan_run(&r);
    if (rc == RUN_STOPPED) {
        if (r.beat == WORK_STOP)
            work_release(w);
        log_info("scan %s; it resumes later", r.beat == WORK_STOP ? "stopped" : "lease lost");
    } else if (rc == RUN_OK) {
        char *result = xasprintf("{\"databases\":%zu,\"tables\":%lld,\"partitions\":%lld,"
                                 "\"new\":%lld,\"updated\":%lld,\"deleted\":%lld}",
                                 r.ndbs, (long long)r.seen_tables, (long long)r.seen_parts,
                                 (long long)r.nnew, (long long)r.nupdated, (long long)r.ndeleted);
        int f =
            store_scan_finish(w->db, w->id, w->attempt, r.scan.source_id, true, result, NULL, &err);
        if (f < 0)
            log_error("scan: cannot record its end: %s", err.msg);
        else
            log_info("scan done: %s", result);
        free(result);
    } else {
        log_warn("scan failed: %s", r.err.msg);
        int f = store_scan_finish(w->db, w->id, w->attempt, r.scan.source_id, false, NULL,
                                  r.err.msg[0] ? r.err.msg : "scan failed", &err);
        if (f < 0)
            log_error("scan: cannot record its failure: %s", err.msg);
    }
    for (size_t i = 0; i < r.ndbs; i++)
        free(r.dbs[i]);
    free(r.dbs);
    free(r.db_ids);
    tabs_clear(&r);
    free(r.tabs);
    parts_clear(&r);
    free(r.parts);
    free(r.names);
    json_decref(r.names_json);
    scan_release(&r.scan);
}
