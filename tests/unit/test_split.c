/* Splitting a job into tasks.
 * Part 1 (pure, src/engine/split.c): the request checks, the Database-scope lists, increment,
 * grouping by count and bytes, the oversized partition, schema-only tasks, round-robin order,
 * conflicts.
 * Part 2 (against a real SQLite store, no HTTP, no workers): the TASK_CREATE executor
 * (src/engine/job_create.c) on a catalog with partitioned tables, which the SQLite connector
 * cannot produce through a scan: Partitions jobs, partitionFilters, increment over partition
 * statuses, conflicts with active tasks, crash safety (a committed attempt is finished, not
 * rebuilt) and fencing (a stale attempt writes nothing); then STOP_JOB, the job status roll-up
 * and the retry reset (src/store/store_job.c, store_task.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/split.h"
#include "store/store.h"
#include "store/store_asynctask.h"
#include "store/store_job.h"
#include "store/store_task.h"
#include "util/log.h"
#include "util/timeutil.h"

/* ================================================================ Part 1: pure */

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad JSON in test: %s: %s", text, e.text);
    return j;
}

/* Parses a request; returns the error code ("" when it parsed). */
static const char *parse_code(const char *text, struct job_request *r, struct mms_err *err)
{
    static json_t *keep;
    json_decref(keep);
    keep = J(text);
    memset(err, 0, sizeof *err);
    if (job_request_parse(keep, r, err) == 0)
        return "";
    return err->code;
}

static void test_request_scope(void **state)
{
    (void)state;
    struct job_request r;
    struct mms_err e;
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"db\"}", &r, &e), "");
    assert_int_equal(r.scope, SCOPE_DATABASE);
    assert_string_equal(split_scope_name(r.scope), "Database");
    assert_true(r.enable_schema && r.enable_data && r.enable_verify);
    assert_false(r.increment || r.schema_only);
    assert_string_equal(r.verify, "count");

    assert_string_equal(
        parse_code("{\"name\":\"j\",\"srcDbName\":\"db\",\"tables\":[\"a\",\"b\"]}", &r, &e), "");
    assert_int_equal(r.scope, SCOPE_TABLES);
    assert_string_equal(split_scope_name(r.scope), "Tables");

    /* Partitions need no srcDbName (the partitions name their db). */
    assert_string_equal(parse_code("{\"name\":\"j\",\"partitions\":[3,4]}", &r, &e), "");
    assert_int_equal(r.scope, SCOPE_PARTITIONS);
    assert_string_equal(split_scope_name(r.scope), "Partitions");

    /* Two scopes, or lists with another scope. */
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"tables\":[\"a\"],"
                                   "\"partitions\":[1]}",
                                   &r, &e),
                        "InvalidParameter.Tables");
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"tables\":[\"a\"],"
                                   "\"tableWhiteList\":[\"a\"]}",
                                   &r, &e),
                        "InvalidParameter.TableWhiteList");
    assert_string_equal(parse_code("{\"name\":\"j\",\"partitions\":[1],"
                                   "\"tableBlackList\":[\"a\"]}",
                                   &r, &e),
                        "InvalidParameter.TableBlackList");
    /* Empty scope arrays are errors, not a silent Database job. */
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"tables\":[]}", &r, &e),
                        "InvalidParameter.Tables");
    assert_string_equal(parse_code("{\"name\":\"j\",\"partitions\":[]}", &r, &e),
                        "InvalidParameter.Partitions");
    /* srcDbName for Database and Tables. */
    assert_string_equal(parse_code("{\"name\":\"j\"}", &r, &e), "InvalidParameter.SrcDbName");
    assert_non_null(strstr(e.msg, "Database"));
    assert_string_equal(parse_code("{\"name\":\"j\",\"tables\":[\"a\"]}", &r, &e),
                        "InvalidParameter.SrcDbName");
    /* Lists with both given are accepted (the blacklist applies). */
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"tableWhiteList\":[\"a\"],"
                                   "\"tableBlackList\":[\"b\"]}",
                                   &r, &e),
                        "");
}

static void test_request_fields(void **state)
{
    (void)state;
    struct job_request r;
    struct mms_err e;
    assert_string_equal(parse_code("{\"srcDbName\":\"d\"}", &r, &e), "InvalidParameter.Name");
    assert_string_equal(parse_code("{\"name\":\"\",\"srcDbName\":\"d\"}", &r, &e),
                        "InvalidParameter.Name");
    assert_string_equal(parse_code("{\"name\":\"a\\nb\",\"srcDbName\":\"d\"}", &r, &e),
                        "InvalidParameter.Name");
    char big[300];
    snprintf(big, sizeof big, "{\"name\":\"%0129d\",\"srcDbName\":\"d\"}", 0);
    assert_string_equal(parse_code(big, &r, &e), "InvalidParameter.Name");
    snprintf(big, sizeof big, "{\"name\":\"%0128d\",\"srcDbName\":\"d\"}", 0);
    assert_string_equal(parse_code(big, &r, &e), "");
    assert_string_equal(parse_code("{\"name\":5,\"srcDbName\":\"d\"}", &r, &e),
                        "InvalidParameter.Name");
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"\"}", &r, &e),
                        "InvalidParameter.SrcDbName");
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"increment\":\"yes\"}",
                                   &r, &e),
                        "InvalidParameter.Increment");
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"tables\":[\"\"]}", &r,
                                   &e),
                        "InvalidParameter.Tables");
    assert_string_equal(parse_code("{\"name\":\"j\",\"partitions\":[0]}", &r, &e),
                        "InvalidParameter.Partitions");
    assert_string_equal(parse_code("{\"name\":\"j\",\"partitions\":[\"1\"]}", &r, &e),
                        "InvalidParameter.Partitions");
    assert_string_equal(
        parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"tableMapping\":{\"a\":\"\"}}", &r, &e),
        "InvalidParameter.TableMapping");
    assert_string_equal(
        parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"columnMapping\":{\"a\":1}}", &r, &e),
        "InvalidParameter.ColumnMapping");
    assert_string_equal(
        parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"partitionFilters\":[]}", &r, &e),
        "InvalidParameter.PartitionFilters");
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"eta\":\"soon\"}", &r,
                                   &e),
                        "InvalidParameter.Eta");
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"eta\":\"2026-05-06\"}",
                                   &r, &e),
                        "");
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"sourceId\":-1}", &r,
                                   &e),
                        "InvalidParameter.SourceId");
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"sourceId\":7}", &r, &e),
                        "");
    assert_int_equal(r.source_id, 7);
    /* others: free-form, but verify is checked. */
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"others\":{\"x\":[1]}}",
                                   &r, &e),
                        "");
    assert_string_equal(r.verify, "count");
    assert_string_equal(
        parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"others\":{\"verify\":\"checksum\"}}",
                   &r, &e),
        "");
    assert_string_equal(r.verify, "checksum");
    assert_string_equal(
        parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"others\":{\"verify\":\"md5\"}}", &r,
                   &e),
        "InvalidParameter.Others");
    assert_string_equal(
        parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"others\":{\"verify\":1}}", &r, &e),
        "InvalidParameter.Others");
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"others\":[]}", &r, &e),
                        "InvalidParameter.Others");
    /* A job that would do nothing. */
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\","
                                   "\"enableSchemaMigration\":false,\"enableDataMigration\":false,"
                                   "\"enableVerification\":false}",
                                   &r, &e),
                        "InvalidParameter.EnableDataMigration");
    /* null members count as absent. */
    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"tables\":null,"
                                   "\"others\":null,\"increment\":null}",
                                   &r, &e),
                        "");
    assert_int_equal(r.scope, SCOPE_DATABASE);
}

