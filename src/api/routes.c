/* The route table: every operation mmsd serves, with its path, method and API name.
 * Timers (Create/List/Get/Update/Delete/Trigger/ListLogs MmsTimer) are not served yet and
 * answer 404 InvalidAction.NotFound like any unknown path; README.md's coverage table says so. */
#include "api/handlers.h"

#define DS "/api/v1/mms/datasources"
#define SRC DS "/{sourceId}"

const struct api_route api_routes[] = {
    {"POST", DS, "CreateMmsDataSource", api_datasource_create, true},
    {"GET", DS, "ListMmsDataSources", api_datasource_list, false},
    {"GET", SRC, "GetMmsDataSource", api_datasource_get, false},
    {"PUT", SRC, "UpdateMmsDataSource", api_datasource_update, true},
    {"DELETE", SRC, "DeleteMmsDataSource", api_datasource_delete, false},
    {"GET", "/api/v1/mms/configItems", "ListMmsDataSourceConfigItems", api_configitems_list,
     false},

    {"POST", SRC "/scans", "CreateMmsFetchMetadataJob", api_scan_create, true},
    {"GET", SRC "/scans/{scanId}", "GetMmsFetchMetadataJob", api_scan_get, false},
    {"GET", SRC "/asyncTasks/{asyncTaskId}", "GetMmsAsyncTask", api_asynctask_get, false},

    {"GET", SRC "/dbs", "ListMmsDbs", api_db_list, false},
    {"GET", SRC "/dbs/{dbId}", "GetMmsDb", api_db_get, false},
    {"PUT", SRC "/dbs/{dbId}", "UpdateMmsDb", api_db_update, true},
    {"GET", SRC "/tables", "ListMmsTables", api_table_list, false},
    {"PUT", SRC "/tables", "UpdateMmsTables", api_tables_update, true},
    {"GET", SRC "/tables/{tableId}", "GetMmsTable", api_table_get, false},
    {"PUT", SRC "/tables/{tableId}", "UpdateMmsTable", api_table_update, true},
    {"GET", SRC "/partitions", "ListMmsPartitions", api_partition_list, false},
    {"GET", SRC "/partitions/{partitionId}", "GetMmsPartition", api_partition_get, false},

    {"POST", SRC "/jobs", "CreateMmsJob", api_job_create, true},
    {"GET", SRC "/jobs", "ListMmsJobs", api_job_list, false},
    {"GET", SRC "/jobs/{jobId}", "GetMmsJob", api_job_get, false},
    {"POST", SRC "/jobs/{jobId}", "DeleteMmsJob", api_job_delete, false},
    {"POST", SRC "/jobs/{jobId}/start", "StartMmsJob", api_job_start, false},
    {"POST", SRC "/jobs/{jobId}/stop", "StopMmsJob", api_job_stop, false},
    {"POST", SRC "/jobs/{jobId}/retry", "RetryMmsJob", api_job_retry, false},

    {"GET", SRC "/tasks", "ListMmsTasks", api_task_list, false},
    {"GET", SRC "/tasks/{taskId}", "GetMmsTask", api_task_get, false},
    {"POST", SRC "/tasks/{taskId}/retry", "RetryMmsTask", api_task_retry, false},
    {"GET", SRC "/tasks/{taskId}/logs", "ListMmsTaskLogs", api_task_logs, false},

    {NULL, NULL, NULL, NULL, false},
};
