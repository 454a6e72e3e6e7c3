/* The order-independent row checksum: what must and must not change the sum, and speed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conn/checksum.h"

/* Rows of (int, text-or-NULL). */
struct row_spec {
    int64_t i;
    const char *s; /* NULL = SQL NULL */
};

static struct conn_checksum sum_rows(const struct row_spec *rows, size_t n, size_t batch_rows)
{
    struct conn_checksum c;
    struct rowbatch b;
    checksum_init(&c);
    rowbatch_init(&b, 2, batch_rows, 1 << 20);
    for (size_t r = 0; r < n; r++) {
        if (rowbatch_full(&b)) {
            checksum_add_batch(&c, &b);
            rowbatch_clear(&b);
        }
        struct val *v = rowbatch_add_row(&b);
        rowbatch_set_int(&v[0], rows[r].i);
        if (rows[r].s)
            rowbatch_set_bytes(&b, &v[1], VAL_TEXT, rows[r].s, strlen(rows[r].s));
    }
    checksum_add_batch(&c, &b);
    rowbatch_release(&b);
    return c;
}

static bool sums_equal(struct conn_checksum a, struct conn_checksum b)
{
    return a.rows == b.rows && a.sum_lo == b.sum_lo && a.sum_hi == b.sum_hi;
}

static void test_order_independent(void **state)
{
    (void)state;
    const struct row_spec fwd[] = {{1, "a"}, {2, "bb"}, {3, NULL}, {4, "dddd"}, {5, ""}};
    const struct row_spec rev[] = {{5, ""}, {4, "dddd"}, {3, NULL}, {2, "bb"}, {1, "a"}};
    struct conn_checksum a = sum_rows(fwd, 5, 100);
    struct conn_checksum b = sum_rows(rev, 5, 100);
    struct conn_checksum c = sum_rows(rev, 5, 2); /* batch boundaries do not matter */
    assert_true(sums_equal(a, b));
    assert_true(sums_equal(a, c));
    assert_int_equal(a.rows, 5);
}

static void test_duplicates_change_the_sum(void **state)
{
    (void)state;
    const struct row_spec one[] = {{1, "a"}, {2, "b"}};
    const struct row_spec dup[] = {{1, "a"}, {2, "b"}, {2, "b"}};
    const struct row_spec twice[] = {{1, "a"}, {1, "a"}, {2, "b"}, {2, "b"}};
    struct conn_checksum a = sum_rows(one, 2, 10);
    struct conn_checksum b = sum_rows(dup, 3, 10);
    struct conn_checksum c = sum_rows(twice, 4, 10);
    assert_int_equal(b.rows, 3);
    /* the sum itself differs, not only the row count */
    assert_false(a.sum_lo == b.sum_lo && a.sum_hi == b.sum_hi);
    /* XOR would cancel each pair to zero; addition does not */
    assert_false(c.sum_lo == 0 && c.sum_hi == 0);
    assert_false(a.sum_lo == c.sum_lo && a.sum_hi == c.sum_hi);
}

static void test_null_vs_empty_string(void **state)
{
    (void)state;
    const struct row_spec n[] = {{1, NULL}};
    const struct row_spec e[] = {{1, ""}};
    assert_false(sums_equal(sum_rows(n, 1, 10), sum_rows(e, 1, 10)));
}

/* One-column rows of any value, set by a callback. */
static struct conn_checksum sum_one(void (*set)(struct rowbatch *b, struct val *v))
{
    struct conn_checksum c;
    struct rowbatch b;
    checksum_init(&c);
    rowbatch_init(&b, 1, 10, 1 << 20);
    set(&b, rowbatch_add_row(&b));
    checksum_add_batch(&c, &b);
    rowbatch_release(&b);
    return c;
}

static void set_pos_zero(struct rowbatch *b, struct val *v)
{
    (void)b;
    rowbatch_set_double(v, 0.0);
}
static void set_neg_zero(struct rowbatch *b, struct val *v)
{
    (void)b;
    rowbatch_set_double(v, -0.0);
}
static void set_int_zero(struct rowbatch *b, struct val *v)
{
    (void)b;
    rowbatch_set_int(v, 0);
}
static void set_uint_zero(struct rowbatch *b, struct val *v)
{
    (void)b;
    rowbatch_set_uint(v, 0);
}
static void set_text_ab(struct rowbatch *b, struct val *v)
{
    rowbatch_set_bytes(b, v, VAL_TEXT, "ab", 2);
}
static void set_blob_ab(struct rowbatch *b, struct val *v)
{
    rowbatch_set_bytes(b, v, VAL_BLOB, "ab", 2);
}
static void set_empty_blob(struct rowbatch *b, struct val *v)
{
    rowbatch_set_bytes(b, v, VAL_BLOB, NULL, 0);
}
static void set_null(struct rowbatch *b, struct val *v)
{
    (void)b;
    (void)v;
}