static void test_request_config(void **state)
{
    (void)state;
    struct job_request r;
    struct mms_err e;
    assert_string_equal(
        parse_code("{\"name\":\"j\",\"srcDbName\":\"d\",\"tableBlackList\":[\"x\"],"
                   "\"tableMapping\":{\"a\":\"b\"},\"increment\":true,\"enableVerification\":false,"
                   "\"taskType\":\"HIVE\",\"others\":{\"verify\":\"checksum\"}}",
                   &r, &e),
        "");
    json_t *c = job_request_config(&r);
    const char *keys[] = {"tables", "tableWhiteList", "tableBlackList", "partitions",
                          "partitionFilters", "tableMapping", "columnMapping", "increment",
                          "enableVerification", "enableSchemaMigration", "enableDataMigration",
                          "schemaOnly", "taskType", "tunnelQuota", "others"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_object_get(c, keys[i]))
            fail_msg("JobConfig lacks %s", keys[i]);
    assert_int_equal(json_object_size(c), sizeof keys / sizeof keys[0]);
    assert_true(json_is_null(json_object_get(c, "tables")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(c, "tableBlackList"), 0)),
                        "x");
    assert_true(json_is_true(json_object_get(c, "increment")));
    assert_true(json_is_false(json_object_get(c, "enableVerification")));
    assert_true(json_is_true(json_object_get(c, "enableDataMigration")));
    assert_string_equal(json_string_value(json_object_get(c, "taskType")), "HIVE");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(c, "others"), "verify")), "checksum");
    json_decref(c);

    assert_string_equal(parse_code("{\"name\":\"j\",\"srcDbName\":\"d\"}", &r, &e), "");
    c = job_request_config(&r);
    assert_true(json_is_object(json_object_get(c, "others")));
    assert_int_equal(json_object_size(json_object_get(c, "others")), 0);
    json_decref(c);
}

static void test_name_lists(void **state)
{
    (void)state;
    json_t *w = J("[\"a\",\"b\"]"), *b = J("[\"b\",\"c\"]"), *empty = J("[]");
    /* No lists, or empty ones: everything. */
    assert_true(split_name_selected("a", NULL, NULL));
    assert_true(split_name_selected("z", empty, empty));
    /* Whitelist only. */
    assert_true(split_name_selected("a", w, NULL));
    assert_true(split_name_selected("b", w, empty));
    assert_false(split_name_selected("c", w, NULL));
    /* Blacklist only. */
    assert_false(split_name_selected("b", NULL, b));
    assert_true(split_name_selected("a", empty, b));
    /* Both: only the blacklist applies. */
    assert_true(split_name_selected("a", w, b));
    assert_false(split_name_selected("b", w, b));
    assert_false(split_name_selected("c", w, b));
    assert_true(split_name_selected("z", w, b)); /* not whitelisted, yet selected */
    /* Exact, case-sensitive names. */
    assert_false(split_name_selected("A", w, NULL));
    json_decref(w);
    json_decref(b);
    json_decref(empty);
}

static void test_keep(void **state)
{
    (void)state;
    const char *all[] = {"INIT", "DOING", "DONE", "FAILED", "PART_DONE"};
    for (size_t i = 0; i < 5; i++) {
        assert_true(split_keep(all[i], false, false)); /* no increment: everything */
        assert_true(split_keep(all[i], true, true));   /* updated: always */
    }
    assert_true(split_keep("INIT", false, true));
    assert_true(split_keep("FAILED", false, true));
    assert_true(split_keep("PART_DONE", false, true));
    assert_false(split_keep("DONE", false, true));
    assert_false(split_keep("DOING", false, true));
}

/* Builds n partitions "p=<i>" with the given sizes (NULL: all 1 byte). */
static struct split_part *parts_new(size_t n, const int64_t *sizes, const char *status)
{
    struct split_part *p = calloc(n ? n : 1, sizeof *p);
    static char names[512][24];
    static size_t next;
    for (size_t i = 0; i < n; i++) {
        char *v = names[next++ % 512];
        snprintf(v, 24, "p=%zu", i);
        p[i] = (struct split_part){.id = (int64_t)(i + 1), .value = v,
                                   .size = sizes ? sizes[i] : 1, .num_rows = 10,
                                   .status = status, .updated = false};
    }
    return p;
}

static struct split_table ptable(int64_t id, const char *name, struct split_part *parts,
                                 size_t n)
{
    return (struct split_table){.id = id, .name = name, .partitioned = true, .status = "INIT",
                                .parts = parts, .nparts = n};
}

static struct split_table utable(int64_t id, const char *name, const char *status)
{
    return (struct split_table){.id = id, .name = name, .partitioned = false, .status = status,
                                .size = 1000, .num_rows = 77};
}

static void test_unpartitioned(void **state)
{
    (void)state;
    struct split_table t[] = {utable(1, "a", "INIT"), utable(2, "b", "DONE"),
                              utable(3, "c", "DOING"), utable(4, "d", "FAILED")};
    t[1].updated = false;
    struct split_opts o = {.max_parts = 50, .max_bytes = 1 << 30};
    struct split_plan p;
    split_plan_build(t, 4, &o, &p);
    assert_int_equal(p.ntasks, 4); /* one task per table, whatever the status */
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(p.tasks[i].table, i);
        assert_int_equal(p.tasks[i].nparts, 0);
        assert_false(p.tasks[i].schema_only);
        assert_int_equal(p.tasks[i].rows, 77);
        assert_int_equal(p.tasks[i].bytes, 1000);
    }
    split_plan_release(&p);

    /* Increment: DONE and DOING tables are skipped, unless updated. */
    o.increment = true;
    split_plan_build(t, 4, &o, &p);
    assert_int_equal(p.ntasks, 2);
    assert_int_equal(p.tasks[0].table, 0);
    assert_int_equal(p.tasks[1].table, 3);
    split_plan_release(&p);
    t[1].updated = true;
    split_plan_build(t, 4, &o, &p);
    assert_int_equal(p.ntasks, 3);
    assert_int_equal(p.tasks[1].table, 1);
    split_plan_release(&p);
}

static void test_group_by_count(void **state)
{
    (void)state;
    struct split_part *parts = parts_new(120, NULL, "INIT");
    struct split_table t = ptable(1, "t", parts, 120);
    struct split_opts o = {.max_parts = 50, .max_bytes = 1 << 30};
    struct split_plan p;
    split_plan_build(&t, 1, &o, &p);
    assert_int_equal(p.ntasks, 3);
    assert_int_equal(p.tasks[0].nparts, 50);
    assert_int_equal(p.tasks[1].nparts, 50);
    assert_int_equal(p.tasks[2].nparts, 20);
    /* In order, each partition exactly once. */
    size_t want = 0;
    for (size_t i = 0; i < p.ntasks; i++) {
        assert_false(p.tasks[i].schema_only);
        assert_int_equal(p.tasks[i].rows, 10 * (int64_t)p.tasks[i].nparts);
        for (size_t k = 0; k < p.tasks[i].nparts; k++)
            assert_int_equal(p.tasks[i].parts[k], want++);
    }
    assert_int_equal(want, 120);
    split_plan_release(&p);

    /* Exactly max_parts: one task. max_parts 1: one per partition. */
    t.nparts = 50;
    split_plan_build(&t, 1, &o, &p);
    assert_int_equal(p.ntasks, 1);
    split_plan_release(&p);
    o.max_parts = 1;
    t.nparts = 7;
    split_plan_build(&t, 1, &o, &p);
    assert_int_equal(p.ntasks, 7);
    split_plan_release(&p);
    free(parts);
}

static void test_group_by_bytes(void **state)
{
    (void)state;
    int64_t sizes[] = {40, 40, 40, 60, 60, 100, 1, -5, 99};
    struct split_part *parts = parts_new(9, sizes, "INIT");
    struct split_table t = ptable(1, "t", parts, 9);
    struct split_opts o = {.max_parts = 50, .max_bytes = 100};
    struct split_plan p;
    split_plan_build(&t, 1, &o, &p);
    /* [40,40] [40,60] [60] [100] [1,-5(=0),99] */
    size_t want_n[] = {2, 2, 1, 1, 3};
    int64_t want_b[] = {80, 100, 60, 100, 100};
    assert_int_equal(p.ntasks, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(p.tasks[i].nparts, want_n[i]);
        assert_int_equal(p.tasks[i].bytes, want_b[i]);
        assert_true(p.tasks[i].bytes <= 100);
    }
    split_plan_release(&p);
    free(parts);
}

