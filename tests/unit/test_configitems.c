/* Unit tests of conn/configitems.c: the SQLITE schema, validation, masking, merging and
 * redaction of configs, on the real schema and on a synthetic item list with every type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "conn/configitems.h"
#include "store/store.h"
#include "store/store_asynctask.h"
#include "store/store_datasource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------------------- */

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("bad test JSON: %s: %s", text, e.text);
    return j;
}

/* Validates text against items; returns the rc and leaves the error in *err. */
static int validate(const struct config_item *items, const char *text, struct mms_err *err)
{
    json_t *c = J(text);
    mms_err_clear(err);
    int rc = configitems_validate(items, c, err);
    json_decref(c);
    return rc;
}

static void assert_invalid(const struct config_item *items, const char *text, const char *msg_part)
{
    struct mms_err err;
    if (validate(items, text, &err) == 0)
        fail_msg("accepted: %s", text);
    assert_int_equal(err.http, 400);
    assert_string_equal(err.code, "InvalidParameter.Config");
    if (!strstr(err.msg, msg_part))
        fail_msg("message '%s' lacks '%s' (config %s)", err.msg, msg_part, text);
}

static void assert_valid(const struct config_item *items, const char *text)
{
    struct mms_err err;
    if (validate(items, text, &err) != 0)
        fail_msg("rejected: %s: %s", text, err.msg);
}

static const char *str_of(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s)
        fail_msg("no string %s", key);
    return s;
}

/* A synthetic schema with one item of each type. */
static int check_even(const struct config_item *it, json_t *v, struct mms_err *err)
{
    if (json_integer_value(v) % 2)
        return mms_err_set(err, 400, "InvalidParameter.Config", "config item %s must be even",
                           it->key);
    return 0;
}

static const char *const modes[] = {"fast", "safe", NULL};

static const struct config_item synth[] = {
    {.key = "db.user",
     .name = {"用户", "User"},
     .desc = {"用户名", "User name"},
     .group = "basic",
     .type = CONFIG_STRING,
     .required = true,
     .placeholder = "admin"},
    {.key = "db.password",
     .name = {"密码", "Password"},
     .desc = {"密码", "Password"},
     .group = "basic",
     .type = CONFIG_PASSWORD,
     .required = true},
    {.key = "db.port",
     .name = {"端口", "Port"},
     .desc = {"端口", "Port"},
     .group = "basic",
     .type = CONFIG_INT,
     .def = "5432",
     .check = check_even},
    {.key = "db.ssl",
     .name = {"SSL", "SSL"},
     .desc = {"SSL", "SSL"},
     .group = "basic",
     .type = CONFIG_BOOLEAN,
     .def = "false"},
    {.key = "db.mode",
     .name = {"模式", "Mode"},
     .desc = {"模式", "Mode"},
     .group = "advanced",
     .type = CONFIG_STRING,
     .enums = modes,
     .def = "\"safe\""},
    {.key = "db.hints",
     .name = {"提示", "Hints"},
     .desc = {"提示", "Hints"},
     .group = "advanced",
     .type = CONFIG_MAP},
    {.key = "db.keytab",
     .name = {"密钥表", "Keytab"},
     .desc = {"文件", "File"},
     .group = "advanced",
     .type = CONFIG_FILE,
     .sub_type = ".keytab"},
    {.key = "db.url",
     .name = {"地址", "URL"},
     .desc = {"地址", "URL"},
     .group = "basic",
     .type = CONFIG_STRING},
    {.key = NULL},
};

/* ---- schema lookup ---------------------------------------------------------------------- */

static void test_find(void **state)
{
    (void)state;
    const struct config_item *a = configitems_find("SQLITE");
    assert_non_null(a);
    assert_ptr_equal(configitems_find("sqlite"), a);
    assert_ptr_equal(configitems_find("SqLite"), a);
    assert_null(configitems_find("HIVE"));
    assert_null(configitems_find(""));
    assert_null(configitems_find(NULL));
    assert_string_equal(a[0].key, "sqlite.path");
    assert_string_equal(a[0].group, "basic");
    assert_true(a[0].required);
    assert_string_equal(a[1].key, "dst.url");
    assert_string_equal(a[1].group, "destination");
    assert_string_equal(a[2].key, "dst.project");
    assert_string_equal(a[2].group, "destination");
    /* Source protection limits, shared by every type: optional ints, 0 = no limit. */
    static const char *const limits[] = {"limit.rowsPerSecond", "limit.bytesPerSecond",
                                         "limit.maxConcurrentTasks"};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(a[3 + i].key, limits[i]);
        assert_string_equal(a[3 + i].group, "limits");
        assert_int_equal(a[3 + i].type, CONFIG_INT);
        assert_false(a[3 + i].required);
    }
    assert_null(a[6].key);
    char types[64];
    configitems_types(types, sizeof types);
    assert_string_equal(types, "SQLITE, FILES, POSTGRESQL, MYSQL");
}

