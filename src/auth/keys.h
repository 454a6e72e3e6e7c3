/* Access keys, the policies attached to them, and the signature nonces seen: SQL against the
 * store (tables access_key, key_policy, auth_nonce in store/schema.c).
 *
 * An access key is an id ("LTAI" + 20 characters of [A-Za-z0-9]) and a secret (30 characters
 * of [A-Za-z0-9]); the secret is stored encrypted under the master key (secret.h) and is shown
 * only once, by keys_create. A key is Active or Inactive (disabled). Policies are RAM policy
 * documents (auth.h policy_parse), each under a name unique for its key.
 *
 * Every function returns 0 on success, 1 where noted for "not found", or -1 with err. */
#ifndef MMS_KEYS_H
#define MMS_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/secret.h"
#include "store/db.h"
#include "util/err.h"

#define KEYS_ID_LEN 24
#define KEYS_SECRET_LEN 30
#define KEYS_ADMIN_POLICY_NAME "AdministratorAccess"
#define KEYS_ADMIN_POLICY \
    "{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"
#define KEYS_POLICY_NAME_MAX 128
#define KEYS_POLICY_MAX (1024 * 1024) /* bytes of one policy document (as policy.c) */

struct access_key {
    char id[64];
    bool active;
    int64_t create_time;
    int64_t npolicies;
};

struct key_policy {
    char *name;
    char *document;
    int64_t create_time;
};

/* Creates a key (with the allow-all policy when admin). id and secret are written out; the
 * caller shows the secret once and wipes it (secret_wipe). */
int keys_create(struct db *db, const unsigned char mk[SECRET_KEY_LEN], bool admin,
                char id[KEYS_ID_LEN + 1], char secret[KEYS_SECRET_LEN + 1], struct mms_err *err);
/* All keys, ordered by creation; caller frees *out. */
int keys_list(struct db *db, struct access_key **out, size_t *n, struct mms_err *err);
/* 0, 1 when the key does not exist. */
int keys_set_active(struct db *db, const char *id, bool active, struct mms_err *err);
/* 0, 1 when the key does not exist. Its policies go with it. */
int keys_delete(struct db *db, const char *id, struct mms_err *err);
/* The decrypted secret of a key (heap; caller wipes and frees) and whether it is active;
 * 0, 1 when the key does not exist. */
int keys_secret(struct db *db, const unsigned char mk[SECRET_KEY_LEN], const char *id,
                char **secret_out, bool *active, struct mms_err *err);

/* Validates (policy_parse) and attaches a policy document, replacing one of the same name.
 * 0, 1 when the key does not exist, -1 (400 InvalidPolicy.* for a bad document). */
int keys_policy_attach(struct db *db, const char *id, const char *name, const char *document,
                       struct mms_err *err);
/* 0, 1 when the key has no policy of that name. */
int keys_policy_detach(struct db *db, const char *id, const char *name, struct mms_err *err);
/* The policies of a key (possibly none), by name; free with keys_policy_list_free. */
int keys_policy_list(struct db *db, const char *id, struct key_policy **out, size_t *n,
                     struct mms_err *err);
void keys_policy_list_free(struct key_policy *v, size_t n);

/* Records a signature nonce valid until expires_at (Unix seconds). 0 when it was new (or its
 * earlier use has expired), 1 when it was already used. */
int keys_nonce_use(struct db *db, const char *nonce, int64_t expires_at, int64_t now,
                   struct mms_err *err);
/* Deletes nonces that expired before now. */
int keys_nonce_purge(struct db *db, int64_t now, struct mms_err *err);

#endif