static void test_oversized_alone(void **state)
{
    (void)state;
    int64_t sizes[] = {10, 500, 10, 10, 101, 101, 5};
    struct split_part *parts = parts_new(7, sizes, "INIT");
    struct split_table t = ptable(1, "t", parts, 7);
    struct split_opts o = {.max_parts = 50, .max_bytes = 100};
    struct split_plan p;
    split_plan_build(&t, 1, &o, &p);
    /* [10] [500] [10,10] [101] [101] [5] */
    size_t want_n[] = {1, 1, 2, 1, 1, 1};
    size_t first[] = {0, 1, 2, 4, 5, 6};
    assert_int_equal(p.ntasks, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(p.tasks[i].nparts, want_n[i]);
        assert_int_equal(p.tasks[i].parts[0], first[i]);
    }
    assert_int_equal(p.tasks[1].bytes, 500);
    split_plan_release(&p);
    free(parts);
}

static void test_increment_partitions(void **state)
{
    (void)state;
    struct split_part *parts = parts_new(6, NULL, "INIT");
    parts[0].status = "DONE";
    parts[1].status = "DOING";
    parts[2].status = "DONE";
    parts[2].updated = true; /* changed since: moved again */
    parts[3].status = "FAILED";
    struct split_table t = ptable(1, "t", parts, 6);
    struct split_opts o = {.max_parts = 50, .max_bytes = 1 << 30, .increment = true};
    struct split_plan p;
    split_plan_build(&t, 1, &o, &p);
    assert_int_equal(p.ntasks, 1);
    assert_int_equal(p.tasks[0].nparts, 4);
    size_t want[] = {2, 3, 4, 5};
    for (size_t k = 0; k < 4; k++)
        assert_int_equal(p.tasks[0].parts[k], want[k]);
    split_plan_release(&p);

    /* Without increment every partition goes. */
    o.increment = false;
    split_plan_build(&t, 1, &o, &p);
    assert_int_equal(p.tasks[0].nparts, 6);
    split_plan_release(&p);
    free(parts);
}

/* A partitioned table without partition keys (MySQL RANGE/HASH): whole, or not at all. */
static void test_whole_table(void **state)
{
    (void)state;
    struct split_part *parts = parts_new(4, NULL, "INIT");
    struct split_table t[] = {ptable(1, "rng", parts, 4), utable(2, "u", "INIT")};
    t[0].whole = true;
    t[0].size = 4000;
    t[0].num_rows = 40;
    struct split_opts o = {.max_parts = 1, .max_bytes = 1 << 30};
    struct split_plan p;
    split_plan_build(t, 2, &o, &p);
    /* one whole-table task, whatever max_parts says */
    assert_int_equal(p.ntasks, 2);
    assert_int_equal(p.tasks[0].table, 0);
    assert_int_equal(p.tasks[0].nparts, 0);
    assert_false(p.tasks[0].schema_only);
    assert_int_equal(p.tasks[0].bytes, 4000);
    assert_int_equal(p.tasks[0].rows, 40);
    split_plan_release(&p);

    /* Increment: every partition moved -> nothing; one changed -> the whole table again. */
    o.increment = true;
    for (size_t k = 0; k < 4; k++)
        parts[k].status = "DONE";
    t[0].status = "DONE";
    t[1].status = "DONE";
    split_plan_build(t, 2, &o, &p);
    assert_int_equal(p.ntasks, 0);
    split_plan_release(&p);
    parts[2].updated = true;
    split_plan_build(t, 2, &o, &p);
    assert_int_equal(p.ntasks, 1);
    assert_int_equal(p.tasks[0].table, 0);
    assert_int_equal(p.tasks[0].nparts, 0);
    assert_false(p.tasks[0].schema_only);
    split_plan_release(&p);
    /* the table itself flagged updated (its stats changed) moves it too */
    parts[2].updated = false;
    t[0].updated = true;
    split_plan_build(t, 2, &o, &p);
    assert_int_equal(p.ntasks, 1);
    assert_int_equal(p.tasks[0].nparts, 0);
    assert_false(p.tasks[0].schema_only);
    split_plan_release(&p);

    /* No candidate left (a filter selected none): as a partitioned table, schema only
     * unless DONE. */
    t[0].nparts = 0;
    t[0].status = "INIT";
    split_plan_build(t, 1, &o, &p);
    assert_int_equal(p.ntasks, 1);
    assert_true(p.tasks[0].schema_only);
    split_plan_release(&p);
    t[0].status = "DONE";
    split_plan_build(t, 1, &o, &p);
    assert_int_equal(p.ntasks, 0);
    split_plan_release(&p);
    free(parts);
}

static void test_schema_only(void **state)
{
    (void)state;
    struct split_part *done = parts_new(3, NULL, "DONE");
    struct split_table t[] = {
        ptable(1, "empty", NULL, 0),      /* partitioned, no partitions: schema only */
        ptable(2, "filtered", NULL, 0),   /* its filter matched nothing: schema only */
        ptable(3, "alldone", done, 3),    /* increment, all DONE, table DONE: skipped */
        ptable(4, "partdone", done, 3),   /* increment, all DONE, table PART_DONE: schema */
        ptable(5, "doing", done, 3),      /* increment, table DOING: skipped */
    };
    t[1].status = "DONE"; /* DONE and nothing to move: skipped */
    t[2].status = "DONE";
    t[3].status = "PART_DONE";
    t[4].status = "DOING";
    struct split_opts o = {.max_parts = 50, .max_bytes = 1 << 30, .increment = true};
    struct split_plan p;
    split_plan_build(t, 5, &o, &p);
    assert_int_equal(p.ntasks, 2);
    assert_int_equal(p.tasks[0].table, 0);
    assert_true(p.tasks[0].schema_only);
    assert_int_equal(p.tasks[0].nparts, 0);
    assert_null(p.tasks[0].parts);
    assert_int_equal(p.tasks[0].rows, 0);
    assert_int_equal(p.tasks[1].table, 3);
    assert_true(p.tasks[1].schema_only);
    split_plan_release(&p);

    /* Without increment, DONE partitions are moved again; a DONE table with none: skipped. */
    o.increment = false;
    split_plan_build(t, 5, &o, &p);
    assert_int_equal(p.ntasks, 4); /* empty(schema), alldone, partdone, doing */
    assert_true(p.tasks[0].schema_only);
    for (size_t i = 1; i < 4; i++) {
        assert_false(p.tasks[i].schema_only);
        assert_int_equal(p.tasks[i].nparts, 3);
    }
    split_plan_release(&p);

    /* A job-level schemaOnly: one schema-only task per table, partitions or not. */
    struct split_table u[] = {utable(1, "u", "DONE"), ptable(2, "p", done, 3)};
    o.schema_only = true;
    split_plan_build(u, 2, &o, &p);
    assert_int_equal(p.ntasks, 2);
    assert_true(p.tasks[0].schema_only && p.tasks[1].schema_only);
    assert_int_equal(p.tasks[0].nparts + p.tasks[1].nparts, 0);
    split_plan_release(&p);
    free(done);
}

static void test_round_robin(void **state)
{
    (void)state;
    struct split_part *a = parts_new(3, NULL, "INIT"), *c = parts_new(2, NULL, "INIT");
    struct split_table t[] = {ptable(1, "A", a, 3), utable(2, "B", "INIT"), ptable(3, "C", c, 2),
                              utable(4, "D", "DONE")};
    struct split_opts o = {.max_parts = 1, .max_bytes = 1 << 30, .increment = true};
    struct split_plan p;
    split_plan_build(t, 4, &o, &p);
    /* A1 B C1 A2 C2 A3 (D skipped: DONE with increment) */
    size_t want_table[] = {0, 1, 2, 0, 2, 0};
    size_t want_part[] = {0, 0, 0, 1, 1, 2};
    assert_int_equal(p.ntasks, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(p.tasks[i].table, want_table[i]);
        if (p.tasks[i].nparts)
            assert_int_equal(p.tasks[i].parts[0], want_part[i]);
    }
    split_plan_release(&p);

    /* Nothing at all: an empty plan. */
    split_plan_build(t, 0, &o, &p);
    assert_int_equal(p.ntasks, 0);
    split_plan_release(&p);
    free(a);
    free(c);
}

