/* The metadata store: a pool of connections to one database holding every durable object
 * (data sources, catalog, scans, async tasks, jobs, tasks, task logs), and the schema.
 * Domain queries live in store_<noun>.c modules, written against db.h's portable SQL.
 *
 * Single node: with the SQLite store only one mmsd may use a data directory (a lock file in
 * it is held for the life of the process), so at start-up every lease in the store belongs to
 * a dead process and is released at once (store_release_all_leases). */
#ifndef MMS_STORE_H
#define MMS_STORE_H

#include "store/db.h"
#include "util/err.h"

struct store;

/* Opens (creating file and schema when missing) with `pool` shared connections. */
int store_open(struct store **out, const char *path, int pool, struct mms_err *err);
void store_close(struct store *s);
/* Borrows a pooled connection; blocks while all are in use. Give it back with store_release. */
struct db *store_acquire(struct store *s);
void store_release(struct store *s, struct db *db);
/* A dedicated connection for one long-lived thread (a worker); caller closes it (db_close). */
int store_connect(struct store *s, struct db **out, struct mms_err *err);
/* Clears every lease (owner/lease_until) on async tasks, scans and tasks. Start-up only. */
int store_release_all_leases(struct db *db, struct mms_err *err);

/* The schema's version (SQLite: PRAGMA user_version). Bump it with every change to the schema;
 * a store written by another version is refused with a clear message instead of failing later
 * on a missing column (there are no automatic migrations yet). */
/* 2: tbl.change_count, part.change_count; 3: tbl.change_gen, part.change_gen, task.table_gen,
 * task_part.gen (the increment flag race, store_catalog.h). */
#define STORE_SCHEMA_VERSION 3

/* The schema, as portable DDL statements, NULL-terminated (applied in order by store_open). */
extern const char *const store_schema_sql[];

#endif
