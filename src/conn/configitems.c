/* Config item schemas per data-source type, and validation, masking, merging of configs.
 * See configitems.h for the rules; this file holds the tables and the why. */
#include "conn/configitems.h"
#include "conn/conn.h"
#include "util/buf.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Item checks ------------------------------------------------------------------------ */

static int bad(struct mms_err *err, const char *key, const char *what)
{
    return mms_err_set(err, 400, "InvalidParameter.Config", "config item %s %s", key, what);
}

/* A local file path: absolute, so that it means the same thing whatever the working
 * directory of mmsd is (and after a restart from elsewhere). */
static int check_abs_path(const struct config_item *it, json_t *v, struct mms_err *err)
{
    const char *s = json_string_value(v);
    if (s[0] != '/')
        return bad(err, it->key, "must be an absolute path (starting with /)");
    return 0;
}

/* The destination URL: its scheme must have a registered connector; sqlite:///dir must name an
 * absolute directory. The URL itself is never echoed (it may hold a password). */
static int check_dst_url(const struct config_item *it, json_t *v, struct mms_err *err)
{
    const char *url = json_string_value(v);
    const struct conn_ops *ops = conn_find_scheme(url);
    if (!ops) {
        char schemes[256] = "";
        size_t pos = 0;
        const struct conn_ops *const *all = conn_all();
        for (size_t i = 0; all[i]; i++)
            if (all[i]->url_scheme && pos < sizeof schemes)
                pos += (size_t)snprintf(schemes + pos, sizeof schemes - pos, "%s%s://",
                                        pos ? ", " : "", all[i]->url_scheme);
        const char *colon = strchr(url, ':');
        size_t n = colon ? (size_t)(colon - url) : 0;
        bool printable = n > 0 && n <= 32;
        for (size_t i = 0; printable && i < n; i++)
            printable =
                isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.';
        if (printable)
            return mms_err_set(err, 400, "InvalidParameter.Config",
                               "config item %s: no connector for the scheme '%.*s'; supported: "
                               "%s",
                               it->key, (int)n, url, schemes);
        return mms_err_set(err, 400, "InvalidParameter.Config",
                           "config item %s must be a URL such as %s<...>", it->key, schemes);
    }
    if (strcasecmp(ops->url_scheme, "sqlite") == 0) {
        /* sqlite:///abs/dir: an empty authority followed by an absolute path. */
        const char *rest = url + strlen(ops->url_scheme) + 1;
        if (strncmp(rest, "///", 3) != 0)
            return bad(err, it->key,
                       "must be sqlite:///<absolute directory>, e.g. sqlite:///var/lib/mms/dst");
    }
    return 0;
}

/* A destination database name: for SQLite it becomes the file <dir>/<project>.db, so it must be
 * a plain file name. Other connectors take any identifier; these rules are the common ground. */
static int check_project(const struct config_item *it, json_t *v, struct mms_err *err)
{
    const char *s = json_string_value(v);
    if (strlen(s) > 200)
        return bad(err, it->key, "must be at most 200 bytes");
    if (strcmp(s, ".") == 0 || strstr(s, "..") || strchr(s, '/') || strchr(s, '\\'))
        return bad(err, it->key, "must be a database name, not a path (no '/', '\\', '..')");
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return bad(err, it->key, "must not contain control characters");
    return 0;
}

/* A source protection limit (group "limits"): an integer from 0 (no limit) up to a bound that
 * no real source reaches, so that rate arithmetic cannot overflow. */
static int check_limit(const struct config_item *it, json_t *v, struct mms_err *err)
{
    json_int_t n = json_integer_value(v);
    json_int_t max = strcmp(it->key, "limit.maxConcurrentTasks") == 0 ? 100000 : 1000000000000000;
    if (n < 0 || n > max)
        return mms_err_set(err, 400, "InvalidParameter.Config",
                           "config item %s must be an integer from 0 (no limit) to %lld", it->key,
                           (long long)max);
    return 0;
}

/* ---- Schemas ---------------------------------------------------------------------------- */

/* Destination items, shared by every type (group "destination"). clang-format cannot align the
 * line continuations of this macro (it counts the bytes of the Chinese text), hence off. */
