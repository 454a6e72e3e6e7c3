/* The store schema. Conventions: ids are INTEGER (int64); times are Unix seconds, except
 * lease_until which is Unix milliseconds; booleans 0/1; JSON as TEXT.
 * Leases (async_task, scan, task): lease_owner + lease_until + attempt. A worker claims a row by
 * bumping `attempt`, and every later write it makes says `WHERE id=$ AND attempt=$` (fencing), so
 * a worker whose lease was taken over cannot overwrite the newer attempt.
 * ON DELETE CASCADE lets DeleteMmsDataSource / DeleteMmsJob remove everything below them. */
#include "store/store.h"

const char *const store_schema_sql[] = {

    "CREATE TABLE IF NOT EXISTS datasource ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  region TEXT NOT NULL DEFAULT '',"
    "  networklink TEXT NOT NULL DEFAULT '',"
    "  status TEXT NOT NULL DEFAULT 'STOPPED'," /* STARTING|STARTED|START_FAILED|STOPPING|STOPPED|STOP_FAILED */
    "  err_msg TEXT,"
    "  config TEXT NOT NULL DEFAULT '{}',"      /* JSON object {key: value} */
    "  scan_id INTEGER,"                         /* latest scan */
    "  create_time INTEGER NOT NULL,"
    "  last_update_time INTEGER,"                /* last finished metadata scan */
    "  max_tasks INTEGER NOT NULL DEFAULT 0"     /* config limit.maxConcurrentTasks, 0 = no limit */
    ");",
    "CREATE TABLE IF NOT EXISTS db ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  source_id INTEGER NOT NULL REFERENCES datasource(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  description TEXT, owner TEXT, location TEXT, extra TEXT,"
    "  last_ddl_time INTEGER,"
    "  dst_project_name TEXT,"                   /* NULL = the data source's dst.project */
    "  dst_name TEXT,"                           /* destination schema; NULL = source db name */
    "  status TEXT NOT NULL DEFAULT 'INIT',"     /* rolled up from tables */
    "  updated INTEGER NOT NULL DEFAULT 0,"
    "  deleted INTEGER NOT NULL DEFAULT 0,"
    "  size INTEGER NOT NULL DEFAULT 0, num_rows INTEGER NOT NULL DEFAULT 0,"
    "  create_time INTEGER NOT NULL, update_time INTEGER,"
    "  UNIQUE (source_id, name)"
    ");",
    "CREATE TABLE IF NOT EXISTS tbl ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  source_id INTEGER NOT NULL REFERENCES datasource(id) ON DELETE CASCADE,"
    "  db_id INTEGER NOT NULL REFERENCES db(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  type TEXT,"
    "  has_partitions INTEGER NOT NULL DEFAULT 0,"
    "  schema TEXT,"                             /* JSON, conn_schema_to_json() */
    "  owner TEXT, location TEXT, input_format TEXT, output_format TEXT, serde TEXT, extra TEXT,"
    "  last_ddl_time INTEGER,"
    "  size INTEGER NOT NULL DEFAULT 0, num_rows INTEGER NOT NULL DEFAULT 0,"
    "  updated INTEGER NOT NULL DEFAULT 0,"
    "  deleted INTEGER NOT NULL DEFAULT 0,"
    "  status TEXT NOT NULL DEFAULT 'INIT',"     /* INIT|DOING|DONE|FAILED|PART_DONE */
    "  dst_project_name TEXT, dst_schema_name TEXT, dst_name TEXT," /* NULL = default mapping */
    "  create_time INTEGER NOT NULL, update_time INTEGER,"
    "  last_modified INTEGER,"                   /* last data change at the source (scan) */
    "  change_count INTEGER NOT NULL DEFAULT 0," /* source change counter, 0 unknown (scan) */
    "  change_gen INTEGER NOT NULL DEFAULT 0,"   /* + 1 each time a scan sets updated = 1 */
    "  UNIQUE (db_id, name)"
    ");",
    "CREATE INDEX IF NOT EXISTS tbl_source ON tbl(source_id);",
    "CREATE TABLE IF NOT EXISTS part ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  source_id INTEGER NOT NULL REFERENCES datasource(id) ON DELETE CASCADE,"
    "  db_id INTEGER NOT NULL,"
    "  table_id INTEGER NOT NULL REFERENCES tbl(id) ON DELETE CASCADE,"
    "  value TEXT NOT NULL,"                     /* "k1=v1/k2=v2" */
    "  dst_value TEXT,"                          /* NULL = value */
    "  last_ddl_time INTEGER,"
    "  size INTEGER NOT NULL DEFAULT 0, num_rows INTEGER NOT NULL DEFAULT 0,"
    "  updated INTEGER NOT NULL DEFAULT 0,"
    "  deleted INTEGER NOT NULL DEFAULT 0,"
    "  status TEXT NOT NULL DEFAULT 'INIT',"     /* INIT|DOING|DONE|FAILED */
    "  create_time INTEGER NOT NULL, update_time INTEGER,"
    "  last_modified INTEGER,"                   /* last data change at the source (scan) */
    "  change_count INTEGER NOT NULL DEFAULT 0," /* source change counter, 0 unknown (scan) */
    "  change_gen INTEGER NOT NULL DEFAULT 0,"   /* + 1 each time a scan sets updated = 1 */
    "  UNIQUE (table_id, value)"
    ");",
    "CREATE INDEX IF NOT EXISTS part_source ON part(source_id);",
    "CREATE TABLE IF NOT EXISTS scan ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  source_id INTEGER NOT NULL REFERENCES datasource(id) ON DELETE CASCADE,"
    "  status TEXT NOT NULL DEFAULT 'SCAN_DOING'," /* SCAN_DOING|SCAN_DONE|SCAN_FAILED */
    "  progress INTEGER NOT NULL DEFAULT 0,"     /* 0..10000 */
    "  result TEXT, error_msg TEXT,"
    "  db_name TEXT, table_names TEXT,"          /* scope; table_names a JSON array */
    "  lease_owner TEXT, lease_until INTEGER, attempt INTEGER NOT NULL DEFAULT 0,"
    "  create_time INTEGER NOT NULL, start_time INTEGER, end_time INTEGER"
    ");",
    "CREATE INDEX IF NOT EXISTS scan_ready ON scan(status) WHERE status = 'SCAN_DOING';",
    "CREATE TABLE IF NOT EXISTS async_task ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  source_id INTEGER NOT NULL REFERENCES datasource(id) ON DELETE CASCADE,"
    "  type TEXT NOT NULL,"      /* TASK_CREATE|STOP_JOB|DATASOURCE_START|DATASOURCE_STOP|DATASOURCE_TEST|DATASOURCE_UPDATE */
    "  object_id INTEGER,"       /* job id (TASK_CREATE once built, STOP_JOB), source id (DATASOURCE_*) */
    "  status TEXT NOT NULL DEFAULT 'INIT'," /* INIT|DOING|DONE|FAILED */
    "  progress INTEGER NOT NULL DEFAULT 0," /* 0..100 */
    "  result TEXT, error_msg TEXT,"
    "  params TEXT,"             /* JSON input of the operation (e.g. the CreateMmsJob body) */
    "  lease_owner TEXT, lease_until INTEGER, attempt INTEGER NOT NULL DEFAULT 0,"
    "  create_time INTEGER NOT NULL, start_time INTEGER, end_time INTEGER"
    ");",
    "CREATE INDEX IF NOT EXISTS async_source ON async_task(source_id);",
    "CREATE INDEX IF NOT EXISTS async_ready ON async_task(status) WHERE status IN ('INIT','DOING');",
    /* GetMmsJob/ListMmsJobs stopAsyncTaskId: the latest STOP_JOB of a job (api_job.c). */
    "CREATE INDEX IF NOT EXISTS async_object ON async_task(object_id, type)"
    "  WHERE object_id IS NOT NULL;",
    "CREATE TABLE IF NOT EXISTS job ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  source_id INTEGER NOT NULL REFERENCES datasource(id) ON DELETE CASCADE,"
    "  async_task_id INTEGER UNIQUE," /* the TASK_CREATE that built it: makes building idempotent */
    "  name TEXT NOT NULL,"
    "  db_id INTEGER, src_db_name TEXT, src_schema_name TEXT,"
    "  dst_db_name TEXT, dst_schema_name TEXT,"
    "  type TEXT NOT NULL,"        /* Database|Tables|Partitions */
    "  status TEXT NOT NULL DEFAULT 'INIT'," /* INIT|DOING|DONE|FAILED, derived from tasks */
    "  stopped INTEGER NOT NULL DEFAULT 0,"
    "  config TEXT NOT NULL DEFAULT '{}'," /* JobConfig JSON */
    "  eta TEXT, timer_id INTEGER,"
    "  create_time INTEGER NOT NULL, update_time INTEGER"
    ");",
    "CREATE INDEX IF NOT EXISTS job_source ON job(source_id);",
    "CREATE TABLE IF NOT EXISTS task ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  job_id INTEGER NOT NULL REFERENCES job(id) ON DELETE CASCADE,"
    "  source_id INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL DEFAULT 0,"          /* run order: round-robin across tables */
    "  db_id INTEGER, table_id INTEGER,"
    "  src_db_name TEXT, src_schema_name TEXT, src_table_name TEXT,"
    "  dst_db_name TEXT, dst_schema_name TEXT, dst_table_name TEXT,"
    "  type TEXT NOT NULL,"                      /* engine type, e.g. SQLITE */
    "  status TEXT NOT NULL DEFAULT 'INIT',"     /* INIT..DONE, see engine/task_state.h */
    "  stopped INTEGER NOT NULL DEFAULT 0,"
    "  queued INTEGER NOT NULL DEFAULT 1,"       /* 1 = a worker should run it */
    "  retried_times INTEGER NOT NULL DEFAULT 0,"
    "  schema_only INTEGER NOT NULL DEFAULT 0,"  /* a partitioned table with nothing to move */
    "  rows_done INTEGER NOT NULL DEFAULT 0, bytes_done INTEGER NOT NULL DEFAULT 0,"
    "  rows_total INTEGER NOT NULL DEFAULT 0,"   /* from the scan, for progress */
    "  error_msg TEXT,"
    "  lease_owner TEXT, lease_until INTEGER, attempt INTEGER NOT NULL DEFAULT 0,"
    "  create_time INTEGER NOT NULL, start_time INTEGER, end_time INTEGER,"
    /* Automatic retry after a transient failure (engine/retry.h), all Unix ms: */
    "  next_attempt_at INTEGER,"                 /* not claimed before; NULL = at once */
    "  retry_count INTEGER NOT NULL DEFAULT 0,"  /* automatic retries since the last final status */
    "  first_failure_at INTEGER,"                /* start of the retry budget */
    /* tbl.change_gen when the last DATA stage started (store_catalog_snapshot); NULL = none */
    "  table_gen INTEGER"
    ");",
    "CREATE INDEX IF NOT EXISTS task_job ON task(job_id);",
    "CREATE INDEX IF NOT EXISTS task_source ON task(source_id);",
    "CREATE INDEX IF NOT EXISTS task_ready ON task(seq) WHERE queued = 1;",
    "CREATE TABLE IF NOT EXISTS task_part ("
    "  task_id INTEGER NOT NULL REFERENCES task(id) ON DELETE CASCADE,"
    "  part_id INTEGER NOT NULL,"
    "  gen INTEGER,"             /* part.change_gen when the last DATA stage started; NULL = none */
    "  PRIMARY KEY (task_id, part_id)"
    ");",
    "CREATE INDEX IF NOT EXISTS task_part_part ON task_part(part_id);",
    "CREATE TABLE IF NOT EXISTS task_log ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  source_id INTEGER NOT NULL,"
    "  task_id INTEGER NOT NULL REFERENCES task(id) ON DELETE CASCADE,"
    "  status TEXT NOT NULL, action TEXT, msg TEXT,"
    "  create_time INTEGER NOT NULL"
    ");",
    "CREATE INDEX IF NOT EXISTS task_log_task ON task_log(task_id);",
    /* First ids like the service's own examples: data sources 2000001.., scans 1000001... */
    "INSERT INTO sqlite_sequence(name, seq) SELECT 'datasource', 2000000"
    "  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'datasource');",
    "INSERT INTO sqlite_sequence(name, seq) SELECT 'scan', 1000000"
    "  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'scan');",
    "INSERT INTO sqlite_sequence(name, seq) SELECT 'async_task', 1000000"
    "  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'async_task');",
    /* Access keys (issue 4): the secret is encrypted under the master key ("enc:v1:...");
     * status Active|Inactive. Policies: RAM policy documents by name. Nonces: each signature
     * nonce once until its request's date window has passed. */
    "CREATE TABLE IF NOT EXISTS access_key ("
    "  id TEXT PRIMARY KEY,"
    "  secret TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'Active',"
    "  create_time INTEGER NOT NULL"
    ");",
    "CREATE TABLE IF NOT EXISTS key_policy ("
    "  key_id TEXT NOT NULL REFERENCES access_key(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  document TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL,"
    "  PRIMARY KEY (key_id, name)"
    ");",
    "CREATE TABLE IF NOT EXISTS auth_nonce ("
    "  nonce TEXT PRIMARY KEY,"
    "  expires_at INTEGER NOT NULL"
    ");",
    "CREATE INDEX IF NOT EXISTS auth_nonce_expiry ON auth_nonce(expires_at);",
    NULL,
};
