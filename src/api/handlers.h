/* Every operation's handler, one module per noun (api_<noun>.c). See routes.c for paths. */
#ifndef MMS_HANDLERS_H
#define MMS_HANDLERS_H

#include "api/api.h"

/* api_datasource.c */
void api_datasource_create(struct api_ctx *ctx);   /* CreateMmsDataSource */
void api_datasource_list(struct api_ctx *ctx);     /* ListMmsDataSources */
void api_datasource_get(struct api_ctx *ctx);      /* GetMmsDataSource */
void api_datasource_update(struct api_ctx *ctx);   /* UpdateMmsDataSource */
void api_datasource_delete(struct api_ctx *ctx);   /* DeleteMmsDataSource */
void api_configitems_list(struct api_ctx *ctx);    /* ListMmsDataSourceConfigItems */

/* api_scan.c */
void api_scan_create(struct api_ctx *ctx);         /* CreateMmsFetchMetadataJob */
void api_scan_get(struct api_ctx *ctx);            /* GetMmsFetchMetadataJob */

/* api_asynctask.c */
void api_asynctask_get(struct api_ctx *ctx);       /* GetMmsAsyncTask */

/* api_catalog.c */
void api_db_list(struct api_ctx *ctx);             /* ListMmsDbs */
void api_db_get(struct api_ctx *ctx);              /* GetMmsDb */
void api_db_update(struct api_ctx *ctx);           /* UpdateMmsDb */
void api_table_list(struct api_ctx *ctx);          /* ListMmsTables */
void api_table_get(struct api_ctx *ctx);           /* GetMmsTable */
void api_table_update(struct api_ctx *ctx);        /* UpdateMmsTable */
void api_tables_update(struct api_ctx *ctx);       /* UpdateMmsTables */
void api_partition_list(struct api_ctx *ctx);      /* ListMmsPartitions */
void api_partition_get(struct api_ctx *ctx);       /* GetMmsPartition */

/* api_job.c */
void api_job_create(struct api_ctx *ctx);          /* CreateMmsJob */
void api_job_list(struct api_ctx *ctx);            /* ListMmsJobs */
void api_job_get(struct api_ctx *ctx);             /* GetMmsJob */
void api_job_delete(struct api_ctx *ctx);          /* DeleteMmsJob (POST) */
void api_job_start(struct api_ctx *ctx);           /* StartMmsJob */
void api_job_stop(struct api_ctx *ctx);            /* StopMmsJob */
void api_job_retry(struct api_ctx *ctx);           /* RetryMmsJob */

/* api_task.c */
void api_task_list(struct api_ctx *ctx);           /* ListMmsTasks */
void api_task_get(struct api_ctx *ctx);            /* GetMmsTask */
void api_task_retry(struct api_ctx *ctx);          /* RetryMmsTask */
void api_task_logs(struct api_ctx *ctx);           /* ListMmsTaskLogs */

#endif