// clang-format off
#define DST_ITEMS                                                                                 \
    {                                                                                             \
        .key = "dst.url",                                                                         \
        .name = {"目标连接 URL", "Destination URL"},                                              \
        .desc = {"迁移目标的连接 URL：sqlite:///<绝对目录>（每个目标数据库是该目录下的"            \
                 "<project>.db 文件）、postgresql://用户:密码@主机:端口/、mysql://用户:密码@主机:" \
                 "端口/ 或 file:///<绝对目录>?format=text|csv。",                                  \
                 "Connection URL of the migration destination: sqlite:///<absolute directory> "  \
                 "(each destination database is the file <project>.db in it), "                  \
                 "postgresql://user:password@host:port/, mysql://user:password@host:port/ or "   \
                 "file:///<absolute directory>?format=text|csv."},                               \
        .group = "destination",                                                                   \
        .type = CONFIG_STRING,                                                                    \
        .required = true,                                                                         \
        .placeholder = "sqlite:///var/lib/mms/dst",                                               \
        .check = check_dst_url,                                                                   \
    },                                                                                            \
    {                                                                                             \
        .key = "dst.project",                                                                     \
        .name = {"默认目标数据库", "Default destination database"},                               \
        .desc = {"默认的目标数据库（project）。SQLite 目标下为文件 <目录>/<project>.db；源库名"   \
                 "映射为 schema。可在作业（dstDbName）、库或表（UpdateMmsDb、UpdateMmsTable）"    \
                 "上覆盖。",                                                                      \
                 "Default destination database (project). For a SQLite destination it is the "   \
                 "file <dir>/<project>.db; the source db name becomes the schema. Overridable "   \
                 "per job (dstDbName) and per db or table (UpdateMmsDb, UpdateMmsTable)."},      \
        .group = "destination",                                                                   \
        .type = CONFIG_STRING,                                                                    \
        .required = true,                                                                         \
        .placeholder = "warehouse",                                                               \
        .check = check_project,                                                                   \
    }

/* Source protection, shared by every type (group "limits"; engine/limiter.h, docs/engine.md
 * "Source protection"). All optional, 0 = no limit. */
#define LIMIT_ITEMS                                                                               \
    {                                                                                             \
        .key = "limit.rowsPerSecond",                                                             \
        .name = {"每秒行数上限", "Rows per second"},                                              \
        .desc = {"本数据源所有迁移任务合计每秒最多读取的行数（本进程内共享），0 表示不限。",      \
                 "Most rows per second read from this source by all its tasks together (shared "  \
                 "in this process); 0 = no limit."},                                              \
        .group = "limits",                                                                        \
        .type = CONFIG_INT,                                                                       \
        .placeholder = "200000",                                                                  \
        .def = "0",                                                                               \
        .check = check_limit,                                                                     \
    },                                                                                            \
    {                                                                                             \
        .key = "limit.bytesPerSecond",                                                            \
        .name = {"每秒字节数上限", "Bytes per second"},                                           \
        .desc = {"本数据源所有迁移任务合计每秒最多读取的字节数（按内存中批次大小计），0 表示不限。",\
                 "Most bytes per second read from this source by all its tasks together (as "    \
                 "the in-memory size of the batches); 0 = no limit."},                            \
        .group = "limits",                                                                        \
        .type = CONFIG_INT,                                                                       \
        .placeholder = "52428800",                                                                \
        .def = "0",                                                                               \
        .check = check_limit,                                                                     \
    },                                                                                            \
    {                                                                                             \
        .key = "limit.maxConcurrentTasks",                                                        \
        .name = {"最大并发任务数", "Maximum concurrent tasks"},                                   \
        .desc = {"同时运行的本数据源迁移任务的最大数量，0 表示不限（仅受工作线程数限制）。",      \
                 "Most migration tasks of this source running at once; 0 = no limit (only the "  \
                 "number of workers)."},                                                          \
        .group = "limits",                                                                        \
        .type = CONFIG_INT,                                                                       \
        .placeholder = "2",                                                                       \
        .def = "0",                                                                               \
        .check = check_limit,                                                                     \
    }
