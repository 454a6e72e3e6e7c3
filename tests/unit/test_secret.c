/* Secrets at rest (src/auth/secret.c), access keys, policies and nonces against a real SQLite
 * store (src/auth/keys.c), and the authorisation decisions of auth.c over stored policies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/keys.h"
#include "auth/secret.h"
#include "store/store.h"

static const unsigned char K1[SECRET_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const unsigned char K2[SECRET_KEY_LEN] = "fedcba9876543210fedcba9876543210";

/* ---- AES-256-GCM ------------------------------------------------------------------------ */

static void test_roundtrip(void **state)
{
    (void)state;
    const char *vals[] = {"", "x", "p@ss:w/ord with spaces and ünïcødé", NULL};
    for (int i = 0; vals[i]; i++) {
        char *enc = secret_encrypt(K1, vals[i], strlen(vals[i]));
        assert_non_null(enc);
        assert_true(secret_is_encrypted(enc));
        /* The clear text must not show through; only meaningful for longer values (a one
         * letter value turns up in random base64 about every other time). */
        if (strlen(vals[i]) >= 8)
            assert_null(strstr(enc, vals[i]));
        char *plain = NULL;
        struct mms_err err = {0};
        assert_int_equal(secret_decrypt(K1, enc, &plain, &err), 0);
        assert_string_equal(plain, vals[i]);
        free(plain);
        /* A fresh nonce per value: the same plaintext encrypts differently. */
        char *enc2 = secret_encrypt(K1, vals[i], strlen(vals[i]));
        assert_string_not_equal(enc, enc2);
        free(enc2);
        free(enc);
    }
}

static void test_tamper_and_wrong_key(void **state)
{
    (void)state;
    struct mms_err err = {0};
    char *plain = NULL;
    char *enc = secret_encrypt(K1, "hunter2", 7);
    assert_int_equal(secret_decrypt(K2, enc, &plain, &err), -1);
    assert_null(plain);
    assert_string_equal(err.code, "Secret.Undecryptable");
    /* Flip one base64 character of the ciphertext/tag. */
    size_t n = strlen(enc);
    enc[n - 5] = enc[n - 5] == 'A' ? 'B' : 'A';
    assert_int_equal(secret_decrypt(K1, enc, &plain, &err), -1);
    assert_null(plain);
    free(enc);
    const char *bad[] = {"plain", "enc:v1:", "enc:v1:abc", "enc:v1:AAAA", "enc:v1:!!!!", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(secret_decrypt(K1, bad[i], &plain, &err), -1);
        assert_null(plain);
    }
}

