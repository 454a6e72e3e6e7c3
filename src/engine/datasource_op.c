/* PLACEHOLDER: replaced by the module owner. */
#include "engine/engine.h"
#include "store/store_asynctask.h"

void exec_datasource_op(struct work *w, const char *type, json_t *params, int64_t source_id)
{
    (void)type;
    (void)params;
    (void)source_id;
    store_async_finish(w->db, w->id, w->attempt, false, NULL, "not available yet", NULL);
}
