/* PLACEHOLDER: replaced by the module owner. */
#include "engine/engine.h"
#include "store/store_asynctask.h"

void exec_scan(struct work *w)
{
    work_release(w);
}