// clang-format on

static const struct config_item sqlite_items[] = {
    {
        .key = "sqlite.path",
        .name = {"SQLite 数据库文件", "SQLite database file"},
        .desc = {"源 SQLite 数据库文件的绝对路径（只读打开）。",
                 "Absolute path of the source SQLite database file (opened read-only)."},
        .group = "basic",
        .type = CONFIG_STRING,
        .required = true,
        .placeholder = "/data/source.db",
        .check = check_abs_path,
    },
    DST_ITEMS,
    LIMIT_ITEMS,
    {.key = NULL},
};

/* One row per data-source type; listed only when conn_find(type) has a connector. */
static const char *const files_formats[] = {"text", "csv", NULL};
static const struct config_item files_items[] = {
    {.key = "files.root", .name = {"仓库根目录", "Warehouse root directory"},
     .desc = {"Hive 仓库布局的根目录的绝对路径：<根目录>/<库>.db/<表>/<k>=<v>/<文件>。",
              "Absolute path of the root of the Hive warehouse layout: "
              "<root>/<db>.db/<table>/<k>=<v>/<files>."},
     .group = "basic", .type = CONFIG_STRING, .required = true,
     .placeholder = "/data/warehouse", .check = check_abs_path},
    {.key = "files.format", .name = {"文件格式", "File format"},
     .desc = {"数据文件格式：text（Hive 文本，\\x01 分隔，\\N 为 NULL）或 csv（RFC 4180，带表头）。",
              "Data file format: text (Hive text, \\x01-separated, \\N = NULL) or csv "
              "(RFC 4180 with a header row)."},
     .group = "basic", .type = CONFIG_STRING, .enums = files_formats,
     .placeholder = "text", .def = "\"text\""},
    DST_ITEMS,
    LIMIT_ITEMS,
    {.key = NULL},
};

/* Network database sources: the same shape for PostgreSQL and MySQL (prefix "pg." / "mysql."). */
static const char *const pg_sslmodes[] = {"disable", "allow", "prefer", "require", "verify-ca",
                                          "verify-full", NULL};
static const char *const mysql_sslmodes[] = {"DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA",
                                             "VERIFY_IDENTITY", NULL};
// clang-format off
#define NET_ITEMS(P, PORT, SSLMODES, SSLDEF)                                                      \
    {.key = P "host", .name = {"主机", "Host"},                                                   \
     .desc = {"数据库服务器的主机名或 IP 地址。", "Host name or IP address of the server."},         \
     .group = "basic", .type = CONFIG_STRING, .required = true, .placeholder = "127.0.0.1"},     \
    {.key = P "port", .name = {"端口", "Port"},                                                   \
     .desc = {"数据库服务器的端口。", "Port of the server."},                                      \
     .group = "basic", .type = CONFIG_INT, .placeholder = PORT, .def = PORT},                    \
    {.key = P "user", .name = {"用户名", "User"},                                                 \
     .desc = {"连接使用的用户名（只需读权限）。", "User to connect as (read access is enough)."},     \
     .group = "basic", .type = CONFIG_STRING, .required = true, .placeholder = "mms"},           \
    {.key = P "password", .name = {"密码", "Password"},                                           \
     .desc = {"该用户的密码；任何接口都不会返回。", "Password of that user; never returned by any API."}, \
     .group = "basic", .type = CONFIG_PASSWORD},                                                 \
    {.key = P "database", .name = {"数据库", "Database"},                                         \
     .desc = {"要迁移的数据库。", "Database to migrate from."},                                    \
     .group = "basic", .type = CONFIG_STRING, .placeholder = "shop"},                            \
    {.key = P "ssl_mode", .name = {"TLS 模式", "TLS mode"},                                        \
     .desc = {"与服务器之间的 TLS 模式。", "TLS mode of the connection to the server."},            \
     .group = "basic", .type = CONFIG_STRING, .enums = SSLMODES, .def = SSLDEF},                 \
    {.key = P "connect_timeout", .name = {"连接超时（秒）", "Connect timeout (s)"},                 \
     .desc = {"建立连接的超时时间（秒）。", "Seconds to wait for a connection."},                    \
     .group = "basic", .type = CONFIG_INT, .placeholder = "10", .def = "10"}
