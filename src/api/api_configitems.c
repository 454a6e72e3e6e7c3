/* ListMmsDataSourceConfigItems: the config schema of a data-source type (conn/configitems.c),
 * in zh_CN (the default) or en_US. sourceType is required and case-insensitive ("sqlite"). */
#include "api/handlers.h"
#include "conn/configitems.h"

#include <ctype.h>

void api_configitems_list(struct api_ctx *ctx)
{
    static const char *const langs[] = {"zh_CN", "en_US", NULL};
    const char *type = NULL, *lang_s = NULL;
    enum config_lang lang = CONFIG_LANG_ZH_CN;
    char types[256];
    if (api_query_str(ctx, "sourceType", 64, &type) < 0 ||
        api_query_enum(ctx, "lang", langs, &lang_s) < 0)
        return;
    configitems_lang(lang_s, &lang);
    configitems_types(types, sizeof types);
    if (!type || !*type) {
        api_fail(ctx, 400, "InvalidParameter.SourceType", "sourceType is required; supported: %s",
                 types);
        return;
    }
    const struct config_item *items = configitems_find(type);
    if (!items) {
        bool printable = true;
        for (const char *c = type; printable && *c; c++)
            printable = isprint((unsigned char)*c);
        api_fail(ctx, 400, "InvalidParameter.SourceType",
                 "sourceType '%s' is not supported; supported: %s", printable ? type : "?", types);
        return;
    }
    api_ok(ctx, configitems_to_json(items, lang, NULL));
}