static void test_conflict(void **state)
{
    (void)state;
    int64_t a[] = {1, 3, 5}, b[] = {2, 4, 6}, c[] = {5, 9};
    assert_true(split_conflict(COVER_WHOLE, NULL, 0, COVER_WHOLE, NULL, 0));
    assert_true(split_conflict(COVER_WHOLE, NULL, 0, COVER_PARTS, a, 3));
    assert_true(split_conflict(COVER_PARTS, a, 3, COVER_WHOLE, NULL, 0));
    assert_true(split_conflict(COVER_SCHEMA, NULL, 0, COVER_WHOLE, NULL, 0));
    assert_true(split_conflict(COVER_SCHEMA, NULL, 0, COVER_SCHEMA, NULL, 0));
    assert_false(split_conflict(COVER_SCHEMA, NULL, 0, COVER_PARTS, a, 3));
    assert_false(split_conflict(COVER_PARTS, b, 3, COVER_SCHEMA, NULL, 0));
    assert_false(split_conflict(COVER_PARTS, a, 3, COVER_PARTS, b, 3));
    assert_true(split_conflict(COVER_PARTS, a, 3, COVER_PARTS, c, 2));
    assert_true(split_conflict(COVER_PARTS, c, 2, COVER_PARTS, a, 3));
    assert_false(split_conflict(COVER_PARTS, a, 0, COVER_PARTS, c, 2));
}

/* ================================================================ Part 2: the store */

struct fx {
    char dir[64];
    struct store *store;
    struct engine *eng;
    struct db *db;
    struct mms_config cfg;
    int64_t source_id, db_id, plain_id, pt_id, other_id;
    int64_t part_ids[6]; /* of table pt: n=1..6 */
};

static void sql(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sql(struct fx *f, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    struct mms_err e = {0};
    if (db_exec(f->db, buf, &e) < 0)
        fail_msg("SQL failed: %s: %s", buf, e.msg);
}

/* One integer from a query with up to one int64 parameter. sql text must be a literal. */
static int64_t q1(struct fx *f, const char *text, int64_t p1)
{
    struct mms_err e = {0};
    struct db_stmt *st = db_prepare(f->db, text, &e);
    if (!st)
        fail_msg("prepare: %s", e.msg);
    if (strstr(text, "$1"))
        db_bind_i64(st, 1, p1);
    int rc = db_step(st, &e);
    int64_t v = rc == DB_ROW && !db_col_null(st, 0) ? db_col_i64(st, 0) : -1;
    db_done(st);
    return v;
}

static int64_t last_id(struct fx *f, const char *table)
{
    (void)table;
    return q1(f, "SELECT last_insert_rowid()", 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/mms-test-split-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/mms.db", f->dir);
    struct mms_err e = {0};
    if (store_open(&f->store, path, 1, &e) < 0)
        fail_msg("store_open: %s", e.msg);
    f->cfg = (struct mms_config){.workers = 0, .control_workers = 0, .lease_seconds = 30,
                                 .poll_ms = 50, .split_partitions = 2,
                                 .split_bytes = 5368709120LL};
    if (engine_start(&f->eng, f->store, &f->cfg, &e) < 0)
        fail_msg("engine_start: %s", e.msg);
    if (store_connect(f->store, &f->db, &e) < 0)
        fail_msg("store_connect: %s", e.msg);

    int64_t now = time_now();
    sql(f, "INSERT INTO datasource (name, type, status, config, create_time) VALUES "
           "('src', 'SQLITE', 'STARTED', '{\"dst.project\":\"proj\"}', %lld)",
        (long long)now);
    f->source_id = last_id(f, "datasource");
    sql(f, "INSERT INTO db (source_id, name, create_time) VALUES (%lld, 'main', %lld)",
        (long long)f->source_id, (long long)now);
    f->db_id = last_id(f, "db");
    sql(f, "INSERT INTO tbl (source_id, db_id, name, num_rows, size, create_time) VALUES "
           "(%lld, %lld, 'plain', 100, 1000, %lld)",
        (long long)f->source_id, (long long)f->db_id, (long long)now);
    f->plain_id = last_id(f, "tbl");
    sql(f, "INSERT INTO tbl (source_id, db_id, name, has_partitions, schema, create_time) VALUES "
           "(%lld, %lld, 'pt', 1, '{\"columns\":[{\"name\":\"v\",\"type\":\"text\"}],"
           "\"partitions\":[{\"name\":\"ds\",\"type\":\"text\"},{\"name\":\"n\","
           "\"type\":\"int64\"}]}', %lld)",
        (long long)f->source_id, (long long)f->db_id, (long long)now);
    f->pt_id = last_id(f, "tbl");
    sql(f, "INSERT INTO tbl (source_id, db_id, name, num_rows, create_time) VALUES "
           "(%lld, %lld, 'other', 5, %lld)",
        (long long)f->source_id, (long long)f->db_id, (long long)now);
    f->other_id = last_id(f, "tbl");
    for (int i = 1; i <= 6; i++) {
        sql(f, "INSERT INTO part (source_id, db_id, table_id, value, size, num_rows, "
               "create_time) VALUES (%lld, %lld, %lld, 'ds=2024-01-0%d/n=%d', 10, %d, %lld)",
            (long long)f->source_id, (long long)f->db_id, (long long)f->pt_id, i, i, i,
            (long long)now);
        f->part_ids[i - 1] = last_id(f, "part");
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    db_close(f->db);
    engine_stop(f->eng);
    store_close(f->store);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* Claims async task id like a worker: attempt + 1, lease. Returns the work. */
static struct work claim(struct fx *f, int64_t id)
{
    static const char text[] =
        "UPDATE async_task SET lease_owner = 'test', lease_until = $1, attempt = attempt + 1,"
        " status = 'DOING', start_time = COALESCE(start_time, 1) WHERE id = $2 RETURNING attempt";
    struct mms_err e = {0};
    struct db_stmt *st = db_prepare(f->db, text, &e);
    db_bind_i64(st, 1, time_now_ms() + 30000);
    db_bind_i64(st, 2, id);
    if (db_step(st, &e) != DB_ROW)
        fail_msg("claim %lld: %s", (long long)id, e.msg);
    int64_t attempt = db_col_i64(st, 0);
    db_done(st);
    return (struct work){.eng = f->eng, .db = f->db, .cfg = &f->cfg, .owner = "test",
                         .kind = WORK_ASYNC, .id = id, .attempt = attempt,
                         .lease_until_ms = time_now_ms() + 30000, .last_beat_ms = time_now_ms()};
}

/* Queues and runs one TASK_CREATE with params `body`; returns the async task (caller
 * releases). */
static struct async_task run_create(struct fx *f, const char *body)
{
    json_t *params = J(body);
    int64_t id = 0;
    struct mms_err e = {0};
    if (store_async_create(f->db, f->source_id, "TASK_CREATE", 0, params, &id, &e) < 0)
        fail_msg("store_async_create: %s", e.msg);
    struct work w = claim(f, id);
    exec_task_create(&w, params, f->source_id);
    json_decref(params);
    struct async_task t;
    if (store_async_get(f->db, f->source_id, id, &t, &e) != 0)
        fail_msg("store_async_get: %s", e.msg);
    return t;
}

static int64_t expect_done(struct async_task *t)
{
    if (strcmp(t->status, "DONE") != 0)
        fail_msg("TASK_CREATE %s: %s", t->status, t->error_msg ? t->error_msg : "");
    json_t *r = J(t->result);
    int64_t job = json_integer_value(json_object_get(r, "jobId"));
    assert_int_equal(job, t->object_id);
    assert_true(json_is_integer(json_object_get(r, "taskNum")));
    json_decref(r);
    assert_int_equal(t->progress, 100);
    return job;
}

static void expect_failed(struct async_task *t, const char *needle)
{
    if (strcmp(t->status, "FAILED") != 0)
        fail_msg("expected FAILED, got %s (%s)", t->status, t->result ? t->result : "");
    if (!t->error_msg || !strstr(t->error_msg, needle))
        fail_msg("errorMsg '%s' does not contain '%s'", t->error_msg ? t->error_msg : "(null)",
                 needle);
    assert_null(t->result);
}

/* Marks every task terminal, so that later jobs do not conflict with them. */
static void finish_all_tasks(struct fx *f)
{
    sql(f, "UPDATE task SET status = 'DONE', queued = 0");
}

static void test_exec_database_partitioned(void **state)
{
    struct fx *f = *state;
    struct async_task t = run_create(
        f, "{\"name\":\"all\",\"srcDbName\":\"main\",\"tableWhiteList\":[\"pt\",\"plain\"]}");
    int64_t job = expect_done(&t);
    async_task_release(&t);
    /* pt: 6 partitions by 2 -> 3 tasks; plain: 1 task. Order by name: plain, pt. */
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1", job), 4);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task_part tp JOIN task t ON t.id = tp.task_id"
                           " WHERE t.job_id = $1",
                        job),
                     6);
    /* Round-robin: plain, pt#1, pt#2, pt#3; seq = job * 2^20 + position. */
    assert_int_equal(q1(f, "SELECT MIN(seq) FROM task WHERE job_id = $1", job), job * 1048576);
    assert_int_equal(q1(f, "SELECT table_id FROM task WHERE job_id = $1 ORDER BY seq LIMIT 1",
                        job),
                     f->plain_id);
    assert_int_equal(q1(f, "SELECT MAX(seq) FROM task WHERE job_id = $1", job),
                     job * 1048576 + 3);
    /* rows_total from the catalog, destination from the data source default. */
    assert_int_equal(q1(f, "SELECT rows_total FROM task WHERE job_id = $1 ORDER BY seq LIMIT 1",
                        job),
                     100);
    assert_int_equal(q1(f, "SELECT SUM(rows_total) FROM task WHERE job_id = $1 AND table_id <>"
                           " (SELECT table_id FROM task WHERE job_id = $1 ORDER BY seq LIMIT 1)",
                        job),
                     21);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1 AND dst_db_name = 'proj'"
                           " AND dst_schema_name = 'main' AND type = 'SQLITE'"
                           " AND status = 'INIT' AND queued = 1",
                        job),
                     4);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM job WHERE id = $1 AND type = 'Database'"
                           " AND status = 'INIT' AND dst_db_name = 'proj'",
                        job),
                     1);

    /* The same tables again: rejected while those tasks are active, naming task and job. */
    t = run_create(f, "{\"name\":\"again\",\"srcDbName\":\"main\",\"tables\":[\"plain\"]}");
    expect_failed(&t, "already covered by task");
    assert_non_null(strstr(t.error_msg, "'main.plain'"));
    async_task_release(&t);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM job", 0), 1);

    /* A schema-only job on pt conflicts with nothing of pt's partition tasks. */
    t = run_create(f, "{\"name\":\"so\",\"srcDbName\":\"main\",\"tables\":[\"pt\"],"
                      "\"schemaOnly\":true}");
    int64_t so = expect_done(&t);
    async_task_release(&t);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1 AND schema_only = 1",
                        so),
                     1);
    finish_all_tasks(f);
}

