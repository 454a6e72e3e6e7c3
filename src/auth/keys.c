/* Access keys, their policies, signature nonces. */
#include "auth/keys.h"
#include "auth/auth.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int store_error(struct mms_err *err, const char *what, const struct mms_err *e)
{
    return mms_err_set(err, 500, "InternalError", "%s: %s", what, e->msg);
}

/* ---- Keys ------------------------------------------------------------------------------- */

int keys_create(struct db *db, const unsigned char mk[SECRET_KEY_LEN], bool admin,
                char id[KEYS_ID_LEN + 1], char secret[KEYS_SECRET_LEN + 1], struct mms_err *err)
{
    static const char ins[] =
        "INSERT INTO access_key(id, secret, status, create_time) VALUES ($1, $2, 'Active', $3)";
    static const char pol[] = "INSERT INTO key_policy(key_id, name, document, create_time) "
                              "VALUES ($1, $2, $3, $4)";
    struct mms_err e = {0};
    char *enc = NULL;
    int rc = -1;
    memcpy(id, "LTAI", 4);
    if (secret_random_alnum(id + 4, KEYS_ID_LEN - 4) < 0 ||
        secret_random_alnum(secret, KEYS_SECRET_LEN) < 0)
        return mms_err_set(err, 500, "InternalError", "no random bytes for a new access key");
    enc = secret_encrypt(mk, secret, KEYS_SECRET_LEN);
    if (!enc)
        return mms_err_set(err, 500, "InternalError", "cannot encrypt the new secret");
    if (db_begin(db, &e) < 0) {
        store_error(err, "begin", &e);
        goto out;
    }
    int64_t now = time_now();
    struct db_stmt *st = db_prepare(db, ins, &e);
    if (!st)
        goto fail;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, enc);
    db_bind_i64(st, 3, now);
    int r = db_step(st, &e);
    db_done(st);
    if (r < 0)
        goto fail;
    if (admin) {
        st = db_prepare(db, pol, &e);
        if (!st)
            goto fail;
        db_bind_text(st, 1, id);
        db_bind_text(st, 2, KEYS_ADMIN_POLICY_NAME);
        db_bind_text(st, 3, KEYS_ADMIN_POLICY);
        db_bind_i64(st, 4, now);
        r = db_step(st, &e);
        db_done(st);
        if (r < 0)
            goto fail;
    }
    if (db_commit(db, &e) < 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    db_rollback(db);
    store_error(err, "cannot store the access key", &e);
out:
    free(enc);
    return rc;
}

int keys_list(struct db *db, struct access_key **out, size_t *n, struct mms_err *err)
{
    static const char sql[] =
        "SELECT k.id, k.status, k.create_time, "
        "  (SELECT COUNT(*) FROM key_policy p WHERE p.key_id = k.id) "
        "FROM access_key k ORDER BY k.create_time, k.id";
    struct mms_err e = {0};
    *out = NULL;
    *n = 0;
    struct db_stmt *st = db_prepare(db, sql, &e);
    if (!st)
        return store_error(err, "cannot list access keys", &e);
    size_t cap = 0;
    int r;
    while ((r = db_step(st, &e)) == DB_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = xreallocarray(*out, cap, sizeof **out);
        }
        struct access_key *k = &(*out)[(*n)++];
        memset(k, 0, sizeof *k);
        snprintf(k->id, sizeof k->id, "%s", db_col_text(st, 0));
        const char *status = db_col_text(st, 1);
        k->active = status && strcmp(status, "Active") == 0;
        k->create_time = db_col_i64(st, 2);
        k->npolicies = db_col_i64(st, 3);
    }
    db_done(st);
    if (r < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
        return store_error(err, "cannot list access keys", &e);
    }
    return 0;
}

