/* Secrets at rest: master key file, AES-256-GCM (OpenSSL libcrypto). */
#include "auth/secret.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define NONCE_LEN 12
#define TAG_LEN 16

void secret_wipe(void *p, size_t n)
{
    if (p)
        OPENSSL_cleanse(p, n);
}

int secret_random(void *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

int secret_random_alnum(char *out, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t i = 0;
    while (i < n) {
        unsigned char b[64];
        if (secret_random(b, sizeof b) < 0)
            return -1;
        for (size_t j = 0; j < sizeof b && i < n; j++)
            if (b[j] < 248) /* 248 = 4 * 62: no modulo bias */
                out[i++] = alphabet[b[j] % 62];
    }
    out[n] = '\0';
    return 0;
}

/* ---- Master key file ---------------------------------------------------------------------- */

static int read_key(const char *path, unsigned char key[SECRET_KEY_LEN], struct mms_err *err)
{
    int rc = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return mms_err_set(err, 500, "MasterKey.Unreadable", "cannot open master key %s: %s",
                           path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        mms_err_set(err, 500, "MasterKey.Unreadable", "cannot stat %s: %s", path,
                    strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        mms_err_set(err, 500, "MasterKey.Invalid", "master key %s is not a regular file", path);
        goto out;
    }
    if (st.st_mode & 077) {
        mms_err_set(err, 500, "MasterKey.Permissions",
                    "master key %s has mode %04o: it must not be accessible to group or others "
                    "(chmod 600 %s)",
                    path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    if (st.st_size != SECRET_KEY_LEN) {
        mms_err_set(err, 500, "MasterKey.Invalid", "master key %s has %lld bytes, expected %d",
                    path, (long long)st.st_size, SECRET_KEY_LEN);
        goto out;
    }
    size_t got = 0;
    while (got < SECRET_KEY_LEN) {
        ssize_t r = read(fd, key + got, SECRET_KEY_LEN - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            mms_err_set(err, 500, "MasterKey.Unreadable", "cannot read master key %s", path);
            goto out;
        }
        got += (size_t)r;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int secret_master_key(const char *data_dir, unsigned char key[SECRET_KEY_LEN],
                      struct mms_err *err)
{
    char path[4096], tmp[4200];
    if (snprintf(path, sizeof path, "%s/master.key", data_dir) >= (int)sizeof path)
        return mms_err_set(err, 500, "MasterKey.Invalid", "data directory path too long");
    struct stat st;
    if (lstat(path, &st) == 0)
        return read_key(path, key, err);
    if (errno != ENOENT)
        return mms_err_set(err, 500, "MasterKey.Unreadable", "cannot stat %s: %s", path,
                           strerror(errno));

    /* Create: a private temporary file, then link() it into place (fails if another process
     * created the key meanwhile: then read theirs). */
    unsigned char fresh[SECRET_KEY_LEN];
    int rc = -1;
    snprintf(tmp, sizeof tmp, "%s/.master.key.%ld", data_dir, (long)getpid());
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return mms_err_set(err, 500, "MasterKey.Unwritable", "cannot create %s: %s", tmp,
                           strerror(errno));
    if (secret_random(fresh, sizeof fresh) < 0) {
        mms_err_set(err, 500, "MasterKey.Random", "no random bytes for the master key");
        close(fd);
        goto out;
    }
    if (fchmod(fd, 0600) < 0 || write_all(fd, fresh, sizeof fresh) < 0 || fsync(fd) < 0) {
        mms_err_set(err, 500, "MasterKey.Unwritable", "cannot write %s: %s", tmp,
                    strerror(errno));
        close(fd);
        goto out;
    }
    close(fd);
    if (link(tmp, path) < 0) {
        if (errno == EEXIST) {
            rc = read_key(path, key, err);
            goto out;
        }
        mms_err_set(err, 500, "MasterKey.Unwritable", "cannot create %s: %s", path,
                    strerror(errno));
        goto out;
    }
    memcpy(key, fresh, sizeof fresh);
    rc = 0;
out:
    unlink(tmp);
    secret_wipe(fresh, sizeof fresh);
    return rc;
}

/* ---- AES-256-GCM ------------------------------------------------------------------------ */

bool secret_is_encrypted(const char *s)
{
    return s && strncmp(s, SECRET_PREFIX, strlen(SECRET_PREFIX)) == 0;
}

char *secret_encrypt(const unsigned char key[SECRET_KEY_LEN], const char *plain, size_t n)
{
    if (n > (1u << 24))
        return NULL;
    size_t raw_len = NONCE_LEN + n + TAG_LEN;
    unsigned char *raw = xmalloc(raw_len);
    char *out = NULL;
    int len = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c || secret_random(raw, NONCE_LEN) < 0)
        goto out;
    if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(c, NULL, NULL, key, raw) != 1)
        goto out;
    if (n > 0 &&
        EVP_EncryptUpdate(c, raw + NONCE_LEN, &len, (const unsigned char *)plain, (int)n) != 1)
        goto out;
    int fin = 0;
    if (EVP_EncryptFinal_ex(c, raw + NONCE_LEN + len, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + n) != 1)
        goto out;
    size_t plen = strlen(SECRET_PREFIX);
    out = xmalloc(plen + 4 * ((raw_len + 2) / 3) + 1);
    memcpy(out, SECRET_PREFIX, plen);
    EVP_EncodeBlock((unsigned char *)out + plen, raw, (int)raw_len);
out:
    EVP_CIPHER_CTX_free(c);
    secret_wipe(raw, raw_len);
    free(raw);
    return out;
}

int secret_decrypt(const unsigned char key[SECRET_KEY_LEN], const char *enc, char **plain_out,
                   struct mms_err *err)
{
    *plain_out = NULL;
    if (!secret_is_encrypted(enc))
        return mms_err_set(err, 500, "Secret.Malformed", "not an encrypted value");
    const char *b64 = enc + strlen(SECRET_PREFIX);
    size_t bl = strlen(b64);
    if (bl == 0 || bl % 4 != 0 || bl > (1u << 25))
        return mms_err_set(err, 500, "Secret.Malformed", "encrypted value is not base64");
    unsigned char *raw = xmalloc(bl / 4 * 3 + 1);
    char *plain = NULL;
    size_t n = 0;
    int rc = -1;
    EVP_CIPHER_CTX *c = NULL;
    int dl = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)bl);
    if (dl < 0) {
        mms_err_set(err, 500, "Secret.Malformed", "encrypted value is not base64");
        goto out;
    }
    /* EVP_DecodeBlock counts '=' padding as zero bytes: remove them. */
    if (bl >= 1 && b64[bl - 1] == '=')
        dl--;
    if (bl >= 2 && b64[bl - 2] == '=')
        dl--;
    if (dl < NONCE_LEN + TAG_LEN) {
        mms_err_set(err, 500, "Secret.Malformed", "encrypted value is too short");
        goto out;
    }
    n = (size_t)dl - NONCE_LEN - TAG_LEN;
    plain = xmalloc(n + 1);
    int len = 0, fin = 0;
    c = EVP_CIPHER_CTX_new();
    if (!c || EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(c, NULL, NULL, key, raw) != 1 ||
        (n > 0 && EVP_DecryptUpdate(c, (unsigned char *)plain, &len, raw + NONCE_LEN,
                                    (int)n) != 1) ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + n) != 1 ||
        EVP_DecryptFinal_ex(c, (unsigned char *)plain + len, &fin) != 1) {
        mms_err_set(err, 500, "Secret.Undecryptable",
                    "cannot decrypt a stored secret (wrong master key or tampered value)");
        goto out;
    }
    plain[n] = '\0';
    *plain_out = plain;
    plain = NULL;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(c);
    secret_wipe(raw, bl / 4 * 3 + 1);
    free(raw);
    if (plain) {
        secret_wipe(plain, n + 1);
        free(plain);
    }
    return rc;
}

/* ---- Data-source configs ---------------------------------------------------------------- */

int secret_config_seal(const unsigned char *key, const struct config_item *items, json_t *config,
                       struct mms_err *err)
{
    if (!key || !items || !json_is_object(config))
        return 0;
    for (const struct config_item *it = items; it->key; it++) {
        if (it->type != CONFIG_PASSWORD)
            continue;
        json_t *v = json_object_get(config, it->key);
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            secret_is_encrypted(json_string_value(v)))
            continue;
        char *enc = secret_encrypt(key, json_string_value(v), json_string_length(v));
        if (!enc)
            return mms_err_set(err, 500, "InternalError", "cannot encrypt config item %s",
                               it->key);
        json_object_set_new(config, it->key, json_string(enc));
        free(enc);
    }
    return 0;
}

int secret_config_unseal(const unsigned char *key, const struct config_item *items,
                         json_t *config, struct mms_err *err)
{
    if (!key || !items || !json_is_object(config))
        return 0;
    for (const struct config_item *it = items; it->key; it++) {
        if (it->type != CONFIG_PASSWORD)
            continue;
        json_t *v = json_object_get(config, it->key);
        if (!json_is_string(v) || !secret_is_encrypted(json_string_value(v)))
            continue;
        char *plain = NULL;
        if (secret_decrypt(key, json_string_value(v), &plain, err) < 0)
            return mms_err_set(err, 500, "InternalError",
                               "cannot decrypt config item %s (wrong master key?)", it->key);
        json_object_set_new(config, it->key, json_string(plain));
        secret_wipe(plain, strlen(plain));
        free(plain);
    }
    return 0;
}