static void test_random_alnum(void **state)
{
    (void)state;
    char a[31], b[31];
    assert_int_equal(secret_random_alnum(a, 30), 0);
    assert_int_equal(secret_random_alnum(b, 30), 0);
    assert_int_equal(strlen(a), 30);
    assert_string_not_equal(a, b);
    for (int i = 0; i < 30; i++)
        assert_true((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z') ||
                    (a[i] >= '0' && a[i] <= '9'));
}

/* ---- Master key file -------------------------------------------------------------------- */

static void test_master_key_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/mms-secret-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/master.key", dir);
    unsigned char a[SECRET_KEY_LEN], b[SECRET_KEY_LEN];
    struct mms_err err = {0};
    assert_int_equal(secret_master_key(dir, a, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, SECRET_KEY_LEN);
    assert_int_equal(secret_master_key(dir, b, &err), 0);
    assert_memory_equal(a, b, SECRET_KEY_LEN);

    chmod(path, 0640);
    assert_int_equal(secret_master_key(dir, b, &err), -1);
    assert_string_equal(err.code, "MasterKey.Permissions");
    assert_non_null(strstr(err.msg, "chmod 600"));
    chmod(path, 0600);
    assert_int_equal(truncate(path, 16), 0);
    assert_int_equal(secret_master_key(dir, b, &err), -1);
    assert_string_equal(err.code, "MasterKey.Invalid");
    unlink(path);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(secret_master_key(dir, b, &err), -1);
    rmdir(path);
    rmdir(dir);
}

/* ---- Config sealing ---------------------------------------------------------------------- */

static const struct config_item items[] = {
    {.key = "host", .type = CONFIG_STRING},
    {.key = "password", .type = CONFIG_PASSWORD},
    {.key = "other.password", .type = CONFIG_PASSWORD},
    {.key = NULL},
};

static void test_config_seal(void **state)
{
    (void)state;
    struct mms_err err = {0};
    json_t *c = json_pack("{s:s, s:s, s:s, s:i}", "host", "enc:v1:not-a-secret", "password",
                          "s3cret", "other.password", "", "port", 5432);
    assert_int_equal(secret_config_seal(K1, items, c, &err), 0);
    const char *sealed = json_string_value(json_object_get(c, "password"));
    assert_true(secret_is_encrypted(sealed));
    char *copy = strdup(sealed);
    assert_string_equal(json_string_value(json_object_get(c, "other.password")), "");
    assert_string_equal(json_string_value(json_object_get(c, "host")), "enc:v1:not-a-secret");
    /* Sealing twice does not encrypt twice. */
    assert_int_equal(secret_config_seal(K1, items, c, &err), 0);
    assert_string_equal(json_string_value(json_object_get(c, "password")), copy);
    free(copy);
    /* The wrong key cannot open it. */
    json_t *d = json_deep_copy(c);
    assert_int_equal(secret_config_unseal(K2, items, d, &err), -1);
    json_decref(d);
    assert_int_equal(secret_config_unseal(K1, items, c, &err), 0);
    assert_string_equal(json_string_value(json_object_get(c, "password")), "s3cret");
    assert_string_equal(json_string_value(json_object_get(c, "host")), "enc:v1:not-a-secret");
    /* No key or no schema: nothing changes. */
    assert_int_equal(secret_config_seal(NULL, items, c, &err), 0);
    assert_int_equal(secret_config_seal(K1, NULL, c, &err), 0);
    assert_string_equal(json_string_value(json_object_get(c, "password")), "s3cret");
    json_decref(c);
}

/* ---- Keys, policies, nonces in the store -------------------------------------------------- */

struct fx {
    char dir[64];
    char path[96];
    struct store *store;
    struct db *db;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct mms_err err = {0};
    snprintf(f->dir, sizeof f->dir, "/tmp/mms-keys-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/mms.db", f->dir);
    if (store_open(&f->store, f->path, 1, &err) < 0)
        return -1;
    f->db = store_acquire(f->store);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[128];
    store_release(f->store, f->db);
    store_close(f->store);
    const char *sfx[] = {"", "-wal", "-shm", NULL};
    for (int i = 0; sfx[i]; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, sfx[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void test_keys_lifecycle(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    char id[KEYS_ID_LEN + 1], secret[KEYS_SECRET_LEN + 1];
    assert_int_equal(keys_create(f->db, K1, false, id, secret, &err), 0);
    assert_int_equal(strlen(id), KEYS_ID_LEN);
    assert_memory_equal(id, "LTAI", 4);
    assert_int_equal(strlen(secret), KEYS_SECRET_LEN);

    char *got = NULL;
    bool active = false;
    assert_int_equal(keys_secret(f->db, K1, id, &got, &active, &err), 0);
    assert_string_equal(got, secret);
    assert_true(active);
    free(got);
    assert_int_equal(keys_secret(f->db, K2, id, &got, &active, &err), -1);
    assert_int_equal(keys_secret(f->db, K1, "LTAInope", &got, &active, &err), 1);

    assert_int_equal(keys_set_active(f->db, id, false, &err), 0);
    assert_int_equal(keys_secret(f->db, K1, id, &got, &active, &err), 0);
    assert_false(active);
    free(got);
    assert_int_equal(keys_set_active(f->db, "LTAInope", false, &err), 1);

    struct access_key *v = NULL;
    size_t n = 0;
    assert_int_equal(keys_list(f->db, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, id);
    assert_false(v[0].active);
    assert_int_equal(v[0].npolicies, 0);
    free(v);

    assert_int_equal(keys_delete(f->db, id, &err), 0);
    assert_int_equal(keys_delete(f->db, id, &err), 1);
    assert_int_equal(keys_secret(f->db, K1, id, &got, &active, &err), 1);
}

static void test_policies_and_authorize(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    char id[KEYS_ID_LEN + 1], secret[KEYS_SECRET_LEN + 1];
    assert_int_equal(keys_create(f->db, K1, false, id, secret, &err), 0);
    struct auth_ctx a = {.enabled = true, .region = "r1", .account = "42", .master_key = K1};
    struct auth_caller caller = {{0}};
    snprintf(caller.access_key_id, sizeof caller.access_key_id, "%s", id);
    struct auth_denied d;

    /* No policy: default deny. */
    assert_int_equal(auth_authorize_detail(&a, f->db, &caller, "GetMmsJob", 7, &d, &err), -1);
    assert_int_equal(err.http, 403);
    assert_string_equal(err.code, "Forbidden.RAM");
    assert_string_equal(d.action, "odps:GetMmsJob");
    assert_string_equal(d.resource, "acs:odps:r1:42:mmsdatasource/7");
    assert_false(d.explicit_deny);

    assert_int_equal(keys_policy_attach(f->db, id, "bad", "{\"Version\":\"2\"}", &err), -1);
    assert_int_equal(err.http, 400);
    assert_int_equal(keys_policy_attach(f->db, "LTAInope", "p", KEYS_ADMIN_POLICY, &err), 1);
    assert_int_equal(
        keys_policy_attach(f->db, id, "src7",
                           "{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
                           "\"odps:*\",\"Resource\":\"acs:odps:*:*:mmsdatasource/7\"}]}",
                           &err),
        0);
    assert_int_equal(auth_authorize(&a, f->db, &caller, "GetMmsJob", 7, &err), 0);
    assert_int_equal(auth_authorize(&a, f->db, &caller, "GetMmsJob", 8, &err), -1);
    assert_int_equal(auth_authorize(&a, f->db, &caller, "CreateMmsDataSource", 0, &err), -1);

    int64_t ids[] = {6, 7, 8};
    bool allowed[3], star = true;
    assert_int_equal(auth_filter_sources(&a, f->db, &caller, "ListMmsDataSources", ids, 3,
                                         allowed, &star, &err),
                     0);
    assert_false(star);
    assert_false(allowed[0]);
    assert_true(allowed[1]);
    assert_false(allowed[2]);

    /* A second policy with a Deny wins over the first one's Allow. */
    assert_int_equal(
        keys_policy_attach(f->db, id, "nodelete",
                           "{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":"
                           "\"odps:Delete*\",\"Resource\":\"*\"}]}",
                           &err),
        0);
    assert_int_equal(auth_authorize_detail(&a, f->db, &caller, "DeleteMmsJob", 7, &d, &err), -1);
    assert_true(d.explicit_deny);
    assert_int_equal(auth_authorize(&a, f->db, &caller, "GetMmsJob", 7, &err), 0);

    struct key_policy *p = NULL;
    size_t n = 0;
    assert_int_equal(keys_policy_list(f->db, id, &p, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(p[0].name, "nodelete");
    assert_string_equal(p[1].name, "src7");
    keys_policy_list_free(p, n);
    assert_int_equal(keys_policy_detach(f->db, id, "nodelete", &err), 0);
    assert_int_equal(keys_policy_detach(f->db, id, "nodelete", &err), 1);
    assert_int_equal(auth_authorize(&a, f->db, &caller, "DeleteMmsJob", 7, &err), 0);

    /* Deleting the key removes its policies. */
    assert_int_equal(keys_delete(f->db, id, &err), 0);
    assert_int_equal(keys_policy_list(f->db, id, &p, &n, &err), 0);
    assert_int_equal(n, 0);
    free(p);

    /* Auth disabled: everything allowed. */
    a.enabled = false;
    assert_int_equal(auth_authorize(&a, f->db, &caller, "DeleteMmsJob", 9, &err), 0);
}

static void test_nonces(void **state)
{
    struct fx *f = *state;
    struct mms_err err = {0};
    assert_int_equal(keys_nonce_use(f->db, "n1", 1000, 100, &err), 0);
    assert_int_equal(keys_nonce_use(f->db, "n1", 1000, 200, &err), 1);
    assert_int_equal(keys_nonce_use(f->db, "n2", 1000, 200, &err), 0);
    /* Once its window has passed, the nonce may come again (its old date would be refused). */
    assert_int_equal(keys_nonce_use(f->db, "n1", 3000, 1001, &err), 0);
    assert_int_equal(keys_nonce_use(f->db, "n1", 3000, 1002, &err), 1);
    assert_int_equal(keys_nonce_purge(f->db, 2000, &err), 0);
    assert_int_equal(keys_nonce_use(f->db, "n2", 3000, 2001, &err), 0); /* purged */
    assert_int_equal(keys_nonce_use(f->db, "n1", 3000, 2001, &err), 1); /* kept */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_tamper_and_wrong_key),
        cmocka_unit_test(test_random_alnum),
        cmocka_unit_test(test_master_key_file),
        cmocka_unit_test(test_config_seal),
        cmocka_unit_test_setup_teardown(test_keys_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policies_and_authorize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonces, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