// clang-format on

static const struct config_item pg_items[] = {
    NET_ITEMS("pg.", "5432", pg_sslmodes, "\"prefer\""),
    DST_ITEMS,
    LIMIT_ITEMS,
    {.key = NULL},
};

static const struct config_item mysql_items[] = {
    NET_ITEMS("mysql.", "3306", mysql_sslmodes, "\"PREFERRED\""),
    DST_ITEMS,
    LIMIT_ITEMS,
    {.key = NULL},
};

static const struct {
    const char *type;
    const struct config_item *items;
} schemas[] = {
    {"SQLITE", sqlite_items},
    {"FILES", files_items},
    {"POSTGRESQL", pg_items},
    {"MYSQL", mysql_items},
};

const struct config_item *configitems_find(const char *type)
{
    if (!type)
        return NULL;
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++)
        if (strcasecmp(schemas[i].type, type) == 0 && conn_find(schemas[i].type))
            return schemas[i].items;
    return NULL;
}

void configitems_types(char *out, size_t n)
{
    size_t pos = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0] && pos < n; i++)
        if (conn_find(schemas[i].type))
            pos += (size_t)snprintf(out + pos, n - pos, "%s%s", pos ? ", " : "", schemas[i].type);
}

int configitems_lang(const char *s, enum config_lang *out)
{
    if (!s || strcmp(s, "zh_CN") == 0)
        *out = CONFIG_LANG_ZH_CN;
    else if (strcmp(s, "en_US") == 0)
        *out = CONFIG_LANG_EN_US;
    else
        return -1;
    return 0;
}

const char *configitems_type_name(enum config_type t)
{
    switch (t) {
    case CONFIG_STRING:
        return "string";
    case CONFIG_INT:
        return "int";
    case CONFIG_BOOLEAN:
        return "boolean";
    case CONFIG_PASSWORD:
        return "password";
    case CONFIG_MAP:
        return "map";
    case CONFIG_FILE:
        return "file";
    }
    return "string";
}

static const struct config_item *item_find(const struct config_item *items, const char *key)
{
    for (size_t i = 0; items[i].key; i++)
        if (strcmp(items[i].key, key) == 0)
            return &items[i];
    return NULL;
}

/* ---- Validation ------------------------------------------------------------------------- */

/* A key is echoed only when short and printable (it is untrusted input). */
static const char *safe_key(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > 128)
        return "?";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
            return "?";
    return key;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i]))
            return false;
    return true;
}

static int check_value(const struct config_item *it, json_t *v, struct mms_err *err)
{
    switch (it->type) {
    case CONFIG_STRING:
    case CONFIG_PASSWORD:
    case CONFIG_FILE: {
        if (!json_is_string(v))
            return bad(err, it->key, "must be a string");
        size_t n = json_string_length(v);
        if (n > CONFIG_MAX_STRING)
            return mms_err_set(err, 400, "InvalidParameter.Config",
                               "config item %s is longer than %d bytes", it->key,
                               CONFIG_MAX_STRING);
        if (strlen(json_string_value(v)) != n)
            return bad(err, it->key, "must not contain NUL characters");
        if (blank(json_string_value(v), n))
            return it->required ? bad(err, it->key, "is required and must not be empty") : 0;
        if (it->enums) {
            bool found = false;
            for (size_t i = 0; it->enums[i] && !found; i++)
                found = strcmp(it->enums[i], json_string_value(v)) == 0;
            if (!found) {
                struct buf b;
                buf_init(&b, 1024);
                for (size_t i = 0; it->enums[i]; i++)
                    buf_printf(&b, "%s%s", i ? ", " : "", it->enums[i]);
                mms_err_set(err, 400, "InvalidParameter.Config",
                            "config item %s must be one of: %s", it->key, buf_str(&b));
                buf_release(&b);
                return -1;
            }
        }
        break;
    }
    case CONFIG_INT:
        if (!json_is_integer(v))
            return bad(err, it->key, "must be an integer");
        break;
    case CONFIG_BOOLEAN:
        if (!json_is_boolean(v))
            return bad(err, it->key, "must be true or false");
        break;
    case CONFIG_MAP: {
        if (!json_is_object(v))
            return bad(err, it->key, "must be an object");
        char *s = json_dumps(v, JSON_COMPACT);
        size_t n = s ? strlen(s) : 0;
        free(s);
        if (n > CONFIG_MAX_MAP)
            return mms_err_set(err, 400, "InvalidParameter.Config",
                               "config item %s is larger than %d bytes", it->key, CONFIG_MAX_MAP);
        if (it->required && json_object_size(v) == 0)
            return bad(err, it->key, "is required and must not be empty");
        break;
    }
    }
    return it->check ? it->check(it, v, err) : 0;
}