static void test_lang(void **state)
{
    (void)state;
    enum config_lang l = CONFIG_LANG_EN_US;
    assert_int_equal(configitems_lang(NULL, &l), 0);
    assert_int_equal(l, CONFIG_LANG_ZH_CN);
    assert_int_equal(configitems_lang("en_US", &l), 0);
    assert_int_equal(l, CONFIG_LANG_EN_US);
    assert_int_equal(configitems_lang("zh_CN", &l), 0);
    assert_int_equal(l, CONFIG_LANG_ZH_CN);
    assert_int_equal(configitems_lang("fr_FR", &l), -1);
    assert_string_equal(configitems_type_name(CONFIG_PASSWORD), "password");
    assert_string_equal(configitems_type_name(CONFIG_BOOLEAN), "boolean");
}

/* ---- validation: the SQLITE schema ------------------------------------------------------ */

static void test_validate_sqlite(void **state)
{
    (void)state;
    const struct config_item *s = configitems_find("SQLITE");
    assert_valid(s, "{\"sqlite.path\":\"/data/a.db\",\"dst.url\":\"sqlite:///var/dst\","
                    "\"dst.project\":\"wh\"}");
    assert_valid(s, "{\"sqlite.path\":\"/data/a.db\",\"dst.url\":\"SQLITE:///var/dst\","
                    "\"dst.project\":\"wh\"}");
    assert_invalid(s, "{}", "sqlite.path is required");
    assert_invalid(s, "{\"sqlite.path\":\"/a.db\",\"dst.project\":\"wh\"}", "dst.url is required");
    assert_invalid(s, "{\"sqlite.path\":\"/a.db\",\"dst.url\":\"sqlite:///d\"}",
                   "dst.project is required");
    assert_invalid(s, "{\"sqlite.path\":\"  \",\"dst.url\":\"sqlite:///d\",\"dst.project\":\"w\"}",
                   "sqlite.path is required and must not be empty");
    assert_invalid(s, "{\"sqlite.path\":null,\"dst.url\":\"sqlite:///d\",\"dst.project\":\"w\"}",
                   "sqlite.path is required");
    assert_invalid(s,
                   "{\"sqlite.path\":\"rel/a.db\",\"dst.url\":\"sqlite:///d\","
                   "\"dst.project\":\"w\"}",
                   "absolute path");
    assert_invalid(s, "{\"sqlite.path\":5,\"dst.url\":\"sqlite:///d\",\"dst.project\":\"w\"}",
                   "sqlite.path must be a string");
    assert_invalid(s,
                   "{\"sqlite.path\":\"/a\",\"dst.url\":\"sqlite:///d\",\"dst.project\":\"w\","
                   "\"bogus.key\":1}",
                   "unknown config item 'bogus.key'");
    assert_invalid(s,
                   "{\"sqlite.path\":\"/a\",\"dst.url\":\"sqlite://rel/d\",\"dst.project\":\"w\"}",
                   "sqlite:///<absolute directory>");
    assert_invalid(s, "{\"sqlite.path\":\"/a\",\"dst.url\":\"sqlite:rel\",\"dst.project\":\"w\"}",
                   "sqlite:///<absolute directory>");
    assert_invalid(s,
                   "{\"sqlite.path\":\"/a\",\"dst.url\":\"oracle://u:pw@h/x\","
                   "\"dst.project\":\"w\"}",
                   "no connector for the scheme 'oracle'");
    assert_invalid(s, "{\"sqlite.path\":\"/a\",\"dst.url\":\"/just/a/path\",\"dst.project\":\"w\"}",
                   "dst.url must be a URL");
    assert_invalid(s,
                   "{\"sqlite.path\":\"/a\",\"dst.url\":\"sqlite:///d\",\"dst.project\":\"a/b\"}",
                   "dst.project must be a database name");
    assert_invalid(s, "{\"sqlite.path\":\"/a\",\"dst.url\":\"sqlite:///d\",\"dst.project\":\"..\"}",
                   "dst.project must be a database name");
    assert_invalid(s, "[1,2]", "config must be an object");

    /* Strings: at most 4096 bytes, no NUL. */
    char *big = malloc(5000);
    memset(big, 'x', 5000);
    big[0] = '/';
    big[4097] = '\0';
    json_t *c = json_pack("{s:s, s:s, s:s}", "sqlite.path", big, "dst.url", "sqlite:///d",
                          "dst.project", "w");
    struct mms_err err = {0};
    assert_int_equal(configitems_validate(s, c, &err), -1);
    assert_non_null(strstr(err.msg, "longer than 4096 bytes"));
    big[4096] = '\0';
    json_object_set_new(c, "sqlite.path", json_string(big));
    mms_err_clear(&err);
    assert_int_equal(configitems_validate(s, c, &err), 0);
    json_object_set_new(c, "sqlite.path", json_stringn("/a\0b", 4));
    assert_int_equal(configitems_validate(s, c, &err), -1);
    assert_non_null(strstr(err.msg, "NUL"));
    json_decref(c);
    free(big);
}