static void test_kinds_and_signed_zero_differ(void **state)
{
    (void)state;
    void (*setters[])(struct rowbatch *, struct val *) = {
        set_pos_zero, set_neg_zero, set_int_zero,   set_uint_zero,
        set_text_ab,  set_blob_ab,  set_empty_blob, set_null,
    };
    size_t n = sizeof setters / sizeof setters[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            assert_false(sums_equal(sum_one(setters[i]), sum_one(setters[j])));
    /* and the same value is stable */
    assert_true(sums_equal(sum_one(set_neg_zero), sum_one(set_neg_zero)));
}

static void test_column_boundaries_matter(void **state)
{
    (void)state;
    /* ("ab","c") and ("a","bc") have the same bytes; the length prefixes keep them apart */
    struct rowbatch b;
    struct conn_checksum x, y;
    rowbatch_init(&b, 2, 10, 1 << 20);
    checksum_init(&x);
    struct val *v = rowbatch_add_row(&b);
    rowbatch_set_bytes(&b, &v[0], VAL_TEXT, "ab", 2);
    rowbatch_set_bytes(&b, &v[1], VAL_TEXT, "c", 1);
    checksum_add_batch(&x, &b);
    rowbatch_clear(&b);
    checksum_init(&y);
    v = rowbatch_add_row(&b);
    rowbatch_set_bytes(&b, &v[0], VAL_TEXT, "a", 1);
    rowbatch_set_bytes(&b, &v[1], VAL_TEXT, "bc", 2);
    checksum_add_batch(&y, &b);
    rowbatch_release(&b);
    assert_false(sums_equal(x, y));
}

static void test_format(void **state)
{
    (void)state;
    struct conn_checksum c = {.rows = 42, .sum_lo = 0x1, .sum_hi = 0xABCDEF0123456789ull};
    char out[64];
    checksum_format(&c, out, sizeof out);
    assert_string_equal(out, "rows=42 sum=abcdef01234567890000000000000001");
}

/* checksum_read over a fake reader that yields 3 batches of 4 rows. */
struct fake_reader {
    int calls;
};

static int fake_next(struct conn_reader *r, struct rowbatch *b, struct mms_err *err)
{
    (void)err;
    struct fake_reader *f = (struct fake_reader *)r;
    rowbatch_clear(b);
    if (f->calls >= 3)
        return 0;
    for (int i = 0; i < 4; i++)
        rowbatch_set_int(&rowbatch_add_row(b)[0], f->calls * 4 + i);
    f->calls++;
    return 0;
}

static void test_checksum_read(void **state)
{
    (void)state;
    struct conn_ops ops = {.type = "FAKE", .read_next = fake_next};
    struct fake_reader f = {0};
    struct rowbatch b;
    struct conn_checksum c, want;
    struct mms_err err = {0};
    rowbatch_init(&b, 1, 4, 1 << 20);
    assert_int_equal(checksum_read(&ops, (struct conn_reader *)&f, &b, &c, &err), 0);
    assert_int_equal(c.rows, 12);

    /* the same 12 rows in one batch */
    rowbatch_release(&b);
    rowbatch_init(&b, 1, 100, 1 << 20);
    checksum_init(&want);
    for (int i = 11; i >= 0; i--)
        rowbatch_set_int(&rowbatch_add_row(&b)[0], i);
    checksum_add_batch(&want, &b);
    rowbatch_release(&b);
    assert_true(sums_equal(c, want));
}

/* 1M rows of about 100 bytes. The bound is loose because this runs under the sanitizers; the
 * time is printed so a regression shows up. */
static void test_speed(void **state)
{
    (void)state;
    struct rowbatch b;
    struct conn_checksum c;
    char text[80];
    memset(text, 'q', sizeof text);
    rowbatch_init(&b, 3, 10000, 64 << 20);
    for (size_t r = 0; r < b.max_rows; r++) {
        struct val *v = rowbatch_add_row(&b);
        rowbatch_set_int(&v[0], (int64_t)r);
        rowbatch_set_double(&v[1], (double)r / 3.0);
        rowbatch_set_bytes(&b, &v[2], VAL_TEXT, text, sizeof text);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    checksum_init(&c);
    for (int i = 0; i < 100; i++)
        checksum_add_batch(&c, &b);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("checksum: 1M rows of %zu bytes in %.3f s\n", 1 + 9 + 1 + 9 + 1 + 4 + sizeof text, secs);
    assert_int_equal(c.rows, 1000000);
    assert_true(secs < 10.0);
    rowbatch_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_independent),
        cmocka_unit_test(test_duplicates_change_the_sum),
        cmocka_unit_test(test_null_vs_empty_string),
        cmocka_unit_test(test_kinds_and_signed_zero_differ),
        cmocka_unit_test(test_column_boundaries_matter),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_checksum_read),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