int configitems_validate(const struct config_item *items, json_t *config, struct mms_err *err)
{
    if (!json_is_object(config))
        return mms_err_set(err, 400, "InvalidParameter.Config", "config must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(config, key, v)
    {
        if (!item_find(items, key)) {
            struct buf b;
            buf_init(&b, 1024);
            for (size_t i = 0; items[i].key; i++)
                buf_printf(&b, "%s%s", i ? ", " : "", items[i].key);
            mms_err_set(err, 400, "InvalidParameter.Config",
                        "unknown config item '%s'; this type takes: %s", safe_key(key),
                        buf_str(&b));
            buf_release(&b);
            return -1;
        }
    }
    for (size_t i = 0; items[i].key; i++) {
        const struct config_item *it = &items[i];
        v = json_object_get(config, it->key);
        if (!v || json_is_null(v)) {
            if (it->required)
                return bad(err, it->key, "is required");
            continue;
        }
        if (check_value(it, v, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- URLs and secrets ------------------------------------------------------------------- */

/* Finds the password of a URL's userinfo: scheme "://" user ":" PASSWORD "@" host...
 * The userinfo ends at the last '@' (passwords written raw may contain '/', '@' or ':'; when
 * in doubt this masks too much rather than too little). Returns true with the span. */
static bool url_password(const char *url, size_t *start, size_t *len)
{
    const char *sep = strstr(url, "://");
    if (!sep || sep == url)
        return false;
    for (const char *c = url; c < sep; c++)
        if (!isalnum((unsigned char)*c) && *c != '+' && *c != '-' && *c != '.')
            return false;
    const char *rest = sep + 3;
    if (*rest == '/')
        return false; /* empty authority: file:///..., sqlite:///... */
    const char *at = strrchr(rest, '@');
    if (!at)
        return false;
    const char *colon = memchr(rest, ':', (size_t)(at - rest));
    if (!colon)
        return false;
    *start = (size_t)(colon + 1 - url);
    *len = (size_t)(at - (colon + 1));
    return true;
}

char *configitems_mask_url(const char *url)
{
    size_t start, len;
    if (!url_password(url, &start, &len))
        return xstrdup(url);
    return xasprintf("%.*s%s%s", (int)start, url, CONFIG_MASK, url + start + len);
}

static json_t *mask_value(const struct config_item *it, json_t *v)
{
    if (it && it->type == CONFIG_PASSWORD && json_is_string(v) && json_string_length(v) > 0)
        return json_string(CONFIG_MASK);
    if (json_is_string(v)) {
        size_t start, len;
        const char *s = json_string_value(v);
        if (url_password(s, &start, &len)) {
            char *m = configitems_mask_url(s);
            json_t *r = json_string(m);
            free(m);
            return r ? r : json_string(CONFIG_MASK);
        }
    }
    return json_deep_copy(v);
}

json_t *configitems_mask(const struct config_item *items, json_t *config)
{
    json_t *out = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(config, key, v)
    {
        const struct config_item *it = items ? item_find(items, key) : NULL;
        json_object_set_new(out, key, mask_value(it, v));
    }
    return out;
}

json_t *configitems_merge(const struct config_item *items, json_t *stored, json_t *update)
{
    json_t *out = json_is_object(stored) ? json_deep_copy(stored) : json_object();
    const char *key;
    json_t *v;
    json_object_foreach(update, key, v)
    {
        json_t *old = json_object_get(out, key);
        const struct config_item *it = item_find(items, key);
        if (json_is_null(v)) {
            json_object_del(out, key);
            continue;
        }
        if (it && it->type == CONFIG_PASSWORD && json_is_string(v) &&
            strcmp(json_string_value(v), CONFIG_MASK) == 0 && json_is_string(old))
            continue; /* masked echo: keep the stored secret */
        size_t ns, nl, os, ol;
        if (json_is_string(v) && json_is_string(old) &&
            url_password(json_string_value(v), &ns, &nl) &&
            url_password(json_string_value(old), &os, &ol) && nl == strlen(CONFIG_MASK) &&
            memcmp(json_string_value(v) + ns, CONFIG_MASK, nl) == 0) {
            /* A URL whose password is masked: splice the stored password back in. */
            const char *nv = json_string_value(v), *ov = json_string_value(old);
            char *s = xasprintf("%.*s%.*s%s", (int)ns, nv, (int)ol, ov + os, nv + ns + nl);
            json_object_set_new(out, key, json_string(s));
            free(s);
            continue;
        }
        json_object_set(out, key, v);
    }
    return out;
}

/* Replaces every occurrence of secret in b's content. */
static void redact_one(struct buf *b, const char *secret)
{
    size_t n = strlen(secret);
    if (n == 0 || strcmp(secret, CONFIG_MASK) == 0 || !b->p)
        return;
    struct buf out;
    buf_init(&out, BUF_NO_LIMIT);
    const char *p = b->p, *hit;
    while ((hit = strstr(p, secret)) != NULL) {
        buf_add(&out, p, (size_t)(hit - p));
        buf_adds(&out, CONFIG_MASK);
        p = hit + n;
    }
    buf_adds(&out, p);
    buf_release(b);
    *b = out;
}

char *configitems_redact(const struct config_item *items, json_t *config, const char *text)
{
    struct buf b;
    buf_init(&b, BUF_NO_LIMIT);
    buf_adds(&b, text ? text : "");
    const char *key;
    json_t *v;
    json_object_foreach(config, key, v)
    {
        if (!json_is_string(v))
            continue;
        const char *s = json_string_value(v);
        const struct config_item *it = items ? item_find(items, key) : NULL;
        if (it && it->type == CONFIG_PASSWORD) {
            redact_one(&b, s);
            continue;
        }
        size_t start, len;
        if (url_password(s, &start, &len) && len > 0) {
            char *pw = xstrndup(s + start, len);
            redact_one(&b, pw);
            free(pw);
        }
    }
    return buf_detach(&b, NULL);
}

/* ---- JSON form -------------------------------------------------------------------------- */

json_t *configitems_to_json(const struct config_item *items, enum config_lang lang, json_t *values)
{
    json_t *arr = json_array();
    for (size_t i = 0; items[i].key; i++) {
        const struct config_item *it = &items[i];
        json_t *o = json_object();
        json_object_set_new(o, "key", json_string(it->key));
        json_object_set_new(o, "name", json_string(it->name[lang]));
        json_object_set_new(o, "desc", json_string(it->desc[lang]));
        json_object_set_new(o, "group", json_string(it->group));
        json_object_set_new(o, "type", json_string(configitems_type_name(it->type)));
        json_object_set_new(o, "subType", it->sub_type ? json_string(it->sub_type) : json_null());
        json_object_set_new(o, "placeHolder",
                            it->placeholder ? json_string(it->placeholder) : json_null());
        json_object_set_new(o, "required", json_boolean(it->required));
        json_t *enums = json_array();
        for (size_t k = 0; it->enums && it->enums[k]; k++)
            json_array_append_new(enums, json_string(it->enums[k]));
        json_object_set_new(o, "enums", enums);
        json_t *value = NULL;
        if (values) {
            json_t *v = json_object_get(values, it->key);
            value = v ? mask_value(it, v) : json_null();
        } else if (it->def) {
            value = json_loads(it->def, JSON_DECODE_ANY, NULL);
        }
        json_object_set_new(o, "value", value ? value : json_null());
        json_array_append_new(arr, o);
    }
    return arr;
}
