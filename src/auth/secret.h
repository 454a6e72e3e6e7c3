/* Secrets at rest: the master key file and AES-256-GCM encryption of secrets under it.
 *
 * The master key is 32 random bytes in <data-dir>/master.key, mode 0600, created on first use
 * (atomically: written to a private temporary file, then link()ed into place, so two processes
 * racing to create it agree on one key). A key file that is group/other-accessible, not a
 * regular file, or not exactly 32 bytes is refused.
 *
 * An encrypted value is the text "enc:v1:" + base64(nonce[12] | ciphertext | tag[16]), with a
 * fresh random nonce per value. */
#ifndef MMS_SECRET_H
#define MMS_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "conn/configitems.h"
#include "util/err.h"

#define SECRET_KEY_LEN 32
#define SECRET_PREFIX "enc:v1:"

/* Loads <data_dir>/master.key into key, creating it when missing. 0, or -1 with err (500
 * MasterKey.* codes, the message names the file and what is wrong). */
int secret_master_key(const char *data_dir, unsigned char key[SECRET_KEY_LEN],
                      struct mms_err *err);
/* "enc:v1:..." for plain (n bytes); caller frees. NULL only if the crypto library fails. */
char *secret_encrypt(const unsigned char key[SECRET_KEY_LEN], const char *plain, size_t n);
/* Decrypts an "enc:v1:" value into a new NUL-terminated string (caller frees, and should wipe
 * with secret_wipe). -1 with err when malformed or not authentic (wrong key, tampered). */
int secret_decrypt(const unsigned char key[SECRET_KEY_LEN], const char *enc, char **plain_out,
                   struct mms_err *err);
bool secret_is_encrypted(const char *s);
/* n cryptographically random bytes. 0, or -1 if the system cannot provide them. */
int secret_random(void *buf, size_t n);
/* A random string of n characters from [A-Za-z0-9] into out (n+1 bytes). */
int secret_random_alnum(char *out, size_t n);
/* Data-source configs at rest (the store's datasource.config): secret_config_seal encrypts,
 * in place, the non-empty string value of every `password` item of `items` that is not already
 * encrypted; secret_config_unseal decrypts, in place, every such value that is. Values of
 * other items are never touched (a string item may hold "enc:v1:..." as plain text). items
 * NULL (unknown type) or key NULL (no master key: auth not configured) changes nothing.
 * 0, or -1 with err (500) when a value cannot be encrypted or decrypted. */
int secret_config_seal(const unsigned char *key, const struct config_item *items, json_t *config,
                       struct mms_err *err);
int secret_config_unseal(const unsigned char *key, const struct config_item *items,
                         json_t *config, struct mms_err *err);

/* Zeroes memory in a way the compiler does not remove. */
void secret_wipe(void *p, size_t n);

#endif