int keys_set_active(struct db *db, const char *id, bool active, struct mms_err *err)
{
    static const char sql[] = "UPDATE access_key SET status = $1 WHERE id = $2";
    struct mms_err e = {0};
    struct db_stmt *st = db_prepare(db, sql, &e);
    if (!st)
        return store_error(err, "cannot update the access key", &e);
    db_bind_text(st, 1, active ? "Active" : "Inactive");
    db_bind_text(st, 2, id);
    int r = db_step(st, &e);
    db_done(st);
    if (r < 0)
        return store_error(err, "cannot update the access key", &e);
    return db_changes(db) > 0 ? 0 : 1;
}

int keys_delete(struct db *db, const char *id, struct mms_err *err)
{
    static const char del_pol[] = "DELETE FROM key_policy WHERE key_id = $1";
    static const char del_key[] = "DELETE FROM access_key WHERE id = $1";
    struct mms_err e = {0};
    if (db_begin(db, &e) < 0)
        return store_error(err, "begin", &e);
    int64_t changed = 0;
    const char *const sqls[] = {del_pol, del_key};
    for (int i = 0; i < 2; i++) {
        struct db_stmt *st = db_prepare(db, sqls[i], &e);
        if (!st)
            goto fail;
        db_bind_text(st, 1, id);
        int r = db_step(st, &e);
        db_done(st);
        if (r < 0)
            goto fail;
        changed = db_changes(db);
    }
    if (db_commit(db, &e) < 0)
        goto fail;
    return changed > 0 ? 0 : 1;
fail:
    db_rollback(db);
    return store_error(err, "cannot delete the access key", &e);
}

int keys_secret(struct db *db, const unsigned char mk[SECRET_KEY_LEN], const char *id,
                char **secret_out, bool *active, struct mms_err *err)
{
    static const char sql[] = "SELECT secret, status FROM access_key WHERE id = $1";
    struct mms_err e = {0};
    *secret_out = NULL;
    struct db_stmt *st = db_prepare(db, sql, &e);
    if (!st)
        return store_error(err, "cannot read the access key", &e);
    db_bind_text(st, 1, id);
    int r = db_step(st, &e);
    if (r < 0) {
        db_done(st);
        return store_error(err, "cannot read the access key", &e);
    }
    if (r == DB_DONE) {
        db_done(st);
        return 1;
    }
    const char *status = db_col_text(st, 1);
    *active = status && strcmp(status, "Active") == 0;
    int rc = secret_decrypt(mk, db_col_text(st, 0), secret_out, err);
    db_done(st);
    return rc;
}

/* ---- Policies --------------------------------------------------------------------------- */

static int key_exists(struct db *db, const char *id, bool *exists, struct mms_err *err)
{
    static const char sql[] = "SELECT 1 FROM access_key WHERE id = $1";
    struct mms_err e = {0};
    struct db_stmt *st = db_prepare(db, sql, &e);
    if (!st)
        return store_error(err, "cannot read the access key", &e);
    db_bind_text(st, 1, id);
    int r = db_step(st, &e);
    db_done(st);
    if (r < 0)
        return store_error(err, "cannot read the access key", &e);
    *exists = r == DB_ROW;
    return 0;
}

int keys_policy_attach(struct db *db, const char *id, const char *name, const char *document,
                       struct mms_err *err)
{
    static const char sql[] =
        "INSERT INTO key_policy(key_id, name, document, create_time) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT(key_id, name) DO UPDATE SET document = excluded.document, "
        "create_time = excluded.create_time";
    if (!name[0] || strlen(name) > KEYS_POLICY_NAME_MAX)
        return mms_err_set(err, 400, "InvalidPolicy.Name",
                           "a policy name has 1 to %d characters", KEYS_POLICY_NAME_MAX);
    if (strlen(document) > KEYS_POLICY_MAX)
        return mms_err_set(err, 400, "InvalidPolicy.TooLarge",
                           "a policy document has at most %d bytes", KEYS_POLICY_MAX);
    struct policy *p = NULL;
    if (policy_parse(document, &p, err) < 0)
        return -1;
    policy_free(p);
    bool exists = false;
    if (key_exists(db, id, &exists, err) < 0)
        return -1;
    if (!exists)
        return 1;
    struct mms_err e = {0};
    struct db_stmt *st = db_prepare(db, sql, &e);
    if (!st)
        return store_error(err, "cannot attach the policy", &e);
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, name);
    db_bind_text(st, 3, document);
    db_bind_i64(st, 4, time_now());
    int r = db_step(st, &e);
    db_done(st);
    if (r < 0)
        return store_error(err, "cannot attach the policy", &e);
    return 0;
}