/* An unknown key that is not printable is not echoed. */
static void test_validate_unprintable_key(void **state)
{
    (void)state;
    struct mms_err err;
    assert_int_equal(validate(configitems_find("SQLITE"), "{\"a\\u0001b\":1}", &err), -1);
    assert_non_null(strstr(err.msg, "unknown config item '?'"));
}

/* ---- validation: a synthetic schema with every type ------------------------------------ */

static void test_validate_types(void **state)
{
    (void)state;
    assert_valid(synth, "{\"db.user\":\"u\",\"db.password\":\"p\"}");
    assert_valid(synth, "{\"db.user\":\"u\",\"db.password\":\"p\",\"db.port\":6432,"
                        "\"db.ssl\":true,\"db.mode\":\"fast\",\"db.hints\":{\"a\":{\"b\":1}},"
                        "\"db.keytab\":\"AAAA\",\"db.url\":\"x\"}");
    assert_invalid(synth, "{\"db.user\":\"u\"}", "db.password is required");
    assert_invalid(synth, "{\"db.user\":\"u\",\"db.password\":\"\"}",
                   "db.password is required and must not be empty");
    assert_invalid(synth, "{\"db.user\":\"u\",\"db.password\":7}", "db.password must be a string");
    assert_invalid(synth, "{\"db.user\":\"u\",\"db.password\":\"p\",\"db.port\":\"5432\"}",
                   "db.port must be an integer");
    assert_invalid(synth, "{\"db.user\":\"u\",\"db.password\":\"p\",\"db.port\":1.5}",
                   "db.port must be an integer");
    assert_invalid(synth, "{\"db.user\":\"u\",\"db.password\":\"p\",\"db.port\":5433}",
                   "db.port must be even");
    assert_invalid(synth, "{\"db.user\":\"u\",\"db.password\":\"p\",\"db.ssl\":\"true\"}",
                   "db.ssl must be true or false");
    assert_invalid(synth, "{\"db.user\":\"u\",\"db.password\":\"p\",\"db.mode\":\"slow\"}",
                   "db.mode must be one of: fast, safe");
    assert_invalid(synth, "{\"db.user\":\"u\",\"db.password\":\"p\",\"db.hints\":[1]}",
                   "db.hints must be an object");
    assert_invalid(synth, "{\"db.user\":\"u\",\"db.password\":\"p\",\"db.keytab\":{}}",
                   "db.keytab must be a string");
    /* Optional strings may be empty. */
    assert_valid(synth, "{\"db.user\":\"u\",\"db.password\":\"p\",\"db.url\":\"\"}");
}

/* ---- masking ---------------------------------------------------------------------------- */

static void check_mask_url(const char *in, const char *want)
{
    char *m = configitems_mask_url(in);
    if (strcmp(m, want) != 0)
        fail_msg("mask_url(%s) = %s, want %s", in, m, want);
    free(m);
}

