/* Row batches: setters, caps in rows and bytes, the one-huge-value rule, reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "conn/rowbatch.h"

static void test_set_and_get(void **state)
{
    (void)state;
    struct rowbatch b;
    rowbatch_init(&b, 6, 10, 1 << 20);
    assert_int_equal(b.nrows, 0);
    assert_false(rowbatch_full(&b));

    struct val *row = rowbatch_add_row(&b);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(row[i].kind, VAL_NULL);
    rowbatch_set_int(&row[0], INT64_MIN);
    rowbatch_set_uint(&row[1], UINT64_MAX);
    rowbatch_set_double(&row[2], -0.0);
    rowbatch_set_bytes(&b, &row[3], VAL_TEXT, "a\0b", 3);
    rowbatch_set_bytes(&b, &row[4], VAL_BLOB, NULL, 0);
    /* row[5] stays NULL */

    row = rowbatch_row(&b, 0);
    assert_int_equal(row[0].kind, VAL_INT);
    assert_true(row[0].v.i == INT64_MIN);
    assert_int_equal(row[1].kind, VAL_UINT);
    assert_true(row[1].v.u == UINT64_MAX);
    assert_int_equal(row[2].kind, VAL_DOUBLE);
    assert_true(row[2].v.d == 0.0);
    assert_true(1.0 / row[2].v.d < 0); /* still negative zero */
    assert_int_equal(row[3].kind, VAL_TEXT);
    assert_int_equal(row[3].len, 3);
    assert_memory_equal(rowbatch_bytes(&b, &row[3]), "a\0b", 3);
    assert_int_equal(row[4].kind, VAL_BLOB);
    assert_int_equal(row[4].len, 0);
    assert_non_null(rowbatch_bytes(&b, &row[4])); /* zero-length values point at real memory */
    assert_int_equal(row[5].kind, VAL_NULL);

    assert_int_equal(rowbatch_bytes_used(&b), 6 * sizeof(struct val) + 3);
    rowbatch_release(&b);
}

static void test_full_by_rows(void **state)
{
    (void)state;
    struct rowbatch b;
    rowbatch_init(&b, 2, 3, 1 << 20);
    int added = 0;
    while (!rowbatch_full(&b)) {
        struct val *row = rowbatch_add_row(&b);
        rowbatch_set_int(&row[0], added++);
    }
    assert_int_equal(added, 3);
    assert_int_equal(b.nrows, 3);
    /* earlier rows are intact after later ones were added */
    for (int r = 0; r < 3; r++)
        assert_int_equal(rowbatch_row(&b, (size_t)r)[0].v.i, r);

    rowbatch_clear(&b);
    assert_int_equal(b.nrows, 0);
    assert_false(rowbatch_full(&b));
    struct val *row = rowbatch_add_row(&b);
    assert_int_equal(row[0].kind, VAL_NULL); /* reused rows start NULL again */
    rowbatch_release(&b);
}

static void test_full_by_bytes(void **state)
{
    (void)state;
    char text[100];
    memset(text, 'x', sizeof text);
    struct rowbatch b;
    rowbatch_init(&b, 1, 1000, 1000);
    int added = 0;
    while (!rowbatch_full(&b)) {
        struct val *row = rowbatch_add_row(&b);
        rowbatch_set_bytes(&b, &row[0], VAL_TEXT, text, sizeof text);
        added++;
    }
    /* each row is sizeof(struct val) + 100 bytes: the cap stops it well before 1000 rows */
    size_t per_row = sizeof(struct val) + sizeof text;
    assert_int_equal(added, (1000 + per_row - 1) / per_row);
    assert_true(rowbatch_bytes_used(&b) >= 1000);
    assert_true(rowbatch_bytes_used(&b) < 1000 + per_row);
    rowbatch_release(&b);
}

static void test_huge_value_accepted_then_memory_returned(void **state)
{
    (void)state;
    size_t huge = 4 << 20;
    char *big = malloc(huge);
    memset(big, 'y', huge);
    struct rowbatch b;
    rowbatch_init(&b, 1, 100, 64 << 10);
    assert_false(rowbatch_full(&b));
    struct val *row = rowbatch_add_row(&b);
    rowbatch_set_bytes(&b, &row[0], VAL_BLOB, big, huge);
    assert_true(rowbatch_full(&b));
    assert_int_equal(b.nrows, 1);
    assert_memory_equal(rowbatch_bytes(&b, &row[0]), big, huge);
    assert_true(b.arena.cap >= huge);

    rowbatch_clear(&b);
    /* the arena went back to a size in line with the cap */
    assert_true(b.arena.cap < 2 * (64 << 10));
    row = rowbatch_add_row(&b);
    rowbatch_set_bytes(&b, &row[0], VAL_TEXT, "", 0);
    assert_int_equal(row[0].len, 0);
    rowbatch_release(&b);
    free(big);
}

static void test_zero_max_rows_means_one(void **state)
{
    (void)state;
    struct rowbatch b;
    rowbatch_init(&b, 3, 0, 1 << 20);
    assert_false(rowbatch_full(&b));
    rowbatch_add_row(&b);
    assert_true(rowbatch_full(&b));
    rowbatch_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_get),
        cmocka_unit_test(test_full_by_rows),
        cmocka_unit_test(test_full_by_bytes),
        cmocka_unit_test(test_huge_value_accepted_then_memory_returned),
        cmocka_unit_test(test_zero_max_rows_means_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
