/* Retry policy of migration tasks (src/engine/retry.c): which errors are transient, the
 * backoff sequence with its cap and jitter, the budget, and the job's others.* values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/retry.h"
#include "store/store.h"
#include "store/store_taskrun.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static struct mms_err mk(int http, const char *code)
{
    struct mms_err e = {0};
    mms_err_set(&e, http, code, "x");
    return e;
}

static void test_transient_classification(void **state)
{
    (void)state;
    struct mms_err e;
    /* Lost or refused connections, server restarting (PostgreSQL 08xxx/57xxx, MySQL client
     * errors 2xxx), busy/locked/serialisation: retried. */
    e = mk(503, "ConnectorError.Connect");
    assert_true(retry_transient(&e));
    e = mk(503, "ConnectorError.Busy");
    assert_true(retry_transient(&e));
    e = mk(500, "ConnectorError.Connect");
    assert_true(retry_transient(&e));
    e = mk(0, "ConnectorError.Busy");
    assert_true(retry_transient(&e));
    /* A 4xx Connect is a configuration problem (SQLite: no such file): permanent. */
    e = mk(400, "ConnectorError.Connect");
    assert_false(retry_transient(&e));
    static const char *const permanent[] = {
        "ConnectorError.SchemaMismatch",
        "ConnectorError.Value",
        "ConnectorError.Query",
        "ConnectorError.NotFound",
        "ConnectorError.Config",
        "ConnectorError.Internal",
        "ConnectorError.Unsupported",
        "TaskError.Verification",
        "TaskError.Config",
        "TaskError.ColumnMapping",
        "InternalError",
        "",
        "ConnectorError.ConnectX",
        "ConnectorError.Busy.Other",
    };
    for (size_t i = 0; i < sizeof permanent / sizeof permanent[0]; i++) {
        e = mk(503, permanent[i]);
        assert_false(retry_transient(&e));
        e = mk(400, permanent[i]);
        assert_false(retry_transient(&e));
    }
}

