/* PLACEHOLDER: replaced by the module owner. */
#include "store/store_job.h"

int store_job_refresh(struct db *db, int64_t job_id, struct mms_err *err)
{
    (void)db; (void)job_id; (void)err;
    return 0;
}
