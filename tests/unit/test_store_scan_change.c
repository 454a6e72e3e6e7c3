/* The scan's change counter in the catalog (tbl.change_count, part.change_count) against a real
 * SQLite store file: a different known counter flags the object updated and is stored; an
 * unknown one (0) is never a change and never erases the stored value; 0 -> known and a
 * decrease (statistics reset) count as changes. See store_scan.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_scan.h"

struct fx {
    char dir[64];
    char path[96];
    struct store *store;
    struct db *db;
};

static const char fixture_sql[] =
    "INSERT INTO datasource (id, name, type, config, create_time) VALUES"
    " (7, 'src', 'POSTGRESQL', '{}', 1);"
    "INSERT INTO db (id, source_id, name, create_time) VALUES (10, 7, 'shop', 1);";

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct mms_err err = {0};
    snprintf(f->dir, sizeof f->dir, "/tmp/mms-scanchg-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/mms.db", f->dir);
    if (store_open(&f->store, f->path, 1, &err) < 0)
        return -1;
    f->db = store_acquire(f->store);
    if (db_exec(f->db, fixture_sql, &err) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[128];
    store_release(f->store, f->db);
    store_close(f->store);
    unlink(f->path);
    snprintf(p, sizeof p, "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", f->path);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

static int64_t qi(struct db *db, const char *sql, int64_t arg)
{
    struct mms_err err = {0};
    struct db_stmt *st = db_prepare(db, sql, &err);
    assert_non_null(st);
    db_bind_i64(st, 1, arg);
    assert_int_equal(db_step(st, &err), DB_ROW);
    int64_t v = db_col_i64(st, 0);
    db_done(st);
    return v;
}

static void clear_updated(struct db *db)
{
    struct mms_err err = {0};
    assert_int_equal(db_exec(db, "UPDATE tbl SET updated = 0; UPDATE part SET updated = 0", &err),
                     0);
}

static const char tbl_cc[] = "SELECT change_count FROM tbl WHERE id = $1";
static const char tbl_upd[] = "SELECT updated FROM tbl WHERE id = $1";
static const char part_cc[] = "SELECT change_count FROM part WHERE id = $1";
static const char part_upd[] = "SELECT updated FROM part WHERE id = $1";

static void test_table_counter(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    enum scan_change ch;
    int64_t id = 0, id2 = 0;
    struct scan_table t = {.name = "events",
                           .type = "TABLE",
                           .size = 10,
                           .num_rows = 5,
                           .schema = "{}",
                           .partitioned = true};

    /* Unknown at first: stored as 0; a first known value is a change (rows changed since). */
    assert_int_equal(store_scan_upsert_table(f->db, 7, 10, &t, 50, &id, &ch, &err), 0);
    assert_int_equal(ch, SCAN_NEW);
    assert_int_equal(qi(f->db, tbl_cc, id), 0);
    t.change_count = 30;
    assert_int_equal(store_scan_upsert_table(f->db, 7, 10, &t, 51, &id2, &ch, &err), 0);
    assert_int_equal(ch, SCAN_CHANGED);
    assert_int_equal(id2, id);
    assert_int_equal(qi(f->db, tbl_cc, id), 30);
    clear_updated(f->db);

    /* The same counter and nothing else: same. */
    assert_int_equal(store_scan_upsert_table(f->db, 7, 10, &t, 52, &id2, &ch, &err), 0);
    assert_int_equal(ch, SCAN_SAME);
    assert_int_equal(qi(f->db, tbl_upd, id), 0);

    /* Only the counter moved (an UPDATE in place: same size and row estimate). */
    t.change_count = 32;
    assert_int_equal(store_scan_upsert_table(f->db, 7, 10, &t, 53, &id2, &ch, &err), 0);
    assert_int_equal(ch, SCAN_CHANGED);
    assert_int_equal(qi(f->db, tbl_upd, id), 1);
    assert_int_equal(qi(f->db, tbl_cc, id), 32);
    assert_int_equal(qi(f->db, "SELECT update_time FROM tbl WHERE id = $1", id), 53);
    clear_updated(f->db);

    /* Unknown now: not a change, and the stored value stays, also when another field changes. */
    t.change_count = 0;
    assert_int_equal(store_scan_upsert_table(f->db, 7, 10, &t, 54, &id2, &ch, &err), 0);
    assert_int_equal(ch, SCAN_SAME);
    assert_int_equal(qi(f->db, tbl_cc, id), 32);
    t.num_rows = 6;
    assert_int_equal(store_scan_upsert_table(f->db, 7, 10, &t, 55, &id2, &ch, &err), 0);
    assert_int_equal(ch, SCAN_CHANGED);
    assert_int_equal(qi(f->db, tbl_cc, id), 32);
    clear_updated(f->db);

    /* A smaller value (statistics reset) is a change. */
    t.change_count = 3;
    assert_int_equal(store_scan_upsert_table(f->db, 7, 10, &t, 56, &id2, &ch, &err), 0);
    assert_int_equal(ch, SCAN_CHANGED);
    assert_int_equal(qi(f->db, tbl_cc, id), 3);
}

static void test_part_counter(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    enum scan_change ch;
    int64_t tid = 0, eu = 0, us = 0, again = 0;
    struct scan_table t = {.name = "parted", .type = "TABLE", .schema = "{}", .partitioned = true};
    assert_int_equal(store_scan_upsert_table(f->db, 7, 10, &t, 50, &tid, &ch, &err), 0);
    struct scan_part pe = {.value = "region=eu", .size = 8192, .num_rows = 10, .change_count = 10};
    struct scan_part pu = {.value = "region=us", .size = 8192, .num_rows = 10, .change_count = 10};
    assert_int_equal(store_scan_upsert_part(f->db, 7, 10, tid, &pe, 60, &eu, &ch, &err), 0);
    assert_int_equal(ch, SCAN_NEW);
    assert_int_equal(store_scan_upsert_part(f->db, 7, 10, tid, &pu, 60, &us, &ch, &err), 0);
    assert_int_equal(qi(f->db, part_cc, eu), 10);
    clear_updated(f->db);

    pe.change_count = 12;
    assert_int_equal(store_scan_upsert_part(f->db, 7, 10, tid, &pe, 61, &again, &ch, &err), 0);
    assert_int_equal(ch, SCAN_CHANGED);
    assert_int_equal(again, eu);
    assert_int_equal(store_scan_upsert_part(f->db, 7, 10, tid, &pu, 61, &again, &ch, &err), 0);
    assert_int_equal(ch, SCAN_SAME);
    assert_int_equal(qi(f->db, part_upd, eu), 1);
    assert_int_equal(qi(f->db, part_upd, us), 0);
    assert_int_equal(qi(f->db, part_cc, eu), 12);
    assert_int_equal(qi(f->db, "SELECT update_time FROM part WHERE id = $1", eu), 61);
    clear_updated(f->db);

    pe.change_count = 0;
    pe.size = 16384;
    assert_int_equal(store_scan_upsert_part(f->db, 7, 10, tid, &pe, 62, &again, &ch, &err), 0);
    assert_int_equal(ch, SCAN_CHANGED);
    assert_int_equal(qi(f->db, part_cc, eu), 12);
    assert_int_equal(store_scan_upsert_part(f->db, 7, 10, tid, &pe, 63, &again, &ch, &err), 0);
    assert_int_equal(ch, SCAN_SAME);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_table_counter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_part_counter, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
