/* The embedded SQLite back end of the metadata store.
 * WAL mode so readers (HTTP threads) never wait for the writer (workers); a busy timeout so
 * concurrent writers queue instead of failing; prepared statements cached per connection. */
#include "store/db.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STMT_SLOTS 512 /* power of two; more distinct SQL texts than the store has */

struct sq_stmt {
    struct db_stmt base;
    sqlite3_stmt *st;
    const char *key;
};

struct sq_db {
    struct db base;
    sqlite3 *h;
    struct sq_stmt slots[STMT_SLOTS];
};

static struct sq_db *SQ(struct db *db)
{
    return (struct sq_db *)db;
}

static int fail(struct sq_db *d, struct mms_err *err, const char *what)
{
    log_error("store: %s: %s", what, sqlite3_errmsg(d->h));
    return mms_err_set(err, 500, "InternalError", "store error: %s", sqlite3_errmsg(d->h));
}

static void sq_close(struct db *db)
{
    struct sq_db *d = SQ(db);
    for (int i = 0; i < STMT_SLOTS; i++)
        if (d->slots[i].st)
            sqlite3_finalize(d->slots[i].st);
    sqlite3_close(d->h);
    free(d);
}

static int sq_exec(struct db *db, const char *sql, struct mms_err *err)
{
    struct sq_db *d = SQ(db);
    char *msg = NULL;
    if (sqlite3_exec(d->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("store: exec failed: %s", msg ? msg : "?");
        mms_err_set(err, 500, "InternalError", "store error: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static struct db_stmt *sq_prepare(struct db *db, const char *sql, struct mms_err *err)
{
    struct sq_db *d = SQ(db);
    uintptr_t h = (uintptr_t)sql;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 40) & (STMT_SLOTS - 1);
    for (size_t probe = 0; probe < STMT_SLOTS; probe++, i = (i + 1) & (STMT_SLOTS - 1)) {
        struct sq_stmt *s = &d->slots[i];
        if (s->key == sql)
            return &s->base;
        if (s->key == NULL) {
            if (sqlite3_prepare_v3(d->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL) !=
                SQLITE_OK) {
                log_error("store: prepare failed: %s in: %s", sqlite3_errmsg(d->h), sql);
                mms_err_set(err, 500, "InternalError", "store error: %s", sqlite3_errmsg(d->h));
                s->st = NULL;
                return NULL;
            }
            s->key = sql;
            s->base.db = db;
            return &s->base;
        }
    }
    mms_err_set(err, 500, "InternalError", "store error: statement cache full");
    return NULL;
}

static sqlite3_stmt *ST(struct db_stmt *st)
{
    return ((struct sq_stmt *)st)->st;
}

static void sq_bind_i64(struct db_stmt *st, int idx, int64_t v)
{
    sqlite3_bind_int64(ST(st), idx, v);
}

static void sq_bind_double(struct db_stmt *st, int idx, double v)
{
    sqlite3_bind_double(ST(st), idx, v);
}

static void sq_bind_text(struct db_stmt *st, int idx, const char *s)
{
    if (s)
        sqlite3_bind_text(ST(st), idx, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(ST(st), idx);
}

static void sq_bind_null(struct db_stmt *st, int idx)
{
    sqlite3_bind_null(ST(st), idx);
}

static int sq_step(struct db_stmt *st, struct mms_err *err)
{
    int rc = sqlite3_step(ST(st));
    if (rc == SQLITE_ROW)
        return DB_ROW;
    if (rc == SQLITE_DONE)
        return DB_DONE;
    struct sq_db *d = SQ(st->db);
    fail(d, err, sqlite3_sql(ST(st)));
    sqlite3_reset(ST(st));
    sqlite3_clear_bindings(ST(st));
    return -1;
}

static bool sq_col_null(struct db_stmt *st, int col)
{
    return sqlite3_column_type(ST(st), col) == SQLITE_NULL;
}

static int64_t sq_col_i64(struct db_stmt *st, int col)
{
    return sqlite3_column_int64(ST(st), col);
}

static double sq_col_double(struct db_stmt *st, int col)
{
    return sqlite3_column_double(ST(st), col);
}

static const char *sq_col_text(struct db_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(ST(st), col);
}

static void sq_done(struct db_stmt *st)
{
    sqlite3_reset(ST(st));
    sqlite3_clear_bindings(ST(st));
}

static int64_t sq_changes(struct db *db)
{
    return sqlite3_changes64(SQ(db)->h);
}

static int sq_begin(struct db *db, struct mms_err *err)
{
    return sq_exec(db, "BEGIN IMMEDIATE", err);
}

static int sq_commit(struct db *db, struct mms_err *err)
{
    if (sq_exec(db, "COMMIT", err) < 0) {
        sq_exec(db, "ROLLBACK", NULL);
        return -1;
    }
    return 0;
}

static void sq_rollback(struct db *db)
{
    if (!sqlite3_get_autocommit(SQ(db)->h))
        sq_exec(db, "ROLLBACK", NULL);
}

static const struct db_ops sqlite_ops = {
    .close = sq_close,
    .exec = sq_exec,
    .prepare = sq_prepare,
    .bind_i64 = sq_bind_i64,
    .bind_double = sq_bind_double,
    .bind_text = sq_bind_text,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .col_null = sq_col_null,
    .col_i64 = sq_col_i64,
    .col_double = sq_col_double,
    .col_text = sq_col_text,
    .done = sq_done,
    .changes = sq_changes,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
};

int db_sqlite_open(struct db **out, const char *path, struct mms_err *err)
{
    struct sq_db *d = xcalloc(1, sizeof *d);
    d->base.ops = &sqlite_ops;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &d->h, flags, NULL) != SQLITE_OK) {
        mms_err_set(err, 500, "InternalError", "cannot open store %s: %s", path,
                    d->h ? sqlite3_errmsg(d->h) : "out of memory");
        sqlite3_close(d->h);
        free(d);
        return -1;
    }
    sqlite3_busy_timeout(d->h, 10000);
    sqlite3_extended_result_codes(d->h, 1);
    if (sq_exec(&d->base,
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                "PRAGMA temp_store=MEMORY;",
                err) < 0) {
        sq_close(&d->base);
        return -1;
    }
    *out = &d->base;
    return 0;
}