static void test_mask_url(void **state)
{
    (void)state;
    check_mask_url("postgresql://user:secret@db.example:5432/mms",
                   "postgresql://user:******@db.example:5432/mms");
    check_mask_url("mysql://root:p@ss:w/rd@h/db", "mysql://root:******@h/db");
    check_mask_url("postgresql://user@h/db", "postgresql://user@h/db");
    check_mask_url("postgresql://h:5432/db", "postgresql://h:5432/db");
    check_mask_url("sqlite:///var/dst", "sqlite:///var/dst");
    check_mask_url("file:///a:b@c", "file:///a:b@c");
    check_mask_url("not a url: x@y", "not a url: x@y");
    check_mask_url("pg://u:@h", "pg://u:******@h");
    check_mask_url("", "");
}

static void test_mask(void **state)
{
    (void)state;
    json_t *c = J("{\"db.user\":\"u\",\"db.password\":\"hunter2\",\"db.port\":6432,"
                  "\"db.url\":\"postgresql://u:hunter3@h/db\",\"other\":\"mysql://a:b@c\","
                  "\"db.hints\":{\"k\":\"v\"}}");
    json_t *m = configitems_mask(synth, c);
    assert_string_equal(str_of(m, "db.user"), "u");
    assert_string_equal(str_of(m, "db.password"), "******");
    assert_int_equal(json_integer_value(json_object_get(m, "db.port")), 6432);
    assert_string_equal(str_of(m, "db.url"), "postgresql://u:******@h/db");
    assert_string_equal(str_of(m, "other"), "mysql://a:******@c");
    assert_true(json_equal(json_object_get(m, "db.hints"), json_object_get(c, "db.hints")));
    /* The input is untouched. */
    assert_string_equal(str_of(c, "db.password"), "hunter2");
    char *dump = json_dumps(m, 0);
    assert_null(strstr(dump, "hunter"));
    free(dump);
    json_decref(m);

    /* Without a schema, URLs are still masked. */
    m = configitems_mask(NULL, c);
    assert_string_equal(str_of(m, "db.url"), "postgresql://u:******@h/db");
    json_decref(m);
    json_decref(c);
}

static void test_to_json(void **state)
{
    (void)state;
    json_t *arr = configitems_to_json(synth, CONFIG_LANG_EN_US, NULL);
    assert_int_equal(json_array_size(arr), 8);
    json_t *pw = json_array_get(arr, 1);
    assert_string_equal(str_of(pw, "key"), "db.password");
    assert_string_equal(str_of(pw, "name"), "Password");
    assert_string_equal(str_of(pw, "type"), "password");
    assert_true(json_is_true(json_object_get(pw, "required")));
    assert_true(json_is_null(json_object_get(pw, "value")));
    json_t *port = json_array_get(arr, 2);
    assert_int_equal(json_integer_value(json_object_get(port, "value")), 5432);
    json_t *mode = json_array_get(arr, 4);
    assert_string_equal(str_of(mode, "value"), "safe");
    assert_int_equal(json_array_size(json_object_get(mode, "enums")), 2);
    json_t *keytab = json_array_get(arr, 6);
    assert_string_equal(str_of(keytab, "subType"), ".keytab");
    assert_string_equal(str_of(json_array_get(arr, 0), "placeHolder"), "admin");
    json_decref(arr);

    json_t *vals = J("{\"db.user\":\"u\",\"db.password\":\"hunter2\",\"db.url\":\"pg://a:b@c\"}");
    arr = configitems_to_json(synth, CONFIG_LANG_ZH_CN, vals);
    assert_string_equal(str_of(json_array_get(arr, 0), "name"), "用户");
    assert_string_equal(str_of(json_array_get(arr, 0), "value"), "u");
    assert_string_equal(str_of(json_array_get(arr, 1), "value"), "******");
    assert_true(json_is_null(json_object_get(json_array_get(arr, 2), "value")));
    assert_string_equal(str_of(json_array_get(arr, 7), "value"), "pg://a:******@c");
    json_decref(arr);
    json_decref(vals);
}

/* ---- merging ---------------------------------------------------------------------------- */

