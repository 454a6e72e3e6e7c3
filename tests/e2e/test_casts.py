"""Opt-in casts (docs/types.md, "Opt-in casts"): with others.casts a value the destination cannot
hold is changed as documented instead of failing the task, and the job ends DONE with mms's
checksum verification agreeing. Each destination is read back independently (psql, the mariadb
CLI, Python's sqlite3), never through mms.

Without the cast (or with only an unrelated one) the same values still fail with the documented
message: tests/e2e/test_pairs.py holds the full negative tests (-0 into MySQL, NUL into
PostgreSQL); here one control checks that naming a cast does not relax the others.
"""
import os
import re
import sqlite3

import pair_fixtures as pf
from dbservers import dbservers  # noqa: F401  (module-scoped fixture)
from test_pairs import create_source, make_dest, run_job, task_summary, uniq


def pg_source(s, db):
    return pf.Source("POSTGRESQL", "shop", {
        "pg.host": s.host, "pg.port": s.port, "pg.user": s.user, "pg.password": s.password,
        "pg.database": db, "pg.ssl_mode": "disable"})


def make_pg_floats(s, db, table):
    """A PostgreSQL table of doubles and reals MySQL cannot hold: -0, NaN, +-Infinity."""
    pf.psql(s, "postgres", 'CREATE DATABASE "%s";' % db)
    pf.psql(s, db, 'CREATE SCHEMA shop; CREATE TABLE shop.%s (id bigint, "the x" double '
                   "precision, r real); INSERT INTO shop.%s VALUES (1, 1.5, 1.5), "
                   "(2, '-0', '-0'), (3, 'NaN', 'NaN'), (4, 'Infinity', '-Infinity'), "
                   "(5, '-Infinity', 2.5), (6, NULL, NULL), (7, -2.25, '-0'); ANALYZE;"
                   % (pf.pq(table), pf.pq(table)))


def test_pg_floats_into_mysql(mms, dbservers, workdir):  # noqa: F811
    """negativeZeroToZero + nanToNull: -0 arrives as 0, NaN and infinities as NULL, in a double
    and a real column; checksum verification agrees (the source side is hashed after the same
    casts)."""
    tag = uniq("fl")
    table = "neg zero nan"
    make_pg_floats(dbservers.pg, "src_" + tag, table)
    dst = make_dest("MYSQL", workdir, dbservers, "p_" + tag)
    sid = create_source(mms, pg_source(dbservers.pg, "src_" + tag), dst)
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job_id, job = run_job(mms, sid, {
        "name": "casts " + tag, "srcDbName": "shop",
        "others": {"verify": "checksum", "casts": ["negativeZeroToZero", "nanToNull"]}})
    tasks = mms.tasks(sid, job_id)
    assert job["status"] == "DONE", (job, task_summary(tasks))
    (task,) = tasks
    assert task["status"] == "DONE", task

    got = sorted((int(r["id"]), r["the x"], r["r"])
                 for r in pf.read_mysql(dbservers.mysql, dst.project, table))
    assert got == [(1, "1.5", "1.5"), (2, "0", "0"), (3, None, None), (4, None, None),
                   (5, None, "2.5"), (6, None, None), (7, "-2.25", "0")], got
    # The 0s are real zeros, not a text that looks like one.
    out = pf.mariadb(dbservers.mysql, "SELECT COUNT(*) FROM %s.%s WHERE `the x` = 0 AND r = 0;"
                     % (pf.mq(dst.project), pf.mq(table)))
    assert out.strip() == "1", out


def test_unrelated_cast_does_not_relax_others(mms, dbservers, workdir):  # noqa: F811
    """Control: negativeZeroToZero alone takes care of -0, but the NaN of row 3 still fails the
    task with the documented MySQL message, and nothing is committed."""
    tag = uniq("flc")
    table = "neg zero nan"
    make_pg_floats(dbservers.pg, "src_" + tag, table)
    dst = make_dest("MYSQL", workdir, dbservers, "p_" + tag)
    sid = create_source(mms, pg_source(dbservers.pg, "src_" + tag), dst)
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job_id, job = run_job(mms, sid, {"name": "control " + tag, "srcDbName": "shop",
                                     "others": {"casts": ["negativeZeroToZero"]}})
    (task,) = mms.tasks(sid, job_id)
    assert job["status"] == "FAILED", job
    assert task["status"] == "DATA_FAILED", task
    msg = task["errorMsg"] or ""
    assert re.search(r"^writing table `p_flc_\w+`\.`neg zero nan` column `(the x|r)` row 3: "
                     r"value (NaN|nan) cannot be held by a MySQL number", msg), msg
    out = pf.mariadb(dbservers.mysql, "SELECT COUNT(*) FROM %s.%s;"
                     % (pf.mq(dst.project), pf.mq(table)))
    assert out.strip() == "0", out


