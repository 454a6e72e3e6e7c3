/* Dispatch wrappers for the statement-level calls of struct db_ops. */
#include "store/db.h"

struct db_stmt *db_prepare(struct db *db, const char *sql, struct mms_err *err)
{
    return db->ops->prepare(db, sql, err);
}

void db_bind_i64(struct db_stmt *st, int idx, int64_t v)
{
    st->db->ops->bind_i64(st, idx, v);
}

void db_bind_double(struct db_stmt *st, int idx, double v)
{
    st->db->ops->bind_double(st, idx, v);
}

void db_bind_text(struct db_stmt *st, int idx, const char *s)
{
    st->db->ops->bind_text(st, idx, s);
}

void db_bind_null(struct db_stmt *st, int idx)
{
    st->db->ops->bind_null(st, idx);
}

int db_step(struct db_stmt *st, struct mms_err *err)
{
    return st->db->ops->step(st, err);
}

bool db_col_null(struct db_stmt *st, int col)
{
    return st->db->ops->col_null(st, col);
}

int64_t db_col_i64(struct db_stmt *st, int col)
{
    return st->db->ops->col_i64(st, col);
}

double db_col_double(struct db_stmt *st, int col)
{
    return st->db->ops->col_double(st, col);
}

const char *db_col_text(struct db_stmt *st, int col)
{
    return st->db->ops->col_text(st, col);
}

void db_done(struct db_stmt *st)
{
    st->db->ops->done(st);
}
