/* PLACEHOLDER: replaced by the module owner. */
#include "store/store_catalog.h"

int store_catalog_mark(struct db *db, int64_t table_id, const int64_t *part_ids, size_t nparts,
                       const char *status, struct mms_err *err)
{
    (void)db; (void)table_id; (void)part_ids; (void)nparts; (void)status; (void)err;
    return 0;
}

int store_catalog_rollup(struct db *db, int64_t table_id, struct mms_err *err)
{
    (void)db; (void)table_id; (void)err;
    return 0;
}

int store_catalog_dst_names(struct db *db, int64_t table_id, struct dst_names *out,
                            struct mms_err *err)
{
    (void)db; (void)table_id; (void)out; (void)err;
    return 1;
}

void dst_names_release(struct dst_names *n)
{
    (void)n;
}