static void test_exec_filters(void **state)
{
    struct fx *f = *state;
    /* n >= 4 -> partitions 4, 5, 6 -> tasks [4,5] [6]. */
    struct async_task t = run_create(
        f, "{\"name\":\"flt\",\"srcDbName\":\"main\",\"tables\":[\"pt\"],"
           "\"partitionFilters\":{\"pt\":\"n >= 4 and ds > '2024-01-03'\"}}");
    int64_t job = expect_done(&t);
    async_task_release(&t);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1", job), 2);
    assert_int_equal(q1(f, "SELECT MIN(p.num_rows) FROM task_part tp JOIN task t"
                           " ON t.id = tp.task_id JOIN part p ON p.id = tp.part_id"
                           " WHERE t.job_id = $1",
                        job),
                     4);

    /* Disjoint partitions of the same table: no conflict. */
    t = run_create(f, "{\"name\":\"flt2\",\"srcDbName\":\"main\",\"tables\":[\"pt\"],"
                      "\"partitionFilters\":{\"pt\":\"n in (1, 2)\"}}");
    int64_t job2 = expect_done(&t);
    async_task_release(&t);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1", job2), 1);
    /* Overlapping ones: conflict. */
    t = run_create(f, "{\"name\":\"flt3\",\"srcDbName\":\"main\",\"tables\":[\"pt\"],"
                      "\"partitionFilters\":{\"pt\":\"n = 2 or n = 3\"}}");
    expect_failed(&t, "some of its partitions");
    async_task_release(&t);

    /* A filter that matches nothing: one schema-only task. */
    finish_all_tasks(f);
    sql(f, "UPDATE tbl SET status = 'INIT'");
    t = run_create(f, "{\"name\":\"none\",\"srcDbName\":\"main\",\"tables\":[\"pt\"],"
                      "\"partitionFilters\":{\"pt\":\"n > 100\"}}");
    job = expect_done(&t);
    async_task_release(&t);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1 AND schema_only = 1"
                           " AND rows_total = 0",
                        job),
                     1);
    finish_all_tasks(f);

    /* Semantic errors, each naming what is wrong. */
    t = run_create(f, "{\"name\":\"e1\",\"srcDbName\":\"main\",\"tables\":[\"pt\"],"
                      "\"partitionFilters\":{\"pt\":\"nope = 1\"}}");
    expect_failed(&t, "nope");
    async_task_release(&t);
    t = run_create(f, "{\"name\":\"e2\",\"srcDbName\":\"main\",\"tables\":[\"pt\"],"
                      "\"partitionFilters\":{\"pt\":\"ds = 1\"}}");
    expect_failed(&t, "partitionFilters[pt]");
    async_task_release(&t);
    t = run_create(f, "{\"name\":\"e3\",\"srcDbName\":\"main\",\"tables\":[\"plain\"],"
                      "\"partitionFilters\":{\"plain\":\"n = 1\"}}");
    expect_failed(&t, "table 'plain' has no partitions");
    async_task_release(&t);
    t = run_create(f, "{\"name\":\"e4\",\"srcDbName\":\"main\",\"tables\":[\"plain\"],"
                      "\"partitionFilters\":{\"typo\":\"n = 1\"}}");
    expect_failed(&t, "partitionFilters: table 'typo' does not exist");
    async_task_release(&t);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM job WHERE name LIKE 'e%'", 0), 0);
}

static void test_exec_partitions_scope(void **state)
{
    struct fx *f = *state;
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"parts\",\"partitions\":[%lld,%lld,%lld]}",
             (long long)f->part_ids[4], (long long)f->part_ids[0], (long long)f->part_ids[4]);
    struct async_task t = run_create(f, body);
    int64_t job = expect_done(&t);
    async_task_release(&t);
    /* Duplicates count once; 2 partitions -> one task holding both. */
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1", job), 1);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task_part tp JOIN task t ON t.id = tp.task_id"
                           " WHERE t.job_id = $1",
                        job),
                     2);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM job WHERE id = $1 AND type = 'Partitions'"
                           " AND src_db_name = 'main'",
                        job),
                     1);
    finish_all_tasks(f);

    t = run_create(f, "{\"name\":\"badpart\",\"partitions\":[999999]}");
    expect_failed(&t, "partition 999999 does not exist");
    async_task_release(&t);

    sql(f, "UPDATE part SET deleted = 1 WHERE id = %lld", (long long)f->part_ids[5]);
    snprintf(body, sizeof body, "{\"name\":\"delpart\",\"partitions\":[%lld]}",
             (long long)f->part_ids[5]);
    t = run_create(f, body);
    expect_failed(&t, "was deleted at the source");
    async_task_release(&t);
    sql(f, "UPDATE part SET deleted = 0");

    snprintf(body, sizeof body,
             "{\"name\":\"wrongdb\",\"srcDbName\":\"nodb\",\"partitions\":[%lld]}",
             (long long)f->part_ids[0]);
    t = run_create(f, body);
    expect_failed(&t, "source db 'nodb' does not exist");
    async_task_release(&t);
}

