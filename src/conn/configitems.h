/* The configuration schema of each data-source type (ListMmsDataSourceConfigItems), and the
 * rules every API applies to a data source's `config` object: validation, masking of secrets,
 * and merging an update into the stored config.
 *
 * A schema is one table of descriptors per type (STYLE.md #10). Every type has its own items
 * (group "basic": how to reach the source) followed by the destination items shared by all
 * types (group "destination": dst.url, dst.project). A type is listed only while a connector
 * for it is registered (conn_find); adding PostgreSQL, MySQL or files means adding a table
 * here and a row in the registry, nothing else.
 *
 * Config values are JSON: string, password and file items hold strings, int items integers,
 * boolean items true/false, map items objects. A null value counts as absent.
 *
 * Secrets: the value of every `password` item is shown as "******" by every API, and so is the
 * password part of any URL-valued string (`scheme://user:PASSWORD@host/...`). On an update, a
 * password item whose new value is "******", or a URL whose password part is "******", keeps
 * the stored secret (so a client can send back what GetMmsDataSource showed it). */
#ifndef MMS_CONFIGITEMS_H
#define MMS_CONFIGITEMS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util/err.h"

#define CONFIG_MASK "******"
#define CONFIG_MAX_STRING 4096 /* bytes of a string/password/file value */
#define CONFIG_MAX_MAP 65536   /* bytes of a map value, serialised */

enum config_type {
    CONFIG_STRING,
    CONFIG_INT,
    CONFIG_BOOLEAN,
    CONFIG_PASSWORD,
    CONFIG_MAP,
    CONFIG_FILE,
};

enum config_lang { CONFIG_LANG_ZH_CN = 0, CONFIG_LANG_EN_US = 1 };

struct config_item;
/* An extra check of one item's (type-checked, non-empty) value; 0 or -1 with err
 * (400 InvalidParameter.Config). Must not echo secrets into the message. */
typedef int (*config_check_fn)(const struct config_item *it, json_t *value, struct mms_err *err);

struct config_item {
    const char *key;     /* "sqlite.path"; NULL ends a table */
    const char *name[2]; /* display name, by enum config_lang */
    const char *desc[2]; /* description, by enum config_lang */
    const char *group;   /* "basic", "destination" */
    enum config_type type;
    bool required;
    const char *const *enums; /* allowed values (NULL-terminated), NULL = any */
    const char *placeholder;  /* example value shown by consoles, NULL = none */
    const char *def;          /* default value as JSON text, NULL = none */
    const char *sub_type;     /* for file items, e.g. ".keytab"; NULL = none */
    config_check_fn check;    /* NULL = none */
};

/* The items of a data-source type (case-insensitive), NULL-key terminated; NULL when the type
 * is not supported (no schema, or no registered connector). */
const struct config_item *configitems_find(const char *type);
/* "SQLITE" (supported types, comma-separated) into out, for error messages. */
void configitems_types(char *out, size_t n);

/* "zh_CN" / "en_US" (NULL = zh_CN, the default). 0, or -1 for anything else. */
int configitems_lang(const char *s, enum config_lang *out);
const char *configitems_type_name(enum config_type t); /* "string", "password", ... */

/* Checks a whole config object against items: an object; no keys that are not items (400
 * InvalidParameter.Config naming the key); every required item present and non-empty; values
 * of the item's type, strings <= CONFIG_MAX_STRING bytes without NUL, within enums; and the
 * item's own check (e.g. dst.url must name a scheme with a connector, sqlite paths absolute).
 * Returns 0, or -1 with err. `config` is borrowed. */
int configitems_validate(const struct config_item *items, json_t *config, struct mms_err *err);

/* Merges `update` into a copy of `stored` (both borrowed; stored may be NULL): keys of update
 * replace stored ones, null values remove the key, and masked secrets ("******" for a
 * password item, a URL whose password is "******") keep the stored value. The result is not
 * validated (call configitems_validate on it). New reference. */
json_t *configitems_merge(const struct config_item *items, json_t *stored, json_t *update);

/* A copy of config with every secret masked (see the header comment). Keys that are not items
 * of the schema are kept, masked the same way. New reference. */
json_t *configitems_mask(const struct config_item *items, json_t *config);
/* The URL with the password of its userinfo replaced by "******" (heap, caller frees), or a
 * copy when it has none. */
char *configitems_mask_url(const char *url);
/* A copy of text (e.g. a connector's error message) with every secret of config (password
 * items, URL passwords) replaced by "******". Caller frees. */
char *configitems_redact(const struct config_item *items, json_t *config, const char *text);

/* The ConfigItem array of the API (mms-api.md 6.2): one object per item with key, name, desc,
 * group, type, subType, placeHolder, required, enums and value. value is the item's default
 * when values is NULL (ListMmsDataSourceConfigItems), else the item's value in `values`
 * masked (GetMmsDataSource withConfig=true), null when unset. New reference. */
json_t *configitems_to_json(const struct config_item *items, enum config_lang lang, json_t *values);

#endif