static void test_merge(void **state)
{
    (void)state;
    json_t *stored = J("{\"db.user\":\"u\",\"db.password\":\"hunter2\",\"db.port\":6432,"
                       "\"db.url\":\"postgresql://u:hunter3@h/db\"}");
    /* Echoing what Get showed changes nothing. */
    json_t *masked = configitems_mask(synth, stored);
    json_t *m = configitems_merge(synth, stored, masked);
    assert_true(json_equal(m, stored));
    json_decref(m);
    json_decref(masked);

    /* New values replace, null removes, a masked URL password keeps the stored one even when
     * the rest of the URL changes. */
    json_t *up = J("{\"db.user\":\"v\",\"db.port\":null,\"db.password\":\"******\","
                   "\"db.url\":\"postgresql://w:******@h2/db2\",\"db.ssl\":true}");
    m = configitems_merge(synth, stored, up);
    assert_string_equal(str_of(m, "db.user"), "v");
    assert_null(json_object_get(m, "db.port"));
    assert_string_equal(str_of(m, "db.password"), "hunter2");
    assert_string_equal(str_of(m, "db.url"), "postgresql://w:hunter3@h2/db2");
    assert_true(json_is_true(json_object_get(m, "db.ssl")));
    json_decref(m);
    json_decref(up);

    /* A real new password replaces the stored one. */
    up = J("{\"db.password\":\"new\",\"db.url\":\"postgresql://u:new2@h/db\"}");
    m = configitems_merge(synth, stored, up);
    assert_string_equal(str_of(m, "db.password"), "new");
    assert_string_equal(str_of(m, "db.url"), "postgresql://u:new2@h/db");
    json_decref(m);
    json_decref(up);

    /* Nothing stored: "******" is then a literal value. */
    up = J("{\"db.password\":\"******\"}");
    m = configitems_merge(synth, NULL, up);
    assert_string_equal(str_of(m, "db.password"), "******");
    json_decref(m);
    json_decref(up);
    json_decref(stored);
}

/* ---- redaction -------------------------------------------------------------------------- */

static void test_redact(void **state)
{
    (void)state;
    json_t *c = J("{\"db.password\":\"hunter2\",\"db.url\":\"postgresql://u:s3cr3t@h/db\","
                  "\"db.user\":\"u\"}");
    char *r = configitems_redact(synth, c,
                                 "connect postgresql://u:s3cr3t@h/db failed for hunter2 "
                                 "(hunter2)");
    assert_string_equal(r, "connect postgresql://u:******@h/db failed for ****** (******)");
    free(r);
    r = configitems_redact(synth, c, NULL);
    assert_string_equal(r, "");
    free(r);
    r = configitems_redact(synth, c, "nothing secret");
    assert_string_equal(r, "nothing secret");
    free(r);
    json_decref(c);
}

/* ---- the data-source store: fencing of the final write ---------------------------------- *
 * (Kept here with the config rules because both belong to the data-source module.) */

static void exec_sql(struct db *db, const char *sql)
{
    struct mms_err err = {0};
    if (db_exec(db, sql, &err) < 0)
        fail_msg("%s: %s", sql, err.msg);
}