/* A table with partitions but no partition keys in its schema (MySQL RANGE): every job moves
 * it whole, with no task_part rows; filters and increment only decide whether it moves. */
static void test_exec_whole(void **state)
{
    struct fx *f = *state;
    int64_t now = time_now();
    sql(f, "INSERT INTO tbl (source_id, db_id, name, has_partitions, schema, size, num_rows,"
           " create_time) VALUES (%lld, %lld, 'rng', 1, '{\"columns\":[{\"name\":\"v\","
           "\"type\":\"int64\"}],\"partitions\":[]}', 300, 30, %lld)",
        (long long)f->source_id, (long long)f->db_id, (long long)now);
    int64_t rng = last_id(f, "tbl");
    int64_t pid[3];
    for (int i = 0; i < 3; i++) {
        sql(f, "INSERT INTO part (source_id, db_id, table_id, value, size, num_rows, create_time)"
               " VALUES (%lld, %lld, %lld, 'partition=p%d', 100, 10, %lld)",
            (long long)f->source_id, (long long)f->db_id, (long long)rng, i, (long long)now);
        pid[i] = last_id(f, "part");
    }
    static const char ntasks[] = "SELECT COUNT(*) FROM task WHERE job_id = $1";
    static const char nwhole[] = "SELECT COUNT(*) FROM task WHERE job_id = $1 AND schema_only = 0"
                                 " AND rows_total = 30 AND NOT EXISTS (SELECT 1 FROM task_part"
                                 " tp WHERE tp.task_id = task.id)";
    struct async_task t = run_create(f, "{\"name\":\"w1\",\"srcDbName\":\"main\","
                                        "\"tables\":[\"rng\"]}");
    int64_t job = expect_done(&t);
    async_task_release(&t);
    assert_int_equal(q1(f, ntasks, job), 1);
    assert_int_equal(q1(f, nwhole, job), 1);
    finish_all_tasks(f);

    /* A filter on the pseudo key selecting one partition: the whole table. */
    t = run_create(f, "{\"name\":\"w2\",\"srcDbName\":\"main\",\"tables\":[\"rng\"],"
                      "\"partitionFilters\":{\"rng\":\"partition = 'p1'\"}}");
    job = expect_done(&t);
    async_task_release(&t);
    assert_int_equal(q1(f, ntasks, job), 1);
    assert_int_equal(q1(f, nwhole, job), 1);
    finish_all_tasks(f);
    /* selecting none: schema only */
    t = run_create(f, "{\"name\":\"w3\",\"srcDbName\":\"main\",\"tables\":[\"rng\"],"
                      "\"partitionFilters\":{\"rng\":\"partition = 'nope'\"}}");
    job = expect_done(&t);
    async_task_release(&t);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1 AND schema_only = 1",
                        job),
                     1);
    finish_all_tasks(f);
    /* a real key name is refused: the table has only the pseudo key */
    t = run_create(f, "{\"name\":\"w4\",\"srcDbName\":\"main\",\"tables\":[\"rng\"],"
                      "\"partitionFilters\":{\"rng\":\"v = 1\"}}");
    expect_failed(&t, "partition keys: partition");
    async_task_release(&t);

    /* A Partitions job naming one of its partitions: the whole table. */
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"w5\",\"partitions\":[%lld]}", (long long)pid[2]);
    t = run_create(f, body);
    job = expect_done(&t);
    async_task_release(&t);
    assert_int_equal(q1(f, ntasks, job), 1);
    assert_int_equal(q1(f, nwhole, job), 1);
    finish_all_tasks(f);

    /* Increment: all partitions DONE -> no task; one flagged updated -> the whole table. */
    sql(f, "UPDATE part SET status = 'DONE', updated = 0 WHERE table_id = %lld", (long long)rng);
    sql(f, "UPDATE tbl SET status = 'DONE', updated = 0 WHERE id = %lld", (long long)rng);
    t = run_create(f, "{\"name\":\"w6\",\"srcDbName\":\"main\",\"tables\":[\"rng\"],"
                      "\"increment\":true}");
    if (strcmp(t.status, "DONE") == 0) /* an empty job may be refused or accepted */
        assert_int_equal(q1(f, ntasks, t.object_id), 0);
    async_task_release(&t);
    sql(f, "UPDATE part SET updated = 1 WHERE id = %lld", (long long)pid[1]);
    t = run_create(f, "{\"name\":\"w7\",\"srcDbName\":\"main\",\"tables\":[\"rng\"],"
                      "\"increment\":true}");
    job = expect_done(&t);
    async_task_release(&t);
    assert_int_equal(q1(f, ntasks, job), 1);
    assert_int_equal(q1(f, nwhole, job), 1);
    finish_all_tasks(f);
    sql(f, "UPDATE tbl SET deleted = 1 WHERE id = %lld", (long long)rng);
}

static void test_exec_increment(void **state)
{
    struct fx *f = *state;
    finish_all_tasks(f);
    sql(f, "UPDATE part SET status = 'DONE', updated = 0 WHERE id IN (%lld, %lld)",
        (long long)f->part_ids[0], (long long)f->part_ids[1]);
    sql(f, "UPDATE part SET status = 'DOING' WHERE id = %lld", (long long)f->part_ids[2]);
    sql(f, "UPDATE part SET status = 'DONE', updated = 1 WHERE id = %lld",
        (long long)f->part_ids[3]);
    sql(f, "UPDATE tbl SET status = 'DONE' WHERE id = %lld", (long long)f->plain_id);
    sql(f, "UPDATE tbl SET status = 'FAILED' WHERE id = %lld", (long long)f->other_id);
    struct async_task t =
        run_create(f, "{\"name\":\"inc\",\"srcDbName\":\"main\",\"increment\":true}");
    int64_t job = expect_done(&t);
    async_task_release(&t);
    /* other (FAILED) + pt partitions 4, 5, 6 (4 updated; 1, 2 DONE and 3 DOING skipped), by 2:
     * tasks other, pt[4,5], pt[6]; plain (DONE) skipped. */
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1", job), 3);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task t JOIN tbl b ON b.id = t.table_id"
                           " WHERE t.job_id = $1 AND b.name = 'plain'",
                        job),
                     0);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task t JOIN tbl b ON b.id = t.table_id"
                           " WHERE t.job_id = $1 AND b.name = 'other'",
                        job),
                     1);
    assert_int_equal(q1(f, "SELECT MIN(p.num_rows) FROM task_part tp JOIN task t"
                           " ON t.id = tp.task_id JOIN part p ON p.id = tp.part_id"
                           " WHERE t.job_id = $1",
                        job),
                     4);
    sql(f, "UPDATE part SET status = 'INIT', updated = 0");
    sql(f, "UPDATE tbl SET status = 'INIT'");
    finish_all_tasks(f);

    /* Every object DONE: an increment job with no task at all, DONE at once. */
    sql(f, "UPDATE part SET status = 'DONE'");
    sql(f, "UPDATE tbl SET status = 'DONE'");
    t = run_create(f, "{\"name\":\"nothing\",\"srcDbName\":\"main\",\"increment\":true}");
    job = expect_done(&t);
    assert_non_null(strstr(t.result, "\"taskNum\":0"));
    async_task_release(&t);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM job WHERE id = $1 AND status = 'DONE'", job),
                     1);
    sql(f, "UPDATE part SET status = 'INIT'");
    sql(f, "UPDATE tbl SET status = 'INIT'");
}

