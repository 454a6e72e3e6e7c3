/* Splitting a job into tasks: the request, the selection, the grouping and the interleaving.
 * See split.h for the rules; nothing here touches the store. */
#include "engine/split.h"
#include "engine/cast.h"
#include "engine/retry.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

const char *split_scope_name(enum split_scope s)
{
    switch (s) {
    case SCOPE_TABLES:
        return "Tables";
    case SCOPE_PARTITIONS:
        return "Partitions";
    case SCOPE_DATABASE:
        break;
    }
    return "Database";
}

/* ================================================================ The request */

/* NULL when absent or null; -1 with err when present with another type. */
static int get_str(json_t *body, const char *name, const char *code, size_t max, bool empty_ok,
                   const char **out, struct mms_err *err)
{
    json_t *v = json_object_get(body, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return mms_err_set(err, 400, code, "%s must be a string", name);
    size_t n = json_string_length(v);
    if (n > max || strlen(json_string_value(v)) != n)
        return mms_err_set(err, 400, code, "%s must be at most %zu bytes, without NUL", name,
                           max);
    if (n == 0 && !empty_ok)
        return mms_err_set(err, 400, code, "%s must not be empty", name);
    *out = json_string_value(v);
    return 0;
}

static int get_bool(json_t *body, const char *name, const char *code, bool def, bool *out,
                    struct mms_err *err)
{
    json_t *v = json_object_get(body, name);
    *out = def;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return mms_err_set(err, 400, code, "%s must be true or false", name);
    *out = json_is_true(v);
    return 0;
}

static int get_str_array(json_t *body, const char *name, const char *code, json_t **out,
                         struct mms_err *err)
{
    json_t *v = json_object_get(body, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return mms_err_set(err, 400, code, "%s must be an array of names", name);
    size_t i;
    json_t *it;
    json_array_foreach(v, i, it)
    {
        if (!json_is_string(it) || json_string_length(it) == 0 ||
            json_string_length(it) > JOB_OBJECT_NAME_MAX ||
            strlen(json_string_value(it)) != json_string_length(it))
            return mms_err_set(err, 400, code,
                               "%s must hold non-empty names of at most %d bytes, without NUL",
                               name, JOB_OBJECT_NAME_MAX);
    }
    *out = v;
    return 0;
}

/* A map of non-empty names to non-empty strings of at most vmax bytes. */
static int get_str_map(json_t *body, const char *name, const char *code, size_t vmax,
                       json_t **out, struct mms_err *err)
{
    json_t *v = json_object_get(body, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return mms_err_set(err, 400, code, "%s must be an object of strings", name);
    const char *k;
    json_t *it;
    json_object_foreach(v, k, it)
    {
        size_t kn = strlen(k);
        if (kn == 0 || kn > JOB_OBJECT_NAME_MAX)
            return mms_err_set(err, 400, code, "%s keys must be names of 1 to %d bytes", name,
                               JOB_OBJECT_NAME_MAX);
        if (!json_is_string(it) || json_string_length(it) == 0 ||
            json_string_length(it) > vmax ||
            strlen(json_string_value(it)) != json_string_length(it))
            return mms_err_set(err, 400, code,
                               "%s[%.*s] must be a non-empty string of at most %zu bytes", name,
                               64, k, vmax);
    }
    *out = v;
    return 0;
}

int job_others_streams(json_t *others, const char *key, int64_t *out, struct mms_err *err)
{
    json_t *v = others ? json_object_get(others, key) : NULL;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 16)
        return mms_err_set(err, 400, "InvalidParameter.Others",
                           "others.%s must be an integer from 1 to 16 (parallel %s for one large"
                           " table)",
                           key, strcmp(key, "writeStreams") == 0 ? "writers" : "streams");
    *out = json_integer_value(v);
    return 0;
}

int job_request_parse(json_t *body, struct job_request *r, struct mms_err *err)
{
    memset(r, 0, sizeof *r);
    if (!json_is_object(body))
        return mms_err_set(err, 400, "InvalidParameter.Body", "the job request must be an object");

    json_t *v = json_object_get(body, "sourceId");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return mms_err_set(err, 400, "InvalidParameter.SourceId",
                               "sourceId must be a positive integer");
        r->source_id = json_integer_value(v);
    }
    v = json_object_get(body, "timerId");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return mms_err_set(err, 400, "InvalidParameter.TimerId",
                               "timerId must be a positive integer");
        r->timer_id = json_integer_value(v);
    }

    if (get_str(body, "sourceName", "InvalidParameter.SourceName", JOB_NAME_MAX, false,
                &r->source_name, err) < 0 ||
        get_str(body, "name", "InvalidParameter.Name", JOB_NAME_MAX, false, &r->name, err) < 0 ||
        get_str(body, "srcDbName", "InvalidParameter.SrcDbName", JOB_OBJECT_NAME_MAX, false,
                &r->src_db, err) < 0 ||
        get_str(body, "srcSchemaName", "InvalidParameter.SrcSchemaName", JOB_OBJECT_NAME_MAX,
                false, &r->src_schema, err) < 0 ||
        get_str(body, "dstDbName", "InvalidParameter.DstDbName", JOB_OBJECT_NAME_MAX, false,
                &r->dst_db, err) < 0 ||
        get_str(body, "dstSchemaName", "InvalidParameter.DstSchemaName", JOB_OBJECT_NAME_MAX,
                false, &r->dst_schema, err) < 0 ||
        get_str(body, "eta", "InvalidParameter.Eta", 32, false, &r->eta, err) < 0 ||
        get_str(body, "taskType", "InvalidParameter.TaskType", 64, false, &r->task_type,
                err) < 0 ||
        get_str(body, "tunnelQuota", "InvalidParameter.TunnelQuota", JOB_OBJECT_NAME_MAX, false,
                &r->tunnel_quota, err) < 0)
        return -1;
    if (!r->name)
        return mms_err_set(err, 400, "InvalidParameter.Name",
                           "name is required (1 to %d bytes)", JOB_NAME_MAX);
    for (const char *c = r->name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return mms_err_set(err, 400, "InvalidParameter.Name",
                               "name must not contain control characters");
    int64_t t;
    if (r->eta && time_parse(r->eta, &t) < 0)
        return mms_err_set(err, 400, "InvalidParameter.Eta",
                           "eta must be a date 'YYYY-MM-DD' or a time 'YYYY-MM-DD HH:mm:ss'");

    if (get_str_array(body, "tables", "InvalidParameter.Tables", &r->tables, err) < 0 ||
        get_str_array(body, "tableWhiteList", "InvalidParameter.TableWhiteList", &r->white,
                      err) < 0 ||
        get_str_array(body, "tableBlackList", "InvalidParameter.TableBlackList", &r->black,
                      err) < 0)
        return -1;
    v = json_object_get(body, "partitions");
    if (v && !json_is_null(v)) {
        size_t i;
        json_t *it;
        if (!json_is_array(v))
            return mms_err_set(err, 400, "InvalidParameter.Partitions",
                               "partitions must be an array of partition ids");
        json_array_foreach(v, i, it)
        {
            if (!json_is_integer(it) || json_integer_value(it) <= 0)
                return mms_err_set(err, 400, "InvalidParameter.Partitions",
                                   "partitions must hold positive partition ids");
        }
        r->partitions = v;
    }
    if (get_str_map(body, "partitionFilters", "InvalidParameter.PartitionFilters", 4096,
                    &r->pfilters, err) < 0 ||
        get_str_map(body, "tableMapping", "InvalidParameter.TableMapping", JOB_OBJECT_NAME_MAX,
                    &r->table_mapping, err) < 0 ||
        get_str_map(body, "columnMapping", "InvalidParameter.ColumnMapping",
                    JOB_OBJECT_NAME_MAX, &r->column_mapping, err) < 0)
        return -1;

    if (get_bool(body, "enableSchemaMigration", "InvalidParameter.EnableSchemaMigration", true,
                 &r->enable_schema, err) < 0 ||
        get_bool(body, "enableDataMigration", "InvalidParameter.EnableDataMigration", true,
                 &r->enable_data, err) < 0 ||
        get_bool(body, "enableVerification", "InvalidParameter.EnableVerification", true,
                 &r->enable_verify, err) < 0 ||
        get_bool(body, "increment", "InvalidParameter.Increment", false, &r->increment, err) < 0 ||
        get_bool(body, "schemaOnly", "InvalidParameter.SchemaOnly", false, &r->schema_only,
                 err) < 0)
        return -1;
    if (!r->enable_schema && !r->enable_data && !r->enable_verify)
        return mms_err_set(err, 400, "InvalidParameter.EnableDataMigration",
                           "enableSchemaMigration, enableDataMigration and enableVerification "
                           "are all false: the job would do nothing");

    v = json_object_get(body, "others");
    r->verify = "count";
    if (v && !json_is_null(v)) {
        if (!json_is_object(v))
            return mms_err_set(err, 400, "InvalidParameter.Others", "others must be an object");
        r->others = v;
        json_t *vf = json_object_get(v, "verify");
        if (vf && !json_is_null(vf)) {
            const char *s = json_string_value(vf);
            if (!s || (strcmp(s, "count") != 0 && strcmp(s, "checksum") != 0))
                return mms_err_set(err, 400, "InvalidParameter.Others",
                                   "others.verify must be \"count\" or \"checksum\"");
            r->verify = s;
        }
        /* The engine's knobs (retries, rate limits) are checked here so that a bad value is a
         * 400 now, not a task failure later. */
        struct retry_policy rp;
        unsigned casts;
        if (retry_policy_from_others(&rp, v, err) < 0 || cast_parse(v, &casts, err) < 0)
            return -1;
        static const char *const rates[] = {"rowsPerSecond", "bytesPerSecond"};
        for (size_t i = 0; i < 2; i++) {
            json_t *rv = json_object_get(v, rates[i]);
            if (rv && !json_is_null(rv) && (!json_is_integer(rv) || json_integer_value(rv) < 0))
                return mms_err_set(err, 400, "InvalidParameter.Others",
                                   "others.%s must be a non-negative integer (0 = no limit)",
                                   rates[i]);
        }
        int64_t streams = 0;
        if (job_others_streams(v, "copyStreams", &streams, err) < 0 ||
            job_others_streams(v, "writeStreams", &streams, err) < 0)
            return -1;
    }

    /* The scope: exactly one of partitions, tables, (database with optional lists). */
    if (r->partitions && r->tables)
        return mms_err_set(err, 400, "InvalidParameter.Tables",
                           "give either tables (a Tables job) or partitions (a Partitions "
                           "job), not both");
    if ((r->white || r->black) && (r->partitions || r->tables))
        return mms_err_set(err, 400,
                           r->white ? "InvalidParameter.TableWhiteList"
                                    : "InvalidParameter.TableBlackList",
                           "tableWhiteList and tableBlackList belong to a Database job; they "
                           "cannot be combined with tables or partitions");
    if (r->partitions) {
        if (json_array_size(r->partitions) == 0)
            return mms_err_set(err, 400, "InvalidParameter.Partitions",
                               "partitions must not be empty");
        r->scope = SCOPE_PARTITIONS;
    } else if (r->tables) {
        if (json_array_size(r->tables) == 0)
            return mms_err_set(err, 400, "InvalidParameter.Tables", "tables must not be empty");
        r->scope = SCOPE_TABLES;
    } else {
        r->scope = SCOPE_DATABASE;
    }
    if (r->scope != SCOPE_PARTITIONS && !r->src_db)
        return mms_err_set(err, 400, "InvalidParameter.SrcDbName",
                           "srcDbName is required for a %s job",
                           split_scope_name(r->scope));
    return 0;
}

static json_t *copy_or_null(json_t *v)
{
    return v ? json_deep_copy(v) : json_null();
}

json_t *job_request_config(const struct job_request *r)
{
    json_t *c = json_object();
    json_object_set_new(c, "tables", copy_or_null(r->tables));
    json_object_set_new(c, "tableWhiteList", copy_or_null(r->white));
    json_object_set_new(c, "tableBlackList", copy_or_null(r->black));
    json_object_set_new(c, "partitions", copy_or_null(r->partitions));
    json_object_set_new(c, "partitionFilters", copy_or_null(r->pfilters));
    json_object_set_new(c, "tableMapping", copy_or_null(r->table_mapping));
    json_object_set_new(c, "columnMapping", copy_or_null(r->column_mapping));
    json_object_set_new(c, "increment", json_boolean(r->increment));
    json_object_set_new(c, "enableVerification", json_boolean(r->enable_verify));
    json_object_set_new(c, "enableSchemaMigration", json_boolean(r->enable_schema));
    json_object_set_new(c, "enableDataMigration", json_boolean(r->enable_data));
    json_object_set_new(c, "schemaOnly", json_boolean(r->schema_only));
    json_object_set_new(c, "taskType", r->task_type ? json_string(r->task_type) : json_null());
    json_object_set_new(c, "tunnelQuota",
                        r->tunnel_quota ? json_string(r->tunnel_quota) : json_null());
    json_object_set_new(c, "others", r->others ? json_deep_copy(r->others) : json_object());
    return c;
}

/* ================================================================ Selection */

static bool in_list(const char *name, json_t *list)
{
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it)
    {
        const char *s = json_string_value(it);
        if (s && strcmp(s, name) == 0)
            return true;
    }
    return false;
}