int keys_policy_detach(struct db *db, const char *id, const char *name, struct mms_err *err)
{
    static const char sql[] = "DELETE FROM key_policy WHERE key_id = $1 AND name = $2";
    struct mms_err e = {0};
    struct db_stmt *st = db_prepare(db, sql, &e);
    if (!st)
        return store_error(err, "cannot detach the policy", &e);
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, name);
    int r = db_step(st, &e);
    db_done(st);
    if (r < 0)
        return store_error(err, "cannot detach the policy", &e);
    return db_changes(db) > 0 ? 0 : 1;
}

int keys_policy_list(struct db *db, const char *id, struct key_policy **out, size_t *n,
                     struct mms_err *err)
{
    static const char sql[] =
        "SELECT name, document, create_time FROM key_policy WHERE key_id = $1 ORDER BY name";
    struct mms_err e = {0};
    *out = NULL;
    *n = 0;
    struct db_stmt *st = db_prepare(db, sql, &e);
    if (!st)
        return store_error(err, "cannot list policies", &e);
    db_bind_text(st, 1, id);
    size_t cap = 0;
    int r;
    while ((r = db_step(st, &e)) == DB_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            *out = xreallocarray(*out, cap, sizeof **out);
        }
        struct key_policy *p = &(*out)[(*n)++];
        p->name = xstrdup(db_col_text(st, 0));
        p->document = xstrdup(db_col_text(st, 1));
        p->create_time = db_col_i64(st, 2);
    }
    db_done(st);
    if (r < 0) {
        keys_policy_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        return store_error(err, "cannot list policies", &e);
    }
    return 0;
}

void keys_policy_list_free(struct key_policy *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].document);
    }
    free(v);
}

/* ---- Nonces ----------------------------------------------------------------------------- */

int keys_nonce_use(struct db *db, const char *nonce, int64_t expires_at, int64_t now,
                   struct mms_err *err)
{
    /* A nonce whose earlier use has expired may be used again: its request date was outside
     * the window anyway, and the row may simply not have been purged yet. */
    static const char sql[] =
        "INSERT INTO auth_nonce(nonce, expires_at) VALUES ($1, $2) "
        "ON CONFLICT(nonce) DO UPDATE SET expires_at = excluded.expires_at "
        "WHERE auth_nonce.expires_at < $3";
    struct mms_err e = {0};
    struct db_stmt *st = db_prepare(db, sql, &e);
    if (!st)
        return store_error(err, "cannot record the signature nonce", &e);
    db_bind_text(st, 1, nonce);
    db_bind_i64(st, 2, expires_at);
    db_bind_i64(st, 3, now);
    int r = db_step(st, &e);
    db_done(st);
    if (r < 0)
        return store_error(err, "cannot record the signature nonce", &e);
    return db_changes(db) > 0 ? 0 : 1;
}

int keys_nonce_purge(struct db *db, int64_t now, struct mms_err *err)
{
    static const char sql[] = "DELETE FROM auth_nonce WHERE expires_at < $1";
    struct mms_err e = {0};
    struct db_stmt *st = db_prepare(db, sql, &e);
    if (!st)
        return store_error(err, "cannot purge nonces", &e);
    db_bind_i64(st, 1, now);
    int r = db_step(st, &e);
    db_done(st);
    if (r < 0)
        return store_error(err, "cannot purge nonces", &e);
    return 0;
}