static void test_exec_errors(void **state)
{
    struct fx *f = *state;
    finish_all_tasks(f);
    struct async_task t =
        run_create(f, "{\"name\":\"x\",\"srcDbName\":\"main\",\"tables\":[\"plain\",\"nope\"]}");
    expect_failed(&t, "table 'nope' does not exist in source db 'main'");
    async_task_release(&t);
    t = run_create(f, "{\"name\":\"x\",\"srcDbName\":\"missing\"}");
    expect_failed(&t, "source db 'missing' does not exist");
    async_task_release(&t);
    t = run_create(f, "{\"name\":\"x\",\"srcDbName\":\"main\",\"tableWhiteList\":[\"zz\"]}");
    expect_failed(&t, "tableWhiteList: table 'zz'");
    async_task_release(&t);
    t = run_create(f, "{\"name\":\"x\",\"srcDbName\":\"main\",\"tableWhiteList\":[\"plain\"],"
                      "\"tableBlackList\":[\"zz\"]}");
    expect_failed(&t, "tableBlackList: table 'zz'");
    async_task_release(&t);
    /* Two tables onto one destination. */
    t = run_create(f, "{\"name\":\"x\",\"srcDbName\":\"main\",\"tables\":[\"plain\",\"other\"],"
                      "\"tableMapping\":{\"other\":\"plain\"}}");
    expect_failed(&t, "would both be written to proj.main.plain");
    async_task_release(&t);
    t = run_create(f, "{\"name\":\"x\",\"srcDbName\":\"main\",\"tables\":[\"plain\"],"
                      "\"tableMapping\":{\"ghost\":\"y\"}}");
    expect_failed(&t, "tableMapping: table 'ghost'");
    async_task_release(&t);
    /* A deleted table. */
    sql(f, "UPDATE tbl SET deleted = 1 WHERE id = %lld", (long long)f->other_id);
    t = run_create(f, "{\"name\":\"x\",\"srcDbName\":\"main\",\"tables\":[\"other\"]}");
    expect_failed(&t, "was deleted at the source");
    async_task_release(&t);
    /* ... and a Database job leaves it out. */
    t = run_create(f, "{\"name\":\"dbjob\",\"srcDbName\":\"main\",\"tableBlackList\":[\"pt\"]}");
    int64_t job = expect_done(&t);
    async_task_release(&t);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1", job), 1);
    sql(f, "UPDATE tbl SET deleted = 0");
    finish_all_tasks(f);
    /* Bad stored params (what a broken timer could queue). */
    t = run_create(f, "{\"name\":\"x\",\"srcDbName\":\"main\",\"tables\":\"plain\"}");
    expect_failed(&t, "invalid job request: tables must be an array");
    async_task_release(&t);
    /* A stopped data source. */
    sql(f, "UPDATE datasource SET status = 'STOPPED'");
    t = run_create(f, "{\"name\":\"x\",\"srcDbName\":\"main\"}");
    assert_string_equal(t.status, "FAILED");
    async_task_release(&t);
    sql(f, "UPDATE datasource SET status = 'STARTED'");
    /* Overrides: dstDbName / dstSchemaName / tableMapping. */
    t = run_create(f, "{\"name\":\"ovr\",\"srcDbName\":\"main\",\"tables\":[\"plain\"],"
                      "\"dstDbName\":\"P2\",\"dstSchemaName\":\"S2\","
                      "\"tableMapping\":{\"plain\":\"T2\"}}");
    job = expect_done(&t);
    async_task_release(&t);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1 AND dst_db_name = 'P2'"
                           " AND dst_schema_name = 'S2' AND dst_table_name = 'T2'",
                        job),
                     1);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM job WHERE id = $1 AND dst_db_name = 'P2'"
                           " AND dst_schema_name = 'S2'",
                        job),
                     1);
    finish_all_tasks(f);
}

static void test_exec_crash_and_fencing(void **state)
{
    struct fx *f = *state;
    finish_all_tasks(f);
    int64_t jobs_before = q1(f, "SELECT COUNT(*) FROM job", 0);
    /* A committed attempt, then the row is claimed again (as after a crash that lost the
     * DONE... which cannot happen since both are one transaction; we force it). */
    struct async_task t = run_create(f, "{\"name\":\"once\",\"srcDbName\":\"main\","
                                        "\"tables\":[\"plain\"]}");
    int64_t job = expect_done(&t);
    int64_t id = t.id;
    async_task_release(&t);
    sql(f, "UPDATE async_task SET status = 'DOING', result = NULL, object_id = NULL"
           " WHERE id = %lld",
        (long long)id);
    struct work w = claim(f, id);
    json_t *params = J("{\"name\":\"once\",\"srcDbName\":\"main\",\"tables\":[\"plain\"]}");
    exec_task_create(&w, params, f->source_id);
    struct mms_err e = {0};
    assert_int_equal(store_async_get(f->db, f->source_id, id, &t, &e), 0);
    assert_int_equal(expect_done(&t), job);
    async_task_release(&t);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM job", 0), jobs_before + 1);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1", job), 1);
    finish_all_tasks(f);

    /* A stale attempt: another worker took the row over; the old one writes nothing. */
    int64_t aid = 0;
    assert_int_equal(store_async_create(f->db, f->source_id, "TASK_CREATE", 0, params, &aid, &e),
                     0);
    struct work stale = claim(f, aid);
    struct work fresh = claim(f, aid);
    assert_true(fresh.attempt > stale.attempt);
    exec_task_create(&stale, params, f->source_id);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM job", 0), jobs_before + 1);
    assert_int_equal(store_async_get(f->db, f->source_id, aid, &t, &e), 0);
    assert_string_equal(t.status, "DOING");
    async_task_release(&t);
    /* The current attempt builds it. */
    exec_task_create(&fresh, params, f->source_id);
    assert_int_equal(store_async_get(f->db, f->source_id, aid, &t, &e), 0);
    expect_done(&t);
    async_task_release(&t);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM job", 0), jobs_before + 2);
    json_decref(params);
    finish_all_tasks(f);
}

/* ---- Job status, stop, retry ---- */

static int64_t make_job(struct fx *f, const char *tables)
{
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"ctl\",\"srcDbName\":\"main\",\"tables\":%s}",
             tables);
    struct async_task t = run_create(f, body);
    int64_t job = expect_done(&t);
    async_task_release(&t);
    return job;
}

static const char *job_status(struct fx *f, int64_t job)
{
    static char s[16];
    struct mms_err e = {0};
    assert_int_equal(store_job_refresh(f->db, job, &e), 0);
    int64_t code = q1(f, "SELECT CASE status WHEN 'INIT' THEN 0 WHEN 'DOING' THEN 1"
                         " WHEN 'DONE' THEN 2 WHEN 'FAILED' THEN 3 END FROM job WHERE id = $1",
                      job);
    const char *names[] = {"INIT", "DOING", "DONE", "FAILED"};
    snprintf(s, sizeof s, "%s", code >= 0 && code < 4 ? names[code] : "?");
    return s;
}

static void set_task_status(struct fx *f, int64_t job, int nth, const char *status)
{
    sql(f, "UPDATE task SET status = '%s' WHERE id = (SELECT id FROM task WHERE job_id = %lld"
           " ORDER BY seq LIMIT 1 OFFSET %d)",
        status, (long long)job, nth);
}

static void test_job_refresh(void **state)
{
    struct fx *f = *state;
    finish_all_tasks(f);
    int64_t job = make_job(f, "[\"plain\",\"other\"]");
    assert_string_equal(job_status(f, job), "INIT");
    set_task_status(f, job, 0, "SCHEMA_DOING");
    assert_string_equal(job_status(f, job), "DOING");
    set_task_status(f, job, 0, "DONE");
    assert_string_equal(job_status(f, job), "DOING"); /* the other is INIT: still to run */
    set_task_status(f, job, 1, "DATA_FAILED");
    assert_string_equal(job_status(f, job), "FAILED");
    set_task_status(f, job, 1, "VERIFICATION_DONE");
    assert_string_equal(job_status(f, job), "DOING");
    set_task_status(f, job, 1, "DONE");
    assert_string_equal(job_status(f, job), "DONE");
    sql(f, "DELETE FROM task WHERE job_id = %lld", (long long)job);
    assert_string_equal(job_status(f, job), "DONE"); /* no tasks: nothing to do */
}