static void test_backoff_sequence(void **state)
{
    (void)state;
    /* rnd % 41 == 20: no jitter. */
    static const int64_t want[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(retry_backoff_ms((int64_t)i + 1, 20), want[i]);
    assert_int_equal(retry_backoff_ms(1000000, 20), 60000);
    assert_int_equal(retry_backoff_ms(0, 20), 1000);
    /* Jitter: within [80%, 120%] of the nominal delay, never above the cap, and it varies. */
    uint64_t s = 88172645463325252ULL;
    for (int64_t n = 1; n <= 12; n++) {
        int64_t nominal = retry_backoff_ms(n, 20), lo = INT64_MAX, hi = 0;
        for (int k = 0; k < 500; k++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            int64_t d = retry_backoff_ms(n, s);
            assert_true(d >= nominal * 8 / 10);
            assert_true(d <= nominal * 12 / 10);
            assert_true(d <= RETRY_CAP_MS);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        assert_true(hi > lo);
    }
}

static void test_budget(void **state)
{
    (void)state;
    struct retry_policy p = {.max_retries = 5, .budget_ms = 300000};
    for (int64_t n = 1; n <= 5; n++)
        assert_true(retry_allowed(&p, n, 1000, 1000));
    assert_false(retry_allowed(&p, 6, 1000, 1000));
    assert_false(retry_allowed(&p, 0, 1000, 1000));
    assert_true(retry_allowed(&p, 2, 1000, 1000 + 299999));
    assert_false(retry_allowed(&p, 2, 1000, 1000 + 300000));
    struct retry_policy none = {.max_retries = 0, .budget_ms = 300000};
    assert_false(retry_allowed(&none, 1, 0, 0));
}

static void test_policy_from_others(void **state)
{
    (void)state;
    struct retry_policy p;
    struct mms_err err = {0};
    assert_int_equal(retry_policy_from_others(&p, NULL, &err), 0);
    assert_int_equal(p.max_retries, RETRY_DEFAULT_MAX);
    assert_int_equal(p.budget_ms, RETRY_DEFAULT_BUDGET_S * 1000);

    json_t *o = json_pack("{s:i, s:i}", "maxRetries", 12, "retryBudgetSeconds", 7);
    assert_int_equal(retry_policy_from_others(&p, o, &err), 0);
    assert_int_equal(p.max_retries, 12);
    assert_int_equal(p.budget_ms, 7000);
    json_decref(o);

    o = json_pack("{s:n}", "maxRetries");
    assert_int_equal(retry_policy_from_others(&p, o, &err), 0);
    assert_int_equal(p.max_retries, RETRY_DEFAULT_MAX);
    json_decref(o);

    const char *bad[] = {"{\"maxRetries\": -1}",
                         "{\"maxRetries\": \"3\"}",
                         "{\"maxRetries\": 1.5}",
                         "{\"maxRetries\": 1001}",
                         "{\"retryBudgetSeconds\": true}",
                         "{\"retryBudgetSeconds\": -5}",
                         "{\"retryBudgetSeconds\": 99999999999}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = json_loads(bad[i], 0, NULL);
        assert_non_null(o);
        mms_err_clear(&err);
        assert_int_equal(retry_policy_from_others(&p, o, &err), -1);
        assert_int_equal(err.http, 400);
        assert_string_equal(err.code, "InvalidParameter.Others");
        assert_non_null(strstr(err.msg, "others."));
        json_decref(o);
    }
}

/* ---- the claim (engine.c) and the store side (store_taskrun.c), in process ---------------- */

struct fx {
    char dir[64];
    struct mms_config cfg;
    struct store *store;
    struct db *db;
    int64_t source_id, job_id;
    struct engine *eng; /* stopped by the teardown (a failed assertion skips the test's end) */
};

static int64_t q1(struct fx *f, const char *sql, int64_t a)
{
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(f->db, sql, &err);
    if (!st)
        fail_msg("%s: %s", sql, err.msg);
    db_bind_i64(st, 1, a);
    int rc = db_step(st, &err);
    if (rc != DB_ROW)
        fail_msg("%s: no row (%s)", sql, err.msg);
    int64_t v = db_col_null(st, 0) ? -1 : db_col_i64(st, 0);
    db_done(st);
    return v;
}

/* Runs sql with $1 = a, $2 = b (an UPDATE or INSERT ... RETURNING). */
static int64_t exec2(struct fx *f, const char *sql, int64_t a, int64_t b)
{
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(f->db, sql, &err);
    if (!st)
        fail_msg("%s: %s", sql, err.msg);
    db_bind_i64(st, 1, a);
    db_bind_i64(st, 2, b);
    int rc = db_step(st, &err);
    if (rc < 0)
        fail_msg("%s: %s", sql, err.msg);
    int64_t v = rc == DB_ROW ? db_col_i64(st, 0) : 0;
    db_done(st);
    return v;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int store_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct mms_err err = {0};
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/mms-retry-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->cfg.workers = 2;
    f->cfg.control_workers = 1;
    f->cfg.lease_seconds = 30;
    f->cfg.poll_ms = 20;
    f->cfg.batch_rows = 1000;
    f->cfg.batch_bytes = 1 << 20;
    char path[128];
    snprintf(path, sizeof path, "%s/mms.db", f->dir);
    assert_int_equal(store_open(&f->store, path, 2, &err), 0);
    assert_int_equal(store_connect(f->store, &f->db, &err), 0);
    /* A data source whose tasks cannot run (no source file): a claimed task fails at once,
     * permanently; the tests only look at whether and when it was claimed (attempt). */
    static const char ds[] = "INSERT INTO datasource (name, type, status, config, create_time,"
                             " max_tasks) VALUES ('s', 'SQLITE', 'STARTED', '{}', $1, $2)"
                             " RETURNING id";
    f->source_id = exec2(f, ds, 0, 0);
    static const char job[] = "INSERT INTO job (source_id, name, type, create_time)"
                              " VALUES ($1, 'j', 'Tables', $2) RETURNING id";
    f->job_id = exec2(f, job, f->source_id, 0);
    *state = f;
    return 0;
}

static int store_teardown(void **state)
{
    struct fx *f = *state;
    engine_stop(f->eng);
    db_close(f->db);
    store_close(f->store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f);
    return 0;
}

static int64_t add_task(struct fx *f, int64_t seq)
{
    static const char sql[] =
        "INSERT INTO task (job_id, source_id, seq, src_db_name, src_table_name, type,"
        " create_time) VALUES ($1, $2, 0, 'main', 't', 'SQLITE', 0) RETURNING id";
    int64_t id = exec2(f, sql, f->job_id, f->source_id);
    static const char set_seq[] = "UPDATE task SET seq = $1 WHERE id = $2";
    exec2(f, set_seq, seq, id);
    return id;
}

static const char attempt_sql[] = "SELECT attempt FROM task WHERE id = $1";

/* The claim skips a task until its next_attempt_at. */
static void test_claim_waits_for_next_attempt(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    int64_t t = add_task(f, 1);
    static const char later[] = "UPDATE task SET next_attempt_at = $1 WHERE id = $2";
    int64_t due = time_now_ms() + 700;
    exec2(f, later, due, t);
    assert_int_equal(engine_start(&f->eng, f->store, &f->cfg, &err), 0);
    while (time_now_ms() < due - 150) {
        assert_int_equal(q1(f, attempt_sql, t), 0);
        sleep_ms(20);
    }
    int64_t t0 = time_mono_ms();
    while (q1(f, attempt_sql, t) == 0 && time_mono_ms() - t0 < 5000)
        sleep_ms(10);
    assert_true(time_now_ms() >= due);
    assert_true(q1(f, attempt_sql, t) >= 1);
}

/* datasource.max_tasks: no claim while the source has that many live leases. */
static void test_claim_respects_max_tasks(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    int64_t a = add_task(f, 1), b = add_task(f, 2);
    /* a runs elsewhere (a live lease of another node). */
    static const char leased[] = "UPDATE task SET lease_owner = 'elsewhere', lease_until = $1,"
                                 " attempt = 1 WHERE id = $2";
    exec2(f, leased, time_now_ms() + 60000, a);
    static const char max_sql[] = "UPDATE datasource SET max_tasks = $1 WHERE id = $2";
    exec2(f, max_sql, 1, f->source_id);
    assert_int_equal(engine_start(&f->eng, f->store, &f->cfg, &err), 0);
    sleep_ms(400); /* 20 polls */
    assert_int_equal(q1(f, attempt_sql, b), 0);
    /* Room for one more: b is claimed. */
    exec2(f, max_sql, 2, f->source_id);
    int64_t t0 = time_mono_ms();
    while (q1(f, attempt_sql, b) == 0 && time_mono_ms() - t0 < 5000)
        sleep_ms(10);
    assert_true(q1(f, attempt_sql, b) >= 1);
    /* An expired lease does not count. */
    int64_t c = add_task(f, 3);
    exec2(f, max_sql, 1, f->source_id);
    exec2(f, leased, time_now_ms() - 1, a);
    t0 = time_mono_ms();
    while (q1(f, attempt_sql, c) == 0 && time_mono_ms() - t0 < 5000)
        sleep_ms(10);
    assert_true(q1(f, attempt_sql, c) >= 1);
}

/* store_taskrun_retry schedules (fenced); the final write clears the retry state. */
static void test_store_retry_and_finish(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    int64_t t = add_task(f, 1);
    static const char claim[] = "UPDATE task SET attempt = $1, status = 'DATA_DOING',"
                                " lease_owner = 'me', lease_until = 1 WHERE id = $2";
    exec2(f, claim, 3, t);
    assert_int_equal(store_taskrun_retry(f->db, t, 2, "SCHEMA_DONE", "x", 1000, 5000, &err), 1);
    assert_int_equal(store_taskrun_retry(f->db, t, 3, "SCHEMA_DONE", "lost", 1000, 5000, &err), 0);
    assert_int_equal(q1(f,
                        "SELECT status = 'SCHEMA_DONE' AND queued = 1 AND retried_times = 1"
                        " AND retry_count = 1 AND first_failure_at = 1000"
                        " AND next_attempt_at = 5000 AND error_msg = 'lost'"
                        " AND lease_owner IS NULL AND lease_until IS NULL FROM task"
                        " WHERE id = $1",
                        t),
                     1);
    struct taskrun tr = {0};
    assert_int_equal(store_taskrun_load(f->db, t, 3, &tr, &err), 0);
    assert_int_equal(tr.retry_count, 1);
    assert_int_equal(tr.first_failure_ms, 1000);
    taskrun_release(&tr);
    exec2(f, claim, 4, t);
    assert_int_equal(store_taskrun_retry(f->db, t, 4, "SCHEMA_DONE", "again", 1000, 9000, &err), 0);
    assert_int_equal(q1(f, "SELECT retried_times * 10 + retry_count FROM task WHERE id = $1", t),
                     22);
    exec2(f, claim, 5, t);
    assert_int_equal(store_taskrun_finish(f->db, t, 5, "DATA_FAILED", "gave up", &err), 0);
    assert_int_equal(q1(f,
                        "SELECT status = 'DATA_FAILED' AND queued = 0 AND retried_times = 2"
                        " AND retry_count = 0 AND first_failure_at IS NULL"
                        " AND next_attempt_at IS NULL FROM task WHERE id = $1",
                        t),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transient_classification),
        cmocka_unit_test(test_backoff_sequence),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_policy_from_others),
        cmocka_unit_test_setup_teardown(test_claim_waits_for_next_attempt, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_claim_respects_max_tasks, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_store_retry_and_finish, store_setup, store_teardown),
    };
    log_set_level("error");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
