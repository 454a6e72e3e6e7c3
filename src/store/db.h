/* The metadata store's primitive interface: one connection, prepared statements, transactions.
 * It is a struct of function pointers so that a PostgreSQL back end can sit beside the
 * embedded SQLite one (db_sqlite.c) without the store_* modules changing.
 *
 * Portable SQL rules for everything written against this interface:
 *   - parameters are $1, $2, ... numbered in order of first use (SQLite and PostgreSQL agree);
 *   - integers are int64, times are Unix seconds (INTEGER), booleans 0/1, JSON as TEXT;
 *   - new ids come back through `INSERT ... RETURNING id`.
 *
 * A connection is used by one thread at a time. Statements are cached per connection, keyed
 * by the SQL text pointer: pass string literals (or strings that live as long as the process).
 */
#ifndef MMS_DB_H
#define MMS_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct db;

enum { DB_DONE = 0, DB_ROW = 1 };

struct db_ops {
    void (*close)(struct db *db);
    /* Runs one or more statements without parameters or results (DDL, PRAGMA). */
    int (*exec)(struct db *db, const char *sql, struct mms_err *err);
    /* Returns the cached, reset statement for `sql`, or NULL with err. Borrowed: do not free;
     * call db_done() when finished with it (resets it for the next use). */
    struct db_stmt *(*prepare)(struct db *db, const char *sql, struct mms_err *err);
    void (*bind_i64)(struct db_stmt *st, int idx, int64_t v);
    void (*bind_double)(struct db_stmt *st, int idx, double v);
    /* Binds a copy of s (NULL binds SQL NULL). */
    void (*bind_text)(struct db_stmt *st, int idx, const char *s);
    void (*bind_null)(struct db_stmt *st, int idx);
    /* DB_ROW, DB_DONE, or -1 with err (the statement is then reset). */
    int (*step)(struct db_stmt *st, struct mms_err *err);
    bool (*col_null)(struct db_stmt *st, int col);
    int64_t (*col_i64)(struct db_stmt *st, int col);
    double (*col_double)(struct db_stmt *st, int col);
    /* Borrowed until the next step/done; NULL for SQL NULL. */
    const char *(*col_text)(struct db_stmt *st, int col);
    void (*done)(struct db_stmt *st);
    /* Rows changed by the last INSERT/UPDATE/DELETE on this connection. */
    int64_t (*changes)(struct db *db);
    /* BEGIN IMMEDIATE (a write transaction) / COMMIT / ROLLBACK. */
    int (*begin)(struct db *db, struct mms_err *err);
    int (*commit)(struct db *db, struct mms_err *err);
    void (*rollback)(struct db *db);
};

struct db {
    const struct db_ops *ops;
};

/* Every back end's statement starts with this header, so the wrappers can dispatch. */
struct db_stmt {
    struct db *db;
};

/* Opens the SQLite store at path (creating file and schema), WAL mode, busy timeout. */
int db_sqlite_open(struct db **out, const char *path, struct mms_err *err);

/* Thin wrappers so call sites read as plain functions. */
static inline void db_close(struct db *db) { db->ops->close(db); }
static inline int db_exec(struct db *db, const char *sql, struct mms_err *err) { return db->ops->exec(db, sql, err); }
struct db_stmt *db_prepare(struct db *db, const char *sql, struct mms_err *err);
void db_bind_i64(struct db_stmt *st, int idx, int64_t v);
void db_bind_double(struct db_stmt *st, int idx, double v);
void db_bind_text(struct db_stmt *st, int idx, const char *s);
void db_bind_null(struct db_stmt *st, int idx);
int db_step(struct db_stmt *st, struct mms_err *err);
bool db_col_null(struct db_stmt *st, int col);
int64_t db_col_i64(struct db_stmt *st, int col);
double db_col_double(struct db_stmt *st, int col);
const char *db_col_text(struct db_stmt *st, int col);
void db_done(struct db_stmt *st);
static inline int64_t db_changes(struct db *db) { return db->ops->changes(db); }
static inline int db_begin(struct db *db, struct mms_err *err) { return db->ops->begin(db, err); }
static inline int db_commit(struct db *db, struct mms_err *err) { return db->ops->commit(db, err); }
static inline void db_rollback(struct db *db) { db->ops->rollback(db); }


#endif