def test_nul_stripped_into_postgresql(mms, dbservers, workdir):  # noqa: F811
    """stripNul: NUL bytes anywhere in a SQLite text are removed before PostgreSQL sees them
    (an all-NUL text becomes the empty text, not NULL); checksum verification agrees."""
    tag = uniq("nul")
    path = os.path.join(workdir, "nul.db")
    con = sqlite3.connect(path)
    with con:
        con.execute('CREATE TABLE "nul text" (id INTEGER, "t x" TEXT)')
        con.executemany('INSERT INTO "nul text" VALUES (?, ?)',
                        [(1, "ok"), (2, "a\x00b"), (3, "\x00"), (4, None),
                         (5, "\x00\x00x\x00é\x00")])
    con.close()
    src = pf.Source("SQLITE", "main", {"sqlite.path": path}, path=path)
    dst = make_dest("POSTGRESQL", workdir, dbservers, "p_" + tag)
    sid = create_source(mms, src, dst)
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job_id, job = run_job(mms, sid, {"name": "nul " + tag, "srcDbName": "main",
                                     "others": {"verify": "checksum", "casts": ["stripNul"]}})
    tasks = mms.tasks(sid, job_id)
    assert job["status"] == "DONE", (job, task_summary(tasks))

    schema = pf.pg_find_table(dbservers.pg, dst.project, "nul text")
    got = sorted((int(r["id"]), r["t x"])
                 for r in pf.read_pg(dbservers.pg, dst.project, schema, "nul text"))
    assert got == [(1, "ok"), (2, "ab"), (3, ""), (4, None), (5, "xé")], got


def test_mysql_zero_dates_to_null_into_sqlite(mms, dbservers, workdir):  # noqa: F811
    """zeroDateToNull (applied by the MySQL reader): zero dates and dates with a zero month or
    day arrive as NULL in DATE and DATETIME columns; real dates are kept."""
    tag = uniq("zd")
    db = "src_" + tag
    s = dbservers.mysql
    pf.mariadb(s, "SET SESSION sql_mode = ''; CREATE DATABASE %s; "
                  "CREATE TABLE %s.`zero d` (id INT, d DATE, `dt x` DATETIME); "
                  "INSERT INTO %s.`zero d` VALUES (1, '2020-01-01', '2020-01-01 10:00:00'), "
                  "(2, '0000-00-00', '2020-01-02 00:00:00'), "
                  "(3, '2024-00-10', '0000-00-00 00:00:00'), (4, NULL, NULL), "
                  "(5, '2024-05-00', '2021-03-04 05:06:07');"
               % (pf.mq(db), pf.mq(db), pf.mq(db)))
    src = pf.Source("MYSQL", db, {
        "mysql.host": s.host, "mysql.port": s.port, "mysql.user": s.user,
        "mysql.password": s.password, "mysql.database": db, "mysql.ssl_mode": "DISABLED"})
    dst = make_dest("SQLITE", workdir, dbservers, "p_" + tag)
    sid = create_source(mms, src, dst)
    assert mms.scan(sid)["status"] == "SCAN_DONE"
    job_id, job = run_job(mms, sid, {"name": "zd " + tag, "srcDbName": db,
                                     "others": {"verify": "count",
                                                "casts": ["zeroDateToNull"]}})
    tasks = mms.tasks(sid, job_id)
    assert job["status"] == "DONE", (job, task_summary(tasks))

    got = sorted((r["id"], r["d"], r["dt x"])
                 for r in pf.read_sqlite(os.path.join(dst.dir, dst.project + ".db"), "zero d"))
    assert got == [(1, "2020-01-01", "2020-01-01 10:00:00"),
                   (2, None, "2020-01-02 00:00:00"), (3, None, None), (4, None, None),
                   (5, None, "2021-03-04 05:06:07")], got
