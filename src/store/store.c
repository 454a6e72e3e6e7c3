#include "store/store.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct store {
    char *path;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct db **free_conns; /* stack of idle pooled connections */
    int nfree;
    int pool;
};

/* A new store gets the current version; an existing one must have it. */
static int check_version(struct db *db, const char *path, struct mms_err *err)
{
    static const char version_sql[] = "PRAGMA user_version";
    static const char tables_sql[] = "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table'";
    int64_t version = 0, tables = 0;
    struct db_stmt *st = db_prepare(db, version_sql, err);
    if (!st)
        return -1;
    if (db_step(st, err) == DB_ROW)
        version = db_col_i64(st, 0);
    db_done(st);
    if (!(st = db_prepare(db, tables_sql, err)))
        return -1;
    if (db_step(st, err) == DB_ROW)
        tables = db_col_i64(st, 0);
    db_done(st);
    if (tables == 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
        return db_exec(db, sql, err);
    }
    if (version != STORE_SCHEMA_VERSION)
        return mms_err_set(err, 500, "InternalError",
                           "the store %s has schema version %lld but this mmsd needs version %d;"
                           " start it with a new --data-dir (automatic migration is not"
                           " available yet)",
                           path, (long long)version, STORE_SCHEMA_VERSION);
    return 0;
}

int store_open(struct store **out, const char *path, int pool, struct mms_err *err)
{
    struct store *s = xcalloc(1, sizeof *s);
    struct db *db = NULL;
    s->path = xstrdup(path);
    s->pool = pool;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->free_conns = xcalloc((size_t)pool, sizeof *s->free_conns);

    if (db_sqlite_open(&db, path, err) < 0)
        goto fail;
    if (db_begin(db, err) < 0)
        goto fail_db;
    if (check_version(db, path, err) < 0)
        goto fail_db;
    for (int i = 0; store_schema_sql[i]; i++)
        if (db_exec(db, store_schema_sql[i], err) < 0)
            goto fail_db;
    if (db_commit(db, err) < 0)
        goto fail_db;
    s->free_conns[s->nfree++] = db;
    for (int i = 1; i < pool; i++) {
        if (db_sqlite_open(&db, path, err) < 0)
            goto fail;
        s->free_conns[s->nfree++] = db;
    }
    *out = s;
    return 0;
fail_db:
    db_rollback(db);
    db_close(db);
fail:
    store_close(s);
    return -1;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nfree; i++)
        db_close(s->free_conns[i]);
    free(s->free_conns);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->path);
    free(s);
}

struct db *store_acquire(struct store *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->nfree == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    struct db *db = s->free_conns[--s->nfree];
    pthread_mutex_unlock(&s->mu);
    return db;
}

void store_release(struct store *s, struct db *db)
{
    db_rollback(db); /* a handler that failed half-way must not leave a transaction open */
    pthread_mutex_lock(&s->mu);
    s->free_conns[s->nfree++] = db;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int store_connect(struct store *s, struct db **out, struct mms_err *err)
{
    return db_sqlite_open(out, s->path, err);
}

int store_release_all_leases(struct db *db, struct mms_err *err)
{
    return db_exec(db,
                   "UPDATE async_task SET lease_owner = NULL, lease_until = NULL"
                   "  WHERE lease_owner IS NOT NULL;"
                   "UPDATE scan SET lease_owner = NULL, lease_until = NULL"
                   "  WHERE lease_owner IS NOT NULL;"
                   "UPDATE task SET lease_owner = NULL, lease_until = NULL"
                   "  WHERE lease_owner IS NOT NULL;",
                   err);
}