bool split_name_selected(const char *name, json_t *white, json_t *black)
{
    if (json_array_size(black) > 0)
        return !in_list(name, black);
    if (json_array_size(white) > 0)
        return in_list(name, white);
    return true;
}

bool split_keep(const char *status, bool updated, bool increment)
{
    if (!increment || updated)
        return true;
    return strcmp(status, "DONE") != 0 && strcmp(status, "DOING") != 0;
}

/* ================================================================ Planning */

static int64_t nonneg(int64_t v)
{
    return v < 0 ? 0 : v;
}

/* Per-table task lists before interleaving. */
struct tlist {
    struct split_task *t;
    size_t n, cap;
};

static void tlist_add(struct tlist *l, struct split_task t)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->t = xreallocarray(l->t, l->cap, sizeof *l->t);
    }
    l->t[l->n++] = t;
}

void split_plan_build(const struct split_table *tables, size_t ntables,
                      const struct split_opts *o, struct split_plan *out)
{
    memset(out, 0, sizeof *out);
    int64_t max_parts = o->max_parts > 0 ? o->max_parts : 1;
    int64_t max_bytes = o->max_bytes > 0 ? o->max_bytes : 1;

    /* The pool holds at most every candidate partition once. It is allocated at its final
     * size, so tasks can point into it as they are built. */
    size_t pool_cap = 0;
    for (size_t i = 0; i < ntables; i++)
        if (tables[i].partitioned && !tables[i].whole && !o->schema_only)
            pool_cap += tables[i].nparts;
    out->pool = xcalloc(pool_cap ? pool_cap : 1, sizeof *out->pool);
    size_t pool_n = 0;

    struct tlist *lists = xcalloc(ntables ? ntables : 1, sizeof *lists);
    size_t total = 0;
    for (size_t i = 0; i < ntables; i++) {
        const struct split_table *tb = &tables[i];
        struct split_task t = {.table = i};
        if (o->schema_only) {
            t.schema_only = true;
            tlist_add(&lists[i], t);
        } else if (!tb->partitioned) {
            if (split_keep(tb->status, tb->updated, o->increment)) {
                t.bytes = nonneg(tb->size);
                t.rows = nonneg(tb->num_rows);
                tlist_add(&lists[i], t);
            }
        } else if (tb->whole) {
            /* Never a part of the table: a whole-table replace of some partitions' rows
             * would drop the others. */
            bool kept = tb->nparts > 0 && o->increment && tb->updated;
            for (size_t k = 0; k < tb->nparts && !kept; k++)
                kept = split_keep(tb->parts[k].status, tb->parts[k].updated, o->increment);
            if (kept) {
                t.bytes = nonneg(tb->size);
                t.rows = nonneg(tb->num_rows);
                tlist_add(&lists[i], t);
            } else {
                /* as a partitioned table with no partition left */
                bool skip = strcmp(tb->status, "DONE") == 0 ||
                            (o->increment && strcmp(tb->status, "DOING") == 0);
                if (!skip) {
                    t.schema_only = true;
                    tlist_add(&lists[i], t);
                }
            }
        } else {
            /* Groups of consecutive kept partitions, in the given order. */
            size_t start = pool_n;
            struct split_task g = {.table = i};
            size_t gstart = pool_n;
            for (size_t k = 0; k < tb->nparts; k++) {
                const struct split_part *p = &tb->parts[k];
                if (!split_keep(p->status, p->updated, o->increment))
                    continue;
                int64_t sz = nonneg(p->size);
                bool oversized = sz > max_bytes;
                if (g.nparts > 0 && (oversized || (int64_t)g.nparts >= max_parts ||
                                     g.bytes + sz > max_bytes)) {
                    g.parts = out->pool + gstart;
                    tlist_add(&lists[i], g);
                    g = (struct split_task){.table = i};
                    gstart = pool_n;
                }
                out->pool[pool_n++] = k;
                g.nparts++;
                g.bytes += sz;
                g.rows += nonneg(p->num_rows);
                if (oversized) {
                    g.parts = out->pool + gstart;
                    tlist_add(&lists[i], g);
                    g = (struct split_task){.table = i};
                    gstart = pool_n;
                }
            }
            if (g.nparts > 0) {
                g.parts = out->pool + gstart;
                tlist_add(&lists[i], g);
            }
            if (pool_n == start) {
                /* Nothing left to move: the schema alone, unless the table is already there
                 * (DONE), or being created by a running job (DOING, with increment). */
                bool skip = strcmp(tb->status, "DONE") == 0 ||
                            (o->increment && strcmp(tb->status, "DOING") == 0);
                if (!skip) {
                    t.schema_only = true;
                    tlist_add(&lists[i], t);
                }
            }
        }
        total += lists[i].n;
    }

    /* Round-robin: round r takes the r-th task of every table that still has one. */
    out->tasks = xcalloc(total ? total : 1, sizeof *out->tasks);
    for (size_t r = 0; out->ntasks < total; r++)
        for (size_t i = 0; i < ntables; i++)
            if (r < lists[i].n) {
                out->tasks[out->ntasks++] = lists[i].t[r];
            }
    for (size_t i = 0; i < ntables; i++)
        free(lists[i].t);
    free(lists);
}

void split_plan_release(struct split_plan *p)
{
    free(p->tasks);
    free(p->pool);
    memset(p, 0, sizeof *p);
}

/* ================================================================ Conflicts */

static bool sorted_overlap(const int64_t *a, size_t na, const int64_t *b, size_t nb)
{
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        if (a[i] == b[j])
            return true;
        if (a[i] < b[j])
            i++;
        else
            j++;
    }
    return false;
}

bool split_conflict(enum split_cover ca, const int64_t *a, size_t na, enum split_cover cb,
                    const int64_t *b, size_t nb)
{
    if (ca == COVER_WHOLE || cb == COVER_WHOLE)
        return true;
    if (ca == COVER_SCHEMA || cb == COVER_SCHEMA)
        return ca == cb;
    return sorted_overlap(a, na, b, nb);
}