static void test_retry(void **state)
{
    struct fx *f = *state;
    finish_all_tasks(f);
    int64_t job = make_job(f, "[\"plain\",\"other\"]");
    struct mms_err e = {0};
    int64_t n = 0;
    /* Nothing failed: 409. */
    assert_int_equal(store_job_retry(f->db, f->source_id, job, &n, &e), -1);
    assert_int_equal(e.http, 409);
    assert_string_equal(e.code, "Conflict.NothingToRetry");
    /* Another source's job: not found. */
    assert_int_equal(store_job_retry(f->db, f->source_id + 1, job, &n, &e), 1);

    set_task_status(f, job, 0, "VERIFICATION_FAILED");
    set_task_status(f, job, 1, "SCHEMA_FAILED");
    sql(f, "UPDATE task SET queued = 0, stopped = 1, error_msg = 'boom' WHERE job_id = %lld",
        (long long)job);
    sql(f, "UPDATE job SET stopped = 1 WHERE id = %lld", (long long)job);
    assert_int_equal(store_job_retry(f->db, f->source_id, job, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1 AND queued = 1"
                           " AND stopped = 0 AND error_msg IS NULL AND retried_times = 1",
                        job),
                     2);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1 AND status IN"
                           " ('SCHEMA_DONE', 'INIT')",
                        job),
                     2);
    assert_int_equal(q1(f, "SELECT stopped FROM job WHERE id = $1", job), 0);
    assert_int_equal(q1(f, "SELECT status = 'DOING' FROM job WHERE id = $1", job), 1);

    /* RetryMmsTask: only a failed task. */
    int64_t task = q1(f, "SELECT id FROM task WHERE job_id = $1 ORDER BY seq LIMIT 1", job);
    assert_int_equal(store_task_retry(f->db, f->source_id, task, &e), -1);
    assert_string_equal(e.code, "Conflict.TaskNotFailed");
    sql(f, "UPDATE task SET status = 'DATA_FAILED' WHERE id = %lld", (long long)task);
    assert_int_equal(store_task_retry(f->db, f->source_id, task, &e), 0);
    assert_int_equal(q1(f, "SELECT retried_times FROM task WHERE id = $1", task), 2);
    assert_int_equal(q1(f, "SELECT status = 'SCHEMA_DONE' FROM task WHERE id = $1", task), 1);
    assert_int_equal(store_task_retry(f->db, f->source_id + 1, task, &e), 1);
    finish_all_tasks(f);
}

struct release_arg {
    struct fx *f;
    int64_t job;
};

static void *release_later(void *p)
{
    struct release_arg *a = p;
    struct db *db = NULL;
    struct mms_err e = {0};
    usleep(600 * 1000);
    if (store_connect(a->f->store, &db, &e) < 0)
        return NULL;
    char text[200];
    snprintf(text, sizeof text,
             "UPDATE task SET lease_owner = NULL, lease_until = NULL WHERE job_id = %lld",
             (long long)a->job);
    db_exec(db, text, &e);
    db_close(db);
    return NULL;
}

static void test_stop_job(void **state)
{
    struct fx *f = *state;
    finish_all_tasks(f);
    int64_t job = make_job(f, "[\"plain\",\"other\"]");
    struct mms_err e = {0};
    int64_t aid = 0;
    /* One task held by a live worker. */
    sql(f, "UPDATE task SET lease_owner = 'w', lease_until = %lld WHERE id = (SELECT id FROM"
           " task WHERE job_id = %lld ORDER BY seq LIMIT 1)",
        (long long)(time_now_ms() + 60000), (long long)job);
    /* Deleting a running job that is not stopped: 409. */
    assert_int_equal(store_job_delete(f->db, f->source_id, job, time_now_ms(), &e), -1);
    assert_string_equal(e.code, "Conflict.JobRunning");

    assert_int_equal(store_job_stop(f->db, f->source_id, job, &aid, &e), 0);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1 AND stopped = 1", job),
                     2);
    assert_int_equal(q1(f, "SELECT object_id FROM async_task WHERE id = $1", aid), job);
    pthread_t th;
    struct release_arg arg = {f, job};
    pthread_create(&th, NULL, release_later, &arg);
    struct work w = claim(f, aid);
    json_t *params = J("{}");
    json_object_set_new(params, "jobId", json_integer(job));
    int64_t t0 = time_mono_ms();
    exec_stop_job(&w, params, f->source_id);
    int64_t waited = time_mono_ms() - t0;
    pthread_join(th, NULL);
    struct async_task t;
    assert_int_equal(store_async_get(f->db, f->source_id, aid, &t, &e), 0);
    assert_string_equal(t.status, "DONE");
    assert_string_equal(t.type, "STOP_JOB");
    assert_int_equal(t.object_id, job);
    assert_non_null(strstr(t.result, "\"stoppedTasks\":2"));
    async_task_release(&t);
    assert_true(waited >= 400); /* it waited for the lease to go */

    /* Start clears every stop flag. */
    assert_int_equal(store_job_start(f->db, f->source_id, job, &e), 0);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1 AND stopped = 0"
                           " AND queued = 1",
                        job),
                     2);
    assert_int_equal(q1(f, "SELECT stopped FROM job WHERE id = $1", job), 0);

    /* Stop then delete at once is allowed even with a live lease; the STOP_JOB then reports
     * the job as deleted. */
    sql(f, "UPDATE task SET lease_owner = 'w', lease_until = %lld WHERE job_id = %lld",
        (long long)(time_now_ms() + 60000), (long long)job);
    assert_int_equal(store_job_stop(f->db, f->source_id, job, &aid, &e), 0);
    assert_int_equal(store_job_delete(f->db, f->source_id, job, time_now_ms(), &e), 0);
    assert_int_equal(q1(f, "SELECT COUNT(*) FROM task WHERE job_id = $1", job), 0);
    w = claim(f, aid);
    exec_stop_job(&w, params, f->source_id);
    assert_int_equal(store_async_get(f->db, f->source_id, aid, &t, &e), 0);
    assert_string_equal(t.status, "DONE");
    assert_non_null(strstr(t.result, "\"jobDeleted\":true"));
    async_task_release(&t);
    assert_int_equal(store_job_delete(f->db, f->source_id, job, time_now_ms(), &e), 1);
    json_decref(params);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_request_scope),    cmocka_unit_test(test_request_fields),
        cmocka_unit_test(test_request_config),   cmocka_unit_test(test_name_lists),
        cmocka_unit_test(test_keep),             cmocka_unit_test(test_unpartitioned),
        cmocka_unit_test(test_group_by_count),   cmocka_unit_test(test_group_by_bytes),
        cmocka_unit_test(test_oversized_alone),  cmocka_unit_test(test_increment_partitions),
        cmocka_unit_test(test_schema_only),      cmocka_unit_test(test_round_robin),
        cmocka_unit_test(test_whole_table),
        cmocka_unit_test(test_conflict),
    };
    const struct CMUnitTest store[] = {
        cmocka_unit_test(test_exec_database_partitioned),
        cmocka_unit_test(test_exec_filters),
        cmocka_unit_test(test_exec_partitions_scope),
        cmocka_unit_test(test_exec_whole),
        cmocka_unit_test(test_exec_increment),
        cmocka_unit_test(test_exec_errors),
        cmocka_unit_test(test_exec_crash_and_fencing),
        cmocka_unit_test(test_job_refresh),
        cmocka_unit_test(test_retry),
        cmocka_unit_test(test_stop_job),
    };
    log_set_level("warn"); /* the executor logs every job it builds or rejects */
    int rc = cmocka_run_group_tests_name("split", pure, NULL, NULL);
    rc += cmocka_run_group_tests_name("job_create", store, setup, teardown);
    return rc;
}
