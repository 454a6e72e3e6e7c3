/* PLACEHOLDER: replaced by the module owner. */
#include "engine/engine.h"
#include "store/store_asynctask.h"

void exec_stop_job(struct work *w, json_t *params, int64_t source_id)
{
    (void)params;
    (void)source_id;
    store_async_finish(w->db, w->id, w->attempt, false, NULL, "STOP_JOB is not available yet", NULL);
}