static void test_store_op_finish_fencing(void **state)
{
    (void)state;
    char dir[] = "/tmp/mms-test-ds-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof path, "%s/mms.db", dir);
    struct store *s = NULL;
    struct mms_err err = {0};
    assert_int_equal(store_open(&s, path, 1, &err), 0);
    struct db *db = store_acquire(s);

    json_t *cfg = J("{\"sqlite.path\":\"/a.db\",\"dst.url\":\"sqlite:///d\","
                    "\"dst.project\":\"w\"}");
    int64_t id = 0, aid = 0;
    assert_int_equal(
        store_datasource_insert(db, "n", "SQLITE", NULL, NULL, cfg, "STARTING", &id, &err), 0);
    assert_int_equal(id, 2000001); /* the service's id range */
    assert_int_equal(store_async_create(db, id, "DATASOURCE_START", id, NULL, &aid, &err), 0);
    /* Two claims: attempt 1 lost its lease to attempt 2. */
    exec_sql(db, "UPDATE async_task SET status = 'DOING', attempt = 2, lease_owner = 'w2',"
                 " lease_until = 9999999999999");

    /* The stale attempt writes nothing: neither the task nor the source. */
    assert_int_equal(store_datasource_op_finish(db, aid, 1, id, false, NULL, "stale", "STARTING",
                                                "START_FAILED", &err),
                     1);
    struct datasource d;
    assert_int_equal(store_datasource_get(db, id, &d, &err), 0);
    assert_string_equal(d.status, "STARTING");
    assert_null(d.err_msg);
    datasource_release(&d);
    struct async_task t;
    assert_int_equal(store_async_get(db, id, aid, &t, &err), 0);
    assert_string_equal(t.status, "DOING");
    async_task_release(&t);

    /* The holder of the lease finishes both in one transaction. */
    assert_int_equal(store_datasource_op_finish(db, aid, 2, id, true, "{\"status\":\"STARTED\"}",
                                                NULL, "STARTING", "STARTED", &err),
                     0);
    assert_int_equal(store_datasource_get(db, id, &d, &err), 0);
    assert_string_equal(d.status, "STARTED");
    assert_true(json_equal(d.config, cfg));
    datasource_release(&d);
    assert_int_equal(store_async_get(db, id, aid, &t, &err), 0);
    assert_string_equal(t.status, "DONE");
    assert_int_equal(t.progress, 100);
    assert_string_equal(t.result, "{\"status\":\"STARTED\"}");
    assert_null(t.error_msg);
    async_task_release(&t);

    /* A finish whose expected status no longer holds leaves the source alone. */
    assert_int_equal(store_datasource_set_status(db, id, "STOPPING", NULL, &err), 0);
    assert_int_equal(store_async_create(db, id, "DATASOURCE_START", id, NULL, &aid, &err), 0);
    exec_sql(db, "UPDATE async_task SET status = 'DOING', attempt = 1 WHERE status = 'INIT'");
    assert_int_equal(
        store_datasource_op_finish(db, aid, 1, id, true, NULL, NULL, "STARTING", "STARTED", &err),
        0);
    assert_int_equal(store_datasource_get(db, id, &d, &err), 0);
    assert_string_equal(d.status, "STOPPING");
    datasource_release(&d);

    /* Usable: STARTED yes; STOPPING/STOPPED 409; unknown 404. */
    mms_err_clear(&err);
    assert_int_equal(store_datasource_check_usable(db, id, &err), -1);
    assert_int_equal(err.http, 409);
    assert_string_equal(err.code, "Conflict.DataSourceStopped");
    assert_int_equal(store_datasource_set_status(db, id, "STARTED", NULL, &err), 0);
    assert_int_equal(store_datasource_check_usable(db, id, &err), 0);
    assert_int_equal(store_datasource_set_status(db, id, "START_FAILED", "x", &err), 0);
    assert_int_equal(store_datasource_check_usable(db, id, &err), 0);
    mms_err_clear(&err);
    assert_int_equal(store_datasource_check_usable(db, id + 1, &err), -1);
    assert_int_equal(err.http, 404);
    assert_string_equal(err.code, "NotFound.DataSource");

    /* An immediate operation's record. */
    json_t *res = J("{\"action\":\"RENAME\"}");
    assert_int_equal(store_async_create_done(db, id, "DATASOURCE_UPDATE", id, res, &aid, &err), 0);
    assert_int_equal(store_async_get(db, id, aid, &t, &err), 0);
    assert_string_equal(t.status, "DONE");
    assert_int_equal(t.progress, 100);
    assert_string_equal(t.result, "{\"action\":\"RENAME\"}");
    assert_true(t.start_time > 0 && t.start_time == t.end_time && t.end_time == t.create_time);
    async_task_release(&t);

    /* Delete cascades to the async tasks. */
    assert_int_equal(store_datasource_delete(db, id, &err), 0);
    assert_int_equal(store_async_get(db, id, aid, &t, &err), 1);
    assert_int_equal(store_datasource_delete(db, id, &err), 1);

    json_decref(res);
    json_decref(cfg);
    store_release(s, db);
    store_close(s);
    char side[600];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_lang),
        cmocka_unit_test(test_validate_sqlite),
        cmocka_unit_test(test_validate_unprintable_key),
        cmocka_unit_test(test_validate_types),
        cmocka_unit_test(test_mask_url),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_to_json),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_store_op_finish_fencing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
